/*
 * chaos_fallback: the scenarios where Redis is stopped long enough for the
 * lock-table fallback to grant from MariaDB, and the way back.
 *
 *   redis-stop       stop Redis (SIGTERM) with a quarter of the stock
 *                    granted and keep it down for REDIS_STOP_MS: /readyz
 *                    must reach "path":"grant" (bounded) and the lock-table
 *                    fallback must answer 201s from MariaDB meanwhile
 *                    (counted by answer time; tk_fallback_grants_total > 0);
 *                    then start it: /readyz must go back to "path":"fast"
 *                    (bounded: the merge waits for the drain and rebuilds
 *                    the event in Redis). Order across the switches: every
 *                    ticket the fallback granted to a request sent after
 *                    "grant" was seen is above every ticket answered before
 *                    the stop, and every ticket granted to a request sent
 *                    after "fast" was seen is above every ticket answered
 *                    before Redis was started again; and once "fast" is
 *                    seen, Redis's seq is at least MariaDB's highest ticket
 *                    (the event was rebuilt before the fast path drew
 *                    again). CHAOS_REDIS_BALLAST=N writes N filler keys
 *                    first, so that the restarted Redis answers LOADING for
 *                    a while (1,000,000: ~1.7 s under the sanitizers) while
 *                    the gateway reconnects and merges (default 0 at scale
 *                    1, 1,000,000 above: make chaos).
 *   gateway-kill-fallback  as redis-stop until the fallback has answered
 *                    some 201s from MariaDB (at least FB_KILL_AFTER, or
 *                    FB_KILL_WAIT_MS in grant), then SIGKILL the gateway
 *                    in the middle of the fallback (its journal, lock and
 *                    knowledge of what it granted die with it), start Redis
 *                    from its AOF (now older than MariaDB: its seq is below
 *                    the fallback's tickets) and a new gateway on the same
 *                    ports; the storm goes on against it. /readyz must say
 *                    "path":"fast" again (bounded), and then Redis's seq
 *                    must be at or above MariaDB's highest ticket (the stale
 *                    event was rebuilt before the fast path drew again); no
 *                    two users were told the same ticket; every ticket told
 *                    to a request sent after "fast" is above every ticket
 *                    told before the kill; both workers still run (a
 *                    duplicate ticket kills a worker on error 1062: its
 *                    log line is printed); then the book checks with gaps
 *                    allowed as in redis-stop.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chaos.h"
#include "../lib/it_db.h"
#include "../lib/it_ops.h"
#include "../lib/it_redis.h"
#include "../lib/it_verify.h"

/*
 * CHAOS_REDIS_BALLAST=N (default 0): N keys "chaos:ballast:<i>" written
 * before the storm, so that Redis restarting from its AOF spends a while
 * answering LOADING (a big dataset) while the gateway reconnects and merges.
 * Pipelined, 1,000 per round trip. Returns 0 or -1.
 */
static int redis_ballast(redisContext *rc, long n)
{
    for (long i = 0; i < n; i += 1000) {
        long m = n - i < 1000 ? n - i : 1000;
        for (long j = 0; j < m; j++)
            if (redisAppendCommand(rc, "SET chaos:ballast:%ld %ld", i + j, i + j) != REDIS_OK)
                return -1;
        for (long j = 0; j < m; j++) {
            void *reply = NULL;
            if (redisGetReply(rc, &reply) != REDIS_OK)
                return -1;
            freeReplyObject(reply);
        }
    }
    return 0;
}

/* The moments of a Redis stop under the storm (it_now_ms). */
typedef struct {
    long long stop;  /* the stop asked */
    long long down;  /* services.sh stop-redis returned */
    long long grant; /* /readyz said "path":"grant" */
    long told_before; /* claims told (201, 200) before the stop */
} chaos_stop_t;

/*
 * With a quarter of the stock granted, stops Redis and waits (bounded) until
 * /readyz says "grant": mode lost, then grant, after FALLBACK_AFTER_MS with
 * nothing in flight. From then on the storm counts the 201s it gets as the
 * fallback's (fb_from). The paths seen go to @seen, the event's path at
 * "grant" to @evpath_grant.
 */
static void stop_redis_until_grant(it_fix_t *f, it_storm_t *s, const char *name, char *seen, size_t seenlen, char *evpath_grant,
                                   size_t evlen, chaos_stop_t *t)
{
    IT_STORM_ASSERT(s, it_storm_wait_granted(s, chaos_cfg.storm.stock / 4, 20000) == 0);
    t->told_before = atomic_load(&s->s201) + atomic_load(&s->s200);
    t->stop = it_now_ms();
    IT_STORM_ASSERT(s, it_services("stop-redis", 90000) == 0);
    t->down = it_now_ms();
    it_ready_t last;
    int rc = it_wait_path(f, name, s->event, "grant", chaos_cfg.grant_wait_ms, seen, seenlen, &last);
    snprintf(evpath_grant, evlen, "%s", last.evpath);
    IT_STORM_ASSERT(s, rc == 0);
    t->grant = it_now_ms();
    atomic_store(&s->fb_from, t->grant);
}

/*
 * Back on the fast path, Redis's ticket sequence must already be at or
 * above every ticket MariaDB holds (the fallback's included): MariaDB read
 * first, then Redis (seq only grows). Redis may still answer LOADING for a
 * moment: retried, bounded. Returns 1 when seq is behind (printed under
 * @name).
 */
static int seq_behind_db(it_fix_t *f, const char *name, const char *ev, long long *seq, long long *db_max)
{
    it_fix_reconnect(f);
    *db_max = it_db_int(f->db, 0, "SELECT COALESCE(MAX(ticket), 0) FROM claims WHERE event_id='%s'", ev);
    long long until = it_now_ms() + 3000;
    while ((*seq = it_redis_ev_int(f->redis, ev, "seq", -1)) < 0 && it_now_ms() < until) {
        it_sleep_ms(50);
        it_fix_reconnect(f);
    }
    if (*seq >= *db_max)
        return 0;
    fprintf(stderr,
            "%s: /readyz said \"path\":\"fast\" while Redis seq was %lld, below the highest ticket in MariaDB, %lld: the event was "
            "not rebuilt from MariaDB, the fast path draws tickets the fallback drew\n",
            name, *seq, *db_max);
    return 1;
}

void chaos_redis_stop(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    chaos_new_event(f, ev, sizeof ev, "chaos-rs");
    /* Default: none inside make test (the AOF it would leave slows every later Redis restart of the run); 1,000,000 in make chaos. */
    long ballast = getenv("CHAOS_REDIS_BALLAST") != NULL ? atol(getenv("CHAOS_REDIS_BALLAST")) : chaos_cfg.scale > 1 ? 1000000 : 0;
    if (ballast > 0) {
        long long tb = it_now_ms();
        assert_int_equal(redis_ballast(f->redis, ballast), 0);
        fprintf(stderr, "chaos redis-stop: %ld ballast keys written in %.1fs\n", ballast, (it_now_ms() - tb) / 1000.0);
    }
    it_storm_t *s = it_storm_start(f, ev, &chaos_cfg.storm);
    char seen[160] = "", evpath_grant[32] = "", evpath_fast[32] = "";
    chaos_stop_t t;
    stop_redis_until_grant(f, s, "chaos redis-stop", seen, sizeof seen, evpath_grant, sizeof evpath_grant, &t);
    long long t_stop = t.stop, t_down = t.down, t_grant = t.grant;
    long told_before = t.told_before;

    /* Redis stays down REDIS_STOP_MS from the stop, and at least 1 s in grant; longer (bounded) while the fallback has granted nothing yet with stock left. */
    long long until = t_down + chaos_cfg.redis_stop_ms;
    if (until < t_grant + 1000)
        until = t_grant + 1000;
    while (it_now_ms() < until)
        it_sleep_ms(20);
    long long extend_to = it_now_ms() + 5000;
    while (atomic_load(&s->fb201_live) == 0 && !atomic_load(&s->sold_out_seen) && !atomic_load(&s->done) && it_now_ms() < extend_to)
        it_sleep_ms(20);
    static const char *const down_series[] = {"tk_fallback_grants_total", "tk_path_mode{mode=\"grant\"}"};
    long long down_m[2];
    it_metrics_read(f, down_series, down_m, 2);
    /* Still grant at the end of the window (one poll). */
    it_ready_t still;
    int still_grant = it_wait_path(f, "chaos redis-stop: at the end of the window", ev, "grant", 0, seen, sizeof seen, &still) == 0;
    long long t_until = it_now_ms();
    atomic_store(&s->fb_until, t_until);

    IT_STORM_ASSERT(s, it_services("start-redis", 90000) == 0);
    long long t_up = it_now_ms();
    /* Mode merge (drain, rebuild, unlock), then fast. */
    it_ready_t last;
    int rc = it_wait_path(f, "chaos redis-stop: Redis started again", ev, "fast", chaos_cfg.merge_wait_ms, seen, sizeof seen, &last);
    long long t_fast = it_now_ms();
    snprintf(evpath_fast, sizeof evpath_fast, "%s", last.evpath);
    IT_STORM_ASSERT(s, rc == 0);
    static const char *const up_series[] = {"tk_fallback_merges_total", "tk_fallback_grants_total"};
    long long up_m[2];
    it_metrics_read(f, up_series, up_m, 2);
    long long seq_at_fast, db_max_at_fast;
    int seq_behind = seq_behind_db(f, "chaos redis-stop", ev, &seq_at_fast, &db_max_at_fast);
    if (seq_behind)
        fprintf(stderr, "chaos redis-stop: merges counted: %lld\n", up_m[0]);
    it_storm_join(s);
    it_fix_reconnect(f);

    /*
     * By the 201s' times (the storm thread has ended): those answered while
     * the mode was grant; the order across the switches; the fast path's
     * grants once it was back.
     */
    long fb201 = 0, after201 = 0, order_fb = 0, order_fast = 0;
    long long max_before_stop = 0, min_fb = 0, max_before_up = 0, min_after = 0;
    for (int u = 0; u < chaos_cfg.storm.users; u++) {
        const it_storm_user_t *us = &s->u[u];
        if (us->t201_done == 0)
            continue;
        if (us->t201_done < t_stop && us->ticket > max_before_stop)
            max_before_stop = us->ticket;
        if (us->t201_done < t_until && us->ticket > max_before_up)
            max_before_up = us->ticket;
        if (us->t201_done >= t_grant && us->t201_done < t_until)
            fb201++;
        if (us->t201_sent >= t_grant && us->t201_done < t_until && (min_fb == 0 || us->ticket < min_fb))
            min_fb = us->ticket;
        if (us->t201_sent >= t_fast) {
            after201++;
            if (min_after == 0 || us->ticket < min_after)
                min_after = us->ticket;
        }
    }
    if (min_fb != 0 && min_fb <= max_before_stop)
        order_fb = 1;
    if (min_after != 0 && min_after <= max_before_up)
        order_fast = 1;

    char extra[900];
    snprintf(extra, sizeof extra,
             "redis-down=%.1fs (stop took %.1fs, grant after %.1fs, %.1fs in grant%s) paths=%s event-path=%s/%s "
             "fallback-201s=%ld (tickets from %lld, before the stop up to %lld) tk_fallback_grants_total=%lld/%lld merge=%.1fs "
             "tk_fallback_merges_total=%lld seq-at-fast=%lld (MariaDB max ticket %lld) fast-201s=%ld (tickets from %lld) told-before-stop=%ld",
             (t_up - t_down) / 1000.0, (t_down - t_stop) / 1000.0, (t_grant - t_down) / 1000.0, (t_until - t_grant) / 1000.0,
             still_grant ? "" : ", NOT grant at the end", seen, evpath_grant, evpath_fast, fb201, min_fb, max_before_stop, down_m[0],
             up_m[1], (t_fast - t_up) / 1000.0, up_m[0], seq_at_fast, db_max_at_fast, after201, min_after, told_before);
    it_verify_storm(f, s, "redis-stop", extra, IT_VERIFY_TICKET_GAPS);
    if (fb201 == 0 || down_m[0] <= 0 || down_m[1] != 1 || !still_grant || up_m[0] < 1 || up_m[1] < fb201 || order_fb || order_fast)
        fprintf(stderr,
                "chaos redis-stop: fallback checks: 201s while grant=%ld (want > 0), tk_fallback_grants_total=%lld in grant (want > 0) "
                "and %lld after the merge (want >= the 201s while grant), tk_path_mode{mode=\"grant\"}=%lld (want 1), "
                "still grant before the start=%s (last: %ld %s), tk_fallback_merges_total=%lld (want >= 1), "
                "lowest fallback ticket %lld above %lld before the stop=%s, lowest fast ticket after the merge %lld above %lld "
                "before the start=%s\n",
                fb201, down_m[0], up_m[1], down_m[1], still_grant ? "yes" : "no", still.status, still.body, up_m[0], min_fb, max_before_stop,
                order_fb ? "NO" : "yes", min_after, max_before_up, order_fast ? "NO" : "yes");
    /* The fallback served claims while Redis was away, and said so. */
    assert_true(fb201 > 0);
    assert_true(down_m[0] > 0);
    assert_int_equal(down_m[1], 1);
    assert_true(still_grant);
    assert_true(up_m[0] >= 1);
    assert_false(seq_behind);
    assert_true(up_m[1] >= fb201); /* every 201 while Redis was down was a fallback grant */
    /* First come, first served across both switches. */
    assert_false(order_fb);
    assert_false(order_fast);
    it_storm_free(s);
}

typedef struct {
    long long ticket;
    int user;
} told_ticket_t;

static int told_ticket_cmp(const void *a, const void *b)
{
    const told_ticket_t *x = a, *y = b;
    return x->ticket < y->ticket ? -1 : x->ticket > y->ticket ? 1 : x->user - y->user;
}

/*
 * Users told the same ticket (201, or 200 with a claim): how many such
 * pairs; the first printed into @first.
 */
static long told_ticket_dups(const it_storm_t *s, char *first, size_t len)
{
    told_ticket_t *t = calloc((size_t)s->cfg.users, sizeof *t);
    assert_non_null(t);
    size_t n = 0;
    for (int u = 0; u < s->cfg.users; u++)
        if (s->u[u].ticket != 0)
            t[n++] = (told_ticket_t){s->u[u].ticket, u};
    qsort(t, n, sizeof *t, told_ticket_cmp);
    long dups = 0;
    first[0] = '\0';
    for (size_t i = 1; i < n; i++) {
        if (t[i].ticket != t[i - 1].ticket)
            continue;
        if (dups++ == 0)
            snprintf(first, len, "ticket %lld told to cu-%06d and cu-%06d", t[i].ticket, t[i - 1].user, t[i].user);
    }
    free(t);
    return dups;
}

void chaos_gateway_kill_fallback(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_storm_t *s = chaos_storm(f, ev, sizeof ev, "chaos-gk");
    char seen[160] = "", evpath_grant[32] = "", evpath_fast[32] = "";
    chaos_stop_t t;
    stop_redis_until_grant(f, s, "chaos gateway-kill-fallback", seen, sizeof seen, evpath_grant, sizeof evpath_grant, &t);
    long long t_stop = t.stop, t_down = t.down, t_grant = t.grant;

    /* The fallback grants for a while: until FB_KILL_AFTER 201s arrived, sold out, or FB_KILL_WAIT_MS. */
    long long until = t_grant + chaos_cfg.fb_kill_wait_ms;
    while (atomic_load(&s->fb201_live) < chaos_cfg.fb_kill_after && !atomic_load(&s->sold_out_seen) && !atomic_load(&s->done) &&
           it_now_ms() < until)
        it_sleep_ms(10);
    static const char *const down_series[] = {"tk_fallback_grants_total"};
    long long fb_grants;
    it_metrics_read(f, down_series, &fb_grants, 1);

    /* SIGKILL mid-fallback: whatever the gateway knew in memory is gone. */
    long long t_kill = it_now_ms();
    atomic_store(&s->fb_until, t_kill);
    it_proc_kill(&f->gw.proc);
    IT_STORM_ASSERT(s, !it_proc_alive(&f->gw.proc));
    long long db_max_at_kill = it_db_int(f->db, 0, "SELECT COALESCE(MAX(ticket), 0) FROM claims WHERE event_id='%s'", ev);

    IT_STORM_ASSERT(s, it_services("start-redis", 90000) == 0);
    long long t_up = it_now_ms();
    it_fix_reconnect(f);
    long long seq_from_aof = it_redis_ev_int(f->redis, ev, "seq", -1);
    IT_STORM_ASSERT(s, it_gateway_restart(&f->gw, IT_READY_MS) == 0);
    long long t_gw = it_now_ms();

    seen[0] = '\0';
    it_ready_t last;
    int rc = it_wait_path(f, "chaos gateway-kill-fallback: the new gateway", ev, "fast", chaos_cfg.merge_wait_ms, seen, sizeof seen, &last);
    long long t_fast = it_now_ms();
    snprintf(evpath_fast, sizeof evpath_fast, "%s", last.evpath);
    IT_STORM_ASSERT(s, rc == 0);
    long long seq_at_fast, db_max_at_fast;
    int seq_behind = seq_behind_db(f, "chaos gateway-kill-fallback", ev, &seq_at_fast, &db_max_at_fast);
    if (seq_behind)
        fprintf(stderr, "chaos gateway-kill-fallback: Redis seq from its AOF was %lld: Redis sells from stale books, tickets above %lld are drawn twice\n",
                seq_from_aof, seq_at_fast);
    it_storm_join(s);
    it_fix_reconnect(f);

    /* By the 201s' times: those answered by the fallback before the kill; order across the kill. */
    long fb201 = 0, after201 = 0;
    long long max_before_kill = 0, min_after = 0;
    for (int u = 0; u < chaos_cfg.storm.users; u++) {
        const it_storm_user_t *us = &s->u[u];
        if (us->t201_done == 0)
            continue;
        if (us->t201_done < t_kill && us->ticket > max_before_kill)
            max_before_kill = us->ticket;
        if (us->t201_done >= t_grant && us->t201_done < t_kill)
            fb201++;
        if (us->t201_sent >= t_fast) {
            after201++;
            if (min_after == 0 || us->ticket < min_after)
                min_after = us->ticket;
        }
    }
    int order_bad = min_after != 0 && min_after <= max_before_kill;
    char dup_first[128];
    long told_dups = told_ticket_dups(s, dup_first, sizeof dup_first);
    if (told_dups != 0)
        fprintf(stderr, "chaos gateway-kill-fallback: %ld tickets told to two users (DUPLICATE TICKETS), first: %s\n", told_dups, dup_first);
    if (order_bad)
        fprintf(stderr,
                "chaos gateway-kill-fallback: a request sent after the new gateway said \"fast\" got ticket %lld, not above %lld, the "
                "highest ticket told before the kill\n",
                min_after, max_before_kill);
    /* A worker that met a duplicate ticket exits (error 1062): say so before it_verify_storm() reports what is left undrained. */
    int dead = 0;
    for (int i = 0; i < f->nworkers; i++) {
        char line[512];
        it_log_grep(f->workers[i].log_path, "1062", line, sizeof line);
        if (!it_proc_alive(&f->workers[i])) {
            dead++;
            fprintf(stderr, "chaos gateway-kill-fallback: worker %s is no longer running (log %s)%s%s\n", f->workers[i].name,
                    f->workers[i].log_path, line[0] ? ": " : "", line);
        } else if (line[0] != '\0') {
            fprintf(stderr, "chaos gateway-kill-fallback: worker %s met a duplicate key: %s\n", f->workers[i].name, line);
        }
    }

    char extra[900];
    snprintf(extra, sizeof extra,
             "redis-down=%.1fs (stop took %.1fs, grant after %.1fs, killed %.1fs into grant) paths-after-restart=%s event-path=%s/%s "
             "fallback-201s=%ld tk_fallback_grants_total=%lld (before the kill) mariadb-max-ticket-at-kill=%lld seq-from-aof=%lld "
             "new-gateway-up=%.1fs fast-after=%.1fs seq-at-fast=%lld (MariaDB max ticket %lld) fast-201s=%ld (tickets from %lld, before "
             "the kill up to %lld) told-duplicates=%ld dead-workers=%d",
             (t_up - t_down) / 1000.0, (t_down - t_stop) / 1000.0, (t_grant - t_down) / 1000.0, (t_kill - t_grant) / 1000.0, seen,
             evpath_grant, evpath_fast, fb201, fb_grants, db_max_at_kill, seq_from_aof, (t_gw - t_up) / 1000.0, (t_fast - t_gw) / 1000.0,
             seq_at_fast, db_max_at_fast, after201, min_after, max_before_kill, told_dups, dead);
    it_verify_storm(f, s, "gateway-kill-fallback", extra, IT_VERIFY_TICKET_GAPS);
    /* The premise: the fallback had granted when the gateway died, and Redis came back older than MariaDB. */
    assert_true(fb201 > 0);
    assert_true(fb_grants > 0);
    assert_true(seq_from_aof < db_max_at_kill);
    assert_false(seq_behind);
    assert_int_equal(told_dups, 0);
    assert_false(order_bad);
    assert_int_equal(dead, 0);
    it_storm_free(s);
}
