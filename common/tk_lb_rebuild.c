/*
 * tk_lb_rebuild: a board's Redis state rebuilt from MariaDB (why it is
 * exact: tk_lb_rebuild.h and lua/lb_rebuild_swap.lua).
 */
#include "tk_lb_rebuild.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_lua.h"
#include "tk_sql.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMP_SUFFIX ":rebuild"
#define NSEASONS (TK_LB_KEEP_CLOSED + 1)
#define NUM_MAX 24
#define SEASONS_MAX 100000 /* seasons' rows read at most (a weekly board has 52 a year) */

typedef struct {
    unsigned season;
    long long start, end;
} sn_row_t;

typedef struct {
    MYSQL *db;
    redisContext *redis;
    unsigned flags; /* TK_LB_REBUILD_NO_REGISTRY */
    const char *board;
    size_t blen;
    char key_b[TK_KEY_MAX], key_sn[TK_KEY_MAX], key_q[TK_KEY_MAX];
    char *err;
    size_t errlen;
    tk_lb_rebuild_stats_t *st;
    /* the board as MariaDB holds it */
    char name[804];
    unsigned long nlen;
    long long comps, len_s, created_ms;
    char op[8];
    unsigned long oplen;
    sn_row_t *sn;
    size_t nsn, sncap;
    long long db_seq, db_last_t, db_max_season;
    /* Redis before the read: the seq as a string ("" absent), last_t */
    char snap_seq[NUM_MAX];
    long long snap_last_t;
    unsigned season;
    long long start;
    /* the seasons loaded: first .. season */
    unsigned first;
    unsigned long long loaded[NSEASONS];
    char key_z[NSEASONS][TK_KEY_MAX], key_zt[NSEASONS][TK_KEY_MAX + sizeof(TEMP_SUFFIX)];
    char key_u[NSEASONS][TK_KEY_MAX], key_ut[NSEASONS][TK_KEY_MAX + sizeof(TEMP_SUFFIX)];
} lb_t;

static int failf(lb_t *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(lb_t *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int db_fail(lb_t *r, unsigned e, const char *what)
{
    r->st->db_errno = e;
    int rc = failf(r, TK_REBUILD_ERR_DB, "MariaDB %s: %u %s", what, e, mysql_error(r->db));
    mysql_rollback(r->db);
    return rc;
}

static void drop_temps(lb_t *r)
{
    if (r->redis->err != 0)
        return;
    const char *argv[1 + 2 * NSEASONS];
    int n = 0;
    argv[n++] = "UNLINK";
    for (int i = 0; i < NSEASONS; i++) {
        if (r->key_zt[i][0] != '\0') {
            argv[n++] = r->key_zt[i];
            argv[n++] = r->key_ut[i];
        }
    }
    if (n == 1)
        return;
    redisReply *rep = redisCommandArgv(r->redis, n, argv, NULL);
    if (rep != NULL)
        freeReplyObject(rep);
}

/* ---------------------------------------------------------------- step 1: Redis */

static int check_redis(lb_t *r)
{
    redisAppendCommand(r->redis, "XLEN %s", r->key_q);
    redisAppendCommand(r->redis, "HMGET %s seq last_t", r->key_b);
    redisReply *rep[2] = {NULL, NULL};
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        void *p = NULL;
        if (redisGetReply(r->redis, &p) != REDIS_OK) {
            ok = 0;
            break;
        }
        rep[i] = p;
    }
    int rc = TK_REBUILD_OK;
    if (!ok)
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", r->redis->errstr);
    else if (rep[0]->type != REDIS_REPLY_INTEGER || rep[1]->type != REDIS_REPLY_ARRAY || rep[1]->elements != 2)
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis: unexpected reply to XLEN/HMGET: %s",
                   rep[0]->type == REDIS_REPLY_ERROR ? rep[0]->str : rep[1]->type == REDIS_REPLY_ERROR ? rep[1]->str : "?");
    else if (rep[0]->integer > 0) {
        r->st->stream_len = rep[0]->integer;
        rc = failf(r, TK_REBUILD_NOT_DRAINED, "board %s: %lld entries in %s not yet in MariaDB", r->board, rep[0]->integer, r->key_q);
    } else {
        const redisReply *s = rep[1]->element[0], *t = rep[1]->element[1];
        if (s->type == REDIS_REPLY_STRING && s->len < NUM_MAX)
            memcpy(r->snap_seq, s->str, s->len + 1);
        if (t->type == REDIS_REPLY_STRING)
            r->snap_last_t = strtoll(t->str, NULL, 10);
    }
    for (int i = 0; i < 2; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    return rc;
}

/* ---------------------------------------------------------------- step 2: MariaDB */

typedef struct {
    lb_t *r;
    unsigned season;
    long long start, end;
    int oom;
} sn_fetch_t;

static void on_season(void *arg)
{
    sn_fetch_t *f = arg;
    lb_t *r = f->r;
    if (r->nsn == r->sncap) {
        size_t cap = r->sncap ? 2 * r->sncap : 64;
        sn_row_t *p = realloc(r->sn, cap * sizeof(*p));
        if (p == NULL) {
            f->oom = 1;
            return;
        }
        r->sn = p;
        r->sncap = cap;
    }
    r->sn[r->nsn++] = (sn_row_t){f->season, f->start, f->end};
}

static void bind_uint(MYSQL_BIND *b, unsigned *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_LONG;
    b->buffer = v;
    b->is_unsigned = 1;
}

static int read_board(lb_t *r)
{
    if (mysql_query(r->db, "START TRANSACTION WITH CONSISTENT SNAPSHOT") != 0)
        return db_fail(r, mysql_errno(r->db), "start transaction");
    MYSQL_BIND in[1], out[5];
    unsigned long blen = 0;
    tk_sql_bind_str(&in[0], r->board, &blen, r->blen);
    tk_sql_bind_strbuf(&out[0], r->name, sizeof(r->name) - 1, &r->nlen);
    tk_sql_bind_i64(&out[1], &r->comps);
    tk_sql_bind_strbuf(&out[2], r->op, sizeof(r->op) - 1, &r->oplen);
    tk_sql_bind_i64(&out[3], &r->len_s);
    tk_sql_bind_i64(&out[4], &r->created_ms);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(r->db,
                             "SELECT name, components, operator, season_length_s, CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED) "
                             "FROM boards WHERE board_id = ?",
                             in, out, 1, NULL, NULL, &rows);
    if (e)
        return db_fail(r, e, "read board");
    if (rows == 0) {
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_UNKNOWN_EVENT, "board %s: no boards row in MariaDB", r->board);
    }
    r->name[r->nlen < sizeof(r->name) ? r->nlen : sizeof(r->name) - 1] = '\0';
    r->op[r->oplen < sizeof(r->op) ? r->oplen : sizeof(r->op) - 1] = '\0';
    if ((r->comps != 1 && r->comps != 2) || r->len_s < 0) {
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_ERR_DB, "board %s: unexpected values in its boards row", r->board);
    }

    sn_fetch_t f = {r, 0, 0, 0, 0};
    MYSQL_BIND sout[3];
    bind_uint(&sout[0], &f.season);
    tk_sql_bind_i64(&sout[1], &f.start);
    tk_sql_bind_i64(&sout[2], &f.end);
    e = tk_sql_stmt(r->db, "SELECT season, started_ms, COALESCE(ended_ms, 0) FROM board_seasons WHERE board_id = ? ORDER BY season", in,
                    sout, SEASONS_MAX, on_season, &f, NULL);
    if (e)
        return db_fail(r, e, "read board_seasons");
    if (f.oom) {
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_ERR_DB, "out of memory");
    }
    MYSQL_BIND mout[3];
    tk_sql_bind_i64(&mout[0], &r->db_seq);
    tk_sql_bind_i64(&mout[1], &r->db_last_t);
    tk_sql_bind_i64(&mout[2], &r->db_max_season);
    e = tk_sql_stmt(r->db, "SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(t_ms), 0), COALESCE(MAX(season), 0) FROM board_scores WHERE board_id = ?",
                    in, mout, 1, NULL, NULL, NULL);
    if (e)
        return db_fail(r, e, "read board_scores maxima");

    /* The current season: the highest either table knows, at least 1. */
    long long season = r->db_max_season;
    if (r->nsn > 0 && r->sn[r->nsn - 1].season > season)
        season = r->sn[r->nsn - 1].season;
    if (season < 1)
        season = 1;
    r->season = (unsigned)season;
    r->start = r->created_ms;
    for (size_t i = 0; i < r->nsn; i++)
        if (r->sn[i].season == r->season)
            r->start = r->sn[i].start;
    r->first = r->season > TK_LB_KEEP_CLOSED ? r->season - TK_LB_KEEP_CLOSED : 1;
    return TK_REBUILD_OK;
}

/* ---------------------------------------------------------------- step 3: load */

typedef struct {
    lb_t *r;
    int slot; /* season index into r->key_* */
    /* fetch buffers */
    char user[TK_ID_MAX + 1];
    unsigned long ulen;
    long long c1, c2, t_ms, seq;
    /* the two commands being built */
    const char **zargv, **hargv;
    size_t *zlens, *hlens;
    char (*member)[TK_LB_MEMBER_MAX];
    char (*score)[NUM_MAX];
    char (*entry)[TK_LB_ENTRY_MAX];
    char (*users)[TK_ID_MAX + 1];
    size_t n;
    int inflight;
    int failed; /* a bad row or a Redis failure: the rest is read and ignored */
} load_t;

static int read_reply(load_t *l)
{
    void *v = NULL;
    if (redisGetReply(l->r->redis, &v) != REDIS_OK) {
        failf(l->r, -1, "Redis: %s", l->r->redis->errstr);
        return -1;
    }
    redisReply *rep = v;
    l->inflight--;
    int ok = rep->type == REDIS_REPLY_INTEGER;
    if (!ok)
        failf(l->r, -1, "Redis ZADD/HSET: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static int send_chunk(load_t *l)
{
    if (l->n == 0)
        return 0;
    int first = l->r->loaded[l->slot] == l->n;
    if (redisAppendCommandArgv(l->r->redis, (int)(2 + 2 * l->n), l->zargv, l->zlens) != REDIS_OK ||
        redisAppendCommandArgv(l->r->redis, (int)(2 + 2 * l->n), l->hargv, l->hlens) != REDIS_OK) {
        failf(l->r, -1, "Redis: %s", l->r->redis->errstr);
        return -1;
    }
    l->inflight += 2;
    if (first) {
        /* A rebuild that dies before its swap leaves no keys behind for good. */
        redisAppendCommand(l->r->redis, "EXPIRE %s %d", l->r->key_zt[l->slot], TK_REBUILD_TEMP_TTL_S);
        redisAppendCommand(l->r->redis, "EXPIRE %s %d", l->r->key_ut[l->slot], TK_REBUILD_TEMP_TTL_S);
        l->inflight += 2;
    }
    l->n = 0;
    while (l->inflight >= TK_REBUILD_INFLIGHT)
        if (read_reply(l) != 0)
            return -1;
    return 0;
}

static void on_score(void *arg)
{
    load_t *l = arg;
    lb_t *r = l->r;
    if (l->failed)
        return;
    tk_lb_entry_t e = {.c1 = l->c1, .c2 = l->c2, .t_ms = l->t_ms, .seq = l->seq};
    size_t ul = l->ulen < TK_ID_MAX ? l->ulen : TK_ID_MAX;
    int ml = tk_lb_member(&e, (int)r->comps, l->user, ul, l->member[l->n]);
    if (ml < 0 || !tk_valid_user_id(l->user, ul) || (r->comps == 1 && l->c2 != 0)) {
        failf(r, -1, "board %s season %u: a board_scores row out of range (user %.*s)", r->board, r->first + (unsigned)l->slot, (int)ul,
              l->user);
        l->failed = TK_REBUILD_ERR_DB;
        return;
    }
    size_t i = l->n;
    snprintf(l->score[i], NUM_MAX, "%lld", -l->c1);
    int el = tk_lb_entry_format(&e, l->entry[i]);
    memcpy(l->users[i], l->user, ul);
    l->zargv[2 + 2 * i] = l->score[i];
    l->zlens[2 + 2 * i] = strlen(l->score[i]);
    l->zargv[3 + 2 * i] = l->member[i];
    l->zlens[3 + 2 * i] = (size_t)ml;
    l->hargv[2 + 2 * i] = l->users[i];
    l->hlens[2 + 2 * i] = ul;
    l->hargv[3 + 2 * i] = l->entry[i];
    l->hlens[3 + 2 * i] = (size_t)el;
    l->n++;
    r->loaded[l->slot]++;
    if (l->n == TK_LB_REBUILD_CHUNK && send_chunk(l) != 0)
        l->failed = TK_REBUILD_ERR_REDIS;
}

static int load_scores(lb_t *r)
{
    load_t l;
    memset(&l, 0, sizeof(l));
    l.r = r;
    size_t args = 2 + 2 * TK_LB_REBUILD_CHUNK;
    l.zargv = calloc(args, sizeof(*l.zargv));
    l.hargv = calloc(args, sizeof(*l.hargv));
    l.zlens = calloc(args, sizeof(*l.zlens));
    l.hlens = calloc(args, sizeof(*l.hlens));
    l.member = calloc(TK_LB_REBUILD_CHUNK, sizeof(*l.member));
    l.score = calloc(TK_LB_REBUILD_CHUNK, sizeof(*l.score));
    l.entry = calloc(TK_LB_REBUILD_CHUNK, sizeof(*l.entry));
    l.users = calloc(TK_LB_REBUILD_CHUNK, sizeof(*l.users));
    int rc = TK_REBUILD_OK;
    drop_temps(r); /* a rebuild that died may have left them: ZADD would add to them */
    if (l.zargv == NULL || l.hargv == NULL || l.zlens == NULL || l.hlens == NULL || l.member == NULL || l.score == NULL ||
        l.entry == NULL || l.users == NULL) {
        rc = failf(r, TK_REBUILD_ERR_DB, "out of memory");
        goto out;
    }
    MYSQL_BIND in[2], out[5];
    unsigned long blen = 0;
    unsigned season = 0;
    tk_sql_bind_str(&in[0], r->board, &blen, r->blen);
    bind_uint(&in[1], &season);
    tk_sql_bind_strbuf(&out[0], l.user, TK_ID_MAX, &l.ulen);
    tk_sql_bind_i64(&out[1], &l.c1);
    tk_sql_bind_i64(&out[2], &l.c2);
    tk_sql_bind_i64(&out[3], &l.t_ms);
    tk_sql_bind_i64(&out[4], &l.seq);
    for (unsigned s = r->first; s <= r->season && rc == TK_REBUILD_OK; s++) {
        l.slot = (int)(s - r->first);
        season = s;
        l.zargv[0] = "ZADD";
        l.zlens[0] = 4;
        l.zargv[1] = r->key_zt[l.slot];
        l.zlens[1] = strlen(r->key_zt[l.slot]);
        l.hargv[0] = "HSET";
        l.hlens[0] = 4;
        l.hargv[1] = r->key_ut[l.slot];
        l.hlens[1] = strlen(r->key_ut[l.slot]);
        memset(l.user, 0, sizeof(l.user));
        /* Rows are streamed from the server (tk_sql_stmt fetches unbuffered), never all held here. */
        unsigned e = tk_sql_stmt(r->db, "SELECT user_id, c1, c2, t_ms, seq FROM board_scores WHERE board_id = ? AND season = ?", in, out,
                                 UINT_MAX - 2, on_score, &l, NULL);
        if (e) {
            rc = db_fail(r, e, "read board_scores");
            break;
        }
        if (l.failed) {
            rc = l.failed;
            break;
        }
        if (send_chunk(&l) != 0)
            rc = TK_REBUILD_ERR_REDIS;
        r->st->rows += r->loaded[l.slot];
    }
    /* Every reply is read whatever happened, so the context stays in step (bounded: one per command sent). */
    while (l.inflight > 0 && r->redis->err == 0)
        if (read_reply(&l) != 0 && rc == TK_REBUILD_OK)
            rc = TK_REBUILD_ERR_REDIS;
    if (rc == TK_REBUILD_OK && r->redis->err != 0)
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", r->redis->errstr);
out:
    if (rc != TK_REBUILD_OK) {
        mysql_rollback(r->db);
        drop_temps(r);
    }
    free(l.zargv);
    free(l.hargv);
    free(l.zlens);
    free(l.hlens);
    free(l.member);
    free(l.score);
    free(l.entry);
    free(l.users);
    return rc;
}

/* ---------------------------------------------------------------- step 4: swap */

static int swap(lb_t *r)
{
    mysql_rollback(r->db); /* only read: the snapshot is no longer needed */
    const char *text = tk_lua_find("lb_rebuild_swap");
    if (text == NULL)
        return failf(r, TK_REBUILD_ERR_REDIS, "lua/lb_rebuild_swap.lua is not compiled in");
    redisReply *rep;
    if (!(r->flags & TK_LB_REBUILD_NO_REGISTRY)) { /* else the caller's, on tk:boards' own master */
        rep = redisCommand(r->redis, "SADD %s %b", TK_KEY_BOARDS, r->board, r->blen);
        if (rep == NULL)
            return failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", r->redis->errstr);
        int sadd_ok = rep->type == REDIS_REPLY_INTEGER;
        if (!sadd_ok)
            failf(r, TK_REBUILD_ERR_REDIS, "Redis SADD %s: %s", TK_KEY_BOARDS, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        if (!sadd_ok) {
            drop_temps(r);
            return TK_REBUILD_ERR_REDIS;
        }
    }

    long long seq = r->db_seq, last_t = r->db_last_t;
    long long snap_seq = r->snap_seq[0] ? strtoll(r->snap_seq, NULL, 10) : 0;
    if (snap_seq > seq)
        seq = snap_seq;
    seq += TK_LB_REBUILD_SEQ_GAP;
    if (r->snap_last_t > last_t)
        last_t = r->snap_last_t;
    unsigned k = r->season - r->first + 1;
    char s_comps[NUM_MAX], s_len[NUM_MAX], s_season[NUM_MAX], s_start[NUM_MAX], s_last[NUM_MAX], s_seq[NUM_MAX], s_created[NUM_MAX],
        s_k[NUM_MAX], s_cnt[NSEASONS][NUM_MAX];
    snprintf(s_comps, sizeof(s_comps), "%lld", r->comps);
    snprintf(s_len, sizeof(s_len), "%lld", r->len_s);
    snprintf(s_season, sizeof(s_season), "%u", r->season);
    snprintf(s_start, sizeof(s_start), "%lld", r->start);
    snprintf(s_last, sizeof(s_last), "%lld", last_t);
    snprintf(s_seq, sizeof(s_seq), "%lld", seq);
    snprintf(s_created, sizeof(s_created), "%lld", r->created_ms);
    snprintf(s_k, sizeof(s_k), "%u", k);
    size_t argc = 3 + 3 + 4 * k + 12 + k + 2 * r->nsn;
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    char (*sn_num)[NUM_MAX] = calloc(r->nsn + 1, sizeof(*sn_num));
    char (*sn_val)[2 * NUM_MAX] = calloc(r->nsn + 1, sizeof(*sn_val));
    if (argv == NULL || lens == NULL || sn_num == NULL || sn_val == NULL) {
        free(argv);
        free(lens);
        free(sn_num);
        free(sn_val);
        drop_temps(r);
        return failf(r, TK_REBUILD_ERR_REDIS, "out of memory");
    }
    char nkeys[NUM_MAX];
    snprintf(nkeys, sizeof(nkeys), "%u", 3 + 4 * k);
    size_t a = 0;
    argv[a++] = "EVAL";
    argv[a++] = text;
    argv[a++] = nkeys;
    argv[a++] = r->key_b;
    argv[a++] = r->key_sn;
    argv[a++] = r->key_q;
    for (unsigned i = 0; i < k; i++) {
        argv[a++] = r->key_z[i];
        argv[a++] = r->key_zt[i];
        argv[a++] = r->key_u[i];
        argv[a++] = r->key_ut[i];
    }
    argv[a++] = r->snap_seq;
    argv[a++] = TK_STREAM_GROUP;
    argv[a++] = r->name;
    argv[a++] = s_comps;
    argv[a++] = r->op;
    argv[a++] = s_len;
    argv[a++] = s_season;
    argv[a++] = s_start;
    argv[a++] = s_last;
    argv[a++] = s_seq;
    argv[a++] = s_created;
    argv[a++] = s_k;
    for (unsigned i = 0; i < k; i++) {
        snprintf(s_cnt[i], NUM_MAX, "%llu", r->loaded[i]);
        argv[a++] = s_cnt[i];
    }
    for (size_t i = 0; i < r->nsn; i++) {
        snprintf(sn_num[i], NUM_MAX, "%u", r->sn[i].season);
        snprintf(sn_val[i], 2 * NUM_MAX, "%lld %lld", r->sn[i].start, r->sn[i].end);
        argv[a++] = sn_num[i];
        argv[a++] = sn_val[i];
    }
    for (size_t i = 0; i < a; i++)
        lens[i] = strlen(argv[i]);
    rep = redisCommandArgv(r->redis, (int)a, argv, lens);
    free(argv);
    free(lens);
    free(sn_num);
    free(sn_val);
    if (rep == NULL)
        return failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", r->redis->errstr);
    int rc;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "OK") == 0) {
        rc = TK_REBUILD_OK;
        r->st->seq = (uint64_t)seq;
        r->st->last_t = (uint64_t)last_t;
        r->st->season = r->season;
        r->st->seasons = (unsigned)r->nsn;
        r->st->current = r->loaded[k - 1];
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_STRING) {
        const char *w = rep->element[0]->str;
        rc = strcmp(w, "not_drained") == 0 ? TK_REBUILD_NOT_DRAINED : TK_REBUILD_CONFLICT;
        failf(r, rc, "board %s: swap refused: %s", r->board, w);
    } else {
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis lb_rebuild_swap.lua: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
    if (rc != TK_REBUILD_OK)
        drop_temps(r);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int tk_lb_rebuild_board(MYSQL *db, redisContext *redis, const char *board_id, tk_lb_rebuild_stats_t *stats, char *err, size_t errlen)
{
    return tk_lb_rebuild_board_ex(db, redis, board_id, 0, stats, err, errlen);
}

int tk_lb_rebuild_board_ex(MYSQL *db, redisContext *redis, const char *board_id, unsigned flags, tk_lb_rebuild_stats_t *stats, char *err,
                           size_t errlen)
{
    memset(stats, 0, sizeof(*stats));
    lb_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return TK_REBUILD_ERR_DB;
    }
    r->db = db;
    r->redis = redis;
    r->flags = flags;
    r->board = board_id;
    r->blen = board_id != NULL ? strlen(board_id) : 0;
    r->err = err;
    r->errlen = errlen;
    r->st = stats;
    int64_t t0 = tk_time_mono_ms(), t = t0;
    int rc;
    if (board_id == NULL || !tk_valid_event_id(board_id, r->blen) || tk_lb_key(TK_LB_BOARD, board_id, r->blen, 0, r->key_b) < 0 ||
        tk_lb_key(TK_LB_SEASONS, board_id, r->blen, 0, r->key_sn) < 0 || tk_lb_key(TK_LB_STREAM, board_id, r->blen, 0, r->key_q) < 0) {
        rc = failf(r, TK_REBUILD_ERR_INVALID, "not a valid board id");
        goto out;
    }
    if (redis == NULL || redis->err != 0) {
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", redis != NULL ? redis->errstr : "no connection");
        goto out;
    }
    /* The temporary keys' names need the seasons: known after step 2; until then none exist to drop. */
    const struct {
        int (*run)(lb_t *r);
        int64_t *ms;
    } steps[] = {
        {check_redis, &stats->ms_check},
        {read_board, &stats->ms_read},
        {load_scores, &stats->ms_load},
        {swap, &stats->ms_swap},
    };
    rc = TK_REBUILD_OK;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && rc == TK_REBUILD_OK; i++) {
        if (steps[i].run == load_scores) {
            for (unsigned s = r->first; s <= r->season; s++) {
                unsigned j = s - r->first;
                tk_lb_key(TK_LB_RANK, board_id, r->blen, s, r->key_z[j]);
                tk_lb_key(TK_LB_USERS, board_id, r->blen, s, r->key_u[j]);
                /* TK_KEY_MAX + the suffix: both fit. */
                strcat(strcpy(r->key_zt[j], r->key_z[j]), TEMP_SUFFIX);
                strcat(strcpy(r->key_ut[j], r->key_u[j]), TEMP_SUFFIX);
            }
        }
        rc = steps[i].run(r);
        *steps[i].ms = tk_time_mono_ms() - t;
        t = tk_time_mono_ms();
    }
out:
    stats->ms_total = tk_time_mono_ms() - t0;
    free(r->sn);
    free(r);
    return rc;
}
