/*
 * GET /v1/admin/events/{event_id}/presence?page=&tab=&cursor=&limit= (admin):
 * one page of the users present on a page and tab, or on the event with
 * their pages (docs/API.md). One call of lua/presence_page.lua on the
 * loop's Redis connection lists the users (the paging is explained there);
 * for the event shape, each listed user's hash tk:{E}:pu:<user> is then
 * read with a plain HGETALL, all of them pipelined in one round trip (the
 * script touches only the key it is given). Never a KEYS or SCAN: the cost
 * is that of the page listed.
 */
#include "gw_presence.h"
#include "gw_presence_cursor.h"
#include "gw_query.h"
#include "gw_redis.h"
#include "gw_routes.h"
#include "tk_json.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct call call_t;

/* One HGETALL of a listed user's pages in flight. */
typedef struct {
    call_t *c;
    size_t i;
} slot_t;

struct call {
    gw_req_t *r; /* one reference, held until the body is sent */
    gw_presence_query_t q;
    int64_t t_ms;   /* the walk's snapshot */
    int64_t now_ms; /* this page's now: pages present at it are listed */
    int64_t count;
    int more;
    size_t n; /* users listed */
    char (*user)[TK_ID_MAX + 1];
    int64_t *score;
    char **pages;   /* the event shape: JSON of each user's present pages; NULL entries until read */
    slot_t *slots;  /* the event shape: one per user */
    size_t pending; /* HGETALLs unanswered (+1 while they are being sent) */
    int failed;     /* a HGETALL failed: 503 */
};

static void call_free(call_t *c)
{
    if (c->pages != NULL)
        for (size_t i = 0; i < c->n; i++)
            free(c->pages[i]);
    free(c->pages);
    free(c->slots);
    free(c->user);
    free(c->score);
    free(c);
}

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

/* Answers with the page of @c, then drops its reference and frees it. */
static void finish(call_t *c)
{
    gw_req_t *r = c->r;
    if (c->failed) {
        gw_reply_unavailable(r, "redis");
        goto out;
    }
    sbuf_t b = {0};
    puts_(&b, "{\"users\":[");
    for (size_t i = 0; i < c->n; i++) {
        char esc[TK_JSON_ESCAPED_MAX(TK_ID_MAX)];
        tk_json_escape(c->user[i], strlen(c->user[i]), esc);
        puts_(&b, i > 0 ? ",{\"user_id\":\"" : "{\"user_id\":\"");
        puts_(&b, esc);
        if (c->q.has_page) {
            puts_(&b, "\",\"last_seen\":");
            put_time(&b, c->score[i]);
            puts_(&b, "}");
        } else {
            puts_(&b, "\",\"pages\":[");
            if (c->pages[i] != NULL)
                puts_(&b, c->pages[i]);
            puts_(&b, "]}");
        }
    }
    puts_(&b, "],\"next_cursor\":");
    if (c->more && c->n > 0) {
        char cur[GW_PRESENCE_CURSOR_MAX];
        gw_presence_cursor_format(c->t_ms, c->score[c->n - 1], c->user[c->n - 1], cur);
        put(&b, "\"", 1);
        puts_(&b, cur);
        put(&b, "\"", 1);
    } else {
        puts_(&b, "null");
    }
    char tail[48];
    snprintf(tail, sizeof tail, ",\"count\":%lld}", (long long)c->count);
    puts_(&b, tail);
    if (b.failed)
        gw_reply_error(r, 503, "unavailable", "out of memory");
    else
        gw_reply(r, 200, b.s, b.len, NULL);
    free(b.s);
out:
    gw_req_release(r);
    call_free(c);
}

/* One user's HGETALL of <page>:<tab> -> ms: keeps the pages present at the page's now, as JSON. */
static void on_user_pages(gw_redis_t *redis, redisReply *reply, void *data)
{
    slot_t *sl = data;
    call_t *c = sl->c;
    (void)redis;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        c->failed = 1;
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        sbuf_t b = {0};
        int first = 1;
        for (size_t j = 0; j + 1 < reply->elements; j += 2) {
            const redisReply *w = reply->element[j];
            int64_t ms = num(reply->element[j + 1]);
            if (w->type != REDIS_REPLY_STRING || !gw_presence_present(ms, c->now_ms))
                continue;
            const char *colon = strrchr(w->str, ':');
            if (colon == NULL)
                continue;
            char page[GW_WATCH_PAGE_MAX + 1];
            size_t plen = (size_t)(colon - w->str);
            if (plen > GW_WATCH_PAGE_MAX)
                continue;
            memcpy(page, w->str, plen);
            page[plen] = '\0';
            char head[96];
            snprintf(head, sizeof head, "%s{\"page\":\"%s\",\"tab\":%d,\"last_seen\":", first ? "" : ",", page, atoi(colon + 1));
            puts_(&b, head);
            put_time(&b, ms);
            puts_(&b, "}");
            first = 0;
        }
        if (b.failed) {
            free(b.s);
            c->failed = 1;
        } else {
            c->pages[sl->i] = b.s; /* NULL when none */
        }
    }
    if (--c->pending == 0)
        finish(c);
}

static void on_page(gw_redis_t *redis, redisReply *reply, void *data)
{
    call_t *c = data;
    gw_req_t *r = c->r;
    if (reply == NULL) {
        gw_reply_unavailable(r, "redis");
        goto fail;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || (reply->elements - 2) % 2 != 0) {
        gw_reply_error(r, 500, "internal", "malformed presence reply");
        goto fail;
    }
    if (r->req == NULL) /* the client is gone: nothing to read for */
        goto fail;
    size_t n = (reply->elements - 2) / 2;
    c->count = num(reply->element[0]);
    c->more = num(reply->element[1]) == 1;
    c->user = calloc(n ? n : 1, sizeof(*c->user));
    c->score = calloc(n ? n : 1, sizeof(*c->score));
    if (c->user == NULL || c->score == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const redisReply *u = reply->element[2 + 2 * i], *s = reply->element[3 + 2 * i];
        if (u->type != REDIS_REPLY_STRING || u->len == 0 || u->len > TK_ID_MAX || memchr(u->str, '\0', u->len) != NULL)
            continue;
        memcpy(c->user[c->n], u->str, u->len);
        c->user[c->n][u->len] = '\0';
        c->score[c->n] = num(s);
        c->n++;
    }
    if (c->q.has_page || c->n == 0) {
        if (!c->q.has_page && (c->pages = calloc(1, sizeof(*c->pages))) == NULL)
            goto nomem;
        finish(c);
        return;
    }
    /* The event shape: each listed user's pages, one pipelined HGETALL per user
     * (sent together at the end of this loop turn). */
    c->pages = calloc(c->n, sizeof(*c->pages));
    c->slots = calloc(c->n, sizeof(*c->slots));
    if (c->pages == NULL || c->slots == NULL)
        goto nomem;
    c->pending = 1;
    for (size_t i = 0; i < c->n; i++) {
        char key[GW_PRESENCE_KEY_MAX];
        gw_presence_user_key(r->event_id, c->user[i], key);
        const char *argv[2] = {"HGETALL", key};
        size_t lens[2] = {7, strlen(key)};
        c->slots[i] = (slot_t){c, i};
        if (gw_redis_command(redis, on_user_pages, &c->slots[i], 2, argv, lens) != 0) {
            c->failed = 1;
            break;
        }
        c->pending++;
    }
    if (--c->pending == 0)
        finish(c);
    return;
nomem:
    gw_reply_error(r, 503, "unavailable", "out of memory");
fail:
    gw_req_release(r);
    call_free(c);
}

void gw_route_admin_presence(gw_req_t *r)
{
    h2o_req_t *req = r->req;
    call_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    char err[128];
    const char *q;
    size_t qlen;
    gw_query_of(req, &q, &qlen);
    if (gw_presence_query_parse(q, qlen, &c->q, err, sizeof err) != 0) {
        free(c);
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    int64_t now = tk_time_now_ms();
    c->t_ms = c->q.has_cursor ? c->q.t_ms : now;
    c->now_ms = now;
    char key[GW_PRESENCE_KEY_MAX];
    if (c->q.has_page)
        gw_presence_page_key(r->event_id, c->q.page, c->q.tab, key);
    else
        tk_key(TK_KEY_PRESENCE, r->event_id, r->elen, key);
    char a_now[24], a_t[24], a_s[24] = "", a_lim[8];
    snprintf(a_now, sizeof a_now, "%lld", (long long)now);
    snprintf(a_t, sizeof a_t, "%lld", (long long)c->t_ms);
    if (c->q.has_cursor)
        snprintf(a_s, sizeof a_s, "%lld", (long long)c->q.score_ms);
    snprintf(a_lim, sizeof a_lim, "%d", c->q.limit);
    const char *argv[6] = {key, a_now, a_t, a_s, c->q.has_cursor ? c->q.user : "", a_lim};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    c->r = gw_req_ref(r);
    if (gw_redis_script(r->th->redis, GW_SCRIPT_PRESENCE_PAGE, on_page, c, 1, 6, argv, lens) != 0) {
        gw_req_release(r);
        free(c);
        gw_reply_unavailable(r, "redis");
    }
}
