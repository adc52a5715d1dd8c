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
#define TK_KEY_WQ_ROOMS "tk:wq:rooms" /* set of the event ids whose waiting room is on: the admitter's work */
/* The lease's two keys share the tag {wq}: one slot, so lua/wq_lease.lua runs on a Redis Cluster (issue 15). */
#define TK_KEY_WQ_LEASE "tk:{wq}:lease" /* string: "<id> <epoch>" of the gateway that admits for the fleet, with a PX expiry */
#define TK_KEY_WQ_EPOCH "tk:{wq}:epoch" /* counter: the lease's epoch, INCR at each takeover (lua/wq_lease.lua) */
#define TK_KEY_WQ_EPOCH_OLD "tk:wq:epoch" /* the epoch's name before issue 15: read once, the new counter starts above it */
#define TK_KEY_BOARDS "tk:boards"     /* set of every board id (listing, worker discovery, rebuild check) */
#define TK_KEY_INSTANCE "tk:instance" /* string: a random value set once per dataset, part of Redis's identity (gw_identity.h) */

typedef enum {
    TK_KEY_EV = 0, /* hash: definition and counters */
    TK_KEY_CLAIMS, /* hash: user id -> claim record */
    TK_KEY_STREAM, /* stream: granted claims for the workers */
    TK_KEY_PRESENCE, /* zset: user -> last heartbeat ms, on the event (lua/presence.lua) */
    TK_KEY_WQ,       /* hash: the waiting room's counters and pause (docs/CONTRACTS.md) */
    TK_KEY_WQ_POS,   /* hash: user -> place */
    TK_KEY_WQ_LINE,  /* zset: user -> place, the places the admitter has not passed */
    TK_KEY_WQ_SEEN,  /* zset: user -> last waiting-room heartbeat ms, users in the line */
    TK_KEY_WQ_LIVE,  /* zset: user -> place, users in the line present at the last sweep */
    TK_KEY_WQ_ADM,   /* hash: user -> admitted-at ms */
    TK_KEY_WQ_GONE,  /* hash: user -> ms their place was passed while absent (410 expired) */
    TK_KEY_WQ_REL,   /* list: "<ms> <admitted so far>", newest first, the release-rate window */
    TK_KEY_PRIO,     /* set: the priority presale's snapshot, the user ids that may claim from pr_opens */
    TK_KEY_WQ_FENCE, /* string: the newest admitter lease epoch a step carried in this room (lua/wq_admit.lua) */
} tk_key_kind_t;

/* The keys of a leaderboard, tagged {board_id} (docs/CONTRACTS.md, "Leaderboards"). */
typedef enum {
    TK_LB_BOARD = 0, /* hash: definition, current season, counters */
    TK_LB_STREAM,    /* stream: accepted score changes and rollovers for the workers */
    TK_LB_SEASONS,   /* hash: season number -> "<start_ms> <end_ms>" (end 0 while current) */
    TK_LB_RANK,      /* zset of one season: score -c1, member tk_lb_member() */
    TK_LB_USERS,     /* hash of one season: user id -> tk_lb_entry_format() */
    TK_LB_PEND,      /* hash: season -> its score entries in the stream not yet acked (lua/lb_ack.lua) */
    TK_LB_DROP,      /* list: closed seasons out of Redis's window, their keys kept until their pend is 0 */
} tk_lb_key_kind_t;

/**
 * Writes the key of @kind for event @event_id (@len bytes) into @out
 * (TK_KEY_MAX bytes, NUL-terminated). Returns its length, or -1 when the
 * id is too long to be a valid event id.
 */
int tk_key(tk_key_kind_t kind, const char *event_id, size_t len, char *out);

/**
 * Writes the key of @kind for board @board_id (@len bytes) into @out
 * (TK_KEY_MAX bytes, NUL-terminated); @season names the season of
 * TK_LB_RANK and TK_LB_USERS and is ignored otherwise. Returns its length,
 * or -1 when the id is too long to be a valid board id.
 */
int tk_lb_key(tk_lb_key_kind_t kind, const char *board_id, size_t len, unsigned season, char *out);

#endif
