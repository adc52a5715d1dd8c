/*
 * tk_import_db: tk-import's MariaDB side: the board's definition, the bulk
 * upsert of an import, and the export's read.
 *
 * The import is one transaction: multi-row INSERT … ON DUPLICATE KEY UPDATE
 * statements of TK_IMPORT_DB_ROWS rows in the caller's order (tk-import
 * gives rank order: the rank index then grows at one end), prepared once
 * (the last, shorter one for its size), committed at the end, so MariaDB
 * holds all of the rows or none. Two statement shapes (docs/DESIGN.md,
 * "Leaderboards: import and export"):
 *   - TK_IMPORT_DB_NEWER, a season Redis keeps: each row carries the seq
 *     lua/lb_import.lua drew for it, and goes in under the worker's rule
 *     (common/tk_lb.h TK_LB_UPSERT_*: replaced only by a higher seq), so a
 *     live write drained before or after ends the same as in Redis;
 *   - TK_IMPORT_DB_SET, a season only MariaDB keeps (no live writes there,
 *     no Redis to draw seqs from): the row replaces the user's row whatever
 *     it held, seq 0.
 */
#ifndef TK_IMPORT_DB_H
#define TK_IMPORT_DB_H

#include "tk_import_file.h"
#include "tk_import_progress.h"

#include <mysql.h>
#include <stdio.h>

#define TK_IMPORT_DB_ROWS 500

/** The board's components from `boards` into *@comps (1 or 2; 0 when there is no such board). Returns 0, or -1 with @err. */
int tk_import_db_board(MYSQL *db, const char *board, int *comps, char *err, size_t errlen);

typedef enum { TK_IMPORT_DB_NEWER, TK_IMPORT_DB_SET } tk_import_db_mode_t;

/**
 * Upserts @n rows of season @season of @board (@mode above), in one
 * transaction, updating @prog as statements complete. Returns 0
 * (committed), or -1 with @err and *@db_errno (to sort with
 * tk_db_classify) after a rollback.
 */
int tk_import_db_write(MYSQL *db, const char *board, unsigned season, tk_import_db_mode_t mode, const tk_import_row_t *rows, size_t n,
                       tk_import_progress_t *prog, unsigned *db_errno, char *err, size_t errlen);

/**
 * Writes season @season of @board as CSV (tk_lb_csv.h, header first) to
 * @out in rank order: c1 DESC, c2 DESC, t_ms, seq, user_id — one streamed
 * SELECT, a consistent snapshot. Sets *@count to the rows written. Returns 0,
 * or -1 with @err.
 */
int tk_import_db_export(MYSQL *db, const char *board, unsigned season, int comps, FILE *out, size_t *count, char *err, size_t errlen);

#endif
