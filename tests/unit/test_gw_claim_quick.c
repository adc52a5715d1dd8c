/*
 * Unit tests of gateway/claims/gw_claim_quick: the claim body read without
 * jansson must give what the jansson parse gives, for every body. The
 * oracle below is gw_claim_body's parse as it was before the quick reader
 * (jansson only); gw_claim_body_parse, which now tries the quick reader
 * first, must agree with it on the result, the fields and the message.
 */
#include "gw_claim_body.h"
#include "gw_claim_quick.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int oracle(const char *body, size_t len, int user_required, gw_claim_body_t *out, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc = -1;
    if (len == 0) {
        snprintf(err, errlen, user_required ? "the body must be a JSON object with user_id" : "the body must be a JSON object");
        return -1;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "malformed JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the body must be a JSON object");
        goto exit;
    }
    json_t *user = json_object_get(root, "user_id");
    out->user_id[0] = '\0';
    out->ulen = 0;
    if (user != NULL || user_required) {
        if (!json_is_string(user)) {
            snprintf(err, errlen, user_required ? "user_id is required and must be a string" : "user_id must be a string");
            goto exit;
        }
        size_t ulen = json_string_length(user);
        if (!tk_valid_user_id(json_string_value(user), ulen)) {
            snprintf(err, errlen, "user_id must be 1-64 of [A-Za-z0-9_.:@-]");
            goto exit;
        }
        memcpy(out->user_id, json_string_value(user), ulen);
        out->user_id[ulen] = '\0';
        out->ulen = ulen;
    }
    out->quantity = 1;
    json_t *qty = json_object_get(root, "quantity");
    if (qty != NULL && !json_is_null(qty)) {
        if (!json_is_integer(qty) || json_integer_value(qty) < 1 || json_integer_value(qty) > TK_QUANTITY_MAX) {
            snprintf(err, errlen, "quantity must be a whole number from 1 to %d", TK_QUANTITY_MAX);
            goto exit;
        }
        out->quantity = (int)json_integer_value(qty);
    }
    rc = 0;
exit:
    json_decref(root);
    return rc;
}

static int quick_taken; /* bodies the quick reader accepted, over all checks */

/* @body (@len bytes) gives the same through gw_claim_body as through the oracle, both ways of requiring user_id. */
static void same(const char *body, size_t len)
{
    for (int req = 0; req <= 1; req++) {
        gw_claim_body_t a, b, q;
        char ea[256] = "", eb[256] = "";
        memset(&a, 0x5a, sizeof(a));
        memset(&b, 0x5a, sizeof(b));
        int ra = req ? gw_claim_body_parse(body, len, &a, ea, sizeof(ea)) : gw_claim_body_parse_opt_user(body, len, &a, ea, sizeof(ea));
        int rb = oracle(body, len, req, &b, eb, sizeof(eb));
        if (ra != rb)
            fail_msg("%.*s (user %s): %d, the jansson parse %d (%s)", (int)len, body, req ? "required" : "optional", ra, rb, eb);
        if (ra == 0) {
            assert_int_equal(a.ulen, b.ulen);
            assert_string_equal(a.user_id, b.user_id);
            assert_int_equal(a.quantity, b.quantity);
        } else {
            assert_string_equal(ea, eb);
        }
        if (gw_claim_quick(body, len, req, &q)) {
            if (rb != 0)
                fail_msg("the quick reader accepted %.*s, which the jansson parse refuses (%s)", (int)len, body, eb);
            assert_int_equal(q.ulen, b.ulen);
            assert_string_equal(q.user_id, b.user_id);
            assert_int_equal(q.quantity, b.quantity);
            quick_taken++;
        }
    }
}

#define SAME(s) same(s, strlen(s))

static void test_corpus(void **state)
{
    (void)state;
    static const char *bodies[] = {
        "{\"user_id\":\"u-42\"}", "{\"user_id\":\"u-42\",\"quantity\":1}", "{\"quantity\":3,\"user_id\":\"Bob@x\"}",
        " \t\r\n{ \"user_id\" : \"a.b:c@d_e-f\" , \"quantity\" : 1000 } \n", "{\"user_id\":\"u\",\"quantity\":null}",
        "{\"quantity\":null,\"user_id\":\"u\"}", "{}", "{ }", "{\"quantity\":2}", "{\"quantity\":null}",
        /* declined by the quick reader: the jansson parse answers */
        "", " ", "{", "}", "[]", "\"u-42\"", "null", "{\"user_id\":42}", "{\"user_id\":\"\"}", "{\"user_id\":\"a b\"}",
        "{\"user_id\":\"caf\xc3\xa9\"}", "{\"user_id\":\"\xff\"}", "{\"user_id\":\"u\\u0041\"}", "{\"user_id\":\"u\\\"\"}",
        "{\"user_\\u0069d\":\"u\"}", "{\"user_id\":\"u\",\"quantity\":0}", "{\"user_id\":\"u\",\"quantity\":00}",
        "{\"user_id\":\"u\",\"quantity\":01}", "{\"user_id\":\"u\",\"quantity\":-1}", "{\"user_id\":\"u\",\"quantity\":-0}",
        "{\"user_id\":\"u\",\"quantity\":1.5}", "{\"user_id\":\"u\",\"quantity\":1.0}", "{\"user_id\":\"u\",\"quantity\":1e2}",
        "{\"user_id\":\"u\",\"quantity\":1E2}", "{\"user_id\":\"u\",\"quantity\":\"1\"}", "{\"user_id\":\"u\",\"quantity\":1001}",
        "{\"user_id\":\"u\",\"quantity\":9999}", "{\"user_id\":\"u\",\"quantity\":10000}", "{\"user_id\":\"u\",\"quantity\":99999999999999999999}",
        "{\"user_id\":\"u\",\"quantity\":true}", "{\"user_id\":\"u\",\"quantity\":nul}", "{\"user_id\":\"u\",\"quantity\":nullx}",
        "{\"user_id\":\"u\",\"quantity\":null1}", "{\"user_id\":\"u\",\"quantity\":1x}", "{\"user_id\":\"u\",\"quantity\":}",
        "{\"user_id\":\"u\",\"user_id\":\"v\"}", "{\"user_id\":\"u\",\"user_id\":\"u\"}", "{\"quantity\":1,\"quantity\":1,\"user_id\":\"u\"}",
        "{\"user_id\":\"u\"} trailing", "{\"user_id\":\"u\"}}", "{\"user_id\":\"u\"},", "{\"user_id\":\"u\",}", "{,\"user_id\":\"u\"}",
        "{\"user_id\":\"u\" \"quantity\":1}", "{\"user_id\" \"u\"}", "{\"user_id\"::\"u\"}", "{\"user_id\":\"u\"",
        "{\"user_id\":\"u", "{\"user_id\":", "{\"user_id\"", "{\"user_i", "{\"user_id\":\"u\",\"extra\":[1,{\"a\":null}]}",
        "{\"extra\":1,\"user_id\":\"u\"}", "{\"User_id\":\"u\"}", "{\"user_id\":null}", "{\"user_id\":\"u\",\"quantity\":[1]}",
        "{\"user_id\":\"u\"}\f", "\f{\"user_id\":\"u\"}", "{\"user_id\":\"u\"}\v", "\xef\xbb\xbf{\"user_id\":\"u\"}",
        "{'user_id':'u'}", "{\"user_id\":'u'}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        SAME(bodies[i]);
}

/* Every user_id length around TK_ID_MAX, and every byte as a user_id's character. */
static void test_ids(void **state)
{
    (void)state;
    char body[128];
    for (int len = 0; len <= TK_ID_MAX + 2; len++) {
        int n = snprintf(body, sizeof(body), "{\"user_id\":\"%.*s\",\"quantity\":7}", len,
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-abcdefghij");
        same(body, (size_t)n);
    }
    for (int c = 0; c < 256; c++) {
        int n = snprintf(body, sizeof(body), "{\"user_id\":\"a%cb\"}", c == 0 ? 'x' : c);
        if (c == 0)
            body[13] = '\0'; /* a NUL inside the string: the jansson parse refuses it */
        same(body, (size_t)n);
    }
}

/* Every quantity from 0 to 10,001, every body cut short, every byte after the object. */
static void test_numbers_cuts_tails(void **state)
{
    (void)state;
    char body[128];
    for (int q = 0; q <= 10001; q++) {
        int n = snprintf(body, sizeof(body), "{\"quantity\":%d,\"user_id\":\"u-1\"}", q);
        same(body, (size_t)n);
    }
    static const char full[] = " { \"user_id\" : \"u-42\" , \"quantity\" : 12 } ";
    for (size_t cut = 0; cut < sizeof(full) - 1; cut++)
        same(full, cut);
    for (int c = 0; c < 256; c++) {
        int n = snprintf(body, sizeof(body), "{\"user_id\":\"u\"}%c", c == 0 ? 'x' : c);
        if (c == 0)
            body[n - 1] = '\0';
        same(body, (size_t)n);
    }
}

/* The bodies clients send take the quick path (else this file tests nothing of it). */
static void test_quick_taken(void **state)
{
    (void)state;
    gw_claim_body_t q;
    static const char wrk[] = "{\"user_id\":\"u-1a2b3c4d-0-12345\"}";
    assert_int_equal(gw_claim_quick(wrk, sizeof(wrk) - 1, 1, &q), 1);
    assert_string_equal(q.user_id, "u-1a2b3c4d-0-12345");
    assert_int_equal(q.quantity, 1);
    static const char two[] = "{\"user_id\": \"u-42\", \"quantity\": 2}";
    assert_int_equal(gw_claim_quick(two, sizeof(two) - 1, 1, &q), 1);
    assert_int_equal(q.quantity, 2);
    assert_int_equal(gw_claim_quick("{}", 2, 1, &q), 0);   /* user_id required: the full parse words the refusal */
    assert_int_equal(gw_claim_quick("{}", 2, 0, &q), 1);
    assert_int_equal(q.ulen, 0);
    quick_taken = 0;
    SAME("{\"user_id\":\"u-42\"}");
    assert_int_equal(quick_taken, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_numbers_cuts_tails),
        cmocka_unit_test(test_quick_taken),
    };
    return cmocka_run_group_tests_name("gw_claim_quick", tests, NULL, NULL);
}
