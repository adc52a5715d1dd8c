/*
 * gw_watch_query: the query string of GET /v1/events/{id}/watch, parsed and
 * validated before anything is looked up (docs/API.md, "Watch").
 *
 * Values are taken as they are (no percent-decoding): every accepted value
 * is made of characters that need no escaping, so an escaped one is refused
 * like any other bad value. Unknown parameters are ignored (cache busters);
 * a known one given twice is refused.
 */
#ifndef GW_WATCH_QUERY_H
#define GW_WATCH_QUERY_H

#include "tk_valid.h"

#include <stddef.h>
#include <stdint.h>

#define GW_WATCH_PAGE_MAX 32
#define GW_WATCH_TAB_MAX 99
#define GW_WATCH_WAIT_MAX_S 25
#define GW_WATCH_SINCE_NONE (-1) /* since absent: answered at once */

typedef struct {
    int64_t since; /* GW_WATCH_SINCE_NONE when absent */
    char page[GW_WATCH_PAGE_MAX + 1];
    size_t plen;
    int tab;
    int wait_s;
    char user_id[TK_ID_MAX + 1]; /* "" when absent (only read with USER_AUTH=off) */
    size_t ulen;
} gw_watch_query_t;

/**
 * Parses @q (@len bytes, without the '?'; NULL or empty = all defaults:
 * page "event", tab 0, wait 25). 0, or -1 with a message for a 400 in @err.
 */
int gw_watch_query_parse(const char *q, size_t len, gw_watch_query_t *out, char *err, size_t errlen);

#endif
