/*
 * gw_prio: the priority presale's snapshot, taken once; the argument is in
 * gw_prio.h.
 */
#include "gw_prio.h"
#include "gw_dbpool.h"
#include "gw_dbtxn.h"
#include "gw_types.h"
#include "tk_db.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_sql.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#define BOARD_READ_TRIES 3

/* Where a list of the round goes on: after (ms, id) in its order; (0, "") is its start. */
typedef struct {
    int64_t ms;
    char id[TK_ID_MAX + 1];
} cursor_t;

/* Set by any loop thread when a claim met a window without its snapshot
 * (gw_prio_poke): the next tick runs a round even while idle. One server
 * per process, so one flag. */
static atomic_int poke;

struct st_gw_prio_t {
    gw_thread_t *th;
    int inflight;   /* a snapshot job is out (loop thread only) */
    int idle_ticks; /* ticks left to skip after a round that found nothing (loop thread only) */
    int found;      /* the last round listed an event (written by the job, read in on_done) */
    /* The fields below belong to the job (one at a time). */
    int64_t warned_ms; /* the last "board not in redis" warning */
    cursor_t todo;     /* the events without a snapshot, by (pr_opens_at, event_id) */
    cursor_t copy;     /* the events with one, by (opens_at, event_id): is Redis's copy there? */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
};

/* An event inside its window, as MariaDB lists it. */
typedef struct {
    char event_id[TK_ID_MAX + 1];
    char board[TK_ID_MAX + 1];
    long long top;
    int64_t snapshot_ms; /* 0: not taken */
    int64_t key_ms;      /* its time in the list's order (pr_opens_at, or opens_at) */
} due_t;

/* A snapshot's users in rank order (1-based rank = index + 1). */
typedef struct {
    char (*id)[TK_ID_MAX + 1];
    size_t n, cap;
} users_t;

/*
 * The two lists of a round, each a page of a keyset walk that wraps around
 * (the index of sql/009_priority_index.sql serves both). Parameters: now,
 * now, the cursor's time twice, its event id.
 *  - sql_todo: the window's events whose snapshot is not taken yet, the
 *    earliest window first.
 *  - sql_copy: the window's events whose snapshot is taken, for the Redis
 *    copy (a copy that failed, or Redis restarted without losing the event
 *    hash); each costs one HMGET when the copy is there.
 */
static const char sql_todo[] = "SELECT event_id, pr_board, pr_top, pr_snapshot_at, pr_opens_at FROM events "
                               "WHERE pr_snapshot_at IS NULL AND pr_board IS NOT NULL AND pr_opens_at <= ? AND opens_at > ? "
                               "AND (pr_opens_at > ? OR (pr_opens_at = ? AND event_id > ?)) "
                               "ORDER BY pr_opens_at, event_id LIMIT 64"; /* GW_PRIO_EVENTS_MAX */
static const char sql_copy[] = "SELECT event_id, pr_board, pr_top, pr_snapshot_at, opens_at FROM events "
                               "WHERE pr_snapshot_at IS NOT NULL AND opens_at > ? AND pr_opens_at <= ? "
                               "AND (opens_at > ? OR (opens_at = ? AND event_id > ?)) "
                               "ORDER BY opens_at, event_id LIMIT 64"; /* GW_PRIO_EVENTS_MAX */
_Static_assert(GW_PRIO_EVENTS_MAX == 64, "sql_todo's and sql_copy's LIMIT");
static const char sql_lock[] = "SELECT pr_snapshot_at FROM events WHERE event_id = ? FOR UPDATE";
static const char sql_mark[] = "UPDATE events SET pr_snapshot_at = ? WHERE event_id = ? AND pr_snapshot_at IS NULL";
static const char sql_rows[] = "SELECT user_id FROM event_priority WHERE event_id = ? ORDER BY `rank`";

/* ---------------------------------------------------------------- MariaDB: the due events */

typedef struct {
    due_t *due;
    size_t n;
    char id[TK_ID_MAX + 1], board[TK_ID_MAX + 1];
    unsigned long ilen, blen;
    long long top;
    MYSQL_TIME snap, key;
    my_bool snap_null, key_null;
} due_read_t;

static void on_due(void *arg)
{
    due_read_t *d = arg;
    if (d->n >= GW_PRIO_EVENTS_MAX || d->ilen == 0 || d->ilen > TK_ID_MAX || d->blen == 0 || d->blen > TK_ID_MAX)
        return;
    due_t *e = &d->due[d->n++];
    memcpy(e->event_id, d->id, d->ilen);
    e->event_id[d->ilen] = '\0';
    memcpy(e->board, d->board, d->blen);
    e->board[d->blen] = '\0';
    e->top = d->top;
    e->snapshot_ms = d->snap_null ? 0 : tk_db_time_to_ms(&d->snap);
    e->key_ms = d->key_null ? 0 : tk_db_time_to_ms(&d->key);
}

/*
 * One page of @sql (sql_todo or sql_copy) at @now, after @cur: 0 or a
 * MariaDB error. @cur moves to the page's last row when the page is full,
 * else back to the start: every event of the list is on a page within
 * ceil(N / GW_PRIO_EVENTS_MAX) + 1 rounds. Ends its transaction (a fresh
 * read next time).
 */
static unsigned read_due(MYSQL *db, const char *sql, int64_t now, cursor_t *cur, due_t *due, size_t *n)
{
    due_read_t d = {.due = due};
    MYSQL_BIND in[5], out[5];
    MYSQL_TIME t, c;
    unsigned long clen;
    tk_db_time_from_ms(now, &t);
    tk_db_time_from_ms(cur->ms, &c);
    tk_sql_bind_time(&in[0], &t, NULL);
    tk_sql_bind_time(&in[1], &t, NULL);
    tk_sql_bind_time(&in[2], &c, NULL);
    tk_sql_bind_time(&in[3], &c, NULL);
    tk_sql_bind_str(&in[4], cur->id, &clen, strlen(cur->id));
    tk_sql_bind_strbuf(&out[0], d.id, TK_ID_MAX, &d.ilen);
    tk_sql_bind_strbuf(&out[1], d.board, TK_ID_MAX, &d.blen);
    tk_sql_bind_i64(&out[2], &d.top);
    tk_sql_bind_time(&out[3], &d.snap, &d.snap_null);
    tk_sql_bind_time(&out[4], &d.key, &d.key_null);
    unsigned e = tk_sql_stmt(db, sql, in, out, GW_PRIO_EVENTS_MAX, on_due, &d, NULL);
    mysql_rollback(db);
    *n = e == 0 ? d.n : 0;
    if (e == 0 && d.n == GW_PRIO_EVENTS_MAX) {
        cur->ms = due[d.n - 1].key_ms;
        memcpy(cur->id, due[d.n - 1].event_id, sizeof(cur->id));
    } else if (e == 0) {
        *cur = (cursor_t){0};
    }
    return e;
}

/* ---------------------------------------------------------------- Redis: the board */

static int users_add(users_t *u, const char *id, size_t len)
{
    if (len == 0 || len > TK_ID_MAX || u->n >= u->cap)
        return -1;
    memcpy(u->id[u->n], id, len);
    u->id[u->n][len] = '\0';
    u->n++;
    return 0;
}

static int reply_i64(const redisReply *r, long long *v)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
        return -1;
    char buf[24], *end;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    *v = strtoll(buf, &end, 10);
    return *end == '\0' ? 0 : -1;
}

/*
 * HMGET of the board's comps, season, start, len, last_t (absent: 0): 0, 1
 * when the board hash is absent, -1 on a failure.
 */
static int board_head(redisContext *rc, const char *kb, long long h[5])
{
    redisReply *r = redisCommand(rc, "HMGET %s comps season start len last_t", kb);
    if (r == NULL)
        return -1;
    int rv = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
        h[4] = 0;
        if (r->element[1]->type == REDIS_REPLY_NIL)
            rv = 1;
        else if (reply_i64(r->element[0], &h[0]) == 0 && reply_i64(r->element[1], &h[1]) == 0 && reply_i64(r->element[2], &h[2]) == 0 &&
                 reply_i64(r->element[3], &h[3]) == 0 && (r->element[4]->type == REDIS_REPLY_NIL || reply_i64(r->element[4], &h[4]) == 0) &&
                 (h[0] == 1 || h[0] == 2) && h[1] >= 1)
            rv = 0;
    }
    freeReplyObject(r);
    return rv;
}

/* A closed season's value in the seasons hash, "<start_ms> <end_ms>": 0, or -1 when it is not what lb_write.lua writes. */
static int season_span(const redisReply *v, long long *start, long long *end)
{
    char buf[48];
    if (v->type != REDIS_REPLY_STRING || v->len >= sizeof(buf))
        return -1;
    memcpy(buf, v->str, v->len);
    buf[v->len] = '\0';
    return sscanf(buf, "%lld %lld", start, end) == 2 && *end > 0 ? 0 : -1;
}

/*
 * The seasons hash @ksn walked whole (HSCAN): of its seasons numbered
 * below @below, the highest one begun at or before @pr_ms, if @pr_ms is
 * before its end; else 0. -1 on a failure, a value lb_write.lua does not
 * write, or past SEASONS_SCAN_MS. A season's start grows with its number
 * (a rollover begins the next one at or after the previous one's end),
 * so the highest begun by @pr_ms is the only one that can hold it. The
 * hash only gains fields while it lives, and HSCAN returns every field
 * there from the first call to the last (some maybe twice: harmless).
 */
#define SEASONS_SCAN_COUNT 1000
#define SEASONS_SCAN_MS 5000
static long long season_scan(redisContext *rc, const char *ksn, long long below, int64_t pr_ms)
{
    long long best = 0, best_end = 0;
    char cursor[24] = "0";
    int64_t until = tk_time_mono_ms() + SEASONS_SCAN_MS;
    do {
        if (tk_time_mono_ms() > until) {
            tk_warn("priority: %s: walking the seasons hash took over %d ms; the next round tries again", ksn, SEASONS_SCAN_MS);
            return -1;
        }
        redisReply *r = redisCommand(rc, "HSCAN %s %s COUNT %d", ksn, cursor, SEASONS_SCAN_COUNT);
        if (r == NULL)
            return -1;
        int bad = r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
                  r->element[0]->len >= sizeof(cursor) || r->element[1]->type != REDIS_REPLY_ARRAY || r->element[1]->elements % 2 != 0;
        if (!bad) {
            memcpy(cursor, r->element[0]->str, r->element[0]->len);
            cursor[r->element[0]->len] = '\0';
            const redisReply *kv = r->element[1];
            for (size_t i = 0; i < kv->elements && !bad; i += 2) {
                long long n, start, end;
                if (reply_i64(kv->element[i], &n) != 0 || n < 1) {
                    bad = 1;
                } else if (n < below) {
                    bad = season_span(kv->element[i + 1], &start, &end) != 0;
                    if (!bad && start <= pr_ms && n > best) {
                        best = n;
                        best_end = end;
                    }
                }
            }
        }
        freeReplyObject(r);
        if (bad) {
            tk_warn("priority: %s: a season in it is not what lb_write.lua writes (\"<start> <end>\")", ksn);
            return -1;
        }
    } while (strcmp(cursor, "0") != 0);
    return best > 0 && pr_ms < best_end ? best : 0;
}

/*
 * The season that was current on @board at @pr_ms (the event's
 * priority.opens_at), from the board head @h (comps season start len
 * last_t): its number, 0 when none was (a season the schedule skipped, or
 * an instant before the board's first), -1 on a failure.
 *
 * At or after the current season's start, the board's clock at @pr_ms is
 * max(@pr_ms, last_t) (last_t only passes @pr_ms by writes since, inside
 * this season, or by a clock that stepped back): past the schedule's end,
 * the season current then is a later one nobody wrote (empty). Before that
 * start, a rollover came after @pr_ms: the seasons hash says when each
 * season that existed began and ended ("<start> <end>"), and the one whose
 * [start, end) holds @pr_ms was current; an instant in none (after k ended,
 * before k + 1 began: skipped seasons) had an empty one.
 *
 * Bounded: one HMGET of the SEASONS_STEP numbers below the current one
 * (the usual case: the window opened in one of the last seasons); past
 * them, the hash is walked (season_scan), in commands per
 * SEASONS_SCAN_COUNT seasons that existed, not per number: one roll of a
 * board of 1 s seasons idle for a year skips 31 million numbers.
 */
#define SEASONS_STEP 128
static long long season_at(redisContext *rc, const char *board, size_t blen, const long long h[5], int64_t pr_ms)
{
    if (pr_ms >= h[2]) {
        long long clock = pr_ms > h[4] ? pr_ms : h[4];
        return h[3] > 0 && clock >= h[2] + h[3] * 1000 ? 0 : h[1];
    }
    char ksn[TK_KEY_MAX];
    if (tk_lb_key(TK_LB_SEASONS, board, blen, 0, ksn) < 0)
        return -1;
    long long hi = h[1] - 1;
    if (hi < 1)
        return 0;
    long long lo = hi - SEASONS_STEP + 1 > 1 ? hi - SEASONS_STEP + 1 : 1;
    const char *argv[2 + SEASONS_STEP];
    size_t lens[2 + SEASONS_STEP];
    char num[SEASONS_STEP][24];
    int argc = 0;
    argv[argc] = "HMGET", lens[argc++] = 5;
    argv[argc] = ksn, lens[argc++] = strlen(ksn);
    for (long long k = hi; k >= lo; k--) {
        int n = snprintf(num[hi - k], sizeof(num[0]), "%lld", k);
        argv[argc] = num[hi - k], lens[argc++] = (size_t)n;
    }
    redisReply *r = redisCommandArgv(rc, argc, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(argc - 2)) {
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    long long found = -2; /* not decided yet */
    for (size_t i = 0; i < r->elements && found == -2; i++) {
        const redisReply *v = r->element[i];
        long long start, end;
        if (v->type == REDIS_REPLY_NIL)
            continue; /* a number the schedule skipped */
        if (season_span(v, &start, &end) != 0)
            found = -1; /* a closed season without its end: not what lb_write.lua writes */
        else if (pr_ms >= end)
            found = 0; /* after it ended, before the next began */
        else if (pr_ms >= start)
            found = hi - (long long)i;
    }
    freeReplyObject(r);
    if (found == -1)
        tk_warn("priority: board %s: its seasons hash holds a closed season without start and end", board);
    if (found != -2)
        return found;
    return lo > 1 ? season_scan(rc, ksn, lo, pr_ms) : 0;
}

/* Rows of user ids into a users_t (read_board_db, read_rows). */
typedef struct {
    users_t *u;
    char id[TK_ID_MAX + 1];
    unsigned long len;
} rows_read_t;

static void on_row(void *arg)
{
    rows_read_t *r = arg;
    users_add(r->u, r->id, r->len);
}

static const char sql_board_top[] = "SELECT user_id FROM board_scores WHERE board_id = ? AND season = ? " TK_LB_ORDER_SQL " LIMIT ?";

/* A closed season whose keys Redis no longer keeps (dropped only once its every write is in MariaDB): its top from MariaDB. */
static int read_board_db(MYSQL *db, const char *board, long long season, long long top, users_t *u)
{
    if (db == NULL)
        return -1;
    rows_read_t r = {.u = u};
    MYSQL_BIND in[3], out[1];
    unsigned long blen;
    tk_sql_bind_str(&in[0], board, &blen, strlen(board));
    tk_sql_bind_i64(&in[1], &season);
    tk_sql_bind_i64(&in[2], &top);
    tk_sql_bind_strbuf(&out[0], r.id, TK_ID_MAX, &r.len);
    u->n = 0;
    unsigned e = tk_sql_stmt(db, sql_board_top, in, out, (unsigned)u->cap, on_row, &r, NULL);
    mysql_rollback(db);
    if (e != 0) {
        tk_warn("priority: board %s season %lld: reading its top from the database failed (error %u)", board, season, e);
        return -1;
    }
    return 0;
}

/*
 * The top @top users, in rank order, into @u, of the season of @board that
 * was current at @pr_ms (season_at): the one the window opened in, even
 * when a rollover (scheduled or by hand) came between then and this read,
 * or the gateways were down across it. From that season's zset while Redis
 * keeps it; a closed season whose zset is gone from MariaDB (@db). Score
 * writes into that season after @pr_ms still count (docs/API.md, "When
 * exactly"). 0; 1 when the board is not in Redis; -1 on a failure (Redis,
 * MariaDB, or a season that kept moving).
 */
static int read_board(redisContext *rc, MYSQL *db, const char *board, long long top, int64_t pr_ms, users_t *u)
{
    char kb[TK_KEY_MAX], kz[TK_KEY_MAX];
    size_t blen = strlen(board);
    if (tk_lb_key(TK_LB_BOARD, board, blen, 0, kb) < 0)
        return -1;
    for (int attempt = 0; attempt < BOARD_READ_TRIES; attempt++) {
        long long h[5], again[5];
        int rv = board_head(rc, kb, h);
        if (rv != 0)
            return rv;
        u->n = 0;
        long long season = season_at(rc, board, blen, h, pr_ms);
        if (season < 0)
            return -1;
        if (season == 0)
            return 0; /* no season was current then, or one nobody wrote: empty */
        if (tk_lb_key(TK_LB_RANK, board, blen, (unsigned)season, kz) < 0)
            return -1;
        redisReply *z = redisCommand(rc, "ZRANGE %s 0 %lld", kz, top - 1);
        if (z == NULL)
            return -1;
        size_t at = tk_lb_member_user_at((int)h[0]);
        int ok = z->type == REDIS_REPLY_ARRAY;
        for (size_t i = 0; ok && i < z->elements; i++) {
            const redisReply *m = z->element[i];
            ok = m->type == REDIS_REPLY_STRING && m->len > at && tk_valid_user_id(m->str + at, m->len - at) &&
                 users_add(u, m->str + at, m->len - at) == 0;
        }
        int none = ok && z->elements == 0;
        freeReplyObject(z);
        if (!ok) {
            tk_warn("priority: board %s: a member of %s is not what tk_lb_member writes", board, kz);
            return -1;
        }
        /* No zset: an empty season, or a closed one Redis let go (its writes all in MariaDB). */
        if (none && season != h[1] && read_board_db(db, board, season, top, u) != 0)
            return -1;
        rv = board_head(rc, kb, again);
        if (rv != 0)
            return rv;
        if (again[1] == h[1])
            return 0;
        /* a rollover between the reads: the season current at pr_ms may now be a closed one; again */
    }
    return -1;
}

/* ---------------------------------------------------------------- MariaDB: the record */

typedef struct {
    const due_t *ev;
    const users_t *u;
    int64_t now;
    int taken;   /* this transaction wrote the snapshot */
    int64_t had; /* pr_snapshot_at found set (ms) */
} take_t;

static unsigned insert_chunk(MYSQL *db, const char *event, size_t elen, const users_t *u, size_t from, size_t k)
{
    static const char head[] = "INSERT INTO event_priority (event_id, user_id, `rank`) VALUES ";
    size_t cap = sizeof(head) + k * 10;
    char *sql = malloc(cap);
    MYSQL_BIND *b = calloc(3 * k, sizeof(*b));
    unsigned long *lens = calloc(2 * k, sizeof(*lens));
    long long *rank = calloc(k, sizeof(*rank));
    unsigned e = 2008; /* CR_OUT_OF_MEMORY */
    if (sql == NULL || b == NULL || lens == NULL || rank == NULL)
        goto out;
    size_t len = (size_t)snprintf(sql, cap, "%s", head);
    for (size_t i = 0; i < k; i++) {
        memcpy(sql + len, i == 0 ? "(?,?,?)" : ",(?,?,?)", i == 0 ? 7 : 8);
        len += i == 0 ? 7 : 8;
        rank[i] = (long long)(from + i + 1);
        tk_sql_bind_str(&b[3 * i], event, &lens[2 * i], elen);
        tk_sql_bind_str(&b[3 * i + 1], u->id[from + i], &lens[2 * i + 1], strlen(u->id[from + i]));
        tk_sql_bind_i64(&b[3 * i + 2], &rank[i]);
    }
    sql[len] = '\0';
    e = tk_sql_stmt(db, sql, b, NULL, 0, NULL, NULL, NULL);
out:
    free(sql);
    free(b);
    free(lens);
    free(rank);
    return e;
}

/*
 * The transaction: lock the events row; only while pr_snapshot_at is NULL,
 * the rows and pr_snapshot_at. Found set: roll back (had = its time).
 */
static unsigned take_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    take_t *t = arg;
    MYSQL_BIND in[2], out[1];
    unsigned long elen;
    size_t el = strlen(t->ev->event_id);
    MYSQL_TIME snap;
    my_bool snap_null = 1;
    unsigned long long rows = 0;
    (void)job;
    t->taken = 0;
    t->had = 0;
    tk_sql_bind_str(&in[0], t->ev->event_id, &elen, el);
    tk_sql_bind_time(&out[0], &snap, &snap_null);
    unsigned e = tk_sql_stmt(db, sql_lock, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    if (rows != 1)
        return GW_DBTXN_ANSWERED; /* the event is gone: nothing to take */
    if (!snap_null) {
        t->had = tk_db_time_to_ms(&snap);
        return GW_DBTXN_ANSWERED; /* taken by another gateway: roll back, copy its rows */
    }
    for (size_t from = 0; from < t->u->n; from += GW_PRIO_COPY_CHUNK) {
        size_t k = t->u->n - from < GW_PRIO_COPY_CHUNK ? t->u->n - from : GW_PRIO_COPY_CHUNK;
        if ((e = insert_chunk(db, t->ev->event_id, el, t->u, from, k)) != 0)
            return e;
    }
    MYSQL_TIME now;
    tk_db_time_from_ms(t->now, &now);
    tk_sql_bind_time(&in[0], &now, NULL);
    tk_sql_bind_str(&in[1], t->ev->event_id, &elen, el);
    if ((e = tk_sql_stmt(db, sql_mark, in, NULL, 0, NULL, NULL, &rows)) != 0)
        return e;
    if (rows != 1)
        return 1; /* cannot happen under the row lock: roll back rather than leave rows without their mark */
    t->taken = 1;
    return 0;
}

/* The committed snapshot's users, in rank order: 0 or a MariaDB error. */
static unsigned read_rows(MYSQL *db, const char *event, users_t *u)
{
    rows_read_t r = {.u = u};
    MYSQL_BIND in[1], out[1];
    unsigned long elen;
    tk_sql_bind_str(&in[0], event, &elen, strlen(event));
    tk_sql_bind_strbuf(&out[0], r.id, TK_ID_MAX, &r.len);
    u->n = 0;
    unsigned e = tk_sql_stmt(db, sql_rows, in, out, (unsigned)u->cap, on_row, &r, NULL);
    mysql_rollback(db);
    return e;
}

/* ---------------------------------------------------------------- Redis: the copy */

/* 0 copied (or there already); -1 failed (the next round tries again). */
static int copy_to_redis(redisContext *rc, const char *event, int64_t snap_ms, const users_t *u)
{
    const char *text = tk_lua_find("prio_copy");
    if (text == NULL)
        return -1;
    char kev[TK_KEY_MAX], kprio[TK_KEY_MAX], snap[24], n[24];
    size_t elen = strlen(event);
    tk_key(TK_KEY_EV, event, elen, kev);
    tk_key(TK_KEY_PRIO, event, elen, kprio);
    snprintf(snap, sizeof(snap), "%lld", (long long)snap_ms);
    snprintf(n, sizeof(n), "%zu", u->n);
    enum { FIXED = 8 };
    const char **argv = calloc(FIXED + GW_PRIO_COPY_CHUNK, sizeof(*argv));
    size_t *lens = calloc(FIXED + GW_PRIO_COPY_CHUNK, sizeof(*lens));
    int rv = -1;
    if (argv == NULL || lens == NULL)
        goto out;
    argv[0] = "EVAL";
    argv[1] = text;
    argv[2] = "2";
    argv[3] = kev;
    argv[4] = kprio;
    argv[5] = snap;
    argv[6] = n;
    for (size_t from = 0;; from += GW_PRIO_COPY_CHUNK) {
        size_t k = u->n - from < GW_PRIO_COPY_CHUNK ? u->n - from : GW_PRIO_COPY_CHUNK;
        int last = from + k >= u->n;
        argv[7] = last ? "1" : "0";
        for (size_t i = 0; i < k; i++)
            argv[FIXED + i] = u->id[from + i];
        for (size_t i = 0; i < FIXED + k; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(rc, (int)(FIXED + k), argv, lens);
        if (r == NULL)
            goto out;
        int ok = r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING;
        int stop = ok && strcmp(r->str, "OK") != 0; /* "done" or "not_found": nothing more to copy */
        if (!ok)
            tk_warn("priority: event %s: the copy failed: %s", event, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        if (!ok)
            goto out;
        if (stop || last)
            break;
    }
    rv = 0;
out:
    free(argv);
    free(lens);
    return rv;
}

/* ---------------------------------------------------------------- one round */

/* The event's pr_snap in Redis: 1 there, 0 absent, -1 no hash or a failure (skip the event). */
static int redis_has_snap(redisContext *rc, const char *event)
{
    char kev[TK_KEY_MAX];
    tk_key(TK_KEY_EV, event, strlen(event), kev);
    redisReply *r = redisCommand(rc, "HMGET %s state pr_snap", kev);
    if (r == NULL)
        return -1;
    int rv = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING)
        rv = r->element[1]->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return rv;
}

static void snapshot_one(gw_dbjob_t *job, gw_dbconn_t *conn, const due_t *ev, int64_t now)
{
    gw_prio_t *p = job->in;
    /* The event's keys and the board's are in two slots: on a cluster, two masters maybe, each asked for its
     * own connection, and the event's asked again after the board's (a context is not kept across another
     * call: gw_dbpool.h). A single Redis: one connection throughout, as before. */
    int cluster = gw_dbconn_rcluster(conn) != NULL;
    char kev[TK_KEY_MAX], kb[TK_KEY_MAX];
    int kevlen = tk_key(TK_KEY_EV, ev->event_id, strlen(ev->event_id), kev);
    redisContext *rc = gw_dbconn_redis_for(conn, kev, (size_t)kevlen);
    if (rc == NULL)
        return;
    int has = redis_has_snap(rc, ev->event_id);
    if (has < 0 && rc->err != 0)
        gw_dbconn_redis_drop(conn, rc);
    if (has != 0)
        return;
    users_t u = {.cap = (size_t)(ev->top > 0 ? ev->top : 1)};
    u.id = calloc(u.cap, sizeof(*u.id));
    if (u.id == NULL)
        return;
    int64_t snap_ms = ev->snapshot_ms;
    int mine = 0; /* u holds the rows this gateway committed */
    if (snap_ms == 0) {
        redisContext *rb = rc;
        if (cluster)
            rb = tk_lb_key(TK_LB_BOARD, ev->board, strlen(ev->board), 0, kb) < 0 ? NULL : gw_dbconn_redis_for(conn, kb, strlen(kb));
        /* sql_todo's key is the event's pr_opens_at: the season current then is the one read */
        int rv = rb != NULL ? read_board(rb, gw_dbconn_db(conn), ev->board, ev->top, ev->key_ms, &u) : -1;
        if (rv != 0) {
            if (rb == NULL) {
                /* cluster: the board's master unreachable (logged); the next round tries again */
            } else if (rb->err != 0) {
                gw_dbconn_redis_drop(conn, rb);
            } else if (rv == 1 && now - p->warned_ms >= 10000) { /* at most one line per 10 s, not one per round */
                p->warned_ms = now;
                tk_warn("priority: event %s: board %s is not in redis; the snapshot waits for it", ev->event_id, ev->board);
            }
            goto out;
        }
        take_t t = {.ev = ev, .u = &u, .now = now};
        if (gw_dbtxn_run(job, conn, take_body, &t) == 0 && t.taken) {
            snap_ms = now;
            mine = 1;
            tk_info("priority: event %s: snapshot taken, %zu users of board %s", ev->event_id, u.n, ev->board);
        } else if (t.had > 0) {
            snap_ms = t.had; /* another gateway's: its rows, below */
        } else {
            goto out; /* the database failed: the next round tries again */
        }
    }
    if (!mine) {
        MYSQL *db = gw_dbconn_db(conn);
        unsigned e = db != NULL ? read_rows(db, ev->event_id, &u) : 2006;
        if (e != 0) {
            if (tk_db_classify(e) == TK_DB_RECONNECT)
                gw_dbconn_db_reset(conn);
            goto out;
        }
    }
    if (cluster && (rc = gw_dbconn_redis_for(conn, kev, (size_t)kevlen)) == NULL)
        goto out;
    if (copy_to_redis(rc, ev->event_id, snap_ms, &u) != 0 && rc->err != 0)
        gw_dbconn_redis_drop(conn, rc);
out:
    free(u.id);
}

/* One page of one list: its events taken or copied. Returns how many it listed (a failed read counts as one: try again soon). */
static size_t run_list(gw_dbjob_t *job, gw_dbconn_t *conn, const char *sql, cursor_t *cur, int64_t now)
{
    MYSQL *db = gw_dbconn_db(conn);
    due_t due[GW_PRIO_EVENTS_MAX];
    size_t n = 0;
    if (db == NULL)
        return 1;
    unsigned e = read_due(db, sql, now, cur, due, &n);
    if (e != 0) {
        if (tk_db_classify(e) == TK_DB_RECONNECT)
            gw_dbconn_db_reset(conn);
        return 1;
    }
    for (size_t i = 0; i < n && !job->origin->server->shutdown; i++)
        snapshot_one(job, conn, &due[i], now);
    return n;
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_prio_t *p = job->in;
    int64_t now = tk_time_now_ms();
    size_t n = run_list(job, conn, sql_todo, &p->todo, now);
    if (!job->origin->server->shutdown)
        n += run_list(job, conn, sql_copy, &p->copy, now);
    p->found = n > 0;
    gw_dbjob_answer(job, 200, "", 0); /* nobody waits for this answer */
}

/* ---------------------------------------------------------------- the timer (loop thread 0) */

static void on_done(gw_dbjob_t *job)
{
    gw_prio_t *p = job->in;
    p->inflight = 0;
    p->idle_ticks = p->found ? 0 : GW_PRIO_IDLE_TICKS;
}

void gw_prio_poke(void)
{
    atomic_store(&poke, 1);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_prio_t *p = H2O_STRUCT_FROM_MEMBER(gw_prio_t, tick_entry, entry);
    gw_thread_t *th = p->th;
    if (th->stopping)
        return;
    if (!p->inflight && p->idle_ticks > 0 && !atomic_exchange(&poke, 0)) {
        p->idle_ticks--;
    } else if (!p->inflight) {
        gw_dbjob_t *job = gw_dbjob_new_bg(th, run);
        if (job != NULL) {
            job->in = p; /* not owned: in_free stays NULL */
            job->done = on_done;
            p->inflight = 1;
            if (gw_dbpool_submit(th->server->dbpool, job) != 0)
                p->inflight = 0; /* never for background control work (gw_dbpool.h); the job was freed */
        }
    }
    h2o_timeout_link(th->ctx.loop, &p->tick, &p->tick_entry);
}

gw_prio_t *gw_prio_create(gw_thread_t *th)
{
    gw_prio_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->th = th;
    h2o_timeout_init(th->ctx.loop, &p->tick, GW_PRIO_TICK_MS);
    p->tick_entry.cb = on_tick;
    h2o_timeout_link(th->ctx.loop, &p->tick, &p->tick_entry);
    return p;
}

void gw_prio_destroy(gw_prio_t *p)
{
    if (p == NULL)
        return;
    if (h2o_timeout_is_linked(&p->tick_entry))
        h2o_timeout_unlink(&p->tick_entry);
    h2o_timeout_dispose(p->th->ctx.loop, &p->tick);
    free(p);
}
