/* Unit tests of gateway/claims/gw_claim_body: the body of POST …/claims. */
#include "gw_claim_body.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *body, gw_claim_body_t *out, char *err)
{
    return gw_claim_body_parse(body, strlen(body), out, err, 256);
}

static void test_good(void **state)
{
    (void)state;
    gw_claim_body_t b;
    char err[256];
    assert_int_equal(parse("{\"user_id\":\"u-42\"}", &b, err), 0);
    assert_string_equal(b.user_id, "u-42");
    assert_int_equal(b.ulen, 4);
    assert_int_equal(b.quantity, 1); /* the default */
    assert_int_equal(parse("{\"quantity\":3,\"user_id\":\"Bob@x\",\"extra\":[1,{\"a\":null}]}", &b, err), 0);
    assert_int_equal(b.quantity, 3);
    assert_string_equal(b.user_id, "Bob@x");
    assert_int_equal(parse("{\"user_id\":\"u\",\"quantity\":null}", &b, err), 0);
    assert_int_equal(b.quantity, 1);
    assert_int_equal(parse("{\"user_id\":\"u\",\"quantity\":1000}", &b, err), 0);
}

static void test_bad(void **state)
{
    (void)state;
    gw_claim_body_t b;
    char err[256];
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "\"u-42\"",
                         "{}",
                         "{\"user_id\":42}",
                         "{\"user_id\":\"\"}",
                         "{\"user_id\":\"a b\"}",
                         "{\"user_id\":\"caf\xc3\xa9\"}",
                         "{\"user_id\":\"u\",\"quantity\":0}",
                         "{\"user_id\":\"u\",\"quantity\":-1}",
                         "{\"user_id\":\"u\",\"quantity\":1.5}",
                         "{\"user_id\":\"u\",\"quantity\":\"1\"}",
                         "{\"user_id\":\"u\",\"quantity\":1001}",
                         "{\"user_id\":\"u\",\"quantity\":true}",
                         "{\"user_id\":\"u\",\"user_id\":\"v\"}", /* duplicate keys */
                         "{\"user_id\":\"u\"} trailing",
                         "{\"user_id\":\"\xff\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (parse(bad[i], &b, err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != '\0'); /* always a message for the client */
    }
    char id[80] = "{\"user_id\":\"";
    memset(id + strlen(id), 'a', 65);
    strcpy(id + 12 + 65, "\"}");
    assert_int_equal(parse(id, &b, err), -1);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    gw_claim_body_t b;
    char err[256];
    static const char body[] = "{\"user_id\":\"u\\u0000x\"}";
    assert_int_equal(gw_claim_body_parse(body, sizeof(body) - 1, &b, err, sizeof(err)), -1);
}

/* With a user token the body's user_id may be left out; when given it is checked as ever. */
static void test_optional_user(void **state)
{
    (void)state;
    gw_claim_body_t b;
    char err[256];
#define OPT(s) gw_claim_body_parse_opt_user(s, strlen(s), &b, err, sizeof(err))
    assert_int_equal(OPT("{}"), 0);
    assert_int_equal(b.ulen, 0);
    assert_string_equal(b.user_id, "");
    assert_int_equal(b.quantity, 1);
    assert_int_equal(OPT("{\"quantity\":2}"), 0);
    assert_int_equal(b.ulen, 0);
    assert_int_equal(b.quantity, 2);
    assert_int_equal(OPT("{\"user_id\":\"u-42\"}"), 0);
    assert_string_equal(b.user_id, "u-42");
    assert_int_equal(b.ulen, 4);
    /* Present means valid: the same refusals as without a token. */
    assert_int_equal(OPT("{\"user_id\":\"a b\"}"), -1);
    assert_non_null(strstr(err, "user_id"));
    assert_int_equal(OPT("{\"user_id\":\"\"}"), -1);
    assert_int_equal(OPT("{\"user_id\":null}"), -1);
    assert_int_equal(OPT("{\"user_id\":7}"), -1);
    assert_int_equal(OPT("{\"quantity\":0}"), -1);
    assert_int_equal(OPT(""), -1);
    assert_int_equal(OPT("[]"), -1);
    /* Without a token user_id is still required. */
    assert_int_equal(parse("{\"quantity\":1}", &b, err), -1);
    assert_non_null(strstr(err, "user_id is required"));
#undef OPT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_optional_user),
    };
    return cmocka_run_group_tests_name("gw_claim_body", tests, NULL, NULL);
}
