/*
 * Unit tests of common/tk_jwt: HS256 user tokens. Every refusal kind, the
 * two-key rotation, the skew edges to the second, tampering with each part,
 * the classic algorithm-confusion tokens, the RFC 7515 A.1 example as an
 * interoperability vector, and the key file rules.
 *
 * Tokens with odd headers or payloads are built here by craft(), which signs
 * whatever JSON it is given with HMAC-SHA-256 (OpenSSL), so a refusal proves
 * the verifier's rule and not a mistake of the signer.
 */
#include "tk_jwt.h"
#include "tk_valid.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NOW INT64_C(1800000000)

static tk_jwt_key_t key_a, key_b;

static void fill_key(tk_jwt_key_t *k, char c, size_t len)
{
    memset(k, 0, sizeof(*k));
    memset(k->bytes, c, len);
    k->len = len;
}

static int setup(void **state)
{
    (void)state;
    fill_key(&key_a, 'a', 32);
    fill_key(&key_b, 'b', 48);
    return 0;
}

/* base64url without padding of @n bytes of @in, appended at @out. */
static void b64u(const void *in, size_t n, char *out)
{
    char *p = out + strlen(out);
    int m = EVP_EncodeBlock((unsigned char *)p, in, (int)n);
    while (m > 0 && p[m - 1] == '=')
        m--;
    p[m] = '\0';
    for (int i = 0; i < m; i++)
        p[i] = p[i] == '+' ? '-' : p[i] == '/' ? '_' : p[i];
}

/* "<b64u hdr>.<b64u payload>.<b64u HMAC-SHA-256 with @k>" (no signature part when @k is NULL). */
static void craft(const char *hdr, const char *payload, const tk_jwt_key_t *k, char *out)
{
    out[0] = '\0';
    b64u(hdr, strlen(hdr), out);
    strcat(out, ".");
    b64u(payload, strlen(payload), out);
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (k != NULL)
        assert_non_null(HMAC(EVP_sha256(), k->bytes, (int)k->len, (unsigned char *)out, strlen(out), md, &mdlen));
    strcat(out, ".");
    b64u(md, mdlen, out);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static tk_jwt_err_t verify2(const char *tok, const tk_jwt_key_t *keys, size_t nkeys, const tk_jwt_policy_t *pol,
                            int64_t now, char *sub)
{
    size_t sublen = 99;
    tk_jwt_err_t rc = tk_jwt_verify(tok, strlen(tok), keys, nkeys, pol, now, sub, &sublen);
    if (rc == TK_JWT_OK)
        assert_int_equal(sublen, strlen(sub));
    else {
        assert_string_equal(sub, ""); /* nothing of a refused token leaks out */
        assert_int_equal(sublen, 0);
    }
    return rc;
}

static tk_jwt_err_t verify(const char *tok, int64_t now)
{
    char sub[TK_ID_MAX + 1];
    return verify2(tok, &key_a, 1, NULL, now, sub);
}

static tk_jwt_err_t verify_payload(const char *payload, int64_t now)
{
    char tok[TK_JWT_MAX * 2];
    craft(HS256, payload, &key_a, tok);
    return verify(tok, now);
}

static void test_round_trip(void **state)
{
    (void)state;
    char tok[TK_JWT_MAX], sub[TK_ID_MAX + 1];
    assert_int_equal(tk_jwt_mint(&key_a, "u-42", NOW, NOW + 3600, NULL, NULL, tok, sizeof(tok)), 0);
    assert_int_equal(verify2(tok, &key_a, 1, NULL, NOW, sub), TK_JWT_OK);
    assert_string_equal(sub, "u-42");
    /* The longest user_id of API.md goes through whole. */
    char id[TK_ID_MAX + 1];
    memset(id, 'Z', TK_ID_MAX);
    id[TK_ID_MAX] = '\0';
    assert_int_equal(tk_jwt_mint(&key_a, id, NOW, NOW + 60, "login", "tk", tok, sizeof(tok)), 0);
    tk_jwt_policy_t pol = {.iss = "login", .aud = "tk"};
    assert_int_equal(verify2(tok, &key_a, 1, &pol, NOW, sub), TK_JWT_OK);
    assert_string_equal(sub, id);
    /* sublen may be NULL. */
    assert_int_equal(tk_jwt_verify(tok, strlen(tok), &key_a, 1, &pol, NOW, sub, NULL), TK_JWT_OK);
}

static void test_mint_refusals(void **state)
{
    (void)state;
    char tok[TK_JWT_MAX];
    assert_int_equal(tk_jwt_mint(&key_a, "a b", NOW, NOW + 1, NULL, NULL, tok, sizeof(tok)), -1);
    assert_int_equal(tk_jwt_mint(&key_a, "", NOW, NOW + 1, NULL, NULL, tok, sizeof(tok)), -1);
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 1, "\xff", NULL, tok, sizeof(tok)), -1);
    /* Too small an output buffer, at every length short of the token's own. */
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 1, NULL, NULL, tok, sizeof(tok)), 0);
    size_t need = strlen(tok) + 1;
    char small[TK_JWT_MAX];
    for (size_t n = 0; n < need; n++)
        assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 1, NULL, NULL, small, n), -1);
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 1, NULL, NULL, small, need), 0);
    assert_string_equal(small, tok);
}

static void test_rotation(void **state)
{
    (void)state;
    char ta[TK_JWT_MAX], tb[TK_JWT_MAX], sub[TK_ID_MAX + 1];
    tk_jwt_key_t c = {0};
    fill_key(&c, 'c', 32);
    assert_int_equal(tk_jwt_mint(&key_a, "u-a", NOW, NOW + 60, NULL, NULL, ta, sizeof(ta)), 0);
    assert_int_equal(tk_jwt_mint(&key_b, "u-b", NOW, NOW + 60, NULL, NULL, tb, sizeof(tb)), 0);
    tk_jwt_key_t both[2] = {key_a, key_b};
    assert_int_equal(verify2(ta, both, 2, NULL, NOW, sub), TK_JWT_OK); /* current */
    assert_string_equal(sub, "u-a");
    assert_int_equal(verify2(tb, both, 2, NULL, NOW, sub), TK_JWT_OK); /* next */
    assert_string_equal(sub, "u-b");
    /* After the rotation (next became current, old one gone). */
    assert_int_equal(verify2(tb, &key_b, 1, NULL, NOW, sub), TK_JWT_OK);
    assert_int_equal(verify2(ta, &key_b, 1, NULL, NOW, sub), TK_JWT_SIGNATURE);
    /* A third key signs nothing here. */
    tk_jwt_key_t other[2] = {c, key_b};
    assert_int_equal(verify2(ta, other, 2, NULL, NOW, sub), TK_JWT_SIGNATURE);
    /* A key that is a prefix of the real one is another key. */
    tk_jwt_key_t shorter = key_b;
    shorter.len = 47;
    assert_int_equal(verify2(tb, &shorter, 1, NULL, NOW, sub), TK_JWT_SIGNATURE);
}

static void test_skew_edges(void **state)
{
    (void)state;
    char p[256];
    /* exp: valid while now < exp + 30. */
    snprintf(p, sizeof(p), "{\"sub\":\"u-1\",\"exp\":%lld}", (long long)NOW);
    assert_int_equal(verify_payload(p, NOW + TK_JWT_SKEW_S - 1), TK_JWT_OK);
    assert_int_equal(verify_payload(p, NOW + TK_JWT_SKEW_S), TK_JWT_EXPIRED);
    /* A real NumericDate: exp 1800000000.5 is still valid at NOW + 30, not at NOW + 31. */
    snprintf(p, sizeof(p), "{\"sub\":\"u-1\",\"exp\":%lld.5}", (long long)NOW);
    assert_int_equal(verify_payload(p, NOW + TK_JWT_SKEW_S), TK_JWT_OK);
    assert_int_equal(verify_payload(p, NOW + TK_JWT_SKEW_S + 1), TK_JWT_EXPIRED);
    /* nbf: refused while now + 30 < nbf. */
    snprintf(p, sizeof(p), "{\"sub\":\"u-1\",\"exp\":%lld,\"nbf\":%lld}", (long long)NOW + 3600, (long long)NOW);
    assert_int_equal(verify_payload(p, NOW - TK_JWT_SKEW_S), TK_JWT_OK);
    assert_int_equal(verify_payload(p, NOW - TK_JWT_SKEW_S - 1), TK_JWT_NOT_YET);
    /* iat: refused when more than 30 s in the future. */
    snprintf(p, sizeof(p), "{\"sub\":\"u-1\",\"exp\":%lld,\"iat\":%lld}", (long long)NOW + 3600, (long long)NOW);
    assert_int_equal(verify_payload(p, NOW - TK_JWT_SKEW_S), TK_JWT_OK);
    assert_int_equal(verify_payload(p, NOW - TK_JWT_SKEW_S - 1), TK_JWT_NOT_YET);
    /* Minted tokens: expired at exp + skew exactly. */
    char tok[TK_JWT_MAX];
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 10, NULL, NULL, tok, sizeof(tok)), 0);
    assert_int_equal(verify(tok, NOW + 10 + TK_JWT_SKEW_S - 1), TK_JWT_OK);
    assert_int_equal(verify(tok, NOW + 10 + TK_JWT_SKEW_S), TK_JWT_EXPIRED);
}

static void test_claims(void **state)
{
    (void)state;
    char sub[TK_ID_MAX + 1];
    /* exp is required and a number; nbf and iat numbers when present. */
    assert_int_equal(verify_payload("{\"sub\":\"u-1\"}", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("{\"sub\":\"u-1\",\"exp\":\"1900000000\"}", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("{\"sub\":\"u-1\",\"exp\":null}", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("{\"sub\":\"u-1\",\"exp\":1900000000,\"nbf\":\"0\"}", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("{\"sub\":\"u-1\",\"exp\":1900000000,\"iat\":true}", NOW), TK_JWT_MALFORMED);
    /* The payload must be one JSON object, keys not repeated. */
    assert_int_equal(verify_payload("[1]", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("\"u-1\"", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("{\"sub\":\"u-1\",\"exp\":1900000000", NOW), TK_JWT_MALFORMED);
    assert_int_equal(verify_payload("{\"sub\":\"u-1\",\"sub\":\"u-2\",\"exp\":1900000000}", NOW), TK_JWT_MALFORMED);
    /* sub: present, a string, a valid user_id. */
    assert_int_equal(verify_payload("{\"exp\":1900000000}", NOW), TK_JWT_SUBJECT);
    assert_int_equal(verify_payload("{\"sub\":42,\"exp\":1900000000}", NOW), TK_JWT_SUBJECT);
    assert_int_equal(verify_payload("{\"sub\":\"\",\"exp\":1900000000}", NOW), TK_JWT_SUBJECT);
    assert_int_equal(verify_payload("{\"sub\":\"a b\",\"exp\":1900000000}", NOW), TK_JWT_SUBJECT);
    assert_int_equal(verify_payload("{\"sub\":\"a\\u0000b\",\"exp\":1900000000}", NOW), TK_JWT_MALFORMED);
    char p[256], id[TK_ID_MAX + 2];
    memset(id, 'x', TK_ID_MAX + 1);
    id[TK_ID_MAX + 1] = '\0';
    snprintf(p, sizeof(p), "{\"sub\":\"%s\",\"exp\":1900000000}", id);
    assert_int_equal(verify_payload(p, NOW), TK_JWT_SUBJECT);
    /* iss and aud only when the policy sets them. */
    char tok[TK_JWT_MAX * 2];
    craft(HS256, "{\"sub\":\"u-1\",\"exp\":1900000000,\"iss\":\"login\",\"aud\":[\"x\",\"tk\"]}", &key_a, tok);
    tk_jwt_policy_t none = {0}, good = {"login", "tk"}, iss = {"login2", NULL}, aud = {NULL, "tk2"};
    tk_jwt_policy_t iss_prefix = {"logi", NULL}, aud_prefix = {NULL, "t"};
    assert_int_equal(verify2(tok, &key_a, 1, &none, NOW, sub), TK_JWT_OK);
    assert_int_equal(verify2(tok, &key_a, 1, &good, NOW, sub), TK_JWT_OK);
    assert_int_equal(verify2(tok, &key_a, 1, &iss, NOW, sub), TK_JWT_ISSUER);
    assert_int_equal(verify2(tok, &key_a, 1, &iss_prefix, NOW, sub), TK_JWT_ISSUER);
    assert_int_equal(verify2(tok, &key_a, 1, &aud, NOW, sub), TK_JWT_AUDIENCE);
    assert_int_equal(verify2(tok, &key_a, 1, &aud_prefix, NOW, sub), TK_JWT_AUDIENCE);
    craft(HS256, "{\"sub\":\"u-1\",\"exp\":1900000000,\"aud\":\"tk\"}", &key_a, tok);
    assert_int_equal(verify2(tok, &key_a, 1, &(tk_jwt_policy_t){NULL, "tk"}, NOW, sub), TK_JWT_OK);
    assert_int_equal(verify2(tok, &key_a, 1, &(tk_jwt_policy_t){"login", NULL}, NOW, sub), TK_JWT_ISSUER); /* absent */
    craft(HS256, "{\"sub\":\"u-1\",\"exp\":1900000000,\"aud\":[7,{\"tk\":1}],\"iss\":7}", &key_a, tok);
    assert_int_equal(verify2(tok, &key_a, 1, &(tk_jwt_policy_t){NULL, "tk"}, NOW, sub), TK_JWT_AUDIENCE);
    assert_int_equal(verify2(tok, &key_a, 1, &(tk_jwt_policy_t){"7", NULL}, NOW, sub), TK_JWT_ISSUER);
}

static void test_header(void **state)
{
    (void)state;
    const char *pl = "{\"sub\":\"u-1\",\"exp\":1900000000}";
    char tok[TK_JWT_MAX * 2];
    craft("{\"alg\":\"HS256\"}", pl, &key_a, tok); /* typ is optional */
    assert_int_equal(verify(tok, NOW), TK_JWT_OK);
    craft("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"2026\"}", pl, &key_a, tok); /* unknown members ignored */
    assert_int_equal(verify(tok, NOW), TK_JWT_OK);
    /* Even correctly HMAC-SHA-256-signed, a header not saying HS256 is refused. */
    const char *bad[] = {
        "{\"alg\":\"none\"}", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"alg\":\"hs256\"}", "{\"alg\":\"HS256 \"}",
        "{\"alg\":\"RS256\"}", "{\"typ\":\"JWT\"}", "{\"alg\":null}", "{\"alg\":[\"HS256\"]}",
        "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", "{\"alg\":\"HS256\",\"typ\":1}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", "{\"alg\":\"HS256\",\"crit\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        craft(bad[i], pl, &key_a, tok);
        if (verify(tok, NOW) != TK_JWT_ALG)
            fail_msg("header %s: not refused as TK_JWT_ALG", bad[i]);
    }
    craft("{\"alg\":\"HS256\",\"alg\":\"none\"}", pl, &key_a, tok); /* duplicate keys */
    assert_int_equal(verify(tok, NOW), TK_JWT_MALFORMED);
    craft("[\"HS256\"]", pl, &key_a, tok);
    assert_int_equal(verify(tok, NOW), TK_JWT_MALFORMED);
}

static void test_alg_none(void **state)
{
    (void)state;
    /* The classic: "alg":"none" and an empty signature part. */
    char tok[TK_JWT_MAX * 2];
    craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"u-1\",\"exp\":1900000000}", NULL, tok);
    assert_int_equal(tok[strlen(tok) - 1], '.');
    assert_int_equal(verify(tok, NOW), TK_JWT_ALG);
    /* An HS256 header with the signature left off. */
    craft(HS256, "{\"sub\":\"u-1\",\"exp\":1900000000}", NULL, tok);
    assert_int_equal(verify(tok, NOW), TK_JWT_SIGNATURE);
}

static void test_hs512_labelled(void **state)
{
    (void)state;
    /* Signed for real with HMAC-SHA-512 and labelled so: still refused. */
    char tok[TK_JWT_MAX] = "";
    const char *h512 = "{\"alg\":\"HS512\",\"typ\":\"JWT\"}";
    b64u(h512, strlen(h512), tok);
    strcat(tok, ".");
    const char *pl = "{\"sub\":\"u-1\",\"exp\":1900000000}";
    b64u(pl, strlen(pl), tok);
    unsigned char md[64];
    unsigned int mdlen = 0;
    assert_non_null(HMAC(EVP_sha512(), key_a.bytes, (int)key_a.len, (unsigned char *)tok, strlen(tok), md, &mdlen));
    strcat(tok, ".");
    b64u(md, mdlen, tok);
    assert_int_equal(verify(tok, NOW), TK_JWT_ALG);
    /* And an HS512 signature under an HS256 label: a bad signature (64 bytes, not 32). */
    char tok2[TK_JWT_MAX] = "";
    b64u(HS256, strlen(HS256), tok2);
    strcat(tok2, ".");
    b64u(pl, strlen(pl), tok2);
    assert_non_null(HMAC(EVP_sha512(), key_a.bytes, (int)key_a.len, (unsigned char *)tok2, strlen(tok2), md, &mdlen));
    strcat(tok2, ".");
    b64u(md, mdlen, tok2);
    assert_int_equal(verify(tok2, NOW), TK_JWT_SIGNATURE);
}

static void test_tampered(void **state)
{
    (void)state;
    char tok[TK_JWT_MAX], t[TK_JWT_MAX * 2];
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 60, NULL, NULL, tok, sizeof(tok)), 0);
    /* Another payload under the original header and signature: "u-2". */
    char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    char forged[TK_JWT_MAX] = "";
    strncat(forged, tok, (size_t)(d1 - tok + 1));
    char pl[128];
    snprintf(pl, sizeof(pl), "{\"exp\":%lld,\"iat\":%lld,\"sub\":\"u-2\"}", (long long)NOW + 60, (long long)NOW);
    b64u(pl, strlen(pl), forged);
    strcat(forged, d2);
    assert_int_equal(verify(forged, NOW), TK_JWT_SIGNATURE);
    /* Another header (equivalent JSON, other bytes) under the original payload and signature. */
    char hforged[TK_JWT_MAX] = "";
    const char *h2 = "{\"typ\":\"JWT\",\"alg\":\"HS256\"}";
    b64u(h2, strlen(h2), hforged);
    strcat(hforged, d1);
    assert_int_equal(verify(hforged, NOW), TK_JWT_SIGNATURE);
    /* Each character of each part changed to another base64url character. */
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '.')
            continue;
        strcpy(t, tok);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        tk_jwt_err_t rc = verify(t, NOW);
        if (rc == TK_JWT_OK)
            fail_msg("changed byte %zu accepted", i);
    }
    /* The signature with a bit flipped in its first byte. */
    strcpy(t, tok);
    char *s = strrchr(t, '.') + 1;
    s[0] = s[0] == 'A' ? 'Q' : 'A';
    assert_int_equal(verify(t, NOW), TK_JWT_SIGNATURE);
    /* Truncated signature; signature with an extra character group. */
    strcpy(t, tok);
    t[n - 4] = '\0';
    tk_jwt_err_t rc = verify(t, NOW);
    assert_true(rc == TK_JWT_SIGNATURE || rc == TK_JWT_MALFORMED); /* 29 bytes, or a non-canonical end */
    strcpy(t, tok);
    strcat(t, "AAAA");
    assert_int_equal(verify(t, NOW), TK_JWT_SIGNATURE);
}

static void test_base64url_strict(void **state)
{
    (void)state;
    char tok[TK_JWT_MAX], t[TK_JWT_MAX * 2];
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 60, NULL, NULL, tok, sizeof(tok)), 0);
    /* The signature (32 bytes) ends in a character with 2 unused bits: setting them is a respelling. */
    size_t n = strlen(tok);
    strcpy(t, tok);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alpha, t[n - 1]) - alpha);
    assert_int_equal(v & 3, 0);
    t[n - 1] = alpha[v | 1];
    assert_int_equal(verify(t, NOW), TK_JWT_MALFORMED);
    /* Padding, standard-alphabet characters, whitespace: not base64url. */
    snprintf(t, sizeof(t), "%s=", tok);
    assert_int_equal(verify(t, NOW), TK_JWT_MALFORMED);
    const char *subst[] = {"+", "/", " ", "=", "\n", "\x80"};
    for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
        strcpy(t, tok);
        t[3] = subst[i][0];
        assert_int_equal(verify(t, NOW), TK_JWT_MALFORMED);
    }
    /* A part of 4k+1 characters cannot be base64 (the signature is 43: cut two). */
    strcpy(t, tok);
    t[n - 2] = '\0';
    assert_int_equal(verify(t, NOW), TK_JWT_MALFORMED);
    /* One more character makes a canonical 33-byte signature: the wrong length. */
    strcpy(t, tok);
    strcat(t, "A");
    assert_int_equal(verify(t, NOW), TK_JWT_SIGNATURE);
}

static void test_junk(void **state)
{
    (void)state;
    char sub[TK_ID_MAX + 1];
    const char *junk[] = {
        "", ".", "..", "...", "a.b", "a.b.c.d", "abc", "Bearer x.y.z", "eyJhbGciOiJIUzI1NiJ9..",
        "eyJhbGciOiJIUzI1NiJ9.e30.", ".e30.AAAA", "e30.e30.e30", "\xff\xfe.\x00.x",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        tk_jwt_err_t rc = verify2(junk[i], &key_a, 1, NULL, NOW, sub);
        if (rc != TK_JWT_MALFORMED && rc != TK_JWT_ALG && rc != TK_JWT_SIGNATURE)
            fail_msg("junk %zu answered %d", i, rc);
    }
    /* Exactly what is passed is read: an embedded NUL is a character, not an end. */
    char tok[TK_JWT_MAX], t[TK_JWT_MAX + 2];
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 60, NULL, NULL, tok, sizeof(tok)), 0);
    size_t n = strlen(tok);
    memcpy(t, tok, n);
    t[n] = '\0';
    t[n + 1] = 'A';
    assert_int_equal(tk_jwt_verify(t, n + 2, &key_a, 1, NULL, NOW, sub, NULL), TK_JWT_MALFORMED);
    assert_int_equal(tk_jwt_verify(t, n, &key_a, 1, NULL, NOW, sub, NULL), TK_JWT_OK);
    assert_int_equal(tk_jwt_verify(tok, 0, &key_a, 1, NULL, NOW, sub, NULL), TK_JWT_MALFORMED);
    /* Oversized: a correctly signed token one byte over TK_JWT_MAX is refused; at TK_JWT_MAX it is read. */
    char *big = malloc(TK_JWT_MAX * 2), *pl = malloc(TK_JWT_MAX * 2);
    assert_non_null(big);
    assert_non_null(pl);
    int saw_max = 0;
    for (size_t fill = 2900; fill < 3100; fill++) {
        snprintf(pl, TK_JWT_MAX * 2, "{\"sub\":\"u-1\",\"exp\":1900000000,\"x\":\"%0*d\"}", (int)fill, 0);
        craft(HS256, pl, &key_a, big);
        size_t len = strlen(big);
        if (len == TK_JWT_MAX) {
            assert_int_equal(verify(big, NOW), TK_JWT_OK);
            saw_max = 1;
        }
        else if (len > TK_JWT_MAX)
            assert_int_equal(verify(big, NOW), TK_JWT_MALFORMED);
    }
    assert_true(saw_max);
    free(big);
    free(pl);
}

/*
 * RFC 7515 appendix A.1: the HS256 example, signed by another
 * implementation. Its key is the JWK "k" value; its payload has "iss":"joe",
 * "exp":1300819380 and no "sub".
 */
static void test_rfc7515_a1(void **state)
{
    (void)state;
    const char *tok = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
                      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const char *jwk_k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    char std[128];
    size_t n = strlen(jwk_k);
    for (size_t i = 0; i < n; i++)
        std[i] = jwk_k[i] == '-' ? '+' : jwk_k[i] == '_' ? '/' : jwk_k[i];
    strcpy(std + n, "==");
    tk_jwt_key_t k = {0};
    int got = EVP_DecodeBlock(k.bytes, (unsigned char *)std, (int)n + 2);
    assert_int_equal(got, 66);
    k.len = 64;
    char sub[TK_ID_MAX + 1];
    int64_t before = 1300819380 - 60;
    /* Signature, header and times pass; the missing "sub" is what is refused. */
    assert_int_equal(verify2(tok, &k, 1, &(tk_jwt_policy_t){"joe", NULL}, before, sub), TK_JWT_SUBJECT);
    assert_int_equal(verify2(tok, &k, 1, &(tk_jwt_policy_t){"jim", NULL}, before, sub), TK_JWT_ISSUER);
    assert_int_equal(verify2(tok, &k, 1, NULL, 1300819380 + TK_JWT_SKEW_S, sub), TK_JWT_EXPIRED);
    /* With one key byte changed, the same token is a bad signature. */
    k.bytes[0] ^= 1;
    assert_int_equal(verify2(tok, &k, 1, NULL, before, sub), TK_JWT_SIGNATURE);
    /* The example's key as one of two, in either place. */
    k.bytes[0] ^= 1;
    tk_jwt_key_t two[2] = {key_a, k};
    assert_int_equal(verify2(tok, two, 2, NULL, before, sub), TK_JWT_SUBJECT);
}

/* Writes @len bytes of @c (and @nl newlines) into a new file of @mode; returns its path (static). */
static const char *key_file(char c, size_t len, int nl, mode_t mode)
{
    static char path[64];
    strcpy(path, "/tmp/test_tk_jwt_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char buf[TK_JWT_KEY_MAX + 8];
    memset(buf, c, len);
    for (int i = 0; i < nl; i++)
        buf[len + (size_t)i] = '\n';
    assert_int_equal(write(fd, buf, len + (size_t)nl), (ssize_t)(len + (size_t)nl));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static void load_ok(char c, size_t len, int nl, mode_t mode, size_t want)
{
    tk_jwt_key_t k;
    char err[256] = "";
    const char *p = key_file(c, len, nl, mode);
    int rc = tk_jwt_key_load(&k, p, err, sizeof(err));
    unlink(p);
    if (rc != 0)
        fail_msg("load %zu bytes + %d newlines, mode %o: %s", len, nl, (unsigned)mode, err);
    assert_int_equal(k.len, want);
    for (size_t i = 0; i < want; i++)
        assert_int_equal(k.bytes[i], i < len ? (unsigned char)c : '\n');
}

static void load_refused(char c, size_t len, int nl, mode_t mode, const char *why)
{
    tk_jwt_key_t k;
    memset(&k, 0x55, sizeof(k));
    char err[256] = "";
    const char *p = key_file(c, len, nl, mode);
    int rc = tk_jwt_key_load(&k, p, err, sizeof(err));
    unlink(p);
    if (rc != -1)
        fail_msg("load %zu bytes + %d newlines, mode %o: accepted", len, nl, (unsigned)mode);
    if (strstr(err, why) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, why);
    assert_int_equal(k.len, 0);
    assert_int_equal(k.bytes[0], 0);
}

static void test_key_load(void **state)
{
    (void)state;
    load_ok('k', 32, 0, 0600, 32);
    load_ok('k', 32, 1, 0600, 32);          /* one trailing newline is not part of the key */
    load_ok('k', 32, 2, 0600, 33);          /* only one */
    load_ok('k', 40, 0, 0400, 40);
    load_ok('k', TK_JWT_KEY_MAX, 1, 0600, TK_JWT_KEY_MAX);
    load_refused('k', 31, 0, 0600, "shorter than 32");
    load_refused('k', 31, 1, 0600, "shorter than 32"); /* the newline does not count */
    load_refused('k', 0, 0, 0600, "shorter than 32");
    load_refused('k', TK_JWT_KEY_MAX + 1, 0, 0600, "longer than");
    load_refused('k', TK_JWT_KEY_MAX, 2, 0600, "longer than");
    load_refused('k', 32, 0, 0640, "chmod 600");
    load_refused('k', 32, 0, 0604, "chmod 600");
    load_refused('k', 32, 0, 0620, "chmod 600"); /* group-writable: another may swap the key */
    load_refused('k', 32, 0, 0644, "mode 0644");

    tk_jwt_key_t k;
    char err[256] = "";
    assert_int_equal(tk_jwt_key_load(&k, "/nonexistent/secret", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/secret"));
    assert_int_equal(tk_jwt_key_load(&k, "/tmp", err, sizeof(err)), -1);

    /* A loaded key signs what tk_jwt_verify accepts with the same bytes. */
    const char *p = key_file('a', 32, 1, 0600);
    assert_int_equal(tk_jwt_key_load(&k, p, err, sizeof(err)), 0);
    unlink(p);
    char tok[TK_JWT_MAX];
    assert_int_equal(tk_jwt_mint(&k, "u-1", NOW, NOW + 60, NULL, NULL, tok, sizeof(tok)), 0);
    assert_int_equal(verify(tok, NOW), TK_JWT_OK); /* key_a is 32 'a' */
}

static void test_err_str(void **state)
{
    (void)state;
    for (int e = TK_JWT_OK; e <= TK_JWT_SUBJECT; e++)
        assert_true(strlen(tk_jwt_err_str((tk_jwt_err_t)e)) > 0);
    assert_string_equal(tk_jwt_err_str(TK_JWT_EXPIRED), "token expired");
    assert_string_equal(tk_jwt_err_str(TK_JWT_SIGNATURE), "bad signature");
}

/* exp_exact (access tokens): expired at exp, no skew; the other times keep theirs. */
static void test_exp_exact(void **state)
{
    (void)state;
    char tok[TK_JWT_MAX], sub[TK_ID_MAX + 1];
    tk_jwt_policy_t pol = {NULL, NULL, TK_JWT_TYP_ACCESS, 1};
    assert_int_equal(tk_jwt_mint_typ(&key_a, "u-1", NOW, NOW + 10, NULL, NULL, TK_JWT_TYP_ACCESS, tok, sizeof(tok)), 0);
    assert_int_equal(tk_jwt_verify(tok, strlen(tok), &key_a, 1, &pol, NOW + 9, sub, NULL), TK_JWT_OK);
    assert_int_equal(tk_jwt_verify(tok, strlen(tok), &key_a, 1, &pol, NOW + 10, sub, NULL), TK_JWT_EXPIRED);
    assert_int_equal(tk_jwt_verify(tok, strlen(tok), &key_a, 1, &pol, NOW - TK_JWT_SKEW_S, sub, NULL), TK_JWT_OK);
}

/* The unverified look at "typ" that picks the key: minted access tokens yes, user tokens no, unreadable yes. */
static void test_may_be_typ(void **state)
{
    (void)state;
    char tok[TK_JWT_MAX], sub[TK_ID_MAX + 1];
    assert_int_equal(tk_jwt_mint_typ(&key_a, "u-1", NOW, NOW + 10, NULL, "ev-1", TK_JWT_TYP_ACCESS, tok, sizeof(tok)), 0);
    assert_int_equal(tk_jwt_may_be_typ(tok, strlen(tok), TK_JWT_TYP_ACCESS), 1);
    assert_int_equal(tk_jwt_mint(&key_a, "u-1", NOW, NOW + 10, NULL, "ev-1", tok, sizeof(tok)), 0);
    assert_int_equal(tk_jwt_may_be_typ(tok, strlen(tok), TK_JWT_TYP_ACCESS), 0);
    assert_int_equal(tk_jwt_may_be_typ("a.b", 3, TK_JWT_TYP_ACCESS), 1);
    assert_int_equal(tk_jwt_may_be_typ("x.!!!!.y", 8, TK_JWT_TYP_ACCESS), 1);
    /* an access typ spelled otherwise is not seen, and the user token check refuses it on its signed typ */
    craft(HS256, "{\"sub\":\"u-1\",\"exp\":1800000010,\"typ\":\"\\u0061ccess\"}", &key_a, tok);
    assert_int_equal(tk_jwt_may_be_typ(tok, strlen(tok), TK_JWT_TYP_ACCESS), 0);
    assert_int_equal(tk_jwt_verify(tok, strlen(tok), &key_a, 1, NULL, NOW, sub, NULL), TK_JWT_TYPE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_mint_refusals), cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_skew_edges),   cmocka_unit_test(test_claims),        cmocka_unit_test(test_header),
        cmocka_unit_test(test_alg_none),     cmocka_unit_test(test_hs512_labelled), cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_base64url_strict), cmocka_unit_test(test_junk),      cmocka_unit_test(test_rfc7515_a1),
        cmocka_unit_test(test_key_load),     cmocka_unit_test(test_err_str),
        cmocka_unit_test(test_exp_exact),    cmocka_unit_test(test_may_be_typ),
    };
    return cmocka_run_group_tests_name("tk_jwt", tests, setup, NULL);
}
