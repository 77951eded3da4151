/*
 * The callback context (conf/asterisk/extensions_ccdialer.conf [llamada_agendada]): the
 * answered customer leg runs Dial(${AGENTCHANNEL},300,tw) with AGENTCHANNEL =
 * Local/<n>@agents, whose ;2 half runs AgentRequest(<n>).  No queue is involved, so none of
 * app_queue's events (AgentCalled, AgentConnect, AgentComplete, QueueCaller*) are sent; the
 * agent side is what a queue call to that agent shows (ring_member/agent_answer in flow.c):
 * the Local pair, AgentRequest's bridge, the member status InUse, the agent's phone taken
 * out of its hold bridge, then the customer and the ;1 in one bridge.  No recording of this
 * path exists; the events are those of app_dial recorded elsewhere (DialBegin/DialState/
 * DialEnd with the caller and Dest blocks, queue_call_to_agent.txt, dynamic_member_call.txt).
 * Server thread only.
 */
#include <stdio.h>
#include <string.h>

#include "tools/pbxsim/flow_int.h"

/* Dial(...,300,...) in the callback context. */
#define CB_DIAL_TIMEOUT_MS 300000

pagent_t *pbx_call_agent(const pcall_t *c)
{
    if (c->member && c->member->agent)
        return c->member->agent;
    return c->cb_agent;
}

static void cb_answer(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (!c->cb_ringing || gen != c->ring_gen || !c->cb_agent || !c->a)
        return;
    pagent_t *ag = c->cb_agent;
    if (ag->p1) {
        pbx_bridge_put(s, c->br_agent, ag->p1); /* leaves agent_hold first */
        snprintf(c->m2->linkedid, sizeof c->m2->linkedid, "%s", ag->p1->linkedid);
    }
    pbx_e_newstate(s, c->m2, 6);
    pbx_e_newstate(s, c->m1, 6);
    pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", "ANSWER");
    c->cb_ringing = false;
    c->connected = true;
    c->connect_vms = pbx_vnow(s);
    c->br_call = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    pbx_bridge_put(s, c->br_call, c->m1);
    pbx_bridge_put(s, c->br_call, c->a);
}

static void cb_timeout(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (c->cb_ringing && gen == c->ring_gen)
        pbx_cb_dial_end(s, c, "NOANSWER");
}

void pbx_cb_dial_end(pbx_t *s, pcall_t *c, const char *dial_status)
{
    if (!c->cb_ringing)
        return;
    c->cb_ringing = false;
    c->ring_gen++;
    if (c->m1)
        pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", dial_status);
    if (c->m2) {
        pbx_bridge_take(s, c->m2);
        pbx_e_hangup_req(s, "HangupRequest", c->m2, 0);
    }
    if (c->m1)
        pbx_e_hangup(s, c->m1, 0);
    if (c->m2) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
        pbx_e_hangup(s, c->m2, 0);
    }
    pbx_drop_chan(s, c, &c->m1);
    pbx_drop_chan(s, c, &c->m2);
    pbx_unref_call_bridges(s, c);
    pagent_t *ag = c->cb_agent;
    c->cb_agent = NULL;
    if (ag && ag->busy_call == c) {
        ag->busy_call = NULL;
        if (ag->p1)
            pbx_e_moh(s, ag->p1, true);
        pbx_member_status_all(s, ag, NULL);
        pbx_kick_all(s);
    }
    /* Dial returned without an answer: the context's next step is Hangup() */
    if (strcmp(dial_status, "CANCEL") != 0 && c->a)
        pbx_hangup_channel(s, c->a, 16);
}

void pbx_cb_dial(pbx_t *s, pcall_t *c)
{
    pchan_t *a = c->a;
    const char *num = c->dest_exten;
    pagent_t *ag = pbx_agent_find(s, num);
    pchan_t *m1, *m2;
    if (pbx_local_pair(s, num, "agents", "", "", a->linkedid, c, &m1, &m2) != 0) {
        pbx_hangup_channel(s, a, 16);
        return;
    }
    c->m1 = m1;
    c->m2 = m2;
    c->cb_ringing = true;
    c->ring_vms = pbx_vnow(s);
    c->ring_gen++;
    snprintf(a->app, sizeof a->app, "Dial");
    snprintf(a->appdata, sizeof a->appdata, "Local/%s@agents,300,tw", num);
    pbx_e_newchannel(s, m1);
    pbx_e_newchannel(s, m2);
    pbx_set_cid_pair(m1, m2, c->cid_num, c->cid_name, false);
    pbx_e_localbridge(s, m1, m2);
    snprintf(m1->app, sizeof m1->app, "AppDial");
    snprintf(m1->appdata, sizeof m1->appdata, "(Outgoing Line)");
    snprintf(m2->app, sizeof m2->app, "AgentRequest");
    snprintf(m2->appdata, sizeof m2->appdata, "%s", num);
    snprintf(m1->con_num, sizeof m1->con_num, "%s", c->cid_num);
    snprintf(m1->con_name, sizeof m1->con_name, "%s", c->cid_name);
    char ds[64];
    snprintf(ds, sizeof ds, "%s@agents", num);
    pbx_e_dial(s, "DialBegin", a, m1, "DialString", ds);
    if (!ag || !ag->logged_in) {
        /* AgentRequest ends at once for an agent not logged in */
        pbx_cb_dial_end(s, c, "CHANUNAVAIL");
        return;
    }
    pbx_e_newstate(s, m1, 5);
    pbx_e_dial(s, "DialState", a, m1, "DialStatus", "RINGING");
    pbx_timer_add(s, CB_DIAL_TIMEOUT_MS, cb_timeout, c, c->ring_gen);
    if (!ag->ready || ag->busy_call)
        return; /* rings until the Dial's timeout */
    ag->busy_call = c;
    c->cb_agent = ag;
    c->br_agent = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    m2->prio = 2;
    pbx_bridge_put(s, c->br_agent, m2);
    if (ag->p1)
        pbx_e_moh(s, ag->p1, false);
    pbx_member_status_all(s, ag, NULL);
    pbx_timer_add(s, AGENT_ANSWER_MS, cb_answer, c, c->ring_gen);
}
