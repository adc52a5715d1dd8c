/*
 * gw_access_mint only (gw_access.h), so the waiting room's "admitted"
 * answers carry a real token on this branch. The ACCESS branch owns this
 * file: its version (the secret kept with the server, the claim check)
 * replaces this one. Here the secret is ACCESS_TOKEN_SECRET_FILE when set,
 * else random per process (then only this gateway's tokens verify).
 */
#include "gw_access.h"
#include "tk_log.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static tk_jwt_key_t access_key;
static int access_ok;
static pthread_once_t access_once = PTHREAD_ONCE_INIT;

static void load_key(void)
{
    const char *path = getenv("ACCESS_TOKEN_SECRET_FILE");
    char err[256];
    if (path != NULL && *path != '\0') {
        access_ok = tk_jwt_key_load(&access_key, path, err, sizeof err) == 0;
        if (!access_ok)
            tk_error("ACCESS_TOKEN_SECRET_FILE: %s", err);
        return;
    }
    access_key.len = 32;
    access_ok = RAND_bytes(access_key.bytes, 32) == 1;
    tk_warn("ACCESS_TOKEN_SECRET_FILE is not set: access tokens are signed with a random secret of this process");
}

int gw_access_mint(const gw_server_t *s, const char *event, size_t elen, const char *user, size_t ulen, int64_t admitted_ms,
                   int ttl_s, char *out)
{
    (void)s;
    pthread_once(&access_once, load_key);
    char aud[TK_ID_MAX + 1], sub[TK_ID_MAX + 1];
    if (!access_ok || elen > TK_ID_MAX || ulen > TK_ID_MAX)
        return -1;
    memcpy(aud, event, elen);
    aud[elen] = '\0';
    memcpy(sub, user, ulen);
    sub[ulen] = '\0';
    int64_t iat = admitted_ms / 1000;
    if (tk_jwt_mint(&access_key, sub, iat, iat + ttl_s, NULL, aud, out, GW_ACCESS_TOKEN_MAX) != 0)
        return -1;
    return (int)strlen(out);
}
