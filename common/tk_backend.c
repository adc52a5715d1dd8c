#include "tk_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tk_backend_defaults(tk_backend_t *b)
{
    memset(b, 0, sizeof(*b));
    b->redis_host = "127.0.0.1";
    b->redis_port = 6390;
    b->db_host = "127.0.0.1";
    b->db_port = 3310;
    b->db_user = "tk";
    b->db_name = "tk";
}

int tk_backend_check(const tk_backend_t *b, char *err, size_t errlen)
{
    const char *const names[] = {b->redis_host, b->db_host, b->db_user, b->db_name};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i] == NULL || *names[i] == '\0') {
            snprintf(err, errlen, "empty Redis or MariaDB host, user or database name");
            return -1;
        }
    }
    int has_user = tk_backend_redis_auth(b);
    int has_file = b->redis_password_file != NULL && *b->redis_password_file != '\0';
    if (has_user != has_file) {
        snprintf(err, errlen, has_user ? "--redis-user (REDIS_USER) needs --redis-password-file (REDIS_PASSWORD_FILE)"
                                       : "--redis-password-file (REDIS_PASSWORD_FILE) needs --redis-user (REDIS_USER)");
        return -1;
    }
    if (has_user) {
        size_t n = strlen(b->redis_user);
        for (size_t i = 0; i < n; i++) {
            if (b->redis_user[i] <= ' ' || b->redis_user[i] > '~')
                n = 0; /* refused below */
        }
        if (n == 0 || n > TK_REDIS_USER_MAX) {
            snprintf(err, errlen, "--redis-user %s: expected 1-%d printable characters without spaces", b->redis_user, TK_REDIS_USER_MAX);
            return -1;
        }
    }
    return 0;
}

int tk_backend_cluster(tk_backend_t *b, const char *spec, char *err, size_t errlen)
{
    b->redis_nseeds = 0;
    if (spec == NULL || *spec == '\0')
        return 0;
    return tk_cluster_seeds_parse(spec, b->redis_seeds, TK_CLUSTER_SEEDS_MAX, &b->redis_nseeds, err, errlen);
}

int tk_backend_redis_auth(const tk_backend_t *b)
{
    return b->redis_user != NULL && *b->redis_user != '\0';
}

/* The Redis password: only from a file that group and others cannot read,
 * as every secret (tk_read_secret). */
static int read_redis_password(tk_backend_t *b, char *err, size_t errlen)
{
    char why[512];
    if (tk_read_secret(b->redis_password_file, b->redis_password, sizeof(b->redis_password), why, sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "REDIS_PASSWORD_FILE: %s", why); /* names the setting to fix */
    return -1;
}

int tk_backend_read_password(tk_backend_t *b, const char *var_dir, char *err, size_t errlen)
{
    if (tk_backend_redis_auth(b) && read_redis_password(b, err, errlen) != 0)
        return -1;
    const char *pw = getenv("DB_PASSWORD");
    if (pw != NULL && *pw != '\0') {
        if (strlen(pw) >= sizeof(b->db_password)) {
            snprintf(err, errlen, "DB_PASSWORD: longer than %zu bytes", sizeof(b->db_password) - 1);
            return -1;
        }
        strcpy(b->db_password, pw);
        return 0;
    }
    if (b->db_password_file == NULL) {
        snprintf(b->password_path, sizeof(b->password_path), "%s/secrets/db_password", var_dir);
        b->db_password_file = b->password_path;
    }
    return tk_read_secret(b->db_password_file, b->db_password, sizeof(b->db_password), err, errlen);
}

tk_db_conf_t tk_backend_db(const tk_backend_t *b, int timeout_s)
{
    return (tk_db_conf_t){b->db_host, (int)b->db_port, b->db_user, b->db_password, b->db_name, timeout_s};
}
