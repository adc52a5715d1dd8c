/*
 * wk_read: stream entries into the batch. One XREADGROUP covers every
 * stream (COUNT is per stream); each entry is parsed into the row(s) of its
 * event's group (wk_batch: a packed entry is one row per claim), tagged with its stream's index so that the
 * confirm needs no lookup. An entry that is not a claim in the shape of
 * docs/CONTRACTS.md is logged whole and kept aside (d->bad) for
 * wk_malformed.c, which stores it in claims_dead before it is acked. On a Redis Cluster the streams live in different
 * slots, and a call may name only one slot's keys: one call per stream
 * there (wk_read_group; docs/DESIGN.md, "Workers on a cluster").
 */
#include "tk_grow.h"
#include "tk_log.h"
#include "tk_time.h"
#include "tk_wait.h"
#include "wk_drain_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One more d->bad for entry @id of stream @stream, its row salvaged from @n fields, its @line (0: the whole entry). NULL when out of memory. */
static wk_bad_t *bad_row(wk_drain_t *d, size_t stream, const char *id, size_t idlen, const char *const *kv, const size_t *kvlen, size_t n,
                         unsigned line, const char *why)
{
    wk_bad_t *b = tk_grow(d->bad, &d->badcap, d->nbad + 1, sizeof(*b), 16);
    if (b == NULL)
        return NULL;
    d->bad = b;
    b = &d->bad[d->nbad++];
    b->stream = stream;
    memcpy(b->id, id, idlen);
    b->id[idlen] = '\0';
    wk_row_salvage(id, idlen, kv, kvlen, n, &b->row);
    b->row.line = line;
    snprintf(b->reason, sizeof(b->reason), "malformed stream entry: %s", why);
    b->ack = 0;
    b->letter = 0;
    return b;
}

/*
 * Keeps the entry @id of stream @stream aside, with what can be read of its
 * @n fields and @why it is not a claim (wk_malformed.c). A packed entry
 * (field m) is kept as one d->bad per line, each with the user and ticket
 * its line names (so each claim whose own entry it was can be told): its
 * lines share the id, and wk_confirm_bad acks it only once every line is
 * stored. An entry whose lines cannot be told apart is kept whole.
 */
static int add_bad(wk_drain_t *d, size_t stream, const char *id, size_t idlen, const char *const *kv, const size_t *kvlen, size_t n,
                   const char *why)
{
    if (idlen == 0 || idlen >= WK_ENTRY_ID_MAX)
        return 0; /* cannot even ack it; nothing a worker can do */
    const char *m = NULL, *c = NULL;
    size_t ml = 0, cl = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (kvlen[i] == 1 && kv[i][0] == 'm')
            m = kv[i + 1], ml = kvlen[i + 1];
        else if (kvlen[i] == 1 && kv[i][0] == 'c')
            c = kv[i + 1], cl = kvlen[i + 1];
    }
    unsigned line = 0;
    for (const char *p = m, *end = m + ml; m != NULL && p < end && line < WK_BAD_LINES_MAX;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl != NULL ? nl : end;
        /* "<user> <ticket> <qty>": the fields u and t of an entry of one claim */
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        const char *lkv[6] = {"u", p, "t", sp != NULL ? sp + 1 : le, "c", c != NULL ? c : ""};
        size_t lkl[6] = {1, (size_t)((sp != NULL ? sp : le) - p), 1, (size_t)(le - (sp != NULL ? sp + 1 : le)), 1, c != NULL ? cl : 0};
        line++;
        if (bad_row(d, stream, id, idlen, lkv, lkl, 6, line, why) == NULL)
            return -1;
        p = nl != NULL ? nl + 1 : end;
    }
    if (line > 0)
        return 0;
    return bad_row(d, stream, id, idlen, kv, kvlen, n, 0, why) != NULL ? 0 : -1;
}

long wk_read_take(wk_drain_t *d, size_t si, const redisReply *list)
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
        char err[160];
        d->taken++;
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
        if (ok) {
            /* a packed entry: one row per line, all or none (wk_batch.h) */
            size_t before = d->batch.rows;
            int rc = wk_batch_add_entry(&d->batch, s->event, s->elen, si, id->str, id->len, kv, kvlen, n, err, sizeof(err));
            if (rc < 0)
                return -1;
            ok = rc == 0;
            if (d->batch.rows - before > d->entry_rows_max)
                d->entry_rows_max = d->batch.rows - before;
        }
        if (!ok) {
            /* Not a claim in the shape claim.lua writes: a bug upstream. Log it whole, then set it aside (wk_malformed.c). */
            tk_error("%s: %s; setting it aside in claims_dead", s->key, err);
            for (size_t j = 0; j < n; j += 2)
                tk_error("  %s field %.*s = %.*s", id->str, (int)kvlen[j], kv[j], j + 1 < n ? (int)kvlen[j + 1] : 0, j + 1 < n ? kv[j + 1] : "");
            d->total.errors++;
            if (add_bad(d, si, id->str, id->len, kv, kvlen, n, err) != 0)
                return -1;
        }
    }
    return (long)list->elements;
}

/*
 * REDIS_WAIT_REPLICAS (common/tk_wait.h; docs/DEPLOY.md, "Acknowledged
 * means replicated"). Why before MariaDB: a row written from an entry a
 * replica never received outlives a failover that loses the entry, and then
 * MariaDB holds a claim the promoted Redis does not, whose stock Redis sells
 * again (oversell between the books). So the entries a read delivered are
 * written only once WAIT says @n replicas hold them. WAIT covers every write
 * of its connection, and XREADGROUP ... > and XAUTOCLAIM are writes (the
 * delivery is propagated to the replicas, after the claim script's writes
 * of those entries), so it goes on the connection the read just ran on
 * (tk_rcluster_key_ctx of the stream: on a cluster, that stream's master),
 * with no command between. Short of @n, the entries are not written: they
 * stay pending under this consumer and XAUTOCLAIM takes them again once idle
 * for --claim-idle-ms (wk_recover.c), a write whose own WAIT covers them.
 * A read of this consumer's history (XREADGROUP ... 0) propagates nothing,
 * so WAIT on a fresh connection would not cover it: with WAIT on, the
 * start-up re-read is left to XAUTOCLAIM too (wk_recover_own).
 */
int wk_read_replicated(wk_drain_t *d, const char *key)
{
    if (d->cfg->wait_replicas <= 0)
        return 0;
    tk_wait_cmd_t w;
    tk_wait_argv(&w, d->cfg->wait_replicas, d->cfg->wait_timeout_ms);
    redisContext *ctx = tk_rcluster_key_ctx(&d->redis.rc, key, strlen(key));
    if (ctx == NULL) {
        tk_warn("WAIT %s: %s; its entries stay pending", key, d->redis.rc.errstr);
        return -1;
    }
    redisReply *r = redisCommandArgv(ctx, 3, w.argv, w.lens);
    long long got;
    tk_wait_result_t res = tk_wait_result(r, d->cfg->wait_replicas, &got);
    if (r == NULL) {
        tk_warn("WAIT %s: %s; its entries stay pending", key, ctx->errstr[0] ? ctx->errstr : "connection lost");
        tk_rcluster_drop_ctx(&d->redis.rc, ctx);
    } else if (res == TK_WAIT_ERROR) {
        tk_warn("WAIT %s: %s; its entries stay pending", key, r->type == REDIS_REPLY_ERROR ? r->str : "not a count");
    } else if (res == TK_WAIT_SHORT) {
        tk_warn("WAIT %s: %lld of %ld replicas within %ld ms; its entries stay pending until replicated", key, got,
                d->cfg->wait_replicas, d->cfg->wait_timeout_ms);
    }
    if (r != NULL)
        freeReplyObject(r);
    if (res != TK_WAIT_OK) {
        d->total.errors++;
        return -1;
    }
    return 0;
}

/* Entries in an XREADGROUP reply (an array of [stream, entries]). */
static size_t entries_in(const redisReply *r)
{
    size_t n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *sr = r->element[i];
        if (sr->type == REDIS_REPLY_ARRAY && sr->elements == 2 && sr->element[1]->type == REDIS_REPLY_ARRAY)
            n += sr->element[1]->elements;
    }
    return n;
}

/* One XREADGROUP naming streams [@first, @first + @count). Entries taken or -1. */
static long read_call(wk_drain_t *d, size_t first, size_t count, const char *const *ids, long block_ms)
{
    char cnt[24], blk[24];
    snprintf(cnt, sizeof(cnt), "%ld", wk_drain_read_count(d));
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
        d->argv[a++] = d->streams[first + i].key;
    for (size_t i = 0; i < count; i++)
        d->argv[a++] = ids[i];
    for (size_t i = 0; i < a; i++)
        d->lens[i] = strlen(d->argv[i]);
    redisReply *r = wk_redis_cmd(&d->redis, d->streams[first].key, (int)a, d->argv, d->lens);
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
    if (entries_in(r) > 0 && wk_read_replicated(d, d->streams[first].key) != 0) {
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        /* Redis answers the streams that have entries in the order asked: each is found at the first probe after the previous. */
        size_t hint = first;
        for (size_t i = 0; i < r->elements && taken >= 0; i++) {
            const redisReply *sr = r->element[i];
            if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 || sr->element[0]->type != REDIS_REPLY_STRING)
                continue;
            long si = wk_streams_find(d, sr->element[0]->str, sr->element[0]->len, hint);
            if (si < 0)
                continue;
            hint = (size_t)si + 1;
            long t = wk_read_take(d, (size_t)si, sr->element[1]);
            taken = t < 0 ? -1 : taken + t;
        }
    }
    freeReplyObject(r);
    return taken;
}

long wk_read_each(wk_drain_t *d, size_t first, size_t count, long block_ms, wk_read_one_fn read_one, void *arg)
{
    long taken = 0;
    size_t failed = 0;
    for (size_t i = first; i < first + count && !*d->stop; i++) {
        long t = read_one(d, i, arg);
        if (t < 0)
            failed++;
        else
            taken += t;
    }
    if (failed == count)
        return -1;
    if (taken == 0 && block_ms > 0)
        tk_time_sleep_ms(block_ms < WK_CLUSTER_IDLE_MS ? block_ms : WK_CLUSTER_IDLE_MS, d->stop);
    return taken;
}

/* wk_read_each's reader of one event stream: @arg is the ids of the streams from wk_read_group's @first. */
typedef struct {
    size_t first;
    const char *const *ids;
} read_ids_t;

static long read_one(wk_drain_t *d, size_t i, void *arg)
{
    const read_ids_t *r = arg;
    return read_call(d, i, 1, r->ids + (i - r->first), 0);
}

long wk_read_group(wk_drain_t *d, size_t first, size_t count, const char *const *ids, long block_ms)
{
    if (!wk_redis_is_cluster(&d->redis) || count <= 1)
        return read_call(d, first, count, ids, block_ms);
    /* Redis Cluster refuses a call naming streams of two slots, even on one
     * master (CROSSSLOT), and every event's stream has its own tag, hence
     * (but for a hash collision) its own slot: one call per stream, routed
     * to its master, without BLOCK (a blocking call on one master would
     * hold the others' entries back); when none had anything, a short
     * sleep instead. A master that cannot be reached does not stop the
     * others' streams. */
    read_ids_t r = {first, ids};
    return wk_read_each(d, first, count, block_ms, read_one, &r);
}
