#include "wk_batch.h"
#include "tk_claim.h"
#include "tk_grow.h"
#include "tk_streamid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_num(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int wk_row_parse(const char *id, size_t idlen, const char *const *kv, const size_t *kvlen, size_t nkv, wk_row_t *out, char *err,
                 size_t errlen)
{
    /* u user; r "<ticket> <quantity> <created_ms>" (lua/claim.lua), or the
     * shape before it, t ticket, n quantity, c created ms: entries written
     * by an older claim.lua may still be in a stream after an upgrade. */
    const char *val[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t vlen[5] = {0, 0, 0, 0, 0};
    static const char names[5] = {'u', 't', 'n', 'c', 'r'};

    if (idlen == 0 || idlen >= WK_ENTRY_ID_MAX) {
        snprintf(err, errlen, "bad entry id");
        return -1;
    }
    if (nkv % 2 != 0) {
        snprintf(err, errlen, "entry %.*s: odd number of fields", (int)idlen, id);
        return -1;
    }
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        if (kvlen[i] != 1)
            continue;
        for (int f = 0; f < 5; f++) {
            if (kv[i][0] != names[f])
                continue;
            if (val[f] != NULL) {
                snprintf(err, errlen, "entry %.*s: field %c twice", (int)idlen, id, names[f]);
                return -1;
            }
            val[f] = kv[i + 1];
            vlen[f] = kvlen[i + 1];
        }
    }
    if (val[4] != NULL) {
        if (val[1] != NULL || val[2] != NULL || val[3] != NULL) {
            snprintf(err, errlen, "entry %.*s: field r beside t, n or c", (int)idlen, id);
            return -1;
        }
        /* split r at its two spaces into the three values t, n, c */
        const char *r = val[4], *end = val[4] + vlen[4];
        for (int f = 1; f <= 3; f++) {
            const char *sp = f < 3 ? memchr(r, ' ', (size_t)(end - r)) : end;
            if (sp == NULL) {
                snprintf(err, errlen, "entry %.*s: field r is not \"<ticket> <quantity> <created_ms>\"", (int)idlen, id);
                return -1;
            }
            val[f] = r;
            vlen[f] = (size_t)(sp - r);
            r = sp < end ? sp + 1 : end;
        }
    }
    for (int f = 0; f < 4; f++) {
        if (val[f] == NULL) {
            snprintf(err, errlen, "entry %.*s: field %c missing", (int)idlen, id, names[f]);
            return -1;
        }
    }
    if (!tk_valid_user_id(val[0], vlen[0])) {
        snprintf(err, errlen, "entry %.*s: bad user id", (int)idlen, id);
        return -1;
    }
    if (parse_num(val[1], vlen[1], 1, INT64_MAX, &out->ticket) != 0) {
        snprintf(err, errlen, "entry %.*s: bad ticket", (int)idlen, id);
        return -1;
    }
    if (parse_num(val[2], vlen[2], 1, TK_QUANTITY_MAX, &out->quantity) != 0) {
        snprintf(err, errlen, "entry %.*s: bad quantity", (int)idlen, id);
        return -1;
    }
    if (parse_num(val[3], vlen[3], 1, INT64_MAX, &out->created_ms) != 0) {
        snprintf(err, errlen, "entry %.*s: bad created ms", (int)idlen, id);
        return -1;
    }
    memcpy(out->id, id, idlen);
    out->id[idlen] = '\0';
    memcpy(out->user, val[0], vlen[0]);
    out->user[vlen[0]] = '\0';
    out->ulen = vlen[0];
    out->line = 0;
    out->dup_of = -1;
    out->status = 0;
    out->fresh = 0;
    return 0;
}

/* The leading digits of @s (@len bytes) as a number in [1, @max], or 0. */
static int64_t leading_num(const char *s, size_t len, int64_t max)
{
    size_t n = 0;
    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    int64_t v = 0;
    return parse_num(s, n, 1, max, &v) == 0 ? v : 0;
}

/* The last millisecond of year 9999: a created_ms past it has no DATETIME, and its dead letter could never be stored. */
#define WK_SALVAGE_MS_MAX 253402300799999LL

void wk_row_salvage(const char *id, size_t idlen, const char *const *kv, const size_t *kvlen, size_t nkv, wk_row_t *out)
{
    memset(out, 0, sizeof(*out));
    out->dup_of = -1;
    if (idlen >= WK_ENTRY_ID_MAX)
        idlen = WK_ENTRY_ID_MAX - 1;
    memcpy(out->id, id, idlen);
    out->id[idlen] = '\0';
    out->created_ms = leading_num(id, idlen, WK_SALVAGE_MS_MAX);
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        if (kvlen[i] != 1)
            continue;
        const char *v = kv[i + 1];
        size_t vl = kvlen[i + 1];
        switch (kv[i][0]) {
        case 'u':
            if (tk_valid_user_id(v, vl)) {
                memcpy(out->user, v, vl);
                out->user[vl] = '\0';
                out->ulen = vl;
            }
            break;
        case 't':
        case 'r':
            out->ticket = leading_num(v, vl, INT64_MAX);
            break;
        case 'c':
            if (leading_num(v, vl, WK_SALVAGE_MS_MAX) > 0)
                out->created_ms = leading_num(v, vl, WK_SALVAGE_MS_MAX);
            break;
        default:
            break;
        }
    }
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

/* One line "<user> <ticket> <quantity>" of a packed entry into @out (id, created ms and line set by the caller). 0 or -1. */
static int parse_line(const char *line, size_t len, wk_row_t *out)
{
    const char *p = line, *end = line + len;
    size_t ul, tl, nl;
    const char *u = word(&p, end, &ul), *t = word(&p, end, &tl), *n = word(&p, end, &nl);
    if (p != end || (len > 0 && line[len - 1] == ' ') || !tk_valid_user_id(u, ul) ||
        parse_num(t, tl, 1, INT64_MAX, &out->ticket) != 0 || parse_num(n, nl, 1, TK_QUANTITY_MAX, &out->quantity) != 0)
        return -1;
    memcpy(out->user, u, ul);
    out->user[ul] = '\0';
    out->ulen = ul;
    return 0;
}

/*
 * A packed entry (lua/claim.lua): c created ms, m its lines. Two passes:
 * the first checks every line (and that the tickets rise, as claim.lua
 * draws them), the second adds the rows, so a bad entry adds none. Returns
 * 0, 1 (malformed, @err) or -1 (out of memory: rows added so far are
 * dropped again).
 */
static int add_packed(wk_batch_t *b, const char *event, size_t elen, size_t src, const char *id, size_t idlen, const char *c, size_t cl,
                      const char *m, size_t ml, char *err, size_t errlen)
{
    wk_row_t row;
    memset(&row, 0, sizeof(row));
    if (parse_num(c, cl, 1, INT64_MAX, &row.created_ms) != 0) {
        snprintf(err, errlen, "entry %.*s: bad created ms", (int)idlen, id);
        return 1;
    }
    memcpy(row.id, id, idlen);
    row.id[idlen] = '\0';
    row.dup_of = -1;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = m, *end = m + ml;
        int64_t last = 0;
        unsigned line = 0;
        for (;;) {
            const char *nlp = memchr(p, '\n', (size_t)(end - p));
            if (++line > TK_CLAIM_PACK_MAX) {
                snprintf(err, errlen, "entry %.*s: more than %d lines", (int)idlen, id, TK_CLAIM_PACK_MAX);
                return 1;
            }
            row.line = line;
            if (parse_line(p, (size_t)((nlp != NULL ? nlp : end) - p), &row) != 0) {
                snprintf(err, errlen, "entry %.*s: line %u is not \"<user> <ticket> <quantity>\"", (int)idlen, id, line);
                return 1;
            }
            if (row.ticket <= last) {
                snprintf(err, errlen, "entry %.*s: line %u: tickets do not rise", (int)idlen, id, line);
                return 1;
            }
            last = row.ticket;
            if (pass == 1 && wk_batch_add(b, event, elen, src, &row) != 0)
                return -1;
            if (nlp == NULL)
                break;
            p = nlp + 1;
        }
        /* "<id>/<line>" in claims_dead (wk_row_dead_id): a Redis id is at most 41 bytes, so this never refuses one */
        char dead[WK_DEAD_ID_MAX];
        if (pass == 0 && snprintf(dead, sizeof(dead), "%.*s/%u", (int)idlen, id, line) >= (int)sizeof(dead)) {
            snprintf(err, errlen, "entry %.*s: id too long for claims_dead", (int)idlen, id);
            return 1;
        }
    }
    return 0;
}

int wk_batch_add_entry(wk_batch_t *b, const char *event, size_t elen, size_t src, const char *id, size_t idlen, const char *const *kv,
                       const size_t *kvlen, size_t nkv, char *err, size_t errlen)
{
    const char *c = NULL, *m = NULL;
    size_t cl = 0, ml = 0;
    int other = 0;
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        if (kvlen[i] != 1)
            continue;
        if (kv[i][0] == 'm') {
            if (m != NULL) {
                snprintf(err, errlen, "entry %.*s: field m twice", (int)idlen, id);
                return 1;
            }
            m = kv[i + 1];
            ml = kvlen[i + 1];
        } else if (kv[i][0] == 'c') {
            if (c != NULL) {
                snprintf(err, errlen, "entry %.*s: field c twice", (int)idlen, id);
                return 1;
            }
            c = kv[i + 1];
            cl = kvlen[i + 1];
        } else if (kv[i][0] == 'u' || kv[i][0] == 't' || kv[i][0] == 'n' || kv[i][0] == 'r') {
            other = 1;
        }
    }
    if (m == NULL) {
        wk_row_t row;
        if (wk_row_parse(id, idlen, kv, kvlen, nkv, &row, err, errlen) != 0)
            return 1;
        return wk_batch_add(b, event, elen, src, &row) != 0 ? -1 : 0;
    }
    if (idlen == 0 || idlen >= WK_ENTRY_ID_MAX) {
        snprintf(err, errlen, "bad entry id");
        return 1;
    }
    if (nkv % 2 != 0) {
        snprintf(err, errlen, "entry %.*s: odd number of fields", (int)idlen, id);
        return 1;
    }
    if (other) {
        snprintf(err, errlen, "entry %.*s: field m beside u, t, n or r", (int)idlen, id);
        return 1;
    }
    if (c == NULL) {
        snprintf(err, errlen, "entry %.*s: field c missing", (int)idlen, id);
        return 1;
    }
    size_t before = b->rows;
    int rc = add_packed(b, event, elen, src, id, idlen, c, cl, m, ml, err, errlen);
    if (rc < 0) {
        /* out of memory midway: take back this entry's rows (the last ones of its group) */
        for (size_t i = 0; i < b->n; i++) {
            wk_group_t *g = &b->groups[i];
            if (g->elen == elen && memcmp(g->event, event, elen) == 0) {
                g->n -= b->rows - before;
                b->rows = before;
            }
        }
    }
    return rc;
}

size_t wk_row_dead_id(const wk_row_t *row, char out[WK_DEAD_ID_MAX])
{
    int n = row->line > 0 ? snprintf(out, WK_DEAD_ID_MAX, "%s/%u", row->id, row->line) : snprintf(out, WK_DEAD_ID_MAX, "%s", row->id);
    return n < WK_DEAD_ID_MAX ? (size_t)n : WK_DEAD_ID_MAX - 1;
}

static wk_group_t *find_group(wk_batch_t *b, const char *event, size_t elen, size_t src)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->groups[i].elen == elen && memcmp(b->groups[i].event, event, elen) == 0)
            return &b->groups[i];
    }
    wk_group_t *all = tk_grow(b->groups, &b->cap, b->n + 1, sizeof(*all), 4);
    if (all == NULL)
        return NULL;
    b->groups = all; /* new groups zeroed: no rows yet */
    /* A cleared group keeps its rows array: reuse it. */
    wk_group_t *g = &b->groups[b->n++];
    memcpy(g->event, event, elen);
    g->event[elen] = '\0';
    g->elen = elen;
    g->src = src;
    g->n = 0;
    return g;
}

int wk_batch_add(wk_batch_t *b, const char *event, size_t elen, size_t src, const wk_row_t *row)
{
    if (elen == 0 || elen > TK_ID_MAX)
        return -1;
    wk_group_t *g = find_group(b, event, elen, src);
    if (g == NULL)
        return -1;
    wk_row_t *rows = tk_grow(g->rows, &g->cap, g->n + 1, sizeof(*rows), 64);
    if (rows == NULL)
        return -1;
    g->rows = rows;
    g->rows[g->n++] = *row;
    b->rows++;
    return 0;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const wk_group_t *)a)->event, ((const wk_group_t *)b)->event);
}

static int cmp_ticket(const void *a, const void *b)
{
    const wk_row_t *x = a, *y = b;
    if (x->ticket != y->ticket)
        return x->ticket < y->ticket ? -1 : 1;
    return tk_streamid_cmp(x->id, y->id);
}

/* Sorts row indices by user, then by position, for the duplicate scan. */
static const wk_row_t *dup_rows;
static int cmp_user(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(dup_rows[i].user, dup_rows[j].user);
    return c != 0 ? c : (i < j ? -1 : i > j);
}

static void mark_dups(wk_group_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        g->rows[i].dup_of = -1;
    if (g->n < 2)
        return;
    size_t *idx = malloc(g->n * sizeof(*idx));
    if (idx == NULL) {
        /* Quadratic but allocation-free fallback. */
        for (size_t i = 1; i < g->n; i++)
            for (size_t j = 0; j < i && g->rows[i].dup_of < 0; j++)
                if (g->rows[j].dup_of < 0 && strcmp(g->rows[i].user, g->rows[j].user) == 0)
                    g->rows[i].dup_of = (long)j;
        return;
    }
    for (size_t i = 0; i < g->n; i++)
        idx[i] = i;
    dup_rows = g->rows;
    qsort(idx, g->n, sizeof(*idx), cmp_user);
    dup_rows = NULL;
    for (size_t k = 1; k < g->n; k++) {
        const wk_row_t *prev = &g->rows[idx[k - 1]];
        if (strcmp(prev->user, g->rows[idx[k]].user) == 0)
            g->rows[idx[k]].dup_of = prev->dup_of >= 0 ? prev->dup_of : (long)idx[k - 1];
    }
    free(idx);
}

void wk_batch_group(wk_batch_t *b)
{
    if (b->n > 1) /* groups is NULL in a batch of malformed entries only, and qsort's array may not be */
        qsort(b->groups, b->n, sizeof(*b->groups), cmp_group);
    for (size_t i = 0; i < b->n; i++) {
        if (b->groups[i].n > 1)
            qsort(b->groups[i].rows, b->groups[i].n, sizeof(wk_row_t), cmp_ticket);
        mark_dups(&b->groups[i]);
    }
}

void wk_batch_clear(wk_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->groups[i].n = 0;
    b->n = 0;
    b->rows = 0;
}

void wk_batch_free(wk_batch_t *b)
{
    for (size_t i = 0; i < b->cap; i++)
        free(b->groups[i].rows);
    free(b->groups);
    memset(b, 0, sizeof(*b));
}
