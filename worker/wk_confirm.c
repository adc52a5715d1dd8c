/*
 * wk_confirm: the outcome of a committed batch back to Redis, with
 * lua/confirm.lua, one call per stream: each entry's record gets its letter
 * (only while it is still 'p') and the entry is XACKed and XDELed. It runs
 * only after the batch's COMMIT (why that is exact: wk_drain.c). A batch
 * group carries the index of its stream (wk_group_t.src), so the keys come
 * from d->streams without a lookup.
 */
#include "tk_log.h"
#include "wk_drain_int.h"

#include <string.h>

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
        wk_drain_redis_wait(d);
    }
    tk_warn("confirm %s: redis unreachable; %zu entries stay pending and will be replayed", s->key, n);
    return -1;
}

/* Puts the triplet (entry id, user, letter) number @k into d->argv. */
static void triplet(wk_drain_t *d, size_t k, const char *id, const char *user, size_t ulen, const char *letter)
{
    size_t a = WK_CONFIRM_HEAD + 3 * k;
    d->argv[a] = id;
    d->lens[a] = strlen(id);
    d->argv[a + 1] = user;
    d->lens[a + 1] = ulen;
    d->argv[a + 2] = letter;
    d->lens[a + 2] = 1;
}

int wk_confirm(wk_drain_t *d)
{
    if (wk_drain_grow_args(d, WK_CONFIRM_HEAD + 3 * (d->batch.rows + d->nbad)) != 0)
        return -1;
    for (size_t gi = 0; gi < d->batch.n; gi++) {
        const wk_group_t *g = &d->batch.groups[gi];
        size_t n = 0;
        for (size_t i = 0; i < g->n; i++) {
            const wk_row_t *r = &g->rows[i];
            if (r->status == 0)
                continue; /* skipped: stays pending */
            triplet(d, n++, r->id, r->user, r->ulen, r->status == 'c' ? "c" : r->status == 'r' ? "r" : "x");
        }
        if (n > 0 && g->src < d->ns)
            run_confirm(d, g->src, n);
    }
    for (size_t si = 0; si < d->ns && d->nbad > 0; si++) {
        size_t n = 0;
        for (size_t i = 0; i < d->nbad; i++)
            if (d->bad[i].stream == si)
                triplet(d, n++, d->bad[i].id, "", 0, "-");
        if (n > 0)
            run_confirm(d, si, n);
    }
    return 0;
}
