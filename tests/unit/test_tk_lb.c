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

/* What tk_lb_member writes, tk_lb_member_parse reads back: c2 across zero and at the edges, times and sequences. */
static void test_member_parse_round_trip(void **state)
{
    (void)state;
    const int64_t M = TK_LB_SCORE_MAX;
    const int64_t c2s[] = {-M, -M + 1, -1, 0, 1, M - 1, M};
    for (int comps = 1; comps <= 2; comps++) {
        for (size_t i = 0; i < sizeof c2s / sizeof c2s[0]; i++) {
            tk_lb_entry_t e = {.c1 = 3, .c2 = comps == 2 ? c2s[i] : 0, .t_ms = TK_LB_TIME_MAX - (int64_t)i, .seq = (int64_t)i * 1000};
            char m[TK_LB_MEMBER_MAX];
            int n = tk_lb_member(&e, comps, "u.1@x", 5, m);
            assert_true(n > 0);
            tk_lb_entry_t got = {.c1 = 77};
            size_t at = 0;
            assert_int_equal(tk_lb_member_parse(m, (size_t)n, comps, &got, &at), 0);
            assert_int_equal(got.c1, 77); /* untouched: c1 is the score's */
            assert_int_equal(got.c2, e.c2);
            assert_int_equal(got.t_ms, e.t_ms);
            assert_int_equal(got.seq, e.seq);
            assert_int_equal(at, tk_lb_member_user_at(comps));
            assert_int_equal((size_t)n - at, 5);
            assert_memory_equal(m + at, "u.1@x", 5);
        }
    }
}

static void test_member_parse_refuses_malformed(void **state)
{
    (void)state;
    tk_lb_entry_t e;
    size_t at;
    const char *one = "00000000012340000000007alice";   /* a good member of a 1-component board */
    assert_int_equal(tk_lb_member_parse(one, strlen(one), 1, &e, &at), 0);
    assert_int_equal(e.t_ms, 1234);
    assert_int_equal(e.seq, 7);
    assert_int_equal(at, 23);
    assert_int_equal(tk_lb_member_parse(one, 23, 1, &e, &at), -1);             /* no user */
    assert_int_equal(tk_lb_member_parse(one, strlen(one), 3, &e, &at), -1);    /* comps */
    assert_int_equal(tk_lb_member_parse(one, strlen(one), 2, &e, &at), -1);    /* too short for 2 components' user */
    const char *bad_digit = "0000000001x340000000007alice";
    assert_int_equal(tk_lb_member_parse(bad_digit, strlen(bad_digit), 1, &e, &at), -1);
    const char *bad_user = "00000000012340000000007al ice";
    assert_int_equal(tk_lb_member_parse(bad_user, strlen(bad_user), 1, &e, &at), -1);
    /* c2 keys: a first byte other than 0/1, "1" with zero (never written), a key past the range */
    const char *k2 = "2900719925474099100000000012340000000007bob";
    assert_int_equal(tk_lb_member_parse(k2, strlen(k2), 2, &e, &at), -1);
    const char *neg0 = "1000000000000000000000000012340000000007bob";
    assert_int_equal(tk_lb_member_parse(neg0, strlen(neg0), 2, &e, &at), -1);
    const char *big = "0900719925474099200000000012340000000007bob";
    assert_int_equal(tk_lb_member_parse(big, strlen(big), 2, &e, &at), -1);
    const char *ok2 = "1000000000000000500000000012340000000007bob";
    assert_int_equal(tk_lb_member_parse(ok2, strlen(ok2), 2, &e, &at), 0);
    assert_int_equal(e.c2, -5);
}

static void test_score_c1(void **state)
{
    (void)state;
    int64_t c1 = 1;
    assert_int_equal(tk_lb_score_c1("-12", 3, &c1), 0);
    assert_int_equal(c1, 12);
    assert_int_equal(tk_lb_score_c1("12", 2, &c1), 0);
    assert_int_equal(c1, -12);
    assert_int_equal(tk_lb_score_c1("0", 1, &c1), 0);
    assert_int_equal(c1, 0);
    assert_int_equal(tk_lb_score_c1("-0", 2, &c1), 0);
    assert_int_equal(c1, 0);
    assert_int_equal(tk_lb_score_c1("-9007199254740991", 17, &c1), 0);
    assert_int_equal(c1, TK_LB_SCORE_MAX);
    assert_int_equal(tk_lb_score_c1("9007199254740991", 16, &c1), 0);
    assert_int_equal(c1, -TK_LB_SCORE_MAX);
    assert_int_equal(tk_lb_score_c1("-1e+15", 6, &c1), 0);
    assert_int_equal(c1, INT64_C(1000000000000000));
    c1 = 5;
    assert_int_equal(tk_lb_score_c1("9007199254740992", 16, &c1), -1); /* 2^53: out of range */
    assert_int_equal(tk_lb_score_c1("1.5", 3, &c1), -1);
    assert_int_equal(tk_lb_score_c1("inf", 3, &c1), -1);
    assert_int_equal(tk_lb_score_c1("nan", 3, &c1), -1);
    assert_int_equal(tk_lb_score_c1("12x", 3, &c1), -1);
    assert_int_equal(tk_lb_score_c1("", 0, &c1), -1);
    assert_int_equal(c1, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c2_orders_highest_first_across_zero_and_edges),
        cmocka_unit_test(test_time_then_sequence_then_user),
        cmocka_unit_test(test_fixed_width_and_user_offset),
        cmocka_unit_test(test_refuses_out_of_range),
        cmocka_unit_test(test_entry_round_trip_and_malformed),
        cmocka_unit_test(test_member_parse_round_trip),
        cmocka_unit_test(test_member_parse_refuses_malformed),
        cmocka_unit_test(test_score_c1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
