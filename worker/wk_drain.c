/*
 * wk_drain: streams of granted claims -> MariaDB -> confirmation in Redis.
 *
 * Why it is exact
 * ---------------
 * Each event's granted claims are entries of tk:{E}:q, read by the consumer
 * group "wk". An entry read by a worker sits in the group's pending list
 * (PEL) under that worker's name until the worker XACKs it, and a worker
 * XACKs (and XDELs) an entry only inside the confirm script, which it runs
 * only after the MariaDB transaction holding the entry's row has COMMITted.
 * So at every instant an entry is either pending in Redis or durably stored:
 *
 *  - killed before COMMIT: nothing is stored; the entries stay pending under
 *    the dead consumer's name. Live workers XAUTOCLAIM entries idle longer
 *    than --claim-idle-ms and write them; a restarted worker with the same
 *    name first re-reads its own pending entries (XREADGROUP … 0).
 *  - killed after COMMIT, before the confirm script: the entries are
 *    re-claimed the same way; the writer finds their rows already there
 *    (under the stock row lock) and inserts nothing, and the replayed confirm
 *    sets the record's letter from the database's row. Replay is harmless.
 *  - MariaDB down: the writer keeps the batch and reconnects with backoff;
 *    nothing is acked meanwhile. Redis down: reads fail and are retried; a
 *    confirm that cannot reach Redis is retried, and if the worker has to
 *    give up, the committed rows are replayed later as above.
 *  - MariaDB refuses an entry for good (a poison entry): the writer commits
 *    every other event, and the rest of that entry's event, in transactions
 *    of their own and stores the entry in claims_dead; the confirm marks its
 *    record 'r' and releases it, and the "dead" counter goes to tk:wk:stats.
 *    An error not caused by one entry leaves that event's entries pending
 *    for XAUTOCLAIM to retry. Neither ends the worker (wk_writer.c).
 *
 * The confirm script sets a record's letter only while it is still 'p', so
 * a cancel or a fallback write that got there first is never overwritten;
 * when it turns a 'p' into 'x' (the row was cancelled before this worker
 * wrote it) it returns the units to the event's remaining, as the admin
 * cancel's own Redis step would have (exactly once: lua/confirm.lua).
 * XDEL keeps XLEN of a stream equal to the claims not yet written.
 *
 * Every --discover-ms the set tk:events is re-read; a new event gets
 * XGROUP CREATE … MKSTREAM (BUSYGROUP is fine), so new events are drained
 * without a restart. One XREADGROUP covers every stream; COUNT is per
 * stream. On Redis Cluster the streams live in different slots and one call
 * per slot (per node) would be needed.
 */
#include "wk_drain.h"
#include "tk_claim.h"
#include "tk_db.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"
#include "tk_valid.h"
#include "wk_batch.h"
#include "wk_redis.h"
#include "wk_stats.h"
#include "wk_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WK_AUTOCLAIM_MS 1000
#define WK_STATS_KEY TK_KEY_WK_STATS
#define WK_REDIS_BACKOFF_MAX_MS 2000
#define WK_RECOVER_MAX_ROUNDS 1000000 /* bound on the start-up pending re-read */

typedef struct {
    char event[TK_ID_MAX + 1];
    size_t elen;
    char key[TK_KEY_MAX];    /* tk:{E}:q */
    char claims[TK_KEY_MAX]; /* tk:{E}:claims */
    char ev[TK_KEY_MAX];     /* tk:{E}:ev: a confirm that marks a record cancelled returns its units there */
    char cursor[WK_ENTRY_ID_MAX]; /* XAUTOCLAIM cursor */
} wk_stream_t;

typedef struct {
    size_t stream;
    char id[WK_ENTRY_ID_MAX];
} wk_bad_t;

typedef struct {
    uint64_t rows, batches, errors, rejected, replayed;
    uint64_t dead; /* poison entries set aside in claims_dead (the operator's alert) */
    int64_t lag_ms;      /* commit time minus the oldest created_ms of the last batch */
    uint64_t last_batch; /* rows of the last batch */
} wk_counters_t;

typedef struct {
    const wk_config_t *cfg;
    const volatile sig_atomic_t *stop;
    wk_redis_t redis;
    wk_writer_t *writer;
    wk_batch_t batch;
    wk_stream_t *streams;
    size_t ns, scap;
    wk_bad_t *bad;
    size_t nbad, badcap;
    int need_discover;
    wk_counters_t total, flushed, logged; /* running totals; as of the last stats flush / info log */
    int64_t logged_at;
    long redis_backoff;
    /* scratch argv for commands with many arguments */
    const char **argv;
    size_t *lens;
    size_t acap;
} wk_drain_t;

static int grow_args(wk_drain_t *d, size_t n)
{
    if (n <= d->acap)
        return 0;
    const char **a = realloc(d->argv, n * sizeof(*a));
    if (a == NULL)
        return -1;
    d->argv = a;
    size_t *l = realloc(d->lens, n * sizeof(*l));
    if (l == NULL)
        return -1;
    d->lens = l;
    d->acap = n;
    return 0;
}

static void redis_wait(wk_drain_t *d)
{
    tk_time_sleep_ms(d->redis_backoff, d->stop);
    d->redis_backoff = d->redis_backoff * 2 > WK_REDIS_BACKOFF_MAX_MS ? WK_REDIS_BACKOFF_MAX_MS : d->redis_backoff * 2;
}

/* ---------------------------------------------------------------- discovery */

static int stream_of(const wk_drain_t *d, const char *key, size_t len)
{
    for (size_t i = 0; i < d->ns; i++)
        if (strlen(d->streams[i].key) == len && memcmp(d->streams[i].key, key, len) == 0)
            return (int)i;
    return -1;
}

static int create_group(wk_drain_t *d, const char *key)
{
    const char *argv[] = {"XGROUP", "CREATE", key, TK_STREAM_GROUP, "0", "MKSTREAM"};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = wk_redis_cmd(&d->redis, 6, argv, lens);
    if (r == NULL)
        return -1;
    int ok = r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        tk_error("XGROUP CREATE %s: %s", key, r->str);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Re-reads tk:events; with @all, re-creates the group of every known stream too. Returns 0 or -1 (Redis unreachable). */
static int discover(wk_drain_t *d, int all)
{
    const char *argv[] = {"SMEMBERS", TK_KEY_EVENTS};
    size_t lens[] = {8, strlen(TK_KEY_EVENTS)};
    redisReply *r = wk_redis_cmd(&d->redis, 2, argv, lens);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        tk_error("SMEMBERS %s: %s", TK_KEY_EVENTS, r->type == REDIS_REPLY_ERROR ? r->str : "not a set");
        freeReplyObject(r);
        return -1;
    }
    if (all) {
        for (size_t i = 0; i < d->ns; i++)
            if (create_group(d, d->streams[i].key) != 0) {
                freeReplyObject(r);
                return -1;
            }
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !tk_valid_event_id(e->str, e->len)) {
            tk_warn("%s holds an invalid event id; ignored", TK_KEY_EVENTS);
            continue;
        }
        char key[TK_KEY_MAX];
        int kl = tk_key(TK_KEY_STREAM, e->str, e->len, key);
        if (kl < 0 || stream_of(d, key, (size_t)kl) >= 0)
            continue;
        if (create_group(d, key) != 0) {
            freeReplyObject(r);
            return -1;
        }
        if (d->ns == d->scap) {
            size_t cap = d->scap ? d->scap * 2 : 8;
            wk_stream_t *s = realloc(d->streams, cap * sizeof(*s));
            if (s == NULL) {
                freeReplyObject(r);
                return -1;
            }
            d->streams = s;
            d->scap = cap;
        }
        wk_stream_t *s = &d->streams[d->ns++];
        memset(s, 0, sizeof(*s));
        memcpy(s->event, e->str, e->len);
        s->elen = e->len;
        memcpy(s->key, key, (size_t)kl + 1);
        tk_key(TK_KEY_CLAIMS, e->str, e->len, s->claims);
        tk_key(TK_KEY_EV, e->str, e->len, s->ev);
        strcpy(s->cursor, "0-0");
        tk_info("draining event %s (%s)", s->event, s->key);
    }
    freeReplyObject(r);
    return 0;
}

/* ---------------------------------------------------------------- taking entries */

static int add_bad(wk_drain_t *d, size_t stream, const char *id, size_t idlen)
{
    if (idlen == 0 || idlen >= WK_ENTRY_ID_MAX)
        return 0; /* cannot even ack it; nothing a worker can do */
    if (d->nbad == d->badcap) {
        size_t cap = d->badcap ? d->badcap * 2 : 16;
        wk_bad_t *b = realloc(d->bad, cap * sizeof(*b));
        if (b == NULL)
            return -1;
        d->bad = b;
        d->badcap = cap;
    }
    d->bad[d->nbad].stream = stream;
    memcpy(d->bad[d->nbad].id, id, idlen);
    d->bad[d->nbad].id[idlen] = '\0';
    d->nbad++;
    return 0;
}

/* Takes the entries [[id, [f, v, …]], …] of stream @si into the batch. Returns entries taken or -1. */
static long take_entries(wk_drain_t *d, size_t si, const redisReply *list)
{
    if (list->type != REDIS_REPLY_ARRAY)
        return 0;
    const wk_stream_t *s = &d->streams[si];
    const char *kv[64];
    size_t kvlen[64];
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *id = e->element[0], *f = e->element[1];
        wk_row_t row;
        char err[160];
        size_t n = 0;
        int ok = f->type == REDIS_REPLY_ARRAY && f->elements <= 64;
        for (size_t j = 0; ok && j < f->elements; j++) {
            if (f->element[j]->type != REDIS_REPLY_STRING) {
                ok = 0;
                break;
            }
            kv[n] = f->element[j]->str;
            kvlen[n++] = f->element[j]->len;
        }
        if (!ok)
            snprintf(err, sizeof(err), "entry %.*s: no fields (deleted?)", (int)id->len, id->str);
        if (ok && wk_row_parse(id->str, id->len, kv, kvlen, n, &row, err, sizeof(err)) != 0)
            ok = 0;
        if (!ok) {
            /* Not a claim any client was told about in this shape: a bug upstream. Log it whole, then release it. */
            tk_error("%s: %s; acking it without a database row", s->key, err);
            for (size_t j = 0; j < n; j += 2)
                tk_error("  %s field %.*s = %.*s", id->str, (int)kvlen[j], kv[j], j + 1 < n ? (int)kvlen[j + 1] : 0, j + 1 < n ? kv[j + 1] : "");
            d->total.errors++;
            if (add_bad(d, si, id->str, id->len) != 0)
                return -1;
            continue;
        }
        if (wk_batch_add(&d->batch, s->event, s->elen, &row) != 0)
            return -1;
    }
    return (long)list->elements;
}

/* ---------------------------------------------------------------- confirm */

/* EVALSHA, sha, numkeys, the three keys and the group come before the triplets of the confirm script. */
#define WK_CONFIRM_HEAD 7

/* Runs the confirm script for stream @si with the triplets in d->argv[WK_CONFIRM_HEAD..+3n). Retries while Redis is away. */
static int run_confirm(wk_drain_t *d, size_t si, size_t n)
{
    const wk_stream_t *s = &d->streams[si];
    d->argv[3] = s->claims;
    d->argv[4] = s->key;
    d->argv[5] = s->ev;
    d->argv[6] = TK_STREAM_GROUP;
    for (int i = 3; i < WK_CONFIRM_HEAD; i++)
        d->lens[i] = strlen(d->argv[i]);
    for (int attempt = 0; attempt < 1000; attempt++) {
        redisReply *r = wk_redis_script(&d->redis, 3, (int)(WK_CONFIRM_HEAD + 3 * n), d->argv, d->lens);
        if (r != NULL) {
            int ok = r->type == REDIS_REPLY_INTEGER;
            if (!ok)
                tk_error("confirm %s: %s", s->key, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            d->redis_backoff = 100;
            return ok ? 0 : -1;
        }
        if (*d->stop && attempt >= 10)
            break;
        redis_wait(d);
    }
    tk_warn("confirm %s: redis unreachable; %zu entries stay pending and will be replayed", s->key, n);
    return -1;
}

static int confirm(wk_drain_t *d)
{
    size_t need = WK_CONFIRM_HEAD + 3 * (d->batch.rows + d->nbad);
    if (grow_args(d, need) != 0)
        return -1;
    for (size_t gi = 0; gi < d->batch.n; gi++) {
        const wk_group_t *g = &d->batch.groups[gi];
        size_t n = 0;
        for (size_t i = 0; i < g->n; i++) {
            const wk_row_t *r = &g->rows[i];
            if (r->status == 0)
                continue; /* skipped: stays pending */
            static char letters[3][2] = {"c", "r", "x"};
            const char *l = r->status == 'c' ? letters[0] : r->status == 'r' ? letters[1] : letters[2];
            size_t a = WK_CONFIRM_HEAD + 3 * n++;
            d->argv[a] = r->id;
            d->lens[a] = strlen(r->id);
            d->argv[a + 1] = r->user;
            d->lens[a + 1] = r->ulen;
            d->argv[a + 2] = l;
            d->lens[a + 2] = 1;
        }
        char key[TK_KEY_MAX];
        tk_key(TK_KEY_STREAM, g->event, g->elen, key);
        int si = stream_of(d, key, strlen(key));
        if (n > 0 && si >= 0)
            run_confirm(d, (size_t)si, n);
    }
    for (size_t si = 0; si < d->ns && d->nbad > 0; si++) {
        size_t n = 0;
        for (size_t i = 0; i < d->nbad; i++) {
            if (d->bad[i].stream != si)
                continue;
            size_t a = WK_CONFIRM_HEAD + 3 * n++;
            d->argv[a] = d->bad[i].id;
            d->lens[a] = strlen(d->bad[i].id);
            d->argv[a + 1] = "";
            d->lens[a + 1] = 0;
            d->argv[a + 2] = "-";
            d->lens[a + 2] = 1;
        }
        if (n > 0)
            run_confirm(d, si, n);
    }
    return 0;
}

/* ---------------------------------------------------------------- one batch */

/* Writes, confirms and acks what has been taken. Returns 0, or -1 when the worker must exit (stopped with MariaDB away). */
static int flush(wk_drain_t *d)
{
    if (d->batch.rows == 0 && d->nbad == 0)
        return 0;
    wk_batch_group(&d->batch);
    wk_write_stats_t ws;
    memset(&ws, 0, sizeof(ws));
    int64_t t0 = tk_time_mono_ms();
    wk_write_result_t wr = d->batch.rows > 0 ? wk_writer_write(d->writer, &d->batch, d->stop, &ws) : WK_WRITE_OK;
    d->total.errors += ws.retries + ws.reconnects;
    if (wr != WK_WRITE_OK) {
        wk_batch_clear(&d->batch);
        d->nbad = 0;
        return -1;
    }
    int64_t oldest = INT64_MAX;
    for (size_t gi = 0; gi < d->batch.n; gi++)
        for (size_t i = 0; i < d->batch.groups[gi].n; i++)
            if (d->batch.groups[gi].rows[i].created_ms < oldest)
                oldest = d->batch.groups[gi].rows[i].created_ms;
    int64_t committed = tk_time_now_ms();
    if (confirm(d) != 0)
        tk_warn("out of memory confirming; entries stay pending and will be replayed");
    d->total.rows += ws.inserted;
    d->total.rejected += ws.rejected;
    d->total.replayed += ws.replayed;
    d->total.dead += ws.dead;
    d->total.errors += ws.splits + ws.held;
    d->total.batches++;
    d->total.last_batch = d->batch.rows;
    if (oldest != INT64_MAX)
        d->total.lag_ms = committed > oldest ? committed - oldest : 0; /* clocks of hosts may differ */
    tk_debug("batch: %zu entries (%zu events), %llu inserted, %llu replayed, %llu rejected, %llu skipped, %llu dead, %llu held, %zu malformed, "
             "%lld ms",
             d->batch.rows, d->batch.n, (unsigned long long)ws.inserted, (unsigned long long)ws.replayed,
             (unsigned long long)ws.rejected, (unsigned long long)ws.skipped, (unsigned long long)ws.dead, (unsigned long long)ws.held,
             d->nbad, (long long)(tk_time_mono_ms() - t0));
    wk_batch_clear(&d->batch);
    d->nbad = 0;
    return 0;
}

/* ---------------------------------------------------------------- reads */

/* XREADGROUP over every stream with @id ("0" for own pending, ">" for new). Returns entries taken, or -1 (Redis). */
static long read_group(wk_drain_t *d, size_t first, size_t count, const char *const *ids, long block_ms)
{
    char cnt[24], blk[24];
    snprintf(cnt, sizeof(cnt), "%ld", d->cfg->batch);
    snprintf(blk, sizeof(blk), "%ld", block_ms);
    if (grow_args(d, 9 + 2 * count) != 0)
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
        d->argv[a++] = d->streams[first + i].key;
    for (size_t i = 0; i < count; i++)
        d->argv[a++] = ids[i];
    for (size_t i = 0; i < a; i++)
        d->lens[i] = strlen(d->argv[i]);
    redisReply *r = wk_redis_cmd(&d->redis, (int)a, d->argv, d->lens);
    if (r == NULL)
        return -1;
    long taken = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        tk_warn("XREADGROUP: %s", r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0)
            d->need_discover = 2;
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements && taken >= 0; i++) {
            const redisReply *sr = r->element[i];
            if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 || sr->element[0]->type != REDIS_REPLY_STRING)
                continue;
            int si = stream_of(d, sr->element[0]->str, sr->element[0]->len);
            if (si < 0)
                continue;
            long t = take_entries(d, (size_t)si, sr->element[1]);
            taken = t < 0 ? -1 : taken + t;
        }
    }
    freeReplyObject(r);
    return taken;
}

/* This consumer's own pending entries (left by an earlier run under the same name), stream by stream. */
static int recover_own(wk_drain_t *d)
{
    for (size_t si = 0; si < d->ns && !*d->stop; si++) {
        char from[WK_ENTRY_ID_MAX] = "0";
        for (long round = 0; round < WK_RECOVER_MAX_ROUNDS && !*d->stop; round++) {
            const char *ids[1] = {from};
            long got = read_group(d, si, 1, ids, 0);
            if (got < 0)
                return -1;
            if (got == 0)
                break;
            /* Continue after the last id seen, so an entry left pending (skipped event) cannot loop. */
            const char *last = NULL;
            for (size_t gi = 0; gi < d->batch.n; gi++)
                for (size_t i = 0; i < d->batch.groups[gi].n; i++)
                    if (last == NULL || strcmp(d->batch.groups[gi].rows[i].id, last) > 0 ||
                        strlen(d->batch.groups[gi].rows[i].id) > strlen(last))
                        last = d->batch.groups[gi].rows[i].id;
            for (size_t i = 0; i < d->nbad; i++)
                if (last == NULL || strlen(d->bad[i].id) > strlen(last) ||
                    (strlen(d->bad[i].id) == strlen(last) && strcmp(d->bad[i].id, last) > 0))
                    last = d->bad[i].id;
            if (last == NULL)
                break;
            snprintf(from, sizeof(from), "%s", last);
            tk_info("%s: re-reading %ld own pending entries", d->streams[si].key, got);
            if (flush(d) != 0)
                return -2;
        }
    }
    return 0;
}

/* XAUTOCLAIM, one call per stream: entries a dead consumer left pending. */
static int autoclaim(wk_drain_t *d)
{
    char idle[24], cnt[24];
    snprintf(idle, sizeof(idle), "%ld", d->cfg->claim_idle_ms);
    snprintf(cnt, sizeof(cnt), "%ld", d->cfg->batch);
    for (size_t si = 0; si < d->ns && !*d->stop; si++) {
        wk_stream_t *s = &d->streams[si];
        const char *argv[] = {"XAUTOCLAIM", s->key, TK_STREAM_GROUP, d->cfg->consumer, idle, s->cursor, "COUNT", cnt};
        size_t lens[8];
        for (int i = 0; i < 8; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = wk_redis_cmd(&d->redis, 8, argv, lens);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR) {
            tk_warn("XAUTOCLAIM %s: %s", s->key, r->str);
            if (strncmp(r->str, "NOGROUP", 7) == 0)
                d->need_discover = 2;
            freeReplyObject(r);
            continue;
        }
        long got = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
            snprintf(s->cursor, sizeof(s->cursor), "%.*s", (int)r->element[0]->len, r->element[0]->str);
            got = take_entries(d, si, r->element[1]);
        }
        freeReplyObject(r);
        if (got > 0)
            tk_info("%s: re-claimed %ld entries idle over %ld ms", s->key, got, d->cfg->claim_idle_ms);
        if (got < 0 || flush(d) != 0)
            return -2;
    }
    return 0;
}

/* ---------------------------------------------------------------- counters */

static void push_stats(wk_drain_t *d)
{
    const char *c = d->cfg->consumer;
    char f[5][WK_CONSUMER_MAX + 16], v[5][24];
    const char *argv[12];
    size_t lens[12];
    uint64_t delta[4] = {d->total.rows - d->flushed.rows, d->total.batches - d->flushed.batches, d->total.errors - d->flushed.errors,
                         d->total.dead - d->flushed.dead};
    static const char *const names[4] = {"rows", "batches", "errors", "dead"};
    for (int i = 0; i < 4; i++) {
        if (delta[i] == 0)
            continue;
        snprintf(f[0], sizeof(f[0]), "%s:%s", c, names[i]);
        snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)delta[i]);
        argv[0] = "HINCRBY";
        argv[1] = WK_STATS_KEY;
        argv[2] = f[0];
        argv[3] = v[0];
        for (int j = 0; j < 4; j++)
            lens[j] = strlen(argv[j]);
        redisReply *r = wk_redis_cmd(&d->redis, 4, argv, lens);
        if (r == NULL)
            return; /* counted next time */
        freeReplyObject(r);
    }
    d->flushed.rows = d->total.rows;
    d->flushed.batches = d->total.batches;
    d->flushed.errors = d->total.errors;
    d->flushed.dead = d->total.dead;
    static const char *const gauges[3] = {"batch_last", "lag_ms", "seen_ms"};
    long long gv[3] = {(long long)d->total.last_batch, (long long)d->total.lag_ms, (long long)tk_time_now_ms()};
    argv[0] = "HSET";
    argv[1] = WK_STATS_KEY;
    for (int i = 0; i < 3; i++) {
        snprintf(f[i], sizeof(f[i]), "%s:%s", c, gauges[i]);
        snprintf(v[i], sizeof(v[i]), "%lld", gv[i]);
        argv[2 + 2 * i] = f[i];
        argv[3 + 2 * i] = v[i];
    }
    for (int j = 0; j < 8; j++)
        lens[j] = strlen(argv[j]);
    redisReply *r = wk_redis_cmd(&d->redis, 8, argv, lens);
    if (r != NULL)
        freeReplyObject(r);
}

static void log_rates(wk_drain_t *d, int64_t now)
{
    double secs = (double)(now - d->logged_at) / 1000.0;
    uint64_t rows = d->total.rows - d->logged.rows, batches = d->total.batches - d->logged.batches;
    tk_info("%.0f rows/s, %llu batches (avg %.1f rows), %llu errors, %llu replayed, %llu rejected, %llu dead letters, lag %lld ms, %zu streams",
            secs > 0 ? (double)rows / secs : 0.0, (unsigned long long)batches, batches ? (double)rows / (double)batches : 0.0,
            (unsigned long long)(d->total.errors - d->logged.errors), (unsigned long long)(d->total.replayed - d->logged.replayed),
            (unsigned long long)(d->total.rejected - d->logged.rejected), (unsigned long long)(d->total.dead - d->logged.dead),
            (long long)d->total.lag_ms, d->ns);
    d->logged = d->total;
    d->logged_at = now;
}

/* ---------------------------------------------------------------- the loop */

static int loop(wk_drain_t *d)
{
    const wk_config_t *cfg = d->cfg;
    int64_t next_discover = 0, next_claim = 0, next_stats = 0, next_prune = 0;
    int recovered = 0;
    const char **gt = NULL;
    size_t gtcap = 0;
    int rc = 0;
    d->logged_at = tk_time_mono_ms();
    while (!*d->stop) {
        int64_t now = tk_time_mono_ms();
        if (d->need_discover || now >= next_discover) {
            if (discover(d, d->need_discover == 2) != 0) {
                redis_wait(d);
                continue;
            }
            d->need_discover = 0;
            next_discover = now + cfg->discover_ms;
        }
        if (!recovered) {
            int r = recover_own(d);
            if (r == -2) {
                rc = 1;
                break;
            }
            if (r != 0) {
                redis_wait(d);
                continue;
            }
            recovered = 1;
        }
        if (now >= next_claim) {
            int r = autoclaim(d);
            if (r == -2) {
                rc = 1;
                break;
            }
            next_claim = now + WK_AUTOCLAIM_MS;
        }
        if (now >= next_stats) {
            push_stats(d);
            next_stats = now + cfg->stats_ms;
            if (now >= next_prune && wk_stats_prune(&d->redis, NULL, cfg->stats_ms) >= 0)
                next_prune = now + WK_STATS_PRUNE_MS;
        }
        if (now - d->logged_at >= cfg->log_every_s * 1000)
            log_rates(d, now);
        if (d->ns == 0) {
            tk_time_sleep_ms(cfg->block_ms, d->stop);
            continue;
        }
        if (gtcap < d->ns) {
            const char **p = realloc(gt, d->ns * sizeof(*p));
            if (p == NULL) {
                rc = 1;
                break;
            }
            gt = p;
            gtcap = d->ns;
        }
        for (size_t i = 0; i < d->ns; i++)
            gt[i] = ">";
        long got = read_group(d, 0, d->ns, gt, cfg->block_ms);
        if (got < 0 && d->batch.rows == 0 && d->nbad == 0) {
            redis_wait(d);
            continue;
        }
        d->redis_backoff = 100;
        if (got == 0)
            d->total.lag_ms = 0; /* caught up */
        /* Entries read are in our PEL now: write them even if a stop came meanwhile. */
        if (flush(d) != 0) {
            rc = 1;
            break;
        }
    }
    free(gt);
    if (rc == 0) {
        /* A clean exit ends this consumer's series: its fields go (wk_stats.h). */
        wk_stats_prune(&d->redis, cfg->consumer, cfg->stats_ms);
        log_rates(d, tk_time_mono_ms());
    }
    return rc;
}

int wk_drain_run(const wk_config_t *cfg, const volatile sig_atomic_t *stop)
{
    wk_drain_t d;
    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.stop = stop;
    d.redis_backoff = 100;
    const char *script = tk_lua_find("confirm");
    if (script == NULL) {
        tk_error("lua/confirm.lua is not compiled in");
        return 1;
    }
    tk_db_conf_t dbc = tk_backend_db(&cfg->backend, 2);
    wk_redis_init(&d.redis, cfg->backend.redis_host, (int)cfg->backend.redis_port, (int)cfg->block_ms + 3000, script);
    d.writer = wk_writer_new(&dbc);
    if (d.writer == NULL) {
        tk_error("out of memory");
        return 1;
    }
    tk_info("worker %s: redis %s:%ld, MariaDB %s:%ld/%s, batch %ld", cfg->consumer, cfg->backend.redis_host, cfg->backend.redis_port,
            cfg->backend.db_host, cfg->backend.db_port, cfg->backend.db_name, cfg->batch);
    int rc = loop(&d);
    wk_writer_free(d.writer);
    wk_redis_close(&d.redis);
    wk_batch_free(&d.batch);
    free(d.streams);
    free(d.bad);
    free(d.argv);
    free(d.lens);
    tk_info("worker %s: stopped (%s), %llu rows written", cfg->consumer, rc == 0 ? "clean" : "error", (unsigned long long)d.total.rows);
    return rc;
}
