/*
 * it_redis: a synchronous hiredis connection to the test Redis, for checks
 * (HGET, XLEN, HLEN) and for wiping state between tests (FLUSHALL).
 */
#ifndef IT_REDIS_H
#define IT_REDIS_H

#include <hiredis.h>

/**
 * Connects to 127.0.0.1:$REDIS_PORT with a 2 s connect and command timeout
 * as the tests' own Redis user tk-test (every command and key; defined by
 * scripts/services.sh for the test services only, tests/README.md); NULL
 * (message printed) on failure.
 */
redisContext *it_redis_connect(void);

/**
 * The same as Redis ACL user tk-@role ("gateway", "worker", "admin",
 * "test"; password from $TK_IT_DIR/secrets/redis_@role), or with no AUTH
 * at all when @role is NULL (the default user, which is off).
 */
redisContext *it_redis_connect_as(const char *role);

/**
 * Connects to 127.0.0.1:@port (a server a test started itself) with a 2 s
 * connect and command timeout and AUTH tk-test @password; NULL when it
 * does not answer (yet) or refuses, without a message (callers poll).
 */
redisContext *it_redis_connect_port(int port, const char *password);

/** FLUSHALL. Returns 0 or -1. */
int it_redis_flushall(redisContext *rc);

/**
 * An integer from HGET tk:{@event_id}:ev @field. Returns @dflt when the
 * field is absent or not a number, and on error.
 */
long long it_redis_ev_int(redisContext *rc, const char *event_id, const char *field, long long dflt);

/** XLEN of the event's stream, -1 on error. */
long long it_redis_xlen(redisContext *rc, const char *event_id);

/** HLEN of the event's claims hash, -1 on error. */
long long it_redis_claims_count(redisContext *rc, const char *event_id);

/** HSET tk:{@event_id}:ev @field @value (test set-up of odd states). Returns 0 or -1. */
int it_redis_ev_set(redisContext *rc, const char *event_id, const char *field, const char *value);

/**
 * Entries of the event's stream delivered to consumer @consumer of group
 * "wk" and not yet acknowledged (its part of XPENDING's summary): > 0 while
 * that worker holds a batch it has not confirmed. 0 when it holds none, -1
 * on error.
 */
long long it_redis_pending_of(redisContext *rc, const char *event_id, const char *consumer);

/** The calls Redis counted of command @cmd (lower case: "evalsha") in INFO commandstats: 0 when never called, -1 when unreadable. */
long long it_redis_cmd_calls(redisContext *rc, const char *cmd);

/*
 * The tests' checked commands (cmocka): a command that gets no reply or an
 * error reply fails the test, with Redis's message printed.
 */

/** Runs the command; the caller frees the reply (freeReplyObject). */
redisReply *it_redis_must(redisContext *rc, const char *fmt, ...);

/** Runs the command and drops its reply. */
void it_redis_do(redisContext *rc, const char *fmt, ...);

/** The command's integer (or a string reply read as one); -1 for any other reply. Fails only on no reply. */
long long it_redis_int(redisContext *rc, const char *fmt, ...);

#endif
