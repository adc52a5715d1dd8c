/*
 * wk_drain_int: the drain's state and the calls its files make to each
 * other. Private to the drain (wk_drain.c, wk_streams.c, wk_read.c,
 * wk_recover.c, wk_confirm.c, wk_malformed.c); everything else uses wk_drain.h.
 *
 * Ownership: the wk_drain_t owns streams, bad, order, argv, lens, tickets,
 * the batch and the writer; wk_drain_run frees them. Replies of Redis never outlive the call
 * that received them: what is kept is copied (entry ids, the cursor).
 */
#ifndef WK_DRAIN_INT_H
#define WK_DRAIN_INT_H

#include "tk_fmt.h"
#include "tk_keys.h"
#include "tk_valid.h"
#include "wk_batch.h"
#include "wk_config.h"
#include "wk_redis.h"
#include "wk_stats.h"
#include "wk_writer.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Rows one entry is assumed to hold until a batch shows more or fewer: the claims of one claim-script call at the gateway's default
 * --max-batch (GW_MAX_BATCH, 64). A gateway that packs more makes the first batch larger, at most 1024 / 64 times. */
#define WK_ROWS_PER_ENTRY_GUESS 64

/* Redis Cluster: the sleep after a round of non-blocking reads found nothing (wk_read_group). */
#define WK_CLUSTER_IDLE_MS 50

/* One event's stream. Its index in wk_drain_t.streams never changes (streams are only appended), so batch groups carry it (wk_group_t.src). */
typedef struct {
    char event[TK_ID_MAX + 1];
    size_t elen;
    char key[TK_KEY_MAX];    /* tk:{E}:q */
    char claims[TK_KEY_MAX]; /* tk:{E}:claims */
    char ev[TK_KEY_MAX];     /* tk:{E}:ev: a confirm that marks a record cancelled returns its units there */
    char cursor[WK_ENTRY_ID_MAX]; /* XAUTOCLAIM cursor */
} wk_stream_t;

/* The lines of one malformed packed entry kept apart (claim.lua writes at most GW_MAX_BATCH, 1024); lines past it are only in the log. */
#define WK_BAD_LINES_MAX 1024

/*
 * An entry that is not a claim in the shape of docs/CONTRACTS.md, or one line of it when it is packed (row.line > 0): set aside
 * in claims_dead, then acked (wk_malformed.c). @row holds what could be read
 * of it (wk_row_salvage); @ack and @letter are set by wk_malformed_settle.
 */
typedef struct {
    size_t stream;
    char id[WK_ENTRY_ID_MAX];
    wk_row_t row;
    char reason[192]; /* "malformed stream entry: " and wk_row_parse's reason (160 bytes at most) */
    int ack;     /* 1: stored in claims_dead, so the confirm acks it; 0: it stays pending */
    char letter; /* 'r': the entry names a claim whose record is still 'p' with its ticket; 0: none */
} wk_bad_t;

typedef struct {
    const wk_config_t *cfg;
    const volatile sig_atomic_t *stop;
    wk_redis_t redis;
    wk_writer_t *writer;
    wk_batch_t batch;
    wk_stream_t *streams;
    size_t ns, scap;
    wk_bad_t *bad;
    size_t nbad, badcap;
    const wk_row_t **order; /* wk_confirm: a group's rows by entry id (scratch, owned) */
    size_t ordercap;
    /* XREADGROUP's and XAUTOCLAIM's COUNT (entries per stream): a packed
     * entry holds many claims, so wk_drain_flush sets it from the most rows
     * one entry of the last batch held, for about --batch rows a read (0:
     * before any batch; wk_drain_read_count) */
    long read_count;
    size_t taken; /* entries taken into this batch (good and bad) */
    size_t entry_rows_max; /* the most rows one entry of this batch held */
    struct wk_lb *lb; /* the board streams (wk_lb_drain.c), owned */
    int need_discover; /* 1: re-read tk:events now; 2: and re-create every group (NOGROUP seen) */
    wk_counters_t total, flushed, logged; /* running totals; as of the last stats flush / info log */
    int64_t logged_at;
    long redis_backoff;
    /* scratch argv for commands with many arguments */
    const char **argv;
    size_t *lens;
    size_t acap;
    /* scratch text of the tickets the confirm names (wk_confirm.c), one per named row */
    char (*tickets)[TK_FMT_I64_MAX]; /* not NUL-terminated: lengths go in d->lens */
    size_t tcap;
} wk_drain_t;

/* ---- wk_drain.c: the loop's shared steps */

/** Makes d->argv and d->lens hold @n entries. Returns 0 or -1 (out of memory). */
int wk_drain_grow_args(wk_drain_t *d, size_t n);

/** Waits the current Redis backoff (cut short by a stop) and doubles it, capped. */
void wk_drain_redis_wait(wk_drain_t *d);

/** The COUNT of the next read of event streams (XREADGROUP, XAUTOCLAIM): about --batch rows (wk_drain.c). */
long wk_drain_read_count(const wk_drain_t *d);

/** Writes, confirms and acks what has been taken. Returns 0, or -1 when the worker must exit (stopped with MariaDB away). */
int wk_drain_flush(wk_drain_t *d);

/* ---- wk_streams.c: discovery */

/**
 * The index of the stream whose key is @key (@len bytes), or -1. The search
 * starts at @hint and wraps around, so a caller walking keys in stream order
 * finds each at the first probe.
 */
long wk_streams_find(const wk_drain_t *d, const char *key, size_t len, size_t hint);

/** Re-reads tk:events; with @all, re-creates the group of every known stream too. Returns 0 or -1 (Redis unreachable). */
int wk_streams_discover(wk_drain_t *d, int all);

/* ---- wk_read.c: entries into the batch */

/** Takes the entries [[id, [f, v, …]], …] of stream @si into the batch. Returns entries taken or -1 (out of memory). */
long wk_read_take(wk_drain_t *d, size_t si, const redisReply *list);

/**
 * With REDIS_WAIT_REPLICAS > 0: WAIT on the connection of stream @key (a C
 * string) that a read just delivered entries on. 0 when the replicas asked
 * hold them (or WAIT is off), -1 (logged) when not or Redis failed: then
 * write nothing of that read (wk_read.c says why).
 */
int wk_read_replicated(wk_drain_t *d, const char *key);

/**
 * XREADGROUP over streams [@first, @first + @count) from @ids ("0" for own
 * pending, ">" for new), blocking @block_ms when > 0. Returns entries
 * taken, or -1 (Redis, or out of memory).
 */
long wk_read_group(wk_drain_t *d, size_t first, size_t count, const char *const *ids, long block_ms);

/** One non-blocking read of stream @i alone, for wk_read_each (@arg: the caller's). Entries taken, or -1. */
typedef long (*wk_read_one_fn)(wk_drain_t *d, size_t i, void *arg);

/**
 * On a Redis Cluster, a read of streams [@first, @first + @count) as
 * @read_one of each in turn (wk_read.c: why one call per stream), then, when
 * none had anything, a sleep of @block_ms (at most WK_CLUSTER_IDLE_MS)
 * instead of a BLOCK. Shared by the event streams (wk_read.c) and the board
 * streams (wk_lb_drain.c). Entries taken, or -1 when every read failed.
 */
long wk_read_each(wk_drain_t *d, size_t first, size_t count, long block_ms, wk_read_one_fn read_one, void *arg);

/* ---- wk_recover.c: entries left pending */

/** This consumer's own pending entries (left by an earlier run under the same name). 0, -1 (Redis) or -2 (flush failed: exit). */
int wk_recover_own(wk_drain_t *d);

/** XAUTOCLAIM, one call per stream: entries a dead consumer left pending. 0, -1 (Redis unreachable) or -2 (flush failed: exit). */
int wk_recover_autoclaim(wk_drain_t *d);

/* ---- wk_lb_drain.c: the board streams */

/** The board streams' state, zeroed; NULL when out of memory. wk_lb_free releases it. */
struct wk_lb *wk_lb_new(void);
void wk_lb_free(struct wk_lb *lb);

/** Board streams known. */
size_t wk_lb_nstreams(const wk_drain_t *d);

/**
 * One round over the board streams: tk:boards re-read when due, this
 * consumer's own pending entries at first, XAUTOCLAIM when due, then new
 * entries (XREADGROUP, blocking @block_ms when > 0), written and acked.
 * Returns the entries read (0 when none), -1 when Redis failed (wait and
 * retry), -2 when a write had to stop with MariaDB away (exit).
 */
long wk_lb_step(wk_drain_t *d, long block_ms);

/* ---- wk_malformed.c */

/**
 * Sets aside every entry of d->bad: reads the record the entry names (when
 * it names a user and a ticket), stores the entry in claims_dead, and marks
 * it to be acked (bad->ack) and, when its record is still that claim's
 * 'p', to be marked 'r' by the confirm (bad->letter). An entry that cannot
 * be stored (MariaDB refused, or Redis could not be read) stays pending.
 * Adds the stored ones to @st->dead.
 */
void wk_malformed_settle(wk_drain_t *d, wk_write_stats_t *st);

/* ---- wk_confirm.c */

/** Runs the confirm script for every written row of the batch. Returns 0 or -1 (out of memory). */
int wk_confirm(wk_drain_t *d);

/** Runs the confirm script for every malformed entry wk_malformed_settle stored (bad->ack). Returns 0 or -1 (out of memory). */
int wk_confirm_bad(wk_drain_t *d);

#endif
