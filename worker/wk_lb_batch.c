/*
 * wk_lb_batch: board stream entries into coalesced rows (why: wk_lb_batch.h).
 */
#include "wk_lb_batch.h"
#include "tk_grow.h"
#include "tk_lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal integer, optionally negative, of at most 18 digits: the whole of @s (@len bytes). 0 or -1. */
static int parse_ll(const char *s, size_t len, long long *v)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || len - i > 18)
        return -1;
    long long x = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return 0;
}

static const char *field(const char *const *kv, const size_t *kvlen, size_t nkv, char name, size_t *len, int *dup)
{
    const char *found = NULL;
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        if (kvlen[i] == 1 && kv[i][0] == name) {
            if (found != NULL)
                *dup = 1;
            found = kv[i + 1];
            *len = kvlen[i + 1];
        }
    }
    return found;
}

/* Appends the @n items @its to @b, all or none. 0 or -1 (out of memory: nothing appended). */
static int append(wk_lb_batch_t *b, const wk_lb_item_t *its, size_t n)
{
    wk_lb_item_t *p = tk_grow(b->items, &b->cap, b->n + n, sizeof(*p), 256);
    if (p == NULL)
        return -1;
    b->items = p;
    memcpy(b->items + b->n, its, n * sizeof(*its));
    b->n += n;
    return 0;
}

/* The next space-separated word of [@p, @end): its start, its length in *@len; @p moves past it and one space. */
static const char *word(const char **p, const char *end, size_t *len)
{
    const char *w = *p, *sp = memchr(w, ' ', (size_t)(end - w));
    const char *we = sp != NULL ? sp : end;
    *len = (size_t)(we - w);
    *p = sp != NULL ? sp + 1 : end;
    return w;
}

/* Parses one line "<user> <c1> <c2> <seq>" of a packed entry into @it (season and time already set). 0, or 1 with @err. */
static int parse_line(wk_lb_item_t *it, const char *line, size_t len, char *err, size_t errlen)
{
    const char *p = line, *end = line + len;
    size_t ul, al, bl, ql;
    const char *u = word(&p, end, &ul), *a = word(&p, end, &al), *c2 = word(&p, end, &bl), *q = word(&p, end, &ql);
    if (p != end) {
        snprintf(err, errlen, "a line is not four words");
        return 1;
    }
    if (!tk_valid_user_id(u, ul)) {
        snprintf(err, errlen, "a line's user is not a valid user id");
        return 1;
    }
    if (parse_ll(a, al, &it->c1) != 0 || !tk_lb_score_ok(it->c1) || parse_ll(c2, bl, &it->c2) != 0 || !tk_lb_score_ok(it->c2)) {
        snprintf(err, errlen, "a line's components are missing or out of range");
        return 1;
    }
    if (parse_ll(q, ql, &it->seq) != 0 || it->seq < 0 || it->seq > TK_LB_SEQ_MAX) {
        snprintf(err, errlen, "a line's seq is missing or out of range");
        return 1;
    }
    memcpy(it->user, u, ul);
    it->user[ul] = '\0';
    it->ulen = ul;
    return 0;
}

/*
 * A packed entry (k = m): n lines of d, each one score item sharing the
 * entry's id. All or nothing: every line is checked before any is
 * appended, so a malformed entry adds no item (it is acked whole, without
 * rows, by the caller) and a good one adds all of them.
 */
static int add_packed(wk_lb_batch_t *b, const wk_lb_item_t *it, const char *const *kv, const size_t *kvlen, size_t nkv, int *dup,
                      char *err, size_t errlen)
{
    size_t nl = 0, dl = 0;
    const char *n = field(kv, kvlen, nkv, 'n', &nl, dup), *d = field(kv, kvlen, nkv, 'd', &dl, dup);
    long long count = 0;
    if (n == NULL || parse_ll(n, nl, &count) != 0 || count < 1 || count > TK_LB_PACK_MAX) {
        snprintf(err, errlen, "field n (lines) missing or not 1..%d", TK_LB_PACK_MAX);
        return 1;
    }
    if (d == NULL || dl == 0) {
        snprintf(err, errlen, "field d (lines) missing");
        return 1;
    }
    if (*dup) {
        snprintf(err, errlen, "a field appears twice");
        return 1;
    }
    wk_lb_item_t lines[TK_LB_PACK_MAX];
    const char *p = d, *end = d + dl;
    long long got = 0;
    for (;;) {
        const char *nlp = memchr(p, '\n', (size_t)(end - p));
        if (got == count) {
            snprintf(err, errlen, "field n says %lld lines, d has more", count);
            return 1;
        }
        lines[got] = *it;
        if (parse_line(&lines[got], p, (size_t)((nlp != NULL ? nlp : end) - p), err, errlen) != 0)
            return 1;
        got++;
        if (nlp == NULL)
            break;
        p = nlp + 1;
    }
    if (got != count) {
        snprintf(err, errlen, "field n says %lld lines, d has %lld", count, got);
        return 1;
    }
    return append(b, lines, (size_t)count);
}

int wk_lb_batch_add(wk_lb_batch_t *b, size_t src, const char *board, size_t blen, const char *id, size_t idlen,
                    const char *const *kv, const size_t *kvlen, size_t nkv, char *err, size_t errlen)
{
    wk_lb_item_t it;
    memset(&it, 0, sizeof(it));
    if (idlen == 0 || idlen >= WK_ENTRY_ID_MAX || blen == 0 || blen > TK_ID_MAX) {
        snprintf(err, errlen, "bad entry id or board");
        return 1;
    }
    memcpy(it.id, id, idlen);
    memcpy(it.board, board, blen);
    it.blen = blen;
    it.src = src;
    int dup = 0;
    size_t kl = 0, sl = 0, tl = 0;
    const char *k = field(kv, kvlen, nkv, 'k', &kl, &dup), *s = field(kv, kvlen, nkv, 's', &sl, &dup),
               *t = field(kv, kvlen, nkv, 't', &tl, &dup);
    long long season = 0;
    if (k == NULL || kl != 1 || (k[0] != 's' && k[0] != 'r' && k[0] != 'm')) {
        snprintf(err, errlen, "field k missing or not s/m/r");
        return 1;
    }
    if (s == NULL || parse_ll(s, sl, &season) != 0 || season < 1 || season > 4294967295LL) {
        snprintf(err, errlen, "field s (season) missing or not 1..2^32-1");
        return 1;
    }
    if (t == NULL || parse_ll(t, tl, &it.t_ms) != 0 || it.t_ms < 0 || it.t_ms > TK_LB_TIME_MAX) {
        snprintf(err, errlen, "field t (ms) missing or out of range");
        return 1;
    }
    it.kind = k[0] == 'm' ? 's' : k[0];
    it.season = (unsigned)season;
    if (k[0] == 'm')
        return add_packed(b, &it, kv, kvlen, nkv, &dup, err, errlen);
    if (it.kind == 's') {
        size_t ul = 0, al = 0, bl = 0, ql = 0;
        const char *u = field(kv, kvlen, nkv, 'u', &ul, &dup), *a = field(kv, kvlen, nkv, 'a', &al, &dup),
                   *c2 = field(kv, kvlen, nkv, 'b', &bl, &dup), *q = field(kv, kvlen, nkv, 'q', &ql, &dup);
        if (u == NULL || !tk_valid_user_id(u, ul)) {
            snprintf(err, errlen, "field u (user) missing or not a valid user id");
            return 1;
        }
        if (a == NULL || parse_ll(a, al, &it.c1) != 0 || !tk_lb_score_ok(it.c1) || c2 == NULL || parse_ll(c2, bl, &it.c2) != 0 ||
            !tk_lb_score_ok(it.c2)) {
            snprintf(err, errlen, "field a or b (components) missing or out of range");
            return 1;
        }
        if (q == NULL || parse_ll(q, ql, &it.seq) != 0 || it.seq < 0 || it.seq > TK_LB_SEQ_MAX) {
            snprintf(err, errlen, "field q (seq) missing or out of range");
            return 1;
        }
        memcpy(it.user, u, ul);
        it.ulen = ul;
    }
    if (dup) {
        snprintf(err, errlen, "a field appears twice");
        return 1;
    }
    return append(b, &it, 1);
}

/* Same (board, kind, season, user): one key of coalescing. */
static int same_key(const wk_lb_item_t *a, const wk_lb_item_t *b)
{
    return a->kind == b->kind && a->season == b->season && a->blen == b->blen && memcmp(a->board, b->board, a->blen) == 0 &&
           a->ulen == b->ulen && memcmp(a->user, b->user, a->ulen) == 0;
}

static int cmp_item(const void *pa, const void *pb)
{
    const wk_lb_item_t *a = pa, *b = pb;
    int c = strcmp(a->board, b->board);
    if (c != 0)
        return c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1; /* 'r' before 's' */
    if (a->season != b->season)
        return a->season < b->season ? -1 : 1;
    if ((c = strcmp(a->user, b->user)) != 0)
        return c;
    /* The latest first: higher seq, then later time, then the later entry id (a replayed copy is equal anyway). */
    if (a->seq != b->seq)
        return a->seq > b->seq ? -1 : 1;
    if (a->t_ms != b->t_ms)
        return a->t_ms > b->t_ms ? -1 : 1;
    return strcmp(b->id, a->id);
}

size_t wk_lb_batch_coalesce(wk_lb_batch_t *b)
{
    if (b->n > 1)
        qsort(b->items, b->n, sizeof(*b->items), cmp_item);
    size_t written = 0;
    for (size_t i = 0; i < b->n; i++) {
        wk_lb_item_t *it = &b->items[i];
        it->done = 0;
        if (it->kind == 's' && i > 0 && same_key(&b->items[i - 1], it)) {
            it->winner = b->items[i - 1].winner;
        } else {
            it->winner = i;
            written++;
        }
    }
    return written;
}

void wk_lb_batch_clear(wk_lb_batch_t *b)
{
    b->n = 0;
}

void wk_lb_batch_free(wk_lb_batch_t *b)
{
    free(b->items);
    memset(b, 0, sizeof(*b));
}
