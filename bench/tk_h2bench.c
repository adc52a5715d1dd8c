/*
 * tk_h2bench: a small, bounded HTTP/2-over-TLS load driver for the benchmark.
 *
 * Why it exists: h2load sends the same request body every time, so it cannot
 * make every claim come from a new user. This driver opens C connections to a
 * loopback address, keeps M streams in flight on each, and gives every POST a
 * fresh random user id ({"user_id":"u-<16 hex>"}). A GET mode (no body) lets
 * the same driver be measured on the trivial route, so its own cost is known.
 *
 * With user tokens (-T CSV of "user_id,token" lines, as `tk-token --csv`
 * writes them): every POST is a claim by the next user of the file in a
 * random order (the file is shuffled once at start, so no user comes twice
 * until all have come), with {"user_id":"<that user>"} as body and
 * "authorization: Bearer <that user's token>". The body names the user in
 * both gateway modes, so the same requests measure USER_AUTH=required (the
 * token verified, body user = sub) against USER_AUTH=off (the header
 * ignored): the difference is the verification's cost. "wrapped" in the
 * output counts the requests that came after every user had come once.
 *
 * Templates (the leaderboard loads): with -U N, "{u}" in PATH or in the
 * body template -b becomes "u<k>" for a random k in 1..N, and "{r}" a
 * random integer in 0..999999, anew for every request; -A TOKEN sends
 * "authorization: Bearer TOKEN" (an admin token) with every request. E.g.
 *   -U 1000000 -X GET '/v1/boards/b/users/{u}/around?radius=5'
 *   -U 1000000 -A "$ADMIN" -b '{"scores":[{"user_id":"{u}","score":[{r},{r}]}]}' /v1/admin/boards/b/scores
 *
 * Bounded: it stops starting requests after -d seconds or -n requests,
 * whichever comes first, waits at most 5 s for the ones in flight, and only
 * ever connects to 127.0.0.0/8 or ::1. One thread, one epoll loop.
 *
 * Output: one line of JSON on stdout:
 *   {"requests":N,"seconds":S,"rps":R,"p50_ms":..,"p90_ms":..,"p99_ms":..,
 *    "max_ms":..,"s2xx":..,"s200":..,"s201":..,"s4xx":..,"s409":..,"s429":..,"s5xx":..,
 *    "errors":E,"users":U,"wrapped":W}   (users/wrapped: 0 without -T)
 * Latency is from submitting the request to the stream's close, per stream;
 * percentiles are exact (all samples kept and sorted).
 *
 * Usage: tk-h2bench -p PORT [-h 127.0.0.1] [-c 16] [-m 32] [-d 10]
 *                   [-n 5000000] [-X POST|GET] [-T TOKENS.csv] PATH
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_STREAMS 256
#define GRACE_NS 5000000000LL
#define USER_MAX 64              /* a user_id, API.md */
#define TOKEN_MAX 4096           /* TK_JWT_MAX: the longest token the gateway takes */
#define TOKENS_FILE_MAX (1L << 30)
#define BODY_MAX 1024            /* a body or path built from a template */

typedef struct bconn_t bconn_t;

typedef struct {
    bconn_t *conn;
    int used;
    int status;
    int64_t t0;
    char body[BODY_MAX];
    size_t len, off;
} bstream_t;

struct bconn_t {
    int fd;
    SSL *ssl;
    nghttp2_session *sess;
    bstream_t streams[MAX_STREAMS];
    int inflight;
    uint8_t *out;
    size_t outlen, outcap;
    int want_out; /* EPOLLOUT registered */
    int dead;
};

static struct {
    const char *host, *path, *method;
    int port, conns, streams, post;
    double seconds;
    long maxreq;
    char authority[64];
    const char *tokens_file;
    const char *body_tpl, *bearer; /* -b, -A */
    long users;                    /* -U: the pool "{u}" draws from; 0 = no templates */
} opt = {"127.0.0.1", NULL, "POST", 0, 16, 32, 1, 10, 5000000, "", NULL, NULL, NULL, 0};

/* The users and tokens of -T: pointers into one buffer holding the file,
 * in the (shuffled) order they are used. */
static struct {
    char *buf;
    const char **user, **token;
    long n, next;
} tk;

static struct {
    int64_t start, stop_at, last_done;
    long started, done, errors;
    long s2xx, s200, s201, s4xx, s409, s429, s5xx, sother;
    uint32_t *lat_us;
    int stopping;
    uint64_t rng;
    int epfd;
} g;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t rnd(void)
{
    /* xorshift64*: fast, and random enough that two runs never share a user */
    g.rng ^= g.rng >> 12;
    g.rng ^= g.rng << 25;
    g.rng ^= g.rng >> 27;
    return g.rng * 2685821657736338717ULL;
}

static void die(const char *what)
{
    fprintf(stderr, "tk-h2bench: %s\n", what);
    exit(1);
}

static int all_in(const char *s, size_t n, const char *alphabet_extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(alphabet_extra, c) != NULL))
            return 0;
    }
    return 1;
}

/* Reads -T: lines "user_id,token" (no header; a final newline optional),
 * each user_id 1..64 of [A-Za-z0-9_.:@-], each token 1..TOKEN_MAX of
 * base64url and dots. Any other line stops the run with its number. Then
 * shuffles them (Fisher-Yates on the run's generator). */
static void load_tokens(const char *path)
{
    char msg[600];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(msg, sizeof(msg), "-T %s: cannot open", path);
        die(msg);
    }
    if (fseek(f, 0, SEEK_END) != 0)
        die("-T: cannot seek");
    long size = ftell(f);
    if (size <= 0 || size > TOKENS_FILE_MAX)
        die("-T: the file is empty or larger than 1 GiB");
    rewind(f);
    tk.buf = malloc((size_t)size + 1);
    if (tk.buf == NULL || fread(tk.buf, 1, (size_t)size, f) != (size_t)size)
        die("-T: cannot read the file");
    fclose(f);
    tk.buf[size] = '\n';
    long lines = 0;
    for (long i = 0; i < size; i++)
        lines += tk.buf[i] == '\n';
    lines += tk.buf[size - 1] != '\n';
    tk.user = malloc(sizeof(char *) * (size_t)lines);
    tk.token = malloc(sizeof(char *) * (size_t)lines);
    if (tk.user == NULL || tk.token == NULL)
        die("out of memory");
    char *p = tk.buf, *end = tk.buf + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p) + 1);
        char *comma = memchr(p, ',', (size_t)(nl - p));
        size_t ulen = comma ? (size_t)(comma - p) : 0, tlen = comma ? (size_t)(nl - comma - 1) : 0;
        if (tlen > 0 && comma[tlen] == '\r')
            tlen--;
        if (comma == NULL || ulen < 1 || ulen > USER_MAX || !all_in(p, ulen, "_.:@-") || tlen < 1 || tlen > TOKEN_MAX ||
            !all_in(comma + 1, tlen, "_-.")) {
            snprintf(msg, sizeof(msg), "-T %s: line %ld is not \"user_id,token\"", path, tk.n + 1);
            die(msg);
        }
        *comma = '\0';
        comma[1 + tlen] = '\0';
        tk.user[tk.n] = p;
        tk.token[tk.n] = comma + 1;
        tk.n++;
        p = nl + 1;
    }
    for (long i = tk.n - 1; i > 0; i--) {
        long j = (long)(rnd() % (uint64_t)(i + 1));
        const char *u = tk.user[i], *t = tk.token[i];
        tk.user[i] = tk.user[j], tk.token[i] = tk.token[j];
        tk.user[j] = u, tk.token[j] = t;
    }
}

/* ---- nghttp2 callbacks ---------------------------------------------------- */

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    bstream_t *st = src->ptr;
    (void)s, (void)sid, (void)ud;
    size_t n = st->len - st->off;
    if (n > len)
        n = len;
    memcpy(buf, st->body + st->off, n);
    st->off += n;
    if (st->off == st->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Writes @tpl into @out (@cap bytes, NUL-terminated) with every "{u}" and
 * "{r}" drawn anew (see the top). Returns the length, or -1 when it does not fit. */
static int expand(const char *tpl, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tpl; *p != '\0';) {
        char tmp[32];
        const char *add = p;
        size_t alen = 1;
        if (strncmp(p, "{u}", 3) == 0 && opt.users > 0) {
            alen = (size_t)snprintf(tmp, sizeof tmp, "u%llu", (unsigned long long)(rnd() % (uint64_t)opt.users + 1));
            add = tmp;
            p += 3;
        } else if (strncmp(p, "{r}", 3) == 0) {
            alen = (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)(rnd() % 1000000));
            add = tmp;
            p += 3;
        } else {
            p++;
        }
        if (n + alen + 1 > cap)
            return -1;
        memcpy(out + n, add, alen);
        n += alen;
    }
    out[n] = '\0';
    return (int)n;
}

static int submit(bconn_t *c)
{
    bstream_t *st = NULL;
    for (int i = 0; i < opt.streams; i++)
        if (!c->streams[i].used) {
            st = &c->streams[i];
            break;
        }
    if (st == NULL)
        return -1;
    char clen[16], auth[8 + TOKEN_MAX], path[BODY_MAX];
    nghttp2_nv hdrs[8];
    int nh = 0;
#define NV(n, v, vl) hdrs[nh++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}
    NV(":method", opt.method, strlen(opt.method));
    NV(":scheme", "https", 5);
    NV(":authority", opt.authority, strlen(opt.authority));
    int pl = opt.users > 0 ? expand(opt.path, path, sizeof path) : (int)strlen(opt.path);
    if (pl < 0)
        die("the path template does not fit");
    NV(":path", opt.users > 0 ? path : opt.path, (size_t)pl);
    if (opt.bearer != NULL) {
        int al = snprintf(auth, sizeof(auth), "Bearer %s", opt.bearer);
        NV("authorization", auth, (size_t)al);
    }
    nghttp2_data_provider dp, *dpp = NULL;
    if (opt.post && opt.body_tpl != NULL) {
        int bl = expand(opt.body_tpl, st->body, sizeof st->body);
        if (bl < 0)
            die("the body template does not fit");
        st->len = (size_t)bl;
    } else if (opt.post && tk.n > 0) {
        /* nghttp2 copies header values at submit: auth may live on the stack;
         * the body is read later, so it lives in the stream. */
        long k = tk.next++ % tk.n;
        int al = snprintf(auth, sizeof(auth), "Bearer %s", tk.token[k]);
        NV("authorization", auth, (size_t)al);
        st->len = (size_t)snprintf(st->body, sizeof(st->body), "{\"user_id\":\"%s\"}", tk.user[k]);
    } else if (opt.post) {
        st->len = (size_t)snprintf(st->body, sizeof(st->body), "{\"user_id\":\"u-%016llx\"}", (unsigned long long)rnd());
    }
    if (opt.post) {
        st->off = 0;
        int cl = snprintf(clen, sizeof(clen), "%zu", st->len);
        NV("content-type", "application/json", 16);
        NV("content-length", clen, (size_t)cl);
        dp.source.ptr = st;
        dp.read_callback = read_body;
        dpp = &dp;
    }
#undef NV
    st->conn = c;
    st->status = 0;
    st->t0 = now_ns();
    int32_t sid = nghttp2_submit_request(c->sess, NULL, hdrs, (size_t)nh, dpp, st);
    if (sid < 0)
        return -1;
    st->used = 1;
    c->inflight++;
    g.started++;
    return 0;
}

static int may_start(void)
{
    if (g.stopping)
        return 0;
    if (g.started >= opt.maxreq || now_ns() >= g.stop_at) {
        g.stopping = 1;
        return 0;
    }
    return 1;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags, (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || nlen != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    bstream_t *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st != NULL && vlen == 3)
        st->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t err, void *ud)
{
    bconn_t *c = ud;
    bstream_t *st = nghttp2_session_get_stream_user_data(s, sid);
    if (st == NULL)
        return 0;
    int64_t t = now_ns();
    if (err != NGHTTP2_NO_ERROR || st->status == 0) {
        g.errors++;
    } else {
        if (g.done < opt.maxreq)
            g.lat_us[g.done] = (uint32_t)((t - st->t0) / 1000);
        g.done++;
        g.last_done = t;
        int sc = st->status;
        if (sc >= 200 && sc < 300)
            g.s2xx++;
        else if (sc >= 400 && sc < 500)
            g.s4xx++;
        else if (sc >= 500)
            g.s5xx++;
        else
            g.sother++;
        if (sc == 200)
            g.s200++;
        else if (sc == 201)
            g.s201++;
        else if (sc == 409)
            g.s409++;
        else if (sc == 429)
            g.s429++;
    }
    st->used = 0;
    c->inflight--;
    if (may_start())
        submit(c);
    return 0;
}

/* ---- connections ---------------------------------------------------------- */

static void set_events(bconn_t *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (out != c->want_out) {
        epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = out;
    }
}

static void kill_conn(bconn_t *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    g.errors += c->inflight;
    c->inflight = 0;
    epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

/* Moves what nghttp2 wants to send into c->out, then writes what TLS takes. */
static void flush(bconn_t *c)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->sess, &data);
        if (n < 0) {
            kill_conn(c);
            return;
        }
        if (n == 0)
            break;
        if (c->outlen + (size_t)n > c->outcap) {
            size_t cap = c->outcap * 2;
            while (cap < c->outlen + (size_t)n)
                cap *= 2;
            c->out = realloc(c->out, cap);
            if (c->out == NULL)
                die("out of memory");
            c->outcap = cap;
        }
        memcpy(c->out + c->outlen, data, (size_t)n);
        c->outlen += (size_t)n;
        if (c->outlen >= 16384)
            break;
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
    memmove(c->out, c->out + off, c->outlen - off);
    c->outlen -= off;
    set_events(c, c->outlen > 0 || nghttp2_session_want_write(c->sess));
}

static void on_readable(bconn_t *c)
{
    uint8_t buf[65536];
    for (int rounds = 0; rounds < 16; rounds++) {
        int r = SSL_read(c->ssl, buf, sizeof(buf));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            kill_conn(c);
            return;
        }
        if (nghttp2_session_mem_recv(c->sess, buf, (size_t)r) < 0) {
            kill_conn(c);
            return;
        }
    }
}

static int loopback(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            return -1;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt.port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 && IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt.port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

static void open_conn(SSL_CTX *ctx, bconn_t *c)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (loopback(opt.host, &ss, &sl) != 0)
        die("only loopback addresses (127.0.0.0/8, ::1) are allowed");
    c->fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&ss, sl) != 0)
        die("cannot connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (SSL_connect(c->ssl) != 1)
        die("TLS handshake failed");
    const unsigned char *alpn;
    unsigned alen;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    if (alen != 2 || memcmp(alpn, "h2", 2) != 0)
        die("the server did not select h2 by ALPN");
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    if (nghttp2_session_client_new(&c->sess, cb, c) != 0)
        die("nghttp2_session_client_new failed");
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
    nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0, 1 << 30);
    c->outcap = 65536;
    c->out = malloc(c->outcap);
    if (c->out == NULL)
        die("out of memory");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g.epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)n);
    if (i >= n)
        i = n - 1;
    return g.lat_us[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: tk-h2bench -p PORT [-h 127.0.0.1] [-c 16] [-m 32] [-d 10] [-n 5000000] [-X POST|GET] [-T TOKENS.csv]\n"
                    "                  [-U USERS] [-b BODY_TEMPLATE] [-A BEARER] PATH\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int o;
    while ((o = getopt(argc, argv, "h:p:c:m:d:n:X:T:U:b:A:")) != -1) {
        switch (o) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'm': opt.streams = atoi(optarg); break;
        case 'd': opt.seconds = atof(optarg); break;
        case 'n': opt.maxreq = atol(optarg); break;
        case 'X': opt.method = optarg; break;
        case 'T': opt.tokens_file = optarg; break;
        case 'U': opt.users = atol(optarg); break;
        case 'b': opt.body_tpl = optarg; break;
        case 'A': opt.bearer = optarg; break;
        default: usage();
        }
    }
    if (optind != argc - 1 || opt.port <= 0 || opt.port > 65535)
        usage();
    opt.path = argv[optind];
    opt.post = strcmp(opt.method, "POST") == 0;
    if (!opt.post && strcmp(opt.method, "GET") != 0)
        usage();
    if (opt.conns < 1 || opt.conns > MAX_CONNS || opt.streams < 1 || opt.streams > MAX_STREAMS)
        die("-c must be 1..256 and -m 1..256");
    if (opt.users < 0 || opt.users > 1000000000 || (opt.body_tpl != NULL && (!opt.post || opt.tokens_file != NULL)) ||
        (opt.bearer != NULL && (opt.tokens_file != NULL || strlen(opt.bearer) > TOKEN_MAX || !all_in(opt.bearer, strlen(opt.bearer), "-_.~+/="))))
        die("-U must be 0..1000000000; -b goes with -X POST and without -T; -A is a bearer token, not with -T");
    if (opt.seconds <= 0 || opt.seconds > 600 || opt.maxreq < 1 || opt.maxreq > 100000000)
        die("-d must be in (0, 600] seconds and -n in 1..100000000");
    snprintf(opt.authority, sizeof(opt.authority), "%s:%d", opt.host, opt.port);
    signal(SIGPIPE, SIG_IGN);

    g.lat_us = malloc(sizeof(uint32_t) * (size_t)opt.maxreq);
    if (g.lat_us == NULL)
        die("out of memory");
    {
        uint64_t seed = 0;
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(&seed, sizeof(seed), 1, f) != 1)
            seed = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
        if (f != NULL)
            fclose(f);
        g.rng = seed | 1;
    }
    if (opt.tokens_file != NULL) {
        if (!opt.post)
            die("-T goes with -X POST (claims)");
        load_tokens(opt.tokens_file);
    }

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* loopback, self-signed */
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    g.epfd = epoll_create1(0);

    bconn_t *conns = calloc((size_t)opt.conns, sizeof(bconn_t));
    if (conns == NULL)
        die("out of memory");
    for (int i = 0; i < opt.conns; i++)
        open_conn(ctx, &conns[i]);

    g.start = now_ns();
    g.stop_at = g.start + (int64_t)(opt.seconds * 1e9);
    for (int i = 0; i < opt.conns; i++) {
        for (int k = 0; k < opt.streams && may_start(); k++)
            submit(&conns[i]);
        flush(&conns[i]);
    }

    struct epoll_event evs[MAX_CONNS];
    for (;;) {
        long inflight = 0;
        for (int i = 0; i < opt.conns; i++)
            inflight += conns[i].dead ? 0 : conns[i].inflight;
        int64_t t = now_ns();
        if (!g.stopping && t >= g.stop_at)
            g.stopping = 1;
        if (g.stopping && (inflight == 0 || t >= g.stop_at + GRACE_NS))
            break;
        int n = epoll_wait(g.epfd, evs, MAX_CONNS, 100);
        for (int i = 0; i < n; i++) {
            bconn_t *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
            if (!c->dead)
                flush(c);
        }
        if (n == 0) /* idle: make sure nothing waits on a write */
            for (int i = 0; i < opt.conns; i++)
                if (!conns[i].dead)
                    flush(&conns[i]);
    }
    for (int i = 0; i < opt.conns; i++)
        if (!conns[i].dead)
            g.errors += conns[i].inflight;

    long n = g.done < opt.maxreq ? g.done : opt.maxreq;
    qsort(g.lat_us, (size_t)n, sizeof(uint32_t), cmp_u32);
    double secs = g.done > 0 ? (double)(g.last_done - g.start) / 1e9 : (double)(now_ns() - g.start) / 1e9;
    printf("{\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
           "\"s2xx\":%ld,\"s200\":%ld,\"s201\":%ld,\"s4xx\":%ld,\"s409\":%ld,\"s429\":%ld,\"s5xx\":%ld,\"sother\":%ld,\"errors\":%ld,"
           "\"users\":%ld,\"wrapped\":%ld}\n",
           g.done, secs, secs > 0 ? (double)g.done / secs : 0, pct(n, 0.50), pct(n, 0.90), pct(n, 0.99), n > 0 ? g.lat_us[n - 1] / 1000.0 : 0,
           g.s2xx, g.s200, g.s201, g.s4xx, g.s409, g.s429, g.s5xx, g.sother, g.errors,
           tk.n, tk.next > tk.n ? tk.next - tk.n : 0);
    return 0;
}
