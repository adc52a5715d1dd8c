/*
 * tk_valid: the input rules of API.md, in one place. Every route validates
 * with these before it touches a backend, so a refused request changes nothing.
 */
#ifndef TK_VALID_H
#define TK_VALID_H

#include <stddef.h>
#include <stdint.h>

#define TK_ID_MAX 64           /* event_id and user_id: 1..64 bytes */
#define TK_NAME_MAX 200        /* event name, bytes of UTF-8 */
#define TK_QUANTITY_MAX 1000   /* a claim's quantity and an event's max_per_user */
/* An event's total stock at any time (create, and after every stock change),
 * and |delta| of a change: 1e14 - 1. Integers up to it are exact in a
 * double, and Lua's tostring (%.14g) still prints every one of them as
 * digits, so no script can turn a total, a remaining or a ticket into
 * "1e+14". Above it: 400 stock_limit. */
#define TK_STOCK_MAX INT64_C(99999999999999)
#define TK_BODY_MAX 16384      /* request bodies over this get 413 */
#define TK_BODY_MAX_SCORES 131072 /* …but 128 KiB on the score writes and the ranks of a list of users (1,000 entries) */

/** 1 when @s (length @len) is a valid event_id: 1–64 of [a-z0-9_-]. */
int tk_valid_event_id(const char *s, size_t len);

/** 1 when @s (length @len) is a valid user_id: 1–64 of [A-Za-z0-9_.:@-]. */
int tk_valid_user_id(const char *s, size_t len);

/** 1 when @s (length @len) is a valid event name: 1–200 bytes of valid UTF-8 with no control characters. */
int tk_valid_name(const char *s, size_t len);

/** 1 when @s (length @len) is well-formed UTF-8 (no overlongs, no surrogates). */
int tk_valid_utf8(const char *s, size_t len);

#endif
