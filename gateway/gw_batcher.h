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
 */
#ifndef GW_BATCHER_H
#define GW_BATCHER_H

#include "gw_http.h"

/** Creates the batcher of @th. NULL on no memory. */
gw_batcher_t *gw_batcher_create(gw_thread_t *th);

/** Sends what is queued (requests then get 503 if Redis is gone) and frees @b. */
void gw_batcher_destroy(gw_batcher_t *b);

/**
 * Queues the claim of r->user_id on r->event_id for @quantity units; takes
 * a reference to @r and answers it when the script has run.
 */
void gw_batcher_add(gw_batcher_t *b, gw_req_t *r, int quantity);

#endif
