/*
 * test_gw_board_batch: the per-board batches of one loop turn that the board
 * writer and reader share (gateway/boards/gw_board_batch.h), on a real h2o
 * event loop: one open batch per board, found by the whole board id; sent
 * at the end of the loop turn, or at once by its owner; what is open sent
 * on dispose; never sent twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_board_batch.h"
#include "tk_lb.h"

typedef struct {
    gw_board_batch_t super;
    int tag;
} test_batch_t;

static int sent[16], nsent;

static void record(gw_board_batch_t *bt)
{
    assert_true(nsent < 16);
    sent[nsent++] = ((test_batch_t *)bt)->tag;
    free(bt);
}

static test_batch_t *open_one(gw_board_batches_t *bs, const char *board, int tag)
{
    test_batch_t *bt = calloc(1, sizeof(*bt));
    assert_non_null(bt);
    bt->tag = tag;
    gw_board_batches_open(bs, &bt->super, board, strlen(board));
    return bt;
}

/* Runs the loop until the zero-delay timer has fired (a few turns at most). */
static void turn(h2o_evloop_t *loop)
{
    for (int i = 0; i < 5; i++)
        h2o_evloop_run(loop, 1);
}

static void one_batch_per_board_sent_at_the_turns_end(void **st)
{
    (void)st;
    h2o_evloop_t *loop = h2o_evloop_create();
    gw_board_batches_t bs;
    gw_board_batches_init(&bs, loop, record);
    nsent = 0;
    test_batch_t *ab = open_one(&bs, "ab", 1), *abc = open_one(&bs, "abc", 2);
    assert_ptr_equal(gw_board_batches_find(&bs, "ab", 2), &ab->super);
    assert_ptr_equal(gw_board_batches_find(&bs, "abc", 3), &abc->super);
    assert_null(gw_board_batches_find(&bs, "a", 1));
    assert_null(gw_board_batches_find(&bs, "abd", 3));
    assert_string_equal(ab->super.board, "ab");
    assert_int_equal(nsent, 0); /* nothing before the turn ends */
    turn(loop);
    assert_int_equal(nsent, 2);
    assert_true((sent[0] == 1 && sent[1] == 2) || (sent[0] == 2 && sent[1] == 1));
    assert_null(gw_board_batches_find(&bs, "ab", 2)); /* sent: no longer open */
    /* The next turn's first request of a board opens a new batch, sent at that turn's end. */
    open_one(&bs, "ab", 3);
    turn(loop);
    assert_int_equal(nsent, 3);
    assert_int_equal(sent[2], 3);
    turn(loop);
    assert_int_equal(nsent, 3); /* never twice */
    gw_board_batches_dispose(&bs);
    assert_int_equal(nsent, 3);
    h2o_evloop_destroy(loop);
}

static void sent_early_then_the_rest_on_dispose(void **st)
{
    (void)st;
    h2o_evloop_t *loop = h2o_evloop_create();
    gw_board_batches_t bs;
    gw_board_batches_init(&bs, loop, record);
    nsent = 0;
    open_one(&bs, "x", 1);
    test_batch_t *y = open_one(&bs, "y", 2);
    open_one(&bs, "z", 3);
    gw_board_batches_send(&bs, &y->super); /* full, or a rollover follows: at once, the others stay open */
    assert_int_equal(nsent, 1);
    assert_int_equal(sent[0], 2);
    assert_null(gw_board_batches_find(&bs, "y", 1));
    assert_non_null(gw_board_batches_find(&bs, "x", 1));
    assert_non_null(gw_board_batches_find(&bs, "z", 1));
    gw_board_batches_dispose(&bs); /* before the turn ends: sent here */
    assert_int_equal(nsent, 3);
    turn(loop);
    assert_int_equal(nsent, 3);
    h2o_evloop_destroy(loop);
}

static void keep_closed_is_the_number(void **st)
{
    (void)st;
    char want[16];
    snprintf(want, sizeof want, "%d", TK_LB_KEEP_CLOSED);
    assert_string_equal(gw_board_keep_closed, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_batch_per_board_sent_at_the_turns_end),
        cmocka_unit_test(sent_early_then_the_rest_on_dispose),
        cmocka_unit_test(keep_closed_is_the_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
