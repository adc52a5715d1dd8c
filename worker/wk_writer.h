/*
 * wk_writer: one MariaDB transaction per batch of claims; after an error no
 * redo can fix, one per event, and the entry at fault set aside in
 * claims_dead (why it is exact: wk_writer.c, wk_txn.c, wk_poison.c).
 */
#ifndef WK_WRITER_H
#define WK_WRITER_H

#include "tk_db.h"
#include "wk_batch.h"
#include "wk_lb_batch.h"

#include <signal.h>
#include <stdint.h>

typedef struct wk_writer wk_writer_t;

typedef enum {
    WK_WRITE_OK = 0, /* committed; every row's status is set, or 0 for a row left pending (skipped or held) */
    WK_WRITE_STOPPED, /* MariaDB unreachable and a stop was requested: nothing committed */
    WK_WRITE_FAILED,  /* inside the writer only: one transaction failed for good (wk_writer_write never returns it) */
} wk_write_result_t;

typedef struct {
    uint64_t inserted;  /* rows this batch inserted */
    uint64_t confirmed; /* of those, status confirmed */
    uint64_t rejected;  /* of those, rejected by the stock guard */
    uint64_t replayed;  /* rows that already existed (replays, fallback, cancelled) */
    uint64_t retries;   /* transactions redone after a deadlock or lock wait */
    uint64_t reconnects;
    uint64_t skipped;   /* rows of events without an event_stock row (left pending) */
    uint64_t dead;      /* poison rows stored in claims_dead (status 'r'): refused alone by MariaDB */
    uint64_t held;      /* rows left pending after an error not caused by their data (retried after the claim idle time) */
    uint64_t splits;    /* batches refused whole and written event by event */
    uint64_t fresh_misses; /* groups the fast path began and rolled back (a row existed): written the careful way (wk_writer.c) */
} wk_write_stats_t;

/** A writer for @conf (copied, strings not). Connects lazily. Returns NULL when out of memory. */
wk_writer_t *wk_writer_new(const tk_db_conf_t *conf);

/**
 * Writes @b (already wk_batch_group'ed) in one transaction, redoing it after
 * a retryable error and reconnecting with capped backoff while MariaDB is
 * away; it only gives up when *@stop has been set for a while (then nothing
 * of the batch is committed: WK_WRITE_STOPPED). After an error no redo can
 * fix it writes each event in its own transaction, bisects an event whose
 * rows' data is refused down to the poison entry and stores that one in
 * claims_dead (status 'r'); rows it could not write keep status 0 (pending).
 * Returns WK_WRITE_OK then. Adds to @st.
 */
wk_write_result_t wk_writer_write(wk_writer_t *w, wk_batch_t *b, const volatile sig_atomic_t *stop, wk_write_stats_t *st);

/**
 * Stores @row of event @event (@elen bytes) in claims_dead with MariaDB
 * error @error (0: the worker's own check) and @reason (a C string, cut to
 * the column's 255 characters by the caller), in a transaction of its own,
 * redone and reconnected as wk_writer_write. A replay of the same entry id
 * adds nothing. With @claimed (else NULL), the same transaction first looks
 * for a claims row of @row's user: *@claimed is set to 1 when there is one,
 * and the dead letter then holds quantity 0. Returns 1 once committed as a
 * new row, 0 when the entry's dead letter was already there (a replay: the
 * dead-letter counter must not count it again), -1 (logged) when nothing
 * was committed.
 */
int wk_poison_store(wk_writer_t *w, const char *event, size_t elen, const wk_row_t *row, unsigned error, const char *reason,
                    int *claimed, const volatile sig_atomic_t *stop, wk_write_stats_t *st);

/* What a board batch did (wk_lb_writer.c), counted over committed transactions only. */
typedef struct {
    uint64_t rows;      /* board_scores rows sent in upserts (coalesced: one per user and season of a batch) */
    uint64_t stmts;     /* upsert statements executed */
    uint64_t stmt_max;  /* the most rows one of them carried */
    uint64_t rollovers; /* rollover entries written to board_seasons */
    uint64_t dead;      /* entries MariaDB refused alone: logged whole and acked (wk_lb_writer.c) */
    uint64_t held;      /* entries left pending after an error not caused by their data */
    uint64_t splits;    /* batches refused whole and written board by board */
    uint64_t retries, reconnects;
} wk_lb_write_stats_t;

/**
 * Writes the items of the coalesced board batch @b that are their own
 * winner: score rows with multi-row upserts that keep a row only for a
 * newer write, rollovers into board_seasons; one transaction, redone and
 * reconnected as wk_writer_write. After an error no redo can fix: board by
 * board, bisected down to the entry MariaDB refuses alone, which is logged
 * and counted dead. Sets done on every written item committed or dead.
 * Returns WK_WRITE_OK, or WK_WRITE_STOPPED (nothing committed). Adds to @st.
 */
wk_write_result_t wk_lb_write(wk_writer_t *w, wk_lb_batch_t *b, const volatile sig_atomic_t *stop, wk_lb_write_stats_t *st);

/** Closes the connection and frees @w. */
void wk_writer_free(wk_writer_t *w);

#endif
