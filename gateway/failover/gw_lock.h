/*
 * gw_lock: the fallback's per-event lock in MariaDB (table event_locks,
 * sql/001_schema.sql): one row per event with holder, token and expiry.
 *
 * Why a lock row when the stock row already serialises writers: the stock
 * row orders transactions, the lock says *who may grant at all*. Only the
 * holder of a live token grants on the fallback path; every fallback claim
 * transaction re-reads the row FOR UPDATE and compares the token before it
 * writes anything (gw_lock_check), so a lock that expired and was taken by
 * another gateway, or released by the merge back to Redis, is detected
 * inside the very transaction that would otherwise grant: it rolls back.
 * The merge releases the lock before it rebuilds Redis, and the release
 * waits for any claim transaction holding the row, so no fallback grant
 * can land after the rebuild read MariaDB.
 *
 * Taking and releasing are short transactions of their own (committed
 * here); the check runs inside the caller's transaction and extends the
 * expiry. Times are MariaDB's clock (NOW(3)), so gateways' clocks do not
 * matter. All functions return 0 or a MariaDB error number.
 *
 * The stale flag (column stale_token, sql/003_redis_stale.sql) is the
 * durable half of the fallback: "MariaDB holds grants Redis does not know;
 * Redis must be rebuilt from MariaDB before it serves this event". The lock
 * says who may grant now and is released by the merge before the rebuild
 * reads MariaDB; the flag outlives both the release and the process that
 * set it. It is set inside the transaction that writes the journal (so no
 * fallback grant can commit without it) and cleared only after a rebuild,
 * and only if it still carries the token read before that rebuild: a flag
 * set again meanwhile (another fallback session) is left for its own merge.
 */
#ifndef GW_LOCK_H
#define GW_LOCK_H

#include <mysql.h>
#include <stddef.h>

#define GW_LOCK_TOKEN_LEN 32 /* hex characters */
#define GW_LOCK_HOLDER_MAX 128

/** A new random token (GW_LOCK_TOKEN_LEN hex characters and a NUL) into @out. 0, or -1 when no randomness. */
int gw_lock_token(char out[GW_LOCK_TOKEN_LEN + 1]);

/**
 * Takes @event's lock for @holder with @token for @ttl_ms, in its own
 * transaction: when the row is free, expired, or already @holder's. Sets
 * *@taken to 1, or to 0 when another holder's lock is live.
 */
unsigned gw_lock_take(MYSQL *db, const char *event, size_t elen, const char *holder, const char *token, long ttl_ms, int *taken);

/**
 * Inside the caller's transaction: locks @event's row and sets *@ok to 1
 * when it still carries @token (extending the expiry by @ttl_ms), else 0.
 * A token still ours but expired is extended: nobody took it meanwhile.
 */
unsigned gw_lock_check(MYSQL *db, const char *event, size_t elen, const char *token, long ttl_ms, int *ok);

/** Releases @event's lock if it still carries @token, in its own transaction. */
unsigned gw_lock_release(MYSQL *db, const char *event, size_t elen, const char *token);

/**
 * Inside the caller's transaction, after gw_lock_check or gw_lock_take:
 * flags @event's Redis state stale with @token (the fallback session's).
 */
unsigned gw_lock_mark_stale(MYSQL *db, const char *event, size_t elen, const char *token);

/**
 * The flagged event with the smallest id above @after (NUL-terminated; ""
 * for the first) into @event (TK_ID_MAX + 1 bytes) and its flag's token into
 * @token; *@found 0 when there is none. Ends its read-only transaction.
 */
unsigned gw_lock_next_stale(MYSQL *db, const char *after, char *event, char token[GW_LOCK_TOKEN_LEN + 1], int *found);

/**
 * @event's stale token into @token ("" when not flagged). Ends its
 * read-only transaction.
 */
unsigned gw_lock_stale_token(MYSQL *db, const char *event, size_t elen, char token[GW_LOCK_TOKEN_LEN + 1]);

/** Clears @event's stale flag if it still carries @token, in its own transaction. */
unsigned gw_lock_clear_stale(MYSQL *db, const char *event, size_t elen, const char *token);

#endif
