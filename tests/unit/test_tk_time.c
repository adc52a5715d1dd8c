/* Unit tests of common/tk_time: RFC 3339 with milliseconds, both ways; the clocks and the stoppable sleep. */
#include "tk_fmt.h"
#include "tk_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_format(void **state)
{
    (void)state;
    char out[TK_TIME_RFC3339_LEN + 1];
    tk_time_format_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    tk_time_format_rfc3339(1763802000123LL, out);
    assert_string_equal(out, "2025-11-22T09:00:00.123Z");
    tk_time_format_rfc3339(951782400000LL, out); /* a leap day */
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
}

static void test_parse(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(tk_time_parse_rfc3339("2025-11-22T09:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1763802000123LL);
    assert_int_equal(tk_time_parse_rfc3339("2025-11-22T09:00:00Z", &ms), 0);
    assert_int_equal(ms, 1763802000000LL);
    assert_int_equal(tk_time_parse_rfc3339("2025-11-22T10:30:00.5+01:30", &ms), 0);
    assert_int_equal(ms, 1763802000500LL);
    assert_int_equal(tk_time_parse_rfc3339("2025-11-22T09:00:00.123456789z", &ms), 0); /* truncated to ms */
    assert_int_equal(ms, 1763802000123LL);
    assert_int_equal(tk_time_parse_rfc3339("2000-02-29T00:00:00Z", &ms), 0);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {"",
                         "2025-11-22",
                         "2025-11-22 09:00:00Z",
                         "2025-11-22T09:00:00",      /* no zone */
                         "2025-13-01T00:00:00Z",     /* month 13 */
                         "2025-02-29T00:00:00Z",     /* not a leap year */
                         "2025-04-31T00:00:00Z",     /* April has 30 days */
                         "2025-11-22T24:00:00Z",
                         "2025-11-22T09:60:00Z",
                         "2025-11-22T09:00:00.Z",    /* empty fraction */
                         "2025-11-22T09:00:00Zjunk", /* trailing bytes */
                         "2025-11-22T09:00:00+0100", /* offset without colon */
                         "2025-1x-22T09:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tk_time_parse_rfc3339(bad[i], &ms) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    char out[TK_TIME_RFC3339_LEN + 1];
    int64_t samples[] = {1, 999, 86399999, 1763802000123LL, 4102444799999LL};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        int64_t back;
        tk_time_format_rfc3339(samples[i], out);
        assert_int_equal(tk_time_parse_rfc3339(out, &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

static void test_clocks_and_sleep(void **state)
{
    (void)state;
    int64_t us0 = tk_time_mono_us(), ms0 = tk_time_mono_ms();
    tk_time_sleep_ms(20, NULL);
    assert_true(tk_time_mono_ms() - ms0 >= 20);
    assert_true(tk_time_mono_us() - us0 >= 20000);
    /* A stop already requested cuts the sleep to nothing. */
    volatile sig_atomic_t stop = 1;
    int64_t t0 = tk_time_mono_ms();
    tk_time_sleep_ms(60000, &stop);
    assert_true(tk_time_mono_ms() - t0 < 1000);
}

/* The gmtime_r + snprintf formatting tk_time_format_rfc3339 replaced: the reference the arithmetic must agree with. */
static void reference_rfc3339(int64_t ms, char *out)
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u, mo = (unsigned)(tm.tm_mon + 1) % 100u, d = (unsigned)tm.tm_mday % 100u,
             h = (unsigned)tm.tm_hour % 100u, mi = (unsigned)tm.tm_min % 100u, s = (unsigned)tm.tm_sec % 100u, f = (unsigned)frac % 1000u;
    snprintf(out, TK_TIME_RFC3339_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", y, mo, d, h, mi, s, f);
}

/* Every day boundary of 1969-2101 (leap days, century rules), then random instants over years 1..9999 and a few before 1970. */
static void test_format_agrees_with_gmtime(void **state)
{
    (void)state;
    char got[TK_TIME_RFC3339_LEN + 1], want[TK_TIME_RFC3339_LEN + 1];
    for (int64_t day = -366; day < 48000; day++) {
        for (int64_t off = -1; off <= 1; off++) {
            int64_t ms = day * 86400000 + off;
            tk_time_format_rfc3339(ms, got);
            reference_rfc3339(ms, want);
            if (strcmp(got, want) != 0)
                fail_msg("%lld ms: %s, gmtime_r says %s", (long long)ms, got, want);
        }
    }
    uint64_t x = 88172645463325252ull; /* xorshift64: deterministic */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = (int64_t)(x % 315537897600000ull) - 62135596800000; /* 0001-01-01 .. 9999-12-31 */
        tk_time_format_rfc3339(ms, got);
        reference_rfc3339(ms, want);
        if (strcmp(got, want) != 0)
            fail_msg("%lld ms: %s, gmtime_r says %s", (long long)ms, got, want);
    }
    tk_time_format_rfc3339(951782400000, got); /* 2000-02-29: a leap day of a century divisible by 400 */
    assert_string_equal(got, "2000-02-29T00:00:00.000Z");
    tk_time_format_rfc3339(-1, got);
    assert_string_equal(got, "1969-12-31T23:59:59.999Z");
}

static void test_fmt_i64(void **state)
{
    (void)state;
    const int64_t v[] = {0, 1, -1, 9, 10, -10, 9007199254740991, -9007199254740991, INT64_MAX, INT64_MIN, 1234567890123};
    char got[TK_FMT_I64_MAX + 1], want[32];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = tk_fmt_i64(got, v[i]);
        got[n] = '\0';
        snprintf(want, sizeof want, "%" PRId64, v[i]);
        assert_string_equal(got, want);
    }
    tk_fmt_pad(got, 7, 3);
    got[3] = '\0';
    assert_string_equal(got, "007");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_agrees_with_gmtime),
        cmocka_unit_test(test_fmt_i64),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clocks_and_sleep),
    };
    return cmocka_run_group_tests_name("tk_time", tests, NULL, NULL);
}
