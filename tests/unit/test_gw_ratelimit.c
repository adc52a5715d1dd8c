/* Unit tests of gateway/http/gw_ratelimit.c: the bucket arithmetic (burst, refill, Retry-After) and the fixed table (stale reuse, eviction when full). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_ratelimit.h"

#include <string.h>

#define SEC UINT64_C(1000000000)
#define T0 (UINT64_C(1000) * SEC) /* a monotonic "now" far from 0 */
#define NSLOTS 64

typedef struct {
    gw_rl_table_t t;
    gw_rl_slot_t slots[NSLOTS];
} fix_t;

static int setup(void **state)
{
    static fix_t f;
    memset(&f, 0, sizeof(f));
    *state = &f;
    return 0;
}

/* Takes tokens at @now until refused; returns how many were granted (at most @max). */
static int drain(gw_rl_table_t *t, uint64_t key, uint64_t now, int max)
{
    int n = 0;
    while (n < max && gw_rl_take(t, key, now, NULL) == 0)
        n++;
    return n;
}

static void test_off_allows_everything(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 0, 10);
    assert_int_equal(drain(&f->t, 42, T0, 100000), 100000);
    assert_int_equal(f->t.limited, 0);
}

static void test_burst_then_refused(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 10, 25);
    assert_int_equal(drain(&f->t, 42, T0, 1000), 25);
    uint64_t retry = 0;
    assert_int_equal(gw_rl_take(&f->t, 42, T0, &retry), 1);
    assert_int_equal(retry, SEC / 10); /* one token at 10/s */
    assert_int_equal(gw_rl_retry_after_s(retry), 1);
    /* Another key has its own bucket. */
    assert_int_equal(drain(&f->t, 43, T0, 1000), 25);
}

static void test_burst_defaults_to_rate(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 7, 0);
    assert_int_equal(drain(&f->t, 9, T0, 1000), 7);
}

static void test_refill_at_rate_capped_at_burst(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 100, 50);
    assert_int_equal(drain(&f->t, 1, T0, 1000), 50);
    /* 0.2 s refills 20 tokens. */
    assert_int_equal(drain(&f->t, 1, T0 + SEC / 5, 1000), 20);
    /* Just short of one interval: still nothing. */
    assert_int_equal(drain(&f->t, 1, T0 + SEC / 5 + SEC / 100 - 1, 1000), 0);
    assert_int_equal(drain(&f->t, 1, T0 + SEC / 5 + SEC / 100, 1000), 1);
    /* An hour idle refills to the burst, not beyond. */
    assert_int_equal(drain(&f->t, 1, T0 + 3600 * SEC, 1000), 50);
    /* A steady client at exactly the rate is never refused. */
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 100, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(gw_rl_take(&f->t, 5, T0 + (uint64_t)i * (SEC / 100), NULL), 0);
    assert_int_equal(gw_rl_take(&f->t, 5, T0 + 999 * (SEC / 100), NULL), 1);
}

static void test_retry_after_is_the_wait_for_one_token(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 1, 3);
    assert_int_equal(drain(&f->t, 7, T0, 10), 3);
    uint64_t retry = 0;
    assert_int_equal(gw_rl_take(&f->t, 7, T0 + SEC / 4, &retry), 1);
    assert_int_equal(retry, SEC - SEC / 4);
    assert_int_equal(gw_rl_retry_after_s(retry), 1);
    /* Taking the token exactly when announced works. */
    assert_int_equal(gw_rl_take(&f->t, 7, T0 + SEC / 4 + retry, NULL), 0);
    /* Refused requests take nothing: waiting out one wait is enough. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(gw_rl_take(&f->t, 7, T0 + SEC + SEC / 2, NULL), 1);
    assert_int_equal(gw_rl_take(&f->t, 7, T0 + 2 * SEC, NULL), 0);
    assert_int_equal(gw_rl_retry_after_s(0), 1);
    assert_int_equal(gw_rl_retry_after_s(SEC), 1);
    assert_int_equal(gw_rl_retry_after_s(SEC + 1), 2);
}

/* Keys that all fall into the probe window starting at slot 0. */
static uint64_t colliding(int i)
{
    return (uint64_t)NSLOTS * (uint64_t)(i + 1);
}

static void test_stale_buckets_are_reused(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 10, 2);
    for (int i = 0; i < GW_RL_PROBE; i++)
        assert_int_equal(drain(&f->t, colliding(i), T0, 10), 2);
    /* 0.2 s later every bucket is full again (stale): new keys take their slots, nothing live is evicted. */
    for (int i = GW_RL_PROBE; i < 2 * GW_RL_PROBE; i++)
        assert_int_equal(drain(&f->t, colliding(i), T0 + SEC / 5, 10), 2);
    assert_int_equal(f->t.evicted, 0);
    /* The first keys were forgotten, and that is exact: they come back full. */
    assert_int_equal(drain(&f->t, colliding(0), T0 + SEC / 5, 10), 2);
}

static void test_table_full_evicts_the_fullest_bucket(void **state)
{
    fix_t *f = *state;
    gw_rl_table_init(&f->t, f->slots, NSLOTS, 10, 5);
    /* Fill the window with live buckets; key 3 uses only one token (the most left). */
    for (int i = 0; i < GW_RL_PROBE; i++)
        assert_int_equal(drain(&f->t, colliding(i), T0, i == 3 ? 1 : 5), i == 3 ? 1 : 5);
    /* A newcomer is served, by evicting key 3's bucket... */
    assert_int_equal(drain(&f->t, colliding(100), T0, 10), 5);
    assert_int_equal(f->t.evicted, 1);
    /* ...while the exhausted ones are still limited. */
    for (int i = 0; i < GW_RL_PROBE; i++)
        if (i != 3)
            assert_int_equal(gw_rl_take(&f->t, colliding(i), T0, NULL), 1);
    /* Many addresses at once never grow the table: every slot holds some key and the count is fixed. */
    for (uint64_t k = 1; k <= 100000; k++)
        gw_rl_take(&f->t, gw_rl_hash(&k, sizeof(k)), T0 + SEC / 1000, NULL);
    size_t used = 0;
    for (size_t i = 0; i < NSLOTS; i++)
        used += f->slots[i].key != 0;
    assert_true(used <= NSLOTS);
    assert_true(f->t.evicted > 0);
}

static void test_hash(void **state)
{
    (void)state;
    uint64_t a = gw_rl_hash("u-42", 4), b = gw_rl_hash("u-43", 4);
    assert_true(a != 0 && b != 0 && a != b);
    assert_true(gw_rl_hash("u-42", 4) == a);
    assert_true(gw_rl_hash("", 0) != 0);
    /* Every length of the tail path. */
    const char s[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (size_t n = 0; n < sizeof(s) - 1; n++)
        assert_true(gw_rl_hash(s, n) != gw_rl_hash(s, n + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_off_allows_everything, setup),
        cmocka_unit_test_setup(test_burst_then_refused, setup),
        cmocka_unit_test_setup(test_burst_defaults_to_rate, setup),
        cmocka_unit_test_setup(test_refill_at_rate_capped_at_burst, setup),
        cmocka_unit_test_setup(test_retry_after_is_the_wait_for_one_token, setup),
        cmocka_unit_test_setup(test_stale_buckets_are_reused, setup),
        cmocka_unit_test_setup(test_table_full_evicts_the_fullest_bucket, setup),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests_name("gw_ratelimit", tests, NULL, NULL);
}
