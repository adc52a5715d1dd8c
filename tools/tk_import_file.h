/*
 * tk_import_file: a leaderboard CSV read and validated whole, before
 * anything is written (tk-import; common/tk_lb_csv.h has the line format).
 *
 * Every line is judged; a refused one is reported with its number (1-based,
 * as an editor counts, header included) and reason. Empty lines are skipped
 * (a trailing newline, a blank line at the end). A user that appears on
 * several good lines keeps the last one (a later line is a later state of
 * the user, as with a `set` write) and the earlier ones are counted as
 * replaced. The rows come out sorted by user id (bytes), each user once,
 * which is also the primary key order MariaDB inserts fastest.
 */
#ifndef TK_IMPORT_FILE_H
#define TK_IMPORT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TK_IMPORT_FUTURE_MS 1000 /* updated_at may be at most this far past the host clock (rounding, not skew: see below) */

typedef struct {
    const char *user; /* into tk_import_file_t.buf */
    uint32_t ulen;
    uint32_t line;
    int64_t c1, c2, t_ms;
    int64_t seq; /* 0 until lua/lb_import.lua drew the row's sequence (tk_import_redis_write) */
} tk_import_row_t;

typedef struct {
    char *buf; /* the whole file, owned */
    size_t len;
    tk_import_row_t *rows; /* owned; distinct users, sorted by user id */
    size_t n;
    size_t data_lines; /* lines that are neither empty nor the header */
    size_t refused;    /* lines refused */
    size_t replaced;   /* good lines dropped for a later line of the same user */
    int header;        /* 1 when line 1 was a header */
    int64_t max_t;     /* the highest t_ms of the rows (0 when none) */
} tk_import_file_t;

/**
 * Reads @path ("-": standard input) for a board of @comps components and
 * validates every line; times later than @now_ms + TK_IMPORT_FUTURE_MS are
 * refused: an entry "reached" in the future ranks after every live write
 * made until then, which is not what the file means (lua/lb_import.lua
 * also never lets one raise the board's last_t past Redis's clock, so a
 * skewed host cannot hold back the board's live times). Prints the first @print_max refused
 * lines to @errout ("line N: reason"), then how many more. Returns 0 with
 * @f filled (also when lines were refused: f->refused), or -1 with @err when
 * the file cannot be read. The caller frees @f with tk_import_file_free
 * (also after -1).
 */
int tk_import_file_load(const char *path, int comps, int64_t now_ms, size_t print_max, FILE *errout, tk_import_file_t *f, char *err,
                        size_t errlen);

/** Frees what @f owns. */
void tk_import_file_free(tk_import_file_t *f);

#endif
