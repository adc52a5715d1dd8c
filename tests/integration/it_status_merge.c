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
 *
 * And a Redis that comes back behind (it lost a grant it had answered):
 * that claim's status is 503 until the merge has written the journal to
 * MariaDB, never 404 (redis_back_behind_answers_no_404_for_a_granted_claim).
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

/* A new event @ev (stock 5, one per user, ids "@prefix-..."), tracked by the gateway's journal. */
static void tracked_event(const it_fix_t *f, char *ev, size_t len, const char *prefix)
{
    it_new_event(f, ev, len, prefix, 5, 1);
    it_claim_expect(f, ev, "p", 2, 409);
    assert_int_equal(it_wait_tracked(f, ev, TRACK_MS), 0);
}

static void status_during_the_merge_answers_from_mariadb(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_resp_t r;
    /* Tracked and watermarked with the stream empty: the journal is complete. */
    tracked_event(f, ev, sizeof ev, "stm");
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

/*
 * Review of b94654a: Redis back behind. Claims b (ticket 1) and a (ticket
 * 2) were answered 201 from Redis and wait in the stream (no worker); then
 * Redis loses a's call, as an AOF that lost its last second would (a's
 * record, its entry, seq 2 -> 1), and the gateway's connections drop. Until
 * the merge writes the journal to MariaDB (step 1, held here by a lock on
 * the event's event_locks row), a's claim is in neither Redis nor MariaDB:
 * its status must be 503 (retry), never 404. Before: 404 "no claim of user
 * a" for a claim answered 201. Then the lock released, a is 200 ticket 2
 * from MariaDB, a user without a claim 404 again while the merge still
 * waits (Redis still behind: the journal, not Redis's seq, says what may
 * be missing), and the event back on the fast path keeps both.
 */
static MYSQL *hold; /* holds the event's event_locks row; rolled back by the teardown when the test fails */

static int free_hold(void **st)
{
    if (hold != NULL) {
        mysql_query(hold, "ROLLBACK");
        mysql_close(hold);
        hold = NULL;
    }
    return it_fix_free(st);
}

static void redis_back_behind_answers_no_404_for_a_granted_claim(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_resp_t r;
    tracked_event(f, ev, sizeof ev, "stb");
    it_claim_expect(f, ev, "b", 1, 201);
    assert_int_equal(it_claim(&r, f, ev, "a", 1), 201);
    assert_int_equal(it_json_int(r.json, "ticket"), 2);
    it_resp_free(&r);

    /* The merge's step 1 takes the event's lock (gw_lock.c): held here until the lookups are done. */
    hold = it_db_connect();
    assert_non_null(hold);
    assert_int_equal(it_db_exec(hold, "INSERT IGNORE INTO event_locks (event_id) VALUES ('%s')", ev), 0);
    char q[256];
    snprintf(q, sizeof q, "SELECT token FROM event_locks WHERE event_id = '%s' FOR UPDATE", ev);
    assert_int_equal(mysql_query(hold, "START TRANSACTION"), 0);
    assert_int_equal(mysql_query(hold, q), 0); /* not committed: the row stays locked */
    MYSQL_RES *res = mysql_store_result(hold);
    assert_non_null(res);
    mysql_free_result(res);

    /* Redis loses a's call in one step: its record, its entry (the newest), seq and remaining back. */
    static const char lose[] = "redis.call('HDEL', KEYS[2], 'a') "
                               "local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1) "
                               "redis.call('XDEL', KEYS[3], last[1][1]) "
                               "redis.call('HSET', KEYS[1], 'seq', 1, 'remaining', 4) return 1";
    redisReply *x = redisCommand(f->redis, "EVAL %s 3 tk:{%s}:ev tk:{%s}:claims tk:{%s}:q", lose, ev, ev, ev);
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    x = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
    assert_non_null(x);
    freeReplyObject(x);
    assert_int_equal(it_wait_path(f, "it_status_merge", NULL, "merge", GRANT_MS, NULL, 0, NULL), 0);

    /* The merge's step 1 waits for the lock (the gateway's MariaDB read timeout, ~6 s, fails it and it starts
     * again): each answer below is this 503, with its own message, never a 404 nor the database lane's. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(it_status_past_db_wait(f, ev, "a", &r, 3000), 0);
        if (r.status != 503 || r.body == NULL || strstr(r.body, "may have lost claims of event") == NULL)
            it_show("status of a, answered 201 and lost by Redis, before the merge wrote it", &r);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "may have lost claims of event"));
        it_resp_free(&r);
        it_sleep_ms(100);
    }
    assert_int_equal(it_status_past_db_wait(f, ev, "b", &r, 3000), 0); /* Redis still holds b */
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "ticket"), 1);
    it_resp_free(&r);
    int lost_still = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id = 'a'", ev) == 0;
    assert_true(lost_still); /* all of the above before the merge wrote the journal */

    assert_int_equal(mysql_query(hold, "ROLLBACK"), 0);
    mysql_close(hold);
    hold = NULL;
    long long deadline = it_now_ms() + MERGE_MS;
    long got = 0;
    while (it_now_ms() < deadline) {
        assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/a", ev), 0);
        got = r.status;
        if (got != 503 && got != 200)
            it_show("status of a after the lock was released", &r);
        assert_true(got == 503 || got == 200);
        if (got == 200)
            assert_int_equal(it_json_int(r.json, "ticket"), 2);
        it_resp_free(&r);
        if (got == 200)
            break;
        it_sleep_ms(100);
    }
    assert_int_equal(got, 200);
    /* The journal written, a user without a claim is 404 again, though Redis is still behind (seq 1 against the
     * ticket 2 it drew) and the merge still waits for b's entry to drain: no worker yet. */
    it_ready_t p;
    it_readyz(f, NULL, &p);
    assert_string_not_equal(p.path, "fast");
    assert_int_equal(it_status_past_db_wait(f, ev, "nobody", &r, 3000), 0);
    if (r.status != 404)
        it_show("status of nobody once the journal was written", &r);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);
    assert_int_equal(it_fix_add_worker(f, "it-stb-w"), 0);
    assert_int_equal(it_wait_path(f, "it_status_merge", NULL, "fast", MERGE_MS, NULL, 0, NULL), 0);
    status_is(f, ev, "a", 200, 2, NULL);
    status_is(f, ev, "b", 200, 1, NULL);
    status_is(f, ev, "nobody", 404, 0, NULL);
}

int main(void)
{
    if (setenv("FALLBACK_AFTER_MS", "300", 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_during_the_merge_answers_from_mariadb, it_fix_new0, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(redis_back_behind_answers_no_404_for_a_granted_claim, it_fix_new0, free_hold),
    };
    return cmocka_run_group_tests_name("it_status_merge", tests, it_group_setup, NULL);
}
