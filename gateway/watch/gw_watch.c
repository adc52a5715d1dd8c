#include "gw_watch.h"
#include "gw_presence.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct watch_ev watch_ev_t;

typedef struct {
    h2o_linklist_t link; /* in its watch_ev_t's waiters */
    gw_req_t *r;         /* one reference held */
    int64_t since;
    int64_t deadline_ms; /* monotonic */
    char page[GW_WATCH_PAGE_MAX + 1];
    int tab;
} waiter_t;

struct watch_ev {
    watch_ev_t *next;
    gw_watch_t *w;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    h2o_linklist_t waiters;
    size_t n;
    int reading;       /* replies of a version read still to come (their callbacks hold this record) */
    int got;           /* the read's HMGET: 0 read into fresh, 1 no such event, -1 failed */
    gw_event_t fresh;  /* the read's event, until its ZCOUNT is answered too */
    gw_event_t snap;   /* the last read: the answer of a wait that runs out */
    int64_t watching;  /* users present on the event at the last read */
};

struct st_gw_watch_t {
    gw_thread_t *th;
    watch_ev_t *events;
    size_t held;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
};

int gw_watch_body(const gw_event_t *ev, int64_t now_ms, int64_t watching, char *out)
{
    char evjson[GW_EVENT_JSON_MAX];
    gw_event_json(ev, now_ms, evjson);
    return snprintf(out, GW_WATCH_BODY_MAX, "{\"event\":%s,\"version\":%lld,\"watching\":%lld}", evjson,
                    (long long)gw_event_version(ev, now_ms), (long long)watching);
}

size_t gw_watch_held(const gw_watch_t *w)
{
    return w->held;
}

/* The /metrics gauge tk_watch_held: a copy the scraping thread may read (gw_metrics_sum). */
static void set_held_gauge(gw_watch_t *w)
{
    __atomic_store_n(&w->th->metrics.watch_held, (uint64_t)w->held, __ATOMIC_RELAXED);
}

static watch_ev_t *find_ev(gw_watch_t *w, const char *id, size_t len)
{
    for (watch_ev_t *e = w->events; e != NULL; e = e->next)
        if (e->elen == len && memcmp(e->event_id, id, len) == 0)
            return e;
    return NULL;
}

/* Unlinks @wt, answers it (unless its client is gone) and frees it. @status 0: drop without answering. */
static void finish(watch_ev_t *e, waiter_t *wt, int status, const char *body, size_t len)
{
    h2o_linklist_unlink(&wt->link);
    e->n--;
    e->w->held--;
    set_held_gauge(e->w);
    if (status == 200 && wt->r->req != NULL) {
        gw_reply(wt->r, 200, body, len, NULL);
        /* answering a held watch is a heartbeat too (docs/API.md) */
        gw_presence_beat(e->w->th->presence, e->event_id, wt->r->user_id, wt->page, wt->tab, tk_time_now_ms());
    } else if (status == 404)
        gw_reply_errorf(wt->r, 404, "not_found", "no event %s", e->event_id);
    else if (status == 503)
        gw_reply_unavailable(wt->r, "redis");
    gw_req_release(wt->r);
    free(wt);
}

/* Answers every waiter of @e whose since differs from the version of e->snap now. */
static void answer_moved(watch_ev_t *e, int64_t now_ms)
{
    int64_t version = gw_event_version(&e->snap, now_ms);
    char body[GW_WATCH_BODY_MAX];
    int len = -1; /* built once, for the first waiter that needs it */
    h2o_linklist_t *node = e->waiters.next;
    while (node != &e->waiters) {
        waiter_t *wt = H2O_STRUCT_FROM_MEMBER(waiter_t, link, node);
        node = node->next;
        if (wt->since == version)
            continue;
        if (len < 0)
            len = gw_watch_body(&e->snap, now_ms, e->watching, body);
        finish(e, wt, 200, body, (size_t)len);
    }
}

static void on_version(gw_redis_t *redis, redisReply *reply, void *data)
{
    watch_ev_t *e = data;
    (void)redis;
    e->reading--;
    /* NULL: Redis is away; the waiters keep waiting, then time out with the last version */
    e->got = reply == NULL ? -1 : gw_event_from_hmget(reply, e->event_id, e->elen, &e->fresh);
}

/* The read's second reply (sent right after the HMGET, so it comes last): acts on both. */
static void on_watching(gw_redis_t *redis, redisReply *reply, void *data)
{
    watch_ev_t *e = data;
    (void)redis;
    e->reading--;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        e->watching = reply->integer;
    if (e->got == 1 && !gw_rebuild_active(e->w->th->server)) {
        /* gone for good (while events are rebuilt from MariaDB it may come back: keep waiting) */
        while (!h2o_linklist_is_empty(&e->waiters))
            finish(e, H2O_STRUCT_FROM_MEMBER(waiter_t, link, e->waiters.next), 404, NULL, 0);
    } else if (e->got == 0) {
        e->snap = e->fresh;
        answer_moved(e, tk_time_now_ms());
    }
    e->got = -1;
}

static void read_version(watch_ev_t *e)
{
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_EV, e->event_id, e->elen, key);
    const char *argv[2 + GW_EVENT_NFIELDS] = {"HMGET", key, GW_EVENT_FIELDS};
    size_t lens[2 + GW_EVENT_NFIELDS];
    for (int i = 0; i < 2 + GW_EVENT_NFIELDS; i++)
        lens[i] = strlen(argv[i]);
    if (gw_redis_command(e->w->th->redis, on_version, e, 2 + GW_EVENT_NFIELDS, argv, lens) != 0)
        return;
    e->reading++;
    e->got = -1;
    char pkey[TK_KEY_MAX], min[32];
    tk_key(TK_KEY_PRESENCE, e->event_id, e->elen, pkey);
    gw_presence_min_arg(tk_time_now_ms(), min);
    const char *zargv[4] = {"ZCOUNT", pkey, min, "+inf"};
    size_t zlens[4] = {6, strlen(pkey), strlen(min), 4};
    if (gw_redis_command(e->w->th->redis, on_watching, e, 4, zargv, zlens) == 0)
        e->reading++;
}

/*
 * Every tick: drops the waiters whose client left, answers those whose
 * wait ran out (every one when the thread stops), frees the events left
 * without waiters, and reads the version of the others, once per event.
 */
static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_watch_t *w = H2O_STRUCT_FROM_MEMBER(gw_watch_t, tick_entry, entry);
    int64_t mono = tk_time_mono_ms(), now = tk_time_now_ms();
    int stopping = w->th->stopping;
    for (watch_ev_t **pe = &w->events; *pe != NULL;) {
        watch_ev_t *e = *pe;
        char body[GW_WATCH_BODY_MAX];
        int len = -1;
        h2o_linklist_t *node = e->waiters.next;
        while (node != &e->waiters) {
            waiter_t *wt = H2O_STRUCT_FROM_MEMBER(waiter_t, link, node);
            node = node->next;
            if (wt->r->req == NULL) {
                finish(e, wt, 0, NULL, 0);
            } else if (stopping || mono >= wt->deadline_ms) {
                if (len < 0)
                    len = gw_watch_body(&e->snap, now, e->watching, body);
                finish(e, wt, 200, body, (size_t)len);
            }
        }
        if (e->n == 0 && !e->reading) {
            *pe = e->next;
            free(e);
            continue;
        }
        if (e->n > 0 && !e->reading && !stopping)
            read_version(e);
        pe = &e->next;
    }
    if (!h2o_timeout_is_linked(&w->tick_entry))
        h2o_timeout_link(w->th->ctx.loop, &w->tick, &w->tick_entry);
}

gw_watch_t *gw_watch_create(gw_thread_t *th)
{
    gw_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->th = th;
    h2o_timeout_init(th->ctx.loop, &w->tick, GW_WATCH_TICK_MS);
    w->tick_entry.cb = on_tick;
    h2o_timeout_link(th->ctx.loop, &w->tick, &w->tick_entry);
    return w;
}

void gw_watch_destroy(gw_watch_t *w)
{
    if (w == NULL)
        return;
    if (h2o_timeout_is_linked(&w->tick_entry))
        h2o_timeout_unlink(&w->tick_entry);
    h2o_timeout_dispose(w->th->ctx.loop, &w->tick);
    while (w->events != NULL) {
        watch_ev_t *e = w->events;
        w->events = e->next;
        while (!h2o_linklist_is_empty(&e->waiters))
            finish(e, H2O_STRUCT_FROM_MEMBER(waiter_t, link, e->waiters.next), 503, NULL, 0);
        free(e);
    }
    free(w);
}

void gw_watch_hold(gw_watch_t *w, gw_req_t *r, int64_t since, int wait_s, const char *page, int tab, const gw_event_t *ev, int64_t watching)
{
    watch_ev_t *e = find_ev(w, r->event_id, r->elen);
    waiter_t *wt = calloc(1, sizeof(*wt)); /* zeroed: an unlinked link */
    if (e == NULL && wt != NULL) {
        if ((e = calloc(1, sizeof(*e))) != NULL) {
            e->w = w;
            memcpy(e->event_id, r->event_id, r->elen + 1);
            e->elen = r->elen;
            h2o_linklist_init_anchor(&e->waiters);
            e->next = w->events;
            w->events = e;
        }
    }
    if (e == NULL || wt == NULL) {
        free(wt);
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    e->snap = *ev; /* the latest reply on this connection: Redis answers in order */
    e->watching = watching;
    snprintf(wt->page, sizeof wt->page, "%s", page);
    wt->tab = tab;
    wt->r = gw_req_ref(r);
    wt->since = since;
    wt->deadline_ms = tk_time_mono_ms() + (int64_t)wait_s * 1000;
    h2o_linklist_insert(&e->waiters, &wt->link);
    e->n++;
    w->held++;
    set_held_gauge(w);
}
