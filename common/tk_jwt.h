/*
 * tk_jwt: user tokens, JWT (RFC 7519) in the compact JWS form (RFC 7515)
 * signed HS256 — the only algorithm accepted or produced.
 *
 * The format is the well-known one so that any login service's JWT library
 * can mint tokens the gateway accepts; the code is small because it accepts
 * exactly one shape: "<b64url header>.<b64url payload>.<b64url signature>",
 * the header saying {"alg":"HS256"} (optionally "typ":"JWT", never "crit"),
 * the payload a JSON object with "sub" (a user_id of API.md) and "exp".
 * HMAC and base64 are OpenSSL's, JSON is jansson's; nothing is hand-rolled.
 * The rules and their order are in tk_jwt.c.
 *
 * Keys: one or two (the current one and the next one, during a rotation);
 * a token is accepted when either signs it. Key bytes come from a file that
 * only its owner may read (tk_jwt_key_load).
 */
#ifndef TK_JWT_H
#define TK_JWT_H

#include "tk_valid.h" /* TK_ID_MAX: the size of a verified "sub" */

#include <stddef.h>
#include <stdint.h>

#define TK_JWT_KEY_MIN 32
#define TK_JWT_KEY_MAX 512
#define TK_JWT_MAX 4096 /* longest token accepted, bytes */
#define TK_JWT_SKEW_S 30

typedef struct {
    unsigned char bytes[TK_JWT_KEY_MAX];
    size_t len;
} tk_jwt_key_t;

/**
 * Loads the key in @path into @k: the file's bytes less one trailing
 * newline, TK_JWT_KEY_MIN..TK_JWT_KEY_MAX of them. Refused when the file is
 * not a regular file or group or others may read or write it (mode & 077).
 * Returns 0, or -1 with a message in @err (and @k zeroed).
 */
int tk_jwt_key_load(tk_jwt_key_t *k, const char *path, char *err, size_t errlen);

/*
 * The "typ" claim of the gateway's own access tokens (gateway/queue/gw_access.h).
 * A user token never carries it: even if an operator gave both kinds the same
 * secret, one kind is never taken for the other.
 */
#define TK_JWT_TYP_ACCESS "access"

/** What is checked beyond the signature and the times; NULL = not checked. */
typedef struct {
    const char *iss; /* "iss" must equal it */
    const char *aud; /* "aud" (a string, or an array of strings) must name it */
    const char *typ; /* the payload's "typ" must equal it; NULL: a user token, whose "typ" must not be TK_JWT_TYP_ACCESS */
    int exp_exact;   /* 1: no skew on "exp", the token ends at exp exactly (an access token: the admission ends there) */
} tk_jwt_policy_t;

typedef enum {
    TK_JWT_OK = 0,
    TK_JWT_MALFORMED, /* not three base64url parts of JSON objects, too long, a claim of the wrong type */
    TK_JWT_ALG,       /* header "alg" not exactly "HS256" ("none" too), "typ" not "JWT", a "crit" */
    TK_JWT_SIGNATURE, /* signed by none of the keys */
    TK_JWT_EXPIRED,   /* now >= exp + skew (+ 0 with exp_exact) */
    TK_JWT_NOT_YET,   /* now + skew < nbf, or iat more than skew in the future */
    TK_JWT_ISSUER,
    TK_JWT_AUDIENCE,
    TK_JWT_SUBJECT, /* "sub" absent or not a valid user_id */
    TK_JWT_TYPE,    /* the payload's "typ" is not the kind asked for (tk_jwt_policy_t.typ) */
} tk_jwt_err_t;

/**
 * Verifies the token @tok (@len bytes, not NUL-terminated) against @keys
 * (@nkeys: 1 or 2, current then next), the policy @pol (may be NULL) and the
 * clock @now_s (Unix seconds). On TK_JWT_OK writes the verified "sub" into
 * @sub (TK_ID_MAX + 1 bytes, NUL-terminated) and its length into *@sublen
 * (@sublen may be NULL); on any other answer @sub is left empty.
 * The payload is read only after the signature has been checked; its kind
 * ("typ", TK_JWT_TYPE) is checked first of its claims, so a well signed
 * token of the other kind is TK_JWT_TYPE whatever its times say. @pol NULL
 * checks only that (a user token).
 */
tk_jwt_err_t tk_jwt_verify(const char *tok, size_t len, const tk_jwt_key_t *keys, size_t nkeys,
                           const tk_jwt_policy_t *pol, int64_t now_s, char *sub, size_t *sublen);

/**
 * Writes a NUL-terminated HS256 token for @sub (a valid user_id) into @out
 * (@outlen bytes), with "iat" @iat, "exp" @exp and, when not NULL, "iss"
 * @iss and "aud" @aud. Returns 0, or -1 (@out too small, @sub not a valid
 * user_id, @iss/@aud not UTF-8, no memory).
 */
int tk_jwt_mint(const tk_jwt_key_t *k, const char *sub, int64_t iat, int64_t exp, const char *iss, const char *aud,
                char *out, size_t outlen);

/**
 * tk_jwt_mint with, when @typ is not NULL, a "typ" claim @typ in the
 * payload (TK_JWT_TYP_ACCESS for an access token). The same arguments give
 * the same token, byte for byte (keys sorted, no random part).
 */
int tk_jwt_mint_typ(const tk_jwt_key_t *k, const char *sub, int64_t iat, int64_t exp, const char *iss, const char *aud, const char *typ,
                    char *out, size_t outlen);

/**
 * Whether token @tok (@len bytes) may carry the payload "typ" @typ, read
 * WITHOUT verifying anything: only to pick the one key to verify it with
 * (a claim's bearer: the access key or the user token key), never to trust
 * it. 1 when the payload's bytes contain "@typ" (quoted) or cannot be
 * read (let the verification say), 0 when they do not: then the token is
 * not of that kind as tk_jwt_mint_typ writes it, and should it carry the
 * typ in another spelling (an escaped string), the other kind's
 * verification refuses it (its "typ" is checked there, signed): a wrong
 * guess costs a refusal, never an acceptance.
 */
int tk_jwt_may_be_typ(const char *tok, size_t len, const char *typ);

/** A short constant text for @e ("expired", "bad signature", …), for messages. */
const char *tk_jwt_err_str(tk_jwt_err_t e);

#endif
