/*
 * it_h2: a small HTTP/2 client for load and order tests, written on the
 * socket (cleartext, prior knowledge: the gateway's HTTP_PORT).
 *
 * Why not libcurl (it_http.h): curl gives each request its own connection
 * there, and when it multiplexes it decides itself when a stream's frames
 * leave. Here the requests of one connection are written strictly in the
 * order given, each one's HEADERS and DATA (END_STREAM) back to back, so
 * the order in which the gateway receives complete requests on a connection
 * is the order of the array: a test can compare tickets with it. Many
 * streams are in flight at once (up to the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS), so one connection carries thousands of
 * requests a second and keeps several batches in flight to Redis.
 *
 * Only what the tests need: POSTs (or GETs) with small bodies and an
 * optional Authorization header, the
 * response's :status (h2o writes it first in the header block, as an
 * indexed or literal field, never Huffman-coded) and, when asked, the body.
 * No HPACK decoding beyond that: the rest of each header block is skipped,
 * which is harmless because this client never needs the server's later
 * headers. Every run has a deadline.
 */
#ifndef IT_H2_H
#define IT_H2_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *method; /* "POST", "GET" */
    const char *path;   /* caller owns */
    const char *body;   /* or NULL; caller owns; at most 16 KiB */
    const char *auth_line; /* or NULL: "Authorization: Bearer …" (it_api_user_header), sent as that header; caller owns */
    int status;         /* filled: the response's :status, 0 when none (reset, cut off) */
    char *resp;         /* filled when keep_bodies: the body, NUL-terminated, owned (free with it_h2_free_bodies) */
    size_t resp_len;
} it_h2_req_t;

typedef struct it_h2 it_h2_t;

/* What happened to one stream of the single-stream API. */
typedef struct {
    int status;          /* the response's :status, 0 when none (yet) */
    int rst;             /* the first RST_STREAM error code, 0 when none */
    long long ended_ms;  /* it_now_ms() when it ended (END_STREAM or RST_STREAM), 0 while open */
} it_h2_stream_t;

#define IT_H2_RAW_MAX 1024 /* streams one connection opens with it_h2_open */

/** Connects to 127.0.0.1:@port (cleartext HTTP/2, prior knowledge). NULL (message printed) on failure. */
it_h2_t *it_h2_connect(int port);

/** Closes and frees @c (NULL is fine). */
void it_h2_close(it_h2_t *c);

/** Called after each response completes, with how many of this run have completed. */
typedef void (*it_h2_progress_cb)(void *arg, size_t done);

/**
 * Sends @n requests over the @nconns connections — request i on connection
 * i % @nconns, each connection's in the order of the array — with at most
 * @inflight streams open per connection, until all are answered or
 * @deadline_ms passes. With @gap_us > 0 a connection starts at most one
 * request per @gap_us (an open loop: requests keep arriving at that pace
 * while earlier ones wait for their answers, as independent users do). Keeps bodies when @keep_bodies. Returns how many got
 * a status; a connection that failed is closed and its remaining requests
 * keep status 0.
 */
size_t it_h2_run(it_h2_t **conns, int nconns, it_h2_req_t *reqs, size_t n, int inflight, int gap_us, int keep_bodies,
                 int deadline_ms, it_h2_progress_cb progress, void *arg);

/** Frees the bodies it_h2_run kept. */
void it_h2_free_bodies(it_h2_req_t *reqs, size_t n);

/*
 * The single-stream API, for tests of the server's stream limits: a test
 * opens streams and sends their DATA when and as it likes (a hostile client:
 * no flow control is respected), then pumps the connection and reads each
 * stream's fate. Not to be mixed with it_h2_run on one connection.
 */

/** Queues HEADERS for a new stream (@clen < 0: no content-length; @end_stream: no body follows). The stream id, 0 on failure. */
uint32_t it_h2_open(it_h2_t *c, const char *method, const char *path, long clen, int end_stream);

/** Queues @n bytes of DATA on @sid (in frames of at most 16 KiB), END_STREAM on the last when @end_stream. 0 or -1. */
int it_h2_data(it_h2_t *c, uint32_t sid, const void *p, size_t n, int end_stream);

/** Sends what is queued and reads for @ms milliseconds. 0, or -1 once the connection has ended (closed, GOAWAY). */
int it_h2_pump(it_h2_t *c, int ms);

/** What happened to stream @sid so far (all zero for a stream never opened). */
const it_h2_stream_t *it_h2_stream(const it_h2_t *c, uint32_t sid);

/** 1 when the server sent GOAWAY. */
int it_h2_got_goaway(const it_h2_t *c);

#endif
