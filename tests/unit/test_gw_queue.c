/*
 * test_gw_queue: the waiting room's pure parts: the admitter's budget and
 * carry (gw_admitter.h: steady, exact in the long run, no burst after a
 * stall) and the estimate eta_s (gw_queue.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_admitter.h"
#include "gw_queue.h"

/* 20/s in 50 ms steps: one user a step, never 20 at once. */
static void test_budget_steady(void **state)
{
    (void)state;
    int64_t carry = 0, total = 0;
    for (int i = 0; i < 40; i++) {
        int64_t b = gw_admitter_budget(&carry, 20, 50);
        assert_int_equal(b, 1);
        total += b;
    }
    assert_int_equal(total, 40);
    assert_int_equal(carry, 0);
}

/* A rate below one per step is carried: 3/s in 50 ms steps gives 3 a second, spread out. */
static void test_budget_carry(void **state)
{
    (void)state;
    int64_t carry = 0, total = 0, nonzero = 0;
    for (int i = 0; i < 200; i++) { /* 10 s */
        int64_t b = gw_admitter_budget(&carry, 3, 50);
        assert_true(b <= 1);
        total += b;
        nonzero += b > 0;
        assert_true(carry >= 0 && carry < 1000);
    }
    assert_int_equal(total, 30);
    assert_int_equal(nonzero, 30);
    /* an odd step length keeps the long-run count exact too */
    carry = total = 0;
    for (int i = 0; i < 1000; i++)
        total += gw_admitter_budget(&carry, 7, 37);
    assert_int_equal(total, 259); /* 37 s at 7/s */
}

/* A stall or a takeover stores up at most two steps' release (100 ms), never a second's. */
static void test_budget_capped(void **state)
{
    (void)state;
    int64_t carry = 0;
    assert_int_equal(gw_admitter_budget(&carry, 100, 60000), 10);
    assert_int_equal(carry, 0);
    assert_int_equal(gw_admitter_budget(&carry, 100, 1200), 10);
    assert_int_equal(carry, 0);
    carry = 999;
    assert_int_equal(gw_admitter_budget(&carry, 0, 50), 0);
    assert_int_equal(carry, 999);
    carry = 0;
    assert_int_equal(gw_admitter_budget(&carry, 100000, 50), 5000);
    assert_int_equal(gw_admitter_budget(&carry, 20, -5), 0); /* a clock that went back: nothing */
}

static void test_eta(void **state)
{
    (void)state;
    assert_int_equal(gw_queue_eta(0, 20000, 0), 0);
    assert_int_equal(gw_queue_eta(311, 200000, 0), 2);   /* 311 / 200 per s: 1.555 -> 2 */
    assert_int_equal(gw_queue_eta(400, 200000, 0), 2);   /* exactly 2 */
    assert_int_equal(gw_queue_eta(401, 200000, 0), 3);
    assert_int_equal(gw_queue_eta(10, 500, 0), 20);      /* a measured 0.5 per s */
    assert_int_equal(gw_queue_eta(10, 20000, 1), -1);    /* paused: null */
    assert_int_equal(gw_queue_eta(10, 0, 0), -1);        /* no rate: null */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_steady),
        cmocka_unit_test(test_budget_carry),
        cmocka_unit_test(test_budget_capped),
        cmocka_unit_test(test_eta),
    };
    return cmocka_run_group_tests_name("test_gw_queue", tests, NULL, NULL);
}
