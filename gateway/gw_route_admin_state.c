/*
 * POST /v1/admin/events/{E}/state {"state":"open"|"paused"|"closed"}:
 * MariaDB first, then the Redis hash (lua/admin_state.lua), which the claim
 * script reads on every call; see gw_admin.c.
 */
#include "gw_admin.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    char state[8];
} state_in_t;

static const char sql_find[] = "SELECT state FROM events WHERE event_id = ? FOR UPDATE";
static const char sql_update[] = "UPDATE events SET state = ?, updated_at = ? WHERE event_id = ?";

static unsigned update_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    state_in_t *in = arg;
    MYSQL_BIND b[3], out[1];
    unsigned long elen, slen, olen;
    char old[16];
    MYSQL_TIME now;
    gw_admin_bind_str(&b[0], in->event_id, &elen, in->elen);
    gw_admin_bind_strbuf(&out[0], old, sizeof(old) - 1, &olen);
    unsigned long long rows = 0;
    unsigned e = gw_admin_stmt(db, sql_find, b, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->event_id);
        return GW_ADMIN_TXN_ANSWERED;
    }
    tk_db_time_from_ms(tk_time_now_ms(), &now);
    gw_admin_bind_str(&b[0], in->state, &slen, strlen(in->state));
    gw_admin_bind_time(&b[1], &now, NULL);
    gw_admin_bind_str(&b[2], in->event_id, &elen, in->elen);
    return gw_admin_stmt(db, sql_update, b, NULL, 0, NULL, NULL, NULL);
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    state_in_t *in = job->in;
    if (gw_admin_txn(job, conn, update_body, in) != 0)
        return;
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_EV, in->event_id, in->elen, key);
    const char *argv[] = {key, in->state};
    size_t lens[] = {strlen(key), strlen(in->state)};
    redisReply *reply = gw_admin_eval(job, conn, "state", 1, 2, argv, lens);
    if (reply == NULL)
        return;
    int ok = 0;
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)
        gw_dbjob_error(job, 503, "unavailable", "redis refused the state change");
    else if (strcmp(reply->str, "OK") == 0)
        ok = 1;
    else if (strcmp(reply->str, "not_found") == 0)
        gw_dbjob_error(job, 404, "not_found", "event %s is not loaded in redis", in->event_id);
    else
        gw_dbjob_error(job, 500, "internal", "unexpected answer from the state script");
    freeReplyObject(reply);
    if (ok)
        gw_admin_answer_event(job, conn, in->event_id, in->elen, 200);
}

void gw_route_admin_state(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_ADMIN_ERR_MAX];
    state_in_t *in = calloc(1, sizeof(*in));
    if (in == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    gw_admin_body(r, &body, &len);
    if (gw_admin_parse_state(body, len, in->state, err, sizeof(err)) != 0) {
        free(in);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    memcpy(in->event_id, r->event_id, r->elen + 1);
    in->elen = r->elen;
    gw_admin_submit(r, run, in, free);
}
