#include "tk_rcluster.h"
#include "tk_log.h"
#include "tk_redis.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_rcluster_init(tk_rcluster_t *c, const tk_backend_t *b, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->backend = b;
    c->timeout_ms = timeout_ms;
    c->cluster = b->redis_nseeds > 0;
    snprintf(c->single.host, sizeof(c->single.host), "%s", b->redis_host);
    c->single.port = (int)b->redis_port;
    if (c->cluster) {
        c->map = malloc(sizeof(*c->map));
        if (c->map == NULL) {
            snprintf(c->errstr, sizeof(c->errstr), "out of memory");
            return -1;
        }
        tk_cluster_map_init(c->map);
    }
    return 0;
}

void tk_rcluster_free(tk_rcluster_t *c)
{
    for (size_t i = 0; i < TK_CLUSTER_NODES_MAX; i++) {
        if (c->ctx[i] != NULL)
            redisFree(c->ctx[i]);
        c->ctx[i] = NULL;
    }
    free(c->map);
    c->map = NULL;
}

void tk_rcluster_on_connect(tk_rcluster_t *c, tk_rcluster_on_connect_t fn, void *arg)
{
    c->on_connect = fn;
    c->on_connect_arg = arg;
}

int tk_rcluster_is_cluster(const tk_rcluster_t *c)
{
    return c->cluster;
}

/* ---------------------------------------------------------------- connections */

static const tk_cluster_addr_t *node_addr(const tk_rcluster_t *c, size_t node)
{
    if (!c->cluster)
        return node == 0 ? &c->single : NULL;
    return node < c->map->nnodes ? &c->map->nodes[node].addr : NULL;
}

/* A new connection to @a, authenticated and through the hook; NULL with c->errstr. */
static redisContext *connect_to(tk_rcluster_t *c, const tk_cluster_addr_t *a)
{
    tk_backend_t b = *c->backend; /* the same AUTH and timeouts, another address */
    b.redis_host = a->host;
    b.redis_port = a->port;
    redisContext *ctx = tk_redis_connect(&b, c->timeout_ms, c->errstr, sizeof(c->errstr));
    if (ctx == NULL)
        return NULL;
    char err[300];
    if (c->on_connect != NULL && c->on_connect(c->on_connect_arg, ctx, a, err, sizeof(err)) != 0) {
        snprintf(c->errstr, sizeof(c->errstr), "%.150s:%d: %.200s", a->host, a->port, err);
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* The connection to master @node, made when needed; NULL with c->errstr. */
static redisContext *node_ctx(tk_rcluster_t *c, size_t node)
{
    const tk_cluster_addr_t *a = node_addr(c, node);
    if (a == NULL) {
        snprintf(c->errstr, sizeof(c->errstr), "no master %zu in the map", node);
        return NULL;
    }
    if (c->ctx[node] == NULL)
        c->ctx[node] = connect_to(c, a);
    return c->ctx[node];
}

/* Drops master @node's connection after it failed, saying why in c->errstr. */
static void drop(tk_rcluster_t *c, size_t node)
{
    redisContext *ctx = c->ctx[node];
    if (ctx == NULL)
        return;
    const tk_cluster_addr_t *a = node_addr(c, node);
    snprintf(c->errstr, sizeof(c->errstr), "redis %.150s:%d: %.200s", a != NULL ? a->host : "?", a != NULL ? a->port : 0,
             ctx->errstr[0] ? ctx->errstr : "connection lost");
    redisFree(ctx);
    c->ctx[node] = NULL;
}

void tk_rcluster_drop_ctx(tk_rcluster_t *c, redisContext *ctx)
{
    for (size_t i = 0; ctx != NULL && i < TK_CLUSTER_NODES_MAX; i++)
        if (c->ctx[i] == ctx)
            drop(c, i);
}

/* ---------------------------------------------------------------- the map */

void tk_rcluster_remap_index(const tk_cluster_addr_t *old, size_t nold, const tk_cluster_map_t *m, int *to)
{
    int taken[TK_CLUSTER_NODES_MAX] = {0};
    for (size_t i = 0; i < nold; i++) {
        int j = tk_cluster_map_find(m, old[i].host, old[i].port);
        to[i] = j >= 0 && !taken[j] ? j : -1;
        if (to[i] >= 0)
            taken[j] = 1;
    }
}

/* After a new map: each kept connection moves to its master's new index (@old[i] was index i's address); one whose master is gone is closed. */
static void remap(redisContext **ctx, const tk_cluster_addr_t *old, size_t nold, const tk_cluster_map_t *m)
{
    redisContext *moved[TK_CLUSTER_NODES_MAX] = {0};
    int to[TK_CLUSTER_NODES_MAX];
    tk_rcluster_remap_index(old, nold, m, to);
    for (size_t i = 0; i < nold; i++) {
        if (ctx[i] != NULL && to[i] >= 0)
            moved[to[i]] = ctx[i];
        else if (ctx[i] != NULL)
            redisFree(ctx[i]);
        ctx[i] = NULL;
    }
    memcpy(ctx, moved, sizeof(moved));
}

/* CLUSTER SLOTS on @ctx (at @a) into the map. 0, or -1 with c->errstr; NULL reply: the connection failed (*@lost set). */
static int read_map(tk_rcluster_t *c, redisContext *ctx, const tk_cluster_addr_t *a, int *lost)
{
    *lost = 0;
    redisReply *rep = redisCommand(ctx, "CLUSTER SLOTS");
    if (rep == NULL) {
        *lost = 1;
        snprintf(c->errstr, sizeof(c->errstr), "CLUSTER SLOTS on %.150s:%d: %.200s", a->host, a->port, ctx->errstr[0] ? ctx->errstr : "connection lost");
        return -1;
    }
    /* Parsed aside: a refused or empty map leaves the one in use (and the connections' indexes) as they were. */
    tk_cluster_map_t *m = malloc(sizeof(*m));
    if (m == NULL) {
        freeReplyObject(rep);
        snprintf(c->errstr, sizeof(c->errstr), "out of memory");
        return -1;
    }
    tk_cluster_map_init(m);
    char err[300];
    int rc = tk_cluster_map_parse(m, rep, a->host, err, sizeof(err));
    freeReplyObject(rep);
    if (rc != 0 || tk_cluster_covered(m) == 0) {
        snprintf(c->errstr, sizeof(c->errstr), "CLUSTER SLOTS on %.150s:%d: %.200s", a->host, a->port, rc != 0 ? err : "no slot served");
        free(m);
        return -1;
    }
    tk_cluster_addr_t old[TK_CLUSTER_NODES_MAX];
    size_t nold = c->map->nnodes;
    for (size_t i = 0; i < nold; i++)
        old[i] = c->map->nodes[i].addr;
    free(c->map);
    c->map = m;
    remap(c->ctx, old, nold, c->map);
    c->mapped = 1;
    c->refreshed++;
    return 0;
}

int tk_rcluster_refresh(tk_rcluster_t *c)
{
    if (!c->cluster)
        return node_ctx(c, 0) != NULL ? 0 : -1;
    /* Candidates: the connected masters, the map's others, the seeds (copied: a parse rewrites the map). */
    tk_cluster_addr_t cand[2 * TK_CLUSTER_NODES_MAX + TK_CLUSTER_SEEDS_MAX];
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < c->map->nnodes; i++)
            if ((c->ctx[i] != NULL) == (pass == 0))
                cand[n++] = c->map->nodes[i].addr;
    for (size_t i = 0; i < c->backend->redis_nseeds; i++)
        cand[n++] = c->backend->redis_seeds[i];
    unsigned was_nodes = c->mapped ? (unsigned)c->map->nnodes : 0;
    size_t was_covered = c->mapped ? tk_cluster_covered(c->map) : 0;
    for (size_t k = 0; k < n; k++) {
        int node = tk_cluster_map_find(c->map, cand[k].host, cand[k].port);
        redisContext *ctx = node >= 0 ? c->ctx[node] : NULL;
        int owned = 0; /* a connection made here for this read only */
        if (ctx == NULL) {
            tk_backend_t b = *c->backend;
            b.redis_host = cand[k].host;
            b.redis_port = cand[k].port;
            ctx = tk_redis_connect(&b, c->timeout_ms, c->errstr, sizeof(c->errstr));
            if (ctx == NULL)
                continue;
            owned = 1;
        }
        int lost = 0;
        int rc = read_map(c, ctx, &cand[k], &lost);
        if (owned)
            redisFree(ctx);
        else if (lost)
            tk_rcluster_drop_ctx(c, ctx);
        if (rc == 0) {
            /* Said when the map's shape changed: a gateway re-reads it every second (gw_identity.h). */
            int same = was_nodes == (unsigned)c->map->nnodes && was_covered == tk_cluster_covered(c->map);
            tk_log(same ? TK_LOG_DEBUG : TK_LOG_INFO, "redis cluster: map read from %s:%d, %u masters, %zu slots served", cand[k].host,
                   cand[k].port, c->map->nnodes, tk_cluster_covered(c->map));
            return 0;
        }
    }
    tk_warn("redis cluster: cannot read the slot map: %s", c->errstr);
    return -1;
}

/* ---------------------------------------------------------------- commands */

size_t tk_rcluster_nnodes(tk_rcluster_t *c)
{
    if (!c->cluster)
        return 1;
    if (!c->mapped && tk_rcluster_refresh(c) != 0)
        return 0;
    return c->map->nnodes;
}

const tk_cluster_addr_t *tk_rcluster_node_addr(const tk_rcluster_t *c, size_t node)
{
    return node_addr(c, node);
}

redisReply *tk_rcluster_node_cmd(tk_rcluster_t *c, size_t node, int argc, const char **argv, const size_t *lens)
{
    redisContext *ctx = node_ctx(c, node);
    if (ctx == NULL)
        return NULL;
    redisReply *rep = redisCommandArgv(ctx, argc, argv, lens);
    if (rep == NULL)
        drop(c, node);
    return rep;
}

/* The master serving @slot, reading the map when it was never read or has no owner for it. -1 with c->errstr. */
static int owner(tk_rcluster_t *c, unsigned slot)
{
    int node = c->mapped ? tk_cluster_map_node(c->map, slot) : -1;
    if (node < 0 && tk_rcluster_refresh(c) == 0)
        node = tk_cluster_map_node(c->map, slot);
    if (node < 0 && c->mapped)
        snprintf(c->errstr, sizeof(c->errstr), "redis cluster: no master serves slot %u", slot);
    return node;
}

/* ASKING on @ctx; 0, or -1 when the connection failed (an error reply is left to the command that follows). */
static int asking(redisContext *ctx)
{
    redisReply *rep = redisCommand(ctx, "ASKING");
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

redisReply *tk_rcluster_cmd(tk_rcluster_t *c, const char *key, size_t keylen, int argc, const char **argv, const size_t *lens)
{
    if (!c->cluster)
        return tk_rcluster_node_cmd(c, 0, argc, argv, lens);
    unsigned slot = tk_key_slot(key, keylen);
    int node = owner(c, slot);
    if (node < 0)
        return NULL;
    int ask = 0, lost = 0, tries = 0;
    for (int hop = 0; hop <= TK_RCLUSTER_REDIRECTS + TK_RCLUSTER_RETRIES + 1; hop++) {
        redisContext *ctx = node_ctx(c, (size_t)node);
        redisReply *rep = NULL;
        if (ctx != NULL && (!ask || asking(ctx) == 0))
            rep = redisCommandArgv(ctx, argc, argv, lens);
        if (rep == NULL) {
            /* The master is unreachable (down, failed over): refresh from another node and try once more. */
            drop(c, (size_t)node);
            if (lost++ > 0 || tk_rcluster_refresh(c) != 0 || (node = owner(c, slot)) < 0)
                return NULL;
            ask = 0;
            continue;
        }
        if (rep->type != REDIS_REPLY_ERROR)
            return rep;
        tk_cluster_redirect_t rd;
        const tk_cluster_addr_t *at = node_addr(c, (size_t)node);
        char err[300];
        switch (tk_cluster_redirect(rep->str, rep->len, at != NULL ? at->host : NULL, &rd)) {
        case TK_CLUSTER_MOVED:
            c->moved++;
            if (tk_cluster_map_moved(c->map, &rd, err, sizeof(err)) != 0 && tk_rcluster_refresh(c) != 0)
                return rep;
            tk_info("redis cluster: slot %u moved to %s:%d", rd.slot, rd.to.host, rd.to.port);
            freeReplyObject(rep);
            if ((node = tk_cluster_map_find(c->map, rd.to.host, rd.to.port)) < 0 && (node = owner(c, slot)) < 0)
                return NULL;
            ask = 0;
            continue;
        case TK_CLUSTER_ASK:
            c->asked++;
            node = tk_cluster_map_find(c->map, rd.to.host, rd.to.port);
            if (node < 0 && tk_rcluster_refresh(c) == 0)
                node = tk_cluster_map_find(c->map, rd.to.host, rd.to.port);
            if (node < 0) {
                /* A master that serves no slot yet (a new node being filled) is in no CLUSTER SLOTS reply: a
                 * connection for this one command, then closed. */
                redisContext *once = connect_to(c, &rd.to);
                if (once == NULL)
                    return rep; /* the ASK, as it is */
                freeReplyObject(rep);
                rep = asking(once) == 0 ? redisCommandArgv(once, argc, argv, lens) : NULL;
                if (rep == NULL)
                    snprintf(c->errstr, sizeof(c->errstr), "redis %.150s:%d (ASK): %.200s", rd.to.host, rd.to.port,
                             once->errstr[0] ? once->errstr : "connection lost");
                redisFree(once);
                return rep;
            }
            freeReplyObject(rep);
            ask = 1;
            continue;
        case TK_CLUSTER_TRYAGAIN:
        case TK_CLUSTER_DOWN:
            if (tries++ >= TK_RCLUSTER_RETRIES)
                return rep;
            c->retried++;
            freeReplyObject(rep);
            tk_time_sleep_ms(TK_RCLUSTER_RETRY_MS, NULL);
            if (rd.kind == TK_CLUSTER_DOWN)
                tk_rcluster_refresh(c); /* a failover may have moved the slot; on failure the map stays */
            /* Back to the owner (after an ASK too: it redirects again if the key has moved meanwhile). */
            if ((node = owner(c, slot)) < 0)
                return NULL;
            ask = 0;
            continue;
        case TK_CLUSTER_ERROR:
            return rep;
        }
        return rep;
    }
    snprintf(c->errstr, sizeof(c->errstr), "redis cluster: slot %u: more than %d redirects", slot, TK_RCLUSTER_REDIRECTS);
    return NULL;
}

redisContext *tk_rcluster_key_ctx(tk_rcluster_t *c, const char *key, size_t keylen)
{
    if (!c->cluster)
        return node_ctx(c, 0);
    int node = owner(c, tk_key_slot(key, keylen));
    return node < 0 ? NULL : node_ctx(c, (size_t)node);
}
