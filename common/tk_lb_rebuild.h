/*
 * tk_lb_rebuild: one board's Redis state rebuilt from MariaDB, exactly,
 * after Redis lost it (no tk:lb:{B} while MariaDB has the board), or on
 * demand (tk-rebuild --board) over a Redis that is behind.
 *
 * MariaDB holds every score a worker drained (board_scores, one row per
 * board, season and user, kept at the highest seq: worker/wk_lb_writer.c)
 * and every season a worker saw begin (board_seasons). The rebuild:
 *
 *  1. Redis: XLEN tk:lb:{B}:q and the board's seq as Redis has it now
 *     (absent after a flush); leftovers of a rebuild that died are
 *     unlinked. Entries in the stream are scores not yet in MariaDB:
 *     TK_REBUILD_NOT_DRAINED, nothing touched (the caller waits for the
 *     workers and retries).
 *  2. MariaDB, in one consistent snapshot: the boards row (none:
 *     TK_REBUILD_UNKNOWN_EVENT, "unknown board"), every board_seasons row,
 *     MAX(seq) and MAX(t_ms) over the board's scores. The current season is
 *     the highest season of either table (at least 1), its start the
 *     season's started_ms (season 1 without a row: the board's creation).
 *  3. The scores of the current season and of the TK_LB_KEEP_CLOSED seasons
 *     before it, streamed row by row (a prepared statement, unbuffered) into
 *     temporary keys tk:lb:{B}:z:N:rebuild and :u:N:rebuild with pipelined
 *     ZADD / HSET of TK_LB_REBUILD_CHUNK members each, at most
 *     TK_REBUILD_INFLIGHT commands unanswered: memory stays bounded and a
 *     million rows take a few seconds (Redis's ZADD, not round trips, is
 *     the cost). Members and values are those of common/tk_lb.h, so the
 *     zset is byte-equal to what the write scripts had built.
 *  4. SADD tk:boards (not hash-tagged: a call of its own), then
 *     lua/lb_rebuild_swap.lua, atomically: refuses when the stream is no
 *     longer empty or seq moved since step 1 (a write reached Redis:
 *     TK_REBUILD_CONFLICT, retry), else renames the temporary keys over the
 *     seasons', writes the board hash and the seasons hash, creates the
 *     consumer group.
 *
 * The board hash gets seq = max(MAX(seq) in MariaDB, the seq Redis still
 * had) + TK_LB_REBUILD_SEQ_GAP and last_t = MAX(t_ms) (or what Redis had, if
 * higher). Why the gap: a worker may hold a batch it read before Redis
 * lost the stream and commit it after step 2's snapshot; its rows carry
 * seqs up to the lost board's, above the snapshot's MAX(seq). Without the
 * gap the next writes would reuse those numbers, and the database (which
 * keeps a row only for a higher seq) would refuse a user's new score until
 * seq passed the late row's. A worker holds at most --batch entries per
 * stream, far below the gap. Members carry seq in 10 digits (tk_lb.h): a
 * gap per rebuild uses up a negligible part of them.
 */
#ifndef TK_LB_REBUILD_H
#define TK_LB_REBUILD_H

#include "tk_rebuild.h"

#include <hiredis.h>
#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#define TK_LB_REBUILD_CHUNK 1000     /* members per ZADD / fields per HSET */
#define TK_LB_REBUILD_SEQ_GAP 100000 /* added to the highest stored seq (above) */

typedef struct {
    unsigned season;      /* the board's current season, as written */
    unsigned seasons;     /* seasons' rows in the seasons hash */
    uint64_t rows;        /* score rows loaded (every season loaded) */
    uint64_t current;     /* of those, of the current season */
    uint64_t seq, last_t; /* what the board hash was set to */
    int64_t ms_check, ms_read, ms_load, ms_swap, ms_total;
    unsigned db_errno;    /* with TK_REBUILD_ERR_DB */
    long long stream_len; /* with TK_REBUILD_NOT_DRAINED */
} tk_lb_rebuild_stats_t;

/**
 * Rebuilds board @board_id's Redis state from MariaDB (above). @db is a
 * connection from tk_db_connect (autocommit off; left without an open
 * transaction); @redis a connected context. @stats is zeroed and filled.
 * Returns a tk_rebuild_rc_t (TK_REBUILD_UNKNOWN_EVENT: no such board), with
 * a message in @err unless TK_REBUILD_OK.
 */
int tk_lb_rebuild_board(MYSQL *db, redisContext *redis, const char *board_id, tk_lb_rebuild_stats_t *stats, char *err, size_t errlen);

#define TK_LB_REBUILD_NO_REGISTRY 1u /* tk_lb_rebuild_board_ex: no SADD to tk:boards (the caller does) */

/**
 * tk_lb_rebuild_board with @flags. TK_LB_REBUILD_NO_REGISTRY, for a Redis
 * Cluster where tk:boards is in another slot than the board's keys, maybe on
 * another master than @redis's: the caller adds the id to tk:boards, on that
 * set's master, before the call (before the swap, as the function would).
 * Flags 0: tk_lb_rebuild_board.
 */
int tk_lb_rebuild_board_ex(MYSQL *db, redisContext *redis, const char *board_id, unsigned flags, tk_lb_rebuild_stats_t *stats, char *err,
                           size_t errlen);

#endif
