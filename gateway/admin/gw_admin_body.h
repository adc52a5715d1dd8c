/*
 * gw_admin_body: parsing and validating the JSON bodies of the admin routes
 * (POST /v1/admin/events, …/stock, …/state) on the loop thread, before
 * anything is touched; the claim body's counterpart is gw_claim_body.
 *
 * Conventions: a parser returns 0, or -1 with a message for the client in
 * @err (GW_ADMIN_BODY_LIMIT for a stock or delta past the cap). Unknown
 * fields are ignored; null counts as absent for the optional fields. The
 * caller owns every buffer; a parser keeps nothing.
 */
#ifndef GW_ADMIN_BODY_H
#define GW_ADMIN_BODY_H

#include "tk_valid.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ADMIN_BODY_ERR_MAX 160 /* bytes of a parser's message, NUL included */

/* A parser's result for a stock or delta above TK_STOCK_MAX: 400 stock_limit, not bad_request. */
#define GW_ADMIN_BODY_LIMIT (-2)

/* The waiting room's settings (docs/API.md, "Waiting room"). */
#define GW_WR_RATE_MAX 100000    /* release_per_s: 1 .. this */
#define GW_WR_TTL_MIN 10         /* access_ttl_s: this .. GW_WR_TTL_MAX */
#define GW_WR_TTL_MAX 86400
#define GW_WR_TTL_DEFAULT 300    /* access_ttl_s when the body has none */

/* The priority presale's top: 1 .. this (docs/API.md, "Priority presale"). */
#define GW_PR_TOP_MAX 100000

/* The latest instant MariaDB's DATETIME holds: 9999-12-31T23:59:59.999Z. */
#define GW_ADMIN_BODY_TIME_MAX_MS INT64_C(253402300799999)

/**
 * Loads @body (@len bytes) as one JSON object, duplicate keys refused: the
 * first step of every admin body's parser (also gateway/boards/). The
 * caller owns the object (json_decref); NULL with @err set otherwise.
 */
json_t *gw_admin_body_load(const char *body, size_t len, char *err, size_t errlen);

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
    /* "waiting_room": absent, null or "enabled":false -> wr_on 0 and the three below 0 */
    int wr_on;
    int64_t wr_rate;      /* 1..GW_WR_RATE_MAX, required when on */
    int64_t wr_ttl_s;     /* GW_WR_TTL_MIN..GW_WR_TTL_MAX, default GW_WR_TTL_DEFAULT */
    int64_t wr_opens_ms;  /* 0: joining at once; else before closes_ms */
    /* "priority": absent or null -> pr_top 0, pr_opens_ms 0, pr_board "" (no presale) */
    char pr_board[TK_ID_MAX + 1]; /* board_id (a valid id; that the board exists is checked in the create's transaction) */
    size_t pr_blen;
    int64_t pr_top;      /* 1..GW_PR_TOP_MAX */
    int64_t pr_opens_ms; /* > 0 and before opens_ms (which is then required) */
} gw_admin_body_create_t;

/**
 * Parses and validates the body of POST /v1/admin/events (@len bytes) at
 * @now_ms into @out. Unknown fields are ignored; null counts as absent for
 * the optional fields. A stock above TK_STOCK_MAX is GW_ADMIN_BODY_LIMIT.
 */
int gw_admin_body_parse_create(const char *body, size_t len, int64_t now_ms, gw_admin_body_create_t *out, char *err, size_t errlen);

/** Parses {"delta":N}: N a non-zero integer, |N| <= TK_STOCK_MAX (above: GW_ADMIN_BODY_LIMIT). */
int gw_admin_body_parse_stock(const char *body, size_t len, int64_t *delta, char *err, size_t errlen);

/** The body of POST /v1/admin/events/{E}/queue, validated: at least one of the two. */
typedef struct {
    int has_rate, has_paused;
    int64_t rate; /* 1..GW_WR_RATE_MAX */
    int paused;   /* 0 or 1 */
} gw_admin_body_queue_t;

/** Parses {"release_per_s":N} and/or {"paused":true|false} (null counts as absent; one of them is required). */
int gw_admin_body_parse_queue(const char *body, size_t len, gw_admin_body_queue_t *out, char *err, size_t errlen);

/** Parses {"state":"open"|"paused"|"closed"} into @state (NUL-terminated). */
int gw_admin_body_parse_state(const char *body, size_t len, char state[8], char *err, size_t errlen);

#endif
