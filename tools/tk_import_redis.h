/*
 * tk_import_redis: tk-import's Redis side: the board hash, and the import's
 * rows written in chunks by lua/lb_import.lua (its top comment: why no stale
 * member stays in the zset, and why the seqs it draws make the import and a
 * live write end the same in both stores).
 *
 * Chunks of TK_IMPORT_REDIS_CHUNK users, up to TK_IMPORT_REDIS_WINDOW of
 * them sent before the first answer is read (pipelined: the round trips
 * overlap Redis's work). Each answer gives the chunk's first seq; the rows
 * get theirs (first + i, in the chunk's order) for the MariaDB upsert that
 * follows. A chunk that Redis refuses (the board gone, its season moved by
 * a rollover or ended by its schedule) is refused whole, and the import
 * stops with an error: each chunk is applied whole or not at all, and
 * *done says how many rows (whole chunks, from the first) Redis took.
 */
#ifndef TK_IMPORT_REDIS_H
#define TK_IMPORT_REDIS_H

#include "tk_import_file.h"
#include "tk_import_progress.h"

#include <hiredis.h>
#include <stdint.h>

#define TK_IMPORT_REDIS_CHUNK 1000
#define TK_IMPORT_REDIS_WINDOW 4

typedef struct {
    int comps;        /* 1 or 2 */
    unsigned season;  /* the current season */
    int64_t len_s;    /* season length, 0: by hand only */
    int64_t start_ms; /* when the current season began */
} tk_import_board_t;

/** HMGET of the board hash into @b (b->comps 0 when the hash does not exist). Returns 0, or -1 with @err. */
int tk_import_redis_board(redisContext *rc, const char *board, tk_import_board_t *b, char *err, size_t errlen);

/**
 * The entries of the board's stream (tk:lb:{B}:q) the workers have not
 * written to MariaDB yet: they XDEL what they have confirmed, so XLEN is the
 * backlog. Into *@n; returns 0, or -1 with @err.
 */
int tk_import_redis_backlog(redisContext *rc, const char *board, long long *n, char *err, size_t errlen);

/**
 * Writes @n rows into season @season of @board (whose hash @b was read
 * before), in the order given, setting each row's seq to the one Redis
 * drew for it, updating @prog per answered chunk; *@replaced counts the
 * users that had an entry, *@done the rows Redis applied (rows[0 .. *done)
 * have their seqs). Returns 0 (*done == @n), or -1 with @err.
 */
int tk_import_redis_write(redisContext *rc, const char *board, const tk_import_board_t *b, unsigned season, tk_import_row_t *rows, size_t n,
                          tk_import_progress_t *prog, size_t *replaced, size_t *done, char *err, size_t errlen);

#endif
