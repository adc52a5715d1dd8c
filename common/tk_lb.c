#include "tk_lb.h"
#include "tk_valid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_lb_score_ok(int64_t v)
{
    return v >= -TK_LB_SCORE_MAX && v <= TK_LB_SCORE_MAX;
}

size_t tk_lb_member_user_at(int comps)
{
    return (comps == 2 ? TK_LB_C2KEY_LEN : 0) + 13 + 10;
}

int tk_lb_member(const tk_lb_entry_t *e, int comps, const char *user, size_t ulen, char *out)
{
    if ((comps != 1 && comps != 2) || !tk_lb_score_ok(e->c1) || !tk_lb_score_ok(e->c2) || e->t_ms < 0 ||
        e->t_ms > TK_LB_TIME_MAX || e->seq < 0 || e->seq > TK_LB_SEQ_MAX || ulen == 0 || ulen > TK_ID_MAX)
        return -1;
    int n = 0;
    if (comps == 2)
        n = e->c2 >= 0 ? snprintf(out, TK_LB_MEMBER_MAX, "0%016" PRId64, TK_LB_SCORE_MAX - e->c2)
                       : snprintf(out, TK_LB_MEMBER_MAX, "1%016" PRId64, -e->c2);
    n += snprintf(out + n, TK_LB_MEMBER_MAX - (size_t)n, "%013" PRId64 "%010" PRId64 "%.*s", e->t_ms, e->seq, (int)ulen, user);
    return n;
}

int tk_lb_entry_format(const tk_lb_entry_t *e, char *out)
{
    return snprintf(out, TK_LB_ENTRY_MAX, "%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, e->c1, e->c2, e->t_ms, e->seq);
}

/* One signed decimal integer of at most 17 digits ending at a space or at @end. */
static const char *take_int(const char *s, const char *end, int64_t *v)
{
    int neg = 0;
    if (s < end && *s == '-') {
        neg = 1;
        s++;
    }
    const char *start = s;
    int64_t x = 0;
    while (s < end && *s >= '0' && *s <= '9' && s - start < 17)
        x = x * 10 + (*s++ - '0');
    if (s == start || (s < end && *s != ' '))
        return NULL;
    *v = neg ? -x : x;
    return s;
}

int tk_lb_entry_parse(const char *s, size_t len, tk_lb_entry_t *e)
{
    const char *end = s + len;
    int64_t v[4];
    for (int i = 0; i < 4; i++) {
        if (i > 0) {
            if (s >= end || *s != ' ')
                return -1;
            s++;
        }
        if ((s = take_int(s, end, &v[i])) == NULL)
            return -1;
    }
    if (s != end || !tk_lb_score_ok(v[0]) || !tk_lb_score_ok(v[1]) || v[2] < 0 || v[2] > TK_LB_TIME_MAX || v[3] < 0 ||
        v[3] > TK_LB_SEQ_MAX)
        return -1;
    *e = (tk_lb_entry_t){.c1 = v[0], .c2 = v[1], .t_ms = v[2], .seq = v[3]};
    return 0;
}

/* @n decimal digits at @s into *@v: 0, or -1 on a non-digit. */
static int fixed_digits(const char *s, size_t n, int64_t *v)
{
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int tk_lb_member_parse(const char *m, size_t len, int comps, tk_lb_entry_t *e, size_t *user_at)
{
    if (comps != 1 && comps != 2)
        return -1;
    size_t at = tk_lb_member_user_at(comps), p = 0;
    if (len <= at || !tk_valid_user_id(m + at, len - at))
        return -1;
    int64_t c2 = 0, t, seq;
    if (comps == 2) {
        int64_t k;
        if ((m[0] != '0' && m[0] != '1') || fixed_digits(m + 1, TK_LB_C2KEY_LEN - 1, &k) != 0 || k > TK_LB_SCORE_MAX)
            return -1;
        if (m[0] == '0')
            c2 = TK_LB_SCORE_MAX - k;
        else if (k == 0)
            return -1; /* "1" is for negative values only: tk_lb_member writes 0 as "0" + 2^53 - 1 */
        else
            c2 = -k;
        p = TK_LB_C2KEY_LEN;
    }
    if (fixed_digits(m + p, 13, &t) != 0 || fixed_digits(m + p + 13, 10, &seq) != 0)
        return -1;
    e->c2 = c2;
    e->t_ms = t;
    e->seq = seq;
    *user_at = at;
    return 0;
}

int tk_lb_score_c1(const char *s, size_t len, int64_t *c1)
{
    char buf[48];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    /* strtod rounds correctly, and every integer of the range is a double exactly: any exact
     * spelling of the score ("-12", "-1.2e1") gives it back exactly. */
    double d = strtod(buf, &end);
    if (end != buf + len || !(d >= -(double)TK_LB_SCORE_MAX && d <= (double)TK_LB_SCORE_MAX) || d != (double)(int64_t)d)
        return -1;
    int64_t v = -(int64_t)d;
    *c1 = v == 0 ? 0 : v; /* never a "-0" */
    return 0;
}
