/*
 * ECCP server: the acceptor thread and the session workers.
 *
 * Threads and ownership (see eccp.h DESIGN):
 * - acceptor: owns the listening socket; reads only immutable config and the
 *   atomic session counter.  Accepted sockets travel to a worker inside an
 *   mq message and belong to that worker from then on.
 * - worker k: owns its epoll set, its sessions (sockets, buffers, login
 *   state), its scratch buffers and its event shadows.  Nothing is locked:
 *   other threads only push messages into its mq.
 * - The server struct is immutable after eccp_server_new() except the atomic
 *   counters.
 * Locks: none here; the only locks taken are inside mq and the registry's
 *   read lock (leaf locks, never held across I/O).
 *
 * Output: every message is handed to the kernel in one send() when the
 * session has nothing queued; what the kernel does not take waits in the
 * session's bounded output queue (EPOLLOUT armed) and goes out with sendmsg()
 * later, in order.  An event's bytes are built once per worker; sessions that
 * cannot take them at once queue a reference to one shared copy (eccp_chunk_t)
 * instead of a copy each.  Going over the bound disconnects that client only.
 * New sockets go to the least loaded worker, so each worker writes an even
 * share of every fan-out.
 */
#include "eccp/eccp_int.h"

#include "agent/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "ami/ami.h"
#include "eccp/eccp_guard.h"

#define MOD "eccp"
#define RBUF_SIZE 65536
#define WORKER_MQ_MAX 65536
#define DEFAULT_MAX_DEPTH 32
/* Per-session bound on DB jobs in flight: past it the session's input is not
 * read until half of them came back (back-pressure instead of unbounded jobs). */
#define MAX_PENDING 128
/* Input back-pressure mark on a session's queued output (or max_output_bytes/4 if smaller). */
#define OUT_LOW_MAX (64 * 1024)

typedef struct conn_msg {
    mq_msg_t msg;
    int fd;
    char peer[80];
    uint8_t addr[16];
} conn_msg_t;

typedef struct event_msg {
    mq_msg_t msg;
    eccp_event_t ev;
} event_msg_t;

static void free_plain(mq_msg_t *m)
{
    free(m);
}

static void free_conn(mq_msg_t *m)
{
    conn_msg_t *c = (conn_msg_t *)m;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* ---------------- sessions ---------------- */

static void login_release(eccp_worker_t *w, eccp_sess_t *s);

static void chunk_unref(eccp_chunk_t *c)
{
    if (c && --c->refs == 0)
        free(c);
}

/* Drops everything queued (references to shared chunks included). */
static void out_drop(eccp_sess_t *s)
{
    for (int i = 0; i < s->nseg; i++)
        chunk_unref(s->segs[s->seg_head + i].c);
    free(s->segs);
    s->segs = NULL;
    s->seg_head = s->nseg = s->seg_cap = 0;
    s->queued = 0;
    buf_free(&s->out);
}

static void sess_free(eccp_sess_t *s)
{
    free(s->park);
    buf_free(&s->in);
    out_drop(s);
    free(s);
}

/* Freed at the end of the worker's loop round, so a later epoll event of the
 * same round can still look at it (fd < 0 says it is closed). */
void eccp__sess_bury(eccp_worker_t *w, eccp_sess_t *s)
{
    s->next = w->dead;
    w->dead = s;
}

bool eccp__sess_op_back(eccp_worker_t *w, eccp_sess_t *s)
{
    s->pending--;
    w->jobs_out--;
    if (s->fd >= 0)
        return true;
    if (s->pending == 0)
        eccp__sess_bury(w, s);
    return false;
}

static void free_dead(eccp_worker_t *w)
{
    while (w->dead) {
        eccp_sess_t *s = w->dead;
        w->dead = s->next;
        sess_free(s);
    }
}

static void dbw_unlink(eccp_worker_t *w, eccp_sess_t *s)
{
    if (s->dbw_prev)
        s->dbw_prev->dbw_next = s->dbw_next;
    else
        w->dbw_head = s->dbw_next;
    if (s->dbw_next)
        s->dbw_next->dbw_prev = s->dbw_prev;
    else
        w->dbw_tail = s->dbw_prev;
    s->dbw_prev = s->dbw_next = NULL;
    s->paused_db = false;
}

/* Takes s off the worker's list of parked answers and drops its answer. */
static void park_unlink(eccp_worker_t *w, eccp_sess_t *s)
{
    for (eccp_sess_t **pp = &w->parked; *pp; pp = &(*pp)->park_next) {
        if (*pp == s) {
            *pp = s->park_next;
            break;
        }
    }
    s->park_next = NULL;
    free(s->park);
    s->park = NULL;
    s->park_len = 0;
}

/* Closes the socket now; the memory goes when no job points at it any more. */
static void sess_close(eccp_worker_t *w, eccp_sess_t *s, const char *why)
{
    if (s->fd < 0)
        return;
    LOG_DEBUG(MOD, "session %s closed: %s", s->peer, why);
    epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
    if (s->park)
        park_unlink(w, s);
    eccp__guard_release(w->srv->guard, s->addr, s->unauth);
    s->unauth = false;
    atomic_fetch_sub(&w->srv->nsess, 1);
    atomic_fetch_sub(&w->load, 1);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    w->nsess--;
    if (s->paused_db)
        dbw_unlink(w, s);
    buf_free(&s->in);
    out_drop(s);
    eccp__ev_sess_drop(s);
    if (s->pending == 0)
        eccp__sess_bury(w, s);
}

void eccp__sess_close(eccp_worker_t *w, eccp_sess_t *s, const char *why)
{
    sess_close(w, s, why);
}

static void sess_events(eccp_worker_t *w, eccp_sess_t *s)
{
    if (s->fd < 0)
        return;
    uint32_t m = (s->paused_in || s->paused_out || s->paused_db || s->login_hold ? 0 : EPOLLIN) |
                 (s->want_out ? EPOLLOUT : 0);
    if (m == s->evmask)
        return;
    struct epoll_event ev = {.events = m, .data.ptr = s};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->evmask = m;
}

static void sess_arm(eccp_worker_t *w, eccp_sess_t *s, bool want_out)
{
    s->want_out = want_out;
    sess_events(w, s);
}

/* Appends a segment to s's queue (grows the array only while output is pending). */
static int seg_push(eccp_sess_t *s, eccp_chunk_t *c, size_t off, size_t len)
{
    if (s->seg_head + s->nseg == s->seg_cap) {
        if (s->seg_head > 0) {
            memmove(s->segs, s->segs + s->seg_head, (size_t)s->nseg * sizeof(*s->segs));
            s->seg_head = 0;
        } else {
            int cap = s->seg_cap ? s->seg_cap * 2 : 8;
            eccp_oseg_t *n = realloc(s->segs, (size_t)cap * sizeof(*n));
            if (!n)
                return CCD_ENOMEM;
            s->segs = n;
            s->seg_cap = cap;
        }
    }
    s->segs[s->seg_head + s->nseg++] = (eccp_oseg_t){.c = c, .off = off, .len = len};
    return 0;
}

/* Over the bound: this client alone is disconnected; nobody waits for it. */
static void out_over(eccp_worker_t *w, eccp_sess_t *s, size_t n)
{
    atomic_fetch_add(&w->srv->st_slow, 1);
    LOG_WARN_RL(MOD, "session %s: client not reading, %zu bytes queued (limit %d): disconnected",
             s->peer, s->queued + n, w->srv->cfg.max_output_bytes);
    sess_close(w, s, "output limit");
}

static bool out_fits(eccp_worker_t *w, eccp_sess_t *s, size_t n)
{
    return s->queued + n <= (size_t)w->srv->cfg.max_output_bytes;
}

/* Keeps the largest queue seen (stats; the CAS runs only when a queue beats it). */
static void note_queued(eccp_worker_t *w, eccp_sess_t *s)
{
    uint_fast64_t cur = atomic_load_explicit(&w->srv->st_queued_max, memory_order_relaxed);
    while (s->queued > cur &&
           !atomic_compare_exchange_weak_explicit(&w->srv->st_queued_max, &cur, s->queued,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Queues private bytes (copied into s->out); false when s was closed. */
static bool queue_private(eccp_worker_t *w, eccp_sess_t *s, const char *p, size_t n)
{
    if (!out_fits(w, s, n)) {
        out_over(w, s, n);
        return false;
    }
    eccp_oseg_t *last = s->nseg ? &s->segs[s->seg_head + s->nseg - 1] : NULL;
    if (buf_append(&s->out, p, n) != 0 || (!(last && !last->c) && seg_push(s, NULL, 0, 0) != 0)) {
        out_over(w, s, n);
        return false;
    }
    s->segs[s->seg_head + s->nseg - 1].len += n;
    s->queued += n;
    note_queued(w, s);
    return true;
}

/* Queues a reference to bytes [off, off+n) of shared chunk c; false when s was closed. */
static bool queue_shared(eccp_worker_t *w, eccp_sess_t *s, eccp_chunk_t *c, size_t off, size_t n)
{
    if (!out_fits(w, s, n) || seg_push(s, c, off, n) != 0) {
        out_over(w, s, n);
        return false;
    }
    c->refs++;
    s->queued += n;
    note_queued(w, s);
    atomic_fetch_add(&w->srv->st_chunk_refs, 1);
    return true;
}

/* Takes n sent bytes off the front of the queue. */
static void out_consume(eccp_sess_t *s, size_t n)
{
    s->queued -= n;
    while (n > 0) {
        eccp_oseg_t *g = &s->segs[s->seg_head];
        size_t k = n < g->len ? n : g->len;
        if (g->c)
            g->off += k;
        else
            buf_consume(&s->out, k);
        g->len -= k;
        n -= k;
        if (g->len == 0) {
            chunk_unref(g->c);
            s->seg_head++;
            s->nseg--;
        }
    }
}

#define FLUSH_IOV 64

/* Hands as much of the queue to the kernel as it takes: up to FLUSH_IOV pieces
 * per sendmsg(), messages stay whole and in order. */
static void sess_flush(eccp_worker_t *w, eccp_sess_t *s)
{
    while (s->queued > 0) {
        struct iovec iov[FLUSH_IOV];
        int k = 0;
        size_t poff = 0; /* private segments follow each other in s->out */
        for (int i = 0; i < s->nseg && k < FLUSH_IOV; i++) {
            eccp_oseg_t *g = &s->segs[s->seg_head + i];
            if (g->c) {
                iov[k].iov_base = g->c->data + g->off;
            } else {
                iov[k].iov_base = buf_data(&s->out) + poff;
                poff += g->len;
            }
            iov[k++].iov_len = g->len;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
        ssize_t n = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            sess_close(w, s, "write error");
            return;
        }
        out_consume(s, (size_t)n);
    }
    if (s->queued == 0) {
        out_drop(s); /* an idle session keeps no output memory */
        buf_init(&s->out, (size_t)w->srv->cfg.max_output_bytes);
        if (s->closing) {
            sess_close(w, s, "closing");
            return;
        }
        sess_arm(w, s, false);
    } else {
        sess_arm(w, s, true);
    }
}

/* One send() of p[0..n) when nothing is queued; returns the bytes the kernel
 * took, or -1 when s was closed (write error, or the whole message went and s
 * was closing). */
static ssize_t send_direct(eccp_worker_t *w, eccp_sess_t *s, const char *p, size_t n)
{
    ssize_t k;
    do {
        k = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (k < 0 && errno == EINTR);
    if (k < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            sess_close(w, s, "write error");
            return -1;
        }
        k = 0;
    }
    if ((size_t)k == n && s->closing) {
        sess_close(w, s, "closing");
        return -1;
    }
    return k;
}

void eccp__send(eccp_worker_t *w, eccp_sess_t *s, const char *p, size_t n)
{
    if (s->fd < 0)
        return;
    if (s->queued == 0 && !s->batching) {
        /* The usual case: the whole message in one send(). */
        ssize_t k = send_direct(w, s, p, n);
        if (k < 0 || (size_t)k == n)
            return;
        p += k;
        n -= (size_t)k;
    }
    if (!queue_private(w, s, p, n))
        return;
    if (!s->batching)
        sess_arm(w, s, true);
}

void eccp__shared_done(eccp_chunk_t *chunk)
{
    /* created for a session that could not queue it after all (no memory) */
    if (chunk && chunk->refs == 0)
        free(chunk);
}

void eccp__send_shared(eccp_worker_t *w, eccp_sess_t *s, const char *p, size_t n,
                       eccp_chunk_t **chunk)
{
    if (s->fd < 0)
        return;
    size_t off = 0;
    if (s->queued == 0 && !s->batching) {
        ssize_t k = send_direct(w, s, p, n);
        if (k < 0 || (size_t)k == n)
            return;
        off = (size_t)k;
    }
    if (!out_fits(w, s, n - off)) {
        out_over(w, s, n - off);
        return;
    }
    if (!*chunk) {
        eccp_chunk_t *c = malloc(sizeof(*c) + n);
        if (!c) {
            /* no memory for the shared copy: fall back to a private one */
            if (queue_private(w, s, p + off, n - off) && !s->batching)
                sess_arm(w, s, true);
            return;
        }
        c->refs = 0;
        c->len = n;
        memcpy(c->data, p, n);
        *chunk = c;
        atomic_fetch_add(&w->srv->st_chunks, 1);
    }
    if (!queue_shared(w, s, *chunk, off, n - off))
        return;
    if (!s->batching)
        sess_arm(w, s, true);
}

void eccp__send_buf(eccp_worker_t *w, eccp_sess_t *s, buf_t *b)
{
    if (b->len)
        eccp__send(w, s, buf_data(b), b->len);
    atomic_fetch_add(&w->srv->st_responses, 1);
}

buf_t *eccp__wbuf(eccp_worker_t *w)
{
    buf_reset(&w->wbuf);
    return &w->wbuf;
}

static void sess_input(eccp_worker_t *w, eccp_sess_t *s, const char *data, size_t len)
{
    /* Scan straight from the read scratch when nothing is pending (no copy). */
    bool direct = s->in.len == 0;
    const char *p = data;
    size_t n = len;
    if (!direct) {
        if (buf_append(&s->in, data, len) != 0) {
            sess_close(w, s, "input too large");
            return;
        }
        p = buf_data(&s->in);
        n = s->in.len;
    }
    size_t off = 0;
    while (s->fd >= 0 && !s->closing) {
        if (s->paused_db)
            break; /* the rest waits for the back-off (dbw_due) */
        if (s->login_hold) {
            /* A login is in flight: what follows it waits, unparsed, for its answer
             * (eccp__login_answer / job_finished dispatch it then). */
            sess_events(w, s);
            break;
        }
        if (s->pending >= MAX_PENDING) {
            s->paused_in = true;
            sess_events(w, s);
            break;
        }
        if (s->queued > w->srv->out_low && s->batching)
            sess_flush(w, s); /* the answers of this read so far: maybe the kernel takes them */
        if (s->fd < 0 || s->closing)
            break;
        if (s->queued > w->srv->out_low) {
            /* Back-pressure: the rest of the input waits, unparsed, until the client has
             * read its answers down to the mark (sess_pump); EPOLLIN stays off till then. */
            if (!s->paused_out)
                atomic_fetch_add(&w->srv->st_paused_out, 1);
            s->paused_out = true;
            sess_events(w, s);
            break;
        }
        ccd_str_t pkt;
        size_t used = 0;
        int rc = eccp__frame_scan(&s->fr, p + off, n - off, &pkt, &used);
        off += used;
        if (rc == 1) {
            eccp__dispatch(w, s, pkt.p, pkt.len);
            continue;
        }
        if (rc == CCD_EAGAIN)
            break;
        /* Malformed or over the limits: Issabel's answer, then close. */
        atomic_fetch_add(&w->srv->st_bad, 1);
        LOG_INFO_RL(MOD, "session %s: %s packet, closing", s->peer,
                 rc == CCD_ETOOBIG ? "oversized or too deep" : "malformed");
        eccp__count_req(w->srv, NULL);
        eccp__count_err(w->srv, NULL);
        buf_t *b = eccp__wbuf(w);
        eccp__msg_failure(b, NULL, 400, "Bad request");
        s->closing = true;
        eccp__send_buf(w, s, b);
        return;
    }
    if (s->fd < 0 || s->closing)
        return;
    if (direct) {
        if (off < n && buf_append(&s->in, p + off, n - off) != 0)
            sess_close(w, s, "input too large");
    } else {
        buf_consume(&s->in, off);
        if (s->in.len == 0) {
            buf_free(&s->in);
            buf_init(&s->in, (size_t)w->srv->cfg.max_request_bytes + RBUF_SIZE);
        }
    }
}

/*
 * Dispatches the requests left in s->in by a pause once nothing holds them back
 * any more (output at or below the mark, jobs in flight below the bound),
 * sending their answers as after a read; repeats while the kernel keeps taking
 * the output.  The work is bounded by the input buffered (one read's worth plus
 * a partial packet), since nothing is read while paused.
 */
static void sess_pump(eccp_worker_t *w, eccp_sess_t *s)
{
    while (s->fd >= 0 && !s->closing && !s->paused_in && !s->paused_db && !s->login_hold) {
        if (s->paused_out) {
            if (s->queued > w->srv->out_low)
                return; /* EPOLLOUT is armed: sess_flush brings us back */
            s->paused_out = false;
            sess_events(w, s);
        }
        if (s->in.len == 0)
            return;
        s->batching = true;
        sess_input(w, s, NULL, 0);
        s->batching = false;
        if (s->fd >= 0 && s->queued > 0)
            sess_flush(w, s);
        if (!s->paused_out)
            return; /* ran dry, waits for more bytes, or paused for jobs */
    }
}

static void sess_readable(eccp_worker_t *w, eccp_sess_t *s)
{
    /* Paused earlier in this loop round (a job or AMI answer dispatched buffered requests)
     * while epoll had already reported EPOLLIN: reading now would stack a second read on the
     * unparsed remainder.  Level-triggered epoll reports it again once EPOLLIN is back. */
    if (s->paused_in || s->paused_out || s->paused_db || s->login_hold)
        return;
    ssize_t n;
    do {
        n = recv(s->fd, w->rbuf, RBUF_SIZE, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        sess_close(w, s, "peer closed");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            sess_close(w, s, "read error");
        return;
    }
    if (s->closing)
        return; /* input after logout or a fatal error is ignored */
    /* Answers to the requests of this one read are collected and handed to the
     * kernel together: each message still goes out whole in one send(), and a
     * pipelining client costs one syscall per read instead of one per request. */
    s->batching = true;
    sess_input(w, s, w->rbuf, (size_t)n);
    s->batching = false;
    if (s->fd >= 0 && s->queued > 0)
        sess_flush(w, s);
    if (s->fd >= 0 && s->paused_out)
        sess_pump(w, s); /* the flush may have brought the queue under the mark */
}

static void sess_add(eccp_worker_t *w, int fd, const char *peer, const uint8_t addr[16])
{
    eccp_sess_t *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        eccp__guard_release(w->srv->guard, addr, true);
        atomic_fetch_sub(&w->srv->nsess, 1);
        atomic_fetch_sub(&w->load, 1);
        return;
    }
    s->fd = fd;
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    memcpy(s->addr, addr, 16);
    s->unauth = true; /* the acceptor counted it so */
    eccp__frame_init(&s->fr, (size_t)w->srv->cfg.max_request_bytes, w->srv->deps.max_depth);
    buf_init(&s->in, (size_t)w->srv->cfg.max_request_bytes + RBUF_SIZE);
    buf_init(&s->out, (size_t)w->srv->cfg.max_output_bytes);
    s->last_ms = clk_mono_ms();
    s->created_ms = s->last_ms;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    s->evmask = EPOLLIN;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        LOG_ERR_RL(MOD, "epoll_ctl: %s", strerror(errno));
        eccp__guard_release(w->srv->guard, addr, true);
        close(fd);
        atomic_fetch_sub(&w->srv->nsess, 1);
        atomic_fetch_sub(&w->load, 1);
        free(s);
        return;
    }
    s->next = w->head;
    if (w->head)
        w->head->prev = s;
    w->head = s;
    w->nsess++;
}

/* Not logged in within login_timeout: told so, then closed (at once, even when the
 * client does not read: its unread output is dropped). */
static void login_timeout(eccp_worker_t *w, eccp_sess_t *s, int64_t now)
{
    atomic_fetch_add(&w->srv->st_login_timeout, 1);
    LOG_INFO_RL(MOD, "session %s not logged in after %lld ms, closing", s->peer,
                (long long)(now - s->created_ms));
    buf_t *b = eccp__wbuf(w);
    eccp__msg_failure(b, NULL, 408, "Login timeout");
    s->closing = true;
    eccp__send_buf(w, s, b);
    if (s->fd >= 0)
        sess_close(w, s, "login timeout");
}

static void sweep_idle(eccp_worker_t *w, int64_t now)
{
    int64_t idle = w->srv->idle_ms;
    eccp_sess_t *next;
    for (eccp_sess_t *s = w->head; s; s = next) {
        next = s->next;
        if (s->unauth && now - s->created_ms > w->srv->login_ms) {
            login_timeout(w, s, now);
        } else if (now - s->last_ms > idle) {
            atomic_fetch_add(&w->srv->st_idle, 1);
            LOG_INFO_RL(MOD, "session %s idle for %lld ms, closing", s->peer, (long long)(now - s->last_ms));
            sess_close(w, s, "idle");
        }
    }
}

/* ---------------- jobs ---------------- */

static void job_free_msg(mq_msg_t *m)
{
    eccp__job_free((eccp_job_t *)m);
}

void eccp__job_free(eccp_job_t *j)
{
    if (!j)
        return;
    buf_free(&j->out);
    buf_free(&j->out2);
    if (j->extra && j->extra_free)
        j->extra_free(j->extra);
    for (int i = 0; i < j->nwrites; i++)
        if (j->writes[i])
            j->writes[i]->msg.free(&j->writes[i]->msg);
    free(j->writes);
    free(j);
}

/*
 * Fair database access: the session is the job's owner (its pointer value: unique while
 * it has jobs out, since a session is freed only after its last job came back) and its
 * address without the port the per-address bound counts.  The lane is chosen at submit.
 */
static void job_owner(db_read_job_t *b, const eccp_sess_t *s)
{
    b->owner = (uint64_t)(uintptr_t)s;
    const char *colon = strrchr(s->peer, ':');
    size_t n = colon ? (size_t)(colon - s->peer) : strlen(s->peer);
    snprintf(b->addr, sizeof(b->addr), "%.*s", (int)n, s->peer);
}

eccp_job_t *eccp__job_new(eccp_call_t *c, int (*sql)(db_conn_t *, eccp_job_t *),
                          void (*done)(eccp_worker_t *, eccp_sess_t *, eccp_job_t *))
{
    if (!c->w->srv->deps.db_submit) {
        eccp__failure(c, 500, "Server error - database failure");
        return NULL;
    }
    eccp_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        eccp__failure(c, 500, "Internal server error");
        return NULL;
    }
    j->base.msg.free = job_free_msg;
    j->base.run = eccp__job_run;
    j->base.reply = c->w->mq;
    job_owner(&j->base, c->s);
    j->s = c->s;
    j->def = c->def;
    snprintf(j->id, sizeof(j->id), "%s", c->id);
    j->sql = sql;
    j->done = done;
    snprintf(j->cookie, sizeof(j->cookie), "%s", c->s->cookie);
    buf_init(&j->out, 0);
    buf_init(&j->out2, 0);
    return j;
}

void eccp__job_submit(eccp_worker_t *w, eccp_job_t *j)
{
    eccp_sess_t *s = j->s;
    /* Logins and agent checks take the lane a flood of reads cannot hold up. */
    j->base.lane = j->agentauth || j->auth_lane || j->sql == eccp__sql_login ? DB_LANE_AUTH
                                                                              : DB_LANE_NORMAL;
    int rc = w->srv->deps.db_submit(w->srv->deps.db_ctx, &j->base);
    if (rc != 0) {
        eccp__count_err(w->srv, j->def);
        buf_t *b = eccp__wbuf(w);
        if (rc == CCD_EFULL) {
            /* A bound of the fair read queue (this session's, its address's, or the total):
             * the client is told to retry; logged once per run of refusals. */
            atomic_fetch_add(&w->srv->st_db_busy, 1);
            if (!s->db_refused)
                LOG_NOTICE_RL(MOD, "session %s: database read queue full, answering 503 until "
                                   "its requests fit again", s->peer);
            s->db_refused = true;
            eccp__msg_failure(b, j->id, 503, "Server busy - too many database requests queued");
            if (s->fd >= 0 && !s->paused_db) {
                s->paused_db = true;
                s->db_retry_ms = clk_mono_ms() + ECCP_DB_BUSY_RETRY_MS;
                s->dbw_prev = w->dbw_tail;
                s->dbw_next = NULL;
                if (w->dbw_tail)
                    w->dbw_tail->dbw_next = s;
                else
                    w->dbw_head = s;
                w->dbw_tail = s;
                sess_events(w, s);
            }
        } else {
            LOG_WARN_RL(MOD, "database queue refused a job (%s)", ccd_strerror(rc));
            eccp__msg_failure(b, j->id, 500, "Server error - database failure");
        }
        eccp__send_buf(w, s, b);
        eccp__job_free(j);
        return;
    }
    s->db_refused = false;
    s->pending++;
    w->jobs_out++;
}

void eccp__call_from_job(eccp_call_t *c, eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    c->w = w;
    c->s = s;
    c->def = j->def;
    c->id = j->id;
    c->cmd = NULL;
}

static void job_finished(eccp_worker_t *w, eccp_job_t *j)
{
    if (!j->s) { /* an event's database part */
        eccp__ev_job_done(w, j);
        return;
    }
    eccp_sess_t *s = j->s;
    bool login = s->login_job == j;
    if (login)
        s->login_job = NULL;
    if (!eccp__sess_op_back(w, s)) {
        eccp__job_free(j);
        return;
    }
    eccp_call_t c;
    eccp__call_from_job(&c, w, s, j);
    if (j->base.status == CCD_EIO) {
        eccp__failure(&c, 500, "Server error - database failure");
    } else if (j->base.status < 0) {
        eccp__failure(&c, 503, "Internal server error - database failure");
    } else if (j->agentauth && j->auth_code) {
        eccp__count_err(w->srv, j->def);
        buf_t *b = eccp__wbuf(w);
        eccp__msg_req_failure(b, j->id, j->def->name, j->auth_status ? "logged-out" : NULL,
                             j->auth_code, j->auth_msg);
        eccp__send_buf(w, s, b);
    } else if (j->done) {
        j->done(w, s, j);
    } else {
        if (j->failed)
            eccp__count_err(w->srv, j->def);
        eccp__send_buf(w, s, &j->out);
    }
    eccp__job_free(j);
    if (login && !s->park)
        login_release(w, s); /* answered (success or error): what waited goes now */
    eccp__sess_resume(w, s);
}

/* The login's answer is out: the requests that waited for it are dispatched, in order. */
static void login_release(eccp_worker_t *w, eccp_sess_t *s)
{
    if (s->fd < 0 || !s->login_hold)
        return;
    s->login_hold = false;
    sess_events(w, s);
    sess_pump(w, s);
}

void eccp__login_started(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    (void)w;
    s->login_hold = true;
    s->login_job = j;
}

void eccp__login_answer(eccp_worker_t *w, eccp_sess_t *s, buf_t *b, int64_t delay_ms)
{
    if (delay_ms <= 0 || s->fd < 0) {
        eccp__send_buf(w, s, b);
        return;
    }
    s->park = malloc(b->len ? b->len : 1);
    if (!s->park) {
        eccp__send_buf(w, s, b); /* no memory to wait: answer now */
        return;
    }
    memcpy(s->park, buf_data(b), b->len);
    s->park_len = b->len;
    s->park_due = clk_mono_ms() + delay_ms;
    s->park_next = w->parked;
    w->parked = s;
    s->login_hold = true; /* later requests wait for this answer too */
    sess_events(w, s);
}

void eccp__login_authed(eccp_worker_t *w, eccp_sess_t *s)
{
    if (s->unauth) {
        s->unauth = false;
        eccp__guard_authed(w->srv->guard, s->addr);
    }
}

/* Sends the parked answers that are due; returns the next due time (INT64_MAX: none). */
static int64_t park_run(eccp_worker_t *w, int64_t now)
{
    eccp_sess_t *due = NULL;
    int64_t next = INT64_MAX;
    for (eccp_sess_t **pp = &w->parked; *pp;) {
        eccp_sess_t *s = *pp;
        if (s->park_due <= now) {
            *pp = s->park_next;
            s->park_next = due;
            due = s;
        } else {
            if (s->park_due < next)
                next = s->park_due;
            pp = &s->park_next;
        }
    }
    /* Answering releases held requests, which may park another answer: the due ones were
     * taken off the list first. */
    while (due) {
        eccp_sess_t *s = due;
        due = s->park_next;
        s->park_next = NULL;
        char *p = s->park;
        size_t n = s->park_len;
        s->park = NULL;
        s->park_len = 0;
        if (s->fd >= 0) {
            eccp__send(w, s, p, n);
            atomic_fetch_add(&w->srv->st_responses, 1);
            login_release(w, s);
        }
        free(p);
        if (s->park && s->park_due < next)
            next = s->park_due;
    }
    return next;
}

void eccp__sess_resume(eccp_worker_t *w, eccp_sess_t *s)
{
    if (s->fd >= 0 && s->paused_in && s->pending <= MAX_PENDING / 2) {
        s->paused_in = false;
        sess_events(w, s);
        sess_pump(w, s); /* requests read before the pause */
    }
}

/* Sessions whose back-off after a refused job has passed read and dispatch again. */
static void dbw_due(eccp_worker_t *w, int64_t now)
{
    while (w->dbw_head && w->dbw_head->db_retry_ms <= now) {
        eccp_sess_t *s = w->dbw_head;
        dbw_unlink(w, s);
        sess_events(w, s);
        sess_pump(w, s); /* requests read before the pause */
    }
}

/* ---------------- worker loop ---------------- */

static void worker_inbox(eccp_worker_t *w, bool *quit)
{
    mq_msg_t *m = mq_pop_all(w->mq);
    while (m) {
        mq_msg_t *next = m->next;
        m->next = NULL;
        switch (m->type) {
        case MSG_QUIT:
            *quit = true;
            m->free(m);
            break;
        case MSG_ECCP_CONN: {
            conn_msg_t *c = (conn_msg_t *)m;
            sess_add(w, c->fd, c->peer, c->addr);
            c->fd = -1;
            m->free(m);
            break;
        }
        case MSG_DB_READ_DONE:
            job_finished(w, (eccp_job_t *)m);
            break;
        case MSG_REG_AGENT_CHANGED:
        case MSG_REG_CALL_CHANGED:
            eccp__event_reg_change(w, (reg_change_t *)m);
            m->free(m);
            break;
        case MSG_AMI_RESPONSE:
            eccp__ami_done(w, (struct ami_response *)m);
            break;
        case MSG_AGS_DONE:
            eccp__ags_done(w, (ags_done_t *)m);
            break;
        case MSG_DB_WRITE_DONE:
            eccp__write_done(w, (db_write_t *)m);
            break;
        case MSG_ECCP_EVENT:
            eccp__event_published(w, &((event_msg_t *)m)->ev);
            m->free(m);
            break;
        default:
            LOG_WARN_RL(MOD, "worker %d: unexpected message type %d", w->idx, m->type);
            m->free(m);
            break;
        }
        m = next;
    }
}

static void *worker_main(void *arg)
{
    eccp_worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "eccp-w%d", w->idx);
    log_set_thread_name(name);
    struct epoll_event evs[256];
    bool quit = false;
    int sweep_every = (w->srv->idle_ms < w->srv->login_ms ? w->srv->idle_ms : w->srv->login_ms) / 4;
    if (sweep_every > 1000)
        sweep_every = 1000;
    if (sweep_every < 10)
        sweep_every = 10;
    w->next_sweep_ms = clk_mono_ms() + sweep_every;
    int64_t park_next = INT64_MAX;
    while (!quit) {
        int64_t now = clk_mono_ms();
        atomic_store_explicit(&w->beat_ms, now, memory_order_relaxed);
        int64_t wake = w->next_sweep_ms;
        if (w->dbw_head && w->dbw_head->db_retry_ms < wake)
            wake = w->dbw_head->db_retry_ms;
        if (park_next < wake)
            wake = park_next;
        if (w->pev_head && w->pev_due_ms < wake)
            wake = w->pev_due_ms;
        int timeout = (int)(wake - now);
        if (timeout < 0)
            timeout = 0;
        int n = epoll_wait(w->ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            LOG_ERR(MOD, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            eccp_sess_t *s = evs[i].data.ptr;
            if (!s) {
                uint64_t v;
                if (read(mq_wake_fd(w->mq), &v, sizeof(v)) < 0 && errno != EAGAIN)
                    LOG_DEBUG(MOD, "wake fd read: %s", strerror(errno));
                worker_inbox(w, &quit);
                continue;
            }
            if (s->fd < 0)
                continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                if (!(evs[i].events & EPOLLIN)) {
                    sess_close(w, s, "hangup");
                    continue;
                }
            }
            if (evs[i].events & EPOLLOUT) {
                sess_flush(w, s);
                if (s->fd >= 0 && s->paused_out)
                    sess_pump(w, s);
            }
            if (s->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                sess_readable(w, s);
        }
        free_dead(w);
        now = clk_mono_ms();
        if (w->dbw_head) {
            dbw_due(w, now);
            free_dead(w);
        }
        if (w->parked) {
            park_next = park_run(w, now);
            free_dead(w);
        } else {
            park_next = INT64_MAX;
        }
        if (w->pev_head) {
            eccp__ev_timers(w, now);
            free_dead(w);
        }
        if (now >= w->next_sweep_ms) {
            sweep_idle(w, now);
            free_dead(w);
            w->next_sweep_ms = now + sweep_every;
        }
    }
    while (w->head)
        sess_close(w, w->head, "shutdown");
    free_dead(w);
    return NULL;
}

/* ---------------- acceptor ---------------- */

static void peer_addr(const struct sockaddr_storage *ss, uint8_t addr[16], char *txt, size_t txtsz)
{
    memset(addr, 0, 16);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &in->sin_addr, 4);
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(txt, txtsz, "%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        memcpy(addr, &in6->sin6_addr, 16);
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(txt, txtsz, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

/* The worker with the fewest sessions (ties: rotate from start), so every
 * worker writes its even share of each fan-out even after sessions come and go. */
static eccp_worker_t *least_loaded(eccp_server_t *srv, unsigned start)
{
    eccp_worker_t *best = NULL;
    int best_load = 0;
    for (int i = 0; i < srv->nworkers; i++) {
        eccp_worker_t *w = &srv->w[(start + (unsigned)i) % (unsigned)srv->nworkers];
        int l = atomic_load(&w->load);
        if (!best || l < best_load) {
            best = w;
            best_load = l;
        }
    }
    return best;
}

/*
 * Tells a refused client why before closing: one top-level 503 failure, sent
 * without waiting (a fresh socket's buffer always takes these few bytes; if not,
 * the client just sees the close).  SHUT_WR first so the answer is not lost to a
 * reset when the client already sent something we never read.
 */
static void refuse(int fd, const char *why)
{
    buf_t b;
    buf_init(&b, 0);
    if (eccp__msg_failure(&b, NULL, 503, why) == 0) {
        ssize_t k = send(fd, buf_data(&b), b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)k;
    }
    buf_free(&b);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void refused_by_guard(eccp_server_t *srv, int fd, const char *peer, eccp_guard_refusal_e why)
{
    switch (why) {
    case ECCP_GUARD_UNAUTH:
        atomic_fetch_add(&srv->st_refused_unauth, 1);
        LOG_WARN_RL(MOD, "connection from %s refused: %d sessions not logged in yet "
                         "(max_unauth_sessions)", peer, srv->cfg.max_unauth_sessions);
        refuse(fd, "Too many unauthenticated sessions");
        break;
    case ECCP_GUARD_UNAUTH_ADDR:
        atomic_fetch_add(&srv->st_refused_unauth_addr, 1);
        LOG_WARN_RL(MOD, "connection from %s refused: %d sessions from this address not logged "
                         "in yet (max_unauth_per_address)", peer, srv->cfg.max_unauth_per_address);
        refuse(fd, "Too many unauthenticated sessions from this address");
        break;
    default:
        atomic_fetch_add(&srv->st_refused_addr, 1);
        LOG_WARN_RL(MOD, "connection from %s refused: %d sessions from this address "
                         "(max_sessions_per_address)", peer, srv->cfg.max_sessions_per_address);
        refuse(fd, "Too many sessions from this address");
        break;
    }
}

static void *acceptor_main(void *arg)
{
    eccp_server_t *srv = arg;
    log_set_thread_name("eccp-acc");
    unsigned rr = 0;
    struct pollfd pf[2] = {{.fd = srv->lfd, .events = POLLIN}, {.fd = srv->stopfd, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            LOG_ERR(MOD, "poll: %s", strerror(errno));
            break;
        }
        if (pf[1].revents)
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        for (int k = 0; k < 64; k++) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            int fd = accept4(srv->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                    LOG_WARN_RL(MOD, "accept: %s", strerror(errno));
                    usleep(10000);
                }
                break;
            }
            uint8_t addr[16];
            char peer[80];
            peer_addr(&ss, addr, peer, sizeof(peer));
            if (!conf_net_allows(srv->cfg.allowed, srv->cfg.nallowed, addr)) {
                /* The protocol promises "Connection refused": close at once, say nothing. */
                atomic_fetch_add(&srv->st_refused_acl, 1);
                LOG_NOTICE_RL(MOD, "connection from %s refused: not in the allow-list", peer);
                close(fd);
                continue;
            }
            if (atomic_fetch_add(&srv->nsess, 1) >= srv->cfg.max_sessions) {
                atomic_fetch_sub(&srv->nsess, 1);
                atomic_fetch_add(&srv->st_refused_full, 1);
                LOG_WARN_RL(MOD, "connection from %s refused: %d sessions open (max_sessions)", peer,
                            srv->cfg.max_sessions);
                refuse(fd, "Too many sessions");
                continue;
            }
            eccp_guard_refusal_e why = eccp__guard_admit(srv->guard, addr);
            if (why != ECCP_GUARD_OK) {
                atomic_fetch_sub(&srv->nsess, 1);
                refused_by_guard(srv, fd, peer, why);
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (srv->deps.sndbuf > 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &srv->deps.sndbuf, sizeof(srv->deps.sndbuf));
            conn_msg_t *cm = calloc(1, sizeof(*cm));
            if (!cm) {
                eccp__guard_release(srv->guard, addr, true);
                atomic_fetch_sub(&srv->nsess, 1);
                close(fd);
                continue;
            }
            cm->msg.type = MSG_ECCP_CONN;
            cm->msg.free = free_conn;
            cm->fd = fd;
            snprintf(cm->peer, sizeof(cm->peer), "%s", peer);
            memcpy(cm->addr, addr, 16);
            eccp_worker_t *w = least_loaded(srv, rr++);
            atomic_fetch_add(&w->load, 1);
            if (mq_push(w->mq, &cm->msg) != 0) {
                atomic_fetch_sub(&w->load, 1);
                eccp__guard_release(srv->guard, addr, true);
                atomic_fetch_sub(&srv->nsess, 1);
                free_conn(&cm->msg);
                continue;
            }
            atomic_fetch_add(&srv->st_accepted, 1);
        }
    }
    return NULL;
}

/* ---------------- lifecycle ---------------- */

/*
 * A worker's mq that is still the reply queue of a DB job or AMI action that
 * never came back (30 s after stop) cannot be freed: the late answer would be
 * pushed into freed memory.  Such a queue is closed (a later push fails
 * cleanly and the pusher keeps its message) and kept for the life of the
 * process.  It is no longer a registry subscriber (unsubscribed at stop).
 * Guarded by retired_mu.
 */
static pthread_mutex_t retired_mu = PTHREAD_MUTEX_INITIALIZER;
static mq_t **retired;
static size_t nretired;

static void retire_mq(mq_t *q)
{
    pthread_mutex_lock(&retired_mu);
    mq_t **n = realloc(retired, (nretired + 1) * sizeof(*n));
    if (n) {
        retired = n;
        retired[nretired++] = q;
    } /* else: lost track of it; it stays allocated all the same */
    pthread_mutex_unlock(&retired_mu);
}

eccp_server_t *eccp_server_new(const conf_eccp_t *cfg, const eccp_deps_t *deps, char *err,
                               size_t errlen)
{
    if (!deps || !deps->reg) {
        snprintf(err, errlen, "eccp: a registry is required");
        return NULL;
    }
    eccp__xml_init();
    eccp_server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "eccp: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->deps = *deps;
    /* cfg comes from conf/, which owns every default and range: trusted as it is. */
    if (s->deps.max_depth <= 0)
        s->deps.max_depth = DEFAULT_MAX_DEPTH;
    s->out_low = (size_t)s->cfg.max_output_bytes / 4;
    if (s->out_low > OUT_LOW_MAX)
        s->out_low = OUT_LOW_MAX;
    s->idle_ms = deps->idle_timeout_ms > 0 ? deps->idle_timeout_ms : cfg->idle_timeout_s * 1000;
    s->ev_wait_ms = deps->event_wait_ms > 0 ? deps->event_wait_ms : ECCP_EVENT_WAIT_MS;
    s->nworkers = cfg->workers;
    s->login_ms = cfg->login_timeout_s * 1000;
    s->guard = eccp__guard_new(cfg);
    s->lfd = -1;
    s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->reqs = hmap_new(64);
    s->w = calloc((size_t)s->nworkers, sizeof(*s->w));
    s->st_req_n = calloc(eccp__nreqs + 1, sizeof(*s->st_req_n));
    s->st_req_err = calloc(eccp__nreqs + 1, sizeof(*s->st_req_err));
    if (s->stopfd < 0 || !s->reqs || !s->w || !s->guard || !s->st_req_n || !s->st_req_err) {
        snprintf(err, errlen, "eccp: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < eccp__nreqs; i++)
        if (hmap_put(s->reqs, eccp__reqs[i].name, (void *)&eccp__reqs[i], NULL) != 0) {
            snprintf(err, errlen, "eccp: out of memory");
            goto fail;
        }
    for (int i = 0; i < s->nworkers; i++) {
        eccp_worker_t *w = &s->w[i];
        w->srv = s;
        w->idx = i;
        w->ep = -1;
        char qn[32];
        snprintf(qn, sizeof(qn), "eccp-w%d", i);
        w->mq = mq_new(qn, WORKER_MQ_MAX, MQ_WAKEFD);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->rbuf = malloc(RBUF_SIZE);
        w->agents = hmap_new(256);
        w->calls = hmap_new(256);
        buf_init(&w->wbuf, 0);
        if (!w->mq || w->ep < 0 || !w->rbuf || !w->agents || !w->calls) {
            snprintf(err, errlen, "eccp: worker setup failed");
            goto fail;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, mq_wake_fd(w->mq), &ev) != 0) {
            snprintf(err, errlen, "eccp: worker setup failed (epoll)");
            goto fail;
        }
        if (reg_subscribe(deps->reg, w->mq, REG_SUB_AGENTS | REG_SUB_CALLS) != 0) {
            snprintf(err, errlen, "eccp: worker setup failed (registry subscribers full)");
            goto fail;
        }
        w->subscribed = true;
    }
    s->lfd = net_tcp_listen("eccp", cfg->bind, cfg->port, &s->port, err, errlen);
    if (s->lfd < 0)
        goto fail;
    if (cfg->nallowed == 0)
        LOG_WARN(MOD, "no allow-list configured: ECCP accepts connections from any address");
    return s;
fail:
    eccp_server_free(s);
    return NULL;
}

int eccp_server_start(eccp_server_t *s)
{
    if (s->nstarted || s->acc_started)
        return CCD_EBUSY;
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) != 0) {
            LOG_ERR(MOD, "cannot start worker %d", i);
            return CCD_ERR;
        }
        s->nstarted++;
    }
    if (pthread_create(&s->acc, NULL, acceptor_main, s) != 0) {
        LOG_ERR(MOD, "cannot start the acceptor");
        return CCD_ERR;
    }
    s->acc_started = true;
    LOG_INFO(MOD, "listening on %s:%u with %d workers", s->cfg.bind, s->port, s->nworkers);
    return 0;
}

void eccp_server_stop(eccp_server_t *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = true;
    if (s->acc_started) {
        uint64_t one = 1;
        if (write(s->stopfd, &one, sizeof(one)) < 0)
            LOG_ERR(MOD, "stop: %s", strerror(errno));
        pthread_join(s->acc, NULL);
    }
    for (int i = 0; i < s->nstarted; i++) {
        mq_msg_t *q = mq_msg_quit_new();
        if (q && mq_push_force(s->w[i].mq, q) != 0)
            q->free(q);
        pthread_join(s->w[i].th, NULL);
    }
    for (int i = 0; s->w && i < s->nworkers; i++) {
        eccp_worker_t *w = &s->w[i];
        /* From here on the registry pushes nothing more to this worker. */
        if (w->subscribed && reg_unsubscribe(s->deps.reg, w->mq) != 0)
            LOG_ERR(MOD, "worker %d was not a registry subscriber any more", i);
        w->subscribed = false;
        if (w->mq) {
            /* Jobs still on DB threads will be pushed to this mq: wait for them
             * (they point at sessions that are closed now). */
            int64_t end = clk_mono_ms() + 30000;
            mq_msg_t *m;
            while ((m = mq_pop(w->mq, w->jobs_out > 0 ? 100 : 0)) != NULL ||
                   (w->jobs_out > 0 && clk_mono_ms() < end)) {
                if (!m)
                    continue;
                if (m->type == MSG_DB_READ_DONE) {
                    eccp_job_t *j = (eccp_job_t *)m;
                    w->jobs_out--;
                    if (!j->s) {
                        eccp__ev_job_drop(j);
                        continue;
                    }
                    if (--j->s->pending == 0 && j->s->fd < 0)
                        sess_free(j->s);
                } else if (m->type == MSG_AMI_RESPONSE) {
                    eccp__ami_drop(w, (struct ami_response *)m);
                    free_dead(w);
                    continue;
                } else if (m->type == MSG_AGS_DONE) {
                    eccp__ags_drop(w, (ags_done_t *)m);
                    free_dead(w);
                    continue;
                }
                m->free(m);
            }
            mq_close(w->mq);
            if (w->jobs_out > 0) {
                LOG_ERR(MOD, "worker %d: %d database/AMI answers never came back", i, w->jobs_out);
                retire_mq(w->mq);
            } else {
                mq_free(w->mq); /* the registry changes still queued go with it */
            }
            w->mq = NULL;
        }
    }
}

void eccp_server_free(eccp_server_t *s)
{
    if (!s)
        return;
    eccp_server_stop(s);
    for (int i = 0; s->w && i < s->nworkers; i++) {
        eccp_worker_t *w = &s->w[i];
        if (w->ep >= 0)
            close(w->ep);
        free(w->rbuf);
        buf_free(&w->wbuf);
        eccp__ev_worker_free(w);
        eccp__event_worker_free(w);
    }
    free(s->w);
    hmap_free(s->reqs);
    eccp__guard_free(s->guard);
    free(s->st_req_n);
    free(s->st_req_err);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->stopfd >= 0)
        close(s->stopfd);
    free(s);
}

uint16_t eccp_server_port(const eccp_server_t *s)
{
    return s->port;
}

void eccp_server_stats(eccp_server_t *s, eccp_stats_t *o)
{
    memset(o, 0, sizeof(*o));
    o->accepted = atomic_load(&s->st_accepted);
    o->refused_acl = atomic_load(&s->st_refused_acl);
    o->refused_full = atomic_load(&s->st_refused_full);
    o->requests = atomic_load(&s->st_requests);
    o->responses = atomic_load(&s->st_responses);
    o->events_sent = atomic_load(&s->st_events);
    o->closed_idle = atomic_load(&s->st_idle);
    o->closed_slow = atomic_load(&s->st_slow);
    o->closed_bad = atomic_load(&s->st_bad);
    o->out_chunks = atomic_load(&s->st_chunks);
    o->out_chunk_refs = atomic_load(&s->st_chunk_refs);
    o->in_paused_out = atomic_load(&s->st_paused_out);
    o->out_queued_max = atomic_load(&s->st_queued_max);
    o->db_busy = atomic_load(&s->st_db_busy);
    o->events_deferred = atomic_load(&s->st_ev_deferred);
    o->events_db_jobs = atomic_load(&s->st_ev_jobs);
    o->events_db_failed = atomic_load(&s->st_ev_failed);
    o->events_log_missing = atomic_load(&s->st_ev_log_missing);
    o->events_waiting = atomic_load(&s->st_ev_waiting);
    o->refused_unauth = atomic_load(&s->st_refused_unauth);
    o->refused_unauth_addr = atomic_load(&s->st_refused_unauth_addr);
    o->refused_addr = atomic_load(&s->st_refused_addr);
    o->closed_login_timeout = atomic_load(&s->st_login_timeout);
    o->login_failed = atomic_load(&s->st_login_failed);
    o->login_delayed = atomic_load(&s->st_login_delayed);
    o->login_blocked = atomic_load(&s->st_login_blocked);
    o->unauth_sessions = eccp__guard_unauth(s->guard);
    o->sessions = atomic_load(&s->nsess);
    for (int i = 0; i < s->nworkers; i++) {
        /* rounds first: the figures stored before it are then at least that recent */
        unsigned long long r = atomic_load(&s->w[i].fan_rounds);
        if (i == 0 || r < o->fanout_rounds)
            o->fanout_rounds = r;
        int64_t beat = atomic_load_explicit(&s->w[i].beat_ms, memory_order_relaxed);
        if (i == 0 || beat < o->heartbeat_ms)
            o->heartbeat_ms = beat;
        long long v = atomic_load(&s->w[i].fan_last_us);
        if (v > o->fanout_last_us)
            o->fanout_last_us = v;
        v = atomic_load(&s->w[i].fan_start_us);
        if (v > o->fanout_start_us)
            o->fanout_start_us = v;
        v = atomic_load(&s->w[i].fan_busy_us);
        if (v > o->fanout_busy_us)
            o->fanout_busy_us = v;
        o->fanout_sessions += atomic_load(&s->w[i].fan_sessions);
        int l = atomic_load(&s->w[i].load);
        if (i == 0 || l < o->worker_sessions_min)
            o->worker_sessions_min = l;
        if (l > o->worker_sessions_max)
            o->worker_sessions_max = l;
        o->fanout_queued += atomic_load(&s->w[i].fan_queued);
    }
}

int eccp_server_publish(eccp_server_t *s, const eccp_event_t *ev)
{
    int rc = 0;
    for (int i = 0; i < s->nworkers; i++) {
        event_msg_t *m = calloc(1, sizeof(*m));
        if (!m)
            return CCD_ENOMEM;
        m->msg.type = MSG_ECCP_EVENT;
        m->msg.free = free_plain;
        m->ev = *ev;
        int r = mq_push(s->w[i].mq, &m->msg);
        if (r != 0) {
            free(m);
            rc = r;
        }
    }
    return rc;
}

size_t eccp_server_req_stats(eccp_server_t *s, eccp_req_stat_t *out, size_t max)
{
    for (size_t i = 0; i <= eccp__nreqs && i < max; i++) {
        out[i].name = i < eccp__nreqs ? eccp__reqs[i].name : "unknown";
        out[i].requests = atomic_load_explicit(&s->st_req_n[i], memory_order_relaxed);
        out[i].errors = atomic_load_explicit(&s->st_req_err[i], memory_order_relaxed);
    }
    return eccp__nreqs + 1;
}
