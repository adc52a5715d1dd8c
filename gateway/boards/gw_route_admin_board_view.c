/*
 * GET /v1/admin/boards/{B}: a board as an operator checks its durability,
 *   {"board":{definition},"season":N,
 *    "seasons":[{"season","started_at","ended_at","users"}…],
 *    "users":U,"pending":P,"database":{"users":D,"checksum":"…"|null},
 *    "redis":{"checksum":"…"|null},"agree":true|false|null,
 *    "checked":"checksums"|"counts"}
 *
 * MariaDB: the boards row (none: 404), the board_seasons rows (the latest
 * GW_BOARD_VIEW_SEASONS) with each season's board_scores rows, the current
 * season's row count D, and, when nothing is pending and the season has at
 * most BOARD_CHECKSUM_MAX users (default 200,000), a checksum: BIT_XOR of
 * CRC32("<user> <c1> <c2> <t_ms> <seq>") over its rows (order-free, one
 * index range scan). Redis: the board hash's season N (absent: 503, the
 * board is not in Redis — being rebuilt, see gw_rebuild.h), ZCARD of the
 * season's zset (U), and under the same conditions the same checksum over
 * its users hash (HSCAN; values "<c1> <c2> <t_ms> <seq>", tk_lb_entry_format).
 * Redis is read first, MariaDB after, so a write that lands in between
 * shows as pending rather than as a disagreement. While entries are
 * pending the checksums are skipped (null): the books cannot agree then,
 * and a drain is watched by polling this view (the benchmark's backlog).
 *
 * pending = the stream entries not yet written to MariaDB: XPENDING's count
 * (delivered to a worker, not acked) plus the group's lag (XINFO GROUPS:
 * entries added but not yet delivered). Not XLEN: XLEN would count entries
 * a worker acked but could not XDEL, and says nothing of what was
 * delivered; it is the fallback only when Redis cannot give the lag
 * (reported null after some deletions) — then XLEN - XPENDING, exact
 * because workers XDEL what they ack (worker/wk_lb_drain.c).
 *
 * agree: true when pending is 0, U = D and the checksums were computed and
 * are equal: the two books hold the same users with the same scores, times
 * and seqs. false when something pending, U != D, or the checksums differ.
 * null when nothing is pending and U = D but the checksums were not computed
 * (over BOARD_CHECKSUM_MAX users): the contents were not compared, so it is
 * not known; never true on counts alone. "checked" says what was compared.
 * Only the current season is compared; closed seasons are not.
 * The figures are read one after the other, not in one snapshot: a board
 * taking writes shows pending > 0 and agree false, which is the truth.
 */
#include "gw_admin.h"
#include "gw_routes.h"
#include "tk_json.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define GW_BOARD_VIEW_SEASONS 1000     /* seasons listed at most, the latest */
#define GW_BOARD_VIEW_SCAN_ROUNDS 100000 /* HSCAN rounds at most (bounded loop) */

typedef struct {
    gw_admin_ids_t id;
} bview_in_t;

typedef struct {
    unsigned season;
    long long start, end, users;
    my_bool end_null;
} bview_season_t;

typedef struct {
    bview_season_t *rows;
    size_t n;
    bview_season_t cur; /* fetch buffer */
} bview_seasons_t;

static void on_season(void *arg)
{
    bview_seasons_t *s = arg;
    s->rows[s->n++] = s->cur;
}

/* The board's checksum term of one row. */
static uint32_t row_crc(const char *user, size_t ulen, const char *val, size_t vlen)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, (const Bytef *)user, (uInt)ulen);
    c = crc32(c, (const Bytef *)" ", 1);
    c = crc32(c, (const Bytef *)val, (uInt)vlen);
    return (uint32_t)c;
}

/* BIT_XOR of row_crc over the users hash @key. 0 with *@sum, -1 on a Redis failure (the job answered 503). */
static int redis_checksum(gw_dbjob_t *job, gw_dbconn_t *conn, const char *key, uint32_t *sum)
{
    *sum = 0;
    char cursor[32] = "0";
    for (long round = 0; round < GW_BOARD_VIEW_SCAN_ROUNDS; round++) {
        redisContext *rc = gw_dbconn_redis_for(conn, key, strlen(key));
        redisReply *rep = rc != NULL ? redisCommand(rc, "HSCAN %s %s COUNT 1000", key, cursor) : NULL;
        if (rep == NULL) {
            if (rc != NULL)
                gw_dbconn_redis_drop(conn, rc);
            gw_dbjob_error(job, 503, "unavailable", "redis unavailable");
            return -1;
        }
        int ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_STRING &&
                 rep->element[0]->len < sizeof(cursor) && rep->element[1]->type == REDIS_REPLY_ARRAY;
        if (!ok) {
            gw_dbjob_error(job, 500, "internal", "HSCAN %s: %s", key, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            freeReplyObject(rep);
            return -1;
        }
        const redisReply *kv = rep->element[1];
        for (size_t i = 0; i + 1 < kv->elements; i += 2)
            *sum ^= row_crc(kv->element[i]->str, kv->element[i]->len, kv->element[i + 1]->str, kv->element[i + 1]->len);
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
        freeReplyObject(rep);
        if (strcmp(cursor, "0") == 0)
            return 0;
    }
    gw_dbjob_error(job, 500, "internal", "HSCAN %s did not end", key);
    return -1;
}

/* Entries of the stream @q not yet written: XPENDING count + lag (above). 0 or -1 (the job answered). */
static int redis_pending(gw_dbjob_t *job, gw_dbconn_t *conn, const char *q, long long *pending)
{
    redisContext *rc = gw_dbconn_redis_for(conn, q, strlen(q));
    if (rc == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "redis unavailable");
        return -1;
    }
    redisAppendCommand(rc, "XPENDING %s %s", q, TK_STREAM_GROUP);
    redisAppendCommand(rc, "XINFO GROUPS %s", q);
    redisAppendCommand(rc, "XLEN %s", q);
    redisReply *rep[3] = {NULL, NULL, NULL};
    int ok = 1;
    for (int i = 0; i < 3 && ok; i++) {
        void *p = NULL;
        ok = redisGetReply(rc, &p) == REDIS_OK;
        rep[i] = p;
    }
    int rc_out = 0;
    if (!ok) {
        gw_dbconn_redis_drop(conn, rc);
        gw_dbjob_error(job, 503, "unavailable", "redis unavailable");
        rc_out = -1;
    } else {
        long long pel = 0, lag = -1, xlen = rep[2]->type == REDIS_REPLY_INTEGER ? rep[2]->integer : 0;
        if (rep[0]->type == REDIS_REPLY_ARRAY && rep[0]->elements >= 1 && rep[0]->element[0]->type == REDIS_REPLY_INTEGER)
            pel = rep[0]->element[0]->integer;
        /* A stream or group lost with Redis answers errors: nothing pending there. */
        if (rep[1]->type == REDIS_REPLY_ARRAY) {
            for (size_t g = 0; g < rep[1]->elements; g++) {
                const redisReply *grp = rep[1]->element[g];
                if (grp->type != REDIS_REPLY_ARRAY)
                    continue;
                int ours = 0;
                long long l = -1;
                for (size_t i = 0; i + 1 < grp->elements; i += 2) {
                    const redisReply *k = grp->element[i], *v = grp->element[i + 1];
                    if (k->type != REDIS_REPLY_STRING)
                        continue;
                    if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING && strcmp(v->str, TK_STREAM_GROUP) == 0)
                        ours = 1;
                    if (strcmp(k->str, "lag") == 0 && v->type == REDIS_REPLY_INTEGER)
                        l = v->integer;
                }
                if (ours)
                    lag = l;
            }
        }
        *pending = lag >= 0 ? pel + lag : (xlen > pel ? xlen : pel);
    }
    for (int i = 0; i < 3; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    return rc_out;
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    bview_in_t *in = job->in;
    const char *board = in->id.event_id;
    size_t blen = in->id.elen;
    MYSQL *db = gw_dbconn_db(conn);
    if (db == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "database unavailable");
        return;
    }
    /* ---- MariaDB: the definition and the seasons */
    char name[804], op[8];
    unsigned long nlen = 0, oplen = 0, bl = 0;
    long long comps = 0, len_s = 0, created = 0;
    MYSQL_BIND bin[2], bout[5];
    tk_sql_bind_str(&bin[0], board, &bl, blen);
    tk_sql_bind_strbuf(&bout[0], name, sizeof(name) - 1, &nlen);
    tk_sql_bind_i64(&bout[1], &comps);
    tk_sql_bind_strbuf(&bout[2], op, sizeof(op) - 1, &oplen);
    tk_sql_bind_i64(&bout[3], &len_s);
    tk_sql_bind_i64(&bout[4], &created);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db,
                             "SELECT name, components, operator, season_length_s, CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED) FROM boards "
                             "WHERE board_id = ?",
                             bin, bout, 1, NULL, NULL, &rows);
    char *body = NULL;
    bview_seasons_t sv = {0};
    if (e) {
        gw_dbconn_db_reset(conn);
        gw_dbjob_error(job, 503, "unavailable", "database unavailable");
        goto out;
    }
    if (rows == 0) {
        mysql_rollback(db);
        gw_dbjob_error(job, 404, "not_found", "no board %s", board);
        goto out;
    }
    name[nlen < sizeof(name) ? nlen : sizeof(name) - 1] = '\0';
    op[oplen < sizeof(op) ? oplen : sizeof(op) - 1] = '\0';

    /* ---- Redis: the current season, its users, what is pending */
    char kb[TK_KEY_MAX], kq[TK_KEY_MAX], kz[TK_KEY_MAX], ku[TK_KEY_MAX];
    tk_lb_key(TK_LB_BOARD, board, blen, 0, kb);
    tk_lb_key(TK_LB_STREAM, board, blen, 0, kq);
    redisContext *rc = gw_dbconn_redis_for(conn, kb, strlen(kb)); /* every key below carries the board's tag */
    redisReply *rep = rc != NULL ? redisCommand(rc, "HGET %s season", kb) : NULL;
    if (rep == NULL) {
        if (rc != NULL)
            gw_dbconn_redis_drop(conn, rc);
        mysql_rollback(db);
        gw_dbjob_error(job, 503, "unavailable", "redis unavailable");
        goto out;
    }
    unsigned long season = 0;
    if (rep->type == REDIS_REPLY_STRING)
        season = strtoul(rep->str, NULL, 10);
    int absent = rep->type == REDIS_REPLY_NIL;
    freeReplyObject(rep);
    if (absent || season == 0) {
        mysql_rollback(db);
        gw_dbjob_error(job, 503, "unavailable", "board %s is not in Redis (being rebuilt from MariaDB?)", board);
        goto out;
    }
    tk_lb_key(TK_LB_RANK, board, blen, (unsigned)season, kz);
    tk_lb_key(TK_LB_USERS, board, blen, (unsigned)season, ku);
    long long pending = 0, users = 0;
    if (redis_pending(job, conn, kq, &pending) != 0) {
        mysql_rollback(db);
        goto out;
    }
    rc = gw_dbconn_redis_for(conn, kz, strlen(kz));
    rep = rc != NULL ? redisCommand(rc, "ZCARD %s", kz) : NULL;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        if (rep == NULL && rc != NULL)
            gw_dbconn_redis_drop(conn, rc);
        if (rep != NULL)
            freeReplyObject(rep);
        mysql_rollback(db);
        gw_dbjob_error(job, 503, "unavailable", "redis unavailable");
        goto out;
    }
    users = rep->integer;
    freeReplyObject(rep);

    /* ---- MariaDB, after Redis's figures (a write meanwhile shows as pending): the seasons with their rows */
    mysql_rollback(db); /* a fresh snapshot: the rows committed until now */
    sv.rows = calloc(GW_BOARD_VIEW_SEASONS, sizeof(*sv.rows));
    if (sv.rows == NULL) {
        mysql_rollback(db);
        gw_dbjob_error(job, 503, "unavailable", "out of memory");
        goto out;
    }
    MYSQL_BIND sout[4];
    memset(sout, 0, sizeof(sout));
    sout[0].buffer_type = MYSQL_TYPE_LONG;
    sout[0].buffer = &sv.cur.season;
    sout[0].is_unsigned = 1;
    tk_sql_bind_i64(&sout[1], &sv.cur.start);
    tk_sql_bind_i64(&sout[2], &sv.cur.end);
    sout[2].is_null = &sv.cur.end_null;
    tk_sql_bind_i64(&sout[3], &sv.cur.users);
    e = tk_sql_stmt(db,
                    "SELECT s.season, s.started_ms, s.ended_ms, (SELECT COUNT(*) FROM board_scores c WHERE c.board_id = s.board_id AND "
                    "c.season = s.season) FROM board_seasons s WHERE s.board_id = ? ORDER BY s.season DESC LIMIT 1000",
                    bin, sout, GW_BOARD_VIEW_SEASONS, on_season, &sv, NULL);
    if (e) {
        gw_dbconn_db_reset(conn);
        gw_dbjob_error(job, 503, "unavailable", "database unavailable");
        goto out;
    }


    /* The checksums only when nothing is pending (else the books cannot agree anyway): a board being drained is
     * polled (the benchmark waits for pending 0), and a checksum over a million rows takes a noticeable time. */
    uint32_t rsum = 0;
    int has_rsum = pending == 0 && users <= conn->conf->board_checksum_max, has_dsum = has_rsum; /* one without the other tells nothing */
    if (has_rsum && redis_checksum(job, conn, ku, &rsum) != 0) {
        mysql_rollback(db);
        goto out;
    }
    long long drows = -1, dsum = 0;
    for (size_t i = 0; i < sv.n && !has_dsum; i++)
        if (sv.rows[i].season == season)
            drows = sv.rows[i].users;
    if (has_dsum || drows < 0) {
        unsigned sseason = (unsigned)season;
        MYSQL_BIND din[2], dout[2];
        tk_sql_bind_str(&din[0], board, &bl, blen);
        memset(&din[1], 0, sizeof(din[1]));
        din[1].buffer_type = MYSQL_TYPE_LONG;
        din[1].buffer = &sseason;
        din[1].is_unsigned = 1;
        tk_sql_bind_i64(&dout[0], &drows);
        tk_sql_bind_i64(&dout[1], &dsum);
        e = tk_sql_stmt(db,
                        has_dsum ? "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS(' ', user_id, c1, c2, t_ms, seq))), 0) FROM board_scores "
                                   "WHERE board_id = ? AND season = ?"
                                 : "SELECT COUNT(*), 0 FROM board_scores WHERE board_id = ? AND season = ?",
                        din, dout, 1, NULL, NULL, NULL);
        if (e) {
            gw_dbconn_db_reset(conn);
            gw_dbjob_error(job, 503, "unavailable", "database unavailable");
            goto out;
        }
    }
    mysql_rollback(db);

    /* ---- the answer */
    size_t cap = 1024 + TK_JSON_ESCAPED_MAX(sizeof(name)) + sv.n * 160;
    body = malloc(cap);
    char *ename = malloc(TK_JSON_ESCAPED_MAX(sizeof(name)));
    if (body == NULL || ename == NULL) {
        free(ename);
        gw_dbjob_error(job, 503, "unavailable", "out of memory");
        goto out;
    }
    tk_json_escape(name, strlen(name), ename);
    char created_s[40];
    tk_time_format_rfc3339(created, created_s);
    size_t n = (size_t)snprintf(body, cap,
                                "{\"board\":{\"board_id\":\"%s\",\"name\":\"%s\",\"components\":%lld,\"operator\":\"%s\","
                                "\"season_length_s\":%lld,\"created_at\":\"%s\"},\"season\":%lu,\"seasons\":[",
                                board, ename, comps, op, len_s, created_s, season);
    free(ename);
    for (size_t i = sv.n; i-- > 0;) {
        const bview_season_t *s = &sv.rows[i];
        char st[40], en[48] = "null";
        tk_time_format_rfc3339(s->start, st);
        if (!s->end_null) {
            char t[40];
            tk_time_format_rfc3339(s->end, t);
            snprintf(en, sizeof(en), "\"%s\"", t);
        }
        n += (size_t)snprintf(body + n, cap - n, "%s{\"season\":%u,\"started_at\":\"%s\",\"ended_at\":%s,\"users\":%lld}",
                              i + 1 == sv.n ? "" : ",", s->season, st, en, s->users);
    }
    char rsum_s[16] = "null", dsum_s[16] = "null";
    if (has_rsum)
        snprintf(rsum_s, sizeof(rsum_s), "\"%08x\"", rsum);
    if (has_dsum)
        snprintf(dsum_s, sizeof(dsum_s), "\"%08x\"", (uint32_t)dsum);
    /* Never "true" on counts alone: equal counts with different contents are a disagreement counts cannot see. */
    const char *agree = pending != 0 || users != drows || (has_rsum && (uint32_t)dsum != rsum) ? "false" : has_rsum ? "true" : "null";
    n += (size_t)snprintf(body + n, cap - n,
                          "],\"users\":%lld,\"pending\":%lld,\"database\":{\"users\":%lld,\"checksum\":%s},\"redis\":{\"checksum\":%s},"
                          "\"agree\":%s,\"checked\":\"%s\"}",
                          users, pending, drows, dsum_s, rsum_s, agree, has_rsum ? "checksums" : "counts");
    gw_dbjob_answer(job, 200, body, n);
out:
    free(body);
    free(sv.rows);
}

void gw_route_admin_board_view(gw_req_t *r)
{
    bview_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in != NULL)
        gw_admin_submit(r, run, in, free);
}
