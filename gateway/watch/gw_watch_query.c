#include "gw_watch_query.h"
#include "gw_query.h"

#include <stdio.h>
#include <string.h>

int gw_watch_query_parse(const char *q, size_t len, gw_watch_query_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->since = GW_WATCH_SINCE_NONE;
    memcpy(out->page, "event", 6);
    out->plen = 5;
    out->wait_s = GW_WATCH_WAIT_MAX_S;
    static const char *const names[] = {"since", "page", "tab", "wait", "user_id"};
    unsigned seen = 0;
    size_t pos = 0;
    const char *v;
    size_t vlen;
    int k;
    while ((k = gw_query_next(q, len, &pos, names, 5, &seen, &v, &vlen, err, errlen)) != GW_QUERY_END) {
        if (k < 0)
            return -1;
        int64_t x;
        switch (k) {
        case 0:
            if (gw_query_uint(v, vlen, 18, &x) != 0) {
                snprintf(err, errlen, "since must be a version (a non-negative integer)");
                return -1;
            }
            out->since = x;
            break;
        case 1:
            if (!gw_query_valid_slug(v, vlen, GW_WATCH_PAGE_MAX)) {
                snprintf(err, errlen, "page must be 1-%d of [a-z0-9_-]", GW_WATCH_PAGE_MAX);
                return -1;
            }
            memcpy(out->page, v, vlen);
            out->page[out->plen = vlen] = '\0';
            break;
        case 2:
            if (gw_query_uint(v, vlen, 2, &x) != 0 || x > GW_WATCH_TAB_MAX) {
                snprintf(err, errlen, "tab must be 0-%d", GW_WATCH_TAB_MAX);
                return -1;
            }
            out->tab = (int)x;
            break;
        case 3:
            if (gw_query_uint(v, vlen, 2, &x) != 0 || x > GW_WATCH_WAIT_MAX_S) {
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
