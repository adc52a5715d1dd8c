/* Unit tests of the pure part of the board reads (gateway/boards/gw_board_format.c): query, body, decoding, JSON. */
#include "gw_board_read.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static gw_board_read_t fresh(gw_board_shape_t shape)
{
    gw_board_read_t rd = {.shape = shape, .season = GW_BOARD_SEASON_CURRENT, .limit = GW_BOARD_LIMIT_DEFAULT,
                          .radius = GW_BOARD_RADIUS_DEFAULT};
    return rd;
}

static int query(gw_board_read_t *rd, const char *q)
{
    char err[GW_BOARD_ERR_MAX];
    return gw_board_query(q, q != NULL ? strlen(q) : 0, rd, err);
}

static void test_query_values_and_defaults(void **state)
{
    (void)state;
    gw_board_read_t rd = fresh(GW_BOARD_TOP);
    assert_int_equal(query(&rd, NULL), 0);
    assert_int_equal(rd.season, GW_BOARD_SEASON_CURRENT);
    assert_int_equal(rd.limit, 100);
    assert_int_equal(rd.offset, 0);
    assert_int_equal(query(&rd, "limit=1000&offset=10000000&season=7&x=y"), 0);
    assert_int_equal(rd.limit, 1000);
    assert_int_equal(rd.offset, 10000000);
    assert_int_equal(rd.season, 7);
    rd = fresh(GW_BOARD_TOP);
    assert_int_equal(query(&rd, "season=0"), 0); /* a number: 404 from the script, not 400 */
    assert_int_equal(rd.season, 0);
    assert_int_equal(query(&rd, "season=current"), 0);
    assert_int_equal(rd.season, GW_BOARD_SEASON_CURRENT);
    assert_int_equal(query(&rd, "season=9999999999"), 0);
    assert_int_equal(rd.season, INT64_C(9999999999));

    gw_board_read_t a = fresh(GW_BOARD_AROUND);
    assert_int_equal(query(&a, "radius=100"), 0);
    assert_int_equal(a.radius, 100);
    a = fresh(GW_BOARD_AROUND);
    assert_int_equal(query(&a, "radius=1&limit=0"), 0); /* limit is not around's: ignored */
    assert_int_equal(a.radius, 1);
    assert_int_equal(a.limit, 100);
}

static void test_query_refuses(void **state)
{
    (void)state;
    static const char *const top_bad[] = {"limit=0",     "limit=1001", "limit=",         "limit=x",   "offset=-1",
                                          "offset=10000001", "offset=1e3", "season=",        "season=-1", "season=99999999999",
                                          "season=Current",  "limit=5&limit=5", "season=1&season=1"};
    for (size_t i = 0; i < sizeof top_bad / sizeof top_bad[0]; i++) {
        gw_board_read_t rd = fresh(GW_BOARD_TOP);
        assert_int_equal(query(&rd, top_bad[i]), -1);
    }
    static const char *const around_bad[] = {"radius=0", "radius=101", "radius=", "radius=a"};
    for (size_t i = 0; i < sizeof around_bad / sizeof around_bad[0]; i++) {
        gw_board_read_t rd = fresh(GW_BOARD_AROUND);
        assert_int_equal(query(&rd, around_bad[i]), -1);
    }
}

static int body(gw_board_read_t *rd, const char *b)
{
    char err[GW_BOARD_ERR_MAX];
    return gw_board_ranks_body(b, strlen(b), rd, err);
}

static void test_ranks_body(void **state)
{
    (void)state;
    gw_board_read_t rd = fresh(GW_BOARD_RANKS);
    assert_int_equal(body(&rd, "{\"user_ids\":[\"a\",\"b.c@d\",\"a\"],\"other\":1}"), 0);
    assert_int_equal(rd.nusers, 3);
    assert_string_equal(rd.users[0], "a");
    assert_string_equal(rd.users[1], "b.c@d");
    assert_string_equal(rd.users[2], "a");
    free(rd.users);
    static const char *const bad[] = {"",           "[]",          "{}",           "{\"user_ids\":[]}", "{\"user_ids\":\"a\"}",
                                      "{\"user_ids\":[1]}", "{\"user_ids\":[\"\"]}", "{\"user_ids\":[\"a b\"]}", "{\"user_ids\":[null]}",
                                      "{\"user_ids\":[\"a\"],\"user_ids\":[\"b\"]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rd = fresh(GW_BOARD_RANKS);
        assert_int_equal(body(&rd, bad[i]), -1);
        assert_null(rd.users);
    }
}

static void test_decode_and_json(void **state)
{
    (void)state;
    gw_board_read_t rd = fresh(GW_BOARD_TOP);
    rd.comps = 2;
    rd.season_no = 4;
    tk_lb_entry_t e = {.c1 = 12, .c2 = -3, .t_ms = 1767225600123, .seq = 9};
    char m[TK_LB_MEMBER_MAX];
    int n = tk_lb_member(&e, 2, "u-1", 3, m);
    assert_int_equal(gw_board_add_member(&rd, 1, m, (size_t)n, "-12", 3), 0);
    assert_int_equal(gw_board_add_value(&rd, 2, "u-2", 3, "11 9007199254740991 1767225600000 10", 36), 0);
    assert_int_equal(gw_board_add_member(&rd, 3, m, (size_t)n, "-12.5", 5), -1); /* not an integer */
    assert_int_equal(gw_board_add_member(&rd, 3, m, (size_t)n - 3, "-12", 3), -1); /* no user */
    assert_int_equal(gw_board_add_value(&rd, 3, "u-3", 3, "11 0 1", 6), -1);
    assert_int_equal(gw_board_add_value(&rd, 3, "bad id", 6, "1 0 1 1", 7), -1);
    assert_int_equal(rd.n, 2);
    size_t len;
    char *json = gw_board_json(&rd, &len);
    assert_non_null(json);
    assert_string_equal(json, "{\"season\":4,\"entries\":["
                              "{\"rank\":1,\"user_id\":\"u-1\",\"score\":[12,-3],\"updated_at\":\"2026-01-01T00:00:00.123Z\"},"
                              "{\"rank\":2,\"user_id\":\"u-2\",\"score\":[11,9007199254740991],\"updated_at\":\"2026-01-01T00:00:00.000Z\"}]}");
    assert_int_equal(len, strlen(json));
    free(json);

    rd.shape = GW_BOARD_USER;
    rd.comps = 1;
    rd.n = 1;
    json = gw_board_json(&rd, &len);
    assert_non_null(json);
    assert_string_equal(json, "{\"season\":4,\"rank\":1,\"user_id\":\"u-1\",\"score\":[12],\"updated_at\":\"2026-01-01T00:00:00.123Z\"}");
    free(json);
    rd.n = 0;
    assert_null(gw_board_json(&rd, &len)); /* USER with nothing found: the caller answers 404 */
    rd.shape = GW_BOARD_RANKS;
    json = gw_board_json(&rd, &len);
    assert_string_equal(json, "{\"season\":4,\"entries\":[]}");
    free(json);
    free(rd.entries);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_values_and_defaults),
        cmocka_unit_test(test_query_refuses),
        cmocka_unit_test(test_ranks_body),
        cmocka_unit_test(test_decode_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
