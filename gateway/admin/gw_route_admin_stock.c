/*
 * POST /v1/admin/events/{E}/stock {"delta":N}: raise (N > 0) or cut (N < 0)
 * an event's total, in MariaDB and in Redis, exactly once per committed
 * change, whatever fails in between and however many changes race.
 *
 * Why both stores end equal
 * -------------------------
 * MariaDB decides. Under the event_stock row lock (the lock every writer of
 * the event's claims takes) the change computes the new total from the
 * locked row, refuses it (below what MariaDB sold: 409 below_granted; above
 * TK_STOCK_MAX: 400 stock_limit) or writes it with stock_ver + 1. The Redis
 * step (lua/admin_stock.lua) is then "make Redis's total this committed
 * total, at this version": inside the script, atomically with the claims,
 * delta = new total - Redis's total is added to total and remaining
 * (HINCRBY, so claims taking units meanwhile are never overwritten), and it
 * is done only if the version is not older than the one Redis last applied
 * (stock_ver in the hash). Hence:
 *  - a step done twice, or late after a newer change, changes nothing: the
 *    last committed total wins in Redis as it does in MariaDB, so two
 *    concurrent changes always end with both stores equal;
 *  - the step can be re-done from MariaDB at any time (a retry with the
 *    same Idempotency-Key re-does it: a 503 after the commit converges).
 * Order, so the database total is never below Redis's (the guard must never
 * refuse what Redis granted, gw_admin.c rule (a)):
 *  - raise: commit, then the Redis step. A failure between leaves Redis
 *    lower (safe); the retry, or the next change, brings it up.
 *  - cut: the Redis step runs while the row lock is held, before the commit:
 *    the script refuses when Redis has granted more than the new total
 *    (409 below_granted, the transaction rolled back: nothing moved). If
 *    MariaDB fails before the step, Redis is untouched; if the commit fails
 *    after it, Redis holds the lower total at a version MariaDB will reuse
 *    for its next change (the script accepts an equal version), so the
 *    retry — or any later change, or a rebuild, which takes MariaDB's
 *    total — sets it right; meanwhile Redis is lower, never higher.
 * While the lock is held no worker, cancel, fallback or rebuild can move
 * this event in MariaDB, so the checks and the step see one state.
 */
#include "gw_admin.h"
#include "gw_admin_body.h"
#include "gw_dbtxn.h"
#include "gw_idem.h"
#include "gw_routes.h"
#include "tk_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_admin_ids_t id;
    int64_t delta;
    gw_idem_t idem;
    gw_dbconn_t *conn; /* the cut's Redis step runs inside the transaction */
    int raced;         /* the Idempotency-Key was taken meanwhile */
    long long total, ver; /* as committed (or read, for a replay) */
} stock_in_t;

static const char sql_lock[] = "SELECT total, sold, stock_ver FROM event_stock WHERE event_id = ? FOR UPDATE";
static const char sql_read[] = "SELECT total, stock_ver FROM event_stock WHERE event_id = ?";
static const char sql_set[] = "UPDATE event_stock SET total = ?, stock_ver = ? WHERE event_id = ?";

/* Sets Redis's total to in->total at version in->ver. Returns 0, or -1 with the job answered. */
static int redis_step(gw_dbjob_t *job, gw_dbconn_t *conn, stock_in_t *in)
{
    char key[TK_KEY_MAX], ver[24], total[24];
    tk_key(TK_KEY_EV, in->id.event_id, in->id.elen, key);
    snprintf(ver, sizeof(ver), "%lld", in->ver);
    snprintf(total, sizeof(total), "%lld", in->total);
    const char *argv[] = {key, ver, total};
    size_t lens[] = {strlen(key), strlen(ver), strlen(total)};
    redisReply *reply = gw_admin_eval(job, conn, "stock", 1, 3, argv, lens);
    if (reply == NULL)
        return -1;
    int rv = -1;
    if ((reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) && strcmp(reply->str, "below_granted") == 0)
        gw_dbjob_error(job, 409, "below_granted", "event %s has more units granted than the new total %lld", in->id.event_id, in->total);
    else
        rv = gw_admin_step_reply(job, reply, in->id.event_id, "stock");
    freeReplyObject(reply);
    return rv;
}

static unsigned update_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    stock_in_t *in = arg;
    MYSQL_BIND b[3], out[3];
    unsigned long elen;
    long long total, sold, ver;
    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_i64(&out[0], &total);
    tk_sql_bind_i64(&out[1], &sold);
    tk_sql_bind_i64(&out[2], &ver);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql_lock, b, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    long long next = total + in->delta; /* |both| <= TK_STOCK_MAX: no overflow */
    if (next > TK_STOCK_MAX) {
        gw_dbjob_error(job, 400, "stock_limit", "the total of %s would be %lld; at most %lld", in->id.event_id, next, (long long)TK_STOCK_MAX);
        return GW_DBTXN_ANSWERED;
    }
    if (next < sold) {
        gw_dbjob_error(job, 409, "below_granted", "the database holds more sold units of %s than the new total", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    in->total = next;
    in->ver = ver + 1;
    tk_sql_bind_i64(&b[0], &in->total);
    tk_sql_bind_i64(&b[1], &in->ver);
    tk_sql_bind_str(&b[2], in->id.event_id, &elen, in->id.elen);
    if ((e = tk_sql_stmt(db, sql_set, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    if ((e = gw_idem_record(db, job, &in->idem, in->id.event_id, in->id.elen, 200, &in->raced)) != 0)
        return e;
    if (in->delta < 0 && redis_step(job, in->conn, in) != 0)
        return GW_DBTXN_ANSWERED; /* refused or failed: the cut is rolled back, Redis untouched */
    return 0;
}

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    stock_in_t *in = arg;
    MYSQL_BIND b[1], out[2];
    unsigned long elen;
    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_i64(&out[0], &in->total);
    tk_sql_bind_i64(&out[1], &in->ver);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql_read, b, out, 1, NULL, NULL, &rows);
    if (e == 0 && rows == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    return e;
}

/* A replay: Redis set from what MariaDB holds now (the committed change, or a newer one), then the event. */
static int redo(gw_dbjob_t *job, gw_dbconn_t *conn, void *arg)
{
    stock_in_t *in = arg;
    if (gw_dbtxn_run(job, conn, read_body, in) != 0 || redis_step(job, conn, in) != 0)
        return -1;
    gw_admin_answer_event(job, conn, in->id.event_id, in->id.elen, 200);
    return job->status == 200 ? 0 : -1;
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    stock_in_t *in = job->in;
    in->conn = conn;
    if (gw_idem_change(job, conn, &in->idem, update_body, &in->raced, redo, in) != 0)
        return;
    if (in->delta > 0 && redis_step(job, conn, in) != 0)
        return;
    gw_admin_answer_event(job, conn, in->id.event_id, in->id.elen, 200);
    gw_idem_store_answer(job, conn, &in->idem);
}

void gw_route_admin_stock(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_ADMIN_BODY_ERR_MAX];
    stock_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in == NULL)
        return;
    gw_admin_req_body(r, &body, &len);
    if (gw_admin_parsed(r, gw_admin_body_parse_stock(body, len, &in->delta, err, sizeof(err)), err) != 0 ||
        gw_idem_prepare(r, &in->idem, "stock", "%s\n%lld", in->id.event_id, (long long)in->delta) != 0) {
        free(in);
        return;
    }
    gw_admin_submit(r, run, in, free);
}
