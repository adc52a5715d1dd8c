/*
 * it_abuse: hostile clients. Random bytes on the TLS and the cleartext
 * port, truncated and oversized bodies and headers, invalid UTF-8, deeply
 * nested and huge JSON, a client that trickles its request one byte a
 * second, hundreds of idle connections, and the abuse limits (429
 * rate_limited with Retry-After). After each: the gateway still answers,
 * the event's books (stock, ticket sequence, claims, stream, rows) are as
 * they were, and at teardown the gateway exits 0 under the sanitizers (no
 * crash, no leak). Everything here is bounded in count and time.
 *
 * The claims carry valid user tokens (the gateway requires them): what is
 * hostile is the request, not the sender, so each case is refused for what
 * it is (a header, a body) and not as unsigned (401). Where a body names no
 * valid user the request signs for a user of its own, because the per-user
 * limit counts every signed request, whatever its body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_raw.h"
#include "lib/it_redis.h"
#include "tk_valid.h"

static void books(it_evfix_t *s, it_books_t *b)
{
    it_books_read(&s->fix, s->ev, b);
}

static void assert_books(it_evfix_t *s, const it_books_t *before, const char *what)
{
    it_books_t now;
    books(s, &now);
    assert_true(it_books_same(before, &now, what));
}

/* "Authorization: Bearer …" for @user into @out (IT_AUTH_LINE_MAX bytes); fails the test when none can be minted. */
static const char *user_auth(it_evfix_t *s, const char *user, char *out)
{
    const char *line = it_api_user_header(&s->fix, user, out);
    assert_non_null(line);
    return line;
}

/* ---- fixture -------------------------------------------------------------- */

static int group_setup(void **st)
{
    (void)st;
    signal(SIGPIPE, SIG_IGN); /* raw sockets the gateway closes under us */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return it_env() != NULL ? 0 : -1;
}

static int setup(void **st)
{
    static const it_evfix_spec_t spec = {.prefix = "hostile", .stock = 10, .max_per_user = 1, .user = "u-first"};
    return it_evfix_new(st, &spec);
}

/* 500 connections from one address: the per-address connection limit (CONN_PER_IP, tested in it_client_addr) is off here. */
static int setup_many_conns(void **st)
{
    static const char *const env[] = {"CONN_PER_IP=0", NULL};
    static const it_evfix_spec_t spec = {.prefix = "hostile", .stock = 10, .max_per_user = 1, .user = "u-first", .env = env};
    return it_evfix_new(st, &spec);
}

static int setup_limited(void **st)
{
    static const char *const env[] = {"RATE_IP_PER_S=5", "RATE_IP_BURST=10", "RATE_USER_PER_S=1", "RATE_USER_BURST=3", NULL};
    static const it_evfix_spec_t spec = {.prefix = "hostile", .stock = 10, .max_per_user = 1, .user = "u-first", .env = env};
    return it_evfix_new(st, &spec);
}

/* The gateway still serves: /healthz over both protocols, and the event. */
static void assert_serving(it_evfix_t *s)
{
    it_resp_t r;
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", "/healthz", NULL), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP2, IT_NO_AUTH, "GET", "/healthz", NULL), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, &s->fix, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", s->ev), 0);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

/* ---- raw sockets ------------------------------------------------------------ */

static unsigned int rng = 12345;

static unsigned int rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/*
 * Reads until the peer closes or @timeout_ms passes. Returns 1 when it
 * closed (EOF or reset), 0 at the deadline. The first bytes read go to
 * @buf (NUL-terminated, may be NULL).
 */
static int raw_wait_close(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t got = 0;
    long long deadline = it_now_ms() + timeout_ms;
    if (buf != NULL)
        buf[0] = '\0';
    for (;;) {
        long long left = deadline - it_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, left > 0 ? (int)left : 0);
        if (n <= 0) {
            if (left <= 0)
                return 0;
            continue;
        }
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0)
            return 1;
        if (buf != NULL && got + 1 < cap) {
            size_t k = (size_t)r < cap - 1 - got ? (size_t)r : cap - 1 - got;
            memcpy(buf + got, tmp, k);
            got += k;
            buf[got] = '\0';
        }
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void random_bytes_on_both_ports(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    static const char *const prefixes[] = {"", "GET ", "POST /v1/events/x/claims HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                                           "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"};
    for (int round = 0; round < 40; round++) {
        int port = round % 2 == 0 ? s->fix.gw.http_port : s->fix.gw.port;
        int fd = it_raw_connect(port);
        assert_true(fd >= 0);
        const char *pre = prefixes[rnd() % (sizeof prefixes / sizeof prefixes[0])];
        it_raw_send(fd, pre, strlen(pre));
        size_t n = 1 + rnd() % 9000;
        unsigned char *junk = malloc(n);
        assert_non_null(junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (unsigned char)rnd();
        it_raw_send(fd, junk, n);
        free(junk);
        if (round % 4 < 2)
            shutdown(fd, SHUT_WR); /* else the gateway's own timeouts must end it */
        char buf[256];
        /* Either a 4xx and a close, or just a close; never a success, never a hang past the timeouts. */
        int closed = raw_wait_close(fd, buf, sizeof buf, 15000);
        int status = it_raw_status(buf);
        if (!closed || (status != 0 && (status < 400 || status > 499)))
            fprintf(stderr, "round %d (port %d, %zu bytes): closed %d, status %d\n", round, port, n, closed, status);
        assert_true(closed);
        assert_true(status == 0 || (status >= 400 && status <= 499));
        close(fd);
    }
    assert_serving(s);
    assert_books(s, &before, "random bytes");
}

/* A Content-Length the client never fills, then EOF; a header far over h2o's limit; too many headers; a body far over 16 KiB announced. */
static void truncated_and_oversized_requests(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    char req[512 + IT_AUTH_LINE_MAX], auth[IT_AUTH_LINE_MAX];
    /* Truncated body: 100 announced, 20 sent, then the client half-closes. */
    int fd = it_raw_connect(s->fix.gw.http_port);
    assert_true(fd >= 0);
    int n = snprintf(req, sizeof req,
                     "POST /v1/events/%s/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\nContent-Length: 100\r\n\r\n"
                     "{\"user_id\":\"u-trunc\"",
                     s->ev, user_auth(s, "u-trunc", auth));
    it_raw_send(fd, req, (size_t)n);
    shutdown(fd, SHUT_WR);
    assert_true(raw_wait_close(fd, NULL, 0, 15000));
    close(fd);

    /* A 512 KiB header line, over h2o's request limit (H2O_MAX_REQLEN: 8 KiB + 4 KiB per header, 408 KiB): a 4xx or a close. */
    size_t hlen = 512 * 1024;
    char *big = malloc(hlen + 512);
    assert_non_null(big);
    int k = snprintf(big, 512, "GET /v1/events/%s HTTP/1.1\r\nHost: x\r\nX-Big: ", s->ev);
    memset(big + k, 'a', hlen);
    memcpy(big + k + hlen, "\r\n\r\n", 4);
    fd = it_raw_connect(s->fix.gw.http_port);
    assert_true(fd >= 0);
    it_raw_send(fd, big, (size_t)k + hlen + 4);
    char buf[256];
    assert_true(raw_wait_close(fd, buf, sizeof buf, 15000));
    int status = it_raw_status(buf);
    if (status != 0 && (status < 400 || status > 499))
        fprintf(stderr, "512 KiB header: %.200s\n", buf);
    assert_true(status == 0 || (status >= 400 && status <= 499));
    close(fd);

    /* The same header over libcurl, HTTP/1.1 and HTTP/2: no success, and the gateway lives. */
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'b', hlen - 7);
    big[hlen] = '\0';
    const char *hdrs[] = {big, user_auth(s, "u-bighdr", auth), NULL};
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/%s/claims", s->fix.gw.base_url, s->ev);
    for (int v = 1; v <= 2; v++) {
        it_resp_t r;
        it_http(&r, v == 1 ? IT_HTTP1 : IT_HTTP2, "POST", url, hdrs, "{\"user_id\":\"u-bighdr\"}", 22, IT_TIMEOUT_MS);
        if (r.status != 0 && (r.status < 400 || r.status > 499))
            fprintf(stderr, "512 KiB header over HTTP/%d: %ld %s\n", v, r.status, r.body ? r.body : "");
        assert_true(r.status == 0 || (r.status >= 400 && r.status <= 499));
        it_resp_free(&r);
    }
    /* 200 headers of 100 bytes (h2o takes 100 at most). */
    char **many = calloc(202, sizeof *many);
    assert_non_null(many);
    for (int i = 0; i < 200; i++) {
        many[i] = malloc(128);
        assert_non_null(many[i]);
        snprintf(many[i], 128, "X-H%03d: %0100d", i, 0);
    }
    char manyauth[IT_AUTH_LINE_MAX];
    many[200] = (char *)user_auth(s, "u-manyhdr", manyauth);
    it_resp_t r;
    it_http(&r, IT_HTTP1, "POST", url, (const char *const *)many, "{\"user_id\":\"u-manyhdr\"", 22, IT_TIMEOUT_MS);
    assert_true(r.status == 0 || (r.status >= 400 && r.status <= 499));
    it_resp_free(&r);
    for (int i = 0; i < 200; i++) /* many[200] is manyauth */
        free(many[i]);
    free(many);
    free(big);

    /* A huge body announced (1 GiB) and a little sent: refused or closed, never buffered whole. */
    fd = it_raw_connect(s->fix.gw.http_port);
    assert_true(fd >= 0);
    n = snprintf(req, sizeof req,
                 "POST /v1/events/%s/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\nContent-Length: 1073741824\r\n\r\n{\"user_id\":\"u-huge\",\"x\":\"",
                 s->ev, user_auth(s, "u-huge", auth));
    it_raw_send(fd, req, (size_t)n);
    assert_true(raw_wait_close(fd, buf, sizeof buf, 15000));
    status = it_raw_status(buf);
    if (status != 0 && status != 413)
        fprintf(stderr, "1 GiB announced: %.200s\n", buf);
    assert_true(status == 0 || status == 413);
    close(fd);

    assert_serving(s);
    assert_books(s, &before, "truncated and oversized requests");
}

/* Bodies with invalid UTF-8, lone surrogates, deep nesting and many fields: all 400 bad_request, over both protocols. */
static void hostile_json_is_400(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    enum { NCASES = 12 };
    char *cases[NCASES];
    int nc = 0;
    cases[nc++] = strdup("{\"user_id\":\"u-\xff\"}");
    cases[nc++] = strdup("{\"user_id\":\"u-\xc3\x28\"}");
    cases[nc++] = strdup("{\"user_id\":\"u-\xc0\xaf\"}");             /* overlong '/' */
    cases[nc++] = strdup("{\"user_id\":\"u-\xed\xa0\x80\"}");         /* an encoded surrogate */
    cases[nc++] = strdup("{\"user_id\":\"u-\\ud800\"}");              /* a lone surrogate escape */
    cases[nc++] = strdup("{\"user_id\":\"u-ok\",\"x\":\"\xf8\x88\x80\x80\x80\"}"); /* bad UTF-8 in an unknown field */
    cases[nc++] = strdup("{\"user_id\":\"u-ok\",\"quantity\":1e999}");
    static const char with_nul[] = "{\"user_id\":\"u-ok\"\x00}";
    cases[nc] = malloc(sizeof with_nul);
    assert_non_null(cases[nc]);
    memcpy(cases[nc++], with_nul, sizeof with_nul);
    /* Nested 8000 deep, under 16 KiB (jansson's limit is 2048 levels). */
    size_t depth = 8000;
    char *deep = malloc(2 * depth + 64);
    assert_non_null(deep);
    int k = sprintf(deep, "{\"user_id\":\"u-deep\",\"x\":");
    memset(deep + k, '[', depth);
    memset(deep + k + depth, ']', depth);
    strcpy(deep + k + 2 * depth, "}");
    cases[nc++] = deep;
    /* 2000 deep objects with no user; quantity 0 after them, so the whole nest is read before the refusal
     * (v1 refused the missing user_id; with a token a body without one is the token user's claim). */
    char *deepo = malloc(8 * 2000 + 64);
    assert_non_null(deepo);
    k = 0;
    for (int i = 0; i < 2000; i++)
        k += sprintf(deepo + k, "{\"a\":");
    k += sprintf(deepo + k, "1");
    for (int i = 0; i < 1999; i++) /* the outermost closes after the quantity */
        deepo[k++] = '}';
    strcpy(deepo + k, ",\"quantity\":0}");
    cases[nc++] = deepo;
    /* ~16 KiB of fields and no user_id, quantity 0 last (as above); and a user_id given twice. */
    char *wide = malloc(16384);
    assert_non_null(wide);
    k = sprintf(wide, "{");
    for (int i = 0; k < 16000; i++)
        k += sprintf(wide + k, "\"f%d\":%d,", i, i);
    strcpy(wide + k, "\"quantity\":0}");
    cases[nc++] = wide;
    cases[nc++] = strdup("{\"user_id\":\"u-a\",\"user_id\":\"u-b\"}");
    assert_int_equal(nc, NCASES);

    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/%s/claims", s->fix.gw.base_url, s->ev);
    for (int v = 1; v <= 2; v++) {
        for (int i = 0; i < nc; i++) {
            size_t len = i == 7 ? sizeof "{\"user_id\":\"u-ok\"\x00}" - 1 : strlen(cases[i]); /* case 7 carries a NUL */
            assert_true(len <= 16384);
            /* Signed for the user the body names when it names a valid one, else for one of its own. */
            char user[TK_ID_MAX + 1], auth[IT_AUTH_LINE_MAX];
            if (strcmp(it_api_user_of("", cases[i], user), IT_USER_DEFAULT) == 0)
                snprintf(user, sizeof user, "u-hostile-%d-%d", v, i);
            const char *ct[] = {"Content-Type: application/json", user_auth(s, user, auth), NULL};
            it_resp_t r;
            assert_int_equal(it_http(&r, v == 1 ? IT_HTTP1 : IT_HTTP2, "POST", url, ct, cases[i], len, IT_TIMEOUT_MS), 0);
            const char *code = it_resp_error_code(&r);
            if (r.status != 400 || code == NULL || strcmp(code, "bad_request") != 0)
                fprintf(stderr, "hostile JSON case %d over HTTP/%d: %ld %s\n", i, v, r.status, r.body ? r.body : "");
            assert_int_equal(r.status, 400);
            assert_non_null(code);
            assert_string_equal(code, "bad_request");
            it_resp_free(&r);
        }
    }
    /* An admin body with an invalid UTF-8 name. */
    it_resp_t r;
    assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events",
                            "{\"event_id\":\"hostile-utf8\",\"name\":\"caf\xc3\",\"stock\":1}"),
                     0);
    assert_int_equal(r.status, 400);
    it_resp_free(&r);
    for (int i = 0; i < nc; i++)
        free(cases[i]);
    assert_serving(s);
    assert_books(s, &before, "hostile JSON");
}

/*
 * Slow clients: one sends its body, another its headers, one byte a second.
 * h2o 2.2.5 arms http1 req_timeout once per request (it is not re-armed by
 * each read), so both must be cut off near the gateway's 10 s; meanwhile
 * the loop serves others at once (a slow client holds no thread).
 */
static void slow_clients_are_timed_out_and_hold_nothing(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    char head[512 + IT_AUTH_LINE_MAX], auth[IT_AUTH_LINE_MAX];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/events/%s/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\nContent-Length: 60\r\n\r\n",
                      s->ev, user_auth(s, "u-slow", auth));
    static const char body[] = "{\"user_id\":\"u-slow\",\"quantity\":1}                          ";
    int body_fd = it_raw_connect(s->fix.gw.http_port), hdr_fd = it_raw_connect(s->fix.gw.http_port);
    int tls_fd = it_raw_connect(s->fix.gw.port); /* a TLS client that never finishes its handshake */
    assert_true(body_fd >= 0 && hdr_fd >= 0 && tls_fd >= 0);
    it_raw_send(body_fd, head, (size_t)hn);
    it_raw_send(tls_fd, "\x16\x03\x01", 3);
    long long start = it_now_ms(), body_closed = 0, hdr_closed = 0, tls_closed = 0;
    for (int i = 0; i < 40 && (body_closed == 0 || hdr_closed == 0 || tls_closed == 0); i++) {
        if (body_closed == 0)
            it_raw_send(body_fd, body + (i % 60), 1);
        if (hdr_closed == 0)
            it_raw_send(hdr_fd, head + (i % hn), 1);
        if (i == 2) {
            /* While they trickle, others are served at once. */
            long long t0 = it_now_ms();
            it_resp_t r;
            assert_int_equal(it_apif(&r, &s->fix, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", s->ev), 0);
            assert_int_equal(r.status, 200);
            it_resp_free(&r);
            assert_true(it_now_ms() - t0 < 2000);
        }
        int *fds[3] = {&body_fd, &hdr_fd, &tls_fd};
        long long *when[3] = {&body_closed, &hdr_closed, &tls_closed};
        long long tick = it_now_ms() + 1000;
        for (int j = 0; j < 3; j++) {
            long long left = tick - it_now_ms();
            if (*when[j] == 0 && raw_wait_close(*fds[j], NULL, 0, left > 0 ? (int)(left / (3 - j)) : 0))
                *when[j] = it_now_ms() - start;
        }
        while (it_now_ms() < tick)
            it_sleep_ms(10);
    }
    fprintf(stderr, "slow clients cut off after: body %lld ms, headers %lld ms, TLS handshake %lld ms\n", body_closed, hdr_closed,
            tls_closed);
    assert_true(body_closed > 0 && body_closed < 20000);
    assert_true(hdr_closed > 0 && hdr_closed < 20000);
    assert_true(tls_closed > 0 && tls_closed < 20000);
    close(body_fd);
    close(hdr_fd);
    close(tls_fd);
    assert_serving(s);
    assert_books(s, &before, "slow clients");
}

/* 500 connections opened and left idle (400 cleartext, 100 TLS): others are still served, and the gateway closes them all within its timeouts. */
static void idle_connections_are_served_around_and_closed(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    enum { NIDLE = 500 };
    int *fds = calloc(NIDLE, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < NIDLE; i++) {
        fds[i] = it_raw_connect(i % 5 == 4 ? s->fix.gw.port : s->fix.gw.http_port);
        assert_true(fds[i] >= 0);
    }
    assert_serving(s);
    it_resp_t r;
    assert_int_equal(it_apif(&r, &s->fix, IT_USER, "POST", "{\"user_id\":\"u-idle\"}", "/v1/events/%s/claims", s->ev), 0);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
    books(s, &before); /* that claim was meant to change them */
    long long start = it_now_ms();
    int open = NIDLE;
    while (open > 0 && it_now_ms() - start < 25000) {
        for (int i = 0; i < NIDLE; i++) {
            if (fds[i] >= 0 && raw_wait_close(fds[i], NULL, 0, 0)) {
                close(fds[i]);
                fds[i] = -1;
                open--;
            }
        }
        if (open > 0)
            it_sleep_ms(200);
    }
    fprintf(stderr, "idle connections: %d of %d still open after %lld ms\n", open, NIDLE, it_now_ms() - start);
    for (int i = 0; i < NIDLE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    assert_int_equal(open, 0);
    assert_serving(s);
    assert_books(s, &before, "idle connections");
}

/* Random JSON-ish bodies of random sizes (up to 20 KiB: some over the limit) over keep-alive connections: only 400 or 413. */
static void random_bodies_get_400_or_413(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    enum { N = 60 };
    it_multi_req_t *mr = calloc(N, sizeof *mr);
    char **bodies = calloc(N, sizeof *bodies);
    assert_non_null(mr);
    assert_non_null(bodies);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/%s/claims", s->fix.gw.base_url, s->ev);
    static const char alphabet[] = "{}[]\":,0123456789.eE+-truefalsnul\\u user_id quantity \xc3\xff\x80";
    for (int i = 0; i < N; i++) {
        size_t len = 1 + rnd() % 20480;
        bodies[i] = malloc(len + 1);
        assert_non_null(bodies[i]);
        for (size_t j = 0; j < len; j++)
            bodies[i][j] = alphabet[rnd() % (sizeof alphabet - 1)];
        bodies[i][len] = '\0';
        mr[i].method = "POST";
        mr[i].url = url;
        mr[i].body = bodies[i];
    }
    /* Each signed for a user of its own (a body that names one is as rare as a valid random body). */
    char(*auths)[IT_AUTH_LINE_MAX] = calloc(N, sizeof *auths);
    const char *(*hdrs)[2] = calloc(N, sizeof *hdrs);
    assert_non_null(auths);
    assert_non_null(hdrs);
    for (int i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof user, "u-random-%d", i);
        hdrs[i][0] = user_auth(s, user, auths[i]);
        mr[i].headers = hdrs[i];
    }
    assert_int_equal(it_http_multi(mr, N, 4, IT_HTTP2, 60000), N);
    free(hdrs);
    free(auths);
    for (int i = 0; i < N; i++) {
        const char *code = it_resp_error_code(&mr[i].resp);
        int ok = (mr[i].resp.status == 400 && code != NULL && strcmp(code, "bad_request") == 0) ||
                 (mr[i].resp.status == 413 && strlen(bodies[i]) > 16384);
        if (!ok)
            fprintf(stderr, "random body %d (%zu bytes): %ld %s\n", i, strlen(bodies[i]), mr[i].resp.status,
                    mr[i].resp.body ? mr[i].resp.body : "");
        assert_true(ok);
        it_resp_free(&mr[i].resp);
        free(bodies[i]);
    }
    free(bodies);
    free(mr);
    assert_serving(s);
    assert_books(s, &before, "random bodies");
}

/* ---- abuse limits (gateway started with RATE_IP_PER_S=5, burst 10; RATE_USER_PER_S=1, burst 3) ---- */

/*
 * The per-user limit keys on the verified user (the token's sub), not on the
 * user a request names: in v1 a client naming a victim 40 times a second
 * locked the victim out. Here u-mallory asks for u-look's claim four times:
 * 403 thrice (another user's claim), then 429 from u-mallory's own bucket
 * (burst 3). u-look then has its whole burst: three lookups answered 404.
 * Keyed on the named user, u-look's first lookup would be 429; with no
 * limit, u-mallory's fourth would be 403. (The fixture's per-address limit,
 * burst 10, holds these 2 + 7 requests.)
 */
static void per_user_limit_is_429_with_retry_after(void **st)
{
    it_evfix_t *s = *st;
    it_books_t before;
    books(s, &before);
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims/u-look", s->ev);
    for (int i = 0; i < 4; i++) {
        it_resp_t r;
        assert_int_equal(it_api_as(&r, &s->fix, IT_HTTP1, "u-mallory", "GET", path, NULL), 0);
        if (i < 3) {
            assert_int_equal(r.status, 403);
            assert_string_equal(it_resp_error_code(&r), "forbidden");
        } else {
            assert_int_equal(r.status, 429);
            assert_string_equal(it_resp_error_code(&r), "rate_limited");
            assert_string_equal(r.retry_after, "1");
        }
        it_resp_free(&r);
    }
    /* The user named was not spent: its own three lookups pass. */
    for (int i = 0; i < 3; i++) {
        it_resp_t r;
        assert_int_equal(it_apif(&r, &s->fix, IT_USER, "GET", NULL, "/v1/events/%s/claims/u-look", s->ev), 0);
        if (r.status != 404)
            it_show("u-look's own lookup after u-mallory's", &r);
        assert_int_equal(r.status, 404);
        it_resp_free(&r);
    }
    /* A second later u-mallory has a token again (and is still not u-look). */
    it_sleep_ms(1100);
    it_resp_t r;
    assert_int_equal(it_api_as(&r, &s->fix, IT_HTTP1, "u-mallory", "GET", path, NULL), 0);
    assert_int_equal(r.status, 403);
    it_resp_free(&r);
    assert_books(s, &before, "per-user limit");
}

static void per_address_limit_is_429_but_ops_routes_pass(void **st)
{
    it_evfix_t *s = *st;
    it_sleep_ms(2100); /* the setup's requests refilled */
    it_books_t before;
    books(s, &before);
    int ok = 0, limited = 0;
    long long t0 = it_now_ms();
    for (int i = 0; i < 30; i++) {
        it_resp_t r;
        assert_int_equal(it_api(&r, &s->fix, i % 2 ? IT_HTTP2 : IT_HTTP1, IT_NO_AUTH, "GET", "/v1/events", NULL), 0);
        if (r.status == 200) {
            ok++;
        } else {
            assert_int_equal(r.status, 429);
            assert_string_equal(it_resp_error_code(&r), "rate_limited");
            assert_string_equal(r.retry_after, "1");
            limited++;
        }
        it_resp_free(&r);
    }
    fprintf(stderr, "per-address limit (5/s, burst 10): %d passed, %d refused in %lld ms\n", ok, limited, it_now_ms() - t0);
    assert_true(ok >= 10 && ok <= 22);
    assert_true(limited >= 8);
    /* Claims from the limited address are refused before they touch anything. (A token may
     * arrive between the last refusal and the claim: then the claim is served, and we try again.) */
    it_resp_t r;
    int refused_claim = 0;
    for (int attempt = 0; attempt < 20 && !refused_claim; attempt++) {
        for (int i = 0; i < 20; i++) {
            assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", "/v1/events", NULL), 0);
            long got = r.status;
            it_resp_free(&r);
            if (got == 429)
                break;
        }
        books(s, &before);
        char body[64];
        snprintf(body, sizeof body, "{\"user_id\":\"u-flood-%d\"}", attempt);
        assert_int_equal(it_apif(&r, &s->fix, IT_USER, "POST", body, "/v1/events/%s/claims", s->ev), 0);
        assert_true(r.status == 429 || r.status == 201);
        if (r.status == 429) {
            assert_string_equal(it_resp_error_code(&r), "rate_limited");
            refused_claim = 1;
        }
        it_resp_free(&r);
    }
    assert_true(refused_claim);
    assert_books(s, &before, "a claim over the per-address limit");
    /* Load balancers and operators are never limited. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(it_api(&r, &s->fix, IT_HTTP1, IT_NO_AUTH, "GET", i % 2 ? "/healthz" : "/metrics", NULL), 0);
        assert_int_equal(r.status, 200);
        it_resp_free(&r);
    }
    assert_books(s, &before, "per-address limit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(random_bytes_on_both_ports, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(truncated_and_oversized_requests, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(hostile_json_is_400, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(random_bodies_get_400_or_413, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(slow_clients_are_timed_out_and_hold_nothing, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(idle_connections_are_served_around_and_closed, setup_many_conns, it_evfix_free),
        cmocka_unit_test_setup_teardown(per_user_limit_is_429_with_retry_after, setup_limited, it_evfix_free),
        cmocka_unit_test_setup_teardown(per_address_limit_is_429_but_ops_routes_pass, setup_limited, it_evfix_free),
    };
    return cmocka_run_group_tests_name("it_abuse", tests, group_setup, NULL);
}
