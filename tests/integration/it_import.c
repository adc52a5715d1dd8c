/*
 * it_import: tk-import and its export (tools/tk_import_*.c, lua/lb_import.lua;
 * docs/DESIGN.md "Leaderboards: import and export"), against real Redis and
 * MariaDB, run as the Redis ACL user tk-admin:
 *
 *  - good_file_loads_exactly: 5,000 rows (header, ties on score broken by
 *    updated_at, then by user id; the component range's edges) give exactly
 *    the expected zset (scores and members, in rank order), users hash,
 *    board last_t, and MariaDB rows in rank order, the seqs Redis drew;
 *  - no_header_and_time_forms: no header line; updated_at as RFC 3339 with
 *    and without ms, with an offset, and as integer ms; CRLF lines;
 *  - malformed_lines_refused_with_numbers: bad user id, non-integer, out of
 *    range, too few and too many fields, bad and future times, each
 *    reported with its line number; exit 1 and nothing loaded anywhere;
 *  - partial_loads_the_good_lines: the same file with --partial: the good
 *    lines load, the summary counts the refused ones;
 *  - reimport_replaces_without_stale_members: a second file over the
 *    first replaces the users it names (a user twice in it: the later line
 *    wins), ZCARD == HLEN, no old member left, MariaDB agrees;
 *  - export_import_round_trip: an export is the season in rank order in the
 *    import format; imported into a fresh board it gives identical ranks;
 *  - one_component_board: user_id,score,updated_at lines (and the 4-column
 *    form with exp 0; exp 5 refused), members without a c2 key, its export;
 *  - board_from_the_admin_route: a board made by POST /v1/admin/boards,
 *    imported (GET …/top shows its ranks and times), then written by
 *    …/scores (which replaces an imported
 *    member); a write not drained blocks the import; drained, the import
 *    replaces a member the route wrote (with its seq);
 *  - import_between_live_writes: with a worker draining, the import's seqs
 *    beat the route's earlier writes in both stores; a later route write
 *    beats the imported row in MariaDB too; the export agrees;
 *  - import_races_a_live_write (H1): the worker stopped around the import,
 *    so a route write before it is drained after its MariaDB upsert: the
 *    import wins in both stores; a route write after it wins in both;
 *  - export_reimport_keeps_ties (M2): two users tied in one ms keep their
 *    order through an export and an import into a new board;
 *  - import_keeps_to_the_clock (M3): lb_import.lua refuses a season its
 *    schedule ended and keeps last_t at most Redis's TIME; the CLI refuses
 *    an updated_at more than 1 s ahead;
 *  - refusals_of_board_and_season: an unknown board, a season past the
 *    current one, a season ended by its schedule, a board Redis lost: exit
 *    1, nothing written; a season Redis no longer keeps: MariaDB only (seq
 *    0); the export notes the backlog it cannot contain.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_keys.h"
#include "tk_lua.h"
#include "tk_lb.h"
#include "tk_time.h"

#define CMD_MS 60000
#define ROWS 5000
#define OUT_MAX (1 << 20)
#define T0 INT64_C(1764000000000) /* 2025-11-24: a past time for every row */

typedef struct {
    char user[32];
    int64_t c1, c2, t;
} row_t;

typedef struct {
    redisContext *rc;
    MYSQL *db;
    char out[OUT_MAX], errout[OUT_MAX]; /* the last run's stdout and stderr */
} fix_t;

/* ------------------------------------------------------------- helpers */

static int setup(void **st)
{
    fix_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->rc = it_redis_connect();
    f->db = it_db_connect();
    if (f->rc == NULL || f->db == NULL || it_redis_flushall(f->rc) != 0 || it_db_exec(f->db, "DELETE FROM board_scores") != 0 ||
        it_db_exec(f->db, "DELETE FROM board_seasons") != 0 || it_db_exec(f->db, "DELETE FROM boards") != 0)
        return -1;
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fix_t *f = *st;
    if (f->rc != NULL)
        redisFree(f->rc);
    if (f->db != NULL)
        mysql_close(f->db);
    free(f);
    return 0;
}

/* A board as the create route leaves it (docs/CONTRACTS.md): the MariaDB row first, then the board hash, seasons, set and stream group. */
static void create_board(fix_t *f, const char *b, int comps)
{
    int64_t now = tk_time_now_ms();
    assert_int_equal(it_db_exec(f->db,
                                "INSERT INTO boards (board_id, name, components, operator, season_length_s, created_at) "
                                "VALUES ('%s', 'Board %s', %d, 'best', 0, UTC_TIMESTAMP(3))",
                                b, b, comps),
                     0);
    char key[TK_KEY_MAX];
    assert_true(tk_lb_key(TK_LB_BOARD, b, strlen(b), 0, key) > 0);
    redisReply *r = redisCommand(f->rc, "HSET %s name %s comps %d op best len 0 season 1 start %" PRId64 " last_t 0 seq 0 created %" PRId64,
                                 key, b, comps, now, now);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    assert_true(tk_lb_key(TK_LB_SEASONS, b, strlen(b), 0, key) > 0);
    r = redisCommand(f->rc, "HSET %s 1 %" PRId64 " 0", key, now);
    freeReplyObject(r);
    r = redisCommand(f->rc, "SADD %s %s", TK_KEY_BOARDS, b);
    freeReplyObject(r);
    assert_true(tk_lb_key(TK_LB_STREAM, b, strlen(b), 0, key) > 0);
    r = redisCommand(f->rc, "XGROUP CREATE %s wk $ MKSTREAM", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}


/* Runs tk-import with @args (NULL-terminated); stdout and stderr into f->out and f->errout. Returns the exit code. */
static int run_import(fix_t *f, const char *const *args)
{
    const it_env_t *env = it_env();
    char outp[1024], errp[1024];
    snprintf(outp, sizeof outp, "%s/it_import.out", env->it_dir);
    snprintf(errp, sizeof errp, "%s/it_import.err", env->it_dir);
    int rc = it_run_tool("tk-import", args, outp, errp, CMD_MS);
    it_read_file(outp, f->out, sizeof f->out);
    it_read_file(errp, f->errout, sizeof f->errout);
    if (rc != 0)
        fprintf(stderr, "tk-import exit %d\nstdout: %s\nstderr: %s\n", rc, f->out, f->errout);
    return rc;
}

/* A path in the test directory for @name. */
static const char *tmp_path(const char *name)
{
    static char p[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", it_env()->it_dir, name);
    return p[i];
}

static void write_text(const char *path, const char *text)
{
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    assert_int_equal(fputs(text, o) >= 0, 1);
    assert_int_equal(fclose(o), 0);
}

/* Writes @n rows as CSV (RFC 3339 times; with a header line when @header). */
static void write_rows(const char *path, const row_t *rows, size_t n, int comps, int header)
{
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    if (header)
        fputs(comps == 2 ? "user_id,level,exp,updated_at\n" : "user_id,score,updated_at\n", o);
    for (size_t i = 0; i < n; i++) {
        char t[TK_TIME_RFC3339_LEN + 1];
        tk_time_format_rfc3339(rows[i].t, t);
        if (comps == 2)
            fprintf(o, "%s,%" PRId64 ",%" PRId64 ",%s\n", rows[i].user, rows[i].c1, rows[i].c2, t);
        else
            fprintf(o, "%s,%" PRId64 ",%s\n", rows[i].user, rows[i].c1, t);
    }
    assert_int_equal(fclose(o), 0);
}

/* Rank order: c1 DESC, c2 DESC, t ASC, then user id bytes ASC (the file order of ties in every file here: their seqs' order). */
static int by_rank(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->c1 != y->c1)
        return x->c1 > y->c1 ? -1 : 1;
    if (x->c2 != y->c2)
        return x->c2 > y->c2 ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return strcmp(x->user, y->user);
}

/* ROWS rows with many ties: 50 levels, 13 exps (negative ones too), 17 times; the range's edges on rows 0-3. */
static row_t *gen_rows(size_t n, int comps, const char *prefix)
{
    row_t *r = calloc(n, sizeof(*r));
    assert_non_null(r);
    for (size_t i = 0; i < n; i++) {
        snprintf(r[i].user, sizeof r[i].user, "%s%05zu", prefix, i);
        r[i].c1 = (int64_t)(i % 50);
        r[i].c2 = comps == 2 ? (int64_t)((i * 7) % 13) - 6 : 0;
        r[i].t = T0 + (int64_t)(i % 17) * 1000;
    }
    r[0].c1 = TK_LB_SCORE_MAX;
    r[1].c1 = -TK_LB_SCORE_MAX;
    if (comps == 2) {
        r[0].c2 = TK_LB_SCORE_MAX;
        r[1].c2 = -TK_LB_SCORE_MAX;
        r[2].c1 = TK_LB_SCORE_MAX;
        r[2].c2 = -TK_LB_SCORE_MAX;
        r[3].c1 = TK_LB_SCORE_MAX;
        r[3].c2 = TK_LB_SCORE_MAX; /* ties r[0] on both: the earlier time ranks first */
        r[3].t = T0 - 1;
    }
    return r;
}

/*
 * Asserts that season 1 of board @b holds exactly @rows (any order; sorted here by rank, ties by user id, which is
 * their file order in every file here) in Redis and MariaDB: each user's entry has the expected values and a real
 * seq (> 0, drawn by lb_import.lua), its member is built from that entry, the zset is in rank order (so the seqs of
 * tied rows follow the order), and MariaDB's row is the same entry, seq included.
 */
static void check_board(fix_t *f, const char *b, int comps, row_t *rows, size_t n)
{
    qsort(rows, n, sizeof(*rows), by_rank);
    char z[TK_KEY_MAX], u[TK_KEY_MAX];
    assert_true(tk_lb_key(TK_LB_RANK, b, strlen(b), 1, z) > 0);
    assert_true(tk_lb_key(TK_LB_USERS, b, strlen(b), 1, u) > 0);
    int64_t *seqs = calloc(n, sizeof(*seqs));
    assert_non_null(seqs);
    redisReply *r = redisCommand(f->rc, "ZRANGE %s 0 -1 WITHSCORES", z);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2 * n);
    for (size_t i = 0; i < n; i++) {
        redisReply *h = redisCommand(f->rc, "HGET %s %s", u, rows[i].user);
        assert_non_null(h);
        tk_lb_entry_t e;
        if (h->type != REDIS_REPLY_STRING || tk_lb_entry_parse(h->str, h->len, &e) != 0)
            fail_msg("rank %zu: user %s has no entry", i + 1, rows[i].user);
        freeReplyObject(h);
        if (e.c1 != rows[i].c1 || e.c2 != rows[i].c2 || e.t_ms != rows[i].t || e.seq <= 0)
            fail_msg("rank %zu: %s's entry %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 ", want %" PRId64 " %" PRId64 " %" PRId64 " seq > 0",
                     i + 1, rows[i].user, e.c1, e.c2, e.t_ms, e.seq, rows[i].c1, rows[i].c2, rows[i].t);
        seqs[i] = e.seq;
        char m[TK_LB_MEMBER_MAX];
        assert_true(tk_lb_member(&e, comps, rows[i].user, strlen(rows[i].user), m) > 0);
        if (strcmp(r->element[2 * i]->str, m) != 0)
            fail_msg("rank %zu: member %s, want %s", i + 1, r->element[2 * i]->str, m);
        assert_true(strtod(r->element[2 * i + 1]->str, NULL) == (double)-rows[i].c1);
    }
    freeReplyObject(r);
    r = redisCommand(f->rc, "HLEN %s", u);
    assert_int_equal(r->integer, (long long)n);
    freeReplyObject(r);
    assert_int_equal(mysql_query(f->db, "COMMIT"), 0);
    char q[512];
    snprintf(q, sizeof q,
             "SELECT user_id, c1, c2, t_ms, seq FROM board_scores WHERE board_id = '%s' AND season = 1 "
             "ORDER BY c1 DESC, c2 DESC, t_ms, seq, user_id",
             b);
    assert_int_equal(mysql_query(f->db, q), 0);
    MYSQL_RES *res = mysql_store_result(f->db);
    assert_non_null(res);
    assert_int_equal(mysql_num_rows(res), n);
    MYSQL_ROW row;
    for (size_t i = 0; (row = mysql_fetch_row(res)) != NULL; i++) {
        if (strcmp(row[0], rows[i].user) != 0 || strtoll(row[1], NULL, 10) != rows[i].c1 || strtoll(row[2], NULL, 10) != rows[i].c2 ||
            strtoll(row[3], NULL, 10) != rows[i].t || strtoll(row[4], NULL, 10) != seqs[i])
            fail_msg("MariaDB rank %zu: %s %s %s %s %s, want %s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, i + 1, row[0], row[1], row[2],
                     row[3], row[4], rows[i].user, rows[i].c1, rows[i].c2, rows[i].t, seqs[i]);
    }
    mysql_free_result(res);
    mysql_query(f->db, "COMMIT");
    free(seqs);
}

static long long zcard(fix_t *f, const char *b)
{
    char z[TK_KEY_MAX];
    tk_lb_key(TK_LB_RANK, b, strlen(b), 1, z);
    redisReply *r = redisCommand(f->rc, "ZCARD %s", z);
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

static long long hlen(fix_t *f, const char *b)
{
    char u[TK_KEY_MAX];
    tk_lb_key(TK_LB_USERS, b, strlen(b), 1, u);
    redisReply *r = redisCommand(f->rc, "HLEN %s", u);
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

static long long db_rows(fix_t *f, const char *b)
{
    return it_db_int(f->db, -1, "SELECT COUNT(*) FROM board_scores WHERE board_id = '%s'", b);
}

/* --------------------------------------------------------------- tests */

static void good_file_loads_exactly(void **st)
{
    fix_t *f = *st;
    create_board(f, "b1", 2);
    row_t *rows = gen_rows(ROWS, 2, "u-");
    const char *csv = tmp_path("good.csv");
    write_rows(csv, rows, ROWS, 2, 1);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b1", csv, NULL}), 0);
    assert_non_null(strstr(f->out, "imported 5000 rows into board b1 season 1 in "));
    assert_non_null(strstr(f->out, " 0 refused"));
    check_board(f, "b1", 2, rows, ROWS);
    /* rank 1 and 2 are the two rows at the top of the range, the earlier time first */
    assert_string_equal(rows[0].user, "u-00003");
    assert_string_equal(rows[1].user, "u-00000");
    assert_string_equal(rows[ROWS - 1].user, "u-00001");
    int64_t max_t = T0 + 16 * 1000;
    redisReply *r = redisCommand(f->rc, "HGET tk:lb:{b1} last_t");
    assert_int_equal(strtoll(r->str, NULL, 10), max_t);
    freeReplyObject(r);
    /* the same file again: every user replaced by itself, the edges too (their old members rebuilt by the script), nothing stale */
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b1", csv, NULL}), 0);
    assert_non_null(strstr(f->out, "5000 users replaced"));
    check_board(f, "b1", 2, rows, ROWS);
    free(rows);
}

static void no_header_and_time_forms(void **st)
{
    fix_t *f = *st;
    create_board(f, "b2", 2);
    const char *csv = tmp_path("forms.csv");
    write_text(csv, "a,1,2,2025-11-24T10:00:00.123Z\n"
                    "b,1,2,2025-11-24T10:00:00Z\r\n"
                    "c,1,2,2025-11-24T12:00:00.500+02:00\n"
                    "d,1,2,1764000000000\n"
                    "\n"
                    "e,007,-0,0\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b2", csv, NULL}), 0);
    assert_non_null(strstr(f->out, "imported 5 rows into board b2 season 1"));
    row_t want[] = {
        {"d", 1, 2, INT64_C(1764000000000)},                          /* 2025-11-24T16:00:00Z */
        {"b", 1, 2, INT64_C(1763978400000)}, {"a", 1, 2, INT64_C(1763978400123)},
        {"c", 1, 2, INT64_C(1763978400500)}, {"e", 7, 0, 0},
    };
    check_board(f, "b2", 2, want, 5);
    assert_string_equal(want[0].user, "e"); /* level 7 first; then 10:00:00.000 < .123 < .500 (12:00:00.500+02:00) < 16:00 */
    assert_string_equal(want[1].user, "b");
    assert_string_equal(want[4].user, "d");
}

static const char BAD_FILE[] = "user_id,level,exp,updated_at\n"      /* 1 */
                               "ok-1,5,5,2025-11-24T10:00:00.000Z\n" /* 2 */
                               "bad user,5,5,1764000000000\n"        /* 3 */
                               "ok-2,6,1,1764000000000\n"            /* 4 */
                               "ok-3,x5,1,1764000000000\n"           /* 5 */
                               "ok-4,9007199254740992,1,1764000000000\n" /* 6 */
                               "ok-5,1,-9007199254740991,1764000000000\n" /* 7: the edge, good */
                               "ok-6,1,1\n"                           /* 8 */
                               "ok-7,1,1,2025-13-01T00:00:00Z\n"      /* 9 */
                               "ok-8,1,1,1,1\n"                       /* 10 */
                               "ok-9,1,1,9999999999999\n";            /* 11: in the future */

static void malformed_lines_refused_with_numbers(void **st)
{
    fix_t *f = *st;
    create_board(f, "b3", 2);
    const char *csv = tmp_path("bad.csv");
    write_text(csv, BAD_FILE);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b3", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "line 3: bad user_id"));
    assert_non_null(strstr(f->errout, "line 5: level is not an integer"));
    assert_non_null(strstr(f->errout, "line 6: level out of range"));
    assert_non_null(strstr(f->errout, "line 8: too few fields"));
    assert_non_null(strstr(f->errout, "line 9: bad updated_at"));
    assert_non_null(strstr(f->errout, "line 10: too many fields"));
    assert_non_null(strstr(f->errout, "line 11: updated_at is in the future"));
    assert_null(strstr(f->errout, "line 2:"));
    assert_null(strstr(f->errout, "line 4:"));
    assert_null(strstr(f->errout, "line 7:"));
    assert_non_null(strstr(f->errout, "nothing imported: 7 lines refused"));
    assert_string_equal(f->out, "");
    assert_int_equal(zcard(f, "b3"), 0);
    assert_int_equal(hlen(f, "b3"), 0);
    assert_int_equal(db_rows(f, "b3"), 0);
    redisReply *r = redisCommand(f->rc, "HGET tk:lb:{b3} last_t");
    assert_string_equal(r->str, "0");
    freeReplyObject(r);

    /* more than 20 refused: the first 20, then the count */
    char *big = malloc(64 * 30 + 64);
    assert_non_null(big);
    big[0] = '\0';
    for (int i = 0; i < 30; i++)
        sprintf(big + strlen(big), "u%d,1,1,notatime\n", i);
    write_text(csv, big);
    free(big);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b3", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "line 20: bad updated_at"));
    assert_null(strstr(f->errout, "line 21:"));
    assert_non_null(strstr(f->errout, "... and 10 more refused lines (30 in all)"));
}

static void partial_loads_the_good_lines(void **st)
{
    fix_t *f = *st;
    create_board(f, "b4", 2);
    const char *csv = tmp_path("bad.csv");
    write_text(csv, BAD_FILE);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b4", "--partial", csv, NULL}), 0);
    assert_non_null(strstr(f->errout, "line 3: bad user_id"));
    assert_non_null(strstr(f->out, "imported 3 rows into board b4 season 1"));
    assert_non_null(strstr(f->out, "), 7 refused"));
    row_t want[] = {
        {"ok-2", 6, 1, INT64_C(1764000000000)},
        {"ok-1", 5, 5, INT64_C(1763978400000)},
        {"ok-5", 1, -TK_LB_SCORE_MAX, INT64_C(1764000000000)},
    };
    check_board(f, "b4", 2, want, 3);
}

static void reimport_replaces_without_stale_members(void **st)
{
    fix_t *f = *st;
    create_board(f, "b5", 2);
    row_t *a = gen_rows(1000, 2, "u-");
    /* users that B replaces, at the range's edges: their old members (rebuilt by the script from the users hash) must go */
    a[500].c2 = TK_LB_SCORE_MAX;
    a[501].c2 = -TK_LB_SCORE_MAX;
    a[502].c1 = -TK_LB_SCORE_MAX;
    a[502].c2 = TK_LB_SCORE_MAX - 1;
    a[503].c2 = 0;
    a[504].t = 0;
    const char *csv = tmp_path("a.csv");
    write_rows(csv, a, 1000, 2, 0);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b5", csv, NULL}), 0);
    /* B: users 500..1499 (500 of them already there) with other values, and u-00600 twice: the later line wins */
    row_t *bro = calloc(1001, sizeof(*bro));
    assert_non_null(bro);
    for (size_t i = 0; i < 1000; i++) {
        snprintf(bro[i].user, sizeof bro[i].user, "u-%05zu", i + 500);
        bro[i].c1 = (int64_t)(i % 9) - 4;
        bro[i].c2 = -(int64_t)(i % 5) * 1000000007;
        bro[i].t = T0 + 500 + (int64_t)(i % 3);
    }
    bro[1000] = (row_t){"u-00600", 77, -77, T0 + 1};
    const char *csv2 = tmp_path("b.csv");
    write_rows(csv2, bro, 1001, 2, 1);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b5", csv2, NULL}), 0);
    assert_non_null(strstr(f->out, "imported 1000 rows into board b5 season 1"));
    assert_non_null(strstr(f->out, "1 lines superseded by a later line of the same user"));
    assert_non_null(strstr(f->out, "500 users replaced"));
    assert_int_equal(zcard(f, "b5"), 1500);
    assert_int_equal(hlen(f, "b5"), 1500);
    /* the expected board: a's first 500, then b (its u-00600 from the last line) */
    row_t *all = calloc(1500, sizeof(*all));
    assert_non_null(all);
    memcpy(all, a, 500 * sizeof(*a));
    memcpy(all + 500, bro, 1000 * sizeof(*bro));
    all[500 + 100] = bro[1000];
    check_board(f, "b5", 2, all, 1500);
    free(a);
    free(bro);
    free(all);
}

static void export_import_round_trip(void **st)
{
    fix_t *f = *st;
    create_board(f, "b6", 2);
    row_t *rows = gen_rows(ROWS, 2, "r-");
    const char *csv = tmp_path("rt.csv"), *exp1 = tmp_path("rt-export.csv");
    write_rows(csv, rows, ROWS, 2, 0);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b6", csv, NULL}), 0);
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "b6", "--season", "1", exp1, NULL}), 0);
    assert_non_null(strstr(f->errout, "exported 5000 rows of board b6 season 1"));
    /* the export is the rank order, in the import's format */
    qsort(rows, ROWS, sizeof(*rows), by_rank);
    const char *wantp = tmp_path("rt-want.csv");
    write_rows(wantp, rows, ROWS, 2, 1);
    static char got[OUT_MAX], want[OUT_MAX];
    it_read_file(exp1, got, sizeof got);
    it_read_file(wantp, want, sizeof want);
    assert_true(strlen(want) > 100000);
    assert_string_equal(got, want);
    /* into a fresh board: the same ranks */
    create_board(f, "b7", 2);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b7", exp1, NULL}), 0);
    assert_non_null(strstr(f->out, "imported 5000 rows into board b7 season 1"));
    check_board(f, "b7", 2, rows, ROWS);
    /* and to standard output, with --season current */
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "b7", NULL}), 0);
    assert_string_equal(f->out, want);
    free(rows);
}

static void one_component_board(void **st)
{
    fix_t *f = *st;
    create_board(f, "b8", 1);
    const char *csv = tmp_path("one.csv");
    write_text(csv, "user_id,score,updated_at\n"
                    "p,10,1764000000002\n"
                    "q,10,1764000000001\n"
                    "r,-3,1764000000000\n"
                    "s,10,0,1764000000001\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b8", csv, NULL}), 0);
    row_t want[] = {{"p", 10, 0, INT64_C(1764000000002)}, {"q", 10, 0, INT64_C(1764000000001)}, {"r", -3, 0, INT64_C(1764000000000)},
                    {"s", 10, 0, INT64_C(1764000000001)}};
    check_board(f, "b8", 1, want, 4);
    assert_string_equal(want[0].user, "q");
    assert_string_equal(want[1].user, "s");
    redisReply *r = redisCommand(f->rc, "ZRANGE tk:lb:{b8}:z:1 0 0");
    assert_string_equal(r->element[0]->str, "17640000000010000000001q"); /* no c2 key: time, seq (rank 1 drew 1), user */
    freeReplyObject(r);
    write_text(csv, "t,1,5,1764000000000\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b8", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "line 1: exp must be 0 or absent on a board of one component"));
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "b8", NULL}), 0);
    assert_string_equal(f->out, "user_id,score,updated_at\n"
                                "q,10,2025-11-24T16:00:00.001Z\n"
                                "s,10,2025-11-24T16:00:00.001Z\n"
                                "p,10,2025-11-24T16:00:00.002Z\n"
                                "r,-3,2025-11-24T16:00:00.000Z\n");
}

static void refusals_of_board_and_season(void **st)
{
    fix_t *f = *st;
    const char *csv = tmp_path("small.csv");
    write_text(csv, "a,1,1,1764000000000\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "nope", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "no board nope"));
    create_board(f, "b9", 2);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", "--season", "2", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "--season 2: no such season (the current one is 1)"));
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", "--season", "x", csv, NULL}), 1);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "Bad!", csv, NULL}), 2);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", NULL}), 2);
    assert_int_equal(zcard(f, "b9"), 0);
    assert_int_equal(db_rows(f, "b9"), 0);
    /* a season ended by its schedule (len 1 s, started at 0): the next write moves the board on first */
    redisReply *r = redisCommand(f->rc, "HSET tk:lb:{b9} len 1 start 0");
    freeReplyObject(r);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "season 1 of board b9 has ended by its schedule"));
    /* a season older than the ones Redis keeps (current 5, keeps 2..5): MariaDB only */
    r = redisCommand(f->rc, "HSET tk:lb:{b9} len 0 season 5");
    freeReplyObject(r);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", "--season", "1", csv, NULL}), 0);
    assert_non_null(strstr(f->out, "imported 1 rows into board b9 season 1"));
    assert_non_null(strstr(f->out, "MariaDB only (season 1 is no longer kept in Redis)"));
    assert_int_equal(zcard(f, "b9"), 0);
    assert_int_equal(db_rows(f, "b9"), 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT c1 * 1000 + c2 FROM board_scores WHERE board_id = 'b9' AND season = 1 AND user_id = 'a'"),
                     1001);
    /* writes the workers have not drained yet: the export says so; the import does not wait for them (seqs decide) */
    r = redisCommand(f->rc, "XADD tk:lb:{b9}:q * k s s 5 u a a 9 b 9 t 1 q 1");
    freeReplyObject(r);
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "b9", "--season", "1", NULL}), 0);
    assert_non_null(strstr(f->errout, "note: 1 writes of board b9 are not in MariaDB yet"));
    assert_string_equal(f->out, "user_id,level,exp,updated_at\na,1,1,2025-11-24T16:00:00.000Z\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", "--season", "1", csv, NULL}), 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT seq FROM board_scores WHERE board_id = 'b9' AND season = 1 AND user_id = 'a'"), 0);
    /* a board Redis lost (MariaDB still has it): refused, rebuild first */
    r = redisCommand(f->rc, "DEL tk:lb:{b9}");
    freeReplyObject(r);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "b9", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "board b9 is in MariaDB but not in Redis: rebuild it first"));
}

/* POST @path with @body as the admin; the status. */
static long admin_post(const it_fix_t *g, const char *path, const char *body)
{
    it_resp_t r;
    char auth[128], url[1024];
    const char *h[2] = {it_api_auth_header(g, IT_ADMIN, auth), NULL};
    snprintf(url, sizeof url, "%s%s", g->gw.base_url, path);
    memset(&r, 0, sizeof r);
    if (it_http(&r, IT_HTTP1, "POST", url, h, body, strlen(body), IT_TIMEOUT_MS) != 0)
        return 0;
    if (r.status != 200 && r.status != 201)
        it_show(path, &r);
    long status = r.status;
    it_resp_free(&r);
    return status;
}

/*
 * A board made by the gateway's create route (no worker: the stream keeps what the route writes), imported into,
 * then written by the score route: the layouts agree (the route's script finds and replaces the imported member,
 * the import finds and replaces a member the route wrote, with its seq); a write not drained does not block it.
 */
static void board_from_the_admin_route(void **st)
{
    it_fix_t *g = *st;
    fix_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->rc = g->redis;
    f->db = g->db;
    assert_int_equal(admin_post(g, "/v1/admin/boards",
                                "{\"board_id\":\"api\",\"name\":\"From the route\",\"components\":2,\"operator\":\"best\"}"),
                     201);
    const char *csv = tmp_path("api.csv");
    write_text(csv, "user_id,level,exp,updated_at\n"
                    "fan-1,10,500,1764000000000\n"
                    "fan-2,10,500,1763000000000\n"
                    "fan-3,3,1,1764000000000\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "api", csv, NULL}), 0);
    row_t want[] = {{"fan-1", 10, 500, INT64_C(1764000000000)}, {"fan-2", 10, 500, INT64_C(1763000000000)},
                    {"fan-3", 3, 1, INT64_C(1764000000000)}};
    check_board(f, "api", 2, want, 3);
    assert_string_equal(want[0].user, "fan-2"); /* the earlier time first */
    /* the public read shows the imported ranks and times */
    it_resp_t top;
    assert_int_equal(it_apif(&top, g, IT_NO_AUTH, "GET", NULL, "/v1/boards/api/top?limit=10"), 0);
    assert_int_equal(top.status, 200);
    assert_string_equal(top.body, "{\"season\":1,\"entries\":["
                                  "{\"rank\":1,\"user_id\":\"fan-2\",\"score\":[10,500],\"updated_at\":\"2025-11-13T02:13:20.000Z\"},"
                                  "{\"rank\":2,\"user_id\":\"fan-1\",\"score\":[10,500],\"updated_at\":\"2025-11-24T16:00:00.000Z\"},"
                                  "{\"rank\":3,\"user_id\":\"fan-3\",\"score\":[3,1],\"updated_at\":\"2025-11-24T16:00:00.000Z\"}]}");
    it_resp_free(&top);

    /* the route replaces an imported member (best: higher), and ignores a lower score */
    assert_int_equal(admin_post(g, "/v1/admin/boards/api/scores",
                                "{\"scores\":[{\"user_id\":\"fan-3\",\"score\":[11,0]},{\"user_id\":\"fan-1\",\"score\":[9,0]}]}"),
                     200);
    assert_int_equal(zcard(f, "api"), 3);
    assert_int_equal(hlen(f, "api"), 3);
    redisReply *r = redisCommand(f->rc, "ZRANGE tk:lb:{api}:z:1 0 -1");
    assert_int_equal(r->elements, 3);
    assert_non_null(strstr(r->element[0]->str, "fan-3")); /* 11 first */
    assert_non_null(strstr(r->element[1]->str, "fan-2"));
    assert_non_null(strstr(r->element[2]->str, "fan-1"));
    freeReplyObject(r);

    /* that write is still in the stream (no worker runs): the import does not wait; it replaces fan-3's live entry
     * (seq 4, the route's write) with a higher seq */
    r = redisCommand(f->rc, "HGET tk:lb:{api}:u:1 fan-3");
    assert_string_equal(r->str + strlen(r->str) - 2, " 4");
    freeReplyObject(r);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "api", csv, NULL}), 0);
    assert_non_null(strstr(f->out, "3 users replaced"));
    row_t again[] = {{"fan-1", 10, 500, INT64_C(1764000000000)}, {"fan-2", 10, 500, INT64_C(1763000000000)},
                     {"fan-3", 3, 1, INT64_C(1764000000000)}};
    check_board(f, "api", 2, again, 3);
    /* last_t is past the import's times: the live write's time was now */
    r = redisCommand(f->rc, "HGET tk:lb:{api} last_t");
    assert_true(strtoll(r->str, NULL, 10) > INT64_C(1764000000000));
    freeReplyObject(r);
    free(f);
}

/* Polls @q (an integer) until it equals @want or 20 s pass; returns the last value. */
static long long wait_db(MYSQL *db, const char *q, long long want)
{
    long long v = -2;
    for (long long until = it_now_ms() + 20000; it_now_ms() < until; it_sleep_ms(50))
        if ((v = it_db_int(db, -1, "%s", q)) == want)
            break;
    return v;
}

/* The user's entry in Redis ("c1 c2 t seq") and in MariaDB (the same four, same format) into @rv and @dv. */
static void both_stores(fix_t *f, const char *b, const char *user, char *rv, char *dv, size_t cap)
{
    redisReply *r = redisCommand(f->rc, "HGET tk:lb:{%s}:u:1 %s", b, user);
    assert_non_null(r);
    snprintf(rv, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "(none)");
    freeReplyObject(r);
    char q[512];
    snprintf(q, sizeof q, "SELECT CONCAT(c1, ' ', c2, ' ', t_ms, ' ', seq) FROM board_scores WHERE board_id = '%s' AND season = 1 "
                          "AND user_id = '%s'", b, user);
    mysql_query(f->db, "COMMIT");
    assert_int_equal(mysql_query(f->db, q), 0);
    MYSQL_RES *res = mysql_store_result(f->db);
    assert_non_null(res);
    MYSQL_ROW row = mysql_fetch_row(res);
    snprintf(dv, cap, "%s", row != NULL && row[0] != NULL ? row[0] : "(none)");
    mysql_free_result(res);
    mysql_query(f->db, "COMMIT");
}

/* Polls the board's stream until the workers drained it (XLEN 0) or 20 s pass; returns the last length. */
static long long wait_stream(fix_t *f, const char *b)
{
    long long v = -1;
    for (long long until = it_now_ms() + 20000; it_now_ms() < until; it_sleep_ms(50)) {
        redisReply *r = redisCommand(f->rc, "XLEN tk:lb:{%s}:q", b);
        v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (v == 0)
            break;
    }
    return v;
}

/*
 * With a worker draining the board: the import replaces the route's earlier writes in both stores (its seqs are
 * higher, whenever the worker drains them); a later write through the route replaces an imported row in MariaDB
 * too (a higher seq again), and both stores agree.
 */
static void import_between_live_writes(void **st)
{
    it_fix_t *g = *st;
    fix_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->rc = g->redis;
    f->db = g->db;
    assert_int_equal(admin_post(g, "/v1/admin/boards", "{\"board_id\":\"live\",\"name\":\"Live\",\"components\":2,\"operator\":\"best\"}"),
                     201);
    assert_int_equal(admin_post(g, "/v1/admin/boards/live/scores",
                                "{\"scores\":[{\"user_id\":\"fan-1\",\"score\":[5,5]},{\"user_id\":\"fan-9\",\"score\":[7,7]}]}"),
                     200);
    const char *csv = tmp_path("live.csv");
    write_text(csv, "fan-1,10,500,1764000000000\nfan-2,3,1,1764000000000\n");
    assert_int_equal(run_import(f, (const char *const[]){"--board", "live", csv, NULL}), 0);
    assert_non_null(strstr(f->out, "imported 2 rows into board live season 1"));
    assert_non_null(strstr(f->out, "1 users replaced"));
    assert_int_equal(zcard(f, "live"), 3);
    assert_int_equal(hlen(f, "live"), 3);
    assert_int_equal(wait_db(f->db, "SELECT COUNT(*) FROM board_scores WHERE board_id = 'live'", 3), 3); /* fan-9 drained */
    assert_int_equal(wait_stream(f, "live"), 0); /* and fan-1's route write (seq 1) too: it lost to the import's seq 3 */
    assert_int_equal(it_db_int(f->db, -1, "SELECT c1 * 1000 + c2 FROM board_scores WHERE board_id = 'live' AND user_id = 'fan-1'"), 10500);
    assert_int_equal(it_db_int(f->db, -1, "SELECT seq FROM board_scores WHERE board_id = 'live' AND user_id = 'fan-1'"), 3);
    assert_int_equal(it_db_int(f->db, -1, "SELECT seq FROM board_scores WHERE board_id = 'live' AND user_id = 'fan-9'"), 2);
    /* a later write through the route beats the imported row in both stores */
    assert_int_equal(admin_post(g, "/v1/admin/boards/live/scores", "{\"scores\":[{\"user_id\":\"fan-1\",\"score\":[20,0]}]}"), 200);
    assert_int_equal(wait_db(f->db, "SELECT c1 FROM board_scores WHERE board_id = 'live' AND user_id = 'fan-1'", 20), 20);
    redisReply *r = redisCommand(f->rc, "HGET tk:lb:{live}:u:1 fan-1");
    assert_int_equal(strncmp(r->str, "20 0 ", 5), 0);
    freeReplyObject(r);
    assert_int_equal(zcard(f, "live"), 3);
    /* the export (MariaDB) is the board Redis shows */
    assert_int_equal(wait_db(f->db, "SELECT COUNT(*) FROM board_scores WHERE board_id = 'live' AND seq = 5", 1), 1);
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "live", NULL}), 0);
    static const char head[] = "user_id,level,exp,updated_at\nfan-1,20,0,";
    assert_int_equal(strncmp(f->out, head, sizeof(head) - 1), 0);
    assert_non_null(strstr(f->out, "\nfan-9,7,7,"));
    assert_non_null(strstr(f->out, "\nfan-2,3,1,2025-11-24T16:00:00.000Z\n"));
    assert_true(strstr(f->out, "fan-9") < strstr(f->out, "fan-2"));
    free(f);
}

/*
 * H1: an import racing a live write. The worker is stopped around the import, so the route's earlier write is
 * drained into MariaDB only AFTER the import's upsert: the import (a higher seq, drawn in its Redis step) wins in
 * both stores. Then a route write after the import wins in both. Redis's entry equals MariaDB's row each time.
 */
static void import_races_a_live_write(void **st)
{
    it_fix_t *g = *st;
    fix_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->rc = g->redis;
    f->db = g->db;
    assert_int_equal(admin_post(g, "/v1/admin/boards", "{\"board_id\":\"race\",\"name\":\"Race\",\"components\":2,\"operator\":\"best\"}"),
                     201);
    pid_t w = g->workers[0].pid;
    assert_true(w > 0);
    /* the route write first (seq 1), held in the stream while the worker is stopped */
    assert_int_equal(kill(w, SIGSTOP), 0);
    assert_int_equal(admin_post(g, "/v1/admin/boards/race/scores", "{\"scores\":[{\"user_id\":\"u-55170\",\"score\":[101,5]}]}"), 200);
    const char *csv = tmp_path("race.csv");
    write_text(csv, "u-55170,100,99910,1764000000000\nu-2,100,99910,1764000000000\n");
    int rc = run_import(f, (const char *const[]){"--board", "race", csv, NULL});
    assert_int_equal(kill(w, SIGCONT), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(wait_stream(f, "race"), 0); /* the route write drained after the import's upsert */
    char rv[128], dv[128];
    both_stores(f, "race", "u-55170", rv, dv, sizeof rv);
    assert_string_equal(rv, dv);
    assert_string_equal(rv, "100 99910 1764000000000 2"); /* the import: seq 2 > the route's 1 */
    both_stores(f, "race", "u-2", rv, dv, sizeof rv);
    assert_string_equal(rv, dv);
    assert_string_equal(rv, "100 99910 1764000000000 3");
    /* and the admin view's checksums (user, score, time, seq over both books) agree */
    it_resp_t view;
    assert_int_equal(it_apif(&view, g, IT_ADMIN, "GET", NULL, "/v1/admin/boards/race"), 0);
    assert_int_equal(view.status, 200);
    if (strstr(view.body, "\"agree\":true") == NULL || strstr(view.body, "\"checksum\":null") != NULL)
        fail_msg("admin view: %s", view.body);
    it_resp_free(&view);
    /* the reverse: a route write after the import (seq 4) wins in both, again drained after the import */
    assert_int_equal(admin_post(g, "/v1/admin/boards/race/scores", "{\"scores\":[{\"user_id\":\"u-2\",\"score\":[101,5]}]}"), 200);
    assert_int_equal(wait_db(f->db, "SELECT seq FROM board_scores WHERE board_id = 'race' AND user_id = 'u-2'", 4), 4);
    both_stores(f, "race", "u-2", rv, dv, sizeof rv);
    assert_string_equal(rv, dv);
    assert_int_equal(strncmp(rv, "101 5 ", 6), 0);
    free(f);
}

/*
 * M2: same-ms ties survive an export and re-import. One route call writes zed then amy with the same score: one
 * time, zed's seq first, so zed ranks before amy. The export lists zed first; imported into a new board (seqs drawn
 * in file order among ties), zed is still first, in Redis and in MariaDB's export.
 */
static void export_reimport_keeps_ties(void **st)
{
    it_fix_t *g = *st;
    fix_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->rc = g->redis;
    f->db = g->db;
    assert_int_equal(admin_post(g, "/v1/admin/boards", "{\"board_id\":\"tie1\",\"name\":\"Ties\",\"components\":2,\"operator\":\"best\"}"), 201);
    assert_int_equal(admin_post(g, "/v1/admin/boards", "{\"board_id\":\"tie2\",\"name\":\"Ties 2\",\"components\":2,\"operator\":\"best\"}"), 201);
    assert_int_equal(admin_post(g, "/v1/admin/boards/tie1/scores",
                                "{\"scores\":[{\"user_id\":\"zed\",\"score\":[50,5]},{\"user_id\":\"amy\",\"score\":[50,5]}]}"),
                     200);
    assert_int_equal(wait_db(f->db, "SELECT COUNT(*) FROM board_scores WHERE board_id = 'tie1'", 2), 2);
    const char *exp = tmp_path("tie1.csv");
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "tie1", exp, NULL}), 0);
    char text[4096];
    it_read_file(exp, text, sizeof text);
    assert_true(strstr(text, "\nzed,") != NULL && strstr(text, "\nzed,") < strstr(text, "\namy,"));
    assert_int_equal(run_import(f, (const char *const[]){"--board", "tie2", exp, NULL}), 0);
    redisReply *r = redisCommand(f->rc, "ZRANGE tk:lb:{tie2}:z:1 0 -1");
    assert_int_equal(r->elements, 2);
    if (strstr(r->element[0]->str, "zed") == NULL)
        fail_msg("tie2 rank 1 is %s, want zed's member", r->element[0]->str);
    freeReplyObject(r);
    assert_int_equal(run_import(f, (const char *const[]){"--export", "--board", "tie2", NULL}), 0);
    assert_string_equal(f->out, text);
    free(f);
}

/*
 * M3: lb_import.lua refuses a season its schedule has ended (as lb_write.lua would move the board on), and never
 * raises last_t past Redis's TIME; the CLI refuses an updated_at more than 1 s in the future.
 */
static void import_keeps_to_the_clock(void **st)
{
    fix_t *f = *st;
    create_board(f, "clk", 2);
    const char *script = tk_lua_find("lb_import");
    assert_non_null(script);
    int64_t future = tk_time_now_ms() + 3600000;
    char max_t[32];
    snprintf(max_t, sizeof max_t, "%" PRId64, future);
    /* a chunk of no rows whose latest time is an hour ahead: last_t stays at most now */
    redisReply *r = redisCommand(f->rc, "EVAL %s 3 tk:lb:{clk} tk:lb:{clk}:z:1 tk:lb:{clk}:u:1 1 2 %s 0", script, max_t);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("lb_import: %s", r->str);
    freeReplyObject(r);
    r = redisCommand(f->rc, "HGET tk:lb:{clk} last_t");
    int64_t last = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    if (last > tk_time_now_ms())
        fail_msg("last_t %" PRId64 " is past now %" PRId64, last, tk_time_now_ms());
    /* the schedule ended the season (len 1 s from 0): refused inside the script */
    r = redisCommand(f->rc, "HSET tk:lb:{clk} len 1 start 0");
    freeReplyObject(r);
    r = redisCommand(f->rc, "EVAL %s 3 tk:lb:{clk} tk:lb:{clk}:z:1 tk:lb:{clk}:u:1 1 2 1764000000000 0", script);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "season_moved", 12) != 0)
        fail_msg("lb_import on a season its schedule ended: reply type %d, want the error season_moved", r->type);
    freeReplyObject(r);
    r = redisCommand(f->rc, "HSET tk:lb:{clk} len 0");
    freeReplyObject(r);
    /* 30 s ahead of the host clock: refused by the CLI */
    const char *csv = tmp_path("clk.csv");
    char line[128];
    snprintf(line, sizeof line, "a,1,1,%" PRId64 "\n", tk_time_now_ms() + 30000);
    write_text(csv, line);
    assert_int_equal(run_import(f, (const char *const[]){"--board", "clk", csv, NULL}), 1);
    assert_non_null(strstr(f->errout, "line 1: updated_at is in the future"));
    assert_int_equal(zcard(f, "clk"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(good_file_loads_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(no_header_and_time_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_lines_refused_with_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(partial_loads_the_good_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(reimport_replaces_without_stale_members, setup, teardown),
        cmocka_unit_test_setup_teardown(export_import_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(one_component_board, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_of_board_and_season, setup, teardown),
        cmocka_unit_test_setup_teardown(board_from_the_admin_route, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(import_between_live_writes, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(import_races_a_live_write, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(export_reimport_keeps_ties, it_fix_new1, it_fix_free),
        cmocka_unit_test_setup_teardown(import_keeps_to_the_clock, setup, teardown),
    };
    return cmocka_run_group_tests_name("it_import", tests, it_group_setup, NULL);
}
