/*
 * POST /v1/admin/boards: create a leaderboard. MariaDB first (boards and
 * season 1 of board_seasons in one transaction), then Redis
 * (SADD tk:boards, then lua/lb_create.lua: the board hash, its seasons
 * hash, the stream and its group), as an event's create does (gw_admin.c, rule 1).
 *
 * A create whose Redis step failed after the commit is finished by its
 * retry: the retry meets the duplicate key, finds a database row with the
 * same definition and no season or score written since, and loads it
 * (201); anything else is 409 exists, and so is a board Redis already
 * holds. With an Idempotency-Key (gw_idem.h) a retry replays the first
 * answer after redoing the Redis step from the committed row.
 */
#include "gw_admin.h"
#include "gw_board_body.h"
#include "gw_dbtxn.h"
#include "gw_idem.h"
#include "gw_routes.h"
#include "tk_json.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_board_def_t def;
    int64_t now_ms;
    int duplicate; /* set by insert_body when the id is taken */
    gw_idem_t idem;
    int raced; /* the Idempotency-Key was taken meanwhile */
} create_in_t;

static const char sql_board[] = "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES (?, ?, ?, ?, ?, ?)";
static const char sql_season[] = "INSERT INTO board_seasons (board_id, season, started_ms, ended_ms) VALUES (?, 1, ?, NULL)";
static const char sql_read[] = "SELECT b.name, b.components, b.operator, b.season_length_s, b.created_at, "
                               "(SELECT COUNT(*) FROM board_seasons s WHERE s.board_id = b.board_id), "
                               "EXISTS (SELECT 1 FROM board_scores c WHERE c.board_id = b.board_id) "
                               "FROM boards b WHERE b.board_id = ?";

static unsigned insert_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    create_in_t *in = arg;
    const gw_board_def_t *d = &in->def;
    MYSQL_BIND b[6];
    unsigned long blen, nlen, olen;
    long long comps = d->comps, season_len = d->season_len_s, start = in->now_ms;
    MYSQL_TIME now;
    tk_db_time_from_ms(in->now_ms, &now);
    tk_sql_bind_str(&b[0], d->board_id, &blen, d->blen);
    tk_sql_bind_str(&b[1], d->name, &nlen, d->nlen);
    tk_sql_bind_i64(&b[2], &comps);
    tk_sql_bind_str(&b[3], d->op, &olen, strlen(d->op));
    tk_sql_bind_i64(&b[4], &season_len);
    tk_sql_bind_time(&b[5], &now, NULL);
    unsigned e = tk_sql_stmt(db, sql_board, b, NULL, 0, NULL, NULL, NULL);
    if (e == ER_DUP_ENTRY) {
        in->duplicate = 1;
        return GW_DBTXN_ANSWERED; /* roll back; the caller looks at the existing row */
    }
    if (e != 0)
        return e;
    tk_sql_bind_i64(&b[1], &start);
    if ((e = tk_sql_stmt(db, sql_season, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    return gw_idem_record(db, job, &in->idem, d->board_id, d->blen, 201, &in->raced);
}

/* The database row of a board that exists already. */
typedef struct {
    const create_in_t *in;
    gw_board_def_t row;
    int64_t created_ms;
    long long seasons, scored;
    int found;
} existing_t;

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    (void)job;
    existing_t *x = arg;
    gw_board_def_t *r = &x->row;
    MYSQL_BIND in[1], out[7];
    unsigned long blen, nlen, olen;
    long long comps, season_len;
    MYSQL_TIME created;
    *r = (gw_board_def_t){.blen = x->in->def.blen};
    memcpy(r->board_id, x->in->def.board_id, r->blen + 1);
    tk_sql_bind_str(&in[0], r->board_id, &blen, r->blen);
    tk_sql_bind_strbuf(&out[0], r->name, sizeof(r->name) - 1, &nlen);
    tk_sql_bind_i64(&out[1], &comps);
    tk_sql_bind_strbuf(&out[2], r->op, sizeof(r->op) - 1, &olen);
    tk_sql_bind_i64(&out[3], &season_len);
    tk_sql_bind_time(&out[4], &created, NULL);
    tk_sql_bind_i64(&out[5], &x->seasons);
    tk_sql_bind_i64(&out[6], &x->scored);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql_read, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    x->found = rows == 1;
    if (!x->found)
        return 0;
    r->nlen = nlen < sizeof(r->name) ? nlen : sizeof(r->name) - 1;
    r->name[r->nlen] = '\0';
    r->op[olen < sizeof(r->op) ? olen : sizeof(r->op) - 1] = '\0';
    r->comps = (int)comps;
    r->season_len_s = season_len;
    x->created_ms = tk_db_time_to_ms(&created);
    return 0;
}

/*
 * Loads @d (created at @created_ms) into Redis. Returns 0, 1 when the board
 * hash exists already (nothing changed), or -1 with the job answered (503).
 */
static int redis_load(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_board_def_t *d, int64_t created_ms)
{
    char kb[TK_KEY_MAX], ksn[TK_KEY_MAX], kq[TK_KEY_MAX], comps[4], len[24], created[24];
    tk_lb_key(TK_LB_BOARD, d->board_id, d->blen, 0, kb);
    tk_lb_key(TK_LB_SEASONS, d->board_id, d->blen, 0, ksn);
    tk_lb_key(TK_LB_STREAM, d->board_id, d->blen, 0, kq);
    snprintf(comps, sizeof(comps), "%d", d->comps);
    snprintf(len, sizeof(len), "%lld", (long long)d->season_len_s);
    snprintf(created, sizeof(created), "%lld", (long long)created_ms);
    const char *argv[] = {kb, ksn, kq, d->board_id, d->name, comps, d->op, len, created, TK_STREAM_GROUP};
    size_t n = sizeof(argv) / sizeof(argv[0]), lens[sizeof(argv) / sizeof(argv[0])];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    lens[4] = d->nlen;
    /* tk:boards first (another slot on a cluster; lua/lb_create.lua says why this order) */
    if (gw_admin_sadd(job, conn, TK_KEY_BOARDS, d->board_id, d->blen) != 0)
        return -1;
    redisReply *reply = gw_admin_eval_lua(job, conn, "lb_create", 3, (int)n, argv, lens);
    if (reply == NULL)
        return -1;
    int rv = -1;
    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING)
        rv = strcmp(reply->str, "OK") == 0 ? 0 : strcmp(reply->str, "exists") == 0 ? 1 : -1;
    if (rv < 0)
        gw_dbjob_error(job, 503, "unavailable", "redis could not load board %s", d->board_id);
    freeReplyObject(reply);
    return rv;
}

/* Answers the job 201 with board @d as created at @created_ms (season 1 began then). */
static void answer(gw_dbjob_t *job, const gw_board_def_t *d, int64_t created_ms)
{
    char name[TK_JSON_ESCAPED_MAX(TK_NAME_MAX)], at[TK_TIME_RFC3339_LEN + 1], body[2048];
    tk_json_escape(d->name, d->nlen, name);
    tk_time_format_rfc3339(created_ms, at);
    int n = snprintf(body, sizeof(body),
                     "{\"board_id\":\"%s\",\"name\":\"%s\",\"components\":%d,\"operator\":\"%s\",\"season_length_s\":%lld,"
                     "\"season\":1,\"season_started_at\":\"%s\",\"created_at\":\"%s\"}",
                     d->board_id, name, d->comps, d->op, (long long)d->season_len_s, at, at);
    snprintf(job->location, sizeof(job->location), "/v1/boards/%s/top", d->board_id);
    gw_dbjob_answer(job, 201, body, (size_t)n);
}

/*
 * Loads the committed row of this board when nothing has happened to it
 * since its create (season 1 only, no score), then answers 201. @same: the
 * row must also hold exactly this request's definition (a retry without a
 * key), else 409. 0, or -1 with the job answered.
 */
static int finish(gw_dbjob_t *job, gw_dbconn_t *conn, create_in_t *in, int same)
{
    const gw_board_def_t *d = &in->def;
    existing_t x = {.in = in};
    if (gw_dbtxn_run(job, conn, read_body, &x) != 0)
        return -1;
    const gw_board_def_t *r = &x.row;
    if (!x.found) {
        gw_dbjob_error(job, 404, "not_found", "no board %s", d->board_id);
        return -1;
    }
    if (same && (r->nlen != d->nlen || memcmp(r->name, d->name, d->nlen) != 0 || r->comps != d->comps || strcmp(r->op, d->op) != 0 ||
                 r->season_len_s != d->season_len_s)) {
        gw_dbjob_error(job, 409, "exists", "board %s already exists", d->board_id);
        return -1;
    }
    int rv = 1;
    if (x.seasons == 1 && x.scored == 0 && (rv = redis_load(job, conn, r, x.created_ms)) < 0)
        return -1;
    if (rv == 1 && same) { /* Redis holds it (or it has lived since): this is not a create's unfinished step */
        gw_dbjob_error(job, 409, "exists", "board %s already exists", d->board_id);
        return -1;
    }
    answer(job, r, x.created_ms);
    return 0;
}

/* A replay (the create committed under this key): redo the Redis step if it never happened, then answer the board. */
static int redo(gw_dbjob_t *job, gw_dbconn_t *conn, void *arg)
{
    return finish(job, conn, arg, 0);
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    create_in_t *in = job->in;
    const gw_board_def_t *d = &in->def;
    if (gw_idem_change(job, conn, &in->idem, insert_body, &in->raced, redo, in) != 0) {
        if (in->duplicate && !(in->idem.present && gw_idem_replay(job, conn, &in->idem, redo, in)))
            finish(job, conn, in, 1);
        return;
    }
    /* A hash Redis holds that the database did not know is left alone: 409. */
    int rv = redis_load(job, conn, d, in->now_ms);
    if (rv < 0)
        return;
    if (rv == 1) {
        gw_dbjob_error(job, 409, "exists", "board %s already exists in redis", d->board_id);
        return;
    }
    answer(job, d, in->now_ms);
    gw_idem_store_answer(job, conn, &in->idem);
}

void gw_route_board_create(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_BOARD_BODY_ERR_MAX];
    create_in_t *in = gw_admin_in_new(r, sizeof(*in), 0);
    if (in == NULL)
        return;
    in->now_ms = tk_time_now_ms();
    gw_admin_req_body(r, &body, &len);
    const gw_board_def_t *d = &in->def;
    if (gw_admin_parsed(r, gw_board_body_parse_create(body, len, &in->def, err, sizeof(err)), err) != 0 ||
        gw_idem_prepare(r, &in->idem, "board_create", "%s\n%s\n%d\n%s\n%lld", d->board_id, d->name, d->comps, d->op,
                        (long long)d->season_len_s) != 0) {
        free(in);
        return;
    }
    gw_admin_submit(r, run, in, free);
}
