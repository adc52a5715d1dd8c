#include "wk_config.h"
#include "tk_opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int valid_consumer(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= WK_CONSUMER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    }
    return 1;
}

int wk_config_parse(wk_config_t *c, int argc, char **argv, char *err, size_t errlen)
{
    char host[64];
    memset(c, 0, sizeof(*c));
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "local");
    host[sizeof(host) - 1] = '\0';
    snprintf(c->consumer_buf, sizeof(c->consumer_buf), "wk-%.64s-%ld", host, (long)getpid());

    c->redis_host = "127.0.0.1";
    c->redis_port = 6390;
    c->db_host = "127.0.0.1";
    c->db_port = 3310;
    c->db_user = "tk";
    c->db_name = "tk";
    c->db_password_file = "var/secrets/db_password";
    c->log_level_name = "info";
    c->consumer = c->consumer_buf;
    c->batch = 512;
    c->block_ms = 100;
    c->claim_idle_ms = 5000;
    c->discover_ms = 1000;
    c->stats_ms = 1000;
    c->log_every_s = 10;

    const tk_opt_t opts[] = {
        {"--redis-host", "REDIS_HOST", TK_OPT_STR, &c->redis_host, 0, 0, "Redis host"},
        {"--redis-port", "REDIS_PORT", TK_OPT_INT, &c->redis_port, 1, 65535, "Redis port"},
        {"--db-host", "DB_HOST", TK_OPT_STR, &c->db_host, 0, 0, "MariaDB host"},
        {"--db-port", "DB_PORT", TK_OPT_INT, &c->db_port, 1, 65535, "MariaDB port"},
        {"--db-user", "DB_USER", TK_OPT_STR, &c->db_user, 0, 0, "MariaDB user"},
        {"--db-name", "DB_NAME", TK_OPT_STR, &c->db_name, 0, 0, "MariaDB database"},
        {"--db-password-file", "DB_PASSWORD_FILE", TK_OPT_STR, &c->db_password_file, 0, 0, "file holding the password (DB_PASSWORD wins)"},
        {"--log-level", "LOG_LEVEL", TK_OPT_STR, &c->log_level_name, 0, 0, "debug, info, warn or error"},
        {"--consumer", "WORKER_NAME", TK_OPT_STR, &c->consumer, 0, 0, "consumer name in group wk"},
        {"--batch", "WORKER_BATCH", TK_OPT_INT, &c->batch, 1, 4096, "XREADGROUP COUNT per stream"},
        {"--block-ms", "WORKER_BLOCK_MS", TK_OPT_INT, &c->block_ms, 1, 60000, "XREADGROUP BLOCK"},
        {"--claim-idle-ms", "WORKER_CLAIM_IDLE_MS", TK_OPT_INT, &c->claim_idle_ms, 100, 3600000, "re-claim entries idle this long"},
        {"--discover-ms", "WORKER_DISCOVER_MS", TK_OPT_INT, &c->discover_ms, 10, 3600000, "re-read tk:events this often"},
        {"--stats-ms", "WORKER_STATS_MS", TK_OPT_INT, &c->stats_ms, 100, 3600000, "flush counters to tk:wk:stats this often"},
        {"--log-every-s", "WORKER_LOG_EVERY_S", TK_OPT_INT, &c->log_every_s, 1, 86400, "info line with rates this often"},
    };
    int rc = tk_opt_parse(opts, sizeof(opts) / sizeof(opts[0]), argc, argv, err, errlen);
    if (rc != 0)
        return rc;
    if (tk_log_parse_level(c->log_level_name, &c->log_level) != 0) {
        snprintf(err, errlen, "--log-level %s: expected debug, info, warn or error", c->log_level_name);
        return -1;
    }
    if (!valid_consumer(c->consumer)) {
        snprintf(err, errlen, "--consumer: expected 1-%d printable characters without spaces", WK_CONSUMER_MAX - 1);
        return -1;
    }
    const char *const strs[] = {c->redis_host, c->db_host, c->db_user, c->db_name};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strs[i] == NULL || *strs[i] == '\0') {
            snprintf(err, errlen, "empty host, user or database name");
            return -1;
        }
    }
    return 0;
}

int wk_config_password(wk_config_t *c, char *err, size_t errlen)
{
    const char *env = getenv("DB_PASSWORD");
    if (env != NULL && *env != '\0') {
        if (strlen(env) >= sizeof(c->password)) {
            snprintf(err, errlen, "DB_PASSWORD is too long");
            return -1;
        }
        snprintf(c->password, sizeof(c->password), "%s", env);
        return 0;
    }
    return tk_read_secret(c->db_password_file, c->password, sizeof(c->password), err, errlen);
}
