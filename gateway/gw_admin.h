/*
 * gw_admin: what the five admin routes (gw_route_admin_*.c) share: parsing
 * and validating their JSON bodies (jansson, on the loop thread, before
 * anything is touched), the transaction helper for the database threads
 * (statements themselves: common/tk_sql.h), the Redis scripts
 * lua/admin_*.lua, and loading an event definition into Redis.
 *
 * The design comment ("how each admin change stays consistent across both
 * stores") is at the top of gw_admin.c.
 *
 * Conventions: parsers return 0, or -1 with a message for the client in
 * @err. Database-thread helpers that answer the job themselves say so; a
 * helper returning -1 has always set the job's answer.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gw_dbpool.h"
#include "gw_event.h"
#include "tk_claim.h"
#include "tk_sql.h"
#include "tk_valid.h"

#include <hiredis.h>
#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ADMIN_ERR_MAX 160 /* bytes of a parser's message, NUL included */

/* A parser's result for a stock or delta above TK_STOCK_MAX: 400 stock_limit, not bad_request. */
#define GW_ADMIN_PARSE_LIMIT (-2)

/* The latest instant MariaDB's DATETIME holds: 9999-12-31T23:59:59.999Z. */
#define GW_ADMIN_TIME_MAX_MS INT64_C(253402300799999)

/* ------------------------------------------------------------ request bodies */

/** The body of POST /v1/admin/events, validated. */
typedef struct {
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    char name[TK_NAME_MAX + 1]; /* the id when the body has none */
    size_t nlen;
    int64_t stock;        /* 0..TK_STOCK_MAX */
    int64_t max_per_user; /* 1..TK_QUANTITY_MAX, default 1 */
    int64_t opens_ms;     /* 0: none (open at once) */
    int64_t closes_ms;    /* 0: none; else > opens_ms and > now */
} gw_admin_create_t;

/**
 * Parses and validates the body of POST /v1/admin/events (@len bytes) at
 * @now_ms into @out. Unknown fields are ignored; null counts as absent for
 * the optional fields. A stock above TK_STOCK_MAX is GW_ADMIN_PARSE_LIMIT.
 */
int gw_admin_parse_create(const char *body, size_t len, int64_t now_ms, gw_admin_create_t *out, char *err, size_t errlen);

/** Parses {"delta":N}: N a non-zero integer, |N| <= TK_STOCK_MAX (above: GW_ADMIN_PARSE_LIMIT). */
int gw_admin_parse_stock(const char *body, size_t len, int64_t *delta, char *err, size_t errlen);

/** Parses {"state":"open"|"paused"|"closed"} into @state (NUL-terminated). */
int gw_admin_parse_state(const char *body, size_t len, char state[8], char *err, size_t errlen);

/* ------------------------------------------------------------ loop thread */

/**
 * Submits a job for @r that runs @run with @in (owned by the job from now
 * on, freed with @in_free, also on failure). Answers 503 itself when no job
 * can be made. Loop thread.
 */
void gw_admin_submit(gw_req_t *r, void (*run)(gw_dbjob_t *, gw_dbconn_t *), void *in, void (*in_free)(void *));

/** The request body of @r (empty when there is none). */
void gw_admin_body(gw_req_t *r, const char **body, size_t *len);

/* ------------------------------------------------------------ database threads */

/* A transaction body's result besides 0 (commit) and a MariaDB error number:
 * it has answered the job itself (404, 409, …) and wants a rollback. */
#define GW_ADMIN_TXN_ANSWERED 1u

/**
 * Runs @body(db, @arg) as one transaction on @conn's MariaDB connection and
 * commits when it returns 0. A deadlock or lock wait timeout rolls back and
 * runs it again (a few times); a connection-class error resets the
 * connection and answers 503; any other error answers 500. Returns 0 once
 * committed, or -1 with the job answered (including GW_ADMIN_TXN_ANSWERED).
 */
int gw_admin_txn(gw_dbjob_t *job, gw_dbconn_t *conn, unsigned (*body)(MYSQL *db, void *arg, gw_dbjob_t *job), void *arg);

/* ------------------------------------------------------------ Redis */

/**
 * EVAL of lua/admin_@name.lua with @nkeys keys followed by the arguments, all
 * in @argv/@lens (@argc items). Returns the reply (the caller frees it), or
 * NULL with the job answered 503 (and the Redis connection reset when it
 * failed). An error reply is returned as is.
 */
redisReply *gw_admin_eval(gw_dbjob_t *job, gw_dbconn_t *conn, const char *name, int nkeys, int argc, const char **argv,
                          const size_t *lens);

/**
 * Reads the event hash of @event_id into @ev. Returns 0, 1 when the hash
 * does not exist, or -1 with the job answered (503 / 500).
 */
int gw_admin_read_event(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, gw_event_t *ev);

/**
 * Answers the job with @status and the event JSON read back from Redis;
 * 404 when the hash is gone.
 */
void gw_admin_answer_event(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, int status);

/** An event definition as MariaDB holds it, to be loaded into Redis. */
typedef struct {
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    char name[TK_NAME_MAX + 1];
    size_t nlen;
    char state[8];
    int64_t total, remaining, max_per_user, opens_ms, closes_ms, seq, created_ms;
    int64_t stock_ver, state_ver; /* the admin versions (sql/005; 0 for a new event) */
} gw_admin_def_t;

/**
 * Loads @def into Redis with lua/admin_create.lua (event hash, tk:events,
 * the stream and its consumer group). Returns 0; 1 when the event hash
 * already exists (nothing changed); -1 with the job answered.
 */
int gw_admin_redis_load(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_admin_def_t *def);

#endif
