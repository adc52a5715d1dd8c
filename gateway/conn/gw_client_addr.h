/*
 * gw_client_addr: who the client of a request is, for the per-address
 * limits (the request rate of gw_ratelimit_ip and the connection count of
 * gw_accept), as docs/DESIGN.md "Connections and client address" says:
 *
 *   - the connection's peer: the socket's address, or the address of a
 *     PROXY protocol line that gw_accept honoured (only from a peer in
 *     TRUSTED_PROXIES);
 *   - when that peer is itself in TRUSTED_PROXIES, X-Forwarded-For is read
 *     from the right: every hop in TRUSTED_PROXIES is skipped, and the
 *     first address that is not is the client. What lies left of it was
 *     written by the client and is never looked at. An entry that is not
 *     an address stops the walk at the last address taken (a trusted hop):
 *     nobody gets to choose a key by writing garbage;
 *   - anyone else's X-Forwarded-For is ignored.
 */
#ifndef GW_CLIENT_ADDR_H
#define GW_CLIENT_ADDR_H

#include "gw_cidr.h"

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#define GW_XFF_MAX_HOPS 32 /* X-Forwarded-For entries looked at, from the right */
#define GW_ADDR_KEY_MAX 9

/**
 * The key a per-address limit counts under, into @key (GW_ADDR_KEY_MAX
 * bytes), its length returned: an IPv4 address whole, an IPv6 address by
 * its /64 (what one subscriber usually gets).
 */
size_t gw_addr_key(int family, const uint8_t addr[16], unsigned char key[GW_ADDR_KEY_MAX]);

/**
 * The X-Forwarded-For walk over the header's @n values (in the order they
 * came; each a comma list) given a trusted peer: *@family / @addr hold the
 * peer on entry and the client on return. Returns how many entries were
 * taken (0: the peer stays).
 */
size_t gw_xff_walk(const h2o_iovec_t *values, size_t n, const gw_cidr_list_t *trusted, int *family, uint8_t addr[16]);

/**
 * The client address of @req as above, into *@family / @addr. 0, or -1
 * when the connection has no IP peer (nothing to key on).
 */
int gw_client_addr(h2o_req_t *req, const gw_cidr_list_t *trusted, int *family, uint8_t addr[16]);

#endif
