/*
 * GET /v1/events/{event_id}/claims/{user_id} — a user's claim and its
 * status, from Redis (pending, then confirmed once a worker has stored it).
 */
#include "gw_fallback.h"
#include "gw_rebuild.h"
#include "gw_routes.h"
#include "tk_claim.h"
#include "tk_keys.h"

#include <stdio.h>

static void on_claim(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_req_t *r = data;
    (void)redis;
    tk_claim_t c;
    char body[TK_CLAIM_JSON_MAX];
    int n;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_reply_unavailable(r, "redis");
    } else if (reply->type == REDIS_REPLY_NIL && gw_rebuild_active(r->th->server)) {
        gw_reply_unavailable(r, "redis"); /* the claims may be on their way back from MariaDB (gw_rebuild) */
    } else if (reply->type == REDIS_REPLY_NIL) {
        gw_reply_errorf(r, 404, "not_found", "no claim of user %s on event %s", r->user_id, r->event_id);
    } else if (reply->type != REDIS_REPLY_STRING || tk_claim_decode(reply->str, reply->len, &c) != 0 ||
               (n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, &c, c.status == TK_CLAIM_REJECTED ? "stock_guard" : NULL,
                                  body)) < 0) {
        gw_reply_error(r, 500, "internal", "malformed claim record");
    } else {
        gw_reply(r, 200, body, (size_t)n, NULL);
    }
    gw_req_release(r);
}

void gw_route_claim_get(gw_req_t *r)
{
    char key[TK_KEY_MAX];
    int klen = tk_key(TK_KEY_CLAIMS, r->event_id, r->elen, key);
    const char *argv[] = {"HGET", key, r->user_id};
    size_t lens[] = {4, (size_t)klen, r->ulen};
    if (gw_redis_command(r->th->redis, on_claim, gw_req_ref(r), 3, argv, lens) != 0) {
        gw_req_release(r);
        gw_fallback_status(r); /* Redis is away: a claim MariaDB holds is still answered */
    }
}
