/*
 * The agent service: lifecycle, the service thread's loop, requests in and
 * answers out, and the plumbing every operation shares (AMI sends, registry
 * posts, timers).  The operations themselves are in ags_login.c,
 * ags_pause.c and ags_call.c; what they change in the registry in ags_reg.c.
 *
 * The service thread owns everything in struct ags below "service thread"
 * (ags_int.h): operations in flight, per-agent timers and holds.  It never
 * waits: AMI answers, AMI events, registry changes and database jobs all
 * come back to its inbox.
 */
#include "agent/ags_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

typedef struct req_msg {
    mq_msg_t msg;
    ags_req_t req;
} req_msg_t;

static const char *const op_names[] = {
    [AGS_LOGIN] = "login",       [AGS_LOGOUT] = "logout",     [AGS_PING] = "ping",
    [AGS_PAUSE] = "pause",       [AGS_UNPAUSE] = "unpause",   [AGS_HOLD] = "hold",
    [AGS_UNHOLD] = "unhold",     [AGS_HANGUP] = "hangup",     [AGS_TRANSFER] = "transfer",
    [AGS_ATXFER] = "atxfer",     [AGS_TRANSFER_AGENT] = "transfer to agent",
    [AGS_MUTE] = "mute",         [AGS_UNMUTE] = "unmute",     [AGS_CHANVARS] = "chanvars",
};

const char *ags_op_name(ags_op_e op)
{
    if (op < AGS_LOGIN || op > AGS_CHANVARS)
        return "?";
    return op_names[op];
}

/* ---------------- shared helpers ---------------- */

bool ags__is_pool(const char *number)
{
    return strncasecmp(number, "Agent/", 6) == 0;
}

void ags__member_iface(const ags_t *s, const char *number, char *out, size_t outsz)
{
    if (ags__is_pool(number))
        snprintf(out, outsz, "Local/%s@%s", number + 6, s->cf->agents.agents_context);
    else
        snprintf(out, outsz, "%s", number);
}

void ags__reach_chan(const ags_t *s, const char *number, char *out, size_t outsz)
{
    ags__member_iface(s, number, out, outsz);
}

void ags__uid(ags_t *s, const char *kind, char *out, size_t outsz)
{
    snprintf(out, outsz, "ccd-%s-%llu-%lld", kind, (unsigned long long)++s->seq,
             (long long)clk_mono_ms());
}

ags_agent_t *ags__agent(ags_t *s, const char *number)
{
    ags_agent_t *ag = hmap_get(s->agents, number);
    if (ag)
        return ag;
    ag = calloc(1, sizeof(*ag));
    if (!ag)
        return NULL;
    snprintf(ag->number, sizeof(ag->number), "%s", number);
    ag->park_space = -1;
    if (hmap_put(s->agents, ag->number, ag, NULL) != 0) {
        free(ag);
        return NULL;
    }
    return ag;
}

static void done_free(mq_msg_t *m)
{
    ags_done_t *d = (ags_done_t *)m;
    free(d->vars);
    free(d);
}

static ags_done_t *done_new(const ags_op_t *op, int code, const char *why)
{
    ags_done_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->msg.type = MSG_AGS_DONE;
    d->msg.free = done_free;
    d->op = op->req.op;
    d->user = op->req.user;
    d->code = code;
    d->unreachable = code == 500 && op->unsent;
    snprintf(d->why, sizeof(d->why), "%s", why ? why : "");
    snprintf(d->agent, sizeof(d->agent), "%s", op->req.agent);
    d->login = op->a.login;
    d->has_call = op->has_call;
    if (op->has_call)
        d->call = op->call;
    return d;
}

static void deliver(ags_t *s, ags_op_t *op, ags_done_t *d)
{
    op->answered = true;
    if (!op->req.reply_mq) {
        if (d)
            d->msg.free(&d->msg);
        return;
    }
    if (!d) {
        /* Out of memory: the requester would wait forever; this is all we can do. */
        LOG_ERR(AGS_MOD, "answer to a %s request for %s lost: out of memory",
                ags_op_name(op->req.op), op->req.agent);
        return;
    }
    if (d->code)
        atomic_fetch_add(&s->st_failed, 1);
    if (mq_push_force(op->req.reply_mq, &d->msg) != 0) {
        LOG_WARN(AGS_MOD, "answer to a %s request for %s not delivered: its queue is closed",
                 ags_op_name(op->req.op), op->req.agent);
        d->msg.free(&d->msg);
    }
}

void ags__answer(ags_t *s, ags_op_t *op, int code, const char *why)
{
    if (op->answered)
        return;
    if (code)
        LOG_INFO(AGS_MOD, "%s for %s refused: %d %s", ags_op_name(op->req.op), op->req.agent, code,
                 why ? why : "");
    deliver(s, op, done_new(op, code, why));
}

void ags__answer_login(ags_t *s, ags_op_t *op, reg_login_e login)
{
    if (op->answered)
        return;
    ags_done_t *d = done_new(op, 0, NULL);
    if (d)
        d->login = login;
    deliver(s, op, d);
}

void ags__answer_vars(ags_t *s, ags_op_t *op, ami_chanvars_t *vars, const char *channel)
{
    if (op->answered) {
        free(vars);
        return;
    }
    ags_done_t *d = done_new(op, 0, NULL);
    if (d) {
        d->vars = vars;
        snprintf(d->channel, sizeof(d->channel), "%s", channel);
    } else {
        free(vars);
    }
    deliver(s, op, d);
}

void ags__notice_unmute(ags_t *s, mq_t *q, const char *agent, const reg_call_t *call)
{
    (void)s;
    ags_done_t *d = calloc(1, sizeof(*d));
    if (!d)
        return;
    d->msg.type = MSG_AGS_DONE;
    d->msg.free = done_free;
    d->op = AGS_UNMUTE;
    d->has_call = true;
    d->call = *call;
    snprintf(d->agent, sizeof(d->agent), "%s", agent);
    if (mq_push_force(q, &d->msg) != 0)
        done_free(&d->msg);
}

static void op_unlink(ags_t *s, ags_op_t *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        s->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

void ags__op_settle(ags_t *s, ags_op_t *op)
{
    /* a login waiter is not answered until its login ends */
    if (!op->answered || op->outstanding > 0)
        return;
    op_unlink(s, op);
    free(op);
}

ags_op_t *ags__op_new(ags_t *s, const ags_req_t *req)
{
    ags_op_t *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    if (req)
        op->req = *req;
    op->next = s->ops;
    if (s->ops)
        s->ops->prev = op;
    s->ops = op;
    return op;
}

/* Logs a refusal of an action sent without a requester. */
static void log_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    (void)s;
    const char *why;
    if (!ami_op_ok(r, &why))
        LOG_WARN(AGS_MOD, "%s for %s: Asterisk refused it: %s", op->why, op->req.agent, why);
}

int ags__send_bg(ags_t *s, int server, ami_action_t *a, const char *agent, const char *what)
{
    ags_op_t *op = a ? ags__op_new(s, NULL) : NULL;
    if (!op) {
        LOG_ERR(AGS_MOD, "%s for %s not sent: out of memory or a bad value", what, agent);
        ami_action_free(a);
        return CCD_ENOMEM;
    }
    op->answered = true;
    op->on_answer = log_answer;
    snprintf(op->req.agent, sizeof(op->req.agent), "%s", agent);
    snprintf(op->why, sizeof(op->why), "%s", what);
    return ags__send_id(s, server, a, op, what, NULL);
}

int ags__send(ags_t *s, int server, ami_action_t *a, ags_op_t *op, const char *what)
{
    return ags__send_id(s, server, a, op, what, NULL);
}

int ags__send_id(ags_t *s, int server, ami_action_t *a, ags_op_t *op, const char *what,
                 const char *action_id)
{
    if (!a) {
        LOG_ERR(AGS_MOD, "%s for %s not sent: out of memory or a bad value", what,
                op ? op->req.agent : "?");
        return CCD_ENOMEM;
    }
    if (!op)
        return ags__send_bg(s, server, a, "?", what);
    ami_send_opts_t o = {.reply_mq = s->inbox, .user = (uint64_t)(uintptr_t)op,
                         .action_id = action_id};
    int rc = ami_send(s->ami, server, a, &o, NULL);
    if (rc != 0) {
        LOG_WARN(AGS_MOD, "%s for %s not sent: AMI server %d %s", what, op->req.agent, server,
                 ccd_strerror(rc));
        op->unsent = true;
        ags__op_settle(s, op);
        return rc;
    }
    atomic_fetch_add(&s->st_actions, 1);
    op->outstanding++;
    return 0;
}

static void post_free(void *p)
{
    free(p);
}

int ags__post(ags_t *s, reg_apply_fn fn, void *arg, const char *what)
{
    int rc = reg_post(s->reg, fn, arg, post_free);
    if (rc != 0) {
        LOG_ERR(AGS_MOD, "registry refused %s (%s)", what, ccd_strerror(rc));
        free(arg);
    }
    return rc;
}

/* ---------------- requests ---------------- */

static void take_request(ags_t *s, const ags_req_t *req);

void ags__internal(ags_t *s, const ags_req_t *req)
{
    take_request(s, req);
}

static void take_request(ags_t *s, const ags_req_t *req)
{
    atomic_fetch_add(&s->st_requests, 1);
    ags_op_t *op = ags__op_new(s, req);
    if (!op) {
        ags_done_t *d = req->reply_mq ? calloc(1, sizeof(*d)) : NULL;
        if (d) {
            d->msg.type = MSG_AGS_DONE;
            d->msg.free = done_free;
            d->op = req->op;
            d->user = req->user;
            d->code = 500;
            snprintf(d->why, sizeof(d->why), "Out of memory");
            if (mq_push_force(req->reply_mq, &d->msg) != 0)
                done_free(&d->msg);
        }
        return;
    }
    if (reg_agent_get(s->reg, req->agent, &op->a) != 0) {
        ags__answer(s, op, 404, "Specified agent not found");
        ags__op_settle(s, op);
        return;
    }
    op->server = op->a.server;
    if (op->a.call_id && reg_call_get(s->reg, op->a.call_id, &op->call) == 0) {
        op->has_call = true;
        op->server = op->call.server;
    }
    ags_agent_t *ag = ags__agent(s, req->agent);
    if (ag)
        ag->last_activity_ms = clk_mono_ms(); /* any request is a sign of life */
    switch (req->op) {
    case AGS_LOGIN: ags__login(s, op); break;
    case AGS_LOGOUT: ags__logout(s, op); break;
    case AGS_PING: ags__answer(s, op, 0, NULL); break;
    case AGS_PAUSE: ags__pause(s, op); break;
    case AGS_UNPAUSE: ags__unpause(s, op); break;
    case AGS_HOLD: ags__hold(s, op); break;
    case AGS_UNHOLD: ags__unhold(s, op); break;
    case AGS_HANGUP: ags__hangup(s, op); break;
    case AGS_TRANSFER:
    case AGS_ATXFER:
    case AGS_TRANSFER_AGENT: ags__transfer(s, op); break;
    case AGS_MUTE:
    case AGS_UNMUTE: ags__mute(s, op); break;
    case AGS_CHANVARS: ags__chanvars(s, op); break;
    }
    ags__op_settle(s, op);
}

int ags_submit(ags_t *s, const ags_req_t *req)
{
    if (!s || !req || !req->reply_mq || !req->user || !req->agent[0] || req->op < AGS_LOGIN ||
        req->op > AGS_CHANVARS)
        return CCD_EINVAL;
    req_msg_t *m = calloc(1, sizeof(*m));
    if (!m)
        return CCD_ENOMEM;
    m->msg.type = MSG_AGS_REQ;
    m->msg.free = (void (*)(mq_msg_t *))free;
    m->req = *req;
    m->req.agent[sizeof(m->req.agent) - 1] = '\0';
    m->req.arg[sizeof(m->req.arg) - 1] = '\0';
    m->req.channel[sizeof(m->req.channel) - 1] = '\0';
    m->req.break_name[sizeof(m->req.break_name) - 1] = '\0';
    int rc = mq_push(s->inbox, &m->msg);
    if (rc != 0)
        free(m);
    return rc;
}

/* ---------------- the loop ---------------- */

static void on_response(ags_t *s, ami_response_t *r)
{
    ags_op_t *op = (ags_op_t *)(uintptr_t)r->user;
    op->outstanding--;
    if (op->on_answer)
        op->on_answer(s, op, r);
    ami_response_free(r);
    ags__op_settle(s, op);
}

static void on_event(ags_t *s, ami_event_t *ev)
{
    switch (ev->type) {
    case AMI_EV_ORIGINATE_RESPONSE:
        ags__login_event(s, ev);
        break;
    case AMI_EV_HANGUP:
        ags__login_event(s, ev);
        ags__call_hangup_event(s, ev);
        break;
    case AMI_EV_PARKED_CALL:
    case AMI_EV_UNPARKED_CALL:
    case AMI_EV_PARKED_CALL_GIVEUP:
    case AMI_EV_PARKED_CALL_TIMEOUT:
        ags__park_event(s, ev);
        break;
    default:
        break;
    }
    ami_event_free(ev);
}

static void on_status(ags_t *s, const ami_status_t *st)
{
    if (st->state == AMI_STATE_UP)
        ags__restore_pauses(s, st->server);
}

static void on_change(ags_t *s, const reg_change_t *ch)
{
    if (ch->msg.type != MSG_REG_AGENT_CHANGED || ch->removed)
        return;
    ags__login_change(s, &ch->u.agent);
    ags__hold_change(s, &ch->u.agent);
}

static void scan(ags_t *s, int64_t now)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(s->agents, &it, &k, &v)) {
        ags_agent_t *ag = v;
        ags__login_scan(s, ag, now);
        ags__mute_scan(s, ag, now);
    }
}

/* One message; false on MSG_QUIT. */
static bool handle(ags_t *s, mq_msg_t *m)
{
    switch (m->type) {
    case MSG_QUIT:
        m->free(m);
        return false;
    case MSG_AGS_REQ:
        take_request(s, &((req_msg_t *)m)->req);
        m->free(m);
        break;
    case MSG_AMI_RESPONSE:
        on_response(s, (ami_response_t *)m);
        break;
    case MSG_AMI_EVENT:
        on_event(s, (ami_event_t *)m);
        break;
    case MSG_AMI_STATUS:
        on_status(s, (ami_status_t *)m);
        m->free(m);
        break;
    case MSG_REG_AGENT_CHANGED:
    case MSG_REG_CALL_CHANGED:
        on_change(s, (reg_change_t *)m);
        m->free(m);
        break;
    case MSG_DB_READ_DONE:
        ags__login_db_done(s, (db_read_job_t *)m);
        break;
    default:
        LOG_WARN(AGS_MOD, "unexpected message type %d", m->type);
        m->free(m);
        break;
    }
    return true;
}

/* At the end of the thread: every request still in flight gets 503, everything is freed. */
static void finish_ops(ags_t *s)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(s->agents, &it, &k, &v))
        ags__login_stop(s, v);
    while (s->ops) {
        ags_op_t *op = s->ops;
        ags__answer(s, op, 503, "Agent service stopping");
        op_unlink(s, op);
        free(op);
    }
}

static void *thread_main(void *arg)
{
    ags_t *s = arg;
    for (;;) {
        int64_t now = clk_mono_ms();
        atomic_store(&s->st_beat_ms, now);
        if (now >= s->next_scan_ms) {
            scan(s, now);
            s->next_scan_ms = now + AGS_SCAN_MS;
        }
        int wait = (int)(s->next_scan_ms - now);
        mq_msg_t *m = mq_pop(s->inbox, wait < 0 ? 0 : wait);
        if (m && !handle(s, m))
            break;
    }
    finish_ops(s);
    return NULL;
}

/* ---------------- lifecycle ---------------- */

ags_t *ags_new(const conf_t *cf, reg_t *reg, ami_t *ami, db_t *db, char *err, size_t errlen)
{
    if (!cf || !reg || !ami) {
        if (err && errlen)
            snprintf(err, errlen, "agent service: configuration, registry and AMI are required");
        return NULL;
    }
    ags_t *s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->cf = cf;
    s->reg = reg;
    s->ami = ami;
    s->db = db;
    s->inbox = mq_new("agent", AGS_INBOX_MAX, 0);
    s->agents = hmap_new(256);
    s->login_uids = hmap_new(64);
    if (!s->inbox || !s->agents || !s->login_uids)
        goto nomem;
    uint64_t evm = AMI_EVM(AMI_EV_ORIGINATE_RESPONSE) | AMI_EVM(AMI_EV_HANGUP) |
                   AMI_EVM(AMI_EV_PARKED_CALL) | AMI_EVM(AMI_EV_UNPARKED_CALL) |
                   AMI_EVM(AMI_EV_PARKED_CALL_GIVEUP) | AMI_EVM(AMI_EV_PARKED_CALL_TIMEOUT);
    int rc = ami_subscribe(ami, s->inbox, evm, AMI_SUB_STATUS);
    if (rc != 0) {
        if (err && errlen)
            snprintf(err, errlen, "agent service: cannot subscribe to AMI events (%s)",
                     ccd_strerror(rc));
        ags_free(s);
        return NULL;
    }
    /* Lossless: a login is concluded from the changes it sees (logging, then logged in or
     * out), so none may be dropped; agent changes are few (people, not calls). */
    rc = reg_subscribe(reg, s->inbox, REG_SUB_AGENTS | REG_SUB_LOSSLESS);
    if (rc != 0) {
        if (err && errlen)
            snprintf(err, errlen, "agent service: cannot subscribe to the registry (%s)",
                     ccd_strerror(rc));
        ags_free(s);
        return NULL;
    }
    s->subscribed = true;
    return s;
nomem:
    if (err && errlen)
        snprintf(err, errlen, "agent service: out of memory");
    ags_free(s);
    return NULL;
}

int ags_start(ags_t *s)
{
    if (s->started)
        return CCD_EBUSY;
    if (pthread_create(&s->th, NULL, thread_main, s) != 0)
        return CCD_ERR;
    s->started = s->running = true;
    return 0;
}

void ags_stop(ags_t *s)
{
    if (!s)
        return;
    if (s->running) {
        mq_msg_t *q = mq_msg_quit_new();
        if (q && mq_push_force(s->inbox, q) != 0)
            q->free(q);
        pthread_join(s->th, NULL);
        s->running = false;
    }
    if (s->subscribed) {
        reg_unsubscribe(s->reg, s->inbox);
        s->subscribed = false;
    }
    /* later AMI answers and events are refused (their sender frees them) */
    if (s->inbox)
        mq_close(s->inbox);
}

void ags_free(ags_t *s)
{
    if (!s)
        return;
    ags_stop(s);
    if (!s->started && s->ops)
        finish_ops(s);
    if (s->inbox)
        mq_close(s->inbox);
    mq_free(s->inbox); /* answers and events still queued (their operations are gone) */
    if (s->agents) {
        size_t it = 0;
        const char *k;
        void *v;
        while (hmap_next(s->agents, &it, &k, &v))
            free(v);
    }
    hmap_free(s->agents);
    hmap_free(s->login_uids);
    free(s);
}

void ags_get_stats(ags_t *s, ags_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->requests = atomic_load(&s->st_requests);
    out->failed = atomic_load(&s->st_failed);
    out->actions_sent = atomic_load(&s->st_actions);
    out->logins_ok = atomic_load(&s->st_logins_ok);
    out->logins_failed = atomic_load(&s->st_logins_failed);
    out->inactivity_logouts = atomic_load(&s->st_idle_logouts);
    out->auto_unmutes = atomic_load(&s->st_auto_unmutes);
    out->breaks_restored = atomic_load(&s->st_breaks_restored);
    out->heartbeat_ms = atomic_load(&s->st_beat_ms);
}
