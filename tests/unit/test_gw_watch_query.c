/* test_gw_watch_query: the watch route's query string (gw_watch_query.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_watch_query.h"

static int parse(const char *q, gw_watch_query_t *out)
{
    char err[128] = "";
    int rc = gw_watch_query_parse(q, q != NULL ? strlen(q) : 0, out, err, sizeof err);
    if (rc != 0)
        assert_true(err[0] != '\0'); /* every refusal says why */
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    gw_watch_query_t q;
    assert_int_equal(parse(NULL, &q), 0);
    assert_int_equal(q.since, GW_WATCH_SINCE_NONE);
    assert_string_equal(q.page, "event");
    assert_int_equal(q.tab, 0);
    assert_int_equal(q.wait_s, 25);
    assert_int_equal(q.ulen, 0);
    assert_int_equal(parse("", &q), 0);
    assert_int_equal(parse("_=123&x", &q), 0); /* unknown ones are ignored */
}

static void test_values(void **state)
{
    (void)state;
    gw_watch_query_t q;
    assert_int_equal(parse("since=1234&page=queue_2-b&tab=99&wait=0&user_id=u-1@x.y", &q), 0);
    assert_int_equal(q.since, 1234);
    assert_string_equal(q.page, "queue_2-b");
    assert_int_equal(q.tab, 99);
    assert_int_equal(q.wait_s, 0);
    assert_string_equal(q.user_id, "u-1@x.y");
    assert_int_equal(parse("since=0&wait=25&page=abcdefghijklmnopqrstuvwxyz012345", &q), 0); /* 32 chars */
    assert_int_equal(q.since, 0);
    assert_int_equal(q.plen, 32);
}

static void test_refusals(void **state)
{
    (void)state;
    gw_watch_query_t q;
    static const char *const bad[] = {
        "since=", "since=-1", "since=1x", "since=1234567890123456789", "since=1&since=2",
        "page=", "page=Event", "page=a/b", "page=a%20b", "page=abcdefghijklmnopqrstuvwxyz0123456",
        "tab=", "tab=100", "tab=-1", "tab=1.5",
        "wait=", "wait=26", "wait=100", "wait=-1", "wait=1s",
        "user_id=", "user_id=a%40b", "user_id=a b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &q) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
