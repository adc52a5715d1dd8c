/*
 * wk_writer: one MariaDB transaction per batch of claims (see wk_writer.c
 * for why it is exact).
 */
#ifndef WK_WRITER_H
#define WK_WRITER_H

#include "tk_db.h"
#include "wk_batch.h"

#include <signal.h>
#include <stdint.h>

typedef struct wk_writer wk_writer_t;

typedef enum {
    WK_WRITE_OK = 0, /* committed; every row's status is set (or 0 for a skipped group) */
    WK_WRITE_STOPPED, /* MariaDB unreachable and a stop was requested: nothing committed */
    WK_WRITE_FATAL,   /* an error retrying cannot fix (logged) */
} wk_write_result_t;

typedef struct {
    uint64_t inserted;  /* rows this batch inserted */
    uint64_t confirmed; /* of those, status confirmed */
    uint64_t rejected;  /* of those, rejected by the stock guard */
    uint64_t replayed;  /* rows that already existed (replays, fallback, cancelled) */
    uint64_t retries;   /* transactions redone after a deadlock or lock wait */
    uint64_t reconnects;
    uint64_t skipped;   /* rows of events without an event_stock row (left pending) */
} wk_write_stats_t;

/** A writer for @conf (copied, strings not). Connects lazily. Returns NULL when out of memory. */
wk_writer_t *wk_writer_new(const tk_db_conf_t *conf);

/**
 * Writes @b (already wk_batch_group'ed) in one transaction, redoing it after
 * a retryable error and reconnecting with capped backoff while MariaDB is
 * away; it only gives up when *@stop has been set for a while (then nothing
 * of the batch is committed) or on a fatal error. Adds to @st.
 */
wk_write_result_t wk_writer_write(wk_writer_t *w, wk_batch_t *b, const volatile sig_atomic_t *stop, wk_write_stats_t *st);

/** Closes the connection and frees @w. */
void wk_writer_free(wk_writer_t *w);

#endif
