/*
 * it_soldout: a sold-out event's claims answered without the claim script
 * (gateway/claims/gw_soldout.h), exact across what changes the answer.
 *
 * Each test runs a sold-out storm in a thread of its own (fresh users asking
 * 2 units of an event whose remaining stays below 2, so every one of them
 * must be refused sold_out) while the test thread changes the event and
 * claims 1 unit at a time: a restock's units go, in order, to the claims
 * sent after its 200; a cancel's unit to the next claim; a user who holds a
 * claim (granted through this gateway or another) gets 200 with it; a pause
 * or close answers 403 as before. Both gateways' storms run at once in the
 * two-gateway test. Every test also checks that the storm was answered
 * without the claim script (tk_claim_soldout_local_total).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_redis.h"

#define STORM_ROUND 64
#define STORM_PARALLEL 8
#define STORM_ROUNDS_MAX 400 /* a bound: the test thread stops it long before */

/* ------------------------------------------------------------ the storm */

typedef struct {
    const it_fix_t *f;
    char ev[64];
    char tag[8];
    it_http_ver_t ver;
    atomic_int stop;
    atomic_long answered; /* read by the test thread while it runs */
    long rounds, s409, other;
    char url[STORM_ROUND][256], body[STORM_ROUND][128];
    char first_other[256];
    pthread_t th;
} storm_t;

static void *storm_run(void *arg)
{
    storm_t *s = arg;
    char (*url)[256] = s->url, (*body)[128] = s->body;
    while (!atomic_load(&s->stop) && s->rounds < STORM_ROUNDS_MAX) {
        it_multi_req_t mr[STORM_ROUND];
        memset(mr, 0, sizeof mr);
        for (int i = 0; i < STORM_ROUND; i++) {
            snprintf(url[i], sizeof s->url[i], "%s/v1/events/%s/claims", s->f->gw.base_url, s->ev);
            snprintf(body[i], sizeof s->body[i], "{\"user_id\":\"s%s-%ld-%d\",\"quantity\":2}", s->tag, s->rounds, i);
            mr[i].method = "POST";
            mr[i].url = url[i];
            mr[i].body = body[i];
        }
        it_multi_auth_t auth;
        if (it_multi_sign(&auth, s->f, mr, STORM_ROUND, NULL) != 0) {
            s->other++;
            break;
        }
        it_http_multi(mr, STORM_ROUND, STORM_PARALLEL, s->ver, 60000);
        for (int i = 0; i < STORM_ROUND; i++) {
            const char *code = it_resp_error_code(&mr[i].resp);
            if (mr[i].resp.status == 409 && code != NULL && strcmp(code, "sold_out") == 0) {
                s->s409++;
            } else {
                if (s->other++ == 0)
                    snprintf(s->first_other, sizeof s->first_other, "%s: %ld %s", body[i], mr[i].resp.status,
                             mr[i].resp.body != NULL ? mr[i].resp.body : "");
            }
            it_resp_free(&mr[i].resp);
        }
        it_multi_auth_free(&auth);
        atomic_fetch_add(&s->answered, STORM_ROUND);
        s->rounds++;
    }
    return NULL;
}

/* The storms running, so that a test's teardown stops them when an assertion left the test (cmocka jumps out of it). */
static storm_t *running[4];

static void storm_join_free(storm_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    for (int i = 0; i < 4; i++)
        if (running[i] == s)
            running[i] = NULL;
    free(s);
}

/* Starts a storm on @ev through @f's gateway and waits until it has had a few rounds answered; stop it with storm_stop. */
static storm_t *storm_start(const it_fix_t *f, const char *ev, const char *tag, it_http_ver_t ver)
{
    storm_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    int slot = 0;
    while (slot < 4 && running[slot] != NULL)
        slot++;
    assert_true(slot < 4);
    s->f = f;
    snprintf(s->ev, sizeof s->ev, "%s", ev);
    snprintf(s->tag, sizeof s->tag, "%s", tag);
    s->ver = ver;
    assert_int_equal(pthread_create(&s->th, NULL, storm_run, s), 0);
    running[slot] = s;
    long long deadline = it_now_ms() + 30000;
    while (atomic_load(&s->answered) < 3 * STORM_ROUND && it_now_ms() < deadline)
        it_sleep_ms(10);
    return s;
}

/* Stops and joins the storm; every claim of it must have been refused sold_out. Returns its refusals; frees it. */
static long storm_stop(storm_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    fprintf(stderr, "storm %s: %ld rounds, %ld sold_out, %ld other%s%s\n", s->tag, s->rounds, s->s409, s->other,
            s->other > 0 ? "; first: " : "", s->first_other);
    long other = s->other, rounds = s->rounds, refused = s->s409;
    storm_join_free(s);
    assert_int_equal(other, 0);
    assert_true(rounds >= 3);
    return refused;
}

/* The second gateway of a test, stopped by the teardown when an assertion left the test. */
static it_fix_t second;
static int second_up;

static int fix_free(void **st)
{
    for (int i = 0; i < 4; i++)
        if (running[i] != NULL)
            storm_join_free(running[i]);
    if (second_up) {
        it_proc_stop(&second.gw.proc, IT_STOP_MS);
        second_up = 0;
    }
    return it_fix_free(st);
}

/* ---------------------------------------------------------------- helpers */

/* A claim of 1 unit by @user that must get @want; returns its ticket (0 for a refusal). */
static long long claim1(const it_fix_t *f, const char *ev, const char *user, long want, const char *code)
{
    it_resp_t r;
    long st = it_claim(&r, f, ev, user, 1);
    if (st != want || (code != NULL && (it_resp_error_code(&r) == NULL || strcmp(it_resp_error_code(&r), code) != 0)))
        it_show(user, &r);
    assert_int_equal(st, want);
    if (code != NULL) {
        assert_non_null(it_resp_error_code(&r));
        assert_string_equal(it_resp_error_code(&r), code);
    }
    long long t = (st == 200 || st == 201) ? it_json_int(r.json, "ticket") : 0;
    it_resp_free(&r);
    return t;
}

/* An event of @stock units, at most 2 per user, sold out by users "g-1".."g-stock" through @f, then marked sold out on its threads. */
static void sold_out_event(const it_fix_t *f, char *ev, size_t len, const char *prefix, int stock)
{
    it_new_event(f, ev, len, prefix, stock, 2);
    for (int i = 1; i <= stock; i++) {
        char u[32];
        snprintf(u, sizeof u, "g-%d", i);
        assert_int_equal(claim1(f, ev, u, 201, NULL), i);
    }
    claim1(f, ev, "first-refused", 409, "sold_out");
}

/* -------------------------------------------------------------- the tests */

/* The storm's refusals cost no claim script call once the threads know: the local counter grows with them. */
static void sold_out_storm_is_answered_without_the_script(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    sold_out_event(f, ev, sizeof ev, "so-quiet", 3);
    long long local0 = it_metric(f, "tk_claim_soldout_local_total");
    long long checks0 = it_metric(f, "tk_claim_soldout_checks_total");
    long long batches0 = it_metric(f, "tk_claim_batches_total");
    storm_t *s1 = storm_start(f, ev, "a", IT_HTTP1), *s2 = storm_start(f, ev, "b", IT_HTTP2);
    it_sleep_ms(500);
    long storm = storm_stop(s1);
    storm += storm_stop(s2);
    long long local1 = it_metric(f, "tk_claim_soldout_local_total");
    long long checks1 = it_metric(f, "tk_claim_soldout_checks_total");
    long long batches1 = it_metric(f, "tk_claim_batches_total");
    fprintf(stderr, "sold-out storm: %ld refusals, %lld answered without the claim script in %lld checks; claim script calls: %lld\n",
            storm, local1 - local0, checks1 - checks0, batches1 - batches0);
    /* The gateway's one loop thread saw claim.lua's sold_out before the storm: no claim of the storm reached the script. */
    assert_int_equal(local1 - local0, storm);
    assert_int_equal(batches1 - batches0, 0);
    assert_true(checks1 - checks0 > 0 && checks1 - checks0 <= storm);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "remaining", -1), 0);
    assert_int_equal(it_redis_claims_count(f->redis, ev), 3);
}

/* A restock in the middle of the storm: the claims sent after its 200 get its units, in order; the storm stays refused. */
static void restock_in_a_storm_grants_the_next_claims_in_order(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    sold_out_event(f, ev, sizeof ev, "so-restock", 2);
    storm_t *s1 = storm_start(f, ev, "a", IT_HTTP1), *s2 = storm_start(f, ev, "b", IT_HTTP2);
    long long local0 = it_metric(f, "tk_claim_soldout_local_total");
    long long last = 2;
    for (int round = 0; round < 5; round++) {
        /* One unit at a time keeps remaining below the storm's 2: only the claims below can take it. */
        it_admin_restock(f, ev, 1);
        char u[32];
        snprintf(u, sizeof u, "r-%d", round);
        long long t = claim1(f, ev, u, 201, NULL);
        assert_int_equal(t, last + 1); /* the next ticket: granted in the order sent */
        last = t;
        snprintf(u, sizeof u, "late-%d", round);
        claim1(f, ev, u, 409, "sold_out"); /* and sold out again at once */
        it_sleep_ms(50);
    }
    long long local1 = it_metric(f, "tk_claim_soldout_local_total");
    storm_stop(s1);
    storm_stop(s2);
    assert_true(local1 > local0); /* the storm was answered without the script between the restocks */
    assert_int_equal(it_redis_ev_int(f->redis, ev, "remaining", -1), 0);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "seq", -1), 7);
    assert_int_equal(it_redis_claims_count(f->redis, ev), 7);
}

/* A cancel during the storm frees a unit; the next claim gets it, and the one after is refused. */
static void cancel_in_a_storm_frees_a_unit_for_the_next_claim(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    sold_out_event(f, ev, sizeof ev, "so-cancel", 3);
    storm_t *s = storm_start(f, ev, "a", IT_HTTP2);
    for (int i = 1; i <= 2; i++) {
        it_resp_t r;
        assert_int_equal(it_apif(&r, f, IT_ADMIN, "DELETE", NULL, "/v1/admin/events/%s/claims/g-%d", ev, i), 0);
        if (r.status != 200)
            it_show("cancel", &r);
        assert_int_equal(r.status, 200);
        it_resp_free(&r);
        char u[32];
        snprintf(u, sizeof u, "c-%d", i);
        assert_int_equal(claim1(f, ev, u, 201, NULL), 3 + i);
        snprintf(u, sizeof u, "c-late-%d", i);
        claim1(f, ev, u, 409, "sold_out");
    }
    storm_stop(s);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "remaining", -1), 0);
}

/* A user who holds a claim gets 200 with it during the storm, through either gateway, whichever granted it. */
static void holder_gets_200_through_either_gateway(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    sold_out_event(f, ev, sizeof ev, "so-holder", 2); /* g-1, g-2 through the first gateway */
    second = *f;
    it_fix_t *f2p = &second, f2;
    assert_int_equal(it_gateway_start(&second.gw, IT_READY_MS), 0);
    second_up = 1;
    f2 = *f2p;
    claim1(&f2, ev, "first-refused-2", 409, "sold_out");
    storm_t *s1 = storm_start(f, ev, "a", IT_HTTP2), *s2 = storm_start(f2p, ev, "b", IT_HTTP1);
    long long l1 = it_metric(f, "tk_claim_soldout_local_total"), l2 = it_metric(&f2, "tk_claim_soldout_local_total");
    /* Restocked through the second gateway, granted there: then sold out again, and the new holder asks the first. */
    it_admin_restock(&f2, ev, 1);
    assert_int_equal(claim1(&f2, ev, "h-3", 201, NULL), 3);
    claim1(f, ev, "h-late", 409, "sold_out");
    for (int i = 0; i < 20; i++) {
        assert_int_equal(claim1(f, ev, "h-3", 200, NULL), 3);
        assert_int_equal(claim1(&f2, ev, "g-1", 200, NULL), 1);
        assert_int_equal(claim1(f, ev, "g-2", 200, NULL), 2);
        char u[32];
        snprintf(u, sizeof u, "n-%d", i);
        claim1(i % 2 ? f : &f2, ev, u, 409, "sold_out");
    }
    long long l1b = it_metric(f, "tk_claim_soldout_local_total"), l2b = it_metric(&f2, "tk_claim_soldout_local_total");
    storm_stop(s1);
    storm_stop(s2);
    assert_true(l1b > l1 && l2b > l2); /* both gateways answered refusals without the script meanwhile */
    assert_int_equal(it_redis_claims_count(f->redis, ev), 3);
    second_up = 0;
    assert_int_equal(it_proc_stop(&second.gw.proc, IT_STOP_MS), 0);
}

/* A pause, a close, an open again during the storm: answered as before (403 paused / closed), then sold_out. */
static void state_changes_in_a_storm_answer_as_before(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    sold_out_event(f, ev, sizeof ev, "so-state", 2);
    storm_t *s = storm_start(f, ev, "a", IT_HTTP1);
    it_admin_set_state(f, ev, "paused");
    long rounds = s->rounds;
    storm_join_free(s); /* its claims get 403 paused from now on: not counted */
    assert_true(rounds >= 3);
    for (int i = 0; i < 5; i++) {
        char u[32];
        snprintf(u, sizeof u, "p-%d", i);
        claim1(f, ev, u, 403, "paused");
        assert_int_equal(claim1(f, ev, "g-1", 200, NULL), 1); /* a holder still gets the claim */
    }
    it_admin_set_state(f, ev, "open");
    claim1(f, ev, "o-1", 409, "sold_out");
    claim1(f, ev, "o-2", 409, "sold_out");
    it_admin_set_state(f, ev, "closed");
    for (int i = 0; i < 5; i++) {
        char u[32];
        snprintf(u, sizeof u, "x-%d", i);
        claim1(f, ev, u, 403, "closed");
    }
    assert_int_equal(it_redis_claims_count(f->redis, ev), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sold_out_storm_is_answered_without_the_script, it_fix_new0, fix_free),
        cmocka_unit_test_setup_teardown(restock_in_a_storm_grants_the_next_claims_in_order, it_fix_new0, fix_free),
        cmocka_unit_test_setup_teardown(cancel_in_a_storm_frees_a_unit_for_the_next_claim, it_fix_new1, fix_free),
        cmocka_unit_test_setup_teardown(holder_gets_200_through_either_gateway, it_fix_new0, fix_free),
        cmocka_unit_test_setup_teardown(state_changes_in_a_storm_answer_as_before, it_fix_new0, fix_free),
    };
    return cmocka_run_group_tests_name("it_soldout", tests, it_group_setup, NULL);
}
