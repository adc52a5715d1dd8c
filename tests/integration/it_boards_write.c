/*
 * it_boards_write: the write side of leaderboards (issue 14; docs/API.md
 * "Leaderboards", docs/CONTRACTS.md), against real Redis and MariaDB, no
 * worker. Every check reads the contract's keys directly (the read routes
 * are tested elsewhere):
 *
 *  - create_writes_both_stores: the 201 body; the boards and board_seasons
 *    rows; the board hash, its seasons hash, tk:boards and the stream's
 *    group; 409 for a taken id; a create whose Redis step was lost finished
 *    by its retry; an Idempotency-Key replayed;
 *  - create_refuses_bad_bodies: each bad field 400, nothing in either store;
 *  - tie_break_both_orders: the same score reached at different times, in
 *    both orders of arrival, ranks the earlier first; in one request, the
 *    earlier entry; rewriting an equal score keeps the first time;
 *  - operators: best (lower, equal, higher; by c1 then c2), set, incr
 *    (negative, out of range both ways refused and nothing changed);
 *  - range_edges: +-(2^53 - 1) exact in ZSCORE and the users hash, c2's
 *    order across its sign, 2^53 and reals skipped as invalid;
 *  - components: a board of one refuses two and the other way round; a bare
 *    integer is invalid;
 *  - batch_of_1000_and_body_limits: 1,000 entries of 64-byte ids (over
 *    64 KiB, under 128 KiB) in one request over HTTP/1.1 and HTTP/2; over
 *    128 KiB 413; 16 KiB still the limit elsewhere;
 *  - bad_input_changes_nothing: each refused request leaves the board's
 *    keys as they were;
 *  - schedule_rollover: a 1 s season rolls over by itself at the first
 *    write past its end, skipping whole empty periods; the closed season's
 *    keys kept and its sn entry closed;
 *  - manual_rollover_keeps_three_closed: POST …/seasons; seasons older than
 *    current - 3 listed in tk:lb:{B}:drop, their keys kept while :pend
 *    counts entries of theirs not yet acked, UNLINKed by the next write
 *    once it is 0; the three latest closed ones kept; on a board with a
 *    schedule the period restarts at a rollover by hand;
 *  - scheduled_rollover_moves_last_t: a scheduled rollover by a call that
 *    applies nothing still moves last_t up to the new season's start;
 *  - batching_noscript_and_redis_away: 60 requests at once all answered in
 *    fewer script calls; after SCRIPT FLUSH a write applies once; with
 *    Redis stopped writes and rollovers are 503 with Retry-After, and
 *    apply again once it is back;
 *  - entries_held_are_bounded: with Redis frozen, 20 requests of 1,000
 *    entries are held (GW_BOARD_HELD_MAX) and 5 more are shed 503 with
 *    Retry-After at once; thawed, the 20 apply;
 *  - writes_racing_rollovers: threads writing while another rolls: every
 *    stream entry's season holds exactly that entry in its users hash, its
 *    time lies in that season, and the entries add up to the accepted.
 */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
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
#include "lib/it_h2.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_time.h"

#define MAX53 9007199254740991LL

/* ------------------------------------------------------------- helpers */

/* An admin request over @ver with an optional Idempotency-Key; the status (0: none), the answer in @r. */
static long admin(it_resp_t *r, const it_fix_t *f, it_http_ver_t ver, const char *method, const char *path, const char *body,
                  const char *key)
{
    char auth[128], k[128], url[1024];
    const char *h[3] = {it_api_auth_header(f, IT_ADMIN, auth), NULL, NULL};
    if (key != NULL) {
        snprintf(k, sizeof k, "Idempotency-Key: %s", key);
        h[1] = k;
    }
    snprintf(url, sizeof url, "%s%s", f->gw.base_url, path);
    memset(r, 0, sizeof *r);
    if (it_http(r, ver, method, url, h, body, body ? strlen(body) : 0, IT_TIMEOUT_MS) != 0)
        return 0;
    return r->status;
}

static long create(it_resp_t *r, const it_fix_t *f, const char *body, const char *key)
{
    return admin(r, f, IT_HTTP1, "POST", "/v1/admin/boards", body, key);
}

/* A new board @id; fails the test unless 201. */
static void new_board(const it_fix_t *f, const char *id, int comps, const char *op, long long season_len)
{
    char body[512];
    it_resp_t r;
    snprintf(body, sizeof body, "{\"board_id\":\"%s\",\"name\":\"Board %s\",\"components\":%d,\"operator\":\"%s\",\"season_length_s\":%lld}",
             id, id, comps, op, season_len);
    if (create(&r, f, body, NULL) != 201)
        it_show("create board", &r);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
}

/* POST …/scores with @body; the status, the answer in @r. */
static long scores(it_resp_t *r, const it_fix_t *f, const char *board, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/admin/boards/%s/scores", board);
    return admin(r, f, IT_HTTP1, "POST", path, body, NULL);
}

/* POST …/scores that must answer 200 with @accepted (and @refused refused); returns the season it landed in. */
static long long write_ok(const it_fix_t *f, const char *board, const char *body, int accepted, int refused)
{
    it_resp_t r;
    if (scores(&r, f, board, body) != 200)
        it_show("scores", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "accepted"), accepted);
    assert_int_equal(it_json_int(r.json, "refused"), refused);
    long long season = it_json_int(r.json, "season");
    it_resp_free(&r);
    return season;
}

/* One entry {"user_id":@user,"score":[@c1]} (c2 given when @comps is 2). */
static void write1(const it_fix_t *f, const char *board, const char *user, long long c1, long long c2, int comps, int accepted)
{
    char body[256];
    if (comps == 2)
        snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"%s\",\"score\":[%lld,%lld]}]}", user, c1, c2);
    else
        snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"%s\",\"score\":[%lld]}]}", user, c1);
    write_ok(f, board, body, accepted, 1 - accepted);
}

/* HGET @key @field into @out ("" when absent). */
static const char *hget(const it_fix_t *f, const char *key, const char *field, char *out, size_t len)
{
    out[0] = '\0';
    redisReply *rep = it_redis_must(f->redis, "HGET %s %s", key, field);
    if (rep->type == REDIS_REPLY_STRING)
        snprintf(out, len, "%s", rep->str);
    freeReplyObject(rep);
    return out;
}

/* The board hash's field as an integer (-1 when absent). */
static long long bfield(const it_fix_t *f, const char *board, const char *field)
{
    char key[128], v[64];
    snprintf(key, sizeof key, "tk:lb:{%s}", board);
    hget(f, key, field, v, sizeof v);
    return v[0] ? atoll(v) : -1;
}

/* The users hash entry of @user in season @season into @out. */
static const char *uentry(const it_fix_t *f, const char *board, int season, const char *user, char *out, size_t len)
{
    char key[128];
    snprintf(key, sizeof key, "tk:lb:{%s}:u:%d", board, season);
    return hget(f, key, user, out, len);
}

/* The user ids of season @season's zset in ZRANGE order, "a,b,c" into @out. */
static const char *order(const it_fix_t *f, const char *board, int season, int comps, char *out, size_t len)
{
    redisReply *rep = it_redis_must(f->redis, "ZRANGE tk:lb:{%s}:z:%d 0 -1", board, season);
    size_t at = comps == 2 ? 17 + 23 : 23, o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rep->elements; i++) {
        assert_true(rep->element[i]->len > at);
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", rep->element[i]->str + at);
    }
    freeReplyObject(rep);
    return out;
}

/* The zset score of @user's member in season 1 (as Redis prints it). */
static const char *zscore_of(const it_fix_t *f, const char *board, const char *user, int comps, char *out, size_t len)
{
    redisReply *rep = it_redis_must(f->redis, "ZRANGE tk:lb:{%s}:z:1 0 -1 WITHSCORES", board);
    size_t at = comps == 2 ? 17 + 23 : 23;
    out[0] = '\0';
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (strcmp(rep->element[i]->str + at, user) == 0)
            snprintf(out, len, "%s", rep->element[i + 1]->str);
    freeReplyObject(rep);
    return out;
}

/* One score carried by a board's stream: a single entry (k=s) or one line of a packed one (k=m, lua/lb_write.lua). */
typedef struct {
    int season;
    char user[80], a[24], b[24], t[24], q[24];
} sc_t;

static const char *fval(const redisReply *fl, const char *name)
{
    for (size_t i = 0; i + 1 < fl->elements; i += 2)
        if (strcmp(fl->element[i]->str, name) == 0)
            return fl->element[i + 1]->str;
    return NULL;
}

/* Every score on @board's stream, in stream order; *@n of them. The array is the caller's (free). */
static sc_t *stream_scores(const it_fix_t *f, const char *board, size_t *n)
{
    redisReply *q = it_redis_must(f->redis, "XRANGE tk:lb:{%s}:q - +", board);
    size_t cap = 16;
    sc_t *out = malloc(cap * sizeof(*out));
    assert_non_null(out);
    *n = 0;
    for (size_t i = 0; i < q->elements; i++) {
        const redisReply *fl = q->element[i]->element[1];
        const char *k = fval(fl, "k");
        assert_non_null(k);
        if (strcmp(k, "r") == 0)
            continue;
        const char *season = fval(fl, "s"), *t = fval(fl, "t");
        assert_true(season != NULL && t != NULL);
        char lines[64 * 200] = "";
        if (strcmp(k, "s") == 0) {
            snprintf(lines, sizeof lines, "%s %s %s %s", fval(fl, "u"), fval(fl, "a"), fval(fl, "b"), fval(fl, "q"));
        } else {
            assert_string_equal(k, "m");
            assert_true(strlen(fval(fl, "d")) < sizeof lines);
            snprintf(lines, sizeof lines, "%s", fval(fl, "d"));
        }
        size_t got = 0;
        for (char *save = NULL, *line = strtok_r(lines, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
            if (*n == cap) {
                cap *= 2;
                out = realloc(out, cap * sizeof(*out));
                assert_non_null(out);
            }
            sc_t *sc = &out[(*n)++];
            sc->season = atoi(season);
            snprintf(sc->t, sizeof sc->t, "%s", t);
            assert_int_equal(sscanf(line, "%79s %23s %23s %23s", sc->user, sc->a, sc->b, sc->q), 4);
            got++;
        }
        if (strcmp(k, "m") == 0) {
            assert_int_equal(got, atoi(fval(fl, "n")));
            assert_true(got >= 1 && got <= 64);
        }
    }
    freeReplyObject(q);
    return out;
}

/* The count of scores on @board's stream (not of its entries: a packed one carries up to 64). */
static long long xlen(const it_fix_t *f, const char *board)
{
    size_t n;
    free(stream_scores(f, board, &n));
    return (long long)n;
}

/* Everything a refused request must leave alone, as one line. */
static void books(const it_fix_t *f, const char *board, char *out, size_t len)
{
    redisReply *z = it_redis_must(f->redis, "ZRANGE tk:lb:{%s}:z:1 0 -1 WITHSCORES", board);
    size_t o = (size_t)snprintf(out, len, "seq=%lld last_t=%lld season=%lld xlen=%lld hlen=%lld z=", bfield(f, board, "seq"),
                                bfield(f, board, "last_t"), bfield(f, board, "season"), xlen(f, board),
                                it_redis_int(f->redis, "HLEN tk:lb:{%s}:u:1", board));
    for (size_t i = 0; i < z->elements && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s;", z->element[i]->str);
    freeReplyObject(z);
}

/* ------------------------------------------------------------- create */

static void create_writes_both_stores(void **st)
{
    it_fix_t *f = *st;
    it_resp_t r;
    long long t0 = tk_time_now_ms();
    assert_int_equal(create(&r, f, "{\"board_id\":\"fans\",\"name\":\"Fans \\\"A\\\"\",\"components\":2,\"operator\":\"best\","
                                   "\"season_length_s\":604800}",
                            NULL),
                     201);
    assert_string_equal(it_json_str(r.json, "board_id"), "fans");
    assert_string_equal(it_json_str(r.json, "name"), "Fans \"A\"");
    assert_int_equal(it_json_int(r.json, "components"), 2);
    assert_string_equal(it_json_str(r.json, "operator"), "best");
    assert_int_equal(it_json_int(r.json, "season_length_s"), 604800);
    assert_int_equal(it_json_int(r.json, "season"), 1);
    assert_non_null(it_json_str(r.json, "season_started_at"));
    it_resp_free(&r);

    long long created = bfield(f, "fans", "created");
    assert_true(created >= t0 - 5 && created <= tk_time_now_ms() + 5);
    assert_int_equal(bfield(f, "fans", "comps"), 2);
    assert_int_equal(bfield(f, "fans", "len"), 604800);
    assert_int_equal(bfield(f, "fans", "season"), 1);
    assert_int_equal(bfield(f, "fans", "start"), created);
    assert_int_equal(bfield(f, "fans", "seq"), 0);
    assert_int_equal(bfield(f, "fans", "last_t"), 0);
    char v[128], want[64];
    hget(f, "tk:lb:{fans}", "op", v, sizeof v);
    assert_string_equal(v, "best");
    hget(f, "tk:lb:{fans}", "name", v, sizeof v);
    assert_string_equal(v, "Fans \"A\"");
    snprintf(want, sizeof want, "%lld 0", created);
    assert_string_equal(hget(f, "tk:lb:{fans}:sn", "1", v, sizeof v), want);
    assert_int_equal(it_redis_int(f->redis, "SISMEMBER tk:boards fans"), 1);
    redisReply *g = it_redis_must(f->redis, "XINFO GROUPS tk:lb:{fans}:q");
    assert_int_equal(g->elements, 1);
    freeReplyObject(g);

    assert_int_equal(it_db_int(f->db, -1, "SELECT components FROM boards WHERE board_id='fans' AND operator='best' AND "
                                           "season_length_s=604800 AND name='Fans \"A\"'"),
                     2);
    assert_int_equal(it_db_int(f->db, -1, "SELECT started_ms FROM board_seasons WHERE board_id='fans' AND season=1 AND ended_ms IS NULL"),
                     created);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM board_seasons WHERE board_id='fans'"), 1);

    /* Taken: 409, also with another definition; nothing changes. */
    assert_int_equal(create(&r, f, "{\"board_id\":\"fans\",\"components\":1,\"operator\":\"set\"}", NULL), 409);
    assert_string_equal(it_resp_error_code(&r), "exists");
    it_resp_free(&r);
    assert_int_equal(create(&r, f, "{\"board_id\":\"fans\",\"name\":\"Fans \\\"A\\\"\",\"components\":2,\"operator\":\"best\","
                                   "\"season_length_s\":604800}",
                            NULL),
                     409);
    it_resp_free(&r);
    assert_int_equal(bfield(f, "fans", "comps"), 2);

    /* The Redis step lost after the commit: the same create again finishes it (201); another definition is 409. */
    new_board(f, "lost", 1, "incr", 0);
    long long lost_created = bfield(f, "lost", "created");
    freeReplyObject(it_redis_must(f->redis, "DEL tk:lb:{lost} tk:lb:{lost}:sn"));
    assert_int_equal(create(&r, f, "{\"board_id\":\"lost\",\"components\":1,\"operator\":\"set\",\"name\":\"Board lost\"}", NULL), 409);
    it_resp_free(&r);
    assert_int_equal(bfield(f, "lost", "comps"), -1);
    assert_int_equal(create(&r, f, "{\"board_id\":\"lost\",\"components\":1,\"operator\":\"incr\",\"name\":\"Board lost\"}", NULL), 201);
    it_resp_free(&r);
    assert_int_equal(bfield(f, "lost", "created"), lost_created);
    assert_int_equal(bfield(f, "lost", "start"), lost_created);
    assert_int_equal(bfield(f, "lost", "len"), 0);

    /* Idempotency-Key: the replay answers the first body; the key with another board is 422. */
    const char *kb = "{\"board_id\":\"keyed\",\"components\":1,\"operator\":\"set\"}";
    assert_int_equal(create(&r, f, kb, "bk-1"), 201);
    char *first = strdup(r.body);
    it_resp_free(&r);
    assert_int_equal(create(&r, f, kb, "bk-1"), 201);
    assert_string_equal(r.body, first);
    it_resp_free(&r);
    free(first);
    assert_int_equal(create(&r, f, "{\"board_id\":\"keyed2\",\"components\":1,\"operator\":\"set\"}", "bk-1"), 422);
    it_resp_free(&r);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM boards"), 3);
}

static void create_refuses_bad_bodies(void **st)
{
    it_fix_t *f = *st;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"components\":1,\"operator\":\"set\"}",
        "{\"board_id\":\"Bad\",\"components\":1,\"operator\":\"set\"}",
        "{\"board_id\":\"b\",\"operator\":\"set\"}",
        "{\"board_id\":\"b\",\"components\":3,\"operator\":\"set\"}",
        "{\"board_id\":\"b\",\"components\":1.0,\"operator\":\"set\"}",
        "{\"board_id\":\"b\",\"components\":1}",
        "{\"board_id\":\"b\",\"components\":1,\"operator\":\"max\"}",
        "{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":-1}",
        "{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":316224001}",
        "{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":1.5}",
        "{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"name\":\"\"}",
        "{\"board_id\":\"b\",\"board_id\":\"c\",\"components\":1,\"operator\":\"set\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_resp_t r;
        if (create(&r, f, bad[i], NULL) != 400)
            fprintf(stderr, "body %zu: %s\n", i, bad[i]);
        assert_int_equal(r.status, 400);
        assert_string_equal(it_resp_error_code(&r), "bad_request");
        it_resp_free(&r);
    }
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM boards"), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM board_seasons"), 0);
    assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{b} tk:boards"), 0);
    /* At the edges: 0 is "by hand only", 316224000 the cap. */
    new_board(f, "b0", 1, "set", 0);
    new_board(f, "b1", 1, "set", 316224000);
    assert_int_equal(bfield(f, "b1", "len"), 316224000);
}

/* ------------------------------------------------------------- ranks */

static void tie_break_both_orders(void **st)
{
    it_fix_t *f = *st;
    char o[512], e1[128], e2[128];
    new_board(f, "ab", 1, "set", 0);
    new_board(f, "ba", 1, "set", 0);
    write1(f, "ab", "u-a", 100, 0, 1, 1);
    usleep(5000);
    write1(f, "ab", "u-b", 100, 0, 1, 1);
    write1(f, "ba", "u-b", 100, 0, 1, 1);
    usleep(5000);
    write1(f, "ba", "u-a", 100, 0, 1, 1);
    assert_string_equal(order(f, "ab", 1, 1, o, sizeof o), "u-a,u-b");
    assert_string_equal(order(f, "ba", 1, 1, o, sizeof o), "u-b,u-a");
    /* Times differ by at least the sleep, in arrival order. */
    long long ta, tb;
    sscanf(uentry(f, "ab", 1, "u-a", e1, sizeof e1), "%*d %*d %lld", &ta);
    sscanf(uentry(f, "ab", 1, "u-b", e2, sizeof e2), "%*d %*d %lld", &tb);
    assert_true(tb >= ta + 5);
    /* Rewriting the same score changes nothing: u-a keeps its time and first place. */
    long long x = xlen(f, "ab"), seq = bfield(f, "ab", "seq");
    write1(f, "ab", "u-a", 100, 0, 1, 1);
    assert_string_equal(uentry(f, "ab", 1, "u-a", e2, sizeof e2), e1);
    assert_int_equal(xlen(f, "ab"), x);
    assert_int_equal(bfield(f, "ab", "seq"), seq);
    assert_string_equal(order(f, "ab", 1, 1, o, sizeof o), "u-a,u-b");
    /* In one request (one time), arrival order: the sequence decides, not the user id. */
    new_board(f, "one", 1, "set", 0);
    write_ok(f, "one", "{\"scores\":[{\"user_id\":\"z\",\"score\":[7]},{\"user_id\":\"a\",\"score\":[7]},{\"user_id\":\"m\",\"score\":[8]}]}",
             3, 0);
    assert_string_equal(order(f, "one", 1, 1, o, sizeof o), "m,z,a");
    uentry(f, "one", 1, "z", e1, sizeof e1);
    assert_string_equal(e1 + strlen(e1) - 2, " 1");
    assert_int_equal(bfield(f, "one", "seq"), 3);
    /* The stream carries each change: one packed entry for the call, a line per user in arrival order. */
    redisReply *s = it_redis_must(f->redis, "XRANGE tk:lb:{one}:q - +");
    assert_int_equal(s->elements, 1);
    redisReply *fields = s->element[0]->element[1];
    char line[512] = "";
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const char *name = fields->element[i]->str, *val = fields->element[i + 1]->str;
        snprintf(line + strlen(line), sizeof line - strlen(line), "%s=%s ", name, strcmp(name, "t") == 0 ? "T" : val);
    }
    freeReplyObject(s);
    assert_string_equal(line, "k=m s=1 t=T n=3 d=z 7 0 1\na 7 0 2\nm 8 0 3 ");
}

static void operators(void **st)
{
    it_fix_t *f = *st;
    char e[128], o[512];
    /* best */
    new_board(f, "best", 1, "best", 0);
    write1(f, "best", "u", 10, 0, 1, 1);
    uentry(f, "best", 1, "u", e, sizeof e);
    char before[128];
    snprintf(before, sizeof before, "%s", e);
    write1(f, "best", "u", 5, 0, 1, 1);  /* lower: accepted, nothing changes */
    write1(f, "best", "u", 10, 0, 1, 1); /* equal: the same */
    assert_string_equal(uentry(f, "best", 1, "u", e, sizeof e), before);
    assert_int_equal(xlen(f, "best"), 1);
    write1(f, "best", "u", 11, 0, 1, 1);
    assert_int_equal(atoll(uentry(f, "best", 1, "u", e, sizeof e)), 11);
    assert_int_equal(xlen(f, "best"), 2);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{best}:z:1"), 1);
    /* best on two components: c1 first, then c2 */
    new_board(f, "best2", 2, "best", 0);
    write1(f, "best2", "u", 5, 3, 2, 1);
    write1(f, "best2", "u", 5, 2, 2, 1);
    write1(f, "best2", "u", 4, 100, 2, 1);
    assert_int_equal(xlen(f, "best2"), 1);
    write1(f, "best2", "u", 5, 4, 2, 1);
    assert_true(strncmp(uentry(f, "best2", 1, "u", e, sizeof e), "5 4 ", 4) == 0);
    write1(f, "best2", "u", 6, -100, 2, 1);
    assert_true(strncmp(uentry(f, "best2", 1, "u", e, sizeof e), "6 -100 ", 7) == 0);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{best2}:z:1"), 1);
    /* set */
    new_board(f, "set", 1, "set", 0);
    write1(f, "set", "u", 10, 0, 1, 1);
    write1(f, "set", "u", 5, 0, 1, 1);
    assert_int_equal(atoll(uentry(f, "set", 1, "u", e, sizeof e)), 5);
    write1(f, "set", "u", 5, 0, 1, 1);
    assert_int_equal(xlen(f, "set"), 2);
    write1(f, "set", "v", 7, 0, 1, 1);
    assert_string_equal(order(f, "set", 1, 1, o, sizeof o), "v,u");
    /* One user twice in one request: applied in order, the second replaces the first (one member left, seq
     * taken by both); the stream carries the user's last value of the call only (lua/lb_write.lua, "Bulk"). */
    long long seq0 = bfield(f, "set", "seq");
    write_ok(f, "set", "{\"scores\":[{\"user_id\":\"u\",\"score\":[9]},{\"user_id\":\"u\",\"score\":[6]}]}", 2, 0);
    assert_int_equal(atoll(uentry(f, "set", 1, "u", e, sizeof e)), 6);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{set}:z:1"), 2);
    assert_int_equal(bfield(f, "set", "seq"), seq0 + 2);
    assert_int_equal(xlen(f, "set"), 4);
    assert_string_equal(order(f, "set", 1, 1, o, sizeof o), "v,u");
    /* incr, with negatives and both ends of the range */
    new_board(f, "incr", 2, "incr", 0);
    write1(f, "incr", "u", 10, 1, 2, 1);
    write1(f, "incr", "u", -3, 1, 2, 1);
    assert_true(strncmp(uentry(f, "incr", 1, "u", e, sizeof e), "7 2 ", 4) == 0);
    write1(f, "incr", "u", -20, -5, 2, 1);
    assert_true(strncmp(uentry(f, "incr", 1, "u", e, sizeof e), "-13 -3 ", 7) == 0);
    write1(f, "incr", "u", MAX53, 0, 2, 1);
    char want[128];
    snprintf(want, sizeof want, "%lld -3 ", MAX53 - 13);
    assert_true(strncmp(uentry(f, "incr", 1, "u", e, sizeof e), want, strlen(want)) == 0);
    snprintf(before, sizeof before, "%s", e);
    long long x = xlen(f, "incr");
    write1(f, "incr", "u", 14, 0, 2, 0); /* MAX + 1: refused, nothing changed */
    write1(f, "incr", "u", 0, -MAX53, 2, 0); /* c2: -3 - MAX */
    assert_string_equal(uentry(f, "incr", 1, "u", e, sizeof e), before);
    assert_int_equal(xlen(f, "incr"), x);
    write1(f, "incr", "u", 13, 0, 2, 1); /* exactly MAX */
    snprintf(want, sizeof want, "%lld -3 ", MAX53);
    assert_true(strncmp(uentry(f, "incr", 1, "u", e, sizeof e), want, strlen(want)) == 0);
    write1(f, "incr", "u", 0, 0, 2, 1); /* adds nothing: unchanged */
    assert_int_equal(xlen(f, "incr"), x + 1);
    /* a refused and an applied entry in one request */
    write_ok(f, "incr", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1,0]},{\"user_id\":\"w\",\"score\":[-5,0]}]}", 1, 1);
    assert_true(strncmp(uentry(f, "incr", 1, "w", e, sizeof e), "-5 0 ", 5) == 0);
}

static void range_edges(void **st)
{
    it_fix_t *f = *st;
    char e[128], v[64], want[128], o[512];
    new_board(f, "edge", 2, "set", 0);
    write1(f, "edge", "max", MAX53, MAX53, 2, 1);
    write1(f, "edge", "min", -MAX53, -MAX53, 2, 1);
    write1(f, "edge", "c2-0", 1, 0, 2, 1);
    write1(f, "edge", "c2-neg1", 1, -1, 2, 1);
    write1(f, "edge", "c2-min", 1, -MAX53, 2, 1);
    write1(f, "edge", "c2-max", 1, MAX53, 2, 1);
    write1(f, "edge", "c2-1", 1, 1, 2, 1);
    assert_string_equal(zscore_of(f, "edge", "max", 2, v, sizeof v), "-9007199254740991");
    assert_string_equal(zscore_of(f, "edge", "min", 2, v, sizeof v), "9007199254740991");
    snprintf(want, sizeof want, "%lld %lld ", MAX53, MAX53);
    assert_true(strncmp(uentry(f, "edge", 1, "max", e, sizeof e), want, strlen(want)) == 0);
    snprintf(want, sizeof want, "%lld %lld ", -MAX53, -MAX53);
    assert_true(strncmp(uentry(f, "edge", 1, "min", e, sizeof e), want, strlen(want)) == 0);
    assert_string_equal(order(f, "edge", 1, 2, o, sizeof o), "max,c2-max,c2-1,c2-0,c2-neg1,c2-min,min");
    /* One past the edge, and reals: skipped as invalid; alone, the request is 400. */
    it_resp_t r;
    char body[512];
    snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"x\",\"score\":[9007199254740992,0]}]}");
    assert_int_equal(scores(&r, f, "edge", body), 400);
    assert_string_equal(it_resp_error_code(&r), "bad_request");
    it_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"scores\":[{\"user_id\":\"x\",\"score\":[1,-9007199254740992]},{\"user_id\":\"y\",\"score\":[1.0,2]},"
             "{\"user_id\":\"z\",\"score\":[1e3,2]},{\"user_id\":\"ok\",\"score\":[3,4]}]}");
    assert_int_equal(scores(&r, f, "edge", body), 200);
    assert_int_equal(it_json_int(r.json, "accepted"), 1);
    assert_int_equal(it_json_int(r.json, "invalid"), 3);
    it_resp_free(&r);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{edge}:z:1"), 8);
    assert_int_equal(it_redis_int(f->redis, "HEXISTS tk:lb:{edge}:u:1 x"), 0);
    /* A 1-component board at its edges. */
    new_board(f, "edge1", 1, "set", 0);
    write1(f, "edge1", "max", MAX53, 0, 1, 1);
    write1(f, "edge1", "min", -MAX53, 0, 1, 1);
    write1(f, "edge1", "zero", 0, 0, 1, 1);
    assert_string_equal(zscore_of(f, "edge1", "max", 1, v, sizeof v), "-9007199254740991");
    assert_string_equal(zscore_of(f, "edge1", "zero", 1, v, sizeof v), "0");
    assert_string_equal(order(f, "edge1", 1, 1, o, sizeof o), "max,zero,min");
}

static void components(void **st)
{
    it_fix_t *f = *st;
    it_resp_t r;
    new_board(f, "c1", 1, "set", 0);
    new_board(f, "c2", 2, "set", 0);
    assert_int_equal(scores(&r, f, "c1", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1,2]}]}"), 400);
    it_resp_free(&r);
    assert_int_equal(scores(&r, f, "c2", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}"), 400);
    it_resp_free(&r);
    assert_int_equal(scores(&r, f, "c1", "{\"scores\":[{\"user_id\":\"u\",\"score\":1}]}"), 400);
    it_resp_free(&r);
    assert_int_equal(scores(&r, f, "c1", "{\"scores\":[{\"user_id\":\"u\",\"score\":[]}]}"), 400);
    it_resp_free(&r);
    assert_int_equal(scores(&r, f, "c1", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1,2,3]}]}"), 400);
    it_resp_free(&r);
    /* Mixed: the right count applies, the other is counted invalid. */
    assert_int_equal(scores(&r, f, "c1", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1,2]},{\"user_id\":\"v\",\"score\":[4]}]}"), 200);
    assert_int_equal(it_json_int(r.json, "accepted"), 1);
    assert_int_equal(it_json_int(r.json, "invalid"), 1);
    it_resp_free(&r);
    assert_int_equal(scores(&r, f, "c2", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1,2]},{\"user_id\":\"v\",\"score\":[4]}]}"), 200);
    assert_int_equal(it_json_int(r.json, "accepted"), 1);
    assert_int_equal(it_json_int(r.json, "invalid"), 1);
    it_resp_free(&r);
    char e[128];
    assert_true(strncmp(uentry(f, "c1", 1, "v", e, sizeof e), "4 0 ", 4) == 0);
    assert_true(strncmp(uentry(f, "c2", 1, "u", e, sizeof e), "1 2 ", 4) == 0);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{c1}:z:1"), 1);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{c2}:z:1"), 1);
}

/* ------------------------------------------------------------- batches and limits */

/* A body of @n entries with 64-byte user ids "<prefix>-…-<i>" and large scores; malloc'ed. */
static char *big_body(int n, const char *prefix, size_t pad_to)
{
    size_t cap = (size_t)n * 160 + pad_to + 64, o = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    o += (size_t)snprintf(b + o, cap - o, "{\"scores\":[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(b + o, cap - o, "%s{\"user_id\":\"%s-%0*d\",\"score\":[%lld,%d]}", i ? "," : "", prefix,
                              (int)(63 - strlen(prefix)), i, 1000000000000LL + i % 7, -i);
    o += (size_t)snprintf(b + o, cap - o, "]");
    if (pad_to > o + 1) { /* spaces before the closing brace: still the same JSON */
        memset(b + o, ' ', pad_to - o - 1);
        o = pad_to - 1;
    }
    snprintf(b + o, cap - o, "}");
    return b;
}

static void batch_of_1000_and_body_limits(void **st)
{
    it_fix_t *f = *st;
    it_resp_t r;
    new_board(f, "big", 2, "set", 0);
    for (it_http_ver_t v = IT_HTTP1; v <= IT_HTTP2; v++) {
        char *body = big_body(1000, v == IT_HTTP1 ? "h1" : "h2", 0);
        assert_true(strlen(body) > 64 * 1024 && strlen(body) <= 128 * 1024);
        assert_int_equal(admin(&r, f, v, "POST", "/v1/admin/boards/big/scores", body, NULL), 200);
        assert_int_equal(it_json_int(r.json, "accepted"), 1000);
        it_resp_free(&r);
        free(body);
    }
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{big}:z:1"), 2000);
    assert_int_equal(it_redis_int(f->redis, "HLEN tk:lb:{big}:u:1"), 2000);
    assert_int_equal(xlen(f, "big"), 2000);
    assert_int_equal(bfield(f, "big", "seq"), 2000);
    /* Exactly 128 KiB passes; one byte more is 413 on both versions, and nothing is written. */
    for (it_http_ver_t v = IT_HTTP1; v <= IT_HTTP2; v++) {
        char *at = big_body(10, v == IT_HTTP1 ? "at1" : "at2", 128 * 1024), *over = big_body(10, "ov", 128 * 1024 + 1);
        assert_int_equal(strlen(at), 128 * 1024);
        assert_int_equal(admin(&r, f, v, "POST", "/v1/admin/boards/big/scores", at, NULL), 200);
        assert_int_equal(it_json_int(r.json, "accepted"), 10);
        it_resp_free(&r);
        assert_int_equal(admin(&r, f, v, "POST", "/v1/admin/boards/big/scores", over, NULL), 413);
        assert_string_equal(it_resp_error_code(&r), "too_large");
        it_resp_free(&r);
        free(at);
        free(over);
    }
    assert_int_equal(xlen(f, "big"), 2020);
    /* 16 KiB still holds on the other routes, the board create and season routes included. */
    char *mid = big_body(10, "mid", 16 * 1024 + 1);
    assert_int_equal(admin(&r, f, IT_HTTP1, "POST", "/v1/admin/boards", mid, NULL), 413);
    it_resp_free(&r);
    assert_int_equal(admin(&r, f, IT_HTTP2, "POST", "/v1/admin/boards/big/seasons", mid, NULL), 413);
    it_resp_free(&r);
    assert_int_equal(admin(&r, f, IT_HTTP1, "POST", "/v1/admin/events", mid, NULL), 413);
    assert_string_equal(it_resp_error_code(&r), "too_large");
    it_resp_free(&r);
    free(mid);
    assert_int_equal(bfield(f, "big", "season"), 1);
    /* The counters of /metrics saw every entry. */
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", "/metrics", NULL), 0);
    assert_non_null(strstr(r.body, "tk_board_writes_total{result=\"applied\"} 2020\n"));
    assert_non_null(strstr(r.body, "tk_board_writes_total{result=\"invalid\"} 0\n"));
    it_resp_free(&r);
}

static void bad_input_changes_nothing(void **st)
{
    it_fix_t *f = *st;
    new_board(f, "bad", 1, "incr", 0);
    write1(f, "bad", "u", 5, 0, 1, 1);
    char before[4096], after[4096];
    books(f, "bad", before, sizeof before);
    char *many = big_body(1001, "m", 0);
    const struct {
        const char *path, *body;
        long status;
        const char *code;
    } bad[] = {
        {"/v1/admin/boards/bad/scores", "", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "[]", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{\"scores\":{}}", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{\"scores\":[]}", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", many, 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{\"scores\":[{\"user_id\":\"bad id\",\"score\":[1]}]}", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{\"scores\":[{\"user_id\":\"u\",\"score\":[\"1\"]}]}", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{\"scores\":[{\"user_id\":\"u\",\"score\":[99999999999999999999]}]}", 400, "bad_request"},
        {"/v1/admin/boards/bad/scores", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]},{\"user_id\":\"u\",\"score\":[1],\"score\":[2]}]}",
         400, "bad_request"},
        {"/v1/admin/boards/nope/scores", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}", 404, "not_found"},
        {"/v1/admin/boards/BAD/scores", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}", 400, "bad_request"},
        {"/v1/admin/boards/nope/seasons", NULL, 404, "not_found"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_resp_t r;
        if (admin(&r, f, IT_HTTP1, "POST", bad[i].path, bad[i].body, NULL) != bad[i].status)
            it_show(bad[i].path, &r);
        assert_int_equal(r.status, bad[i].status);
        assert_string_equal(it_resp_error_code(&r), bad[i].code);
        it_resp_free(&r);
    }
    free(many);
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "POST", "/v1/admin/boards/bad/scores", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}"),
                     0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "POST", "/v1/admin/boards/bad/seasons", NULL), 0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
    books(f, "bad", after, sizeof after);
    assert_string_equal(after, before);
    assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{nope}"), 0);
}

/* ------------------------------------------------------------- seasons */

/* The "<start> <end>" of season @s into *@start, *@end. */
static void season_span(const it_fix_t *f, const char *board, int s, long long *start, long long *end)
{
    char key[128], v[64], n[16];
    snprintf(key, sizeof key, "tk:lb:{%s}:sn", board);
    snprintf(n, sizeof n, "%d", s);
    hget(f, key, n, v, sizeof v);
    assert_int_equal(sscanf(v, "%lld %lld", start, end), 2);
}

static void schedule_rollover(void **st)
{
    it_fix_t *f = *st;
    char e[128];
    new_board(f, "sched", 1, "set", 1);
    long long start = bfield(f, "sched", "start");
    assert_int_equal(write_ok(f, "sched", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}", 1, 0), 1);
    while (tk_time_now_ms() < start + 1100)
        usleep(20000);
    /* The first write past the end moves the board to season 2 before it applies. */
    assert_int_equal(write_ok(f, "sched", "{\"scores\":[{\"user_id\":\"v\",\"score\":[2]}]}", 1, 0), 2);
    long long s1, e1, s2, e2;
    season_span(f, "sched", 1, &s1, &e1);
    season_span(f, "sched", 2, &s2, &e2);
    assert_int_equal(s1, start);
    assert_int_equal(e1, start + 1000);
    assert_int_equal(s2, start + 1000);
    assert_int_equal(e2, 0);
    assert_int_equal(bfield(f, "sched", "season"), 2);
    assert_int_equal(bfield(f, "sched", "start"), start + 1000);
    /* The closed season keeps its entries; the new one has only the new write. */
    assert_true(strncmp(uentry(f, "sched", 1, "u", e, sizeof e), "1 0 ", 4) == 0);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{sched}:z:1"), 1);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{sched}:z:2"), 1);
    long long t;
    sscanf(uentry(f, "sched", 2, "v", e, sizeof e), "%*d %*d %lld", &t);
    assert_true(t >= start + 1000 && t < start + 2000);
    /* Skipped periods: past the end of season 4, the next write lands in the season the clock says. */
    while (tk_time_now_ms() < start + 4100)
        usleep(20000);
    long long s = write_ok(f, "sched", "{\"scores\":[{\"user_id\":\"w\",\"score\":[3]}]}", 1, 0);
    sscanf(uentry(f, "sched", (int)s, "w", e, sizeof e), "%*d %*d %lld", &t);
    assert_true(s >= 5);
    assert_int_equal(s, 1 + (t - start) / 1000); /* the season its time falls in */
    long long ss, se;
    season_span(f, "sched", (int)s, &ss, &se);
    assert_int_equal(ss, start + (s - 1) * 1000);
    assert_int_equal(se, 0);
    season_span(f, "sched", 2, &s2, &e2);
    assert_int_equal(e2, start + 2000);
    /* The rollover entries of the stream: season and start. */
    redisReply *x = it_redis_must(f->redis, "XRANGE tk:lb:{sched}:q - +");
    int rolls = 0;
    for (size_t i = 0; i < x->elements; i++) {
        redisReply *fl = x->element[i]->element[1];
        if (strcmp(fl->element[1]->str, "r") == 0) {
            rolls++;
            assert_string_equal(fl->element[2]->str, "s");
            assert_string_equal(fl->element[4]->str, "t");
            assert_int_equal(atoll(fl->element[5]->str), start + (atoll(fl->element[3]->str) - 1) * 1000);
        }
    }
    freeReplyObject(x);
    assert_int_equal(rolls, 2);
    /* Seasons 1 and 2 are within current - 3 only when s is 5: then season 1 waits in the drop list (its
       entry is not acked: no worker here), 2 kept. */
    if (s == 5) {
        assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{sched}:z:1"), 1);
        assert_int_equal(it_redis_int(f->redis, "LLEN tk:lb:{sched}:drop"), 1);
        assert_int_equal(it_redis_int(f->redis, "HGET tk:lb:{sched}:pend 1"), 1);
        assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{sched}:z:2"), 1);
    }
}

/*
 * A scheduled rollover made by a call that applies nothing (its one entry
 * invalid: two components to a board of one) still moves the board's clock
 * last_t up to the new season's start, so that after a backwards step of
 * the server's clock no entry of the new season gets a time before its start.
 */
static void scheduled_rollover_moves_last_t(void **st)
{
    it_fix_t *f = *st;
    new_board(f, "lastt", 1, "set", 1);
    long long start = bfield(f, "lastt", "start");
    while (tk_time_now_ms() < start + 1100)
        usleep(20000);
    it_resp_t r; /* 400: no valid entry; the call ran (the components are the script's to check) */
    assert_int_equal(scores(&r, f, "lastt", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1,2]}]}"), 400);
    it_resp_free(&r);
    assert_int_equal(bfield(f, "lastt", "season"), 2);
    assert_int_equal(bfield(f, "lastt", "start"), start + 1000);
    assert_int_equal(bfield(f, "lastt", "last_t"), start + 1000);
    assert_int_equal(bfield(f, "lastt", "seq"), 0);
}

static long roll(it_resp_t *r, const it_fix_t *f, const char *board)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/admin/boards/%s/seasons", board);
    return admin(r, f, IT_HTTP1, "POST", path, NULL, NULL);
}

static void manual_rollover_keeps_three_closed(void **st)
{
    it_fix_t *f = *st;
    char body[256];
    new_board(f, "man", 1, "set", 0);
    long long start = bfield(f, "man", "start");
    for (int s = 1; s <= 6; s++) {
        snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"u%d\",\"score\":[%d]}]}", s, s);
        assert_int_equal(write_ok(f, "man", body, 1, 0), s);
        if (s == 6)
            break;
        it_resp_t r;
        long long t0 = tk_time_now_ms();
        assert_int_equal(roll(&r, f, "man"), 201);
        assert_int_equal(it_json_int(r.json, "season"), s + 1);
        const json_t *prev = json_object_get(r.json, "previous");
        assert_int_equal(it_json_int(prev, "season"), s);
        assert_string_equal(it_json_str(prev, "ended_at"), it_json_str(r.json, "started_at"));
        it_resp_free(&r);
        long long ps, pe, ns, ne;
        season_span(f, "man", s, &ps, &pe);
        season_span(f, "man", s + 1, &ns, &ne);
        assert_int_equal(pe, ns);
        assert_int_equal(ne, 0);
        assert_true(ns >= t0 - 5 && ns <= tk_time_now_ms() + 5);
        if (s == 1)
            assert_int_equal(ps, start);
    }
    /* Current 6: kept 3, 4, 5 (closed) and 6; 1 and 2 out of the window, but each has an entry not acked
       (no worker here): listed in the drop list, their keys still there. */
    for (int s = 1; s <= 6; s++) {
        assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{man}:z:%d", s), 1);
        assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{man}:u:%d", s), 1);
        assert_int_equal(it_redis_int(f->redis, "HGET tk:lb:{man}:pend %d", s), 1);
    }
    redisReply *dl = it_redis_must(f->redis, "LRANGE tk:lb:{man}:drop 0 -1");
    assert_int_equal(dl->elements, 2);
    assert_string_equal(dl->element[0]->str, "1");
    assert_string_equal(dl->element[1]->str, "2");
    freeReplyObject(dl);
    /* Season 1's entry acked (as lua/lb_ack.lua leaves it: the field removed at 0), 2's not: the next write
       UNLINKs season 1 only; then 2's too, and the one after that UNLINKs it. */
    freeReplyObject(it_redis_must(f->redis, "HDEL tk:lb:{man}:pend 1"));
    assert_int_equal(write_ok(f, "man", "{\"scores\":[{\"user_id\":\"u7\",\"score\":[7]}]}", 1, 0), 6);
    assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{man}:z:1 tk:lb:{man}:u:1"), 0);
    assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{man}:z:2 tk:lb:{man}:u:2"), 2);
    assert_int_equal(it_redis_int(f->redis, "LLEN tk:lb:{man}:drop"), 1);
    assert_int_equal(it_redis_int(f->redis, "HGET tk:lb:{man}:pend 6"), 2);
    freeReplyObject(it_redis_must(f->redis, "HDEL tk:lb:{man}:pend 2"));
    assert_int_equal(write_ok(f, "man", "{\"scores\":[{\"user_id\":\"u8\",\"score\":[8]}]}", 1, 0), 6);
    assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{man}:z:2 tk:lb:{man}:u:2"), 0);
    assert_int_equal(it_redis_int(f->redis, "EXISTS tk:lb:{man}:drop"), 0);
    assert_int_equal(it_redis_int(f->redis, "HGET tk:lb:{man}:pend 6"), 3);
    char e3[128];
    assert_true(strncmp(uentry(f, "man", 3, "u3", e3, sizeof e3), "3 0 ", 4) == 0);
    assert_int_equal(it_redis_int(f->redis, "HLEN tk:lb:{man}:sn"), 6);
    assert_int_equal(bfield(f, "man", "season"), 6);
    assert_int_equal(bfield(f, "man", "len"), 0);
    /* On a schedule, a rollover by hand restarts the period: the next season ends len after it. */
    new_board(f, "mansched", 1, "set", 1);
    usleep(300000);
    it_resp_t r;
    assert_int_equal(roll(&r, f, "mansched"), 201);
    it_resp_free(&r);
    long long s2 = bfield(f, "mansched", "start"), ps, pe;
    season_span(f, "mansched", 1, &ps, &pe);
    assert_int_equal(pe, s2);
    assert_true(s2 >= ps + 300);
    while (tk_time_now_ms() < s2 + 1100)
        usleep(20000);
    long long s = write_ok(f, "mansched", "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}", 1, 0), t;
    char e[128];
    sscanf(uentry(f, "mansched", (int)s, "u", e, sizeof e), "%*d %*d %lld", &t);
    assert_true(s >= 3);
    assert_int_equal(s, 2 + (t - s2) / 1000); /* periods counted from the rollover by hand, not from the create */
    assert_int_equal(bfield(f, "mansched", "start"), s2 + (s - 2) * 1000);
}

/* ------------------------------------------------------------- a write racing a rollover */

#define RACERS 3
#define RACE_REQS 40
#define RACE_ENTRIES 25
#define RACE_ROLLS 3 /* seasons 1..4: all kept in Redis, so every entry can be found */

typedef struct {
    const it_fix_t *f;
    int id;
    long long accepted;
    int failures;
} racer_t;

static void *racer(void *arg)
{
    racer_t *x = arg;
    char body[RACE_ENTRIES * 64 + 32];
    for (int q = 0; q < RACE_REQS; q++) {
        size_t o = (size_t)snprintf(body, sizeof body, "{\"scores\":[");
        for (int i = 0; i < RACE_ENTRIES; i++)
            o += (size_t)snprintf(body + o, sizeof body - o, "%s{\"user_id\":\"r%d-%d-%d\",\"score\":[%d]}", i ? "," : "", x->id, q, i,
                                  q * 100 + i);
        snprintf(body + o, sizeof body - o, "]}");
        it_resp_t r;
        if (admin(&r, x->f, x->id % 2 ? IT_HTTP2 : IT_HTTP1, "POST", "/v1/admin/boards/race/scores", body, NULL) == 200)
            x->accepted += it_json_int(r.json, "accepted");
        else
            x->failures++;
        it_resp_free(&r);
    }
    return NULL;
}

static void writes_racing_rollovers(void **st)
{
    it_fix_t *f = *st;
    new_board(f, "race", 1, "set", 0);
    pthread_t t[RACERS];
    racer_t x[RACERS];
    for (int i = 0; i < RACERS; i++) {
        x[i] = (racer_t){.f = f, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, racer, &x[i]), 0);
    }
    for (int k = 0; k < RACE_ROLLS; k++) {
        usleep(150000);
        it_resp_t r;
        assert_int_equal(roll(&r, f, "race"), 201);
        it_resp_free(&r);
    }
    long long accepted = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(x[i].failures, 0);
        accepted += x[i].accepted;
    }
    assert_int_equal(accepted, RACERS * RACE_REQS * RACE_ENTRIES);
    assert_int_equal(bfield(f, "race", "season"), RACE_ROLLS + 1);
    long long span[RACE_ROLLS + 2][2];
    for (int s = 1; s <= RACE_ROLLS + 1; s++)
        season_span(f, "race", s, &span[s][0], &span[s][1]);
    /* Every score entry of the stream: in the users hash of its season (exactly its values), its time inside that season. */
    size_t nsc = 0;
    sc_t *sc = stream_scores(f, "race", &nsc);
    long long entries = 0, per_season[RACE_ROLLS + 2] = {0};
    for (size_t i = 0; i < nsc; i++) {
        int s = sc[i].season;
        assert_true(s >= 1 && s <= RACE_ROLLS + 1);
        const char *user = sc[i].user;
        long long t_ms = atoll(sc[i].t);
        char want[128], got[128];
        snprintf(want, sizeof want, "%s %s %s %s", sc[i].a, sc[i].b, sc[i].t, sc[i].q);
        assert_string_equal(uentry(f, "race", s, user, got, sizeof got), want);
        assert_true(t_ms >= span[s][0]);
        if (span[s][1] != 0)
            assert_true(t_ms < span[s][1]);
        for (int o = 1; o <= RACE_ROLLS + 1; o++) /* in no other season */
            if (o != s)
                assert_string_equal(uentry(f, "race", o, user, got, sizeof got), "");
        entries++;
        per_season[s]++;
    }
    free(sc);
    assert_int_equal(entries, accepted);
    long long in_hashes = 0;
    for (int s = 1; s <= RACE_ROLLS + 1; s++) {
        assert_int_equal(it_redis_int(f->redis, "HLEN tk:lb:{race}:u:%d", s), per_season[s]);
        assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{race}:z:%d", s), per_season[s]);
        in_hashes += per_season[s];
    }
    assert_int_equal(in_hashes, accepted);
    /* The race really straddled rollovers: more than one season got writes. */
    int seasons_written = 0;
    for (int s = 1; s <= RACE_ROLLS + 1; s++)
        seasons_written += per_season[s] > 0;
    assert_true(seasons_written >= 2);
}


/* ------------------------------------------------------------- batching, NOSCRIPT, Redis away */

#define BURST 60

static void batching_noscript_and_redis_away(void **st)
{
    it_fix_t *f = *st;
    char auth[128], e[128];
    new_board(f, "burst", 1, "incr", 0);
    /* Many requests at once on one HTTP/2 connection (written back to back, so the gateway reads several in one
     * loop turn): every one answered, in fewer script calls than requests (one per board per loop turn). */
    const char *line = it_api_auth_header(f, IT_ADMIN, auth);
    it_h2_req_t reqs[BURST];
    char bodies[BURST][128];
    for (int i = 0; i < BURST; i++) {
        snprintf(bodies[i], sizeof bodies[i], "{\"scores\":[{\"user_id\":\"b%d\",\"score\":[%d]},{\"user_id\":\"all\",\"score\":[1]}]}", i, i);
        reqs[i] = (it_h2_req_t){.method = "POST", .path = "/v1/admin/boards/burst/scores", .body = bodies[i], .auth_line = line};
    }
    it_h2_t *c = it_h2_connect(f->gw.http_port);
    assert_non_null(c);
    assert_int_equal(it_h2_run(&c, 1, reqs, BURST, BURST, 0, 1, 20000, NULL, NULL), BURST);
    it_h2_close(c);
    for (int i = 0; i < BURST; i++) {
        if (reqs[i].status != 200)
            fprintf(stderr, "request %d: %d %s\n", i, reqs[i].status, reqs[i].resp ? reqs[i].resp : "");
        assert_int_equal(reqs[i].status, 200);
        assert_non_null(strstr(reqs[i].resp, "\"accepted\":2,"));
    }
    it_h2_free_bodies(reqs, BURST);
    assert_true(strncmp(uentry(f, "burst", 1, "all", e, sizeof e), "60 0 ", 5) == 0); /* every incr applied once */
    assert_int_equal(it_redis_int(f->redis, "HLEN tk:lb:{burst}:u:1"), BURST + 1);
    it_resp_t r;
    assert_int_equal(it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", "/metrics", NULL), 0);
    const char *mc = strstr(r.body, "\ntk_board_write_calls_total ");
    assert_non_null(mc);
    long long calls = atoll(mc + strlen("\ntk_board_write_calls_total "));
    it_resp_free(&r);
    fprintf(stderr, "%d requests in %lld script calls\n", BURST, calls);
    assert_true(calls >= 1 && calls * 4 <= BURST);

    /* SCRIPT FLUSH: the next write loads the script again and applies, once. */
    freeReplyObject(it_redis_must(f->redis, "SCRIPT FLUSH"));
    write1(f, "burst", "all", 5, 0, 1, 1);
    assert_true(strncmp(uentry(f, "burst", 1, "all", e, sizeof e), "65 0 ", 5) == 0);

    /* Redis away: 503 with Retry-After, for writes and rollovers; back: writes apply again. */
    assert_int_equal(it_services("stop-redis", IT_SVC_MS), 0);
    assert_int_equal(scores(&r, f, "burst", "{\"scores\":[{\"user_id\":\"all\",\"score\":[1]}]}"), 503);
    assert_string_equal(it_resp_error_code(&r), "unavailable");
    assert_string_equal(r.retry_after, "1");
    it_resp_free(&r);
    assert_int_equal(roll(&r, f, "burst"), 503);
    it_resp_free(&r);
    assert_int_equal(it_services("start-redis", IT_SVC_MS), 0);
    it_fix_reconnect(f);
    long long until = tk_time_now_ms() + 15000;
    long status = 0;
    while ((status = scores(&r, f, "burst", "{\"scores\":[{\"user_id\":\"all\",\"score\":[1]}]}")) != 200 && tk_time_now_ms() < until) {
        it_resp_free(&r);
        usleep(100000);
    }
    assert_int_equal(status, 200);
    it_resp_free(&r);
    assert_true(strncmp(uentry(f, "burst", 1, "all", e, sizeof e), "66 0 ", 5) == 0);
}


/* ------------------------------------------------------------- the bound on entries held for Redis */

#define SHED_REQS 25 /* of 1,000 entries: 20 fit the 20,000 a thread holds, 5 are shed */

typedef struct {
    it_multi_req_t *reqs;
} shed_run_t;

static void *shed_send(void *arg)
{
    shed_run_t *x = arg;
    it_http_multi(x->reqs, SHED_REQS, SHED_REQS, IT_HTTP1, 30000);
    return NULL;
}

#define DOWN_REQS 4 /* score writes in flight when the gateway stops */

static void entries_held_are_bounded(void **st)
{
    it_fix_t *f = *st;
    char auth[128], url[512];
    new_board(f, "shed", 2, "set", 0);
    const char *h[2] = {it_api_auth_header(f, IT_ADMIN, auth), NULL};
    snprintf(url, sizeof url, "%s/v1/admin/boards/shed/scores", f->gw.base_url);
    it_multi_req_t reqs[SHED_REQS];
    char *bodies[SHED_REQS], prefix[16];
    for (int i = 0; i < SHED_REQS; i++) {
        snprintf(prefix, sizeof prefix, "s%02d", i);
        bodies[i] = big_body(1000, prefix, 0);
        reqs[i] = (it_multi_req_t){.method = "POST", .url = url, .body = bodies[i], .headers = h};
    }
    pid_t rp = it_service_pid("redis/redis.pid");
    assert_true(rp > 0);
    /* Redis frozen (below the 3 s stall rule): the first 20 requests are held, the rest shed at once. */
    assert_int_equal(kill(rp, SIGSTOP), 0);
    shed_run_t run = {reqs};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, shed_send, &run), 0);
    usleep(2000000); /* all arrive meanwhile (/metrics cannot tell: it reads Redis too) */
    kill(rp, SIGCONT);
    pthread_join(t, NULL);
    int ok = 0, refused = 0;
    for (int i = 0; i < SHED_REQS; i++) {
        if (reqs[i].resp.status != 200 && reqs[i].resp.status != 503)
            it_show("held or shed", &reqs[i].resp);
        if (reqs[i].resp.status == 200 && it_json_int(reqs[i].resp.json, "accepted") == 1000)
            ok++;
        else if (reqs[i].resp.status == 503 && strcmp(reqs[i].resp.retry_after, "1") == 0)
            refused++;
        it_resp_free(&reqs[i].resp);
        free(bodies[i]);
    }
    assert_int_equal(ok, 20);
    assert_int_equal(refused, SHED_REQS - 20);
    assert_int_equal(it_redis_int(f->redis, "ZCARD tk:lb:{shed}:z:1"), 20000);
    assert_int_equal(xlen(f, "shed"), 20000);
}

/* The fixture with a short drain at shutdown (GW_SHUTDOWN_TIMEOUT_MS): a stop is not held 10 s by open connections. */
static int fix_quick_shutdown(void **st)
{
    return it_fix_new0_env(st, "GW_SHUTDOWN_TIMEOUT_MS", "300");
}

/*
 * A gateway stopped while score writes wait for a frozen Redis exits
 * cleanly. The clients give up first and the stop's drain is short, so
 * the thread is torn down with the writes' script call still in flight;
 * its callback then runs when the thread's Redis connection is torn down. Before the fix the board writer was freed before that teardown,
 * whose callbacks then wrote into it: ASan's heap-use-after-free, exit 1.
 */
static void a_shutdown_with_writes_in_flight_exits_clean(void **st)
{
    it_fix_t *f = *st;
    char auth[128], url[512];
    new_board(f, "down", 1, "set", 0);
    const char *h[2] = {it_api_auth_header(f, IT_ADMIN, auth), NULL};
    snprintf(url, sizeof url, "%s/v1/admin/boards/down/scores", f->gw.base_url);
    it_multi_req_t reqs[DOWN_REQS];
    for (int i = 0; i < DOWN_REQS; i++)
        reqs[i] = (it_multi_req_t){.method = "POST", .url = url, .body = "{\"scores\":[{\"user_id\":\"u\",\"score\":[1]}]}", .headers = h};
    pid_t rp = it_service_pid("redis/redis.pid");
    assert_true(rp > 0);
    assert_int_equal(kill(rp, SIGSTOP), 0);
    it_http_multi(reqs, DOWN_REQS, DOWN_REQS, IT_HTTP1, 400); /* sent, then given up on: no answer while Redis is frozen */
    for (int i = 0; i < DOWN_REQS; i++) {
        assert_int_equal(reqs[i].resp.status, 0); /* no answer came: the call was still in flight */
        it_resp_free(&reqs[i].resp);
    }
    assert_int_equal(it_proc_signal(&f->gw.proc, SIGTERM), 0);
    long long t0 = it_now_ms();
    int rc = it_proc_wait(&f->gw.proc, 30000);
    print_message("the gateway exited %lld ms after SIGTERM (status %d)\n", it_now_ms() - t0, rc);
    kill(rp, SIGCONT);
    if (rc != 0)
        it_proc_log_tail(&f->gw.proc, 40);
    assert_int_equal(rc, 0);
}

/* The fixture with admin routes on the cleartext port, for it_h2 (cleartext HTTP/2 only). */
static int fix_admin_http(void **st)
{
    return it_fix_new0_env(st, "ADMIN_ON_HTTP", "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_writes_both_stores, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(create_refuses_bad_bodies, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(tie_break_both_orders, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(operators, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(range_edges, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(components, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(batch_of_1000_and_body_limits, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(schedule_rollover, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(manual_rollover_keeps_three_closed, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(scheduled_rollover_moves_last_t, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(writes_racing_rollovers, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(batching_noscript_and_redis_away, fix_admin_http, it_fix_free_redis_up),
        cmocka_unit_test_setup_teardown(entries_held_are_bounded, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(a_shutdown_with_writes_in_flight_exits_clean, fix_quick_shutdown, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_boards_write", tests, it_group_setup, NULL);
}
