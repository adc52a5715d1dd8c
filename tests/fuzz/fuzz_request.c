/*
 * fuzz_request: libFuzzer target over everything that reads a client's bytes
 * before a backend is asked anything: the claim body, the admin bodies, the
 * id and name rules, RFC 3339 times, the route table, and (because Redis
 * holds what a client once sent) the claim record decoder.
 *
 * The first byte picks the parser, the rest is its input. Besides "no crash,
 * no sanitizer report", each accepted input is checked against what the
 * parser promises (an accepted claim body has a valid user_id and quantity,
 * a decoded record encodes back to the same bytes, a parsed time formats and
 * parses back to the same instant, a matched route's captures lie inside
 * the path and hold no '/').
 *
 * Built and run by `make fuzz` (FUZZ_SECONDS, default 60); seeds in
 * tests/fuzz/corpus/.
 */
#include "gw_admin_body.h"
#include "gw_claim_body.h"
#include "gw_router.h"
#include "tk_claim.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00.000Z */

#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "fuzz_request: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                 \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

static void check_err(const char *err, size_t cap)
{
    CHECK(memchr(err, '\0', cap) != NULL);
    CHECK(err[0] != '\0');
}

static void fuzz_claim_body(const char *p, size_t n)
{
    gw_claim_body_t b;
    char err[256] = "";
    if (gw_claim_body_parse(p, n, &b, err, sizeof(err)) == 0) {
        CHECK(tk_valid_user_id(b.user_id, b.ulen));
        CHECK(strlen(b.user_id) == b.ulen);
        CHECK(b.quantity >= 1 && b.quantity <= TK_QUANTITY_MAX);
    } else {
        check_err(err, sizeof(err));
    }
}

static void fuzz_admin(const char *p, size_t n)
{
    char err[GW_ADMIN_BODY_ERR_MAX] = "";
    gw_admin_body_create_t c;
    if (gw_admin_body_parse_create(p, n, NOW_MS, &c, err, sizeof(err)) == 0) {
        CHECK(tk_valid_event_id(c.event_id, c.elen));
        CHECK(tk_valid_name(c.name, c.nlen));
        CHECK(c.stock >= 0 && c.stock <= TK_STOCK_MAX);
        CHECK(c.max_per_user >= 1 && c.max_per_user <= TK_QUANTITY_MAX);
        CHECK(c.opens_ms >= 0 && c.closes_ms >= 0);
        CHECK(c.closes_ms == 0 || (c.closes_ms > c.opens_ms && c.closes_ms > NOW_MS));
        CHECK(c.opens_ms <= GW_ADMIN_BODY_TIME_MAX_MS && c.closes_ms <= GW_ADMIN_BODY_TIME_MAX_MS);
    } else {
        check_err(err, sizeof(err));
    }
    int64_t delta;
    err[0] = '\0';
    if (gw_admin_body_parse_stock(p, n, &delta, err, sizeof(err)) == 0)
        CHECK(delta != 0 && delta >= -TK_STOCK_MAX && delta <= TK_STOCK_MAX);
    else
        check_err(err, sizeof(err));
    char state[8];
    err[0] = '\0';
    if (gw_admin_body_parse_state(p, n, state, err, sizeof(err)) == 0)
        CHECK(strcmp(state, "open") == 0 || strcmp(state, "paused") == 0 || strcmp(state, "closed") == 0);
    else
        check_err(err, sizeof(err));
}

static void fuzz_valid(const char *p, size_t n)
{
    if (tk_valid_event_id(p, n))
        CHECK(n >= 1 && n <= TK_ID_MAX && tk_valid_user_id(p, n) && tk_valid_utf8(p, n));
    if (tk_valid_user_id(p, n))
        CHECK(n >= 1 && n <= TK_ID_MAX && tk_valid_utf8(p, n) && memchr(p, '/', n) == NULL && memchr(p, '"', n) == NULL);
    if (tk_valid_name(p, n))
        CHECK(n >= 1 && n <= TK_NAME_MAX && tk_valid_utf8(p, n) && memchr(p, '\0', n) == NULL);
}

static void fuzz_time(const char *p, size_t n)
{
    char *s = malloc(n + 1); /* the parser wants a C string: no slack past the end */
    if (s == NULL)
        return;
    memcpy(s, p, n);
    s[n] = '\0';
    int64_t ms;
    if (tk_time_parse_rfc3339(s, &ms) == 0 && ms >= 0 && ms <= GW_ADMIN_BODY_TIME_MAX_MS) {
        char out[TK_TIME_RFC3339_LEN + 1];
        tk_time_format_rfc3339(ms, out);
        int64_t back;
        CHECK(tk_time_parse_rfc3339(out, &back) == 0 && back == ms);
    }
    free(s);
}

static void fuzz_claim_record(const char *p, size_t n)
{
    tk_claim_t c;
    if (tk_claim_decode(p, n, &c) == 0) {
        char out[TK_CLAIM_RECORD_MAX];
        int len = tk_claim_encode(&c, out);
        CHECK(len > 0 && len < TK_CLAIM_RECORD_MAX);
        tk_claim_t again;
        CHECK(tk_claim_decode(out, (size_t)len, &again) == 0);
        CHECK(again.ticket == c.ticket && again.quantity == c.quantity && again.created_ms == c.created_ms && again.status == c.status);
        CHECK(tk_claim_status_name(c.status) != NULL);
    }
}

/* How many ids a matched route captures, from the shape of its path:
 * /v1/events/E[/claims] 1, /v1/events/E/claims/U 2, and the same under
 * /v1/admin. (gw_router_match copies both slots whatever the route; the
 * second is only meaningful for two-capture routes.) */
static int captures_of(const char *path, size_t plen)
{
    int segs = 0;
    for (size_t i = 0; i < plen; i++)
        segs += path[i] == '/';
    if (plen >= 11 && memcmp(path, "/v1/events/", 11) == 0)
        return segs == 5 ? 2 : 1;
    if (plen >= 17 && memcmp(path, "/v1/admin/events/", 17) == 0)
        return segs == 6 ? 2 : 1;
    return 0;
}

static void fuzz_route(const char *p, size_t n)
{
    const char *sp = memchr(p, ' ', n);
    size_t mlen = sp != NULL ? (size_t)(sp - p) : 0;
    const char *path = sp != NULL ? sp + 1 : p;
    size_t plen = n - (size_t)(path - p);
    gw_route_match_t m;
    int rc = gw_router_match(p, mlen, path, plen, &m);
    CHECK(rc == 0 || rc == -1);
    if (rc != 0)
        CHECK(m.status == 404 || (m.status == 405 && m.allow != NULL));
    int nc = rc == 0 ? captures_of(path, plen) : 0;
    const h2o_iovec_t *params = m.params;
    for (int i = 0; i < nc; i++) {
        CHECK(params[i].base != NULL && params[i].len > 0);
        CHECK(params[i].base >= path && params[i].base + params[i].len <= path + plen);
        CHECK(memchr(params[i].base, '/', params[i].len) == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > TK_BODY_MAX + 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0:
        fuzz_claim_body(p, n);
        break;
    case 1:
        fuzz_admin(p, n);
        break;
    case 2:
        fuzz_valid(p, n);
        break;
    case 3:
        fuzz_time(p, n);
        break;
    case 4:
        fuzz_claim_record(p, n);
        break;
    default:
        fuzz_route(p, n);
        break;
    }
    return 0;
}
