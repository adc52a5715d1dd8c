#include "gw_rebuild.h"
#include "gw_dbpool.h"
#include "gw_journal.h"
#include "gw_peers.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_lb_rebuild.h"
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
    int boards;        /* 1 from a reconnect until a check found every board in Redis (gw_rebuild_boards_pending) */
    uint64_t rebuilds; /* events rebuilt */
    uint64_t board_rebuilds; /* boards rebuilt */
    uint64_t checks_ended;   /* run_check passes finished (gw_rebuild_token) */
};

struct gw_rebuild *gw_rebuild_new(void)
{
    return calloc(1, sizeof(struct gw_rebuild));
}

void gw_rebuild_free(struct gw_rebuild *rb)
{
    free(rb);
}

/*
 * Cluster: @set lists @id, on the set's own master (the registry sets are
 * keys of their own, in other slots than an event's or board's keys: the
 * rebuild, given its event's master, is told not to send them). 0, or -1
 * (logged).
 */
static int registry_add(gw_dbconn_t *conn, const char *set, const char *id, const char *who)
{
    redisContext *rc = gw_dbconn_redis_for(conn, set, strlen(set));
    redisReply *rep = rc != NULL ? redisCommand(rc, "SADD %s %s", set, id) : NULL;
    int ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;
    if (!ok)
        tk_warn("%s: %s: SADD %s: %s", who, id, set,
                rep != NULL ? (rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply") : rc != NULL ? rc->errstr : "redis unreachable");
    if (rep == NULL && rc != NULL)
        gw_dbconn_redis_drop(conn, rc);
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

int gw_rebuild_event(gw_dbconn_t *conn, gw_server_t *srv, const char *id, const char *who, int wait_ms, int pause_ms,
                     int wait_refusing)
{
    /* A single Redis: the one connection, the rebuild sends its registry SADDs on it (as before). A cluster: the
     * event's master's, and the registries on theirs (registry_add). */
    int cluster = gw_dbconn_rcluster(conn) != NULL;
    char kev[TK_KEY_MAX];
    int kevlen = tk_key(TK_KEY_EV, id, strlen(id), kev);
    int64_t deadline = tk_time_mono_ms() + wait_ms;
    int logged = 0;
    /* Before the swap, so that the merge's step 1 sees either the event
     * missing (or behind) in Redis or this mark (gw_journal_set_rebuilt). */
    if (srv->journal != NULL)
        gw_journal_set_rebuilt(srv->journal, id, strlen(id));
    while (!srv->shutdown) {
        /* Asked afresh each round: a failed step below may have reset either. */
        MYSQL *db = gw_dbconn_db(conn);
        if (db != NULL && cluster && registry_add(conn, TK_KEY_EVENTS, id, who) != 0)
            return -1;
        redisContext *rc = db == NULL ? NULL : kevlen > 0 ? gw_dbconn_redis_for(conn, kev, (size_t)kevlen) : gw_dbconn_redis(conn);
        if (db == NULL || rc == NULL)
            return -1;
        tk_rebuild_stats_t st;
        char err[512];
        int rrc = tk_rebuild_event_ex(db, rc, id, cluster ? TK_REBUILD_NO_REGISTRY : 0, &st, err, sizeof(err));
        if (rrc == TK_REBUILD_OK) {
            if (cluster && st.wr_on)
                registry_add(conn, TK_KEY_WQ_ROOMS, id, who); /* failed: nobody waits in a rebuilt room; its first join lists it */
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
            gw_dbconn_redis_drop(conn, rc);
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
        /* A wait for the drain can outlast a peer's patience: keep beating (gw_peers.h). Not fatal here. */
        if (gw_peers_beat_due(conn, srv) != 0)
            tk_warn("%s: event %s: this gateway's beat failed while waiting for the drain", who, id);
    }
    return -1;
}

/* Rebuilds @event_id when its hash is missing in Redis. */
static int check_event(gw_dbconn_t *conn, redisContext *rc, const char *event_id, gw_server_t *srv)
{
    char key[TK_KEY_MAX];
    int klen = tk_key(TK_KEY_EV, event_id, strlen(event_id), key);
    if (gw_dbconn_rcluster(conn) != NULL && (rc = klen > 0 ? gw_dbconn_redis_for(conn, key, (size_t)klen) : NULL) == NULL)
        return -1; /* a cluster: the event's master's (@rc is a master's, proven: check_all) */
    redisReply *rep = redisCommand(rc, "EXISTS %s", key);
    if (rep == NULL) {
        gw_dbconn_redis_drop(conn, rc);
        return -1;
    }
    /* An error reply (LOADING: Redis still reading its AOF) says nothing
     * about the event: the check is tried again, it is not "missing". */
    int refused = rep->type != REDIS_REPLY_INTEGER;
    int present = !refused && rep->integer == 1;
    if (refused)
        tk_warn("rebuild check: event %s: EXISTS answered %s; checking again", event_id, rep->type == REDIS_REPLY_ERROR ? rep->str : "no integer");
    freeReplyObject(rep);
    if (refused)
        return -1;
    if (present)
        return 0;
    return gw_rebuild_event(conn, srv, event_id, "rebuild check", EVENT_WAIT_MS, EVENT_PAUSE_MS, 0);
}

int gw_rebuild_board(gw_dbconn_t *conn, gw_server_t *srv, const char *id, const char *who, int wait_ms, int pause_ms)
{
    int64_t deadline = tk_time_mono_ms() + wait_ms;
    int cluster = gw_dbconn_rcluster(conn) != NULL; /* as gw_rebuild_event: tk:boards on its own master */
    char kb[TK_KEY_MAX];
    int kblen = tk_lb_key(TK_LB_BOARD, id, strlen(id), 0, kb);
    while (!srv->shutdown) {
        MYSQL *db = gw_dbconn_db(conn);
        if (db != NULL && cluster && registry_add(conn, TK_KEY_BOARDS, id, who) != 0)
            return -1;
        redisContext *rc = db == NULL ? NULL : kblen > 0 ? gw_dbconn_redis_for(conn, kb, (size_t)kblen) : gw_dbconn_redis(conn);
        if (db == NULL || rc == NULL)
            return -1;
        tk_lb_rebuild_stats_t st;
        char err[512];
        int rrc = tk_lb_rebuild_board_ex(db, rc, id, cluster ? TK_LB_REBUILD_NO_REGISTRY : 0, &st, err, sizeof(err));
        if (rrc == TK_REBUILD_OK) {
            __atomic_add_fetch(&srv->rebuild->board_rebuilds, 1, __ATOMIC_RELAXED);
            unsigned kept = st.season > TK_LB_KEEP_CLOSED ? TK_LB_KEEP_CLOSED + 1 : st.season;
            tk_info("%s: board %s back in Redis from MariaDB: season %u, %llu users in it (%llu rows over %u seasons kept), seq %llu, "
                    "%lld ms",
                    who, id, st.season, (unsigned long long)st.current, (unsigned long long)st.rows, kept, (unsigned long long)st.seq,
                    (long long)st.ms_total);
            return 0;
        }
        if (rrc == TK_REBUILD_UNKNOWN_EVENT)
            return 0; /* deleted meanwhile */
        if (rrc == TK_REBUILD_ERR_DB || rrc == TK_REBUILD_ERR_INVALID || rrc == TK_REBUILD_ERR_REDIS) {
            tk_warn("%s: board %s: %s", who, id, err);
            if (rrc == TK_REBUILD_ERR_DB)
                gw_dbconn_db_reset(conn);
            if (rrc == TK_REBUILD_ERR_REDIS)
                gw_dbconn_redis_drop(conn, rc);
            return -1;
        }
        /* Not drained yet, or a write reached Redis meanwhile: wait and try again. */
        if (tk_time_mono_ms() >= deadline) {
            tk_warn("%s: board %s: not rebuilt within %d ms (%s)", who, id, wait_ms, err);
            return -1;
        }
        usleep((useconds_t)pause_ms * 1000);
    }
    return -1;
}

/* Every board of MariaDB whose hash Redis lacks, rebuilt; 0 when each has its Redis state. */
static int check_boards(gw_dbconn_t *conn, gw_server_t *srv)
{
    MYSQL *db = gw_dbconn_db(conn);
    redisContext *rc = db != NULL ? gw_dbconn_redis(conn) : NULL;
    if (db == NULL || rc == NULL)
        return -1;
    if (mysql_query(db, "SELECT board_id FROM boards ORDER BY board_id") != 0) {
        tk_warn("rebuild check: %s", mysql_error(db));
        gw_dbconn_db_reset(conn);
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(db);
    if (res == NULL) {
        gw_dbconn_db_reset(conn);
        return -1;
    }
    mysql_rollback(db);
    int rc_all = 0;
    MYSQL_ROW row;
    char id[TK_ID_MAX + 1], key[TK_KEY_MAX];
    while ((row = mysql_fetch_row(res)) != NULL && !srv->shutdown) {
        snprintf(id, sizeof(id), "%s", row[0]);
        if (tk_lb_key(TK_LB_BOARD, id, strlen(id), 0, key) < 0)
            continue;
        if ((rc = gw_dbconn_redis_for(conn, key, strlen(key))) == NULL) {
            rc_all = -1;
            break;
        }
        redisReply *rep = redisCommand(rc, "EXISTS %s", key);
        if (rep == NULL) {
            gw_dbconn_redis_drop(conn, rc);
            rc_all = -1;
            break;
        }
        int refused = rep->type != REDIS_REPLY_INTEGER; /* LOADING: not "missing" (check_event) */
        int present = !refused && rep->integer == 1;
        freeReplyObject(rep);
        if (refused)
            rc_all = -1;
        else if (!present && gw_rebuild_board(conn, srv, id, "rebuild check", EVENT_WAIT_MS, EVENT_PAUSE_MS) != 0)
            rc_all = -1;
    }
    mysql_free_result(res);
    return rc_all;
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
            /* Events first: their claims are the sale; a board of a million users takes seconds. */
            int events_ok = check_all(conn, srv) == 0;
            int boards_ok = check_boards(conn, srv) == 0;
            if (boards_ok) {
                __atomic_add_fetch(&rb->checks_ended, 1, __ATOMIC_ACQ_REL); /* before the flag falls: gw_rebuild_may_restore */
                __atomic_store_n(&rb->boards, 0, __ATOMIC_RELEASE);
            }
            if (events_ok && boards_ok) {
                ok = 1;
                break;
            }
            if (tk_time_mono_ms() >= deadline)
                break;
            sleep(1);
        }
        if (!ok && !srv->shutdown)
            tk_error("rebuild check: not every event and board could be checked; claims for a missing event, and reads and writes of a "
                     "missing board, get 503 until Redis reconnects");
        /* Redis reconnected while we worked: its state may have changed again. */
        if (!__atomic_load_n(&rb->again, __ATOMIC_RELAXED) || srv->shutdown)
            break;
    }
    __atomic_add_fetch(&rb->checks_ended, 1, __ATOMIC_ACQ_REL);
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
    __atomic_store_n(&rb->boards, 1, __ATOMIC_RELEASE);
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

int gw_rebuild_boards_pending(const gw_server_t *srv)
{
    return __atomic_load_n(&srv->rebuild->boards, __ATOMIC_ACQUIRE);
}

uint64_t gw_rebuild_board_count(const gw_server_t *srv)
{
    return __atomic_load_n(&srv->rebuild->board_rebuilds, __ATOMIC_RELAXED);
}

uint64_t gw_rebuild_event_token(const gw_server_t *srv)
{
    /* The count first: a check ending after it was read changes it, so the answer's side sees the difference. */
    uint64_t ended = __atomic_load_n(&srv->rebuild->checks_ended, __ATOMIC_ACQUIRE);
    return ended << 1 | (uint64_t)gw_rebuild_active(srv);
}

int gw_rebuild_event_may_restore(const gw_server_t *srv, uint64_t token)
{
    return (token & 1) != 0 || gw_rebuild_active(srv) || __atomic_load_n(&srv->rebuild->checks_ended, __ATOMIC_ACQUIRE) != token >> 1;
}

/* A board's: the events' token with the boards' pending flag in its low bit too. */
uint64_t gw_rebuild_token(const gw_server_t *srv)
{
    return gw_rebuild_event_token(srv) | (uint64_t)gw_rebuild_boards_pending(srv);
}

int gw_rebuild_may_restore(const gw_server_t *srv, uint64_t token)
{
    return gw_rebuild_event_may_restore(srv, token) || gw_rebuild_boards_pending(srv);
}
