/*
 * tk_import_redis: the board hash read and the chunked, pipelined calls of
 * lua/lb_import.lua (tk_import_redis.h says what; the script's top comment
 * why a chunk with its drawn seqs cannot lose a race with a live write).
 *
 * Why C formats most of each entry and the script only appends the seq:
 * the seq is drawn inside the atomic step, so it cannot be known here, but
 * everything else (the -c1 score, the c2 key, 13 digits of time) is exact
 * integer formatting that C does once, with the same code (common/tk_lb.c)
 * the rebuild and the tests use; the script appends "%010d" of the seq and
 * the user id to the member, and " <seq>" to the entry. So the two layouts
 * cannot drift, and the script stays cheap (no number formatting per user
 * beyond the seq).
 *
 * Why pipelined with a window: one EVAL of 1,000 users costs Redis ~1-4 ms;
 * sending the next TK_IMPORT_REDIS_WINDOW - 1 before reading an answer
 * hides the round trip without queueing the whole file in hiredis's
 * buffer. Answers come back in order, so the n-th answer's first seq
 * belongs to the n-th chunk's rows.
 */
#include "tk_import_redis.h"
#include "tk_keys.h"
#include "tk_lb.h"
#include "tk_lua.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD 10 /* EVAL script 3 K1 K2 K3 season comps max_t n */
#define NUM_MAX 24
#define SLOT (TK_LB_ENTRY_MAX + NUM_MAX + TK_LB_MEMBER_MAX) /* one user's formatted entry, score and member */

/* A decimal int64 of a reply string, or -1 when absent or not one. */
static int64_t num(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return -1;
        v = v * 10 + (r->str[i] - '0');
    }
    return v;
}

int tk_import_redis_board(redisContext *rc, const char *board, tk_import_board_t *b, char *err, size_t errlen)
{
    char key[TK_KEY_MAX];
    if (tk_lb_key(TK_LB_BOARD, board, strlen(board), 0, key) < 0) {
        snprintf(err, errlen, "bad board id");
        return -1;
    }
    redisReply *r = redisCommand(rc, "HMGET %s comps season len start", key);
    if (r == NULL) {
        snprintf(err, errlen, "Redis: %s", rc->errstr);
        return -1;
    }
    int rc_ = -1;
    memset(b, 0, sizeof(*b));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        snprintf(err, errlen, "Redis: HMGET %s: %s", key, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    } else if (r->element[0]->type == REDIS_REPLY_NIL && r->element[1]->type == REDIS_REPLY_NIL) {
        rc_ = 0; /* no board hash: b->comps stays 0 */
    } else {
        int64_t c = num(r->element[0]), s = num(r->element[1]), l = num(r->element[2]), st = num(r->element[3]);
        if ((c != 1 && c != 2) || s < 1 || s > UINT32_MAX || l < 0 || st < 0) {
            snprintf(err, errlen, "Redis: board hash %s is malformed (comps, season, len, start)", key);
        } else {
            *b = (tk_import_board_t){.comps = (int)c, .season = (unsigned)s, .len_s = l, .start_ms = st};
            rc_ = 0;
        }
    }
    freeReplyObject(r);
    return rc_;
}

int tk_import_redis_backlog(redisContext *rc, const char *board, long long *n, char *err, size_t errlen)
{
    char key[TK_KEY_MAX];
    if (tk_lb_key(TK_LB_STREAM, board, strlen(board), 0, key) < 0) {
        snprintf(err, errlen, "bad board id");
        return -1;
    }
    redisReply *r = redisCommand(rc, "XLEN %s", key);
    if (r == NULL) {
        snprintf(err, errlen, "Redis: %s", rc->errstr);
        return -1;
    }
    int ok = r->type == REDIS_REPLY_INTEGER;
    if (ok)
        *n = r->integer;
    else
        snprintf(err, errlen, "Redis: XLEN %s: %s", key, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/*
 * Reads one chunk's answer: adds its replaced count, and gives the @k rows
 * of the chunk (@rows, may be NULL when draining) their seqs. 0, or -1 with
 * @err (a refused chunk or a lost connection).
 */
static int answer(redisContext *rc, tk_import_row_t *rows, size_t k, size_t *replaced, char *err, size_t errlen)
{
    redisReply *r = NULL;
    if (redisGetReply(rc, (void **)&r) != REDIS_OK || r == NULL) {
        snprintf(err, errlen, "Redis: %s", rc->errstr);
        return -1;
    }
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[1]->type == REDIS_REPLY_INTEGER &&
             r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer >= 1;
    if (ok) {
        *replaced += (size_t)r->element[1]->integer;
        for (size_t i = 0; rows != NULL && i < k; i++)
            rows[i].seq = r->element[2]->integer + (int64_t)i;
    } else
        snprintf(err, errlen, "Redis refused a chunk: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int tk_import_redis_write(redisContext *rc, const char *board, const tk_import_board_t *b, unsigned season, tk_import_row_t *rows, size_t n,
                          tk_import_progress_t *prog, size_t *replaced, size_t *done, char *err, size_t errlen)
{
    const char *script = tk_lua_find("lb_import");
    size_t blen = strlen(board);
    char keys[3][TK_KEY_MAX], head[4][NUM_MAX];
    if (script == NULL || tk_lb_key(TK_LB_BOARD, board, blen, 0, keys[0]) < 0 || tk_lb_key(TK_LB_RANK, board, blen, season, keys[1]) < 0 ||
        tk_lb_key(TK_LB_USERS, board, blen, season, keys[2]) < 0) {
        snprintf(err, errlen, "bad board id");
        return -1;
    }
    size_t argmax = HEAD + 4 * (size_t)TK_IMPORT_REDIS_CHUNK;
    const char **argv = malloc(argmax * sizeof(*argv));
    size_t *lens = malloc(argmax * sizeof(*lens));
    char *scratch = malloc((size_t)TK_IMPORT_REDIS_CHUNK * SLOT);
    int rc_ = -1;
    size_t sent = 0, answered = 0, inflight = 0;
    *replaced = 0;
    *done = 0;
    err[0] = '\0';
    if (argv == NULL || lens == NULL || scratch == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    while (answered < n) {
        /* Fill the window, then read the oldest answer. */
        while (sent < n && inflight < TK_IMPORT_REDIS_WINDOW) {
            size_t k = n - sent < TK_IMPORT_REDIS_CHUNK ? n - sent : TK_IMPORT_REDIS_CHUNK;
            int64_t max_t = 0;
            size_t a = HEAD;
            for (size_t i = 0; i < k; i++) {
                const tk_import_row_t *r = &rows[sent + i];
                /* The entry and the member up to the seq the script draws: "c1 c2 t" (the formatted "c1 c2 t 0" less its
                 * " 0"), and the c2 key and time (the member less its 10 seq digits and the id: tk_lb.h). */
                tk_lb_entry_t e = {.c1 = r->c1, .c2 = r->c2, .t_ms = r->t_ms, .seq = 0};
                char *ent = scratch + i * SLOT, *score = ent + TK_LB_ENTRY_MAX, *member = score + NUM_MAX;
                int el = tk_lb_entry_format(&e, ent) - 2;
                int sl = snprintf(score, NUM_MAX, "%" PRId64, -r->c1);
                int ml = tk_lb_member(&e, b->comps, r->user, r->ulen, member) < 0 ? -1 : (int)tk_lb_member_user_at(b->comps) - 10;
                if (el < 1 || ml < 0) { /* validated by tk_import_file: a bug if reached */
                    snprintf(err, errlen, "line %u: cannot encode the entry", (unsigned)r->line);
                    goto drain;
                }
                argv[a] = r->user;
                lens[a++] = r->ulen;
                argv[a] = ent;
                lens[a++] = (size_t)el;
                argv[a] = score;
                lens[a++] = (size_t)sl;
                argv[a] = member;
                lens[a++] = (size_t)ml;
                if (r->t_ms > max_t)
                    max_t = r->t_ms;
            }
            snprintf(head[0], NUM_MAX, "%u", b->season);
            snprintf(head[1], NUM_MAX, "%d", b->comps);
            snprintf(head[2], NUM_MAX, "%" PRId64, max_t);
            snprintf(head[3], NUM_MAX, "%zu", k);
            const char *h[HEAD] = {"EVAL", script, "3", keys[0], keys[1], keys[2], head[0], head[1], head[2], head[3]};
            for (int i = 0; i < HEAD; i++) {
                argv[i] = h[i];
                lens[i] = strlen(h[i]);
            }
            /* hiredis copies the arguments into its output buffer here: scratch is free again after the call. */
            if (redisAppendCommandArgv(rc, (int)a, argv, lens) != REDIS_OK) {
                snprintf(err, errlen, "Redis: %s", rc->errstr);
                goto drain;
            }
            sent += k;
            inflight++;
        }
        size_t k = n - answered < TK_IMPORT_REDIS_CHUNK ? n - answered : TK_IMPORT_REDIS_CHUNK;
        inflight--;
        if (answer(rc, rows + answered, k, replaced, err, errlen) != 0)
            goto drain;
        answered += k;
        *done = answered;
        tk_import_progress_update(prog, answered);
    }
    rc_ = 0;
    goto out;
drain:
    /* Read what is still in flight so the connection ends clean. A chunk after a refused one is refused the same way
     * (the season moved or the board is gone: for good); should one still have been applied, its rows are in Redis
     * without their seqs here: the caller's message says to re-run, which replaces them. */
    while (inflight > 0 && rc->err == 0) {
        char e2[256];
        size_t r2 = 0;
        inflight--;
        (void)answer(rc, NULL, 0, &r2, e2, sizeof(e2));
    }
out:
    free(argv);
    free(lens);
    free(scratch);
    return rc_;
}
