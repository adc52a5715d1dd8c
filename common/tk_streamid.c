#include "tk_streamid.h"

#include <string.h>

/* Digits of one part, up to @stop or the end; 0 and the part's end, or -1. */
static int number(const char *s, char stop, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p != '\0' && *p != stop; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -1;
    *out = v;
    *end = p;
    return 0;
}

int tk_streamid_parse(const char *s, uint64_t *ms, uint64_t *seq)
{
    const char *p;
    uint64_t m, q = 0;
    if (number(s, '-', &m, &p) != 0)
        return -1;
    if (*p == '-' && (number(p + 1, '\0', &q, &p) != 0))
        return -1;
    *ms = m;
    *seq = q;
    return 0;
}

int tk_streamid_cmp(const char *a, const char *b)
{
    uint64_t am, as, bm, bs;
    int aok = tk_streamid_parse(a, &am, &as) == 0, bok = tk_streamid_parse(b, &bm, &bs) == 0;
    if (!aok || !bok)
        return aok ? 1 : bok ? -1 : strcmp(a, b);
    if (am != bm)
        return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs ? 1 : 0;
}
