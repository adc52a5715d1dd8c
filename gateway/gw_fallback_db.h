/*
 * gw_fallback_db: what the read-only fallback (gw_fallback.c) and the
 * granting fallback (gw_fallback_grant.c) share: the per-claim answer
 * slot and the MariaDB reads of an event and of a user's claim.
 * Internal to those two files.
 */
#ifndef GW_FALLBACK_DB_H
#define GW_FALLBACK_DB_H

#include "gw_dbpool.h"
#include "gw_http.h"
#include "tk_claim.h"

#include <mysql.h>
#include <stdint.h>

typedef struct {
    gw_req_t *r;
    int qty;
    int status;                   /* the answer, decided on the database thread */
    char body[TK_CLAIM_JSON_MAX]; /* JSON: a claim or an error */
    size_t len;
} fb_item_t;

typedef struct {
    int n;
    int status_only; /* a status lookup: no claim in MariaDB is 503 (or 404 when known absent), not a refusal */
    fb_item_t items[];
} fb_in_t;

typedef struct {
    int found;
    char state[16];
    long long maxpu, total, sold, hwm;
    int64_t opens_ms, closes_ms;
} fb_event_t;

/** Sets @it's answer to the API error body. */
void gw_fb_set_error(fb_item_t *it, int status, const char *code, const char *msg);

/** The event @event (@elen bytes) with its stock row (locked FOR UPDATE with @for_update). 0 or a MariaDB error; ev->found. */
unsigned gw_fb_read_event(MYSQL *db, const char *event, size_t elen, fb_event_t *ev, int for_update);

/** @it's user's claim row, if any, as the API's JSON into it->body (status 200; *found = 1). */
unsigned gw_fb_read_claim(MYSQL *db, fb_item_t *it, int *found);

/**
 * The first step both fallbacks take per claim: 404 when the event does not
 * exist, else the user's claim row (200) if any. Sets *@settled when @it is
 * answered by either; 0 or a MariaDB error.
 */
unsigned gw_fb_known(MYSQL *db, const fb_event_t *ev, fb_item_t *it, int *settled);

/** What the claim script would answer where MariaDB alone can say it exactly; 503 for the rest. */
void gw_fb_decide(fb_item_t *it, const fb_event_t *ev, int64_t now, int status_only);

/** Frees @in and releases its requests. */
void gw_fb_free_in(void *in);

/**
 * Queues @in (takes ownership) for a database thread: @run decides every
 * item, @done_cb answers them on the loop thread. No memory: every item 503.
 */
void gw_fb_submit(gw_thread_t *th, fb_in_t *in, void (*run)(gw_dbjob_t *, gw_dbconn_t *), void (*done_cb)(gw_dbjob_t *));

/** The read-only answers for the job's fb_in_t (a database thread's run step). */
void gw_fallback_readonly_run(gw_dbjob_t *job, gw_dbconn_t *conn);

#endif
