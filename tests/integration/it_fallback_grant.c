/*
 * it_fallback_grant: the granting fallback (gateway/failover/gw_fallback_grant.c,
 * gw_journal.h, gw_lock.h, gw_failover.h) with real Redis and MariaDB, step by
 * step, every figure checked exactly.
 *
 * main() sets FALLBACK_AFTER_MS=300 (inherited by the fixture's gateway,
 * lib/it_proc.c): Redis away 300 ms and the gateway grants from MariaDB.
 *
 * Set-up. No worker runs (it_fix_new0), so what Redis grants stays in its
 * stream, undrained, and MariaDB has no row of it. Two events, E1 (stock
 * 10) and E2 (stock 5), max_per_user 1. The journal of an event is complete
 * only when the first watermark after the gateway tracked it saw its stream
 * holding nothing at or below its sequence (gw_journal.h): so the test has
 * each event tracked first (a claim above max_per_user: sent to Redis,
 * refused, nothing drawn), waits until /readyz lists both, then 1 s and at
 * least three watermark rounds (counted by Redis's EVALSHA calls, the
 * gateway's only ones then) with the streams empty, and only then claims:
 * E1 a..e (tickets 1..5), E2 a (ticket 1), all pending in Redis, no row in
 * MariaDB.
 *
 *  1. journal written. Redis stopped: /readyz reaches "path":"grant". The
 *     first claim on E1 ("c" again) writes E1's journal into MariaDB: 200
 *     with ticket 3, confirmed; 5 rows, sold 5, ticket_hwm 5. "f": 201,
 *     ticket 6, confirmed. Admin view "path":"fallback", "redis":null,
 *     database.sold 6; /readyz paths E1 "fallback", E2 still "read-only"
 *     (its lock is taken at its first claim); the lock row of E1 carries a
 *     token and holder "gw-…", E2's none; metrics mode grant, grants 1.
 *  2. stock exact: over max_per_user: 409 limit_reached; users g..n: exactly
 *     4 more 201s (tickets 7..10) then 409 sold_out; MariaDB sold 10, 10
 *     rows; a user holding a claim still gets it (200).
 *  3. lock stolen: E2 claimed once ("b", 201 ticket 2: its journal — ticket
 *     1 — written, lock taken); then the lock row is overwritten in MariaDB
 *     (another holder, live 60 s): a new user on E2 is 503, nothing
 *     written, tk_fallback_lock_lost_total 1, E2 read-only; the gateway did
 *     not take the lock back. The row freed: the next claim retakes it, 201
 *     ticket 3 (the journal written again skips what is there).
 *  4. merge. Redis started: its AOF brings back the old streams and
 *     counters, and with no worker to drain them the merge waits: /readyz
 *     "merge" (E1 "merging"), still so 1.5 s later, the streams untouched,
 *     claims answered read-only from MariaDB (E1 sold_out, E2 new user 503).
 *     A worker started: /readyz "path":"fast" within 30 s; Redis equals
 *     MariaDB for both events (remaining, seq, each user's ticket); E1 sold
 *     out in Redis too (before the outage Redis said 5 left); new claims on
 *     E2 are 201 tickets 4, 5 pending on the fast path, then sold_out;
 *     drained, the books agree on both sides, sold = the confirmed units =
 *     the rows (the worker's drain of the tickets the journal wrote did not
 *     count them twice); the lock rows are free; tk_fallback_merges_total 1.
 *
 * Redis is always started again in teardown, whatever failed.
 *
 * created_events_are_tracked: an event nobody claimed yet is tracked from
 * tk:events (gw_failover.h: read every ~2 s): /readyz lists it within
 * 10 s. (When this fails and the rest passes, look at how often
 * gw_failover.c actually sends SMEMBERS tk:events.)
 */
#include <setjmp.h>
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
#include "tk_claim.h"
#include "tk_keys.h"

#define SVC_MS 60000
#define TRACK_MS 10000  /* until /readyz lists an event (tk:events is read every ~2 s) */
#define BASE_MS 1000    /* then: watermarks (every 200 ms) while the streams are empty */
#define GRANT_MS 10000  /* Redis stopped until "path":"grant" */
#define MERGE_MS 30000  /* Redis started until "path":"fast" */
#define DRAIN_MS 60000
#define MERGE_HOLD_MS 1500 /* Redis back, no worker: the merge must still be waiting after this */

#define E1_STOCK 10
#define E2_STOCK 5

typedef struct {
    it_fix_t *f;
    char e1[64], e2[64];
} ctx_t;

/* ------------------------------------------------------------- helpers */

/* A claim answered @status (and error @code, or ticket @ticket with claim status @cstatus when > 0 / not NULL). */
static void claim_is(const it_fix_t *f, const char *ev, const char *user, int qty, long status, const char *code, long long ticket,
                     const char *cstatus)
{
    it_resp_t r;
    long got = it_claim(&r, f, ev, user, qty);
    const char *ecode = it_resp_error_code(&r);
    int bad = got != status || (code != NULL && (ecode == NULL || strcmp(ecode, code) != 0)) ||
              (ticket > 0 && it_json_int(r.json, "ticket") != ticket) ||
              (cstatus != NULL && (it_json_str(r.json, "status") == NULL || strcmp(it_json_str(r.json, "status"), cstatus) != 0));
    if (bad) {
        char what[256];
        snprintf(what, sizeof what, "claim %s/%s qty %d: expected %ld %s ticket %lld %s; got", ev, user, qty, status, code ? code : "",
                 ticket, cstatus ? cstatus : "");
        it_show(what, &r);
        fprintf(stderr, "gateway log: %s\n", f->gw.proc.log_path);
    }
    assert_int_equal(got, status);
    if (code != NULL)
        assert_string_equal(ecode != NULL ? ecode : "(none)", code);
    if (ticket > 0)
        assert_int_equal(it_json_int(r.json, "ticket"), ticket);
    if (cstatus != NULL)
        assert_string_equal(it_json_str(r.json, "status") ? it_json_str(r.json, "status") : "(none)", cstatus);
    it_resp_free(&r);
}

/* GET /readyz into @r (caller frees): its "path" and the event @ev's entry of "paths" into @path/@evpath. */
static void readyz(const it_fix_t *f, const char *ev, char *path, size_t plen, char *evpath, size_t elen, it_resp_t *r)
{
    memset(r, 0, sizeof *r);
    int got = it_apif(r, f, IT_NO_AUTH, "GET", NULL, "/readyz") == 0;
    const char *p = got ? it_json_str(r->json, "path") : NULL;
    const char *e = got && ev != NULL ? it_json_str(json_object_get(r->json, "paths"), ev) : NULL;
    snprintf(path, plen, "%s", p != NULL ? p : "(none)");
    if (evpath != NULL)
        snprintf(evpath, elen, "%s", e != NULL ? e : "(absent)");
}

/* The event @ev's path in /readyz ("(absent)" when not listed) into @out. */
static void evpath_of(const it_fix_t *f, const char *ev, char *out, size_t len)
{
    it_ready_t r;
    it_readyz(f, ev, &r);
    snprintf(out, len, "%s", r.evpath);
}

/* The admin view of @ev into @r (caller frees); asserts 200. */
static void admin_view(const it_fix_t *f, const char *ev, it_resp_t *r)
{
    assert_int_equal(it_apif(r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", ev), 0);
    if (r->status != 200 || r->json == NULL)
        it_show("admin view", r);
    assert_int_equal(r->status, 200);
    assert_non_null(r->json);
}

static long long db_rows(const it_fix_t *f, const char *ev)
{
    return it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", ev);
}

static long long db_sold(const it_fix_t *f, const char *ev)
{
    return it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", ev);
}

static long long db_ticket(const it_fix_t *f, const char *ev, const char *user)
{
    return it_db_int(f->db, 0, "SELECT ticket FROM claims WHERE event_id = '%s' AND user_id = '%s'", ev, user);
}

/* The user's ticket in Redis's claims hash: 0 when absent, -1 when unreadable. */
static long long redis_ticket(const it_fix_t *f, const char *ev, const char *user)
{
    char k[TK_KEY_MAX];
    if (tk_key(TK_KEY_CLAIMS, ev, strlen(ev), k) < 0)
        return -1;
    redisReply *rep = redisCommand(f->redis, "HGET %s %s", k, user);
    long long v = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_NIL) {
        v = 0;
    } else if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        tk_claim_t c;
        if (tk_claim_decode(rep->str, rep->len, &c) == 0)
            v = (long long)c.ticket;
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return v;
}

/* ---------------------------------------------------------- the steps */

static void setup_before_outage(ctx_t *c)
{
    it_fix_t *f = c->f;
    it_event_id(c->e1, sizeof c->e1, "fg1");
    it_event_id(c->e2, sizeof c->e2, "fg2");
    assert_int_equal(it_api_create_event(f, c->e1, E1_STOCK, 1, 0, 0), 201);
    assert_int_equal(it_api_create_event(f, c->e2, E2_STOCK, 1, 0, 0), 201);

    /* Tracked (listed by /readyz), then watermarks with the streams empty: base 0, complete. A claim
     * above max_per_user is sent to Redis (refused by the claim script: no ticket, no stream entry),
     * which makes the gateway track the event at once rather than at its next read of tk:events. */
    claim_is(f, c->e1, "p", 2, 409, "limit_reached", 0, NULL);
    claim_is(f, c->e2, "p", 2, 409, "limit_reached", 0, NULL);
    assert_int_equal(it_wait_tracked(f, c->e1, TRACK_MS), 0);
    assert_int_equal(it_wait_tracked(f, c->e2, TRACK_MS), 0);
    /* Watermarks are the gateway's only EVALSHA calls now (no claim, no worker): at least three
     * rounds over both events, and BASE_MS, however slow the machine is. */
    assert_int_equal(it_wait_watermarks(f, 6, BASE_MS, TRACK_MS), 0);

    static const char *const users[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        claim_is(f, c->e1, users[i], 1, 201, NULL, i + 1, "pending");
    claim_is(f, c->e2, "a", 1, 201, NULL, 1, "pending");
    /* Nothing drained: no worker runs. */
    assert_int_equal(it_redis_xlen(f->redis, c->e1), 5);
    assert_int_equal(it_redis_xlen(f->redis, c->e2), 1);
    assert_int_equal(db_rows(f, c->e1), 0);
    assert_int_equal(db_rows(f, c->e2), 0);
    assert_int_equal(db_sold(f, c->e1), 0);
}

static void step1_journal_written(ctx_t *c)
{
    it_fix_t *f = c->f;
    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(it_wait_path(f, "step 1: Redis stopped", NULL, "grant", GRANT_MS, NULL, 0, NULL), 0);

    /* "c" holds ticket 3 in Redis only: the fallback's first claim on E1 writes the journal, then finds it. */
    claim_is(f, c->e1, "c", 1, 200, NULL, 3, "confirmed");
    assert_int_equal(db_rows(f, c->e1), 5);
    assert_int_equal(db_sold(f, c->e1), 5);
    assert_int_equal(it_db_int(f->db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", c->e1), 5);
    static const char *const users[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(db_ticket(f, c->e1, users[i]), i + 1);
        assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id = '%s' AND status = 'confirmed'",
                                   c->e1, users[i]),
                         1);
    }
    /* E2 untouched so far: its journal is written at its own first claim. */
    assert_int_equal(db_rows(f, c->e2), 0);

    claim_is(f, c->e1, "f", 1, 201, NULL, 6, "confirmed");
    assert_int_equal(db_rows(f, c->e1), 6);
    assert_int_equal(db_sold(f, c->e1), 6);

    /* The status route answers from MariaDB, and knows who has no claim. */
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/f", c->e1), 0);
    if (r.status != 200)
        it_show("status of f", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "ticket"), 6);
    it_resp_free(&r);

    admin_view(f, c->e1, &r);
    assert_string_equal(it_json_str(r.json, "path"), "fallback");
    assert_true(json_is_null(json_object_get(r.json, "redis")));
    assert_int_equal(it_json_int(json_object_get(r.json, "database"), "sold"), 6);
    assert_int_equal(it_json_int(json_object_get(r.json, "database"), "confirmed"), 6);
    it_resp_free(&r);

    char p[32], e1p[32], e2p[32];
    readyz(f, c->e1, p, sizeof p, e1p, sizeof e1p, &r);
    assert_int_equal(r.status, 503); /* not on the fast path */
    assert_string_equal(it_json_str(r.json, "fallback"), "granting");
    it_resp_free(&r);
    assert_string_equal(p, "grant");
    assert_string_equal(e1p, "fallback");
    evpath_of(f, c->e2, e2p, sizeof e2p);
    assert_string_equal(e2p, "read-only");

    assert_int_equal(it_metric(f, "tk_path_mode{mode=\"grant\"}"), 1);
    assert_int_equal(it_metric(f, "tk_path_mode{mode=\"fast\"}"), 0);
    assert_int_equal(it_metric(f, "tk_fallback_grants_total"), 1);
    assert_int_equal(it_metric(f, "tk_fallback_lock_lost_total"), 0);

    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND token IS NOT NULL AND "
                                          "LENGTH(token) = 32 AND holder LIKE 'gw-%%' AND expires_at > NOW(3)",
                               c->e1),
                     1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND token IS NULL", c->e2), 1);
}

static void step2_stock_exact(ctx_t *c)
{
    it_fix_t *f = c->f;
    claim_is(f, c->e1, "q", 2, 409, "limit_reached", 0, NULL);
    static const char *const users[] = {"g", "h", "i", "j", "k", "l", "m", "n"};
    int granted = 0;
    for (int i = 0; i < 8; i++) {
        if (i < 4) {
            claim_is(f, c->e1, users[i], 1, 201, NULL, 7 + i, "confirmed");
            granted++;
        } else {
            claim_is(f, c->e1, users[i], 1, 409, "sold_out", 0, NULL);
        }
    }
    assert_int_equal(granted, 4);
    assert_int_equal(db_rows(f, c->e1), E1_STOCK);
    assert_int_equal(db_sold(f, c->e1), E1_STOCK);
    assert_int_equal(it_db_int(f->db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", c->e1), 10);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id = '%s'", c->e1), E1_STOCK);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id IN ('k','l','m','n','q')", c->e1), 0);
    /* Sold out, a holder still gets their claim. */
    claim_is(f, c->e1, "a", 1, 200, NULL, 1, "confirmed");
    claim_is(f, c->e1, "j", 1, 200, NULL, 10, "confirmed");
    assert_int_equal(it_metric(f, "tk_fallback_grants_total"), 5);
}

static void step3_lock_stolen(ctx_t *c)
{
    it_fix_t *f = c->f;
    char e2p[32];
    /* E2's first fallback claim: the lock taken, its journal (a, ticket 1) written. */
    claim_is(f, c->e2, "b", 1, 201, NULL, 2, "confirmed");
    assert_int_equal(db_rows(f, c->e2), 2);
    assert_int_equal(db_sold(f, c->e2), 2);
    assert_int_equal(db_ticket(f, c->e2, "a"), 1);
    evpath_of(f, c->e2, e2p, sizeof e2p);
    assert_string_equal(e2p, "fallback");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND token IS NOT NULL AND holder LIKE 'gw-%%'",
                               c->e2),
                     1);

    /* Another holder takes the row (as after an expiry). */
    assert_int_equal(it_db_exec(f->db,
                                "UPDATE event_locks SET token = 'ffffffffffffffffffffffffffffffff', holder = 'other', "
                                "expires_at = NOW(3) + INTERVAL 60 SECOND WHERE event_id = '%s'",
                                c->e2),
                     0);
    claim_is(f, c->e2, "c", 1, 503, "unavailable", 0, NULL);
    assert_int_equal(db_rows(f, c->e2), 2);
    assert_int_equal(db_sold(f, c->e2), 2);
    assert_int_equal(db_ticket(f, c->e2, "c"), 0);
    assert_int_equal(it_metric(f, "tk_fallback_lock_lost_total"), 1);
    assert_int_equal(it_metric(f, "tk_fallback_grants_total"), 6);
    evpath_of(f, c->e2, e2p, sizeof e2p);
    assert_string_equal(e2p, "read-only");
    /* Read-only while the other holder's lock lives: a new user 503, a holder 200; the row stays the other's. */
    claim_is(f, c->e2, "c", 1, 503, "unavailable", 0, NULL);
    claim_is(f, c->e2, "b", 1, 200, NULL, 2, "confirmed");
    assert_int_equal(db_rows(f, c->e2), 2);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND holder = 'other' AND "
                                          "token = 'ffffffffffffffffffffffffffffffff'",
                               c->e2),
                     1);
    /* E1 is not affected. */
    claim_is(f, c->e1, "b", 1, 200, NULL, 2, "confirmed");

    /* The other holder lets go: the next claim takes the lock again and grants above what is stored. */
    assert_int_equal(it_db_exec(f->db, "UPDATE event_locks SET token = NULL, holder = NULL, expires_at = NULL WHERE event_id = '%s'", c->e2), 0);
    claim_is(f, c->e2, "d", 1, 201, NULL, 3, "confirmed");
    assert_int_equal(db_rows(f, c->e2), 3);
    assert_int_equal(db_sold(f, c->e2), 3);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id = '%s'", c->e2), 3);
    evpath_of(f, c->e2, e2p, sizeof e2p);
    assert_string_equal(e2p, "fallback");
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND token IS NOT NULL AND holder LIKE 'gw-%%'",
                               c->e2),
                     1);
    assert_int_equal(it_metric(f, "tk_fallback_grants_total"), 7);
    assert_int_equal(it_metric(f, "tk_fallback_lock_lost_total"), 1);
}

/* Redis's copy of @ev equals MariaDB's: remaining, seq, and the ticket of each of @users (@tickets; 0: no claim). */
static void redis_equals_db(const it_fix_t *f, const char *ev, long long total, const char *const *users, const long long *tickets, int n)
{
    long long sold = db_sold(f, ev), rows = db_rows(f, ev);
    long long hwm = it_db_int(f->db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", ev);
    long long remaining = it_redis_ev_int(f->redis, ev, "remaining", -1), seq = it_redis_ev_int(f->redis, ev, "seq", -1);
    long long hlen = it_redis_claims_count(f->redis, ev);
    if (remaining != total - sold || seq != hwm || hlen != rows)
        fprintf(stderr, "%s: redis remaining %lld seq %lld claims %lld; mariadb total %lld sold %lld ticket_hwm %lld rows %lld\n", ev,
                remaining, seq, hlen, total, sold, hwm, rows);
    assert_int_equal(remaining, total - sold);
    assert_int_equal(seq, hwm);
    assert_int_equal(hlen, rows);
    for (int i = 0; i < n; i++) {
        long long rt = redis_ticket(f, ev, users[i]), dt = db_ticket(f, ev, users[i]);
        if (rt != tickets[i] || dt != tickets[i])
            fprintf(stderr, "%s/%s: expected ticket %lld; redis %lld mariadb %lld\n", ev, users[i], tickets[i], rt, dt);
        assert_int_equal(rt, tickets[i]);
        assert_int_equal(dt, tickets[i]);
    }
}

/* After the drain: the admin view's two sides agree, and MariaDB's sold is its confirmed units and rows. */
static void books_agree(const it_fix_t *f, const char *ev, long long sold)
{
    it_resp_t r;
    int rc = it_api_wait_drained(&r, f, ev, DRAIN_MS);
    if (rc != 0)
        it_show("not drained", &r);
    assert_int_equal(rc, 0);
    json_t *red = json_object_get(r.json, "redis"), *db = json_object_get(r.json, "database");
    if (it_json_int(red, "granted") != sold || it_json_int(db, "confirmed") != sold || it_json_int(db, "sold") != sold)
        it_show("admin view after the merge", &r);
    assert_string_equal(it_json_str(r.json, "path"), "redis");
    assert_int_equal(it_json_int(red, "granted"), sold);
    assert_int_equal(it_json_int(db, "confirmed"), sold);
    assert_int_equal(it_json_int(db, "sold"), sold);
    assert_int_equal(it_json_int(red, "tickets_issued"), sold);
    it_resp_free(&r);
    assert_int_equal(db_sold(f, ev), sold);
    assert_int_equal(db_rows(f, ev), sold);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COALESCE(SUM(quantity),0) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", ev), sold);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id = '%s'", ev), sold);
    assert_int_equal(it_db_int(f->db, -1, "SELECT MAX(ticket) FROM claims WHERE event_id = '%s'", ev), sold);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND token IS NULL", ev), 1);
}

static void step4_merge(ctx_t *c)
{
    it_fix_t *f = c->f;
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    redisFree(f->redis); /* the test's own connection died with the old Redis */
    f->redis = it_redis_connect();
    assert_non_null(f->redis);
    /* The AOF brought the undrained grants back: the merge must wait for a worker to drain them. */
    assert_int_equal(it_redis_xlen(f->redis, c->e1), 5);
    assert_int_equal(it_redis_xlen(f->redis, c->e2), 1);
    assert_int_equal(it_wait_path(f, "step 4: Redis started", NULL, "merge", GRANT_MS, NULL, 0, NULL), 0);
    it_sleep_ms(MERGE_HOLD_MS);
    char p[32], e1p[32];
    it_resp_t r;
    readyz(f, c->e1, p, sizeof p, e1p, sizeof e1p, &r);
    if (strcmp(p, "merge") != 0)
        it_show("step 4: no worker runs, the streams are not drained, yet /readyz", &r);
    assert_string_equal(it_json_str(r.json, "fallback"), "merging");
    it_resp_free(&r);
    assert_string_equal(p, "merge");
    assert_string_equal(e1p, "merging");
    assert_int_equal(it_redis_xlen(f->redis, c->e1), 5);
    assert_int_equal(it_metric(f, "tk_path_mode{mode=\"merge\"}"), 1);
    assert_int_equal(it_metric(f, "tk_fallback_merges_total"), 0);
    /* Meanwhile claims are answered read-only from MariaDB: exact refusals, no grant. */
    claim_is(f, c->e1, "o", 1, 409, "sold_out", 0, NULL);
    claim_is(f, c->e2, "e", 1, 503, "unavailable", 0, NULL);
    claim_is(f, c->e2, "d", 1, 200, NULL, 3, "confirmed");
    assert_int_equal(db_rows(f, c->e2), 3);

    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    assert_int_equal(it_wait_path(f, "step 4: the worker started", NULL, "fast", MERGE_MS, NULL, 0, NULL), 0);

    static const char *const u1[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "q"};
    static const long long t1[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0};
    redis_equals_db(f, c->e1, E1_STOCK, u1, t1, 12);
    assert_int_equal(it_redis_ev_int(f->redis, c->e1, "remaining", -1), 0);
    assert_int_equal(it_redis_ev_int(f->redis, c->e1, "seq", -1), 10);
    static const char *const u2[] = {"a", "b", "c", "d"};
    static const long long t2[] = {1, 2, 0, 3};
    redis_equals_db(f, c->e2, E2_STOCK, u2, t2, 4);
    assert_int_equal(it_redis_ev_int(f->redis, c->e2, "remaining", -1), 2);
    assert_int_equal(it_redis_ev_int(f->redis, c->e2, "seq", -1), 3);

    /* The fast path again, from where the fallback left the books. */
    claim_is(f, c->e1, "o", 1, 409, "sold_out", 0, NULL);
    claim_is(f, c->e1, "f", 1, 200, NULL, 6, NULL);
    claim_is(f, c->e2, "e", 1, 201, NULL, 4, "pending");
    claim_is(f, c->e2, "c", 1, 201, NULL, 5, "pending");
    claim_is(f, c->e2, "f", 1, 409, "sold_out", 0, NULL);

    books_agree(f, c->e1, E1_STOCK);
    books_agree(f, c->e2, E2_STOCK);
    assert_int_equal(it_metric(f, "tk_fallback_merges_total"), 1);
    assert_int_equal(it_metric(f, "tk_path_mode{mode=\"fast\"}"), 1);
    assert_int_equal(it_metric(f, "tk_fallback_grants_total"), 7);
}

static void fallback_grants_exactly(void **st)
{
    ctx_t c = {.f = *st};
    fprintf(stderr, "gateway log: %s\n", c.f->gw.proc.log_path);
    setup_before_outage(&c);
    step1_journal_written(&c);
    step2_stock_exact(&c);
    step3_lock_stolen(&c);
    step4_merge(&c);
}

/*
 * gw_failover.h: "the events of tk:events are tracked every ~2 s". An event
 * nobody claimed yet must show in /readyz "paths" within a few of those
 * reads (TRACK_MS), or its journal has no base before its first claims.
 */
static void created_events_are_tracked(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "fgtrack", 3, 1);
    assert_int_equal(it_wait_tracked(f, ev, TRACK_MS), 0);
}

int main(void)
{
    /* The granting fallback takes over after 300 ms of Redis away (the gateway inherits the environment). */
    if (setenv("FALLBACK_AFTER_MS", "300", 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fallback_grants_exactly, it_fix_new0, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(created_events_are_tracked, it_fix_new0, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_fallback_grant", tests, it_group_setup, NULL);
}
