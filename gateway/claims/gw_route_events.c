/*
 * GET /v1/events (events that are scheduled, in their priority window or open) and
 * GET /v1/events/{event_id} (one event with live stock), from Redis.
 *
 * The list costs an SMEMBERS and an HMGET per event (up to LIST_MAX) on
 * the claim connection, for an unauthenticated request. So each loop
 * thread builds it at most once per LIST_CACHE_MS: requests that arrive
 * while a round is in flight wait for that round (at most LIST_WAITERS_MAX,
 * beyond which they are shed with 503), and for LIST_CACHE_MS after it
 * started they get its body. N concurrent requests cost one Redis round.
 * Why 500 ms of staleness is acceptable: the list is informational (which
 * events exist, roughly how much is left); a claim never relies on it, the
 * claim script decides on live state, and GET /v1/events/{id} stays live.
 * An admin change (gw_route_events_changed) makes every thread's list old
 * at once, so an operator who creates or restocks an event sees it in the
 * next list (unless that request joins a round already in flight, a few ms).
 */
#include "gw_event.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

#define LIST_MAX 1000         /* events listed at most */
#define LIST_CACHE_MS 500     /* a built list is served this long after its round started */
#define LIST_WAITERS_MAX 4096 /* requests waiting on one round, at most */

static int hmget_event(gw_redis_t *redis, const char *event_id, size_t elen, gw_redis_cb cb, void *data)
{
    char key[TK_KEY_MAX];
    int klen = tk_key(TK_KEY_EV, event_id, elen, key);
    const char *argv[2 + GW_EVENT_NFIELDS] = {"HMGET", key, GW_EVENT_FIELDS};
    size_t lens[2 + GW_EVENT_NFIELDS];
    lens[1] = (size_t)klen;
    for (int i = 0; i < 2 + GW_EVENT_NFIELDS; i++) {
        if (i != 1)
            lens[i] = strlen(argv[i]);
    }
    return gw_redis_command(redis, cb, data, 2 + GW_EVENT_NFIELDS, argv, lens);
}

/* ---- one event ---------------------------------------------------------- */

void gw_reply_event_unread(gw_req_t *r, int rc)
{
    if (rc == 1 && gw_rebuild_active(r->th->server))
        gw_reply_unavailable(r, "redis"); /* it may be on its way back from MariaDB (gw_rebuild) */
    else if (rc == 1)
        gw_reply_errorf(r, 404, "not_found", "no event %s", r->event_id);
    else if (rc == -2)
        gw_reply_unavailable(r, "redis");
    else
        gw_reply_error(r, 500, "internal", "malformed event record");
}

static void on_event(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_req_t *r = data;
    (void)redis;
    gw_event_t ev;
    int rc = reply != NULL ? gw_event_from_hmget(reply, r->event_id, r->elen, &ev) : -2;
    if (rc == 0) {
        char body[GW_EVENT_JSON_MAX];
        int n = gw_event_json(&ev, tk_time_now_ms(), body);
        gw_reply(r, 200, body, (size_t)n, NULL);
    } else {
        gw_reply_event_unread(r, rc);
    }
    gw_req_release(r);
}

void gw_route_event_get(gw_req_t *r)
{
    if (hmget_event(r->th->redis, r->event_id, r->elen, on_event, gw_req_ref(r)) != 0) {
        gw_req_release(r);
        gw_reply_unavailable(r, "redis");
    }
}

/* ---- the list ----------------------------------------------------------- */

typedef struct {
    gw_req_t **waiters; /* answered when the round ends; one reference each */
    int nwait, capw;
    int64_t started_ms; /* tk_time_mono_ms */
    uint64_t gen;       /* the admin generation when it started */
    int waiting, failed, n;
    char (*ids)[TK_ID_MAX + 1];
    gw_event_t *events; /* n slots; a slot with event_id "" was not listed */
} list_t;

/* This loop thread's last list and the round building the next. */
typedef struct {
    char *body; /* malloc'ed JSON, NULL until a round succeeded */
    size_t len;
    int64_t built_ms;    /* when the round that built it started */
    uint64_t built_gen; /* the admin generation then */
    list_t *round;       /* in flight, or NULL */
} list_cache_t;

static __thread list_cache_t cache;
static uint64_t generation; /* bumped by every admin change (atomic) */

void gw_route_events_changed(void)
{
    __atomic_add_fetch(&generation, 1, __ATOMIC_RELAXED);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const gw_event_t *)a)->event_id, ((const gw_event_t *)b)->event_id);
}

/* The list's JSON (malloc'ed, owned by the caller) into @out; -1 on no memory. */
static int list_body(list_t *l, char **out, size_t *outlen)
{
    int64_t now = tk_time_now_ms();
    qsort(l->events, (size_t)l->n, sizeof(l->events[0]), by_id);
    size_t cap = 32 + (size_t)l->n * (GW_EVENT_JSON_MAX + 1), len = 0;
    char *body = malloc(cap);
    if (body == NULL)
        return -1;
    len += (size_t)sprintf(body, "{\"events\":[");
    int first = 1;
    for (int i = 0; i < l->n; i++) {
        gw_event_t *ev = &l->events[i];
        if (ev->event_id[0] == '\0')
            continue;
        const char *state = gw_event_state(ev, now);
        if (strcmp(state, "open") != 0 && strcmp(state, "scheduled") != 0 && strcmp(state, "priority") != 0)
            continue;
        if (!first)
            body[len++] = ',';
        first = 0;
        len += (size_t)gw_event_json(ev, now, body + len);
    }
    len += (size_t)sprintf(body + len, "]}");
    char *fit = realloc(body, len + 1); /* kept for LIST_CACHE_MS: no slack */
    *out = fit != NULL ? fit : body;
    *outlen = len;
    return 0;
}

static void list_finish(list_t *l)
{
    char *body = NULL;
    size_t len = 0;
    int ok = !l->failed && list_body(l, &body, &len) == 0;
    if (ok) {
        free(cache.body);
        cache.body = body;
        cache.len = len;
        cache.built_ms = l->started_ms;
        cache.built_gen = l->gen;
    }
    cache.round = NULL;
    for (int i = 0; i < l->nwait; i++) {
        gw_req_t *r = l->waiters[i];
        if (ok)
            gw_reply(r, 200, cache.body, cache.len, NULL);
        else if (l->failed)
            gw_reply_unavailable(r, "redis");
        else
            gw_reply_error(r, 503, "unavailable", "out of memory");
        gw_req_release(r);
    }
    free(l->waiters);
    free(l->ids);
    free(l->events);
    free(l);
}

typedef struct {
    list_t *list;
    int index;
} slot_t;

static void on_list_event(gw_redis_t *redis, redisReply *reply, void *data)
{
    slot_t *s = data;
    list_t *l = s->list;
    (void)redis;
    if (reply == NULL)
        l->failed = 1;
    else if (gw_event_from_hmget(reply, l->ids[s->index], strlen(l->ids[s->index]), &l->events[s->index]) != 0)
        l->events[s->index].event_id[0] = '\0'; /* deleted meanwhile, or malformed: not listed */
    free(s);
    if (--l->waiting == 0)
        list_finish(l);
}

static void on_members(gw_redis_t *redis, redisReply *reply, void *data)
{
    list_t *l = data;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        l->failed = 1;
        list_finish(l);
        return;
    }
    size_t n = reply->elements < LIST_MAX ? reply->elements : LIST_MAX;
    l->ids = calloc(n + 1, sizeof(*l->ids));
    l->events = calloc(n + 1, sizeof(*l->events));
    if (l->ids == NULL || l->events == NULL) {
        l->failed = 1;
        list_finish(l);
        return;
    }
    l->waiting = 1; /* held until every HMGET is sent */
    for (size_t i = 0; i < n; i++) {
        redisReply *m = reply->element[i];
        if (m->type != REDIS_REPLY_STRING || !tk_valid_event_id(m->str, m->len))
            continue;
        int idx = l->n++;
        memcpy(l->ids[idx], m->str, m->len);
        l->ids[idx][m->len] = '\0';
        slot_t *s = malloc(sizeof(*s));
        if (s == NULL) {
            l->failed = 1;
            break;
        }
        *s = (slot_t){l, idx};
        l->waiting++;
        if (hmget_event(redis, m->str, m->len, on_list_event, s) != 0) {
            l->waiting--;
            l->failed = 1;
            free(s);
            break;
        }
    }
    if (--l->waiting == 0)
        list_finish(l);
}

void gw_route_events_list(gw_req_t *r)
{
    int64_t now = tk_time_mono_ms();
    uint64_t gen = __atomic_load_n(&generation, __ATOMIC_RELAXED);
    if (cache.body != NULL && now - cache.built_ms < LIST_CACHE_MS && cache.built_gen == gen) {
        gw_reply(r, 200, cache.body, cache.len, NULL);
        return;
    }
    list_t *l = cache.round;
    if (l != NULL && l->nwait >= LIST_WAITERS_MAX) {
        gw_metrics_add(&r->th->metrics.shed[GW_SHED_EVENTS_WAITERS], 1);
        gw_reply_error(r, 503, "unavailable", "too many requests are waiting for the event list; retry shortly");
        return;
    }
    int start = l == NULL;
    if (start && (l = calloc(1, sizeof(*l))) == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    if (l->nwait == l->capw) {
        int cap = l->capw == 0 ? 16 : l->capw * 2;
        gw_req_t **w = realloc(l->waiters, (size_t)cap * sizeof(*w));
        if (w == NULL) {
            if (start)
                free(l);
            gw_reply_error(r, 503, "unavailable", "out of memory");
            return;
        }
        l->waiters = w;
        l->capw = cap;
    }
    l->waiters[l->nwait++] = gw_req_ref(r);
    if (!start)
        return; /* answered when the round in flight ends */
    l->started_ms = now;
    l->gen = gen;
    cache.round = l;
    const char *argv[] = {"SMEMBERS", TK_KEY_EVENTS};
    size_t lens[] = {8, strlen(TK_KEY_EVENTS)};
    if (gw_redis_command(r->th->redis, on_members, l, 2, argv, lens) != 0) {
        l->failed = 1;
        list_finish(l);
    }
}

void gw_route_events_dispose(void)
{
    free(cache.body);
    cache.body = NULL;
    cache.len = 0;
}
