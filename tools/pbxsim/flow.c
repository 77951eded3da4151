/*
 * The call flows: Originate outcomes, queues, app_agent_pool agents and the
 * ways calls end.  Each function emits events in the order the recordings in
 * test/data/asterisk/transcripts show for that step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "tools/pbxsim/flow_int.h"

int64_t pbx_wall_s(pbx_t *s)
{
    return (s->wall0_ms + pbx_vnow(s)) / 1000;
}

/* ---------------- call objects ---------------- */

pcall_t *pbx_call_new(pbx_t *s)
{
    pcall_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = ++s->call_seq;
    c->refs = 1;
    c->agi_fd = -1;
    buf_init(&c->agi_in, 16384);
    buf_init(&c->agi_out, 65536);
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;
    return c;
}

void pbx_call_ref(pcall_t *c)
{
    c->refs++;
}

void pbx_call_unref(pbx_t *s, pcall_t *c)
{
    if (--c->refs > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    buf_free(&c->agi_in);
    buf_free(&c->agi_out);
    free(c);
}

void pbx_call_finish(pbx_t *s, pcall_t *c)
{
    if (c->dead)
        return;
    c->dead = true;
    pbx_agi_close(s, c);
    pbx_call_unref(s, c);
}

/* Frees a channel the flow still points to. */
void pbx_drop_chan(pbx_t *s, pcall_t *c, pchan_t **pp)
{
    (void)c;
    if (*pp) {
        pbx_chan_free(s, *pp);
        *pp = NULL;
    }
}

/* ---------------- queues and members ---------------- */

pqueue_t *pbx_queue_find(pbx_t *s, const char *name)
{
    for (int i = 0; i < s->nqueues; i++)
        if (strcmp(s->queues[i].name, name) == 0)
            return &s->queues[i];
    return NULL;
}

/* Agents are numbered from agent_base: the number is the index, and the
 * comparison refuses other spellings of it ("09000", "9000x"). */
pagent_t *pbx_agent_find(pbx_t *s, const char *id)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(id, &end, 10);
    if (errno || end == id || *end || v < s->o.agent_base)
        return NULL;
    unsigned long i = v - s->o.agent_base;
    if (i >= (unsigned long)s->nagents || strcmp(s->agents[i].id, id) != 0)
        return NULL;
    return &s->agents[i];
}

int pbx_queue_add_member(pqueue_t *q, pmember_t *m)
{
    if (q->nmembers == q->capmembers) {
        int cap = q->capmembers ? 2 * q->capmembers : 16;
        pmember_t **a = realloc(q->members, (size_t)cap * sizeof *a);
        if (!a)
            return -1;
        q->members = a;
        q->capmembers = cap;
    }
    q->members[q->nmembers++] = m;
    return 0;
}

int pbx_member_status(const pmember_t *m)
{
    if (m->agent) {
        if (!m->agent->logged_in || !m->agent->ready)
            return 5;
        return m->agent->busy_call ? 2 : 1;
    }
    /* Device state as this PBX reports it (queue_add_penalty_reason.txt): a
     * Custom: state nobody set is UNKNOWN (0, app_queue still rings it), and
     * a technology without a channel driver (no SIP/PJSIP/IAX2 here) INVALID. */
    if (strncasecmp(m->state_if, "Custom:", 7) == 0)
        return m->busy ? 2 : 0;
    if (strncasecmp(m->state_if, "Local/", 6) != 0)
        return 4;
    return m->busy ? 2 : 1;
}

void pbx_member_status_all(pbx_t *s, pagent_t *a, pmember_t *only)
{
    for (int i = 0; i < s->nqueues; i++)
        for (int j = 0; j < s->queues[i].nmembers; j++) {
            pmember_t *m = s->queues[i].members[j];
            if ((a && m->agent == a) || m == only)
                pbx_e_member(s, "QueueMemberStatus", &s->queues[i], m);
        }
}

static void wrap_kick(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)c;
    (void)arg;
    pbx_kick_all(s);
}

/* app_queue's wrap-up: the member's own wrapuptime, else the queue's, counted from its
 * LastCall in whole seconds as Asterisk does.  A member turned down for it gets one queue
 * kick at the end. */
static bool in_wrapup(pbx_t *s, pmember_t *m)
{
    uint32_t w = s->o.wrapup_s ? s->o.wrapup_s : s->o.queue_wrapup_s;
    if (!w || m->last_call <= 0 || pbx_wall_s(s) - m->last_call >= (int64_t)w)
        return false;
    int64_t end_vms = (m->last_call + (int64_t)w) * 1000 - s->wall0_ms;
    if (m->wrap_kick_vms != end_vms &&
        pbx_timer_add(s, end_vms - pbx_vnow(s), wrap_kick, NULL, 0) == 0)
        m->wrap_kick_vms = end_vms;
    return true;
}

static bool member_free(pbx_t *s, pmember_t *m)
{
    if (m->paused || m->busy || pbx_vnow(s) < m->next_try_vms || in_wrapup(s, m))
        return false;
    if (m->agent && m->agent->busy_call)
        return false;
    int st = pbx_member_status(m);
    return st == 1 || st == 0; /* app_queue offers calls to UNKNOWN members too */
}

static int caller_index(pqueue_t *q, pcall_t *c)
{
    for (int i = 0; i < q->ncallers; i++)
        if (q->callers[i] == c)
            return i;
    return -1;
}

void pbx_queue_remove_caller(pqueue_t *q, pcall_t *c)
{
    int i = caller_index(q, c);
    if (i < 0)
        return;
    memmove(&q->callers[i], &q->callers[i + 1], (size_t)(q->ncallers - i - 1) * sizeof q->callers[0]);
    q->ncallers--;
}

void pbx_caller_leave_event(pbx_t *s, pcall_t *c, const char *event)
{
    pqueue_t *q = c->queue;
    int pos = caller_index(q, c) + 1;
    pbx_ev_begin(s, event, "agent,all");
    pbx_ev_chan(s, "", c->a);
    pbx_ev_kv(s, "Queue", "%s", q->name);
    pbx_ev_kv(s, "Position", "%d", pos);
    if (strcmp(event, "QueueCallerAbandon") == 0) {
        pbx_ev_kv(s, "OriginalPosition", "%d", c->orig_pos);
        pbx_ev_kv(s, "HoldTime", "%lld", (long long)((pbx_vnow(s) - c->join_vms) / 1000));
    } else {
        pbx_ev_kv(s, "Count", "%d", q->ncallers - 1);
    }
    pbx_ev_end(s);
}

void pbx_agent_event(pbx_t *s, const char *event, pcall_t *c, bool caller_block, bool dest_block)
{
    pmember_t *m = c->member;
    pbx_ev_begin(s, event, "agent,all");
    if (caller_block && c->a)
        pbx_ev_chan(s, "", c->a);
    if (dest_block && c->m1)
        pbx_ev_chan(s, "Dest", c->m1);
    pbx_ev_kv(s, "Queue", "%s", c->queue->name);
    pbx_ev_kv(s, "Interface", "%s", m->interface);
    pbx_ev_kv(s, "MemberName", "%s", m->name);
}

/* AgentComplete: hold time from join to connect, talk time from connect to now.
 * Asterisk builds the caller and Dest blocks from channel snapshots that may
 * already be gone, and which ones are left varies from run to run of the same
 * steps (README "More real behaviour" (a)): either block a recording has is
 * left out now and then (seeded), so no client can come to rely on it. */
void pbx_agent_complete(pbx_t *s, pcall_t *c, bool caller_block, bool dest_block, const char *reason)
{
    if (!c->queue || !c->member)
        return; /* a callback's Dial (callback.c): no queue, no AgentComplete */
    if (caller_block && pbx_vary(s, 1, 8))
        caller_block = false;
    if (dest_block && pbx_vary(s, 1, 8))
        dest_block = false;
    pbx_agent_event(s, "AgentComplete", c, caller_block, dest_block);
    pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
    pbx_ev_kv(s, "TalkTime", "%lld", (long long)((pbx_vnow(s) - c->connect_vms) / 1000));
    pbx_ev_kv(s, "Reason", "%s", reason);
    pbx_ev_end(s);
}

static void split_iface(const char *iface, char *exten, size_t en, char *ctx, size_t cn)
{
    const char *p = strchr(iface, '/');
    p = p ? p + 1 : iface;
    const char *at = strchr(p, '@');
    size_t el = at ? (size_t)(at - p) : strlen(p);
    snprintf(exten, en, "%.*s", (int)el, p);
    snprintf(ctx, cn, "%s", at ? at + 1 : "default");
}

void pbx_set_cid_pair(pchan_t *one, pchan_t *two, const char *num, const char *name, bool one_con)
{
    if (!num[0] && !name[0])
        return; /* no CallerID given: the legs keep <unknown> */
    snprintf(one->cid_num, sizeof one->cid_num, "%s", num);
    snprintf(one->cid_name, sizeof one->cid_name, "%s", name);
    snprintf(two->cid_num, sizeof two->cid_num, "%s", num);
    snprintf(two->cid_name, sizeof two->cid_name, "%s", name);
    snprintf(two->con_num, sizeof two->con_num, "%s", num);
    snprintf(two->con_name, sizeof two->con_name, "%s", name);
    if (one_con) {
        snprintf(one->con_num, sizeof one->con_num, "%s", num);
        snprintf(one->con_name, sizeof one->con_name, "%s", name);
    }
}

static void connect_call(pbx_t *s, pcall_t *c);
static void ring_noanswer(pbx_t *s, pcall_t *c, uint64_t gen);
static void agent_answer(pbx_t *s, pcall_t *c, uint64_t gen);
static void retry_kick(pbx_t *s, pcall_t *c, uint64_t arg);

static void ring_member(pbx_t *s, pcall_t *c, pmember_t *m)
{
    char exten[32], ctx[32];
    split_iface(m->interface, exten, sizeof exten, ctx, sizeof ctx);
    pchan_t *m1, *m2;
    if (pbx_local_pair(s, exten, ctx, "", "", c->a->linkedid, c, &m1, &m2) != 0)
        return;
    c->m1 = m1;
    c->m2 = m2;
    c->member = m;
    m->busy = c;
    c->ringing = true;
    c->ring_vms = pbx_vnow(s);
    c->ring_gen++;
    pbx_e_newchannel(s, m1);
    pbx_e_newchannel(s, m2);
    pbx_set_cid_pair(m1, m2, c->cid_num, c->cid_name, false);
    pbx_e_localbridge(s, m1, m2);
    snprintf(m1->app, sizeof m1->app, "AppQueue");
    snprintf(m1->appdata, sizeof m1->appdata, "(Outgoing Line)");
    if (!strcmp(ctx, "agents")) {
        snprintf(m2->app, sizeof m2->app, "AgentRequest");
        snprintf(m2->appdata, sizeof m2->appdata, "%s", exten);
    } else if (!strcmp(ctx, "phones") && strncmp(exten, "19", 2) != 0) {
        snprintf(m2->app, sizeof m2->app, "Wait");
        snprintf(m2->appdata, sizeof m2->appdata, "3600");
    }
    snprintf(m1->con_num, sizeof m1->con_num, "%s", c->cid_num);
    snprintf(m1->con_name, sizeof m1->con_name, "%s", c->cid_name);
    bool is_agent = m->agent && strcmp(ctx, "agents") == 0;
    bool auto_answer = !is_agent && strcmp(ctx, "phones") == 0 && strncmp(exten, "19", 2) != 0;
    char dialstr[80];
    snprintf(dialstr, sizeof dialstr, "%s", m->interface);
    if (!is_agent && !auto_answer)
        pbx_e_newstate(s, m1, 5);
    /* app_queue shows the queue's exten on the member leg once it is called */
    snprintf(m1->exten, sizeof m1->exten, "%s", c->queue->name);
    pbx_agent_event(s, "AgentCalled", c, true, true);
    pbx_ev_end(s);
    snprintf(m1->exten, sizeof m1->exten, "%s", exten);
    pbx_e_dial(s, "DialBegin", c->a, m1, "DialString", dialstr);
    snprintf(m1->exten, sizeof m1->exten, "%s", c->queue->name);
    if (is_agent) {
        pagent_t *ag = m->agent;
        ag->busy_call = c;
        c->br_agent = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
        m2->prio = 2;
        pbx_bridge_put(s, c->br_agent, m2);
        pbx_e_newstate(s, m1, 5);
        if (ag->p1)
            pbx_e_moh(s, ag->p1, false);
        pbx_e_dial(s, "DialState", c->a, m1, "DialStatus", "RINGING");
        pbx_member_status_all(s, ag, NULL);
        pbx_timer_add(s, AGENT_ANSWER_MS, agent_answer, c, c->ring_gen);
    } else if (auto_answer) {
        pbx_e_newstate(s, m2, 6);
        pbx_member_status_all(s, NULL, m);
        pbx_e_newstate(s, m1, 6);
        pbx_e_dial(s, "DialEnd", c->a, m1, "DialStatus", "ANSWER");
        connect_call(s, c);
    } else {
        pbx_member_status_all(s, NULL, m);
        pbx_e_dial(s, "DialState", c->a, m1, "DialStatus", "RINGING");
        pbx_timer_add(s, Q_TIMEOUT_MS, ring_noanswer, c, c->ring_gen);
    }
}

static void agent_answer(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (!c->ringing || gen != c->ring_gen || !c->member || !c->member->agent)
        return;
    pagent_t *ag = c->member->agent;
    if (ag->p1) {
        pbx_bridge_put(s, c->br_agent, ag->p1); /* leaves agent_hold first */
        snprintf(c->m2->linkedid, sizeof c->m2->linkedid, "%s", ag->p1->linkedid);
    }
    pbx_e_newstate(s, c->m2, 6);
    pbx_e_newstate(s, c->m1, 6);
    pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", "ANSWER");
    connect_call(s, c);
}

static void connect_call(pbx_t *s, pcall_t *c)
{
    pqueue_t *q = c->queue;
    c->ringing = false;
    c->connected = true;
    c->connect_vms = pbx_vnow(s);
    pbx_e_moh(s, c->a, false);
    pbx_caller_leave_event(s, c, "QueueCallerLeave");
    pbx_queue_remove_caller(q, c);
    pbx_agent_event(s, "AgentConnect", c, true, true);
    pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
    pbx_ev_kv(s, "RingTime", "%lld", (long long)((c->connect_vms - c->ring_vms) / 1000));
    pbx_ev_end(s);
    c->br_call = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    pbx_bridge_put(s, c->br_call, c->m1);
    pbx_bridge_put(s, c->br_call, c->a);
    /* setinterfacevar / setqueuevar / setqueueentryvar = yes */
    const char *vars[][2] = {{"MEMBERINTERFACE", c->member->interface}, {"MEMBERNAME", c->member->name},
                             {"QUEUENAME", q->name}};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        pbx_chan_setvar(c->a, vars[i][0], vars[i][1]);
        pbx_e_varset(s, c->a, vars[i][0], vars[i][1]);
    }
}

/* Tears down the member legs after a ring that ended without answer. */
void pbx_drop_member_legs(pbx_t *s, pcall_t *c, bool cancel_twice)
{
    pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", cancel_twice ? "CANCEL" : "NOANSWER");
    pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", "CANCEL");
    pbx_e_hangup_req(s, "HangupRequest", c->m2, 0);
    pbx_e_hangup(s, c->m1, 0);
    pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
    pbx_e_hangup(s, c->m2, 0);
    pbx_drop_chan(s, c, &c->m1);
    pbx_drop_chan(s, c, &c->m2);
}

void pbx_release_member(pbx_t *s, pcall_t *c, bool status_event)
{
    pagent_t *cb = c->cb_agent; /* a callback's agent: no member of a queue took the call */
    c->cb_agent = NULL;
    if (cb && cb->busy_call == c) {
        cb->busy_call = NULL;
        if (status_event)
            pbx_member_status_all(s, cb, NULL);
    }
    pmember_t *m = c->member;
    if (!m)
        return;
    if (m->agent && m->agent->busy_call == c)
        m->agent->busy_call = NULL;
    if (m->busy == c)
        m->busy = NULL;
    c->member = NULL;
    if (status_event) {
        if (m->agent)
            pbx_member_status_all(s, m->agent, NULL);
        else
            pbx_member_status_all(s, NULL, m);
    }
}

static void ring_noanswer(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (!c->ringing || gen != c->ring_gen || !c->member)
        return;
    pmember_t *m = c->member;
    pbx_agent_event(s, "AgentRingNoAnswer", c, true, true);
    pbx_ev_kv(s, "RingTime", "%lld", (long long)(pbx_vnow(s) - c->ring_vms));
    pbx_ev_end(s);
    pbx_drop_member_legs(s, c, false);
    c->ringing = false;
    m->next_try_vms = pbx_vnow(s) + Q_RETRY_MS;
    pbx_release_member(s, c, true);
    pbx_timer_add(s, Q_RETRY_MS, retry_kick, c, 0);
}

static void retry_kick(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)arg;
    if (c->queue)
        pbx_queue_kick(s, c->queue);
}

void pbx_queue_kick(pbx_t *s, pqueue_t *q)
{
    for (int i = 0; i < q->ncallers; i++) {
        pcall_t *c = q->callers[i];
        if (c->ringing || c->connected || c->dead)
            continue;
        if (q->nmembers == 0)
            return;
        pmember_t *pick = NULL;
        for (int k = 0; k < q->nmembers; k++) {
            pmember_t *m = q->members[(q->rr + (unsigned)k) % (unsigned)q->nmembers];
            if (member_free(s, m)) {
                pick = m;
                q->rr = (q->rr + (unsigned)k + 1) % (unsigned)q->nmembers;
                break;
            }
        }
        if (!pick)
            return;
        ring_member(s, c, pick);
        if (c->dead || !c->queue)
            return; /* the list may have changed under us */
    }
}

void pbx_kick_all(pbx_t *s)
{
    for (int i = 0; i < s->nqueues; i++)
        pbx_queue_kick(s, &s->queues[i]);
}

void pbx_queue_join(pbx_t *s, pcall_t *c, pqueue_t *q)
{
    pchan_t *a = c->a;
    if (q->ncallers >= PQ_CALLERS) {
        pbx_hangup_channel(s, a, 16);
        return;
    }
    a->prio = 3;
    snprintf(a->app, sizeof a->app, "Queue");
    snprintf(a->appdata, sizeof a->appdata, "%s,%s,,,300", q->name,
             strcmp(a->context, "dialer-queue-xfer") == 0 ? "tT" : "");
    pbx_e_newexten(s, a, "Queue", a->appdata);
    c->queue = q;
    c->xfer_ok = strcmp(a->context, "dialer-queue-xfer") == 0;
    c->join_vms = pbx_vnow(s);
    q->callers[q->ncallers++] = c;
    c->orig_pos = q->ncallers;
    pbx_ev_begin(s, "QueueCallerJoin", "agent,all");
    pbx_ev_chan(s, "", a);
    pbx_ev_kv(s, "Queue", "%s", q->name);
    pbx_ev_kv(s, "Position", "%d", q->ncallers);
    pbx_ev_kv(s, "Count", "%d", q->ncallers);
    pbx_ev_end(s);
    pbx_e_moh(s, a, true);
    pbx_queue_kick(s, q);
}

/* ---------------- agents ---------------- */

static void agent_ready(pbx_t *s, pcall_t *c, uint64_t gen)
{
    pagent_t *ag = c->agent;
    if (!ag || !ag->logged_in || ag->login_gen != gen || ag->ready)
        return;
    ag->ready = true;
    if (!s->o.quiet_noise) {
        pbx_ev_begin(s, "DeviceStateChange", "call,all");
        pbx_ev_kv(s, "Device", "Agent:%s", ag->id);
        pbx_ev_kv(s, "State", "NOT_INUSE");
        pbx_ev_end(s);
    }
    pbx_member_status_all(s, ag, NULL);
    pbx_kick_all(s);
}

static void agent_login(pbx_t *s, pcall_t *c)
{
    pagent_t *ag = pbx_agent_find(s, c->dest_exten);
    pchan_t *a = c->a;
    a->prio = 2;
    snprintf(a->app, sizeof a->app, "AgentLogin");
    snprintf(a->appdata, sizeof a->appdata, "%s,s", c->dest_exten);
    pbx_e_newexten(s, a, "AgentLogin", a->appdata);
    if (!ag || ag->logged_in) {
        /* AgentLogin fails and the dialplan hangs up */
        pbx_hangup_channel(s, a, 16);
        return;
    }
    if (!s->hold_bridge)
        s->hold_bridge = pbx_bridge_new(s, "agent_hold", "holding_bridge", "AgentPool");
    ag->logged_in = true;
    ag->ready = false;
    ag->p1 = a;
    ag->p2 = c->b;
    ag->login_call = c;
    ag->login_wall = pbx_wall_s(s);
    ag->login_gen++;
    c->agent = ag;
    pbx_ev_begin(s, "AgentLogin", "agent,all");
    pbx_ev_chan(s, "", a);
    pbx_ev_kv(s, "Agent", "%s", ag->id);
    pbx_ev_end(s);
    pbx_bridge_put(s, s->hold_bridge, a);
    pbx_e_moh(s, a, true);
    uint32_t wait = s->o.agent_login_wait_ms ? s->o.agent_login_wait_ms : 5000;
    pbx_timer_add(s, wait, agent_ready, c, ag->login_gen);
}

static void agent_off_common(pbx_t *s, pagent_t *ag)
{
    pbx_ev_begin(s, "AgentLogoff", "agent,all");
    pbx_ev_chan(s, "", ag->p1);
    pbx_ev_kv(s, "Agent", "%s", ag->id);
    pbx_ev_kv(s, "Logintime", "%lld", (long long)(pbx_wall_s(s) - ag->login_wall));
    pbx_ev_end(s);
    ag->logged_in = false;
    ag->ready = false;
}


/* by_action: AgentLogoff; otherwise the phone hung up (Hangup action on a phone leg). */
void pbx_agent_logoff(pbx_t *s, pagent_t *ag, bool by_action)
{
    if (!ag->logged_in)
        return;
    if (ag->busy_call)
        pbx_queue_call_end(s, ag->busy_call, 4);
    pcall_t *c = ag->login_call;
    pchan_t *p1 = ag->p1, *p2 = ag->p2;
    if (by_action)
        pbx_e_hangup_req(s, "SoftHangupRequest", p1, 32);
    pbx_e_moh(s, p1, false);
    pbx_bridge_take(s, p1);
    agent_off_common(s, ag);
    if (by_action) {
        pbx_e_hangup_req(s, "SoftHangupRequest", p1, 16);
        pbx_member_status_all(s, ag, NULL);
    } else {
        pbx_member_status_all(s, ag, NULL);
        pbx_e_hangup_req(s, "SoftHangupRequest", p1, 16);
    }
    pbx_e_hangup_req(s, "HangupRequest", p2, 16);
    pbx_e_cdr(s, p2, "ANSWERED");
    pbx_e_hangup_req(s, "SoftHangupRequest", p2, 16);
    pbx_e_hangup(s, p2, 16);
    pbx_e_hangup(s, p1, 16);
    pbx_e_cdr(s, p1, "ANSWERED");
    ag->p1 = ag->p2 = NULL;
    ag->login_call = NULL;
    if (c) {
        pbx_drop_chan(s, c, &c->a);
        pbx_drop_chan(s, c, &c->b);
        c->agent = NULL;
        pbx_call_finish(s, c);
    }
}

/* ---------------- ends of calls ---------------- */

/* Hangs up both legs of the originated pair, ;1 running plain dialplan. */
static void end_plain(pbx_t *s, pcall_t *c, bool far_end, bool soft_a)
{
    if (c->agi_fd >= 0 && !c->agi_hangup_sent) {
        /* The AGI script learns of the hangup; ;1 goes when the script ends. */
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
        pbx_drop_chan(s, c, &c->b);
        pbx_agi_hangup(s, c);
        return;
    }
    if (far_end) {
        if (c->b) {
            pbx_e_cdr(s, c->b, "ANSWERED");
            pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        }
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        if (c->b)
            pbx_e_hangup(s, c->b, 16);
        if (soft_a)
            pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
        pbx_e_hangup(s, c->a, 16);
        pbx_e_cdr(s, c->a, "ANSWERED");
    } else {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
        if (c->b)
            pbx_e_hangup_req(s, "HangupRequest", c->b, 16);
        pbx_e_hangup(s, c->a, 16);
        if (c->b) {
            pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
            pbx_e_hangup(s, c->b, 16);
        }
    }
    pbx_drop_chan(s, c, &c->a);
    pbx_drop_chan(s, c, &c->b);
    pbx_call_finish(s, c);
}

void pbx_agent_back_to_hold(pbx_t *s, pcall_t *c, bool moh)
{
    pagent_t *ag = pbx_call_agent(c);
    if (!ag || !ag->p1 || !ag->logged_in)
        return;
    pchan_t *p1 = ag->p1;
    snprintf(p1->linkedid, sizeof p1->linkedid, "%s", p1->uniqueid);
    if (s->hold_bridge)
        pbx_bridge_put(s, s->hold_bridge, p1);
    else
        pbx_bridge_take(s, p1);
    if (moh)
        pbx_e_moh(s, p1, true);
}

static void member_done(pbx_t *s, pcall_t *c, bool completed)
{
    pmember_t *m = c->member;
    if (m && completed && c->queue) {
        m->calls_taken++;
        m->last_call = pbx_wall_s(s);
        c->queue->completed++;
        c->queue->talk_total += (pbx_vnow(s) - c->connect_vms) / 1000;
    }
    pbx_release_member(s, c, true);
}

void pbx_unref_call_bridges(pbx_t *s, pcall_t *c)
{
    pbridge_t *b1 = c->br_call, *b2 = c->br_agent;
    c->br_call = c->br_agent = NULL;
    pbx_bridge_unref(s, b1);
    pbx_bridge_unref(s, b2);
}

/*
 * A connected queue call ends.  who: 0 customer far end (;2 of the customer,
 * the normal end of talk), 1 customer ;1 (AMI Hangup), 2 member ;1,
 * 3 member ;2 (the agent side), 4 the agent logs off / restart.
 */
void pbx_queue_call_end(pbx_t *s, pcall_t *c, int who)
{
    if (!c->connected)
        return;
    c->connected = false;
    const char *reason = (who == 3 || who == 4) ? "agent" : "caller";
    bool cblock = who != 1 && who != 2;
    bool dblock = who != 2 && who != 3 && !c->was_parked;
    switch (who) {
    case 0:
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
        break;
    case 1:
        pbx_bridge_take(s, c->a);
        pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->b, 16);
        pbx_e_hangup(s, c->a, 16);
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup(s, c->b, 16);
        break;
    case 2:
        pbx_bridge_take(s, c->m1);
        pbx_e_hangup_req(s, "HangupRequest", c->m2, 16);
        pbx_e_hangup(s, c->m1, 16);
        pbx_bridge_take(s, c->a);
        pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->b, 16);
        pbx_e_hangup(s, c->a, 16);
        break;
    case 3:
        pbx_bridge_take(s, c->m2);
        pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->m1, 16);
        pbx_e_hangup(s, c->m2, 16);
        pbx_bridge_take(s, c->m1);
        pbx_e_hangup(s, c->m1, 16);
        pbx_agent_back_to_hold(s, c, false);
        break;
    default:
        break;
    }
    if (!c->masq && !c->complete_sent && c->member && c->queue) {
        pbx_agent_complete(s, c, cblock, dblock, reason);
    }
    /* what is still up goes down */
    if (c->a) {
        pbx_bridge_take(s, c->a);
        if (who == 0 || who == 3 || who == 4) {
            pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
            if (who != 0 && c->b)
                pbx_e_hangup_req(s, "HangupRequest", c->b, 16);
            pbx_e_hangup(s, c->a, 16);
        }
    }
    if (c->m1) {
        pbx_bridge_take(s, c->m1);
        if (c->m2)
            pbx_e_hangup_req(s, "HangupRequest", c->m2, 16);
        if (who != 2 && who != 3)
            pbx_e_hangup(s, c->m1, 16);
    }
    if (c->m2 && who != 3) {
        pbx_bridge_take(s, c->m2);
        pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
        pbx_e_hangup(s, c->m2, 16);
    }
    if (c->b && who != 0 && who != 1) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    if (who != 3 && who != 4)
        pbx_agent_back_to_hold(s, c, true);
    pchan_t *p1 = (who == 3 && pbx_call_agent(c)) ? pbx_call_agent(c)->p1 : NULL;
    pbx_drop_chan(s, c, &c->m1);
    pbx_drop_chan(s, c, &c->m2);
    pbx_unref_call_bridges(s, c);
    member_done(s, c, true);
    if (p1) /* the agent phone's MOH resumes after the customer is gone */
        pbx_e_moh(s, p1, true);
    pbx_drop_chan(s, c, &c->a);
    pbx_drop_chan(s, c, &c->b);
    c->queue = NULL;
    pbx_call_finish(s, c);
    pbx_kick_all(s);
}

/* The caller leaves a queue before being connected. */
static void queue_abandon(pbx_t *s, pcall_t *c, bool far_end)
{
    pqueue_t *q = c->queue;
    if (far_end) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    pbx_e_moh(s, c->a, false);
    if (c->ringing && c->m1) {
        pbx_drop_member_legs(s, c, true);
        c->ringing = false;
    }
    pbx_caller_leave_event(s, c, "QueueCallerAbandon");
    pbx_caller_leave_event(s, c, "QueueCallerLeave");
    pbx_queue_remove_caller(q, c);
    q->abandoned++;
    pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
    if (!far_end && c->b)
        pbx_e_hangup_req(s, "HangupRequest", c->b, 16);
    pbx_e_hangup(s, c->a, 16);
    if (!far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    pbx_unref_call_bridges(s, c);
    pbx_release_member(s, c, c->member != NULL);
    pbx_drop_chan(s, c, &c->a);
    pbx_drop_chan(s, c, &c->b);
    c->queue = NULL;
    pbx_call_finish(s, c);
    pbx_kick_all(s);
}

/* The customer (;2, the "PSTN" side) hangs up after TALK seconds. */
static void customer_hangup(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)arg;
    if (!c->b || !c->a)
        return;
    if (c->parked || (c->retrieving && c->was_parked)) {
        pbx_park_giveup(s, c, true);
    } else if (c->detached && !c->connected) {
        pbx_detached_end(s, c, true);
    } else if (c->held) {
        c->masq = true; /* AMI never shows this one's AgentComplete either */
        c->held = false;
        pbx_e_moh(s, c->a, false);
        c->connected = true;
        pbx_queue_call_end(s, c, 0);
    } else if (c->connected) {
        pbx_queue_call_end(s, c, 0);
    } else if (c->queue) {
        queue_abandon(s, c, true);
    } else if (c->agent) {
        pbx_agent_logoff(s, c->agent, false);
    } else {
        pbx_cb_dial_end(s, c, "CANCEL"); /* a callback's Dial still ringing */
        end_plain(s, c, true, !c->use_app);
    }
}

int pbx_hangup_channel(pbx_t *s, pchan_t *ch, int cause)
{
    (void)cause;
    pcall_t *c = ch->call;
    if (!c) {
        pbx_e_hangup(s, ch, 16);
        pbx_chan_free(s, ch);
        return 0;
    }
    if (c->agent && (ch == c->a || ch == c->b)) {
        pbx_agent_logoff(s, c->agent, false);
        return 0;
    }
    if (c->parked && (ch == c->a || ch == c->b)) {
        pbx_park_giveup(s, c, ch == c->b);
        return 0;
    }
    if (c->detached && !c->connected && (ch == c->a || ch == c->b || ch == c->t1 || ch == c->t2)) {
        pbx_detached_end(s, c, ch == c->b);
        return 0;
    }
    if (c->connected && c->atx_ready && ch == c->m1) {
        pbx_atx_complete(s, c);
        return 0;
    }
    if (c->connected) {
        int who = ch == c->b ? 0 : ch == c->a ? 1 : ch == c->m1 ? 2 : 3;
        pbx_queue_call_end(s, c, who);
        return 0;
    }
    if (c->queue && (ch == c->a || ch == c->b)) {
        queue_abandon(s, c, ch == c->b);
        return 0;
    }
    if (c->queue && c->ringing && (ch == c->m1 || ch == c->m2)) {
        ring_noanswer(s, c, c->ring_gen);
        return 0;
    }
    if (c->cb_ringing) {
        bool customer = ch == c->a || ch == c->b;
        pbx_cb_dial_end(s, c, customer ? "CANCEL" : "NOANSWER");
        if (!customer)
            return 0; /* the customer leg followed (the context's Hangup) */
    }
    if (!c->answered) {
        /* hangup while the originate still rings: a failed originate */
        if (!c->orig_sent) {
            pbx_ev_begin(s, "OriginateResponse", "call,all");
            pbx_ev_kv(s, "ActionID", "%s", c->action_id);
            pbx_ev_kv(s, "Response", "Failure");
            pbx_ev_kv(s, "Channel", "%s", c->dialstr);
            pbx_ev_kv(s, c->use_app ? "Application" : "Context", "%s", c->use_app ? c->dest_app : c->dest_ctx);
            pbx_ev_kv(s, c->use_app ? "Data" : "Exten", "%s", c->use_app ? c->dest_data : c->dest_exten);
            pbx_ev_kv(s, "Reason", "1");
            pbx_ev_kv(s, "Uniqueid", "%s", c->chan_id[0] ? c->chan_id : "<unknown>");
            pbx_ev_kv(s, "CallerIDNum", "%s", c->cid_num);
            pbx_ev_kv(s, "CallerIDName", "%s", c->cid_name);
            pbx_ev_end(s);
            c->orig_sent = true;
        }
        if (c->b)
            pbx_e_hangup(s, c->b, 16);
        if (c->a)
            pbx_e_hangup(s, c->a, 16);
        pbx_drop_chan(s, c, &c->a);
        pbx_drop_chan(s, c, &c->b);
        pbx_call_finish(s, c);
        return 0;
    }
    end_plain(s, c, ch == c->b, !c->use_app);
    return 0;
}

/* ---------------- Originate ---------------- */

void pbx_orig_response(pbx_t *s, pcall_t *c, bool ok, int reason)
{
    if (c->orig_sent)
        return;
    c->orig_sent = true;
    pbx_ev_begin(s, "OriginateResponse", "call,all");
    pbx_ev_kv(s, "ActionID", "%s", c->action_id);
    pbx_ev_kv(s, "Response", "%s", ok ? "Success" : "Failure");
    pbx_ev_kv(s, "Channel", "%s", ok ? c->a->name : c->dialstr);
    if (c->use_app) {
        pbx_ev_kv(s, "Application", "%s", c->dest_app);
        pbx_ev_kv(s, "Data", "%s", c->dest_data);
    } else {
        pbx_ev_kv(s, "Context", "%s", c->dest_ctx);
        pbx_ev_kv(s, "Exten", "%s", c->dest_exten);
    }
    pbx_ev_kv(s, "Reason", "%d", reason);
    pbx_ev_kv(s, "Uniqueid", "%s", ok ? c->a->uniqueid : (c->chan_id[0] ? c->chan_id : "<unknown>"));
    pbx_ev_kv(s, "CallerIDNum", "%s", c->cid_num);
    pbx_ev_kv(s, "CallerIDName", "%s", c->cid_name);
    pbx_ev_end(s);
}

static void orig_answer(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)arg;
    if (c->answered || !c->a)
        return;
    c->answered = true;
    s->processed_calls++;
    pbx_e_newstate(s, c->b, 6);
    pbx_e_newstate(s, c->a, 6);
    pbx_e_dial(s, "DialEnd", NULL, c->a, "DialStatus", "ANSWER");
    pchan_t *a = c->a;
    /* what the called side runs now (Status / CoreShowChannels, agents_oncall.txt) */
    if (!strcmp(c->callee_ctx, "customers") && c->callee[0] == '5') {
        snprintf(c->b->app, sizeof c->b->app, "Wait");
        snprintf(c->b->appdata, sizeof c->b->appdata, "%u", c->talk_ms / 1000);
    } else if (!strcmp(c->callee_ctx, "customers") && c->callee[0] == '4') {
        snprintf(c->b->app, sizeof c->b->app, "Echo");
    } else if (!strcmp(c->callee_ctx, "phones")) {
        snprintf(c->b->app, sizeof c->b->app, "Wait");
        snprintf(c->b->appdata, sizeof c->b->appdata, "3600");
    }
    if (c->use_app) {
        snprintf(a->app, sizeof a->app, "%s", c->dest_app);
        snprintf(a->appdata, sizeof a->appdata, "%s", c->dest_data);
    } else {
        snprintf(a->context, sizeof a->context, "%s", c->dest_ctx);
        snprintf(a->exten, sizeof a->exten, "%s", c->dest_exten);
        a->prio = 1;
        pbx_e_newexten(s, a, "NoOp", "");
    }
    pbx_orig_response(s, c, true, 4);
    if (c->talk_ms > 0)
        pbx_timer_add(s, c->talk_ms, customer_hangup, c, 0);
    switch (c->dest) {
    case DEST_QUEUE: {
        pqueue_t *q = pbx_queue_find(s, c->dest_exten);
        if (q)
            pbx_queue_join(s, c, q);
        break;
    }
    case DEST_AGENTLOGIN:
        agent_login(s, c);
        break;
    case DEST_AGI:
        a->prio = 4;
        pbx_agi_start(s, c);
        break;
    case DEST_ASYNCAGI:
        pbx_asyncagi_start(s, c);
        break;
    case DEST_CALLBACK:
        pbx_cb_dial(s, c);
        break;
    default:
        break;
    }
}

void pbx_orig_fail(pbx_t *s, pcall_t *c, uint64_t outcome)
{
    if (c->answered || !c->a)
        return;
    pchan_t *a = c->a, *b = c->b;
    switch (outcome) {
    case OUT_NOANSWER:
    case OUT_PHONE_NEVER:
        pbx_e_hangup_req(s, "HangupRequest", b, 19);
        pbx_orig_response(s, c, false, 3);
        pbx_e_cdr(s, a, "NO ANSWER");
        pbx_e_cdr(s, b, "NO ANSWER");
        pbx_e_hangup_req(s, "SoftHangupRequest", b, 16);
        pbx_e_hangup(s, b, 19);
        pbx_e_hangup(s, a, 19);
        break;
    case OUT_BUSY:
    case OUT_CONGESTION: {
        bool busy = outcome == OUT_BUSY;
        pbx_e_newstate(s, b, 7);
        pbx_e_dial(s, "DialEnd", NULL, a, "DialStatus", busy ? "BUSY" : "CONGESTION");
        pbx_e_hangup_req(s, "HangupRequest", b, 0);
        pbx_orig_response(s, c, false, busy ? 5 : 8);
        pbx_e_cdr(s, a, busy ? "BUSY" : "FAILED");
        pbx_e_hangup(s, a, 0);
        pbx_e_hangup_req(s, "SoftHangupRequest", b, 16);
        pbx_e_hangup(s, b, busy ? 17 : 34);
        pbx_e_cdr(s, b, busy ? "BUSY" : "FAILED");
        break;
    }
    default: /* OUT_UNALLOC */
        pbx_e_hangup_req(s, "SoftHangupRequest", b, 16);
        pbx_e_hangup_req(s, "HangupRequest", a, 1);
        pbx_e_cdr(s, a, "NO ANSWER");
        pbx_e_cdr(s, b, "NO ANSWER");
        pbx_e_hangup(s, b, 1);
        pbx_e_dial(s, "DialEnd", NULL, a, "DialStatus", "NOANSWER");
        pbx_e_hangup(s, a, 1);
        pbx_orig_response(s, c, false, 0);
        break;
    }
    pbx_drop_chan(s, c, &c->a);
    pbx_drop_chan(s, c, &c->b);
    pbx_call_finish(s, c);
}

static uint32_t dist(pbx_t *s, pbxsim_dist_t d)
{
    if (d.max_ms <= d.min_ms)
        return d.min_ms;
    return d.min_ms + (uint32_t)(pbx_rand(s) % (uint64_t)(d.max_ms - d.min_ms + 1));
}

static uint32_t var_secs(pcall_t *c, const char *name, uint32_t dflt)
{
    const char *v = c->a ? pbx_chan_getvar(c->a, name) : NULL;
    if (!v || !*v)
        return dflt;
    return (uint32_t)(atof(v) * 1000.0);
}

static void decide_outcome(pbx_t *s, pcall_t *c)
{
    const char *n = c->callee;
    bool four = strlen(n) == 4;
    c->talk_ms = 0;
    c->ring_ms = 0;
    if (strcmp(c->callee_ctx, "customers") == 0 && four) {
        switch (n[0]) {
        case '5':
            c->outcome = OUT_ANSWER;
            c->ring_ms = var_secs(c, "RING", 2000);
            c->talk_ms = var_secs(c, "TALK", 10000);
            return;
        case '6': c->outcome = OUT_NOANSWER; return;
        case '7': c->outcome = OUT_BUSY; return;
        case '3': c->outcome = OUT_CONGESTION; return;
        case '2': c->outcome = OUT_UNALLOC; return;
        case '4': c->outcome = OUT_ANSWER; return;
        default: break;
        }
    } else if (strcmp(c->callee_ctx, "phones") == 0) {
        c->outcome = strncmp(n, "19", 2) == 0 ? OUT_PHONE_NEVER : OUT_ANSWER;
        return;
    } else if (strcmp(c->callee_ctx, "customers") != 0) {
        c->outcome = OUT_ANSWER;
        return;
    }
    /* Anything else: the configured load mix. */
    double r = (double)(pbx_rand(s) >> 11) / 9007199254740992.0;
    if (r < s->o.answer_rate) {
        c->outcome = OUT_ANSWER;
        c->ring_ms = dist(s, s->o.ring);
        c->talk_ms = dist(s, s->o.talk);
    } else {
        double r2 = (double)(pbx_rand(s) >> 11) / 9007199254740992.0;
        c->outcome = r2 < s->o.busy_rate ? OUT_BUSY : OUT_NOANSWER;
        c->ring_ms = dist(s, s->o.ring);
    }
}

void pbx_originate_start(pbx_t *s, pcall_t *c)
{
    pchan_t *a, *b;
    if (pbx_local_pair(s, c->callee, c->callee_ctx, c->chan_id, c->other_id, "", c, &a, &b) != 0) {
        pbx_orig_response(s, c, false, 0);
        pbx_call_finish(s, c);
        return;
    }
    c->a = a;
    c->b = b;
    pbx_e_newchannel(s, a);
    pbx_e_newchannel(s, b);
    pbx_e_newexten(s, a, "AppDial2", "(Outgoing Line)");
    for (int i = 0; i < c->nvars; i++)
        pbx_chan_setvar(a, c->vars[i].name, c->vars[i].value);
    for (int i = 0; i < a->nvars; i++) {
        pbx_e_varset(s, a, a->vars[i].name, a->vars[i].value);
        pbx_chan_setvar(b, a->vars[i].name, a->vars[i].value);
    }
    pbx_set_cid_pair(a, b, c->cid_num, c->cid_name, true);
    for (int i = 0; i < b->nvars; i++)
        pbx_e_varset(s, b, b->vars[i].name, b->vars[i].value);
    pbx_e_localbridge(s, a, b);
    char ds[80];
    snprintf(ds, sizeof ds, "%s@%s", c->callee, c->callee_ctx);
    pbx_e_dial(s, "DialBegin", NULL, a, "DialString", ds);
    if (strcmp(c->callee_ctx, "agents") == 0 &&
        ((!c->use_app && strcmp(c->dest_ctx, "parkedcalls") == 0) ||
         (c->use_app && strcasecmp(c->dest_app, "Bridge") == 0))) {
        pbx_park_retrieve(s, c);
        return;
    }
    decide_outcome(s, c);
    uint32_t timeout = c->timeout_ms ? c->timeout_ms : 30000;
    switch (c->outcome) {
    case OUT_ANSWER:
        /* 5XXX runs Ringing() before Wait(RING), so RING=0 still rings
         * (agent_login_probation.txt); 4XXX and the phones answer at once */
        if (c->ring_ms == 0 && !(c->callee[0] == '5' && strcmp(c->callee_ctx, "customers") == 0)) {
            orig_answer(s, c, 0);
            return;
        }
        pbx_e_newstate(s, a, 5);
        pbx_e_dial(s, "DialState", NULL, a, "DialStatus", "RINGING");
        if (c->ring_ms < timeout)
            pbx_timer_add(s, c->ring_ms, orig_answer, c, 0);
        else
            pbx_timer_add(s, timeout, pbx_orig_fail, c, OUT_NOANSWER);
        return;
    case OUT_NOANSWER:
    case OUT_PHONE_NEVER:
        pbx_e_newstate(s, a, 5);
        pbx_e_dial(s, "DialState", NULL, a, "DialStatus", "RINGING");
        pbx_timer_add(s, timeout, pbx_orig_fail, c, (uint64_t)c->outcome);
        return;
    default:
        pbx_timer_add(s, c->ring_ms, pbx_orig_fail, c, (uint64_t)c->outcome);
        return;
    }
}

/* ---------------- restart ---------------- */

static bool is_member_leg(const pchan_t *ch)
{
    return ch->call && (ch == ch->call->m1 || ch == ch->call->m2);
}

void pbx_restart_teardown(pbx_t *s)
{
    /* Asterisk soft-hangs-up every channel in the hash order of their names,
     * and app_queue's Reason follows whichever leg of a call is reached first:
     * agent when the member leg comes before the customer's (2 of 9 real runs),
     * caller otherwise (restart.txt, restart_agent_on_call_run1/run2) */
    bool agent_first = pbx_vary(s, 2, 9);
    for (int pass = 0; pass < 2; pass++)
        for (pchan_t *ch = s->chans; ch; ch = ch->next)
            if (is_member_leg(ch) == (agent_first == (pass == 0)))
                pbx_e_hangup_req(s, "SoftHangupRequest", ch, 4);
    for (pcall_t *c = s->calls; c; c = c->next)
        if (!c->dead && c->connected) {
            c->connected = false;
            if (c->queue && c->member) /* a callback's Dial has no queue to report it */
                pbx_agent_complete(s, c, true, true, agent_first ? "agent" : "caller");
        }
    for (int i = 0; i < s->nagents; i++) {
        pagent_t *ag = &s->agents[i];
        if (!ag->logged_in)
            continue;
        if (ag->p1 && !ag->busy_call)
            pbx_e_moh(s, ag->p1, false); /* idle agents hear hold music */
        ag->busy_call = NULL;
        if (ag->p1)
            pbx_bridge_take(s, ag->p1);
        agent_off_common(s, ag);
        pbx_member_status_all(s, ag, NULL);
    }
    for (pchan_t *ch = s->chans; ch; ch = ch->next)
        pbx_bridge_take(s, ch);
    while (s->chans) {
        pchan_t *ch = s->chans;
        bool far = ch->leg == 2 && ch->call && (ch == ch->call->b);
        pbx_e_hangup(s, ch, far ? 0 : 16);
        pbx_chan_free(s, ch);
    }
    for (pcall_t *c = s->calls; c; c = c->next) {
        c->a = c->b = c->m1 = c->m2 = c->t1 = c->t2 = c->t3 = c->t4 = NULL;
        pbridge_t *bx = c->br_x, *bt = c->br_t;
        c->br_x = c->br_t = NULL;
        pbx_bridge_unref(s, bx);
        pbx_bridge_unref(s, bt);
        c->queue = NULL;
        c->member = NULL;
        c->agent = NULL;
        c->cb_agent = NULL;
        c->cb_ringing = false;
        pbridge_t *b1 = c->br_call, *b2 = c->br_agent;
        c->br_call = c->br_agent = NULL;
        pbx_bridge_unref(s, b1);
        pbx_bridge_unref(s, b2);
    }
    pcall_t *c = s->calls;
    while (c) {
        pcall_t *next = c->next;
        pbx_call_finish(s, c);
        c = next;
    }
    pbx_timer_clear(s);
    if (s->hold_bridge) {
        pbx_bridge_unref(s, s->hold_bridge);
        s->hold_bridge = NULL;
    }
    if (s->park_bridge) { /* a new process has a new parking lot bridge */
        pbx_bridge_unref(s, s->park_bridge);
        s->park_bridge = NULL;
    }
    memset(s->parked, 0, sizeof s->parked);
    for (int i = 0; i < s->nagents; i++) {
        pagent_t *ag = &s->agents[i];
        ag->logged_in = ag->ready = false;
        ag->p1 = ag->p2 = NULL;
        ag->login_call = ag->busy_call = NULL;
    }
    for (int i = 0; i < s->nqueues; i++) {
        pqueue_t *q = &s->queues[i];
        q->ncallers = 0;
        q->completed = q->abandoned = 0;
        q->talk_total = q->hold_total = 0;
        for (int j = 0; j < q->nmembers; j++) {
            q->members[j]->busy = NULL;
            q->members[j]->calls_taken = 0;
            q->members[j]->last_call = 0;
        }
    }
}

/* What the new process starts with (queues.conf persistentmembers = no,
 * restart_members_and_pauses.txt): no dynamic members, the static ones
 * unpaused, and the strategy's round-robin position from the start. */
void pbx_restart_reset(pbx_t *s)
{
    for (int i = 0; i < s->nqueues; i++) {
        pqueue_t *q = &s->queues[i];
        int k = 0;
        for (int j = 0; j < q->nmembers; j++) {
            pmember_t *m = q->members[j];
            if (m->dynamic) {
                free(m);
                continue;
            }
            m->paused = false;
            m->reason[0] = '\0';
            m->last_pause = 0;
            m->next_try_vms = 0;
            m->login_time = s->startup_wall;
            q->members[k++] = m;
        }
        q->nmembers = k;
        q->rr = 0;
    }
}

/* The FastAGI script ended (the server closed, or the connect failed). */
void pbx_agi_finished(pbx_t *s, pcall_t *c)
{
    if (!c->a) {
        pbx_call_finish(s, c);
        return;
    }
    pchan_t *a = c->a;
    const char *next = pbx_chan_getvar(a, "NEXT");
    const char *al = pbx_chan_getvar(a, "CCD_AGENTLOGIN");
    const char *agent = pbx_chan_getvar(a, "CCD_AGENT");
    if (c->b && al && strcmp(al, "ok") == 0 && agent && *agent) {
        /* the agentlogin dialplan: AgentLogin(${CCD_AGENT},s) on the agent's own call */
        snprintf(c->dest_exten, sizeof c->dest_exten, "%s", agent);
        agent_login(s, c);
        return;
    }
    a->prio = 5;
    if (c->b && next && strcmp(next, "queue") == 0) {
        pqueue_t *q = pbx_queue_find(s, "8000");
        snprintf(a->context, sizeof a->context, "dialer-queue");
        snprintf(a->exten, sizeof a->exten, "8000");
        if (q) {
            pbx_queue_join(s, c, q);
            return;
        }
    }
    if (!c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", a, 16);
        pbx_e_hangup(s, a, 16);
        pbx_drop_chan(s, c, &c->a);
        pbx_call_finish(s, c);
        return;
    }
    end_plain(s, c, false, true);
}
