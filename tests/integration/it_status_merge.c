/*
 * it_status_merge: a status lookup while the merge is open answers from
 * MariaDB (issue 10, item 7c): a claim the fallback granted lives only in
 * MariaDB until the merge has rebuilt the event in Redis, so Redis's "no
 * such claim" must not become a 404.
 *
 * FALLBACK_AFTER_MS=300, no worker at first. Event E (stock 5) is tracked and
 * watermarked with an empty stream (see it_fallback_grant.c for why), then
 * "a" claims on the fast path (ticket 1, pending: the stream holds it, so the
 * merge will wait for a worker). Redis stopped: "path":"grant"; "f" claims:
 * 201 ticket 2 from MariaDB. Redis started: "path":"merge", held open (no
 * worker drains the stream). Meanwhile: status of "f" 200 confirmed ticket 2;
 * of "a" 200 ticket 1; of a user without a claim 404. A worker started: the
 * merge ends ("fast"), and "f" is still 200 from Redis.
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
#include "tk_keys.h"

#define SVC_MS 60000
#define TRACK_MS 10000
#define BASE_MS 1000
#define GRANT_MS 10000
#define MERGE_MS 30000

/* GET the claim of @user: asserts @status, and @ticket / @cstatus when given. */
static void status_is(const it_fix_t *f, const char *ev, const char *user, long status, long long ticket, const char *cstatus)
{
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/%s", ev, user), 0);
    int bad = r.status != status || (ticket > 0 && it_json_int(r.json, "ticket") != ticket) ||
              (cstatus != NULL && (it_json_str(r.json, "status") == NULL || strcmp(it_json_str(r.json, "status"), cstatus) != 0));
    if (bad) {
        char what[160];
        snprintf(what, sizeof what, "status of %s/%s: expected %ld ticket %lld %s; got", ev, user, status, ticket, cstatus ? cstatus : "");
        it_show(what, &r);
    }
    assert_int_equal(r.status, status);
    if (ticket > 0)
        assert_int_equal(it_json_int(r.json, "ticket"), ticket);
    if (cstatus != NULL)
        assert_string_equal(it_json_str(r.json, "status"), cstatus);
    it_resp_free(&r);
}

static void status_during_the_merge_answers_from_mariadb(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_resp_t r;
    it_new_event(f, ev, sizeof ev, "stm", 5, 1);
    /* Tracked and watermarked with the stream empty: the journal is complete. */
    it_claim_expect(f, ev, "p", 2, 409);
    assert_int_equal(it_wait_tracked(f, ev, TRACK_MS), 0);
    assert_int_equal(it_wait_watermarks(f, 3, BASE_MS, TRACK_MS), 0);

    assert_int_equal(it_claim(&r, f, ev, "a", 1), 201);
    assert_int_equal(it_json_int(r.json, "ticket"), 1);
    it_resp_free(&r);

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(it_wait_path(f, "it_status_merge", NULL, "grant", GRANT_MS, NULL, 0, NULL), 0);
    long got = it_claim(&r, f, ev, "f", 1);
    if (got != 201)
        it_show("fallback claim", &r);
    assert_int_equal(got, 201);
    assert_int_equal(it_json_int(r.json, "ticket"), 2);
    it_resp_free(&r);

    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    redisFree(f->redis);
    f->redis = it_redis_connect();
    assert_non_null(f->redis);
    assert_int_equal(it_wait_path(f, "it_status_merge", NULL, "merge", GRANT_MS, NULL, 0, NULL), 0);
    /* The merge waits for the stream ("a") to drain: no worker runs. */
    assert_int_equal(it_redis_xlen(f->redis, ev), 1);
    status_is(f, ev, "f", 200, 2, "confirmed"); /* granted by the fallback: only MariaDB has it */
    status_is(f, ev, "a", 200, 1, NULL);
    status_is(f, ev, "nobody", 404, 0, NULL);
    it_ready_t p;
    it_readyz(f, NULL, &p);
    assert_string_equal(p.path, "merge"); /* all of the above was answered during the merge */

    assert_int_equal(it_fix_add_worker(f, "it-stm-w"), 0);
    assert_int_equal(it_wait_path(f, "it_status_merge", NULL, "fast", MERGE_MS, NULL, 0, NULL), 0);
    status_is(f, ev, "f", 200, 2, "confirmed");
    status_is(f, ev, "a", 200, 1, "confirmed");
    status_is(f, ev, "nobody", 404, 0, NULL);
}

int main(void)
{
    if (setenv("FALLBACK_AFTER_MS", "300", 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_during_the_merge_answers_from_mariadb, it_fix_new0, it_fix_free_redis_up),
    };
    return cmocka_run_group_tests_name("it_status_merge", tests, it_group_setup, NULL);
}
