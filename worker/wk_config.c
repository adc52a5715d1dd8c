#include "wk_config.h"
#include "tk_opt.h"
#include "tk_wait.h"

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

    tk_backend_defaults(&c->backend);
    c->backend.db_password_file = "var/secrets/db_password";
    c->log_level_name = "info";
    c->consumer = c->consumer_buf;
    c->batch = 2048; /* measured: 2,048 rows a transaction drained ~49k rows/s with 2 workers, 512 ~32k */
    c->block_ms = 100;
    c->claim_idle_ms = 5000;
    c->discover_ms = 1000;
    c->stats_ms = 1000;
    c->log_every_s = 10;
    c->wait_replicas = 0;
    c->wait_timeout_ms = TK_WAIT_TIMEOUT_MS_DEFAULT; /* why: common/tk_wait.h */

    const tk_opt_t opts[] = {
        TK_OPT_LOG_LEVEL(&c->log_level_name),
        {"--consumer", "WORKER_NAME", TK_OPT_STR, &c->consumer, 0, 0, "consumer name in group wk"},
        {"--batch", "WORKER_BATCH", TK_OPT_INT, &c->batch, 1, 4096, "about this many rows a batch per stream (XREADGROUP COUNT: this divided by the claims an entry holds)"},
        {"--block-ms", "WORKER_BLOCK_MS", TK_OPT_INT, &c->block_ms, 1, 60000, "XREADGROUP BLOCK"},
        {"--claim-idle-ms", "WORKER_CLAIM_IDLE_MS", TK_OPT_INT, &c->claim_idle_ms, 100, 3600000, "re-claim entries idle this long"},
        {"--discover-ms", "WORKER_DISCOVER_MS", TK_OPT_INT, &c->discover_ms, 10, 3600000, "re-read tk:events this often"},
        {"--stats-ms", "WORKER_STATS_MS", TK_OPT_INT, &c->stats_ms, 100, 3600000, "flush counters to tk:wk:stats this often"},
        {"--log-every-s", "WORKER_LOG_EVERY_S", TK_OPT_INT, &c->log_every_s, 1, 86400, "info line with rates this often"},
        TK_WAIT_OPTS(&c->wait_replicas, &c->wait_timeout_ms),
        TK_BACKEND_OPTS(&c->backend),
        TK_BACKEND_CLUSTER_OPT(&c->redis_cluster),
    };
    int rc = tk_opt_parse(opts, TK_OPT_COUNT(opts), argc, argv, err, errlen);
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
    if (tk_backend_check(&c->backend, err, errlen) != 0)
        return -1;
    return tk_backend_cluster(&c->backend, c->redis_cluster, err, errlen);
}

int wk_config_password(wk_config_t *c, char *err, size_t errlen)
{
    return tk_backend_read_password(&c->backend, "var", err, errlen);
}
