/*
 * gw_ratelimit: the abuse limits — request rates per client address and per
 * user, each a token bucket, answered 429 "rate_limited" (docs/ABUSE.md).
 *
 * A bucket is kept as one number, its "theoretical arrival time" (GCRA, the
 * generic cell rate algorithm): with an interval T = 1/rate and a capacity
 * of B tokens, a request at time now is allowed when
 * max(tat, now) + T - now <= B·T, and then tat becomes max(tat, now) + T.
 * That is exactly a token bucket holding (now - tat)/T + B tokens, capped at
 * B, refilled at rate per second, a request taking one; a bucket with
 * tat <= now is full, so forgetting it changes nothing ("stale"). A refused
 * request waits tat + T - B·T - now for its token: the Retry-After.
 *
 * Tables: fixed-size open addressing, keyed by a keyed 64-bit hash
 * (SipHash-1-3 with a random per-process key, so nobody can aim collisions
 * at a victim; a collision merely makes two keys share a bucket). A lookup
 * looks at GW_RL_PROBE consecutive slots and no more: O(1). A new key takes
 * an empty or stale slot of its window; when every slot there is live, the
 * live bucket with the most tokens is evicted (it comes back full: the
 * smallest possible gift) and counted in ->evicted. Memory never grows.
 *
 * Threads: each loop thread owns its own tables (in gw_thread_t, zeroed at
 * start, set up on first use), so no locks. A client whose connections land
 * on N threads gets at most N times the configured rate.
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include "gw_types.h" /* gw_rl_slot_t, gw_rl_table_t, gw_ratelimit_t: embedded in gw_thread_t */

#include <stddef.h>
#include <stdint.h>

/**
 * Sets @t up over @slots (@nslots, a power of two >= GW_RL_PROBE, zeroed by
 * this call; owned by the caller) for @rate tokens a second and a capacity
 * of @burst (at least 1; 0 means @rate). @rate 0 turns the limit off.
 */
void gw_rl_table_init(gw_rl_table_t *t, gw_rl_slot_t *slots, size_t nslots, long rate, long burst);

/**
 * Takes a token for @key (a gw_rl_hash value) at @now_ns. Returns 0 when the
 * request may go on; else 1 and sets *@retry_ns (may be NULL) to the wait
 * for the next token. Always 0 when the limit is off.
 */
int gw_rl_take(gw_rl_table_t *t, uint64_t key, uint64_t now_ns, uint64_t *retry_ns);

/** The keyed hash of @len bytes at @p (never 0). */
uint64_t gw_rl_hash(const void *p, size_t len);

/** Whole seconds to announce in Retry-After for a wait of @retry_ns: rounded up, at least 1. */
unsigned gw_rl_retry_after_s(uint64_t retry_ns);

struct st_gw_req_t;

/**
 * The per-address limit, for every API route but /healthz, /readyz and
 * /metrics; the key is the peer address (IPv6: its /64). Returns 0, or -1
 * with @r answered 429. Call once, before the route runs.
 */
int gw_ratelimit_ip(struct st_gw_req_t *r);

/**
 * The per-user limit, for POST …/claims and GET …/claims/{user_id} (other
 * routes pass): keyed on the verified token's r->sub when there is one
 * (USER_AUTH=required), else on r->user_id (off, v1). Returns 0, or -1 with
 * @r answered 429. Call once per request, once the key is set and valid.
 */
int gw_ratelimit_user(struct st_gw_req_t *r);

#endif
