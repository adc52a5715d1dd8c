/*
 * The MariaDB side of the board reads: seasons older than Redis keeps
 * (lua/lb_read.lua answered "old"), from board_scores on a database thread
 * of the client lane (gw_dbpool.h), never on a loop thread.
 *
 * Why the ranks are the ones Redis gave. A closed season no longer
 * changes, and board_scores holds each user's last entry of it (the workers
 * replace a row only by a newer write). The order here is the zset's order
 * spelled in SQL: c1 DESC, c2 DESC, t_ms, seq, user_id (ascii_bin: bytes),
 * the index board_rank. A page of top is that order with LIMIT/OFFSET, so
 * the rank of its i-th row is offset + 1 + i. One user's rank (user,
 * around) is 1 + the rows ranked above its row, counted on board_rank's
 * prefix (c1 > x OR (c1 = x AND (c2 > y OR …))): the same order spelled as
 * a predicate, so the same rank, for a scan of about rank rows instead of
 * the whole season. The named users of ranks (up to 1,000) get theirs from
 * one ROW_NUMBER() over the season: one pass, cheaper there than up to
 * 1,000 counts.
 *
 * Cost, bounded. These reads are public and token-free, and they share the
 * client lane with claim status lookups: a top offset is at most
 * GW_BOARD_DB_OFFSET_MAX here (400 above; OFFSET reads and drops that many
 * rows), and a loop thread has at most BOARD_DB_READS_MAX of them on
 * MariaDB at once (503 beyond, before a job is queued), so old seasons can
 * take only that share of the lane's DB_QUEUE_MAX.
 *
 * Failures: MariaDB unreachable, a connection error, or the lane full or
 * its deadline passed: 503 with Retry-After (gw_dbtxn_run, gw_dbpool.h).
 */
#include "gw_board_read.h"
#include "gw_dbtxn.h"
#include "gw_server.h"
#include "tk_lb.h"
#include "tk_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORDER TK_LB_ORDER_SQL

static const char sql_page[] = "SELECT 0, user_id, c1, c2, t_ms, seq FROM board_scores WHERE board_id = ? AND season = ? " ORDER
                               " LIMIT ? OFFSET ?";
/* The named users' rows with their rank; the IN list is appended (one '?' per user). */
static const char sql_ranked[] = "SELECT rk, user_id, c1, c2, t_ms, seq FROM (SELECT user_id, c1, c2, t_ms, seq, ROW_NUMBER() OVER "
                                 "(" ORDER ") AS rk FROM board_scores WHERE board_id = ? AND season = ?) x WHERE user_id IN (";

/* One user's row with 1 + the count of the rows above it in the season's order (board_rank's prefix). */
static const char sql_user[] =
    "SELECT 1 + (SELECT COUNT(*) FROM board_scores o WHERE o.board_id = s.board_id AND o.season = s.season AND "
    "(o.c1 > s.c1 OR (o.c1 = s.c1 AND (o.c2 > s.c2 OR (o.c2 = s.c2 AND (o.t_ms < s.t_ms OR (o.t_ms = s.t_ms AND "
    "(o.seq < s.seq OR (o.seq = s.seq AND o.user_id < s.user_id))))))))), s.user_id, s.c1, s.c2, s.t_ms, s.seq "
    "FROM board_scores s WHERE s.board_id = ? AND s.season = ? AND s.user_id = ?";

/* One fetched row, bound to the statement's results. */
typedef struct {
    gw_board_read_t *rd;
    long long rank_base; /* a page: the rank of its first row; 0: the row carries its rank */
    long long rk, c1, c2, t_ms, seq;
    char user[TK_ID_MAX + 1];
    unsigned long ulen;
    int bad; /* a row that could not be added (memory, a user id the API would refuse) */
} row_t;

static void on_row(void *arg)
{
    row_t *w = arg;
    gw_board_read_t *rd = w->rd;
    tk_lb_entry_t e = {.c1 = w->c1, .c2 = w->c2, .t_ms = w->t_ms, .seq = w->seq};
    int64_t rank = w->rank_base > 0 ? w->rank_base + (int64_t)rd->n : w->rk;
    if (w->ulen > TK_ID_MAX || gw_board_add_entry(rd, rank, w->user, w->ulen, &e) != 0)
        w->bad = 1;
}

static void bind_row(MYSQL_BIND out[6], row_t *w)
{
    tk_sql_bind_i64(&out[0], &w->rk);
    tk_sql_bind_strbuf(&out[1], w->user, sizeof w->user, &w->ulen);
    tk_sql_bind_i64(&out[2], &w->c1);
    tk_sql_bind_i64(&out[3], &w->c2);
    tk_sql_bind_i64(&out[4], &w->t_ms);
    tk_sql_bind_i64(&out[5], &w->seq);
}

/* Rows @offset .. @offset + @limit - 1 of the season, appended to rd->entries. */
static unsigned page(MYSQL *db, gw_board_read_t *rd, long long offset, long long limit)
{
    const gw_req_t *r = rd->r;
    MYSQL_BIND in[4], out[6];
    unsigned long blen;
    long long season = rd->season_no;
    row_t w = {.rd = rd, .rank_base = offset + 1 - (long long)rd->n};
    tk_sql_bind_str(&in[0], r->event_id, &blen, r->elen);
    tk_sql_bind_i64(&in[1], &season);
    tk_sql_bind_i64(&in[2], &limit);
    tk_sql_bind_i64(&in[3], &offset);
    bind_row(out, &w);
    unsigned e = tk_sql_stmt(db, sql_page, in, out, (unsigned)limit, on_row, &w, NULL);
    return e != 0 ? e : w.bad ? 2008u /* CR_OUT_OF_MEMORY: ours, not MariaDB's */ : 0;
}

/* The rows of @n users (@users[i], NUL-terminated) with their ranks, by rank, appended to rd->entries. */
static unsigned ranked(MYSQL *db, gw_board_read_t *rd, char (*users)[TK_ID_MAX + 1], size_t n)
{
    const gw_req_t *r = rd->r;
    size_t qlen = sizeof sql_ranked + n * 3 + 16;
    char *sql = malloc(qlen);
    MYSQL_BIND *in = calloc(n + 2, sizeof *in);
    unsigned long *lens = calloc(n + 2, sizeof *lens);
    unsigned e = 2008u;
    if (sql == NULL || in == NULL || lens == NULL)
        goto out;
    size_t k = (size_t)snprintf(sql, qlen, "%s", sql_ranked);
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(sql + k, qlen - k, i > 0 ? ",?" : "?");
    snprintf(sql + k, qlen - k, ") ORDER BY rk");
    long long season = rd->season_no;
    tk_sql_bind_str(&in[0], r->event_id, &lens[0], r->elen);
    tk_sql_bind_i64(&in[1], &season);
    for (size_t i = 0; i < n; i++)
        tk_sql_bind_str(&in[2 + i], users[i], &lens[2 + i], strlen(users[i]));
    MYSQL_BIND out[6];
    row_t w = {.rd = rd};
    bind_row(out, &w);
    e = tk_sql_stmt(db, sql, in, out, (unsigned)n, on_row, &w, NULL);
    if (e == 0 && w.bad)
        e = 2008u;
out:
    free(sql);
    free(in);
    free(lens);
    return e;
}

/* The row of r->user_id with its rank, appended to rd->entries (none when the user has no row). */
static unsigned user_ranked(MYSQL *db, gw_board_read_t *rd)
{
    const gw_req_t *r = rd->r;
    MYSQL_BIND in[3], out[6];
    unsigned long blen, ulen;
    long long season = rd->season_no;
    row_t w = {.rd = rd};
    tk_sql_bind_str(&in[0], r->event_id, &blen, r->elen);
    tk_sql_bind_i64(&in[1], &season);
    tk_sql_bind_str(&in[2], r->user_id, &ulen, r->ulen);
    bind_row(out, &w);
    unsigned e = tk_sql_stmt(db, sql_user, in, out, 1, on_row, &w, NULL);
    return e != 0 ? e : w.bad ? 2008u : 0;
}

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    gw_board_read_t *rd = arg;
    (void)job;
    rd->n = 0; /* a redo starts from nothing (gw_dbtxn.h) */
    switch (rd->shape) {
    case GW_BOARD_TOP:
        return page(db, rd, rd->offset, rd->limit);
    case GW_BOARD_RANKS:
        return ranked(db, rd, rd->users, rd->nusers); /* IN () names each user once, whatever the body repeated */
    case GW_BOARD_USER:
    case GW_BOARD_AROUND: {
        unsigned e = user_ranked(db, rd);
        if (e != 0 || rd->shape == GW_BOARD_USER || rd->n == 0)
            return e;
        long long rk = rd->entries[0].rank, first = rk - 1 - rd->radius < 0 ? 0 : rk - 1 - rd->radius;
        rd->n = 0;
        return page(db, rd, first, rk + rd->radius - first);
    }
    }
    return 0;
}

static void read_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_board_read_t *rd = job->in;
    gw_req_t *r = job->r;
    if (gw_dbtxn_run(job, conn, read_body, rd) != 0)
        return; /* answered: 503 (MariaDB away) or 500 */
    if ((rd->shape == GW_BOARD_USER || rd->shape == GW_BOARD_AROUND) && rd->n == 0) {
        gw_dbjob_error(job, 404, "not_found", "user %s has no score in season %" PRId64 " of board %s", r->user_id, rd->season_no,
                       r->event_id);
        return;
    }
    size_t len;
    char *body = gw_board_json(rd, &len);
    if (body == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "out of memory");
        return;
    }
    job->status = 200;
    job->body = body; /* the job owns it now (gw_dbpool.h) */
    job->len = len;
}

void gw_board_db_read(gw_board_read_t *rd)
{
    gw_req_t *r = rd->r;
    if (rd->shape == GW_BOARD_TOP && rd->offset > GW_BOARD_DB_OFFSET_MAX) {
        gw_reply_errorf(r, 400, "bad_request", "offset must be at most %d for season %" PRId64 " (a closed season read from the database)",
                        GW_BOARD_DB_OFFSET_MAX, rd->season_no);
        gw_board_read_free(rd);
        return;
    }
    if (r->th->board_db_reads >= (size_t)r->th->server->conf->board_db_reads_max) {
        gw_metrics_add(&r->th->metrics.shed[GW_SHED_BOARD_DB_READS], 1);
        gw_reply_error(r, 503, "unavailable", "too many reads of old seasons are waiting for the database; retry shortly");
        gw_board_read_free(rd);
        return;
    }
    r->th->board_db_reads++;
    rd->db_held = 1;
    gw_dbjob_t *job = gw_dbjob_new(r, read_run);
    if (job == NULL) {
        gw_reply_unavailable(r, "database");
        gw_board_read_free(rd);
        return;
    }
    job->lane = GW_DBLANE_CLIENT; /* a public read, not admin or control work (gw_dbpool.h) */
    job->in = rd;
    job->in_free = gw_board_read_free;
    gw_dbpool_submit(r->th->server->dbpool, job); /* on -1 it answered 503 and freed the job with rd */
}
