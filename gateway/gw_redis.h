/*
 * gw_redis: an asynchronous Redis connection on an h2o event loop.
 *
 * hiredis has no adapter for h2o's own loop; this is one. Each gateway
 * thread owns one gw_redis_t and touches it only from its loop.
 *
 * - Reads: the connection's fd is registered (dup'ed) as an h2o socket with
 *   H2O_SOCKET_FLAG_DONT_READ, so h2o only reports readability and hiredis
 *   reads and parses.
 * - Writes: commands issued during one loop turn are flushed together from a
 *   zero-delay timer (measured ~20% more requests/s than arming a write per
 *   command); only when the kernel buffer is full is a write notification
 *   armed.
 * - Failure: a command issued while disconnected fails at once (returns -1);
 *   when the connection drops, hiredis calls every outstanding callback with
 *   a NULL reply; a connection with commands outstanding and no reply for
 *   GW_REDIS_STALL_MS is dropped, so no request waits forever. Reconnects
 *   use capped exponential backoff.
 * - AUTH: with a Redis ACL user configured (REDIS_USER), every (re)connect
 *   sends AUTH user password first and the connection is up only once Redis
 *   accepted it; a refusal is logged and handled as Redis being down.
 * - Scripts: on every (re)connect each script of lua/ is SCRIPT LOADed before
 *   any other command; gw_redis_script() calls one by SHA. On NOSCRIPT (a
 *   SCRIPT FLUSH, a failover) the order of the calls is kept: later script
 *   calls wait until every call sent before is answered, then the failed
 *   ones go again first (the first by the script's text, which loads it),
 *   then the ones that waited. A failed call that can no longer go first (a
 *   later one of its script already ran) or fails twice is answered with an
 *   error reply: it was not run (gw_redis.c, before on_script_reply).
 *
 * Replies, as in hiredis, live only for the duration of the callback.
 *
 * Redis Cluster (REDIS_CLUSTER=host:port,...; unset: the single Redis
 * above, unchanged). The gw_redis_t of a thread then holds the slot map
 * (common/tk_cluster.h, on the heap) and one connection per master, each
 * with everything above (AUTH, SCRIPT LOAD, the NOSCRIPT order, stall
 * detection, backoff). The API does not change:
 * - Routing: gw_redis_script goes by its first key (nkeys > 0);
 *   gw_redis_command by argv[1], by the first stream of XREAD/XREADGROUP
 *   ("STREAMS k1 ..."), and keyless commands (PING, TIME, INFO, CLUSTER,
 *   SCRIPT, ECHO, DBSIZE; a script without keys) to any master that is up;
 *   gw_redis_command_on to the connection its caller names, not routed
 *   (WAIT after a claim script: the connection whose reply said it ran).
 *   Every key of one call must be in one slot (one hash tag), or the
 *   cluster answers CROSSSLOT, which reaches the caller as an error reply.
 *   A call whose master's connection is not up fails at once (-1), as a
 *   single Redis's does while disconnected.
 * - The map comes from CLUSTER SLOTS, asked of a seed at start and again
 *   (one request at a time, at most every 100 ms) after a MOVED, a lost
 *   master connection or a CLUSTERDOWN, and every 3 s so a failover is
 *   noticed. Connections to nodes that are no longer masters are closed
 *   once idle.
 * - Redirects: MOVED updates the map and sends the command again to the
 *   new master; ASK sends ASKING then the command to the node named, the
 *   map unchanged; at most 5 of those per command. TRYAGAIN and
 *   CLUSTERDOWN: tried again 50 ms later, 3 times at most. Beyond the
 *   bounds the caller gets the error reply (it answers 503). The callback
 *   and its data stay the same: the caller sees one reply per call.
 * - Order: a redirected call is sent again before any call issued after
 *   its redirect, and the calls of one slot keep their order (gw_redis.c,
 *   "Order in a cluster", before pump).
 * - gw_redis_is_up: the map covers all 16384 slots and every master's
 *   connection is up. A master away makes the whole thread "down", as a
 *   single Redis away does: /readyz, the failover's paths (gw_journal.h)
 *   and the batcher decide per process, not per slot, and the fallback's
 *   lock table and merge are per process too; a per-slot answer would
 *   grant from MariaDB for some events while Redis grants others, which
 *   the merge does not handle. gw_redis_state says more (mode, masters,
 *   slots covered).
 */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include "tk_backend.h"

#include <h2o.h>
#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Why 3 s: it must exceed the longest pause of a healthy Redis, or a busy
 * moment would drop the connection and turn every claim in flight into an
 * uncertain one (gw_journal.h). With appendfsync always each call waits on an
 * fsync, which a loaded disk can hold for over a second (Redis's own
 * everysec policy tolerates a pending fsync for 2 s), and a fork for an AOF
 * rewrite of a large instance pauses it for hundreds of milliseconds. What
 * a stall costs is bounded apart from this: at most REDIS_INFLIGHT_MAX
 * claims per thread wait that long (gw_batcher.h); later ones are shed with
 * 503 at once.
 */
#define GW_REDIS_STALL_MS 3000

typedef struct st_gw_redis_t gw_redis_t;

/** Called with the reply, or NULL when the command failed (connection lost). gw_redis_reply_conn says where it came from. */
typedef void (*gw_redis_cb)(gw_redis_t *r, redisReply *reply, void *data);

/** Called on the loop when the connection becomes usable (@up = 1) or is lost (0). */
typedef void (*gw_redis_state_cb)(gw_redis_t *r, int up, void *data);

typedef enum {
    GW_SCRIPT_CLAIM = 0,
    GW_SCRIPT_WATERMARK,
    GW_SCRIPT_PRESENCE,
    GW_SCRIPT_PRESENCE_PAGE,
    GW_SCRIPT_WQ_JOIN,   /* the waiting room (gateway/queue/) */
    GW_SCRIPT_WQ_STATUS,
    GW_SCRIPT_WQ_ADMIT,
    GW_SCRIPT_WQ_LEASE,
    GW_SCRIPT_LB_READ, /* every public read of a leaderboard (gateway/boards/) */
    GW_SCRIPT_LB_WRITE,  /* board score writes and rollovers (gateway/boards/) */
    GW_SCRIPT_SOLDOUT,   /* the read-only check of a sold-out event's claims (gateway/claims/gw_soldout.h) */
    GW_SCRIPT__COUNT,
} gw_script_t;

/** Computes the SHA1 of every script once per process; returns 0 or -1 if a script is missing. */
int gw_redis_scripts_init(void);

/**
 * Creates the connection object and starts connecting to @backend's Redis on
 * @loop, as its Redis user when one is set (host, port, user and password
 * are copied). The object is owned by the caller and freed with
 * gw_redis_destroy.
 */
gw_redis_t *gw_redis_create(h2o_loop_t *loop, const tk_backend_t *backend, gw_redis_state_cb on_state, void *state_data);

/**
 * Disconnects (outstanding callbacks get NULL) and stops @r's timers. Call
 * on its loop, before the loop is destroyed. @r stays readable by other
 * threads (gw_redis_is_up: 0 from now, gw_redis_errors: /metrics and
 * /readyz on any thread read them) until gw_redis_free.
 */
void gw_redis_destroy(gw_redis_t *r);

/** Frees @r (destroyed), once no thread can read it any more: after the loop threads are joined. NULL is fine. */
void gw_redis_free(gw_redis_t *r);

/** 1 when connected and the scripts are loaded (cluster: every master, and the map covers every slot). Any thread. */
int gw_redis_is_up(const gw_redis_t *r);

/** What /readyz and the admin views say about Redis (gw_redis_state). */
typedef struct {
    int cluster;          /* 1: REDIS_CLUSTER mode */
    int up;               /* gw_redis_is_up */
    unsigned masters;     /* masters in the slot map (1 for a single Redis) */
    unsigned masters_up;  /* of those, with their connection up */
    size_t slots_covered; /* slots the map assigns to a master (16384 for a single Redis) */
} gw_redis_state_t;

/** Fills @out with @r's state. Any thread (the values are stored atomically, each on its own). */
void gw_redis_state(const gw_redis_t *r, gw_redis_state_t *out);

/** Count of commands that failed for want of a connection or on a lost one. Any thread. */
uint64_t gw_redis_errors(const gw_redis_t *r);

/**
 * Sends a command (argv strings of the given lengths, not kept after the
 * call: in cluster mode copied, for a redirect). Returns 0, or -1 at once
 * when disconnected; the callback then is never called.
 */
int gw_redis_command(gw_redis_t *r, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *lens);

/**
 * Inside a gw_redis_cb only: the number of the connection on which the
 * reply being handled arrived; for a call redirected (MOVED, ASK,
 * TRYAGAIN) or retried (NOSCRIPT), the connection of the final reply, the
 * one that ran the command. Each connection made gets a new number (0 for
 * the first one of a single Redis; a reconnect is a new number), so an
 * equal number later means the same TCP connection to the same node. -1
 * when the reply came on no connection: NULL (the connection lost,
 * gw_redis destroyed, a redirected call that could not be sent again) or
 * an error reply made by gw_redis for a call it gave up without running
 * it; -1 outside callbacks. For the WAIT that must follow a claim script's
 * writes on the connection that ran them (gateway/claims/gw_batch_wait.c):
 * in a cluster that is not always the one the slot map names for the
 * script's key (ASK; a map changed while the script was in flight).
 */
int gw_redis_reply_conn(const gw_redis_t *r);

/**
 * Sends a keyless command (argv copied as by gw_redis_command) on exactly
 * connection @conn (a gw_redis_reply_conn number) if it is still up with
 * that number: never routed, never redirected (a redirect it met would be
 * its reply), and in a cluster not held behind redirected calls (it writes
 * nothing and has no slot). Returns 0, or -1 at once when that connection
 * is down or was made again since (a new TCP connection, whose WAIT covers
 * nothing of the old one's); the callback then is never called.
 */
int gw_redis_command_on(gw_redis_t *r, int conn, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *lens);

/**
 * EVALSHA of @script with @nkeys keys among argv (argv here is only the keys
 * then the args, without "EVALSHA sha numkeys"). @argv and @lens are copied.
 * Returns 0 or -1 like gw_redis_command.
 */
int gw_redis_script(gw_redis_t *r, gw_script_t script, gw_redis_cb cb, void *data, int nkeys, int argc, const char **argv,
                    const size_t *lens);

#endif
