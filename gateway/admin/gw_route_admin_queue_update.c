/*
 * POST /v1/admin/events/{E}/queue {"release_per_s":N} and/or
 * {"paused":true|false}: the operator's controls of a waiting room. MariaDB
 * first, then Redis (lua/admin_queue_set.lua), as the state change does
 * (gw_route_admin_state.c); the answer is the room's view
 * (gw_route_admin_queue_view.c).
 *
 * Under the events row lock the change writes the new rate and pause with
 * wr_ver + 1 and commits (with its Idempotency-Key, gw_idem.h); its Redis
 * step then sends the room's whole settings as committed with that version,
 * and the script keeps the newer version whatever order the steps arrive
 * in, so two updates at once end with both stores equal. The step also
 * moves the event's version, so watchers see the new settings. A step lost
 * to a 503 is re-done by the retry with the same key (from what MariaDB
 * holds then), by the next update, or by a rebuild (common/tk_rebuild.c
 * writes the settings from MariaDB).
 *
 * Only an event whose room is on has one to control: otherwise 409
 * no_waiting_room and nothing changes (a room is chosen at the create).
 */
#include "gw_admin.h"
#include "gw_admin_body.h"
#include "gw_dbtxn.h"
#include "gw_idem.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_admin_ids_t id;
    gw_admin_body_queue_t ask;
    gw_idem_t idem;
    int raced;
    /* The room as committed by this change (for a replay: as MariaDB holds it now). */
    long long rate, ttl_s, paused, ver;
    int64_t opens_ms;
} qset_in_t;

static const char sql_find[] = "SELECT wr_on, wr_release_per_s, wr_access_ttl_s, wr_opens_at, wr_paused, wr_ver "
                               "FROM events WHERE event_id = ? FOR UPDATE";
static const char sql_read[] = "SELECT wr_on, wr_release_per_s, wr_access_ttl_s, wr_opens_at, wr_paused, wr_ver "
                               "FROM events WHERE event_id = ?";
static const char sql_update[] = "UPDATE events SET wr_release_per_s = ?, wr_paused = ?, wr_ver = ?, updated_at = ? WHERE event_id = ?";

/* The event's room with @sql (sql_find or sql_read) into in->rate … in->ver. 404 when no row, 409 when its room is off. */
static unsigned read_room(MYSQL *db, gw_dbjob_t *job, qset_in_t *in, const char *sql)
{
    MYSQL_BIND b[1], out[6];
    unsigned long elen;
    long long on = 0;
    MYSQL_TIME opens;
    my_bool opens_null = 1;
    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_i64(&out[0], &on);
    tk_sql_bind_i64(&out[1], &in->rate);
    tk_sql_bind_i64(&out[2], &in->ttl_s);
    tk_sql_bind_time(&out[3], &opens, &opens_null);
    tk_sql_bind_i64(&out[4], &in->paused);
    tk_sql_bind_i64(&out[5], &in->ver);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql, b, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    if (!on) {
        gw_dbjob_error(job, 409, "no_waiting_room", "event %s has no waiting room", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    in->opens_ms = opens_null ? 0 : tk_db_time_to_ms(&opens);
    in->paused = in->paused != 0;
    return 0;
}

static unsigned update_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    qset_in_t *in = arg;
    unsigned e = read_room(db, job, in, sql_find);
    if (e != 0)
        return e;
    if (in->ask.has_rate)
        in->rate = in->ask.rate;
    if (in->ask.has_paused)
        in->paused = in->ask.paused;
    in->ver++;
    MYSQL_BIND b[5];
    unsigned long elen;
    MYSQL_TIME now;
    tk_db_time_from_ms(tk_time_now_ms(), &now);
    tk_sql_bind_i64(&b[0], &in->rate);
    tk_sql_bind_i64(&b[1], &in->paused);
    tk_sql_bind_i64(&b[2], &in->ver);
    tk_sql_bind_time(&b[3], &now, NULL);
    tk_sql_bind_str(&b[4], in->id.event_id, &elen, in->id.elen);
    if ((e = tk_sql_stmt(db, sql_update, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    return gw_idem_record(db, job, &in->idem, in->id.event_id, in->id.elen, 200, &in->raced);
}

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    return read_room(db, job, arg, sql_read);
}

/* Sets Redis's room to in->rate … at version in->ver and answers the view. Returns 0, or -1 with the job answered. */
static int redis_step(gw_dbjob_t *job, gw_dbconn_t *conn, qset_in_t *in)
{
    char kev[TK_KEY_MAX], kwq[TK_KEY_MAX], rate[24], ttl[24], opens[24], ver[24];
    tk_key(TK_KEY_EV, in->id.event_id, in->id.elen, kev);
    tk_key(TK_KEY_WQ, in->id.event_id, in->id.elen, kwq);
    snprintf(rate, sizeof(rate), "%lld", in->rate);
    snprintf(ttl, sizeof(ttl), "%lld", in->ttl_s);
    snprintf(opens, sizeof(opens), "%lld", (long long)in->opens_ms);
    snprintf(ver, sizeof(ver), "%lld", in->ver);
    const char *argv[] = {kev, kwq, in->id.event_id, rate, ttl, opens, in->paused ? "1" : "0", ver};
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        lens[i] = strlen(argv[i]);
    /* tk:wq:rooms apart (another slot on a cluster): before, so a crash after the script leaves the room listed;
     * after, so a room the admitter dropped meanwhile is listed again (docs/DESIGN.md, "Registries apart from the scripts") */
    if (gw_admin_sadd(job, conn, TK_KEY_WQ_ROOMS, in->id.event_id, in->id.elen) != 0)
        return -1;
    redisReply *reply = gw_admin_eval(job, conn, "queue_set", 2, (int)(sizeof(argv) / sizeof(argv[0])), argv, lens);
    if (reply == NULL)
        return -1;
    int rc = gw_admin_step_reply(job, reply, in->id.event_id, "waiting room");
    freeReplyObject(reply);
    if (rc != 0 || gw_admin_sadd(job, conn, TK_KEY_WQ_ROOMS, in->id.event_id, in->id.elen) != 0)
        return -1;
    gw_admin_queue_answer(job, conn, in->id.event_id, in->id.elen, 200);
    return job->status == 200 ? 0 : -1;
}

/* A replay: Redis set from what MariaDB holds now (the committed change, or a newer one). */
static int redo(gw_dbjob_t *job, gw_dbconn_t *conn, void *arg)
{
    qset_in_t *in = arg;
    if (gw_dbtxn_run(job, conn, read_body, in) != 0)
        return -1;
    return redis_step(job, conn, in);
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    qset_in_t *in = job->in;
    if (gw_idem_change(job, conn, &in->idem, update_body, &in->raced, redo, in) == 0 && redis_step(job, conn, in) == 0)
        gw_idem_store_answer(job, conn, &in->idem);
}

void gw_route_admin_queue_update(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_ADMIN_BODY_ERR_MAX], rate[24] = "-";
    qset_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in == NULL)
        return;
    gw_admin_req_body(r, &body, &len);
    const gw_admin_body_queue_t *q = &in->ask;
    int parsed = gw_admin_parsed(r, gw_admin_body_parse_queue(body, len, &in->ask, err, sizeof(err)), err) == 0;
    if (parsed && q->has_rate)
        snprintf(rate, sizeof(rate), "%lld", (long long)q->rate);
    if (!parsed || gw_idem_prepare(r, &in->idem, "queue", "%s\n%s\n%s", in->id.event_id, rate,
                                   !q->has_paused ? "-" : q->paused ? "paused" : "running") != 0) {
        free(in);
        return;
    }
    gw_admin_submit(r, run, in, free);
}
