/*
 * it_raw: HTTP/1.1 on a plain loopback socket, for tests that must decide
 * when each byte of a request leaves (curl decides that itself): a request
 * written now, its answer read later, several connections open at once.
 */
#ifndef IT_RAW_H
#define IT_RAW_H

#include <stddef.h>

/** A socket connected to 127.0.0.1:@port (send timeout 5 s), or -1. Close it with close(). */
int it_raw_connect(int port);

/** Writes what it can of @p (the peer may close first). */
void it_raw_send(int fd, const void *p, size_t n);

/** The status of an HTTP/1 response at the start of @buf, or 0. */
int it_raw_status(const char *buf);

/**
 * Reads one HTTP/1.1 response (its head, then Content-Length bytes of body)
 * into @buf (NUL-terminated, at most @cap - 1 bytes kept) within
 * @timeout_ms. Returns its status, or 0 when none came whole in time (the
 * connection closed, or the deadline passed).
 */
int it_raw_response(int fd, char *buf, size_t cap, int timeout_ms);

#endif
