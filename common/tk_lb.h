/*
 * tk_lb: how a leaderboard entry is written down, in Redis and in CSV.
 *
 * Why the rank is exact. A board ranks by [c1, c2] highest first, then by
 * the time the user reached the score, earliest first. Redis orders a sorted
 * set by score (a double), then by member, byte for byte. Packing c1, c2 and
 * a time into one double would leave 53 bits for all three, so rounding
 * could swap two users. Instead:
 *   - the zset score is -c1: every integer of magnitude up to 2^53 - 1 is a
 *     double exactly, and ZRANGE ascending puts the highest c1 first;
 *   - the member carries the rest, fixed-width, so that byte order is rank
 *     order: [c2 key, 17 bytes, boards of two components only] then the
 *     time the user reached the score (13 digits of ms) then a per-board
 *     sequence (10 digits: arrival order inside one ms) then the user id.
 *     The c2 key orders c2 highest first: "0" + the 16 digits of
 *     (2^53 - 1 - c2) when c2 >= 0, "1" + the 16 digits of -c2 when c2 < 0
 *     (every non-negative c2 sorts before every negative one, and within
 *     each half a higher c2 gives a smaller number).
 * So two users compare by c1, then c2, then time, then arrival, then user
 * id, all in integers and bytes: nothing is rounded. The same encoding is
 * written by the Lua scripts (lua/lb_*.lua) and by tk-import and the
 * rebuild through this file; tests/unit/test_tk_lb.c holds the edges.
 *
 * Supported values: each component an integer in [-(2^53 - 1), 2^53 - 1]
 * (JSON's exact integers: what a JavaScript client can hold); times in
 * [0, 9999999999999] ms; sequences in [0, 9999999999].
 */
#ifndef TK_LB_H
#define TK_LB_H

#include <stddef.h>
#include <stdint.h>

#define TK_LB_SCORE_MAX INT64_C(9007199254740991) /* 2^53 - 1; a component's range is [-it, it] */
#define TK_LB_TIME_MAX INT64_C(9999999999999)     /* 13 digits of ms */
#define TK_LB_SEQ_MAX INT64_C(9999999999)         /* 10 digits */
#define TK_LB_C2KEY_LEN 17
#define TK_LB_MEMBER_MAX (TK_LB_C2KEY_LEN + 13 + 10 + 64 + 1) /* with its NUL */
#define TK_LB_ENTRY_MAX 80                                    /* tk_lb_entry_format(), with its NUL */
#define TK_LB_PACK_MAX 64 /* score lines of one packed stream entry (k = m, lua/lb_write.lua) at most */
#define TK_LB_KEEP_CLOSED 3 /* closed seasons kept in Redis besides the current one; older ones are read from MariaDB */

typedef struct {
    int64_t c1, c2; /* c2 is 0 on a board of one component */
    int64_t t_ms;   /* when the user reached this score (ms since epoch) */
    int64_t seq;    /* the board's sequence at that write (an import draws real ones too; 0 only for a season only MariaDB keeps) */
} tk_lb_entry_t;

/*
 * The one statement shape every score row reaches MariaDB through when it
 * may race a live write: the worker's drain (worker/wk_lb_writer.c, whose
 * top comment says why a row never moves back) and tk-import
 * (tools/tk_import_db.c). A stored row is replaced only by a higher seq
 * (or, both seq 0, a later time); seq is assigned last. Tuples are
 * TK_LB_UPSERT_TUPLE, joined by ','.
 */
#define TK_LB_NEWER "(VALUES(seq) > seq OR (VALUES(seq) = 0 AND seq = 0 AND VALUES(t_ms) > t_ms))"
#define TK_LB_UPSERT_HEAD "INSERT INTO board_scores (board_id, season, user_id, c1, c2, t_ms, seq) VALUES "
#define TK_LB_UPSERT_TUPLE "(?, ?, ?, ?, ?, ?, ?)"
#define TK_LB_UPSERT_TAIL                                                                                                              \
    " ON DUPLICATE KEY UPDATE c1 = IF(" TK_LB_NEWER ", VALUES(c1), c1), c2 = IF(" TK_LB_NEWER ", VALUES(c2), c2), "                  \
    "t_ms = IF(" TK_LB_NEWER ", VALUES(t_ms), t_ms), seq = IF(" TK_LB_NEWER ", VALUES(seq), seq)"

/*
 * A season's rank order in SQL, the zset's (tk_lb_member's bytes: c1, then
 * c2, highest first, then t_ms, seq and the user id's bytes, ascii_bin),
 * served by board_scores' board_rank index: every read of ranks from
 * MariaDB orders by it (gateway/boards/gw_board_db.c, the presale's
 * snapshot in gateway/claims/gw_prio.c, tk-import's export).
 */
#define TK_LB_ORDER_SQL "ORDER BY c1 DESC, c2 DESC, t_ms, seq, user_id"

/** 1 when @v is a component value the boards support. */
int tk_lb_score_ok(int64_t v);

/**
 * Writes the zset member of user @user (@ulen bytes, a valid user id) with
 * entry @e on a board of @comps (1 or 2) components into @out
 * (TK_LB_MEMBER_MAX bytes, NUL-terminated). Returns its length, or -1 when
 * a value is out of range.
 */
int tk_lb_member(const tk_lb_entry_t *e, int comps, const char *user, size_t ulen, char *out);

/** Where the user id starts in a member of a board of @comps components. */
size_t tk_lb_member_user_at(int comps);

/** Writes @e as the users hash value "<c1> <c2> <t_ms> <seq>" into @out (TK_LB_ENTRY_MAX). Returns its length. */
int tk_lb_entry_format(const tk_lb_entry_t *e, char *out);

/** Parses a users hash value (@len bytes) into @e. 0, or -1 when malformed or out of range. */
int tk_lb_entry_parse(const char *s, size_t len, tk_lb_entry_t *e);

/*
 * Reading a season back (the read routes, gateway/boards/): ZRANGE ...
 * WITHSCORES gives a member and its score; the two together are the entry.
 */

/**
 * Decodes member @m (@len bytes) of a board of @comps components: c2, t_ms
 * and seq into @e (c1 is left alone: it is the score's), and where the user
 * id starts into *@user_at (its length is @len - *@user_at). 0, or -1 when
 * @m is not a member tk_lb_member() could have written (wrong width, a
 * non-digit, a value out of range, no valid user id).
 */
int tk_lb_member_parse(const char *m, size_t len, int comps, tk_lb_entry_t *e, size_t *user_at);

/**
 * The c1 of a zset score as Redis prints it (@len bytes: "-12", "0",
 * "-9007199254740991"; also an exponent form, which Redis may print for
 * large doubles): c1 = -score into *@c1. 0, or -1 when it is not an integer
 * in the component range.
 */
int tk_lb_score_c1(const char *s, size_t len, int64_t *c1);

#endif
