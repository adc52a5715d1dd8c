/*
 * gw_peers: beats and the peer check of the fallback; the argument is in
 * gw_peers.h.
 */
#include "gw_peers.h"
#include "gw_types.h"
#include "tk_db.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "tk_time.h"

#include <stdint.h>
#include <string.h>

static const char sql_fence_x[] = "SELECT n FROM gateway_fence WHERE id = 1 FOR UPDATE";
/* checked_run only when the row is made: '*' (nothing journaled) until this process's first mark, '' after it.
 * alive_ms: this gateway's PEER_ALIVE_MS, by which every reader judges it too (gw_peers.h, "Windows that differ"). */
static const char sql_beat[] = "INSERT INTO gateway_beats (holder, beat_at, checked_run, alive_ms) VALUES (?, NOW(3), ?, ?) "
                               "ON DUPLICATE KEY UPDATE beat_at = NOW(3), alive_ms = VALUES(alive_ms)";
/* A peer is alive while its beat is younger than the larger of the reader's window (?, in µs) and its own. */
#define ALIVE_PEER "holder <> ? AND beat_at > NOW(3) - INTERVAL GREATEST(CAST(? AS SIGNED), alive_ms * 1000) MICROSECOND"

static const char sql_bump[] = "UPDATE gateway_fence SET n = n + 1 WHERE id = 1";
static const char sql_fence_s[] = "SELECT n FROM gateway_fence WHERE id = 1 LOCK IN SHARE MODE";
/* A locking read: the latest committed rows, whatever snapshot the caller's transaction holds. */
static const char sql_alive[] = "SELECT COUNT(*) FROM gateway_beats WHERE " ALIVE_PEER " LOCK IN SHARE MODE";
static const char sql_forget[] = "DELETE FROM gateway_beats WHERE holder = ?";
/* Inside the beat, under the fence held exclusively: no grant transaction runs, a plain read will do. */
static const char sql_others[] = "SELECT COUNT(*) FROM gateway_beats WHERE " ALIVE_PEER;
/* checked_run holds SHA2(run_id, 256): a cluster's run_id (every master's) is too long for a key-sized column. */
static const char sql_mark[] = "UPDATE gateway_beats SET checked_run = SHA2(?, 256) WHERE holder = ?";
/* A locking read too: a peer's mark committed a moment ago must count. An unknown run_id ("") matches no mark. */
static const char sql_unchecked[] = "SELECT COUNT(*) FROM gateway_beats WHERE " ALIVE_PEER
                                    " AND checked_run <> '*' AND (? = '' OR checked_run <> SHA2(?, 256)) LOCK IN SHARE MODE";

static uint64_t refusals_total;
static int64_t last_beat_ms; /* mono ms of the last beat that committed, any thread (gw_peers_beat_due) */
static int64_t beat_start_ms; /* mono ms at which the latest committed beat began: its beat_at is no earlier */
static int64_t lapse_ms;      /* the longest a peer may have read this gateway dead since gw_peers_lapse_clear (gw_peers.h) */
static int others_at_beat = 1; /* other gateways alive at the latest committed beat (1 until the first: unknown) */
static int others_since = 1;   /* ... at any committed beat since gw_peers_lapse_clear (a peer that died since still counts) */
static int peer_seen;     /* a peer was seen alive since the last return to Redis (gw_peers.h) */
static int beats_failing; /* the last beat failed: its warning was logged once, not every second */
static int marked;        /* this process has marked (gw_peers_mark): a beat row it makes again is '' ("never checked"), not '*' */

uint64_t gw_peers_refusal_count(void)
{
    return __atomic_load_n(&refusals_total, __ATOMIC_RELAXED);
}

void gw_peers_refused(void)
{
    __atomic_store_n(&peer_seen, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&refusals_total, 1, __ATOMIC_RELAXED);
}

void gw_peers_saw(void)
{
    __atomic_store_n(&peer_seen, 1, __ATOMIC_RELAXED);
}

int gw_peers_seen(void)
{
    return __atomic_load_n(&peer_seen, __ATOMIC_RELAXED);
}

void gw_peers_reset(void)
{
    __atomic_store_n(&peer_seen, 0, __ATOMIC_RELAXED);
}

/* Ends the transaction: commits after success, rolls back after an error. */
static unsigned finish(MYSQL *db, unsigned e)
{
    if (e == 0 && mysql_commit(db) != 0)
        e = mysql_errno(db) != 0 ? mysql_errno(db) : 2000;
    if (e != 0)
        mysql_rollback(db);
    return e;
}

/* The fence's n through @sql (a locking read); 0, or a MariaDB error (1032: the fence row is missing). */
static unsigned read_fence(MYSQL *db, const char *sql)
{
    MYSQL_BIND out[1];
    long long n = 0;
    unsigned long long rows = 0;
    tk_sql_bind_i64(&out[0], &n);
    unsigned e = tk_sql_stmt(db, sql, NULL, out, 1, NULL, NULL, &rows);
    if (e == 0 && rows != 1)
        e = 1032; /* ER_KEY_NOT_FOUND: migration 010 seeds the row; without it nothing is fenced */
    return e;
}

/* @v = max(@v, @x), for several threads; a store, when there is one, with memory order @order. */
static void atomic_max(int64_t *v, int64_t x, int order)
{
    int64_t cur = __atomic_load_n(v, __ATOMIC_RELAXED);
    while (cur < x && !__atomic_compare_exchange_n(v, &cur, x, 0, order, __ATOMIC_RELAXED))
        ;
}

unsigned gw_peers_beat(MYSQL *db, const char *holder, long alive_ms)
{
    int64_t t0 = tk_time_mono_ms();
    MYSQL_BIND in[3], out[1];
    unsigned long lens[2];
    long long others = 1, alive_us = (long long)alive_ms * 1000, alive = alive_ms;
    const char *first = __atomic_load_n(&marked, __ATOMIC_ACQUIRE) ? "" : "*";
    /* The fence first: the grant transactions take it before the beats, so
     * the two kinds meet in one order and never deadlock. */
    unsigned e = read_fence(db, sql_fence_x);
    if (e == 0) {
        tk_sql_bind_str(&in[0], holder, &lens[0], strlen(holder));
        tk_sql_bind_str(&in[1], first, &lens[1], strlen(first));
        tk_sql_bind_i64(&in[2], &alive);
        e = tk_sql_stmt(db, sql_beat, in, NULL, 0, NULL, NULL, NULL);
    }
    if (e == 0) {
        tk_sql_bind_str(&in[0], holder, &lens[0], strlen(holder));
        tk_sql_bind_i64(&in[1], &alive_us);
        tk_sql_bind_i64(&out[0], &others);
        e = tk_sql_stmt(db, sql_others, in, out, 1, NULL, NULL, NULL);
    }
    if (e == 0)
        e = tk_sql_stmt(db, sql_bump, NULL, NULL, 0, NULL, NULL, NULL);
    e = finish(db, e);
    if (e == 0) {
        int64_t now = tk_time_mono_ms();
        __atomic_store_n(&last_beat_ms, now, __ATOMIC_RELAXED);
        /* From the previous beat's start (its beat_at, at the latest) to this one's commit (when a peer can read
         * it): a peer counting alive beats may have read this gateway dead for all of it past PEER_ALIVE_MS. */
        int64_t prev = __atomic_load_n(&beat_start_ms, __ATOMIC_ACQUIRE);
        if (prev != 0)
            atomic_max(&lapse_ms, now - prev, __ATOMIC_RELAXED);
        if (others > 0)
            __atomic_store_n(&others_since, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&others_at_beat, others > 0, __ATOMIC_RELAXED);
        /* Last, with release: a reader that sees this start sees the lapse it ended (gw_peers_lapse_ms). */
        atomic_max(&beat_start_ms, t0, __ATOMIC_RELEASE);
    }
    return e;
}

int gw_peers_alone_at_beat(void)
{
    return !__atomic_load_n(&others_since, __ATOMIC_RELAXED);
}

int64_t gw_peers_lapse_ms(void)
{
    int64_t start = __atomic_load_n(&beat_start_ms, __ATOMIC_ACQUIRE);
    if (start == 0)
        return INT64_MAX;
    int64_t now_gap = tk_time_mono_ms() - start, worst = __atomic_load_n(&lapse_ms, __ATOMIC_RELAXED);
    return now_gap > worst ? now_gap : worst;
}

void gw_peers_lapse_clear(void)
{
    __atomic_store_n(&lapse_ms, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&others_since, __atomic_load_n(&others_at_beat, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

unsigned gw_peers_beat_conn(gw_dbconn_t *conn, gw_server_t *srv, int64_t *took_ms)
{
    MYSQL *db = gw_dbconn_db(conn);
    int64_t t0 = tk_time_mono_ms();
    unsigned e = db != NULL ? gw_peers_beat(db, srv->holder, srv->conf->peer_alive_ms) : 2002;
    if (e != 0 && db != NULL)
        gw_dbconn_db_reset(conn);
    if (took_ms != NULL)
        *took_ms = tk_time_mono_ms() - t0;
    return e;
}

unsigned gw_peers_beat_due(gw_dbconn_t *conn, gw_server_t *srv)
{
    if (tk_time_mono_ms() - __atomic_load_n(&last_beat_ms, __ATOMIC_RELAXED) < GW_PEER_BEAT_MS)
        return 0;
    return gw_peers_beat_conn(conn, srv, NULL);
}

unsigned gw_peers_check(MYSQL *db, const char *holder, long alive_ms, long long *alive)
{
    MYSQL_BIND in[2], out[1];
    unsigned long len;
    long long alive_us = (long long)alive_ms * 1000;
    *alive = 0;
    unsigned e = read_fence(db, sql_fence_s);
    if (e != 0)
        return e;
    tk_sql_bind_str(&in[0], holder, &len, strlen(holder));
    tk_sql_bind_i64(&in[1], &alive_us);
    tk_sql_bind_i64(&out[0], alive);
    return tk_sql_stmt(db, sql_alive, in, out, 1, NULL, NULL, NULL);
}

unsigned gw_peers_forget(MYSQL *db, const char *holder)
{
    MYSQL_BIND in[1];
    unsigned long len;
    tk_sql_bind_str(&in[0], holder, &len, strlen(holder));
    return finish(db, tk_sql_stmt(db, sql_forget, in, NULL, 0, NULL, NULL, NULL));
}

unsigned gw_peers_mark(MYSQL *db, const char *holder, const char *run_id)
{
    /* Before the UPDATE: from here on this process may hold journaled grants, and a row a beat made again
     * must read "never checked". */
    __atomic_store_n(&marked, 1, __ATOMIC_RELEASE);
    MYSQL_BIND in[2];
    unsigned long lens[2];
    tk_sql_bind_str(&in[0], run_id, &lens[0], strlen(run_id));
    tk_sql_bind_str(&in[1], holder, &lens[1], strlen(holder));
    return finish(db, tk_sql_stmt(db, sql_mark, in, NULL, 0, NULL, NULL, NULL));
}

unsigned gw_peers_unchecked(MYSQL *db, const char *holder, long alive_ms, const char *run_id, long long *n)
{
    MYSQL_BIND in[4], out[1];
    unsigned long lens[3];
    long long alive_us = (long long)alive_ms * 1000;
    *n = 0;
    tk_sql_bind_str(&in[0], holder, &lens[0], strlen(holder));
    tk_sql_bind_i64(&in[1], &alive_us);
    tk_sql_bind_str(&in[2], run_id, &lens[1], strlen(run_id));
    tk_sql_bind_str(&in[3], run_id, &lens[2], strlen(run_id));
    tk_sql_bind_i64(&out[0], n);
    unsigned e = tk_sql_stmt(db, sql_unchecked, in, out, 1, NULL, NULL, NULL);
    mysql_rollback(db); /* a read: ends the transaction and its shared locks */
    return e;
}

void gw_peers_leave(gw_server_t *srv)
{
    char err[512];
    tk_db_conf_t dc = tk_backend_db(&srv->conf->backend, 1);
    MYSQL *db = tk_db_connect(&dc, err, sizeof(err));
    if (db == NULL) {
        tk_warn("peers: cannot remove this gateway's beat (%s); peers see it as alive for %ld ms more (or their PEER_ALIVE_MS if longer)", err,
                srv->conf->peer_alive_ms);
        return;
    }
    unsigned e = gw_peers_forget(db, srv->holder);
    if (e != 0)
        tk_warn("peers: removing this gateway's beat: MariaDB error %u", e);
    mysql_close(db);
}

void gw_peers_beat_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_server_t *srv = job->origin->server;
    MYSQL *db = gw_dbconn_db(conn);
    unsigned e = db != NULL ? gw_peers_beat(db, srv->holder, srv->conf->peer_alive_ms) : 2002;
    int was_failing = __atomic_exchange_n(&beats_failing, e != 0, __ATOMIC_RELAXED);
    if (e != 0 && !was_failing)
        tk_warn("peers: this gateway cannot announce itself in MariaDB (error %u): a peer's fallback may take it for dead", e);
    else if (e == 0 && was_failing)
        tk_info("peers: beats reach MariaDB again");
    if (e != 0 && db != NULL && tk_db_classify(e) == TK_DB_RECONNECT)
        gw_dbconn_db_reset(conn);
    gw_dbjob_answer(job, e == 0 ? 200 : 503, "", 0);
}
