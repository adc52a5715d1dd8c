/*
 * it_wr_queue: the waiting room's queue (API.md "Waiting room"): join,
 * the status long-poll, the fleet-wide admitter.
 *
 * Join is idempotent (two tabs, one place: 201 then 200); admission is
 * strictly in place order among present users and skips the absent ones
 * (410 expired once passed), `ahead` counts present users only; a user
 * seen 28 s ago is present and at 32 s is not (real time); the release is
 * steady (20/s over 2 s spread over >= 10 windows of 100 ms) and eta_s
 * follows the measured rate; a paused room admits nobody; the admitter's
 * lease moves to another gateway within 5 s when its holder is killed; a
 * held status poll is answered within 0.5 s of the admission, and beyond
 * WQ_HELD_MAX one is 503; every refusal changes nothing.
 *
 * Rooms are made by the admin create's "waiting_room" and steered by the
 * admin update (POST /v1/admin/events/{id}/queue); a room that releases
 * nobody (rate 0, which the API does not accept) is set in Redis by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>

#include "lib/it_api.h"
#include "lib/it_env.h"
#include "lib/it_redis.h"
#include "tk_time.h"

/* The admin update of the room of @ev with @body; asserts 200. */
static void room_update(const it_fix_t *f, const char *ev, const char *body)
{
    char path[256];
    it_resp_t r;
    snprintf(path, sizeof path, "/v1/admin/events/%s/queue", ev);
    it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", path, body);
    if (r.status != 200)
        it_show("room update", &r);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

/* Release @rate users per s from now (0: nobody, set by hand: the API takes 1..100000). */
static void set_rate(const it_fix_t *f, const char *ev, int rate)
{
    char body[64];
    if (rate == 0) {
        it_redis_do(f->redis, "HSET tk:{%s}:ev wr_rate 0", ev);
        return;
    }
    snprintf(body, sizeof body, "{\"release_per_s\":%d}", rate);
    room_update(f, ev, body);
}

/* A fresh event with @stock, at most 1 per user, and a waiting room at @rate per s (access_ttl_s 300), open at once. */
static void make_room(const it_fix_t *f, char *ev, size_t len, long long stock, int rate)
{
    char body[512];
    it_resp_t r;
    it_event_id(ev, len, "wq");
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"name\":\"Room %s\",\"stock\":%lld,\"max_per_user\":1,"
             "\"waiting_room\":{\"enabled\":true,\"release_per_s\":%d,\"access_ttl_s\":300}}",
             ev, ev, stock, rate > 0 ? rate : 1);
    it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events", body);
    if (r.status != 201)
        it_show("create with a room", &r);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    if (rate == 0)
        set_rate(f, ev, 0);
}

static long join(const it_fix_t *f, const char *ev, const char *user, it_resp_t *r)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/queue", ev);
    it_api_as(r, f, IT_HTTP1, user, "POST", path, NULL);
    return r->status;
}

static long join_expect(const it_fix_t *f, const char *ev, const char *user, long want)
{
    it_resp_t r;
    if (join(f, ev, user, &r) != want)
        it_show("join", &r);
    assert_int_equal(r.status, want);
    long long pos = r.json != NULL ? it_json_int(r.json, "position") : -1;
    it_resp_free(&r);
    return (long)pos;
}

static long status(const it_fix_t *f, const char *ev, const char *user, int wait_s, it_resp_t *r)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/queue/%s?wait=%d", ev, user, wait_s);
    it_api_as(r, f, IT_HTTP1, user, "GET", path, NULL);
    return r->status;
}

/* The room as Redis holds it (wq hash, pos hash, line): what a refusal must leave alone. */
static void room_snapshot(const it_fix_t *f, const char *ev, char *out, size_t cap)
{
    static const char *const cmds[] = {"HGETALL tk:{%s}:wq", "HGETALL tk:{%s}:wq:pos", "ZRANGE tk:{%s}:wq:line 0 -1 WITHSCORES"};
    size_t len = 0;
    out[0] = '\0';
    for (size_t c = 0; c < 3; c++) {
        redisReply *x = it_redis_must(f->redis, cmds[c], ev);
        for (size_t i = 0; i < x->elements; i++)
            len += (size_t)snprintf(out + len, cap - len, "%s,", x->element[i]->str);
        len += (size_t)snprintf(out + len, cap - len, "|");
        freeReplyObject(x);
    }
}

static void user_name(char *out, size_t cap, int i)
{
    snprintf(out, cap, "u-%03d", i);
}

/* ---- join ---- */

static void join_is_idempotent_and_refusals_change_nothing(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    make_room(f, ev, sizeof ev, 10, 0); /* rate 0: nobody admitted */
    it_resp_t r;
    assert_int_equal(join(f, ev, "u-a", &r), 201);
    assert_string_equal(it_json_str(r.json, "state"), "waiting");
    assert_string_equal(it_json_str(r.json, "event_id"), ev);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-a");
    assert_int_equal(it_json_int(r.json, "position"), 1);
    assert_int_equal(it_json_int(r.json, "ahead"), 0);
    assert_int_equal(it_json_int(r.json, "poll_after_ms"), 1000);
    it_resp_free(&r);
    /* a second tab: the same place, 200 */
    assert_int_equal(join_expect(f, ev, "u-a", 200), 1);
    assert_int_equal(join_expect(f, ev, "u-b", 201), 2);
    assert_int_equal(join(f, ev, "u-b", &r), 200);
    assert_int_equal(it_json_int(r.json, "position"), 2);
    assert_int_equal(it_json_int(r.json, "ahead"), 1);
    it_resp_free(&r);
    /* rate 0: no estimate (null); before the sale opens nobody is admitted, and
     * with nothing measured eta_s uses the configured rate: ceil(1 / 4) = 1 */
    assert_int_equal(status(f, ev, "u-b", 0, &r), 200);
    assert_true(json_is_null(json_object_get(r.json, "eta_s")));
    it_resp_free(&r);
    it_redis_do(f->redis, "HSET tk:{%s}:ev opens %lld", ev, (long long)tk_time_now_ms() + 3600000); /* the sale: admin cannot move it */
    set_rate(f, ev, 4);
    it_sleep_ms(300);
    assert_int_equal(status(f, ev, "u-b", 0, &r), 200);
    assert_string_equal(it_json_str(r.json, "state"), "waiting");
    assert_int_equal(it_json_int(r.json, "ahead"), 1);
    assert_int_equal(it_json_int(r.json, "eta_s"), 1);
    assert_int_equal(it_json_int(r.json, "serving"), 0);
    it_resp_free(&r);

    char before[4096], after[4096];
    room_snapshot(f, ev, before, sizeof before);

    /* another user's path: 403; no token: 401; never joined: 404 */
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/queue/u-a?wait=0", ev);
    it_api_as(&r, f, IT_HTTP1, "u-b", "GET", path, NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(it_resp_error_code(&r), "forbidden");
    it_resp_free(&r);
    it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", path, NULL);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
    snprintf(path, sizeof path, "/v1/events/%s/queue", ev);
    it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "POST", path, NULL);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
    it_api_as(&r, f, IT_HTTP1, "u-b", "POST", path, "{\"user_id\":\"u-a\"}");
    assert_int_equal(r.status, 403);
    it_resp_free(&r);
    it_api_as(&r, f, IT_HTTP1, "u-b", "POST", path, "[1]");
    assert_int_equal(r.status, 400);
    it_resp_free(&r);
    assert_int_equal(status(f, ev, "u-z", 0, &r), 404);
    assert_string_equal(it_resp_error_code(&r), "not_found");
    it_resp_free(&r);
    snprintf(path, sizeof path, "/v1/events/%s/queue/u-a?wait=26", ev);
    it_api_as(&r, f, IT_HTTP1, "u-a", "GET", path, NULL);
    assert_int_equal(r.status, 400);
    it_resp_free(&r);
    room_snapshot(f, ev, after, sizeof after);
    assert_string_equal(before, after);

    /* events that refuse a join: each room stays empty */
    struct {
        const char *what, *code;
        long status;
    } cases[] = {
        {"no room", "no_waiting_room", 409}, {"not open", "not_open", 403}, {"closed", "closed", 403},
        {"closes passed", "closed", 403},    {"sold out", "sold_out", 409}, {"unknown", "not_found", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char e2[64];
        if (i == 5) {
            it_event_id(e2, sizeof e2, "wqx");
        } else if (i == 0) {
            it_new_event(f, e2, sizeof e2, "wqn", 10, 1);
        } else {
            make_room(f, e2, sizeof e2, i == 4 ? 1 : 10, 0);
            if (i == 1)
                it_redis_do(f->redis, "HSET tk:{%s}:ev wr_opens %lld", e2, (long long)tk_time_now_ms() + 3600000);
            else if (i == 2)
                it_redis_do(f->redis, "HSET tk:{%s}:ev state closed", e2);
            else if (i == 3)
                it_redis_do(f->redis, "HSET tk:{%s}:ev closes %lld", e2, (long long)tk_time_now_ms() - 1000);
            else
                it_redis_do(f->redis, "HSET tk:{%s}:ev remaining 0", e2);
        }
        room_snapshot(f, e2, before, sizeof before);
        if (join(f, e2, "u-c", &r) != cases[i].status || strcmp(it_resp_error_code(&r), cases[i].code) != 0) {
            fprintf(stderr, "%s: ", cases[i].what);
            it_show("join", &r);
        }
        assert_int_equal(r.status, cases[i].status);
        assert_string_equal(it_resp_error_code(&r), cases[i].code);
        it_resp_free(&r);
        room_snapshot(f, e2, after, sizeof after);
        assert_string_equal(before, after);
    }
}

/* ---- order, absence, ahead ---- */

/* adm hash of @ev into @at (index: user number), -1 for users not admitted; returns the count admitted. */
static int read_admissions(const it_fix_t *f, const char *ev, long long *at, int n)
{
    for (int i = 0; i < n; i++)
        at[i] = -1;
    redisReply *x = it_redis_must(f->redis, "HGETALL tk:{%s}:wq:adm", ev);
    int got = 0;
    for (size_t i = 0; i + 1 < x->elements; i += 2) {
        int k = atoi(x->element[i]->str + 2);
        if (k >= 0 && k < n)
            at[k] = strtoll(x->element[i + 1]->str, NULL, 10);
        got++;
    }
    freeReplyObject(x);
    return got;
}

static void admission_in_place_order_among_present_users(void **st)
{
    it_fix_t *f = *st;
    char ev[64], u[32];
    enum { N = 30 };
    make_room(f, ev, sizeof ev, 100, 0);
    for (int i = 0; i < N; i++) {
        user_name(u, sizeof u, i);
        assert_int_equal(join_expect(f, ev, u, 201), i + 1);
    }
    /* every third user went away 31 s ago (their heartbeat moved back: the 30 s rule, without the wait) */
    long long old = (long long)tk_time_now_ms() - 31000;
    int present_before_last = 0;
    for (int i = 0; i < N; i++) {
        user_name(u, sizeof u, i);
        if (i % 3 == 1)
            it_redis_do(f->redis, "ZADD tk:{%s}:wq:seen %lld %s", ev, old, u);
        else if (i < N - 1)
            present_before_last++;
    }
    /* ahead counts present users only */
    it_resp_t r;
    user_name(u, sizeof u, N - 1);
    assert_int_equal(status(f, ev, u, 0, &r), 200);
    assert_int_equal(it_json_int(r.json, "ahead"), present_before_last);
    assert_int_equal(it_json_int(r.json, "position"), N);
    it_resp_free(&r);

    set_rate(f, ev, 20); /* one user a 50 ms step */
    long long deadline = it_now_ms() + 6000;
    while (it_redis_int(f->redis, "ZCARD tk:{%s}:wq:line", ev) > 0 && it_now_ms() < deadline)
        it_sleep_ms(100);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:{%s}:wq:line", ev), 0);

    long long at[N];
    int admitted = read_admissions(f, ev, at, N);
    assert_int_equal(admitted, N - N / 3);
    long long prev = 0, distinct = 0;
    for (int i = 0; i < N; i++) {
        user_name(u, sizeof u, i);
        if (i % 3 != 1 && at[i] != prev)
            distinct++;
        if (i % 3 == 1) {
            assert_int_equal(at[i], -1); /* no absent user admitted */
            assert_int_equal(status(f, ev, u, 0, &r), 410);
            assert_string_equal(it_resp_error_code(&r), "expired");
            it_resp_free(&r);
            continue;
        }
        /* admitted no earlier than every place before it (a step that admits two stamps both alike) */
        assert_true(at[i] >= prev);
        prev = at[i];
    }
    assert_true(distinct >= (N - N / 3) / 2); /* steady: mostly one user a step, not one burst */
    assert_int_equal(it_redis_int(f->redis, "HGET tk:{%s}:wq admitted", ev), N - N / 3);
    assert_int_equal(it_redis_int(f->redis, "HGET tk:{%s}:wq abandoned", ev), N / 3);
    assert_int_equal(it_redis_int(f->redis, "HGET tk:{%s}:wq serving", ev), N);

    /* an admitted user: the token and its expiry, at once even with a wait */
    user_name(u, sizeof u, 0);
    long long t0 = it_now_ms();
    assert_int_equal(status(f, ev, u, 20, &r), 200);
    assert_true(it_now_ms() - t0 < 1000);
    assert_string_equal(it_json_str(r.json, "state"), "admitted");
    const char *tok = it_json_str(r.json, "access_token");
    assert_non_null(tok);
    assert_true(strlen(tok) > 20);
    char want[32];
    tk_time_format_rfc3339((at[0] / 1000 + 300) * 1000, want);
    assert_string_equal(it_json_str(r.json, "expires_at"), want);
    /* the acceptance flow's last step: the access token claims (201); an expired user's own token does not (403) */
    char url[256], auth[1200], body[] = "{\"quantity\":1}";
    snprintf(url, sizeof url, "%s/v1/events/%s/claims", f->gw.base_url, ev);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *hdrs[] = {auth, NULL};
    it_resp_t c;
    it_http(&c, IT_HTTP1, "POST", url, hdrs, body, strlen(body), IT_TIMEOUT_MS);
    if (c.status != 201)
        it_show("claim with the access token", &c);
    assert_int_equal(c.status, 201);
    it_resp_free(&c);
    it_resp_free(&r);
    user_name(u, sizeof u, 1);
    assert_int_equal(it_claim(&c, f, ev, u, 1), 403);
    assert_string_equal(it_resp_error_code(&c), "not_admitted");
    it_resp_free(&c);
    user_name(u, sizeof u, 0);
    /* a join of an admitted user is answered admitted (200), not a new place */
    assert_int_equal(join(f, ev, u, &r), 200);
    assert_string_equal(it_json_str(r.json, "state"), "admitted");
    it_resp_free(&r);

    /* the metrics of this gateway (it holds the lease) */
    snprintf(url, sizeof url, "%s/metrics", f->gw.base_url);
    assert_int_equal(it_http(&r, IT_HTTP1, "GET", url, NULL, NULL, 0, IT_TIMEOUT_MS), 0);
    char line[256];
    snprintf(line, sizeof line, "tk_wq_admitted_total %d\n", N - N / 3);
    assert_non_null(strstr(r.body, line));
    snprintf(line, sizeof line, "tk_wq_abandoned_total %d\n", N / 3);
    assert_non_null(strstr(r.body, line));
    snprintf(line, sizeof line, "tk_wq_joined_total %d\n", N);
    assert_non_null(strstr(r.body, line));
    assert_non_null(strstr(r.body, "tk_wq_held 0\n"));
    snprintf(line, sizeof line, "tk_wq_present{event=\"%s\"} ", ev);
    assert_non_null(strstr(r.body, line));
    it_resp_free(&r);

    /* the user who was away comes back: a new place at the back (201) */
    user_name(u, sizeof u, 1);
    assert_int_equal(join_expect(f, ev, u, 201), N + 1);
}

/*
 * An admission runs out with its access token (admitted at + access_ttl_s):
 * the status then answers 410 expired instead of an admitted answer whose
 * token no claim accepts, and a join gives a new place at the back, as
 * for an abandoned place. An admission still running is answered as is.
 */
static void an_admission_that_ran_out_is_expired_and_may_rejoin(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    make_room(f, ev, sizeof ev, 10, 0);
    assert_int_equal(join_expect(f, ev, "u-late", 201), 1);
    assert_int_equal(join_expect(f, ev, "u-soon", 201), 2);
    /* admitted 301 s ago (access_ttl_s 300), and 10 s ago */
    long long now = (long long)tk_time_now_ms();
    it_redis_do(f->redis, "ZREM tk:{%s}:wq:line u-late u-soon", ev);
    it_redis_do(f->redis, "HSET tk:{%s}:wq:adm u-late %lld u-soon %lld", ev, now - 301000, now - 10000);
    it_resp_t r;
    assert_int_equal(status(f, ev, "u-soon", 0, &r), 200);
    assert_string_equal(it_json_str(r.json, "state"), "admitted");
    it_resp_free(&r);
    if (status(f, ev, "u-late", 0, &r) != 410)
        it_show("status of an admission that ran out", &r);
    assert_int_equal(r.status, 410);
    it_resp_free(&r);
    assert_int_equal(join_expect(f, ev, "u-late", 201), 3);
    assert_int_equal(status(f, ev, "u-late", 0, &r), 200);
    assert_string_equal(it_json_str(r.json, "state"), "waiting");
    assert_int_equal(it_json_int(r.json, "position"), 3);
    it_resp_free(&r);
}

/* ---- the 30 s rule, in real time ---- */

static void absent_at_32s_not_at_28s(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    make_room(f, ev, sizeof ev, 10, 0);
    long long t0 = it_now_ms();
    join_expect(f, ev, "u-gone", 201); /* its last heartbeat */
    join_expect(f, ev, "u-stay", 201);
    it_resp_t r;
    it_sleep_ms((int)(t0 + 28000 - it_now_ms()));
    assert_int_equal(status(f, ev, "u-stay", 0, &r), 200);
    assert_int_equal(it_json_int(r.json, "ahead"), 1); /* seen 28 s ago: present */
    it_resp_free(&r);
    it_sleep_ms((int)(t0 + 32000 - it_now_ms()));
    assert_int_equal(status(f, ev, "u-stay", 0, &r), 200);
    assert_int_equal(it_json_int(r.json, "ahead"), 0); /* 32 s: not */
    it_resp_free(&r);
    set_rate(f, ev, 20);
    long long deadline = it_now_ms() + 3000;
    while (it_redis_int(f->redis, "ZCARD tk:{%s}:wq:line", ev) > 0 && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(status(f, ev, "u-gone", 0, &r), 410);
    it_resp_free(&r);
    assert_int_equal(status(f, ev, "u-stay", 0, &r), 200);
    assert_string_equal(it_json_str(r.json, "state"), "admitted");
    it_resp_free(&r);
}

/* ---- steady release, measured rate, pause ---- */

static void release_is_steady_and_eta_follows_the_measured_rate(void **st)
{
    it_fix_t *f = *st;
    char ev[64], u[32];
    enum { N = 80 };
    make_room(f, ev, sizeof ev, 100, 0);
    for (int i = 0; i < N; i++) {
        user_name(u, sizeof u, i);
        join_expect(f, ev, u, 201);
    }
    /* paused: nobody admitted, eta null */
    room_update(f, ev, "{\"release_per_s\":20,\"paused\":true}");
    it_sleep_ms(1000);
    assert_int_equal(it_redis_int(f->redis, "HLEN tk:{%s}:wq:adm", ev), 0);
    it_resp_t r;
    user_name(u, sizeof u, N - 1);
    assert_int_equal(status(f, ev, u, 0, &r), 200);
    assert_true(json_is_null(json_object_get(r.json, "eta_s")));
    it_resp_free(&r);

    /* released at 20/s: over 2 s, spread over 100 ms windows, never more than 21 in any second */
    long long start = (long long)tk_time_now_ms();
    room_update(f, ev, "{\"paused\":false}");
    it_sleep_ms(2000);
    long long at[N];
    int got = read_admissions(f, ev, at, N);
    assert_true(got >= 30 && got <= 45);
    int windows = 0;
    long long seen_w[N];
    for (int i = 0; i < N; i++) {
        if (at[i] < 0 || at[i] > start + 2000)
            continue;
        long long w = (at[i] - start) / 100;
        int dup = 0;
        for (int j = 0; j < windows; j++)
            dup |= seen_w[j] == w;
        if (!dup)
            seen_w[windows++] = w;
    }
    assert_true(windows >= 10);
    for (int i = 0; i < N; i++) {
        if (at[i] < 0)
            continue;
        int in_second = 0;
        for (int j = 0; j < N; j++)
            in_second += at[j] >= at[i] && at[j] < at[i] + 1000;
        assert_true(in_second <= 21);
    }

    /* eta_s from the measured rate: ceil(ahead / meas) */
    it_sleep_ms(1200);
    long long meas = it_redis_int(f->redis, "HGET tk:{%s}:wq meas", ev);
    /* admissions per s over the last 30 s, idle time included (the join and the pause): under 20/s */
    assert_true(meas > 5000 && meas <= 21000);
    set_rate(f, ev, 1); /* the configured rate no longer says anything */
    for (int tries = 0; tries < 5; tries++) {
        long long m1 = it_redis_int(f->redis, "HGET tk:{%s}:wq meas", ev);
        assert_int_equal(status(f, ev, u, 0, &r), 200);
        long long m2 = it_redis_int(f->redis, "HGET tk:{%s}:wq meas", ev);
        if (m1 != m2 || strcmp(it_json_str(r.json, "state"), "waiting") != 0) {
            it_resp_free(&r);
            continue;
        }
        long long ahead = it_json_int(r.json, "ahead"), eta = it_json_int(r.json, "eta_s");
        assert_int_equal(eta, (ahead * 1000 + m1 - 1) / m1);
        assert_true(eta < ahead); /* at the configured 1/s it would be ahead */
        it_resp_free(&r);
        break;
    }
}

/* ---- the long-poll ---- */

typedef struct {
    const it_fix_t *f;
    const char *ev, *user;
    int wait_s;
    it_resp_t r;
    long long done_wall;
    pthread_t tid;
} poll_t;

static void *poll_main(void *arg)
{
    poll_t *p = arg;
    status(p->f, p->ev, p->user, p->wait_s, &p->r);
    p->done_wall = (long long)tk_time_now_ms();
    return NULL;
}

static void held_poll_is_answered_on_admission_and_bounded(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    make_room(f, ev, sizeof ev, 10, 0);
    join_expect(f, ev, "u-p1", 201);
    join_expect(f, ev, "u-p2", 201);
    poll_t p = {f, ev, "u-p1", 15, {0}, 0, 0};
    long long t0 = it_now_ms();
    assert_int_equal(pthread_create(&p.tid, NULL, poll_main, &p), 0);
    it_sleep_ms(800);
    set_rate(f, ev, 1); /* u-p1 within a second, u-p2 a second later */
    assert_int_equal(pthread_join(p.tid, NULL), 0);
    assert_int_equal(p.r.status, 200);
    assert_string_equal(it_json_str(p.r.json, "state"), "admitted");
    long long adm = it_redis_int(f->redis, "HGET tk:{%s}:wq:adm u-p1", ev);
    assert_true(it_now_ms() - t0 >= 700); /* it was held */
    fprintf(stderr, "held poll answered %lld ms after the admission\n", p.done_wall - adm);
    assert_true(p.done_wall - adm < 500);
    it_resp_free(&p.r);

    /* a wait that runs out answers the standing then (waiting or admitted), after the wait */
    set_rate(f, ev, 0);
    join_expect(f, ev, "u-p3", 201);
    t0 = it_now_ms();
    it_resp_t r;
    assert_int_equal(status(f, ev, "u-p3", 1, &r), 200);
    assert_string_equal(it_json_str(r.json, "state"), "waiting");
    assert_true(it_now_ms() - t0 >= 900);
    it_resp_free(&r);

    /* WQ_HELD_MAX=1 on a second gateway: one held, the next 503 with Retry-After */
    it_fix_t f2 = *f;
    assert_int_equal(setenv("WQ_HELD_MAX", "1", 1), 0);
    assert_int_equal(setenv("GW_THREADS", "1", 1), 0);
    int started = it_gateway_start(&f2.gw, IT_READY_MS);
    unsetenv("WQ_HELD_MAX");
    unsetenv("GW_THREADS");
    assert_int_equal(started, 0);
    poll_t q = {&f2, ev, "u-p3", 2, {0}, 0, 0};
    assert_int_equal(pthread_create(&q.tid, NULL, poll_main, &q), 0);
    it_sleep_ms(700);
    char before[4096], after[4096];
    room_snapshot(f, ev, before, sizeof before);
    assert_int_equal(status(&f2, ev, "u-p3", 5, &r), 503);
    assert_string_equal(it_resp_error_code(&r), "unavailable");
    assert_int_equal(r.retry_after_n, 1);
    it_resp_free(&r);
    room_snapshot(f, ev, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(pthread_join(q.tid, NULL), 0);
    assert_int_equal(q.r.status, 200);
    it_resp_free(&q.r);

    /* a gateway stopped while it holds a poll answers it (200, the standing then) and exits 0 */
    poll_t s2 = {&f2, ev, "u-p3", 20, {0}, 0, 0};
    assert_int_equal(pthread_create(&s2.tid, NULL, poll_main, &s2), 0);
    it_sleep_ms(700);
    long long stop_wall = (long long)tk_time_now_ms();
    assert_int_equal(it_proc_stop(&f2.gw.proc, IT_STOP_MS), 0);
    assert_int_equal(pthread_join(s2.tid, NULL), 0);
    assert_int_equal(s2.r.status, 200);
    assert_string_equal(it_json_str(s2.r.json, "state"), "waiting");
    assert_true(s2.done_wall - stop_wall < 5000); /* not held to its 20 s */
    it_resp_free(&s2.r);
}

/* ---- the lease ---- */

static void lease_moves_when_its_gateway_is_killed(void **st)
{
    it_fix_t *f = *st;
    char ev[64], u[32];
    make_room(f, ev, sizeof ev, 100, 0);
    it_fix_t f2 = *f;
    assert_int_equal(it_gateway_start(&f2.gw, IT_READY_MS), 0);
    for (int i = 0; i < 40; i++) {
        user_name(u, sizeof u, i);
        join_expect(&f2, ev, u, 201);
    }
    /* the first gateway holds the lease (it started first) */
    redisReply *x = it_redis_must(f->redis, "GET tk:{wq}:lease");
    assert_int_equal(x->type, REDIS_REPLY_STRING);
    char pid[32];
    snprintf(pid, sizeof pid, ":%d:", (int)f->gw.proc.pid);
    assert_non_null(strstr(x->str, pid));
    freeReplyObject(x);
    set_rate(f, ev, 10);
    it_sleep_ms(1200);
    long long before_kill = it_redis_int(f->redis, "HLEN tk:{%s}:wq:adm", ev);
    assert_true(before_kill >= 1);

    it_proc_kill(&f->gw.proc);
    long long killed = it_now_ms();
    it_sleep_ms(100); /* a step the dead holder sent may still have run */
    long long base = it_redis_int(f->redis, "HLEN tk:{%s}:wq:adm", ev), n = base;
    while (n <= base && it_now_ms() - killed < 8000) {
        it_sleep_ms(50);
        n = it_redis_int(f->redis, "HLEN tk:{%s}:wq:adm", ev);
    }
    long long took = it_now_ms() - killed;
    fprintf(stderr, "admission resumed %lld ms after the holder was killed\n", took);
    assert_true(n > base);
    assert_true(took < 5000);
    x = it_redis_must(f->redis, "GET tk:{wq}:lease");
    assert_int_equal(x->type, REDIS_REPLY_STRING);
    snprintf(pid, sizeof pid, ":%d:", (int)f2.gw.proc.pid);
    assert_non_null(strstr(x->str, pid));
    freeReplyObject(x);
    assert_int_equal(it_proc_stop(&f2.gw.proc, IT_STOP_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(join_is_idempotent_and_refusals_change_nothing, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(admission_in_place_order_among_present_users, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(an_admission_that_ran_out_is_expired_and_may_rejoin, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(release_is_steady_and_eta_follows_the_measured_rate, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(held_poll_is_answered_on_admission_and_bounded, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(lease_moves_when_its_gateway_is_killed, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(absent_at_32s_not_at_28s, it_fix_new0, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_wr_queue", tests, it_group_setup, NULL);
}
