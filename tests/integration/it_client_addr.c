/*
 * it_client_addr: who the gateway thinks the client is, and the limits
 * keyed on it (docs/DESIGN.md, "Connections and client address"):
 * connections per address (CONN_PER_IP, across threads, released at close,
 * TRUSTED_PROXIES peers exempt), X-Forwarded-For believed only from a
 * trusted peer (its right-most untrusted hop), and the PROXY protocol line
 * honoured only from a trusted peer. The rate limit per address
 * (RATE_IP_PER_S=1, burst 3) is the witness of which address a request was
 * keyed on.
 *
 * Loopback only: the "other" client is 127.0.0.2 (Linux routes all of
 * 127/8 to lo, so a socket bound to it reaches the gateway on 127.0.0.1).
 * Requests are HTTP/1.1 on the cleartext port written on the socket, so
 * that headers, the PROXY line and the source address are the test's.
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
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/it_api.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"

#define OTHER "127.0.0.2"

static int group_setup(void **st)
{
    signal(SIGPIPE, SIG_IGN);
    return it_group_setup(st);
}

static int setup_env(void **st, const char *const *env)
{
    const it_evfix_spec_t spec = {.env = env};
    return it_evfix_new(st, &spec);
}

/* ---- raw HTTP/1.1 ------------------------------------------------------------ */

/* A connection to the gateway's port @port from @src ("127.0.0.x"), or -1. */
static int conn_from(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in from = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &from.sin_addr);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        fprintf(stderr, "connect from %s: %s\n", src, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Sends "GET @path" with @headers (CRLF-terminated lines, or "") after
 * @preface (written first, e.g. a PROXY line; or NULL) and reads one
 * response. Returns its status, or 0 when the connection closed or nothing
 * came within 3 s. The connection stays open (keep-alive) for the next.
 */
static int get(int fd, const char *preface, const char *path, const char *headers)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "%sGET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", preface != NULL ? preface : "", path, headers);
    if (send_all(fd, req, (size_t)n) != 0)
        return 0;
    char buf[8192];
    size_t got = 0;
    long long deadline = it_now_ms() + 3000;
    while (got < sizeof buf - 1) {
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            size_t want = (size_t)(end + 4 - buf) + (cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
            if (got >= want)
                return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
        }
        long long left = deadline - it_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 0;
}

/* One request on a fresh connection from @src, closed after. */
static int get_once(int port, const char *src, const char *preface, const char *path, const char *headers)
{
    int fd = conn_from(port, src);
    if (fd < 0)
        return -1;
    int status = get(fd, preface, path, headers);
    close(fd);
    return status;
}

/* ---- connections per address --------------------------------------------------- */

static int setup_conn_limit(void **st)
{
    static const char *const env[] = {"CONN_PER_IP=8", "GW_THREADS=2", NULL};
    return setup_env(st, env);
}

/*
 * Eight connections from 127.0.0.1 are served (spread over two threads);
 * the ninth is closed at accept; one closed gives its place back; 127.0.0.2
 * counts on its own. /metrics counts the refusal.
 */
static void connections_per_address_are_limited_across_threads(void **st)
{
    it_evfix_t *s = *st;
    int port = s->fix.gw.http_port;
    int fd[8];
    for (int i = 0; i < 8; i++) {
        assert_true((fd[i] = conn_from(port, "127.0.0.1")) >= 0);
        assert_int_equal(get(fd[i], NULL, "/healthz", ""), 200);
    }
    int ninth = conn_from(port, "127.0.0.1");
    assert_true(ninth >= 0);
    assert_int_equal(get(ninth, NULL, "/healthz", ""), 0); /* closed without an answer */
    close(ninth);
    /* The other address has its own eight. */
    int other[8];
    for (int i = 0; i < 8; i++) {
        assert_true((other[i] = conn_from(port, OTHER)) >= 0);
        assert_int_equal(get(other[i], NULL, "/healthz", ""), 200);
    }
    /* A place given back at close is taken again (the close is seen by the gateway within a loop turn). */
    close(fd[0]);
    int again = 0;
    for (int tries = 0; tries < 20 && again != 200; tries++) {
        it_sleep_ms(50);
        again = get_once(port, "127.0.0.1", NULL, "/healthz", "");
    }
    assert_int_equal(again, 200);
    for (int i = 1; i < 8; i++)
        close(fd[i]);
    for (int i = 0; i < 8; i++)
        close(other[i]);
    /* /metrics comes from 127.0.0.1 too: read it once the closes above have been seen. */
    long long refused = -1;
    for (int tries = 0; tries < 20 && refused < 0; tries++) {
        it_sleep_ms(50);
        refused = it_metric(&s->fix, "tk_conn_refused_total{reason=\"per_address\"}");
    }
    assert_int_equal(refused, 1);
}

/* ---- X-Forwarded-For ---------------------------------------------------------------- */

static int setup_trusted(void **st)
{
    static const char *const env[] = {"TRUSTED_PROXIES=127.0.0.1/32, ::1", "CONN_PER_IP=4", "RATE_IP_PER_S=1", "RATE_IP_BURST=3", NULL};
    return setup_env(st, env);
}

static int xff(int fd, const char *chain)
{
    char h[256];
    snprintf(h, sizeof h, "X-Forwarded-For: %s\r\n", chain);
    return get(fd, NULL, "/v1/events", h);
}

/*
 * From a trusted peer, the client is the right-most X-Forwarded-For hop
 * that is not a trusted proxy: 198.51.100.1 gets its burst of 3 and a 429;
 * a chain that ends in it (whatever a client wrote to its left, and with a
 * trusted hop to its right) is the same bucket; 198.51.100.2 is another.
 * The trusted peer itself is not held to CONN_PER_IP; an untrusted one is.
 */
static void xff_from_a_trusted_peer_keys_the_limits(void **st)
{
    it_evfix_t *s = *st;
    int port = s->fix.gw.http_port;
    int fd = conn_from(port, "127.0.0.1");
    assert_true(fd >= 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(xff(fd, "198.51.100.1"), 200);
    assert_int_equal(xff(fd, "198.51.100.1"), 429);
    assert_int_equal(xff(fd, "198.51.100.9, 198.51.100.1"), 429);     /* the left hop is the client's own word */
    assert_int_equal(xff(fd, "198.51.100.1, 127.0.0.1"), 429);        /* a trusted hop is skipped */
    assert_int_equal(xff(fd, "198.51.100.2"), 200);                   /* another client, another bucket */
    assert_int_equal(xff(fd, "198.51.100.1,198.51.100.3"), 200);      /* the right-most untrusted: .3 */
    close(fd);

    /* Ten connections from the trusted peer: none refused. */
    int many[10];
    for (int i = 0; i < 10; i++) {
        assert_true((many[i] = conn_from(port, "127.0.0.1")) >= 0);
        assert_int_equal(get(many[i], NULL, "/healthz", ""), 200);
    }
    /* An untrusted peer: four, then closed. */
    int other[4];
    for (int i = 0; i < 4; i++) {
        assert_true((other[i] = conn_from(port, OTHER)) >= 0);
        assert_int_equal(get(other[i], NULL, "/healthz", ""), 200);
    }
    assert_int_equal(get_once(port, OTHER, NULL, "/healthz", ""), 0);
    for (int i = 0; i < 10; i++)
        close(many[i]);
    for (int i = 0; i < 4; i++)
        close(other[i]);
}

/* An untrusted peer's X-Forwarded-For is ignored: a flood from 127.0.0.2 that names a new client each time is limited as one. */
static void xff_from_an_untrusted_peer_is_ignored(void **st)
{
    it_evfix_t *s = *st;
    int fd = conn_from(s->fix.gw.http_port, OTHER);
    assert_true(fd >= 0);
    char chain[64];
    int ok = 0, limited = 0;
    for (int i = 0; i < 6; i++) {
        snprintf(chain, sizeof chain, "203.0.113.%d", 10 + i);
        int st_ = xff(fd, chain);
        ok += st_ == 200;
        limited += st_ == 429;
    }
    close(fd);
    assert_int_equal(ok, 3);
    assert_int_equal(limited, 3);
}

static int setup_untrusting(void **st)
{
    static const char *const env[] = {"RATE_IP_PER_S=1", "RATE_IP_BURST=3", NULL};
    return setup_env(st, env);
}

/* Without TRUSTED_PROXIES nobody's X-Forwarded-For counts, not even loopback's. */
static void xff_is_ignored_without_trusted_proxies(void **st)
{
    xff_from_an_untrusted_peer_is_ignored(st);
    it_evfix_t *s = *st;
    int fd = conn_from(s->fix.gw.http_port, "127.0.0.1");
    assert_true(fd >= 0);
    int ok = 0;
    for (int i = 0; i < 6; i++)
        ok += xff(fd, i % 2 ? "203.0.113.50" : "203.0.113.51") == 200;
    close(fd);
    assert_int_equal(ok, 3);
}

/* ---- PROXY protocol ------------------------------------------------------------------ */

static int setup_proxy(void **st)
{
    static const char *const env[] = {"PROXY_PROTOCOL=1", "TRUSTED_PROXIES=127.0.0.1/32", "CONN_PER_IP=2", "RATE_IP_PER_S=1",
                                      "RATE_IP_BURST=3", NULL};
    return setup_env(st, env);
}

#define LINE(a) "PROXY TCP4 " a " 127.0.0.1 40000 80\r\n"

/*
 * From the trusted balancer, a PROXY line names the client: the rate limit
 * and the connection limit count 203.0.113.7, not 127.0.0.1. A connection
 * without a line keeps the balancer's address. The same line from an
 * untrusted peer is not believed: it reaches HTTP as a bad request line.
 */
static void proxy_line_from_a_trusted_peer_sets_the_address(void **st)
{
    it_evfix_t *s = *st;
    int port = s->fix.gw.http_port;
    int one = conn_from(port, "127.0.0.1");
    assert_true(one >= 0);
    assert_int_equal(get(one, LINE("203.0.113.7"), "/v1/events", ""), 200); /* the line once, then keep-alive requests */
    assert_int_equal(get(one, NULL, "/v1/events", ""), 200);
    assert_int_equal(get(one, NULL, "/v1/events", ""), 200);
    assert_int_equal(get(one, NULL, "/v1/events", ""), 429);
    close(one);
    assert_int_equal(get_once(port, "127.0.0.1", LINE("203.0.113.8"), "/v1/events", ""), 200);
    assert_int_equal(get_once(port, "127.0.0.1", NULL, "/v1/events", ""), 200); /* no line: the balancer's own bucket */

    /* CONN_PER_IP=2 counts the named client. */
    int fd[2];
    for (int i = 0; i < 2; i++) {
        assert_true((fd[i] = conn_from(port, "127.0.0.1")) >= 0);
        assert_int_equal(get(fd[i], LINE("203.0.113.20"), "/healthz", ""), 200);
    }
    assert_int_equal(get_once(port, "127.0.0.1", LINE("203.0.113.20"), "/healthz", ""), 0);
    assert_int_equal(get_once(port, "127.0.0.1", LINE("203.0.113.21"), "/healthz", ""), 200);
    for (int i = 0; i < 2; i++)
        close(fd[i]);

    /* Refused: a line from an untrusted peer, and a malformed line from the trusted one. */
    int st_ = get_once(port, OTHER, LINE("203.0.113.9"), "/healthz", "");
    fprintf(stderr, "PROXY line from an untrusted peer: status %d\n", st_);
    assert_true(st_ == 0 || st_ == 400);
    assert_int_equal(get_once(port, "127.0.0.1", "PROXY TCP4 203.0.113.9 127.0.0.1 99999 80\r\n", "/healthz", ""), 0);

    long long addr = it_metric(&s->fix, "tk_proxy_line_total{outcome=\"address\"}");
    long long refused = it_metric(&s->fix, "tk_proxy_line_total{outcome=\"refused\"}");
    assert_int_equal(refused, 1);
    assert_true(addr >= 6);
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* The line may precede TLS: libcurl's HAPROXYPROTOCOL option writes one before its ClientHello; h2o then does TLS with what followed. */
static void proxy_line_before_tls(void **st)
{
    it_evfix_t *s = *st;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", s->fix.gw.base_url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HAPROXYPROTOCOL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    assert_int_equal(status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(connections_per_address_are_limited_across_threads, setup_conn_limit, it_evfix_free),
        cmocka_unit_test_setup_teardown(xff_from_a_trusted_peer_keys_the_limits, setup_trusted, it_evfix_free),
        cmocka_unit_test_setup_teardown(xff_from_an_untrusted_peer_is_ignored, setup_trusted, it_evfix_free),
        cmocka_unit_test_setup_teardown(xff_is_ignored_without_trusted_proxies, setup_untrusting, it_evfix_free),
        cmocka_unit_test_setup_teardown(proxy_line_from_a_trusted_peer_sets_the_address, setup_proxy, it_evfix_free),
        cmocka_unit_test_setup_teardown(proxy_line_before_tls, setup_proxy, it_evfix_free),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
