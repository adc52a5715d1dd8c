/*
 * Unit tests of gateway/auth/gw_user_token: the bearer header as the router
 * reads it, and the verification with the configuration's keys and policy
 * (the HTTP answers are the integration test's, it_tokens).
 */
#include "gw_user_token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define NOW INT64_C(1800000000)

static int bearer(const char *h, const char **tok, size_t *n)
{
    return gw_user_token_bearer(h, h != NULL ? strlen(h) : 0, tok, n);
}

static void test_bearer(void **state)
{
    (void)state;
    const char *t;
    size_t n;
    assert_int_equal(bearer("Bearer abc.def.ghi", &t, &n), 1);
    assert_int_equal(n, 11);
    assert_memory_equal(t, "abc.def.ghi", 11);
    assert_int_equal(bearer("bearer   x ", &t, &n), 1); /* the scheme is case-insensitive; spaces around the token */
    assert_int_equal(n, 1);
    assert_int_equal(*t, 'x');
    assert_int_equal(bearer("Bearer", &t, &n), 1); /* sent, but empty: a malformed token, not a missing one */
    assert_int_equal(n, 0);
    assert_int_equal(bearer("Bearer ", &t, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(bearer(NULL, &t, &n), 0);
    assert_int_equal(bearer("", &t, &n), 0);
    assert_int_equal(bearer("Basic dTpw", &t, &n), 0);
    assert_int_equal(bearer("Bearerx.y.z", &t, &n), 0);
    assert_int_equal(bearer("Bear", &t, &n), 0);
}

static void test_verify(void **state)
{
    (void)state;
    gw_config_t c;
    memset(&c, 0, sizeof(c));
    memset(c.user_keys[0].bytes, 'k', 32);
    c.user_keys[0].len = 32;
    memset(c.user_keys[1].bytes, 'n', 32);
    c.user_keys[1].len = 32;
    c.nuser_keys = 1;
    c.user_token_issuer = "login";
    char tok[TK_JWT_MAX], hdr[TK_JWT_MAX + 16], sub[TK_ID_MAX + 1];
    size_t sublen;
    int sent;

    assert_int_equal(tk_jwt_mint(&c.user_keys[0], "u-7", NOW, NOW + 60, "login", NULL, tok, sizeof(tok)), 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_OK);
    assert_string_equal(sub, "u-7");
    assert_int_equal(sublen, 3);
    assert_int_equal(sent, 1);
    /* The configured issuer is checked. */
    c.user_token_issuer = "other";
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_ISSUER);
    assert_string_equal(sub, "");
    c.user_token_issuer = "login";
    c.user_token_audience = "tk"; /* and the audience, the token has none */
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_AUDIENCE);
    c.user_token_audience = NULL;
    /* Missing: sent 0. */
    assert_int_equal(gw_user_token_verify(&c, NULL, 0, NOW, sub, &sublen, &sent), TK_JWT_MALFORMED);
    assert_int_equal(sent, 0);
    assert_int_equal(gw_user_token_verify(&c, "Basic x", 7, NOW, sub, &sublen, &sent), TK_JWT_MALFORMED);
    assert_int_equal(sent, 0);
    assert_int_equal(gw_user_token_verify(&c, "Bearer ", 7, NOW, sub, &sublen, &sent), TK_JWT_MALFORMED);
    assert_int_equal(sent, 1);
    /* The next key counts only when configured. */
    assert_int_equal(tk_jwt_mint(&c.user_keys[1], "u-8", NOW, NOW + 60, "login", NULL, tok, sizeof(tok)), 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_SIGNATURE);
    c.nuser_keys = 2;
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_OK);
    assert_string_equal(sub, "u-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_verify),
    };
    return cmocka_run_group_tests_name("gw_user_token", tests, NULL, NULL);
}
