/*
 * tk_keys: the Redis key names of docs/CONTRACTS.md, built in one place.
 *
 * Every key of an event carries the hash tag {event_id} so that all of them
 * hash to one Redis Cluster slot and one script call may touch them all.
 * The caller validates the event id first (tk_valid_event_id), so a name
 * always fits in TK_KEY_MAX bytes.
 */
#ifndef TK_KEYS_H
#define TK_KEYS_H

#include <stddef.h>

#define TK_KEY_MAX 96

#define TK_KEY_EVENTS "tk:events" /* set of every event id */
#define TK_STREAM_GROUP "wk"      /* the workers' consumer group */
#define TK_KEY_WK_STATS "tk:wk:stats" /* hash of per-worker counters, "<consumer>:<stat>" */

typedef enum {
    TK_KEY_EV = 0, /* hash: definition and counters */
    TK_KEY_CLAIMS, /* hash: user id -> claim record */
    TK_KEY_STREAM, /* stream: granted claims for the workers */
    TK_KEY_PRESENCE, /* zset: user -> last heartbeat ms, on the event (lua/presence.lua) */
} tk_key_kind_t;

/**
 * Writes the key of @kind for event @event_id (@len bytes) into @out
 * (TK_KEY_MAX bytes, NUL-terminated). Returns its length, or -1 when the
 * id is too long to be a valid event id.
 */
int tk_key(tk_key_kind_t kind, const char *event_id, size_t len, char *out);

#endif
