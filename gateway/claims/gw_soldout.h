/*
 * gw_soldout: a sold-out event's refusals without the claim script's work.
 *
 * The problem. Once an event is sold out, nearly every claim of a storm is
 * refused, and each refusal took its place in a call of lua/claim.lua: the
 * event's fields read, then per claim a redis.call (HGET of the user's
 * record, in case it is a retry), two reply items per claim for the
 * gateway to parse, one Lua call per batch. Measured with INFO
 * commandstats on one Redis 7 (redis-benchmark, 4 clients, a busy 2-core
 * machine): a claim.lua call refusing 64 users costs ~79 us of Redis,
 * lua/soldout.lua, the read below, for the same 64 users ~23 us (16
 * users: ~35 against ~9 us), and its reply has 7 items instead of 128.
 *
 * What a thread does. When claim.lua answers `sold_out` to a claim of an
 * event, the thread marks the event (gw_soldout_seen; a routing hint, no
 * more). A later claim of a marked event, when no claim batch of its event
 * is open in this loop turn, is held here (gw_soldout_take) instead of
 * batched. At the end of each loop turn the claims held and not yet in a
 * check are checked with one call of lua/soldout.lua (several when more
 * than GW_SOLDOUT_CHECK_MAX; the checks of one turn and of the turns before
 * may be in flight together): in one atomic step it reads the event hash's state,
 * remaining, maxpu, opens, closes and wr, and the claim records of the
 * held claims' users (HMGET), and returns the fields and the position of the first user who holds a
 * record. Going through the held claims in arrival order, a claim is
 * answered 409 sold_out here when: the state is open, opens <= now (or no
 * opens) and now < closes (or no closes), by the gateway clock taken when
 * the check was sent (as claim.lua's ARGV[1] is); the event has no waiting
 * room or the claim carries an admission; quantity <= maxpu; quantity >
 * remaining; and its user is before the first user holding a record. The
 * first claim that fails any of these, and every claim after it (those of
 * this check and those held since), are handed back to the batcher in
 * arrival order, which sends them to claim.lua. The mark is cleared when
 * the read showed the event open to that claim's quantity, or not open (a
 * restock, a cancel, a state or window change), so the claims that come
 * next are batched as before until claim.lua says sold_out again; it stays
 * when the claim stopped for a reason of its own (its user holds a claim,
 * the room's gate, above maxpu), so a holder's retry or a bot without an
 * admission does not send the storm back to claim.lua. A failed call, an
 * error or an unexpected reply hands them all back and clears the mark.
 *
 * Why a 409 given here is exact (linearizable). soldout.lua runs alone, at
 * one instant t, inside the lifetime of every claim it checks (each was
 * received before the call was sent, and is answered after its reply).
 * For a claim answered here, what soldout.lua read at t is everything
 * claim.lua's answer to it depends on, and it says: not closed, not
 * paused, not before opens (so no presale window either), past the room's
 * gate, quantity within maxpu, so claim.lua would take its stock test; the
 * quantity exceeds remaining, so claim.lua would take the branch "refused,
 * unless the user already holds a claim"; the user holds no record, so it
 * answers sold_out and writes nothing. That is, the answer is the one a
 * claim.lua call at t would have given, and that call would have changed
 * nothing: a 409 is never given while a unit is left for the claim, and a
 * user who holds a claim, granted by any thread of any gateway, is never
 * told 409 (t finds the record and the claim goes to claim.lua: 200).
 * Nothing is remembered from one check to the next except the mark, and
 * the mark only routes, so a restock, a cancel or a state change made
 * anywhere before t is in what t reads: the claims sent after a restock's
 * 200 are checked after it, see the units, and go to claim.lua, which
 * grants them.
 *
 * Why a script and not plain reads. Three pipelined reads (the fields,
 * HMGET of the records, then the event's `ver` again, equal meaning
 * "nothing moved between") cost less (~4 us for 64 users), but the
 * argument needs every change of the fields or of the users holding
 * records to move `ver`, and lua/rebuild_swap.lua does not move it (by
 * design: tk-rebuild's Redis user has no HINCRBY, and a rebuild over an
 * intact event changes nothing, docs/DESIGN.md "Watch and presence"): a
 * rebuild by another gateway's merge landing between two of the reads
 * would go unseen. One script call is atomic and needs nothing of `ver`.
 *
 * Arrival order. Of one event on one thread: (1) a claim is held only when
 * no batch of its event is open in this loop turn, so every earlier claim
 * of the event was already sent to claim.lua, before this check, or is
 * held here ahead of it; (2) script calls of one thread keep their order in
 * Redis, NOSCRIPT included (gw_redis.h), so those earlier claims were
 * decided before t; (3) the checks of an event cover its held claims in
 * arrival order and are sent, and answered, in that order; a check's
 * refusals are used only if every check before it refused all of its
 * claims: at the first claim a check cannot answer, every claim held (the
 * later checks' too) goes back, and the later checks are void (an epoch
 * each carries), their replies ignored; (4) on the reply the refused prefix
 * is answered and the rest, in order, is handed to the batcher before any
 * later claim can be: they open a batch of the event, a claim arriving
 * later in this loop turn joins it behind them (one is held here only when
 * no batch of its event is open), and one arriving in a later turn, if the
 * mark stayed, is checked by a call sent after that batch. So a thread's
 * claims are decided, and granted, in the order it read them, as
 * gw_batcher.h says.
 *
 * The fast path's gate. A check is sent only through gw_journal_sent, as a
 * claim batch is: only on the fast path, and counted in flight until its
 * reply, so the fallback cannot begin granting from MariaDB while a check
 * is out, nor is one sent while it does; outside the fast path the claims
 * go to the batcher, which sends them to the fallback. A check grants
 * nothing, so a lost reply makes nobody uncertain: its claims are handed
 * to the batcher (503 or the fallback, as any claim then).
 *
 * Bounds. Claims held here count toward REDIS_INFLIGHT_MAX with the
 * batcher's (gw_batcher_add sheds above the sum); at most
 * GW_SOLDOUT_EVENTS events are marked per thread (beyond, their claims go
 * to claim.lua as before); a check carries at most GW_SOLDOUT_CHECK_MAX
 * users.
 *
 * Thread: all of it on the owning loop thread.
 */
#ifndef GW_SOLDOUT_H
#define GW_SOLDOUT_H

#include "gw_http.h"

/** Events a thread marks sold out at once. */
#define GW_SOLDOUT_EVENTS 64

/**
 * Claims one check carries at most (more held in one loop turn make more
 * checks). A check of 1,024 users holds Redis for ~0.4 ms (soldout.lua ~23
 * us per 64), less than the claim.lua calls it replaces (~80 us per 64).
 */
#define GW_SOLDOUT_CHECK_MAX 1024

typedef struct st_gw_soldout_t gw_soldout_t;

/** Creates the sold-out checker of @b's thread @th; NULL on no memory. */
gw_soldout_t *gw_soldout_create(gw_thread_t *th, gw_batcher_t *b);

/**
 * Hands every claim held back to the batcher (which sends it or answers
 * 503 as it stops), and frees @s; an event with checks still in flight is
 * freed by their replies (gw_redis_destroy gives them NULL), now void.
 */
void gw_soldout_destroy(gw_soldout_t *s);

/** Claim script said sold_out for a claim of @event: mark it. */
void gw_soldout_seen(gw_soldout_t *s, const char *event, size_t elen);

/**
 * Holds @r (takes a reference) for a check when its event is marked;
 * returns 1 then, and @r is answered here or handed back to the batcher.
 * Returns 0 (nothing taken) otherwise. Call only when no batch of r's
 * event is open in this loop turn.
 */
int gw_soldout_take(gw_soldout_t *s, gw_req_t *r, int quantity);

/** Claims @s holds (waiting for a check or in one). */
int gw_soldout_held(const gw_soldout_t *s);

#endif
