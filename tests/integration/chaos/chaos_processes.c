/*
 * chaos_processes: the scenarios where a process of ours dies or restarts
 * during the storm.
 *
 *   worker-kill      SIGKILL a worker while it holds an unconfirmed batch
 *                    (XPENDING of its consumer > 0), KILLS times; restarted
 *                    alternately under its own name (re-reads its pending
 *                    entries) and under a new one (the dead consumer's
 *                    entries are XAUTOCLAIMed by the others).
 *   gateway-restart  SIGTERM the gateway with requests in flight (it must
 *                    exit 0), start a new one on the same ports, continue.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chaos.h"
#include "../lib/it_redis.h"
#include "../lib/it_verify.h"

void chaos_worker_kill(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_storm_t *s = chaos_storm(f, ev, sizeof ev, "chaos-wk");

    int kills = 0, renamed = 0;
    char names[2][32] = {"cw1", "cw2"};
    char at_kill[256] = "";
    long long deadline = it_now_ms() + chaos_cfg.storm.storm_ms;
    /* Prefer a fuller batch (several entries read, none confirmed); after 700 ms without one, any batch. */
    long long since = it_now_ms();
    while (kills < chaos_cfg.kills && it_now_ms() < deadline) {
        int hit = 0;
        long long want = it_now_ms() - since < 700 ? 3 : 1;
        for (int i = 0; i < 2 && !hit; i++) {
            int w = (kills + i) % 2; /* alternate which worker dies first */
            long long pend = it_redis_pending_of(f->redis, ev, names[w]);
            if (pend < want || !it_proc_alive(&f->workers[w]))
                continue;
            it_proc_kill(&f->workers[w]);
            kills++;
            hit = 1;
            size_t l = strlen(at_kill);
            snprintf(at_kill + l, sizeof at_kill - l, "%s%s:%lld", l ? "," : "", names[w], pend);
            /* Odd kills: back under the same name (it re-reads its own pending entries); even: a new name. */
            if (kills % 2 == 0)
                snprintf(names[w], sizeof names[w], "cw%d-r%d", w + 1, ++renamed);
            IT_STORM_ASSERT(s, it_worker_start(&f->workers[w], names[w]) == 0);
            since = it_now_ms();
        }
        if (!hit) {
            if (atomic_load(&s->done) && it_redis_xlen(f->redis, ev) == 0)
                break; /* nothing left to drain: no batch to kill in */
            it_sleep_ms(1);
        }
    }
    it_storm_join(s);
    char extra[400];
    snprintf(extra, sizeof extra, "kills=%d pending-at-kill=[%s]", kills, at_kill);
    it_verify_storm(f, s, "worker-kill", extra, 0);
    assert_int_equal(kills, chaos_cfg.kills);
    /* Both workers (the restarted ones) still up, and they stop cleanly. */
    assert_true(it_proc_alive(&f->workers[0]));
    assert_true(it_proc_alive(&f->workers[1]));
    it_storm_free(s);
}

void chaos_gateway_restart(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_storm_t *s = chaos_storm(f, ev, sizeof ev, "chaos-gw");
    char extra[300] = "";
    for (int i = 0; i < chaos_cfg.gw_restarts; i++) {
        IT_STORM_ASSERT(s, it_storm_wait_granted(s, chaos_cfg.storm.stock * (i + 1) / (chaos_cfg.gw_restarts + 2), 20000) == 0);
        /* SIGTERM just after a chunk started: its requests are in flight. */
        long long until = it_now_ms() + 5000;
        while (!atomic_load(&s->in_chunk) && it_now_ms() < until)
            it_sleep_ms(1);
        it_sleep_ms(10);
        int inflight = atomic_load(&s->in_chunk);
        long long t0 = it_now_ms();
        int rc = it_proc_stop(&f->gw.proc, IT_STOP_MS);
        long long t1 = it_now_ms();
        IT_STORM_ASSERT(s, rc == 0); /* in-flight requests finished, clean exit under the sanitizers */
        IT_STORM_ASSERT(s, it_gateway_restart(&f->gw, IT_READY_MS) == 0);
        long long t2 = it_now_ms();
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, "%srestart%d: stop=%.2fs start=%.2fs chunk-in-flight=%s", i ? " " : "", i + 1,
                 (t1 - t0) / 1000.0, (t2 - t1) / 1000.0, inflight ? "yes" : "no");
    }
    it_storm_join(s);
    it_verify_storm(f, s, "gateway-restart", extra, 0);
    /* In-flight requests completed: the only requests without an answer are those refused a connection while no gateway listened. */
    long cut = atomic_load(&s->snone) - s->curl_errs[CURLE_COULDNT_CONNECT];
    if (cut != 0) {
        char errs[128];
        it_storm_curl_errs(s, errs, sizeof errs);
        fprintf(stderr, "chaos gateway-restart: %ld requests cut off without an answer (curl codes %s)\n", cut, errs);
    }
    assert_int_equal(cut, 0);
    it_storm_free(s);
}
