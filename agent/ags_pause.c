/*
 * Breaks and holds.
 *
 * An agent is paused in Asterisk (QueuePause across all its queues) while it
 * has a break or a hold; the reason is the break's name, or "Hold".  The
 * registry is changed first and the action sent after (ags_reg.c says why);
 * a refused action takes the change back.
 *
 * Hold parks the customer (Park, with the agent's leg as the timeout
 * channel): app_agent_pool's member leg hangs up and the agent is free for
 * Asterisk, so it is paused before the Park.  The ParkedCall event gives
 * the space; unhold originates the agent (Local/N@agents for Agent/N, the
 * agent's own channel otherwise) into the parking context at that space.
 * The hold ends when the customer leaves the space (UnParkedCall, or
 * ParkedCallGiveUp/ParkedCallTimeOut) or the call ends.
 */
#include "agent/ags_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define HOLD_REASON "Hold"

static bool need_login(ags_t *s, ags_op_t *op)
{
    if (op->a.login == REG_LOGGED_IN)
        return true;
    ags__answer(s, op, 417, "Agent currently not logged in");
    return false;
}

static void regset(ags_t *s, const char *number, int kind, int break_id, const char *break_name,
                   uint64_t call_id)
{
    ags_regset_t rs = {.kind = kind, .break_id = break_id, .call_id = call_id};
    snprintf(rs.number, sizeof(rs.number), "%s", number);
    snprintf(rs.break_name, sizeof(rs.break_name), "%s", break_name ? break_name : "");
    ags__reg_set(s, &rs);
}

static void send_pause(ags_t *s, ags_op_t *op, int server, const char *number, bool paused,
                       const char *reason)
{
    char iface[REG_CHAN_LEN];
    ags__member_iface(s, number, iface, sizeof(iface));
    const char *what = paused ? "QueuePause" : "QueuePause (unpause)";
    ami_action_t *a = ami_op_queue_pause(iface, NULL, paused, reason);
    if (op)
        ags__send(s, server, a, op, what);
    else
        ags__send_bg(s, server, a, number, what);
}

/* ---- breaks ---- */

static void pause_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (ami_op_ok(r, &why)) {
        ags_agent_t *ag = ags__agent(s, op->req.agent);
        if (ag)
            ag->engine_paused = true;
        ags__answer(s, op, 0, NULL);
        return;
    }
    LOG_WARN(AGS_MOD, "break of %s not started: Asterisk refused QueuePause: %s", op->req.agent, why);
    regset(s, op->req.agent, AGS_RS_BREAK_END, op->req.break_id, NULL, 0);
    ags__answer(s, op, 500, "Unable to start agent break");
}

void ags__pause(ags_t *s, ags_op_t *op)
{
    if (!need_login(s, op))
        return;
    if (op->req.break_id <= 0) {
        ags__answer(s, op, 404, "Break ID not found or not active");
        return;
    }
    /* a pause set on the phone system (-1) is replaced by the requested break */
    if (op->a.break_id > 0) {
        if (op->a.break_id == op->req.break_id)
            ags__answer(s, op, 0, NULL);
        else
            ags__answer(s, op, 417, "Agent already in incompatible break");
        return;
    }
    regset(s, op->req.agent, AGS_RS_BREAK, op->req.break_id, op->req.break_name, 0);
    op->on_answer = pause_answer;
    send_pause(s, op, op->a.server, op->req.agent, true, op->req.break_name);
    if (op->outstanding == 0) {
        regset(s, op->req.agent, AGS_RS_BREAK_END, op->req.break_id, NULL, 0);
        ags__answer(s, op, 500, "Unable to start agent break");
    }
}

static void unpause_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (!ami_op_ok(r, &why)) {
        LOG_WARN(AGS_MOD, "break of %s not ended: Asterisk refused QueuePause: %s", op->req.agent,
                 why);
        ags__answer(s, op, 500, "Unable to end agent break");
        return;
    }
    regset(s, op->req.agent, AGS_RS_BREAK_END, op->a.break_id, NULL, 0);
    ags_agent_t *ag = ags__agent(s, op->req.agent);
    if (ag)
        ag->engine_paused = false;
    ags__answer(s, op, 0, NULL);
}

void ags__unpause(ags_t *s, ags_op_t *op)
{
    if (!need_login(s, op))
        return;
    if (op->a.break_id == 0) {
        ags__answer(s, op, 0, NULL);
        return;
    }
    if (op->a.on_hold) {
        /* still paused in Asterisk for the hold */
        regset(s, op->req.agent, AGS_RS_BREAK_END, op->a.break_id, NULL, 0);
        ags__answer(s, op, 0, NULL);
        return;
    }
    op->on_answer = unpause_answer;
    send_pause(s, op, op->a.server, op->req.agent, false, NULL);
    if (op->outstanding == 0)
        ags__answer(s, op, 500, "Unable to end agent break");
}

/* ---- holds ---- */

static void hold_forget(ags_agent_t *ag)
{
    ag->hold_call = 0;
    ag->park_uid[0] = '\0';
    ag->park_space = -1;
}

/* Ends the hold of ag: the registry first, then the pause (unless a break keeps it).
 * leg: the agent's new leg of the call ("" when the customer did not come back). */
static void hold_end(ags_t *s, ags_agent_t *ag, const char *why, const char *leg)
{
    uint64_t call = ag->hold_call;
    int server = ag->hold_server;
    hold_forget(ag);
    LOG_INFO(AGS_MOD, "hold of %s ends: %s", ag->number, why);
    ags_regset_t rs = {.kind = AGS_RS_HOLD_END, .call_id = call};
    snprintf(rs.number, sizeof(rs.number), "%s", ag->number);
    snprintf(rs.channel, sizeof(rs.channel), "%s", leg ? leg : "");
    ags__reg_set(s, &rs);
    reg_agent_t a;
    if (reg_agent_get(s->reg, ag->number, &a) == 0 && a.login == REG_LOGGED_IN && a.break_id == 0) {
        send_pause(s, NULL, server, ag->number, false, NULL);
        ag->engine_paused = false;
    }
}

/* A hold that did not start: the registry and the pause are taken back. */
static void hold_undo(ags_t *s, ags_op_t *op, const char *why)
{
    ags_agent_t *ag = hmap_get(s->agents, op->req.agent);
    if (ag)
        hold_forget(ag);
    regset(s, op->req.agent, AGS_RS_HOLD_END, 0, NULL, op->call.id);
    if (op->oks && op->a.break_id == 0)
        send_pause(s, NULL, op->server, op->req.agent, false, NULL);
    char msg[160];
    snprintf(msg, sizeof(msg), "Unable to start agent hold%s%s", why && *why ? " - " : "",
             why ? why : "");
    ags__answer(s, op, 500, msg);
}

static void hold_parked(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (ami_op_ok(r, &why))
        ags__answer(s, op, 0, NULL);
    else
        hold_undo(s, op, why);
}

static void park(ags_t *s, ags_op_t *op)
{
    op->on_answer = hold_parked;
    ags__send(s, op->server, ami_op_park(op->call.channel, op->call.agent_channel), op, "Park");
    if (op->outstanding == 0)
        hold_undo(s, op, "no AMI connection");
}

static void hold_paused(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (!ami_op_ok(r, &why)) {
        hold_undo(s, op, why);
        return;
    }
    op->oks++;
    ags_agent_t *ag = ags__agent(s, op->req.agent);
    if (ag)
        ag->engine_paused = true;
    park(s, op);
}

void ags__hold(ags_t *s, ags_op_t *op)
{
    if (!need_login(s, op))
        return;
    if (!op->has_call || !op->call.channel[0] || op->call.status != REG_CS_SUCCESS) {
        ags__answer(s, op, 417, op->a.on_hold ? "Agent already in hold" : "Agent not in call");
        return;
    }
    if (op->a.on_hold) {
        ags__answer(s, op, 417, "Agent already in hold");
        return;
    }
    ags_agent_t *ag = ags__agent(s, op->req.agent);
    if (!ag) {
        ags__answer(s, op, 500, "Unable to start agent hold");
        return;
    }
    ag->hold_call = op->call.id;
    ag->hold_server = op->server;
    ag->park_space = -1;
    snprintf(ag->park_uid, sizeof(ag->park_uid), "%s", op->call.uniqueid);
    regset(s, op->req.agent, AGS_RS_HOLD, 0, NULL, op->call.id);
    if (op->a.break_id > 0) { /* paused already */
        park(s, op);
        return;
    }
    op->on_answer = hold_paused;
    send_pause(s, op, op->server, op->req.agent, true, HOLD_REASON);
    if (op->outstanding == 0)
        hold_undo(s, op, "no AMI connection");
}

static void unhold_answer(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (ami_op_ok(r, &why)) {
        ags__answer(s, op, 0, NULL);
        return;
    }
    LOG_WARN(AGS_MOD, "unhold of %s: Asterisk refused the Originate: %s", op->req.agent, why);
    ags__answer(s, op, 500, "Unable to end agent hold");
}

void ags__unhold(ags_t *s, ags_op_t *op)
{
    if (!need_login(s, op))
        return;
    if (!op->has_call) {
        ags__answer(s, op, 417, "Agent not in call");
        return;
    }
    if (!op->a.on_hold) {
        ags__answer(s, op, 0, NULL);
        return;
    }
    ags_agent_t *ag = hmap_get(s->agents, op->req.agent);
    if (!ag || !ag->hold_call || ag->park_space < 0) {
        ags__answer(s, op, 500, "Unable to end agent hold - parking space unknown");
        return;
    }
    char chan[REG_CHAN_LEN], space[16], cid[REG_NAME_LEN + REG_ID_LEN + 8], uid[REG_UID_LEN];
    ags__reach_chan(s, op->req.agent, chan, sizeof(chan));
    snprintf(space, sizeof(space), "%d", ag->park_space);
    const char *slash = strchr(op->req.agent, '/');
    snprintf(cid, sizeof(cid), "\"%s\" <%s>", op->a.name[0] ? op->a.name : op->req.agent,
             slash ? slash + 1 : op->req.agent);
    ags__uid(s, "unhold", uid, sizeof(uid));
    op->on_answer = unhold_answer;
    ags__send(s, ag->hold_server,
              ami_op_originate_exten(chan, s->cf->agents.parking_context, space,
                                     s->cf->agents.login_ring_timeout_s * 1000, cid, uid),
              op, "unhold Originate");
    if (op->outstanding == 0)
        ags__answer(s, op, 500, "Unable to end agent hold");
}

static ags_agent_t *holder_of(ags_t *s, const char *uid)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(s->agents, &it, &k, &v)) {
        ags_agent_t *ag = v;
        if (ag->hold_call && strcmp(ag->park_uid, uid) == 0)
            return ag;
    }
    return NULL;
}

void ags__park_event(ags_t *s, const ami_event_t *ev)
{
    if (!ev->parkee_uniqueid[0])
        return;
    ags_agent_t *ag = holder_of(s, ev->parkee_uniqueid);
    if (!ag)
        return;
    switch (ev->type) {
    case AMI_EV_PARKED_CALL:
        ag->park_space = ev->parking_space;
        LOG_INFO(AGS_MOD, "%s holds its customer in parking space %d", ag->number,
                 ev->parking_space);
        break;
    case AMI_EV_UNPARKED_CALL:
        hold_end(s, ag, "the customer is back", ev->retriever_channel);
        break;
    case AMI_EV_PARKED_CALL_GIVEUP: hold_end(s, ag, "the customer hung up", NULL); break;
    case AMI_EV_PARKED_CALL_TIMEOUT: hold_end(s, ag, "the parking space timed out", NULL); break;
    default: break;
    }
}

void ags__hold_change(ags_t *s, const reg_agent_t *a)
{
    ags_agent_t *ag = hmap_get(s->agents, a->number);
    if (!ag || !ag->hold_call)
        return;
    if (!a->on_hold && a->login != REG_LOGGED_IN) {
        hold_forget(ag); /* logged out: the registry dropped the hold already */
        return;
    }
    if (a->on_hold && a->call_id != ag->hold_call)
        hold_end(s, ag, "the call ended", NULL);
}

/* ---- after an AMI reconnect ---- */

static void restored(ags_t *s, ags_op_t *op, ami_response_t *r)
{
    const char *why;
    if (ami_op_ok(r, &why))
        atomic_fetch_add(&s->st_breaks_restored, 1);
    else
        LOG_WARN(AGS_MOD, "pause of %s not restored after the reconnect: %s", op->req.agent, why);
}

void ags__restore_pauses(ags_t *s, int server)
{
    reg_agent_t *list = NULL;
    size_t n = 0;
    if (reg_agent_list(s->reg, &list, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const reg_agent_t *a = &list[i];
        if (a->server != server || a->login != REG_LOGGED_IN || (a->break_id <= 0 && !a->on_hold))
            continue;
        ags_req_t req = {.op = AGS_PAUSE};
        snprintf(req.agent, sizeof(req.agent), "%s", a->number);
        ags_op_t *op = ags__op_new(s, &req);
        if (!op)
            break;
        op->answered = true;
        op->on_answer = restored;
        send_pause(s, op, server, a->number, true, a->break_id > 0 ? a->break_name : HOLD_REASON);
        ags__op_settle(s, op);
    }
    free(list);
}
