/*
 * gw_soldout: a sold-out event's refusals without the claim script; the
 * essay (why a 409 given here is exact, and why order holds) is in
 * gw_soldout.h.
 */
#include "gw_soldout.h"
#include "gw_batcher.h"
#include "gw_journal.h"
#include "gw_redis.h"
#include "gw_refusal.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdlib.h>
#include <string.h>

/* One marked event of the thread, with the claims held for it. */
typedef struct st_so_ev_t {
    struct st_so_ev_t *next;
    gw_soldout_t *owner; /* NULL once the owner is gone (checks were still in flight) */
    gw_thread_t *th;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    int marked;      /* claim.lua said sold_out, and no check since showed otherwise */
    gw_req_t **reqs; /* the claims held, in arrival order; the first `covered` are in checks in flight */
    int *qty;
    int n, cap;
    int covered;    /* claims in the current checks in flight, a prefix of reqs, in the order of those checks */
    int inflight;   /* checks sent and not answered, void ones included */
    unsigned epoch; /* moves when the claims are handed back: the checks still out are void */
} so_ev_t;

/* One check in flight: the claims it covers are the first `n` of its event's when its reply comes (replies come in order). */
typedef struct {
    so_ev_t *e;
    int n;
    unsigned epoch;
    int64_t now_ms; /* the clock it judges by (claim.lua's ARGV[1]) */
} so_check_t;

/* What soldout.lua read. */
typedef struct {
    int open;  /* state open, inside opens..closes at the check's clock */
    int wr_on; /* the event has a waiting room */
    int64_t remaining, maxpu;
    int first_holder; /* index of the first checked user holding a claim record, or the check's n */
} so_read_t;

struct st_gw_soldout_t {
    gw_thread_t *th;
    gw_batcher_t *batcher;
    int max_check;
    int held;
    int nevents;
    so_ev_t *events;
    h2o_timeout_t zero_timeout;
    h2o_timeout_entry_t flush_entry;
};

static void add_held(gw_soldout_t *s, int d)
{
    s->held += d;
    __atomic_store_n(&s->th->metrics.soldout_held, (uint64_t)s->held, __ATOMIC_RELAXED); /* a gauge /metrics adds to the batcher's */
}

static so_ev_t *find(gw_soldout_t *s, const char *event, size_t elen)
{
    for (so_ev_t *e = s->events; e != NULL; e = e->next)
        if (e->elen == elen && memcmp(e->event_id, event, elen) == 0)
            return e;
    return NULL;
}

static void ev_free(so_ev_t *e)
{
    free(e->reqs);
    free(e->qty);
    free(e);
}

/* Drops @e from its owner's list when it is no longer needed (unmarked, nothing held, no check out). */
static void maybe_forget(gw_soldout_t *s, so_ev_t *e)
{
    if (e->marked || e->n > 0 || e->inflight > 0)
        return;
    for (so_ev_t **link = &s->events; *link != NULL; link = &(*link)->next) {
        if (*link == e) {
            *link = e->next;
            s->nevents--;
            ev_free(e);
            return;
        }
    }
}

/*
 * Gives every claim @e holds back to the batcher, in arrival order, makes
 * the checks still out void, and leaves @e marked only if @keep_mark. The
 * mark is off while they go, so the first opens a batch of their event and
 * the rest join it (or the next, if it fills): they reach claim.lua in this
 * order, and a claim arriving later in this loop turn joins that batch
 * behind them (gw_batcher_add holds a claim here only when no batch of its
 * event is open).
 */
static void hand_back(gw_soldout_t *s, so_ev_t *e, int keep_mark)
{
    int n = e->n;
    gw_req_t **reqs = e->reqs;
    int *qty = e->qty;
    e->marked = 0;
    e->epoch++;
    e->reqs = NULL, e->qty = NULL, e->n = 0, e->cap = 0, e->covered = 0;
    for (int i = 0; i < n; i++) {
        add_held(s, -1);
        gw_batcher_add(s->batcher, reqs[i], qty[i]);
        gw_req_release(reqs[i]);
    }
    free(reqs);
    free(qty);
    e->marked = keep_mark;
    maybe_forget(s, e);
}

/* Answers the first @k claims of @e 409 sold_out and drops them from what it holds. */
static void answer_prefix(gw_soldout_t *s, so_ev_t *e, int k)
{
    if (k == 0)
        return;
    char body[GW_REFUSAL_BODY_MAX];
    size_t blen = gw_refusal_body(GW_REFUSAL_SOLD_OUT, e->event_id, body, sizeof(body));
    gw_metrics_t *m = &e->th->metrics;
    for (int i = 0; i < k; i++) {
        gw_metrics_add(&m->claims[gw_refusal_result(GW_REFUSAL_SOLD_OUT)], 1);
        gw_reply(e->reqs[i], gw_refusal_status(GW_REFUSAL_SOLD_OUT), body, blen, NULL);
        gw_req_release(e->reqs[i]);
    }
    gw_metrics_add(&m->soldout_local, (uint64_t)k);
    memmove(e->reqs, e->reqs + k, (size_t)(e->n - k) * sizeof(*e->reqs));
    memmove(e->qty, e->qty + k, (size_t)(e->n - k) * sizeof(*e->qty));
    e->n -= k;
    e->covered -= k;
    add_held(s, -k);
}

/* The claim at @i of a check that read @rd: 1 when that read proves claim.lua would have refused it sold_out then (gw_soldout.h). */
static int refused_here(const so_ev_t *e, const so_read_t *rd, int i)
{
    const gw_req_t *r = e->reqs[i];
    int q = e->qty[i];
    return rd->open && (!rd->wr_on || r->admitted) && q <= rd->maxpu && q > rd->remaining && i < rd->first_holder;
}

/*
 * The reply of check @c is in, read into @rd (NULL: no usable read). A void
 * check only leaves flight. Otherwise it covers the first c->n claims held
 * (every check before it refused all of its own): the refused prefix is
 * answered; at the first claim it cannot answer, every claim held goes back
 * to the batcher and the later checks are void.
 */
static void settle(so_check_t *c, const so_read_t *rd)
{
    so_ev_t *e = c->e;
    gw_soldout_t *s = e->owner;
    int n = c->n, current = c->epoch == e->epoch;
    e->inflight--;
    gw_journal_replied(e->th->server->journal, e->event_id, e->elen, n, NULL, 0); /* out of flight; it granted nothing */
    free(c);
    if (s == NULL) { /* the owner went away (the thread is stopping); its claims went back to the batcher then */
        if (e->inflight == 0)
            ev_free(e);
        return;
    }
    if (!current) {
        maybe_forget(s, e);
        return;
    }
    int k = 0;
    if (rd != NULL)
        while (k < n && refused_here(e, rd, k))
            k++;
    answer_prefix(s, e, k);
    if (k < n) {
        /* The first claim not proven refused, and every one after it, to claim.lua. The
         * mark stays when the event is still sold out for that claim's quantity: it
         * stopped for a reason of its own (a claim record, the room's gate, above maxpu). */
        hand_back(s, e, rd != NULL && rd->open && e->qty[0] > rd->remaining);
        return;
    }
    maybe_forget(s, e);
}

static int parse_i64(const redisReply *v, int64_t *out)
{
    if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 19)
        return -1;
    int neg = v->str[0] == '-';
    size_t i = (size_t)neg;
    if (i == v->len)
        return -1;
    int64_t x = 0;
    for (; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
        x = x * 10 + (v->str[i] - '0');
    }
    *out = neg ? -x : x;
    return 0;
}

/* soldout.lua's reply: {state, remaining, maxpu, opens, closes, wr, first}. */
static void on_check(gw_redis_t *redis, redisReply *reply, void *data)
{
    so_check_t *c = data;
    so_read_t rd;
    int64_t opens, closes, first;
    (void)redis;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 7 || reply->element[6]->type != REDIS_REPLY_INTEGER) {
        if (reply != NULL) /* an answer, so gw_redis did not count it */
            gw_metrics_add(&c->e->th->metrics.redis_errors, 1);
        settle(c, NULL);
        return;
    }
    redisReply **f = reply->element;
    int stated = f[0]->type == REDIS_REPLY_STRING && f[0]->len == 4 && memcmp(f[0]->str, "open", 4) == 0;
    if (!stated || parse_i64(f[1], &rd.remaining) != 0 || parse_i64(f[2], &rd.maxpu) != 0 || parse_i64(f[3], &opens) != 0 ||
        parse_i64(f[4], &closes) != 0) {
        rd.open = 0; /* missing (no such event), paused, closed or malformed: claim.lua says which */
        rd.remaining = rd.maxpu = 0;
    } else {
        rd.open = (opens <= 0 || c->now_ms >= opens) && (closes <= 0 || c->now_ms < closes);
    }
    rd.wr_on = f[5]->type == REDIS_REPLY_STRING && f[5]->len == 1 && f[5]->str[0] == '1';
    first = f[6]->integer;
    if (first < 0 || first > c->n) {
        settle(c, NULL);
        return;
    }
    rd.first_holder = first >= 1 ? (int)first - 1 : c->n;
    settle(c, &rd);
}

/*
 * Sends a check of @e's claims not yet in one (at most max_check). Returns
 * 0; or -1 when it could not, and every claim was handed back (@e may be
 * gone then): the fast path closed, no memory, the call refused.
 */
static int send_check(gw_soldout_t *s, so_ev_t *e)
{
    gw_thread_t *th = s->th;
    int m = e->n - e->covered < s->max_check ? e->n - e->covered : s->max_check;
    so_check_t *c;
    /* As a claim batch: only on the fast path, and in flight until answered (gw_soldout.h). */
    if (!gw_redis_is_up(th->redis) || (c = malloc(sizeof(*c))) == NULL) {
        hand_back(s, e, 0);
        return -1;
    }
    if (gw_journal_sent(th->server->journal, e->event_id, e->elen, m) != 0) {
        free(c);
        hand_back(s, e, 0);
        return -1;
    }
    char keys[2][TK_KEY_MAX];
    const char *argv[2 + m];
    size_t lens[2 + m];
    lens[0] = (size_t)tk_key(TK_KEY_EV, e->event_id, e->elen, keys[0]);
    lens[1] = (size_t)tk_key(TK_KEY_CLAIMS, e->event_id, e->elen, keys[1]);
    argv[0] = keys[0], argv[1] = keys[1];
    for (int i = 0; i < m; i++) {
        argv[2 + i] = e->reqs[e->covered + i]->user_id;
        lens[2 + i] = e->reqs[e->covered + i]->ulen;
    }
    c->e = e;
    c->n = m;
    c->epoch = e->epoch;
    c->now_ms = tk_time_now_ms();
    e->covered += m;
    e->inflight++;
    gw_metrics_add(&th->metrics.soldout_checks, 1);
    if (gw_redis_script(th->redis, GW_SCRIPT_SOLDOUT, on_check, c, 2, 2 + m, argv, lens) != 0) {
        settle(c, NULL); /* not sent: its claims, and every one held, go back */
        return -1;
    }
    return 0;
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_soldout_t *s = H2O_STRUCT_FROM_MEMBER(gw_soldout_t, flush_entry, entry);
    so_ev_t *e = s->events;
    while (e != NULL) {
        so_ev_t *next = e->next; /* send_check may forget e */
        while (e->n > e->covered)
            if (send_check(s, e) != 0)
                break; /* handed back (and maybe forgotten): nothing more to send */
        e = next;
    }
}

gw_soldout_t *gw_soldout_create(gw_thread_t *th, gw_batcher_t *b)
{
    gw_soldout_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->th = th;
    s->batcher = b;
    s->max_check = GW_SOLDOUT_CHECK_MAX;
    h2o_timeout_init(th->ctx.loop, &s->zero_timeout, 0);
    s->flush_entry.cb = on_flush;
    return s;
}

void gw_soldout_destroy(gw_soldout_t *s)
{
    if (s == NULL)
        return;
    if (h2o_timeout_is_linked(&s->flush_entry))
        h2o_timeout_unlink(&s->flush_entry);
    /* Every claim held goes back to the batcher, which sends it (or answers 503) as it
     * stops; an event with checks still out is left to their replies, which free it (settle). */
    so_ev_t *e = s->events;
    while (e != NULL) {
        so_ev_t *next = e->next;
        hand_back(s, e, 0); /* forgets e unless a check is out */
        e = next;
    }
    for (e = s->events; e != NULL; e = e->next)
        e->owner = NULL;
    s->events = NULL;
    h2o_timeout_dispose(s->th->ctx.loop, &s->zero_timeout);
    free(s);
}

void gw_soldout_seen(gw_soldout_t *s, const char *event, size_t elen)
{
    so_ev_t *e = find(s, event, elen);
    if (e == NULL) {
        if (s->nevents >= GW_SOLDOUT_EVENTS || elen > TK_ID_MAX || (e = calloc(1, sizeof(*e))) == NULL)
            return; /* not marked: its claims keep going to claim.lua */
        e->owner = s;
        e->th = s->th;
        memcpy(e->event_id, event, elen);
        e->event_id[elen] = '\0';
        e->elen = elen;
        e->next = s->events;
        s->events = e;
        s->nevents++;
    }
    e->marked = 1;
}

int gw_soldout_take(gw_soldout_t *s, gw_req_t *r, int quantity)
{
    if (s->events == NULL)
        return 0;
    so_ev_t *e = find(s, r->event_id, r->elen);
    if (e == NULL || !e->marked)
        return 0;
    if (e->n == e->cap) {
        int cap = e->cap > 0 ? e->cap * 2 : 64;
        gw_req_t **reqs = realloc(e->reqs, (size_t)cap * sizeof(*reqs));
        int *qty = reqs != NULL ? realloc(e->qty, (size_t)cap * sizeof(*qty)) : NULL;
        if (reqs != NULL)
            e->reqs = reqs;
        if (qty == NULL) {
            /* Not to the batcher: it would send this claim ahead of the ones held. */
            gw_metrics_add(&s->th->metrics.claims[GW_CLAIM_UNAVAILABLE], 1);
            gw_reply_error(r, 503, "unavailable", "out of memory");
            return 1;
        }
        e->qty = qty;
        e->cap = cap;
    }
    e->reqs[e->n] = gw_req_ref(r);
    e->qty[e->n] = quantity;
    e->n++;
    add_held(s, 1);
    if (!h2o_timeout_is_linked(&s->flush_entry))
        h2o_timeout_link(s->th->ctx.loop, &s->zero_timeout, &s->flush_entry);
    return 1;
}

int gw_soldout_held(const gw_soldout_t *s)
{
    return s->held;
}
