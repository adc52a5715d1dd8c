/*
 * gw_path: which path this gateway's claims take — Redis (the fast path) or
 * MariaDB (the lock-table fallback) — and the journal that makes the switch
 * exact. One per process, shared by every thread behind one mutex.
 *
 * The problem it solves. When Redis dies, some claims it granted (and this
 * gateway answered 201) are still in its stream, not yet in MariaDB. A
 * fallback that sold from MariaDB's `total - sold` could sell those units
 * again, and serve a user twice who retries during the outage. So the
 * gateway keeps the journal of the grants it answered that the workers may
 * not have drained yet; before the fallback grants anything for an event it
 * writes them to MariaDB (gw_fallback_grant.c), and then MariaDB knows every
 * grant there is.
 *
 * When is the journal complete for an event? Only if every undrained grant
 * of the stream is in it. A periodic watermark (gw_path_ctl.c, every
 * GW_PATH_WATERMARK_MS, through lua/watermark.lua) reports the event's
 * ticket sequence `seq` and the ticket of the oldest entry still in its
 * stream (0: empty). Tickets and stream order agree (one script draws both),
 * and entries leave the stream only after their row is committed, so every
 * ticket below `oldest` is in MariaDB. The first watermark after a reset
 * fixes `base` = seq; every grant after it is this process's (journaled) or
 * someone else's. The journal becomes complete once the stream holds nothing
 * at or below base, and stays complete until a reset, unless:
 *  - foreign grants are seen: seq - base > (our grants with ticket in
 *    (base, seq]) + (claims in flight): another gateway grants on this
 *    event, whose journal we do not have. Never complete again until reset.
 *  - overflow: more than max_entries undrained grants (memory is bounded).
 * Entries with a ticket below `oldest` (or at most seq when the stream is
 * empty) are drained: pruned.
 *
 * Which events are tracked (hole 4 of issue 10). Only events that exist:
 * those of tk:events (read every ~2 s, gw_path_sync_*) and those Redis's
 * claim script ran on (gw_path_replied with a reply), plus an event whose
 * reply was lost (its users may hold a claim: it must be remembered) or
 * that the fallback locked. A claim on an id nobody created is counted in
 * flight in a small table of untracked events, whose slot is freed when
 * its reply comes back not_found: a flood of made-up ids costs memory only
 * while its claims are in flight. The in-flight counts stay exact, which
 * the move to GRANT ("nothing in flight") and the foreign test rely on:
 * the total counts every claim sent; a claim is counted on its event when
 * tracked, else in the untracked table (per event, not one bucket, so an
 * event that becomes tracked while its claims are in flight takes their
 * exact count along); a reply takes it back from wherever it is. Events
 * that left tk:events are forgotten at the next read, and only when they
 * hold nothing: no claim in flight, no journal, no uncertain user, no
 * lock, no flag (forgetting such an event loses nothing: tracked again, it
 * proves completeness from a fresh base, as a new event does).
 *
 * Watermarks for all of them, bounded. Each round (gw_path_ctl.c) takes at
 * most GW_PATH_WATERMARK_BATCH events, round-robin: first those with
 * grants to prune, claims in flight or no completeness yet (up to three
 * quarters of the round, more when the others leave room), then the idle
 * ones. Redis's load at rest grows with the number of real events and is
 * capped; with more events than a round holds, an idle event's watermark
 * comes every few rounds (foreign grants are then seen later, see
 * docs/DESIGN.md).
 *
 * Uncertain claims. A batch sent to Redis whose reply was lost (connection
 * dropped) may have been granted or not. Its users are "uncertain" (the
 * fallback answers them 503, never a second claim) and its units are
 * reserved (the fallback sells around them and says 503, not sold_out, when
 * only they remain); a granted one holds a ticket at most
 * max_ticket + uncertain_n, so fallback tickets start above that.
 *
 * Modes (gateway-wide, moved by gw_path_ctl.c):
 *   FAST    claims go to Redis (gw_path_sent succeeds).
 *   LOST    some thread lost Redis, or the process just started: nothing
 *           is sent to Redis; claims get the read-only fallback
 *           (gw_fallback.c). Every connection up and nothing in flight:
 *           MERGE, which checks Redis against MariaDB before FAST.
 *   GRANT   Redis has been away for FALLBACK_AFTER_MS and nothing is in
 *           flight: the fallback grants, per event, once its journal was
 *           written to MariaDB and its lock taken.
 *   MERGE   Redis is back (or first reached): every event whose Redis
 *           state may be older than MariaDB's is rebuilt from MariaDB
 *           (after the stream drained) and its lock released; an event
 *           whose journaled grants Redis lost has its journal written to
 *           MariaDB first (gw_path_ctl.h); then a reset and FAST.
 * gw_path_sent refuses outside FAST under the same mutex that the move to
 * GRANT checks "nothing in flight" under, so no claim can be on both paths.
 *
 * Ownership: the path copies every string it is given; copies handed out
 * (gw_path_grants) belong to the caller.
 */
#ifndef GW_PATH_H
#define GW_PATH_H

#include <stddef.h>
#include <stdint.h>

#define GW_PATH_USER_MAX 64

typedef enum {
    GW_PATH_FAST = 0,
    GW_PATH_LOST,
    GW_PATH_GRANT,
    GW_PATH_MERGE,
} gw_path_mode_t;

/* What one event's claims do now, for /readyz, /metrics and the admin view. */
typedef enum {
    GW_EVPATH_REDIS = 0, /* mode FAST */
    GW_EVPATH_READONLY,  /* Redis away; the fallback cannot grant this event (yet) */
    GW_EVPATH_FALLBACK,  /* the fallback grants: journal written, lock held */
    GW_EVPATH_MERGING,   /* mode MERGE */
} gw_evpath_t;

typedef struct {
    uint64_t ticket;
    int64_t created_ms;
    int32_t qty;
    uint8_t ulen;
    char user[GW_PATH_USER_MAX + 1];
} gw_path_grant_t;

/* A copy of one event's state (gw_path_info). */
typedef struct {
    int complete;           /* every undrained grant of the event is in the journal */
    int foreign;            /* another writer's grants were seen since the last reset */
    int overflow;           /* the journal ran out of room since the last reset */
    int flushed;            /* the journal was written to MariaDB (set by the fallback) */
    int locked;             /* the fallback holds the event's lock (token below) */
    char token[33];         /* the lock token when locked */
    uint64_t max_ticket;    /* highest ticket known drawn: journal, watermarks */
    uint64_t uncertain_n;   /* claims whose reply was lost */
    uint64_t uncertain_qty; /* their units */
    size_t entries;         /* undrained grants journaled */
    uint64_t journal_max;   /* the highest journaled ticket, 0 when none */
    uint64_t inflight;      /* claims of this event sent, reply not yet in */
    gw_evpath_t path;
} gw_path_info_t;

typedef struct gw_path gw_path_t;

/** A path in mode FAST with room for @max_entries journaled grants in all. NULL on no memory. */
gw_path_t *gw_path_new(size_t max_entries);
void gw_path_free(gw_path_t *p);

gw_path_mode_t gw_path_mode(gw_path_t *p);
const char *gw_path_mode_name(gw_path_mode_t m);
const char *gw_evpath_name(gw_evpath_t e);

/**
 * Moves to @to if the mode is @from. FAST -> LOST and GRANT -> MERGE are
 * unconditional. LOST -> GRANT only when no claim is in flight (returns -1
 * otherwise), and LOST -> MERGE likewise. LOST -> FAST and MERGE -> FAST
 * reset every event first (as gw_path_reset). MERGE -> LOST (the merge
 * failed) keeps everything.
 * Returns 0 when moved, -1 when not.
 */
int gw_path_move(gw_path_t *p, gw_path_mode_t from, gw_path_mode_t to);

/** Makes @event known (tracked by the watermark). 0, or -1 on no memory. */
int gw_path_track(gw_path_t *p, const char *event, size_t elen);

/**
 * A read of tk:events: gw_path_sync_begin, gw_path_sync_track for each
 * member, gw_path_sync_end, which forgets (in FAST only) the tracked events
 * not listed that hold nothing (see above) and returns how many.
 */
void gw_path_sync_begin(gw_path_t *p);
int gw_path_sync_track(gw_path_t *p, const char *event, size_t elen);
size_t gw_path_sync_end(gw_path_t *p);

/**
 * A batch of @n claims of @event is about to be sent to Redis. Returns 0 and
 * counts them in flight when the mode is FAST (on the event when tracked,
 * else in the untracked table: it does not track @event); -1 (counts
 * nothing) when not or on no memory: then the caller must not send them.
 */
int gw_path_sent(gw_path_t *p, const char *event, size_t elen, int n);

/**
 * The reply to a batch of @n claims arrived (or the send failed before
 * anything left: @ng = 0): takes them out of flight and journals the @ng
 * grants. @g non-NULL (even with @ng = 0) says the claim script ran on the
 * event, so it exists and is tracked from then on; NULL (not_found, an
 * error, nothing sent) tracks nothing. Returns 0, or -1 when the journal
 * overflowed (the event is then incomplete; the grants themselves stand).
 */
int gw_path_replied(gw_path_t *p, const char *event, size_t elen, int n, const gw_path_grant_t *g, int ng);

/**
 * The reply to a batch was lost (connection dropped after sending): the
 * claims leave flight and become uncertain. @users[i] (@ulens[i]) asked
 * @qty[i].
 */
void gw_path_lost(gw_path_t *p, const char *event, size_t elen, int n, const char *const *users, const size_t *ulens,
                  const int *qty);

/**
 * A watermark of @event read from Redis: its ticket sequence @seq and the
 * ticket of the oldest entry of its stream, 0 when empty. Prunes, sets base
 * on the first one after a reset, updates complete/foreign. Ignored outside
 * FAST.
 */
void gw_path_watermark(gw_path_t *p, const char *event, size_t elen, uint64_t seq, uint64_t oldest);

/** Copies @event's state into @out. Returns 0, or -1 when the event is not tracked. */
int gw_path_info(gw_path_t *p, const char *event, size_t elen, gw_path_info_t *out);

/** 1 when @user's claim on @event may have been granted unseen (uncertain). */
int gw_path_uncertain_user(gw_path_t *p, const char *event, size_t elen, const char *user, size_t ulen);

/**
 * A malloc'ed copy of @event's journaled grants, in ticket order, into *@out
 * (the caller frees it) and their count into *@n. Returns 0, or -1 (unknown
 * event, no memory).
 */
int gw_path_grants(gw_path_t *p, const char *event, size_t elen, gw_path_grant_t **out, size_t *n);

/** The fallback wrote @event's journal to MariaDB and holds its lock with @token (NUL-terminated, ≤ 32 chars). */
void gw_path_set_locked(gw_path_t *p, const char *event, size_t elen, const char *token);

/** The fallback no longer holds @event's lock (released, lost or stolen). */
void gw_path_clear_locked(gw_path_t *p, const char *event, size_t elen);

/**
 * Event ids tracked, up to @max, NUL-terminated in @ids (each
 * GW_PATH_USER_MAX + 1 bytes); with @touched_only, only those whose
 * journal the fallback wrote since the last reset (it may have granted on
 * them: the merge must rebuild them, even if their lock was lost since).
 * Returns how many.
 */
size_t gw_path_events(gw_path_t *p, char (*ids)[GW_PATH_USER_MAX + 1], size_t max, int touched_only);

typedef enum {
    GW_PATH_SCAN_TOUCHED,   /* the fallback wrote their journal since the last reset */
    GW_PATH_SCAN_JOURNALED, /* their journal holds grants (undrained when last seen) */
} gw_path_scan_t;

/**
 * Like gw_path_events, for the merge, which must see every event of a kind
 * however many: up to @max events of kind @kind from position *@pos on,
 * which it moves past the last one looked at (start with 0; a return of 0
 * is the end). Positions are stable outside FAST (events are forgotten only
 * in FAST), so a merge's walk sees each event once.
 */
size_t gw_path_scan(gw_path_t *p, size_t *pos, gw_path_scan_t kind, char (*ids)[GW_PATH_USER_MAX + 1], size_t max);

/**
 * The next events to watermark, at most @max, into @ids (each
 * GW_PATH_USER_MAX + 1 bytes), round-robin over every tracked event, busy
 * ones first (see above). Returns how many.
 */
size_t gw_path_watermark_pick(gw_path_t *p, char (*ids)[GW_PATH_USER_MAX + 1], size_t max);

/** Events tracked. */
size_t gw_path_tracked(gw_path_t *p);

/** Untracked events with claims in flight. */
size_t gw_path_untracked_inflight(gw_path_t *p);

/** Forgets every journal, uncertain claim, base and flag (not the tracked events nor the in-flight counts). */
void gw_path_reset(gw_path_t *p);

/** Claims in flight, all events. */
uint64_t gw_path_inflight(gw_path_t *p);

/** Journaled grants, all events. */
size_t gw_path_entries(gw_path_t *p);

#endif
