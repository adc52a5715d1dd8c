/* Unit tests of common/tk_keys: every key of an event carries its hash tag. */
#include "tk_keys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_names(void **state)
{
    (void)state;
    char key[TK_KEY_MAX];
    assert_int_equal(tk_key(TK_KEY_EV, "cookie-day", 10, key), (int)strlen("tk:{cookie-day}:ev"));
    assert_string_equal(key, "tk:{cookie-day}:ev");
    tk_key(TK_KEY_CLAIMS, "cookie-day", 10, key);
    assert_string_equal(key, "tk:{cookie-day}:claims");
    tk_key(TK_KEY_STREAM, "cookie-day", 10, key);
    assert_string_equal(key, "tk:{cookie-day}:q");
    tk_key(TK_KEY_WQ_ADM, "cookie-day", 10, key);
    assert_string_equal(key, "tk:{cookie-day}:wq:adm");
    tk_key(TK_KEY_WQ_REL, "cookie-day", 10, key);
    assert_string_equal(key, "tk:{cookie-day}:wq:rel");
    tk_key(TK_KEY_WQ_FENCE, "cookie-day", 10, key);
    assert_string_equal(key, "tk:{cookie-day}:wq:fence");
}

static void test_uses_only_len_bytes(void **state)
{
    (void)state;
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_EV, "abcdef", 3, key); /* an id taken from a longer path */
    assert_string_equal(key, "tk:{abc}:ev");
}

static void test_same_slot_tag(void **state)
{
    (void)state;
    /* Redis Cluster hashes only what is between the first { and }: the tag of
     * every key of one event must be the event id, exactly. */
    char a[TK_KEY_MAX], b[TK_KEY_MAX];
    tk_key(TK_KEY_EV, "e1", 2, a);
    tk_key(TK_KEY_STREAM, "e1", 2, b);
    const char *ta = strchr(a, '{'), *tb = strchr(b, '{');
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_equal(strchr(ta, '}') - ta, strchr(tb, '}') - tb);
    assert_memory_equal(ta, tb, (size_t)(strchr(ta, '}') - ta));
}

static void test_limits(void **state)
{
    (void)state;
    char key[TK_KEY_MAX], id[65];
    memset(id, 'a', sizeof(id));
    assert_true(tk_key(TK_KEY_CLAIMS, id, 64, key) > 0);
    assert_int_equal(tk_key(TK_KEY_CLAIMS, id, 65, key), -1);
    assert_int_equal(tk_key(TK_KEY_EV, id, 0, key), -1);
    assert_int_equal(tk_key((tk_key_kind_t)(TK_KEY_WQ_FENCE + 1), id, 3, key), -1);
    assert_true(tk_key(TK_KEY_WQ_FENCE, id, 64, key) > 0);
    /* the longest kind with the longest id still fits */
    assert_true(tk_key(TK_KEY_WQ_LINE, id, 64, key) > 0);
    assert_true(strlen(key) < TK_KEY_MAX);
}

static void test_board_keys(void **state)
{
    (void)state;
    char key[TK_KEY_MAX], id[65];
    assert_int_equal(tk_lb_key(TK_LB_BOARD, "fans", 4, 0, key), (int)strlen("tk:lb:{fans}"));
    assert_string_equal(key, "tk:lb:{fans}");
    tk_lb_key(TK_LB_STREAM, "fans", 4, 0, key);
    assert_string_equal(key, "tk:lb:{fans}:q");
    tk_lb_key(TK_LB_SEASONS, "fans", 4, 0, key);
    assert_string_equal(key, "tk:lb:{fans}:sn");
    tk_lb_key(TK_LB_RANK, "fans", 4, 12, key);
    assert_string_equal(key, "tk:lb:{fans}:z:12");
    tk_lb_key(TK_LB_USERS, "fans", 4, 4294967295u, key);
    assert_string_equal(key, "tk:lb:{fans}:u:4294967295");
    tk_lb_key(TK_LB_PEND, "fans", 4, 0, key);
    assert_string_equal(key, "tk:lb:{fans}:pend");
    tk_lb_key(TK_LB_DROP, "fans", 4, 0, key);
    assert_string_equal(key, "tk:lb:{fans}:drop");
    tk_key(TK_KEY_PRIO, "e1", 2, key);
    assert_string_equal(key, "tk:{e1}:prio");
    memset(id, 'a', sizeof(id));
    assert_true(tk_lb_key(TK_LB_USERS, id, 64, 4294967295u, key) > 0);
    assert_int_equal(tk_lb_key(TK_LB_BOARD, id, 65, 0, key), -1);
    assert_int_equal(tk_lb_key(TK_LB_BOARD, id, 0, 0, key), -1);
    assert_int_equal(tk_lb_key((tk_lb_key_kind_t)(TK_LB_DROP + 1), id, 3, 0, key), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_uses_only_len_bytes),
        cmocka_unit_test(test_same_slot_tag),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_board_keys),
    };
    return cmocka_run_group_tests_name("tk_keys", tests, NULL, NULL);
}
