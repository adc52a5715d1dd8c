/*
 * gw_proxy_line: the PROXY protocol v1 line a TCP load balancer (HAProxy
 * "send-proxy", AWS NLB, …) writes before the client's bytes:
 *
 *     PROXY TCP4 <client> <balancer> <client port> <balancer port>\r\n
 *     PROXY TCP6 …\r\n
 *     PROXY UNKNOWN[ anything]\r\n        (the balancer's own health checks)
 *
 * at most 107 bytes with the CRLF (haproxy's proxy-protocol.txt, 2.1).
 *
 * Why our own parser and not h2o's (h2o_accept_ctx_t.expect_proxy_line):
 * h2o 2.2.5 honours a line from any peer (it cannot know TRUSTED_PROXIES),
 * waits for a CRLF without a length bound, accepts ports like "99999" via
 * sscanf("%hu"), and gives the caller no moment between the line and the
 * request where the per-address connection limit could count the client.
 * gw_accept reads the line itself, only from trusted peers, then hands the
 * socket (with whatever followed the line) to h2o_accept.
 *
 * The v2 (binary) header is not read: it is refused like any bad line.
 */
#ifndef GW_PROXY_LINE_H
#define GW_PROXY_LINE_H

#include <stddef.h>
#include <sys/socket.h>

#define GW_PROXY_LINE_MAX 107

typedef enum {
    GW_PROXY_MORE = 0, /* a prefix of a line: read more */
    GW_PROXY_NONE,     /* the input does not start with "PROXY ": no line */
    GW_PROXY_ADDR,     /* a TCP4/TCP6 line: the client's address is in *ss */
    GW_PROXY_UNKNOWN,  /* "PROXY UNKNOWN": the connection's own address stands */
    GW_PROXY_BAD,      /* starts as a line but is not a valid one (or too long) */
} gw_proxy_result_t;

/**
 * Parses the start of a connection's input @buf (@len bytes). On ADDR and
 * UNKNOWN, *@consumed is the line's length with its CRLF; on ADDR the
 * client's address and port are in *@ss (*@sl bytes).
 */
gw_proxy_result_t gw_proxy_line_parse(const char *buf, size_t len, struct sockaddr_storage *ss, socklen_t *sl, size_t *consumed);

#endif
