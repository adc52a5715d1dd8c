/*
 * tk_lb_csv: one CSV line parsed and formatted (tk_lb_csv.h has the format).
 *
 * Why a hand-written parser and not strtoll/sscanf: the range is
 * [-(2^53 - 1), 2^53 - 1], not int64's, and we must tell "not a number"
 * (a letter, a '+', a space) from "too big" (reported differently), with
 * no locale, no errno and no silent wrap; digits are counted past leading
 * zeros (007 is 7) and 17 of them are enough to know a value is out of
 * range, so nothing overflows. No quoting: no field can hold a comma or a
 * quote (user ids are [A-Za-z0-9_.:@-]), so a split at commas is exact.
 *
 * Why the header rule (first field "user_id" and a second that is not an
 * integer): a user may legitimately be called user_id; with a number in the
 * second column the line is data. Why the export writes RFC 3339 with ms:
 * it reads back to the same ms (the parser truncates finer fractions, and
 * an export never has them), so export then import is the identity on
 * values; with seqs drawn in file order it also keeps same-ms ties in order.
 */
#include "tk_lb_csv.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FIELDS_MAX 5 /* one more than any form has, to see an extra column */
#define TIME_TEXT_MAX 40

typedef struct {
    const char *s;
    size_t len;
} field_t;

/* Splits at commas into at most FIELDS_MAX fields; returns the count (FIELDS_MAX meaning "too many"). */
static int split(const char *line, size_t len, field_t *f)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == ',') {
            if (n == FIELDS_MAX)
                return FIELDS_MAX;
            f[n++] = (field_t){line + start, i - start};
            start = i + 1;
        }
    }
    return n;
}

/* 0 and *v for a decimal integer of the component range; 1 when not an integer; 2 when out of range. */
static int take_int(const field_t *f, int64_t *v)
{
    const char *s = f->s, *end = f->s + f->len;
    int neg = 0;
    if (s < end && *s == '-') {
        neg = 1;
        s++;
    }
    if (s == end)
        return 1;
    while (s + 1 < end && *s == '0') /* leading zeros carry no digits */
        s++;
    int64_t x = 0;
    int digits = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return 1;
        if (++digits > 17) /* 2^53 - 1 has 16; keep reading to tell "not a number" from "too big" */
            x = TK_LB_SCORE_MAX + 1;
        else
            x = x * 10 + (*s - '0');
    }
    if (x > TK_LB_SCORE_MAX)
        return 2;
    *v = neg ? -x : x;
    return 0;
}

/* 0 and *ms, or -1: integer ms, or RFC 3339. */
static int take_time(const field_t *f, int64_t *ms)
{
    if (f->len == 0)
        return -1;
    int all_digits = 1;
    for (size_t i = 0; i < f->len; i++)
        all_digits &= f->s[i] >= '0' && f->s[i] <= '9';
    if (all_digits) {
        if (f->len > 13)
            return -1;
        int64_t x = 0;
        for (size_t i = 0; i < f->len; i++)
            x = x * 10 + (f->s[i] - '0');
        *ms = x;
        return 0;
    }
    char buf[TIME_TEXT_MAX];
    if (f->len >= sizeof(buf))
        return -1;
    memcpy(buf, f->s, f->len);
    buf[f->len] = '\0';
    int64_t x;
    if (tk_time_parse_rfc3339(buf, &x) != 0 || x < 0 || x > TK_LB_TIME_MAX)
        return -1;
    *ms = x;
    return 0;
}

int tk_lb_csv_parse(const char *line, size_t len, int comps, tk_lb_csv_row_t *row, const char **why)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    field_t f[FIELDS_MAX];
    int n = split(line, len, f);
    int want = comps == 2 ? 4 : 3;
    if (n < want) {
        *why = comps == 2 ? "too few fields (want user_id,level,exp,updated_at)" : "too few fields (want user_id,score,updated_at)";
        return -1;
    }
    if (n > 4) {
        *why = "too many fields";
        return -1;
    }
    if (!tk_valid_user_id(f[0].s, f[0].len)) {
        *why = "bad user_id (1-64 of A-Z a-z 0-9 _ . : @ -)";
        return -1;
    }
    int64_t c1 = 0, c2 = 0, t = 0;
    int r = take_int(&f[1], &c1);
    if (r != 0) {
        *why = r == 1 ? (comps == 2 ? "level is not an integer" : "score is not an integer")
                      : (comps == 2 ? "level out of range (|v| <= 2^53-1)" : "score out of range (|v| <= 2^53-1)");
        return -1;
    }
    const field_t *tf = &f[n - 1];
    if (n == 4) {
        r = take_int(&f[2], &c2);
        if (r != 0) {
            *why = r == 1 ? "exp is not an integer" : "exp out of range (|v| <= 2^53-1)";
            return -1;
        }
        if (comps == 1 && c2 != 0) {
            *why = "exp must be 0 or absent on a board of one component";
            return -1;
        }
    }
    if (take_time(tf, &t) != 0) {
        *why = "bad updated_at (RFC 3339 or integer ms since the epoch, 0..9999999999999)";
        return -1;
    }
    *row = (tk_lb_csv_row_t){.user = f[0].s, .ulen = f[0].len, .c1 = c1, .c2 = c2, .t_ms = t};
    return 0;
}

tk_lb_csv_line_kind_t tk_lb_csv_header(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    field_t f[FIELDS_MAX];
    int n = split(line, len, f);
    if (n < 2 || f[0].len != 7 || memcmp(f[0].s, "user_id", 7) != 0)
        return TK_LB_CSV_DATA;
    int64_t v;
    if (take_int(&f[1], &v) != 1)
        return TK_LB_CSV_DATA; /* a user called "user_id" with a number: data */
    if ((len == strlen(TK_LB_CSV_HEADER2) && memcmp(line, TK_LB_CSV_HEADER2, len) == 0) ||
        (len == strlen(TK_LB_CSV_HEADER1) && memcmp(line, TK_LB_CSV_HEADER1, len) == 0))
        return TK_LB_CSV_HEADER;
    return TK_LB_CSV_BAD_HEADER;
}

const char *tk_lb_csv_header_line(int comps)
{
    return comps == 2 ? TK_LB_CSV_HEADER2 : TK_LB_CSV_HEADER1;
}

int tk_lb_csv_format(const char *user, size_t ulen, const tk_lb_entry_t *e, int comps, char *out)
{
    if (ulen == 0 || ulen > TK_ID_MAX)
        return -1;
    char t[TK_TIME_RFC3339_LEN + 1];
    tk_time_format_rfc3339(e->t_ms, t);
    int n = comps == 2 ? snprintf(out, TK_LB_CSV_LINE_MAX, "%.*s,%" PRId64 ",%" PRId64 ",%s\n", (int)ulen, user, e->c1, e->c2, t)
                       : snprintf(out, TK_LB_CSV_LINE_MAX, "%.*s,%" PRId64 ",%s\n", (int)ulen, user, e->c1, t);
    return n > 0 && n < TK_LB_CSV_LINE_MAX ? n : -1;
}
