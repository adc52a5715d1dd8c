/*
 * wk_writer: the claims of one batch into MariaDB, in one transaction.
 *
 * Why it is exact
 * ---------------
 * Redis has already granted every claim a worker reads; the database's job is
 * to hold each of them exactly once and never to hold more units than the
 * event has. Per event of the batch, in one transaction:
 *
 *  1. SELECT total, sold FROM event_stock WHERE event_id=? FOR UPDATE.
 *     Every writer of an event's claims (each worker, the fallback path, the
 *     admin cancel) takes this row lock first, so for one event they run one
 *     after another. Events are locked in event-id order (wk_batch_group
 *     sorts the groups), so two workers never wait on each other in a cycle.
 *  2. SELECT user_id, status FROM claims WHERE event_id=? AND user_id IN (…).
 *     A user who already has a row is a replay (a batch committed by a worker
 *     that died before its XACK, or an entry re-claimed by XAUTOCLAIM), a
 *     claim written by the fallback path, or a cancelled one: nothing is
 *     inserted, and the row's current status goes back to Redis. The primary
 *     key (event_id, user_id) would refuse a second row anyway; under the
 *     lock of step 1 the check cannot race.
 *  3. The new rows go in with multi-row INSERTs, and the stock row moves with
 *     UPDATE … SET sold = sold + ? … WHERE … AND sold + ? <= total. Normally
 *     Redis never grants more than the stock, so everything fits. If it does
 *     not (only after a backend fault let Redis grant more than the database
 *     holds), the rows are settled one by one in ticket order: granted while
 *     they fit, otherwise stored as 'rejected' with reason 'stock_guard'. The
 *     CHECK (sold <= total) of the schema is the last line behind this.
 *  4. COMMIT. Only after it does the drain loop tell Redis the outcome and
 *     XACK the entries, so a crash anywhere before leaves them pending, and
 *     their replay finds the committed rows in step 2.
 *
 * Failures are sorted by tk_db_classify in one place (fail()): a deadlock or
 * lock wait rolls back and redoes the whole transaction (bounded); a lost
 * connection closes everything, reconnects with capped exponential backoff
 * and redoes it, for as long as MariaDB is away (the batch is kept; nothing
 * is acked meanwhile). A redo starts from scratch: statuses decided by a
 * rolled-back attempt are forgotten.
 *
 * One event's trouble stays that event's (issue 10, hole 3)
 * ---------------------------------------------------------
 * Any other error — one a redo cannot fix — no longer ends the worker. The
 * batch's transaction is rolled back and each event is written in its own
 * transaction, so the other events commit. An event that still fails with
 * an error its rows' data causes (row_error(): a duplicate key, a value out
 * of range, a failed constraint, a row the worker's own checks refuse) is
 * bisected: each half in its own transaction, down to the single entry
 * that fails alone. That entry is poison: it is stored in claims_dead with
 * the error (its own transaction), its status becomes 'r', so the drain
 * marks its Redis record rejected and XACKs it, and it is counted (dead).
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
 *
 * Statements are prepared once per connection. Those with a list of N rows
 * exist only for N a power of two up to WK_CHUNK_MAX, so a connection holds
 * at most a couple of dozen statements: an IN list is padded by repeating
 * its last user, and the INSERT of n rows is split along the binary digits
 * of n (500 = 256 + 128 + 64 + 32 + 16 + 4).
 */
#include "wk_writer.h"
#include "tk_claim.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "tk_time.h"
#include "wk_redis.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WK_POW 10                        /* list statements for 1, 2, 4, … 512 rows */
#define WK_CHUNK_MAX (1 << (WK_POW - 1)) /* rows per statement at most */
#define WK_INS_COLS 8                    /* placeholders per inserted row */
#define WK_RETRY_MAX 20                  /* redos after deadlock / lock wait */
#define WK_BACKOFF_MIN_MS 100
#define WK_BACKOFF_MAX_MS 2000
#define WK_STOP_GRACE_MS 10000 /* after a stop request, how long to keep trying */

/* Special results of one attempt besides a MariaDB error number. */
#define WK_ERR_INTERNAL 1 /* logged; not the fault of one row (the event's entries stay pending) */
#define WK_ERR_ROW 2      /* logged; the worker's own check refused a row's data (poison when alone) */

struct wk_writer {
    tk_db_conf_t conf;
    MYSQL *db;
    MYSQL_STMT *lock, *update, *dead, *exist[WK_POW], *insert[WK_POW];
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

static const char *const sql_lock = "SELECT total, sold FROM event_stock WHERE event_id = ? FOR UPDATE";
static const char *const sql_update =
    "UPDATE event_stock SET sold = sold + ?, ticket_hwm = GREATEST(ticket_hwm, ?) WHERE event_id = ? AND sold + ? <= total";
static const char *const sql_dead = "INSERT INTO claims_dead (event_id, entry_id, user_id, ticket, quantity, created_at, error, reason, dead_at) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE event_id = event_id";

wk_writer_t *wk_writer_new(const tk_db_conf_t *conf)
{
    wk_writer_t *w = calloc(1, sizeof(*w));
    if (w != NULL)
        w->conf = *conf;
    return w;
}

static void disconnect(wk_writer_t *w)
{
    MYSQL_STMT **all[] = {&w->lock, &w->update, &w->dead};
    for (size_t i = 0; i < 3; i++) {
        if (*all[i] != NULL)
            mysql_stmt_close(*all[i]);
        *all[i] = NULL;
    }
    for (int k = 0; k < WK_POW; k++) {
        if (w->exist[k] != NULL)
            mysql_stmt_close(w->exist[k]);
        if (w->insert[k] != NULL)
            mysql_stmt_close(w->insert[k]);
        w->exist[k] = w->insert[k] = NULL;
    }
    if (w->db != NULL)
        mysql_close(w->db);
    w->db = NULL;
}

void wk_writer_free(wk_writer_t *w)
{
    if (w == NULL)
        return;
    disconnect(w);
    free(w->idx);
    free(w);
}

/* ---------------------------------------------------------------- statements */

/* Returns 0 or the MariaDB error number (the statement is left NULL). */
static unsigned prepare(wk_writer_t *w, MYSQL_STMT **st, const char *sql, const char *what)
{
    if (*st != NULL)
        return 0;
    MYSQL_STMT *s = mysql_stmt_init(w->db);
    if (s == NULL) {
        w->failed_what = what;
        return mysql_errno(w->db) ? mysql_errno(w->db) : 2008; /* CR_OUT_OF_MEMORY */
    }
    if (mysql_stmt_prepare(s, sql, strlen(sql)) != 0) {
        unsigned e = mysql_stmt_errno(s);
        snprintf(w->failed_msg, sizeof(w->failed_msg), "%s", mysql_stmt_error(s));
        tk_debug("prepare %s: %s", what, mysql_stmt_error(s));
        mysql_stmt_close(s);
        w->failed_what = what;
        return e ? e : 2000;
    }
    *st = s;
    return 0;
}

/* "<head>(<tuple>),(<tuple>)…<tail>" or "<head>?,?,…<tail>" with @n items; malloc'ed. */
static char *build_list(const char *head, const char *item, const char *sep, size_t n, const char *tail)
{
    size_t hl = strlen(head), il = strlen(item), sl = strlen(sep), tl = strlen(tail);
    char *s = malloc(hl + n * (il + sl) + tl + 1), *p = s;
    if (s == NULL)
        return NULL;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            memcpy(p, sep, sl);
            p += sl;
        }
        memcpy(p, item, il);
        p += il;
    }
    memcpy(p, tail, tl + 1);
    return s;
}

static unsigned prepare_list(wk_writer_t *w, int k, int insert)
{
    MYSQL_STMT **st = insert ? &w->insert[k] : &w->exist[k];
    if (*st != NULL)
        return 0;
    char *sql = insert ? build_list("INSERT INTO claims (event_id, user_id, claim_id, ticket, quantity, status, reason, created_at, "
                                    "confirmed_at, updated_at) VALUES ",
                                    "(?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))", ", ", (size_t)1 << k, "")
                       : build_list("SELECT user_id, status FROM claims WHERE event_id = ? AND user_id IN (", "?", ", ", (size_t)1 << k, ")");
    if (sql == NULL) {
        w->failed_what = "build statement";
        return 2008;
    }
    unsigned e = prepare(w, st, sql, insert ? "insert claims" : "select existing claims");
    free(sql);
    return e;
}

static unsigned stmt_fail(wk_writer_t *w, MYSQL_STMT *s, const char *what)
{
    unsigned e = mysql_stmt_errno(s);
    w->failed_what = what;
    snprintf(w->failed_msg, sizeof(w->failed_msg), "%s", mysql_stmt_error(s));
    tk_debug("%s: %u %s", what, e, mysql_stmt_error(s));
    return e ? e : 2000;
}

static int grow_idx(wk_writer_t *w, size_t n)
{
    if (n <= w->idx_cap)
        return 0;
    size_t *p = realloc(w->idx, n * sizeof(*p));
    if (p == NULL)
        return -1;
    w->idx = p;
    w->idx_cap = n;
    return 0;
}

/* ---------------------------------------------------------------- one event */

/* Locks the stock row. *found = 0 when the event has none. */
static unsigned lock_stock(wk_writer_t *w, const wk_group_t *g, unsigned long long *total, unsigned long long *sold, int *found)
{
    unsigned e = prepare(w, &w->lock, sql_lock, "prepare lock");
    if (e)
        return e;
    MYSQL_BIND in[1], out[2];
    unsigned long elen;
    tk_sql_bind_str(&in[0], g->event, &elen, g->elen);
    tk_sql_bind_u64(&out[0], total);
    tk_sql_bind_u64(&out[1], sold);
    if (mysql_stmt_bind_param(w->lock, in) || mysql_stmt_execute(w->lock) || mysql_stmt_bind_result(w->lock, out))
        return stmt_fail(w, w->lock, "lock event_stock");
    int rc = mysql_stmt_fetch(w->lock);
    *found = rc == 0;
    if (rc == 1)
        return stmt_fail(w, w->lock, "fetch event_stock");
    /* Drain (at most one row) so the connection is free again. */
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = mysql_stmt_fetch(w->lock);
    mysql_stmt_free_result(w->lock);
    return 0;
}

static const wk_row_t *bs_rows;
static int cmp_idx_user(const void *a, const void *b)
{
    return strcmp(bs_rows[*(const size_t *)a].user, bs_rows[*(const size_t *)b].user);
}

/* Finds rows that already exist; sets their status. Rows with dup_of >= 0 are left alone. */
static unsigned find_existing(wk_writer_t *w, wk_group_t *g, uint64_t *replayed)
{
    size_t m = 0;
    if (grow_idx(w, g->n) != 0) {
        w->failed_what = "out of memory";
        return 2008;
    }
    for (size_t i = 0; i < g->n; i++)
        if (g->rows[i].dup_of < 0)
            w->idx[m++] = i;
    bs_rows = g->rows;
    qsort(w->idx, m, sizeof(size_t), cmp_idx_user);

    for (size_t off = 0; off < m; off += WK_CHUNK_MAX) {
        size_t cnt = m - off < WK_CHUNK_MAX ? m - off : WK_CHUNK_MAX;
        int k = 0;
        while (((size_t)1 << k) < cnt)
            k++;
        size_t slots = (size_t)1 << k;
        unsigned e = prepare_list(w, k, 0);
        if (e)
            return e;
        tk_sql_bind_str(&w->bind[0], g->event, &w->len[0], g->elen);
        for (size_t s = 0; s < slots; s++) {
            const wk_row_t *r = &g->rows[w->idx[off + (s < cnt ? s : cnt - 1)]];
            tk_sql_bind_str(&w->bind[1 + s], r->user, &w->len[1 + s], r->ulen);
        }
        char user[TK_ID_MAX + 1], status[16];
        unsigned long ul = 0, sl = 0;
        MYSQL_BIND out[2];
        memset(out, 0, sizeof(out));
        out[0].buffer_type = MYSQL_TYPE_STRING;
        out[0].buffer = user;
        out[0].buffer_length = sizeof(user) - 1;
        out[0].length = &ul;
        out[1].buffer_type = MYSQL_TYPE_STRING;
        out[1].buffer = status;
        out[1].buffer_length = sizeof(status) - 1;
        out[1].length = &sl;
        MYSQL_STMT *st = w->exist[k];
        if (mysql_stmt_bind_param(st, w->bind) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, out))
            return stmt_fail(w, st, "select existing claims");
        for (size_t guard = 0; guard <= slots; guard++) {
            int rc = mysql_stmt_fetch(st);
            if (rc == MYSQL_NO_DATA)
                break;
            if (rc == 1)
                return stmt_fail(w, st, "fetch existing claims");
            user[ul < sizeof(user) - 1 ? ul : sizeof(user) - 1] = '\0';
            status[sl < sizeof(status) - 1 ? sl : sizeof(status) - 1] = '\0';
            size_t lo = 0, hi = m;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(g->rows[w->idx[mid]].user, user) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t probe = lo;
            if (probe < m && strcmp(g->rows[w->idx[probe]].user, user) == 0) {
                wk_row_t *r = &g->rows[w->idx[probe]];
                tk_claim_status_t letter;
                if (tk_claim_status_from_name(status, &letter) != 0) {
                    tk_error("claims row %s/%s has unknown status '%s'", g->event, user, status);
                    mysql_stmt_free_result(st);
                    w->failed_what = "unknown status";
                    snprintf(w->failed_msg, sizeof(w->failed_msg), "claims row has status '%s'", status);
                    return WK_ERR_ROW;
                }
                if (r->status == 0)
                    (*replayed)++;
                r->status = (char)letter;
            }
        }
        mysql_stmt_free_result(st);
    }
    return 0;
}

/* Inserts the fresh rows listed in w->idx[0..n). */
static unsigned insert_rows(wk_writer_t *w, const wk_group_t *g, size_t n)
{
    static const char reason[] = "stock_guard";
    size_t off = 0;
    for (int k = WK_POW - 1; k >= 0 && off < n; k--) {
        size_t size = (size_t)1 << k;
        while (n - off >= size) {
            unsigned e = prepare_list(w, k, 1);
            if (e)
                return e;
            for (size_t j = 0; j < size; j++) {
                const wk_row_t *r = &g->rows[w->idx[off + j]];
                MYSQL_BIND *b = &w->bind[j * WK_INS_COLS];
                unsigned long *l = &w->len[j * WK_INS_COLS];
                int cl = tk_claim_id(g->event, g->elen, r->ticket, w->claim_id[j]);
                const char *st = r->status == TK_CLAIM_CONFIRMED ? "confirmed" : "rejected";
                w->ticket[j] = (unsigned long long)r->ticket;
                w->quantity[j] = (unsigned long)r->quantity;
                w->reason_null[j] = r->status == TK_CLAIM_CONFIRMED;
                tk_db_time_from_ms(r->created_ms, &w->created[j]);
                tk_sql_bind_str(&b[0], g->event, &l[0], g->elen);
                tk_sql_bind_str(&b[1], r->user, &l[1], r->ulen);
                tk_sql_bind_str(&b[2], w->claim_id[j], &l[2], cl > 0 ? (size_t)cl : 0);
                tk_sql_bind_u64(&b[3], &w->ticket[j]);
                memset(&b[4], 0, sizeof(b[4]));
                b[4].buffer_type = MYSQL_TYPE_LONG;
                b[4].buffer = &w->quantity[j];
                b[4].is_unsigned = 1;
                tk_sql_bind_str(&b[5], st, &l[5], strlen(st));
                tk_sql_bind_str(&b[6], reason, &l[6], sizeof(reason) - 1);
                b[6].is_null = &w->reason_null[j];
                memset(&b[7], 0, sizeof(b[7]));
                b[7].buffer_type = MYSQL_TYPE_DATETIME;
                b[7].buffer = &w->created[j];
            }
            MYSQL_STMT *s = w->insert[k];
            if (mysql_stmt_bind_param(s, w->bind) || mysql_stmt_execute(s))
                return stmt_fail(w, s, "insert claims");
            if (mysql_stmt_affected_rows(s) != size) {
                tk_error("insert claims for %s: %llu rows stored of %zu", g->event, (unsigned long long)mysql_stmt_affected_rows(s), size);
                w->failed_what = "insert count";
                snprintf(w->failed_msg, sizeof(w->failed_msg), "%llu rows stored of %zu", (unsigned long long)mysql_stmt_affected_rows(s),
                         size);
                return WK_ERR_ROW;
            }
            off += size;
        }
    }
    return 0;
}

static unsigned update_stock(wk_writer_t *w, const wk_group_t *g, unsigned long long delta, unsigned long long hwm)
{
    unsigned e = prepare(w, &w->update, sql_update, "prepare update");
    if (e)
        return e;
    MYSQL_BIND in[4];
    unsigned long elen;
    unsigned long long d1 = delta, d2 = delta, h = hwm;
    tk_sql_bind_u64(&in[0], &d1);
    tk_sql_bind_u64(&in[1], &h);
    tk_sql_bind_str(&in[2], g->event, &elen, g->elen);
    tk_sql_bind_u64(&in[3], &d2);
    if (mysql_stmt_bind_param(w->update, in) || mysql_stmt_execute(w->update))
        return stmt_fail(w, w->update, "update event_stock");
    /* With delta 0 nothing may change (affected 0); otherwise the row must move. */
    if (delta > 0 && mysql_stmt_affected_rows(w->update) != 1) {
        tk_error("stock guard of %s refused %llu units that fitted under the row lock", g->event, delta);
        w->failed_what = "stock guard";
        return WK_ERR_INTERNAL;
    }
    return 0;
}

static unsigned write_group(wk_writer_t *w, wk_group_t *g, wk_write_stats_t *st)
{
    unsigned long long total = 0, sold = 0;
    int found = 0;
    unsigned e = lock_stock(w, g, &total, &sold, &found);
    if (e)
        return e;
    if (!found) {
        tk_warn("event %s has no event_stock row: its %zu entries stay pending", g->event, g->n);
        st->skipped += g->n;
        return 0;
    }
    if ((e = find_existing(w, g, &st->replayed)) != 0)
        return e;

    /* The fresh rows, in ticket order (the group is sorted by ticket). */
    size_t n = 0;
    unsigned long long want = 0, hwm = 0;
    for (size_t i = 0; i < g->n; i++) {
        wk_row_t *r = &g->rows[i];
        if (r->dup_of >= 0 || r->status != 0)
            continue;
        r->fresh = 1;
        w->idx[n++] = i;
        want += (unsigned long long)r->quantity;
        if ((unsigned long long)r->ticket > hwm)
            hwm = (unsigned long long)r->ticket;
    }
    unsigned long long left = total > sold ? total - sold : 0, granted = 0;
    for (size_t j = 0; j < n; j++) {
        wk_row_t *r = &g->rows[w->idx[j]];
        unsigned long long q = (unsigned long long)r->quantity;
        if (want <= left || q <= left - granted) {
            r->status = TK_CLAIM_CONFIRMED;
            granted += q;
        } else {
            r->status = TK_CLAIM_REJECTED;
        }
    }
    if (granted < want)
        tk_error("event %s: %llu units asked, %llu left in the database: %llu rejected by the stock guard", g->event, want, left,
                 want - granted);
    if (n > 0) {
        if ((e = insert_rows(w, g, n)) != 0)
            return e;
        if ((e = update_stock(w, g, granted, hwm)) != 0)
            return e;
    }
    for (size_t i = 0; i < g->n; i++) {
        wk_row_t *r = &g->rows[i];
        if (r->dup_of >= 0)
            r->status = g->rows[r->dup_of].status;
    }
    st->inserted += n;
    st->confirmed += n;
    for (size_t j = 0; j < n; j++) {
        if (g->rows[w->idx[j]].status == TK_CLAIM_REJECTED) {
            st->confirmed--;
            st->rejected++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- transaction */

/* The body of one transaction: writes, never commits. Returns 0 or an error as attempt() sorts them. */
typedef unsigned (*wk_body_t)(wk_writer_t *w, void *arg, wk_write_stats_t *st);

typedef struct {
    wk_group_t *groups;
    size_t n;
} wk_groups_t;

static unsigned groups_body(wk_writer_t *w, void *arg, wk_write_stats_t *st)
{
    wk_groups_t *gs = arg;
    for (size_t i = 0; i < gs->n; i++) {
        for (size_t j = 0; j < gs->groups[i].n; j++) {
            gs->groups[i].rows[j].status = 0;
            gs->groups[i].rows[j].fresh = 0;
        }
    }
    for (size_t i = 0; i < gs->n; i++) {
        unsigned e = write_group(w, &gs->groups[i], st);
        if (e)
            return e;
    }
    return 0;
}

static unsigned attempt(wk_writer_t *w, wk_body_t body, void *arg, wk_write_stats_t *st)
{
    wk_write_stats_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    w->failed_what = NULL;
    w->failed_msg[0] = '\0';
    unsigned e = body(w, arg, &tmp);
    if (e)
        return e;
    if (mysql_commit(w->db) != 0) {
        w->failed_what = "commit";
        snprintf(w->failed_msg, sizeof(w->failed_msg), "%s", mysql_error(w->db));
        return mysql_errno(w->db) ? mysql_errno(w->db) : 2000;
    }
    st->inserted += tmp.inserted;
    st->confirmed += tmp.confirmed;
    st->rejected += tmp.rejected;
    st->replayed += tmp.replayed;
    st->skipped += tmp.skipped;
    return 0;
}

static int connect_db(wk_writer_t *w)
{
    char err[256];
    w->db = tk_db_connect(&w->conf, err, sizeof(err));
    if (w->db == NULL) {
        tk_warn("%s", err);
        return -1;
    }
    tk_info("connected to MariaDB %s:%d", w->conf.host, w->conf.port);
    return 0;
}

/* The one place a failure is sorted. */
static tk_db_class_t fail(wk_writer_t *w, unsigned e)
{
    tk_db_class_t c = e == WK_ERR_INTERNAL || e == WK_ERR_ROW ? TK_DB_FATAL : tk_db_classify(e);
    if (c == TK_DB_FATAL)
        tk_error("MariaDB %s failed: error %u (%s)", w->failed_what ? w->failed_what : "call", e,
                 w->failed_msg[0] ? w->failed_msg : "see debug log");
    else
        tk_warn("MariaDB %s failed: error %u, %s", w->failed_what ? w->failed_what : "call", e, tk_db_class_name(c));
    if (c == TK_DB_RETRY && w->db != NULL && mysql_rollback(w->db) != 0)
        c = TK_DB_RECONNECT;
    if (c == TK_DB_RECONNECT)
        disconnect(w);
    return c;
}

/*
 * Runs one transaction of @body: redone after a deadlock or lock wait (at
 * most WK_RETRY_MAX times), after reconnecting while MariaDB is away (until
 * it is back, or a stop has waited WK_STOP_GRACE_MS). WK_WRITE_OK when
 * committed; WK_WRITE_STOPPED; WK_WRITE_FAILED with the error in *@err
 * (rolled back) when a redo cannot help.
 */
static wk_write_result_t txn(wk_writer_t *w, wk_body_t body, void *arg, const volatile sig_atomic_t *stop, wk_write_stats_t *st,
                             unsigned *err)
{
    long backoff = WK_BACKOFF_MIN_MS;
    int retries = 0;
    int64_t stop_seen = 0;
    for (;;) {
        if (*stop) {
            int64_t now = tk_time_mono_ms();
            if (stop_seen == 0)
                stop_seen = now;
            else if (now - stop_seen > WK_STOP_GRACE_MS && w->db == NULL)
                return WK_WRITE_STOPPED;
        }
        if (w->db == NULL && connect_db(w) != 0) {
            tk_time_sleep_ms(backoff, NULL);
            backoff = backoff * 2 > WK_BACKOFF_MAX_MS ? WK_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        unsigned e = attempt(w, body, arg, st);
        if (e == 0)
            return WK_WRITE_OK;
        switch (fail(w, e)) {
        case TK_DB_RETRY:
            st->retries++;
            if (++retries > WK_RETRY_MAX) {
                tk_error("transaction still conflicting after %d redos", WK_RETRY_MAX);
                *err = e;
                return WK_WRITE_FAILED;
            }
            tk_time_sleep_ms(retries * 5, NULL);
            break;
        case TK_DB_RECONNECT:
            st->reconnects++;
            break;
        default:
            if (w->db != NULL && mysql_rollback(w->db) != 0)
                disconnect(w);
            *err = e;
            return WK_WRITE_FAILED;
        }
    }
}

/* ---------------------------------------------------------------- isolation */

/* Errors the data of a row causes: alone in a transaction, that row is poison. Anything else is the event's or the server's. */
static int row_error(unsigned e)
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
    const wk_group_t *g;
    const wk_row_t *row;
    unsigned error;
    const char *reason;
} wk_dead_t;

static unsigned dead_body(wk_writer_t *w, void *arg, wk_write_stats_t *st)
{
    (void)st;
    wk_dead_t *d = arg;
    unsigned e = prepare(w, &w->dead, sql_dead, "prepare dead letter");
    if (e)
        return e;
    MYSQL_BIND in[8];
    unsigned long len[8];
    unsigned long long ticket = (unsigned long long)d->row->ticket;
    unsigned long qty = (unsigned long)d->row->quantity, error = d->error;
    MYSQL_TIME created;
    tk_db_time_from_ms(d->row->created_ms, &created);
    tk_sql_bind_str(&in[0], d->g->event, &len[0], d->g->elen);
    tk_sql_bind_str(&in[1], d->row->id, &len[1], strlen(d->row->id));
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
        return stmt_fail(w, w->dead, "insert dead letter");
    return 0;
}

/* Stores @row of @g in claims_dead with the error @e that refused it alone; its status becomes 'r'. Left pending when even that fails. */
static void dead_letter(wk_writer_t *w, const wk_group_t *g, wk_row_t *row, unsigned e, const volatile sig_atomic_t *stop,
                        wk_write_stats_t *st)
{
    char reason[256];
    snprintf(reason, sizeof(reason), "%s: %s", w->failed_what ? w->failed_what : "write", w->failed_msg);
    tk_error("event %s: entry %s (user %s, ticket %lld, quantity %lld) refused alone by MariaDB, error %u (%s): stored in claims_dead, "
             "released from the stream",
             g->event, row->id, row->user, (long long)row->ticket, (long long)row->quantity, e, reason);
    wk_dead_t d = {g, row, e == WK_ERR_ROW ? 0 : e, reason};
    unsigned e2 = 0;
    if (txn(w, dead_body, &d, stop, st, &e2) != WK_WRITE_OK) {
        tk_error("event %s: entry %s could not be stored in claims_dead either (error %u); it stays pending", g->event, row->id, e2);
        row->status = 0;
        st->held++;
        return;
    }
    row->status = TK_CLAIM_REJECTED;
    st->dead++;
}

/*
 * Writes rows [lo, hi) of @g in transactions of their own: all of them at
 * once, else each half, down to the single poison row. Rows get the status
 * of what was committed; a part that fails for another reason stays pending.
 */
static void isolate(wk_writer_t *w, wk_group_t *g, size_t lo, size_t hi, const volatile sig_atomic_t *stop, wk_write_stats_t *st)
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
    wk_write_result_t r = txn(w, groups_body, &gs, stop, st, &e);
    if (r == WK_WRITE_OK) {
        for (size_t i = 0; i < part.n; i++) {
            g->rows[lo + i].status = part.rows[i].status;
            g->rows[lo + i].fresh = part.rows[i].fresh;
        }
    }
    free(part.rows);
    if (r == WK_WRITE_OK)
        return;
    if (r == WK_WRITE_FAILED && row_error(e)) {
        if (hi - lo == 1) {
            dead_letter(w, g, &g->rows[lo], e, stop, st);
            return;
        }
        size_t mid = lo + (hi - lo) / 2;
        isolate(w, g, lo, mid, stop, st);
        isolate(w, g, mid, hi, stop, st);
        return;
    }
    if (r == WK_WRITE_FAILED)
        tk_error("event %s: %zu entries not written (error %u, not caused by one entry's data); they stay pending and are taken over "
                 "again after the claim idle time",
                 g->event, hi - lo, e);
    st->held += hi - lo;
}

wk_write_result_t wk_writer_write(wk_writer_t *w, wk_batch_t *b, const volatile sig_atomic_t *stop, wk_write_stats_t *st)
{
    wk_groups_t all = {b->groups, b->n};
    unsigned e = 0;
    wk_write_result_t r = txn(w, groups_body, &all, stop, st, &e);
    if (r == WK_WRITE_STOPPED)
        tk_warn("stopping with MariaDB unreachable: %zu rows left pending in Redis", b->rows);
    if (r != WK_WRITE_FAILED)
        return r;
    /* Rolled back: no status stands. Each event on its own now, so the others commit whatever this one holds. */
    tk_warn("batch of %zu entries (%zu events) refused (error %u): writing each event in its own transaction", b->rows, b->n, e);
    st->splits++;
    for (size_t i = 0; i < b->n; i++)
        for (size_t j = 0; j < b->groups[i].n; j++)
            b->groups[i].rows[j].status = 0;
    for (size_t i = 0; i < b->n; i++)
        isolate(w, &b->groups[i], 0, b->groups[i].n, stop, st);
    return WK_WRITE_OK;
}
