/*
 * gw_h1wait: an HTTP/1.1 connection polled while its request waits; the
 * essay (why no byte is read early, and why the flag never outlives the
 * request) is in gw_h1wait.h.
 */
#include "gw_h1wait.h"

/* A read event while the request waits (more bytes, the end, an error): nothing was read;
 * leave the socket as h2o left it, not reading, so that h2o reads it after the answer. */
static void on_wait_read(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_socket_dont_read(sock, 0);
    h2o_socket_read_stop(sock);
}

h2o_socket_t *gw_h1wait_begin(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || h2o_socket_is_reading(sock))
        return NULL;
    h2o_socket_dont_read(sock, 1);
    h2o_socket_read_start(sock, on_wait_read);
    return sock;
}

void gw_h1wait_end(h2o_socket_t *sock)
{
    /* Not reading, as h2o left it: h2o's HTTP/1.1 disposes a request before it starts
     * reading the next one (same turn: no system call) or closes the socket. */
    h2o_socket_dont_read(sock, 0);
    h2o_socket_read_stop(sock);
}
