#include "gw_user_token.h"
#include "tk_time.h"

#include <string.h>
#include <strings.h>

int gw_user_token_bearer(const char *hdr, size_t len, const char **tok, size_t *toklen)
{
    static const char scheme[] = "Bearer";
    size_t n = sizeof(scheme) - 1;
    if (hdr == NULL || len < n || strncasecmp(hdr, scheme, n) != 0 || (len > n && hdr[n] != ' '))
        return 0;
    while (n < len && hdr[n] == ' ')
        n++;
    size_t end = len;
    while (end > n && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
        end--;
    *tok = hdr + n;
    *toklen = end - n;
    return 1;
}

tk_jwt_err_t gw_user_token_verify(const gw_config_t *c, const char *hdr, size_t len, int64_t now_s, char *sub, size_t *sublen,
                                  int *sent)
{
    const char *tok;
    size_t toklen;
    sub[0] = '\0';
    *sublen = 0;
    *sent = gw_user_token_bearer(hdr, len, &tok, &toklen);
    if (!*sent)
        return TK_JWT_MALFORMED;
    tk_jwt_policy_t pol = {c->user_token_issuer, c->user_token_audience, NULL}; /* NULL typ: a user token, never an access token */
    return tk_jwt_verify(tok, toklen, c->user_keys, c->nuser_keys, &pol, now_s, sub, sublen);
}

int gw_user_token_check(gw_req_t *r)
{
    const gw_config_t *c = r->th->server->conf;
    if (!c->user_auth_required)
        return 0;
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    const char *hdr = i >= 0 ? req->headers.entries[i].value.base : NULL;
    size_t len = i >= 0 ? req->headers.entries[i].value.len : 0;
    int sent;
    tk_jwt_err_t e = gw_user_token_verify(c, hdr, len, tk_time_now_ms() / 1000, r->sub, &r->sublen, &sent);
    if (e == TK_JWT_OK) {
        memcpy(r->user_id, r->sub, r->sublen + 1);
        r->ulen = r->sublen;
        return 0;
    }
    r->sublen = 0;
    r->sub[0] = '\0';
    if (!sent) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
        gw_reply_error(r, 401, "unauthorized", "missing user token: send Authorization: Bearer <token>");
        return -1;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer error=\"invalid_token\""));
    gw_reply_errorf(r, 401, "unauthorized", "user token refused: %s", tk_jwt_err_str(e));
    return -1;
}
