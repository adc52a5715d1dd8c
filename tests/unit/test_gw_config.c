/* Unit tests of gateway/gw_config: defaults, secrets and every refusal. */
#include "gw_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "opt_expect.h"

static const char *const vars[] = {"PORT", "HTTP_PORT", "GW_THREADS", "LOG_LEVEL", "TLS_CERT", "TLS_KEY", "VAR_DIR",
                                   "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", "DB_PASSWORD", "DB_PASSWORD_FILE", "GW_MAX_BATCH",
                                   "DB_QUEUE_MAX", "DB_JOB_DEADLINE_MS", "REDIS_INFLIGHT_MAX",
                                   "ADMIN_ON_HTTP", "TLS_TICKET_ROTATE_S"};

static int setup(void **state)
{
    (void)state;
    opt_unsetenv_all(vars, sizeof(vars) / sizeof(vars[0]));
    setenv("ADMIN_TOKEN", "0123456789abcdef0123", 1);
    setenv("DB_PASSWORD", "pw", 1);
    return 0;
}

static int load(gw_config_t *c, int argc, char **argv, char *err)
{
    return gw_config_load(c, argc, argv, err, 512);
}

static gw_config_t parsed;

static int load_parsed(int argc, char **argv, char *err, size_t errlen)
{
    return gw_config_load(&parsed, argc, argv, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.port, 8443);
    assert_int_equal(c.http_port, 0);
    assert_int_equal(c.threads, 1);
    assert_int_equal(c.backend.redis_port, 6390);
    assert_int_equal(c.backend.db_port, 3310);
    assert_string_equal(c.bind, "127.0.0.1");
    assert_string_equal(c.tls_cert, "var/tls/cert.pem");
    assert_string_equal(c.tls_key, "var/tls/key.pem");
    assert_string_equal(c.admin_token, "0123456789abcdef0123");
    assert_string_equal(c.backend.db_password, "pw");
}

static void test_flags_and_env(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512];
    setenv("PORT", "9443", 1);
    setenv("VAR_DIR", "/tmp/x", 1);
    char *argv[] = {"gw", "--http-port", "9080", "--threads=2"};
    assert_int_equal(load(&c, 4, argv, err), 0);
    assert_int_equal(c.port, 9443);
    assert_int_equal(c.http_port, 9080);
    assert_int_equal(c.threads, 2);
    assert_string_equal(c.tls_cert, "/tmp/x/tls/cert.pem");
}

static void test_refusals(void **state)
{
    (void)state;
    opt_expect(load_parsed, -1, "HTTP_PORT", "gw", "--http-port", "8443", NULL);
    opt_expect(load_parsed, -1, "LOG_LEVEL", "gw", "--log-level", "loud", NULL);
    opt_expect(load_parsed, -1, "TLS_KEY", "gw", "--tls-cert", "/c.pem", NULL);
    opt_expect(load_parsed, -1, NULL, "gw", "--threads", "0", NULL);
    setenv("ADMIN_TOKEN", "short", 1);
    opt_expect(load_parsed, -1, "16", "gw", NULL);
    unsetenv("ADMIN_TOKEN");
    opt_expect(load_parsed, -1, "/nonexistent/token", "gw", "--admin-token-file", "/nonexistent/token", NULL);
}

/* The bounded queues' options (docs/DESIGN.md, "Bounded queues"). */
static void test_queue_bounds(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.db_queue_max, 256);
    assert_int_equal(c.db_job_deadline_ms, 2000);
    assert_int_equal(c.redis_inflight_max, 4096);
    setenv("DB_QUEUE_MAX", "8", 1);
    char *a1[] = {"gw", "--db-job-deadline-ms", "750", "--redis-inflight-max=100"};
    assert_int_equal(load(&c, 4, a1, err), 0);
    assert_int_equal(c.db_queue_max, 8);
    assert_int_equal(c.db_job_deadline_ms, 750);
    assert_int_equal(c.redis_inflight_max, 100);
    setenv("DB_QUEUE_MAX", "0", 1); /* a queue that holds nothing would refuse every fallback claim */
    opt_expect(load_parsed, -1, "DB_QUEUE_MAX", "gw", NULL);
    unsetenv("DB_QUEUE_MAX");
    opt_expect(load_parsed, -1, NULL, "gw", "--db-job-deadline-ms", "10", NULL);
    opt_expect(load_parsed, -1, NULL, "gw", "--redis-inflight-max", "0", NULL);
}

/* The edge settings (docs/DESIGN.md, "Edge hardening"): off / hourly by default, validated. */
static void test_edge(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.admin_on_http, 0);
    assert_int_equal(c.tls_ticket_rotate_s, 3600);
    setenv("ADMIN_ON_HTTP", "1", 1);
    char *a1[] = {"gw", "--tls-ticket-rotate-s", "60"};
    assert_int_equal(load(&c, 3, a1, err), 0);
    assert_int_equal(c.admin_on_http, 1);
    assert_int_equal(c.tls_ticket_rotate_s, 60);
    setenv("ADMIN_ON_HTTP", "yes", 1);
    opt_expect(load_parsed, -1, "ADMIN_ON_HTTP", "gw", NULL);
    setenv("ADMIN_ON_HTTP", "2", 1);
    opt_expect(load_parsed, -1, "ADMIN_ON_HTTP", "gw", NULL);
    unsetenv("ADMIN_ON_HTTP");
    opt_expect(load_parsed, -1, NULL, "gw", "--tls-ticket-rotate-s", "0", NULL);
    opt_expect(load_parsed, -1, NULL, "gw", "--tls-ticket-rotate-s", "86401", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_flags_and_env, setup),
        cmocka_unit_test_setup(test_refusals, setup),
        cmocka_unit_test_setup(test_queue_bounds, setup),
        cmocka_unit_test_setup(test_edge, setup),
    };
    return cmocka_run_group_tests_name("gw_config", tests, NULL, NULL);
}
