#include "gw_client_addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

size_t gw_addr_key(int family, const uint8_t addr[16], unsigned char key[GW_ADDR_KEY_MAX])
{
    if (family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, addr, 4);
        return 5;
    }
    key[0] = 6;
    memcpy(key + 1, addr, 8);
    return 9;
}

/* One X-Forwarded-For entry: "a.b.c.d", "a.b.c.d:port", "x::y", "[x::y]" or "[x::y]:port". 0, or -1 when it is none of them. */
static int parse_hop(const char *s, size_t len, int *family, uint8_t addr[16])
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    char buf[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *host = buf, *port = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return -1;
        *close = '\0';
        host = buf + 1;
        port = close[1] == ':' ? close + 2 : NULL;
    } else if (strchr(buf, '.') != NULL && strchr(buf, ':') != NULL && strchr(buf, ':') == strrchr(buf, ':')) {
        port = strchr(buf, ':'); /* IPv4 with a port (IPv6 with a dot, ::ffff:a.b.c.d, has more than one ':') */
        *port++ = '\0';
    }
    if (port != NULL) {
        size_t pl = strlen(port);
        if (pl == 0 || pl > 5 || strspn(port, "0123456789") != pl || atol(port) > 65535)
            return -1;
    }
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, host, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, addr) != 1)
        return -1;
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, v4mapped, 12) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
    } else {
        *family = AF_INET6;
    }
    return 0;
}

size_t gw_xff_walk(const h2o_iovec_t *values, size_t n, const gw_cidr_list_t *trusted, int *family, uint8_t addr[16])
{
    size_t taken = 0;
    for (size_t h = n; h-- > 0;) {
        const char *base = values[h].base;
        size_t end = values[h].len;
        for (;;) {
            size_t start = end;
            while (start > 0 && base[start - 1] != ',')
                start--;
            int f;
            uint8_t a[16];
            if (taken == GW_XFF_MAX_HOPS || parse_hop(base + start, end - start, &f, a) != 0)
                return taken; /* stop at the last address taken */
            *family = f;
            memcpy(addr, a, 16);
            taken++;
            if (!gw_cidr_list_has(trusted, f, a))
                return taken; /* the first hop we do not trust: the client */
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    return taken; /* every hop trusted: the left-most */
}

int gw_client_addr(h2o_req_t *req, const gw_cidr_list_t *trusted, int *family, uint8_t addr[16])
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl == 0 || gw_addr_norm((struct sockaddr *)&ss, sl, family, addr) != 0)
        return -1;
    if (trusted->n == 0 || !gw_cidr_list_has(trusted, *family, addr))
        return 0;
    /* The last 16 X-Forwarded-For lines (the walk starts at the right end; h2o takes at most 100 header lines). */
    h2o_iovec_t values[16];
    size_t n = 0;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1;) {
        if (n == 16)
            memmove(values, values + 1, --n * sizeof(values[0]));
        values[n++] = req->headers.entries[i].value;
    }
    gw_xff_walk(values, n, trusted, family, addr);
    return 0;
}
