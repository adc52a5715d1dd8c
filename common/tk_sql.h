/*
 * tk_sql: prepared statements with the MySQL C API, as every MariaDB user of
 * the project writes them (the gateway's admin routes, lock table and
 * fallback; the worker's writer): parameters and results bound from plain C
 * values, and one call that prepares, executes, fetches and closes.
 *
 * Binding never copies: a bound buffer (and its length word) must live until
 * the statement that uses it has run. Errors are MariaDB error numbers
 * (0: none), to be sorted with tk_db_classify.
 */
#ifndef TK_SQL_H
#define TK_SQL_H

#include <mysql.h>
#include <stddef.h>

/** Binds @n bytes at @s as a string parameter; @len must outlive the statement. */
void tk_sql_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len, size_t n);

/** Binds a result buffer of @cap bytes for a string column; its length goes to @len. */
void tk_sql_bind_strbuf(MYSQL_BIND *b, char *buf, size_t cap, unsigned long *len);

/** Binds a signed 64-bit integer (parameter or result). */
void tk_sql_bind_i64(MYSQL_BIND *b, long long *v);

/** Binds an unsigned 64-bit integer (parameter or result). */
void tk_sql_bind_u64(MYSQL_BIND *b, unsigned long long *v);

/** Binds a DATETIME; @is_null may be NULL (never null). */
void tk_sql_bind_time(MYSQL_BIND *b, MYSQL_TIME *t, my_bool *is_null);

/**
 * Prepares @sql, binds @in (NULL: no parameters), executes it and, when @out
 * is not NULL, binds @out and fetches up to @max_rows rows, calling @row
 * (may be NULL) after each with @arg. Sets *@rows (may be NULL) to the rows
 * fetched, or to the rows affected for a statement without @out. Returns 0
 * or a MariaDB error number. The statement is closed before returning.
 */
unsigned tk_sql_stmt(MYSQL *db, const char *sql, MYSQL_BIND *in, MYSQL_BIND *out, unsigned max_rows, void (*row)(void *arg),
                     void *arg, unsigned long long *rows);

#endif
