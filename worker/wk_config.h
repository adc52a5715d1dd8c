/*
 * wk_config: the worker's options (docs/CONTRACTS.md), read once at start
 * through tk_opt: defaults, then the environment, then the flags; every value
 * is validated before the worker touches a backend.
 */
#ifndef WK_CONFIG_H
#define WK_CONFIG_H

#include "tk_backend.h"
#include "tk_log.h"

#include <stddef.h>

#define WK_CONSUMER_MAX 128

typedef struct {
    tk_backend_t backend; /* Redis, MariaDB, password (common/tk_backend) */
    const char *log_level_name;
    tk_log_level_t log_level;
    const char *consumer;
    long batch;         /* XREADGROUP COUNT, rows per statement group at most */
    long block_ms;      /* XREADGROUP BLOCK */
    long claim_idle_ms; /* XAUTOCLAIM min idle */
    long discover_ms;   /* tk:events re-read period */
    long stats_ms;      /* tk:wk:stats flush period */
    long log_every_s;   /* info line period */
    long wait_replicas;   /* REDIS_WAIT_REPLICAS: write to MariaDB only what this many replicas hold; 0 = off (wk_read.c) */
    long wait_timeout_ms; /* REDIS_WAIT_TIMEOUT_MS */
    const char *redis_cluster; /* REDIS_CLUSTER as given ("host:port,..."); parsed into backend.redis_seeds */
    char consumer_buf[WK_CONSUMER_MAX]; /* default consumer name lives here */
} wk_config_t;

/**
 * Fills @c from defaults, environment and argv (strings point into argv,
 * environ or static text). Returns 0; 1 when --help printed the usage; -1
 * with a message in @err on an unknown flag or a bad value. Does not read
 * the password (see wk_config_password).
 */
int wk_config_parse(wk_config_t *c, int argc, char **argv, char *err, size_t errlen);

/** Sets c->backend.db_password from DB_PASSWORD, else from the password file. Returns 0 or -1 with @err. */
int wk_config_password(wk_config_t *c, char *err, size_t errlen);

#endif
