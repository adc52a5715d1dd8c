/*
 * gw_config: the gateway's configuration, from defaults, environment and
 * flags (common/tk_opt), validated before anything starts.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include "tk_backend.h"

#include <stddef.h>

#define GW_TOKEN_MAX 256

typedef struct {
    const char *bind;
    long port;      /* HTTPS */
    long http_port; /* cleartext, 0 = off */
    long threads;
    long db_threads;
    const char *var_dir;
    const char *tls_cert; /* NULL: $var_dir/tls/cert.pem, generated when absent */
    const char *tls_key;
    long tls_ticket_rotate_s; /* session-ticket key rotation period (gw_tls_ticket.h) */
    long admin_on_http;       /* 1: admin routes on the cleartext port too; 0: 404 there */
    const char *web_root;
    tk_backend_t backend; /* Redis, MariaDB, password (common/tk_backend) */
    const char *admin_token_file; /* NULL: $var_dir/secrets/admin_token */
    const char *log_level;
    long shutdown_timeout_ms;
    long max_batch; /* claims of one event sent in one script call, at most */
    long rate_ip;         /* requests/s per client address and thread, 0 = off (gw_ratelimit.h) */
    long rate_ip_burst;   /* bucket capacity; 0 = rate_ip */
    long rate_user;       /* claims and status lookups/s per user and thread, 0 = off */
    long rate_user_burst; /* bucket capacity; 0 = rate_user */
    long fallback_grants;   /* 1: the lock-table fallback grants while Redis is away (gw_journal.h) */
    long fallback_after_ms; /* Redis away this long before it does */
    long lock_ttl_ms;       /* expiry of a fallback event lock (gw_lock.h) */
    long journal_max;       /* undrained grants remembered (gw_journal.h) */
    long db_queue_max;       /* database jobs waiting per lane, at most (gw_dbpool.h) */
    long db_job_deadline_ms; /* a request's job not started by then is answered 503 unrun */
    long redis_inflight_max; /* claims per loop thread queued for or waiting on Redis (gw_batcher.h) */
    /* Resolved by gw_config_load, owned by this struct (fixed buffers). */
    char tls_cert_buf[512];
    char tls_key_buf[512];
    char admin_token[GW_TOKEN_MAX];
} gw_config_t;

/**
 * Fills @conf from defaults, the environment and argv, reads the secrets and
 * checks every value. Returns 0; 1 when --help was printed; -1 with a
 * message naming the bad value in @err.
 */
int gw_config_load(gw_config_t *conf, int argc, char **argv, char *err, size_t errlen);

#endif
