/*
 * gw_presence_cursor: the admin presence lookup's paging parameters.
 *
 * The cursor is "<T>:<S>:<user>" (opaque to clients; every character is
 * allowed in a query string as is): T the walk's snapshot (the first
 * page's clock, ms), S and user the last (score, user) listed. Why this
 * never lists a user twice is told in lua/presence_page.lua.
 */
#ifndef GW_PRESENCE_CURSOR_H
#define GW_PRESENCE_CURSOR_H

#include "gw_watch_query.h"

#include <stddef.h>
#include <stdint.h>

#define GW_PRESENCE_LIMIT_DEFAULT 100
#define GW_PRESENCE_LIMIT_MAX 1000
#define GW_PRESENCE_CURSOR_MAX (20 + 1 + 20 + 1 + TK_ID_MAX + 1)

typedef struct {
    int has_page; /* page and tab given: that page's users; else the event's */
    char page[GW_WATCH_PAGE_MAX + 1];
    int tab;
    int limit;
    int has_cursor;
    int64_t t_ms, score_ms;
    char user[TK_ID_MAX + 1];
} gw_presence_query_t;

/**
 * Parses the query @q (@len bytes, no '?'; NULL = defaults): page and tab
 * (both or neither), cursor, limit (1-1000, default 100). Unknown
 * parameters are ignored, a known one twice is refused. 0, or -1 with a
 * message for a 400 in @err.
 */
int gw_presence_query_parse(const char *q, size_t len, gw_presence_query_t *out, char *err, size_t errlen);

/** Writes the cursor after (@score_ms, @user) of the walk @t_ms into @out (GW_PRESENCE_CURSOR_MAX bytes). */
int gw_presence_cursor_format(int64_t t_ms, int64_t score_ms, const char *user, char *out);

#endif
