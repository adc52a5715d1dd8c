/*
 * gw_config: the gateway's configuration, from defaults, environment and
 * flags (common/tk_opt), validated before anything starts.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include "gw_cidr.h"
#include "tk_backend.h"
#include "tk_jwt.h"

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
    const char *claim_entry; /* CLAIM_ENTRY as given: "packed" (default) or "single" */
    long rate_ip;         /* requests/s per client address and thread, 0 = off (gw_ratelimit.h) */
    long rate_ip_burst;   /* bucket capacity; 0 = rate_ip */
    long rate_user;       /* claims and status lookups/s per user and thread, 0 = off */
    long rate_user_burst; /* bucket capacity; 0 = rate_user */
    long conn_per_ip;             /* open connections per client address, all threads; 0 = off (gw_connlimit.h) */
    const char *trusted_proxies;  /* TRUSTED_PROXIES as given; parsed into trusted */
    const char *redis_cluster;    /* REDIS_CLUSTER as given ("host:port,..."); parsed into backend.redis_seeds */
    long proxy_protocol;          /* 1: read a PROXY v1 line from trusted peers (gw_proxy_line.h) */
    long body_deadline_ms;        /* a request's headers and body arrive within this, HTTP/1.1 and HTTP/2 */
    long h2_conn_body_max;        /* body bytes one HTTP/2 connection holds for requests not yet handled (gw_h2guard.h) */
    long fallback_grants;   /* 1: the lock-table fallback grants while Redis is away (gw_journal.h) */
    long fallback_after_ms; /* Redis away this long before it does */
    long lock_ttl_ms;       /* expiry of a fallback event lock (gw_lock.h) */
    long peer_alive_ms;     /* a peer whose beat is younger counts as alive (gw_peers.h) */
    long journal_max;       /* undrained grants remembered (gw_journal.h) */
    long db_queue_max;       /* database jobs waiting per lane, at most (gw_dbpool.h) */
    long db_job_deadline_ms; /* a request's job not started by then is answered 503 unrun */
    long watch_held_max;     /* long-polls of GET .../watch held per loop thread (gw_watch.h) */
    long wq_held_max;        /* waiting-room status long-polls held per loop thread (gw_queue_hold.h) */
    long redis_inflight_max; /* claims per loop thread queued for or waiting on Redis (gw_batcher.h) */
    long redis_wait_replicas;   /* WAIT for this many replicas before a grant is answered; 0 = off (common/tk_wait.h) */
    long redis_wait_timeout_ms; /* WAIT's timeout; past it, 503 (gw_batcher.c) */
    long board_reads_max;    /* board reads per loop thread in flight (Redis or MariaDB; gw_board_read.h) */
    long board_db_reads_max; /* of those, old-season reads on MariaDB per loop thread (gw_board_db.c) */
    long board_checksum_max; /* users of a season up to which GET /v1/admin/boards/{B} compares checksums */
    const char *user_auth;             /* "required" (default) or "off" (v1: the body's user_id is trusted) */
    const char *user_token_secret_file; /* NULL: $var_dir/secrets/user_token_secret */
    const char *user_token_secret_next_file; /* NULL: no second key */
    const char *user_token_issuer;     /* NULL: "iss" not checked */
    const char *user_token_audience;   /* NULL: "aud" not checked */
    int dev_login;                     /* 1: POST /v1/dev/login mints tokens for anyone (make run only) */
    const char *access_token_secret_file; /* NULL: a random key per process (gw_access.h) */
    /* Resolved by gw_config_load, owned by this struct (fixed buffers). */
    int user_auth_required;       /* user_auth is "required" */
    char claim_entry_arg;         /* claim.lua's ARGV[3]: 'm' (packed, one entry per call) or 's' (one per claim) */
    tk_jwt_key_t user_keys[2];    /* current, then next; loaded when tokens are checked or minted */
    size_t nuser_keys;            /* 0 when USER_AUTH=off and DEV_LOGIN=0: no secret is read */
    tk_jwt_key_t access_key;      /* signs and checks access tokens (gw_access.h); always set */
    int access_key_random;        /* 1: no ACCESS_TOKEN_SECRET_FILE, access_key is this process's own */
    char tls_cert_buf[512];
    char tls_key_buf[512];
    char admin_token[GW_TOKEN_MAX];
    gw_cidr_list_t trusted; /* TRUSTED_PROXIES, parsed */
} gw_config_t;

/**
 * Fills @conf from defaults, the environment and argv, reads the secrets and
 * checks every value. Returns 0; 1 when --help was printed; -1 with a
 * message naming the bad value in @err.
 */
int gw_config_load(gw_config_t *conf, int argc, char **argv, char *err, size_t errlen);

#endif
