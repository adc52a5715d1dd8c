/*
 * gw_failover: the timer on loop thread 0 that moves the claim mode and
 * feeds the journal its watermarks (the design is in gw_failover.h); the
 * merge it starts runs in gw_merge.c.
 */
#include "gw_failover.h"
#include "gw_identity.h"
#include "gw_dbpool.h"
#include "gw_journal.h"
#include "gw_merge.h"
#include "gw_peers.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

#define TRACK_MS 2000 /* between reads of tk:events */

typedef struct {
    int64_t next; /* mono ms: not before */
    int out;      /* a job is out: the next waits for it */
} periodic_t;

typedef struct gw_failover {
    gw_thread_t *th;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t entry;
    int64_t t_lost;         /* mono ms when the mode left FAST */
    gw_mode_t last_mode;    /* the mode the last tick acted on */
    int64_t t_merge;        /* mono ms when the merge started */
    uint64_t drops_at_merge; /* redis_drops when the merge started */
    int64_t next_watermark; /* mono ms */
    int64_t next_track;     /* mono ms: the next read of tk:events */
    int64_t next_merge;     /* mono ms: no merge before (after a failed one) */
    int outstanding;        /* watermark and tk:events replies awaited */
    periodic_t beat;        /* this gateway's beat in MariaDB, every GW_PEER_BEAT_MS (gw_peers.h) */
    periodic_t watch;       /* a look at Redis's identity, every GW_FAILOVER_WATCH_MS on the fast path (gw_identity.h) */
    int stopping;
} gw_failover_t;

typedef struct {
    gw_failover_t *ctl;
    uint64_t epoch; /* the journal's when the read was sent: a reply from before a reset is dropped */
    size_t elen;
    char id[TK_ID_MAX + 1];
} wm_call_t;

static uint64_t merges_total;
/* Loop connections to Redis dropped, in any mode: a merge during which one
 * dropped may have checked a Redis that is gone (merge_done). */
static uint64_t redis_drops;

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
        gw_journal_watermark_at(ctl->th->server->journal, call->id, call->elen, (uint64_t)rep->element[0]->integer,
                                (uint64_t)rep->element[1]->integer, call->epoch);
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
        call->epoch = gw_journal_epoch(srv->journal);
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

/* ---- the merge (run by gw_merge.c on a database thread) ------------------ */

#define MERGE_RETRY_MS 1000 /* after a failed merge, before the next one */

static void merge_done(gw_dbjob_t *job)
{
    gw_server_t *srv = job->origin->server;
    gw_failover_t *ctl = srv->failover;
    int64_t now = tk_time_mono_ms();
    unsigned merged_events = gw_merge_rebuilt();
    /* A connection that dropped while the merge ran (the mode stays MERGE
     * then) may hide a Redis restarted after the steps that looked at it:
     * FAST would reset the journal and serve it unchecked. So it fails,
     * and the next merge checks the Redis that is there now. */
    int dropped = __atomic_load_n(&redis_drops, __ATOMIC_ACQUIRE) != ctl->drops_at_merge;
    if (job->status == 200 && dropped)
        tk_warn("path: a connection to Redis dropped during the check of Redis against MariaDB; checking again");
    /* A loss during the stop, if this check succeeds: Redis holds the grants again. Cleared before the move: a drop
     * after it sets it again (gw_failover_lost). */
    int was_lost = __atomic_exchange_n(&srv->lost_in_stop, 0, __ATOMIC_SEQ_CST);
    if (job->status == 200 && !dropped && gw_journal_move(srv->journal, GW_MODE_MERGE, GW_MODE_FAST) == 0) {
        gw_peers_reset(); /* back on Redis, the journal reset: a peer seen before no longer binds the next stay */
        if (merged_events > 0) {
            __atomic_add_fetch(&merges_total, 1, __ATOMIC_RELAXED);
            tk_warn("path: merged %u event(s) back to Redis in %lld ms; claims take the fast path again", merged_events,
                    (long long)(now - ctl->t_merge));
        } else {
            tk_info("path: Redis checked against MariaDB in %lld ms (nothing to rebuild); claims take the fast path",
                    (long long)(now - ctl->t_merge));
        }
        ctl->next_watermark = 0;
        /* A drop between the read above and the move found the mode MERGE and could not move it: its count is
         * seen here (it counts before it tries to move), so it leaves FAST now, and a stop hears of it. */
        if (__atomic_load_n(&redis_drops, __ATOMIC_ACQUIRE) != ctl->drops_at_merge && gw_failover_lost(srv) == 0) {
            ctl->t_lost = now;
            tk_warn("path: a connection to Redis dropped as the check ended; checking again");
        }
        return;
    }
    if (was_lost)
        __atomic_store_n(&srv->lost_in_stop, 1, __ATOMIC_SEQ_CST); /* not checked after all */
    gw_journal_move(srv->journal, GW_MODE_MERGE, GW_MODE_LOST);
    ctl->t_lost = now;
    ctl->next_merge = now + MERGE_RETRY_MS;
    tk_warn("path: the check of Redis against MariaDB failed; claims are answered from MariaDB until it succeeds");
}

static void start_merge(gw_failover_t *ctl)
{
    gw_server_t *srv = ctl->th->server;
    gw_dbjob_t *job = gw_dbjob_new_bg(ctl->th, gw_merge_run);
    if (job == NULL) {
        gw_journal_move(srv->journal, GW_MODE_MERGE, GW_MODE_LOST);
        ctl->next_merge = tk_time_mono_ms() + MERGE_RETRY_MS;
        return;
    }
    job->done = merge_done;
    ctl->t_merge = tk_time_mono_ms();
    ctl->drops_at_merge = __atomic_load_n(&redis_drops, __ATOMIC_ACQUIRE);
    gw_dbpool_submit(srv->dbpool, job);
}

/* ---- periodic background jobs: beats (gw_peers.h), identity (gw_identity.h) */

/* Which periodic job a done callback ends: its run step tells. */
static void periodic_done(gw_dbjob_t *job)
{
    gw_failover_t *ctl = job->origin->server->failover;
    if (ctl == NULL)
        return;
    if (job->run == gw_peers_beat_run)
        ctl->beat.out = 0;
    else
        ctl->watch.out = 0;
}

/* @run on a database thread every @period_ms, one at a time: a MariaDB (or
 * Redis) that does not answer holds one job, never a queue of them. */
static void periodic(gw_failover_t *ctl, periodic_t *p, void (*run)(gw_dbjob_t *, gw_dbconn_t *), int64_t period_ms, int64_t now)
{
    if (p->out || now < p->next)
        return;
    gw_dbjob_t *job = gw_dbjob_new_bg(ctl->th, run);
    if (job == NULL)
        return;
    job->done = periodic_done;
    p->out = 1;
    p->next = now + period_ms;
    gw_dbpool_submit(ctl->th->server->dbpool, job);
}

/* ---- the timer ---------------------------------------------------------- */

static void tick(h2o_timeout_entry_t *entry)
{
    gw_failover_t *ctl = H2O_STRUCT_FROM_MEMBER(gw_failover_t, entry, entry);
    gw_server_t *srv = ctl->th->server;
    int64_t now = tk_time_mono_ms();
    int up = 0;
    /* A thread the stop tears down counts as up: its closing is no loss. "Up" is read first: a thread sets
     * redis_closing before its teardown stores "down" (release), so one read down is seen closing. */
    for (int i = 0; i < srv->nthreads; i++)
        up += (srv->threads[i].redis != NULL && gw_redis_is_up(srv->threads[i].redis)) ||
              __atomic_load_n(&srv->threads[i].redis_closing, __ATOMIC_ACQUIRE);
    int all_up = up == srv->nthreads;
    gw_mode_t mode = gw_journal_mode(srv->journal);
    if (mode == GW_MODE_FAST && !all_up && gw_failover_lost(srv) == 0)
        mode = GW_MODE_LOST;
    /* Left FAST since the last tick, here or at once when a connection
     * dropped (gw_failover_on_redis_state): the outage starts now. */
    if (mode == GW_MODE_LOST && ctl->last_mode == GW_MODE_FAST) {
        ctl->t_lost = now;
        tk_warn("path: Redis lost; claims are answered read-only from MariaDB%s", srv->conf->fallback_grants ? " until the fallback takes over" : "");
    }
    ctl->last_mode = mode;
    switch (mode) {
    case GW_MODE_FAST:
        if (!ctl->stopping) /* has Redis become another since the last check? */
            periodic(ctl, &ctl->watch, gw_identity_watch_run, GW_FAILOVER_WATCH_MS, now);
        if (now >= ctl->next_watermark && ctl->outstanding == 0) {
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
        periodic(ctl, &ctl->beat, gw_peers_beat_run, GW_PEER_BEAT_MS, now);
    /* Not failover work, but the one timer every gateway runs on a loop:
     * database jobs past their deadline are answered even when no database
     * thread is free to look at them (gw_dbpool.h). */
    gw_dbpool_sweep(srv->dbpool);
    if (!ctl->stopping)
        h2o_timeout_link(ctl->th->ctx.loop, &ctl->timeout, &ctl->entry);
}

int gw_failover_lost(gw_server_t *srv)
{
    int moved = gw_journal_move(srv->journal, GW_MODE_FAST, GW_MODE_LOST) == 0;
    /* After the move, read with the journal's lock between: either the
     * stop's read of the mode (after it set shutdown) sees LOST, or this
     * read sees shutdown (gw_server.c). Redis lost between the signal and
     * the teardown, while requests finished, may come back without this
     * process's undrained grants, so the stop writes the journal although
     * the mode at the signal was FAST. */
    if (__atomic_load_n(&srv->shutdown, __ATOMIC_SEQ_CST))
        __atomic_store_n(&srv->lost_in_stop, 1, __ATOMIC_SEQ_CST);
    return moved ? 0 : -1;
}

void gw_failover_on_redis_state(gw_redis_t *r, int up, void *thread)
{
    gw_thread_t *th = thread;
    /* A connection lost may hide a Redis restarted behind MariaDB; if it
     * came back before the next tick, polling would never see it gone and
     * the check (gw_merge.h) would never run. So the mode leaves FAST the
     * moment any connection drops, from whichever loop thread saw it. */
    /* The stop's teardown closing this thread's connections is not Redis
     * lost: the threads still finishing keep the fast path on theirs. */
    if (!up && !__atomic_load_n(&th->redis_closing, __ATOMIC_ACQUIRE)) {
        __atomic_add_fetch(&redis_drops, 1, __ATOMIC_ACQ_REL);
        gw_failover_lost(th->server);
    }
    gw_rebuild_on_redis_state(r, up, thread);
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
    ctl->last_mode = GW_MODE_LOST;
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
