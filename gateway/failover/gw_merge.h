/*
 * gw_merge: the check that runs before every return to the fast path
 * (mode MERGE, gw_journal.h; gw_failover.c starts it and moves the mode on
 * its answer). On a database thread, it checks Redis against MariaDB and
 * rebuilds, from MariaDB, every event whose Redis state may be older:
 *  0. first, before it reads MariaDB, this gateway's beat (gw_peers.h):
 *     another gateway's fallback grants either committed before it (the
 *     rebuilds below see them) or see this gateway alive and refuse; a
 *     beat that took PEER_ALIVE_MS/2 or more fails the check (with a peer
 *     alive), and so does one more beat, just before step 3;
 *  1. each event whose journaled grants Redis lost (its seq is below
 *     them, or it is gone, or it was rebuilt from MariaDB since the last
 *     reset, which makes its seq MariaDB's; when Redis's run_id is not the
 *     last completed check's, also a seq not above MariaDB's ticket_hwm:
 *     maybe another gateway's rebuild): the journal is written to MariaDB,
 *     as the fallback writes it; then every event lock this process holds
 *     is released (the release waits out any fallback transaction holding
 *     it; the stale flag keeps the event rebuilt before it is served);
 *  2. this gateway's mark (its journal is in MariaDB or in this Redis)
 *     and, when Redis was restarted since its last check, the wait until
 *     every live peer's mark is this Redis's (gw_peers.h, "After a Redis
 *     restart"): no rebuild reads MariaDB before a peer's undrained grants
 *     are in it;
 *  3. each event the fallback, or step 1, wrote its journal to;
 *  4. each event flagged stale in MariaDB (gw_lock.h), by any gateway,
 *     dead or alive;
 *  5. each event whose Redis seq is below MariaDB's ticket_hwm, or whose
 *     hash is missing.
 * The rebuild (common/tk_rebuild) waits until the workers have drained
 * the stream, so grants Redis made before it went away reach MariaDB
 * first; a stale flag is cleared after its rebuild. All done: FAST (the
 * journal reset: completeness is proved again; the grants still undrained
 * are kept until a watermark prunes them). A failure (Redis or
 * MariaDB gone again, a peer not marked within 2 s, or Redis restarted
 * while the check ran: its run_id changed, or a loop thread's connection
 * dropped): LOST, and the check runs again a second later, the journal
 * kept;
 * FAST never comes without it, except when MariaDB cannot be read, this
 * process wrote nothing to it and Redis's run_id is the one the last
 * completed check saw (a blip during a MariaDB outage).
 *
 * One merge at a time (the mode guards it): its state is static here.
 *
 * On a Redis Cluster (REDIS_CLUSTER) every Redis read above goes to the
 * master of the key it reads (gw_dbconn_redis_for, tk_rcluster_cmd), and a
 * rebuild runs on its event's master. "Redis's run_id" is then the
 * cluster's: every master's run_id, read with INFO on each master of a map
 * read afresh, sorted and joined. A master restarted, failed over (its
 * replica is another process, with another run_id), added or removed
 * changes it, and the exception above (FAST without MariaDB) is then not
 * taken, for any event. Finer would be per slot (only the events of the
 * changed master's slots are suspect), but the exception only lets Redis
 * serve without MariaDB's word: refusing it for events whose master did
 * not change costs a wait for MariaDB during a double outage, never a
 * wrong grant, so the whole-cluster comparison is the safe and simple side.
 * A master that cannot be asked fails the check, as a single Redis that
 * cannot be asked does.
 */
#ifndef GW_MERGE_H
#define GW_MERGE_H

#include "gw_dbpool.h"

#define GW_MERGE_WAIT_MS 120000 /* per event: how long the merge waits for the drain */

/**
 * The merge, as the run function of a background database job
 * (gw_dbjob_new_bg): answers 200 when Redis can serve every event, 503
 * when not.
 */
void gw_merge_run(gw_dbjob_t *job, gw_dbconn_t *conn);

/** Events the last merge rebuilt. Read in the job's done callback, once gw_merge_run has answered. */
unsigned gw_merge_rebuilt(void);

#endif
