/*
 * gw_cidr: address ranges (CIDR blocks, IPv4 and IPv6) and the list of
 * them that TRUSTED_PROXIES names: the load balancers whose word about a
 * client's address (a PROXY protocol line, X-Forwarded-For) the gateway
 * takes (docs/DESIGN.md, "Connections and client address").
 *
 * An IPv4 address, whether it arrives as AF_INET or as an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, what a dual-stack socket reports), is matched as
 * IPv4; a block written as ::ffff:a.b.c.d/N with N >= 96 is stored as the
 * IPv4 block a.b.c.d/(N-96). So one rule never depends on how the kernel
 * spelled the peer.
 *
 * A leaf: includes no gateway header (gw_config.h embeds the list).
 */
#ifndef GW_CIDR_H
#define GW_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GW_CIDR_MAX 64 /* blocks in one list */

typedef struct {
    int family;          /* AF_INET or AF_INET6 */
    unsigned prefix;     /* 0..32 or 0..128 */
    uint8_t addr[16];    /* network byte order; IPv4 in the first 4 bytes; bits past the prefix are 0 */
} gw_cidr_t;

typedef struct {
    size_t n;
    gw_cidr_t v[GW_CIDR_MAX];
} gw_cidr_list_t;

/**
 * Parses one block, "a.b.c.d[/N]" or "x:y::z[/N]" (no prefix: one
 * address), into @out. Bits set past the prefix are refused (10.0.0.1/8 is
 * a typo more often than a wish). Returns 0, or -1 with a message in @err.
 */
int gw_cidr_parse(const char *s, size_t len, gw_cidr_t *out, char *err, size_t errlen);

/**
 * Parses a comma-separated list of blocks (spaces around entries allowed;
 * "" or NULL is the empty list) into @out. Returns 0, or -1 with a message
 * naming the bad entry in @err (@out is then empty).
 */
int gw_cidr_parse_list(const char *s, gw_cidr_list_t *out, char *err, size_t errlen);

/**
 * Puts the address of @sa (AF_INET or AF_INET6, @len bytes) into the
 * normalised form used here: *@family AF_INET with 4 bytes for IPv4 and
 * IPv4-mapped IPv6, else AF_INET6 with 16. Returns 0, or -1 for another
 * family or a short @len.
 */
int gw_addr_norm(const struct sockaddr *sa, socklen_t len, int *family, uint8_t addr[16]);

/** 1 when the normalised address (@family, @addr) lies in a block of @list. */
int gw_cidr_list_has(const gw_cidr_list_t *list, int family, const uint8_t addr[16]);

/** gw_cidr_list_has for a socket address; 0 for anything gw_addr_norm refuses. */
int gw_cidr_list_has_sa(const gw_cidr_list_t *list, const struct sockaddr *sa, socklen_t len);

#endif
