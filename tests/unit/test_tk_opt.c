/* Unit tests of common/tk_opt: defaults, environment, flags, validation. */
#include "tk_opt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "opt_expect.h"

typedef struct {
    const char *host;
    long port;
    int verbose;
} conf_t;

static int parse(conf_t *c, int argc, char **argv, char *err)
{
    c->host = "127.0.0.1";
    c->port = 6390;
    c->verbose = 0;
    const tk_opt_t opts[] = {
        {"--host", "TKT_HOST", TK_OPT_STR, &c->host, 0, 0, "host"},
        {"--port", "TKT_PORT", TK_OPT_INT, &c->port, 1, 65535, "port"},
        {"--verbose", "TKT_VERBOSE", TK_OPT_FLAG, &c->verbose, 0, 0, "more"},
    };
    return tk_opt_parse(opts, TK_OPT_COUNT(opts), argc, argv, err, 256);
}

static conf_t parsed;

static int parse_parsed(int argc, char **argv, char *err, size_t errlen)
{
    (void)errlen; /* parse() writes at most 256 bytes */
    return parse(&parsed, argc, argv, err);
}

static int setup(void **state)
{
    (void)state;
    static const char *const vars[] = {"TKT_HOST", "TKT_PORT", "TKT_VERBOSE"};
    opt_unsetenv_all(vars, sizeof(vars) / sizeof(vars[0]));
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    conf_t c;
    char err[256], *argv[] = {"prog"};
    assert_int_equal(parse(&c, 1, argv, err), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 6390);
    assert_int_equal(c.verbose, 0);
}

static void test_env_then_flag(void **state)
{
    (void)state;
    conf_t c;
    char err[256];
    setenv("TKT_PORT", "7000", 1);
    setenv("TKT_HOST", "::1", 1);
    char *argv1[] = {"prog"};
    assert_int_equal(parse(&c, 1, argv1, err), 0);
    assert_int_equal(c.port, 7000);
    assert_string_equal(c.host, "::1");
    char *argv2[] = {"prog", "--port", "7100", "--host=localhost", "--verbose"};
    assert_int_equal(parse(&c, 5, argv2, err), 0);
    assert_int_equal(c.port, 7100); /* the flag wins over the environment */
    assert_string_equal(c.host, "localhost");
    assert_int_equal(c.verbose, 1);
}

static void test_bad_values(void **state)
{
    (void)state;
    opt_expect(parse_parsed, -1, "--port=0", "prog", "--port", "0", NULL);
    opt_expect(parse_parsed, -1, NULL, "prog", "--port=12x", NULL);
    opt_expect(parse_parsed, -1, "needs a value", "prog", "--port", NULL);
    opt_expect(parse_parsed, -1, "unknown option --nope", "prog", "--nope", NULL);
    opt_expect(parse_parsed, -1, NULL, "prog", "--portx=1", NULL); /* a prefix of a flag is not the flag */
    setenv("TKT_PORT", "99999", 1);
    opt_expect(parse_parsed, -1, "TKT_PORT=99999", "prog", NULL);
    setenv("TKT_PORT", "7000", 1);
    setenv("TKT_VERBOSE", "yes", 1);
    opt_expect(parse_parsed, -1, NULL, "prog", NULL);
}

static void test_help(void **state)
{
    (void)state;
    conf_t c;
    char err[256], *argv[] = {"prog", "--help"};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    int rc = parse(&c, 2, argv, err);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(rc, 1);
}

static void test_secret(void **state)
{
    (void)state;
    char path[] = "/tmp/tk-opt-test-XXXXXX", buf[32], err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    assert_int_equal(tk_read_secret(path, buf, sizeof(buf), err, sizeof(err)), 0);
    assert_string_equal(buf, "s3cret");
    /* group- or other-readable: refused, whatever the secret (admin token, passwords, keys alike) */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(tk_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(tk_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_int_equal(chmod(path, 0600), 0);
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(tk_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1); /* empty */
    fd = open(path, O_WRONLY | O_TRUNC);
    char big[64];
    memset(big, 'x', sizeof(big));
    assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
    close(fd);
    assert_int_equal(tk_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1); /* too long */
    unlink(path);
    assert_int_equal(tk_read_secret(path, buf, sizeof(buf), err, sizeof(err)), -1); /* missing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_env_then_flag, setup),
        cmocka_unit_test_setup(test_bad_values, setup),
        cmocka_unit_test_setup(test_help, setup),
        cmocka_unit_test_setup(test_secret, setup),
    };
    return cmocka_run_group_tests_name("tk_opt", tests, NULL, NULL);
}
