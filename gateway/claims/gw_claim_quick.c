#include "gw_claim_quick.h"

#include <string.h>

/* JSON's whitespace (RFC 8259): space, tab, line feed, carriage return. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A key in quotes, then the colon: 'u' for user_id, 'q' for quantity, 0 for anything else. */
static int key(const char **pp, const char *end)
{
    static const char user[] = "\"user_id\"", qty[] = "\"quantity\"";
    const char *p = *pp;
    int k = 0;
    if ((size_t)(end - p) >= sizeof(user) - 1 && memcmp(p, user, sizeof(user) - 1) == 0) {
        k = 'u';
        p += sizeof(user) - 1;
    } else if ((size_t)(end - p) >= sizeof(qty) - 1 && memcmp(p, qty, sizeof(qty) - 1) == 0) {
        k = 'q';
        p += sizeof(qty) - 1;
    } else {
        return 0;
    }
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return 0;
    *pp = skip_ws(p + 1, end);
    return k;
}

/* "…": 1–TK_ID_MAX user-id characters, none of them a quote or a backslash. */
static int user_value(const char **pp, const char *end, gw_claim_body_t *out)
{
    const char *p = *pp, *s;
    if (p == end || *p != '"')
        return -1;
    s = ++p;
    while (p < end && *p != '"' && p - s <= TK_ID_MAX)
        p++;
    if (p == end || *p != '"' || !tk_valid_user_id(s, (size_t)(p - s)))
        return -1;
    out->ulen = (size_t)(p - s);
    memcpy(out->user_id, s, out->ulen);
    out->user_id[out->ulen] = '\0';
    *pp = p + 1;
    return 0;
}

/* null, or 1–TK_QUANTITY_MAX in plain digits; the next byte must end the number. */
static int qty_value(const char **pp, const char *end, gw_claim_body_t *out)
{
    const char *p = *pp;
    if ((size_t)(end - p) >= 4 && memcmp(p, "null", 4) == 0) {
        out->quantity = 1;
        p += 4;
    } else {
        int v = 0, digits = 0;
        if (p == end || *p < '1' || *p > '9')
            return -1;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++digits > 4)
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (v > TK_QUANTITY_MAX)
            return -1;
        out->quantity = v;
    }
    /* "1.5", "1e3", "nullx": not the end of a value this reader knows */
    if (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ',' && *p != '}')
        return -1;
    *pp = p;
    return 0;
}

int gw_claim_quick(const char *body, size_t len, int user_required, gw_claim_body_t *out)
{
    const char *p = body, *end = body + len;
    int seen_user = 0, seen_qty = 0;
    out->user_id[0] = '\0';
    out->ulen = 0;
    out->quantity = 1;
    p = skip_ws(p, end);
    if (p == end || *p != '{')
        return 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            int k = key(&p, end);
            if (k == 'u' && !seen_user) {
                if (user_value(&p, end, out) != 0)
                    return 0;
                seen_user = 1;
            } else if (k == 'q' && !seen_qty) {
                if (qty_value(&p, end, out) != 0)
                    return 0;
                seen_qty = 1;
            } else {
                return 0; /* another key, or one seen twice */
            }
            p = skip_ws(p, end);
            if (p == end)
                return 0;
            if (*p == '}') {
                p++;
                break;
            }
            if (*p != ',')
                return 0;
            p = skip_ws(p + 1, end);
        }
    }
    if (skip_ws(p, end) != end)
        return 0;
    return seen_user || !user_required;
}
