/*
 * gw_identity: which Redis answers, and whether it is still the one the
 * last completed check of Redis against MariaDB saw (gw_merge.h).
 *
 * A Redis's identity is "<run_id>/<master_replid2>/<mark>" (INFO server,
 * INFO replication, and the instance mark below); a cluster's is every
 * master's "<run_id>/<master_replid2>", sorted and joined with commas. The run_id names the process: a restart changes it. The second
 * replication id names the history a promotion started from: a process
 * made a replica takes its master's replication id (and a full resync
 * replaces its data); promoted again, it starts a new one and keeps the
 * one it had as a replica as master_replid2. So a Redis emptied or rolled
 * back that way keeps its run_id, not its identity. A master restarted,
 * failed over (its replica is another process), added or removed changes
 * a cluster's.
 *
 * Why not master_replid itself: Redis 7 also changes it on a healthy
 * master with nothing lost, when the first replica attaches to a master
 * without a backlog, and when the backlog is freed an hour
 * (repl-backlog-ttl) after the last replica left; both clear
 * master_replid2 instead of setting it. A never-promoted master's second
 * id is all zeros and stays so; a promoted one's is its last promotion's,
 * and changes again only with the next promotion, or once to zeros when
 * its backlog is freed. Spurious changes, each one more check and never a
 * wrong grant: that, a master restarted from an RDB carrying replication
 * data (its second id is the saved one, zeros an hour later), an aborted
 * FAILOVER, REPLICAOF then NO ONE before any sync.
 *
 * What the identity cannot show: the same process resynced a second time
 * from the same master (whose id did not move meanwhile) and promoted
 * again gets the same second id. So a Redis seen as a replica (role:slave,
 * by the watch or a merge) makes that gateway forget its checked identity:
 * no merge passes while it is a replica, and the next one counts it as
 * restarted (its journal written). Not closed: a peer that did not see the
 * replica phase (shorter than a watch period, or the peer stalled) keeps
 * both its checked identity and its mark in MariaDB, which equal the new
 * incarnation's, so nobody waits for it and it does not check. Closing it
 * would take a mark cleared by whoever saw the replica, and a beat that
 * reads its own mark back.
 *
 * Data lost in place (FLUSHALL, FLUSHDB) keeps the process and its
 * replication ids: the instance mark shows it. A
 * single Redis's identity ends with the value of tk:instance, a random
 * value the first gateway to find the key absent sets (SET NX GET, so
 * racing gateways agree). A FLUSHALL removes it; the next read (the watch,
 * within a second) sets a new one, the identity has changed, and the
 * gateways check Redis as after a restart. A replica's identity carries
 * the mark it holds, or none (it cannot write one). Limits: a cluster's
 * identity carries no mark (a key lives on one master; FLUSHALL on a master
 * goes unseen, as before); each gateway notices at its own watch, so a
 * rebuild in between (a reconnect check, tk-rebuild) restores an event at
 * MariaDB's books, below a gateway's undrained grants, until that
 * gateway's check writes them; an older file loaded in place (DEBUG
 * RELOAD) carries the mark it had; the key deleted alone, or evicted
 * (an allkeys eviction policy; ours is noeviction), counts as data lost
 * (one check more, never a wrong grant); a lasting error reading or
 * setting it (no ACL for it, maxmemory, a Redis before 7.0) leaves the
 * identity without it, warned once.
 *
 * "Changed" means "may have lost data": the merge then treats Redis as
 * restarted (it writes journals Redis may lack, and waits for every live
 * peer's mark before it rebuilds: gw_peers.h). A restart drops every
 * gateway's connections, so every gateway merges; a promotion need not
 * (clients can stay connected across REPLICAOF), and a gateway that
 * merged for its own reason would then wait for peers that never merge.
 * So every gateway also watches (gw_identity_watch_run, every second on
 * the fast path from gw_failover.c): an identity other than the last
 * checked one leaves the fast path as a dropped connection does, and the
 * merge runs.
 *
 * Threads: the identity is read on a database thread with its Redis
 * connection; the checked identity is shared by the merge job and the
 * watch job (a lock).
 */
#ifndef GW_IDENTITY_H
#define GW_IDENTITY_H

#include "gw_dbpool.h"
#include "tk_cluster.h"

#include <stddef.h>

#define GW_IDENTITY_ONE_MAX 128 /* one Redis's: 40 hex digits, '/', 40 hex digits, '/', a 32-digit mark, and room */
#define GW_IDENTITY_MAX (TK_CLUSTER_NODES_MAX * GW_IDENTITY_ONE_MAX + 1) /* a cluster's */

/**
 * Redis's identity, through @conn's Redis connection (a cluster: every
 * master of a map read afresh), into @out (@cap bytes); "" when a Redis
 * gives no run_id (a proxy). *@replica: 1 when it (a cluster: one of the
 * masters asked) is a replica now. 0, or -1 when Redis failed (the
 * connection at fault is reset).
 */
int gw_identity_read(gw_dbconn_t *conn, char *out, size_t cap, int *replica);

/**
 * The identity the last completed check saw into @out (GW_IDENTITY_MAX
 * bytes; "" before the first); returns the count of forgets so far, for
 * gw_identity_set_checked.
 */
unsigned long gw_identity_checked(char *out);

/**
 * "" (any @gen): forgets it, so the next merge counts Redis as restarted.
 * Else the merge's @id, stored only when nothing forgot the identity since
 * that merge read it (@gen, from gw_identity_checked): a watch that saw a
 * replica meanwhile wins.
 */
void gw_identity_set_checked(const char *id, unsigned long gen);

/**
 * A background database job's run step (gw_failover.c, every second on
 * the fast path): reads Redis's identity and, when it differs from the
 * last checked one, or Redis is a replica now (then the checked identity
 * is forgotten too), leaves the fast path (gw_failover_lost, logged) so
 * that the merge checks Redis again. Answers 200 whatever it found.
 */
void gw_identity_watch_run(gw_dbjob_t *job, gw_dbconn_t *conn);

#endif
