/*
 * opt_expect: what the unit tests of option parsing share (test_tk_opt,
 * test_gw_config, test_wk_config): a clean environment, and "this command
 * line gives that result, with a message naming the culprit".
 */
#ifndef OPT_EXPECT_H
#define OPT_EXPECT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define OPT_EXPECT_WORDS_MAX 16

/* Parses a command line into the test's own configuration; returns what the parser under test returns. */
typedef int (*opt_parse_fn)(int argc, char **argv, char *err, size_t errlen);

static inline void opt_unsetenv_all(const char *const *vars, size_t n)
{
    for (size_t i = 0; i < n; i++)
        unsetenv(vars[i]);
}

/*
 * Runs @parse on the command line given as the NULL-terminated words after
 * @why, and asserts it returns @rc and, when @why is not NULL, that the
 * message it wrote contains @why.
 */
static inline void opt_expect(opt_parse_fn parse, int rc, const char *why, ...)
{
    char *argv[OPT_EXPECT_WORDS_MAX], err[512] = "";
    int argc = 0;
    va_list ap;
    va_start(ap, why);
    for (char *w = va_arg(ap, char *); w != NULL; w = va_arg(ap, char *)) {
        assert_true(argc < OPT_EXPECT_WORDS_MAX);
        argv[argc++] = w;
    }
    va_end(ap);
    assert_int_equal(parse(argc, argv, err, sizeof(err)), rc);
    if (why != NULL)
        assert_non_null(strstr(err, why));
}

#endif
