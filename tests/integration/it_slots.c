/*
 * it_slots: every script call the gateway makes touches one Redis Cluster
 * hash slot (issue 15). A cluster refuses a call whose keys are in two
 * slots (CROSSSLOT), even when one node serves every slot, so this test
 * starts its own redis-server with cluster-enabled yes, gives that one node
 * all 16384 slots, and points a gateway at it (IT_GW_REDIS_PORT). The
 * gateway still speaks to it as to a single Redis (the cluster client is
 * another piece of issue 15); with one node no MOVED can happen, so a
 * refusal can only be CROSSSLOT. The calls covered are the scripts that
 * used to mix tags: the create (admin_create.lua and tk:events,
 * tk:wq:rooms), the room's settings (admin_queue_set.lua), a state change
 * (admin_state.lua), a join (wq_join.lua), the admitter's lease and steps
 * (wq_lease.lua, wq_admit.lua: someone is admitted), a board's create
 * (lb_create.lua and tk:boards) and the rebuild after a reconnect
 * (rebuild_swap.lua). Before the fix each of these answered 503 (Redis
 * said CROSSSLOT) or admitted nobody.
 *
 * No ACLs on this node (the default user, no password; the gateway's AUTH
 * as "default" is accepted by a nopass user): the test is about slots,
 * it_redis_acl about users.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lib/it_api.h"
#include "lib/it_cluster.h"
#include "lib/it_env.h"

typedef struct {
    it_fix_t fix; /* first: the lib's fixture, its gateway pointed at the node */
    pid_t node;
    int port;
    redisContext *rc; /* to the node */
} slots_t;

/* Starts redis-server in cluster mode on a free port in $TK_IT_DIR/slots-PORT. Returns its pid, or -1. */
static pid_t node_start(int port)
{
    char dir[512], portstr[16], log[600];
    snprintf(dir, sizeof dir, "%s/slots-%d", it_env()->it_dir, port);
    mkdir(dir, 0700);
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a crashed test leaves no server behind */
        if (chdir(dir) != 0)
            _exit(127);
        execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
               "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no", "--logfile", log, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Connects to the node and gives it every slot; 0 once CLUSTER INFO says ok, else -1. */
static int node_ready(slots_t *s)
{
    long long until = it_now_ms() + 10000;
    while (it_now_ms() < until && (s->rc = redisConnect("127.0.0.1", s->port)) != NULL && s->rc->err) {
        redisFree(s->rc);
        s->rc = NULL;
        it_sleep_ms(50);
    }
    if (s->rc == NULL)
        return -1;
    redisReply *x = redisCommand(s->rc, "CLUSTER ADDSLOTSRANGE 0 16383");
    if (x == NULL || x->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "CLUSTER ADDSLOTSRANGE: %s\n", x != NULL ? x->str : s->rc->errstr);
        if (x != NULL)
            freeReplyObject(x);
        return -1;
    }
    freeReplyObject(x);
    while (it_now_ms() < until) {
        x = redisCommand(s->rc, "CLUSTER INFO");
        int ok = x != NULL && x->str != NULL && strstr(x->str, "cluster_state:ok") != NULL;
        if (x != NULL)
            freeReplyObject(x);
        if (ok)
            return 0;
        it_sleep_ms(50);
    }
    return -1;
}

/* Stops the node of @s, if any, and closes the connection to it. */
static void node_stop(slots_t *s)
{
    if (s->rc != NULL)
        redisFree(s->rc);
    s->rc = NULL;
    if (s->node > 0) {
        kill(s->node, SIGTERM);
        waitpid(s->node, NULL, 0);
    }
    s->node = 0;
}

static int setup(void **st)
{
    slots_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    /* A port taken between the check and the start (its own or its cluster bus port, +10000) makes redis-server
     * exit: another port, three times at most (CI once met it with a plain free port). */
    int up = 0;
    for (int attempt = 0; attempt < 3 && !up; attempt++) {
        s->port = it_cluster_free_port();
        up = s->port > 0 && (s->node = node_start(s->port)) > 0 && node_ready(s) == 0;
        if (!up) {
            fprintf(stderr, "could not start a cluster-mode redis-server on %d\n", s->port);
            node_stop(s);
        }
    }
    if (!up) {
        free(s);
        return -1;
    }
    char pw[600], port[16];
    snprintf(pw, sizeof pw, "%s/slots-%d/password", it_env()->it_dir, s->port);
    int fd = open(pw, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "any\n", 4) != 4)
        return -1;
    close(fd);
    setenv("REDIS_USER", "default", 1); /* nopass: any password is accepted */
    setenv("REDIS_PASSWORD_FILE", pw, 1);
    snprintf(port, sizeof port, "%d", s->port);
    setenv("IT_GW_REDIS_PORT", port, 1);
    *st = s;
    return it_fix_setup(&s->fix, 0);
}

static int teardown(void **st)
{
    slots_t *s = *st;
    int rc = it_fix_teardown(&s->fix);
    unsetenv("IT_GW_REDIS_PORT");
    unsetenv("REDIS_USER");
    unsetenv("REDIS_PASSWORD_FILE");
    node_stop(s);
    free(s);
    return rc;
}

/* The node's integer answer to @fmt, or -1. */
static long long node_int(slots_t *s, const char *fmt, const char *arg)
{
    redisReply *x = redisCommand(s->rc, fmt, arg);
    long long v = x != NULL && x->type == REDIS_REPLY_INTEGER ? x->integer : -1;
    if (x != NULL)
        freeReplyObject(x);
    return v;
}

/* @method @path as admin; fails the test unless @want. */
static void admin_expect(slots_t *s, const char *what, const char *path, const char *body, long want)
{
    it_resp_t r;
    it_api(&r, &s->fix, IT_HTTP1, IT_ADMIN, "POST", path, body);
    long got = r.status;
    if (got != want)
        it_show(what, &r);
    it_resp_free(&r); /* before the assert, which does not return */
    assert_int_equal(got, want);
}

static void every_script_call_is_one_slot(void **st)
{
    slots_t *s = *st;
    char ev[64], body[512], path[256];
    it_event_id(ev, sizeof ev, "sl");
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"name\":\"Slots\",\"stock\":10,\"max_per_user\":1,"
             "\"waiting_room\":{\"enabled\":true,\"release_per_s\":50,\"access_ttl_s\":300}}",
             ev);
    admin_expect(s, "create with a room (admin_create.lua)", "/v1/admin/events", body, 201);
    assert_int_equal(node_int(s, "SISMEMBER tk:events %s", ev), 1);
    assert_int_equal(node_int(s, "SISMEMBER tk:wq:rooms %s", ev), 1);
    snprintf(path, sizeof path, "/v1/admin/events/%s/queue", ev);
    admin_expect(s, "room settings (admin_queue_set.lua)", path, "{\"release_per_s\":40}", 200);
    snprintf(path, sizeof path, "/v1/admin/events/%s/state", ev);
    admin_expect(s, "state (admin_state.lua)", path, "{\"state\":\"open\"}", 200);

    it_resp_t r;
    snprintf(path, sizeof path, "/v1/events/%s/queue", ev);
    it_api_as(&r, &s->fix, IT_HTTP1, "u-1", "POST", path, NULL);
    long got = r.status;
    if (got != 201)
        it_show("join (wq_join.lua)", &r);
    it_resp_free(&r);
    assert_int_equal(got, 201);
    /* the admitter: its lease (wq_lease.lua) and its steps (wq_admit.lua) admit u-1 */
    char key[128];
    snprintf(key, sizeof key, "tk:{%s}:wq:adm", ev);
    long long until = it_now_ms() + 8000, adm = 0;
    while ((adm = node_int(s, "HEXISTS %s u-1", key)) != 1 && it_now_ms() < until)
        it_sleep_ms(100);
    fprintf(stderr, "u-1 admitted on the one-node cluster: %lld (want 1)\n", adm);
    assert_int_equal(adm, 1);

    snprintf(body, sizeof body, "{\"board_id\":\"%s\",\"name\":\"B\",\"components\":1,\"operator\":\"best\",\"season_length_s\":0}", ev);
    admin_expect(s, "board create (lb_create.lua)", "/v1/admin/boards", body, 201);
    assert_int_equal(node_int(s, "SISMEMBER tk:boards %s", ev), 1);

    /* the rebuild after a reconnect (rebuild_swap.lua): the event's hash lost, the gateway restarted */
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    assert_int_equal(node_int(s, "DEL %s", key), 1);
    assert_int_equal(it_proc_stop(&s->fix.gw.proc, IT_STOP_MS), 0);
    assert_int_equal(it_gateway_restart(&s->fix.gw, IT_READY_MS), 0);
    until = it_now_ms() + 10000;
    while (node_int(s, "EXISTS %s", key) != 1 && it_now_ms() < until)
        it_sleep_ms(100);
    fprintf(stderr, "event hash rebuilt on the one-node cluster: %lld (want 1)\n", node_int(s, "EXISTS %s", key));
    assert_int_equal(node_int(s, "EXISTS %s", key), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_script_call_is_one_slot, setup, teardown),
    };
    return cmocka_run_group_tests_name("it_slots", tests, it_group_setup, NULL);
}
