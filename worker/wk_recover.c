/*
 * wk_recover: entries left pending in the group (why that is exact:
 * wk_drain.c). At start the worker re-reads its own pending entries
 * (XREADGROUP … from "0", then from the last id seen, stream by stream),
 * left by an earlier run under the same consumer name; every second it
 * takes over entries idle longer than --claim-idle-ms under any name
 * (XAUTOCLAIM, only when XPENDING shows such an entry: has_idle), those of
 * a dead worker. Both write what they took at once.
 */
#include "tk_log.h"
#include "tk_streamid.h"
#include "wk_drain_int.h"

#include <stdio.h>
#include <string.h>

#define WK_RECOVER_MAX_ROUNDS 1000000 /* bound on the start-up pending re-read */

/* The largest entry id taken into the batch or set aside as bad, or NULL when none was. */
static const char *last_taken(const wk_drain_t *d)
{
    const char *last = NULL;
    for (size_t gi = 0; gi < d->batch.n; gi++)
        for (size_t i = 0; i < d->batch.groups[gi].n; i++)
            if (last == NULL || tk_streamid_cmp(d->batch.groups[gi].rows[i].id, last) > 0)
                last = d->batch.groups[gi].rows[i].id;
    for (size_t i = 0; i < d->nbad; i++)
        if (last == NULL || tk_streamid_cmp(d->bad[i].id, last) > 0)
            last = d->bad[i].id;
    return last;
}

int wk_recover_own(wk_drain_t *d)
{
    if (d->cfg->wait_replicas > 0) {
        /* A history read propagates nothing, so no WAIT after it could say
         * a replica holds what it returns (wk_read.c): XAUTOCLAIM takes
         * these entries once idle, and its WAIT does. */
        tk_info("REDIS_WAIT_REPLICAS=%ld: own pending entries are left to XAUTOCLAIM (idle over %ld ms)", d->cfg->wait_replicas,
                d->cfg->claim_idle_ms);
        return 0;
    }
    for (size_t si = 0; si < d->ns && !*d->stop; si++) {
        char from[WK_ENTRY_ID_MAX] = "0";
        for (long round = 0; round < WK_RECOVER_MAX_ROUNDS && !*d->stop; round++) {
            const char *ids[1] = {from};
            long got = wk_read_group(d, si, 1, ids, 0);
            if (got < 0)
                return -1;
            if (got == 0)
                break;
            /* Continue after the last id seen, so an entry left pending (skipped event) cannot loop. */
            const char *last = last_taken(d);
            if (last == NULL)
                break;
            snprintf(from, sizeof(from), "%s", last);
            tk_info("%s: re-reading %ld own pending entries", d->streams[si].key, got);
            if (wk_drain_flush(d) != 0)
                return -2;
        }
    }
    return 0;
}

/*
 * Whether stream @s has an entry pending longer than @idle ms: 1 yes (or
 * not known: Redis said something else), 0 no, -1 Redis unreachable.
 * XAUTOCLAIM looks every pending entry it passes up in the stream before
 * it looks at its idle time (Redis 7.0): with the live workers' batches
 * pending (2 x 2,048 entries) one call took 10-20 ms of Redis, 2-4 us per
 * drained claim; this XPENDING reads only the pending list (0.3 ms for
 * 5,000 entries, measured), so the common "nothing is idle" costs that.
 */
static int has_idle(wk_drain_t *d, const wk_stream_t *s, const char *idle)
{
    const char *argv[] = {"XPENDING", s->key, TK_STREAM_GROUP, "IDLE", idle, "-", "+", "1"};
    redisReply *r = wk_redis_cmd(&d->redis, s->key, 8, argv, NULL);
    if (r == NULL)
        return -1;
    int rv = !(r->type == REDIS_REPLY_ARRAY && r->elements == 0);
    freeReplyObject(r);
    return rv;
}

int wk_recover_autoclaim(wk_drain_t *d)
{
    char idle[24], cnt[24];
    snprintf(idle, sizeof(idle), "%ld", d->cfg->claim_idle_ms);
    snprintf(cnt, sizeof(cnt), "%ld", wk_drain_read_count(d));
    for (size_t si = 0; si < d->ns && !*d->stop; si++) {
        wk_stream_t *s = &d->streams[si];
        int any = has_idle(d, s, idle);
        if (any < 0)
            return -1;
        if (any == 0)
            continue;
        const char *argv[] = {"XAUTOCLAIM", s->key, TK_STREAM_GROUP, d->cfg->consumer, idle, s->cursor, "COUNT", cnt};
        redisReply *r = wk_redis_cmd(&d->redis, s->key, 8, argv, NULL);
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
        char was[WK_ENTRY_ID_MAX];
        memcpy(was, s->cursor, sizeof(was));
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
            snprintf(s->cursor, sizeof(s->cursor), "%.*s", (int)r->element[0]->len, r->element[0]->str);
            /* Short of the replicas asked: left pending, and the cursor put back so the next round takes them again. */
            if (r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements > 0 && wk_read_replicated(d, s->key) != 0) {
                memcpy(s->cursor, was, sizeof(was));
                freeReplyObject(r);
                continue;
            }
            got = wk_read_take(d, si, r->element[1]);
        }
        freeReplyObject(r);
        if (got > 0)
            tk_info("%s: re-claimed %ld entries idle over %ld ms", s->key, got, d->cfg->claim_idle_ms);
        if (got < 0 || wk_drain_flush(d) != 0)
            return -2;
    }
    return 0;
}
