#include "gw_conn.h"
#include "gw_cidr.h"
#include "gw_client_addr.h"
#include "gw_connlimit.h"
#include "gw_h2guard.h"
#include "gw_proxy_line.h"
#include "gw_ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* One accepted connection: malloc'ed at accept, freed by its socket's on_close. */
typedef struct {
    h2o_linklist_t link;     /* in th->conn_list while the socket is open */
    gw_thread_t *th;
    h2o_socket_t *sock;      /* dangling once on_close ran: only used before */
    h2o_accept_ctx_t *actx;  /* TLS or cleartext */
    uint64_t key;            /* counted under this key in the per-address table; 0: not counted */
    h2o_timeout_entry_t proxy_timeout; /* linked while its PROXY line is awaited */
} conn_t;

static struct {
    uint64_t refused;   /* closed at accept: over CONN_PER_IP */
    uint64_t untracked; /* let in uncounted: the table was full */
    uint64_t proxy[5];  /* PROXY lines by gw_proxy_result_t (MORE unused) */
    gw_h2guard_stats_t h2;
} stats;

static void count_stat(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* ---- setup ------------------------------------------------------------------ */

int gw_conn_start(gw_server_t *srv)
{
    if (srv->conf->conn_per_ip == 0)
        return 0;
    /* Every counted address holds a descriptor: twice the limit keeps the table at most half full. */
    struct rlimit rl;
    size_t keys = 1u << 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        keys = rl.rlim_cur < ((rlim_t)1 << 19) ? (size_t)rl.rlim_cur * 2 : (size_t)1 << 20;
    return (srv->connlimit = gw_connlimit_new(srv->conf->conn_per_ip, keys)) != NULL ? 0 : -1;
}

void gw_conn_stop(gw_server_t *srv)
{
    gw_connlimit_free(srv->connlimit);
    srv->connlimit = NULL;
}

/* ---- accept and close --------------------------------------------------------- */

static void on_close(void *data)
{
    conn_t *c = data;
    c->th->conns--;
    h2o_linklist_unlink(&c->link);
    if (h2o_timeout_is_linked(&c->proxy_timeout))
        h2o_timeout_unlink(&c->proxy_timeout);
    if (c->key != 0)
        gw_connlimit_release(c->th->server->connlimit, c->key);
    free(c);
}

/* Counts @c under its client address @sa unless that is a trusted proxy. 0, or -1 when over the limit (the caller closes). */
static int count_client(conn_t *c, const struct sockaddr *sa, socklen_t sl)
{
    gw_server_t *srv = c->th->server;
    int family;
    uint8_t addr[16];
    if (srv->connlimit == NULL || gw_addr_norm(sa, sl, &family, addr) != 0 || gw_cidr_list_has(&srv->conf->trusted, family, addr))
        return 0;
    unsigned char key[GW_ADDR_KEY_MAX];
    uint64_t h = gw_rl_hash(key, gw_addr_key(family, addr, key));
    switch (gw_connlimit_take(srv->connlimit, h)) {
    case GW_CONNLIMIT_TAKEN:
        c->key = h;
        return 0;
    case GW_CONNLIMIT_UNTRACKED:
        count_stat(&stats.untracked);
        return 0;
    case GW_CONNLIMIT_OVER:
        break;
    }
    count_stat(&stats.refused);
    return -1;
}

static void hand_to_h2o(conn_t *c)
{
    if (h2o_timeout_is_linked(&c->proxy_timeout))
        h2o_timeout_unlink(&c->proxy_timeout);
    h2o_socket_read_stop(c->sock);
    c->sock->data = NULL;
    h2o_accept(c->actx, c->sock); /* h2o takes what followed the PROXY line from sock->input */
}

static void on_proxy_timeout(h2o_timeout_entry_t *entry)
{
    conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, proxy_timeout, entry);
    h2o_socket_close(c->sock);
}

static void on_proxy_read(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    size_t used = 0;
    gw_proxy_result_t r = gw_proxy_line_parse(sock->input->bytes, sock->input->size, &ss, &sl, &used);
    if (r == GW_PROXY_MORE)
        return;
    count_stat(&stats.proxy[r]);
    if (r == GW_PROXY_BAD) {
        h2o_socket_close(sock);
        return;
    }
    if (r == GW_PROXY_ADDR || r == GW_PROXY_UNKNOWN)
        h2o_buffer_consume(&sock->input, used);
    if (r == GW_PROXY_ADDR) {
        h2o_socket_setpeername(sock, (struct sockaddr *)&ss, sl); /* what conn->callbacks->get_peername answers from now on */
        if (count_client(c, (struct sockaddr *)&ss, sl) != 0) {
            h2o_socket_close(sock);
            return;
        }
    }
    hand_to_h2o(c);
}

void gw_conn_on_accept(h2o_socket_t *listener, const char *err)
{
    gw_thread_t *th = listener->data;
    if (err != NULL)
        return;
    const gw_config_t *conf = th->server->conf;
    for (int i = 0; i < 64; i++) { /* bounded so one listener cannot starve the loop */
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        conn_t *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        c->th = th;
        c->sock = sock;
        c->actx = listener == th->listen_tls ? &th->accept_tls : &th->accept_plain;
        th->conns++;
        h2o_linklist_insert(&th->conn_list, &c->link);
        sock->on_close.cb = on_close;
        sock->on_close.data = c;
        struct sockaddr_storage ss;
        socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
        int trusted = sl != 0 && gw_cidr_list_has_sa(&conf->trusted, (struct sockaddr *)&ss, sl);
        if (trusted && conf->proxy_protocol) {
            sock->data = c;
            c->proxy_timeout.cb = on_proxy_timeout;
            h2o_timeout_link(th->ctx.loop, &th->ctx.handshake_timeout, &c->proxy_timeout);
            h2o_socket_read_start(sock, on_proxy_read);
            continue;
        }
        if (sl != 0 && count_client(c, (struct sockaddr *)&ss, sl) != 0) {
            h2o_socket_close(sock);
            continue;
        }
        h2o_accept(c->actx, sock);
    }
}

void gw_conn_close_all(gw_thread_t *th)
{
    /* Not h2o_socket_close: the HTTP/1.1 or HTTP/2 connection on top owns
     * the socket and must run its own close. Shutting the descriptor down
     * makes its next read see the end (and a write fail), so h2o closes it
     * through its own path on the next turns of the loop. */
    for (h2o_linklist_t *n = th->conn_list.next; n != &th->conn_list; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        int fd = h2o_socket_get_fd(c->sock);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
}

/* ---- after each loop turn ------------------------------------------------------- */

void gw_conn_after_turn(gw_thread_t *th)
{
    const gw_config_t *conf = th->server->conf;
    gw_h2guard_sweep(&th->ctx, (uint64_t)conf->body_deadline_ms, (size_t)conf->h2_conn_body_max, &stats.h2);
}

/* ---- metrics ------------------------------------------------------------------------ */

size_t gw_conn_metrics(gw_server_t *srv, char *out, size_t cap)
{
#define LOAD(x) (unsigned long long)__atomic_load_n(&(x), __ATOMIC_RELAXED)
    int n = snprintf(out, cap,
                     "# HELP tk_conn_refused_total Connections closed at accept, by reason.\n"
                     "# TYPE tk_conn_refused_total counter\ntk_conn_refused_total{reason=\"per_address\"} %llu\n"
                     "# HELP tk_conn_untracked_total Connections let in uncounted because the per-address table was full.\n"
                     "# TYPE tk_conn_untracked_total counter\ntk_conn_untracked_total %llu\n"
                     "# HELP tk_conn_addresses Client addresses with a connection open (0 when CONN_PER_IP is off).\n"
                     "# TYPE tk_conn_addresses gauge\ntk_conn_addresses %zu\n"
                     "# HELP tk_proxy_line_total PROXY protocol lines read from trusted peers, by outcome.\n"
                     "# TYPE tk_proxy_line_total counter\n"
                     "tk_proxy_line_total{outcome=\"address\"} %llu\ntk_proxy_line_total{outcome=\"unknown\"} %llu\n"
                     "tk_proxy_line_total{outcome=\"absent\"} %llu\ntk_proxy_line_total{outcome=\"refused\"} %llu\n"
                     "# HELP tk_h2_stream_resets_total HTTP/2 streams the gateway reset, by reason.\n"
                     "# TYPE tk_h2_stream_resets_total counter\n"
                     "tk_h2_stream_resets_total{reason=\"body_deadline\"} %llu\ntk_h2_stream_resets_total{reason=\"conn_body_max\"} %llu\n",
                     LOAD(stats.refused), LOAD(stats.untracked), srv->connlimit != NULL ? gw_connlimit_keys(srv->connlimit) : 0,
                     LOAD(stats.proxy[GW_PROXY_ADDR]), LOAD(stats.proxy[GW_PROXY_UNKNOWN]), LOAD(stats.proxy[GW_PROXY_NONE]),
                     LOAD(stats.proxy[GW_PROXY_BAD]), LOAD(stats.h2.deadline_resets), LOAD(stats.h2.body_resets));
#undef LOAD
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}
