#include "gw_h2guard.h"

#include <h2o/http2.h>
#include <h2o/http2_internal.h> /* its "khash.h" is gateway/conn/khash.h */
#include <stdlib.h>

/* Streams of one connection looked at in a pass: h2o keeps at most 100 open, plus idle ones named by PRIORITY frames. */
#define CAND_MAX 512

typedef struct {
    uint32_t id;
    size_t held; /* body bytes buffered */
} cand_t;

static int newest_first(const void *a, const void *b)
{
    uint32_t x = ((const cand_t *)a)->id, y = ((const cand_t *)b)->id;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int64_t ms_between(const struct timeval *from, const struct timeval *to)
{
    return ((int64_t)to->tv_sec - from->tv_sec) * 1000 + ((int64_t)to->tv_usec - from->tv_usec) / 1000;
}

/* What h2o's own stream errors do (connection.c, stream_send_error then h2o_http2_stream_reset). @calm: ENHANCE_YOUR_CALM, else CANCEL. */
static void reset(h2o_http2_conn_t *conn, uint32_t id, int calm)
{
    h2o_http2_stream_t *stream = h2o_http2_conn_get_stream(conn, id);
    if (stream == NULL)
        return;
    if (calm)
        h2o_http2_encode_rst_stream_frame(&conn->_write.buf, id, -H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM);
    else
        h2o_http2_encode_rst_stream_frame(&conn->_write.buf, id, -H2O_HTTP2_ERROR_CANCEL);
    h2o_http2_conn_request_write(conn);
    h2o_http2_stream_reset(conn, stream);
}

static void guard_conn(h2o_http2_conn_t *conn, const struct timeval *now, uint64_t deadline_ms, size_t body_max,
                       gw_h2guard_stats_t *stats)
{
    cand_t late[CAND_MAX], held[CAND_MAX];
    size_t nlate = 0, nheld = 0, total = 0;
    /* Collect first, reset after: a reset deletes from the hash being walked. */
    for (khiter_t it = kh_begin(conn->streams); it != kh_end(conn->streams); ++it) {
        if (!kh_exist(conn->streams, it))
            continue;
        h2o_http2_stream_t *stream = kh_val(conn->streams, it);
        if (h2o_http2_stream_is_push(stream->stream_id) || stream->state < H2O_HTTP2_STREAM_STATE_RECV_HEADERS ||
            stream->state > H2O_HTTP2_STREAM_STATE_REQ_PENDING)
            continue; /* idle, or already with a handler */
        size_t bytes = stream->_req_body != NULL ? stream->_req_body->size : 0;
        if (stream->state != H2O_HTTP2_STREAM_STATE_REQ_PENDING &&
            ms_between(&stream->req.timestamps.request_begin_at, now) > (int64_t)deadline_ms) {
            if (nlate < CAND_MAX)
                late[nlate++] = (cand_t){stream->stream_id, bytes};
        } else if (nheld < CAND_MAX) {
            held[nheld++] = (cand_t){stream->stream_id, bytes};
            total += bytes;
        }
    }
    for (size_t i = 0; i < nlate; i++)
        reset(conn, late[i].id, 0);
    if (nlate > 0)
        __atomic_fetch_add(&stats->deadline_resets, nlate, __ATOMIC_RELAXED);
    if (total <= body_max)
        return;
    qsort(held, nheld, sizeof(held[0]), newest_first);
    size_t cut = 0;
    for (; cut < nheld && total > body_max; cut++) {
        reset(conn, held[cut].id, 1);
        total -= held[cut].held;
    }
    __atomic_fetch_add(&stats->body_resets, cut, __ATOMIC_RELAXED);
}

void gw_h2guard_sweep(h2o_context_t *ctx, uint64_t deadline_ms, size_t body_max, gw_h2guard_stats_t *stats)
{
    struct timeval now = *h2o_get_timestamp(ctx, NULL, NULL);
    for (h2o_linklist_t *node = ctx->http2._conns.next, *next; node != &ctx->http2._conns; node = next) {
        next = node->next;
        h2o_http2_conn_t *conn = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _conns, node);
        /* open - half_closed: streams still receiving, or complete and queued (h2o_http2_stream_set_state). */
        if (conn->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING || conn->num_streams.pull.open == conn->num_streams.pull.half_closed)
            continue;
        guard_conn(conn, &now, deadline_ms, body_max, stats);
    }
}
