/*
 * gw_admin: helpers shared by the admin routes.
 *
 * How each admin change stays consistent across both stores
 * ----------------------------------------------------------
 * MariaDB is the record of event definitions; Redis holds the live copy the
 * claim script works on. Three rules make every order of failures safe:
 *
 *  (a) The database total is never below Redis's total, so the database
 *      guard (UPDATE event_stock … WHERE sold + ? <= total, and the CHECK
 *      sold <= total) never refuses a unit Redis granted. Hence: a change that
 *      raises stock is committed in MariaDB first, then applied in Redis; a
 *      change that lowers it is applied in Redis before MariaDB commits it
 *      (while the row lock is held). A crash between the two steps leaves
 *      the database total above Redis's, never below.
 *  (b) Every writer of an event's claims in MariaDB first locks its
 *      event_stock row (SELECT … FOR UPDATE): the workers, the fallback path
 *      and the admin cancel. For one event they run one after another.
 *  (c) Each admin step is idempotent or refuses cleanly, so a client that
 *      got 503 after the first store changed retries and completes it.
 *  (d) MariaDB decides, Redis follows at a version. A stock or state change
 *      bumps event_stock.stock_ver / events.state_ver under the row lock it
 *      holds, and its Redis step sends the value MariaDB committed with that
 *      version, never the request's delta; lua/admin_stock.lua and
 *      admin_state.lua apply it only when the version is not older than the
 *      one the hash holds. Late, repeated or racing steps therefore leave
 *      Redis at the last committed value, as MariaDB is (sql/005).
 *  (e) With an Idempotency-Key (gw_idem.h) the key is recorded in the
 *      change's own transaction; a retry with the key re-does the Redis
 *      step from MariaDB and gets the first answer back, so a restock is
 *      applied once however often it is retried.
 *
 * Per route:
 *  1. Create: one transaction inserts events (state open), event_stock
 *     (total = stock) and event_locks; then lua/admin_create.lua writes the
 *     hash (remaining = total, seq 0), adds the id to tk:events and creates
 *     the stream with group "wk". If Redis fails after the commit, the retry
 *     meets the duplicate key, sees no hash in Redis and a database row with
 *     the same definition and no claims ever written, and finishes the load
 *     (201); anything else is 409 exists.
 *  2. Stock: under the event_stock row lock, total = total + delta (refused
 *     below sold: 409 below_granted; above TK_STOCK_MAX: 400 stock_limit),
 *     stock_ver + 1. A raise commits, then sets Redis; a cut sets Redis
 *     while the lock is held and before the commit, and the script refuses
 *     when Redis granted more than the new total (409 below_granted, rolled
 *     back). The whole argument is at the top of gw_route_admin_stock.c.
 *  3. State: under the events row lock, state and state_ver + 1, commit,
 *     then the Redis step with that version (lua/admin_state.lua). The claim
 *     script reads the state on every call, so the change takes effect at
 *     once.
 *  4. Cancel: under the event_stock lock, the claim row decides: confirmed ->
 *     cancelled and sold -= quantity; cancelled -> nothing (idempotent);
 *     rejected -> 409 not_cancellable; no row -> the Redis record decides:
 *     none -> 404; otherwise a row is inserted directly as 'cancelled', so the
 *     worker that later drains the stream entry finds it (under the same
 *     lock) and never adds it to sold. After the commit
 *     lua/admin_cancel.lua turns a 'p' or 'c' record into 'x' and returns its
 *     units to remaining; an 'x' record is left alone. If that fails the
 *     answer is 503 and a retry completes it. A worker that meets the
 *     cancelled row before this Redis step marks the record 'x' itself and
 *     returns the units there (lua/confirm.lua): whichever step marks it
 *     first returns them, the other finds 'x' (issue 10, hole 2).
 *  5. View: reads both stores (Redis atomically in one script) and reports
 *     them side by side.
 *  6. Waiting room update (gw_route_admin_queue_update.c): under the events
 *     row lock, the room's rate and pause and wr_ver + 1, commit, then the
 *     Redis step with the room's whole settings at that version
 *     (lua/admin_queue_set.lua), as the state change does.
 */
#include "gw_admin.h"
#include "gw_admin_body.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ loop thread */

void *gw_admin_in_new(gw_req_t *r, size_t size, int ids)
{
    void *in = calloc(1, size);
    if (in == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return NULL;
    }
    if (ids) {
        gw_admin_ids_t *id = in;
        memcpy(id->event_id, r->event_id, r->elen + 1);
        id->elen = r->elen;
        memcpy(id->user_id, r->user_id, r->ulen + 1);
        id->ulen = r->ulen;
    }
    return in;
}

int gw_admin_parsed(gw_req_t *r, int rc, const char *err)
{
    if (rc == 0)
        return 0;
    gw_reply_error(r, 400, rc == GW_ADMIN_BODY_LIMIT ? "stock_limit" : "bad_request", err);
    return -1;
}

void gw_admin_req_body(gw_req_t *r, const char **body, size_t *len)
{
    *body = "";
    *len = 0;
    if (r->req != NULL && r->req->entity.base != NULL) {
        *body = r->req->entity.base;
        *len = r->req->entity.len;
    }
}

/* The default answer (gw_reply adds Retry-After to a 503 itself). */
static void on_job_done(gw_dbjob_t *job)
{
    if (job->r->route != GW_ROUTE_ADMIN_VIEW && job->r->route != GW_ROUTE_ADMIN_QUEUE_VIEW && job->r->route != GW_ROUTE_BOARD_VIEW)
        gw_route_events_changed(); /* an operator sees a change in the next list (gw_route_events.c) */
    gw_reply(job->r, job->status, job->body != NULL ? job->body : "", job->len, job->location[0] ? job->location : NULL);
}

void gw_admin_submit(gw_req_t *r, void (*run)(gw_dbjob_t *, gw_dbconn_t *), void *in, void (*in_free)(void *))
{
    gw_dbjob_t *job = gw_dbjob_new(r, run);
    if (job == NULL) {
        if (in_free != NULL)
            in_free(in);
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    job->in = in;
    job->in_free = in_free;
    job->done = on_job_done;
    gw_dbpool_submit(r->th->server->dbpool, job);
}

/* ================================================================ Redis */

#define EVAL_ARGS_MAX 32

int gw_admin_step_reply(gw_dbjob_t *job, const redisReply *reply, const char *event_id, const char *what)
{
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)
        gw_dbjob_error(job, 503, "unavailable", "redis refused the %s change", what);
    else if (strcmp(reply->str, "OK") == 0 || strcmp(reply->str, "superseded") == 0)
        return 0;
    else if (strcmp(reply->str, "not_found") == 0)
        gw_dbjob_error(job, 404, "not_found", "event %s is not loaded in redis", event_id);
    else
        gw_dbjob_error(job, 500, "internal", "unexpected answer from the %s script", what);
    return -1;
}

redisReply *gw_admin_eval(gw_dbjob_t *job, gw_dbconn_t *conn, const char *name, int nkeys, int argc, const char **argv,
                          const size_t *lens)
{
    char script[32];
    snprintf(script, sizeof(script), "admin_%s", name);
    return gw_admin_eval_lua(job, conn, script, nkeys, argc, argv, lens);
}

redisReply *gw_admin_eval_lua(gw_dbjob_t *job, gw_dbconn_t *conn, const char *script, int nkeys, int argc, const char **argv,
                              const size_t *lens)
{
    char nk[16];
    const char *text = tk_lua_find(script);
    if (text == NULL || argc + 3 > EVAL_ARGS_MAX) {
        tk_error("lua/%s.lua is not compiled in", script);
        gw_dbjob_error(job, 500, "internal", "script %s missing", script);
        return NULL;
    }
    /* The script's keys all carry one event's or board's tag: its first key names their master. */
    redisContext *rc = nkeys > 0 && argc > 0 ? gw_dbconn_redis_for(conn, argv[0], lens[0]) : gw_dbconn_redis(conn);
    if (rc == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return NULL;
    }
    const char *av[EVAL_ARGS_MAX];
    size_t al[EVAL_ARGS_MAX];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[0] = "EVAL";
    al[0] = 4;
    av[1] = text;
    al[1] = strlen(text);
    av[2] = nk;
    al[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = lens[i];
    }
    redisReply *reply = redisCommandArgv(rc, argc + 3, av, al);
    if (reply == NULL) {
        tk_warn("admin %s: redis: %s", script, rc->errstr);
        gw_dbconn_redis_drop(conn, rc);
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        tk_warn("admin %s: redis error: %.*s", script, (int)reply->len, reply->str);
    return reply;
}

int gw_admin_sadd(gw_dbjob_t *job, gw_dbconn_t *conn, const char *set, const char *member, size_t len)
{
    redisContext *rc = gw_dbconn_redis_for(conn, set, strlen(set)); /* a registry set: a key of its own */
    if (rc == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    const char *argv[3] = {"SADD", set, member};
    size_t lens[3] = {4, strlen(set), len};
    redisReply *reply = redisCommandArgv(rc, 3, argv, lens);
    if (reply == NULL) {
        tk_warn("admin SADD %s: redis: %s", set, rc->errstr);
        gw_dbconn_redis_drop(conn, rc);
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    int rv = reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rv != 0) {
        tk_warn("admin SADD %s: redis error: %.*s", set, (int)reply->len, reply->str != NULL ? reply->str : "");
        gw_dbjob_error(job, 503, "unavailable", "redis could not list %.*s in %s", (int)len, member, set);
    }
    freeReplyObject(reply);
    return rv;
}

int gw_admin_read_event(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, gw_event_t *ev)
{
    char key[TK_KEY_MAX];
    int klen = tk_key(TK_KEY_EV, event_id, elen, key);
    redisContext *rc = gw_dbconn_redis_for(conn, key, (size_t)klen);
    if (rc == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    const char *argv[2 + GW_EVENT_NFIELDS] = {"HMGET", key, GW_EVENT_FIELDS};
    size_t lens[2 + GW_EVENT_NFIELDS];
    for (int i = 0; i < 2 + GW_EVENT_NFIELDS; i++)
        lens[i] = strlen(argv[i]);
    redisReply *reply = redisCommandArgv(rc, 2 + GW_EVENT_NFIELDS, argv, lens);
    if (reply == NULL) {
        gw_dbconn_redis_drop(conn, rc);
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    int rv = gw_event_from_hmget(reply, event_id, elen, ev);
    freeReplyObject(reply);
    if (rv < 0) {
        tk_error("event hash %s is malformed", key);
        gw_dbjob_error(job, 500, "internal", "the event hash of %s is malformed", event_id);
        return -1;
    }
    return rv;
}

void gw_admin_answer_event(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, int status)
{
    gw_event_t ev;
    int rv = gw_admin_read_event(job, conn, event_id, elen, &ev);
    if (rv < 0)
        return;
    if (rv == 1) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", event_id);
        return;
    }
    char body[GW_EVENT_JSON_MAX];
    int n = gw_event_json(&ev, tk_time_now_ms(), body);
    gw_dbjob_answer(job, status, body, (size_t)n);
}

void gw_admin_def_bind(gw_admin_defrow_t *row, gw_admin_def_t *def, MYSQL_BIND *out)
{
    memset(row, 0, sizeof(*row));
    tk_sql_bind_strbuf(&out[0], def->name, sizeof(def->name) - 1, &row->nlen);
    tk_sql_bind_i64(&out[1], &row->maxpu);
    tk_sql_bind_time(&out[2], &row->opens, &row->opens_null);
    tk_sql_bind_time(&out[3], &row->closes, &row->closes_null);
    tk_sql_bind_strbuf(&out[4], row->state, sizeof(row->state) - 1, &row->slen);
    tk_sql_bind_i64(&out[5], &row->total);
    tk_sql_bind_i64(&out[6], &row->sold);
    tk_sql_bind_i64(&out[7], &row->wr_on);
    tk_sql_bind_i64(&out[8], &row->wr_rate);
    tk_sql_bind_i64(&out[9], &row->wr_ttl);
    tk_sql_bind_time(&out[10], &row->wr_opens, &row->wr_opens_null);
    tk_sql_bind_i64(&out[11], &row->wr_paused);
    tk_sql_bind_i64(&out[12], &row->wr_ver);
    tk_sql_bind_strbuf(&out[13], def->pr_board, sizeof(def->pr_board) - 1, &row->pr_blen);
    out[13].is_null = &row->pr_board_null;
    tk_sql_bind_i64(&out[14], &row->pr_top);
    tk_sql_bind_time(&out[15], &row->pr_opens, &row->pr_opens_null);
    tk_sql_bind_time(&out[16], &row->pr_snap, &row->pr_snap_null);
}

void gw_admin_def_fill(const gw_admin_defrow_t *row, gw_admin_def_t *def, const char *event_id, size_t elen)
{
    memcpy(def->event_id, event_id, elen + 1);
    def->elen = elen;
    def->nlen = row->nlen < sizeof(def->name) - 1 ? row->nlen : sizeof(def->name) - 1;
    def->name[def->nlen] = '\0';
    size_t slen = row->slen < sizeof(def->state) - 1 ? row->slen : sizeof(def->state) - 1;
    memcpy(def->state, row->state, slen);
    def->state[slen] = '\0';
    def->max_per_user = row->maxpu;
    def->opens_ms = row->opens_null ? 0 : tk_db_time_to_ms(&row->opens);
    def->closes_ms = row->closes_null ? 0 : tk_db_time_to_ms(&row->closes);
    def->total = row->total;
    def->remaining = row->total - row->sold;
    def->wr_on = row->wr_on != 0;
    def->wr_paused = row->wr_paused != 0;
    def->wr_rate = row->wr_rate;
    def->wr_ttl_s = row->wr_ttl;
    def->wr_opens_ms = row->wr_opens_null ? 0 : tk_db_time_to_ms(&row->wr_opens);
    def->wr_ver = row->wr_ver;
    size_t blen = row->pr_board_null ? 0 : row->pr_blen < sizeof(def->pr_board) - 1 ? row->pr_blen : sizeof(def->pr_board) - 1;
    def->pr_board[blen] = '\0';
    def->pr_opens_ms = blen == 0 || row->pr_opens_null ? 0 : tk_db_time_to_ms(&row->pr_opens);
    def->pr_top = def->pr_opens_ms > 0 ? row->pr_top : 0;
    def->pr_snapshot_ms = def->pr_opens_ms > 0 && !row->pr_snap_null ? tk_db_time_to_ms(&row->pr_snap) : 0;
    if (def->pr_opens_ms == 0)
        def->pr_board[0] = '\0';
}

int gw_admin_redis_load(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_admin_def_t *def)
{
    char kev[TK_KEY_MAX], kq[TK_KEY_MAX], kwq[TK_KEY_MAX], total[24], remaining[24], maxpu[24], opens[24], closes[24], seq[24],
        created[24], stock_ver[24], state_ver[24], wr_rate[24], wr_ttl[24], wr_opens[24], wr_ver[24], pr_top[24], pr_opens[24];
    tk_key(TK_KEY_EV, def->event_id, def->elen, kev);
    tk_key(TK_KEY_STREAM, def->event_id, def->elen, kq);
    tk_key(TK_KEY_WQ, def->event_id, def->elen, kwq);
    snprintf(wr_rate, sizeof(wr_rate), "%lld", (long long)def->wr_rate);
    snprintf(wr_ttl, sizeof(wr_ttl), "%lld", (long long)def->wr_ttl_s);
    snprintf(wr_opens, sizeof(wr_opens), "%lld", (long long)def->wr_opens_ms);
    snprintf(wr_ver, sizeof(wr_ver), "%lld", (long long)def->wr_ver);
    snprintf(pr_top, sizeof(pr_top), "%lld", (long long)def->pr_top);
    snprintf(pr_opens, sizeof(pr_opens), "%lld", (long long)def->pr_opens_ms);
    snprintf(total, sizeof(total), "%lld", (long long)def->total);
    snprintf(remaining, sizeof(remaining), "%lld", (long long)def->remaining);
    snprintf(maxpu, sizeof(maxpu), "%lld", (long long)def->max_per_user);
    snprintf(opens, sizeof(opens), "%lld", (long long)def->opens_ms);
    snprintf(closes, sizeof(closes), "%lld", (long long)def->closes_ms);
    snprintf(seq, sizeof(seq), "%lld", (long long)def->seq);
    snprintf(created, sizeof(created), "%lld", (long long)def->created_ms);
    snprintf(stock_ver, sizeof(stock_ver), "%lld", (long long)def->stock_ver);
    snprintf(state_ver, sizeof(state_ver), "%lld", (long long)def->state_ver);
    const char *argv[] = {kev,   kq,    kwq,    def->event_id, def->name, def->state, total, remaining,
                          maxpu, opens, closes, seq,           created,   TK_STREAM_GROUP, stock_ver, state_ver,
                          def->wr_on ? "1" : "0", wr_rate, wr_ttl, wr_opens, def->wr_paused ? "1" : "0", wr_ver,
                          def->pr_opens_ms > 0 ? def->pr_board : "", pr_top, pr_opens};
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        lens[i] = strlen(argv[i]);
    lens[4] = def->nlen;
    /* tk:events first (lua/admin_create.lua says why): a listed id without a hash is tolerated, a hash nobody lists is lost */
    if (gw_admin_sadd(job, conn, TK_KEY_EVENTS, def->event_id, def->elen) != 0)
        return -1;
    redisReply *reply = gw_admin_eval(job, conn, "create", 3, (int)(sizeof(argv) / sizeof(argv[0])), argv, lens);
    if (reply == NULL)
        return -1;
    int rv = -1;
    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) {
        if (strcmp(reply->str, "OK") == 0)
            rv = 0;
        else if (strcmp(reply->str, "exists") == 0)
            rv = 1;
    }
    if (rv < 0)
        gw_dbjob_error(job, 503, "unavailable", "redis could not load event %s", def->event_id);
    freeReplyObject(reply);
    /* the room once it exists (listed before, the admitter would meet it without its hash and drop it) */
    if (rv >= 0 && def->wr_on && gw_admin_sadd(job, conn, TK_KEY_WQ_ROOMS, def->event_id, def->elen) != 0)
        return -1;
    return rv;
}
