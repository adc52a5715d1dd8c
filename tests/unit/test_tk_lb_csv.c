/* Unit tests of common/tk_lb_csv: the import's line format, its refusals, the header, and that an exported line parses back. */
#include "tk_lb_csv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *line, int comps, tk_lb_csv_row_t *r, const char **why)
{
    return tk_lb_csv_parse(line, strlen(line), comps, r, why);
}

static void test_good_lines(void **state)
{
    (void)state;
    tk_lb_csv_row_t r;
    const char *why = NULL;
    assert_int_equal(parse("u-1,12,3400,2026-11-22T09:00:00.123Z", 2, &r, &why), 0);
    assert_int_equal(r.ulen, 3);
    assert_memory_equal(r.user, "u-1", 3);
    assert_int_equal(r.c1, 12);
    assert_int_equal(r.c2, 3400);
    assert_int_equal(r.t_ms, INT64_C(1795338000123));
    assert_int_equal(parse("a@b.c:d_e,-9007199254740991,9007199254740991,0\r", 2, &r, &why), 0);
    assert_int_equal(r.c1, -INT64_C(9007199254740991));
    assert_int_equal(r.c2, INT64_C(9007199254740991));
    assert_int_equal(r.t_ms, 0);
    assert_int_equal(parse("x,0007,-0,9999999999999", 2, &r, &why), 0);
    assert_int_equal(r.c1, 7);
    assert_int_equal(r.c2, 0);
    assert_int_equal(r.t_ms, INT64_C(9999999999999));
    assert_int_equal(parse("x,5,2026-11-22T10:00:00+01:00", 1, &r, &why), 0); /* one component: three columns */
    assert_int_equal(r.c1, 5);
    assert_int_equal(r.c2, 0);
    assert_int_equal(r.t_ms, INT64_C(1795338000000));
    assert_int_equal(parse("x,5,0,17", 1, &r, &why), 0); /* or four with exp 0 */
    assert_int_equal(r.t_ms, 17);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int comps;
        const char *why;
    } bad[] = {
        {"", 2, "too few fields"},
        {"u,1,1", 2, "too few fields"},
        {"u,1,1,1,1", 2, "too many fields"},
        {"u,1,1,1,1", 1, "too many fields"},
        {"u,1,1", 1, NULL}, /* good: the control */
        {"u,1", 1, "too few fields"},
        {"bad user,1,1,1", 2, "bad user_id"},
        {",1,1,1", 2, "bad user_id"},
        {"u,+1,1,1", 2, "level is not an integer"},
        {"u,1.5,1,1", 2, "level is not an integer"},
        {"u, 1,1,1", 2, "level is not an integer"},
        {"u,-,1,1", 2, "level is not an integer"},
        {"u,,1,1", 2, "level is not an integer"},
        {"u,9007199254740992,1,1", 2, "level out of range"},
        {"u,-9007199254740992,1,1", 2, "level out of range"},
        {"u,123456789012345678901234,1,1", 2, "level out of range"},
        {"u,1,x,1", 2, "exp is not an integer"},
        {"u,1,9007199254740992,1", 2, "exp out of range"},
        {"u,1,5,1", 1, "exp must be 0"},
        {"u,1,x,1", 1, "exp is not an integer"},
        {"u,x,1", 1, "score is not an integer"},
        {"u,1,1,", 2, "bad updated_at"},
        {"u,1,1,-1", 2, "bad updated_at"},
        {"u,1,1,10000000000000", 2, "bad updated_at"},
        {"u,1,1,2026-02-30T00:00:00Z", 2, "bad updated_at"},
        {"u,1,1,2026-11-22 09:00:00Z", 2, "bad updated_at"},
        {"u,1,1,2026-11-22T09:00:00", 2, "bad updated_at"},
        {"u,1,1,1969-12-31T23:59:59.999Z", 2, "bad updated_at"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tk_lb_csv_row_t r;
        const char *why = NULL;
        int rc = parse(bad[i].line, bad[i].comps, &r, &why);
        if (bad[i].why == NULL) {
            assert_int_equal(rc, 0);
            continue;
        }
        if (rc != -1 || why == NULL || strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
            fail_msg("\"%s\" (comps %d): rc %d, why \"%s\", want \"%s\"", bad[i].line, bad[i].comps, rc, why ? why : "", bad[i].why);
    }
}

static void test_header(void **state)
{
    (void)state;
    assert_int_equal(tk_lb_csv_header("user_id,level,exp,updated_at", 28), TK_LB_CSV_HEADER);
    assert_int_equal(tk_lb_csv_header("user_id,level,exp,updated_at\r", 29), TK_LB_CSV_HEADER);
    assert_int_equal(tk_lb_csv_header("user_id,score,updated_at", 24), TK_LB_CSV_HEADER);
    assert_int_equal(tk_lb_csv_header("user_id,points,when", 19), TK_LB_CSV_BAD_HEADER);
    assert_int_equal(tk_lb_csv_header("user_id,1,2,3", 13), TK_LB_CSV_DATA);  /* a user named user_id: data */
    assert_int_equal(tk_lb_csv_header("u-1,level,2,3", 13), TK_LB_CSV_DATA);  /* data (refused later as such) */
}

static void test_export_line_parses_back(void **state)
{
    (void)state;
    char line[TK_LB_CSV_LINE_MAX];
    tk_lb_entry_t e = {.c1 = -TK_LB_SCORE_MAX, .c2 = TK_LB_SCORE_MAX, .t_ms = TK_LB_TIME_MAX, .seq = 42};
    char user[65];
    memset(user, 'u', 64);
    user[64] = '\0';
    for (int comps = 1; comps <= 2; comps++) {
        if (comps == 1)
            e.c2 = 0;
        int n = tk_lb_csv_format(user, 64, &e, comps, line);
        assert_true(n > 0);
        assert_int_equal(line[n - 1], '\n');
        tk_lb_csv_row_t r;
        const char *why = NULL;
        assert_int_equal(tk_lb_csv_parse(line, (size_t)n - 1, comps, &r, &why), 0);
        assert_int_equal(r.ulen, 64);
        assert_int_equal(r.c1, e.c1);
        assert_int_equal(r.c2, e.c2);
        assert_int_equal(r.t_ms, e.t_ms);
    }
    assert_string_equal(tk_lb_csv_header_line(2), "user_id,level,exp,updated_at");
    assert_string_equal(tk_lb_csv_header_line(1), "user_id,score,updated_at");
    assert_int_equal(tk_lb_csv_format(user, 65, &e, 2, line), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_lines),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_export_line_parses_back),
    };
    return cmocka_run_group_tests_name("tk_lb_csv", tests, NULL, NULL);
}
