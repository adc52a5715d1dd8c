/*
 * gw_user_token: who is asking. With USER_AUTH=required every user route
 * (claim, claim status, and later queue and watch: the routes the router's
 * table marks "user") carries "Authorization: Bearer <user token>", an
 * HS256 JWT from the site's login service (common/tk_jwt.h, API.md "User
 * identity"). The router calls gw_user_token_check after the per-address
 * limit and before anything reads the body: a request without a valid
 * token is answered 401 and has touched nothing but that limit.
 */
#ifndef GW_USER_TOKEN_H
#define GW_USER_TOKEN_H

#include "gw_config.h"
#include "gw_http.h"
#include "tk_jwt.h"

#include <stddef.h>
#include <stdint.h>

/**
 * The token of an Authorization header value @hdr (@len bytes): 1 with
 * *@tok / *@toklen set when the scheme is Bearer (case-insensitive, then
 * spaces; the token may be empty), else 0 (another scheme, or nothing).
 */
int gw_user_token_bearer(const char *hdr, size_t len, const char **tok, size_t *toklen);

/**
 * Verifies the Authorization header value @hdr (@len bytes; NULL when the
 * request has none) with @c's keys and policy at @now_s. TK_JWT_OK with the
 * "sub" in @sub (TK_ID_MAX + 1 bytes) and *@sublen; otherwise why, and
 * *@sent = 0 when no bearer token was sent at all (then the answer is
 * TK_JWT_MALFORMED), 1 when one was.
 */
tk_jwt_err_t gw_user_token_verify(const gw_config_t *c, const char *hdr, size_t len, int64_t now_s, char *sub, size_t *sublen,
                                  int *sent);

/**
 * For a user route: with USER_AUTH=required, verifies @r's bearer token and
 * sets r->sub (and r->user_id, the user the route acts for) to its "sub";
 * with USER_AUTH=off does nothing. Returns 0, or -1 with @r answered 401
 * unauthorized and "WWW-Authenticate: Bearer" (error="invalid_token" when a
 * token was sent).
 */
int gw_user_token_check(gw_req_t *r);

#endif
