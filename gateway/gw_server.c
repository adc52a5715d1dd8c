#include "gw_server.h"
#include "gw_types.h"
#include "gw_batcher.h"
#include "gw_redis_reply.h"
#include "gw_board_writer.h"
#include "gw_board_reader.h"
#include "gw_watch.h"
#include "gw_presence.h"
#include "gw_queue_hold.h"
#include "gw_admitter.h"
#include "gw_prio.h"
#include "gw_conn.h"
#include "gw_dbpool.h"
#include "gw_journal.h"
#include "gw_keep.h"
#include "gw_failover.h"
#include "gw_fallback_grant.h"
#include "gw_peers.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_router.h"
#include "gw_routes.h"
#include "gw_sechdr.h"
#include "gw_tls.h"
#include "tk_log.h"
#include "tk_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static gw_server_t server;

/* ---- listeners ---------------------------------------------------------- */

static int make_addr(const char *host, long port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -1;
}

/* SO_REUSEPORT would let us share a port with a stray instance silently, so
 * first bind once without it: a taken port is refused with a clear message. */
static int check_port_free(const char *host, long port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (make_addr(host, port, &ss, &len) != 0) {
        tk_error("BIND=%s: not an IPv4 or IPv6 address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    close(fd);
    if (rc != 0) {
        tk_error("cannot listen on %s:%ld: %s%s", host, port, strerror(e),
                 e == EADDRINUSE ? " (another process has it; stop it or choose another port)" : "");
        return -1;
    }
    return 0;
}

static int open_listener(const char *host, long port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (make_addr(host, port, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
        tk_error("cannot listen on %s:%ld: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static h2o_socket_t *start_listener(gw_thread_t *th, long port)
{
    int fd = open_listener(th->server->conf->bind, port);
    if (fd < 0)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(th->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = th;
    h2o_socket_read_start(sock, gw_conn_on_accept);
    return sock;
}

static void close_listeners(gw_thread_t *th)
{
    if (th->listen_tls != NULL) {
        h2o_socket_read_stop(th->listen_tls);
        h2o_socket_close(th->listen_tls);
        th->listen_tls = NULL;
    }
    if (th->listen_plain != NULL) {
        h2o_socket_read_stop(th->listen_plain);
        h2o_socket_close(th->listen_plain);
        th->listen_plain = NULL;
    }
}

/* ---- threads ------------------------------------------------------------ */

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    gw_thread_t *th = H2O_STRUCT_FROM_MEMBER(gw_thread_t, wake, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        free(m);
    }
    if (!th->stopping) {
        th->stopping = 1;
        close_listeners(th);
        h2o_context_request_shutdown(&th->ctx);
    }
}

/* Runs the loop until every job this thread gave the database threads is
 * back (their answers come on db_done), bounded by the database timeouts.
 * Returns 0 when none is out. */
static int drain_db_jobs(gw_thread_t *th)
{
    int64_t until = tk_time_mono_ms() + 15000;
    while (th->db_jobs > 0 && tk_time_mono_ms() < until)
        h2o_evloop_run(th->ctx.loop, 10);
    return th->db_jobs > 0 ? -1 : 0;
}

static void thread_dispose(gw_thread_t *th)
{
    /* First, with everything still alive: a job submitted since
     * thread_main's wait (a peers beat, a rebuild check or the presale's
     * snapshot, from a timer that fired during the lease release) finishes
     * into the objects torn down below (gw_prio's on_done reads th->prio).
     * Past the bound nothing is torn down (a leak at exit, as below): a job
     * still out uses them on its database thread (the presale's run writes
     * th->prio, freed below; merge_done reads srv->failover, freed by
     * gw_failover_stop), and gw_dbpool_stop lets it finish after the joins. */
    if (drain_db_jobs(th) != 0) {
        tk_error("thread %d: %zu database job(s) still out at exit; not disposing the thread", th->index, th->db_jobs);
        return;
    }
    close_listeners(th);
    gw_batcher_destroy(th->batcher);
    gw_board_writer_destroy(th->boards);
    th->boards = NULL;
    gw_board_reader_destroy(th->board_reader);
    th->board_reader = NULL;
    __atomic_store_n(&th->redis_closing, 1, __ATOMIC_RELEASE); /* the drop below is ours, not Redis lost (gw_failover.c) */
    gw_redis_destroy(th->redis); /* outstanding watermark callbacks run here: the controller goes after */
    gw_batcher_free(th->batcher); /* after the claim scripts' callbacks, which run here too */
    th->batcher = NULL;
    gw_watch_destroy(th->watch); /* after the Redis callbacks (a version read in flight points into it), before the loop runs again */
    th->watch = NULL;
    gw_presence_destroy(th->presence);
    th->presence = NULL;
    gw_queue_hold_destroy(th->wq_hold); /* after the Redis callbacks, like the watch */
    th->wq_hold = NULL;
    /* only stopped: /metrics on another thread may still read it; freed after the joins (gw_server_run) */
    gw_admitter_stop(th->admitter);
    gw_prio_destroy(th->prio); /* its job came back: the loop waited for db_jobs */
    th->prio = NULL;
    gw_route_events_dispose();   /* after the Redis callbacks: a list round in flight ended there */
    if (th->index == 0)
        gw_failover_stop(th);
    /* Let the closes above and the callbacks they trigger run. */
    for (int i = 0; i < 3; i++)
        h2o_evloop_run(th->ctx.loop, 0);
    /* What outlived the shutdown timeout (idle HTTP/1.1 keep-alive
     * connections, a client that never finished its request) is closed
     * now: h2o_context_dispose asserts that no connection is left on its
     * timeouts. Bounded: each close needs a turn or two. */
    if (th->conns > 0) {
        gw_conn_close_all(th);
        int64_t until = tk_time_mono_ms() + 1000;
        while (th->conns > 0 && tk_time_mono_ms() < until)
            h2o_evloop_run(th->ctx.loop, 10);
        if (th->conns > 0)
            tk_error("thread %d: %zu connection(s) would not close", th->index, th->conns);
    }
    /* Again: a client connection's request may have gone to the database
     * threads during the turns above. Past the bound the loop is left
     * undisposed (a leak at exit, not a crash: a late job answers on
     * db_done, which must still be there). */
    if (drain_db_jobs(th) != 0) {
        tk_error("thread %d: %zu database job(s) still out at exit; not disposing the loop", th->index, th->db_jobs);
        return;
    }
    /* h2o_context_request_shutdown armed a one-second GOAWAY resend that
     * h2o_context_dispose would find still linked. */
    if (h2o_timeout_is_linked(&th->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&th->ctx.http2._graceful_shutdown_timeout);
    gw_dbpool_detach(th);
    h2o_multithread_unregister_receiver(th->ctx.queue, &th->wake);
    h2o_evloop_t *loop = th->ctx.loop;
    h2o_context_dispose(&th->ctx);
    h2o_evloop_run(loop, 0); /* sockets closed by the dispose are freed on the next turn */
    h2o_evloop_destroy(loop);
    /* Empty this thread's socket-buffer recycle bin, which would otherwise
     * vanish with the thread's storage. */
    h2o_mem_recycle_t *bin = &h2o_socket_buffer_prototype.allocator;
    while (bin->cnt > 0)
        free(h2o_mem_alloc_recycle(bin, 1));
    gw_req_spares_drain(); /* after the last callback that could release a request */
    gw_redis_reply_drain(); /* the Redis connections are gone (gw_redis_destroy above) */
}

static int thread_init(gw_thread_t *th);

/* Tell the main thread how this thread's set-up went, then wait for its
 * word: serve (every thread is up) or stop (one failed). Returns 1 to serve. */
static int thread_started(gw_server_t *srv, int ok)
{
    pthread_mutex_lock(&srv->start_lock);
    srv->start_done++;
    if (!ok)
        srv->start_failed = 1;
    pthread_cond_broadcast(&srv->start_cond);
    while (srv->start_go == 0)
        pthread_cond_wait(&srv->start_cond, &srv->start_lock);
    int go = srv->start_go > 0;
    pthread_mutex_unlock(&srv->start_lock);
    return ok && go;
}

#define GW_SOCKBUF_KEEP 512 /* freed socket buffers a loop thread keeps (thread_main) */

static void *thread_main(void *arg)
{
    gw_thread_t *th = arg;
    gw_server_t *srv = th->server;
    const gw_config_t *conf = srv->conf;
    /* The thread's socket-buffer recycle bin (h2o keeps 16) holds up to
     * GW_SOCKBUF_KEEP freed buffers of the first size (8 KiB) for reuse. Every
     * HTTP/2 request with a body takes one for the body, and every HTTP/1.1
     * connection one for its input, until the request is answered: with
     * hundreds of claims waiting for Redis at once (a sold-out storm's checks)
     * the 16 ran out and each buffer was an 8 KiB malloc and free, with glibc's
     * malloc_consolidate behind them (perf, scripts/soldout_cpu.sh: 2.5% of
     * the gateway's samples on HTTP/2). The cost is memory kept after a storm:
     * at most GW_SOCKBUF_KEEP x 8 KiB (4 MiB) per loop thread. None kept under
     * AddressSanitizer (gw_keep.h): h2o's own 16. */
    if (GW_KEEP(GW_SOCKBUF_KEEP) > 0)
        h2o_socket_buffer_prototype.allocator.max = GW_KEEP(GW_SOCKBUF_KEEP);

    /* Set up here, not on the main thread: h2o keeps per-thread state that a
     * socket binds to the thread that created it (h2o_socket_buffer_prototype
     * is __thread, and a socket's input buffer points to its creator's copy,
     * whose recycle bin takes and gives its memory). Made on the main thread,
     * the first Redis socket of every loop thread recycled its buffers through
     * the main thread's bin, unlocked, from both loop threads: ASan saw a
     * loop thread read() into a buffer already freed (it_wr_fix). */
    if (!thread_started(srv, thread_init(th) == 0)) {
        thread_dispose(th);
        return NULL;
    }

    /* Serve until told to stop, then until the last connection has gone or
     * the shutdown timeout has passed. */
    int64_t deadline = 0;
    for (;;) {
        h2o_evloop_run(th->ctx.loop, 50);
        gw_conn_after_turn(th);
        if (!th->stopping)
            continue;
        if (deadline == 0)
            deadline = tk_time_mono_ms() + conf->shutdown_timeout_ms;
        if (th->conns == 0)
            break;
        if (tk_time_mono_ms() >= deadline) {
            tk_warn("thread %d: %zu connection(s) still open after %ld ms; closing", th->index, th->conns, conf->shutdown_timeout_ms);
            break;
        }
    }
    /* Jobs on the database threads hold references into this loop: wait for
     * them to come back (bounded by the database timeouts). */
    drain_db_jobs(th); /* past its bound, thread_dispose's own wait decides */
    /* Give the admitter lease back (if ours) while the Redis connection still runs: a successor
     * takes over within a second instead of after the expiry. Bounded: Redis away, the expiry does it. */
    if (gw_admitter_release(th->admitter) == 0) {
        deadline = tk_time_mono_ms() + 500;
        while (gw_admitter_releasing(th->admitter) && tk_time_mono_ms() < deadline)
            h2o_evloop_run(th->ctx.loop, 50);
    }
    /* Disposed on its own thread: h2o keeps per-thread state. */
    thread_dispose(th);
    return NULL;
}

/* @th's loop, Redis connection, per-thread modules and listeners; on its own thread (thread_main). 0, or -1. */
static int thread_init(gw_thread_t *th)
{
    gw_server_t *srv = th->server;
    int index = th->index;
    h2o_linklist_init_anchor(&th->conn_list);
    h2o_context_init(&th->ctx, h2o_evloop_create(), &srv->globalconf);
    th->accept_tls = (h2o_accept_ctx_t){&th->ctx, srv->globalconf.hosts, srv->ssl_ctx, 0, NULL};
    th->accept_plain = (h2o_accept_ctx_t){&th->ctx, srv->globalconf.hosts, NULL, 0, NULL};
    h2o_multithread_register_receiver(th->ctx.queue, &th->wake, on_wake);
    gw_dbpool_attach(th);
    th->redis = gw_redis_create(th->ctx.loop, &srv->conf->backend, gw_failover_on_redis_state, th);
    th->batcher = gw_batcher_create(th);
    th->boards = gw_board_writer_create(th);
    th->board_reader = gw_board_reader_create(th);
    th->watch = gw_watch_create(th);
    th->presence = gw_presence_create(th);
    th->wq_hold = gw_queue_hold_create(th);
    if (th->redis == NULL || th->batcher == NULL || th->boards == NULL || th->board_reader == NULL || th->watch == NULL || th->presence == NULL || th->wq_hold == NULL)
        return -1;
    if (index == 0 && (th->admitter = gw_admitter_create(th)) == NULL)
        return -1;
    if (index == 0 && (th->prio = gw_prio_create(th)) == NULL)
        return -1;
    if (index == 0 && gw_failover_start(th) != 0)
        return -1;
    if ((th->listen_tls = start_listener(th, srv->conf->port)) == NULL)
        return -1;
    if (srv->conf->http_port != 0 && (th->listen_plain = start_listener(th, srv->conf->http_port)) == NULL)
        return -1;
    return 0;
}

/* ---- process ------------------------------------------------------------ */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static void setup_globalconf(gw_server_t *srv)
{
    h2o_config_init(&srv->globalconf);
    srv->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("tk-gateway"));
    /* h2o buffers a body whole before the router sees it, and answers larger
     * ones itself with a text 413; up to this size the router refuses
     * anything over its route's limit (16 KiB, 128 KiB for score writes and
     * rank lists) with the API's JSON 413. Twice the largest route limit, so
     * a body just over it still gets the JSON answer; what an HTTP/2 client
     * may hold in buffered bodies across its streams is cut by gw_h2guard
     * (H2_CONN_BODY_MAX, 256 KiB by default: one 128 KiB body fits). */
    srv->globalconf.max_request_entity_size = 2 * TK_BODY_MAX_SCORES;
    /* Armed once per request, not re-armed by reads: also bounds a client that trickles its body.
     * HTTP/2 has no such timer in h2o 2.2.5; gw_h2guard cuts its streams at the same deadline. */
    srv->globalconf.http1.req_timeout = (uint64_t)srv->conf->body_deadline_ms;
    srv->globalconf.http2.idle_timeout = 10000;
    /* What h2o advertises and enforces (SETTINGS_MAX_CONCURRENT_STREAMS, fixed at 100 in 2.2.5): at most
     * 100 streams open per connection, the 101st refused; here also at most 100 of them with a handler at once. */
    srv->globalconf.http2.max_concurrent_requests_per_connection = 100;
    srv->globalconf.handshake_timeout = 5000;
    h2o_hostconf_t *host = h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    gw_sechdr_register(path);
    gw_router_register(path);
    static const char *index_files[] = {"index.html", NULL};
    h2o_file_register(path, srv->conf->web_root, index_files, NULL, 0);
    gw_router_register_unmatched(path);
}

int gw_server_run(gw_config_t *conf)
{
    gw_server_t *srv = &server;
    char err[512];
    int rc = 1;
    gw_mode_t mode_at_stop = GW_MODE_FAST; /* when the signal came; a failed start writes no journal */

    memset(srv, 0, sizeof(*srv));
    srv->conf = conf;
    pthread_mutex_init(&srv->start_lock, NULL);
    pthread_cond_init(&srv->start_cond, NULL);
    SHA256((const unsigned char *)conf->admin_token, strlen(conf->admin_token), srv->admin_token_hash);
    if (gw_redis_scripts_init() != 0)
        return 1;
    int generate = strncmp(conf->tls_cert, conf->var_dir, strlen(conf->var_dir)) == 0;
    if ((srv->ssl_ctx = gw_tls_create(conf->tls_cert, conf->tls_key, generate, conf->tls_ticket_rotate_s, err, sizeof(err))) == NULL) {
        tk_error("TLS: %s", err);
        return 1;
    }
    if (check_port_free(conf->bind, conf->port) != 0 || (conf->http_port != 0 && check_port_free(conf->bind, conf->http_port) != 0)) {
        SSL_CTX_free(srv->ssl_ctx);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Block the signals in every thread but this one. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);

    setup_globalconf(srv);
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(srv->holder, sizeof(srv->holder), "gw-%s-%ld", host, (long)getpid());
    if ((srv->journal = gw_journal_new((size_t)conf->journal_max)) == NULL) {
        tk_error("out of memory for the journal");
        goto exit;
    }
    if ((srv->rebuild = gw_rebuild_new()) == NULL) {
        tk_error("out of memory starting the rebuild check");
        goto exit;
    }
    if (gw_conn_start(srv) != 0) {
        tk_error("out of memory for the per-address connection table");
        goto exit;
    }
    srv->nthreads = (int)conf->threads;
    srv->threads = calloc((size_t)srv->nthreads, sizeof(*srv->threads));
    if (srv->threads == NULL || (srv->dbpool = gw_dbpool_start(conf, (int)conf->db_threads)) == NULL) {
        tk_error("out of memory starting threads");
        goto exit;
    }
    /* Each thread sets itself up (thread_main) and waits; all up, they serve. */
    int started = 0;
    for (int i = 0; i < srv->nthreads; i++) {
        srv->threads[i].server = srv;
        srv->threads[i].index = i;
        if (pthread_create(&srv->threads[i].tid, NULL, thread_main, &srv->threads[i]) != 0)
            break;
        started++;
    }
    pthread_mutex_lock(&srv->start_lock);
    while (srv->start_done < started)
        pthread_cond_wait(&srv->start_cond, &srv->start_lock);
    int up = started == srv->nthreads && !srv->start_failed;
    srv->start_go = up ? 1 : -1;
    pthread_cond_broadcast(&srv->start_cond);
    pthread_mutex_unlock(&srv->start_lock);
    if (!up) {
        if (started < srv->nthreads)
            tk_error("cannot start thread %d", started);
        goto stop;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    tk_info("listening on https://%s:%ld (threads %d); redis %s:%ld; database %s:%ld", conf->bind, conf->port, srv->nthreads,
            conf->backend.redis_host, conf->backend.redis_port, conf->backend.db_host, conf->backend.db_port);
    if (conf->redis_wait_replicas > 0)
        tk_info("REDIS_WAIT_REPLICAS=%ld: a claim is answered once that many replicas hold it, else 503 after %ld ms",
                conf->redis_wait_replicas, conf->redis_wait_timeout_ms);
    if (conf->http_port && conf->admin_on_http)
        tk_warn("cleartext HTTP on http://%s:%ld serves the admin routes too (ADMIN_ON_HTTP=1): the admin token crosses the "
                "network unencrypted", conf->bind, conf->http_port);
    else if (conf->http_port)
        tk_info("cleartext HTTP on http://%s:%ld: no admin routes there (404; ADMIN_ON_HTTP=1 to serve them)", conf->bind,
                conf->http_port);
    while (!got_signal)
        pause();
    __atomic_store_n(&srv->shutdown, 1, __ATOMIC_SEQ_CST); /* before the mode is read: gw_failover_on_redis_state */
    mode_at_stop = srv->journal != NULL ? gw_journal_mode(srv->journal) : GW_MODE_FAST;
    tk_info("signal %d: no new connections; finishing requests in flight", (int)got_signal);
    rc = 0;

stop:
    /* Threads told to stop at start-up (start_go < 0) disposed of themselves
     * and unregistered their wake receiver: nothing to send them. */
    for (int i = 0; i < started && srv->start_go > 0; i++) {
        h2o_multithread_message_t *m = calloc(1, sizeof(*m));
        h2o_multithread_send_message(&srv->threads[i].wake, m);
    }
    for (int i = 0; i < started; i++)
        pthread_join(srv->threads[i].tid, NULL);
    /* every loop thread is gone: nothing can read the admitter any more (/metrics did, from any thread) */
    if (srv->nthreads > 0) {
        gw_admitter_destroy(srv->threads[0].admitter);
        srv->threads[0].admitter = NULL;
    }
    for (int i = 0; i < srv->nthreads; i++) {
        gw_redis_free(srv->threads[i].redis); /* read by /metrics from any thread, like the admitter */
        srv->threads[i].redis = NULL;
    }
    gw_dbpool_stop(srv->dbpool);
    if (srv->start_go > 0) {
        /* The mode at the signal, or LOST when Redis was lost after it while requests finished (the teardown's own drops
         * do not count: they move the mode to LOST on every stop). */
        if (__atomic_load_n(&srv->lost_in_stop, __ATOMIC_RELAXED))
            mode_at_stop = GW_MODE_LOST;
        gw_fallback_grant_write_at_stop(srv, mode_at_stop); /* before the row goes: a peer's merge waits for it until then */
        gw_peers_leave(srv); /* after the last beat: peers need not wait PEER_ALIVE_MS; none if we never served */
    }
    h2o_config_dispose(&srv->globalconf);
exit:
    gw_conn_stop(srv);
    gw_journal_free(srv->journal);
    gw_rebuild_free(srv->rebuild);
    free(srv->threads);
    SSL_CTX_free(srv->ssl_ctx);
    pthread_cond_destroy(&srv->start_cond);
    pthread_mutex_destroy(&srv->start_lock);
    if (rc == 0)
        tk_info("stopped");
    return rc;
}
