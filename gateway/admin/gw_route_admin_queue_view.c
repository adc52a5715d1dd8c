/*
 * GET /v1/admin/events/{E}/queue: the event's waiting room as an operator
 * watches it,
 *   {"joined","present","admitted","serving","abandoned","release_per_s",
 *    "measured_release_per_s","paused"},
 * read from Redis in one script call (lua/admin_queue.lua), so the figures
 * are one snapshot. The counters are the ones the room's scripts keep in
 * tk:{E}:wq (docs/CONTRACTS.md): joined = n (places given), serving = the
 * highest place the admitter has passed, admitted and abandoned its
 * counts; present = the users of the line whose last waiting-room
 * heartbeat is younger than 30 s now (the presence rule of gw_presence.h);
 * release_per_s is the configured rate, measured_release_per_s the rate the
 * admitter measured over its last 30 s (stored x1000; null until there is a
 * measurement). A counter not written yet reads 0.
 *
 * Redis alone: the room's places exist nowhere else (sql/006). No such
 * event in Redis: 404; its room off: 409 no_waiting_room.
 * The update route answers with the same view (gw_admin_queue_answer).
 */
#include "gw_admin.h"
#include "gw_routes.h"
#include "tk_keys.h"
#include "tk_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_MAX 512     /* bytes of the view's JSON */

typedef struct {
    gw_admin_ids_t id;
} qview_in_t;

/* A stored counter: "" (absent) is 0; anything but a non-negative decimal integer is malformed (-1). */
static int counter(const redisReply *e, long long *v)
{
    *v = 0;
    if (e->type != REDIS_REPLY_STRING || e->len == 0)
        return e->type == REDIS_REPLY_STRING ? 0 : -1;
    char buf[24], *end;
    if (e->len >= sizeof(buf) || e->str[0] < '0' || e->str[0] > '9')
        return -1;
    memcpy(buf, e->str, e->len);
    buf[e->len] = '\0';
    errno = 0;
    *v = strtoll(buf, &end, 10);
    return errno == 0 && *end == '\0' ? 0 : -1;
}

/* The measured rate x1000 as stored: "" is none (*has = 0); the admitter may store a fraction. */
static int measured(const redisReply *e, int *has, double *v)
{
    *has = 0;
    *v = 0;
    if (e->type != REDIS_REPLY_STRING)
        return -1;
    if (e->len == 0)
        return 0;
    char buf[40], *end;
    if (e->len >= sizeof(buf))
        return -1;
    memcpy(buf, e->str, e->len);
    buf[e->len] = '\0';
    errno = 0;
    *v = strtod(buf, &end);
    if (errno != 0 || *end != '\0' || !(*v >= 0))
        return -1;
    *has = 1;
    return 0;
}

void gw_admin_queue_answer(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, int status)
{
    char kev[TK_KEY_MAX], kwq[TK_KEY_MAX], kseen[TK_KEY_MAX];
    tk_key(TK_KEY_EV, event_id, elen, kev);
    tk_key(TK_KEY_WQ, event_id, elen, kwq);
    tk_key(TK_KEY_WQ_SEEN, event_id, elen, kseen);
    /* present is counted on Redis's clock by the script (the room scripts' one), not ours */
    const char *argv[] = {kev, kwq, kseen};
    size_t lens[] = {strlen(kev), strlen(kwq), strlen(kseen)};
    redisReply *reply = gw_admin_eval(job, conn, "queue", 3, 3, argv, lens);
    if (reply == NULL)
        return;
    /* {1, wr, wr_rate, n, serving, admitted, abandoned, paused, meas, present} */
    long long rate = 0, joined = 0, serving = 0, admitted = 0, abandoned = 0;
    double meas = 0;
    int has_meas = 0;
    redisReply *const *e = reply->element;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && e[0]->type == REDIS_REPLY_INTEGER && e[0]->integer == 0) {
        gw_dbjob_error(job, 404, "not_found", "no event %s", event_id);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 10 || e[1]->type != REDIS_REPLY_STRING ||
               e[7]->type != REDIS_REPLY_STRING || e[9]->type != REDIS_REPLY_INTEGER || counter(e[2], &rate) || counter(e[3], &joined) ||
               counter(e[4], &serving) || counter(e[5], &admitted) || counter(e[6], &abandoned) || measured(e[8], &has_meas, &meas)) {
        tk_error("the waiting room of %s is malformed in redis", event_id);
        gw_dbjob_error(job, 500, "internal", "the waiting room of %s is malformed in redis", event_id);
    } else if (strcmp(e[1]->str, "1") != 0) {
        gw_dbjob_error(job, 409, "no_waiting_room", "event %s has no waiting room", event_id);
    } else {
        char meas_s[48] = "null", body[VIEW_MAX];
        if (has_meas)
            snprintf(meas_s, sizeof(meas_s), "%.3f", meas / 1000.0);
        int n = snprintf(body, sizeof(body),
                         "{\"joined\":%lld,\"present\":%lld,\"admitted\":%lld,\"serving\":%lld,\"abandoned\":%lld,"
                         "\"release_per_s\":%lld,\"measured_release_per_s\":%s,\"paused\":%s}",
                         joined, e[9]->integer, admitted, serving, abandoned, rate, meas_s, strcmp(e[7]->str, "1") == 0 ? "true" : "false");
        gw_dbjob_answer(job, status, body, (size_t)n);
    }
    freeReplyObject(reply);
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    qview_in_t *in = job->in;
    gw_admin_queue_answer(job, conn, in->id.event_id, in->id.elen, 200);
}

void gw_route_admin_queue_view(gw_req_t *r)
{
    qview_in_t *in = gw_admin_in_new(r, sizeof(*in), 1);
    if (in != NULL)
        gw_admin_submit(r, run, in, free);
}
