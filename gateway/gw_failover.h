/*
 * gw_failover: moves the gateway between its claim paths (gw_journal.h) and
 * feeds the journal its watermarks. Runs on loop thread 0, on a timer of
 * GW_FAILOVER_TICK_MS:
 *
 *  - FAST: every GW_FAILOVER_WATERMARK_MS, lua/watermark.lua for up to
 *    GW_FAILOVER_WATERMARK_BATCH tracked events, round-robin (gw_journal.h); the
 *    events of tk:events are tracked, and those that left it forgotten,
 *    every ~2 s; when any loop thread's Redis connection is down: LOST.
 *  - LOST (also where a process starts: it cannot know what happened to
 *    Redis before it): every connection up and nothing in flight: MERGE;
 *    else after FALLBACK_AFTER_MS with nothing in flight, and when
 *    FALLBACK_GRANTS=1: GRANT.
 *  - GRANT: every connection back: MERGE.
 *  - MERGE: a database thread checks Redis against MariaDB and rebuilds,
 *    from MariaDB, every event whose Redis state may be older:
 *     1. each event the fallback wrote its journal to (its lock released
 *        first, waiting out any fallback transaction holding it);
 *     2. each event whose journaled grants Redis lost (its seq is below
 *        them, or it is gone): the journal is written to MariaDB first;
 *     3. each event flagged stale in MariaDB (gw_lock.h), by any gateway,
 *        dead or alive;
 *     4. each event whose Redis seq is below MariaDB's ticket_hwm, or whose
 *        hash is missing.
 *    The rebuild (common/tk_rebuild) waits until the workers have drained
 *    the stream, so grants Redis made before it went away reach MariaDB
 *    first; a stale flag is cleared after its rebuild. All done: FAST
 *    (the journal reset: completeness is proved again). A failure (Redis
 *    or MariaDB gone again): LOST, and the check runs again a second
 *    later; FAST never comes without it, except when MariaDB cannot be
 *    read, this process wrote nothing to it and Redis's run_id is the one
 *    the last completed check saw (a blip during a MariaDB outage).
 */
#ifndef GW_FAILOVER_H
#define GW_FAILOVER_H

#include "gw_types.h"

#define GW_FAILOVER_TICK_MS 50
#define GW_FAILOVER_WATERMARK_MS 200
#define GW_FAILOVER_WATERMARK_BATCH 256 /* watermark scripts per round at most: Redis's load at rest is capped */
#define GW_FAILOVER_MERGE_WAIT_MS 120000 /* per event: how long the merge waits for the drain */

/** Starts the controller on @th's loop (thread 0), before it serves. 0, or -1 on no memory. */
int gw_failover_start(gw_thread_t *th);

/** Stops it; on @th's loop, before the loop is disposed. */
void gw_failover_stop(gw_thread_t *th);

/** Merges back to Redis completed since start. */
uint64_t gw_failover_merges(const gw_server_t *srv);

#endif
