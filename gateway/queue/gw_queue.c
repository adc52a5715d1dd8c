#include "gw_queue.h"
#include "gw_access.h"
#include "tk_log.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_queue_keys(const char *event_id, size_t elen, char keys[][TK_KEY_MAX])
{
    static const tk_key_kind_t kinds[GW_QUEUE_NKEYS] = {TK_KEY_EV,      TK_KEY_WQ,      TK_KEY_WQ_POS,  TK_KEY_WQ_LINE,
                                                        TK_KEY_WQ_SEEN, TK_KEY_WQ_LIVE, TK_KEY_WQ_GONE, TK_KEY_WQ_ADM};
    for (int i = 0; i < GW_QUEUE_NKEYS; i++)
        tk_key(kinds[i], event_id, elen, keys[i]);
}

int64_t gw_queue_eta(int64_t ahead, int64_t rate_x1000, int paused)
{
    if (paused || rate_x1000 <= 0)
        return -1;
    if (ahead <= 0)
        return 0;
    return (ahead * 1000 + rate_x1000 - 1) / rate_x1000;
}

static int item_int(const redisReply *x, int64_t *v)
{
    if (x->type != REDIS_REPLY_INTEGER)
        return -1;
    *v = x->integer;
    return 0;
}

int gw_queue_place_parse(redisReply *const *items, gw_queue_place_t *p)
{
    static const char *const kinds[] = {"waiting", "admitted", "expired", "none", "lapsed"};
    int64_t v[GW_QUEUE_ITEMS - 1];
    memset(p, 0, sizeof(*p));
    if (items[0]->type != REDIS_REPLY_STRING)
        return -1;
    for (int i = 1; i < GW_QUEUE_ITEMS; i++)
        if (item_int(items[i], &v[i - 1]) != 0)
            return -1;
    int k = 0;
    const int nkinds = (int)(sizeof(kinds) / sizeof(kinds[0]));
    while (k < nkinds && strcmp(items[0]->str, kinds[k]) != 0)
        k++;
    if (k == nkinds)
        return -1;
    p->kind = (gw_queue_kind_t)k;
    if (p->kind == GW_QUEUE_WAITING) {
        p->place = v[0];
        p->ahead = v[1];
        p->serving = v[2];
        p->rate_x1000 = v[3];
        p->paused = v[4] != 0;
    } else if (p->kind == GW_QUEUE_ADMITTED) {
        p->admitted_ms = v[0];
        p->ttl_s = (int)v[1];
    }
    return 0;
}

void gw_queue_answer(gw_req_t *r, const gw_queue_place_t *p, int waiting_status)
{
    char body[GW_QUEUE_BODY_MAX];
    int n;
    switch (p->kind) {
    case GW_QUEUE_WAITING: {
        int64_t eta = gw_queue_eta(p->ahead, p->rate_x1000, p->paused);
        char etas[24];
        if (eta < 0)
            memcpy(etas, "null", 5);
        else
            snprintf(etas, sizeof etas, "%lld", (long long)eta);
        n = snprintf(body, sizeof body,
                     "{\"event_id\":\"%s\",\"user_id\":\"%s\",\"position\":%lld,\"ahead\":%lld,\"state\":\"waiting\","
                     "\"serving\":%lld,\"eta_s\":%s,\"poll_after_ms\":%d}",
                     r->event_id, r->user_id, (long long)p->place, (long long)p->ahead, (long long)p->serving, etas,
                     GW_QUEUE_POLL_AFTER_MS);
        gw_reply(r, waiting_status, body, (size_t)n, NULL);
        return;
    }
    case GW_QUEUE_ADMITTED: {
        char tok[GW_ACCESS_TOKEN_MAX], exp[TK_TIME_RFC3339_LEN + 1];
        if (gw_access_mint(r->th->server, r->event_id, r->elen, r->user_id, r->ulen, p->admitted_ms, p->ttl_s, tok) < 0) {
            gw_reply_error(r, 500, "internal", "the access token could not be signed");
            return;
        }
        tk_time_format_rfc3339((p->admitted_ms / 1000 + p->ttl_s) * 1000, exp);
        /* user ids are [A-Za-z0-9_.:@-], event ids [a-z0-9_-], tokens base64url: nothing to escape */
        n = snprintf(body, sizeof body,
                     "{\"event_id\":\"%s\",\"user_id\":\"%s\",\"state\":\"admitted\",\"access_token\":\"%s\",\"expires_at\":\"%s\"}",
                     r->event_id, r->user_id, tok, exp);
        gw_reply(r, 200, body, (size_t)n, NULL);
        return;
    }
    case GW_QUEUE_EXPIRED:
        gw_reply_error(r, 410, "expired", "this place was passed while its user was away (no heartbeat for 30 s); join again");
        return;
    case GW_QUEUE_LAPSED:
        gw_reply_error(r, 410, "expired", "this admission ran out (access_ttl_s passed); join again for a new place");
        return;
    case GW_QUEUE_NONE:
    default:
        gw_reply_error(r, 404, "not_found", "no place in this waiting room for this user");
        return;
    }
}

void gw_queue_refuse(gw_req_t *r, const char *code)
{
    static const struct {
        const char *code;
        int status;
        const char *message;
    } refusals[] = {
        {"not_found", 404, "no such event"},
        {"no_waiting_room", 409, "this event has no waiting room"},
        {"not_open", 403, "the waiting room is not open yet"},
        {"closed", 403, "the event is closed"},
        {"sold_out", 409, "the event is sold out"},
    };
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        if (strcmp(code, refusals[i].code) == 0) {
            gw_reply_error(r, refusals[i].status, refusals[i].code, refusals[i].message);
            return;
        }
    }
    gw_reply_errorf(r, 500, "internal", "unexpected waiting-room answer %.32s", code);
}

int gw_queue_reply_place(gw_req_t *r, const redisReply *reply, size_t lead, const char *script, gw_queue_place_t *p)
{
    if (reply == NULL) {
        gw_reply_unavailable(r, "redis");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Redis refused (OOM at maxmemory, BUSY, LOADING, a script error): as the claim path, 503 with
         * Retry-After and counted, not the client's fault and nothing written (a script stops at its error) */
        gw_metrics_add(&r->th->metrics.redis_errors, 1);
        tk_warn("waiting room %s script failed: %.200s", script, reply->str);
        gw_reply_unavailable(r, "redis");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_STRING) {
        gw_queue_refuse(r, reply->element[0]->str);
        return -1;
    }
    int ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == lead + GW_QUEUE_ITEMS;
    for (size_t i = 0; ok && i < lead; i++)
        ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
    if (ok && gw_queue_place_parse(reply->element + lead, p) == 0)
        return 0;
    gw_reply_errorf(r, 500, "internal", "unexpected answer from the %s script%s%.100s", script,
                    reply->type == REDIS_REPLY_ERROR ? ": " : "", reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    return -1;
}

int gw_queue_status_call(gw_redis_t *redis, const char *event_id, size_t elen, const char *const *users, int n, int beat,
                         gw_redis_cb cb, void *data)
{
    char keys[GW_QUEUE_NKEYS][TK_KEY_MAX];
    int argc = GW_QUEUE_NKEYS + 1 + n;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    size_t *lens = malloc(sizeof(*lens) * (size_t)argc);
    int rc = -1;
    if (argv == NULL || lens == NULL)
        goto out;
    gw_queue_keys(event_id, elen, keys);
    for (int i = 0; i < GW_QUEUE_NKEYS; i++)
        argv[i] = keys[i];
    argv[GW_QUEUE_NKEYS] = beat ? "1" : "0";
    for (int i = 0; i < n; i++)
        argv[GW_QUEUE_NKEYS + 1 + i] = users[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rc = gw_redis_script(redis, GW_SCRIPT_WQ_STATUS, cb, data, GW_QUEUE_NKEYS, argc, argv, lens);
out:
    free(argv);
    free(lens);
    return rc;
}
