/*
 * gw_claim_body: parsing and validating the body of POST …/claims,
 * {"user_id":"u-42","quantity":1}, before anything else happens.
 */
#ifndef GW_CLAIM_BODY_H
#define GW_CLAIM_BODY_H

#include "tk_valid.h"

#include <stddef.h>

typedef struct {
    char user_id[TK_ID_MAX + 1];
    size_t ulen;
    int quantity;
} gw_claim_body_t;

/**
 * Parses @body (@len bytes). Returns 0, or -1 with a message for the
 * client in @err: malformed JSON, not an object, user_id missing or not
 * 1–64 of [A-Za-z0-9_.:@-], quantity not a whole number from 1 to
 * TK_QUANTITY_MAX. Unknown fields are ignored.
 */
int gw_claim_body_parse(const char *body, size_t len, gw_claim_body_t *out, char *err, size_t errlen);

/**
 * gw_claim_body_parse for a request whose user a token already named:
 * user_id may be absent (then @out->ulen is 0); when present it must be
 * valid as above (the caller compares it with the token's "sub").
 */
int gw_claim_body_parse_opt_user(const char *body, size_t len, gw_claim_body_t *out, char *err, size_t errlen);

#endif
