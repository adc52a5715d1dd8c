/*
 * POST /v1/events/{event_id}/queue (a user route): the caller's place in
 * the event's waiting room, 201 when this join made it, 200 when it was
 * theirs already (every tab of a user shares one place) or they are
 * admitted. One call of lua/wq_join.lua; the refusals of docs/API.md
 * change nothing. The body is optional: {} or {"user_id":…}, the user
 * being the token's (with USER_AUTH=off the body names it, as a claim's).
 * A join that got a place is a heartbeat (page "queue", gw_presence.h).
 *
 * The room's listing in tk:wq:rooms (the admitter's work) is a command of
 * its own, sent after the script answered "waiting"; the answer goes out
 * once Redis has run it (so a client answered "waiting" is in a listed
 * room): on a Redis Cluster the set is in another slot than the room's
 * keys, so the script cannot write it (issue 15). After, not before:
 * the admitter may drop a sold-out room with an empty line at any moment
 * and then re-checks it once (gw_admitter.h); a SADD sent after the place
 * exists either comes after that drop (the room is listed) or before it
 * (then the re-check sees the place and lists the room again). A gateway
 * that dies between the two never answered, so the user's retry, which
 * answers the same place, lists the room.
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
    gw_queue_place_t p; /* the script's answer, kept while the room's SADD is in flight */
    int status;         /* 201 or 200 */
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

/* Answers the join from c->p and frees @c. */
static void answer(join_call_t *c)
{
    gw_queue_answer(c->r, &c->p, c->status);
    gw_req_release(c->r);
    free(c);
}

static void on_listed(gw_redis_t *redis, redisReply *reply, void *data)
{
    (void)redis;
    (void)reply; /* an error is Redis away: the place stands, and the user's next join lists the room */
    answer(data);
}

/* SADD tk:wq:rooms for the event of @c, whose user waits; the answer goes out once Redis has run it. */
static void list_room(join_call_t *c)
{
    gw_req_t *r = c->r;
    const char *argv[3] = {"SADD", TK_KEY_WQ_ROOMS, r->event_id};
    size_t lens[3] = {4, strlen(TK_KEY_WQ_ROOMS), r->elen};
    if (gw_redis_command(r->th->redis, on_listed, c, 3, argv, lens) != 0)
        answer(c); /* Redis gone since the script answered: the retry lists the room */
}

static void on_join(gw_redis_t *redis, redisReply *reply, void *data)
{
    join_call_t *c = data;
    gw_req_t *r = c->r;
    (void)redis;
    if (gw_queue_reply_place(r, reply, 1, "join", &c->p) != 0) {
        gw_req_release(r);
        free(c);
        return;
    }
    int created = reply->element[0]->integer == 1;
    if (created)
        gw_metrics_add(&r->th->metrics.wq_joined, 1);
    gw_presence_beat(r->th->presence, r->event_id, r->user_id, GW_QUEUE_PAGE, 0, c->now_ms);
    c->status = created ? 201 : 200;
    if (reply->element[1]->type == REDIS_REPLY_STRING && strcmp(reply->element[1]->str, "waiting") == 0)
        list_room(c); /* answered when the SADD has run: a join answered is a room listed */
    else
        answer(c);
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
    /* the room's keys (one slot: tk:wq:rooms is listed apart, list_room), then the user */
    const char *argv[GW_QUEUE_NKEYS + 1];
    size_t lens[GW_QUEUE_NKEYS + 1];
    for (int i = 0; i < GW_QUEUE_NKEYS; i++)
        argv[i] = keys[i];
    argv[GW_QUEUE_NKEYS] = r->user_id;
    for (int i = 0; i < GW_QUEUE_NKEYS + 1; i++)
        lens[i] = strlen(argv[i]);
    c->r = gw_req_ref(r);
    if (gw_redis_script(r->th->redis, GW_SCRIPT_WQ_JOIN, on_join, c, GW_QUEUE_NKEYS, GW_QUEUE_NKEYS + 1, argv, lens) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
