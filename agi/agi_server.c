/*
 * The FastAGI server: workers with an epoll set each, all watching the one listening socket
 * (EPOLLEXCLUSIVE wakes one of them per connection).  A worker owns the sessions it
 * accepted: their sockets, buffers, parsers and script state; its inbox (mq + wake fd)
 * brings back the read jobs its scripts started.  Nothing here waits on a channel: a
 * session that has a command out just has a deadline, checked on every loop round.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agi/agi_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"

#define MOD AGI__MOD
#define WORKER_MQ_MAX 65536
#define OUT_MAX (64 * 1024)   /* a session's unsent commands: a script sends one at a time */
#define SWEEP_MS 100          /* how often deadlines are checked */
#define ACCEPT_BURST 64

/* ---------------- sessions ---------------- */

static void sess_unlink(agi__worker_t *w, agi__sess_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (w->sessions == s)
        w->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void sess_free(agi__sess_t *s)
{
    buf_free(&s->in);
    buf_free(&s->out);
    free(s);
}

/* A closed session is freed at the end of the worker's loop round (a step or a parse further
 * up the stack may still hold it), and only once no read job points at it. */
static void sess_bury(agi__worker_t *w, agi__sess_t *s)
{
    s->next = w->dead;
    w->dead = s;
}

static void free_dead(agi__worker_t *w)
{
    while (w->dead) {
        agi__sess_t *s = w->dead;
        w->dead = s->next;
        sess_free(s);
    }
}

static void sess_close(agi__sess_t *s)
{
    agi__worker_t *w = s->w;
    if (s->fd < 0)
        return;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
    sess_unlink(w, s);
    atomic_fetch_sub(&w->a->nsess, 1);
    if (s->jobs_out == 0)
        sess_bury(w, s);
}

static void sess_arm(agi__sess_t *s, bool want_out)
{
    if (s->fd < 0 || s->want_out == want_out)
        return;
    s->want_out = want_out;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(s->w->ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Writes what is queued; closes a DONE session once everything went out. */
static void sess_flush(agi__sess_t *s)
{
    while (s->fd >= 0 && s->out.len > 0) {
        ssize_t n = send(s->fd, buf_data(&s->out), s->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&s->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            sess_arm(s, true);
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* the peer is gone; the read side will see it too */
        sess_close(s);
        return;
    }
    if (s->fd >= 0) {
        sess_arm(s, false);
        if (s->state == AGI__DONE)
            sess_close(s);
    }
}

const conf_agi_t *agi__cfg(const agi__sess_t *s)
{
    return &s->w->a->cfg;
}

db_t *agi__db(const agi__sess_t *s)
{
    return s->w->a->deps.db;
}

void agi__count_db_refused(agi__sess_t *s)
{
    atomic_fetch_add(&s->w->a->st.db_refused, 1);
}

bool agi__cmd(agi__sess_t *s, const char *verb, ...)
{
    char line[1024];
    size_t u = (size_t)snprintf(line, sizeof(line), "%s", verb);
    va_list ap;
    va_start(ap, verb);
    const char *arg;
    int rc = u < sizeof(line) ? 0 : CCD_ETOOBIG;
    while (rc == 0 && (arg = va_arg(ap, const char *)) != NULL) {
        if (u + 2 >= sizeof(line)) {
            rc = CCD_ETOOBIG;
            break;
        }
        line[u++] = ' ';
        line[u] = '\0';
        rc = agi_arg_append(line, sizeof(line), &u, arg);
    }
    va_end(ap);
    if (rc != 0 || u + 1 >= sizeof(line)) {
        LOG_ERR_RL(MOD, "script %s: command too long (%.40s...)", s->script_name, line);
        agi__end(s);
        return false;
    }
    line[u++] = '\n';
    if (buf_append(&s->out, line, u) != 0) {
        LOG_ERR_RL(MOD, "script %s: output full", s->script_name);
        agi__end(s);
        return false;
    }
    snprintf(s->cmd, sizeof(s->cmd), "%.*s", (int)(u - 1), line);
    s->awaiting = true;
    s->deadline_ms = clk_mono_ms() + (int64_t)s->w->a->cfg.command_timeout_s * 1000;
    atomic_fetch_add(&s->w->a->st.commands, 1);
    sess_flush(s);
    return true;
}

void agi__end(agi__sess_t *s)
{
    if (s->state == AGI__DONE)
        return;
    s->state = AGI__DONE;
    s->awaiting = false;
    s->deadline_ms = 0;
    if (s->hungup)
        atomic_fetch_add(&s->w->a->st.hangups, 1);
    else
        atomic_fetch_add(&s->w->a->st.finished, 1);
    sess_flush(s);
}

static void job_free(mq_msg_t *m)
{
    agi__job_t *j = (agi__job_t *)m;
    free(j->in);
    if (j->out_free && j->out)
        j->out_free(j->out);
    else
        free(j->out);
    free(j);
}

bool agi__read(agi__sess_t *s, int (*run)(db_conn_t *c, db_read_job_t *job), void *in,
               size_t out_size, void (*out_free)(void *out))
{
    agi__worker_t *w = s->w;
    db_t *db = w->a->deps.db;
    agi__job_t *j = db ? calloc(1, sizeof(*j)) : NULL;
    void *out = j ? calloc(1, out_size ? out_size : 1) : NULL;
    if (!j || !out) {
        free(j);
        free(out);
        free(in);
        agi__count_db_refused(s);
        LOG_WARN_RL(MOD, "script %s: %s", s->script_name, db ? "out of memory" : "no database");
        return false;
    }
    j->job.msg.free = job_free;
    j->job.run = run;
    j->job.reply = w->mq;
    j->s = s;
    j->in = in;
    j->out = out;
    j->out_free = out_free;
    int rc = db_read_submit(db, &j->job);
    if (rc != 0) {
        job_free(&j->job.msg);
        agi__count_db_refused(s);
        LOG_WARN_RL(MOD, "script %s: read refused (%d)", s->script_name, rc);
        return false;
    }
    s->jobs_out++;
    w->jobs_out++;
    return true;
}

bool agi__ags_submit(agi__sess_t *s, ags_req_t *req)
{
    ags_t *ags = s->w->a->deps.ags;
    if (!ags) {
        LOG_WARN_RL(MOD, "script %s: no agent service in this engine", s->script_name);
        return false;
    }
    req->reply_mq = s->w->mq;
    req->user = (uint64_t)(uintptr_t)s;
    int rc = ags_submit(ags, req);
    if (rc != 0) {
        LOG_WARN_RL(MOD, "script %s: the agent service refused a request (%s)", s->script_name,
                    ccd_strerror(rc));
        return false;
    }
    /* counted like a read job: the session stays allocated until the answer is back */
    s->jobs_out++;
    s->w->jobs_out++;
    return true;
}

bool agi__post(agi__sess_t *s, reg_apply_fn fn, void *arg)
{
    int rc = reg_post(s->w->a->deps.reg, fn, arg, free);
    if (rc != 0) {
        free(arg);
        LOG_WARN_RL(MOD, "script %s: registry refused a change (%d)", s->script_name, rc);
        return false;
    }
    return true;
}

bool agi__data_is(const agi_item_t *ans, const char *text)
{
    size_t n = strlen(text);
    return ans && ans->code == 200 && ans->has_data && ans->data.len == n &&
           memcmp(ans->data.p, text, n) == 0;
}

void agi__data_copy(const agi_item_t *ans, char *out, size_t outsz)
{
    if (!ans || !ans->has_data || ans->code != 200) {
        out[0] = '\0';
        return;
    }
    ccd_str_copy(out, outsz, ans->data);
}

/* ---------------- input ---------------- */

/* False when the peer sent more AGI() arguments than [agi] max_args. */
static bool env_keep(agi__sess_t *s, const agi_item_t *it)
{
    static const struct {
        const char *key;
        size_t off, size;
    } keep[] = {
        {"agi_network_script", offsetof(agi__sess_t, script_name), sizeof(((agi__sess_t *)0)->script_name)},
        {"agi_uniqueid", offsetof(agi__sess_t, uniqueid), AGI__VAL_LEN},
        {"agi_channel", offsetof(agi__sess_t, channel), AGI__VAL_LEN},
        {"agi_callerid", offsetof(agi__sess_t, callerid), AGI__VAL_LEN},
        {"agi_extension", offsetof(agi__sess_t, extension), AGI__VAL_LEN},
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (ccd_str_eq(it->key, ccd_str(keep[i].key))) {
            ccd_str_copy((char *)s + keep[i].off, keep[i].size, it->val);
            return true;
        }
    static const char pre[] = "agi_arg_";
    if (it->key.len > sizeof(pre) - 1 && memcmp(it->key.p, pre, sizeof(pre) - 1) == 0) {
        if (++s->arg_lines > s->w->a->cfg.max_args)
            return false;
        long n = 0;
        for (size_t k = sizeof(pre) - 1; k < it->key.len && n <= AGI__MAX_ARGS; k++) {
            char c = it->key.p[k];
            n = (c >= '0' && c <= '9') ? n * 10 + (c - '0') : AGI__MAX_ARGS + 1;
        }
        if (n >= 1 && n <= AGI__MAX_ARGS) {
            ccd_str_copy(s->args[n - 1], AGI__VAL_LEN, it->val);
            if (n > s->nargs)
                s->nargs = (int)n;
        }
    }
    return true;
}

static const agi__script_t *script_find(const char *name)
{
    for (size_t i = 0; i < agi__nscripts; i++)
        if (strcmp(agi__scripts[i].name, name) == 0)
            return &agi__scripts[i];
    return NULL;
}

static void env_done(agi__sess_t *s)
{
    s->state = AGI__RUN;
    s->deadline_ms = 0;
    s->script = script_find(s->script_name);
    if (!s->script) {
        atomic_fetch_add(&s->w->a->st.unknown_script, 1);
        LOG_WARN_RL(MOD, "unknown script '%s' (channel %s): the dialplan goes on", s->script_name,
                    s->channel);
        agi__cmd(s, "VERBOSE", "ccdialer: unknown FastAGI script", "1", NULL);
        s->state = AGI__DONE; /* the VERBOSE goes out, then the socket closes */
        sess_flush(s);
        return;
    }
    s->script->step(s, NULL);
}

/* Ends the session for a broken peer: what it did so far stands, nothing more is sent. */
static void sess_proto(agi__sess_t *s, const char *why)
{
    atomic_fetch_add(&s->w->a->st.protocol_errors, 1);
    LOG_WARN_RL(MOD, "session of %s (script %s) closed: %s", s->channel[0] ? s->channel : "?",
                s->script_name[0] ? s->script_name : "-", why);
    sess_close(s);
}

static void sess_input(agi__sess_t *s)
{
    while (s->fd >= 0 && s->in.len > 0) {
        agi_item_t it;
        int rc = agi_parse(&s->parser, buf_data(&s->in), s->in.len, &it);
        if (rc == CCD_EAGAIN)
            return;
        if (rc != CCD_OK) {
            sess_proto(s, s->parser.err);
            return;
        }
        switch (it.type) {
        case AGI_IT_ENV:
            if (!env_keep(s, &it)) {
                sess_proto(s, "more AGI() arguments than [agi] max_args");
                return;
            }
            break;
        case AGI_IT_ENV_END:
            buf_consume(&s->in, it.len);
            env_done(s);
            continue;
        case AGI_IT_HANGUP:
            s->hungup = true;
            break;
        case AGI_IT_USAGE:
            break;
        case AGI_IT_RESPONSE:
            if (!s->awaiting || s->state != AGI__RUN) {
                buf_consume(&s->in, it.len);
                sess_proto(s, "an answer to no command");
                return;
            }
            s->awaiting = false;
            s->deadline_ms = 0;
            if (it.code != 200)
                LOG_INFO_RL(MOD, "script %s: '%s' answered %d", s->script_name, s->cmd, it.code);
            /* it points into s->in: the step reads it before anything is consumed */
            s->script->step(s, &it);
            if (s->fd < 0)
                return;
            break;
        }
        buf_consume(&s->in, it.len);
    }
}

static void sess_readable(agi__sess_t *s)
{
    char *p = buf_reserve(&s->in, 4096);
    if (!p) {
        sess_proto(s, "input bound reached");
        return;
    }
    ssize_t n = recv(s->fd, p, 4096, 0);
    if (n > 0) {
        buf_commit(&s->in, (size_t)n);
        sess_input(s);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* Asterisk closed: the channel is gone or AGI() returned; nothing more to do. */
    if (s->state == AGI__RUN)
        atomic_fetch_add(&s->w->a->st.hangups, 1);
    sess_close(s);
}

static void sess_add(agi__worker_t *w, int fd)
{
    agi_t *a = w->a;
    if (atomic_fetch_add(&a->nsess, 1) >= a->cfg.max_sessions) {
        atomic_fetch_sub(&a->nsess, 1);
        atomic_fetch_add(&a->st.refused_full, 1);
        LOG_WARN_RL(MOD, "[agi] max_sessions (%d) reached: connection closed", a->cfg.max_sessions);
        close(fd);
        return;
    }
    agi__sess_t *s = calloc(1, sizeof(*s));
    if (!s) {
        atomic_fetch_sub(&a->nsess, 1);
        close(fd);
        return;
    }
    s->w = w;
    s->fd = fd;
    agi_parser_init(&s->parser, (size_t)a->cfg.max_line_bytes, 0);
    buf_init(&s->in, (size_t)a->cfg.max_line_bytes + 8192);
    buf_init(&s->out, OUT_MAX);
    s->deadline_ms = clk_mono_ms() + (int64_t)a->cfg.command_timeout_s * 1000;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        LOG_ERR_RL(MOD, "epoll_ctl: %s", strerror(errno));
        atomic_fetch_sub(&a->nsess, 1);
        close(fd);
        sess_free(s);
        return;
    }
    s->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = s;
    w->sessions = s;
    atomic_fetch_add(&a->st.accepted, 1);
}

static void accept_some(agi__worker_t *w)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(w->a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                LOG_WARN_RL(MOD, "accept: %s", strerror(errno));
            return;
        }
        /* a session is a ping-pong of short lines: Nagle would hold each command back until
         * the previous segment's ACK, which the peer delays */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sess_add(w, fd);
    }
}

static void sweep(agi__worker_t *w, int64_t now)
{
    agi__sess_t *s = w->sessions;
    while (s) {
        agi__sess_t *next = s->next;
        if (s->deadline_ms && now >= s->deadline_ms) {
            atomic_fetch_add(&w->a->st.timeouts, 1);
            LOG_WARN_RL(MOD, "session of %s (script %s) closed: no answer to '%s' within %d s",
                        s->channel[0] ? s->channel : "?", s->script_name[0] ? s->script_name : "-",
                        s->state == AGI__ENV ? "(environment)" : s->cmd,
                        w->a->cfg.command_timeout_s);
            sess_close(s);
        }
        s = next;
    }
}

static void job_back(agi__worker_t *w, agi__job_t *j)
{
    agi__sess_t *s = j->s;
    w->jobs_out--;
    s->jobs_out--;
    if (s->fd < 0) {
        if (s->jobs_out == 0)
            sess_bury(w, s);
        job_free(&j->job.msg);
        return;
    }
    s->job = j;
    if (s->state == AGI__RUN)
        s->script->step(s, NULL);
    s->job = NULL; /* s is still allocated: frees wait for the end of the round */
    job_free(&j->job.msg);
}

/* The agent service's answer; user 0 is a notice for no request (mute timers: not ours). */
static void ags_back(agi__worker_t *w, ags_done_t *d)
{
    agi__sess_t *s = (agi__sess_t *)(uintptr_t)d->user;
    if (s) {
        w->jobs_out--;
        s->jobs_out--;
        if (s->fd < 0) {
            if (s->jobs_out == 0)
                sess_bury(w, s);
        } else if (s->state == AGI__RUN) {
            s->done = d;
            s->script->step(s, NULL);
            s->done = NULL;
        }
    }
    d->msg.free(&d->msg);
}

static bool inbox(agi__worker_t *w)
{
    uint64_t v;
    if (read(mq_wake_fd(w->mq), &v, sizeof(v)) < 0 && errno != EAGAIN)
        LOG_ERR_RL(MOD, "wake fd: %s", strerror(errno));
    bool quit = false;
    mq_msg_t *m = mq_pop_all(w->mq);
    while (m) {
        mq_msg_t *next = m->next;
        if (m->type == MSG_DB_READ_DONE)
            job_back(w, (agi__job_t *)m);
        else if (m->type == MSG_AGS_DONE)
            ags_back(w, (ags_done_t *)m);
        else {
            if (m->type == MSG_QUIT)
                quit = true;
            m->free(m);
        }
        m = next;
    }
    return quit;
}

static void *worker_main(void *arg)
{
    agi__worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "agi-w%d", w->idx);
    log_set_thread_name(name);
    struct epoll_event evs[128];
    int64_t next_sweep = clk_mono_ms() + SWEEP_MS;
    bool quit = false;
    while (!quit) {
        int64_t now = clk_mono_ms();
        atomic_store_explicit(&w->beat_ms, now, memory_order_relaxed);
        int timeout = next_sweep > now ? (int)(next_sweep - now) : 0;
        int n = epoll_wait(w->ep, evs, 128, timeout);
        if (n < 0 && errno != EINTR) {
            LOG_ERR(MOD, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == w) {
                quit = inbox(w) || quit;
            } else if (p == NULL) {
                accept_some(w);
            } else {
                agi__sess_t *s = p;
                /* a session closed earlier in this round is freed already only when no job
                 * holds it; closed ones are off the epoll set, so their events do not come */
                if (s->fd >= 0 && (evs[i].events & EPOLLOUT))
                    sess_flush(s);
                if (s->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    sess_readable(s);
            }
        }
        now = clk_mono_ms();
        if (now >= next_sweep) {
            sweep(w, now);
            next_sweep = now + SWEEP_MS;
        }
        free_dead(w);
    }
    while (w->sessions)
        sess_close(w->sessions);
    free_dead(w);
    return NULL;
}

/* ---------------- lifecycle ---------------- */

agi_t *agi_new(const conf_agi_t *cfg, const agi_deps_t *deps, char *err, size_t errlen)
{
    if (!cfg || !deps || !deps->reg) {
        snprintf(err, errlen, "agi: a registry is required");
        return NULL;
    }
    agi_t *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "agi: out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    a->deps = *deps;
    a->lfd = -1;
    a->nworkers = cfg->workers;
    a->w = calloc((size_t)a->nworkers, sizeof(*a->w));
    if (!a->w) {
        snprintf(err, errlen, "agi: out of memory");
        goto fail;
    }
    for (int i = 0; i < a->nworkers; i++)
        a->w[i].ep = -1;
    a->lfd = net_tcp_listen("agi", cfg->bind, cfg->port, &a->port, err, errlen);
    if (a->lfd < 0)
        goto fail;
    for (int i = 0; i < a->nworkers; i++) {
        agi__worker_t *w = &a->w[i];
        w->a = a;
        w->idx = i;
        char qn[32];
        snprintf(qn, sizeof(qn), "agi-w%d", i);
        w->mq = mq_new(qn, WORKER_MQ_MAX, MQ_WAKEFD);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (!w->mq || w->ep < 0) {
            snprintf(err, errlen, "agi: worker setup failed");
            goto fail;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
        /* each worker watches the listening socket; EPOLLEXCLUSIVE wakes one per connection */
        struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, mq_wake_fd(w->mq), &ev) != 0 ||
            epoll_ctl(w->ep, EPOLL_CTL_ADD, a->lfd, &lev) != 0) {
            snprintf(err, errlen, "agi: worker setup failed (epoll: %s)", strerror(errno));
            goto fail;
        }
    }
    return a;
fail:
    agi_free(a);
    return NULL;
}

int agi_start(agi_t *a)
{
    if (a->nstarted)
        return CCD_EBUSY;
    for (int i = 0; i < a->nworkers; i++) {
        if (pthread_create(&a->w[i].th, NULL, worker_main, &a->w[i]) != 0) {
            LOG_ERR(MOD, "cannot start worker %d", i);
            return CCD_ERR;
        }
        a->nstarted++;
    }
    LOG_INFO(MOD, "FastAGI listening on %s:%u with %d workers", a->cfg.bind, a->port, a->nworkers);
    return 0;
}

void agi_stop(agi_t *a)
{
    if (!a || a->stopped || a->nstarted == 0)
        return;
    a->stopped = true;
    for (int i = 0; i < a->nstarted; i++) {
        mq_msg_t *q = mq_msg_quit_new();
        if (q && mq_push_force(a->w[i].mq, q) != 0)
            q->free(q);
    }
    for (int i = 0; i < a->nstarted; i++) {
        agi__worker_t *w = &a->w[i];
        pthread_join(w->th, NULL);
        /* Read jobs still on reader threads come back to this mq: wait for them, since they
         * point at sessions (closed now) that only this wait may free. */
        int64_t end = clk_mono_ms() + 30000;
        while (w->jobs_out > 0 && clk_mono_ms() < end) {
            mq_msg_t *m = mq_pop(w->mq, 100);
            if (!m)
                continue;
            if (m->type == MSG_DB_READ_DONE)
                job_back(w, (agi__job_t *)m);
            else if (m->type == MSG_AGS_DONE)
                ags_back(w, (ags_done_t *)m);
            else
                m->free(m);
        }
        free_dead(w);
        if (w->jobs_out > 0)
            LOG_ERR(MOD, "worker %d: %d database answers never came back", i, w->jobs_out);
    }
}

void agi_free(agi_t *a)
{
    if (!a)
        return;
    agi_stop(a);
    for (int i = 0; a->w && i < a->nworkers; i++) {
        agi__worker_t *w = &a->w[i];
        if (w->ep >= 0)
            close(w->ep);
        /* a queue some late job may still be pushed to is kept (closed), never freed */
        if (w->mq && w->jobs_out == 0)
            mq_free(w->mq);
        else if (w->mq)
            mq_close(w->mq);
    }
    free(a->w);
    if (a->lfd >= 0)
        close(a->lfd);
    free(a);
}

uint16_t agi_port(const agi_t *a)
{
    return a->port;
}

void agi_get_stats(agi_t *a, agi_stats_t *o)
{
    memset(o, 0, sizeof(*o));
    o->accepted = atomic_load(&a->st.accepted);
    o->refused_full = atomic_load(&a->st.refused_full);
    o->finished = atomic_load(&a->st.finished);
    o->hangups = atomic_load(&a->st.hangups);
    o->timeouts = atomic_load(&a->st.timeouts);
    o->protocol_errors = atomic_load(&a->st.protocol_errors);
    o->unknown_script = atomic_load(&a->st.unknown_script);
    o->commands = atomic_load(&a->st.commands);
    o->db_refused = atomic_load(&a->st.db_refused);
    o->sessions = atomic_load(&a->nsess);
    for (int i = 0; i < a->nstarted; i++) {
        int64_t b = atomic_load_explicit(&a->w[i].beat_ms, memory_order_relaxed);
        if (i == 0 || b < o->heartbeat_ms)
            o->heartbeat_ms = b;
    }
}

const char *agi_script_name(size_t i)
{
    return i < agi__nscripts ? agi__scripts[i].name : NULL;
}
