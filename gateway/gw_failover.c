#include "gw_failover.h"
#include "tk_sql.h"
#include "gw_dbpool.h"
#include "gw_fallback_grant.h"
#include "gw_lock.h"
#include "gw_journal.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_rebuild.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACK_MS 2000 /* between reads of tk:events */

typedef struct gw_failover {
    gw_thread_t *th;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t entry;
    int64_t t_lost;         /* mono ms when the mode left FAST */
    int64_t t_merge;        /* mono ms when the merge started */
    int64_t next_watermark; /* mono ms */
    int64_t next_track;     /* mono ms: the next read of tk:events */
    int64_t next_merge;     /* mono ms: no merge before (after a failed one) */
    int outstanding;        /* watermark and tk:events replies awaited */
    int stopping;
} gw_failover_t;

typedef struct {
    gw_failover_t *ctl;
    size_t elen;
    char id[TK_ID_MAX + 1];
} wm_call_t;

static uint64_t merges_total;

uint64_t gw_failover_merges(const gw_server_t *srv)
{
    (void)srv;
    return __atomic_load_n(&merges_total, __ATOMIC_RELAXED);
}

/* ---- watermarks (FAST) -------------------------------------------------- */

static void on_watermark(gw_redis_t *r, redisReply *rep, void *data)
{
    wm_call_t *call = data;
    gw_failover_t *ctl = call->ctl;
    (void)r;
    ctl->outstanding--;
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer >= 0 && rep->element[1]->integer >= 0)
        gw_journal_watermark(ctl->th->server->journal, call->id, call->elen, (uint64_t)rep->element[0]->integer,
                          (uint64_t)rep->element[1]->integer);
    free(call);
}

static void on_events(gw_redis_t *r, redisReply *rep, void *data)
{
    gw_failover_t *ctl = data;
    (void)r;
    ctl->outstanding--;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
        return;
    gw_journal_t *path = ctl->th->server->journal;
    gw_journal_sync_begin(path);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_STRING && e->len > 0 && e->len <= TK_ID_MAX)
            gw_journal_sync_track(path, e->str, e->len);
    }
    gw_journal_sync_end(path); /* events gone from tk:events, holding nothing */
}

static void watermark_round(gw_failover_t *ctl)
{
    gw_server_t *srv = ctl->th->server;
    gw_redis_t *redis = ctl->th->redis;
    int64_t now = tk_time_mono_ms();
    if (now >= ctl->next_track) {
        ctl->next_track = now + TRACK_MS;
        const char *argv[] = {"SMEMBERS", TK_KEY_EVENTS};
        size_t lens[] = {8, strlen(TK_KEY_EVENTS)};
        if (gw_redis_command(redis, on_events, ctl, 2, argv, lens) == 0)
            ctl->outstanding++;
    }
    static char ids[GW_FAILOVER_WATERMARK_BATCH][TK_ID_MAX + 1];
    size_t n = gw_journal_watermark_pick(srv->journal, ids, GW_FAILOVER_WATERMARK_BATCH);
    for (size_t i = 0; i < n; i++) {
        wm_call_t *call = malloc(sizeof(*call));
        if (call == NULL)
            return;
        call->ctl = ctl;
        call->elen = strlen(ids[i]);
        memcpy(call->id, ids[i], call->elen + 1);
        char keys[2][TK_KEY_MAX];
        const char *argv[2] = {keys[0], keys[1]};
        size_t lens[2];
        lens[0] = (size_t)tk_key(TK_KEY_EV, call->id, call->elen, keys[0]);
        lens[1] = (size_t)tk_key(TK_KEY_STREAM, call->id, call->elen, keys[1]);
        if (gw_redis_script(redis, GW_SCRIPT_WATERMARK, on_watermark, call, 2, 2, argv, lens) != 0) {
            free(call);
            return;
        }
        ctl->outstanding++;
    }
}

/* ---- the merge (database thread) ---------------------------------------- */

#define SCAN_PAGE 256        /* event_stock rows read, and seqs asked of Redis, per round of the scan */
#define MERGE_RETRY_MS 1000  /* after a failed merge, before the next one */

/* Redis's run_id at the last merge that completed, and the events the
 * running merge rebuilt: only the merge job (one at a time) writes them, and
 * merge_done reads the count after the job handed its answer back. */
static char ok_run_id[48];
static unsigned merged_events;

/* Redis's run_id into @out ("" when unknown). 0, or -1 when Redis failed. */
static int redis_run_id(gw_dbconn_t *conn, char *out, size_t cap)
{
    out[0] = '\0';
    redisContext *rc = gw_dbconn_redis(conn);
    if (rc == NULL)
        return -1;
    redisReply *rep = redisCommand(rc, "INFO server");
    if (rep == NULL) {
        gw_dbconn_redis_reset(conn);
        return -1;
    }
    const char *p = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "run_id:") : NULL;
    if (p != NULL) {
        p += 7;
        size_t n = strcspn(p, "\r\n");
        if (n < cap) {
            memcpy(out, p, n);
            out[n] = '\0';
        }
    }
    freeReplyObject(rep);
    return 0;
}

/*
 * The ticket sequences of @n events in Redis, pipelined: seq[i] = -1 when
 * the event hash is missing. 0, or -1 when Redis failed.
 */
static int redis_seqs(gw_dbconn_t *conn, const char (*ids)[TK_ID_MAX + 1], size_t n, long long *seq)
{
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
 * Releases @id's lock if this process holds it, rebuilds the event in Redis
 * from MariaDB, then clears its stale flag if it still carries the token
 * read before the rebuild. 0, or -1 when a backend failed.
 */
static int merge_event(gw_dbconn_t *conn, gw_server_t *srv, const char *id)
{
    size_t elen = strlen(id);
    gw_journal_info_t info;
    int tracked = gw_journal_info(srv->journal, id, elen, &info) == 0;
    MYSQL *db = gw_dbconn_db(conn);
    if (db == NULL)
        return -1;
    if (tracked && info.token[0] != '\0') {
        unsigned e = gw_lock_release(db, id, elen, info.token);
        if (e != 0) {
            tk_warn("merge: event %s: releasing its lock: MariaDB error %u", id, e);
            gw_dbconn_db_reset(conn);
            return -1;
        }
    }
    /* Read after the release: a fallback session of another gateway that
     * flags the event later is not ours to clear. */
    char stale[GW_LOCK_TOKEN_LEN + 1];
    unsigned e = gw_lock_stale_token(db, id, elen, stale);
    if (e != 0) {
        tk_warn("merge: event %s: reading its stale flag: MariaDB error %u", id, e);
        gw_dbconn_db_reset(conn);
        return -1;
    }
    int64_t deadline = tk_time_mono_ms() + GW_FAILOVER_MERGE_WAIT_MS;
    int logged = 0;
    while (!srv->shutdown) {
        redisContext *rc = gw_dbconn_redis(conn);
        if ((db = gw_dbconn_db(conn)) == NULL || rc == NULL)
            return -1;
        tk_rebuild_stats_t st;
        char err[512];
        int rrc = tk_rebuild_event(db, rc, id, &st, err, sizeof(err));
        if (rrc == TK_REBUILD_OK || rrc == TK_REBUILD_UNKNOWN_EVENT) {
            if (rrc == TK_REBUILD_OK) {
                __atomic_add_fetch(&srv->rebuilds, 1, __ATOMIC_RELAXED);
                tk_info("merge: event %s back in Redis from MariaDB: %llu claims, remaining %llu, seq %llu, %lld ms", id,
                        (unsigned long long)st.claims, (unsigned long long)st.remaining, (unsigned long long)st.seq,
                        (long long)st.ms_total);
            }
            if (stale[0] != '\0' && (e = gw_lock_clear_stale(db, id, elen, stale)) != 0) {
                tk_warn("merge: event %s: clearing its stale flag: MariaDB error %u", id, e);
                gw_dbconn_db_reset(conn);
                return -1; /* the flag stays: the next merge rebuilds it again, harmlessly */
            }
            gw_journal_clear_locked(srv->journal, id, elen);
            merged_events++;
            return 0;
        }
        if (rrc == TK_REBUILD_ERR_DB || rrc == TK_REBUILD_ERR_INVALID) {
            tk_warn("merge: event %s: %s", id, err);
            if (rrc == TK_REBUILD_ERR_DB)
                gw_dbconn_db_reset(conn);
            return -1;
        }
        if (rrc == TK_REBUILD_ERR_REDIS) {
            /* Reachable but refusing (still loading its AOF, say): wait
             * within the deadline; unreachable: the next loop's connect fails. */
            if (!logged++)
                tk_warn("merge: event %s: %s; retrying", id, err);
            gw_dbconn_redis_reset(conn);
        }
        /* Not drained yet (the workers write what Redis granted before it
         * went away), a conflict, or Redis refusing: wait and try again. */
        if (tk_time_mono_ms() >= deadline) {
            tk_warn("merge: event %s: not rebuilt within %d ms (stream not drained: are the workers running?)", id, GW_FAILOVER_MERGE_WAIT_MS);
            return -1;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* Step 2: events whose journaled grants Redis no longer has (its seq is below them, or the event is gone). */
static int merge_journaled(gw_dbconn_t *conn, gw_server_t *srv, char (*ids)[TK_ID_MAX + 1], long long *seq)
{
    size_t pos = 0, n;
    while ((n = gw_journal_scan(srv->journal, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, SCAN_PAGE)) > 0) {
        if (redis_seqs(conn, (const char(*)[TK_ID_MAX + 1])ids, n, seq) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const char *id = ids[i];
            gw_journal_info_t info;
            if (gw_journal_info(srv->journal, id, strlen(id), &info) != 0 || info.flushed || info.journal_max == 0 ||
                (seq[i] >= 0 && (uint64_t)seq[i] >= info.journal_max))
                continue;
            tk_warn("merge: event %s: Redis lost grants this gateway answered (Redis seq %lld, journal up to ticket %llu); writing them "
                    "to MariaDB before rebuilding", id, seq[i], (unsigned long long)info.journal_max);
            if (gw_fallback_grant_flush(conn, srv, id, strlen(id)) != 0 || merge_event(conn, srv, id) != 0)
                return -1;
        }
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
 * Step 4: every event whose Redis sequence is below MariaDB's highest stored
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

/*
 * The check every return to the fast path runs (gw_failover.h). Returns 0
 * when Redis can serve every event.
 */
static int merge_all(gw_dbconn_t *conn, gw_server_t *srv, char (*ids)[TK_ID_MAX + 1], long long *seq, long long *hwm)
{
    char run_id[48];
    merged_events = 0;
    if (redis_run_id(conn, run_id, sizeof(run_id)) != 0)
        return -1;
    /* 1. Every event the fallback wrote its journal to (it may have granted
     *    on it, even if its lock was lost since). */
    size_t pos = 0, n;
    int ours = 0;
    while ((n = gw_journal_scan(srv->journal, &pos, GW_JOURNAL_SCAN_TOUCHED, ids, SCAN_PAGE)) > 0) {
        ours = 1;
        for (size_t i = 0; i < n; i++)
            if (merge_event(conn, srv, ids[i]) != 0)
                return -1;
    }
    /* 2. Answered grants Redis lost. */
    unsigned merged_before = merged_events;
    if (merge_journaled(conn, srv, ids, seq) != 0)
        return -1;
    ours |= merged_events > merged_before;
    /* 3. Events some fallback flagged stale (a gateway that died before its
     *    merge), then 4. events whose Redis state is behind MariaDB's. */
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
        if (!ours && run_id[0] != '\0' && strcmp(run_id, ok_run_id) == 0) {
            tk_warn("merge: MariaDB unreachable; Redis was not restarted since the last check, so it serves again");
            return 0;
        }
        return -1;
    }
    memcpy(ok_run_id, run_id, sizeof(ok_run_id));
    return 0;
}

static void run_merge(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_server_t *srv = job->origin->server;
    char (*ids)[TK_ID_MAX + 1] = malloc(SCAN_PAGE * sizeof(*ids));
    long long *seq = malloc(SCAN_PAGE * sizeof(*seq));
    long long *hwm = malloc(SCAN_PAGE * sizeof(*hwm));
    int ok = ids != NULL && seq != NULL && hwm != NULL && merge_all(conn, srv, ids, seq, hwm) == 0;
    free(ids);
    free(seq);
    free(hwm);
    gw_dbjob_answer(job, ok ? 200 : 503, "", 0);
}

static void merge_done(gw_dbjob_t *job)
{
    gw_server_t *srv = job->origin->server;
    gw_failover_t *ctl = srv->failover;
    int64_t now = tk_time_mono_ms();
    if (job->status == 200 && gw_journal_move(srv->journal, GW_MODE_MERGE, GW_MODE_FAST) == 0) {
        if (merged_events > 0) {
            __atomic_add_fetch(&merges_total, 1, __ATOMIC_RELAXED);
            tk_warn("path: merged %u event(s) back to Redis in %lld ms; claims take the fast path again", merged_events,
                    (long long)(now - ctl->t_merge));
        } else {
            tk_info("path: Redis checked against MariaDB in %lld ms (nothing to rebuild); claims take the fast path",
                    (long long)(now - ctl->t_merge));
        }
        ctl->next_watermark = 0;
        return;
    }
    gw_journal_move(srv->journal, GW_MODE_MERGE, GW_MODE_LOST);
    ctl->t_lost = now;
    ctl->next_merge = now + MERGE_RETRY_MS;
    tk_warn("path: the check of Redis against MariaDB failed; claims are answered from MariaDB until it succeeds");
}

static void start_merge(gw_failover_t *ctl)
{
    gw_server_t *srv = ctl->th->server;
    gw_dbjob_t *job = gw_dbjob_new_bg(ctl->th, run_merge);
    if (job == NULL) {
        gw_journal_move(srv->journal, GW_MODE_MERGE, GW_MODE_LOST);
        ctl->next_merge = tk_time_mono_ms() + MERGE_RETRY_MS;
        return;
    }
    job->done = merge_done;
    ctl->t_merge = tk_time_mono_ms();
    gw_dbpool_submit(srv->dbpool, job);
}

/* ---- the timer ---------------------------------------------------------- */

static void tick(h2o_timeout_entry_t *entry)
{
    gw_failover_t *ctl = H2O_STRUCT_FROM_MEMBER(gw_failover_t, entry, entry);
    gw_server_t *srv = ctl->th->server;
    int64_t now = tk_time_mono_ms();
    int up = 0;
    for (int i = 0; i < srv->nthreads; i++)
        up += srv->threads[i].redis != NULL && gw_redis_is_up(srv->threads[i].redis);
    int all_up = up == srv->nthreads;
    switch (gw_journal_mode(srv->journal)) {
    case GW_MODE_FAST:
        if (!all_up) {
            gw_journal_move(srv->journal, GW_MODE_FAST, GW_MODE_LOST);
            ctl->t_lost = now;
            tk_warn("path: Redis lost; claims are answered read-only from MariaDB%s", srv->conf->fallback_grants ? " until the fallback takes over" : "");
        } else if (now >= ctl->next_watermark && ctl->outstanding == 0) {
            ctl->next_watermark = now + GW_FAILOVER_WATERMARK_MS;
            watermark_round(ctl);
        }
        break;
    case GW_MODE_LOST:
        /* Never straight back to FAST: Redis may have come back older than
         * MariaDB (restarted, or flagged stale by a fallback), so the merge
         * checks it first, even when this process granted nothing. */
        if (all_up) {
            if (now >= ctl->next_merge && gw_journal_move(srv->journal, GW_MODE_LOST, GW_MODE_MERGE) == 0) {
                tk_info("path: Redis answers; checking it against MariaDB before the fast path");
                start_merge(ctl);
            }
        } else if (srv->conf->fallback_grants && now - ctl->t_lost >= srv->conf->fallback_after_ms &&
                   gw_journal_move(srv->journal, GW_MODE_LOST, GW_MODE_GRANT) == 0) {
            tk_warn("path: Redis away for %lld ms; the fallback grants claims from MariaDB under the lock table", (long long)(now - ctl->t_lost));
        }
        break;
    case GW_MODE_GRANT:
        if (all_up && gw_journal_move(srv->journal, GW_MODE_GRANT, GW_MODE_MERGE) == 0) {
            tk_warn("path: Redis is back; merging the fallback's events into it");
            start_merge(ctl);
        }
        break;
    case GW_MODE_MERGE:
        break;
    }
    if (!ctl->stopping)
        h2o_timeout_link(ctl->th->ctx.loop, &ctl->timeout, &ctl->entry);
}

int gw_failover_start(gw_thread_t *th)
{
    gw_failover_t *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return -1;
    ctl->th = th;
    /* A new process does not know what happened to Redis before it: it
     * starts as if Redis were just lost, so the first merge checks it. */
    ctl->t_lost = tk_time_mono_ms();
    gw_journal_move(th->server->journal, GW_MODE_FAST, GW_MODE_LOST);
    h2o_timeout_init(th->ctx.loop, &ctl->timeout, GW_FAILOVER_TICK_MS);
    ctl->entry.cb = tick;
    h2o_timeout_link(th->ctx.loop, &ctl->timeout, &ctl->entry);
    th->server->failover = ctl;
    return 0;
}

void gw_failover_stop(gw_thread_t *th)
{
    gw_failover_t *ctl = th->server->failover;
    if (ctl == NULL)
        return;
    ctl->stopping = 1;
    if (h2o_timeout_is_linked(&ctl->entry))
        h2o_timeout_unlink(&ctl->entry);
    h2o_timeout_dispose(th->ctx.loop, &ctl->timeout);
    th->server->failover = NULL;
    free(ctl);
}
