/*
 * GET /v1/events/{event_id}/claims/{user_id} — a user's claim and its
 * status, from Redis (pending, then confirmed once a worker has stored it).
 *
 * Off the fast path (gw_path.h: lost, grant, merge) MariaDB is asked first.
 * The fallback's grants are rows in MariaDB that Redis does not hold until
 * the merge has rebuilt the event, and Redis may be reachable again (merge)
 * while that has not happened: its "no such claim" would be a 404 for a
 * claim answered 201. A row is the answer; without one, Redis is asked as on
 * the fast path (it holds the claims it granted before the outage, and in
 * these modes no claim is sent to it, so nothing can appear in between).
 */
#include "gw_admin.h"
#include "gw_dbpool.h"
#include "gw_fallback.h"
#include "gw_path.h"
#include "gw_rebuild.h"
#include "gw_routes.h"
#include "tk_claim.h"
#include "tk_keys.h"

#include <stdio.h>
#include <string.h>

static void on_claim(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_req_t *r = data;
    (void)redis;
    tk_claim_t c;
    char body[TK_CLAIM_JSON_MAX];
    int n;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_reply_unavailable(r, "redis");
    } else if (reply->type == REDIS_REPLY_NIL && gw_rebuild_active(r->th->server)) {
        gw_reply_unavailable(r, "redis"); /* the claims may be on their way back from MariaDB (gw_rebuild) */
    } else if (reply->type == REDIS_REPLY_NIL) {
        gw_reply_errorf(r, 404, "not_found", "no claim of user %s on event %s", r->user_id, r->event_id);
    } else if (reply->type != REDIS_REPLY_STRING || tk_claim_decode(reply->str, reply->len, &c) != 0 ||
               (n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, &c, c.status == TK_CLAIM_REJECTED ? "stock_guard" : NULL,
                                  body)) < 0) {
        gw_reply_error(r, 500, "internal", "malformed claim record");
    } else {
        gw_reply(r, 200, body, (size_t)n, NULL);
    }
    gw_req_release(r);
}

static void redis_lookup(gw_req_t *r)
{
    char key[TK_KEY_MAX];
    int klen = tk_key(TK_KEY_CLAIMS, r->event_id, r->elen, key);
    const char *argv[] = {"HGET", key, r->user_id};
    size_t lens[] = {4, (size_t)klen, r->ulen};
    if (gw_redis_command(r->th->redis, on_claim, gw_req_ref(r), 3, argv, lens) != 0) {
        gw_req_release(r);
        gw_fallback_status(r); /* Redis is away: a claim MariaDB holds is still answered */
    }
}

/* ---------------------------------------------------------------- MariaDB first */

static const char sql_claim[] = "SELECT ticket, quantity, status, created_at, COALESCE(reason, 'stock_guard') FROM claims "
                                "WHERE event_id = ? AND user_id = ?";

/* Internal to this file, never sent: MariaDB has no row, Redis is asked. */
#define NO_ROW 204

/* The user's row as the API's JSON (job answered 200), or NO_ROW. */
static unsigned read_row(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    (void)arg;
    const gw_req_t *r = job->r;
    MYSQL_BIND in[2], out[5];
    unsigned long elen, ulen, slen, rlen;
    long long ticket, qty;
    char status[16], reason[64];
    MYSQL_TIME created;
    unsigned long long rows = 0;
    memset(&created, 0, sizeof(created));
    gw_admin_bind_str(&in[0], r->event_id, &elen, r->elen);
    gw_admin_bind_str(&in[1], r->user_id, &ulen, r->ulen);
    gw_admin_bind_i64(&out[0], &ticket);
    gw_admin_bind_i64(&out[1], &qty);
    gw_admin_bind_strbuf(&out[2], status, sizeof(status) - 1, &slen);
    gw_admin_bind_time(&out[3], &created, NULL);
    gw_admin_bind_strbuf(&out[4], reason, sizeof(reason) - 1, &rlen);
    unsigned e = gw_admin_stmt(db, sql_claim, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows != 1) {
        gw_dbjob_answer(job, NO_ROW, "", 0);
        return 0;
    }
    status[slen < sizeof(status) - 1 ? slen : sizeof(status) - 1] = '\0';
    reason[rlen < sizeof(reason) - 1 ? rlen : sizeof(reason) - 1] = '\0';
    tk_claim_t c = {ticket, qty, tk_db_time_to_ms(&created), TK_CLAIM_CONFIRMED};
    char body[TK_CLAIM_JSON_MAX];
    int n;
    if (tk_claim_status_from_name(status, &c.status) != 0 ||
        (n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, &c, c.status == TK_CLAIM_REJECTED ? reason : NULL, body)) < 0) {
        gw_dbjob_error(job, 500, "internal", "malformed claim row");
        return GW_ADMIN_TXN_ANSWERED;
    }
    gw_dbjob_answer(job, 200, body, (size_t)n);
    return 0;
}

static void db_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_admin_txn(job, conn, read_row, NULL); /* answers 503/500 itself when MariaDB fails */
}

/* Loop thread: the row's answer, or Redis's when MariaDB has no row. */
static void db_done(gw_dbjob_t *job)
{
    gw_req_t *r = job->r;
    if (job->status == NO_ROW) {
        redis_lookup(r);
        return;
    }
    if (job->status == 503 && r->req != NULL)
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    gw_reply(r, job->status, job->body != NULL ? job->body : "", job->len, NULL);
}

void gw_route_claim_get(gw_req_t *r)
{
    if (gw_path_mode(r->th->server->path) == GW_PATH_FAST) {
        redis_lookup(r);
        return;
    }
    gw_dbjob_t *job = gw_dbjob_new(r, db_run);
    if (job == NULL) {
        gw_reply_unavailable(r, "database");
        return;
    }
    job->done = db_done;
    gw_dbpool_submit(r->th->server->dbpool, job);
}
