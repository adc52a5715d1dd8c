#include "tk_sql.h"
#include "tk_log.h"

#include <string.h>

void tk_sql_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len, size_t n)
{
    memset(b, 0, sizeof(*b));
    *len = (unsigned long)n;
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)s;
    b->buffer_length = *len;
    b->length = len;
}

void tk_sql_bind_strbuf(MYSQL_BIND *b, char *buf, size_t cap, unsigned long *len)
{
    memset(b, 0, sizeof(*b));
    *len = 0;
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = buf;
    b->buffer_length = (unsigned long)cap;
    b->length = len;
}

void tk_sql_bind_i64(MYSQL_BIND *b, long long *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
}

void tk_sql_bind_u64(MYSQL_BIND *b, unsigned long long *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
    b->is_unsigned = 1;
}

void tk_sql_bind_time(MYSQL_BIND *b, MYSQL_TIME *t, my_bool *is_null)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_DATETIME;
    b->buffer = t;
    b->is_null = is_null;
}

static unsigned stmt_errno(MYSQL_STMT *st, const char *sql)
{
    unsigned e = mysql_stmt_errno(st);
    tk_debug("statement failed (%u %s): %s", e, mysql_stmt_error(st), sql);
    return e != 0 ? e : 2000; /* CR_UNKNOWN_ERROR */
}

unsigned tk_sql_stmt(MYSQL *db, const char *sql, MYSQL_BIND *in, MYSQL_BIND *out, unsigned max_rows, void (*row)(void *arg),
                       void *arg, unsigned long long *rows)
{
    unsigned e = 0;
    unsigned long long n = 0;
    MYSQL_STMT *st = mysql_stmt_init(db);
    if (st == NULL)
        return mysql_errno(db) != 0 ? mysql_errno(db) : 2008; /* CR_OUT_OF_MEMORY */
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0 || (in != NULL && mysql_stmt_bind_param(st, in) != 0) ||
        mysql_stmt_execute(st) != 0) {
        e = stmt_errno(st, sql);
        goto done;
    }
    if (out == NULL) {
        n = mysql_stmt_affected_rows(st);
        goto done;
    }
    if (mysql_stmt_bind_result(st, out) != 0) {
        e = stmt_errno(st, sql);
        goto done;
    }
    /* Bounded: at most max_rows rows are delivered, then the rest is drained. */
    for (unsigned guard = 0; guard <= max_rows + 1; guard++) {
        int rc = mysql_stmt_fetch(st);
        if (rc == MYSQL_NO_DATA)
            break;
        if (rc == 1) {
            e = stmt_errno(st, sql);
            break;
        }
        if (n < max_rows) {
            n++;
            if (row != NULL)
                row(arg);
        }
    }
    mysql_stmt_free_result(st);
done:
    mysql_stmt_close(st);
    if (rows != NULL)
        *rows = n;
    return e;
}
