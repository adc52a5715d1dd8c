/*
 * gw_journal: the mode of this gateway's claims — Redis (the fast path) or
 * MariaDB (the lock-table fallback) — and the journal of grants that makes
 * the switch exact (the mode is moved by gw_failover.c). One per process, shared by every thread behind one mutex.
 * The code: gw_journal.c (the journal, completeness, the mode) and
 * gw_journal_events.c (the table of events, tracking, the watermark pick).
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
 * of the stream is in it. A periodic watermark (gw_failover.c, every
 * GW_FAILOVER_WATERMARK_MS, through lua/watermark.lua) reports the event's
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
 *    (This sees only grants after base: a quiet event looks
 *    single-gateway. So the fallback also grants only while no other
 *    gateway is alive at all: gw_peers.h.)
 *  - overflow: more than max_entries undrained grants (memory is bounded).
 * Entries with a ticket below `oldest` (or at most seq when the stream is
 * empty) are drained: pruned.
 *
 * Which events are tracked (hole 4 of issue 10). Only events that exist:
 * those of tk:events (read every ~2 s, gw_journal_sync_*) and those Redis's
 * claim script ran on (gw_journal_replied with a reply), plus an event whose
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
 * Watermarks for all of them, bounded. Each round (gw_failover.c) takes at
 * most GW_FAILOVER_WATERMARK_BATCH events, round-robin: first those with
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
 * Modes (gateway-wide, moved by gw_failover.c):
 *   FAST    claims go to Redis (gw_journal_sent succeeds).
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
 *           MariaDB first (gw_failover.h); then a reset and FAST.
 * gw_journal_sent refuses outside FAST under the same mutex that the move to
 * GRANT checks "nothing in flight" under, so no claim can be on both paths.
 *
 * Ownership: the path copies every string it is given; copies handed out
 * (gw_journal_grants) belong to the caller.
 */
#ifndef GW_JOURNAL_H
#define GW_JOURNAL_H

#include "tk_valid.h"

#include <stddef.h>
#include <stdint.h>

#define TK_ID_MAX 64

typedef enum {
    GW_MODE_FAST = 0,
    GW_MODE_LOST,
    GW_MODE_GRANT,
    GW_MODE_MERGE,
} gw_mode_t;

/* What one event's claims do now, for /readyz, /metrics and the admin view. */
typedef enum {
    GW_EVMODE_REDIS = 0, /* mode FAST */
    GW_EVMODE_READONLY,  /* Redis away; the fallback cannot grant this event (yet) */
    GW_EVMODE_FALLBACK,  /* the fallback grants: journal written, lock held */
    GW_EVMODE_MERGING,   /* mode MERGE */
} gw_evmode_t;

typedef struct {
    uint64_t ticket;
    int64_t created_ms;
    int32_t qty;
    uint8_t ulen;
    char user[TK_ID_MAX + 1];
} gw_journal_grant_t;

/* A copy of one event's state (gw_journal_info). */
typedef struct {
    int complete;           /* every undrained grant of the event is in the journal */
    int foreign;            /* another writer's grants were seen since the last reset */
    int overflow;           /* the journal ran out of room since the last reset */
    int flushed;            /* the journal was written to MariaDB (set by the fallback) */
    int locked;             /* the fallback holds the event's lock (token below) */
    int rebuilt;            /* rebuilt in Redis from MariaDB since the last reset */
    char token[33];         /* the lock token when locked */
    uint64_t max_ticket;    /* highest ticket known drawn: journal, watermarks */
    uint64_t uncertain_n;   /* claims whose reply was lost */
    uint64_t uncertain_qty; /* their units */
    size_t entries;         /* undrained grants journaled */
    uint64_t journal_max;   /* the highest journaled ticket, 0 when none */
    uint64_t inflight;      /* claims of this event sent, reply not yet in */
    gw_evmode_t evmode;
} gw_journal_info_t;

typedef struct gw_journal gw_journal_t;

/** A path in mode FAST with room for @max_entries journaled grants in all. NULL on no memory. */
gw_journal_t *gw_journal_new(size_t max_entries);
void gw_journal_free(gw_journal_t *p);

gw_mode_t gw_journal_mode(gw_journal_t *p);
const char *gw_mode_name(gw_mode_t m);
const char *gw_evmode_name(gw_evmode_t e);

/**
 * Moves to @to if the mode is @from. FAST -> LOST and GRANT -> MERGE are
 * unconditional. LOST -> GRANT only when no claim is in flight (returns -1
 * otherwise), and LOST -> MERGE likewise. LOST -> FAST and MERGE -> FAST
 * reset every event first (as gw_journal_reset). MERGE -> LOST (the merge
 * failed) keeps everything.
 * Returns 0 when moved, -1 when not.
 */
int gw_journal_move(gw_journal_t *p, gw_mode_t from, gw_mode_t to);

/** Makes @event known (tracked by the watermark). 0, or -1 on no memory. */
int gw_journal_track(gw_journal_t *p, const char *event, size_t elen);

/**
 * A read of tk:events: gw_journal_sync_begin, gw_journal_sync_track for each
 * member, gw_journal_sync_end, which forgets (in FAST only) the tracked events
 * not listed that hold nothing (see above) and returns how many.
 */
void gw_journal_sync_begin(gw_journal_t *p);
int gw_journal_sync_track(gw_journal_t *p, const char *event, size_t elen);
size_t gw_journal_sync_end(gw_journal_t *p);

/**
 * A batch of @n claims of @event is about to be sent to Redis. Returns 0 and
 * counts them in flight when the mode is FAST (on the event when tracked,
 * else in the untracked table: it does not track @event); -1 (counts
 * nothing) when not or on no memory: then the caller must not send them.
 */
int gw_journal_sent(gw_journal_t *p, const char *event, size_t elen, int n);

/**
 * The reply to a batch of @n claims arrived (or the send failed before
 * anything left: @ng = 0): takes them out of flight and journals the @ng
 * grants. @g non-NULL (even with @ng = 0) says the claim script ran on the
 * event, so it exists and is tracked from then on; NULL (not_found, an
 * error, nothing sent) tracks nothing. Returns 0, or -1 when the journal
 * overflowed (the event is then incomplete; the grants themselves stand).
 */
int gw_journal_replied(gw_journal_t *p, const char *event, size_t elen, int n, const gw_journal_grant_t *g, int ng);

/**
 * The reply to a batch was lost (connection dropped after sending): the
 * claims leave flight and become uncertain. @users[i] (@ulens[i]) asked
 * @qty[i].
 */
void gw_journal_lost(gw_journal_t *p, const char *event, size_t elen, int n, const char *const *users, const size_t *ulens,
                  const int *qty);

/**
 * A watermark of @event read from Redis: its ticket sequence @seq and the
 * ticket of the oldest entry of its stream, 0 when empty. Prunes, sets base
 * on the first one after a reset, updates complete/foreign. Ignored outside
 * FAST.
 */
void gw_journal_watermark(gw_journal_t *p, const char *event, size_t elen, uint64_t seq, uint64_t oldest);

/** The journal's resets so far, read when a watermark is sent (gw_journal_watermark_at). */
uint64_t gw_journal_epoch(gw_journal_t *p);

/**
 * gw_journal_watermark for a read sent at @epoch (gw_journal_epoch then):
 * ignored when the journal was reset since. A reply that crossed a return
 * to FAST (LOST -> MERGE -> FAST while it was on the wire) describes the
 * stream before the merge: taken as the first watermark after the reset it
 * would set the base from a stream that has moved on (grants drawn and
 * not yet drained since), and read the event complete. (gw_journal_watermark: at the current epoch, for
 * callers that read and apply at once.)
 */
void gw_journal_watermark_at(gw_journal_t *p, const char *event, size_t elen, uint64_t seq, uint64_t oldest, uint64_t epoch);

/** Copies @event's state into @out. Returns 0, or -1 when the event is not tracked. */
int gw_journal_info(gw_journal_t *p, const char *event, size_t elen, gw_journal_info_t *out);

/**
 * 1 when Redis, whose ticket sequence for the event of @info is @redis_seq
 * (-1: its hash is missing), may lack grants of this journal that are not
 * yet written to MariaDB: Redis's seq is below the journal, the event is
 * gone, or it was rebuilt from MariaDB since the last reset (a rebuild's
 * seq is MariaDB's ticket_hwm and proves nothing). The merge's step 1
 * writes exactly these (gw_merge.c); until then the status lookup answers
 * 503 for them (gw_route_status.c). Pure.
 */
int gw_journal_redis_may_lack(const gw_journal_info_t *info, long long redis_seq);

/** 1 when @user's claim on @event may have been granted unseen (uncertain). */
int gw_journal_uncertain_user(gw_journal_t *p, const char *event, size_t elen, const char *user, size_t ulen);

/**
 * A malloc'ed copy of @event's journaled grants, in ticket order, into *@out
 * (the caller frees it) and their count into *@n. Returns 0, or -1 (unknown
 * event, no memory).
 */
int gw_journal_grants(gw_journal_t *p, const char *event, size_t elen, gw_journal_grant_t **out, size_t *n);

/** The fallback wrote @event's journal to MariaDB and holds its lock with @token (NUL-terminated, ≤ 32 chars). */
void gw_journal_set_locked(gw_journal_t *p, const char *event, size_t elen, const char *token);

/**
 * @event is about to be rebuilt in Redis from MariaDB (gw_rebuild.c): its
 * Redis state is no longer what the claim script left, so a Redis `seq`
 * at or above the highest journaled ticket no longer proves Redis holds
 * the journal's grants (the rebuild takes MariaDB's ticket_hwm, which a
 * worker that drained later tickets first has moved past an undrained
 * one). The merge's step 1 then writes the journal whatever `seq` says.
 * Untracked events have no journal: nothing to mark.
 */
void gw_journal_set_rebuilt(gw_journal_t *p, const char *event, size_t elen);

/** The fallback no longer holds @event's lock (released, lost or stolen). */
void gw_journal_clear_locked(gw_journal_t *p, const char *event, size_t elen);

/**
 * Event ids tracked, up to @max, NUL-terminated in @ids (each
 * TK_ID_MAX + 1 bytes); with @touched_only, only those whose
 * journal the fallback wrote since the last reset (it may have granted on
 * them: the merge must rebuild them, even if their lock was lost since).
 * Returns how many.
 */
size_t gw_journal_events(gw_journal_t *p, char (*ids)[TK_ID_MAX + 1], size_t max, int touched_only);

typedef enum {
    GW_JOURNAL_SCAN_TOUCHED,   /* the fallback wrote their journal since the last reset */
    GW_JOURNAL_SCAN_JOURNALED, /* their journal holds grants (undrained when last seen) */
} gw_journal_scan_t;

/**
 * Like gw_journal_events, for the merge, which must see every event of a kind
 * however many: up to @max events of kind @kind from position *@pos on,
 * which it moves past the last one looked at (start with 0; a return of 0
 * is the end). Positions are stable outside FAST (events are forgotten only
 * in FAST), so a merge's walk sees each event once.
 */
size_t gw_journal_scan(gw_journal_t *p, size_t *pos, gw_journal_scan_t kind, char (*ids)[TK_ID_MAX + 1], size_t max);

/**
 * The next events to watermark, at most @max, into @ids (each
 * TK_ID_MAX + 1 bytes), round-robin over every tracked event, busy
 * ones first (see above). Returns how many.
 */
size_t gw_journal_watermark_pick(gw_journal_t *p, char (*ids)[TK_ID_MAX + 1], size_t max);

/**
 * Forgets every uncertain claim, base and flag (not the tracked events, the
 * in-flight counts, nor the journaled grants: they are pruned as they drain;
 * gw_journal.c says why).
 */
void gw_journal_reset(gw_journal_t *p);

/* The journal's totals at one instant (gw_journal_counts). */
typedef struct {
    size_t tracked;            /* events tracked */
    size_t untracked_inflight; /* untracked events with claims in flight */
    uint64_t inflight;         /* claims in flight, all events */
    size_t entries;            /* journaled grants, all events */
} gw_journal_counts_t;

/** Copies the journal's totals into @out. */
void gw_journal_counts(gw_journal_t *p, gw_journal_counts_t *out);

#endif
