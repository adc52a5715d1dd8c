/*
 * gw_fallback_readonly: while this gateway cannot reach Redis, the claims and
 * status lookups that MariaDB alone can answer exactly are answered from it;
 * the rest get 503 (retry), as before.
 *
 * What MariaDB knows while Redis is away: every claim the workers had
 * written, each event's definition and its guarded stock row. What it does
 * not know: claims Redis granted whose stream entries were not yet written
 * (they are safe in Redis's AOF and are drained when it returns). So:
 *
 *  - a user whose claim is in MariaDB gets it (200), whatever its status;
 *  - an unknown event is 404; a closed, paused or not yet open event 403,
 *    as the claim script would say (MariaDB is the record of definitions);
 *  - a quantity above max_per_user is 409 limit_reached;
 *  - 409 sold_out only when the quantity exceeds total − sold in MariaDB:
 *    Redis's unwritten grants can only lower what is left, never raise it,
 *    so that answer is exact;
 *  - anything else — a claim that might be granted, a status lookup of a
 *    claim MariaDB does not hold — is 503: only Redis can tell, and a grant
 *    here could sell a unit Redis already sold or serve a user twice.
 *
 * That is the read-only answer, used while the gateway's mode is LOST or
 * MERGE (gw_journal.h), and for an event the granting fallback cannot take.
 * In mode GRANT the claims go to gw_fallback_grant.c, which grants them
 * from MariaDB under the event's lock (gw_fallback.c decides which).
 */
#ifndef GW_FALLBACK_READONLY_H
#define GW_FALLBACK_READONLY_H

#include "gw_dbpool.h"

/**
 * A fallback job's run step (database thread): answers each claim of the
 * job's gw_fb_in_t (gw_fallback_db.h) from what MariaDB knows exactly, 503
 * for the rest; every item is answered, also when MariaDB fails.
 */
void gw_fallback_readonly_run(gw_dbjob_t *job, gw_dbconn_t *conn);

#endif
