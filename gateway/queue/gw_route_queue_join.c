/*
 * POST /v1/events/{event_id}/queue (a user route): the caller's place in
 * the event's waiting room, 201 when this join made it, 200 when it was
 * theirs already (every tab of a user shares one place) or they are
 * admitted. One call of lua/wq_join.lua; the refusals of docs/API.md
 * change nothing. The body is optional: {} or {"user_id":…}, the user
 * being the token's (with USER_AUTH=off the body names it, as a claim's).
 * A join that got a place is a heartbeat (page "queue", gw_presence.h).
 */
#include "gw_presence.h"
#include "gw_queue.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "tk_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_req_t *r; /* one reference */
    int64_t now_ms;
} join_call_t;

/* The body's optional "user_id" into r->user_id when given; 0, or -1 with @r answered 400. */
static int take_body_user(gw_req_t *r)
{
    h2o_iovec_t e = r->req->entity;
    if (e.base == NULL || e.len == 0)
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb(e.base, e.len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        gw_reply_error(r, 400, "bad_request", "the body must be a JSON object (or empty)");
        return -1;
    }
    json_t *u = json_object_get(root, "user_id");
    int rc = 0;
    if (u != NULL) {
        const char *s = json_string_value(u);
        size_t n = s != NULL ? json_string_length(u) : 0;
        if (s == NULL || !tk_valid_user_id(s, n)) {
            gw_reply_error(r, 400, "bad_request", "user_id must be 1-64 of [A-Za-z0-9_.:@-]");
            rc = -1;
        } else if (r->sublen > 0 && (n != r->sublen || memcmp(s, r->sub, n) != 0)) {
            gw_reply_error(r, 403, "forbidden", "user_id must be the user token's own (sub), or left out");
            rc = -1;
        } else {
            memcpy(r->user_id, s, n + 1);
            r->ulen = n;
        }
    }
    json_decref(root);
    return rc;
}

static void on_join(gw_redis_t *redis, redisReply *reply, void *data)
{
    join_call_t *c = data;
    gw_req_t *r = c->r;
    (void)redis;
    gw_queue_place_t p;
    if (gw_queue_reply_place(r, reply, 1, "join", &p) == 0) {
        int created = reply->element[0]->integer == 1;
        if (created)
            gw_metrics_add(&r->th->metrics.wq_joined, 1);
        gw_presence_beat(r->th->presence, r->event_id, r->user_id, GW_QUEUE_PAGE, 0, c->now_ms);
        gw_queue_answer(r, &p, created ? 201 : 200);
    }
    gw_req_release(r);
    free(c);
}

void gw_route_queue_join(gw_req_t *r)
{
    if (take_body_user(r) != 0)
        return;
    if (r->sublen == 0 && r->ulen == 0) {
        gw_reply_error(r, 400, "bad_request", "user_id is required (USER_AUTH=off)");
        return;
    }
    join_call_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    char keys[GW_QUEUE_NKEYS][TK_KEY_MAX];
    gw_queue_keys(r->event_id, r->elen, keys);
    c->now_ms = tk_time_now_ms(); /* the presence page's beat only: the room itself runs on Redis's clock */
    /* the room's keys, tk:wq:rooms (a new place lists the room again), then the user and the event */
    const char *argv[GW_QUEUE_NKEYS + 3];
    size_t lens[GW_QUEUE_NKEYS + 3];
    for (int i = 0; i < GW_QUEUE_NKEYS; i++)
        argv[i] = keys[i];
    argv[GW_QUEUE_NKEYS] = TK_KEY_WQ_ROOMS;
    argv[GW_QUEUE_NKEYS + 1] = r->user_id;
    argv[GW_QUEUE_NKEYS + 2] = r->event_id;
    for (int i = 0; i < GW_QUEUE_NKEYS + 3; i++)
        lens[i] = strlen(argv[i]);
    c->r = gw_req_ref(r);
    if (gw_redis_script(r->th->redis, GW_SCRIPT_WQ_JOIN, on_join, c, GW_QUEUE_NKEYS + 1, GW_QUEUE_NKEYS + 3, argv, lens) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
