/*
 * gw_failover: moves the gateway between its claim paths (gw_journal.h) and
 * feeds the journal its watermarks. Runs on loop thread 0, on a timer of
 * GW_FAILOVER_TICK_MS:
 *
 *  - FAST: every GW_FAILOVER_WATERMARK_MS, lua/watermark.lua for up to
 *    GW_FAILOVER_WATERMARK_BATCH tracked events, round-robin (gw_journal.h); the
 *    events of tk:events are tracked, and those that left it forgotten,
 *    every ~2 s; when any loop thread's Redis connection is down: LOST;
 *    every GW_FAILOVER_WATCH_MS, Redis's identity read on a database
 *    thread: another than the last check's (a replica promoted under
 *    connected clients: gw_identity.h), or a replica now: LOST.
 *  - LOST (also where a process starts: it cannot know what happened to
 *    Redis before it): every connection up and nothing in flight: MERGE;
 *    else after FALLBACK_AFTER_MS with nothing in flight, and when
 *    FALLBACK_GRANTS=1: GRANT.
 *  - GRANT: every connection back: MERGE.
 *  - MERGE: a database thread runs the check of Redis against MariaDB
 *    (gw_merge.h). All done: FAST (the journal reset: completeness is
 *    proved again; undrained grants kept until they drain). A failure (Redis or MariaDB gone again): LOST, and
 *    the check runs again a second later.
 */
#ifndef GW_FAILOVER_H
#define GW_FAILOVER_H

#include "gw_types.h"

#define GW_FAILOVER_TICK_MS 50
#define GW_FAILOVER_WATERMARK_MS 200
#define GW_FAILOVER_WATCH_MS 1000 /* between two reads of Redis's identity on the fast path */
#define GW_FAILOVER_WATERMARK_BATCH 256 /* watermark scripts per round at most: Redis's load at rest is capped */

/** Starts the controller on @th's loop (thread 0), before it serves. 0, or -1 on no memory. */
int gw_failover_start(gw_thread_t *th);

/**
 * Every loop thread's Redis connection reports here (gw_redis_state_cb,
 * @thread its gw_thread_t): a drop moves the mode from FAST to LOST at once,
 * so even a reconnection faster than one tick goes through the check before
 * the fast path; then the reconnect's rebuild check (gw_rebuild.h).
 */
void gw_failover_on_redis_state(gw_redis_t *r, int up, void *thread);

/**
 * Redis may have lost data (a connection dropped, its identity changed:
 * gw_identity.h): the mode moves FAST -> LOST, and a stop under way writes
 * the journal (gw_server.c). 0 when this call moved it. Any thread.
 */
int gw_failover_lost(gw_server_t *srv);

/** Stops it; on @th's loop, before the loop is disposed. */
void gw_failover_stop(gw_thread_t *th);

/** Merges back to Redis completed since start (those that rebuilt at least one event). */
uint64_t gw_failover_merges(const gw_server_t *srv);

#endif
