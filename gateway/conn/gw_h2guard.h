/*
 * gw_h2guard: what h2o 2.2.5 does not bound on an HTTP/2 connection, cut
 * by the gateway itself after every turn of a loop thread's event loop.
 *
 * The problem. h2o buffers each stream's request body whole before a
 * handler sees it, and a client may keep up to 100 streams open (h2o's
 * SETTINGS_MAX_CONCURRENT_STREAMS, fixed at build time; the 101st is
 * refused with REFUSED_STREAM). Each may hold up to max_request_entity_size
 * (256 KiB here): 25.6 MiB per connection, with nothing that ever times out,
 * because h2o re-arms the connection's idle timer on every read and has no
 * per-request deadline on HTTP/2 (HTTP/1.1 has req_timeout). A client that
 * sends one body byte a second holds all of that for ever.
 *
 * What is reachable. h2o gives no callback per DATA frame, but its HTTP/2
 * internals are public headers (h2o/http2_internal.h): every connection of
 * a thread is on ctx->http2._conns, its streams are in a hash, a stream
 * records its state, its buffered body (_req_body) and when its HEADERS
 * came (req.timestamps.request_begin_at). And h2o exports what its own
 * stream errors use: h2o_http2_encode_rst_stream_frame,
 * h2o_http2_conn_request_write and h2o_http2_stream_reset.
 *
 * What it does, for each connection with a stream not yet handed to a
 * handler (still receiving headers or body, or complete and queued):
 *   - deadline: a stream still receiving whose HEADERS came more than
 *     BODY_DEADLINE_MS ago is reset with CANCEL (the HTTP/1.1 connection
 *     is closed at the same deadline by h2o's req_timeout);
 *   - body cap: when the bodies held by such streams add up to more than
 *     H2_CONN_BODY_MAX, streams are reset with ENHANCE_YOUR_CALM, newest
 *     (highest id) first, until the rest fits. Streams already handed to a
 *     handler are never touched: a claim in flight is not cut.
 * The connection itself stays open; h2o's idle timeout still applies.
 *
 * The guarantees, exactly. The cap holds at the end of every loop turn; in
 * one turn a connection can exceed it by what a single read of its socket
 * brought (h2o reads until the kernel's receive buffer is empty). The
 * deadline is kept to within a loop turn (at most 50 ms when idle). Times
 * come from h2o's loop clock (wall time, as request_begin_at is): a clock
 * step moves the deadline with it.
 *
 * Cost: a walk of the thread's HTTP/2 connections per loop turn, reading
 * three counters each; the streams of a connection are looked at only when
 * one of them has not reached a handler yet.
 */
#ifndef GW_H2GUARD_H
#define GW_H2GUARD_H

#include <h2o.h>
#include <stdint.h>

typedef struct {
    uint64_t deadline_resets; /* streams reset at BODY_DEADLINE_MS */
    uint64_t body_resets;     /* streams reset over H2_CONN_BODY_MAX */
} gw_h2guard_stats_t;

/**
 * One pass over the HTTP/2 connections of @ctx (call on its loop thread,
 * between turns of its loop). @deadline_ms, @body_max as above; resets are
 * added to @stats (relaxed atomic adds: /metrics reads them from any
 * thread).
 */
void gw_h2guard_sweep(h2o_context_t *ctx, uint64_t deadline_ms, size_t body_max, gw_h2guard_stats_t *stats);

#endif
