#include "it_redis.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_env.h"
#include "tk_keys.h"
#include "tk_opt.h"

#include <limits.h>

redisContext *it_redis_connect_as(const char *role)
{
    const it_env_t *env = it_env();
    if (env == NULL)
        return NULL;
    struct timeval tv = {2, 0};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", env->redis_port, tv);
    if (rc == NULL || rc->err) {
        fprintf(stderr, "it_redis: cannot connect to 127.0.0.1:%d: %s\n", env->redis_port, rc ? rc->errstr : "out of memory");
        if (rc != NULL)
            redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    if (role == NULL)
        return rc;
    char path[PATH_MAX], pw[256], err[512];
    snprintf(path, sizeof path, "%s/secrets/redis_%s", env->it_dir, role);
    if (tk_read_secret(path, pw, sizeof pw, err, sizeof err) != 0) {
        fprintf(stderr, "it_redis: %s\n", err);
        redisFree(rc);
        return NULL;
    }
    redisReply *r = redisCommand(rc, "AUTH tk-%s %s", role, pw);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        fprintf(stderr, "it_redis: AUTH as tk-%s: %s\n", role, r == NULL ? rc->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
    if (!ok) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}

redisContext *it_redis_connect(void)
{
    return it_redis_connect_as("test");
}

int it_redis_flushall(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "FLUSHALL");
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        fprintf(stderr, "it_redis: FLUSHALL failed: %s\n", r == NULL ? rc->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "?");
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static int key(tk_key_kind_t kind, const char *event_id, char *out)
{
    return tk_key(kind, event_id, strlen(event_id), out) < 0 ? -1 : 0;
}

long long it_redis_ev_int(redisContext *rc, const char *event_id, const char *field, long long dflt)
{
    char k[TK_KEY_MAX];
    if (key(TK_KEY_EV, event_id, k) != 0)
        return dflt;
    redisReply *r = redisCommand(rc, "HGET %s %s", k, field);
    long long v = dflt;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char *end;
        long long x = strtoll(r->str, &end, 10);
        if (end != r->str && *end == '\0')
            v = x;
    }
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

static long long int_cmd(redisContext *rc, const char *cmd, tk_key_kind_t kind, const char *event_id)
{
    char k[TK_KEY_MAX];
    if (key(kind, event_id, k) != 0)
        return -1;
    redisReply *r = redisCommand(rc, "%s %s", cmd, k);
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

long long it_redis_xlen(redisContext *rc, const char *event_id)
{
    return int_cmd(rc, "XLEN", TK_KEY_STREAM, event_id);
}

long long it_redis_claims_count(redisContext *rc, const char *event_id)
{
    return int_cmd(rc, "HLEN", TK_KEY_CLAIMS, event_id);
}

int it_redis_ev_set(redisContext *rc, const char *event_id, const char *field, const char *value)
{
    char k[TK_KEY_MAX];
    if (key(TK_KEY_EV, event_id, k) != 0)
        return -1;
    redisReply *r = redisCommand(rc, "HSET %s %s %s", k, field, value);
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

long long it_redis_pending_of(redisContext *rc, const char *event_id, const char *consumer)
{
    char k[TK_KEY_MAX];
    if (key(TK_KEY_STREAM, event_id, k) != 0)
        return -1;
    redisReply *r = redisCommand(rc, "XPENDING %s wk", k);
    long long v = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        v = 0;
        redisReply *per = r->element[3];
        for (size_t i = 0; per->type == REDIS_REPLY_ARRAY && i < per->elements; i++) {
            redisReply *e = per->element[i];
            if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[0]->type == REDIS_REPLY_STRING &&
                strcmp(e->element[0]->str, consumer) == 0 && e->element[1]->type == REDIS_REPLY_STRING)
                v = strtoll(e->element[1]->str, NULL, 10);
        }
    }
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

long long it_redis_cmd_calls(redisContext *rc, const char *cmd)
{
    redisReply *r = redisCommand(rc, "INFO commandstats");
    long long v = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char k[64];
        snprintf(k, sizeof k, "cmdstat_%s:calls=", cmd);
        const char *p = strstr(r->str, k);
        v = p != NULL ? strtoll(p + strlen(k), NULL, 10) : 0;
    }
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

static redisReply *vmust(redisContext *rc, const char *fmt, va_list ap)
{
    redisReply *x = redisvCommand(rc, fmt, ap);
    assert_non_null(x);
    if (x->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "redis: %s\n", x->str);
    assert_int_not_equal(x->type, REDIS_REPLY_ERROR);
    return x;
}

redisReply *it_redis_must(redisContext *rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *x = vmust(rc, fmt, ap);
    va_end(ap);
    return x;
}

void it_redis_do(redisContext *rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *x = vmust(rc, fmt, ap);
    va_end(ap);
    freeReplyObject(x);
}

long long it_redis_int(redisContext *rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *x = redisvCommand(rc, fmt, ap);
    va_end(ap);
    assert_non_null(x);
    long long v = x->type == REDIS_REPLY_INTEGER ? x->integer : x->type == REDIS_REPLY_STRING ? strtoll(x->str, NULL, 10) : -1;
    freeReplyObject(x);
    return v;
}

redisContext *it_redis_connect_port(int port, const char *password)
{
    struct timeval tv = {2, 0};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (rc == NULL || rc->err) {
        redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    redisReply *rep = redisCommand(rc, "AUTH tk-test %s", password);
    int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!ok) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}
