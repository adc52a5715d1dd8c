/*
 * it_queues: every queue of the gateway is bounded, and overload is shed
 * with 503 + Retry-After instead of waiting (issue 10, hole 5; docs/DESIGN.md
 * "Bounded queues").
 *
 * main() sets, for the gateways the fixtures start (they inherit the
 * environment, lib/it_proc.c): DB_QUEUE_MAX=2 jobs waiting per lane,
 * DB_JOB_DEADLINE_MS=1000, REDIS_INFLIGHT_MAX=16 claims per loop thread,
 * GW_DB_THREADS=1, FALLBACK_GRANTS=0 (read-only fallback: no lock, no
 * journal, no merge to wait for) and GW_MAX_BATCH=4: a batch is one
 * database job, and on a loaded machine one loop turn can gather most of a
 * storm into a single batch of 64, which the stuck thread would hold
 * unanswered: batches of 4 make the count of jobs, and so what is shed, not
 * depend on the machine's speed.
 *
 * db_queue_sheds_and_control_lane. Redis stopped, so every claim batch is
 * a database job (the read-only fallback). The test holds LOCK TABLES
 * claims WRITE on its own MariaDB connection: the fallback's read of the
 * user's row waits on it, so the one client database thread is stuck and
 * jobs pile up. A storm of 200 claims over 32 connections: the client lane
 * holds at most 2 waiting jobs (tk_db_queue_depth{lane="client"} <= 2), the
 * rest are answered 503 with Retry-After within 2.5 s
 * (tk_shed_total{reason="db_queue_full"}). Redis started again: the
 * reconnect's rebuild check (a control job, which reads only `events`) is
 * done within 5 s and an admin restock (event_stock and Redis; not a state
 * change: an UPDATE of `events` waits on the lock too, claims being its
 * foreign-key child) answers 200 within 3 s, though the claim jobs are
 * still stuck behind the lock. Lock released: the jobs that waited past their deadline
 * are answered 503 without running (tk_shed_total{reason="db_deadline"}).
 *
 * redis_inflight_bounded. Redis stopped with SIGSTOP (connected, silent):
 * claims sent wait for the stall timeout (GW_REDIS_STALL_MS, 3 s). A storm
 * of 200 claims over 32 connections: at most 16 are held for Redis, the
 * others are answered 503 with Retry-After within 2 s
 * (tk_shed_total{reason="redis_inflight"}). SIGCONT: the held ones are
 * granted, in arrival order per connection.
 *
 * events_list_one_round. 5 events; CONFIG RESETSTAT; 50 concurrent
 * GET /v1/events, each 200 listing the 5; Redis's commandstats show a
 * handful of SMEMBERS and HMGETs (one round per cache period, plus the path
 * controller's SMEMBERS every ~2 s), not one round per request (50 SMEMBERS
 * and 250 HMGETs).
 *
 * worker_stats_bounded. tk:wk:stats seeded with 20 consumers last seen an
 * hour ago (3 fields each) and one field of a consumer with no seen_ms at
 * all; 5 workers started and stopped cleanly one after the other: the stale
 * consumers are pruned, each stopped worker removed its own fields, and the
 * consumer without seen_ms was given one (pruned once that is old): HLEN is
 * 2 at the end, where it was 60 + 1 + 5 x 3 = 76 without bounds.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_keys.h"
#include "tk_time.h"

#define SVC_MS 60000
#define STORM 200
#define STORM_CONNS 32

/* What a test may leave behind on failure; undone by teardown. */
static MYSQL *lock_db;     /* holds LOCK TABLES */
static int redis_stopped;  /* services.sh stop-redis */
static int redis_sigstop;  /* SIGSTOP sent to redis-server */

static int teardown(void **st)
{
    if (lock_db != NULL) {
        mysql_close(lock_db);
        lock_db = NULL;
    }
    if (redis_sigstop) {
        long pid = it_service_pid("redis/redis.pid");
        if (pid > 0)
            kill((pid_t)pid, SIGCONT);
        redis_sigstop = 0;
    }
    if (redis_stopped) {
        it_services("start-redis", SVC_MS);
        redis_stopped = 0;
    }
    return it_fix_free(st);
}

typedef struct {
    it_multi_req_t reqs[STORM];
    char urls[STORM][256];
    char bodies[STORM][128];
} storm_t;

/* POSTs STORM claims on @ev (users @prefix0..) over STORM_CONNS cleartext connections until @deadline_ms. */
static storm_t *storm(const it_fix_t *f, const char *ev, const char *prefix, int deadline_ms)
{
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    storm_t *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    for (int i = 0; i < STORM; i++) {
        snprintf(s->urls[i], sizeof s->urls[i], "%s/v1/events/%s/claims", f->gw.http_base, ev);
        snprintf(s->bodies[i], sizeof s->bodies[i], "{\"user_id\":\"%s%d\",\"quantity\":1}", prefix, i);
        s->reqs[i] = (it_multi_req_t){.method = "POST", .url = s->urls[i], .body = s->bodies[i], .headers = headers};
    }
    it_multi_auth_t auth;
    assert_int_equal(it_multi_sign(&auth, f, s->reqs, STORM, headers[0]), 0);
    it_http_multi(s->reqs, STORM, STORM_CONNS, IT_HTTP1, deadline_ms);
    it_multi_auth_free(&auth);
    return s;
}

/* Answers of @s that are 503 with Retry-After. */
static int shed_answers(const storm_t *s, long long *other)
{
    int n = 0;
    *other = 0;
    for (int i = 0; i < STORM; i++) {
        const it_resp_t *r = &s->reqs[i].resp;
        if (r->status == 503 && r->retry_after[0] != '\0')
            n++;
        else if (r->status != 0)
            (*other)++;
    }
    return n;
}

static void storm_free(storm_t *s)
{
    for (int i = 0; i < STORM; i++)
        it_resp_free(&s->reqs[i].resp);
    free(s);
}

/* Polls /readyz until its body contains @needle, for at most @timeout_ms. 0 or -1. */
static int wait_readyz(const it_fix_t *f, const char *needle, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    do {
        it_resp_t r;
        int hit = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/readyz") == 0 && r.body != NULL && strstr(r.body, needle) != NULL;
        it_resp_free(&r);
        if (hit)
            return 0;
        it_sleep_ms(50);
    } while (it_now_ms() < deadline);
    return -1;
}

/* ------------------------------------------------------------------ tests */

static void db_queue_sheds_and_control_lane(void **st)
{
    it_fix_t *f = *st;
    char ev[64], ev2[64];
    it_event_id(ev, sizeof ev, "qdb");
    it_event_id(ev2, sizeof ev2, "qadm");
    assert_int_equal(it_api_create_event(f, ev, 100000, 1, 0, 0), 201);
    assert_int_equal(it_api_create_event(f, ev2, 10, 1, 0, 0), 201);

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    redis_stopped = 1;
    assert_int_equal(wait_readyz(f, "\"redis\":\"down\"", 10000), 0);
    lock_db = it_db_connect();
    assert_non_null(lock_db);
    assert_int_equal(mysql_query(lock_db, "LOCK TABLES claims WRITE"), 0);

    long long t0 = it_now_ms();
    storm_t *s = storm(f, ev, "dbq", 2500);
    long long other;
    int shed = shed_answers(s, &other);
    fprintf(stderr, "db storm: %d of %d answered 503 + Retry-After within %lld ms (%lld other answers)\n", shed, STORM, it_now_ms() - t0,
            other);
    storm_free(s);
    long long depth = it_metric(f, "tk_db_queue_depth{lane=\"client\"}");
    long long full = it_metric(f, "tk_shed_total{reason=\"db_queue_full\"}");
    /* Still stuck: the jobs that waited past their deadline were answered
     * anyway (swept), not left hanging until a thread is free again. */
    long long stuck_expired = it_metric(f, "tk_shed_total{reason=\"db_deadline\"}");
    fprintf(stderr, "db storm: tk_db_queue_depth{lane=\"client\"} %lld, tk_shed_total{reason=\"db_queue_full\"} %lld, "
                    "{reason=\"db_deadline\"} %lld while the database thread is still stuck\n",
            depth, full, stuck_expired);
    /* Asserted at the end, so that a failing run shows every figure. */

    /* Control and admin work does not wait behind the stuck claim jobs. */
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    redis_stopped = 0;
    assert_int_equal(wait_readyz(f, "\"redis\":\"up\"", 10000), 0);
    t0 = it_now_ms();
    int checked = wait_readyz(f, "\"rebuilding\":false", 5000);
    fprintf(stderr, "control lane: rebuild check %s after %lld ms\n", checked == 0 ? "done" : "NOT done", it_now_ms() - t0);
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s/v1/admin/events/%s/stock", f->gw.base_url, ev2);
    const char *headers[] = {it_api_auth_header(f, IT_ADMIN, auth), NULL};
    const char body[] = "{\"delta\":5}";
    it_resp_t r;
    t0 = it_now_ms();
    int got = it_http(&r, IT_HTTP1, "POST", url, headers, body, sizeof body - 1, 3000);
    long admin = got == 0 ? r.status : 0;
    fprintf(stderr, "control lane: admin restock answered %ld after %lld ms\n", admin, it_now_ms() - t0);
    it_resp_free(&r);

    /* The waiting jobs passed their deadline: answered 503 without running. */
    mysql_close(lock_db);
    lock_db = NULL;
    long long deadline = it_now_ms() + 15000, expired = -1;
    while (it_now_ms() < deadline && (expired = it_metric(f, "tk_shed_total{reason=\"db_deadline\"}")) < 1)
        it_sleep_ms(100);
    fprintf(stderr, "deadline: tk_shed_total{reason=\"db_deadline\"} %lld\n", expired);
    assert_true(shed >= STORM / 2);
    assert_true(depth >= 0 && depth <= 2);
    assert_true(full >= 1);
    assert_true(stuck_expired >= 1);
    assert_int_equal(checked, 0);
    assert_int_equal(admin, 200);
    assert_true(expired >= 1);
}

/* SIGSTOP to the run's redis-server (connected, silent); the teardown sends SIGCONT should the test stop first. Its pid. */
static long redis_freeze(void)
{
    long pid = it_service_pid("redis/redis.pid");
    assert_true(pid > 0);
    assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
    redis_sigstop = 1;
    return pid;
}

static void redis_thaw(long pid)
{
    assert_int_equal(kill((pid_t)pid, SIGCONT), 0);
    redis_sigstop = 0;
}

static void redis_inflight_bounded(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "qfl", 100000, 1);
    long pid = redis_freeze();

    long long t0 = it_now_ms();
    storm_t *s = storm(f, ev, "fl", 2000);
    long long other;
    int shed = shed_answers(s, &other);
    fprintf(stderr, "redis storm: %d of %d answered 503 + Retry-After within %lld ms (%lld other answers)\n", shed, STORM,
            it_now_ms() - t0, other);
    storm_free(s);
    redis_thaw(pid);
    long long counted = it_metric(f, "tk_shed_total{reason=\"redis_inflight\"}");
    fprintf(stderr, "redis storm: tk_shed_total{reason=\"redis_inflight\"} %lld\n", counted);
    assert_true(shed >= STORM - 16 - STORM_CONNS);
    assert_true(counted >= shed);
}

/*
 * A Redis that is connected but silent (SIGSTOP) must not hold a claim for
 * ever: the gateway drops the connection after GW_REDIS_STALL_MS (3 s,
 * gateway/gw_redis.h) and the claim is answered 503 (uncertain: the fallback
 * knows it). The header promises "no request waits forever".
 */
static void frozen_redis_answers_after_the_stall_timeout(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "qfz", 100, 1);
    long pid = redis_freeze();
    long long t0 = it_now_ms();
    it_resp_t r;
    long status = it_claim(&r, f, ev, "fz-1", 0);
    long long took = it_now_ms() - t0;
    fprintf(stderr, "claim with Redis frozen: %ld after %lld ms\n", status, took);
    if (status != 503)
        it_show("claim with Redis frozen", &r);
    it_resp_free(&r);
    redis_thaw(pid);
    assert_int_equal(status, 503);
    assert_true(took >= 2500 && took < 8000);
}

static void events_list_one_round(void **st)
{
    it_fix_t *f = *st;
    enum { NEV = 5, NREQ = 50 };
    char evs[NEV][64];
    for (int i = 0; i < NEV; i++) {
        it_event_id(evs[i], sizeof evs[i], "qls");
        assert_int_equal(it_api_create_event(f, evs[i], 10, 1, 0, 0), 201);
    }
    redisReply *rep = redisCommand(f->redis, "CONFIG RESETSTAT");
    assert_non_null(rep);
    freeReplyObject(rep);
    it_multi_req_t reqs[NREQ];
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events", f->gw.http_base);
    for (int i = 0; i < NREQ; i++)
        reqs[i] = (it_multi_req_t){.method = "GET", .url = url};
    it_http_multi(reqs, NREQ, NREQ, IT_HTTP1, 10000);
    long long smembers = it_redis_cmd_calls(f->redis, "smembers"), hmget = it_redis_cmd_calls(f->redis, "hmget");
    int ok = 0;
    for (int i = 0; i < NREQ; i++) {
        json_t *list = reqs[i].resp.json != NULL ? json_object_get(reqs[i].resp.json, "events") : NULL;
        ok += reqs[i].resp.status == 200 && json_is_array(list) && json_array_size(list) == NEV;
        it_resp_free(&reqs[i].resp);
    }
    fprintf(stderr, "events list: %d of %d listed %d events; redis calls: SMEMBERS %lld, HMGET %lld\n", ok, NREQ, NEV, smembers, hmget);
    assert_int_equal(ok, NREQ);
    assert_true(smembers >= 1 && smembers <= 6);
    assert_true(hmget >= NEV && hmget <= 4 * NEV);
}

static long long stats_hlen(redisContext *rc)
{
    redisReply *rep = redisCommand(rc, "HLEN %s", TK_KEY_WK_STATS);
    long long n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

static int stats_has(redisContext *rc, const char *field)
{
    redisReply *rep = redisCommand(rc, "HEXISTS %s %s", TK_KEY_WK_STATS, field);
    int n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

static void worker_stats_bounded(void **st)
{
    it_fix_t *f = *st;
    long long old = tk_time_now_ms() - 3600 * 1000;
    for (int i = 0; i < 20; i++) {
        redisReply *rep = redisCommand(f->redis, "HSET %s wk-gone-%d:rows 7 wk-gone-%d:batch_last 1 wk-gone-%d:seen_ms %lld", TK_KEY_WK_STATS,
                                       i, i, i, old);
        assert_non_null(rep);
        freeReplyObject(rep);
    }
    redisReply *rep = redisCommand(f->redis, "HSET %s wk-orphan:rows 3", TK_KEY_WK_STATS);
    assert_non_null(rep);
    freeReplyObject(rep);
    for (int i = 0; i < 5; i++) {
        char name[32], seen[64];
        snprintf(name, sizeof name, "wk-restart-%d", i);
        snprintf(seen, sizeof seen, "%s:seen_ms", name);
        it_proc_t w;
        assert_int_equal(it_worker_start(&w, name), 0);
        long long deadline = it_now_ms() + 10000;
        while (stats_has(f->redis, seen) != 1 && it_now_ms() < deadline)
            it_sleep_ms(50);
        assert_int_equal(stats_has(f->redis, seen), 1);
        it_sleep_ms(200); /* the first prune runs right after the first stats push */
        assert_int_equal(it_proc_stop(&w, IT_STOP_MS), 0);
    }
    long long n = stats_hlen(f->redis);
    fprintf(stderr, "worker stats: HLEN %s = %lld after 5 worker restarts (seeded 61 fields)\n", TK_KEY_WK_STATS, n);
    assert_int_equal(stats_has(f->redis, "wk-orphan:seen_ms"), 1);
    assert_int_equal(n, 2);
}

int main(void)
{
    static const char *const env[][2] = {
        {"DB_QUEUE_MAX", "2"},   {"DB_JOB_DEADLINE_MS", "1000"}, {"REDIS_INFLIGHT_MAX", "16"},
        {"GW_DB_THREADS", "1"},  {"FALLBACK_GRANTS", "0"},        {"GW_MAX_BATCH", "4"},
    };
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        if (setenv(env[i][0], env[i][1], 1) != 0)
            return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(db_queue_sheds_and_control_lane, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(redis_inflight_bounded, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(frozen_redis_answers_after_the_stall_timeout, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(events_list_one_round, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(worker_stats_bounded, it_fix_new0, teardown),
    };
    if (getenv("IT_TEST") != NULL)
        cmocka_set_test_filter(getenv("IT_TEST")); /* one test by name (a pattern), while working on it */
    return cmocka_run_group_tests_name("it_queues", tests, it_group_setup, NULL);
}
