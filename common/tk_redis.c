#include "tk_redis.h"

#include <stdio.h>
#include <string.h>

int tk_redis_auth(redisContext *c, const tk_backend_t *b, char *err, size_t errlen)
{
    if (!tk_backend_redis_auth(b))
        return 0;
    /* By argv, so the password is never formatted into a command string. */
    const char *argv[] = {"AUTH", b->redis_user, b->redis_password};
    size_t lens[] = {4, strlen(b->redis_user), strlen(b->redis_password)};
    redisReply *rep = redisCommandArgv(c, 3, argv, lens);
    if (rep == NULL) {
        snprintf(err, errlen, "AUTH as %s: %s", b->redis_user, c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    int ok = rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0;
    if (!ok)
        snprintf(err, errlen, "Redis refused AUTH as %s: %s (check REDIS_USER and REDIS_PASSWORD_FILE)", b->redis_user,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

redisContext *tk_redis_connect(const tk_backend_t *b, int timeout_ms, char *err, size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(b->redis_host, (int)b->redis_port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "cannot connect to %s:%ld: %s", b->redis_host, b->redis_port, c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "cannot set the timeout on %s:%ld: %s", b->redis_host, b->redis_port, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (tk_redis_auth(c, b, err, errlen) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}
