/*
 * gw_admin: what the five admin routes (gw_route_admin_*.c) share besides
 * their bodies (gw_admin_body.h): submitting their jobs to the database
 * threads, running the Redis scripts lua/admin_*.lua, reading an event back
 * from Redis, and an event definition read from MariaDB and loaded into
 * Redis. Their transactions
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

/** Whom a request is about, copied from its path: the first member of the job inputs that need it. */
typedef struct {
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    char user_id[TK_ID_MAX + 1]; /* "" on the routes without one */
    size_t ulen;
} gw_admin_ids_t;

/**
 * A zeroed job input of @size bytes for @r (the caller's, to free or to hand
 * to gw_admin_submit); with @ids, its first member is a gw_admin_ids_t, filled
 * from @r. NULL with @r answered 503.
 */
void *gw_admin_in_new(gw_req_t *r, size_t size, int ids);

/** The request body of @r (empty when there is none). */
void gw_admin_req_body(gw_req_t *r, const char **body, size_t *len);

/**
 * For a gw_admin_body parser's result @rc with its message @err: 0 when the
 * body parsed, else -1 with @r answered 400 (stock_limit for
 * GW_ADMIN_BODY_LIMIT, bad_request for the rest).
 */
int gw_admin_parsed(gw_req_t *r, int rc, const char *err);

/**
 * Submits a job for @r that runs @run with @in (owned by the job from now
 * on, freed with @in_free, also on failure). Answers 503 itself when no job
 * can be made. Loop thread.
 */
void gw_admin_submit(gw_req_t *r, void (*run)(gw_dbjob_t *, gw_dbconn_t *), void *in, void (*in_free)(void *));

/* ------------------------------------------------------------ database threads */

/**
 * EVAL of lua/admin_@name.lua with @nkeys keys followed by the arguments, all
 * in @argv/@lens (@argc items). Returns the reply (the caller frees it), or
 * NULL with the job answered 503 (and the Redis connection reset when it
 * failed). An error reply is returned as is.
 */
redisReply *gw_admin_eval(gw_dbjob_t *job, gw_dbconn_t *conn, const char *name, int nkeys, int argc, const char **argv,
                          const size_t *lens);

/** gw_admin_eval for any script of lua/: @script is its file name without ".lua" ("lb_create"). */
redisReply *gw_admin_eval_lua(gw_dbjob_t *job, gw_dbconn_t *conn, const char *script, int nkeys, int argc, const char **argv,
                              const size_t *lens);

/**
 * SADD @member (@len bytes) to the registry set @set (tk:events, tk:wq:rooms,
 * tk:boards): a command of its own, apart from the scripts, because on a
 * Redis Cluster the set is in another slot than the event's or board's keys
 * (docs/DESIGN.md, "Registries apart from the scripts", says in which order
 * each caller runs it). Returns 0, or -1 with the job answered 503.
 */
int gw_admin_sadd(gw_dbjob_t *job, gw_dbconn_t *conn, const char *set, const char *member, size_t len);

/**
 * Sorts the reply of a versioned Redis step (lua/admin_stock.lua,
 * admin_state.lua, admin_queue_set.lua) for event @event_id: 0 for "OK" or
 * "superseded" (a newer committed change is there already, which holds
 * this one); else -1 with the job answered: 503 when Redis refused, 404
 * "not_found", 500 any other answer. @what names the change in the
 * messages ("state", "stock", "waiting room"). Does not free @reply.
 */
int gw_admin_step_reply(gw_dbjob_t *job, const redisReply *reply, const char *event_id, const char *what);

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

/* ------------------------------------------------------------ event definitions */

/** An event definition as MariaDB holds it, to be loaded into Redis. */
typedef struct {
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    char name[TK_NAME_MAX + 1];
    size_t nlen;
    char state[8];
    int64_t total, remaining, max_per_user, opens_ms, closes_ms, seq, created_ms;
    int64_t stock_ver, state_ver; /* the admin versions (sql/005; 0 for a new event) */
    /* The waiting room (sql/006): off, or its settings, pause and version */
    int wr_on, wr_paused;
    int64_t wr_rate, wr_ttl_s, wr_opens_ms, wr_ver;
    /* The priority presale (sql/008): pr_opens_ms 0 = none */
    char pr_board[TK_ID_MAX + 1];
    int64_t pr_top, pr_opens_ms;
    int64_t pr_snapshot_ms; /* events.pr_snapshot_at; 0 while not taken */
} gw_admin_def_t;

/*
 * An event definition read from MariaDB: a query selects GW_ADMIN_DEF_COLUMNS
 * first (FROM events e JOIN event_stock s), binds them with
 * gw_admin_def_bind, and after the fetch turns them into a gw_admin_def_t
 * with gw_admin_def_fill.
 */
#define GW_ADMIN_DEF_COLUMNS                                                                                                        \
    "e.name, e.max_per_user, e.opens_at, e.closes_at, e.state, s.total, s.sold, "                                                  \
    "e.wr_on, e.wr_release_per_s, e.wr_access_ttl_s, e.wr_opens_at, e.wr_paused, e.wr_ver, "                                   \
    "e.pr_board, e.pr_top, e.pr_opens_at, e.pr_snapshot_at"
#define GW_ADMIN_DEF_NCOLUMNS 17

/** The fetch buffers of GW_ADMIN_DEF_COLUMNS (the name goes straight into the definition). */
typedef struct {
    unsigned long nlen, slen;
    char state[16];
    long long maxpu, total, sold;
    MYSQL_TIME opens, closes;
    my_bool opens_null, closes_null;
    long long wr_on, wr_rate, wr_ttl, wr_paused, wr_ver;
    MYSQL_TIME wr_opens;
    my_bool wr_opens_null;
    unsigned long pr_blen;
    my_bool pr_board_null, pr_opens_null, pr_snap_null;
    long long pr_top;
    MYSQL_TIME pr_opens, pr_snap;
} gw_admin_defrow_t;

/** Binds @out[0 .. GW_ADMIN_DEF_NCOLUMNS - 1] to @row and @def's name; both must outlive the statement. */
void gw_admin_def_bind(gw_admin_defrow_t *row, gw_admin_def_t *def, MYSQL_BIND *out);

/** After a fetched row: @def from @row for event @event_id (@elen bytes), remaining = total - sold. */
void gw_admin_def_fill(const gw_admin_defrow_t *row, gw_admin_def_t *def, const char *event_id, size_t elen);

/**
 * Loads @def into Redis with lua/admin_create.lua (event hash, tk:events,
 * the stream and its consumer group; with a waiting room, its settings, the
 * room's pause and tk:wq:rooms; with a presale, its pr_board, pr_top and
 * pr_opens: the snapshot's copy is gw_prio's). Returns 0; 1 when the event hash already
 * exists (nothing changed); -1 with the job answered.
 */
int gw_admin_redis_load(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_admin_def_t *def);

/* ------------------------------------------------------------ waiting room */

/**
 * Answers the job with @status and the room's view of @event_id
 * (gw_route_admin_queue_view.c): 404 when Redis has no such event, 409
 * no_waiting_room when its room is off. Database thread.
 */
void gw_admin_queue_answer(gw_dbjob_t *job, gw_dbconn_t *conn, const char *event_id, size_t elen, int status);

#endif
