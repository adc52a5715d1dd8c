/*
 * it_cluster: the gateway on a real Redis Cluster (REDIS_CLUSTER; a
 * 3-master cluster of lib/it_cluster started per test), issue 15, item 1:
 * - claims for events whose keys live on different masters all go through
 *   (each event's calls routed by its hash tag's slot), with tickets in
 *   order, and /readyz says cluster, 3 masters up, 16384 slots covered;
 * - after the slot of an event is moved to another master (resharding:
 *   IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), claims go on: the old
 *   master answers MOVED, the gateway follows it and updates its map;
 * - during such a move (the keys migrated, the slot still MIGRATING on the
 *   old master), the old master answers ASK and the gateway sends ASKING
 *   then the command to the new one: a status lookup and a claim succeed;
 * - claims keep their arrival order across redirects: one HTTP/2
 *   connection sends claims on one event at a steady pace while the
 *   event's slot is moved to another master and back, key by key, with
 *   claims in flight (MOVED, ASK, TRYAGAIN and its delayed retries); the
 *   tickets rise in the order the gateway received the claims
 *   (the order argument before pump in gateway/gw_redis.c).
 * - a master fails and its replica takes over: the gateway notices (the
 *   lost connection, then the map's refresh), connects to the new master
 *   (which loads the scripts) and claims go on, on its events and the
 *   others'.
 * - the database threads route by key (gw_dbconn_redis_for): events
 *   created with the admin route on every master, claimed and viewed; and
 *   after every Redis connection is dropped (CLIENT KILL on each master)
 *   the merge (every master's run_id, each event's seq on its own master)
 *   lets the gateway serve from Redis again within 20 s. Both failed
 *   before: the create answered 503 (SADD tk:events sent to the first seed,
 *   MOVED), and the gateway stayed on the fallback (/readyz 503 for 20 s).
 * - with REDIS_WAIT_REPLICAS=1, WAIT goes to the master that ran the
 *   event's claim script (issue 15, item 4): 201 where that master has a replica, 503
 *   where it has none; and a burst through one loop thread pays one WAIT
 *   per master per loop turn, each master's answering only its own
 *   batches.
 * - WAIT goes to the connection that delivered the claim script's reply,
 *   not to the slot map's master: during a migration the script runs on
 *   the importing node (ASK), whose replica is frozen, while the source's
 *   replica is fine; the claim is 503 after the wait timeout, not 201, and
 *   once the replica runs again the retry is 200 with the same ticket.
 *   Failed before (201: the WAIT went to the source, which the map still
 *   names, and which says nothing about those writes).
 * The other tests set their events up directly in the cluster. The
 * single-Redis mode is the rest of the suite.
 * Each test fails without the routing it checks: without ASK handling the
 * lookups and claims during the move are answered 503, without MOVED the
 * claims after it, without slot routing the claims of the events on the
 * other masters.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_cluster.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_h2.h"
#include "lib/it_ops.h"
#include "lib/it_redis.h"
#include "tk_cluster.h"
#include "tk_time.h"

typedef struct {
    it_fix_t f;
    it_cluster_t c;
    int frozen;        /* 1 + the node a test SIGSTOPped (0: none): teardown sends SIGCONT */
    int migrating_to;  /* 1 + the node a test left a slot migrating to (0: none): teardown finishes the move */
    unsigned mig_slot; /* that slot */
} fix_t;

static int setup(void **st)
{
    fix_t *x = calloc(1, sizeof(*x));
    if (x == NULL || it_cluster_start(&x->c, 30000) != 0) {
        free(x);
        return -1;
    }
    setenv("REDIS_CLUSTER", x->c.seeds, 1); /* the gateway runs as tk-gateway (lib/it_proc.c), as on the single Redis */
    if (it_fix_setup(&x->f, 0) != 0) {
        it_cluster_stop(&x->c);
        free(x);
        return -1;
    }
    *st = x;
    return 0;
}

static int teardown(void **st)
{
    fix_t *x = *st;
    if (x->frozen > 0)
        it_proc_signal(&x->c.proc[x->frozen - 1], SIGCONT);
    if (x->migrating_to > 0 && it_cluster_finish(&x->c, x->mig_slot, x->migrating_to - 1) != 0)
        fprintf(stderr, "it_cluster: slot %u not given back a single owner\n", x->mig_slot);
    int rc = it_fix_teardown(&x->f);
    it_cluster_stop(&x->c);
    unsetenv("REDIS_CLUSTER");
    free(x);
    return rc;
}

static void must_ok(redisReply *rep)
{
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "redis: %s\n", rep != NULL ? rep->str : "no reply");
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
}

/*
 * An open event @ev with @stock units, one per user, as admin_create.lua
 * would leave it, on the master of its slot. tk:{E}:prio gets a member that
 * is no user: every key of claim.lua then exists, which a claim during a
 * migration needs (the importing node answers a multi-key call with a key
 * missing TRYAGAIN; docs/DESIGN.md).
 */
static void make_event(it_cluster_t *c, const char *ev, int stock)
{
    char key[96], q[96], prio[96];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    snprintf(prio, sizeof prio, "tk:{%s}:prio", ev);
    must_ok(it_cluster_cmd(c, key,
                           "HSET %s name %s state open total %d remaining %d maxpu 1 opens 0 closes 0 seq 0 created %lld "
                           "stock_ver 0 state_ver 0 ver 1",
                           key, ev, stock, stock, (long long)tk_time_now_ms()));
    must_ok(it_cluster_cmd(c, q, "XGROUP CREATE %s wk 0 MKSTREAM", q));
    must_ok(it_cluster_cmd(c, prio, "SADD %s -", prio));
    must_ok(it_cluster_cmd(c, "tk:events", "SADD tk:events %s", ev));
}

static long long ev_field(it_cluster_t *c, const char *ev, const char *field)
{
    char key[96];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    redisReply *rep = it_cluster_cmd(c, key, "HGET %s %s", key, field);
    long long v = rep != NULL && rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : -1;
    freeReplyObject(rep);
    return v;
}

/* A claim of @user that must be 201 with @ticket. */
static void claim_ticket(const it_fix_t *f, const char *ev, const char *user, long long ticket)
{
    it_resp_t r;
    long status = it_claim(&r, f, ev, user, 1);
    if (status != 201 || it_json_int(r.json, "ticket") != ticket)
        it_show("claim", &r);
    assert_int_equal(status, 201);
    assert_int_equal(it_json_int(r.json, "ticket"), ticket);
    it_resp_free(&r);
}

/* GET the claim of @user: must be 200 (read with lua/watermark.lua, three keys of one hash tag). */
static void status_ok(const it_fix_t *f, const char *ev, const char *user)
{
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/%s", ev, user), 0);
    if (r.status != 200)
        it_show("status", &r);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

static unsigned ev_slot(const char *ev)
{
    char key[96];
    int n = snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    return tk_key_slot(key, (size_t)n);
}

/* ------------------------------------------------ claims on every master */

static void claims_across_masters(void **st)
{
    fix_t *x = *st;
    /* Event ids until each master serves one (the slots spread over all three). */
    char ev[IT_CLUSTER_NODES][32];
    int found = 0, owners[IT_CLUSTER_NODES] = {0};
    for (int i = 0; i < 200 && found < IT_CLUSTER_NODES; i++) {
        char id[32], key[96];
        snprintf(id, sizeof id, "cl-%d", i);
        snprintf(key, sizeof key, "tk:{%s}:ev", id);
        int o = it_cluster_owner(&x->c, key);
        assert_true(o >= 0);
        if (!owners[o]) {
            owners[o] = 1;
            snprintf(ev[found++], sizeof ev[0], "%s", id);
        }
    }
    assert_int_equal(found, IT_CLUSTER_NODES);
    for (int e = 0; e < found; e++)
        make_event(&x->c, ev[e], 5);
    /* Interleaved, so every master's connection carries calls at once. */
    for (int u = 1; u <= 3; u++) {
        for (int e = 0; e < found; e++) {
            char user[32];
            snprintf(user, sizeof user, "u%d", u);
            claim_ticket(&x->f, ev[e], user, u);
        }
    }
    for (int e = 0; e < found; e++) {
        assert_int_equal(ev_field(&x->c, ev[e], "remaining"), 2);
        assert_int_equal(ev_field(&x->c, ev[e], "seq"), 3);
        status_ok(&x->f, ev[e], "u2");
    }
    it_resp_t r;
    assert_int_equal(it_api(&r, &x->f, IT_HTTP1, IT_NO_AUTH, "GET", "/readyz", NULL), 0);
    if (r.body == NULL || strstr(r.body, "\"redis_mode\":\"cluster\",\"masters\":3,\"masters_up\":3,\"slots_covered\":16384") == NULL)
        it_show("readyz", &r);
    assert_non_null(r.body);
    assert_non_null(strstr(r.body, "\"redis_mode\":\"cluster\",\"masters\":3,\"masters_up\":3,\"slots_covered\":16384"));
    it_resp_free(&r);
}

/* ------------------------------------------------------------- MOVED */

static void moved_after_resharding(void **st)
{
    fix_t *x = *st;
    const char *ev = "cl-moved";
    char key[96];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    make_event(&x->c, ev, 10);
    claim_ticket(&x->f, ev, "u1", 1);
    int from = it_cluster_owner(&x->c, key), to = (from + 1) % IT_CLUSTER_NODES;
    assert_true(from >= 0);
    assert_int_equal(it_cluster_migrate(&x->c, ev_slot(ev), from, to, 1), 0);
    assert_int_equal(it_cluster_owner(&x->c, key), to);
    /* The gateway still sends the slot to @from, which answers MOVED. */
    claim_ticket(&x->f, ev, "u2", 2);
    claim_ticket(&x->f, ev, "u3", 3);
    status_ok(&x->f, ev, "u1");
    assert_int_equal(ev_field(&x->c, ev, "remaining"), 7);
    assert_int_equal(ev_field(&x->c, ev, "seq"), 3);
}

/* --------------------------------------------------------------- ASK */

static void ask_during_migration(void **st)
{
    fix_t *x = *st;
    const char *ev = "cl-ask";
    char key[96];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    make_event(&x->c, ev, 10);
    claim_ticket(&x->f, ev, "u1", 1); /* the claims hash exists from here: every key of claim.lua does */
    int from = it_cluster_owner(&x->c, key), to = (from + 1) % IT_CLUSTER_NODES;
    assert_true(from >= 0);
    unsigned slot = ev_slot(ev);
    assert_int_equal(it_cluster_migrate(&x->c, slot, from, to, 0), 0);
    /* Half-way: @from still owns the slot and answers ASK for the keys it no longer has. */
    redisReply *rep = redisCommand(x->c.rc[from], "HGET %s seq", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ERROR);
    assert_memory_equal(rep->str, "ASK ", 4);
    freeReplyObject(rep);
    status_ok(&x->f, ev, "u1");
    claim_ticket(&x->f, ev, "u2", 2);
    claim_ticket(&x->f, ev, "u3", 3);
    assert_int_equal(it_cluster_finish(&x->c, slot, to), 0);
    claim_ticket(&x->f, ev, "u4", 4);
    assert_int_equal(ev_field(&x->c, ev, "remaining"), 6);
}

/* ------------------------------------------------------------ failover */

/* An event id "@prefix-N" whose slot node @node serves, into @out (32 bytes). */
static void event_on(it_cluster_t *c, const char *prefix, int node, char *out)
{
    for (int i = 0; i < 500; i++) {
        char key[96];
        snprintf(out, 32, "%s-%d", prefix, i);
        snprintf(key, sizeof key, "tk:{%s}:ev", out);
        if (it_cluster_owner(c, key) == node)
            return;
    }
    fail_msg("no event id of %s on node %d", prefix, node);
}

static void failover_to_replica(void **st)
{
    fix_t *x = *st;
    /* e0 on node 0 (the first seed: once the only master the database threads' connection and the merge
     * read; they route by key now, and the choice stays harmless), em on node 1, which gets a replica and
     * then fails. */
    char e0[32], em[32], key[96];
    event_on(&x->c, "fo-a", 0, e0);
    event_on(&x->c, "fo-b", 1, em);
    make_event(&x->c, e0, 10);
    make_event(&x->c, em, 10);
    assert_int_equal(it_cluster_add_replica(&x->c, 1, 20000), 0);
    claim_ticket(&x->f, e0, "u1", 1);
    redisReply *rep = redisCommand(x->c.rc[1], "WAIT 1 2000"); /* the replica has em */
    assert_non_null(rep);
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    it_cluster_kill(&x->c, 1);

    /* The replica is promoted after cluster-node-timeout (3 s); until the gateway's map says so, claims are not
     * granted from Redis. Then em's first claim is ticket 1, from the new master. */
    long long t0 = it_now_ms(), deadline = t0 + 30000;
    long status = 0;
    while (it_now_ms() < deadline) {
        it_resp_t r;
        status = it_claim(&r, &x->f, em, "u1", 1);
        if (status == 201)
            assert_int_equal(it_json_int(r.json, "ticket"), 1);
        it_resp_free(&r);
        if (status == 201)
            break;
        it_sleep_ms(200);
    }
    fprintf(stderr, "claims granted again %lld ms after the master was killed\n", it_now_ms() - t0);
    assert_int_equal(status, 201);
    snprintf(key, sizeof key, "tk:{%s}:ev", em);
    assert_int_equal(it_cluster_owner(&x->c, key), IT_CLUSTER_NODES); /* the replica, now master */
    claim_ticket(&x->f, em, "u2", 2);
    claim_ticket(&x->f, e0, "u2", 2);
    it_resp_t r;
    assert_int_equal(it_api(&r, &x->f, IT_HTTP1, IT_NO_AUTH, "GET", "/readyz", NULL), 0);
    if (r.status != 200 || strstr(r.body, "\"masters\":3,\"masters_up\":3,\"slots_covered\":16384") == NULL)
        it_show("readyz", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"masters\":3,\"masters_up\":3,\"slots_covered\":16384"));
    it_resp_free(&r);
}

/* ------------------------------------------- order across redirects */

typedef struct {
    it_cluster_t *c;
    const char *ev;
    size_t n;
    int moves, failed, started;
    pthread_t thread;
} order_ctx_t;

/*
 * On a thread of its own, so claims keep arriving meanwhile: the event's
 * slot to the next master, key by key 30 ms apart (calls in between meet
 * ASK, then TRYAGAIN on the importing node: the delayed retries), then
 * after 300 ms back to the first.
 */
static void *mover(void *arg)
{
    order_ctx_t *o = arg;
    char key[96];
    snprintf(key, sizeof key, "tk:{%s}:ev", o->ev);
    o->c->migrate_pause_ms = 30;
    for (int m = 0; m < 2; m++) {
        if (m > 0)
            it_sleep_ms(300);
        int from = it_cluster_owner(o->c, key);
        if (from < 0 || it_cluster_migrate(o->c, ev_slot(o->ev), from, (from + 1) % IT_CLUSTER_NODES, 1) != 0)
            o->failed = 1;
        o->moves++;
    }
    o->c->migrate_pause_ms = 0;
    return NULL;
}

/* At a sixth of the run, with claims in flight: the moves start. */
static void move_slot(void *arg, size_t done)
{
    order_ctx_t *o = arg;
    if (done != o->n / 6 || o->started)
        return;
    o->started = pthread_create(&o->thread, NULL, mover, o) == 0;
}

static void redirects_keep_arrival_order(void **st)
{
    fix_t *x = *st;
    /* 2 ms apart: new claims keep arriving during a retry's 50 ms (at 300 us, h2o's 100 streams per
     * connection were all waiting then, and nothing could overtake). */
    enum { N = 1000, GAP_US = 2000, INFLIGHT = 100 };
    const char *ev = "cl-order";
    char path[128];
    make_event(&x->c, ev, N + 1);
    snprintf(path, sizeof path, "/v1/events/%s/claims", ev);
    claim_ticket(&x->f, ev, "o-first", 1); /* every key of claim.lua exists before the moves */
    it_h2_req_t *reqs = calloc(N, sizeof *reqs);
    char(*bodies)[32] = calloc(N, sizeof *bodies);
    char(*auths)[IT_AUTH_LINE_MAX] = calloc(N, sizeof *auths);
    assert_non_null(reqs);
    assert_non_null(bodies);
    assert_non_null(auths);
    for (int i = 0; i < N; i++) {
        char user[16];
        snprintf(user, sizeof user, "o%d", i);
        snprintf(bodies[i], sizeof bodies[i], "{\"user_id\":\"%s\"}", user);
        assert_non_null(it_api_user_header(&x->f, user, auths[i]));
        reqs[i] = (it_h2_req_t){.method = "POST", .path = path, .body = bodies[i], .auth_line = auths[i]};
    }
    it_h2_t *h = it_h2_connect(x->f.gw.http_port);
    assert_non_null(h);
    order_ctx_t o = {.c = &x->c, .ev = ev, .n = N};
    size_t answered = it_h2_run(&h, 1, reqs, N, INFLIGHT, GAP_US, 1, 60000, move_slot, &o);
    it_h2_close(h);
    assert_true(o.started);
    pthread_join(o.thread, NULL);
    assert_int_equal(answered, N);
    assert_int_equal(o.failed, 0);
    assert_int_equal(o.moves, 2);
    int granted = 0, unavailable = 0, other = 0, inversions = 0, shown = 0;
    long long prev = 1;
    for (int i = 0; i < N; i++) {
        const char *t = reqs[i].resp != NULL ? strstr(reqs[i].resp, "\"ticket\":") : NULL;
        long long ticket = t != NULL ? strtoll(t + 9, NULL, 10) : 0;
        if (reqs[i].status != 201 || ticket <= 0) {
            if (shown++ < 10)
                fprintf(stderr, "claim %d: %d %s\n", i, reqs[i].status, reqs[i].resp ? reqs[i].resp : "");
            if (reqs[i].status == 503)
                unavailable++; /* a redirect past its bounds, or a retry that lost its place: not run */
            else
                other++;
            continue;
        }
        granted++;
        if (ticket <= prev && inversions++ < 10)
            fprintf(stderr, "claim %d (received after one granted ticket %lld) got ticket %lld\n", i, prev, ticket);
        if (ticket > prev)
            prev = ticket;
    }
    long long redirects[3] = {0};
    const char *const kinds[] = {"errorstat_MOVED:count=", "errorstat_ASK:count=", "errorstat_TRYAGAIN:count="};
    for (int i = 0; i < x->c.n; i++) {
        redisReply *rep = redisCommand(x->c.rc[i], "INFO errorstats");
        for (int k = 0; k < 3 && rep != NULL && rep->type == REDIS_REPLY_STRING; k++) {
            const char *p = strstr(rep->str, kinds[k]);
            redirects[k] += p != NULL ? strtoll(p + strlen(kinds[k]), NULL, 10) : 0;
        }
        freeReplyObject(rep);
    }
    fprintf(stderr, "%d of %d granted, %d answered 503, %d out of arrival order; the nodes answered MOVED %lld, ASK %lld, TRYAGAIN %lld times\n",
            granted, N, unavailable, inversions, redirects[0], redirects[1], redirects[2]);
    it_h2_free_bodies(reqs, N);
    free(reqs);
    free(bodies);
    free(auths);
    assert_int_equal(inversions, 0);
    assert_int_equal(other, 0);
    /* With the hold (gw_redis.c, "Order in a cluster") none is refused here; without it, later calls run
     * first and the retried ones lose their place: 79 of 1000 answered 503 when tried. */
    assert_true(unavailable <= N / 100);
    assert_true(redirects[0] > 0); /* claims were in flight when the slot moved */
    /* Redis agrees: one ticket per granted claim (and the first one). */
    assert_int_equal(ev_field(&x->c, ev, "seq"), granted + 1);
}


/* ------------------------------------------- the admin routes and the merge */

/* The admin view of @ev (database thread: Redis read on the event's master): status, and "path" into @path. */
static long admin_view(const it_fix_t *f, const char *ev, char *path, size_t plen, long long *remaining)
{
    it_resp_t r;
    path[0] = '\0';
    *remaining = -1;
    if (it_apif(&r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", ev) != 0)
        return 0;
    long status = r.status;
    const char *p = r.json != NULL ? it_json_str(r.json, "path") : NULL;
    snprintf(path, plen, "%s", p != NULL ? p : "(none)");
    json_t *rd = r.json != NULL ? json_object_get(r.json, "redis") : NULL;
    if (rd != NULL && json_is_object(rd))
        *remaining = it_json_int(rd, "remaining");
    it_resp_free(&r);
    return status;
}

/* One event on each master, made with POST /v1/admin/events (admin_create.lua run on the event's master, tk:events
 * SADDed on its own): 201 each, claims granted from Redis, the admin view reads each from its master. */
static void dbconn_admin_create_on_every_master(void **st)
{
    fix_t *x = *st;
    char ev[IT_CLUSTER_NODES][32];
    for (int n = 0; n < IT_CLUSTER_NODES; n++) {
        event_on(&x->c, "adm", n, ev[n]);
        long status = it_api_create_event(&x->f, ev[n], 10, 1, 0, 0);
        if (status != 201)
            fprintf(stderr, "create %s (on master %d): %ld\n", ev[n], n, status);
        assert_int_equal(status, 201);
    }
    for (int u = 1; u <= 2; u++)
        for (int n = 0; n < IT_CLUSTER_NODES; n++) {
            char user[16];
            snprintf(user, sizeof user, "u%d", u);
            claim_ticket(&x->f, ev[n], user, u);
        }
    for (int n = 0; n < IT_CLUSTER_NODES; n++) {
        char path[32];
        long long remaining;
        long status = admin_view(&x->f, ev[n], path, sizeof path, &remaining);
        if (status != 200 || strcmp(path, "redis") != 0 || remaining != 8)
            fprintf(stderr, "admin view of %s (on master %d): %ld path %s remaining %lld\n", ev[n], n, status, path, remaining);
        assert_int_equal(status, 200);
        assert_string_equal(path, "redis");
        assert_int_equal(remaining, 8);
        assert_int_equal(ev_field(&x->c, ev[n], "seq"), 2);
    }
    redisReply *rep = it_cluster_cmd(&x->c, "tk:events", "SCARD tk:events");
    assert_non_null(rep);
    assert_int_equal(rep->integer, IT_CLUSTER_NODES);
    freeReplyObject(rep);
}

/*
 * Every Redis connection dropped (CLIENT KILL TYPE normal on every master)
 * while events on the first and on another master have claims: the gateway
 * goes through its merge (INFO run_id of every master, the events' sequences
 * read on their own masters) and serves from Redis again within 20 s:
 * /readyz 200 on the fast path, the admin view's "path" "redis", claims
 * granted with the next tickets. Before the database threads routed by key,
 * the merge read every event's seq on the first seed, met MOVED, and the
 * gateway stayed on the MariaDB fallback.
 */
static void dbconn_merge_after_connections_dropped(void **st)
{
    fix_t *x = *st;
    char e0[32], e1[32];
    event_on(&x->c, "mg-a", 0, e0);
    event_on(&x->c, "mg-b", 1, e1);
    /* Made in the cluster and in MariaDB alike: the admin route (the other test's subject) would do both, but
     * this one must fail on its own cause. */
    make_event(&x->c, e0, 10);
    make_event(&x->c, e1, 10);
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO events (event_id, name, max_per_user, created_at, updated_at) VALUES "
                                          "('%s', '%s', 1, NOW(3), NOW(3)), ('%s', '%s', 1, NOW(3), NOW(3))",
                                e0, e0, e1, e1), 0);
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO event_stock (event_id, total, sold) VALUES ('%s', 10, 0), ('%s', 10, 0)", e0, e1), 0);
    claim_ticket(&x->f, e0, "u1", 1);
    claim_ticket(&x->f, e1, "u1", 1);
    claim_ticket(&x->f, e1, "u2", 2);
    for (int i = 0; i < IT_CLUSTER_NODES; i++) {
        redisReply *kill = redisCommand(x->c.rc[i], "CLIENT KILL TYPE normal SKIPME yes");
        assert_non_null(kill);
        freeReplyObject(kill);
    }
    long long t0 = it_now_ms(), deadline = t0 + 20000;
    int ready = 0;
    char path[32] = "";
    long long remaining = -1;
    long status = 0, rz = 0;
    it_sleep_ms(500); /* the gateway notices the lost connections */
    while (it_now_ms() < deadline) {
        it_resp_t r;
        rz = it_api(&r, &x->f, IT_HTTP1, IT_NO_AUTH, "GET", "/readyz", NULL) == 0 ? r.status : 0;
        it_resp_free(&r);
        status = admin_view(&x->f, e1, path, sizeof path, &remaining);
        if (rz == 200 && status == 200 && strcmp(path, "redis") == 0) {
            ready = 1;
            break;
        }
        it_sleep_ms(200);
    }
    fprintf(stderr, "after the kill: /readyz %ld, admin view of %s %ld path %s, %lld ms\n", rz, e1, status, path, it_now_ms() - t0);
    assert_true(ready);
    assert_int_equal(remaining, 8);
    claim_ticket(&x->f, e1, "u3", 3);
    claim_ticket(&x->f, e0, "u2", 2);
    assert_int_equal(ev_field(&x->c, e1, "seq"), 3);
}

/* ------------------------------------------------------------ REDIS_WAIT_REPLICAS */

/* The gateway of this fixture waits for one replica (REDIS_WAIT_REPLICAS=1, 300 ms). */
static int setup_wait(void **st)
{
    setenv("REDIS_WAIT_REPLICAS", "1", 1);
    setenv("REDIS_WAIT_TIMEOUT_MS", "300", 1);
    int rc = setup(st);
    unsetenv("REDIS_WAIT_REPLICAS"); /* read by the gateway at its start: the other tests' gateways do not wait */
    unsetenv("REDIS_WAIT_TIMEOUT_MS");
    return rc;
}

/*
 * WAIT goes on the connection the claim script's reply came on (here the
 * master of the event's slot; gw_redis_reply_conn, gw_redis_command_on): node 1 has a replica, node 0 none.
 * A claim on node 1's event is 201 (its replica acknowledged); one on node
 * 0's event is 503 (no replica there to acknowledge: the timeout). Fails
 * if WAIT were routed as a plain command, by its argument "1" (slot 9842,
 * node 1's): node 0's claim would then be answered 201 unreplicated.
 */
static void wait_on_the_events_master(void **st)
{
    fix_t *x = *st;
    char e0[32], e1[32];
    event_on(&x->c, "w-a", 0, e0);
    event_on(&x->c, "w-b", 1, e1);
    make_event(&x->c, e0, 10);
    make_event(&x->c, e1, 10);
    assert_int_equal(it_cluster_add_replica(&x->c, 1, 20000), 0);
    claim_ticket(&x->f, e1, "u1", 1);
    it_resp_t r;
    long status = it_claim(&r, &x->f, e0, "u1", 1);
    if (status != 503)
        it_show("claim on a master without a replica", &r);
    assert_int_equal(status, 503);
    it_resp_free(&r);
    assert_true(it_redis_cmd_calls(x->c.rc[0], "wait") >= 1);
    assert_true(it_redis_cmd_calls(x->c.rc[1], "wait") >= 1);
    assert_int_equal(it_redis_cmd_calls(x->c.rc[2], "wait"), 0);
    assert_int_equal(ev_field(&x->c, e0, "remaining"), 9); /* granted on node 0, only not replicated */
}

static int setup_wait_one_thread(void **st)
{
    setenv("GW_THREADS", "1", 1);
    int rc = setup_wait(st);
    unsetenv("GW_THREADS");
    return rc;
}

#define WG_EVENTS 3 /* per master */
#define WG_USERS 4  /* per event */
#define WG_N (2 * WG_EVENTS * WG_USERS)

/*
 * One WAIT per master per loop turn (gateway/claims/gw_batch_wait.c): a
 * burst on one HTTP/2 connection through one loop thread, over three
 * events on node 1 (a replica) and three on node 0 (none), interleaved.
 * The batches that acknowledged are grouped by the connection their reply
 * came on, and each group's WAIT goes to its own master: every claim
 * on node 1 is 201, every one on node 0 is 503 (its WAIT timed out), and
 * the WAITs are fewer than the batches. Fails if one WAIT answered for
 * batches of two masters (node 0's claims 201 unreplicated, or node 1's
 * 503), or with one WAIT per batch (as many WAITs as batches).
 */
static void one_wait_per_master_per_turn(void **st)
{
    fix_t *x = *st;
    char evs[2 * WG_EVENTS][32];
    for (int e = 0; e < 2 * WG_EVENTS; e++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "wg%d", e);
        event_on(&x->c, prefix, e % 2, evs[e]); /* even: node 0, odd: node 1 */
        make_event(&x->c, evs[e], WG_USERS);
    }
    assert_int_equal(it_cluster_add_replica(&x->c, 1, 20000), 0);
    long long batches0 = it_metric(&x->f, "tk_claim_batches_total");
    static char paths[WG_N][96], bodies[WG_N][96], auth[WG_N][IT_AUTH_LINE_MAX];
    static it_h2_req_t reqs[WG_N];
    for (int i = 0; i < WG_N; i++) {
        char user[32];
        snprintf(user, sizeof user, "wg-%d", i);
        snprintf(paths[i], sizeof paths[i], "/v1/events/%s/claims", evs[i % (2 * WG_EVENTS)]);
        snprintf(bodies[i], sizeof bodies[i], "{\"user_id\":\"%s\",\"quantity\":1}", user);
        assert_non_null(it_api_user_header(&x->f, user, auth[i]));
        reqs[i] = (it_h2_req_t){.method = "POST", .path = paths[i], .body = bodies[i], .auth_line = auth[i]};
    }
    it_h2_t *c = it_h2_connect(x->f.gw.http_port);
    assert_non_null(c);
    assert_int_equal(it_h2_run(&c, 1, reqs, WG_N, WG_N, 0, 1, 30000, NULL, NULL), WG_N);
    it_h2_close(c);
    for (int i = 0; i < WG_N; i++) {
        int want = (i % (2 * WG_EVENTS)) % 2 == 1 ? 201 : 503;
        if (reqs[i].status != want)
            fprintf(stderr, "it_cluster: claim %d on %s: %d %s\n", i, evs[i % (2 * WG_EVENTS)], reqs[i].status,
                    reqs[i].resp != NULL ? reqs[i].resp : "");
        assert_int_equal(reqs[i].status, want);
    }
    it_h2_free_bodies(reqs, WG_N);
    long long waits = it_metric(&x->f, "tk_redis_waits_total"), covered = it_metric(&x->f, "tk_redis_wait_batches_total");
    long long batches = it_metric(&x->f, "tk_claim_batches_total") - batches0;
    fprintf(stderr, "it_cluster: %d claims: %lld batches, %lld WAITs covering %lld (node 0: %lld WAITs, node 1: %lld)\n", WG_N,
            batches, waits, covered, it_redis_cmd_calls(x->c.rc[0], "wait"), it_redis_cmd_calls(x->c.rc[1], "wait"));
    assert_int_equal(covered, batches);
    assert_true(waits < batches);
    assert_true(it_redis_cmd_calls(x->c.rc[0], "wait") >= 1);
    assert_true(it_redis_cmd_calls(x->c.rc[1], "wait") >= 1);
    assert_int_equal(it_redis_cmd_calls(x->c.rc[2], "wait"), 0);
}

/*
 * Edge (a) of gateway/claims/gw_batch_wait.c's former essay: ASK during a
 * slot migration. Both the event's master (the source) and the next one
 * (the target) get a replica. The slot is left half-way (IMPORTING on the
 * target, MIGRATING on the source, every key of the slot MIGRATEd: the
 * event's hash, claims, stream and presale set), so the source answers ASK
 * and the claim script runs on the target. With the target's replica
 * frozen (SIGSTOP) nothing acknowledges those writes: the claim must be
 * 503 `unavailable` after the wait timeout. Fails when the WAIT is routed
 * by the slot map (the source, whose replica acknowledges: 201, with the
 * grant held by no replica); main answered 201 here. Then the replica runs
 * again and the retry is 200 with the same ticket, the grant not repeated.
 */
static void wait_follows_ask_to_the_importing_node(void **st)
{
    fix_t *x = *st;
    char ev[32], key[96];
    event_on(&x->c, "wa", 0, ev);
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    const int from = 0, to = 1;
    make_event(&x->c, ev, 10);
    assert_int_equal(it_cluster_add_replica(&x->c, from, 20000), 0);
    assert_int_equal(it_cluster_add_replica(&x->c, to, 20000), 0);
    int to_replica = it_cluster_replica(&x->c, to);
    assert_true(to_replica >= IT_CLUSTER_NODES);
    claim_ticket(&x->f, ev, "u1", 1); /* on the source, replicated; the claims hash exists from here */

    unsigned slot = ev_slot(ev);
    x->mig_slot = slot;
    x->migrating_to = 1 + to;
    assert_int_equal(it_cluster_migrate(&x->c, slot, from, to, 0), 0);
    redisReply *rep = redisCommand(x->c.rc[from], "CLUSTER GETKEYSINSLOT %u 100", slot);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 0); /* every key of the slot is on the target */
    freeReplyObject(rep);
    rep = redisCommand(x->c.rc[to], "CLUSTER COUNTKEYSINSLOT %u", slot);
    assert_non_null(rep);
    assert_true(rep->integer >= 4); /* ev, claims, q, prio (and whatever else of the tag exists) */
    freeReplyObject(rep);
    rep = redisCommand(x->c.rc[from], "HGET %s seq", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ERROR);
    assert_memory_equal(rep->str, "ASK ", 4);
    freeReplyObject(rep);

    long long waits_to = it_redis_cmd_calls(x->c.rc[to], "wait");
    assert_int_equal(it_proc_signal(&x->c.proc[to_replica], SIGSTOP), 0);
    x->frozen = 1 + to_replica;
    it_resp_t r;
    long long t0 = it_now_ms();
    long status = it_claim(&r, &x->f, ev, "u2", 1);
    long long took = it_now_ms() - t0;
    fprintf(stderr, "it_cluster: claim during the migration, the importing node's replica frozen: %ld after %lld ms\n", status,
            took);
    if (status != 503)
        it_show("claim via ASK with the importing node's replica frozen", &r);
    assert_int_equal(status, 503);
    assert_non_null(r.body);
    assert_non_null(strstr(r.body, "\"unavailable\""));
    it_resp_free(&r);
    assert_true(took >= 300 - 50); /* REDIS_WAIT_TIMEOUT_MS of setup_wait: it waited, it was not refused */
    assert_true(it_redis_cmd_calls(x->c.rc[to], "wait") > waits_to); /* the WAIT went to the node that ran the script */
    rep = redisCommand(x->c.rc[to], "ASKING");
    freeReplyObject(rep);
    rep = redisCommand(x->c.rc[to], "HGET %s seq", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_int_equal(atoll(rep->str), 2); /* granted on the target, ticket 2, only not replicated */
    freeReplyObject(rep);

    assert_int_equal(it_proc_signal(&x->c.proc[to_replica], SIGCONT), 0);
    x->frozen = 0;
    long long deadline = it_now_ms() + 10000;
    do {
        status = it_claim(&r, &x->f, ev, "u2", 1);
        if (status == 200 || it_now_ms() > deadline)
            break;
        it_resp_free(&r);
        it_sleep_ms(200);
    } while (1);
    if (status != 200)
        it_show("retry once the replica runs again", &r);
    assert_int_equal(status, 200);
    assert_int_equal(it_json_int(r.json, "ticket"), 2);
    it_resp_free(&r);
}

int main(void)
{
    if (it_env() == NULL)
        return 1;
    /* Inherited by the gateways: no rate limit in the way of many claims from one address. */
    if (setenv("RATE_IP_PER_S", "0", 1) != 0 || setenv("RATE_USER_PER_S", "0", 1) != 0)
        return 1;
    if (getenv("IT_FILTER") != NULL) /* a cmocka pattern: run only the tests it names (e.g. "dbconn_*") */
        cmocka_set_test_filter(getenv("IT_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(claims_across_masters, setup, teardown),
        cmocka_unit_test_setup_teardown(moved_after_resharding, setup, teardown),
        cmocka_unit_test_setup_teardown(ask_during_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(redirects_keep_arrival_order, setup, teardown),
        cmocka_unit_test_setup_teardown(failover_to_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(dbconn_admin_create_on_every_master, setup, teardown),
        cmocka_unit_test_setup_teardown(dbconn_merge_after_connections_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_on_the_events_master, setup_wait, teardown),
        cmocka_unit_test_setup_teardown(one_wait_per_master_per_turn, setup_wait_one_thread, teardown),
        cmocka_unit_test_setup_teardown(wait_follows_ask_to_the_importing_node, setup_wait, teardown),
    };
    return cmocka_run_group_tests_name("it_cluster", tests, NULL, NULL);
}
