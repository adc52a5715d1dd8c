/*
 * wk_lb_drain: the board streams (tk:lb:{B}:q) -> MariaDB, beside the
 * event streams, in the same worker loop and the same consumer group "wk".
 *
 * Why no accepted score is lost, and none moves a row back
 * -------------------------------------------------------
 * The pattern is the claims' (wk_drain.c): an entry read with XREADGROUP
 * sits in the group's pending list under this worker's name until it is
 * XACKed, and it is XACKed and XDELed together (lua/lb_ack.lua, one atomic
 * step: the stream then holds exactly the entries not yet written, so it
 * stays bounded and its length means "not yet in MariaDB") only after the MariaDB
 * transaction that wrote it — or the entry that supersedes it in the same
 * batch (coalescing, wk_lb_batch.h) — has COMMITted. The same step takes
 * each acked score entry off its season's count in tk:lb:{B}:pend (the
 * script reads the season from the entry; lb_write.lua drops a season's
 * keys past the kept window only at 0). So at every instant
 * an entry is pending in Redis or its value (or a newer one of the same
 * user) is durable in MariaDB:
 *  - killed before COMMIT: nothing stored, the entries stay pending; live
 *    workers XAUTOCLAIM entries idle over --claim-idle-ms and a restarted
 *    worker of the same name re-reads its own (XREADGROUP … 0) first;
 *  - killed after COMMIT, before the XACK: the entries are written again;
 *    the upsert keeps a row only for a higher seq (wk_lb_writer.c), so the
 *    replay changes nothing. Several workers writing one user's entries in
 *    any order end at the highest seq for the same reason;
 *  - MariaDB away: the batch is kept and retried, nothing acked; Redis away:
 *    reads are retried; an ack that cannot reach Redis leaves the entries
 *    pending, to be replayed harmlessly.
 * A malformed entry (not in the shape of docs/CONTRACTS.md: a bug upstream)
 * is logged whole, counted (`<consumer>:lb_bad`) and acked without a row:
 * it can never be written, and keeping it would stop nothing but fill the
 * pending list. An entry MariaDB refuses alone: wk_lb_writer.c (lb_dead).
 *
 * Discovery: every --discover-ms SMEMBERS tk:boards; a new board gets
 * XGROUP CREATE … MKSTREAM (BUSYGROUP is fine), after a NOGROUP (Redis lost
 * the stream) every known group again. One XREADGROUP covers every board
 * stream (COUNT per stream); it blocks only when the worker drains no
 * event stream (the event read blocks otherwise), so neither kind waits on
 * the other for longer than --block-ms. On a Redis Cluster, one call per
 * stream, as for the events (read_group; docs/DESIGN.md, "Workers on a
 * cluster").
 */
#include "tk_grow.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_streamid.h"
#include "tk_time.h"
#include "wk_drain_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_AUTOCLAIM_MS 1000
#define LB_RECOVER_MAX_ROUNDS 1000000
#define LB_ACK_ATTEMPTS 1000
/*
 * A packed entry (k = m) carries up to TK_LB_PACK_MAX scores, so reading
 * WORKER_BATCH entries could take 64 times the batch's rows, and one read
 * covers every board (COUNT is per stream). A read takes WORKER_BATCH/16
 * entries shared among the boards (at least one each): at most 4 x
 * WORKER_BATCH items (16,384, about 4 MB, at the largest batch) or 64 per
 * board with more boards than that; 128 single entries for one board.
 */
#define LB_READ_DIV 16

typedef struct {
    char board[TK_ID_MAX + 1];
    size_t blen;
    char key[TK_KEY_MAX];         /* tk:lb:{B}:q */
    char pend[TK_KEY_MAX];        /* tk:lb:{B}:pend: lua/lb_ack.lua keeps its counts */
    char cursor[WK_ENTRY_ID_MAX]; /* XAUTOCLAIM cursor */
} lb_stream_t;

typedef struct {
    size_t src;
    char id[WK_ENTRY_ID_MAX];
} lb_bad_t;

struct wk_lb {
    lb_stream_t *streams; /* only appended: an index names one stream for the worker's life */
    size_t ns, scap;
    wk_lb_batch_t batch;
    lb_bad_t *bad;
    size_t nbad, badcap;
    const wk_lb_item_t **order; /* ack(): a stream's items by entry id (scratch) */
    size_t ordercap;
    int need_discover; /* 2: re-create every group (NOGROUP seen) */
    int recovered;     /* own pending entries re-read */
    int64_t next_discover, next_claim;
};

struct wk_lb *wk_lb_new(void)
{
    return calloc(1, sizeof(struct wk_lb));
}

void wk_lb_free(struct wk_lb *lb)
{
    if (lb == NULL)
        return;
    free(lb->streams);
    free(lb->bad);
    free((void *)lb->order);
    wk_lb_batch_free(&lb->batch);
    free(lb);
}

size_t wk_lb_nstreams(const wk_drain_t *d)
{
    return d->lb != NULL ? d->lb->ns : 0;
}

/* ---------------------------------------------------------------- discovery */

static long find_stream(const struct wk_lb *lb, const char *key, size_t len, size_t hint)
{
    for (size_t k = 0; k < lb->ns; k++) {
        size_t i = (hint + k) % lb->ns;
        if (strlen(lb->streams[i].key) == len && memcmp(lb->streams[i].key, key, len) == 0)
            return (long)i;
    }
    return -1;
}

static int create_group(wk_drain_t *d, const char *key)
{
    const char *argv[] = {"XGROUP", "CREATE", key, TK_STREAM_GROUP, "0", "MKSTREAM"};
    redisReply *r = wk_redis_cmd(&d->redis, key, 6, argv, NULL);
    if (r == NULL)
        return -1;
    int ok = r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        tk_error("XGROUP CREATE %s: %s", key, r->str);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int discover(wk_drain_t *d)
{
    struct wk_lb *lb = d->lb;
    const char *argv[] = {"SMEMBERS", TK_KEY_BOARDS};
    redisReply *r = wk_redis_cmd(&d->redis, TK_KEY_BOARDS, 2, argv, NULL);
    if (r == NULL)
        return -1;
    int rc = 0;
    if (r->type != REDIS_REPLY_ARRAY) {
        tk_error("SMEMBERS %s: %s", TK_KEY_BOARDS, r->type == REDIS_REPLY_ERROR ? r->str : "not a set");
        rc = -1;
    }
    for (size_t i = 0; lb->need_discover == 2 && rc == 0 && i < lb->ns; i++)
        rc = create_group(d, lb->streams[i].key);
    for (size_t i = 0; rc == 0 && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !tk_valid_event_id(e->str, e->len)) {
            tk_warn("%s holds an invalid board id; ignored", TK_KEY_BOARDS);
            continue;
        }
        char key[TK_KEY_MAX];
        int kl = tk_lb_key(TK_LB_STREAM, e->str, e->len, 0, key);
        if (kl < 0 || find_stream(lb, key, (size_t)kl, 0) >= 0)
            continue;
        lb_stream_t *all = tk_grow(lb->streams, &lb->scap, lb->ns + 1, sizeof(*all), 8);
        if (create_group(d, key) != 0 || all == NULL) {
            rc = -1;
            if (all != NULL)
                lb->streams = all;
            break;
        }
        lb->streams = all;
        lb_stream_t *s = &lb->streams[lb->ns++];
        memset(s, 0, sizeof(*s));
        memcpy(s->board, e->str, e->len);
        s->blen = e->len;
        memcpy(s->key, key, (size_t)kl + 1);
        if (tk_lb_key(TK_LB_PEND, e->str, e->len, 0, s->pend) < 0) /* never: the stream's key, longer, fitted */
            s->pend[0] = '\0';
        strcpy(s->cursor, "0-0");
        tk_info("draining board %s (%s)", s->board, s->key);
    }
    freeReplyObject(r);
    if (rc == 0)
        lb->need_discover = 0;
    return rc;
}

/* ---------------------------------------------------------------- reading */

static int add_bad(struct wk_lb *lb, size_t src, const char *id, size_t idlen)
{
    if (idlen == 0 || idlen >= WK_ENTRY_ID_MAX)
        return 0;
    lb_bad_t *b = tk_grow(lb->bad, &lb->badcap, lb->nbad + 1, sizeof(*b), 16);
    if (b == NULL)
        return -1;
    lb->bad = b;
    lb->bad[lb->nbad].src = src;
    memcpy(lb->bad[lb->nbad].id, id, idlen);
    lb->bad[lb->nbad].id[idlen] = '\0';
    lb->nbad++;
    return 0;
}

/* Takes the entries [[id, [f, v, …]], …] of stream @si into the batch. Returns entries taken, or -1 (out of memory). */
static long take(wk_drain_t *d, size_t si, const redisReply *list)
{
    struct wk_lb *lb = d->lb;
    if (list->type != REDIS_REPLY_ARRAY)
        return 0;
    const lb_stream_t *s = &lb->streams[si];
    const char *kv[32];
    size_t kvlen[32];
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *id = e->element[0], *f = e->element[1];
        char err[160] = "no fields (deleted?)";
        size_t n = 0;
        int ok = f->type == REDIS_REPLY_ARRAY && f->elements <= 32;
        for (size_t j = 0; ok && j < f->elements; j++) {
            if (f->element[j]->type != REDIS_REPLY_STRING) {
                ok = 0;
                break;
            }
            kv[n] = f->element[j]->str;
            kvlen[n++] = f->element[j]->len;
        }
        int rc = ok ? wk_lb_batch_add(&lb->batch, si, s->board, s->blen, id->str, id->len, kv, kvlen, n, err, sizeof(err)) : 1;
        if (rc < 0)
            return -1;
        if (rc > 0) {
            tk_error("%s: entry %.*s malformed (%s); acking it without a row (counted lb_bad)", s->key, (int)id->len, id->str, err);
            for (size_t j = 0; j + 1 < n; j += 2)
                tk_error("  %.*s field %.*s = %.*s", (int)id->len, id->str, (int)kvlen[j], kv[j], (int)kvlen[j + 1], kv[j + 1]);
            d->total.lb_bad++;
            if (add_bad(lb, si, id->str, id->len) != 0)
                return -1;
        }
    }
    return (long)list->elements;
}

/* Entries one read takes per board at most (LB_READ_DIV: why). */
static long lb_count(const wk_drain_t *d)
{
    long per = d->cfg->batch / LB_READ_DIV / (long)(d->lb->ns > 0 ? d->lb->ns : 1);
    return per > 0 ? per : 1;
}

/* XREADGROUP over streams [@first, @first + @count) from @id (the same for each), blocking @block_ms when > 0. Entries taken or -1. */
static long read_call(wk_drain_t *d, size_t first, size_t count, const char *id, long block_ms)
{
    struct wk_lb *lb = d->lb;
    char cnt[24], blk[24];
    snprintf(cnt, sizeof(cnt), "%ld", lb_count(d));
    snprintf(blk, sizeof(blk), "%ld", block_ms);
    if (wk_drain_grow_args(d, 9 + 2 * count) != 0)
        return -1;
    size_t a = 0;
    d->argv[a++] = "XREADGROUP";
    d->argv[a++] = "GROUP";
    d->argv[a++] = TK_STREAM_GROUP;
    d->argv[a++] = d->cfg->consumer;
    d->argv[a++] = "COUNT";
    d->argv[a++] = cnt;
    if (block_ms > 0) {
        d->argv[a++] = "BLOCK";
        d->argv[a++] = blk;
    }
    d->argv[a++] = "STREAMS";
    for (size_t i = 0; i < count; i++)
        d->argv[a++] = lb->streams[first + i].key;
    for (size_t i = 0; i < count; i++)
        d->argv[a++] = id;
    for (size_t i = 0; i < a; i++)
        d->lens[i] = strlen(d->argv[i]);
    redisReply *r = wk_redis_cmd(&d->redis, lb->streams[first].key, (int)a, d->argv, d->lens);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        tk_warn("XREADGROUP (boards): %s", r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            lb->need_discover = 2;
            lb->next_discover = 0; /* at the next step */
        }
        freeReplyObject(r);
        return -1;
    }
    long taken = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        size_t hint = first;
        for (size_t i = 0; i < r->elements && taken >= 0; i++) {
            const redisReply *sr = r->element[i];
            if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 || sr->element[0]->type != REDIS_REPLY_STRING)
                continue;
            long si = find_stream(lb, sr->element[0]->str, sr->element[0]->len, hint);
            if (si < 0)
                continue;
            hint = (size_t)si + 1;
            long t = take(d, (size_t)si, sr->element[1]);
            taken = t < 0 ? -1 : taken + t;
        }
    }
    freeReplyObject(r);
    return taken;
}

/* wk_read_each's reader of one board stream: @arg is the id to read from. */
static long read_one(wk_drain_t *d, size_t i, void *arg)
{
    return read_call(d, i, 1, arg, 0);
}

/* As read_call; on a Redis Cluster one call per stream (CROSSSLOT otherwise: wk_read_group says why). */
static long read_group(wk_drain_t *d, size_t first, size_t count, const char *id, long block_ms)
{
    if (!wk_redis_is_cluster(&d->redis) || count <= 1)
        return read_call(d, first, count, id, block_ms);
    return wk_read_each(d, first, count, block_ms, read_one, (void *)id);
}

/* ---------------------------------------------------------------- acking */

#define LB_ACK_CHUNK 1000 /* ids per lb_ack.lua call (Lua's unpack has a bound) */
#define LB_ACK_HEAD 6     /* EVAL, the script, 2, the stream, its pend hash, the group: before the ids */

/*
 * XACK and XDEL of the ids in d->argv[LB_ACK_HEAD .. LB_ACK_HEAD + n) on stream @si, atomically
 * (lua/lb_ack.lua: why), LB_ACK_CHUNK ids per call; retried while Redis is
 * away. 0, or -1 (left pending: replayed later, harmlessly).
 */
static int ack_ids(wk_drain_t *d, size_t si, size_t n)
{
    const char *key = d->lb->streams[si].key, *pend = d->lb->streams[si].pend;
    const char *script = tk_lua_find("lb_ack");
    if (script == NULL) {
        tk_error("lua/lb_ack.lua is not compiled in");
        return -1;
    }
    for (size_t off = 0; off < n; off += LB_ACK_CHUNK) {
        size_t m = n - off < LB_ACK_CHUNK ? n - off : LB_ACK_CHUNK;
        /* The call's head arguments go just before this chunk's ids, over the previous chunk's (already sent) or the free head slots. */
        const char **argv = d->argv + off;
        size_t *lens = d->lens + off;
        argv[0] = "EVAL";
        argv[1] = script;
        argv[2] = "2";
        argv[3] = key;
        argv[4] = pend;
        argv[5] = TK_STREAM_GROUP;
        for (int i = 0; i < LB_ACK_HEAD; i++)
            lens[i] = strlen(argv[i]);
        int done = 0;
        for (int attempt = 0; attempt < LB_ACK_ATTEMPTS && !done; attempt++) {
            redisReply *r = wk_redis_cmd(&d->redis, key, (int)(LB_ACK_HEAD + m), argv, lens);
            if (r != NULL) {
                int ok = r->type == REDIS_REPLY_INTEGER;
                if (!ok)
                    tk_error("acking %s: %s", key, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                freeReplyObject(r);
                d->redis_backoff = 100;
                if (!ok)
                    return -1;
                done = 1;
                break;
            }
            if (*d->stop && attempt >= 10)
                break;
            wk_drain_redis_wait(d);
        }
        if (!done) {
            tk_warn("acking %s: redis unreachable; %zu board entries stay pending and will be replayed", key, n - off);
            return -1;
        }
    }
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const wk_lb_item_t *const *)a)->id, (*(const wk_lb_item_t *const *)b)->id);
}

/*
 * The ids of the items [@lo, @hi) (one stream's) to ack, into d->argv from
 * LB_ACK_HEAD: each id once, and only when every item carrying it is done.
 * A packed entry's items are scattered by the sort (by season and user);
 * one of them not committed keeps the whole entry pending: it is replayed,
 * and the rows already written are refused again by the newer-row rule
 * (sql/007), so nothing moves back. Returns the count.
 */
static size_t done_ids(wk_drain_t *d, size_t lo, size_t hi)
{
    struct wk_lb *lb = d->lb;
    const wk_lb_batch_t *b = &lb->batch;
    size_t m = hi - lo, n = 0;
    const wk_lb_item_t **o = lb->order;
    for (size_t i = 0; i < m; i++)
        o[i] = &b->items[lo + i];
    qsort(o, m, sizeof(*o), by_id);
    for (size_t i = 0; i < m;) {
        size_t j = i;
        int all = 1;
        for (; j < m && strcmp(o[j]->id, o[i]->id) == 0; j++)
            all &= b->items[o[j]->winner].done != 0;
        if (all) {
            d->argv[LB_ACK_HEAD + n] = o[i]->id;
            d->lens[LB_ACK_HEAD + n] = strlen(o[i]->id);
            n++;
        }
        i = j;
    }
    return n;
}

static int ack(wk_drain_t *d)
{
    struct wk_lb *lb = d->lb;
    wk_lb_batch_t *b = &lb->batch;
    if (wk_drain_grow_args(d, LB_ACK_HEAD + b->n + lb->nbad) != 0)
        return -1;
    const wk_lb_item_t **order = tk_grow(lb->order, &lb->ordercap, b->n + 1, sizeof(*order), 256);
    if (order == NULL)
        return -1;
    lb->order = order;
    /* Items are sorted by board: one run per stream. */
    for (size_t lo = 0; lo < b->n;) {
        size_t hi = lo;
        while (hi < b->n && b->items[hi].src == b->items[lo].src)
            hi++;
        size_t n = done_ids(d, lo, hi);
        if (n > 0 && ack_ids(d, b->items[lo].src, n) == 0)
            d->total.lb_entries += n;
        lo = hi;
    }
    for (size_t si = 0; si < lb->ns && lb->nbad > 0; si++) {
        size_t n = 0;
        for (size_t i = 0; i < lb->nbad; i++) {
            if (lb->bad[i].src == si) {
                d->argv[LB_ACK_HEAD + n] = lb->bad[i].id;
                d->lens[LB_ACK_HEAD + n] = strlen(lb->bad[i].id);
                n++;
            }
        }
        if (n > 0)
            ack_ids(d, si, n);
    }
    return 0;
}

/* ---------------------------------------------------------------- one batch */

/* Writes and acks what has been taken. 0, or -1 when the worker must exit (stopped with MariaDB away). */
static int flush(wk_drain_t *d)
{
    struct wk_lb *lb = d->lb;
    if (lb->batch.n == 0 && lb->nbad == 0)
        return 0;
    size_t entries = lb->batch.n;
    size_t rows = wk_lb_batch_coalesce(&lb->batch);
    wk_lb_write_stats_t ws;
    memset(&ws, 0, sizeof(ws));
    int64_t t0 = tk_time_mono_ms();
    wk_write_result_t r = rows > 0 ? wk_lb_write(d->writer, &lb->batch, d->stop, &ws) : WK_WRITE_OK;
    d->total.errors += ws.retries + ws.reconnects + ws.splits + ws.held;
    if (r != WK_WRITE_OK) {
        wk_lb_batch_clear(&lb->batch);
        lb->nbad = 0;
        return -1;
    }
    if (ack(d) != 0)
        tk_warn("out of memory acking board entries; they stay pending and will be replayed");
    d->total.lb_rows += ws.rows;
    d->total.lb_stmts += ws.stmts;
    d->total.lb_dead += ws.dead;
    if (ws.stmt_max > d->total.lb_stmt_max)
        d->total.lb_stmt_max = ws.stmt_max;
    tk_debug("board batch: %zu entries, %zu rows after coalescing, %llu upserted in %llu statements (largest %llu), %llu rollovers, "
             "%llu dead, %llu held, %zu malformed, %lld ms",
             entries, rows, (unsigned long long)ws.rows, (unsigned long long)ws.stmts, (unsigned long long)ws.stmt_max,
             (unsigned long long)ws.rollovers, (unsigned long long)ws.dead, (unsigned long long)ws.held, lb->nbad,
             (long long)(tk_time_mono_ms() - t0));
    wk_lb_batch_clear(&lb->batch);
    lb->nbad = 0;
    return 0;
}

/* ---------------------------------------------------------------- recovery */

static const char *last_taken(const struct wk_lb *lb)
{
    const char *last = NULL;
    for (size_t i = 0; i < lb->batch.n; i++)
        if (last == NULL || tk_streamid_cmp(lb->batch.items[i].id, last) > 0)
            last = lb->batch.items[i].id;
    for (size_t i = 0; i < lb->nbad; i++)
        if (last == NULL || tk_streamid_cmp(lb->bad[i].id, last) > 0)
            last = lb->bad[i].id;
    return last;
}

/* This consumer's own pending entries, stream by stream. 0, -1 (Redis) or -2 (flush failed: exit). */
static int recover_own(wk_drain_t *d)
{
    struct wk_lb *lb = d->lb;
    for (size_t si = 0; si < lb->ns && !*d->stop; si++) {
        char from[WK_ENTRY_ID_MAX] = "0";
        for (long round = 0; round < LB_RECOVER_MAX_ROUNDS && !*d->stop; round++) {
            long got = read_group(d, si, 1, from, 0);
            if (got < 0)
                return -1;
            if (got == 0)
                break;
            const char *last = last_taken(lb);
            if (last == NULL)
                break;
            snprintf(from, sizeof(from), "%s", last);
            tk_info("%s: re-reading %ld own pending entries", lb->streams[si].key, got);
            if (flush(d) != 0)
                return -2;
        }
    }
    return 0;
}

/* XAUTOCLAIM per stream: entries a dead consumer left pending. 0, -1 (Redis) or -2 (flush failed: exit). */
static int autoclaim(wk_drain_t *d)
{
    struct wk_lb *lb = d->lb;
    char idle[24], cnt[24];
    snprintf(idle, sizeof(idle), "%ld", d->cfg->claim_idle_ms);
    snprintf(cnt, sizeof(cnt), "%ld", lb_count(d));
    for (size_t si = 0; si < lb->ns && !*d->stop; si++) {
        lb_stream_t *s = &lb->streams[si];
        const char *argv[] = {"XAUTOCLAIM", s->key, TK_STREAM_GROUP, d->cfg->consumer, idle, s->cursor, "COUNT", cnt};
        redisReply *r = wk_redis_cmd(&d->redis, s->key, 8, argv, NULL);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR) {
            tk_warn("XAUTOCLAIM %s: %s", s->key, r->str);
            if (strncmp(r->str, "NOGROUP", 7) == 0) {
                lb->need_discover = 2;
                lb->next_discover = 0; /* at the next step */
            }
            freeReplyObject(r);
            continue;
        }
        long got = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
            snprintf(s->cursor, sizeof(s->cursor), "%.*s", (int)r->element[0]->len, r->element[0]->str);
            got = take(d, si, r->element[1]);
        }
        freeReplyObject(r);
        if (got > 0)
            tk_info("%s: re-claimed %ld entries idle over %ld ms", s->key, got, d->cfg->claim_idle_ms);
        if (got < 0 || flush(d) != 0)
            return -2;
    }
    return 0;
}

/* ---------------------------------------------------------------- the step */

long wk_lb_step(wk_drain_t *d, long block_ms)
{
    struct wk_lb *lb = d->lb;
    int64_t now = tk_time_mono_ms();
    if (now >= lb->next_discover) {
        /* Retried at the next period, not at once: a Redis that refuses tk:boards (an old ACL) must not flood the log. */
        lb->next_discover = now + d->cfg->discover_ms;
        if (discover(d) != 0 && lb->ns == 0)
            return -1;
    }
    if (lb->ns == 0)
        return 0;
    if (!lb->recovered) {
        int r = recover_own(d);
        if (r != 0)
            return r;
        lb->recovered = 1;
    }
    if (now >= lb->next_claim) {
        int r = autoclaim(d);
        if (r == -2)
            return -2;
        lb->next_claim = now + LB_AUTOCLAIM_MS;
    }
    long got = read_group(d, 0, lb->ns, ">", block_ms);
    /* Entries read are in our pending list now: write them even if a stop came meanwhile. */
    if (flush(d) != 0)
        return -2;
    return got;
}
