/*
 * tk_rebuild: the rebuild of one event's Redis state from MariaDB. The
 * argument for why it is exact is in tk_rebuild.h and lua/rebuild_swap.lua.
 */
#include "tk_rebuild.h"
#include "tk_claim.h"
#include "tk_keys.h"
#include "tk_lua.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMP_SUFFIX ":rebuild"
#define OLD_SUFFIX ":old"
#define NUM_MAX 24 /* a decimal int64 and its NUL */

const char *tk_rebuild_rc_name(int rc)
{
    static const char *const names[] = {"ok", "unknown_event", "not_drained", "conflict", "invalid", "db_error", "redis_error"};
    return rc >= 0 && rc <= TK_REBUILD_ERR_REDIS ? names[rc] : "unknown";
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int tk_rebuild_record(const char *ticket, const char *qty, const char *created_ms, const char *status, char *out)
{
    uint64_t t, q, c;
    tk_claim_t cl;
    if (parse_u64(ticket, &t) || parse_u64(qty, &q) || parse_u64(created_ms, &c) || status == NULL ||
        tk_claim_status_from_name(status, &cl.status) != 0 || cl.status == TK_CLAIM_PENDING || t == 0 || q == 0 ||
        t > INT64_MAX || q > INT64_MAX || c > INT64_MAX)
        return -1;
    cl.ticket = (int64_t)t;
    cl.quantity = (int64_t)q;
    cl.created_ms = (int64_t)c;
    int n = tk_claim_encode(&cl, out);
    /* Only what the gateway and the workers will decode again (tk_claim_decode bounds the numbers). */
    tk_claim_t back;
    if (n <= 0 || n >= TK_CLAIM_RECORD_MAX || tk_claim_decode(out, (size_t)n, &back) != 0)
        return -1;
    return n;
}

/* ---------------------------------------------------------------- state */

typedef struct {
    MYSQL *db;
    redisContext *redis;
    unsigned flags; /* TK_REBUILD_NO_REGISTRY */
    const char *event;
    size_t elen;
    char key_ev[TK_KEY_MAX], key_claims[TK_KEY_MAX], key_q[TK_KEY_MAX], key_tmp[TK_KEY_MAX + sizeof(TEMP_SUFFIX)],
        key_old[TK_KEY_MAX + sizeof(OLD_SUFFIX)];
    char *err;
    size_t errlen;
    tk_rebuild_stats_t *st;
    /* The event as MariaDB holds it. */
    char name[804]; /* VARCHAR(200) utf8mb4: at most 800 bytes */
    char state[16], maxpu[NUM_MAX], opens[NUM_MAX], closes[NUM_MAX], created[NUM_MAX];
    uint64_t total, sold, hwm;
    char stock_ver[NUM_MAX], state_ver[NUM_MAX]; /* the admin versions (sql/005) */
    char key_wq[TK_KEY_MAX];
    char wr[NUM_MAX], wr_rate[NUM_MAX], wr_ttl[NUM_MAX], wr_opens[NUM_MAX], wr_paused[NUM_MAX], wr_ver[NUM_MAX]; /* the room (sql/006) */
    char pr_board[TK_ID_MAX + 1], pr_top[NUM_MAX], pr_opens[NUM_MAX], pr_snap[NUM_MAX]; /* the presale (sql/008); "" board: none */
    char key_prio[TK_KEY_MAX];
    /* The event hash as Redis held it before the claims were read ("" absent). */
    char snap[4][NUM_MAX];
} rb_t;

static int failf(rb_t *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(rb_t *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int db_fail(rb_t *r, const char *what)
{
    r->st->db_errno = mysql_errno(r->db);
    int rc = failf(r, TK_REBUILD_ERR_DB, "MariaDB %s: %u %s", what, mysql_errno(r->db), mysql_error(r->db));
    mysql_rollback(r->db);
    return rc;
}

static void copy_field(char *dst, size_t cap, const char *src, unsigned long len)
{
    if (src == NULL)
        len = 0;
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src != NULL ? src : "", len);
    dst[len] = '\0';
}

/* Step 1: the events and event_stock rows, locked until the commit of step 5. */
static int read_event(rb_t *r)
{
    char esc[2 * TK_ID_MAX + 1], sql[1024];
    mysql_real_escape_string(r->db, esc, r->event, (unsigned long)r->elen);
    /* The session time zone is UTC (tk_db_connect), so UNIX_TIMESTAMP reads the stored UTC DATETIMEs as they are. */
    snprintf(sql, sizeof(sql),
             "SELECT e.name, e.state, e.max_per_user,"
             " COALESCE(CAST(UNIX_TIMESTAMP(e.opens_at) * 1000 AS UNSIGNED), 0),"
             " COALESCE(CAST(UNIX_TIMESTAMP(e.closes_at) * 1000 AS UNSIGNED), 0),"
             " CAST(UNIX_TIMESTAMP(e.created_at) * 1000 AS UNSIGNED), s.total, s.sold, s.ticket_hwm, s.stock_ver, e.state_ver,"
             " e.wr_on, e.wr_release_per_s, e.wr_access_ttl_s,"
             " COALESCE(CAST(UNIX_TIMESTAMP(e.wr_opens_at) * 1000 AS UNSIGNED), 0), e.wr_paused, e.wr_ver,"
             " COALESCE(e.pr_board, ''), e.pr_top, COALESCE(CAST(UNIX_TIMESTAMP(e.pr_opens_at) * 1000 AS UNSIGNED), 0),"
             " COALESCE(CAST(UNIX_TIMESTAMP(e.pr_snapshot_at) * 1000 AS UNSIGNED), 0)"
             " FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = '%s' FOR UPDATE",
             esc);
    if (mysql_query(r->db, sql) != 0)
        return db_fail(r, "read event");
    MYSQL_RES *res = mysql_store_result(r->db);
    if (res == NULL)
        return db_fail(r, "read event result");
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row == NULL) {
        mysql_free_result(res);
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_UNKNOWN_EVENT, "event %s: no events/event_stock row in MariaDB", r->event);
    }
    unsigned long *len = mysql_fetch_lengths(res);
    copy_field(r->name, sizeof(r->name), row[0], len[0]);
    copy_field(r->state, sizeof(r->state), row[1], len[1]);
    copy_field(r->maxpu, sizeof(r->maxpu), row[2], len[2]);
    copy_field(r->opens, sizeof(r->opens), row[3], len[3]);
    copy_field(r->closes, sizeof(r->closes), row[4], len[4]);
    copy_field(r->created, sizeof(r->created), row[5], len[5]);
    copy_field(r->stock_ver, sizeof(r->stock_ver), row[9], len[9]);
    copy_field(r->state_ver, sizeof(r->state_ver), row[10], len[10]);
    char *const room[] = {r->wr, r->wr_rate, r->wr_ttl, r->wr_opens, r->wr_paused, r->wr_ver};
    int bad_room = 0;
    for (int i = 0; i < 6; i++) {
        copy_field(room[i], NUM_MAX, row[11 + i], len[11 + i]);
        bad_room |= room[i][0] == '\0';
    }
    copy_field(r->pr_board, sizeof(r->pr_board), row[17], len[17]);
    copy_field(r->pr_top, sizeof(r->pr_top), row[18], len[18]);
    copy_field(r->pr_opens, sizeof(r->pr_opens), row[19], len[19]);
    copy_field(r->pr_snap, sizeof(r->pr_snap), row[20], len[20]);
    if (r->pr_opens[0] == '\0' || strcmp(r->pr_opens, "0") == 0)
        r->pr_board[0] = '\0'; /* no presale */
    bad_room |= r->pr_top[0] == '\0' || r->pr_snap[0] == '\0';
    int bad = parse_u64(row[6], &r->total) || parse_u64(row[7], &r->sold) || parse_u64(row[8], &r->hwm) || r->stock_ver[0] == '\0' ||
              r->state_ver[0] == '\0' || bad_room;
    mysql_free_result(res);
    if (bad || r->maxpu[0] == '\0' || r->created[0] == '\0') {
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_ERR_DB, "event %s: unexpected values in its events/event_stock rows", r->event);
    }
    return TK_REBUILD_OK;
}

/* Step 2: the stream is empty, and the event hash as it is now. */
static int check_redis(rb_t *r)
{
    redisAppendCommand(r->redis, "XLEN %s", r->key_q);
    redisAppendCommand(r->redis, "HMGET %s seq total remaining state", r->key_ev);
    /* Leftovers of a rebuild that died; UNLINK frees big values in the background. */
    redisAppendCommand(r->redis, "UNLINK %s %s", r->key_tmp, r->key_old);
    redisReply *rep[3] = {NULL, NULL, NULL};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
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
    else if (rep[0]->type != REDIS_REPLY_INTEGER || rep[1]->type != REDIS_REPLY_ARRAY || rep[1]->elements != 4 ||
             rep[2]->type != REDIS_REPLY_INTEGER)
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis: unexpected reply to XLEN/HMGET/DEL: %s",
                   rep[0]->type == REDIS_REPLY_ERROR ? rep[0]->str : rep[1]->type == REDIS_REPLY_ERROR ? rep[1]->str : "?");
    else if (rep[0]->integer > 0) {
        r->st->stream_len = rep[0]->integer;
        rc = failf(r, TK_REBUILD_NOT_DRAINED, "event %s: %lld entries in %s not yet in MariaDB", r->event, rep[0]->integer, r->key_q);
    } else {
        for (int i = 0; i < 4; i++) {
            const redisReply *e = rep[1]->element[i];
            if (e->type == REDIS_REPLY_STRING)
                copy_field(r->snap[i], sizeof(r->snap[i]), e->str, (unsigned long)e->len);
            else
                r->snap[i][0] = '\0';
        }
    }
    for (int i = 0; i < 3; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    if (rc != TK_REBUILD_OK)
        mysql_rollback(r->db);
    return rc;
}

/* ---------------------------------------------------------------- step 3: load */

typedef struct {
    const char **argv;
    size_t *lens;
    char (*buf)[TK_CLAIM_RECORD_MAX];
    char (*user)[TK_ID_MAX + 1];
    size_t n;          /* fields in the command being built */
    int inflight;      /* commands sent, replies not read */
    int expire_sent;
} pipe_t;

/* Reads one reply; 0 when it is an integer (HSET, EXPIRE), else -1 with the error. */
static int read_one(rb_t *r, pipe_t *p)
{
    void *v = NULL;
    if (redisGetReply(r->redis, &v) != REDIS_OK)
        return failf(r, -1, "Redis: %s", r->redis->errstr);
    redisReply *rep = v;
    p->inflight--;
    int ok = rep->type == REDIS_REPLY_INTEGER;
    if (!ok)
        failf(r, -1, "Redis HSET %s: %s", r->key_tmp, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static int send_chunk(rb_t *r, pipe_t *p)
{
    if (p->n == 0)
        return 0;
    if (redisAppendCommandArgv(r->redis, (int)(2 + 2 * p->n), p->argv, p->lens) != REDIS_OK)
        return failf(r, -1, "Redis: %s", r->redis->errstr);
    p->inflight++;
    p->n = 0;
    if (!p->expire_sent) {
        /* A rebuild that dies before its swap leaves no hash behind for good. */
        redisAppendCommand(r->redis, "EXPIRE %s %d", r->key_tmp, TK_REBUILD_TEMP_TTL_S);
        p->inflight++;
        p->expire_sent = 1;
    }
    while (p->inflight >= TK_REBUILD_INFLIGHT)
        if (read_one(r, p) != 0)
            return -1;
    return 0;
}

static int load_claims(rb_t *r)
{
    pipe_t p = {0};
    p.argv = calloc(2 + 2 * TK_REBUILD_CHUNK, sizeof(*p.argv));
    p.lens = calloc(2 + 2 * TK_REBUILD_CHUNK, sizeof(*p.lens));
    p.buf = calloc(TK_REBUILD_CHUNK, sizeof(*p.buf));
    p.user = calloc(TK_REBUILD_CHUNK, sizeof(*p.user));
    int rc = TK_REBUILD_OK;
    MYSQL_RES *res = NULL;
    if (p.argv == NULL || p.lens == NULL || p.buf == NULL || p.user == NULL) {
        rc = failf(r, TK_REBUILD_ERR_DB, "out of memory");
        goto out;
    }
    p.argv[0] = "HSET";
    p.lens[0] = 4;
    p.argv[1] = r->key_tmp;
    p.lens[1] = strlen(r->key_tmp);

    char esc[2 * TK_ID_MAX + 1], sql[512];
    mysql_real_escape_string(r->db, esc, r->event, (unsigned long)r->elen);
    snprintf(sql, sizeof(sql),
             "SELECT user_id, ticket, quantity, CAST(UNIX_TIMESTAMP(created_at) * 1000 AS UNSIGNED), status"
             " FROM claims WHERE event_id = '%s'",
             esc);
    if (mysql_query(r->db, sql) != 0) {
        rc = db_fail(r, "read claims");
        goto out;
    }
    /* Rows are streamed from the server, never all held here. */
    res = mysql_use_result(r->db);
    if (res == NULL) {
        rc = db_fail(r, "read claims result");
        goto out;
    }
    MYSQL_ROW row;
    /* Bounded by the rows of the table: mysql_fetch_row returns NULL at the end or on error. */
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (row[0] == NULL || len[0] == 0 || len[0] > TK_ID_MAX) {
            rc = failf(r, TK_REBUILD_ERR_DB, "event %s: a claims row with a bad user id", r->event);
            break;
        }
        int n = tk_rebuild_record(row[1], row[2], row[3], row[4], p.buf[p.n]);
        if (n <= 0 || n >= TK_CLAIM_RECORD_MAX) {
            rc = failf(r, TK_REBUILD_ERR_DB, "event %s user %.*s: bad claims row (status %s)", r->event, (int)len[0], row[0],
                       row[4] ? row[4] : "NULL");
            break;
        }
        memcpy(p.user[p.n], row[0], len[0]);
        p.argv[2 + 2 * p.n] = p.user[p.n];
        p.lens[2 + 2 * p.n] = len[0];
        p.argv[3 + 2 * p.n] = p.buf[p.n];
        p.lens[3 + 2 * p.n] = (size_t)n;
        p.n++;
        r->st->claims++;
        if (p.n == TK_REBUILD_CHUNK && send_chunk(r, &p) != 0) {
            rc = TK_REBUILD_ERR_REDIS;
            break;
        }
    }
    if (rc == TK_REBUILD_OK && mysql_errno(r->db) != 0) {
        mysql_free_result(res);
        res = NULL;
        rc = db_fail(r, "fetch claims");
        goto out;
    }
    if (rc == TK_REBUILD_OK && send_chunk(r, &p) != 0)
        rc = TK_REBUILD_ERR_REDIS;
    /* Every reply is read whatever happened, so the context stays in step (bounded: one per command sent). */
    while (p.inflight > 0 && r->redis->err == 0) {
        if (read_one(r, &p) != 0 && rc == TK_REBUILD_OK)
            rc = TK_REBUILD_ERR_REDIS;
    }
out:
    if (res != NULL)
        mysql_free_result(res); /* reads and discards what is left when the loop stopped early */
    if (rc != TK_REBUILD_OK) {
        mysql_rollback(r->db);
        if (r->redis->err == 0) {
            redisReply *d = redisCommand(r->redis, "UNLINK %s", r->key_tmp);
            if (d != NULL)
                freeReplyObject(d);
        }
    }
    free(p.argv);
    free(p.lens);
    free(p.buf);
    free(p.user);
    return rc;
}

/* ---------------------------------------------------------------- step 4: swap */

/*
 * SADD of the event's id to the registry @set (tk:events, tk:wq:rooms): a
 * command of its own, apart from rebuild_swap.lua, because on a Redis
 * Cluster the set is in another slot than the event's keys. Returns 0, or
 * TK_REBUILD_ERR_REDIS with the transaction rolled back.
 */
static int registry_add(rb_t *r, const char *set)
{
    redisReply *rep = redisCommand(r->redis, "SADD %s %b", set, r->event, (size_t)r->elen);
    int ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        mysql_rollback(r->db);
        failf(r, TK_REBUILD_ERR_REDIS, "Redis SADD %s: %s", set,
              rep == NULL ? r->redis->errstr : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return ok ? 0 : TK_REBUILD_ERR_REDIS;
}

/*
 * tk:events before the swap (lua/rebuild_swap.lua says why: a listed id
 * without a hash is tolerated, a hash nobody lists is never drained);
 * tk:wq:rooms comes after it, once the room exists.
 */
static int registries_before(rb_t *r)
{
    if (r->flags & TK_REBUILD_NO_REGISTRY)
        return 0; /* the caller's, on tk:events' own master */
    return registry_add(r, TK_KEY_EVENTS);
}

static int swap(rb_t *r)
{
    const char *text = tk_lua_find("rebuild_swap");
    if (text == NULL) {
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_ERR_REDIS, "lua/rebuild_swap.lua is not compiled in");
    }
    /* total: the database's (tk_rebuild.h: no stock change is in flight while the rows are locked). */
    uint64_t total = r->total;
    uint64_t remaining = total > r->sold ? total - r->sold : 0;
    char s_total[NUM_MAX], s_rem[NUM_MAX], s_rows[NUM_MAX], s_hwm[NUM_MAX];
    snprintf(s_total, sizeof(s_total), "%" PRIu64, total);
    snprintf(s_rem, sizeof(s_rem), "%" PRIu64, remaining);
    snprintf(s_rows, sizeof(s_rows), "%" PRIu64, r->st->claims);
    snprintf(s_hwm, sizeof(s_hwm), "%" PRIu64, r->hwm);
    char ev[TK_ID_MAX + 1];
    copy_field(ev, sizeof(ev), r->event, (unsigned long)r->elen);
    int before = registries_before(r);
    if (before != 0)
        return before;
    const char *argv[] = {"EVAL",     text,     "6",      r->key_ev, r->key_claims, r->key_tmp, r->key_q,
                          r->key_old, r->key_wq, ev, r->snap[0], r->snap[1], r->snap[2], r->snap[3], s_rows, r->name,
                          r->state,   s_total,  s_rem,    r->maxpu, r->opens,  r->closes,     s_hwm,      r->created, TK_STREAM_GROUP,
                          r->stock_ver, r->state_ver, r->wr, r->wr_rate, r->wr_ttl, r->wr_opens, r->wr_paused, r->wr_ver,
                          r->pr_board, r->pr_top, r->pr_opens};
    const int argc = (int)(sizeof(argv) / sizeof(argv[0]));
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep = redisCommandArgv(r->redis, argc, argv, lens);
    if (rep == NULL) {
        mysql_rollback(r->db);
        return failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", r->redis->errstr);
    }
    int rc;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "OK") == 0 && rep->element[1]->type == REDIS_REPLY_STRING &&
        parse_u64(rep->element[1]->str, &r->st->seq) == 0) {
        rc = TK_REBUILD_OK;
        r->st->wr_on = strcmp(r->wr, "1") == 0;
        if (r->st->wr_on && !(r->flags & TK_REBUILD_NO_REGISTRY)) {
            redisReply *again = redisCommand(r->redis, "SADD %s %b", TK_KEY_WQ_ROOMS, r->event, (size_t)r->elen);
            if (again != NULL)
                freeReplyObject(again); /* failed: nobody waits in a rebuilt room; its first join lists it */
        }
        r->st->total = total;
        r->st->sold = r->sold;
        r->st->remaining = remaining;
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_STRING) {
        const char *w = rep->element[0]->str;
        rc = strcmp(w, "not_drained") == 0 ? TK_REBUILD_NOT_DRAINED : TK_REBUILD_CONFLICT;
        failf(r, rc, "event %s: swap refused: %s", r->event, w);
    } else {
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis rebuild_swap.lua: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
    /* The replaced claims, or the refused temporary hash: freed in Redis's background thread. */
    rep = redisCommand(r->redis, "UNLINK %s %s", r->key_tmp, r->key_old);
    if (rep != NULL)
        freeReplyObject(rep);
    /* Step 5: the rows stay locked until Redis holds the new state. */
    if (rc == TK_REBUILD_OK) {
        if (mysql_commit(r->db) != 0)
            mysql_rollback(r->db); /* nothing was written in the transaction: its locks are gone either way */
    } else {
        mysql_rollback(r->db);
    }
    return rc;
}

/* ---------------------------------------------------------------- step 6: the priority snapshot */

/* One prio_copy.lua call with @n users; 0, 1 when the script says there is nothing more to copy, -1 failed. */
static int prio_chunk(rb_t *r, const char *text, const char **argv, size_t *lens, size_t n, int last)
{
    char total[NUM_MAX];
    snprintf(total, sizeof(total), "%" PRIu64, r->st->prio);
    argv[0] = "EVAL";
    argv[1] = text;
    argv[2] = "2";
    argv[3] = r->key_ev;
    argv[4] = r->key_prio;
    argv[5] = r->pr_snap;
    argv[6] = total; /* read only on the last chunk: by then it is the whole snapshot's size */
    argv[7] = last ? "1" : "0";
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep = redisCommandArgv(r->redis, (int)(8 + n), argv, lens);
    if (rep == NULL)
        return failf(r, -1, "Redis: %s", r->redis->errstr);
    int rv = -1;
    if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING)
        rv = strcmp(rep->str, "OK") == 0 ? 0 : 1;
    else
        failf(r, -1, "Redis prio_copy.lua: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return rv;
}

static int copy_prio(rb_t *r)
{
    if (r->pr_board[0] == '\0' || strcmp(r->pr_snap, "0") == 0)
        return TK_REBUILD_OK; /* no presale, or no snapshot yet: the gateways take it at its time */
    const char *text = tk_lua_find("prio_copy");
    if (text == NULL)
        return failf(r, TK_REBUILD_ERR_REDIS, "lua/prio_copy.lua is not compiled in");
    const char **argv = calloc(8 + TK_REBUILD_CHUNK, sizeof(*argv));
    size_t *lens = calloc(8 + TK_REBUILD_CHUNK, sizeof(*lens));
    char(*user)[TK_ID_MAX + 1] = calloc(TK_REBUILD_CHUNK, sizeof(*user));
    int rc = TK_REBUILD_OK;
    MYSQL_RES *res = NULL;
    if (argv == NULL || lens == NULL || user == NULL) {
        rc = failf(r, TK_REBUILD_ERR_DB, "out of memory");
        goto out;
    }
    char esc[2 * TK_ID_MAX + 1], sql[256];
    mysql_real_escape_string(r->db, esc, r->event, (unsigned long)r->elen);
    snprintf(sql, sizeof(sql), "SELECT user_id FROM event_priority WHERE event_id = '%s' ORDER BY `rank`", esc);
    /* Stored, not streamed: a Redis call per chunk must not hold the result open (at most 100,000 short rows). */
    if (mysql_query(r->db, sql) != 0 || (res = mysql_store_result(r->db)) == NULL) {
        rc = db_fail(r, "read event_priority");
        goto out;
    }
    mysql_rollback(r->db);
    size_t n = 0;
    uint64_t rows = mysql_num_rows(res);
    r->st->prio = rows;
    MYSQL_ROW row;
    int done = 0;
    while (!done && (row = mysql_fetch_row(res)) != NULL) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (row[0] == NULL || len[0] == 0 || len[0] > TK_ID_MAX) {
            rc = failf(r, TK_REBUILD_ERR_DB, "event %s: an event_priority row with a bad user id", r->event);
            goto out;
        }
        memcpy(user[n], row[0], len[0]);
        user[n][len[0]] = '\0';
        argv[8 + n] = user[n];
        lens[8 + n] = len[0];
        n++;
        if (n == TK_REBUILD_CHUNK) {
            int c = prio_chunk(r, text, argv, lens, n, 0);
            if (c < 0) {
                rc = TK_REBUILD_ERR_REDIS;
                goto out;
            }
            done = c == 1;
            n = 0;
        }
    }
    if (!done && prio_chunk(r, text, argv, lens, n, 1) < 0)
        rc = TK_REBUILD_ERR_REDIS;
out:
    if (res != NULL)
        mysql_free_result(res);
    free(argv);
    free(lens);
    free(user);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int tk_rebuild_event(MYSQL *db, redisContext *redis, const char *event_id, tk_rebuild_stats_t *stats, char *err, size_t errlen)
{
    return tk_rebuild_event_ex(db, redis, event_id, 0, stats, err, errlen);
}

int tk_rebuild_event_ex(MYSQL *db, redisContext *redis, const char *event_id, unsigned flags, tk_rebuild_stats_t *stats, char *err,
                        size_t errlen)
{
    rb_t *r = calloc(1, sizeof(*r));
    memset(stats, 0, sizeof(*stats));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return TK_REBUILD_ERR_DB;
    }
    r->db = db;
    r->redis = redis;
    r->flags = flags;
    r->event = event_id;
    r->elen = event_id != NULL ? strlen(event_id) : 0;
    r->err = err;
    r->errlen = errlen;
    r->st = stats;
    int64_t t0 = tk_time_mono_ms(), t = t0;
    int rc;
    if (event_id == NULL || !tk_valid_event_id(event_id, r->elen) || tk_key(TK_KEY_EV, event_id, r->elen, r->key_ev) < 0 ||
        tk_key(TK_KEY_CLAIMS, event_id, r->elen, r->key_claims) < 0 || tk_key(TK_KEY_STREAM, event_id, r->elen, r->key_q) < 0 ||
        tk_key(TK_KEY_WQ, event_id, r->elen, r->key_wq) < 0 || tk_key(TK_KEY_PRIO, event_id, r->elen, r->key_prio) < 0) {
        rc = failf(r, TK_REBUILD_ERR_INVALID, "not a valid event id");
        goto out;
    }
    snprintf(r->key_tmp, sizeof(r->key_tmp), "%s%s", r->key_claims, TEMP_SUFFIX);
    snprintf(r->key_old, sizeof(r->key_old), "%s%s", r->key_claims, OLD_SUFFIX);
    if (redis == NULL || redis->err != 0) {
        rc = failf(r, TK_REBUILD_ERR_REDIS, "Redis: %s", redis != NULL ? redis->errstr : "no connection");
        goto out;
    }

    /* The steps in order, each timed into its stats field; the first failure ends the rebuild. */
    const struct {
        int (*run)(rb_t *r);
        int64_t *ms;
    } steps[] = {
        {read_event, &stats->ms_read},
        {check_redis, &stats->ms_check},
        {load_claims, &stats->ms_load},
        {swap, &stats->ms_swap},
        {copy_prio, &stats->ms_prio},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        rc = steps[i].run(r);
        *steps[i].ms = tk_time_mono_ms() - t;
        t = tk_time_mono_ms();
        if (rc != TK_REBUILD_OK)
            break;
    }
out:
    stats->ms_total = tk_time_mono_ms() - t0;
    free(r);
    return rc;
}
