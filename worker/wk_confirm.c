/*
 * wk_confirm: the outcome of a committed batch back to Redis, with
 * lua/confirm.lua, one call per stream: the batch's entries are XACKed and
 * the stream trimmed behind the oldest entry not yet acked; only the rare
 * rejected or cancelled rows are named with their user, whose record then
 * gets its letter (only while it is still 'p' with the named ticket). It runs
 * only after the batch's COMMIT (why that is exact: wk_drain.c). A batch
 * group carries the index of its stream (wk_group_t.src), so the keys come
 * from d->streams without a lookup.
 */
#include "tk_claim.h"
#include "tk_fmt.h"
#include "tk_grow.h"
#include "tk_log.h"
#include "wk_drain_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EVALSHA, sha, numkeys, the three keys, the group and the count of ids come before the ids of the confirm script. */
#define WK_CONFIRM_HEAD 8

/* Arguments the confirm script takes per named row: user, letter, ticket. */
#define WK_CONFIRM_PER_ROW 3

/*
 * Runs the confirm script for stream @si with @n entry ids at
 * d->argv[WK_CONFIRM_HEAD..+n) and @npairs (user, letter, ticket) triples
 * after them. Retries while Redis is away.
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
        redisReply *r = wk_redis_script(&d->redis, 3, (int)(WK_CONFIRM_HEAD + n + WK_CONFIRM_PER_ROW * npairs), d->argv, d->lens);
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

/* Names the row @r with @letter as the @np-th triple, written backwards from @cap; @r's ticket text goes to d->tickets[@np - 1]. */
static void name_row(wk_drain_t *d, size_t cap, size_t np, const wk_row_t *r, char letter)
{
    size_t at = cap - WK_CONFIRM_PER_ROW * np;
    char *t = d->tickets[np - 1];
    size_t tl = tk_fmt_i64(t, r->ticket);
    arg(d, at, r->user, r->ulen);
    arg(d, at + 1, letter == TK_CLAIM_REJECTED ? "r" : "x", 1);
    arg(d, at + 2, t, tl);
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const wk_row_t *const *)a)->id, (*(const wk_row_t *const *)b)->id);
}

/*
 * The ids of @g's entries whose every row has a status, each once, into
 * d->argv from WK_CONFIRM_HEAD; returns the count. A packed entry's rows
 * share its id: one row skipped or held (status 0) keeps the whole entry
 * pending, so it leaves the stream only once every claim in it is
 * committed or dead-lettered (the watermark rule, lua/confirm.lua); the
 * rows already written are found again when it is replayed.
 */
static size_t done_ids(wk_drain_t *d, const wk_group_t *g)
{
    const wk_row_t **o = d->order;
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        o[i] = &g->rows[i];
    qsort(o, g->n, sizeof(*o), by_id);
    for (size_t i = 0; i < g->n;) {
        size_t j = i;
        int all = 1;
        for (; j < g->n && strcmp(o[j]->id, o[i]->id) == 0; j++)
            all &= o[j]->status != 0;
        if (all)
            arg(d, WK_CONFIRM_HEAD + n++, o[i]->id, strlen(o[i]->id));
        i = j;
    }
    return n;
}

/*
 * Whether d->bad[@i] is the first of its entry's lines (a malformed packed
 * entry is one d->bad per line, wk_read.c) and every line of it is stored:
 * then its id is acked, once. Quadratic in the lines of malformed entries
 * of one batch, which only damage writes.
 */
static int bad_entry_done(const wk_drain_t *d, size_t i)
{
    const wk_bad_t *b = &d->bad[i];
    for (size_t j = 0; j < d->nbad; j++) {
        const wk_bad_t *o = &d->bad[j];
        if (j == i || o->stream != b->stream || strcmp(o->id, b->id) != 0)
            continue;
        if (j < i || !o->ack)
            return 0;
    }
    return 1;
}

/*
 * One call for stream @si (@g: its group of this batch, or NULL): the ids of
 * its entries written (done_ids: an entry once, when every row of it has a
 * status), and with @bad those of its malformed entries stored in claims_dead
 * (wk_malformed.c), then a (user, letter, ticket) triple for each row that
 * is not 'confirmed' and each malformed entry that names a claim (a
 * confirmed claim's record is left as it is: lua/confirm.lua; a row's
 * letter is the truth of its committed row even while another row keeps
 * its entry pending). The triples must follow every id, so they are
 * collected at the end of the argument array (@cap entries, room for all)
 * and moved up behind the ids.
 */
static void confirm_stream(wk_drain_t *d, size_t si, const wk_group_t *g, int bad, size_t cap)
{
    size_t n = g != NULL ? done_ids(d, g) : 0, np = 0;
    for (size_t i = 0; g != NULL && i < g->n; i++) {
        const wk_row_t *r = &g->rows[i];
        if (r->status == 0)
            continue; /* skipped: stays pending */
        if (r->status != TK_CLAIM_CONFIRMED)
            name_row(d, cap, ++np, r, r->status);
    }
    for (size_t i = 0; bad && i < d->nbad; i++) {
        const wk_bad_t *b = &d->bad[i];
        if (b->stream != si || !b->ack)
            continue; /* another stream's, or not stored: stays pending */
        if (bad_entry_done(d, i))
            arg(d, WK_CONFIRM_HEAD + n++, b->id, strlen(b->id));
        if (b->letter != 0)
            name_row(d, cap, ++np, &b->row, b->letter);
    }
    if (n == 0 || si >= d->ns)
        return;
    /* ids fill [HEAD, HEAD + n) and triples [cap - 3np, cap): n + 3np <= 4 (rows + nbad), so they never overlap */
    size_t k = WK_CONFIRM_PER_ROW * np;
    memmove(&d->argv[WK_CONFIRM_HEAD + n], &d->argv[cap - k], k * sizeof(*d->argv));
    memmove(&d->lens[WK_CONFIRM_HEAD + n], &d->lens[cap - k], k * sizeof(*d->lens));
    run_confirm(d, si, n, np);
}

/* Room for @rows named rows in d->argv, d->lens and d->tickets. 0 or -1 (out of memory). */
static int make_room(wk_drain_t *d, size_t rows, size_t *cap)
{
    *cap = WK_CONFIRM_HEAD + (1 + WK_CONFIRM_PER_ROW) * rows;
    if (wk_drain_grow_args(d, *cap) != 0)
        return -1;
    if (rows > d->tcap) {
        char(*t)[TK_FMT_I64_MAX] = realloc(d->tickets, rows * sizeof(*t));
        if (t == NULL)
            return -1;
        d->tickets = t;
        d->tcap = rows;
    }
    return 0;
}

int wk_confirm_bad(wk_drain_t *d)
{
    size_t cap;
    if (make_room(d, d->nbad, &cap) != 0)
        return -1;
    for (size_t i = 0; i < d->nbad; i++) {
        size_t si = d->bad[i].stream, j = 0;
        while (j < i && d->bad[j].stream != si)
            j++;
        if (j == i) /* the first of its stream: one call for them all */
            confirm_stream(d, si, NULL, 1, cap);
    }
    return 0;
}

int wk_confirm(wk_drain_t *d)
{
    size_t cap;
    if (make_room(d, d->batch.rows, &cap) != 0)
        return -1;
    const wk_row_t **order = tk_grow(d->order, &d->ordercap, d->batch.rows + 1, sizeof(*order), 256);
    if (order == NULL)
        return -1;
    d->order = order;
    for (size_t gi = 0; gi < d->batch.n; gi++)
        confirm_stream(d, d->batch.groups[gi].src, &d->batch.groups[gi], 0, cap);
    return 0;
}
