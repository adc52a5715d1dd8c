/*
 * GET /v1/admin/events/{event_id}/presence?page=&tab=&cursor=&limit= (admin):
 * one page of the users present on a page and tab, or on the event with
 * their pages (docs/API.md). One call of lua/presence_page.lua on the
 * loop's Redis connection; the paging is explained there. Never a KEYS or
 * SCAN: the cost is that of the page listed.
 */
#include "gw_presence.h"
#include "gw_presence_cursor.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "tk_json.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_req_t *r; /* one reference */
    gw_presence_query_t q;
    int64_t t_ms; /* the walk's snapshot */
} call_t;

/* A growing string; on no memory ->failed is set and appends are dropped. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (ns == NULL) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(sbuf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static int64_t num(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return -1;
}

static void put_time(sbuf_t *b, int64_t ms)
{
    char t[TK_TIME_RFC3339_LEN + 1];
    tk_time_format_rfc3339(ms, t);
    put(b, "\"", 1);
    puts_(b, t);
    put(b, "\"", 1);
}

static void on_page(gw_redis_t *redis, redisReply *reply, void *data)
{
    call_t *c = data;
    gw_req_t *r = c->r;
    (void)redis;
    if (reply == NULL) {
        gw_reply_unavailable(r, "redis");
        goto out;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || (reply->elements - 2) % 3 != 0) {
        gw_reply_error(r, 500, "internal", "malformed presence reply");
        goto out;
    }
    sbuf_t b = {0};
    puts_(&b, "{\"users\":[");
    size_t n = (reply->elements - 2) / 3;
    const char *last_user = NULL;
    int64_t last_score = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *u = reply->element[2 + 3 * i], *s = reply->element[3 + 3 * i], *p = reply->element[4 + 3 * i];
        if (u->type != REDIS_REPLY_STRING || u->len > TK_ID_MAX)
            continue;
        char esc[TK_JSON_ESCAPED_MAX(TK_ID_MAX)];
        tk_json_escape(u->str, u->len, esc);
        puts_(&b, i > 0 ? ",{\"user_id\":\"" : "{\"user_id\":\"");
        puts_(&b, esc);
        if (c->q.has_page) {
            puts_(&b, "\",\"last_seen\":");
            put_time(&b, num(s));
            puts_(&b, "}");
        } else {
            puts_(&b, "\",\"pages\":[");
            for (size_t j = 0; p->type == REDIS_REPLY_ARRAY && j + 1 < p->elements; j += 2) {
                const redisReply *w = p->element[j];
                const char *colon = w->type == REDIS_REPLY_STRING ? strrchr(w->str, ':') : NULL;
                if (colon == NULL)
                    continue;
                char page[GW_WATCH_PAGE_MAX + 1];
                size_t plen = (size_t)(colon - w->str);
                if (plen > GW_WATCH_PAGE_MAX)
                    continue;
                memcpy(page, w->str, plen);
                page[plen] = '\0';
                char head[96];
                snprintf(head, sizeof head, "%s{\"page\":\"%s\",\"tab\":%d,\"last_seen\":", j > 0 ? "," : "", page, atoi(colon + 1));
                puts_(&b, head);
                put_time(&b, num(p->element[j + 1]));
                puts_(&b, "}");
            }
            puts_(&b, "]}");
        }
        last_user = u->str;
        last_score = num(s);
    }
    puts_(&b, "],\"next_cursor\":");
    if (num(reply->element[1]) == 1 && last_user != NULL) {
        char cur[GW_PRESENCE_CURSOR_MAX];
        gw_presence_cursor_format(c->t_ms, last_score, last_user, cur);
        put(&b, "\"", 1);
        puts_(&b, cur);
        put(&b, "\"", 1);
    } else {
        puts_(&b, "null");
    }
    char tail[48];
    snprintf(tail, sizeof tail, ",\"count\":%lld}", (long long)num(reply->element[0]));
    puts_(&b, tail);
    if (b.failed)
        gw_reply_error(r, 503, "unavailable", "out of memory");
    else
        gw_reply(r, 200, b.s, b.len, NULL);
    free(b.s);
out:
    gw_req_release(r);
    free(c);
}

void gw_route_admin_presence(gw_req_t *r)
{
    h2o_req_t *req = r->req;
    call_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    char err[128];
    const char *q = NULL;
    size_t qlen = 0;
    if (req->query_at != SIZE_MAX) {
        q = req->path.base + req->query_at + 1;
        qlen = req->path.len - req->query_at - 1;
    }
    if (gw_presence_query_parse(q, qlen, &c->q, err, sizeof err) != 0) {
        free(c);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    int64_t now = tk_time_now_ms();
    c->t_ms = c->q.has_cursor ? c->q.t_ms : now;
    char key[GW_PRESENCE_KEY_MAX], pu[GW_PRESENCE_KEY_MAX] = "";
    if (c->q.has_page) {
        gw_presence_page_key(r->event_id, c->q.page, c->q.tab, key);
    } else {
        tk_key(TK_KEY_PRESENCE, r->event_id, r->elen, key);
        gw_presence_user_key(r->event_id, "", pu);
    }
    char a_now[24], a_t[24], a_s[24] = "", a_lim[8];
    snprintf(a_now, sizeof a_now, "%lld", (long long)now);
    snprintf(a_t, sizeof a_t, "%lld", (long long)c->t_ms);
    if (c->q.has_cursor)
        snprintf(a_s, sizeof a_s, "%lld", (long long)c->q.score_ms);
    snprintf(a_lim, sizeof a_lim, "%d", c->q.limit);
    const char *argv[7] = {key, a_now, a_t, a_s, c->q.has_cursor ? c->q.user : "", a_lim, pu};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    c->r = gw_req_ref(r);
    if (gw_redis_script(r->th->redis, GW_SCRIPT_PRESENCE_PAGE, on_page, c, 1, 7, argv, lens) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
