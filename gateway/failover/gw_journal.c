/*
 * gw_journal: the journal of grants and the claim mode (gw_journal.h): the
 * grants journaled per event in ticket order and pruned as the watermarks
 * say they drained; completeness (base, drain, foreign grants, overflow);
 * uncertain claims; the fallback's lock flags; the mode and its moves.
 * The table of events these live in is gw_journal_events.c; the structs
 * both files share are in gw_journal_int.h.
 *
 * Every API function takes p->mu, the one mutex of the journal.
 */
#include "gw_journal_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- events ------------------------------------------------------------------- */

void gw_journal__ev_free(gw_journal_ev_t *ev)
{
    free(ev->g);
    free(ev->us);
    free(ev);
}

/*
 * A reset forgets what the journal proved about the stream (base,
 * completeness, foreign grants, overflow, the flags) and the uncertain
 * claims, but keeps the grants themselves: on the way back to FAST they
 * may still be undrained, in the stream of a Redis that can lose them yet
 * (a blip's merge, then Redis killed and back empty, or a lagging replica
 * promoted). Forgotten, they were in no journal: the next merge's step 1
 * had nothing to write, and their tickets went out again. The watermarks
 * prune them as they drain, as any grant. Kept grants lie at or below the
 * next base (the first watermark's seq), so the foreign test, which counts
 * grants in (base, seq], does not see them.
 */
static void reset_event(gw_journal_ev_t *ev)
{
    free(ev->us);
    uint64_t inflight = ev->inflight, max_ticket = ev->max_ticket;
    char id[sizeof(ev->id)];
    memcpy(id, ev->id, sizeof(id));
    uint8_t idlen = ev->idlen;
    uint64_t h = ev->h, gen = ev->gen;
    gw_journal_grant_t *g = ev->g;
    size_t n = ev->n, cap = ev->cap;
    memset(ev, 0, sizeof(*ev));
    memcpy(ev->id, id, sizeof(id));
    ev->idlen = idlen;
    ev->h = h;
    ev->gen = gen;
    ev->inflight = inflight;
    ev->g = g;
    ev->n = n;
    ev->cap = cap;
    ev->max_ticket = max_ticket;
    ev->kept_max = n > 0 ? g[n - 1].ticket : 0;
}

static void reset_all(gw_journal_t *p)
{
    size_t entries = 0;
    for (size_t k = 0; k < p->nev; k++) {
        reset_event(p->evs[k]);
        entries += p->evs[k]->n;
    }
    p->entries = entries;
    p->nflushed = 0;
    p->epoch++;
}

/* ---- journal ------------------------------------------------------------------ */

/* How many entries have a ticket at most @t. */
static size_t count_upto(const gw_journal_ev_t *ev, uint64_t t)
{
    size_t lo = 0, hi = ev->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ev->g[mid].ticket <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Replies from different threads arrive slightly out of ticket order: the
 * insertion point is almost always the end. */
static void insert_sorted(gw_journal_ev_t *ev, const gw_journal_grant_t *g)
{
    size_t pos = ev->n;
    while (pos > 0 && ev->g[pos - 1].ticket > g->ticket)
        pos--;
    memmove(&ev->g[pos + 1], &ev->g[pos], (ev->n - pos) * sizeof(*ev->g));
    gw_journal_grant_t *d = &ev->g[pos];
    *d = *g;
    if (d->ulen > TK_ID_MAX)
        d->ulen = TK_ID_MAX;
    d->user[d->ulen] = '\0';
    ev->n++;
}

static int journal(gw_journal_t *p, gw_journal_ev_t *ev, const gw_journal_grant_t *g, size_t ng)
{
    if (ng > p->max_entries - p->entries)
        return -1;
    if (ev->n + ng > ev->cap) {
        size_t cap = ev->cap ? ev->cap : 16;
        while (cap < ev->n + ng)
            cap *= 2;
        gw_journal_grant_t *ng_arr = realloc(ev->g, cap * sizeof(*ng_arr));
        if (ng_arr == NULL)
            return -1;
        ev->g = ng_arr;
        ev->cap = cap;
    }
    for (size_t i = 0; i < ng; i++)
        insert_sorted(ev, &g[i]);
    p->entries += ng;
    return 0;
}

static void prune(gw_journal_t *p, gw_journal_ev_t *ev, uint64_t seq, uint64_t oldest)
{
    size_t k = oldest > 0 ? count_upto(ev, oldest - 1) : count_upto(ev, seq);
    if (k == 0)
        return;
    size_t below = count_upto(ev, ev->base);
    if (k > below)
        ev->pruned_above_base += k - below;
    memmove(ev->g, &ev->g[k], (ev->n - k) * sizeof(*ev->g));
    ev->n -= k;
    p->entries -= k;
    /* A burst must not pin its peak memory for the rest of the process. */
    size_t cap = ev->cap;
    while (cap > 64 && ev->n < cap / 4)
        cap /= 2;
    if (cap < ev->cap) {
        gw_journal_grant_t *g = realloc(ev->g, cap * sizeof(*g));
        if (g != NULL) {
            ev->g = g;
            ev->cap = cap;
        }
    }
}

/* Every ticket in (base, seq] was drawn by us (journaled, pruned, dropped or
 * still in flight) or by someone else. A sequence below base means the
 * event's Redis state was replaced: the journal cannot be trusted either. */
static void check_foreign(gw_journal_ev_t *ev, uint64_t seq)
{
    if (seq < ev->base) {
        ev->foreign = 1;
        return;
    }
    uint64_t ours = (uint64_t)(count_upto(ev, seq) - count_upto(ev, ev->base)) + ev->pruned_above_base;
    if (seq - ev->base > ours + ev->dropped + ev->inflight)
        ev->foreign = 1;
}

/* ---- uncertain users ----------------------------------------------------------- */

static gw_journal_uslot_t *uslot(gw_journal_uslot_t *us, size_t cap, const char *u, size_t len, uint64_t h)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        gw_journal_uslot_t *s = &us[i];
        if (s->h == 0 || (s->h == h && s->len == len && memcmp(s->s, u, len) == 0))
            return s;
    }
}

static int grow_uncertain(gw_journal_ev_t *ev)
{
    if ((ev->us_n + 1) * 2 <= ev->us_cap)
        return 0;
    size_t cap = ev->us_cap ? ev->us_cap * 2 : 16;
    gw_journal_uslot_t *us = calloc(cap, sizeof(*us));
    if (us == NULL)
        return -1;
    for (size_t i = 0; i < ev->us_cap; i++)
        if (ev->us[i].h != 0)
            *uslot(us, cap, ev->us[i].s, ev->us[i].len, ev->us[i].h) = ev->us[i];
    free(ev->us);
    ev->us = us;
    ev->us_cap = cap;
    return 0;
}

/* A user holds at most one claim per event, so a user lost twice is one
 * possible ticket, of the larger quantity asked. */
static int add_uncertain(gw_journal_ev_t *ev, const char *u, size_t len, int qty)
{
    if (qty < 0)
        qty = 0;
    uint64_t h = gw_journal__hash(u, len);
    gw_journal_uslot_t *s = ev->us_cap ? uslot(ev->us, ev->us_cap, u, len, h) : NULL;
    if (s != NULL && s->h != 0) {
        if (qty > s->qty) {
            ev->uncertain_qty += (uint64_t)(qty - s->qty);
            s->qty = qty;
        }
        return 0;
    }
    if (grow_uncertain(ev) != 0)
        return -1;
    s = uslot(ev->us, ev->us_cap, u, len, h);
    s->h = h;
    s->qty = qty;
    s->len = (uint8_t)len;
    memcpy(s->s, u, len);
    ev->us_n++;
    ev->uncertain_n++;
    ev->uncertain_qty += (uint64_t)qty;
    return 0;
}

/* ---- API ---------------------------------------------------------------------- */

gw_journal_t *gw_journal_new(size_t max_entries)
{
    gw_journal_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->mode = GW_MODE_FAST;
    p->max_entries = max_entries;
    return p;
}

void gw_journal_free(gw_journal_t *p)
{
    if (p == NULL)
        return;
    gw_journal__events_free(p);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

gw_mode_t gw_journal_mode(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    gw_mode_t m = p->mode;
    pthread_mutex_unlock(&p->mu);
    return m;
}

const char *gw_mode_name(gw_mode_t m)
{
    static const char *const names[] = {[GW_MODE_FAST] = "fast", [GW_MODE_LOST] = "lost", [GW_MODE_GRANT] = "grant", [GW_MODE_MERGE] = "merge"};
    return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

const char *gw_evmode_name(gw_evmode_t e)
{
    static const char *const names[] = {[GW_EVMODE_REDIS] = "redis", [GW_EVMODE_READONLY] = "read-only",
                                        [GW_EVMODE_FALLBACK] = "fallback", [GW_EVMODE_MERGING] = "merging"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

static int may_move(const gw_journal_t *p, gw_mode_t from, gw_mode_t to)
{
    if (p->mode != from)
        return 0;
    switch (from) {
    case GW_MODE_FAST:
        return to == GW_MODE_LOST;
    case GW_MODE_LOST:
        return to == GW_MODE_FAST || ((to == GW_MODE_GRANT || to == GW_MODE_MERGE) && p->inflight == 0);
    case GW_MODE_GRANT:
        return to == GW_MODE_MERGE;
    case GW_MODE_MERGE:
        return to == GW_MODE_FAST || to == GW_MODE_LOST;
    }
    return 0;
}

int gw_journal_move(gw_journal_t *p, gw_mode_t from, gw_mode_t to)
{
    pthread_mutex_lock(&p->mu);
    int ok = may_move(p, from, to);
    if (ok) {
        if (to == GW_MODE_FAST)
            reset_all(p);
        p->mode = to;
    }
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

/* Replies are journaled in every mode: a batch sent in FAST may answer after the move. */
int gw_journal_replied(gw_journal_t *p, const char *event, size_t elen, int n, const gw_journal_grant_t *g, int ng)
{
    int rc = 0;
    size_t count = ng > 0 && g != NULL ? (size_t)ng : 0;
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, g != NULL); /* the script ran on it: it exists, track it */
    if (ev == NULL) {
        gw_journal__settle(p, NULL, event, elen, n > 0 ? (uint64_t)n : 0);
        rc = count > 0 ? -1 : 0;
        goto out;
    }
    if (n > 0)
        gw_journal__settle(p, ev, event, elen, (uint64_t)n);
    for (size_t i = 0; i < count; i++)
        if (g[i].ticket > ev->max_ticket)
            ev->max_ticket = g[i].ticket;
    if (count > 0 && journal(p, ev, g, count) != 0) {
        ev->overflow = 1;
        ev->dropped += count;
        rc = -1;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Lost in any mode: losses happen exactly when the mode moves. A user that
 * cannot be recorded would be served again by the fallback, so running out
 * of memory makes the event incomplete instead. */
void gw_journal_lost(gw_journal_t *p, const char *event, size_t elen, int n, const char *const *users, const size_t *ulens,
                  const int *qty)
{
    if (n <= 0)
        return;
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 1); /* it may exist: its uncertain users must be kept */
    if (ev == NULL) {
        gw_journal__settle(p, NULL, event, elen, (uint64_t)n);
        goto out;
    }
    gw_journal__settle(p, ev, event, elen, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        int q = qty != NULL ? qty[i] : 0;
        if (users == NULL || ulens == NULL || users[i] == NULL || ulens[i] == 0 || ulens[i] > TK_ID_MAX) {
            /* Not a user the gateway accepts: no retry can be matched, only counted. */
            ev->uncertain_n++;
            ev->uncertain_qty += q > 0 ? (uint64_t)q : 0;
        } else if (add_uncertain(ev, users[i], ulens[i], q) != 0) {
            ev->overflow = 1;
        }
    }
out:
    pthread_mutex_unlock(&p->mu);
}

uint64_t gw_journal_epoch(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t e = p->epoch;
    pthread_mutex_unlock(&p->mu);
    return e;
}

void gw_journal_watermark(gw_journal_t *p, const char *event, size_t elen, uint64_t seq, uint64_t oldest)
{
    gw_journal_watermark_at(p, event, elen, seq, oldest, gw_journal_epoch(p));
}

void gw_journal_watermark_at(gw_journal_t *p, const char *event, size_t elen, uint64_t seq, uint64_t oldest, uint64_t epoch)
{
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = p->mode == GW_MODE_FAST && epoch == p->epoch ? gw_journal__ev_get(p, event, elen, 0) : NULL;
    if (ev == NULL)
        goto out;
    if (seq > ev->max_ticket)
        ev->max_ticket = seq;
    if (!ev->base_set) {
        ev->base = seq;
        ev->base_set = 1;
        /* A grant kept across the reset above the first seq read after it: Redis's state went back without a
         * connection dropping (a flush by hand, say), and the tickets above seq will be drawn again: the foreign
         * test would count our old grants for the new ones. As a seq below base: not trusted until the next reset.
         * (A grant journaled since the reset may lie above: drawn after this read, answered before it applied.) */
        if (ev->kept_max > seq)
            ev->foreign = 1;
        ev->kept_max = 0;
    } else {
        check_foreign(ev, seq);
    }
    if (oldest == 0 || oldest > ev->base)
        ev->drained = 1;
    prune(p, ev, seq, oldest);
out:
    pthread_mutex_unlock(&p->mu);
}

static gw_evmode_t evmode(gw_mode_t m, const gw_journal_ev_t *ev)
{
    switch (m) {
    case GW_MODE_FAST:
        return GW_EVMODE_REDIS;
    case GW_MODE_LOST:
        return GW_EVMODE_READONLY;
    case GW_MODE_GRANT:
        return ev->locked ? GW_EVMODE_FALLBACK : GW_EVMODE_READONLY;
    case GW_MODE_MERGE:
        return GW_EVMODE_MERGING;
    }
    return GW_EVMODE_READONLY;
}

int gw_journal_info(gw_journal_t *p, const char *event, size_t elen, gw_journal_info_t *out)
{
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 0);
    if (ev != NULL) {
        memset(out, 0, sizeof(*out));
        out->complete = ev->base_set && ev->drained && !ev->foreign && !ev->overflow;
        out->foreign = ev->foreign;
        out->overflow = ev->overflow;
        out->flushed = ev->flushed;
        out->locked = ev->locked;
        out->rebuilt = ev->rebuilt;
        memcpy(out->token, ev->token, sizeof(out->token));
        out->max_ticket = ev->max_ticket;
        out->uncertain_n = ev->uncertain_n;
        out->uncertain_qty = ev->uncertain_qty;
        out->entries = ev->n;
        out->journal_max = ev->n > 0 ? ev->g[ev->n - 1].ticket : 0;
        out->inflight = ev->inflight;
        out->evmode = evmode(p->mode, ev);
    }
    pthread_mutex_unlock(&p->mu);
    return ev != NULL ? 0 : -1;
}

int gw_journal_redis_may_lack(const gw_journal_info_t *info, long long redis_seq)
{
    return !info->flushed && info->journal_max > 0 && (redis_seq < 0 || (uint64_t)redis_seq < info->journal_max || info->rebuilt);
}

int gw_journal_uncertain_user(gw_journal_t *p, const char *event, size_t elen, const char *user, size_t ulen)
{
    int hit = 0;
    if (user == NULL || ulen == 0 || ulen > TK_ID_MAX)
        return 0;
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 0);
    if (ev != NULL && ev->us_n > 0)
        hit = uslot(ev->us, ev->us_cap, user, ulen, gw_journal__hash(user, ulen))->h != 0;
    pthread_mutex_unlock(&p->mu);
    return hit;
}

/* Never hands out NULL on success, so a caller can tell an empty journal from a failure. */
int gw_journal_grants(gw_journal_t *p, const char *event, size_t elen, gw_journal_grant_t **out, size_t *n)
{
    int rc = -1;
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 0);
    if (ev != NULL) {
        gw_journal_grant_t *copy = malloc((ev->n ? ev->n : 1) * sizeof(*copy));
        if (copy != NULL) {
            if (ev->n > 0)
                memcpy(copy, ev->g, ev->n * sizeof(*copy));
            *out = copy;
            *n = ev->n;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Tracks the event if need be: a lock the path forgot would never be released. */
void gw_journal_set_locked(gw_journal_t *p, const char *event, size_t elen, const char *token)
{
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 1);
    if (ev != NULL) {
        p->nflushed += !ev->flushed;
        ev->flushed = 1;
        ev->locked = 1;
        size_t tl = token != NULL ? strnlen(token, GW_JOURNAL_TOKEN_MAX) : 0;
        memset(ev->token, 0, sizeof(ev->token));
        memcpy(ev->token, token, tl);
    }
    pthread_mutex_unlock(&p->mu);
}

void gw_journal_set_rebuilt(gw_journal_t *p, const char *event, size_t elen)
{
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 0);
    if (ev != NULL)
        ev->rebuilt = 1;
    pthread_mutex_unlock(&p->mu);
}

void gw_journal_clear_locked(gw_journal_t *p, const char *event, size_t elen)
{
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 0);
    if (ev != NULL) {
        ev->locked = 0;
        memset(ev->token, 0, sizeof(ev->token));
    }
    pthread_mutex_unlock(&p->mu);
}

void gw_journal_reset(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    reset_all(p);
    pthread_mutex_unlock(&p->mu);
}

/* One lock for all four: a scrape sees them at one instant. */
void gw_journal_counts(gw_journal_t *p, gw_journal_counts_t *out)
{
    pthread_mutex_lock(&p->mu);
    out->tracked = p->nev;
    out->untracked_inflight = p->fl_n;
    out->inflight = p->inflight;
    out->entries = p->entries;
    pthread_mutex_unlock(&p->mu);
}
