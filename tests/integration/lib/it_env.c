#include "it_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_opt.h"

static it_env_t env;
static int state; /* 0 unread, 1 good, -1 bad */

static const char *need(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "it_env: %s is not set; run the integration tests through tests/integration/run.sh BUILD_DIR\n", name);
        return NULL;
    }
    return v;
}

static int need_port(const char *name, int *out)
{
    const char *v = need(name);
    if (v == NULL)
        return -1;
    char *end;
    long p = strtol(v, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) {
        fprintf(stderr, "it_env: %s=%s is not a port\n", name, v);
        return -1;
    }
    *out = (int)p;
    return 0;
}

static int load(void)
{
    char err[256];
    if ((env.it_dir = need("TK_IT_DIR")) == NULL || (env.build = need("TK_BUILD")) == NULL || (env.root = need("TK_ROOT")) == NULL ||
        need_port("REDIS_PORT", &env.redis_port) != 0 || need_port("DB_PORT", &env.db_port) != 0 ||
        (env.db_user = need("DB_USER")) == NULL || (env.db_name = need("DB_NAME")) == NULL ||
        (env.db_password_file = need("DB_PASSWORD_FILE")) == NULL)
        return -1;
    if (tk_read_secret(env.db_password_file, env.db_password, sizeof env.db_password, err, sizeof err) != 0) {
        fprintf(stderr, "it_env: DB_PASSWORD_FILE: %s\n", err);
        return -1;
    }
    return 0;
}

const it_env_t *it_env(void)
{
    if (state == 0)
        state = load() == 0 ? 1 : -1;
    return state == 1 ? &env : NULL;
}
