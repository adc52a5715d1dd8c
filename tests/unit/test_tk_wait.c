/* Unit tests of common/tk_wait: the WAIT command's text and how its reply is read. */
#include "tk_wait.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_argv(void **state)
{
    (void)state;
    tk_wait_cmd_t c;
    tk_wait_argv(&c, 2, 500);
    assert_int_equal(c.lens[0], 4);
    assert_memory_equal(c.argv[0], "WAIT", 4);
    assert_int_equal(c.lens[1], 1);
    assert_memory_equal(c.argv[1], "2", 1);
    assert_int_equal(c.lens[2], 3);
    assert_memory_equal(c.argv[2], "500", 3);
    tk_wait_argv(&c, 16, 2000);
    assert_int_equal(c.lens[1], 2);
    assert_memory_equal(c.argv[1], "16", 2);
    assert_int_equal(c.lens[2], 4);
    assert_memory_equal(c.argv[2], "2000", 4);
}

static void test_result(void **state)
{
    (void)state;
    long long got = 7;
    redisReply r = {.type = REDIS_REPLY_INTEGER, .integer = 1};
    assert_int_equal(tk_wait_result(&r, 1, &got), TK_WAIT_OK);
    assert_int_equal(got, 1);
    r.integer = 3; /* more replicas than asked: fine */
    assert_int_equal(tk_wait_result(&r, 2, &got), TK_WAIT_OK);
    assert_int_equal(got, 3);
    r.integer = 0; /* the timeout passed first */
    assert_int_equal(tk_wait_result(&r, 1, &got), TK_WAIT_SHORT);
    assert_int_equal(got, 0);
    r.integer = 1;
    assert_int_equal(tk_wait_result(&r, 2, NULL), TK_WAIT_SHORT);
    r.integer = -1; /* never from Redis: not a count */
    assert_int_equal(tk_wait_result(&r, 0, &got), TK_WAIT_ERROR);
    assert_int_equal(got, -1);
    /* WAIT sent to a replica, or on a connection that failed */
    redisReply e = {.type = REDIS_REPLY_ERROR, .str = "ERR WAIT cannot be used with replica instances.", .len = 47};
    assert_int_equal(tk_wait_result(&e, 1, &got), TK_WAIT_ERROR);
    assert_int_equal(tk_wait_result(NULL, 1, &got), TK_WAIT_ERROR);
    redisReply s = {.type = REDIS_REPLY_STRING, .str = "1", .len = 1}; /* a number, but not an integer reply */
    assert_int_equal(tk_wait_result(&s, 1, &got), TK_WAIT_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
