#include "gw_proxy_line.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* The next field of @line (up to a space or the end) into @out (@cap bytes). The length, or 0 when empty or too long. */
static size_t field(const char **line, const char *end, char *out, size_t cap)
{
    const char *p = *line, *q = p;
    while (q < end && *q != ' ')
        q++;
    size_t n = (size_t)(q - p);
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    *line = q < end ? q + 1 : q;
    return n;
}

static int port(const char *s, size_t n, unsigned *out)
{
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned long)(s[i] - '0');
    if (v > 65535)
        return -1;
    *out = (unsigned)v;
    return 0;
}

gw_proxy_result_t gw_proxy_line_parse(const char *buf, size_t len, struct sockaddr_storage *ss, socklen_t *sl, size_t *consumed)
{
    static const char sig[] = "PROXY ";
    size_t cmp = len < sizeof(sig) - 1 ? len : sizeof(sig) - 1;
    if (memcmp(buf, sig, cmp) != 0)
        return GW_PROXY_NONE;
    const char *cr = memchr(buf, '\r', len < GW_PROXY_LINE_MAX ? len : GW_PROXY_LINE_MAX);
    if (cr == NULL)
        return len < GW_PROXY_LINE_MAX ? GW_PROXY_MORE : GW_PROXY_BAD;
    if ((size_t)(cr - buf) + 1 >= len)
        return GW_PROXY_MORE; /* the LF has not come yet */
    if (cr[1] != '\n')
        return GW_PROXY_BAD;
    *consumed = (size_t)(cr - buf) + 2;

    const char *p = buf + sizeof(sig) - 1, *end = cr;
    char proto[8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], sport[8], dport[8];
    if (end - p >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (end - p == 7 || p[7] == ' '))
        return GW_PROXY_UNKNOWN;
    size_t sp, dp;
    if (field(&p, end, proto, sizeof(proto)) == 0 || field(&p, end, src, sizeof(src)) == 0 || field(&p, end, dst, sizeof(dst)) == 0 ||
        (sp = field(&p, end, sport, sizeof(sport))) == 0 || (dp = field(&p, end, dport, sizeof(dport))) == 0 || p != end ||
        end[-1] == ' ')
        return GW_PROXY_BAD;
    unsigned cport, bport;
    if (port(sport, sp, &cport) != 0 || port(dport, dp, &bport) != 0)
        return GW_PROXY_BAD;
    memset(ss, 0, sizeof(*ss));
    if (strcmp(proto, "TCP4") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        struct in_addr other;
        if (inet_pton(AF_INET, src, &sin->sin_addr) != 1 || inet_pton(AF_INET, dst, &other) != 1)
            return GW_PROXY_BAD;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cport);
        *sl = sizeof(*sin);
        return GW_PROXY_ADDR;
    }
    if (strcmp(proto, "TCP6") == 0) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        struct in6_addr other;
        if (inet_pton(AF_INET6, src, &sin6->sin6_addr) != 1 || inet_pton(AF_INET6, dst, &other) != 1)
            return GW_PROXY_BAD;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cport);
        *sl = sizeof(*sin6);
        return GW_PROXY_ADDR;
    }
    return GW_PROXY_BAD;
}
