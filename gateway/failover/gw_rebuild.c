#include "gw_rebuild.h"
#include "gw_dbpool.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_rebuild.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_WAIT_MS 30000 /* a backend that is down is waited for this long, retried ~1 s apart */
#define EVENT_WAIT_MS 5000  /* not drained or conflict: retried this long, */
#define EVENT_PAUSE_MS 250  /* this far apart */

/* Read and written with atomics: loop threads ask for checks, a database thread runs them. */
struct gw_rebuild {
    int active;        /* a check is queued or running */
    int again;         /* Redis reconnected during a check: it goes round again */
    uint64_t rebuilds; /* events rebuilt */
};

struct gw_rebuild *gw_rebuild_new(void)
{
    return calloc(1, sizeof(struct gw_rebuild));
}

void gw_rebuild_free(struct gw_rebuild *rb)
{
    free(rb);
}

int gw_rebuild_event(gw_dbconn_t *conn, gw_server_t *srv, const char *id, const char *who, int wait_ms, int pause_ms,
                     int wait_refusing)
{
    int64_t deadline = tk_time_mono_ms() + wait_ms;
    int logged = 0;
    while (!srv->shutdown) {
        /* Asked afresh each round: a failed step below may have reset either. */
        MYSQL *db = gw_dbconn_db(conn);
        redisContext *rc = db != NULL ? gw_dbconn_redis(conn) : NULL;
        if (db == NULL || rc == NULL)
            return -1;
        tk_rebuild_stats_t st;
        char err[512];
        int rrc = tk_rebuild_event(db, rc, id, &st, err, sizeof(err));
        if (rrc == TK_REBUILD_OK) {
            gw_rebuild_counted(srv);
            tk_info("%s: event %s back in Redis from MariaDB: %llu claims, remaining %llu, seq %llu, %lld ms", who, id,
                    (unsigned long long)st.claims, (unsigned long long)st.remaining, (unsigned long long)st.seq, (long long)st.ms_total);
            return 0;
        }
        if (rrc == TK_REBUILD_UNKNOWN_EVENT)
            return 0; /* deleted meanwhile */
        if (rrc == TK_REBUILD_ERR_DB || rrc == TK_REBUILD_ERR_INVALID) {
            tk_warn("%s: event %s: %s", who, id, err);
            if (rrc == TK_REBUILD_ERR_DB)
                gw_dbconn_db_reset(conn);
            return -1;
        }
        if (rrc == TK_REBUILD_ERR_REDIS) {
            gw_dbconn_redis_reset(conn);
            if (!wait_refusing) {
                tk_warn("%s: event %s: %s", who, id, err);
                return -1;
            }
            /* Reachable but refusing (still loading its AOF, say): wait
             * within the deadline; unreachable: the next round's connect fails. */
            if (!logged++)
                tk_warn("%s: event %s: %s; retrying", who, id, err);
        }
        /* Not drained yet (the workers write what Redis granted before it
         * went away), a conflict, or Redis refusing: wait and try again. */
        if (tk_time_mono_ms() >= deadline) {
            tk_warn("%s: event %s: not rebuilt within %d ms (stream not drained or busy: are the workers running?)", who, id, wait_ms);
            return -1;
        }
        usleep((useconds_t)pause_ms * 1000);
    }
    return -1;
}

/* Rebuilds @event_id when its hash is missing in Redis. */
static int check_event(gw_dbconn_t *conn, redisContext *rc, const char *event_id, gw_server_t *srv)
{
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_EV, event_id, strlen(event_id), key);
    redisReply *rep = redisCommand(rc, "EXISTS %s", key);
    if (rep == NULL) {
        gw_dbconn_redis_reset(conn);
        return -1;
    }
    int present = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    if (present)
        return 0;
    return gw_rebuild_event(conn, srv, event_id, "rebuild check", EVENT_WAIT_MS, EVENT_PAUSE_MS, 0);
}

/* One pass over every event; 0 when each has its Redis state. */
static int check_all(gw_dbconn_t *conn, gw_server_t *srv)
{
    MYSQL *db = gw_dbconn_db(conn);
    redisContext *rc = db != NULL ? gw_dbconn_redis(conn) : NULL;
    if (db == NULL || rc == NULL)
        return -1;
    /* Ids first, then one event at a time: a rebuild runs its own
     * transaction on this connection. */
    if (mysql_query(db, "SELECT event_id FROM events ORDER BY event_id") != 0) {
        tk_warn("rebuild check: %s", mysql_error(db));
        gw_dbconn_db_reset(conn);
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(db);
    if (res == NULL) {
        gw_dbconn_db_reset(conn);
        return -1;
    }
    int rc_all = 0;
    MYSQL_ROW row;
    char id[TK_ID_MAX + 1];
    while ((row = mysql_fetch_row(res)) != NULL && !srv->shutdown) {
        snprintf(id, sizeof(id), "%s", row[0]);
        int failed = check_event(conn, rc, id, srv) != 0;
        rc_all |= -failed;
        /* A failed (or rebuilding) step may have reset either connection. */
        if ((db = gw_dbconn_db(conn)) == NULL || (rc = gw_dbconn_redis(conn)) == NULL)
            break;
    }
    mysql_free_result(res);
    if (db != NULL)
        mysql_rollback(db); /* the SELECT opened a snapshot (autocommit is off) */
    return rc_all;
}

static void run_check(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_server_t *srv = job->origin->server;
    struct gw_rebuild *rb = srv->rebuild;
    for (;;) {
        __atomic_store_n(&rb->again, 0, __ATOMIC_RELAXED);
        int ok = 0;
        int64_t deadline = tk_time_mono_ms() + CHECK_WAIT_MS;
        while (!srv->shutdown) {
            if (check_all(conn, srv) == 0) {
                ok = 1;
                break;
            }
            if (tk_time_mono_ms() >= deadline)
                break;
            sleep(1);
        }
        if (!ok && !srv->shutdown)
            tk_error("rebuild check: not every event could be checked; claims for a missing event get 503 until Redis reconnects");
        /* Redis reconnected while we worked: its state may have changed again. */
        if (!__atomic_load_n(&rb->again, __ATOMIC_RELAXED) || srv->shutdown)
            break;
    }
    __atomic_store_n(&rb->active, 0, __ATOMIC_RELEASE);
    gw_dbjob_answer(job, 200, "", 0); /* nobody waits for this answer */
}

void gw_rebuild_on_redis_state(gw_redis_t *r, int up, void *data)
{
    gw_thread_t *th = data;
    gw_server_t *srv = th->server;
    struct gw_rebuild *rb = srv->rebuild;
    (void)r;
    if (!up)
        return;
    __atomic_store_n(&rb->again, 1, __ATOMIC_RELAXED);
    int idle = 0;
    if (!__atomic_compare_exchange_n(&rb->active, &idle, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return; /* a check is running; it will go round again */
    gw_dbjob_t *job = gw_dbjob_new_bg(th, run_check);
    if (job == NULL) {
        __atomic_store_n(&rb->active, 0, __ATOMIC_RELEASE);
        return;
    }
    gw_dbpool_submit(srv->dbpool, job);
}

int gw_rebuild_active(const gw_server_t *srv)
{
    return __atomic_load_n(&srv->rebuild->active, __ATOMIC_ACQUIRE);
}

uint64_t gw_rebuild_count(const gw_server_t *srv)
{
    return __atomic_load_n(&srv->rebuild->rebuilds, __ATOMIC_RELAXED);
}

void gw_rebuild_counted(gw_server_t *srv)
{
    __atomic_add_fetch(&srv->rebuild->rebuilds, 1, __ATOMIC_RELAXED);
}
