/*
 * gw_router: maps method and path to a route, and does what every route
 * needs before its handler runs: 404 / 405 answers, the admin bearer token
 * (401 before anything else is revealed), the body size limit (413), and
 * the validation of the ids in the path (400).
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <h2o.h>
#include <stddef.h>

/** Registers the API handler on @pathconf; requests for other paths fall through to the next handler (static files). */
void gw_router_register(h2o_pathconf_t *pathconf);

/** Registers the last handler of @pathconf: a JSON 404 for what no handler before it served. */
void gw_router_register_unmatched(h2o_pathconf_t *pathconf);

/* The outcome of gw_router_match. */
typedef struct {
    int route;             /* on success: the index in the route table */
    h2o_iovec_t params[2]; /* on success: the captured path segments (event, user), unused ones empty */
    int status;            /* on failure: 404 (no pattern matches the path) or 405 (one does, for another method) */
    const char *allow;     /* with 405: the method that path takes */
} gw_route_match_t;

/**
 * Matches @method and @path (no query string) against the route table.
 * Returns 0 with m->route and m->params set; -1 when no route takes the
 * request, with m->status (and m->allow) saying why. Exposed for unit tests.
 */
int gw_router_match(const char *method, size_t mlen, const char *path, size_t plen, gw_route_match_t *m);

/** 1 when @header is "Bearer <token>" for the configured admin token; constant time in the token's content. */
int gw_router_check_token(const unsigned char expected_hash[32], const char *header, size_t len);

#endif
