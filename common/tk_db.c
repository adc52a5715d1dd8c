#include "tk_db.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

MYSQL *tk_db_connect(const tk_db_conf_t *conf, char *err, size_t errlen)
{
    MYSQL *db = mysql_init(NULL);
    if (db == NULL) {
        snprintf(err, errlen, "mysql_init: out of memory");
        return NULL;
    }
    unsigned int timeout = (unsigned int)(conf->connect_timeout_s > 0 ? conf->connect_timeout_s : 2);
    unsigned int rw_timeout = timeout * 3;
    my_bool no = 0;
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(db, MYSQL_OPT_RECONNECT, &no); /* we redo whole transactions ourselves */
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* Two commands: SET SESSION TRANSACTION … cannot share a statement with other variables. */
    mysql_options(db, MYSQL_INIT_COMMAND, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    mysql_options(db, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    if (mysql_real_connect(db, conf->host, conf->user, conf->password, conf->name, (unsigned int)conf->port, NULL, 0) == NULL) {
        snprintf(err, errlen, "cannot connect to MariaDB at %s:%d as %s: %s", conf->host, conf->port, conf->user, mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    if (mysql_autocommit(db, 0) != 0) {
        snprintf(err, errlen, "autocommit off: %s", mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    return db;
}

tk_db_class_t tk_db_classify(unsigned int e)
{
    switch (e) {
    case 0:
        return TK_DB_OK;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_QUERY_INTERRUPTED:
        return TK_DB_RETRY;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_ERROR_ON_WRITE:
    case ER_NET_WRITE_INTERRUPTED:
    case ER_UNKNOWN_COM_ERROR:
    case ER_ABORTING_CONNECTION:
    case ER_NEW_ABORTING_CONNECTION:
    case ER_READ_ONLY_MODE:
        return TK_DB_RECONNECT;
    default:
        /* Other client-side errors (2000-2999) are connection trouble too. */
        return e >= 2000 && e < 3000 ? TK_DB_RECONNECT : TK_DB_FATAL;
    }
}

const char *tk_db_class_name(tk_db_class_t c)
{
    static const char *const names[] = {"ok", "retry", "reconnect", "fatal"};
    return (unsigned)c <= TK_DB_FATAL ? names[c] : "unknown";
}

void tk_db_time_from_ms(int64_t ms, MYSQL_TIME *t)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    memset(t, 0, sizeof(*t));
    t->year = (unsigned)tm.tm_year + 1900;
    t->month = (unsigned)tm.tm_mon + 1;
    t->day = (unsigned)tm.tm_mday;
    t->hour = (unsigned)tm.tm_hour;
    t->minute = (unsigned)tm.tm_min;
    t->second = (unsigned)tm.tm_sec;
    t->second_part = (unsigned long)(ms % 1000) * 1000;
    t->time_type = MYSQL_TIMESTAMP_DATETIME;
}

int64_t tk_db_time_to_ms(const MYSQL_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int)t->year - 1900;
    tm.tm_mon = (int)t->month - 1;
    tm.tm_mday = (int)t->day;
    tm.tm_hour = (int)t->hour;
    tm.tm_min = (int)t->minute;
    tm.tm_sec = (int)t->second;
    return (int64_t)timegm(&tm) * 1000 + (int64_t)(t->second_part / 1000);
}
