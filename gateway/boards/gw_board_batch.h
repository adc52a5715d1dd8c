/*
 * gw_board_batch: what the board writer (gw_board_writer.h) and the board
 * reader (gw_board_reader.h) share: the batches of one loop turn, one per
 * board, and the zero-delay timer that sends them when the turn ends.
 *
 * A batch is opened by the first request of its board in a loop turn, and
 * sent (the owner's send callback) when the timer fires at the end of that
 * turn, or earlier by its owner (full, or a rollover by hand). A sent batch
 * is no longer open: the next request of its board opens a new one.
 *
 * Ownership: the owner allocates its batches with a gw_board_batch_t as
 * their first member; while open they are only linked here. The send
 * callback takes the batch (it frees it, at once or once Redis answered).
 * Loop thread only.
 */
#ifndef GW_BOARD_BATCH_H
#define GW_BOARD_BATCH_H

#include "gw_http.h"

/** One board's batch: the first member of the owner's batch type. */
typedef struct st_gw_board_batch_t {
    struct st_gw_board_batch_t *next; /* in the open list */
    char board[TK_ID_MAX + 1];
    size_t blen;
} gw_board_batch_t;

/** Sends @bt (no longer open) and takes it. */
typedef void (*gw_board_send_cb)(gw_board_batch_t *bt);

/** The open batches of one loop thread's writer or reader. */
typedef struct {
    gw_board_batch_t *open;
    gw_board_send_cb send;
    h2o_loop_t *loop;
    h2o_timeout_t zero_timeout;
    h2o_timeout_entry_t flush_entry;
} gw_board_batches_t;

/** Sets up @bs on @loop: open batches will be sent with @send. */
void gw_board_batches_init(gw_board_batches_t *bs, h2o_loop_t *loop, gw_board_send_cb send);

/** Sends every open batch, then stops the timer. */
void gw_board_batches_dispose(gw_board_batches_t *bs);

/** The open batch of board @board (@blen bytes), or NULL. */
gw_board_batch_t *gw_board_batches_find(gw_board_batches_t *bs, const char *board, size_t blen);

/** Opens @bt (its owner's part set up) for @board: linked, sent at the end of this loop turn at the latest. */
void gw_board_batches_open(gw_board_batches_t *bs, gw_board_batch_t *bt, const char *board, size_t blen);

/** Sends the open batch @bt now (full, or a rollover must follow it). */
void gw_board_batches_send(gw_board_batches_t *bs, gw_board_batch_t *bt);

/**
 * The answer when a call sent with rebuild @token (gw_rebuild_token, taken
 * when it was sent) found no board @board: 404 not_found, or 503 while a
 * rebuild may be bringing it back (gw_rebuild_may_restore: from a Redis
 * reconnection until a check found every board, also after a check that
 * could not finish, or one that ended while the call was in flight).
 */
void gw_board_answer_not_found(gw_req_t *r, const char *board, uint64_t token);

/** TK_LB_KEEP_CLOSED in decimal: the argument lb_write.lua and lb_read.lua take. */
extern const char gw_board_keep_closed[];

#endif
