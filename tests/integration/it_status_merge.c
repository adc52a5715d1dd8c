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
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_keys.h"

#define SVC_MS 60000
#define TRACK_MS 10000
#define BASE_MS 1000
#define GRANT_MS 10000
#define MERGE_MS 30000

/* /readyz's "path" into @out. */
static void path_now(const it_fix_t *f, char *out, size_t len)
{
    it_resp_t r;
    const char *p = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/readyz") == 0 ? it_json_str(r.json, "path") : NULL;
    snprintf(out, len, "%s", p != NULL ? p : "(none)");
    it_resp_free(&r);
}

static int wait_path(const it_fix_t *f, const char *want, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    char p[32];
    for (;;) {
        path_now(f, p, sizeof p);
        if (strcmp(p, want) == 0)
            return 0;
        if (it_now_ms() >= deadline) {
            fprintf(stderr, "/readyz path %s, waited for %s; gateway log %s\n", p, want, f->gw.proc.log_path);
            return -1;
        }
        it_sleep_ms(50);
    }
}

/* Until /readyz lists @ev with path "redis". */
static int wait_tracked(const it_fix_t *f, const char *ev, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        it_resp_t r;
        const char *p = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/readyz") == 0 ? it_json_str(json_object_get(r.json, "paths"), ev) : NULL;
        int ok = p != NULL && strcmp(p, "redis") == 0;
        it_resp_free(&r);
        if (ok)
            return 0;
        if (it_now_ms() >= deadline)
            return -1;
        it_sleep_ms(100);
    }
}

static long long evalsha_calls(const it_fix_t *f)
{
    redisReply *rep = redisCommand(f->redis, "INFO commandstats");
    long long v = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        const char *p = strstr(rep->str, "cmdstat_evalsha:calls=");
        v = p != NULL ? strtoll(p + strlen("cmdstat_evalsha:calls="), NULL, 10) : 0;
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return v;
}

/* GET the claim of @user: asserts @status, and @ticket / @cstatus when given. */
static void status_is(const it_fix_t *f, const char *ev, const char *user, long status, long long ticket, const char *cstatus)
{
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s/claims/%s", ev, user), 0);
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
    it_event_id(ev, sizeof ev, "stm");
    assert_int_equal(it_api_create_event(f, ev, 5, 1, 0, 0), 201);
    /* Tracked and watermarked with the stream empty: the journal is complete. */
    assert_int_equal(it_claim(&r, f, ev, "p", 2), 409);
    it_resp_free(&r);
    assert_int_equal(wait_tracked(f, ev, TRACK_MS), 0);
    long long calls0 = evalsha_calls(f), deadline = it_now_ms() + TRACK_MS;
    it_sleep_ms(BASE_MS);
    while (evalsha_calls(f) < calls0 + 3 && it_now_ms() < deadline)
        it_sleep_ms(100);
    assert_true(evalsha_calls(f) >= calls0 + 3);

    assert_int_equal(it_claim(&r, f, ev, "a", 1), 201);
    assert_int_equal(it_json_int(r.json, "ticket"), 1);
    it_resp_free(&r);

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(wait_path(f, "grant", GRANT_MS), 0);
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
    assert_int_equal(wait_path(f, "merge", GRANT_MS), 0);
    /* The merge waits for the stream ("a") to drain: no worker runs. */
    assert_int_equal(it_redis_xlen(f->redis, ev), 1);
    status_is(f, ev, "f", 200, 2, "confirmed"); /* granted by the fallback: only MariaDB has it */
    status_is(f, ev, "a", 200, 1, NULL);
    status_is(f, ev, "nobody", 404, 0, NULL);
    char p[32];
    path_now(f, p, sizeof p);
    assert_string_equal(p, "merge"); /* all of the above was answered during the merge */

    assert_int_equal(it_fix_add_worker(f, "it-stm-w"), 0);
    assert_int_equal(wait_path(f, "fast", MERGE_MS), 0);
    status_is(f, ev, "f", 200, 2, "confirmed");
    status_is(f, ev, "a", 200, 1, "confirmed");
    status_is(f, ev, "nobody", 404, 0, NULL);
}

static int teardown(void **st)
{
    int rc = it_services("start-redis", SVC_MS);
    return it_fix_free(st) != 0 || rc != 0 ? -1 : 0;
}

int main(void)
{
    if (setenv("FALLBACK_AFTER_MS", "300", 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_during_the_merge_answers_from_mariadb, it_fix_new0, teardown),
    };
    return cmocka_run_group_tests_name("it_status_merge", tests, it_group_setup, NULL);
}
