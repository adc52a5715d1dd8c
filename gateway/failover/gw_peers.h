/*
 * gw_peers: which other gateways are alive, so that the lock-table fallback
 * grants from MariaDB only while this gateway is alone (tables
 * gateway_beats and gateway_fence, sql/010_gateway_beats.sql).
 *
 * The problem. The fallback (gw_fallback_grant.h) grants an event from
 * MariaDB once its journal — every grant Redis made that the workers may
 * not have drained — is in MariaDB. The journal is this process's; the
 * "foreign grants" test (gw_journal.h) keeps the fallback read-only for an
 * event another gateway grants on, but it sees only grants made after its
 * first watermark: a quiet event looks single-gateway to every gateway. So
 * gateway B could grant event E from MariaDB while gateway A, whose Redis
 * came back (or that never lost it: B alone lost its connection), serves
 * E from Redis, rebuilt before B's last grants or not rebuilt at all:
 * both hand out the same tickets and units. The rule that closes it:
 *
 *   the fallback grants from MariaDB only while no other gateway is alive.
 *
 * The protocol. Alive means "beat within the last GW_PEER_ALIVE_MS", on
 * MariaDB's clock (NOW(3)), so gateways' clocks do not matter.
 *  - A beat (gw_peers_beat) is one transaction: the fence row FOR UPDATE,
 *    the gateway's gateway_beats row upserted to NOW(3), the fence's n
 *    bumped, COMMIT. Each gateway beats every GW_PEER_BEAT_MS from its
 *    failover timer (a background database job, one at a time), and as the
 *    first step of every merge back to Redis (gw_merge.h), before that
 *    merge reads anything from MariaDB. A process starts in LOST and merges
 *    before its first claim reaches Redis, so it too is announced first.
 *  - Every fallback grant transaction, before it writes anything, takes the
 *    fence row LOCK IN SHARE MODE and then counts, with a locking read (so
 *    it reads the latest committed rows, not a snapshot), the other
 *    holders whose beat_at is within GW_PEER_ALIVE_MS (gw_peers_check). One
 *    or more: it rolls back and the claims get the read-only answers.
 *
 * Why it is exact. Take a gateway P that serves event E from Redis, and a
 * grant transaction G of another gateway on E.
 *  (1) P serves E from Redis only after a merge, and that merge's beat B
 *      committed before the merge read MariaDB (step order, gw_merge.c).
 *  (2) B holds the fence exclusively from its first statement to its
 *      commit; G holds it shared from before its count to its end. So
 *      either G took the fence first, and B waited for G: G committed (or
 *      rolled back) before B committed, hence before P's merge read
 *      MariaDB, which therefore sees G's grants and rebuilds E with them;
 *      or B committed first, and G's locking read sees P's row, alive
 *      (G runs within GW_PEER_ALIVE_MS of B, or P beat again since): G
 *      refuses and grants nothing.
 *  (3) While P keeps beating (every GW_PEER_BEAT_MS, well inside
 *      GW_PEER_ALIVE_MS = 3 periods), every later G sees P alive by (2)
 *      applied to P's latest beat.
 * So no fallback grant commits after P's rebuild read MariaDB while P is
 * alive: Redis's books for E are MariaDB's plus what Redis grants, and the
 * tickets Redis issues start above every ticket MariaDB holds. Grants of
 * two fallbacks at once cannot happen either: each beats, so each sees the
 * other. A single gateway's fallback is unchanged: no other row is alive.
 *
 * A peer seen. Once a grant transaction saw another gateway alive, this
 * gateway grants nothing from MariaDB until it went back to Redis (merge,
 * journal reset), even after that peer died: the peer may have served the
 * event from Redis meanwhile, and its grants still in the stream are in no
 * journal of ours, so MariaDB's books alone are not the whole truth. The
 * merge proves them again (gw_merge.h) before the next stay away.
 *
 * The limits, on the safe side or said plainly:
 *  - A gateway that reaches Redis but not MariaDB cannot beat. After
 *    GW_PEER_ALIVE_MS a peer in GRANT takes it for dead and grants, while
 *    it keeps serving from Redis (a MariaDB outage does not stop the fast
 *    path, by design): the double partition — one gateway cut from Redis,
 *    another cut from MariaDB, both up — is not covered (docs/DESIGN.md).
 *  - A process killed without its clean shutdown leaves its row, which
 *    counts as alive for up to GW_PEER_ALIVE_MS after its last beat: a
 *    gateway restarted (new pid, new holder) or left alone is read-only
 *    that long. Conservative: it refuses, never grants twice.
 *  - A peer that granted an event from Redis after this gateway's last
 *    watermark of it and died before this gateway left Redis is in no
 *    journal and was never seen alive by a grant transaction: its grants
 *    still in the stream are unknown to the fallback, as they were before
 *    this module (the watermark's gap, gw_journal.h). Not closed here.
 *  - A beat that does not commit in time (MariaDB slow) makes the peer
 *    look dead too: the same lease as above, measured on MariaDB's clock.
 *    The beat's only waits are the fence (short grant transactions) and
 *    MariaDB itself.
 *
 * All functions run on a database thread with the caller's connection and
 * return 0 or a MariaDB error number; gw_peers_beat and gw_peers_forget end
 * their own transaction, gw_peers_check runs inside the caller's.
 */
#ifndef GW_PEERS_H
#define GW_PEERS_H

#include "gw_dbpool.h"

#include <mysql.h>
#include <stdint.h>

#define GW_PEER_BEAT_MS 1000  /* between beats from the failover timer */
#define GW_PEER_ALIVE_MS 3000 /* a beat younger than this: alive (> 3 beat periods, see above) */

/** Announces @holder alive now, in its own transaction (committed, or rolled back on error). */
unsigned gw_peers_beat(MYSQL *db, const char *holder);

/**
 * Inside the caller's transaction, before it writes: takes the fence shared
 * and sets *@alive to the number of gateways other than @holder that beat
 * within GW_PEER_ALIVE_MS.
 */
unsigned gw_peers_check(MYSQL *db, const char *holder, long long *alive);

/** Deletes @holder's row (clean shutdown), in its own transaction. */
unsigned gw_peers_forget(MYSQL *db, const char *holder);

/**
 * Clean shutdown, after the database threads stopped: deletes @srv's row on
 * a connection of its own (timeouts of 1 s), best effort. A row left
 * behind only keeps peers read-only for GW_PEER_ALIVE_MS.
 */
void gw_peers_leave(gw_server_t *srv);

/** A background database job's run step: one beat of the job's server (failover timer). */
void gw_peers_beat_run(gw_dbjob_t *job, gw_dbconn_t *conn);

/** Fallback claims answered read-only because another gateway was alive (all threads). */
uint64_t gw_peers_refusal_count(void);

/**
 * Counts one such refusal, and remembers that a peer was seen alive during
 * this stay away from Redis (see "A peer seen" above) until gw_peers_reset.
 */
void gw_peers_refused(void);

/** 1 when a peer was seen alive since the last return to Redis: the fallback stays read-only. */
int gw_peers_seen(void);

/** The gateway is back on Redis (mode FAST, the journal reset): forgets the peer seen. */
void gw_peers_reset(void);

#endif
