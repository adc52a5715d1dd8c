/*
 * POST /v1/admin/events/{E}/stock {"delta":N}: restock (N > 0: MariaDB,
 * then Redis) or reduce the stock (N < 0: Redis, refused below what is
 * granted, then MariaDB), so the database total never falls below Redis's;
 * see gw_admin.c.
 */
#include "gw_admin.h"
#include "gw_routes.h"
#include "tk_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    int64_t delta;
} stock_in_t;

static const char sql_raise[] = "UPDATE event_stock SET total = total + ? WHERE event_id = ?";
/* Written with the magnitude so an unsigned column never sees a negative sum. */
static const char sql_lower[] = "UPDATE event_stock SET total = total - ? WHERE event_id = ? AND total >= sold + ?";

static unsigned update_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    stock_in_t *in = arg;
    MYSQL_BIND b[3];
    unsigned long elen;
    long long mag = in->delta > 0 ? in->delta : -in->delta;
    gw_admin_bind_i64(&b[0], &mag);
    gw_admin_bind_str(&b[1], in->event_id, &elen, in->elen);
    gw_admin_bind_i64(&b[2], &mag);
    unsigned long long rows = 0;
    unsigned e = gw_admin_stmt(db, in->delta > 0 ? sql_raise : sql_lower, b, NULL, 0, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows == 0) {
        if (in->delta > 0)
            gw_dbjob_error(job, 404, "not_found", "no event %s", in->event_id);
        else
            gw_dbjob_error(job, 409, "below_granted", "the database holds more sold units of %s than the new total", in->event_id);
        return GW_ADMIN_TXN_ANSWERED;
    }
    return 0;
}

/* Returns 0 when Redis moved; -1 with the job answered. */
static int redis_step(gw_dbjob_t *job, gw_dbconn_t *conn, stock_in_t *in)
{
    char key[TK_KEY_MAX], delta[24];
    tk_key(TK_KEY_EV, in->event_id, in->elen, key);
    snprintf(delta, sizeof(delta), "%lld", (long long)in->delta);
    const char *argv[] = {key, delta};
    size_t lens[] = {strlen(key), strlen(delta)};
    redisReply *reply = gw_admin_eval(job, conn, "stock", 1, 2, argv, lens);
    if (reply == NULL)
        return -1;
    int rv = -1;
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)
        gw_dbjob_error(job, 503, "unavailable", "redis refused the stock change");
    else if (strcmp(reply->str, "OK") == 0)
        rv = 0;
    else if (strcmp(reply->str, "not_found") == 0)
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->event_id);
    else if (strcmp(reply->str, "below_granted") == 0)
        gw_dbjob_error(job, 409, "below_granted", "event %s has fewer than %lld units not yet granted", in->event_id,
                       (long long)-in->delta);
    else
        gw_dbjob_error(job, 500, "internal", "unexpected answer from the stock script");
    freeReplyObject(reply);
    return rv;
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    stock_in_t *in = job->in;
    if (in->delta > 0) {
        if (gw_admin_txn(job, conn, update_body, in) != 0 || redis_step(job, conn, in) != 0)
            return;
    } else {
        if (redis_step(job, conn, in) != 0 || gw_admin_txn(job, conn, update_body, in) != 0)
            return;
    }
    gw_admin_answer_event(job, conn, in->event_id, in->elen, 200);
}

void gw_route_admin_stock(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_ADMIN_ERR_MAX];
    stock_in_t *in = calloc(1, sizeof(*in));
    if (in == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    gw_admin_body(r, &body, &len);
    if (gw_admin_parse_stock(body, len, &in->delta, err, sizeof(err)) != 0) {
        free(in);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    memcpy(in->event_id, r->event_id, r->elen + 1);
    in->elen = r->elen;
    gw_admin_submit(r, run, in, free);
}
