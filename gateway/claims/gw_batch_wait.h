/*
 * gw_batch_wait: REDIS_WAIT_REPLICAS for claim batches (common/tk_wait.h;
 * docs/DEPLOY.md, "Acknowledged means replicated"), one WAIT per Redis
 * connection per loop turn, not one per batch.
 *
 * The batcher (gw_batcher.c) hands over every batch whose script reply
 * acknowledges a claim (gw_batch_wait_acknowledges); this file holds it,
 * with a copy of that reply, in a group per connection (the one that reply
 * came on, gw_redis_reply_conn: the connection whose node ran the script,
 * in a cluster also after an ASK or a slot map that changed meanwhile),
 * and at the end of the loop turn sends one `WAIT n timeout` per group on
 * exactly that connection (gw_redis_command_on). Its reply decides for
 * every batch of the group: enough replicas, each is answered from its
 * script reply as without WAIT; fewer, an error, a connection lost or a
 * WAIT that could not be sent (its connection gone or made again), each is
 * answered 503 and recorded as uncertain. Why one WAIT answers exactly for
 * all of them: the essay in gw_batch_wait.c.
 *
 * Ownership: a batch passed to gw_batch_wait_hold belongs to this file
 * until it is given back, exactly once, through the gw_batch_wait_done_cb
 * (from the hold itself on failure, from the WAIT's reply, or from
 * gw_batch_wait_destroy); the callback answers and frees it. One per loop
 * thread, used on that thread only.
 */
#ifndef GW_BATCH_WAIT_H
#define GW_BATCH_WAIT_H

#include "gw_types.h"

#include <hiredis.h>
#include <stddef.h>

typedef struct st_gw_batch_wait_t gw_batch_wait_t;

/**
 * Gives @batch back: @reply is the copy of its script reply when at least
 * the replicas asked hold its writes (answer from it), NULL when that is
 * not known (503 to each claim, the batch uncertain). @reply lives for the
 * call only. The callback owns @batch from here: it answers and frees it.
 */
typedef void (*gw_batch_wait_done_cb)(void *batch, const redisReply *reply);

/** For @th's loop: WAIT @replicas (>= 1) @timeout_ms; @done gives batches back. NULL on no memory. */
gw_batch_wait_t *gw_batch_wait_create(gw_thread_t *th, long replicas, long timeout_ms, gw_batch_wait_done_cb done);

/**
 * Gives back every batch held (503 each, uncertain: no WAIT can be answered
 * from here on) and frees @w. A WAIT still outstanding keeps only its own
 * small record, freed when gw_redis answers it (NULL, when the connection
 * is destroyed). On the loop thread, before gw_redis_destroy. NULL is fine.
 */
void gw_batch_wait_destroy(gw_batch_wait_t *w);

/** 1 when the claim script's @reply (pairs of code and record) acknowledges a claim: a code N (new grant) or E (existing). */
int gw_batch_wait_acknowledges(const redisReply *reply);

/**
 * Holds @batch with a copy of its script @reply (not kept) until the WAIT
 * of this loop turn on connection @conn has answered. Call from the script
 * reply's callback, @conn being gw_redis_reply_conn there (the connection
 * that delivered @reply); -1 (none) gives @batch back at once, unreplicated.
 */
void gw_batch_wait_hold(gw_batch_wait_t *w, void *batch, int conn, const redisReply *reply);

#endif
