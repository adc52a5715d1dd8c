#include "gw_watch_query.h"

#include <stdio.h>
#include <string.h>

/* A decimal of 1..@maxdig digits into *@v; -1 when not one. */
static int parse_uint(const char *s, size_t len, int maxdig, int64_t *v)
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

static int valid_page(const char *s, size_t len)
{
    if (len == 0 || len > GW_WATCH_PAGE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int gw_watch_query_parse(const char *q, size_t len, gw_watch_query_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->since = GW_WATCH_SINCE_NONE;
    memcpy(out->page, "event", 6);
    out->plen = 5;
    out->wait_s = GW_WATCH_WAIT_MAX_S;
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
        static const char *const names[] = {"since", "page", "tab", "wait", "user_id"};
        int k = -1;
        for (int n = 0; n < 5; n++)
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
        switch (k) {
        case 0:
            if (parse_uint(v, vlen, 18, &x) != 0) {
                snprintf(err, errlen, "since must be a version (a non-negative integer)");
                return -1;
            }
            out->since = x;
            break;
        case 1:
            if (!valid_page(v, vlen)) {
                snprintf(err, errlen, "page must be 1-%d of [a-z0-9_-]", GW_WATCH_PAGE_MAX);
                return -1;
            }
            memcpy(out->page, v, vlen);
            out->page[out->plen = vlen] = '\0';
            break;
        case 2:
            if (parse_uint(v, vlen, 2, &x) != 0 || x > GW_WATCH_TAB_MAX) {
                snprintf(err, errlen, "tab must be 0-%d", GW_WATCH_TAB_MAX);
                return -1;
            }
            out->tab = (int)x;
            break;
        case 3:
            if (parse_uint(v, vlen, 2, &x) != 0 || x > GW_WATCH_WAIT_MAX_S) {
                snprintf(err, errlen, "wait must be 0-%d seconds", GW_WATCH_WAIT_MAX_S);
                return -1;
            }
            out->wait_s = (int)x;
            break;
        default:
            if (!tk_valid_user_id(v, vlen)) {
                snprintf(err, errlen, "user_id must be 1-64 of [A-Za-z0-9_.:@-]");
                return -1;
            }
            memcpy(out->user_id, v, vlen);
            out->user_id[out->ulen = vlen] = '\0';
            break;
        }
    }
    return 0;
}
