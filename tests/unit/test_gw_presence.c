/* test_gw_presence: the 30 s presence rule and the Redis bounds and keys it is read with (gw_presence.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_presence.h"

/* The clock is injected: every check takes "now" as an argument. */
static void test_boundary(void **state)
{
    (void)state;
    const int64_t seen = 1763802000000LL;
    assert_int_equal(gw_presence_present(seen, seen), 1);
    assert_int_equal(gw_presence_present(seen, seen + 29999), 1); /* 29.999 s: present */
    assert_int_equal(gw_presence_present(seen, seen + 30000), 0); /* 30.000 s: not */
    assert_int_equal(gw_presence_present(seen, seen + 30001), 0);
}

/* ZCOUNT/ZRANGE bound: exclusive, so a score of exactly now - 30 s is out, as above. */
static void test_min_arg(void **state)
{
    (void)state;
    char min[32];
    const int64_t now = 1763802030000LL;
    gw_presence_min_arg(now, min);
    assert_string_equal(min, "(1763802000000");
    /* Redis keeps a score s when s > the bound: the same set as gw_presence_present. */
    int64_t bound = strtoll(min + 1, NULL, 10);
    for (int64_t s = now - 30002; s <= now - 29998; s++)
        assert_int_equal(s > bound, gw_presence_present(s, now));
}

static void test_keys(void **state)
{
    (void)state;
    char k[GW_PRESENCE_KEY_MAX];
    gw_presence_page_key("cookie-day", "queue", 7, k);
    assert_string_equal(k, "tk:{cookie-day}:pp:queue:7");
    gw_presence_user_key("cookie-day", "u-1@x", k);
    assert_string_equal(k, "tk:{cookie-day}:pu:u-1@x");
    /* the longest ids fit */
    char ev[65], page[33], user[65];
    memset(ev, 'e', 64), ev[64] = '\0';
    memset(page, 'p', 32), page[32] = '\0';
    memset(user, 'u', 64), user[64] = '\0';
    assert_true(gw_presence_page_key(ev, page, 99, k) < GW_PRESENCE_KEY_MAX);
    assert_true(gw_presence_user_key(ev, user, k) < GW_PRESENCE_KEY_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_min_arg),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
