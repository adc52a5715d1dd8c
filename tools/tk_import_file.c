/*
 * tk_import_file: the import's CSV read whole and judged line by line
 * (tk_import_file.h says what comes out).
 *
 * Why the whole file in memory: every line is validated before anything is
 * written (all or nothing without --partial), and the rows then point into
 * the one buffer (no copy per user id); 300,000 rows are ~15 MB. FILE_MAX
 * bounds what a wrong path (a disk image) can make us allocate.
 *
 * Why sort by (user id, line) to drop duplicates: the last line of a user
 * wins (a later line is a later state, as with a `set` write), and a sort
 * is O(n log n) with no hash table to size; ties on the user are broken by
 * the line, so "the last of the run" is exactly the last line. The caller
 * re-sorts the survivors into rank order (tk_import_cli.c), keeping each
 * row's line so that ties stay in file order.
 *
 * Why the future check uses the host clock plus 1 s (TK_IMPORT_FUTURE_MS):
 * a time ahead of now would rank the user after every live write made
 * until then and (before lua/lb_import.lua clamped it) pushed the board's
 * monotonic clock ahead; 1 s absorbs rounding of a just-written export,
 * not real skew, which is a host problem to fix, not to import around.
 */
#include "tk_import_file.h"
#include "tk_lb_csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX ((size_t)1 << 31) /* 2 GiB: far past any board we hold in Redis */

static int read_all(const char *path, tk_import_file_t *f, char *err, size_t errlen)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (in == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20;
    f->buf = malloc(cap);
    f->len = 0;
    int rc = 0;
    for (;;) {
        if (f->buf == NULL) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
            break;
        }
        if (f->len == cap) {
            if (cap >= FILE_MAX) {
                snprintf(err, errlen, "%s: larger than %zu bytes", path, FILE_MAX);
                rc = -1;
                break;
            }
            cap *= 2;
            char *nb = realloc(f->buf, cap);
            if (nb == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
                break;
            }
            f->buf = nb;
        }
        size_t got = fread(f->buf + f->len, 1, cap - f->len, in);
        f->len += got;
        if (got == 0) {
            if (ferror(in)) {
                snprintf(err, errlen, "%s: read error", path);
                rc = -1;
            }
            break;
        }
    }
    if (in != stdin)
        fclose(in);
    return rc;
}

/* By user id (bytes; a prefix first), then by line: the last line of a user ends its run. */
static int by_user_line(const void *a, const void *b)
{
    const tk_import_row_t *x = a, *y = b;
    size_t m = x->ulen < y->ulen ? x->ulen : y->ulen;
    int c = memcmp(x->user, y->user, m);
    if (c != 0)
        return c;
    if (x->ulen != y->ulen)
        return x->ulen < y->ulen ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static void refuse(tk_import_file_t *f, size_t print_max, FILE *errout, size_t line, const char *why)
{
    if (f->refused < print_max)
        fprintf(errout, "line %zu: %s\n", line, why);
    f->refused++;
}

int tk_import_file_load(const char *path, int comps, int64_t now_ms, size_t print_max, FILE *errout, tk_import_file_t *f, char *err,
                        size_t errlen)
{
    memset(f, 0, sizeof(*f));
    if (read_all(path, f, err, errlen) != 0)
        return -1;
    size_t lines = 0;
    for (size_t i = 0; i < f->len; i++)
        lines += f->buf[i] == '\n';
    lines++;
    if (lines > UINT32_MAX) {
        snprintf(err, errlen, "%s: too many lines", path);
        return -1;
    }
    f->rows = malloc(lines * sizeof(*f->rows));
    if (f->rows == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t lineno = 0, n = 0;
    for (size_t at = 0; at < f->len;) {
        const char *s = f->buf + at;
        const char *nl = memchr(s, '\n', f->len - at);
        size_t len = nl != NULL ? (size_t)(nl - s) : f->len - at;
        at += len + 1;
        lineno++;
        if (len == 0 || (len == 1 && s[0] == '\r'))
            continue;
        if (lineno == 1) {
            tk_lb_csv_line_kind_t h = tk_lb_csv_header(s, len);
            if (h == TK_LB_CSV_HEADER) {
                f->header = 1;
                continue;
            }
            if (h == TK_LB_CSV_BAD_HEADER) {
                refuse(f, print_max, errout, lineno, "unknown header (want " TK_LB_CSV_HEADER2 " or " TK_LB_CSV_HEADER1 ")");
                continue;
            }
        }
        f->data_lines++;
        tk_lb_csv_row_t r;
        const char *why = NULL;
        if (tk_lb_csv_parse(s, len, comps, &r, &why) != 0) {
            refuse(f, print_max, errout, lineno, why);
            continue;
        }
        if (r.t_ms > now_ms + TK_IMPORT_FUTURE_MS) {
            refuse(f, print_max, errout, lineno, "updated_at is in the future");
            continue;
        }
        f->rows[n++] = (tk_import_row_t){.user = r.user, .ulen = (uint32_t)r.ulen, .line = (uint32_t)lineno, .c1 = r.c1, .c2 = r.c2, .t_ms = r.t_ms};
    }
    if (f->refused > print_max)
        fprintf(errout, "... and %zu more refused lines (%zu in all)\n", f->refused - print_max, f->refused);
    qsort(f->rows, n, sizeof(*f->rows), by_user_line);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        int last = i + 1 == n || f->rows[i + 1].ulen != f->rows[i].ulen || memcmp(f->rows[i + 1].user, f->rows[i].user, f->rows[i].ulen) != 0;
        if (!last) {
            f->replaced++;
            continue;
        }
        f->rows[out++] = f->rows[i];
        if (f->rows[i].t_ms > f->max_t)
            f->max_t = f->rows[i].t_ms;
    }
    f->n = out;
    return 0;
}

void tk_import_file_free(tk_import_file_t *f)
{
    free(f->buf);
    free(f->rows);
    f->buf = NULL;
    f->rows = NULL;
}
