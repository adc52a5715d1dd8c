/*
 * gw_dbpool: a few threads that do the gateway's blocking work off the event
 * loops: admin routes (which write MariaDB and Redis in a set order), claims
 * and status lookups answered from MariaDB while Redis is away (the
 * fallbacks), and the gateway's own checks (the merge back to Redis, the
 * rebuild check after a reconnect).
 *
 * A loop thread submits a job; a database thread runs job->run with its own
 * MariaDB connection and its own synchronous Redis connection (both made on
 * demand and remade after an error; on a Redis Cluster one connection per
 * master, each call site asking for the master of its key: below, by
 * gw_dbconn_redis_for); the job then goes back to the loop
 * thread it came from, where job->done (default: answer job->status and
 * job->body) runs and the job is freed.
 *
 * Ownership: the job owns one reference to job->r, its input (job->in,
 * freed with job->in_free), and job->body (malloc'ed by run). All are
 * released after done.
 *
 * Bounded queues (docs/DESIGN.md). Jobs wait in one of two lanes:
 *  - control: the gateway's own work (rebuild check, merge, anything made
 *    with gw_dbjob_new_bg) and admin requests (gw_dbjob_new). Every thread
 *    serves this lane first, and one extra thread serves only it, so a
 *    merge or an admin change never waits behind claim work stuck on
 *    MariaDB: at worst behind other control work.
 *  - client: work for claims and status lookups while Redis is away
 *    (gw_dbjob_new_client), served by the --db-threads general threads.
 * A request's job (admin or client) is refused at submit when its lane
 * already holds DB_QUEUE_MAX waiting jobs, and answered without running when
 * no thread picked it up within DB_JOB_DEADLINE_MS (its client has most
 * likely given up; a 503 changes nothing): both are 503 with Retry-After,
 * counted in tk_shed_total. Background control jobs are never refused: each
 * kind runs one at a time (a flag or the path's state guards it), so they
 * are few by construction.
 */
#ifndef GW_DBPOOL_H
#define GW_DBPOOL_H

#include "gw_http.h"
#include "tk_db.h"
#include "tk_rcluster.h"

#include <h2o.h>
#include <hiredis.h>

typedef struct st_gw_dbjob_t gw_dbjob_t;

typedef enum {
    GW_DBLANE_CONTROL = 0, /* background control work and admin requests: served first, and by a reserved thread */
    GW_DBLANE_CLIENT,      /* claims and lookups while Redis is away */
    GW_DBLANE__COUNT,
} gw_dblane_t;

/* A database thread's connections. One with pool NULL and only conf set (a clean stop's own, after the pool
 * stopped: gw_fallback_grant_write_at_stop) counts no errors in a pool. */
typedef struct {
    MYSQL *db;           /* NULL until gw_dbconn_db succeeds */
    redisContext *redis; /* single Redis: NULL until gw_dbconn_redis succeeds */
    tk_rcluster_t *rcl;  /* REDIS_CLUSTER: one connection per master (made on demand); NULL with a single Redis */
    const gw_config_t *conf;
    gw_dbpool_t *pool;
    int index;
} gw_dbconn_t;

struct st_gw_dbjob_t {
    h2o_multithread_message_t super;
    gw_thread_t *origin;
    gw_req_t *r; /* NULL for background work (gw_dbjob_new_bg) */
    void (*run)(gw_dbjob_t *job, gw_dbconn_t *conn); /* on a database thread */
    void (*done)(gw_dbjob_t *job);                   /* on the loop thread; NULL: answer status/body */
    void *in;
    void (*in_free)(void *in);
    int status;
    char *body; /* malloc'ed JSON, or NULL */
    size_t len;
    char location[256];
    gw_dblane_t lane;
    int sheddable;       /* refused when the lane is full (requests' jobs; never background control work) */
    int64_t deadline_ms; /* tk_time_mono_ms by which a thread must have started it; 0 = none */
    int expired;         /* set by the database thread when the deadline had passed: run was not called */
    /* On the loop thread, for a job refused or expired: answers each of its
     * requests 503 with @message and returns how many. NULL: job->r, if any. */
    size_t (*shed)(gw_dbjob_t *job, const char *message);
};

/** Starts @n general database threads and the control lane's reserved one. Returns NULL on failure. */
gw_dbpool_t *gw_dbpool_start(const gw_config_t *conf, int n);

/** Finishes queued jobs, stops the threads, closes connections, frees the pool. */
void gw_dbpool_stop(gw_dbpool_t *pool);

/** 1 when the last contact with MariaDB succeeded (refreshed at least every second). */
int gw_dbpool_db_up(gw_dbpool_t *pool);

/** MariaDB failures seen by the database threads (failed connects, connections dropped after an error). */
uint64_t gw_dbpool_db_errors(gw_dbpool_t *pool);

/**
 * Answers (503, MariaDB untouched) every waiting request job whose deadline
 * has passed. A loop thread calls it on a timer (gw_failover.c, every
 * GW_FAILOVER_TICK_MS): a loop never waits on MariaDB, so the deadline holds
 * even when every database thread is stuck in a long statement or a merge.
 */
void gw_dbpool_sweep(gw_dbpool_t *pool);

/** Jobs waiting in @lane (not yet picked up by a thread). Any thread. */
size_t gw_dbpool_depth(gw_dbpool_t *pool, gw_dblane_t lane);

/** Registers @th's completion receiver; call on each loop thread before serving. */
void gw_dbpool_attach(gw_thread_t *th);

/** Unregisters it; call on the loop thread after the last job has come back. */
void gw_dbpool_detach(gw_thread_t *th);

/**
 * Creates a job for @r (takes a reference) that will run @run: the control
 * lane (admin work), with the deadline. The caller sets ->in and submits it
 * with gw_dbpool_submit. NULL on no memory.
 */
gw_dbjob_t *gw_dbjob_new(gw_req_t *r, void (*run)(gw_dbjob_t *, gw_dbconn_t *));

/**
 * Creates a job that answers no request (background work such as the
 * rebuild check): it comes back to @th's loop and runs ->done if set.
 */
gw_dbjob_t *gw_dbjob_new_bg(gw_thread_t *th, void (*run)(gw_dbjob_t *, gw_dbconn_t *));

/**
 * Creates a job on behalf of requests of @th that it holds itself in ->in
 * (the fallback's batches): the client lane, with the deadline. The caller
 * sets ->in, ->done and ->shed (which must answer every request of ->in).
 */
gw_dbjob_t *gw_dbjob_new_client(gw_thread_t *th, void (*run)(gw_dbjob_t *, gw_dbconn_t *));

/**
 * Queues @job (takes ownership). From @job's loop thread. Returns 0, or -1
 * when its lane is full: then its requests have been answered 503 (->shed)
 * and the job freed.
 */
int gw_dbpool_submit(gw_dbpool_t *pool, gw_dbjob_t *job);

/** The MariaDB connection of @c, connecting if needed; NULL (and logs) when MariaDB is unreachable. */
MYSQL *gw_dbconn_db(gw_dbconn_t *c);

/** Closes the MariaDB connection after an error classified as reconnect. */
void gw_dbconn_db_reset(gw_dbconn_t *c);

/*
 * Redis from a database thread. With a single Redis, one connection, proven
 * with PING before it is handed out (gw_dbconn_redis), exactly as before
 * the cluster mode. With REDIS_CLUSTER, a tk_rcluster_t: one connection per
 * master, and each call site asks for the connection of the key it works on
 * (gw_dbconn_redis_for): an event's or board's keys all carry its hash tag,
 * so one context serves all of them; a registry set (tk:events, tk:boards,
 * tk:wq:rooms) is a key of its own, asked for on its own. The context is
 * proven with EXISTS of that key, which also says whether the master still
 * serves the key's slot: a MOVED (resharding, failover) reads the map again
 * before the context is handed out, so a call site never sends its commands
 * to a master that no longer has the key. A context handed out is the
 * connection's: never freed by the caller, and not kept across another
 * gw_dbconn_redis* call (a refresh may close it).
 */

/** The synchronous Redis connection of @c, connecting if needed; NULL when Redis is unreachable. Cluster: the context of the master of slot 0 (no call site about a key uses it). */
redisContext *gw_dbconn_redis(gw_dbconn_t *c);

/** The connection to the Redis that serves @key (@keylen bytes), proven; single Redis: gw_dbconn_redis. NULL when unreachable. */
redisContext *gw_dbconn_redis_for(gw_dbconn_t *c, const char *key, size_t keylen);

/** Closes the connection @rc (from gw_dbconn_redis_for or gw_dbconn_redis) after an I/O error; single Redis: gw_dbconn_redis_reset. */
void gw_dbconn_redis_drop(gw_dbconn_t *c, redisContext *rc);

/** Closes the Redis connection after an I/O error (reply NULL); cluster: every master's. */
void gw_dbconn_redis_reset(gw_dbconn_t *c);

/** The cluster client of @c (NULL with a single Redis, or when it could not be made): the merge asks every master. */
tk_rcluster_t *gw_dbconn_rcluster(gw_dbconn_t *c);

/** Sets the job's answer: @status and a malloc'ed copy of @body. */
void gw_dbjob_answer(gw_dbjob_t *job, int status, const char *body, size_t len);

/** Sets the job's answer to the API error body. */
void gw_dbjob_error(gw_dbjob_t *job, int status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
