#include "it_db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_env.h"
#include "tk_db.h"

MYSQL *it_db_connect(void)
{
    const it_env_t *env = it_env();
    if (env == NULL)
        return NULL;
    tk_db_conf_t conf = {
        .host = "127.0.0.1",
        .port = env->db_port,
        .user = env->db_user,
        .password = env->db_password,
        .name = env->db_name,
        .connect_timeout_s = 3,
    };
    char err[512];
    MYSQL *db = tk_db_connect(&conf, err, sizeof err);
    if (db == NULL)
        fprintf(stderr, "it_db: %s\n", err);
    return db;
}

static int vquery(MYSQL *db, const char *fmt, va_list ap)
{
    char sql[2048];
    int n = vsnprintf(sql, sizeof sql, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof sql) {
        fprintf(stderr, "it_db: statement too long\n");
        return -1;
    }
    if (mysql_real_query(db, sql, (unsigned long)n) != 0) {
        fprintf(stderr, "it_db: %s: %s\n", sql, mysql_error(db));
        mysql_rollback(db);
        return -1;
    }
    return 0;
}

int it_db_exec(MYSQL *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vquery(db, fmt, ap);
    va_end(ap);
    if (rc == 0 && mysql_commit(db) != 0) {
        fprintf(stderr, "it_db: commit: %s\n", mysql_error(db));
        return -1;
    }
    return rc;
}

long long it_db_int(MYSQL *db, long long dflt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vquery(db, fmt, ap);
    va_end(ap);
    if (rc != 0)
        return -1;
    MYSQL_RES *res = mysql_store_result(db);
    long long v = dflt;
    if (res != NULL) {
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row != NULL && row[0] != NULL)
            v = strtoll(row[0], NULL, 10);
        mysql_free_result(res);
    } else if (mysql_field_count(db) != 0) {
        fprintf(stderr, "it_db: store result: %s\n", mysql_error(db));
        v = -1;
    }
    mysql_commit(db);
    return v;
}

int it_db_clean(MYSQL *db)
{
    static const char *const tables[] = {"admin_requests", "claims_dead", "claims",      "event_locks",   "event_stock",
                                         "event_priority", "events",      "board_scores", "board_seasons", "boards",
                                         "gateway_beats"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (it_db_exec(db, "DELETE FROM %s", tables[i]) != 0)
            return -1;
    return 0;
}

it_db_claim_row_t *it_db_claim_rows(MYSQL *db, const char *ev, size_t *count)
{
    char q[256];
    *count = 0;
    mysql_query(db, "COMMIT");
    snprintf(q, sizeof q,
             "SELECT user_id, claim_id, ticket, quantity, status FROM claims WHERE event_id='%s' ORDER BY ticket, user_id", ev);
    if (mysql_query(db, q) != 0) {
        fprintf(stderr, "it_db: %s: %s\n", q, mysql_error(db));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(db);
    if (res == NULL)
        return NULL;
    size_t n = (size_t)mysql_num_rows(res);
    it_db_claim_row_t *rows = calloc(n + 1, sizeof *rows);
    MYSQL_ROW row;
    size_t i = 0;
    while (rows != NULL && (row = mysql_fetch_row(res)) != NULL && i < n) {
        snprintf(rows[i].user, sizeof rows[i].user, "%s", row[0] ? row[0] : "");
        snprintf(rows[i].claim_id, sizeof rows[i].claim_id, "%s", row[1] ? row[1] : "");
        rows[i].ticket = row[2] ? strtoll(row[2], NULL, 10) : -1;
        rows[i].quantity = row[3] ? strtoll(row[3], NULL, 10) : -1;
        snprintf(rows[i].status, sizeof rows[i].status, "%s", row[4] ? row[4] : "");
        i++;
    }
    mysql_free_result(res);
    mysql_query(db, "COMMIT");
    *count = i;
    return rows;
}
