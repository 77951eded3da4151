/*
 * The ECCP facade of the agent service: requests that act on an agent or its
 * call (loginagent, logoutagent, pauseagent, unpauseagent, hold, unhold,
 * hangup, transfercall, atxfercall, transfercallagent, mixmonitormute/unmute,
 * getchanvars) are validated in eccp_req.c, handed to the agent service
 * (ags_submit, agent/agent.h) here, and answered when its ags_done_t comes
 * back on the worker's mq.  The worker never waits; the session stays
 * allocated while a request points at it (pending count).
 *
 * What an operation changes in the registry becomes ECCP events the usual
 * way (eccp_event.c); the recording mute events, which the registry cannot
 * express, are published from here, and a transfer's target is recorded in
 * the calls/call_entry row (eccp_ami.c's eccp__record_transfer).
 *
 * Worker thread only.
 */
#include "eccp/eccp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/err.h"
#include "core/log.h"

#define MOD "eccp"

struct eccp_agsop {
    eccp_sess_t *s;
    const eccp_reqdef_t *def;
    char id[ECCP_ID_MAX];
    char arg[REG_ID_LEN];
};
typedef struct eccp_agsop eccp_agsop_t;

/* loginagent/logoutagent carry <status> in their failures too. */
static bool has_status(ags_op_e op)
{
    return op == AGS_LOGIN || op == AGS_LOGOUT;
}

static void fail(eccp_worker_t *w, eccp_sess_t *s, const eccp_reqdef_t *def, const char *id,
                 ags_op_e op, int code, const char *msg)
{
    eccp__count_err(w->srv, def);
    buf_t *b = eccp__wbuf(w);
    eccp__msg_req_failure(b, id, def->name, has_status(op) ? "logged-out" : NULL, code, msg);
    eccp__send_buf(w, s, b);
}

void eccp__ags_start(eccp_call_t *c, const ags_req_t *req)
{
    eccp_worker_t *w = c->w;
    ags_t *ags = w->srv->deps.ags;
    if (!ags) {
        fail(w, c->s, c->def, c->id, req->op, 500, "Agent service not available");
        return;
    }
    eccp_agsop_t *op = calloc(1, sizeof(*op));
    if (!op) {
        eccp__failure(c, 500, "Internal server error");
        return;
    }
    op->s = c->s;
    op->def = c->def;
    snprintf(op->id, sizeof(op->id), "%s", c->id);
    snprintf(op->arg, sizeof(op->arg), "%s", req->arg);
    ags_req_t r = *req;
    r.reply_mq = w->mq;
    r.user = (uint64_t)(uintptr_t)op;
    int rc = ags_submit(ags, &r);
    if (rc != 0) {
        free(op);
        LOG_WARN_RL(MOD, "%s for %s: agent service refused it (%s)", c->def->name, req->agent,
                    ccd_strerror(rc));
        if (rc == CCD_EFULL)
            fail(w, c->s, c->def, c->id, req->op, 503, "Server busy");
        else
            fail(w, c->s, c->def, c->id, req->op, 500, "Agent service not available");
        return;
    }
    c->s->pending++;
    w->jobs_out++;
}

static void status_answer(eccp_worker_t *w, eccp_sess_t *s, const eccp_agsop_t *op,
                          reg_login_e st)
{
    static const char *const names[] = {[REG_LOGGED_OUT] = "logged-out",
                                        [REG_LOGGING] = "logging",
                                        [REG_LOGGED_IN] = "logged-in"};
    buf_t *b = eccp__wbuf(w);
    xw_t x;
    eccp__xw_init(&x, b);
    eccp__msg_resp_begin(&x, op->id, op->def->name);
    eccp__xw_leaf(&x, "status", names[st <= REG_LOGGED_IN ? st : REG_LOGGED_OUT]);
    eccp__msg_resp_end(&x, op->def->name);
    eccp__send_buf(w, s, b);
}

static void success(eccp_worker_t *w, eccp_sess_t *s, const eccp_agsop_t *op)
{
    buf_t *b = eccp__wbuf(w);
    xw_t x;
    eccp__xw_init(&x, b);
    eccp__msg_resp_begin(&x, op->id, op->def->name);
    eccp__xw_open(&x, "success");
    eccp__xw_close(&x, "success");
    eccp__msg_resp_end(&x, op->def->name);
    eccp__send_buf(w, s, b);
}

static void chanvars(eccp_worker_t *w, eccp_sess_t *s, const eccp_agsop_t *op,
                     const ags_done_t *d)
{
    buf_t *b = eccp__wbuf(w);
    xw_t x;
    eccp__xw_init(&x, b);
    eccp__msg_resp_begin(&x, op->id, op->def->name);
    eccp__xw_leaf(&x, "clientchannel", d->channel);
    eccp__xw_open(&x, "chanvars");
    for (size_t i = 0; d->vars && i < d->vars->n; i++) {
        eccp__xw_open(&x, "chanvar");
        eccp__xw_leaf(&x, "label", d->vars->v[i].name);
        eccp__xw_leaf(&x, "value", d->vars->v[i].value);
        eccp__xw_close(&x, "chanvar");
    }
    eccp__xw_close(&x, "chanvars");
    eccp__msg_resp_end(&x, op->def->name);
    eccp__send_buf(w, s, b);
}

static void mute_event(eccp_worker_t *w, const ags_done_t *d)
{
    eccp_event_t ev = {.kind = d->op == AGS_MUTE ? ECCP_EV_RECORDINGMUTE : ECCP_EV_RECORDINGUNMUTE,
                       .incoming = d->call.type == REG_CALL_INCOMING,
                       .campaign_id = d->call.campaign_id,
                       .call_id = d->call.db_call_id};
    snprintf(ev.agent_number, sizeof(ev.agent_number), "%s", d->agent);
    if (eccp_server_publish(w->srv, &ev) != 0)
        LOG_WARN_RL(MOD, "recording %smute event for %s not delivered to every worker",
                    d->op == AGS_MUTE ? "" : "un", d->agent);
}

static void answer(eccp_worker_t *w, eccp_sess_t *s, const eccp_agsop_t *op, const ags_done_t *d)
{
    if (d->code != 0) {
        /* A call action that never reached Asterisk, or chanvars that could not be read:
         * Issabel's top-level failure. */
        if ((d->unreachable && !has_status(d->op)) || (d->op == AGS_CHANVARS && d->code == 500)) {
            eccp__count_err(w->srv, op->def);
            buf_t *b = eccp__wbuf(w);
            eccp__msg_failure(b, op->id, 500, d->unreachable ? "No AMI connection" : d->why);
            eccp__send_buf(w, s, b);
            return;
        }
        fail(w, s, op->def, op->id, d->op, d->code, d->why);
        return;
    }
    switch (d->op) {
    case AGS_LOGIN:
    case AGS_LOGOUT:
        status_answer(w, s, op, d->op == AGS_LOGOUT ? REG_LOGGED_OUT : d->login);
        break;
    case AGS_CHANVARS:
        chanvars(w, s, op, d);
        break;
    case AGS_TRANSFER:
    case AGS_ATXFER:
        /* The record first, so a client holding the answer knows the write is with the db
         * writer already. */
        if (d->has_call)
            eccp__record_transfer(w, op->def, op->id, &d->call, op->arg);
        success(w, s, op);
        break;
    case AGS_MUTE:
    case AGS_UNMUTE:
        success(w, s, op);
        mute_event(w, d);
        break;
    default:
        success(w, s, op);
        break;
    }
}

void eccp__ags_done(eccp_worker_t *w, ags_done_t *d)
{
    if (!d->user) { /* the service unmuted a recording by itself (mixmonitormute's timeout) */
        if (d->op == AGS_UNMUTE)
            mute_event(w, d);
        d->msg.free(&d->msg);
        return;
    }
    eccp_agsop_t *op = (eccp_agsop_t *)(uintptr_t)d->user;
    eccp_sess_t *s = op->s;
    if (eccp__sess_op_back(w, s)) {
        answer(w, s, op, d);
        eccp__sess_resume(w, s);
    }
    free(op);
    d->msg.free(&d->msg);
}

void eccp__ags_drop(eccp_worker_t *w, ags_done_t *d)
{
    if (!d->user) {
        d->msg.free(&d->msg);
        return;
    }
    eccp_agsop_t *op = (eccp_agsop_t *)(uintptr_t)d->user;
    w->jobs_out--;
    if (--op->s->pending == 0 && op->s->fd < 0)
        eccp__sess_bury(w, op->s);
    free(op);
    d->msg.free(&d->msg);
}
