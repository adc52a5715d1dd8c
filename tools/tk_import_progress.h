/*
 * tk_import_progress: tk-import's progress bar, on a terminal only.
 *
 * When standard error is a terminal, each phase ("mariadb", "redis") draws
 * one line, redrawn in place at most every 200 ms: a bar, rows/total, the
 * percentage and the rate so far. Elsewhere (a pipe, a log, a test) it draws
 * nothing: the caller prints one summary line at the end instead.
 */
#ifndef TK_IMPORT_PROGRESS_H
#define TK_IMPORT_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int tty;
    const char *phase;
    size_t total;
    int64_t t0_us, last_us;
} tk_import_progress_t;

/** Starts phase @phase (a constant string) of @total rows; tty decides whether anything is drawn. */
void tk_import_progress_start(tk_import_progress_t *p, int tty, const char *phase, size_t total);

/** @done rows of the phase are written; redraws when 200 ms have passed since the last drawing. */
void tk_import_progress_update(tk_import_progress_t *p, size_t done);

/** Draws the phase's final line (all @done rows) and ends it with a newline. */
void tk_import_progress_end(tk_import_progress_t *p, size_t done);

#endif
