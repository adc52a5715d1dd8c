/*
 * it_presence: watch requests as heartbeats, and `watching` (API.md "Live
 * event updates and presence").
 *
 * Several tabs and pages of one user count as one user watching, and each
 * (page, tab) is recorded; a held watch answered later is a heartbeat at
 * its answer; and, in real time (the one long test here, ~32 s), a user
 * seen 28 s ago is present and at 32 s is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hiredis.h>

#include "lib/it_api.h"
#include "lib/it_env.h"

/* One watch by @user answered at once (wait=0); returns `watching`. */
static long long watch_now(const it_fix_t *f, const char *ev, const char *user, const char *page, int tab)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/watch?wait=0&page=%s&tab=%d", ev, page, tab);
    it_resp_t r;
    it_api_as(&r, f, IT_HTTP1, user, "GET", path, NULL);
    if (r.status != 200)
        it_show("watch", &r);
    assert_int_equal(r.status, 200);
    long long w = it_json_int(r.json, "watching");
    it_resp_free(&r);
    return w;
}

static long long zscore_ms(const it_fix_t *f, const char *key, const char *member)
{
    redisReply *rep = redisCommand(f->redis, "ZSCORE %s %s", key, member);
    assert_non_null(rep);
    long long v = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : -1;
    freeReplyObject(rep);
    return v;
}

static void several_tabs_of_one_user_count_once(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "pre", 10, 1);
    for (int tab = 0; tab < 3; tab++)
        watch_now(f, ev, "u-a", "event", tab);
    watch_now(f, ev, "u-a", "checkout", 0);
    watch_now(f, ev, "u-b", "event", 0);
    /* The heartbeats went at the end of their loop turns, before this read on the same connection. */
    assert_int_equal(watch_now(f, ev, "u-c", "event", 0), 2); /* u-a (4 tabs/pages) and u-b; u-c's own not yet */
    assert_int_equal(watch_now(f, ev, "u-c", "event", 0), 3);

    char key[256];
    for (int tab = 0; tab < 3; tab++) {
        snprintf(key, sizeof key, "tk:{%s}:pp:event:%d", ev, tab);
        assert_true(zscore_ms(f, key, "u-a") > 0);
    }
    snprintf(key, sizeof key, "tk:{%s}:pp:checkout:0", ev);
    assert_true(zscore_ms(f, key, "u-a") > 0);
    assert_true(zscore_ms(f, key, "u-b") < 0);
    snprintf(key, sizeof key, "tk:{%s}:pu:u-a", ev);
    redisReply *rep = redisCommand(f->redis, "HLEN %s", key);
    assert_int_equal(rep->integer, 4);
    freeReplyObject(rep);
    rep = redisCommand(f->redis, "PTTL %s", key);
    assert_true(rep->integer > 0 && rep->integer <= 31000); /* bounded: it goes away by itself */
    freeReplyObject(rep);
}

static void a_held_watch_beats_again_when_answered(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "pre", 10, 1);
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/watch?page=event&tab=5", ev);
    it_resp_t r;
    it_api_as(&r, f, IT_HTTP1, "u-h", "GET", path, NULL);
    long long v = it_json_int(r.json, "version");
    it_resp_free(&r);
    snprintf(path, sizeof path, "/v1/events/%s/watch?since=%lld&wait=2&page=event&tab=5", ev, v);
    long long t0 = it_now_ms();
    it_api_as(&r, f, IT_HTTP1, "u-h", "GET", path, NULL);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    it_sleep_ms(200);
    char key[256];
    snprintf(key, sizeof key, "tk:{%s}:pp:event:5", ev);
    long long seen = zscore_ms(f, key, "u-h");
    assert_true(seen >= t0 + 1900); /* stamped at the answer, ~2 s after the arrival */
}

/* Real time: seen at t0; present at t0 + 28 s; gone at t0 + 32 s. */
static void seen_28s_ago_is_present_32s_ago_is_not(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "pre", 10, 1);
    watch_now(f, ev, "u-old", "event", 0);
    long long t0 = it_now_ms();
    watch_now(f, ev, "u-new", "event", 0);
    it_sleep_ms((int)(t0 + 28000 - it_now_ms()));
    assert_int_equal(watch_now(f, ev, "u-new", "event", 0), 2); /* u-old seen ~28 s ago: present */
    it_sleep_ms((int)(t0 + 32000 - it_now_ms()));
    assert_int_equal(watch_now(f, ev, "u-new", "event", 0), 1); /* ~32 s: only u-new (seen 4 s ago) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(several_tabs_of_one_user_count_once, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(a_held_watch_beats_again_when_answered, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(seen_28s_ago_is_present_32s_ago_is_not, it_fix_new0, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_presence", tests, it_group_setup, NULL);
}
