#include "gw_cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* 1 when the first @prefix bits of @a and @b agree. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int gw_cidr_parse(const char *s, size_t len, gw_cidr_t *out, char *err, size_t errlen)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        snprintf(err, errlen, "\"%.*s\": not an address or CIDR block", (int)(len < 64 ? len : 64), s);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        if (slash[1] < '0' || slash[1] > '9' || (prefix = strtol(slash + 1, &end, 10)) < 0 || *end != '\0' || end - (slash + 1) > 3) {
            snprintf(err, errlen, "\"%.*s\": the prefix length must be a number", (int)len, s);
            return -1;
        }
    }
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        snprintf(err, errlen, "\"%.*s\": not an IPv4 or IPv6 address", (int)len, s);
        return -1;
    }
    if (prefix > (long)max) {
        snprintf(err, errlen, "\"%.*s\": the prefix length is at most %u", (int)len, s, max);
        return -1;
    }
    out->prefix = prefix < 0 ? max : (unsigned)prefix;
    uint8_t masked[16] = {0};
    memcpy(masked, out->addr, out->prefix / 8);
    if (out->prefix % 8 != 0)
        masked[out->prefix / 8] = (uint8_t)(out->addr[out->prefix / 8] & (0xff << (8 - out->prefix % 8)));
    if (memcmp(masked, out->addr, 16) != 0) {
        char net[INET6_ADDRSTRLEN];
        inet_ntop(out->family, masked, net, sizeof(net));
        snprintf(err, errlen, "\"%.*s\": bits set past the /%u prefix (the block is %s/%u)", (int)len, s, out->prefix, net, out->prefix);
        return -1;
    }
    if (out->family == AF_INET6 && out->prefix >= 96 && memcmp(out->addr, v4mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->family = AF_INET;
        out->prefix -= 96;
    }
    return 0;
}

int gw_cidr_parse_list(const char *s, gw_cidr_list_t *out, char *err, size_t errlen)
{
    out->n = 0;
    if (s == NULL)
        return 0;
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *end = p + strcspn(p, ",");
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b) {
            snprintf(err, errlen, "an empty entry in the list");
            out->n = 0;
            return -1;
        }
        if (out->n == GW_CIDR_MAX) {
            snprintf(err, errlen, "more than %d entries", GW_CIDR_MAX);
            out->n = 0;
            return -1;
        }
        if (gw_cidr_parse(a, (size_t)(b - a), &out->v[out->n], err, errlen) != 0) {
            out->n = 0;
            return -1;
        }
        out->n++;
        if (*end == '\0')
            return 0;
        p = end + 1;
    }
}

int gw_addr_norm(const struct sockaddr *sa, socklen_t len, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *family = AF_INET;
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a6, v4mapped, 12) == 0) {
            memcpy(addr, a6 + 12, 4);
            *family = AF_INET;
        } else {
            memcpy(addr, a6, 16);
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

int gw_cidr_list_has(const gw_cidr_list_t *list, int family, const uint8_t addr[16])
{
    for (size_t i = 0; i < list->n; i++)
        if (list->v[i].family == family && prefix_equal(list->v[i].addr, addr, list->v[i].prefix))
            return 1;
    return 0;
}

int gw_cidr_list_has_sa(const gw_cidr_list_t *list, const struct sockaddr *sa, socklen_t len)
{
    int family;
    uint8_t addr[16];
    return list->n > 0 && gw_addr_norm(sa, len, &family, addr) == 0 && gw_cidr_list_has(list, family, addr);
}
