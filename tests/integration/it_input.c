/*
 * it_input: every bad input of API.md's error table gets its status and
 * stable code, and changes nothing: after each, the event's remaining stock,
 * its ticket sequence (tk:{E}:ev seq), its claims in Redis, its stream and
 * the database's claim rows are exactly as before.
 *
 * Every request carries a valid user token (the gateway requires them), so
 * what is refused is the input, not the sender: a case signs for the user
 * its body or path names, or, where it names no valid one, for a user of
 * its own ("u-case-<i>"; one signer for all of them would meet the per-user
 * rate limit, which counts every signed request). The cases marked no_token
 * are the exceptions: API.md 1.1 makes a body without user_id a claim of the
 * token's user, so "no user_id" is bad input only without a token (401).
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
#include "tk_valid.h"

/* The books in the stores, and what the API shows of them. */
typedef struct {
    it_books_t stores;
    long long api_remaining;
} books_t;

/* One event with one claim already made, so "unchanged" has something to hold. */
static int setup(void **st)
{
    static const it_evfix_spec_t spec = {.prefix = "input", .stock = 10, .max_per_user = 2, .user = "u-first"};
    return it_evfix_new(st, &spec);
}

static void books(it_evfix_t *s, books_t *b)
{
    it_books_read(&s->fix, s->ev, &b->stores);
    b->api_remaining = it_api_remaining(&s->fix, s->ev);
}

static void assert_books_equal(const books_t *a, const books_t *b, const char *what)
{
    assert_true(it_books_same(&a->stores, &b->stores, what));
    assert_int_equal(a->api_remaining, b->api_remaining);
}

typedef struct {
    const char *what;
    const char *method;
    const char *path; /* "%s" is the test's event id */
    const char *body; /* NULL: none */
    long status;
    const char *code;
    long alt_status; /* 0, or another acceptable status (with alt_code) where API.md leaves the choice open */
    const char *alt_code;
    int no_token; /* sent without a user token */
} bad_t;

static void run_cases(it_evfix_t *s, const bad_t *cases, size_t n, it_http_ver_t ver)
{
    books_t before, after;
    books(s, &before);
    assert_int_equal(before.stores.remaining, 9);
    assert_int_equal(before.stores.claims, 1);
    for (size_t i = 0; i < n; i++) {
        const bad_t *c = &cases[i];
        char path[512];
        snprintf(path, sizeof path, c->path, s->ev);
        char user[TK_ID_MAX + 1];
        if (strcmp(it_api_user_of(path, c->body, user), IT_USER_DEFAULT) == 0)
            snprintf(user, sizeof user, "u-case-%zu", i);
        it_resp_t r;
        if (c->no_token)
            assert_int_equal(it_api(&r, &s->fix, ver, IT_NO_AUTH, c->method, path, c->body), 0);
        else
            assert_int_equal(it_api_as(&r, &s->fix, ver, user, c->method, path, c->body), 0);
        const char *code = it_resp_error_code(&r);
        int ok = (r.status == c->status && code != NULL && strcmp(code, c->code) == 0) ||
                 (c->alt_status != 0 && r.status == c->alt_status && code != NULL && strcmp(code, c->alt_code) == 0);
        if (!ok)
            fprintf(stderr, "case \"%s\" (%s %s %s): want %ld %s, got %ld %s\n", c->what, c->method, path, c->body ? c->body : "",
                    c->status, c->code, r.status, r.body ? r.body : r.errbuf);
        assert_true(ok);
        assert_non_null(strstr(r.content_type, "application/json"));
        it_resp_free(&r);
        books(s, &after);
        assert_books_equal(&before, &after, c->what);
    }
}

#define CLAIMS "/v1/events/%s/claims"

static const bad_t claim_cases[] = {
    {"malformed JSON", "POST", CLAIMS, "{", 400, "bad_request"},
    {"truncated JSON", "POST", CLAIMS, "{\"user_id\":\"u-1\"", 400, "bad_request"},
    {"empty body", "POST", CLAIMS, "", 400, "bad_request"},
    {"no body", "POST", CLAIMS, NULL, 400, "bad_request"},
    {"array body", "POST", CLAIMS, "[\"u-1\"]", 400, "bad_request"},
    {"string body", "POST", CLAIMS, "\"u-1\"", 400, "bad_request"},
    {"trailing garbage", "POST", CLAIMS, "{\"user_id\":\"u-1\"} x", 400, "bad_request"},
    /* v1 answered these 400; with a token they are the token user's claims (it_tokens covers that). */
    {"missing user_id, no token", "POST", CLAIMS, "{}", 401, "unauthorized", .no_token = 1},
    {"missing user_id, quantity only, no token", "POST", CLAIMS, "{\"quantity\":1}", 401, "unauthorized", .no_token = 1},
    {"empty user_id", "POST", CLAIMS, "{\"user_id\":\"\"}", 400, "bad_request"},
    {"user_id with a space", "POST", CLAIMS, "{\"user_id\":\"u 1\"}", 400, "bad_request"},
    {"user_id with a slash", "POST", CLAIMS, "{\"user_id\":\"u/1\"}", 400, "bad_request"},
    {"user_id with a quote", "POST", CLAIMS, "{\"user_id\":\"u\\\"1\"}", 400, "bad_request"},
    {"user_id with a NUL", "POST", CLAIMS, "{\"user_id\":\"u\\u00001\"}", 400, "bad_request"},
    {"user_id not ASCII", "POST", CLAIMS, "{\"user_id\":\"\xc3\xbc-1\"}", 400, "bad_request"},
    {"user_id of 65 bytes", "POST", CLAIMS,
     "{\"user_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 400, "bad_request"},
    {"user_id a number", "POST", CLAIMS, "{\"user_id\":42}", 400, "bad_request"},
    {"user_id null", "POST", CLAIMS, "{\"user_id\":null}", 400, "bad_request"},
    {"user_id an object", "POST", CLAIMS, "{\"user_id\":{\"id\":\"u-1\"}}", 400, "bad_request"},
    {"quantity 0", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":0}", 400, "bad_request"},
    {"quantity -1", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":-1}", 400, "bad_request"},
    {"quantity a string", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":\"1\"}", 400, "bad_request"},
    {"quantity 1.5", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":1.5}", 400, "bad_request"},
    {"quantity 1.0", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":1.0}", 400, "bad_request"},
    {"quantity true", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":true}", 400, "bad_request"},
    {"quantity huge", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":99999999999999999999999}", 400, "bad_request"},
    {"quantity 2^63", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":9223372036854775808}", 400, "bad_request"},
    {"quantity over the API's maximum", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":1000000}", 400, "bad_request", 409,
     "limit_reached"},
    {"quantity over max_per_user", "POST", CLAIMS, "{\"user_id\":\"u-1\",\"quantity\":3}", 409, "limit_reached"},
    {"unknown event", "POST", "/v1/events/no-such-event/claims", "{\"user_id\":\"u-1\"}", 404, "not_found"},
    {"event id with capitals", "POST", "/v1/events/BAD/claims", "{\"user_id\":\"u-1\"}", 404, "not_found", 400, "bad_request"},
    {"event id of 65 bytes", "POST", "/v1/events/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/claims",
     "{\"user_id\":\"u-1\"}", 404, "not_found", 400, "bad_request"},
    {"unknown route", "POST", "/v1/events/%s/claimz", "{\"user_id\":\"u-1\"}", 404, "not_found"},
    {"unknown route below claims", "POST", "/v1/events/%s/claims/u-1/x", "{\"user_id\":\"u-1\"}", 404, "not_found"},
    {"wrong method on claims", "PUT", CLAIMS, "{\"user_id\":\"u-1\"}", 405, "method_not_allowed"},
    {"wrong method on an event", "DELETE", "/v1/events/%s", NULL, 405, "method_not_allowed"},
    {"wrong method on a claim", "POST", "/v1/events/%s/claims/u-first", "{\"user_id\":\"u-1\"}", 405, "method_not_allowed"},
    {"status of an invalid user id", "GET", "/v1/events/%s/claims/u%%201", NULL, 400, "bad_request", 404, "not_found"},
    {"status of an unknown claim", "GET", "/v1/events/%s/claims/u-nobody", NULL, 404, "not_found"},
    {"unknown event get", "GET", "/v1/events/no-such-event", NULL, 404, "not_found"},
};

static void bad_claims_get_their_code_and_change_nothing(void **st)
{
    run_cases(*st, claim_cases, sizeof claim_cases / sizeof claim_cases[0], IT_HTTP1);
}

static void bad_claims_over_http2_too(void **st)
{
    run_cases(*st, claim_cases, sizeof claim_cases / sizeof claim_cases[0], IT_HTTP2);
}

static void body_over_16k_is_413_and_changes_nothing(void **st)
{
    it_evfix_t *s = *st;
    size_t len = 16 * 1024 + 1;
    char *body = malloc(len + 1);
    assert_non_null(body);
    static const char head[] = "{\"user_id\":\"u-big\",\"pad\":\"";
    memcpy(body, head, sizeof head - 1);
    memset(body + sizeof head - 1, 'a', len - (sizeof head - 1) - 2);
    memcpy(body + len - 2, "\"}", 3);
    const bad_t big[] = {{"body over 16 KiB", "POST", CLAIMS, body, 413, "too_large"}};
    run_cases(s, big, 1, IT_HTTP1);
    run_cases(s, big, 1, IT_HTTP2);
    free(body);
}

/* A good claim after all the bad ones still works and takes the next ticket. */
static void good_claim_after_bad_ones_takes_the_next_ticket(void **st)
{
    it_evfix_t *s = *st;
    run_cases(s, claim_cases, sizeof claim_cases / sizeof claim_cases[0], IT_HTTP1);
    long long seq = it_redis_ev_int(s->fix.redis, s->ev, "seq", -1);
    it_resp_t r;
    assert_int_equal(it_apif(&r, &s->fix, IT_USER, "POST", "{\"user_id\":\"u-1\"}", CLAIMS, s->ev), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(it_json_int(r.json, "ticket"), seq + 1);
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(s->fix.redis, s->ev, "remaining", -1), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bad_claims_get_their_code_and_change_nothing, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(bad_claims_over_http2_too, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(body_over_16k_is_413_and_changes_nothing, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(good_claim_after_bad_ones_takes_the_next_ticket, setup, it_evfix_free),
    };
    return cmocka_run_group_tests_name("it_input", tests, it_group_setup, NULL);
}
