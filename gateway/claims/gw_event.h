/*
 * gw_event: an event as the API shows it, read from its Redis hash
 * tk:{E}:ev, with the state a client sees derived from the stored state,
 * the clock and the stock (docs/CONTRACTS.md).
 */
#ifndef GW_EVENT_H
#define GW_EVENT_H

#include "tk_valid.h"

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* The hash fields, in the order gw_event_from_hmget expects them (wr..wr_opens: the waiting room's settings;
 * pr_*: the priority presale's, docs/CONTRACTS.md). */
#define GW_EVENT_FIELDS                                                                                                              \
    "name", "state", "total", "remaining", "maxpu", "opens", "closes", "seq", "ver", "wr", "wr_rate", "wr_ttl", "wr_opens", "pr_board", \
        "pr_top", "pr_opens", "pr_snap", "pr_n"
#define GW_EVENT_NFIELDS 18

typedef struct {
    char event_id[TK_ID_MAX + 1];
    char name[TK_NAME_MAX + 1];
    char state[8]; /* stored: open, paused, closed */
    int64_t total, remaining, max_per_user, opens_ms, closes_ms, seq;
    int64_t ver; /* the stored counter "ver" (0 when absent: an event from before it existed, or from MariaDB) */
    int wr_on;   /* the waiting room is on (field wr = "1"); the three below are 0 when absent */
    int64_t wr_rate, wr_ttl_s, wr_opens_ms; /* release_per_s, access_ttl_s, its opens_at (0: at once) */
    /* The priority presale: pr_opens_ms 0 (field absent or "0") = none; then the rest are 0/"" too. */
    char pr_board[TK_ID_MAX + 1];
    int64_t pr_top, pr_opens_ms;
    int64_t pr_snap_ms, pr_n; /* the snapshot's copy in Redis: 0 / 0 until it is there */
} gw_event_t;

/**
 * The event's `version` at @now_ms: the stored counter (moved by every
 * script that changes remaining, state or settings) plus one for each of
 * opens_at, closes_at and the priority window's start already passed, so the clock moves it too, at
 * that very moment, without any writer. Both terms only grow, so the
 * version never goes back (except when the hash itself is lost and
 * rebuilt; a watcher is answered on any difference, not only an increase).
 */
int64_t gw_event_version(const gw_event_t *ev, int64_t now_ms);

/**
 * Fills @ev from the reply to HMGET tk:{E}:ev GW_EVENT_FIELDS. Returns 0;
 * 1 when the event does not exist (all fields nil); -1 when the hash is
 * malformed.
 */
int gw_event_from_hmget(const redisReply *reply, const char *event_id, size_t elen, gw_event_t *ev);

/**
 * 1 when @now_ms is inside @ev's priority window: a presale is set, its
 * start has passed and the event's opens_at has not (docs/API.md, "Priority
 * presale").
 */
int gw_event_in_priority(const gw_event_t *ev, int64_t now_ms);

/**
 * The state a client sees at @now_ms: scheduled, priority (inside the
 * priority window, stock left), open, paused, sold_out or closed.
 */
const char *gw_event_state(const gw_event_t *ev, int64_t now_ms);

/** Bytes gw_event_json needs at most. */
#define GW_EVENT_JSON_MAX (TK_NAME_MAX * 6 + 1024)

/**
 * Writes the API's event object into @out (GW_EVENT_JSON_MAX bytes):
 * {"event_id","name","state","stock_total","remaining","max_per_user","opens_at","closes_at","version",
 *  "waiting_room","priority"}; absent times are null; waiting_room is null when the
 * room is off, else {"enabled":true,"release_per_s","access_ttl_s","opens_at"};
 * priority is null without a presale, else {"board_id","top","opens_at"}.
 * Returns the length.
 */
int gw_event_json(const gw_event_t *ev, int64_t now_ms, char *out);

#endif
