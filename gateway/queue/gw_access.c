/*
 * gw_access: the waiting room's access tokens; see gw_access.h.
 */
#include "gw_access.h"
#include "gw_config.h"
#include "gw_user_token.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <string.h>

int gw_access_mint_key(const tk_jwt_key_t *key, const char *event, size_t elen, const char *user, size_t ulen, int64_t admitted_ms,
                       int ttl_s, char *out)
{
    char ev[TK_ID_MAX + 1], sub[TK_ID_MAX + 1];
    if (elen > TK_ID_MAX || ulen > TK_ID_MAX || !tk_valid_event_id(event, elen)) {
        out[0] = '\0';
        return -1;
    }
    memcpy(ev, event, elen);
    ev[elen] = '\0';
    memcpy(sub, user, ulen);
    sub[ulen] = '\0';
    /* Seconds, floored: every gateway turns the same admitted_ms into the same iat, hence the same token. */
    int64_t iat = admitted_ms / 1000;
    if (tk_jwt_mint_typ(key, sub, iat, iat + ttl_s, NULL, ev, TK_JWT_TYP_ACCESS, out, GW_ACCESS_TOKEN_MAX) != 0)
        return -1;
    return (int)strlen(out);
}

int gw_access_mint(const gw_server_t *s, const char *event, size_t elen, const char *user, size_t ulen, int64_t admitted_ms,
                   int ttl_s, char *out)
{
    return gw_access_mint_key(&s->conf->access_key, event, elen, user, ulen, admitted_ms, ttl_s, out);
}

gw_access_verdict_t gw_access_verify(const tk_jwt_key_t *key, const char *tok, size_t len, const char *event, size_t elen,
                                     int64_t now_s, char *sub, size_t *sublen, tk_jwt_err_t *why)
{
    char aud[TK_ID_MAX + 1] = "";
    /* An id too long for an event cannot be any token's audience: "" never matches a minted "aud". */
    if (elen <= TK_ID_MAX && tk_valid_event_id(event, elen)) {
        memcpy(aud, event, elen);
        aud[elen] = '\0';
    }
    /* exp exact: the admission ends at exp (lua/wq_status.lua answers "lapsed" from then), no 30 s of skew */
    tk_jwt_policy_t pol = {NULL, aud, TK_JWT_TYP_ACCESS, 1};
    tk_jwt_err_t e = tk_jwt_verify(tok, len, key, 1, &pol, now_s, sub, sublen);
    if (why != NULL)
        *why = e;
    switch (e) {
    case TK_JWT_OK:
        return GW_ACCESS_ADMITTED;
    case TK_JWT_EXPIRED:
    case TK_JWT_NOT_YET:
    case TK_JWT_AUDIENCE:
        /* tk_jwt checks these only after the signature and the kind: this is our access token, not for here or not now. */
        return GW_ACCESS_REFUSED;
    default:
        /* Malformed, another key's signature, a user token ("typ" not access), a bad "sub": not an access token of ours. */
        return GW_ACCESS_NONE;
    }
}

int gw_access_check(gw_req_t *r, const char *event, size_t elen)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    const char *tok;
    size_t toklen;
    if (i < 0 || !gw_user_token_bearer(req->headers.entries[i].value.base, req->headers.entries[i].value.len, &tok, &toklen) ||
        toklen == 0)
        return 0;
    /* Most bearers here are user tokens: one look at the payload's typ spares them an HMAC with the access
     * key. Nothing is trusted from the look; the verification below (or the user token's) checks the signed typ. */
    if (!tk_jwt_may_be_typ(tok, toklen, TK_JWT_TYP_ACCESS))
        return 0;
    tk_jwt_err_t why;
    char sub[TK_ID_MAX + 1];
    size_t sublen = 0;
    gw_access_verdict_t v = gw_access_verify(&r->th->server->conf->access_key, tok, toklen, event, elen, tk_time_now_ms() / 1000, sub,
                                             &sublen, &why);
    if (v == GW_ACCESS_NONE)
        return 0;
    if (v == GW_ACCESS_REFUSED) {
        if (r->route == GW_ROUTE_CLAIM_POST)
            gw_metrics_add(&r->th->metrics.claims[GW_CLAIM_NOT_ADMITTED], 1);
        gw_reply_errorf(r, 403, "not_admitted", "access token refused for this event: %s",
                        why == TK_JWT_AUDIENCE ? "it admits to another event" : tk_jwt_err_str(why));
        return -1;
    }
    memcpy(r->sub, sub, sublen + 1);
    r->sublen = sublen;
    memcpy(r->user_id, sub, sublen + 1);
    r->ulen = sublen;
    r->admitted = 1;
    return 1;
}
