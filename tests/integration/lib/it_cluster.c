#include "it_cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_env.h"
#include "it_redis.h"
#include "tk_opt.h"

/* 1 when nothing listens on loopback @port a moment ago. */
static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int it_cluster_free_port(void)
{
    for (int tries = 0; tries < 200; tries++) {
        int p = it_free_port();
        if (p >= 0 && p + 10000 <= 65535 && port_free(p + 10000))
            return p;
    }
    return -1;
}

/* A port whose cluster bus port (+10000) is free too, and neither one a port of @c's nodes. */
static int cluster_port(const it_cluster_t *c)
{
    for (int tries = 0; tries < 200; tries++) {
        int p = it_cluster_free_port();
        if (p < 0)
            return -1;
        int dup = 0;
        for (int i = 0; i < c->n; i++)
            dup |= c->port[i] == p || c->port[i] + 10000 == p || c->port[i] == p + 10000;
        if (!dup)
            return p;
    }
    return -1;
}

/* Runs node @i's redis-server on c->port[i] (its nodes file and AOF directory, if any, kept from before), connects as tk-test, reads its id. 0 or -1. */
static int spawn_node(it_cluster_t *c, int i, long long deadline)
{
    char port[16], conf[64], aof[64], log[600];
    snprintf(port, sizeof port, "%d", c->port[i]);
    snprintf(conf, sizeof conf, "nodes-%d.conf", c->port[i]);
    snprintf(aof, sizeof aof, "appendonly-%d", c->port[i]); /* one directory, an AOF directory per node */
    snprintf(log, sizeof log, "%s/redis-%d.log", c->dir, c->port[i]);
    /* masteruser/masterauth: a replica authenticates to its master as tk-test; repl-diskless-sync-delay 0: a
     * replica's full sync starts at once, not after the default 5 s wait for more replicas (a rejoining node) */
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", c->node_timeout_ms);
    char *argv[] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", conf, "--cluster-node-timeout", timeout, "--dir", c->dir,
                    "--appendonly", "yes", "--appenddirname", aof, "--save", "", "--daemonize", "no",
                    "--aclfile", c->acl, "--masteruser", "tk-test", "--masterauth", c->pw,
                    "--repl-diskless-sync-delay", "0", NULL};
    snprintf(c->proc[i].name, sizeof c->proc[i].name, "redis-cluster-%d", c->port[i]);
    snprintf(c->proc[i].log_path, sizeof c->proc[i].log_path, "%s", log);
    if ((c->proc[i].pid = it_proc_run(argv, log)) < 0)
        return -1;
    while ((c->rc[i] = it_redis_connect_port(c->port[i], c->pw)) == NULL) {
        if (it_now_ms() > deadline || !it_proc_alive(&c->proc[i])) {
            fprintf(stderr, "it_cluster: node %d (port %d) did not start\n", i, c->port[i]);
            it_proc_log_tail(&c->proc[i], 20);
            return -1;
        }
        it_sleep_ms(50);
    }
    /* A restarted node answers LOADING while it reads its AOF: asked again until the deadline. */
    for (;;) {
        redisReply *rep = redisCommand(c->rc[i], "CLUSTER MYID");
        int ok = rep != NULL && rep->type == REDIS_REPLY_STRING && rep->len == 40;
        if (ok)
            memcpy(c->id[i], rep->str, 41);
        int loading = rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "LOADING", 7) == 0;
        freeReplyObject(rep);
        if (ok)
            return 0;
        if (!loading || it_now_ms() > deadline) {
            fprintf(stderr, "it_cluster: node %d (port %d): no CLUSTER MYID\n", i, c->port[i]);
            return -1;
        }
        it_sleep_ms(20);
    }
}

/* Starts node c->n (a cluster-enabled redis-server with the suite's ACLs) on a fresh port; c->n++. 0 or -1. */
static int start_node(it_cluster_t *c, long long deadline)
{
    int i = c->n;
    if ((c->port[i] = cluster_port(c)) < 0)
        return -1;
    c->n++; /* counted before it runs: it_cluster_stop stops it whatever happens next */
    return spawn_node(c, i, deadline);
}

int it_cluster_start(it_cluster_t *c, int ready_ms)
{
    return it_cluster_start_ex(c, ready_ms, IT_CLUSTER_NODE_TIMEOUT_MS);
}

int it_cluster_start_ex(it_cluster_t *c, int ready_ms, int node_timeout_ms)
{
    const it_env_t *env = it_env();
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < IT_CLUSTER_MAX; i++)
        c->replica_of[i] = -1;
    c->node_timeout_ms = node_timeout_ms;
    if (env == NULL)
        return -1;
    static int seq;
    snprintf(c->dir, sizeof(c->dir), "%s/cluster-%d-%d", env->it_dir, (int)getpid(), ++seq);
    if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "it_cluster: mkdir %s: %s\n", c->dir, strerror(errno));
        return -1;
    }
    char path[600], err[300];
    snprintf(c->acl, sizeof c->acl, "%s/redis/users.acl", env->it_dir);
    snprintf(path, sizeof path, "%s/secrets/redis_test", env->it_dir);
    if (tk_read_secret(path, c->pw, sizeof c->pw, err, sizeof err) != 0) {
        fprintf(stderr, "it_cluster: %s\n", err);
        return -1;
    }
    size_t off = 0;
    long long deadline = it_now_ms() + ready_ms;
    while (c->n < IT_CLUSTER_NODES) {
        if (start_node(c, deadline) != 0)
            goto fail;
        off += (size_t)snprintf(c->seeds + off, sizeof(c->seeds) - off, "%s127.0.0.1:%d", c->n > 1 ? "," : "", c->port[c->n - 1]);
    }
    char a[IT_CLUSTER_NODES][32], log[600];
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        snprintf(a[i], sizeof a[i], "127.0.0.1:%d", c->port[i]);
    snprintf(log, sizeof log, "%s/create.log", c->dir);
    char *argv[] = {"redis-cli", "--user", "tk-test", "-a", c->pw, "--no-auth-warning", "--cluster", "create", a[0], a[1], a[2],
                    "--cluster-replicas", "0", "--cluster-yes", NULL};
    pid_t pid = it_proc_run(argv, log);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "it_cluster: redis-cli --cluster create failed (log %s)\n", log);
        goto fail;
    }
    for (int i = 0; i < c->n; i++) {
        for (;;) {
            redisReply *rep = redisCommand(c->rc[i], "CLUSTER INFO");
            int ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_state:ok") != NULL;
            freeReplyObject(rep);
            if (ok)
                break;
            if (it_now_ms() > deadline) {
                fprintf(stderr, "it_cluster: node %d not cluster_state:ok in time\n", i);
                goto fail;
            }
            it_sleep_ms(50);
        }
    }
    return 0;
fail:
    it_cluster_stop(c);
    return -1;
}

void it_cluster_stop(it_cluster_t *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->rc[i] != NULL)
            redisFree(c->rc[i]);
        c->rc[i] = NULL;
        if (c->proc[i].pid > 0)
            it_proc_stop(&c->proc[i], 10000);
    }
    c->n = 0;
}

/* MOVED <slot> <host>:<port> -> the index of the node with that port, or -1. */
static int moved_to(const it_cluster_t *c, const redisReply *rep)
{
    if (rep == NULL || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "MOVED ", 6) != 0)
        return -1;
    const char *colon = strrchr(rep->str, ':');
    int port = colon != NULL ? atoi(colon + 1) : 0;
    for (int i = 0; i < c->n; i++)
        if (c->port[i] == port)
            return i;
    return -1;
}

int it_cluster_owner(it_cluster_t *c, const char *key)
{
    int ask = 0;
    while (ask < c->n && c->rc[ask] == NULL)
        ask++; /* a node not killed */
    if (ask == c->n)
        return -1;
    redisReply *rep = redisCommand(c->rc[ask], "EXISTS %s", key);
    int to = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? ask : moved_to(c, rep);
    freeReplyObject(rep);
    return to;
}

redisReply *it_cluster_cmd(it_cluster_t *c, const char *key, const char *fmt, ...)
{
    int node = it_cluster_owner(c, key);
    if (node < 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c->rc[node], fmt, ap);
    va_end(ap);
    return rep;
}

/* A command that must answer OK (or any non-error); 0 or -1 with the error said. */
static int must(redisContext *rc, const char *what, redisReply *rep)
{
    (void)rc;
    int ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;
    if (!ok)
        fprintf(stderr, "it_cluster: %s: %s\n", what, rep != NULL ? rep->str : "no reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

int it_cluster_finish(it_cluster_t *c, unsigned slot, int to)
{
    for (int i = 0; i < IT_CLUSTER_NODES; i++) /* the masters */
        if (c->rc[i] != NULL && must(c->rc[i], "SETSLOT NODE", redisCommand(c->rc[i], "CLUSTER SETSLOT %u NODE %s", slot, c->id[to])) != 0)
            return -1;
    return 0;
}

int it_cluster_migrate(it_cluster_t *c, unsigned slot, int from, int to, int finish)
{
    if (must(c->rc[to], "SETSLOT IMPORTING", redisCommand(c->rc[to], "CLUSTER SETSLOT %u IMPORTING %s", slot, c->id[from])) != 0 ||
        must(c->rc[from], "SETSLOT MIGRATING", redisCommand(c->rc[from], "CLUSTER SETSLOT %u MIGRATING %s", slot, c->id[to])) != 0)
        return -1;
    for (;;) {
        redisReply *keys = redisCommand(c->rc[from], "CLUSTER GETKEYSINSLOT %u 100", slot);
        if (keys == NULL || keys->type != REDIS_REPLY_ARRAY) {
            must(c->rc[from], "GETKEYSINSLOT", keys);
            return -1;
        }
        if (keys->elements == 0) {
            freeReplyObject(keys);
            break;
        }
        for (size_t k = 0; k < keys->elements; k++) {
            if (k > 0 && c->migrate_pause_ms > 0)
                it_sleep_ms(c->migrate_pause_ms); /* some keys here, some there: the importing node answers TRYAGAIN */
            char port[16];
            snprintf(port, sizeof port, "%d", c->port[to]);
            const char *argv[] = {"MIGRATE", "127.0.0.1", port, keys->element[k]->str, "0", "5000", "AUTH2", "tk-test", c->pw};
            size_t lens[] = {7, 9, strlen(port), keys->element[k]->len, 1, 4, 5, 7, strlen(c->pw)};
            if (must(c->rc[from], "MIGRATE", redisCommandArgv(c->rc[from], 9, argv, lens)) != 0) {
                freeReplyObject(keys);
                return -1;
            }
        }
        freeReplyObject(keys);
    }
    return finish ? it_cluster_finish(c, slot, to) : 0;
}

/*
 * 1 when every master still running lists node @r in CLUSTER NODES as a
 * replica ("slave"). With @meet, a master that does not know the node at
 * all is told to CLUSTER MEET it: gossip usually spreads a new node within
 * a second, but a run was seen where one master had not heard of the
 * second replica 18 s later.
 */
static int replica_known(it_cluster_t *c, int r, int meet)
{
    int all = 1;
    /* And the replica knows every master, past the handshake: one that does not is no voter of its election and
     * ignores their FAIL reports ("from unknown node"), so it is never promoted (seen under load: failover_to_replica
     * with the master killed 0.6 s after the replica was added). */
    redisReply *own = redisCommand(c->rc[r], "CLUSTER NODES");
    for (int i = 0; i < IT_CLUSTER_NODES; i++) {
        if (c->rc[i] == NULL)
            continue;
        const char *line = own != NULL && own->type == REDIS_REPLY_STRING ? strstr(own->str, c->id[i]) : NULL;
        const char *eol = line != NULL ? strchr(line, '\n') : NULL;
        const char *hs = line != NULL ? strstr(line, "handshake") : NULL;
        all &= line != NULL && (hs == NULL || (eol != NULL && hs > eol));
    }
    if (own != NULL)
        freeReplyObject(own);
    for (int i = 0; i < IT_CLUSTER_NODES; i++) {
        if (c->rc[i] == NULL)
            continue;
        redisReply *rep = redisCommand(c->rc[i], "CLUSTER NODES");
        const char *line = rep != NULL && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, c->id[r]) : NULL;
        const char *eol = line != NULL ? strchr(line, '\n') : NULL;
        const char *slave = line != NULL ? strstr(line, "slave") : NULL;
        int ok = slave != NULL && (eol == NULL || slave < eol);
        freeReplyObject(rep);
        if (!ok && line == NULL && meet)
            freeReplyObject(redisCommand(c->rc[i], "CLUSTER MEET 127.0.0.1 %d", c->port[r]));
        all &= ok;
    }
    return all;
}

int it_cluster_add_replica(it_cluster_t *c, int master, int ready_ms)
{
    long long deadline = it_now_ms() + ready_ms;
    if (c->n < IT_CLUSTER_NODES || c->n >= IT_CLUSTER_MAX || master < 0 || master >= IT_CLUSTER_NODES || c->rc[master] == NULL ||
        start_node(c, deadline) != 0)
        return -1;
    int r = c->n - 1;
    c->replica_of[r] = master;
    if (must(c->rc[r], "CLUSTER MEET", redisCommand(c->rc[r], "CLUSTER MEET 127.0.0.1 %d", c->port[master])) != 0)
        return -1;
    /* REPLICATE needs the master known to the new node: tried again until the handshake is done. */
    for (;;) {
        redisReply *rep = redisCommand(c->rc[r], "CLUSTER REPLICATE %s", c->id[master]);
        int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        if (ok)
            break;
        if (it_now_ms() > deadline) {
            fprintf(stderr, "it_cluster: CLUSTER REPLICATE not accepted in time\n");
            return -1;
        }
        it_sleep_ms(50);
    }
    long long meet_at = it_now_ms() + 2000; /* then a MEET from each master that has not heard of it, once a second */
    for (;;) {
        redisReply *rep = redisCommand(c->rc[r], "INFO replication");
        int ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "master_link_status:up") != NULL;
        freeReplyObject(rep);
        int meet = it_now_ms() >= meet_at;
        if (meet)
            meet_at = it_now_ms() + 1000;
        if (ok && replica_known(c, r, meet))
            return 0;
        if (it_now_ms() > deadline) {
            fprintf(stderr, "it_cluster: the replica's link to its master not up, or the replica not known to every master, in time\n");
            return -1;
        }
        it_sleep_ms(50);
    }
}

int it_cluster_replica(const it_cluster_t *c, int master)
{
    for (int i = IT_CLUSTER_NODES; i < c->n; i++)
        if (c->replica_of[i] == master)
            return i;
    return -1;
}

int it_cluster_promoted(it_cluster_t *c, int i)
{
    int ok = c->rc[i] != NULL;
    if (ok) {
        redisReply *rep = redisCommand(c->rc[i], "INFO replication");
        ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "role:master") != NULL;
        freeReplyObject(rep);
    }
    for (int k = 0; ok && k < c->n; k++) {
        if (c->rc[k] == NULL)
            continue; /* killed */
        redisReply *rep = redisCommand(c->rc[k], "CLUSTER INFO");
        ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_state:ok") != NULL;
        freeReplyObject(rep);
    }
    return ok;
}

int it_cluster_wait_promoted(it_cluster_t *c, int i, int ready_ms)
{
    long long deadline = it_now_ms() + ready_ms;
    while (!it_cluster_promoted(c, i)) {
        if (it_now_ms() > deadline) {
            fprintf(stderr, "it_cluster: node %d (port %d) not a master of a cluster in state ok within %d ms\n", i, c->port[i], ready_ms);
            return -1;
        }
        it_sleep_ms(20);
    }
    return 0;
}

int it_cluster_restart(it_cluster_t *c, int i, int ready_ms)
{
    long long deadline = it_now_ms() + ready_ms;
    if (i < 0 || i >= c->n || c->rc[i] != NULL || it_proc_alive(&c->proc[i])) {
        fprintf(stderr, "it_cluster: node %d cannot be restarted (not a killed node)\n", i);
        return -1;
    }
    if (spawn_node(c, i, deadline) != 0)
        return -1;
    for (;;) {
        redisReply *rep = redisCommand(c->rc[i], "INFO replication");
        int ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "role:slave") != NULL &&
                 strstr(rep->str, "master_link_status:up") != NULL;
        freeReplyObject(rep);
        if (ok)
            return 0;
        if (it_now_ms() > deadline) {
            fprintf(stderr, "it_cluster: node %d (port %d) restarted, but not a replica with its link up within %d ms\n", i, c->port[i],
                    ready_ms);
            return -1;
        }
        it_sleep_ms(20);
    }
}

void it_cluster_kill(it_cluster_t *c, int i)
{
    if (c->rc[i] != NULL)
        redisFree(c->rc[i]);
    c->rc[i] = NULL;
    it_proc_kill(&c->proc[i]);
}
