/*
 * it_chaos: the invariants of shared/BRIEF.md under faults, during a bounded
 * claim storm on an event whose demand exceeds its stock.
 *
 * The storm is lib/it_storm.h, the checks at quiescence lib/it_verify.h;
 * the scenarios, each on a fresh event with 2 workers (WORKER_BATCH and
 * WORKER_CLAIM_IDLE_MS small so re-claims happen within the test), are in
 * chaos/, one file per group (the table below, in this order):
 *   worker-kill, gateway-restart          chaos/chaos_processes.c
 *   db-outage, redis-kill                 chaos/chaos_outages.c
 *   redis-stop, gateway-kill-fallback     chaos/chaos_fallback.c
 *   cluster-failover                      chaos/chaos_failover.c
 * Each prints its verdict line, "chaos <scenario>: PASS …". cluster-failover
 * brings its own fixture (a 3+3 Redis Cluster, two gateways, two workers;
 * run twice, with and without REDIS_WAIT_REPLICAS=1) instead of the single
 * Redis's.
 *
 * Scale: CHAOS_SCALE (default 1: stock 300, 3,000 users, 32 connections;
 * scripts/chaos.sh runs 10). CHAOS_ONLY=<cmocka filter> runs one scenario:
 * the test names are the scenarios' with underscores (redis_kill).
 * Environment given to the gateway and workers this binary starts:
 * WORKER_BATCH=8, WORKER_CLAIM_IDLE_MS=1000, WORKER_DISCOVER_MS=200,
 * RATE_IP_PER_S=0 (the whole storm comes from one address), and
 * REDIS_APPENDFSYNC=always for services.sh start-redis; LSAN_OPTIONS names
 * tests/lsan.supp (it_proc does that).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "chaos/chaos.h"
#include "lib/it_env.h"

/* ------------------------------------------------------------ the scale */

chaos_cfg_t chaos_cfg;

static int group_setup(void **st)
{
    (void)st;
    if (it_env() == NULL)
        return -1;
    const char *s = getenv("CHAOS_SCALE");
    int scale = s != NULL ? atoi(s) : 1;
    if (scale < 1 || scale > 100) {
        fprintf(stderr, "CHAOS_SCALE=%s: expected 1..100\n", s);
        return -1;
    }
    chaos_cfg_t *c = &chaos_cfg;
    c->scale = scale;
    c->storm.stock = 300 * scale;
    c->storm.users = 3000 * scale;
    c->storm.parallel = scale > 1 ? 64 : 32;
    /* The grants spread over about 3 s at scale 1, about 10 s at scale 10. */
    c->storm.pace_chunk = c->storm.parallel;
    c->storm.pace_ms = scale > 1 ? 200 : 250;
    c->kills = scale > 1 ? 6 : 3;
    c->db_down_ms = scale > 1 ? 10000 : 3000;
    c->redis_down_ms = scale > 1 ? 3000 : 1000;
    c->gw_restarts = scale > 1 ? 2 : 1;
    /*
     * Down ~4 s at scale 1: about 1-2 s in mode lost (FALLBACK_AFTER_MS is
     * 1 s, plus the stop itself), the rest granting from MariaDB at the
     * storm's pace (~128 claims/s, ~320 at scale 10), which leaves the
     * fallback a good part of what is left of the stock; at scale 10 not all
     * of it, so the fast path grants again after the merge.
     */
    c->redis_stop_ms = scale > 1 ? 6000 : 4000;
    c->grant_wait_ms = 15000;
    c->merge_wait_ms = 60000 + 2000 * scale;
    c->fb_kill_after = c->storm.stock / 10;
    c->fb_kill_wait_ms = 8000;
    /* A promotion after about node-timeout + 1 s; the kill with a third of the stock granted, as in redis-kill. */
    c->fo_node_timeout_ms = 1500;
    c->fo_hot_master = 0;
    c->fo_kill_after = c->storm.stock / 3;
    c->fo_promote_ms = 30000;
    c->storm.storm_ms = 45000 + 15000 * scale;
    c->storm.drain_ms = 60000 + 6000 * scale;
    /* Inherited by the gateway and workers this binary starts (a flag would win; it_proc passes none of these). */
    setenv("WORKER_BATCH", "8", 1);
    setenv("WORKER_CLAIM_IDLE_MS", "1000", 1);
    setenv("WORKER_DISCOVER_MS", "200", 1);
    /* One client address sends the whole storm: the per-address limit would answer 429 (retried, but slow). */
    setenv("RATE_IP_PER_S", "0", 1);
    /* services.sh start-redis rewrites redis.conf from this. */
    setenv("REDIS_APPENDFSYNC", "always", 1);
    fprintf(stderr, "chaos: scale %d: stock %d, %d users (+10%% retrying), %d connections\n", c->scale, c->storm.stock, c->storm.users,
            c->storm.parallel);
    return 0;
}

static int setup(void **st)
{
    it_fix_t *f = calloc(1, sizeof *f);
    if (f == NULL || it_fix_setup(f, 0) != 0) {
        free(f);
        return -1;
    }
    /* Workers named so the test can find them in XPENDING. */
    if (it_fix_add_worker(f, "cw1") != 0 || it_fix_add_worker(f, "cw2") != 0) {
        it_fix_teardown(f);
        free(f);
        return -1;
    }
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    it_fix_t *f = *st;
    it_storm_leftover_free();
    int rc = it_fix_teardown(f);
    /* A scenario that failed half-way may have left a backend down: bring both back for the tests after it (a no-op when up). */
    if (it_services("start-redis", 90000) != 0 || it_services("start-db", 90000) != 0)
        rc = -1;
    free(f);
    return rc;
}

void chaos_new_event(const it_fix_t *f, char *ev, size_t len, const char *prefix)
{
    it_new_event(f, ev, len, prefix, chaos_cfg.storm.stock, 1);
    /* Let the workers discover the event (WORKER_DISCOVER_MS) before the storm. */
    it_sleep_ms(400);
}

it_storm_t *chaos_storm(const it_fix_t *f, char *ev, size_t len, const char *prefix)
{
    chaos_new_event(f, ev, len, prefix);
    return it_storm_start(f, ev, &chaos_cfg.storm);
}

/* ---------------------------------------------------------- scenarios */

/* The test name is the scenario's (CHAOS_ONLY filters on it), the function chaos_<name>. */
#define CHAOS_SCENARIO(name) {#name, chaos_##name, setup, teardown, NULL}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHAOS_SCENARIO(worker_kill),
        CHAOS_SCENARIO(db_outage),
        CHAOS_SCENARIO(redis_kill),
        CHAOS_SCENARIO(gateway_restart),
        CHAOS_SCENARIO(redis_stop),
        CHAOS_SCENARIO(gateway_kill_fallback),
        {"cluster_failover", chaos_cluster_failover, chaos_failover_setup, chaos_failover_teardown, NULL},
    };
    /* CHAOS_ONLY=redis_kill (a cmocka filter, * and ? allowed) runs one scenario. */
    if (getenv("CHAOS_ONLY") != NULL)
        cmocka_set_test_filter(getenv("CHAOS_ONLY"));
    return cmocka_run_group_tests_name("it_chaos", tests, group_setup, NULL);
}
