/*
 * tk_claim: a claim as the gateway, the workers and the scripts share it.
 *
 * In Redis a claim is one hash field of tk:{E}:claims, user id -> record
 * "<ticket> <quantity> <created_ms> <status>" with a one-letter status
 * (docs/CONTRACTS.md). Its public id is "c-<event_id>-<ticket>".
 */
#ifndef TK_CLAIM_H
#define TK_CLAIM_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TK_CLAIM_PENDING = 'p',   /* granted by Redis, not yet in the database */
    TK_CLAIM_CONFIRMED = 'c', /* durably stored in the database (a Redis record keeps 'p' and is shown 'c': lua/confirm.lua) */
    TK_CLAIM_REJECTED = 'r',  /* refused by the database guard after a fault */
    TK_CLAIM_CANCELLED = 'x', /* released by an administrator */
} tk_claim_status_t;

typedef struct {
    int64_t ticket;
    int64_t quantity;
    int64_t created_ms;
    tk_claim_status_t status;
} tk_claim_t;

#define TK_CLAIM_RECORD_MAX 64
/* Claims of one claim-script call, at most (GW_MAX_BATCH), hence lines of one packed stream entry (lua/claim.lua, field m). */
#define TK_CLAIM_PACK_MAX 1024
#define TK_CLAIM_ID_MAX 96
#define TK_CLAIM_JSON_MAX 512
#define TK_CLAIM_LOCATION_MAX 160 /* "/v1/events/<64>/claims/<64>" is 147 bytes and its NUL */

/** Parses a record of @len bytes. Returns 0, or -1 when it is not exactly one well-formed record. */
int tk_claim_decode(const char *rec, size_t len, tk_claim_t *out);

/** Writes the record of @c into @out (TK_CLAIM_RECORD_MAX bytes). Returns its length. */
int tk_claim_encode(const tk_claim_t *c, char *out);

/** The API's word for @status ("pending", "confirmed", …), or NULL for an unknown letter. */
const char *tk_claim_status_name(tk_claim_status_t status);

/** Maps a database status word ("confirmed", "rejected", "cancelled") to its letter; -1 when unknown. */
int tk_claim_status_from_name(const char *name, tk_claim_status_t *out);

/** Writes "c-<event_id>-<ticket>" into @out (TK_CLAIM_ID_MAX bytes). Returns its length. */
int tk_claim_id(const char *event_id, size_t elen, int64_t ticket, char *out);

/** Writes "/v1/events/<event_id>/claims/<user_id>" (a claim's Location) into @out (TK_CLAIM_LOCATION_MAX bytes). Returns its length. */
int tk_claim_location(const char *event_id, size_t elen, const char *user_id, size_t ulen, char *out);

/**
 * Writes the API's JSON body of a claim into @out (TK_CLAIM_JSON_MAX bytes):
 * {"claim_id":…,"event_id":…,"user_id":…,"ticket":…,"quantity":…,"status":…,"created_at":…}
 * plus "reason" when @reason is not NULL. The ids must be valid (they then
 * need no JSON escaping). Returns its length, or -1 if it did not fit.
 */
int tk_claim_json(const char *event_id, size_t elen, const char *user_id, size_t ulen, const tk_claim_t *c, const char *reason,
                  char *out);

#endif
