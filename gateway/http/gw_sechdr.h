/*
 * gw_sechdr: the security headers on every answer, pages and API alike
 * (docs/DESIGN.md, "Edge hardening"; docs/API.md, "Security headers").
 *
 * An h2o response filter on the gateway's one path: it sees each answer's
 * headers just before they go out, whichever handler made it (the file
 * handler's pages, the router's JSON, h2o's own errors on that path), and
 * adds:
 *   - Strict-Transport-Security (one year, subdomains) on TLS connections
 *     only: over cleartext the header means nothing to a browser;
 *   - Content-Security-Policy: for HTML the pages' policy (scripts, styles
 *     and everything else only from the gateway's own origin, no inline
 *     script or style, no framing, no <base>, forms only to itself); for
 *     everything else (JSON, scripts, styles, images) "default-src 'none'",
 *     so an answer opened directly in a browser runs nothing;
 *   - X-Frame-Options: DENY (frame-ancestors for browsers without CSP 2);
 *   - X-Content-Type-Options: nosniff (a JSON answer is never run as a script);
 *   - Referrer-Policy: no-referrer (event and user ids in URLs stay here).
 */
#ifndef GW_SECHDR_H
#define GW_SECHDR_H

#include <h2o.h>

#define GW_SECHDR_HSTS "max-age=31536000; includeSubDomains"
#define GW_SECHDR_CSP_PAGE                                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "        \
    "form-action 'self'"
#define GW_SECHDR_CSP_OTHER "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

/** Adds the filter to @pathconf (every answer made under it gets the headers). */
void gw_sechdr_register(h2o_pathconf_t *pathconf);

#endif
