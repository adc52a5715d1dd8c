#include "it_h2.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "it_proc.h"

#define FRAME_DATA 0
#define FRAME_HEADERS 1
#define FRAME_RST_STREAM 3
#define FRAME_SETTINGS 4
#define FRAME_PING 6
#define FRAME_GOAWAY 7
#define FRAME_WINDOW_UPDATE 8
#define FLAG_END_STREAM 0x1
#define FLAG_ACK 0x1
#define FLAG_END_HEADERS 0x4
#define FLAG_PADDED 0x8
#define FLAG_PRIORITY 0x20
#define IN_MAX (16384 + 9) /* we never raise SETTINGS_MAX_FRAME_SIZE */
#define BODY_MAX 16384
#define RESP_MAX 65536
#define WINDOW_MAX 0x7fffffffu

struct it_h2 {
    int fd, dead;
    int port;
    uint32_t next_sid;
    int max_streams;   /* the server's SETTINGS_MAX_CONCURRENT_STREAMS (100 until it says) */
    long long window;  /* the connection's send window: our request bodies */
    int open;          /* streams of this run not yet complete */
    unsigned char *out;
    size_t outlen, outoff, outcap;
    unsigned char in[IN_MAX];
    size_t inlen;
    /* This run: stream slot (sid - 1) / 2 - first_slot -> request index. */
    size_t *map, mapn, mapcap;
    uint32_t first_slot;
    size_t next_req; /* the next request of this run to send on this connection */
    long long next_us; /* with a gap: not before this (now_us) */
    it_h2_stream_t *raw; /* the single-stream API: stream (sid - 1) / 2, IT_H2_RAW_MAX of them; NULL until used */
    int goaway;          /* a GOAWAY arrived */
};

/* ---- output ------------------------------------------------------------------ */

static int out_reserve(it_h2_t *c, size_t n)
{
    if (c->outoff > 0 && c->outoff == c->outlen)
        c->outoff = c->outlen = 0;
    if (c->outlen + n <= c->outcap)
        return 0;
    size_t cap = c->outcap ? c->outcap : 65536;
    while (cap < c->outlen + n)
        cap *= 2;
    unsigned char *o = realloc(c->out, cap);
    if (o == NULL)
        return -1;
    c->out = o;
    c->outcap = cap;
    return 0;
}

static void put_frame_header(unsigned char *p, size_t len, int type, int flags, uint32_t sid)
{
    p[0] = (unsigned char)(len >> 16);
    p[1] = (unsigned char)(len >> 8);
    p[2] = (unsigned char)len;
    p[3] = (unsigned char)type;
    p[4] = (unsigned char)flags;
    p[5] = (unsigned char)((sid >> 24) & 0x7f);
    p[6] = (unsigned char)(sid >> 16);
    p[7] = (unsigned char)(sid >> 8);
    p[8] = (unsigned char)sid;
}

static int out_frame(it_h2_t *c, int type, int flags, uint32_t sid, const void *payload, size_t len)
{
    if (out_reserve(c, 9 + len) != 0)
        return -1;
    put_frame_header(c->out + c->outlen, len, type, flags, sid);
    if (len > 0)
        memcpy(c->out + c->outlen + 9, payload, len);
    c->outlen += 9 + len;
    return 0;
}

/* An HPACK integer with an @bits-bit prefix whose high bits are @first. */
static size_t hpack_int(unsigned char *p, unsigned first, int bits, size_t v)
{
    size_t max = ((size_t)1 << bits) - 1, n = 0;
    if (v < max) {
        p[n++] = (unsigned char)(first | v);
        return n;
    }
    p[n++] = (unsigned char)(first | max);
    v -= max;
    while (v >= 128) {
        p[n++] = (unsigned char)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* A literal field without indexing, its name by static-table index, its value raw. */
static size_t hpack_literal(unsigned char *p, size_t name_index, const char *v, size_t vlen)
{
    size_t n = hpack_int(p, 0x00, 4, name_index);
    n += hpack_int(p + n, 0x00, 7, vlen);
    memcpy(p + n, v, vlen);
    return n + vlen;
}

/* The header block of a request into @hb (2048 bytes): @auth_line ("Authorization: …") may be NULL; @clen < 0 sends no content-length. 0, or -1 when the path is too long. */
static int request_block(const it_h2_t *c, unsigned char *hb, size_t *len, const char *method, const char *path,
                         const char *auth_line, long clen)
{
    static const char auth_name[] = "Authorization: ";
    char authority[32], cl[24];
    size_t plen = strlen(path), alen = 0;
    const char *auth = NULL;
    if (auth_line != NULL) {
        if (strncmp(auth_line, auth_name, sizeof auth_name - 1) != 0)
            return -1;
        auth = auth_line + sizeof auth_name - 1;
        alen = strlen(auth);
    }
    if (plen > 800 || alen > 1000)
        return -1;
    size_t n = 0;
    hb[n++] = strcmp(method, "GET") == 0 ? 0x82 : 0x83; /* :method GET / POST (static 2, 3) */
    hb[n++] = 0x86;                                     /* :scheme http (static 6) */
    n += hpack_literal(hb + n, 4, path, plen);          /* :path */
    int al = snprintf(authority, sizeof authority, "127.0.0.1:%d", c->port);
    n += hpack_literal(hb + n, 1, authority, (size_t)al); /* :authority */
    if (auth != NULL)
        n += hpack_literal(hb + n, 23, auth, alen); /* authorization (static 23) */
    if (clen >= 0) {
        n += hpack_literal(hb + n, 31, "application/json", 16); /* content-type */
        int l = snprintf(cl, sizeof cl, "%ld", clen);
        n += hpack_literal(hb + n, 28, cl, (size_t)l); /* content-length */
    }
    *len = n;
    return 0;
}

/* Queues request @q on a new stream: HEADERS then DATA, back to back. */
static int out_request(it_h2_t *c, const it_h2_req_t *q, size_t blen)
{
    unsigned char hb[2048];
    size_t n;
    if (request_block(c, hb, &n, q->method, q->path, q->auth_line, q->body != NULL ? (long)blen : -1) != 0)
        return -1;
    uint32_t sid = c->next_sid;
    c->next_sid += 2;
    if (out_frame(c, FRAME_HEADERS, FLAG_END_HEADERS | (q->body == NULL ? FLAG_END_STREAM : 0), sid, hb, n) != 0)
        return -1;
    if (q->body != NULL && out_frame(c, FRAME_DATA, FLAG_END_STREAM, sid, q->body, blen) != 0)
        return -1;
    return 0;
}

static int flush_out(it_h2_t *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c->outoff += (size_t)w;
    }
    return 0;
}

/* ---- connect ------------------------------------------------------------------ */

it_h2_t *it_h2_connect(int port)
{
    it_h2_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->port = port;
    c->next_sid = 1;
    c->max_streams = 100;
    c->window = 65535;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "it_h2: connect to port %d: %s\n", port, strerror(errno));
        it_h2_close(c);
        return NULL;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    /* No push; the largest stream window; then the connection window raised to the largest too:
     * the responses never wait for a WINDOW_UPDATE from us. */
    static const unsigned char settings[] = {0, 2, 0, 0, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff};
    unsigned char inc[4];
    uint32_t v = WINDOW_MAX - 65535;
    inc[0] = (unsigned char)(v >> 24);
    inc[1] = (unsigned char)(v >> 16);
    inc[2] = (unsigned char)(v >> 8);
    inc[3] = (unsigned char)v;
    if (out_reserve(c, sizeof preface - 1) != 0) {
        it_h2_close(c);
        return NULL;
    }
    memcpy(c->out, preface, sizeof preface - 1);
    c->outlen = sizeof preface - 1;
    if (out_frame(c, FRAME_SETTINGS, 0, 0, settings, sizeof settings) != 0 || out_frame(c, FRAME_WINDOW_UPDATE, 0, 0, inc, 4) != 0 ||
        flush_out(c) != 0) {
        fprintf(stderr, "it_h2: cannot send the connection preface\n");
        it_h2_close(c);
        return NULL;
    }
    return c;
}

void it_h2_close(it_h2_t *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c->map);
    free(c->raw);
    free(c);
}

/* ---- input -------------------------------------------------------------------- */

typedef struct {
    it_h2_req_t *reqs;
    size_t done;
    int keep_bodies;
    it_h2_progress_cb progress;
    void *arg;
} run_t;

static it_h2_req_t *stream_req(it_h2_t *c, run_t *run, uint32_t sid)
{
    if (sid == 0 || (sid & 1) == 0)
        return NULL;
    uint32_t slot = (sid - 1) / 2;
    if (slot < c->first_slot || slot - c->first_slot >= c->mapn)
        return NULL;
    size_t i = c->map[slot - c->first_slot];
    return i == SIZE_MAX ? NULL : &run->reqs[i];
}

static void complete(it_h2_t *c, run_t *run, uint32_t sid)
{
    uint32_t slot = (sid - 1) / 2 - c->first_slot;
    c->map[slot] = SIZE_MAX;
    c->open--;
    run->done++;
    if (run->progress != NULL)
        run->progress(run->arg, run->done);
}

/* The :status at the start of a header block (see it_h2.h), 0 when it is not there in a form we read. */
static int block_status(const unsigned char *p, size_t n)
{
    static const int indexed[] = {200, 204, 206, 304, 400, 404, 500}; /* static table 8..14 */
    size_t i = 0;
    while (i < n && (p[i] & 0xe0) == 0x20) /* dynamic table size updates (small values) */
        i++;
    if (i >= n)
        return 0;
    if (p[i] & 0x80) {
        unsigned idx = p[i] & 0x7f;
        return idx >= 8 && idx <= 14 ? indexed[idx - 8] : 0;
    }
    if (((p[i] & 0xc0) == 0x40 && (p[i] & 0x3f) == 8) || ((p[i] & 0xe0) == 0x00 && (p[i] & 0x0f) == 8)) {
        if (i + 5 > n || p[i + 1] != 3)
            return 0;
        return (p[i + 2] - '0') * 100 + (p[i + 3] - '0') * 10 + (p[i + 4] - '0');
    }
    return 0;
}

static void keep_body(it_h2_req_t *q, const unsigned char *p, size_t n)
{
    if (q->resp_len + n > RESP_MAX)
        return;
    char *b = realloc(q->resp, q->resp_len + n + 1);
    if (b == NULL)
        return;
    memcpy(b + q->resp_len, p, n);
    q->resp = b;
    q->resp_len += n;
    q->resp[q->resp_len] = '\0';
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One frame. -1 when the connection must end (GOAWAY, a frame we cannot take). */
static int on_frame(it_h2_t *c, run_t *run, int type, int flags, uint32_t sid, const unsigned char *p, size_t len)
{
    it_h2_req_t *q = stream_req(c, run, sid);
    switch (type) {
    case FRAME_DATA:
    case FRAME_HEADERS: {
        size_t off = 0, pad = 0;
        if (flags & FLAG_PADDED) {
            if (len < 1)
                return -1;
            pad = p[0];
            off = 1;
        }
        if (type == FRAME_HEADERS && (flags & FLAG_PRIORITY))
            off += 5;
        if (off + pad > len)
            return -1;
        if (q == NULL)
            return 0;
        if (type == FRAME_HEADERS && q->status == 0)
            q->status = block_status(p + off, len - off - pad);
        else if (type == FRAME_DATA && run->keep_bodies)
            keep_body(q, p + off, len - off - pad);
        if (flags & FLAG_END_STREAM)
            complete(c, run, sid);
        return 0;
    }
    case FRAME_RST_STREAM:
        if (q != NULL)
            complete(c, run, sid);
        return 0;
    case FRAME_SETTINGS:
        if (flags & FLAG_ACK)
            return 0;
        for (size_t i = 0; i + 6 <= len; i += 6) {
            unsigned id = (unsigned)p[i] << 8 | p[i + 1];
            uint32_t v = be32(p + i + 2);
            if (id == 3)
                c->max_streams = v > 10000 ? 10000 : (int)v;
        }
        return out_frame(c, FRAME_SETTINGS, FLAG_ACK, 0, NULL, 0);
    case FRAME_PING:
        return (flags & FLAG_ACK) || len != 8 ? 0 : out_frame(c, FRAME_PING, FLAG_ACK, 0, p, 8);
    case FRAME_GOAWAY:
        fprintf(stderr, "it_h2: the server sent GOAWAY\n");
        return -1;
    case FRAME_WINDOW_UPDATE:
        if (sid == 0 && len == 4)
            c->window += be32(p) & 0x7fffffff;
        return 0;
    default:
        return 0; /* PRIORITY, CONTINUATION (never for responses this small), unknown */
    }
}

/* One frame for the single-stream API. -1 when the connection must end. */
static int raw_frame(it_h2_t *c, int type, int flags, uint32_t sid, const unsigned char *p, size_t len)
{
    it_h2_stream_t *st = c->raw != NULL && (sid & 1) && (sid - 1) / 2 < IT_H2_RAW_MAX ? &c->raw[(sid - 1) / 2] : NULL;
    switch (type) {
    case FRAME_HEADERS: {
        size_t off = (flags & FLAG_PADDED) ? 1 : 0, pad = (flags & FLAG_PADDED) && len > 0 ? p[0] : 0;
        if (flags & FLAG_PRIORITY)
            off += 5;
        if (off + pad > len)
            return -1;
        if (st != NULL && st->status == 0)
            st->status = block_status(p + off, len - off - pad);
        if (st != NULL && (flags & FLAG_END_STREAM))
            st->ended_ms = it_now_ms();
        return 0;
    }
    case FRAME_DATA:
        if (st != NULL && (flags & FLAG_END_STREAM))
            st->ended_ms = it_now_ms();
        return 0;
    case FRAME_RST_STREAM:
        if (st != NULL && len == 4 && st->rst == 0) { /* the first: late DATA of a reset stream draws STREAM_CLOSED after it */
            st->rst = (int)be32(p);
            st->ended_ms = it_now_ms();
        }
        return 0;
    case FRAME_GOAWAY:
        c->goaway = 1;
        return -1;
    default:
        return on_frame(c, &(run_t){0}, type, flags, 0, p, len); /* SETTINGS, PING, WINDOW_UPDATE: connection-level */
    }
}

static int read_in(it_h2_t *c, run_t *run)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->inlen += (size_t)r;
        size_t off = 0;
        while (c->inlen - off >= 9) {
            const unsigned char *h = c->in + off;
            size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
            if (len > IN_MAX - 9)
                return -1;
            if (c->inlen - off < 9 + len)
                break;
            int rc = run != NULL ? on_frame(c, run, h[3], h[4], be32(h + 5) & 0x7fffffff, h + 9, len)
                                 : raw_frame(c, h[3], h[4], be32(h + 5) & 0x7fffffff, h + 9, len);
            if (rc != 0)
                return -1;
            off += 9 + len;
        }
        memmove(c->in, c->in + off, c->inlen - off);
        c->inlen -= off;
    }
}

/* ---- run ---------------------------------------------------------------------- */

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t it_h2_run(it_h2_t **conns, int nconns, it_h2_req_t *reqs, size_t n, int inflight, int gap_us, int keep_bodies,
                 int deadline_ms, it_h2_progress_cb progress, void *arg)
{
    run_t run = {reqs, 0, keep_bodies, progress, arg};
    long long deadline = it_now_ms() + deadline_ms;
    for (size_t i = 0; i < n; i++) {
        reqs[i].status = 0;
        reqs[i].resp = NULL;
        reqs[i].resp_len = 0;
    }
    for (int k = 0; k < nconns; k++) {
        it_h2_t *c = conns[k];
        size_t mine = n / (size_t)nconns + 1;
        free(c->map);
        c->map = malloc(mine * sizeof *c->map);
        c->mapcap = c->map != NULL ? mine : 0;
        c->mapn = 0;
        c->first_slot = (c->next_sid - 1) / 2;
        c->next_req = (size_t)k;
        c->open = 0;
        c->next_us = 0;
        if (c->map == NULL)
            c->dead = 1;
    }
    for (;;) {
        struct pollfd pfd[nconns];
        int live = 0;
        for (int k = 0; k < nconns; k++) {
            it_h2_t *c = conns[k];
            pfd[k] = (struct pollfd){-1, 0, 0};
            if (c->dead)
                continue;
            int cap = inflight < c->max_streams ? inflight : c->max_streams;
            long long t = gap_us > 0 ? now_us() : 0;
            while (c->next_req < n && c->open < cap && c->mapn < c->mapcap && (gap_us == 0 || t >= c->next_us)) {
                it_h2_req_t *q = &reqs[c->next_req];
                size_t blen = q->body != NULL ? strlen(q->body) : 0;
                if (blen > BODY_MAX || (long long)blen > c->window)
                    break;
                if (out_request(c, q, blen) != 0) {
                    c->dead = 1;
                    break;
                }
                c->window -= (long long)blen;
                c->map[c->mapn++] = c->next_req;
                c->open++;
                c->next_req += (size_t)nconns;
                if (gap_us > 0)
                    c->next_us = (c->next_us > t - gap_us ? c->next_us : t) + gap_us;
            }
            if (!c->dead && flush_out(c) != 0)
                c->dead = 1;
            if (c->dead || (c->open == 0 && c->next_req >= n))
                continue;
            pfd[k] = (struct pollfd){c->fd, (short)(POLLIN | (c->outoff < c->outlen ? POLLOUT : 0)), 0};
            live++;
        }
        long long left = deadline - it_now_ms();
        if (live == 0 || left <= 0)
            break;
        int wait = gap_us > 0 ? 0 : left < 50 ? (int)left : 50; /* paced: a busy loop keeps the pace */
        if (poll(pfd, (nfds_t)nconns, wait) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < nconns; k++) {
            if (pfd[k].fd < 0 || pfd[k].revents == 0)
                continue;
            if (read_in(conns[k], &run) != 0 || flush_out(conns[k]) != 0) {
                conns[k]->dead = 1;
                fprintf(stderr, "it_h2: connection %d ended with %d streams open\n", k, conns[k]->open);
            }
        }
    }
    size_t got = 0;
    for (size_t i = 0; i < n; i++)
        got += reqs[i].status != 0;
    return got;
}

void it_h2_free_bodies(it_h2_req_t *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(reqs[i].resp);
        reqs[i].resp = NULL;
        reqs[i].resp_len = 0;
    }
}

/* ---- single streams ------------------------------------------------------------- */

uint32_t it_h2_open(it_h2_t *c, const char *method, const char *path, long clen, int end_stream)
{
    if (c->raw == NULL && (c->raw = calloc(IT_H2_RAW_MAX, sizeof *c->raw)) == NULL)
        return 0;
    unsigned char hb[2048];
    size_t n;
    uint32_t sid = c->next_sid;
    if ((sid - 1) / 2 >= IT_H2_RAW_MAX || request_block(c, hb, &n, method, path, NULL, clen) != 0)
        return 0;
    c->next_sid += 2;
    c->raw[(sid - 1) / 2] = (it_h2_stream_t){0};
    if (out_frame(c, FRAME_HEADERS, FLAG_END_HEADERS | (end_stream ? FLAG_END_STREAM : 0), sid, hb, n) != 0)
        return 0;
    return sid;
}

int it_h2_data(it_h2_t *c, uint32_t sid, const void *p, size_t n, int end_stream)
{
    const char *b = p;
    do {
        size_t k = n > BODY_MAX ? BODY_MAX : n;
        if (out_frame(c, FRAME_DATA, end_stream && k == n ? FLAG_END_STREAM : 0, sid, b, k) != 0)
            return -1;
        b += k;
        n -= k;
    } while (n > 0);
    return 0;
}

int it_h2_pump(it_h2_t *c, int ms)
{
    long long deadline = it_now_ms() + ms;
    for (;;) {
        if (c->dead || flush_out(c) != 0) {
            c->dead = 1;
            return -1;
        }
        long long left = deadline - it_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {c->fd, (short)(POLLIN | (c->outoff < c->outlen ? POLLOUT : 0)), 0};
        if (poll(&pfd, 1, left < 20 ? (int)left : 20) < 0 && errno != EINTR)
            return -1;
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && read_in(c, NULL) != 0) {
            c->dead = 1;
            return -1;
        }
    }
}

const it_h2_stream_t *it_h2_stream(const it_h2_t *c, uint32_t sid)
{
    static const it_h2_stream_t none = {0};
    if (c->raw == NULL || sid == 0 || (sid & 1) == 0 || (sid - 1) / 2 >= IT_H2_RAW_MAX)
        return &none;
    return &c->raw[(sid - 1) / 2];
}

int it_h2_got_goaway(const it_h2_t *c)
{
    return c->goaway;
}
