/*
 * GET /v1/events/{event_id}/queue/{user_id}?wait=&tab= (a user route; the
 * router refused a path user other than the token's): where the user
 * stands, and a heartbeat. One call of lua/wq_status.lua on arrival;
 * admitted, expired (410) and unknown (404) are answered at once, and so is
 * a waiting place when wait=0; otherwise the poll is held by the thread's
 * gw_queue_hold (gw_queue_hold.h) until the admitter passes the place or
 * `wait` (default 20, at most 25 s) runs out. Over WQ_HELD_MAX held polls
 * on this thread: 503 with Retry-After.
 */
#include "gw_presence.h"
#include "gw_query.h"
#include "gw_queue.h"
#include "gw_queue_hold.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>

#define TAB_MAX 99

typedef struct {
    gw_req_t *r; /* one reference */
    int wait_s, tab;
    int64_t arrived_ms;
} status_call_t;

/* wait= and tab=; 0, or -1 with a message for a 400 in @err. Unknown parameters are ignored (cache busters). */
static int parse_query(gw_req_t *r, status_call_t *c, char *err, size_t errlen)
{
    static const char *const names[] = {"wait", "tab"};
    const char *q, *v;
    size_t qlen, vlen, pos = 0;
    unsigned seen = 0;
    int k;
    gw_query_of(r->req, &q, &qlen);
    c->wait_s = GW_QUEUE_WAIT_DEFAULT_S;
    c->tab = 0;
    while ((k = gw_query_next(q, qlen, &pos, names, 2, &seen, &v, &vlen, err, errlen)) != GW_QUERY_END) {
        int64_t x;
        if (k < 0)
            return -1;
        if (k == 0 && (gw_query_uint(v, vlen, 2, &x) != 0 || x > GW_QUEUE_WAIT_MAX_S)) {
            snprintf(err, errlen, "wait must be 0-%d seconds", GW_QUEUE_WAIT_MAX_S);
            return -1;
        }
        if (k == 1 && (gw_query_uint(v, vlen, 2, &x) != 0 || x > TAB_MAX)) {
            snprintf(err, errlen, "tab must be 0-%d", TAB_MAX);
            return -1;
        }
        if (k == 0)
            c->wait_s = (int)x;
        else
            c->tab = (int)x;
    }
    return 0;
}

static void on_status(gw_redis_t *redis, redisReply *reply, void *data)
{
    status_call_t *c = data;
    gw_req_t *r = c->r;
    (void)redis;
    gw_queue_place_t p;
    if (gw_queue_reply_place(r, reply, 0, "status", &p) == 0) {
        if (p.kind == GW_QUEUE_WAITING || p.kind == GW_QUEUE_ADMITTED)
            gw_presence_beat(r->th->presence, r->event_id, r->user_id, GW_QUEUE_PAGE, c->tab, c->arrived_ms);
        if (r->req == NULL) {
            /* the client left while Redis answered */
        } else if (p.kind != GW_QUEUE_WAITING || c->wait_s == 0) {
            gw_queue_answer(r, &p, 200);
        } else if (gw_queue_hold_held(r->th->wq_hold) >= (size_t)r->th->server->conf->wq_held_max) {
            gw_reply_error(r, 503, "unavailable", "too many waiting-room polls held on this gateway thread; retry");
        } else {
            gw_queue_hold_add(r->th->wq_hold, r, p.place, c->wait_s, c->tab);
        }
    }
    gw_req_release(r);
    free(c);
}

void gw_route_queue_status(gw_req_t *r)
{
    status_call_t *c = malloc(sizeof(*c));
    char err[128];
    if (c == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    if (parse_query(r, c, err, sizeof err) != 0) {
        free(c);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    if (c->wait_s > 0 && gw_queue_hold_held(r->th->wq_hold) >= (size_t)r->th->server->conf->wq_held_max) {
        /* shed before the work: no script call, no heartbeat (checked again when it would be held) */
        free(c);
        gw_reply_error(r, 503, "unavailable", "too many waiting-room polls held on this gateway thread; retry");
        return;
    }
    c->arrived_ms = tk_time_now_ms();
    c->r = gw_req_ref(r);
    const char *users[1] = {r->user_id};
    if (gw_queue_status_call(r->th->redis, r->event_id, r->elen, users, 1, 1, on_status, c) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
