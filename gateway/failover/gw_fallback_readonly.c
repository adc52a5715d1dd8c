/*
 * gw_fallback_readonly: the read-only answers while Redis is away; the
 * argument is in gw_fallback_readonly.h.
 */
#include "gw_fallback_readonly.h"
#include "gw_dbtxn.h"
#include "gw_fallback_db.h"
#include "gw_journal.h"
#include "gw_server.h"
#include "tk_time.h"

#include <stdio.h>

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

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    gw_fb_in_t *in = arg;
    (void)job;
    gw_fb_event_t ev = {0};
    unsigned e = gw_fallback_db_event(db, in->items[0].r->event_id, in->items[0].r->elen, &ev, 0);
    if (e != 0)
        return e;
    int64_t now = tk_time_now_ms();
    for (int i = 0; i < in->n; i++) {
        gw_fb_item_t *it = &in->items[i];
        int settled = 0;
        if (gw_fallback_db_gate(it, &ev, in->status_only))
            continue; /* the waiting room's gate, as claim.lua keeps it */
        if ((e = gw_fallback_db_known(db, &ev, it, &settled)) != 0)
            return e;
        if (settled)
            continue;
        int open = 0;
        if ((e = gw_fallback_db_priority(db, &ev, it, now, in->status_only, &settled, &open)) != 0)
            return e;
        if (settled)
            continue; /* the priority gate, as claim.lua keeps it */
        gw_fb_event_t as_open = ev;
        if (open)
            as_open.opens_ms = 0; /* a snapshot member inside the window: as if open */
        if (in->status_only && known_absent(it->r)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "no claim of user %s on event %s", it->r->user_id, it->r->event_id);
            gw_fallback_db_error(it, 404, "not_found", msg);
        } else {
            gw_fallback_db_decide(it, &as_open, now, in->status_only);
        }
    }
    return 0;
}

void gw_fallback_readonly_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_fb_in_t *in = job->in;
    for (int i = 0; i < in->n; i++)
        gw_fallback_db_error(&in->items[i], 503, "unavailable", "redis is unavailable; retry shortly");
    if (gw_dbtxn_run(job, conn, read_body, in) != 0) {
        for (int i = 0; i < in->n; i++) /* MariaDB failed too: nothing known */
            gw_fallback_db_error(&in->items[i], 503, "unavailable", "redis and the database are unavailable; retry shortly");
    }
    gw_dbjob_answer(job, 200, "", 0); /* each request is answered in done() */
}
