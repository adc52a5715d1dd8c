/*
 * gw_board_reader: one lb_read.lua call per board per loop turn for the
 * user and around reads; the design is in gw_board_reader.h, the script's
 * side in lua/lb_read.lua ("Why many").
 */
#include "gw_board_reader.h"
#include "gw_board_batch.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_board_batch_t super; /* first: the open list holds these */
    gw_board_reader_t *owner;
    int n;
    gw_board_read_t *reads[GW_BOARD_READ_CALL_MAX]; /* owned, in the order sent */
} rbatch_t;

struct st_gw_board_reader_t {
    gw_thread_t *th;
    gw_board_batches_t batches;
};

/* Answers every read of @bt as a call lost or refused would be (503), and frees @bt. */
static void fail_all(rbatch_t *bt, int status, const char *message)
{
    for (int i = 0; i < bt->n; i++) {
        if (status == 503)
            gw_reply_unavailable(bt->reads[i]->r, "redis");
        else
            gw_reply_error(bt->reads[i]->r, status, "internal", message);
        gw_board_read_free(bt->reads[i]);
    }
    free(bt);
}

static void on_reply(gw_redis_t *redis, redisReply *reply, void *data)
{
    rbatch_t *bt = data;
    (void)redis;
    if (reply == NULL) {
        fail_all(bt, 503, NULL); /* gw_redis counted the failure */
    } else if (reply->type == REDIS_REPLY_ERROR) {
        tk_warn("board reads of %s (%d): redis answered %.*s", bt->super.board, bt->n, (int)reply->len, reply->str);
        fail_all(bt, 503, NULL);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != (size_t)bt->n) {
        tk_error("board reads of %s: unexpected reply of lb_read.lua (%zu answers for %d reads)", bt->super.board,
                 reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0, bt->n);
        fail_all(bt, 500, "unexpected answer from Redis");
    } else {
        for (int i = 0; i < bt->n; i++)
            gw_board_read_answer(bt->reads[i], reply->element[i]); /* takes it */
        free(bt);
    }
}

#define NHEAD 4 /* the key, "many", an unused season, TK_LB_KEEP_CLOSED */
#define NUM_MAX 24

static void send_batch(gw_board_batch_t *super)
{
    rbatch_t *bt = (rbatch_t *)super;
    gw_thread_t *th = bt->owner->th;
    int argc = NHEAD + 4 * bt->n;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    size_t *lens = malloc(sizeof(*lens) * (size_t)argc);
    char(*nums)[NUM_MAX] = malloc(sizeof(*nums) * 2 * (size_t)bt->n);
    char key[TK_KEY_MAX];
    int klen = tk_lb_key(TK_LB_BOARD, bt->super.board, bt->super.blen, 0, key);
    if (argv == NULL || lens == NULL || nums == NULL || klen < 0) {
        fail_all(bt, 503, NULL);
        goto done;
    }
    argv[0] = key;
    lens[0] = (size_t)klen;
    argv[1] = "many";
    argv[2] = "current";
    argv[3] = gw_board_keep_closed;
    for (int i = 1; i < NHEAD; i++)
        lens[i] = strlen(argv[i]);
    uint64_t token = gw_rebuild_token(th->server);
    int a = NHEAD;
    for (int i = 0; i < bt->n; i++) {
        gw_board_read_t *rd = bt->reads[i];
        rd->token = token;
        char *season = nums[2 * i], *radius = nums[2 * i + 1];
        argv[a] = rd->shape == GW_BOARD_AROUND ? "around" : "user";
        lens[a] = strlen(argv[a]);
        a++;
        argv[a] = season;
        if (rd->season == GW_BOARD_SEASON_CURRENT)
            lens[a++] = (size_t)snprintf(season, NUM_MAX, "current");
        else
            lens[a++] = (size_t)snprintf(season, NUM_MAX, "%" PRId64, rd->season);
        argv[a] = rd->r->user_id;
        lens[a++] = strlen(rd->r->user_id);
        argv[a] = radius;
        lens[a++] = (size_t)snprintf(radius, NUM_MAX, "%" PRId64, rd->shape == GW_BOARD_AROUND ? rd->radius : 0);
    }
    if (gw_redis_script(th->redis, GW_SCRIPT_LB_READ, on_reply, bt, 1, argc, argv, lens) != 0)
        fail_all(bt, 503, NULL);
done:
    free(argv);
    free(lens);
    free(nums);
}

gw_board_reader_t *gw_board_reader_create(gw_thread_t *th)
{
    gw_board_reader_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->th = th;
    gw_board_batches_init(&b->batches, th->ctx.loop, send_batch);
    return b;
}

void gw_board_reader_destroy(gw_board_reader_t *b)
{
    if (b == NULL)
        return;
    gw_board_batches_dispose(&b->batches);
    free(b);
}

void gw_board_reader_add(gw_board_reader_t *b, gw_board_read_t *rd)
{
    gw_req_t *r = rd->r;
    rbatch_t *bt = (rbatch_t *)gw_board_batches_find(&b->batches, r->event_id, r->elen);
    if (bt == NULL) {
        if ((bt = malloc(sizeof(*bt))) == NULL) {
            gw_reply_error(r, 503, "unavailable", "out of memory");
            gw_board_read_free(rd);
            return;
        }
        bt->owner = b;
        bt->n = 0;
        gw_board_batches_open(&b->batches, &bt->super, r->event_id, r->elen);
    }
    bt->reads[bt->n++] = rd;
    if (bt->n == GW_BOARD_READ_CALL_MAX)
        gw_board_batches_send(&b->batches, &bt->super); /* full: this turn's next read of the board opens another */
}
