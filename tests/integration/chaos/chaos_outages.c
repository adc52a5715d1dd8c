/*
 * chaos_outages: the scenarios where a backend goes away during the storm
 * and comes back.
 *
 *   db-outage        stop MariaDB for DB_DOWN_MS during the storm, start it.
 *   redis-kill       SIGKILL Redis during the storm, restart it from its AOF
 *                    (appendfsync always). Down longer than the gateway's
 *                    FALLBACK_AFTER_MS (1 s; at scale 10), the fallback may
 *                    grant meanwhile: then tickets are checked as in
 *                    redis-stop (gaps allowed), else exactly 1..stock.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chaos.h"
#include "../lib/it_ops.h"
#include "../lib/it_redis.h"
#include "../lib/it_verify.h"

void chaos_db_outage(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_storm_t *s = chaos_storm(f, ev, sizeof ev, "chaos-db");
    IT_STORM_ASSERT(s, it_storm_wait_granted(s, chaos_cfg.storm.stock / 20, 20000) == 0);
    long long t0 = it_now_ms();
    IT_STORM_ASSERT(s, it_services("stop-db", 90000) == 0);
    long long t_down = it_now_ms();
    long granted_at_stop = atomic_load(&s->s201);
    it_sleep_ms(chaos_cfg.db_down_ms);
    long long backlog = it_redis_xlen(f->redis, ev);
    long granted_down = atomic_load(&s->s201) - granted_at_stop;
    IT_STORM_ASSERT(s, it_services("start-db", 90000) == 0);
    long long t_up = it_now_ms();
    it_storm_join(s);
    it_fix_reconnect(f);
    char extra[300];
    snprintf(extra, sizeof extra, "db-down=%.1fs (stop took %.1fs, start %.1fs) backlog-at-start=%lld granted-while-down=%ld",
             (t_up - t_down) / 1000.0, (t_down - t0) / 1000.0, (t_up - t_down - chaos_cfg.db_down_ms) / 1000.0, backlog, granted_down);
    it_verify_storm(f, s, "db-outage", extra, 0);
    /* The outage met claims waiting to be written, or it proved nothing. */
    assert_true(backlog > 0);
    it_storm_free(s);
}

void chaos_redis_kill(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_storm_t *s = chaos_storm(f, ev, sizeof ev, "chaos-rk");
    IT_STORM_ASSERT(s, it_storm_wait_granted(s, chaos_cfg.storm.stock / 3, 20000) == 0);
    long told_before = atomic_load(&s->s201) + atomic_load(&s->s200);
    IT_STORM_ASSERT(s, it_services("kill-redis", 30000) == 0);
    long long t_down = it_now_ms();
    it_sleep_ms(chaos_cfg.redis_down_ms);
    IT_STORM_ASSERT(s, it_services("start-redis", 90000) == 0);
    long long t_up = it_now_ms();
    it_storm_join(s);
    it_fix_reconnect(f);
    /*
     * Down longer than FALLBACK_AFTER_MS (at scale 10), the gateway may have
     * granted from MariaDB meanwhile; then, as in redis-stop, a claim whose
     * reply the kill cut off may have left an unused ticket. Only then are
     * gaps accepted.
     */
    static const char *const fb_series[] = {"tk_fallback_grants_total"};
    long long fb_grants;
    it_metrics_read(f, fb_series, &fb_grants, 1);
    char extra[300];
    snprintf(extra, sizeof extra, "redis-down=%.1fs told-before-kill=%ld fallback-grants=%lld", (t_up - t_down) / 1000.0, told_before,
             fb_grants);
    it_verify_storm(f, s, "redis-kill", extra, fb_grants > 0 ? IT_VERIFY_TICKET_GAPS : 0);
    it_storm_free(s);
}
