/* Unit tests of common/tk_streamid: entry ids ordered as numbers, never as text. */
#include "tk_streamid.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_parse(void **state)
{
    (void)state;
    uint64_t ms, seq;
    assert_int_equal(tk_streamid_parse("1700000000000-42", &ms, &seq), 0);
    assert_true(ms == 1700000000000ULL && seq == 42);
    assert_int_equal(tk_streamid_parse("7", &ms, &seq), 0);
    assert_true(ms == 7 && seq == 0);
    assert_int_equal(tk_streamid_parse("18446744073709551615-18446744073709551615", &ms, &seq), 0);
    assert_true(ms == UINT64_MAX && seq == UINT64_MAX);
    const char *bad[] = {"", "-", "1-", "-1", "1-2-3", "a-1", "1-b", "18446744073709551616-0", "0-18446744073709551616", " 1-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tk_streamid_parse(bad[i], &ms, &seq), -1);
}

/* Each pair is in stream order: the first id comes before the second. */
static void test_order_is_numeric(void **state)
{
    (void)state;
    static const char *const before[][2] = {
        {"5-9", "5-10"},                 /* strcmp puts "5-10" first */
        {"9-0", "10-0"},                 /* and "10-0" before "9-0" */
        {"1700000000000-99", "1700000000000-100"},
        {"999-5", "1000-0"},
        {"0-0", "0-1"},
        {"3", "3-1"},                    /* a bare ms is seq 0 */
        {"not-an-id", "0-0"},            /* text that is not an id sorts first */
    };
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
        assert_true(tk_streamid_cmp(before[i][0], before[i][1]) < 0);
        assert_true(tk_streamid_cmp(before[i][1], before[i][0]) > 0);
    }
    assert_int_equal(tk_streamid_cmp("12-34", "12-34"), 0);
    assert_int_equal(tk_streamid_cmp("12", "12-0"), 0);
}

/* The largest of several ids, as the worker's recovery picks the id to read on from. */
static void test_max_of_ids(void **state)
{
    (void)state;
    const char *ids[] = {"1700000000000-9", "1700000000000-10", "1700000000000-8", "999999999999-11"};
    const char *last = NULL;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        if (last == NULL || tk_streamid_cmp(ids[i], last) > 0)
            last = ids[i];
    assert_string_equal(last, "1700000000000-10");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_order_is_numeric),
        cmocka_unit_test(test_max_of_ids),
    };
    return cmocka_run_group_tests_name("tk_streamid", tests, NULL, NULL);
}
