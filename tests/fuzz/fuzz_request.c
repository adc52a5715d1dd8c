/*
 * fuzz_request: libFuzzer target over everything that reads a client's bytes
 * before a backend is asked anything: the claim body, the admin bodies, the
 * id and name rules, RFC 3339 times, the route table, and (because Redis
 * holds what a client once sent) the claim record decoder, and the user
 * token: the bearer header and the JWT verifier, and the board bodies.
 *
 * The first byte picks the parser, the rest is its input. Besides "no crash,
 * no sanitizer report", each accepted input is checked against what the
 * parser promises (an accepted claim body has a valid user_id and quantity,
 * a decoded record encodes back to the same bytes, a parsed time formats and
 * parses back to the same instant, a matched route's captures lie inside
 * the path and hold no '/'; a verified token's sub is a valid user_id, a
 * correctly signed token is never a bad signature, a policy only refuses
 * more, a minted token verifies back to its user).
 *
 * Built and run by `make fuzz` (FUZZ_SECONDS, default 60); seeds in
 * tests/fuzz/corpus/.
 */
#include "gw_admin_body.h"
#include "gw_board_body.h"
#include "gw_claim_body.h"
#include "gw_router.h"
#include "gw_user_token.h"
#include "tk_claim.h"
#include "tk_jwt.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
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
        CHECK(c.wr_on ? c.wr_rate >= 1 && c.wr_rate <= GW_WR_RATE_MAX && c.wr_ttl_s >= GW_WR_TTL_MIN && c.wr_ttl_s <= GW_WR_TTL_MAX &&
                            c.wr_opens_ms >= 0 && c.wr_opens_ms <= GW_ADMIN_BODY_TIME_MAX_MS &&
                            (c.closes_ms == 0 || c.wr_opens_ms < c.closes_ms)
                      : c.wr_rate == 0 && c.wr_ttl_s == 0 && c.wr_opens_ms == 0);
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
    gw_admin_body_queue_t q;
    err[0] = '\0';
    if (gw_admin_body_parse_queue(p, n, &q, err, sizeof(err)) == 0)
        CHECK((q.has_rate || q.has_paused) && (!q.has_rate || (q.rate >= 1 && q.rate <= GW_WR_RATE_MAX)) && (q.paused == 0 || q.paused == 1));
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

/* ---- user tokens ---- */

static void jwt_key(tk_jwt_key_t *k, char c)
{
    memset(k, 0, sizeof(*k));
    memset(k->bytes, c, 32);
    k->len = 32;
}

/* Appends base64url (unpadded) of @n bytes at @in to @out (@pos, @cap). 0, or -1 when it does not fit. */
static int b64u(const void *in, size_t n, char *out, size_t cap, size_t *pos)
{
    if (n > (cap / 4) * 3 || *pos + (n + 2) / 3 * 4 + 1 > cap)
        return -1;
    char *p = out + *pos;
    int m = EVP_EncodeBlock((unsigned char *)p, in, (int)n);
    while (m > 0 && p[m - 1] == '=')
        m--;
    for (int i = 0; i < m; i++)
        p[i] = p[i] == '+' ? '-' : p[i] == '/' ? '_' : p[i];
    p[m] = '\0';
    *pos += (size_t)m;
    return 0;
}

/* Verifies @tok both without and with a policy, checking what every answer promises; returns the policy-free answer. */
static tk_jwt_err_t verify_checked(const char *tok, size_t len, const tk_jwt_key_t *keys)
{
    static const tk_jwt_policy_t pol = {"login", "tk"};
    char sub[TK_ID_MAX + 1];
    size_t sublen = 99;
    int64_t now = NOW_MS / 1000;
    tk_jwt_err_t free_rc = tk_jwt_verify(tok, len, keys, 2, NULL, now, sub, &sublen);
    CHECK((int)free_rc >= TK_JWT_OK && free_rc <= TK_JWT_SUBJECT);
    CHECK(free_rc != TK_JWT_ISSUER && free_rc != TK_JWT_AUDIENCE); /* nothing asked for them */
    if (free_rc == TK_JWT_OK) {
        CHECK(sublen == strlen(sub) && tk_valid_user_id(sub, sublen));
        CHECK(len <= TK_JWT_MAX);
    } else {
        CHECK(sub[0] == '\0' && sublen == 0);
    }
    tk_jwt_err_t pol_rc = tk_jwt_verify(tok, len, keys, 2, &pol, now, sub, &sublen);
    if (pol_rc == TK_JWT_OK)
        CHECK(free_rc == TK_JWT_OK); /* a policy only refuses more */
    CHECK(tk_jwt_err_str(pol_rc) != NULL);
    return free_rc;
}

/*
 * p[0] % 3 picks the shape: 0 the rest is a token as sent; 1 the rest is a
 * payload, signed under an HS256 header with one of the keys; 2 the rest is
 * "header\npayload", signed. A signed token is never a bad signature.
 */
static void fuzz_token(const char *p, size_t n)
{
    tk_jwt_key_t keys[2];
    jwt_key(&keys[0], 'f');
    jwt_key(&keys[1], 'g');
    const char *tok;
    size_t toklen;
    if (gw_user_token_bearer(p, n, &tok, &toklen) == 1)
        CHECK(tok >= p && tok + toklen <= p + n);
    if (n == 0)
        return;
    int mode = (unsigned char)p[0] % 3;
    p++;
    n--;
    if (mode == 0) {
        verify_checked(p, n, keys);
        if (tk_valid_user_id(p, n)) { /* a minted token verifies back to its user */
            char user[TK_ID_MAX + 1], out[TK_JWT_MAX], sub[TK_ID_MAX + 1];
            memcpy(user, p, n);
            user[n] = '\0';
            CHECK(tk_jwt_mint(&keys[1], user, NOW_MS / 1000, NOW_MS / 1000 + 60, "login", "tk", out, sizeof(out)) == 0);
            tk_jwt_policy_t pol = {"login", "tk"};
            CHECK(tk_jwt_verify(out, strlen(out), keys, 2, &pol, NOW_MS / 1000, sub, NULL) == TK_JWT_OK);
            CHECK(strcmp(sub, user) == 0);
        }
        return;
    }
    static const char hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *hdr = hs256, *pl = p;
    size_t hlen = sizeof(hs256) - 1, plen = n;
    if (mode == 2) {
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL)
            return;
        hdr = p;
        hlen = (size_t)(nl - p);
        pl = nl + 1;
        plen = n - hlen - 1;
    }
    char t[TK_JWT_MAX + 64];
    size_t pos = 0;
    if (b64u(hdr, hlen, t, sizeof(t), &pos) != 0 || pos + 1 >= sizeof(t))
        return;
    t[pos++] = '.';
    if (b64u(pl, plen, t, sizeof(t), &pos) != 0)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const tk_jwt_key_t *k = &keys[plen % 2];
    CHECK(HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)t, pos, md, &mdlen) != NULL);
    if (pos + 1 >= sizeof(t))
        return;
    t[pos++] = '.';
    if (b64u(md, mdlen, t, sizeof(t), &pos) != 0)
        return;
    tk_jwt_err_t rc = verify_checked(t, pos, keys);
    if (pos <= TK_JWT_MAX && hlen > 0 && plen > 0)
        CHECK(rc != TK_JWT_SIGNATURE);
    if (mode == 1 && pos <= TK_JWT_MAX)
        CHECK(rc != TK_JWT_ALG); /* our header says HS256 */
}

/* The board bodies (gateway/boards/gw_board_body.h): what an accepted body promises. */
static void fuzz_board(const char *p, size_t n)
{
    static gw_board_score_t out[GW_BOARD_SCORES_MAX];
    char err[GW_BOARD_BODY_ERR_MAX];
    gw_board_def_t d;
    if (gw_board_body_parse_create(p, n, &d, err, sizeof(err)) == 0) {
        CHECK(tk_valid_event_id(d.board_id, d.blen) && d.board_id[d.blen] == '\0');
        CHECK(tk_valid_name(d.name, d.nlen));
        CHECK(d.comps == 1 || d.comps == 2);
        CHECK(strcmp(d.op, "best") == 0 || strcmp(d.op, "set") == 0 || strcmp(d.op, "incr") == 0);
        CHECK(d.season_len_s >= 0 && d.season_len_s <= GW_BOARD_SEASON_LEN_MAX);
    }
    int k = 0, invalid = 0;
    if (gw_board_body_parse_scores(p, n, out, &k, &invalid, err, sizeof(err)) == 0) {
        CHECK(k >= 1 && invalid >= 0 && k + invalid <= GW_BOARD_SCORES_MAX);
        for (int i = 0; i < k; i++) {
            CHECK(tk_valid_user_id(out[i].user, out[i].ulen) && out[i].user[out[i].ulen] == '\0');
            CHECK(out[i].comps == 1 || out[i].comps == 2);
            CHECK(tk_lb_score_ok(out[i].c1) && tk_lb_score_ok(out[i].c2));
            CHECK(out[i].comps == 2 || out[i].c2 == 0);
        }
    } else {
        CHECK(k == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > TK_BODY_MAX + 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    /* % 8 keeps the seeds' first bytes '0'..'5' on their parsers; '6' is the token, '7' the board bodies. */
    switch (data[0] % 8) {
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
    case 6:
        fuzz_token(p, n);
        break;
    case 7:
        fuzz_board(p, n);
        break;
    default:
        fuzz_route(p, n);
        break;
    }
    return 0;
}
