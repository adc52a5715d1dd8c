/* Unit tests of gateway/gw_config: defaults, secrets and every refusal. */
#include "gw_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "opt_expect.h"

static const char *const vars[] = {"PORT", "HTTP_PORT", "GW_THREADS", "LOG_LEVEL", "TLS_CERT", "TLS_KEY", "VAR_DIR",
                                   "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", "DB_PASSWORD", "DB_PASSWORD_FILE", "GW_MAX_BATCH",
                                   "DB_QUEUE_MAX", "DB_JOB_DEADLINE_MS", "REDIS_INFLIGHT_MAX", "USER_AUTH",
                                   "USER_TOKEN_SECRET_FILE", "USER_TOKEN_SECRET_NEXT_FILE", "USER_TOKEN_ISSUER",
                                   "USER_TOKEN_AUDIENCE", "DEV_LOGIN", "CONN_PER_IP", "TRUSTED_PROXIES",
                                   "PROXY_PROTOCOL", "BODY_DEADLINE_MS", "H2_CONN_BODY_MAX",
                                   "ADMIN_ON_HTTP", "TLS_TICKET_ROTATE_S", "ACCESS_TOKEN_SECRET_FILE",
                                   "WQ_HELD_MAX", "BOARD_READS_MAX", "BOARD_DB_READS_MAX", "BOARD_CHECKSUM_MAX",
                                   "REDIS_CLUSTER", "REDIS_HOST", "REDIS_PORT", "REDIS_WAIT_REPLICAS",
                                   "REDIS_WAIT_TIMEOUT_MS", "CLAIM_ENTRY"};

/* Secret files the tests write (mode 0600 unless a test changes it); removed at the end. */
static char secret_ok[64], secret_next[64], secret_short[64], secret_open[64];

static void write_secret(char *path, const char *content, mode_t mode)
{
    strcpy(path, "/tmp/test_gw_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int group_setup(void **state)
{
    (void)state;
    write_secret(secret_ok, "0123456789abcdef0123456789abcdef\n", 0600);
    write_secret(secret_next, "fedcba9876543210fedcba9876543210fedcba98", 0600);
    write_secret(secret_short, "0123456789abcdef0123456789abcde\n", 0600); /* 31 bytes and the newline */
    write_secret(secret_open, "0123456789abcdef0123456789abcdef", 0644);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(secret_ok);
    unlink(secret_next);
    unlink(secret_short);
    unlink(secret_open);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    opt_unsetenv_all(vars, sizeof(vars) / sizeof(vars[0]));
    setenv("ADMIN_TOKEN", "0123456789abcdef0123", 1);
    setenv("DB_PASSWORD", "pw", 1);
    setenv("USER_TOKEN_SECRET_FILE", secret_ok, 1);
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
    assert_int_equal(c.board_reads_max, 2048);
    assert_int_equal(c.board_db_reads_max, 16);
    assert_int_equal(c.board_checksum_max, 200000);
    setenv("BOARD_READS_MAX", "8", 1);
    char *ab[] = {"gw", "--board-db-reads-max", "2", "--board-checksum-max=0"};
    assert_int_equal(load(&c, 4, ab, err), 0);
    assert_int_equal(c.board_reads_max, 8);
    assert_int_equal(c.board_db_reads_max, 2);
    assert_int_equal(c.board_checksum_max, 0);
    unsetenv("BOARD_READS_MAX");
    opt_expect(load_parsed, -1, NULL, "gw", "--board-reads-max", "0", NULL);
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

/* REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS (common/tk_wait.h): off by default; the timeout never 0 (WAIT forever) nor past 2000. */
static void test_redis_wait(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.redis_wait_replicas, 0);
    assert_int_equal(c.redis_wait_timeout_ms, 500);
    setenv("REDIS_WAIT_REPLICAS", "2", 1);
    char *a1[] = {"gw", "--redis-wait-timeout-ms=2000"};
    assert_int_equal(load(&c, 2, a1, err), 0);
    assert_int_equal(c.redis_wait_replicas, 2);
    assert_int_equal(c.redis_wait_timeout_ms, 2000);
    unsetenv("REDIS_WAIT_REPLICAS");
    opt_expect(load_parsed, -1, "--redis-wait-timeout-ms", "gw", "--redis-wait-timeout-ms", "0", NULL);
    opt_expect(load_parsed, -1, "--redis-wait-timeout-ms", "gw", "--redis-wait-timeout-ms", "2001", NULL);
    opt_expect(load_parsed, -1, "--redis-wait-replicas", "gw", "--redis-wait-replicas", "-1", NULL);
    setenv("REDIS_WAIT_REPLICAS", "17", 1);
    opt_expect(load_parsed, -1, "REDIS_WAIT_REPLICAS", "gw", NULL);
    unsetenv("REDIS_WAIT_REPLICAS");
}

/* WQ_HELD_MAX: the waiting room's held status polls per thread, like WATCH_HELD_MAX. */
static void test_wq_held_max(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.wq_held_max, 50000);
    setenv("WQ_HELD_MAX", "3", 1);
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.wq_held_max, 3);
    char *a1[] = {"gw", "--wq-held-max=7"};
    assert_int_equal(load(&c, 2, a1, err), 0);
    assert_int_equal(c.wq_held_max, 7);
    setenv("WQ_HELD_MAX", "0", 1); /* holding none would 503 every waiting poll */
    opt_expect(load_parsed, -1, "WQ_HELD_MAX", "gw", NULL);
    unsetenv("WQ_HELD_MAX");
    opt_expect(load_parsed, -1, NULL, "gw", "--wq-held-max", "x", NULL);
}

/* USER_AUTH and the user token keys (API.md "User identity"). */
static void test_user_auth(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.user_auth_required, 1); /* the default */
    assert_string_equal(c.user_auth, "required");
    assert_int_equal(c.dev_login, 0);
    assert_int_equal(c.nuser_keys, 1);
    assert_int_equal(c.user_keys[0].len, 32); /* the newline is not part of the key */
    assert_memory_equal(c.user_keys[0].bytes, "0123456789abcdef0123456789abcdef", 32);
    assert_null(c.user_token_issuer);
    assert_null(c.user_token_audience);

    setenv("USER_TOKEN_SECRET_NEXT_FILE", secret_next, 1);
    setenv("USER_TOKEN_ISSUER", "login", 1);
    char *a1[] = {"gw", "--user-token-audience", "tk", "--dev-login"};
    assert_int_equal(load(&c, 4, a1, err), 0);
    assert_int_equal(c.nuser_keys, 2);
    assert_int_equal(c.user_keys[1].len, 40);
    assert_string_equal(c.user_token_issuer, "login");
    assert_string_equal(c.user_token_audience, "tk");
    assert_int_equal(c.dev_login, 1);
    unsetenv("USER_TOKEN_SECRET_NEXT_FILE");
    unsetenv("USER_TOKEN_ISSUER");

    /* Off: v1, and no secret is read at all. */
    setenv("USER_AUTH", "off", 1);
    setenv("USER_TOKEN_SECRET_FILE", "/nonexistent/secret", 1);
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.user_auth_required, 0);
    assert_int_equal(c.nuser_keys, 0);
    /* Off with the dev login: that signs tokens, so it needs the key. */
    setenv("DEV_LOGIN", "1", 1);
    opt_expect(load_parsed, -1, "/nonexistent/secret", "gw", NULL);
    unsetenv("DEV_LOGIN");
    unsetenv("USER_AUTH");

    /* The default path: VAR_DIR/secrets/user_token_secret. */
    unsetenv("USER_TOKEN_SECRET_FILE");
    setenv("VAR_DIR", "/nonexistent-var", 1);
    opt_expect(load_parsed, -1, "/nonexistent-var/secrets/user_token_secret", "gw", NULL);
}

static void test_user_auth_refusals(void **state)
{
    (void)state;
    opt_expect(load_parsed, -1, "USER_AUTH=maybe", "gw", "--user-auth", "maybe", NULL);
    opt_expect(load_parsed, -1, "USER_AUTH=", "gw", "--user-auth", "Required", NULL);
    opt_expect(load_parsed, -1, "shorter than 32", "gw", "--user-token-secret-file", secret_short, NULL);
    opt_expect(load_parsed, -1, "chmod 600", "gw", "--user-token-secret-file", secret_open, NULL);
    opt_expect(load_parsed, -1, "USER_TOKEN_SECRET_FILE", "gw", "--user-token-secret-file", "/nonexistent/s", NULL);
    opt_expect(load_parsed, -1, "USER_TOKEN_SECRET_NEXT_FILE", "gw", "--user-token-secret-next-file", secret_open, NULL);
    opt_expect(load_parsed, -1, "USER_TOKEN_SECRET_NEXT_FILE", "gw", "--user-token-secret-next-file", secret_short, NULL);
    opt_expect(load_parsed, -1, "--dev-login=2", "gw", "--dev-login=2", NULL);
}

/* CLAIM_ENTRY: the stream entry shape claim.lua writes (ARGV[3]). */
static void test_claim_entry(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_string_equal(c.claim_entry, "packed"); /* the default */
    assert_int_equal(c.claim_entry_arg, 'm');
    setenv("CLAIM_ENTRY", "single", 1);
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.claim_entry_arg, 's');
    unsetenv("CLAIM_ENTRY");
    opt_expect(load_parsed, -1, "CLAIM_ENTRY=one", "gw", "--claim-entry", "one", NULL);
    opt_expect(load_parsed, -1, "CLAIM_ENTRY=", "gw", "--claim-entry", "Packed", NULL);
}

/* The access token key (gw_access.h): a shared 0600 file, or a random key of this process when unset. */
static void test_access_key(void **state)
{
    (void)state;
    gw_config_t c, d;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_null(c.access_token_secret_file);
    assert_int_equal(c.access_key_random, 1);
    assert_int_equal(c.access_key.len, 32);
    assert_int_equal(load(&d, 1, argv, err), 0);
    assert_memory_not_equal(c.access_key.bytes, d.access_key.bytes, 32); /* drawn per process (per load) */

    setenv("ACCESS_TOKEN_SECRET_FILE", secret_next, 1);
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.access_key_random, 0);
    assert_int_equal(c.access_key.len, 40);
    assert_memory_equal(c.access_key.bytes, "fedcba9876543210fedcba9876543210fedcba98", 40);
    unsetenv("ACCESS_TOKEN_SECRET_FILE");
    char *a1[] = {"gw", "--access-token-secret-file", secret_ok};
    assert_int_equal(load(&c, 3, a1, err), 0);
    assert_int_equal(c.access_key.len, 32);
    assert_memory_equal(c.access_key.bytes, "0123456789abcdef0123456789abcdef", 32);

    /* Read even with USER_AUTH=off: a claim on a waiting-room event needs it whatever identifies users. */
    setenv("USER_AUTH", "off", 1);
    opt_expect(load_parsed, -1, "ACCESS_TOKEN_SECRET_FILE", "gw", "--access-token-secret-file", "/nonexistent/a", NULL);
    unsetenv("USER_AUTH");
    opt_expect(load_parsed, -1, "chmod 600", "gw", "--access-token-secret-file", secret_open, NULL);
    opt_expect(load_parsed, -1, "shorter than 32", "gw", "--access-token-secret-file", secret_short, NULL);
    opt_expect(load_parsed, -1, "ACCESS_TOKEN_SECRET_FILE", "gw", "--access-token-secret-file", "/nonexistent/a", NULL);
}

/* The connection path's options (docs/DESIGN.md, "Connections and client address"). */
static void test_connection_options(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.conn_per_ip, 256);
    assert_int_equal(c.trusted.n, 0);
    assert_int_equal(c.proxy_protocol, 0);
    assert_int_equal(c.body_deadline_ms, 10000);
    assert_int_equal(c.h2_conn_body_max, 262144);
    setenv("TRUSTED_PROXIES", " 10.0.0.0/8, fd00::/8 ,192.0.2.1", 1);
    char *a1[] = {"gw", "--proxy-protocol", "1", "--conn-per-ip=0", "--body-deadline-ms", "2500"};
    assert_int_equal(load(&c, 6, a1, err), 0);
    assert_int_equal(c.trusted.n, 3);
    assert_int_equal(c.proxy_protocol, 1);
    assert_int_equal(c.conn_per_ip, 0);
    assert_int_equal(c.body_deadline_ms, 2500);
    setenv("TRUSTED_PROXIES", "10.0.0.1/8", 1); /* bits past the prefix: a typo more often than a wish */
    opt_expect(load_parsed, -1, "TRUSTED_PROXIES", "gw", NULL);
    setenv("TRUSTED_PROXIES", "10.0.0.0/8,,10.1.0.0/16", 1);
    opt_expect(load_parsed, -1, "empty", "gw", NULL);
    setenv("TRUSTED_PROXIES", "localhost", 1);
    opt_expect(load_parsed, -1, "localhost", "gw", NULL);
    unsetenv("TRUSTED_PROXIES");
    opt_expect(load_parsed, -1, "PROXY_PROTOCOL", "gw", "--proxy-protocol", "1", NULL); /* believed from nobody */
    opt_expect(load_parsed, -1, NULL, "gw", "--h2-conn-body-max", "1000", NULL);
    opt_expect(load_parsed, -1, NULL, "gw", "--body-deadline-ms", "0", NULL);
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

/* REDIS_CLUSTER (docs/DESIGN.md, "Redis Cluster routing: the gateway"): unset is a single Redis; seeds validated. */
static void test_redis_cluster(void **state)
{
    (void)state;
    gw_config_t c;
    char err[512], *argv[] = {"gw"};
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.backend.redis_nseeds, 0);
    assert_string_equal(c.backend.redis_host, "127.0.0.1");
    assert_int_equal(c.backend.redis_port, 6390);
    setenv("REDIS_CLUSTER", "10.0.0.1:7000, redis-b:7001,[::1]:7002", 1);
    assert_int_equal(load(&c, 1, argv, err), 0);
    assert_int_equal(c.backend.redis_nseeds, 3);
    assert_string_equal(c.backend.redis_seeds[1].host, "redis-b");
    assert_int_equal(c.backend.redis_seeds[1].port, 7001);
    assert_string_equal(c.backend.redis_seeds[2].host, "::1");
    /* the database threads' synchronous connection: the first seed */
    assert_string_equal(c.backend.redis_host, "10.0.0.1");
    assert_int_equal(c.backend.redis_port, 7000);
    char *a1[] = {"gw", "--redis-cluster", "127.0.0.1:7100"};
    assert_int_equal(load(&c, 3, a1, err), 0);
    assert_int_equal(c.backend.redis_nseeds, 1);
    assert_int_equal(c.backend.redis_seeds[0].port, 7100);
    setenv("REDIS_CLUSTER", "10.0.0.1", 1); /* no port */
    opt_expect(load_parsed, -1, "REDIS_CLUSTER", "gw", NULL);
    setenv("REDIS_CLUSTER", "10.0.0.1:70000", 1);
    opt_expect(load_parsed, -1, "REDIS_CLUSTER", "gw", NULL);
    setenv("REDIS_CLUSTER", "10.0.0.1:7000,,10.0.0.2:7000", 1);
    opt_expect(load_parsed, -1, "REDIS_CLUSTER", "gw", NULL);
    unsetenv("REDIS_CLUSTER");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_flags_and_env, setup),
        cmocka_unit_test_setup(test_refusals, setup),
        cmocka_unit_test_setup(test_queue_bounds, setup),
        cmocka_unit_test_setup(test_wq_held_max, setup),
        cmocka_unit_test_setup(test_redis_wait, setup),
        cmocka_unit_test_setup(test_user_auth, setup),
        cmocka_unit_test_setup(test_user_auth_refusals, setup),
        cmocka_unit_test_setup(test_access_key, setup),
        cmocka_unit_test_setup(test_claim_entry, setup),
        cmocka_unit_test_setup(test_connection_options, setup),
        cmocka_unit_test_setup(test_edge, setup),
        cmocka_unit_test_setup(test_redis_cluster, setup),
    };
    return cmocka_run_group_tests_name("gw_config", tests, group_setup, group_teardown);
}
