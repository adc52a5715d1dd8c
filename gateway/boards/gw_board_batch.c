/*
 * gw_board_batch: one loop turn's batches per board (gw_board_batch.h).
 */
#include "gw_board_batch.h"
#include "gw_rebuild.h"
#include "tk_lb.h"

#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
const char gw_board_keep_closed[] = STR(TK_LB_KEEP_CLOSED);

static void flush_all(gw_board_batches_t *bs)
{
    gw_board_batch_t *bt = bs->open;
    bs->open = NULL;
    while (bt != NULL) {
        gw_board_batch_t *next = bt->next;
        bs->send(bt);
        bt = next;
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_board_batches_t *bs = H2O_STRUCT_FROM_MEMBER(gw_board_batches_t, flush_entry, entry);
    flush_all(bs);
}

void gw_board_batches_init(gw_board_batches_t *bs, h2o_loop_t *loop, gw_board_send_cb send)
{
    memset(bs, 0, sizeof(*bs));
    bs->send = send;
    bs->loop = loop;
    h2o_timeout_init(loop, &bs->zero_timeout, 0);
    bs->flush_entry.cb = on_flush;
}

void gw_board_batches_dispose(gw_board_batches_t *bs)
{
    if (h2o_timeout_is_linked(&bs->flush_entry))
        h2o_timeout_unlink(&bs->flush_entry);
    flush_all(bs);
    h2o_timeout_dispose(bs->loop, &bs->zero_timeout);
}

gw_board_batch_t *gw_board_batches_find(gw_board_batches_t *bs, const char *board, size_t blen)
{
    gw_board_batch_t *bt = bs->open;
    while (bt != NULL && !(bt->blen == blen && memcmp(bt->board, board, blen) == 0))
        bt = bt->next;
    return bt;
}

void gw_board_batches_open(gw_board_batches_t *bs, gw_board_batch_t *bt, const char *board, size_t blen)
{
    memcpy(bt->board, board, blen);
    bt->board[blen] = '\0';
    bt->blen = blen;
    bt->next = bs->open;
    bs->open = bt;
    if (!h2o_timeout_is_linked(&bs->flush_entry))
        h2o_timeout_link(bs->loop, &bs->zero_timeout, &bs->flush_entry);
}

void gw_board_batches_send(gw_board_batches_t *bs, gw_board_batch_t *bt)
{
    gw_board_batch_t **link = &bs->open;
    while (*link != bt)
        link = &(*link)->next;
    *link = bt->next;
    bs->send(bt);
}

void gw_board_answer_not_found(gw_req_t *r, const char *board, uint64_t token)
{
    if (gw_rebuild_may_restore(r->th->server, token))
        gw_reply_unavailable(r, "redis"); /* the board may be on its way back from MariaDB (gw_rebuild.h) */
    else
        gw_reply_errorf(r, 404, "not_found", "no board %s", board);
}
