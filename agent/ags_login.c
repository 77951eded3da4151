/*
 * Login and logout, the inactivity timeout.
 *
 * Agent/N (app_agent_pool): the agent's phone is originated into the login
 * context, whose extension N runs AgentLogin(N); the registry goes
 * logged-out -> logging here, and logging -> logged-in when Asterisk's
 * AgentLogin arrives (ami_reg.c).  The Originate carries a ChannelId and an
 * ActionID of ours, so its OriginateResponse (Failure: the phone did not
 * answer) and the Hangup of its leg before AgentLogin (the phone hung up)
 * are recognised; each turns logging -> logged-out (agentfailedlogin).  So
 * does a login still unfinished after [agents] login_timeout.
 *
 * Dynamic agents (SIP/PJSIP/IAX2): QueueAdd to each queue ccd_agent_queue
 * lists for the agent, with its penalty; the first QueueMemberAdded logs it
 * in (ami_reg.c).  Logout is QueueRemove from every queue it is in.
 *
 * The service concludes a login only from the registry's changes (the
 * registry applies everything in order), never from an event alone: a
 * Hangup read before the AgentLogin it follows cannot undo a login.
 */
#include "agent/ags_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static void regset(ags_t *s, const char *number, int kind, const char *ext, const char *chan,
                   int server)
{
    ags_regset_t rs = {.kind = kind, .server = server};
    snprintf(rs.number, sizeof(rs.number), "%s", number);
    snprintf(rs.extension, sizeof(rs.extension), "%s", ext ? ext : "");
    snprintf(rs.channel, sizeof(rs.channel), "%s", chan ? chan : "");
    ags__reg_set(s, &rs);
}

static void forget_uid(ags_t *s, ags_agent_t *ag)
{
    if (ag->login_uid[0]) {
        if (hmap_get(s->login_uids, ag->login_uid) == ag)
            hmap_del(s->login_uids, ag->login_uid);
        ag->login_uid[0] = '\0';
    }
}

/* The login attempt is over: answer whoever waits for its end. */
static void login_end(ags_t *s, ags_agent_t *ag, bool ok)
{
    if (!ag->logging)
        return;
    ag->logging = false;
    ag->seen_logging = false;
    forget_uid(s, ag);
    atomic_fetch_add(ok ? &s->st_logins_ok : &s->st_logins_failed, 1);
    LOG_INFO(AGS_MOD, "login of %s %s", ag->number, ok ? "done" : "failed");
    /* An app_agent_pool member stays in its queues while logged out, maybe still paused
     * from the last session: a new session starts unpaused (as Issabel's did). */
    reg_agent_t a;
    if (ok && ags__is_pool(ag->number) && reg_agent_get(s->reg, ag->number, &a) == 0 &&
        a.break_id == 0 && !a.on_hold) {
        char iface[REG_CHAN_LEN];
        ags__member_iface(s, ag->number, iface, sizeof(iface));
        ags__send_bg(s, a.server, ami_op_queue_pause(iface, NULL, false, NULL), ag->number,
                     "QueuePause (new session)");
    }
    ags_op_t *w = ag->waiters;
    ag->waiters = NULL;
    while (w) {
        ags_op_t *next = w->wnext;
        w->wnext = NULL;
        if (ok)
            ags__answer_login(s, w, REG_LOGGED_IN);
        else
            ags__answer(s, w, 500, "Agent login failed");
        ags__op_settle(s, w);
        w = next;
    }
}

static void login_fail(ags_t *s, ags_agent_t *ag, const char *why)
{
    LOG_NOTICE(AGS_MOD, "login of %s fails: %s", ag->number, why);
    regset(s, ag->number, AGS_RS_LOGIN_FAILED, NULL, NULL, 0);
}

/* The requester is answered now ("logging"), or when the login ends (wait_login). */
static void started(ags_t *s, ags_agent_t *ag, ags_op_t *op)
{
    if (op->req.wait_login) {
        op->wnext = ag->waiters;
        ag->waiters = op;
    } else {
        ags__answer_login(s, op, REG_LOGGING);
    }
}

static void begin(ags_t *s, ags_agent_t *ag, ags_op_t *op, const char *chan)
{
    ag->logging = true;
    ag->seen_logging = false;
    ag->login_deadline_ms = clk_mono_ms() + (int64_t)s->cf->agents.login_timeout_s * 1000;
    regset(s, ag->number, AGS_RS_LOGGING, op->req.arg, chan, op->server);
}

/* Asterisk's answer to the login's action(s) is in: the login goes on, or fails with why. */
static void login_answered(ags_t *s, ags_op_t *op, bool ok, const char *why)
{
    ags_agent_t *ag = hmap_get(s->agents, op->req.agent);
    if (ok) {
        if (ag && ag->logging)
            started(s, ag, op);
        else
            ags__answer_login(s, op, REG_LOGGING);
        return;
    }
    if (ag && ag->logging)
        login_fail(s, ag, why);
    ags__answer(s, op, 500, "Failed to start login process on Asterisk");
}

static void originate_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    bool ok = ami_op_ok(r, &why);
    login_answered(s, op, ok, why);
}

static void login_pool(ags_t *s, ags_agent_t *ag, ags_op_t *op)
{
    const char *n = op->req.agent + 6;
    if (op->req.channel[0]) {
        /* From the dialplan: the agent's own call runs AgentLogin next. */
        begin(s, ag, op, op->req.channel);
        started(s, ag, op);
        return;
    }
    char chan[REG_ID_LEN + CONF_STR_LEN + 8], cid[REG_ID_LEN + 32];
    if (strchr(op->req.arg, '/'))
        snprintf(chan, sizeof(chan), "%s", op->req.arg);
    else
        snprintf(chan, sizeof(chan), "Local/%s@%s", op->req.arg, s->cf->agents.phone_context);
    snprintf(cid, sizeof(cid), "\"%s Login\" <%s>", op->req.agent, n);
    begin(s, ag, op, NULL);
    ags__uid(s, "login", ag->login_uid, sizeof(ag->login_uid));
    hmap_put(s->login_uids, ag->login_uid, ag, NULL);
    ami_action_t *a = ami_op_originate_exten(chan, s->cf->agents.login_context, n,
                                             s->cf->agents.login_ring_timeout_s * 1000, cid,
                                             ag->login_uid);
    op->on_answer = originate_answer;
    if (ags__send_id(s, op->server, a, op, "login Originate", ag->login_uid) != 0) {
        login_fail(s, ag, "the Originate could not be sent");
        ags__answer(s, op, 500, "Failed to start login process on Asterisk");
    }
}

/* ---- dynamic agents: their queues come from the database ---- */

typedef struct queues_job {
    db_read_job_t job;
    ags_op_t *op;
    db_agent_queue_t *rows;
    size_t n;
} queues_job_t;

static int queues_run(db_conn_t *c, db_read_job_t *job)
{
    queues_job_t *q = (queues_job_t *)job;
    return db_load_agent_queues(c, &q->rows, &q->n);
}

static void queues_free(mq_msg_t *m)
{
    queues_job_t *q = (queues_job_t *)m;
    free(q->rows);
    free(q);
}

static void add_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    bool ok = ami_op_ok(r, &why);
    /* a member Asterisk already had counts as added (no QueueMemberAdded will come) */
    bool already = !ok && r->resp && strstr(why, "Already there");
    if (ok || already)
        op->oks++;
    else
        snprintf(op->why, sizeof(op->why), "%s", why);
    if (already)
        regset(s, op->req.agent, AGS_RS_LOGGED_IN, NULL, NULL, 0);
    if (op->outstanding > 0)
        return;
    login_answered(s, op, op->oks > 0, op->why);
}

void ags__login_db_done(ags_t *s, db_read_job_t *job)
{
    queues_job_t *q = (queues_job_t *)job;
    ags_op_t *op = q->op;
    op->outstanding--;
    ags_agent_t *ag = ags__agent(s, op->req.agent);
    if (job->status != 0 || !ag) {
        LOG_WARN(AGS_MOD, "login of %s: the agent's queues could not be read (%s)", op->req.agent,
                 ccd_strerror(job->status));
        ags__answer(s, op, 500, "Failed to list agent queues");
    } else {
        size_t mine = 0;
        for (size_t i = 0; i < q->n; i++)
            mine += (int64_t)q->rows[i].id_agent == op->a.db_id;
        if (mine == 0) {
            ags__answer(s, op, 500, "Agent has no queues to log in to");
        } else {
            begin(s, ag, op, op->req.channel);
            op->on_answer = add_answer;
            for (size_t i = 0; i < q->n; i++) {
                if ((int64_t)q->rows[i].id_agent != op->a.db_id)
                    continue;
                ami_action_t *a = ami_op_queue_add(q->rows[i].queue, op->req.agent,
                                                   q->rows[i].penalty, op->a.name);
                ags__send(s, op->server, a, op, "QueueAdd");
            }
            if (op->outstanding == 0) {
                login_fail(s, ag, "no QueueAdd could be sent");
                ags__answer(s, op, 500, "Failed to start login process on Asterisk");
            }
        }
    }
    queues_free(&job->msg);
    ags__op_settle(s, op);
}

static void login_dynamic(ags_t *s, ags_op_t *op)
{
    if (!s->db) {
        ags__answer(s, op, 500, "Failed to list agent queues");
        return;
    }
    queues_job_t *q = calloc(1, sizeof(*q));
    if (!q) {
        ags__answer(s, op, 500, "Out of memory");
        return;
    }
    q->job.msg.free = queues_free;
    q->job.run = queues_run;
    q->job.reply = s->inbox;
    q->op = op;
    int rc = db_read_submit(s->db, &q->job);
    if (rc != 0) {
        free(q);
        ags__answer(s, op, rc == CCD_EFULL ? 503 : 500, "Failed to list agent queues");
        return;
    }
    op->outstanding++;
}

void ags__login(ags_t *s, ags_op_t *op)
{
    const reg_agent_t *a = &op->a;
    if (!a->active) {
        ags__answer(s, op, 404, "Specified agent not found");
        return;
    }
    ags_agent_t *ag = ags__agent(s, a->number);
    if (!ag) {
        ags__answer(s, op, 500, "Out of memory");
        return;
    }
    if (a->login != REG_LOGGED_OUT) {
        if (a->extension[0] && strcmp(a->extension, op->req.arg) != 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "Specified agent already connected to extension: %s",
                     a->extension);
            ags__answer(s, op, 409, msg);
        } else if (a->login == REG_LOGGING && op->req.wait_login && ag->logging) {
            started(s, ag, op);
        } else {
            ags__answer_login(s, op, a->login);
        }
        return;
    }
    ag->idle_s = op->req.timeout_s > 0 ? op->req.timeout_s : 0;
    ag->last_activity_ms = clk_mono_ms();
    if (ags__is_pool(a->number))
        login_pool(s, ag, op);
    else
        login_dynamic(s, op);
}

/* ---- logout ---- */

static void logoff_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (ami_op_ok(r, &why))
        op->oks++;
    else
        snprintf(op->why, sizeof(op->why), "%s", why);
    if (op->outstanding > 0)
        return;
    if (op->oks > 0)
        ags__answer_login(s, op, REG_LOGGED_OUT);
    else
        ags__answer(s, op, 500, "Failed to log out agent on Asterisk");
}

void ags__logout(ags_t *s, ags_op_t *op)
{
    const reg_agent_t *a = &op->a;
    ags_agent_t *ag = ags__agent(s, a->number);
    if (ag)
        ag->idle_s = 0;
    if (a->login == REG_LOGGED_OUT) {
        ags__answer_login(s, op, REG_LOGGED_OUT);
        return;
    }
    if (a->login == REG_LOGGING) {
        /* the attempt is abandoned: an AgentLogin that still comes is logged off by Asterisk's
         * own AgentLogoff below (pool agents) */
        if (ag && ag->logging)
            login_fail(s, ag, "logged out before the login finished");
        else
            regset(s, a->number, AGS_RS_LOGIN_FAILED, NULL, NULL, 0);
        if (ags__is_pool(a->number))
            ags__send_bg(s, op->server, ami_op_agent_logoff(a->number + 6), a->number,
                         "AgentLogoff");
        ags__answer_login(s, op, REG_LOGGED_OUT);
        return;
    }
    op->on_answer = logoff_answer;
    if (ags__is_pool(a->number)) {
        ags__send(s, op->server, ami_op_agent_logoff(a->number + 6), op, "AgentLogoff");
    } else {
        for (int i = 0; i < a->nqueues && i < REG_MAX_QUEUES; i++)
            ags__send(s, op->server, ami_op_queue_remove(a->queues[i], a->number), op,
                      "QueueRemove");
        if (a->nqueues == 0) {
            ags__answer_login(s, op, REG_LOGGED_OUT);
            return;
        }
    }
    if (op->outstanding == 0)
        ags__answer(s, op, 500, "Failed to log out agent on Asterisk");
}

/* ---- what comes back ---- */

void ags__login_event(ags_t *s, const ami_event_t *ev)
{
    ags_agent_t *ag = NULL;
    if (ev->type == AMI_EV_ORIGINATE_RESPONSE) {
        if (ev->action_id[0])
            ag = hmap_get(s->login_uids, ev->action_id);
        if (!ag && ev->uniqueid[0])
            ag = hmap_get(s->login_uids, ev->uniqueid);
        if (ag && ag->logging && strcasecmp(ev->response, "Success") != 0)
            login_fail(s, ag, "the agent's phone did not answer");
        return;
    }
    /* Hangup of the login leg before AgentLogin logged the agent in */
    if (ev->uniqueid[0] && (ag = hmap_get(s->login_uids, ev->uniqueid)) && ag->logging)
        login_fail(s, ag, "the agent's phone hung up");
}

void ags__login_change(ags_t *s, const reg_agent_t *a)
{
    ags_agent_t *ag = hmap_get(s->agents, a->number);
    if (!ag)
        return;
    if (a->login == REG_LOGGED_OUT) {
        ag->idle_s = 0;
        if (ag->engine_paused && ags__is_pool(a->number)) {
            /* the session's break or hold ends with it, in Asterisk too */
            char iface[REG_CHAN_LEN];
            ags__member_iface(s, a->number, iface, sizeof(iface));
            ags__send_bg(s, a->server, ami_op_queue_pause(iface, NULL, false, NULL), a->number,
                         "QueuePause (session ended)");
        }
        ag->engine_paused = false;
    }
    if (!ag->logging)
        return;
    if (a->login == REG_LOGGING) {
        ag->seen_logging = true;
        return;
    }
    /* changes published before our logging was applied say nothing about this attempt */
    if (!ag->seen_logging)
        return;
    login_end(s, ag, a->login == REG_LOGGED_IN);
}

/* Logs an idle agent out: nobody waits for the answer. */
static void idle_logout(ags_t *s, ags_agent_t *ag)
{
    ags_req_t req = {.op = AGS_LOGOUT};
    snprintf(req.agent, sizeof(req.agent), "%s", ag->number);
    LOG_NOTICE(AGS_MOD, "%s logged out after %d s without activity", ag->number, ag->idle_s);
    atomic_fetch_add(&s->st_idle_logouts, 1);
    ags__internal(s, &req);
}

void ags__login_scan(ags_t *s, ags_agent_t *ag, int64_t now)
{
    if (ag->logging && now >= ag->login_deadline_ms) {
        login_fail(s, ag, "the login did not finish in time");
        login_end(s, ag, false);
    }
    if (ag->idle_s <= 0 || now - ag->last_activity_ms < (int64_t)ag->idle_s * 1000)
        return;
    reg_agent_t a;
    if (reg_agent_get(s->reg, ag->number, &a) != 0 ||
        (a.login == REG_LOGGED_OUT && !ag->logging)) {
        ag->idle_s = 0;
        return;
    }
    if (a.login != REG_LOGGED_IN || a.call_id || a.break_id || a.on_hold) {
        ag->last_activity_ms = now; /* busy is not idle */
        return;
    }
    idle_logout(s, ag);
    ag->idle_s = 0;
}

void ags__login_stop(ags_t *s, ags_agent_t *ag)
{
    forget_uid(s, ag);
    /* the waiters are on s->ops too: finish_ops answers and frees them */
    ag->waiters = NULL;
}
