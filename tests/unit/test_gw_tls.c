/*
 * Unit tests of gateway/http/gw_tls: what the server context allows,
 * whatever certificate it is given (it_edge checks the handshakes): TLS 1.2
 * at least; on TLS 1.2 only ECDHE with AEAD ciphers (no CBC, no SHA-1 MAC,
 * no RSA key exchange, which an ECDSA certificate alone would never show);
 * the server's order; no server session cache; a bad rotation refused.
 */
#include "gw_tls.h"

#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64], cert[128], key[128];

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_gw_tls.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cert, sizeof cert, "%s/tls/cert.pem", dir);
    snprintf(key, sizeof key, "%s/tls/key.pem", dir);
    char err[256];
    return gw_tls_make_self_signed(cert, key, err, sizeof err);
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(cert);
    unlink(key);
    char sub[96];
    snprintf(sub, sizeof sub, "%s/tls", dir);
    rmdir(sub);
    rmdir(dir);
    return 0;
}

static void test_versions_and_options(void **state)
{
    (void)state;
    char err[256] = "";
    SSL_CTX *ctx = gw_tls_create(cert, key, 0, 3600, err, sizeof err);
    if (ctx == NULL)
        fail_msg("gw_tls_create: %s", err);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    uint64_t opts = SSL_CTX_get_options(ctx);
    assert_true(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
    assert_true(opts & SSL_OP_NO_COMPRESSION);
    assert_true(opts & SSL_OP_NO_RENEGOTIATION);
    assert_false(opts & SSL_OP_NO_TICKET);
    assert_int_equal(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    SSL_CTX_free(ctx);
}

static void test_tls12_suites_are_ecdhe_aead_only(void **state)
{
    (void)state;
    char err[256] = "";
    SSL_CTX *ctx = gw_tls_create(cert, key, 0, 3600, err, sizeof err);
    assert_non_null(ctx);
    STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
    int tls12 = 0, tls13 = 0;
    const char *first12 = NULL;
    for (int i = 0; i < sk_SSL_CIPHER_num(list); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(list, i);
        const char *name = SSL_CIPHER_get_name(c);
        if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) { /* TLS 1.3: key exchange chosen apart */
            tls13++;
            continue;
        }
        tls12++;
        if (first12 == NULL)
            first12 = name;
        if (!SSL_CIPHER_is_aead(c) || SSL_CIPHER_get_kx_nid(c) != NID_kx_ecdhe)
            fail_msg("TLS 1.2 suite %s: aead %d, key exchange %s", name, SSL_CIPHER_is_aead(c),
                     OBJ_nid2sn(SSL_CIPHER_get_kx_nid(c)));
        assert_null(strstr(name, "CBC"));
        size_t n = strlen(name); /* "…-SHA" is a SHA-1 MAC */
        assert_false(n > 4 && strcmp(name + n - 4, "-SHA") == 0);
    }
    assert_int_equal(tls12, 6); /* ECDSA and RSA certificates x AES-128-GCM, AES-256-GCM, ChaCha20 */
    assert_true(tls13 >= 3);
    assert_string_equal(first12, "ECDHE-ECDSA-AES128-GCM-SHA256");
    SSL_CTX_free(ctx);
}

static void test_bad_rotation_refused(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(gw_tls_create(cert, key, 0, 0, err, sizeof err));
    assert_non_null(strstr(err, "rotation"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions_and_options),
        cmocka_unit_test(test_tls12_suites_are_ecdhe_aead_only),
        cmocka_unit_test(test_bad_rotation_refused),
    };
    return cmocka_run_group_tests_name("gw_tls", tests, group_setup, group_teardown);
}
