#include "gw_journal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 32

/* ---- types ------------------------------------------------------------------ */

/* One uncertain user. h == 0 marks an empty slot (hash() never returns 0). */
typedef struct {
    uint64_t h;
    int32_t qty;
    uint8_t len;
    char s[TK_ID_MAX];
} uslot_t;

/* Claims in flight on an event that is not tracked (see gw_journal.h). h == 0 marks an empty slot. */
typedef struct {
    uint64_t h;
    uint64_t n;
    uint8_t len;
    char id[TK_ID_MAX];
} fslot_t;

typedef struct {
    char id[TK_ID_MAX + 1];
    uint8_t idlen;
    uint64_t h;
    uint64_t gen; /* the tk:events read that last listed it (or during which it was tracked) */
    gw_journal_grant_t *g; /* the journal, in ticket order */
    size_t n, cap;
    uint64_t inflight;
    uslot_t *us; /* uncertain users, open addressing; us_cap is 0 or a power of 2 */
    size_t us_n, us_cap;
    uint64_t uncertain_n, uncertain_qty;
    uint64_t base, max_ticket;
    /* Our grants the journal no longer holds: they still count as ours in the
     * foreign test, or our own replies would look like another writer's. */
    uint64_t pruned_above_base, dropped;
    int base_set, drained, foreign, overflow, flushed, locked;
    char token[TOKEN_MAX + 1];
} ev_t;

struct gw_journal {
    pthread_mutex_t mu;
    gw_mode_t mode;
    size_t max_entries, entries;
    uint64_t inflight;
    ev_t **evs; /* tracked events, in the order tracked; removed only by gw_journal_sync_end */
    size_t nev, evcap;
    uint32_t *idx; /* open addressing over evs: index + 1, 0 empty; idxcap a power of 2 */
    size_t idxcap;
    size_t nflushed;    /* tracked events with flushed set */
    fslot_t *fl;        /* in flight on untracked events: open addressing, fl_cap 0 or a power of 2 */
    size_t fl_n, fl_cap;
    uint64_t gen;       /* the current tk:events read (gw_journal_sync_begin) */
    size_t wm_busy, wm_idle; /* round-robin cursors of gw_journal_watermark_pick, into evs */
};

/* ---- helpers ------------------------------------------------------------------- */

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h != 0 ? h : 1;
}

static int valid_id(const char *s, size_t len)
{
    return s != NULL && len > 0 && len <= TK_ID_MAX && memchr(s, '\0', len) == NULL;
}

static uint64_t take(uint64_t *from, uint64_t n)
{
    uint64_t t = n < *from ? n : *from;
    *from -= t;
    return t;
}

/* ---- events ------------------------------------------------------------------- */

static ev_t *find(gw_journal_t *p, const char *e, size_t len, uint64_t h)
{
    if (p->idxcap == 0)
        return NULL;
    for (size_t i = h & (p->idxcap - 1);; i = (i + 1) & (p->idxcap - 1)) {
        if (p->idx[i] == 0)
            return NULL;
        ev_t *ev = p->evs[p->idx[i] - 1];
        if (ev->h == h && ev->idlen == len && memcmp(ev->id, e, len) == 0)
            return ev;
    }
}

static void index_put(uint32_t *idx, size_t cap, uint64_t h, uint32_t v)
{
    size_t i = h & (cap - 1);
    while (idx[i] != 0)
        i = (i + 1) & (cap - 1);
    idx[i] = v;
}

/* Keeps the index at most half full, so probes stay short and always end. */
static int grow_index(gw_journal_t *p)
{
    if ((p->nev + 1) * 2 <= p->idxcap)
        return 0;
    size_t cap = p->idxcap ? p->idxcap * 2 : 64;
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (idx == NULL)
        return -1;
    for (size_t k = 0; k < p->nev; k++)
        index_put(idx, cap, p->evs[k]->h, (uint32_t)(k + 1));
    free(p->idx);
    p->idx = idx;
    p->idxcap = cap;
    return 0;
}

static int grow_events(gw_journal_t *p)
{
    if (p->nev < p->evcap)
        return 0;
    size_t cap = p->evcap ? p->evcap * 2 : 16;
    ev_t **evs = realloc(p->evs, cap * sizeof(*evs));
    if (evs == NULL)
        return -1;
    p->evs = evs;
    p->evcap = cap;
    return 0;
}

static size_t fl_find(const gw_journal_t *p, const char *e, size_t len, uint64_t h);
static void fl_remove(gw_journal_t *p, size_t i);

/*
 * The event, tracked on first sight when @create; its claims counted in
 * flight while it was untracked move into it, so every count stays exact.
 * NULL: invalid id, unknown, or no memory.
 */
static ev_t *get(gw_journal_t *p, const char *e, size_t len, int create)
{
    if (!valid_id(e, len))
        return NULL;
    uint64_t h = hash(e, len);
    ev_t *ev = find(p, e, len, h);
    if (ev != NULL || !create)
        return ev;
    if (p->nev >= UINT32_MAX - 1 || grow_events(p) != 0 || grow_index(p) != 0)
        return NULL;
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return NULL;
    memcpy(ev->id, e, len);
    ev->idlen = (uint8_t)len;
    ev->h = h;
    ev->gen = p->gen;
    size_t f = fl_find(p, e, len, h);
    if (f != SIZE_MAX) {
        ev->inflight = p->fl[f].n;
        fl_remove(p, f);
    }
    p->evs[p->nev++] = ev;
    index_put(p->idx, p->idxcap, h, (uint32_t)p->nev);
    return ev;
}

/* Rebuilds the index over evs[0..nev), sized for them; 0, or -1 on no memory (the old one stays). */
static int rebuild_index(gw_journal_t *p)
{
    size_t cap = 64;
    while (cap < (p->nev + 1) * 2)
        cap *= 2;
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (idx == NULL)
        return -1;
    for (size_t k = 0; k < p->nev; k++)
        index_put(idx, cap, p->evs[k]->h, (uint32_t)(k + 1));
    free(p->idx);
    p->idx = idx;
    p->idxcap = cap;
    return 0;
}

/* ---- claims in flight on untracked events ---------------------------------------- */

static size_t fl_find(const gw_journal_t *p, const char *e, size_t len, uint64_t h)
{
    if (p->fl_n == 0)
        return SIZE_MAX;
    for (size_t i = h & (p->fl_cap - 1);; i = (i + 1) & (p->fl_cap - 1)) {
        const fslot_t *s = &p->fl[i];
        if (s->h == 0)
            return SIZE_MAX;
        if (s->h == h && s->len == len && memcmp(s->id, e, len) == 0)
            return i;
    }
}

static fslot_t *fl_slot(fslot_t *fl, size_t cap, uint64_t h)
{
    size_t i = h & (cap - 1);
    while (fl[i].h != 0)
        i = (i + 1) & (cap - 1);
    return &fl[i];
}

static int fl_resize(gw_journal_t *p, size_t cap)
{
    fslot_t *fl = calloc(cap, sizeof(*fl));
    if (fl == NULL)
        return -1;
    for (size_t i = 0; i < p->fl_cap; i++)
        if (p->fl[i].h != 0)
            *fl_slot(fl, cap, p->fl[i].h) = p->fl[i];
    free(p->fl);
    p->fl = fl;
    p->fl_cap = cap;
    return 0;
}

/* Counts @n more claims in flight on the untracked event @e. 0, or -1 on no memory (nothing counted). */
static int fl_add(gw_journal_t *p, const char *e, size_t len, uint64_t h, uint64_t n)
{
    size_t i = fl_find(p, e, len, h);
    if (i != SIZE_MAX) {
        p->fl[i].n += n;
        return 0;
    }
    if ((p->fl_n + 1) * 2 > p->fl_cap && fl_resize(p, p->fl_cap ? p->fl_cap * 2 : 64) != 0)
        return -1;
    fslot_t *s = fl_slot(p->fl, p->fl_cap, h);
    s->h = h;
    s->n = n;
    s->len = (uint8_t)len;
    memcpy(s->id, e, len);
    p->fl_n++;
    return 0;
}

/* Empties slot @i, shifting back the entries of its probe run (no tombstones: lookups stay short). */
static void fl_remove(gw_journal_t *p, size_t i)
{
    size_t mask = p->fl_cap - 1;
    for (size_t j = (i + 1) & mask; p->fl[j].h != 0; j = (j + 1) & mask) {
        size_t home = p->fl[j].h & mask;
        /* The entry at j may move to i only if its home is not cyclically within (i, j]. */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            p->fl[i] = p->fl[j];
            i = j;
        }
    }
    memset(&p->fl[i], 0, sizeof(p->fl[i]));
    p->fl_n--;
    /* A flood must not pin its peak: the table shrinks back (a failed shrink keeps the larger one). */
    if (p->fl_cap > 64 && p->fl_n * 8 < p->fl_cap)
        fl_resize(p, p->fl_cap / 2);
}

/* Takes up to @n claims of event @e out of flight, wherever they are counted. */
static void settle(gw_journal_t *p, ev_t *ev, const char *e, size_t len, uint64_t n)
{
    if (n == 0)
        return;
    if (ev != NULL) {
        p->inflight -= take(&ev->inflight, n);
        return;
    }
    if (!valid_id(e, len))
        return;
    size_t i = fl_find(p, e, len, hash(e, len));
    if (i == SIZE_MAX)
        return;
    p->inflight -= take(&p->fl[i].n, n);
    if (p->fl[i].n == 0)
        fl_remove(p, i);
}

static void reset_event(ev_t *ev)
{
    free(ev->g);
    free(ev->us);
    uint64_t inflight = ev->inflight;
    char id[sizeof(ev->id)];
    memcpy(id, ev->id, sizeof(id));
    uint8_t idlen = ev->idlen;
    uint64_t h = ev->h, gen = ev->gen;
    memset(ev, 0, sizeof(*ev));
    memcpy(ev->id, id, sizeof(id));
    ev->idlen = idlen;
    ev->h = h;
    ev->gen = gen;
    ev->inflight = inflight;
}

static void reset_all(gw_journal_t *p)
{
    for (size_t k = 0; k < p->nev; k++)
        reset_event(p->evs[k]);
    p->entries = 0;
    p->nflushed = 0;
}

/* ---- journal ------------------------------------------------------------------ */

/* How many entries have a ticket at most @t. */
static size_t count_upto(const ev_t *ev, uint64_t t)
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
static void insert_sorted(ev_t *ev, const gw_journal_grant_t *g)
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

static int journal(gw_journal_t *p, ev_t *ev, const gw_journal_grant_t *g, size_t ng)
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

static void prune(gw_journal_t *p, ev_t *ev, uint64_t seq, uint64_t oldest)
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
static void check_foreign(ev_t *ev, uint64_t seq)
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

static uslot_t *uslot(uslot_t *us, size_t cap, const char *u, size_t len, uint64_t h)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        uslot_t *s = &us[i];
        if (s->h == 0 || (s->h == h && s->len == len && memcmp(s->s, u, len) == 0))
            return s;
    }
}

static int grow_uncertain(ev_t *ev)
{
    if ((ev->us_n + 1) * 2 <= ev->us_cap)
        return 0;
    size_t cap = ev->us_cap ? ev->us_cap * 2 : 16;
    uslot_t *us = calloc(cap, sizeof(*us));
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
static int add_uncertain(ev_t *ev, const char *u, size_t len, int qty)
{
    if (qty < 0)
        qty = 0;
    uint64_t h = hash(u, len);
    uslot_t *s = ev->us_cap ? uslot(ev->us, ev->us_cap, u, len, h) : NULL;
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
    for (size_t k = 0; k < p->nev; k++) {
        free(p->evs[k]->g);
        free(p->evs[k]->us);
        free(p->evs[k]);
    }
    free(p->evs);
    free(p->idx);
    free(p->fl);
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
    switch (m) {
    case GW_MODE_FAST:
        return "fast";
    case GW_MODE_LOST:
        return "lost";
    case GW_MODE_GRANT:
        return "grant";
    case GW_MODE_MERGE:
        return "merge";
    }
    return "?";
}

const char *gw_evmode_name(gw_evmode_t e)
{
    switch (e) {
    case GW_EVMODE_REDIS:
        return "redis";
    case GW_EVMODE_READONLY:
        return "read-only";
    case GW_EVMODE_FALLBACK:
        return "fallback";
    case GW_EVMODE_MERGING:
        return "merging";
    }
    return "?";
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

int gw_journal_track(gw_journal_t *p, const char *event, size_t elen)
{
    pthread_mutex_lock(&p->mu);
    ev_t *ev = get(p, event, elen, 1);
    pthread_mutex_unlock(&p->mu);
    return ev != NULL ? 0 : -1;
}

/* Counted on the event when tracked, else in the untracked table: an id nobody
 * created costs a slot only while its claims are in flight (gw_journal.h). */
int gw_journal_sent(gw_journal_t *p, const char *event, size_t elen, int n)
{
    int rc = -1;
    pthread_mutex_lock(&p->mu);
    if (n >= 0 && p->mode == GW_MODE_FAST && valid_id(event, elen)) {
        ev_t *ev = get(p, event, elen, 0);
        if (ev != NULL)
            ev->inflight += (uint64_t)n;
        if (ev != NULL || n == 0 || fl_add(p, event, elen, hash(event, elen), (uint64_t)n) == 0) {
            p->inflight += (uint64_t)n;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Replies are journaled in every mode: a batch sent in FAST may answer after the move. */
int gw_journal_replied(gw_journal_t *p, const char *event, size_t elen, int n, const gw_journal_grant_t *g, int ng)
{
    int rc = 0;
    size_t count = ng > 0 && g != NULL ? (size_t)ng : 0;
    pthread_mutex_lock(&p->mu);
    ev_t *ev = get(p, event, elen, g != NULL); /* the script ran on it: it exists, track it */
    if (ev == NULL) {
        settle(p, NULL, event, elen, n > 0 ? (uint64_t)n : 0);
        rc = count > 0 ? -1 : 0;
        goto out;
    }
    if (n > 0)
        settle(p, ev, event, elen, (uint64_t)n);
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
    ev_t *ev = get(p, event, elen, 1); /* it may exist: its uncertain users must be kept */
    if (ev == NULL) {
        settle(p, NULL, event, elen, (uint64_t)n);
        goto out;
    }
    settle(p, ev, event, elen, (uint64_t)n);
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

void gw_journal_watermark(gw_journal_t *p, const char *event, size_t elen, uint64_t seq, uint64_t oldest)
{
    pthread_mutex_lock(&p->mu);
    ev_t *ev = p->mode == GW_MODE_FAST ? get(p, event, elen, 0) : NULL;
    if (ev == NULL)
        goto out;
    if (seq > ev->max_ticket)
        ev->max_ticket = seq;
    if (!ev->base_set) {
        ev->base = seq;
        ev->base_set = 1;
    } else {
        check_foreign(ev, seq);
    }
    if (oldest == 0 || oldest > ev->base)
        ev->drained = 1;
    prune(p, ev, seq, oldest);
out:
    pthread_mutex_unlock(&p->mu);
}

static gw_evmode_t evmode(gw_mode_t m, const ev_t *ev)
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
    ev_t *ev = get(p, event, elen, 0);
    if (ev != NULL) {
        memset(out, 0, sizeof(*out));
        out->complete = ev->base_set && ev->drained && !ev->foreign && !ev->overflow;
        out->foreign = ev->foreign;
        out->overflow = ev->overflow;
        out->flushed = ev->flushed;
        out->locked = ev->locked;
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

int gw_journal_uncertain_user(gw_journal_t *p, const char *event, size_t elen, const char *user, size_t ulen)
{
    int hit = 0;
    if (user == NULL || ulen == 0 || ulen > TK_ID_MAX)
        return 0;
    pthread_mutex_lock(&p->mu);
    ev_t *ev = get(p, event, elen, 0);
    if (ev != NULL && ev->us_n > 0)
        hit = uslot(ev->us, ev->us_cap, user, ulen, hash(user, ulen))->h != 0;
    pthread_mutex_unlock(&p->mu);
    return hit;
}

/* Never hands out NULL on success, so a caller can tell an empty journal from a failure. */
int gw_journal_grants(gw_journal_t *p, const char *event, size_t elen, gw_journal_grant_t **out, size_t *n)
{
    int rc = -1;
    pthread_mutex_lock(&p->mu);
    ev_t *ev = get(p, event, elen, 0);
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
    ev_t *ev = get(p, event, elen, 1);
    if (ev != NULL) {
        p->nflushed += !ev->flushed;
        ev->flushed = 1;
        ev->locked = 1;
        size_t tl = token != NULL ? strnlen(token, TOKEN_MAX) : 0;
        memset(ev->token, 0, sizeof(ev->token));
        memcpy(ev->token, token, tl);
    }
    pthread_mutex_unlock(&p->mu);
}

void gw_journal_clear_locked(gw_journal_t *p, const char *event, size_t elen)
{
    pthread_mutex_lock(&p->mu);
    ev_t *ev = get(p, event, elen, 0);
    if (ev != NULL) {
        ev->locked = 0;
        memset(ev->token, 0, sizeof(ev->token));
    }
    pthread_mutex_unlock(&p->mu);
}

size_t gw_journal_events(gw_journal_t *p, char (*ids)[TK_ID_MAX + 1], size_t max, int touched_only)
{
    size_t got = 0;
    pthread_mutex_lock(&p->mu);
    /* Touched ones are counted: "none" (the controller asks every tick) costs no walk. */
    size_t limit = touched_only && p->nflushed < max ? p->nflushed : max;
    for (size_t k = 0; k < p->nev && got < limit; k++) {
        const ev_t *ev = p->evs[k];
        if (touched_only && !ev->flushed)
            continue;
        memcpy(ids[got], ev->id, ev->idlen);
        ids[got][ev->idlen] = '\0';
        got++;
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

/* Holds nothing a forgotten event would lose: no claim in flight, no journal, no uncertain user, no lock, no flag. */
static int idle(const ev_t *ev)
{
    return ev->inflight == 0 && ev->n == 0 && ev->us_n == 0 && ev->uncertain_n == 0 && !ev->locked && !ev->flushed &&
           !ev->foreign && !ev->overflow;
}

void gw_journal_sync_begin(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->gen++;
    pthread_mutex_unlock(&p->mu);
}

int gw_journal_sync_track(gw_journal_t *p, const char *event, size_t elen)
{
    pthread_mutex_lock(&p->mu);
    ev_t *ev = get(p, event, elen, 1);
    if (ev != NULL)
        ev->gen = p->gen;
    pthread_mutex_unlock(&p->mu);
    return ev != NULL ? 0 : -1;
}

size_t gw_journal_sync_end(gw_journal_t *p)
{
    size_t gone = 0, kept = 0;
    pthread_mutex_lock(&p->mu);
    if (p->mode != GW_MODE_FAST)
        goto out;
    for (size_t k = 0; k < p->nev; k++) {
        ev_t *ev = p->evs[k];
        if (ev->gen != p->gen && idle(ev)) {
            free(ev->g);
            free(ev->us);
            free(ev);
            gone++;
        } else {
            p->evs[kept++] = ev;
        }
    }
    if (gone == 0)
        goto out;
    p->nev = kept;
    if (rebuild_index(p) != 0) {
        /* The old index points past nev: clear it and re-put what is left. */
        memset(p->idx, 0, p->idxcap * sizeof(*p->idx));
        for (size_t k = 0; k < p->nev; k++)
            index_put(p->idx, p->idxcap, p->evs[k]->h, (uint32_t)(k + 1));
    }
    size_t cap = p->evcap;
    while (cap > 16 && p->nev < cap / 4)
        cap /= 2;
    if (cap < p->evcap) {
        ev_t **evs = realloc(p->evs, cap * sizeof(*evs));
        if (evs != NULL) {
            p->evs = evs;
            p->evcap = cap;
        }
    }
out:
    pthread_mutex_unlock(&p->mu);
    return gone;
}

/* Needs its watermark soon: grants to prune or in flight, or not complete yet. */
static int busy(const ev_t *ev)
{
    return ev->n > 0 || ev->inflight > 0 || !ev->base_set || !ev->drained;
}

/*
 * Up to @max events of one kind (@want_busy) into @ids, looking at @span
 * positions of evs from @start (wrapping); *@next moves past the last one
 * taken, *@scanned says how many positions were looked at.
 */
static size_t pick(const gw_journal_t *p, char (*ids)[TK_ID_MAX + 1], size_t max, int want_busy, size_t start, size_t span,
                   size_t *scanned, size_t *next)
{
    size_t got = 0, k = 0;
    for (; k < span && got < max; k++) {
        size_t i = (start + k) % p->nev;
        const ev_t *ev = p->evs[i];
        if (busy(ev) != want_busy)
            continue;
        memcpy(ids[got], ev->id, ev->idlen);
        ids[got][ev->idlen] = '\0';
        got++;
        *next = i + 1;
    }
    *scanned = k;
    return got;
}

/* Busy events first (up to three quarters of @max, then whatever room the idle ones leave), idle ones
 * with the rest: an event with grants to prune is never starved by many idle ones, nor the reverse. */
size_t gw_journal_watermark_pick(gw_journal_t *p, char (*ids)[TK_ID_MAX + 1], size_t max)
{
    size_t got = 0;
    pthread_mutex_lock(&p->mu);
    if (p->nev > 0 && max > 0) {
        size_t b0 = p->wm_busy % p->nev, i0 = p->wm_idle % p->nev, scanned, more;
        got = pick(p, ids, max - max / 4, 1, b0, p->nev, &scanned, &p->wm_busy);
        got += pick(p, ids + got, max - got, 0, i0, p->nev, &more, &p->wm_idle);
        if (got < max && scanned < p->nev)
            got += pick(p, ids + got, max - got, 1, b0 + scanned, p->nev - scanned, &more, &p->wm_busy);
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

size_t gw_journal_tracked(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->nev;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t gw_journal_untracked_inflight(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->fl_n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t gw_journal_scan(gw_journal_t *p, size_t *pos, gw_journal_scan_t kind, char (*ids)[TK_ID_MAX + 1], size_t max)
{
    size_t got = 0, k = *pos;
    pthread_mutex_lock(&p->mu);
    for (; k < p->nev && got < max; k++) {
        const ev_t *ev = p->evs[k];
        if (kind == GW_JOURNAL_SCAN_TOUCHED ? !ev->flushed : ev->n == 0)
            continue;
        memcpy(ids[got], ev->id, ev->idlen);
        ids[got][ev->idlen] = '\0';
        got++;
    }
    pthread_mutex_unlock(&p->mu);
    *pos = k;
    return got;
}

void gw_journal_reset(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    reset_all(p);
    pthread_mutex_unlock(&p->mu);
}

uint64_t gw_journal_inflight(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->inflight;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t gw_journal_entries(gw_journal_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->entries;
    pthread_mutex_unlock(&p->mu);
    return n;
}
