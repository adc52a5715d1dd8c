/*
 * it_boards_read: the public reads of a leaderboard (docs/API.md,
 * "Leaderboards: reads"), against real Redis and MariaDB, no worker.
 *
 * Most boards are set up by writing the contract's keys directly
 * (docs/CONTRACTS.md, "Leaderboards": the board hash, the season's zset with
 * score -c1 and member tk_lb_member(), the users hash) and MariaDB's rows
 * (boards, board_scores), so every answer can be checked to the byte:
 *
 *  - top_pages_in_rank_order: limit/offset pages with exact ranks; ties by
 *    time, then by sequence, then by user id; an offset past the end;
 *  - two_components_across_c2_sign: c1 first, then c2 highest first across
 *    zero and at both ends of the range;
 *  - user_entry_and_404: one user's entry; a user without one, an unknown
 *    board: 404 not_found; many reads of one user are not held to the
 *    per-user rate limit (that user is not the asker);
 *  - around_edges_and_radius: at the top and bottom, the default radius,
 *    the largest, and 400 outside 1-100; 404 for a user without an entry;
 *  - ranks_of_a_list: by rank, unknown users left out, duplicates once, a
 *    body of 1000 long ids (over 16 KiB) accepted, over 128 KiB 413, bad
 *    lists 400;
 *  - season_param: current, a number, 0 and above the current one (404),
 *    malformed (400);
 *  - virtual_rollover_writes_nothing: a season whose length passed reads
 *    as the next number, empty, and Redis is unchanged;
 *  - old_season_from_mariadb: a season older than current-3 comes from
 *    board_scores with the same ranks Redis gives the same rows;
 *  - old_season_two_components_by_count: a user's rank in an old season
 *    (MariaDB, counted over board_rank's prefix) is Redis's for the same
 *    rows, across c2's sign, its extremes, and ties by time, seq, user id;
 *  - old_season_offset_bound: a top offset above 100,000 of a season read
 *    from MariaDB is 400 bad_request (Redis's seasons keep 10,000,000);
 *  - bad_params_are_400: limit, offset, radius, duplicates, ids;
 *  - redis_down_is_503: Redis stopped → 503 with Retry-After;
 *  - mariadb_down_is_503_for_old_seasons: MariaDB stopped → 503 with
 *    Retry-After for a season older than current-3, the current one still
 *    answered from Redis;
 *  - reads_after_real_writes: through the write routes (create, scores, a
 *    rollover by hand): ties by arrival, an equal score changing nothing, a
 *    higher one moving up, ranks, and season 1 kept after the rollover;
 *  - virtual_current_is_the_next_writes: a scheduled board left idle for
 *    two periods reads as the season the next write then goes to;
 *  - reads_in_flight_bounded: one loop thread (GW_THREADS=1),
 *    BOARD_READS_MAX=8, Redis stopped with SIGSTOP: of 12 reads on one
 *    HTTP/2 connection exactly 4 are answered 503 at once, a 13th over
 *    HTTP/1.1 too, with Retry-After; after SIGCONT the 8 held are 200, and
 *    tk_shed_total{reason="board_reads"} is 5;
 *  - old_season_reads_on_mariadb_bounded: the same gateway with
 *    BOARD_DB_READS_MAX=2, board_scores locked (LOCK TABLES … WRITE): of 5
 *    reads of an old season exactly 3 are answered 503 at once, a 6th over
 *    HTTP/1.1 too with Retry-After, while a current-season read is still
 *    200; unlocked, the 2 held are 200, tk_shed_total{reason="board_db_reads"}
 *    is 4;
 *  - batched_reads_match_single: 672 user and around reads (two boards,
 *    seasons current, 5, 2 from MariaDB, 4 empty, 0, 7, users with and
 *    without entries, an unknown board, tops in between) in flight at once
 *    on one HTTP/2 connection of one loop thread, so several to one
 *    lb_read.lua call: each status and body equals the same read's alone
 *    over HTTP/1.1, and Redis ran fewer than a third as many script calls.
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
#include "lib/it_h2.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_time.h"

#define SVC_MS 60000
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00.000Z */
#define M TK_LB_SCORE_MAX

/* ------------------------------------------------------------- set-up by hand, as the write scripts would */

static void redis_ok(redisContext *rc, redisReply *x, const char *what)
{
    if (x == NULL || x->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "%s: %s\n", what, x != NULL ? x->str : rc->errstr);
    assert_true(x != NULL && x->type != REDIS_REPLY_ERROR);
    freeReplyObject(x);
}

/* A board @b of @comps components, current season @season begun at @start_ms, @len_s seconds long (0: by hand). */
static void board_put(const it_fix_t *f, const char *b, int comps, long long len_s, long long season, long long start_ms)
{
    char key[TK_KEY_MAX];
    tk_lb_key(TK_LB_BOARD, b, strlen(b), 0, key);
    redisReply *x = redisCommand(f->redis, "HSET %s name %s comps %d op best len %lld season %lld start %lld last_t %lld seq 100 created %lld",
                                 key, b, comps, len_s, season, start_ms, start_ms, start_ms);
    redis_ok(f->redis, x, "HSET board");
    assert_int_equal(it_db_exec(f->db,
                                "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES ('%s', '%s', %d, 'best', %lld, NOW(3))",
                                b, b, comps, len_s),
                     0);
}

/* The entry of @user in season @season of board @b in Redis. */
static void score_put(const it_fix_t *f, const char *b, int comps, long long season, const char *user, long long c1, long long c2,
                      long long t_ms, long long seq)
{
    tk_lb_entry_t e = {.c1 = c1, .c2 = c2, .t_ms = t_ms, .seq = seq};
    char z[TK_KEY_MAX], u[TK_KEY_MAX], m[TK_LB_MEMBER_MAX], v[TK_LB_ENTRY_MAX], score[32];
    tk_lb_key(TK_LB_RANK, b, strlen(b), (unsigned)season, z);
    tk_lb_key(TK_LB_USERS, b, strlen(b), (unsigned)season, u);
    int n = tk_lb_member(&e, comps, user, strlen(user), m);
    assert_true(n > 0);
    tk_lb_entry_format(&e, v);
    snprintf(score, sizeof score, "%lld", -c1);
    redis_ok(f->redis, redisCommand(f->redis, "ZADD %s %s %b", z, score, m, (size_t)n), "ZADD");
    redis_ok(f->redis, redisCommand(f->redis, "HSET %s %s %s", u, user, v), "HSET users");
}

/* The same entry as a board_scores row (what the workers write). */
static void row_put(const it_fix_t *f, const char *b, long long season, const char *user, long long c1, long long c2, long long t_ms,
                    long long seq)
{
    assert_int_equal(it_db_exec(f->db,
                                "INSERT INTO board_scores (board_id, season, user_id, c1, c2, t_ms, seq) VALUES ('%s', %lld, '%s', %lld, %lld, %lld, %lld)",
                                b, season, user, c1, c2, t_ms, seq),
                     0);
}

/* The JSON of one entry as the gateway writes it, appended to @out. */
static void entry(char *out, size_t cap, long long rank, const char *user, int comps, long long c1, long long c2, long long t_ms)
{
    char at[TK_TIME_RFC3339_LEN + 1], score[64];
    size_t n = strlen(out);
    tk_time_format_rfc3339(t_ms, at);
    if (comps == 2)
        snprintf(score, sizeof score, "[%lld,%lld]", c1, c2);
    else
        snprintf(score, sizeof score, "[%lld]", c1);
    snprintf(out + n, cap - n, "%s{\"rank\":%lld,\"user_id\":\"%s\",\"score\":%s,\"updated_at\":\"%s\"}",
             n > 0 && out[n - 1] == '}' ? "," : "", rank, user, score, at);
}

/* GET or POST @path (and @body); asserts the status and, when @want_body is not NULL, the body to the byte. */
static void expect(const it_fix_t *f, const char *method, const char *path, const char *body, long status, const char *want_body)
{
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, method, path, body), 0);
    if (r.status != status || (want_body != NULL && (r.body == NULL || strcmp(r.body, want_body) != 0))) {
        fprintf(stderr, "%s %s\n  want %ld %s\n", method, path, status, want_body ? want_body : "");
        it_show("  got", &r);
    }
    assert_int_equal(r.status, status);
    if (want_body != NULL)
        assert_string_equal(r.body, want_body);
    it_resp_free(&r);
}

/* expect() of a {"season":@season,"entries":[@entries]} answer. */
static void expect_list(const it_fix_t *f, const char *method, const char *path, const char *body, long long season, const char *entries)
{
    char want[16384];
    snprintf(want, sizeof want, "{\"season\":%lld,\"entries\":[%s]}", season, entries);
    expect(f, method, path, body, 200, want);
}

/* expect() of an error answer with @code. */
static void expect_error(const it_fix_t *f, const char *method, const char *path, const char *body, long status, const char *code)
{
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, method, path, body), 0);
    const json_t *err = r.json != NULL ? json_object_get(r.json, "error") : NULL;
    const char *got = err != NULL ? it_json_str(err, "code") : NULL;
    if (r.status != status || got == NULL || strcmp(got, code) != 0) {
        fprintf(stderr, "%s %s: want %ld %s\n", method, path, status, code);
        it_show("  got", &r);
    }
    assert_int_equal(r.status, status);
    assert_non_null(got);
    assert_string_equal(got, code);
    it_resp_free(&r);
}

/* A gateway, no worker; Redis and every table (the boards' too, it_db_clean) wiped. */
static int setup(void **st)
{
    return it_fix_new0(st);
}

/* ------------------------------------------------------------- tests */

/* Season 1 of a one-component board: b 70; c, d 50 at one ms (seq 3, 4); a 50 later; e and f -5 at one ms and seq (user id). */
static void put_six(const it_fix_t *f, const char *b, long long season)
{
    score_put(f, b, 1, season, "a", 50, 0, T0 + 1000, 1);
    score_put(f, b, 1, season, "b", 70, 0, T0 + 2000, 2);
    score_put(f, b, 1, season, "c", 50, 0, T0 + 900, 3);
    score_put(f, b, 1, season, "d", 50, 0, T0 + 900, 4);
    score_put(f, b, 1, season, "f", -5, 0, T0 + 5, 0);
    score_put(f, b, 1, season, "e", -5, 0, T0 + 5, 0);
}

static void six_entries(char *out, size_t cap, int from, int to)
{
    static const struct {
        const char *u;
        long long c1, t;
    } order[] = {{"b", 70, T0 + 2000}, {"c", 50, T0 + 900}, {"d", 50, T0 + 900}, {"a", 50, T0 + 1000}, {"e", -5, T0 + 5}, {"f", -5, T0 + 5}};
    out[0] = '\0';
    for (int i = from; i <= to; i++)
        entry(out, cap, i + 1, order[i].u, 1, order[i].c1, 0, order[i].t);
}

static void top_pages_in_rank_order(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-top", 1, 0, 1, T0);
    put_six(f, "lb-top", 1);
    char want[4096];
    six_entries(want, sizeof want, 0, 5);
    expect_list(f, "GET", "/v1/boards/lb-top/top", NULL, 1, want);
    six_entries(want, sizeof want, 1, 2);
    expect_list(f, "GET", "/v1/boards/lb-top/top?limit=2&offset=1", NULL, 1, want);
    six_entries(want, sizeof want, 4, 5);
    expect_list(f, "GET", "/v1/boards/lb-top/top?offset=4&limit=1000", NULL, 1, want);
    six_entries(want, sizeof want, 0, 0);
    expect_list(f, "GET", "/v1/boards/lb-top/top?limit=1", NULL, 1, want);
    expect_list(f, "GET", "/v1/boards/lb-top/top?offset=6", NULL, 1, "");
    expect_list(f, "GET", "/v1/boards/lb-top/top?offset=10000000", NULL, 1, "");
    /* An unknown parameter is ignored (a cache buster). */
    six_entries(want, sizeof want, 0, 0);
    expect_list(f, "GET", "/v1/boards/lb-top/top?limit=1&_=123", NULL, 1, want);
    expect_error(f, "GET", "/v1/boards/lb-none/top", NULL, 404, "not_found");
}

static void two_components_across_c2_sign(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-two", 2, 0, 1, T0);
    /* Written in an order unlike the rank order, the later ones earlier in time. */
    score_put(f, "lb-two", 2, 1, "neg3", 10, -3, T0 + 50, 1);
    score_put(f, "lb-two", 2, 1, "min", 10, -M, T0 + 10, 2);
    score_put(f, "lb-two", 2, 1, "zero", 10, 0, T0 + 40, 3);
    score_put(f, "lb-two", 2, 1, "max", 10, M, T0 + 60, 4);
    score_put(f, "lb-two", 2, 1, "pos5", 10, 5, T0 + 30, 5);
    score_put(f, "lb-two", 2, 1, "c1top", 11, -100, T0 + 70, 6);
    score_put(f, "lb-two", 2, 1, "c1low", -M, M, T0 + 1, 7);
    char want[4096] = "";
    entry(want, sizeof want, 1, "c1top", 2, 11, -100, T0 + 70);
    entry(want, sizeof want, 2, "max", 2, 10, M, T0 + 60);
    entry(want, sizeof want, 3, "pos5", 2, 10, 5, T0 + 30);
    entry(want, sizeof want, 4, "zero", 2, 10, 0, T0 + 40);
    entry(want, sizeof want, 5, "neg3", 2, 10, -3, T0 + 50);
    entry(want, sizeof want, 6, "min", 2, 10, -M, T0 + 10);
    entry(want, sizeof want, 7, "c1low", 2, -M, M, T0 + 1);
    expect_list(f, "GET", "/v1/boards/lb-two/top", NULL, 1, want);
    /* The same ranks through the users hash (ZRANK of the rebuilt member). */
    want[0] = '\0';
    entry(want, sizeof want, 4, "zero", 2, 10, 0, T0 + 40);
    entry(want, sizeof want, 6, "min", 2, 10, -M, T0 + 10);
    entry(want, sizeof want, 7, "c1low", 2, -M, M, T0 + 1);
    expect_list(f, "POST", "/v1/boards/lb-two/ranks", "{\"user_ids\":[\"c1low\",\"min\",\"zero\"]}", 1, want);
}

static void user_entry_and_404(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-user", 1, 0, 1, T0);
    put_six(f, "lb-user", 1);
    char want[1024] = "", body[1100];
    entry(want, sizeof want, 4, "a", 1, 50, 0, T0 + 1000);
    snprintf(body, sizeof body, "{\"season\":1,%s", want + 1); /* the entry's fields after "season" */
    expect(f, "GET", "/v1/boards/lb-user/users/a", NULL, 200, body);
    want[0] = '\0';
    entry(want, sizeof want, 6, "f", 1, -5, 0, T0 + 5);
    snprintf(body, sizeof body, "{\"season\":1,%s", want + 1);
    expect(f, "GET", "/v1/boards/lb-user/users/f?season=current", NULL, 200, body);
    expect_error(f, "GET", "/v1/boards/lb-user/users/nobody", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-none/users/a", NULL, 404, "not_found");
    /* No token is asked for, and the path user may be anyone (not a user route). */
    expect_error(f, "GET", "/v1/boards/lb-user/users/bad%20id", NULL, 400, "bad_request");
    /* Nor is the per-user limit (20/s, burst 40; claims only, gw_ratelimit_user) keyed on the user looked up: 80 reads pass. */
    snprintf(body, sizeof body, "{\"season\":1,%s", want + 1);
    for (int i = 0; i < 80; i++)
        expect(f, "GET", "/v1/boards/lb-user/users/f", NULL, 200, body);
}

static void around_edges_and_radius(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-around", 1, 0, 1, T0);
    char u[16], want[8192];
    for (int i = 0; i < 12; i++) {
        snprintf(u, sizeof u, "u%02d", i);
        score_put(f, "lb-around", 1, 1, u, 100 - i, 0, T0 + i, (long long)i + 1);
    }
#define RANGE(from, to)                                                                                                                    \
    do {                                                                                                                               \
        want[0] = '\0';                                                                                                                \
        for (int i = (from); i <= (to); i++) {                                                                                         \
            snprintf(u, sizeof u, "u%02d", i);                                                                                         \
            entry(want, sizeof want, i + 1, u, 1, 100 - i, 0, T0 + i);                                                                 \
        }                                                                                                                              \
    } while (0)
    RANGE(0, 2);
    expect_list(f, "GET", "/v1/boards/lb-around/users/u00/around?radius=2", NULL, 1, want);
    RANGE(8, 11);
    expect_list(f, "GET", "/v1/boards/lb-around/users/u11/around?radius=3", NULL, 1, want);
    RANGE(1, 11); /* the default radius, 5 */
    expect_list(f, "GET", "/v1/boards/lb-around/users/u06/around", NULL, 1, want);
    RANGE(4, 6);
    expect_list(f, "GET", "/v1/boards/lb-around/users/u05/around?radius=1", NULL, 1, want);
    RANGE(0, 11);
    expect_list(f, "GET", "/v1/boards/lb-around/users/u05/around?radius=100", NULL, 1, want);
#undef RANGE
    expect_error(f, "GET", "/v1/boards/lb-around/users/u05/around?radius=101", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-around/users/u05/around?radius=0", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-around/users/nobody/around", NULL, 404, "not_found");
}

static void ranks_of_a_list(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-ranks", 1, 0, 1, T0);
    put_six(f, "lb-ranks", 1);
    char want[4096] = "";
    entry(want, sizeof want, 2, "c", 1, 50, 0, T0 + 900);
    entry(want, sizeof want, 4, "a", 1, 50, 0, T0 + 1000);
    entry(want, sizeof want, 6, "f", 1, -5, 0, T0 + 5);
    expect_list(f, "POST", "/v1/boards/lb-ranks/ranks", "{\"user_ids\":[\"f\",\"ghost\",\"a\",\"c\",\"f\",\"a\"],\"x\":1}", 1, want);
    expect_list(f, "POST", "/v1/boards/lb-ranks/ranks", "{\"user_ids\":[\"ghost\"]}", 1, "");

    /* 1000 ids of 64 bytes: about 67 KB, over the usual 16 KiB, within the route's 128 KiB. */
    size_t cap = 140 * 1024;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "{\"user_ids\":[\"e\"");
    for (int i = 1; i < 1000; i++)
        n += (size_t)snprintf(big + n, cap - n, ",\"%060d%04d\"", 0, i);
    snprintf(big + n, cap - n, "]}");
    assert_true(strlen(big) > 16384);
    want[0] = '\0';
    entry(want, sizeof want, 5, "e", 1, -5, 0, T0 + 5);
    expect_list(f, "POST", "/v1/boards/lb-ranks/ranks", big, 1, want);
    {
        /* The same over HTTP/2 (one 67 KB body within H2_CONN_BODY_MAX). */
        it_resp_t r;
        char full[4200];
        snprintf(full, sizeof full, "{\"season\":1,\"entries\":[%s]}", want);
        assert_int_equal(it_api(&r, f, IT_HTTP2, IT_NO_AUTH, "POST", "/v1/boards/lb-ranks/ranks", big), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, full);
        it_resp_free(&r);
    }
    /* 1001 ids: 400. */
    snprintf(big + n, cap - n, ",\"x\"]}");
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", big, 400, "bad_request");
    /* Over 128 KiB: 413 from the router, as JSON. */
    memset(big, ' ', 130 * 1024);
    memcpy(big + 130 * 1024, "{}", 3);
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", big, 413, "too_large");
    free(big);

    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", "{\"user_ids\":[]}", 400, "bad_request");
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", "{\"user_ids\":[\"a\",\"b c\"]}", 400, "bad_request");
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", "{\"user_ids\":[\"a\",7]}", 400, "bad_request");
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", "{\"user_ids\":\"a\"}", 400, "bad_request");
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", "[\"a\"]", 400, "bad_request");
    expect_error(f, "POST", "/v1/boards/lb-ranks/ranks", "", 400, "bad_request");
    expect_error(f, "POST", "/v1/boards/lb-none/ranks", "{\"user_ids\":[\"a\"]}", 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-ranks/ranks", NULL, 405, "method_not_allowed");
}

static void season_param(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-season", 1, 0, 3, T0);
    score_put(f, "lb-season", 1, 3, "now", 5, 0, T0 + 10, 9);
    score_put(f, "lb-season", 1, 2, "then", 7, 0, T0 - 10, 3);
    char now[512] = "", then[512] = "";
    entry(now, sizeof now, 1, "now", 1, 5, 0, T0 + 10);
    entry(then, sizeof then, 1, "then", 1, 7, 0, T0 - 10);
    expect_list(f, "GET", "/v1/boards/lb-season/top", NULL, 3, now);
    expect_list(f, "GET", "/v1/boards/lb-season/top?season=current", NULL, 3, now);
    expect_list(f, "GET", "/v1/boards/lb-season/top?season=3", NULL, 3, now);
    expect_list(f, "GET", "/v1/boards/lb-season/top?season=2", NULL, 2, then);
    expect_list(f, "GET", "/v1/boards/lb-season/top?season=1", NULL, 1, ""); /* in Redis's window, never written */
    expect_list(f, "POST", "/v1/boards/lb-season/ranks?season=2", "{\"user_ids\":[\"now\",\"then\"]}", 2, then);
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=0", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=4", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-season/users/now?season=4", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-season/users/now?season=2", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=9999999999", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=99999999999", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=-1", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=latest", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-season/top?season=2&season=3", NULL, 400, "bad_request");
}

static void virtual_rollover_writes_nothing(void **st)
{
    it_fix_t *f = *st;
    long long start = tk_time_now_ms() - 130 * 1000; /* 60 s seasons: two have ended since */
    board_put(f, "lb-roll", 1, 60, 1, start);
    score_put(f, "lb-roll", 1, 1, "old", 9, 0, start + 5, 1);
    char one[512] = "";
    entry(one, sizeof one, 1, "old", 1, 9, 0, start + 5);
    expect_list(f, "GET", "/v1/boards/lb-roll/top", NULL, 3, "");
    expect_list(f, "GET", "/v1/boards/lb-roll/top?season=3", NULL, 3, "");
    expect_list(f, "GET", "/v1/boards/lb-roll/top?season=2", NULL, 2, ""); /* skipped by the schedule */
    expect_list(f, "GET", "/v1/boards/lb-roll/top?season=1", NULL, 1, one);
    expect_error(f, "GET", "/v1/boards/lb-roll/top?season=4", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-roll/users/old", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-roll/users/old/around", NULL, 404, "not_found");
    expect_list(f, "POST", "/v1/boards/lb-roll/ranks", "{\"user_ids\":[\"old\"]}", 3, "");
    expect_list(f, "POST", "/v1/boards/lb-roll/ranks?season=1", "{\"user_ids\":[\"old\"]}", 1, one);
    /* Nothing was written: the board still says season 1, and no key of another season exists. */
    redisReply *x = redisCommand(f->redis, "HGET tk:lb:{lb-roll} season");
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_STRING);
    assert_string_equal(x->str, "1");
    freeReplyObject(x);
    x = redisCommand(f->redis, "KEYS tk:lb:{lb-roll}*");
    assert_non_null(x);
    assert_int_equal(x->elements, 3); /* the hash, z:1, u:1 */
    freeReplyObject(x);
}

/* The six entries as rows of season @season, and in Redis's season @rseason: both must answer alike. */
static void old_season_from_mariadb(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-old", 1, 0, 6, T0); /* current 6: Redis keeps 3..6; 1 and 2 are MariaDB's */
    put_six(f, "lb-old", 6);
    row_put(f, "lb-old", 2, "a", 50, 0, T0 + 1000, 1);
    row_put(f, "lb-old", 2, "b", 70, 0, T0 + 2000, 2);
    row_put(f, "lb-old", 2, "c", 50, 0, T0 + 900, 3);
    row_put(f, "lb-old", 2, "d", 50, 0, T0 + 900, 4);
    row_put(f, "lb-old", 2, "f", -5, 0, T0 + 5, 0);
    row_put(f, "lb-old", 2, "e", -5, 0, T0 + 5, 0);
    row_put(f, "lb-old", 1, "solo", 1, 0, T0, 0);
    /* A row of season 3 that Redis does not hold: season 3 is read from Redis, so it is not seen. */
    row_put(f, "lb-old", 3, "ghost", 1, 0, T0, 0);

    char want[4096];
    six_entries(want, sizeof want, 0, 5);
    expect_list(f, "GET", "/v1/boards/lb-old/top", NULL, 6, want);
    expect_list(f, "GET", "/v1/boards/lb-old/top?season=2", NULL, 2, want);
    six_entries(want, sizeof want, 1, 3);
    expect_list(f, "GET", "/v1/boards/lb-old/top?season=2&limit=3&offset=1", NULL, 2, want);
    expect_list(f, "GET", "/v1/boards/lb-old/top?season=6&limit=3&offset=1", NULL, 6, want);
    expect_list(f, "GET", "/v1/boards/lb-old/top?season=2&offset=6", NULL, 2, "");
    expect_list(f, "GET", "/v1/boards/lb-old/top?season=3", NULL, 3, "");
    want[0] = '\0';
    entry(want, sizeof want, 1, "solo", 1, 1, 0, T0);
    expect_list(f, "GET", "/v1/boards/lb-old/top?season=1", NULL, 1, want);

    /* One user, around and ranks: MariaDB's season 2 against Redis's season 6. */
    char one[512] = "", body[600];
    entry(one, sizeof one, 3, "d", 1, 50, 0, T0 + 900);
    snprintf(body, sizeof body, "{\"season\":2,%s", one + 1);
    expect(f, "GET", "/v1/boards/lb-old/users/d?season=2", NULL, 200, body);
    snprintf(body, sizeof body, "{\"season\":6,%s", one + 1);
    expect(f, "GET", "/v1/boards/lb-old/users/d", NULL, 200, body);
    expect_error(f, "GET", "/v1/boards/lb-old/users/ghost?season=2", NULL, 404, "not_found");
    six_entries(want, sizeof want, 2, 5);
    expect_list(f, "GET", "/v1/boards/lb-old/users/f/around?season=2&radius=3", NULL, 2, want);
    expect_list(f, "GET", "/v1/boards/lb-old/users/f/around?season=6&radius=3", NULL, 6, want);
    six_entries(want, sizeof want, 0, 2);
    expect_list(f, "GET", "/v1/boards/lb-old/users/b/around?season=2&radius=2", NULL, 2, want);
    expect_error(f, "GET", "/v1/boards/lb-old/users/ghost/around?season=2", NULL, 404, "not_found");
    want[0] = '\0';
    entry(want, sizeof want, 2, "c", 1, 50, 0, T0 + 900);
    entry(want, sizeof want, 6, "f", 1, -5, 0, T0 + 5);
    expect_list(f, "POST", "/v1/boards/lb-old/ranks?season=2", "{\"user_ids\":[\"f\",\"ghost\",\"c\",\"f\"]}", 2, want);
    expect_list(f, "POST", "/v1/boards/lb-old/ranks?season=6", "{\"user_ids\":[\"f\",\"ghost\",\"c\",\"f\"]}", 6, want);
}

/* Every step of the order (c1, c2 across its sign and extremes, time, seq, user id) in MariaDB's season 2 and Redis's season 6. */
static void old_season_two_components_by_count(void **st)
{
    it_fix_t *f = *st;
    static const struct {
        const char *user;
        long long c1, c2, t_ms, seq;
    } rows[] = {
        /* in rank order */
        {"c1top", 11, -100, T0 + 70, 9}, {"max", 10, M, T0 + 60, 4},   {"pos5", 10, 5, T0 + 30, 5},  {"tie-a", 10, 0, T0 + 20, 2},
        {"tie-c", 10, 0, T0 + 20, 3},    {"tie-b", 10, 0, T0 + 20, 3}, {"zero", 10, 0, T0 + 40, 1},  {"neg3", 10, -3, T0 + 50, 8},
        {"min", 10, -M, T0 + 10, 6},     {"c1low", -M, M, T0 + 1, 7},
    };
    enum { N = sizeof rows / sizeof rows[0] };
    board_put(f, "lb-two-old", 2, 0, 6, T0);
    for (int i = N - 1; i >= 0; i--) { /* written against the rank order */
        score_put(f, "lb-two-old", 2, 6, rows[i].user, rows[i].c1, rows[i].c2, rows[i].t_ms, rows[i].seq);
        row_put(f, "lb-two-old", 2, rows[i].user, rows[i].c1, rows[i].c2, rows[i].t_ms, rows[i].seq);
    }
    /* tie-b and tie-c: same time and seq, so by user id: tie-b before tie-c. */
    static const int order[N] = {0, 1, 2, 3, 5, 4, 6, 7, 8, 9};
    for (int k = 0; k < N; k++) {
        int i = order[k];
        char one[512] = "", body[600], path[128];
        entry(one, sizeof one, k + 1, rows[i].user, 2, rows[i].c1, rows[i].c2, rows[i].t_ms);
        for (int season = 2; season <= 6; season += 4) {
            snprintf(body, sizeof body, "{\"season\":%d,%s", season, one + 1);
            snprintf(path, sizeof path, "/v1/boards/lb-two-old/users/%s?season=%d", rows[i].user, season);
            expect(f, "GET", path, NULL, 200, body);
        }
    }
    char want[4096] = "";
    for (int k = 3; k <= 7; k++) {
        int i = order[k];
        entry(want, sizeof want, k + 1, rows[i].user, 2, rows[i].c1, rows[i].c2, rows[i].t_ms);
    }
    expect_list(f, "GET", "/v1/boards/lb-two-old/users/tie-c/around?season=2&radius=2", NULL, 2, want);
    expect_list(f, "GET", "/v1/boards/lb-two-old/users/tie-c/around?season=6&radius=2", NULL, 6, want);
}

/* Old seasons are MariaDB's: OFFSET reads and drops that many rows there, so their offsets stop at 100,000. */
static void old_season_offset_bound(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-off", 1, 0, 6, T0); /* current 6: season 2 is MariaDB's */
    row_put(f, "lb-off", 2, "a", 50, 0, T0 + 1000, 1);
    expect_list(f, "GET", "/v1/boards/lb-off/top?season=2&offset=100000", NULL, 2, "");
    expect_error(f, "GET", "/v1/boards/lb-off/top?season=2&offset=100001", NULL, 400, "bad_request");
    expect_error(f, "GET", "/v1/boards/lb-off/top?season=1&offset=10000000", NULL, 400, "bad_request");
    /* Redis's seasons keep the larger bound. */
    expect_list(f, "GET", "/v1/boards/lb-off/top?season=6&offset=10000000", NULL, 6, "");
    expect_list(f, "GET", "/v1/boards/lb-off/top?season=3&offset=100001", NULL, 3, "");
}

static void bad_params_are_400(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-bad", 1, 0, 1, T0);
    static const char *const bad[] = {
        "/v1/boards/lb-bad/top?limit=0",        "/v1/boards/lb-bad/top?limit=1001",   "/v1/boards/lb-bad/top?limit=abc",
        "/v1/boards/lb-bad/top?limit=",         "/v1/boards/lb-bad/top?offset=-1",    "/v1/boards/lb-bad/top?offset=10000001",
        "/v1/boards/lb-bad/top?offset=1e3",     "/v1/boards/lb-bad/top?limit=5&limit=6", "/v1/boards/lb-bad/top?season=%31",
        "/v1/boards/LB-BAD/top",                "/v1/boards/lb-bad/users/a/around?radius=x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(f, "GET", bad[i], NULL, 400, "bad_request");
    /* limit and offset mean nothing to a user's entry: ignored there, as unknown names are. */
    expect_error(f, "GET", "/v1/boards/lb-bad/users/a?limit=0", NULL, 404, "not_found");
    expect_list(f, "GET", "/v1/boards/lb-bad/top?limit=1000&offset=0", NULL, 1, "");
}

static void redis_down_is_503(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-down", 1, 0, 1, T0);
    score_put(f, "lb-down", 1, 1, "a", 1, 0, T0, 1);
    expect(f, "GET", "/v1/boards/lb-down/users/a", NULL, 200, NULL);
    assert_int_equal(it_services("stop-redis", SVC_MS), 0);
    static const char *const paths[] = {"/v1/boards/lb-down/top", "/v1/boards/lb-down/users/a", "/v1/boards/lb-down/users/a/around"};
    for (size_t i = 0; i < 3; i++) {
        it_resp_t r;
        assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", paths[i], NULL), 0);
        assert_int_equal(r.status, 503);
        assert_string_equal(it_json_str(json_object_get(r.json, "error"), "code"), "unavailable");
        assert_string_equal(r.retry_after, "1");
        it_resp_free(&r);
    }
    expect_error(f, "POST", "/v1/boards/lb-down/ranks", "{\"user_ids\":[\"a\"]}", 503, "unavailable");
}

/* An old season while MariaDB is away: 503 with Retry-After; the seasons Redis holds are still answered. */
static void mariadb_down_is_503_for_old_seasons(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-dbdown", 1, 0, 5, T0);
    score_put(f, "lb-dbdown", 1, 5, "a", 3, 0, T0, 1);
    row_put(f, "lb-dbdown", 1, "a", 2, 0, T0, 1);
    char now[512] = "", old[512] = "";
    entry(now, sizeof now, 1, "a", 1, 3, 0, T0);
    entry(old, sizeof old, 1, "a", 1, 2, 0, T0);
    expect_list(f, "GET", "/v1/boards/lb-dbdown/top?season=1", NULL, 1, old);
    assert_int_equal(it_services("stop-db", SVC_MS), 0);
    static const char *const paths[] = {"/v1/boards/lb-dbdown/top?season=1", "/v1/boards/lb-dbdown/users/a?season=1",
                                        "/v1/boards/lb-dbdown/users/a/around?season=1"};
    for (size_t i = 0; i < 3; i++) {
        it_resp_t r;
        assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", paths[i], NULL), 0);
        if (r.status != 503)
            it_show(paths[i], &r);
        assert_int_equal(r.status, 503);
        assert_string_equal(it_json_str(json_object_get(r.json, "error"), "code"), "unavailable");
        assert_string_equal(r.retry_after, "1");
        it_resp_free(&r);
    }
    expect_error(f, "POST", "/v1/boards/lb-dbdown/ranks?season=1", "{\"user_ids\":[\"a\"]}", 503, "unavailable");
    expect_list(f, "GET", "/v1/boards/lb-dbdown/top", NULL, 5, now);
}

/* The entries of @r's "entries" as "rank:user:c1,c2;" (updated_at left out: the write's time is Redis's), into @out. */
static void entries_text(const it_resp_t *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    const json_t *list = r->json != NULL ? json_object_get(r->json, "entries") : NULL;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i), *sc = json_object_get(e, "score");
        n += (size_t)snprintf(out + n, cap - n, "%lld:%s:%lld,%lld;", it_json_int(e, "rank"), it_json_str(e, "user_id"),
                              (long long)json_integer_value(json_array_get(sc, 0)), (long long)json_integer_value(json_array_get(sc, 1)));
    }
}

/* GET @path: 200 with "season" @season and the entries @want (entries_text). */
static void expect_entries(const it_fix_t *f, const char *path, long long season, const char *want)
{
    it_resp_t r;
    char got[2048];
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", path, NULL), 0);
    entries_text(&r, got, sizeof got);
    if (r.status != 200 || strcmp(got, want) != 0)
        it_show(path, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "season"), season);
    assert_string_equal(got, want);
    it_resp_free(&r);
}

/* Through the real write routes (i14-lb-core): create, score writes, a rollover by hand; the reads follow. */
static void reads_after_real_writes(void **st)
{
    it_fix_t *f = *st;
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards",
                            "{\"board_id\":\"lb-real\",\"components\":2,\"operator\":\"best\"}"), 0);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    expect_entries(f, "/v1/boards/lb-real/top", 1, "");
    /* u-1 and u-2 reach one score in one request: u-1 first (arrival); u-3 higher; u-4's c2 is negative. */
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards/lb-real/scores",
                            "{\"scores\":[{\"user_id\":\"u-1\",\"score\":[12,3400]},{\"user_id\":\"u-2\",\"score\":[12,3400]},"
                            "{\"user_id\":\"u-3\",\"score\":[13,0]},{\"user_id\":\"u-4\",\"score\":[12,-1]}]}"), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    expect_entries(f, "/v1/boards/lb-real/top", 1, "1:u-3:13,0;2:u-1:12,3400;3:u-2:12,3400;4:u-4:12,-1;");
    expect_entries(f, "/v1/boards/lb-real/users/u-2/around?radius=1", 1, "2:u-1:12,3400;3:u-2:12,3400;4:u-4:12,-1;");
    /* A later equal score changes nothing: u-2 stays behind u-1; a higher one moves u-4 up. */
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards/lb-real/scores",
                            "{\"scores\":[{\"user_id\":\"u-1\",\"score\":[12,3400]},{\"user_id\":\"u-4\",\"score\":[14,0]}]}"), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    expect_entries(f, "/v1/boards/lb-real/top?limit=3", 1, "1:u-4:14,0;2:u-3:13,0;3:u-1:12,3400;");
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "POST", "/v1/boards/lb-real/ranks", "{\"user_ids\":[\"u-2\",\"u-4\",\"u-9\"]}"),
                     0);
    char got[2048];
    entries_text(&r, got, sizeof got);
    assert_int_equal(r.status, 200);
    assert_string_equal(got, "1:u-4:14,0;4:u-2:12,3400;");
    it_resp_free(&r);
    /* A rollover by hand: season 2 is current and empty; season 1 keeps its final ranks. */
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards/lb-real/seasons", NULL), 0);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    expect_entries(f, "/v1/boards/lb-real/top", 2, "");
    expect_entries(f, "/v1/boards/lb-real/top?season=1&offset=3", 1, "4:u-2:12,3400;");
    expect_error(f, "GET", "/v1/boards/lb-real/users/u-4", NULL, 404, "not_found");
    expect_error(f, "GET", "/v1/boards/lb-real/top?season=3", NULL, 404, "not_found");
}

/* A scheduled board (2 s seasons) left idle: the read's `current` is the season the next write then goes to. */
static void virtual_current_is_the_next_writes(void **st)
{
    it_fix_t *f = *st;
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards",
                            "{\"board_id\":\"lb-sched\",\"components\":1,\"operator\":\"set\",\"season_length_s\":2}"), 0);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards/lb-sched/scores",
                            "{\"scores\":[{\"user_id\":\"first\",\"score\":[1]}]}"), 0);
    assert_int_equal(r.status, 200);
    long long s_first = it_json_int(r.json, "season");
    it_resp_free(&r);
    it_sleep_ms(4600); /* two whole periods and more: the next write moves the board on */
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", "/v1/boards/lb-sched/top", NULL), 0);
    assert_int_equal(r.status, 200);
    long long s_read = it_json_int(r.json, "season");
    assert_int_equal(json_array_size(json_object_get(r.json, "entries")), 0);
    it_resp_free(&r);
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/boards/lb-sched/scores",
                            "{\"scores\":[{\"user_id\":\"later\",\"score\":[2]}]}"), 0);
    assert_int_equal(r.status, 200);
    long long s_write = it_json_int(r.json, "season");
    it_resp_free(&r);
    fprintf(stderr, "seasons: first write %lld, read after the idle time %lld, next write %lld\n", s_first, s_read, s_write);
    assert_int_equal(s_first, 1);
    assert_true(s_read >= 3);
    /* The same season, unless a period ended between the two requests (then the next one). */
    assert_true(s_write == s_read || s_write == s_read + 1);
    char path[128];
    snprintf(path, sizeof path, "/v1/boards/lb-sched/top?season=%lld", s_write);
    expect_entries(f, path, s_write, "1:later:2,0;");
    expect_entries(f, "/v1/boards/lb-sched/top?season=1", 1, "1:first:1,0;");
    expect_entries(f, "/v1/boards/lb-sched/top?season=2", 2, ""); /* skipped by the schedule */
}

/* ------------------------------------------------------------- the bound on reads in flight */

#define READS_MAX 8 /* BOARD_READS_MAX of reads_in_flight_bounded's gateway */
#define READS_SENT 12

static int redis_sigstop; /* SIGSTOP sent to redis-server, not yet SIGCONT */

static void redis_signal(int sig)
{
    long pid = it_service_pid("redis/redis.pid");
    assert_true(pid > 0);
    assert_int_equal(kill((pid_t)pid, sig), 0);
    redis_sigstop = sig == SIGSTOP;
}

/* One loop thread, so one connection's reads and the HTTP/1.1 one share its bound. */
static int setup_bounded(void **st)
{
    char n[16];
    snprintf(n, sizeof n, "%d", READS_MAX);
    if (setenv("GW_THREADS", "1", 1) != 0 || setenv("BOARD_READS_MAX", n, 1) != 0 || setenv("BOARD_DB_READS_MAX", "2", 1) != 0)
        return -1;
    int rc = it_fix_new0(st);
    unsetenv("GW_THREADS");
    unsetenv("BOARD_READS_MAX");
    unsetenv("BOARD_DB_READS_MAX");
    return rc;
}

static MYSQL *lock_db; /* holds LOCK TABLES board_scores WRITE */

static int free_redis_cont(void **st)
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
    return it_fix_free(st);
}

static void reads_in_flight_bounded(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-held", 1, 0, 1, T0);
    score_put(f, "lb-held", 1, 1, "a", 1, 0, T0, 1);
    expect(f, "GET", "/v1/boards/lb-held/users/a", NULL, 200, NULL);
    it_h2_t *c = it_h2_connect(f->gw.http_port);
    assert_non_null(c);
    assert_int_equal(it_h2_pump(c, 200), 0); /* the settings exchange */

    redis_signal(SIGSTOP);
    uint32_t sid[READS_SENT];
    for (int i = 0; i < READS_SENT; i++) {
        sid[i] = it_h2_open(c, "GET", i % 2 ? "/v1/boards/lb-held/top" : "/v1/boards/lb-held/users/a", -1, 1);
        assert_true(sid[i] != 0);
    }
    int shed = 0, other = 0;
    long long deadline = it_now_ms() + 3000;
    while (shed < READS_SENT - READS_MAX && it_now_ms() < deadline) {
        assert_int_equal(it_h2_pump(c, 50), 0);
        shed = other = 0;
        for (int i = 0; i < READS_SENT; i++) {
            int status = it_h2_stream(c, sid[i])->status;
            shed += status == 503;
            other += status != 0 && status != 503;
        }
    }
    assert_int_equal(it_h2_pump(c, 300), 0); /* a read shed late would show now */
    shed = other = 0;
    for (int i = 0; i < READS_SENT; i++) {
        int status = it_h2_stream(c, sid[i])->status;
        shed += status == 503;
        other += status != 0 && status != 503;
    }
    fprintf(stderr, "redis stopped: %d of %d reads answered 503 at once, %d otherwise\n", shed, READS_SENT, other);
    assert_int_equal(shed, READS_SENT - READS_MAX);
    assert_int_equal(other, 0);
    /* The thread is full: one more read, over HTTP/1.1, is refused with Retry-After. */
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", "/v1/boards/lb-held/top", NULL), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(it_json_str(json_object_get(r.json, "error"), "code"), "unavailable");
    assert_string_equal(r.retry_after, "1");
    it_resp_free(&r);

    redis_signal(SIGCONT);
    int ok = 0;
    deadline = it_now_ms() + 10000;
    while (ok < READS_MAX && it_now_ms() < deadline) {
        assert_int_equal(it_h2_pump(c, 50), 0);
        ok = 0;
        for (int i = 0; i < READS_SENT; i++)
            ok += it_h2_stream(c, sid[i])->status == 200;
    }
    it_h2_close(c);
    fprintf(stderr, "redis back: %d held reads answered 200\n", ok);
    assert_int_equal(ok, READS_MAX);
    assert_int_equal(it_metric(f, "tk_shed_total{reason=\"board_reads\"}"), READS_SENT - READS_MAX + 1);
    /* Their places were given back: reads go on. */
    expect(f, "GET", "/v1/boards/lb-held/users/a", NULL, 200, NULL);
}

/* The statuses of @n streams of @c: how many are @want, how many are something else than @want and 0. */
static int count_status(it_h2_t *c, const uint32_t *sid, int n, int want, int *other)
{
    int got = 0;
    *other = 0;
    for (int i = 0; i < n; i++) {
        int status = it_h2_stream(c, sid[i])->status;
        got += status == want;
        *other += status != 0 && status != want;
    }
    return got;
}

#define DB_READS_SENT 5 /* BOARD_DB_READS_MAX is 2 */

static void old_season_reads_on_mariadb_bounded(void **st)
{
    it_fix_t *f = *st;
    board_put(f, "lb-oldheld", 1, 0, 6, T0); /* current 6: season 2 is MariaDB's */
    score_put(f, "lb-oldheld", 1, 6, "a", 1, 0, T0, 1);
    row_put(f, "lb-oldheld", 2, "a", 50, 0, T0 + 1000, 1);
    expect(f, "GET", "/v1/boards/lb-oldheld/users/a?season=2", NULL, 200, NULL);
    it_h2_t *c = it_h2_connect(f->gw.http_port);
    assert_non_null(c);
    assert_int_equal(it_h2_pump(c, 200), 0);

    lock_db = it_db_connect();
    assert_non_null(lock_db);
    assert_int_equal(mysql_query(lock_db, "LOCK TABLES board_scores WRITE"), 0);
    uint32_t sid[DB_READS_SENT];
    for (int i = 0; i < DB_READS_SENT; i++) {
        sid[i] = it_h2_open(c, "GET", i % 2 ? "/v1/boards/lb-oldheld/top?season=2" : "/v1/boards/lb-oldheld/users/a?season=2", -1, 1);
        assert_true(sid[i] != 0);
    }
    /* At once: well before DB_JOB_DEADLINE_MS (2 s), which would answer the queued ones 503 too (db_deadline). */
    int shed = 0, other = 0;
    long long deadline = it_now_ms() + 1000;
    while (shed < DB_READS_SENT - 2 && it_now_ms() < deadline) {
        assert_int_equal(it_h2_pump(c, 50), 0);
        shed = count_status(c, sid, DB_READS_SENT, 503, &other);
    }
    assert_int_equal(it_h2_pump(c, 300), 0);
    shed = count_status(c, sid, DB_READS_SENT, 503, &other);
    fprintf(stderr, "board_scores locked: %d of %d old-season reads answered 503 at once, %d otherwise\n", shed, DB_READS_SENT, other);
    assert_int_equal(shed, DB_READS_SENT - 2);
    assert_int_equal(other, 0);
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", "/v1/boards/lb-oldheld/top?season=2", NULL), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(it_json_str(json_object_get(r.json, "error"), "code"), "unavailable");
    assert_string_equal(r.retry_after, "1");
    it_resp_free(&r);
    /* The seasons Redis holds are not held up by them. */
    expect(f, "GET", "/v1/boards/lb-oldheld/users/a", NULL, 200, NULL);

    mysql_close(lock_db); /* UNLOCK TABLES with it */
    lock_db = NULL;
    int ok = 0;
    deadline = it_now_ms() + 10000;
    while (ok < 2 && it_now_ms() < deadline) {
        assert_int_equal(it_h2_pump(c, 50), 0);
        ok = count_status(c, sid, DB_READS_SENT, 200, &other);
    }
    it_h2_close(c);
    fprintf(stderr, "board_scores unlocked: %d held reads answered 200\n", ok);
    assert_int_equal(ok, 2);
    assert_int_equal(it_metric(f, "tk_shed_total{reason=\"board_db_reads\"}"), DB_READS_SENT - 2 + 1);
    assert_int_equal(it_metric(f, "tk_shed_total{reason=\"board_reads\"}"), 0);
    expect(f, "GET", "/v1/boards/lb-oldheld/users/a?season=2", NULL, 200, NULL);
}

/* ------------------------------------------------------------- batched user and around reads */

#define MIX_USERS 40
#define MIX_PATHS 8 /* per user */
#define MIX_COPIES 2

/* One loop thread (one connection's reads share its batches), old seasons on MariaDB not shed. */
static int setup_mix(void **st)
{
    if (setenv("GW_THREADS", "1", 1) != 0 || setenv("BOARD_DB_READS_MAX", "1000", 1) != 0)
        return -1;
    int rc = it_fix_new0(st);
    unsetenv("GW_THREADS");
    unsetenv("BOARD_DB_READS_MAX");
    return rc;
}

/*
 * Board lb-mix (2 components): current season 6 with MIX_USERS users (ties on c1, c2 across its sign, time, seq),
 * season 5 with every other one, season 4 empty, season 2 in MariaDB only; board lb-mix1 (1 component), season 1.
 */
static void put_mix(const it_fix_t *f)
{
    board_put(f, "lb-mix", 2, 0, 6, T0);
    board_put(f, "lb-mix1", 1, 0, 1, T0);
    char u[16];
    for (int i = 0; i < MIX_USERS; i++) {
        snprintf(u, sizeof u, "u%02d", i);
        score_put(f, "lb-mix", 2, 6, u, i % 7, i % 3 - 1, T0 + i % 5, i % 4);
        if (i % 2 == 0)
            score_put(f, "lb-mix", 2, 5, u, i, 0, T0, i);
        if (i % 3 == 0)
            row_put(f, "lb-mix", 2, u, 100 - i, i - 20, T0 + i, i);
        score_put(f, "lb-mix1", 1, 1, u, i * 37 % 11, 0, T0 + i, i);
    }
}

/* The @k-th path asked about user index @i (MIX_USERS and above: users without an entry). */
static void mix_path(char *out, size_t cap, int i, int k)
{
    char u[16];
    snprintf(u, sizeof u, i < MIX_USERS ? "u%02d" : "ghost%d", i);
    switch (k) {
    case 0:
        snprintf(out, cap, "/v1/boards/lb-mix/users/%s", u);
        break;
    case 1:
        snprintf(out, cap, "/v1/boards/lb-mix/users/%s/around?radius=%d", u, 1 + i % 4);
        break;
    case 2:
        snprintf(out, cap, "/v1/boards/lb-mix/users/%s?season=5", u);
        break;
    case 3:
        snprintf(out, cap, "/v1/boards/lb-mix/users/%s/around?season=5&radius=2", u);
        break;
    case 4:
        snprintf(out, cap, "/v1/boards/lb-mix1/users/%s/around?radius=3", u);
        break;
    case 5:
        snprintf(out, cap, "/v1/boards/lb-mix1/users/%s", u);
        break;
    case 6: /* the seasons the script answers alone: MariaDB's, an empty one, none, above the current one, no board */
        snprintf(out, cap, (const char *[]){"/v1/boards/lb-mix/users/%s?season=2", "/v1/boards/lb-mix/users/%s/around?season=2",
                                            "/v1/boards/lb-mix/users/%s?season=4", "/v1/boards/lb-mix/users/%s/around?season=0",
                                            "/v1/boards/lb-mix/users/%s?season=7", "/v1/boards/lb-none/users/%s"}[i % 6],
                 u);
        break;
    default: /* a read that is not batched, in between */
        snprintf(out, cap, "/v1/boards/lb-mix1/top?limit=%d&offset=%d", 1 + i % 3, i % 5);
        break;
    }
}

/*
 * Many user and around reads of mixed boards, seasons and users, in flight
 * at once on one HTTP/2 connection of one loop thread (so batched, several
 * to a call): each answer, status and body, is the one the same read gets
 * alone over HTTP/1.1, and Redis ran far fewer calls than reads.
 */
static void batched_reads_match_single(void **st)
{
    it_fix_t *f = *st;
    put_mix(f);
    enum { USERS = MIX_USERS + 2, ONE = USERS * MIX_PATHS, N = ONE * MIX_COPIES };
    static char paths[ONE][128];
    static long want_status[ONE];
    static char *want_body[ONE];
    static it_h2_req_t reqs[N];
    int single_status[6] = {0};
    for (int i = 0; i < USERS; i++) {
        for (int k = 0; k < MIX_PATHS; k++) {
            int j = i * MIX_PATHS + k;
            mix_path(paths[j], sizeof paths[j], i, k);
            it_resp_t r;
            assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", paths[j], NULL), 0);
            want_status[j] = r.status;
            want_body[j] = strdup(r.body != NULL ? r.body : "");
            assert_non_null(want_body[j]);
            single_status[r.status / 100]++;
            it_resp_free(&r);
        }
    }
    /* Both outcomes are well represented: entries and 404s, none shed or failed. */
    fprintf(stderr, "one at a time: %d answered 200, %d 4xx, %d 5xx\n", single_status[2], single_status[4], single_status[5]);
    assert_true(single_status[2] > ONE / 2);
    assert_true(single_status[4] > ONE / 10);
    assert_int_equal(single_status[5], 0);

    /* Each copy in its own shuffled order (a fixed LCG): shapes, boards and seasons interleaved. */
    unsigned seed = 12345;
    int order[ONE];
    for (int c = 0; c < MIX_COPIES; c++) {
        for (int j = 0; j < ONE; j++)
            order[j] = j;
        for (int j = ONE - 1; j > 0; j--) {
            seed = seed * 1103515245u + 12345u;
            int x = (int)((seed >> 8) % (unsigned)(j + 1)), t = order[j];
            order[j] = order[x];
            order[x] = t;
        }
        for (int j = 0; j < ONE; j++)
            reqs[c * ONE + j] = (it_h2_req_t){.method = "GET", .path = paths[order[j]]};
    }
    it_redis_do(f->redis, "CONFIG RESETSTAT");
    it_h2_t *c = it_h2_connect(f->gw.http_port);
    assert_non_null(c);
    size_t got = it_h2_run(&c, 1, reqs, N, 100, 0, 1, 30000, NULL, NULL);
    it_h2_close(c);
    long long calls = it_redis_cmd_calls(f->redis, "evalsha") + it_redis_cmd_calls(f->redis, "eval");
    assert_int_equal(got, N);
    int wrong = 0;
    for (int j = 0; j < N; j++) {
        int w = (int)(((const char(*)[128])reqs[j].path) - paths);
        const char *body = reqs[j].resp != NULL ? reqs[j].resp : "";
        if (reqs[j].status != want_status[w] || strcmp(body, want_body[w]) != 0) {
            if (wrong++ < 5)
                fprintf(stderr, "GET %s\n  alone:   %ld %s\n  batched: %d %s\n", paths[w], want_status[w], want_body[w], reqs[j].status,
                        body);
        }
    }
    it_h2_free_bodies(reqs, N);
    for (int j = 0; j < ONE; j++)
        free(want_body[j]);
    fprintf(stderr, "%d reads at once: %d differ from the same read alone; %lld script calls\n", N, wrong, calls);
    assert_int_equal(wrong, 0);
    /* Batched: far fewer calls than reads (the tops are one call each, MariaDB's seasons one each too). */
    assert_true(calls > 0);
    assert_true(calls * 3 < N);
}

/* Teardown of a test that stopped MariaDB: started again (a no-op when it runs) before the fixture goes. */
static int free_db_up(void **st)
{
    int rc = it_services("start-db", SVC_MS);
    it_fix_t *f = *st;
    if (f->db != NULL)
        mysql_close(f->db);
    f->db = it_db_connect();
    return it_fix_free(st) != 0 || rc != 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(top_pages_in_rank_order, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(two_components_across_c2_sign, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(user_entry_and_404, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(around_edges_and_radius, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(ranks_of_a_list, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(season_param, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(virtual_rollover_writes_nothing, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(old_season_from_mariadb, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(old_season_two_components_by_count, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(old_season_offset_bound, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(bad_params_are_400, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(redis_down_is_503, setup, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(mariadb_down_is_503_for_old_seasons, setup, free_db_up),
        cmocka_unit_test_setup_teardown(reads_after_real_writes, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(virtual_current_is_the_next_writes, setup, it_fix_free),
        cmocka_unit_test_setup_teardown(reads_in_flight_bounded, setup_bounded, free_redis_cont),
        cmocka_unit_test_setup_teardown(old_season_reads_on_mariadb_bounded, setup_bounded, free_redis_cont),
        cmocka_unit_test_setup_teardown(batched_reads_match_single, setup_mix, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_boards_read", tests, it_group_setup, NULL);
}
