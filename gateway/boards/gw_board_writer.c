/*
 * gw_board_writer: one lb_write.lua call per board per loop turn; the
 * design is in gw_board_writer.h, the script's guarantees in lua/lb_write.lua.
 */
#include "gw_board_writer.h"
#include "gw_board_batch.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_log.h"
#include "tk_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One request's entries, in a batch. */
typedef struct st_write_t {
    struct st_write_t *next;
    gw_req_t *r;         /* one reference, held until answered */
    gw_board_score_t *e; /* owned */
    int n, invalid;
} write_t;

typedef struct {
    gw_board_batch_t super; /* first: the open list holds these; the board */
    gw_board_writer_t *owner;
    write_t *head, **tail;
    int nent;       /* entries of all its writes */
    uint64_t token; /* gw_rebuild_token when sent */
} wbatch_t;

struct st_gw_board_writer_t {
    gw_thread_t *th;
    int held;                   /* entries in open batches or awaiting Redis's answer */
    int alive;                  /* batches alive: open, or their call awaiting Redis's answer */
    int dying;                  /* destroyed while some were: the last one's free frees the writer */
    gw_board_batches_t batches; /* those filling during this loop turn */
    gw_board_score_t scratch[GW_BOARD_SCORES_MAX]; /* a body parsed, before its valid entries are copied out */
};

static void free_write(write_t *w)
{
    gw_req_release(w->r);
    free(w->e);
    free(w);
}

static void free_batch(wbatch_t *bt)
{
    gw_board_writer_t *b = bt->owner;
    b->held -= bt->nent;
    write_t *w = bt->head;
    while (w != NULL) {
        write_t *next = w->next;
        free_write(w);
        w = next;
    }
    free(bt);
    if (--b->alive == 0 && b->dying)
        free(b);
}

static void answer_all(wbatch_t *bt, int status, const char *code, const char *message)
{
    for (write_t *w = bt->head; w != NULL; w = w->next) {
        if (status == 503)
            gw_reply_unavailable(w->r, "redis");
        else
            gw_reply_error(w->r, status, code, message);
    }
}

/* Answers one request from its slice @res (w->n characters) of the script's results. */
static void answer_one(wbatch_t *bt, write_t *w, long long season, const char *res)
{
    int applied = 0, unchanged = 0, refused = 0, invalid = w->invalid;
    for (int i = 0; i < w->n; i++) {
        switch (res[i]) {
        case 'a':
            applied++;
            break;
        case 'u':
            unchanged++;
            break;
        case 'r':
            refused++;
            break;
        default:
            invalid++;
            break;
        }
    }
    gw_metrics_t *m = &bt->owner->th->metrics;
    gw_metrics_add(&m->board_writes[GW_BOARD_WRITE_APPLIED], (uint64_t)applied);
    gw_metrics_add(&m->board_writes[GW_BOARD_WRITE_UNCHANGED], (uint64_t)unchanged);
    gw_metrics_add(&m->board_writes[GW_BOARD_WRITE_REFUSED], (uint64_t)refused);
    gw_metrics_add(&m->board_writes[GW_BOARD_WRITE_INVALID], (uint64_t)invalid);
    if (applied + unchanged + refused == 0) {
        gw_reply_errorf(w->r, 400, "bad_request", "no valid entry for board %s (check its number of components)", bt->super.board);
        return;
    }
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"accepted\":%d,\"invalid\":%d,\"refused\":%d,\"season\":%lld}", applied + unchanged, invalid,
                     refused, season);
    gw_reply(w->r, 200, body, (size_t)n, NULL);
}

static int is_not_found(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(reply->element[0]->str, "not_found") == 0;
}

static void on_reply(gw_redis_t *redis, redisReply *reply, void *data)
{
    wbatch_t *bt = data;
    (void)redis;
    if (reply == NULL) {
        answer_all(bt, 503, NULL, NULL); /* gw_redis counted the failure */
    } else if (is_not_found(reply)) {
        for (write_t *w = bt->head; w != NULL; w = w->next)
            gw_board_answer_not_found(w->r, bt->super.board, bt->token);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
               reply->element[1]->type != REDIS_REPLY_STRING || reply->element[1]->len != (size_t)bt->nent) {
        gw_metrics_add(&bt->owner->th->metrics.redis_errors, 1); /* an answer, so gw_redis did not count it */
        if (reply->type == REDIS_REPLY_ERROR)
            tk_log(TK_LOG_WARN, "board write script failed: %s", reply->str);
        answer_all(bt, 503, NULL, NULL);
    } else {
        const char *res = reply->element[1]->str;
        for (write_t *w = bt->head; w != NULL; w = w->next) {
            answer_one(bt, w, reply->element[0]->integer, res);
            res += w->n;
        }
    }
    free_batch(bt);
}

#define NKEYS 5 /* the keys every lb_write.lua call takes */
#define NHEAD (NKEYS + 2) /* they, the mode and TK_LB_KEEP_CLOSED: the arguments before the entries */

/* The keys every lb_write.lua call takes, into @keys, their lengths into @lens. */
static void board_keys(const char *board, size_t blen, char keys[NKEYS][TK_KEY_MAX], size_t lens[NKEYS])
{
    static const tk_lb_key_kind_t kinds[NKEYS] = {TK_LB_BOARD, TK_LB_SEASONS, TK_LB_STREAM, TK_LB_PEND, TK_LB_DROP};
    for (int k = 0; k < NKEYS; k++)
        lens[k] = (size_t)tk_lb_key(kinds[k], board, blen, 0, keys[k]);
}

#define NUM_MAX 24 /* one component in decimal, with its sign and NUL */

static void send_batch(gw_board_batch_t *super)
{
    wbatch_t *bt = (wbatch_t *)super;
    gw_thread_t *th = bt->owner->th;
    int argc = NHEAD + 3 * bt->nent;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    size_t *lens = malloc(sizeof(*lens) * (size_t)argc);
    char(*nums)[NUM_MAX] = malloc(sizeof(*nums) * 2 * (size_t)bt->nent);
    char keys[NKEYS][TK_KEY_MAX];
    if (argv == NULL || lens == NULL || nums == NULL) {
        answer_all(bt, 503, NULL, NULL);
        goto done;
    }
    board_keys(bt->super.board, bt->super.blen, keys, lens);
    for (int k = 0; k < NKEYS; k++)
        argv[k] = keys[k];
    argv[NKEYS] = "0";
    lens[NKEYS] = 1;
    argv[NKEYS + 1] = gw_board_keep_closed;
    lens[NKEYS + 1] = strlen(gw_board_keep_closed);
    int a = NHEAD, j = 0;
    for (write_t *w = bt->head; w != NULL; w = w->next) {
        for (int i = 0; i < w->n; i++, j += 2) {
            const gw_board_score_t *e = &w->e[i];
            argv[a] = e->user;
            lens[a++] = e->ulen;
            argv[a] = nums[j];
            lens[a++] = (size_t)snprintf(nums[j], NUM_MAX, "%" PRId64, e->c1);
            argv[a] = nums[j + 1];
            lens[a++] = e->comps == 2 ? (size_t)snprintf(nums[j + 1], NUM_MAX, "%" PRId64, e->c2) : 0;
        }
    }
    bt->token = gw_rebuild_token(th->server);
    if (!gw_redis_is_up(th->redis) || gw_redis_script(th->redis, GW_SCRIPT_LB_WRITE, on_reply, bt, NKEYS, argc, argv, lens) != 0) {
        answer_all(bt, 503, NULL, NULL);
        goto done;
    }
    gw_metrics_add(&th->metrics.board_calls, 1);
    bt = NULL; /* on_reply frees it */
done:
    if (bt != NULL)
        free_batch(bt);
    free(argv);
    free(lens);
    free(nums);
}

gw_board_writer_t *gw_board_writer_create(gw_thread_t *th)
{
    gw_board_writer_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->th = th;
    gw_board_batches_init(&b->batches, th->ctx.loop, send_batch);
    return b;
}

void gw_board_writer_destroy(gw_board_writer_t *b)
{
    if (b == NULL)
        return;
    gw_board_batches_dispose(&b->batches);
    /* A call still in flight is answered later, when the thread's Redis connection is torn down (its callback
     * gets NULL) and it frees its batch into this writer: the last one frees the writer (it_boards_write
     * a_shutdown_with_writes_in_flight_exits_clean; freeing it here was a use after free). */
    if (b->alive == 0)
        free(b);
    else
        b->dying = 1;
}

gw_board_score_t *gw_board_writer_scratch(gw_board_writer_t *b)
{
    return b->scratch;
}

static wbatch_t *find_open(gw_board_writer_t *b, const char *board, size_t blen)
{
    return (wbatch_t *)gw_board_batches_find(&b->batches, board, blen);
}

void gw_board_writer_add(gw_board_writer_t *b, gw_req_t *r, gw_board_score_t *e, int n, int invalid)
{
    if (!gw_redis_is_up(b->th->redis)) {
        free(e);
        gw_reply_unavailable(r, "redis");
        return;
    }
    if (b->held + n > GW_BOARD_HELD_MAX) {
        /* Redis is slow or stalled: refuse now rather than queue behind it. */
        free(e);
        gw_metrics_add(&b->th->metrics.shed[GW_SHED_REDIS_INFLIGHT], 1);
        gw_reply_error(r, 503, "unavailable", "too many score writes are waiting for redis; retry shortly");
        return;
    }
    write_t *w = malloc(sizeof(*w));
    wbatch_t *bt = find_open(b, r->event_id, r->elen);
    if (bt != NULL && bt->nent + n > GW_BOARD_CALL_MAX) {
        gw_board_batches_send(&b->batches, &bt->super); /* full: send it now, this request starts the next */
        bt = NULL;
    }
    if (bt == NULL && w != NULL && (bt = malloc(sizeof(*bt))) != NULL) {
        *bt = (wbatch_t){.owner = b, .head = NULL, .nent = 0};
        bt->tail = &bt->head;
        b->alive++;
        gw_board_batches_open(&b->batches, &bt->super, r->event_id, r->elen);
    }
    if (w == NULL || bt == NULL) {
        free(w);
        free(e);
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    *w = (write_t){.next = NULL, .r = gw_req_ref(r), .e = e, .n = n, .invalid = invalid};
    *bt->tail = w;
    bt->tail = &w->next;
    bt->nent += n;
    b->held += n;
}

/* ------------------------------------------------------------ rollover */

/* A rollover in flight: its request (one reference) and the rebuild token it was sent with. */
typedef struct {
    gw_req_t *r;
    uint64_t token;
} roll_t;

static void on_roll(gw_redis_t *redis, redisReply *reply, void *data)
{
    roll_t *rl = data;
    gw_req_t *r = rl->r;
    (void)redis;
    if (reply == NULL) {
        gw_reply_unavailable(r, "redis");
    } else if (is_not_found(reply)) {
        gw_board_answer_not_found(r, r->event_id, rl->token);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
               reply->element[2]->type != REDIS_REPLY_INTEGER || reply->element[3]->type != REDIS_REPLY_INTEGER ||
               reply->element[4]->type != REDIS_REPLY_INTEGER) {
        gw_metrics_add(&r->th->metrics.redis_errors, 1);
        if (reply->type == REDIS_REPLY_ERROR)
            tk_log(TK_LOG_WARN, "board rollover script failed: %s", reply->str);
        gw_reply_unavailable(r, "redis");
    } else {
        char started[TK_TIME_RFC3339_LEN + 1], prev_started[TK_TIME_RFC3339_LEN + 1], body[512];
        tk_time_format_rfc3339(reply->element[4]->integer, started);
        tk_time_format_rfc3339(reply->element[3]->integer, prev_started);
        int n = snprintf(body, sizeof(body),
                         "{\"board_id\":\"%s\",\"season\":%lld,\"started_at\":\"%s\","
                         "\"previous\":{\"season\":%lld,\"started_at\":\"%s\",\"ended_at\":\"%s\"}}",
                         r->event_id, reply->element[0]->integer, started, reply->element[2]->integer, prev_started, started);
        gw_reply(r, 201, body, (size_t)n, NULL);
    }
    gw_req_release(r);
    free(rl);
}

void gw_board_writer_roll(gw_board_writer_t *b, gw_req_t *r)
{
    wbatch_t *bt = find_open(b, r->event_id, r->elen);
    if (bt != NULL) { /* the writes read before this request go first, into the season they were sent in */
        gw_board_batches_send(&b->batches, &bt->super);
    }
    char keys[NKEYS][TK_KEY_MAX];
    const char *argv[NHEAD] = {keys[0], keys[1], keys[2], keys[3], keys[4], "1", gw_board_keep_closed};
    size_t lens[NHEAD] = {0, 0, 0, 0, 0, 1, strlen(gw_board_keep_closed)};
    board_keys(r->event_id, r->elen, keys, lens);
    if (!gw_redis_is_up(b->th->redis)) {
        gw_reply_unavailable(r, "redis");
        return;
    }
    roll_t *rl = malloc(sizeof(*rl));
    if (rl == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    *rl = (roll_t){.r = gw_req_ref(r), .token = gw_rebuild_token(b->th->server)}; /* on_roll's reference */
    if (gw_redis_script(b->th->redis, GW_SCRIPT_LB_WRITE, on_roll, rl, NKEYS, NHEAD, argv, lens) != 0) {
        gw_reply_unavailable(r, "redis"); /* answered while on_roll's reference still holds it, as on_roll does */
        gw_req_release(r);
        free(rl);
    }
}
