/*
 * gw_types: the types every gateway module shares, and nothing else: the
 * loop thread (gw_thread_t), the process (gw_server_t), and what they embed
 * by value (a metrics shard from gw_metrics.h, the rate-limit tables). As
 * h2o.h does for its context, the modules the server only points to are
 * declared here, not included.
 *
 * Why a header of its own: gw_server.c wires every module, so a module that
 * included gw_server.h for these types depended, through it, on every
 * other. A module header includes this one; only gw_server.c and gw_main.c
 * include gw_server.h. This header includes no module but the two leaves it
 * embeds (gw_config.h and gw_metrics.h include no gateway header), so the
 * include graph has no cycle.
 *
 * Ownership: gw_server_t is one static object of gw_server.c; its threads
 * array and the objects it points to are created and freed there (each by
 * its module's _new/_start and _free/_stop).
 */
#ifndef GW_TYPES_H
#define GW_TYPES_H

#include "gw_config.h"
#include "gw_metrics.h"

#include <h2o.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_gw_server_t gw_server_t;
typedef struct st_gw_thread_t gw_thread_t;
typedef struct st_gw_redis_t gw_redis_t;     /* gw_redis.h */
typedef struct st_gw_dbpool_t gw_dbpool_t;   /* gw_dbpool.h */
typedef struct st_gw_batcher_t gw_batcher_t; /* gw_batcher.h */
typedef struct st_gw_watch_t gw_watch_t;     /* gw_watch.h */
typedef struct st_gw_presence_t gw_presence_t; /* gw_presence.h */
typedef struct st_gw_queue_hold_t gw_queue_hold_t; /* gw_queue_hold.h */
typedef struct st_gw_admitter_t gw_admitter_t; /* gw_admitter.h */
typedef struct st_gw_board_writer_t gw_board_writer_t; /* gw_board_writer.h */
typedef struct st_gw_board_reader_t gw_board_reader_t; /* gw_board_reader.h */
typedef struct st_gw_prio_t gw_prio_t;         /* gw_prio.h */
struct gw_journal;                           /* gw_journal.h */
struct gw_failover;                          /* gw_failover.h */
struct gw_rebuild;                           /* gw_rebuild.h */
struct gw_connlimit;                         /* gw_connlimit.h */

/* ---- the rate-limit tables (the algorithm is explained in gw_ratelimit.h) ---- */

#define GW_RL_PROBE 8          /* slots one lookup examines */
#define GW_RL_IP_SLOTS 8192    /* per thread: 128 KiB */
#define GW_RL_USER_SLOTS 16384 /* per thread: 256 KiB */

typedef struct {
    uint64_t key; /* keyed hash, 0 = empty */
    uint64_t tat; /* theoretical arrival time, ns (monotonic) */
} gw_rl_slot_t;

typedef struct {
    gw_rl_slot_t *slots;
    size_t mask;        /* slots - 1 (a power of two) */
    uint64_t interval;  /* ns per token; 0 = this limit is off */
    uint64_t tolerance; /* interval * burst */
    uint64_t allowed, limited, evicted;
} gw_rl_table_t;

/** One loop thread's limits. All zero is a valid "not yet set up" state. */
typedef struct {
    int ready;
    gw_rl_table_t ip, user;
    gw_rl_slot_t ip_slots[GW_RL_IP_SLOTS];
    gw_rl_slot_t user_slots[GW_RL_USER_SLOTS];
} gw_ratelimit_t;

/* ---- the thread and the process ---------------------------------------------- */

struct st_gw_thread_t {
    h2o_context_t ctx; /* first member: a request's conn->ctx is its thread */
    gw_server_t *server;
    int index;
    pthread_t tid;
    gw_redis_t *redis;
    gw_batcher_t *batcher;
    gw_watch_t *watch; /* held long-polls of GET .../watch (gw_watch.h) */
    gw_presence_t *presence; /* heartbeats of this thread (gw_presence.h) */
    gw_queue_hold_t *wq_hold; /* held waiting-room status polls (gw_queue_hold.h) */
    gw_admitter_t *admitter;  /* thread 0 only: the waiting room's admitter (gw_admitter.h); NULL elsewhere */
    gw_board_writer_t *boards; /* score writes and rollovers of leaderboards (gw_board_writer.h) */
    gw_board_reader_t *board_reader; /* user and around reads of leaderboards, batched (gw_board_reader.h) */
    gw_prio_t *prio;          /* thread 0 only: the priority presale's snapshot timer (gw_prio.h); NULL elsewhere */
    gw_metrics_t metrics;
    h2o_accept_ctx_t accept_tls, accept_plain;
    h2o_socket_t *listen_tls, *listen_plain;
    h2o_multithread_receiver_t db_done; /* completions from the database threads */
    h2o_multithread_receiver_t wake;    /* shutdown notice from the main thread */
    int stopping;
    int redis_closing;        /* (atomic) the teardown drops this thread's Redis connections: not a loss (gw_failover.c) */
    size_t conns;             /* open client connections */
    h2o_linklist_t conn_list; /* their records (gw_conn.c), so a shutdown can close what outlived its timeout */
    size_t db_jobs;           /* jobs submitted to the database threads, not yet back */
    size_t board_reads;       /* leaderboard reads in flight (BOARD_READS_MAX; gw_board_read.c) */
    size_t board_db_reads;    /* of those, on MariaDB (BOARD_DB_READS_MAX; gw_board_db.c) */
    gw_ratelimit_t ratelimit; /* this thread's abuse limits; zeroed = set up on first use */
};

struct st_gw_server_t {
    gw_config_t *conf;
    h2o_globalconf_t globalconf;
    SSL_CTX *ssl_ctx;
    gw_thread_t *threads;
    int nthreads;
    gw_dbpool_t *dbpool;
    unsigned char admin_token_hash[32]; /* SHA-256 of the token: compared in constant time */
    volatile int shutdown;              /* set when a stop signal arrived */
    int lost_in_stop;                   /* a Redis connection was lost after it, before the teardown (atomic; gw_server.c) */
    struct gw_journal *journal;         /* the claim mode and the journal of grants (gw_journal.h) */
    struct gw_failover *failover;       /* moves the mode, on thread 0 (gw_failover.h) */
    struct gw_rebuild *rebuild;         /* the check after every Redis (re)connection (gw_rebuild.h) */
    char holder[128];                   /* this process in the fallback's lock table: "gw-<host>-<pid>" */
    struct gw_connlimit *connlimit;     /* open connections per client address, all threads (gw_conn.h); NULL: CONN_PER_IP=0 */
    /* start-up: each loop thread sets itself up and reports (gw_server.c, thread_started) */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    int start_done;   /* threads that finished their set-up, well or not */
    int start_failed; /* one of them failed */
    int start_go;     /* 0 wait, 1 serve, -1 stop: the main thread's word */
};

/** The thread that owns @req. */
static inline gw_thread_t *gw_thread_of(h2o_req_t *req)
{
    return (gw_thread_t *)req->conn->ctx;
}

#endif
