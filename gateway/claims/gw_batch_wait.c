/*
 * One WAIT per connection per loop turn (gw_batch_wait.h), and why it is
 * enough.
 *
 * What must hold: a claim is answered 201 (or 200) only once at least
 * `replicas` replicas hold the writes of the script call that granted (or
 * found) it. `WAIT n timeout` answers how many replicas acknowledged the
 * replication offset of the connection it is sent on as of that
 * connection's last write (Redis keeps it per client), so one WAIT covers
 * every write made earlier on its connection, not only the last one. One
 * WAIT per batch, as this began, paid a blocking round trip to the replica
 * per batch; with claims spread over many events nearly every batch held a
 * single claim, WAITs on one connection ran one after another, and the
 * bench measured 0.33x the claims/s. So batches are grouped and each group
 * pays one WAIT.
 *
 * Why one WAIT answers for its whole group:
 * 1. A batch is held only from its script reply's callback: the script
 *    ran and its writes are made. C is gw_redis_reply_conn there: the
 *    connection that reply arrived on. Redis answers a command on the
 *    connection it read it from, so the script ran on C's node as a
 *    command of C, and its writes set C's offset. That holds whatever the
 *    slot map said: after an ASK the call went again to the importing node
 *    (ASKING then the script, both on C), after a MOVED to the new master,
 *    and a map changed while the script was in flight changes nothing of
 *    where its reply came from. The answers before the final one (MOVED,
 *    ASK, TRYAGAIN, CLUSTERDOWN, NOSCRIPT) ran nothing, so no write of the
 *    script is on another connection. A connection is numbered anew each
 *    time it is made, so C is one TCP connection, not a later one to the
 *    same node (a new connection's WAIT covers nothing of the old one's).
 * 2. Its group is C's: every batch held this turn whose reply came on C.
 * 3. At the end of the turn (a zero-delay timeout, after the replies this
 *    turn brought), the group's WAIT is sent with gw_redis_command_on(C):
 *    on C itself, never routed by the map, never redirected, and not
 *    queued behind redirected calls (it has no slot), or not at all. Redis
 *    runs the commands of one connection in order, and every script of the
 *    group had already been answered on C, so the WAIT runs after all of
 *    them and covers all their writes (its offset is at least the offset
 *    after the last of them). C no longer up with that number (it went
 *    down this turn, or was closed): no WAIT can cover them, and every
 *    batch of the group is answered 503 and uncertain, as a WAIT that
 *    failed would have it. So is a batch whose reply came on no connection
 *    (cannot happen for a reply that acknowledges a claim; checked anyway).
 * 4. WAIT's answer is then each batch's answer: at least `replicas`, each
 *    answered from its copied script reply as without WAIT; fewer within
 *    the timeout, an error reply (a redirect included: WAIT is never sent
 *    again elsewhere), or the connection lost, each is answered 503 and
 *    recorded uncertain (gw_journal_lost), as one batch was before. A
 *    retry finds the claim (200, same ticket) once a replica has it, or a
 *    fresh grant if a failover lost it.
 * Nothing is answered sooner than before: the batches wait for a WAIT sent
 * after their own reply, as each did for its own. Nor noticeably later:
 * gw_redis writes what a loop turn issued from its own zero-delay timeout,
 * so the WAIT leaves at most one loop iteration after the reply (as the
 * batcher's scripts do), and the turn's other replies ride on it.
 *
 * What WAIT itself does not promise stays as Redis documents it: the
 * replicas that acknowledged hold the writes, but WAIT makes nothing
 * strongly consistent, and a failover may still promote a replica that did
 * not acknowledge them (docs/DEPLOY.md).
 *
 * Bounds: a held batch stays counted by the batcher (REDIS_INFLIGHT_MAX)
 * and in flight for the journal (the fallback cannot take over) until it
 * is given back, so holding adds no new unbounded state. Per turn at most
 * one group per connection; a WAIT outstanding per connection per turn.
 *
 * Memory: each held batch is one allocation (held_t: the copied reply); each group one more, owned by the pending list, then by
 * the sent list and the WAIT's callback, and freed by that callback. At
 * destroy the batches of every group are given back at once; a group
 * whose WAIT is outstanding stays, emptied and cut from @w, for its
 * callback to free (gw_redis_destroy runs it with NULL).
 */
#include "gw_batch_wait.h"
#include "gw_redis.h"
#include "tk_log.h"
#include "tk_wait.h"

#include <stdlib.h>
#include <string.h>

typedef struct held held_t;
struct held {
    held_t *next;
    void *batch;
    redisReply top;       /* the script reply: an array, its elements and their strings after this struct */
};

typedef struct group group_t;
struct group {
    group_t *next, **pprev; /* in w->pending or w->sent */
    gw_batch_wait_t *w;     /* NULL once @w is destroyed: the WAIT's callback only frees this */
    int conn;               /* gw_redis_reply_conn of every batch's script reply */
    size_t n;
    held_t *head, **tail;   /* in the order their replies came */
};

struct st_gw_batch_wait_t {
    gw_thread_t *th;
    long replicas;
    tk_wait_cmd_t cmd; /* WAIT replicas timeout_ms, built once */
    gw_batch_wait_done_cb done;
    group_t *pending; /* this turn's groups, one per connection */
    group_t *sent;    /* groups whose WAIT is outstanding */
    h2o_timeout_t zero_timeout;
    h2o_timeout_entry_t flush_entry;
};

static void link_group(group_t **list, group_t *g)
{
    g->next = *list;
    g->pprev = list;
    if (*list != NULL)
        (*list)->pprev = &g->next;
    *list = g;
}

static void unlink_group(group_t *g)
{
    *g->pprev = g->next;
    if (g->next != NULL)
        g->next->pprev = g->pprev;
    g->next = NULL;
    g->pprev = NULL;
}

/* Gives every batch of @g back to @done, from its reply when @replicated, else as unreplicated; empties @g. */
static void give_back(gw_batch_wait_done_cb done, group_t *g, int replicated)
{
    held_t *h = g->head;
    g->head = NULL;
    g->tail = &g->head;
    g->n = 0;
    while (h != NULL) {
        held_t *next = h->next;
        done(h->batch, replicated ? &h->top : NULL);
        free(h);
        h = next;
    }
}

static void on_wait(gw_redis_t *redis, redisReply *reply, void *data)
{
    group_t *g = data;
    gw_batch_wait_t *w = g->w;
    (void)redis;
    if (w == NULL) { /* destroyed: its batches were given back then */
        free(g);
        return;
    }
    unlink_group(g);
    gw_thread_t *th = w->th;
    switch (tk_wait_result(reply, w->replicas, NULL)) {
    case TK_WAIT_OK:
        give_back(w->done, g, 1);
        break;
    case TK_WAIT_SHORT:
        gw_metrics_add(&th->metrics.redis_wait_timeouts, 1);
        give_back(w->done, g, 0);
        break;
    case TK_WAIT_ERROR:
        if (reply != NULL) { /* an answer, so gw_redis did not count it */
            gw_metrics_add(&th->metrics.redis_errors, 1);
            tk_log(TK_LOG_WARN, "WAIT after claim scripts failed: %s", reply->type == REDIS_REPLY_ERROR ? reply->str : "not a count");
        }
        give_back(w->done, g, 0);
        break;
    }
    free(g);
}

/* Sends @g's WAIT on the connection its scripts' replies came on (essay, 3), or gives its batches back unreplicated; @g is not in a list. */
static void send_group(gw_batch_wait_t *w, group_t *g)
{
    if (gw_redis_command_on(w->th->redis, g->conn, on_wait, g, 3, w->cmd.argv, w->cmd.lens) == 0) {
        gw_metrics_add(&w->th->metrics.redis_waits, 1);
        gw_metrics_add(&w->th->metrics.redis_wait_batches, (uint64_t)g->n);
        link_group(&w->sent, g);
        return;
    }
    give_back(w->done, g, 0); /* nothing can say a replica has them */
    free(g);
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_batch_wait_t *w = H2O_STRUCT_FROM_MEMBER(gw_batch_wait_t, flush_entry, entry);
    group_t *g;
    while ((g = w->pending) != NULL) {
        unlink_group(g);
        send_group(w, g);
    }
}

gw_batch_wait_t *gw_batch_wait_create(gw_thread_t *th, long replicas, long timeout_ms, gw_batch_wait_done_cb done)
{
    gw_batch_wait_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->th = th;
    w->replicas = replicas;
    w->done = done;
    tk_wait_argv(&w->cmd, replicas, timeout_ms);
    h2o_timeout_init(th->ctx.loop, &w->zero_timeout, 0);
    w->flush_entry.cb = on_flush;
    return w;
}

void gw_batch_wait_destroy(gw_batch_wait_t *w)
{
    if (w == NULL)
        return;
    if (h2o_timeout_is_linked(&w->flush_entry))
        h2o_timeout_unlink(&w->flush_entry);
    group_t *g;
    while ((g = w->pending) != NULL) {
        unlink_group(g);
        give_back(w->done, g, 0);
        free(g);
    }
    while ((g = w->sent) != NULL) {
        unlink_group(g);
        give_back(w->done, g, 0);
        g->w = NULL; /* on_wait frees it */
    }
    h2o_timeout_dispose(w->th->ctx.loop, &w->zero_timeout);
    free(w);
}

int gw_batch_wait_acknowledges(const redisReply *reply)
{
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *code = reply->element[i];
        if (code->type == REDIS_REPLY_STRING && code->len == 1 && (code->str[0] == 'N' || code->str[0] == 'E'))
            return 1;
    }
    return 0;
}

/* A copy of @reply (an array of strings and other scalars); NULL without memory. */
static held_t *hold_reply(const redisReply *reply)
{
    size_t n = reply->elements, bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += reply->element[i]->str != NULL ? reply->element[i]->len + 1 : 0;
    held_t *h = malloc(sizeof(*h) + n * (sizeof(redisReply *) + sizeof(redisReply)) + bytes);
    if (h == NULL)
        return NULL;
    h->top = *reply;
    h->top.element = (redisReply **)(h + 1);
    redisReply *el = (redisReply *)(h->top.element + n);
    char *p = (char *)(el + n);
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = reply->element[i];
        el[i] = (redisReply){.type = e->type, .integer = e->integer, .len = e->len};
        if (e->str != NULL && e->type != REDIS_REPLY_ARRAY) {
            memcpy(p, e->str, e->len);
            p[e->len] = '\0';
            el[i].str = p;
            p += e->len + 1;
        } else {
            el[i].type = e->type == REDIS_REPLY_ARRAY ? REDIS_REPLY_NIL : e->type; /* the batcher wants strings: 500 either way */
            el[i].len = 0;
        }
        h->top.element[i] = &el[i];
    }
    return h;
}

void gw_batch_wait_hold(gw_batch_wait_t *w, void *batch, int conn, const redisReply *reply)
{
    held_t *h = conn >= 0 ? hold_reply(reply) : NULL;
    group_t *g = w->pending;
    while (g != NULL && g->conn != conn)
        g = g->next;
    if (h != NULL && g == NULL && (g = calloc(1, sizeof(*g))) != NULL) {
        g->w = w;
        g->conn = conn;
        g->tail = &g->head;
        link_group(&w->pending, g);
    }
    if (h == NULL || g == NULL) { /* no memory, or no connection it came on: nothing will say a replica has it */
        free(h);
        w->done(batch, NULL);
        return;
    }
    h->next = NULL;
    h->batch = batch;
    *g->tail = h;
    g->tail = &h->next;
    g->n++;
    if (!h2o_timeout_is_linked(&w->flush_entry))
        h2o_timeout_link(w->th->ctx.loop, &w->zero_timeout, &w->flush_entry);
}
