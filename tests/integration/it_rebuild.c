/*
 * it_rebuild: an event's Redis state rebuilt from MariaDB (common/tk_rebuild.c,
 * tools/tk_rebuild_cli.c, docs/REBUILD.md):
 *  - after FLUSHALL, `tk-rebuild --event` restores what the API shows: the
 *    same remaining, held claims answered 200 with their claim id, ticket and
 *    status, cancelled ones still cancelled, a new claim gets the next ticket
 *    and is drained by the workers again; the running gateway needs no
 *    restart (it reloads its scripts on NOSCRIPT);
 *  - with entries still in the stream (no workers) it refuses with
 *    TK_REBUILD_NOT_DRAINED and changes nothing; the command exits non-zero;
 *  - over an intact state it changes nothing (the hashes are byte-equal);
 *  - the swap script refuses a stale snapshot (a claim granted meanwhile);
 *  - the gateway rebuilds by itself when Redis comes back empty, and until
 *    then answers 503, never 404;
 *  - a check held up by one event keeps the 404 of a status lookup on
 *    another event Redis holds.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_redis.h"
#include "tk_lua.h"
#include "tk_rebuild.h"

#define DRAIN_MS 60000
#define CMD_MS 60000
#define DUMP_MAX 16384

static long long remaining(const it_fix_t *f, const char *ev)
{
    it_resp_t r;
    long long v = -1;
    if (it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev) == 0 && r.status == 200)
        v = it_json_int(r.json, "remaining");
    else
        it_show("GET event", &r);
    it_resp_free(&r);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* HGETALL @key as sorted "field=value;" lines into @out ("" when absent). */
static void hash_dump(redisContext *rc, const char *key, char *out)
{
    out[0] = '\0';
    redisReply *r = redisCommand(rc, "HGETALL %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t n = r->elements / 2;
    char **lines = calloc(n + 1, sizeof(*lines));
    assert_non_null(lines);
    for (size_t i = 0; i < n; i++) {
        lines[i] = malloc(r->element[2 * i]->len + r->element[2 * i + 1]->len + 3);
        assert_non_null(lines[i]);
        sprintf(lines[i], "%s=%s;", r->element[2 * i]->str, r->element[2 * i + 1]->str);
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        assert_true(used + l + 1 < DUMP_MAX);
        memcpy(out + used, lines[i], l + 1);
        used += l;
        free(lines[i]);
    }
    free(lines);
    freeReplyObject(r);
}

/* The event's observable Redis state: event hash, claims, stream length, membership of tk:events. */
static void state_dump(redisContext *rc, const char *ev, char *out)
{
    char key[128], a[DUMP_MAX], b[DUMP_MAX];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    hash_dump(rc, key, a);
    snprintf(key, sizeof key, "tk:{%s}:claims", ev);
    hash_dump(rc, key, b);
    redisReply *m = redisCommand(rc, "SISMEMBER tk:events %s", ev);
    assert_non_null(m);
    snprintf(out, 3 * DUMP_MAX, "ev[%s] claims[%s] xlen=%lld member=%lld", a, b, it_redis_xlen(rc, ev), m->integer);
    freeReplyObject(m);
}

/* Runs tk-rebuild with @args (NULL-terminated); returns its exit code, -1 on failure to run. */
static int run_cmd(const char *const *args)
{
    return it_run_tool("tk-rebuild", args, NULL, NULL, CMD_MS);
}

static void wait_drained(const it_fix_t *f, const char *ev)
{
    it_resp_t v;
    int rc = it_api_wait_drained(&v, f, ev, DRAIN_MS);
    if (rc != 0)
        it_show("admin view", &v);
    it_resp_free(&v);
    assert_int_equal(rc, 0);
}

/* The admin cancels @user's claim (must answer 200), then the worker drains the event. */
static void cancel_then_drain(const it_fix_t *f, const char *ev, const char *user)
{
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "DELETE", NULL, "/v1/admin/events/%s/claims/%s", ev, user), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    wait_drained(f, ev);
}

/* ------------------------------------------------------------ (a) after FLUSHALL */

static void rebuild_after_flushall_restores_every_claim(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "rebuild", 10, 2);
    const char *users[] = {"u-1", "u-2", "u-3", "u-4"};
    const int qty[] = {1, 2, 1, 2};
    char ids[4][128];
    long long tickets[4], max_ticket = 0;
    for (int i = 0; i < 4; i++) {
        it_resp_t r;
        assert_int_equal(it_claim(&r, f, ev, users[i], qty[i]), 201);
        snprintf(ids[i], sizeof ids[i], "%s", it_json_str(r.json, "claim_id"));
        tickets[i] = it_json_int(r.json, "ticket");
        max_ticket = tickets[i] > max_ticket ? tickets[i] : max_ticket;
        it_resp_free(&r);
    }
    it_resp_t r;
    cancel_then_drain(f, ev, "u-2");
    long long deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND status='confirmed'", ev) != 3 && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", ev), 4);
    assert_int_equal(remaining(f, ev), 6);

    /* Redis loses everything; the gateway keeps running, and notices (the
     * identity's instance mark, within a second: 503 while it checks). */
    int changes = it_identity_changes(f);
    assert_int_equal(it_redis_flushall(f->redis), 0);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev), 0);
    assert_true(r.status == 404 || r.status == 503);
    it_resp_free(&r);

    const char *args[] = {"--event", ev, "--wait-drain-ms", "5000", NULL};
    assert_int_equal(run_cmd(args), 0);
    assert_int_equal(it_wait_flush_noticed(f, changes), 0);

    assert_int_equal(remaining(f, ev), 6);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(it_claim(&r, f, ev, users[i], qty[i]), 200);
        assert_string_equal(it_json_str(r.json, "claim_id"), ids[i]);
        assert_int_equal(it_json_int(r.json, "ticket"), tickets[i]);
        assert_int_equal(it_json_int(r.json, "quantity"), qty[i]);
        assert_string_equal(it_json_str(r.json, "status"), i == 1 ? "cancelled" : "confirmed");
        it_resp_free(&r);
    }
    /* A new user gets the next ticket above every earlier one, and the workers drain it again. */
    assert_int_equal(it_claim(&r, f, ev, "u-5", 1), 201);
    assert_int_equal(it_json_int(r.json, "ticket"), max_ticket + 1);
    it_resp_free(&r);
    assert_int_equal(remaining(f, ev), 5);
    deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND user_id='u-5' AND status='confirmed'", ev) != 1 &&
           it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(
        it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND user_id='u-5' AND status='confirmed'", ev), 1);
    wait_drained(f, ev);
    assert_int_equal(it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", ev), 5);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "remaining", -1), 5);
}

/* ------------------------------------------------------------ (b) not drained */

static void rebuild_refuses_while_stream_holds_entries(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "undrained", 10, 1);
    it_claim_expect(f, ev, "u-1", 1, 201);
    it_claim_expect(f, ev, "u-2", 1, 201);
    assert_int_equal(it_redis_xlen(f->redis, ev), 2);

    static char before[3 * DUMP_MAX], after[3 * DUMP_MAX];
    state_dump(f->redis, ev, before);
    tk_rebuild_stats_t stats;
    char err[256];
    assert_int_equal(tk_rebuild_event(f->db, f->redis, ev, &stats, err, sizeof err), TK_REBUILD_NOT_DRAINED);
    assert_int_equal(stats.stream_len, 2);
    state_dump(f->redis, ev, after);
    assert_string_equal(before, after);

    const char *args[] = {"--event", ev, "--wait-drain-ms", "300", NULL};
    assert_int_equal(run_cmd(args), 1);
    state_dump(f->redis, ev, after);
    assert_string_equal(before, after);
    assert_int_equal(remaining(f, ev), 8);

    /* An unknown event has its own code. */
    assert_int_equal(tk_rebuild_event(f->db, f->redis, "no-such-event", &stats, err, sizeof err), TK_REBUILD_UNKNOWN_EVENT);
}

/* ------------------------------------------------------------ (c) idempotent */

static void rebuild_over_intact_state_changes_nothing(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "intact", 20, 3);
    it_resp_t r;
    for (int i = 1; i <= 6; i++) {
        char user[16];
        snprintf(user, sizeof user, "u-%d", i);
        assert_int_equal(it_claim(&r, f, ev, user, 1 + i % 3), 201);
        it_resp_free(&r);
    }
    cancel_then_drain(f, ev, "u-3");
    long long deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s'", ev) != 6 && it_now_ms() < deadline)
        it_sleep_ms(50);
    /* Wait until the worker's confirm emptied the stream: then every 'p'
     * record reads confirmed (lua/confirm.lua), and the rebuild writes it
     * as MariaDB holds it, 'c'. That is the only change it may make. */
    it_resp_t v;
    int drained = it_api_wait_drained(&v, f, ev, DRAIN_MS);
    it_resp_free(&v);
    assert_int_equal(drained, 0);
    static char before[3 * DUMP_MAX], after[3 * DUMP_MAX];
    state_dump(f->redis, ev, before);
    for (char *p = before; (p = strstr(p, " p;")) != NULL; p += 3)
        p[1] = 'c';
    long long rem = remaining(f, ev);

    tk_rebuild_stats_t stats;
    char err[256];
    int rc = tk_rebuild_event(f->db, f->redis, ev, &stats, err, sizeof err);
    if (rc != TK_REBUILD_OK)
        fprintf(stderr, "rebuild: %s\n", err);
    assert_int_equal(rc, TK_REBUILD_OK);
    assert_int_equal(stats.claims, 6);
    state_dump(f->redis, ev, after);
    assert_string_equal(before, after);
    assert_int_equal(remaining(f, ev), rem);
    /* And again, through the command. */
    const char *args[] = {"--all", NULL};
    assert_int_equal(run_cmd(args), 0);
    state_dump(f->redis, ev, after);
    assert_string_equal(before, after);
}

/* ------------------------------------------------------------ swap script */

static void swap_refuses_a_stale_snapshot(void **st)
{
    it_fix_t *f = *st;
    char ev[64], kev[128], kcl[128], ktmp[128], kq[128], kold[128];
    it_new_event(f, ev, sizeof ev, "stale", 10, 1);
    snprintf(kev, sizeof kev, "tk:{%s}:ev", ev);
    snprintf(kcl, sizeof kcl, "tk:{%s}:claims", ev);
    snprintf(ktmp, sizeof ktmp, "tk:{%s}:claims:rebuild", ev);
    snprintf(kq, sizeof kq, "tk:{%s}:q", ev);
    snprintf(kold, sizeof kold, "tk:{%s}:claims:old", ev);
    redisReply *x = redisCommand(f->redis, "HSET %s u-9 %s", ktmp, "1 1 1000 c");
    assert_non_null(x);
    freeReplyObject(x);
    static char before[3 * DUMP_MAX], after[3 * DUMP_MAX];
    state_dump(f->redis, ev, before);
    /* The snapshot says seq 5; Redis holds seq 0: a claim would have been granted meanwhile. */
    char kwq[128];
    snprintf(kwq, sizeof kwq, "tk:{%s}:wq", ev);
    const char *argv[] = {"EVAL", tk_lua_find("rebuild_swap"), "6", kev, kcl, ktmp, kq, kold, kwq, ev, "5", "10",
                          "10", "open", "1", "x", "open", "10", "9", "1", "0", "0", "1", "1000", "wk", "0", "0", "0", "0", "0", "0", "0", "0"};
    x = redisCommandArgv(f->redis, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_ARRAY);
    assert_int_equal(x->elements, 1);
    assert_string_equal(x->element[0]->str, "moved");
    freeReplyObject(x);
    state_dump(f->redis, ev, after);
    assert_string_equal(before, after);
}

/* ------------------------------------------------------------ (e) automatic, on reconnect */

/* Redis comes back empty (flushed, and every client cut off as a restart
 * would): the gateway notices on reconnecting and rebuilds the event from
 * MariaDB by itself; claims meanwhile never get a 404. */
static void gateway_rebuilds_when_redis_comes_back_empty(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "autorb", 10, 1);
    char ids[3][128];
    long long tickets[3];
    const char *users[] = {"a-1", "a-2", "a-3"};
    it_resp_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(it_claim(&r, f, ev, users[i], 1), 201);
        snprintf(ids[i], sizeof ids[i], "%s", it_json_str(r.json, "claim_id"));
        tickets[i] = it_json_int(r.json, "ticket");
        it_resp_free(&r);
    }
    wait_drained(f, ev);
    long long deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims WHERE event_id='%s'", ev) != 3 && it_now_ms() < deadline)
        it_sleep_ms(50);

    assert_int_equal(it_redis_flushall(f->redis), 0);
    redisReply *kill = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
    assert_non_null(kill);
    assert_true(kill->type == REDIS_REPLY_INTEGER && kill->integer >= 1); /* the gateway's connection at least */
    freeReplyObject(kill);

    /* Until the event is back, a claim is answered 200 (MariaDB holds it:
     * gw_fallback while the gateway reconnects) or 503, never 404. The event
     * is back when GET /v1/events/{id} answers from Redis again. */
    int back = 0;
    deadline = it_now_ms() + 20000;
    while (!back && it_now_ms() < deadline) {
        long status = it_claim(&r, f, ev, users[0], 1);
        if (status == 200) {
            assert_string_equal(it_json_str(r.json, "claim_id"), ids[0]);
        } else if (status != 503) {
            it_show("claim while Redis comes back", &r);
            fail_msg("a claim during the rebuild got %ld, not 503 or 200", status);
        }
        it_resp_free(&r);
        assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev), 0);
        back = r.status == 200;
        if (r.status != 200 && r.status != 503) {
            it_show("GET event while Redis comes back", &r);
            fail_msg("GET event during the rebuild got %ld, not 503 or 200", r.status);
        }
        it_resp_free(&r);
        if (!back)
            it_sleep_ms(100);
    }
    assert_true(back);
    /* The event readable again is not yet claims on the fast path: the
     * gateway first checks Redis against MariaDB (docs/DESIGN.md, "the check
     * before every fast path"), and until /readyz says fast a new claim is
     * answered read-only (503). */
    assert_int_equal(it_wait_path(f, "after the rebuild", ev, "fast", 20000, NULL, 0, NULL), 0);
    assert_int_equal(remaining(f, ev), 7);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(it_claim(&r, f, ev, users[i], 1), 200);
        assert_int_equal(it_json_int(r.json, "ticket"), tickets[i]);
        assert_string_equal(it_json_str(r.json, "status"), "confirmed");
        it_resp_free(&r);
    }
    assert_int_equal(it_claim(&r, f, ev, "a-4", 1), 201);
    assert_int_equal(it_json_int(r.json, "ticket"), tickets[2] + 1);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/metrics"), 0);
    assert_non_null(strstr(r.body, "tk_rebuilt_events_total "));
    assert_null(strstr(r.body, "tk_rebuilt_events_total 0\n"));
    it_resp_free(&r);
    wait_drained(f, ev);
}

/*
 * A Redis that comes back behind MariaDB (an AOF that missed its last
 * writes: seq below the highest stored ticket) must be checked before it
 * serves claims again, even when the connection is back before the
 * gateway's 50 ms mode timer looked: a connection lost is a mode change at
 * once, not at the next poll. Each round lowers Redis's seq (the stale
 * books), drops the gateway's connections (CLIENT KILL: it reconnects within
 * ~100 ms), waits for the fast path and claims: the new ticket must be above
 * every ticket MariaDB holds.
 */
static void blip_over_a_behind_redis_is_checked(void **st)
{
    it_fix_t *f = *st;
    char ev[64], key[256], user[32];
    it_new_event(f, ev, sizeof ev, "blip", 100, 1);
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    it_resp_t r;
    long long last = 0;
    for (int round = 0; round < 12; round++) {
        snprintf(user, sizeof user, "b-%d", round);
        assert_int_equal(it_claim(&r, f, ev, user, 1), 201);
        long long ticket = it_json_int(r.json, "ticket");
        it_resp_free(&r);
        if (ticket <= last)
            fail_msg("round %d: user %s got ticket %lld, not above %lld already told", round, user, ticket, last);
        last = ticket;
        wait_drained(f, ev);
        /* Redis goes back in time: the last grant's ticket would be drawn again. */
        redisReply *rep = redisCommand(f->redis, "HSET %s seq %lld", key, ticket - 1);
        assert_non_null(rep);
        freeReplyObject(rep);
        rep = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
        assert_non_null(rep);
        freeReplyObject(rep);
        it_sleep_ms(150);
        assert_int_equal(it_wait_path(f, "after the blip", ev, "fast", 20000, NULL, 0, NULL), 0);
    }
    snprintf(user, sizeof user, "b-last");
    assert_int_equal(it_claim(&r, f, ev, user, 1), 201);
    long long ticket = it_json_int(r.json, "ticket");
    it_resp_free(&r);
    if (ticket <= last)
        fail_msg("after the last blip: ticket %lld, not above %lld already told", ticket, last);
    wait_drained(f, ev);
}

/*
 * A rebuild check held up by one event (its hash lost, its stream still
 * holding an entry no worker drains: the rebuild refuses "not_drained" and
 * the check retries for up to 30 s) must not turn every status lookup into
 * a 503. On an event Redis holds, "no record" is the answer: the swap
 * writes an event's hash and claims in one step (lua/rebuild_swap.lua).
 * Before, the lookup of a user without a claim was 503 for the check's
 * whole length (seen in CI: it_status_merge's check crossed an earlier
 * test's events).
 */
static char held_stream[128]; /* the held-up event's stream, emptied by the teardown even when the test fails */

/*
 * Four database threads: the merge (its rebuild of the held-up event waits
 * up to GW_MERGE_WAIT_MS) and the check (30 s) each hold one, and with the
 * default two general threads the periodic control work could leave the
 * lookups' client lane none for longer than the test asks again (seen
 * once: 503 "waited too long for the database" for 10 s). This test is
 * about the answer, not the pool; that starvation is a known limit
 * (gw_dbpool.h, control work first).
 */
static int new_held(void **st)
{
    if (setenv("GW_DB_THREADS", "4", 1) != 0)
        return -1;
    int rc = it_fix_new0(st);
    unsetenv("GW_DB_THREADS");
    return rc;
}

static int free_held(void **st)
{
    it_fix_t *f = *st;
    if (held_stream[0] != '\0' && f != NULL && f->redis != NULL) {
        /* Left behind, every later gateway of the shard (same Redis and MariaDB) would hold its check for 30 s. */
        redisReply *rep = redisCommand(f->redis, "DEL %s", held_stream);
        freeReplyObject(rep);
        held_stream[0] = '\0';
    }
    return it_fix_free(st);
}

static void a_check_held_up_by_another_event_keeps_404(void **st)
{
    it_fix_t *f = *st;
    char ev[64], stuck[64], key[256];
    it_new_event(f, ev, sizeof ev, "heldp", 10, 1);
    it_new_event(f, stuck, sizeof stuck, "helds", 10, 1);
    snprintf(held_stream, sizeof held_stream, "tk:{%s}:q", stuck);
    it_claim_expect(f, ev, "a", 1, 201);
    /* An entry no worker drains, written past the gateway: its journal holds no grant of the held-up event, so
     * the check alone (not a merge) is what waits on it. */
    snprintf(key, sizeof key, "tk:{%s}:q", stuck);
    redisReply *rep = redisCommand(f->redis, "XADD %s * x 1", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    snprintf(key, sizeof key, "tk:{%s}:ev", stuck);
    rep = redisCommand(f->redis, "DEL %s", key);
    assert_non_null(rep);
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    rep = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes"); /* the reconnect starts a check */
    assert_non_null(rep);
    freeReplyObject(rep);

    long long deadline = it_now_ms() + 5000;
    while (it_metric(f, "tk_rebuild_active") != 1 && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(it_metric(f, "tk_rebuild_active"), 1);
    it_resp_t r;
    /* Off the fast path the lookup asks MariaDB first, and the merge and the check, both waiting on the held
     * event, may hold the database threads a while: "waited too long for the database" is asked again. */
    assert_int_equal(it_status_past_db_wait(f, ev, "nobody", &r, 10000), 0);
    if (r.status != 404)
        it_show("status of a user without a claim during the check", &r);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);
    assert_int_equal(it_status_past_db_wait(f, ev, "a", &r, 10000), 0);
    if (r.status != 200)
        it_show("status of a during the check", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "ticket"), 1);
    it_resp_free(&r);
    /* The held-up event itself may be on its way back: 503, not 404. */
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/nobody", stuck), 0);
    assert_int_equal(r.status, 503);
    it_resp_free(&r);
    assert_int_equal(it_metric(f, "tk_rebuild_active"), 1); /* all of the above during the check */

    /* The stream gone, the event is rebuilt from MariaDB and the check ends. */
    rep = redisCommand(f->redis, "DEL %s", held_stream);
    assert_non_null(rep);
    freeReplyObject(rep);
    held_stream[0] = '\0';
    deadline = it_now_ms() + 40000;
    while (it_metric(f, "tk_rebuild_active") != 0 && it_now_ms() < deadline)
        it_sleep_ms(100);
    assert_int_equal(it_metric(f, "tk_rebuild_active"), 0);
    assert_int_equal(remaining(f, stuck), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rebuild_after_flushall_restores_every_claim, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(rebuild_refuses_while_stream_holds_entries, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(rebuild_over_intact_state_changes_nothing, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(swap_refuses_a_stale_snapshot, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(gateway_rebuilds_when_redis_comes_back_empty, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(blip_over_a_behind_redis_is_checked, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(a_check_held_up_by_another_event_keeps_404, new_held, free_held),
    };
    return cmocka_run_group_tests_name("it_rebuild", tests, it_group_setup, NULL);
}
