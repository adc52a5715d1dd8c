/*
 * gw_watch: the long-polls of GET /v1/events/{id}/watch held on one loop
 * thread, and the one read per event that wakes them.
 *
 * A held request costs no thread and no Redis call: it is a small record
 * (gw_watch.c) on its event's list. Every GW_WATCH_TICK_MS a per-thread
 * timer sends one HMGET of the event hash per event that has waiters on
 * this thread (none while the previous one is unanswered), whatever the
 * number of waiters; when the event's version (gw_event_version) differs
 * from a waiter's `since`, the answer is built once and sent to every such
 * waiter of the event. A change made through any gateway therefore reaches
 * every gateway's watchers within one tick plus one Redis round trip
 * (well under the 1 s of docs/API.md), and the clock's own moves (opens_at,
 * closes_at) the same way, because the version is computed at read time.
 *
 * Bounded: at most WATCH_HELD_MAX waiters per thread (beyond, 503 with
 * Retry-After at once); a waiter is answered when its `wait` runs out,
 * with the last version read. A client that goes away (an HTTP/2 reset, a
 * closed HTTP/2 connection) leaves r->req NULL (gw_http.h): its record is
 * dropped on the next tick, which releases the reference it held. (h2o
 * 2.2.5 does not read an HTTP/1.1 socket while a request is being
 * answered, so a closed HTTP/1.1 client is noticed only when its answer is
 * written: at the latest when its wait runs out.) When the thread
 * stops, the next tick answers every waiter at once (so connections can
 * close and the process exits), and gw_watch_destroy drops whatever is left.
 */
#ifndef GW_WATCH_H
#define GW_WATCH_H

#include "gw_event.h"
#include "gw_http.h"
#include "gw_watch_query.h"

#include <stdint.h>

#define GW_WATCH_TICK_MS 200

/** Bytes gw_watch_body needs at most. */
#define GW_WATCH_BODY_MAX (GW_EVENT_JSON_MAX + 96)

/** Creates @th's watch table and starts its tick. NULL on no memory. */
gw_watch_t *gw_watch_create(gw_thread_t *th);

/** Answers (503) or drops every held request and frees @w; after the thread's Redis connection is gone. */
void gw_watch_destroy(gw_watch_t *w);

/** Requests @w holds. Its loop thread only. */
size_t gw_watch_held(const gw_watch_t *w);

/**
 * Holds @r (takes a reference) on its event r->event_id until the version
 * read for it differs from @since or @wait_s seconds have passed; @page and
 * @tab say where its user is (the heartbeat sent when it is answered). @ev
 * and @watching are what was read for @r: the answer sent at the timeout
 * when no newer read arrived. The caller checked the WATCH_HELD_MAX bound.
 */
void gw_watch_hold(gw_watch_t *w, gw_req_t *r, int64_t since, int wait_s, const char *page, int tab, const gw_event_t *ev,
                   int64_t watching);

/**
 * Writes the watch answer {"event":…,"version":…,"watching":…} for @ev at
 * @now_ms into @out (GW_WATCH_BODY_MAX bytes); returns its length.
 */
int gw_watch_body(const gw_event_t *ev, int64_t now_ms, int64_t watching, char *out);

#endif
