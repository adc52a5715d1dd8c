/*
 * chaos: the scenarios of it_chaos (tests/integration/it_chaos.c), one file
 * per group: chaos_processes.c (a worker or the gateway dies or restarts),
 * chaos_outages.c (MariaDB or Redis away), chaos_fallback.c (Redis
 * stopped while the lock-table fallback grants) and chaos_failover.c (a
 * Redis Cluster master killed, its replica promoted). Each runs a claim
 * storm (lib/it_storm.h) on a fresh event with 2 workers, injects its
 * fault and ends with the book checks of lib/it_verify.h (the cluster
 * failover with its own, per event, read from the cluster).
 */
#ifndef CHAOS_H
#define CHAOS_H

#include "../lib/it_api.h"
#include "../lib/it_storm.h"

/* The scale (CHAOS_SCALE), set by it_chaos's group setup. */
typedef struct {
    int scale;
    it_storm_cfg_t storm;    /* stock, users, connections, pacing, deadlines */
    int kills;               /* worker-kill */
    int db_down_ms;          /* db-outage */
    int redis_down_ms;       /* redis-kill */
    int gw_restarts;         /* gateway-restart */
    int redis_stop_ms;       /* redis-stop: Redis kept down this long (from the stop) */
    int grant_wait_ms;       /* redis-stop: stop until /readyz says "grant", at most */
    int merge_wait_ms;       /* redis-stop: start until /readyz says "fast", at most */
    int fb_kill_after;       /* gateway-kill-fallback: fallback 201s before the kill (FB_KILL_AFTER) */
    int fb_kill_wait_ms;     /* gateway-kill-fallback: or this long in grant, at most (FB_KILL_WAIT_MS) */
    int fo_node_timeout_ms;  /* cluster-failover: cluster-node-timeout of every node */
    int fo_hot_master;       /* cluster-failover: the master (0..2) of the hot event, the one killed */
    int fo_kill_after;       /* cluster-failover: hot-event 201s before the kill */
    int fo_promote_ms;       /* cluster-failover: kill until the replica serves the slot, at most */
} chaos_cfg_t;

extern chaos_cfg_t chaos_cfg;

/** A fresh event "@prefix-…" into @ev with the scale's stock and 1 per user, given time to be discovered by the workers. */
void chaos_new_event(const it_fix_t *f, char *ev, size_t len, const char *prefix);

/** chaos_new_event, then the storm on it (the caller's: it_storm_free). */
it_storm_t *chaos_storm(const it_fix_t *f, char *ev, size_t len, const char *prefix);

/* The scenarios (cmocka tests; *st is the it_fix_t with workers "cw1" and "cw2"). */
void chaos_worker_kill(void **st);
void chaos_gateway_restart(void **st);
void chaos_db_outage(void **st);
void chaos_redis_kill(void **st);
void chaos_redis_stop(void **st);
void chaos_gateway_kill_fallback(void **st);

/* cluster-failover has its own fixture (a cluster, two gateways): *st is chaos_failover.c's, made and stopped by these. */
void chaos_cluster_failover(void **st);
int chaos_failover_setup(void **st);
int chaos_failover_teardown(void **st);

#endif
