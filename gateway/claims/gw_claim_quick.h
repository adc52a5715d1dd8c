/*
 * gw_claim_quick: the claim body read without a JSON library, for the
 * shapes every client sends ({"user_id":"u-42"}, {"user_id":"u-42",
 * "quantity":2}, any order, any JSON whitespace).
 *
 * Why it is correct: it accepts only a subset of JSON whose meaning is
 * plain — one object, no other key than user_id and quantity, each at most
 * once, a user_id of 1–64 id characters (none of which needs escaping in
 * JSON, so the bytes are the string), a quantity of 1–TK_QUANTITY_MAX
 * written as plain digits without a leading zero, or null — and it then
 * gives exactly what jansson's parse and the checks of gw_claim_body give
 * for the same bytes. Everything else (escapes, other keys, other values,
 * bad input of any kind) it declines, and gw_claim_body parses the body
 * with jansson as before, so every refusal keeps its message byte for byte.
 * The unit test compares the two over a corpus of bodies.
 *
 * Why it exists: jansson builds a tree of malloc'd values for a 30-byte
 * body; a perf profile of an HTTP/1.1 claim storm put 7% of the gateway's
 * CPU in json_loadb, its mallocs and json_decref.
 */
#ifndef GW_CLAIM_QUICK_H
#define GW_CLAIM_QUICK_H

#include "gw_claim_body.h"

/**
 * Reads @body (@len bytes) when it is of the plain shape above, and valid:
 * returns 1 with @out filled (ulen 0 when user_id is absent and
 * @user_required is 0). Returns 0 for anything else, @out then undefined:
 * the caller parses the body in full.
 */
int gw_claim_quick(const char *body, size_t len, int user_required, gw_claim_body_t *out);

#endif
