/*
 * it_h2_limits: what one HTTP/2 connection can make the gateway hold
 * (docs/ABUSE.md, "HTTP/2"), driven by a hostile client written on the
 * socket (lib/it_h2.h, single-stream API): streams beyond the advertised
 * 100 are refused; request bodies still arriving on one connection are
 * capped (H2_CONN_BODY_MAX), the newest streams reset first; a stream whose
 * body trickles in is cut at BODY_DEADLINE_MS, the deadline HTTP/1.1 has
 * had all along (h2o 2.2.5 re-arms HTTP/2's idle timer on every read, so
 * nothing else would). Each gateway runs with small values so the tests take
 * seconds; every wait is bounded.
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
#include "lib/it_h2.h"
#include "lib/it_ops.h"

#define H2_REFUSED_STREAM 0x7
#define H2_CANCEL 0x8
#define H2_ENHANCE_YOUR_CALM 0xb
#define BODY_CAP 65536
#define DEADLINE_MS 2000

static int group_setup(void **st)
{
    signal(SIGPIPE, SIG_IGN);
    return it_group_setup(st);
}

static int setup(void **st)
{
    static const char *const env[] = {"H2_CONN_BODY_MAX=65536", "BODY_DEADLINE_MS=2000", NULL};
    static const it_evfix_spec_t spec = {.env = env};
    return it_evfix_new(st, &spec);
}

/* The path every stream here posts to: a route that answers at once (405) without a backend. */
#define PATH "/v1/events"

/*
 * Pumps @c until the first @n streams of @sid are all answered (a status,
 * and no reset when @clean), at most 5 s. Returns how many were.
 */
static int pump_until_answered(it_h2_t *c, const uint32_t *sid, int n, int clean)
{
    long long deadline = it_now_ms() + 5000;
    int answered = 0;
    while (answered < n && it_now_ms() < deadline && it_h2_pump(c, 50) == 0) {
        answered = 0;
        for (int i = 0; i < n; i++)
            answered += it_h2_stream(c, sid[i])->status != 0 && (!clean || it_h2_stream(c, sid[i])->rst == 0);
    }
    return answered;
}

/* ---- streams ------------------------------------------------------------------ */

/*
 * h2o advertises SETTINGS_MAX_CONCURRENT_STREAMS = 100 and refuses the
 * 101st open stream with REFUSED_STREAM. The gateway relies on that bound
 * (it is what makes the body cap's stream walk short), so it is tested.
 */
static void streams_beyond_100_are_refused(void **st)
{
    it_evfix_t *s = *st;
    it_h2_t *c = it_h2_connect(s->fix.gw.http_port);
    assert_non_null(c);
    uint32_t sid[120];
    for (int i = 0; i < 120; i++)
        assert_int_not_equal(sid[i] = it_h2_open(c, "POST", PATH, 10, 0), 0); /* the body never comes (yet) */
    assert_int_equal(it_h2_pump(c, 1000), 0);
    int refused = 0, open = 0;
    for (int i = 0; i < 120; i++) {
        const it_h2_stream_t *x = it_h2_stream(c, sid[i]);
        refused += x->rst == H2_REFUSED_STREAM;
        open += x->ended_ms == 0;
    }
    if (refused != 20 || open != 100)
        fprintf(stderr, "streams: %d refused, %d open of 120\n", refused, open);
    assert_int_equal(refused, 20);
    assert_int_equal(open, 100);
    /* The 100 finish their bodies and are answered. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(it_h2_data(c, sid[i], "0123456789", 10, 1), 0);
    assert_int_equal(pump_until_answered(c, sid, 100, 0), 100);
    it_h2_close(c);
}

/* ---- buffered bodies ------------------------------------------------------------- */

/*
 * Twelve streams each send 16,000 bytes of a 16,384-byte body and stop:
 * 192,000 bytes held for bodies that are not complete. With a cap of
 * 65,536 the four oldest streams (64,000 bytes) are kept and the eight
 * newest are reset with ENHANCE_YOUR_CALM; the four then finish and are
 * answered, and /metrics counts the eight.
 */
static void conn_body_cap_resets_the_newest_streams(void **st)
{
    it_evfix_t *s = *st;
    const char *series = "tk_h2_stream_resets_total{reason=\"conn_body_max\"}";
    long long before = it_metric(&s->fix, series);
    it_h2_t *c = it_h2_connect(s->fix.gw.http_port);
    assert_non_null(c);
    static char chunk[16000];
    memset(chunk, 'x', sizeof chunk);
    uint32_t sid[12];
    for (int i = 0; i < 12; i++) {
        assert_int_not_equal(sid[i] = it_h2_open(c, "POST", PATH, 16384, 0), 0);
        assert_int_equal(it_h2_data(c, sid[i], chunk, sizeof chunk, 0), 0);
    }
    assert_int_equal(it_h2_pump(c, 1000), 0);
    int calm = 0, open = 0;
    for (int i = 0; i < 12; i++) {
        const it_h2_stream_t *x = it_h2_stream(c, sid[i]);
        calm += x->rst == H2_ENHANCE_YOUR_CALM;
        open += x->ended_ms == 0;
        if (i < 4 && x->ended_ms != 0)
            fprintf(stderr, "stream %u (one of the four oldest) ended: rst %d status %d\n", sid[i], x->rst, x->status);
    }
    fprintf(stderr, "12 streams of 16000 bytes, cap %d: %d reset (ENHANCE_YOUR_CALM), %d open\n", BODY_CAP, calm, open);
    assert_int_equal(calm, 8);
    assert_int_equal(open, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(it_h2_data(c, sid[i], chunk, 384, 1), 0);
    assert_int_equal(pump_until_answered(c, sid, 4, 0), 4);
    it_h2_close(c);
    assert_int_equal(it_metric(&s->fix, series), (before < 0 ? 0 : before) + 8);
}

/* Under the cap nothing is reset: four such streams and a fifth small one all complete. */
static void bodies_under_the_cap_are_untouched(void **st)
{
    it_evfix_t *s = *st;
    it_h2_t *c = it_h2_connect(s->fix.gw.http_port);
    assert_non_null(c);
    static char chunk[16384];
    memset(chunk, 'y', sizeof chunk);
    uint32_t sid[5];
    for (int i = 0; i < 5; i++) {
        assert_int_not_equal(sid[i] = it_h2_open(c, "POST", PATH, i < 4 ? 16000 : 100, 0), 0);
        assert_int_equal(it_h2_data(c, sid[i], chunk, i < 4 ? 15000 : 50, 0), 0);
    }
    assert_int_equal(it_h2_pump(c, 500), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(it_h2_stream(c, sid[i])->ended_ms, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(it_h2_data(c, sid[i], chunk, i < 4 ? 1000 : 50, 1), 0);
    assert_int_equal(pump_until_answered(c, sid, 5, 1), 5);
    it_h2_close(c);
}

/* ---- body deadline ----------------------------------------------------------------- */

/*
 * A stream that sends one body byte every 250 ms would never finish its
 * 100 bytes in time: it is reset (CANCEL) once BODY_DEADLINE_MS (2 s here)
 * has passed since its HEADERS, while the connection keeps serving other
 * streams and stays open.
 */
static void trickling_stream_is_cut_at_the_deadline(void **st)
{
    it_evfix_t *s = *st;
    const char *series = "tk_h2_stream_resets_total{reason=\"body_deadline\"}";
    long long before = it_metric(&s->fix, series);
    it_h2_t *c = it_h2_connect(s->fix.gw.http_port);
    assert_non_null(c);
    long long t0 = it_now_ms();
    uint32_t slow = it_h2_open(c, "POST", PATH, 100, 0);
    assert_int_not_equal(slow, 0);
    uint32_t other = 0;
    while (it_h2_stream(c, slow)->ended_ms == 0 && it_now_ms() - t0 < 5000) {
        assert_int_equal(it_h2_data(c, slow, "z", 1, 0), 0);
        if (other == 0 && it_now_ms() - t0 > 1000)
            assert_int_not_equal(other = it_h2_open(c, "GET", "/healthz", -1, 1), 0);
        if (it_h2_pump(c, 250) != 0)
            break;
    }
    const it_h2_stream_t *x = it_h2_stream(c, slow);
    long long took = x->ended_ms != 0 ? x->ended_ms - t0 : -1;
    fprintf(stderr, "trickling stream: ended after %lld ms (rst %d, status %d)\n", took, x->rst, x->status);
    assert_true(x->ended_ms != 0 && "the trickling stream was still open after 5000 ms");
    assert_int_equal(x->rst, H2_CANCEL);
    assert_true(took >= DEADLINE_MS - 100 && took <= DEADLINE_MS + 1000);
    assert_int_equal(it_h2_stream(c, other)->status, 200);
    /* The connection lives on: a new stream is answered. */
    uint32_t after = it_h2_open(c, "GET", "/healthz", -1, 1);
    long long deadline = it_now_ms() + 3000;
    while (it_h2_stream(c, after)->status == 0 && it_now_ms() < deadline && it_h2_pump(c, 50) == 0)
        ;
    assert_int_equal(it_h2_stream(c, after)->status, 200);
    it_h2_close(c);
    assert_int_equal(it_metric(&s->fix, series), (before < 0 ? 0 : before) + 1);
}

/* HTTP/1.1 takes the same setting: a request trickled one byte per 250 ms is cut (the connection closed) at 2 s. */
static void http1_takes_the_same_deadline(void **st)
{
    it_evfix_t *s = *st;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->fix.gw.http_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    static const char req[] = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    long long t0 = it_now_ms(), closed = -1;
    while (closed < 0 && it_now_ms() - t0 < 5000) {
        if (send(fd, "z", 1, MSG_NOSIGNAL) != 1) {
            closed = it_now_ms() - t0;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 250) > 0) {
            char buf[256];
            if (recv(fd, buf, sizeof buf, 0) <= 0)
                closed = it_now_ms() - t0;
        }
    }
    close(fd);
    fprintf(stderr, "HTTP/1.1 trickle: closed after %lld ms\n", closed);
    assert_true(closed >= DEADLINE_MS - 100 && closed <= DEADLINE_MS + 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(streams_beyond_100_are_refused, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(conn_body_cap_resets_the_newest_streams, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(bodies_under_the_cap_are_untouched, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(trickling_stream_is_cut_at_the_deadline, setup, it_evfix_free),
        cmocka_unit_test_setup_teardown(http1_takes_the_same_deadline, setup, it_evfix_free),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
