/*
 * wk_confirm: the outcome of a committed batch back to Redis, with
 * lua/confirm.lua, one call per stream: the batch's entries are XACKed and
 * the stream trimmed behind the oldest entry not yet acked; only the rare
 * rejected or cancelled rows are named with their user, whose record then
 * gets its letter (only while it is still 'p'). It runs
 * only after the batch's COMMIT (why that is exact: wk_drain.c). A batch
 * group carries the index of its stream (wk_group_t.src), so the keys come
 * from d->streams without a lookup.
 */
#include "tk_log.h"
#include "wk_drain_int.h"

#include <string.h>

/* EVALSHA, sha, numkeys, the three keys, the group and the count of ids come before the ids of the confirm script. */
#define WK_CONFIRM_HEAD 8

/*
 * Runs the confirm script for stream @si with @n entry ids at
 * d->argv[WK_CONFIRM_HEAD..+n) and @npairs (user, letter) pairs after them.
 * Retries while Redis is away.
 */
static int run_confirm(wk_drain_t *d, size_t si, size_t n, size_t npairs)
{
    const wk_stream_t *s = &d->streams[si];
    char count[24];
    snprintf(count, sizeof(count), "%zu", n);
    d->argv[3] = s->claims;
    d->argv[4] = s->key;
    d->argv[5] = s->ev;
    d->argv[6] = TK_STREAM_GROUP;
    d->argv[7] = count;
    for (int i = 3; i < WK_CONFIRM_HEAD; i++)
        d->lens[i] = strlen(d->argv[i]);
    for (int attempt = 0; attempt < 1000; attempt++) {
        redisReply *r = wk_redis_script(&d->redis, 3, (int)(WK_CONFIRM_HEAD + n + 2 * npairs), d->argv, d->lens);
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
        wk_drain_redis_wait(d);
    }
    tk_warn("confirm %s: redis unreachable; %zu entries stay pending and will be replayed", s->key, n);
    return -1;
}

static void arg(wk_drain_t *d, size_t a, const char *s, size_t len)
{
    d->argv[a] = s;
    d->lens[a] = len;
}

/* Whether a group of this batch comes from stream @si. */
static int has_group(const wk_drain_t *d, size_t si)
{
    for (size_t gi = 0; gi < d->batch.n; gi++)
        if (d->batch.groups[gi].src == si)
            return 1;
    return 0;
}

/*
 * One call for stream @si (@g: its group of this batch, or NULL): the ids of
 * its rows written, then those of its malformed entries (acked without a
 * row), then a (user, letter) pair for each row that is not 'confirmed' (a
 * confirmed claim's record is left as it is: lua/confirm.lua). The pairs
 * must follow every id, so they are collected at the end of the argument
 * array (@cap entries, room for all) and moved up behind the ids.
 */
static void confirm_stream(wk_drain_t *d, size_t si, const wk_group_t *g, size_t cap)
{
    size_t n = 0, np = 0;
    for (size_t i = 0; g != NULL && i < g->n; i++) {
        const wk_row_t *r = &g->rows[i];
        if (r->status == 0)
            continue; /* skipped: stays pending */
        arg(d, WK_CONFIRM_HEAD + n++, r->id, strlen(r->id));
        if (r->status != 'c') {
            np++;
            arg(d, cap - 2 * np, r->user, r->ulen);
            arg(d, cap - 2 * np + 1, r->status == 'r' ? "r" : "x", 1);
        }
    }
    for (size_t i = 0; i < d->nbad; i++)
        if (d->bad[i].stream == si)
            arg(d, WK_CONFIRM_HEAD + n++, d->bad[i].id, strlen(d->bad[i].id));
    if (n == 0 || si >= d->ns)
        return;
    /* ids fill [HEAD, HEAD + n) and pairs [cap - 2np, cap): n + 2np <= 3 (rows + nbad), so they never overlap */
    memmove(&d->argv[WK_CONFIRM_HEAD + n], &d->argv[cap - 2 * np], 2 * np * sizeof(*d->argv));
    memmove(&d->lens[WK_CONFIRM_HEAD + n], &d->lens[cap - 2 * np], 2 * np * sizeof(*d->lens));
    run_confirm(d, si, n, np);
}

int wk_confirm(wk_drain_t *d)
{
    size_t cap = WK_CONFIRM_HEAD + 3 * (d->batch.rows + d->nbad);
    if (wk_drain_grow_args(d, cap) != 0)
        return -1;
    for (size_t gi = 0; gi < d->batch.n; gi++)
        confirm_stream(d, d->batch.groups[gi].src, &d->batch.groups[gi], cap);
    /* malformed entries of streams that had no row in this batch (rare: a few at most) */
    for (size_t i = 0; i < d->nbad; i++) {
        size_t si = d->bad[i].stream, j = 0;
        while (j < i && d->bad[j].stream != si)
            j++;
        if (j == i && !has_group(d, si))
            confirm_stream(d, si, NULL, cap);
    }
    return 0;
}
