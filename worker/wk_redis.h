/*
 * wk_redis: the worker's synchronous Redis client (common/tk_rcluster.h):
 * one connection to a single Redis (REDIS_HOST/REDIS_PORT, the default), or
 * one per master of a Redis Cluster (REDIS_CLUSTER), every command routed
 * by the key it names (wk_redis_cmd's @key).
 *
 * A call that fails on the connection (I/O error, timeout, EOF) drops the
 * context and returns NULL (on a cluster after a map refresh and one more
 * try); the next call connects again, so the caller only has to wait
 * (tk_time_sleep_ms) and retry. Every connection starts with AUTH when a
 * Redis user is configured (common/tk_redis.h), then loads the confirm
 * script (SCRIPT LOAD, on every master of a cluster as it is connected); a
 * refused AUTH or load counts as Redis being down. Scripts are called by
 * SHA; on NOSCRIPT (Redis restarted without its script cache) the call is
 * made once more with EVAL and the script's text, which loads it again.
 */
#ifndef WK_REDIS_H
#define WK_REDIS_H

#include "tk_backend.h"
#include "tk_rcluster.h"

#include <hiredis.h>
#include <stddef.h>

typedef struct {
    tk_rcluster_t rc;     /* the connections (single or cluster) */
    int ready;            /* rc initialised */
    const tk_backend_t *backend; /* host, port, seeds, user (not owned) */
    int timeout_ms;       /* connect and per-command timeout */
    const char *script;   /* text of lua/confirm.lua */
    char sha[41];         /* its SHA1 once loaded, "" before */
} wk_redis_t;

/** Sets up @r (no I/O). @backend and @script (the confirm script's text) are not copied: they outlive @r. */
void wk_redis_init(wk_redis_t *r, const tk_backend_t *backend, int timeout_ms, const char *script);

/** 1 when the worker runs on a Redis Cluster (REDIS_CLUSTER). */
int wk_redis_is_cluster(const wk_redis_t *r);

/**
 * Runs one command on the Redis that holds @key (a C string: the command's
 * first key; on a single Redis it only names the command in logs). @lens
 * NULL: every argument is a C string (hiredis takes strlen of each).
 * Returns the reply (the caller frees it with freeReplyObject; an error
 * reply is a reply), or NULL when the connection failed (then it is
 * dropped and the next call reconnects).
 */
redisReply *wk_redis_cmd(wk_redis_t *r, const char *key, int argc, const char **argv, const size_t *lens);

/**
 * EVALSHA of the confirm script: @argv[0..2] and @lens[0..2] are free slots
 * this function fills ("EVALSHA", sha, @nkeys); the keys (@argv[3] first,
 * which routes the call) and arguments follow. On NOSCRIPT, runs it once
 * with EVAL and the text. Returns as wk_redis_cmd.
 */
redisReply *wk_redis_script(wk_redis_t *r, int nkeys, int argc, const char **argv, size_t *lens);

/** Closes the connections. */
void wk_redis_close(wk_redis_t *r);

#endif
