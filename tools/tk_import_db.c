/*
 * tk_import_db: tk-import's MariaDB statements (tk_import_db.h says what).
 *
 * Why the statements are built here and not copied: the NEWER shape is
 * common/tk_lb.h's TK_LB_UPSERT_* text, the very statement the worker
 * drains with, so the import and a live write are judged by one rule (a
 * higher seq wins) whichever reaches MariaDB last. The SET shape
 * (unconditional, seq 0) is only for seasons Redis no longer keeps.
 *
 * Why multi-row statements in one transaction: 300,000 rows as 600
 * statements of 500 cost one round trip each and one commit (one fsync)
 * in all; one transaction also means a failure leaves none of the rows,
 * so a re-run starts from a known state. Binding never copies (tk_sql.h):
 * the bound values live in @vals until the statement has run.
 */
#include "tk_import_db.h"
#include "tk_lb.h"
#include "tk_lb_csv.h"
#include "tk_sql.h"
#include "tk_valid.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT_ROWS_MAX 1000000000u /* tk_sql_stmt's bound: far past any season */
#define PARAMS 7 /* board, season, user, c1, c2, t_ms, seq (the SET shape binds the first 6: seq is the constant 0) */

int tk_import_db_board(MYSQL *db, const char *board, int *comps, char *err, size_t errlen)
{
    MYSQL_BIND in[1], out[1];
    unsigned long blen;
    unsigned long long c = 0, rows = 0;
    tk_sql_bind_str(&in[0], board, &blen, strlen(board));
    tk_sql_bind_u64(&out[0], &c);
    unsigned e = tk_sql_stmt(db, "SELECT components FROM boards WHERE board_id = ?", in, out, 1, NULL, NULL, &rows);
    mysql_rollback(db);
    if (e != 0) {
        snprintf(err, errlen, "MariaDB: read board: %s (%u)", mysql_error(db), e);
        return -1;
    }
    *comps = 0;
    if (rows == 0)
        return 0;
    if (c != 1 && c != 2) {
        snprintf(err, errlen, "MariaDB: board has %llu components", c);
        return -1;
    }
    *comps = (int)c;
    return 0;
}

/* "INSERT … VALUES (…),(…)… ON DUPLICATE KEY UPDATE …" of @mode for @rows rows; malloc'ed. */
static char *upsert_sql(tk_import_db_mode_t mode, size_t rows)
{
    static const char set_tuple[] = "(?,?,?,?,?,?,0)";
    static const char set_tail[] = " ON DUPLICATE KEY UPDATE c1 = VALUES(c1), c2 = VALUES(c2), t_ms = VALUES(t_ms), seq = 0";
    const char *head = TK_LB_UPSERT_HEAD, *tuple = mode == TK_IMPORT_DB_NEWER ? TK_LB_UPSERT_TUPLE : set_tuple;
    const char *tail = mode == TK_IMPORT_DB_NEWER ? TK_LB_UPSERT_TAIL : set_tail;
    size_t hl = strlen(head), tl = strlen(tuple), tal = strlen(tail);
    size_t cap = hl + rows * (tl + 1) + tal + 1;
    char *sql = malloc(cap);
    if (sql == NULL)
        return NULL;
    char *p = sql;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < rows; i++) {
        if (i > 0)
            *p++ = ',';
        memcpy(p, tuple, tl);
        p += tl;
    }
    memcpy(p, tail, tal + 1);
    return sql;
}

static MYSQL_STMT *prepare(MYSQL *db, tk_import_db_mode_t mode, size_t rows)
{
    char *sql = upsert_sql(mode, rows);
    if (sql == NULL)
        return NULL;
    MYSQL_STMT *st = mysql_stmt_init(db);
    if (st != NULL && mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        mysql_stmt_close(st);
        st = NULL;
    }
    free(sql);
    return st;
}

int tk_import_db_write(MYSQL *db, const char *board, unsigned season, tk_import_db_mode_t mode, const tk_import_row_t *rows, size_t n,
                       tk_import_progress_t *prog, unsigned *db_errno, char *err, size_t errlen)
{
    const size_t params = mode == TK_IMPORT_DB_NEWER ? PARAMS : PARAMS - 1;
    *db_errno = 0;
    int rc = -1;
    MYSQL_STMT *full = NULL, *part = NULL;
    MYSQL_BIND *b = calloc((size_t)TK_IMPORT_DB_ROWS * PARAMS, sizeof(*b));
    /* The bound values of one statement: binding never copies (tk_sql.h). */
    long long *vals = calloc((size_t)TK_IMPORT_DB_ROWS * 4, sizeof(*vals));
    unsigned long *ulens = calloc(TK_IMPORT_DB_ROWS, sizeof(*ulens));
    unsigned long blen = (unsigned long)strlen(board);
    unsigned long long season_v = season;
    if (b == NULL || vals == NULL || ulens == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t done = 0; done < n;) {
        size_t k = n - done < TK_IMPORT_DB_ROWS ? n - done : TK_IMPORT_DB_ROWS;
        MYSQL_STMT **st = k == TK_IMPORT_DB_ROWS ? &full : &part;
        if (*st == NULL && (*st = prepare(db, mode, k)) == NULL)
            goto db_error;
        for (size_t i = 0; i < k; i++) {
            const tk_import_row_t *r = &rows[done + i];
            MYSQL_BIND *p = &b[i * params];
            tk_sql_bind_str(&p[0], board, &blen, blen);
            tk_sql_bind_u64(&p[1], &season_v);
            tk_sql_bind_str(&p[2], r->user, &ulens[i], r->ulen);
            long long *v = &vals[4 * i];
            v[0] = r->c1;
            v[1] = r->c2;
            v[2] = r->t_ms;
            v[3] = r->seq;
            tk_sql_bind_i64(&p[3], &v[0]);
            tk_sql_bind_i64(&p[4], &v[1]);
            tk_sql_bind_i64(&p[5], &v[2]);
            if (mode == TK_IMPORT_DB_NEWER)
                tk_sql_bind_i64(&p[6], &v[3]);
        }
        if (mysql_stmt_bind_param(*st, b) != 0 || mysql_stmt_execute(*st) != 0) {
            *db_errno = mysql_stmt_errno(*st);
            snprintf(err, errlen, "MariaDB: upsert: %s (%u)", mysql_stmt_error(*st), *db_errno);
            goto rollback;
        }
        done += k;
        tk_import_progress_update(prog, done);
    }
    if (mysql_commit(db) != 0)
        goto db_error;
    rc = 0;
    goto out;
db_error:
    *db_errno = mysql_errno(db);
    snprintf(err, errlen, "MariaDB: %s (%u)", mysql_error(db), *db_errno);
rollback:
    mysql_rollback(db);
out:
    if (full != NULL)
        mysql_stmt_close(full);
    if (part != NULL)
        mysql_stmt_close(part);
    free(b);
    free(vals);
    free(ulens);
    return rc;
}

typedef struct {
    FILE *out;
    int comps;
    char user[TK_ID_MAX + 1];
    unsigned long ulen;
    long long c1, c2, t;
    size_t count;
    int failed;
} export_t;

static void export_row(void *arg)
{
    export_t *x = arg;
    char line[TK_LB_CSV_LINE_MAX];
    tk_lb_entry_t e = {.c1 = x->c1, .c2 = x->c2, .t_ms = x->t};
    size_t ulen = x->ulen <= TK_ID_MAX ? x->ulen : 0;
    int n = tk_lb_csv_format(x->user, ulen, &e, x->comps, line);
    if (n < 0 || fwrite(line, 1, (size_t)n, x->out) != (size_t)n) {
        x->failed = 1;
        return;
    }
    x->count++;
}

int tk_import_db_export(MYSQL *db, const char *board, unsigned season, int comps, FILE *out, size_t *count, char *err, size_t errlen)
{
    export_t x = {.out = out, .comps = comps};
    MYSQL_BIND in[2], res[4];
    unsigned long blen;
    unsigned long long season_v = season, rows = 0;
    tk_sql_bind_str(&in[0], board, &blen, strlen(board));
    tk_sql_bind_u64(&in[1], &season_v);
    tk_sql_bind_strbuf(&res[0], x.user, sizeof(x.user), &x.ulen);
    tk_sql_bind_i64(&res[1], &x.c1);
    tk_sql_bind_i64(&res[2], &x.c2);
    tk_sql_bind_i64(&res[3], &x.t);
    if (fprintf(out, "%s\n", tk_lb_csv_header_line(comps)) < 0) {
        snprintf(err, errlen, "write error");
        return -1;
    }
    unsigned e = tk_sql_stmt(db,
                             "SELECT user_id, c1, c2, t_ms FROM board_scores WHERE board_id = ? AND season = ? " TK_LB_ORDER_SQL,
                             in, res, EXPORT_ROWS_MAX, export_row, &x, &rows);
    mysql_rollback(db);
    *count = x.count;
    if (e != 0) {
        snprintf(err, errlen, "MariaDB: export: %s (%u)", mysql_error(db), e);
        return -1;
    }
    if (x.failed || fflush(out) != 0) {
        snprintf(err, errlen, "write error");
        return -1;
    }
    return 0;
}
