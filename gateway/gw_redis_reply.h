/*
 * gw_redis_reply: hiredis reply objects for the loop threads' Redis
 * connections, taken from per-thread free lists instead of malloc.
 *
 * A claim batch's answer is an array of two strings per claim (the code
 * and the record): hiredis's default functions malloc each reply and each
 * string and free them all after the callback, four mallocs and four frees
 * per claim; a perf profile of an HTTP/1.1 claim storm put 3% of the
 * gateway's CPU there (64 claims a batch overflow malloc's per-thread cache
 * of seven blocks per size, so most went to its slower paths).
 *
 * Why it is correct: the functions build exactly the redisReply tree
 * hiredis's own do (same types, fields, NUL-terminated strings, an array's
 * elements in place as they arrive, NULL until then), so every reader of a
 * reply is unchanged. A reply is made and freed by its connection's reader,
 * which runs on the connection's loop thread only (hiredis frees the reply
 * right after the callback, gw_redis.h), so the lists are thread-local and
 * need no lock; a reply of these functions must never go to
 * freeReplyObject (nothing in the gateway keeps an async reply past its
 * callback). Strings up to GW_REPLY_SHORT bytes use a fixed block (the
 * string's length, which nobody changes, says which); longer ones and the
 * arrays' element vectors use malloc as before.
 */
#ifndef GW_REDIS_REPLY_H
#define GW_REDIS_REPLY_H

#include <hiredis.h>

/** Makes @c's reader build its replies with these functions. Before the first command. */
void gw_redis_reply_use(redisContext *c);

/** Frees this thread's kept objects and keeps none from now on. At the end of a loop thread, after its Redis connections are gone. */
void gw_redis_reply_drain(void);

#endif
