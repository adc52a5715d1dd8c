/* Unit tests of common/tk_claim: the claim record and the claim's JSON. */
#include "tk_claim.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define DEC(s, c) tk_claim_decode(s, strlen(s), c)

static void test_decode(void **state)
{
    (void)state;
    tk_claim_t c;
    assert_int_equal(DEC("812 1 1763802000123 p", &c), 0);
    assert_int_equal(c.ticket, 812);
    assert_int_equal(c.quantity, 1);
    assert_int_equal(c.created_ms, 1763802000123LL);
    assert_int_equal(c.status, TK_CLAIM_PENDING);
    assert_int_equal(DEC("1 3 5 x", &c), 0);
    assert_int_equal(c.status, TK_CLAIM_CANCELLED);
}

static void test_decode_refuses(void **state)
{
    (void)state;
    tk_claim_t c;
    const char *bad[] = {"",           "812 1 1763802000123",     "812 1 1763802000123 q", "812 1 1763802000123 pp",
                         "812  1 5 p", "-1 1 5 p",                "0 1 5 p",               "1 0 5 p",
                         "a 1 5 p",    "99999999999999999999 1 5 p", "1 1 5 p ",             " 1 1 5 p"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (DEC(bad[i], &c) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    tk_claim_t in = {42, 2, 1700000000999LL, TK_CLAIM_CONFIRMED}, out;
    char rec[TK_CLAIM_RECORD_MAX];
    int n = tk_claim_encode(&in, rec);
    assert_string_equal(rec, "42 2 1700000000999 c");
    assert_int_equal(tk_claim_decode(rec, (size_t)n, &out), 0);
    assert_int_equal(out.ticket, in.ticket);
    assert_int_equal(out.quantity, in.quantity);
    assert_int_equal(out.created_ms, in.created_ms);
    assert_int_equal(out.status, in.status);
}

static void test_status_names(void **state)
{
    (void)state;
    tk_claim_status_t s;
    assert_string_equal(tk_claim_status_name(TK_CLAIM_REJECTED), "rejected");
    assert_null(tk_claim_status_name((tk_claim_status_t)'z'));
    assert_int_equal(tk_claim_status_from_name("cancelled", &s), 0);
    assert_int_equal(s, TK_CLAIM_CANCELLED);
    assert_int_equal(tk_claim_status_from_name("CONFIRMED", &s), -1);
}

static void test_json(void **state)
{
    (void)state;
    tk_claim_t c = {812, 1, 1763802000123LL, TK_CLAIM_PENDING};
    char out[TK_CLAIM_JSON_MAX];
    int n = tk_claim_json("cookie-day", 10, "u-42", 4, &c, NULL, out);
    assert_true(n > 0);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "claim_id")), "c-cookie-day-812");
    assert_string_equal(json_string_value(json_object_get(j, "event_id")), "cookie-day");
    assert_string_equal(json_string_value(json_object_get(j, "user_id")), "u-42");
    assert_int_equal(json_integer_value(json_object_get(j, "ticket")), 812);
    assert_int_equal(json_integer_value(json_object_get(j, "quantity")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(j, "created_at")), "2025-11-22T09:00:00.123Z");
    assert_null(json_object_get(j, "reason"));
    json_decref(j);

    c.status = TK_CLAIM_REJECTED;
    tk_claim_json("e", 1, "u", 1, &c, "stock_guard", out);
    j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "stock_guard");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "rejected");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests_name("tk_claim", tests, NULL, NULL);
}
