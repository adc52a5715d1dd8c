/*
 * it_wr_access: the waiting room's claim gate (API.md "Waiting room",
 * "Access token"; gateway/queue/gw_access.h), with real Redis and MariaDB.
 *
 * The access tokens are minted here with tk_jwt_mint_typ from the harness's
 * access secret ($TK_IT_DIR/access_token_secret, which every gateway of the
 * run is given: lib/it_proc.c), exactly as gw_access_mint writes them:
 * "aud" the event, "sub" the user, "typ":"access". Until the admin body
 * carries "waiting_room", a room is made by creating an event and setting
 * its ev fields wr 1, wr_ttl 300 in Redis (and events.wr_on = 1 in MariaDB
 * for the fallback).
 *
 * gate_on_redis: on a room event, a user token, another event's access
 * token, an expired one are 403 not_admitted; a forged one (another key),
 * a user token claiming "typ":"access" are 401; each changes nothing
 * (remaining, seq, the claims hash, the stream, the rows). A valid access
 * token claims (201), its retry answers the same claim (200) and takes
 * nothing more; the claim status reads with the access token and with the
 * user token; the access token is no login on the watch route (401).
 *
 * gate_when_sold_out: sold out and known so by the thread (gw_soldout.h),
 * an admitted newcomer is 409 sold_out without the claim script, a claim
 * without an admission still 403 not_admitted (the holder's too), the
 * admitted holder 200 with its claim; those two leave the thread knowing
 * the event is sold out (the next newcomer's 409 is the check's again).
 *
 * no_room: an event without a room claims with a user token as in v1; a
 * valid access token of its own claims too; another event's token is 403.
 *
 * gate_on_fallback: Redis stopped, the granting fallback (MariaDB) keeps the
 * same gate from events.wr_on: a user token 403 not_admitted, no row; a
 * valid access token 201 confirmed, its retry 200 the same ticket, one row.
 *
 * gate_on_readonly_fallback: Redis stopped, the read-only fallback (granting
 * held off): user tokens 403 not_admitted (the holder's too, where it would
 * have read 200; a newcomer, where it would have been 503); the access
 * token reads the holder's claim (200) and a newcomer's is 503; no write.
 *
 * second_gateway_admits_alike: a token minted for the first gateway's fleet
 * claims through a second gateway of the same run (one shared secret).
 *
 * user_auth_off: USER_AUTH=off (v1) still gates a room event: a body
 * user_id without a token 403 not_admitted, with a valid access token 201
 * (body user = sub, else 403 forbidden), another event's token 403.
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
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "lib/it_token.h"
#include "tk_jwt.h"
#include "tk_time.h"

#define TRACK_MS 10000
#define BASE_MS 1000
#define GRANT_MS 10000
#define SVC_MS 60000

static tk_jwt_key_t access_key, forged_key;

static int group_setup(void **st)
{
    if (it_group_setup(st) != 0)
        return -1;
    const char *path = it_access_secret_path();
    char err[256];
    if (path == NULL || tk_jwt_key_load(&access_key, path, err, sizeof err) != 0) {
        fprintf(stderr, "it_wr_access: no access secret: %s\n", path == NULL ? "(none)" : err);
        return -1;
    }
    memset(forged_key.bytes, 'F', 40);
    forged_key.len = 40;
    return 0;
}

static int64_t now_s(void)
{
    return tk_time_now_ms() / 1000;
}

typedef struct {
    char t[TK_JWT_MAX];
} tok_t;

/* An access token for @user on @aud by @k, admitted at @iat, expiring at @exp; @typ NULL: none (a user token's shape). */
static tok_t mint(const tk_jwt_key_t *k, const char *user, const char *aud, int64_t iat, int64_t exp, const char *typ)
{
    tok_t t;
    assert_int_equal(tk_jwt_mint_typ(k, user, iat, exp, NULL, aud, typ, t.t, sizeof t.t), 0);
    return t;
}

static tok_t access_for(const char *user, const char *ev)
{
    return mint(&access_key, user, ev, now_s(), now_s() + 300, TK_JWT_TYP_ACCESS);
}

/* The user token the harness gives @user, as a bare token. */
static tok_t user_token(const it_fix_t *f, const char *user)
{
    char line[IT_AUTH_LINE_MAX];
    assert_non_null(it_api_user_header(f, user, line));
    tok_t t;
    const char *p = strstr(line, "Bearer ");
    assert_non_null(p);
    snprintf(t.t, sizeof t.t, "%s", p + 7);
    return t;
}

static long call(it_resp_t *r, const it_fix_t *f, const tok_t *tok, const char *method, const char *path, const char *body)
{
    char url[1024], line[TK_JWT_MAX + 64];
    snprintf(url, sizeof url, "%s%s", f->gw.base_url, path);
    const char *headers[2] = {NULL, NULL};
    if (tok != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", tok->t);
        headers[0] = line;
    }
    it_http(r, IT_HTTP1, method, url, headers, body, body != NULL ? strlen(body) : 0, IT_TIMEOUT_MS);
    return r->status;
}

static long claim(it_resp_t *r, const it_fix_t *f, const char *ev, const tok_t *tok, int qty)
{
    char path[256], body[64];
    snprintf(path, sizeof path, "/v1/events/%s/claims", ev);
    snprintf(body, sizeof body, "{\"quantity\":%d}", qty);
    return call(r, f, tok, "POST", path, body);
}

/* Asserts @status, the error @code (NULL: none checked) and, when > 0, the claim's @ticket; frees @r. */
static void expect(it_resp_t *r, long status, const char *code, long long ticket, const char *what)
{
    const char *ecode = it_resp_error_code(r);
    if (r->status != status || (code != NULL && (ecode == NULL || strcmp(ecode, code) != 0)) ||
        (ticket > 0 && it_json_int(r->json, "ticket") != ticket)) {
        it_show(what, r);
        fail_msg("%s: expected %ld %s ticket %lld", what, status, code != NULL ? code : "", ticket);
    }
    it_resp_free(r);
}

/* A refused claim on @ev: @status @code, and the books as they were. */
static void refused(const it_fix_t *f, const char *ev, const tok_t *tok, long status, const char *code, const char *what)
{
    it_books_t before, after;
    it_resp_t r;
    it_books_read(f, ev, &before);
    claim(&r, f, ev, tok, 1);
    expect(&r, status, code, 0, what);
    it_books_read(f, ev, &after);
    assert_true(it_books_same(&before, &after, what));
}

/* A fresh event (stock 5, max 2 per user) whose waiting room is on, in Redis (and in MariaDB when @in_db). */
static void room_event(const it_fix_t *f, char *ev, size_t len, const char *prefix, long long max_per_user, int in_db)
{
    it_new_event(f, ev, len, prefix, 5, max_per_user);
    assert_int_equal(it_redis_ev_set(f->redis, ev, "wr", "1"), 0);
    assert_int_equal(it_redis_ev_set(f->redis, ev, "wr_ttl", "300"), 0);
    if (in_db)
        assert_int_equal(it_db_exec(f->db, "UPDATE events SET wr_on = 1, wr_access_ttl_s = 300 WHERE event_id = '%s'", ev), 0);
}

static void gate_on_redis(void **st)
{
    it_fix_t *f = *st;
    char ev[64], other[64];
    room_event(f, ev, sizeof ev, "wra", 2, 0);
    it_new_event(f, other, sizeof other, "wrb", 5, 2);
    tok_t good = access_for("u-a", ev);

    refused(f, ev, (tok_t[]){user_token(f, "u-a")}, 403, "not_admitted", "a user token on a room event");
    refused(f, ev, (tok_t[]){access_for("u-a", other)}, 403, "not_admitted", "another event's access token");
    refused(f, ev, (tok_t[]){mint(&access_key, "u-a", ev, now_s() - 1000, now_s() - 600, TK_JWT_TYP_ACCESS)}, 403, "not_admitted",
            "an expired access token");
    refused(f, ev, (tok_t[]){mint(&forged_key, "u-a", ev, now_s(), now_s() + 300, TK_JWT_TYP_ACCESS)}, 401, "unauthorized",
            "an access token signed by another key");
    refused(f, ev, (tok_t[]){mint(&access_key, "u-a", ev, now_s(), now_s() + 300, NULL)}, 401, "unauthorized",
            "the access key's signature without typ access");
    refused(f, ev, NULL, 401, "unauthorized", "no token");

    /* Admitted: one claim, and a retry answers that claim without taking a second unit. */
    it_resp_t r;
    it_books_t before, after;
    it_books_read(f, ev, &before);
    claim(&r, f, ev, &good, 2);
    expect(&r, 201, NULL, 1, "the admitted claim");
    it_books_read(f, ev, &after);
    assert_int_equal(after.remaining, before.remaining - 2);
    assert_int_equal(after.seq, before.seq + 1);
    assert_int_equal(after.claims, before.claims + 1);
    assert_int_equal(after.stream, before.stream + 1);
    refused(f, ev, &good, 200, NULL, "the admitted claim again");
    claim(&r, f, ev, &good, 2);
    expect(&r, 200, NULL, 1, "the retry answers the same claim");
    /* Still a user token is refused, the holder's own included: the room decides who may claim. */
    refused(f, ev, (tok_t[]){user_token(f, "u-a")}, 403, "not_admitted", "a user token after the admitted claim");
    /* A token of one user claims for that user only. */
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims", ev);
    call(&r, f, &good, "POST", path, "{\"user_id\":\"u-b\",\"quantity\":1}");
    expect(&r, 403, "forbidden", 0, "an access token naming another user in the body");

    /* Status: the access token and the user token both read it; another user's claim is not theirs. */
    snprintf(path, sizeof path, "/v1/events/%s/claims/u-a", ev);
    call(&r, f, &good, "GET", path, NULL);
    expect(&r, 200, NULL, 1, "status with the access token");
    call(&r, f, (tok_t[]){user_token(f, "u-a")}, "GET", path, NULL);
    expect(&r, 200, NULL, 1, "status with the user token");
    call(&r, f, (tok_t[]){access_for("u-a", other)}, "GET", path, NULL);
    expect(&r, 403, "not_admitted", 0, "status with another event's access token");
    snprintf(path, sizeof path, "/v1/events/%s/claims/u-b", ev);
    call(&r, f, &good, "GET", path, NULL);
    expect(&r, 403, "forbidden", 0, "another user's status with an access token");

    /* No login anywhere else. */
    snprintf(path, sizeof path, "/v1/events/%s/watch?wait=0", ev);
    call(&r, f, &good, "GET", path, NULL);
    expect(&r, 401, "unauthorized", 0, "the access token on the watch route");

    assert_true(it_metric(f, "tk_claims_total{result=\"not_admitted\"}") >= 4);
}

/*
 * Sold out, the gate still comes first: once the thread knows the event is
 * sold out (gateway/claims/gw_soldout.h), an admitted newcomer is refused
 * sold_out without the claim script, but a claim without an admission is
 * 403 not_admitted, the holder's included, and the admitted holder gets its
 * claim (200), as claim.lua answers them.
 */
static void gate_when_sold_out(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    room_event(f, ev, sizeof ev, "wrs", 2, 0);
    tok_t a = access_for("u-a", ev), b = access_for("u-b", ev), c = access_for("u-c", ev), d = access_for("u-d", ev);
    it_resp_t r;
    claim(&r, f, ev, &a, 2);
    expect(&r, 201, NULL, 1, "u-a's claim");
    claim(&r, f, ev, &b, 2);
    expect(&r, 201, NULL, 2, "u-b's claim");
    claim(&r, f, ev, &c, 1);
    expect(&r, 201, NULL, 3, "u-c's claim, the last unit");
    claim(&r, f, ev, &d, 1);
    expect(&r, 409, "sold_out", 0, "sold out");
    long long local0 = it_metric(f, "tk_claim_soldout_local_total");
    for (int i = 0; i < 3; i++) {
        char u[16];
        snprintf(u, sizeof u, "u-n%d", i);
        tok_t n = access_for(u, ev);
        claim(&r, f, ev, &n, 1);
        expect(&r, 409, "sold_out", 0, "an admitted newcomer");
        refused(f, ev, (tok_t[]){user_token(f, u)}, 403, "not_admitted", "a newcomer without an admission");
        refused(f, ev, (tok_t[]){user_token(f, "u-a")}, 403, "not_admitted", "the holder without an admission");
        claim(&r, f, ev, &a, 2);
        expect(&r, 200, NULL, 1, "the admitted holder");
    }
    /* Every newcomer's 409 came from the check: the claims refused by the gate or answered
     * 200 went to claim.lua without making the thread forget the event is sold out. */
    assert_int_equal(it_metric(f, "tk_claim_soldout_local_total") - local0, 3);
}

static void no_room(void **st)
{
    it_fix_t *f = *st;
    char ev[64], other[64];
    it_new_event(f, ev, sizeof ev, "wrn", 5, 1);
    it_new_event(f, other, sizeof other, "wro", 5, 1);
    it_resp_t r;
    claim(&r, f, ev, (tok_t[]){user_token(f, "u-1")}, 1);
    expect(&r, 201, NULL, 1, "a user token on an event without a room");
    claim(&r, f, ev, (tok_t[]){access_for("u-2", ev)}, 1);
    expect(&r, 201, NULL, 2, "a valid access token of its own event without a room");
    refused(f, ev, (tok_t[]){access_for("u-3", other)}, 403, "not_admitted", "another event's access token, no room");
}

static void gate_on_fallback(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    room_event(f, ev, sizeof ev, "wrf", 1, 1);
    tok_t good = access_for("u-f", ev);
    it_resp_t r;
    /* Tracked at once (a claim sent to Redis, refused: nothing drawn), then watermarks with an empty stream. */
    claim(&r, f, ev, &good, 2);
    expect(&r, 409, "limit_reached", 0, "an admitted claim above max_per_user");
    assert_int_equal(it_wait_tracked(f, ev, TRACK_MS), 0);
    assert_int_equal(it_wait_watermarks(f, 3, BASE_MS, TRACK_MS), 0);

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(it_wait_path(f, "Redis stopped", NULL, "grant", GRANT_MS, NULL, 0, NULL), 0);

    claim(&r, f, ev, (tok_t[]){user_token(f, "u-f")}, 1);
    expect(&r, 403, "not_admitted", 0, "fallback: a user token on a room event");
    claim(&r, f, ev, (tok_t[]){user_token(f, "u-g")}, 1);
    expect(&r, 403, "not_admitted", 0, "fallback: a user token of another user");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", ev), 0);

    claim(&r, f, ev, &good, 1);
    expect(&r, 201, NULL, 1, "fallback: the admitted claim");
    claim(&r, f, ev, &good, 1);
    expect(&r, 200, NULL, 1, "fallback: its retry");
    claim(&r, f, ev, (tok_t[]){user_token(f, "u-f")}, 1);
    expect(&r, 403, "not_admitted", 0, "fallback: the holder's user token");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", ev), 1);
}

static int fix_readonly(void **st)
{
    /* Granting held off for this gateway: only the read-only fallback answers while Redis is away. */
    setenv("FALLBACK_AFTER_MS", "600000", 1);
    int rc = it_fix_new1(st);
    setenv("FALLBACK_AFTER_MS", "300", 1);
    return rc;
}

static void gate_on_readonly_fallback(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    room_event(f, ev, sizeof ev, "wrr", 1, 1);
    tok_t holder = access_for("u-r", ev), newcomer = access_for("u-s", ev);
    it_resp_t r;
    claim(&r, f, ev, &holder, 1);
    expect(&r, 201, NULL, 1, "the admitted claim before the outage");
    assert_int_equal(it_api_wait_drained(&r, f, ev, 60000), 0);
    it_resp_free(&r);
    long long deadline = it_now_ms() + 60000;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev) != 1 && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 1);

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    claim(&r, f, ev, (tok_t[]){user_token(f, "u-r")}, 1);
    expect(&r, 403, "not_admitted", 0, "read-only: the holder's user token");
    claim(&r, f, ev, (tok_t[]){user_token(f, "u-s")}, 1);
    expect(&r, 403, "not_admitted", 0, "read-only: a newcomer's user token");
    claim(&r, f, ev, &holder, 1);
    expect(&r, 200, NULL, 1, "read-only: the holder's access token");
    claim(&r, f, ev, &newcomer, 1);
    expect(&r, 503, "unavailable", 0, "read-only: a newcomer's access token");
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims/u-r", ev);
    call(&r, f, (tok_t[]){user_token(f, "u-r")}, "GET", path, NULL);
    expect(&r, 200, NULL, 1, "read-only: the status with the user token");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", ev), 1);
}

static void second_gateway_admits_alike(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    room_event(f, ev, sizeof ev, "wr2", 1, 0);
    it_fix_t f2 = *f; /* the same stores, a second gateway */
    assert_int_equal(it_gateway_start(&f2.gw, IT_READY_MS), 0);
    it_resp_t r;
    claim(&r, &f2, ev, (tok_t[]){access_for("u-2", ev)}, 1);
    expect(&r, 201, NULL, 1, "an access token through the second gateway");
    claim(&r, f, ev, (tok_t[]){access_for("u-2", ev)}, 1);
    expect(&r, 200, NULL, 1, "its retry through the first");
    claim(&r, &f2, ev, (tok_t[]){user_token(&f2, "u-3")}, 1);
    expect(&r, 403, "not_admitted", 0, "a user token through the second gateway");
    assert_int_equal(it_proc_stop(&f2.gw.proc, IT_STOP_MS), 0);
}

static int fix_auth_off(void **st)
{
    return it_fix_new0_env(st, "USER_AUTH", "off");
}

static void user_auth_off(void **st)
{
    it_fix_t *f = *st;
    char ev[64], other[64];
    room_event(f, ev, sizeof ev, "wrx", 1, 0);
    it_new_event(f, other, sizeof other, "wry", 5, 1);
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims", ev);
    it_books_t before, after;
    it_books_read(f, ev, &before);
    it_resp_t r;
    call(&r, f, NULL, "POST", path, "{\"user_id\":\"u-o\",\"quantity\":1}");
    expect(&r, 403, "not_admitted", 0, "USER_AUTH=off: a body user without a token");
    call(&r, f, (tok_t[]){access_for("u-o", other)}, "POST", path, "{\"user_id\":\"u-o\",\"quantity\":1}");
    expect(&r, 403, "not_admitted", 0, "USER_AUTH=off: another event's access token");
    call(&r, f, (tok_t[]){access_for("u-o", ev)}, "POST", path, "{\"user_id\":\"u-p\",\"quantity\":1}");
    expect(&r, 403, "forbidden", 0, "USER_AUTH=off: an access token for another body user");
    it_books_read(f, ev, &after);
    assert_true(it_books_same(&before, &after, "USER_AUTH=off refusals"));
    call(&r, f, (tok_t[]){access_for("u-o", ev)}, "POST", path, "{\"user_id\":\"u-o\",\"quantity\":1}");
    expect(&r, 201, NULL, 1, "USER_AUTH=off: the access token");
    /* An event without a room is v1: the body's user, no token. */
    snprintf(path, sizeof path, "/v1/events/%s/claims", other);
    call(&r, f, NULL, "POST", path, "{\"user_id\":\"u-o\",\"quantity\":1}");
    expect(&r, 201, NULL, 1, "USER_AUTH=off: no room, no token");
}

int main(void)
{
    /* The granting fallback takes over after 300 ms of Redis away (the gateway inherits the environment). */
    if (setenv("FALLBACK_AFTER_MS", "300", 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(gate_on_redis, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(gate_when_sold_out, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(no_room, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(gate_on_fallback, it_fix_new0, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(gate_on_readonly_fallback, fix_readonly, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(second_gateway_admits_alike, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(user_auth_off, fix_auth_off, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_wr_access", tests, group_setup, NULL);
}
