/*
 * gw_fallback: where a claim or a status lookup goes while this gateway
 * cannot reach Redis. The batcher (claims) and the status route hand their
 * requests here on the loop thread; one job per batch takes them to a
 * database thread (client lane, gw_dbpool.h), which answers each from
 * MariaDB, and back to the loop thread, which replies.
 *
 *  - mode GRANT (gw_journal.h): claims go to the granting fallback
 *    (gw_fallback_grant.h), which grants them from MariaDB under the
 *    event's lock, or answers read-only an event it cannot take;
 *  - otherwise, and for every status lookup: the read-only answers
 *    (gw_fallback_readonly.h), exact where MariaDB alone can say them,
 *    503 for the rest.
 *
 * The answers are one shape whichever path decided them (gw_fallback_db.h:
 * a status and a JSON body per claim), so one reply step serves both.
 */
#ifndef GW_FALLBACK_H
#define GW_FALLBACK_H

#include "gw_http.h"

/**
 * Answers the claims @reqs (@n, all for r->event_id of the first, with
 * @qty) from MariaDB on a database thread. Takes a reference to each.
 */
void gw_fallback_claims(gw_thread_t *th, gw_req_t **reqs, const int *qty, int n);

/** Answers GET …/claims/{user} for @r from MariaDB. Takes a reference to @r. */
void gw_fallback_status(gw_req_t *r);

#endif
