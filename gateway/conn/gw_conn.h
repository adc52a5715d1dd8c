/*
 * gw_conn: the connection path of a loop thread, from accept to close.
 *
 *   accept ─┬─ peer in TRUSTED_PROXIES, PROXY_PROTOCOL=1 ─ read the PROXY
 *           │    line (gw_proxy_line.h; bounded by handshake_timeout): a
 *           │    TCP4/TCP6 line becomes the peer address; no line or
 *           │    UNKNOWN keeps the balancer's; a bad line closes ─┐
 *           ├─ peer in TRUSTED_PROXIES ──────────────────────────┤
 *           └─ anyone else ──────────────────────────────────────┤
 *                                                                 v
 *     count the client in the per-address table (CONN_PER_IP, across
 *     threads: gw_connlimit.h) unless it is a trusted proxy; over the
 *     limit the socket is closed at once, before TLS or HTTP; then
 *     h2o_accept (TLS, ALPN, HTTP/1.1 or HTTP/2).
 *   close ── the count is given back (the socket's on_close, whatever
 *     closed it).
 *
 * An untrusted peer that sends a PROXY line is not listened to: its line
 * goes to h2o as the start of the request (HTTP/1.1 answers 400 and closes,
 * TLS fails the handshake). After each turn of the loop, the HTTP/2 guard
 * (gw_h2guard.h) runs over the thread's connections.
 *
 * Ownership: each accepted socket gets a small record (malloc'ed here,
 * freed by the socket's on_close); the per-address table belongs to the
 * server (gw_conn_start / gw_conn_stop). Counters are process-wide relaxed
 * atomics, read by /metrics from any thread.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include "gw_types.h"

#include <stddef.h>

/** Sets up what the connection path shares across threads (the per-address table when CONN_PER_IP > 0). 0, or -1 on no memory. */
int gw_conn_start(gw_server_t *srv);

/** Frees what gw_conn_start made, after every thread has stopped. */
void gw_conn_stop(gw_server_t *srv);

/** The read callback of a listening socket whose ->data is its gw_thread_t: accepts up to 64 connections per call. */
void gw_conn_on_accept(h2o_socket_t *listener, const char *err);

/**
 * Shuts down the descriptor of every connection @th still has open, so
 * each one ends through h2o's own close path on the next turns of the
 * loop (the shutdown's last step, when the timeout passed with idle
 * HTTP/1.1 keep-alive connections: h2o 2.2.5 leaves those open, and its
 * context cannot be disposed of while they are).
 */
void gw_conn_close_all(gw_thread_t *th);

/** Runs between turns of @th's event loop: the HTTP/2 guard (gw_h2guard.h). */
void gw_conn_after_turn(gw_thread_t *th);

/** Appends the connection path's Prometheus series to @out (@cap bytes). Returns the bytes written. */
size_t gw_conn_metrics(gw_server_t *srv, char *out, size_t cap);

#endif
