#include "gw_admitter.h"
#include "gw_queue.h"
#include "gw_redis.h"
#include "tk_keys.h"
#include "tk_log.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIT_NKEYS (GW_QUEUE_NKEYS + 2) /* lua/wq_admit.lua: the room's keys, then tk:{E}:wq:rel, tk:{E}:wq:fence: one slot */

typedef struct room {
    struct room *next;
    gw_admitter_t *a;
    char event_id[TK_ID_MAX + 1];
    size_t elen;
    int64_t rate;        /* release_per_s its last step read; -1 before the first */
    int64_t carry_milli; /* gw_admitter_budget */
    int64_t last_ms;     /* monotonic: when its last step was sent */
    int inflight;        /* a step is unanswered (its callback holds this record) */
    int listed;          /* in tk:wq:rooms at the last read */
    int rechecking;      /* the step in flight is the re-check after this room's SREM (unlist) */
    int64_t present;     /* users present at its last step */
} room_t;

struct st_gw_admitter_t {
    gw_thread_t *th;
    char id[128];
    int64_t trusted_until; /* monotonic: steps run until then (0: not the holder) */
    int64_t epoch;         /* the lease's epoch while this gateway holds it (lua/wq_lease.lua): every step carries it */
    int64_t last_try, last_list;
    int64_t epoch_floor; /* tk:wq:epoch, the epoch key before issue 15, read once before the first lease try; raised to a
                            room's fence that refused a step (lua/wq_lease.lua, "A lost counter") */
    int floor_state;     /* 0: not read yet, 1: the GET is unanswered, 2: epoch_floor holds it */
    int lease_inflight, list_inflight;
    int releasing; /* the lease's release at a clean stop is unanswered */
    room_t *rooms;
    size_t nrooms;   /* in rooms (at most GW_ADMITTER_ROOMS_MAX) */
    size_t unserved; /* members of tk:wq:rooms left out at the last read: over GW_ADMITTER_ROOMS_MAX */
    pthread_mutex_t mu; /* the rooms list and their `present`, which /metrics reads from any thread */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
};

static int holding(const gw_admitter_t *a, int64_t mono)
{
    return mono < a->trusted_until;
}

/* ---- the lease ---- */

typedef struct {
    gw_admitter_t *a;
    int64_t sent;
} lease_call_t;

static void on_lease(gw_redis_t *redis, redisReply *reply, void *data)
{
    lease_call_t *c = data;
    gw_admitter_t *a = c->a;
    (void)redis;
    a->lease_inflight = 0;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        int64_t mono = tk_time_mono_ms();
        if (reply->integer > 0) {
            if (!holding(a, mono) || reply->integer != a->epoch) {
                tk_info("waiting room: this gateway (%s) now admits for the fleet (lease epoch %lld)", a->id,
                        (long long)reply->integer);
                a->last_list = 0; /* read the rooms at once */
            }
            a->epoch = reply->integer;
            a->trusted_until = c->sent + GW_ADMITTER_TRUST_MS;
        } else {
            if (holding(a, mono))
                tk_warn("waiting room: the admitter lease went to another gateway");
            a->trusted_until = 0;
        }
    }
    /* NULL or an error: Redis is away; the trust runs out by itself */
    free(c);
}

static void try_lease(gw_admitter_t *a, int64_t mono)
{
    lease_call_t *c = malloc(sizeof(*c));
    if (c == NULL)
        return;
    c->a = a;
    c->sent = mono;
    char px[16], floor[24];
    snprintf(px, sizeof px, "%d", GW_ADMITTER_LEASE_MS);
    snprintf(floor, sizeof floor, "%lld", (long long)a->epoch_floor);
    const char *argv[5] = {TK_KEY_WQ_LEASE, TK_KEY_WQ_EPOCH, a->id, px, floor};
    size_t lens[5] = {strlen(argv[0]), strlen(argv[1]), strlen(argv[2]), strlen(argv[3]), strlen(argv[4])};
    if (gw_redis_script(a->th->redis, GW_SCRIPT_WQ_LEASE, on_lease, c, 2, 5, argv, lens) != 0) {
        free(c);
        return;
    }
    a->lease_inflight = 1;
}

static void on_floor(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_admitter_t *a = data;
    (void)redis;
    if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        a->epoch_floor = 0;
    } else if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        a->epoch_floor = strtoll(reply->str, NULL, 10);
    } else {
        a->floor_state = 0; /* Redis away or refusing: asked again at the next tick; no lease before */
        return;
    }
    a->floor_state = 2;
    if (!a->lease_inflight && !a->th->stopping) {
        a->last_try = tk_time_mono_ms(); /* the first try at once: a start costs one round trip more, no tick */
        try_lease(a, a->last_try);
    }
}

/*
 * Reads the epoch the lease had under its name before issue 15 (tk:wq:epoch,
 * untagged): lua/wq_lease.lua starts the new key there, so the epochs stay
 * above every room's fence across the rename (gw_admitter.h).
 */
static void ask_floor(gw_admitter_t *a)
{
    const char *argv[2] = {"GET", TK_KEY_WQ_EPOCH_OLD};
    size_t lens[2] = {3, strlen(TK_KEY_WQ_EPOCH_OLD)};
    if (gw_redis_command(a->th->redis, on_floor, a, 2, argv, lens) == 0)
        a->floor_state = 1;
}

static void on_release(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_admitter_t *a = data;
    (void)redis;
    (void)reply; /* given back, or not ours any more, or Redis away: the expiry does it */
    a->releasing = 0;
}

int gw_admitter_release(gw_admitter_t *a)
{
    if (a == NULL || a->epoch == 0)
        return -1; /* never held it */
    a->trusted_until = 0;
    const char *argv[5] = {TK_KEY_WQ_LEASE, TK_KEY_WQ_EPOCH, a->id, "0", "0"};
    size_t lens[5] = {strlen(argv[0]), strlen(argv[1]), strlen(argv[2]), 1, 1};
    if (gw_redis_script(a->th->redis, GW_SCRIPT_WQ_LEASE, on_release, a, 2, 5, argv, lens) != 0)
        return -1;
    a->releasing = 1;
    return 0;
}

int gw_admitter_releasing(const gw_admitter_t *a)
{
    return a != NULL && a->releasing;
}

/* ---- the rooms ---- */

static void on_rooms(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_admitter_t *a = data;
    (void)redis;
    a->list_inflight = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    int64_t mono = tk_time_mono_ms();
    pthread_mutex_lock(&a->mu);
    for (room_t *m = a->rooms; m != NULL; m = m->next)
        m->listed = 0;
    a->unserved = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *x = reply->element[i];
        if (x->type != REDIS_REPLY_STRING || !tk_valid_event_id(x->str, x->len))
            continue;
        room_t *m = a->rooms;
        while (m != NULL && !(m->elen == x->len && memcmp(m->event_id, x->str, x->len) == 0))
            m = m->next;
        if (m == NULL && a->nrooms >= GW_ADMITTER_ROOMS_MAX) {
            a->unserved++; /* bounded: the rooms already stepped keep their place, a new one waits for a free one */
            continue;
        }
        if (m == NULL && (m = calloc(1, sizeof(*m))) != NULL) {
            a->nrooms++;
            m->a = a;
            memcpy(m->event_id, x->str, x->len);
            m->elen = x->len;
            m->rate = -1;
            m->last_ms = mono;
            m->next = a->rooms;
            a->rooms = m;
        }
        if (m != NULL)
            m->listed = 1;
    }
    for (room_t **pm = &a->rooms; *pm != NULL;) {
        room_t *m = *pm;
        if (!m->listed && !m->inflight) {
            *pm = m->next;
            free(m);
            a->nrooms--;
        } else {
            pm = &m->next;
        }
    }
    pthread_mutex_unlock(&a->mu);
}

static void list_rooms(gw_admitter_t *a)
{
    const char *argv[2] = {"SMEMBERS", TK_KEY_WQ_ROOMS};
    size_t lens[2] = {8, strlen(TK_KEY_WQ_ROOMS)};
    if (gw_redis_command(a->th->redis, on_rooms, a, 2, argv, lens) == 0)
        a->list_inflight = 1;
}

/* ---- the steps ---- */

static int reply_int(const redisReply *reply, size_t i, int64_t *v)
{
    if (i >= reply->elements || reply->element[i]->type != REDIS_REPLY_INTEGER)
        return -1;
    *v = reply->element[i]->integer;
    return 0;
}

static void send_step(room_t *m, int64_t budget);

static void on_listed(gw_redis_t *redis, redisReply *reply, void *data)
{
    (void)redis;
    (void)reply; /* Redis away: the adders list the room again at their next change */
    (void)data;
}

/* SADD of @m's event to tk:wq:rooms (after a re-check found work). */
static void list_again(room_t *m)
{
    const char *argv[3] = {"SADD", TK_KEY_WQ_ROOMS, m->event_id};
    size_t lens[3] = {4, strlen(TK_KEY_WQ_ROOMS), m->elen};
    gw_redis_command(m->a->th->redis, on_listed, NULL, 3, argv, lens);
}

static void on_unlisted(gw_redis_t *redis, redisReply *reply, void *data)
{
    room_t *m = data;
    (void)redis;
    m->inflight = 0;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        send_step(m, 0); /* the re-check, now that the SREM has run */
    else
        m->rechecking = 0; /* the SREM did not run: the room is still listed */
}

/*
 * A step said @m has nothing left to do. tk:wq:rooms is in another slot on
 * a Redis Cluster, so the drop is two commands, not one atomic step: SREM,
 * then, once the SREM has answered (on a cluster the two go to different
 * masters, so only its answer orders them), a re-check: a step with budget
 * 0 whose answer decides: finished again, the room stays out; work again
 * (a join, a re-open, a restock that came in between), SADD. Every adder
 * SADDs after its own script (lua/wq_admit.lua, "Which rooms stay
 * listed"), so either its SADD follows the SREM or its script precedes the
 * re-check: a room that has work again is never left out.
 */
static void unlist(room_t *m)
{
    const char *argv[3] = {"SREM", TK_KEY_WQ_ROOMS, m->event_id};
    size_t lens[3] = {4, strlen(TK_KEY_WQ_ROOMS), m->elen};
    m->rechecking = 1;
    if (gw_redis_command(m->a->th->redis, on_unlisted, m, 3, argv, lens) == 0)
        m->inflight = 1; /* held until the re-check answers: on_rooms frees no room in flight */
    else
        m->rechecking = 0;
}

/* 1 when a step's @reply says the room is finished: {-1}, or done (its 6th item) 1. */
static int finished(const redisReply *reply)
{
    int64_t first, done;
    if (reply_int(reply, 0, &first) == 0 && first == -1)
        return 1;
    return reply_int(reply, 5, &done) == 0 && done == 1;
}

static void on_step(gw_redis_t *redis, redisReply *reply, void *data)
{
    room_t *m = data;
    gw_admitter_t *a = m->a;
    (void)redis;
    m->inflight = 0;
    int recheck = m->rechecking;
    m->rechecking = 0;
    int done = reply != NULL && reply->type == REDIS_REPLY_ARRAY && finished(reply);
    if (done && !recheck && !a->th->stopping)
        unlist(m); /* the rest of this answer is read below as any step's; the re-check is in flight */
    else if (done && recheck)
        m->listed = 0; /* out: no more steps until a read of tk:wq:rooms finds it listed again */
    else if (recheck)
        list_again(m); /* work again, or no answer: listed again, a later step decides */
    int64_t admitted, abandoned, idle, present, rate;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            tk_warn("waiting room %s: admit step failed: %s", m->event_id, reply->str);
        m->carry_milli = 0;
        return;
    }
    if (reply_int(reply, 0, &admitted) == 0 && admitted == -2) {
        /* fenced: another gateway took the lease since this step was sent; stop until a renewal says otherwise */
        int64_t fence = 0;
        tk_warn("waiting room %s: admit step refused (lease epoch %lld is stale): another gateway admits now", m->event_id,
                (long long)a->epoch);
        a->trusted_until = 0;
        m->carry_milli = 0;
        /* or the epoch counter went back below the fence (lua/wq_lease.lua, "A lost counter"): the next try, at
         * once, draws an epoch above it if the lease is still ours; a successor's lease is left alone */
        if (reply_int(reply, 1, &fence) == 0 && fence > a->epoch_floor) {
            a->epoch_floor = fence;
            a->last_try = tk_time_mono_ms() - GW_ADMITTER_RENEW_MS;
        }
        return;
    }
    if (reply_int(reply, 0, &admitted) != 0 || admitted < 0 || reply_int(reply, 1, &abandoned) != 0 ||
        reply_int(reply, 2, &idle) != 0 || reply_int(reply, 3, &present) != 0 || reply_int(reply, 4, &rate) != 0) {
        m->carry_milli = 0; /* the room is off or gone: nothing to carry */
        pthread_mutex_lock(&a->mu);
        m->rate = -1;
        pthread_mutex_unlock(&a->mu);
        return;
    }
    gw_metrics_add(&a->th->metrics.wq_admitted, (uint64_t)admitted);
    gw_metrics_add(&a->th->metrics.wq_abandoned, (uint64_t)abandoned);
    if (idle)
        m->carry_milli = 0;
    pthread_mutex_lock(&a->mu);
    m->rate = rate;
    m->present = present;
    pthread_mutex_unlock(&a->mu);
}

/* Sends one step of @m with @budget. */
static void send_step(room_t *m, int64_t budget)
{
    char keys[ADMIT_NKEYS][TK_KEY_MAX], k[24], scan[16], epoch[24];
    const char *argv[ADMIT_NKEYS + 3];
    size_t lens[ADMIT_NKEYS + 3];
    /* the room's keys in the order of the other room scripts, then the release window */
    gw_queue_keys(m->event_id, m->elen, keys);
    tk_key(TK_KEY_WQ_REL, m->event_id, m->elen, keys[GW_QUEUE_NKEYS]);
    tk_key(TK_KEY_WQ_FENCE, m->event_id, m->elen, keys[GW_QUEUE_NKEYS + 1]);
    for (int i = 0; i < ADMIT_NKEYS; i++)
        argv[i] = keys[i];
    /* no clock of ours: the script reads Redis's (TIME), the one the heartbeats were written with */
    snprintf(k, sizeof k, "%lld", (long long)budget);
    snprintf(scan, sizeof scan, "%d", GW_ADMITTER_SCAN_MAX);
    snprintf(epoch, sizeof epoch, "%lld", (long long)m->a->epoch);
    argv[ADMIT_NKEYS] = k;
    argv[ADMIT_NKEYS + 1] = scan;
    argv[ADMIT_NKEYS + 2] = epoch; /* the fence: a step that arrives after a takeover admits nobody */
    for (int i = 0; i < ADMIT_NKEYS + 3; i++)
        lens[i] = strlen(argv[i]);
    if (gw_redis_script(m->a->th->redis, GW_SCRIPT_WQ_ADMIT, on_step, m, ADMIT_NKEYS, ADMIT_NKEYS + 3, argv, lens) == 0)
        m->inflight = 1;
    else
        m->rechecking = 0;
}

static void step(room_t *m, int64_t mono)
{
    int64_t budget = 0;
    if (m->rate >= 0)
        budget = gw_admitter_budget(&m->carry_milli, m->rate, mono - m->last_ms);
    m->last_ms = mono;
    send_step(m, budget);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_admitter_t *a = H2O_STRUCT_FROM_MEMBER(gw_admitter_t, tick_entry, entry);
    int64_t mono = tk_time_mono_ms();
    if (a->th->stopping)
        return; /* not linked again: a stopping gateway admits nobody and lets its lease expire */
    int was = holding(a, mono);
    if (a->floor_state == 0) {
        ask_floor(a); /* every tick until it is read (only at the start, or while Redis is away) */
    } else if (a->floor_state == 2 && !a->lease_inflight && mono - a->last_try >= GW_ADMITTER_RENEW_MS) {
        a->last_try = mono;
        try_lease(a, mono);
    }
    if (was) {
        if (!a->list_inflight && mono - a->last_list >= GW_ADMITTER_RENEW_MS) {
            a->last_list = mono;
            list_rooms(a);
        }
        for (room_t *m = a->rooms; m != NULL; m = m->next)
            if (!m->inflight && m->listed)
                step(m, mono);
    } else {
        /* not the holder: when this gateway takes over, every room starts afresh (no burst) */
        for (room_t *m = a->rooms; m != NULL; m = m->next) {
            m->last_ms = mono;
            m->carry_milli = 0;
            pthread_mutex_lock(&a->mu);
            m->present = -1;
            pthread_mutex_unlock(&a->mu);
        }
    }
    h2o_timeout_link(a->th->ctx.loop, &a->tick, &a->tick_entry);
}

gw_admitter_t *gw_admitter_create(gw_thread_t *th)
{
    gw_admitter_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->th = th;
    char host[64] = "host";
    unsigned char rnd[6] = {0};
    gethostname(host, sizeof(host) - 1);
    RAND_bytes(rnd, sizeof rnd);
    snprintf(a->id, sizeof a->id, "%s:%ld:%02x%02x%02x%02x%02x%02x", host, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5]);
    a->last_try = a->last_list = -GW_ADMITTER_RENEW_MS;
    pthread_mutex_init(&a->mu, NULL);
    h2o_timeout_init(th->ctx.loop, &a->tick, GW_ADMITTER_STEP_MS);
    a->tick_entry.cb = on_tick;
    h2o_timeout_link(th->ctx.loop, &a->tick, &a->tick_entry);
    return a;
}

void gw_admitter_stop(gw_admitter_t *a)
{
    if (a == NULL)
        return;
    if (h2o_timeout_is_linked(&a->tick_entry))
        h2o_timeout_unlink(&a->tick_entry);
    h2o_timeout_dispose(a->th->ctx.loop, &a->tick);
}

void gw_admitter_destroy(gw_admitter_t *a)
{
    if (a == NULL)
        return;
    while (a->rooms != NULL) {
        room_t *m = a->rooms;
        a->rooms = m->next;
        free(m);
    }
    pthread_mutex_destroy(&a->mu);
    free(a);
}

size_t gw_admitter_metrics(gw_admitter_t *a, char *out, size_t cap)
{
    int w = snprintf(out, cap, "# HELP tk_wq_present Users present in each waiting room at this gateway's last admit step "
                               "(only the gateway holding the admitter lease shows rooms).\n# TYPE tk_wq_present gauge\n");
    if (w < 0 || (size_t)w >= cap)
        return 0;
    size_t len = (size_t)w;
    if (a == NULL)
        return len;
    pthread_mutex_lock(&a->mu);
    for (room_t *m = a->rooms; m != NULL; m = m->next) {
        if (m->present < 0 || m->rate < 0)
            continue;
        w = snprintf(out + len, cap - len, "tk_wq_present{event=\"%s\"} %lld\n", m->event_id, (long long)m->present);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    size_t unserved = a->unserved;
    pthread_mutex_unlock(&a->mu);
    /* after the samples of tk_wq_present: a family's samples stay together */
    w = snprintf(out + len, cap - len,
                 "# HELP tk_wq_rooms_unserved Rooms of tk:wq:rooms this gateway's admitter left out at its last read "
                 "(more than %d rooms).\n# TYPE tk_wq_rooms_unserved gauge\ntk_wq_rooms_unserved %zu\n",
                 GW_ADMITTER_ROOMS_MAX, unserved);
    if (w > 0 && (size_t)w < cap - len)
        len += (size_t)w;
    return len;
}
