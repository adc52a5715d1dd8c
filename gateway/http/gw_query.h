/*
 * gw_query: the query string of a request, for routes that take parameters
 * (watch, the admin presence lookup). One walker, so every such route has
 * the same rules: values are taken as they are (no percent-decoding — every
 * value a route accepts needs no escaping, so an escaped one is refused like
 * any other bad value), unknown names are ignored, a known name given twice
 * is refused.
 */
#ifndef GW_QUERY_H
#define GW_QUERY_H

#include <h2o.h>

#include <stddef.h>
#include <stdint.h>

#define GW_QUERY_END (-2)

/** The query of @req without its '?' into *@q / *@len (NULL / 0 when there is none). */
void gw_query_of(const h2o_req_t *req, const char **q, size_t *len);

/**
 * The next parameter of @q (@len bytes) from *@pos whose name is one of
 * @names (@nnames, at most 32): returns its index with its value in *@v /
 * *@vlen (not NUL-terminated; empty for "name" or "name="), and moves *@pos
 * past it. GW_QUERY_END when no more; -1 with a message in @err when a name
 * comes twice (@seen, zeroed by the caller, remembers the names taken).
 */
int gw_query_next(const char *q, size_t len, size_t *pos, const char *const *names, int nnames, unsigned *seen,
                  const char **v, size_t *vlen, char *err, size_t errlen);

/** A decimal of 1..@maxdig digits (at most 18) into *@v: 0, or -1 when it is not one. */
int gw_query_uint(const char *s, size_t len, int maxdig, int64_t *v);

/** 1 when @s (@len bytes) is 1..@max of [a-z0-9_-] (a page name). */
int gw_query_valid_slug(const char *s, size_t len, size_t max);

#endif
