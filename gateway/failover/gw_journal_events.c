/*
 * gw_journal_events: the journal's table of events (gw_journal.h, "Which
 * events are tracked" and "Watermarks for all of them"): the index over the
 * tracked events, tracking, the small table of claims in flight on
 * untracked events, the tk:events sync that forgets idle events, and the
 * lists and round-robin pick the failover and the merge walk.
 *
 * Every API function here takes p->mu; the internal ones
 * (gw_journal_int.h) expect it held.
 */
#include "gw_journal_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- ids ---------------------------------------------------------------------- */

uint64_t gw_journal__hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h != 0 ? h : 1;
}

int gw_journal__valid_id(const char *s, size_t len)
{
    return s != NULL && len > 0 && len <= TK_ID_MAX && memchr(s, '\0', len) == NULL;
}

/* @ev's id, NUL-terminated, into @out. */
static void copy_id(char out[TK_ID_MAX + 1], const gw_journal_ev_t *ev)
{
    memcpy(out, ev->id, ev->idlen);
    out[ev->idlen] = '\0';
}

static uint64_t take(uint64_t *from, uint64_t n)
{
    uint64_t t = n < *from ? n : *from;
    *from -= t;
    return t;
}

/* ---- the index over the tracked events ------------------------------------------ */

static gw_journal_ev_t *find(gw_journal_t *p, const char *e, size_t len, uint64_t h)
{
    if (p->idxcap == 0)
        return NULL;
    for (size_t i = h & (p->idxcap - 1);; i = (i + 1) & (p->idxcap - 1)) {
        if (p->idx[i] == 0)
            return NULL;
        gw_journal_ev_t *ev = p->evs[p->idx[i] - 1];
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

/* A new index of @cap slots over evs[0..nev); 0, or -1 on no memory (the old one stays). */
static int reindex(gw_journal_t *p, size_t cap)
{
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

/* Keeps the index at most half full, so probes stay short and always end. */
static int grow_index(gw_journal_t *p)
{
    if ((p->nev + 1) * 2 <= p->idxcap)
        return 0;
    return reindex(p, p->idxcap ? p->idxcap * 2 : 64);
}

static int grow_events(gw_journal_t *p)
{
    if (p->nev < p->evcap)
        return 0;
    size_t cap = p->evcap ? p->evcap * 2 : 16;
    gw_journal_ev_t **evs = realloc(p->evs, cap * sizeof(*evs));
    if (evs == NULL)
        return -1;
    p->evs = evs;
    p->evcap = cap;
    return 0;
}

static size_t fl_find(const gw_journal_t *p, const char *e, size_t len, uint64_t h);
static void fl_remove(gw_journal_t *p, size_t i);

gw_journal_ev_t *gw_journal__ev_get(gw_journal_t *p, const char *e, size_t len, int create)
{
    if (!gw_journal__valid_id(e, len))
        return NULL;
    uint64_t h = gw_journal__hash(e, len);
    gw_journal_ev_t *ev = find(p, e, len, h);
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

void gw_journal__events_free(gw_journal_t *p)
{
    for (size_t k = 0; k < p->nev; k++)
        gw_journal__ev_free(p->evs[k]);
    free(p->evs);
    free(p->idx);
    free(p->fl);
}

/* ---- claims in flight on untracked events ---------------------------------------- */

static size_t fl_find(const gw_journal_t *p, const char *e, size_t len, uint64_t h)
{
    if (p->fl_n == 0)
        return SIZE_MAX;
    for (size_t i = h & (p->fl_cap - 1);; i = (i + 1) & (p->fl_cap - 1)) {
        const gw_journal_fslot_t *s = &p->fl[i];
        if (s->h == 0)
            return SIZE_MAX;
        if (s->h == h && s->len == len && memcmp(s->id, e, len) == 0)
            return i;
    }
}

static gw_journal_fslot_t *fl_slot(gw_journal_fslot_t *fl, size_t cap, uint64_t h)
{
    size_t i = h & (cap - 1);
    while (fl[i].h != 0)
        i = (i + 1) & (cap - 1);
    return &fl[i];
}

static int fl_resize(gw_journal_t *p, size_t cap)
{
    gw_journal_fslot_t *fl = calloc(cap, sizeof(*fl));
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
    gw_journal_fslot_t *s = fl_slot(p->fl, p->fl_cap, h);
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

void gw_journal__settle(gw_journal_t *p, gw_journal_ev_t *ev, const char *e, size_t len, uint64_t n)
{
    if (n == 0)
        return;
    if (ev != NULL) {
        p->inflight -= take(&ev->inflight, n);
        return;
    }
    if (!gw_journal__valid_id(e, len))
        return;
    size_t i = fl_find(p, e, len, gw_journal__hash(e, len));
    if (i == SIZE_MAX)
        return;
    p->inflight -= take(&p->fl[i].n, n);
    if (p->fl[i].n == 0)
        fl_remove(p, i);
}

/* ---- tracking and claims sent -------------------------------------------------- */

int gw_journal_track(gw_journal_t *p, const char *event, size_t elen)
{
    pthread_mutex_lock(&p->mu);
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 1);
    pthread_mutex_unlock(&p->mu);
    return ev != NULL ? 0 : -1;
}

/* Counted on the event when tracked, else in the untracked table: an id nobody
 * created costs a slot only while its claims are in flight (gw_journal.h). */
int gw_journal_sent(gw_journal_t *p, const char *event, size_t elen, int n)
{
    int rc = -1;
    pthread_mutex_lock(&p->mu);
    if (n >= 0 && p->mode == GW_MODE_FAST && gw_journal__valid_id(event, elen)) {
        gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 0);
        if (ev != NULL)
            ev->inflight += (uint64_t)n;
        if (ev != NULL || n == 0 || fl_add(p, event, elen, gw_journal__hash(event, elen), (uint64_t)n) == 0) {
            p->inflight += (uint64_t)n;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- the read of tk:events -------------------------------------------------------- */

/* Holds nothing a forgotten event would lose: no claim in flight, no journal, no uncertain user, no lock, no flag. */
static int idle(const gw_journal_ev_t *ev)
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
    gw_journal_ev_t *ev = gw_journal__ev_get(p, event, elen, 1);
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
        gw_journal_ev_t *ev = p->evs[k];
        if (ev->gen != p->gen && idle(ev)) {
            gw_journal__ev_free(ev);
            gone++;
        } else {
            p->evs[kept++] = ev;
        }
    }
    if (gone == 0)
        goto out;
    p->nev = kept;
    size_t icap = 64;
    while (icap < (p->nev + 1) * 2)
        icap *= 2;
    if (reindex(p, icap) != 0) {
        /* The old index points past nev: clear it and re-put what is left. */
        memset(p->idx, 0, p->idxcap * sizeof(*p->idx));
        for (size_t k = 0; k < p->nev; k++)
            index_put(p->idx, p->idxcap, p->evs[k]->h, (uint32_t)(k + 1));
    }
    size_t cap = p->evcap;
    while (cap > 16 && p->nev < cap / 4)
        cap /= 2;
    if (cap < p->evcap) {
        gw_journal_ev_t **evs = realloc(p->evs, cap * sizeof(*evs));
        if (evs != NULL) {
            p->evs = evs;
            p->evcap = cap;
        }
    }
out:
    pthread_mutex_unlock(&p->mu);
    return gone;
}

/* ---- lists of events ------------------------------------------------------------- */

size_t gw_journal_events(gw_journal_t *p, char (*ids)[TK_ID_MAX + 1], size_t max, int touched_only)
{
    size_t got = 0;
    pthread_mutex_lock(&p->mu);
    /* Touched ones are counted: "none" (the controller asks every tick) costs no walk. */
    size_t limit = touched_only && p->nflushed < max ? p->nflushed : max;
    for (size_t k = 0; k < p->nev && got < limit; k++) {
        const gw_journal_ev_t *ev = p->evs[k];
        if (touched_only && !ev->flushed)
            continue;
        copy_id(ids[got++], ev);
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

size_t gw_journal_scan(gw_journal_t *p, size_t *pos, gw_journal_scan_t kind, char (*ids)[TK_ID_MAX + 1], size_t max)
{
    size_t got = 0, k = *pos;
    pthread_mutex_lock(&p->mu);
    for (; k < p->nev && got < max; k++) {
        const gw_journal_ev_t *ev = p->evs[k];
        if (kind == GW_JOURNAL_SCAN_TOUCHED ? !ev->flushed : ev->n == 0)
            continue;
        copy_id(ids[got++], ev);
    }
    pthread_mutex_unlock(&p->mu);
    *pos = k;
    return got;
}

/* Needs its watermark soon: grants to prune or in flight, or not complete yet. */
static int busy(const gw_journal_ev_t *ev)
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
        const gw_journal_ev_t *ev = p->evs[i];
        if (busy(ev) != want_busy)
            continue;
        copy_id(ids[got++], ev);
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
