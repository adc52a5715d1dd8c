/*
 * gw_refusal: the refusals of a claim, written once: the claim script's
 * codes ("sold_out", …) with the HTTP status, the metrics result and the
 * message the API answers for each. The batcher (gw_batcher.c) answers them
 * from the script's codes; the fallback (gw_fallback_db.c) decides the same
 * refusals from MariaDB and must say them the same way, byte for byte.
 */
#ifndef GW_REFUSAL_H
#define GW_REFUSAL_H

#include "gw_metrics.h"

#include <stddef.h>

typedef enum {
    GW_REFUSAL_SOLD_OUT = 0,
    GW_REFUSAL_LIMIT,
    GW_REFUSAL_NOT_OPEN,
    GW_REFUSAL_PAUSED,
    GW_REFUSAL_CLOSED,
    GW_REFUSAL_NOT_ADMITTED, /* a waiting-room event, and the claim is not admitted (gw_access.h) */
    GW_REFUSAL__COUNT,
} gw_refusal_t;

/* Bytes of a refusal's error body, NUL included (an event id of TK_ID_MAX bytes fits). */
#define GW_REFUSAL_BODY_MAX 256

/** The refusal the claim script names @code (@len bytes, not NUL-terminated), or -1 for another code. */
int gw_refusal_find(const char *code, size_t len);

/** The HTTP status of @k (403 or 409). */
int gw_refusal_status(gw_refusal_t k);

/** The claims metric @k counts under. */
gw_claim_result_t gw_refusal_result(gw_refusal_t k);

/**
 * Writes the API's error body of @k for event @event_id (a valid id:
 * nothing to escape) into @body (@cap bytes, at least GW_REFUSAL_BODY_MAX).
 * Returns its length.
 */
size_t gw_refusal_body(gw_refusal_t k, const char *event_id, char *body, size_t cap);

#endif
