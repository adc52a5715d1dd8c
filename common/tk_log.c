#include "tk_log.h"
#include "tk_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "tk";
static tk_log_level_t log_min = TK_LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void tk_log_init(const char *prog, tk_log_level_t min_level)
{
    log_prog = prog;
    log_min = min_level;
}

int tk_log_parse_level(const char *s, tk_log_level_t *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (tk_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void tk_log(tk_log_level_t level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char line[1024], ts[TK_TIME_RFC3339_LEN + 1];
    tk_time_format_rfc3339(tk_time_now_ms(), ts);
    int n = snprintf(line, sizeof(line), "%s %s %s: ", ts, level_names[level], log_prog);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}
