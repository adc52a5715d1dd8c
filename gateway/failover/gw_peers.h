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
 * The protocol. Alive means "beat within the last PEER_ALIVE_MS" (the
 * reader's, or the peer's own if longer: "Windows that differ" below), on
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
 *    holders whose beat_at is within PEER_ALIVE_MS (gw_peers_check). One
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
 *      (G runs within PEER_ALIVE_MS of B, or P beat again since): G
 *      refuses and grants nothing.
 *  (3) While P keeps beating (every GW_PEER_BEAT_MS, well inside
 *      PEER_ALIVE_MS = 3 periods), every later G sees P alive by (2)
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
 *    PEER_ALIVE_MS a peer in GRANT takes it for dead and grants, while
 *    it keeps serving from Redis (a MariaDB outage does not stop the fast
 *    path, by design): the double partition — one gateway cut from Redis,
 *    another cut from MariaDB, both up — is not covered (docs/DESIGN.md).
 *  - A process killed without its clean shutdown leaves its row, which
 *    counts as alive for up to PEER_ALIVE_MS after its last beat: a
 *    gateway restarted (new pid, new holder) or left alone is read-only
 *    that long. Conservative: it refuses, never grants twice.
 *  - A peer that granted an event from Redis after this gateway's last
 *    watermark of it and died before this gateway left Redis is in no
 *    journal and was never seen alive by a grant transaction: its grants
 *    still in the stream are unknown to the fallback, as they were before
 *    this module (the watermark's gap, gw_journal.h). Not closed here.
 *  - A beat that does not commit in time (MariaDB slow) makes the peer
 *    look dead too: the same lease as above, measured on MariaDB's clock.
 *    The beat waits on the fence (short grant transactions), on its own
 *    row (gw_peers_unchecked reads rows in share mode) and on MariaDB
 *    itself. The merge's beats are held to half the window: B of (1), and
 *    a second beat just before the rebuilds read (every grant transaction
 *    that counted P dead before it has ended), each taking PEER_ALIVE_MS/2
 *    or more fail the merge, which tries again (gw_merge.c, slow_beat;
 *    not when no other gateway was alive at P's beats since its last
 *    check). A beat that slow later, while P serves from Redis, is not
 *    covered.
 *
 * After a Redis restart: the checked mark (column checked_run, sql/011).
 * Beats also close a hole of the merge back to Redis, with no fallback
 * involved. Gateway A answered grants that only Redis's stream and A's
 * journal hold (undrained); Redis comes back empty, or from an AOF that
 * missed them. Gateway B merges first, rebuilds the event from MariaDB,
 * which lacks A's grants, and serves it: A's tickets and units go out
 * again, and A's own check then finds Redis's seq at or above its journal
 * and writes nothing. The rule that closes it:
 *
 *   no merge reads MariaDB for a Redis instance before every live peer
 *   has written its journal for that instance.
 *
 * "That instance" is Redis's run_id (a cluster's: every master's, gw_merge.c).
 * A merge writes the journaled events Redis may have lost to MariaDB
 * (gw_merge.c, step 1; after a restart, any whose seq is not above
 * MariaDB's ticket_hwm too), marks its row checked_run = SHA2(run_id)
 * (gw_peers_mark), and when the run_id differs from its last completed
 * check's ("Redis was restarted since", or this process is new) waits
 * until no live peer's mark differs (gw_peers_unchecked) before its
 * rebuilds read MariaDB. A merge on the run_id of its last completed
 * check waits for nobody: that check waited for every peer of that
 * instance, and every grant since went to the instance, which lost nothing
 * (it was not restarted).
 * Why exact: a peer P alive at B's wait with a mark for this instance
 * committed, before it marked, every journaled grant the instance does not
 * hold; those it holds are in its stream, and a rebuild waits until the
 * stream is drained. So B's rebuilds read all of P's grants. P's own
 * grants on this instance come only after P's merge, so they are in
 * Redis, above the rebuild. The mark is written after the journal and
 * before the wait on every gateway, and the journal write holds an event's
 * lock only for its own transaction, so two merging gateways hold each
 * other back for a retry or two at most. The merge beats while it writes
 * and waits (gw_peers_beat_due): the timer's beat may queue behind it.
 * The limits: a peer frozen (SIGSTOP, a VM stall) longer than the alive
 * window counts as dead and is not waited for: PEER_ALIVE_MS sets that
 * window (3 s; longer stalls need a longer window, at the cost of a longer
 * read-only time after a gateway is killed). A gateway that has never
 * marked has nothing journaled (a process starts in LOST and journals only
 * on the fast path, which it reaches through a merge that marks first):
 * the row its first beat makes reads '*', which no wait counts, so a
 * gateway that beats but never reaches Redis (a wrong address or
 * password, a canary) holds nobody back; once a process marked, a row it
 * makes again (an operator deleted it) reads '' and is waited for. A peer
 * that marked once and is alive but cut from Redis since never marks
 * again, nor does one whose journal write keeps failing (an event unknown
 * to MariaDB), nor a gateway of a release before this column (whose new
 * rows read ''): after a Redis restart the others stay read-only, and so
 * does a gateway that starts (a new process has no check to compare
 * with), until it marks, stops, or dies (exact, not available). Redis's INFO without a
 * run_id (a proxy) leaves nothing to compare: with a live peer, no merge
 * passes. A clean stop off the fast path writes its journal to MariaDB
 * before it deletes its row (gw_fallback_grant_write_at_stop); a killed
 * gateway's journal is lost, with one gateway as with several.
 *
 * Windows that differ. A gateway's own rules rest on its PEER_ALIVE_MS:
 * a merge whose beat took half of it, or whose beats lapsed less than it,
 * takes itself for alive to every peer. A peer judging it by a shorter
 * window would read it dead sooner, and grant from MariaDB while it serves
 * from Redis after a freeze it thought harmless. So each beat stores its
 * gateway's PEER_ALIVE_MS (column alive_ms, sql/012), and every reader
 * (grant transactions, the beat's count, the merge's wait) counts a peer
 * alive while its beat is younger than the larger of its own window and
 * the peer's: never shorter than what the peer's rules assume. Differing
 * windows cost only read-only time. A row of a release before the column
 * says 0: the reader's own window, as before (such a gateway must use the
 * same PEER_ALIVE_MS as the rest).
 *
 * All functions run on a database thread with the caller's connection and
 * return 0 or a MariaDB error number; gw_peers_beat, gw_peers_mark,
 * gw_peers_unchecked and gw_peers_forget end their own transaction,
 * gw_peers_check runs inside the caller's.
 */
#ifndef GW_PEERS_H
#define GW_PEERS_H

#include "gw_dbpool.h"

#include <mysql.h>
#include <stdint.h>

#define GW_PEER_BEAT_MS 1000  /* between beats from the failover timer */
#define GW_PEER_ALIVE_MS 3000 /* a beat younger than this: alive (3 beat periods); the default and least PEER_ALIVE_MS */

/**
 * Announces @holder alive now, with its window @alive_ms (PEER_ALIVE_MS,
 * by which peers judge it too), in its own transaction (committed, or
 * rolled back on error), and notes whether another gateway was alive
 * (gw_peers_alone_at_beat) and how long this one may have looked dead
 * (gw_peers_lapse_ms).
 */
unsigned gw_peers_beat(MYSQL *db, const char *holder, long alive_ms);

/**
 * 1 when no other gateway was alive at any of this gateway's committed
 * beats since the last gw_peers_lapse_clear, nor at the one before it (0
 * before the first beat): a peer that granted while this gateway looked
 * dead and died since still counts.
 */
int gw_peers_alone_at_beat(void);

/**
 * Inside the caller's transaction, before it writes: takes the fence shared
 * and sets *@alive to the number of gateways other than @holder that beat
 * within @alive_ms (PEER_ALIVE_MS) or their own window if longer.
 */
unsigned gw_peers_check(MYSQL *db, const char *holder, long alive_ms, long long *alive);

/** Marks @holder's journal written for the Redis of @run_id (the merge; see "After a Redis restart"). */
unsigned gw_peers_mark(MYSQL *db, const char *holder, const char *run_id);

/**
 * Sets *@n to the gateways other than @holder alive (within @alive_ms, or
 * their own window if longer) whose mark is not @run_id's (all of them
 * when @run_id is "": unknown).
 */
unsigned gw_peers_unchecked(MYSQL *db, const char *holder, long alive_ms, const char *run_id, long long *n);

/** Deletes @holder's row (clean shutdown), in its own transaction. */
unsigned gw_peers_forget(MYSQL *db, const char *holder);

/**
 * Clean shutdown, after the database threads stopped: deletes @srv's row on
 * a connection of its own (timeouts of 1 s), best effort. A row left
 * behind only keeps peers read-only for PEER_ALIVE_MS (the longer of theirs and this one's).
 */
void gw_peers_leave(gw_server_t *srv);

/** A background database job's run step: one beat of the job's server (failover timer). */
void gw_peers_beat_run(gw_dbjob_t *job, gw_dbconn_t *conn);

/**
 * A beat (gw_peers_beat) on @conn's database connection, reset when the
 * beat failed; into *@took_ms (when not NULL) how long it took, from
 * before the fence to the commit (gw_merge.c holds a merge's beats to
 * half the window). 0, or a MariaDB error (2002: no connection).
 */
unsigned gw_peers_beat_conn(gw_dbconn_t *conn, gw_server_t *srv, int64_t *took_ms);

/**
 * A beat on @conn when the last one that committed (any thread) is
 * GW_PEER_BEAT_MS old or more; else nothing. For long work on a database
 * thread (the merge, a rebuild waiting for a drain), between two of its
 * transactions: the timer's beat is a job of the same lane and may wait
 * behind it, and a gateway that stops beating while it writes its journal
 * would be taken for dead. 0, or a MariaDB error (the connection reset).
 */
unsigned gw_peers_beat_due(gw_dbconn_t *conn, gw_server_t *srv);

/**
 * The longest this gateway may have looked dead to a peer since the last
 * gw_peers_lapse_clear: the longest time from one committed beat's start
 * to the next one's commit, or from the latest one's start to now when
 * that is longer; INT64_MAX before the first beat. At PEER_ALIVE_MS or
 * more, a peer's fallback may have granted from MariaDB meanwhile (it
 * counted no live peer), so nothing may pass for "MariaDB unchanged since
 * the last check" (gw_merge.c, the blip exception).
 */
int64_t gw_peers_lapse_ms(void);

/**
 * Starts gw_peers_lapse_ms's and gw_peers_alone_at_beat's measures again: a
 * merge completed its check of Redis against MariaDB. (A lapse during that
 * merge, after its step 0, is the beat lease's own limit: gw_peers.h.)
 */
void gw_peers_lapse_clear(void);

/** A peer was seen alive during this stay away from Redis (as gw_peers_refused, without counting a refusal). */
void gw_peers_saw(void);

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
