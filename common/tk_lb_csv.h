/*
 * tk_lb_csv: one line of a leaderboard CSV (tk-import, its export), read
 * and written in one place so that an export is always re-importable.
 *
 * The format (docs/DESIGN.md, "Leaderboards: import and export"):
 *   board of 2 components:  user_id,level,exp,updated_at
 *   board of 1 component:   user_id,score,updated_at   (or the 4-column form
 *                           with exp 0: a file made for a 2-component board
 *                           whose exp is all 0 still loads)
 * - user_id: 1-64 of [A-Za-z0-9_.:@-] (tk_valid_user_id); no quoting (no
 *   field can hold a comma or a quote, so none is needed);
 * - level, exp, score: decimal integers in [-(2^53 - 1), 2^53 - 1]
 *   (TK_LB_SCORE_MAX): an optional '-', digits (leading zeros allowed:
 *   007 is 7), no '+', no spaces;
 * - updated_at: RFC 3339 ("2026-11-22T09:00:00.000Z", any offset, fraction
 *   optional, truncated to ms) or integer milliseconds since the epoch;
 *   in [0, TK_LB_TIME_MAX];
 * - exactly that many columns: a missing or an extra one is refused;
 *   a trailing '\r' (CRLF files) is dropped.
 * The header line is optional: the first line is taken as a header when its
 * first field is "user_id" and its second is not an integer, and it must
 * then be one of the two header lines above.
 */
#ifndef TK_LB_CSV_H
#define TK_LB_CSV_H

#include "tk_lb.h"

#include <stddef.h>
#include <stdint.h>

#define TK_LB_CSV_HEADER2 "user_id,level,exp,updated_at"
#define TK_LB_CSV_HEADER1 "user_id,score,updated_at"
#define TK_LB_CSV_LINE_MAX 160 /* an exported line, with its newline and NUL */

/** One parsed line: the user id points into the caller's line. */
typedef struct {
    const char *user;
    size_t ulen;
    int64_t c1, c2, t_ms;
} tk_lb_csv_row_t;

/**
 * Parses one line (@len bytes, no newline; a trailing '\r' is ignored) for a
 * board of @comps components. Returns 0 with @row filled, or -1 with a short
 * reason in @why (a constant string: "bad user_id", "level is not an
 * integer", …).
 */
int tk_lb_csv_parse(const char *line, size_t len, int comps, tk_lb_csv_row_t *row, const char **why);

typedef enum {
    TK_LB_CSV_DATA = 0,   /* not a header: a line to parse */
    TK_LB_CSV_HEADER,     /* one of the accepted header lines */
    TK_LB_CSV_BAD_HEADER, /* looks like a header (first field "user_id", second not an integer) but is not one we read */
} tk_lb_csv_line_kind_t;

/** What line 1 (@len bytes) is. */
tk_lb_csv_line_kind_t tk_lb_csv_header(const char *line, size_t len);

/** The header line of an export for a board of @comps components, without newline. */
const char *tk_lb_csv_header_line(int comps);

/**
 * Writes the export line of @user (@ulen bytes) with entry @e for a board of
 * @comps components, newline included, into @out (TK_LB_CSV_LINE_MAX).
 * Returns its length, or -1 when the user id is too long.
 */
int tk_lb_csv_format(const char *user, size_t ulen, const tk_lb_entry_t *e, int comps, char *out);

#endif
