/*
 * gw_path_ctl: moves the gateway between its claim paths (gw_path.h) and
 * feeds the journal its watermarks. Runs on loop thread 0, on a timer of
 * GW_PATH_TICK_MS:
 *
 *  - FAST: every GW_PATH_WATERMARK_MS, lua/watermark.lua for up to
 *    GW_PATH_WATERMARK_BATCH tracked events, round-robin (gw_path.h); the
 *    events of tk:events are tracked, and those that left it forgotten,
 *    every ~2 s; when any loop thread's Redis connection is down: LOST.
 *  - LOST: every connection back: FAST (the journal is reset: grants may
 *    have been lost with the connection, completeness is proved again);
 *    else after FALLBACK_AFTER_MS with nothing in flight, and when
 *    FALLBACK_GRANTS=1: GRANT.
 *  - GRANT: every connection back: MERGE, and a database thread runs the
 *    merge: for each event the fallback wrote its journal to (even if its
 *    lock was lost since), release the lock if still ours (waiting
 *    out any fallback transaction holding it), then rebuild the event in
 *    Redis from MariaDB (common/tk_rebuild: it waits until the workers have
 *    drained the stream, so grants Redis made before it died are in
 *    MariaDB first). All merged: FAST; a failure (Redis or MariaDB gone
 *    again): LOST, and the cycle starts over — a merged event is merged
 *    again if the fallback grants on it again.
 */
#ifndef GW_PATH_CTL_H
#define GW_PATH_CTL_H

#include "gw_server.h"

#define GW_PATH_TICK_MS 50
#define GW_PATH_WATERMARK_MS 200
#define GW_PATH_WATERMARK_BATCH 256 /* watermark scripts per round at most: Redis's load at rest is capped */
#define GW_PATH_MERGE_WAIT_MS 120000 /* per event: how long the merge waits for the drain */

/** Starts the controller on @th's loop (thread 0), before it serves. 0, or -1 on no memory. */
int gw_path_ctl_start(gw_thread_t *th);

/** Stops it; on @th's loop, before the loop is disposed. */
void gw_path_ctl_stop(gw_thread_t *th);

/** Merges back to Redis completed since start. */
uint64_t gw_path_ctl_merges(const gw_server_t *srv);

#endif
