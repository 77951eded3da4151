/*
 * Call control: hangup, blind and attended transfer, transfer to another
 * agent, recording mute (with its optional unmute timer) and the customer
 * channel's variables.
 *
 * These change nothing in the registry: the AMI events that follow (Hangup,
 * AgentComplete, ...) reach it through ami_reg.c.  Which leg each acts on:
 * hangup the agent's side (agent_hangup_channel: a Local member's ;2, which
 * Asterisk reports as the agent ending the call), Atxfer the member leg
 * (agent_channel), everything else the customer leg (channel).
 */
#include "agent/ags_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static bool need_call(ags_t *s, ags_op_t *op)
{
    if (op->has_call && op->call.channel[0])
        return true;
    ags__answer(s, op, 417, "Agent not in call");
    return false;
}

/* The answer of a one-action operation: success, or code 500 with fail_msg. */
static void plain_answer(ags_t *s, ags_op_t *op, ami_response_t *r, const char *fail_msg)
{
    const char *why;
    if (ami_op_ok(r, &why)) {
        ags__answer(s, op, 0, NULL);
        return;
    }
    LOG_WARN(AGS_MOD, "%s for %s: Asterisk refused it: %s", ags_op_name(op->req.op), op->req.agent,
             why);
    ags__answer(s, op, 500, fail_msg);
}

static void send_one(ags_t *s, ags_op_t *op, ami_action_t *a, ags_answer_fn fn, const char *what,
                     const char *fail_msg)
{
    op->on_answer = fn;
    ags__send(s, op->server, a, op, what);
    if (op->outstanding == 0)
        ags__answer(s, op, 500, fail_msg);
}

/* ---- hangup ---- */

static void hangup_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    plain_answer(s, op, r, "Cannot hangup agent call");
}

void ags__hangup(ags_t *s, ags_op_t *op)
{
    if (!need_call(s, op))
        return;
    const reg_call_t *c = &op->call;
    const char *chan = c->agent_hangup_channel[0] ? c->agent_hangup_channel
                       : c->agent_channel[0]      ? c->agent_channel
                                                  : c->channel;
    send_one(s, op, ami_op_hangup(chan), hangup_answer, "Hangup", "Cannot hangup agent call");
}

/* ---- transfers ---- */

static void transfer_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    plain_answer(s, op, r, "Unable to transfer call");
    /* A Redirect takes the customer from the agent: its leg hangs up, and that frees it. */
    ags_agent_t *ag = op->req.op != AGS_ATXFER && ami_op_ok(r, NULL)
                          ? ags__agent(s, op->req.agent)
                          : NULL;
    if (ag && op->call.agent_channel[0]) {
        ag->xfer_call = op->call.id;
        snprintf(ag->xfer_chan, sizeof(ag->xfer_chan), "%s", op->call.agent_channel);
    }
}

void ags__call_hangup_event(ags_t *s, const ami_event_t *ev)
{
    if (!ev->channel[0])
        return;
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(s->agents, &it, &k, &v)) {
        ags_agent_t *ag = v;
        if (!ag->xfer_call || strcmp(ag->xfer_chan, ev->channel) != 0)
            continue;
        ags_regset_t rs = {.kind = AGS_RS_UNLINK, .call_id = ag->xfer_call};
        snprintf(rs.number, sizeof(rs.number), "%s", ag->number);
        ag->xfer_call = 0;
        ag->xfer_chan[0] = '\0';
        LOG_INFO(AGS_MOD, "%s is free: its call was transferred", rs.number);
        ags__reg_set(s, &rs);
    }
}

void ags__transfer(ags_t *s, ags_op_t *op)
{
    if (!need_call(s, op))
        return;
    const reg_call_t *c = &op->call;
    const char *xctx = s->cf->dialer.default_context;
    ami_action_t *a = NULL;
    switch (op->req.op) {
    case AGS_TRANSFER:
        a = ami_op_redirect(c->channel, xctx, op->req.arg, 1);
        break;
    case AGS_ATXFER:
        a = ami_op_atxfer(c->agent_channel[0] ? c->agent_channel : c->channel, xctx, op->req.arg);
        break;
    default: {
        reg_agent_t t;
        if (reg_agent_get(s->reg, op->req.arg, &t) != 0) {
            ags__answer(s, op, 404, "Specified agent not found");
            return;
        }
        /* Agent/N is reached through AgentRequest; a dynamic agent by dialing its extension */
        const char *slash = strchr(t.number, '/');
        const char *num = slash ? slash + 1 : t.number;
        a = ags__is_pool(t.number)
                ? ami_op_redirect(c->channel, s->cf->agents.agents_context, num, 1)
                : ami_op_redirect(c->channel, xctx, num, 1);
        break;
    }
    }
    send_one(s, op, a, transfer_answer, ags_op_name(op->req.op), "Unable to transfer call");
}

/* ---- recording mute ---- */

static void mute_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    bool mute = op->req.op == AGS_MUTE;
    const char *why;
    if (!ami_op_ok(r, &why)) {
        LOG_WARN(AGS_MOD, "%s for %s: Asterisk refused it: %s", ags_op_name(op->req.op),
                 op->req.agent, why);
        ags__answer(s, op, 500, mute ? "Cannot mute agent call" : "Cannot unmute agent call");
        return;
    }
    ags_agent_t *ag = ags__agent(s, op->req.agent);
    if (ag) {
        ag->unmute_at_ms = 0;
        ag->mute_chan[0] = '\0';
        ag->mute_mq = NULL;
        if (mute && op->req.timeout_s > 0) {
            snprintf(ag->mute_chan, sizeof(ag->mute_chan), "%s", op->call.channel);
            ag->mute_server = op->server;
            ag->unmute_at_ms = clk_mono_ms() + (int64_t)op->req.timeout_s * 1000;
            ag->mute_mq = op->req.reply_mq;
            ag->mute_call = op->call;
        }
    }
    ags__answer(s, op, 0, NULL);
}

void ags__mute(ags_t *s, ags_op_t *op)
{
    if (!need_call(s, op))
        return;
    bool mute = op->req.op == AGS_MUTE;
    send_one(s, op, ami_op_mixmonitor_mute(op->call.channel, mute), mute_answer, "MixMonitorMute",
             mute ? "Cannot mute agent call" : "Cannot unmute agent call");
}

void ags__mute_scan(ags_t *s, ags_agent_t *ag, int64_t now)
{
    if (!ag->unmute_at_ms || now < ag->unmute_at_ms)
        return;
    ag->unmute_at_ms = 0;
    LOG_INFO(AGS_MOD, "recording of %s unmuted by the mixmonitormute timeout", ag->number);
    atomic_fetch_add(&s->st_auto_unmutes, 1);
    ags__send_bg(s, ag->mute_server, ami_op_mixmonitor_mute(ag->mute_chan, false), ag->number,
                 "MixMonitorMute (timer)");
    if (ag->mute_mq)
        ags__notice_unmute(s, ag->mute_mq, ag->number, &ag->mute_call);
    ag->mute_mq = NULL;
    ag->mute_chan[0] = '\0';
}

/* ---- channel variables ---- */

static void chanvars_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    ami_chanvars_t *cv = NULL;
    int rc = ami_op_chanvars(r, &cv);
    if (rc == CCD_ENOMEM) {
        ags__answer(s, op, 500, "Internal server error");
        return;
    }
    if (rc != CCD_OK) {
        ags__answer(s, op, 500, "No AMI connection");
        return;
    }
    ags__answer_vars(s, op, cv, op->call.channel);
}

void ags__chanvars(ags_t *s, ags_op_t *op)
{
    if (!need_call(s, op))
        return;
    send_one(s, op, ami_op_core_show_channel(op->call.channel), chanvars_answer, "Command",
             "No AMI connection");
}
