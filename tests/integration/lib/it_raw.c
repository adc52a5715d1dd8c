#include "it_raw.h"
#include "it_proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int it_raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void it_raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

int it_raw_status(const char *buf)
{
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

/* The Content-Length of the head @buf[0..head), or -1. */
static long content_length(const char *buf, size_t head)
{
    for (const char *p = buf; p != NULL && p < buf + head; p = memchr(p, '\n', (size_t)(buf + head - p))) {
        if (*p == '\n')
            p++;
        if (strncasecmp(p, "content-length:", 15) == 0)
            return strtol(p + 15, NULL, 10);
    }
    return -1;
}

int it_raw_response(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t got = 0;
    long long deadline = it_now_ms() + timeout_ms;
    buf[0] = '\0';
    while (got + 1 < cap) {
        const char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            size_t head = (size_t)(end - buf) + 4;
            long len = content_length(buf, head);
            if (len >= 0 && got >= head + (size_t)len)
                return it_raw_status(buf);
        }
        long long left = deadline - it_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0)
            return 0;
        got += (size_t)r;
        buf[got] = '\0';
    }
    return 0;
}
