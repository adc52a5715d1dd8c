/*
 * tk_import_progress: the progress line (tk_import_progress.h says what).
 *
 * Why a time-based redraw (REDRAW_US) and not a per-chunk one: chunks end
 * hundreds of times a second; a terminal write per chunk would cost more
 * than the bar is worth. Why nothing at all off a terminal: a log or a test
 * reading standard error wants the summary line, not carriage returns.
 * Standard error, not standard output: the summary (and an export on
 * standard output) stay clean for a pipe.
 */
#include "tk_import_progress.h"
#include "tk_time.h"

#include <stdio.h>

#define REDRAW_US 200000
#define BAR 30

static void draw(const tk_import_progress_t *p, size_t done, int64_t now)
{
    double frac = p->total > 0 ? (double)done / (double)p->total : 1.0;
    int fill = (int)(frac * BAR);
    char bar[BAR + 1];
    for (int i = 0; i < BAR; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR] = '\0';
    double secs = (double)(now - p->t0_us) / 1e6;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    fprintf(stderr, "\r%-8s [%s] %zu/%zu rows %5.1f%% %.0f rows/s ", p->phase, bar, done, p->total, frac * 100.0, rate);
    fflush(stderr);
}

void tk_import_progress_start(tk_import_progress_t *p, int tty, const char *phase, size_t total)
{
    *p = (tk_import_progress_t){.tty = tty, .phase = phase, .total = total, .t0_us = tk_time_mono_us()};
    p->last_us = p->t0_us;
    if (tty)
        draw(p, 0, p->t0_us);
}

void tk_import_progress_update(tk_import_progress_t *p, size_t done)
{
    if (!p->tty)
        return;
    int64_t now = tk_time_mono_us();
    if (now - p->last_us < REDRAW_US)
        return;
    p->last_us = now;
    draw(p, done, now);
}

void tk_import_progress_end(tk_import_progress_t *p, size_t done)
{
    if (!p->tty)
        return;
    draw(p, done, tk_time_mono_us());
    fputc('\n', stderr);
}
