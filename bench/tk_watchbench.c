/*
 * tk_watchbench: the long-poll load driver of the benchmark's live phase
 * (scripts/bench_live.sh; bench/README.md, "Live updates and the waiting
 * room").
 *
 * Why it exists: tk-h2bench keeps a few hundred requests busy and counts
 * answers per second; the live figures need many thousands of requests
 * HELD at once (each unanswered for up to 25 s), over HTTP/2 and over
 * HTTP/1.1 (one connection per held request), and answers that are read
 * (the watch's version, the queue's position and state). One thread, one
 * epoll loop, OpenSSL for TLS (ALPN h2 or http/1.1) and libnghttp2 for
 * HTTP/2, as tk-h2bench.
 *
 * Modes (-M):
 *   hold    -n N watches of event -e held (since = the event's version,
 *           wait 25); an answered one is sent again with the answer's
 *           version. Once all N were sent and none answered for -S ms, it
 *           writes {"held":..} to the -r file (the script then reads the
 *           gateway's memory), and holds until -d runs out or SIGTERM.
 *   beat    every slot sends watch?wait=0 with a new user each time (each
 *           a presence heartbeat), until -d or -n answers.
 *   fanout  -n N watches held (HTTP/2), then -R rounds of: one claim on the
 *           event (a new user, on a connection of its own), the time from
 *           sending it to each watcher's answer with the new version; the
 *           next round re-arms every watcher and waits -S ms first.
 *   queue   -n N users join the waiting room of -e (POST .../queue), each
 *           slot (C x M) taking the next user; places checked (1..N once
 *           each, and causal order: a join sent after another's answer got
 *           a higher place). With -A, a slot keeps its user's status
 *           long-poll (GET .../queue/{user}?wait=20) until "admitted" (or
 *           410), then takes the next user: the admission times give the
 *           achieved release rate.
 * Users are named by -u PREFIX plus a number; the gateway runs with
 * USER_AUTH=off (the benchmark's), so the query's or body's user_id counts.
 *
 * Bounded: -d seconds for the whole load (at most 600), at most 5 s of
 * grace, fanout rounds time out after 10 s, connects only to 127.0.0.0/8
 * or ::1, and every array is sized from -n / -c / -m at start.
 *
 * Output: one line of JSON on stdout (fields per mode, see the end).
 *
 * Usage: tk-watchbench -p PORT -M hold|beat|fanout|queue -e EVENT
 *          [-P h2|h1] [-c CONNS] [-m STREAMS] [-n N] [-d SECONDS] [-S MS]
 *          [-R ROUNDS] [-r READYFILE] [-u PREFIX] [-A] [-w WAIT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 30000
#define MAX_N 2000000
#define GRACE_NS 5000000000LL
#define ROUND_TIMEOUT_NS 10000000000LL
#define RBODY_MAX 16384
#define H1_IN_MAX 65536

enum { M_HOLD, M_BEAT, M_FANOUT, M_QUEUE };
enum { K_WATCH, K_CLAIM, K_JOIN, K_STATUS, K_PROBE };

typedef struct conn conn_t;
typedef struct req req_t;

struct req {
    conn_t *c;
    int busy, kind, status;
    int64_t t_sent;
    long idx;   /* watcher or slot index */
    long user;  /* queue: the user this slot serves (-1 none) */
    int64_t resend_at; /* > 0: send again at this time (after a 503) */
    char path[256];
    char body[160];
    size_t blen, boff;
    char *rb;
    size_t rl, rcap;
};

struct conn {
    int fd, h2, dead, want_out, dirty;
    SSL *ssl;
    nghttp2_session *sess;
    uint8_t *out;
    size_t outlen, outcap;
    req_t *cur; /* HTTP/1.1: the request in flight */
    char *in;
    size_t inlen;
    conn_t *next_dirty;
};

static struct {
    const char *host, *event, *prefix, *readyfile;
    int port, conns, streams, mode, h2, admit_poll, rounds, wait_s;
    long n;
    double seconds;
    int settle_ms;
    char authority[64];
} opt = {"127.0.0.1", NULL, "w", NULL, 0, 200, 100, M_HOLD, 1, 0, 10, 25, 1000, 10, 1000, ""};

static struct {
    int epfd;
    int64_t start, stop_at;
    volatile sig_atomic_t stop;
    int stopping;
    conn_t *conns;
    int nconns;
    req_t *reqs;
    long nreqs;
    conn_t *dirty;
    long resend_pending; /* requests waiting for their resend_at (a 503's Retry-After) */
    long busy, sent, answered, errors, s2xx, s4xx, s5xx, s503, s410, s409, sother;
    int64_t last_send, last_answer;
    long long version;
    char run[16];
    /* hold */
    int ready_written;
    long held_at_ready;
    int64_t ready_ns;
    /* beat */
    long beat_next;
    uint32_t *lat_us;
    long nlat, latcap;
    /* fanout */
    int phase; /* 0 arming, 1 fired, 2 done */
    int round;
    int64_t armed_at, fired_at;
    long long round_since;
    long round_answered, missed;
    uint32_t *round_last_us;
    long claim_status[6];
    req_t *claim;
    /* queue */
    long next_user;
    long *pos;
    int64_t *t_send, *t_done, *t_adm;
    long joined, admitted, expired, join_fail;
    int64_t first_join_sent, last_join_done;
} g;

static void die(const char *what)
{
    fprintf(stderr, "tk-watchbench: %s\n", what);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (p == NULL)
        die("out of memory");
    return p;
}

static void mark_dirty(conn_t *c)
{
    if (!c->dirty && !c->dead) {
        c->dirty = 1;
        c->next_dirty = g.dirty;
        g.dirty = c;
    }
}

/* A number after "KEY": in a NUL-terminated JSON text; -1 when absent. */
static long long json_num(const char *s, const char *key)
{
    const char *p = s ? strstr(s, key) : NULL;
    if (p == NULL)
        return -1;
    p += strlen(key);
    if (*p < '0' || *p > '9')
        return -1;
    return strtoll(p, NULL, 10);
}

/* ---- sending ----------------------------------------------------------------- */

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    req_t *q = src->ptr;
    (void)s, (void)sid, (void)ud;
    size_t n = q->blen - q->boff;
    if (n > len)
        n = len;
    memcpy(buf, q->body + q->boff, n);
    q->boff += n;
    if (q->boff == q->blen)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void out_append(conn_t *c, const void *data, size_t n)
{
    if (c->outlen + n > c->outcap) {
        size_t cap = c->outcap ? c->outcap * 2 : 4096;
        while (cap < c->outlen + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (c->out == NULL)
            die("out of memory");
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, data, n);
    c->outlen += n;
}

/* Sends q (path and, for a POST, body already set) on its connection. */
static void send_req(req_t *q)
{
    conn_t *c = q->c;
    int post = q->blen > 0;
    q->status = 0;
    q->rl = 0;
    q->boff = 0;
    q->resend_at = 0;
    if (c->dead) {
        g.errors++;
        return;
    }
    if (c->h2) {
        char clen[16];
        nghttp2_nv h[6];
        int nh = 0;
#define NV(n, v, vl) h[nh++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}
        NV(":method", post ? "POST" : "GET", post ? 4 : 3);
        NV(":scheme", "https", 5);
        NV(":authority", opt.authority, strlen(opt.authority));
        NV(":path", q->path, strlen(q->path));
        nghttp2_data_provider dp, *dpp = NULL;
        if (post) {
            int cl = snprintf(clen, sizeof(clen), "%zu", q->blen);
            NV("content-type", "application/json", 16);
            NV("content-length", clen, (size_t)cl);
            dp.source.ptr = q;
            dp.read_callback = read_body;
            dpp = &dp;
        }
#undef NV
        if (nghttp2_submit_request(c->sess, NULL, h, (size_t)nh, dpp, q) < 0) {
            g.errors++;
            return;
        }
    } else {
        if (c->cur != NULL)
            die("internal: two HTTP/1.1 requests on one connection");
        char head[512];
        int n = post ? snprintf(head, sizeof(head),
                                "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                q->path, opt.authority, q->blen)
                     : snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", q->path, opt.authority);
        out_append(c, head, (size_t)n);
        if (post)
            out_append(c, q->body, q->blen);
        c->cur = q;
    }
    q->busy = 1;
    q->t_sent = now_ns();
    g.busy++;
    g.sent++;
    g.last_send = q->t_sent;
    mark_dirty(c);
}

static void set_watch(req_t *q, long long since, int wait_s, const char *user)
{
    if (since >= 0)
        snprintf(q->path, sizeof(q->path), "/v1/events/%s/watch?since=%lld&wait=%d&user_id=%s", opt.event, since, wait_s, user);
    else
        snprintf(q->path, sizeof(q->path), "/v1/events/%s/watch?wait=%d&user_id=%s", opt.event, wait_s, user);
    q->blen = 0;
    q->kind = K_WATCH;
}

static void send_watch(req_t *q, long long since)
{
    char user[64];
    snprintf(user, sizeof(user), "%s%s-%ld", opt.prefix, g.run, q->idx);
    set_watch(q, since, opt.wait_s, user);
    send_req(q);
}

static void send_beat(req_t *q)
{
    char user[64];
    snprintf(user, sizeof(user), "%s%s-%ld", opt.prefix, g.run, g.beat_next++);
    set_watch(q, -1, 0, user);
    send_req(q);
}

static void user_name(long u, char *out, size_t n)
{
    snprintf(out, n, "%s%s-%ld", opt.prefix, g.run, u + 1);
}

static void send_join(req_t *q, long u)
{
    char user[64];
    user_name(u, user, sizeof(user));
    q->user = u;
    q->kind = K_JOIN;
    snprintf(q->path, sizeof(q->path), "/v1/events/%s/queue", opt.event);
    q->blen = (size_t)snprintf(q->body, sizeof(q->body), "{\"user_id\":\"%s\"}", user);
    send_req(q);
    g.t_send[u] = q->t_sent;
    if (g.first_join_sent == 0)
        g.first_join_sent = q->t_sent;
}

static void send_status(req_t *q)
{
    char user[64];
    user_name(q->user, user, sizeof(user));
    q->kind = K_STATUS;
    snprintf(q->path, sizeof(q->path), "/v1/events/%s/queue/%s?wait=20", opt.event, user);
    q->blen = 0;
    send_req(q);
}

static void send_claim(req_t *q)
{
    q->kind = K_CLAIM;
    snprintf(q->path, sizeof(q->path), "/v1/events/%s/claims", opt.event);
    q->blen = (size_t)snprintf(q->body, sizeof(q->body), "{\"user_id\":\"%sc%s-%d\"}", opt.prefix, g.run, g.round);
    send_req(q);
}

/* ---- answers ----------------------------------------------------------------- */

static int may_go(void)
{
    if (g.stop || now_ns() >= g.stop_at)
        g.stopping = 1;
    return !g.stopping;
}

static void count_status(int st)
{
    if (st >= 200 && st < 300)
        g.s2xx++;
    else if (st >= 400 && st < 500)
        g.s4xx++;
    else if (st >= 500)
        g.s5xx++;
    else
        g.sother++;
    if (st == 503)
        g.s503++;
    else if (st == 410)
        g.s410++;
    else if (st == 409)
        g.s409++;
}

static void lat_add(int64_t ns)
{
    if (g.nlat < g.latcap)
        g.lat_us[g.nlat++] = (uint32_t)(ns / 1000);
}

static void queue_next(req_t *q)
{
    if (may_go() && g.next_user < opt.n)
        send_join(q, g.next_user++);
}

static void fanout_arm(int64_t now);

/* Called once per finished request (status 0: the request failed). */
static void on_done(req_t *q, int status)
{
    int64_t t = now_ns();
    q->busy = 0;
    g.busy--;
    g.answered++;
    g.last_answer = t;
    if (q->rb != NULL && q->rl < q->rcap)
        q->rb[q->rl] = '\0';
    const char *body = q->rb != NULL && q->rl > 0 ? q->rb : "";
    if (status == 0) {
        g.errors++;
        if (q->kind == K_JOIN) {
            g.join_fail++;
            queue_next(q);
        }
        return;
    }
    count_status(status);
    if (q->kind == K_PROBE) {
        g.version = json_num(body, "\"version\":");
        return;
    }
    if (q->kind == K_CLAIM) {
        int k = status == 201 ? 0 : status == 200 ? 1 : status == 409 ? 2 : status == 429 ? 3 : status == 503 ? 4 : 5;
        g.claim_status[k]++;
        return;
    }
    if (opt.mode == M_BEAT) {
        lat_add(t - q->t_sent);
        if (may_go())
            send_beat(q);
        return;
    }
    if (q->kind == K_WATCH) {
        long long v = status == 200 ? json_num(body, "\"version\":") : -1;
        if (v > g.version)
            g.version = v;
        if (opt.mode == M_HOLD) {
            if (status == 503)
                q->resend_at = t + 1000000000LL, g.resend_pending++; /* its Retry-After */
            else if (may_go())
                send_watch(q, v >= 0 ? v : g.version);
            return;
        }
        /* fanout */
        if (g.phase == 1 && status == 200 && v != g.round_since) {
            int64_t d = t - g.fired_at;
            lat_add(d);
            if ((uint32_t)(d / 1000) > g.round_last_us[g.round])
                g.round_last_us[g.round] = (uint32_t)(d / 1000);
            g.round_answered++;
        } else if (g.phase == 0 && status == 200 && v == g.round_since && may_go()) {
            send_watch(q, g.round_since); /* its wait ran out: hold again */
        } else if (status != 200 && may_go()) {
            q->resend_at = t + 1000000000LL, g.resend_pending++;
        }
        return;
    }
    if (q->kind == K_JOIN) {
        long u = q->user;
        g.t_done[u] = t;
        if (status == 200 || status == 201) {
            g.joined++;
            g.pos[u] = json_num(body, "\"position\":");
            g.last_join_done = t;
            if (strstr(body, "\"state\":\"admitted\"") != NULL) {
                g.t_adm[u] = t;
                g.admitted++;
            } else if (opt.admit_poll) {
                send_status(q);
                return;
            }
        } else {
            g.join_fail++;
        }
        queue_next(q);
        return;
    }
    if (q->kind == K_STATUS) {
        long u = q->user;
        if (status == 200 && strstr(body, "\"state\":\"admitted\"") != NULL) {
            g.t_adm[u] = t;
            g.admitted++;
        } else if (status == 410) {
            g.expired++;
        } else if (status == 200 && may_go()) {
            send_status(q); /* still waiting: poll again */
            return;
        } else if (status == 503 && may_go()) {
            q->resend_at = t + 1000000000LL, g.resend_pending++;
            return;
        }
        queue_next(q);
    }
}

/* ---- HTTP/2 ----------------------------------------------------------------- */

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
                        uint8_t flags, void *ud)
{
    (void)flags, (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || nlen != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    req_t *q = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (q != NULL && vlen == 3)
        q->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static void rb_append(req_t *q, const void *data, size_t len)
{
    if (q->rl + len + 1 > q->rcap) {
        size_t cap = q->rcap ? q->rcap : 1024;
        while (cap < q->rl + len + 1)
            cap *= 2;
        if (cap > RBODY_MAX)
            cap = RBODY_MAX;
        if (cap <= q->rcap)
            return; /* keep the first RBODY_MAX bytes: the fields read come first */
        q->rb = realloc(q->rb, cap);
        if (q->rb == NULL)
            die("out of memory");
        q->rcap = cap;
    }
    size_t n = q->rl + len + 1 > q->rcap ? q->rcap - 1 - q->rl : len;
    memcpy(q->rb + q->rl, data, n);
    q->rl += n;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud)
{
    (void)flags, (void)ud;
    req_t *q = nghttp2_session_get_stream_user_data(s, sid);
    if (q != NULL)
        rb_append(q, data, len);
    return 0;
}

static int h2_on_close(nghttp2_session *s, int32_t sid, uint32_t err, void *ud)
{
    (void)ud;
    req_t *q = nghttp2_session_get_stream_user_data(s, sid);
    if (q == NULL || !q->busy)
        return 0;
    on_done(q, err == NGHTTP2_NO_ERROR ? q->status : 0);
    return 0;
}

/* ---- HTTP/1.1 ------------------------------------------------------------------ */

/* Parses one whole response at the start of c->in (Content-Length or
 * chunked); returns the bytes it took, 0 when incomplete, -1 when invalid. */
static long h1_parse(conn_t *c, int *status)
{
    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (end == NULL)
        return c->inlen > 16384 ? -1 : 0;
    size_t hlen = (size_t)(end - c->in) + 4;
    if (c->inlen < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->in + 9);
    long clen = -1;
    int chunked = 0;
    for (char *p = c->in; p < end;) {
        char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            clen = atol(p + 15);
        else if ((size_t)(eol - p) > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0 && memmem(p, (size_t)(eol - p), "chunked", 7))
            chunked = 1;
        p = eol + 2;
    }
    req_t *q = c->cur;
    if (!chunked) {
        if (clen < 0)
            clen = 0;
        if (c->inlen < hlen + (size_t)clen)
            return 0;
        if (q != NULL) {
            q->rl = 0;
            rb_append(q, c->in + hlen, (size_t)clen);
        }
        return (long)(hlen + (size_t)clen);
    }
    size_t off = hlen;
    if (q != NULL)
        q->rl = 0;
    for (;;) {
        char *eol = memmem(c->in + off, c->inlen - off, "\r\n", 2);
        if (eol == NULL)
            return 0;
        long sz = strtol(c->in + off, NULL, 16);
        off = (size_t)(eol - c->in) + 2;
        if (sz == 0) {
            if (c->inlen - off < 2)
                return 0;
            return (long)(off + 2); /* no trailers from our gateway */
        }
        if (c->inlen - off < (size_t)sz + 2)
            return 0;
        if (q != NULL)
            rb_append(q, c->in + off, (size_t)sz);
        off += (size_t)sz + 2;
    }
}

/* ---- connections ------------------------------------------------------------------ */

static void kill_conn(conn_t *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    /* its requests count as failed: the h2 streams and the h1 one */
    for (long i = 0; i < g.nreqs; i++)
        if (g.reqs[i].c == c && g.reqs[i].busy)
            on_done(&g.reqs[i], 0);
    if (g.claim != NULL && g.claim->c == c && g.claim->busy)
        on_done(g.claim, 0);
}

static void set_events(conn_t *c, int out)
{
    if (out != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = out;
    }
}

static void flush(conn_t *c)
{
    if (c->dead)
        return;
    if (c->h2) {
        for (;;) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->sess, &data);
            if (n < 0) {
                kill_conn(c);
                return;
            }
            if (n == 0)
                break;
            out_append(c, data, (size_t)n);
            if (c->outlen >= 65536)
                break;
        }
    }
    size_t off = 0;
    while (off < c->outlen) {
        int w = SSL_write(c->ssl, c->out + off, (int)(c->outlen - off));
        if (w <= 0) {
            int e = SSL_get_error(c->ssl, w);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                break;
            kill_conn(c);
            return;
        }
        off += (size_t)w;
    }
    if (off > 0 && off < c->outlen)
        memmove(c->out, c->out + off, c->outlen - off);
    c->outlen -= off;
    set_events(c, c->outlen > 0 || (c->h2 && nghttp2_session_want_write(c->sess)));
}

static void on_readable(conn_t *c)
{
    uint8_t buf[16384];
    for (int rounds = 0; rounds < 16 && !c->dead; rounds++) {
        int r = SSL_read(c->ssl, buf, sizeof(buf));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            kill_conn(c);
            return;
        }
        if (c->h2) {
            if (nghttp2_session_mem_recv(c->sess, buf, (size_t)r) < 0) {
                kill_conn(c);
                return;
            }
            continue;
        }
        if (c->inlen + (size_t)r > H1_IN_MAX) {
            kill_conn(c);
            return;
        }
        memcpy(c->in + c->inlen, buf, (size_t)r);
        c->inlen += (size_t)r;
        for (;;) {
            int status = 0;
            long used = h1_parse(c, &status);
            if (used < 0) {
                kill_conn(c);
                return;
            }
            if (used == 0)
                break;
            memmove(c->in, c->in + used, c->inlen - (size_t)used);
            c->inlen -= (size_t)used;
            req_t *q = c->cur;
            c->cur = NULL;
            if (q != NULL && q->busy)
                on_done(q, status); /* may send the next one on c */
        }
    }
}

/* A session of the first connection, resumed by the others (fewer full
 * handshakes: thousands of HTTP/1.1 connections are set up faster, as
 * returning browsers do). NULL when the server sent no ticket. */
static SSL_SESSION *resume;

static void open_conn(SSL_CTX *ctx, conn_t *c, int h2)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, opt.host, &a4->sin_addr) == 1 && (ntohl(a4->sin_addr.s_addr) >> 24) == 127) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt.port);
        sl = sizeof(*a4);
    } else if (inet_pton(AF_INET6, opt.host, &a6->sin6_addr) == 1 && IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt.port);
        sl = sizeof(*a6);
    } else {
        die("only loopback addresses (127.0.0.0/8, ::1) are allowed");
    }
    c->fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (c->fd < 0)
        die("socket() failed (raise ulimit -n)");
    if (connect(c->fd, (struct sockaddr *)&ss, sl) != 0)
        die("cannot connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_alpn_protos(c->ssl, h2 ? (const unsigned char *)"\x02h2" : (const unsigned char *)"\x08http/1.1", h2 ? 3 : 9);
    if (resume != NULL)
        SSL_set_session(c->ssl, resume);
    if (SSL_connect(c->ssl) != 1)
        die("TLS handshake failed");
    const unsigned char *alpn;
    unsigned alen;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    if (h2 && (alen != 2 || memcmp(alpn, "h2", 2) != 0))
        die("the server did not select h2 by ALPN");
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->h2 = h2;
    if (h2) {
        nghttp2_session_callbacks *cb;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_close);
        if (nghttp2_session_client_new(&c->sess, cb, c) != 0)
            die("nghttp2_session_client_new failed");
        nghttp2_session_callbacks_del(cb);
        nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}, {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
        nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 2);
        nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0, 1 << 30);
    } else {
        c->in = malloc(H1_IN_MAX);
        if (c->in == NULL)
            die("out of memory");
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g.epfd, EPOLL_CTL_ADD, c->fd, &ev);
    mark_dirty(c);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void flush_dirty(void)
{
    while (g.dirty != NULL) {
        conn_t *c = g.dirty;
        g.dirty = c->next_dirty;
        c->dirty = 0;
        flush(c);
    }
}

static void loop_once(int timeout_ms)
{
    static struct epoll_event evs[1024];
    int n = epoll_wait(g.epfd, evs, 1024, timeout_ms);
    for (int i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;
        if (c->dead)
            continue;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            on_readable(c);
        if (!c->dead && (evs[i].events & EPOLLOUT))
            mark_dirty(c);
        if (!c->dead && c->h2 && nghttp2_session_want_write(c->sess))
            mark_dirty(c);
    }
    flush_dirty();
}

static void resend_due(int64_t t)
{
    for (long i = 0; i < g.nreqs; i++) {
        req_t *q = &g.reqs[i];
        if (q->resend_at == 0 || q->resend_at > t || q->busy)
            continue;
        q->resend_at = 0;
        g.resend_pending--;
        if (!may_go())
            continue;
        if (q->kind == K_STATUS)
            send_status(q);
        else
            send_watch(q, opt.mode == M_FANOUT ? g.round_since : g.version);
    }
}

static void write_ready(void)
{
    g.ready_written = 1;
    g.held_at_ready = g.busy;
    g.ready_ns = now_ns();
    if (opt.readyfile == NULL)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", opt.readyfile);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        die("cannot write the ready file");
    fprintf(f, "{\"held\":%ld,\"sent\":%ld,\"answered\":%ld,\"errors\":%ld,\"s503\":%ld,\"seconds_to_ready\":%.3f}\n", g.busy, g.sent,
            g.answered, g.errors, g.s503, (double)(g.ready_ns - g.start) / 1e9);
    fclose(f);
    if (rename(tmp, opt.readyfile) != 0)
        die("cannot rename the ready file");
}

static void fanout_arm(int64_t now)
{
    g.round_since = g.version;
    g.round_answered = 0;
    for (long i = 0; i < g.nreqs; i++)
        if (!g.reqs[i].busy)
            send_watch(&g.reqs[i], g.round_since);
    g.armed_at = now;
    g.phase = 0;
}

static void fanout_step(int64_t t)
{
    if (g.phase == 0) {
        /* every watcher sent with this round's since, none answered since: held
         * (or 10 s passed: a watcher refused meanwhile counts as missed) */
        int settled = t - g.last_send >= (int64_t)opt.settle_ms * 1000000 && t - g.armed_at >= (int64_t)opt.settle_ms * 1000000;
        if (!g.claim->busy && ((g.busy >= g.nreqs && settled) || t - g.armed_at >= ROUND_TIMEOUT_NS)) {
            g.phase = 1;
            g.fired_at = now_ns();
            send_claim(g.claim);
        }
        return;
    }
    if (g.phase == 1 && (g.round_answered >= g.nreqs || t - g.fired_at >= ROUND_TIMEOUT_NS)) {
        if (g.round_answered < g.nreqs) {
            g.missed += g.nreqs - g.round_answered;
            g.round_last_us[g.round] = (uint32_t)(ROUND_TIMEOUT_NS / 1000);
        }
        g.round++;
        if (g.round >= opt.rounds || !may_go()) {
            g.phase = 2;
            g.stopping = 1;
            return;
        }
        fanout_arm(t);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(uint32_t *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i] / 1000.0;
}

static const int64_t *sort_key;
static int cmp_by_key(const void *a, const void *b)
{
    int64_t x = sort_key[*(const long *)a], y = sort_key[*(const long *)b];
    return x < y ? -1 : x > y;
}

static void on_signal(int sig)
{
    (void)sig;
    g.stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: tk-watchbench -p PORT -M hold|beat|fanout|queue -e EVENT [-P h2|h1] [-c CONNS] [-m STREAMS] [-n N]\n"
                    "                     [-d SECONDS] [-S SETTLE_MS] [-R ROUNDS] [-r READYFILE] [-u PREFIX] [-A] [-w WAIT]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int o;
    const char *mode = NULL, *proto = "h2";
    while ((o = getopt(argc, argv, "h:p:M:e:P:c:m:n:d:S:R:r:u:Aw:")) != -1) {
        switch (o) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'M': mode = optarg; break;
        case 'e': opt.event = optarg; break;
        case 'P': proto = optarg; break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'm': opt.streams = atoi(optarg); break;
        case 'n': opt.n = atol(optarg); break;
        case 'd': opt.seconds = atof(optarg); break;
        case 'S': opt.settle_ms = atoi(optarg); break;
        case 'R': opt.rounds = atoi(optarg); break;
        case 'r': opt.readyfile = optarg; break;
        case 'u': opt.prefix = optarg; break;
        case 'A': opt.admit_poll = 1; break;
        case 'w': opt.wait_s = atoi(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || mode == NULL || opt.event == NULL || opt.port <= 0 || opt.port > 65535)
        usage();
    if (strcmp(mode, "hold") == 0)
        opt.mode = M_HOLD;
    else if (strcmp(mode, "beat") == 0)
        opt.mode = M_BEAT;
    else if (strcmp(mode, "fanout") == 0)
        opt.mode = M_FANOUT;
    else if (strcmp(mode, "queue") == 0)
        opt.mode = M_QUEUE;
    else
        usage();
    if (strcmp(proto, "h1") == 0)
        opt.h2 = 0;
    else if (strcmp(proto, "h2") != 0)
        usage();
    if (strlen(opt.event) > 64 || strlen(opt.prefix) > 16 || strspn(opt.event, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(opt.event))
        die("-e: an event id of [a-z0-9_-], -u: at most 16 characters");
    if (opt.conns < 1 || opt.conns > MAX_CONNS || opt.streams < 1 || opt.streams > 1000)
        die("-c must be 1..30000 and -m 1..1000");
    if (opt.seconds <= 0 || opt.seconds > 600 || opt.n < 1 || opt.n > MAX_N || opt.rounds < 1 || opt.rounds > 1000 || opt.settle_ms < 0 ||
        opt.settle_ms > 60000 || opt.wait_s < 0 || opt.wait_s > 25)
        die("-d in (0, 600], -n 1..2000000, -R 1..1000, -S 0..60000, -w 0..25");
    if (!opt.h2 && opt.mode != M_HOLD && opt.mode != M_BEAT)
        die("-P h1 goes with -M hold or beat");
    snprintf(opt.authority, sizeof(opt.authority), "%s:%d", opt.host, opt.port);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    {
        uint64_t seed = 0;
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(&seed, sizeof(seed), 1, f) != 1)
            seed = (uint64_t)now_ns();
        if (f != NULL)
            fclose(f);
        snprintf(g.run, sizeof(g.run), "%06llx", (unsigned long long)(seed & 0xffffff));
    }

    /* Requests: one per watcher (hold, fanout), per slot (beat, queue). */
    long per_conn_max = opt.h2 ? opt.streams : 1;
    long nreq;
    if (opt.mode == M_HOLD || opt.mode == M_FANOUT) {
        nreq = opt.n;
        if (nreq > (long)opt.conns * per_conn_max)
            die("-n is more than -c x -m (HTTP/2) or -c (HTTP/1.1) can hold");
    } else if (opt.mode == M_BEAT) {
        nreq = (long)opt.conns * per_conn_max;
    } else {
        nreq = (long)opt.conns * per_conn_max;
        if (nreq > opt.n)
            nreq = opt.n;
    }
    int nconns = opt.conns + (opt.mode == M_FANOUT ? 1 : 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* loopback, self-signed */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    g.epfd = epoll_create1(0);
    g.conns = xcalloc((size_t)nconns, sizeof(conn_t));
    g.nconns = nconns;
    g.reqs = xcalloc((size_t)nreq, sizeof(req_t));
    g.nreqs = nreq;
    /* Only the connections the requests need (HTTP/1.1: one each). */
    int used_conns = opt.h2 ? opt.conns : (int)(nreq < opt.conns ? nreq : opt.conns);
    for (long i = 0; i < nreq; i++) {
        g.reqs[i].idx = i;
        g.reqs[i].user = -1;
        /* spread over the connections: request i on connection i mod C */
        g.reqs[i].c = &g.conns[i % used_conns];
    }
    g.latcap = opt.mode == M_BEAT ? 20000000 : opt.mode == M_FANOUT ? (long)opt.n * opt.rounds : 0;
    if (g.latcap > 0)
        g.lat_us = xcalloc((size_t)g.latcap, sizeof(uint32_t));
    g.round_last_us = xcalloc((size_t)opt.rounds, sizeof(uint32_t));
    if (opt.mode == M_QUEUE) {
        g.pos = xcalloc((size_t)opt.n, sizeof(long));
        g.t_send = xcalloc((size_t)opt.n, sizeof(int64_t));
        g.t_done = xcalloc((size_t)opt.n, sizeof(int64_t));
        g.t_adm = xcalloc((size_t)opt.n, sizeof(int64_t));
        for (long u = 0; u < opt.n; u++)
            g.pos[u] = -1;
    }

    g.start = now_ns();
    g.stop_at = g.start + (int64_t)(opt.seconds * 1e9);
    open_conn(ctx, &g.conns[0], opt.h2);
    if (opt.mode == M_FANOUT)
        open_conn(ctx, &g.conns[opt.conns], 1);
    flush_dirty();

    /* The event's version first (hold, fanout): one watch with wait=0. */
    if (opt.mode == M_HOLD || opt.mode == M_FANOUT) {
        req_t probe = {.c = &g.conns[0], .idx = -1};
        set_watch(&probe, -1, 0, "probe");
        probe.kind = K_PROBE;
        req_t *saved = g.reqs;
        long saved_n = g.nreqs;
        g.reqs = &probe; /* so that a dead connection fails the probe */
        g.nreqs = 1;
        send_req(&probe);
        flush_dirty();
        while (probe.busy && now_ns() < g.stop_at)
            loop_once(100);
        g.reqs = saved;
        g.nreqs = saved_n;
        free(probe.rb);
        if (probe.busy || g.version < 0)
            die("could not read the event's version (a watch with wait=0 failed)");
        g.sent = g.answered = g.s2xx = 0;
    }
    if (g.conns[0].ssl != NULL) {
        resume = SSL_get1_session(g.conns[0].ssl);
        if (resume != NULL && !SSL_SESSION_is_resumable(resume)) {
            SSL_SESSION_free(resume);
            resume = NULL;
        }
    }
    /* Each connection's requests go out as soon as it is up: a connection
     * left idle while thousands of others shake hands would be closed by
     * the server's idle timeout (HTTP/1.1) before its request is sent. */
    for (int k = 0; k < used_conns && may_go(); k++) {
        if (k > 0)
            open_conn(ctx, &g.conns[k], opt.h2);
        for (long i = k; i < nreq && opt.mode != M_FANOUT; i += used_conns) {
            req_t *q = &g.reqs[i];
            if (opt.mode == M_HOLD)
                send_watch(q, g.version);
            else if (opt.mode == M_BEAT)
                send_beat(q);
            else
                queue_next(q);
        }
        if ((k & 15) == 15)
            loop_once(0); /* let answers and writes move while connecting */
        else
            flush_dirty();
    }
    double connect_s = (double)(now_ns() - g.start) / 1e9;
    int resumed = 0;
    for (int k = 0; k < used_conns; k++)
        resumed += g.conns[k].ssl != NULL && SSL_session_reused(g.conns[k].ssl);
    if (opt.mode == M_FANOUT) {
        g.claim = xcalloc(1, sizeof(req_t));
        g.claim->c = &g.conns[opt.conns];
        g.claim->idx = -1;
        fanout_arm(now_ns());
    }
    flush_dirty();

    int64_t last_resend_scan = 0;
    for (;;) {
        int64_t t = now_ns();
        if (!g.stopping && (g.stop || t >= g.stop_at))
            g.stopping = 1;
        if (opt.mode == M_HOLD && !g.ready_written && g.sent >= opt.n && g.busy > 0 &&
            t - g.last_send >= (int64_t)opt.settle_ms * 1000000 && t - g.last_answer >= (int64_t)opt.settle_ms * 1000000)
            write_ready();
        if (opt.mode == M_FANOUT && !g.stopping)
            fanout_step(t);
        if (opt.mode == M_QUEUE && g.next_user >= opt.n && g.busy == 0 && g.resend_pending == 0)
            g.stopping = 1; /* every user joined (and, with -A, admitted or refused) */
        if (g.stopping) {
            /* hold: held requests are never answered, so stop at once */
            if (g.busy == 0 || opt.mode == M_HOLD || opt.mode == M_FANOUT || (opt.mode == M_QUEUE && opt.admit_poll) ||
                t >= g.stop_at + GRACE_NS)
                break;
        }
        if (t - last_resend_scan >= 100000000) {
            last_resend_scan = t;
            resend_due(t);
        }
        loop_once(opt.mode == M_FANOUT ? 1 : 50);
    }
    int64_t t_end = now_ns();
    double secs = (double)(t_end - g.start) / 1e9;

    if (opt.mode == M_HOLD) {
        printf("{\"mode\":\"hold\",\"proto\":\"%s\",\"conns\":%d,\"tls_resumed\":%d,\"watchers\":%ld,\"connect_s\":%.3f,\"held_at_ready\":%ld,\"ready\":%d,"
               "\"seconds_to_ready\":%.3f,\"held_at_end\":%ld,\"sent\":%ld,\"answered\":%ld,\"s2xx\":%ld,\"s503\":%ld,\"s4xx\":%ld,\"s5xx\":%ld,"
               "\"errors\":%ld,\"seconds\":%.3f}\n",
               opt.h2 ? "h2" : "h1", used_conns, resumed, opt.n, connect_s, g.held_at_ready, g.ready_written,
               g.ready_written ? (double)(g.ready_ns - g.start) / 1e9 : 0.0, g.busy, g.sent, g.answered, g.s2xx, g.s503, g.s4xx, g.s5xx,
               g.errors, secs);
    } else if (opt.mode == M_BEAT) {
        qsort(g.lat_us, (size_t)g.nlat, sizeof(uint32_t), cmp_u32);
        double s = g.last_answer > g.start ? (double)(g.last_answer - g.start) / 1e9 : secs;
        printf("{\"mode\":\"beat\",\"proto\":\"%s\",\"inflight\":%ld,\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"s2xx\":%ld,\"s4xx\":%ld,\"s5xx\":%ld,\"errors\":%ld}\n",
               opt.h2 ? "h2" : "h1", nreq, g.s2xx + g.s4xx + g.s5xx + g.sother, s, s > 0 ? (double)g.s2xx / s : 0, pct_ms(g.lat_us, g.nlat, 0.5),
               pct_ms(g.lat_us, g.nlat, 0.99), g.s2xx, g.s4xx, g.s5xx, g.errors);
    } else if (opt.mode == M_FANOUT) {
        int nr = g.round;
        uint32_t *rl = xcalloc((size_t)(nr ? nr : 1), sizeof(uint32_t));
        memcpy(rl, g.round_last_us, sizeof(uint32_t) * (size_t)nr);
        qsort(rl, (size_t)nr, sizeof(uint32_t), cmp_u32);
        qsort(g.lat_us, (size_t)g.nlat, sizeof(uint32_t), cmp_u32);
        printf("{\"mode\":\"fanout\",\"watchers\":%ld,\"conns\":%d,\"rounds\":%d,\"last_p50_ms\":%.3f,\"last_p99_ms\":%.3f,\"last_max_ms\":%.3f,"
               "\"last_min_ms\":%.3f,\"each_p50_ms\":%.3f,\"each_p99_ms\":%.3f,\"answers\":%ld,\"missed\":%ld,\"claims_201\":%ld,"
               "\"claims_other\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"last_ms\":[",
               opt.n, opt.conns, nr, pct_ms(rl, nr, 0.5), pct_ms(rl, nr, 0.99), nr ? rl[nr - 1] / 1000.0 : 0, nr ? rl[0] / 1000.0 : 0,
               pct_ms(g.lat_us, g.nlat, 0.5), pct_ms(g.lat_us, g.nlat, 0.99), g.nlat, g.missed, g.claim_status[0],
               g.claim_status[1] + g.claim_status[2] + g.claim_status[3] + g.claim_status[4] + g.claim_status[5], g.errors, secs);
        for (int i = 0; i < nr; i++)
            printf("%s%.1f", i ? "," : "", g.round_last_us[i] / 1000.0);
        printf("]}\n");
        free(rl);
    } else {
        /* places: each of 1..joined exactly once, and causal order */
        long n = opt.n, dup = 0, out_of_range = 0, missing = 0, maxpos = 0, order_bad = 0;
        unsigned char *seen = xcalloc((size_t)n + 2, 1);
        long *ids = xcalloc((size_t)n, sizeof(long)), k = 0;
        for (long u = 0; u < n; u++) {
            long p = g.pos[u];
            if (p < 0)
                continue;
            ids[k++] = u;
            if (p > maxpos)
                maxpos = p;
            if (p < 1 || p > n)
                out_of_range++;
            else if (seen[p]++)
                dup++;
        }
        for (long p = 1; p <= g.joined && p <= n; p++)
            missing += !seen[p];
        /* a join sent after another's answer arrived must have a higher place */
        long *by_done = xcalloc((size_t)(k ? k : 1), sizeof(long));
        memcpy(by_done, ids, sizeof(long) * (size_t)k);
        sort_key = g.t_done;
        qsort(by_done, (size_t)k, sizeof(long), cmp_by_key);
        sort_key = g.t_send;
        qsort(ids, (size_t)k, sizeof(long), cmp_by_key);
        long j = 0, maxdone = 0;
        for (long i = 0; i < k; i++) {
            long u = ids[i];
            while (j < k && g.t_done[by_done[j]] < g.t_send[u]) {
                if (g.pos[by_done[j]] > maxdone)
                    maxdone = g.pos[by_done[j]];
                j++;
            }
            if (g.pos[u] <= maxdone)
                order_bad++;
        }
        double join_s = g.last_join_done > g.first_join_sent ? (double)(g.last_join_done - g.first_join_sent) / 1e9 : 0;
        /* admission: the rate between the 10th and the 90th percentile of admission times */
        double adm_rate = 0, adm_span = 0;
        long na = 0;
        int64_t *ta = xcalloc((size_t)n + 1, sizeof(int64_t));
        for (long u = 0; u < n; u++)
            if (g.t_adm[u] > 0)
                ta[na++] = g.t_adm[u];
        if (na >= 20) {
            long *ix = xcalloc((size_t)na, sizeof(long));
            for (long i = 0; i < na; i++)
                ix[i] = i;
            sort_key = ta;
            qsort(ix, (size_t)na, sizeof(long), cmp_by_key);
            long a = na / 10, b = na - 1 - na / 10;
            adm_span = (double)(ta[ix[b]] - ta[ix[a]]) / 1e9;
            if (adm_span > 0)
                adm_rate = (double)(b - a) / adm_span;
            free(ix);
        }
        printf("{\"mode\":\"queue\",\"users\":%ld,\"slots\":%ld,\"joined\":%ld,\"join_failed\":%ld,\"join_seconds\":%.3f,\"joins_per_s\":%.0f,"
               "\"max_position\":%ld,\"duplicates\":%ld,\"missing\":%ld,\"out_of_range\":%ld,\"order_violations\":%ld,\"places_ok\":%d,"
               "\"admitted\":%ld,\"expired\":%ld,\"admit_rate_per_s\":%.1f,\"admit_window_s\":%.3f,\"s503\":%ld,\"s4xx\":%ld,\"s5xx\":%ld,"
               "\"errors\":%ld,\"seconds\":%.3f}\n",
               n, nreq, g.joined, g.join_fail, join_s, join_s > 0 ? (double)g.joined / join_s : 0, maxpos, dup, missing, out_of_range, order_bad,
               g.joined == n && dup == 0 && missing == 0 && out_of_range == 0 && order_bad == 0 && maxpos == n, g.admitted, g.expired, adm_rate,
               adm_span, g.s503, g.s4xx, g.s5xx, g.errors, secs);
        free(seen), free(ids), free(by_done), free(ta);
    }
    fflush(stdout);
    return 0;
}
