#include "gw_presence_cursor.h"

#include <stdio.h>
#include <string.h>

static int parse_num(const char *s, size_t len, int maxdig, int64_t *v)
{
    if (len == 0 || len > (size_t)maxdig)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

static int parse_cursor(const char *v, size_t len, gw_presence_query_t *out)
{
    const char *c1 = memchr(v, ':', len);
    if (c1 == NULL)
        return -1;
    const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - v));
    if (c2 == NULL)
        return -1;
    const char *u = c2 + 1;
    size_t ulen = len - (size_t)(u - v);
    if (parse_num(v, (size_t)(c1 - v), 15, &out->t_ms) != 0 || parse_num(c1 + 1, (size_t)(c2 - c1 - 1), 15, &out->score_ms) != 0 ||
        out->score_ms > out->t_ms || !tk_valid_user_id(u, ulen))
        return -1;
    memcpy(out->user, u, ulen);
    out->user[ulen] = '\0';
    out->has_cursor = 1;
    return 0;
}

int gw_presence_query_parse(const char *q, size_t len, gw_presence_query_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->limit = GW_PRESENCE_LIMIT_DEFAULT;
    unsigned seen = 0;
    size_t i = 0;
    while (q != NULL && i < len) {
        size_t end = i;
        while (end < len && q[end] != '&')
            end++;
        const char *kv = q + i, *eq = memchr(kv, '=', end - i);
        size_t klen = eq != NULL ? (size_t)(eq - kv) : end - i;
        const char *v = eq != NULL ? eq + 1 : kv + klen;
        size_t vlen = (size_t)(q + end - v);
        i = end + 1;
        static const char *const names[] = {"page", "tab", "cursor", "limit"};
        int k = -1;
        for (int n = 0; n < 4; n++)
            if (strlen(names[n]) == klen && memcmp(names[n], kv, klen) == 0)
                k = n;
        if (k < 0)
            continue;
        if (seen & (1u << k)) {
            snprintf(err, errlen, "%s is given twice", names[k]);
            return -1;
        }
        seen |= 1u << k;
        int64_t x;
        if (k == 0) {
            int ok = vlen > 0 && vlen <= GW_WATCH_PAGE_MAX;
            for (size_t j = 0; ok && j < vlen; j++)
                ok = (v[j] >= 'a' && v[j] <= 'z') || (v[j] >= '0' && v[j] <= '9') || v[j] == '_' || v[j] == '-';
            if (!ok) {
                snprintf(err, errlen, "page must be 1-%d of [a-z0-9_-]", GW_WATCH_PAGE_MAX);
                return -1;
            }
            memcpy(out->page, v, vlen);
            out->page[vlen] = '\0';
        } else if (k == 1) {
            if (parse_num(v, vlen, 2, &x) != 0 || x > GW_WATCH_TAB_MAX) {
                snprintf(err, errlen, "tab must be 0-%d", GW_WATCH_TAB_MAX);
                return -1;
            }
            out->tab = (int)x;
        } else if (k == 2) {
            if (parse_cursor(v, vlen, out) != 0) {
                snprintf(err, errlen, "cursor is not one this API gave (next_cursor)");
                return -1;
            }
        } else {
            if (parse_num(v, vlen, 4, &x) != 0 || x < 1 || x > GW_PRESENCE_LIMIT_MAX) {
                snprintf(err, errlen, "limit must be 1-%d", GW_PRESENCE_LIMIT_MAX);
                return -1;
            }
            out->limit = (int)x;
        }
    }
    if (((seen & 1u) != 0) != ((seen & 2u) != 0)) {
        snprintf(err, errlen, "page and tab go together: both or neither");
        return -1;
    }
    out->has_page = (seen & 1u) != 0;
    return 0;
}

int gw_presence_cursor_format(int64_t t_ms, int64_t score_ms, const char *user, char *out)
{
    return snprintf(out, GW_PRESENCE_CURSOR_MAX, "%lld:%lld:%s", (long long)t_ms, (long long)score_ms, user);
}
