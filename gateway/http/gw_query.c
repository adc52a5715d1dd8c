#include "gw_query.h"

#include <stdio.h>
#include <string.h>

void gw_query_of(const h2o_req_t *req, const char **q, size_t *len)
{
    *q = NULL;
    *len = 0;
    if (req->query_at != SIZE_MAX) {
        *q = req->path.base + req->query_at + 1;
        *len = req->path.len - req->query_at - 1;
    }
}

int gw_query_next(const char *q, size_t len, size_t *pos, const char *const *names, int nnames, unsigned *seen,
                  const char **v, size_t *vlen, char *err, size_t errlen)
{
    while (q != NULL && *pos < len) {
        size_t i = *pos, end = i;
        while (end < len && q[end] != '&')
            end++;
        const char *kv = q + i, *eq = memchr(kv, '=', end - i);
        size_t klen = eq != NULL ? (size_t)(eq - kv) : end - i;
        *v = eq != NULL ? eq + 1 : kv + klen;
        *vlen = (size_t)(q + end - *v);
        *pos = end + 1;
        for (int k = 0; k < nnames; k++) {
            if (strlen(names[k]) != klen || memcmp(names[k], kv, klen) != 0)
                continue;
            if (*seen & (1u << k)) {
                snprintf(err, errlen, "%s is given twice", names[k]);
                return -1;
            }
            *seen |= 1u << k;
            return k;
        }
    }
    return GW_QUERY_END;
}

int gw_query_uint(const char *s, size_t len, int maxdig, int64_t *v)
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

int gw_query_valid_slug(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
