/*
 * gw_board_writer: groups the score writes that arrive on one loop thread
 * in one loop turn for one board into one call of lua/lb_write.lua, and
 * sends the board's rollovers by hand through the same connection.
 *
 * Why. As for claims (gw_batcher.h), Redis spends most of a write's cost on
 * the call, not on the few commands inside; a trusted service sending many
 * requests of up to 1,000 entries each gets them applied in one script call
 * per board per loop turn, not one per request.
 *
 * Order and atomicity. Entries enter a batch in the order the loop read
 * their requests, and in each request's order; a request is never split
 * between calls (a call carries at most GW_BOARD_CALL_MAX entries, and a
 * request that would not fit sends the open batch first). The script
 * applies a call whole, in one season (lb_write.lua, "Why a write belongs
 * to exactly one season"), so every entry of one request lands in the same
 * season. A rollover by hand sends the board's open batch first, so writes
 * this thread read before the rollover request are in the old season. Calls
 * on one connection reach Redis in the order they were sent; NOSCRIPT keeps
 * that order (gw_redis.h).
 *
 * Bounded (GW_BOARD_HELD_MAX entries per loop thread, in open batches or
 * awaiting Redis): a request whose entries would pass it is answered 503
 * with Retry-After at once and never enters a batch (counted in
 * tk_shed_total{reason="redis_inflight"}). 20,000 entries hold about 2 MB
 * per thread; at the 50,000 writes/s the boards are built for, a healthy
 * Redis holds far fewer.
 *
 * Failure. Redis down when a request arrives or its batch is sent: 503
 * unavailable. The connection lost with the call in flight: 503 too, though
 * the call may have run; "set" and "best" writes are idempotent, a retried
 * "incr" may add twice (docs/API.md says so).
 */
#ifndef GW_BOARD_WRITER_H
#define GW_BOARD_WRITER_H

#include "gw_board_body.h"
#include "gw_http.h"

#define GW_BOARD_CALL_MAX 4096  /* entries of one lb_write.lua call, at most */
#define GW_BOARD_HELD_MAX 20000 /* entries one loop thread holds for Redis, at most */

/** Creates the writer of @th. NULL on no memory. */
gw_board_writer_t *gw_board_writer_create(gw_thread_t *th);

/** Sends what is queued (requests then get 503 if Redis is gone) and frees @w. NULL is a no-op. */
void gw_board_writer_destroy(gw_board_writer_t *w);

/**
 * Queues the @n valid entries @e (malloc'ed; the writer owns them from now
 * on, also when it refuses) of a POST …/scores for board r->event_id, whose
 * parser skipped @invalid entries; takes a reference to @r and answers it
 * once the script has run.
 */
void gw_board_writer_add(gw_board_writer_t *w, gw_req_t *r, gw_board_score_t *e, int n, int invalid);

/**
 * Room for GW_BOARD_SCORES_MAX entries that a route of @w's loop thread may
 * parse a body into (owned by @w; valid until the next call on this thread).
 */
gw_board_score_t *gw_board_writer_scratch(gw_board_writer_t *w);

/** Rolls board r->event_id over to a new season now, after the writes this thread holds for it; answers @r. */
void gw_board_writer_roll(gw_board_writer_t *w, gw_req_t *r);

#endif
