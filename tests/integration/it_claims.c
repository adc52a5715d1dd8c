/*
 * it_claims: the claim pipeline end to end (gateway, Redis claim script,
 * workers, MariaDB): an exact sell-out under concurrency, ticket order,
 * idempotent retries, the per-user limit, restock, pause/close, the
 * scheduled window (judged when the claim's batch leaves, not when Redis
 * runs it), and cancel.
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
#include "lib/it_proc.h"
#include "lib/it_raw.h"
#include "lib/it_redis.h"
#include "tk_lua.h"
#include "tk_time.h"

#include <signal.h>
#include <unistd.h>

#define DRAIN_MS 60000

static void assert_error(const it_resp_t *r, long status, const char *code)
{
    if (r->status != status || it_resp_error_code(r) == NULL || strcmp(it_resp_error_code(r), code) != 0)
        it_show(code, r);
    assert_int_equal(r->status, status);
    assert_non_null(it_resp_error_code(r));
    assert_string_equal(it_resp_error_code(r), code);
}

/* A claim that must be refused with @status and error @code; the answer is freed. */
static void claim_refused(const it_fix_t *f, const char *ev, const char *user, int quantity, long status, const char *code)
{
    it_resp_t r;
    assert_int_equal(it_claim(&r, f, ev, user, quantity), status);
    assert_error(&r, status, code);
    it_resp_free(&r);
}

static void assert_claim_body(const it_resp_t *r, const char *event_id, const char *user_id, long long quantity)
{
    assert_non_null(r->json);
    assert_string_equal(it_json_str(r->json, "event_id"), event_id);
    assert_string_equal(it_json_str(r->json, "user_id"), user_id);
    assert_int_equal(it_json_int(r->json, "quantity"), quantity);
    assert_true(it_json_int(r->json, "ticket") >= 1);
    char want[128];
    snprintf(want, sizeof want, "c-%s-%lld", event_id, it_json_int(r->json, "ticket"));
    assert_string_equal(it_json_str(r->json, "claim_id"), want);
    assert_non_null(it_json_str(r->json, "status"));
    assert_non_null(it_json_str(r->json, "created_at"));
    int64_t ms;
    assert_int_equal(tk_time_parse_rfc3339(it_json_str(r->json, "created_at"), &ms), 0);
}

/* GET /v1/events/{id}: remaining, and the state into @state (32 bytes) when not NULL. */
static long long event_remaining(const it_fix_t *f, const char *event_id, char *state)
{
    it_resp_t r;
    long long v = -1;
    if (it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", event_id) == 0 && r.status == 200) {
        v = it_json_int(r.json, "remaining");
        if (state != NULL)
            snprintf(state, 32, "%s", it_json_str(r.json, "state") ? it_json_str(r.json, "state") : "?");
    } else {
        it_show("GET event", &r);
    }
    it_resp_free(&r);
    return v;
}

/* ------------------------------------------------------- exact sell-out */

typedef struct {
    char url[256];
    char body[128];
    int user; /* index */
} claim_req_t;

static unsigned int lcg(unsigned int *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void sell_out_is_exact_under_concurrency(void **st)
{
    it_fix_t *f = *st;
    enum { STOCK = 500, USERS = 5000, PARALLEL = 64 };
    char ev[64];
    it_new_event(f, ev, sizeof ev, "sellout", STOCK, 1);

    /* Every tenth user sends the claim twice; the order is shuffled so some retries race their first try. */
    size_t n = USERS + USERS / 10;
    claim_req_t *cr = calloc(n, sizeof *cr);
    it_multi_req_t *mr = calloc(n, sizeof *mr);
    assert_non_null(cr);
    assert_non_null(mr);
    for (size_t i = 0; i < n; i++) {
        int u = i < USERS ? (int)i : (int)(i - USERS) * 10;
        cr[i].user = u;
        snprintf(cr[i].url, sizeof cr[i].url, "%s/v1/events/%s/claims", f->gw.base_url, ev);
        snprintf(cr[i].body, sizeof cr[i].body, "{\"user_id\":\"u-%05d\",\"quantity\":1}", u);
    }
    unsigned int seed = 42;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = ((size_t)lcg(&seed) << 15 | lcg(&seed)) % (i + 1);
        claim_req_t t = cr[i];
        cr[i] = cr[j];
        cr[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        mr[i].method = "POST";
        mr[i].url = cr[i].url;
        mr[i].body = cr[i].body;
    }
    it_multi_auth_t auth;
    assert_int_equal(it_multi_sign(&auth, f, mr, n, NULL), 0);
    size_t answered = it_http_multi(mr, n, PARALLEL, IT_HTTP1, 180000);
    it_multi_auth_free(&auth);
    assert_int_equal(answered, n);

    /* Per user: the ticket of its 201, or 0. */
    long long *granted_ticket = calloc(USERS, sizeof *granted_ticket);
    char (*granted_id)[128] = calloc(USERS, sizeof *granted_id);
    unsigned char *seen_ticket = calloc(USERS * 2 + 1, 1);
    assert_non_null(granted_ticket);
    assert_non_null(granted_id);
    assert_non_null(seen_ticket);
    size_t created = 0, sold_out = 0, repeats = 0;
    for (size_t i = 0; i < n; i++) {
        it_resp_t *r = &mr[i].resp;
        if (r->status != 201 && r->status != 200 && r->status != 409)
            it_show("unexpected claim answer", r);
        assert_true(r->status == 201 || r->status == 200 || r->status == 409);
        int u = cr[i].user;
        if (r->status == 201) {
            char uid[16];
            snprintf(uid, sizeof uid, "u-%05d", u);
            assert_claim_body(r, ev, uid, 1);
            assert_int_equal(granted_ticket[u], 0); /* never granted twice */
            long long t = it_json_int(r->json, "ticket");
            assert_true(t >= 1 && t <= USERS * 2);
            assert_int_equal(seen_ticket[t], 0); /* no ticket handed out twice */
            seen_ticket[t] = 1;
            granted_ticket[u] = t;
            snprintf(granted_id[u], sizeof granted_id[u], "%s", it_json_str(r->json, "claim_id"));
            assert_true(strlen(r->location) > 0);
            created++;
        } else if (r->status == 409) {
            assert_error(r, 409, "sold_out");
            sold_out++;
        }
    }
    /* A 200 is the user's own claim, made by its other request. */
    for (size_t i = 0; i < n; i++) {
        it_resp_t *r = &mr[i].resp;
        if (r->status != 200)
            continue;
        int u = cr[i].user;
        assert_true(granted_ticket[u] > 0);
        assert_int_equal(it_json_int(r->json, "ticket"), granted_ticket[u]);
        assert_string_equal(it_json_str(r->json, "claim_id"), granted_id[u]);
        repeats++;
    }
    fprintf(stderr, "sell-out: %zu requests, %zu created, %zu repeats, %zu sold out\n", n, created, repeats, sold_out);
    assert_int_equal(created, STOCK);
    assert_int_equal(created + repeats + sold_out, n);

    char state[32];
    assert_int_equal(event_remaining(f, ev, state), 0);
    assert_string_equal(state, "sold_out");
    assert_int_equal(it_redis_ev_int(f->redis, ev, "remaining", -1), 0);
    assert_int_equal(it_redis_claims_count(f->redis, ev), STOCK);

    /* The drain: every grant confirmed exactly once in MariaDB. */
    it_resp_t v;
    int drained = it_api_wait_drained(&v, f, ev, DRAIN_MS);
    if (drained != 0)
        it_show("admin view after the drain deadline", &v);
    assert_int_equal(drained, 0);
    json_t *redis = json_object_get(v.json, "redis"), *db = json_object_get(v.json, "database");
    assert_int_equal(it_json_int(redis, "granted"), STOCK);
    assert_int_equal(it_json_int(redis, "remaining"), 0);
    assert_int_equal(it_json_int(db, "confirmed"), STOCK);
    assert_int_equal(it_json_int(db, "rejected"), 0);
    assert_int_equal(it_json_int(db, "cancelled"), 0);
    assert_true(it_json_int(redis, "tickets_issued") >= STOCK);
    it_resp_free(&v);

    assert_int_equal(it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s'", ev), STOCK);
    assert_int_equal(it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND status='confirmed'", ev), STOCK);
    assert_int_equal(it_db_int(f->db, 0, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id='%s'", ev), STOCK);
    assert_int_equal(it_db_int(f->db, 0, "SELECT SUM(quantity) FROM claims WHERE event_id='%s'", ev), STOCK);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", ev), STOCK);
    assert_int_equal(it_db_int(f->db, -1, "SELECT total FROM event_stock WHERE event_id='%s'", ev), STOCK);

    /* Each granted user's row has its ticket and claim id, and the API says confirmed. */
    int checked = 0;
    for (int u = 0; u < USERS && checked < 20; u++) {
        if (granted_ticket[u] == 0)
            continue;
        assert_int_equal(it_db_int(f->db, -1, "SELECT ticket FROM claims WHERE event_id='%s' AND user_id='u-%05d' AND claim_id='%s'",
                                   ev, u, granted_id[u]),
                         granted_ticket[u]);
        it_resp_t r;
        assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/u-%05d", ev, u), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(it_json_str(r.json, "status"), "confirmed");
        assert_string_equal(it_json_str(r.json, "claim_id"), granted_id[u]);
        it_resp_free(&r);
        checked++;
    }

    for (size_t i = 0; i < n; i++)
        it_resp_free(&mr[i].resp);
    free(granted_ticket);
    free(granted_id);
    free(seen_ticket);
    free(cr);
    free(mr);
}

/* ---------------------------------------------------------- ticket order */

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void tickets_granted_are_one_to_stock(void **st)
{
    it_fix_t *f = *st;
    enum { STOCK = 50, USERS = 300, PARALLEL = 32 };
    char ev[64];
    it_new_event(f, ev, sizeof ev, "order", STOCK, 1);
    claim_req_t *cr = calloc(USERS, sizeof *cr);
    it_multi_req_t *mr = calloc(USERS, sizeof *mr);
    assert_non_null(cr);
    assert_non_null(mr);
    for (int i = 0; i < USERS; i++) {
        snprintf(cr[i].url, sizeof cr[i].url, "%s/v1/events/%s/claims", f->gw.base_url, ev);
        snprintf(cr[i].body, sizeof cr[i].body, "{\"user_id\":\"o-%d\"}", i);
        mr[i].method = "POST";
        mr[i].url = cr[i].url;
        mr[i].body = cr[i].body;
    }
    /* Over HTTP/2 this time. */
    it_multi_auth_t auth;
    assert_int_equal(it_multi_sign(&auth, f, mr, USERS, NULL), 0);
    assert_int_equal(it_http_multi(mr, USERS, PARALLEL, IT_HTTP2, 120000), USERS);
    it_multi_auth_free(&auth);
    long long tickets[STOCK];
    int g = 0;
    for (int i = 0; i < USERS; i++) {
        it_resp_t *r = &mr[i].resp;
        assert_int_equal(r->http_version, CURL_HTTP_VERSION_2_0);
        if (r->status == 201) {
            assert_true(g < STOCK);
            tickets[g++] = it_json_int(r->json, "ticket");
        } else {
            assert_error(r, 409, "sold_out");
        }
        it_resp_free(r);
    }
    assert_int_equal(g, STOCK);
    qsort(tickets, STOCK, sizeof tickets[0], cmp_ll);
    for (int i = 0; i < STOCK; i++)
        assert_int_equal(tickets[i], i + 1);
    free(cr);
    free(mr);
}

/* --------------------------------------------------------------- retries */

static void retry_is_idempotent(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "retry", 10, 1);
    it_resp_t r1, r2, r3;
    assert_int_equal(it_claim(&r1, f, ev, "u-1", 0), 201);
    assert_claim_body(&r1, ev, "u-1", 1);
    assert_string_equal(it_json_str(r1.json, "status"), "pending");
    assert_non_null(strstr(r1.location, "/v1/events/"));
    assert_non_null(strstr(r1.location, "/claims/u-1"));
    assert_int_equal(event_remaining(f, ev, NULL), 9);

    assert_int_equal(it_claim(&r2, f, ev, "u-1", 1), 200);
    assert_claim_body(&r2, ev, "u-1", 1);
    assert_string_equal(it_json_str(r2.json, "claim_id"), it_json_str(r1.json, "claim_id"));
    assert_int_equal(it_json_int(r2.json, "ticket"), it_json_int(r1.json, "ticket"));
    assert_int_equal(event_remaining(f, ev, NULL), 9);

    /* Over HTTP/2 too, and the status route shows the same claim. */
    char body[64];
    snprintf(body, sizeof body, "{\"user_id\":\"u-1\"}");
    char path[128];
    snprintf(path, sizeof path, "/v1/events/%s/claims", ev);
    assert_int_equal(it_api(&r3, f, IT_HTTP2, IT_USER, "POST", path, body), 0);
    assert_int_equal(r3.status, 200);
    assert_int_equal(it_json_int(r3.json, "ticket"), it_json_int(r1.json, "ticket"));
    it_resp_free(&r3);
    assert_int_equal(it_apif(&r3, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/u-1", ev), 0);
    assert_int_equal(r3.status, 200);
    assert_string_equal(it_json_str(r3.json, "claim_id"), it_json_str(r1.json, "claim_id"));
    it_resp_free(&r3);

    assert_int_equal(event_remaining(f, ev, NULL), 9);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "remaining", -1), 9);
    assert_int_equal(it_redis_claims_count(f->redis, ev), 1);
    assert_int_equal(it_redis_xlen(f->redis, ev), 1); /* no worker here: one stream entry, not three */
    it_resp_free(&r1);
    it_resp_free(&r2);

    /* A user with no claim: 404. */
    assert_int_equal(it_apif(&r3, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/u-none", ev), 0);
    assert_error(&r3, 404, "not_found");
    it_resp_free(&r3);
}

/* ---------------------------------------------------------- max per user */

static void max_per_user_is_enforced(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "limit", 10, 2);
    it_resp_t r;
    claim_refused(f, ev, "u-1", 3, 409, "limit_reached");
    assert_int_equal(event_remaining(f, ev, NULL), 10);
    assert_int_equal(it_redis_claims_count(f->redis, ev), 0);
    assert_int_equal(it_redis_xlen(f->redis, ev), 0);

    assert_int_equal(it_claim(&r, f, ev, "u-1", 2), 201);
    assert_claim_body(&r, ev, "u-1", 2);
    it_resp_free(&r);
    assert_int_equal(event_remaining(f, ev, NULL), 8);

    /* The user holds max_per_user units: another request returns the same claim, takes nothing. */
    assert_int_equal(it_claim(&r, f, ev, "u-1", 1), 200);
    assert_int_equal(it_json_int(r.json, "quantity"), 2);
    it_resp_free(&r);
    assert_int_equal(event_remaining(f, ev, NULL), 8);

    /* max_per_user 1: quantity 2 is over the limit. */
    char ev1[64];
    it_new_event(f, ev1, sizeof ev1, "limit1", 10, 1);
    claim_refused(f, ev1, "u-1", 2, 409, "limit_reached");
    assert_int_equal(event_remaining(f, ev1, NULL), 10);
    assert_int_equal(it_redis_claims_count(f->redis, ev1), 0);
}

/* ---------------------------------------------------------------- restock */

static long post_admin(it_resp_t *r, const it_fix_t *f, const char *body, const char *fmt, const char *ev)
{
    it_apif(r, f, IT_ADMIN, "POST", body, fmt, ev);
    return r->status;
}

static void restock_raises_and_never_goes_below_granted(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "restock", 2, 1);
    it_resp_t r;
    it_claim_expect(f, ev, "u-1", 0, 201);
    it_claim_expect(f, ev, "u-2", 0, 201);
    claim_refused(f, ev, "u-3", 0, 409, "sold_out");

    assert_int_equal(post_admin(&r, f, "{\"delta\":10}", "/v1/admin/events/%s/stock", ev), 200);
    assert_int_equal(it_json_int(r.json, "stock_total"), 12);
    assert_int_equal(it_json_int(r.json, "remaining"), 10);
    it_resp_free(&r);
    assert_int_equal(event_remaining(f, ev, NULL), 10);
    it_claim_expect(f, ev, "u-3", 0, 201);
    assert_int_equal(event_remaining(f, ev, NULL), 9);

    /* 3 granted of 12: taking 10 away would leave 2 < 3 granted. */
    long st2 = post_admin(&r, f, "{\"delta\":-10}", "/v1/admin/events/%s/stock", ev);
    if (st2 != 409 && st2 != 400)
        it_show("restock below granted", &r);
    assert_true(st2 == 409 || st2 == 400);
    assert_non_null(it_resp_error_code(&r));
    it_resp_free(&r);
    assert_int_equal(event_remaining(f, ev, NULL), 9);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "total", -1), 12);

    /* Down to exactly what is granted is allowed: then sold out. */
    assert_int_equal(post_admin(&r, f, "{\"delta\":-9}", "/v1/admin/events/%s/stock", ev), 200);
    assert_int_equal(it_json_int(r.json, "stock_total"), 3);
    assert_int_equal(it_json_int(r.json, "remaining"), 0);
    it_resp_free(&r);
    claim_refused(f, ev, "u-4", 0, 409, "sold_out");
}

/* ------------------------------------------------------ pause and close */

static void pause_and_close_refuse_claims(void **st)
{
    it_fix_t *f = *st;
    char ev[64], state[32];
    it_new_event(f, ev, sizeof ev, "pause", 5, 1);

    it_admin_set_state(f, ev, "paused");
    assert_int_equal(event_remaining(f, ev, state), 5);
    assert_string_equal(state, "paused");
    claim_refused(f, ev, "u-1", 0, 403, "paused");
    assert_int_equal(it_redis_claims_count(f->redis, ev), 0);

    it_admin_set_state(f, ev, "open");
    it_claim_expect(f, ev, "u-1", 0, 201);

    it_admin_set_state(f, ev, "closed");
    assert_int_equal(event_remaining(f, ev, state), 4);
    assert_string_equal(state, "closed");
    claim_refused(f, ev, "u-2", 0, 403, "closed");
    assert_int_equal(event_remaining(f, ev, NULL), 4);
    assert_int_equal(it_redis_claims_count(f->redis, ev), 1);
}

static void scheduled_window_is_enforced(void **st)
{
    it_fix_t *f = *st;
    char ev[64], state[32];
    long long now = tk_time_now_ms();

    it_event_id(ev, sizeof ev, "later");
    assert_int_equal(it_api_create_event(f, ev, 5, 1, now + 3600 * 1000LL, 0), 201);
    assert_int_equal(event_remaining(f, ev, state), 5);
    assert_string_equal(state, "scheduled");
    claim_refused(f, ev, "u-1", 0, 403, "not_open");
    assert_int_equal(it_redis_claims_count(f->redis, ev), 0);

    /* Open now, closing in two seconds. */
    char ev2[64];
    it_event_id(ev2, sizeof ev2, "window");
    long long closes = now + 2000;
    assert_int_equal(it_api_create_event(f, ev2, 5, 1, now - 3600 * 1000LL, closes), 201);
    it_claim_expect(f, ev2, "u-1", 0, 201);
    while (tk_time_now_ms() < closes + 300)
        it_sleep_ms(50);
    claim_refused(f, ev2, "u-2", 0, 403, "closed");
    assert_int_equal(event_remaining(f, ev2, state), 4);
    assert_string_equal(state, "closed");
}

/* ----------------------------------------------------------------- cancel */

static void cancel_returns_stock(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "cancel", 3, 1);
    it_resp_t r, c;
    assert_int_equal(it_claim(&c, f, ev, "u-1", 0), 201);
    it_claim_expect(f, ev, "u-2", 0, 201);
    assert_int_equal(event_remaining(f, ev, NULL), 1);

    assert_int_equal(it_apif(&r, f, IT_ADMIN, "DELETE", NULL, "/v1/admin/events/%s/claims/u-1", ev), 0);
    if (r.status != 200)
        it_show("cancel", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "status"), "cancelled");
    assert_string_equal(it_json_str(r.json, "claim_id"), it_json_str(c.json, "claim_id"));
    it_resp_free(&r);
    assert_int_equal(event_remaining(f, ev, NULL), 2);

    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/u-1", ev), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "status"), "cancelled");
    it_resp_free(&r);

    /* Cancelling a claim that does not exist: 404, nothing moves. */
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "DELETE", NULL, "/v1/admin/events/%s/claims/u-none", ev), 0);
    assert_error(&r, 404, "not_found");
    it_resp_free(&r);
    assert_int_equal(event_remaining(f, ev, NULL), 2);

    it_resp_t v;
    int drained = it_api_wait_drained(&v, f, ev, DRAIN_MS);
    if (drained != 0)
        it_show("admin view", &v);
    assert_int_equal(drained, 0);
    it_resp_free(&v);
    /* The row may take a moment more to show cancelled when the cancel raced the drain. */
    long long deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND user_id='u-1' AND status='cancelled'", ev) != 1 &&
           it_now_ms() < deadline)
        it_sleep_ms(100);
    assert_int_equal(
        it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND user_id='u-1' AND status='cancelled'", ev), 1);
    assert_int_equal(
        it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND user_id='u-2' AND status='confirmed'", ev), 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", ev), 1);
    it_resp_free(&c);
}

/* ------------------------------------------------ judged when read */

/* HTTP/1.1 claims of users @prefix00.. on @ev, one connection each (fds[i]), the requests in req[i] (not yet sent). */
static void raw_claims(const it_fix_t *f, const char *ev, const char *prefix, int n, char (*req)[IT_AUTH_LINE_MAX + 512],
                       int *fds)
{
    for (int i = 0; i < n; i++) {
        char user[16], auth[IT_AUTH_LINE_MAX], body[64];
        snprintf(user, sizeof user, "%s%02d", prefix, i);
        assert_non_null(it_api_user_header(f, user, auth));
        int blen = snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", user);
        snprintf(req[i], sizeof req[i],
                 "POST /v1/events/%s/claims HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n%s",
                 ev, auth, blen, body);
        assert_true((fds[i] = it_raw_connect(f->gw.http_port)) >= 0);
    }
}

/*
 * A claim is judged by the gateway's clock when its batch leaves (claim.lua's
 * ARGV[1], a loop turn after it was read), not when Redis gets to it: with
 * Redis frozen across the opening (SIGSTOP, below the 3 s stall rule), A and
 * B, read before opens, are refused not_open although Redis ran their calls
 * after it, and C, read after, gets ticket 1. A guard for any change to when
 * batches leave: a build that held B's batch behind A's call in flight until
 * A's reply, and stamped it then, granted B ticket 1, ahead of C.
 */
static void a_claim_read_before_the_opening_is_refused_when_redis_runs_it_after(void **st)
{
    it_fix_t *f = *st;
    enum { N = 3 };
    char ev[64], req[N][IT_AUTH_LINE_MAX + 512];
    int fds[N], status[N];
    long long tickets[N];
    int64_t opens = tk_time_now_ms() + 1500;
    it_event_id(ev, sizeof ev, "opening");
    assert_int_equal(it_api_create_event(f, ev, 10, 1, opens, 0), 201);
    raw_claims(f, ev, "w", N, req, fds);
    while (tk_time_now_ms() < opens - 400)
        usleep(1000);
    pid_t rp = it_service_pid("redis/redis.pid");
    assert_true(rp > 0);
    assert_int_equal(kill(rp, SIGSTOP), 0);
    it_raw_send(fds[0], req[0], strlen(req[0]));
    usleep(200 * 1000);
    it_raw_send(fds[1], req[1], strlen(req[1]));
    while (tk_time_now_ms() < opens + 100)
        usleep(1000);
    it_raw_send(fds[2], req[2], strlen(req[2]));
    usleep(100 * 1000);
    assert_int_equal(kill(rp, SIGCONT), 0);
    for (int i = 0; i < N; i++) {
        char buf[4096];
        status[i] = it_raw_response(fds[i], buf, sizeof buf, 10000);
        const char *t = strstr(buf, "\"ticket\":"), *body = strstr(buf, "\r\n\r\n");
        tickets[i] = t != NULL ? strtoll(t + 9, NULL, 10) : 0;
        fprintf(stderr, "claim %c: %d %s\n", 'A' + i, status[i], body != NULL ? body + 4 : buf);
        close(fds[i]);
    }
    assert_int_equal(status[0], 403);
    assert_int_equal(status[1], 403);
    assert_int_equal(status[2], 201);
    assert_int_equal(tickets[2], 1);
}

/* HGET @key @field, as text ("" when absent), into @out. */
static void hget_str(redisContext *rc, const char *key, const char *field, char *out, size_t len)
{
    redisReply *x = redisCommand(rc, "HGET %s %s", key, field);
    assert_non_null(x);
    snprintf(out, len, "%s", x->type == REDIS_REPLY_STRING ? x->str : "");
    freeReplyObject(x);
}

/*
 * claim.lua writes every number as plain digits: the records, the packed
 * entry and the event hash are text other programs parse (the workers, the
 * status lookup, the rebuild). It formats them with string.format('%d')
 * (Lua's own number-to-string is '%.14g', dear in glibc: issue 16), so a
 * ticket past 10^14 is "100000000000000", where '%.14g' wrote "1e+14" (and
 * every reader would have taken ticket 1). Called directly, on keys no
 * gateway or worker knows (not listed in tk:events, not in MariaDB).
 */
static void claim_script_writes_numbers_as_digits(void **st)
{
    it_fix_t *f = *st;
    char tag[64], kev[128], kc[128], kq[128], kp[128], got[256];
    snprintf(tag, sizeof tag, "digits-%d", (int)getpid());
    snprintf(kev, sizeof kev, "tk:{%s}:ev", tag);
    snprintf(kc, sizeof kc, "tk:{%s}:claims", tag);
    snprintf(kq, sizeof kq, "tk:{%s}:q", tag);
    snprintf(kp, sizeof kp, "tk:{%s}:prio", tag);
    redisReply *x = redisCommand(f->redis, "HSET %s state open remaining 100000000000000 maxpu 2 opens 0 closes 0 seq 99999999999998 ver 6",
                                 kev);
    assert_non_null(x);
    freeReplyObject(x);
    const char *argv[] = {"EVAL", tk_lua_find("claim"), "4", kev, kc, kq, kp, "1764000000123", "", "m", "x", "2", "y", "1"};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
        lens[i] = strlen(argv[i]);
    x = redisCommandArgv(f->redis, (int)(sizeof argv / sizeof argv[0]), argv, lens);
    assert_non_null(x);
    if (x->type != REDIS_REPLY_ARRAY)
        fail_msg("claim.lua: %s", x->type == REDIS_REPLY_ERROR ? x->str : "not an array");
    assert_int_equal(x->elements, 4);
    assert_string_equal(x->element[1]->str, "99999999999999 2 1764000000123 p");
    assert_string_equal(x->element[3]->str, "100000000000000 1 1764000000123 p");
    freeReplyObject(x);
    hget_str(f->redis, kc, "y", got, sizeof got);
    assert_string_equal(got, "100000000000000 1 1764000000123 p");
    hget_str(f->redis, kev, "seq", got, sizeof got);
    assert_string_equal(got, "100000000000000");
    hget_str(f->redis, kev, "remaining", got, sizeof got);
    assert_string_equal(got, "99999999999997");
    hget_str(f->redis, kev, "ver", got, sizeof got);
    assert_string_equal(got, "7");
    x = redisCommand(f->redis, "XRANGE %s - +", kq);
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_ARRAY);
    assert_int_equal(x->elements, 1);
    redisReply *fields = x->element[0]->element[1];
    assert_int_equal(fields->elements, 4);
    assert_string_equal(fields->element[2]->str, "m");
    assert_string_equal(fields->element[3]->str, "x 99999999999999 2\ny 100000000000000 1");
    freeReplyObject(x);
    x = redisCommand(f->redis, "DEL %s %s %s", kev, kc, kq);
    assert_non_null(x);
    freeReplyObject(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(retry_is_idempotent, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(max_per_user_is_enforced, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(restock_raises_and_never_goes_below_granted, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(pause_and_close_refuse_claims, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(scheduled_window_is_enforced, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(tickets_granted_are_one_to_stock, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(a_claim_read_before_the_opening_is_refused_when_redis_runs_it_after, it_fix_new0,
                                        it_fix_free),
        cmocka_unit_test_setup_teardown(claim_script_writes_numbers_as_digits, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(cancel_returns_stock, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(sell_out_is_exact_under_concurrency, it_fix_new2, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_claims", tests, it_group_setup, NULL);
}
