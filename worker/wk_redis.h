/*
 * wk_redis: the worker's one synchronous Redis connection.
 *
 * A call that fails on the connection (I/O error, timeout, EOF) drops the
 * context and returns NULL; the next call connects again, so the caller only
 * has to wait (tk_time_sleep_ms) and retry. Every connection starts with
 * AUTH when a Redis user is configured (common/tk_redis.h); a refused AUTH
 * is logged and counts as Redis being down. Scripts are called by SHA; on
 * NOSCRIPT (Redis restarted without its script cache) the text is loaded
 * again and the call retried once.
 */
#ifndef WK_REDIS_H
#define WK_REDIS_H

#include "tk_backend.h"

#include <hiredis.h>
#include <stddef.h>

typedef struct {
    redisContext *c; /* NULL while disconnected */
    const tk_backend_t *backend; /* host, port, user (not owned) */
    int timeout_ms;       /* connect and per-command timeout */
    const char *script;   /* text of lua/confirm.lua */
    char sha[41];         /* its SHA1 once loaded, "" before */
} wk_redis_t;

/** Sets up @r (no I/O). @backend and @script (the confirm script's text) are not copied: they outlive @r. */
void wk_redis_init(wk_redis_t *r, const tk_backend_t *backend, int timeout_ms, const char *script);

/** Connects if needed and loads the script. Returns 0, or -1 (logged) when Redis cannot be reached. */
int wk_redis_ensure(wk_redis_t *r);

/**
 * Runs one command. @lens NULL: every argument is a C string (hiredis takes
 * strlen of each). Returns the reply (the caller frees it with
 * freeReplyObject; an error reply is a reply), or NULL when the connection
 * failed (then it is dropped and the next call reconnects).
 */
redisReply *wk_redis_cmd(wk_redis_t *r, int argc, const char **argv, const size_t *lens);

/**
 * EVALSHA of the confirm script: @argv[0..2] and @lens[0..2] are free slots
 * this function fills ("EVALSHA", sha, @nkeys); the keys and arguments
 * follow. Reloads the script once on NOSCRIPT. Returns as wk_redis_cmd.
 */
redisReply *wk_redis_script(wk_redis_t *r, int nkeys, int argc, const char **argv, size_t *lens);

/** Closes the connection. */
void wk_redis_close(wk_redis_t *r);

#endif
