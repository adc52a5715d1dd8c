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
 */
#ifndef GW_ACCESS_H
#define GW_ACCESS_H

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

#endif
