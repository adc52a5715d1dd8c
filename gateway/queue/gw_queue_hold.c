#include "gw_queue_hold.h"
#include "gw_presence.h"
#include "gw_queue.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hold_ev hold_ev_t;

typedef struct {
    h2o_linklist_t link; /* in its hold_ev_t's waiters, or unlinked while resolved */
    gw_req_t *r;         /* one reference held */
    int64_t place;
    int64_t deadline_ms; /* monotonic */
    int tab;
} waiter_t;

struct hold_ev {
    hold_ev_t *next;
    gw_queue_hold_t *h;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    h2o_linklist_t waiters;
    size_t n;
    int reading; /* an HGET of serving is unanswered (its callback holds this record) */
};

/* One wq_status.lua call for some waiters of one event: owns them until answered. */
typedef struct {
    gw_queue_hold_t *h;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    int n;
    waiter_t *w[GW_QUEUE_HOLD_BATCH_MAX];
} resolve_t;

struct st_gw_queue_hold_t {
    gw_thread_t *th;
    hold_ev_t *events;
    size_t held; /* on lists and being resolved */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
};

size_t gw_queue_hold_held(const gw_queue_hold_t *h)
{
    return h->held;
}

static void count(gw_queue_hold_t *h, int delta)
{
    h->held = (size_t)((int64_t)h->held + delta);
    __atomic_store_n(&h->th->metrics.wq_held, (uint64_t)h->held, __ATOMIC_RELAXED); /* a gauge /metrics sums */
}

/* Answers @wt from @p (NULL: 503 unless the client left) and frees it. */
static void finish(gw_queue_hold_t *h, waiter_t *wt, const gw_queue_place_t *p)
{
    gw_req_t *r = wt->r;
    if (r->req != NULL && p != NULL) {
        gw_presence_beat(h->th->presence, r->event_id, r->user_id, GW_QUEUE_PAGE, wt->tab, tk_time_now_ms());
        gw_queue_answer(r, p, 200);
    } else if (r->req != NULL) {
        gw_reply_unavailable(r, "redis");
    }
    gw_req_release(r);
    free(wt);
    count(h, -1);
}

static void on_resolved(gw_redis_t *redis, redisReply *reply, void *data)
{
    resolve_t *b = data;
    (void)redis;
    int ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY;
    const char *refusal = ok && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_STRING ? reply->element[0]->str : NULL;
    ok = ok && (refusal != NULL || reply->elements == (size_t)b->n * GW_QUEUE_ITEMS);
    for (int i = 0; i < b->n; i++) {
        waiter_t *wt = b->w[i];
        gw_queue_place_t p;
        if (ok && refusal != NULL && wt->r->req != NULL) {
            gw_queue_refuse(wt->r, refusal); /* the event or its room went away while held */
            gw_req_release(wt->r);
            free(wt);
            count(b->h, -1);
        } else if (ok && refusal == NULL && gw_queue_place_parse(reply->element + (size_t)i * GW_QUEUE_ITEMS, &p) == 0) {
            finish(b->h, wt, &p);
        } else {
            finish(b->h, wt, NULL);
        }
    }
    free(b);
}

/* Sends one resolve call for @b (its waiters already unlinked); on failure answers them 503. */
static void send_resolve(resolve_t *b)
{
    const char *users[GW_QUEUE_HOLD_BATCH_MAX];
    for (int i = 0; i < b->n; i++)
        users[i] = b->w[i]->r->user_id;
    if (gw_queue_status_call(b->h->th->redis, b->event_id, b->elen, users, b->n, 1, on_resolved, b) != 0)
        on_resolved(NULL, NULL, b);
}

/* Moves the waiters of @e that @pick accepts into resolve calls (up to GW_QUEUE_HOLD_BATCH_MAX users each). */
static void resolve_some(hold_ev_t *e, int (*pick)(const waiter_t *, int64_t), int64_t arg)
{
    resolve_t *b = NULL;
    h2o_linklist_t *node = e->waiters.next;
    while (node != &e->waiters) {
        waiter_t *wt = H2O_STRUCT_FROM_MEMBER(waiter_t, link, node);
        node = node->next;
        if (!pick(wt, arg))
            continue;
        if (b == NULL) {
            if ((b = malloc(sizeof(*b))) == NULL)
                return; /* no memory: they stay held, tried again on the next tick */
            b->h = e->h;
            memcpy(b->event_id, e->event_id, e->elen + 1);
            b->elen = e->elen;
            b->n = 0;
        }
        h2o_linklist_unlink(&wt->link);
        e->n--;
        b->w[b->n++] = wt;
        if (b->n == GW_QUEUE_HOLD_BATCH_MAX) {
            send_resolve(b);
            b = NULL;
        }
    }
    if (b != NULL)
        send_resolve(b);
}

static int passed(const waiter_t *wt, int64_t serving)
{
    return wt->place <= serving;
}

static int due(const waiter_t *wt, int64_t mono)
{
    return mono >= wt->deadline_ms;
}

static void on_serving(gw_redis_t *redis, redisReply *reply, void *data)
{
    hold_ev_t *e = data;
    (void)redis;
    e->reading = 0;
    /* NULL or nil: Redis is away or nothing passed yet; the waiters keep waiting, then time out */
    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        resolve_some(e, passed, strtoll(reply->str, NULL, 10));
}

static void read_serving(hold_ev_t *e)
{
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_WQ, e->event_id, e->elen, key);
    const char *argv[3] = {"HGET", key, "serving"};
    size_t lens[3] = {4, strlen(key), 7};
    if (gw_redis_command(e->h->th->redis, on_serving, e, 3, argv, lens) == 0)
        e->reading = 1;
}

/*
 * Every tick: drops the waiters whose client left, resolves those whose
 * wait ran out (every one when the thread stops), frees the events left
 * without waiters, and reads `serving` of the others, once per event.
 */
static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_queue_hold_t *h = H2O_STRUCT_FROM_MEMBER(gw_queue_hold_t, tick_entry, entry);
    int64_t mono = tk_time_mono_ms();
    int stopping = h->th->stopping;
    for (hold_ev_t **pe = &h->events; *pe != NULL;) {
        hold_ev_t *e = *pe;
        h2o_linklist_t *node = e->waiters.next;
        while (node != &e->waiters) {
            waiter_t *wt = H2O_STRUCT_FROM_MEMBER(waiter_t, link, node);
            node = node->next;
            if (wt->r->req == NULL) {
                h2o_linklist_unlink(&wt->link);
                e->n--;
                finish(h, wt, NULL);
            }
        }
        resolve_some(e, due, stopping ? INT64_MAX : mono);
        if (e->n == 0 && !e->reading) {
            *pe = e->next;
            free(e);
            continue;
        }
        if (e->n > 0 && !e->reading && !stopping)
            read_serving(e);
        pe = &e->next;
    }
    if (!h2o_timeout_is_linked(&h->tick_entry))
        h2o_timeout_link(h->th->ctx.loop, &h->tick, &h->tick_entry);
}

gw_queue_hold_t *gw_queue_hold_create(gw_thread_t *th)
{
    gw_queue_hold_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->th = th;
    h2o_timeout_init(th->ctx.loop, &h->tick, GW_QUEUE_HOLD_TICK_MS);
    h->tick_entry.cb = on_tick;
    h2o_timeout_link(th->ctx.loop, &h->tick, &h->tick_entry);
    return h;
}

void gw_queue_hold_destroy(gw_queue_hold_t *h)
{
    if (h == NULL)
        return;
    if (h2o_timeout_is_linked(&h->tick_entry))
        h2o_timeout_unlink(&h->tick_entry);
    h2o_timeout_dispose(h->th->ctx.loop, &h->tick);
    while (h->events != NULL) {
        hold_ev_t *e = h->events;
        h->events = e->next;
        while (!h2o_linklist_is_empty(&e->waiters)) {
            waiter_t *wt = H2O_STRUCT_FROM_MEMBER(waiter_t, link, e->waiters.next);
            h2o_linklist_unlink(&wt->link);
            finish(h, wt, NULL);
        }
        free(e);
    }
    free(h);
}

void gw_queue_hold_add(gw_queue_hold_t *h, gw_req_t *r, int64_t place, int wait_s, int tab)
{
    hold_ev_t *e = h->events;
    while (e != NULL && !(e->elen == r->elen && memcmp(e->event_id, r->event_id, r->elen) == 0))
        e = e->next;
    waiter_t *wt = calloc(1, sizeof(*wt));
    if (e == NULL && wt != NULL && (e = calloc(1, sizeof(*e))) != NULL) {
        e->h = h;
        memcpy(e->event_id, r->event_id, r->elen + 1);
        e->elen = r->elen;
        h2o_linklist_init_anchor(&e->waiters);
        e->next = h->events;
        h->events = e;
    }
    if (e == NULL || wt == NULL) {
        free(wt);
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    wt->r = gw_req_ref(r);
    wt->place = place;
    wt->tab = tab;
    wt->deadline_ms = tk_time_mono_ms() + (int64_t)wait_s * 1000;
    h2o_linklist_insert(&e->waiters, &wt->link);
    e->n++;
    count(h, 1);
}
