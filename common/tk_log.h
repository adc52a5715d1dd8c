/*
 * tk_log: one logging path for every process of the project.
 *
 * Lines go to stderr as "2026-11-22T09:00:00.123Z LEVEL prog: message".
 * Safe to call from any thread; a line is written with one write(2).
 */
#ifndef TK_LOG_H
#define TK_LOG_H

typedef enum {
    TK_LOG_DEBUG = 0,
    TK_LOG_INFO,
    TK_LOG_WARN,
    TK_LOG_ERROR,
} tk_log_level_t;

/** Sets the program name shown on each line and the lowest level printed. */
void tk_log_init(const char *prog, tk_log_level_t min_level);

/** Parses "debug", "info", "warn" or "error"; returns 0 or -1. */
int tk_log_parse_level(const char *s, tk_log_level_t *out);

/** Writes one line at @level when @level is at or above the minimum. */
void tk_log(tk_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tk_debug(...) tk_log(TK_LOG_DEBUG, __VA_ARGS__)
#define tk_info(...) tk_log(TK_LOG_INFO, __VA_ARGS__)
#define tk_warn(...) tk_log(TK_LOG_WARN, __VA_ARGS__)
#define tk_error(...) tk_log(TK_LOG_ERROR, __VA_ARGS__)

#endif
