/*
 * POST /v1/dev/login {"user_id":"u-42"} — the demo's sign-in, only with
 * DEV_LOGIN=1 (set by `make run`, never a default): anyone gets a user
 * token for any user_id, signed with the current key, valid 1 hour. It
 * stands in for the site's login service so the pages work out of the box;
 * without DEV_LOGIN the router answers 404 for this path whatever the
 * method, as for a route that does not exist.
 */
#include "gw_routes.h"
#include "tk_jwt.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DEV_TOKEN_TTL_S 3600

void gw_route_dev_login(gw_req_t *r)
{
    const gw_config_t *c = r->th->server->conf;
    h2o_iovec_t entity = r->req->entity;
    json_error_t jerr;
    json_t *root = entity.base != NULL ? json_loadb(entity.base, entity.len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    const json_t *user = json_is_object(root) ? json_object_get(root, "user_id") : NULL;
    char id[TK_ID_MAX + 1];
    size_t ulen = json_is_string(user) ? json_string_length(user) : 0;
    if (ulen == 0 || !tk_valid_user_id(json_string_value(user), ulen)) {
        json_decref(root);
        gw_reply_error(r, 400, "bad_request", "the body must be {\"user_id\":…} with a user_id of 1-64 of [A-Za-z0-9_.:@-]");
        return;
    }
    memcpy(id, json_string_value(user), ulen);
    id[ulen] = '\0';
    json_decref(root);

    int64_t now_s = tk_time_now_ms() / 1000, exp = now_s + DEV_TOKEN_TTL_S;
    char tok[TK_JWT_MAX], expires[TK_TIME_RFC3339_LEN + 1], body[TK_JWT_MAX + 256];
    if (c->nuser_keys == 0 ||
        tk_jwt_mint(&c->user_keys[0], id, now_s, exp, c->user_token_issuer, c->user_token_audience, tok, sizeof(tok)) != 0) {
        gw_reply_error(r, 500, "internal", "cannot sign a token");
        return;
    }
    tk_time_format_rfc3339(exp * 1000, expires);
    /* The token is base64url and dots, the id validated: nothing to escape. */
    int n = snprintf(body, sizeof(body), "{\"token\":\"%s\",\"user_id\":\"%s\",\"expires_at\":\"%s\"}", tok, id, expires);
    gw_reply(r, 200, body, (size_t)n, NULL);
}
