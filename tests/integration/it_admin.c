/*
 * it_admin: the admin routes: the bearer token is required and a refused
 * request reveals and changes nothing; creating events (and refusing taken
 * ids and bad definitions); the admin view's books.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_redis.h"

static int setup(void **st)
{
    static const it_evfix_spec_t spec = {.prefix = "admin", .stock = 10, .max_per_user = 1, .user = "u-1"};
    return it_evfix_new(st, &spec);
}

/* Everything an admin request could have changed. */
typedef struct {
    long long remaining, total, seq, claims;
    char state[16], claim[64];
    long long events, db_events;
} snap_t;

static void snap(it_evfix_t *s, snap_t *p)
{
    memset(p, 0, sizeof *p);
    redisContext *rc = s->fix.redis;
    p->remaining = it_redis_ev_int(rc, s->ev, "remaining", -1);
    p->total = it_redis_ev_int(rc, s->ev, "total", -1);
    p->seq = it_redis_ev_int(rc, s->ev, "seq", -1);
    p->claims = it_redis_claims_count(rc, s->ev);
    char key[128];
    snprintf(key, sizeof key, "tk:{%s}:ev", s->ev);
    redisReply *r = redisCommand(rc, "HGET %s state", key);
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(p->state, sizeof p->state, "%s", r->str);
    if (r != NULL)
        freeReplyObject(r);
    snprintf(key, sizeof key, "tk:{%s}:claims", s->ev);
    r = redisCommand(rc, "HGET %s u-1", key);
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(p->claim, sizeof p->claim, "%s", r->str);
    if (r != NULL)
        freeReplyObject(r);
    r = redisCommand(rc, "SCARD tk:events");
    p->events = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != NULL)
        freeReplyObject(r);
    p->db_events = it_db_int(s->fix.db, 0, "SELECT COUNT(*) FROM events");
}

static void admin_routes_refuse_missing_or_wrong_tokens(void **st)
{
    it_evfix_t *s = *st;
    char p_view[128], p_stock[128], p_state[128], p_cancel[128];
    snprintf(p_view, sizeof p_view, "/v1/admin/events/%s", s->ev);
    snprintf(p_stock, sizeof p_stock, "/v1/admin/events/%s/stock", s->ev);
    snprintf(p_state, sizeof p_state, "/v1/admin/events/%s/state", s->ev);
    snprintf(p_cancel, sizeof p_cancel, "/v1/admin/events/%s/claims/u-1", s->ev);
    const struct {
        const char *method, *path, *body;
    } routes[] = {
        {"POST", "/v1/admin/events", "{\"event_id\":\"sneaky\",\"name\":\"x\",\"stock\":5,\"max_per_user\":1}"},
        {"GET", p_view, NULL},
        {"POST", p_stock, "{\"delta\":100}"},
        {"POST", p_state, "{\"state\":\"closed\"}"},
        {"DELETE", p_cancel, NULL},
    };
    char good[128];
    it_api_auth_header(&s->fix, IT_ADMIN, good);
    char prefix[160]; /* the token minus its last character */
    snprintf(prefix, sizeof prefix, "%s", good);
    prefix[strlen(prefix) - 1] = '\0';
    char longer[200];
    snprintf(longer, sizeof longer, "%sa", good);
    const char *bad_headers[] = {
        NULL, /* none at all */
        "Authorization: Bearer ",
        "Authorization: Bearer wrong",
        prefix,
        longer,
        "Authorization: Basic YWRtaW46YWRtaW4=",
        "Authorization: Token x",
    };
    snap_t before, after;
    snap(s, &before);
    assert_int_equal(before.remaining, 9);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        for (size_t h = 0; h <= sizeof bad_headers / sizeof bad_headers[0]; h++) {
            char url[512];
            snprintf(url, sizeof url, "%s%s", s->fix.gw.base_url, routes[i].path);
            char wrong[128];
            const char *hl = h < sizeof bad_headers / sizeof bad_headers[0] ? bad_headers[h]
                                                                             : it_api_auth_header(&s->fix, IT_BAD_AUTH, wrong);
            const char *headers[] = {hl, NULL};
            it_resp_t r;
            assert_int_equal(it_http(&r, h % 2 ? IT_HTTP2 : IT_HTTP1, routes[i].method, url, hl ? headers : NULL, routes[i].body,
                                     routes[i].body ? strlen(routes[i].body) : 0, IT_TIMEOUT_MS),
                             0);
            if (r.status != 401 || it_resp_error_code(&r) == NULL || strcmp(it_resp_error_code(&r), "unauthorized") != 0)
                fprintf(stderr, "%s %s with [%s]: %ld %s\n", routes[i].method, routes[i].path, hl ? hl : "no header", r.status,
                        r.body ? r.body : r.errbuf);
            assert_int_equal(r.status, 401);
            assert_string_equal(it_resp_error_code(&r), "unauthorized");
            /* Nothing revealed: no event fields in the body. */
            assert_null(json_object_get(r.json, "event"));
            assert_null(json_object_get(r.json, "redis"));
            assert_null(json_object_get(r.json, "remaining"));
            it_resp_free(&r);
        }
    }
    snap(s, &after);
    assert_int_equal(after.remaining, before.remaining);
    assert_int_equal(after.total, before.total);
    assert_int_equal(after.seq, before.seq);
    assert_int_equal(after.claims, before.claims);
    assert_string_equal(after.state, before.state);
    assert_string_equal(after.claim, before.claim);
    assert_int_equal(after.events, before.events);
    assert_int_equal(after.db_events, before.db_events);
    it_resp_t r;
    assert_int_equal(it_apif(&r, &s->fix, IT_NO_AUTH, "GET", NULL, "/v1/events/sneaky"), 0);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);

    /* The real token works on the same request. */
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_ADMIN, "GET", p_view, NULL), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

/* Each of the @n @bodies, POSTed by the admin to /v1/admin/events/<the event>/@what, must answer 400 bad_request. */
static void post_bad_bodies(it_evfix_t *s, const char *what, const char *const *bodies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        it_resp_t r;
        assert_int_equal(it_apif(&r, &s->fix, IT_ADMIN, "POST", bodies[i], "/v1/admin/events/%s/%s", s->ev, what), 0);
        assert_int_equal(r.status, 400);
        assert_string_equal(it_resp_error_code(&r), "bad_request");
        it_resp_free(&r);
    }
}

static void create_event_and_refuse_taken_or_bad(void **st)
{
    it_evfix_t *s = *st;
    it_resp_t r;
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events",
                            "{\"event_id\":\"cookie-day\",\"name\":\"Cookie day\",\"stock\":100,\"max_per_user\":2,"
                            "\"closes_at\":\"2099-01-01T00:00:00.000Z\"}"),
                     0);
    if (r.status != 201)
        fprintf(stderr, "create: %ld %s\n", r.status, r.body ? r.body : r.errbuf);
    assert_int_equal(r.status, 201);
    assert_string_equal(it_json_str(r.json, "event_id"), "cookie-day");
    assert_string_equal(it_json_str(r.json, "name"), "Cookie day");
    assert_string_equal(it_json_str(r.json, "state"), "open");
    assert_int_equal(it_json_int(r.json, "stock_total"), 100);
    assert_int_equal(it_json_int(r.json, "remaining"), 100);
    assert_int_equal(it_json_int(r.json, "max_per_user"), 2);
    assert_string_equal(it_json_str(r.json, "closes_at"), "2099-01-01T00:00:00.000Z");
    it_resp_free(&r);

    /* Listed, readable, and in the database. */
    assert_int_equal(it_apif(&r, &s->fix, IT_NO_AUTH, "GET", NULL, "/v1/events"), 0);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "events");
    assert_true(json_is_array(list));
    int found = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (it_json_str(json_array_get(list, i), "event_id") && strcmp(it_json_str(json_array_get(list, i), "event_id"), "cookie-day") == 0)
            found = 1;
    assert_true(found);
    it_resp_free(&r);
    assert_int_equal(it_db_int(s->fix.db, 0, "SELECT COUNT(*) FROM events WHERE event_id='cookie-day'"), 1);
    assert_int_equal(it_db_int(s->fix.db, -1, "SELECT total FROM event_stock WHERE event_id='cookie-day'"), 100);

    /* Taken id: 409 exists, the event is unchanged. */
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events",
                            "{\"event_id\":\"cookie-day\",\"name\":\"Other\",\"stock\":5,\"max_per_user\":1}"),
                     0);
    assert_int_equal(r.status, 409);
    assert_string_equal(it_resp_error_code(&r), "exists");
    it_resp_free(&r);
    assert_int_equal(it_api_remaining(&s->fix, "cookie-day"), 100);

    static const char *const bad[] = {
        "{",
        "{\"name\":\"x\",\"stock\":5,\"max_per_user\":1}",
        "{\"event_id\":\"Bad-Caps\",\"name\":\"x\",\"stock\":5,\"max_per_user\":1}",
        "{\"event_id\":\"bad id\",\"name\":\"x\",\"stock\":5,\"max_per_user\":1}",
        "{\"event_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"name\":\"x\",\"stock\":5,\"max_per_user\":1}",
        "{\"event_id\":\"bad-stock\",\"name\":\"x\",\"stock\":-1,\"max_per_user\":1}",
        "{\"event_id\":\"bad-stock2\",\"name\":\"x\",\"stock\":\"5\",\"max_per_user\":1}",
        "{\"event_id\":\"bad-mpu\",\"name\":\"x\",\"stock\":5,\"max_per_user\":0}",
        "{\"event_id\":\"bad-time\",\"name\":\"x\",\"stock\":5,\"max_per_user\":1,\"opens_at\":\"tomorrow\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events", bad[i]), 0);
        if (r.status != 400)
            fprintf(stderr, "bad create %s: %ld %s\n", bad[i], r.status, r.body ? r.body : r.errbuf);
        assert_int_equal(r.status, 400);
        assert_string_equal(it_resp_error_code(&r), "bad_request");
        it_resp_free(&r);
    }
    assert_int_equal(it_db_int(s->fix.db, 0, "SELECT COUNT(*) FROM events"), 2);

    /* Bad state and delta bodies: 400, nothing moves. */
    static const char *const bad_state[] = {"{\"state\":\"sold_out\"}", "{\"state\":\"\"}", "{}", "{\"state\":1}"};
    post_bad_bodies(s, "state", bad_state, sizeof bad_state / sizeof bad_state[0]);
    static const char *const bad_delta[] = {"{\"delta\":\"5\"}", "{}", "{\"delta\":1.5}", "{\"delta\":99999999999999999999}"};
    post_bad_bodies(s, "stock", bad_delta, sizeof bad_delta / sizeof bad_delta[0]);
    assert_int_equal(it_redis_ev_int(s->fix.redis, s->ev, "remaining", -1), 9);
    assert_int_equal(it_redis_ev_int(s->fix.redis, s->ev, "total", -1), 10);

    /* Admin routes on an unknown event: 404. */
    assert_int_equal(it_apif(&r, &s->fix, IT_ADMIN, "GET", NULL, "/v1/admin/events/no-such-event"), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(it_resp_error_code(&r), "not_found");
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, &s->fix, IT_ADMIN, "POST", "{\"delta\":1}", "/v1/admin/events/no-such-event/stock"), 0);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);
}

static void admin_view_shows_both_books(void **st)
{
    it_evfix_t *s = *st;
    it_resp_t r;
    assert_int_equal(it_apif(&r, &s->fix, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", s->ev), 0);
    assert_int_equal(r.status, 200);
    json_t *ev = json_object_get(r.json, "event"), *redis = json_object_get(r.json, "redis"), *db = json_object_get(r.json, "database");
    assert_true(json_is_object(ev));
    assert_true(json_is_object(redis));
    assert_true(json_is_object(db));
    assert_string_equal(it_json_str(ev, "event_id"), s->ev);
    assert_int_equal(it_json_int(ev, "stock_total"), 10);
    assert_int_equal(it_json_int(ev, "remaining"), 9);
    assert_int_equal(it_json_int(redis, "granted"), 1);
    assert_int_equal(it_json_int(redis, "remaining"), 9);
    assert_true(it_json_int(redis, "tickets_issued") >= 1);
    /* No worker runs here: the claim is pending, nothing is in the database yet. */
    assert_int_equal(it_json_int(db, "confirmed"), 0);
    assert_int_equal(it_json_int(db, "rejected"), 0);
    assert_int_equal(it_json_int(db, "cancelled"), 0);
    assert_int_equal(it_json_int(r.json, "pending"), 1);
    assert_true(json_is_integer(json_object_get(r.json, "drain_lag_ms")) || json_is_null(json_object_get(r.json, "drain_lag_ms")));
    it_resp_free(&r);

    /* A worker drains it: the books agree. */
    assert_int_equal(it_fix_add_worker(&s->fix, "it-admin-w"), 0);
    assert_int_equal(it_api_wait_drained(&r, &s->fix, s->ev, 60000), 0);
    assert_int_equal(it_json_int(json_object_get(r.json, "redis"), "granted"), 1);
    assert_int_equal(it_json_int(json_object_get(r.json, "database"), "confirmed"), 1);
    it_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(admin_routes_refuse_missing_or_wrong_tokens, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(create_event_and_refuse_taken_or_bad, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(admin_view_shows_both_books, setup, it_evfix_free),
    };
    return cmocka_run_group_tests_name("it_admin", tests, it_group_setup, NULL);
}
