/*
 * it_token: the user tokens the integration tests send (API.md, "User
 * identity (tokens)").
 *
 * Every gateway the harness starts requires user tokens (USER_AUTH's
 * default). The harness writes one random secret, $TK_IT_DIR/user_token_secret
 * (0600), the first time a gateway starts, and gives it to each gateway
 * (--user-token-secret-file) unless the test's environment already names
 * one in USER_TOKEN_SECRET_FILE: a test that sets its own secret, issuer or
 * audience with setenv before the start keeps them. What a gateway was
 * given (its key, USER_TOKEN_ISSUER, USER_TOKEN_AUDIENCE) is read at its
 * start into an it_token_cfg_t (it_gateway_t.user_tokens), and every token
 * minted for that gateway is minted from it, so it is one the gateway accepts
 * even after the test has unset its variables again.
 */
#ifndef IT_TOKEN_H
#define IT_TOKEN_H

#include <stddef.h>

#include "tk_jwt.h"

#define IT_TOKEN_TTL_S 3600      /* a minted token is valid this long */
#define IT_AUTH_LINE_MAX 1024    /* "Authorization: Bearer <token>", NUL included */
#define IT_TOKEN_CLAIM_MAX 128   /* iss / aud as the harness keeps them */

/* What a gateway was started with, to mint tokens it accepts. */
typedef struct {
    tk_jwt_key_t key;              /* len 0: no usable key (a test gave the gateway a bad secret on purpose) */
    char iss[IT_TOKEN_CLAIM_MAX];  /* "" when USER_TOKEN_ISSUER was not set */
    char aud[IT_TOKEN_CLAIM_MAX];  /* "" when USER_TOKEN_AUDIENCE was not set */
} it_token_cfg_t;

/** The harness's secret file, created (32 random bytes as 64 hex digits, 0600) on the first call. NULL (message printed) on failure. */
const char *it_token_secret_path(void);

/**
 * The harness's access token secret (gateway/queue/gw_access.h), made as
 * it_token_secret_path makes its own: $TK_IT_DIR/access_token_secret. Every
 * gateway of a run gets it (--access-token-secret-file) unless the test's
 * environment names one in ACCESS_TOKEN_SECRET_FILE, so two gateways of one
 * test accept each other's admissions and a test mints access tokens from
 * it. NULL (message printed) on failure.
 */
const char *it_access_secret_path(void);

/**
 * Fills @cfg with what a gateway started now gets: the key in
 * $USER_TOKEN_SECRET_FILE when set, else in @harness_secret; issuer and
 * audience from the environment. A key that does not load leaves
 * cfg->key.len 0 (said on stderr); minting then fails.
 */
void it_token_cfg_read(it_token_cfg_t *cfg, const char *harness_secret);

/**
 * Writes "Authorization: Bearer <token>" for @user (a valid user_id) into
 * @out (IT_AUTH_LINE_MAX bytes), valid IT_TOKEN_TTL_S from now. Returns
 * @out, or NULL (message printed) when it cannot be minted. Thread-safe.
 */
const char *it_token_auth_line(const it_token_cfg_t *cfg, const char *user, char *out);

#endif
