/*
 * it_boards_durable: leaderboard durability (docs/DESIGN.md, "Leaderboards:
 * durability and rebuild"): the workers drain board streams into MariaDB
 * (worker/wk_lb_*.c) and Redis is rebuilt from it (common/tk_lb_rebuild.c).
 *
 * Until the board routes exist, boards are made here the way the contract
 * (docs/CONTRACTS.md) says the create and write scripts make them: the
 * MariaDB boards row first, then tk:lb:{B}, :sn, tk:boards, the group, and
 * per write HINCRBY seq, the zset member and users value of common/tk_lb.h,
 * and a k=s stream entry.
 *  - N writes of one user -> one row with the last value, one row upserted;
 *  - 10,000 users -> 10,000 rows in upserts of 256 rows (the worker's
 *    counters lb_rows / lb_stmts / lb_stmt_max in tk:wk:stats);
 *  - a replayed older entry does not move a row back (and seq-0 rows move
 *    only to a later time); two workers on one board end at every user's
 *    latest value;
 *  - rollover entries -> board_seasons rows, in either order of arrival;
 *  - a malformed entry is acked and counted (lb_bad) and the drain goes on;
 *  - a worker SIGKILLed mid-drain and restarted -> every user's latest row;
 *    another worker takes a dead one's pending entries over (XAUTOCLAIM);
 *  - an entry MariaDB refuses alone is counted (lb_dead) and acked;
 *  - Redis FLUSHALL + the gateway reconnecting -> the board rebuilt with the
 *    same ZRANGE (members and scores) per kept season, seq above the old
 *    highest, reads answered 503 (admin view) until then;
 *  - tk-rebuild --board does the same; an unknown board exits 1;
 *  - the admin view: seasons, users, pending, database users, agree;
 *    above BOARD_CHECKSUM_MAX users (2 here) no checksum: agree null
 *    ("checked":"counts") when the counts match, false when they differ.
 *  - entries without a pend count (written as before it existed) are acked
 *    and leave none, never a negative one;
 *  - a season rolled out of Redis's window with a write still queued (the
 *    worker SIGSTOPped) is read from Redis with that write; once drained,
 *    the next write drops its keys and MariaDB answers the same; a rebuild
 *    removes pend, drop and the keys of the seasons drop lists.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_redis.h"
#include "tk_lb.h"

#define WAIT_MS 30000
#define T0 INT64_C(1764547200000) /* 2025-12-01: the boards' creation */

/* ---------------------------------------------------------------- fixture */

static int clean_boards(MYSQL *db)
{
    return it_db_exec(db, "DELETE FROM board_scores") || it_db_exec(db, "DELETE FROM board_seasons") || it_db_exec(db, "DELETE FROM boards")
               ? -1
               : 0;
}

static int setup_n(void **st, int workers)
{
    MYSQL *db = it_db_connect();
    if (db == NULL)
        return -1;
    int rc = clean_boards(db);
    mysql_close(db);
    return rc != 0 ? -1 : it_fix_new(st, workers);
}
static int setup0(void **st)
{
    return setup_n(st, 0);
}
static int setup1(void **st)
{
    return setup_n(st, 1);
}
static int setup2(void **st)
{
    return setup_n(st, 2);
}

/* A gateway that compares checksums only up to 2 users, one worker. */
static int setup_sum2(void **st)
{
    if (setenv("BOARD_CHECKSUM_MAX", "2", 1) != 0)
        return -1;
    int rc = setup_n(st, 1);
    unsetenv("BOARD_CHECKSUM_MAX");
    return rc;
}

static int teardown(void **st)
{
    it_fix_t *f = *st;
    /* Boards left in MariaDB would be rebuilt into the next test's Redis by its gateway. */
    if (f->db != NULL)
        clean_boards(f->db);
    return it_fix_free(st);
}

static void board_id(char *out, size_t len, const char *prefix)
{
    static int n;
    snprintf(out, len, "%s-%d-%d", prefix, (int)getpid(), ++n);
}

static void cmd_ok(redisContext *rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis %s: %s", fmt, r->str);
    freeReplyObject(r);
}

/* The board as the create route makes it: MariaDB first, then Redis. */
static void board_create(it_fix_t *f, const char *b, int comps, long long len_s)
{
    assert_int_equal(it_db_exec(f->db,
                                "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES ('%s', 'Board %s', %d, 'set', %lld, FROM_UNIXTIME(%lld / 1000))",
                                b, b, comps, len_s, (long long)T0),
                     0);
    assert_int_equal(it_db_exec(f->db, "INSERT INTO board_seasons (board_id, season, started_ms) VALUES ('%s', 1, %lld)", b, (long long)T0), 0);
    cmd_ok(f->redis, "HSET tk:lb:{%s} name %s comps %d op set len %lld season 1 start %lld last_t %lld seq 0 created %lld", b, b, comps,
           len_s, (long long)T0, (long long)T0, (long long)T0);
    cmd_ok(f->redis, "HSET tk:lb:{%s}:sn 1 %s", b, "1764547200000 0");
    cmd_ok(f->redis, "SADD tk:boards %s", b);
    cmd_ok(f->redis, "XGROUP CREATE tk:lb:{%s}:q wk 0 MKSTREAM", b);
}

/* One accepted write as a write script applies it (set): seq, zset, users hash, stream entry. Returns its seq. */
static long long put_score(it_fix_t *f, const char *b, int comps, unsigned season, const char *user, long long c1, long long c2, long long t)
{
    redisReply *r = redisCommand(f->redis, "HINCRBY tk:lb:{%s} seq 1", b);
    assert_non_null(r);
    long long seq = r->integer;
    freeReplyObject(r);
    r = redisCommand(f->redis, "HGET tk:lb:{%s}:u:%u %s", b, season, user);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING) {
        tk_lb_entry_t old;
        assert_int_equal(tk_lb_entry_parse(r->str, r->len, &old), 0);
        char m[TK_LB_MEMBER_MAX];
        int ml = tk_lb_member(&old, comps, user, strlen(user), m);
        cmd_ok(f->redis, "ZREM tk:lb:{%s}:z:%u %b", b, season, m, (size_t)ml);
    }
    freeReplyObject(r);
    tk_lb_entry_t e = {.c1 = c1, .c2 = c2, .t_ms = t, .seq = seq};
    char m[TK_LB_MEMBER_MAX], v[TK_LB_ENTRY_MAX];
    int ml = tk_lb_member(&e, comps, user, strlen(user), m);
    assert_true(ml > 0);
    tk_lb_entry_format(&e, v);
    cmd_ok(f->redis, "ZADD tk:lb:{%s}:z:%u %lld %b", b, season, -c1, m, (size_t)ml);
    cmd_ok(f->redis, "HSET tk:lb:{%s}:u:%u %s %s", b, season, user, v);
    cmd_ok(f->redis, "HSET tk:lb:{%s} last_t %lld", b, t);
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k s s %u u %s a %lld b %lld t %lld q %lld", b, season, user, c1, c2, t, seq);
    return seq;
}

/* A stream entry only (a replay, or a bulk load without the Redis ranks). */
static void xadd_score(it_fix_t *f, const char *b, unsigned season, const char *user, long long c1, long long c2, long long t, long long seq)
{
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k s s %u u %s a %lld b %lld t %lld q %lld", b, season, user, c1, c2, t, seq);
}

static long long db_int(it_fix_t *f, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return it_db_int(f->db, -2, "%s", q);
}

static long long xlen(it_fix_t *f, const char *b)
{
    redisReply *r = redisCommand(f->redis, "XLEN tk:lb:{%s}:q", b);
    assert_non_null(r);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* Waits until the stream is empty (every entry written and acked) and the database query @fmt answers @want. */
static void wait_db(it_fix_t *f, const char *b, long long want, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    long long deadline = it_now_ms() + WAIT_MS, got = -1, len = -1;
    while (it_now_ms() < deadline) {
        got = it_db_int(f->db, -2, "%s", q);
        len = xlen(f, b);
        if (got == want && len == 0)
            return;
        it_sleep_ms(50);
    }
    fail_msg("%s: %lld (want %lld), stream length %lld", q, got, want, len);
}

/* The sum over workers of tk:wk:stats "<consumer>:@stat" (a gauge: the largest). */
static long long wk_stat(it_fix_t *f, const char *stat, int gauge)
{
    redisReply *r = redisCommand(f->redis, "HGETALL tk:wk:stats");
    assert_non_null(r);
    long long v = 0;
    size_t sl = strlen(stat);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str;
        size_t kl = r->element[i]->len;
        if (kl > sl + 1 && k[kl - sl - 1] == ':' && memcmp(k + kl - sl, stat, sl) == 0) {
            long long x = strtoll(r->element[i + 1]->str, NULL, 10);
            v = gauge ? (x > v ? x : v) : v + x;
        }
    }
    freeReplyObject(r);
    return v;
}

static long long wait_stat(it_fix_t *f, const char *stat, long long want)
{
    long long deadline = it_now_ms() + WAIT_MS, v = -1;
    while (it_now_ms() < deadline && (v = wk_stat(f, stat, 0)) != want)
        it_sleep_ms(100);
    return v;
}

/* ZRANGE 0 -1 WITHSCORES of @key as one string. */
static char *zdump(redisContext *rc, const char *key)
{
    redisReply *r = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t cap = 16, n = 0;
    for (size_t i = 0; i < r->elements; i++)
        cap += r->element[i]->len + 1;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t i = 0; i < r->elements; i++) {
        memcpy(s + n, r->element[i]->str, r->element[i]->len);
        n += r->element[i]->len;
        s[n++] = '\n';
    }
    s[n] = '\0';
    freeReplyObject(r);
    return s;
}

static long long hget_int(redisContext *rc, const char *key, const char *field)
{
    redisReply *r = redisCommand(rc, "HGET %s %s", key, field);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

static int run_rebuild(const char *board)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bin/tk-rebuild", it_env()->build);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        it_proc_redis_user_env(path);
        execl(path, path, "--board", board, "--wait-drain-ms", "10000", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    long long deadline = it_now_ms() + 60000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (it_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        it_sleep_ms(20);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---------------------------------------------------------------- tests */

static void writes_of_one_user_coalesce_into_one_row(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "coal");
    board_create(f, b, 2, 0);
    long long last = 0;
    for (int i = 1; i <= 50; i++)
        last = put_score(f, b, 2, 1, "u-1", i * 10, -i, T0 + i);
    assert_int_equal(last, 50);
    assert_int_equal(it_fix_add_worker(f, "wk-coal"), 0);
    wait_db(f, b, 50, "SELECT seq FROM board_scores WHERE board_id='%s' AND season=1 AND user_id='u-1'", b);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b), 1);
    assert_int_equal(db_int(f, "SELECT c1 FROM board_scores WHERE board_id='%s'", b), 500);
    assert_int_equal(db_int(f, "SELECT c2 FROM board_scores WHERE board_id='%s'", b), -50);
    assert_int_equal(db_int(f, "SELECT t_ms FROM board_scores WHERE board_id='%s'", b), T0 + 50);
    /* All 50 entries were in the stream before the worker started: one batch, one row upserted, 50 acked. */
    assert_int_equal(wait_stat(f, "lb_entries", 50), 50);
    assert_int_equal(wk_stat(f, "lb_rows", 0), 1);
    /* These entries were XADDed without a pend count (as before tk:lb:{B}:pend existed): acking them made none,
       and no negative one. */
    char k[128];
    snprintf(k, sizeof k, "tk:lb:{%s}:pend", b);
    redisReply *x = redisCommand(f->redis, "EXISTS %s", k);
    assert_non_null(x);
    assert_int_equal(x->integer, 0);
    freeReplyObject(x);
}

static void ten_thousand_users_go_in_statements_of_256(void **st)
{
    it_fix_t *f = *st;
    char b[64], user[32];
    board_id(b, sizeof b, "bulk");
    board_create(f, b, 1, 0);
    /* As lua/lb_write.lua writes them: packed entries of 64 users (the last one 16). */
    int entries = 0;
    for (int i = 0; i < 10000; i += 64, entries++) {
        char d[64 * 40] = "";
        size_t o = 0;
        int n = 0;
        for (int j = i; j < i + 64 && j < 10000; j++, n++) {
            snprintf(user, sizeof user, "p-%05d", j);
            o += (size_t)snprintf(d + o, sizeof d - o, "%s%s %d 0 %d", n ? "\n" : "", user, j * 3, j + 1);
        }
        redisAppendCommand(f->redis, "XADD tk:lb:{%s}:q * k m s 1 t %lld n %d d %s", b, (long long)(T0 + i), n, d);
    }
    for (int i = 0; i < entries; i++) {
        void *rep = NULL;
        assert_int_equal(redisGetReply(f->redis, &rep), REDIS_OK);
        assert_int_equal(((redisReply *)rep)->type, REDIS_REPLY_STRING);
        freeReplyObject(rep);
    }
    long long t0 = it_now_ms();
    assert_int_equal(it_fix_add_worker(f, "wk-bulk"), 0);
    wait_db(f, b, 10000, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    print_message("10,000 rows drained %lld ms after the worker started\n", it_now_ms() - t0);
    assert_int_equal(db_int(f, "SELECT SUM(c1 = 3 * CAST(SUBSTRING(user_id, 3) AS UNSIGNED) AND seq = CAST(SUBSTRING(user_id, 3) AS "
                               "UNSIGNED) + 1) FROM board_scores WHERE board_id='%s'",
                            b),
                     10000);
    assert_int_equal(wait_stat(f, "lb_rows", 10000), 10000);
    long long stmts = wk_stat(f, "lb_stmts", 0), biggest = wk_stat(f, "lb_stmt_max", 1);
    print_message("%lld statements for 10,000 rows (%.1f rows each), the largest %lld rows\n", stmts, 10000.0 / (double)stmts, biggest);
    /* 10,000 = 39 x 256 + 16 when read in one go; reads of 128 packed entries (8,192 rows) give 32 x 256 each: at most
     * 10000/64 statements in any case. */
    assert_true(stmts * 64 <= 10000);
    assert_int_equal(biggest, 256);
}

static void a_replayed_older_entry_does_not_move_a_row_back(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "replay");
    board_create(f, b, 2, 0);
    xadd_score(f, b, 1, "u-r", 100, 7, T0 + 10, 10);
    wait_db(f, b, 10, "SELECT seq FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b);
    /* The same entry again, then an older one: both acked, the row stays at seq 10. */
    xadd_score(f, b, 1, "u-r", 100, 7, T0 + 10, 10);
    xadd_score(f, b, 1, "u-r", 1, 1, T0 + 5, 5);
    xadd_score(f, b, 1, "u-other", 3, 3, T0 + 11, 11); /* a marker written after them */
    wait_db(f, b, 11, "SELECT seq FROM board_scores WHERE board_id='%s' AND user_id='u-other'", b);
    assert_int_equal(db_int(f, "SELECT seq FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b), 10);
    assert_int_equal(db_int(f, "SELECT c1 FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b), 100);
    assert_int_equal(db_int(f, "SELECT c2 FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b), 7);
    assert_int_equal(db_int(f, "SELECT t_ms FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b), T0 + 10);
    /* A newer one moves it. */
    xadd_score(f, b, 1, "u-r", 50, 0, T0 + 20, 12);
    wait_db(f, b, 12, "SELECT seq FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b);
    assert_int_equal(db_int(f, "SELECT c1 FROM board_scores WHERE board_id='%s' AND user_id='u-r'", b), 50);
    /* seq-0 rows (tk-import): only a later time replaces one. */
    assert_int_equal(it_db_exec(f->db, "INSERT INTO board_scores VALUES ('%s', 1, 'u-imp', 9, 9, %lld, 0)", b, (long long)(T0 + 1000)), 0);
    xadd_score(f, b, 1, "u-imp", 1, 1, T0 + 500, 0);
    xadd_score(f, b, 1, "u-other", 4, 4, T0 + 12, 13);
    wait_db(f, b, 13, "SELECT seq FROM board_scores WHERE board_id='%s' AND user_id='u-other'", b);
    assert_int_equal(db_int(f, "SELECT c1 FROM board_scores WHERE board_id='%s' AND user_id='u-imp'", b), 9);
    xadd_score(f, b, 1, "u-imp", 2, 2, T0 + 2000, 0);
    wait_db(f, b, 2, "SELECT c1 FROM board_scores WHERE board_id='%s' AND user_id='u-imp'", b);
    assert_int_equal(db_int(f, "SELECT t_ms FROM board_scores WHERE board_id='%s' AND user_id='u-imp'", b), T0 + 2000);
}

static void two_workers_end_at_every_users_latest_value(void **st)
{
    it_fix_t *f = *st;
    char b[64], user[32];
    board_id(b, sizeof b, "two");
    board_create(f, b, 2, 0);
    long long seq = 0;
    for (int round = 0; round < 40; round++) {
        for (int u = 0; u < 25; u++) {
            snprintf(user, sizeof user, "t-%02d", u);
            seq++;
            redisAppendCommand(f->redis, "XADD tk:lb:{%s}:q * k s s 1 u %s a %d b %lld t %lld q %lld", b, user, round, seq,
                               (long long)(T0 + seq), seq);
        }
        for (int u = 0; u < 25; u++) {
            void *rep = NULL;
            assert_int_equal(redisGetReply(f->redis, &rep), REDIS_OK);
            freeReplyObject(rep);
        }
        it_sleep_ms(5);
    }
    /* Every user's last write was in round 39 with c2 = its seq: 975 + u + 1. */
    wait_db(f, b, 25, "SELECT SUM(c1 = 39 AND c2 = seq AND seq = 976 + CAST(SUBSTRING(user_id, 3) AS UNSIGNED)) FROM board_scores WHERE "
                      "board_id='%s'",
            b);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b), 25);
    /* Every entry acked once, over both workers. */
    assert_int_equal(wait_stat(f, "lb_entries", 1000), 1000);
}

static void rollover_entries_make_season_rows(void **st)
{
    it_fix_t *f = *st;
    char b[64], b2[64];
    board_id(b, sizeof b, "roll");
    board_id(b2, sizeof b2, "rollrev");
    board_create(f, b, 1, 0);
    board_create(f, b2, 1, 0);
    long long t2 = T0 + 1000, t3 = T0 + 5000;
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 2 t %lld", b, t2);
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 3 t %lld", b, t3);
    /* The other board gets them in the reverse order (two workers could write them so). */
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 3 t %lld", b2, t3);
    wait_db(f, b2, 3, "SELECT season FROM board_seasons WHERE board_id='%s' AND season = 3", b2);
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 2 t %lld", b2, t2);
    const char *boards[] = {b, b2};
    for (int i = 0; i < 2; i++) {
        wait_db(f, boards[i], 3, "SELECT COUNT(*) FROM board_seasons WHERE board_id='%s'", boards[i]);
        assert_int_equal(db_int(f, "SELECT ended_ms FROM board_seasons WHERE board_id='%s' AND season=1", boards[i]), t2);
        assert_int_equal(db_int(f, "SELECT started_ms FROM board_seasons WHERE board_id='%s' AND season=2", boards[i]), t2);
        assert_int_equal(db_int(f, "SELECT ended_ms FROM board_seasons WHERE board_id='%s' AND season=2", boards[i]), t3);
        assert_int_equal(db_int(f, "SELECT started_ms FROM board_seasons WHERE board_id='%s' AND season=3", boards[i]), t3);
        assert_int_equal(db_int(f, "SELECT COALESCE(ended_ms, -1) FROM board_seasons WHERE board_id='%s' AND season=3", boards[i]), -1);
    }
    /* A replayed rollover changes nothing. */
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 2 t %lld", b, t2 + 7);
    xadd_score(f, b, 3, "u-marker", 1, 0, t3 + 1, 1);
    wait_db(f, b, 1, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    assert_int_equal(db_int(f, "SELECT started_ms FROM board_seasons WHERE board_id='%s' AND season=2", b), t2);
    assert_int_equal(db_int(f, "SELECT ended_ms FROM board_seasons WHERE board_id='%s' AND season=1", b), t2);
}

static void a_malformed_entry_is_acked_and_the_drain_goes_on(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "bad");
    board_create(f, b, 1, 0);
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k s s 1 u %s a 1 b 0 t 5 q 1", b, "bad user!");
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k x", b);
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k s s 1 u ok-1 a 99999999999999999 b 0 t 5 q 2", b);
    xadd_score(f, b, 1, "ok-1", 5, 0, T0, 3);
    wait_db(f, b, 5, "SELECT c1 FROM board_scores WHERE board_id='%s' AND user_id='ok-1'", b);
    assert_int_equal(wait_stat(f, "lb_bad", 3), 3);
}

/*
 * A board Redis has and MariaDB does not (its row deleted): every entry of it
 * is refused alone (foreign key), so the batch is split by board, the other
 * board's rows commit, and each refused entry is logged, counted (lb_dead)
 * and acked: the drain never stops.
 */
static void entries_mariadb_refuses_are_counted_and_the_rest_commits(void **st)
{
    it_fix_t *f = *st;
    char good[64], gone[64];
    board_id(good, sizeof good, "good");
    board_id(gone, sizeof gone, "gone");
    board_create(f, good, 1, 0);
    board_create(f, gone, 1, 0);
    assert_int_equal(it_db_exec(f->db, "DELETE FROM board_seasons WHERE board_id='%s'", gone), 0);
    assert_int_equal(it_db_exec(f->db, "DELETE FROM boards WHERE board_id='%s'", gone), 0);
    for (int i = 1; i <= 3; i++) {
        char user[16];
        snprintf(user, sizeof user, "g-%d", i);
        xadd_score(f, good, 1, user, i, 0, T0 + i, i);
        xadd_score(f, gone, 1, user, i, 0, T0 + i, i);
    }
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 2 t %lld", gone, (long long)(T0 + 50));
    assert_int_equal(it_fix_add_worker(f, "wk-dead"), 0);
    wait_db(f, good, 3, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", good);
    long long deadline = it_now_ms() + WAIT_MS;
    while (xlen(f, gone) != 0 && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(xlen(f, gone), 0);
    assert_int_equal(wait_stat(f, "lb_dead", 4), 4);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", gone), 0);
    /* The drain goes on. */
    xadd_score(f, good, 1, "g-9", 9, 0, T0 + 9, 9);
    wait_db(f, good, 4, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", good);
}

/* 2,000 users, 10 writes each (the last with c1 = 1000 + u, c2 = 9), in the stream of a new board @b. */
static void ten_writes_of_2000_users(it_fix_t *f, const char *b)
{
    char user[32];
    board_create(f, b, 2, 0);
    long long seq = 0;
    for (int w = 0; w < 10; w++) {
        for (int u = 0; u < 2000; u++) {
            snprintf(user, sizeof user, "k-%04d", u);
            seq++;
            redisAppendCommand(f->redis, "XADD tk:lb:{%s}:q * k s s 1 u %s a %d b %d t %lld q %lld", b, user, w == 9 ? 1000 + u : w, w,
                               (long long)(T0 + seq), seq);
        }
        for (int u = 0; u < 2000; u++) {
            void *rep = NULL;
            assert_int_equal(redisGetReply(f->redis, &rep), REDIS_OK);
            freeReplyObject(rep);
        }
    }
}

/* Starts worker @name, SIGKILLs it as soon as its first rows are in MariaDB; returns its slot. */
static it_proc_t *start_and_kill(it_fix_t *f, const char *b, const char *name)
{
    assert_int_equal(it_fix_add_worker(f, name), 0);
    it_proc_t *w = &f->workers[f->nworkers - 1];
    long long deadline = it_now_ms() + WAIT_MS;
    while (db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b) == 0 && it_now_ms() < deadline)
        it_sleep_ms(2);
    it_proc_kill(w);
    long long stored = db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b), left = xlen(f, b);
    print_message("killed with %lld rows stored, %lld entries left in the stream\n", stored, left);
    assert_true(left > 0); /* it died mid-drain */
    return w;
}

#define ALL_LATEST                                                                                                                  \
    "SELECT SUM(c1 = 1000 + CAST(SUBSTRING(user_id, 3) AS UNSIGNED) AND c2 = 9 AND seq > 18000) FROM board_scores WHERE board_id='%s'"

/* Killed mid-drain, the worker's pending entries are taken over by another (XAUTOCLAIM after --claim-idle-ms, 5 s). */
static void a_dead_workers_entries_are_taken_over(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "takeover");
    ten_writes_of_2000_users(f, b);
    start_and_kill(f, b, "wk-dies");
    /* What the dead one held stays pending under its name until another takes it over. */
    redisReply *r = redisCommand(f->redis, "XPENDING tk:lb:{%s}:q wk", b);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long held = r->element[0]->integer;
    freeReplyObject(r);
    print_message("the dead worker held %lld entries\n", held);
    assert_int_equal(it_fix_add_worker(f, "wk-heir"), 0);
    wait_db(f, b, 2000, ALL_LATEST, b);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b), 2000);
    r = redisCommand(f->redis, "XPENDING tk:lb:{%s}:q wk", b);
    assert_non_null(r);
    assert_int_equal(r->element[0]->integer, 0);
    freeReplyObject(r);
}

static void a_worker_killed_mid_drain_loses_nothing(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "kill");
    ten_writes_of_2000_users(f, b);
    it_proc_t *w = start_and_kill(f, b, "wk-kill");
    /* Restarted under the same name: its own pending entries first, then the rest. */
    assert_int_equal(it_worker_start(w, "wk-kill"), 0);
    wait_db(f, b, 2000, ALL_LATEST, b);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b), 2000);
}


/* A board of 500 users in season 1, a rollover, 200 in season 2; drained; its ranks as Redis has them. */
static void board_with_two_seasons(it_fix_t *f, const char *b, char **z1, char **z2, long long *seq)
{
    char user[32];
    board_create(f, b, 2, 0);
    for (int u = 0; u < 500; u++) {
        snprintf(user, sizeof user, "r-%03d", u);
        put_score(f, b, 2, 1, user, u % 37, (u * 7919) % 101 - 50, T0 + 100 + u % 13);
    }
    put_score(f, b, 2, 1, "r-007", 36, 50, T0 + 900); /* a user written twice */
    long long t2 = T0 + 10000;
    cmd_ok(f->redis, "HSET tk:lb:{%s} season 2 start %lld", b, t2);
    char sn1[64], sn2[64];
    snprintf(sn1, sizeof sn1, "%lld %lld", (long long)T0, t2);
    snprintf(sn2, sizeof sn2, "%lld 0", t2);
    cmd_ok(f->redis, "HSET tk:lb:{%s}:sn 1 %s 2 %s", b, sn1, sn2);
    cmd_ok(f->redis, "XADD tk:lb:{%s}:q * k r s 2 t %lld", b, t2);
    for (int u = 0; u < 200; u++) {
        snprintf(user, sizeof user, "s-%03d", u);
        put_score(f, b, 2, 2, user, -(u % 5), u, t2 + 1 + u);
    }
    wait_db(f, b, 700, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    char k[128];
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    *z1 = zdump(f->redis, k);
    snprintf(k, sizeof k, "tk:lb:{%s}:z:2", b);
    *z2 = zdump(f->redis, k);
    snprintf(k, sizeof k, "tk:lb:{%s}", b);
    *seq = hget_int(f->redis, k, "seq");
    assert_int_equal(*seq, 701);
    assert_int_equal(db_int(f, "SELECT MAX(seq) FROM board_scores WHERE board_id='%s'", b), 701);
}

static void check_rebuilt(it_fix_t *f, const char *b, const char *z1, const char *z2, long long old_seq)
{
    char k[128];
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    char *a1 = zdump(f->redis, k);
    snprintf(k, sizeof k, "tk:lb:{%s}:z:2", b);
    char *a2 = zdump(f->redis, k);
    assert_int_equal(strlen(a1), strlen(z1));
    assert_string_equal(a1, z1);
    assert_string_equal(a2, z2);
    free(a1);
    free(a2);
    snprintf(k, sizeof k, "tk:lb:{%s}:u:2", b);
    redisReply *r = redisCommand(f->redis, "HGET %s s-042", k);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    tk_lb_entry_t e;
    assert_int_equal(tk_lb_entry_parse(r->str, r->len, &e), 0);
    assert_int_equal(e.c1, -2);
    assert_int_equal(e.c2, 42);
    assert_int_equal(e.t_ms, T0 + 10000 + 43);
    freeReplyObject(r);
    snprintf(k, sizeof k, "tk:lb:{%s}", b);
    assert_int_equal(hget_int(f->redis, k, "season"), 2);
    assert_int_equal(hget_int(f->redis, k, "start"), T0 + 10000);
    assert_int_equal(hget_int(f->redis, k, "comps"), 2);
    long long seq = hget_int(f->redis, k, "seq");
    if (seq <= old_seq)
        fail_msg("seq %lld after the rebuild, not above %lld", seq, old_seq);
    assert_int_equal(hget_int(f->redis, k, "last_t"), T0 + 10000 + 200);
    r = redisCommand(f->redis, "SISMEMBER tk:boards %s", b);
    assert_non_null(r);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    r = redisCommand(f->redis, "HGET tk:lb:{%s}:sn 1", b);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof want, "%lld %lld", (long long)T0, (long long)(T0 + 10000));
    assert_string_equal(r->str, want);
    freeReplyObject(r);
    r = redisCommand(f->redis, "XINFO GROUPS tk:lb:{%s}:q", b);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    /* A write after the rebuild is drained as before (its seq above every stored one). */
    snprintf(k, sizeof k, "tk:lb:{%s}:u:2", b);
    long long s = put_score(f, b, 2, 2, "s-001", 77, 77, T0 + 20000);
    wait_db(f, b, s, "SELECT seq FROM board_scores WHERE board_id='%s' AND season=2 AND user_id='s-001'", b);
    assert_int_equal(db_int(f, "SELECT c1 FROM board_scores WHERE board_id='%s' AND season=2 AND user_id='s-001'", b), 77);
}

static json_t *view(it_fix_t *f, const char *b, long *status, it_resp_t *r)
{
    assert_int_equal(it_apif(r, f, IT_ADMIN, "GET", NULL, "/v1/admin/boards/%s", b), 0);
    *status = r->status;
    return r->json;
}

static void gateway_rebuilds_a_board_redis_lost(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "lost");
    char *z1, *z2;
    long long seq;
    board_with_two_seasons(f, b, &z1, &z2, &seq);
    assert_int_equal(it_redis_flushall(f->redis), 0);
    redisReply *kill = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
    assert_non_null(kill);
    freeReplyObject(kill);
    /* Until the board is back the admin view answers 503, never 404; then 200. */
    long long deadline = it_now_ms() + WAIT_MS;
    long status = 0;
    int saw503 = 0;
    while (it_now_ms() < deadline) {
        it_resp_t r;
        view(f, b, &status, &r);
        it_resp_free(&r);
        if (status == 200)
            break;
        if (status != 503)
            fail_msg("admin board view during the rebuild: %ld", status);
        saw503 = 1;
        it_sleep_ms(20);
    }
    assert_int_equal(status, 200);
    print_message("admin view answered 503 before the rebuild: %s\n", saw503 ? "yes" : "no (the rebuild was faster)");
    check_rebuilt(f, b, z1, z2, seq);
    free(z1);
    free(z2);
}

static void tk_rebuild_board_restores_it(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "cli");
    char *z1, *z2;
    long long seq;
    board_with_two_seasons(f, b, &z1, &z2, &seq);
    /* Only this board's keys go (the gateway does not notice: no reconnect). */
    cmd_ok(f->redis, "DEL tk:lb:{%s} tk:lb:{%s}:sn tk:lb:{%s}:z:1 tk:lb:{%s}:z:2 tk:lb:{%s}:u:1 tk:lb:{%s}:u:2", b, b, b, b, b, b);
    cmd_ok(f->redis, "SREM tk:boards %s", b);
    assert_int_equal(run_rebuild(b), 0);
    check_rebuilt(f, b, z1, z2, seq);
    /* Over an intact board it rebuilds the same ranks again. */
    char k[128];
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    assert_int_equal(run_rebuild(b), 0);
    char *again = zdump(f->redis, k);
    assert_string_equal(again, z1);
    free(again);
    assert_int_equal(run_rebuild("no-such-board"), 1);
    free(z1);
    free(z2);
}

/* The view's "checked", or "(absent)". */
static const char *checked(json_t *j)
{
    const char *s = it_json_str(j, "checked");
    return s != NULL ? s : "(absent)";
}

static void admin_view_counts_and_agrees(void **st)
{
    it_fix_t *f = *st;
    char b[64], user[32];
    board_id(b, sizeof b, "view");
    board_create(f, b, 2, 0);
    for (int u = 0; u < 30; u++) {
        snprintf(user, sizeof user, "v-%02d", u);
        put_score(f, b, 2, 1, user, u, u, T0 + u);
    }
    wait_db(f, b, 30, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    it_resp_t r;
    long status;
    json_t *j = view(f, b, &status, &r);
    if (status != 200)
        it_show("admin board view", &r);
    assert_int_equal(status, 200);
    assert_int_equal(it_json_int(j, "season"), 1);
    assert_int_equal(it_json_int(j, "users"), 30);
    assert_int_equal(it_json_int(j, "pending"), 0);
    assert_int_equal(it_json_int(json_object_get(j, "database"), "users"), 30);
    assert_true(json_is_true(json_object_get(j, "agree")));
    json_t *def = json_object_get(j, "board");
    assert_string_equal(it_json_str(def, "board_id"), b);
    assert_int_equal(it_json_int(def, "components"), 2);
    json_t *seasons = json_object_get(j, "seasons");
    assert_int_equal(json_array_size(seasons), 1);
    assert_int_equal(it_json_int(json_array_get(seasons, 0), "users"), 30);
    assert_string_equal(it_json_str(json_array_get(seasons, 0), "started_at"), "2025-12-01T00:00:00.000Z");
    assert_true(json_is_null(json_object_get(json_array_get(seasons, 0), "ended_at")));
    it_resp_free(&r);

    /* Workers stopped: two writes pending, the books disagree. */
    for (int i = 0; i < f->nworkers; i++)
        assert_int_equal(it_proc_stop(&f->workers[i], IT_STOP_MS), 0);
    put_score(f, b, 2, 1, "v-00", 100, 0, T0 + 100);
    put_score(f, b, 2, 1, "v-new", 1, 0, T0 + 101);
    j = view(f, b, &status, &r);
    assert_int_equal(status, 200);
    assert_int_equal(it_json_int(j, "users"), 31);
    assert_int_equal(it_json_int(j, "pending"), 2);
    assert_int_equal(it_json_int(json_object_get(j, "database"), "users"), 30);
    assert_true(json_is_false(json_object_get(j, "agree")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "database"), "checksum"))); /* not computed while pending */
    it_resp_free(&r);
    /* A row changed behind Redis's back: counts equal, the checksum tells. */
    assert_int_equal(it_worker_start(&f->workers[0], "wk-view"), 0);
    wait_db(f, b, 31, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    j = view(f, b, &status, &r);
    assert_true(json_is_true(json_object_get(j, "agree")));
    assert_string_equal(it_json_str(json_object_get(j, "database"), "checksum"), it_json_str(json_object_get(j, "redis"), "checksum"));
    assert_int_equal(strlen(it_json_str(json_object_get(j, "database"), "checksum")), 8);
    assert_string_equal(checked(j), "checksums");
    it_resp_free(&r);
    assert_int_equal(it_db_exec(f->db, "UPDATE board_scores SET c2 = c2 + 1 WHERE board_id='%s' AND user_id='v-05'", b), 0);
    j = view(f, b, &status, &r);
    assert_int_equal(it_json_int(j, "pending"), 0);
    assert_int_equal(it_json_int(json_object_get(j, "database"), "users"), 31);
    assert_true(json_is_false(json_object_get(j, "agree")));
    assert_string_not_equal(it_json_str(json_object_get(j, "database"), "checksum"), it_json_str(json_object_get(j, "redis"), "checksum"));
    it_resp_free(&r);

    assert_int_equal(it_apif(&r, f, IT_ADMIN, "GET", NULL, "/v1/admin/boards/%s", "nope-board"), 0);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/admin/boards/%s", b), 0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
}

/* Above the checksum limit the contents are not compared: agree is null, never true on counts alone. */
static void admin_view_agree_unknown_above_the_checksum_limit(void **st)
{
    it_fix_t *f = *st;
    char b[64];
    board_id(b, sizeof b, "big");
    board_create(f, b, 1, 0);
    put_score(f, b, 1, 1, "u-1", 1, 0, T0 + 1);
    put_score(f, b, 1, 1, "u-2", 2, 0, T0 + 2);
    wait_db(f, b, 2, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    it_resp_t r;
    long status;
    json_t *j = view(f, b, &status, &r);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(j, "agree")));
    it_resp_free(&r);

    put_score(f, b, 1, 1, "u-3", 3, 0, T0 + 3);
    wait_db(f, b, 3, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    /* A row changed behind Redis's back: counts alone cannot see it, so the view must not say they agree. */
    assert_int_equal(it_db_exec(f->db, "UPDATE board_scores SET c1 = c1 + 1 WHERE board_id='%s' AND user_id='u-1'", b), 0);
    j = view(f, b, &status, &r);
    assert_int_equal(status, 200);
    assert_int_equal(it_json_int(j, "users"), 3);
    assert_int_equal(it_json_int(j, "pending"), 0);
    assert_int_equal(it_json_int(json_object_get(j, "database"), "users"), 3);
    assert_true(json_is_null(json_object_get(json_object_get(j, "database"), "checksum")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "redis"), "checksum")));
    if (!json_is_null(json_object_get(j, "agree")))
        it_show("admin board view above the checksum limit", &r);
    assert_true(json_is_null(json_object_get(j, "agree")));
    assert_string_equal(checked(j), "counts");
    it_resp_free(&r);

    /* Counts that differ are a known disagreement. */
    assert_int_equal(it_db_exec(f->db, "DELETE FROM board_scores WHERE board_id='%s' AND user_id='u-2'", b), 0);
    j = view(f, b, &status, &r);
    assert_int_equal(status, 200);
    assert_int_equal(it_json_int(json_object_get(j, "database"), "users"), 2);
    assert_true(json_is_false(json_object_get(j, "agree")));
    assert_string_equal(checked(j), "counts");
    it_resp_free(&r);
}

static long api(it_fix_t *f, const char *method, const char *body, it_resp_t *r, const char *fmt, const char *b)
{
    assert_int_equal(it_apif(r, f, IT_ADMIN, method, body, fmt, b), 0);
    return r->status;
}

/* GET …/top of season @season of board @b: the status, the body into @out. */
static long top_body(it_fix_t *f, const char *b, int season, char *out, size_t cap)
{
    it_resp_t r;
    char path[256];
    snprintf(path, sizeof path, "/v1/boards/%s/top?season=%d", b, season);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "%s", path), 0);
    long status = r.status;
    snprintf(out, cap, "%.*s", (int)r.body_len, r.body);
    it_resp_free(&r);
    return status;
}

static void one_score(it_fix_t *f, const char *b, const char *user, int c1)
{
    char body[256];
    it_resp_t r;
    snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"%s\",\"score\":[%d]}]}", user, c1);
    if (api(f, "POST", body, &r, "/v1/admin/boards/%s/scores", b) != 200)
        it_show("scores", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "accepted"), 1);
    it_resp_free(&r);
}

/*
 * A closed season that falls out of Redis's window while its last writes
 * are still in the stream stays in Redis (tk:lb:{B}:drop, :pend) until they
 * are in MariaDB: a read of it never shows ranks older than what was
 * accepted. The worker is stopped (SIGSTOP) with a=50 queued; four
 * rollovers by hand push season 1 below current-3; its read still says
 * a=50 rank 1. After SIGCONT and the drain, the next write unlinks season
 * 1's keys and the read, now from MariaDB, is the same.
 */
static void a_dropped_season_waits_for_its_queued_writes(void **st)
{
    it_fix_t *f = *st;
    char b[64], body[512], k[128], before[4096], after[4096];
    board_id(b, sizeof b, "drop");
    it_resp_t r;
    snprintf(body, sizeof body, "{\"board_id\":\"%s\",\"name\":\"Drop\",\"components\":1,\"operator\":\"set\"}", b);
    if (api(f, "POST", body, &r, "/v1/admin/boards%s", "") != 201)
        it_show("create", &r);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    one_score(f, b, "a", 5);
    one_score(f, b, "b", 7);
    wait_db(f, b, 2, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s' AND season=1", b);
    assert_int_equal(it_proc_signal(&f->workers[0], SIGSTOP), 0);
    one_score(f, b, "a", 50);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(api(f, "POST", NULL, &r, "/v1/admin/boards/%s/seasons", b), 201);
        it_resp_free(&r);
    }
    snprintf(k, sizeof k, "tk:lb:{%s}", b);
    assert_int_equal(hget_int(f->redis, k, "season"), 5);
    assert_int_equal(top_body(f, b, 1, before, sizeof before), 200);
    print_message("season 1 while its last write is queued: %s\n", before);
    if (strstr(before, "{\"rank\":1,\"user_id\":\"a\",\"score\":[50]") == NULL) {
        it_proc_signal(&f->workers[0], SIGCONT); /* the teardown stops it */
        fail_msg("season 1 read with a=50 queued: %s", before);
    }
    /* The queued write reaches MariaDB; the next write drops season 1's keys. */
    assert_int_equal(it_proc_signal(&f->workers[0], SIGCONT), 0);
    wait_db(f, b, 50, "SELECT c1 FROM board_scores WHERE board_id='%s' AND season=1 AND user_id='a'", b);
    wait_db(f, b, 5, "SELECT COUNT(*) FROM board_seasons WHERE board_id='%s'", b);
    long long deadline = it_now_ms() + WAIT_MS;
    while (xlen(f, b) > 0 && it_now_ms() < deadline)
        it_sleep_ms(20);
    assert_int_equal(xlen(f, b), 0);
    /* Drained: season 1's count is 0, so MariaDB answers it though its keys are still there (a row only MariaDB
       has, as tk-import writes an old season, shows it). */
    redisReply *y = redisCommand(f->redis, "EXISTS tk:lb:{%s}:z:1 tk:lb:{%s}:pend", b, b);
    assert_non_null(y);
    assert_int_equal(y->integer, 1);
    freeReplyObject(y);
    assert_int_equal(it_db_exec(f->db, "INSERT INTO board_scores (board_id, season, user_id, c1, c2, t_ms, seq) VALUES ('%s', 1, 'imp', 100, "
                                       "0, %lld, 0)",
                                b, (long long)T0),
                     0);
    assert_int_equal(top_body(f, b, 1, after, sizeof after), 200);
    const char *imp = "{\"season\":1,\"entries\":[{\"rank\":1,\"user_id\":\"imp\"";
    if (strncmp(after, imp, strlen(imp)) != 0)
        fail_msg("season 1, drained, not read from MariaDB: %s", after);
    assert_int_equal(it_db_exec(f->db, "DELETE FROM board_scores WHERE board_id='%s' AND user_id='imp'", b), 0);
    one_score(f, b, "c", 1);
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    redisReply *x = redisCommand(f->redis, "EXISTS %s tk:lb:{%s}:u:1", k, b);
    assert_non_null(x);
    assert_int_equal(x->integer, 0);
    freeReplyObject(x);
    assert_int_equal(top_body(f, b, 1, after, sizeof after), 200);
    assert_string_equal(after, before);

    /* A rebuild (the stream empty) removes pend and drop, and the keys of a season drop still lists: here a
       stale season 1 put back by hand, with a count left over. */
    cmd_ok(f->redis, "ZADD tk:lb:{%s}:z:1 -1 stale", b);
    cmd_ok(f->redis, "HSET tk:lb:{%s}:u:1 stale %s", b, "1 0 1 1");
    cmd_ok(f->redis, "RPUSH tk:lb:{%s}:drop 1", b);
    cmd_ok(f->redis, "HSET tk:lb:{%s}:pend 1 1", b);
    assert_int_equal(run_rebuild(b), 0);
    x = redisCommand(f->redis, "EXISTS tk:lb:{%s}:z:1 tk:lb:{%s}:u:1 tk:lb:{%s}:drop tk:lb:{%s}:pend", b, b, b, b);
    assert_non_null(x);
    assert_int_equal(x->integer, 0);
    freeReplyObject(x);
    assert_int_equal(top_body(f, b, 1, after, sizeof after), 200);
    assert_string_equal(after, before);
}

/*
 * The real routes (gateway/boards/, i14-lb-core): create, score writes and a
 * rollover by hand are drained into MariaDB (rows equal to Redis's users
 * hash, seasons with their ends); Redis loses everything; until the
 * gateway has rebuilt the board a read and a score write answer 503, never
 * 404; then
 * the ranks are the same and a new write lands above every stored seq.
 */
static void real_routes_drain_roll_and_rebuild(void **st)
{
    it_fix_t *f = *st;
    char b[64], body[8192], k[128];
    board_id(b, sizeof b, "real");
    it_resp_t r;
    snprintf(body, sizeof body, "{\"board_id\":\"%s\",\"name\":\"Real\",\"components\":2,\"operator\":\"best\"}", b);
    if (api(f, "POST", body, &r, "/v1/admin/boards%s", "") != 201)
        it_show("create", &r);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    for (int round = 0; round < 3; round++) {
        size_t n = (size_t)snprintf(body, sizeof body, "{\"scores\":[");
        for (int u = 0; u < 40; u++)
            n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"user_id\":\"w-%02d\",\"score\":[%d,%d]}", u ? "," : "", u,
                                  (u * 7) % 11 + round, u % 3);
        snprintf(body + n, sizeof body - n, "]}");
        if (api(f, "POST", body, &r, "/v1/admin/boards/%s/scores", b) != 200)
            it_show("scores", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(it_json_int(r.json, "accepted"), 40);
        it_resp_free(&r);
    }
    wait_db(f, b, 40, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s' AND season=1", b);
    /* Each row is what Redis holds: the users hash value "<c1> <c2> <t_ms> <seq>". */
    snprintf(k, sizeof k, "tk:lb:{%s}:u:1", b);
    redisReply *h = redisCommand(f->redis, "HGETALL %s", k);
    assert_non_null(h);
    assert_int_equal(h->elements, 80);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        tk_lb_entry_t e;
        assert_int_equal(tk_lb_entry_parse(h->element[i + 1]->str, h->element[i + 1]->len, &e), 0);
        assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s' AND season=1 AND user_id='%s' AND c1=%lld AND "
                                   "c2=%lld AND t_ms=%lld AND seq=%lld",
                                b, h->element[i]->str, (long long)e.c1, (long long)e.c2, (long long)e.t_ms, (long long)e.seq),
                         1);
    }
    freeReplyObject(h);
    assert_int_equal(api(f, "POST", NULL, &r, "/v1/admin/boards/%s/seasons", b), 201);
    it_resp_free(&r);
    snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"w-00\",\"score\":[5,5]},{\"user_id\":\"w-01\",\"score\":[6,6]}]}");
    assert_int_equal(api(f, "POST", body, &r, "/v1/admin/boards/%s/scores", b), 200);
    assert_int_equal(it_json_int(r.json, "season"), 2);
    it_resp_free(&r);
    wait_db(f, b, 2, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s' AND season=2", b);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_seasons WHERE board_id='%s'", b), 2);
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_seasons s1 JOIN board_seasons s2 ON s2.board_id = s1.board_id AND s2.season = 2 "
                               "WHERE s1.board_id='%s' AND s1.season = 1 AND s1.ended_ms = s2.started_ms AND s2.ended_ms IS NULL",
                            b),
                     1);
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    char *z1 = zdump(f->redis, k);
    snprintf(k, sizeof k, "tk:lb:{%s}:z:2", b);
    char *z2 = zdump(f->redis, k);
    snprintf(k, sizeof k, "tk:lb:{%s}", b);
    long long old_seq = hget_int(f->redis, k, "seq");

    assert_int_equal(it_redis_flushall(f->redis), 0);
    redisReply *kill = redisCommand(f->redis, "CLIENT KILL TYPE normal SKIPME yes");
    assert_non_null(kill);
    freeReplyObject(kill);
    snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"w-02\",\"score\":[99,1]}]}");
    long long deadline = it_now_ms() + WAIT_MS;
    long status = 0;
    while (it_now_ms() < deadline) {
        long read = 0;
        assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/boards/%s/top?limit=3", b), 0);
        read = r.status;
        if (read != 200 && read != 503)
            it_show("a read while the board is rebuilt", &r);
        it_resp_free(&r);
        if (read != 200)
            assert_int_equal(read, 503);
        status = api(f, "POST", body, &r, "/v1/admin/boards/%s/scores", b);
        if (status != 200 && status != 503)
            it_show("a score write while the board is rebuilt", &r);
        it_resp_free(&r);
        if (status == 200)
            break;
        assert_int_equal(status, 503);
        it_sleep_ms(20);
    }
    assert_int_equal(status, 200);
    /* The write went into the rebuilt board: season 2, the old ranks otherwise. */
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    char *a1 = zdump(f->redis, k);
    assert_string_equal(a1, z1);
    free(a1);
    snprintf(k, sizeof k, "tk:lb:{%s}", b);
    assert_int_equal(hget_int(f->redis, k, "season"), 2);
    long long seq = hget_int(f->redis, k, "seq");
    if (seq <= old_seq)
        fail_msg("seq %lld after the rebuild and a write, not above %lld", seq, old_seq);
    wait_db(f, b, seq, "SELECT seq FROM board_scores WHERE board_id='%s' AND season=2 AND user_id='w-02'", b);
    snprintf(k, sizeof k, "tk:lb:{%s}:z:2", b);
    char *a2 = zdump(f->redis, k);
    assert_true(strlen(a2) > strlen(z2)); /* z2 plus w-02 */
    free(a2);
    free(z1);
    free(z2);
    it_resp_t v;
    long vs;
    json_t *j = view(f, b, &vs, &v);
    assert_int_equal(vs, 200);
    assert_int_equal(it_json_int(j, "users"), 3);
    assert_true(json_is_true(json_object_get(j, "agree")));
    it_resp_free(&v);
}

/*
 * Only with IT_LB_BIG=N (e.g. 1000000): a board of N users in MariaDB (the
 * sequence engine's seq_1_to_N) rebuilt by tk-rebuild --board; prints the
 * time. Not in the default run: loading the rows alone takes seconds.
 */
static void a_big_board_rebuilds_in_seconds(void **st)
{
    const char *env = getenv("IT_LB_BIG");
    if (env == NULL || atol(env) <= 0)
        skip();
    long n = atol(env);
    it_fix_t *f = *st;
    char b[64], k[128];
    board_id(b, sizeof b, "big");
    board_create(f, b, 2, 0);
    long long t0 = it_now_ms();
    assert_int_equal(it_db_exec(f->db,
                                "INSERT INTO board_scores SELECT '%s', 1, CONCAT('u-', seq), seq %% 100003, CAST(seq %% 7 AS SIGNED) - 3, "
                                "%lld + seq %% 86400000, seq FROM seq_1_to_%ld",
                                b, (long long)T0, n),
                     0);
    print_message("%ld rows inserted in MariaDB in %lld ms\n", n, it_now_ms() - t0);
    cmd_ok(f->redis, "DEL tk:lb:{%s} tk:lb:{%s}:sn", b, b);
    t0 = it_now_ms();
    assert_int_equal(run_rebuild(b), 0);
    long long ms = it_now_ms() - t0;
    snprintf(k, sizeof k, "tk:lb:{%s}:z:1", b);
    redisReply *r = redisCommand(f->redis, "ZCARD %s", k);
    assert_non_null(r);
    assert_int_equal(r->integer, n);
    freeReplyObject(r);
    print_message("tk-rebuild --board: %ld users in %lld ms (this build)\n", n, ms);
    it_resp_t v;
    long vs;
    t0 = it_now_ms();
    json_t *j = view(f, b, &vs, &v);
    assert_int_equal(vs, 200);
    assert_int_equal(it_json_int(j, "users"), n);
    assert_int_equal(it_json_int(json_object_get(j, "database"), "users"), n);
    print_message("admin board view of %ld users: %lld ms (agree %s)\n", n, it_now_ms() - t0,
                  json_is_true(json_object_get(j, "agree")) ? "true" : "false");
    it_resp_free(&v);
}

/*
 * Only with IT_LB_DRAIN=N (e.g. 200000): N score entries of N / 2 users (two
 * each, so coalescing has work) waiting in the stream, then one worker
 * started: prints how long it takes to drain them. A figure for the
 * benchmark's backlog bar, not a check.
 */
static void drain_rate(void **st)
{
    const char *env = getenv("IT_LB_DRAIN");
    if (env == NULL || atol(env) <= 1)
        skip();
    long n = atol(env);
    it_fix_t *f = *st;
    char b[64], user[32];
    board_id(b, sizeof b, "rate");
    board_create(f, b, 2, 0);
    for (long i = 0; i < n; i++) {
        snprintf(user, sizeof user, "q-%ld", i % (n / 2));
        redisAppendCommand(f->redis, "XADD tk:lb:{%s}:q * k s s 1 u %s a %ld b %ld t %lld q %ld", b, user, i, i, (long long)(T0 + i), i + 1);
        if (i % 1000 == 999 || i == n - 1) {
            for (long j = i - i % 1000; j <= i; j++) {
                void *rep = NULL;
                assert_int_equal(redisGetReply(f->redis, &rep), REDIS_OK);
                freeReplyObject(rep);
            }
        }
    }
    long long t0 = it_now_ms();
    assert_int_equal(it_fix_add_worker(f, "wk-rate"), 0);
    wait_db(f, b, n / 2, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s'", b);
    long long ms = it_now_ms() - t0;
    assert_int_equal(db_int(f, "SELECT COUNT(*) FROM board_scores WHERE board_id='%s' AND seq > %ld", b, n / 2), n / 2);
    print_message("%ld entries (%ld users) drained by one worker in %lld ms: %.0f entries/s\n", n, n / 2, ms,
                  ms > 0 ? (double)n * 1000.0 / (double)ms : 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(writes_of_one_user_coalesce_into_one_row, setup0, teardown),
        cmocka_unit_test_setup_teardown(ten_thousand_users_go_in_statements_of_256, setup0, teardown),
        cmocka_unit_test_setup_teardown(a_replayed_older_entry_does_not_move_a_row_back, setup1, teardown),
        cmocka_unit_test_setup_teardown(two_workers_end_at_every_users_latest_value, setup2, teardown),
        cmocka_unit_test_setup_teardown(rollover_entries_make_season_rows, setup1, teardown),
        cmocka_unit_test_setup_teardown(a_malformed_entry_is_acked_and_the_drain_goes_on, setup1, teardown),
        cmocka_unit_test_setup_teardown(entries_mariadb_refuses_are_counted_and_the_rest_commits, setup0, teardown),
        cmocka_unit_test_setup_teardown(a_worker_killed_mid_drain_loses_nothing, setup0, teardown),
        cmocka_unit_test_setup_teardown(a_dead_workers_entries_are_taken_over, setup0, teardown),
        cmocka_unit_test_setup_teardown(gateway_rebuilds_a_board_redis_lost, setup1, teardown),
        cmocka_unit_test_setup_teardown(tk_rebuild_board_restores_it, setup1, teardown),
        cmocka_unit_test_setup_teardown(admin_view_counts_and_agrees, setup1, teardown),
        cmocka_unit_test_setup_teardown(admin_view_agree_unknown_above_the_checksum_limit, setup_sum2, teardown),
        cmocka_unit_test_setup_teardown(real_routes_drain_roll_and_rebuild, setup1, teardown),
        cmocka_unit_test_setup_teardown(a_dropped_season_waits_for_its_queued_writes, setup1, teardown),
        cmocka_unit_test_setup_teardown(a_big_board_rebuilds_in_seconds, setup0, teardown),
        cmocka_unit_test_setup_teardown(drain_rate, setup0, teardown),
    };
    if (getenv("IT_BOARDS_ONLY") != NULL)
        cmocka_set_test_filter(getenv("IT_BOARDS_ONLY"));
    return cmocka_run_group_tests_name("it_boards_durable", tests, it_group_setup, NULL);
}
