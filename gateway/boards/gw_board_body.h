/*
 * gw_board_body: the JSON bodies of the board write routes (POST
 * /v1/admin/boards and …/scores), parsed and validated on the loop thread
 * before anything is touched (docs/API.md, "Leaderboards").
 *
 * Conventions as gw_admin_body.h: a parser returns 0, or -1 with a message
 * for the client in @err; unknown fields are ignored; null counts as absent
 * for the optional fields. The caller owns every buffer.
 */
#ifndef GW_BOARD_BODY_H
#define GW_BOARD_BODY_H

#include "tk_lb.h"
#include "tk_valid.h"

#include <stddef.h>
#include <stdint.h>

#define GW_BOARD_BODY_ERR_MAX 160
#define GW_BOARD_SEASON_LEN_MAX INT64_C(316224000) /* season_length_s: 10 years of 366 days, at most */
#define GW_BOARD_SCORES_MAX 1000                   /* entries of one POST …/scores */

/** The body of POST /v1/admin/boards, validated. */
typedef struct {
    char board_id[TK_ID_MAX + 1];
    size_t blen;
    char name[TK_NAME_MAX + 1]; /* the id when the body has none */
    size_t nlen;
    int comps;             /* 1 or 2 */
    char op[8];            /* "best", "set" or "incr" */
    int64_t season_len_s;  /* 0: seasons roll over by hand only; else 1..GW_BOARD_SEASON_LEN_MAX */
} gw_board_def_t;

/**
 * Parses {"board_id","name","components","operator","season_length_s"}
 * (@len bytes) into @out. board_id (the event_id alphabet), components (1
 * or 2) and operator are required; name defaults to the id;
 * season_length_s absent, null or 0 means by hand only.
 */
int gw_board_body_parse_create(const char *body, size_t len, gw_board_def_t *out, char *err, size_t errlen);

/** One valid entry of a scores body. */
typedef struct {
    char user[TK_ID_MAX + 1];
    uint8_t ulen;
    uint8_t comps; /* components the entry gave: 1 or 2 (the board decides if that is right) */
    int64_t c1, c2; /* each in [-TK_LB_SCORE_MAX, TK_LB_SCORE_MAX]; c2 0 when comps is 1 */
} gw_board_score_t;

/**
 * Parses {"scores":[{"user_id","score":[c1] or [c1,c2]}, …]} (@len bytes).
 * The request is refused (-1) when the body is not a JSON object or
 * "scores" is not an array of 1..GW_BOARD_SCORES_MAX items. An item that is
 * not an object with a valid user_id and a score of one or two integers in
 * range is skipped and counted in *@invalid. The valid entries, in order,
 * go into @out (room for GW_BOARD_SCORES_MAX), their count into *@n; at
 * least one must be valid, else -1 (with *@invalid set).
 */
int gw_board_body_parse_scores(const char *body, size_t len, gw_board_score_t *out, int *n, int *invalid, char *err, size_t errlen);

#endif
