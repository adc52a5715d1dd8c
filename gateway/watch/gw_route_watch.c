/*
 * GET /v1/events/{event_id}/watch?since=&page=&tab=&wait= (a user route):
 * answers at once when the event's version differs from `since` (or `wait`
 * is 0), else hands the request to the thread's gw_watch (gw_watch.h).
 * One HMGET of the event, one ZCOUNT of its present users and one ZSCORE
 * of the caller when the request arrives; none while it is held. A watch of
 * an event that exists is a heartbeat (gw_presence.h) stamped with its
 * arrival. That heartbeat reaches Redis only at the end of the loop turn,
 * after the ZCOUNT, so an answer given at once counts the caller in itself
 * when the ZSCORE shows it absent: a lone watcher sees "1 watching", not 0.
 */
#include "gw_event.h"
#include "gw_presence.h"
#include "gw_query.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "gw_watch.h"
#include "gw_watch_query.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_req_t *r; /* one reference, for both replies */
    gw_watch_query_t q;
    int64_t arrived_ms;
    int rc; /* the HMGET: 0 read into ev, 1 no such event, -1 malformed, -2 failed */
    int64_t watching; /* the ZCOUNT */
    gw_event_t ev;
} watch_call_t;

static void on_event(gw_redis_t *redis, redisReply *reply, void *data)
{
    watch_call_t *c = data;
    (void)redis;
    c->rc = reply != NULL ? gw_event_from_hmget(reply, c->r->event_id, c->r->elen, &c->ev) : -2;
}

static void on_watching(gw_redis_t *redis, redisReply *reply, void *data)
{
    watch_call_t *c = data;
    (void)redis;
    c->watching = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
}

/* The caller's ZSCORE, sent last and so answered last: acts on all three. */
static void on_self(gw_redis_t *redis, redisReply *reply, void *data)
{
    watch_call_t *c = data;
    gw_req_t *r = c->r;
    (void)redis;
    int rc = c->rc;
    int64_t watching = c->watching;
    int64_t now = tk_time_now_ms();
    /* counted by the ZCOUNT only if an earlier heartbeat is still present: else this one counts it */
    int self_counted = reply != NULL && reply->type == REDIS_REPLY_STRING &&
                       gw_presence_present(strtoll(reply->str, NULL, 10), c->arrived_ms);
    if (rc == 0 && !self_counted)
        watching++;
    if (rc == 0)
        gw_presence_beat(r->th->presence, r->event_id, r->user_id, c->q.page, c->q.tab, c->arrived_ms);
    if (r->req == NULL) {
        /* the client left while the event was read */
    } else if (rc == 0 && (c->q.since != gw_event_version(&c->ev, now) || c->q.wait_s == 0)) {
        char body[GW_WATCH_BODY_MAX];
        int n = gw_watch_body(&c->ev, now, watching, body);
        gw_reply(r, 200, body, (size_t)n, NULL);
    } else if (rc == 0 && gw_watch_held(r->th->watch) >= (size_t)r->th->server->conf->watch_held_max) {
        gw_reply_error(r, 503, "unavailable", "too many watches held on this gateway thread; retry");
    } else if (rc == 0) {
        gw_watch_hold(r->th->watch, r, c->q.since, c->q.wait_s, c->q.page, c->q.tab, &c->ev, watching);
    } else {
        gw_reply_event_unread(r, rc);
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
    const char *q;
    size_t qlen;
    gw_query_of(req, &q, &qlen);
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
    char pkey[TK_KEY_MAX], min[32];
    c->arrived_ms = tk_time_now_ms();
    tk_key(TK_KEY_PRESENCE, r->event_id, r->elen, pkey);
    gw_presence_min_arg(c->arrived_ms, min);
    const char *zargv[4] = {"ZCOUNT", pkey, min, "+inf"};
    size_t zlens[4] = {6, strlen(pkey), strlen(min), 4};
    const char *sargv[3] = {"ZSCORE", pkey, r->user_id};
    size_t slens[3] = {6, strlen(pkey), r->ulen};
    c->r = gw_req_ref(r);
    c->rc = -2;
    c->watching = 0;
    /* All or none: the connection cannot drop between sends of one turn. */
    if (gw_redis_command(r->th->redis, on_event, c, 2 + GW_EVENT_NFIELDS, argv, lens) != 0 ||
        gw_redis_command(r->th->redis, on_watching, c, 4, zargv, zlens) != 0 ||
        gw_redis_command(r->th->redis, on_self, c, 3, sargv, slens) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
