/*
 * gw_fallback_db: what the fallbacks (read-only: gw_fallback_readonly.c;
 * granting: gw_fallback_grant.c) know from MariaDB: the batch they answer
 * (one answer slot per claim), the reads of an event and of a user's claim,
 * and the answers MariaDB alone can give exactly. Database threads; no
 * state of its own.
 *
 * Ownership: a gw_fb_in_t and the requests its items reference belong to
 * the fallback job that carries it (gw_fallback.c allocates and frees it);
 * the functions here only fill its items' answers.
 */
#ifndef GW_FALLBACK_DB_H
#define GW_FALLBACK_DB_H

#include "gw_http.h"
#include "tk_claim.h"

#include <mysql.h>
#include <stdint.h>

/** One claim of a fallback batch and its answer, decided on a database thread. */
typedef struct {
    gw_req_t *r;
    int qty;
    int status;                   /* the answer */
    char body[TK_CLAIM_JSON_MAX]; /* JSON: a claim or an error */
    size_t len;
} gw_fb_item_t;

/** A fallback batch: claims of one event (or one status lookup). */
typedef struct {
    int n;
    int status_only; /* a status lookup: no claim in MariaDB is 503 (or 404 when known absent), not a refusal */
    gw_fb_item_t items[];
} gw_fb_in_t;

/** An event and its stock row as MariaDB holds them. */
typedef struct {
    int found;
    char state[16];
    long long maxpu, total, sold, hwm;
    int64_t opens_ms, closes_ms;
    long long wr_on; /* events.wr_on: a waiting room, only admitted claims may be granted (gw_access.h) */
    int64_t pr_opens_ms;    /* events.pr_opens_at: the priority window's start, 0 = no presale */
    int64_t pr_snapshot_ms; /* events.pr_snapshot_at: 0 while the snapshot is not taken */
} gw_fb_event_t;

/** A user's claims row. */
typedef struct {
    tk_claim_t claim;
    int status_known; /* 0: a status the API does not know (claim.status is meaningless) */
    char reason[64];  /* of a rejected row: its reason, "stock_guard" when it has none */
} gw_fb_row_t;

/** Sets @it's answer to the API error body. */
void gw_fallback_db_error(gw_fb_item_t *it, int status, const char *code, const char *msg);

/** The event @event (@elen bytes) with its stock row (locked FOR UPDATE with @for_update). 0 or a MariaDB error; ev->found. */
unsigned gw_fallback_db_event(MYSQL *db, const char *event, size_t elen, gw_fb_event_t *ev, int for_update);

/** The claims row of @user on @event into @row (*found = 1), if any. 0 or a MariaDB error. */
unsigned gw_fallback_db_row(MYSQL *db, const char *event, size_t elen, const char *user, size_t ulen, gw_fb_row_t *row, int *found);

/**
 * The first step both fallbacks take per claim: 404 when the event does not
 * exist, else the user's claim row (200) if any. Sets *@settled when @it is
 * answered by either; 0 or a MariaDB error.
 */
unsigned gw_fallback_db_known(MYSQL *db, const gw_fb_event_t *ev, gw_fb_item_t *it, int *settled);

/**
 * claim.lua's waiting-room gate from MariaDB (events.wr_on): a claim (not a
 * status lookup) on a found event whose room is on, without a valid access
 * token (r->admitted), is answered 403 not_admitted as the script answers
 * it, before its own claim row is looked at. Returns 1 when @it is
 * answered so.
 */
int gw_fallback_db_gate(gw_fb_item_t *it, const gw_fb_event_t *ev, int status_only);

/**
 * claim.lua's priority gate from MariaDB (events.pr_*, event_priority), for
 * a claim (not a status lookup) on a found event, after its own claim row
 * was looked at (as the script answers a held claim whatever the gate).
 * Inside the window (pr_opens <= @now < opens): no snapshot yet -> 503
 * (the script's "priority_pending"); a snapshot without the user -> 403
 * not_open; with the user, *@open = 1: the caller decides the claim as if
 * the event were open (gw_fallback_db_decide with opens_ms 0). Outside the
 * window nothing happens (*@open = 0, not answered). Sets *@settled when
 * @it is answered; 0 or a MariaDB error.
 */
unsigned gw_fallback_db_priority(MYSQL *db, const gw_fb_event_t *ev, gw_fb_item_t *it, int64_t now, int status_only, int *settled,
                                 int *open);

/**
 * What the claim script would answer where MariaDB alone can say it exactly
 * (the refusals of gw_refusal.h); 503 for the rest, and for a status lookup.
 */
void gw_fallback_db_decide(gw_fb_item_t *it, const gw_fb_event_t *ev, int64_t now, int status_only);

#endif
