/*
 * it_fallback_restart: hole 1 of issue 10 — Redis must never sell from
 * books older than MariaDB's, whatever died while it was away — with real
 * Redis and MariaDB, step by step, every figure checked exactly.
 *
 * Every test is one event (stock 100, max_per_user 1) and ends with the
 * same checks once the gateway says "ready" on the fast path again
 * (after_checks below), each broken invariant printed on its own line
 * ("it_fallback_restart: BROKEN: …") before the test fails:
 *  - new users claim one at a time: each 201, with a ticket above every
 *    ticket told before the fault, never one told to someone else, in
 *    increasing order (first come, first served);
 *  - every user told a claim before the fault, retrying, gets 200 with the
 *    same ticket (never a second 201, never 404 or any other answer), and
 *    their status lookup answers 200 with that ticket;
 *  - the workers drain (bounded) and are all still running (a worker that
 *    met `1062 Duplicate entry` exits: its log line is printed), nothing is
 *    left in the stream nor pending in its group (XPENDING 0);
 *  - the books agree: the admin view's redis.granted = database.confirmed =
 *    database.sold = the units told = the rows in MariaDB, none rejected or
 *    cancelled, granted ≤ stock; Redis's total − remaining and its claims
 *    hash say the same; Redis seq = tickets_issued ≥ MariaDB's highest
 *    ticket; tickets unique in MariaDB; every told user has exactly one row,
 *    confirmed, with the ticket they were told.
 *
 * fallback_then_gateway_killed (the reproduction of the issue). One worker,
 * FALLBACK_AFTER_MS=300. pre01..pre10 claim: 201 tickets 1..10, drained
 * (confirmed in MariaDB); then at least 4 watermark rounds with the stream
 * empty (counted by Redis's EVALSHA calls, the gateway's only ones then), so
 * the gateway's journal is complete and the fallback may grant. Redis
 * stopped (SIGTERM: its AOF holds seq 10); /readyz "path":"grant"; fb01..fb10
 * claim: 201 tickets 11..20 from MariaDB. The gateway is killed (SIGKILL),
 * Redis started from its AOF (seq 10, checked: Redis is now stale), a new
 * gateway started; once /readyz says ready: the checks, with new users
 * first (today: tickets 11..20 again), then the retries, then the lookups.
 *
 * redis_back_empty_keeps_undrained_grants. No worker, FALLBACK_AFTER_MS=
 * 60000 (the fallback never grants). The event tracked and its journal
 * complete (as above, an empty stream), then u01..u10 claim: 201 tickets
 * 1..10, pending in the stream only. Redis killed (SIGKILL); once /readyz
 * left "fast", its AOF and RDB files are deleted and it is started EMPTY;
 * a worker started; once ready: the lookups first (each u must still hold
 * its claim: today 404), then the retries (today a second 201), then new
 * users (tickets above 10), then the drain and the books (each u confirmed
 * in MariaDB with its ticket). The grants exist only in the gateway's
 * journal at that point: it must write them down before Redis serves.
 *
 * gateway_killed_while_redis_down. As the first test until the kill; then
 * a new gateway is started while Redis is still down: it reaches "grant"
 * (with no journal: read-only); a fallback user retrying gets 200 with its
 * ticket from MariaDB, a new user anything but a 201 with a used ticket.
 * Then Redis is started from its AOF (seq 10) with the new gateway running;
 * once ready: the same checks as the first test.
 *
 * redis_lost_during_merge_keeps_undrained_grants. No worker, the fallback
 * never grants. Event fr4: tracked, complete, u01..u10 claim (tickets
 * 1..10, pending in the stream only); event fr4k: k01 claims (pending) and
 * its stale flag is set in MariaDB, as a killed gateway's fallback leaves
 * it. Every Redis connection dropped (CLIENT KILL: the same instance): the
 * merge's step 1 finds fr4's grants in Redis, step 4 waits for fr4k's
 * stream to drain.
 * During that wait Redis is killed and started EMPTY at once (down a few
 * ms, so the merge's connection reconnects between two of its tries); a
 * worker started; once ready: the same checks as the second test. Before
 * the fix the merge ended on the new Redis (fr4 rebuilt from MariaDB,
 * without u01..u10), the journal was reset: ten 404 lookups, ten second
 * 201s.
 *
 * redis_back_empty_after_out_of_order_drain. No worker at first. u01..u10
 * claim (tickets 1..10); a consumer "it-dead" reads u01's entry and never
 * acknowledges it (a worker killed mid-batch); a worker (re-claims after an
 * hour only) drains u02..u10: MariaDB's highest ticket is 10, u01 only in
 * the stream and the journal. Redis killed, wiped, started EMPTY; once
 * ready: the same checks as the second test. Before the fix the reconnect
 * check rebuilt the event from MariaDB (seq 10) before the merge's step 1,
 * which then took seq 10 >= journal 10 for "nothing lost": u01's lookup
 * 404, its retry a second 201 (ticket 11).
 *
 * Redis is always started again in teardown, whatever failed. Every wait
 * is bounded; nothing sleeps where a condition can be polled.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
#define TRACK_MS 10000  /* until /readyz lists the event, and until the watermark rounds are counted */
#define WM_CALLS 4      /* EVALSHA calls (watermarks of the one event) to count with the stream empty */
#define GRANT_MS 10000  /* Redis stopped until "path":"grant" */
#define LEFT_MS 10000   /* Redis killed until /readyz leaves "fast" */
#define READY_MS 40000  /* Redis back / new gateway until /readyz says ready on the fast path */
#define DRAIN_MS 20000  /* until the books agree with nothing pending */

#define STOCK 100
#define N 10 /* users per group */

typedef struct {
    char user[32];
    long long ticket; /* the ticket this user was told (201, or 200 with their claim) */
} told_t;

typedef struct {
    it_fix_t *f;
    char ev[64];
    told_t told[4 * N];
    int ntold;
    int broken;
} ctx_t;

/* --------------------------------------------------------- the verdict */

/* One broken invariant: printed at once (the test goes on, so that every broken one shows), counted. */
static void broken(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void broken(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "it_fallback_restart: BROKEN: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    c->broken++;
}

static void told_add(ctx_t *c, const char *user, long long ticket)
{
    assert_true(c->ntold < (int)(sizeof c->told / sizeof c->told[0]));
    snprintf(c->told[c->ntold].user, sizeof c->told[c->ntold].user, "%s", user);
    c->told[c->ntold].ticket = ticket;
    c->ntold++;
}

/* The user told @ticket, or NULL. */
static const char *told_ticket_owner(const ctx_t *c, long long ticket)
{
    for (int i = 0; i < c->ntold; i++)
        if (c->told[i].ticket == ticket)
            return c->told[i].user;
    return NULL;
}

static long long told_max(const ctx_t *c)
{
    long long m = 0;
    for (int i = 0; i < c->ntold; i++)
        if (c->told[i].ticket > m)
            m = c->told[i].ticket;
    return m;
}

/* ------------------------------------------------------------- answers */

typedef struct {
    long status; /* 0: no answer */
    long long ticket;
    char cstatus[16], code[32], text[200];
} ans_t;

static void ans_fill(ans_t *a, const it_resp_t *r)
{
    memset(a, 0, sizeof *a);
    a->status = r->status;
    a->ticket = r->json != NULL ? it_json_int(r->json, "ticket") : -1;
    const char *s = r->json != NULL ? it_json_str(r->json, "status") : NULL, *e = it_resp_error_code(r);
    snprintf(a->cstatus, sizeof a->cstatus, "%s", s != NULL ? s : "");
    snprintf(a->code, sizeof a->code, "%s", e != NULL ? e : "");
    if (r->status == 0)
        snprintf(a->text, sizeof a->text, "no answer (%.150s)", r->errbuf);
    else if (r->status == 200 || r->status == 201)
        snprintf(a->text, sizeof a->text, "%ld ticket %lld %s", r->status, a->ticket, a->cstatus);
    else
        snprintf(a->text, sizeof a->text, "%ld %.160s", r->status, r->body != NULL ? r->body : "");
}

/* POST a claim of 1 unit. */
static void claim(const ctx_t *c, const char *user, ans_t *a)
{
    it_resp_t r;
    it_claim(&r, c->f, c->ev, user, 1);
    ans_fill(a, &r);
    it_resp_free(&r);
}

/* GET the user's claim. */
static void lookup(const ctx_t *c, const char *user, ans_t *a)
{
    it_resp_t r;
    memset(&r, 0, sizeof r);
    it_apif(&r, c->f, IT_USER, "GET", NULL, "/v1/events/%s/claims/%s", c->ev, user);
    ans_fill(a, &r);
    it_resp_free(&r);
}

/* A set-up claim that must be answered @status with ticket @ticket and claim status @cstatus (the scenario's premise). */
static void claim_must(ctx_t *c, const char *user, long status, long long ticket, const char *cstatus, const char *why)
{
    ans_t a;
    claim(c, user, &a);
    int ok = a.status == status && a.ticket == ticket && strcmp(a.cstatus, cstatus) == 0;
    if (!ok)
        fprintf(stderr, "it_fallback_restart: set-up: claim of %s: expected %ld ticket %lld %s (%s); got %s; gateway log %s\n", user, status,
                ticket, cstatus, why, a.text, c->f->gw.proc.log_path);
    assert_true(ok);
    told_add(c, user, ticket);
}

/*
 * The event tracked at once (a claim above max_per_user is sent to Redis
 * and refused: nothing drawn) and its watermarks complete, then u01..uN
 * granted tickets 1..N on the fast path, before any worker runs.
 */
static void grant_fast(ctx_t *c)
{
    it_resp_t r;
    long st409 = it_claim(&r, c->f, c->ev, "p", 2);
    if (st409 != 409)
        it_show("it_fallback_restart: set-up: claim of 2 units above max_per_user 1", &r);
    it_resp_free(&r);
    assert_int_equal(st409, 409);
    assert_int_equal(it_wait_tracked(c->f, c->ev, TRACK_MS), 0);
    assert_int_equal(it_wait_watermarks(c->f, WM_CALLS, 0, TRACK_MS), 0);
    char u[32];
    for (int i = 1; i <= N; i++) {
        snprintf(u, sizeof u, "u%02d", i);
        claim_must(c, u, 201, i, "pending", "the fast path, no worker");
    }
}

/* ------------------------------------------------------------ /readyz */

/*
 * Polls /readyz every 50 ms for at most @timeout_ms until @want holds:
 * "ready" (200, "path":"fast"), "not-fast" (an answer whose path is not
 * "fast"), or a path name. 0, or -1 with the paths seen and the last answer
 * printed under @what.
 */
static int wait_ready(const it_fix_t *f, const char *want, int timeout_ms, const char *what)
{
    long long deadline = it_now_ms() + timeout_ms;
    char seen[256] = "";
    it_ready_t r;
    for (;;) {
        it_readyz(f, NULL, &r);
        it_seen_add(seen, sizeof seen, r.status == 0 ? "(no answer)" : r.path);
        int hit = strcmp(want, "ready") == 0      ? r.status == 200 && strcmp(r.path, "fast") == 0
                  : strcmp(want, "not-fast") == 0 ? r.status != 0 && strcmp(r.path, "fast") != 0 && strcmp(r.path, "(none)") != 0
                                                  : strcmp(r.path, want) == 0;
        if (hit)
            return 0;
        if (it_now_ms() >= deadline)
            break;
        it_sleep_ms(50);
    }
    fprintf(stderr, "it_fallback_restart: %s: /readyz not %s within %d ms (paths seen: %s); last answer: %ld %s; gateway log %s\n", what,
            want, timeout_ms, seen, r.status, r.body, f->gw.proc.log_path);
    return -1;
}

/* ---------------------------------------------------------------- Redis */

/* Entries delivered to the group "wk" of the event's stream and not acknowledged (XPENDING's count): 0 when the group does not exist. -1 on error. */
static long long xpending(const ctx_t *c)
{
    char k[TK_KEY_MAX];
    if (tk_key(TK_KEY_STREAM, c->ev, strlen(c->ev), k) < 0)
        return -1;
    redisReply *rep = redisCommand(c->f->redis, "XPENDING %s wk", k);
    long long v = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 && rep->element[0]->type == REDIS_REPLY_INTEGER)
        v = rep->element[0]->integer;
    else if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOGROUP", 7) == 0)
        v = 0;
    if (rep != NULL)
        freeReplyObject(rep);
    return v;
}

/* Removes Redis's data files (appendonlydir/ of Redis 7, or an old appendonly.aof, and dump.rdb) from $TK_IT_DIR/redis: Redis must be stopped. */
static void redis_wipe_files(void)
{
    const it_env_t *env = it_env();
    assert_non_null(env);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s/redis/appendonlydir' '%s/redis/appendonly.aof' '%s/redis/dump.rdb'", env->it_dir, env->it_dir,
             env->it_dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/redis/appendonlydir", env->it_dir);
    assert_int_not_equal(access(cmd, F_OK), 0);
}

/*
 * Kills Redis (SIGKILL) and starts it again EMPTY at once, in one shell, from
 * the redis.conf services.sh wrote: down for the few milliseconds a
 * redis-server takes to exit and to listen again, as a supervised Redis
 * restarted on a host that lost its disk (gone or a zombie: its sockets are
 * closed). services.sh's own start checks and writes too much for that; its
 * pid file is kept right for teardown.
 */
static void redis_restart_empty_fast(void)
{
    const it_env_t *env = it_env();
    assert_non_null(env);
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof cmd,
             "cd '%s/redis' && pid=$(cat redis.pid) && kill -KILL \"$pid\" && "
             "while [ -r /proc/$pid/stat ] && [ \"$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)\" != Z ]; do :; done && "
             "rm -rf -- appendonlydir appendonly.aof dump.rdb && "
             "(exec setsid redis-server ./redis.conf </dev/null >>redis.log 2>&1 & echo $! >redis.pid)",
             env->it_dir);
    assert_int_equal(system(cmd), 0);
}

/* --------------------------------------------------------------- set-up */

static int setup_env(void **st, const char *after_ms, int nworkers)
{
    /* The gateway inherits the environment (lib/it_proc.c); set before it starts. */
    if (setenv("FALLBACK_AFTER_MS", after_ms, 1) != 0 || setenv("FALLBACK_GRANTS", "1", 1) != 0)
        return -1;
    return it_fix_new(st, nworkers);
}

/* The fallback grants 300 ms after Redis went away; one worker ("it-w1"). */
static int setup_fast_fallback(void **st)
{
    return setup_env(st, "300", 1);
}

/* The fallback never grants within the test; no worker. */
static int setup_no_fallback(void **st)
{
    return setup_env(st, "60000", 0);
}

static void new_event(ctx_t *c, const char *prefix)
{
    it_new_event(c->f, c->ev, sizeof c->ev, prefix, STOCK, 1);
    fprintf(stderr, "it_fallback_restart: event %s; gateway log %s\n", c->ev, c->f->gw.proc.log_path);
}

/*
 * pre01..pre10 claim on the fast path (tickets 1..10), drained by the worker;
 * the journal made complete; Redis stopped (its AOF now holds seq 10);
 * "grant"; fb01..fb10 claim: 201 tickets 11..20, confirmed, from MariaDB.
 */
static void fallback_granted(ctx_t *c)
{
    it_fix_t *f = c->f;
    char u[32];
    for (int i = 1; i <= N; i++) {
        snprintf(u, sizeof u, "pre%02d", i);
        claim_must(c, u, 201, i, "pending", "the fast path");
    }
    it_resp_t r;
    int rc = it_api_wait_drained(&r, f, c->ev, DRAIN_MS);
    long long conf = it_json_int(json_object_get(r.json, "database"), "confirmed");
    if (rc != 0 || conf != N)
        it_show("it_fallback_restart: set-up: the worker did not confirm pre01..pre10; admin view", &r);
    it_resp_free(&r);
    assert_int_equal(rc, 0);
    assert_int_equal(conf, N);
    assert_int_equal(it_wait_tracked(c->f, c->ev, TRACK_MS), 0);
    assert_int_equal(it_wait_watermarks(c->f, WM_CALLS, 0, TRACK_MS), 0);

    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    assert_int_equal(wait_ready(f, "grant", GRANT_MS, "Redis stopped"), 0);
    for (int i = 1; i <= N; i++) {
        snprintf(u, sizeof u, "fb%02d", i);
        claim_must(c, u, 201, N + i, "confirmed", "granted by the fallback from MariaDB");
    }
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", c->ev), 2 * N);
    assert_int_equal(it_db_int(f->db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", c->ev), 2 * N);
}

/* Redis started from its AOF: the premise is that it came back stale (seq 10, MariaDB at 20). */
static void redis_back_stale(ctx_t *c)
{
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(c->f);
    long long seq = it_redis_ev_int(c->f->redis, c->ev, "seq", -1), xlen = it_redis_xlen(c->f->redis, c->ev);
    if (seq != N || xlen != 0)
        fprintf(stderr, "it_fallback_restart: set-up: Redis back from its AOF with seq %lld and %lld stream entries; expected seq %d, none\n",
                seq, xlen, N);
    assert_int_equal(seq, N);
    assert_int_equal(xlen, 0);
}

static void gateway_kill9(ctx_t *c)
{
    it_proc_kill(&c->f->gw.proc);
    assert_false(it_proc_alive(&c->f->gw.proc));
}

static void gateway_start_again(ctx_t *c)
{
    assert_int_equal(it_gateway_restart(&c->f->gw, IT_READY_MS), 0);
    fprintf(stderr, "it_fallback_restart: new gateway log %s\n", c->f->gw.proc.log_path);
}

/* ----------------------------------------------------------- the checks */

/* Each told user retries: 200 with the same ticket. */
static void check_retries(ctx_t *c, int upto)
{
    for (int i = 0; i < upto; i++) {
        const told_t *t = &c->told[i];
        ans_t a;
        claim(c, t->user, &a);
        if (a.status == 201)
            broken(c, "user %s (told ticket %lld) retried and got a SECOND 201: %s", t->user, t->ticket, a.text);
        else if (a.status != 200)
            broken(c, "user %s (told ticket %lld) retried: expected 200 with its claim, got %s", t->user, t->ticket, a.text);
        else if (a.ticket != t->ticket)
            broken(c, "user %s (told ticket %lld) retried: 200 with ticket %lld", t->user, t->ticket, a.ticket);
    }
}

/* Each told user's status lookup: 200 with the ticket they were told. */
static void check_lookups(ctx_t *c, int upto)
{
    for (int i = 0; i < upto; i++) {
        const told_t *t = &c->told[i];
        ans_t a;
        lookup(c, t->user, &a);
        if (a.status != 200 || a.ticket != t->ticket)
            broken(c, "status lookup of %s (told ticket %lld): %s%s", t->user, t->ticket, a.text,
                   a.status == 404 ? ": its claim is LOST" : "");
    }
}

/* new01..new10 claim one after the other: 201, tickets above every one told before, never a told one, increasing. */
static void check_new_users(ctx_t *c)
{
    long long floor = told_max(c), prev = 0;
    char u[32];
    for (int i = 1; i <= N; i++) {
        snprintf(u, sizeof u, "new%02d", i);
        ans_t a;
        claim(c, u, &a);
        if (a.status != 201) {
            broken(c, "new user %s: expected 201 (stock %d, at most %d sold), got %s", u, STOCK, c->ntold, a.text);
            continue;
        }
        const char *owner = told_ticket_owner(c, a.ticket);
        if (owner != NULL)
            broken(c, "new user %s got 201 ticket %lld, the ticket already told to %s: DUPLICATE TICKET", u, a.ticket, owner);
        else if (a.ticket <= floor)
            broken(c, "new user %s got 201 ticket %lld, not above %lld, the highest ticket told before the fault", u, a.ticket, floor);
        if (a.ticket <= prev)
            broken(c, "new user %s got ticket %lld after %lld went to the user before: out of order", u, a.ticket, prev);
        prev = a.ticket;
        told_add(c, u, a.ticket);
    }
}

/* Drained with every worker alive, nothing pending; the books equal on both sides and to what the clients were told. */
static void check_books(ctx_t *c)
{
    it_fix_t *f = c->f;
    it_resp_t view;
    int quiet = it_api_wait_quiet(&view, c->f, c->ev, DRAIN_MS);
    json_t *rj = json_object_get(view.json, "redis"), *dj = json_object_get(view.json, "database");
    long long granted = it_json_int(rj, "granted"), issued = it_json_int(rj, "tickets_issued"), conf = it_json_int(dj, "confirmed"),
              sold = it_json_int(dj, "sold"), rej = it_json_int(dj, "rejected"), canc = it_json_int(dj, "cancelled"),
              pending = it_json_int(view.json, "pending");
    if (quiet != 0)
        broken(c, "not quiet within %d ms (pending 0 and redis.granted = database.confirmed; %d of %d workers running): %ld %.400s", DRAIN_MS,
               it_fix_workers_alive(f), f->nworkers, view.status, view.body != NULL ? view.body : view.errbuf);
    it_resp_free(&view);

    for (int i = 0; i < f->nworkers; i++) {
        char line[600];
        it_log_grep(f->workers[i].log_path, "1062", line, sizeof line);
        if (!it_proc_alive(&f->workers[i]))
            broken(c, "worker %s is no longer running (log %s)%s%s", f->workers[i].name, f->workers[i].log_path, line[0] ? ": " : "", line);
        else if (line[0] != '\0')
            broken(c, "worker %s met a duplicate key: %s", f->workers[i].name, line);
    }
    long long xp = xpending(c), xlen = it_redis_xlen(f->redis, c->ev);
    if (xp != 0 || xlen != 0)
        broken(c, "the stream is not drained: %lld entries pending in group wk (XPENDING), stream length %lld", xp, xlen);

    long long units = c->ntold; /* every claim is 1 unit */
    long long r_total = it_redis_ev_int(f->redis, c->ev, "total", -1), r_rem = it_redis_ev_int(f->redis, c->ev, "remaining", -1),
              r_seq = it_redis_ev_int(f->redis, c->ev, "seq", -1), r_claims = it_redis_claims_count(f->redis, c->ev);
    long long d_sold = it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id = '%s'", c->ev),
              d_total = it_db_int(f->db, -1, "SELECT total FROM event_stock WHERE event_id = '%s'", c->ev),
              d_rows = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", c->ev),
              d_conf = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", c->ev),
              d_units = it_db_int(f->db, -1, "SELECT COALESCE(SUM(quantity), 0) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", c->ev),
              d_rej = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'rejected'", c->ev),
              d_tickets = it_db_int(f->db, -1, "SELECT COUNT(DISTINCT ticket) FROM claims WHERE event_id = '%s'", c->ev),
              d_max = it_db_int(f->db, 0, "SELECT MAX(ticket) FROM claims WHERE event_id = '%s'", c->ev);
    if (granted != units || conf != units || sold != units)
        broken(c, "admin view: redis.granted %lld, database.confirmed %lld, database.sold %lld; %lld units were told to clients", granted, conf,
               sold, units);
    if (rej != 0 || canc != 0 || pending != 0)
        broken(c, "admin view: database.rejected %lld, cancelled %lld, pending %lld (want 0, 0, 0)", rej, canc, pending);
    if (granted > STOCK || r_total - r_rem > STOCK || d_sold > d_total)
        broken(c, "OVERSOLD: redis granted %lld (total %lld - remaining %lld), mariadb sold %lld of %lld, stock %d", granted, r_total, r_rem,
               d_sold, d_total, STOCK);
    if (r_total != STOCK || r_total - r_rem != d_sold || r_claims != d_rows)
        broken(c, "books differ: redis total %lld remaining %lld (granted %lld) claims %lld; mariadb sold %lld rows %lld", r_total, r_rem,
               r_total - r_rem, r_claims, d_sold, d_rows);
    if (d_rows != units || d_conf != units || d_units != d_sold || d_rej != 0)
        broken(c, "mariadb: %lld rows, %lld confirmed (%lld units), %lld rejected, sold %lld; %lld units were told", d_rows, d_conf, d_units,
               d_rej, d_sold, units);
    if (d_tickets != d_rows)
        broken(c, "mariadb: %lld rows hold only %lld distinct tickets: DUPLICATE TICKETS", d_rows, d_tickets);
    if (r_seq < d_max || r_seq != issued)
        broken(c, "redis seq %lld, admin tickets_issued %lld, highest ticket in mariadb %lld (want seq = tickets_issued >= it)", r_seq, issued,
               d_max);
    for (int i = 0; i < c->ntold; i++) {
        const told_t *t = &c->told[i];
        long long rows = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id = '%s'", c->ev, t->user);
        long long ok = it_db_int(f->db, -1,
                                 "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id = '%s' AND status = 'confirmed' AND ticket = %lld",
                                 c->ev, t->user, t->ticket);
        if (rows != 1 || ok != 1) {
            char st[32];
            long long tk = it_db_int(f->db, -1, "SELECT MIN(ticket) FROM claims WHERE event_id = '%s' AND user_id = '%s'", c->ev, t->user);
            snprintf(st, sizeof st, "%s", rows == 0 ? "no row: LOST" : "");
            broken(c, "user %s (told ticket %lld): %lld rows in mariadb, %lld confirmed with that ticket (lowest ticket there %lld) %s", t->user,
                   t->ticket, rows, ok, tk, st);
        }
    }
}

static void verdict(const ctx_t *c, const char *name)
{
    fprintf(stderr, "it_fallback_restart %s: %s (%d broken)\n", name, c->broken == 0 ? "PASS" : "FAIL", c->broken);
    assert_int_equal(c->broken, 0);
}

/* Redis came back without the undrained grants: every told user's lookup and retry, then new users and the
 * books; @name's verdict. */
static void check_after_loss(ctx_t *c, const char *name)
{
    int before = c->ntold;
    check_lookups(c, before);
    check_retries(c, before);
    check_new_users(c);
    check_books(c);
    verdict(c, name);
}

/* After a gateway restart with Redis back from its AOF: new users, then the told users' retries
 * (only those told before), then every told user's lookup, then the books; @name's verdict. */
static void check_after_restart(ctx_t *c, const char *name)
{
    int before = c->ntold;
    check_new_users(c);
    check_retries(c, before);
    check_lookups(c, c->ntold);
    check_books(c);
    verdict(c, name);
}

/* ------------------------------------------------------------ the tests */

static void fallback_then_gateway_killed(void **st)
{
    ctx_t c = {.f = *st};
    new_event(&c, "fr1");
    fallback_granted(&c);
    gateway_kill9(&c);
    redis_back_stale(&c);
    gateway_start_again(&c);
    assert_int_equal(wait_ready(c.f, "ready", READY_MS, "new gateway, Redis back from its AOF"), 0);
    check_after_restart(&c, "fallback_then_gateway_killed");
}

static void redis_back_empty_keeps_undrained_grants(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr2");
    grant_fast(&c);
    assert_int_equal(it_redis_xlen(f->redis, c.ev), N);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", c.ev), 0);

    /* Redis lost with its data, back within FALLBACK_AFTER_MS: the grants are only in the gateway's journal now. */
    assert_int_equal(it_services("kill-redis", SVC_MS), 0);
    assert_int_equal(wait_ready(f, "not-fast", LEFT_MS, "Redis killed"), 0);
    redis_wipe_files();
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(f);
    /* The gateway may already have put the event hash back (from MariaDB); the stream it never writes back. */
    long long xl = it_redis_xlen(f->redis, c.ev);
    if (xl != 0)
        fprintf(stderr, "it_fallback_restart: set-up: Redis was to come back empty: its stream holds %lld entries\n", xl);
    assert_int_equal(xl, 0);
    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "Redis back empty"), 0);

    check_after_loss(&c, "redis_back_empty_keeps_undrained_grants");
}

static void gateway_killed_while_redis_down(void **st)
{
    ctx_t c = {.f = *st};
    new_event(&c, "fr3");
    fallback_granted(&c);
    gateway_kill9(&c);
    /* A new gateway while Redis is still down: it has no journal; it answers from MariaDB. */
    gateway_start_again(&c);
    assert_int_equal(wait_ready(c.f, "grant", GRANT_MS, "new gateway, Redis down"), 0);
    for (int i = N; i < 2 * N; i += 3) {
        const told_t *t = &c.told[i];
        ans_t a;
        claim(&c, t->user, &a);
        if (a.status != 200 || a.ticket != t->ticket)
            broken(&c, "Redis down, new gateway: fallback user %s (told ticket %lld) retried: expected 200 with its claim, got %s%s", t->user,
                   t->ticket, a.text, a.status == 201 ? ": a SECOND 201" : "");
    }
    char u[32];
    for (int i = 1; i <= 3; i++) {
        snprintf(u, sizeof u, "down%02d", i);
        ans_t a;
        claim(&c, u, &a);
        /* No journal: read-only (503) is right; a grant must still be exact. */
        if (a.status == 201 || a.status == 200) {
            const char *owner = told_ticket_owner(&c, a.ticket);
            if (owner != NULL || a.ticket <= told_max(&c))
                broken(&c, "Redis down, new gateway: new user %s got %s, a ticket already told%s%s", u, a.text, owner ? " to " : "",
                       owner ? owner : "");
            else
                told_add(&c, u, a.ticket);
        } else if (a.status != 503) {
            broken(&c, "Redis down, new gateway: new user %s: expected 503 (read-only) or 201, got %s", u, a.text);
        }
    }
    redis_back_stale(&c);
    assert_int_equal(wait_ready(c.f, "ready", READY_MS, "Redis back from its AOF, new gateway running"), 0);
    check_after_restart(&c, "gateway_killed_while_redis_down");
}

/* After a clean stop with Redis down: the stop wrote every undrained grant (N rows); Redis comes back empty, a new
 * gateway and a worker start; then check_after_loss under @name. */
static void stopped_then_redis_back_empty(ctx_t *c, const char *name)
{
    it_fix_t *f = c->f;
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", c->ev), N);
    redis_wipe_files();
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(f);
    gateway_start_again(c);
    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "Redis back empty, new gateway"), 0);
    check_after_loss(c, name);
}

/*
 * A gateway STOPPED cleanly (SIGTERM) while Redis is away, with undrained
 * grants: u01..u10 (tickets 1..10, no worker) are only in Redis's stream
 * and the gateway's journal. Redis is killed; the gateway, read-only,
 * is stopped (as an orchestrator stops a pod whose /readyz says 503);
 * Redis comes back EMPTY; a new gateway and a worker start. The stop must
 * write the journal to MariaDB (with the stale flag) before it leaves:
 * then the new gateway's merge rebuilds the event from MariaDB with
 * u01..u10. Before the fix the journal died with the process: u01..u10's
 * lookups 404, their retries second 201s, tickets 1..10 told again.
 */
static void gateway_stopped_while_redis_down_keeps_undrained_grants(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr6");
    grant_fast(&c);
    assert_int_equal(it_redis_xlen(f->redis, c.ev), N);
    assert_int_equal(it_services("kill-redis", SVC_MS), 0);
    assert_int_equal(wait_ready(f, "not-fast", LEFT_MS, "Redis killed"), 0);
    assert_int_equal(it_proc_stop(&f->gw.proc, IT_STOP_MS), 0);
    stopped_then_redis_back_empty(&c, "gateway_stopped_while_redis_down_keeps_undrained_grants");
}

/*
 * The other side of the stop's journal write: a gateway stopped cleanly ON
 * THE FAST PATH (Redis up, u01..u10 undrained: no worker) writes nothing to
 * MariaDB. Its grants are in the Redis that answers; the workers drain
 * them. The stop's own teardown drops its Redis connections, which moves
 * the mode to LOST: deciding on the mode at that point wrote the whole
 * journal and flagged the event stale (a rebuild for the next gateway,
 * waiting on a stream its peers keep filling). Seen failing that way (10
 * rows, the stale flag set) before the mode was taken at the signal.
 */
static void gateway_stopped_on_the_fast_path_writes_nothing(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr7");
    grant_fast(&c);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "on the fast path"), 0);
    assert_int_equal(it_proc_stop(&f->gw.proc, IT_STOP_MS), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", c.ev), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND stale_token IS NOT NULL", c.ev), 0);
    assert_int_equal(it_redis_xlen(f->redis, c.ev), N);
    gateway_start_again(&c);
    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "new gateway, Redis never left"), 0);
    check_after_restart(&c, "gateway_stopped_on_the_fast_path_writes_nothing");
}

/*
 * Redis lost DURING a clean stop. The stop writes the journal when the
 * mode was not FAST; it took the mode at the signal (the teardown's own
 * drops move it to LOST on every stop, see the test above), so a Redis
 * lost after the signal, while the gateway still waited for its
 * connections to finish, left u01..u10 (undrained) in no store once Redis
 * came back empty. Here an idle client connection holds the stop open
 * (GW_SHUTDOWN_TIMEOUT_MS, 10 s) while Redis is killed; then it closes.
 * Seen failing before the fix: 0 rows in MariaDB after the stop.
 */
static int idle_fd = -1; /* the client connection that holds the stop open; closed in teardown whatever failed */

static int teardown_idle(void **st)
{
    if (idle_fd >= 0) {
        close(idle_fd);
        idle_fd = -1;
    }
    return it_fix_free_redis_up(st);
}

static void redis_lost_during_a_clean_stop_keeps_undrained_grants(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr10");
    grant_fast(&c);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "on the fast path"), 0);
    int fd = idle_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->gw.http_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    /* One keep-alive request answered: the gateway has accepted the connection (a connection only queued in the
     * kernel would be reset by the stop instead of holding it). */
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: it\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[512];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    assert_true(got > 12);
    buf[got] = '\0';
    assert_non_null(strstr(buf, " 200 "));
    int stopping = it_log_count(f->gw.proc.log_path, "finishing requests in flight");
    assert_int_equal(it_proc_signal(&f->gw.proc, SIGTERM), 0);
    int signalled = it_log_wait(f->gw.proc.log_path, "finishing requests in flight", stopping + 1, 5000) > stopping;
    int lost = it_log_count(f->gw.proc.log_path, "redis: connection to");
    if (signalled) {
        assert_int_equal(it_services("kill-redis", SVC_MS), 0);
        lost = it_log_wait(f->gw.proc.log_path, "redis: connection to", lost + 1, 5000) > lost;
    }
    close(fd); /* the last connection: the stop goes on */
    idle_fd = -1;
    int rc = it_proc_wait(&f->gw.proc, IT_STOP_MS);
    assert_true(signalled);
    assert_true(lost);
    assert_int_equal(rc, 0);
    stopped_then_redis_back_empty(&c, "redis_lost_during_a_clean_stop_keeps_undrained_grants");
}

/*
 * A Redis restart that lost nothing (AOF always) while every grant the
 * gateway journaled was already drained: the merge writes no row, so it
 * must flag nothing stale and rebuild nothing. The gateway is frozen
 * (SIGSTOP) from before the drain to after the restart, so no watermark
 * prunes its journal: as in a sale, where the journal always holds the
 * last watermark period's grants, drained or not. Before the fix the merge
 * flagged the event stale and rebuilt it (tk_fallback_merges_total 1):
 * with two gateways, a rebuild that waits for a drain of a stream the
 * other gateway keeps filling, read-only while the sale goes on.
 */
static void redis_restarted_with_all_drained_rebuilds_nothing(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr8");
    grant_fast(&c);
    long long merges = it_metric(f, "tk_fallback_merges_total");
    assert_true(merges >= 0);
    int paths = it_log_count(f->gw.proc.log_path, "take the fast path"); /* the merges that ended so far: the start's */
    assert_true(paths >= 1);
    pid_t gw = f->gw.proc.pid;
    assert_true(gw > 0);
    assert_int_equal(kill(gw, SIGSTOP), 0);
    int drained = it_fix_add_worker(f, "it-w1") == 0;
    long long deadline = it_now_ms() + DRAIN_MS;
    while (drained && (it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND status = 'confirmed'", c.ev) != N ||
                       xpending(&c) != 0)) {
        if (it_now_ms() >= deadline)
            drained = 0;
        it_sleep_ms(50);
    }
    int restarted = drained && it_services("stop-redis", SVC_MS) == 0 && it_services("start-redis", SVC_MS) == 0;
    kill(gw, SIGCONT); /* whatever failed above: a frozen gateway would outlast the teardown's stop */
    assert_true(drained);
    assert_true(restarted);
    it_fix_reconnect(f);
    assert_int_equal(it_redis_xlen(f->redis, c.ev), 0);
    /* The merge's end ("... take the fast path") once more than before the restart: /readyz alone could still say
     * what the frozen gateway knew. */
    assert_int_equal(it_log_wait(f->gw.proc.log_path, "take the fast path", paths + 1, READY_MS), paths + 1);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "Redis restarted, nothing lost"), 0);
    long long after = it_metric(f, "tk_fallback_merges_total");
    if (after != merges)
        fprintf(stderr, "it_fallback_restart: BROKEN: the merge after a restart that lost nothing rebuilt events (tk_fallback_merges_total %lld, was %lld); gateway log %s\n",
                after, merges, f->gw.proc.log_path);
    assert_int_equal(after, merges);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM event_locks WHERE event_id = '%s' AND stale_token IS NOT NULL", c.ev), 0);
    check_after_restart(&c, "redis_restarted_with_all_drained_rebuilds_nothing");
}

/*
 * A blip, then Redis lost: u01..u10 undrained (no worker) when every Redis
 * connection drops (CLIENT KILL: the same instance); the merge finds them
 * in Redis and returns to the fast path. Then Redis is killed and comes
 * back EMPTY. The journal must still hold u01..u10 for the next merge to
 * write: before the fix the return to FAST forgot every journaled grant,
 * so the next merge wrote nothing (ten 404 lookups, ten second 201s).
 */
static void redis_back_empty_after_a_blip_keeps_undrained_grants(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr9");
    grant_fast(&c);
    int paths = it_log_count(f->gw.proc.log_path, "take the fast path");
    redisReply *kill = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
    assert_non_null(kill);
    assert_int_equal(kill->type, REDIS_REPLY_INTEGER);
    freeReplyObject(kill);
    /* the blip's merge ended: FAST */
    assert_int_equal(it_log_wait(f->gw.proc.log_path, "take the fast path", paths + 1, READY_MS), paths + 1);
    assert_int_equal(it_redis_xlen(f->redis, c.ev), N);                                 /* u01..u10 still undrained */
    assert_int_equal(it_services("kill-redis", SVC_MS), 0);
    assert_int_equal(wait_ready(f, "not-fast", LEFT_MS, "Redis killed after the blip"), 0);
    redis_wipe_files();
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(f);
    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "Redis back empty after a blip"), 0);
    check_after_loss(&c, "redis_back_empty_after_a_blip_keeps_undrained_grants");
}

/*
 * A Redis restart DURING the merge (the check before the fast path): the
 * check's step 1 (journaled grants Redis lost) looked at the Redis that was
 * there when it ran (after a blip: the same instance, so it wrote nothing);
 * a restart, empty, while a later step waited
 * (here: the rebuild of an event flagged stale, waiting for its stream to
 * drain) must not let the merge end with FAST and reset the journal. The
 * merge's own connection reconnects silently, so without a check that the
 * Redis at its end is the one at its start, u01..u10's grants (pending in
 * the stream, in the journal only) were lost: 404 on lookup, a second 201.
 */
static void redis_lost_during_merge_keeps_undrained_grants(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr4");
    char kev[64];
    it_new_event(f, kev, sizeof kev, "fr4k", STOCK, 1);
    it_resp_t r;
    grant_fast(&c);
    /* The other event: one grant pending in its stream (so its rebuild waits for a drain), and flagged stale
     * as a fallback of a gateway killed before its merge leaves it. */
    long k201 = it_claim(&r, f, kev, "k01", 1);
    it_resp_free(&r);
    assert_int_equal(k201, 201);
    assert_int_equal(it_db_exec(f->db,
                                "INSERT INTO event_locks (event_id, stale_token, stale_since) VALUES ('%s', 'deadbeefdeadbeefdeadbeefdeadbeef', "
                                "NOW(3)) ON DUPLICATE KEY UPDATE stale_token = VALUES(stale_token), stale_since = VALUES(stale_since)",
                                kev),
                     0);
    assert_int_equal(it_redis_xlen(f->redis, c.ev), N);

    /* A blip: every connection dropped, the same Redis (run_id) answers. The merge's step 1 finds every journaled
     * grant there (seq 10: nothing written; a restart would have written them all), and step 4 waits on the
     * flagged event's stream, which no worker drains. */
    redisReply *kill = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
    assert_non_null(kill);
    assert_int_equal(kill->type, REDIS_REPLY_INTEGER);
    freeReplyObject(kill);
    assert_int_equal(wait_ready(f, "merge", LEFT_MS, "connections dropped, merge waiting on the flagged event"), 0);
    it_sleep_ms(300); /* well inside the wait for the drain (GW_MERGE_WAIT_MS), past step 1 */
    assert_int_equal(wait_ready(f, "merge", 100, "still merging"), 0);
    /* Now Redis is lost with its data, and back at once. */
    redis_restart_empty_fast();
    assert_int_equal(it_services("start-redis", SVC_MS), 0); /* waits until it answers (already running: nothing started) */
    it_fix_reconnect(f);
    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "Redis back empty during the merge"), 0);

    check_after_loss(&c, "redis_lost_during_merge_keeps_undrained_grants");
}

/*
 * Redis back empty after the workers drained out of order: u01's entry was
 * read by a worker that died before its commit (pending, left for a
 * re-claim), u02..u10's were drained by another (MariaDB's highest ticket
 * is 10). The gateway's journal holds u01..u10. Whoever rebuilds the event
 * from MariaDB first (the reconnect check, gw_rebuild.c, or a failed
 * merge's step 5) brings Redis's seq to 10, and the merge's step 1 then
 * finds seq >= its highest journaled ticket: "nothing lost". Before the
 * fix u01's claim was in neither store: 404, and a retry a second 201.
 */
static void redis_back_empty_after_out_of_order_drain(void **st)
{
    ctx_t c = {.f = *st};
    it_fix_t *f = c.f;
    new_event(&c, "fr5");
    grant_fast(&c);
    /* A worker that read u01's entry and died: it stays pending under its name. */
    char k[TK_KEY_MAX];
    assert_true(tk_key(TK_KEY_STREAM, c.ev, strlen(c.ev), k) > 0);
    redisReply *rep = redisCommand(f->redis, "XREADGROUP GROUP wk it-dead COUNT 1 STREAMS %s >", k);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    freeReplyObject(rep);
    /* A live worker drains the rest (and re-claims nothing within the test). */
    assert_int_equal(setenv("WORKER_CLAIM_IDLE_MS", "3600000", 1), 0);
    assert_int_equal(it_fix_add_worker(f, "it-w1"), 0);
    long long deadline = it_now_ms() + DRAIN_MS;
    while (it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", c.ev) != N - 1 && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s'", c.ev), N - 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id = 'u01'", c.ev), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT ticket_hwm FROM event_stock WHERE event_id = '%s'", c.ev), N);

    /* Redis lost with its data. */
    assert_int_equal(it_services("kill-redis", SVC_MS), 0);
    assert_int_equal(wait_ready(f, "not-fast", LEFT_MS, "Redis killed"), 0);
    redis_wipe_files();
    assert_int_equal(it_services("start-redis", SVC_MS), 0);
    it_fix_reconnect(f);
    assert_int_equal(wait_ready(f, "ready", READY_MS, "Redis back empty"), 0);

    check_after_loss(&c, "redis_back_empty_after_out_of_order_drain");
}

int main(void)
{
    /* services.sh start-redis rewrites redis.conf from this: every 201 is in the AOF before it is answered. */
    if (setenv("REDIS_APPENDFSYNC", "always", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fallback_then_gateway_killed, setup_fast_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(redis_back_empty_keeps_undrained_grants, setup_no_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(gateway_killed_while_redis_down, setup_fast_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(redis_lost_during_merge_keeps_undrained_grants, setup_no_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(redis_back_empty_after_out_of_order_drain, setup_no_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(gateway_stopped_while_redis_down_keeps_undrained_grants, setup_no_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(gateway_stopped_on_the_fast_path_writes_nothing, setup_no_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(redis_lost_during_a_clean_stop_keeps_undrained_grants, setup_no_fallback, teardown_idle),
        cmocka_unit_test_setup_teardown(redis_restarted_with_all_drained_rebuilds_nothing, setup_no_fallback, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(redis_back_empty_after_a_blip_keeps_undrained_grants, setup_no_fallback, it_fix_free_redis_up),
    };
    if (getenv("IT_TEST") != NULL)
        cmocka_set_test_filter(getenv("IT_TEST")); /* one test by name (a pattern), while working on it */
    return cmocka_run_group_tests_name("it_fallback_restart", tests, it_group_setup, NULL);
}
