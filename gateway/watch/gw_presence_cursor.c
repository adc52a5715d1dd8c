#include "gw_presence_cursor.h"
#include "gw_query.h"

#include <stdio.h>
#include <string.h>

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
    if (gw_query_uint(v, (size_t)(c1 - v), 15, &out->t_ms) != 0 || gw_query_uint(c1 + 1, (size_t)(c2 - c1 - 1), 15, &out->score_ms) != 0 ||
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
    static const char *const names[] = {"page", "tab", "cursor", "limit"};
    unsigned seen = 0;
    size_t pos = 0;
    const char *v;
    size_t vlen;
    int k;
    while ((k = gw_query_next(q, len, &pos, names, 4, &seen, &v, &vlen, err, errlen)) != GW_QUERY_END) {
        if (k < 0)
            return -1;
        int64_t x;
        if (k == 0) {
            if (!gw_query_valid_slug(v, vlen, GW_WATCH_PAGE_MAX)) {
                snprintf(err, errlen, "page must be 1-%d of [a-z0-9_-]", GW_WATCH_PAGE_MAX);
                return -1;
            }
            memcpy(out->page, v, vlen);
            out->page[vlen] = '\0';
        } else if (k == 1) {
            if (gw_query_uint(v, vlen, 2, &x) != 0 || x > GW_WATCH_TAB_MAX) {
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
            if (gw_query_uint(v, vlen, 4, &x) != 0 || x < 1 || x > GW_PRESENCE_LIMIT_MAX) {
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
