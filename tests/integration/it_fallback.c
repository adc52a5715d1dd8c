/*
 * it_fallback: while the gateway cannot reach Redis, MariaDB answers what it
 * can answer exactly (gateway/failover/gw_fallback_readonly.c): a stored claim (200), an
 * unknown event (404), a closed or paused event (403), a quantity above
 * max_per_user (409 limit_reached), a quantity above total - sold (409
 * sold_out); everything else is 503 with Retry-After. Nothing changes in
 * MariaDB, and when Redis is back the fast path resumes where it was.
 *
 * The gateway grants from MariaDB itself (the lock-table fallback,
 * gateway/failover/gw_fallback_grant.c) once Redis has been away FALLBACK_AFTER_MS
 * (default 1000 ms): then a grantable claim gets 201, not this test's 503.
 * main() therefore sets FALLBACK_AFTER_MS=600000 (the most the gateway
 * accepts) in the environment, which the gateway started by the fixture
 * inherits (lib/it_proc.c: fork/execv, nothing cleared), so the gateway
 * stays read-only for the whole test. The granting fallback has its own
 * test: it_fallback_grant.c.
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

#define DRAIN_MS 60000
#define SVC_MS 60000

static void expect(const it_fix_t *f, const char *ev, const char *user, int qty, long status, const char *code)
{
    it_resp_t r;
    long got = it_claim(&r, f, ev, user, qty);
    if (got != status || (code != NULL && (r.json == NULL || strstr(r.body, code) == NULL)))
        it_show("claim with redis down", &r);
    assert_int_equal(got, status);
    if (code != NULL)
        assert_non_null(strstr(r.body, code));
    it_resp_free(&r);
}

static void redis_down_answers_what_mariadb_knows(void **st)
{
    it_fix_t *f = *st;
    char e1[64], e2[64], e3[64];
    it_event_id(e1, sizeof e1, "fbopen");
    it_event_id(e2, sizeof e2, "fbsold");
    it_event_id(e3, sizeof e3, "fbpaused");
    assert_int_equal(it_api_create_event(f, e1, 3, 2, 0, 0), 201);
    assert_int_equal(it_api_create_event(f, e2, 1, 1, 0, 0), 201);
    assert_int_equal(it_api_create_event(f, e3, 5, 1, 0, 0), 201);
    it_resp_t r;
    it_claim_expect(f, e1, "a", 1, 201);
    it_claim_expect(f, e2, "b", 1, 201);
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "POST", "{\"state\":\"paused\"}", "/v1/admin/events/%s/state", e3), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    assert_int_equal(it_api_wait_drained(&r, f, e1, DRAIN_MS), 0);
    it_resp_free(&r);
    assert_int_equal(it_api_wait_drained(&r, f, e2, DRAIN_MS), 0);
    it_resp_free(&r);
    long long deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id IN ('%s','%s')", e1, e2) != 2 && it_now_ms() < deadline)
        it_sleep_ms(50);
    long long rows = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims");
    long long sold = it_db_int(f->db, -1, "SELECT SUM(sold) FROM event_stock");

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    expect(f, e1, "a", 1, 200, "\"confirmed\"");      /* a claim MariaDB holds */
    expect(f, e1, "z", 1, 503, "unavailable");        /* might be granted: only Redis can tell */
    expect(f, e1, "y", 3, 409, "limit_reached");      /* above max_per_user */
    expect(f, e2, "z", 1, 409, "sold_out");           /* total - sold = 0 in MariaDB */
    expect(f, e3, "z", 1, 403, "paused");             /* the definition is MariaDB's */
    expect(f, "fb-no-such-event", "z", 1, 404, "not_found");
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/a", e1), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "status"), "confirmed");
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/z", e1), 0);
    assert_int_equal(r.status, 503); /* an unwritten claim may exist: not a 404 */
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/readyz"), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(it_json_str(r.json, "fallback"), "read-only");
    it_resp_free(&r);
    /* Nothing was written. */
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims"), rows);
    assert_int_equal(it_db_int(f->db, -1, "SELECT SUM(sold) FROM event_stock"), sold);

    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    deadline = it_now_ms() + 20000;
    long status = 0;
    while (it_now_ms() < deadline) {
        status = it_claim(&r, f, e1, "z", 1);
        if (status == 201) {
            assert_int_equal(it_json_int(r.json, "ticket"), 2); /* the sequence went on where it was */
            it_resp_free(&r);
            break;
        }
        it_resp_free(&r);
        it_sleep_ms(100);
    }
    assert_int_equal(status, 201);
}

int main(void)
{
    /* Read-only for the whole test: see the header comment. */
    if (setenv("FALLBACK_AFTER_MS", "600000", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(redis_down_answers_what_mariadb_knows, it_fix_new1, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_fallback", tests, it_group_setup, NULL);
}
