#include "gw_batcher.h"
#include "gw_batch_wait.h"
#include "gw_prio.h"
#include "gw_fallback.h"
#include "gw_keep.h"
#include "gw_journal.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_refusal.h"
#include "gw_soldout.h"
#include "tk_claim.h"
#include "tk_fmt.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_batch_t {
    struct st_batch_t *next; /* in the batcher's list of open batches */
    gw_batcher_t *owner;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    int n;
    gw_req_t **reqs;
    int *qty;
    int refusal;          /* index of the refusal whose body is in refusal_body, or -1 */
    size_t refusal_len;
    char refusal_body[GW_REFUSAL_BODY_MAX]; /* a storm refuses most of a batch alike: built once */
} batch_t;

struct st_gw_batcher_t {
    gw_thread_t *th;
    int max;
    int held;     /* claims in open batches or awaiting Redis's answer (or on their way to the fallback) */
    int held_max; /* REDIS_INFLIGHT_MAX: beyond, a claim is shed (gw_batcher.h) */
    batch_t *open; /* batches filling during this loop turn */
    batch_t *spare; /* freed batches kept for reuse (GW_BATCH_SPARES at most): no malloc per batch */
    int nspare;
    gw_soldout_t *soldout; /* claims of events known sold out, checked without the script (gw_soldout.h) */
    h2o_timeout_t zero_timeout;
    h2o_timeout_entry_t flush_entry;
    gw_batch_wait_t *wait; /* REDIS_WAIT_REPLICAS > 0; NULL: answer on the script's reply (no WAIT) */
};

static void set_held(gw_batcher_t *b, int held)
{
    b->held = held;
    __atomic_store_n(&b->th->metrics.redis_held, (uint64_t)held, __ATOMIC_RELAXED); /* a gauge /metrics sums */
}

/* Batches a thread keeps for reuse. A batch is sized for --max-batch
 * claims (12 bytes each: 12 KiB at 1,024), so malloc serves it from its
 * slow path; under load a thread has a few batches in flight at once
 * (one per event per loop turn until Redis answers), and a profile of an
 * HTTP/1.1 claim storm put 1.2% of the gateway's CPU in that malloc. */
#define GW_BATCH_SPARES GW_KEEP(16) /* none under ASan: gw_keep.h */

/* An empty batch for @r's event, from the spares or malloc'd. NULL on no memory. */
static batch_t *batch_new(gw_batcher_t *b, const gw_req_t *r)
{
    batch_t *bt = b->spare;
    if (bt != NULL) {
        b->spare = bt->next;
        b->nspare--;
    } else if ((bt = malloc(sizeof(*bt) + (size_t)b->max * (sizeof(gw_req_t *) + sizeof(int)))) == NULL) {
        return NULL;
    }
    bt->next = NULL;
    bt->owner = b;
    memcpy(bt->event_id, r->event_id, r->elen + 1);
    bt->elen = r->elen;
    bt->n = 0;
    bt->refusal = -1;
    bt->reqs = (gw_req_t **)(bt + 1);
    bt->qty = (int *)(bt->reqs + b->max);
    return bt;
}

/* Gives @bt back: to the spares, or to free() when they are full. */
static void batch_recycle(batch_t *bt)
{
    gw_batcher_t *b = bt->owner;
    if (b->nspare >= GW_BATCH_SPARES) {
        free(bt);
        return;
    }
    bt->next = b->spare;
    b->spare = bt;
    b->nspare++;
}

static void free_batch(batch_t *bt)
{
    set_held(bt->owner, bt->owner->held - bt->n);
    for (int i = 0; i < bt->n; i++)
        gw_req_release(bt->reqs[i]);
    batch_recycle(bt);
}

static void count(gw_thread_t *th, gw_claim_result_t res)
{
    gw_metrics_add(&th->metrics.claims[res], 1);
}

static void answer_all(batch_t *bt, int status, const char *code, const char *message, gw_claim_result_t res)
{
    for (int i = 0; i < bt->n; i++) {
        count(bt->owner->th, res);
        if (status == 503)
            gw_reply_unavailable(bt->reqs[i], "redis");
        else
            gw_reply_error(bt->reqs[i], status, code, message);
    }
}

/* Answers @r; for a new grant also fills @g (the journal's entry) and returns 1. */
static int answer_one(batch_t *bt, gw_req_t *r, const redisReply *code, const redisReply *rec, gw_journal_grant_t *g)
{
    gw_thread_t *th = bt->owner->th;
    if (code->type != REDIS_REPLY_STRING || rec->type != REDIS_REPLY_STRING) {
        count(th, GW_CLAIM_UNAVAILABLE);
        gw_reply_error(r, 500, "internal", "unexpected reply from the claim script");
        return 0;
    }
    if (code->len == 1 && (code->str[0] == 'N' || code->str[0] == 'E')) {
        tk_claim_t c;
        char body[TK_CLAIM_JSON_MAX], loc[TK_CLAIM_LOCATION_MAX];
        int n;
        if (tk_claim_decode(rec->str, rec->len, &c) != 0 ||
            (n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, &c, c.status == TK_CLAIM_REJECTED ? "stock_guard" : NULL, body)) < 0) {
            count(th, GW_CLAIM_UNAVAILABLE);
            gw_reply_error(r, 500, "internal", "malformed claim record");
            return 0;
        }
        int created = code->str[0] == 'N';
        count(th, created ? GW_CLAIM_CREATED : GW_CLAIM_EXISTING);
        tk_claim_location(r->event_id, r->elen, r->user_id, r->ulen, loc);
        gw_reply(r, created ? 201 : 200, body, (size_t)n, loc);
        if (!created || r->ulen > TK_ID_MAX)
            return 0;
        g->ticket = c.ticket;
        g->created_ms = c.created_ms;
        g->qty = (int32_t)c.quantity;
        g->ulen = (uint8_t)r->ulen;
        memcpy(g->user, r->user_id, r->ulen);
        g->user[r->ulen] = '\0';
        return 1;
    }
    if (code->len == 16 && memcmp(code->str, "priority_pending", 16) == 0) {
        /* The priority window began and its snapshot is not in Redis yet
         * (claim.lua): a second from now it will be; nobody is told no. */
        count(th, GW_CLAIM_UNAVAILABLE);
        gw_prio_poke();
        gw_reply_errorf(r, 503, "unavailable", "event %s: the priority snapshot is being taken; retry shortly", r->event_id);
        return 0;
    }
    int k = gw_refusal_find(code->str, code->len);
    if (k >= 0) {
        count(th, gw_refusal_result((gw_refusal_t)k));
        if (k == GW_REFUSAL_SOLD_OUT)
            gw_soldout_seen(bt->owner->soldout, bt->event_id, bt->elen);
        if (bt->refusal != k) {
            bt->refusal_len = gw_refusal_body((gw_refusal_t)k, bt->event_id, bt->refusal_body, sizeof(bt->refusal_body));
            bt->refusal = k;
        }
        gw_reply(r, gw_refusal_status((gw_refusal_t)k), bt->refusal_body, bt->refusal_len, NULL);
        return 0;
    }
    count(th, GW_CLAIM_UNAVAILABLE);
    gw_reply_error(r, 500, "internal", "unknown result from the claim script");
    return 0;
}

static void settle_without_grants(batch_t *bt, int lost)
{
    gw_server_t *srv = bt->owner->th->server;
    if (!lost) {
        gw_journal_replied(srv->journal, bt->event_id, bt->elen, bt->n, NULL, 0);
        return;
    }
    const char *users[bt->n > 0 ? bt->n : 1];
    size_t ulens[bt->n > 0 ? bt->n : 1];
    for (int i = 0; i < bt->n; i++) {
        users[i] = bt->reqs[i]->user_id;
        ulens[i] = bt->reqs[i]->ulen;
    }
    gw_journal_lost(srv->journal, bt->event_id, bt->elen, bt->n, users, ulens, bt->qty);
}

/* Answers every claim of @bt from the claim script's @reply (an array of
 * 2 * bt->n) and frees @bt. */
static void answer_script(batch_t *bt, const redisReply *reply)
{
    /* The new grants go into the journal (gw_journal.h): what the fallback
     * must know if Redis dies before the workers have written them.
     * Answering first is safe: the fallback cannot grant before this
     * batch leaves flight, which gw_journal_replied does. */
    gw_journal_grant_t g[bt->n];
    int ng = 0;
    for (int i = 0; i < bt->n; i++)
        ng += answer_one(bt, bt->reqs[i], reply->element[2 * i], reply->element[2 * i + 1], &g[ng]);
    if (gw_journal_replied(bt->owner->th->server->journal, bt->event_id, bt->elen, bt->n, g, ng) != 0)
        gw_metrics_add(&bt->owner->th->metrics.journal_overflows, 1);
    free_batch(bt);
}

/*
 * REDIS_WAIT_REPLICAS (docs/DEPLOY.md, "Acknowledged means replicated"): a
 * batch whose reply acknowledges a claim, a new grant ('N') or an existing
 * one ('E': it may be a grant whose WAIT timed out, so its 200 waits too),
 * goes to gw_batch_wait.c, which answers it through here once a WAIT on
 * the connection that delivered the script's reply says enough replicas hold it (one WAIT per
 * connection per loop turn covers all its batches: the essay there). Until
 * then it stays in flight (gw_journal_sent counted it; the fallback cannot
 * take over) and held (free_batch comes with the answer). A batch of
 * refusals only (sold_out, ...) is answered at once: a sold-out storm pays
 * no WAIT.
 */

/* The grants of @bt may not survive its master: 503 to every claim, the batch uncertain, freed. */
static void answer_unreplicated(batch_t *bt)
{
    for (int i = 0; i < bt->n; i++) {
        count(bt->owner->th, GW_CLAIM_UNAVAILABLE);
        gw_reply_errorf(bt->reqs[i], 503, "unavailable", "event %s: the claim is not yet held by a Redis replica; retry shortly",
                        bt->event_id);
    }
    settle_without_grants(bt, 1);
    free_batch(bt);
}

/* gw_batch_wait_done_cb: @reply, the batch's script reply, once replicated; NULL when not known to be. */
static void on_replicated(void *batch, const redisReply *reply)
{
    if (reply != NULL)
        answer_script(batch, reply);
    else
        answer_unreplicated(batch);
}

static void on_reply(gw_redis_t *redis, redisReply *reply, void *data)
{
    batch_t *bt = data;
    if (reply == NULL) {
        answer_all(bt, 503, NULL, NULL, GW_CLAIM_UNAVAILABLE); /* gw_redis counted the failure */
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_STRING &&
               strcmp(reply->element[0]->str, "not_found") == 0) {
        char msg[128];
        if (gw_rebuild_active(bt->owner->th->server)) {
            /* Redis may have come back empty and this event be on its way
             * back from MariaDB: not a 404 yet. */
            answer_all(bt, 503, NULL, NULL, GW_CLAIM_UNAVAILABLE);
            settle_without_grants(bt, 0);
            free_batch(bt);
            return;
        }
        snprintf(msg, sizeof(msg), "no event %s", bt->event_id);
        answer_all(bt, 404, "not_found", msg, GW_CLAIM_NOT_FOUND);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != (size_t)bt->n * 2) {
        gw_metrics_add(&bt->owner->th->metrics.redis_errors, 1); /* an answer, so gw_redis did not count it */
        if (reply->type == REDIS_REPLY_ERROR)
            tk_log(TK_LOG_WARN, "claim script failed: %s", reply->str);
        answer_all(bt, 503, NULL, NULL, GW_CLAIM_UNAVAILABLE);
    } else if (bt->owner->wait != NULL && gw_batch_wait_acknowledges(reply)) {
        /* Grouped by the connection this reply came on: the one whose WAIT covers the script's writes. */
        gw_batch_wait_hold(bt->owner->wait, bt, gw_redis_reply_conn(redis), reply); /* answered in on_replicated */
        return;
    } else {
        answer_script(bt, reply);
        return;
    }
    /* No grant in any of these answers (the script ran nothing, or we
     * cannot tell which: then the claims are uncertain). */
    settle_without_grants(bt, reply == NULL);
    free_batch(bt);
}

static void send_batch(batch_t *bt)
{
    gw_thread_t *th = bt->owner->th;
    int argc = 7 + 2 * bt->n;
    const char *argv[argc];
    size_t lens[argc];
    /* claim.lua's keys: the event hash, claims, stream, and the presale's snapshot set */
    static const tk_key_kind_t kinds[4] = {TK_KEY_EV, TK_KEY_CLAIMS, TK_KEY_STREAM, TK_KEY_PRIO};
    char keys[4][TK_KEY_MAX], now[TK_FMT_I64_MAX], qty[bt->n][TK_FMT_I64_MAX], admitted[bt->n];
    for (int k = 0; k < 4; k++) {
        lens[k] = (size_t)tk_key(kinds[k], bt->event_id, bt->elen, keys[k]);
        argv[k] = keys[k];
    }
    lens[4] = tk_fmt_i64(now, tk_time_now_ms());
    argv[4] = now;
    argv[5] = admitted; /* one flag per claim (claim.lua's waiting-room gate) */
    lens[5] = (size_t)bt->n;
    argv[6] = &th->server->conf->claim_entry_arg; /* the stream entry's shape (CLAIM_ENTRY) */
    lens[6] = 1;
    for (int i = 0; i < bt->n; i++) {
        admitted[i] = bt->reqs[i]->admitted ? '1' : '0';
        argv[7 + 2 * i] = bt->reqs[i]->user_id;
        lens[7 + 2 * i] = bt->reqs[i]->ulen;
        lens[8 + 2 * i] = tk_fmt_i64(qty[i], bt->qty[i]);
        argv[8 + 2 * i] = qty[i];
    }
    /* gw_journal_sent refuses outside the fast path (Redis lost by some
     * thread, or the fallback's turn): then MariaDB answers, read-only or
     * granting under the lock table (gw_fallback.h). */
    if (!gw_redis_is_up(th->redis) || gw_journal_sent(th->server->journal, bt->event_id, bt->elen, bt->n) != 0) {
        gw_fallback_claims(th, bt->reqs, bt->qty, bt->n);
        free_batch(bt);
        return;
    }
    gw_metrics_add(&th->metrics.batches, 1);
    gw_metrics_add(&th->metrics.batched_claims, (uint64_t)bt->n);
    if (gw_redis_script(th->redis, GW_SCRIPT_CLAIM, on_reply, bt, 4, argc, argv, lens) != 0) {
        settle_without_grants(bt, 0); /* nothing left: no claim of it can have been granted */
        answer_all(bt, 503, NULL, NULL, GW_CLAIM_UNAVAILABLE);
        free_batch(bt);
    }
}

static void flush_all(gw_batcher_t *b)
{
    batch_t *bt = b->open;
    b->open = NULL;
    while (bt != NULL) {
        batch_t *next = bt->next;
        send_batch(bt);
        bt = next;
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_batcher_t *b = H2O_STRUCT_FROM_MEMBER(gw_batcher_t, flush_entry, entry);
    flush_all(b);
}

gw_batcher_t *gw_batcher_create(gw_thread_t *th)
{
    gw_batcher_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->th = th;
    b->max = (int)th->server->conf->max_batch;
    b->held_max = (int)th->server->conf->redis_inflight_max;
    if (th->server->conf->redis_wait_replicas > 0 &&
        (b->wait = gw_batch_wait_create(th, th->server->conf->redis_wait_replicas, th->server->conf->redis_wait_timeout_ms,
                                        on_replicated)) == NULL) {
        free(b);
        return NULL;
    }
    if ((b->soldout = gw_soldout_create(th, b)) == NULL) {
        gw_batch_wait_destroy(b->wait);
        free(b);
        return NULL;
    }
    h2o_timeout_init(th->ctx.loop, &b->zero_timeout, 0);
    b->flush_entry.cb = on_flush;
    return b;
}

void gw_batcher_destroy(gw_batcher_t *b)
{
    if (b == NULL)
        return;
    if (h2o_timeout_is_linked(&b->flush_entry))
        h2o_timeout_unlink(&b->flush_entry);
    gw_soldout_destroy(b->soldout); /* its claims come back here first */
    flush_all(b);
    gw_batch_wait_destroy(b->wait); /* its batches are answered now, while @b is here */
    b->wait = NULL;
    h2o_timeout_dispose(b->th->ctx.loop, &b->zero_timeout);
}

void gw_batcher_free(gw_batcher_t *b)
{
    if (b == NULL)
        return;
    /* its batches in flight were answered in gw_redis_destroy (on_reply with NULL), and went to the spares */
    while (b->spare != NULL) {
        batch_t *bt = b->spare;
        b->spare = bt->next;
        free(bt);
    }
    free(b);
}

int gw_batcher_held(const gw_batcher_t *b)
{
    return b->held;
}

void gw_batcher_add(gw_batcher_t *b, gw_req_t *r, int quantity)
{
    if (b->held + gw_soldout_held(b->soldout) >= b->held_max) {
        /* Redis is slow or stalled: refuse now rather than queue behind it. */
        count(b->th, GW_CLAIM_UNAVAILABLE);
        gw_metrics_add(&b->th->metrics.shed[GW_SHED_REDIS_INFLIGHT], 1);
        gw_reply_error(r, 503, "unavailable", "too many claims are waiting for redis; retry shortly");
        return;
    }
    batch_t **link = &b->open, *bt;
    while ((bt = *link) != NULL && !(bt->elen == r->elen && memcmp(bt->event_id, r->event_id, r->elen) == 0))
        link = &bt->next;
    if (bt == NULL && gw_soldout_take(b->soldout, r, quantity))
        return; /* a sold-out event's claim: checked, answered or given back in order (gw_soldout.h) */
    if (bt == NULL) {
        if ((bt = batch_new(b, r)) == NULL) {
            gw_reply_error(r, 503, "unavailable", "out of memory");
            return;
        }
        *link = bt;
    }
    bt->reqs[bt->n] = gw_req_ref(r);
    bt->qty[bt->n] = quantity;
    set_held(b, b->held + 1);
    if (++bt->n == b->max) {
        *link = bt->next; /* full: send now, keeping later arrivals for a new batch */
        send_batch(bt);
    } else if (!h2o_timeout_is_linked(&b->flush_entry)) {
        h2o_timeout_link(b->th->ctx.loop, &b->zero_timeout, &b->flush_entry);
    }
}
