/*
 * wk_lb_writer: a coalesced batch of board entries into MariaDB.
 *
 * Why a row never moves back
 * --------------------------
 * board_scores holds one row per (board, season, user) (sql/007). Every
 * score row goes in through one statement shape,
 *
 *   INSERT INTO board_scores (...) VALUES (…),(…)… ON DUPLICATE KEY UPDATE
 *     c1 = IF(newer, VALUES(c1), c1), c2 = IF(newer, …), t_ms = IF(newer, …),
 *     seq = IF(newer, VALUES(seq), seq)
 *   newer = VALUES(seq) > seq OR (VALUES(seq) = 0 AND seq = 0 AND VALUES(t_ms) > t_ms)
 *
 * (the text is common/tk_lb.h's TK_LB_UPSERT_*, which tk-import's upsert
 * of the seqs lua/lb_import.lua drew uses too: one rule for both), so a
 * stored row is replaced only by a write with a higher board sequence
 * (or, between two seq-0 rows, a later time: tk-import of a season only
 * MariaDB keeps writes seq 0, and rows from before real seqs). MariaDB applies
 * the assignments left to right, each seeing the columns already assigned:
 * seq is assigned LAST, so every IF before it still compares against the
 * stored seq; t_ms's own IF reads t_ms before it is assigned; and seq's IF,
 * which sees the new t_ms, only matters when both seqs are 0 (then it
 * assigns 0 either way). Hence, whatever order entries arrive in — a
 * replay after a crash (XAUTOCLAIM, a restart re-reading its pending
 * entries), two workers of the group writing one user's entries out of
 * order — each row ends at the entry with the highest seq ever written:
 * the latest value, the one Redis holds. Replays are harmless.
 *
 * Bulk. The rows of a batch (every board at once: board_id is a column)
 * go in statements of 256, 128, … 1 rows along the binary digits of their
 * count (2048 rows: 8 statements of 256), prepared once per connection
 * (WK_LB_POW sizes). Rollover entries upsert board_seasons (below).
 *
 * Failures: the whole batch is one transaction (wk_txn.c redoes and
 * reconnects). When it fails for good it is written board by board, and a
 * board's items are bisected down to the one MariaDB refuses alone with an
 * error of its data (wk_poison_row_error: a board row that is gone, a
 * value out of range). That entry is logged whole at error level, counted
 * (`<consumer>:lb_dead` in tk:wk:stats) and acked: a board has no
 * dead-letter table, because a score entry is superseded by the user's next
 * write and Redis still holds the value; the admin board view shows the
 * books disagreeing ("agree": false) until then. Any other failure leaves
 * the entries pending for XAUTOCLAIM.
 */
#include "tk_grow.h"
#include "tk_lb.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "wk_writer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((1 << (WK_LB_POW - 1)) * WK_LB_COLS <= WK_CHUNK_MAX * WK_INS_COLS, "the writer's bind array holds a full board upsert");

/* A new season's row: started at its start; if a later season is already there (entries written out of order), ended at its start. */
static const char *const sql_sn_open =
    "INSERT INTO board_seasons (board_id, season, started_ms, ended_ms) "
    "SELECT ?, ?, ?, (SELECT MIN(n.started_ms) FROM board_seasons n WHERE n.board_id = ? AND n.season > ?) "
    "ON DUPLICATE KEY UPDATE started_ms = started_ms";
/* Every earlier season ends at the latest at this start, and a scheduled one at its start + length: the minimum over
 * rollovers seen in any order is the start of the next season that was written, capped by the schedule. */
static const char *const sql_sn_close =
    "UPDATE board_seasons s JOIN boards b ON b.board_id = s.board_id "
    "SET s.ended_ms = LEAST(COALESCE(s.ended_ms, ?), ?, IF(b.season_length_s > 0, s.started_ms + b.season_length_s * 1000, ?)) "
    "WHERE s.board_id = ? AND s.season < ?";

typedef struct {
    wk_lb_batch_t *b;
    const size_t *idx; /* written items of this part */
    size_t n;
    wk_lb_write_stats_t got; /* this attempt's counts */
} lb_part_t;

static unsigned prepare_upsert(wk_writer_t *w, int k)
{
    if (w->lb_upsert[k] != NULL)
        return 0;
    size_t n = (size_t)1 << k;
    static const char head[] = TK_LB_UPSERT_HEAD; /* common/tk_lb.h: shared with tk-import */
    static const char tuple[] = TK_LB_UPSERT_TUPLE;
    static const char tail[] = TK_LB_UPSERT_TAIL;
    char *sql = malloc(sizeof(head) + n * (sizeof(tuple) + 1) + sizeof(tail));
    if (sql == NULL) {
        w->failed_what = "build statement";
        return 2008;
    }
    char *p = sql;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        memcpy(p, tuple, sizeof(tuple) - 1);
        p += sizeof(tuple) - 1;
    }
    memcpy(p, tail, sizeof(tail));
    unsigned e = wk_writer_prepare(w, &w->lb_upsert[k], sql, "prepare board upsert");
    free(sql);
    return e;
}

static void bind_uint(MYSQL_BIND *b, unsigned *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_LONG;
    b->buffer = v;
    b->is_unsigned = 1;
}

/* Upserts the score items @rows[0..n) (indices into @p->b) with one statement of n = 2^k rows. */
static unsigned upsert(wk_writer_t *w, lb_part_t *p, const size_t *rows, int k)
{
    unsigned e = prepare_upsert(w, k);
    if (e)
        return e;
    size_t n = (size_t)1 << k;
    for (size_t j = 0; j < n; j++) {
        wk_lb_item_t *it = &p->b->items[rows[j]];
        MYSQL_BIND *b = &w->bind[j * WK_LB_COLS];
        unsigned long *l = &w->len[j * WK_LB_COLS];
        tk_sql_bind_str(&b[0], it->board, &l[0], it->blen);
        bind_uint(&b[1], &it->season);
        tk_sql_bind_str(&b[2], it->user, &l[2], it->ulen);
        tk_sql_bind_i64(&b[3], &it->c1);
        tk_sql_bind_i64(&b[4], &it->c2);
        tk_sql_bind_i64(&b[5], &it->t_ms);
        tk_sql_bind_i64(&b[6], &it->seq);
    }
    MYSQL_STMT *s = w->lb_upsert[k];
    if (mysql_stmt_bind_param(s, w->bind) || mysql_stmt_execute(s))
        return wk_writer_stmt_fail(w, s, "upsert board_scores");
    p->got.rows += n;
    p->got.stmts++;
    if (n > p->got.stmt_max)
        p->got.stmt_max = n;
    return 0;
}

static unsigned rollover(wk_writer_t *w, wk_lb_item_t *it)
{
    unsigned e = wk_writer_prepare(w, &w->lb_sn_open, sql_sn_open, "prepare season open");
    if (e == 0)
        e = wk_writer_prepare(w, &w->lb_sn_close, sql_sn_close, "prepare season close");
    if (e)
        return e;
    MYSQL_BIND in[5];
    unsigned long l0, l3;
    unsigned season = it->season, season2 = it->season;
    long long t = it->t_ms, t2 = it->t_ms, t3 = it->t_ms;
    tk_sql_bind_str(&in[0], it->board, &l0, it->blen);
    bind_uint(&in[1], &season);
    tk_sql_bind_i64(&in[2], &t);
    tk_sql_bind_str(&in[3], it->board, &l3, it->blen);
    bind_uint(&in[4], &season2);
    if (mysql_stmt_bind_param(w->lb_sn_open, in) || mysql_stmt_execute(w->lb_sn_open))
        return wk_writer_stmt_fail(w, w->lb_sn_open, "insert board_seasons");
    tk_sql_bind_i64(&in[0], &t);
    tk_sql_bind_i64(&in[1], &t2);
    tk_sql_bind_i64(&in[2], &t3);
    tk_sql_bind_str(&in[3], it->board, &l3, it->blen);
    bind_uint(&in[4], &season);
    if (mysql_stmt_bind_param(w->lb_sn_close, in) || mysql_stmt_execute(w->lb_sn_close))
        return wk_writer_stmt_fail(w, w->lb_sn_close, "close board_seasons");
    return 0;
}

/* A wk_body_t: the part's score rows in statements along the binary digits of their count, then its rollovers. */
static unsigned part_body(wk_writer_t *w, void *arg, wk_write_stats_t *st)
{
    (void)st;
    lb_part_t *p = arg;
    memset(&p->got, 0, sizeof(p->got));
    size_t *rows = w->idx; /* grown by the caller to p->n */
    size_t nrows = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->b->items[p->idx[i]].kind == 's')
            rows[nrows++] = p->idx[i];
    size_t off = 0;
    for (int k = WK_LB_POW - 1; k >= 0 && off < nrows; k--) {
        while (nrows - off >= ((size_t)1 << k)) {
            unsigned e = upsert(w, p, rows + off, k);
            if (e)
                return e;
            off += (size_t)1 << k;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        wk_lb_item_t *it = &p->b->items[p->idx[i]];
        if (it->kind != 'r')
            continue;
        unsigned e = rollover(w, it);
        if (e)
            return e;
        p->got.rollovers++;
    }
    return 0;
}

static void add_stats(wk_lb_write_stats_t *st, const wk_lb_write_stats_t *got)
{
    st->rows += got->rows;
    st->stmts += got->stmts;
    st->rollovers += got->rollovers;
    if (got->stmt_max > st->stmt_max)
        st->stmt_max = got->stmt_max;
}

/* One transaction for the items @idx[0..n). */
static wk_write_result_t run_part(wk_writer_t *w, wk_lb_batch_t *b, const size_t *idx, size_t n, const volatile sig_atomic_t *stop,
                                  wk_lb_write_stats_t *st, unsigned *err)
{
    lb_part_t p = {b, idx, n, {0}};
    wk_write_stats_t ws;
    memset(&ws, 0, sizeof(ws));
    wk_write_result_t r = wk_txn_run(w, part_body, &p, stop, &ws, err);
    st->retries += ws.retries;
    st->reconnects += ws.reconnects;
    if (r == WK_WRITE_OK) {
        add_stats(st, &p.got);
        for (size_t i = 0; i < n; i++)
            b->items[idx[i]].done = 1;
    }
    return r;
}

static void dead(wk_lb_item_t *it, unsigned e, const wk_writer_t *w, wk_lb_write_stats_t *st)
{
    if (it->kind == 's')
        tk_error("board %s: entry %s (season %u, user %s, score %lld %lld, t %lld, seq %lld) refused alone by MariaDB, error %u (%s: %s): "
                 "acked without a row (counted lb_dead)",
                 it->board, it->id, it->season, it->user, it->c1, it->c2, it->t_ms, it->seq, e, w->failed_what ? w->failed_what : "write",
                 w->failed_msg);
    else
        tk_error("board %s: rollover entry %s (season %u from %lld) refused alone by MariaDB, error %u (%s: %s): acked without a row "
                 "(counted lb_dead)",
                 it->board, it->id, it->season, it->t_ms, e, w->failed_what ? w->failed_what : "write", w->failed_msg);
    it->done = 1;
    st->dead++;
}

/* Items @idx[lo..hi) of one board, each half in its own transaction, down to the entry refused alone. */
static void isolate(wk_writer_t *w, wk_lb_batch_t *b, const size_t *idx, size_t lo, size_t hi, const volatile sig_atomic_t *stop,
                    wk_lb_write_stats_t *st)
{
    unsigned e = 0;
    wk_write_result_t r = run_part(w, b, idx + lo, hi - lo, stop, st, &e);
    if (r == WK_WRITE_OK)
        return;
    if (r == WK_WRITE_FAILED && wk_poison_row_error(e)) {
        if (hi - lo == 1) {
            dead(&b->items[idx[lo]], e, w, st);
            return;
        }
        size_t mid = lo + (hi - lo) / 2;
        isolate(w, b, idx, lo, mid, stop, st);
        isolate(w, b, idx, mid, hi, stop, st);
        return;
    }
    if (r == WK_WRITE_FAILED)
        tk_error("board %s: %zu entries not written (error %u, not caused by one entry's data); they stay pending", b->items[idx[lo]].board,
                 hi - lo, e);
    st->held += hi - lo;
}

wk_write_result_t wk_lb_write(wk_writer_t *w, wk_lb_batch_t *b, const volatile sig_atomic_t *stop, wk_lb_write_stats_t *st)
{
    /* Two index arrays of b->n: the written items, and the scratch of part_body (w->idx). */
    size_t *idx = malloc((b->n + 1) * sizeof(*idx));
    size_t *p = idx != NULL ? tk_grow(w->idx, &w->idx_cap, b->n + 1, sizeof(*p), b->n + 1) : NULL;
    if (p == NULL) {
        free(idx);
        tk_error("out of memory writing %zu board entries; they stay pending", b->n);
        st->held += b->n;
        return WK_WRITE_OK;
    }
    w->idx = p;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (wk_lb_item_written(b, i))
            idx[n++] = i;
    unsigned e = 0;
    wk_write_result_t r = n > 0 ? run_part(w, b, idx, n, stop, st, &e) : WK_WRITE_OK;
    if (r == WK_WRITE_STOPPED)
        tk_warn("stopping with MariaDB unreachable: %zu board entries left pending in Redis", b->n);
    if (r == WK_WRITE_FAILED) {
        tk_warn("board batch of %zu rows refused (error %u): writing each board in its own transaction", n, e);
        st->splits++;
        /* The items are sorted by board: each board is one run of idx. */
        for (size_t lo = 0; lo < n;) {
            size_t hi = lo + 1;
            while (hi < n && strcmp(b->items[idx[hi]].board, b->items[idx[lo]].board) == 0)
                hi++;
            isolate(w, b, idx, lo, hi, stop, st);
            lo = hi;
        }
        r = WK_WRITE_OK;
    }
    free(idx);
    return r;
}
