/*
 * tk_rcluster: a synchronous Redis client that routes by key slot on a Redis
 * Cluster, and is one plain connection on a single Redis. The worker
 * (worker/wk_redis.c) and the tools (tk-import, tk-rebuild) use it; the
 * gateway has its own asynchronous adapter (gateway/gw_redis.c).
 *
 * Two modes, chosen by tk_backend_t.redis_nseeds (REDIS_CLUSTER):
 * - single (no seeds, the default): one connection to redis_host:redis_port,
 *   made on first use. A command goes there as it is; an error reply is
 *   returned as it is (a single Redis never redirects); a failed connection
 *   is dropped and the call returns NULL, and the next call connects again.
 *   No CLUSTER SLOTS, no ASKING, no retry: what the callers did before.
 * - cluster: the slot map (common/tk_cluster.h) read with CLUSTER SLOTS from
 *   a known master or a seed, one connection per master made on first use.
 *   tk_rcluster_cmd sends a command to the master of its key's slot, and:
 *   MOVED: tk_cluster_map_moved, send again to the new owner; ASK: ASKING +
 *   the command on the target's connection, the map unchanged; TRYAGAIN and
 *   CLUSTERDOWN: up to TK_RCLUSTER_RETRIES more tries 100 ms apart (a
 *   CLUSTERDOWN refreshes the map first), then the error reply is returned;
 *   a failed connection: that node's connection dropped, the map refreshed
 *   from another node, the command sent once more (it may have run before
 *   the connection failed: a caller whose command must not run twice uses
 *   tk_rcluster_node_cmd or tk_rcluster_key_ctx, which never resend). A failover is met as a
 *   failed connection (the master died) or as a MOVED (a replica promoted
 *   answers for its slots), and the map follows either way. Why a stale map
 *   never runs a command on the wrong data: tk_cluster.h.
 *
 * Ownership: the tk_rcluster_t owns its map and its connections
 * (tk_rcluster_free closes them). A reply returned is the caller's
 * (freeReplyObject); an error reply is a reply. A context returned by
 * tk_rcluster_key_ctx stays the client's: use it, never free it, and do not
 * keep it across another call of this module (a failure may drop it). The
 * backend passed in is not copied and must outlive the client. Not
 * thread-safe: one thread uses one client.
 */
#ifndef TK_RCLUSTER_H
#define TK_RCLUSTER_H

#include "tk_backend.h"
#include "tk_cluster.h"

#include <hiredis.h>
#include <stddef.h>

#define TK_RCLUSTER_RETRIES 5     /* more tries after TRYAGAIN or CLUSTERDOWN */
#define TK_RCLUSTER_RETRY_MS 100  /* between two of them */
#define TK_RCLUSTER_REDIRECTS 16  /* MOVED/ASK followed for one command before its reply is returned */

/**
 * Called once on every new connection, after AUTH, before any command (the
 * worker loads its script there). @node is the master's index (0 in single
 * mode). Returns 0, or -1 with @err: the connection is then dropped and the
 * command that needed it fails as if Redis were unreachable.
 */
typedef int (*tk_rcluster_on_connect_t)(void *arg, redisContext *ctx, const tk_cluster_addr_t *addr, char *err, size_t errlen);

typedef struct {
    const tk_backend_t *backend; /* not owned */
    int timeout_ms;              /* connect and per-command */
    int cluster;                 /* 1: REDIS_CLUSTER mode */
    int mapped;                  /* cluster: the map has been read once */
    tk_cluster_map_t *map;       /* cluster: owned (heap: ~100 KiB) */
    tk_cluster_addr_t single;    /* single: redis_host:redis_port */
    redisContext *ctx[TK_CLUSTER_NODES_MAX]; /* by node index (single: [0]); NULL while not connected */
    tk_rcluster_on_connect_t on_connect;
    void *on_connect_arg;
    char errstr[512]; /* why the last call returned NULL or -1 */
    /* counters, for logs and tests */
    unsigned long moved, asked, retried, refreshed;
} tk_rcluster_t;

/**
 * Sets up @c for @b (no I/O): cluster mode when @b has seeds. Returns 0, or
 * -1 when out of memory (the map).
 */
int tk_rcluster_init(tk_rcluster_t *c, const tk_backend_t *b, int timeout_ms);

/** Closes every connection and frees the map. @c may be initialised again. */
void tk_rcluster_free(tk_rcluster_t *c);

/** Sets the new-connection hook (NULL: none). */
void tk_rcluster_on_connect(tk_rcluster_t *c, tk_rcluster_on_connect_t fn, void *arg);

/** 1 in cluster mode, 0 with a single Redis. */
int tk_rcluster_is_cluster(const tk_rcluster_t *c);

/**
 * Reads the slot map again (CLUSTER SLOTS), asking the connected masters,
 * then the map's others, then the seeds, until one answers with a map;
 * connections to masters still in the map are kept, the others closed.
 * Single mode: connects if needed. Returns 0, or -1 with c->errstr.
 */
int tk_rcluster_refresh(tk_rcluster_t *c);

/**
 * Runs one command routed by @key (@keylen bytes; the key that decides the
 * slot: the command's first key, which need not be among @argv, e.g. SCRIPT
 * LOAD sent to a key's owner). @lens NULL: every argument is a C string.
 * Returns the reply (the caller's), or NULL when Redis could not be reached
 * (c->errstr says why; the connection is dropped and the next call tries
 * again).
 */
redisReply *tk_rcluster_cmd(tk_rcluster_t *c, const char *key, size_t keylen, int argc, const char **argv, const size_t *lens);

/** Masters known (single: 1). Cluster: reads the map first when it was never read (0 when that fails). */
size_t tk_rcluster_nnodes(tk_rcluster_t *c);

/** The address of master @node (< tk_rcluster_nnodes), or NULL. */
const tk_cluster_addr_t *tk_rcluster_node_addr(const tk_rcluster_t *c, size_t node);

/**
 * Runs one command on master @node as it is (no redirect followed: for
 * commands without a key, or a caller that routes itself). Returns as
 * tk_rcluster_cmd; a failed connection is dropped, not retried.
 */
redisReply *tk_rcluster_node_cmd(tk_rcluster_t *c, size_t node, int argc, const char **argv, const size_t *lens);

/**
 * The connection to the master that serves @key now (made when needed), for
 * code written against a plain redisContext (tk_rebuild_event,
 * tk_lb_rebuild_board) whose every command is about one key's slot: it does
 * not follow redirects, so a MOVED comes back to it as an error reply
 * (refresh and run it again). NULL with c->errstr when it cannot connect.
 * The context stays the client's (see the ownership note above).
 */
redisContext *tk_rcluster_key_ctx(tk_rcluster_t *c, const char *key, size_t keylen);

/** Drops the connection @ctx (one of @c's, e.g. after it failed under a caller of tk_rcluster_key_ctx). */
void tk_rcluster_drop_ctx(tk_rcluster_t *c, redisContext *ctx);

/**
 * Pure, for the refresh (and its unit test): where each of @nold masters
 * (@old[i], the address of index i in the map before) is in the new map
 * @m: @to[i] = its new index, or -1 when @m has no such master (its
 * connection is then closed). A master listed twice in @old keeps only its
 * first index.
 */
void tk_rcluster_remap_index(const tk_cluster_addr_t *old, size_t nold, const tk_cluster_map_t *m, int *to);

#endif
