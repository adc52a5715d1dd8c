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
 * Steps 2 and 3 have a fast form for the common case, where no row of the
 * event's group exists yet and they all fit (write_fresh): step 2 is
 * skipped and the rows go in behind a savepoint; a duplicate key, which is
 * how an existing row shows, rolls the group back to the savepoint and it
 * is written as above. The outcome is the same row for row (why:
 * write_fresh).
 *
 * Statements are prepared once per connection. Those with a list of N rows
 * exist only for N a power of two up to WK_CHUNK_MAX, so a connection holds
 * at most a couple of dozen statements: an IN list is padded by repeating
 * its last user, and the INSERT of n rows is split along the binary digits
 * of n (500 = 256 + 128 + 64 + 32 + 16 + 4).
 *
 * Failures are sorted, redone and reconnected in wk_txn.c; a batch refused
 * for good is written event by event, down to the poison entry, in
 * wk_poison.c (the writer's state: wk_writer_int.h).
 */
#include "tk_grow.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "wk_writer_int.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sql_lock = "SELECT total, sold FROM event_stock WHERE event_id = ? FOR UPDATE";
static const char *const sql_update =
    "UPDATE event_stock SET sold = sold + ?, ticket_hwm = GREATEST(ticket_hwm, ?) WHERE event_id = ? AND sold + ? <= total";

wk_writer_t *wk_writer_new(const tk_db_conf_t *conf)
{
    wk_writer_t *w = calloc(1, sizeof(*w));
    if (w != NULL)
        w->conf = *conf;
    return w;
}

void wk_writer_free(wk_writer_t *w)
{
    if (w == NULL)
        return;
    wk_txn_disconnect(w);
    free(w->idx);
    free(w);
}

/* ---------------------------------------------------------------- statements */

unsigned wk_writer_prepare(wk_writer_t *w, MYSQL_STMT **st, const char *sql, const char *what)
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
    unsigned e = wk_writer_prepare(w, st, sql, insert ? "insert claims" : "select existing claims");
    free(sql);
    return e;
}

unsigned wk_writer_stmt_fail(wk_writer_t *w, MYSQL_STMT *s, const char *what)
{
    unsigned e = mysql_stmt_errno(s);
    w->failed_what = what;
    snprintf(w->failed_msg, sizeof(w->failed_msg), "%s", mysql_stmt_error(s));
    tk_debug("%s: %u %s", what, e, mysql_stmt_error(s));
    return e ? e : 2000;
}

static int grow_idx(wk_writer_t *w, size_t n)
{
    size_t *p = tk_grow(w->idx, &w->idx_cap, n, sizeof(*p), n);
    if (p == NULL)
        return -1;
    w->idx = p;
    return 0;
}

/* ---------------------------------------------------------------- one event */

/* Locks the stock row. *found = 0 when the event has none. */
static unsigned lock_stock(wk_writer_t *w, const wk_group_t *g, unsigned long long *total, unsigned long long *sold, int *found)
{
    unsigned e = wk_writer_prepare(w, &w->lock, sql_lock, "prepare lock");
    if (e)
        return e;
    MYSQL_BIND in[1], out[2];
    unsigned long elen;
    tk_sql_bind_str(&in[0], g->event, &elen, g->elen);
    tk_sql_bind_u64(&out[0], total);
    tk_sql_bind_u64(&out[1], sold);
    if (mysql_stmt_bind_param(w->lock, in) || mysql_stmt_execute(w->lock) || mysql_stmt_bind_result(w->lock, out))
        return wk_writer_stmt_fail(w, w->lock, "lock event_stock");
    int rc = mysql_stmt_fetch(w->lock);
    *found = rc == 0;
    if (rc == 1)
        return wk_writer_stmt_fail(w, w->lock, "fetch event_stock");
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
            return wk_writer_stmt_fail(w, st, "select existing claims");
        for (size_t guard = 0; guard <= slots; guard++) {
            int rc = mysql_stmt_fetch(st);
            if (rc == MYSQL_NO_DATA)
                break;
            if (rc == 1)
                return wk_writer_stmt_fail(w, st, "fetch existing claims");
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
                return wk_writer_stmt_fail(w, s, "insert claims");
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
    unsigned e = wk_writer_prepare(w, &w->update, sql_update, "prepare update");
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
        return wk_writer_stmt_fail(w, w->update, "update event_stock");
    /* With delta 0 nothing may change (affected 0); otherwise the row must move. */
    if (delta > 0 && mysql_stmt_affected_rows(w->update) != 1) {
        tk_error("stock guard of %s refused %llu units that fitted under the row lock", g->event, delta);
        w->failed_what = "stock guard";
        return WK_ERR_INTERNAL;
    }
    return 0;
}

/* A plain statement on the writer's connection. Returns 0 or the MariaDB error number. */
static unsigned exec_sql(wk_writer_t *w, const char *sql, const char *what)
{
    if (mysql_real_query(w->db, sql, strlen(sql)) == 0)
        return 0;
    unsigned e = mysql_errno(w->db);
    w->failed_what = what;
    snprintf(w->failed_msg, sizeof(w->failed_msg), "%s", mysql_error(w->db));
    return e ? e : 2000;
}

/*
 * The common case first: every row of @g is new and fits the stock, as it
 * is whenever no worker died mid-batch and no fallback, cancel or fault
 * wrote the event. Then step 2 of the essay (the SELECT … IN over every
 * user, a quarter of MariaDB's CPU in a drain) finds nothing, so it is
 * skipped: the rows go straight in, all confirmed, behind a savepoint. A
 * row that exists after all (a replay, the fallback's, a cancelled one, or
 * a ticket held by another user) makes its INSERT fail with a duplicate
 * key, and nothing else can: then the group is rolled back to the
 * savepoint — every row this path inserted, not only the failing
 * statement's, so the careful path below sees the table as it was — and
 * written the careful way. Whether the rows fit is known before anything
 * is written, from the stock row read under its lock (step 1), so the stock
 * guard cannot refuse here. Returns WK_NOT_FRESH when the careful path must
 * write @g, else 0 or an error.
 */
static unsigned write_fresh(wk_writer_t *w, wk_group_t *g, unsigned long long total, unsigned long long sold, wk_write_stats_t *st)
{
    unsigned long long want = 0, hwm = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->rows[i].dup_of >= 0)
            return WK_NOT_FRESH; /* a user twice in the batch: the careful path settles it */
        want += (unsigned long long)g->rows[i].quantity;
        if ((unsigned long long)g->rows[i].ticket > hwm)
            hwm = (unsigned long long)g->rows[i].ticket;
    }
    if (g->n == 0 || sold > total || want > total - sold || grow_idx(w, g->n) != 0)
        return WK_NOT_FRESH;
    unsigned e = exec_sql(w, "SAVEPOINT wk_fresh", "savepoint");
    if (e)
        return e;
    for (size_t i = 0; i < g->n; i++) {
        g->rows[i].status = TK_CLAIM_CONFIRMED;
        w->idx[i] = i;
    }
    e = insert_rows(w, g, g->n);
    if (e == ER_DUP_ENTRY || e == ER_DUP_ENTRY_WITH_KEY_NAME) {
        for (size_t i = 0; i < g->n; i++)
            g->rows[i].status = 0;
        st->fresh_misses++;
        if ((e = exec_sql(w, "ROLLBACK TO SAVEPOINT wk_fresh", "rollback to savepoint")) != 0)
            return e;
        return WK_NOT_FRESH;
    }
    if (e || (e = update_stock(w, g, want, hwm)) != 0)
        return e;
    for (size_t i = 0; i < g->n; i++)
        g->rows[i].fresh = 1;
    st->inserted += g->n;
    st->confirmed += g->n;
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
    if ((e = write_fresh(w, g, total, sold, st)) != WK_NOT_FRESH)
        return e;
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

/* ---------------------------------------------------------------- the batch */

unsigned wk_writer_groups_body(wk_writer_t *w, void *arg, wk_write_stats_t *st)
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

wk_write_result_t wk_writer_write(wk_writer_t *w, wk_batch_t *b, const volatile sig_atomic_t *stop, wk_write_stats_t *st)
{
    wk_groups_t all = {b->groups, b->n};
    unsigned e = 0;
    wk_write_result_t r = wk_txn_run(w, wk_writer_groups_body, &all, stop, st, &e);
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
        wk_poison_isolate(w, &b->groups[i], 0, b->groups[i].n, stop, st);
    return WK_WRITE_OK;
}
