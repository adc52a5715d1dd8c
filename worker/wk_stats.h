/*
 * wk_stats: the worker's counters — pushed to tk:wk:stats (the per-worker
 * counters /metrics shows), logged as rates — and that hash kept bounded,
 * with lua/wk_stats_prune.lua.
 *
 * Every field is "<consumer>:<stat>" and the default consumer name holds the
 * worker's pid, so without pruning the hash gains fields at every worker
 * restart and /metrics' HGETALL of it grows for ever. Two rules bound it:
 * a worker that exits cleanly removes its own fields (its series end, as a
 * process's do), and every worker, at its first stats push and then every
 * WK_STATS_PRUNE_MS, removes the fields of consumers whose seen_ms is older
 * than WK_STATS_MAX_AGE_MS (killed workers). The hash then holds the live
 * workers plus those that died in the last WK_STATS_MAX_AGE_MS.
 */
#ifndef WK_STATS_H
#define WK_STATS_H

#include "wk_redis.h"

#include <stddef.h>
#include <stdint.h>

/* Ten minutes: far above the stats period (1 s by default), long enough
 * for an operator to see a dead worker's last figures, short enough that a
 * crash loop adds at most ten minutes' worth of names. A worker whose
 * --stats-ms is longer uses three of its periods instead (wk_stats.c); a
 * worker pruned by one with a shorter age reappears at its next push, its
 * counters restarting (a counter reset, which Prometheus handles). */
#define WK_STATS_MAX_AGE_MS (10 * 60 * 1000)
#define WK_STATS_PRUNE_MS (60 * 1000)

typedef struct {
    uint64_t rows, batches, errors, rejected, replayed;
    uint64_t dead; /* poison entries set aside in claims_dead (the operator's alert) */
    /* boards (wk_lb_drain.c): entries acked, rows upserted, upsert statements, entries refused alone by MariaDB, malformed entries */
    uint64_t lb_entries, lb_rows, lb_stmts, lb_dead, lb_bad;
    uint64_t lb_stmt_max; /* gauge: the most rows one board upsert carried */
    int64_t lag_ms;      /* commit time minus the oldest created_ms of the last batch */
    uint64_t last_batch; /* rows of the last batch */
} wk_counters_t;

/**
 * Adds to tk:wk:stats what @total counted since @flushed (fields
 * "<@consumer>:rows", batches, errors, dead, and the boards' lb_entries,
 * lb_rows, lb_stmts, lb_dead, lb_bad), then sets @flushed to @total
 * and writes the gauges batch_last, lag_ms, seen_ms (wall clock) and
 * lb_stmt_max (the most rows one board upsert carried). When
 * Redis cannot be reached the rest is counted at the next push.
 */
void wk_stats_push(wk_redis_t *r, const char *consumer, const wk_counters_t *total, wk_counters_t *flushed);

/** Logs the rates since *@logged_at (mono ms) at info level, with @nstreams; then sets @logged to @total and *@logged_at to @now. */
void wk_stats_log(const wk_counters_t *total, wk_counters_t *logged, int64_t *logged_at, int64_t now, size_t nstreams);

/**
 * Removes from tk:wk:stats the fields of consumers not seen for
 * WK_STATS_MAX_AGE_MS (or three of @stats_ms, this worker's push period,
 * if that is longer) and, when @self is not NULL, every field of @self.
 * Returns the count of fields removed, or -1 (Redis unreachable or an
 * error reply; logged at debug level, the next call tries again).
 */
long wk_stats_prune(wk_redis_t *r, const char *self, long stats_ms);

#endif
