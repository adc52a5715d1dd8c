/*
 * gw_journal_int: INTERNAL to the journal module — the structs and the few
 * functions gw_journal.c (the journal: grants, pruning, completeness,
 * uncertain claims, the mode) and gw_journal_events.c (the event table:
 * index, tracking, the untracked in-flight table, tk:events sync, the
 * watermark pick) share. No other file includes it: the API, and the
 * essay that explains it all, are in gw_journal.h.
 *
 * Locking: every function declared here expects the caller to hold p->mu.
 * Names: internal functions take the prefix gw_journal__ (two underscores,
 * as h2o marks its own internals).
 */
#ifndef GW_JOURNAL_INT_H
#define GW_JOURNAL_INT_H

#include "gw_journal.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define GW_JOURNAL_TOKEN_MAX 32

/* One uncertain user. h == 0 marks an empty slot (gw_journal__hash never returns 0). */
typedef struct {
    uint64_t h;
    int32_t qty;
    uint8_t len;
    char s[TK_ID_MAX];
} gw_journal_uslot_t;

/* Claims in flight on an event that is not tracked (see gw_journal.h). h == 0 marks an empty slot. */
typedef struct {
    uint64_t h;
    uint64_t n;
    uint8_t len;
    char id[TK_ID_MAX];
} gw_journal_fslot_t;

/* One tracked event. Owned by the event table (p->evs); freed by gw_journal__ev_free. */
typedef struct {
    char id[TK_ID_MAX + 1];
    uint8_t idlen;
    uint64_t h;
    uint64_t gen;          /* the tk:events read that last listed it (or during which it was tracked) */
    gw_journal_grant_t *g; /* the journal, in ticket order */
    size_t n, cap;
    uint64_t inflight;
    gw_journal_uslot_t *us; /* uncertain users, open addressing; us_cap is 0 or a power of 2 */
    size_t us_n, us_cap;
    uint64_t uncertain_n, uncertain_qty;
    uint64_t base, max_ticket;
    uint64_t kept_max; /* the highest grant kept across the last reset, until the first watermark after it (0: none) */
    /* Our grants the journal no longer holds: they still count as ours in the
     * foreign test, or our own replies would look like another writer's. */
    uint64_t pruned_above_base, dropped;
    int base_set, drained, foreign, overflow, flushed, locked;
    int rebuilt; /* rebuilt from MariaDB since the last reset (gw_journal_set_rebuilt) */
    char token[GW_JOURNAL_TOKEN_MAX + 1];
} gw_journal_ev_t;

struct gw_journal {
    pthread_mutex_t mu;
    gw_mode_t mode;
    size_t max_entries, entries;
    uint64_t inflight;
    gw_journal_ev_t **evs; /* tracked events, in the order tracked; removed only by gw_journal_sync_end */
    size_t nev, evcap;
    uint32_t *idx; /* open addressing over evs: index + 1, 0 empty; idxcap a power of 2 */
    size_t idxcap;
    size_t nflushed;         /* tracked events with flushed set */
    gw_journal_fslot_t *fl;  /* in flight on untracked events: open addressing, fl_cap 0 or a power of 2 */
    size_t fl_n, fl_cap;
    uint64_t gen;            /* the current tk:events read (gw_journal_sync_begin) */
    uint64_t epoch;          /* resets so far: a watermark read before the last one is stale (gw_journal_watermark_at) */
    size_t wm_busy, wm_idle; /* round-robin cursors of gw_journal_watermark_pick, into evs */
};

/* ---- gw_journal_events.c ---- */

/** FNV-1a of @len bytes at @s, never 0 (0 marks an empty slot). */
uint64_t gw_journal__hash(const char *s, size_t len);

/** 1 when @s (@len bytes) can be an event id: 1..TK_ID_MAX bytes, no NUL. */
int gw_journal__valid_id(const char *s, size_t len);

/**
 * The event, tracked on first sight when @create; its claims counted in
 * flight while it was untracked move into it, so every count stays exact.
 * NULL: invalid id, unknown, or no memory.
 */
gw_journal_ev_t *gw_journal__ev_get(gw_journal_t *p, const char *e, size_t len, int create);

/** Takes up to @n claims of event @e (@ev, or NULL when untracked) out of flight, wherever they are counted. */
void gw_journal__settle(gw_journal_t *p, gw_journal_ev_t *ev, const char *e, size_t len, uint64_t n);

/** Frees the event table (every event, the index, the untracked table). */
void gw_journal__events_free(gw_journal_t *p);

/* ---- gw_journal.c ---- */

/** Frees @ev, its journal and its uncertain users. */
void gw_journal__ev_free(gw_journal_ev_t *ev);

#endif
