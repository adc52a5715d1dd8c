/*
 * gw_rebuild: after every (re)connection to Redis, make sure each event of
 * MariaDB has its Redis state, and rebuild what is missing (common/
 * tk_rebuild) before claims for it are answered again.
 *
 * A Redis that restarted from its AOF has everything and the check is one
 * EXISTS per event and per board. A Redis that came back empty (flushed, replaced, AOF
 * lost) has no event hashes: every event is rebuilt from MariaDB. Until the
 * check is done the gateway answers a claim, an event lookup or a status
 * lookup whose event Redis does not know with 503 unavailable (Retry-After),
 * not 404: it may be on its way back. A status lookup of an event Redis
 * holds is not held back by the check (the swap writes an event's hash
 * and claims in one step), so a check held up by another event does not
 * answer "retry" to every user without a claim (gw_route_status.c says
 * when such a lookup still gets 503). /readyz and /metrics say when a
 * check is running.
 *
 * A Redis that came back *behind* (restored from an old snapshot, with
 * event hashes present but stale) is not detected here; `tk-rebuild
 * --event ID` rebuilds such an event on demand (docs/REBUILD.md).
 */
#ifndef GW_REBUILD_H
#define GW_REBUILD_H

#include "gw_dbpool.h"
#include "gw_types.h"

/**
 * The module's state (whether a check runs, the count of events rebuilt),
 * for srv->rebuild, zeroed. NULL on no memory. The caller frees it with
 * gw_rebuild_free once no thread runs.
 */
struct gw_rebuild *gw_rebuild_new(void);
void gw_rebuild_free(struct gw_rebuild *rb);

/** The Redis state callback of every loop thread: on "up", asks for a check. */
void gw_rebuild_on_redis_state(gw_redis_t *r, int up, void *thread);

/** 1 while a check (and any rebuild it does) is running or queued. */
int gw_rebuild_active(const gw_server_t *srv);

/** Events rebuilt since the process started (by the check, and by the merge: gw_merge.h). */
uint64_t gw_rebuild_count(const gw_server_t *srv);

/**
 * On a database thread: rebuilds @id's Redis state from MariaDB
 * (tk_rebuild_event), waiting up to @wait_ms, @pause_ms between tries,
 * while the stream is not drained or the swap conflicts, and also while
 * Redis refuses (loading its AOF) when @wait_refusing. Logs under @who.
 * Counts and logs a rebuild. 0 when rebuilt (or the event is gone), -1 when
 * a backend failed or the wait ran out (the connection at fault is reset).
 */
int gw_rebuild_event(gw_dbconn_t *conn, gw_server_t *srv, const char *id, const char *who, int wait_ms, int pause_ms,
                     int wait_refusing);

/**
 * Boards (common/tk_lb_rebuild.h): the same check covers every board of
 * MariaDB (EXISTS tk:lb:{B}), after the events (their claims are the
 * sale; a board of a million users takes seconds). This answers 1 from
 * a Redis (re)connection until a check has found or rebuilt every board,
 * so a board Redis does not know may be on its way back. THE READ AND
 * WRITE ROUTES OF BOARDS call it when Redis answers "no such board": 1 ->
 * 503 unavailable with Retry-After, 0 -> 404 not_found. Any thread.
 */
int gw_rebuild_boards_pending(const gw_server_t *srv);

/**
 * A "not found" from Redis means "not there" only if no rebuild check could
 * have been bringing the key back while the command was in flight. Reading
 * the flags when the answer arrives is not enough: the check may have
 * restored the key and finished between Redis's answer and its reading
 * (CI saw a board write answered 404 during a rebuild that way). So the
 * caller takes a token when it sends the command and asks
 * gw_rebuild_may_restore with it at the answer: 1 when a check was pending
 * at either moment or finished between them (answer 503), 0 when the key
 * is truly missing (404). Any thread.
 */
uint64_t gw_rebuild_token(const gw_server_t *srv);
int gw_rebuild_may_restore(const gw_server_t *srv, uint64_t token);

/**
 * The same for an event's keys: the events' check only. Boards pending
 * stay 1 after a failed board check until Redis reconnects, which must not
 * hold an event's lookups at 503 (the claim route and the event lookup
 * read gw_rebuild_active alone).
 */
uint64_t gw_rebuild_event_token(const gw_server_t *srv);
int gw_rebuild_event_may_restore(const gw_server_t *srv, uint64_t token);

/** Boards rebuilt since the process started. */
uint64_t gw_rebuild_board_count(const gw_server_t *srv);

/**
 * On a database thread: rebuilds board @id's Redis state from MariaDB
 * (tk_lb_rebuild_board), retrying while its stream is not drained or a
 * write raced it, up to @wait_ms, @pause_ms apart. 0 when rebuilt (or the
 * board is gone), -1 when a backend failed or the wait ran out.
 */
int gw_rebuild_board(gw_dbconn_t *conn, gw_server_t *srv, const char *id, const char *who, int wait_ms, int pause_ms);

/** Counts one event rebuilt in Redis from MariaDB outside the check (the merge). Any thread. */
void gw_rebuild_counted(gw_server_t *srv);

#endif
