/*
 * The HTTP endpoint (libmicrohttpd) and the tiny client `ccdialerd --status` uses.
 *
 * libmicrohttpd runs its own thread (internal polling, epoll) and calls
 * handle() there; nothing else in the engine runs on it, and handle() only
 * reads getters, so a slow or hostile scraper can hold up nothing but other
 * scrapes.  Connections are capped and time out, so a client that opens
 * sockets and never sends cannot grow memory.  Only GET and HEAD are served.
 */
#include "ops/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define MOD "ops"
#define OPS_MAX_CONNECTIONS 32
#define OPS_CONN_TIMEOUT_S 10
/* A thread that has not gone round its loop for this long makes /healthz answer 503
 * (the daemon's watchdog uses its own bound, from WatchdogSec). */
#define OPS_HEALTH_MAX_AGE_MS 60000

/* Owned by the main thread (new/start/stop/free); src and the address are read-only
 * while the HTTP thread runs, which only reads them. */
struct ops {
    ops_sources_t src;
    struct sockaddr_storage addr;
    struct MHD_Daemon *mhd;
    uint16_t port;
};

ops_t *ops_new(const conf_metrics_t *mc, const ops_sources_t *src, char *err, size_t errlen)
{
    ops_t *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->src = *src;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&o->addr;
    if (inet_pton(AF_INET, mc->bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(mc->port);
    } else if (inet_pton(AF_INET6, mc->bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(mc->port);
    } else {
        snprintf(err, errlen, "metrics: bind address '%s' is not a numeric address", mc->bind);
        free(o);
        return NULL;
    }
    return o;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *ctype,
                             buf_t *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body->len, body->len ? buf_data(body) : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_ctx)
{
    (void)version;
    (void)upload;
    ops_t *o = cls;
    /* The first call only announces the request; answering then would let a body follow. */
    if (*req_ctx == NULL) {
        *req_ctx = o;
        return MHD_YES;
    }
    if (*upload_size != 0)
        return MHD_NO; /* GET and HEAD carry no body: drop the connection */
    buf_t b;
    buf_init(&b, 16u << 20);
    unsigned int code = MHD_HTTP_OK;
    const char *ctype = "text/plain; charset=utf-8";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        buf_printf(&b, "only GET and HEAD\n");
    } else if (strcmp(url, "/metrics") == 0) {
        ctype = "text/plain; version=0.0.4; charset=utf-8";
        if (ops_render_metrics(&o->src, &b) != 0) {
            buf_reset(&b);
            code = MHD_HTTP_INTERNAL_SERVER_ERROR;
            buf_printf(&b, "metrics could not be rendered (out of memory)\n");
        }
    } else if (strcmp(url, "/healthz") == 0) {
        char why[256];
        if (ops_threads_alive(&o->src, OPS_HEALTH_MAX_AGE_MS, why, sizeof(why))) {
            buf_printf(&b, "alive\n");
        } else {
            code = MHD_HTTP_SERVICE_UNAVAILABLE;
            buf_printf(&b, "stuck: %s\n", why);
        }
    } else if (strcmp(url, "/readyz") == 0) {
        if (ops_ready(&o->src, &b))
            buf_printf(&b, "ready\n");
        else {
            code = MHD_HTTP_SERVICE_UNAVAILABLE;
            buf_printf(&b, "not ready\n");
        }
    } else {
        code = MHD_HTTP_NOT_FOUND;
        buf_printf(&b, "not found; try /metrics, /healthz or /readyz\n");
    }
    enum MHD_Result rc = reply(c, code, ctype, &b);
    buf_free(&b);
    return rc;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    LOG_WARN(MOD, "http: %s", msg);
}

int ops_start(ops_t *o)
{
    if (o->mhd)
        return 0;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (o->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger first: libmicrohttpd logs what it meets before it (a warning at every start
     * when it came last) to stderr instead of through it. */
    o->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, o, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                              NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&o->addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)OPS_MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)OPS_CONN_TIMEOUT_S,
                              MHD_OPTION_END);
    if (!o->mhd) {
        LOG_ERR(MOD, "cannot start the metrics endpoint (address in use or not available?)");
        return CCD_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(o->mhd, MHD_DAEMON_INFO_BIND_PORT);
    o->port = info ? info->port : 0;
    return 0;
}

uint16_t ops_port(const ops_t *o)
{
    return o->mhd ? o->port : 0;
}

void ops_stop(ops_t *o)
{
    if (o && o->mhd) {
        MHD_stop_daemon(o->mhd);
        o->mhd = NULL;
    }
}

void ops_free(ops_t *o)
{
    if (!o)
        return;
    ops_stop(o);
    free(o);
}

/* ---- client ---- */

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = (int)(deadline - clk_mono_ms());
        if (left <= 0)
            return CCD_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -errno;
    }
}

int ops_http_get(const char *host, uint16_t port, const char *path, int timeout_ms, int *status,
                 char *body, size_t bodysz)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai)
        return CCD_EINVAL;
    int64_t deadline = clk_mono_ms() + timeout_ms;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -errno;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
            rc = -soerr;
    }
    freeaddrinfo(ai);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, host);
    if (rc == 0 && (n < 0 || (size_t)n >= sizeof(req)))
        rc = CCD_EINVAL;
    if (rc == 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        rc = CCD_EIO; /* a fresh socket takes half a KiB at once */
    char resp[65536];
    size_t len = 0;
    while (rc == 0 && len < sizeof(resp) - 1) {
        rc = wait_fd(fd, POLLIN, deadline);
        if (rc != 0)
            break;
        ssize_t r = recv(fd, resp + len, sizeof(resp) - 1 - len, 0);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno != EINTR && errno != EAGAIN)
                rc = -errno;
            continue;
        }
        len += (size_t)r;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        return rc;
    resp[len] = '\0';
    int code = 0;
    if (sscanf(resp, "HTTP/%*d.%*d %d", &code) != 1)
        return CCD_EPROTO;
    *status = code;
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, bodysz, "%s", b ? b + 4 : "");
    return 0;
}
