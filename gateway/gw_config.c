#include "gw_config.h"
#include "tk_claim.h"
#include "tk_log.h"
#include "tk_opt.h"
#include "tk_wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/*
 * USER_AUTH and the user token keys. The keys are read when something uses
 * them (tokens checked, or minted by the dev login); with USER_AUTH=off and
 * no dev login no secret is needed, as in v1.
 */
static int load_user_keys(gw_config_t *c, char *err, size_t errlen)
{
    char path[512];
    if (strcmp(c->user_auth, "required") == 0) {
        c->user_auth_required = 1;
    } else if (strcmp(c->user_auth, "off") != 0) {
        snprintf(err, errlen, "USER_AUTH=%s: expected required or off", c->user_auth);
        return -1;
    }
    if (!c->user_auth_required && !c->dev_login)
        return 0;
    const char *cur = c->user_token_secret_file;
    if (cur == NULL) {
        snprintf(path, sizeof(path), "%s/secrets/user_token_secret", c->var_dir);
        cur = path;
    }
    char why[400];
    if (tk_jwt_key_load(&c->user_keys[0], cur, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "USER_TOKEN_SECRET_FILE: %s", why);
        return -1;
    }
    c->nuser_keys = 1;
    if (c->user_token_secret_next_file != NULL) {
        if (tk_jwt_key_load(&c->user_keys[1], c->user_token_secret_next_file, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "USER_TOKEN_SECRET_NEXT_FILE: %s", why);
            return -1;
        }
        c->nuser_keys = 2;
    }
    return 0;
}

/*
 * The access token key (gateway/queue/gw_access.h). Every gateway of a
 * fleet must hold the same one, or a user admitted through one gateway is
 * refused by the next; without a file each process draws its own, which is
 * right only for a lone gateway (gw_main says so at start).
 */
static int load_access_key(gw_config_t *c, char *err, size_t errlen)
{
    char why[400];
    if (c->access_token_secret_file != NULL) {
        if (tk_jwt_key_load(&c->access_key, c->access_token_secret_file, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "ACCESS_TOKEN_SECRET_FILE: %s", why);
            return -1;
        }
        return 0;
    }
    if (RAND_bytes(c->access_key.bytes, 32) != 1) {
        snprintf(err, errlen, "ACCESS_TOKEN_SECRET_FILE unset and no random bytes for a key of this process");
        return -1;
    }
    c->access_key.len = 32;
    c->access_key_random = 1;
    return 0;
}

int gw_config_load(gw_config_t *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->bind = "127.0.0.1";
    c->port = 8443;
    c->threads = 1;
    c->db_threads = 2;
    c->var_dir = "var";
    c->web_root = "web";
    tk_backend_defaults(&c->backend);
    c->log_level = "info";
    c->shutdown_timeout_ms = 10000;
    c->max_batch = 64;
    c->claim_entry = "packed";
    c->rate_ip = 5000;
    c->rate_ip_burst = 10000;
    c->rate_user = 20;
    c->rate_user_burst = 40;
    c->conn_per_ip = 256;
    c->trusted_proxies = "";
    c->body_deadline_ms = 10000;
    c->h2_conn_body_max = 256 * 1024;
    c->fallback_grants = 1;
    c->fallback_after_ms = 1000;
    c->lock_ttl_ms = 5000;
    c->peer_alive_ms = 3000; /* GW_PEER_ALIVE_MS (gw_peers.h): three beat periods, also the least allowed */
    c->journal_max = 262144;
    c->db_queue_max = 256;
    c->db_job_deadline_ms = 2000;
    c->redis_inflight_max = 4096;
    c->redis_wait_replicas = 0; /* today's behaviour: answered once the master has it */
    c->redis_wait_timeout_ms = TK_WAIT_TIMEOUT_MS_DEFAULT; /* why: common/tk_wait.h */
    c->board_reads_max = 2048;
    c->board_db_reads_max = 16;
    c->board_checksum_max = 200000;
    c->watch_held_max = 20000;
    c->wq_held_max = 50000;
    c->user_auth = "required";
    c->tls_ticket_rotate_s = 3600;

    const tk_opt_t opts[] = {
        {"--bind", "BIND", TK_OPT_STR, &c->bind, 0, 0, "listen address"},
        {"--port", "PORT", TK_OPT_INT, &c->port, 1, 65535, "HTTPS port (HTTP/1.1 and HTTP/2)"},
        {"--http-port", "HTTP_PORT", TK_OPT_INT, &c->http_port, 0, 65535, "cleartext HTTP port, 0 = off"},
        {"--threads", "GW_THREADS", TK_OPT_INT, &c->threads, 1, 64, "event-loop threads"},
        {"--db-threads", "GW_DB_THREADS", TK_OPT_INT, &c->db_threads, 1, 32, "database threads: admin work, claims and lookups answered from MariaDB while Redis is away, the merge and rebuild checks (plus one reserved for admin and control work)"},
        {"--var-dir", "VAR_DIR", TK_OPT_STR, &c->var_dir, 0, 0, "state directory (certificate, secrets)"},
        {"--tls-cert", "TLS_CERT", TK_OPT_STR, &c->tls_cert, 0, 0, "PEM certificate (default: generated in VAR_DIR/tls)"},
        {"--tls-key", "TLS_KEY", TK_OPT_STR, &c->tls_key, 0, 0, "PEM private key"},
        {"--tls-ticket-rotate-s", "TLS_TICKET_ROTATE_S", TK_OPT_INT, &c->tls_ticket_rotate_s, 1, 86400,
         "seconds between session-ticket key rotations; a ticket resumes for one to two of these"},
        {"--admin-on-http", "ADMIN_ON_HTTP", TK_OPT_INT, &c->admin_on_http, 0, 1,
         "1: serve the admin routes on HTTP_PORT too; 0: there they answer 404 not_found"},
        {"--web-root", "WEB_ROOT", TK_OPT_STR, &c->web_root, 0, 0, "static pages"},
        {"--admin-token-file", "ADMIN_TOKEN_FILE", TK_OPT_STR, &c->admin_token_file, 0, 0,
         "file with the admin bearer token (ADMIN_TOKEN overrides)"},
        TK_OPT_LOG_LEVEL(&c->log_level),
        {"--shutdown-timeout-ms", "GW_SHUTDOWN_TIMEOUT_MS", TK_OPT_INT, &c->shutdown_timeout_ms, 100, 600000,
         "longest wait for in-flight requests at shutdown"},
        {"--max-batch", "GW_MAX_BATCH", TK_OPT_INT, &c->max_batch, 1, TK_CLAIM_PACK_MAX, "claims per script call, at most"},
        {"--claim-entry", "CLAIM_ENTRY", TK_OPT_STR, &c->claim_entry, 0, 0,
         "packed: one stream entry per claim-script call; single: one per claim, for workers older than the packed reader "
         "(CHANGELOG.md: the upgrade order)"},
        {"--rate-ip", "RATE_IP_PER_S", TK_OPT_INT, &c->rate_ip, 0, 1000000,
         "API requests/s per client address and loop thread, 0 = off (docs/ABUSE.md)"},
        {"--rate-ip-burst", "RATE_IP_BURST", TK_OPT_INT, &c->rate_ip_burst, 0, 10000000, "per-address burst, 0 = the rate"},
        {"--rate-user", "RATE_USER_PER_S", TK_OPT_INT, &c->rate_user, 0, 1000000,
         "claims and status lookups/s per user and loop thread, 0 = off"},
        {"--rate-user-burst", "RATE_USER_BURST", TK_OPT_INT, &c->rate_user_burst, 0, 10000000, "per-user burst, 0 = the rate"},
        {"--conn-per-ip", "CONN_PER_IP", TK_OPT_INT, &c->conn_per_ip, 0, 1000000,
         "open connections per client address, all threads together, 0 = off; TRUSTED_PROXIES peers are exempt (docs/ABUSE.md)"},
        {"--trusted-proxies", "TRUSTED_PROXIES", TK_OPT_STR, &c->trusted_proxies, 0, 0,
         "comma list of CIDR blocks (IPv4, IPv6) of load balancers whose X-Forwarded-For and PROXY line are believed; default none"},
        {"--proxy-protocol", "PROXY_PROTOCOL", TK_OPT_INT, &c->proxy_protocol, 0, 1,
         "1: connections from TRUSTED_PROXIES may start with a PROXY protocol v1 line naming the client"},
        {"--body-deadline-ms", "BODY_DEADLINE_MS", TK_OPT_INT, &c->body_deadline_ms, 100, 600000,
         "a request's headers and body must arrive within this (HTTP/1.1: connection closed; HTTP/2: stream reset)"},
        {"--h2-conn-body-max", "H2_CONN_BODY_MAX", TK_OPT_INT, &c->h2_conn_body_max, 16384, 67108864,
         "request-body bytes one HTTP/2 connection may hold for requests not yet handled; beyond, its newest streams are reset"},
        {"--fallback-grants", "FALLBACK_GRANTS", TK_OPT_INT, &c->fallback_grants, 0, 1,
         "1: while Redis is away, grant claims from MariaDB under the lock table; 0: answer read-only (docs/DESIGN.md)"},
        {"--fallback-after-ms", "FALLBACK_AFTER_MS", TK_OPT_INT, &c->fallback_after_ms, 0, 600000,
         "how long Redis must be away before the fallback grants"},
        {"--lock-ttl-ms", "FALLBACK_LOCK_TTL_MS", TK_OPT_INT, &c->lock_ttl_ms, 500, 600000,
         "expiry of the fallback's event lock, renewed by every fallback transaction"},
        {"--peer-alive-ms", "PEER_ALIVE_MS", TK_OPT_INT, &c->peer_alive_ms, 3000, 600000,
         "another gateway whose beat in MariaDB is younger than this, or than its own value if longer, counts as alive (docs/DESIGN.md)"},
        {"--journal-max", "JOURNAL_MAX", TK_OPT_INT, &c->journal_max, 1024, 16777216,
         "undrained Redis grants remembered for the fallback (about 100 bytes each); beyond, events go read-only"},
        {"--db-queue-max", "DB_QUEUE_MAX", TK_OPT_INT, &c->db_queue_max, 1, 1000000,
         "database jobs waiting per lane (claims while Redis is away; admin), at most; beyond, 503 (docs/DESIGN.md)"},
        {"--db-job-deadline-ms", "DB_JOB_DEADLINE_MS", TK_OPT_INT, &c->db_job_deadline_ms, 50, 600000,
         "a request's database job not started within this is answered 503 without touching MariaDB"},
        {"--redis-inflight-max", "REDIS_INFLIGHT_MAX", TK_OPT_INT, &c->redis_inflight_max, 1, 10000000,
         "claims per loop thread batched for or waiting on Redis, at most; beyond, 503"},
        {"--board-reads-max", "BOARD_READS_MAX", TK_OPT_INT, &c->board_reads_max, 1, 10000000,
         "leaderboard reads per loop thread waiting on Redis or MariaDB, at most; beyond, 503 with Retry-After"},
        {"--board-db-reads-max", "BOARD_DB_READS_MAX", TK_OPT_INT, &c->board_db_reads_max, 1, 100000,
         "of those, reads of old seasons from MariaDB per loop thread, at most; beyond, 503 with Retry-After"},
        {"--board-checksum-max", "BOARD_CHECKSUM_MAX", TK_OPT_INT, &c->board_checksum_max, 0, 100000000,
         "users of a board's season up to which the admin board view compares Redis and MariaDB by checksum"},
        {"--watch-held-max", "WATCH_HELD_MAX", TK_OPT_INT, &c->watch_held_max, 1, 10000000,
         "long-polls (GET .../watch) held per loop thread, at most; beyond, 503 with Retry-After"},
        {"--wq-held-max", "WQ_HELD_MAX", TK_OPT_INT, &c->wq_held_max, 1, 10000000,
         "waiting-room status long-polls (GET .../queue/{user}) held per loop thread, at most; beyond, 503 with Retry-After"},
        {"--user-auth", "USER_AUTH", TK_OPT_STR, &c->user_auth, 0, 0,
         "required: user routes need a signed user token; off: the body's user_id is trusted (v1; benchmarks, trusted networks)"},
        {"--user-token-secret-file", "USER_TOKEN_SECRET_FILE", TK_OPT_STR, &c->user_token_secret_file, 0, 0,
         "HS256 key of user tokens, at least 32 bytes, mode 0600 (default VAR_DIR/secrets/user_token_secret)"},
        {"--user-token-secret-next-file", "USER_TOKEN_SECRET_NEXT_FILE", TK_OPT_STR, &c->user_token_secret_next_file, 0, 0,
         "a second key also accepted, for rotation"},
        {"--user-token-issuer", "USER_TOKEN_ISSUER", TK_OPT_STR, &c->user_token_issuer, 0, 0, "required \"iss\" of user tokens (unset: not checked)"},
        {"--user-token-audience", "USER_TOKEN_AUDIENCE", TK_OPT_STR, &c->user_token_audience, 0, 0,
         "required \"aud\" of user tokens (unset: not checked)"},
        {"--access-token-secret-file", "ACCESS_TOKEN_SECRET_FILE", TK_OPT_STR, &c->access_token_secret_file, 0, 0,
         "HS256 key of waiting-room access tokens, at least 32 bytes, mode 0600, the same file for every gateway "
         "(unset: a random key per process; only a lone gateway can then admit)"},
        {"--dev-login", "DEV_LOGIN", TK_OPT_FLAG, &c->dev_login, 0, 0,
         "1: POST /v1/dev/login signs a token for any user_id (demo only, never in production)"},
        TK_BACKEND_OPTS(&c->backend),
        TK_WAIT_OPTS(&c->redis_wait_replicas, &c->redis_wait_timeout_ms),
        {"--redis-cluster", "REDIS_CLUSTER", TK_OPT_STR, &c->redis_cluster, 0, 0,
         "host:port,... seeds of a Redis Cluster (unset: the single Redis at REDIS_HOST:REDIS_PORT; docs/DESIGN.md)"},
    };
    int rc = tk_opt_parse(opts, TK_OPT_COUNT(opts), argc, argv, err, errlen);
    if (rc != 0)
        return rc;

    tk_log_level_t level;
    if (tk_log_parse_level(c->log_level, &level) != 0) {
        snprintf(err, errlen, "LOG_LEVEL=%s: expected debug, info, warn or error", c->log_level);
        return -1;
    }
    char why[256];
    if (gw_cidr_parse_list(c->trusted_proxies, &c->trusted, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "TRUSTED_PROXIES: %s", why);
        return -1;
    }
    if (c->proxy_protocol && c->trusted.n == 0) {
        snprintf(err, errlen, "PROXY_PROTOCOL=1 needs TRUSTED_PROXIES: the balancers whose PROXY line is believed");
        return -1;
    }
    if (strcmp(c->claim_entry, "packed") == 0) {
        c->claim_entry_arg = 'm';
    } else if (strcmp(c->claim_entry, "single") == 0) {
        c->claim_entry_arg = 's';
    } else {
        snprintf(err, errlen, "CLAIM_ENTRY=%s: expected packed or single", c->claim_entry);
        return -1;
    }
    if (c->http_port == c->port) {
        snprintf(err, errlen, "HTTP_PORT=%ld: must differ from PORT", c->http_port);
        return -1;
    }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        snprintf(err, errlen, "TLS_CERT and TLS_KEY go together: set both or neither");
        return -1;
    }
    if (c->tls_cert == NULL) {
        snprintf(c->tls_cert_buf, sizeof(c->tls_cert_buf), "%s/tls/cert.pem", c->var_dir);
        snprintf(c->tls_key_buf, sizeof(c->tls_key_buf), "%s/tls/key.pem", c->var_dir);
        c->tls_cert = c->tls_cert_buf;
        c->tls_key = c->tls_key_buf;
    }

    char path[512];
    const char *token = getenv("ADMIN_TOKEN");
    if (token != NULL && *token != '\0') {
        if (strlen(token) >= sizeof(c->admin_token)) {
            snprintf(err, errlen, "ADMIN_TOKEN: longer than %zu bytes", sizeof(c->admin_token) - 1);
            return -1;
        }
        strcpy(c->admin_token, token);
    } else {
        if (c->admin_token_file == NULL) {
            snprintf(path, sizeof(path), "%s/secrets/admin_token", c->var_dir);
            c->admin_token_file = path;
        }
        if (tk_read_secret(c->admin_token_file, c->admin_token, sizeof(c->admin_token), err, errlen) != 0)
            return -1;
        c->admin_token_file = NULL; /* may point at the stack buffer */
    }
    if (strlen(c->admin_token) < 16) {
        snprintf(err, errlen, "the admin token must be at least 16 characters");
        return -1;
    }

    if (load_user_keys(c, err, errlen) != 0)
        return -1;
    if (load_access_key(c, err, errlen) != 0)
        return -1;

    if (tk_backend_check(&c->backend, err, errlen) != 0)
        return -1;
    if (c->redis_cluster != NULL && *c->redis_cluster != '\0') {
        /* Its error names REDIS_CLUSTER and the item ("REDIS_CLUSTER: item 1 (10.0.0.1): no ':port'"). */
        if (tk_cluster_seeds_parse(c->redis_cluster, c->backend.redis_seeds, TK_CLUSTER_SEEDS_MAX, &c->backend.redis_nseeds, err,
                                   errlen) != 0)
            return -1;
        /* The database threads' synchronous connection (admin routes, the
         * merge, the rebuild) does not route by slot yet: it goes to the
         * first seed (docs/DESIGN.md, "Redis Cluster routing: the gateway"). */
        c->backend.redis_host = c->backend.redis_seeds[0].host;
        c->backend.redis_port = c->backend.redis_seeds[0].port;
    }
    return tk_backend_read_password(&c->backend, c->var_dir, err, errlen);
}
