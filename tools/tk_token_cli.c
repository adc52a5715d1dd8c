/*
 * tk-token: mints HS256 user tokens (common/tk_jwt.h) with the gateway's
 * secret, for the demo, curl and load plans.
 *
 *   tk-token [--secret-file F] [--iss I] [--aud A] --user U [--ttl SECONDS]
 *       prints the token and a newline
 *   tk-token [--secret-file F] [--iss I] [--aud A] --csv N --prefix P [--start K] [--ttl S]
 *       prints N lines "<P><i>,<token>" for i = K..K+N-1 (no header line)
 *
 * The secret is $USER_TOKEN_SECRET_FILE, else $VAR_DIR/secrets/user_token_secret
 * (VAR_DIR default var); --iss and --aud default to USER_TOKEN_ISSUER and
 * USER_TOKEN_AUDIENCE, so tokens match the gateway started with the same
 * environment. Exits 0; 1 when the secret cannot be used or output fails;
 * 2 on bad usage.
 */
#include "tk_jwt.h"
#include "tk_opt.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define TTL_MAX (7L * 86400)
#define CSV_MAX 10000000L
#define START_MAX 1000000000000L

static int usage(const char *msg)
{
    fprintf(stderr, "tk-token: %s (see tk-token --help)\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    const char *secret_file = NULL, *var_dir = "var", *iss = NULL, *aud = NULL, *user = NULL, *prefix = NULL;
    long ttl = 3600, csv = 0, start = 1;
    const tk_opt_t opts[] = {
        {"--secret-file", "USER_TOKEN_SECRET_FILE", TK_OPT_STR, &secret_file, 0, 0,
         "the signing key (default VAR_DIR/secrets/user_token_secret)"},
        {"--var-dir", "VAR_DIR", TK_OPT_STR, &var_dir, 0, 0, "state directory"},
        {"--iss", "USER_TOKEN_ISSUER", TK_OPT_STR, &iss, 0, 0, "\"iss\" of the tokens (none when unset)"},
        {"--aud", "USER_TOKEN_AUDIENCE", TK_OPT_STR, &aud, 0, 0, "\"aud\" of the tokens (none when unset)"},
        {"--user", NULL, TK_OPT_STR, &user, 0, 0, "mint one token for this user_id"},
        {"--csv", NULL, TK_OPT_INT, &csv, 1, CSV_MAX, "mint N tokens as \"user_id,token\" lines"},
        {"--prefix", NULL, TK_OPT_STR, &prefix, 0, 0, "with --csv: user_id = prefix + number"},
        {"--start", NULL, TK_OPT_INT, &start, 0, START_MAX, "with --csv: first number"},
        {"--ttl", NULL, TK_OPT_INT, &ttl, 1, TTL_MAX, "lifetime in seconds (at most 7 days)"},
    };
    const size_t nopts = TK_OPT_COUNT(opts);
    char err[512];
    int prc = tk_opt_parse(opts, nopts, argc, argv, err, sizeof(err));
    if (prc == 1)
        return 0;
    if (prc != 0)
        return usage(err);
    if ((user == NULL) == (csv == 0))
        return usage("give exactly one of --user U and --csv N");
    if (csv > 0 && prefix == NULL)
        return usage("--csv needs --prefix");
    if (csv == 0 && (prefix != NULL || start != 1))
        return usage("--prefix and --start go with --csv");
    if (user != NULL && !tk_valid_user_id(user, strlen(user))) {
        snprintf(err, sizeof(err), "--user %s: not a valid user_id (1-64 of A-Z a-z 0-9 _ . : @ -)", user);
        return usage(err);
    }
    if (prefix != NULL) {
        /* The longest id of the run must still be a user_id; the digits always are. */
        char last[TK_ID_MAX + 32];
        int n = snprintf(last, sizeof(last), "%s%ld", prefix, start + csv - 1);
        if (n < 0 || (size_t)n >= sizeof(last) || !tk_valid_user_id(last, (size_t)n)) {
            snprintf(err, sizeof(err), "--prefix %s: %s%ld is not a valid user_id", prefix, prefix, start + csv - 1);
            return usage(err);
        }
    }

    char path[512];
    if (secret_file == NULL) {
        snprintf(path, sizeof(path), "%s/secrets/user_token_secret", var_dir);
        secret_file = path;
    }
    tk_jwt_key_t key;
    if (tk_jwt_key_load(&key, secret_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-token: %s\n", err);
        return 1;
    }

    int64_t now = tk_time_now_ms() / 1000;
    char tok[TK_JWT_MAX], id[TK_ID_MAX + 1];
    int rc = 0;
    if (user != NULL) {
        if (tk_jwt_mint(&key, user, now, now + ttl, iss, aud, tok, sizeof(tok)) != 0) {
            fprintf(stderr, "tk-token: cannot mint (--iss and --aud must be UTF-8)\n");
            rc = 1;
        } else {
            printf("%s\n", tok);
        }
    } else {
        for (long i = start; i < start + csv && rc == 0; i++) {
            snprintf(id, sizeof(id), "%s%ld", prefix, i);
            if (tk_jwt_mint(&key, id, now, now + ttl, iss, aud, tok, sizeof(tok)) != 0) {
                fprintf(stderr, "tk-token: cannot mint for %s (--iss and --aud must be UTF-8)\n", id);
                rc = 1;
            } else if (printf("%s,%s\n", id, tok) < 0) {
                rc = 1;
            }
        }
    }
    OPENSSL_cleanse(&key, sizeof(key));
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tk-token: cannot write the output\n");
        rc = 1;
    }
    return rc;
}
