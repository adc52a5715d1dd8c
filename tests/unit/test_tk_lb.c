/* Unit tests of common/tk_lb: byte order of members is rank order, at the edges of the ranges. */
#include "tk_lb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

/* <0 when (a, ua) ranks above (b, ub) on a board of @comps, as Redis compares two members of equal score. */
static int cmp(int comps, tk_lb_entry_t a, const char *ua, tk_lb_entry_t b, const char *ub)
{
    char ma[TK_LB_MEMBER_MAX], mb[TK_LB_MEMBER_MAX];
    int na = tk_lb_member(&a, comps, ua, strlen(ua), ma), nb = tk_lb_member(&b, comps, ub, strlen(ub), mb);
    assert_true(na > 0 && nb > 0);
    int c = memcmp(ma, mb, (size_t)(na < nb ? na : nb));
    return c != 0 ? c : na - nb;
}

static void test_c2_orders_highest_first_across_zero_and_edges(void **state)
{
    (void)state;
    const int64_t M = TK_LB_SCORE_MAX;
    const int64_t asc[] = {-M, -M + 1, -2, -1, 0, 1, 2, M - 1, M};
    for (size_t i = 0; i + 1 < sizeof asc / sizeof asc[0]; i++) {
        tk_lb_entry_t lo = {.c2 = asc[i], .t_ms = 5}, hi = {.c2 = asc[i + 1], .t_ms = 9};
        /* the higher c2 ranks first even though it came later */
        assert_true(cmp(2, hi, "u", lo, "u") < 0);
    }
}

static void test_time_then_sequence_then_user(void **state)
{
    (void)state;
    tk_lb_entry_t early = {.c2 = 7, .t_ms = 1000, .seq = 99}, late = {.c2 = 7, .t_ms = 1001, .seq = 1};
    assert_true(cmp(2, early, "z", late, "a") < 0);
    assert_true(cmp(1, early, "z", late, "a") < 0);
    tk_lb_entry_t first = {.t_ms = 1000, .seq = 1}, second = {.t_ms = 1000, .seq = 2};
    assert_true(cmp(1, first, "z", second, "a") < 0);
    tk_lb_entry_t same = {.t_ms = 1000};
    assert_true(cmp(1, same, "a", same, "b") < 0);
    assert_true(cmp(1, same, "a", same, "a.") < 0); /* a prefix user ranks first, never equal */
}

static void test_fixed_width_and_user_offset(void **state)
{
    (void)state;
    char m[TK_LB_MEMBER_MAX];
    tk_lb_entry_t e = {.c1 = 3, .c2 = -TK_LB_SCORE_MAX, .t_ms = TK_LB_TIME_MAX, .seq = TK_LB_SEQ_MAX};
    int n = tk_lb_member(&e, 2, "u-1", 3, m);
    assert_int_equal(n, (int)tk_lb_member_user_at(2) + 3);
    assert_string_equal(m, "19007199254740991" "9999999999999" "9999999999" "u-1");
    e.c2 = TK_LB_SCORE_MAX;
    e.t_ms = 0;
    e.seq = 0;
    tk_lb_member(&e, 2, "u", 1, m);
    assert_string_equal(m, "00000000000000000" "0000000000000" "0000000000" "u");
    n = tk_lb_member(&e, 1, "u", 1, m);
    assert_int_equal(n, (int)tk_lb_member_user_at(1) + 1);
}

static void test_refuses_out_of_range(void **state)
{
    (void)state;
    char m[TK_LB_MEMBER_MAX];
    tk_lb_entry_t e = {.c1 = TK_LB_SCORE_MAX + 1};
    assert_int_equal(tk_lb_member(&e, 1, "u", 1, m), -1);
    e = (tk_lb_entry_t){.c2 = -TK_LB_SCORE_MAX - 1};
    assert_int_equal(tk_lb_member(&e, 2, "u", 1, m), -1);
    e = (tk_lb_entry_t){.t_ms = TK_LB_TIME_MAX + 1};
    assert_int_equal(tk_lb_member(&e, 1, "u", 1, m), -1);
    e = (tk_lb_entry_t){.seq = -1};
    assert_int_equal(tk_lb_member(&e, 1, "u", 1, m), -1);
    e = (tk_lb_entry_t){0};
    assert_int_equal(tk_lb_member(&e, 3, "u", 1, m), -1);
    assert_int_equal(tk_lb_member(&e, 1, "u", 0, m), -1);
}

static void test_entry_round_trip_and_malformed(void **state)
{
    (void)state;
    char s[TK_LB_ENTRY_MAX];
    tk_lb_entry_t e = {.c1 = -TK_LB_SCORE_MAX, .c2 = TK_LB_SCORE_MAX, .t_ms = 1764000000123, .seq = 42}, back;
    int n = tk_lb_entry_format(&e, s);
    assert_string_equal(s, "-9007199254740991 9007199254740991 1764000000123 42");
    assert_int_equal(tk_lb_entry_parse(s, (size_t)n, &back), 0);
    assert_memory_equal(&e, &back, sizeof e);
    const char *bad[] = {"", "1 2 3", "1 2 3 4 5", "1  2 3 4", "1 2 3 4 ", "x 2 3 4", "9007199254740992 0 0 0",
                         "0 0 -1 0", "0 0 0 10000000000", "- 0 0 0", "0 0 0 4x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tk_lb_entry_parse(bad[i], strlen(bad[i]), &back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c2_orders_highest_first_across_zero_and_edges),
        cmocka_unit_test(test_time_then_sequence_then_user),
        cmocka_unit_test(test_fixed_width_and_user_offset),
        cmocka_unit_test(test_refuses_out_of_range),
        cmocka_unit_test(test_entry_round_trip_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
