/*
 * gw_fallback_grant: the lock-table fallback: claims granted by MariaDB
 * while Redis is away (gateway mode GRANT, gw_journal.h), exactly.
 *
 * Before the first grant of an event (once per stay in GRANT), under a
 * process-wide mutex: take the event's lock (gw_lock.h), then write the
 * journal — the grants Redis made that the workers may not have drained —
 * into MariaDB in one transaction (rows not already there, `sold` moved,
 * `ticket_hwm` raised, and the event flagged stale in Redis: gw_lock.h —
 * the durable fact that any gateway must rebuild it before serving it from
 * Redis, which outlives this process). From then on MariaDB knows every unit and every user
 * Redis granted, and the event's path is "fallback". An event whose journal
 * is not complete (gw_journal.h: another gateway grants on it, the journal
 * overflowed, this process started with undrained grants of a previous one)
 * stays read-only: exactness first.
 *
 * Only alone: while another gateway is alive (its beat in MariaDB younger
 * than PEER_ALIVE_MS, or its own if longer), nothing is granted here and the claims get the
 * read-only answers — the journal is this process's, and a peer may serve
 * the same event from Redis (gw_peers.h proves the rule; the journal write
 * above checks it too, so no stale flag is set for nothing).
 *
 * Each batch of claims is then one transaction, in arrival order:
 *  1. the lock row FOR UPDATE: still our token (else: rollback, 503); the
 *     fence row shared and the other gateways' beats read (gw_peers_check):
 *     one alive, or one seen since the last return to Redis -> rollback,
 *     read-only answers, tk_fallback_peer_refusals_total;
 *  2. the event and its stock row FOR UPDATE (the guarded row every writer
 *     takes), state, window, max_per_user;
 *  3. per claim: the user's row (a claim already held is answered 200 with
 *     it, as Redis would); a user whose Redis reply was lost (uncertain) is
 *     503 — their claim may exist; refusals as the claim script says them;
 *     a grant when qty <= total - sold - uncertain units: a row, status
 *     confirmed, ticket max(ticket_hwm, highest Redis ticket + uncertain
 *     claims) + 1, so tickets keep the grant order; when only uncertain
 *     units are left, 503 (they may come back), never sold_out;
 *  4. sold and ticket_hwm moved; COMMIT. A failure anywhere rolls back and
 *     every claim of the batch is 503: nothing was granted.
 */
#ifndef GW_FALLBACK_GRANT_H
#define GW_FALLBACK_GRANT_H

#include "gw_dbpool.h"
#include "gw_journal.h"

#include <stdint.h>

/**
 * A fallback job's run step (database thread): grants or refuses each claim
 * of the job's gw_fb_in_t (one event; gw_fallback_db.h), or answers them
 * read-only (gw_fallback_readonly.h) when the event cannot be granted here.
 * Every item is answered; 503s say only that Redis is away.
 */
void gw_fallback_grant_run(gw_dbjob_t *job, gw_dbconn_t *conn);

/**
 * For the merge's step 1 and the clean stop, on a database thread: writes
 * @event's journal into MariaDB as the fallback does before its first grant
 * (lock taken, rows not yet there), then releases the lock at once: a lock
 * kept would hold back another gateway's journal write. When it wrote a
 * row, the same transaction set the stale flag, which keeps the event
 * rebuilt before it is served from Redis, and gw_journal_info's flushed
 * stays set, so the merge's step 3 rebuilds it; when every grant was
 * drained already, neither (write_journal says why). 0, or -1 when nothing
 * was committed (a backend failed, or another gateway holds the lock).
 */
int gw_fallback_grant_write(gw_dbconn_t *conn, gw_server_t *srv, const char *event, size_t elen);

/**
 * Clean stop, after the database threads stopped, when @mode (the mode
 * when the stop began, or LOST when a connection was lost between the
 * signal and the teardown, gw_server.c; the teardown's own closing does
 * not count) was not FAST: writes every journaled event
 * not written yet to MariaDB (gw_fallback_grant_write) on a connection of
 * its own, beating meanwhile. Redis may have lost those grants (it is
 * away, or back unchecked), and the journal dies with this process. Best
 * effort within STOP_WRITE_MS: what is not written is logged and lost, as
 * a killed gateway's journal is.
 */
void gw_fallback_grant_write_at_stop(gw_server_t *srv, gw_mode_t mode);

/** Fallback grants committed, each answered 201, since start (all threads). */
uint64_t gw_fallback_grant_count(void);

/** Fallback batches rolled back because the event's lock was no longer ours. (Batches refused for a live peer: gw_peers_refusal_count.) */
uint64_t gw_fallback_lock_lost_count(void);

#endif
