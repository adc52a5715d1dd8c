/*
 * gw_batcher: groups the claims that arrive on one thread in one loop turn
 * for one event into one call of lua/claim.lua.
 *
 * Redis spends most of a claim's cost on the call itself, not on the few
 * commands inside, so one call for k claims costs far less than k calls.
 * Arrival order is kept: claims enter a batch in the order the loop read
 * them, the script grants them in that order, and batches of one event on
 * one connection reach Redis in the order they were sent. Each request is
 * still answered alone, with its own result. A batch is sent at the end of
 * the loop turn, or at once when it reaches --max-batch claims.
 *
 * An event this thread knows sold out (claim.lua answered sold_out) is the
 * exception: its claims, when no batch of the event is open in this loop
 * turn, go to gw_soldout, which checks them with one read-only call and
 * answers 409 those the read proves refused; the first it cannot, and all
 * after it, come back here in arrival order (gw_soldout.h says why that is
 * exact and keeps the order above).
 *
 * Bounded (REDIS_INFLIGHT_MAX, default 4096 claims per loop thread): a
 * claim that arrives while its thread holds that many claims, batched or
 * sent and unanswered (or held by gw_soldout), is answered 503 with Retry-After at once and never
 * enters a batch; the claims held keep their order, so first-come order is
 * untouched (a refused claim is granted nothing). Why 4096: at the measured
 * ceiling (~100k claims/s through one gateway, p99 ~16 ms) about 1,600
 * claims are in flight, so a healthy Redis is never shed; a stalled one
 * holds at most 4096 requests per thread until GW_REDIS_STALL_MS drops the
 * connection, and that is also the most claims that can then become
 * uncertain (units the fallback must set aside, gw_journal.h).
 */
#ifndef GW_BATCHER_H
#define GW_BATCHER_H

#include "gw_http.h"

/** Creates the batcher of @th. NULL on no memory. */
gw_batcher_t *gw_batcher_create(gw_thread_t *th);

/**
 * Sends what is queued (requests then get 503 if Redis is gone) and answers
 * the batches waiting for a WAIT (503). @b stays allocated: the replies of
 * its batches still in flight come to it (with NULL) from
 * gw_redis_destroy, which must come after this.
 */
void gw_batcher_destroy(gw_batcher_t *b);

/** Frees @b (destroyed), after gw_redis_destroy. NULL is fine. */
void gw_batcher_free(gw_batcher_t *b);

/**
 * Queues the claim of r->user_id on r->event_id for @quantity units; takes
 * a reference to @r and answers it when the script has run.
 */
void gw_batcher_add(gw_batcher_t *b, gw_req_t *r, int quantity);

/** Claims @b holds (in open batches or awaiting Redis's answer). Its loop thread only. */
int gw_batcher_held(const gw_batcher_t *b);

#endif
