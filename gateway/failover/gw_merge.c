/*
 * gw_merge: the check before every return to the fast path (mode MERGE,
 * gw_merge.h), on a database thread: steps 0 to 5, the stale flags, the
 * rebuild of each event that needs it. gw_failover.c starts it and moves
 * the mode on its answer.
 */
#include "gw_merge.h"
#include "gw_fallback_grant.h"
#include "gw_identity.h"
#include "gw_journal.h"
#include "gw_lock.h"
#include "gw_peers.h"
#include "gw_rebuild.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

#define SCAN_PAGE 256 /* event_stock rows read, and seqs asked of Redis, per round of the scan */

/* The events the running merge rebuilt: only the merge job (one at a time)
 * writes the count, and gw_failover.c reads it (gw_merge_rebuilt) after
 * the job answered. */
static unsigned merged_events;

/* What a MariaDB error @e of the beats' tables says about a migration not run, for a log line ("" when nothing). */
static const char *migration_hint(unsigned e)
{
    if (e == 1146 || e == 1032)
        return ": table gateway_beats or gateway_fence missing, run scripts/migrate.sh (sql/010)";
    if (e == 1054)
        return ": a column of gateway_beats missing (checked_run, alive_ms), run scripts/migrate.sh (sql/011, sql/012)";
    return "";
}

/* redis_seqs on a cluster: one HGET per event, routed by its key (MOVED, ASK followed); read-only, so a resend
 * after a lost connection is harmless. Not pipelined per master: the merge runs once per return to Redis. */
static int cluster_seqs(tk_rcluster_t *rcl, const char (*ids)[TK_ID_MAX + 1], size_t n, long long *seq)
{
    int rc_all = 0;
    for (size_t i = 0; i < n; i++) {
        char key[TK_KEY_MAX];
        int klen = tk_key(TK_KEY_EV, ids[i], strlen(ids[i]), key);
        if (klen < 0)
            return -1;
        const char *argv[] = {"HGET", key, "seq"};
        size_t lens[] = {4, (size_t)klen, 3};
        redisReply *rep = tk_rcluster_cmd(rcl, key, (size_t)klen, 3, argv, lens);
        if (rep == NULL) {
            tk_warn("merge: event %s: %s", ids[i], rcl->errstr);
            return -1;
        }
        if (rep->type == REDIS_REPLY_NIL)
            seq[i] = -1;
        else if (rep->type == REDIS_REPLY_STRING)
            seq[i] = strtoll(rep->str, NULL, 10);
        else
            rc_all = -1; /* refusing (LOADING, CLUSTERDOWN): the merge waits and tries again */
        freeReplyObject(rep);
    }
    return rc_all;
}

/*
 * The ticket sequences of @n events in Redis, pipelined: seq[i] = -1 when
 * the event hash is missing. 0, or -1 when Redis failed.
 */
static int redis_seqs(gw_dbconn_t *conn, const char (*ids)[TK_ID_MAX + 1], size_t n, long long *seq)
{
    tk_rcluster_t *rcl = gw_dbconn_rcluster(conn);
    if (rcl != NULL)
        return cluster_seqs(rcl, ids, n, seq);
    redisContext *rc = gw_dbconn_redis(conn);
    if (rc == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char key[TK_KEY_MAX];
        int klen = tk_key(TK_KEY_EV, ids[i], strlen(ids[i]), key);
        if (redisAppendCommand(rc, "HGET %b seq", key, (size_t)klen) != REDIS_OK)
            goto fail;
    }
    int rc_all = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(rc, (void **)&rep) != REDIS_OK || rep == NULL)
            goto fail;
        if (rep->type == REDIS_REPLY_NIL)
            seq[i] = -1;
        else if (rep->type == REDIS_REPLY_STRING)
            seq[i] = strtoll(rep->str, NULL, 10);
        else
            rc_all = -1; /* refusing (LOADING, say): the merge waits and tries again */
        freeReplyObject(rep);
    }
    return rc_all;
fail:
    gw_dbconn_redis_reset(conn);
    return -1;
}

/*
 * Rebuilds @id in Redis from MariaDB, then clears its stale flag if it
 * still carries the token read before the rebuild. This process holds no
 * lock by then (step 1, release_locks). 0, or -1 when a backend failed.
 */
static int merge_event(gw_dbconn_t *conn, gw_server_t *srv, const char *id)
{
    size_t elen = strlen(id);
    MYSQL *db = gw_dbconn_db(conn);
    if (db == NULL)
        return -1;
    /* Read after step 1's release of this process's lock: a fallback session
     * of another gateway that flags the event later is not ours to clear. */
    char stale[GW_LOCK_TOKEN_LEN + 1];
    unsigned e = gw_lock_stale_token(db, id, elen, stale);
    if (e != 0) {
        tk_warn("merge: event %s: reading its stale flag: MariaDB error %u", id, e);
        gw_dbconn_db_reset(conn);
        return -1;
    }
    if (gw_rebuild_event(conn, srv, id, "merge", GW_MERGE_WAIT_MS, 100, 1) != 0)
        return -1;
    if ((db = gw_dbconn_db(conn)) == NULL)
        return -1;
    if (stale[0] != '\0' && (e = gw_lock_clear_stale(db, id, elen, stale)) != 0) {
        tk_warn("merge: event %s: clearing its stale flag: MariaDB error %u", id, e);
        gw_dbconn_db_reset(conn);
        return -1; /* the flag stays: the next merge rebuilds it again, harmlessly */
    }
    merged_events++;
    return 0;
}

/* MariaDB's ticket_hwm of @id into *@hwm, *@found 0 when the event has no stock row. 0, or -1 when MariaDB failed. */
static int stock_hwm(gw_dbconn_t *conn, const char *id, long long *hwm, int *found)
{
    static const char sql[] = "SELECT ticket_hwm FROM event_stock WHERE event_id = ?";
    MYSQL *db = gw_dbconn_db(conn);
    if (db == NULL)
        return -1;
    MYSQL_BIND in[1], out[1];
    unsigned long len;
    unsigned long long rows = 0;
    tk_sql_bind_str(&in[0], id, &len, strlen(id));
    tk_sql_bind_i64(&out[0], hwm);
    unsigned e = tk_sql_stmt(db, sql, in, out, 1, NULL, NULL, &rows);
    mysql_rollback(db);
    if (e != 0) {
        tk_warn("merge: event %s: reading its ticket_hwm: MariaDB error %u", id, e);
        gw_dbconn_db_reset(conn);
        return -1;
    }
    *found = rows == 1;
    return 0;
}

/*
 * Step 1: events whose journaled grants Redis may no longer have, written
 * to MariaDB (gw_fallback_grant_write: rows not there yet and, when there
 * were any, the stale flag and the mark for step 3's rebuild): Redis's seq is below
 * the journal, or the event is gone, or it was rebuilt from MariaDB since
 * the last reset. With @restarted (Redis's run_id is not the last completed
 * check's) also those whose seq is not above MariaDB's ticket_hwm: another
 * gateway's reconnect check (gw_rebuild.c) may have rebuilt the event from
 * MariaDB on the new instance, and a rebuild's seq is MariaDB's ticket_hwm
 * (above a grant undrained after an out-of-order drain); a seq above it was
 * drawn by the claim script, on an instance nobody has served from since
 * the restart (step 2 holds every peer back until this gateway's mark).
 * Nothing is rebuilt here: that waits for the peers.
 */
static int merge_journaled(gw_dbconn_t *conn, gw_server_t *srv, char (*ids)[TK_ID_MAX + 1], long long *seq, int restarted)
{
    size_t pos = 0, n;
    while ((n = gw_journal_scan(srv->journal, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, SCAN_PAGE)) > 0) {
        if (redis_seqs(conn, (const char(*)[TK_ID_MAX + 1])ids, n, seq) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const char *id = ids[i];
            gw_journal_info_t info;
            if (gw_journal_info(srv->journal, id, strlen(id), &info) != 0 || info.flushed || info.journal_max == 0)
                continue;
            /* A seq at or above the journal proves nothing once the event was rebuilt from MariaDB (by the
             * reconnect check, or by an earlier merge's step 5): the rebuild's seq is MariaDB's ticket_hwm. */
            int lost = gw_journal_redis_may_lack(&info, seq[i]);
            long long hwm = 0;
            int found = 0;
            if (!lost && restarted) {
                if (stock_hwm(conn, id, &hwm, &found) != 0)
                    return -1;
                lost = found && seq[i] <= hwm;
            }
            if (!lost)
                continue;
            tk_warn("merge: event %s: Redis may have lost grants this gateway answered (Redis seq %lld, journal up to ticket %llu%s); "
                    "writing them to MariaDB before rebuilding",
                    id, seq[i], (unsigned long long)info.journal_max,
                    info.rebuilt ? ", rebuilt from MariaDB meanwhile"
                    : found      ? ", Redis restarted and its seq not above MariaDB's ticket_hwm: maybe a rebuild's"
                                 : "");
            /* The lock is released at once (gw_fallback_grant_write), not at step 3's rebuild: a peer's step 1 may
             * need it while this merge waits in step 2 for that very peer; and an event left locked would read
             * "fallback" and skip the fallback's completeness test if this merge fails. */
            if (gw_peers_beat_due(conn, srv) != 0 || gw_fallback_grant_write(conn, srv, id, strlen(id)) != 0)
                return -1;
        }
    }
    return 0;
}

/*
 * Step 1 too: the locks this process's fallback holds, released before the
 * wait of step 2. Held across it, a peer's step 1 could not write its own
 * journal of the same event while this merge waits for that very peer's
 * mark (until the lock expires, FALLBACK_LOCK_TTL_MS). Safe before the
 * rebuild: the mode is MERGE, so no fallback batch of this process grants
 * (grant_body checks the mode under the lock row, and the release waits for
 * it), another gateway's grants while this one beats are refused
 * (gw_peers.h), and the stale flag keeps the event rebuilt before anyone
 * serves it from Redis. Step 3 still rebuilds every such event. The only
 * release of a lock this process holds in the merge (merge_event has none
 * left to release).
 */
static int release_locks(gw_dbconn_t *conn, gw_server_t *srv, char (*ids)[TK_ID_MAX + 1])
{
    size_t pos = 0, n;
    while ((n = gw_journal_scan(srv->journal, &pos, GW_JOURNAL_SCAN_TOUCHED, ids, SCAN_PAGE)) > 0) {
        for (size_t i = 0; i < n; i++) {
            gw_journal_info_t info;
            if (gw_journal_info(srv->journal, ids[i], strlen(ids[i]), &info) != 0 || info.token[0] == '\0')
                continue;
            MYSQL *db = gw_dbconn_db(conn);
            unsigned e = db != NULL ? gw_lock_release(db, ids[i], strlen(ids[i]), info.token) : 2002;
            if (e != 0) {
                tk_warn("merge: event %s: releasing its lock: MariaDB error %u", ids[i], e);
                if (db != NULL)
                    gw_dbconn_db_reset(conn);
                return -1;
            }
            gw_journal_clear_locked(srv->journal, ids[i], strlen(ids[i]));
        }
    }
    return 0;
}

#define PEERS_WAIT_MS 2000 /* per merge, for the peers' marks; then the merge fails and runs again a second later */
#define PEERS_POLL_MS 50

/*
 * Step 2, the mark and the wait (gw_peers.h, "After a Redis restart"): this
 * gateway's journal is in MariaDB for Redis @rid; with @restarted, returns
 * 0 only once no live peer's mark differs, -1 when one still does after
 * PEERS_WAIT_MS or MariaDB failed.
 */
static int peers_checked(gw_dbconn_t *conn, gw_server_t *srv, const char *rid, int restarted)
{
    MYSQL *db = gw_dbconn_db(conn);
    unsigned e = db != NULL ? gw_peers_mark(db, srv->holder, rid) : 2002;
    long long n = 0;
    for (int64_t until = tk_time_mono_ms() + PEERS_WAIT_MS, polls = 0; e == 0 && restarted; polls++) {
        if ((e = gw_peers_unchecked(db, srv->holder, srv->conf->peer_alive_ms, rid, &n)) != 0 || n == 0)
            break;
        gw_peers_saw(); /* alive during this stay away from Redis: the fallback stays read-only (gw_peers.h, "A peer seen") */
        if (polls == 0)
            tk_info("merge: Redis was restarted (or its identity changed); waiting for %lld other gateway(s) to write their journals for it", n);
        if (tk_time_mono_ms() >= until) {
            tk_warn("merge: Redis was restarted and %lld other gateway(s) alive have not written their journals for it yet; nothing is "
                    "rebuilt before they have (or stop beating for %ld ms, or their own PEER_ALIVE_MS if longer)%s",
                    n, srv->conf->peer_alive_ms, rid[0] == '\0' ? "; Redis's INFO gives no run_id, so no peer can be proved done" : "");
            return -1;
        }
        tk_time_sleep_ms(PEERS_POLL_MS, NULL);
        if ((e = gw_peers_beat_due(conn, srv)) != 0 || (db = gw_dbconn_db(conn)) == NULL) {
            e = e != 0 ? e : 2002;
            break;
        }
    }
    if (e != 0) {
        tk_warn("merge: marking this gateway's journal checked: MariaDB error %u%s", e, migration_hint(e));
        if (db != NULL)
            gw_dbconn_db_reset(conn);
        return -1;
    }
    return 0;
}

typedef struct {
    char (*ids)[TK_ID_MAX + 1];
    long long *hwm;
    size_t n;
    char id[TK_ID_MAX + 1];
    unsigned long idlen;
    long long row_hwm;
} scan_page_t;

static void scan_row(void *arg)
{
    scan_page_t *pg = arg;
    size_t len = pg->idlen <= TK_ID_MAX ? pg->idlen : TK_ID_MAX;
    memcpy(pg->ids[pg->n], pg->id, len);
    pg->ids[pg->n][len] = '\0';
    pg->hwm[pg->n++] = pg->row_hwm;
}

/*
 * Step 5: every event whose Redis sequence is below MariaDB's highest stored
 * ticket (or whose hash is gone) is older in Redis than in MariaDB — a Redis
 * restarted from an AOF that missed its last writes, say — and would issue
 * tickets again: rebuilt. *@db_failed tells a MariaDB failure from Redis's.
 */
static int merge_behind(gw_dbconn_t *conn, gw_server_t *srv, char (*ids)[TK_ID_MAX + 1], long long *seq, long long *hwm,
                        int *db_failed)
{
    static const char sql[] = "SELECT event_id, ticket_hwm FROM event_stock WHERE event_id > ? ORDER BY event_id LIMIT 256"; /* SCAN_PAGE */
    char after[TK_ID_MAX + 1] = "";
    for (;;) {
        MYSQL *db = gw_dbconn_db(conn);
        if (db == NULL) {
            *db_failed = 1;
            return -1;
        }
        scan_page_t pg = {.ids = ids, .hwm = hwm};
        MYSQL_BIND in[1], out[2];
        unsigned long alen;
        unsigned long long rows = 0;
        tk_sql_bind_str(&in[0], after, &alen, strlen(after));
        tk_sql_bind_strbuf(&out[0], pg.id, TK_ID_MAX, &pg.idlen);
        tk_sql_bind_i64(&out[1], &pg.row_hwm);
        unsigned e = tk_sql_stmt(db, sql, in, out, SCAN_PAGE, scan_row, &pg, &rows);
        mysql_rollback(db);
        if (e != 0) {
            tk_warn("merge: reading event_stock: MariaDB error %u", e);
            gw_dbconn_db_reset(conn);
            *db_failed = 1;
            return -1;
        }
        if (pg.n == 0)
            return 0;
        if (redis_seqs(conn, (const char(*)[TK_ID_MAX + 1])ids, pg.n, seq) != 0)
            return -1;
        for (size_t i = 0; i < pg.n; i++) {
            if (seq[i] >= 0 && seq[i] >= hwm[i])
                continue;
            if (seq[i] < 0)
                tk_warn("merge: event %s is missing in Redis; rebuilding it from MariaDB", ids[i]);
            else
                tk_warn("merge: event %s: Redis seq %lld is below MariaDB's highest ticket %lld; rebuilding it from MariaDB", ids[i],
                        seq[i], hwm[i]);
            if (merge_event(conn, srv, ids[i]) != 0)
                return -1;
        }
        if (pg.n < SCAN_PAGE)
            return 0;
        memcpy(after, ids[pg.n - 1], strlen(ids[pg.n - 1]) + 1);
    }
}

/* 1 at most once every 10 s per @last: a warning of the merge, which runs again every second. */
static int warn_due(int64_t *last)
{
    int64_t now = tk_time_mono_ms();
    if (now - *last < 10000)
        return 0;
    *last = now;
    return 1;
}

/*
 * The blip exception's last condition: no other gateway's fallback can
 * have granted from MariaDB since the last completed check. Either this
 * gateway's beats never lapsed since, so every peer read it alive
 * throughout and none granted (gw_peers.h); or no other gateway was alive
 * at any of its committed beats since that check (one gateway: its
 * MariaDB outages keep the fast path through a blip, as before). Without it, a gateway whose beats
 * failed (MariaDB out of its reach) or that was frozen while a peer cut
 * from Redis granted an event from MariaDB, then met MariaDB's failure
 * again at its merge, served that event from a Redis without the peer's
 * grants: their tickets and units again. Left open: a peer that was not
 * alive at that beat (started, or resumed, since) and granted from its
 * fallback during this gateway's outage.
 */
static int never_dead(const gw_server_t *srv)
{
    static int64_t warned_ms;
    int64_t lapse = gw_peers_lapse_ms();
    if (lapse < srv->conf->peer_alive_ms || gw_peers_alone_at_beat())
        return 1;
    if (warn_due(&warned_ms)) {
        tk_warn("merge: this gateway's beats lapsed for %lld ms since the last check (PEER_ALIVE_MS %ld) with other gateways alive: "
                "one may have granted from MariaDB meanwhile, so Redis waits for MariaDB",
                lapse == INT64_MAX ? -1LL : (long long)lapse, srv->conf->peer_alive_ms);
    }
    return 0;
}

/*
 * A beat of the merge must commit soon after its beat_at (MariaDB's NOW(3)
 * when its upsert started), else argument (2) of gw_peers.h fails: a
 * grant transaction that waited on the fence behind it, or started just
 * after its commit, reads a beat_at already PEER_ALIVE_MS old, takes this
 * gateway for dead and grants from MariaDB after this merge read it (and
 * goes on granting until the next beat commits). A beat held up on its
 * own row's lock, or a commit stuck on a slow fsync, does that. So a beat
 * that took PEER_ALIVE_MS/2 or more, measured on this side from before
 * the fence (an upper bound of commit minus beat_at), reads nothing: the
 * merge fails and the next one, a second later, beats again. The other
 * half of the window is for the beat after it (GW_PEER_BEAT_MS later) to
 * commit. Except when no other gateway was alive at any beat since the
 * last check (gw_peers_alone_at_beat, the blip exception's test): then no
 * peer's fallback can grant, and a MariaDB that is merely slow keeps a
 * lone gateway off the fast path no longer than one that is down.
 * 1 when the merge must stop here.
 */
static int slow_beat(const gw_server_t *srv, int64_t took_ms, const char *which)
{
    static int64_t warned_ms;
    if (took_ms < srv->conf->peer_alive_ms / 2 || gw_peers_alone_at_beat())
        return 0;
    if (warn_due(&warned_ms)) {
        tk_warn("merge: this gateway's %s beat took %lld ms to commit (PEER_ALIVE_MS %ld): a peer may have read it dead and "
                "granted from MariaDB after this merge's reads; no rebuild off that beat, beating again at the next check",
                which, (long long)took_ms, srv->conf->peer_alive_ms);
    }
    return 1;
}

/*
 * The beat just before the rebuilds read MariaDB (step 3): steps 1 and 2
 * may have run long (a journal write, the wait for peers' marks) on beats
 * of gw_peers_beat_due that nobody measured. This one takes the fence
 * exclusively, so every grant transaction that counted this gateway dead
 * before it has ended (its grants are in what step 3 reads), and, quick,
 * it keeps every later one refusing. 0, or -1: the merge stops here.
 */
static int beat_before_reads(gw_dbconn_t *conn, gw_server_t *srv)
{
    int64_t took = 0;
    unsigned e = gw_peers_beat_conn(conn, srv, &took);
    if (e != 0) {
        tk_warn("merge: this gateway's beat before the rebuilds failed (MariaDB error %u); checking again", e);
        return -1;
    }
    return slow_beat(srv, took, "second") ? -1 : 0;
}

/*
 * The check every return to the fast path runs (gw_merge.h). Returns 0
 * when Redis can serve every event.
 */
static char run_id[GW_IDENTITY_MAX]; /* Redis's identity when the running merge started (the merge job's alone) */

static int merge_all(gw_dbconn_t *conn, gw_server_t *srv, char (*ids)[TK_ID_MAX + 1], long long *seq, long long *hwm)
{
    merged_events = 0;
    static char ok_run_id[GW_IDENTITY_MAX]; /* the last completed check's (gw_identity.h) */
    unsigned long gen = gw_identity_checked(ok_run_id);
    int replica = 0;
    if (gw_identity_read(conn, run_id, sizeof(run_id), &replica) != 0)
        return -1;
    if (replica) { /* read-only, and its data may be replaced yet (gw_identity.h): no check passes, none is remembered */
        tk_warn("merge: Redis is a replica (%.200s); checking again once it is a master", run_id);
        gw_identity_set_checked("", 0);
        return -1;
    }
    /* Redis's run_id is not the last completed check's: restarted since, or this process is new (step 1 and 2; and
     * the blip exception needs it not to be). */
    int restarted = run_id[0] == '\0' || strcmp(run_id, ok_run_id) != 0;
    /* 0. This gateway's beat, committed before anything below reads
     *    MariaDB: every fallback grant of another gateway committed before
     *    it is in what the rebuilds read, and every one after it sees this
     *    gateway alive and grants nothing (gw_peers.h), if it committed
     *    in time (slow_beat). Without it, no rebuild: only the blip
     *    exception below may serve. */
    int64_t took = 0;
    unsigned be = gw_peers_beat_conn(conn, srv, &took);
    if (be == 0 && slow_beat(srv, took, "first"))
        return -1;
    if (be != 0) {
        size_t bpos = 0;
        int touched = gw_journal_scan(srv->journal, &bpos, GW_JOURNAL_SCAN_TOUCHED, ids, 1) > 0;
        if (!touched && !restarted && never_dead(srv)) {
            tk_warn("merge: MariaDB unreachable (beat: error %u); Redis was not restarted since the last check, so it serves again", be);
            return 0;
        }
        tk_warn("merge: this gateway's beat failed (MariaDB error %u%s); no rebuild before it succeeds", be, migration_hint(be));
        return -1;
    }
    /* 1. Answered grants Redis lost (or, Redis restarted, may have lost),
     *    into MariaDB; 2. then this gateway's mark, and the wait for every
     *    live peer's, before anything reads MariaDB to rebuild (gw_peers.h,
     *    "After a Redis restart"). */
    if (merge_journaled(conn, srv, ids, seq, restarted) != 0 || release_locks(conn, srv, ids) != 0 ||
        peers_checked(conn, srv, run_id, restarted) != 0 || beat_before_reads(conn, srv) != 0)
        return -1;
    /* 3. Every event the fallback wrote its journal to (it may have granted
     *    on it, even if its lock was lost since), and those step 1 wrote. */
    size_t pos = 0, n;
    int ours = 0;
    while ((n = gw_journal_scan(srv->journal, &pos, GW_JOURNAL_SCAN_TOUCHED, ids, SCAN_PAGE)) > 0) {
        ours = 1;
        for (size_t i = 0; i < n; i++)
            if (merge_event(conn, srv, ids[i]) != 0)
                return -1;
    }
    /* 4. Events some fallback flagged stale (a gateway that died before its
     *    merge), then 5. events whose Redis state is behind MariaDB's. */
    int db_failed = 0;
    char after[TK_ID_MAX + 1] = "", id[TK_ID_MAX + 1], token[GW_LOCK_TOKEN_LEN + 1];
    for (int found = 1; found;) {
        MYSQL *db = gw_dbconn_db(conn);
        unsigned e = db != NULL ? gw_lock_next_stale(db, after, id, token, &found) : 2002;
        if (e != 0) {
            if (db != NULL)
                gw_dbconn_db_reset(conn);
            db_failed = 1;
            break;
        }
        if (!found)
            break;
        tk_warn("merge: event %s is flagged stale in MariaDB (a fallback granted on it); rebuilding it from MariaDB", id);
        if (merge_event(conn, srv, id) != 0)
            return -1;
        memcpy(after, id, strlen(id) + 1);
    }
    if (!db_failed && merge_behind(conn, srv, ids, seq, hwm, &db_failed) != 0 && !db_failed)
        return -1;
    if (db_failed) {
        /* MariaDB cannot be asked. Redis may still serve when this process
         * changed nothing in MariaDB and Redis is the instance the last
         * completed check saw (same run_id: not restarted, so it lost
         * nothing): a connection blip during a MariaDB outage keeps the
         * fast path. Anything else waits for MariaDB. */
        if (!ours && !restarted && never_dead(srv)) {
            tk_warn("merge: MariaDB unreachable; Redis was not restarted since the last check, so it serves again");
            return 0;
        }
        return -1;
    }
    gw_identity_set_checked(run_id, gen);
    gw_peers_lapse_clear();
    return 0;
}

/*
 * 1 when the Redis that answers now is the one the merge started on. The
 * steps read Redis at different moments through a connection that
 * reconnects silently (gw_dbconn_redis), so a Redis restarted meanwhile —
 * empty, or from an AOF that missed writes — would have been checked only
 * by the steps after its restart: step 1 (journaled grants it lost) may
 * have passed on the old instance, and the journal is reset when the mode
 * reaches FAST. A changed run_id fails the merge; the next one starts over
 * with the journal kept. An unknown run_id (INFO refused) cannot be
 * compared: gw_failover.c also fails a merge during which a loop
 * thread's connection dropped.
 */
static int same_redis(gw_dbconn_t *conn)
{
    static char now_id[GW_IDENTITY_MAX];
    int replica = 0;
    if (gw_identity_read(conn, now_id, sizeof(now_id), &replica) != 0)
        return 0;
    if (replica || (run_id[0] != '\0' && now_id[0] != '\0' && strcmp(run_id, now_id) != 0)) {
        tk_warn("merge: Redis's identity changed during the check (%.200s, then %.200s: restarted, made a replica, or emptied in place); "
                "checking it again",
                run_id, now_id);
        gw_identity_set_checked("", 0);
        return 0;
    }
    return 1;
}

void gw_merge_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_server_t *srv = job->origin->server;
    char (*ids)[TK_ID_MAX + 1] = malloc(SCAN_PAGE * sizeof(*ids));
    long long *seq = malloc(SCAN_PAGE * sizeof(*seq));
    long long *hwm = malloc(SCAN_PAGE * sizeof(*hwm));
    int ok = ids != NULL && seq != NULL && hwm != NULL && merge_all(conn, srv, ids, seq, hwm) == 0 && same_redis(conn);
    free(ids);
    free(seq);
    free(hwm);
    gw_dbjob_answer(job, ok ? 200 : 503, "", 0);
}

unsigned gw_merge_rebuilt(void)
{
    return merged_events;
}
