#include "it_token.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "it_env.h"

/* $TK_IT_DIR/@name into @path (PATH_MAX bytes), created with a random secret the first time. */
static const char *secret_path(const char *name, char *path)
{
    if (path[0] != '\0')
        return path;
    const it_env_t *env = it_env();
    if (env == NULL)
        return NULL;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", env->it_dir, name);
    /* Once per run directory: O_EXCL, so a later binary of the same run keeps the first one's secret. */
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
        fprintf(stderr, "it_token: %s: %s\n", p, strerror(errno));
        return NULL;
    }
    if (fd >= 0) {
        unsigned char raw[32];
        char hex[2 * sizeof raw + 1];
        int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t got = rnd >= 0 ? read(rnd, raw, sizeof raw) : -1;
        if (rnd >= 0)
            close(rnd);
        for (size_t i = 0; got == (ssize_t)sizeof raw && i < sizeof raw; i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        int ok = got == (ssize_t)sizeof raw && write(fd, hex, 2 * sizeof raw) == (ssize_t)(2 * sizeof raw);
        close(fd);
        if (!ok) {
            fprintf(stderr, "it_token: cannot write a random secret into %s\n", p);
            unlink(p);
            return NULL;
        }
    }
    memcpy(path, p, PATH_MAX);
    return path;
}

const char *it_token_secret_path(void)
{
    static char path[PATH_MAX];
    return secret_path("user_token_secret", path);
}

const char *it_access_secret_path(void)
{
    static char path[PATH_MAX];
    return secret_path("access_token_secret", path);
}

static void claim_from_env(char *out, const char *name)
{
    const char *v = getenv(name);
    out[0] = '\0';
    if (v == NULL)
        return;
    if (strlen(v) >= IT_TOKEN_CLAIM_MAX)
        fprintf(stderr, "it_token: %s is over %d bytes: the tokens minted will not carry it\n", name, IT_TOKEN_CLAIM_MAX - 1);
    else
        memcpy(out, v, strlen(v) + 1);
}

void it_token_cfg_read(it_token_cfg_t *cfg, const char *harness_secret)
{
    memset(cfg, 0, sizeof *cfg);
    const char *file = getenv("USER_TOKEN_SECRET_FILE");
    if (file == NULL)
        file = harness_secret;
    char err[256];
    if (file == NULL || tk_jwt_key_load(&cfg->key, file, err, sizeof err) != 0)
        fprintf(stderr, "it_token: no user token key for this gateway (%s): requests that need one will fail\n",
                file == NULL ? "no secret file" : err);
    claim_from_env(cfg->iss, "USER_TOKEN_ISSUER");
    claim_from_env(cfg->aud, "USER_TOKEN_AUDIENCE");
}

const char *it_token_auth_line(const it_token_cfg_t *cfg, const char *user, char *out)
{
    static const char prefix[] = "Authorization: Bearer ";
    int64_t now = (int64_t)time(NULL);
    if (cfg->key.len == 0 ||
        tk_jwt_mint(&cfg->key, user, now, now + IT_TOKEN_TTL_S, cfg->iss[0] ? cfg->iss : NULL, cfg->aud[0] ? cfg->aud : NULL,
                    out + sizeof prefix - 1, IT_AUTH_LINE_MAX - (sizeof prefix - 1)) != 0) {
        fprintf(stderr, "it_token: cannot mint a token for user \"%s\"%s\n", user, cfg->key.len == 0 ? " (no key)" : "");
        return NULL;
    }
    memcpy(out, prefix, sizeof prefix - 1);
    return out;
}
