/*
 * tk_redis: a synchronous Redis connection that has authenticated.
 *
 * With a Redis ACL user configured (tk_backend_t.redis_user, REDIS_USER),
 * the first command on every connection is AUTH user password, so a
 * reconnect authenticates again as the first did. A refused AUTH (WRONGPASS,
 * the user disabled) is a failed connection: the caller treats it as Redis
 * being down and tries again later, logging the reason it gets in @err.
 * Without a user nothing is sent (no AUTH, as before ACLs).
 *
 * The gateway's asynchronous connections do the same in gateway/gw_redis.c.
 */
#ifndef TK_REDIS_H
#define TK_REDIS_H

#include "tk_backend.h"

#include <hiredis.h>
#include <stddef.h>

/**
 * Sends AUTH as @b's Redis user on @c when one is configured; nothing
 * otherwise. Returns 0, or -1 with @err naming the user and Redis's answer
 * (or the connection error). @c stays the caller's to free.
 */
int tk_redis_auth(redisContext *c, const tk_backend_t *b, char *err, size_t errlen);

/**
 * Connects to @b's Redis (@timeout_ms for the connect and for each command)
 * and authenticates. Returns the context, owned by the caller (redisFree),
 * or NULL with @err ("cannot connect to HOST:PORT: …" or the refused AUTH).
 */
redisContext *tk_redis_connect(const tk_backend_t *b, int timeout_ms, char *err, size_t errlen);

#endif
