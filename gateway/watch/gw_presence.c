#include "gw_presence.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE_MAX 40 /* "<page>:<tab>" */

typedef struct batch {
    struct batch *next;
    char event_id[TK_ID_MAX + 1];
    int n;
    char user[GW_PRESENCE_BATCH_MAX][TK_ID_MAX + 1];
    char where[GW_PRESENCE_BATCH_MAX][WHERE_MAX];
    char page[GW_PRESENCE_BATCH_MAX][WHERE_MAX];
    int tab[GW_PRESENCE_BATCH_MAX];
    char at[GW_PRESENCE_BATCH_MAX][24];
} batch_t;

struct st_gw_presence_t {
    gw_thread_t *th;
    batch_t *open;
    h2o_timeout_t zero;
    h2o_timeout_entry_t flush_entry;
    uint64_t lost; /* heartbeats Redis did not take */
};

int gw_presence_min_arg(int64_t now_ms, char *out)
{
    return snprintf(out, 32, "(%lld", (long long)(now_ms - GW_PRESENCE_TTL_MS));
}

int gw_presence_page_key(const char *event_id, const char *page, int tab, char *out)
{
    return snprintf(out, GW_PRESENCE_KEY_MAX, "tk:{%s}:pp:%s:%d", event_id, page, tab);
}

int gw_presence_user_key(const char *event_id, const char *user, char *out)
{
    return snprintf(out, GW_PRESENCE_KEY_MAX, "tk:{%s}:pu:%s", event_id, user);
}

static void on_sent(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_presence_t *p = data;
    (void)redis;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (p->lost++ == 0)
            tk_warn("presence: heartbeats not recorded: %s", reply != NULL ? reply->str : "connection lost");
    }
}

/* One call of presence.lua for @b; frees @b. */
static void send_batch(gw_presence_t *p, batch_t *b)
{
    int nkeys = 1 + 2 * b->n, argc = nkeys + 1 + 3 * b->n;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    size_t *lens = malloc(sizeof(*lens) * (size_t)argc);
    char(*keys)[GW_PRESENCE_KEY_MAX] = malloc(sizeof(*keys) * (size_t)nkeys);
    if (argv == NULL || lens == NULL || keys == NULL) {
        p->lost += (uint64_t)b->n;
        goto out;
    }
    tk_key(TK_KEY_PRESENCE, b->event_id, strlen(b->event_id), keys[0]);
    for (int i = 0; i < b->n; i++) {
        gw_presence_page_key(b->event_id, b->page[i], b->tab[i], keys[1 + 2 * i]);
        gw_presence_user_key(b->event_id, b->user[i], keys[2 + 2 * i]);
    }
    for (int i = 0; i < nkeys; i++)
        argv[i] = keys[i];
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)tk_time_now_ms());
    argv[nkeys] = now;
    for (int i = 0; i < b->n; i++) {
        argv[nkeys + 1 + 3 * i] = b->user[i];
        argv[nkeys + 2 + 3 * i] = b->where[i];
        argv[nkeys + 3 + 3 * i] = b->at[i];
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (gw_redis_script(p->th->redis, GW_SCRIPT_PRESENCE, on_sent, p, nkeys, argc, argv, lens) != 0)
        p->lost += (uint64_t)b->n;
out:
    free(argv);
    free(lens);
    free(keys);
    free(b);
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_presence_t *p = H2O_STRUCT_FROM_MEMBER(gw_presence_t, flush_entry, entry);
    while (p->open != NULL) {
        batch_t *b = p->open;
        p->open = b->next;
        send_batch(p, b);
    }
}

gw_presence_t *gw_presence_create(gw_thread_t *th)
{
    gw_presence_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->th = th;
    h2o_timeout_init(th->ctx.loop, &p->zero, 0);
    p->flush_entry.cb = on_flush;
    return p;
}

void gw_presence_destroy(gw_presence_t *p)
{
    if (p == NULL)
        return;
    if (h2o_timeout_is_linked(&p->flush_entry))
        h2o_timeout_unlink(&p->flush_entry);
    h2o_timeout_dispose(p->th->ctx.loop, &p->zero);
    while (p->open != NULL) {
        batch_t *b = p->open;
        p->open = b->next;
        free(b);
    }
    free(p);
}

void gw_presence_beat(gw_presence_t *p, const char *event_id, const char *user, const char *page, int tab, int64_t at_ms)
{
    batch_t **pb = &p->open;
    while (*pb != NULL && strcmp((*pb)->event_id, event_id) != 0)
        pb = &(*pb)->next;
    batch_t *b = *pb;
    if (b == NULL) {
        if ((b = malloc(sizeof(*b))) == NULL) {
            p->lost++;
            return;
        }
        b->next = NULL;
        b->n = 0;
        snprintf(b->event_id, sizeof b->event_id, "%s", event_id);
        *pb = b;
    }
    int i = b->n++;
    snprintf(b->user[i], sizeof b->user[i], "%s", user);
    snprintf(b->page[i], sizeof b->page[i], "%s", page);
    b->tab[i] = tab;
    snprintf(b->where[i], sizeof b->where[i], "%s:%d", page, tab);
    snprintf(b->at[i], sizeof b->at[i], "%lld", (long long)at_ms);
    gw_metrics_add(&p->th->metrics.presence_beats, 1);
    if (b->n == GW_PRESENCE_BATCH_MAX) {
        *pb = b->next;
        send_batch(p, b);
    } else if (!h2o_timeout_is_linked(&p->flush_entry)) {
        h2o_timeout_link(p->th->ctx.loop, &p->zero, &p->flush_entry);
    }
}
