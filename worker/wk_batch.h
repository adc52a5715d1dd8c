/*
 * wk_batch: stream entries turned into rows, grouped by event.
 *
 * Pure code, no I/O: the drain loop hands it the fields of each entry read
 * from tk:{E}:q (docs/CONTRACTS.md: a packed entry, c created ms and m one
 * line "<user> <ticket> <quantity>" per claim of a claim-script call; or
 * one claim, u user, t ticket, n quantity, c created ms, or u and r) and
 * the writer walks the groups. A packed entry becomes one row per line,
 * all carrying the entry's id (and their line number): the entry is acked
 * only once every one of its rows has a status (wk_confirm.c). Groups are kept sorted by event id so
 * every writer takes the per-event stock row locks in one global order (no
 * deadlock between workers), and rows within a group are sorted by ticket so
 * a stock guard shortfall is settled first come, first served.
 */
#ifndef WK_BATCH_H
#define WK_BATCH_H

#include "tk_valid.h"

#include <stddef.h>
#include <stdint.h>

#define WK_ENTRY_ID_MAX 48 /* "<ms>-<seq>", two 64-bit numbers and a dash */
#define WK_DEAD_ID_MAX 49  /* claims_dead.entry_id: VARCHAR(48) and a NUL; wk_batch_add_entry checks a packed entry's ids fit */

typedef struct {
    char id[WK_ENTRY_ID_MAX]; /* stream entry id, NUL-terminated */
    char user[TK_ID_MAX + 1];
    size_t ulen;
    int64_t ticket;
    int64_t quantity;
    int64_t created_ms;
    unsigned line; /* 1.. its line in a packed entry; 0: an entry of one claim */
    long dup_of;  /* index of an earlier row of the same user in this group, or -1 */
    char status;  /* set by the writer: 'c', 'r' or 'x' for the confirm script; 0 = not written */
    unsigned char fresh; /* set by the writer: 1 when this batch inserted the row */
} wk_row_t;

typedef struct {
    char event[TK_ID_MAX + 1];
    size_t elen;
    size_t src;     /* the caller's index of where the event's entries came from (the drain's stream), as given to wk_batch_add */
    wk_row_t *rows; /* owned */
    size_t n, cap;
} wk_group_t;

typedef struct {
    wk_group_t *groups; /* owned, sorted by event id after wk_batch_group */
    size_t n, cap;
    size_t rows; /* rows over every group */
} wk_batch_t;

/**
 * Parses one stream entry: @id (@idlen bytes) and @nkv strings alternating
 * field and value. Fields u, t, n, c must each appear exactly once; others
 * are ignored. Returns 0 and fills @out, or -1 with the reason in @err.
 */
int wk_row_parse(const char *id, size_t idlen, const char *const *kv, const size_t *kvlen, size_t nkv, wk_row_t *out, char *err,
                 size_t errlen);

/**
 * What can be read of an entry wk_row_parse refused, for its dead letter:
 * @out gets the entry id (cut to WK_ENTRY_ID_MAX - 1 bytes), the user when
 * field u is a valid user id (else ulen 0), the ticket of field t or the
 * first number of field r (else 0), quantity 0, and created_ms from field c
 * or else the entry id's milliseconds (else 0). Never fails.
 */
void wk_row_salvage(const char *id, size_t idlen, const char *const *kv, const size_t *kvlen, size_t nkv, wk_row_t *out);

/**
 * Takes one stream entry of event @event (@elen bytes) read from the
 * caller's stream @src into @b: a packed entry (fields c and m) as one row
 * per line, all or none (every line is checked before any row is added),
 * any other entry as wk_row_parse reads it. Returns 0 with the row(s)
 * added, 1 with the reason in @err when the entry is malformed (nothing
 * added: the caller sets it aside, wk_malformed.c), -1 when out of memory.
 */
int wk_batch_add_entry(wk_batch_t *b, const char *event, size_t elen, size_t src, const char *id, size_t idlen, const char *const *kv,
                       const size_t *kvlen, size_t nkv, char *err, size_t errlen);

/**
 * The id of @row in claims_dead (entry_id, VARCHAR(48)) into @out: the
 * entry id, and "/<line>" for a line of a packed entry, so that two dead
 * rows of one entry never share a key. Returns its length.
 */
size_t wk_row_dead_id(const wk_row_t *row, char out[WK_DEAD_ID_MAX]);

/**
 * Appends a copy of @row to the group of event @event (created as needed,
 * with @src kept as its src: one event, one source). Returns 0, or -1 when
 * out of memory or @event is empty or too long.
 */
int wk_batch_add(wk_batch_t *b, const char *event, size_t elen, size_t src, const wk_row_t *row);

/**
 * Sorts the groups by event id and each group's rows by ticket (then entry
 * id), and marks every later row of a user already seen in its group with
 * dup_of = the index of that user's first row.
 */
void wk_batch_group(wk_batch_t *b);

/** Empties @b, keeping its memory for the next batch. */
void wk_batch_clear(wk_batch_t *b);

/** Frees everything @b owns; @b may be reused after wk_batch_clear-like zeroing. */
void wk_batch_free(wk_batch_t *b);

#endif
