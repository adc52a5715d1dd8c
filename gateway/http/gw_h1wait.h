/*
 * gw_h1wait: an HTTP/1.1 connection stays polled for reading while its
 * request waits for an answer, so that waiting costs no epoll_ctl.
 *
 * The problem. h2o (2.2) stops reading an HTTP/1.1 connection when it hands
 * a request to the handler (h2o_socket_read_stop) and starts again when the
 * answer has been written (reqread_start). Its event loop applies socket
 * state at the start of the next turn, before epoll_wait: a request
 * answered in the handler's own turn (/healthz) stops and starts in that
 * turn and costs nothing, but one answered in a later turn (a claim waits
 * for Redis, a sold-out claim for its check, a watch for its event) costs
 * an EPOLL_CTL_DEL, then an EPOLL_CTL_ADD: two system calls per request.
 * Measured with `perf stat -e syscalls:sys_enter_epoll_ctl` on one gateway
 * thread under scripts/soldout_cpu.sh's HTTP/1.1 sold-out storm: 476,760
 * epoll_ctl for 238,292 requests; /healthz under the same load, 130.
 *
 * What it does. When the handler has returned without answering,
 * gw_h1wait_begin turns reading back on with h2o's DONT_READ flag set and a
 * callback of its own. The socket's state is then what it was before the
 * request (polled for reading) and the loop makes no call. With DONT_READ,
 * a read event reads nothing: h2o calls the callback, which stops reading
 * and clears the flag (one EPOLL_CTL_DEL in the next turn: exactly where
 * h2o would have been all along). When the request is disposed (its answer
 * written, or the connection closing), gw_h1wait_end clears the flag and
 * stops reading, the state h2o left; h2o then starts reading the next
 * request in the same turn (no system call) or closes the socket.
 *
 * Why it is correct. (1) No byte is read while the request waits: the
 * request's path, headers and body point into the socket's input buffer,
 * and a read could grow or move it; DONT_READ makes a read event only a
 * notification, and the first notification ends the polling. So h2o's
 * connection sees the same input as before, at the same points. (2) The
 * flag never outlives the request: it is cleared by the first read event or
 * by the dispose of the request, which h2o's HTTP/1.1 runs before it starts
 * reading the next request (on_send_complete: init_request, then
 * reqread_start) and before it closes the socket (close_connection). A
 * flag left set would make h2o's own reads read nothing. (3) A client that
 * sends more (a pipelined request) or closes while it waits wakes the
 * callback once, which stops reading: from then on the connection is as
 * h2o left it, and the bytes or the end are read when h2o starts reading
 * again, as before. (4) HTTP/2 is untouched: it reads all the time.
 *
 * Thread: the connection's loop thread.
 */
#ifndef GW_H1WAIT_H
#define GW_H1WAIT_H

#include <h2o.h>

/**
 * Keeps @req's HTTP/1.x connection polled while @req waits; returns the
 * socket to give gw_h1wait_end when @req is disposed, or NULL when nothing
 * was done (HTTP/2, no socket, already reading).
 */
h2o_socket_t *gw_h1wait_begin(h2o_req_t *req);

/** @req's dispose: @sock (from gw_h1wait_begin) reads normally again. */
void gw_h1wait_end(h2o_socket_t *sock);

#endif
