/*
 * wk_writer_int: the writer's state and the calls its files make to each
 * other. Private to the writer (wk_writer.c: one batch, one event;
 * wk_txn.c: one transaction, redone and reconnected; wk_poison.c: a refused
 * batch written event by event, poison entries to claims_dead); everything
 * else uses wk_writer.h.
 *
 * Return convention inside the writer: 0, a MariaDB error number, or one of
 * the WK_ERR_* results below (sorted in one place, wk_txn.c).
 */
#ifndef WK_WRITER_INT_H
#define WK_WRITER_INT_H

#include "tk_claim.h"
#include "tk_db.h"
#include "wk_writer.h"

#include <signal.h>
#include <stddef.h>

#define WK_POW 10                        /* list statements for 1, 2, 4, … 512 rows */
#define WK_CHUNK_MAX (1 << (WK_POW - 1)) /* rows per statement at most */
#define WK_INS_COLS 8                    /* placeholders per inserted row */
#define WK_LB_POW 9                      /* board upserts of 1, 2, 4, … 256 rows (wk_lb_writer.c) */
#define WK_LB_COLS 7                     /* placeholders per board_scores row */

/* Special results of one attempt besides a MariaDB error number. */
#define WK_ERR_INTERNAL 1 /* logged; not the fault of one row (the event's entries stay pending) */
#define WK_ERR_ROW 2      /* logged; the worker's own check refused a row's data (poison when alone) */
#define WK_NOT_FRESH 3    /* inside wk_writer.c only: a group the fast path leaves to the careful one (never returned by a body) */

/* Owns its connection, statements and idx; wk_writer_free releases them. */
struct wk_writer {
    tk_db_conf_t conf;
    MYSQL *db;
    MYSQL_STMT *lock, *update, *dead, *claimed, *exist[WK_POW], *insert[WK_POW];
    MYSQL_STMT *lb_upsert[WK_LB_POW], *lb_sn_open, *lb_sn_close; /* the boards' statements (wk_lb_writer.c) */
    MYSQL_BIND bind[WK_CHUNK_MAX * WK_INS_COLS];
    unsigned long len[WK_CHUNK_MAX * WK_INS_COLS];
    char claim_id[WK_CHUNK_MAX][TK_CLAIM_ID_MAX];
    MYSQL_TIME created[WK_CHUNK_MAX];
    my_bool reason_null[WK_CHUNK_MAX];
    unsigned long long ticket[WK_CHUNK_MAX];
    unsigned long quantity[WK_CHUNK_MAX];
    size_t *idx; /* scratch: row indices */
    size_t idx_cap;
    const char *failed_what; /* what the last failing call was, for the log */
    char failed_msg[200];    /* MariaDB's text of the last failing statement, for the log and claims_dead */
};

/* The body of one transaction: writes, never commits. Returns 0 or an error as wk_txn.c sorts them. */
typedef unsigned (*wk_body_t)(wk_writer_t *w, void *arg, wk_write_stats_t *st);

typedef struct {
    wk_group_t *groups;
    size_t n;
} wk_groups_t;

/** Prepares @sql into *@st unless already there. Returns 0 or the MariaDB error number (the statement is left NULL). */
unsigned wk_writer_prepare(wk_writer_t *w, MYSQL_STMT **st, const char *sql, const char *what);

/** Notes @s's error as the last failure (@what, MariaDB's text) and returns its number. */
unsigned wk_writer_stmt_fail(wk_writer_t *w, MYSQL_STMT *s, const char *what);

/** A wk_body_t: writes every group of the wk_groups_t @arg (statuses reset first). */
unsigned wk_writer_groups_body(wk_writer_t *w, void *arg, wk_write_stats_t *st);

/** 1 when MariaDB error @e is caused by a row's data (alone in a transaction, that row is poison): wk_poison.c. */
int wk_poison_row_error(unsigned e);

/** Closes every statement and the connection (the next transaction reconnects). */
void wk_txn_disconnect(wk_writer_t *w);

/**
 * Runs one transaction of @body: redone after a deadlock or lock wait (at
 * most WK_RETRY_MAX times), after reconnecting while MariaDB is away (until
 * it is back, or a stop has waited WK_STOP_GRACE_MS). WK_WRITE_OK when
 * committed; WK_WRITE_STOPPED; WK_WRITE_FAILED with the error in *@err
 * (rolled back) when a redo cannot help.
 */
wk_write_result_t wk_txn_run(wk_writer_t *w, wk_body_t body, void *arg, const volatile sig_atomic_t *stop, wk_write_stats_t *st,
                             unsigned *err);

/**
 * Writes rows [@lo, @hi) of @g in transactions of their own: all of them at
 * once, else each half, down to the single poison row, which goes to
 * claims_dead. Rows get the status of what was committed; a part that fails
 * for another reason stays pending (status 0, counted held).
 */
void wk_poison_isolate(wk_writer_t *w, wk_group_t *g, size_t lo, size_t hi, const volatile sig_atomic_t *stop, wk_write_stats_t *st);

#endif
