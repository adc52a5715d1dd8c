/*
 * GET /v1/events (events that are scheduled or open) and
 * GET /v1/events/{event_id} (one event with live stock), from Redis.
 */
#include "gw_event.h"
#include "gw_rebuild.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

#define LIST_MAX 1000 /* events listed at most */

static int hmget_event(gw_req_t *r, const char *event_id, size_t elen, gw_redis_cb cb, void *data)
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
    return gw_redis_command(r->th->redis, cb, data, 2 + GW_EVENT_NFIELDS, argv, lens);
}

/* ---- one event ---------------------------------------------------------- */

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
    } else if (rc == 1 && gw_rebuild_active(r->th->server)) {
        gw_reply_unavailable(r, "redis"); /* it may be on its way back from MariaDB (gw_rebuild) */
    } else if (rc == 1) {
        gw_reply_errorf(r, 404, "not_found", "no event %s", r->event_id);
    } else if (rc == -2) {
        gw_reply_unavailable(r, "redis");
    } else {
        gw_reply_error(r, 500, "internal", "malformed event record");
    }
    gw_req_release(r);
}

void gw_route_event_get(gw_req_t *r)
{
    if (hmget_event(r, r->event_id, r->elen, on_event, gw_req_ref(r)) != 0) {
        gw_req_release(r);
        gw_reply_unavailable(r, "redis");
    }
}

/* ---- the list ----------------------------------------------------------- */

typedef struct {
    gw_req_t *r;
    int waiting, failed, n;
    char (*ids)[TK_ID_MAX + 1];
    gw_event_t *events; /* n slots; a slot with event_id "" was not listed */
} list_t;

static int by_id(const void *a, const void *b)
{
    return strcmp(((const gw_event_t *)a)->event_id, ((const gw_event_t *)b)->event_id);
}

static void list_finish(list_t *l)
{
    gw_req_t *r = l->r;
    if (l->failed) {
        gw_reply_unavailable(r, "redis");
    } else {
        int64_t now = tk_time_now_ms();
        qsort(l->events, (size_t)l->n, sizeof(l->events[0]), by_id);
        size_t cap = 32 + (size_t)l->n * (GW_EVENT_JSON_MAX + 1), len = 0;
        char *body = malloc(cap);
        if (body == NULL) {
            gw_reply_error(r, 503, "unavailable", "out of memory");
        } else {
            len += (size_t)sprintf(body, "{\"events\":[");
            int first = 1;
            for (int i = 0; i < l->n; i++) {
                gw_event_t *ev = &l->events[i];
                if (ev->event_id[0] == '\0')
                    continue;
                const char *state = gw_event_state(ev, now);
                if (strcmp(state, "open") != 0 && strcmp(state, "scheduled") != 0)
                    continue;
                if (!first)
                    body[len++] = ',';
                first = 0;
                len += (size_t)gw_event_json(ev, now, body + len);
            }
            len += (size_t)sprintf(body + len, "]}");
            gw_reply(r, 200, body, len, NULL);
            free(body);
        }
    }
    gw_req_release(r);
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
    (void)redis;
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
        if (hmget_event(l->r, m->str, m->len, on_list_event, s) != 0) {
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
    list_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    l->r = gw_req_ref(r);
    const char *argv[] = {"SMEMBERS", TK_KEY_EVENTS};
    size_t lens[] = {8, strlen(TK_KEY_EVENTS)};
    if (gw_redis_command(r->th->redis, on_members, l, 2, argv, lens) != 0) {
        l->failed = 1;
        list_finish(l);
    }
}
