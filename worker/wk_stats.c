/*
 * wk_stats: the worker's counters into tk:wk:stats and the log, and the
 * hash's pruning (why it is bounded: wk_stats.h).
 */
#include "wk_stats.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"
#include "wk_config.h"

#include <stdio.h>
#include <string.h>

long wk_stats_prune(wk_redis_t *r, const char *self, long stats_ms)
{
    long max_age_ms = stats_ms * 3 > WK_STATS_MAX_AGE_MS ? stats_ms * 3 : WK_STATS_MAX_AGE_MS;
    const char *script = tk_lua_find("wk_stats_prune");
    if (script == NULL)
        return -1;
    /* Wall-clock ms, as seen_ms is written (wk_stats_push). Sent as
     * text with EVAL: it runs once a minute, and the text is small. */
    int64_t now = tk_time_now_ms();
    char cutoff[24], nowbuf[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(now - max_age_ms));
    snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
    const char *argv[] = {"EVAL", script, "1", TK_KEY_WK_STATS, cutoff, nowbuf, self != NULL ? self : ""};
    redisReply *rep = wk_redis_cmd(r, TK_KEY_WK_STATS, 7, argv, NULL);
    long n = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        n = (long)rep->integer;
    else
        tk_debug("pruning %s: %s", TK_KEY_WK_STATS, rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str : "redis unreachable");
    if (rep != NULL)
        freeReplyObject(rep);
    return n;
}

void wk_stats_push(wk_redis_t *r, const char *consumer, const wk_counters_t *total, wk_counters_t *flushed)
{
    char f[5][WK_CONSUMER_MAX + 16], v[5][24];
    const char *argv[12];
    size_t lens[12];
    uint64_t delta[9] = {total->rows - flushed->rows,         total->batches - flushed->batches, total->errors - flushed->errors,
                         total->dead - flushed->dead,         total->lb_entries - flushed->lb_entries,
                         total->lb_rows - flushed->lb_rows,   total->lb_stmts - flushed->lb_stmts,
                         total->lb_dead - flushed->lb_dead,   total->lb_bad - flushed->lb_bad};
    static const char *const names[9] = {"rows", "batches", "errors", "dead", "lb_entries", "lb_rows", "lb_stmts", "lb_dead", "lb_bad"};
    for (int i = 0; i < 9; i++) {
        if (delta[i] == 0)
            continue;
        snprintf(f[0], sizeof(f[0]), "%s:%s", consumer, names[i]);
        snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)delta[i]);
        argv[0] = "HINCRBY";
        argv[1] = TK_KEY_WK_STATS;
        argv[2] = f[0];
        argv[3] = v[0];
        for (int j = 0; j < 4; j++)
            lens[j] = strlen(argv[j]);
        redisReply *rep = wk_redis_cmd(r, TK_KEY_WK_STATS, 4, argv, lens);
        if (rep == NULL)
            return; /* counted next time */
        freeReplyObject(rep);
    }
    flushed->rows = total->rows;
    flushed->batches = total->batches;
    flushed->errors = total->errors;
    flushed->dead = total->dead;
    flushed->lb_entries = total->lb_entries;
    flushed->lb_rows = total->lb_rows;
    flushed->lb_stmts = total->lb_stmts;
    flushed->lb_dead = total->lb_dead;
    flushed->lb_bad = total->lb_bad;
    static const char *const gauges[4] = {"batch_last", "lag_ms", "seen_ms", "lb_stmt_max"};
    long long gv[4] = {(long long)total->last_batch, (long long)total->lag_ms, (long long)tk_time_now_ms(), (long long)total->lb_stmt_max};
    argv[0] = "HSET";
    argv[1] = TK_KEY_WK_STATS;
    for (int i = 0; i < 4; i++) {
        snprintf(f[i], sizeof(f[i]), "%s:%s", consumer, gauges[i]);
        snprintf(v[i], sizeof(v[i]), "%lld", gv[i]);
        argv[2 + 2 * i] = f[i];
        argv[3 + 2 * i] = v[i];
    }
    for (int j = 0; j < 10; j++)
        lens[j] = strlen(argv[j]);
    redisReply *rep = wk_redis_cmd(r, TK_KEY_WK_STATS, 10, argv, lens);
    if (rep != NULL)
        freeReplyObject(rep);
}

void wk_stats_log(const wk_counters_t *total, wk_counters_t *logged, int64_t *logged_at, int64_t now, size_t nstreams)
{
    double secs = (double)(now - *logged_at) / 1000.0;
    uint64_t rows = total->rows - logged->rows, batches = total->batches - logged->batches;
    tk_info("%.0f rows/s, %llu batches (avg %.1f rows), %llu errors, %llu replayed, %llu rejected, %llu dead letters, lag %lld ms, %zu streams",
            secs > 0 ? (double)rows / secs : 0.0, (unsigned long long)batches, batches ? (double)rows / (double)batches : 0.0,
            (unsigned long long)(total->errors - logged->errors), (unsigned long long)(total->replayed - logged->replayed),
            (unsigned long long)(total->rejected - logged->rejected), (unsigned long long)(total->dead - logged->dead),
            (long long)total->lag_ms, nstreams);
    *logged = *total;
    *logged_at = now;
}
