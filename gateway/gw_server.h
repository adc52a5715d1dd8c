/*
 * gw_server: the gateway process: one h2o context, event loop, listener
 * (SO_REUSEPORT) and Redis connection per thread; a shared TLS context; a
 * pool of database threads; and graceful shutdown.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "gw_config.h"
#include "gw_metrics.h"
#include "gw_ratelimit.h"
#include "gw_redis.h"

#include <h2o.h>
#include <pthread.h>

typedef struct st_gw_server_t gw_server_t;
typedef struct st_gw_dbpool_t gw_dbpool_t;
typedef struct st_gw_batcher_t gw_batcher_t;

typedef struct st_gw_thread_t {
    h2o_context_t ctx; /* first member: a request's conn->ctx is its thread */
    gw_server_t *server;
    int index;
    pthread_t tid;
    gw_redis_t *redis;
    gw_batcher_t *batcher;
    gw_metrics_t metrics;
    h2o_accept_ctx_t accept_tls, accept_plain;
    h2o_socket_t *listen_tls, *listen_plain;
    h2o_multithread_receiver_t db_done; /* completions from the database threads */
    h2o_multithread_receiver_t wake;    /* shutdown notice from the main thread */
    int stopping;
    size_t conns;     /* open client connections */
    size_t db_jobs;   /* jobs submitted to the database threads, not yet back */
    gw_ratelimit_t ratelimit; /* this thread's abuse limits; zeroed = set up on first use */
} gw_thread_t;

struct st_gw_server_t {
    gw_config_t *conf;
    h2o_globalconf_t globalconf;
    SSL_CTX *ssl_ctx;
    gw_thread_t *threads;
    int nthreads;
    gw_dbpool_t *dbpool;
    unsigned char admin_token_hash[32]; /* SHA-256 of the token: compared in constant time */
    volatile int shutdown;               /* set when a stop signal arrived */
    int rebuild_active;                  /* gw_rebuild: a check is queued or running (atomic) */
    int rebuild_again;                   /* gw_rebuild: Redis reconnected during a check (atomic) */
    uint64_t rebuilds;                   /* gw_rebuild: events rebuilt (atomic) */
    struct gw_journal *journal;          /* the claim mode and the journal of grants (gw_journal.h) */
    struct gw_failover *failover;        /* moves the mode, on thread 0 (gw_failover.h) */
    char holder[128];                    /* this process in the fallback's lock table: "gw-<host>-<pid>" */
};

/** The thread that owns @req. */
static inline gw_thread_t *gw_thread_of(h2o_req_t *req)
{
    return (gw_thread_t *)req->conn->ctx;
}

/**
 * Runs the gateway until SIGINT or SIGTERM: binds the listeners (refusing a
 * port already in use), starts the threads, then on a signal stops
 * accepting, lets in-flight requests finish (up to the configured timeout)
 * and frees everything. Returns the process exit code.
 */
int gw_server_run(gw_config_t *conf);

#endif
