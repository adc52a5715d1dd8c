/*
 * gw_refusal: a claim's refusals, one table; see gw_refusal.h.
 */
#include "gw_refusal.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *code;
    int status;
    gw_claim_result_t res;
    const char *fmt; /* of the message; %s is the event id */
} refusals[GW_REFUSAL__COUNT] = {
    [GW_REFUSAL_SOLD_OUT] = {"sold_out", 409, GW_CLAIM_SOLD_OUT, "event %s is sold out"},
    [GW_REFUSAL_LIMIT] = {"limit_reached", 409, GW_CLAIM_LIMIT, "the quantity asked is above what one user may hold on event %s"},
    [GW_REFUSAL_NOT_OPEN] = {"not_open", 403, GW_CLAIM_NOT_OPEN, "event %s is not open yet"},
    [GW_REFUSAL_PAUSED] = {"paused", 403, GW_CLAIM_PAUSED, "event %s is paused"},
    [GW_REFUSAL_CLOSED] = {"closed", 403, GW_CLAIM_CLOSED, "event %s is closed"},
    [GW_REFUSAL_NOT_ADMITTED] = {"not_admitted", 403, GW_CLAIM_NOT_ADMITTED,
                                 "event %s has a waiting room: claim with the access token of your admission"},
};

int gw_refusal_find(const char *code, size_t len)
{
    for (int i = 0; i < GW_REFUSAL__COUNT; i++) {
        if (strlen(refusals[i].code) == len && memcmp(refusals[i].code, code, len) == 0)
            return i;
    }
    return -1;
}

int gw_refusal_status(gw_refusal_t k)
{
    return refusals[k].status;
}

gw_claim_result_t gw_refusal_result(gw_refusal_t k)
{
    return refusals[k].res;
}

size_t gw_refusal_body(gw_refusal_t k, const char *event_id, char *body, size_t cap)
{
    char msg[128];
    snprintf(msg, sizeof(msg), refusals[k].fmt, event_id);
    int n = snprintf(body, cap, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", refusals[k].code, msg);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}
