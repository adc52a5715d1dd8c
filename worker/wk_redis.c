#include "wk_redis.h"
#include "tk_log.h"
#include "tk_redis.h"

#include <stdio.h>
#include <string.h>

void wk_redis_init(wk_redis_t *r, const tk_backend_t *backend, int timeout_ms, const char *script)
{
    memset(r, 0, sizeof(*r));
    r->backend = backend;
    r->timeout_ms = timeout_ms;
    r->script = script;
}

static void drop(wk_redis_t *r, const char *why)
{
    if (r->c != NULL) {
        tk_warn("redis %s:%ld: %s; reconnecting", r->backend->redis_host, r->backend->redis_port, why);
        redisFree(r->c);
        r->c = NULL;
    }
}

static int load_script(wk_redis_t *r)
{
    redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", r->script);
    if (rep == NULL) {
        drop(r, r->c->errstr[0] ? r->c->errstr : "connection lost");
        return -1;
    }
    int ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
    if (ok)
        memcpy(r->sha, rep->str, 41);
    else
        tk_error("SCRIPT LOAD confirm: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

int wk_redis_ensure(wk_redis_t *r)
{
    if (r->c != NULL)
        return 0;
    char err[512];
    redisContext *c = tk_redis_connect(r->backend, r->timeout_ms, err, sizeof(err));
    if (c == NULL) {
        tk_warn("redis: %s", err);
        return -1;
    }
    r->c = c;
    if (load_script(r) != 0) {
        drop(r, "script load failed");
        return -1;
    }
    tk_info("connected to redis %s:%ld%s%s, confirm script %s", r->backend->redis_host, r->backend->redis_port,
            tk_backend_redis_auth(r->backend) ? " as " : "", tk_backend_redis_auth(r->backend) ? r->backend->redis_user : "", r->sha);
    return 0;
}

redisReply *wk_redis_cmd(wk_redis_t *r, int argc, const char **argv, const size_t *lens)
{
    if (wk_redis_ensure(r) != 0)
        return NULL;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (rep == NULL)
        drop(r, r->c->errstr[0] ? r->c->errstr : "connection lost");
    return rep;
}

redisReply *wk_redis_script(wk_redis_t *r, int nkeys, int argc, const char **argv, size_t *lens)
{
    char nk[16];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (wk_redis_ensure(r) != 0)
            return NULL;
        argv[0] = "EVALSHA";
        argv[1] = r->sha;
        argv[2] = nk;
        lens[0] = 7;
        lens[1] = strlen(r->sha);
        lens[2] = strlen(nk);
        redisReply *rep = wk_redis_cmd(r, argc, argv, lens);
        if (rep == NULL || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOSCRIPT", 8) != 0 || attempt == 1)
            return rep;
        freeReplyObject(rep);
        tk_info("confirm script missing in redis (NOSCRIPT); loading it again");
        if (load_script(r) != 0)
            return NULL;
    }
    return NULL;
}

void wk_redis_close(wk_redis_t *r)
{
    if (r->c != NULL)
        redisFree(r->c);
    r->c = NULL;
}

