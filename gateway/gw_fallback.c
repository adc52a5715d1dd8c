#include "gw_fallback.h"
#include "gw_fallback_db.h"
#include "gw_fallback_grant.h"
#include "gw_journal.h"
#include "gw_server.h"
#include "gw_admin.h"
#include "gw_dbtxn.h"
#include "gw_dbpool.h"
#include "tk_claim.h"
#include "tk_db.h"
#include "tk_log.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_event[] = "SELECT e.state, e.max_per_user, e.opens_at, e.closes_at, s.total, s.sold, s.ticket_hwm "
                                "FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = ?";
static const char sql_event_lock[] = "SELECT e.state, e.max_per_user, e.opens_at, e.closes_at, s.total, s.sold, s.ticket_hwm "
                                     "FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = ? FOR UPDATE";
static const char sql_claim[] = "SELECT ticket, quantity, status, created_at FROM claims WHERE event_id = ? AND user_id = ?";

void gw_fb_set_error(fb_item_t *it, int status, const char *code, const char *msg)
{
    it->status = status;
    it->len = (size_t)snprintf(it->body, sizeof(it->body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
}

/*
 * On the granting path MariaDB holds every claim of the event (the journal
 * was written, every grant since is a row), so a user without a row and not
 * uncertain has no claim: 404, as Redis would say.
 */
static int known_absent(const gw_req_t *r)
{
    gw_journal_t *p = r->th->server->journal;
    gw_journal_info_t info;
    return gw_journal_mode(p) == GW_MODE_GRANT && gw_journal_info(p, r->event_id, r->elen, &info) == 0 && info.evmode == GW_EVMODE_FALLBACK &&
           !gw_journal_uncertain_user(p, r->event_id, r->elen, r->user_id, r->ulen);
}

unsigned gw_fb_read_event(MYSQL *db, const char *event, size_t elen, fb_event_t *ev, int for_update)
{
    MYSQL_BIND in[1], out[7];
    unsigned long len, slen;
    MYSQL_TIME opens, closes;
    my_bool opens_null = 0, closes_null = 0;
    unsigned long long rows = 0;
    memset(&opens, 0, sizeof(opens));
    memset(&closes, 0, sizeof(closes));
    tk_sql_bind_str(&in[0], event, &len, elen);
    tk_sql_bind_strbuf(&out[0], ev->state, sizeof(ev->state) - 1, &slen);
    tk_sql_bind_i64(&out[1], &ev->maxpu);
    tk_sql_bind_time(&out[2], &opens, &opens_null);
    tk_sql_bind_time(&out[3], &closes, &closes_null);
    tk_sql_bind_i64(&out[4], &ev->total);
    tk_sql_bind_i64(&out[5], &ev->sold);
    tk_sql_bind_i64(&out[6], &ev->hwm);
    unsigned e = tk_sql_stmt(db, for_update ? sql_event_lock : sql_event, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    ev->found = rows == 1;
    if (!ev->found)
        return 0; /* the output buffers hold nothing */
    ev->state[slen < sizeof(ev->state) - 1 ? slen : sizeof(ev->state) - 1] = '\0';
    ev->opens_ms = opens_null ? 0 : tk_db_time_to_ms(&opens);
    ev->closes_ms = closes_null ? 0 : tk_db_time_to_ms(&closes);
    return 0;
}

/* The user's claim row, if any, as the API's JSON into it->body (200). */
unsigned gw_fb_read_claim(MYSQL *db, fb_item_t *it, int *found)
{
    const gw_req_t *r = it->r;
    MYSQL_BIND in[2], out[4];
    unsigned long elen, ulen, slen;
    long long ticket, qty;
    char status[16];
    MYSQL_TIME created;
    my_bool created_null = 0;
    unsigned long long rows = 0;
    memset(&created, 0, sizeof(created));
    tk_sql_bind_str(&in[0], r->event_id, &elen, r->elen);
    tk_sql_bind_str(&in[1], r->user_id, &ulen, r->ulen);
    tk_sql_bind_i64(&out[0], &ticket);
    tk_sql_bind_i64(&out[1], &qty);
    tk_sql_bind_strbuf(&out[2], status, sizeof(status) - 1, &slen);
    tk_sql_bind_time(&out[3], &created, &created_null);
    unsigned e = tk_sql_stmt(db, sql_claim, in, out, 1, NULL, NULL, &rows);
    if (e != 0 || rows != 1) {
        *found = 0;
        return e;
    }
    status[slen < sizeof(status) - 1 ? slen : sizeof(status) - 1] = '\0';
    tk_claim_t c = {ticket, qty, created_null ? 0 : tk_db_time_to_ms(&created), TK_CLAIM_CONFIRMED};
    if (tk_claim_status_from_name(status, &c.status) != 0)
        return 0; /* an unknown status: leave it to the 503 */
    int n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, &c, c.status == TK_CLAIM_REJECTED ? "stock_guard" : NULL, it->body);
    if (n < 0)
        return 0;
    it->len = (size_t)n;
    it->status = 200;
    *found = 1;
    return 0;
}

unsigned gw_fb_known(MYSQL *db, const fb_event_t *ev, fb_item_t *it, int *settled)
{
    if (!ev->found) {
        char msg[128];
        snprintf(msg, sizeof(msg), "no event %s", it->r->event_id);
        gw_fb_set_error(it, 404, "not_found", msg);
        *settled = 1;
        return 0;
    }
    return gw_fb_read_claim(db, it, settled);
}

/* What the claim script would answer, where MariaDB can say it exactly. */
void gw_fb_decide(fb_item_t *it, const fb_event_t *ev, int64_t now, int status_only)
{
    char msg[160];
    const char *event_id = it->r->event_id;
    if (status_only) {
        gw_fb_set_error(it, 503, "unavailable", "redis is unavailable; retry shortly");
    } else if (strcmp(ev->state, "closed") == 0 || (ev->closes_ms > 0 && now >= ev->closes_ms)) {
        snprintf(msg, sizeof(msg), "event %s is closed", event_id);
        gw_fb_set_error(it, 403, "closed", msg);
    } else if (strcmp(ev->state, "paused") == 0) {
        snprintf(msg, sizeof(msg), "event %s is paused", event_id);
        gw_fb_set_error(it, 403, "paused", msg);
    } else if (ev->opens_ms > 0 && now < ev->opens_ms) {
        snprintf(msg, sizeof(msg), "event %s is not open yet", event_id);
        gw_fb_set_error(it, 403, "not_open", msg);
    } else if (it->qty > ev->maxpu) {
        snprintf(msg, sizeof(msg), "the quantity asked is above what one user may hold on event %s", event_id);
        gw_fb_set_error(it, 409, "limit_reached", msg);
    } else if (it->qty > ev->total - ev->sold) {
        snprintf(msg, sizeof(msg), "event %s is sold out", event_id);
        gw_fb_set_error(it, 409, "sold_out", msg);
    } else {
        gw_fb_set_error(it, 503, "unavailable", "redis is unavailable; retry shortly");
    }
}

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    fb_in_t *in = arg;
    (void)job;
    fb_event_t ev = {0};
    unsigned e = gw_fb_read_event(db, in->items[0].r->event_id, in->items[0].r->elen, &ev, 0);
    if (e != 0)
        return e;
    int64_t now = tk_time_now_ms();
    for (int i = 0; i < in->n; i++) {
        fb_item_t *it = &in->items[i];
        int settled = 0;
        if ((e = gw_fb_known(db, &ev, it, &settled)) != 0)
            return e;
        if (settled)
            continue;
        if (in->status_only && known_absent(it->r)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "no claim of user %s on event %s", it->r->user_id, it->r->event_id);
            gw_fb_set_error(it, 404, "not_found", msg);
        } else {
            gw_fb_decide(it, &ev, now, in->status_only);
        }
    }
    return 0;
}

void gw_fallback_readonly_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    fb_in_t *in = job->in;
    for (int i = 0; i < in->n; i++)
        gw_fb_set_error(&in->items[i], 503, "unavailable", "redis is unavailable; retry shortly");
    if (gw_dbtxn_run(job, conn, read_body, in) != 0) {
        for (int i = 0; i < in->n; i++) /* MariaDB failed too: nothing known */
            gw_fb_set_error(&in->items[i], 503, "unavailable", "redis and the database are unavailable; retry shortly");
    }
    gw_dbjob_answer(job, 200, "", 0); /* each request is answered in done() */
}

static void done(gw_dbjob_t *job)
{
    fb_in_t *in = job->in;
    for (int i = 0; i < in->n; i++) {
        fb_item_t *it = &in->items[i];
        gw_metrics_add(&it->r->th->metrics.fallback_answers, 1);
        gw_reply(it->r, it->status, it->body, it->len, NULL);
    }
}

void gw_fb_free_in(void *p)
{
    fb_in_t *in = p;
    for (int i = 0; i < in->n; i++)
        gw_req_release(in->items[i].r);
    free(in);
}

/* A batch refused by a full database queue or past its deadline: nothing was decided. */
static size_t shed(gw_dbjob_t *job, const char *message)
{
    fb_in_t *in = job->in;
    for (int i = 0; i < in->n; i++)
        gw_reply_error(in->items[i].r, 503, "unavailable", message);
    return (size_t)in->n;
}

void gw_fb_submit(gw_thread_t *th, fb_in_t *in, void (*run)(gw_dbjob_t *, gw_dbconn_t *), void (*done_cb)(gw_dbjob_t *))
{
    gw_dbjob_t *job = gw_dbjob_new_client(th, run);
    if (job == NULL) {
        for (int i = 0; i < in->n; i++)
            gw_reply_unavailable(in->items[i].r, "redis");
        gw_fb_free_in(in);
        return;
    }
    job->in = in;
    job->in_free = gw_fb_free_in;
    job->done = done_cb;
    job->shed = shed;
    gw_dbpool_submit(th->server->dbpool, job);
}

void gw_fallback_claims(gw_thread_t *th, gw_req_t **reqs, const int *qty, int n)
{
    fb_in_t *in = calloc(1, sizeof(*in) + (size_t)n * sizeof(fb_item_t));
    if (in == NULL) {
        for (int i = 0; i < n; i++)
            gw_reply_unavailable(reqs[i], "redis");
        return;
    }
    in->n = n;
    for (int i = 0; i < n; i++) {
        in->items[i].r = gw_req_ref(reqs[i]);
        in->items[i].qty = qty[i];
    }
    if (gw_journal_mode(th->server->journal) == GW_MODE_GRANT)
        gw_fallback_grant_submit(th, in); /* the lock-table path, if this event can take it */
    else
        gw_fb_submit(th, in, gw_fallback_readonly_run, done);
}

void gw_fallback_status(gw_req_t *r)
{
    fb_in_t *in = calloc(1, sizeof(*in) + sizeof(fb_item_t));
    if (in == NULL) {
        gw_reply_unavailable(r, "redis");
        return;
    }
    in->n = 1;
    in->status_only = 1;
    in->items[0].r = gw_req_ref(r);
    gw_fb_submit(r->th, in, gw_fallback_readonly_run, done);
}
