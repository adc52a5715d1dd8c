/*
 * gw_access: the access token a waiting room hands out on admission
 * (docs/API.md "Waiting room"), and its check on a claim.
 *
 * An access token is an HS256 JWT (common/tk_jwt.h) signed with the
 * gateways' access secret, one file shared by every gateway of the fleet
 * (ACCESS_TOKEN_SECRET_FILE, 0600), never with the user-token secret: a
 * login service that can mint user tokens cannot mint admissions. Claims:
 * "aud" the event, "sub" the user, "iat" the moment of admission, "exp"
 * that moment + the room's access_ttl_s, "typ":"access". Minting is
 * deterministic in (event, user, admitted_ms, ttl), so every gateway gives
 * an admitted user the same token, whichever answers their status.
 *
 * On a claim the bearer is the access token *instead of* the user token:
 * it names the user. Badly signed or malformed is 401 (the router's user
 * token check); well signed but for another event, or expired, makes the
 * request "not admitted", which lua/claim.lua (and the fallback grant)
 * refuse with 403 not_admitted on an event whose room is on, changing
 * nothing. One claim per token holds because a user holds at most one
 * claim per event: a retry with the token returns that claim.
 *
 * Where the spec is silent (docs/API.md, "Access tokens"):
 * - An access token is a credential only on the claim routes of its own
 *   event (POST /v1/events/{aud}/claims, GET .../claims/{sub}), while it
 *   is valid. Well signed but for another event, expired, or not yet
 *   valid: 403 not_admitted on *any* event, room or not, answered by the
 *   router before anything is read (gw_access_check). On an event without
 *   a room a valid one claims like a user token (the room may have been
 *   switched off after the admission).
 * - On every other route it is no login: the user token check refuses it
 *   (401), whatever the secrets, by its "typ" (tk_jwt.h TK_JWT_TYP_ACCESS).
 * - The claim status (GET) is a read, not gated: a user token reads its
 *   own claim on a waiting-room event as before.
 * - With USER_AUTH=off the access token is still checked on the claim
 *   routes when one is sent (it names the user then); any other bearer is
 *   ignored as in v1, and such a claim is simply not admitted.
 * - The clock skew of user tokens (TK_JWT_SKEW_S, 30 s) applies to "exp".
 */
#ifndef GW_ACCESS_H
#define GW_ACCESS_H

#include "gw_http.h"
#include "gw_types.h"
#include "tk_jwt.h"

#include <stddef.h>
#include <stdint.h>

/** Bytes an access token takes at most, with its NUL. */
#define GW_ACCESS_TOKEN_MAX 512

/**
 * Writes the access token of @user (@ulen bytes) for event @event (@elen
 * bytes), admitted at @admitted_ms, valid @ttl_s seconds, signed with @s's
 * access secret, into @out (GW_ACCESS_TOKEN_MAX bytes, NUL-terminated).
 * Returns its length, or -1 (no memory).
 */
int gw_access_mint(const gw_server_t *s, const char *event, size_t elen, const char *user, size_t ulen, int64_t admitted_ms,
                   int ttl_s, char *out);

/** gw_access_mint with the key @key: the pure part, for tests and tools. */
int gw_access_mint_key(const tk_jwt_key_t *key, const char *event, size_t elen, const char *user, size_t ulen, int64_t admitted_ms,
                       int ttl_s, char *out);

/** What an Authorization bearer is, as far as access tokens go. */
typedef enum {
    GW_ACCESS_NONE = 0, /* not an access token (malformed, signed by another key, or a user token): the user token check decides */
    GW_ACCESS_ADMITTED, /* an access token for this event, valid now: its "sub" is the user */
    GW_ACCESS_REFUSED,  /* an access token, well signed, but for another event, expired or not yet valid: 403 not_admitted */
} gw_access_verdict_t;

/**
 * Sorts the token @tok (@len bytes) for event @event (@elen bytes, not
 * necessarily valid) at @now_s with @key. On GW_ACCESS_ADMITTED the "sub"
 * is in @sub (TK_ID_MAX + 1 bytes) and *@sublen; *@why (may be NULL) says
 * what tk_jwt_verify answered.
 */
gw_access_verdict_t gw_access_verify(const tk_jwt_key_t *key, const char *tok, size_t len, const char *event, size_t elen,
                                     int64_t now_s, char *sub, size_t *sublen, tk_jwt_err_t *why);

/**
 * The router's step on a claim route, before the user token check: when
 * @r's bearer is an access token for the path's event @event (@elen bytes,
 * the raw path segment), sets r->sub, r->user_id and r->admitted and
 * returns 1 (the user token check is skipped); when it is an access token
 * refused for this event, answers 403 not_admitted and returns -1; else 0
 * (no access token: the user token check decides, as on every user route).
 */
int gw_access_check(gw_req_t *r, const char *event, size_t elen);

#endif
