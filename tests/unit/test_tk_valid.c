/* Unit tests of common/tk_valid: the id, name and UTF-8 rules of API.md. */
#include "tk_valid.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define V(fn, s) fn(s, strlen(s))

static void test_event_id(void **state)
{
    (void)state;
    assert_true(V(tk_valid_event_id, "cookie-day"));
    assert_true(V(tk_valid_event_id, "a"));
    assert_true(V(tk_valid_event_id, "x_9-z"));
    assert_false(V(tk_valid_event_id, ""));
    assert_false(V(tk_valid_event_id, "Cookie"));   /* upper case is not allowed */
    assert_false(V(tk_valid_event_id, "a.b"));
    assert_false(V(tk_valid_event_id, "a b"));
    assert_false(V(tk_valid_event_id, "a/b"));
    assert_false(V(tk_valid_event_id, "\xc3\xa9")); /* é */
    char id[66];
    memset(id, 'a', sizeof(id));
    assert_true(tk_valid_event_id(id, 64));
    assert_false(tk_valid_event_id(id, 65));
    assert_false(tk_valid_event_id("a\0b", 3)); /* an embedded NUL is a character like any other */
}

static void test_user_id(void **state)
{
    (void)state;
    assert_true(V(tk_valid_user_id, "u-42"));
    assert_true(V(tk_valid_user_id, "Alice.B:7@host_x-y"));
    assert_false(V(tk_valid_user_id, ""));
    assert_false(V(tk_valid_user_id, "a b"));
    assert_false(V(tk_valid_user_id, "a/b"));
    assert_false(V(tk_valid_user_id, "a\"b"));
    assert_false(V(tk_valid_user_id, "a+b"));
    char id[65];
    memset(id, 'Z', sizeof(id));
    assert_true(tk_valid_user_id(id, 64));
    assert_false(tk_valid_user_id(id, 65));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(V(tk_valid_utf8, "plain"));
    assert_true(V(tk_valid_utf8, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\xaa")); /* é € 🍪 */
    assert_false(V(tk_valid_utf8, "\xc3"));                                   /* truncated */
    assert_false(V(tk_valid_utf8, "\xc0\xaf"));                               /* overlong '/' */
    assert_false(V(tk_valid_utf8, "\xed\xa0\x80"));                           /* a surrogate */
    assert_false(V(tk_valid_utf8, "\xf4\x90\x80\x80"));                       /* above U+10FFFF */
    assert_false(V(tk_valid_utf8, "\xff"));
    assert_false(V(tk_valid_utf8, "\x80"));
}

static void test_name(void **state)
{
    (void)state;
    assert_true(V(tk_valid_name, "Cookie day \xf0\x9f\x8d\xaa"));
    assert_false(V(tk_valid_name, ""));
    assert_false(V(tk_valid_name, "line\nbreak"));
    assert_false(V(tk_valid_name, "tab\there"));
    assert_false(V(tk_valid_name, "bad \xc3"));
    char name[TK_NAME_MAX + 1];
    memset(name, 'n', sizeof(name));
    assert_true(tk_valid_name(name, TK_NAME_MAX));
    assert_false(tk_valid_name(name, TK_NAME_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_id),
        cmocka_unit_test(test_user_id),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_name),
    };
    return cmocka_run_group_tests_name("tk_valid", tests, NULL, NULL);
}
