/* Unit tests of common/tk_claim: the claim record and the claim's JSON. */
#include "tk_claim.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
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

/* The snprintf versions tk_claim_json, tk_claim_id and the Location were
 * before they were written field by field: the new ones must give the
 * same bytes and the same lengths. */
static int old_claim_id(const char *event_id, size_t elen, int64_t ticket, char *out)
{
    return snprintf(out, TK_CLAIM_ID_MAX, "c-%.*s-%lld", (int)elen, event_id, (long long)ticket);
}

static int old_claim_json(const char *event_id, size_t elen, const char *user_id, size_t ulen, const tk_claim_t *c, const char *reason,
                          char *out)
{
    char id[TK_CLAIM_ID_MAX], created[TK_TIME_RFC3339_LEN + 1];
    old_claim_id(event_id, elen, c->ticket, id);
    tk_time_format_rfc3339(c->created_ms, created);
    const char *status = tk_claim_status_name(c->status);
    int n = snprintf(out, TK_CLAIM_JSON_MAX,
                     "{\"claim_id\":\"%s\",\"event_id\":\"%.*s\",\"user_id\":\"%.*s\",\"ticket\":%lld,\"quantity\":%lld,"
                     "\"status\":\"%s\",\"created_at\":\"%s\"%s%s%s}",
                     id, (int)elen, event_id, (int)ulen, user_id, (long long)c->ticket, (long long)c->quantity,
                     status != NULL ? status : "pending", created, reason != NULL ? ",\"reason\":\"" : "", reason != NULL ? reason : "",
                     reason != NULL ? "\"" : "");
    return n > 0 && n < TK_CLAIM_JSON_MAX ? n : -1;
}

static const char ID64[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-"; /* 67: cut to 64 below */

static void test_json_same_bytes_as_snprintf(void **state)
{
    (void)state;
    const char *ids[] = {"e", "cookie-day", ID64};
    const size_t idlens[] = {1, 10, 64};
    const int64_t nums[] = {1, 9, 10, 99, 100, 812, 999999999, 1000000000, INT64_MAX / 10, INT64_MAX - 1, INT64_MAX};
    const int64_t times[] = {0, 1, 999, 1000, 1763802000123LL, 253402300799999LL, 4102444800000LL, -1, -86400001LL};
    const tk_claim_status_t statuses[] = {TK_CLAIM_PENDING, TK_CLAIM_CONFIRMED, TK_CLAIM_REJECTED, TK_CLAIM_CANCELLED, (tk_claim_status_t)'z'};
    const char *reasons[] = {NULL, "stock_guard", "", "operator"};
    char got[TK_CLAIM_JSON_MAX], want[TK_CLAIM_JSON_MAX];
    int cases = 0;
    for (size_t e = 0; e < 3; e++)
        for (size_t u = 0; u < 3; u++)
            for (size_t t = 0; t < sizeof(nums) / sizeof(nums[0]); t++)
                for (size_t m = 0; m < sizeof(times) / sizeof(times[0]); m++)
                    for (size_t st = 0; st < sizeof(statuses) / sizeof(statuses[0]); st++)
                        for (size_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++) {
                            tk_claim_t c = {nums[t], nums[(t + m) % (sizeof(nums) / sizeof(nums[0]))], times[m], statuses[st]};
                            int a = tk_claim_json(ids[e], idlens[e], ids[u], idlens[u], &c, reasons[r], got);
                            int b = old_claim_json(ids[e], idlens[e], ids[u], idlens[u], &c, reasons[r], want);
                            assert_int_equal(a, b);
                            assert_true(a > 0);
                            assert_string_equal(got, want);
                            cases++;
                        }
    assert_true(cases > 5000);
}

/* A reason long enough to pass TK_CLAIM_JSON_MAX: -1 from both, at every length around the edge. */
static void test_json_too_long(void **state)
{
    (void)state;
    char reason[TK_CLAIM_JSON_MAX + 8], got[TK_CLAIM_JSON_MAX], want[TK_CLAIM_JSON_MAX];
    tk_claim_t c = {INT64_MAX, INT64_MAX, 253402300799999LL, TK_CLAIM_REJECTED};
    int fits = 0, refused = 0;
    for (size_t len = 0; len < sizeof(reason); len++) {
        memset(reason, 'r', len);
        reason[len] = '\0';
        int a = tk_claim_json(ID64, 64, ID64, 64, &c, reason, got);
        int b = old_claim_json(ID64, 64, ID64, 64, &c, reason, want);
        assert_int_equal(a, b);
        if (a > 0) {
            assert_string_equal(got, want);
            assert_true(a <= TK_CLAIM_JSON_MAX - 1);
            fits++;
        } else {
            refused++;
        }
    }
    assert_true(fits > 0 && refused > 0); /* the edge was crossed */
}

static void test_claim_id_and_location(void **state)
{
    (void)state;
    char got[TK_CLAIM_LOCATION_MAX], want[TK_CLAIM_LOCATION_MAX];
    const int64_t nums[] = {1, 10, 812, INT64_MAX, -5};
    for (size_t len = 1; len <= 64; len++)
        for (size_t t = 0; t < sizeof(nums) / sizeof(nums[0]); t++) {
            assert_int_equal(tk_claim_id(ID64, len, nums[t], got), old_claim_id(ID64, len, nums[t], want));
            assert_string_equal(got, want);
        }
    char ev[TK_ID_MAX + 1], us[TK_ID_MAX + 1];
    for (size_t el = 1; el <= 64; el += 63)
        for (size_t ul = 1; ul <= 64; ul++) {
            memcpy(ev, ID64, el);
            ev[el] = '\0';
            memcpy(us, ID64 + 3, ul);
            us[ul] = '\0';
            int n = snprintf(want, sizeof(want), "/v1/events/%s/claims/%s", ev, us); /* the batcher's old Location */
            assert_int_equal(tk_claim_location(ev, el, us, ul, got), n);
            assert_string_equal(got, want);
            assert_true(n < TK_CLAIM_LOCATION_MAX);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_same_bytes_as_snprintf),
        cmocka_unit_test(test_json_too_long),
        cmocka_unit_test(test_claim_id_and_location),
    };
    return cmocka_run_group_tests_name("tk_claim", tests, NULL, NULL);
}
