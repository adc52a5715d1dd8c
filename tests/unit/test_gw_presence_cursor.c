/* test_gw_presence_cursor: the admin presence lookup's query and cursor (gw_presence_cursor.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_presence_cursor.h"

static int parse(const char *q, gw_presence_query_t *out)
{
    char err[128] = "";
    int rc = gw_presence_query_parse(q, q != NULL ? strlen(q) : 0, out, err, sizeof err);
    if (rc != 0)
        assert_true(err[0] != '\0');
    return rc;
}

static void test_defaults_and_shapes(void **state)
{
    (void)state;
    gw_presence_query_t q;
    assert_int_equal(parse(NULL, &q), 0);
    assert_int_equal(q.limit, 100);
    assert_int_equal(q.has_page, 0);
    assert_int_equal(q.has_cursor, 0);
    assert_int_equal(parse("page=queue&tab=0&limit=1000", &q), 0);
    assert_int_equal(q.has_page, 1);
    assert_string_equal(q.page, "queue");
    assert_int_equal(q.tab, 0);
    assert_int_equal(q.limit, 1000);
    assert_int_equal(parse("limit=1", &q), 0);
    assert_int_equal(q.limit, 1);
}

/* What gw_presence_cursor_format writes, the parser reads back; user ids may hold ':'. */
static void test_cursor_round_trip(void **state)
{
    (void)state;
    char cur[GW_PRESENCE_CURSOR_MAX], q[300];
    const char *users[] = {"u-1", "a:b:c", "x@y.z", "A_b-9.:@"};
    for (size_t i = 0; i < 4; i++) {
        gw_presence_cursor_format(1763802030000LL, 1763802000001LL, users[i], cur);
        snprintf(q, sizeof q, "cursor=%s", cur);
        gw_presence_query_t p;
        assert_int_equal(parse(q, &p), 0);
        assert_int_equal(p.has_cursor, 1);
        assert_int_equal(p.t_ms, 1763802030000LL);
        assert_int_equal(p.score_ms, 1763802000001LL);
        assert_string_equal(p.user, users[i]);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    gw_presence_query_t q;
    static const char *const bad[] = {
        "limit=0", "limit=1001", "limit=", "limit=-1", "limit=10x", "limit=1&limit=2",
        "page=event", "tab=1", "page=Event&tab=1", "page=event&tab=100", "page=&tab=0",
        "cursor=", "cursor=abc", "cursor=1:2", "cursor=1:2:", "cursor=x:2:u", "cursor=1:x:u",
        "cursor=1:5:u", /* a score after its walk's snapshot */
        "cursor=5:1:bad user", "cursor=5:1:u&cursor=5:1:u",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &q) != -1)
            fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_shapes),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
