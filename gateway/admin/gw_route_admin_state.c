/*
 * POST /v1/admin/events/{E}/state {"state":"open"|"paused"|"closed"}:
 * MariaDB first, then the Redis hash (lua/admin_state.lua), which the claim
 * script reads on every call; see gw_admin.c.
 *
 * Two changes at once end with both stores equal: under the events row lock
 * each change writes its state with state_ver + 1 and commits; its Redis
 * step sends that state and version after the commit, and the script keeps
 * the newer version whatever order the steps arrive in — the last
 * committed state wins in Redis as it does in MariaDB. A step lost to a 503
 * is re-done by the retry with the same Idempotency-Key (from what MariaDB
 * holds then), or overtaken by the next change.
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

#define STATE_CAP 16 /* bytes of a state, NUL included */

typedef struct {
    gw_admin_ids_t id;
    char state[STATE_CAP]; /* asked; for a replay, what MariaDB holds */
    gw_idem_t idem;
    int raced;
    long long ver; /* as committed */
} state_in_t;

static const char sql_find[] = "SELECT state, state_ver FROM events WHERE event_id = ? FOR UPDATE";
static const char sql_read[] = "SELECT state, state_ver FROM events WHERE event_id = ?";
static const char sql_update[] = "UPDATE events SET state = ?, state_ver = ?, updated_at = ? WHERE event_id = ?";

/* The event's row with @sql (sql_find or sql_read): its state into @state (NUL-terminated), its version. 404 when none. */
static unsigned read_state(MYSQL *db, gw_dbjob_t *job, const state_in_t *in, const char *sql, char state[STATE_CAP], long long *ver)
{
    MYSQL_BIND b[1], out[2];
    unsigned long elen, slen;
    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_strbuf(&out[0], state, STATE_CAP - 1, &slen);
    tk_sql_bind_i64(&out[1], ver);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql, b, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->id.event_id);
        return GW_DBTXN_ANSWERED;
    }
    state[slen < STATE_CAP - 1 ? slen : STATE_CAP - 1] = '\0';
    return 0;
}

static unsigned update_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    state_in_t *in = arg;
    MYSQL_BIND b[4];
    unsigned long elen, slen;
    char old[STATE_CAP];
    long long ver;
    MYSQL_TIME now;
    unsigned e = read_state(db, job, in, sql_find, old, &ver);
    if (e != 0)
        return e;
    in->ver = ver + 1;
    tk_db_time_from_ms(tk_time_now_ms(), &now);
    tk_sql_bind_str(&b[0], in->state, &slen, strlen(in->state));
    tk_sql_bind_i64(&b[1], &in->ver);
    tk_sql_bind_time(&b[2], &now, NULL);
    tk_sql_bind_str(&b[3], in->id.event_id, &elen, in->id.elen);
    if ((e = tk_sql_stmt(db, sql_update, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    return gw_idem_record(db, job, &in->idem, in->id.event_id, in->id.elen, 200, &in->raced);
}

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    state_in_t *in = arg;
    return read_state(db, job, in, sql_read, in->state, &in->ver);
}

/* Sets Redis's state to in->state at version in->ver and answers the event. Returns 0, or -1 with the job answered. */
static int redis_step(gw_dbjob_t *job, gw_dbconn_t *conn, state_in_t *in)
{
    char key[TK_KEY_MAX], ver[24];
    tk_key(TK_KEY_EV, in->id.event_id, in->id.elen, key);
    snprintf(ver, sizeof(ver), "%lld", in->ver);
    /*
     * tk:wq:rooms (another slot on a cluster): an event opened again lists its waiting room again (the admitter
     * drops a closed one). Before the script, so a crash after it leaves the room listed; after it, so a room the
     * admitter dropped in between (it still saw the event closed) is listed again. A room-less event listed so
     * is dropped by the admitter's next step (room off).
     */
    int list = strcmp(in->state, "closed") != 0;
    if (list && gw_admin_sadd(job, conn, TK_KEY_WQ_ROOMS, in->id.event_id, in->id.elen) != 0)
        return -1;
    const char *argv[] = {key, in->state, ver};
    size_t lens[] = {strlen(key), strlen(in->state), strlen(ver)};
    redisReply *reply = gw_admin_eval(job, conn, "state", 1, 3, argv, lens);
    if (reply == NULL)
        return -1;
    int rc = gw_admin_step_reply(job, reply, in->id.event_id, "state");
    freeReplyObject(reply);
    if (rc != 0 || (list && gw_admin_sadd(job, conn, TK_KEY_WQ_ROOMS, in->id.event_id, in->id.elen) != 0))
        return -1;
    gw_admin_answer_event(job, conn, in->id.event_id, in->id.elen, 200);
    return job->status == 200 ? 0 : -1;
}

/* A replay: Redis set from what MariaDB holds now (the committed change, or a newer one). */
static int redo(gw_dbjob_t *job, gw_dbconn_t *conn, void *arg)
{
    state_in_t *in = arg;
    if (gw_dbtxn_run(job, conn, read_body, in) != 0)
        return -1;
    return redis_step(job, conn, in);
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    state_in_t *in = job->in;
    if (gw_idem_change(job, conn, &in->idem, update_body, &in->raced, redo, in) == 0 && redis_step(job, conn, in) == 0)
        gw_idem_store_answer(job, conn, &in->idem);
}

void gw_route_admin_state(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_ADMIN_BODY_ERR_MAX];
    state_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in == NULL)
        return;
    gw_admin_req_body(r, &body, &len);
    if (gw_admin_parsed(r, gw_admin_body_parse_state(body, len, in->state, err, sizeof(err)), err) != 0 ||
        gw_idem_prepare(r, &in->idem, "state", "%s\n%s", in->id.event_id, in->state) != 0) {
        free(in);
        return;
    }
    gw_admin_submit(r, run, in, free);
}
