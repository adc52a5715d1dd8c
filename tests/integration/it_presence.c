/*
 * it_presence: watch requests as heartbeats, and `watching` (API.md "Live
 * event updates and presence").
 *
 * Several tabs and pages of one user count as one user watching, and each
 * (page, tab) is recorded; a held watch answered later is a heartbeat at
 * its answer; the admin lookup in both shapes pages over 1,000 users with
 * its cursor, listing each exactly once, even when users heartbeat again
 * during the walk; its bad parameters are 400 and it needs the admin
 * token; and, in real time (the one long test here, ~32 s), a user seen
 * 28 s ago is present and at 32 s is not.
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
    /* u-a (4 tabs/pages), u-b, and u-c itself: an answer counts its caller, once */
    assert_int_equal(watch_now(f, ev, "u-c", "event", 0), 3);
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

#define NUSERS 1000
#define NCHECKOUT 10

/* NUSERS users watch page event tab 0, the first NCHECKOUT also checkout tab 1: NUSERS + NCHECKOUT watch requests. */
static void many_users_watch(const it_fix_t *f, const char *ev)
{
    size_t n = NUSERS + NCHECKOUT;
    it_multi_req_t *mr = calloc(n, sizeof *mr);
    char(*urls)[256] = calloc(n, sizeof *urls);
    char(*lines)[IT_AUTH_LINE_MAX] = calloc(n, sizeof *lines);
    const char *(*hdrs)[2] = calloc(n, sizeof *hdrs);
    assert_true(mr != NULL && urls != NULL && lines != NULL && hdrs != NULL);
    for (size_t i = 0; i < n; i++) {
        char user[32];
        int u = (int)(i < NUSERS ? i : i - NUSERS);
        snprintf(user, sizeof user, "u-%04d", u);
        snprintf(urls[i], sizeof urls[i], "%s/v1/events/%s/watch?wait=0&page=%s&tab=%d", f->gw.base_url, ev,
                 i < NUSERS ? "event" : "checkout", i < NUSERS ? 0 : 1);
        assert_non_null(it_api_user_header(f, user, lines[i]));
        hdrs[i][0] = lines[i];
        hdrs[i][1] = NULL;
        mr[i].method = "GET";
        mr[i].url = urls[i];
        mr[i].headers = hdrs[i];
    }
    assert_int_equal(it_http_multi(mr, n, 8, IT_HTTP1, 120000), n);
    for (size_t i = 0; i < n; i++) {
        if (mr[i].resp.status != 200)
            it_show("a watch of the crowd", &mr[i].resp);
        assert_int_equal(mr[i].resp.status, 200);
        it_resp_free(&mr[i].resp);
    }
    free(mr);
    free(urls);
    free(lines);
    free(hdrs);
}

/* GET the admin presence lookup; returns the parsed body (owned by *r). */
static json_t *lookup(it_resp_t *r, const it_fix_t *f, const char *ev, const char *query)
{
    assert_int_equal(it_apif(r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s/presence%s", ev, query), 0);
    if (r->status != 200)
        it_show("presence lookup", r);
    assert_int_equal(r->status, 200);
    assert_non_null(r->json);
    return r->json;
}

static int user_index(const char *u)
{
    assert_non_null(u);
    assert_int_equal(strncmp(u, "u-", 2), 0);
    int i = atoi(u + 2);
    assert_true(i >= 0 && i < NUSERS);
    return i;
}

/* Walks the event shape with @limit; @rebeat: after the first page, its users heartbeat again. */
static void walk_event(const it_fix_t *f, const char *ev, int limit, int rebeat)
{
    unsigned char seen[NUSERS] = {0};
    char cursor[256] = "";
    int total = 0, pages = 0;
    for (;;) {
        char q[400];
        if (cursor[0] != '\0')
            snprintf(q, sizeof q, "?limit=%d&cursor=%s", limit, cursor);
        else
            snprintf(q, sizeof q, "?limit=%d", limit);
        it_resp_t r;
        json_t *j = lookup(&r, f, ev, q);
        assert_int_equal(it_json_int(j, "count"), NUSERS);
        json_t *users = json_object_get(j, "users");
        assert_true(json_array_size(users) <= (size_t)limit);
        for (size_t k = 0; k < json_array_size(users); k++) {
            json_t *u = json_array_get(users, k);
            int i = user_index(it_json_str(u, "user_id"));
            if (seen[i])
                fail_msg("user u-%04d listed twice", i);
            seen[i] = 1;
            total++;
            json_t *pg = json_object_get(u, "pages");
            assert_int_equal(json_array_size(pg), i < NCHECKOUT ? 2 : 1);
            assert_non_null(it_json_str(json_array_get(pg, 0), "last_seen"));
            if (rebeat && pages == 0) {
                char user[32];
                snprintf(user, sizeof user, "u-%04d", i);
                watch_now(f, ev, user, "event", 0);
            }
        }
        pages++;
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next)) {
            it_resp_free(&r);
            break;
        }
        assert_true(json_is_string(next));
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        it_resp_free(&r);
        assert_true(pages <= NUSERS);
    }
    /* each exactly once; with rebeat, the first page's users are never listed again */
    assert_int_equal(total, NUSERS);
    assert_int_equal(pages, (NUSERS + limit - 1) / limit);
}

static void admin_lookup_pages_over_1000_users_each_once(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "pre", 10, 1);
    many_users_watch(f, ev);
    walk_event(f, ev, 100, 0);
    walk_event(f, ev, 333, 1);
    walk_event(f, ev, 1000, 0);

    /* the page shape */
    it_resp_t r;
    json_t *j = lookup(&r, f, ev, "?page=checkout&tab=1&limit=4");
    assert_int_equal(it_json_int(j, "count"), NCHECKOUT);
    int seen = 0;
    unsigned char got[NCHECKOUT] = {0};
    for (;;) {
        json_t *users = json_object_get(j, "users");
        for (size_t k = 0; k < json_array_size(users); k++) {
            json_t *u = json_array_get(users, k);
            int i = user_index(it_json_str(u, "user_id"));
            assert_true(i < NCHECKOUT);
            assert_false(got[i]);
            got[i] = 1;
            seen++;
            assert_non_null(it_json_str(u, "last_seen"));
            assert_null(json_object_get(u, "pages"));
        }
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next))
            break;
        char q[300];
        snprintf(q, sizeof q, "?page=checkout&tab=1&limit=4&cursor=%s", json_string_value(next));
        it_resp_free(&r);
        j = lookup(&r, f, ev, q);
    }
    it_resp_free(&r);
    assert_int_equal(seen, NCHECKOUT);
    j = lookup(&r, f, ev, "?page=nobody&tab=0");
    assert_int_equal(it_json_int(j, "count"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "users")), 0);
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    it_resp_free(&r);
}

static void admin_lookup_refuses_bad_parameters(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "pre", 10, 1);
    static const char *const bad[] = {"?limit=0", "?limit=1001", "?limit=x", "?page=event", "?tab=0", "?page=E&tab=0",
                                      "?page=event&tab=100", "?cursor=abc", "?cursor=1:2", "?cursor=1:2:", "?cursor=1:5:u-1",
                                      "?limit=1&limit=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_resp_t r;
        assert_int_equal(it_apif(&r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s/presence%s", ev, bad[i]), 0);
        if (r.status != 400)
            fprintf(stderr, "presence%s: %ld\n", bad[i], r.status);
        assert_int_equal(r.status, 400);
        it_resp_free(&r);
    }
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/admin/events/%s/presence", ev), 0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
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
        cmocka_unit_test_setup_teardown(admin_lookup_pages_over_1000_users_each_once, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(admin_lookup_refuses_bad_parameters, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(seen_28s_ago_is_present_32s_ago_is_not, it_fix_new0, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_presence", tests, it_group_setup, NULL);
}
