#include "gw_redis.h"
#include "gw_redis_reply.h"
#include "tk_cluster.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"

#include <async.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RETRY_TICK_MS 100
#define BACKOFF_MAX_TICKS 5 /* 500 ms: readiness returns soon after Redis does */

/* Cluster mode (docs/DESIGN.md, "Redis Cluster routing: the gateway"). */
#define REDIRECTS_MAX 5        /* MOVED and ASK followed per command, at most */
#define TRIES_MAX 3            /* TRYAGAIN and CLUSTERDOWN retried per command, at most */
#define TRY_DELAY_MS 50        /* between those retries */
#define REFRESH_MIN_MS 100     /* CLUSTER SLOTS asked at most this often (and one at a time) */
#define REFRESH_PERIOD_MS 3000 /* and at least this often, so a failover is noticed */
#define CONNS_MAX (TK_CLUSTER_NODES_MAX + TK_CLUSTER_SEEDS_MAX)

static const char *const script_names[GW_SCRIPT__COUNT] = {"claim",   "watermark", "presence", "presence_page",
                                                                    "wq_join", "wq_status", "wq_admit", "wq_lease",
                                                                    "lb_read", "lb_write", "soldout"};
static const char *script_text[GW_SCRIPT__COUNT];
static char script_sha[GW_SCRIPT__COUNT][41];

typedef struct call call_t;

/*
 * One connection to one Redis node: the single Redis, or one master (or a
 * seed, or an ASK target) of a cluster. Everything the single connection
 * had is here, per node: the hiredis context on h2o's loop, AUTH, SCRIPT
 * LOAD on connect, the NOSCRIPT order, stall detection, reconnect backoff.
 * Owned by the gw_redis_t (its conns), which alone frees it.
 */
typedef struct rconn {
    gw_redis_t *r;
    redisAsyncContext *ac; /* NULL while disconnected */
    h2o_socket_t *sock;    /* h2o's view of ac's fd (dup'ed) */
    int up;                /* connected and scripts loaded */
    int write_armed;       /* h2o_socket_notify_write pending: it asserts if armed twice */
    int in_flush;
    int want_write;
    h2o_timeout_entry_t flush_entry;
    int backoff_ticks, ticks_to_connect;
    int64_t last_progress_ms;
    /* NOSCRIPT and order (see on_call_reply): script calls sent and not
     * answered; while holding, the calls to re-send first (failed by
     * NOSCRIPT, in the order sent) and those issued meanwhile (in order). */
    int scripts_out;
    int holding;
    call_t *retry_head, **retry_tail;
    call_t *held_head, **held_tail;
    /* authing while the opening AUTH is unanswered, auth_refused from a
     * refusal until an AUTH is accepted (one log line per streak). */
    int authing, auth_refused;
    /* Cluster: a master of the map now; calls sent and answered on this
     * connection; until answered reaches hold_until (nonzero), a redirect
     * it returned holds new calls (see "Order" before pump). */
    int master, closing;
    uint64_t sent, answered, hold_until;
    int id; /* gw_redis_reply_conn: numbered anew each time it becomes up (on_ready) */
    char host[TK_CLUSTER_HOST_MAX + 1];
    int port;
} rconn_t;

struct st_gw_redis_t {
    h2o_loop_t *loop;
    int up;         /* gw_redis_is_up: read by other threads */
    int destroying;
    h2o_timeout_t zero_timeout; /* the connections' flush entries */
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick_entry;
    uint64_t errors;
    /* The ACL user ("" : no AUTH) and its password, sent first on every connection. */
    char user[TK_REDIS_USER_MAX + 1];
    char password[TK_PASSWORD_MAX];
    gw_redis_state_cb on_state;
    void *state_data;
    rconn_t *one; /* a single Redis: the connection (NULL in cluster mode) */
    /* A cluster (map != NULL): every connection, the one of each master
     * indexed like map->nodes, the seeds; redirected calls to send again
     * (in the order their replies came) and calls issued meanwhile. */
    tk_cluster_map_t *map;
    rconn_t *conns[CONNS_MAX];
    size_t nconns;
    rconn_t *node_conn[TK_CLUSTER_NODES_MAX];
    tk_cluster_addr_t seeds[TK_CLUSTER_SEEDS_MAX];
    size_t nseeds;
    int holds; /* connections whose hold_until is not reached */
    call_t *resend_head, **resend_tail;
    call_t *wait_head, **wait_tail;
    int64_t stuck_since; /* 0, or when the resends first could not go */
    int pumping;
    uint64_t next_seq;
    int next_conn_id; /* rconn_t.id of the next connection made */
    int reply_conn;   /* gw_redis_reply_conn: during a user callback, the id of the connection its reply came on, else -1 */
    h2o_timeout_t try_timeout;
    h2o_timeout_entry_t try_entry;
    int refresh_inflight, refresh_wanted, map_err_logged;
    int64_t last_refresh_ms;
    /* For other threads (gw_redis_state), stored atomically. */
    unsigned st_masters, st_masters_up;
    size_t st_covered;
};

/*
 * One command in flight that may have to be sent again: every EVALSHA (for
 * NOSCRIPT), and in cluster mode every command (for a redirect).
 *
 * Ownership: gw_redis_script and, in cluster mode, gw_redis_command copy
 * the caller's argv into this one allocation (the struct, the lens, the
 * pointers, the bytes), so the caller's buffers may go at once; the call
 * is freed right after its callback ran (deliver), whatever the answer.
 * Between, it belongs to the connection it was sent on (hiredis holds it
 * as the callback's data) or to one of the lists it waits in.
 */
struct call {
    call_t *next; /* in one list while waiting */
    gw_redis_t *r;
    rconn_t *c;     /* the connection it was last sent on (or is held on) */
    rconn_t *ask;   /* an ASK's target: send there after ASKING */
    gw_redis_cb cb;
    void *data;
    int script;     /* a gw_script_t, or -1: a plain command */
    int retried;    /* NOSCRIPT met once */
    int redirects;  /* MOVED and ASK followed */
    int tries;      /* TRYAGAIN and CLUSTERDOWN met */
    int slot;       /* of the first key, or -1 (keyless: any master) */
    int pinned;     /* gw_redis_command_on: its connection's answer is the answer, a redirect included */
    uint64_t seq;   /* issue order (cluster): which of two calls of a slot is the earlier */
    int64_t not_before;
    int nkeys, argc;
    const char **argv; /* into this allocation */
    size_t *lens;
};

int gw_redis_scripts_init(void)
{
    for (int i = 0; i < GW_SCRIPT__COUNT; i++) {
        const char *text = tk_lua_find(script_names[i]);
        if (text == NULL) {
            tk_error("lua/%s.lua is not compiled in", script_names[i]);
            return -1;
        }
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)text, strlen(text), md);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            sprintf(&script_sha[i][j * 2], "%02x", md[j]);
        script_text[i] = text;
    }
    return 0;
}

static void connect_now(rconn_t *c);
static void drop_waiting(rconn_t *c);
static void update_up(gw_redis_t *r);
static void pump(gw_redis_t *r);
static void refresh(gw_redis_t *r);

/*
 * Runs @cb with @rep, gw_redis_reply_conn saying @conn meanwhile (restored
 * after: a callback may issue a call that is given up at once, whose own
 * callback runs inside this one).
 */
static void run_cb(gw_redis_t *r, int conn, gw_redis_cb cb, redisReply *rep, void *data)
{
    int outer = r->reply_conn;
    r->reply_conn = conn;
    cb(r, rep, data);
    r->reply_conn = outer;
}

/* ---- hiredis event hooks ---------------------------------------------- */

static void on_readable(h2o_socket_t *sock, const char *err)
{
    rconn_t *c = sock->data;
    (void)err; /* hiredis sees the error itself when it reads */
    c->last_progress_ms = tk_time_mono_ms();
    redisAsyncHandleRead(c->ac);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    rconn_t *c = sock->data;
    (void)err;
    c->write_armed = 0;
    redisAsyncHandleWrite(c->ac);
}

static void arm_write(rconn_t *c)
{
    if (!c->write_armed && c->sock != NULL) {
        c->write_armed = 1;
        h2o_socket_notify_write(c->sock, on_writable);
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    rconn_t *c = H2O_STRUCT_FROM_MEMBER(rconn_t, flush_entry, entry);
    if (c->ac == NULL)
        return;
    c->in_flush = 1;
    c->want_write = 0;
    redisAsyncHandleWrite(c->ac); /* may free ac on a write error */
    c->in_flush = 0;
    if (c->want_write && c->ac != NULL)
        arm_write(c); /* kernel buffer full: wait until writable */
}

static void ev_add_read(void *priv)
{
    rconn_t *c = priv;
    h2o_socket_read_start(c->sock, on_readable);
}

static void ev_del_read(void *priv)
{
    rconn_t *c = priv;
    h2o_socket_read_stop(c->sock);
}

static void ev_add_write(void *priv)
{
    rconn_t *c = priv;
    if (!c->up && !(c->ac->c.flags & REDIS_CONNECTED)) {
        arm_write(c); /* connecting: writability means the connect finished */
    } else if (c->in_flush) {
        c->want_write = 1;
    } else if (!h2o_timeout_is_linked(&c->flush_entry) && !c->write_armed) {
        h2o_timeout_link(c->r->loop, &c->r->zero_timeout, &c->flush_entry);
    }
}

static void ev_del_write(void *priv)
{
    (void)priv; /* a spurious flush or notification finds nothing to write */
}

static void ev_cleanup(void *priv)
{
    rconn_t *c = priv;
    if (h2o_timeout_is_linked(&c->flush_entry))
        h2o_timeout_unlink(&c->flush_entry);
    if (c->sock != NULL) {
        h2o_socket_read_stop(c->sock);
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    c->write_armed = 0;
    c->ac = NULL;
}

/* ---- connection lifecycle --------------------------------------------- */

static void schedule_reconnect(rconn_t *c)
{
    gw_redis_t *r = c->r;
    c->up = 0;
    if (c->closing)
        return; /* close_idle: not a master, not reopened */
    update_up(r);
    if (r->destroying)
        return;
    if (r->map != NULL && c->master)
        r->refresh_wanted = 1; /* a failover may follow: learn the successor */
    c->backoff_ticks = c->backoff_ticks == 0 ? 1 : c->backoff_ticks * 2;
    if (c->backoff_ticks > BACKOFF_MAX_TICKS)
        c->backoff_ticks = BACKOFF_MAX_TICKS;
    c->ticks_to_connect = c->backoff_ticks;
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *rep = reply;
    (void)ac;
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        tk_warn("redis: SCRIPT LOAD %s failed: %s", script_names[(intptr_t)priv], rep != NULL ? rep->str : "connection lost");
}

/* Connected (and authenticated, with a user): the connection becomes usable. */
static void on_ready(rconn_t *c)
{
    gw_redis_t *r = c->r;
    /* Loaded before anything else is sent on this connection, so every later
     * EVALSHA on it finds its script (replies come back in order). */
    for (int i = 0; i < GW_SCRIPT__COUNT; i++)
        redisAsyncCommand(c->ac, on_script_loaded, (void *)(intptr_t)i, "SCRIPT LOAD %s", script_text[i]);
    tk_info("redis: connected to %s:%d%s%s", c->host, c->port, r->user[0] ? " as " : "", r->user);
    c->backoff_ticks = 0;
    c->up = 1;
    c->id = r->next_conn_id; /* a new number per connection made: WAIT covers only its own connection's writes */
    r->next_conn_id = r->next_conn_id == INT_MAX ? 0 : r->next_conn_id + 1;
    c->last_progress_ms = tk_time_mono_ms();
    update_up(r);
    if (r->map != NULL) {
        if (r->map->nnodes == 0)
            refresh(r); /* the first map, from this seed */
        pump(r);        /* a redirect may have waited for this node */
    }
}

/*
 * The answer to the AUTH that opens a connection. Until it is OK the
 * connection is not up: nothing else has been sent, and a command issued
 * meanwhile fails at once as while disconnected. A refusal (WRONGPASS, a
 * disabled user) is Redis being down for this gateway: logged once per
 * streak, the connection closed, and tried again with the usual backoff.
 */
static void on_auth(redisAsyncContext *ac, void *reply, void *priv)
{
    rconn_t *c = ac->data;
    gw_redis_t *r = c->r;
    redisReply *rep = reply;
    (void)priv;
    c->authing = 0;
    if (rep == NULL)
        return; /* connection lost: on_disconnect schedules the reconnect */
    if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
        if (c->auth_refused)
            tk_info("redis: %s:%d accepts AUTH as %s again", c->host, c->port, r->user);
        c->auth_refused = 0;
        on_ready(c);
        return;
    }
    if (!c->auth_refused)
        tk_error("redis: %s:%d refused AUTH as %s: %s; Redis counts as down until it accepts (check REDIS_USER and "
                 "REDIS_PASSWORD_FILE)",
                 c->host, c->port, r->user, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    c->auth_refused = 1;
    redisAsyncDisconnect(c->ac); /* after this callback: hiredis defers it */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rconn_t *c = ac->data;
    gw_redis_t *r = c->r;
    if (status != REDIS_OK) {
        if (c->backoff_ticks <= 1)
            tk_warn("redis: cannot connect to %s:%d: %s", c->host, c->port, ac->errstr);
        schedule_reconnect(c);
        return; /* hiredis frees the context after this callback */
    }
    if (r->user[0] == '\0') {
        on_ready(c);
        return;
    }
    /* AUTH before anything else on this connection, the password by argv
     * (never formatted into a command string). */
    const char *argv[] = {"AUTH", r->user, r->password};
    size_t lens[] = {4, strlen(r->user), strlen(r->password)};
    c->authing = 1;
    c->last_progress_ms = tk_time_mono_ms();
    /* Not sent (no memory): authing stays set, and on_tick drops the
     * connection after GW_REDIS_STALL_MS (freeing it here, inside hiredis's
     * connect handling, is not allowed). */
    if (redisAsyncCommandArgv(c->ac, on_auth, NULL, 3, argv, lens) != REDIS_OK)
        tk_warn("redis: could not send AUTH to %s:%d", c->host, c->port);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rconn_t *c = ac->data;
    if (status != REDIS_OK)
        tk_warn("redis: connection to %s:%d lost: %s", c->host, c->port, ac->errstr);
    /* The outstanding callbacks have run (NULL); nothing is left to wait for. */
    c->scripts_out = 0;
    c->authing = 0;
    drop_waiting(c);
    schedule_reconnect(c);
}

static void connect_now(rconn_t *c)
{
    redisAsyncContext *ac = redisAsyncConnect(c->host, c->port);
    if (ac == NULL || ac->err) {
        if (c->backoff_ticks <= 1)
            tk_warn("redis: cannot connect to %s:%d: %s", c->host, c->port, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    int fd = dup(ac->c.fd);
    if (fd < 0) {
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    c->ac = ac;
    ac->data = c;
    gw_redis_reply_use(&ac->c); /* replies from this thread's free lists (gw_redis_reply.h) */
    c->sock = h2o_evloop_socket_create(c->r->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    c->sock->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_add_write(c); /* learn when the non-blocking connect completes */
}

/* A connection to @host:@port, not connected yet (connect_now starts it); NULL without memory. */
static rconn_t *conn_new(gw_redis_t *r, const char *host, int port)
{
    rconn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->r = r;
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->retry_tail = &c->retry_head;
    c->held_tail = &c->held_head;
    c->flush_entry.cb = on_flush;
    return c;
}

/* Reconnect when due; drop a connection that stalls. */
static void conn_tick(rconn_t *c)
{
    gw_redis_t *r = c->r;
    if (c->ac == NULL && !r->destroying && --c->ticks_to_connect <= 0)
        connect_now(c);
    else if (c->ac != NULL && ((c->up && c->ac->replies.head != NULL) || c->authing) &&
             tk_time_mono_ms() - c->last_progress_ms > GW_REDIS_STALL_MS) {
        tk_warn("redis: no reply for %d ms, dropping the connection", GW_REDIS_STALL_MS);
        /* Not redisAsyncDisconnect: with replies owed, hiredis 0.14.1 only
         * marks the context and waits for them, which a frozen Redis
         * (connected, silent) never sends, so nothing was ever dropped.
         * redisAsyncFree answers every outstanding callback with NULL now,
         * then runs ev_cleanup and on_disconnect (the reconnect). Down
         * first, so a callback that sends again is refused at once rather
         * than queued on the context being freed. Here is a timer, not a
         * hiredis callback, where freeing is allowed. */
        c->up = 0;
        update_up(r);
        redisAsyncFree(c->ac);
    }
}

/* ---- cluster: connections, the map, state ------------------------------ */

static rconn_t *conn_find(gw_redis_t *r, const char *host, int port)
{
    for (size_t i = 0; i < r->nconns; i++)
        if (r->conns[i]->port == port && strcmp(r->conns[i]->host, host) == 0)
            return r->conns[i];
    return NULL;
}

/* The connection to @host:@port, opened now when there is none; NULL when the table is full or no memory. */
static rconn_t *conn_get(gw_redis_t *r, const char *host, int port)
{
    rconn_t *c = conn_find(r, host, port);
    if (c != NULL || r->nconns == CONNS_MAX || r->destroying)
        return c;
    if ((c = conn_new(r, host, port)) == NULL)
        return NULL;
    r->conns[r->nconns++] = c;
    connect_now(c);
    return c;
}

/* After the map changed: each master's connection (opened when new), indexed like the map's nodes. */
static void map_changed(gw_redis_t *r)
{
    for (size_t i = 0; i < r->nconns; i++)
        r->conns[i]->master = 0;
    for (unsigned i = 0; i < r->map->nnodes; i++) {
        const tk_cluster_addr_t *a = &r->map->nodes[i].addr;
        r->node_conn[i] = conn_get(r, a->host, a->port);
        if (r->node_conn[i] != NULL)
            r->node_conn[i]->master = 1;
    }
    update_up(r);
}

/* 1 when @c holds nothing: no reply awaited, no call waiting on it. */
static int conn_idle(const gw_redis_t *r, const rconn_t *c)
{
    if ((c->ac != NULL && c->ac->replies.head != NULL) || c->retry_head != NULL || c->held_head != NULL || c->hold_until != 0)
        return 0;
    for (const call_t *k = r->resend_head; k != NULL; k = k->next)
        if (k->ask == c || k->c == c)
            return 0;
    return 1;
}

/* Closes and frees the connections to nodes that are no longer masters, once idle (not before the first map). */
static void close_idle(gw_redis_t *r)
{
    if (r->map->nnodes == 0)
        return;
    for (size_t i = 0; i < r->nconns;) {
        rconn_t *c = r->conns[i];
        if (c->master || !conn_idle(r, c)) {
            i++;
            continue;
        }
        tk_info("redis: closing the connection to %s:%d (not a master in the slot map)", c->host, c->port);
        r->conns[i] = r->conns[--r->nconns];
        c->closing = 1;
        if (c->ac != NULL)
            redisAsyncFree(c->ac); /* nothing outstanding: only the disconnect hook runs */
        free(c);
    }
}

static void on_slots(redisAsyncContext *ac, void *reply, void *priv)
{
    rconn_t *c = ac->data;
    gw_redis_t *r = c->r;
    redisReply *rep = reply;
    (void)priv;
    r->refresh_inflight = 0;
    if (rep == NULL || r->destroying) {
        r->refresh_wanted = 1;
        return;
    }
    char err[256];
    unsigned before = r->map->nnodes;
    size_t covered_before = tk_cluster_covered(r->map);
    if (tk_cluster_map_parse(r->map, rep, c->host, err, sizeof(err)) != 0) {
        if (!r->map_err_logged++)
            tk_warn("redis: CLUSTER SLOTS from %s:%d not used: %s", c->host, c->port, err);
        r->refresh_wanted = 1;
        return;
    }
    r->map_err_logged = 0;
    if (r->map->nnodes != before || tk_cluster_covered(r->map) != covered_before)
        tk_info("redis: cluster slot map from %s:%d: %u masters, %zu of %d slots covered", c->host, c->port, r->map->nnodes,
                tk_cluster_covered(r->map), TK_CLUSTER_SLOTS);
    map_changed(r);
    pump(r);
}

/*
 * Asks CLUSTER SLOTS of a reachable node: at most one request in flight
 * and one every REFRESH_MIN_MS. With no connection up, the seeds are
 * (re)opened and the next tick asks again.
 */
static void refresh(gw_redis_t *r)
{
    int64_t now = tk_time_mono_ms();
    if (r->destroying || r->refresh_inflight || now - r->last_refresh_ms < REFRESH_MIN_MS)
        return;
    rconn_t *c = NULL;
    for (size_t i = 0; i < r->nconns && c == NULL; i++)
        if (r->conns[i]->up && r->conns[i]->ac != NULL)
            c = r->conns[i];
    if (c == NULL) {
        for (size_t i = 0; i < r->nseeds; i++)
            conn_get(r, r->seeds[i].host, r->seeds[i].port);
        return;
    }
    if (redisAsyncCommand(c->ac, on_slots, NULL, "CLUSTER SLOTS") != REDIS_OK)
        return;
    r->refresh_inflight = 1;
    r->refresh_wanted = 0;
    r->last_refresh_ms = now;
}

/* gw_redis_is_up's answer, and the state other threads read; on_state when it changes. */
static void update_up(gw_redis_t *r)
{
    int up;
    if (r->map == NULL) {
        up = r->one->up;
    } else {
        unsigned masters_up = 0;
        for (unsigned i = 0; i < r->map->nnodes; i++)
            masters_up += r->node_conn[i] != NULL && r->node_conn[i]->up;
        size_t covered = tk_cluster_covered(r->map);
        up = r->map->nnodes > 0 && covered == TK_CLUSTER_SLOTS && masters_up == r->map->nnodes;
        __atomic_store_n(&r->st_masters, r->map->nnodes, __ATOMIC_RELAXED);
        __atomic_store_n(&r->st_masters_up, masters_up, __ATOMIC_RELAXED);
        __atomic_store_n(&r->st_covered, covered, __ATOMIC_RELAXED);
    }
    int was = r->up;
    if (up == was)
        return;
    __atomic_store_n(&r->up, up, __ATOMIC_RELEASE); /* release: gw_failover's tick reads a thread's redis_closing after it */
    /* As before: "up" is told once usable, "down" when lost, also while destroying. */
    if (r->on_state != NULL)
        r->on_state(r, up, r->state_data);
}

/* Every RETRY_TICK_MS: each connection's reconnect and stall check; in cluster mode the refresh and the idle closes. */
static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_redis_t *r = H2O_STRUCT_FROM_MEMBER(gw_redis_t, tick_entry, entry);
    if (r->map == NULL) {
        conn_tick(r->one);
    } else {
        for (size_t i = 0; i < r->nconns; i++)
            conn_tick(r->conns[i]);
        if (tk_time_mono_ms() - r->last_refresh_ms >= REFRESH_PERIOD_MS)
            r->refresh_wanted = 1;
        if (r->refresh_wanted)
            refresh(r);
        pump(r);
        close_idle(r);
    }
    if (!r->destroying)
        h2o_timeout_link(r->loop, &r->tick_timeout, &r->tick_entry);
}

static void on_try(h2o_timeout_entry_t *entry)
{
    gw_redis_t *r = H2O_STRUCT_FROM_MEMBER(gw_redis_t, try_entry, entry);
    pump(r);
}

gw_redis_t *gw_redis_create(h2o_loop_t *loop, const tk_backend_t *backend, gw_redis_state_cb on_state, void *state_data)
{
    gw_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->loop = loop;
    if (tk_backend_redis_auth(backend)) {
        snprintf(r->user, sizeof(r->user), "%s", backend->redis_user);
        snprintf(r->password, sizeof(r->password), "%s", backend->redis_password);
    }
    r->on_state = on_state;
    r->state_data = state_data;
    r->resend_tail = &r->resend_head;
    r->wait_tail = &r->wait_head;
    r->reply_conn = -1;
    if (backend->redis_nseeds > 0) {
        if ((r->map = malloc(sizeof(*r->map))) == NULL) {
            free(r);
            return NULL;
        }
        tk_cluster_map_init(r->map);
        r->nseeds = backend->redis_nseeds;
        memcpy(r->seeds, backend->redis_seeds, sizeof(r->seeds[0]) * r->nseeds);
    } else if ((r->one = conn_new(r, backend->redis_host, (int)backend->redis_port)) == NULL) {
        free(r);
        return NULL;
    }
    h2o_timeout_init(loop, &r->zero_timeout, 0);
    h2o_timeout_init(loop, &r->tick_timeout, RETRY_TICK_MS);
    r->tick_entry.cb = on_tick;
    h2o_timeout_init(loop, &r->try_timeout, TRY_DELAY_MS);
    r->try_entry.cb = on_try;
    h2o_timeout_link(loop, &r->tick_timeout, &r->tick_entry);
    if (r->map == NULL) {
        connect_now(r->one);
    } else {
        for (size_t i = 0; i < r->nseeds; i++)
            conn_get(r, r->seeds[i].host, r->seeds[i].port);
    }
    return r;
}

static void give_up_chain(call_t *head, const char *msg);

void gw_redis_destroy(gw_redis_t *r)
{
    if (r == NULL)
        return;
    r->destroying = 1;
    if (h2o_timeout_is_linked(&r->tick_entry))
        h2o_timeout_unlink(&r->tick_entry);
    if (h2o_timeout_is_linked(&r->try_entry))
        h2o_timeout_unlink(&r->try_entry);
    if (r->map == NULL) {
        if (r->one->ac != NULL)
            redisAsyncFree(r->one->ac); /* outstanding callbacks get NULL; cleanup hook closes the socket */
        drop_waiting(r->one);
    } else {
        for (size_t i = 0; i < r->nconns; i++) {
            if (r->conns[i]->ac != NULL)
                redisAsyncFree(r->conns[i]->ac);
            drop_waiting(r->conns[i]);
        }
        call_t *resend = r->resend_head, *wait = r->wait_head;
        r->resend_head = r->wait_head = NULL;
        r->resend_tail = &r->resend_head;
        r->wait_tail = &r->wait_head;
        give_up_chain(resend, NULL);
        give_up_chain(wait, NULL);
        for (size_t i = 0; i < r->nconns; i++)
            free(r->conns[i]);
        r->nconns = 0;
    }
    h2o_timeout_dispose(r->loop, &r->zero_timeout);
    h2o_timeout_dispose(r->loop, &r->tick_timeout);
    h2o_timeout_dispose(r->loop, &r->try_timeout);
    __atomic_store_n(&r->up, 0, __ATOMIC_RELEASE); /* after redis_closing (gw_failover.c's tick) */
    /* not freed here: /metrics on another thread may read it (gw_redis_free, after the joins) */
}

void gw_redis_free(gw_redis_t *r)
{
    if (r == NULL)
        return;
    free(r->one);
    free(r->map);
    free(r);
}

int gw_redis_is_up(const gw_redis_t *r)
{
    return __atomic_load_n(&r->up, __ATOMIC_ACQUIRE);
}

uint64_t gw_redis_errors(const gw_redis_t *r)
{
    return __atomic_load_n(&r->errors, __ATOMIC_RELAXED); /* read by /metrics on any thread */
}

void gw_redis_state(const gw_redis_t *r, gw_redis_state_t *out)
{
    out->cluster = r->map != NULL;
    out->up = gw_redis_is_up(r);
    out->masters = r->map != NULL ? __atomic_load_n(&r->st_masters, __ATOMIC_RELAXED) : 1;
    out->masters_up = r->map != NULL ? __atomic_load_n(&r->st_masters_up, __ATOMIC_RELAXED) : (unsigned)out->up;
    out->slots_covered = r->map != NULL ? __atomic_load_n(&r->st_covered, __ATOMIC_RELAXED) : TK_CLUSTER_SLOTS;
}

/* ---- routing ------------------------------------------------------------ */

/*
 * The slot a plain command goes by: that of argv[1] for a command on keys,
 * of the first stream for XREAD and XREADGROUP ("... STREAMS k1 k2 ... id1
 * id2 ..."), -1 for the keyless ones (any master answers them).
 */
static int command_slot(int argc, const char **argv, const size_t *lens)
{
    static const char *const keyless[] = {"PING", "TIME", "INFO", "CLUSTER", "SCRIPT", "ECHO", "DBSIZE"};
    if (argc < 2)
        return -1;
    for (size_t i = 0; i < sizeof(keyless) / sizeof(keyless[0]); i++)
        if (lens[0] == strlen(keyless[i]) && strncasecmp(argv[0], keyless[i], lens[0]) == 0)
            return -1;
    if ((lens[0] == 5 && strncasecmp(argv[0], "XREAD", 5) == 0) || (lens[0] == 10 && strncasecmp(argv[0], "XREADGROUP", 10) == 0)) {
        for (int i = 1; i + 1 < argc; i++)
            if (lens[i] == 7 && strncasecmp(argv[i], "STREAMS", 7) == 0)
                return (int)tk_key_slot(argv[i + 1], lens[i + 1]);
        return -1;
    }
    return (int)tk_key_slot(argv[1], lens[1]);
}

/* The connection a call of @slot goes to now (any usable master for -1); NULL when none. */
static rconn_t *route(gw_redis_t *r, int slot)
{
    if (slot < 0) {
        for (unsigned i = 0; i < r->map->nnodes; i++)
            if (r->node_conn[i] != NULL && r->node_conn[i]->up)
                return r->node_conn[i];
        return NULL;
    }
    int node = tk_cluster_map_node(r->map, (unsigned)slot);
    if (node < 0) {
        r->refresh_wanted = 1;
        return NULL;
    }
    return r->node_conn[node];
}

/* ---- commands --------------------------------------------------------- */

typedef struct {
    gw_redis_t *r;
    gw_redis_cb cb;
    void *data;
} plain_call_t;

static void on_plain_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    plain_call_t *call = priv;
    gw_redis_t *r = call->r;
    const rconn_t *c = ac->data;
    if (reply == NULL)
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
    run_cb(r, reply != NULL ? c->id : -1, call->cb, reply, call->data);
    free(call);
}

/* A call with a copy of @argv (see call_t); NULL without memory. */
static call_t *call_new(gw_redis_t *r, int script, gw_redis_cb cb, void *data, int nkeys, int argc, const char **argv,
                        const size_t *lens)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += lens[i];
    call_t *call = malloc(sizeof(*call) + (sizeof(char *) + sizeof(size_t)) * (size_t)argc + bytes);
    if (call == NULL)
        return NULL;
    *call = (call_t){.r = r, .cb = cb, .data = data, .script = script, .slot = -1, .seq = ++r->next_seq, .nkeys = nkeys, .argc = argc};
    call->lens = (size_t *)(call + 1);
    call->argv = (const char **)(call->lens + argc);
    char *p = (char *)(call->argv + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], lens[i]);
        call->argv[i] = p;
        call->lens[i] = lens[i];
        p += lens[i];
    }
    return call;
}

static int send_call(call_t *call, rconn_t *c);

/* gw_redis_command: in a cluster, the call goes to @slot's master (-1: any). */
static int command_to(gw_redis_t *r, int slot, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *lens)
{
    if (r->map != NULL) {
        rconn_t *c = NULL;
        int wait = r->holds > 0 || r->pumping || r->resend_head != NULL || r->wait_head != NULL;
        if (r->destroying || (!wait && ((c = route(r, slot)) == NULL || !c->up || c->ac == NULL))) {
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
            return -1;
        }
        call_t *call = call_new(r, -1, cb, data, 0, argc, argv, lens);
        if (call == NULL)
            return -1;
        call->slot = slot;
        if (wait) {
            *r->wait_tail = call; /* behind the redirected calls (see pump) */
            r->wait_tail = &call->next;
            return 0;
        }
        if (send_call(call, c) != 0) {
            free(call);
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
            return -1;
        }
        return 0;
    }
    rconn_t *c = r->one;
    if (!c->up || c->ac == NULL) {
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    plain_call_t *call = malloc(sizeof(*call));
    if (call == NULL)
        return -1;
    call->r = r;
    call->cb = cb;
    call->data = data;
    if (redisAsyncCommandArgv(c->ac, on_plain_reply, call, argc, argv, lens) != REDIS_OK) {
        free(call);
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}

int gw_redis_command(gw_redis_t *r, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *lens)
{
    return command_to(r, r->map != NULL ? command_slot(argc, argv, lens) : -1, cb, data, argc, argv, lens);
}

int gw_redis_reply_conn(const gw_redis_t *r)
{
    return r->reply_conn;
}

/*
 * The connection numbered @conn, when it is still that one: up, and not
 * reconnected since (on_ready numbers every connection anew). A connection
 * that is down keeps its last number but is not up, and one being made
 * (connecting, AUTH) is not up either.
 */
static rconn_t *conn_numbered(gw_redis_t *r, int conn)
{
    if (conn < 0 || r->destroying)
        return NULL;
    if (r->map == NULL)
        return r->one->up && r->one->ac != NULL && r->one->id == conn ? r->one : NULL;
    for (size_t i = 0; i < r->nconns; i++)
        if (r->conns[i]->id == conn && r->conns[i]->up && r->conns[i]->ac != NULL)
            return r->conns[i];
    return NULL;
}

/*
 * Not held behind a redirect (the wait list of "Order in a cluster"): that
 * order is among the calls of a slot, to keep claims in arrival order, and
 * a keyless command such as WAIT neither writes nor belongs to a slot. What
 * it must follow is every command sent on its connection before it, which
 * hiredis's order on one connection gives. Pinned: should its connection
 * answer a redirect, that is the answer.
 */
int gw_redis_command_on(gw_redis_t *r, int conn, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *lens)
{
    rconn_t *c = conn_numbered(r, conn);
    if (c == NULL) {
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    if (r->map == NULL)
        return command_to(r, -1, cb, data, argc, argv, lens); /* on r->one, which is @c */
    call_t *call = call_new(r, -1, cb, data, 0, argc, argv, lens);
    if (call == NULL)
        return -1;
    call->pinned = 1;
    if (send_call(call, c) != 0) {
        free(call);
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}

static int send_script(call_t *call, int by_text);

/*
 * NOSCRIPT without losing the order (SCRIPT FLUSH, a failover to a replica
 * that never loaded the scripts). The calls of one connection are sent in
 * order and answered in order, and a claim batch must run in Redis in the
 * order it was sent, or later arrivals get earlier tickets. A failed call
 * re-sent at once would go behind every call sent since. So the first
 * NOSCRIPT makes the connection hold: new script calls wait in a list, the
 * failed ones are kept in order, and when every call sent before has been
 * answered the failed ones are sent again first (the first of each script
 * by its text, which loads it; the rest by SHA behind it), then the held
 * ones, in order. In a cluster each connection (each master) does this on
 * its own: a replica promoted to master is a new connection, which loads
 * the scripts on connect, and a NOSCRIPT there takes the same path.
 *
 * One case cannot be put back in order: a call behind a failed one ran
 * (another connection loaded the script in between). It got the earlier
 * place; the failed calls of that script before it are then not retried but
 * answered with an error (the batcher says 503: the claims were not run,
 * nothing was granted), so no later claim is ever granted before an earlier
 * one. A call that meets NOSCRIPT twice is answered with that error too.
 */

/* @call's answer is @rep, which came on @c (NULL: made here, or none: a lost connection); frees it. */
static void deliver_from(call_t *call, rconn_t *c, redisReply *rep)
{
    if (rep == NULL)
        __atomic_add_fetch(&call->r->errors, 1, __ATOMIC_RELAXED);
    run_cb(call->r, rep != NULL && c != NULL ? c->id : -1, call->cb, rep, call->data);
    free(call);
}

/* @call's answer is @rep, not one a connection delivered (an error made here, or NULL); frees it. */
static void deliver(call_t *call, redisReply *rep)
{
    deliver_from(call, NULL, rep);
}

/* Answers @call with an error reply saying @msg: it was not run. NULL @msg: with NULL (as a lost connection). */
static void give_up(call_t *call, const char *msg)
{
    if (msg == NULL) {
        deliver(call, NULL);
        return;
    }
    redisReply fake = {.type = REDIS_REPLY_ERROR, .str = (char *)msg, .len = strlen(msg)};
    deliver(call, &fake);
}

static void give_up_chain(call_t *head, const char *msg)
{
    while (head != NULL) {
        call_t *next = head->next;
        head->next = NULL;
        give_up(head, msg);
        head = next;
    }
}

static void give_up_list(call_t *head, int script, const char *msg, call_t **keep_head, call_t ***keep_tail)
{
    *keep_head = NULL;
    *keep_tail = keep_head;
    while (head != NULL) {
        call_t *next = head->next;
        head->next = NULL;
        if (script < 0 || head->script == script) {
            give_up(head, msg);
        } else {
            **keep_tail = head;
            *keep_tail = &head->next;
        }
        head = next;
    }
}

/* Every call waiting on @c (the connection is gone, or @c is being destroyed). */
static void drop_waiting(rconn_t *c)
{
    call_t *retry = c->retry_head, *held = c->held_head;
    c->retry_head = c->held_head = NULL;
    c->retry_tail = &c->retry_head;
    c->held_tail = &c->held_head;
    c->holding = 0;
    call_t *h, **t;
    give_up_list(retry, -1, "NOSCRIPT not retried: the Redis connection was lost", &h, &t);
    give_up_list(held, -1, "ERR not sent: the Redis connection was lost", &h, &t);
}

/* Every call sent before the first NOSCRIPT is answered: the failed ones again, then the held ones. */
static void resume(rconn_t *c)
{
    if (!c->holding || c->scripts_out > 0)
        return;
    call_t *list = c->retry_head;
    *c->retry_tail = c->held_head;
    if (list == NULL)
        list = c->held_head;
    c->retry_head = c->held_head = NULL;
    c->retry_tail = &c->retry_head;
    c->held_tail = &c->held_head;
    c->holding = 0;
    int by_text[GW_SCRIPT__COUNT];
    for (int i = 0; i < GW_SCRIPT__COUNT; i++)
        by_text[i] = 1;
    while (list != NULL) {
        call_t *call = list;
        list = call->next;
        call->next = NULL;
        if (send_script(call, by_text[call->script]) == 0)
            by_text[call->script] = 0;
        else
            give_up(call, "ERR not sent: the Redis connection was lost");
    }
}

/*
 * Cluster: an error reply that says the call did not run here. MOVED fixes
 * the map and ASK names the node for this once; TRYAGAIN and CLUSTERDOWN
 * wait TRY_DELAY_MS. The call joins the resend list (in the order the
 * replies come) and @c holds new calls until every call sent on it before
 * is answered (see pump). Returns 1 when so queued, 0 when the reply is
 * the answer: a plain error, or a redirect beyond the bounds.
 */
static int redirected(rconn_t *c, call_t *call, const redisReply *rep)
{
    gw_redis_t *r = c->r;
    tk_cluster_redirect_t rd;
    tk_cluster_redirect_kind_t kind = tk_cluster_redirect(rep->str, rep->len, c->host, &rd);
    char err[256];
    switch (kind) {
    case TK_CLUSTER_ERROR:
        return 0;
    case TK_CLUSTER_MOVED:
        if (++call->redirects > REDIRECTS_MAX)
            return 0;
        if (tk_cluster_map_moved(r->map, &rd, err, sizeof(err)) != 0) {
            tk_warn("redis: %s", err);
        } else {
            map_changed(r);
        }
        r->refresh_wanted = 1; /* one slot moved: likely more */
        call->ask = NULL;
        call->not_before = 0;
        break;
    case TK_CLUSTER_ASK:
        if (++call->redirects > REDIRECTS_MAX || (call->ask = conn_get(r, rd.to.host, rd.to.port)) == NULL)
            return 0;
        call->not_before = 0;
        break;
    case TK_CLUSTER_TRYAGAIN:
    case TK_CLUSTER_DOWN:
        if (++call->tries > TRIES_MAX)
            return 0;
        if (kind == TK_CLUSTER_DOWN)
            r->refresh_wanted = 1;
        call->ask = NULL;
        call->not_before = tk_time_mono_ms() + TRY_DELAY_MS;
        if (!h2o_timeout_is_linked(&r->try_entry))
            h2o_timeout_link(r->loop, &r->try_timeout, &r->try_entry);
        break;
    }
    call->next = NULL;
    *r->resend_tail = call;
    r->resend_tail = &call->next;
    if (c->hold_until == 0)
        r->holds++;
    c->hold_until = c->sent;
    return 1;
}

/* Cluster: @ran ran; the calls of its slot issued before it and waiting to be sent again lost their place (see pump). */
static void lost_place(gw_redis_t *r, const call_t *ran)
{
    call_t **p = &r->resend_head, *gone = NULL, **gone_tail = &gone;
    while (*p != NULL) {
        call_t *k = *p;
        if (k->slot == ran->slot && k->script >= 0 && k->seq < ran->seq) {
            *p = k->next;
            k->next = NULL;
            *gone_tail = k;
            gone_tail = &k->next;
        } else {
            p = &k->next;
        }
    }
    r->resend_tail = p;
    give_up_chain(gone, "TRYAGAIN not retried: a later call of its slot already ran");
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    call_t *call = priv;
    rconn_t *c = call->c;
    gw_redis_t *r = call->r;
    redisReply *rep = reply;
    (void)ac;
    c->answered++;
    if (call->script >= 0)
        c->scripts_out--;
    if (r->map != NULL && rep != NULL && rep->type == REDIS_REPLY_ERROR && !r->destroying && !call->pinned &&
        redirected(c, call, rep)) {
        /* queued: pump sends it again */
    } else if (call->script >= 0 && rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 &&
               !call->retried) {
        call->retried = 1;
        c->holding = 1;
        *c->retry_tail = call;
        c->retry_tail = &call->next;
    } else {
        if (call->script >= 0 && rep != NULL && c->retry_head != NULL) {
            /* It ran behind calls of its script that failed: they lost their place. */
            call_t *keep, **keep_tail;
            give_up_list(c->retry_head, call->script, "NOSCRIPT not retried: a later call already ran", &keep, &keep_tail);
            c->retry_head = keep;
            c->retry_tail = keep_tail;
        }
        if (r->map != NULL && rep != NULL && r->resend_head != NULL && call->slot >= 0 && call->script >= 0 &&
            rep->type != REDIS_REPLY_ERROR)
            lost_place(r, call);
        deliver_from(call, c, rep);
    }
    if (c->hold_until != 0 && c->answered >= c->hold_until) {
        c->hold_until = 0;
        r->holds--;
    }
    resume(c);
    if (r->map != NULL)
        pump(r);
}

static void on_asking(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)reply;
    (void)priv; /* its error, if any, shows in the command's own reply (MOVED) */
}

/* Sends ASKING first when @call follows an ASK. 0, or -1 when not sent. */
static int send_asking(call_t *call, rconn_t *c)
{
    if (call->ask == NULL)
        return 0;
    const char *argv[] = {"ASKING"};
    size_t lens[] = {6};
    return redisAsyncCommandArgv(c->ac, on_asking, NULL, 1, argv, lens) == REDIS_OK ? 0 : -1;
}

static int send_script(call_t *call, int by_text)
{
    rconn_t *c = call->c;
    if (!c->up || c->ac == NULL)
        return -1;
    const char *argv[3 + call->argc];
    size_t lens[3 + call->argc];
    char nkeys[16];
    argv[0] = by_text ? "EVAL" : "EVALSHA";
    argv[1] = by_text ? script_text[call->script] : script_sha[call->script];
    lens[0] = strlen(argv[0]);
    lens[1] = strlen(argv[1]);
    lens[2] = (size_t)snprintf(nkeys, sizeof(nkeys), "%d", call->nkeys);
    argv[2] = nkeys;
    memcpy(argv + 3, call->argv, sizeof(argv[0]) * (size_t)call->argc);
    memcpy(lens + 3, call->lens, sizeof(lens[0]) * (size_t)call->argc);
    if (send_asking(call, c) != 0 || redisAsyncCommandArgv(c->ac, on_call_reply, call, 3 + call->argc, argv, lens) != REDIS_OK)
        return -1;
    c->scripts_out++;
    c->sent++;
    return 0;
}

/* Sends @call on @c (a script call behind @c's NOSCRIPT hold when there is one). 0, or -1 when not sent. */
static int send_call(call_t *call, rconn_t *c)
{
    call->c = c;
    if (call->script >= 0) {
        if (c->holding) {
            *c->held_tail = call;
            c->held_tail = &call->next;
            return 0;
        }
        return send_script(call, 0);
    }
    if (!c->up || c->ac == NULL || send_asking(call, c) != 0 ||
        redisAsyncCommandArgv(c->ac, on_call_reply, call, call->argc, call->argv, call->lens) != REDIS_OK)
        return -1;
    c->sent++;
    return 0;
}

/*
 * Order in a cluster
 * ------------------
 * The claims of one event go as script calls to one slot, in the order
 * they arrived, and must run in that order. On one connection that holds
 * by itself (sent in order, run in order). A redirect sends a call again,
 * to another node, later: unless something stops it, a call issued after
 * the redirect could reach the new node before the redirected call and the
 * calls sent behind it on the old connection. So:
 * - A redirected call (MOVED, ASK, TRYAGAIN, CLUSTERDOWN: none of them ran
 *   anything) joins the resend list, in the order the replies come; the
 *   connection that answered holds: until every call sent on it before
 *   that reply is answered, nothing is sent anywhere (new calls join the
 *   wait list, in the order issued).
 * - Every call of the slot sent before the redirect was sent on that same
 *   connection (the map named one node for the slot), so when the hold
 *   ends each of them is either answered or in the resend list, behind the
 *   first in the order sent. A node that no longer serves a slot redirects
 *   every call of it, so after the first MOVED the later ones of that
 *   connection come back MOVED too, in order; with ASK the same while the
 *   migration lasts (the old node is asked first, every time).
 * - Then pump sends the resend list in order, one call at a time, each
 *   to its node (the map's, after a MOVED; the ASK target, after ASKING on
 *   the same connection, pipelined) and the next only once it is answered
 *   (the hold again), and after the last the wait list, pipelined, in
 *   order. One at a time because the cluster changes between two calls: a
 *   node importing a slot answers TRYAGAIN to a call that finds one of its
 *   keys missing, and may run the next one a moment later when the key has
 *   arrived; two resends pipelined could run in the wrong order. While the
 *   first cannot go (its node's connection not up yet, a TRYAGAIN's 50 ms
 *   delay), nothing goes; after GW_REDIS_STALL_MS of that, the resends are
 *   answered NULL (the request says 503).
 * - Should a call still run while an earlier one of its slot waits to be
 *   sent again (calls of one slot on two connections: the map changed
 *   between them), it took the earlier place: the waiting ones issued
 *   before it are answered with an error, not run (lost_place, by issue
 *   sequence), as NOSCRIPT's rule does. So no claim runs after a later one.
 * Holding every slot while any redirect is pending costs all traffic a
 * round trip per redirected call, during a migration or failover only; it
 * keeps the argument short.
 */
static void pump_once(gw_redis_t *r);

static void pump(gw_redis_t *r)
{
    if (r->pumping)
        return;
    /* Again while a callback of a call given up meanwhile issued new ones (they waited: r->pumping). */
    while (!r->destroying && r->holds == 0 && (r->resend_head != NULL || r->wait_head != NULL)) {
        call_t *before = r->resend_head;
        r->pumping = 1;
        pump_once(r);
        r->pumping = 0;
        if (r->resend_head != NULL && r->resend_head == before)
            break; /* could not go yet (or given up meanwhile and refilled: the next event pumps) */
    }
}

/*
 * One round of pump (r->pumping set): the first redirected call alone,
 * holding its connection until it is answered; with none left, every call
 * that waited, pipelined.
 */
static void pump_once(gw_redis_t *r)
{
    int64_t now = tk_time_mono_ms();
    call_t *k = r->resend_head;
    if (k != NULL) {
        rconn_t *to = k->ask != NULL ? k->ask : route(r, k->slot);
        if (to == NULL || !to->up || to->ac == NULL || now < k->not_before) {
            if (r->stuck_since == 0)
                r->stuck_since = now;
            if (now - r->stuck_since <= GW_REDIS_STALL_MS) {
                if (!h2o_timeout_is_linked(&r->try_entry))
                    h2o_timeout_link(r->loop, &r->try_timeout, &r->try_entry);
                return;
            }
            tk_warn("redis: redirected commands could not be sent again for %d ms; answered as failed", GW_REDIS_STALL_MS);
            call_t *all = r->resend_head;
            r->resend_head = NULL;
            r->resend_tail = &r->resend_head;
            r->stuck_since = 0;
            give_up_chain(all, NULL);
            return;
        }
        r->stuck_since = 0;
        if ((r->resend_head = k->next) == NULL)
            r->resend_tail = &r->resend_head;
        k->next = NULL;
        if (send_call(k, to) != 0) {
            give_up(k, NULL);
        } else if (to->sent > to->answered) {
            if (to->hold_until == 0)
                r->holds++;
            to->hold_until = to->sent; /* the next one goes once this one is answered */
        }
        return;
    }
    call_t *wait = r->wait_head;
    r->wait_head = NULL;
    r->wait_tail = &r->wait_head;
    while (wait != NULL) {
        k = wait;
        wait = k->next;
        k->next = NULL;
        rconn_t *to = route(r, k->slot);
        if (to == NULL || send_call(k, to) != 0)
            give_up(k, NULL);
    }
}

int gw_redis_script(gw_redis_t *r, gw_script_t script, gw_redis_cb cb, void *data, int nkeys, int argc, const char **argv,
                    const size_t *lens)
{
    rconn_t *c = r->one;
    int slot = -1, wait = 0;
    if (r->map != NULL) {
        slot = nkeys > 0 ? (int)tk_key_slot(argv[0], lens[0]) : -1;
        wait = r->holds > 0 || r->pumping || r->resend_head != NULL || r->wait_head != NULL;
        c = wait ? NULL : route(r, slot);
    }
    if (r->destroying || (!wait && (c == NULL || !c->up || c->ac == NULL))) {
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    call_t *call = call_new(r, (int)script, cb, data, nkeys, argc, argv, lens);
    if (call == NULL)
        return -1;
    call->slot = slot;
    call->c = c;
    if (wait) {
        *r->wait_tail = call; /* behind the redirected calls (see pump) */
        r->wait_tail = &call->next;
        return 0;
    }
    if (c->holding) {
        /* Behind the calls a NOSCRIPT failed (see on_call_reply). */
        *c->held_tail = call;
        c->held_tail = &call->next;
        return 0;
    }
    if (send_script(call, 0) != 0) {
        free(call);
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}
