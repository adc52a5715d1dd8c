/*
 * gw_admitter: the one admitter of the fleet. It walks every waiting room's
 * line (lua/wq_admit.lua) at the room's release_per_s, steadily, from the
 * gateway that holds a lease in Redis; another gateway takes over within
 * 5 s when that one dies.
 *
 * Why in order, and exactly once. The order is the script's: a room's line
 * is a sorted set scored by the place HINCRBY gave, each step walks it from
 * the lowest place, admits present users until its budget is spent and
 * passes the absent ones (410 expired) without spending budget. Redis runs
 * the step alone, and a user leaves the line in the same step that admits
 * them, so nobody is admitted twice, not even by two admitters at once.
 * What one admitter adds is the rate: two would each spend a budget.
 *
 * Why steady. Loop thread 0 of the holder runs a step for every room every
 * GW_ADMITTER_STEP_MS (50 ms) with budget = floor(carry + rate * elapsed /
 * 1000) (gw_admitter_budget): at 20/s that is one user every 50 ms, not 20
 * at the top of each second. The fraction is carried to the next step, so
 * the long-run rate is exact even when rate * 50 ms is below one. Elapsed
 * is capped at GW_ADMITTER_ELAPSED_MAX_MS, two steps (a stall of the loop,
 * a SIGSTOP, a slow Redis cannot store up more than 100 ms of release: a
 * step after a 1.2 s freeze releases rate / 10, not a second's worth in
 * one burst; the time beyond the cap is lost, so the rate errs low under a
 * stalling loop, never high), and the carry drops to 0 when a
 * step could not spend its budget (an empty line, a pause, a sale not yet
 * open): capacity unused is lost, never saved for a burst. That alone
 * still let a second hold 1.1 x rate + 1 (a late step's 100 ms before the
 * second, then the second's own steps; review rev6), so the step itself
 * spends at most what the room's admissions of the last 1000 ms left of
 * the rate (lua/wq_admit.lua, "Why never more than the rate in any
 * second"): in any second at most rate users (invariant 9 of the brief),
 * whatever the steps' timing or the number of admitters.
 * A room's rate is the one its previous step read (wr_rate), so a change of
 * release_per_s applies within a step; the rooms are the members of
 * tk:wq:rooms, read once a second, at most GW_ADMITTER_ROOMS_MAX of them
 * (the rooms it already steps first; the members left over are the gauge
 * tk_wq_rooms_unserved): 10,000 rooms are 200,000 steps a second, about
 * what one Redis runs, so more would slow every room rather than serve
 * more. Finished rooms leave the set, so it holds only rooms with work: a
 * step answers a room finished (lua/wq_admit.lua) and this admitter SREMs
 * it, then re-checks it with a step of budget 0 and SADDs it back if it
 * has work again (a join or a re-open in between; gw_admitter.c, unlist).
 * The SREM is not in the script: on a Redis Cluster tk:wq:rooms is in
 * another slot than the room's keys.
 *
 * Why a dead holder is replaced. The lease is tk:{wq}:lease = this gateway's
 * id (host:pid:random) with PX GW_ADMITTER_LEASE_MS (3 s), renewed every
 * GW_ADMITTER_RENEW_MS (1 s) by lua/wq_lease.lua, which also takes it when
 * it is free, atomically, so at most one gateway holds it. Every gateway
 * tries once a second. A holder killed with SIGKILL stops renewing: its key
 * expires at most 3 s after its last renewal and another gateway takes it
 * at its next try, within 1 s: the admission resumes within 4 s (< 5 s).
 * A holder that only stalls (a long pause, Redis unreachable) must not keep
 * admitting beside its successor: it runs steps only while its last
 * successful renewal is younger than GW_ADMITTER_TRUST_MS (2.5 s, measured
 * from when that renewal was sent, so before the key can have expired);
 * past that it stops until a renewal succeeds again. A new holder starts
 * every room with elapsed 0 and no carry: no burst at a takeover.
 *
 * Why a late step is harmless (fencing). The trust above stops a holder
 * from *sending* steps once its lease may be gone, but a step already sent
 * (frozen between the check and the send, or held on a stalled link) can
 * reach Redis after the successor took over. Each takeover draws a new,
 * larger epoch (tk:{wq}:epoch, INCR in lua/wq_lease.lua, returned with every
 * renewal); each step carries its sender's, and lua/wq_admit.lua refuses a
 * step whose epoch is older than the room's newest (tk:{E}:wq:fence; {-2}: nothing
 * changed), so after the successor's first step in a room nothing older is
 * run there. A refused step makes this gateway stop at once (trust 0).
 * The refusal names the room's fence; when that is above the epoch this
 * gateway holds with the lease still its own, the counter went back (its
 * slot lost, review rev6), and the next try draws an epoch above the fence
 * (lua/wq_lease.lua, "A lost counter") instead of renewing one every room
 * refuses for ever.
 */
#ifndef GW_ADMITTER_H
#define GW_ADMITTER_H

#include "gw_types.h"

#include <stddef.h>
#include <stdint.h>

#define GW_ADMITTER_STEP_MS 50
#define GW_ADMITTER_RENEW_MS 1000
#define GW_ADMITTER_LEASE_MS 3000
#define GW_ADMITTER_TRUST_MS 2500
#define GW_ADMITTER_ELAPSED_MAX_MS 100 /* two steps */
#define GW_ADMITTER_SCAN_MAX 2000 /* places one step may pass, at most */
/* Rooms one admitter steps, at most: beyond, members of tk:wq:rooms wait for a place (tk_wq_rooms_unserved) */
#define GW_ADMITTER_ROOMS_MAX 10000

/**
 * The budget of one step at @rate_per_s after @elapsed_ms (capped at
 * GW_ADMITTER_ELAPSED_MAX_MS; negative counts as 0), with *@carry_milli the
 * fraction of a user left from before, in thousandths (0..999), updated to
 * what is left now. Pure: the unit tests call it.
 */
static inline int64_t gw_admitter_budget(int64_t *carry_milli, int64_t rate_per_s, int64_t elapsed_ms)
{
    if (elapsed_ms > GW_ADMITTER_ELAPSED_MAX_MS)
        elapsed_ms = GW_ADMITTER_ELAPSED_MAX_MS;
    if (elapsed_ms < 0 || rate_per_s < 0)
        elapsed_ms = 0;
    int64_t units = *carry_milli + rate_per_s * elapsed_ms; /* thousandths of a user */
    *carry_milli = units % 1000;
    return units / 1000;
}

/** Creates the admitter on @th (thread 0) and starts its timer; NULL on no memory. */
gw_admitter_t *gw_admitter_create(gw_thread_t *th);

/**
 * At a clean stop, on @a's thread (its timer no longer steps: the thread is
 * stopping): gives the lease back if it is this gateway's (lua/wq_lease.lua
 * with expiry 0), so another gateway takes over within a second instead of
 * after the 3 s expiry. 0 when sent (gw_admitter_releasing until it is
 * answered), -1 when there is nothing to give back or Redis is away.
 */
int gw_admitter_release(gw_admitter_t *a);

/** 1 while the release sent by gw_admitter_release is unanswered. */
int gw_admitter_releasing(const gw_admitter_t *a);

/**
 * Stops @a's timer, on its own thread, after the thread's Redis connection
 * is gone (its callbacks have run) and before its loop is destroyed. @a
 * stays readable (gw_admitter_metrics) until gw_admitter_destroy. NULL is
 * fine.
 */
void gw_admitter_stop(gw_admitter_t *a);

/**
 * Frees @a (stopped). Only once no thread can read it: after every loop
 * thread has been joined, since /metrics on any thread reads it. NULL is
 * fine.
 */
void gw_admitter_destroy(gw_admitter_t *a);

/**
 * Writes the tk_wq_present gauge (users present per room, as this
 * gateway's admitter saw them at its last step; none unless it holds the
 * lease) into @out (@cap bytes). Any thread. Returns the length.
 */
size_t gw_admitter_metrics(gw_admitter_t *a, char *out, size_t cap);

#endif
