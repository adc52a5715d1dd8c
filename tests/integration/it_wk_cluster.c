/*
 * it_wk_cluster: a worker on a real Redis Cluster (REDIS_CLUSTER; a 3-master
 * cluster of lib/it_cluster started per test), issue 15, item 2:
 * - events whose streams live on three different masters (ids chosen by
 *   their slot's owner) are drained by one worker into MariaDB: every
 *   claim row written, every record reads confirmed (still 'p', its stream emptied: lua/confirm.lua)
 *   (each XREADGROUP, XAUTOCLAIM and confirm routed to its stream's master;
 *   one XREADGROUP naming them all would be refused, CROSSSLOT);
 * - boards likewise: packed score entries (k=m, lua/lb_write.lua's shape)
 *   on three masters, every line in board_scores, the streams emptied and
 *   the pend counts gone (lb_ack.lua routed by the board's key);
 * - an event's slot moved to another master while its stream is being
 *   drained (resharding: IMPORTING/MIGRATING, MIGRATE of every key with
 *   the consumer group and its pending list, SETSLOT NODE): the old master
 *   answers MOVED, the worker follows it, and every claim written before,
 *   during and after the move ends in MariaDB once, nothing left pending.
 * - an event's slot left half-way to another master (keys migrated, the old
 *   master answering ASK): the worker sends ASKING and the command to the
 *   new one, drains the claims written there, and its map does not change;
 * - with REDIS_WAIT_REPLICAS=1 the WAIT after a read goes to the stream's
 *   master: drained where that master has a replica, left pending where not;
 * - tk-import with REDIS_CLUSTER loads a board whose slot lives on a master
 *   other than the first seed (its calls on that master's connection); the
 *   same import sent to the first seed as a single Redis is refused (MOVED).
 * The events and boards are set up directly (MariaDB rows and Redis keys as
 * the admin routes and the scripts would leave them; the gateway's admin
 * scripts are not cluster-aware yet). The entries are XADDed in the claim
 * script's and lb_write.lua's formats. The single-Redis worker is tested by
 * the rest of the suite (it_drain, it_boards_durable, it_chaos).
 * Each test fails without what it checks: without slot routing the worker
 * sends the streams of two masters' slots to one and never drains them;
 * without MOVED handling the moved event's later entries stay in Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_cluster.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "tk_cluster.h"
#include "tk_keys.h"
#include "tk_time.h"

#define WAIT_MS 60000

typedef struct {
    it_fix_t f; /* MariaDB (wiped), the single Redis and a gateway of the suite: unused here but for the database */
    it_cluster_t c;
    it_proc_t worker;
} fix_t;

static int setup(void **st)
{
    fix_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return -1;
    if (it_fix_setup(&x->f, 0) != 0) {
        free(x);
        return -1;
    }
    if (it_cluster_start(&x->c, 30000) != 0) {
        it_fix_teardown(&x->f);
        free(x);
        return -1;
    }
    *st = x;
    return 0;
}

static int teardown(void **st)
{
    fix_t *x = *st;
    int rc = 0;
    if (x->worker.pid > 0 && it_proc_stop(&x->worker, IT_STOP_MS) != 0)
        rc = -1;
    if (it_fix_teardown(&x->f) != 0)
        rc = -1;
    it_cluster_stop(&x->c);
    unsetenv("REDIS_CLUSTER");
    free(x);
    return rc;
}

/* The worker, with REDIS_CLUSTER naming the cluster's nodes (it runs as tk-worker there too: the nodes load the suite's ACLs). */
static void start_worker(fix_t *x)
{
    setenv("REDIS_CLUSTER", x->c.seeds, 1);
    assert_int_equal(it_worker_start(&x->worker, "wkc-1"), 0);
    unsetenv("REDIS_CLUSTER");
}

static void must_ok(redisReply *rep)
{
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "redis: %s\n", rep != NULL ? rep->str : "no reply");
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
}

static long long cl_int(it_cluster_t *c, const char *key, const char *fmt, ...)
{
    int node = it_cluster_owner(c, key);
    if (node < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c->rc[node], fmt, ap);
    va_end(ap);
    long long v = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

/* An id "<prefix>-<n>" whose key @fmt (one %s: the id) lives on master @node; the first n that fits. */
static void id_on(it_cluster_t *c, char *out, size_t len, const char *prefix, const char *fmt, int node)
{
    char key[128];
    for (int n = 0; n < 10000; n++) {
        snprintf(out, len, "%s-%d", prefix, n);
        snprintf(key, sizeof key, fmt, out);
        if (it_cluster_owner(c, key) == node)
            return;
    }
    fail_msg("no id with prefix %s on node %d", prefix, node);
}

/* ---------------------------------------------------------------- events */

/* An open event @ev with @stock units: its MariaDB rows, its Redis hash, stream and group, and its entry in tk:events. */
static void make_event(fix_t *x, const char *ev, int stock)
{
    assert_int_equal(it_db_exec(x->f.db,
                                "INSERT INTO events (event_id, name, max_per_user, state, created_at, updated_at) "
                                "VALUES ('%s', '%s', 1, 'open', NOW(3), NOW(3))",
                                ev, ev),
                     0);
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO event_stock (event_id, total) VALUES ('%s', %d)", ev, stock), 0);
    char key[96], q[96];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    must_ok(it_cluster_cmd(&x->c, key,
                           "HSET %s name %s state open total %d remaining %d maxpu 1 opens 0 closes 0 seq 0 created %lld "
                           "stock_ver 0 state_ver 0 ver 1",
                           key, ev, stock, stock, (long long)tk_time_now_ms()));
    must_ok(it_cluster_cmd(&x->c, q, "XGROUP CREATE %s wk 0 MKSTREAM", q));
    must_ok(it_cluster_cmd(&x->c, "tk:events", "SADD tk:events %s", ev));
}

/* Claims @from..@to-1 of @ev as claim.lua grants them: the record 'p' in tk:{E}:claims and the entry u, t, n, c in tk:{E}:q. */
static void grant(fix_t *x, const char *ev, int from, int to)
{
    char claims[96], q[96], ev_key[96];
    snprintf(claims, sizeof claims, "tk:{%s}:claims", ev);
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    snprintf(ev_key, sizeof ev_key, "tk:{%s}:ev", ev);
    for (int i = from; i < to; i++) {
        char user[32], rec[64];
        snprintf(user, sizeof user, "u-%d", i);
        long long now = tk_time_now_ms();
        snprintf(rec, sizeof rec, "%d 1 %lld p", i + 1, now);
        must_ok(it_cluster_cmd(&x->c, claims, "HSET %s %s %s", claims, user, rec));
        must_ok(it_cluster_cmd(&x->c, q, "XADD %s * u %s t %d n 1 c %lld", q, user, i + 1, now));
        must_ok(it_cluster_cmd(&x->c, ev_key, "HINCRBY %s remaining -1", ev_key));
        must_ok(it_cluster_cmd(&x->c, ev_key, "HINCRBY %s seq 1", ev_key));
    }
}

/* Waits until MariaDB holds @want confirmed rows of @ev and its stream is empty; fails the test with both counts otherwise. */
static void wait_drained(fix_t *x, const char *ev, long long want)
{
    char q[96];
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    long long deadline = it_now_ms() + WAIT_MS, got = -1, len = -1;
    while (it_now_ms() < deadline) {
        got = it_db_int(x->f.db, -2, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND status='confirmed'", ev);
        len = cl_int(&x->c, q, "XLEN %s", q);
        if (got == want && len == 0)
            return;
        it_sleep_ms(50);
    }
    it_proc_log_tail(&x->worker, 30);
    fail_msg("%s: %lld confirmed rows (want %lld), stream length %lld", ev, got, want, len);
}

/*
 * Every record of @ev's users 0..@n-1 reads confirmed on the master that
 * holds it now: the stream there is empty (the confirm's trim reached it)
 * and each record is still 'p' (a confirmed claim's record is not
 * rewritten; with the stream empty it reads confirmed: lua/confirm.lua).
 */
static void all_confirmed(fix_t *x, const char *ev, int n)
{
    char claims[96], q[96];
    snprintf(claims, sizeof claims, "tk:{%s}:claims", ev);
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    assert_int_equal(cl_int(&x->c, q, "XLEN %s", q), 0);
    for (int i = 0; i < n; i++) {
        redisReply *rep = it_cluster_cmd(&x->c, claims, "HGET %s u-%d", claims, i);
        assert_non_null(rep);
        int ok = rep->type == REDIS_REPLY_STRING && rep->len >= 1 && rep->str[rep->len - 1] == 'p';
        if (!ok)
            fprintf(stderr, "%s u-%d: record %s\n", ev, i, rep->type == REDIS_REPLY_STRING ? rep->str : "(none)");
        freeReplyObject(rep);
        assert_true(ok);
    }
    assert_int_equal(it_db_int(x->f.db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", ev), n);
}

static void events_on_every_master(void **st)
{
    fix_t *x = *st;
    char ev[3][32];
    for (int i = 0; i < 3; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "wkc%d", i);
        id_on(&x->c, ev[i], sizeof ev[i], prefix, "tk:{%s}:q", i);
        make_event(x, ev[i], 100);
        grant(x, ev[i], 0, 20); /* before the worker: read by its first round */
    }
    start_worker(x);
    for (int i = 0; i < 3; i++)
        grant(x, ev[i], 20, 50); /* while it runs */
    for (int i = 0; i < 3; i++) {
        wait_drained(x, ev[i], 50);
        all_confirmed(x, ev[i], 50);
    }
}

/* ---------------------------------------------------------------- boards */

/* Board @b: its MariaDB rows (season 1), its stream and group, its entry in tk:boards. */
static void make_board(fix_t *x, const char *b)
{
    assert_int_equal(it_db_exec(x->f.db,
                                "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES ('%s', '%s', 1, 'best', 0, NOW(3))",
                                b, b),
                     0);
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO board_seasons (board_id, season, started_ms) VALUES ('%s', 1, %lld)", b,
                                (long long)tk_time_now_ms()),
                     0);
    char q[128]; /* b is a char[96] to the compiler: room for it whole */
    snprintf(q, sizeof q, "tk:lb:{%s}:q", b);
    must_ok(it_cluster_cmd(&x->c, q, "XGROUP CREATE %s wk 0 MKSTREAM", q));
    must_ok(it_cluster_cmd(&x->c, "tk:boards", "SADD tk:boards %s", b));
}

/* One packed entry (k=m) of users @from..@to-1 (score 10*i, seq i+1), counted in the pend hash as lb_write.lua does. */
static void write_scores(fix_t *x, const char *b, int from, int to)
{
    char q[96], pend[96], d[4096];
    snprintf(q, sizeof q, "tk:lb:{%s}:q", b);
    snprintf(pend, sizeof pend, "tk:lb:{%s}:pend", b);
    size_t off = 0;
    for (int i = from; i < to; i++)
        off += (size_t)snprintf(d + off, sizeof d - off, "%su-%d %d 0 %d", i > from ? "\n" : "", i, 10 * i, i + 1);
    long long now = tk_time_now_ms();
    must_ok(it_cluster_cmd(&x->c, pend, "HINCRBY %s 1 %d", pend, to - from));
    must_ok(it_cluster_cmd(&x->c, q, "XADD %s * k m s 1 t %lld n %d d %s", q, now, to - from, d));
}

static void boards_on_every_master(void **st)
{
    fix_t *x = *st;
    char b[3][32];
    for (int i = 0; i < 3; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "wkb%d", i);
        id_on(&x->c, b[i], sizeof b[i], prefix, "tk:lb:{%s}:q", i);
        make_board(x, b[i]);
        write_scores(x, b[i], 0, 30);
    }
    start_worker(x);
    for (int i = 0; i < 3; i++)
        write_scores(x, b[i], 30, 64);
    for (int i = 0; i < 3; i++) {
        char q[128], pend[128];
        snprintf(q, sizeof q, "tk:lb:{%s}:q", b[i]);
        snprintf(pend, sizeof pend, "tk:lb:{%s}:pend", b[i]);
        long long deadline = it_now_ms() + WAIT_MS, got = -1, len = -1;
        while (it_now_ms() < deadline) {
            got = it_db_int(x->f.db, -2, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s' AND season=1", b[i]);
            len = cl_int(&x->c, q, "XLEN %s", q);
            if (got == 64 && len == 0)
                break;
            it_sleep_ms(50);
        }
        if (got != 64 || len != 0) {
            it_proc_log_tail(&x->worker, 30);
            fail_msg("%s: %lld scores (want 64), stream length %lld", b[i], got, len);
        }
        assert_int_equal(it_db_int(x->f.db, -1, "SELECT c1 FROM board_scores WHERE board_id='%s' AND user_id='u-63'", b[i]), 630);
        assert_int_equal(cl_int(&x->c, pend, "HLEN %s", pend), 0); /* every entry acked through lb_ack.lua on its master */
    }
}

/* ---------------------------------------------------------------- a slot moved */

/* 1 when the worker's log holds @needle (tk_rcluster logs each MOVED it follows). */
static int log_has(const it_proc_t *p, const char *needle)
{
    FILE *fp = fopen(p->log_path, "r");
    if (fp == NULL)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, fp) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(fp);
    return found;
}

static void slot_moved_mid_drain(void **st)
{
    fix_t *x = *st;
    char ev[32], other[32], q[96];
    id_on(&x->c, ev, sizeof ev, "wkm", "tk:{%s}:q", 0);
    id_on(&x->c, other, sizeof other, "wko", "tk:{%s}:q", 2);
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    make_event(x, ev, 1000);
    make_event(x, other, 1000);
    start_worker(x);
    grant(x, ev, 0, 100);
    grant(x, other, 0, 100);
    wait_drained(x, ev, 100); /* the worker's map has the slot on node 0 now */
    /* Entries in flight while the slot moves: some read (pending) before the move, some after. */
    grant(x, ev, 100, 300);
    unsigned slot = tk_key_slot(q, strlen(q));
    assert_int_equal(it_cluster_migrate(&x->c, slot, 0, 1, 1), 0);
    assert_int_equal(it_cluster_owner(&x->c, q), 1);
    grant(x, ev, 300, 400);
    grant(x, other, 100, 200); /* the other master's event is drained all along */
    wait_drained(x, ev, 400);
    wait_drained(x, other, 200);
    all_confirmed(x, ev, 400);
    all_confirmed(x, other, 200);
    /* The worker met the move as a MOVED from the old master and followed it. */
    char moved[96];
    snprintf(moved, sizeof moved, "slot %u moved to 127.0.0.1:%d", slot, x->c.port[1]);
    if (!log_has(&x->worker, moved)) {
        it_proc_log_tail(&x->worker, 30);
        fail_msg("the worker's log does not say \"%s\"", moved);
    }
    /* Nothing left pending under any consumer on the new master. */
    redisReply *rep = it_cluster_cmd(&x->c, q, "XPENDING %s wk", q);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->element[0]->integer, 0);
    freeReplyObject(rep);
}

/* A command on node @node preceded by ASKING (a key of a slot it is importing). The reply, the caller's. */
static redisReply *ask_cmd(it_cluster_t *c, int node, const char *fmt, ...)
{
    redisReply *a = redisCommand(c->rc[node], "ASKING");
    if (a == NULL)
        return NULL;
    freeReplyObject(a);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c->rc[node], fmt, ap);
    va_end(ap);
    return rep;
}

/*
 * The slot of an event half-way to another master: every key migrated, the
 * slot still MIGRATING on the old master (which answers ASK) and IMPORTING
 * on the new one (which serves a command only after ASKING). The worker's
 * reads, re-claims and confirms must follow each ASK; its map must not
 * change (a MOVED would be followed for good).
 */
static void slot_half_moved_ask(void **st)
{
    fix_t *x = *st;
    char ev[32], q[96], claims[96];
    id_on(&x->c, ev, sizeof ev, "wka", "tk:{%s}:q", 0);
    snprintf(q, sizeof q, "tk:{%s}:q", ev);
    snprintf(claims, sizeof claims, "tk:{%s}:claims", ev);
    make_event(x, ev, 1000);
    start_worker(x);
    grant(x, ev, 0, 50);
    wait_drained(x, ev, 50);
    unsigned slot = tk_key_slot(q, strlen(q));
    assert_int_equal(it_cluster_migrate(&x->c, slot, 0, 1, 0), 0);
    /* New claims go where the keys are now, as a gateway following the ASK would write them. */
    for (int i = 50; i < 150; i++) {
        char user[32], rec[64];
        snprintf(user, sizeof user, "u-%d", i);
        long long now = tk_time_now_ms();
        snprintf(rec, sizeof rec, "%d 1 %lld p", i + 1, now);
        must_ok(ask_cmd(&x->c, 1, "HSET %s %s %s", claims, user, rec));
        must_ok(ask_cmd(&x->c, 1, "XADD %s * u %s t %d n 1 c %lld", q, user, i + 1, now));
    }
    long long deadline = it_now_ms() + WAIT_MS, got = -1, len = -1;
    while (it_now_ms() < deadline) {
        got = it_db_int(x->f.db, -2, "SELECT COUNT(*) FROM claims WHERE event_id='%s' AND status='confirmed'", ev);
        redisReply *rep = ask_cmd(&x->c, 1, "XLEN %s", q);
        len = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        freeReplyObject(rep);
        if (got == 150 && len == 0)
            break;
        it_sleep_ms(50);
    }
    if (got != 150 || len != 0) {
        it_proc_log_tail(&x->worker, 30);
        fail_msg("%s half-moved: %lld confirmed rows (want 150), stream length %lld", ev, got, len);
    }
    char moved[96];
    snprintf(moved, sizeof moved, "slot %u moved to", slot);
    assert_false(log_has(&x->worker, moved)); /* an ASK never changes the map */
    assert_int_equal(it_cluster_finish(&x->c, slot, 1), 0);
    all_confirmed(x, ev, 150);
}

/* ---------------------------------------------------------------- tk-import */

/* Runs tool @prog (tk-import, tk-rebuild) with @args (NULL-terminated) and the environment as it is now; its output
 * into @out. The exit code, -1 when it could not run. */
static int run_tool(const char *prog, const char *const *args, char *out, size_t outlen)
{
    char outp[1024];
    snprintf(outp, sizeof outp, "%s/it_wk_cluster_%s.out", it_env()->it_dir, prog);
    int rc = it_run_tool(prog, args, outp, NULL, 120000);
    it_read_file(outp, out, outlen);
    return rc;
}

static void import_on_a_master(void **st)
{
    fix_t *x = *st;
    char b[32], key[TK_KEY_MAX], out[4096];
    id_on(&x->c, b, sizeof b, "wki", "tk:lb:{%s}", 2); /* not the first seed's */
    long long now = tk_time_now_ms();
    assert_int_equal(it_db_exec(x->f.db,
                                "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES ('%s', '%s', 1, 'best', 0, NOW(3))",
                                b, b),
                     0);
    assert_true(tk_lb_key(TK_LB_BOARD, b, strlen(b), 0, key) > 0);
    must_ok(it_cluster_cmd(&x->c, key, "HSET %s name %s comps 1 op best len 0 season 1 start %lld last_t 0 seq 0 created %lld", key, b, now,
                           now));
    assert_true(tk_lb_key(TK_LB_SEASONS, b, strlen(b), 0, key) > 0);
    char span[48];
    snprintf(span, sizeof span, "%lld 0", now); /* "<start_ms> <end_ms>", 0 while current */
    must_ok(it_cluster_cmd(&x->c, key, "HSET %s 1 %s", key, span));
    assert_true(tk_lb_key(TK_LB_STREAM, b, strlen(b), 0, key) > 0);
    must_ok(it_cluster_cmd(&x->c, key, "XGROUP CREATE %s wk $ MKSTREAM", key));
    char csv[1024];
    snprintf(csv, sizeof csv, "%s/wkc-import.csv", it_env()->it_dir);
    FILE *o = fopen(csv, "w");
    assert_non_null(o);
    fprintf(o, "user_id,score,updated_at\nu-1,30,%lld\nu-2,20,%lld\nu-3,10,%lld\n", now - 3000, now - 2000, now - 1000);
    fclose(o);

    /* The first seed as a single Redis: the board's calls meet MOVED there (it holds nothing of the board). */
    char port0[16];
    snprintf(port0, sizeof port0, "%d", x->c.port[0]);
    int rc = run_tool("tk-import", (const char *const[]){"--board", b, "--redis-port", port0, csv, NULL}, out, sizeof out);
    if (rc == 0 || strstr(out, "MOVED") == NULL)
        fail_msg("tk-import to the first seed without REDIS_CLUSTER: exit %d, %s", rc, out);

    setenv("REDIS_CLUSTER", x->c.seeds, 1);
    rc = run_tool("tk-import", (const char *const[]){"--board", b, csv, NULL}, out, sizeof out);
    unsetenv("REDIS_CLUSTER");
    if (rc != 0)
        fail_msg("tk-import with REDIS_CLUSTER: exit %d, %s", rc, out);
    assert_non_null(strstr(out, "imported 3 rows"));
    assert_true(tk_lb_key(TK_LB_RANK, b, strlen(b), 1, key) > 0);
    assert_int_equal(cl_int(&x->c, key, "ZCARD %s", key), 3);
    assert_int_equal(it_db_int(x->f.db, -1, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b), 3);
}

/*
 * tk-rebuild with REDIS_CLUSTER restores an event and a board whose slots
 * live on another master than their registry sets (tk:events, tk:boards):
 * each SADD goes to its set's own master. Before, the rebuild sent them on
 * the item's connection and the cluster answered MOVED: "FAILED
 * redis_error: Redis SADD tk:events: MOVED 9582 ...".
 */
static void rebuild_on_another_master(void **st)
{
    fix_t *x = *st;
    char e[32], b[32], key[TK_KEY_MAX], out[4096];
    int ne = (it_cluster_owner(&x->c, TK_KEY_EVENTS) + 1) % IT_CLUSTER_NODES;
    int nb = (it_cluster_owner(&x->c, TK_KEY_BOARDS) + 1) % IT_CLUSTER_NODES;
    id_on(&x->c, e, sizeof e, "wkr", "tk:{%s}:ev", ne);
    id_on(&x->c, b, sizeof b, "wkrb", "tk:lb:{%s}", nb);
    long long now = tk_time_now_ms();
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO events (event_id, name, max_per_user, created_at, updated_at) VALUES ('%s', '%s', 1, NOW(3), NOW(3))",
                                e, e),
                     0);
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO event_stock (event_id, total, sold) VALUES ('%s', 10, 0)", e), 0);
    assert_int_equal(it_db_exec(x->f.db,
                                "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES ('%s', '%s', 1, 'best', 0, NOW(3))",
                                b, b),
                     0);
    assert_int_equal(it_db_exec(x->f.db, "INSERT INTO board_seasons (board_id, season, started_ms, ended_ms) VALUES ('%s', 1, %lld, NULL)", b,
                                now - 10000),
                     0);
    assert_int_equal(it_db_exec(x->f.db,
                                "INSERT INTO board_scores (board_id, season, user_id, c1, c2, t_ms, seq) VALUES "
                                "('%s', 1, 'u-1', 30, 0, %lld, 1), ('%s', 1, 'u-2', 20, 0, %lld, 2), ('%s', 1, 'u-3', 10, 0, %lld, 3)",
                                b, now - 3000, b, now - 2000, b, now - 1000),
                     0);
    setenv("REDIS_CLUSTER", x->c.seeds, 1);
    int rc = run_tool("tk-rebuild", (const char *const[]){"--event", e, NULL}, out, sizeof out);
    if (rc != 0)
        fail_msg("tk-rebuild --event %s (master %d) with REDIS_CLUSTER: exit %d, %s", e, ne, rc, out);
    rc = run_tool("tk-rebuild", (const char *const[]){"--board", b, NULL}, out, sizeof out);
    unsetenv("REDIS_CLUSTER");
    if (rc != 0)
        fail_msg("tk-rebuild --board %s (master %d) with REDIS_CLUSTER: exit %d, %s", b, nb, rc, out);
    snprintf(key, sizeof key, "tk:{%s}:ev", e);
    assert_int_equal(cl_int(&x->c, key, "HEXISTS %s remaining", key), 1);
    redisReply *rem = it_cluster_cmd(&x->c, key, "HGET %s remaining", key);
    assert_true(rem != NULL && rem->type == REDIS_REPLY_STRING);
    assert_string_equal(rem->str, "10");
    freeReplyObject(rem);
    assert_int_equal(cl_int(&x->c, TK_KEY_EVENTS, "SISMEMBER %s %s", TK_KEY_EVENTS, e), 1);
    assert_true(tk_lb_key(TK_LB_RANK, b, strlen(b), 1, key) > 0);
    assert_int_equal(cl_int(&x->c, key, "ZCARD %s", key), 3);
    assert_int_equal(cl_int(&x->c, TK_KEY_BOARDS, "SISMEMBER %s %s", TK_KEY_BOARDS, b), 1);
}

/* ---------------------------------------------------------------- REDIS_WAIT_REPLICAS */

/*
 * REDIS_WAIT_REPLICAS=1 (worker/wk_read.c): the WAIT after a read goes to
 * the master the stream was read from. Node 1 has a replica, node 0 none:
 * the event on node 1 is drained into MariaDB; the one on node 0 is not
 * (no replica can acknowledge its delivery), its entries left pending.
 * Fails if the WAIT went anywhere else: to node 0 for both (node 1's
 * event never written) or to node 1 for both (node 0's written).
 */
static void wait_on_the_streams_master(void **st)
{
    fix_t *x = *st;
    char e0[32], e1[32], q0[96];
    id_on(&x->c, e0, sizeof e0, "wkw0", "tk:{%s}:q", 0);
    id_on(&x->c, e1, sizeof e1, "wkw1", "tk:{%s}:q", 1);
    make_event(x, e0, 10);
    make_event(x, e1, 10);
    assert_int_equal(it_cluster_add_replica(&x->c, 1, 20000), 0);
    grant(x, e0, 0, 3);
    grant(x, e1, 0, 3);
    setenv("REDIS_WAIT_REPLICAS", "1", 1);
    setenv("REDIS_WAIT_TIMEOUT_MS", "200", 1);
    start_worker(x);
    unsetenv("REDIS_WAIT_REPLICAS");
    unsetenv("REDIS_WAIT_TIMEOUT_MS");
    wait_drained(x, e1, 3);
    all_confirmed(x, e1, 3);
    it_sleep_ms(1500);
    assert_int_equal(it_db_int(x->f.db, -1, "SELECT COUNT(*) FROM claims WHERE event_id='%s'", e0), 0);
    snprintf(q0, sizeof q0, "tk:{%s}:q", e0);
    assert_int_equal(cl_int(&x->c, q0, "XLEN %s", q0), 3);
    assert_true(log_has(&x->worker, "0 of 1 replicas"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(events_on_every_master, setup, teardown),
        cmocka_unit_test_setup_teardown(boards_on_every_master, setup, teardown),
        cmocka_unit_test_setup_teardown(slot_moved_mid_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(slot_half_moved_ask, setup, teardown),
        cmocka_unit_test_setup_teardown(import_on_a_master, setup, teardown),
        cmocka_unit_test_setup_teardown(rebuild_on_another_master, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_on_the_streams_master, setup, teardown),
    };
    return cmocka_run_group_tests_name("it_wk_cluster", tests, NULL, NULL);
}
