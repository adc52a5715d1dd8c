/*
 * gw_fallback: the dispatcher of claims and lookups while Redis is away;
 * see gw_fallback.h.
 */
#include "gw_fallback.h"
#include "gw_dbpool.h"
#include "gw_fallback_db.h"
#include "gw_fallback_grant.h"
#include "gw_fallback_readonly.h"
#include "gw_journal.h"
#include "gw_types.h"

#include <stdio.h>
#include <stdlib.h>

/* Loop thread: each claim's answer as its run step decided it (201 with its Location). */
static void done(gw_dbjob_t *job)
{
    gw_fb_in_t *in = job->in;
    for (int i = 0; i < in->n; i++) {
        gw_fb_item_t *it = &in->items[i];
        char loc[128 + 2 * TK_ID_MAX];
        gw_metrics_add(&it->r->th->metrics.fallback_answers, 1);
        if (it->status == 201)
            snprintf(loc, sizeof(loc), "/v1/events/%s/claims/%s", it->r->event_id, it->r->user_id);
        gw_reply(it->r, it->status, it->body, it->len, it->status == 201 ? loc : NULL);
    }
}

/* Frees @in and releases its requests. */
static void free_in(void *p)
{
    gw_fb_in_t *in = p;
    for (int i = 0; i < in->n; i++)
        gw_req_release(in->items[i].r);
    free(in);
}

/* A batch refused by a full database queue or past its deadline: nothing was decided. */
static size_t shed(gw_dbjob_t *job, const char *message)
{
    gw_fb_in_t *in = job->in;
    for (int i = 0; i < in->n; i++)
        gw_reply_error(in->items[i].r, 503, "unavailable", message);
    return (size_t)in->n;
}

/* Queues @in (takes ownership) for a database thread that decides every item with @run. No memory: every item 503. */
static void submit(gw_thread_t *th, gw_fb_in_t *in, void (*run)(gw_dbjob_t *, gw_dbconn_t *))
{
    gw_dbjob_t *job = gw_dbjob_new_client(th, run);
    if (job == NULL) {
        for (int i = 0; i < in->n; i++)
            gw_reply_unavailable(in->items[i].r, "redis");
        free_in(in);
        return;
    }
    job->in = in;
    job->in_free = free_in;
    job->done = done;
    job->shed = shed;
    gw_dbpool_submit(th->server->dbpool, job);
}

void gw_fallback_claims(gw_thread_t *th, gw_req_t **reqs, const int *qty, int n)
{
    gw_fb_in_t *in = calloc(1, sizeof(*in) + (size_t)n * sizeof(gw_fb_item_t));
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
        submit(th, in, gw_fallback_grant_run); /* the lock-table path, if this event can take it */
    else
        submit(th, in, gw_fallback_readonly_run);
}

void gw_fallback_status(gw_req_t *r)
{
    gw_fb_in_t *in = calloc(1, sizeof(*in) + sizeof(gw_fb_item_t));
    if (in == NULL) {
        gw_reply_unavailable(r, "redis");
        return;
    }
    in->n = 1;
    in->status_only = 1;
    in->items[0].r = gw_req_ref(r);
    submit(r->th, in, gw_fallback_readonly_run);
}
