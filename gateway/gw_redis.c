#include "gw_redis.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"

#include <async.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_TICK_MS 100
#define BACKOFF_MAX_TICKS 5 /* 500 ms: readiness returns soon after Redis does */

static const char *const script_names[GW_SCRIPT__COUNT] = {"claim",   "watermark", "presence", "presence_page",
                                                                    "wq_join", "wq_status", "wq_admit", "wq_lease",
                                                                    "lb_read", "lb_write"};
static const char *script_text[GW_SCRIPT__COUNT];
static char script_sha[GW_SCRIPT__COUNT][41];

struct st_gw_redis_t {
    h2o_loop_t *loop;
    redisAsyncContext *ac; /* NULL while disconnected */
    h2o_socket_t *sock;    /* h2o's view of ac's fd (dup'ed) */
    int up;                /* connected and scripts loaded */
    int write_armed;       /* h2o_socket_notify_write pending: it asserts if armed twice */
    int in_flush;
    int want_write;
    int destroying;
    h2o_timeout_t zero_timeout;
    h2o_timeout_entry_t flush_entry;
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick_entry;
    int backoff_ticks, ticks_to_connect;
    int64_t last_progress_ms;
    uint64_t errors;
    /* NOSCRIPT and order (see on_script_reply): script calls sent and not
     * answered; while holding, the calls to re-send first (failed by
     * NOSCRIPT, in the order sent) and those issued meanwhile (in order). */
    int scripts_out;
    int holding;
    struct script_call *retry_head, **retry_tail;
    struct script_call *held_head, **held_tail;
    char host[256];
    int port;
    /* The ACL user ("" : no AUTH) and its password, sent first on every
     * connection; authing while that AUTH is unanswered, auth_refused from a
     * refusal until an AUTH is accepted (one log line per streak). */
    char user[TK_REDIS_USER_MAX + 1];
    char password[TK_PASSWORD_MAX];
    int authing, auth_refused;
    gw_redis_state_cb on_state;
    void *state_data;
};

/* One EVALSHA in flight: what is needed to retry it with the script loaded. */
typedef struct script_call {
    struct script_call *next; /* in a list of gw_redis_t while holding */
    gw_redis_t *r;
    gw_script_t script;
    gw_redis_cb cb;
    void *data;
    int retried;
    int nkeys, argc;
    const char **argv; /* into this allocation */
    size_t *lens;
} script_call_t;

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

static void connect_now(gw_redis_t *r);
static void drop_waiting(gw_redis_t *r);

/* ---- hiredis event hooks ---------------------------------------------- */

static void on_readable(h2o_socket_t *sock, const char *err)
{
    gw_redis_t *r = sock->data;
    (void)err; /* hiredis sees the error itself when it reads */
    r->last_progress_ms = tk_time_mono_ms();
    redisAsyncHandleRead(r->ac);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    gw_redis_t *r = sock->data;
    (void)err;
    r->write_armed = 0;
    redisAsyncHandleWrite(r->ac);
}

static void arm_write(gw_redis_t *r)
{
    if (!r->write_armed && r->sock != NULL) {
        r->write_armed = 1;
        h2o_socket_notify_write(r->sock, on_writable);
    }
}

static void on_flush(h2o_timeout_entry_t *entry)
{
    gw_redis_t *r = H2O_STRUCT_FROM_MEMBER(gw_redis_t, flush_entry, entry);
    if (r->ac == NULL)
        return;
    r->in_flush = 1;
    r->want_write = 0;
    redisAsyncHandleWrite(r->ac); /* may free ac on a write error */
    r->in_flush = 0;
    if (r->want_write && r->ac != NULL)
        arm_write(r); /* kernel buffer full: wait until writable */
}

static void ev_add_read(void *priv)
{
    gw_redis_t *r = priv;
    h2o_socket_read_start(r->sock, on_readable);
}

static void ev_del_read(void *priv)
{
    gw_redis_t *r = priv;
    h2o_socket_read_stop(r->sock);
}

static void ev_add_write(void *priv)
{
    gw_redis_t *r = priv;
    if (!r->up && !(r->ac->c.flags & REDIS_CONNECTED)) {
        arm_write(r); /* connecting: writability means the connect finished */
    } else if (r->in_flush) {
        r->want_write = 1;
    } else if (!h2o_timeout_is_linked(&r->flush_entry) && !r->write_armed) {
        h2o_timeout_link(r->loop, &r->zero_timeout, &r->flush_entry);
    }
}

static void ev_del_write(void *priv)
{
    (void)priv; /* a spurious flush or notification finds nothing to write */
}

static void ev_cleanup(void *priv)
{
    gw_redis_t *r = priv;
    if (h2o_timeout_is_linked(&r->flush_entry))
        h2o_timeout_unlink(&r->flush_entry);
    if (r->sock != NULL) {
        h2o_socket_read_stop(r->sock);
        h2o_socket_close(r->sock);
        r->sock = NULL;
    }
    r->write_armed = 0;
    r->ac = NULL;
}

/* ---- connection lifecycle --------------------------------------------- */

static void schedule_reconnect(gw_redis_t *r)
{
    int was_up = r->up;
    r->up = 0;
    if (was_up && r->on_state != NULL)
        r->on_state(r, 0, r->state_data);
    if (r->destroying)
        return;
    r->backoff_ticks = r->backoff_ticks == 0 ? 1 : r->backoff_ticks * 2;
    if (r->backoff_ticks > BACKOFF_MAX_TICKS)
        r->backoff_ticks = BACKOFF_MAX_TICKS;
    r->ticks_to_connect = r->backoff_ticks;
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *rep = reply;
    (void)ac;
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        tk_warn("redis: SCRIPT LOAD %s failed: %s", script_names[(intptr_t)priv], rep != NULL ? rep->str : "connection lost");
}

/* Connected (and authenticated, with a user): the connection becomes usable. */
static void on_ready(gw_redis_t *r)
{
    /* Loaded before anything else is sent on this connection, so every later
     * EVALSHA on it finds its script (replies come back in order). */
    for (int i = 0; i < GW_SCRIPT__COUNT; i++)
        redisAsyncCommand(r->ac, on_script_loaded, (void *)(intptr_t)i, "SCRIPT LOAD %s", script_text[i]);
    tk_info("redis: connected to %s:%d%s%s", r->host, r->port, r->user[0] ? " as " : "", r->user);
    r->backoff_ticks = 0;
    r->up = 1;
    r->last_progress_ms = tk_time_mono_ms();
    if (r->on_state != NULL)
        r->on_state(r, 1, r->state_data);
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
    gw_redis_t *r = ac->data;
    redisReply *rep = reply;
    (void)priv;
    r->authing = 0;
    if (rep == NULL)
        return; /* connection lost: on_disconnect schedules the reconnect */
    if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
        if (r->auth_refused)
            tk_info("redis: %s:%d accepts AUTH as %s again", r->host, r->port, r->user);
        r->auth_refused = 0;
        on_ready(r);
        return;
    }
    if (!r->auth_refused)
        tk_error("redis: %s:%d refused AUTH as %s: %s; Redis counts as down until it accepts (check REDIS_USER and "
                 "REDIS_PASSWORD_FILE)",
                 r->host, r->port, r->user, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    r->auth_refused = 1;
    redisAsyncDisconnect(r->ac); /* after this callback: hiredis defers it */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    gw_redis_t *r = ac->data;
    if (status != REDIS_OK) {
        if (r->backoff_ticks <= 1)
            tk_warn("redis: cannot connect to %s:%d: %s", r->host, r->port, ac->errstr);
        schedule_reconnect(r);
        return; /* hiredis frees the context after this callback */
    }
    if (r->user[0] == '\0') {
        on_ready(r);
        return;
    }
    /* AUTH before anything else on this connection, the password by argv
     * (never formatted into a command string). */
    const char *argv[] = {"AUTH", r->user, r->password};
    size_t lens[] = {4, strlen(r->user), strlen(r->password)};
    r->authing = 1;
    r->last_progress_ms = tk_time_mono_ms();
    /* Not sent (no memory): authing stays set, and on_tick drops the
     * connection after GW_REDIS_STALL_MS (freeing it here, inside hiredis's
     * connect handling, is not allowed). */
    if (redisAsyncCommandArgv(r->ac, on_auth, NULL, 3, argv, lens) != REDIS_OK)
        tk_warn("redis: could not send AUTH to %s:%d", r->host, r->port);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    gw_redis_t *r = ac->data;
    if (status != REDIS_OK)
        tk_warn("redis: connection to %s:%d lost: %s", r->host, r->port, ac->errstr);
    /* The outstanding callbacks have run (NULL); nothing is left to wait for. */
    r->scripts_out = 0;
    r->authing = 0;
    drop_waiting(r);
    schedule_reconnect(r);
}

static void connect_now(gw_redis_t *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL || ac->err) {
        if (r->backoff_ticks <= 1)
            tk_warn("redis: cannot connect to %s:%d: %s", r->host, r->port, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    int fd = dup(ac->c.fd);
    if (fd < 0) {
        redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    r->ac = ac;
    ac->data = r;
    r->sock = h2o_evloop_socket_create(r->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    r->sock->data = r;
    ac->ev.data = r;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_add_write(r); /* learn when the non-blocking connect completes */
}

/* Every RETRY_TICK_MS: reconnect when due; drop a connection that stalls. */
static void on_tick(h2o_timeout_entry_t *entry)
{
    gw_redis_t *r = H2O_STRUCT_FROM_MEMBER(gw_redis_t, tick_entry, entry);
    if (r->ac == NULL && !r->destroying && --r->ticks_to_connect <= 0)
        connect_now(r);
    else if (r->ac != NULL && ((r->up && r->ac->replies.head != NULL) || r->authing) &&
             tk_time_mono_ms() - r->last_progress_ms > GW_REDIS_STALL_MS) {
        tk_warn("redis: no reply for %d ms, dropping the connection", GW_REDIS_STALL_MS);
        redisAsyncDisconnect(r->ac);
    }
    if (!r->destroying)
        h2o_timeout_link(r->loop, &r->tick_timeout, &r->tick_entry);
}

gw_redis_t *gw_redis_create(h2o_loop_t *loop, const tk_backend_t *backend, gw_redis_state_cb on_state, void *state_data)
{
    gw_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->loop = loop;
    snprintf(r->host, sizeof(r->host), "%s", backend->redis_host);
    r->port = (int)backend->redis_port;
    if (tk_backend_redis_auth(backend)) {
        snprintf(r->user, sizeof(r->user), "%s", backend->redis_user);
        snprintf(r->password, sizeof(r->password), "%s", backend->redis_password);
    }
    r->on_state = on_state;
    r->state_data = state_data;
    r->retry_tail = &r->retry_head;
    r->held_tail = &r->held_head;
    h2o_timeout_init(loop, &r->zero_timeout, 0);
    r->flush_entry.cb = on_flush;
    h2o_timeout_init(loop, &r->tick_timeout, RETRY_TICK_MS);
    r->tick_entry.cb = on_tick;
    h2o_timeout_link(loop, &r->tick_timeout, &r->tick_entry);
    connect_now(r);
    return r;
}

void gw_redis_destroy(gw_redis_t *r)
{
    if (r == NULL)
        return;
    r->destroying = 1;
    if (h2o_timeout_is_linked(&r->tick_entry))
        h2o_timeout_unlink(&r->tick_entry);
    if (r->ac != NULL)
        redisAsyncFree(r->ac); /* outstanding callbacks get NULL; cleanup hook closes the socket */
    drop_waiting(r);
    h2o_timeout_dispose(r->loop, &r->zero_timeout);
    h2o_timeout_dispose(r->loop, &r->tick_timeout);
    r->up = 0;
    /* not freed here: /metrics on another thread may read it (gw_redis_free, after the joins) */
}

void gw_redis_free(gw_redis_t *r)
{
    free(r);
}

int gw_redis_is_up(const gw_redis_t *r)
{
    return r->up;
}

uint64_t gw_redis_errors(const gw_redis_t *r)
{
    return __atomic_load_n(&r->errors, __ATOMIC_RELAXED); /* read by /metrics on any thread */
}

/* ---- commands --------------------------------------------------------- */

typedef struct {
    gw_redis_cb cb;
    void *data;
} plain_call_t;

static void on_plain_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    gw_redis_t *r = ac->data;
    plain_call_t *call = priv;
    if (reply == NULL)
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
    call->cb(r, reply, call->data);
    free(call);
}

int gw_redis_command(gw_redis_t *r, gw_redis_cb cb, void *data, int argc, const char **argv, const size_t *lens)
{
    if (!r->up || r->ac == NULL) {
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    plain_call_t *call = malloc(sizeof(*call));
    if (call == NULL)
        return -1;
    call->cb = cb;
    call->data = data;
    if (redisAsyncCommandArgv(r->ac, on_plain_reply, call, argc, argv, lens) != REDIS_OK) {
        free(call);
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}

static int send_script(script_call_t *call, int by_text);

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
 * ones, in order.
 *
 * One case cannot be put back in order: a call behind a failed one ran
 * (another connection loaded the script in between). It got the earlier
 * place; the failed calls of that script before it are then not retried but
 * answered with an error (the batcher says 503: the claims were not run,
 * nothing was granted), so no later claim is ever granted before an earlier
 * one. A call that meets NOSCRIPT twice is answered with that error too.
 */

/* @call's answer is @rep; frees it. */
static void deliver(script_call_t *call, redisReply *rep)
{
    if (rep == NULL)
        __atomic_add_fetch(&call->r->errors, 1, __ATOMIC_RELAXED);
    call->cb(call->r, rep, call->data);
    free(call);
}

/* Answers @call with an error reply saying @msg: it was not run. */
static void give_up(script_call_t *call, const char *msg)
{
    redisReply fake = {.type = REDIS_REPLY_ERROR, .str = (char *)msg, .len = strlen(msg)};
    deliver(call, &fake);
}

static void give_up_list(script_call_t *head, int script, const char *msg, script_call_t **keep_head, script_call_t ***keep_tail)
{
    *keep_head = NULL;
    *keep_tail = keep_head;
    while (head != NULL) {
        script_call_t *next = head->next;
        head->next = NULL;
        if (script < 0 || (int)head->script == script) {
            give_up(head, msg);
        } else {
            **keep_tail = head;
            *keep_tail = &head->next;
        }
        head = next;
    }
}

/* Every call waiting on @r (the connection is gone, or @r is being destroyed). */
static void drop_waiting(gw_redis_t *r)
{
    script_call_t *retry = r->retry_head, *held = r->held_head;
    r->retry_head = r->held_head = NULL;
    r->retry_tail = &r->retry_head;
    r->held_tail = &r->held_head;
    r->holding = 0;
    script_call_t *h, **t;
    give_up_list(retry, -1, "NOSCRIPT not retried: the Redis connection was lost", &h, &t);
    give_up_list(held, -1, "ERR not sent: the Redis connection was lost", &h, &t);
}

/* Every call sent before the first NOSCRIPT is answered: the failed ones again, then the held ones. */
static void resume(gw_redis_t *r)
{
    if (!r->holding || r->scripts_out > 0)
        return;
    script_call_t *list = r->retry_head;
    *r->retry_tail = r->held_head;
    if (list == NULL)
        list = r->held_head;
    r->retry_head = r->held_head = NULL;
    r->retry_tail = &r->retry_head;
    r->held_tail = &r->held_head;
    r->holding = 0;
    int by_text[GW_SCRIPT__COUNT];
    for (int i = 0; i < GW_SCRIPT__COUNT; i++)
        by_text[i] = 1;
    while (list != NULL) {
        script_call_t *call = list;
        list = call->next;
        call->next = NULL;
        if (send_script(call, by_text[call->script]) == 0)
            by_text[call->script] = 0;
        else
            give_up(call, "ERR not sent: the Redis connection was lost");
    }
}

static void on_script_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    script_call_t *call = priv;
    gw_redis_t *r = call->r;
    redisReply *rep = reply;
    (void)ac;
    r->scripts_out--;
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 && !call->retried) {
        call->retried = 1;
        r->holding = 1;
        *r->retry_tail = call;
        r->retry_tail = &call->next;
        resume(r);
        return;
    }
    if (rep != NULL && r->retry_head != NULL) {
        /* It ran behind calls of its script that failed: they lost their place. */
        script_call_t *keep, **keep_tail;
        give_up_list(r->retry_head, (int)call->script, "NOSCRIPT not retried: a later call already ran", &keep, &keep_tail);
        r->retry_head = keep;
        r->retry_tail = keep_tail;
    }
    deliver(call, rep);
    resume(r);
}

static int send_script(script_call_t *call, int by_text)
{
    gw_redis_t *r = call->r;
    if (!r->up || r->ac == NULL)
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
    if (redisAsyncCommandArgv(r->ac, on_script_reply, call, 3 + call->argc, argv, lens) != REDIS_OK)
        return -1;
    r->scripts_out++;
    return 0;
}

int gw_redis_script(gw_redis_t *r, gw_script_t script, gw_redis_cb cb, void *data, int nkeys, int argc, const char **argv,
                    const size_t *lens)
{
    if (!r->up || r->ac == NULL) {
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += lens[i];
    script_call_t *call = malloc(sizeof(*call) + (sizeof(char *) + sizeof(size_t)) * (size_t)argc + bytes);
    if (call == NULL)
        return -1;
    *call = (script_call_t){NULL, r, script, cb, data, 0, nkeys, argc, NULL, NULL};
    call->lens = (size_t *)(call + 1);
    call->argv = (const char **)(call->lens + argc);
    char *p = (char *)(call->argv + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], lens[i]);
        call->argv[i] = p;
        call->lens[i] = lens[i];
        p += lens[i];
    }
    if (r->holding) {
        /* Behind the calls a NOSCRIPT failed (see on_script_reply). */
        *r->held_tail = call;
        r->held_tail = &call->next;
        return 0;
    }
    if (send_script(call, 0) != 0) {
        free(call);
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}
