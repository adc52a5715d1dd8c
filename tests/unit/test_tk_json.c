/* Unit tests of common/tk_json: escaping free text into JSON strings. */
#include "tk_json.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_escapes(void **state)
{
    (void)state;
    char out[TK_JSON_ESCAPED_MAX(16)];
    assert_int_equal(tk_json_escape("a\"b\\c", 5, out), 7);
    assert_string_equal(out, "a\\\"b\\\\c");
    tk_json_escape("\n\r\t\x01\x7f", 5, out);
    assert_string_equal(out, "\\n\\r\\t\\u0001\\u007f");
    tk_json_escape("caf\xc3\xa9", 5, out);
    assert_string_equal(out, "caf\xc3\xa9"); /* UTF-8 passes through */
}

static void test_parses_back(void **state)
{
    (void)state;
    /* Every byte below 0x80 round-trips through jansson. */
    char in[128], esc[TK_JSON_ESCAPED_MAX(128)], doc[sizeof(esc) + 4];
    for (int i = 0; i < 127; i++)
        in[i] = (char)(i + 1);
    tk_json_escape(in, 127, esc);
    snprintf(doc, sizeof(doc), "\"%s\"", esc);
    json_error_t err;
    json_t *j = json_loads(doc, JSON_DECODE_ANY, &err);
    assert_non_null(j);
    assert_int_equal(json_string_length(j), 127);
    assert_memory_equal(json_string_value(j), in, 127);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_parses_back),
    };
    return cmocka_run_group_tests_name("tk_json", tests, NULL, NULL);
}
