/*
 * ami_conn: one connection and one I/O thread per Asterisk server.
 *
 * DESIGN
 * - The I/O thread owns the socket, both byte buffers, the parser and the
 *   in-flight table; nothing in ami_srv_t below the "I/O thread only" line
 *   is touched by any other thread, so none of it is locked.
 * - Other threads talk to it only through its inbox (core/mq: bounded, a
 *   leaf lock inside, an eventfd the thread polls).  ami_send() formats the
 *   whole action on the caller's thread; the I/O thread only copies it into
 *   its output buffer.  There is no lock of our own anywhere, so no lock is
 *   ever held across a write or a callback.
 * - The socket is non-blocking and written from poll(POLLOUT): a slow peer
 *   fills the bounded output buffer, then the inbox (senders get
 *   CCD_EFULL); reading goes on all the while, so responses and events keep
 *   flowing and nothing waits for anything.
 * - Every action ends in exactly one outcome: response, timeout (a scan of
 *   the in-flight list every 50 ms) or CCD_ECLOSED on disconnect/stop.  A
 *   response whose ActionID is not in flight (never sent, or expired) is
 *   counted, logged (rate-limited) and dropped.
 * - States: DOWN (waiting out the back-off; sends fail at once) ->
 *   CONNECTING (TCP, banner, login; user actions wait in `held`) ->
 *   SYNCING (logged in; event filter, CoreStatus, CoreShowChannels,
 *   Agents, QueueStatus) -> UP.  Keepalive: Ping every ping_interval_s; no
 *   reply or no bytes for 3 intervals -> reconnect.  Back-off doubles from
 *   reconnect_min_ms to reconnect_max_ms and resets after a login.
 * - Events: typed events are pushed to each subscriber whose mask wants
 *   them (a full subscriber loses it; counted) and posted to the registry.
 *   When the registry inbox is full they wait in a bounded overflow list in
 *   order; if that overflows too, the registry is resynced afterwards.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ami/ami_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define MOD "ami"
#define TIMEOUT_SCAN_US 50000
#define CONNECT_TIMEOUT_MS 5000

static void srv_disconnect(ami_srv_t *s, const char *why);
static void srv_send_internal(ami_srv_t *s, const char *name, ami_action_t *a, bool list,
                              ami_internal_fn fn);

/* ---------------------------------------------------------------- utils */

static void plist_add(ami_plist_t *l, ami_pending_t *p)
{
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    l->n++;
}

static void plist_del(ami_plist_t *l, ami_pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
    l->n--;
}

static void pending_free(ami_pending_t *p)
{
    if (!p)
        return;
    free(p->text);
    ami_response_free(p->resp);
    free(p);
}

static void pending_msg_free(mq_msg_t *m)
{
    pending_free((ami_pending_t *)m);
}

static void set_state(ami_srv_t *s, ami_state_e st)
{
    atomic_store(&s->state, (int)st);
}

static void publish_status(ami_srv_t *s, ami_state_e st, bool restarted, const char *detail)
{
    ami_t *c = s->c;
    for (int i = 0; i < c->nsub; i++) {
        if (!(c->sub[i].flags & AMI_SUB_STATUS))
            continue;
        ami_status_t *m = calloc(1, sizeof(*m));
        if (!m)
            return;
        m->msg.type = MSG_AMI_STATUS;
        m->msg.free = (void (*)(mq_msg_t *))free;
        m->server = s->idx;
        m->state = st;
        m->restarted = restarted;
        snprintf(m->detail, sizeof(m->detail), "%s", detail ? detail : "");
        if (mq_push(c->sub[i].q, &m->msg) != 0) {
            atomic_fetch_add(&s->st_events_lost, 1);
            free(m);
        }
    }
}

/* Hands an outcome to whoever asked; p is freed. */
static void pending_finish(ami_srv_t *s, ami_pending_t *p, int status)
{
    if (p->in_table) {
        hmap_del(s->inflight, p->action_id);
        plist_del(&s->flying, p);
        p->in_table = false;
    }
    ami_response_t *r = p->resp;
    p->resp = NULL;
    if (!r)
        r = ami__response_new(s->idx, p->action_id, p->user);
    if (!r) {
        LOG_ERR_RL(MOD, "%s: out of memory delivering %s %s", s->cf->name, p->name, p->action_id);
        pending_free(p);
        return;
    }
    r->status = status;
    if (status == CCD_OK && r->resp) {
        const char *rv = ami_rec_get(r->resp, "Response");
        r->ok = strcasecmp(rv, "Success") == 0 || strcasecmp(rv, "Follows") == 0 ||
                strcasecmp(rv, "Goodbye") == 0;
    }
    r->rtt_us = p->sent_us ? clk_mono_us() - p->sent_us : 0;
    /* A stuck Asterisk can time out thousands of actions at once: log the
     * first few and then every 1000th, the counters have the rest. */
    if (status == CCD_ETIMEDOUT) {
        uint64_t n = atomic_fetch_add(&s->st_timeouts, 1) + 1;
        if (n <= 10 || n % 1000 == 0)
            LOG_WARN_RL(MOD, "%s: no response to %s %s in time (%llu so far)", s->cf->name, p->name,
                     p->action_id, (unsigned long long)n);
    }
    if (p->internal) {
        p->internal(s, r);
    } else if (p->cb) {
        p->cb(r, p->cb_ctx);
    } else if (mq_push_force(p->reply_mq, &r->msg) != 0) {
        /* Forced: a requester is promised exactly one outcome per accepted
         * action, and their number is bounded by the actions in flight.  Only
         * a closed queue (its owner is gone) refuses it. */
        uint64_t n = ++s->refused_logged;
        if (n <= 10 || n % 1000 == 0)
            LOG_WARN_RL(MOD, "%s: requester queue closed; outcome of %s %s dropped (%llu so far)",
                     s->cf->name, p->name, p->action_id, (unsigned long long)n);
        ami_response_free(r);
    }
    pending_free(p);
}

/* --------------------------------------------------------------- output */

/* Puts an action on the wire (output buffer) and into the in-flight table. */
static void pending_transmit(ami_srv_t *s, ami_pending_t *p)
{
    int64_t now = clk_mono_us();
    if (now >= p->deadline_us) {
        pending_finish(s, p, CCD_ETIMEDOUT);
        return;
    }
    if (hmap_get(s->inflight, p->action_id)) {
        LOG_WARN_RL(MOD, "%s: ActionID %s already in flight; refused", s->cf->name, p->action_id);
        pending_finish(s, p, CCD_EEXIST);
        return;
    }
    int rc = buf_append(&s->out, p->text, p->len);
    if (rc != 0) {
        pending_finish(s, p, CCD_EFULL);
        return;
    }
    if (hmap_put(s->inflight, p->action_id, p, NULL) != 0) {
        /* the bytes are out already; the response will be "unknown" */
        pending_finish(s, p, CCD_ENOMEM);
        return;
    }
    free(p->text);
    p->text = NULL;
    p->sent_us = now;
    p->in_table = true;
    plist_add(&s->flying, p);
}

static void srv_flush(ami_srv_t *s)
{
    while (s->out.len) {
        ssize_t n = send(s->fd, buf_data(&s->out), s->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&s->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        char why[96];
        snprintf(why, sizeof(why), "write failed: %s", strerror(errno));
        srv_disconnect(s, why);
        return;
    }
}

/* An action from the inbox, in whatever state the connection is. */
static void srv_take_action(ami_srv_t *s, ami_pending_t *p)
{
    ami_state_e st = (ami_state_e)atomic_load(&s->state);
    if (st == AMI_STATE_DOWN || s->fd < 0) {
        pending_finish(s, p, CCD_ECLOSED);
    } else if (!s->logged_in) {
        plist_add(&s->held, p); /* sent after the login, or failed with it */
    } else {
        pending_transmit(s, p);
    }
}

/* ---------------------------------------------------------- connection */

static void fail_all(ami_srv_t *s, int status)
{
    while (s->flying.head)
        pending_finish(s, s->flying.head, status);
    while (s->held.head) {
        ami_pending_t *p = s->held.head;
        plist_del(&s->held, p);
        pending_finish(s, p, status);
    }
}

static void resync_clear(ami_srv_t *s)
{
    ami_response_free(s->rs_channels);
    ami_response_free(s->rs_agents);
    ami_response_free(s->rs_queues);
    s->rs_channels = s->rs_agents = s->rs_queues = NULL;
    s->rs_waiting = 0;
}

/* Closes the connection (if any), ends everything in flight with
 * CCD_ECLOSED and schedules the next attempt. */
static void srv_disconnect(ami_srv_t *s, const char *why)
{
    bool was_in = s->logged_in;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
        atomic_fetch_add(&s->st_disconnects, 1);
    }
    s->connecting = s->got_banner = s->logged_in = false;
    buf_reset(&s->in);
    buf_reset(&s->out);
    ami_parser_reset(s->parser);
    set_state(s, AMI_STATE_DOWN);
    /* first: a resync must not complete from the failures below */
    resync_clear(s);
    fail_all(s, CCD_ECLOSED);
    s->reconnect_at_us = clk_mono_us() + (int64_t)s->backoff_ms * 1000;
    /* Log the transition, not every failed retry. */
    if (was_in || strcmp(why, s->down_reason) != 0)
        LOG_WARN(MOD, "%s: disconnected (%s); retrying in %d ms", s->cf->name, why, s->backoff_ms);
    snprintf(s->down_reason, sizeof(s->down_reason), "%s", why);
    s->backoff_ms *= 2;
    if (s->backoff_ms > s->rmax_ms)
        s->backoff_ms = s->rmax_ms;
    publish_status(s, AMI_STATE_DOWN, false, why);
}

static void srv_connect(ami_srv_t *s)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", (unsigned)s->cf->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int grc = getaddrinfo(s->cf->host, port, &hints, &res);
    s->reconnect_at_us = 0;
    if (grc != 0 || !res) {
        char why[128];
        snprintf(why, sizeof(why), "cannot resolve %.64s: %s", s->cf->host, gai_strerror(grc));
        srv_disconnect(s, why);
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        char why[96];
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        srv_disconnect(s, why);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    int cerr = errno; /* the calls below may change errno */
    freeaddrinfo(res);
    s->fd = fd;
    set_state(s, AMI_STATE_CONNECTING);
    s->connecting = true;
    s->connect_deadline_us = clk_mono_us() + CONNECT_TIMEOUT_MS * 1000LL;
    s->last_rx_us = clk_mono_us();
    if (rc != 0 && cerr != EINPROGRESS) {
        char why[128];
        snprintf(why, sizeof(why), "connect %.64s:%u: %s", s->cf->host, (unsigned)s->cf->port,
                 strerror(cerr));
        srv_disconnect(s, why);
    }
}

static void srv_connected(ami_srv_t *s)
{
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        char why[128];
        snprintf(why, sizeof(why), "connect %.64s:%u: %s", s->cf->host, (unsigned)s->cf->port,
                 strerror(err));
        srv_disconnect(s, why);
        return;
    }
    s->connecting = false;
    s->connect_deadline_us = clk_mono_us() + CONNECT_TIMEOUT_MS * 1000LL; /* banner + login */
    atomic_fetch_add(&s->st_connects, 1);
}

/* ------------------------------------------------------- login, resync */

static void resync_maybe_done(ami_srv_t *s)
{
    if (s->rs_waiting > 0)
        return;
    ami_t *c = s->c;
    bool restarted = s->rs_restarted;
    if (c->reg) {
        ami_resync_t *rs = ami_resync_build(s->idx, restarted, s->rs_since_ms, s->rs_channels,
                                            s->rs_agents, s->rs_queues);
        if (!rs || reg_post(c->reg, ami_reg_apply_resync, rs, ami_reg_resync_free) != 0) {
            /* the registry is gone or swamped; a later resync will catch up */
            LOG_WARN(MOD, "%s: could not hand the resync to the registry", s->cf->name);
            ami_resync_free(rs);
        }
    }
    resync_clear(s);
    if ((ami_state_e)atomic_load(&s->state) != AMI_STATE_UP) {
        set_state(s, AMI_STATE_UP);
        LOG_INFO(MOD, "%s: up%s", s->cf->name, restarted ? " (Asterisk restarted)" : "");
        publish_status(s, AMI_STATE_UP, restarted, restarted ? "asterisk restarted" : "");
    }
    s->rs_restarted = false;
}

static void on_list(ami_srv_t *s, ami_response_t *r, ami_response_t **slot, const char *what)
{
    if (r->status != CCD_OK || !r->ok) {
        LOG_WARN(MOD, "%s: resync %s failed (%s)", s->cf->name, what,
                 r->status == CCD_OK ? ami_rec_get(r->resp, "Message") : ccd_strerror(r->status));
        ami_response_free(r);
        r = NULL;
    }
    if (s->rs_waiting <= 0) { /* a resync that was abandoned by a disconnect */
        ami_response_free(r);
        return;
    }
    ami_response_free(*slot);
    *slot = r;
    s->rs_waiting--;
    resync_maybe_done(s);
}

static void on_channels(ami_srv_t *s, ami_response_t *r)
{
    on_list(s, r, &s->rs_channels, "CoreShowChannels");
}
static void on_agents(ami_srv_t *s, ami_response_t *r)
{
    on_list(s, r, &s->rs_agents, "Agents");
}
static void on_queues(ami_srv_t *s, ami_response_t *r)
{
    on_list(s, r, &s->rs_queues, "QueueStatus");
}

static void on_corestatus(ami_srv_t *s, ami_response_t *r)
{
    if (r->status == CCD_OK && r->ok) {
        char st[64];
        snprintf(st, sizeof(st), "%s %s", ami_rec_get(r->resp, "CoreStartupDate"),
                 ami_rec_get(r->resp, "CoreStartupTime"));
        if (s->have_startup && strcmp(st, s->startup) != 0) {
            s->rs_restarted = true;
            atomic_fetch_add(&s->st_restarts, 1);
            LOG_NOTICE(MOD, "%s: Asterisk restarted (started %s, was %s)", s->cf->name, st,
                       s->startup);
        }
        snprintf(s->startup, sizeof(s->startup), "%s", st);
        s->have_startup = true;
    } else {
        LOG_WARN(MOD, "%s: CoreStatus failed", s->cf->name);
    }
    ami_response_free(r);
    if (s->rs_waiting > 0) {
        s->rs_waiting--;
        resync_maybe_done(s);
    }
}

static void start_resync(ami_srv_t *s)
{
    resync_clear(s);
    s->rs_since_ms = clk_wall_ms();
    s->rs_waiting = 4;
    srv_send_internal(s, "CoreStatus", NULL, false, on_corestatus);
    srv_send_internal(s, "CoreShowChannels", NULL, true, on_channels);
    srv_send_internal(s, "Agents", NULL, true, on_agents);
    srv_send_internal(s, "QueueStatus", NULL, true, on_queues);
}

static void on_filter(ami_srv_t *s, ami_response_t *r)
{
    if (r->status != CCD_OK || !r->ok)
        LOG_WARN(MOD, "%s: Asterisk refused the event filter (%s); filtering locally",
                 s->cf->name, r->resp ? ami_rec_get(r->resp, "Message") : ccd_strerror(r->status));
    ami_response_free(r);
}

static void send_filter(ami_srv_t *s)
{
    /* One whitelist regex (POSIX ERE, matched against the event text):
     * Asterisk then sends only these events (list-action items are not
     * filtered).  Matching "Event: Hangup" also lets HangupRequest through,
     * which is dropped here by name. */
    ami_action_t *a = ami_action_new("Filter");
    if (!a)
        return;
    char re[1024];
    size_t o = (size_t)snprintf(re, sizeof(re), "Event: (");
    /* VarSet is a flood (every Set() of the dialplan): when the names we keep are plain
     * words, Asterisk is asked for the VarSets of those variables only (the filter sees the
     * whole event text), otherwise for every VarSet, dropped by name on arrival. */
    bool plain = true;
    for (size_t i = 0; s->c->vars[i]; i++)
        for (const char *p = s->c->vars[i]; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '_'))
                plain = false;
    for (int t = AMI_EV_NONE + 1; t < AMI_EV_COUNT; t++) {
        if (t == AMI_EV_VARSET && (!s->c->vars[0] || plain))
            continue;
        o += (size_t)snprintf(re + o, sizeof(re) - o, "%s%s", o > 8 ? "|" : "",
                              ami_ev_name((ami_ev_type_e)t));
    }
    /* Shutdown tells us a restart is coming; keep it */
    o += (size_t)snprintf(re + o, sizeof(re) - o, "|Shutdown)");
    if (s->c->vars[0] && plain) {
        o += (size_t)snprintf(re + o, sizeof(re) - o, "|Variable: (");
        for (size_t i = 0; s->c->vars[i] && o < sizeof(re); i++)
            o += (size_t)snprintf(re + o, sizeof(re) - o, "%s%s", i ? "|" : "", s->c->vars[i]);
        if (o < sizeof(re))
            snprintf(re + o, sizeof(re) - o, ")");
    }
    ami_action_add(a, "Operation", "Add");
    ami_action_add(a, "Filter", re);
    srv_send_internal(s, "Filter", a, false, on_filter);
}

/*
 * A connection that lands in a restart's shutdown window gets the banner and
 * then "Response: Error / Message: Asterisk is shutting down" to Login, Ping
 * and everything else until the socket closes, ~1.2 s after the restart
 * command (restart_members_and_pauses.txt).  The credentials were not judged:
 * this is not a failed login.  Disconnect and retry from the shortest back-off.
 * Returns true (r consumed) when r is that answer.
 */
static bool refused_by_shutdown(ami_srv_t *s, ami_response_t *r)
{
    if (r->status != CCD_OK || r->ok ||
        strcasecmp(ami_rec_get(r->resp, "Message"), "Asterisk is shutting down") != 0)
        return false;
    ami_response_free(r);
    atomic_fetch_add(&s->st_shutdown_refusals, 1);
    s->backoff_ms = s->rmin_ms;
    srv_disconnect(s, "Asterisk is shutting down; retrying");
    return true;
}

static void on_login(ami_srv_t *s, ami_response_t *r)
{
    if (r->status == CCD_ECLOSED) {
        /* Ended by srv_disconnect itself: the connection is already being torn
         * down, and disconnecting again would double the back-off and the news. */
        ami_response_free(r);
        return;
    }
    if (refused_by_shutdown(s, r))
        return;
    if (r->status != CCD_OK || !r->ok) {
        char why[160];
        snprintf(why, sizeof(why), "login failed: %s",
                 r->status == CCD_OK ? ami_rec_get(r->resp, "Message") : ccd_strerror(r->status));
        ami_response_free(r);
        srv_disconnect(s, why);
        return;
    }
    ami_response_free(r);
    s->logged_in = true;
    s->backoff_ms = s->rmin_ms;
    s->down_reason[0] = 0;
    s->next_ping_us = clk_mono_us() + s->ping_us;
    LOG_INFO(MOD, "%s: logged in to %s:%u", s->cf->name, s->cf->host, (unsigned)s->cf->port);
    if (!s->c->opts.no_filter)
        send_filter(s);
    /* actions that waited for the login go out now, in order */
    while (s->held.head) {
        ami_pending_t *p = s->held.head;
        plist_del(&s->held, p);
        pending_transmit(s, p);
    }
    if (s->c->opts.no_resync) {
        set_state(s, AMI_STATE_UP);
        publish_status(s, AMI_STATE_UP, false, "");
        return;
    }
    set_state(s, AMI_STATE_SYNCING);
    publish_status(s, AMI_STATE_SYNCING, false, "");
    start_resync(s);
}

static void send_login(ami_srv_t *s, const char *challenge)
{
    ami_action_t *a = ami_action_new("Login");
    if (!a)
        return;
    ami_action_add(a, "Username", s->cf->username);
    if (challenge) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char in[2 * CONF_STR_LEN + 8], hex[2 * EVP_MAX_MD_SIZE + 1];
        int n = snprintf(in, sizeof(in), "%s%s", challenge, s->cf->secret);
        EVP_Digest(in, (size_t)n, md, &mdlen, EVP_md5(), NULL);
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        hex[2 * mdlen] = 0;
        ami_action_add(a, "AuthType", "MD5");
        ami_action_add(a, "Key", hex);
        memset(in, 0, sizeof(in));
    } else {
        ami_action_add(a, "Secret", s->cf->secret);
    }
    ami_action_add(a, "Events", "on");
    srv_send_internal(s, "Login", a, false, on_login);
}

static void on_challenge(ami_srv_t *s, ami_response_t *r)
{
    if (r->status == CCD_ECLOSED) { /* see on_login */
        ami_response_free(r);
        return;
    }
    if (refused_by_shutdown(s, r))
        return;
    if (r->status != CCD_OK || !r->ok || !*ami_rec_get(r->resp, "Challenge")) {
        ami_response_free(r);
        srv_disconnect(s, "login failed: MD5 challenge refused");
        return;
    }
    char ch[128];
    snprintf(ch, sizeof(ch), "%s", ami_rec_get(r->resp, "Challenge"));
    ami_response_free(r);
    send_login(s, ch);
}

static void on_ping(ami_srv_t *s, ami_response_t *r)
{
    int st = r->status;
    ami_response_free(r);
    if (st == CCD_ETIMEDOUT)
        srv_disconnect(s, "keepalive Ping unanswered");
}

/*
 * The I/O thread's own actions skip the inbox.  During the login they must
 * go out before any held user action, so they are transmitted directly.
 */
static void srv_send_internal(ami_srv_t *s, const char *name, ami_action_t *a, bool list,
                              ami_internal_fn fn)
{
    if (!a)
        a = ami_action_new(name);
    ami_pending_t *p = calloc(1, sizeof(*p));
    if (!a || !p) {
        ami_action_free(a);
        free(p);
        LOG_ERR_RL(MOD, "%s: out of memory sending %s", s->cf->name, name);
        return;
    }
    snprintf(p->action_id, sizeof(p->action_id), "ccd%d-i%llu", s->idx,
             (unsigned long long)atomic_fetch_add(&s->c->seq, 1));
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (buf_printf(&a->text, "ActionID: %s\r\n\r\n", p->action_id) != 0) {
        ami_action_free(a);
        free(p);
        LOG_ERR_RL(MOD, "%s: cannot build %s", s->cf->name, name);
        return;
    }
    p->text = buf_data(&a->text);
    p->len = a->text.len;
    a->text.data = NULL; /* p owns the bytes now (off is 0: never consumed) */
    ami_action_free(a);
    p->list = list;
    p->internal = fn;
    p->deadline_us = clk_mono_us() + (int64_t)s->tmo_ms * 1000;
    pending_transmit(s, p);
}

/* ------------------------------------------------------------ incoming */

static void reg_feed(ami_srv_t *s, ami_event_t *ev)
{
    reg_t *reg = s->c->reg;
    if (s->novf == 0 && ami_reg_post_event(reg, ev) == 0) {
        atomic_fetch_add(&s->st_events_delivered, 1);
        return;
    }
    if (s->novf >= AMI_REG_OVERFLOW_MAX) {
        if (!s->reg_lost)
            LOG_ERR(MOD, "%s: registry inbox full for too long; events lost, resync follows",
                    s->cf->name);
        s->reg_lost = true;
        atomic_fetch_add(&s->st_events_lost, 1);
        ami_event_free(ev);
        return;
    }
    ev->msg.next = NULL;
    if (s->ovf_tail)
        s->ovf_tail->msg.next = &ev->msg;
    else
        s->ovf_head = ev;
    s->ovf_tail = ev;
    s->novf++;
}

/* Retries the events the registry refused; true when none are left. */
static bool reg_overflow_retry(ami_srv_t *s)
{
    while (s->ovf_head) {
        ami_event_t *ev = s->ovf_head;
        ami_event_t *next = (ami_event_t *)ev->msg.next;
        ev->msg.next = NULL;
        if (ami_reg_post_event(s->c->reg, ev) != 0) {
            ev->msg.next = next ? &next->msg : NULL;
            return false;
        }
        atomic_fetch_add(&s->st_events_delivered, 1);
        s->ovf_head = next;
        if (!next)
            s->ovf_tail = NULL;
        s->novf--;
    }
    if (s->reg_lost && s->logged_in && s->rs_waiting == 0) {
        s->reg_lost = false;
        start_resync(s);
    }
    return true;
}

static void dispatch_event(ami_srv_t *s, const ami_msg_t *m)
{
    ami_t *c = s->c;
    ami_event_t *ev = ami_event_from_msg(m, s->idx, (const char *const *)c->vars);
    if (!ev)
        return;
    atomic_fetch_add(&s->st_events_typed, 1);
    uint64_t bit = AMI_EVM(ev->type);
    for (int i = 0; i < c->nsub; i++) {
        if (!(c->sub[i].mask & bit))
            continue;
        ami_event_t *cp = ami_event_dup(ev);
        if (cp && mq_push(c->sub[i].q, &cp->msg) == 0) {
            atomic_fetch_add(&s->st_events_delivered, 1);
            continue;
        }
        atomic_fetch_add(&s->st_events_lost, 1);
        ami_event_free(cp);
    }
    /* Of the DialEnds only an answer can matter to the registry (a callback reaching its
     * agent); the rest, one per queue member rung, are not posted to it. */
    if (c->reg && ami_reg_wants(ev->type) &&
        !(ev->type == AMI_EV_DIAL_END && strcasecmp(ev->dial_status, "ANSWER") != 0))
        reg_feed(s, ev);
    else
        ami_event_free(ev);
}

static void list_append(ami_srv_t *s, ami_pending_t *p, const ami_msg_t *m)
{
    if (!p->resp) {
        p->resp = ami__response_new(s->idx, p->action_id, p->user);
        if (!p->resp)
            return;
    }
    ami_response_t *r = p->resp;
    size_t max = s->c->opts.list_max ? s->c->opts.list_max : 200000;
    if (r->nev >= max) {
        r->status = CCD_EFULL; /* remembered; reported when the list ends */
        return;
    }
    if (r->nev == p->cap_ev) {
        size_t cap = p->cap_ev ? p->cap_ev * 2 : 16;
        ami_rec_t **v = realloc(r->ev, cap * sizeof(*v));
        if (!v)
            return;
        r->ev = v;
        p->cap_ev = cap;
    }
    ami_rec_t *rec = ami_rec_from_msg(m);
    if (rec)
        r->ev[r->nev++] = rec;
}

static bool list_done(const ami_msg_t *m, ccd_str_t evname)
{
    if (ami_str_ieq(ami_msg_get(m, "EventList"), "Complete"))
        return true;
    return evname.len > 8 && ami_str_ieq((ccd_str_t){evname.p + evname.len - 8, 8}, "Complete");
}

static void handle_msg(ami_srv_t *s, const ami_msg_t *m)
{
    atomic_fetch_add(&s->st_msgs_in, 1);
    const ami_hdr_t *evh = (m->nhdr && ami_str_ieq(m->hdr[0].key, "Event"))
                               ? &m->hdr[0]
                               : ami_msg_find(m, "Event", 5, NULL);
    ccd_str_t aid = ami_msg_get(m, "ActionID");
    ami_pending_t *p = aid.len ? hmap_getn(s->inflight, aid.p, aid.len) : NULL;

    if (evh) {
        atomic_fetch_add(&s->st_events_in, 1);
        if (p && p->list) {
            list_append(s, p, m);
            if (list_done(m, evh->val))
                pending_finish(s, p, p->resp && p->resp->status == CCD_EFULL ? CCD_EFULL : CCD_OK);
            return;
        }
        if (ami_str_ieq(evh->val, "Shutdown"))
            LOG_NOTICE(MOD, "%s: Asterisk is shutting down (Restart: %.*s)", s->cf->name,
                       (int)ami_msg_get(m, "Restart").len, ami_msg_get(m, "Restart").p);
        dispatch_event(s, m);
        return;
    }
    if (!ami_msg_find(m, "Response", 8, NULL))
        return; /* neither event nor response: nothing to route */
    atomic_fetch_add(&s->st_responses, 1);
    if (!p) {
        uint64_t n = ++s->unknown_logged;
        atomic_fetch_add(&s->st_unknown, 1);
        if (n <= 10 || n % 1000 == 0)
            LOG_WARN_RL(MOD, "%s: response for unknown or expired ActionID '%.*s' dropped (%llu so far)",
                     s->cf->name, (int)(aid.len > 64 ? 64 : aid.len), aid.p,
                     (unsigned long long)n);
        return;
    }
    ami_rec_t *rec = ami_rec_from_msg(m);
    if (!p->resp)
        p->resp = ami__response_new(s->idx, p->action_id, p->user);
    if (!p->resp || !rec) {
        free(rec);
        pending_finish(s, p, CCD_ENOMEM);
        return;
    }
    free(p->resp->resp);
    p->resp->resp = rec;
    bool success = ami_str_ieq(ami_msg_get(m, "Response"), "Success");
    if (p->list && success) {
        /* Events follow up to *Complete ("EventList: start"); an empty list
         * may be announced as complete right in the response. */
        if (!ami_str_ieq(ami_msg_get(m, "EventList"), "Complete"))
            return;
    }
    pending_finish(s, p, CCD_OK);
}

static void srv_read(ami_srv_t *s)
{
    for (int round = 0; round < 16 && s->fd >= 0; round++) {
        char *w = buf_reserve(&s->in, AMI_READ_CHUNK);
        if (!w) {
            srv_disconnect(s, "input buffer full");
            return;
        }
        ssize_t n = recv(s->fd, w, AMI_READ_CHUNK, 0);
        if (n == 0) {
            srv_disconnect(s, "connection closed by Asterisk");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            char why[96];
            snprintf(why, sizeof(why), "read failed: %s", strerror(errno));
            srv_disconnect(s, why);
            return;
        }
        buf_commit(&s->in, (size_t)n);
        atomic_fetch_add(&s->st_bytes_in, (uint64_t)n);
        s->last_rx_us = clk_mono_us();
        if (!s->got_banner) {
            ccd_str_t ver;
            size_t used;
            int rc = ami_parse_banner(buf_data(&s->in), s->in.len, &ver, &used);
            if (rc == CCD_EAGAIN)
                continue;
            if (rc != CCD_OK) {
                srv_disconnect(s, "not an AMI server (bad banner)");
                return;
            }
            LOG_DEBUG(MOD, "%s: banner version %.*s", s->cf->name, (int)ver.len, ver.p);
            buf_consume(&s->in, used);
            s->got_banner = true;
            if (s->cf->md5_login) {
                ami_action_t *a = ami_action_new("Challenge");
                if (a) {
                    ami_action_add(a, "AuthType", "MD5");
                    srv_send_internal(s, "Challenge", a, false, on_challenge);
                }
            } else {
                send_login(s, NULL);
            }
        }
        for (;;) {
            ami_msg_t m;
            int rc = ami_parse(s->parser, buf_data(&s->in), s->in.len, &m);
            if (rc == CCD_EAGAIN)
                break;
            if (rc != CCD_OK) {
                char why[160];
                size_t off = s->parser->err_off;
                size_t take = s->in.len > off ? s->in.len - off : 0;
                if (take > 48)
                    take = 48;
                char sample[49];
                for (size_t i = 0; i < take; i++) {
                    char ch = buf_data(&s->in)[off + i];
                    sample[i] = (ch >= 32 && ch < 127) ? ch : '.';
                }
                sample[take] = 0;
                snprintf(why, sizeof(why), "protocol error: %s near \"%s\"", s->parser->err,
                         sample);
                srv_disconnect(s, why);
                return;
            }
            handle_msg(s, &m);
            if (s->fd < 0)
                return; /* a handler disconnected (login failure) */
            buf_consume(&s->in, m.len);
        }
    }
}

/* ------------------------------------------------------------ the loop */

static void scan_timeouts(ami_srv_t *s, int64_t now)
{
    /* Collect first, then finish: an outcome handler may disconnect, which
     * empties the lists under our feet. */
    ami_plist_t expired = {0};
    ami_pending_t *p = s->flying.head;
    while (p) {
        ami_pending_t *next = p->next;
        if (now >= p->deadline_us) {
            hmap_del(s->inflight, p->action_id);
            plist_del(&s->flying, p);
            p->in_table = false;
            plist_add(&expired, p);
        }
        p = next;
    }
    p = s->held.head;
    while (p) {
        ami_pending_t *next = p->next;
        if (now >= p->deadline_us) {
            plist_del(&s->held, p);
            plist_add(&expired, p);
        }
        p = next;
    }
    while ((p = expired.head)) {
        plist_del(&expired, p);
        pending_finish(s, p, CCD_ETIMEDOUT);
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return (a && (!b || a < b)) ? a : b;
}

static void *srv_thread(void *arg)
{
    ami_srv_t *s = arg;
    char tn[16];
    snprintf(tn, sizeof(tn), "ami-%.11s", s->cf->name);
    log_set_thread_name(tn);
    size_t high = (s->c->opts.outbuf_max ? s->c->opts.outbuf_max : 4u << 20) / 2;
    bool quit = false;
    s->reconnect_at_us = clk_mono_us(); /* connect at once */
    while (!quit) {
        /* MSG_QUIT may sit behind a full output buffer (the inbox is not
         * read then): the flag ends the loop within one poll timeout */
        if (atomic_load(&s->c->stopping))
            break;
        int64_t now = clk_mono_us();
        if (s->fd < 0 && s->reconnect_at_us && now >= s->reconnect_at_us)
            srv_connect(s);
        now = clk_mono_us();

        /* timers */
        if (now >= s->next_timeout_scan_us) {
            scan_timeouts(s, now);
            s->next_timeout_scan_us = now + TIMEOUT_SCAN_US;
        }
        if (s->fd >= 0 && !s->logged_in && now >= s->connect_deadline_us)
            srv_disconnect(s, s->connecting ? "connect timed out" : "no banner/login in time");
        if (s->logged_in && s->ping_us > 0 && now >= s->next_ping_us) {
            int64_t iv = s->ping_us;
            if (now - s->last_rx_us > 3 * iv) {
                srv_disconnect(s, "nothing received for 3 keepalive intervals");
            } else {
                srv_send_internal(s, "Ping", NULL, false, on_ping);
                s->next_ping_us = now + iv;
            }
        }
        bool ovf_clear = !s->c->reg || reg_overflow_retry(s);

        /* poll */
        struct pollfd pf[2];
        int npf = 0;
        bool want_inbox = s->out.len < high;
        if (want_inbox)
            pf[npf++] = (struct pollfd){.fd = mq_wake_fd(s->inbox), .events = POLLIN};
        int sock_i = -1;
        if (s->fd >= 0) {
            short evs = POLLIN;
            if (s->connecting || s->out.len)
                evs = s->connecting ? POLLOUT : (short)(POLLIN | POLLOUT);
            sock_i = npf;
            pf[npf++] = (struct pollfd){.fd = s->fd, .events = evs};
        }
        int64_t wake = now + TIMEOUT_SCAN_US;
        if (s->fd < 0)
            wake = min64(wake, s->reconnect_at_us);
        else if (s->logged_in && s->ping_us > 0)
            wake = min64(wake, s->next_ping_us);
        if (!ovf_clear)
            wake = min64(wake, now + 2000);
        int tmo = (int)((wake - now + 999) / 1000);
        if (tmo < 0)
            tmo = 0;
        int prc = poll(pf, (nfds_t)npf, tmo);
        if (prc < 0 && errno != EINTR) {
            LOG_ERR(MOD, "%s: poll: %s", s->cf->name, strerror(errno));
            usleep(10000);
            continue;
        }

        if (sock_i >= 0 && s->fd >= 0 && pf[sock_i].revents) {
            short re = pf[sock_i].revents;
            if (s->connecting) {
                if (re & (POLLOUT | POLLERR | POLLHUP))
                    srv_connected(s);
            } else {
                if (re & (POLLIN | POLLERR | POLLHUP))
                    srv_read(s);
                if (s->fd >= 0 && (re & POLLOUT))
                    srv_flush(s);
            }
        }
        /* inbox: take what fits in the output buffer */
        while (s->out.len < high) {
            mq_msg_t *m = mq_pop(s->inbox, 0);
            if (!m)
                break;
            if (m->type == MSG_QUIT) {
                m->free(m);
                quit = true;
                break;
            }
            srv_take_action(s, (ami_pending_t *)m);
        }
        if (s->fd >= 0 && !s->connecting && s->out.len)
            srv_flush(s);
        struct timespec cpu;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
            atomic_store(&s->st_cpu_us, (uint64_t)cpu.tv_sec * 1000000u + (uint64_t)cpu.tv_nsec / 1000u);
        atomic_store(&s->st_pending, (uint64_t)(s->flying.n + s->held.n));
        atomic_store(&s->st_beat_ms, clk_mono_ms());
    }

    /* stopping: everything still waiting ends as closed */
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    set_state(s, AMI_STATE_DOWN);
    s->logged_in = false;
    fail_all(s, CCD_ECLOSED);
    resync_clear(s);
    mq_close(s->inbox);
    mq_msg_t *m;
    while ((m = mq_pop(s->inbox, 0))) {
        if (m->type == MSG_AMI_SEND)
            pending_finish(s, (ami_pending_t *)m, CCD_ECLOSED);
        else
            m->free(m);
    }
    while (s->ovf_head) {
        ami_event_t *ev = s->ovf_head;
        s->ovf_head = (ami_event_t *)ev->msg.next;
        ami_event_free(ev);
    }
    s->ovf_tail = NULL;
    s->novf = 0;
    return NULL;
}

/* ------------------------------------------------------------ public */

ami_t *ami_new(const conf_t *conf, const ami_opts_t *opts, char *err, size_t errlen)
{
    ami_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "AMI: out of memory");
        return NULL;
    }
    c->conf = conf;
    if (opts)
        c->opts = *opts;
    c->opts.varset_names = NULL; /* copied below; the caller's array may go */
    size_t nv = 0;
    if (opts && opts->varset_names)
        while (opts->varset_names[nv])
            nv++;
    c->vars = calloc(nv + 1, sizeof(char *));
    if (!c->vars)
        goto fail;
    for (size_t i = 0; i < nv; i++)
        if (!(c->vars[i] = strdup(opts->varset_names[i])))
            goto fail;
    c->n = conf->nami;
    for (int i = 0; i < c->n; i++) {
        ami_srv_t *s = &c->srv[i];
        s->c = c;
        s->idx = i;
        s->cf = &conf->ami[i];
        s->fd = -1;
        /* conf/ validated the ranges (and reconnect_min_ms <= reconnect_max_ms);
         * ping_interval 0 means no keepalive. */
        s->ping_us = (int64_t)s->cf->ping_interval_s * 1000000;
        s->tmo_ms = s->cf->action_timeout_ms;
        s->rmin_ms = s->cf->reconnect_min_ms;
        s->rmax_ms = s->cf->reconnect_max_ms;
        s->backoff_ms = s->rmin_ms;
        char name[80];
        snprintf(name, sizeof(name), "ami-%s", s->cf->name);
        s->inbox = mq_new(name, c->opts.inbox_max ? c->opts.inbox_max : 10000, MQ_WAKEFD);
        s->parser = malloc(sizeof(*s->parser));
        s->inflight = hmap_new(256);
        if (!s->inbox || !s->parser || !s->inflight)
            goto fail;
        size_t line = c->opts.line_max ? c->opts.line_max : AMI_LINE_MAX;
        ami_parser_init(s->parser, line, AMI_HDR_MAX, AMI_MSG_MAX);
        buf_init(&s->in, AMI_MSG_MAX + 2 * AMI_READ_CHUNK);
        buf_init(&s->out, c->opts.outbuf_max ? c->opts.outbuf_max : 4u << 20);
    }
    return c;
fail:
    snprintf(err, errlen, "AMI: out of memory");
    ami_free(c);
    return NULL;
}

int ami_subscribe(ami_t *c, mq_t *q, uint64_t ev_mask, int flags)
{
    if (atomic_load(&c->started))
        return CCD_EBUSY;
    if (c->nsub >= AMI_MAX_SUBS)
        return CCD_EFULL;
    c->sub[c->nsub++] = (ami_sub_t){.q = q, .mask = ev_mask, .flags = flags};
    return 0;
}

int ami_attach_reg(ami_t *c, reg_t *r)
{
    if (atomic_load(&c->started))
        return CCD_EBUSY;
    /* the registry records recordings from VarSet of this one variable: keep it */
    size_t nv = 0;
    for (; c->vars[nv]; nv++)
        if (strcasecmp(c->vars[nv], AMI_REG_RECORDING_VAR) == 0)
            break;
    if (!c->vars[nv]) {
        char **v = realloc(c->vars, (nv + 2) * sizeof(*v));
        if (!v)
            return CCD_ENOMEM;
        c->vars = v;
        if (!(v[nv] = strdup(AMI_REG_RECORDING_VAR)))
            return CCD_ENOMEM;
        v[nv + 1] = NULL;
    }
    c->reg = r;
    return 0;
}

int ami_start(ami_t *c)
{
    if (atomic_exchange(&c->started, true))
        return CCD_EBUSY;
    for (int i = 0; i < c->n; i++) {
        ami_srv_t *s = &c->srv[i];
        int rc = pthread_create(&s->th, NULL, srv_thread, s);
        if (rc != 0) {
            LOG_ERR(MOD, "cannot start the thread for %s: %s", s->cf->name, strerror(rc));
            ami_stop(c);
            return -rc;
        }
        s->started = true;
    }
    return 0;
}

void ami_stop(ami_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    for (int i = 0; i < c->n; i++) {
        ami_srv_t *s = &c->srv[i];
        if (!s->started)
            continue;
        mq_msg_t *q = mq_msg_quit_new();
        if (q && mq_push_force(s->inbox, q) != 0)
            q->free(q);
        pthread_join(s->th, NULL);
        s->started = false;
    }
}

void ami_free(ami_t *c)
{
    if (!c)
        return;
    ami_stop(c);
    for (int i = 0; i < c->n; i++) {
        ami_srv_t *s = &c->srv[i];
        mq_free(s->inbox);
        free(s->parser);
        hmap_free(s->inflight);
        buf_free(&s->in);
        buf_free(&s->out);
    }
    if (c->vars)
        for (size_t i = 0; c->vars[i]; i++)
            free(c->vars[i]);
    free(c->vars);
    free(c);
}

int ami_nservers(const ami_t *c)
{
    return c->n;
}

ami_state_e ami_server_state(ami_t *c, int server)
{
    if (server < 0 || server >= c->n)
        return AMI_STATE_DOWN;
    return (ami_state_e)atomic_load(&c->srv[server].state);
}

int ami_send(ami_t *c, int server, ami_action_t *a, const ami_send_opts_t *o, char *id_out)
{
    int rc = CCD_EINVAL;
    ami_pending_t *p = NULL;
    if (!a || !o || (!o->reply_mq && !o->cb) || server < 0 || server >= c->n)
        goto out;
    rc = CCD_ECLOSED;
    ami_srv_t *s = &c->srv[server];
    if (atomic_load(&c->stopping) || !atomic_load(&c->started) ||
        atomic_load(&s->state) == AMI_STATE_DOWN)
        goto out;
    rc = CCD_ENOMEM;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto out;
    p->msg.type = MSG_AMI_SEND;
    p->msg.free = pending_msg_free;
    if (o->action_id) {
        rc = CCD_EINVAL;
        if (!*o->action_id || strlen(o->action_id) >= AMI_ACTIONID_LEN ||
            strpbrk(o->action_id, "\r\n"))
            goto out;
        snprintf(p->action_id, sizeof(p->action_id), "%s", o->action_id);
    } else {
        snprintf(p->action_id, sizeof(p->action_id), "ccd%d-%llu", server,
                 (unsigned long long)atomic_fetch_add(&c->seq, 1));
    }
    snprintf(p->name, sizeof(p->name), "%s", a->name);
    rc = buf_printf(&a->text, "ActionID: %s\r\n\r\n", p->action_id);
    if (rc != 0)
        goto out;
    p->text = a->text.data; /* off is 0: the builder never consumes */
    p->len = a->text.len;
    a->text.data = NULL;
    p->reply_mq = o->reply_mq;
    p->cb = o->cb;
    p->cb_ctx = o->cb_ctx;
    p->user = o->user;
    p->list = o->list;
    int tmo = o->timeout_ms > 0 ? o->timeout_ms : s->tmo_ms;
    p->deadline_us = clk_mono_us() + (int64_t)tmo * 1000;
    if (id_out)
        snprintf(id_out, AMI_ACTIONID_LEN, "%s", p->action_id);
    rc = mq_push(s->inbox, &p->msg);
    if (rc == 0)
        p = NULL;
out:
    pending_free(p);
    ami_action_free(a);
    return rc;
}

void ami_get_stats(ami_t *c, int server, ami_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (server < 0 || server >= c->n)
        return;
    ami_srv_t *s = &c->srv[server];
    out->bytes_in = atomic_load(&s->st_bytes_in);
    out->msgs_in = atomic_load(&s->st_msgs_in);
    out->events_in = atomic_load(&s->st_events_in);
    out->events_typed = atomic_load(&s->st_events_typed);
    out->events_delivered = atomic_load(&s->st_events_delivered);
    out->events_lost = atomic_load(&s->st_events_lost);
    out->responses = atomic_load(&s->st_responses);
    out->unknown_responses = atomic_load(&s->st_unknown);
    out->timeouts = atomic_load(&s->st_timeouts);
    out->connects = atomic_load(&s->st_connects);
    out->disconnects = atomic_load(&s->st_disconnects);
    out->restarts = atomic_load(&s->st_restarts);
    out->shutdown_refusals = atomic_load(&s->st_shutdown_refusals);
    out->io_cpu_us = atomic_load(&s->st_cpu_us);
    out->pending = atomic_load(&s->st_pending);
    out->heartbeat_ms = atomic_load(&s->st_beat_ms);
}
