/*
 * The simulator's server thread: listening socket, AMI connections, FastAGI
 * sockets, timers, and the control inbox other threads post to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "tools/pbxsim/pbxsim_int.h"

#define BANNER "Asterisk Call Manager/11.0.0\r\n"
#define FLOOD_LOW_WATER (256u * 1024u)

void pbxsim_opts_default(pbxsim_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->time_scale = 1.0;
    o->auth_fail_delay_ms = PBXSIM_AUTH_DELAY_DEFAULT;
    o->answer_rate = -1;
    o->busy_rate = -1;
}

/* ---------------- configuration (conf/queues.conf, conf/agents.conf) ---------------- */

static int config_init(pbx_t *s)
{
    uint32_t n = s->o.agents, base = s->o.agent_base;
    s->agents = calloc(n, sizeof *s->agents);
    if (!s->agents)
        return -1;
    s->nagents = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(s->agents[i].id, sizeof s->agents[i].id, "%u", base + i);
        snprintf(s->agents[i].name, sizeof s->agents[i].name, "Agent %u", base + i);
    }
    s->nqueues = 2;
    snprintf(s->queues[0].name, sizeof s->queues[0].name, "8000");
    snprintf(s->queues[1].name, sizeof s->queues[1].name, "8001");
    /* [globals] of extensions.conf */
    static const char *const globals[][2] = {{"RING_SECS", "2"}, {"TALK_SECS", "10"}};
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        char *v = strdup(globals[i][1]);
        if (v && hmap_put(s->globals, globals[i][0], v, NULL) != 0)
            free(v);
    }
    int64_t now = s->startup_wall;
    for (uint32_t i = 0; i < n; i++) {
        pmember_t *m = calloc(1, sizeof *m);
        if (!m || pbx_queue_add_member(&s->queues[0], m) != 0) {
            free(m);
            return -1;
        }
        snprintf(m->interface, sizeof m->interface, "Local/%u@agents", base + i);
        snprintf(m->name, sizeof m->name, "Agent %u", base + i);
        snprintf(m->state_if, sizeof m->state_if, "Agent:%u", base + i);
        m->agent = &s->agents[i];
        m->login_time = now;
    }
    return 0;
}

static void config_free(pbx_t *s)
{
    for (int i = 0; i < s->nqueues; i++) {
        for (int j = 0; j < s->queues[i].nmembers; j++)
            free(s->queues[i].members[j]);
        free(s->queues[i].members);
        s->queues[i].members = NULL;
        s->queues[i].nmembers = s->queues[i].capmembers = 0;
    }
    free(s->agents);
    s->agents = NULL;
    s->nagents = 0;
}

/* ---------------- connections ---------------- */

void pbx_conn_close(pbx_t *s, pconn_t *c)
{
    (void)s;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->closing = true;
}

void pbx_drop_all(pbx_t *s)
{
    for (int i = 0; i < s->nconns; i++)
        if (s->conns[i])
            pbx_conn_close(s, s->conns[i]);
}

static void conn_free(pconn_t *c)
{
    pbx_conn_filters_free(c);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static void flush_conn(pconn_t *c)
{
    while (c->fd >= 0 && c->out.len > 0) {
        ssize_t n = send(c->fd, buf_data(&c->out), c->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close(c->fd);
        c->fd = -1;
        c->closing = true;
        return;
    }
}

static void accept_conns(pbx_t *s)
{
    for (;;) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        uint32_t maxc = s->o.max_connections ? s->o.max_connections : 256;
        if ((uint32_t)s->nconns >= maxc || s->nconns >= PBX_MAX_CONNS) {
            LOG_WARN("pbxsim", "connection limit %u reached, refusing", maxc);
            close(fd);
            continue;
        }
        pconn_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        buf_init(&c->in, PBX_IN_MAX);
        buf_init(&c->out, PBX_OUT_MAX);
        char ip[32];
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "%s/%u", ip, (unsigned)ntohs(sa.sin_port));
        s->conns[s->nconns++] = c;
        pbx_conn_write(s, c, BANNER, strlen(BANNER));
    }
}

static void conn_read(pbx_t *s, pconn_t *c)
{
    char *p = buf_reserve(&c->in, 8192);
    if (!p) {
        LOG_WARN("pbxsim", "client %s sent more than %u bytes without a complete action, dropped", c->peer,
                 (unsigned)PBX_IN_MAX);
        pbx_conn_close(s, c);
        return;
    }
    ssize_t n = recv(c->fd, p, 8192, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        pbx_conn_close(s, c);
        return;
    }
    if (n > 0)
        buf_commit(&c->in, (size_t)n);
}

static void conn_process(pbx_t *s, pconn_t *c)
{
    pbx_msg_t m;
    while (c->fd >= 0 && !c->closing && c->auth_fail_at == 0 && c->in.len > 0) {
        size_t used = 0;
        int r = pbx_wire_parse(buf_data(&c->in), c->in.len, &m, &used);
        if (r == 0)
            break;
        if (r < 0) {
            LOG_WARN("pbxsim", "client %s: line or header count over the limit, dropped", c->peer);
            pbx_conn_close(s, c);
            return;
        }
        pbx_action(s, c, &m);
        buf_consume(&c->in, used);
        if (c->auth_fail_at == 1)
            c->auth_fail_at = clk_mono_ms() + s->o.auth_fail_delay_ms;
    }
}

static void auth_fail_due(pbx_t *s, pconn_t *c)
{
    buf_reset(&s->ev);
    buf_printf(&s->ev, "Response: Error\r\n");
    if (c->pending_id[0])
        buf_printf(&s->ev, "ActionID: %s\r\n", c->pending_id);
    buf_printf(&s->ev, "Message: Authentication failed\r\n");
    pbx_ev_end_to(s, c);
    c->auth_fail_at = 0;
    c->pending_id[0] = '\0';
    c->closing = true; /* Asterisk ends the session after a failed login */
}

static void sweep(pbx_t *s)
{
    int j = 0;
    for (int i = 0; i < s->nconns; i++) {
        pconn_t *c = s->conns[i];
        if (c->closing && c->fd >= 0 && c->out.len == 0)
            pbx_conn_close(s, c);
        if (c->fd < 0) {
            conn_free(c);
            continue;
        }
        s->conns[j++] = c;
    }
    s->nconns = j;
}

/* ---------------- controls ---------------- */

/*
 * core restart now: the calls are torn down at once, then the process lingers
 * (the shutdown window, restart_members_and_pauses.txt): Shutdown ~1.1 s
 * after the command, every socket closed ~1.2 s after it; meanwhile every
 * action on any connection, old or new, is answered "Asterisk is shutting
 * down".  shutdown_step() finishes it from the server loop.
 */
void pbx_do_restart(pbx_t *s)
{
    if (s->shut_close_vms)
        return; /* already shutting down */
    pbx_restart_teardown(s);
    uint32_t win = s->o.shutdown_ms ? s->o.shutdown_ms : 1200;
    int64_t now = pbx_vnow(s);
    s->shut_close_vms = now + win;
    s->shut_event_vms = now + (win > 100 ? win - 100 : 0);
    s->shut_event_sent = false;
}

bool pbx_shutting_down(pbx_t *s)
{
    return s->shut_close_vms != 0;
}

/* Returns true when the restart finished in this call. */
static bool shutdown_step(pbx_t *s)
{
    if (!s->shut_close_vms)
        return false;
    int64_t now = pbx_vnow(s);
    if (!s->shut_event_sent && now >= s->shut_event_vms) {
        s->shut_event_sent = true;
        pbx_ev_begin(s, "Shutdown", "system,all");
        pbx_ev_kv(s, "Shutdown", "Cleanly");
        pbx_ev_kv(s, "Restart", "True");
        pbx_ev_end(s);
    }
    if (now < s->shut_close_vms)
        return false;
    for (int i = 0; i < s->nconns; i++) {
        pconn_t *c = s->conns[i];
        /* best effort: the peer should see Shutdown before the close */
        for (int k = 0; k < 50 && c->fd >= 0 && c->out.len > 0; k++) {
            flush_conn(c);
            if (c->out.len > 0) {
                struct pollfd pf = {c->fd, POLLOUT, 0};
                poll(&pf, 1, 2);
            }
        }
        pbx_conn_close(s, c);
    }
    int64_t wall = (s->wall0_ms + now) / 1000;
    s->startup_wall = wall > s->startup_wall ? wall : s->startup_wall + 1;
    s->reload_wall = s->startup_wall;
    s->processed_calls = 0;
    s->restarts++;
    pbx_restart_reset(s);
    s->shut_close_vms = s->shut_event_vms = 0;
    return true;
}

/* The pbxsim_restart caller returns once the new process is up. */
static void ctl_finish(pbx_t *s)
{
    pthread_mutex_lock(&s->ctl_mu);
    s->ctl = CTL_NONE;
    s->ctl_done++;
    pthread_cond_broadcast(&s->ctl_cv);
    pthread_mutex_unlock(&s->ctl_mu);
}

static void publish(pbx_t *s)
{
    pbxsim_state_t st;
    memset(&st, 0, sizeof st);
    st.channels = s->nchans;
    for (int i = 0; i < s->nagents; i++) {
        st.agents_logged_in += s->agents[i].logged_in;
        st.agents_available += s->agents[i].logged_in && s->agents[i].ready && !s->agents[i].busy_call;
    }
    for (int i = 0; i < s->nqueues; i++)
        st.queue_callers += (uint32_t)s->queues[i].ncallers;
    st.connections = (uint32_t)s->nconns;
    for (int i = 0; i < s->nconns; i++)
        st.logged_in_conns += s->conns[i]->logged_in && s->conns[i]->fd >= 0;
    st.actions = s->actions;
    st.events_sent = s->events_sent;
    st.originates = s->originates;
    st.flood_pending = s->flood_left;
    st.restarts = s->restarts;
    st.startup_time = s->startup_wall;
    st.virtual_ms = pbx_vnow(s);
    st.shutting_down = s->shut_close_vms != 0;
    pthread_mutex_lock(&s->st_mu);
    s->st = st;
    pthread_cond_broadcast(&s->st_cv);
    pthread_mutex_unlock(&s->st_mu);
}

/* Returns false when asked to stop. */
static bool handle_control(pbx_t *s)
{
    uint64_t v;
    if (read(s->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        LOG_WARN("pbxsim", "wake fd read failed");
    pthread_mutex_lock(&s->ctl_mu);
    pctl_e ctl = s->ctl;
    char name[64];
    snprintf(name, sizeof name, "%s", s->ctl_name);
    uint64_t n = s->ctl_n;
    pthread_mutex_unlock(&s->ctl_mu);
    if (ctl == CTL_NONE)
        return true;
    switch (ctl) {
    case CTL_DROP:
        pbx_drop_all(s);
        break;
    case CTL_RESTART:
        pbx_do_restart(s);
        s->shut_ctl = true;
        sweep(s);
        publish(s);
        return true; /* done when shutdown_step closes the connections */
    case CTL_SWALLOW:
        snprintf(s->swallow, sizeof s->swallow, "%s", name);
        break;
    case CTL_FLOOD:
        s->flood_left += n;
        break;
    default:
        break;
    }
    sweep(s);
    publish(s);
    ctl_finish(s);
    return ctl != CTL_STOP;
}

static int post(pbxsim_t *s, pctl_e ctl, const char *name, uint64_t n)
{
    if (!s)
        return CCD_EINVAL;
    pthread_mutex_lock(&s->ctl_mu);
    while (s->ctl != CTL_NONE)
        pthread_cond_wait(&s->ctl_cv, &s->ctl_mu);
    s->ctl = ctl;
    snprintf(s->ctl_name, sizeof s->ctl_name, "%s", name ? name : "");
    s->ctl_n = n;
    uint64_t my = ++s->ctl_req;
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof one) < 0)
        LOG_WARN("pbxsim", "wake fd write failed");
    while (s->ctl_done < my)
        pthread_cond_wait(&s->ctl_cv, &s->ctl_mu);
    pthread_mutex_unlock(&s->ctl_mu);
    return 0;
}

int pbxsim_drop_connections(pbxsim_t *s)
{
    return post(s, CTL_DROP, NULL, 0);
}

int pbxsim_restart(pbxsim_t *s)
{
    return post(s, CTL_RESTART, NULL, 0);
}

int pbxsim_set_swallow_next(pbxsim_t *s, const char *action)
{
    return post(s, CTL_SWALLOW, action, 0);
}

int pbxsim_flood(pbxsim_t *s, uint64_t n)
{
    return post(s, CTL_FLOOD, NULL, n);
}

void pbxsim_state(pbxsim_t *s, pbxsim_state_t *out)
{
    pthread_mutex_lock(&s->st_mu);
    *out = s->st;
    pthread_mutex_unlock(&s->st_mu);
}

int pbxsim_wait(pbxsim_t *s, bool (*pred)(const pbxsim_state_t *, void *), void *ctx, int timeout_ms)
{
    struct timespec dl;
    clk_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&s->st_mu);
    int rc = 0;
    while (!pred(&s->st, ctx)) {
        if (pthread_cond_timedwait(&s->st_cv, &s->st_mu, &dl) == ETIMEDOUT) {
            rc = pred(&s->st, ctx) ? 0 : CCD_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&s->st_mu);
    return rc;
}

uint16_t pbxsim_port(pbxsim_t *s)
{
    return s->port;
}

/* ---------------- the loop ---------------- */

static bool flood_room(pbx_t *s)
{
    bool any = false;
    for (int i = 0; i < s->nconns; i++) {
        pconn_t *c = s->conns[i];
        if (c->fd < 0 || !c->logged_in || !c->events_on || c->class_mask == 0)
            continue;
        any = true;
        if (c->out.len >= FLOOD_LOW_WATER)
            return false;
    }
    return any;
}

#define POLL_MAX (PBX_MAX_CONNS + 2 + 1024)

static void *server_main(void *arg)
{
    pbx_t *s = arg;
    log_set_thread_name("pbxsim");
    struct pollfd *pf = calloc(POLL_MAX, sizeof *pf);
    pconn_t **pconn = calloc(POLL_MAX, sizeof *pconn);
    pcall_t **pcall = calloc(POLL_MAX, sizeof *pcall);
    if (!pf || !pconn || !pcall) {
        LOG_ERR("pbxsim", "out of memory in the server thread");
        free(pf);
        free(pconn);
        free(pcall);
        return NULL;
    }
    bool running = true;
    publish(s);
    while (running) {
        int n = 0;
        pf[n++] = (struct pollfd){s->wake_fd, POLLIN, 0};
        pf[n++] = (struct pollfd){s->lfd, POLLIN, 0};
        int64_t now_ms = clk_mono_ms();
        int timeout = 1000;
        for (int i = 0; i < s->nconns && n < POLL_MAX; i++) {
            pconn_t *c = s->conns[i];
            if (c->fd < 0)
                continue;
            short ev = c->auth_fail_at ? 0 : POLLIN;
            if (c->out.len)
                ev |= POLLOUT;
            pconn[n] = c;
            pcall[n] = NULL;
            pf[n++] = (struct pollfd){c->fd, ev, 0};
            if (c->auth_fail_at) {
                int64_t d = c->auth_fail_at - now_ms;
                if (d < timeout)
                    timeout = d < 0 ? 0 : (int)d;
            }
        }
        for (pcall_t *c = s->nagi ? s->calls : NULL; c && n < POLL_MAX; c = c->next) {
            if (c->agi_fd < 0)
                continue;
            short ev = POLLIN;
            if (c->agi_out.len)
                ev |= POLLOUT;
            pconn[n] = NULL;
            pcall[n] = c;
            pf[n++] = (struct pollfd){c->agi_fd, ev, 0};
        }
        int64_t next = pbx_timer_next(s);
        if (s->shut_close_vms) {
            int64_t due = s->shut_event_sent ? s->shut_close_vms : s->shut_event_vms;
            next = next < 0 || due < next ? due : next;
        }
        if (next >= 0) {
            double d = (double)(next - pbx_vnow(s)) / s->scale;
            int dm = d <= 0 ? 0 : (int)d + 1;
            if (dm < timeout)
                timeout = dm;
        }
        if (s->flood_left && flood_room(s))
            timeout = 0;
        if (poll(pf, (nfds_t)n, timeout) < 0 && errno != EINTR) {
            LOG_ERR("pbxsim", "poll failed: %s", strerror(errno));
            break;
        }
        /* A control (drop, restart) sweeps closed connections and may end calls, which
         * frees what pconn[]/pcall[] point at: their readiness is left for the next
         * round (poll is level-triggered) instead of being read through stale pointers. */
        bool swept = false;
        if (pf[0].revents & POLLIN) {
            running = handle_control(s);
            swept = true;
        }
        if (pf[1].revents & POLLIN)
            accept_conns(s);
        for (int i = 2; i < n && !swept; i++) {
            if (!pf[i].revents)
                continue;
            if (pconn[i]) {
                pconn_t *c = pconn[i];
                if (c->fd < 0)
                    continue;
                if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
                    conn_read(s, c);
                if (c->fd >= 0)
                    conn_process(s, c);
            } else if (pcall[i]) {
                pcall_t *c = pcall[i];
                /* the call may have finished earlier in this turn */
                bool live = false;
                for (pcall_t *x = s->calls; x; x = x->next)
                    if (x == c) {
                        live = true;
                        break;
                    }
                if (live && c->agi_fd == pf[i].fd)
                    pbx_agi_io(s, c, pf[i].revents);
            }
        }
        pbx_timer_run(s);
        if (shutdown_step(s) && s->shut_ctl) {
            s->shut_ctl = false;
            sweep(s);
            publish(s);
            ctl_finish(s);
        }
        now_ms = clk_mono_ms();
        for (int i = 0; i < s->nconns; i++) {
            pconn_t *c = s->conns[i];
            if (c->auth_fail_at && c->auth_fail_at <= now_ms && c->fd >= 0) {
                auth_fail_due(s, c);
                conn_process(s, c);
            }
        }
        if (s->flood_left && flood_room(s))
            pbx_flood_step(s, 2000);
        for (int i = 0; i < s->nconns; i++)
            flush_conn(s->conns[i]);
        for (pcall_t *c = s->nagi ? s->calls : NULL; c; c = c->next)
            if (c->agi_fd >= 0 && c->agi_out.len)
                pbx_agi_io(s, c, 0);
        sweep(s);
        publish(s);
    }
    free(pf);
    free(pconn);
    free(pcall);
    return NULL;
}

pbxsim_t *pbxsim_start(const pbxsim_opts_t *opts)
{
    pbx_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (opts)
        s->o = *opts;
    else
        pbxsim_opts_default(&s->o);
    snprintf(s->username, sizeof s->username, "%s", s->o.username ? s->o.username : "admin");
    snprintf(s->secret, sizeof s->secret, "%s", s->o.secret ? s->o.secret : "amp111");
    snprintf(s->sysname, sizeof s->sysname, "%s", s->o.systemname ? s->o.systemname : "testpbx");
    snprintf(s->agi_host, sizeof s->agi_host, "%s", s->o.fastagi_host ? s->o.fastagi_host : "127.0.0.1");
    s->o.username = s->o.secret = s->o.systemname = s->o.fastagi_host = NULL; /* copied above */
    if (s->o.fastagi_port == 0)
        s->o.fastagi_port = 4573;
    if (s->o.answer_rate < 0)
        s->o.answer_rate = 0.7;
    if (s->o.busy_rate < 0)
        s->o.busy_rate = 0.3;
    if (s->o.ring.min_ms == 0 && s->o.ring.max_ms == 0)
        s->o.ring = (pbxsim_dist_t){1000, 5000};
    if (s->o.talk.min_ms == 0 && s->o.talk.max_ms == 0)
        s->o.talk = (pbxsim_dist_t){5000, 60000};
    if (s->o.agents == 0)
        s->o.agents = 5;
    if (s->o.agent_base == 0)
        s->o.agent_base = 9000;
    if (s->o.agents > PBXSIM_AGENTS_MAX || s->o.agent_base > UINT32_MAX - s->o.agents) {
        LOG_ERR("pbxsim", "agents: %u from %u is out of range (at most %u)", s->o.agents,
                s->o.agent_base, PBXSIM_AGENTS_MAX);
        free(s);
        return NULL;
    }
    s->scale = s->o.time_scale > 0 ? s->o.time_scale : 1.0;
    s->rng = s->o.seed;
    s->vary_rng = s->o.seed ^ 0x6A09E667F3BCC909ull;
    s->mono0_ms = clk_mono_ms();
    s->wall0_ms = clk_wall_ms();
    s->startup_wall = s->wall0_ms / 1000;
    s->reload_wall = s->startup_wall;
    s->lfd = s->wake_fd = -1;
    pthread_mutex_init(&s->ctl_mu, NULL);
    pthread_cond_init(&s->ctl_cv, NULL);
    pthread_mutex_init(&s->st_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->st_cv, &ca);
    pthread_condattr_destroy(&ca);
    buf_init(&s->ev, 1 << 20);
    s->by_name = hmap_new(256);
    s->by_uid = hmap_new(256);
    s->globals = hmap_new(64);
    if (!s->by_name || !s->by_uid || !s->globals)
        goto fail;
    if (config_init(s) != 0)
        goto fail;

    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(s->o.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->lfd, 128) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        LOG_ERR("pbxsim", "cannot listen on 127.0.0.1:%u: %s", (unsigned)s->o.port, strerror(errno));
        goto fail;
    }
    s->port = ntohs(sa.sin_port);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0)
        goto fail;
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        LOG_ERR("pbxsim", "cannot start the server thread");
        goto fail;
    }
    return s;
fail:
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    config_free(s);
    hmap_free(s->by_name);
    hmap_free(s->by_uid);
    hmap_free(s->globals);
    buf_free(&s->ev);
    pthread_mutex_destroy(&s->ctl_mu);
    pthread_cond_destroy(&s->ctl_cv);
    pthread_mutex_destroy(&s->st_mu);
    pthread_cond_destroy(&s->st_cv);
    free(s);
    return NULL;
}

void pbxsim_stop(pbxsim_t *s)
{
    if (!s)
        return;
    post(s, CTL_STOP, NULL, 0);
    pthread_join(s->thread, NULL);
    /* the thread is gone: tear down without events */
    for (int i = 0; i < s->nconns; i++) {
        pbx_conn_close(s, s->conns[i]);
        conn_free(s->conns[i]);
    }
    s->nconns = 0;
    pbx_timer_clear(s);
    while (s->chans)
        pbx_chan_free(s, s->chans);
    pcall_t *c = s->calls;
    while (c) {
        pcall_t *next = c->next;
        pbridge_t *b1 = c->br_call, *b2 = c->br_agent;
        c->br_call = c->br_agent = NULL;
        pbx_bridge_unref(s, b1);
        pbx_bridge_unref(s, b2);
        pbx_call_finish(s, c);
        c = next;
    }
    pbx_bridge_unref(s, s->hold_bridge);
    s->hold_bridge = NULL;
    pbx_bridge_unref(s, s->park_bridge);
    s->park_bridge = NULL;
    config_free(s);
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(s->globals, &it, &k, &v))
        free(v);
    hmap_free(s->globals);
    hmap_free(s->by_name);
    hmap_free(s->by_uid);
    free(s->timers);
    pbx_flood_free(s);
    buf_free(&s->ev);
    close(s->lfd);
    close(s->wake_fd);
    pthread_mutex_destroy(&s->ctl_mu);
    pthread_cond_destroy(&s->ctl_cv);
    pthread_mutex_destroy(&s->st_mu);
    pthread_cond_destroy(&s->st_cv);
    free(s);
}
