#include "gw_path_ctl.h"
#include "gw_dbpool.h"
#include "gw_lock.h"
#include "gw_path.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_rebuild.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACK_MS 2000 /* between reads of tk:events */
#define MERGE_EVENTS_MAX 4096

typedef struct gw_path_ctl {
    gw_thread_t *th;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t entry;
    int64_t t_lost;         /* mono ms when the mode left FAST */
    int64_t t_merge;        /* mono ms when the merge started */
    int64_t next_watermark; /* mono ms */
    int64_t next_track;     /* mono ms: the next read of tk:events */
    int outstanding;        /* watermark and tk:events replies awaited */
    int stopping;
} gw_path_ctl_t;

typedef struct {
    gw_path_ctl_t *ctl;
    size_t elen;
    char id[GW_PATH_USER_MAX + 1];
} wm_call_t;

static uint64_t merges_total;

uint64_t gw_path_ctl_merges(const gw_server_t *srv)
{
    (void)srv;
    return __atomic_load_n(&merges_total, __ATOMIC_RELAXED);
}

/* ---- watermarks (FAST) -------------------------------------------------- */

static void on_watermark(gw_redis_t *r, redisReply *rep, void *data)
{
    wm_call_t *call = data;
    gw_path_ctl_t *ctl = call->ctl;
    (void)r;
    ctl->outstanding--;
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer >= 0 && rep->element[1]->integer >= 0)
        gw_path_watermark(ctl->th->server->path, call->id, call->elen, (uint64_t)rep->element[0]->integer,
                          (uint64_t)rep->element[1]->integer);
    free(call);
}

static void on_events(gw_redis_t *r, redisReply *rep, void *data)
{
    gw_path_ctl_t *ctl = data;
    (void)r;
    ctl->outstanding--;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
        return;
    gw_path_t *path = ctl->th->server->path;
    gw_path_sync_begin(path);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_STRING && e->len > 0 && e->len <= GW_PATH_USER_MAX)
            gw_path_sync_track(path, e->str, e->len);
    }
    gw_path_sync_end(path); /* events gone from tk:events, holding nothing */
}

static void watermark_round(gw_path_ctl_t *ctl)
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
    static char ids[GW_PATH_WATERMARK_BATCH][GW_PATH_USER_MAX + 1];
    size_t n = gw_path_watermark_pick(srv->path, ids, GW_PATH_WATERMARK_BATCH);
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

/* Releases @id's lock and rebuilds it in Redis; 0, or -1 when a backend failed. */
static int merge_event(gw_dbconn_t *conn, gw_server_t *srv, const char *id)
{
    size_t elen = strlen(id);
    gw_path_info_t info;
    if (gw_path_info(srv->path, id, elen, &info) != 0)
        return 0;
    MYSQL *db = gw_dbconn_db(conn);
    if (db == NULL)
        return -1;
    if (info.token[0] != '\0') {
        unsigned e = gw_lock_release(db, id, elen, info.token);
        if (e != 0) {
            tk_warn("merge: event %s: releasing its lock: MariaDB error %u", id, e);
            gw_dbconn_db_reset(conn);
            return -1;
        }
    }
    int64_t deadline = tk_time_mono_ms() + GW_PATH_MERGE_WAIT_MS;
    int logged = 0;
    while (!srv->shutdown) {
        redisContext *rc = gw_dbconn_redis(conn);
        if ((db = gw_dbconn_db(conn)) == NULL || rc == NULL)
            return -1;
        tk_rebuild_stats_t st;
        char err[512];
        int rrc = tk_rebuild_event(db, rc, id, &st, err, sizeof(err));
        if (rrc == TK_REBUILD_OK) {
            __atomic_add_fetch(&srv->rebuilds, 1, __ATOMIC_RELAXED);
            tk_info("merge: event %s back in Redis from MariaDB: %llu claims, remaining %llu, seq %llu, %lld ms", id,
                    (unsigned long long)st.claims, (unsigned long long)st.remaining, (unsigned long long)st.seq, (long long)st.ms_total);
            gw_path_clear_locked(srv->path, id, elen);
            return 0;
        }
        if (rrc == TK_REBUILD_UNKNOWN_EVENT) {
            gw_path_clear_locked(srv->path, id, elen);
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
            tk_warn("merge: event %s: not rebuilt within %d ms (stream not drained: are the workers running?)", id, GW_PATH_MERGE_WAIT_MS);
            return -1;
        }
        usleep(100 * 1000);
    }
    return -1;
}

static void run_merge(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_server_t *srv = job->origin->server;
    char (*ids)[GW_PATH_USER_MAX + 1] = malloc(MERGE_EVENTS_MAX * sizeof(*ids));
    int ok = ids != NULL;
    size_t n = ok ? gw_path_events(srv->path, ids, MERGE_EVENTS_MAX, 1) : 0; /* every event the fallback touched */
    for (size_t i = 0; i < n && ok; i++)
        ok = merge_event(conn, srv, ids[i]) == 0;
    free(ids);
    gw_dbjob_answer(job, ok ? 200 : 503, "", 0);
}

static void merge_done(gw_dbjob_t *job)
{
    gw_server_t *srv = job->origin->server;
    gw_path_ctl_t *ctl = srv->pathctl;
    int64_t now = tk_time_mono_ms();
    if (job->status == 200 && gw_path_move(srv->path, GW_PATH_MERGE, GW_PATH_FAST) == 0) {
        __atomic_add_fetch(&merges_total, 1, __ATOMIC_RELAXED);
        tk_warn("path: merged back to Redis in %lld ms; claims take the fast path again", (long long)(now - ctl->t_merge));
        ctl->next_watermark = 0;
        return;
    }
    gw_path_move(srv->path, GW_PATH_MERGE, GW_PATH_LOST);
    ctl->t_lost = now;
    tk_warn("path: the merge back to Redis failed; claims are answered from MariaDB until it succeeds");
}

static void start_merge(gw_path_ctl_t *ctl)
{
    gw_server_t *srv = ctl->th->server;
    gw_dbjob_t *job = gw_dbjob_new_bg(ctl->th, run_merge);
    if (job == NULL) {
        gw_path_move(srv->path, GW_PATH_MERGE, GW_PATH_LOST);
        return;
    }
    job->done = merge_done;
    ctl->t_merge = tk_time_mono_ms();
    gw_dbpool_submit(srv->dbpool, job);
}

/* ---- the timer ---------------------------------------------------------- */

/* 1 when the fallback wrote some event's journal since the last reset. */
static int touched(gw_server_t *srv)
{
    char one[1][GW_PATH_USER_MAX + 1];
    return gw_path_events(srv->path, one, 1, 1) > 0;
}

static void tick(h2o_timeout_entry_t *entry)
{
    gw_path_ctl_t *ctl = H2O_STRUCT_FROM_MEMBER(gw_path_ctl_t, entry, entry);
    gw_server_t *srv = ctl->th->server;
    int64_t now = tk_time_mono_ms();
    int up = 0;
    for (int i = 0; i < srv->nthreads; i++)
        up += srv->threads[i].redis != NULL && gw_redis_is_up(srv->threads[i].redis);
    int all_up = up == srv->nthreads;
    switch (gw_path_mode(srv->path)) {
    case GW_PATH_FAST:
        if (!all_up) {
            gw_path_move(srv->path, GW_PATH_FAST, GW_PATH_LOST);
            ctl->t_lost = now;
            tk_warn("path: Redis lost; claims are answered read-only from MariaDB%s", srv->conf->fallback_grants ? " until the fallback takes over" : "");
        } else if (now >= ctl->next_watermark && ctl->outstanding == 0) {
            ctl->next_watermark = now + GW_PATH_WATERMARK_MS;
            watermark_round(ctl);
        }
        break;
    case GW_PATH_LOST:
        if (all_up && touched(srv)) {
            /* A merge failed (Redis still loading its AOF, or gone again):
             * the fallback granted on some event, so Redis must not serve
             * before it is rebuilt. Through GRANT to MERGE again. */
            if (gw_path_move(srv->path, GW_PATH_LOST, GW_PATH_GRANT) == 0)
                tk_info("path: Redis answers again; retrying the merge");
        } else if (all_up) {
            gw_path_move(srv->path, GW_PATH_LOST, GW_PATH_FAST);
            ctl->next_watermark = 0;
            tk_warn("path: Redis is back; claims take the fast path again (nothing was granted from MariaDB)");
        } else if (srv->conf->fallback_grants && now - ctl->t_lost >= srv->conf->fallback_after_ms &&
                   gw_path_move(srv->path, GW_PATH_LOST, GW_PATH_GRANT) == 0) {
            tk_warn("path: Redis away for %lld ms; the fallback grants claims from MariaDB under the lock table", (long long)(now - ctl->t_lost));
        }
        break;
    case GW_PATH_GRANT:
        if (all_up && gw_path_move(srv->path, GW_PATH_GRANT, GW_PATH_MERGE) == 0) {
            tk_warn("path: Redis is back; merging the fallback's events into it");
            start_merge(ctl);
        }
        break;
    case GW_PATH_MERGE:
        break;
    }
    if (!ctl->stopping)
        h2o_timeout_link(ctl->th->ctx.loop, &ctl->timeout, &ctl->entry);
}

int gw_path_ctl_start(gw_thread_t *th)
{
    gw_path_ctl_t *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return -1;
    ctl->th = th;
    h2o_timeout_init(th->ctx.loop, &ctl->timeout, GW_PATH_TICK_MS);
    ctl->entry.cb = tick;
    h2o_timeout_link(th->ctx.loop, &ctl->timeout, &ctl->entry);
    th->server->pathctl = ctl;
    return 0;
}

void gw_path_ctl_stop(gw_thread_t *th)
{
    gw_path_ctl_t *ctl = th->server->pathctl;
    if (ctl == NULL)
        return;
    ctl->stopping = 1;
    if (h2o_timeout_is_linked(&ctl->entry))
        h2o_timeout_unlink(&ctl->entry);
    h2o_timeout_dispose(th->ctx.loop, &ctl->timeout);
    th->server->pathctl = NULL;
    free(ctl);
}
