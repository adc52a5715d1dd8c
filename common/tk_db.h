/*
 * tk_db: connecting to MariaDB and sorting its errors, for every process.
 *
 * One place decides what an error means (after sysbench's check_error):
 * TK_DB_RETRY  the statement or transaction may simply be run again
 *              (deadlock, lock wait timeout);
 * TK_DB_RECONNECT the connection is gone or unusable: close it, connect
 *              again with backoff, then redo the whole transaction;
 * TK_DB_FATAL  a bug or a schema mismatch: retrying cannot help.
 */
#ifndef TK_DB_H
#define TK_DB_H

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *host;
    int port;
    const char *user;
    const char *password;
    const char *name;
    int connect_timeout_s; /* also bounds reads and writes (x3) */
} tk_db_conf_t;

typedef enum {
    TK_DB_OK = 0,
    TK_DB_RETRY,
    TK_DB_RECONNECT,
    TK_DB_FATAL,
} tk_db_class_t;

/**
 * Opens a TCP connection with autocommit off, utf8mb4, the given timeouts,
 * and READ COMMITTED isolation. Returns the handle (the caller closes it with
 * mysql_close) or NULL with a message in @err.
 */
MYSQL *tk_db_connect(const tk_db_conf_t *conf, char *err, size_t errlen);

/** Sorts a MariaDB client or server error number. 0 is TK_DB_OK. */
tk_db_class_t tk_db_classify(unsigned int mysql_errno);

/** Short name of @c for logs and metrics ("retry", "reconnect", "fatal"). */
const char *tk_db_class_name(tk_db_class_t c);

/** Fills @t (a DATETIME, UTC) from milliseconds since the epoch. */
void tk_db_time_from_ms(int64_t ms, MYSQL_TIME *t);

/** Milliseconds since the epoch of the DATETIME @t (UTC). */
int64_t tk_db_time_to_ms(const MYSQL_TIME *t);

#endif
