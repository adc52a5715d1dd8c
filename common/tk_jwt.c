/*
 * tk_jwt: verifying and minting HS256 user tokens.
 *
 * Why it is safe to put in front of every claim:
 *
 * - One algorithm, fixed by us, not by the token. The classic JWT holes
 *   come from letting the header choose: "alg":"none" (no signature at all)
 *   or an algorithm the verifier did not mean to offer. Here the header must
 *   say exactly "HS256"; anything else, "none" included, is TK_JWT_ALG
 *   before any key is used. A "crit" header asks us to understand
 *   extensions we do not implement, so RFC 7515 4.1.11 says refuse it.
 * - Nothing in the payload is believed before the signature is checked: the
 *   header is parsed (to refuse the wrong algorithm), then the signature over
 *   "<header>.<payload>" is compared for each key, and only then is the
 *   payload parsed. The compare is CRYPTO_memcmp, constant time, so the time
 *   an answer takes says nothing about how many signature bytes were right.
 * - One spelling per token: base64url without padding, nothing outside its
 *   alphabet, and canonical (the unused low bits of the last character zero:
 *   checked by encoding the decoded bytes again and comparing). So no two
 *   texts carry the same signed bytes, and a cache or a log keyed on the
 *   token text cannot be fooled by a respelling. The JSON is parsed with
 *   duplicate keys refused, so "sub" cannot mean one thing to a login
 *   service's library and another to us.
 * - Bounded: a token over TK_JWT_MAX bytes is refused before anything is
 *   decoded; every buffer is on the stack and sized for that maximum.
 *
 * Order of the checks, so that each refusal kind is what the token earned:
 * length and three parts, base64url of each part, header (JSON object, alg,
 * typ, crit), signature, payload (a JSON object; "exp" a number, "nbf" and
 * "iat" numbers when present), the payload's "typ" (which kind of token:
 * a user token or an access token), exp, nbf, iat, iss, aud, sub.
 *
 * Times are NumericDate (RFC 7519 2): seconds, reals allowed, compared as
 * doubles (exact for every second of the next 285 million years).
 */
#include "tk_jwt.h"
#include "tk_opt.h"
#include "tk_valid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIG_LEN 32 /* HMAC-SHA-256 */

/* A part's base64url text, padded, and its decoded bytes; sized for the longest token. */
#define B64_CAP (TK_JWT_MAX + 4)
#define RAW_CAP (B64_CAP / 4 * 3)

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Decodes base64url @s (@n chars, no padding) into @out (RAW_CAP bytes).
 * Returns the byte count, or -1 when @s is not canonical base64url.
 */
static long b64url_decode(const char *s, size_t n, unsigned char *out)
{
    char std[B64_CAP + 1];
    char again[B64_CAP + 1];
    if (n % 4 == 1 || n > TK_JWT_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!b64url_char(c))
            return -1;
        std[i] = c == '-' ? '+' : c == '_' ? '/' : (char)c;
    }
    size_t pad = (4 - n % 4) % 4;
    memset(std + n, '=', pad);
    size_t padded = n + pad;
    std[padded] = '\0';
    if (padded == 0)
        return 0;
    int got = EVP_DecodeBlock(out, (const unsigned char *)std, (int)padded);
    if (got < 0)
        return -1;
    long len = got - (long)pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    /* Canonical: the same bytes encode back to the same text (unused bits zero). */
    int enc = EVP_EncodeBlock((unsigned char *)again, out, (int)len);
    if (enc != (int)padded || memcmp(again, std, padded) != 0)
        return -1;
    return len;
}

/*
 * Appends base64url of @in (@n bytes, no padding) at @out[*pos] (@cap bytes
 * in all), NUL-terminated. Returns 0, or -1 when it does not fit.
 */
static int b64url_append(const unsigned char *in, size_t n, char *out, size_t cap, size_t *pos)
{
    char enc[B64_CAP + 1];
    if (n > RAW_CAP - 3)
        return -1;
    size_t m = (size_t)EVP_EncodeBlock((unsigned char *)enc, in, (int)n);
    while (m > 0 && enc[m - 1] == '=')
        m--;
    if (*pos >= cap || cap - *pos < m + 1)
        return -1;
    char *p = out + *pos;
    for (size_t i = 0; i < m; i++)
        p[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    p[m] = '\0';
    *pos += m;
    return 0;
}

/* Parses @n bytes of JSON; NULL unless it is an object without duplicate keys. */
static json_t *parse_object(const unsigned char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)s, n, JSON_REJECT_DUPLICATES, &e);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int str_is(const json_t *v, const char *want)
{
    size_t n = strlen(want);
    return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), want, n) == 0;
}

static tk_jwt_err_t check_header(const unsigned char *raw, size_t n)
{
    json_t *h = parse_object(raw, n);
    if (h == NULL)
        return TK_JWT_MALFORMED;
    tk_jwt_err_t rc = TK_JWT_OK;
    const json_t *typ = json_object_get(h, "typ");
    if (!str_is(json_object_get(h, "alg"), "HS256") || (typ != NULL && !str_is(typ, "JWT")) ||
        json_object_get(h, "crit") != NULL)
        rc = TK_JWT_ALG;
    json_decref(h);
    return rc;
}

/* 1 when one of @keys signs @data (@n bytes) with @sig (@siglen bytes). */
static int signed_by(const char *data, size_t n, const unsigned char *sig, size_t siglen, const tk_jwt_key_t *keys,
                     size_t nkeys)
{
    if (siglen != SIG_LEN)
        return 0;
    int ok = 0;
    for (size_t i = 0; i < nkeys && i < 2; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (HMAC(EVP_sha256(), keys[i].bytes, (int)keys[i].len, (const unsigned char *)data, n, md, &mdlen) == NULL ||
            mdlen != SIG_LEN)
            continue;
        /* Both keys are always tried, so the time does not say which one signed. */
        ok |= CRYPTO_memcmp(md, sig, SIG_LEN) == 0;
    }
    return ok;
}

/* 1 when the optional claim @v is absent or a number (into *@out). */
static int opt_number(const json_t *v, double *out, int *present)
{
    *present = v != NULL;
    if (v == NULL)
        return 1;
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

static int aud_names(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return str_is(aud, want);
    if (!json_is_array(aud))
        return 0;
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v) {
        if (str_is(v, want))
            return 1;
    }
    return 0;
}

static tk_jwt_err_t check_claims(const json_t *p, const tk_jwt_policy_t *pol, int64_t now_s, char *sub,
                                 size_t *sublen)
{
    double exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat;
    if (!opt_number(json_object_get(p, "exp"), &exp, &has_exp) || !has_exp ||
        !opt_number(json_object_get(p, "nbf"), &nbf, &has_nbf) ||
        !opt_number(json_object_get(p, "iat"), &iat, &has_iat))
        return TK_JWT_MALFORMED;
    /* The kind first: a token of the other kind is refused as such, not as expired or for another audience. */
    const json_t *typ = json_object_get(p, "typ");
    if (pol != NULL && pol->typ != NULL ? !str_is(typ, pol->typ) : str_is(typ, TK_JWT_TYP_ACCESS))
        return TK_JWT_TYPE;
    double now = (double)now_s;
    if (now >= exp + (pol != NULL && pol->exp_exact ? 0 : TK_JWT_SKEW_S))
        return TK_JWT_EXPIRED;
    if (has_nbf && now + TK_JWT_SKEW_S < nbf)
        return TK_JWT_NOT_YET;
    if (has_iat && iat > now + TK_JWT_SKEW_S)
        return TK_JWT_NOT_YET;
    if (pol != NULL && pol->iss != NULL && !str_is(json_object_get(p, "iss"), pol->iss))
        return TK_JWT_ISSUER;
    if (pol != NULL && pol->aud != NULL && !aud_names(json_object_get(p, "aud"), pol->aud))
        return TK_JWT_AUDIENCE;
    const json_t *s = json_object_get(p, "sub");
    if (!json_is_string(s))
        return TK_JWT_SUBJECT;
    size_t n = json_string_length(s);
    if (n > TK_ID_MAX || !tk_valid_user_id(json_string_value(s), n))
        return TK_JWT_SUBJECT;
    memcpy(sub, json_string_value(s), n);
    sub[n] = '\0';
    if (sublen != NULL)
        *sublen = n;
    return TK_JWT_OK;
}

tk_jwt_err_t tk_jwt_verify(const char *tok, size_t len, const tk_jwt_key_t *keys, size_t nkeys,
                           const tk_jwt_policy_t *pol, int64_t now_s, char *sub, size_t *sublen)
{
    sub[0] = '\0';
    if (sublen != NULL)
        *sublen = 0;
    if (tok == NULL || len == 0 || len > TK_JWT_MAX)
        return TK_JWT_MALFORMED;
    const char *dot1 = memchr(tok, '.', len);
    if (dot1 == NULL)
        return TK_JWT_MALFORMED;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)) != NULL)
        return TK_JWT_MALFORMED;
    size_t hlen = (size_t)(dot1 - tok), plen = (size_t)(dot2 - dot1 - 1), slen = len - (size_t)(dot2 + 1 - tok);

    unsigned char head[RAW_CAP], body[RAW_CAP], sig[RAW_CAP];
    long hn = b64url_decode(tok, hlen, head);
    long pn = b64url_decode(dot1 + 1, plen, body);
    long sn = b64url_decode(dot2 + 1, slen, sig);
    if (hn <= 0 || pn <= 0 || sn < 0)
        return TK_JWT_MALFORMED;

    tk_jwt_err_t rc = check_header(head, (size_t)hn);
    if (rc != TK_JWT_OK)
        return rc;
    if (!signed_by(tok, (size_t)(dot2 - tok), sig, (size_t)sn, keys, nkeys))
        return TK_JWT_SIGNATURE;

    json_t *p = parse_object(body, (size_t)pn);
    if (p == NULL)
        return TK_JWT_MALFORMED;
    rc = check_claims(p, pol, now_s, sub, sublen);
    json_decref(p);
    return rc;
}

int tk_jwt_may_be_typ(const char *tok, size_t len, const char *typ)
{
    const char *dot1 = tok != NULL && len <= TK_JWT_MAX ? memchr(tok, '.', len) : NULL;
    const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok)) : NULL;
    if (dot2 == NULL)
        return 1;
    char std[B64_CAP + 1], want[64];
    unsigned char raw[RAW_CAP + 1];
    size_t n = (size_t)(dot2 - dot1 - 1);
    int wn = snprintf(want, sizeof want, "\"%s\"", typ);
    if (n == 0 || wn < 0 || (size_t)wn >= sizeof want)
        return 1;
    /* no canonical check here (tk_jwt_verify does it): a cheap look, then one HMAC with the key it picks */
    for (size_t i = 0; i < n; i++) {
        char c = dot1[1 + i];
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t pad = (4 - n % 4) % 4;
    memset(std + n, '=', pad);
    int got = EVP_DecodeBlock(raw, (const unsigned char *)std, (int)(n + pad));
    if (got < 0)
        return 1;
    return memmem(raw, (size_t)got, want, (size_t)wn) != NULL;
}

int tk_jwt_mint(const tk_jwt_key_t *k, const char *sub, int64_t iat, int64_t exp, const char *iss, const char *aud,
                char *out, size_t outlen)
{
    return tk_jwt_mint_typ(k, sub, iat, exp, iss, aud, NULL, out, outlen);
}

int tk_jwt_mint_typ(const tk_jwt_key_t *k, const char *sub, int64_t iat, int64_t exp, const char *iss, const char *aud, const char *typ,
                    char *out, size_t outlen)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    if (sub == NULL || !tk_valid_user_id(sub, strlen(sub)) || outlen == 0)
        return -1;
    json_t *p = json_pack("{s:s, s:I, s:I}", "sub", sub, "iat", (json_int_t)iat, "exp", (json_int_t)exp);
    if (p != NULL && iss != NULL && json_object_set_new(p, "iss", json_string(iss)) != 0)
        json_decref(p), p = NULL;
    if (p != NULL && aud != NULL && json_object_set_new(p, "aud", json_string(aud)) != 0)
        json_decref(p), p = NULL;
    if (p != NULL && typ != NULL && json_object_set_new(p, "typ", json_string(typ)) != 0)
        json_decref(p), p = NULL;
    char *payload = p != NULL ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(p);
    if (payload == NULL)
        return -1;

    int rc = -1;
    size_t pos = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (b64url_append((const unsigned char *)header, sizeof(header) - 1, out, outlen, &pos) != 0 ||
        pos + 1 >= outlen)
        goto out;
    out[pos++] = '.';
    if (b64url_append((const unsigned char *)payload, strlen(payload), out, outlen, &pos) != 0 || pos + 1 >= outlen)
        goto out;
    if (HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)out, pos, md, &mdlen) == NULL)
        goto out;
    out[pos++] = '.';
    if (b64url_append(md, mdlen, out, outlen, &pos) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        out[0] = '\0';
    free(payload);
    return rc;
}

int tk_jwt_key_load(tk_jwt_key_t *k, const char *path, char *err, size_t errlen)
{
    unsigned char buf[TK_JWT_KEY_MAX + 2];
    size_t got = 0;
    int rc = -1;
    memset(k, 0, sizeof(*k));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (tk_secret_fd_check(fd, path, err, errlen) != 0)
        goto out;
    /* Bounded: at most sizeof(buf) bytes, and a read of 0 (end of file) stops. */
    while (got < sizeof(buf)) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > 0 && buf[got - 1] == '\n')
        got--;
    if (got > TK_JWT_KEY_MAX) {
        snprintf(err, errlen, "%s: longer than %d bytes", path, TK_JWT_KEY_MAX);
        goto out;
    }
    if (got < TK_JWT_KEY_MIN) {
        snprintf(err, errlen, "%s: shorter than %d bytes (%zu)", path, TK_JWT_KEY_MIN, got);
        goto out;
    }
    memcpy(k->bytes, buf, got);
    k->len = got;
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
}

const char *tk_jwt_err_str(tk_jwt_err_t e)
{
    switch (e) {
    case TK_JWT_OK:
        return "ok";
    case TK_JWT_MALFORMED:
        return "malformed token";
    case TK_JWT_ALG:
        return "unsupported token algorithm or header";
    case TK_JWT_SIGNATURE:
        return "bad signature";
    case TK_JWT_EXPIRED:
        return "token expired";
    case TK_JWT_NOT_YET:
        return "token not yet valid";
    case TK_JWT_ISSUER:
        return "wrong token issuer";
    case TK_JWT_AUDIENCE:
        return "wrong token audience";
    case TK_JWT_SUBJECT:
        return "token subject is not a valid user_id";
    case TK_JWT_TYPE:
        return "wrong token type";
    }
    return "invalid token";
}
