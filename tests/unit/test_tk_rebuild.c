/* Unit tests of common/tk_rebuild: a database claims row into a Redis claim record, and the code names. */
#include "tk_claim.h"
#include "tk_rebuild.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_record(void **state)
{
    (void)state;
    char out[TK_CLAIM_RECORD_MAX];
    assert_int_equal(tk_rebuild_record("812", "1", "1763802000123", "confirmed", out), (int)strlen("812 1 1763802000123 c"));
    assert_string_equal(out, "812 1 1763802000123 c");
    assert_true(tk_rebuild_record("1", "3", "0", "cancelled", out) > 0);
    assert_string_equal(out, "1 3 0 x");
    assert_true(tk_rebuild_record("7", "2", "5", "rejected", out) > 0);
    assert_string_equal(out, "7 2 5 r");
    /* What the gateway and the workers decode is what was written. */
    tk_claim_t c;
    assert_true(tk_rebuild_record("900000000000000000", "1000", "1763802000123", "confirmed", out) > 0);
    assert_int_equal(tk_claim_decode(out, strlen(out), &c), 0);
    assert_int_equal(c.ticket, 900000000000000000LL);
    assert_int_equal(c.quantity, 1000);
    assert_int_equal(c.status, TK_CLAIM_CONFIRMED);
}

static void test_record_refuses(void **state)
{
    (void)state;
    char out[TK_CLAIM_RECORD_MAX];
    /* pending is never a database status; unknown words, NULLs, zero, signs, overflow and junk are refused. */
    const char *bad[][4] = {
        {"1", "1", "5", "pending"}, {"1", "1", "5", "CONFIRMED"}, {"1", "1", "5", ""},          {"1", "1", "5", NULL},
        {"0", "1", "5", "confirmed"}, {"1", "0", "5", "confirmed"}, {"-1", "1", "5", "confirmed"}, {"1", "1", "-5", "confirmed"},
        {NULL, "1", "5", "confirmed"}, {"1", NULL, "5", "confirmed"}, {"1", "1", NULL, "confirmed"}, {"1x", "1", "5", "confirmed"},
        {"9223372036854775808", "1", "5", "confirmed"}, {"9223372036854775807", "1", "5", "confirmed"}, {"99999999999999999999", "1", "5", "confirmed"}, {" 1", "1", "5", "confirmed"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tk_rebuild_record(bad[i][0], bad[i][1], bad[i][2], bad[i][3], out) != -1)
            fail_msg("accepted row %zu", i);
    }
}

static void test_rc_names(void **state)
{
    (void)state;
    assert_string_equal(tk_rebuild_rc_name(TK_REBUILD_OK), "ok");
    assert_string_equal(tk_rebuild_rc_name(TK_REBUILD_NOT_DRAINED), "not_drained");
    assert_string_equal(tk_rebuild_rc_name(TK_REBUILD_CONFLICT), "conflict");
    assert_string_equal(tk_rebuild_rc_name(TK_REBUILD_ERR_REDIS), "redis_error");
    assert_string_equal(tk_rebuild_rc_name(-1), "unknown");
    assert_string_equal(tk_rebuild_rc_name(99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_record_refuses),
        cmocka_unit_test(test_rc_names),
    };
    return cmocka_run_group_tests_name("tk_rebuild", tests, NULL, NULL);
}
