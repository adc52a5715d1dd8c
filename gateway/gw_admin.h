/*
 * gw_admin: what the five admin routes (gw_route_admin_*.c) share besides
 * their bodies (gw_admin_body.h): submitting their jobs to the database
 * threads, running the Redis scripts lua/admin_*.lua, reading an event back
 * from Redis, and loading an event definition into it. Their transactions
 * run with gw_dbtxn.h, their statements with common/tk_sql.h.
 *
 * The design comment ("how each admin change stays consistent across both
 * stores") is at the top of gw_admin.c.
 *
 * Conventions: database-thread helpers that answer the job themselves say
 * so; a helper returning -1 has always set the job's answer.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gw_dbpool.h"
#include "gw_event.h"
#include "tk_sql.h"
#include "tk_valid.h"

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ loop thread */

/**
 * Submits a job for @r that runs @run with @in (owned by the job from now
 * on, freed with @in_free, also on failure). Answers 503 itself when no job
 * can be made. Loop thread.
 */
void gw_admin_submit(gw_req_t *r, void (*run)(gw_dbjob_t *, gw_dbconn_t *), void *in, void (*in_free)(void *));

/** The request body of @r (empty when there is none). */
void gw_admin_body(gw_req_t *r, const char **body, size_t *len);

/* ------------------------------------------------------------ database threads: Redis */

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
