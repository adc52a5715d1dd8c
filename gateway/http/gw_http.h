/*
 * gw_http: the per-request context of an API call and the one path every
 * answer goes out through (JSON body, Content-Length, metrics).
 *
 * Ownership: gw_req_t is malloc'ed (or reused from its thread's spares) and reference-counted. The request holds
 * one reference until h2o frees the request (then ->req becomes NULL); each
 * asynchronous operation in flight (a Redis call, a database job) holds
 * another. Whoever drops the last reference frees it. An HTTP/2 client that
 * resets a stream frees its request at once, so a callback must check ->req
 * (gw_reply does) before answering.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "gw_metrics.h"
#include "gw_types.h"
#include "tk_valid.h"

#include <h2o.h>

typedef struct st_gw_req_t {
    h2o_req_t *req; /* NULL once the client is gone */
    gw_thread_t *th;
    gw_route_id_t route;
    int refs;
    uint64_t start_us;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    char user_id[TK_ID_MAX + 1];
    size_t ulen;
    char sub[TK_ID_MAX + 1]; /* the verified user token's "sub" (gw_user_token.h); "" when none was checked */
    size_t sublen;           /* 0: no token checked (USER_AUTH=off, or not a user route) */
    int admitted;            /* 1: the bearer is a valid access token for event_id (gw_access.h); claim.lua's gate */
    h2o_socket_t *h1wait;    /* HTTP/1.x: the connection kept polled while this request waits (gw_h1wait.h), or NULL */
    struct st_gw_req_t *next_spare; /* while freed: the next in its thread's list of contexts kept for reuse */
} gw_req_t;

typedef void (*gw_handler_fn)(gw_req_t *r);

/** Creates the context of @req for @route (refs = 1, held by the request). NULL on no memory. */
gw_req_t *gw_req_new(h2o_req_t *req, gw_route_id_t route);

/**
 * The handler returned and @r is not answered yet: on HTTP/1.x its
 * connection stays polled while it waits (gw_h1wait.h), until h2o disposes
 * of the request. Nothing when answered, or on HTTP/2.
 */
void gw_req_waiting(gw_req_t *r);

/** Takes one more reference (for an async call). */
static inline gw_req_t *gw_req_ref(gw_req_t *r)
{
    r->refs++;
    return r;
}

/** Drops one reference; frees @r at zero (keeps it for this thread's next gw_req_new). Loop thread only. */
void gw_req_release(gw_req_t *r);

/** Frees the contexts this thread kept for reuse, and keeps none from now on. At the end of a loop thread. */
void gw_req_spares_drain(void);

/**
 * Answers with @status and the JSON @body (copied). @location, when not NULL,
 * becomes the Location header. Does nothing but count when the client is
 * gone. Every answer of the API goes through here.
 */
void gw_reply(gw_req_t *r, int status, const char *body, size_t len, const char *location);

/**
 * Answers with the API's error body {"error":{"code":…,"message":…}}.
 * @message is escaped. 429 and 503 get Retry-After: 1.
 */
void gw_reply_error(gw_req_t *r, int status, const char *code, const char *message);

/** gw_reply_error with a printf-style message. */
void gw_reply_errorf(gw_req_t *r, int status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** The 503 of a request whose backend failed ("unavailable", Retry-After: 1). */
void gw_reply_unavailable(gw_req_t *r, const char *backend);

#endif
