/*
 * tk_backend: where Redis and MariaDB are, and the database password — the
 * options every process shares (docs/CONTRACTS.md), defined once. Also the
 * Redis ACL user a process authenticates as (docs/DESIGN.md, "Redis ACLs"):
 * none by default (no AUTH, as before); with REDIS_USER set, AUTH user
 * password on every connection (common/tk_redis.h, gateway/gw_redis.c).
 */
#ifndef TK_BACKEND_H
#define TK_BACKEND_H

#include "tk_cluster.h"
#include "tk_db.h"
#include "tk_opt.h"

#include <stddef.h>

#define TK_PASSWORD_MAX 256
#define TK_REDIS_USER_MAX 64

typedef struct {
    const char *redis_host;
    long redis_port;
    const char *db_host;
    long db_port;
    const char *db_user;
    const char *db_name;
    const char *db_password_file; /* NULL: $VAR_DIR/secrets/db_password */
    char db_password[TK_PASSWORD_MAX]; /* filled by tk_backend_finish */
    char password_path[512];
    const char *redis_user;          /* NULL or "": no AUTH */
    const char *redis_password_file; /* required with redis_user; 0600 */
    char redis_password[TK_PASSWORD_MAX]; /* filled by tk_backend_read_password when redis_user is set */
    /* Redis Cluster (REDIS_CLUSTER: the gateway parses it in gw_config.c, the
     * worker and the tools with tk_backend_cluster): the seeds; 0 = a single
     * Redis at redis_host:redis_port. */
    size_t redis_nseeds;
    tk_cluster_addr_t redis_seeds[TK_CLUSTER_SEEDS_MAX];
} tk_backend_t;

/** Sets the defaults: 127.0.0.1:6390, 127.0.0.1:3310, user and database tk. */
void tk_backend_defaults(tk_backend_t *b);

/**
 * The option entries of @b (a tk_backend_t *), shared by every program:
 * listed inside the program's one option table, whose size the compiler
 * counts:  tk_opt_t opts[] = {{"--port", …}, TK_BACKEND_OPTS(&c->backend)};
 */
#define TK_BACKEND_OPTS(b)                                                                                      \
    {"--redis-host", "REDIS_HOST", TK_OPT_STR, &(b)->redis_host, 0, 0, "Redis host"},                           \
    {"--redis-port", "REDIS_PORT", TK_OPT_INT, &(b)->redis_port, 1, 65535, "Redis port"},                       \
    {"--db-host", "DB_HOST", TK_OPT_STR, &(b)->db_host, 0, 0, "MariaDB host"},                                  \
    {"--db-port", "DB_PORT", TK_OPT_INT, &(b)->db_port, 1, 65535, "MariaDB port"},                              \
    {"--db-user", "DB_USER", TK_OPT_STR, &(b)->db_user, 0, 0, "MariaDB user"},                                  \
    {"--db-name", "DB_NAME", TK_OPT_STR, &(b)->db_name, 0, 0, "MariaDB database"},                              \
    {"--db-password-file", "DB_PASSWORD_FILE", TK_OPT_STR, &(b)->db_password_file, 0, 0,                        \
     "file with the MariaDB password (DB_PASSWORD overrides)"},                                                  \
    {"--redis-user", "REDIS_USER", TK_OPT_STR, &(b)->redis_user, 0, 0,                                          \
     "Redis ACL user to AUTH as (default: none, no AUTH)"},                                                     \
    {"--redis-password-file", "REDIS_PASSWORD_FILE", TK_OPT_STR, &(b)->redis_password_file, 0, 0,               \
     "file with the Redis user's password (mode 0600; needed with --redis-user)"}

/**
 * After parsing: refuses an empty host, user or database name, a Redis user
 * that is not 1-64 printable characters without spaces, and a Redis user
 * without a password file or a password file without a user. Returns 0 or
 * -1 with @err.
 */
int tk_backend_check(const tk_backend_t *b, char *err, size_t errlen);

/**
 * Reads the password into b->db_password: DB_PASSWORD, else the password
 * file (default @var_dir/secrets/db_password). With a Redis user, also its
 * password into b->redis_password from b->redis_password_file, which is
 * refused when group or others may read it (mode & 077). Returns 0 or -1
 * with @err.
 */
int tk_backend_read_password(tk_backend_t *b, const char *var_dir, char *err, size_t errlen);

/** The REDIS_CLUSTER option entry, storing the value as given in @spec (a const char **). */
#define TK_BACKEND_CLUSTER_OPT(spec)                                                                            \
    {"--redis-cluster", "REDIS_CLUSTER", TK_OPT_STR, (spec), 0, 0,                                              \
     "host:port,... seeds of a Redis Cluster (unset: the single Redis at REDIS_HOST:REDIS_PORT; docs/DESIGN.md)"}

/**
 * Reads REDIS_CLUSTER's value @spec into b->redis_seeds and b->redis_nseeds.
 * NULL or "" leaves @b in single-Redis mode (0 seeds). Returns 0, or -1 with
 * @err naming the variable and the item (tk_cluster_seeds_parse).
 */
int tk_backend_cluster(tk_backend_t *b, const char *spec, char *err, size_t errlen);

/** 1 when a Redis user is configured (every Redis connection starts with AUTH). */
int tk_backend_redis_auth(const tk_backend_t *b);

/** The connection settings for tk_db_connect, with @timeout_s. */
tk_db_conf_t tk_backend_db(const tk_backend_t *b, int timeout_s);

#endif
