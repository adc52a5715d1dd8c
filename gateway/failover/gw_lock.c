#include "gw_lock.h"
#include "tk_sql.h"
#include "tk_valid.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static const char sql_row[] = "INSERT IGNORE INTO event_locks (event_id) VALUES (?)";
static const char sql_take[] = "UPDATE event_locks SET holder = ?, token = ?, expires_at = NOW(3) + INTERVAL ? MICROSECOND "
                               "WHERE event_id = ? AND (token IS NULL OR expires_at IS NULL OR expires_at < NOW(3) OR holder = ?)";
static const char sql_check[] = "SELECT token FROM event_locks WHERE event_id = ? FOR UPDATE";
static const char sql_extend[] = "UPDATE event_locks SET expires_at = NOW(3) + INTERVAL ? MICROSECOND WHERE event_id = ? AND token = ?";
static const char sql_release[] = "UPDATE event_locks SET holder = NULL, token = NULL, expires_at = NULL WHERE event_id = ? AND token = ?";
static const char sql_mark[] = "UPDATE event_locks SET stale_token = ?, stale_since = NOW(3) WHERE event_id = ?";
static const char sql_next[] = "SELECT event_id, stale_token FROM event_locks WHERE stale_token IS NOT NULL AND event_id > ? "
                               "ORDER BY event_id LIMIT 1";
static const char sql_stale[] = "SELECT stale_token FROM event_locks WHERE event_id = ? AND stale_token IS NOT NULL";
static const char sql_clear[] = "UPDATE event_locks SET stale_token = NULL, stale_since = NULL WHERE event_id = ? AND stale_token = ?";

int gw_lock_token(char out[GW_LOCK_TOKEN_LEN + 1])
{
    unsigned char raw[GW_LOCK_TOKEN_LEN / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* The transaction ends here whatever happened: a failed take leaves nothing. */
static unsigned finish(MYSQL *db, unsigned e)
{
    if (e == 0 && mysql_commit(db) != 0)
        e = mysql_errno(db) != 0 ? mysql_errno(db) : 2000;
    if (e != 0)
        mysql_rollback(db);
    return e;
}

unsigned gw_lock_take(MYSQL *db, const char *event, size_t elen, const char *holder, const char *token, long ttl_ms, int *taken)
{
    MYSQL_BIND in[5];
    unsigned long lens[4];
    long long ttl_us = (long long)ttl_ms * 1000;
    unsigned long long rows = 0;
    *taken = 0;
    /* The row exists from the first take on; creating it is part of taking. */
    tk_sql_bind_str(&in[0], event, &lens[0], elen);
    unsigned e = tk_sql_stmt(db, sql_row, in, NULL, 0, NULL, NULL, NULL);
    if (e != 0)
        return finish(db, e);
    tk_sql_bind_str(&in[0], holder, &lens[0], strlen(holder));
    tk_sql_bind_str(&in[1], token, &lens[1], strlen(token));
    tk_sql_bind_i64(&in[2], &ttl_us);
    tk_sql_bind_str(&in[3], event, &lens[2], elen);
    tk_sql_bind_str(&in[4], holder, &lens[3], strlen(holder));
    e = tk_sql_stmt(db, sql_take, in, NULL, 0, NULL, NULL, &rows);
    if (e == 0)
        *taken = rows == 1;
    return finish(db, e);
}

unsigned gw_lock_check(MYSQL *db, const char *event, size_t elen, const char *token, long ttl_ms, int *ok)
{
    MYSQL_BIND in[3], out[1];
    unsigned long lens[3], tlen = 0;
    char got[GW_LOCK_TOKEN_LEN + 1] = "";
    unsigned long long rows = 0;
    *ok = 0;
    tk_sql_bind_str(&in[0], event, &lens[0], elen);
    tk_sql_bind_strbuf(&out[0], got, sizeof(got) - 1, &tlen);
    unsigned e = tk_sql_stmt(db, sql_check, in, out, 1, NULL, NULL, &rows);
    if (e != 0 || rows != 1)
        return e;
    if (tlen != strlen(token) || memcmp(got, token, tlen) != 0)
        return 0; /* released, or taken by another holder after it expired */
    long long ttl_us = (long long)ttl_ms * 1000;
    tk_sql_bind_i64(&in[0], &ttl_us);
    tk_sql_bind_str(&in[1], event, &lens[1], elen);
    tk_sql_bind_str(&in[2], token, &lens[2], strlen(token));
    e = tk_sql_stmt(db, sql_extend, in, NULL, 0, NULL, NULL, NULL);
    if (e == 0)
        *ok = 1;
    return e;
}

/* Runs @sql with (@event, @token) bound and ends the transaction (finish). */
static unsigned exec_event_token(MYSQL *db, const char *sql, const char *event, size_t elen, const char *token)
{
    MYSQL_BIND in[2];
    unsigned long lens[2];
    tk_sql_bind_str(&in[0], event, &lens[0], elen);
    tk_sql_bind_str(&in[1], token, &lens[1], strlen(token));
    return finish(db, tk_sql_stmt(db, sql, in, NULL, 0, NULL, NULL, NULL));
}

unsigned gw_lock_release(MYSQL *db, const char *event, size_t elen, const char *token)
{
    return exec_event_token(db, sql_release, event, elen, token);
}

unsigned gw_lock_mark_stale(MYSQL *db, const char *event, size_t elen, const char *token)
{
    MYSQL_BIND in[2];
    unsigned long lens[2];
    tk_sql_bind_str(&in[0], token, &lens[0], strlen(token));
    tk_sql_bind_str(&in[1], event, &lens[1], elen);
    /* The row exists: the caller's lock was taken on it. */
    return tk_sql_stmt(db, sql_mark, in, NULL, 0, NULL, NULL, NULL);
}

/* A read ends its transaction: the caller's next statement must see commits made meanwhile. */
static unsigned end_read(MYSQL *db, unsigned e)
{
    mysql_rollback(db);
    return e;
}

unsigned gw_lock_next_stale(MYSQL *db, const char *after, char *event, char token[GW_LOCK_TOKEN_LEN + 1], int *found)
{
    MYSQL_BIND in[1], out[2];
    unsigned long alen, elen = 0, tlen = 0;
    unsigned long long rows = 0;
    *found = 0;
    tk_sql_bind_str(&in[0], after, &alen, strlen(after));
    tk_sql_bind_strbuf(&out[0], event, TK_ID_MAX, &elen);
    tk_sql_bind_strbuf(&out[1], token, GW_LOCK_TOKEN_LEN, &tlen);
    unsigned e = tk_sql_stmt(db, sql_next, in, out, 1, NULL, NULL, &rows);
    if (e == 0 && rows == 1 && elen > 0 && elen <= TK_ID_MAX && tlen <= GW_LOCK_TOKEN_LEN) {
        event[elen] = '\0';
        token[tlen] = '\0';
        *found = 1;
    }
    return end_read(db, e);
}

unsigned gw_lock_stale_token(MYSQL *db, const char *event, size_t elen, char token[GW_LOCK_TOKEN_LEN + 1])
{
    MYSQL_BIND in[1], out[1];
    unsigned long len, tlen = 0;
    unsigned long long rows = 0;
    token[0] = '\0';
    tk_sql_bind_str(&in[0], event, &len, elen);
    tk_sql_bind_strbuf(&out[0], token, GW_LOCK_TOKEN_LEN, &tlen);
    unsigned e = tk_sql_stmt(db, sql_stale, in, out, 1, NULL, NULL, &rows);
    token[e == 0 && rows == 1 && tlen <= GW_LOCK_TOKEN_LEN ? tlen : 0] = '\0';
    return end_read(db, e);
}

unsigned gw_lock_clear_stale(MYSQL *db, const char *event, size_t elen, const char *token)
{
    return exec_event_token(db, sql_clear, event, elen, token);
}
