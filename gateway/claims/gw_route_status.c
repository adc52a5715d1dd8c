/*
 * GET /v1/events/{event_id}/claims/{user_id} — a user's claim and its
 * status, from Redis (pending, then confirmed once a worker has stored it).
 * A confirmed claim's record keeps its 'p' in Redis; lua/watermark.lua,
 * given the user, returns it with 'c' once its stream entry is gone, read
 * in one atomic step with the stream (why that is exact: lua/confirm.lua).
 * A rejected claim's reason lives in MariaDB only (the record has one
 * letter): "stock_guard" on its claims row, or "dead_letter" when the drain
 * set its stream entry aside in claims_dead (docs/DESIGN.md, hole 3); that
 * rare answer costs one read on a database thread.
 *
 * Off the fast path (gw_journal.h: lost, grant, merge) MariaDB is asked first.
 * The fallback's grants are rows in MariaDB that Redis does not hold until
 * the merge has rebuilt the event, and Redis may be reachable again (merge)
 * while that has not happened: its "no such claim" would be a 404 for a
 * claim answered 201. A row is the answer; without one, Redis is asked as on
 * the fast path (in these modes no claim is sent to it, so nothing can
 * appear in between). Redis's "no record" is a 404 only when it cannot be
 * Redis's gap: a Redis that came back behind lost grants it had answered,
 * which only the journal knows until the merge writes them (nil_gap
 * below).
 */
#include "gw_admin.h"
#include "gw_dbtxn.h"
#include "gw_dbpool.h"
#include "gw_fallback.h"
#include "gw_fallback_db.h"
#include "gw_journal.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "tk_claim.h"
#include "tk_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_admin_ids_t id;
    tk_claim_t claim; /* as Redis holds it */
    char reason[64];
} reason_in_t;

static const char sql_reason[] = "SELECT COALESCE(reason, 'stock_guard') FROM claims WHERE event_id = ? AND user_id = ? AND status = 'rejected'";
static const char sql_dead[] = "SELECT COUNT(*) FROM claims_dead WHERE event_id = ? AND user_id = ?";

static unsigned reason_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    reason_in_t *in = arg;
    MYSQL_BIND b[2], out[1];
    unsigned long elen, ulen, rlen;
    unsigned long long rows = 0;
    long long dead = 0;
    (void)job;
    tk_sql_bind_str(&b[0], in->id.event_id, &elen, in->id.elen);
    tk_sql_bind_str(&b[1], in->id.user_id, &ulen, in->id.ulen);
    tk_sql_bind_strbuf(&out[0], in->reason, sizeof(in->reason) - 1, &rlen);
    unsigned e = tk_sql_stmt(db, sql_reason, b, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows == 1) {
        in->reason[rlen < sizeof(in->reason) - 1 ? rlen : sizeof(in->reason) - 1] = '\0';
        return 0;
    }
    tk_sql_bind_i64(&out[0], &dead);
    if ((e = tk_sql_stmt(db, sql_dead, b, out, 1, NULL, NULL, &rows)) != 0)
        return e;
    /* Neither (a record a worker marked before claims_dead existed): the stock guard was the only rejection then. */
    snprintf(in->reason, sizeof(in->reason), "%s", dead > 0 ? "dead_letter" : "stock_guard");
    return 0;
}

static void reason_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    reason_in_t *in = job->in;
    if (gw_dbtxn_run(job, conn, reason_body, in) != 0)
        return;
    char body[TK_CLAIM_JSON_MAX];
    int n = tk_claim_json(in->id.event_id, in->id.elen, in->id.user_id, in->id.ulen, &in->claim, in->reason, body);
    if (n < 0) {
        gw_dbjob_error(job, 500, "internal", "claim too large to show");
        return;
    }
    gw_dbjob_answer(job, 200, body, (size_t)n);
}

/* A rejected claim: its reason from MariaDB, on a database thread. */
static void answer_rejected(gw_req_t *r, const tk_claim_t *c)
{
    reason_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in == NULL)
        return;
    in->claim = *c;
    /* A public lookup: the client lane (gw_dbpool.h), not the admin path,
     * whose lane is kept for admin and control work and whose answer marks
     * the events list changed. */
    gw_dbjob_t *job = gw_dbjob_new(r, reason_run);
    if (job == NULL) {
        free(in);
        gw_reply_unavailable(r, "database");
        return;
    }
    job->lane = GW_DBLANE_CLIENT;
    job->in = in;
    job->in_free = free;
    gw_dbpool_submit(r->th->server->dbpool, job);
}

/*
 * What the journal said of the user's claim when the lookup began, before
 * MariaDB was read: a grant written to MariaDB after that read is still
 * covered. Off the fast path only (the fast path is reached through the
 * merge's check, after which Redis holds every grant it answered).
 */
typedef struct {
    int off_fast;           /* the mode was not FAST */
    int tracked;            /* the journal knows the event: info is its */
    int uncertain;          /* the user's last claim got no reply */
    gw_journal_info_t info;
} journal_view_t;

static void journal_view(const gw_req_t *r, journal_view_t *v)
{
    gw_journal_t *j = r->th->server->journal;
    *v = (journal_view_t){.off_fast = gw_journal_mode(j) != GW_MODE_FAST};
    if (!v->off_fast)
        return;
    v->tracked = gw_journal_info(j, r->event_id, r->elen, &v->info) == 0;
    v->uncertain = gw_journal_uncertain_user(j, r->event_id, r->elen, r->user_id, r->ulen);
}

/* One lookup in Redis: owns one reference to @r; freed by on_claim (or by redis_lookup when it was not sent). */
typedef struct {
    gw_req_t *r;
    uint64_t token;     /* gw_rebuild_event_token when sent */
    journal_view_t jv;  /* when the lookup began */
} lookup_t;

/*
 * Redis holds no record of the user on an event whose ticket sequence is
 * @seq (-1: the event hash is missing). The 503 to answer instead of a 404
 * when that may be Redis's gap, not "no claim": 1 for a missing event a
 * rebuild check may be bringing back (pending when the lookup was sent or
 * answered, or ended in between: the token); 2 for grants this gateway
 * answered 201 that Redis may have lost, by the merge's own rule
 * (gw_journal_redis_may_lack: the merge's step 1 writes exactly these),
 * until the merge has written the journal to MariaDB (the rows answer from
 * then on); and 2 for a user
 * whose last claim got no reply, off the fast path (the fallback answers
 * them 503 too). 0: a true 404. An event whose hash Redis holds has its
 * claims hash whole (a rebuild swaps both in one step, lua/
 * rebuild_swap.lua), so a check held up by other events answers nobody
 * 503 here. Limit: another gateway's journal is not known here, so its
 * grants that Redis lost read 404 from this gateway until that gateway's
 * merge writes them (docs/API.md, the status lookup).
 */
static int nil_gap(const lookup_t *lk, long long seq)
{
    const journal_view_t *v = &lk->jv;
    if (seq < 0 && gw_rebuild_event_may_restore(lk->r->th->server, lk->token))
        return 1;
    if (!v->off_fast)
        return 0;
    if (v->uncertain)
        return 2;
    if (v->tracked && gw_journal_redis_may_lack(&v->info, seq))
        return 2;
    return 0;
}

static void on_claim(gw_redis_t *redis, redisReply *reply, void *data)
{
    lookup_t *lk = data;
    gw_req_t *r = lk->r;
    (void)redis;
    tk_claim_t c;
    char body[TK_CLAIM_JSON_MAX];
    int n;
    /* watermark.lua's {seq, oldest, record} */
    long long seq = -1;
    int gap = 0;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
        if (reply->element[0]->type == REDIS_REPLY_INTEGER)
            seq = reply->element[0]->integer;
        reply = reply->element[2]; /* owned by the whole reply, freed by the caller */
    } else if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        reply = NULL;
    }
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_reply_unavailable(r, "redis");
    } else if (reply->type == REDIS_REPLY_NIL && (gap = nil_gap(lk, seq)) == 1) {
        gw_reply_errorf(r, 503, "unavailable", "event %s is being restored in redis; retry shortly", r->event_id);
    } else if (reply->type == REDIS_REPLY_NIL && gap == 2) {
        gw_reply_errorf(r, 503, "unavailable", "redis may have lost claims of event %s that this gateway is restoring; retry shortly",
                        r->event_id);
    } else if (reply->type == REDIS_REPLY_NIL) {
        gw_reply_errorf(r, 404, "not_found", "no claim of user %s on event %s", r->user_id, r->event_id);
    } else if (reply->type != REDIS_REPLY_STRING || tk_claim_decode(reply->str, reply->len, &c) != 0) {
        gw_reply_error(r, 500, "internal", "malformed claim record");
    } else if (c.status == TK_CLAIM_REJECTED) {
        answer_rejected(r, &c);
    } else if ((n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, &c, NULL, body)) < 0) {
        gw_reply_error(r, 500, "internal", "malformed claim record");
    } else {
        gw_reply(r, 200, body, (size_t)n, NULL);
    }
    gw_req_release(r);
    free(lk);
}

/* @jv: the journal when the lookup began (copied). */
static void redis_lookup(gw_req_t *r, const journal_view_t *jv)
{
    char keys[3][TK_KEY_MAX];
    const char *argv[] = {keys[0], keys[1], keys[2], r->user_id};
    size_t lens[] = {(size_t)tk_key(TK_KEY_EV, r->event_id, r->elen, keys[0]), (size_t)tk_key(TK_KEY_STREAM, r->event_id, r->elen, keys[1]),
                     (size_t)tk_key(TK_KEY_CLAIMS, r->event_id, r->elen, keys[2]), r->ulen};
    lookup_t *lk = malloc(sizeof(*lk));
    if (lk == NULL) {
        gw_reply_unavailable(r, "redis");
        return;
    }
    /* The token before the call: a check that restores the event after Redis ran the script must still show */
    *lk = (lookup_t){.r = gw_req_ref(r), .token = gw_rebuild_event_token(r->th->server), .jv = *jv};
    if (gw_redis_script(r->th->redis, GW_SCRIPT_WATERMARK, on_claim, lk, 3, 4, argv, lens) != 0) {
        gw_req_release(r);
        free(lk);
        gw_fallback_status(r); /* Redis is away: a claim MariaDB holds is still answered */
    }
}

/* ---------------------------------------------------------------- MariaDB first */

/* Internal to this file, never sent: MariaDB has no row, Redis is asked. */
#define NO_ROW 204

/* The user's row as the API's JSON (job answered 200), or NO_ROW. */
static unsigned read_row(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    (void)arg;
    const gw_req_t *r = job->r;
    gw_fb_row_t row;
    int found = 0;
    unsigned e = gw_fallback_db_row(db, r->event_id, r->elen, r->user_id, r->ulen, &row, &found);
    if (e != 0)
        return e;
    if (!found) {
        gw_dbjob_answer(job, NO_ROW, "", 0);
        return 0;
    }
    const tk_claim_t *c = &row.claim;
    char body[TK_CLAIM_JSON_MAX];
    int n;
    if (!row.status_known ||
        (n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, c, c->status == TK_CLAIM_REJECTED ? row.reason : NULL, body)) < 0) {
        gw_dbjob_error(job, 500, "internal", "malformed claim row");
        return GW_DBTXN_ANSWERED;
    }
    gw_dbjob_answer(job, 200, body, (size_t)n);
    return 0;
}

static void db_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_dbtxn_run(job, conn, read_row, NULL); /* answers 503/500 itself when MariaDB fails */
}

/* Loop thread: the row's answer, or Redis's when MariaDB has no row. */
static void db_done(gw_dbjob_t *job)
{
    gw_req_t *r = job->r;
    if (job->status == NO_ROW) {
        redis_lookup(r, job->in);
        return;
    }
    gw_reply(r, job->status, job->body != NULL ? job->body : "", job->len, NULL);
}

void gw_route_status_get(gw_req_t *r)
{
    journal_view_t jv;
    journal_view(r, &jv); /* before MariaDB is read */
    if (!jv.off_fast) {
        redis_lookup(r, &jv);
        return;
    }
    journal_view_t *in = malloc(sizeof(*in));
    gw_dbjob_t *job = in != NULL ? gw_dbjob_new(r, db_run) : NULL;
    if (job == NULL) {
        free(in);
        gw_reply_unavailable(r, "database");
        return;
    }
    *in = jv;
    job->in = in; /* the job's: freed with it */
    job->in_free = free;
    job->lane = GW_DBLANE_CLIENT; /* claim work while Redis is away, not admin work (gw_dbpool.h) */
    job->done = db_done;
    gw_dbpool_submit(r->th->server->dbpool, job);
}
