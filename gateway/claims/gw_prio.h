/*
 * gw_prio: the priority presale's snapshot (docs/API.md, "Priority
 * presale"; docs/DESIGN.md, "Priority presale: the snapshot and the claim
 * gate"). At an event's priority.opens_at the board's top `top` users of
 * its current season are fixed; from then until opens_at only they may
 * claim (lua/claim.lua's gate).
 *
 * Who takes it. Every gateway, on loop thread 0, every GW_PRIO_TICK_MS:
 * when no snapshot job of this gateway is in flight it submits one
 * (background, control lane) that, on a database thread, reads two lists
 * of the events inside their window (pr_opens_at <= now < opens_at, from
 * MariaDB) and, for each whose Redis hash has no pr_snap yet, takes or
 * copies the snapshot: the events whose snapshot is not taken (by
 * pr_opens_at, event_id), and those whose snapshot is taken (by opens_at,
 * event_id: is Redis's copy there? one HMGET when it is). One job at a time
 * per gateway, at most GW_PRIO_EVENTS_MAX events of each list a round.
 *
 * Why every event is reached. Each list is read a page at a time after a
 * keyset cursor (the last row of the previous page), and a page that is
 * not full sends its cursor back to the start: every event of a list of N
 * is on a page within ceil(N / GW_PRIO_EVENTS_MAX) + 1 rounds, whatever the
 * events before it do (a board missing from Redis keeps its events in the
 * first list, but not in front of the others). The not-taken list holds
 * only the window's events still without a snapshot, so normally one round.
 *
 * Why exactly one snapshot, with any number of gateways. MariaDB is the
 * record: the rows of event_priority and events.pr_snapshot_at are written
 * in one transaction that first locks the events row (SELECT … FOR UPDATE)
 * and writes only while pr_snapshot_at IS NULL. Two gateways that read the
 * board at once both reach that lock; the second finds pr_snapshot_at set,
 * rolls back, and copies the rows the first one committed instead of its
 * own reading. Redis gets a copy (lua/prio_copy.lua: SADD in chunks, then
 * pr_snap and pr_n on the last one, never once pr_snap is there), made
 * from the committed rows only: every copy, whoever makes it and however
 * often, writes the same set. Until pr_snap is there, claim.lua refuses the
 * window's claims "priority_pending" (503): nobody is wrongly in or out.
 *
 * Reading the board. The board's keys are in another hash slot than the
 * event's, so the board is read by plain commands of its own (HMGET of the
 * board hash, TIME, ZRANGE of the current season, HMGET again) and written
 * to the event by another call: never one script touching both. The
 * season read is the one current at the event's priority.opens_at (P),
 * not at the read: a season end or a rollover by hand between P and this
 * round (a round up to a second late, or every gateway down across it)
 * must not hand the presale to the new, empty season. P at or after the
 * board's `start`: its `season`, unless the schedule had passed by then
 * (len > 0 and max(P, last_t) >= start + len·1000, the board's clock as
 * lb_write.lua and lb_read.lua read it): then a later season nobody wrote
 * (docs/CONTRACTS.md, the virtual rollover) and an empty snapshot. P
 * before `start`: the season of the seasons hash whose [start, end) holds
 * P, read from its zset, or from board_scores once Redis dropped it (only
 * after MariaDB has its every write). A season number that moved between
 * the two HMGETs (a rollover during the read) makes the reading start
 * again (a few times). A board missing from Redis (lost, not yet rebuilt)
 * is skipped this round.
 *
 * Ownership: gw_prio_t belongs to loop thread 0 (created and destroyed
 * there, like the admitter); its job holds a pointer to it and comes back
 * before the thread disposes of it (gw_server.c waits for db_jobs).
 */
#ifndef GW_PRIO_H
#define GW_PRIO_H

#include "gw_types.h"

#define GW_PRIO_TICK_MS 200
/* After a round that listed no event, skip this many ticks (a round a
 * second while no presale is near: two MariaDB queries per second per
 * gateway instead of ten), unless a claim met a window without its
 * snapshot (gw_prio_poke): then the next tick runs one. */
#define GW_PRIO_IDLE_TICKS 4
#define GW_PRIO_EVENTS_MAX 64  /* events of each list looked at per round */
#define GW_PRIO_COPY_CHUNK 1000 /* user ids per prio_copy.lua call and per INSERT statement */

/** Starts the snapshot timer on @th (thread 0). NULL on no memory. */
gw_prio_t *gw_prio_create(gw_thread_t *th);

/** Any thread: a claim found a priority window without its snapshot; the next tick takes it. */
void gw_prio_poke(void);

/** Stops it and frees @p, on its thread, after its job came back. NULL is fine. */
void gw_prio_destroy(gw_prio_t *p);

#endif
