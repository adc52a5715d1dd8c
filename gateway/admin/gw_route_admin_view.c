/*
 * GET /v1/admin/events/{E}: the event and its books from both stores, side
 * by side, so an operator can see that they agree:
 *   {"event":{…},
 *    "redis":{"granted","remaining","tickets_issued"},
 *    "database":{"confirmed","rejected","cancelled","dead" (units), "claims":{…counts},
 *                "sold","total"},
 *    "pending":claims not yet released (lua/admin_view.lua), "drain_lag_ms":…, "path":"redis"|"read-only"|"fallback"|"merging",
 *    "priority":null | {"board_id","top","opens_at","snapshot_size","snapshot_at"}}
 * The presale's snapshot is MariaDB's record (events.pr_snapshot_at and the
 * rows of event_priority): snapshot_size and snapshot_at are null until it
 * is taken; "redis_size" is the copy Redis holds (pr_n, null until there).
 * Redis is read in one script (a consistent snapshot), then MariaDB. When
 * only MariaDB knows the event, "event" is built from its row and "redis"
 * is null (also while Redis is unreachable: then "pending" is null too);
 * unknown to both: 404. "path" is where this gateway sends the event's
 * claims (gateway/failover/gw_journal.h). "dead" counts the stream entries the drain set
 * aside in claims_dead (hole 3 of docs/DESIGN.md): their units stay granted
 * in Redis, so at quiescence granted = sold + rejected + dead.
 */
#include "gw_admin.h"
#include "gw_dbtxn.h"
#include "gw_journal.h"
#include "gw_types.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_admin_ids_t id;
} view_in_t;

/* What MariaDB says. */
typedef struct {
    const view_in_t *in;
    int found;
    gw_admin_def_t def;
    long long sold;
    long long units[3], count[3]; /* confirmed, rejected, cancelled */
    long long dead_units, dead_count; /* claims_dead */
    long long prio_rows;              /* event_priority rows: the snapshot's size */
    /* fetch buffers of the GROUP BY rows */
    char status[16];
    unsigned long slen;
    long long n, sum;
} db_books_t;

static const char *const statuses[3] = {"confirmed", "rejected", "cancelled"};

static const char sql_event[] = "SELECT " GW_ADMIN_DEF_COLUMNS " FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = ?";
static const char sql_books[] = "SELECT status, COUNT(*), COALESCE(SUM(quantity), 0) FROM claims WHERE event_id = ? GROUP BY status";
static const char sql_dead[] = "SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM claims_dead WHERE event_id = ?";
static const char sql_prio[] = "SELECT COUNT(*) FROM event_priority WHERE event_id = ?";

static void on_status_row(void *arg)
{
    db_books_t *d = arg;
    d->status[d->slen < sizeof(d->status) - 1 ? d->slen : sizeof(d->status) - 1] = '\0';
    for (int i = 0; i < 3; i++) {
        if (strcmp(d->status, statuses[i]) == 0) {
            d->count[i] = d->n;
            d->units[i] = d->sum;
        }
    }
}

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    (void)job;
    db_books_t *d = arg;
    MYSQL_BIND in[1], out[GW_ADMIN_DEF_NCOLUMNS];
    unsigned long elen;
    gw_admin_defrow_t row;
    unsigned long long rows = 0;
    memset(d->units, 0, sizeof(d->units));
    memset(d->count, 0, sizeof(d->count));

    tk_sql_bind_str(&in[0], d->in->id.event_id, &elen, d->in->id.elen);
    gw_admin_def_bind(&row, &d->def, out);
    unsigned e = tk_sql_stmt(db, sql_event, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    d->found = rows == 1;
    if (!d->found)
        return 0;
    gw_admin_def_fill(&row, &d->def, d->in->id.event_id, d->in->id.elen);
    d->sold = row.sold;

    tk_sql_bind_strbuf(&out[0], d->status, sizeof(d->status) - 1, &d->slen);
    tk_sql_bind_i64(&out[1], &d->n);
    tk_sql_bind_i64(&out[2], &d->sum);
    if ((e = tk_sql_stmt(db, sql_books, in, out, 8, on_status_row, d, NULL)) != 0)
        return e;
    d->dead_count = d->dead_units = 0;
    tk_sql_bind_i64(&out[0], &d->dead_count);
    tk_sql_bind_i64(&out[1], &d->dead_units);
    if ((e = tk_sql_stmt(db, sql_dead, in, out, 1, NULL, NULL, NULL)) != 0)
        return e;
    d->prio_rows = 0;
    if (d->def.pr_snapshot_ms == 0)
        return 0;
    tk_sql_bind_i64(&out[0], &d->prio_rows);
    return tk_sql_stmt(db, sql_prio, in, out, 1, NULL, NULL, NULL);
}

/* Redis's side: 0 read (found says whether the hash exists), -1 answered. */
static int read_redis(gw_dbjob_t *job, gw_dbconn_t *conn, const view_in_t *in, gw_event_t *ev, int *found, long long *pending,
                      long long *lag_ms)
{
    char kev[TK_KEY_MAX], kq[TK_KEY_MAX];
    tk_key(TK_KEY_EV, in->id.event_id, in->id.elen, kev);
    tk_key(TK_KEY_STREAM, in->id.event_id, in->id.elen, kq);
    const char *argv[2 + GW_EVENT_NFIELDS] = {kev, kq, GW_EVENT_FIELDS};
    size_t lens[2 + GW_EVENT_NFIELDS];
    for (int i = 0; i < 2 + GW_EVENT_NFIELDS; i++)
        lens[i] = strlen(argv[i]);
    redisReply *reply = gw_admin_eval(job, conn, "view", 2, 2 + GW_EVENT_NFIELDS, argv, lens);
    if (reply == NULL)
        return -1;
    int rv = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[1]->type == REDIS_REPLY_INTEGER &&
        reply->element[2]->type == REDIS_REPLY_STRING) {
        int e = gw_event_from_hmget(reply->element[0], in->id.event_id, in->id.elen, ev);
        if (e >= 0) {
            *found = e == 0;
            *pending = reply->element[1]->integer;
            *lag_ms = 0;
            const char *id = reply->element[2]->str;
            if (reply->element[2]->len > 0) {
                long long first_ms = strtoll(id, NULL, 10);
                long long now = tk_time_now_ms();
                *lag_ms = now > first_ms ? now - first_ms : 0;
            }
            rv = 0;
        }
    }
    if (rv < 0)
        gw_dbjob_error(job, 500, "internal", "unexpected answer from redis for event %s", in->id.event_id);
    freeReplyObject(reply);
    return rv;
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    view_in_t *in = job->in;
    gw_event_t ev;
    int in_redis = 0;
    long long pending = 0, lag = 0;
    int redis_away = 0;
    if (read_redis(job, conn, in, &ev, &in_redis, &pending, &lag) != 0) {
        if (job->status != 503)
            return;
        /* Redis is away: MariaDB's books and the path still tell the operator what happens. */
        redis_away = 1;
        job->status = 0;
        free(job->body);
        job->body = NULL;
        job->len = 0;
    }
    db_books_t d;
    memset(&d, 0, sizeof(d));
    d.in = in;
    if (gw_dbtxn_run(job, conn, read_body, &d) != 0)
        return;
    if (!in_redis && !d.found) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", in->id.event_id);
        return;
    }

    int64_t now = tk_time_now_ms();
    char evjson[GW_EVENT_JSON_MAX], redis_part[160], db_part[448];
    if (in_redis) {
        gw_event_json(&ev, now, evjson);
        snprintf(redis_part, sizeof(redis_part), "{\"granted\":%lld,\"remaining\":%lld,\"tickets_issued\":%lld}",
                 (long long)(ev.total - ev.remaining), (long long)ev.remaining, (long long)ev.seq);
    } else {
        gw_event_t dbev;
        memset(&dbev, 0, sizeof(dbev));
        memcpy(dbev.event_id, in->id.event_id, in->id.elen + 1);
        memcpy(dbev.name, d.def.name, d.def.nlen + 1);
        memcpy(dbev.state, d.def.state, sizeof(dbev.state));
        dbev.total = d.def.total;
        dbev.remaining = d.def.remaining;
        dbev.max_per_user = d.def.max_per_user;
        dbev.opens_ms = d.def.opens_ms;
        dbev.closes_ms = d.def.closes_ms;
        dbev.wr_on = d.def.wr_on;
        dbev.wr_rate = d.def.wr_rate;
        dbev.wr_ttl_s = d.def.wr_ttl_s;
        dbev.wr_opens_ms = d.def.wr_opens_ms;
        memcpy(dbev.pr_board, d.def.pr_board, sizeof(dbev.pr_board));
        dbev.pr_top = d.def.pr_top;
        dbev.pr_opens_ms = d.def.pr_opens_ms;
        gw_event_json(&dbev, now, evjson);
        strcpy(redis_part, "null");
    }
    if (d.found)
        snprintf(db_part, sizeof(db_part),
                 "{\"confirmed\":%lld,\"rejected\":%lld,\"cancelled\":%lld,\"dead\":%lld,"
                 "\"claims\":{\"confirmed\":%lld,\"rejected\":%lld,\"cancelled\":%lld,\"dead\":%lld},\"sold\":%lld,\"total\":%lld}",
                 d.units[0], d.units[1], d.units[2], d.dead_units, d.count[0], d.count[1], d.count[2], d.dead_count, d.sold,
                 (long long)d.def.total);
    else
        strcpy(db_part, "null");

    gw_journal_info_t info;
    const char *path = gw_journal_info(job->origin->server->journal, in->id.event_id, in->id.elen, &info) == 0 ? gw_evmode_name(info.evmode)
                       : gw_journal_mode(job->origin->server->journal) == GW_MODE_FAST       ? gw_evmode_name(GW_EVMODE_REDIS)
                                                                                         : gw_evmode_name(GW_EVMODE_READONLY);
    /* The presale: its setting as the event shows it, MariaDB's snapshot, Redis's copy. */
    const gw_admin_def_t *pd = &d.def;
    char prio[256 + TK_ID_MAX] = "null";
    if (d.found && pd->pr_opens_ms > 0) {
        char opens_s[TK_TIME_RFC3339_LEN + 1], size_s[24] = "null", at_s[TK_TIME_RFC3339_LEN + 3] = "null", rsize[24] = "null";
        tk_time_format_rfc3339(pd->pr_opens_ms, opens_s);
        if (pd->pr_snapshot_ms > 0) {
            snprintf(size_s, sizeof(size_s), "%lld", d.prio_rows);
            at_s[0] = '"';
            tk_time_format_rfc3339(pd->pr_snapshot_ms, at_s + 1);
            strcpy(at_s + 1 + TK_TIME_RFC3339_LEN, "\"");
        }
        if (in_redis && ev.pr_snap_ms > 0)
            snprintf(rsize, sizeof(rsize), "%lld", (long long)ev.pr_n);
        snprintf(prio, sizeof(prio),
                 "{\"board_id\":\"%s\",\"top\":%lld,\"opens_at\":\"%s\",\"snapshot_size\":%s,\"snapshot_at\":%s,\"redis_size\":%s}",
                 pd->pr_board, (long long)pd->pr_top, opens_s, size_s, at_s, rsize);
    }
    char pending_s[24] = "null";
    if (!redis_away)
        snprintf(pending_s, sizeof(pending_s), "%lld", pending);
    size_t cap = strlen(evjson) + strlen(redis_part) + strlen(db_part) + strlen(prio) + 224;
    char *body = malloc(cap);
    if (body == NULL) {
        gw_dbjob_error(job, 503, "unavailable", "out of memory");
        return;
    }
    int n = snprintf(body, cap, "{\"event\":%s,\"redis\":%s,\"database\":%s,\"pending\":%s,\"drain_lag_ms\":%lld,\"path\":\"%s\",\"priority\":%s}",
                     evjson, redis_part, db_part, pending_s, lag, path, prio);
    gw_dbjob_answer(job, 200, body, (size_t)n);
    free(body);
}

void gw_route_admin_view(gw_req_t *r)
{
    view_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in != NULL)
        gw_admin_submit(r, run, in, free);
}
