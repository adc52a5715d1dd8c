/*
 * it_watch: GET /v1/events/{id}/watch, the long-poll of API.md "Live event
 * updates", and the event's `version`.
 *
 * A watch whose `since` differs from the version answers at once; a held
 * one is answered by a claim within 1 s with the new version (on the same
 * gateway, and on another gateway sharing the Redis); a wait that runs out
 * answers with the same version; one claim call moves the version by one;
 * WATCH_HELD_MAX bounds the held watches (503 + Retry-After beyond) and a
 * client that gives up (HTTP/2, connection closed) frees its place;
 * an admin state change moves it; every bad parameter is 400; an unsigned
 * watch is 401; a gateway stopped while it holds a watch answers it and
 * still exits 0. Over HTTP/1.1, a request sent behind a held watch on the
 * same connection (pipelined) is answered after it, and a client that
 * shuts its side while its watch is held still gets the answer, then the
 * close; neither costs the gateway CPU while the watch is held (the
 * connection stays polled while it waits: gateway/http/gw_h1wait.h).
 *
 * A held watch runs on a thread of its own (libcurl easy handles are
 * per-thread) while the test makes the change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/it_api.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_redis.h"
#include "tk_time.h"

#define USER "u-watch"

/* A watch on its own thread. */
typedef struct {
    const it_fix_t *f;
    char path[256];
    it_resp_t r;
    long long start_ms, done_ms;
    pthread_t tid;
} watch_t;

static void *watch_main(void *arg)
{
    watch_t *w = arg;
    w->start_ms = it_now_ms();
    it_api_as(&w->r, w->f, IT_HTTP2, USER, "GET", w->path, NULL);
    w->done_ms = it_now_ms();
    return NULL;
}

static void watch_start(watch_t *w, const it_fix_t *f, const char *ev, long long since, int wait_s)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    snprintf(w->path, sizeof w->path, "/v1/events/%s/watch?since=%lld&wait=%d", ev, since, wait_s);
    assert_int_equal(pthread_create(&w->tid, NULL, watch_main, w), 0);
}

static void watch_join(watch_t *w)
{
    assert_int_equal(pthread_join(w->tid, NULL), 0);
}

/* GET watch without `since`: answered at once; returns the version (and checks the body's shape). */
static long long version_of(const it_fix_t *f, const char *ev)
{
    it_resp_t r;
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/watch", ev);
    it_api_as(&r, f, IT_HTTP1, USER, "GET", path, NULL);
    if (r.status != 200)
        it_show("watch without since", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    long long v = it_json_int(r.json, "version");
    json_t *event = json_object_get(r.json, "event");
    assert_non_null(event);
    assert_string_equal(it_json_str(event, "event_id"), ev);
    assert_int_equal(it_json_int(event, "version"), v); /* the event object carries it too */
    assert_true(it_json_int(r.json, "watching") >= 0);
    it_resp_free(&r);
    return v;
}

static void answers_at_once_when_since_differs(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    assert_true(v >= 1);
    /* GET /v1/events/{id} shows the same version */
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev), 0);
    assert_int_equal(it_json_int(r.json, "version"), v);
    it_resp_free(&r);

    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/watch?since=%lld&wait=25", ev, v + 7);
    long long t0 = it_now_ms();
    it_api_as(&r, f, IT_HTTP1, USER, "GET", path, NULL);
    long long took = it_now_ms() - t0;
    assert_int_equal(r.status, 200);
    assert_int_equal(it_json_int(r.json, "version"), v);
    it_resp_free(&r);
    assert_true(took < 1000);
}

/* @user's at-once watch of @ev: its `watching`. */
static long long watching_as(const it_fix_t *f, const char *ev, const char *user)
{
    it_resp_t r;
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/watch?wait=0", ev);
    it_api_as(&r, f, IT_HTTP1, user, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    long long n = it_json_int(r.json, "watching");
    it_resp_free(&r);
    return n;
}

/*
 * The caller's own heartbeat reaches Redis after the count is read, so an
 * answer given at once must count the caller itself, once: a lone first
 * watcher sees 1 (it saw 0 before the fix), a second user 2, and the first
 * again 2, not 3.
 */
static void an_answer_at_once_counts_its_caller_once(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    assert_int_equal(watching_as(f, ev, "u-lone-a"), 1);
    assert_int_equal(watching_as(f, ev, "u-lone-b"), 2);
    assert_int_equal(watching_as(f, ev, "u-lone-a"), 2);
}

static void one_claim_call_moves_the_version_by_one(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 2);
    long long v = version_of(f, ev);
    it_claim_expect(f, ev, "u-a", 2, 201);
    assert_int_equal(version_of(f, ev), v + 1);
    it_claim_expect(f, ev, "u-a", 2, 200); /* a retry changes nothing: the version stays */
    assert_int_equal(version_of(f, ev), v + 1);
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "POST", "{\"state\":\"paused\"}", "/v1/admin/events/%s/state", ev), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    assert_int_equal(version_of(f, ev), v + 2);
}

static void held_watch_is_answered_by_a_claim_within_1s(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    watch_t w;
    watch_start(&w, f, ev, v, 20);
    it_sleep_ms(700); /* held by now */
    long long claim_ms = it_now_ms();
    it_claim_expect(f, ev, "u-b", 1, 201);
    watch_join(&w);
    if (w.r.status != 200)
        it_show("held watch", &w.r);
    assert_int_equal(w.r.status, 200);
    assert_int_equal(it_json_int(w.r.json, "version"), v + 1);
    assert_int_equal(it_json_int(json_object_get(w.r.json, "event"), "remaining"), 9);
    assert_true(w.done_ms - w.start_ms >= 600); /* it was held, not answered at once */
    assert_true(w.done_ms - claim_ms < 1000);
    it_resp_free(&w.r);
}

/* The clock moves the version: a watch held before opens_at is answered within 1 s of it, the event now open. */
static void opens_at_wakes_held_watches(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_event_id(ev, sizeof ev, "wat");
    long long opens = it_now_ms() + 2500; /* on the monotonic clock the watch times are taken on */
    assert_int_equal(it_api_create_event(f, ev, 10, 1, tk_time_now_ms() + 2500, 0), 201); /* the same moment, wall clock */
    long long v = version_of(f, ev);
    watch_t w;
    watch_start(&w, f, ev, v, 8);
    watch_join(&w);
    assert_int_equal(w.r.status, 200);
    assert_int_equal(it_json_int(w.r.json, "version"), v + 1);
    assert_string_equal(it_json_str(json_object_get(w.r.json, "event"), "state"), "open");
    assert_true(w.done_ms >= opens - 50); /* not before (clocks of one host) */
    assert_true(w.done_ms - opens < 1000);
    it_resp_free(&w.r);
}

/* 20 watches held ~1.2 s cost Redis one read per event per tick, not one per watcher. */
static void held_watches_share_one_read_per_event(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    enum { N = 20 };
    watch_t w[N];
    long long before = it_redis_cmd_calls(f->redis, "hmget");
    assert_true(before >= 0);
    for (int i = 0; i < N; i++)
        watch_start(&w[i], f, ev, v, 2);
    for (int i = 0; i < N; i++) {
        watch_join(&w[i]);
        assert_int_equal(w[i].r.status, 200);
        assert_int_equal(it_json_int(w[i].r.json, "version"), v);
        it_resp_free(&w[i].r);
    }
    long long reads = it_redis_cmd_calls(f->redis, "hmget") - before;
    /* N reads on arrival, then ~5 per second for the one event (the holds overlap for ~2 s,
     * spread by the threads' start); one read per watcher per tick would be N * 10 more. */
    fprintf(stderr, "HMGETs for %d watches held ~2 s: %lld\n", N, reads);
    assert_true(reads >= N);
    assert_true(reads <= N + 30);
}

/* /metrics: tk_watch_held counts the watches held now; tk_presence_heartbeats_total the beats queued (arrival and answer of each). */
static void held_watches_and_heartbeats_in_metrics(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    assert_int_equal(it_metric(f, "tk_watch_held"), 0);
    long long beats = it_metric(f, "tk_presence_heartbeats_total");
    assert_true(beats >= 1); /* version_of's watch, answered at once */
    enum { N = 3 };
    watch_t w[N];
    for (int i = 0; i < N; i++)
        watch_start(&w[i], f, ev, v, 2);
    long long held = -1, deadline = it_now_ms() + 1500;
    while ((held = it_metric(f, "tk_watch_held")) != N && it_now_ms() < deadline)
        it_sleep_ms(50);
    assert_int_equal(held, N);
    assert_int_equal(it_metric(f, "tk_presence_heartbeats_total"), beats + N); /* one on each arrival */
    for (int i = 0; i < N; i++) {
        watch_join(&w[i]);
        assert_int_equal(w[i].r.status, 200);
        it_resp_free(&w[i].r);
    }
    assert_int_equal(it_metric(f, "tk_watch_held"), 0);
    assert_int_equal(it_metric(f, "tk_presence_heartbeats_total"), beats + 2 * N); /* and one on each answer */
}

static void wait_runs_out_with_the_same_version(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    watch_t w;
    watch_start(&w, f, ev, v, 1);
    watch_join(&w);
    assert_int_equal(w.r.status, 200);
    assert_int_equal(it_json_int(w.r.json, "version"), v);
    long long took = w.done_ms - w.start_ms;
    assert_true(took >= 950 && took < 2000);
    it_resp_free(&w.r);
}

static void bad_parameters_are_400_and_unsigned_is_401(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    static const char *const bad[] = {"since=x", "since=-1", "wait=26", "wait=", "tab=100", "tab=x", "page=BIG", "page=",
                                      "page=abcdefghijklmnopqrstuvwxyz0123456", "since=1&since=1", "user_id=someone-else"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/events/%s/watch?%s", ev, bad[i]);
        it_resp_t r;
        it_api_as(&r, f, IT_HTTP1, USER, "GET", path, NULL);
        long want = strncmp(bad[i], "user_id", 7) == 0 ? 403 : 400;
        if (r.status != want)
            fprintf(stderr, "watch?%s: %ld\n", bad[i], r.status);
        assert_int_equal(r.status, want);
        it_resp_free(&r);
    }
    it_resp_t r;
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s/watch?wait=1", ev), 0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/watch?wait=1", "no-such-event"), 0);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);
}

static void another_gateway_wakes_its_watchers(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    it_fix_t f2 = *f; /* the same stores, the second gateway */
    assert_int_equal(it_gateway_start(&f2.gw, IT_READY_MS), 0);
    long long v = version_of(&f2, ev);
    watch_t w[3];
    for (int i = 0; i < 3; i++)
        watch_start(&w[i], &f2, ev, v, 20);
    it_sleep_ms(700);
    long long claim_ms = it_now_ms();
    it_claim_expect(f, ev, "u-c", 1, 201); /* through the first gateway */
    for (int i = 0; i < 3; i++) {
        watch_join(&w[i]);
        assert_int_equal(w[i].r.status, 200);
        assert_int_equal(it_json_int(w[i].r.json, "version"), v + 1);
        assert_true(w[i].done_ms - w[i].start_ms >= 600);
        assert_true(w[i].done_ms - claim_ms < 1000);
        it_resp_free(&w[i].r);
    }
    assert_int_equal(it_proc_stop(&f2.gw.proc, IT_STOP_MS), 0);
}

static void stopping_answers_held_watches_and_exits_0(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    it_fix_t f2 = *f;
    assert_int_equal(it_gateway_start(&f2.gw, IT_READY_MS), 0);
    long long v = version_of(&f2, ev);
    watch_t w;
    watch_start(&w, &f2, ev, v, 25);
    it_sleep_ms(700);
    long long stop_ms = it_now_ms();
    assert_int_equal(it_proc_stop(&f2.gw.proc, IT_STOP_MS), 0);
    watch_join(&w);
    assert_int_equal(w.r.status, 200); /* answered, not cut off */
    assert_true(w.done_ms - stop_ms < 5000); /* not held to its 25 s */
    it_resp_free(&w.r);
}

/* One watch to @gw with its own client deadline; returns the status (0: the client gave up). */
static long watch_raw(const it_fix_t *f, const char *ev, long long since, int wait_s, int client_ms, it_resp_t *r)
{
    char url[256], line[IT_AUTH_LINE_MAX];
    snprintf(url, sizeof url, "%s/v1/events/%s/watch?since=%lld&wait=%d", f->gw.base_url, ev, since, wait_s);
    assert_non_null(it_api_user_header(f, USER, line));
    const char *hdrs[] = {line, NULL};
    it_http(r, IT_HTTP2, "GET", url, hdrs, NULL, 0, client_ms);
    return r->status;
}

typedef struct {
    const it_fix_t *f;
    const char *ev;
    long long since;
    it_resp_t r;
    long long done_ms;
} raw_t;

static void *raw_main(void *arg)
{
    raw_t *a = arg;
    watch_raw(a->f, a->ev, a->since, 2, 10000, &a->r);
    a->done_ms = it_now_ms();
    return NULL;
}

static void held_watches_are_bounded_and_a_leaver_frees_its_place(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    it_fix_t f2 = *f;
    assert_int_equal(setenv("WATCH_HELD_MAX", "1", 1), 0);
    assert_int_equal(setenv("GW_THREADS", "1", 1), 0);
    int started = it_gateway_start(&f2.gw, IT_READY_MS);
    unsetenv("WATCH_HELD_MAX");
    unsetenv("GW_THREADS");
    assert_int_equal(started, 0);
    long long v = version_of(&f2, ev);

    /* A client holds the one place, then gives up after 600 ms (HTTP/2, connection closed). */
    it_resp_t r;
    assert_int_equal(watch_raw(&f2, ev, v, 20, 600, &r), 0);
    it_resp_free(&r);
    it_sleep_ms(500); /* a tick drops the record of the client that left */

    /* Its place is free again: this one is held (answered at its 2 s wait, not 503). */
    raw_t a = {&f2, ev, v, {0}, 0};
    pthread_t tid;
    long long t0 = it_now_ms();
    assert_int_equal(pthread_create(&tid, NULL, raw_main, &a), 0);
    it_sleep_ms(700);
    /* ... and while it is held, one more is over the bound: 503 with Retry-After, at once. */
    assert_int_equal(watch_raw(&f2, ev, v, 20, 5000, &r), 503);
    assert_string_equal(it_resp_error_code(&r), "unavailable");
    assert_int_equal(r.retry_after_n, 1);
    it_resp_free(&r);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(a.r.status, 200);
    assert_int_equal(it_json_int(a.r.json, "version"), v);
    assert_true(a.done_ms - t0 >= 1900);
    it_resp_free(&a.r);
    assert_int_equal(it_proc_stop(&f2.gw.proc, IT_STOP_MS), 0);
}

/* ---- HTTP/1.1 on a raw connection -------------------------------------------------- */

static int h1_connect(const it_fix_t *f)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->gw.http_port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    return fd;
}

static void h1_send(int fd, const char *p)
{
    size_t n = strlen(p);
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* The gateway's CPU time so far (user + system), in clock ticks. */
static long long gw_cpu_ticks(const it_fix_t *f)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)f->gw.proc.pid);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields after the command name: state is field 3, utime 14, stime 15 */
    assert_non_null(p);
    unsigned long long ut = 0, st = 0;
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st), 2);
    return (long long)(ut + st);
}

/* While a watch is held, the gateway spends under half a CPU second in the next second (a connection left polled would spin). */
static void assert_idle_for_a_second(const it_fix_t *f)
{
    long long c0 = gw_cpu_ticks(f);
    it_sleep_ms(1000);
    long long spent = gw_cpu_ticks(f) - c0, hz = sysconf(_SC_CLK_TCK);
    if (spent * 2 > hz)
        fprintf(stderr, "the gateway spent %lld of %lld ticks in 1 s while the watch was held\n", spent, hz);
    assert_true(spent * 2 <= hz);
}

/*
 * Reads one response from @fd into @buf (NUL-terminated; headers and body,
 * sized by Content-Length) within @ms; what came after it stays in
 * buf[*len..*have) for the next call. Returns its status, or 0 (nothing
 * complete in time, or the connection ended).
 */
static int h1_read(int fd, char *buf, size_t cap, size_t *have, size_t *len, int ms)
{
    long long deadline = it_now_ms() + ms;
    for (;;) {
        buf[*have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            size_t want = (size_t)(end + 4 - buf) + (cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
            if (*have >= want) {
                *len = want;
                return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
            }
        }
        long long left = deadline - it_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (*have >= cap - 1 || left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t r = recv(fd, buf + *have, cap - 1 - *have, 0);
        if (r <= 0)
            return 0;
        *have += (size_t)r;
    }
}

/* Drops the first @len bytes of @buf (a response read). */
static void h1_consume(char *buf, size_t *have, size_t len)
{
    memmove(buf, buf + len, *have - len);
    *have -= len;
}

/* A held watch over HTTP/1.1 on @fd: its request sent (wait @wait_s). */
static void h1_watch(const it_fix_t *f, int fd, const char *ev, long long since, int wait_s)
{
    char line[IT_AUTH_LINE_MAX], req[2048];
    assert_non_null(it_api_user_header(f, USER, line));
    snprintf(req, sizeof req, "GET /v1/events/%s/watch?since=%lld&wait=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n\r\n", ev, since, wait_s,
             line);
    h1_send(fd, req);
}

/*
 * A request pipelined behind a held watch: read only after the watch is
 * answered (h2o answers an HTTP/1.1 connection in order), and answered
 * then; while the watch is held the gateway spends no CPU on the bytes
 * waiting (a connection left polled would spin on them).
 */
static void h1_request_behind_a_held_watch_is_answered_after_it(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    int fd = h1_connect(f);
    long long t0 = it_now_ms();
    h1_watch(f, fd, ev, v, 2);
    it_sleep_ms(300); /* held now */
    h1_send(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_idle_for_a_second(f);

    static char buf[65536];
    size_t have = 0, len = 0;
    assert_int_equal(h1_read(fd, buf, sizeof buf, &have, &len, 5000), 200);
    assert_true(it_now_ms() - t0 >= 1900); /* the watch's own answer, at its wait */
    assert_non_null(memmem(buf, len, "\"version\"", 9));
    h1_consume(buf, &have, len);
    assert_int_equal(h1_read(fd, buf, sizeof buf, &have, &len, 3000), 200);
    assert_non_null(memmem(buf, len, "{\"status\":\"ok\"}", 15));
    h1_consume(buf, &have, len);
    assert_int_equal(have, 0);
    /* The connection goes on as before. */
    h1_send(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_int_equal(h1_read(fd, buf, sizeof buf, &have, &len, 3000), 200);
    close(fd);
}

/* A client that shuts its side while its watch is held: the answer still comes, then the close, and no CPU is spent on the end meanwhile. */
static void h1_client_shutdown_during_a_held_watch(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "wat", 10, 1);
    long long v = version_of(f, ev);
    int fd = h1_connect(f);
    h1_watch(f, fd, ev, v, 2);
    it_sleep_ms(300);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_idle_for_a_second(f);
    static char buf[65536];
    size_t have = 0, len = 0;
    assert_int_equal(h1_read(fd, buf, sizeof buf, &have, &len, 5000), 200);
    h1_consume(buf, &have, len);
    assert_int_equal(have, 0);
    /* then the gateway reads the end and closes */
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 3000), 1);
    assert_int_equal(recv(fd, buf, sizeof buf, 0), 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(answers_at_once_when_since_differs, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(an_answer_at_once_counts_its_caller_once, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(one_claim_call_moves_the_version_by_one, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(held_watch_is_answered_by_a_claim_within_1s, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(opens_at_wakes_held_watches, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(held_watches_share_one_read_per_event, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(wait_runs_out_with_the_same_version, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(held_watches_and_heartbeats_in_metrics, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(bad_parameters_are_400_and_unsigned_is_401, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(another_gateway_wakes_its_watchers, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(held_watches_are_bounded_and_a_leaver_frees_its_place, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(stopping_answers_held_watches_and_exits_0, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(h1_request_behind_a_held_watch_is_answered_after_it, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(h1_client_shutdown_during_a_held_watch, it_fix_new0, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_watch", tests, it_group_setup, NULL);
}
