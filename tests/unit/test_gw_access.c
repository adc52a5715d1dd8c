/*
 * Unit tests of gateway/queue/gw_access: minting is deterministic, a token
 * verifies for its own event only while valid, and the two token kinds
 * (access, user) are never taken for each other, even under one key (the
 * HTTP answers are the integration test's, it_wr_access).
 */
#include "gw_access.h"
#include "gw_config.h"
#include "gw_user_token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define ADMITTED_MS INT64_C(1800000000123)
#define NOW (ADMITTED_MS / 1000 + 10)

static tk_jwt_key_t key_a, key_b;

static int setup(void **state)
{
    (void)state;
    memset(key_a.bytes, 'a', 32);
    key_a.len = 32;
    memset(key_b.bytes, 'b', 40);
    key_b.len = 40;
    return 0;
}

static gw_access_verdict_t verify(const tk_jwt_key_t *k, const char *tok, const char *ev, int64_t now, char *sub)
{
    size_t sublen = 0;
    return gw_access_verify(k, tok, strlen(tok), ev, strlen(ev), now, sub, &sublen, NULL);
}

static void test_mint_is_deterministic(void **state)
{
    (void)state;
    char t1[GW_ACCESS_TOKEN_MAX], t2[GW_ACCESS_TOKEN_MAX], t3[GW_ACCESS_TOKEN_MAX];
    int n1 = gw_access_mint_key(&key_a, "ev-1", 4, "u-42", 4, ADMITTED_MS, 300, t1);
    assert_true(n1 > 0);
    assert_int_equal((size_t)n1, strlen(t1));
    /* Same inputs (another millisecond of the same second too): the same token, on any gateway holding the key. */
    assert_int_equal(gw_access_mint_key(&key_a, "ev-1", 4, "u-42", 4, ADMITTED_MS, 300, t2), n1);
    assert_string_equal(t1, t2);
    assert_int_equal(gw_access_mint_key(&key_a, "ev-1", 4, "u-42", 4, ADMITTED_MS - 123, 300, t2), n1);
    assert_string_equal(t1, t2);
    /* Any input changed: another token. */
    assert_true(gw_access_mint_key(&key_a, "ev-1", 4, "u-42", 4, ADMITTED_MS, 301, t3) > 0);
    assert_string_not_equal(t1, t3);
    assert_true(gw_access_mint_key(&key_a, "ev-2", 4, "u-42", 4, ADMITTED_MS, 300, t3) > 0);
    assert_string_not_equal(t1, t3);
    assert_true(gw_access_mint_key(&key_b, "ev-1", 4, "u-42", 4, ADMITTED_MS, 300, t3) > 0);
    assert_string_not_equal(t1, t3);
    /* Lengths are the caller's: a longer buffer's tail is not read. */
    assert_true(gw_access_mint_key(&key_a, "ev-1xyz", 4, "u-42xyz", 4, ADMITTED_MS, 300, t3) > 0);
    assert_string_equal(t1, t3);
    /* The longest ids fit GW_ACCESS_TOKEN_MAX. */
    char ev[TK_ID_MAX + 1], user[TK_ID_MAX + 1], sub[TK_ID_MAX + 1];
    memset(ev, 'e', TK_ID_MAX);
    ev[TK_ID_MAX] = '\0';
    memset(user, 'u', TK_ID_MAX);
    user[TK_ID_MAX] = '\0';
    int n = gw_access_mint_key(&key_a, ev, TK_ID_MAX, user, TK_ID_MAX, ADMITTED_MS, 86400, t3);
    assert_true(n > 0 && n < GW_ACCESS_TOKEN_MAX);
    assert_int_equal(verify(&key_a, t3, ev, NOW, sub), GW_ACCESS_ADMITTED);
    assert_string_equal(sub, user);
    /* Bad ids: nothing minted. */
    assert_int_equal(gw_access_mint_key(&key_a, "EV", 2, "u-42", 4, ADMITTED_MS, 300, t3), -1);
    assert_int_equal(gw_access_mint_key(&key_a, "ev-1", 4, "u 42", 4, ADMITTED_MS, 300, t3), -1);
}

static void test_verify(void **state)
{
    (void)state;
    char tok[GW_ACCESS_TOKEN_MAX], sub[TK_ID_MAX + 1];
    assert_true(gw_access_mint_key(&key_a, "ev-1", 4, "u-42", 4, ADMITTED_MS, 300, tok) > 0);
    assert_int_equal(verify(&key_a, tok, "ev-1", NOW, sub), GW_ACCESS_ADMITTED);
    assert_string_equal(sub, "u-42");
    /* Well signed, but for another event, expired (at exp exactly: no skew for an admission), or admitted in the
     * future: refused, not "none". */
    assert_int_equal(verify(&key_a, tok, "ev-2", NOW, sub), GW_ACCESS_REFUSED);
    assert_string_equal(sub, "");
    assert_int_equal(verify(&key_a, tok, "ev-1", ADMITTED_MS / 1000 + 300, sub), GW_ACCESS_REFUSED);
    assert_int_equal(verify(&key_a, tok, "ev-1", ADMITTED_MS / 1000 + 300 + 5, sub), GW_ACCESS_REFUSED);
    assert_int_equal(verify(&key_a, tok, "ev-1", ADMITTED_MS / 1000 + 300 - 1, sub), GW_ACCESS_ADMITTED);
    assert_int_equal(verify(&key_a, tok, "ev-1", ADMITTED_MS / 1000 - TK_JWT_SKEW_S - 1, sub), GW_ACCESS_REFUSED);
    /* A path segment that is no event id matches no token's audience. */
    assert_int_equal(verify(&key_a, tok, "EV-1", NOW, sub), GW_ACCESS_REFUSED);
    /* Another key, or not a token at all: not an access token (the user token check decides, 401). */
    assert_int_equal(verify(&key_b, tok, "ev-1", NOW, sub), GW_ACCESS_NONE);
    assert_int_equal(verify(&key_a, "a.b.c", "ev-1", NOW, sub), GW_ACCESS_NONE);
    assert_int_equal(verify(&key_a, "", "ev-1", NOW, sub), GW_ACCESS_NONE);
}

/* An operator gave both kinds the same secret: still neither passes for the other. */
static void test_kinds_never_mix(void **state)
{
    (void)state;
    char access[GW_ACCESS_TOKEN_MAX], user[TK_JWT_MAX], sub[TK_ID_MAX + 1];
    size_t sublen;
    assert_true(gw_access_mint_key(&key_a, "ev-1", 4, "u-42", 4, ADMITTED_MS, 300, access) > 0);
    /* A user token of the same key, even naming the event as its audience, is no admission. */
    assert_int_equal(tk_jwt_mint(&key_a, "u-42", NOW, NOW + 300, NULL, "ev-1", user, sizeof user), 0);
    tk_jwt_err_t why;
    assert_int_equal(gw_access_verify(&key_a, user, strlen(user), "ev-1", 4, NOW, sub, &sublen, &why), GW_ACCESS_NONE);
    assert_int_equal(why, TK_JWT_TYPE);
    /* ... and expired, it is still TYPE, never a 403 of an access token. */
    assert_int_equal(tk_jwt_mint(&key_a, "u-42", NOW - 1000, NOW - 900, NULL, "ev-1", user, sizeof user), 0);
    assert_int_equal(gw_access_verify(&key_a, user, strlen(user), "ev-1", 4, NOW, sub, &sublen, &why), GW_ACCESS_NONE);
    assert_int_equal(why, TK_JWT_TYPE);

    /* The access token is refused as a user token by the user token check. */
    gw_config_t c;
    memset(&c, 0, sizeof c);
    c.user_keys[0] = key_a;
    c.nuser_keys = 1;
    char hdr[TK_JWT_MAX + 16];
    snprintf(hdr, sizeof hdr, "Bearer %s", access);
    int sent;
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_TYPE);
    assert_int_equal(sent, 1);
    assert_string_equal(sub, "");
    /* A user token carrying "typ":"access" by hand, by the user key: refused as a user token too. */
    assert_int_equal(tk_jwt_mint_typ(&key_a, "u-42", NOW, NOW + 300, NULL, NULL, TK_JWT_TYP_ACCESS, user, sizeof user), 0);
    snprintf(hdr, sizeof hdr, "Bearer %s", user);
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_TYPE);
    /* Another "typ" a login service may write (Keycloak's "Bearer") is still a user token. */
    assert_int_equal(tk_jwt_mint_typ(&key_a, "u-42", NOW, NOW + 300, NULL, NULL, "Bearer", user, sizeof user), 0);
    snprintf(hdr, sizeof hdr, "Bearer %s", user);
    assert_int_equal(gw_user_token_verify(&c, hdr, strlen(hdr), NOW, sub, &sublen, &sent), TK_JWT_OK);
    assert_string_equal(sub, "u-42");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_mint_is_deterministic, setup),
        cmocka_unit_test_setup(test_verify, setup),
        cmocka_unit_test_setup(test_kinds_never_mix, setup),
    };
    return cmocka_run_group_tests_name("gw_access", tests, NULL, NULL);
}
