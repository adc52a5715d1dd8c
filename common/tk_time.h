/*
 * tk_time: the clocks (wall-clock and monotonic), a sleep that a stop
 * request cuts short, and RFC 3339 UTC text with milliseconds, the one time
 * format of the API ("2026-11-22T09:00:00.000Z").
 */
#ifndef TK_TIME_H
#define TK_TIME_H

#include <signal.h>
#include <stdint.h>

#define TK_TIME_RFC3339_LEN 24 /* "2026-11-22T09:00:00.000Z" */

/** Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t tk_time_now_ms(void);

/** Milliseconds from a monotonic clock, for intervals only. */
int64_t tk_time_mono_ms(void);

/** Microseconds from the same monotonic clock, for intervals only. */
int64_t tk_time_mono_us(void);

/**
 * Sleeps @ms in slices of at most 50 ms, returning early once *@stop is set
 * (@stop may be NULL: the whole time is slept).
 */
void tk_time_sleep_ms(long ms, const volatile sig_atomic_t *stop);

/** Writes @ms as RFC 3339 UTC with milliseconds into @out (TK_TIME_RFC3339_LEN + 1 bytes). */
void tk_time_format_rfc3339(int64_t ms, char *out);

/**
 * Parses RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)". Fractions beyond
 * milliseconds are truncated. Returns 0 and sets *ms, or -1 when @s is not
 * exactly one valid timestamp.
 */
int tk_time_parse_rfc3339(const char *s, int64_t *ms);

#endif
