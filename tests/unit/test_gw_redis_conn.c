/*
 * Unit tests of gw_redis_reply_conn and gw_redis_command_on
 * (gateway/gw_redis.h): which connection delivered a reply, and a command
 * sent on exactly that connection or not at all. The WAIT after claim
 * scripts (gateway/claims/gw_batch_wait.c) relies on both.
 *
 * gw_redis runs on a real h2o loop against fake Redis servers on loopback
 * (a thread each, one client at a time, answering a few commands; see
 * serve), so a connection can be dropped on command and a redirect made
 * up without a cluster:
 * - single Redis: a reply names its connection, -1 outside callbacks and
 *   for a NULL reply; after the connection is dropped and made again, a
 *   command on the old number fails at once (-1, no callback) and goes on
 *   the new one. Fails if gw_redis_command_on sent on whatever connection
 *   is up (a WAIT on a new connection covers nothing of the old one's).
 * - cluster: a script the slot map sends to A, which answers ASK to B,
 *   runs on B; its reply names B's connection, not A's (the map's), and a
 *   WAIT sent on that number reaches B only. A redirect answered to a
 *   command sent with gw_redis_command_on is its reply, never followed.
 *   Fails if the reply named the map's connection for the key.
 */
#include "gw_redis.h"
#include "tk_backend.h"
#include "tk_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- a fake Redis ------------------------------------------------------ */

static char slots_reply[512]; /* CLUSTER SLOTS, the same from every fake node; written before their threads start */

typedef struct {
    int lfd, port;
    pthread_t thread;
    int stop;      /* set by the test: the thread ends */
    int drop;      /* set by the test: the client's connection is closed, the next one accepted */
    int ask_port;  /* nonzero: EVALSHA without ASKING before it is answered ASK to this port */
    int moved_port; /* nonzero: WAIT is answered MOVED to this port */
    int slots;     /* answers CLUSTER SLOTS with slots_reply */
    int accepted, waits, scripts; /* counted by the thread */
} fake_t;

static int get(const int *v)
{
    return __atomic_load_n(v, __ATOMIC_SEQ_CST);
}

static void put(int *v, int x)
{
    __atomic_store_n(v, x, __ATOMIC_SEQ_CST);
}

static void bump(int *v)
{
    __atomic_add_fetch(v, 1, __ATOMIC_SEQ_CST);
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One command of @buf[0..len) parsed (a RESP array of bulk strings): its length in bytes, 0 when incomplete. argv[0] into @cmd. */
static size_t parse(const char *buf, size_t len, char *cmd, size_t cmdmax)
{
    const char *p = buf, *end = buf + len, *nl;
    if (len < 4 || *p != '*' || (nl = memchr(p, '\n', len)) == NULL)
        return 0;
    long n = strtol(p + 1, NULL, 10);
    p = nl + 1;
    cmd[0] = '\0';
    for (long i = 0; i < n; i++) {
        if (p >= end || *p != '$' || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            return 0;
        long l = strtol(p + 1, NULL, 10);
        p = nl + 1;
        if (end - p < l + 2)
            return 0;
        if (i == 0) {
            size_t c = (size_t)l < cmdmax - 1 ? (size_t)l : cmdmax - 1;
            memcpy(cmd, p, c);
            cmd[c] = '\0';
        }
        p += l + 2;
    }
    return (size_t)(p - buf);
}

static void answer(fake_t *f, int fd, const char *cmd, int *asking)
{
    char out[256];
    int was_asking = *asking;
    *asking = 0;
    if (strcasecmp(cmd, "ASKING") == 0) {
        *asking = 1;
        send_all(fd, "+OK\r\n", 5);
    } else if (strcasecmp(cmd, "WAIT") == 0) {
        bump(&f->waits);
        int n = get(&f->moved_port) ? snprintf(out, sizeof out, "-MOVED 5 127.0.0.1:%d\r\n", get(&f->moved_port))
                                    : snprintf(out, sizeof out, ":1\r\n");
        send_all(fd, out, (size_t)n);
    } else if (strcasecmp(cmd, "EVALSHA") == 0 || strcasecmp(cmd, "EVAL") == 0) {
        int n = get(&f->ask_port) && !was_asking ? snprintf(out, sizeof out, "-ASK 1234 127.0.0.1:%d\r\n", get(&f->ask_port))
                                                 : snprintf(out, sizeof out, ":7\r\n");
        if (!get(&f->ask_port) || was_asking)
            bump(&f->scripts);
        send_all(fd, out, (size_t)n);
    } else if (strcasecmp(cmd, "CLUSTER") == 0 && f->slots) {
        send_all(fd, slots_reply, strlen(slots_reply));
    } else if (strcasecmp(cmd, "NOREPLY") == 0) {
        /* nothing: the caller's callback gets NULL when the connection goes */
    } else if (strcasecmp(cmd, "PING") == 0) {
        send_all(fd, "+PONG\r\n", 7);
    } else {
        send_all(fd, "+OK\r\n", 5); /* SCRIPT LOAD, GET, ...: nothing reads them */
    }
}

/* Serves one client until it goes, the test drops it, or the test stops. */
static void serve(fake_t *f, int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int asking = 0;
    while (buf != NULL && !get(&f->stop) && !get(&f->drop)) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        if (len == cap) {
            char *more = realloc(buf, cap * 2);
            if (more == NULL)
                break;
            buf = more;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        size_t used;
        char cmd[32];
        while ((used = parse(buf, len, cmd, sizeof cmd)) > 0) {
            answer(f, fd, cmd, &asking);
            memmove(buf, buf + used, len - used);
            len -= used;
        }
    }
    free(buf);
    close(fd);
    put(&f->drop, 0);
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    while (!get(&f->stop)) {
        struct pollfd pf = {.fd = f->lfd, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        bump(&f->accepted);
        serve(f, fd);
    }
    return NULL;
}

/* A fake node listening on a free loopback port, not serving yet. On the heap: should a test fail, its thread may still read it. */
static fake_t *fake_start(void)
{
    fake_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
    f->port = ntohs(a.sin_port);
    return f;
}

static void fake_run(fake_t *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake_t *f)
{
    put(&f->stop, 1);
    pthread_join(f->thread, NULL);
    close(f->lfd);
    free(f);
}

/* ---- gw_redis on a loop -------------------------------------------------- */

typedef struct {
    int calls;
    int conn;      /* gw_redis_reply_conn in the callback */
    int type;      /* of the reply; -1 for NULL */
    long long integer;
    char str[64];
} got_t;

static void on_reply(gw_redis_t *r, redisReply *reply, void *data)
{
    got_t *g = data;
    g->calls++;
    g->conn = gw_redis_reply_conn(r);
    g->type = reply != NULL ? reply->type : -1;
    g->integer = reply != NULL ? reply->integer : 0;
    snprintf(g->str, sizeof g->str, "%s", reply != NULL && reply->str != NULL ? reply->str : "");
}

/* Runs @loop until gw_redis_is_up says @up, 5 s at most. */
static void run_until_up(h2o_evloop_t *loop, gw_redis_t *r, int up)
{
    for (int i = 0; i < 500 && gw_redis_is_up(r) != up; i++)
        h2o_evloop_run(loop, 10);
    assert_int_equal(gw_redis_is_up(r), up);
}

/* Runs @loop until @g was called back @calls times, 5 s at most. */
static void run_until_called(h2o_evloop_t *loop, const got_t *g, int calls)
{
    for (int i = 0; i < 500 && g->calls < calls; i++)
        h2o_evloop_run(loop, 10);
    assert_int_equal(g->calls, calls);
}

/* A command of @n words on @r through gw_redis_command (routed as usual). */
static int command(gw_redis_t *r, got_t *g, int n, const char *a0, const char *a1, const char *a2)
{
    const char *argv[] = {a0, a1, a2};
    size_t lens[] = {strlen(a0), a1 != NULL ? strlen(a1) : 0, a2 != NULL ? strlen(a2) : 0};
    return gw_redis_command(r, on_reply, g, n, argv, lens);
}

static int wait_on(gw_redis_t *r, int conn, got_t *g)
{
    const char *argv[] = {"WAIT", "1", "100"};
    size_t lens[] = {4, 1, 3};
    return gw_redis_command_on(r, conn, on_reply, g, 3, argv, lens);
}

static int setup(void **st)
{
    (void)st;
    return gw_redis_scripts_init();
}

/* ---- single Redis ---------------------------------------------------------- */

static void single_redis_reconnect_is_a_new_number(void **st)
{
    (void)st;
    fake_t *f = fake_start();
    fake_run(f);
    h2o_evloop_t *loop = h2o_evloop_create();
    tk_backend_t b = {.redis_host = "127.0.0.1", .redis_port = f->port};
    gw_redis_t *r = gw_redis_create(loop, &b, NULL, NULL);
    assert_non_null(r);
    run_until_up(loop, r, 1);
    assert_int_equal(gw_redis_reply_conn(r), -1); /* outside a callback */

    got_t ping = {0};
    assert_int_equal(command(r, &ping, 1, "PING", NULL, NULL), 0);
    run_until_called(loop, &ping, 1);
    int c0 = ping.conn;
    assert_true(c0 >= 0);
    assert_int_equal(gw_redis_reply_conn(r), -1); /* restored after it */

    got_t w = {0};
    assert_int_equal(wait_on(r, c0, &w), 0);
    run_until_called(loop, &w, 1);
    assert_int_equal(w.type, REDIS_REPLY_INTEGER);
    assert_int_equal(w.conn, c0);
    assert_int_equal(get(&f->waits), 1);
    assert_int_equal(wait_on(r, c0 + 1, &w), -1); /* no connection has that number */
    assert_int_equal(wait_on(r, -1, &w), -1);

    /* A command outstanding when the connection goes: NULL, from no connection. */
    got_t lost = {0};
    assert_int_equal(command(r, &lost, 1, "NOREPLY", NULL, NULL), 0);
    for (int i = 0; i < 5; i++)
        h2o_evloop_run(loop, 10); /* sent */
    put(&f->drop, 1);
    run_until_called(loop, &lost, 1);
    assert_int_equal(lost.type, -1);
    assert_int_equal(lost.conn, -1);
    run_until_up(loop, r, 0);
    assert_int_equal(wait_on(r, c0, &w), -1); /* down */
    run_until_up(loop, r, 1);
    for (int i = 0; i < 500 && get(&f->accepted) < 2; i++)
        h2o_evloop_run(loop, 10); /* the kernel completes the connect before the fake's accept() counts it */
    assert_int_equal(get(&f->accepted), 2);

    /* Made again: the old number is gone, the new one works. */
    assert_int_equal(wait_on(r, c0, &w), -1);
    got_t ping2 = {0};
    assert_int_equal(command(r, &ping2, 1, "PING", NULL, NULL), 0);
    run_until_called(loop, &ping2, 1);
    assert_true(ping2.conn >= 0);
    assert_int_not_equal(ping2.conn, c0);
    got_t w2 = {0};
    assert_int_equal(wait_on(r, ping2.conn, &w2), 0);
    run_until_called(loop, &w2, 1);
    assert_int_equal(w2.conn, ping2.conn);
    assert_int_equal(w.calls, 1); /* the refused ones never called back */
    assert_int_equal(get(&f->waits), 2);

    gw_redis_destroy(r);
    h2o_evloop_run(loop, 0);
    gw_redis_free(r);
    h2o_evloop_destroy(loop);
    fake_stop(f);
}

/* ---- cluster: ASK ------------------------------------------------------------ */

static void cluster_ask_reply_names_the_node_that_ran_it(void **st)
{
    (void)st;
    fake_t *a = fake_start(), *bnode = fake_start();
    /* Two masters: A serves the slot of tk:{e}:ev alone, B every other one (an ASK target is a master in
     * practice, the importing one; a connection to a node that is none would be closed once idle). */
    unsigned slot = tk_key_slot("tk:{e}:ev", 9);
    assert_true(slot > 0 && slot < 16383);
    snprintf(slots_reply, sizeof slots_reply,
             "*3\r\n"
             "*3\r\n:%u\r\n:%u\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n%040d\r\n"
             "*3\r\n:0\r\n:%u\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n%040d\r\n"
             "*3\r\n:%u\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n%040d\r\n",
             slot, slot, a->port, 1, slot - 1, bnode->port, 2, slot + 1, bnode->port, 2);
    a->slots = bnode->slots = 1;
    fake_run(a);
    fake_run(bnode);
    h2o_evloop_t *loop = h2o_evloop_create();
    tk_backend_t b = {.redis_nseeds = 1};
    snprintf(b.redis_seeds[0].host, sizeof b.redis_seeds[0].host, "127.0.0.1");
    b.redis_seeds[0].port = a->port;
    gw_redis_t *r = gw_redis_create(loop, &b, NULL, NULL);
    assert_non_null(r);
    run_until_up(loop, r, 1);

    got_t on_a = {0};
    assert_int_equal(command(r, &on_a, 2, "GET", "tk:{e}:ev", NULL), 0); /* the map: A */
    run_until_called(loop, &on_a, 1);
    int ca = on_a.conn;
    assert_true(ca >= 0);

    /* A's slot is migrating: it answers ASK to B, which runs the script. */
    put(&a->ask_port, bnode->port);
    got_t script = {0};
    const char *argv[] = {"tk:{e}:ev"};
    size_t lens[] = {9};
    assert_int_equal(gw_redis_script(r, GW_SCRIPT_CLAIM, on_reply, &script, 1, 1, argv, lens), 0);
    run_until_called(loop, &script, 1);
    assert_int_equal(script.type, REDIS_REPLY_INTEGER);
    assert_int_equal(get(&bnode->scripts), 1);
    int cb = script.conn;
    assert_true(cb >= 0);
    assert_int_not_equal(cb, ca); /* B's connection, not the map's A */

    got_t w = {0};
    assert_int_equal(wait_on(r, cb, &w), 0);
    run_until_called(loop, &w, 1);
    assert_int_equal(w.type, REDIS_REPLY_INTEGER);
    assert_int_equal(w.conn, cb);
    assert_int_equal(get(&bnode->waits), 1);
    assert_int_equal(get(&a->waits), 0);

    /* Pinned: a redirect is the answer, not followed. */
    put(&a->moved_port, bnode->port);
    got_t moved = {0};
    assert_int_equal(wait_on(r, ca, &moved), 0);
    run_until_called(loop, &moved, 1);
    assert_int_equal(moved.type, REDIS_REPLY_ERROR);
    assert_memory_equal(moved.str, "MOVED ", 6);
    assert_int_equal(moved.conn, ca);
    assert_int_equal(get(&a->waits), 1);
    assert_int_equal(get(&bnode->waits), 1);

    /* B's connection made again: its old number is refused. */
    put(&bnode->drop, 1);
    for (int i = 0; i < 500 && get(&bnode->accepted) < 2; i++)
        h2o_evloop_run(loop, 10);
    run_until_up(loop, r, 1);
    assert_int_equal(wait_on(r, cb, &w), -1);
    assert_int_equal(w.calls, 1);
    for (int i = 0; i < 10; i++)
        h2o_evloop_run(loop, 10); /* the new connection's SCRIPT LOADs answered, so the destroy fails none */

    gw_redis_destroy(r);
    h2o_evloop_run(loop, 0);
    gw_redis_free(r);
    h2o_evloop_destroy(loop);
    fake_stop(a);
    fake_stop(bnode);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_redis_reconnect_is_a_new_number),
        cmocka_unit_test(cluster_ask_reply_names_the_node_that_ran_it),
    };
    return cmocka_run_group_tests_name("gw_redis_conn", tests, setup, NULL);
}
