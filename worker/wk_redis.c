#include "wk_redis.h"
#include "tk_log.h"

#include <stdio.h>
#include <string.h>

void wk_redis_init(wk_redis_t *r, const tk_backend_t *backend, int timeout_ms, const char *script)
{
    memset(r, 0, sizeof(*r));
    r->backend = backend;
    r->timeout_ms = timeout_ms;
    r->script = script;
}

int wk_redis_is_cluster(const wk_redis_t *r)
{
    return r->backend->redis_nseeds > 0;
}

/* tk_rcluster's new-connection hook: SCRIPT LOAD of the confirm script, as every connection did before the cluster. */
static int on_connect(void *arg, redisContext *ctx, const tk_cluster_addr_t *a, char *err, size_t errlen)
{
    wk_redis_t *r = arg;
    redisReply *rep = redisCommand(ctx, "SCRIPT LOAD %s", r->script);
    if (rep == NULL) {
        snprintf(err, errlen, "SCRIPT LOAD confirm: %s", ctx->errstr[0] ? ctx->errstr : "connection lost");
        return -1;
    }
    int ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
    if (ok)
        memcpy(r->sha, rep->str, 41);
    else
        snprintf(err, errlen, "SCRIPT LOAD confirm: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    if (ok)
        tk_info("connected to redis %s:%d%s%s, confirm script %s", a->host, a->port, tk_backend_redis_auth(r->backend) ? " as " : "",
                tk_backend_redis_auth(r->backend) ? r->backend->redis_user : "", r->sha);
    return ok ? 0 : -1;
}

/* Sets up the client on first use. 0, or -1 (out of memory, logged). */
static int ready(wk_redis_t *r)
{
    if (r->ready)
        return 0;
    if (tk_rcluster_init(&r->rc, r->backend, r->timeout_ms) != 0) {
        tk_error("redis: %s", r->rc.errstr);
        return -1;
    }
    tk_rcluster_on_connect(&r->rc, on_connect, r);
    r->ready = 1;
    return 0;
}

redisReply *wk_redis_cmd(wk_redis_t *r, const char *key, int argc, const char **argv, const size_t *lens)
{
    if (ready(r) != 0)
        return NULL;
    redisReply *rep = tk_rcluster_cmd(&r->rc, key, strlen(key), argc, argv, lens);
    if (rep == NULL)
        tk_warn("redis: %s", r->rc.errstr);
    return rep;
}

redisReply *wk_redis_script(wk_redis_t *r, int nkeys, int argc, const char **argv, size_t *lens)
{
    char nk[16];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    if (ready(r) != 0)
        return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* The first call connects (the hook loads the script and learns the SHA); a NOSCRIPT sends the text. */
        if (attempt == 0 && r->sha[0] == '\0' && tk_rcluster_key_ctx(&r->rc, argv[3], lens[3]) == NULL) {
            tk_warn("redis: %s", r->rc.errstr);
            return NULL;
        }
        argv[0] = attempt == 0 ? "EVALSHA" : "EVAL";
        argv[1] = attempt == 0 ? r->sha : r->script;
        argv[2] = nk;
        lens[0] = strlen(argv[0]);
        lens[1] = strlen(argv[1]);
        lens[2] = strlen(nk);
        redisReply *rep = tk_rcluster_cmd(&r->rc, argv[3], lens[3], argc, argv, lens);
        if (rep == NULL)
            tk_warn("redis: %s", r->rc.errstr);
        if (rep == NULL || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOSCRIPT", 8) != 0 || attempt == 1)
            return rep;
        freeReplyObject(rep);
        tk_info("confirm script missing in redis (NOSCRIPT); loading it again");
    }
    return NULL;
}

void wk_redis_close(wk_redis_t *r)
{
    if (r->ready)
        tk_rcluster_free(&r->rc);
    r->ready = 0;
}
