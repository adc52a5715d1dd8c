/*
 * tk_rebuild: one event's Redis state rebuilt from MariaDB, exactly, while
 * claims may arrive (docs/REBUILD.md).
 *
 * MariaDB holds every claim whose stream entry was drained; Redis holds the
 * live copy the claim script works on. After Redis lost its state (flushed,
 * restarted without its AOF, replaced) the event hash, the claims hash and
 * the stream's consumer group are written again from the database:
 *
 *  1. MariaDB: the events and event_stock rows, read FOR UPDATE in one
 *     transaction that stays open until after the swap. Every writer of an
 *     event's claims locks the event_stock row first (worker, admin cancel,
 *     fallback, stock changes; see gateway/admin/gw_admin.c) and admin state
 *     changes update the events row before Redis, so while the rebuild holds both rows no
 *     database change of this event can slip between what it reads and
 *     what it writes. No row: TK_REBUILD_UNKNOWN_EVENT.
 *  2. Redis: XLEN tk:{E}:q and a snapshot of the event hash (seq, total,
 *     remaining, state; absent after a flush). Entries still in the stream
 *     are granted claims not yet in MariaDB: TK_REBUILD_NOT_DRAINED, nothing
 *     is touched (the caller waits for the workers and retries).
 *  3. Every claim row, streamed (mysql_use_result), into a temporary hash
 *     tk:{E}:claims:rebuild with pipelined HSETs of TK_REBUILD_CHUNK fields,
 *     at most TK_REBUILD_INFLIGHT commands unanswered: memory is bounded
 *     whatever the number of claims.
 *  4. lua/rebuild_swap.lua, atomically: refuses (TK_REBUILD_CONFLICT, the
 *     temporary hash dropped) when the stream is no longer empty or the event
 *     hash differs from the snapshot of step 2 (a claim was granted, or an
 *     admin change reached Redis, meanwhile: optimistic concurrency, the
 *     caller retries); otherwise renames the temporary hash over the claims,
 *     writes the event hash, adds the id to tk:events and creates the group.
 *  5. COMMIT (nothing was written in MariaDB; it releases the rows).
 *
 * total is event_stock.total. (It used to keep a lower total the hash
 * still had, taken for a stock cut between its Redis and MariaDB steps. A
 * cut now runs its Redis step while it holds the event_stock row lock this
 * rebuild also takes, so no cut is ever in flight here; a lower Redis total
 * can only be a cut whose commit failed — not a change at all — or a raise
 * whose Redis step has not run yet. gateway/admin/gw_route_admin_stock.c.) The
 * admin versions stock_ver and state_ver are written too. remaining =
 * total - sold; seq = max(Redis seq, ticket_hwm).
 *
 * The waiting room's settings (sql/006) come from the events row too: with
 * the room on, the event hash gets wr, wr_rate, wr_ttl, wr_opens and wr_ver,
 * the room's hash tk:{E}:wq its paused, and tk:wq:rooms the id; with it off,
 * a wr Redis still held is set to 0. The places themselves live only in
 * Redis and are not rebuilt (after a lost Redis, users join again). An
 * update of the room takes the events row lock this rebuild holds, so none
 * is committed between what the rebuild reads and what it writes; one
 * committed before arrives with a version the swap already holds (the
 * script applies it again or finds it superseded).
 *
 * The priority presale (sql/008) too: the swap writes pr_board, pr_top and
 * pr_opens from the events row; then, when MariaDB holds a snapshot
 * (pr_snapshot_at set), step 6 copies its rows of event_priority into
 * tk:{E}:prio with lua/prio_copy.lua (pr_snap and pr_n last; nothing when
 * pr_snap is already there), the same copy a gateway makes
 * (gateway/claims/gw_prio.h). Until it is done, claims of the window get
 * "priority_pending" (503), never a wrong answer.
 */
#ifndef TK_REBUILD_H
#define TK_REBUILD_H

#include <hiredis.h>
#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#define TK_REBUILD_CHUNK 1000  /* fields per HSET */
#define TK_REBUILD_INFLIGHT 16 /* pipelined HSETs awaiting their reply */
#define TK_REBUILD_TEMP_TTL_S 3600 /* the temporary hash of a crashed rebuild expires */

typedef enum {
    TK_REBUILD_OK = 0,
    TK_REBUILD_UNKNOWN_EVENT,   /* no events / event_stock row: nothing touched */
    TK_REBUILD_NOT_DRAINED,     /* the stream holds entries: nothing touched */
    TK_REBUILD_CONFLICT,        /* the swap refused (claim or admin change meanwhile): nothing changed, retry */
    TK_REBUILD_ERR_INVALID,     /* bad event id */
    TK_REBUILD_ERR_DB,          /* MariaDB failed (stats->db_errno; classify with tk_db_classify) */
    TK_REBUILD_ERR_REDIS,       /* Redis failed or answered something unexpected */
} tk_rebuild_rc_t;

typedef struct {
    uint64_t claims;       /* claim rows loaded */
    uint64_t total, sold, remaining, seq; /* what the event hash was set to */
    int64_t ms_read;       /* step 1 (includes waiting for the row locks) */
    int64_t ms_check;      /* step 2 */
    int64_t ms_load;       /* step 3 */
    int64_t ms_swap;       /* steps 4 and 5 */
    uint64_t prio;         /* priority snapshot rows copied (step 6) */
    int64_t ms_prio;       /* step 6 */
    int64_t ms_total;
    unsigned db_errno;     /* with TK_REBUILD_ERR_DB */
    long long stream_len;  /* with TK_REBUILD_NOT_DRAINED */
    int wr_on;             /* the event's waiting room is on (read from MariaDB): it belongs in tk:wq:rooms */
} tk_rebuild_stats_t;

#define TK_REBUILD_NO_REGISTRY 1u /* tk_rebuild_event_ex: send no SADD to tk:events or tk:wq:rooms (the caller does) */

/**
 * Rebuilds event @event_id's Redis state from MariaDB (above). @db is a
 * connection from tk_db_connect (autocommit off; left without an open
 * transaction); @redis a connected context. @stats is filled (zeroed first).
 * Returns a tk_rebuild_rc_t, with a message in @err unless TK_REBUILD_OK.
 */
int tk_rebuild_event(MYSQL *db, redisContext *redis, const char *event_id, tk_rebuild_stats_t *stats, char *err, size_t errlen);

/**
 * tk_rebuild_event with @flags. TK_REBUILD_NO_REGISTRY, for a Redis Cluster
 * where the registry sets live in other slots than the event's keys, maybe
 * on other masters than @redis's: the caller adds the id to tk:events, on
 * that set's master, before the call (before the swap, as the function would:
 * a listed id without a hash is tolerated, a hash nobody lists is never
 * drained), and after TK_REBUILD_OK to tk:wq:rooms when stats->wr_on (best
 * effort, as here: the room's first join lists it). Flags 0: tk_rebuild_event.
 */
int tk_rebuild_event_ex(MYSQL *db, redisContext *redis, const char *event_id, unsigned flags, tk_rebuild_stats_t *stats, char *err,
                        size_t errlen);

/** Short name of @rc ("ok", "unknown_event", "not_drained", "conflict", …). */
const char *tk_rebuild_rc_name(int rc);

/**
 * The Redis status letter of a database status word, and the record
 * "<ticket> <qty> <created_ms> <letter>" into @out (TK_CLAIM_RECORD_MAX
 * bytes). Returns its length, or -1 for an unknown status or bad numbers.
 */
int tk_rebuild_record(const char *ticket, const char *qty, const char *created_ms, const char *status, char *out);

#endif
