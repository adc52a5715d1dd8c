/*
 * gw_fallback_db: the fallbacks' MariaDB reads and exact answers; see
 * gw_fallback_db.h.
 */
#include "gw_fallback_db.h"
#include "gw_refusal.h"
#include "tk_db.h"
#include "tk_sql.h"

#include <stdio.h>
#include <string.h>

#define EVENT_COLUMNS "e.state, e.max_per_user, e.opens_at, e.closes_at, s.total, s.sold, s.ticket_hwm, e.wr_on, e.pr_opens_at, e.pr_snapshot_at "
static const char sql_event[] = "SELECT " EVENT_COLUMNS "FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = ?";
static const char sql_event_lock[] = "SELECT " EVENT_COLUMNS "FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = ? FOR UPDATE";
static const char sql_claim[] = "SELECT ticket, quantity, status, created_at, COALESCE(reason, 'stock_guard') FROM claims "
                                "WHERE event_id = ? AND user_id = ?";
static const char sql_prio[] = "SELECT COUNT(*) FROM event_priority WHERE event_id = ? AND user_id = ?";

void gw_fallback_db_error(gw_fb_item_t *it, int status, const char *code, const char *msg)
{
    it->status = status;
    it->len = (size_t)snprintf(it->body, sizeof(it->body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
}

unsigned gw_fallback_db_event(MYSQL *db, const char *event, size_t elen, gw_fb_event_t *ev, int for_update)
{
    MYSQL_BIND in[1], out[10];
    unsigned long len, slen;
    MYSQL_TIME opens, closes, pr_opens, pr_snap;
    my_bool opens_null = 0, closes_null = 0, pr_opens_null = 1, pr_snap_null = 1;
    memset(&pr_opens, 0, sizeof(pr_opens));
    memset(&pr_snap, 0, sizeof(pr_snap));
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
    tk_sql_bind_i64(&out[7], &ev->wr_on);
    tk_sql_bind_time(&out[8], &pr_opens, &pr_opens_null);
    tk_sql_bind_time(&out[9], &pr_snap, &pr_snap_null);
    unsigned e = tk_sql_stmt(db, for_update ? sql_event_lock : sql_event, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    ev->found = rows == 1;
    if (!ev->found)
        return 0; /* the output buffers hold nothing */
    ev->state[slen < sizeof(ev->state) - 1 ? slen : sizeof(ev->state) - 1] = '\0';
    ev->opens_ms = opens_null ? 0 : tk_db_time_to_ms(&opens);
    ev->closes_ms = closes_null ? 0 : tk_db_time_to_ms(&closes);
    ev->pr_opens_ms = pr_opens_null ? 0 : tk_db_time_to_ms(&pr_opens);
    ev->pr_snapshot_ms = pr_snap_null ? 0 : tk_db_time_to_ms(&pr_snap);
    return 0;
}

unsigned gw_fallback_db_row(MYSQL *db, const char *event, size_t elen, const char *user, size_t ulen, gw_fb_row_t *row, int *found)
{
    MYSQL_BIND in[2], out[5];
    unsigned long elen_, ulen_, slen, rlen;
    long long ticket, qty;
    char status[16];
    MYSQL_TIME created;
    unsigned long long rows = 0;
    memset(&created, 0, sizeof(created));
    tk_sql_bind_str(&in[0], event, &elen_, elen);
    tk_sql_bind_str(&in[1], user, &ulen_, ulen);
    tk_sql_bind_i64(&out[0], &ticket);
    tk_sql_bind_i64(&out[1], &qty);
    tk_sql_bind_strbuf(&out[2], status, sizeof(status) - 1, &slen);
    tk_sql_bind_time(&out[3], &created, NULL); /* NOT NULL (sql/001) */
    tk_sql_bind_strbuf(&out[4], row->reason, sizeof(row->reason) - 1, &rlen);
    unsigned e = tk_sql_stmt(db, sql_claim, in, out, 1, NULL, NULL, &rows);
    *found = e == 0 && rows == 1;
    if (!*found)
        return e;
    status[slen < sizeof(status) - 1 ? slen : sizeof(status) - 1] = '\0';
    row->reason[rlen < sizeof(row->reason) - 1 ? rlen : sizeof(row->reason) - 1] = '\0';
    row->claim = (tk_claim_t){ticket, qty, tk_db_time_to_ms(&created), TK_CLAIM_CONFIRMED};
    row->status_known = tk_claim_status_from_name(status, &row->claim.status) == 0;
    return 0;
}

unsigned gw_fallback_db_known(MYSQL *db, const gw_fb_event_t *ev, gw_fb_item_t *it, int *settled)
{
    const gw_req_t *r = it->r;
    if (!ev->found) {
        char msg[128];
        snprintf(msg, sizeof(msg), "no event %s", r->event_id);
        gw_fallback_db_error(it, 404, "not_found", msg);
        *settled = 1;
        return 0;
    }
    gw_fb_row_t row;
    int found = 0;
    unsigned e = gw_fallback_db_row(db, r->event_id, r->elen, r->user_id, r->ulen, &row, &found);
    *settled = 0;
    if (e != 0 || !found || !row.status_known)
        return e; /* an unknown status: leave it to the 503 */
    /* The claim script's record has no reason: the stock guard, as Redis answers. */
    const tk_claim_t *c = &row.claim;
    int n = tk_claim_json(r->event_id, r->elen, r->user_id, r->ulen, c, c->status == TK_CLAIM_REJECTED ? "stock_guard" : NULL, it->body);
    if (n < 0)
        return 0;
    it->len = (size_t)n;
    it->status = 200;
    *settled = 1;
    return 0;
}

int gw_fallback_db_gate(gw_fb_item_t *it, const gw_fb_event_t *ev, int status_only)
{
    if (status_only || !ev->found || !ev->wr_on || it->r->admitted)
        return 0;
    it->status = gw_refusal_status(GW_REFUSAL_NOT_ADMITTED);
    it->len = gw_refusal_body(GW_REFUSAL_NOT_ADMITTED, it->r->event_id, it->body, sizeof(it->body));
    return 1;
}

unsigned gw_fallback_db_priority(MYSQL *db, const gw_fb_event_t *ev, gw_fb_item_t *it, int64_t now, int status_only, int *settled,
                                 int *open)
{
    *settled = *open = 0;
    if (status_only || !ev->found || ev->pr_opens_ms == 0 || now < ev->pr_opens_ms || ev->opens_ms == 0 || now >= ev->opens_ms)
        return 0;
    if (ev->pr_snapshot_ms == 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "event %s: the priority snapshot is being taken; retry shortly", it->r->event_id);
        gw_fallback_db_error(it, 503, "unavailable", msg);
        *settled = 1;
        return 0;
    }
    MYSQL_BIND in[2], out[1];
    unsigned long elen, ulen;
    long long member = 0;
    tk_sql_bind_str(&in[0], it->r->event_id, &elen, it->r->elen);
    tk_sql_bind_str(&in[1], it->r->user_id, &ulen, it->r->ulen);
    tk_sql_bind_i64(&out[0], &member);
    unsigned e = tk_sql_stmt(db, sql_prio, in, out, 1, NULL, NULL, NULL);
    if (e != 0)
        return e;
    if (member > 0) {
        *open = 1;
        return 0;
    }
    it->status = gw_refusal_status(GW_REFUSAL_NOT_OPEN);
    it->len = gw_refusal_body(GW_REFUSAL_NOT_OPEN, it->r->event_id, it->body, sizeof(it->body));
    *settled = 1;
    return 0;
}

void gw_fallback_db_decide(gw_fb_item_t *it, const gw_fb_event_t *ev, int64_t now, int status_only)
{
    int k = -1;
    if (status_only)
        k = -1;
    else if (strcmp(ev->state, "closed") == 0 || (ev->closes_ms > 0 && now >= ev->closes_ms))
        k = GW_REFUSAL_CLOSED;
    else if (strcmp(ev->state, "paused") == 0)
        k = GW_REFUSAL_PAUSED;
    else if (ev->opens_ms > 0 && now < ev->opens_ms)
        k = GW_REFUSAL_NOT_OPEN;
    else if (it->qty > ev->maxpu)
        k = GW_REFUSAL_LIMIT;
    else if (it->qty > ev->total - ev->sold)
        k = GW_REFUSAL_SOLD_OUT;
    if (k < 0) {
        gw_fallback_db_error(it, 503, "unavailable", "redis is unavailable; retry shortly");
        return;
    }
    it->status = gw_refusal_status((gw_refusal_t)k);
    it->len = gw_refusal_body((gw_refusal_t)k, it->r->event_id, it->body, sizeof(it->body));
}
