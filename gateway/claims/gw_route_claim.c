/*
 * POST /v1/events/{event_id}/claims — the hot path. Everything the client
 * sent is checked here before Redis is asked anything (a refused request
 * takes no ticket and moves no stock); the claim then joins this loop
 * turn's batch for its event (gw_batcher) and is answered when the claim
 * script has run. The gateway never waits on MariaDB here.
 */
#include "gw_batcher.h"
#include "gw_claim_body.h"
#include "gw_ratelimit.h"
#include "gw_routes.h"

#include <string.h>

void gw_route_claim_post(gw_req_t *r)
{
    gw_claim_body_t body;
    char err[256];
    h2o_iovec_t entity = r->req->entity;
    const char *b = entity.base != NULL ? entity.base : "";
    size_t blen = entity.base != NULL ? entity.len : 0;
    /* r->sublen > 0: the router verified a user token, set r->user_id to its "sub" and took its rate-limit token. */
    int authed = r->sublen > 0;
    int rc = authed ? gw_claim_body_parse_opt_user(b, blen, &body, err, sizeof(err)) : gw_claim_body_parse(b, blen, &body, err, sizeof(err));
    if (rc != 0) {
        gw_metrics_add(&r->th->metrics.claims[GW_CLAIM_INVALID], 1);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    if (authed) {
        if (body.ulen > 0 && (body.ulen != r->sublen || memcmp(body.user_id, r->sub, body.ulen) != 0)) {
            gw_metrics_add(&r->th->metrics.claims[GW_CLAIM_INVALID], 1);
            gw_reply_error(r, 403, "forbidden", "user_id must be the user token's own (sub), or left out");
            return;
        }
    } else {
        memcpy(r->user_id, body.user_id, body.ulen + 1);
        r->ulen = body.ulen;
        if (gw_ratelimit_user(r) != 0)
            return; /* answered 429 */
    }
    gw_batcher_add(r->th->batcher, r, body.quantity);
}
