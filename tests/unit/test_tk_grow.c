/* Unit tests of common/tk_grow: room made by doubling, new elements zeroed, the old ones kept, nothing touched on failure. */
#include "tk_grow.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_grows_by_doubling_and_zeroes(void **state)
{
    (void)state;
    size_t cap = 0;
    int *a = tk_grow(NULL, &cap, 1, sizeof(*a), 4);
    assert_non_null(a);
    assert_int_equal(cap, 4);
    for (size_t i = 0; i < cap; i++)
        assert_int_equal(a[i], 0);
    a[0] = 7;
    a[3] = 9;
    assert_ptr_equal(tk_grow(a, &cap, 4, sizeof(*a), 4), a); /* room already */
    assert_int_equal(cap, 4);
    int *b = tk_grow(a, &cap, 5, sizeof(*b), 4);
    assert_non_null(b);
    assert_int_equal(cap, 8);
    assert_int_equal(b[0], 7);
    assert_int_equal(b[3], 9);
    for (size_t i = 4; i < cap; i++)
        assert_int_equal(b[i], 0);
    int *c = tk_grow(b, &cap, 100, sizeof(*c), 4); /* doubles until it fits */
    assert_non_null(c);
    assert_int_equal(cap, 128);
    free(c);
}

static void test_too_large_changes_nothing(void **state)
{
    (void)state;
    size_t cap = 2;
    char *a = calloc(cap, 1);
    assert_non_null(a);
    assert_null(tk_grow(a, &cap, SIZE_MAX / 2 + 2, 1, 2));
    assert_int_equal(cap, 2);
    assert_null(tk_grow(a, &cap, 3, SIZE_MAX / 2, 2));
    assert_int_equal(cap, 2);
    free(a); /* still the caller's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_by_doubling_and_zeroes),
        cmocka_unit_test(test_too_large_changes_nothing),
    };
    return cmocka_run_group_tests_name("tk_grow", tests, NULL, NULL);
}
