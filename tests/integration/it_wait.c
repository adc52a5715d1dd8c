/*
 * it_wait: "acknowledged means replicated" (REDIS_WAIT_REPLICAS, issue 15
 * item 4; common/tk_wait.h, gateway/claims/gw_batch_wait.c, worker/wk_read.c).
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
 * - retry elsewhere: a grant made on another connection (another gateway)
 *   and not replicated; the retry here finds it ('E') and is answered 503
 *   after the timeout, then 200 with that ticket once the replica runs
 *   (fails if an 'E' is answered without a WAIT covering that grant).
 * - off: with REDIS_WAIT_REPLICAS unset (0), claims and their drain send no
 *   WAIT at all (INFO commandstats has no cmdstat_wait).
 * - coalescing (gateway/claims/gw_batch_wait.c; one gateway loop thread, a
 *   burst on one HTTP/2 connection): 240 claims over 24 events make dozens
 *   of batches, all 201 and on the replica, covered by a third as many
 *   WAITs or fewer (fails with one WAIT per batch: as many as batches);
 *   with the replica frozen, 8 batches are answered 503 by fewer than half
 *   as many WAIT timeouts (one WAIT per batch: 8, one after another, ~4 s),
 *   and each user's retry then finds the master's ticket.
 * - stopped with a WAIT outstanding: the held batches are answered and
 *   freed at shutdown, the gateway exits 0 under the sanitizers (fails on a
 *   use after free when the WAIT's record is freed with the batches); and
 *   with claim scripts outstanding on a frozen master (failed before
 *   gw_batcher_free: the batcher was freed before their callbacks ran).
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_h2.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_claim.h"
#include "tk_keys.h"
#include "tk_lua.h"
#include "tk_opt.h"
#include "tk_time.h"

#define TIMEOUT_MS 500 /* REDIS_WAIT_TIMEOUT_MS in these tests */

typedef struct {
    it_fix_t f;
    it_proc_t redis[2]; /* master, replica */
    int port[2];
    redisContext *rc[2];
    char dir[512], pw[256], acl[600];
    int frozen; /* the replica is SIGSTOPped: teardown sends SIGCONT */
} fix_t;

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
    if ((x->redis[i].pid = it_proc_run(argv, log)) < 0)
        return -1;
    while ((x->rc[i] = it_redis_connect_port(x->port[i], x->pw)) == NULL) {
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
    setenv("REDIS_WAIT_TIMEOUT_MS", getenv("GW_SHUTDOWN_TIMEOUT_MS") != NULL ? "2000" : "500", 1); /* see setup_wait1_quick_stop */
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

/* One gateway loop thread: a burst is read, batched and answered by one loop, one Redis connection. */
static int setup_wait1_one_thread(void **st)
{
    setenv("GW_THREADS", "1", 1);
    return setup_with(st, "1");
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
    unsetenv("GW_THREADS");
    unsetenv("GW_SHUTDOWN_TIMEOUT_MS");
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

/* 1 when the replica has acknowledged every write the master made so far
 * (its offset in the master's INFO equals master_repl_offset). A replica
 * acknowledges once a second, so a freeze right after a write can leave it
 * unacknowledged though received; a test that wants "only what comes next
 * is unreplicated" waits for this first. */
static int replica_acked_all(fix_t *x)
{
    redisReply *m = redisCommand(x->rc[0], "INFO replication");
    long long master = -1, ack = -2;
    if (m != NULL && m->type == REDIS_REPLY_STRING) {
        const char *p = strstr(m->str, "master_repl_offset:");
        if (p != NULL)
            master = atoll(p + strlen("master_repl_offset:"));
        const char *s = strstr(m->str, "slave0:");
        const char *o = s != NULL ? strstr(s, "offset=") : NULL;
        if (o != NULL)
            ack = atoll(o + strlen("offset="));
    }
    freeReplyObject(m);
    return master >= 0 && ack == master;
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

#define BURST_EVENTS 24
#define BURST_USERS 10 /* per event */
#define BURST (BURST_EVENTS * BURST_USERS)

/*
 * @n claims at once on one HTTP/2 connection (written back to back, so the
 * gateway reads many in one loop turn): request i is user "<prefix>-i" on
 * event evs[i % nev], one unit. Statuses in reqs[i].status, bodies kept
 * (it_h2_free_bodies). Returns how many were answered within @deadline_ms;
 * the connection is closed, or left open in *@keep when @keep is not NULL.
 */
static size_t burst_for(fix_t *x, char (*evs)[64], int nev, const char *prefix, it_h2_req_t *reqs, char (*paths)[128],
                        char (*bodies)[96], char (*auth)[IT_AUTH_LINE_MAX], int n, int deadline_ms, it_h2_t **keep)
{
    for (int i = 0; i < n; i++) {
        char user[32];
        snprintf(user, sizeof user, "%s-%d", prefix, i);
        snprintf(paths[i], sizeof paths[i], "/v1/events/%s/claims", evs[i % nev]);
        snprintf(bodies[i], sizeof bodies[i], "{\"user_id\":\"%s\",\"quantity\":1}", user);
        assert_non_null(it_api_user_header(&x->f, user, auth[i]));
        reqs[i] = (it_h2_req_t){.method = "POST", .path = paths[i], .body = bodies[i], .auth_line = auth[i]};
    }
    it_h2_t *c = it_h2_connect(x->f.gw.http_port);
    assert_non_null(c);
    size_t got = it_h2_run(&c, 1, reqs, (size_t)n, n, 0, 1, deadline_ms, NULL, NULL);
    if (keep != NULL)
        *keep = c;
    else
        it_h2_close(c);
    return got;
}

static void burst(fix_t *x, char (*evs)[64], int nev, const char *prefix, it_h2_req_t *reqs, char (*paths)[128], char (*bodies)[96],
                  char (*auth)[IT_AUTH_LINE_MAX], int n)
{
    assert_int_equal(burst_for(x, evs, nev, prefix, reqs, paths, bodies, auth, n, 30000, NULL), (size_t)n);
}

/*
 * Coalescing: a burst over many events through one loop thread makes one
 * claim batch per event per turn, and all of them acknowledge a grant; one
 * WAIT per connection per loop turn covers them, so the WAITs sent are
 * clearly fewer than those batches (one WAIT per batch: as many), every
 * batch is covered by one (tk_redis_wait_batches_total), every claim is
 * 201 and on the replica when answered.
 */
static void one_wait_covers_many_batches(void **st)
{
    fix_t *x = *st;
    static char evs[BURST_EVENTS][64], paths[BURST][128], bodies[BURST][96], auth[BURST][IT_AUTH_LINE_MAX];
    static it_h2_req_t reqs[BURST];
    for (int e = 0; e < BURST_EVENTS; e++)
        it_new_event(&x->f, evs[e], sizeof evs[e], "wco", BURST_USERS, 1);
    long long waits0 = it_metric(&x->f, "tk_redis_waits_total"), covered0 = it_metric(&x->f, "tk_redis_wait_batches_total");
    long long batches0 = it_metric(&x->f, "tk_claim_batches_total"), redis_waits0 = it_redis_cmd_calls(x->rc[0], "wait");
    burst(x, evs, BURST_EVENTS, "co", reqs, paths, bodies, auth, BURST);
    for (int i = 0; i < BURST; i++) {
        if (reqs[i].status != 201)
            fprintf(stderr, "it_wait: claim %d: %d %s\n", i, reqs[i].status, reqs[i].resp != NULL ? reqs[i].resp : "");
        assert_int_equal(reqs[i].status, 201);
    }
    it_h2_free_bodies(reqs, BURST);
    for (int i = 0; i < BURST; i++) {
        char user[32];
        snprintf(user, sizeof user, "co-%d", i);
        assert_int_equal(has_claim(x, 1, evs[i % BURST_EVENTS], user), 1);
    }
    long long waits = it_metric(&x->f, "tk_redis_waits_total") - waits0;
    long long covered = it_metric(&x->f, "tk_redis_wait_batches_total") - covered0;
    long long batches = it_metric(&x->f, "tk_claim_batches_total") - batches0;
    fprintf(stderr, "it_wait: %d claims over %d events: %lld batches, %lld WAITs covering %lld batches\n", BURST, BURST_EVENTS, batches,
            waits, covered);
    assert_true(batches >= BURST_EVENTS); /* at least one per event */
    assert_int_equal(covered, batches);   /* every batch granted, every one covered by a WAIT */
    assert_true(waits >= 1);
    assert_true(waits * 3 <= batches); /* one WAIT per batch would make them equal */
    assert_int_equal(it_redis_cmd_calls(x->rc[0], "wait") - redis_waits0, waits);
    assert_int_equal(it_metric(&x->f, "tk_redis_wait_timeouts_total"), 0);
}

#define FROZEN_EVENTS 8

/*
 * A frozen replica with a burst over several events: one WAIT's timeout
 * answers several batches, each claim 503 (not yet held by a replica),
 * the WAITs (and their timeouts) fewer than the batches; once the replica
 * runs again, each user's retry gets 200 with the ticket the master
 * granted, and nothing more was granted.
 */
static void frozen_one_wait_answers_many(void **st)
{
    fix_t *x = *st;
    static char evs[FROZEN_EVENTS][64], paths[FROZEN_EVENTS][128], bodies[FROZEN_EVENTS][96], auth[FROZEN_EVENTS][IT_AUTH_LINE_MAX];
    static it_h2_req_t reqs[FROZEN_EVENTS];
    for (int e = 0; e < FROZEN_EVENTS; e++)
        it_new_event(&x->f, evs[e], sizeof evs[e], "wfg", 3, 1);
    long long waits0 = it_metric(&x->f, "tk_redis_waits_total"), covered0 = it_metric(&x->f, "tk_redis_wait_batches_total");
    long long batches0 = it_metric(&x->f, "tk_claim_batches_total");
    freeze(x, 1);
    long long t0 = it_now_ms();
    burst(x, evs, FROZEN_EVENTS, "fg", reqs, paths, bodies, auth, FROZEN_EVENTS);
    long long took = it_now_ms() - t0;
    for (int i = 0; i < FROZEN_EVENTS; i++) {
        if (reqs[i].status != 503)
            fprintf(stderr, "it_wait: claim %d: %d %s\n", i, reqs[i].status, reqs[i].resp != NULL ? reqs[i].resp : "");
        assert_int_equal(reqs[i].status, 503);
        assert_non_null(strstr(reqs[i].resp, "not yet held by a Redis replica"));
    }
    it_h2_free_bodies(reqs, FROZEN_EVENTS);
    long long waits = it_metric(&x->f, "tk_redis_waits_total") - waits0;
    long long covered = it_metric(&x->f, "tk_redis_wait_batches_total") - covered0;
    long long batches = it_metric(&x->f, "tk_claim_batches_total") - batches0;
    long long timeouts = it_metric(&x->f, "tk_redis_wait_timeouts_total");
    fprintf(stderr, "it_wait: frozen: %lld batches, %lld WAITs (%lld timed out) covering %lld, all answered after %lld ms\n", batches,
            waits, timeouts, covered, took);
    assert_int_equal(batches, FROZEN_EVENTS); /* one claim per event */
    assert_int_equal(covered, batches);
    assert_int_equal(timeouts, waits); /* every WAIT timed out */
    assert_true(waits >= 1);
    assert_true(waits * 2 <= batches); /* several batches per WAIT; one WAIT per batch: 8 timeouts */
    assert_true(took >= TIMEOUT_MS - 50);
    long long tickets[FROZEN_EVENTS];
    for (int i = 0; i < FROZEN_EVENTS; i++) {
        char user[32];
        snprintf(user, sizeof user, "fg-%d", i);
        tickets[i] = master_ticket(x, evs[i], user); /* granted on the master, only not replicated */
        assert_true(tickets[i] > 0);
    }

    freeze(x, 0);
    for (int i = 0; i < FROZEN_EVENTS; i++) {
        char user[32];
        snprintf(user, sizeof user, "fg-%d", i);
        long long deadline = it_now_ms() + 10000;
        while (has_claim(x, 1, evs[i], user) != 1 && it_now_ms() < deadline)
            it_sleep_ms(20);
        it_resp_t r;
        long status = it_claim(&r, &x->f, evs[i], user, 1);
        if (status != 200)
            it_show("retry after the replica came back", &r);
        assert_int_equal(status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "ticket")), tickets[i]);
        it_resp_free(&r);
        assert_int_equal(it_api_remaining(&x->f, evs[i]), 2);
    }
}

/* As setup_wait1_one_thread, and a gateway that waits at most 100 ms for its connections when told to stop, and
 * REDIS_WAIT_TIMEOUT_MS 2000 (setup_with): the WAIT is still outstanding when the stop comes. */
static int setup_wait1_quick_stop(void **st)
{
    setenv("GW_SHUTDOWN_TIMEOUT_MS", "100", 1);
    return setup_wait1_one_thread(st);
}

/*
 * Stopped with WAITs outstanding: the replica frozen, claims over four
 * events sent and held (their WAIT blocks for REDIS_WAIT_TIMEOUT_MS), the
 * client keeps its connection open, and the gateway is told to stop: it
 * gives up on its connections after 100 ms, while the WAIT is still
 * outstanding, so the held batches are answered and freed at teardown
 * (gw_batch_wait_destroy) and the WAIT's record when gw_redis drops the
 * connection. The sanitizer build exits non-zero on a leak or a use after
 * free; no claim is answered 201.
 */
static void stop_with_wait_outstanding(void **st)
{
    fix_t *x = *st;
    static char evs[4][64], paths[8][128], bodies[8][96], auth[8][IT_AUTH_LINE_MAX];
    static it_h2_req_t reqs[8];
    for (int e = 0; e < 4; e++)
        it_new_event(&x->f, evs[e], sizeof evs[e], "wstop", 3, 1);
    freeze(x, 1);
    it_h2_t *c = NULL;
    long long t0 = it_now_ms();
    size_t got = burst_for(x, evs, 4, "st", reqs, paths, bodies, auth, 8, 150, &c);
    for (int i = 0; i < 8; i++)
        if (reqs[i].status != 0)
            fprintf(stderr, "it_wait: claim %d answered before the stop: %d %s\n", i, reqs[i].status, reqs[i].resp != NULL ? reqs[i].resp : "");
    if (got != 0)
        it_h2_close(c);
    assert_int_equal(got, 0); /* none answered: held */
    /* The WAIT is outstanding: the master shows the gateway's connection blocked in it (not /metrics: the
     * gateway reads part of it from Redis, on that very connection, behind the WAIT). */
    redisReply *cl = redisCommand(x->rc[0], "CLIENT LIST");
    assert_true(cl != NULL && cl->type == REDIS_REPLY_STRING);
    int blocked = strstr(cl->str, "cmd=wait") != NULL;
    if (!blocked)
        fprintf(stderr, "it_wait: %lld ms after the burst, no WAIT blocked:\n%s\n", it_now_ms() - t0, cl->str);
    freeReplyObject(cl);
    assert_true(blocked);
    assert_int_equal(it_proc_stop(&x->f.gw.proc, 10000), 0); /* 0: no leak, no use after free */
    it_h2_close(c);
    it_h2_free_bodies(reqs, 8);
}

/*
 * Stopped with claim scripts outstanding: the master frozen (SIGSTOP) with
 * claims sent to it, the gateway told to stop; after 100 ms it disposes its
 * thread, and gw_redis_destroy calls the batches' reply callbacks with
 * NULL (503). Exits 0 under the sanitizers; failed before
 * gw_batcher_free (heap-use-after-free in answer_all: the batcher was freed
 * before gw_redis_destroy ran those callbacks).
 */
static void stop_with_script_outstanding(void **st)
{
    fix_t *x = *st;
    static char evs[4][64], paths[8][128], bodies[8][96], auth[8][IT_AUTH_LINE_MAX];
    static it_h2_req_t reqs[8];
    for (int e = 0; e < 4; e++)
        it_new_event(&x->f, evs[e], sizeof evs[e], "wsso", 3, 1);
    assert_int_equal(it_proc_signal(&x->redis[0], SIGSTOP), 0);
    it_h2_t *c = NULL;
    size_t got = burst_for(x, evs, 4, "so", reqs, paths, bodies, auth, 8, 150, &c);
    int rc = it_proc_stop(&x->f.gw.proc, 10000);
    assert_int_equal(it_proc_signal(&x->redis[0], SIGCONT), 0);
    it_h2_close(c);
    it_h2_free_bodies(reqs, 8);
    assert_int_equal(got, 0); /* none answered before the stop: the master held them */
    assert_int_equal(rc, 0);  /* 0: no use after free, no leak */
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

/*
 * A grant made on another Redis connection (a second gateway behind the
 * balancer, or another loop thread of this one) that no replica holds yet:
 * the retry answered here ('E', a script that writes nothing) must wait
 * for the replica too, so its 200 never names a grant a failover would
 * lose. Redis 7.0 answers WAIT for the master's offset as of the
 * connection's last command, read or write (observed: HGET then WAIT
 * blocks while a replica is behind), so the 'E' batch's WAIT covers the
 * other connection's grant. Fails if the gateway answers an 'E' without a
 * WAIT, or on a Redis whose WAIT covers only the connection's own writes.
 * The other gateway's grant is the test's own EVAL of claim.lua on the
 * master, the replica frozen just before it, once it has acknowledged all
 * the rest.
 */
static void retry_elsewhere_waits_for_the_grant(void **st)
{
    fix_t *x = *st;
    char ev[64], k[4][TK_KEY_MAX], now[24];
    it_new_event(&x->f, ev, sizeof ev, "wels", 5, 1);
    static const tk_key_kind_t kinds[4] = {TK_KEY_EV, TK_KEY_CLAIMS, TK_KEY_STREAM, TK_KEY_PRIO};
    for (int i = 0; i < 4; i++)
        tk_key(kinds[i], ev, strlen(ev), k[i]);
    long long deadline = it_now_ms() + 10000;
    while (!replica_acked_all(x) && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_true(replica_acked_all(x)); /* so the gateway's connection wrote nothing the replica has not acknowledged */
    snprintf(now, sizeof now, "%lld", (long long)tk_time_now_ms());

    freeze(x, 1);
    const char *argv[] = {"EVAL", tk_lua_find("claim"), "4", k[0], k[1], k[2], k[3], now, "1", "m", "bob", "1"};
    size_t lens[12];
    for (int i = 0; i < 12; i++)
        lens[i] = strlen(argv[i]);
    redisReply *g = redisCommandArgv(x->rc[0], 12, argv, lens);
    assert_non_null(g);
    assert_int_equal(g->type, REDIS_REPLY_ARRAY);
    assert_int_equal(g->elements, 2);
    assert_string_equal(g->element[0]->str, "N"); /* granted on the master, as another gateway would */
    freeReplyObject(g);
    long long ticket = master_ticket(x, ev, "bob");
    assert_true(ticket > 0);

    it_resp_t r;
    long long t0 = it_now_ms();
    long status = it_claim(&r, &x->f, ev, "bob", 1);
    long long took = it_now_ms() - t0;
    if (status != 503)
        it_show("retry of a grant no replica holds", &r);
    fprintf(stderr, "it_wait: retry elsewhere answered %ld after %lld ms\n", status, took);
    assert_int_equal(status, 503); /* not 200: no replica holds bob's grant */
    it_resp_free(&r);
    assert_true(took >= TIMEOUT_MS - 50);

    freeze(x, 0);
    deadline = it_now_ms() + 10000;
    while (has_claim(x, 1, ev, "bob") != 1 && it_now_ms() < deadline)
        it_sleep_ms(20);
    assert_int_equal(has_claim(x, 1, ev, "bob"), 1);
    status = it_claim(&r, &x->f, ev, "bob", 1);
    if (status != 200)
        it_show("retry once the replica holds it", &r);
    assert_int_equal(status, 200);
    assert_non_null(r.json);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ticket")), ticket);
    it_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(replicated_claims_are_201, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(frozen_replica_503_then_same_ticket, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(worker_writes_only_replicated, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(off_sends_no_wait, setup_off, teardown),
        cmocka_unit_test_setup_teardown(retry_elsewhere_waits_for_the_grant, setup_wait1, teardown),
        cmocka_unit_test_setup_teardown(one_wait_covers_many_batches, setup_wait1_one_thread, teardown),
        cmocka_unit_test_setup_teardown(frozen_one_wait_answers_many, setup_wait1_one_thread, teardown),
        cmocka_unit_test_setup_teardown(stop_with_wait_outstanding, setup_wait1_quick_stop, teardown),
        cmocka_unit_test_setup_teardown(stop_with_script_outstanding, setup_wait1_quick_stop, teardown),
    };
    return cmocka_run_group_tests(tests, it_group_setup, NULL);
}
