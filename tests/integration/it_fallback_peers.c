/*
 * it_fallback_peers: the lock-table fallback with two gateways on one Redis
 * and one MariaDB (gateway/failover/gw_peers.h): it grants from MariaDB only
 * while no other gateway is alive, and still grants once a gateway is alone.
 *
 * The bug it guards (found by the chaos scenario cluster_failover): both
 * gateways lost Redis and moved to GRANT; the "foreign grants" test sees
 * only grants after a gateway's first watermark, so a quiet event looked
 * single-gateway to both, one of them granted it from MariaDB while the
 * other, back on Redis first, sold the same tickets again.
 *
 * main() sets FALLBACK_AFTER_MS=300 and FALLBACK_GRANTS=1 (inherited by
 * both gateways, lib/it_proc.c). One worker. Gateway A is the fixture's, B
 * a second process on the same stores.
 *
 * two_gateways_stay_read_only_then_one_grants_alone:
 *  1. a quiet event: stock 20, max_per_user 1; q01..q03 claim through A
 *     (201 tickets 1..3), drained; both gateways track it and watermark it
 *     with the stream empty (journals complete); then nothing for 1 s.
 *  2. Redis stopped: both /readyz "grant". o01..o04 through A and p01..p04
 *     through B, twice each: every answer 503 unavailable (on main: A or B
 *     takes the event's lock and answers 201 from MariaDB — the test fails
 *     here); q01 through B: 200 ticket 1 (read-only answers stay exact).
 *     MariaDB: still 3 rows, ticket_hwm 3; tk_fallback_grants_total 0 on
 *     both, tk_fallback_peer_refusals_total > 0 on both.
 *  3. Redis started: both ready on the fast path; r01..r06 through A and B
 *     in turn: 201 tickets 4..9, all different; drained, the books agree
 *     (MariaDB 9 confirmed rows, tickets unique, sold 9, ticket_hwm 9;
 *     Redis seq 9, remaining 11).
 *  4. B killed (SIGKILL: its beat row stays). A second event E2 (stock 20)
 *     claimed through A only (t01: 201 ticket 1), drained, watermarked by A
 *     alone for 1 s with the stream empty (E is no good here: B's grants of
 *     step 3 are foreign to A's journal, which keeps E read-only in A's
 *     fallback until its next merge). Redis stopped: A "grant"; once
 *     GW_PEER_ALIVE_MS (3 s) passed since the kill, s01 on E2 through A:
 *     201 ticket 2, confirmed, from MariaDB (the single-gateway fallback
 *     still works); tk_fallback_grants_total 1.
 *  5. Redis started: A ready; s02 on E2: 201 ticket 3, s03 on E: 201 ticket
 *     10; drained, the books of both agree (3 and 10 rows, unique tickets).
 *
 * empty_redis_under_two_gateways_keeps_every_grant: Redis back empty while
 * one gateway's grants are undrained: the other rebuilds nothing before the
 * first wrote them to MariaDB (its comment has the steps).
 *
 * The other tests say what they show above their bodies (a peer frozen past
 * the window, slow beats, Redis resynced, windows that differ, ...).
 *
 * Redis is always started again in teardown, and B stopped, whatever failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_opt.h"

#define SVC_MS 60000
#define TRACK_MS 10000 /* until /readyz lists the event */
#define WM_CALLS 8     /* EVALSHA calls (both gateways' watermarks) with the stream empty */
#define GRANT_MS 10000 /* Redis stopped until "path":"grant" */
#define READY_MS 40000 /* Redis back until ready on the fast path */
#define DRAIN_MS 20000
#define ALIVE_MS 3000 /* GW_PEER_ALIVE_MS (gateway/failover/gw_peers.h) */

typedef struct {
    it_fix_t *f;
    it_fix_t b; /* gateway B: the fixture's stores, its own process */
    int b_started;
} peers_t;

static const char *b_redis_port; /* set: gateway B's Redis port (setup_b_without_redis) */
static const char *b_alive_ms;   /* set: gateway B's PEER_ALIVE_MS, when not A's (setup_windows_differ) */

/* Gateway A (the fixture's, with @workers workers) and gateway B on the same stores, the fallback after @after_ms,
 * a peer alive for @alive_ms after its last beat (PEER_ALIVE_MS), event locks expiring after @lock_ttl_ms. */
static int setup_with(void **st, const char *after_ms, const char *alive_ms, const char *lock_ttl_ms, int workers)
{
    if (setenv("FALLBACK_AFTER_MS", after_ms, 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0 ||
        setenv("PEER_ALIVE_MS", alive_ms, 1) != 0 || setenv("FALLBACK_LOCK_TTL_MS", lock_ttl_ms, 1) != 0)
        return -1;
    void *fst = NULL;
    if (it_fix_new(&fst, workers) != 0)
        return -1;
    peers_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    p->f = fst;
    p->b = *p->f;
    p->b.nworkers = 0;
    if ((b_redis_port != NULL && setenv("IT_GW_REDIS_PORT", b_redis_port, 1) != 0) ||
        (b_alive_ms != NULL && setenv("PEER_ALIVE_MS", b_alive_ms, 1) != 0))
        return -1;
    int b_rc = it_gateway_start(&p->b.gw, IT_READY_MS);
    unsetenv("IT_GW_REDIS_PORT");
    if (setenv("PEER_ALIVE_MS", alive_ms, 1) != 0)
        return -1;
    if (b_rc != 0) {
        void *x = p->f;
        it_fix_free(&x);
        free(p);
        return -1;
    }
    p->b_started = 1;
    *st = p;
    return 0;
}

static int setup(void **st)
{
    return setup_with(st, "300", "3000", "5000", 1); /* ALIVE_MS; the default lock expiry */
}

static int teardown(void **st)
{
    peers_t *p = *st;
    int rc = it_services("start-redis", SVC_MS) != 0 ? -1 : 0;
    if (p->b_started && it_proc_alive(&p->b.gw.proc) && it_proc_stop(&p->b.gw.proc, IT_STOP_MS) != 0)
        rc = -1;
    void *fst = p->f;
    if (it_fix_free(&fst) != 0)
        rc = -1;
    free(p);
    return rc;
}

/* One claim of 1 unit through gateway @g: its status; the ticket (-1 when none) and error code into @ticket, @code. */
static long claim(const it_fix_t *g, const char *ev, const char *user, long long *ticket, char *code, size_t codelen)
{
    it_resp_t r;
    long st = it_claim(&r, g, ev, user, 1);
    *ticket = r.json != NULL ? it_json_int(r.json, "ticket") : -1;
    const char *e = it_resp_error_code(&r);
    snprintf(code, codelen, "%s", e != NULL ? e : "");
    if (st != 200 && st != 201 && st != 503)
        it_show("it_fallback_peers: unexpected answer", &r);
    it_resp_free(&r);
    return st;
}

static void claim_must(const it_fix_t *g, const char *ev, const char *user, long want, long long want_ticket, const char *why)
{
    long long t;
    char code[32];
    long st = claim(g, ev, user, &t, code, sizeof code);
    if (st != want || t != want_ticket)
        fprintf(stderr, "it_fallback_peers: claim of %s (%s): expected %ld ticket %lld, got %ld ticket %lld %s; gateway log %s\n", user,
                why, want, want_ticket, st, t, code, g->gw.proc.log_path);
    assert_int_equal(st, want);
    assert_int_equal(t, want_ticket);
}

static void wait_path(const it_fix_t *g, const char *ev, const char *want, int ms, const char *what)
{
    char seen[256] = "";
    assert_int_equal(it_wait_path(g, what, ev, want, ms, seen, sizeof seen, NULL), 0);
}

/* Drained, and MariaDB's books: @rows confirmed rows with unique tickets, sold and ticket_hwm @rows; Redis seq @rows. */
static void books_agree(const peers_t *p, const char *ev, long long rows)
{
    it_resp_t r;
    int rc = it_api_wait_drained(&r, p->f, ev, DRAIN_MS);
    if (rc != 0)
        it_show("it_fallback_peers: not drained; admin view", &r);
    it_resp_free(&r);
    assert_int_equal(rc, 0);
    MYSQL *db = p->f->db;
    assert_int_equal(it_db_int(db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", ev), rows);
    assert_int_equal(it_db_int(db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), rows);
    assert_int_equal(it_db_int(db, -1, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id = '%s'", ev), rows);
    assert_int_equal(it_db_int(db, -1, "SELECT MAX(ticket) FROM claims WHERE event_id = '%s'", ev), rows);
    assert_int_equal(it_db_int(db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", ev), rows);
    assert_int_equal(it_db_int(db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", ev), rows);
    assert_int_equal(it_redis_ev_int(p->f->redis, ev, "seq", -1), rows);
    assert_int_equal(it_redis_ev_int(p->f->redis, ev, "remaining", -1), 20 - rows);
}

/* Where the two gateways' logs are, for a failure's reader. */
static void say_logs(const peers_t *p)
{
    fprintf(stderr, "it_fallback_peers: gateway A log %s, gateway B log %s\n", p->f->gw.proc.log_path, p->b.gw.proc.log_path);
}

/* An event of stock 20 with q01..q03 granted through A (tickets 1..3) and drained, tracked and watermarked by both
 * gateways with its stream empty: both journals complete. */
static void quiet_event(const peers_t *p, char *ev, size_t evlen, const char *prefix)
{
    it_fix_t *a = p->f;
    char u[32];
    it_new_event(a, ev, evlen, prefix, 20, 1);
    for (int i = 1; i <= 3; i++) {
        snprintf(u, sizeof u, "q%02d", i);
        claim_must(a, ev, u, 201, i, "the fast path");
    }
    books_agree(p, ev, 3);
    assert_int_equal(it_wait_tracked(a, ev, TRACK_MS), 0);
    assert_int_equal(it_wait_tracked(&p->b, ev, TRACK_MS), 0);
    assert_int_equal(it_wait_watermarks(a, WM_CALLS, 1000, TRACK_MS), 0);
}

static void two_gateways_stay_read_only_then_one_grants_alone(void **st)
{
    peers_t *p = *st;
    it_fix_t *a = p->f, *b = &p->b;
    char ev[64], u[32];
    say_logs(p);

    /* 1. A quiet event, tracked and watermarked by both with the stream empty. */
    quiet_event(p, ev, sizeof ev, "peers");

    /* 2. Redis stopped: both in GRANT, both alive: nothing granted from MariaDB. */
    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    wait_path(a, ev, "grant", GRANT_MS, "A, Redis stopped");
    wait_path(b, ev, "grant", GRANT_MS, "B, Redis stopped");
    int granted = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i <= 4; i++) {
            long long t;
            char code[32];
            snprintf(u, sizeof u, "o%02d", i);
            long s1 = claim(a, ev, u, &t, code, sizeof code);
            if (s1 != 503 || strcmp(code, "unavailable") != 0) {
                fprintf(stderr, "it_fallback_peers: BROKEN: %s through A while B is alive: %ld ticket %lld %s (want 503 unavailable)\n", u, s1,
                        t, code);
                granted++;
            }
            snprintf(u, sizeof u, "p%02d", i);
            long s2 = claim(b, ev, u, &t, code, sizeof code);
            if (s2 != 503 || strcmp(code, "unavailable") != 0) {
                fprintf(stderr, "it_fallback_peers: BROKEN: %s through B while A is alive: %ld ticket %lld %s (want 503 unavailable)\n", u, s2,
                        t, code);
                granted++;
            }
        }
    }
    assert_int_equal(granted, 0);
    claim_must(b, ev, "q01", 200, 1, "held, read from MariaDB");
    assert_int_equal(it_db_int(a->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 3);
    assert_int_equal(it_db_int(a->db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", ev), 3);
    assert_int_equal(it_metric(a, "tk_fallback_grants_total"), 0);
    assert_int_equal(it_metric(b, "tk_fallback_grants_total"), 0);
    assert_true(it_metric(a, "tk_fallback_peer_refusals_total") > 0);
    assert_true(it_metric(b, "tk_fallback_peer_refusals_total") > 0);

    /* 3. Redis back: both on the fast path, tickets go on from 4, unique. */
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(a);
    b->redis = a->redis;
    b->db = a->db;
    wait_path(a, ev, "fast", READY_MS, "A, Redis back");
    wait_path(b, ev, "fast", READY_MS, "B, Redis back");
    for (int i = 1; i <= 6; i++) {
        snprintf(u, sizeof u, "r%02d", i);
        claim_must(i % 2 ? a : b, ev, u, 201, 3 + i, "the fast path after the outage");
    }
    books_agree(p, ev, 9);

    /* 4. B killed: A alone; after GW_PEER_ALIVE_MS its fallback grants again.
     *    On a second event E2 that only A ever granted: on E, B's grants of
     *    step 3 are foreign to A's journal (gw_journal.h), which keeps E
     *    read-only in A's fallback until A's next merge, rightly. */
    char ev2[64];
    it_proc_kill(&b->gw.proc);
    long long t_kill = it_now_ms();
    it_new_event(a, ev2, sizeof ev2, "alone", 20, 1);
    claim_must(a, ev2, "t01", 201, 1, "the fast path, A alone");
    it_resp_t r;
    assert_int_equal(it_api_wait_drained(&r, a, ev2, DRAIN_MS), 0);
    it_resp_free(&r);
    assert_int_equal(it_wait_tracked(a, ev2, TRACK_MS), 0);
    assert_int_equal(it_wait_watermarks(a, 4, 1000, TRACK_MS), 0); /* A's own (B is gone), the stream empty: E2's journal complete */
    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    wait_path(a, ev2, "grant", GRANT_MS, "A alone, Redis stopped");
    long long wait = t_kill + ALIVE_MS + 500 - it_now_ms();
    if (wait > 0)
        it_sleep_ms((int)wait);
    long long ticket;
    char code[32];
    long s01 = claim(a, ev2, "s01", &ticket, code, sizeof code);
    if (s01 != 201 || ticket != 2)
        fprintf(stderr,
                "it_fallback_peers: s01 through A alone: %ld ticket %lld %s (want 201 ticket 2); beats alive (A's included): %lld, "
                "peer refusals on A: %lld; gateway log %s\n",
                s01, ticket, code, it_db_int(a->db, -1, "SELECT COUNT(*) FROM gateway_beats WHERE beat_at > NOW(3) - INTERVAL 3 SECOND"),
                it_metric(a, "tk_fallback_peer_refusals_total"), a->gw.proc.log_path);
    assert_int_equal(s01, 201);
    assert_int_equal(ticket, 2);
    assert_int_equal(it_db_int(a->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND ticket = 2 AND status = 'confirmed'", ev2), 1);
    assert_int_equal(it_metric(a, "tk_fallback_grants_total"), 1);

    /* 5. Redis back: A merges the fallback's grant; the books agree on both events. */
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(a);
    wait_path(a, ev2, "fast", READY_MS, "A alone, Redis back");
    claim_must(a, ev2, "s02", 201, 3, "the fast path after the merge");
    claim_must(a, ev, "s03", 201, 10, "the fast path after the merge");
    books_agree(p, ev2, 3);
    books_agree(p, ev, 10);
}

/* Two gateways, no worker, the fallback never grants (a Redis loss is only a merge here); a peer frozen up to 10 s
 * still counts as alive, so the freeze below stays well inside the window however slow the machine; an event lock
 * held by a merge is not freed by its expiry within the test (60 s > READY_MS). */
static int setup_no_worker(void **st)
{
    return setup_with(st, "60000", "10000", "60000", 0);
}

/*
 * Redis comes back EMPTY under two gateways (gw_peers.h, "After a Redis
 * restart"). Gateway A answered u01..u10 (tickets 1..10, undrained: only in
 * Redis's stream and in A's journal), B v01..v05 (11..15, in B's), then A
 * stalls (SIGSTOP: a VM or
 * scheduling stall; a slower reconnect orders the two merges the same way).
 * Redis is lost with its data and started empty.
 *  - While A is frozen (alive: its beat is younger than PEER_ALIVE_MS), B's
 *    merge writes its own journal, marks its row and waits for A's mark: it
 *    rebuilds nothing, so n01..n10 through B are 503 unavailable, none 201.
 *  - A resumed: its merge finds Redis's run_id changed and the event gone,
 *    writes its journal (tickets 1..10) to MariaDB, marks, and rebuilds.
 *    It needs the event's lock for that write: B's merge, which wrote
 *    v01..v05 first, must not hold it while it waits for A (locks expire
 *    after 60 s here: a held one keeps A off the fast path past READY_MS).
 *    u01..u10 retried through A: 200, each its own ticket.
 *  - B then passes its wait and serves: v01..v05 200 with 11..15, n01 201
 *    ticket 16.
 *  - A worker drains: 16 rows, 16 distinct tickets 1..16.
 * Seen failing before the fix (0a8735c, and f9ec777 with this test): B
 * rebuilt from MariaDB at once and n01..n10 got tickets 1..10, already told
 * to u01..u10; u01..u10 retried through A got 201 with tickets 11..20
 * (their first claims in neither store). 20 broken.
 */
/* Redis lost with its data and started empty (a new process: a new run_id). */
static void wipe_by_restart(const peers_t *p)
{
    (void)p;
    assert_int_equal(it_services("kill-redis", SVC_MS), 0);
    const it_env_t *env = it_env();
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s/redis/appendonlydir' '%s/redis/appendonly.aof' '%s/redis/dump.rdb'", env->it_dir, env->it_dir,
             env->it_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
}

static void empty_redis_case(void **st, void (*wipe)(const peers_t *p))
{
    peers_t *p = *st;
    it_fix_t *a = p->f, *b = &p->b;
    char ev[64], u[32];
    say_logs(p);
    it_new_event(a, ev, sizeof ev, "peers2", 100, 1);
    for (int i = 1; i <= 10; i++) {
        snprintf(u, sizeof u, "u%02d", i);
        claim_must(a, ev, u, 201, i, "the fast path through A, no worker");
    }
    for (int i = 1; i <= 5; i++) {
        snprintf(u, sizeof u, "v%02d", i);
        claim_must(b, ev, u, 201, 10 + i, "the fast path through B, no worker");
    }
    assert_int_equal(it_redis_xlen(a->redis, ev), 15);

    /* A stalls; Redis is lost with its data and comes back empty. */
    assert_int_equal(kill(a->gw.proc.pid, SIGSTOP), 0);
    wipe(p);
    it_fix_reconnect(a);
    b->redis = a->redis;
    b->db = a->db;
    it_sleep_ms(1500); /* B reconnects and merges: it must wait for A */
    int broken = 0, served = 0;
    for (int i = 1; i <= 10; i++) {
        long long t;
        char code[32];
        snprintf(u, sizeof u, "n%02d", i);
        long st2 = claim(b, ev, u, &t, code, sizeof code);
        if (st2 == 201 && t <= 10) {
            fprintf(stderr, "it_fallback_peers: BROKEN: new user %s through B got ticket %lld, already told to u%02lld by A\n", u, t, t);
            broken++;
        }
        served += st2 != 503;
    }
    assert_int_equal(kill(a->gw.proc.pid, SIGCONT), 0);
    wait_path(a, ev, "fast", READY_MS, "A, resumed");
    for (int i = 1; i <= 10; i++) {
        long long t;
        char code[32];
        snprintf(u, sizeof u, "u%02d", i);
        long st3 = claim(a, ev, u, &t, code, sizeof code);
        if (st3 != 200 || t != i) {
            fprintf(stderr, "it_fallback_peers: BROKEN: %s (told ticket %d by A) retried through A: %ld ticket %lld %s\n", u, i, st3, t, code);
            broken++;
        }
    }
    assert_int_equal(broken, 0);
    assert_int_equal(served, 0); /* B answered nothing but 503 while A's journal was unwritten */
    wait_path(b, ev, "fast", READY_MS, "B, once A wrote its journal");
    for (int i = 1; i <= 5; i++) {
        snprintf(u, sizeof u, "v%02d", i);
        claim_must(b, ev, u, 200, 10 + i, "B's own grant, retried after both checks");
    }
    claim_must(b, ev, "n01", 201, 16, "B on the fast path after both checks");
    assert_int_equal(it_fix_add_worker(a, "it-w1"), 0);
    it_resp_t r;
    assert_int_equal(it_api_wait_drained(&r, a, ev, DRAIN_MS), 0);
    it_resp_free(&r);
    assert_int_equal(it_db_int(a->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", ev), 16);
    assert_int_equal(it_db_int(a->db, -1, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id = '%s'", ev), 16);
    assert_int_equal(it_db_int(a->db, -1, "SELECT MAX(ticket) FROM claims WHERE event_id = '%s'", ev), 16);
    assert_int_equal(it_db_int(a->db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", ev), 16);
}

static void empty_redis_under_two_gateways_keeps_every_grant(void **st)
{
    empty_redis_case(st, wipe_by_restart);
}

/*
 * The same loss without a restart: the SAME Redis process made a replica
 * of an empty Redis (a full resync replaces its data), then promoted
 * again, and every client connection dropped (as a failover's
 * reconfiguration does). Its run_id is unchanged, so before the fix B's
 * merge read "not restarted", waited for nobody and served the event
 * rebuilt without A's undrained grants (n01..n10 through B: 201). The
 * identity is now run_id and replication id: the resync and the promotion
 * each changed the latter.
 */
static pid_t extra_redis; /* the one extra redis-server of a test (resync's empty master, or replica_of's replica) */
static int extra_port;     /* resync's empty master's port, while extra_redis is it */
static char extra_conf[PATH_MAX + 32]; /* the replica's config (it holds a password): removed in teardown */

static int teardown_replica(void **st)
{
    peers_t *p = *st;
    int rc = 0;
    /* A failure half-way must not leave Redis a replica for the next test: a connection of its own (the test's may
     * be in error), and a check. */
    redisContext *c = it_redis_connect();
    redisReply *r = c != NULL ? redisCommand(c, "REPLICAOF NO ONE") : NULL;
    if (r != NULL)
        freeReplyObject(r);
    r = c != NULL ? redisCommand(c, "INFO replication") : NULL;
    if (r == NULL || r->type != REDIS_REPLY_STRING || strstr(r->str, "role:master") == NULL) {
        fprintf(stderr, "it_fallback_peers: teardown: Redis is not a master again\n");
        rc = -1;
    }
    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    if (extra_redis > 0) {
        kill(extra_redis, SIGKILL);
        waitpid(extra_redis, NULL, 0);
        extra_redis = 0;
    }
    extra_port = 0;
    if (extra_conf[0] != '\0') {
        unlink(extra_conf);
        extra_conf[0] = '\0';
    }
    if (p->f->gw.proc.pid > 0)
        kill(p->f->gw.proc.pid, SIGCONT); /* A frozen by a failure half-way: teardown stops it */
    return teardown(st) != 0 ? -1 : rc;
}

/* INFO @section's field @name (e.g. "run_id") of the Redis behind @rc into @out (@cap bytes; "" when absent). */
static void info_of(redisContext *rc, const char *section, const char *name, char *out, size_t cap)
{
    redisReply *r = redisCommand(rc, "INFO %s", section);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char key[64];
    snprintf(key, sizeof key, "\n%s:", name);
    const char *q = strstr(r->str, key);
    size_t n = q != NULL ? strcspn(q + strlen(key), "\r\n") : 0;
    snprintf(out, cap, "%.*s", (int)n, q != NULL ? q + strlen(key) : "");
    freeReplyObject(r);
}

/* Redis made a replica of an empty Redis (started here unless one runs already), then promoted; every client dropped
 * after it when @kill_clients, else B's watch awaited (either of its lines). */
static void resync(const peers_t *p, int kill_clients)
{
    int watched_b = it_log_count(p->b.gw.proc.log_path, "identity: Redis");
    redisContext *rc = p->f->redis;
    char port[16], dir[PATH_MAX], log[PATH_MAX + 32];
    if (extra_redis <= 0)
        extra_port = it_free_port();
    int eport = extra_port;
    assert_true(eport > 0);
    snprintf(port, sizeof port, "%d", eport);
    snprintf(dir, sizeof dir, "%s/empty-master", it_env()->it_dir); /* its own: no RDB of another process to load */
    assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(log, sizeof log, "%s/empty-master.log", dir);
    /* A disk-based sync: the diskless default waits 5 s (repl-diskless-sync-delay) while A is frozen. */
    char *argv[] = {"redis-server", "--port",  port,  "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--repl-diskless-sync", "no", "--dir", dir, NULL};
    if (extra_redis <= 0)
        extra_redis = it_proc_run(argv, log);
    assert_true(extra_redis > 0);
    char before[64], after[64];
    info_of(rc, "server", "run_id", before, sizeof before);
    assert_int_equal(strlen(before), 40);
    redisReply *r;
    long long deadline = it_now_ms() + 10000;
    int up = 0;
    for (int sent = 0; !up && it_now_ms() < deadline; it_sleep_ms(100)) {
        if (!sent) { /* the empty master may still be starting: REPLICAOF retries on its own, once sent */
            r = redisCommand(rc, "REPLICAOF 127.0.0.1 %s", port);
            assert_non_null(r);
            sent = r->type != REDIS_REPLY_ERROR;
            freeReplyObject(r);
        }
        r = redisCommand(rc, "INFO replication");
        assert_non_null(r);
        up = strstr(r->str, "master_link_status:up") != NULL;
        freeReplyObject(r);
    }
    assert_true(up);
    r = redisCommand(rc, "DBSIZE"); /* while still a replica: read-only, so no gateway's write can land meanwhile */
    assert_non_null(r);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    r = redisCommand(rc, "REPLICAOF NO ONE");
    assert_non_null(r);
    freeReplyObject(r);
    info_of(rc, "server", "run_id", after, sizeof after);
    assert_string_equal(before, after); /* the same process */
    if (kill_clients) {
        r = redisCommand(rc, "CLIENT KILL TYPE normal SKIPME yes");
        assert_non_null(r);
        freeReplyObject(r);
    } else { /* B's watch, within a second or so: before it B still serves the emptied Redis */
        int seen = it_log_wait(p->b.gw.proc.log_path, "identity: Redis", watched_b + 1, 5000) > watched_b;
        if (!seen) /* what B answers now is the test */
            fprintf(stderr, "it_fallback_peers: B did not notice Redis's new identity within 5 s; B's log %s\n", p->b.gw.proc.log_path);
    }
}

static void wipe_by_resync(const peers_t *p)
{
    resync(p, 1);
}

static void wipe_by_resync_quietly(const peers_t *p)
{
    resync(p, 0);
}


static void redis_resynced_empty_under_two_gateways_keeps_every_grant(void **st)
{
    empty_redis_case(st, wipe_by_resync);
}

/*
 * The same resync with every client left connected (REPLICAOF does not
 * drop them): no gateway sees a connection drop, so only the identity
 * watch (gw_identity.h) makes them check. Without it B stayed on the fast
 * path over the emptied Redis (n01..n10 through B: 404, the event gone).
 */
static void redis_resynced_under_connected_gateways_keeps_every_grant(void **st)
{
    empty_redis_case(st, wipe_by_resync_quietly);
}

/*
 * Redis emptied in place: FLUSHALL, every client left connected. Neither
 * the run_id nor the replication ids move, and no connection drops, so
 * only the instance mark (gw_identity.h) tells the gateways that Redis
 * lost what it held.
 */
static void wipe_by_flushall(const peers_t *p)
{
    int watched_b = it_log_count(p->b.gw.proc.log_path, "identity: Redis");
    redisReply *r = redisCommand(p->f->redis, "FLUSHALL");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    if (it_log_wait(p->b.gw.proc.log_path, "identity: Redis", watched_b + 1, 5000) <= watched_b) /* what B answers now is the test */
        fprintf(stderr, "it_fallback_peers: B did not notice Redis's new identity within 5 s; B's log %s\n", p->b.gw.proc.log_path);
}

static void redis_flushed_under_connected_gateways_keeps_every_grant(void **st)
{
    empty_redis_case(st, wipe_by_flushall);
}


/*
 * The identity's other side: Redis's master_replid also changes with no
 * data lost, when the first replica attaches to a master without a
 * backlog (gw_identity.h). Redis restarted first (a fresh process has no
 * backlog: scripts/services.sh runs it on an AOF, whose load restores no
 * replication data), both gateways back on the fast path, c01 through A; then a
 * replica attaches (master_replid changes), and only A's Redis
 * connections are dropped (CLIENT KILL of its sockets' ports). With
 * master_replid in the identity (a first version), A's merge counted Redis
 * as restarted and waited for B's mark, which B, never dropped, never
 * wrote: A stayed off the fast path for as long as B lived. The identity
 * holds master_replid2, which the attach leaves at zeros: A's merge waits
 * for nobody, B is not disturbed (no identity change logged), and both
 * serve (c02, c03).
 */
static pid_t replica_of(const char *it_dir, int port, int master_port)
{
    char conf[PATH_MAX + 32], pwpath[PATH_MAX + 32], pw[256], err[256], log[PATH_MAX + 32];
    snprintf(pwpath, sizeof pwpath, "%s/secrets/redis_test", it_dir);
    if (tk_read_secret(pwpath, pw, sizeof pw, err, sizeof err) != 0)
        return -1;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/replica", it_dir); /* its own: no RDB of another process to load at start */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(conf, sizeof conf, "%s/replica.conf", dir);
    int fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* the password: a 0600 file, not the command line */
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    dprintf(fd, "port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\nreplicaof 127.0.0.1 %d\nmasteruser tk-test\nmasterauth %s\n",
            port, dir, master_port, pw);
    close(fd);
    snprintf(extra_conf, sizeof extra_conf, "%s", conf);
    snprintf(log, sizeof log, "%s/replica.log", dir);
    char *argv[] = {"redis-server", conf, NULL};
    return it_proc_run(argv, log);
}

/* CLIENT KILL of every TCP connection process @pid holds to port @to (its sockets from /proc). The count killed. */
static int kill_clients_of(redisContext *rc, pid_t pid, int to)
{
    char path[64], link[64], fdp[PATH_MAX];
    unsigned long inodes[512];
    int ni = 0, killed = 0;
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL && ni < 512;) {
        snprintf(fdp, sizeof fdp, "%s/%s", path, e->d_name);
        ssize_t k = readlink(fdp, link, sizeof link - 1);
        unsigned long ino;
        if (k > 0 && (link[k] = '\0', sscanf(link, "socket:[%lu]", &ino) == 1))
            inodes[ni++] = ino;
    }
    closedir(d);
    /* The gateway reaches Redis at its default host, 127.0.0.1 (common/tk_backend.c): IPv4 sockets only. */
    snprintf(path, sizeof path, "/proc/%ld/net/tcp", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[512];
    unsigned lport, rport;
    unsigned long ino;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, " %*d: %*8X:%4X %*8X:%4X %*2X %*8X:%*8X %*2X:%*8X %*8X %*d %*d %lu", &lport, &rport, &ino) == 3 &&
            (int)rport == to)
            for (int i = 0; i < ni; i++)
                if (inodes[i] == ino) {
                    redisReply *r = redisCommand(rc, "CLIENT KILL ADDR 127.0.0.1:%u", lport);
                    killed += r != NULL && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 0; /* the filter form counts */
                    if (r != NULL)
                        freeReplyObject(r);
                }
    fclose(f);
    return killed;
}

static void first_replica_attached_holds_no_gateway_back(void **st)
{
    peers_t *p = *st;
    it_fix_t *a = p->f, *b = &p->b;
    char ev[64];
    say_logs(p);
    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(a);
    b->redis = a->redis;
    b->db = a->db;
    assert_int_equal(it_wait_path(a, "A after the restart", NULL, "fast", READY_MS, NULL, 0, NULL), 0);
    assert_int_equal(it_wait_path(b, "B after the restart", NULL, "fast", READY_MS, NULL, 0, NULL), 0);
    it_new_event(a, ev, sizeof ev, "replica", 20, 1);
    claim_must(a, ev, "c01", 201, 1, "the fast path");

    const it_env_t *env = it_env();
    char before[64], now[64];
    info_of(a->redis, "replication", "master_replid", before, sizeof before);
    assert_int_equal(strlen(before), 40);
    int watched = it_log_count(b->gw.proc.log_path, "identity: Redis"); /* either of the watch's lines */
    int port = it_free_port();
    assert_true(port > 0);
    extra_redis = replica_of(env->it_dir, port, env->redis_port);
    assert_true(extra_redis > 0);
    long long deadline = it_now_ms() + 10000;
    int changed = 0;
    while (!changed && it_now_ms() < deadline) { /* the replica's SYNC made a backlog, and a new replication id */
        it_sleep_ms(50);
        info_of(a->redis, "replication", "master_replid", now, sizeof now);
        changed = strcmp(now, before) != 0;
    }
    assert_true(changed);
    int waits = it_log_count(a->gw.proc.log_path, "other gateway(s) to write their journals");
    assert_true(kill_clients_of(a->redis, a->gw.proc.pid, env->redis_port) >= 1);
    int back = it_wait_path(a, "A after its connections dropped, a replica attached", NULL, "fast", 10000, NULL, 0, NULL) == 0;
    if (!back)
        fprintf(stderr, "it_fallback_peers: BROKEN: A held back by B's mark after a replica attached; A's log %s\n", a->gw.proc.log_path);
    assert_true(back);
    assert_int_equal(it_log_count(a->gw.proc.log_path, "other gateway(s) to write their journals"), waits);
    it_sleep_ms(1500); /* a watch round of B's */
    assert_int_equal(it_log_count(b->gw.proc.log_path, "identity: Redis"), watched);
    claim_must(a, ev, "c02", 201, 2, "A after both checks");
    claim_must(b, ev, "c03", 201, 3, "B after both checks");
}

/*
 * A gateway that beats but never reached Redis (here: B given a port where
 * nothing listens) has nothing journaled, so it must not hold back A's
 * merge after a Redis restart. Before the fix its beat row read '' ("never
 * checked"): A waited for B's mark, which B, cut from Redis, never wrote,
 * and stayed off the fast path for as long as B lived.
 */
static int setup_b_without_redis(void **st)
{
    static char ps[16];
    int port = it_free_port(); /* nothing listens there: B never reaches Redis */
    if (port < 0)
        return -1;
    snprintf(ps, sizeof ps, "%d", port);
    b_redis_port = ps;
    int rc = setup_with(st, "60000", "3000", "5000", 1);
    b_redis_port = NULL;
    return rc;
}

static void a_gateway_that_never_reached_redis_holds_nobody_back(void **st)
{
    peers_t *p = *st;
    it_fix_t *a = p->f;
    long long deadline = it_now_ms() + 10000;
    while (it_db_int(a->db, -1, "SELECT COUNT(*) FROM gateway_beats WHERE beat_at > NOW(3) - INTERVAL 3 SECOND") != 2 &&
           it_now_ms() < deadline)
        it_sleep_ms(100);
    assert_int_equal(it_db_int(a->db, -1, "SELECT COUNT(*) FROM gateway_beats WHERE beat_at > NOW(3) - INTERVAL 3 SECOND"), 2);
    it_ready_t r;
    it_readyz(&p->b, NULL, &r);
    fprintf(stderr, "B, cut from Redis: /readyz %ld path %s\n", r.status, r.path);
    assert_string_not_equal(r.path, "fast");
    assert_int_equal(it_wait_path(a, "A before the restart", NULL, "fast", READY_MS, NULL, 0, NULL), 0);
    int paths = it_log_count(a->gw.proc.log_path, "take the fast path");
    /* A Redis restart (a new run_id): A's merge waits for every live peer's mark. */
    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(a);
    int back = it_log_wait(a->gw.proc.log_path, "take the fast path", paths + 1, 15000) >= paths + 1;
    if (!back)
        fprintf(stderr, "it_fallback_peers: BROKEN: A not back on the fast path 15 s after the Redis restart, B (never reached Redis) "
                        "not marked; A's log %s\n",
                a->gw.proc.log_path);
    assert_true(back);
    assert_int_equal(it_wait_path(a, "A after the restart, B never marked", NULL, "fast", 5000, NULL, 0, NULL), 0);
}

/*
 * A gateway that looked dead must not skip its check. Redis frozen
 * (SIGSTOP: the same instance comes back): A and B leave the fast path,
 * each read-only while the other is alive. A frozen past PEER_ALIVE_MS:
 * B, alone, grants f01..f03 from MariaDB (tickets 4..6; Redis still says
 * seq 3). Then MariaDB frozen, Redis and A resumed: A's merge cannot beat,
 * Redis is the instance of its last check, and A itself wrote nothing to
 * MariaDB: the blip exception. Before the fix A served the event from
 * Redis again (the next claim through it: 201 ticket 4, B's f01's ticket).
 * Now its beats lapsed with B alive at its last one: it waits for MariaDB,
 * then rebuilds the event (B's stale flag) and tells ticket 7.
 */
static pid_t frozen_redis, frozen_db, frozen_a;

static int teardown_resume(void **st)
{
    if (frozen_db > 0)
        kill(frozen_db, SIGCONT);
    if (frozen_redis > 0)
        kill(frozen_redis, SIGCONT);
    if (frozen_a > 0)
        kill(frozen_a, SIGCONT);
    frozen_db = frozen_redis = frozen_a = 0;
    return teardown(st);
}

/*
 * Redis frozen (frozen_redis) until both gateways are on the granting
 * fallback for @ev, then A frozen (frozen_a), but not inside its beat: a
 * beat holds the fence exclusively, and B's grants would wait on it.
 */
static void freeze_redis_then_a(peers_t *p, const char *ev, pid_t rp)
{
    it_fix_t *a = p->f, *b = &p->b;
    pid_t ap = a->gw.proc.pid;
    assert_true(rp > 0 && ap > 0);
    frozen_redis = rp;
    assert_int_equal(kill(rp, SIGSTOP), 0);
    wait_path(a, ev, "grant", GRANT_MS + 20000, "A, Redis frozen");
    wait_path(b, ev, "grant", GRANT_MS + 20000, "B, Redis frozen");
    frozen_a = ap;
    int clear = 0;
    for (int tries = 0; tries < 50 && !clear; tries++) {
        assert_int_equal(kill(ap, SIGSTOP), 0);
        clear = it_db_int(a->db, -1, "SELECT n FROM gateway_fence WHERE id = 1 FOR UPDATE NOWAIT") >= 0;
        if (!clear) {
            kill(ap, SIGCONT);
            it_sleep_ms(100);
        }
    }
    assert_true(clear);
}

static void a_gateway_that_looked_dead_checks_before_serving(void **st)
{
    peers_t *p = *st;
    it_fix_t *a = p->f, *b = &p->b;
    char ev[64], u[32];
    say_logs(p);
    quiet_event(p, ev, sizeof ev, "dead");

    pid_t rp = it_service_pid("redis/redis.pid"), dp = it_service_pid("mariadb/mariadb.pid"), ap = a->gw.proc.pid;
    assert_true(rp > 0 && dp > 0 && ap > 0);
    freeze_redis_then_a(p, ev, rp);
    it_sleep_ms(ALIVE_MS + 1500);
    for (int i = 1; i <= 3; i++) {
        snprintf(u, sizeof u, "f%02d", i);
        claim_must(b, ev, u, 201, 3 + i, "B alone (A frozen), from MariaDB");
    }
    frozen_db = dp;
    assert_int_equal(kill(dp, SIGSTOP), 0);
    assert_int_equal(kill(rp, SIGCONT), 0);
    frozen_redis = 0;
    assert_int_equal(kill(ap, SIGCONT), 0);
    frozen_a = 0;
    /* MariaDB frozen: A's merge cannot read it. Its beat fails within its read timeout (6 s, tk_db.c); give the merge
     * that and more. A must not reach the fast path, and never tell a ticket B told. */
    long long deadline = it_now_ms() + 20000;
    int broken = 0;
    it_ready_t r;
    while (it_now_ms() < deadline && !broken) {
        it_readyz(a, NULL, &r);
        if (r.status != 0 && strcmp(r.path, "fast") == 0) { /* /readyz says 503 too while MariaDB is away */
            long long t;
            char code[32];
            long st1 = claim(a, ev, "n01", &t, code, sizeof code);
            fprintf(stderr, "it_fallback_peers: BROKEN: A back on the fast path with MariaDB frozen and its beats lapsed; n01 through A: "
                            "%ld ticket %lld %s (B told f01..f03 tickets 4..6)\n",
                    st1, t, code);
            broken = 1;
        }
        it_sleep_ms(100);
    }
    assert_int_equal(kill(dp, SIGCONT), 0);
    frozen_db = 0;
    assert_false(broken);
    /* ...and not for want of a merge: A ran one and refused the exception. */
    assert_true(it_log_count(a->gw.proc.log_path, "beats lapsed") >= 1);
    /* MariaDB back: A checks, rebuilds the event with B's grants, and goes on above them. */
    wait_path(a, ev, "fast", READY_MS, "A, MariaDB back");
    claim_must(a, ev, "n02", 201, 7, "A after its check, above B's grants");
}

/* Gateway A with a PEER_ALIVE_MS of A_ALIVE_MS, B with the suite's ALIVE_MS. */
#define A_ALIVE_MS 8000
static int setup_windows_differ(void **st)
{
    char a_ms[16];
    snprintf(a_ms, sizeof a_ms, "%d", A_ALIVE_MS);
    b_alive_ms = "3000"; /* ALIVE_MS */
    int rc = setup_with(st, "300", a_ms, "5000", 1);
    b_alive_ms = NULL;
    return rc;
}

/*
 * Windows that differ (gw_peers.h): A runs with PEER_ALIVE_MS 8 s, B with
 * 3 s. A frozen 4.5 s is alive by its own rules (its beats lapsed less than
 * its window, so after the freeze its merge may take the blip exception and
 * serve from Redis at once), so B must count it alive that long too: B's
 * claims stay read-only. Before, B judged A by its own 3 s, took A for dead
 * and granted f01 ticket 4 from MariaDB.
 */
static void a_peer_is_alive_for_its_own_longer_window(void **st)
{
    peers_t *p = *st;
    it_fix_t *b = &p->b;
    char ev[64], code[32];
    long long t = 0;
    say_logs(p);
    quiet_event(p, ev, sizeof ev, "window");
    freeze_redis_then_a(p, ev, it_service_pid("redis/redis.pid"));
    it_sleep_ms(ALIVE_MS + 1500); /* past B's window, well inside A's */
    long long refused0 = it_metric(b, "tk_fallback_peer_refusals_total");
    long st1 = claim(b, ev, "f01", &t, code, sizeof code);
    long long refused = it_metric(b, "tk_fallback_peer_refusals_total") - refused0;
    fprintf(stderr, "it_fallback_peers: f01 through B, A frozen %d ms (A's window %d ms, B's %d): %ld ticket %lld %s\n",
            ALIVE_MS + 1500, A_ALIVE_MS, ALIVE_MS, st1, t, code);
    assert_int_equal(kill(p->f->gw.proc.pid, SIGCONT), 0);
    frozen_a = 0;
    assert_int_equal(kill(frozen_redis, SIGCONT), 0);
    frozen_redis = 0;
    assert_int_equal(st1, 503);
    assert_string_equal(code, "unavailable");
    assert_true(refused >= 1); /* for A alive, not for a lost lock or a database error */
    assert_int_equal(it_db_int(p->f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev), 3);
}

/*
 * A merge whose own beat committed late reads nothing (gw_merge.c,
 * slow_beat; B is alive, so A is not alone). The beat's beat_at is MariaDB's NOW(3) when its upsert
 * starts; a beat held up after that (here: the test holds A's beat row
 * FOR UPDATE, as a stuck fsync would hold the commit) commits a beat_at
 * that is already old, and a peer reading it then takes A for dead. The
 * test takes the lock just after one of A's timer beats committed (the
 * next is a second away), drops every Redis connection (CLIENT KILL), so
 * A's merge runs and its step-0 beat is the one that waits; it lets go
 * PEER_ALIVE_MS/2 + 300 ms after A logged the merge's start. Before the fix that merge went on and
 * A took the fast path off the late beat; now it fails, and the next
 * merge (a fresh beat) takes the fast path. A timer beat that got to the
 * lock first instead leaves the merge's beat fresh: that attempt proves
 * nothing and is made again (three at most).
 */
static MYSQL *lock_conn; /* the test's lock on A's beat row: let go in teardown_lock whatever failed */

static int teardown_lock(void **st)
{
    if (lock_conn != NULL) {
        mysql_close(lock_conn); /* a transaction left open rolls back: A's row is free */
        lock_conn = NULL;
    }
    return teardown(st);
}

static void a_merge_whose_beat_committed_late_reads_nothing(void **st)
{
    peers_t *p = *st;
    it_fix_t *a = p->f;
    char host[64] = "host", holder[128];
    gethostname(host, sizeof(host) - 1);
    snprintf(holder, sizeof holder, "gw-%s-%ld", host, (long)a->gw.proc.pid);
    assert_int_equal(it_wait_path(a, "A on Redis", NULL, "fast", READY_MS, NULL, 0, NULL), 0);
    MYSQL *lk = lock_conn = it_db_connect();
    assert_non_null(lk);
    int caught = 0;
    for (int attempt = 1; attempt <= 3 && !caught; attempt++) {
        int slow = it_log_count(a->gw.proc.log_path, "to commit (PEER_ALIVE_MS");
        int failed = it_log_count(a->gw.proc.log_path, "check of Redis against MariaDB failed");
        int paths = it_log_count(a->gw.proc.log_path, "take the fast path");
        int checks = it_log_count(a->gw.proc.log_path, "checking it against MariaDB before the fast path");
        /* Just after a timer beat of A committed. */
        long long was = it_db_int(a->db, -1, "SELECT CAST(UNIX_TIMESTAMP(beat_at) * 1000 AS SIGNED) FROM gateway_beats WHERE holder = '%s'", holder);
        assert_true(was > 0);
        long long deadline = it_now_ms() + 3000;
        while (it_db_int(a->db, -1, "SELECT CAST(UNIX_TIMESTAMP(beat_at) * 1000 AS SIGNED) FROM gateway_beats WHERE holder = '%s'", holder) == was &&
               it_now_ms() < deadline)
            it_sleep_ms(5);
        /* By hand: it_db_int commits after its query, which would let go of the lock. */
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT holder FROM gateway_beats WHERE holder = '%s' FOR UPDATE", holder);
        assert_int_equal(mysql_query(lk, "START TRANSACTION"), 0);
        assert_int_equal(mysql_query(lk, sql), 0);
        MYSQL_RES *res = mysql_store_result(lk);
        assert_non_null(res);
        assert_int_equal(mysql_num_rows(res), 1);
        mysql_free_result(res);
        redisReply *kill = redisCommand(a->redis, "CLIENT KILL TYPE normal SKIPME yes");
        assert_non_null(kill);
        freeReplyObject(kill);
        /* Held for ALIVE_MS/2 + 300 ms from the merge's start: its beat waits at least that long. */
        assert_true(it_log_wait(a->gw.proc.log_path, "checking it against MariaDB before the fast path", checks + 1, 5000) > checks);
        it_sleep_ms(ALIVE_MS / 2 + 300);
        assert_int_equal(mysql_query(lk, "COMMIT"), 0);
        int back = it_log_wait(a->gw.proc.log_path, "take the fast path", paths + 1, 15000) >= paths + 1;
        assert_true(back);
        caught = it_log_count(a->gw.proc.log_path, "to commit (PEER_ALIVE_MS") > slow;
        fprintf(stderr, "it_fallback_peers: attempt %d: merge beat late: %s; merges failed since: %d\n", attempt, caught ? "yes" : "no",
                it_log_count(a->gw.proc.log_path, "check of Redis against MariaDB failed") - failed);
        if (caught) /* ...and that merge did not take the fast path: one failed before the one that did */
            assert_true(it_log_count(a->gw.proc.log_path, "check of Redis against MariaDB failed") > failed);
    }
    mysql_close(lk);
    lock_conn = NULL;
    if (!caught)
        fprintf(stderr, "it_fallback_peers: BROKEN: no merge of A refused its late beat in three attempts; A's log %s\n",
                a->gw.proc.log_path);
    assert_true(caught);
    assert_int_equal(it_wait_path(a, "A after the late beat", NULL, "fast", 5000, NULL, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_gateways_stay_read_only_then_one_grants_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_redis_under_two_gateways_keeps_every_grant, setup_no_worker, teardown),
        cmocka_unit_test_setup_teardown(redis_resynced_empty_under_two_gateways_keeps_every_grant, setup_no_worker, teardown_replica),
        cmocka_unit_test_setup_teardown(redis_flushed_under_connected_gateways_keeps_every_grant, setup_no_worker, teardown_resume),
        cmocka_unit_test_setup_teardown(redis_resynced_under_connected_gateways_keeps_every_grant, setup_no_worker, teardown_replica),
        cmocka_unit_test_setup_teardown(first_replica_attached_holds_no_gateway_back, setup, teardown_replica),
        cmocka_unit_test_setup_teardown(a_gateway_that_never_reached_redis_holds_nobody_back, setup_b_without_redis, teardown),
        cmocka_unit_test_setup_teardown(a_gateway_that_looked_dead_checks_before_serving, setup, teardown_resume),
        cmocka_unit_test_setup_teardown(a_peer_is_alive_for_its_own_longer_window, setup_windows_differ, teardown_resume),
        cmocka_unit_test_setup_teardown(a_merge_whose_beat_committed_late_reads_nothing, setup, teardown_lock),
    };
    if (getenv("IT_TEST") != NULL)
        cmocka_set_test_filter(getenv("IT_TEST")); /* one test by name (a pattern), while working on it */
    return cmocka_run_group_tests_name("it_fallback_peers", tests, it_group_setup, NULL);
}
