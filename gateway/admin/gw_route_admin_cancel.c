/*
 * DELETE /v1/admin/events/{E}/claims/{U}: cancel a claim and return its
 * units to stock. MariaDB first, under the event_stock row lock every
 * writer of the event's claims takes; then Redis (lua/admin_cancel.lua).
 * Idempotent: a retry after a 503 completes what the first call began.
 * See gw_admin.c.
 */
#include "gw_admin.h"
#include "gw_dbtxn.h"
#include "gw_idem.h"
#include "gw_routes.h"
#include "tk_claim.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_admin_ids_t id;
    gw_dbconn_t *conn; /* for the Redis read inside the transaction */
    tk_claim_t claim;  /* the claim as cancelled, for the answer */
    gw_idem_t idem;
    int raced;     /* the Idempotency-Key was taken meanwhile */
    int replaying; /* a replay re-does the cancel (idempotent) without recording the key again */
} cancel_in_t;

static const char sql_lock[] = "SELECT total, sold FROM event_stock WHERE event_id = ? FOR UPDATE";
static const char sql_claim[] = "SELECT ticket, quantity, status, created_at FROM claims WHERE event_id = ? AND user_id = ? FOR UPDATE";
static const char sql_cancel[] = "UPDATE claims SET status = 'cancelled', updated_at = ? WHERE event_id = ? AND user_id = ?";
static const char sql_unsell[] = "UPDATE event_stock SET sold = sold - ? WHERE event_id = ? AND sold >= ?";
static const char sql_hwm[] = "UPDATE event_stock SET ticket_hwm = GREATEST(ticket_hwm, ?) WHERE event_id = ?";
static const char sql_insert[] = "INSERT INTO claims (event_id, user_id, claim_id, ticket, quantity, status, reason, created_at, "
                                 "confirmed_at, updated_at) VALUES (?, ?, ?, ?, ?, 'cancelled', NULL, ?, ?, ?)";

/* The user's record in Redis: 0 found, 1 none, -1 with the job answered. */
static int redis_record(gw_dbjob_t *job, cancel_in_t *in, tk_claim_t *c)
{
    char key[TK_KEY_MAX];
    int klen = tk_key(TK_KEY_CLAIMS, in->id.event_id, in->id.elen, key);
    redisContext *rc = gw_dbconn_redis_for(in->conn, key, (size_t)klen);
    if (rc == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    redisReply *reply = redisCommand(rc, "HGET %s %b", key, in->id.user_id, in->id.ulen);
    if (reply == NULL) {
        gw_dbconn_redis_drop(in->conn, rc);
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    int rv = -1;
    if (reply->type == REDIS_REPLY_NIL)
        rv = 1;
    else if (reply->type == REDIS_REPLY_STRING && tk_claim_decode(reply->str, reply->len, c) == 0)
        rv = 0;
    else
        gw_dbjob_error(job, 500, "internal", "the claim record of %s is malformed", in->id.user_id);
    freeReplyObject(reply);
    return rv;
}

static unsigned cancel_change(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    cancel_in_t *in = arg;
    MYSQL_BIND b[8], out[4];
    unsigned long elen, ulen, slen, clen;
    long long total, sold, ticket, qty;
    char status[16], claim_id[TK_CLAIM_ID_MAX];
    MYSQL_TIME created, now;
    unsigned long long rows = 0;
    unsigned e;

    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_i64(&out[0], &total);
    tk_sql_bind_i64(&out[1], &sold);
    if ((e = tk_sql_stmt(db, sql_lock, b, out, 1, NULL, NULL, &rows)) != 0)
        return e;
    if (rows == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }

    tk_sql_bind_str(&b[1], in->id.user_id, &ulen, in->id.ulen);
    tk_sql_bind_i64(&out[0], &ticket);
    tk_sql_bind_i64(&out[1], &qty);
    tk_sql_bind_strbuf(&out[2], status, sizeof(status) - 1, &slen);
    tk_sql_bind_time(&out[3], &created, NULL);
    if ((e = tk_sql_stmt(db, sql_claim, b, out, 1, NULL, NULL, &rows)) != 0)
        return e;
    tk_db_time_from_ms(tk_time_now_ms(), &now);

    if (rows == 1) {
        status[slen < sizeof(status) - 1 ? slen : sizeof(status) - 1] = '\0';
        in->claim = (tk_claim_t){ticket, qty, tk_db_time_to_ms(&created), TK_CLAIM_CANCELLED};
        if (strcmp(status, "cancelled") == 0)
            return 0; /* already done: a retry */
        if (strcmp(status, "rejected") == 0) {
            gw_dbjob_error(job, 409, "not_cancellable", "the claim of %s was rejected; it holds no units", in->id.user_id);
            return GW_DBTXN_ANSWERED;
        }
        if (strcmp(status, "confirmed") != 0) {
            gw_dbjob_error(job, 500, "internal", "claim row has unknown status %s", status);
            return GW_DBTXN_ANSWERED;
        }
        tk_sql_bind_time(&b[0], &now, NULL);
        tk_sql_bind_str(&b[1], in->id.event_id, &elen, in->id.elen);
        tk_sql_bind_str(&b[2], in->id.user_id, &ulen, in->id.ulen);
        if ((e = tk_sql_stmt(db, sql_cancel, b, NULL, 0, NULL, NULL, NULL)) != 0)
            return e;
        tk_sql_bind_i64(&b[0], &qty);
        tk_sql_bind_str(&b[1], in->id.event_id, &elen, in->id.elen);
        tk_sql_bind_i64(&b[2], &qty);
        if ((e = tk_sql_stmt(db, sql_unsell, b, NULL, 0, NULL, NULL, &rows)) != 0)
            return e;
        if (rows != 1) {
            gw_dbjob_error(job, 500, "internal", "event_stock of %s holds fewer sold units than the claim", in->id.event_id);
            return GW_DBTXN_ANSWERED;
        }
        return 0;
    }

    /* No row yet: the claim, if any, is still on its way through the
     * stream. Under the stock lock no worker can write it meanwhile. */
    tk_claim_t c;
    int rv = redis_record(job, in, &c);
    if (rv < 0)
        return GW_DBTXN_ANSWERED;
    if (rv == 1) {
        gw_dbjob_error(job, 404, "not_found", "no claim of %s on event %s", in->id.user_id, in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    if (c.status == TK_CLAIM_REJECTED) {
        gw_dbjob_error(job, 409, "not_cancellable", "the claim of %s was rejected; it holds no units", in->id.user_id);
        return GW_DBTXN_ANSWERED;
    }
    /* 'p' normally; 'c' or 'x' without a row would mean a lost row: the
     * cancelled row is what the books need in every case. */
    in->claim = (tk_claim_t){c.ticket, c.quantity, c.created_ms, TK_CLAIM_CANCELLED};
    ticket = c.ticket;
    qty = c.quantity;
    int cl = tk_claim_id(in->id.event_id, in->id.elen, c.ticket, claim_id);
    tk_db_time_from_ms(c.created_ms, &created);
    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_str(&b[1], in->id.user_id, &ulen, in->id.ulen);
    tk_sql_bind_str(&b[2], claim_id, &clen, (size_t)cl);
    tk_sql_bind_i64(&b[3], &ticket);
    tk_sql_bind_i64(&b[4], &qty);
    tk_sql_bind_time(&b[5], &created, NULL);
    tk_sql_bind_time(&b[6], &now, NULL);
    tk_sql_bind_time(&b[7], &now, NULL);
    if ((e = tk_sql_stmt(db, sql_insert, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    /* The row stores a ticket: keep "highest ticket stored" true, as the workers do. */
    tk_sql_bind_i64(&b[0], &ticket);
    tk_sql_bind_str(&b[1], in->id.event_id, &elen, in->id.elen);
    return tk_sql_stmt(db, sql_hwm, b, NULL, 0, NULL, NULL, NULL);
}

/* The change, and with it the Idempotency-Key, in one transaction. */
static unsigned cancel_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    cancel_in_t *in = arg;
    unsigned e = cancel_change(db, arg, job);
    if (e != 0 || in->replaying)
        return e;
    return gw_idem_record(db, job, &in->idem, in->id.event_id, in->id.elen, 200, &in->raced);
}

/* Returns 0 with the job answered 200, or -1 with it answered otherwise. */
static int cancel(gw_dbjob_t *job, gw_dbconn_t *conn, cancel_in_t *in)
{
    if (gw_dbtxn_run(job, conn, cancel_body, in) != 0)
        return -1;

    char kc[TK_KEY_MAX], kev[TK_KEY_MAX];
    tk_key(TK_KEY_CLAIMS, in->id.event_id, in->id.elen, kc);
    tk_key(TK_KEY_EV, in->id.event_id, in->id.elen, kev);
    const char *argv[] = {kc, kev, in->id.user_id};
    size_t lens[] = {strlen(kc), strlen(kev), in->id.ulen};
    redisReply *reply = gw_admin_eval(job, conn, "cancel", 2, 3, argv, lens);
    if (reply == NULL)
        return -1;
    int type = reply->type;
    freeReplyObject(reply);
    if (type != REDIS_REPLY_STRING && type != REDIS_REPLY_NIL) {
        gw_dbjob_error(job, 503, "unavailable", "redis could not release the claim; retry to complete the cancel");
        return -1;
    }
    if (type == REDIS_REPLY_NIL)
        tk_warn("cancel %s/%s: the database had the claim but redis has no record", in->id.event_id, in->id.user_id);
    char body[TK_CLAIM_JSON_MAX];
    int n = tk_claim_json(in->id.event_id, in->id.elen, in->id.user_id, in->id.ulen, &in->claim, NULL, body);
    if (n < 0) {
        gw_dbjob_error(job, 500, "internal", "claim too large to show");
        return -1;
    }
    gw_dbjob_answer(job, 200, body, (size_t)n);
    return 0;
}

/* A replay: the cancel is idempotent (a cancelled row is "already done", a
 * released record is left alone), so it is simply done again. */
static int redo(gw_dbjob_t *job, gw_dbconn_t *conn, void *arg)
{
    cancel_in_t *in = arg;
    in->replaying = 1;
    return cancel(job, conn, in);
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    cancel_in_t *in = job->in;
    in->conn = conn;
    if (in->idem.present && gw_idem_replay(job, conn, &in->idem, redo, in))
        return;
    if (cancel(job, conn, in) == 0)
        gw_idem_store_answer(job, conn, &in->idem);
    else if (in->raced && !gw_idem_replay(job, conn, &in->idem, redo, in))
        gw_dbjob_error(job, 503, "unavailable", "the Idempotency-Key is in use; retry");
}

void gw_route_admin_cancel(gw_req_t *r)
{
    cancel_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in == NULL)
        return;
    if (gw_idem_prepare(r, &in->idem, "cancel", "%s\n%s", in->id.event_id, in->id.user_id) != 0) {
        free(in);
        return;
    }
    gw_admin_submit(r, run, in, free);
}
