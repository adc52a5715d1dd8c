/*
 * gw_identity: Redis's identity and the watch of it; the why is in
 * gw_identity.h.
 */
#include "gw_identity.h"
#include "gw_failover.h"
#include "gw_journal.h"
#include "gw_lock.h"
#include "gw_types.h"
#include "tk_keys.h"
#include "tk_log.h"

#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t checked_lock = PTHREAD_MUTEX_INITIALIZER;
static char checked[GW_IDENTITY_MAX]; /* the last completed check's; under checked_lock */
static unsigned long forgets;         /* times it was forgotten (a merge that read it before stores nothing); under checked_lock */

/* The value of INFO field @name (with its colon) in @rep, its length into *@n; NULL when absent. Only at a line's
 * start: master_replid2's tail is not master_replid. */
static const char *info_field(const redisReply *rep, const char *name, size_t *n)
{
    if (rep == NULL || rep->type != REDIS_REPLY_STRING)
        return NULL;
    size_t len = strlen(name);
    for (const char *p = rep->str; (p = strstr(p, name)) != NULL; p += len)
        if (p == rep->str || p[-1] == '\n') {
            *n = strcspn(p + len, "\r\n");
            return p + len;
        }
    return NULL;
}

/* "<run_id>/<master_replid2>" from the replies of INFO server (@srv) and INFO replication (@repl) into @out (@cap
 * bytes); "" when there is no run_id. A Redis without a replication section ends in '/': still its own identity. */
static void compose(const redisReply *srv, const redisReply *repl, char *out, size_t cap)
{
    size_t n = 0, rn = 0;
    const char *id = info_field(srv, "run_id:", &n);
    const char *rid = info_field(repl, "master_replid2:", &rn);
    out[0] = '\0';
    if (id == NULL || n + 1 + rn + 1 > cap)
        return;
    if (rid == NULL)
        rn = 0;
    memcpy(out, id, n);
    out[n] = '/';
    if (rn > 0)
        memcpy(out + n + 1, rid, rn);
    out[n + 1 + rn] = '\0';
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* 1 when INFO replication's reply @repl says this Redis is a replica now. */
static int is_replica(const redisReply *repl)
{
    size_t n = 0;
    const char *role = info_field(repl, "role:", &n);
    return role != NULL && n == 5 && memcmp(role, "slave", 5) == 0;
}

/* A cluster's: every master's, sorted, joined with commas ("" when one has no run_id). 0, or -1: Redis failed. */
static int read_cluster(tk_rcluster_t *rcl, char *out, size_t cap, int *replica)
{
    out[0] = '\0';
    if (tk_rcluster_refresh(rcl) != 0) {
        tk_warn("identity: %s", rcl->errstr);
        return -1;
    }
    size_t n = tk_rcluster_nnodes(rcl);
    char(*ids)[GW_IDENTITY_ONE_MAX] = calloc(n > 0 ? n : 1, sizeof(*ids));
    if (ids == NULL || n == 0) {
        free(ids);
        return -1;
    }
    const char *a_srv[] = {"INFO", "server"}, *a_repl[] = {"INFO", "replication"};
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *srv = tk_rcluster_node_cmd(rcl, i, 2, a_srv, NULL);
        redisReply *repl = srv != NULL ? tk_rcluster_node_cmd(rcl, i, 2, a_repl, NULL) : NULL;
        if (srv == NULL || repl == NULL) {
            tk_warn("identity: INFO on a master: %s", rcl->errstr);
            if (srv != NULL)
                freeReplyObject(srv);
            free(ids);
            return -1;
        }
        compose(srv, repl, ids[i], sizeof(ids[i]));
        missing |= ids[i][0] == '\0';
        *replica |= is_replica(repl);
        freeReplyObject(srv);
        freeReplyObject(repl);
    }
    qsort(ids, n, sizeof(*ids), cmp_id);
    size_t len = 0;
    for (size_t i = 0; i < n && !missing && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i > 0 ? "," : "", ids[i]);
    free(ids);
    return 0;
}

/* 1 for an error that stays while Redis's setup does (no ACL for the key, at maxmemory, a Redis before 7.0 without
 * SET NX GET, a replica): the identity then goes without the mark, the same every read; any other error fails the read,
 * so that a passing one (BUSY, LOADING) on one gateway's read does not make its identity flap. */
static int lasting(const redisReply *r)
{
    static const char *const codes[] = {"NOPERM", "OOM", "READONLY", "ERR syntax"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strncmp(r->str, codes[i], strlen(codes[i])) == 0)
            return 1;
    return 0;
}

/*
 * The instance mark (gw_identity.h): the value of TK_KEY_INSTANCE, set to a
 * new random value by whoever finds it absent (SET NX GET: gateways racing
 * after a FLUSHALL all end with the winner's), appended to @out as
 * "/<mark>" (not to ""). A GET first: a Redis at maxmemory refuses any SET,
 * even one NX would skip. A replica's is the mark it holds, or none (it
 * cannot write one). A lasting error leaves the identity without the mark
 * (warned once). 0, or -1 when Redis failed.
 */
static int append_mark(redisContext *rc, char *out, size_t cap, int replica)
{
    static int warned; /* once per process: the watch reads every second */
    char token[GW_LOCK_TOKEN_LEN + 1];
    redisReply *r = redisCommand(rc, "GET %s", TK_KEY_INSTANCE), *set = NULL, *err = NULL;
    if (r == NULL)
        return -1;
    const char *mark = NULL;
    size_t mlen = 0;
    if (r->type == REDIS_REPLY_STRING) {
        mark = r->str, mlen = r->len;
    } else if (r->type == REDIS_REPLY_ERROR) {
        err = r;
    } else if (r->type == REDIS_REPLY_NIL && !replica && gw_lock_token(token) == 0) {
        if ((set = redisCommand(rc, "SET %s %s NX GET", TK_KEY_INSTANCE, token)) == NULL) {
            freeReplyObject(r);
            return -1;
        }
        if (set->type == REDIS_REPLY_NIL) /* set now: ours */
            mark = token, mlen = strlen(token);
        else if (set->type == REDIS_REPLY_STRING) /* another gateway's, set since our GET */
            mark = set->str, mlen = set->len;
        else if (set->type == REDIS_REPLY_ERROR)
            err = set;
    }
    int ret = 0;
    if (err != NULL && !lasting(err)) {
        tk_warn("identity: %s on %s: %s", err == set ? "SET" : "GET", TK_KEY_INSTANCE, err->str);
        ret = -1;
    } else if (err != NULL && !replica && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
        tk_warn("identity: %s on %s: %s; data lost in place (FLUSHALL) goes unseen until it works (the gateway's Redis user needs "
                "~%s: scripts/services.sh)",
                err == set ? "SET" : "GET", TK_KEY_INSTANCE, err->str, TK_KEY_INSTANCE);
    }
    size_t n = strlen(out);
    if (ret == 0 && mark != NULL && out[0] != '\0' && n + 1 + mlen < cap)
        snprintf(out + n, cap - n, "/%.*s", (int)mlen, mark);
    if (set != NULL)
        freeReplyObject(set);
    freeReplyObject(r);
    return ret;
}

int gw_identity_read(gw_dbconn_t *conn, char *out, size_t cap, int *replica)
{
    out[0] = '\0';
    *replica = 0;
    tk_rcluster_t *rcl = gw_dbconn_rcluster(conn);
    if (rcl != NULL)
        return read_cluster(rcl, out, cap, replica);
    redisContext *rc = gw_dbconn_redis(conn);
    if (rc == NULL)
        return -1;
    /* Two commands, not "INFO server replication": a Redis before 7.0 refuses several sections in one INFO. */
    redisReply *srv = redisCommand(rc, "INFO server");
    redisReply *repl = srv != NULL ? redisCommand(rc, "INFO replication") : NULL;
    if (srv == NULL || repl == NULL) {
        if (srv != NULL)
            freeReplyObject(srv);
        gw_dbconn_redis_reset(conn);
        return -1;
    }
    compose(srv, repl, out, cap);
    *replica = is_replica(repl);
    freeReplyObject(srv);
    freeReplyObject(repl);
    if (append_mark(rc, out, cap, *replica) != 0) {
        gw_dbconn_redis_reset(conn);
        return -1;
    }
    return 0;
}

unsigned long gw_identity_checked(char *out)
{
    pthread_mutex_lock(&checked_lock);
    memcpy(out, checked, sizeof(checked));
    unsigned long gen = forgets;
    pthread_mutex_unlock(&checked_lock);
    return gen;
}

void gw_identity_set_checked(const char *id, unsigned long gen)
{
    pthread_mutex_lock(&checked_lock);
    if (id[0] == '\0') {
        checked[0] = '\0';
        forgets++;
    } else if (gen == forgets) {
        snprintf(checked, sizeof(checked), "%s", id);
    } else {
        checked[0] = '\0'; /* forgotten while that merge ran (a replica seen): its identity is no proof */
    }
    pthread_mutex_unlock(&checked_lock);
}

void gw_identity_watch_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_server_t *srv = job->origin->server;
    /* One watch job at a time (gw_failover.c), so these may be static: 2 x GW_IDENTITY_MAX is too much for a stack. */
    static char now[GW_IDENTITY_MAX], was[GW_IDENTITY_MAX];
    int replica = 0;
    if (gw_journal_mode(srv->journal) == GW_MODE_FAST && gw_identity_read(conn, now, sizeof(now), &replica) == 0 && now[0] != '\0') {
        gw_identity_checked(was);
        if (replica) {
            /* Made a replica: its data may be replaced by a full resync, which the identity shows only after a
             * promotion, and not at all when it is resynced again from the same master (the same second id). So
             * the check forgets it: the next merge counts Redis as restarted, and none passes while it is a replica. */
            gw_identity_set_checked("", 0);
            if (gw_failover_lost(srv) == 0)
                tk_warn("identity: Redis is a replica now (%.200s): claims wait until it is a master again and checked against MariaDB",
                        now);
        } else if (was[0] != '\0' && strcmp(was, now) != 0 && gw_failover_lost(srv) == 0) {
            tk_warn("identity: Redis's identity changed with no connection lost (%.200s, was %.200s): made a replica and promoted "
                    "again, or its data lost in place (FLUSHALL); checking it against MariaDB again",
                    now, was);
        }
    }
    gw_dbjob_answer(job, 200, "", 0);
}
