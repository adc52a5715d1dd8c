/*
 * wk_streams: which streams the worker drains. Every --discover-ms the set
 * tk:events is re-read and a new event gets XGROUP CREATE … MKSTREAM
 * (BUSYGROUP is fine), so new events are drained without a restart; after
 * a NOGROUP (the stream was deleted and re-created) every known group is
 * created again. Streams are only ever appended to d->streams, so an index
 * names one stream for the life of the worker.
 */
#include "tk_grow.h"
#include "tk_log.h"
#include "wk_drain_int.h"

#include <stdlib.h>
#include <string.h>

long wk_streams_find(const wk_drain_t *d, const char *key, size_t len, size_t hint)
{
    for (size_t k = 0; k < d->ns; k++) {
        size_t i = (hint + k) % d->ns;
        if (strlen(d->streams[i].key) == len && memcmp(d->streams[i].key, key, len) == 0)
            return (long)i;
    }
    return -1;
}

static int create_group(wk_drain_t *d, const char *key)
{
    const char *argv[] = {"XGROUP", "CREATE", key, TK_STREAM_GROUP, "0", "MKSTREAM"};
    redisReply *r = wk_redis_cmd(&d->redis, key, 6, argv, NULL);
    if (r == NULL)
        return -1;
    int ok = r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        tk_error("XGROUP CREATE %s: %s", key, r->str);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Appends the stream of event @ev (@elen bytes), whose stream key is @key. Returns 0 or -1 (out of memory). */
static int add_stream(wk_drain_t *d, const char *ev, size_t elen, const char *key, size_t klen)
{
    wk_stream_t *all = tk_grow(d->streams, &d->scap, d->ns + 1, sizeof(*all), 8);
    if (all == NULL)
        return -1;
    d->streams = all;
    wk_stream_t *s = &d->streams[d->ns++];
    memset(s, 0, sizeof(*s));
    memcpy(s->event, ev, elen);
    s->elen = elen;
    memcpy(s->key, key, klen + 1);
    tk_key(TK_KEY_CLAIMS, ev, elen, s->claims);
    tk_key(TK_KEY_EV, ev, elen, s->ev);
    strcpy(s->cursor, "0-0");
    tk_info("draining event %s (%s)", s->event, s->key);
    return 0;
}

int wk_streams_discover(wk_drain_t *d, int all)
{
    const char *argv[] = {"SMEMBERS", TK_KEY_EVENTS};
    size_t lens[] = {8, strlen(TK_KEY_EVENTS)};
    redisReply *r = wk_redis_cmd(&d->redis, TK_KEY_EVENTS, 2, argv, lens);
    if (r == NULL)
        return -1;
    int rc = 0;
    if (r->type != REDIS_REPLY_ARRAY) {
        tk_error("SMEMBERS %s: %s", TK_KEY_EVENTS, r->type == REDIS_REPLY_ERROR ? r->str : "not a set");
        rc = -1;
    }
    for (size_t i = 0; all && rc == 0 && i < d->ns; i++)
        rc = create_group(d, d->streams[i].key);
    for (size_t i = 0; rc == 0 && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !tk_valid_event_id(e->str, e->len)) {
            tk_warn("%s holds an invalid event id; ignored", TK_KEY_EVENTS);
            continue;
        }
        char key[TK_KEY_MAX];
        int kl = tk_key(TK_KEY_STREAM, e->str, e->len, key);
        if (kl < 0 || wk_streams_find(d, key, (size_t)kl, 0) >= 0)
            continue;
        if (create_group(d, key) != 0 || add_stream(d, e->str, e->len, key, (size_t)kl) != 0)
            rc = -1;
    }
    freeReplyObject(r);
    return rc;
}
