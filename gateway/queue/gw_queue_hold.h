/*
 * gw_queue_hold: the waiting-room status long-polls (GET
 * /v1/events/{id}/queue/{user}?wait=) held on one loop thread, and the one
 * read per event per tick that resolves them. The pattern of
 * gateway/watch/gw_watch.h.
 *
 * A held poll costs no thread and no Redis call: it is a small record on
 * its event's list, with the user's place. Every GW_QUEUE_HOLD_TICK_MS a
 * per-thread timer sends one HGET of the room's `serving` (the highest
 * place the admitter has passed, lua/wq_admit.lua) per event with held
 * polls on this thread (none while the previous one is unanswered),
 * whatever their number. The polls whose place is now passed are resolved
 * together with one call of lua/wq_status.lua (admitted, or 410 expired)
 * and answered; so an admission reaches its user within one tick plus two
 * Redis round trips (well under 0.5 s). A poll whose `wait` runs out is
 * answered with a fresh wq_status.lua call (its position and eta now),
 * batched per event the same way. Each of those calls is a heartbeat of its
 * users (the one on arrival was too), so a user who keeps polling never
 * looks absent.
 *
 * Bounded: at most WQ_HELD_MAX polls per thread (the route answers 503
 * with Retry-After beyond). A client that goes away leaves r->req NULL
 * (gw_http.h): its record is dropped on the next tick. When the thread
 * stops, the next tick resolves every held poll at once (so connections
 * close and the process exits); gw_queue_hold_destroy answers whatever is
 * left 503.
 */
#ifndef GW_QUEUE_HOLD_H
#define GW_QUEUE_HOLD_H

#include "gw_http.h"

#include <stdint.h>

#define GW_QUEUE_HOLD_TICK_MS 200
#define GW_QUEUE_HOLD_BATCH_MAX 256 /* users resolved by one wq_status.lua call, at most */

/** Creates @th's table of held polls and starts its tick. NULL on no memory. */
gw_queue_hold_t *gw_queue_hold_create(gw_thread_t *th);

/** Answers (503) every poll still held and frees @h; after the thread's Redis connection is gone. */
void gw_queue_hold_destroy(gw_queue_hold_t *h);

/** Polls @h holds (including those being resolved). Its loop thread only. */
size_t gw_queue_hold_held(const gw_queue_hold_t *h);

/**
 * Holds @r (takes a reference): user r->user_id at @place of r->event_id's
 * line, for at most @wait_s seconds; @tab is the heartbeat's tab. The caller
 * checked the WQ_HELD_MAX bound.
 */
void gw_queue_hold_add(gw_queue_hold_t *h, gw_req_t *r, int64_t place, int wait_s, int tab);

#endif
