/*
 * it_edge: the gateway's edge as a client on the network meets it
 * (docs/DESIGN.md, "Edge hardening (TLS, headers)").
 *
 * TLS, with OpenSSL's client API so the test chooses exactly what is
 * offered: TLS 1.0 and 1.1 refused; CBC suites refused; the server's cipher
 * order wins over a client offering the reverse (TLS 1.2 and 1.3); a
 * session ticket resumes, and stops resuming once the ring has rotated past
 * its key (TLS_TICKET_ROTATE_S=1), an older but kept key asking for a
 * renewed ticket on the way; a session id alone (no ticket) does not resume.
 *
 * The cleartext port: every /v1/admin… path answers the 404 of an unknown
 * route there, with a valid admin token, changing nothing, also over
 * HTTP/2 with a client that claims ":scheme: https"; ADMIN_ON_HTTP=1 serves
 * them; the start line says which.
 *
 * The security headers on a page and on API answers, over both ports and
 * both HTTP versions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_redis.h"

static int setup_plain(void **st)
{
    return it_evfix_new(st, NULL);
}

static int setup_event(void **st)
{
    static const it_evfix_spec_t spec = {.prefix = "edge", .stock = 10, .max_per_user = 1, .user = "u-1"};
    return it_evfix_new(st, &spec);
}

static int setup_admin_on_http(void **st)
{
    static const char *const env[] = {"ADMIN_ON_HTTP=1", NULL};
    static const it_evfix_spec_t spec = {.prefix = "edgeon", .stock = 10, .max_per_user = 1, .user = "u-1", .env = env};
    return it_evfix_new(st, &spec);
}

static int setup_fast_rotation(void **st)
{
    static const char *const env[] = {"TLS_TICKET_ROTATE_S=1", NULL};
    static const it_evfix_spec_t spec = {.env = env};
    return it_evfix_new(st, &spec);
}

/* ------------------------------------------------------------------ TLS */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0}; /* every read and write of these tests is bounded */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What the client offers. */
typedef struct {
    int min, max;          /* protocol versions */
    const char *ciphers;   /* TLS 1.2 and below, or NULL */
    const char *suites;    /* TLS 1.3, or NULL */
    int no_ticket;         /* SSL_OP_NO_TICKET: resume by session id only */
    SSL_SESSION *resume;   /* offered for resumption, or NULL */
} offer_t;

typedef struct {
    int ok;                /* the handshake completed */
    char cipher[64];
    char version[16];
    int reused;            /* SSL_session_reused */
    SSL_SESSION *session;  /* SSL_get1_session after the exchange; the caller frees */
} result_t;

/*
 * One connection to the HTTPS port with @o; when the handshake completes,
 * one HTTP/1.1 request (so TLS 1.3 tickets, sent after the handshake,
 * arrive) and the session kept. The client allows every version at
 * security level 0, so a refusal is the server's.
 */
static void tls_try(int port, const offer_t *o, result_t *res)
{
    memset(res, 0, sizeof *res);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    SSL_CTX_set_security_level(cctx, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(cctx, o->min), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, o->max), 1);
    if (o->ciphers != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(cctx, o->ciphers), 1);
    if (o->suites != NULL)
        assert_int_equal(SSL_CTX_set_ciphersuites(cctx, o->suites), 1);
    if (o->no_ticket)
        SSL_CTX_set_options(cctx, SSL_OP_NO_TICKET);
    /* h2o closes after "Connection: close" without a close_notify; OpenSSL
     * would call that a truncation and mark the session not resumable. */
    SSL_CTX_set_options(cctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    int fd = tcp_connect(port);
    assert_true(fd >= 0);
    SSL *ssl = SSL_new(cctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (o->resume != NULL)
        assert_int_equal(SSL_set_session(ssl, o->resume), 1);
    if (SSL_connect(ssl) == 1) {
        res->ok = 1;
        snprintf(res->cipher, sizeof res->cipher, "%s", SSL_get_cipher_name(ssl));
        snprintf(res->version, sizeof res->version, "%s", SSL_get_version(ssl));
        res->reused = SSL_session_reused(ssl);
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        assert_int_equal(SSL_write(ssl, req, (int)sizeof req - 1), (int)sizeof req - 1);
        char buf[4096];
        int total = 0, n;
        for (int i = 0; i < 100 && (n = SSL_read(ssl, buf, sizeof buf)) > 0; i++) /* bounded: the socket times out too */
            total += n;
        assert_true(total > 0);
        res->session = SSL_get1_session(ssl);
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(cctx);
}

static void tls_versions_below_1_2_refused(void **st)
{
    it_evfix_t *s = *st;
    static const struct {
        int version;
        const char *name;
    } old[] = {{TLS1_VERSION, "TLS 1.0"}, {TLS1_1_VERSION, "TLS 1.1"}};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        offer_t o = {old[i].version, old[i].version, "ALL:@SECLEVEL=0", NULL, 0, NULL};
        result_t r;
        tls_try(s->fix.gw.port, &o, &r);
        if (r.ok)
            fprintf(stderr, "%s accepted: %s %s\n", old[i].name, r.version, r.cipher);
        assert_false(r.ok);
    }
    /* The same client at 1.2 gets in: the refusals above were the version's. */
    offer_t o = {TLS1_VERSION, TLS1_2_VERSION, "ALL:@SECLEVEL=0", NULL, 0, NULL};
    result_t r;
    tls_try(s->fix.gw.port, &o, &r);
    assert_true(r.ok);
    assert_string_equal(r.version, "TLSv1.2");
    SSL_SESSION_free(r.session);
}

static void tls_cbc_and_sha1_suites_refused(void **st)
{
    it_evfix_t *s = *st;
    /* The suites the certificate (ECDSA P-256) could otherwise carry. */
    static const char *const weak[] = {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
                                       "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-CCM", "ECDHE-ECDSA-ARIA128-GCM-SHA256"};
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
        offer_t o = {TLS1_2_VERSION, TLS1_2_VERSION, weak[i], NULL, 0, NULL};
        result_t r;
        tls_try(s->fix.gw.port, &o, &r);
        if (r.ok)
            fprintf(stderr, "weak suite %s accepted\n", weak[i]);
        assert_false(r.ok);
    }
}

static void tls_server_cipher_order_wins(void **st)
{
    it_evfix_t *s = *st;
    /* The reverse of the server's order: without server preference the
     * client's first (ChaCha20) would be chosen. */
    offer_t o12 = {TLS1_2_VERSION, TLS1_2_VERSION,
                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256", NULL, 0, NULL};
    result_t r;
    tls_try(s->fix.gw.port, &o12, &r);
    assert_true(r.ok);
    assert_string_equal(r.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
    SSL_SESSION_free(r.session);

    /* TLS 1.3: OpenSSL's server order is AES-256-GCM, ChaCha20, AES-128-GCM. */
    offer_t o13 = {TLS1_3_VERSION, TLS1_3_VERSION, NULL, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384", 0,
                   NULL};
    tls_try(s->fix.gw.port, &o13, &r);
    assert_true(r.ok);
    assert_string_equal(r.version, "TLSv1.3");
    assert_string_equal(r.cipher, "TLS_AES_256_GCM_SHA384");
    SSL_SESSION_free(r.session);
}

/* The name of the key that encrypted @sess's ticket (its first 16 bytes, OpenSSL's ticket layout), hex; "" when none. */
static void ticket_key(const SSL_SESSION *sess, char out[33])
{
    const unsigned char *t = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (sess == NULL)
        return;
    SSL_SESSION_get0_ticket(sess, &t, &len);
    if (t == NULL || len < 16)
        return;
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", t[i]);
}

/* Fresh TLS 1.2 handshakes until the server's ticket key differs from @key (a rotation just happened); bounded. */
static void wait_rotation(int port, const char *key, char now_key[33])
{
    long long deadline = it_now_ms() + 5000;
    for (;;) {
        offer_t o = {TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL, 0, NULL};
        result_t r;
        tls_try(port, &o, &r);
        assert_true(r.ok);
        ticket_key(r.session, now_key);
        SSL_SESSION_free(r.session);
        assert_true(now_key[0] != '\0');
        if (strcmp(now_key, key) != 0)
            return;
        if (it_now_ms() >= deadline)
            fail_msg("the ticket key did not rotate within 5 s (TLS_TICKET_ROTATE_S=1)");
        it_sleep_ms(50);
    }
}

static void tls_ticket_resumes_until_rotated_out(void **st)
{
    it_evfix_t *s = *st;
    int port = s->fix.gw.port;
    char k0[33], k1[33], k2[33], kr[33];

    /* Right after a rotation, so the steps below each have most of a period. */
    offer_t o = {TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL, 0, NULL};
    result_t first;
    tls_try(port, &o, &first);
    assert_true(first.ok);
    ticket_key(first.session, k0);
    assert_true(k0[0] != '\0');
    SSL_SESSION_free(first.session);
    char start[33];
    wait_rotation(port, k0, start);

    result_t a;
    tls_try(port, &o, &a);
    assert_true(a.ok);
    assert_false(a.reused);
    ticket_key(a.session, k1);

    /* Resumes with the current key; the session keeps its ticket. */
    result_t r;
    o.resume = a.session;
    tls_try(port, &o, &r);
    assert_true(r.ok);
    assert_true(r.reused);
    SSL_SESSION_free(r.session);

    /* One rotation later the key is the previous one: still resumes, and the
     * server hands out a renewed ticket under the new key. */
    wait_rotation(port, k1, k2);
    tls_try(port, &o, &r);
    assert_true(r.ok);
    if (!r.reused)
        fprintf(stderr, "a ticket of the previous key (%s, current %s) did not resume\n", k1, k2);
    assert_true(r.reused);
    ticket_key(r.session, kr);
    assert_string_equal(kr, k2);
    SSL_SESSION_free(r.session);

    /* Two rotations later its key is gone: a full handshake. */
    char k3[33];
    wait_rotation(port, k2, k3);
    tls_try(port, &o, &r);
    assert_true(r.ok);
    if (r.reused)
        fprintf(stderr, "a ticket of key %s resumed after two rotations (current %s)\n", k1, k3);
    assert_false(r.reused);
    SSL_SESSION_free(r.session);
    SSL_SESSION_free(a.session);

    /* TLS 1.3 resumes through the same tickets. */
    offer_t o13 = {TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL, 0, NULL};
    result_t b;
    tls_try(port, &o13, &b);
    assert_true(b.ok);
    assert_non_null(b.session);
    o13.resume = b.session;
    tls_try(port, &o13, &r);
    assert_true(r.ok);
    assert_true(r.reused);
    SSL_SESSION_free(r.session);
    SSL_SESSION_free(b.session);
}

static void tls_session_id_alone_does_not_resume(void **st)
{
    it_evfix_t *s = *st;
    /* Under the default one-hour rotation a ticket does resume ... */
    offer_t o = {TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL, 0, NULL};
    result_t a, r;
    tls_try(s->fix.gw.port, &o, &a);
    assert_true(a.ok);
    o.resume = a.session;
    tls_try(s->fix.gw.port, &o, &r);
    assert_true(r.reused);
    SSL_SESSION_free(r.session);
    SSL_SESSION_free(a.session);

    /* ... but a client without tickets has nothing the server remembers. */
    offer_t n = {TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL, 1, NULL};
    tls_try(s->fix.gw.port, &n, &a);
    assert_true(a.ok);
    assert_non_null(a.session);
    n.resume = a.session;
    tls_try(s->fix.gw.port, &n, &r);
    assert_true(r.ok);
    assert_false(r.reused);
    SSL_SESSION_free(r.session);
    SSL_SESSION_free(a.session);
}

/* ------------------------------------------------------ the cleartext port */

/* Everything an admin request could change. */
typedef struct {
    it_books_t books;
    long long total, events, db_events, db_total;
    char state[16];
} snap_t;

static void snap(it_evfix_t *s, snap_t *p)
{
    memset(p, 0, sizeof *p);
    it_books_read(&s->fix, s->ev, &p->books);
    p->total = it_redis_ev_int(s->fix.redis, s->ev, "total", -1);
    redisReply *r = redisCommand(s->fix.redis, "HGET tk:{%s}:ev state", s->ev);
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(p->state, sizeof p->state, "%s", r->str);
    if (r != NULL)
        freeReplyObject(r);
    r = redisCommand(s->fix.redis, "SCARD tk:events");
    p->events = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != NULL)
        freeReplyObject(r);
    p->db_events = it_db_int(s->fix.db, -1, "SELECT COUNT(*) FROM events");
    p->db_total = it_db_int(s->fix.db, -1, "SELECT total FROM event_stock WHERE event_id = '%s'", s->ev);
}

typedef struct {
    const char *method;
    char path[160];
    const char *body;
} admin_req_t;

/* Every admin route (each one valid and, over HTTPS, effective), and two admin paths no route has. */
static size_t admin_requests(const char *ev, admin_req_t out[8])
{
    size_t n = 0;
    out[n] = (admin_req_t){"POST", "/v1/admin/events",
                           "{\"event_id\":\"edge-new\",\"name\":\"new\",\"stock\":5,\"max_per_user\":1}"};
    n++;
    out[n] = (admin_req_t){"GET", "", NULL};
    snprintf(out[n++].path, sizeof out[0].path, "/v1/admin/events/%s", ev);
    out[n] = (admin_req_t){"POST", "", "{\"delta\":5}"};
    snprintf(out[n++].path, sizeof out[0].path, "/v1/admin/events/%s/stock", ev);
    out[n] = (admin_req_t){"POST", "", "{\"state\":\"paused\"}"};
    snprintf(out[n++].path, sizeof out[0].path, "/v1/admin/events/%s/state", ev);
    out[n] = (admin_req_t){"DELETE", "", NULL};
    snprintf(out[n++].path, sizeof out[0].path, "/v1/admin/events/%s/claims/u-1", ev);
    out[n++] = (admin_req_t){"GET", "/v1/admin/events", NULL}; /* a 405 over HTTPS */
    out[n++] = (admin_req_t){"GET", "/v1/admin", NULL};
    out[n++] = (admin_req_t){"GET", "/v1/admin/nope", NULL};
    return n;
}

static long send_admin(it_evfix_t *s, const char *base, it_http_ver_t ver, const admin_req_t *a, it_resp_t *r)
{
    char url[256], auth[128];
    const char *headers[] = {it_api_auth_header(&s->fix, IT_ADMIN, auth), "Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s%s", base, a->path);
    assert_int_equal(it_http(r, ver, a->method, url, headers, a->body, a->body ? strlen(a->body) : 0, IT_TIMEOUT_MS), 0);
    return r->status;
}

/* A raw cleartext HTTP/2 GET of @path claiming ":scheme: https"; the answer's status (0: none within 5 s). */
static int h2c_get_claiming_https(int port, const char *path)
{
    int fd = tcp_connect(port);
    assert_true(fd >= 0);
    unsigned char out[512];
    size_t n = 0;
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    memcpy(out, preface, sizeof preface - 1);
    n += sizeof preface - 1;
    static const unsigned char settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    memcpy(out + n, settings, sizeof settings);
    n += sizeof settings;
    unsigned char hb[256];
    size_t h = 0, plen = strlen(path);
    assert_true(plen < 127);
    hb[h++] = 0x82; /* :method GET */
    hb[h++] = 0x87; /* :scheme https (static 7): what a client on this port may claim */
    hb[h++] = 0x04; /* :path, literal without indexing */
    hb[h++] = (unsigned char)plen;
    memcpy(hb + h, path, plen);
    h += plen;
    hb[h++] = 0x01; /* :authority */
    hb[h++] = 9;
    memcpy(hb + h, "127.0.0.1", 9);
    h += 9;
    unsigned char fh[9] = {0, 0, (unsigned char)h, 1, 0x05, 0, 0, 0, 1}; /* HEADERS, END_STREAM | END_HEADERS, stream 1 */
    memcpy(out + n, fh, 9);
    n += 9;
    memcpy(out + n, hb, h);
    n += h;
    assert_int_equal(write(fd, out, n), (ssize_t)n);

    static const int static_status[] = {200, 204, 206, 304, 400, 404, 500}; /* HPACK static 8..14 */
    unsigned char buf[16384];
    size_t have = 0;
    int status = 0;
    long long deadline = it_now_ms() + 5000;
    while (status == 0 && it_now_ms() < deadline) {
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got <= 0)
            break;
        have += (size_t)got;
        while (have >= 9) {
            size_t len = ((size_t)buf[0] << 16) | ((size_t)buf[1] << 8) | buf[2];
            if (have < 9 + len)
                break;
            unsigned stream = ((unsigned)(buf[5] & 0x7f) << 24) | ((unsigned)buf[6] << 16) | ((unsigned)buf[7] << 8) | buf[8];
            if (buf[3] == 1 && stream == 1 && len > 0) {
                unsigned char b0 = buf[9];
                if (b0 >= 0x88 && b0 <= 0x8e)
                    status = static_status[b0 - 0x88];
                else if ((b0 == 0x48 || b0 == 0x08 || b0 == 0x18) && len >= 5 && buf[10] == 3)
                    status = (buf[11] - '0') * 100 + (buf[12] - '0') * 10 + (buf[13] - '0');
                else
                    status = -1; /* a :status this parser does not read */
            }
            memmove(buf, buf + 9 + len, have - 9 - len);
            have -= 9 + len;
        }
    }
    close(fd);
    return status;
}

static void admin_routes_are_404_on_the_cleartext_port(void **st)
{
    it_evfix_t *s = *st;
    admin_req_t reqs[8];
    size_t n = admin_requests(s->ev, reqs);

    /* What an unknown route looks like there: the answer to match. */
    it_resp_t unknown;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/nope", s->fix.gw.http_base);
    assert_int_equal(it_http(&unknown, IT_HTTP1, "GET", url, NULL, NULL, 0, IT_TIMEOUT_MS), 0);
    assert_int_equal(unknown.status, 404);

    snap_t before, after;
    snap(s, &before);
    for (size_t i = 0; i < n; i++) {
        it_resp_t r;
        send_admin(s, s->fix.gw.http_base, IT_HTTP1, &reqs[i], &r);
        if (r.status != 404 || r.body == NULL || strcmp(r.body, unknown.body) != 0)
            fprintf(stderr, "cleartext %s %s: %ld %s\n", reqs[i].method, reqs[i].path, r.status, r.body ? r.body : r.errbuf);
        assert_int_equal(r.status, 404);
        assert_string_equal(it_resp_error_code(&r), "not_found");
        assert_string_equal(r.body, unknown.body); /* nothing tells it apart from a route that does not exist */
        assert_string_equal(r.content_type, unknown.content_type);
        it_resp_free(&r);
    }
    it_resp_free(&unknown);
    snap(s, &after);
    assert_true(it_books_same(&before.books, &after.books, "admin on the cleartext port"));
    assert_int_equal(after.total, before.total);
    assert_string_equal(after.state, before.state);
    assert_int_equal(after.events, before.events);
    assert_int_equal(after.db_events, before.db_events);
    assert_int_equal(after.db_total, before.db_total);

    /* A cleartext HTTP/2 client naming the scheme https is still on the
     * cleartext port: 404, not the 401 of an admin route missing its token. */
    char path[160];
    snprintf(path, sizeof path, "/v1/admin/events/%s", s->ev);
    assert_int_equal(h2c_get_claiming_https(s->fix.gw.http_port, path), 404);
    /* The raw client itself reads answers: a public route is 200. */
    snprintf(path, sizeof path, "/v1/events/%s", s->ev);
    assert_int_equal(h2c_get_claiming_https(s->fix.gw.http_port, path), 200);

    /* The same requests over HTTPS are served: the view answers, the stock moves. */
    it_resp_t r;
    assert_int_equal(send_admin(s, s->fix.gw.base_url, IT_HTTP1, &reqs[1], &r), 200);
    it_resp_free(&r);
    assert_int_equal(send_admin(s, s->fix.gw.base_url, IT_HTTP2, &reqs[2], &r), 200);
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(s->fix.redis, s->ev, "total", -1), before.total + 5);

    /* The start line said so. */
    char line[512];
    it_log_grep(s->fix.gw.proc.log_path, "cleartext HTTP on", line, sizeof line);
    if (strstr(line, "no admin routes") == NULL)
        fprintf(stderr, "start line: '%s'\n", line);
    assert_non_null(strstr(line, "no admin routes"));
}

static void admin_routes_served_on_cleartext_when_allowed(void **st)
{
    it_evfix_t *s = *st;
    admin_req_t reqs[8];
    admin_requests(s->ev, reqs);
    long long total = it_redis_ev_int(s->fix.redis, s->ev, "total", -1);
    it_resp_t r;
    assert_int_equal(send_admin(s, s->fix.gw.http_base, IT_HTTP1, &reqs[1], &r), 200);
    it_resp_free(&r);
    assert_int_equal(send_admin(s, s->fix.gw.http_base, IT_HTTP1, &reqs[2], &r), 200);
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(s->fix.redis, s->ev, "total", -1), total + 5);
    /* The token is still required there. */
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->fix.gw.http_base, reqs[1].path);
    assert_int_equal(it_http(&r, IT_HTTP1, "GET", url, NULL, NULL, 0, IT_TIMEOUT_MS), 0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);

    char line[512];
    it_log_grep(s->fix.gw.proc.log_path, "cleartext HTTP on", line, sizeof line);
    if (strstr(line, "ADMIN_ON_HTTP=1") == NULL)
        fprintf(stderr, "start line: '%s'\n", line);
    assert_non_null(strstr(line, "serves the admin routes too (ADMIN_ON_HTTP=1)"));
}

/* ------------------------------------------------------ security headers */

typedef struct {
    char hsts[128], csp[256], xfo[32], nosniff[32], referrer[32], type[64];
    long status;
} sec_t;

static void copy_value(char *dst, size_t cap, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    snprintf(dst, cap, "%.*s", (int)len, v);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
    sec_t *h = arg;
    size_t len = size * nitems;
    static const struct {
        const char *name;
        size_t off, cap;
    } want[] = {
        {"strict-transport-security:", offsetof(sec_t, hsts), sizeof(((sec_t *)0)->hsts)},
        {"content-security-policy:", offsetof(sec_t, csp), sizeof(((sec_t *)0)->csp)},
        {"x-frame-options:", offsetof(sec_t, xfo), sizeof(((sec_t *)0)->xfo)},
        {"x-content-type-options:", offsetof(sec_t, nosniff), sizeof(((sec_t *)0)->nosniff)},
        {"referrer-policy:", offsetof(sec_t, referrer), sizeof(((sec_t *)0)->referrer)},
        {"content-type:", offsetof(sec_t, type), sizeof(((sec_t *)0)->type)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t nl = strlen(want[i].name);
        if (len >= nl && strncasecmp(line, want[i].name, nl) == 0)
            copy_value((char *)h + want[i].off, want[i].cap, line + nl, len - nl);
    }
    return len;
}

static size_t discard(char *p, size_t size, size_t nitems, void *arg)
{
    (void)p, (void)arg;
    return size * nitems;
}

static void get_headers(const char *url, long httpver, sec_t *h)
{
    memset(h, 0, sizeof *h);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, httpver);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)IT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s: %s\n", url, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_easy_cleanup(c);
}

/* The headers every answer carries, on either port. */
static void check_common(const char *what, const sec_t *h)
{
    if (strcmp(h->nosniff, "nosniff") != 0 || strcmp(h->xfo, "DENY") != 0 || strcmp(h->referrer, "no-referrer") != 0 ||
        strstr(h->csp, "frame-ancestors 'none'") == NULL)
        fprintf(stderr, "%s: nosniff '%s', x-frame-options '%s', referrer-policy '%s', csp '%s'\n", what, h->nosniff, h->xfo,
                h->referrer, h->csp);
    assert_string_equal(h->nosniff, "nosniff");
    assert_string_equal(h->xfo, "DENY");
    assert_string_equal(h->referrer, "no-referrer");
    assert_non_null(strstr(h->csp, "frame-ancestors 'none'"));
    assert_null(strstr(h->csp, "unsafe-inline"));
    assert_null(strstr(h->csp, "unsafe-eval"));
}

/* max-age of at least a year. */
static void check_hsts(const char *what, const sec_t *h)
{
    const char *m = strstr(h->hsts, "max-age=");
    if (m == NULL || strtol(m + 8, NULL, 10) < 31536000)
        fprintf(stderr, "%s: strict-transport-security '%s'\n", what, h->hsts);
    assert_non_null(m);
    assert_true(strtol(m + 8, NULL, 10) >= 31536000);
}

static void security_headers_on_pages_and_api(void **st)
{
    it_evfix_t *s = *st;
    static const struct {
        long ver;
        const char *name;
    } vers[] = {{CURL_HTTP_VERSION_1_1, "HTTP/1.1"}, {CURL_HTTP_VERSION_2TLS, "HTTP/2"}};
    char url[256], what[320];
    sec_t h;
    for (size_t v = 0; v < 2; v++) {
        /* A page (the index), a page's script, an API answer and an API error, over HTTPS. */
        static const char *const paths[] = {"/", "/event.html", "/index.js", "/v1/events", "/v1/nope"};
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            snprintf(url, sizeof url, "%s%s", s->fix.gw.base_url, paths[i]);
            snprintf(what, sizeof what, "%s %s", vers[v].name, url);
            get_headers(url, vers[v].ver, &h);
            assert_int_equal(h.status, i == 4 ? 404 : 200);
            check_common(what, &h);
            check_hsts(what, &h);
            if (strncmp(h.type, "text/html", 9) == 0) {
                /* The pages' policy: their own origin only, no inline script or style. */
                static const char *const parts[] = {"default-src 'self'", "script-src 'self'", "style-src 'self'", "base-uri 'none'",
                                                    "form-action 'self'"};
                for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
                    if (strstr(h.csp, parts[p]) == NULL)
                        fprintf(stderr, "%s: csp '%s' lacks %s\n", what, h.csp, parts[p]);
                    assert_non_null(strstr(h.csp, parts[p]));
                }
            } else {
                assert_non_null(strstr(h.csp, "default-src 'none'"));
            }
            assert_true(i >= 2 || strncmp(h.type, "text/html", 9) == 0);
        }
    }
    /* The cleartext port: the same, except HSTS, which means nothing there. */
    static const char *const plain[] = {"/", "/v1/events"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(url, sizeof url, "%s%s", s->fix.gw.http_base, plain[i]);
        get_headers(url, CURL_HTTP_VERSION_1_1, &h);
        assert_int_equal(h.status, 200);
        check_common(url, &h);
        assert_string_equal(h.hsts, "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tls_versions_below_1_2_refused, setup_plain, it_evfix_free),
        cmocka_unit_test_setup_teardown(tls_cbc_and_sha1_suites_refused, setup_plain, it_evfix_free),
        cmocka_unit_test_setup_teardown(tls_server_cipher_order_wins, setup_plain, it_evfix_free),
        cmocka_unit_test_setup_teardown(tls_session_id_alone_does_not_resume, setup_plain, it_evfix_free),
        cmocka_unit_test_setup_teardown(tls_ticket_resumes_until_rotated_out, setup_fast_rotation, it_evfix_free),
        cmocka_unit_test_setup_teardown(admin_routes_are_404_on_the_cleartext_port, setup_event, it_evfix_free),
        cmocka_unit_test_setup_teardown(admin_routes_served_on_cleartext_when_allowed, setup_admin_on_http, it_evfix_free),
        cmocka_unit_test_setup_teardown(security_headers_on_pages_and_api, setup_plain, it_evfix_free),
    };
    return cmocka_run_group_tests_name("it_edge", tests, it_group_setup, NULL);
}
