/*
 * it_admin_idem: admin changes across the two stores are idempotent under an
 * Idempotency-Key and serialised (issue 10, hole 6), and an event's total is
 * capped where Lua still prints it exactly (item 7b). Real Redis and MariaDB,
 * no worker (what Redis grants stays pending; MariaDB sold stays 0).
 *
 *  - restock_retried_with_the_same_key_is_applied_once: +5 with key K, then
 *    the same request again: 200 with the same body, total 15 in both stores
 *    (not 20); a new key applies again.
 *  - restock_503_after_commit_converges: Redis stopped (SIGSTOP) while a
 *    restock with key K runs: MariaDB commits, the Redis step times out,
 *    503; Redis resumed, the same request again: 200, applied once in both.
 *  - same_key_other_request_is_refused: K reused with another delta, on the
 *    state route, on another event: 422 idempotency_key_reused, nothing moves.
 *  - bad_keys_are_refused: empty, too long, bad characters, two headers: 400
 *    bad_idempotency_key, nothing moves.
 *  - create_and_cancel_replay: a create retried with its key is 201 again
 *    (not 409 exists), a cancel retried with its key 200 with the same body.
 *  - expired_keys_are_pruned_and_reusable: an expired key is a new key; one
 *    keyed write prunes at most 32 expired rows.
 *  - cut_with_mariadb_stopped_before_its_step: mariadbd stopped (SIGSTOP)
 *    before a stock cut: 503 and Redis unchanged; resumed, the retry applies
 *    the cut once: both stores agree.
 *  - cut_with_mariadb_stopped_after_the_redis_step: Redis writes paused
 *    (CLIENT PAUSE WRITE) so the cut's request is held at its Redis step,
 *    mariadbd stopped meanwhile, Redis released: the Redis step runs and the
 *    MariaDB commit gets no answer (503). Resumed, the retry converges:
 *    both stores agree, the cut applied once.
 *  - concurrent_state_changes_agree: rounds of two state changes at once
 *    (bounded in count and time): after each, Redis's state is MariaDB's.
 *  - concurrent_stock_changes_agree: rounds of a raise and a cut at once:
 *    totals agree in both stores, remaining = total - granted.
 *  - total_cap_edges: the cap (99,999,999,999,999) is accepted at create and
 *    reached by a restock, stored exactly in both stores (and a claim leaves
 *    remaining exact); one more unit is 400 stock_limit and changes nothing.
 *
 * mariadbd and redis-server are always resumed (SIGCONT) in teardown.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"

#define SLOW_MS 30000        /* a request that waits on a stopped backend (6 s MariaDB read timeout, 2 s Redis) */
#define ROUNDS 80            /* concurrent rounds, at most */
#define ROUNDS_MS 20000      /* and at most this long */
#define CAP 99999999999999LL /* the total cap, 1e14 - 1 */

/* ------------------------------------------------------------- helpers */

/* An admin request with an optional Idempotency-Key line (@key NULL: none; @key2 a second one). */
static long admin2(it_resp_t *r, const it_fix_t *f, const char *method, const char *path, const char *body, const char *key,
                   const char *key2, int timeout_ms)
{
    char auth[128], k1[512], k2[512], url[1024];
    const char *h[4];
    int n = 0;
    h[n++] = it_api_auth_header(f, IT_ADMIN, auth);
    if (key != NULL) {
        /* curl drops "Name:" with nothing after it; "Name;" sends it empty. */
        if (key[0] == '\0')
            snprintf(k1, sizeof k1, "Idempotency-Key;");
        else
            snprintf(k1, sizeof k1, "Idempotency-Key: %s", key);
        h[n++] = k1;
    }
    if (key2 != NULL) {
        snprintf(k2, sizeof k2, "Idempotency-Key: %s", key2);
        h[n++] = k2;
    }
    h[n] = NULL;
    snprintf(url, sizeof url, "%s%s", f->gw.base_url, path);
    memset(r, 0, sizeof *r);
    if (it_http(r, IT_HTTP1, method, url, h, body, body ? strlen(body) : 0, timeout_ms) != 0)
        return 0;
    return r->status;
}

static long admin(it_resp_t *r, const it_fix_t *f, const char *method, const char *path, const char *body, const char *key)
{
    return admin2(r, f, method, path, body, key, NULL, IT_TIMEOUT_MS);
}

static long stock(it_resp_t *r, const it_fix_t *f, const char *ev, long long delta, const char *key, int timeout_ms)
{
    char path[256], body[64];
    snprintf(path, sizeof path, "/v1/admin/events/%s/stock", ev);
    snprintf(body, sizeof body, "{\"delta\":%lld}", delta);
    return admin2(r, f, "POST", path, body, key, NULL, timeout_ms);
}

/*
 * Retries the keyed stock change while it answers 503, for up to SLOW_MS (a
 * client's retry after a 503 whose change may have committed); the last
 * answer must be 200 (else it is shown as @what). Returns its stock_total.
 */
static long long stock_retried(const it_fix_t *f, const char *ev, long long delta, const char *key, const char *what)
{
    it_resp_t r;
    long got;
    long long deadline = it_now_ms() + SLOW_MS;
    memset(&r, 0, sizeof r);
    do {
        it_resp_free(&r);
        got = stock(&r, f, ev, delta, key, SLOW_MS);
    } while (got == 503 && it_now_ms() < deadline && (it_sleep_ms(200), 1));
    if (got != 200)
        it_show(what, &r);
    assert_int_equal(got, 200);
    long long total = it_json_int(r.json, "stock_total");
    it_resp_free(&r);
    return total;
}

/* A string field of the event hash into @out ("" when absent). */
static void redis_ev_str(const it_fix_t *f, const char *ev, const char *field, char *out, size_t len)
{
    out[0] = '\0';
    redisReply *rep = redisCommand(f->redis, "HGET tk:{%s}:ev %s", ev, field);
    if (rep != NULL && rep->type == REDIS_REPLY_STRING)
        snprintf(out, len, "%s", rep->str);
    if (rep != NULL)
        freeReplyObject(rep);
}

static long long db_total(const it_fix_t *f, const char *ev)
{
    return it_db_int(f->db, -1, "SELECT total FROM event_stock WHERE event_id = '%s'", ev);
}

/* Both stores hold @total (Redis total and MariaDB total), and Redis remaining = total - @granted. */
static void totals_are(const it_fix_t *f, const char *ev, long long total, long long granted, const char *when)
{
    long long rt = it_redis_ev_int(f->redis, ev, "total", -1), rr = it_redis_ev_int(f->redis, ev, "remaining", -1);
    long long dt = db_total(f, ev);
    if (rt != total || dt != total || rr != total - granted)
        fprintf(stderr, "%s: %s expected total %lld remaining %lld; redis total %lld remaining %lld, mariadb total %lld\n", when, ev, total,
                total - granted, rt, rr, dt);
    assert_int_equal(rt, total);
    assert_int_equal(dt, total);
    assert_int_equal(rr, total - granted);
}

static pid_t mariadb_pid(void)
{
    return it_service_pid("mariadb/mariadb.pid");
}

static pid_t redis_pid(void)
{
    return it_service_pid("redis/redis.pid");
}

static int teardown(void **st)
{
    /* Whatever failed, the servers run again. */
    if (mariadb_pid() > 0)
        kill(mariadb_pid(), SIGCONT);
    if (redis_pid() > 0)
        kill(redis_pid(), SIGCONT);
    return it_fix_free(st);
}

/* ------------------------------------------------------------- idempotency */

static void restock_retried_with_the_same_key_is_applied_once(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "idem1", 10, 1);
    it_resp_t r1, r2, r3;
    assert_int_equal(stock(&r1, f, ev, 5, "restock-k1", IT_TIMEOUT_MS), 200);
    assert_int_equal(it_json_int(r1.json, "stock_total"), 15);
    long got = stock(&r2, f, ev, 5, "restock-k1", IT_TIMEOUT_MS);
    if (got != 200 || strcmp(r1.body, r2.body) != 0)
        fprintf(stderr, "first: %s\nretry: %ld %s\n", r1.body, got, r2.body ? r2.body : r2.errbuf);
    assert_int_equal(got, 200);
    assert_string_equal(r2.body, r1.body); /* the stored answer, replayed */
    totals_are(f, ev, 15, 0, "restock retried with its key");
    /* Another key is another change. */
    assert_int_equal(stock(&r3, f, ev, 5, "restock-k2", IT_TIMEOUT_MS), 200);
    totals_are(f, ev, 20, 0, "a second key");
    /* Without a key a retry is a new change, as before. */
    it_resp_free(&r3);
    assert_int_equal(stock(&r3, f, ev, 1, NULL, IT_TIMEOUT_MS), 200);
    totals_are(f, ev, 21, 0, "no key");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM admin_requests WHERE idem_key IN ('restock-k1','restock-k2')"), 2);
    it_resp_free(&r1);
    it_resp_free(&r2);
    it_resp_free(&r3);
}

static void restock_503_after_commit_converges(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "idem503", 10, 1);
    pid_t rp = redis_pid();
    assert_true(rp > 0);
    it_resp_t r;
    /* Redis frozen: the database step commits, the Redis step times out. */
    assert_int_equal(kill(rp, SIGSTOP), 0);
    long got = stock(&r, f, ev, 7, "after-commit", SLOW_MS);
    kill(rp, SIGCONT);
    if (got != 503)
        it_show("restock with redis stopped", &r);
    assert_int_equal(got, 503);
    assert_int_equal(r.retry_after_n, 1); /* one Retry-After, not one per layer that knows it is a 503 */
    it_resp_free(&r);
    assert_int_equal(db_total(f, ev), 17); /* committed before Redis was asked */
    /* The retry converges: applied once, in both stores. */
    assert_int_equal(stock_retried(f, ev, 7, "after-commit", "retry"), 17);
    totals_are(f, ev, 17, 0, "503 after commit, then the retry");
}

static void same_key_other_request_is_refused(void **st)
{
    it_fix_t *f = *st;
    char ev[64], ev2[64], path[256];
    it_new_event(f, ev, sizeof ev, "idemre", 10, 1);
    it_new_event(f, ev2, sizeof ev2, "idemre2", 10, 1);
    it_resp_t r;
    assert_int_equal(stock(&r, f, ev, 5, "reused-key", IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    totals_are(f, ev, 15, 0, "first use");

    long got = stock(&r, f, ev, 6, "reused-key", IT_TIMEOUT_MS);
    if (got != 422)
        it_show("same key, other delta", &r);
    assert_int_equal(got, 422);
    assert_string_equal(it_resp_error_code(&r), "idempotency_key_reused");
    it_resp_free(&r);

    snprintf(path, sizeof path, "/v1/admin/events/%s/state", ev);
    assert_int_equal(admin(&r, f, "POST", path, "{\"state\":\"paused\"}", "reused-key"), 422);
    assert_string_equal(it_resp_error_code(&r), "idempotency_key_reused");
    it_resp_free(&r);

    assert_int_equal(stock(&r, f, ev2, 5, "reused-key", IT_TIMEOUT_MS), 422);
    assert_string_equal(it_resp_error_code(&r), "idempotency_key_reused");
    it_resp_free(&r);

    totals_are(f, ev, 15, 0, "after the reuses");
    totals_are(f, ev2, 10, 0, "the other event");
    char state[16];
    redis_ev_str(f, ev, "state", state, sizeof state);
    assert_string_equal(state, "open");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM events WHERE event_id = '%s' AND state = 'open'", ev), 1);
}

static void bad_keys_are_refused(void **st)
{
    it_fix_t *f = *st;
    char ev[64], longkey[80], path[256];
    it_new_event(f, ev, sizeof ev, "idembad", 10, 1);
    memset(longkey, 'k', 65);
    longkey[65] = '\0';
    const char *const bad[] = {"", "has space", "semi;colon", "quote\"d", "caf\xc3\xa9", "tab\tkey", longkey};
    it_resp_t r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long got = stock(&r, f, ev, 5, bad[i], IT_TIMEOUT_MS);
        if (got != 400 || it_resp_error_code(&r) == NULL || strcmp(it_resp_error_code(&r), "bad_idempotency_key") != 0)
            fprintf(stderr, "key [%s]: %ld %s\n", bad[i], got, r.body ? r.body : r.errbuf);
        assert_int_equal(got, 400);
        assert_string_equal(it_resp_error_code(&r), "bad_idempotency_key");
        it_resp_free(&r);
    }
    /* Two keys on one request. */
    snprintf(path, sizeof path, "/v1/admin/events/%s/stock", ev);
    assert_int_equal(admin2(&r, f, "POST", path, "{\"delta\":5}", "key-a", "key-b", IT_TIMEOUT_MS), 400);
    assert_string_equal(it_resp_error_code(&r), "bad_idempotency_key");
    it_resp_free(&r);
    /* The longest and every allowed character are fine. */
    memset(longkey, 'k', 64);
    longkey[64] = '\0';
    assert_int_equal(stock(&r, f, ev, 1, longkey, IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    assert_int_equal(stock(&r, f, ev, 1, "Az09-_.:", IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    totals_are(f, ev, 12, 0, "bad keys changed nothing");
}

static void create_and_cancel_replay(void **st)
{
    it_fix_t *f = *st;
    char ev[64], body[256], path[256];
    it_event_id(ev, sizeof ev, "idemcr");
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"name\":\"Idem\",\"stock\":4,\"max_per_user\":1}", ev);
    it_resp_t r1, r2;
    assert_int_equal(admin(&r1, f, "POST", "/v1/admin/events", body, "create-1"), 201);
    long got = admin(&r2, f, "POST", "/v1/admin/events", body, "create-1");
    if (got != 201)
        it_show("create retried with its key", &r2);
    assert_int_equal(got, 201);
    assert_string_equal(r2.body, r1.body);
    assert_string_equal(r2.location, r1.location);
    it_resp_free(&r1);
    it_resp_free(&r2);
    /* The same key on another create is a reuse. */
    snprintf(body, sizeof body, "{\"event_id\":\"%s-x\",\"name\":\"Idem\",\"stock\":4,\"max_per_user\":1}", ev);
    assert_int_equal(admin(&r1, f, "POST", "/v1/admin/events", body, "create-1"), 422);
    it_resp_free(&r1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM events WHERE event_id = '%s-x'", ev), 0);

    it_resp_t c;
    assert_int_equal(it_claim(&c, f, ev, "u-1", 1), 201);
    it_resp_free(&c);
    snprintf(path, sizeof path, "/v1/admin/events/%s/claims/u-1", ev);
    assert_int_equal(admin(&r1, f, "DELETE", path, NULL, "cancel-1"), 200);
    assert_int_equal(admin(&r2, f, "DELETE", path, NULL, "cancel-1"), 200);
    assert_string_equal(r2.body, r1.body);
    it_resp_free(&r1);
    it_resp_free(&r2);
    assert_int_equal(it_claim(&c, f, ev, "u-2", 1), 201);
    it_resp_free(&c);
    snprintf(path, sizeof path, "/v1/admin/events/%s/claims/u-2", ev);
    assert_int_equal(admin(&r1, f, "DELETE", path, NULL, "cancel-1"), 422); /* another user's claim */
    assert_string_equal(it_resp_error_code(&r1), "idempotency_key_reused");
    it_resp_free(&r1);
    totals_are(f, ev, 4, 1, "u-1 cancelled once, u-2 holds one");
}

/* Keys expire after 24 h: an expired key is free again, and every keyed write prunes at most 32 expired rows. */
static void expired_keys_are_pruned_and_reusable(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "idemexp", 10, 1);
    it_resp_t r;
    assert_int_equal(stock(&r, f, ev, 1, "old-key", IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    /* Age it past its expiry, and add 40 more expired rows. */
    assert_int_equal(it_db_exec(f->db, "UPDATE admin_requests SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE idem_key = 'old-key'"), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(it_db_exec(f->db,
                                    "INSERT INTO admin_requests (idem_key, fingerprint, event_id, status, body, created_at, expires_at) "
                                    "VALUES ('exp-%d', REPEAT('x', 32), '%s', 200, NULL, NOW(3) - INTERVAL 2 DAY, NOW(3) - INTERVAL 1 DAY)",
                                    i, ev),
                         0);
    /* The expired key with another request: a new use, applied. */
    assert_int_equal(stock(&r, f, ev, 2, "old-key", IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    totals_are(f, ev, 13, 0, "an expired key reused");
    long long left = it_db_int(f->db, -1, "SELECT COUNT(*) FROM admin_requests WHERE expires_at <= NOW(3)");
    fprintf(stderr, "expired rows left after one write: %lld of 41\n", left);
    assert_true(left >= 41 - 1 - 32 && left <= 41 - 32); /* bounded: at most 32 pruned (+ the reused key's own row) */
    assert_int_equal(stock(&r, f, ev, 1, "new-key", IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM admin_requests WHERE expires_at <= NOW(3)"), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM admin_requests"), 2);
}

/* ------------------------------------------------------------- failures between the stores */

static void cut_with_mariadb_stopped_before_its_step(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "idemcut1", 10, 1);
    it_resp_t r;
    it_claim_expect(f, ev, "u-1", 1, 201);
    pid_t dp = mariadb_pid();
    assert_true(dp > 0);
    assert_int_equal(kill(dp, SIGSTOP), 0);
    long got = stock(&r, f, ev, -3, "cut-before", SLOW_MS);
    /* Redis is read while MariaDB is still stopped: the cut must not be there. */
    long long rt = it_redis_ev_int(f->redis, ev, "total", -1), rr = it_redis_ev_int(f->redis, ev, "remaining", -1);
    kill(dp, SIGCONT);
    if (got != 503)
        it_show("cut with mariadb stopped", &r);
    it_resp_free(&r);
    assert_int_equal(got, 503);
    if (rt != 10 || rr != 9)
        fprintf(stderr, "the failed cut moved redis: total %lld remaining %lld (expected 10, 9)\n", rt, rr);
    assert_int_equal(rt, 10);
    assert_int_equal(rr, 9);

    stock_retried(f, ev, -3, "cut-before", "retried cut");
    totals_are(f, ev, 7, 1, "cut, mariadb stopped before its step, retried");
}

typedef struct {
    const it_fix_t *f;
    const char *ev;
    long status;
    it_resp_t r;
} cut_arg_t;

static void *cut_thread(void *p)
{
    cut_arg_t *a = p;
    a->status = stock(&a->r, a->f, a->ev, -4, "cut-after", SLOW_MS);
    return NULL;
}

static void cut_with_mariadb_stopped_after_the_redis_step(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "idemcut2", 10, 1);
    it_claim_expect(f, ev, "u-1", 1, 201);
    /* Redis holds writes (the cut's script among them) for 1.5 s; meanwhile
     * the database work before the Redis step is done, then mariadbd stops. */
    redisReply *rep = redisCommand(f->redis, "CLIENT PAUSE 1500 WRITE");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cut_arg_t a = {.f = f, .ev = ev};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cut_thread, &a), 0);
    it_sleep_ms(700);
    pid_t dp = mariadb_pid();
    assert_true(dp > 0);
    int stopped = kill(dp, SIGSTOP) == 0;
    pthread_join(t, NULL); /* the Redis step ran at 1.5 s; MariaDB never answered what came after */
    long long rt = it_redis_ev_int(f->redis, ev, "total", -1);
    kill(dp, SIGCONT);
    assert_true(stopped);
    fprintf(stderr, "cut held at its redis step, mariadb stopped: %ld; redis total then %lld\n", a.status, rt);
    if (a.status != 503)
        it_show("cut", &a.r);
    assert_int_equal(a.status, 503);
    it_resp_free(&a.r);

    assert_int_equal(stock_retried(f, ev, -4, "cut-after", "retried cut"), 6);
    totals_are(f, ev, 6, 1, "cut, mariadb stopped after its redis step, retried");
}

/* ------------------------------------------------------------- concurrency */

static void concurrent_state_changes_agree(void **st)
{
    it_fix_t *f = *st;
    char ev[64], url[512], auth[128];
    it_new_event(f, ev, sizeof ev, "idemst", 10, 1);
    snprintf(url, sizeof url, "%s/v1/admin/events/%s/state", f->gw.base_url, ev);
    const char *h[] = {it_api_auth_header(f, IT_ADMIN, auth), NULL};
    static const char *const states[] = {"open", "paused", "closed"};
    long long t_end = it_now_ms() + ROUNDS_MS;
    int rounds = 0, disagreed = 0;
    for (; rounds < ROUNDS && it_now_ms() < t_end; rounds++) {
        char b[3][64];
        it_multi_req_t reqs[3];
        memset(reqs, 0, sizeof reqs);
        for (int i = 0; i < 3; i++) {
            snprintf(b[i], sizeof b[i], "{\"state\":\"%s\"}", states[(i + rounds) % 3]);
            reqs[i].method = "POST";
            reqs[i].url = url;
            reqs[i].body = b[i];
            reqs[i].headers = h;
        }
        size_t n = it_http_multi(reqs, 3, 3, IT_HTTP1, IT_TIMEOUT_MS);
        for (int i = 0; i < 3; i++) {
            if (reqs[i].resp.status != 200)
                it_show("state change", &reqs[i].resp);
            assert_int_equal(reqs[i].resp.status, 200);
            it_resp_free(&reqs[i].resp);
        }
        assert_int_equal(n, 3);
        char rs[16];
        redis_ev_str(f, ev, "state", rs, sizeof rs);
        long long same = it_db_int(f->db, -1, "SELECT COUNT(*) FROM events WHERE event_id = '%s' AND state = '%s'", ev, rs);
        if (same != 1) {
            fprintf(stderr, "round %d: redis state %s, mariadb another\n", rounds, rs);
            disagreed++;
            break;
        }
    }
    fprintf(stderr, "%d rounds of three concurrent state changes, %d disagreed\n", rounds, disagreed);
    assert_int_equal(disagreed, 0);
}

static void concurrent_stock_changes_agree(void **st)
{
    it_fix_t *f = *st;
    char ev[64], url[512], auth[128];
    it_new_event(f, ev, sizeof ev, "idemsk", 1000, 1);
    it_resp_t c;
    assert_int_equal(it_claim(&c, f, ev, "u-1", 1), 201);
    it_resp_free(&c);
    snprintf(url, sizeof url, "%s/v1/admin/events/%s/stock", f->gw.base_url, ev);
    const char *h[] = {it_api_auth_header(f, IT_ADMIN, auth), NULL};
    long long t_end = it_now_ms() + ROUNDS_MS, total = 1000;
    int rounds = 0;
    for (; rounds < ROUNDS / 2 && it_now_ms() < t_end; rounds++) {
        static const char *const b[] = {"{\"delta\":3}", "{\"delta\":-2}", "{\"delta\":5}"};
        it_multi_req_t reqs[3];
        memset(reqs, 0, sizeof reqs);
        for (int i = 0; i < 3; i++) {
            reqs[i].method = "POST";
            reqs[i].url = url;
            reqs[i].body = b[i];
            reqs[i].headers = h;
        }
        it_http_multi(reqs, 3, 3, IT_HTTP1, IT_TIMEOUT_MS);
        for (int i = 0; i < 3; i++) {
            if (reqs[i].resp.status != 200)
                it_show("stock change", &reqs[i].resp);
            assert_int_equal(reqs[i].resp.status, 200);
            it_resp_free(&reqs[i].resp);
        }
        total += 6;
        totals_are(f, ev, total, 1, "concurrent stock changes");
    }
    fprintf(stderr, "%d rounds of three concurrent stock changes agreed\n", rounds);
}

/* ------------------------------------------------------------- 7b: the total cap */

static void total_cap_edges(void **st)
{
    it_fix_t *f = *st;
    char ev[64], ev2[64], body[256], s[32];
    it_resp_t r;
    /* Create at the cap: exact in both stores. */
    it_event_id(ev, sizeof ev, "capc");
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"stock\":%lld,\"max_per_user\":1}", ev, CAP);
    long got = admin(&r, f, "POST", "/v1/admin/events", body, NULL);
    if (got != 201)
        it_show("create at the cap", &r);
    assert_int_equal(got, 201);
    assert_int_equal(it_json_int(r.json, "stock_total"), CAP);
    it_resp_free(&r);
    redis_ev_str(f, ev, "total", s, sizeof s);
    assert_string_equal(s, "99999999999999");
    redis_ev_str(f, ev, "remaining", s, sizeof s);
    assert_string_equal(s, "99999999999999");
    assert_int_equal(db_total(f, ev), CAP);
    /* A claim leaves remaining exact. */
    it_claim_expect(f, ev, "u-1", 1, 201);
    redis_ev_str(f, ev, "remaining", s, sizeof s);
    assert_string_equal(s, "99999999999998");
    /* One unit more: 400 stock_limit, nothing moves. */
    assert_int_equal(stock(&r, f, ev, 1, NULL, IT_TIMEOUT_MS), 400);
    assert_string_equal(it_resp_error_code(&r), "stock_limit");
    it_resp_free(&r);
    redis_ev_str(f, ev, "total", s, sizeof s);
    assert_string_equal(s, "99999999999999");
    totals_are(f, ev, CAP, 1, "restock over the cap refused");
    /* Create one over the cap: 400, no event. */
    it_event_id(ev2, sizeof ev2, "capo");
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"stock\":%lld,\"max_per_user\":1}", ev2, CAP + 1);
    assert_int_equal(admin(&r, f, "POST", "/v1/admin/events", body, NULL), 400);
    assert_string_equal(it_resp_error_code(&r), "stock_limit");
    it_resp_free(&r);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM events WHERE event_id = '%s'", ev2), 0);
    assert_int_equal(it_redis_ev_int(f->redis, ev2, "total", -1), -1);

    /* A restock that reaches the cap exactly from below, then a cut from it. */
    it_new_event(f, ev2, sizeof ev2, "capr", 5, 1);
    assert_int_equal(stock(&r, f, ev2, CAP - 5, NULL, IT_TIMEOUT_MS), 200);
    assert_int_equal(it_json_int(r.json, "stock_total"), CAP);
    it_resp_free(&r);
    redis_ev_str(f, ev2, "total", s, sizeof s);
    assert_string_equal(s, "99999999999999");
    totals_are(f, ev2, CAP, 0, "restocked to the cap");
    assert_int_equal(stock(&r, f, ev2, 1, NULL, IT_TIMEOUT_MS), 400);
    assert_string_equal(it_resp_error_code(&r), "stock_limit");
    it_resp_free(&r);
    assert_int_equal(stock(&r, f, ev2, -(CAP - 1), NULL, IT_TIMEOUT_MS), 200);
    it_resp_free(&r);
    totals_are(f, ev2, 1, 0, "cut from the cap");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(restock_retried_with_the_same_key_is_applied_once, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(same_key_other_request_is_refused, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(bad_keys_are_refused, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(create_and_cancel_replay, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(expired_keys_are_pruned_and_reusable, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(concurrent_state_changes_agree, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(concurrent_stock_changes_agree, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(total_cap_edges, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(restock_503_after_commit_converges, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(cut_with_mariadb_stopped_before_its_step, it_fix_new0, teardown),
        cmocka_unit_test_setup_teardown(cut_with_mariadb_stopped_after_the_redis_step, it_fix_new0, teardown),
    };
    return cmocka_run_group_tests_name("it_admin_idem", tests, it_group_setup, NULL);
}
