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
 */
#include "gw_admin.h"
#include "gw_routes.h"
#include "tk_json.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"

#include <jansson.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TXN_RETRY_MAX 3 /* redos of a transaction after a deadlock or lock wait */

/* ================================================================ bodies */

static void fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
}

/* Loads @body as a JSON object; NULL with @err set otherwise. */
static json_t *load_object(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    if (len == 0) {
        fail(err, errlen, "a JSON object body is required");
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* An integer field in [lo, hi]. Absent or null: *v = def when @required is 0. */
static int get_int(json_t *root, const char *key, int required, int64_t def, int64_t lo, int64_t hi, int64_t *v, char *err,
                   size_t errlen)
{
    json_t *f = json_object_get(root, key);
    if (f == NULL || json_is_null(f)) {
        if (required) {
            snprintf(err, errlen, "%s is required", key);
            return -1;
        }
        *v = def;
        return 0;
    }
    if (!json_is_integer(f) || json_integer_value(f) < lo || json_integer_value(f) > hi) {
        snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, (long long)lo, (long long)hi);
        return -1;
    }
    *v = json_integer_value(f);
    return 0;
}

/* An optional RFC 3339 time: absent or null -> 0. */
static int get_time(json_t *root, const char *key, int64_t *ms, char *err, size_t errlen)
{
    json_t *f = json_object_get(root, key);
    *ms = 0;
    if (f == NULL || json_is_null(f))
        return 0;
    if (!json_is_string(f) || tk_time_parse_rfc3339(json_string_value(f), ms) != 0 || *ms <= 0 || *ms > GW_ADMIN_TIME_MAX_MS) {
        snprintf(err, errlen, "%s must be an RFC 3339 time between 1970 and 9999 (e.g. 2026-11-22T09:00:00.000Z) or null", key);
        *ms = 0;
        return -1;
    }
    return 0;
}

int gw_admin_parse_create(const char *body, size_t len, int64_t now_ms, gw_admin_create_t *out, char *err, size_t errlen)
{
    json_t *root = load_object(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    memset(out, 0, sizeof(*out));

    json_t *f = json_object_get(root, "event_id");
    if (f == NULL || json_is_null(f)) {
        fail(err, errlen, "event_id is required");
        goto done;
    }
    if (!json_is_string(f) || !tk_valid_event_id(json_string_value(f), json_string_length(f))) {
        fail(err, errlen, "event_id must be 1-64 of [a-z0-9_-]");
        goto done;
    }
    out->elen = json_string_length(f);
    memcpy(out->event_id, json_string_value(f), out->elen);

    f = json_object_get(root, "name");
    if (f == NULL || json_is_null(f)) {
        memcpy(out->name, out->event_id, out->elen + 1);
        out->nlen = out->elen;
    } else if (!json_is_string(f) || !tk_valid_name(json_string_value(f), json_string_length(f))) {
        snprintf(err, errlen, "name must be 1-%d bytes of UTF-8 without control characters", TK_NAME_MAX);
        goto done;
    } else {
        out->nlen = json_string_length(f);
        memcpy(out->name, json_string_value(f), out->nlen);
        out->name[out->nlen] = '\0';
    }

    f = json_object_get(root, "stock");
    if (json_is_integer(f) && json_integer_value(f) > TK_STOCK_MAX) {
        snprintf(err, errlen, "stock must be at most %lld", (long long)TK_STOCK_MAX);
        rc = GW_ADMIN_PARSE_LIMIT;
        goto done;
    }
    if (get_int(root, "stock", 1, 0, 0, TK_STOCK_MAX, &out->stock, err, errlen) ||
        get_int(root, "max_per_user", 0, 1, 1, TK_QUANTITY_MAX, &out->max_per_user, err, errlen) ||
        get_time(root, "opens_at", &out->opens_ms, err, errlen) || get_time(root, "closes_at", &out->closes_ms, err, errlen))
        goto done;
    if (out->closes_ms > 0 && out->opens_ms > 0 && out->closes_ms <= out->opens_ms) {
        fail(err, errlen, "closes_at must be after opens_at");
        goto done;
    }
    if (out->closes_ms > 0 && out->closes_ms <= now_ms) {
        fail(err, errlen, "closes_at must be in the future");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int gw_admin_parse_stock(const char *body, size_t len, int64_t *delta, char *err, size_t errlen)
{
    json_t *root = load_object(body, len, err, errlen);
    if (root == NULL)
        return -1;
    json_t *f = json_object_get(root, "delta");
    if (json_is_integer(f) && (json_integer_value(f) > TK_STOCK_MAX || json_integer_value(f) < -TK_STOCK_MAX)) {
        snprintf(err, errlen, "delta must be from %lld to %lld", (long long)-TK_STOCK_MAX, (long long)TK_STOCK_MAX);
        json_decref(root);
        return GW_ADMIN_PARSE_LIMIT;
    }
    int rc = get_int(root, "delta", 1, 0, -TK_STOCK_MAX, TK_STOCK_MAX, delta, err, errlen);
    if (rc == 0 && *delta == 0) {
        snprintf(err, errlen, "delta must be a non-zero integer from %lld to %lld", (long long)-TK_STOCK_MAX, (long long)TK_STOCK_MAX);
        rc = -1;
    }
    json_decref(root);
    return rc;
}

int gw_admin_parse_state(const char *body, size_t len, char state[8], char *err, size_t errlen)
{
    static const char *const states[] = {"open", "paused", "closed"};
    json_t *root = load_object(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    json_t *f = json_object_get(root, "state");
    if (json_is_string(f)) {
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
            if (strcmp(json_string_value(f), states[i]) == 0 && json_string_length(f) == strlen(states[i])) {
                strcpy(state, states[i]);
                rc = 0;
            }
        }
    }
    if (rc != 0)
        fail(err, errlen, f == NULL ? "state is required" : "state must be one of open, paused, closed");
    json_decref(root);
    return rc;
}

/* ================================================================ loop thread */

void gw_admin_body(gw_req_t *r, const char **body, size_t *len)
{
    *body = "";
    *len = 0;
    if (r->req != NULL && r->req->entity.base != NULL) {
        *body = r->req->entity.base;
        *len = r->req->entity.len;
    }
}

/* The default answer, plus Retry-After on a 503 (gw_reply_error's rule). */
static void on_job_done(gw_dbjob_t *job)
{
    if (job->r->route != GW_ROUTE_ADMIN_VIEW)
        gw_route_events_changed(); /* an operator sees a change in the next list (gw_route_events.c) */
    if (job->status == 503 && job->r->req != NULL)
        h2o_add_header(&job->r->req->pool, &job->r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
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

int gw_admin_txn(gw_dbjob_t *job, gw_dbconn_t *conn, unsigned (*body)(MYSQL *db, void *arg, gw_dbjob_t *job), void *arg)
{
    for (int attempt = 0;; attempt++) {
        MYSQL *db = gw_dbconn_db(conn);
        if (db == NULL) {
            gw_dbjob_error(job, 503, "unavailable", "the database is unavailable");
            return -1;
        }
        unsigned e = body(db, arg, job);
        if (e == 0) {
            if (mysql_commit(db) == 0)
                return 0;
            e = mysql_errno(db) != 0 ? mysql_errno(db) : 2000;
        }
        if (e == GW_ADMIN_TXN_ANSWERED) {
            if (mysql_rollback(db) != 0)
                gw_dbconn_db_reset(conn);
            return -1;
        }
        tk_db_class_t cls = tk_db_classify(e);
        tk_warn("%s %s: database error %u (%s)", job->r != NULL ? "admin" : "background job", job->r != NULL ? job->r->event_id : "-", e,
                tk_db_class_name(cls));
        if (cls == TK_DB_RECONNECT) {
            gw_dbconn_db_reset(conn);
            gw_dbjob_error(job, 503, "unavailable", "the database is unavailable");
            return -1;
        }
        if (mysql_rollback(db) != 0) {
            gw_dbconn_db_reset(conn);
            gw_dbjob_error(job, 503, "unavailable", "the database is unavailable");
            return -1;
        }
        if (cls == TK_DB_RETRY && attempt < TXN_RETRY_MAX)
            continue;
        if (cls == TK_DB_RETRY) {
            gw_dbjob_error(job, 503, "unavailable", "the database is busy; try again");
            return -1;
        }
        gw_dbjob_error(job, 500, "internal", "database error %u", e);
        return -1;
    }
}

/* ================================================================ Redis */

#define EVAL_ARGS_MAX 24

redisReply *gw_admin_eval(gw_dbjob_t *job, gw_dbconn_t *conn, const char *name, int nkeys, int argc, const char **argv,
                          const size_t *lens)
{
    char script[32], nk[16];
    snprintf(script, sizeof(script), "admin_%s", name);
    const char *text = tk_lua_find(script);
    if (text == NULL || argc + 3 > EVAL_ARGS_MAX) {
        tk_error("lua/%s.lua is not compiled in", script);
        gw_dbjob_error(job, 500, "internal", "script %s missing", script);
        return NULL;
    }
    redisContext *rc = gw_dbconn_redis(conn);
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
        gw_dbconn_redis_reset(conn);
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        tk_warn("admin %s: redis error: %.*s", script, (int)reply->len, reply->str);
    return reply;
}

int gw_admin_read_event(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, gw_event_t *ev)
{
    char key[TK_KEY_MAX];
    tk_key(TK_KEY_EV, event_id, elen, key);
    redisContext *rc = gw_dbconn_redis(conn);
    if (rc == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "redis is unavailable");
        return -1;
    }
    redisReply *reply = redisCommand(rc, "HMGET %s %s %s %s %s %s %s %s %s", key, GW_EVENT_FIELDS);
    if (reply == NULL) {
        gw_dbconn_redis_reset(conn);
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

int gw_admin_redis_load(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_admin_def_t *def)
{
    char kev[TK_KEY_MAX], kq[TK_KEY_MAX], total[24], remaining[24], maxpu[24], opens[24], closes[24], seq[24], created[24],
        stock_ver[24], state_ver[24];
    tk_key(TK_KEY_EV, def->event_id, def->elen, kev);
    tk_key(TK_KEY_STREAM, def->event_id, def->elen, kq);
    snprintf(total, sizeof(total), "%lld", (long long)def->total);
    snprintf(remaining, sizeof(remaining), "%lld", (long long)def->remaining);
    snprintf(maxpu, sizeof(maxpu), "%lld", (long long)def->max_per_user);
    snprintf(opens, sizeof(opens), "%lld", (long long)def->opens_ms);
    snprintf(closes, sizeof(closes), "%lld", (long long)def->closes_ms);
    snprintf(seq, sizeof(seq), "%lld", (long long)def->seq);
    snprintf(created, sizeof(created), "%lld", (long long)def->created_ms);
    snprintf(stock_ver, sizeof(stock_ver), "%lld", (long long)def->stock_ver);
    snprintf(state_ver, sizeof(state_ver), "%lld", (long long)def->state_ver);
    const char *argv[] = {kev, TK_KEY_EVENTS, kq, def->event_id, def->name, def->state, total, remaining, maxpu, opens, closes, seq, created,
                          TK_STREAM_GROUP, stock_ver, state_ver};
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        lens[i] = strlen(argv[i]);
    lens[4] = def->nlen;
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
    return rv;
}
