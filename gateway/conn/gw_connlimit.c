#include "gw_connlimit.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    uint64_t key; /* 0: empty */
    long count;
} slot_t;

struct gw_connlimit {
    pthread_mutex_t lock;
    long limit;
    size_t mask, used;
    slot_t *slots;
};

gw_connlimit_t *gw_connlimit_new(long limit, size_t max_keys)
{
    size_t n = 64;
    while (n < max_keys && n < ((size_t)1 << 40))
        n *= 2;
    gw_connlimit_t *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->slots = calloc(n, sizeof(slot_t))) == NULL) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->limit = limit < 1 ? 1 : limit;
    t->mask = n - 1;
    return t;
}

void gw_connlimit_free(gw_connlimit_t *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->slots);
    free(t);
}

/* The slot of @key, or the empty slot where it would go (NULL when the table is full and @key absent). Lock held. */
static slot_t *find(gw_connlimit_t *t, uint64_t key)
{
    for (size_t i = 0, at = (size_t)key & t->mask; i <= t->mask; i++, at = (at + 1) & t->mask)
        if (t->slots[at].key == key || t->slots[at].key == 0)
            return &t->slots[at];
    return NULL;
}

gw_connlimit_result_t gw_connlimit_take(gw_connlimit_t *t, uint64_t key)
{
    gw_connlimit_result_t r = GW_CONNLIMIT_TAKEN;
    pthread_mutex_lock(&t->lock);
    slot_t *s = find(t, key);
    if (s == NULL || (s->key == 0 && t->used == t->mask)) {
        r = GW_CONNLIMIT_UNTRACKED; /* keep one slot empty: every probe ends */
    } else if (s->key == 0) {
        s->key = key;
        s->count = 1;
        t->used++;
    } else if (s->count >= t->limit) {
        r = GW_CONNLIMIT_OVER;
    } else {
        s->count++;
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

void gw_connlimit_release(gw_connlimit_t *t, uint64_t key)
{
    pthread_mutex_lock(&t->lock);
    slot_t *s = find(t, key);
    if (s != NULL && s->key == key && --s->count == 0) {
        /* Backward-shift deletion: pull later members of the probe run into the hole. */
        size_t hole = (size_t)(s - t->slots);
        for (size_t j = (hole + 1) & t->mask; t->slots[j].key != 0; j = (j + 1) & t->mask) {
            size_t home = (size_t)t->slots[j].key & t->mask;
            /* Movable unless its home lies cyclically in (hole, j]. */
            int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!stays) {
                t->slots[hole] = t->slots[j];
                hole = j;
            }
        }
        t->slots[hole] = (slot_t){0, 0};
        t->used--;
    }
    pthread_mutex_unlock(&t->lock);
}

long gw_connlimit_count(gw_connlimit_t *t, uint64_t key)
{
    pthread_mutex_lock(&t->lock);
    slot_t *s = find(t, key);
    long n = s != NULL && s->key == key ? s->count : 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

size_t gw_connlimit_keys(gw_connlimit_t *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->used;
    pthread_mutex_unlock(&t->lock);
    return n;
}
