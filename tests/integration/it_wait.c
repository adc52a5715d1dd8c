/*
 * it_wait: "acknowledged means replicated" (REDIS_WAIT_REPLICAS, issue 15
 * item 4; common/tk_wait.h, gateway/claims/gw_batcher.c, worker/wk_read.c).
 * Each test starts its own Redis master and one replica on loopback (the
 * suite's ACL file, the replica linked as tk-test) and points a gateway
 * (IT_GW_REDIS_PORT) and, where it needs one, a worker (IT_WK_REDIS_PORT)
 * at the master; MariaDB is the suite's. A replica "stalls" by SIGSTOP: the
 * master still counts it connected, but it acknowledges nothing.
 * - replicated: with REDIS_WAIT_REPLICAS=1, claims are answered 201 and the
 *   replica holds them the moment the answer arrives (fails without the
 *   WAIT: a 503, or a replica that does not hold them yet).
 * - frozen: a claim that would be granted is answered 503 (Retry-After)
 *   after about REDIS_WAIT_TIMEOUT_MS, counted in
 *   tk_redis_wait_timeouts_total; a sold-out refusal is answered at once
 *   meanwhile (no WAIT for refusals); once the replica runs again the same
 *   user's retry gets 200 with the ticket the master granted (fails if the
 *   gateway answered 201 without waiting, or waited for refusals too).
 * - worker: a worker with REDIS_WAIT_REPLICAS=1 writes no MariaDB row while
 *   the replica is frozen, and writes it once the replica runs again (fails
 *   if the worker writes what no replica holds).
 * - off: with REDIS_WAIT_REPLICAS unset (0), claims and their drain send no
 *   WAIT at all (INFO commandstats has no cmdstat_wait).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_claim.h"
#include "tk_opt.h"

#define TIMEOUT_MS 500 /* REDIS_WAIT_TIMEOUT_MS in these tests */

typedef struct {
    it_fix_t f;
    it_proc_t redis[2]; /* master, replica */
    int port[2];
    redisContext *rc[2];
    char dir[512], pw[256], acl[600];
    int frozen; /* the replica is SIGSTOPped: teardown sends SIGCONT */
} fix_t;

/* fork/exec redis-server with @argv, output into @p's log; the child dies with the test. */
static int run(it_proc_t *p, char *const argv[])
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int out = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    p->pid = pid;
    return 0;
}

static redisContext *connect_as_test(const fix_t *x, int port)
{
    struct timeval tv = {2, 0};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (rc == NULL || rc->err) {
        redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    redisReply *rep = redisCommand(rc, "AUTH tk-test %s", x->pw);
    int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!ok) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}

/* Starts node @i (0 master, 1 its replica) and connects to it. 0 or -1. */
static int start_node(fix_t *x, int i, long long deadline)
{
    char port[16], master[16], log[600];
    if ((x->port[i] = it_free_port()) < 0)
        return -1;
    snprintf(port, sizeof port, "%d", x->port[i]);
    snprintf(master, sizeof master, "%d", x->port[0]);
    snprintf(log, sizeof log, "%s/redis-%d.log", x->dir, x->port[i]);
    snprintf(x->redis[i].name, sizeof x->redis[i].name, "redis-wait-%d", x->port[i]);
    snprintf(x->redis[i].log_path, sizeof x->redis[i].log_path, "%s", log);
    char *argv[] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", x->dir, "--dbfilename",
                    i == 0 ? "master.rdb" : "replica.rdb", "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--aclfile", x->acl, "--masteruser", "tk-test", "--masterauth", x->pw,
                    i == 1 ? "--replicaof" : NULL, "127.0.0.1", master, NULL};
    if (run(&x->redis[i], argv) != 0)
        return -1;
    while ((x->rc[i] = connect_as_test(x, x->port[i])) == NULL) {
        if (it_now_ms() > deadline || !it_proc_alive(&x->redis[i])) {
            fprintf(stderr, "it_wait: redis-server on %d did not start\n", x->port[i]);
            it_proc_log_tail(&x->redis[i], 20);
            return -1;
        }
        it_sleep_ms(50);
    }
    return 0;
}

/* 1 when the master counts one replica online and the replica's link is up. */
static int replica_online(fix_t *x)
{
    redisReply *m = redisCommand(x->rc[0], "INFO replication");
    redisReply *r = redisCommand(x->rc[1], "INFO replication");
    int ok = m != NULL && m->type == REDIS_REPLY_STRING && strstr(m->str, "connected_slaves:1") != NULL &&
             strstr(m->str, "state=online") != NULL && r != NULL && r->type == REDIS_REPLY_STRING &&
             strstr(r->str, "master_link_status:up") != NULL;
    freeReplyObject(m);
    freeReplyObject(r);
    return ok;
}

static void stop_nodes(fix_t *x)
{
    if (x->frozen)
        it_proc_signal(&x->redis[1], SIGCONT);
    for (int i = 1; i >= 0; i--) {
        if (x->rc[i] != NULL)
            redisFree(x->rc[i]);
        x->rc[i] = NULL;
        it_proc_stop(&x->redis[i], 10000);
    }
}

/* The master and its replica, then the suite's fixture (a gateway on the master, @replicas in its environment: NULL unset). */
static int setup_with(void **st, const char *replicas)
{
    const it_env_t *env = it_env();
    fix_t *x = calloc(1, sizeof(*x));
    if (env == NULL || x == NULL) {
        free(x);
        return -1;
    }
    static int seq;
    char path[600], err[300], port[16];
    snprintf(x->dir, sizeof x->dir, "%s/wait-%d-%d", env->it_dir, (int)getpid(), ++seq);
    snprintf(x->acl, sizeof x->acl, "%s/redis/users.acl", env->it_dir);
    snprintf(path, sizeof path, "%s/secrets/redis_test", env->it_dir);
    if ((mkdir(x->dir, 0700) != 0 && errno != EEXIST) || tk_read_secret(path, x->pw, sizeof x->pw, err, sizeof err) != 0) {
        fprintf(stderr, "it_wait: set-up of %s failed\n", x->dir);
        free(x);
        return -1;
    }
    long long deadline = it_now_ms() + 30000;
    if (start_node(x, 0, deadline) != 0 || start_node(x, 1, deadline) != 0)
        goto fail;
    while (!replica_online(x)) {
        if (it_now_ms() > deadline) {
            fprintf(stderr, "it_wait: the replica did not come online\n");
            it_proc_log_tail(&x->redis[1], 20);
            goto fail;
        }
        it_sleep_ms(50);
    }
    snprintf(port, sizeof port, "%d", x->port[0]);
    setenv("IT_GW_REDIS_PORT", port, 1);
    setenv("IT_WK_REDIS_PORT", port, 1);
    setenv("REDIS_WAIT_TIMEOUT_MS", "500", 1);
    setenv("WORKER_CLAIM_IDLE_MS", "1000", 1); /* entries left pending come back sooner */
    if (replicas != NULL)
        setenv("REDIS_WAIT_REPLICAS", replicas, 1);
    else
        unsetenv("REDIS_WAIT_REPLICAS");
    if (it_fix_setup(&x->f, 0) != 0)
        goto fail;
    *st = x;
    return 0;
fail:
    stop_nodes(x);
    free(x);
    return -1;
}

static int setup_wait1(void **st)
{
    return setup_with(st, "1");
}

static int setup_off(void **st)
{
    return setup_with(st, NULL);
}

static int teardown(void **st)
{
    fix_t *x = *st;
    int rc = it_fix_teardown(&x->f);
    stop_nodes(x);
    unsetenv("IT_GW_REDIS_PORT");
    unsetenv("IT_WK_REDIS_PORT");
    unsetenv("REDIS_WAIT_REPLICAS");
    unsetenv("REDIS_WAIT_TIMEOUT_MS");
    unsetenv("WORKER_CLAIM_IDLE_MS");
    free(x);
    return rc;
}

/* HEXISTS tk:{@ev}:claims @user on node @i: 1, 0, or -1. */
static long long has_claim(fix_t *x, int i, const char *ev, const char *user)
{
    redisReply *r = redisCommand(x->rc[i], "HEXISTS tk:{%s}:claims %s", ev, user);
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* The ticket of @user's claim record on the master, or -1. */
static long long master_ticket(fix_t *x, const char *ev, const char *user)
{
    redisReply *r = redisCommand(x->rc[0], "HGET tk:{%s}:claims %s", ev, user);
    tk_claim_t c;
    long long t = r != NULL && r->type == REDIS_REPLY_STRING && tk_claim_decode(r->str, r->len, &c) == 0 ? (long long)c.ticket : -1;
    freeReplyObject(r);
    return t;
}

static void freeze(fix_t *x, int on)
{
    assert_int_equal(it_proc_signal(&x->redis[1], on ? SIGSTOP : SIGCONT), 0);
    x->frozen = on;
}

/* Claims answered 201 are on the replica when the answer arrives. */
static void replicated_claims_are_201(void **st)
{
    fix_t *x = *st;
    char ev[64];
    it_new_event(&x->f, ev, sizeof ev, "wrep", 5, 1);
    const char *users[] = {"u1", "u2", "u3"};
    for (int i = 0; i < 3; i++) {
        it_claim_expect(&x->f, ev, users[i], 1, 201);
        assert_int_equal(has_claim(x, 1, ev, users[i]), 1); /* WAIT said so before the answer went out */
    }
    it_claim_expect(&x->f, ev, "u1", 1, 200); /* an existing claim waits too, and is answered */
    assert_true(it_metric(&x->f, "tk_redis_waits_total") >= 4);
    assert_int_equal(it_metric(&x->f, "tk_redis_wait_timeouts_total"), 0);
    assert_true(it_redis_cmd_calls(x->rc[0], "wait") >= 4);
}

/* A frozen replica: 503 after the timeout, refusals at once, then the grant is found again. */
static void frozen_replica_503_then_same_ticket(void **st)
{
    fix_t *x = *st;
    char ev[64], sold[64];
    it_new_event(&x->f, ev, sizeof ev, "wfrz", 5, 1);
    it_new_event(&x->f, sold, sizeof sold, "wsold", 1, 1);
    it_claim_expect(&x->f, sold, "first", 1, 201);
    long long waits0 = it_redis_cmd_calls(x->rc[0], "wait");

    freeze(x, 1);
    it_resp_t r;
    long long t0 = it_now_ms();
    long status = it_claim(&r, &x->f, ev, "alice", 1);
    long long took = it_now_ms() - t0;
    if (status != 503)
        it_show("claim with the replica frozen", &r);
    assert_int_equal(status, 503);
    assert_non_null(strstr(r.body, "\"unavailable\""));
    assert_int_equal(r.retry_after_n, 1);
    it_resp_free(&r);
    fprintf(stderr, "it_wait: 503 after %lld ms (REDIS_WAIT_TIMEOUT_MS %d)\n", took, TIMEOUT_MS);
    assert_true(took >= TIMEOUT_MS - 50);
    assert_true(took < TIMEOUT_MS + 2000);
    assert_int_equal(it_metric(&x->f, "tk_redis_wait_timeouts_total"), 1);
    assert_int_equal(has_claim(x, 0, ev, "alice"), 1); /* granted on the master, only not replicated */
    long long ticket = master_ticket(x, ev, "alice");
    assert_true(ticket > 0);

    /* Refusals only: answered at once, no WAIT. */
    t0 = it_now_ms();
    status = it_claim(&r, &x->f, sold, "late", 1);
    took = it_now_ms() - t0;
    if (status != 409)
        it_show("sold-out claim with the replica frozen", &r);
    assert_int_equal(status, 409);
    assert_non_null(strstr(r.body, "sold_out"));
    it_resp_free(&r);
    fprintf(stderr, "it_wait: sold_out after %lld ms\n", took);
    assert_true(took < TIMEOUT_MS / 2);
    assert_int_equal(it_redis_cmd_calls(x->rc[0], "wait"), waits0 + 1); /* alice's only */

    freeze(x, 0);
    long long deadline = it_now_ms() + 10000;
    while (has_claim(x, 1, ev, "alice") != 1 && it_now_ms() < deadline)
        it_sleep_ms(20);
    assert_int_equal(has_claim(x, 1, ev, "alice"), 1);
    status = it_claim(&r, &x->f, ev, "alice", 1);
    if (status != 200)
        it_show("retry after the replica came back", &r);
    assert_int_equal(status, 200);
    assert_non_null(r.json);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ticket")), ticket);
    it_resp_free(&r);
    assert_int_equal(it_api_remaining(&x->f, ev), 4); /* one unit: the retry granted nothing more */
}

/* A worker with REDIS_WAIT_REPLICAS=1 writes MariaDB only what a replica holds. */
static void worker_writes_only_replicated(void **st)
{
    fix_t *x = *st;
    char ev[64];
    it_new_event(&x->f, ev, sizeof ev, "wwk", 5, 1);
    /* The gateway of this fixture waits too, so the claim is made while the replica runs... */
    it_claim_expect(&x->f, ev, "bob", 1, 201);
    /* ...then the replica freezes before the worker starts: the entry is on the replica, but its delivery
     * (XREADGROUP's write) cannot be, and the worker's WAIT covers that delivery. */
    freeze(x, 1);
    assert_int_equal(it_fix_add_worker(&x->f, "wk-wait"), 0);
    it_sleep_ms(3000);
    long long rows = it_db_int(x->f.db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev);
    assert_int_equal(rows, 0);
    assert_true(it_proc_alive(&x->f.workers[0]));
    freeze(x, 0);
    long long deadline = it_now_ms() + 20000;
    while ((rows = it_db_int(x->f.db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev)) != 1 && it_now_ms() < deadline)
        it_sleep_ms(200);
    assert_int_equal(rows, 1);
    it_resp_t r;
    assert_int_equal(it_api_wait_drained(&r, &x->f, ev, 20000), 0);
    it_resp_free(&r);
}

/* REDIS_WAIT_REPLICAS unset: no WAIT from the gateway nor the worker. */
static void off_sends_no_wait(void **st)
{
    fix_t *x = *st;
    char ev[64];
    it_new_event(&x->f, ev, sizeof ev, "woff", 5, 1);
    assert_int_equal(it_fix_add_worker(&x->f, "wk-off"), 0);
    it_claim_expect(&x->f, ev, "carol", 1, 201);
    it_claim_expect(&x->f, ev, "carol", 1, 200);
    it_resp_t r;
    assert_int_equal(it_api_wait_drained(&r, &x->f, ev, 20000), 0);
    it_resp_free(&r);
    assert_int_equal(it_db_int(x->f.db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 1);
    assert_int_equal(it_redis_cmd_calls(x->rc[0], "wait"), 0);
    assert_int_equal(it_metric(&x->f, "tk_redis_waits_total"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(replicated_claims_are_201, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(frozen_replica_503_then_same_ticket, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(worker_writes_only_replicated, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(off_sends_no_wait, setup_off, teardown),
    };
    return cmocka_run_group_tests(tests, it_group_setup, NULL);
}
