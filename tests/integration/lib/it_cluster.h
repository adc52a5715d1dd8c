/*
 * it_cluster: a real Redis Cluster of 3 masters on loopback (and up to
 * three replicas, added one by one), in a directory of
 * $TK_IT_DIR, started by a test and always stopped:
 * redis-server --cluster-enabled yes per node, then `redis-cli --cluster
 * create ... --cluster-replicas 0 --cluster-yes`, then a wait for
 * cluster_state:ok on every node. The nodes load the suite's ACL file
 * ($TK_IT_DIR/redis/users.acl, scripts/services.sh): a gateway runs as
 * tk-gateway, as on the single Redis, and the helpers here as tk-test.
 */
#ifndef IT_CLUSTER_H
#define IT_CLUSTER_H

#include <hiredis.h>

#include "it_proc.h"

#define IT_CLUSTER_NODES 3 /* masters */
#define IT_CLUSTER_MAX 6   /* with a replica per master (it_cluster_add_replica) */
#define IT_CLUSTER_NODE_TIMEOUT_MS 3000 /* cluster-node-timeout of it_cluster_start */

typedef struct {
    int n;                              /* nodes started: the masters, then the replicas */
    int port[IT_CLUSTER_MAX];
    char id[IT_CLUSTER_MAX][41];        /* CLUSTER MYID */
    it_proc_t proc[IT_CLUSTER_MAX];
    redisContext *rc[IT_CLUSTER_MAX];   /* one synchronous connection per node (NULL once killed) */
    char dir[512];
    char pw[256];                       /* tk-test's password */
    char acl[600];                      /* the suite's ACL file */
    int replica_of[IT_CLUSTER_MAX];     /* the master a replica was added to; -1 for the first masters */
    int node_timeout_ms;                /* cluster-node-timeout of every node */
    int migrate_pause_ms;               /* it_cluster_migrate: pause between two keys (0: none), to stretch the split */
    char seeds[128];                    /* "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3": REDIS_CLUSTER */
} it_cluster_t;

/** A free loopback port whose cluster bus port (+10000) is free too, for a cluster-mode redis-server; -1 when none was found. */
int it_cluster_free_port(void);

/** Starts the nodes, creates the cluster, waits up to @ready_ms for cluster_state:ok everywhere. 0, or -1 (said on stderr) with everything stopped. */
int it_cluster_start(it_cluster_t *c, int ready_ms);

/**
 * it_cluster_start with cluster-node-timeout @node_timeout_ms (how long a
 * master may be silent before it is failed and its replica promoted; the
 * failover chaos scenario uses a small one so the promotion comes within a
 * few seconds).
 */
int it_cluster_start_ex(it_cluster_t *c, int ready_ms, int node_timeout_ms);

/**
 * Adds a replica of master @master as node c->n (one more redis-server:
 * CLUSTER MEET, CLUSTER REPLICATE) and waits up to @ready_ms until its link
 * to the master is up and every master's CLUSTER NODES lists it as a
 * replica (the masters that vote in a failover know it). Up to
 * IT_CLUSTER_MAX nodes in all. 0, or -1 (said on stderr).
 */
int it_cluster_add_replica(it_cluster_t *c, int master, int ready_ms);

/** The node added as a replica of master @master (it_cluster_add_replica), or -1. */
int it_cluster_replica(const it_cluster_t *c, int master);

/** 1 when node @i says role:master and every node still running says cluster_state:ok (it_cluster_wait_promoted's test, once). */
int it_cluster_promoted(it_cluster_t *c, int i);

/**
 * After its master was killed: waits up to @ready_ms until node @i says
 * role:master and every node still running says cluster_state:ok (the
 * failover is done; the dead master's slots are served again). 0, or -1
 * (said on stderr).
 */
int it_cluster_wait_promoted(it_cluster_t *c, int i, int ready_ms);

/** SIGKILLs node @i (a master's failure) and closes its connection. */
void it_cluster_kill(it_cluster_t *c, int i);

/**
 * Starts node @i again after it_cluster_kill, on its port with its nodes
 * file and AOF (a restarted machine): a master that was failed over
 * rejoins as a replica of the node promoted in its place. Waits up to
 * @ready_ms until it says role:slave with its link to the master up. 0, or
 * -1 (said on stderr; the node, if it runs, is stopped with the others).
 */
int it_cluster_restart(it_cluster_t *c, int i, int ready_ms);

/** Stops every node (SIGTERM, bounded wait) and closes the connections. Safe on a half-started one. */
void it_cluster_stop(it_cluster_t *c);

/** The index of the node that serves @key now (the one that answers without MOVED), or -1. */
int it_cluster_owner(it_cluster_t *c, const char *key);

/** Runs a command on the node that owns @key (following MOVED); the caller frees the reply. NULL on failure. */
redisReply *it_cluster_cmd(it_cluster_t *c, const char *key, const char *fmt, ...);

/**
 * Moves slot @slot from node @from to node @to as redis-cli --cluster
 * reshard does: IMPORTING on @to, MIGRATING on @from, MIGRATE of every key;
 * with @finish, SETSLOT NODE on every node (then @from answers MOVED), else
 * left half-way (@from answers ASK for the keys moved). 0, or -1 (said on stderr).
 */
int it_cluster_migrate(it_cluster_t *c, unsigned slot, int from, int to, int finish);

/** Ends a migration left half-way by it_cluster_migrate: SETSLOT NODE @to on every node. 0 or -1. */
int it_cluster_finish(it_cluster_t *c, unsigned slot, int to);

#endif
