/*
 * wk_lb_batch: entries of the board streams (tk:lb:{B}:q, docs/CONTRACTS.md)
 * turned into the rows a worker writes, coalesced per user.
 *
 * Pure code, no I/O. The drain hands it each entry read from a board's
 * stream: packed score entries (k=m: season s, time t, n lines of d, each
 * "<user> <c1> <c2> <seq>", at most TK_LB_PACK_MAX: what lua/lb_write.lua
 * writes, one entry per TK_LB_PACK_MAX users of a call), single score
 * entries (k=s: season s, user u, components a and b, time t, sequence q;
 * written before the packing, and still read) and rollover entries (k=r:
 * the new season s, its start t). A packed entry becomes one item per
 * line, all carrying the entry's id: the entry is acked once every one of
 * them is done (wk_lb_drain.c).
 * wk_lb_batch_coalesce then sorts the items by (board, kind, season, user,
 * seq highest first, t latest first) and marks, for every (board, season,
 * user), the one item that is written: the latest. Every other entry of
 * that user rides on it (winner): it is acked when its winner is committed,
 * never written. Why only the latest is enough: the database keeps a row
 * only for a higher seq (sql/007), so writing the earlier entries too could
 * only be overwritten by the latest in the same transaction. A board's seq
 * is HINCRBY'd per applied write (lua/lb_*.lua), so within one board a
 * higher seq is a later write; seq 0 (tk-import's rows) orders by time.
 * Rollover entries are all written (there are few).
 */
#ifndef WK_LB_BATCH_H
#define WK_LB_BATCH_H

#include "tk_valid.h"
#include "wk_batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char id[WK_ENTRY_ID_MAX]; /* stream entry id, NUL-terminated */
    size_t src;               /* the caller's index of the board's stream */
    char board[TK_ID_MAX + 1];
    size_t blen;
    char kind; /* 's' score, 'r' rollover */
    unsigned season;
    char user[TK_ID_MAX + 1]; /* score entries only */
    size_t ulen;
    long long c1, c2, t_ms, seq; /* rollover: t_ms = the new season's start */
    size_t winner;               /* after coalescing: the index of the item written for this one (itself when written) */
    unsigned char done;          /* set by the writer on the written items: 1 committed (or dead-lettered): ack */
} wk_lb_item_t;

typedef struct {
    wk_lb_item_t *items; /* owned */
    size_t n, cap;
} wk_lb_batch_t;

/**
 * Parses one board stream entry: @id (@idlen bytes) and @nkv strings
 * alternating field and value, of board @board (@blen bytes, a valid id)
 * read from the caller's stream @src. Score entries need k, s, u, a, b, t,
 * q; packed entries k, s, t, n, d (every line valid, or none is taken);
 * rollover entries k, s, t; other fields are ignored. Returns 0 with the
 * item(s) appended to @b, 1 with the reason in @err when the entry is
 * malformed (nothing appended), -1 when out of memory.
 */
int wk_lb_batch_add(wk_lb_batch_t *b, size_t src, const char *board, size_t blen, const char *id, size_t idlen,
                    const char *const *kv, const size_t *kvlen, size_t nkv, char *err, size_t errlen);

/** Sorts the items (above) and sets each one's winner. Returns the count of items to write. */
size_t wk_lb_batch_coalesce(wk_lb_batch_t *b);

/** 1 when @i is written itself (its own winner). */
static inline int wk_lb_item_written(const wk_lb_batch_t *b, size_t i)
{
    return b->items[i].winner == i;
}

/** Empties @b, keeping its memory. */
void wk_lb_batch_clear(wk_lb_batch_t *b);

/** Frees what @b owns. */
void wk_lb_batch_free(wk_lb_batch_t *b);

#endif
