/*
 * gw_board_reader: groups the user and around reads (GET …/users/{U},
 * …/users/{U}/around) that arrive on one loop thread in one loop turn for
 * one board into one call of lua/lb_read.lua (shape "many").
 *
 * Why. As for claims (gw_batcher.h) and score writes (gw_board_writer.h),
 * Redis spends most of such a read on the script call, not on the commands
 * inside (about 20 us a call for 8 us of HMGET, HGET, ZRANK, ZRANGE on a
 * board of a million users); one call for k reads reads the board hash and
 * the clock and resolves each season asked once, and pays the call once.
 *
 * Exact. Each read of a call gets, as its element of the answer in the
 * order sent, what its own call would answer at that instant (lb_read.lua,
 * "Why many"), and is answered from it by the code that answers a single
 * call (gw_board_read_answer), so batching changes no answer. Every read is
 * still answered from one round trip. Reads of different seasons share a
 * call: each carries its season. top and ranks are one call each
 * (gw_board_read.c): a top page is its own ZRANGE and ranks already holds
 * up to 1,000 users.
 *
 * Bounded. A call carries at most GW_BOARD_READ_CALL_MAX reads (a full
 * batch is sent at once; 4 arguments each, far below Lua's limits). What a
 * thread holds is the bound every board read already has: a read holds one
 * of BOARD_READS_MAX places from gw_board_read_start until it is answered,
 * batched or not, and beyond it is answered 503 with Retry-After at once
 * (tk_shed_total{reason="board_reads"}) and never enters a batch.
 *
 * Failures. The call refused at once (Redis away): every read of the batch
 * 503 at the end of the turn; the connection lost with the call in flight:
 * 503 each (gw_board_read_answer with NULL); an error reply (LOADING, a
 * script error): logged once, 503 each; an answer of the wrong shape or
 * count: logged, 500 each. Nothing is read elsewhere, as for one read.
 *
 * Ownership. The reader owns each read from gw_board_reader_add until it
 * hands it to gw_board_read_answer (which answers and frees it, or passes an
 * old season on to MariaDB). A read holds one reference to its request
 * (gw_board_read_new), so a client gone while its read waits in a batch or
 * on Redis leaves a valid gw_req_t whose ->req is NULL: its answer is only
 * counted (gw_reply). Loop thread only.
 */
#ifndef GW_BOARD_READER_H
#define GW_BOARD_READER_H

#include "gw_board_read.h"

#define GW_BOARD_READ_CALL_MAX 512 /* reads of one lb_read.lua "many" call, at most */

/** Creates the reader of @th. NULL on no memory. */
gw_board_reader_t *gw_board_reader_create(gw_thread_t *th);

/** Sends what is queued (the reads then get 503 if Redis is gone) and frees @b. NULL is a no-op. */
void gw_board_reader_destroy(gw_board_reader_t *b);

/**
 * Queues the USER or AROUND read @rd (takes ownership; it already holds its
 * place in BOARD_READS_MAX) into the open batch of board rd->r->event_id;
 * it is answered once the batch's call is.
 */
void gw_board_reader_add(gw_board_reader_t *b, gw_board_read_t *rd);

#endif
