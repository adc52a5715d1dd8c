#include "gw_event.h"
#include "tk_json.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_i64(const redisReply *r, int64_t *out)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
        return -1;
    char buf[24], *end;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

int gw_event_from_hmget(const redisReply *reply, const char *event_id, size_t elen, gw_event_t *ev)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != GW_EVENT_NFIELDS)
        return -1;
    redisReply *const *f = reply->element;
    if (f[1]->type == REDIS_REPLY_NIL)
        return 1;
    if (f[0]->type != REDIS_REPLY_STRING || f[0]->len > TK_NAME_MAX || f[1]->type != REDIS_REPLY_STRING || f[1]->len >= sizeof(ev->state) ||
        elen > TK_ID_MAX)
        return -1;
    memcpy(ev->event_id, event_id, elen);
    ev->event_id[elen] = '\0';
    memcpy(ev->name, f[0]->str, f[0]->len);
    ev->name[f[0]->len] = '\0';
    memcpy(ev->state, f[1]->str, f[1]->len);
    ev->state[f[1]->len] = '\0';
    if (parse_i64(f[2], &ev->total) || parse_i64(f[3], &ev->remaining) || parse_i64(f[4], &ev->max_per_user) ||
        parse_i64(f[5], &ev->opens_ms) || parse_i64(f[6], &ev->closes_ms) || parse_i64(f[7], &ev->seq))
        return -1;
    ev->ver = 0;
    if (f[8]->type != REDIS_REPLY_NIL && parse_i64(f[8], &ev->ver) != 0)
        return -1;
    /* The room: wr absent or "0" is off; a setting absent reads 0 (a hash set by hand, or by a test, with wr alone). */
    int64_t wr = 0, *room[3] = {&ev->wr_rate, &ev->wr_ttl_s, &ev->wr_opens_ms};
    if (f[9]->type != REDIS_REPLY_NIL && (parse_i64(f[9], &wr) != 0 || (wr != 0 && wr != 1)))
        return -1;
    ev->wr_on = wr == 1;
    for (int i = 0; i < 3; i++) {
        *room[i] = 0;
        if (f[10 + i]->type != REDIS_REPLY_NIL && (parse_i64(f[10 + i], room[i]) != 0 || *room[i] < 0))
            return -1;
    }
    /* The presale: pr_opens absent or "0" is none (an event from before it, or a hash set by hand). */
    int64_t *pr[4] = {&ev->pr_top, &ev->pr_opens_ms, &ev->pr_snap_ms, &ev->pr_n};
    for (int i = 0; i < 4; i++) {
        *pr[i] = 0;
        if (f[14 + i]->type != REDIS_REPLY_NIL && (parse_i64(f[14 + i], pr[i]) != 0 || *pr[i] < 0))
            return -1;
    }
    ev->pr_board[0] = '\0';
    if (f[13]->type == REDIS_REPLY_STRING) {
        if (f[13]->len > TK_ID_MAX)
            return -1;
        memcpy(ev->pr_board, f[13]->str, f[13]->len);
        ev->pr_board[f[13]->len] = '\0';
    }
    if (ev->pr_opens_ms == 0 || ev->pr_board[0] == '\0') {
        ev->pr_opens_ms = ev->pr_top = ev->pr_snap_ms = ev->pr_n = 0;
        ev->pr_board[0] = '\0';
    }
    return 0;
}

int gw_event_in_priority(const gw_event_t *ev, int64_t now_ms)
{
    return ev->pr_opens_ms > 0 && now_ms >= ev->pr_opens_ms && ev->opens_ms > 0 && now_ms < ev->opens_ms;
}

const char *gw_event_state(const gw_event_t *ev, int64_t now_ms)
{
    if (strcmp(ev->state, "closed") == 0 || (ev->closes_ms > 0 && now_ms >= ev->closes_ms))
        return "closed";
    if (strcmp(ev->state, "paused") == 0)
        return "paused";
    if (ev->opens_ms > 0 && now_ms < ev->opens_ms && !gw_event_in_priority(ev, now_ms))
        return "scheduled";
    if (ev->remaining <= 0)
        return "sold_out";
    return gw_event_in_priority(ev, now_ms) ? "priority" : "open";
}

int64_t gw_event_version(const gw_event_t *ev, int64_t now_ms)
{
    return ev->ver + (ev->opens_ms > 0 && now_ms >= ev->opens_ms) + (ev->closes_ms > 0 && now_ms >= ev->closes_ms) +
           (ev->pr_opens_ms > 0 && now_ms >= ev->pr_opens_ms);
}

static void time_or_null(int64_t ms, char *out)
{
    if (ms <= 0) {
        strcpy(out, "null");
        return;
    }
    out[0] = '"';
    tk_time_format_rfc3339(ms, out + 1);
    strcpy(out + 1 + TK_TIME_RFC3339_LEN, "\"");
}

int gw_event_json(const gw_event_t *ev, int64_t now_ms, char *out)
{
    char name[TK_JSON_ESCAPED_MAX(TK_NAME_MAX)], opens[TK_TIME_RFC3339_LEN + 3], closes[TK_TIME_RFC3339_LEN + 3];
    char room[160] = "null", wr_opens[TK_TIME_RFC3339_LEN + 3], prio[160 + TK_ID_MAX] = "null", pr_opens[TK_TIME_RFC3339_LEN + 3];
    tk_json_escape(ev->name, strlen(ev->name), name);
    time_or_null(ev->opens_ms, opens);
    time_or_null(ev->closes_ms, closes);
    if (ev->wr_on) {
        time_or_null(ev->wr_opens_ms, wr_opens);
        snprintf(room, sizeof(room), "{\"enabled\":true,\"release_per_s\":%lld,\"access_ttl_s\":%lld,\"opens_at\":%s}",
                 (long long)ev->wr_rate, (long long)ev->wr_ttl_s, wr_opens);
    }
    if (ev->pr_opens_ms > 0) {
        time_or_null(ev->pr_opens_ms, pr_opens);
        snprintf(prio, sizeof(prio), "{\"board_id\":\"%s\",\"top\":%lld,\"opens_at\":%s}", ev->pr_board, (long long)ev->pr_top, pr_opens);
    }
    return snprintf(out, GW_EVENT_JSON_MAX,
                    "{\"event_id\":\"%s\",\"name\":\"%s\",\"state\":\"%s\",\"stock_total\":%lld,\"remaining\":%lld,"
                    "\"max_per_user\":%lld,\"opens_at\":%s,\"closes_at\":%s,\"version\":%lld,\"waiting_room\":%s,\"priority\":%s}",
                    ev->event_id, name, gw_event_state(ev, now_ms), (long long)ev->total, (long long)ev->remaining,
                    (long long)ev->max_per_user, opens, closes, (long long)gw_event_version(ev, now_ms), room, prio);
}
