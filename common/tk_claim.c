#include "tk_claim.h"
#include "tk_fmt.h"
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

/* Appends @len bytes of @s at *@at in @out (@cap bytes) when they fit below
 * @cap (room is kept for the NUL); past that only *@at moves, so the caller
 * sees the length the whole text would have had, as snprintf returns. */
static void put(char *out, size_t cap, size_t *at, const char *s, size_t len)
{
    if (*at + len < cap)
        memcpy(out + *at, s, len);
    *at += len;
}

#define PUT_LIT(out, cap, at, lit) put(out, cap, at, lit, sizeof(lit) - 1)

static void put_i64(char *out, size_t cap, size_t *at, int64_t v)
{
    char d[TK_FMT_I64_MAX];
    put(out, cap, at, d, tk_fmt_i64(d, v));
}

/* Ends the text at *@at: its length, or the length it would have had. */
static size_t finish(char *out, size_t cap, size_t at)
{
    out[at < cap ? at : cap - 1] = '\0';
    return at;
}

/* The ids are written as "%.*s" wrote them: up to @len bytes, stopping at a NUL. */
static void put_id(char *out, size_t cap, size_t *at, const char *id, size_t len)
{
    put(out, cap, at, id, strnlen(id, len));
}

int tk_claim_id(const char *event_id, size_t elen, int64_t ticket, char *out)
{
    size_t at = 0;
    PUT_LIT(out, TK_CLAIM_ID_MAX, &at, "c-");
    put_id(out, TK_CLAIM_ID_MAX, &at, event_id, elen);
    PUT_LIT(out, TK_CLAIM_ID_MAX, &at, "-");
    put_i64(out, TK_CLAIM_ID_MAX, &at, ticket);
    return (int)finish(out, TK_CLAIM_ID_MAX, at);
}

int tk_claim_location(const char *event_id, size_t elen, const char *user_id, size_t ulen, char *out)
{
    size_t at = 0;
    PUT_LIT(out, TK_CLAIM_LOCATION_MAX, &at, "/v1/events/");
    put_id(out, TK_CLAIM_LOCATION_MAX, &at, event_id, elen);
    PUT_LIT(out, TK_CLAIM_LOCATION_MAX, &at, "/claims/");
    put_id(out, TK_CLAIM_LOCATION_MAX, &at, user_id, ulen);
    return (int)finish(out, TK_CLAIM_LOCATION_MAX, at);
}

/* Written field by field (no printf): the claim answer is built once per
 * granted claim, and a profile of an HTTP/1.1 claim storm put 4% of the
 * gateway's CPU in this function's snprintf. The bytes are those of the
 * snprintf it replaces (test_tk_claim.c compares the two). */
int tk_claim_json(const char *event_id, size_t elen, const char *user_id, size_t ulen, const tk_claim_t *c, const char *reason,
                  char *out)
{
    char id[TK_CLAIM_ID_MAX], created[TK_TIME_RFC3339_LEN + 1];
    size_t idlen = strlen((tk_claim_id(event_id, elen, c->ticket, id), id)), at = 0;
    tk_time_format_rfc3339(c->created_ms, created);
    const char *status = tk_claim_status_name(c->status);
    if (status == NULL)
        status = "pending";
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "{\"claim_id\":\"");
    put(out, TK_CLAIM_JSON_MAX, &at, id, idlen);
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "\",\"event_id\":\"");
    put_id(out, TK_CLAIM_JSON_MAX, &at, event_id, elen);
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "\",\"user_id\":\"");
    put_id(out, TK_CLAIM_JSON_MAX, &at, user_id, ulen);
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "\",\"ticket\":");
    put_i64(out, TK_CLAIM_JSON_MAX, &at, c->ticket);
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, ",\"quantity\":");
    put_i64(out, TK_CLAIM_JSON_MAX, &at, c->quantity);
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, ",\"status\":\"");
    put(out, TK_CLAIM_JSON_MAX, &at, status, strlen(status));
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "\",\"created_at\":\"");
    put(out, TK_CLAIM_JSON_MAX, &at, created, strlen(created));
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "\"");
    if (reason != NULL) {
        PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, ",\"reason\":\"");
        put(out, TK_CLAIM_JSON_MAX, &at, reason, strlen(reason));
        PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "\"");
    }
    PUT_LIT(out, TK_CLAIM_JSON_MAX, &at, "}");
    size_t n = finish(out, TK_CLAIM_JSON_MAX, at);
    return n > 0 && n < TK_CLAIM_JSON_MAX ? (int)n : -1;
}
