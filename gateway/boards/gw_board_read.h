/*
 * gw_board_read: the public reads of a leaderboard (docs/API.md,
 * "Leaderboards: reads"; docs/DESIGN.md, "Leaderboards: reads").
 *
 * Every read is answered from one call of lua/lb_read.lua (the user and
 * around reads of one loop turn for one board share theirs:
 * gw_board_reader.h), which resolves the season
 * (`current`, with the schedule's virtual rollover), and answers from the
 * zset of that season: ZRANGE ... WITHSCORES for a page (top, around), the
 * users hash and ZRANK for named users (user, ranks). The gateway decodes
 * members and scores with common/tk_lb.h and writes the JSON. A season
 * older than Redis keeps (current - 3) is read from MariaDB's board_scores
 * on a database thread (gw_board_db.c), never on the loop thread, in the
 * same order (c1 DESC, c2 DESC, t_ms, seq, user_id), so its ranks are the
 * ones Redis gave while it held the season.
 *
 * Ownership: a gw_board_read_t is made by a route (gw_board_read_new),
 * holds one reference to its request, and is handed to gw_board_read_start,
 * which owns it from then on and frees it once the request is answered.
 */
#ifndef GW_BOARD_READ_H
#define GW_BOARD_READ_H

#include "gw_dbpool.h"
#include "gw_http.h"
#include "gw_redis.h"
#include "tk_lb.h"
#include "tk_valid.h"

#include <stddef.h>
#include <stdint.h>

#define GW_BOARD_LIMIT_MAX 1000          /* top: limit 1..this */
#define GW_BOARD_LIMIT_DEFAULT 100
#define GW_BOARD_OFFSET_MAX 10000000     /* top: offset 0..this */
#define GW_BOARD_DB_OFFSET_MAX 100000    /* top of an old season (MariaDB): offset 0..this, else 400 */
#define GW_BOARD_RADIUS_MAX 100          /* around: radius 1..this */
#define GW_BOARD_RADIUS_DEFAULT 5
#define GW_BOARD_USERS_MAX 1000          /* ranks: user ids 1..this */
#define GW_BOARD_SEASON_DIGITS 10        /* season=N: at most this many digits, else 400 */
#define GW_BOARD_SEASON_CURRENT (-1)
#define GW_BOARD_ERR_MAX 160

typedef enum {
    GW_BOARD_TOP = 0, /* GET /v1/boards/{B}/top */
    GW_BOARD_USER,    /* GET /v1/boards/{B}/users/{U} */
    GW_BOARD_AROUND,  /* GET /v1/boards/{B}/users/{U}/around */
    GW_BOARD_RANKS,   /* POST /v1/boards/{B}/ranks */
} gw_board_shape_t;

/* One entry of an answer. */
typedef struct {
    int64_t rank; /* 1-based, global on the season */
    char user[TK_ID_MAX + 1];
    size_t ulen;
    tk_lb_entry_t e;
} gw_board_entry_t;

/* A read: what was asked (set by the route), then what was found. */
typedef struct {
    gw_req_t *r; /* one reference */
    gw_board_shape_t shape;
    int64_t season;        /* asked: a number, or GW_BOARD_SEASON_CURRENT */
    int64_t offset, limit; /* top */
    int64_t radius;        /* around */
    char (*users)[TK_ID_MAX + 1]; /* ranks: the ids asked (malloc'ed), in the body's order */
    size_t nusers;
    int held;          /* counted in r->th->board_reads (BOARD_READS_MAX); given back by gw_board_read_free */
    int db_held;       /* counted in r->th->board_db_reads (BOARD_DB_READS_MAX); likewise */
    uint64_t token;    /* gw_rebuild_token when its call was sent (a "no board" is 404 only if no rebuild may restore it) */
    /* Found: */
    int comps;         /* the board's components (1 or 2) */
    int64_t season_no; /* the season's number, as answered */
    gw_board_entry_t *entries; /* malloc'ed, by rank */
    size_t n, cap;
} gw_board_read_t;

/* ------------------------------------------------------------ the pure part (gw_board_format.c) */

/**
 * Parses the query @q (@len bytes; NULL/0 for none) of a GET of @rd->shape
 * into @rd: season (every shape), limit and offset (top), radius (around);
 * defaults for what is absent, unknown names ignored. 0, or -1 with a
 * message for a 400 in @err (GW_BOARD_ERR_MAX bytes).
 */
int gw_board_query(const char *q, size_t len, gw_board_read_t *rd, char *err);

/**
 * Parses the body of POST …/ranks ({"user_ids":[…]}, 1..GW_BOARD_USERS_MAX
 * valid user ids; other fields ignored) into rd->users / rd->nusers
 * (malloc'ed; freed with @rd). 0, or -1 with a message for a 400 in @err.
 */
int gw_board_ranks_body(const char *body, size_t len, gw_board_read_t *rd, char *err);

/**
 * Appends the entry of rank @rank from a ZRANGE WITHSCORES pair (@member,
 * @score as Redis printed it) of a board of rd->comps components. 0, or -1
 * when either is malformed or memory ran out.
 */
int gw_board_add_member(gw_board_read_t *rd, int64_t rank, const char *member, size_t mlen, const char *score, size_t slen);

/** Appends the entry of user @user (@ulen bytes) with users-hash value @value (tk_lb_entry_format) and @rank. 0 or -1. */
int gw_board_add_value(gw_board_read_t *rd, int64_t rank, const char *user, size_t ulen, const char *value, size_t vlen);

/** Appends an entry already decoded (the MariaDB path). 0, or -1 when memory ran out or the user id is not valid. */
int gw_board_add_entry(gw_board_read_t *rd, int64_t rank, const char *user, size_t ulen, const tk_lb_entry_t *e);

/**
 * The answer's JSON of @rd: for GW_BOARD_USER its one entry with "season"
 * ({"season","rank","user_id","score","updated_at"}), else
 * {"season":N,"entries":[…]}. Malloc'ed (the caller frees it), its length
 * in *@len; NULL when memory ran out (or a USER read found no entry).
 */
char *gw_board_json(const gw_board_read_t *rd, size_t *len);

/* ------------------------------------------------------------ the read (gw_board_read.c, gw_board_db.c) */

/** A read of @shape for @r (takes a reference), everything else at its default. NULL when out of memory (@r untouched). */
gw_board_read_t *gw_board_read_new(gw_req_t *r, gw_board_shape_t shape);

/** Frees @rd with what it holds (its entries, its user ids, its reference to the request). */
void gw_board_read_free(void *rd);

/**
 * Runs the read @rd (takes ownership) for the board r->event_id (and user
 * r->user_id for USER and AROUND): one call of lua/lb_read.lua, then the
 * answer, or MariaDB for an old season. Answers the request exactly once.
 * USER and AROUND go through the thread's reader (gw_board_reader.h), which
 * sends the loop turn's reads of one board in one call.
 * Bounded: with BOARD_READS_MAX reads of this loop thread in flight already
 * (Redis stalled or slow), 503 with Retry-After at once, counted as
 * tk_shed_total{reason="board_reads"}; nothing is sent to Redis.
 */
void gw_board_read_start(gw_board_read_t *rd);

/**
 * The whole of a GET read route (top, user, around): a read of @shape for
 * @r with the request's query (season, limit, offset, radius:
 * gw_board_query), started with gw_board_read_start. 400 bad_request for a
 * bad query, 503 when out of memory. Answers @r exactly once.
 */
void gw_board_read_get(gw_req_t *r, gw_board_shape_t shape);

/**
 * Answers @rd (takes ownership) from @reply, one answer of lua/lb_read.lua
 * to its shape ({1,…} … {6}; for a batched read, its element of the "many"
 * answer), as the reply of its own call: NULL (Redis lost) or an error reply
 * 503, an old season read from MariaDB (gw_board_db_read), else the answer.
 * @reply is only read, during this call.
 */
void gw_board_read_answer(gw_board_read_t *rd, const redisReply *reply);

/**
 * Reads season rd->season_no of an old season from MariaDB on a database
 * thread (the client lane) and answers (gw_board_db.c). Takes ownership of
 * @rd. MariaDB away, the lane full, or BOARD_DB_READS_MAX old-season reads of
 * this loop thread on MariaDB already (tk_shed_total{reason="board_db_reads"}):
 * 503 with Retry-After. A top offset above GW_BOARD_DB_OFFSET_MAX: 400.
 */
void gw_board_db_read(gw_board_read_t *rd);

#endif
