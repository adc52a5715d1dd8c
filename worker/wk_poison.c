/*
 * wk_poison: a batch MariaDB refused for good, written event by event, and
 * the entry at fault set aside in claims_dead.
 *
 * One event's trouble stays that event's (issue 10, hole 3)
 * ---------------------------------------------------------
 * Any other error than those wk_txn.c redoes — one a redo cannot fix — no
 * longer ends the worker. The
 * batch's transaction is rolled back and each event is written in its own
 * transaction, so the other events commit. An event that still fails with
 * an error its rows' data causes (row_error(): a duplicate key, a value out
 * of range, a failed constraint, a row the worker's own checks refuse) is
 * bisected: each half in its own transaction, down to the single entry
 * that fails alone. That entry is poison: it is stored in claims_dead with
 * the error (its own transaction), its status becomes 'r', so the drain
 * marks its Redis record rejected and XACKs it, and it is counted (dead).
 * A row is one claim: a packed entry's rows are bisected one by one like
 * any, each dead row keyed "<entry id>/<line>" in claims_dead (entry_id,
 * whose primary key with event_id would otherwise drop a second dead row
 * of one entry), and the entry is acked once all its rows have a status.
 * Any other failure of an event (the schema, privileges, a full disk) is
 * not the entry's fault: the event's entries stay pending (held), to be
 * taken over again by XAUTOCLAIM after --claim-idle-ms, and the drain goes
 * on with the other events. The normal path is untouched: one transaction
 * per batch; the split costs transactions only after a failure, about
 * 2·log2(n) of them per poison entry. Splitting is exact because a commit
 * of part of a batch is what a worker killed between two batches leaves:
 * every row written is found by the next attempt under the stock row lock
 * (replayed), and an entry is acked only with the status of a committed row
 * or dead letter.
 */
#include "tk_log.h"
#include "tk_sql.h"
#include "wk_writer_int.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sql_claimed = "SELECT COUNT(*) FROM claims WHERE event_id = ? AND user_id = ?";
static const char *const sql_dead = "INSERT INTO claims_dead (event_id, entry_id, user_id, ticket, quantity, created_at, error, reason, dead_at) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE event_id = event_id";

/* Errors the data of a row causes: alone in a transaction, that row is poison. Anything else is the event's or the server's. */
int wk_poison_row_error(unsigned e)
{
    switch (e) {
    case WK_ERR_ROW:
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME:
    case ER_BAD_NULL_ERROR:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_DATA_TOO_LONG:
    case ER_NO_REFERENCED_ROW_2:
    case ER_CONSTRAINT_FAILED:
        return 1;
    default:
        return 0;
    }
}

typedef struct {
    const char *event;
    size_t elen;
    const wk_row_t *row;
    unsigned error;
    const char *reason;
    int *claimed; /* NULL; or: set to 1 when the row's user holds a claims row (then the dead letter holds no unit), else 0 */
    int fresh;    /* set by the body: 1 when its INSERT stored a new row, 0 when the entry's dead letter was there (a replay) */
} wk_dead_t;

/* Whether @d's user holds a claims row of @d's event: *@has 1 or 0. Returns 0 or an error. */
static unsigned has_claim(wk_writer_t *w, const wk_dead_t *d, int *has)
{
    unsigned e = wk_writer_prepare(w, &w->claimed, sql_claimed, "prepare claimed");
    if (e)
        return e;
    MYSQL_BIND in[2], out[1];
    unsigned long len[2];
    unsigned long long n = 0;
    tk_sql_bind_str(&in[0], d->event, &len[0], d->elen);
    tk_sql_bind_str(&in[1], d->row->user, &len[1], d->row->ulen);
    tk_sql_bind_u64(&out[0], &n);
    if (mysql_stmt_bind_param(w->claimed, in) || mysql_stmt_execute(w->claimed) || mysql_stmt_bind_result(w->claimed, out))
        return wk_writer_stmt_fail(w, w->claimed, "select claimed");
    int rc = mysql_stmt_fetch(w->claimed);
    mysql_stmt_free_result(w->claimed);
    if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
        return wk_writer_stmt_fail(w, w->claimed, "fetch claimed");
    *has = n > 0;
    return 0;
}

static unsigned dead_body(wk_writer_t *w, void *arg, wk_write_stats_t *st)
{
    (void)st;
    wk_dead_t *d = arg;
    int claimed = 0;
    unsigned e = d->claimed != NULL && d->row->ulen > 0 ? has_claim(w, d, &claimed) : 0;
    if (e)
        return e;
    if (d->claimed != NULL)
        *d->claimed = claimed;
    if ((e = wk_writer_prepare(w, &w->dead, sql_dead, "prepare dead letter")) != 0)
        return e;
    MYSQL_BIND in[8];
    unsigned long len[8];
    char dead_id[WK_DEAD_ID_MAX]; /* "<entry id>/<line>" for a line of a packed entry: one key per claim */
    size_t dlen = wk_row_dead_id(d->row, dead_id);
    unsigned long long ticket = (unsigned long long)d->row->ticket;
    unsigned long qty = claimed ? 0 : (unsigned long)d->row->quantity, error = d->error;
    MYSQL_TIME created;
    tk_db_time_from_ms(d->row->created_ms, &created);
    tk_sql_bind_str(&in[0], d->event, &len[0], d->elen);
    tk_sql_bind_str(&in[1], dead_id, &len[1], dlen);
    tk_sql_bind_str(&in[2], d->row->user, &len[2], d->row->ulen);
    tk_sql_bind_u64(&in[3], &ticket);
    memset(&in[4], 0, sizeof(in[4]));
    in[4].buffer_type = MYSQL_TYPE_LONG;
    in[4].buffer = &qty;
    in[4].is_unsigned = 1;
    memset(&in[5], 0, sizeof(in[5]));
    in[5].buffer_type = MYSQL_TYPE_DATETIME;
    in[5].buffer = &created;
    memset(&in[6], 0, sizeof(in[6]));
    in[6].buffer_type = MYSQL_TYPE_LONG;
    in[6].buffer = &error;
    in[6].is_unsigned = 1;
    tk_sql_bind_str(&in[7], d->reason, &len[7], strlen(d->reason));
    if (mysql_stmt_bind_param(w->dead, in) || mysql_stmt_execute(w->dead))
        return wk_writer_stmt_fail(w, w->dead, "insert dead letter");
    d->fresh = mysql_stmt_affected_rows(w->dead) == 1; /* ON DUPLICATE KEY … = event_id changes nothing: 0 */
    return 0;
}

/* Stores @row of @g in claims_dead with the error @e that refused it alone; its status becomes 'r'. Left pending when even that fails. */
static void dead_letter(wk_writer_t *w, const wk_group_t *g, wk_row_t *row, unsigned e, const volatile sig_atomic_t *stop,
                        wk_write_stats_t *st)
{
    char reason[256], dead_id[WK_DEAD_ID_MAX];
    snprintf(reason, sizeof(reason), "%s: %s", w->failed_what ? w->failed_what : "write", w->failed_msg);
    wk_row_dead_id(row, dead_id);
    int stored = wk_poison_store(w, g->event, g->elen, row, e == WK_ERR_ROW ? 0 : e, reason, NULL, stop, st);
    if (stored < 0) {
        row->status = 0;
        st->held++;
        return;
    }
    /* Said once, by the write that stored it: a replay (the entry's dead letter already there) is not a new failure. */
    if (stored > 0)
        tk_error("event %s: entry %s (user %s, ticket %lld, quantity %lld) refused alone by MariaDB, error %u (%s): stored in "
                 "claims_dead, released from the stream",
                 g->event, dead_id, row->user, (long long)row->ticket, (long long)row->quantity, e, reason);
    else
        tk_info("event %s: entry %s: its dead letter was already in claims_dead (a replay); released from the stream", g->event, dead_id);
    row->status = TK_CLAIM_REJECTED;
    st->dead += (uint64_t)stored; /* a replay (a sibling line kept its packed entry pending) counts once */
}

int wk_poison_store(wk_writer_t *w, const char *event, size_t elen, const wk_row_t *row, unsigned error, const char *reason,
                    int *claimed, const volatile sig_atomic_t *stop, wk_write_stats_t *st)
{
    wk_dead_t d = {event, elen, row, error, reason, claimed, 0};
    unsigned e2 = 0;
    if (wk_txn_run(w, dead_body, &d, stop, st, &e2) != WK_WRITE_OK) {
        char dead_id[WK_DEAD_ID_MAX];
        wk_row_dead_id(row, dead_id);
        tk_error("event %.*s: entry %s could not be stored in claims_dead (error %u); it stays pending", (int)elen, event, dead_id, e2);
        return -1;
    }
    return d.fresh;
}

void wk_poison_isolate(wk_writer_t *w, wk_group_t *g, size_t lo, size_t hi, const volatile sig_atomic_t *stop, wk_write_stats_t *st)
{
    /* A copy of the part, its duplicates pointing inside it (an earlier duplicate outside is found as a stored row). */
    wk_group_t part = *g;
    part.n = part.cap = hi - lo;
    part.rows = malloc(part.n * sizeof(*part.rows));
    if (part.rows == NULL) {
        tk_error("out of memory isolating a failed write of %s: %zu entries stay pending", g->event, hi - lo);
        st->held += hi - lo;
        return;
    }
    memcpy(part.rows, g->rows + lo, part.n * sizeof(*part.rows));
    for (size_t i = 0; i < part.n; i++)
        part.rows[i].dup_of = part.rows[i].dup_of >= (long)lo ? part.rows[i].dup_of - (long)lo : -1;
    wk_groups_t gs = {&part, 1};
    unsigned e = 0;
    wk_write_result_t r = wk_txn_run(w, wk_writer_groups_body, &gs, stop, st, &e);
    if (r == WK_WRITE_OK) {
        for (size_t i = 0; i < part.n; i++) {
            g->rows[lo + i].status = part.rows[i].status;
            g->rows[lo + i].fresh = part.rows[i].fresh;
        }
    }
    free(part.rows);
    if (r == WK_WRITE_OK)
        return;
    if (r == WK_WRITE_FAILED && wk_poison_row_error(e)) {
        if (hi - lo == 1) {
            dead_letter(w, g, &g->rows[lo], e, stop, st);
            return;
        }
        size_t mid = lo + (hi - lo) / 2;
        wk_poison_isolate(w, g, lo, mid, stop, st);
        wk_poison_isolate(w, g, mid, hi, stop, st);
        return;
    }
    if (r == WK_WRITE_FAILED)
        tk_error("event %s: %zu entries not written (error %u, not caused by one entry's data); they stay pending and are taken over "
                 "again after the claim idle time",
                 g->event, hi - lo, e);
    st->held += hi - lo;
}

