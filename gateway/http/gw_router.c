#include "gw_router.h"
#include "gw_access.h"
#include "gw_http.h"
#include "gw_ratelimit.h"
#include "gw_routes.h"
#include "gw_tls.h"
#include "gw_user_token.h"
#include "tk_valid.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

typedef struct {
    const char *method;
    const char *pattern; /* '*' is one non-empty path segment */
    gw_route_id_t id;
    gw_handler_fn fn;
    int admin;
    int param_kinds; /* how many captures: 1 = event, 2 = event and user */
    int user;        /* a user route: the user token is checked (gw_user_token.h); a path user must be its "sub" */
    int body_max;    /* request bodies over this get 413; 0 = TK_BODY_MAX (16 KiB) */
} route_t;

static const route_t routes[] = {
    {"GET", "/healthz", GW_ROUTE_HEALTHZ, gw_route_healthz, 0, 0},
    {"GET", "/readyz", GW_ROUTE_READYZ, gw_route_readyz, 0, 0},
    {"GET", "/metrics", GW_ROUTE_METRICS, gw_route_metrics, 0, 0},
    {"GET", "/v1/events", GW_ROUTE_EVENTS_LIST, gw_route_events_list, 0, 0},
    {"GET", "/v1/events/*", GW_ROUTE_EVENT_GET, gw_route_event_get, 0, 1},
    {"POST", "/v1/events/*/claims", GW_ROUTE_CLAIM_POST, gw_route_claim_post, 0, 1, 1},
    {"GET", "/v1/events/*/claims/*", GW_ROUTE_CLAIM_GET, gw_route_status_get, 0, 2, 1},
    {"POST", "/v1/admin/events", GW_ROUTE_ADMIN_CREATE, gw_route_admin_create, 1, 0},
    {"GET", "/v1/admin/events/*", GW_ROUTE_ADMIN_VIEW, gw_route_admin_view, 1, 1},
    {"POST", "/v1/admin/events/*/stock", GW_ROUTE_ADMIN_STOCK, gw_route_admin_stock, 1, 1},
    {"POST", "/v1/admin/events/*/state", GW_ROUTE_ADMIN_STATE, gw_route_admin_state, 1, 1},
    {"GET", "/v1/admin/events/*/presence", GW_ROUTE_ADMIN_PRESENCE, gw_route_admin_presence, 1, 1},
    {"DELETE", "/v1/admin/events/*/claims/*", GW_ROUTE_ADMIN_CANCEL, gw_route_admin_cancel, 1, 2},
    {"GET", "/v1/events/*/watch", GW_ROUTE_WATCH, gw_route_watch, 0, 1, 1},
    {"POST", "/v1/events/*/queue", GW_ROUTE_QUEUE_JOIN, gw_route_queue_join, 0, 1, 1},
    {"GET", "/v1/events/*/queue/*", GW_ROUTE_QUEUE_STATUS, gw_route_queue_status, 0, 2, 1},
    {"POST", "/v1/dev/login", GW_ROUTE_DEV_LOGIN, gw_route_dev_login, 0, 0}, /* only with DEV_LOGIN=1 (on_req) */
    {"GET", "/v1/admin/events/*/queue", GW_ROUTE_ADMIN_QUEUE_VIEW, gw_route_admin_queue_view, 1, 1},
    {"POST", "/v1/admin/events/*/queue", GW_ROUTE_ADMIN_QUEUE_UPDATE, gw_route_admin_queue_update, 1, 1},
    /* Leaderboards' public reads: no token; the first id is the board's, the second a user of it (not the asker). */
    {"GET", "/v1/boards/*/top", GW_ROUTE_BOARD_TOP, gw_route_board_top, 0, 1},
    {"GET", "/v1/boards/*/users/*", GW_ROUTE_BOARD_USER, gw_route_board_user, 0, 2},
    {"GET", "/v1/boards/*/users/*/around", GW_ROUTE_BOARD_AROUND, gw_route_board_around, 0, 2},
    {"POST", "/v1/boards/*/ranks", GW_ROUTE_BOARD_RANKS, gw_route_board_ranks, 0, 1, 0, TK_BODY_MAX_SCORES},
    /* Leaderboards (gateway/boards/): the path's board id is checked as an event id is, into r->event_id. */
    {"POST", "/v1/admin/boards", GW_ROUTE_BOARD_CREATE, gw_route_board_create, 1, 0},
    {"POST", "/v1/admin/boards/*/scores", GW_ROUTE_BOARD_SCORES, gw_route_board_scores, 1, 1, 0, TK_BODY_MAX_SCORES},
    {"POST", "/v1/admin/boards/*/seasons", GW_ROUTE_BOARD_SEASON, gw_route_board_season, 1, 1},
    {"GET", "/v1/admin/boards/*", GW_ROUTE_BOARD_VIEW, gw_route_admin_board_view, 1, 1},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int match_pattern(const char *pat, const char *path, size_t plen, h2o_iovec_t params[2])
{
    size_t i = 0;
    int np = 0;
    for (; *pat != '\0'; pat++) {
        if (*pat == '*') {
            size_t start = i;
            while (i < plen && path[i] != '/')
                i++;
            if (i == start || np == 2)
                return 0;
            params[np++] = h2o_iovec_init(path + start, i - start);
        } else {
            if (i >= plen || path[i] != *pat)
                return 0;
            i++;
        }
    }
    return i == plen;
}

int gw_router_match(const char *method, size_t mlen, const char *path, size_t plen, gw_route_match_t *m)
{
    memset(m, 0, sizeof(*m));
    m->status = 404;
    for (size_t r = 0; r < NROUTES; r++) {
        h2o_iovec_t p[2] = {{NULL, 0}, {NULL, 0}};
        if (!match_pattern(routes[r].pattern, path, plen, p))
            continue;
        if (strlen(routes[r].method) == mlen && memcmp(routes[r].method, method, mlen) == 0) {
            m->route = (int)r;
            m->params[0] = p[0];
            m->params[1] = p[1];
            return 0;
        }
        m->status = 405;
        m->allow = routes[r].method;
    }
    return -1;
}

int gw_router_check_token(const unsigned char expected_hash[32], const char *header, size_t len)
{
    static const char prefix[] = "Bearer ";
    if (len <= sizeof(prefix) - 1 || strncasecmp(header, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    /* Hashing first makes the comparison independent of the token's length. */
    unsigned char got[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)header + sizeof(prefix) - 1, len - (sizeof(prefix) - 1), got);
    return CRYPTO_memcmp(got, expected_hash, SHA256_DIGEST_LENGTH) == 0;
}

static int is_api_path(h2o_iovec_t path)
{
    return (path.len >= 4 && memcmp(path.base, "/v1/", 4) == 0) || h2o_memis(path.base, path.len, H2O_STRLIT("/v1")) ||
           h2o_memis(path.base, path.len, H2O_STRLIT("/healthz")) || h2o_memis(path.base, path.len, H2O_STRLIT("/readyz")) ||
           h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"));
}

/*
 * Copies the path segment @seg into @dst (NUL-terminated, its length into
 * *@len) when @valid accepts it. 0, or -1 with @r answered 400 @message.
 */
static int take_param(gw_req_t *r, h2o_iovec_t seg, int (*valid)(const char *, size_t), char *dst, size_t *len, const char *message)
{
    if (!valid(seg.base, seg.len)) {
        gw_reply_error(r, 400, "bad_request", message);
        return -1;
    }
    memcpy(dst, seg.base, seg.len);
    dst[*len = seg.len] = '\0';
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    h2o_iovec_t path = req->path_normalized;
    if (!is_api_path(path))
        return -1; /* a page: the file handler serves it */

    gw_route_match_t m;
    const route_t *rt = gw_router_match(req->method.base, req->method.len, path.base, path.len, &m) == 0 ? &routes[m.route] : NULL;
    if (!gw_thread_of(req)->server->conf->dev_login && h2o_memis(path.base, path.len, H2O_STRLIT("/v1/dev/login"))) {
        rt = NULL; /* off: the path does not exist, for any method */
        m.status = 404;
    }
    int admin = rt != NULL ? rt->admin : (path.len >= 9 && memcmp(path.base, "/v1/admin", 9) == 0);
    gw_req_t *r = gw_req_new(req, rt != NULL ? rt->id : GW_ROUTE_UNMATCHED);
    if (r == NULL) {
        h2o_send_error_503(req, "Service Unavailable", "out of memory", 0);
        return 0;
    }
    if (gw_ratelimit_ip(r) != 0)
        return 0;

    /* Admin routes do not exist on the cleartext port unless allowed: the
     * same 404 as an unknown route, before the token is even looked at. */
    if (admin && !r->th->server->conf->admin_on_http && !gw_tls_req_is_secure(req)) {
        r->route = GW_ROUTE_UNMATCHED;
        gw_reply_error(r, 404, "not_found", "no such route");
        return 0;
    }
    if (admin) {
        ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
        gw_server_t *srv = r->th->server;
        if (i < 0 || !gw_router_check_token(srv->admin_token_hash, req->headers.entries[i].value.base, req->headers.entries[i].value.len)) {
            gw_reply_error(r, 401, "unauthorized", "a valid admin bearer token is required");
            return 0;
        }
    }
    if (rt == NULL && m.status == 404) {
        gw_reply_error(r, 404, "not_found", "no such route");
        return 0;
    }
    if (rt == NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, m.allow, strlen(m.allow));
        gw_reply_errorf(r, 405, "method_not_allowed", "use %s on this route", m.allow);
        return 0;
    }
    /*
     * Who is asking, before the body is read or anything looked up; then the
     * per-user limit on that verified user, so naming someone else spends
     * only the asker's own budget (docs/DESIGN.md, "User tokens").
     */
    int access = 0;
    if ((rt->id == GW_ROUTE_CLAIM_POST || rt->id == GW_ROUTE_CLAIM_GET) && (access = gw_access_check(r, m.params[0].base, m.params[0].len)) < 0)
        return 0; /* an access token, but not for this event or not now: 403 not_admitted (gw_access.h) */
    if (rt->user && !access && gw_user_token_check(r) != 0)
        return 0;
    if (r->sublen > 0 && gw_ratelimit_user(r) != 0)
        return 0;
    int body_max = rt->body_max > 0 ? rt->body_max : TK_BODY_MAX;
    if (req->entity.base != NULL && req->entity.len > (size_t)body_max) {
        gw_reply_errorf(r, 413, "too_large", "request bodies are limited to %d bytes", body_max);
        return 0;
    }
    if (rt->param_kinds >= 1 &&
        take_param(r, m.params[0], tk_valid_event_id, r->event_id, &r->elen,
                   strstr(rt->pattern, "/boards/") != NULL ? "board_id must be 1-64 of [a-z0-9_-]" : "event_id must be 1-64 of [a-z0-9_-]") != 0)
        return 0;
    if (rt->param_kinds >= 2) {
        if (take_param(r, m.params[1], tk_valid_user_id, r->user_id, &r->ulen, "user_id must be 1-64 of [A-Za-z0-9_.:@-]") != 0)
            return 0;
        if (r->sublen > 0 && (r->ulen != r->sublen || memcmp(r->user_id, r->sub, r->ulen) != 0)) {
            gw_reply_error(r, 403, "forbidden", "a user token reads only its own user's claims and place");
            return 0;
        }
        if (r->sublen == 0 && gw_ratelimit_user(r) != 0) /* USER_AUTH=off: the limit keys on the path's user, as in v1 */
            return 0;
    }
    gw_req_ref(r); /* r outlives the handler even if h2o disposed of the request in it */
    rt->fn(r);
    gw_req_waiting(r); /* not answered yet: an HTTP/1.1 connection stays polled (gw_h1wait.h) */
    gw_req_release(r);
    return 0;
}

void gw_router_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}

/* Reached when neither the API nor a page matched: the API's JSON 404. */
static int on_unmatched(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    gw_req_t *r = gw_req_new(req, GW_ROUTE_UNMATCHED);
    if (r == NULL)
        return -1;
    gw_reply_error(r, 404, "not_found", "no such route or page");
    return 0;
}

void gw_router_register_unmatched(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_unmatched;
}
