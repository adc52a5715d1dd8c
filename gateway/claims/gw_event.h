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

/* The hash fields, in the order gw_event_from_hmget expects them. */
#define GW_EVENT_FIELDS "name", "state", "total", "remaining", "maxpu", "opens", "closes", "seq"
#define GW_EVENT_NFIELDS 8

typedef struct {
    char event_id[TK_ID_MAX + 1];
    char name[TK_NAME_MAX + 1];
    char state[8]; /* stored: open, paused, closed */
    int64_t total, remaining, max_per_user, opens_ms, closes_ms, seq;
} gw_event_t;

/**
 * Fills @ev from the reply to HMGET tk:{E}:ev GW_EVENT_FIELDS. Returns 0;
 * 1 when the event does not exist (all fields nil); -1 when the hash is
 * malformed.
 */
int gw_event_from_hmget(const redisReply *reply, const char *event_id, size_t elen, gw_event_t *ev);

/** The state a client sees at @now_ms: scheduled, open, paused, sold_out or closed. */
const char *gw_event_state(const gw_event_t *ev, int64_t now_ms);

/** Bytes gw_event_json needs at most. */
#define GW_EVENT_JSON_MAX (TK_NAME_MAX * 6 + 512)

/**
 * Writes the API's event object into @out (GW_EVENT_JSON_MAX bytes):
 * {"event_id","name","state","stock_total","remaining","max_per_user","opens_at","closes_at"};
 * absent times are null. Returns the length.
 */
int gw_event_json(const gw_event_t *ev, int64_t now_ms, char *out);

#endif
