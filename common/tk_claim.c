#include "tk_claim.h"
#include "tk_time.h"

#include <stdio.h>
#include <string.h>

static int parse_i64(const char **p, const char *end, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

int tk_claim_decode(const char *rec, size_t len, tk_claim_t *out)
{
    const char *p = rec, *end = rec + len;
    if (parse_i64(&p, end, &out->ticket) || p == end || *p++ != ' ')
        return -1;
    if (parse_i64(&p, end, &out->quantity) || p == end || *p++ != ' ')
        return -1;
    if (parse_i64(&p, end, &out->created_ms) || p == end || *p++ != ' ')
        return -1;
    if (end - p != 1 || tk_claim_status_name((tk_claim_status_t)*p) == NULL)
        return -1;
    out->status = (tk_claim_status_t)*p;
    return out->ticket > 0 && out->quantity > 0 ? 0 : -1;
}

int tk_claim_encode(const tk_claim_t *c, char *out)
{
    return snprintf(out, TK_CLAIM_RECORD_MAX, "%lld %lld %lld %c", (long long)c->ticket, (long long)c->quantity, (long long)c->created_ms,
                    (char)c->status);
}

const char *tk_claim_status_name(tk_claim_status_t status)
{
    switch (status) {
    case TK_CLAIM_PENDING:
        return "pending";
    case TK_CLAIM_CONFIRMED:
        return "confirmed";
    case TK_CLAIM_REJECTED:
        return "rejected";
    case TK_CLAIM_CANCELLED:
        return "cancelled";
    }
    return NULL;
}

int tk_claim_status_from_name(const char *name, tk_claim_status_t *out)
{
    static const tk_claim_status_t all[] = {TK_CLAIM_PENDING, TK_CLAIM_CONFIRMED, TK_CLAIM_REJECTED, TK_CLAIM_CANCELLED};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, tk_claim_status_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

int tk_claim_id(const char *event_id, size_t elen, int64_t ticket, char *out)
{
    return snprintf(out, TK_CLAIM_ID_MAX, "c-%.*s-%lld", (int)elen, event_id, (long long)ticket);
}

int tk_claim_json(const char *event_id, size_t elen, const char *user_id, size_t ulen, const tk_claim_t *c, const char *reason,
                  char *out)
{
    char id[TK_CLAIM_ID_MAX], created[TK_TIME_RFC3339_LEN + 1];
    tk_claim_id(event_id, elen, c->ticket, id);
    tk_time_format_rfc3339(c->created_ms, created);
    const char *status = tk_claim_status_name(c->status);
    int n = snprintf(out, TK_CLAIM_JSON_MAX,
                     "{\"claim_id\":\"%s\",\"event_id\":\"%.*s\",\"user_id\":\"%.*s\",\"ticket\":%lld,\"quantity\":%lld,"
                     "\"status\":\"%s\",\"created_at\":\"%s\"%s%s%s}",
                     id, (int)elen, event_id, (int)ulen, user_id, (long long)c->ticket, (long long)c->quantity,
                     status != NULL ? status : "pending", created, reason != NULL ? ",\"reason\":\"" : "", reason != NULL ? reason : "",
                     reason != NULL ? "\"" : "");
    return n > 0 && n < TK_CLAIM_JSON_MAX ? n : -1;
}
