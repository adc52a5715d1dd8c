/*
 * it_server_basics: the server basics against real Redis and MariaDB:
 * health over HTTP/1.1 and HTTP/2, readiness following Redis down and back,
 * the JSON error bodies of unknown routes, wrong methods and big bodies,
 * Prometheus metrics, and a graceful shutdown with a request in flight.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_env.h"

/* A gateway, no event. */
static int setup(void **st)
{
    return it_evfix_new(st, NULL);
}

static void assert_json_error(const it_resp_t *r, long status, const char *code)
{
    if (r->status != status || r->json == NULL || it_resp_error_code(r) == NULL || strcmp(it_resp_error_code(r), code) != 0)
        fprintf(stderr, "expected %ld %s, got %ld (%s) %s\n", status, code, r->status, r->content_type, r->body ? r->body : r->errbuf);
    assert_int_equal(r->status, status);
    assert_non_null(strstr(r->content_type, "application/json"));
    assert_non_null(r->json);
    assert_non_null(it_resp_error_code(r));
    assert_string_equal(it_resp_error_code(r), code);
    json_t *e = json_object_get(r->json, "error");
    assert_non_null(it_json_str(e, "message"));
}

/* ---------------------------------------------------------------- health */

static void check_healthz(it_evfix_t *s, it_http_ver_t ver, long want_version)
{
    it_resp_t r;
    assert_int_equal(it_api(&r, &s->fix, ver, IT_NO_AUTH, "GET", "/healthz", NULL), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.http_version, want_version);
    assert_non_null(strstr(r.content_type, "application/json"));
    assert_non_null(r.json);
    assert_string_equal(it_json_str(r.json, "status"), "ok");
    it_resp_free(&r);
}

static void healthz_answers_over_http1_and_http2(void **st)
{
    it_evfix_t *s = *st;
    check_healthz(s, IT_HTTP1, CURL_HTTP_VERSION_1_1);
    check_healthz(s, IT_HTTP2, CURL_HTTP_VERSION_2_0);

    /* The cleartext port answers too (HTTP/1.1). */
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", s->fix.gw.http_base);
    it_resp_t r;
    assert_int_equal(it_http(&r, IT_HTTP1, "GET", url, NULL, NULL, 0, IT_TIMEOUT_MS), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "status"), "ok");
    it_resp_free(&r);
}

/* ------------------------------------------------------------- readiness */

/* Polls /readyz until it answers @status, for at most @timeout_ms; leaves the last answer in @r. */
static int wait_readyz(it_evfix_t *s, it_resp_t *r, long status, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    memset(r, 0, sizeof *r);
    for (;;) {
        it_resp_free(r);
        if (it_api(r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", "/readyz", NULL) == 0 && r->status == status)
            return 0;
        if (it_now_ms() >= deadline)
            return -1;
        it_sleep_ms(100);
    }
}

static void readyz_follows_redis_down_and_back(void **st)
{
    it_evfix_t *s = *st;
    it_resp_t r;
    assert_int_equal(wait_readyz(s, &r, 200, 10000), 0);
    assert_non_null(r.json);
    it_resp_free(&r);

    s->redis_stopped = 1;
    assert_int_equal(it_services("stop-redis", 30000), 0);
    if (wait_readyz(s, &r, 503, 15000) != 0)
        fprintf(stderr, "readyz with Redis stopped: %ld %s\n", r.status, r.body ? r.body : r.errbuf);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.content_type, "application/json"));
    assert_non_null(r.json);
    assert_non_null(it_json_str(r.json, "redis"));
    assert_string_equal(it_json_str(r.json, "redis"), "down");
    assert_non_null(it_json_str(r.json, "database"));
    assert_string_equal(it_json_str(r.json, "database"), "up");
    it_resp_free(&r);

    /* Liveness is not readiness: /healthz stays 200 while Redis is down. */
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", "/healthz", NULL), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);

    assert_int_equal(it_services("start-redis", 30000), 0);
    s->redis_stopped = 0;
    if (wait_readyz(s, &r, 200, 20000) != 0)
        fprintf(stderr, "readyz after Redis came back: %ld %s\n", r.status, r.body ? r.body : r.errbuf);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

/* ------------------------------------------------------------ error bodies */

static void unknown_route_is_404_json(void **st)
{
    it_evfix_t *s = *st;
    /* The API's namespace; other paths belong to the static web pages (--web-root). */
    static const char *const paths[] = {"/v1/nope", "/v1", "/v1/eventsx", "/v1/events/e1/claims/u1/extra",
                                        "/v1/events/e1/nope"};
    for (it_http_ver_t v = IT_HTTP1; v <= IT_HTTP2; v++) {
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            it_resp_t r;
            assert_int_equal(it_api(&r, &s->fix, v, IT_NO_AUTH, "GET", paths[i], NULL), 0);
            assert_json_error(&r, 404, "not_found");
            it_resp_free(&r);
        }
    }
}

static void wrong_method_is_405_json(void **st)
{
    it_evfix_t *s = *st;
    static const struct {
        const char *method, *path;
    } cases[] = {
        {"DELETE", "/v1/events"},
        {"POST", "/v1/events"},
        {"PUT", "/v1/events/e1/claims"},
        {"POST", "/healthz"},
    };
    for (it_http_ver_t v = IT_HTTP1; v <= IT_HTTP2; v++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            it_resp_t r;
            assert_int_equal(it_api(&r, &s->fix, v, IT_NO_AUTH, cases[i].method, cases[i].path, NULL), 0);
            assert_json_error(&r, 405, "method_not_allowed");
            it_resp_free(&r);
        }
    }
}

/* A JSON claim body of exactly @len bytes (padding in an unknown field). */
static char *padded_body(size_t len)
{
    static const char head[] = "{\"user_id\":\"u-1\",\"pad\":\"";
    static const char tail[] = "\"}";
    char *b = malloc(len + 1);
    assert_non_null(b);
    size_t pad = len - (sizeof head - 1) - (sizeof tail - 1);
    memcpy(b, head, sizeof head - 1);
    memset(b + sizeof head - 1, 'a', pad);
    memcpy(b + sizeof head - 1 + pad, tail, sizeof tail);
    assert_int_equal(strlen(b), len);
    return b;
}

/* Signed (IT_USER, for u-1): without a user token a claim is refused 401 before its size is looked at. */
static void body_over_16k_is_413_json(void **st)
{
    it_evfix_t *s = *st;
    char *over = padded_body(16 * 1024 + 1);
    char *big = padded_body(64 * 1024);
    char *at = padded_body(16 * 1024);
    for (it_http_ver_t v = IT_HTTP1; v <= IT_HTTP2; v++) {
        it_resp_t r;
        assert_int_equal(it_api(&r, &s->fix, v, IT_USER, "POST", "/v1/events/x/claims", over), 0);
        assert_json_error(&r, 413, "too_large");
        it_resp_free(&r);
        assert_int_equal(it_api(&r, &s->fix, v, IT_USER, "POST", "/v1/events/x/claims", big), 0);
        assert_json_error(&r, 413, "too_large");
        it_resp_free(&r);
        /* Exactly at the limit the body is read: event x does not exist. */
        assert_int_equal(it_api(&r, &s->fix, v, IT_USER, "POST", "/v1/events/x/claims", at), 0);
        assert_json_error(&r, 404, "not_found");
        it_resp_free(&r);
    }
    free(over);
    free(big);
    free(at);
    /* And the gateway is still fine after refusing them. */
    check_healthz(s, IT_HTTP1, CURL_HTTP_VERSION_1_1);
}

/* ---------------------------------------------------------------- metrics */

/*
 * Sums the samples of counters whose name contains "request" (and not
 * "_bucket"/"_sum"/"_count" of a histogram) and whose labels contain both
 * @route_part and status "@status" (label name status or code).
 */
static double sum_requests(const char *text, const char *route_part, const char *status)
{
    double sum = 0;
    char want1[32], want2[32];
    snprintf(want1, sizeof want1, "status=\"%s\"", status);
    snprintf(want2, sizeof want2, "code=\"%s\"", status);
    const char *line = text;
    for (int guard = 0; line != NULL && *line != '\0' && guard < 100000; guard++) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[1024];
        if (len < sizeof buf && line[0] != '#') {
            memcpy(buf, line, len);
            buf[len] = '\0';
            char *brace = strchr(buf, '{');
            char *close = brace ? strrchr(buf, '}') : NULL;
            if (brace && close) {
                *brace = '\0';
                *close = '\0';
                const char *name = buf, *labels = brace + 1;
                if (strstr(name, "request") && !strstr(name, "_bucket") && !strstr(name, "_sum") &&
                    !strstr(name, "duration") && !strstr(name, "latency") && !strstr(name, "seconds") &&
                    (!strstr(name, "_count") || strstr(name, "_total")) && strstr(labels, route_part) &&
                    (strstr(labels, want1) || strstr(labels, want2)))
                    sum += strtod(close + 1, NULL);
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

static char *get_metrics(it_evfix_t *s)
{
    it_resp_t r;
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", "/metrics", NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.content_type, "text/plain"));
    assert_non_null(r.body);
    char *text = r.body;
    r.body = NULL;
    it_resp_free(&r);
    return text;
}

static void metrics_count_requests_and_latency(void **st)
{
    it_evfix_t *s = *st;
    char *before = get_metrics(s);
    double ok0 = sum_requests(before, "healthz", "200");
    double nf0 = sum_requests(before, "", "404");
    for (int i = 0; i < 3; i++) {
        it_resp_t r;
        assert_int_equal(it_api(&r, &s->fix, i == 1 ? IT_HTTP2 : IT_HTTP1, IT_NO_AUTH, "GET", "/healthz", NULL), 0);
        assert_int_equal(r.status, 200);
        it_resp_free(&r);
    }
    it_resp_t r;
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", "/v1/no-such-route", NULL), 0);
    assert_int_equal(r.status, 404);
    it_resp_free(&r);

    char *after = get_metrics(s);
    double ok1 = sum_requests(after, "healthz", "200");
    double nf1 = sum_requests(after, "", "404");
    if (ok1 < ok0 + 3 || nf1 < nf0 + 1)
        fprintf(stderr, "requests counter healthz/200 %g -> %g, */404 %g -> %g; metrics:\n%s\n", ok0, ok1, nf0, nf1, after);
    assert_true(ok1 >= ok0 + 3);
    assert_true(nf1 >= nf0 + 1);

    /* A latency histogram: a TYPE line and its buckets up to +Inf. */
    assert_non_null(strstr(after, " histogram\n"));
    assert_non_null(strstr(after, "_bucket{"));
    assert_non_null(strstr(after, "le=\"+Inf\""));
    assert_non_null(strstr(after, " counter\n"));
    free(before);
    free(after);
}

/* ------------------------------------------------------ graceful shutdown */

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one HTTP/1.1 response (headers and a Content-Length body) within @timeout_ms into @buf. Returns its length or -1. */
static ssize_t read_response(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t got = 0;
    long long deadline = it_now_ms() + timeout_ms;
    while (got < cap - 1) {
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strcasestr(buf, "\ncontent-length:");
            if (cl != NULL && cl < end && (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10) <= got)
                return (ssize_t)got;
        }
        int left = (int)(deadline - it_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0)
            return got > 0 ? (ssize_t)got : -1;
        got += (size_t)r;
    }
    return -1;
}

static void sigterm_finishes_the_request_in_flight(void **st)
{
    it_evfix_t *s = *st;
    static const char body[] = "{\"user_id\":\"u-graceful\",\"quantity\":1}";
    char head[512 + IT_AUTH_LINE_MAX], auth[IT_AUTH_LINE_MAX];
    assert_non_null(it_api_user_header(&s->fix, "u-graceful", auth));
    int hl = snprintf(head, sizeof head,
                      "POST /v1/events/gs-none/claims HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "%s\r\nContent-Length: %zu\r\n\r\n",
                      auth, sizeof body - 1);
    int fd = connect_port(s->fix.gw.http_port);
    assert_true(fd >= 0);
    send_all(fd, head, (size_t)hl);
    size_t half = (sizeof body - 1) / 2;
    send_all(fd, body, half);
    it_sleep_ms(300); /* the gateway has the headers and half the body */

    assert_int_equal(it_proc_signal(&s->fix.gw.proc, SIGTERM), 0);
    it_sleep_ms(300);
    assert_true(it_proc_alive(&s->fix.gw.proc)); /* still serving the request in flight */
    send_all(fd, body + half, sizeof body - 1 - half);

    static char resp[65536];
    ssize_t n = read_response(fd, resp, sizeof resp, 10000);
    close(fd);
    if (n < 0)
        fprintf(stderr, "no complete response after SIGTERM\n");
    assert_true(n > 0);
    resp[n] = '\0';
    assert_true(strncmp(resp, "HTTP/1.1 404 ", 13) == 0);
    assert_non_null(strcasestr(resp, "content-type: application/json"));
    const char *json = strstr(resp, "\r\n\r\n") + 4;
    assert_non_null(strstr(json, "\"not_found\""));

    int rc = it_proc_wait(&s->fix.gw.proc, IT_STOP_MS);
    if (rc != 0) {
        it_proc_log_tail(&s->fix.gw.proc, 40);
        if (rc == IT_EXIT_TIMEOUT)
            it_proc_kill(&s->fix.gw.proc);
    }
    assert_int_equal(rc, 0);

    /* Gone: both ports refuse new connections. */
    int e1 = connect_port(s->fix.gw.http_port), e2 = connect_port(s->fix.gw.port);
    if (e1 >= 0)
        close(e1);
    if (e2 >= 0)
        close(e2);
    assert_int_equal(e1, -ECONNREFUSED);
    assert_int_equal(e2, -ECONNREFUSED);
}

static int setup_short_shutdown(void **st)
{
    static const char *const env[] = {"GW_SHUTDOWN_TIMEOUT_MS=300", NULL};
    it_evfix_spec_t spec = {.env = env};
    return it_evfix_new(st, &spec);
}

/* An idle HTTP/1.1 keep-alive connection outlives the shutdown timeout (h2o
 * 2.2.5 does not close idle HTTP/1.1 connections on a shutdown request):
 * the gateway closes it and exits 0. It used to abort in h2o's context
 * dispose (a timeout list still linked), exit status 134. */
static void sigterm_closes_idle_keepalive_connections(void **st)
{
    it_evfix_t *s = *st;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = connect_port(s->fix.gw.http_port);
    assert_true(fd >= 0);
    send_all(fd, req, sizeof req - 1);
    static char resp[8192];
    ssize_t n = read_response(fd, resp, sizeof resp, 5000);
    assert_true(n > 0);
    resp[n] = '\0';
    assert_true(strncmp(resp, "HTTP/1.1 200 ", 13) == 0);

    long long t0 = it_now_ms();
    assert_int_equal(it_proc_signal(&s->fix.gw.proc, SIGTERM), 0);
    int rc = it_proc_wait(&s->fix.gw.proc, IT_STOP_MS);
    long long took = it_now_ms() - t0;
    if (rc != 0) {
        it_proc_log_tail(&s->fix.gw.proc, 40);
        if (rc == IT_EXIT_TIMEOUT)
            it_proc_kill(&s->fix.gw.proc);
    }
    assert_int_equal(rc, 0);
    /* The keep-alive timeout (10 s) did not end it: the shutdown timeout did. */
    assert_true(took < 5000);
    /* The connection was closed, not left to the kernel at exit with a half-written answer. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_true(recv(fd, resp, sizeof resp, 0) <= 0);
    close(fd);
}

/* A fresh gateway exits 0 on SIGTERM (with ASan, also: no leak at exit). */
static void sigterm_exits_zero(void **st)
{
    it_evfix_t *s = *st;
    check_healthz(s, IT_HTTP2, CURL_HTTP_VERSION_2_0);
    assert_int_equal(it_proc_stop(&s->fix.gw.proc, IT_STOP_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(healthz_answers_over_http1_and_http2, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(unknown_route_is_404_json, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(wrong_method_is_405_json, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(body_over_16k_is_413_json, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(metrics_count_requests_and_latency, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(readyz_follows_redis_down_and_back, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(sigterm_exits_zero, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(sigterm_finishes_the_request_in_flight, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(sigterm_closes_idle_keepalive_connections, setup_short_shutdown, it_evfix_free),
    };
    return cmocka_run_group_tests_name("it_server_basics", tests, it_group_setup, NULL);
}
