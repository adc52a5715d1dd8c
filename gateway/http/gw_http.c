#include "gw_http.h"
#include "gw_h1wait.h"
#include "gw_keep.h"
#include "tk_json.h"
#include "tk_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The request's reference, dropped when h2o disposes of the request's pool. */
static void on_req_dispose(void *slot)
{
    gw_req_t *r = *(gw_req_t **)slot;
    r->req = NULL;
    if (r->h1wait != NULL) { /* before h2o reads the next request or closes: gw_h1wait.h */
        gw_h1wait_end(r->h1wait);
        r->h1wait = NULL;
    }
    gw_req_release(r);
}

/* Contexts freed on this loop thread, kept for its next requests: a
 * request's context outlives the request (it waits for Redis or MariaDB),
 * so the request's pool cannot hold it, and malloc+free of it were 1.2% of
 * the gateway's CPU in a perf profile of an HTTP/1.1 claim storm. A
 * context is taken and given back on its loop thread only (gw_http.h), so
 * the list needs no lock. spares_off: gw_req_spares_drain ran (the thread
 * is ending); later releases free at once. */
#define GW_REQ_SPARES GW_KEEP(256) /* none under ASan: gw_keep.h */
static _Thread_local gw_req_t *spares;
static _Thread_local int nspares, spares_off;

static gw_req_t *take_spare(void)
{
    gw_req_t *r = spares;
    if (r == NULL)
        return malloc(sizeof(*r));
    spares = r->next_spare;
    nspares--;
    return r;
}

void gw_req_spares_drain(void)
{
    spares_off = 1;
    while (spares != NULL) {
        gw_req_t *r = spares;
        spares = r->next_spare;
        free(r);
    }
    nspares = 0;
}

gw_req_t *gw_req_new(h2o_req_t *req, gw_route_id_t route)
{
    gw_req_t *r = take_spare();
    if (r == NULL)
        return NULL;
    r->req = req;
    r->th = gw_thread_of(req);
    r->route = route;
    r->refs = 1;
    r->start_us = (uint64_t)tk_time_mono_us();
    r->elen = r->ulen = 0;
    r->event_id[0] = r->user_id[0] = '\0';
    r->sublen = 0;
    r->sub[0] = '\0';
    r->admitted = 0;
    r->h1wait = NULL;
    gw_req_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_req_dispose);
    *slot = r;
    return r;
}

void gw_req_waiting(gw_req_t *r)
{
    if (r->req != NULL && r->h1wait == NULL)
        r->h1wait = gw_h1wait_begin(r->req);
}

void gw_req_release(gw_req_t *r)
{
    if (--r->refs != 0)
        return;
    if (spares_off || nspares >= GW_REQ_SPARES) {
        free(r);
        return;
    }
    r->next_spare = spares;
    spares = r;
    nspares++;
}

#define GW_REPLY_HEADERS 9 /* Content-Type, Cache-Control, Location, Retry-After; CSP, X-Frame-Options, X-Content-Type-Options, Referrer-Policy, HSTS */

void gw_reply(gw_req_t *r, int status, const char *body, size_t len, const char *location)
{
    gw_metrics_request(&r->th->metrics, r->route, status, (uint64_t)tk_time_mono_us() - r->start_us);
    h2o_req_t *req = r->req;
    if (req == NULL)
        return;
    r->req = NULL; /* answered: nothing may answer twice */
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    req->res.content_length = len; /* h2o_send_inline would otherwise fall back to chunked */
    /* Room for every header at once (ours, then gw_sechdr's four or five):
     * added one by one they grew the vector twice, copying it each time. */
    h2o_vector_reserve(&req->pool, &req->res.headers, GW_REPLY_HEADERS);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    if (location != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location, strlen(location));
    if (status == 503 || status == 429)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    h2o_send_inline(req, body, len);
}

void gw_reply_error(gw_req_t *r, int status, const char *code, const char *message)
{
    char msg[TK_JSON_ESCAPED_MAX(256)], body[sizeof(msg) + 128];
    size_t mlen = strlen(message);
    tk_json_escape(message, mlen < 256 ? mlen : 256, msg);
    int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    gw_reply(r, status, body, (size_t)n, NULL);
}

void gw_reply_errorf(gw_req_t *r, int status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gw_reply_error(r, status, code, msg);
}

void gw_reply_unavailable(gw_req_t *r, const char *backend)
{
    gw_reply_errorf(r, 503, "unavailable", "%s is unavailable; retry shortly", backend);
}
