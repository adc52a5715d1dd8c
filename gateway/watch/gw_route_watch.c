/*
 * GET /v1/events/{event_id}/watch?since=&page=&tab=&wait= (a user route):
 * answers at once when the event's version differs from `since` (or `wait`
 * is 0), else hands the request to the thread's gw_watch (gw_watch.h).
 * One HMGET of the event when the request arrives; none while it is held.
 */
#include "gw_event.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "gw_watch.h"
#include "gw_watch_query.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_req_t *r; /* one reference */
    gw_watch_query_t q;
} watch_call_t;

static void on_event(gw_redis_t *redis, redisReply *reply, void *data)
{
    watch_call_t *c = data;
    gw_req_t *r = c->r;
    (void)redis;
    gw_event_t ev;
    int rc = reply != NULL ? gw_event_from_hmget(reply, r->event_id, r->elen, &ev) : -2;
    int64_t now = tk_time_now_ms();
    if (r->req == NULL) {
        /* the client left while the event was read */
    } else if (rc == 0 && (c->q.since != gw_event_version(&ev, now) || c->q.wait_s == 0)) {
        char body[GW_WATCH_BODY_MAX];
        int n = gw_watch_body(&ev, now, 0, body);
        gw_reply(r, 200, body, (size_t)n, NULL);
    } else if (rc == 0 && gw_watch_held(r->th->watch) >= (size_t)r->th->server->conf->watch_held_max) {
        gw_reply_error(r, 503, "unavailable", "too many watches held on this gateway thread; retry");
    } else if (rc == 0) {
        gw_watch_hold(r->th->watch, r, c->q.since, c->q.wait_s, &ev);
    } else if (rc == 1 && gw_rebuild_active(r->th->server)) {
        gw_reply_unavailable(r, "redis");
    } else if (rc == 1) {
        gw_reply_errorf(r, 404, "not_found", "no event %s", r->event_id);
    } else if (rc == -2) {
        gw_reply_unavailable(r, "redis");
    } else {
        gw_reply_error(r, 500, "internal", "malformed event record");
    }
    gw_req_release(r);
    free(c);
}

void gw_route_watch(gw_req_t *r)
{
    h2o_req_t *req = r->req;
    watch_call_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    char err[128];
    const char *q = NULL;
    size_t qlen = 0;
    if (req->query_at != SIZE_MAX) {
        q = req->path.base + req->query_at + 1;
        qlen = req->path.len - req->query_at - 1;
    }
    if (gw_watch_query_parse(q, qlen, &c->q, err, sizeof(err)) != 0) {
        free(c);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    if (r->sublen == 0) { /* USER_AUTH=off: who is watching comes from the query, as the claim's body user in v1 */
        if (c->q.ulen == 0) {
            free(c);
            gw_reply_error(r, 400, "bad_request", "user_id is required (USER_AUTH=off)");
            return;
        }
        memcpy(r->user_id, c->q.user_id, c->q.ulen + 1);
        r->ulen = c->q.ulen;
    } else if (c->q.ulen > 0 && (c->q.ulen != r->sublen || memcmp(c->q.user_id, r->sub, r->sublen) != 0)) {
        free(c);
        gw_reply_error(r, 403, "forbidden", "user_id must be the user token's own (sub), or left out");
        return;
    }
    if (gw_watch_held(r->th->watch) >= (size_t)r->th->server->conf->watch_held_max) {
        free(c);
        gw_reply_error(r, 503, "unavailable", "too many watches held on this gateway thread; retry");
        return;
    }
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_EV, r->event_id, r->elen, key);
    const char *argv[2 + GW_EVENT_NFIELDS] = {"HMGET", key, GW_EVENT_FIELDS};
    size_t lens[2 + GW_EVENT_NFIELDS];
    for (int i = 0; i < 2 + GW_EVENT_NFIELDS; i++)
        lens[i] = strlen(argv[i]);
    c->r = gw_req_ref(r);
    if (gw_redis_command(r->th->redis, on_event, c, 2 + GW_EVENT_NFIELDS, argv, lens) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
