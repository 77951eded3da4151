/* Small blocking ECCP client for the eccp tests (one header, static functions). */
#ifndef CCD_TEST_ECCP_CLIENT_UTIL_H
#define CCD_TEST_ECCP_CLIENT_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

typedef struct tcli {
    int fd;
    char buf[1 << 20];
    size_t len;
} tcli_t;

static inline tcli_t *tcli_connect(uint16_t port)
{
    tcli_t *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    return c;
}

static inline void tcli_close(tcli_t *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

static inline void tcli_send(tcli_t *c, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t k = write(c->fd, s + off, n - off);
        if (k <= 0)
            return;
        off += (size_t)k;
    }
}

/* Reads one whole server message ("<?xml...?>\n<doc/>\n") into out (malloc'ed) within
 * timeout_ms; returns NULL on timeout, and "" (malloc'ed) when the server closed. */
static inline char *tcli_recv(tcli_t *c, int timeout_ms)
{
    int64_t end = clk_mono_ms() + timeout_ms;
    for (;;) {
        /* a message ends at the second '\n' */
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            char *nl2 = memchr(nl + 1, '\n', c->len - (size_t)(nl + 1 - c->buf));
            if (nl2) {
                size_t n = (size_t)(nl2 + 1 - c->buf);
                char *out = malloc(n + 1);
                memcpy(out, c->buf, n);
                out[n] = '\0';
                memmove(c->buf, c->buf + n, c->len - n);
                c->len -= n;
                return out;
            }
        }
        int64_t left = end - clk_mono_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t k = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (k <= 0) {
            return strdup("");
        }
        c->len += (size_t)k;
    }
}

/* True when the server closed the connection within timeout_ms (pending data is discarded). */
static inline bool tcli_closed(tcli_t *c, int timeout_ms)
{
    int64_t end = clk_mono_ms() + timeout_ms;
    char tmp[65536];
    while (clk_mono_ms() < end) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t k = read(c->fd, tmp, sizeof(tmp));
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

#endif
