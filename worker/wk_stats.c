#include "wk_stats.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"

#include <stdio.h>
#include <string.h>

long wk_stats_prune(wk_redis_t *r, const char *self, long stats_ms)
{
    long max_age_ms = stats_ms * 3 > WK_STATS_MAX_AGE_MS ? stats_ms * 3 : WK_STATS_MAX_AGE_MS;
    const char *script = tk_lua_find("wk_stats_prune");
    if (script == NULL)
        return -1;
    /* Wall-clock ms, as seen_ms is written (worker/wk_drain.c). Sent as
     * text with EVAL: it runs once a minute, and the text is small. */
    int64_t now = tk_time_now_ms();
    char cutoff[24], nowbuf[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(now - max_age_ms));
    snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
    const char *argv[] = {"EVAL", script, "1", TK_KEY_WK_STATS, cutoff, nowbuf, self != NULL ? self : ""};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep = wk_redis_cmd(r, 7, argv, lens);
    long n = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        n = (long)rep->integer;
    else
        tk_debug("pruning %s: %s", TK_KEY_WK_STATS, rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str : "redis unreachable");
    if (rep != NULL)
        freeReplyObject(rep);
    return n;
}
