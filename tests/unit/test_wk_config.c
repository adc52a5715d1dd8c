/* Unit tests of worker/wk_config.c: defaults, environment, flags, bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "opt_expect.h"
#include "wk_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const vars[] = {"REDIS_HOST", "REDIS_PORT", "DB_HOST", "DB_PORT", "DB_USER", "DB_NAME", "DB_PASSWORD_FILE",
                                   "DB_PASSWORD", "LOG_LEVEL", "WORKER_NAME", "WORKER_BATCH", "WORKER_BLOCK_MS",
                                   "WORKER_CLAIM_IDLE_MS", "WORKER_DISCOVER_MS", "WORKER_STATS_MS", "WORKER_LOG_EVERY_S",
                                   "REDIS_USER", "REDIS_PASSWORD_FILE", "REDIS_WAIT_REPLICAS", "REDIS_WAIT_TIMEOUT_MS"};

static int clean_env(void **state)
{
    (void)state;
    opt_unsetenv_all(vars, sizeof(vars) / sizeof(vars[0]));
    return 0;
}

static int run(wk_config_t *c, char *err, int argc, const char **argv)
{
    return wk_config_parse(c, argc, (char **)argv, err, 256);
}

static wk_config_t parsed;

static int parse_parsed(int argc, char **argv, char *err, size_t errlen)
{
    return wk_config_parse(&parsed, argc, argv, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    wk_config_t c;
    char err[256];
    const char *argv[] = {"tk-worker"};
    assert_int_equal(run(&c, err, 1, argv), 0);
    assert_string_equal(c.backend.redis_host, "127.0.0.1");
    assert_int_equal(c.backend.redis_port, 6390);
    assert_string_equal(c.backend.db_host, "127.0.0.1");
    assert_int_equal(c.backend.db_port, 3310);
    assert_string_equal(c.backend.db_user, "tk");
    assert_string_equal(c.backend.db_name, "tk");
    assert_string_equal(c.backend.db_password_file, "var/secrets/db_password");
    assert_int_equal(c.batch, 2048);
    assert_int_equal(c.block_ms, 100);
    assert_int_equal(c.claim_idle_ms, 5000);
    assert_int_equal(c.discover_ms, 1000);
    assert_int_equal(c.log_level, TK_LOG_INFO);
    char want[64];
    snprintf(want, sizeof(want), "-%ld", (long)getpid());
    assert_true(strncmp(c.consumer, "wk-", 3) == 0);
    assert_non_null(strstr(c.consumer, want));
}

static void test_env_then_flag(void **state)
{
    (void)state;
    wk_config_t c;
    char err[256];
    setenv("WORKER_BATCH", "64", 1);
    setenv("REDIS_PORT", "7000", 1);
    setenv("WORKER_NAME", "from-env", 1);
    setenv("LOG_LEVEL", "debug", 1);
    const char *argv1[] = {"tk-worker"};
    assert_int_equal(run(&c, err, 1, argv1), 0);
    assert_int_equal(c.batch, 64);
    assert_int_equal(c.backend.redis_port, 7000);
    assert_string_equal(c.consumer, "from-env");
    assert_int_equal(c.log_level, TK_LOG_DEBUG);
    /* The flag wins over the environment, in both spellings. */
    const char *argv2[] = {"tk-worker", "--batch", "8", "--redis-port=7001", "--consumer", "w9", "--claim-idle-ms=250"};
    assert_int_equal(run(&c, err, 7, argv2), 0);
    assert_int_equal(c.batch, 8);
    assert_int_equal(c.backend.redis_port, 7001);
    assert_string_equal(c.consumer, "w9");
    assert_int_equal(c.claim_idle_ms, 250);
    assert_int_equal(c.log_level, TK_LOG_DEBUG);
}

static void test_bad_values(void **state)
{
    (void)state;
    opt_expect(parse_parsed, -1, "--batch", "tk-worker", "--batch", "0", NULL);
    opt_expect(parse_parsed, -1, "--batch", "tk-worker", "--batch=abc", NULL);
    opt_expect(parse_parsed, -1, "--redis-port", "tk-worker", "--redis-port", "70000", NULL);
    opt_expect(parse_parsed, -1, "--log-level", "tk-worker", "--log-level", "loud", NULL);
    opt_expect(parse_parsed, -1, "--consumer", "tk-worker", "--consumer", "has space", NULL);
    opt_expect(parse_parsed, -1, "unknown option", "tk-worker", "--no-such-flag", NULL);
    opt_expect(parse_parsed, -1, "needs a value", "tk-worker", "--block-ms", NULL);
    opt_expect(parse_parsed, -1, "empty", "tk-worker", "--db-host=", NULL);
    setenv("WORKER_CLAIM_IDLE_MS", "-5", 1);
    opt_expect(parse_parsed, -1, "WORKER_CLAIM_IDLE_MS", "tk-worker", NULL);
    unsetenv("WORKER_CLAIM_IDLE_MS");
    opt_expect(parse_parsed, -1, "--redis-wait-timeout-ms", "tk-worker", "--redis-wait-timeout-ms", "0", NULL);
    opt_expect(parse_parsed, -1, "--redis-wait-timeout-ms", "tk-worker", "--redis-wait-timeout-ms", "2001", NULL);
    setenv("REDIS_WAIT_REPLICAS", "17", 1);
    opt_expect(parse_parsed, -1, "REDIS_WAIT_REPLICAS", "tk-worker", NULL);
}

/* REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT_MS: the gateway's options (common/tk_wait.h), off by default. */
static void test_redis_wait(void **state)
{
    (void)state;
    wk_config_t c;
    char err[256];
    const char *argv[] = {"tk-worker"};
    assert_int_equal(run(&c, err, 1, argv), 0);
    assert_int_equal(c.wait_replicas, 0);
    assert_int_equal(c.wait_timeout_ms, 500);
    setenv("REDIS_WAIT_REPLICAS", "1", 1);
    setenv("REDIS_WAIT_TIMEOUT_MS", "250", 1);
    assert_int_equal(run(&c, err, 1, argv), 0);
    assert_int_equal(c.wait_replicas, 1);
    assert_int_equal(c.wait_timeout_ms, 250);
    const char *argv2[] = {"tk-worker", "--redis-wait-replicas=0"};
    assert_int_equal(run(&c, err, 2, argv2), 0);
    assert_int_equal(c.wait_replicas, 0);
}

static void test_password(void **state)
{
    (void)state;
    wk_config_t c;
    char err[256], path[] = "/tmp/test_wk_config_XXXXXX";
    const char *argv[] = {"tk-worker"};
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    setenv("DB_PASSWORD_FILE", path, 1);
    assert_int_equal(run(&c, err, 1, argv), 0);
    assert_int_equal(wk_config_password(&c, err, sizeof(err)), 0);
    assert_string_equal(c.backend.db_password, "s3cret");
    setenv("DB_PASSWORD", "from-env", 1);
    assert_int_equal(wk_config_password(&c, err, sizeof(err)), 0);
    assert_string_equal(c.backend.db_password, "from-env");
    unsetenv("DB_PASSWORD");
    unlink(path);
    assert_int_equal(wk_config_password(&c, err, sizeof(err)), -1);
}

/* The Redis ACL user (common/tk_backend.h): none by default, both or neither, its password only from a 0600 file. */
static void test_redis_user(void **state)
{
    (void)state;
    wk_config_t c;
    char err[256], path[] = "/tmp/test_wk_config_XXXXXX", db[] = "/tmp/test_wk_config_XXXXXX";
    const char *argv[] = {"tk-worker"};
    assert_int_equal(run(&c, err, 1, argv), 0);
    assert_null(c.backend.redis_user);
    assert_int_equal(tk_backend_redis_auth(&c.backend), 0);

    opt_expect(parse_parsed, -1, "needs --redis-password-file", "tk-worker", "--redis-user", "tk-worker", NULL);
    opt_expect(parse_parsed, -1, "needs --redis-user", "tk-worker", "--redis-password-file", "/nonexistent", NULL);
    opt_expect(parse_parsed, -1, "--redis-user", "tk-worker", "--redis-user", "has space", "--redis-password-file", "/x", NULL);

    int fd = mkstemp(path), dfd = mkstemp(db);
    assert_true(fd >= 0 && dfd >= 0);
    assert_int_equal(write(fd, "redis-pw\n", 9), 9);
    assert_int_equal(write(dfd, "db-pw\n", 6), 6);
    close(fd);
    close(dfd);
    setenv("DB_PASSWORD_FILE", db, 1);
    setenv("REDIS_USER", "tk-worker", 1);
    setenv("REDIS_PASSWORD_FILE", path, 1);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(run(&c, err, 1, argv), 0);
    assert_int_equal(tk_backend_redis_auth(&c.backend), 1);
    assert_string_equal(c.backend.redis_user, "tk-worker");
    assert_int_equal(wk_config_password(&c, err, sizeof(err)), 0);
    assert_string_equal(c.backend.redis_password, "redis-pw");
    assert_string_equal(c.backend.db_password, "db-pw");
    /* Readable by group or others: refused, saying so. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(wk_config_password(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "group or others may access it"));
    unlink(path);
    assert_int_equal(wk_config_password(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "REDIS_PASSWORD_FILE"));
    unlink(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_env_then_flag, clean_env),
        cmocka_unit_test_setup(test_bad_values, clean_env),
        cmocka_unit_test_setup(test_redis_wait, clean_env),
        cmocka_unit_test_setup(test_password, clean_env),
        cmocka_unit_test_setup(test_redis_user, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
