/*
 * The call flows: Originate outcomes, queues, app_agent_pool agents and the
 * ways calls end.  Each function emits events in the order the recordings in
 * ../shared/asterisk/transcripts show for that step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "tools/pbxsim/pbxsim_int.h"

#define Q_TIMEOUT_MS 15000 /* queues.conf timeout = 15 */
#define Q_RETRY_MS 2000    /* retry = 2 */
#define AGENT_ANSWER_MS 300

static int64_t wall_s(pbx_t *s)
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
static void drop_chan(pbx_t *s, pcall_t *c, pchan_t **pp)
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

pagent_t *pbx_agent_find(pbx_t *s, const char *id)
{
    for (int i = 0; i < s->nagents; i++)
        if (strcmp(s->agents[i].id, id) == 0)
            return &s->agents[i];
    return NULL;
}

int pbx_member_status(const pmember_t *m)
{
    if (m->agent) {
        if (!m->agent->logged_in || !m->agent->ready)
            return 5;
        return m->agent->busy_call ? 2 : 1;
    }
    return m->busy ? 2 : 1;
}

static void member_status_all(pbx_t *s, pagent_t *a, pmember_t *only)
{
    for (int i = 0; i < s->nqueues; i++)
        for (int j = 0; j < s->queues[i].nmembers; j++) {
            pmember_t *m = s->queues[i].members[j];
            if ((a && m->agent == a) || m == only)
                pbx_e_member(s, "QueueMemberStatus", &s->queues[i], m);
        }
}

static bool member_free(pbx_t *s, pmember_t *m)
{
    if (m->paused || m->busy || pbx_vnow(s) < m->next_try_vms)
        return false;
    if (m->agent && m->agent->busy_call)
        return false;
    return pbx_member_status(m) == 1;
}

static int caller_index(pqueue_t *q, pcall_t *c)
{
    for (int i = 0; i < q->ncallers; i++)
        if (q->callers[i] == c)
            return i;
    return -1;
}

static void queue_remove_caller(pqueue_t *q, pcall_t *c)
{
    int i = caller_index(q, c);
    if (i < 0)
        return;
    memmove(&q->callers[i], &q->callers[i + 1], (size_t)(q->ncallers - i - 1) * sizeof q->callers[0]);
    q->ncallers--;
}

static void caller_leave_event(pbx_t *s, pcall_t *c, const char *event)
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

static void agent_event(pbx_t *s, const char *event, pcall_t *c, bool caller_block, bool dest_block)
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

static void split_iface(const char *iface, char *exten, size_t en, char *ctx, size_t cn)
{
    const char *p = strchr(iface, '/');
    p = p ? p + 1 : iface;
    const char *at = strchr(p, '@');
    size_t el = at ? (size_t)(at - p) : strlen(p);
    snprintf(exten, en, "%.*s", (int)el, p);
    snprintf(ctx, cn, "%s", at ? at + 1 : "default");
}

static void set_cid_pair(pchan_t *one, pchan_t *two, const char *num, const char *name, bool one_con)
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
    set_cid_pair(m1, m2, c->cid_num, c->cid_name, false);
    pbx_e_localbridge(s, m1, m2);
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
    agent_event(s, "AgentCalled", c, true, true);
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
        member_status_all(s, ag, NULL);
        pbx_timer_add(s, AGENT_ANSWER_MS, agent_answer, c, c->ring_gen);
    } else if (auto_answer) {
        pbx_e_newstate(s, m2, 6);
        member_status_all(s, NULL, m);
        pbx_e_newstate(s, m1, 6);
        pbx_e_dial(s, "DialEnd", c->a, m1, "DialStatus", "ANSWER");
        connect_call(s, c);
    } else {
        member_status_all(s, NULL, m);
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
    caller_leave_event(s, c, "QueueCallerLeave");
    queue_remove_caller(q, c);
    agent_event(s, "AgentConnect", c, true, true);
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
static void drop_member_legs(pbx_t *s, pcall_t *c, bool cancel_twice)
{
    pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", cancel_twice ? "CANCEL" : "NOANSWER");
    pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", "CANCEL");
    pbx_e_hangup_req(s, "HangupRequest", c->m2, 0);
    pbx_e_hangup(s, c->m1, 0);
    pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
    pbx_e_hangup(s, c->m2, 0);
    drop_chan(s, c, &c->m1);
    drop_chan(s, c, &c->m2);
}

static void release_member(pbx_t *s, pcall_t *c, bool status_event)
{
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
            member_status_all(s, m->agent, NULL);
        else
            member_status_all(s, NULL, m);
    }
}

static void ring_noanswer(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (!c->ringing || gen != c->ring_gen || !c->member)
        return;
    pmember_t *m = c->member;
    agent_event(s, "AgentRingNoAnswer", c, true, true);
    pbx_ev_kv(s, "RingTime", "%lld", (long long)(pbx_vnow(s) - c->ring_vms));
    pbx_ev_end(s);
    drop_member_legs(s, c, false);
    c->ringing = false;
    m->next_try_vms = pbx_vnow(s) + Q_RETRY_MS;
    release_member(s, c, true);
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

static void kick_all(pbx_t *s)
{
    for (int i = 0; i < s->nqueues; i++)
        pbx_queue_kick(s, &s->queues[i]);
}

static void queue_join(pbx_t *s, pcall_t *c, pqueue_t *q)
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
    member_status_all(s, ag, NULL);
    kick_all(s);
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
    ag->login_wall = wall_s(s);
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
    pbx_ev_kv(s, "Logintime", "%lld", (long long)(wall_s(s) - ag->login_wall));
    pbx_ev_end(s);
    ag->logged_in = false;
    ag->ready = false;
}

static void queue_call_end(pbx_t *s, pcall_t *c, int who);
static void park_giveup(pbx_t *s, pcall_t *c, bool far_end);
static void park_retrieve(pbx_t *s, pcall_t *orig);
static void detached_end(pbx_t *s, pcall_t *c, bool far_end);
static void atx_complete(pbx_t *s, pcall_t *c);

/* by_action: AgentLogoff; otherwise the phone hung up (Hangup action on a phone leg). */
void pbx_agent_logoff(pbx_t *s, pagent_t *ag, bool by_action)
{
    if (!ag->logged_in)
        return;
    if (ag->busy_call)
        queue_call_end(s, ag->busy_call, 4);
    pcall_t *c = ag->login_call;
    pchan_t *p1 = ag->p1, *p2 = ag->p2;
    if (by_action)
        pbx_e_hangup_req(s, "SoftHangupRequest", p1, 32);
    pbx_e_moh(s, p1, false);
    pbx_bridge_take(s, p1);
    agent_off_common(s, ag);
    if (by_action) {
        pbx_e_hangup_req(s, "SoftHangupRequest", p1, 16);
        member_status_all(s, ag, NULL);
    } else {
        member_status_all(s, ag, NULL);
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
        drop_chan(s, c, &c->a);
        drop_chan(s, c, &c->b);
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
        drop_chan(s, c, &c->b);
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
    drop_chan(s, c, &c->a);
    drop_chan(s, c, &c->b);
    pbx_call_finish(s, c);
}

static void agent_back_to_hold(pbx_t *s, pcall_t *c, bool moh)
{
    pmember_t *m = c->member;
    if (!m || !m->agent || !m->agent->p1 || !m->agent->logged_in)
        return;
    pchan_t *p1 = m->agent->p1;
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
        m->last_call = wall_s(s);
        c->queue->completed++;
        c->queue->talk_total += (pbx_vnow(s) - c->connect_vms) / 1000;
    }
    release_member(s, c, true);
}

static void unref_call_bridges(pbx_t *s, pcall_t *c)
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
static void queue_call_end(pbx_t *s, pcall_t *c, int who)
{
    if (!c->connected)
        return;
    c->connected = false;
    int64_t talk = (pbx_vnow(s) - c->connect_vms) / 1000;
    int64_t hold = (c->connect_vms - c->join_vms) / 1000;
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
        agent_back_to_hold(s, c, false);
        break;
    default:
        break;
    }
    if (!c->masq && !c->complete_sent && c->member && c->queue) {
        agent_event(s, "AgentComplete", c, cblock, dblock);
        pbx_ev_kv(s, "HoldTime", "%lld", (long long)hold);
        pbx_ev_kv(s, "TalkTime", "%lld", (long long)talk);
        pbx_ev_kv(s, "Reason", "%s", reason);
        pbx_ev_end(s);
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
        agent_back_to_hold(s, c, true);
    pchan_t *p1 = (who == 3 && c->member && c->member->agent) ? c->member->agent->p1 : NULL;
    drop_chan(s, c, &c->m1);
    drop_chan(s, c, &c->m2);
    unref_call_bridges(s, c);
    member_done(s, c, true);
    if (p1) /* the agent phone's MOH resumes after the customer is gone */
        pbx_e_moh(s, p1, true);
    drop_chan(s, c, &c->a);
    drop_chan(s, c, &c->b);
    c->queue = NULL;
    pbx_call_finish(s, c);
    kick_all(s);
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
        drop_member_legs(s, c, true);
        c->ringing = false;
    }
    caller_leave_event(s, c, "QueueCallerAbandon");
    caller_leave_event(s, c, "QueueCallerLeave");
    queue_remove_caller(q, c);
    q->abandoned++;
    pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
    if (!far_end && c->b)
        pbx_e_hangup_req(s, "HangupRequest", c->b, 16);
    pbx_e_hangup(s, c->a, 16);
    if (!far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    unref_call_bridges(s, c);
    release_member(s, c, c->member != NULL);
    drop_chan(s, c, &c->a);
    drop_chan(s, c, &c->b);
    c->queue = NULL;
    pbx_call_finish(s, c);
    kick_all(s);
}

/* The customer (;2, the "PSTN" side) hangs up after TALK seconds. */
static void customer_hangup(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)arg;
    if (!c->b || !c->a)
        return;
    if (c->parked || (c->retrieving && c->was_parked)) {
        park_giveup(s, c, true);
    } else if (c->detached && !c->connected) {
        detached_end(s, c, true);
    } else if (c->held) {
        c->masq = true; /* AMI never shows this one's AgentComplete either */
        c->held = false;
        pbx_e_moh(s, c->a, false);
        c->connected = true;
        queue_call_end(s, c, 0);
    } else if (c->connected) {
        queue_call_end(s, c, 0);
    } else if (c->queue) {
        queue_abandon(s, c, true);
    } else if (c->agent) {
        pbx_agent_logoff(s, c->agent, false);
    } else {
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
        park_giveup(s, c, ch == c->b);
        return 0;
    }
    if (c->detached && !c->connected && (ch == c->a || ch == c->b || ch == c->t1 || ch == c->t2)) {
        detached_end(s, c, ch == c->b);
        return 0;
    }
    if (c->connected && c->atx_ready && ch == c->m1) {
        atx_complete(s, c);
        return 0;
    }
    if (c->connected) {
        int who = ch == c->b ? 0 : ch == c->a ? 1 : ch == c->m1 ? 2 : 3;
        queue_call_end(s, c, who);
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
        drop_chan(s, c, &c->a);
        drop_chan(s, c, &c->b);
        pbx_call_finish(s, c);
        return 0;
    }
    end_plain(s, c, ch == c->b, !c->use_app);
    return 0;
}

/* ---------------- Originate ---------------- */

static void orig_response(pbx_t *s, pcall_t *c, bool ok, int reason)
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
    if (c->use_app) {
        snprintf(a->app, sizeof a->app, "%s", c->dest_app);
        snprintf(a->appdata, sizeof a->appdata, "%s", c->dest_data);
    } else {
        snprintf(a->context, sizeof a->context, "%s", c->dest_ctx);
        snprintf(a->exten, sizeof a->exten, "%s", c->dest_exten);
        a->prio = 1;
        pbx_e_newexten(s, a, "NoOp", "");
    }
    orig_response(s, c, true, 4);
    if (c->talk_ms > 0)
        pbx_timer_add(s, c->talk_ms, customer_hangup, c, 0);
    switch (c->dest) {
    case DEST_QUEUE: {
        pqueue_t *q = pbx_queue_find(s, c->dest_exten);
        if (q)
            queue_join(s, c, q);
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
    default:
        break;
    }
}

static void orig_fail(pbx_t *s, pcall_t *c, uint64_t outcome)
{
    if (c->answered || !c->a)
        return;
    pchan_t *a = c->a, *b = c->b;
    switch (outcome) {
    case OUT_NOANSWER:
    case OUT_PHONE_NEVER:
        pbx_e_hangup_req(s, "HangupRequest", b, 19);
        orig_response(s, c, false, 3);
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
        orig_response(s, c, false, busy ? 5 : 8);
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
        orig_response(s, c, false, 0);
        break;
    }
    drop_chan(s, c, &c->a);
    drop_chan(s, c, &c->b);
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
        orig_response(s, c, false, 0);
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
    set_cid_pair(a, b, c->cid_num, c->cid_name, true);
    for (int i = 0; i < b->nvars; i++)
        pbx_e_varset(s, b, b->vars[i].name, b->vars[i].value);
    pbx_e_localbridge(s, a, b);
    char ds[80];
    snprintf(ds, sizeof ds, "%s@%s", c->callee, c->callee_ctx);
    pbx_e_dial(s, "DialBegin", NULL, a, "DialString", ds);
    if (strcmp(c->callee_ctx, "agents") == 0 &&
        ((!c->use_app && strcmp(c->dest_ctx, "parkedcalls") == 0) ||
         (c->use_app && strcasecmp(c->dest_app, "Bridge") == 0))) {
        park_retrieve(s, c);
        return;
    }
    decide_outcome(s, c);
    uint32_t timeout = c->timeout_ms ? c->timeout_ms : 30000;
    switch (c->outcome) {
    case OUT_ANSWER:
        if (c->ring_ms == 0) {
            orig_answer(s, c, 0);
            return;
        }
        pbx_e_newstate(s, a, 5);
        pbx_e_dial(s, "DialState", NULL, a, "DialStatus", "RINGING");
        if (c->ring_ms < timeout)
            pbx_timer_add(s, c->ring_ms, orig_answer, c, 0);
        else
            pbx_timer_add(s, timeout, orig_fail, c, OUT_NOANSWER);
        return;
    case OUT_NOANSWER:
    case OUT_PHONE_NEVER:
        pbx_e_newstate(s, a, 5);
        pbx_e_dial(s, "DialState", NULL, a, "DialStatus", "RINGING");
        pbx_timer_add(s, timeout, orig_fail, c, (uint64_t)c->outcome);
        return;
    default:
        pbx_timer_add(s, c->ring_ms, orig_fail, c, (uint64_t)c->outcome);
        return;
    }
}

/* ---------------- Redirect / Park (simplified) ---------------- */

static void drop_member_side(pbx_t *s, pcall_t *c);

/* transfer-target: Dial(Local/${EXTEN}@phones,30) from the customer leg. */
static void xfer_dial(pbx_t *s, pcall_t *c, const char *exten)
{
    pchan_t *t1, *t2;
    if (pbx_local_pair(s, exten, "phones", "", "", c->a->linkedid, c, &t1, &t2) != 0)
        return;
    c->t1 = t1;
    c->t2 = t2;
    pbx_e_newchannel(s, t1);
    pbx_e_newchannel(s, t2);
    set_cid_pair(t1, t2, c->cid_num, c->cid_name, true);
    pbx_e_localbridge(s, t1, t2);
    char ds[64];
    snprintf(ds, sizeof ds, "Local/%.40s@phones", exten);
    pbx_e_dial(s, "DialBegin", c->a, t1, "DialString", ds);
    if (strncmp(exten, "19", 2) == 0) {
        pbx_e_newstate(s, t1, 5); /* rings; the customer stays until it hangs up */
        return;
    }
    pbx_e_newstate(s, t2, 6);
    pbx_e_newstate(s, t1, 6);
    pbx_e_dial(s, "DialEnd", c->a, t1, "DialStatus", "ANSWER");
    c->br_call = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    pbx_bridge_put(s, c->br_call, t1);
    pbx_bridge_put(s, c->br_call, c->a);
}

/* The customer (or the transfer target) ends a call whose agent side is gone. */
static void detached_end(pbx_t *s, pcall_t *c, bool far_end)
{
    if (far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    if (!c->masq && !c->complete_sent && c->member && c->queue) {
        agent_event(s, "AgentComplete", c, true, false);
        pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
        pbx_ev_kv(s, "TalkTime", "%lld", (long long)((pbx_vnow(s) - c->connect_vms) / 1000));
        pbx_ev_kv(s, "Reason", "caller");
        pbx_ev_end(s);
        c->member->calls_taken++;
        c->member->last_call = wall_s(s);
    }
    c->complete_sent = true;
    if (c->held_moh)
        pbx_e_moh(s, c->a, false);
    pbx_bridge_take(s, c->a);
    if (c->t1)
        pbx_bridge_take(s, c->t1);
    pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
    pbx_e_hangup(s, c->a, 16);
    if (!far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    if (c->t1) {
        pbx_e_hangup_req(s, "HangupRequest", c->t2, 16);
        pbx_e_hangup(s, c->t1, 16);
    }
    if (c->t3) { /* Atxfer: the target pair and its phone */
        pbx_bridge_take(s, c->t2);
        pbx_bridge_take(s, c->t3);
        pbridge_t *bt = c->br_t;
        c->br_t = NULL;
        pbx_bridge_unref(s, bt);
        pbx_e_hangup_req(s, "HangupRequest", c->t4, 16);
        pbx_e_hangup(s, c->t3, 16);
    }
    if (c->t2) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->t2, 16);
        pbx_e_hangup(s, c->t2, 16);
    }
    if (c->t4) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->t4, 16);
        pbx_e_hangup(s, c->t4, 16);
    }
    unref_call_bridges(s, c);
    drop_chan(s, c, &c->t1);
    drop_chan(s, c, &c->t2);
    drop_chan(s, c, &c->t3);
    drop_chan(s, c, &c->t4);
    drop_chan(s, c, &c->a);
    drop_chan(s, c, &c->b);
    c->member = NULL;
    c->queue = NULL;
    pbx_call_finish(s, c);
}

int pbx_redirect(pbx_t *s, pchan_t *ch, const char *ctx, const char *exten, pchan_t *extra, const char *xctx,
                 const char *xexten)
{
    pcall_t *c = ch->call;
    if (c && c->connected && ch == c->a && extra && extra == c->m1) {
        /* hold without parking: both legs leave the bridge, nothing hangs up,
         * the member stays in use (its ;2 is still bridged with the agent phone) */
        pbx_bridge_take(s, c->m1);
        pbx_bridge_take(s, c->a);
        pbridge_t *b = c->br_call;
        c->br_call = NULL;
        pbx_bridge_unref(s, b);
        c->connected = false;
        c->held = true;
        snprintf(c->m1->context, sizeof c->m1->context, "%s", xctx && xctx[0] ? xctx : ctx);
        snprintf(c->m1->exten, sizeof c->m1->exten, "%s", xexten && xexten[0] ? xexten : exten);
        c->m1->prio = 1;
    } else if (c && c->connected && ch == c->a) {
        /* the customer leaves the agent: the member leg is hung up, the agent is free;
         * AgentComplete comes when the customer's call finally ends */
        pbx_bridge_take(s, c->a);
        drop_member_side(s, c);
        c->detached = true;
        kick_all(s);
    } else if (c && c->queue && !c->detached && !c->parked && ch == c->a) {
        pbx_e_moh(s, c->a, false);
        if (c->ringing && c->m1) {
            drop_member_legs(s, c, true);
            c->ringing = false;
            release_member(s, c, true);
        }
        caller_leave_event(s, c, "QueueCallerLeave");
        queue_remove_caller(c->queue, c);
        c->queue = NULL;
    }
    snprintf(ch->context, sizeof ch->context, "%s", ctx);
    snprintf(ch->exten, sizeof ch->exten, "%s", exten);
    ch->prio = 1;
    pbx_e_newexten(s, ch, "NoOp", "");
    if (!c || ch != c->a)
        return 0;
    if (strcmp(ctx, "dialer-queue") == 0 && !c->detached && !c->held) {
        pqueue_t *q = pbx_queue_find(s, exten);
        if (q)
            queue_join(s, c, q);
    } else if (strcmp(ctx, "hold") == 0) {
        c->held_moh = true;
        pbx_e_moh(s, c->a, true);
    } else if (strcmp(ctx, "transfer-target") == 0) {
        xfer_dial(s, c, exten);
    }
    return 0;
}

/* Action Bridge: reunites a held customer with its member leg (a masquerade:
 * app_queue loses track of the call, so no AgentComplete ever comes). */
int pbx_bridge_action(pbx_t *s, pchan_t *one, pchan_t *two)
{
    pcall_t *c = one->call;
    if (!c || c != two->call || !c->held || one != c->a || two != c->m1)
        return -1;
    c->br_call = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    pbx_e_moh(s, c->a, false);
    pbx_bridge_put(s, c->br_call, c->a);
    pbx_bridge_put(s, c->br_call, c->m1);
    c->held = false;
    c->held_moh = false;
    c->masq = true;
    c->connected = true;
    return 0;
}

/* Action BlindTransfer on the member leg: the customer goes to ctx/exten. */
int pbx_blind_transfer(pbx_t *s, pchan_t *ch, const char *ctx, const char *exten)
{
    pcall_t *c = ch->call;
    if (!c || !c->connected || ch != c->m1 || !c->br_call)
        return -1;
    pbx_e_chan(s, "Unhold", "call,all", c->m1);
    pbx_ev_begin(s, "BlindTransfer", "call,all");
    pbx_ev_kv(s, "Result", "Success");
    pbx_ev_chan(s, "Transferer", c->m1);
    pbx_ev_chan(s, "Transferee", c->a);
    pbx_ev_bridge(s, "", c->br_call);
    pbx_ev_kv(s, "IsExternal", "Yes");
    pbx_ev_kv(s, "Context", "%s", ctx);
    pbx_ev_kv(s, "Extension", "%s", exten);
    pbx_ev_end(s);
    agent_event(s, "AgentComplete", c, true, true);
    pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
    pbx_ev_kv(s, "TalkTime", "%lld", (long long)((pbx_vnow(s) - c->connect_vms) / 1000));
    pbx_ev_kv(s, "Reason", "transfer");
    pbx_ev_end(s);
    c->complete_sent = true;
    if (c->member) {
        c->member->calls_taken++;
        c->member->last_call = wall_s(s);
    }
    pbx_bridge_take(s, c->a);
    drop_member_side(s, c);
    c->detached = true;
    snprintf(c->a->context, sizeof c->a->context, "%s", ctx);
    snprintf(c->a->exten, sizeof c->a->exten, "%s", exten);
    c->a->prio = 1;
    if (strcmp(ctx, "transfer-target") == 0)
        xfer_dial(s, c, exten);
    kick_all(s);
    return 0;
}


void pbx_e_park(pbx_t *s, const char *event, pcall_t *c, pchan_t *retriever, bool list)
{
    int64_t dur = (pbx_vnow(s) - c->park_vms) / 1000;
    int64_t left = (int64_t)c->park_timeout_ms / 1000 - dur;
    if (list)
        pbx_ev_begin(s, event, NULL);
    else
        pbx_ev_begin(s, event, "call,all");
    pbx_ev_chan(s, "Parkee", c->a);
    if (retriever)
        pbx_ev_chan(s, "Retriever", retriever);
    pbx_ev_kv(s, "ParkerDialString", "%s", c->parker);
    pbx_ev_kv(s, "Parkinglot", "default");
    pbx_ev_kv(s, "ParkingSpace", "%d", c->park_space);
    pbx_ev_kv(s, "ParkingTimeout", "%lld", (long long)(left < 0 ? 0 : left));
    pbx_ev_kv(s, "ParkingDuration", "%lld", (long long)dur);
    if (!list)
        pbx_ev_end(s);
}

static void unpark_slot(pbx_t *s, pcall_t *c)
{
    if (c->park_space >= 701 && c->park_space <= 720 && s->parked[c->park_space - 701] == c)
        s->parked[c->park_space - 701] = NULL;
    c->parked = false;
    c->park_gen++;
}

static void park_timeout(pbx_t *s, pcall_t *c, uint64_t gen);

/* Ends the member side of a bridged queue call without AgentComplete (park, redirect). */
static void drop_member_side(pbx_t *s, pcall_t *c)
{
    pbx_bridge_take(s, c->m1);
    pbx_e_hangup_req(s, "HangupRequest", c->m2, 16);
    pbx_e_hangup(s, c->m1, 16);
    pbx_bridge_take(s, c->m2);
    pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
    pbx_e_hangup(s, c->m2, 16);
    agent_back_to_hold(s, c, true);
    drop_chan(s, c, &c->m1);
    drop_chan(s, c, &c->m2);
    unref_call_bridges(s, c);
    c->connected = false;
    pmember_t *m = c->member;
    if (m) {
        if (m->agent && m->agent->busy_call == c)
            m->agent->busy_call = NULL;
        if (m->busy == c)
            m->busy = NULL;
        if (m->agent)
            member_status_all(s, m->agent, NULL);
        else
            member_status_all(s, NULL, m);
    }
}

int pbx_park(pbx_t *s, pchan_t *ch, pchan_t *timeout_chan, uint32_t timeout_ms, int *space)
{
    (void)timeout_chan;
    pcall_t *c = ch->call;
    if (!c || ch != c->a || c->parked)
        return -1;
    int slot = -1;
    for (int i = 0; i < 20 && slot < 0; i++)
        if (!s->parked[i])
            slot = i;
    if (slot < 0)
        return -1;
    if (!s->park_bridge) {
        s->park_bridge = pbx_bridge_new(s, "parking", "holding_bridge", "Parking");
    }
    s->parked[slot] = c;
    c->parked = true;
    c->was_parked = true;
    c->park_space = 701 + slot;
    c->park_vms = pbx_vnow(s);
    c->park_timeout_ms = timeout_ms ? timeout_ms : 45000;
    snprintf(c->parker, sizeof c->parker, "%s", c->member ? c->member->interface : "");
    pbx_bridge_take(s, ch);
    pbx_e_park(s, "ParkedCall", c, NULL, false);
    pbx_bridge_put(s, s->park_bridge, ch);
    pbx_e_moh(s, ch, true);
    if (c->connected && c->m1)
        drop_member_side(s, c);
    c->park_gen++;
    pbx_timer_add(s, c->park_timeout_ms, park_timeout, c, c->park_gen);
    kick_all(s);
    *space = c->park_space;
    return 0;
}

/* The customer hangs up while parked. */
static void park_giveup(pbx_t *s, pcall_t *c, bool far_end)
{
    if (far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    if (c->member && c->queue) {
        agent_event(s, "AgentComplete", c, true, false);
        pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
        pbx_ev_kv(s, "TalkTime", "%lld", (long long)((pbx_vnow(s) - c->connect_vms) / 1000));
        pbx_ev_kv(s, "Reason", "caller");
        pbx_ev_end(s);
    }
    pbx_e_moh(s, c->a, false);
    pbx_bridge_take(s, c->a);
    pbx_e_hangup_req(s, "SoftHangupRequest", c->a, 16);
    pbx_e_hangup(s, c->a, 16);
    if (!far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    pbx_e_park(s, "ParkedCallGiveUp", c, NULL, false);
    unpark_slot(s, c);
    if (c->member) {
        c->member->calls_taken++;
        c->member->last_call = wall_s(s);
    }
    c->member = NULL;
    drop_chan(s, c, &c->a);
    drop_chan(s, c, &c->b);
    c->queue = NULL;
    pbx_call_finish(s, c);
}

static void agentreq_answered(pbx_t *s, pcall_t *c, uint64_t gen);

/*
 * The parker (Local/<agent>@agents) is dialled for call c: the member pair,
 * AgentRequest's bridge with the agent phone.  dial_from: the channel that
 * dials (comeback) or NULL (an Originate did it: orig is that call).
 */
static bool agent_request(pbx_t *s, pcall_t *c, pagent_t *ag, pchan_t *dial_from, pcall_t *orig)
{
    if (!ag || !ag->logged_in || !ag->ready || ag->busy_call)
        return false;
    pchan_t *r1 = orig ? orig->a : NULL, *r2 = orig ? orig->b : NULL;
    if (!orig) {
        if (pbx_local_pair(s, ag->id, "agents", "", "", c->a->linkedid, c, &r1, &r2) != 0)
            return false;
        pbx_e_newchannel(s, r1);
        pbx_e_newchannel(s, r2);
        set_cid_pair(r1, r2, c->cid_num, c->cid_name, true);
        pbx_e_localbridge(s, r1, r2);
        pbx_e_dial(s, "DialBegin", dial_from, r1, "DialString", c->parker);
    }
    if (!c->member) /* after a Redirect the call no longer points at its member */
        for (int i = 0; i < s->nqueues && !c->member; i++)
            for (int j = 0; j < s->queues[i].nmembers; j++)
                if (s->queues[i].members[j]->agent == ag) {
                    c->member = s->queues[i].members[j];
                    break;
                }
    c->m1 = r1;
    c->m2 = r2;
    r1->call = c;
    r2->call = c;
    ag->busy_call = c;
    if (c->member)
        c->member->busy = c;
    c->br_agent = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    r2->prio = 2;
    pbx_bridge_put(s, c->br_agent, r2);
    member_status_all(s, ag, NULL);
    pbx_e_newstate(s, r1, 5);
    if (ag->p1)
        pbx_e_moh(s, ag->p1, false);
    c->ring_gen++;
    pbx_timer_add(s, AGENT_ANSWER_MS, agentreq_answered, c, c->ring_gen);
    return true;
}

static void agentreq_answered(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (gen != c->ring_gen || !c->m1 || !c->a)
        return;
    pagent_t *ag = c->member ? c->member->agent : NULL;
    if (ag && ag->p1)
        pbx_bridge_put(s, c->br_agent, ag->p1);
    pbx_e_newstate(s, c->m2, 6);
    pbx_e_newstate(s, c->m1, 6);
    pcall_t *orig = c->retrieving;
    if (orig) {
        /* the retrieving Originate: its ;1 runs ParkedCall() */
        pbx_e_dial(s, "DialEnd", NULL, c->m1, "DialStatus", "ANSWER");
        orig->answered = true;
        orig->a = c->m1; /* only for the OriginateResponse */
        orig_response(s, orig, true, 4);
        orig->a = NULL;
        orig->b = NULL;
        c->retrieving = NULL;
        pbx_call_finish(s, orig);
        c->br_call = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
        pbx_e_moh(s, c->a, false);
        if (c->parked) {
            snprintf(c->m1->context, sizeof c->m1->context, "parkedcalls");
            snprintf(c->m1->exten, sizeof c->m1->exten, "%d", c->park_space);
            c->m1->prio = 1;
            pbx_e_park(s, "UnParkedCall", c, c->m1, false);
        } else {
            /* Bridge() pulls the customer in by masquerade */
            c->masq = true;
            c->detached = false;
            c->held_moh = false;
        }
    } else {
        pbx_e_dial(s, "DialEnd", c->a, c->m1, "DialStatus", "ANSWER");
        c->br_call = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    }
    if (c->parked)
        unpark_slot(s, c);
    if (orig) {
        pbx_bridge_put(s, c->br_call, c->a);
        pbx_bridge_put(s, c->br_call, c->m1);
    } else {
        pbx_bridge_put(s, c->br_call, c->m1);
        pbx_bridge_put(s, c->br_call, c->a);
    }
    c->connected = true;
}

/* comebacktoorigin=yes: the customer dials the parker again. */
static void park_timeout(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (!c->parked || gen != c->park_gen || !c->a)
        return;
    pbx_e_moh(s, c->a, false);
    pbx_e_park(s, "ParkedCallTimeOut", c, NULL, false);
    pbx_bridge_take(s, c->a);
    unpark_slot(s, c);
    snprintf(c->a->context, sizeof c->a->context, "park-dial");
    snprintf(c->a->exten, sizeof c->a->exten, "%.39s", c->parker);
    for (char *p = c->a->exten; *p; p++)
        if (*p == '/')
            *p = '_';
    pagent_t *ag = c->member ? c->member->agent : NULL;
    if (!agent_request(s, c, ag, c->a, NULL))
        park_giveup(s, c, false);
}

/* Originate Local/<agent>@agents into parkedcalls,<space>: the Issabel way to take a call back. */
static void park_retrieve(pbx_t *s, pcall_t *orig)
{
    pcall_t *c = NULL;
    if (orig->use_app) { /* Bridge(<customer channel>) */
        pchan_t *t = pbx_chan_find(s, orig->dest_data);
        c = t && t->call && t == t->call->a && t->call->detached ? t->call : NULL;
    } else {
        int space = atoi(orig->dest_exten);
        c = (space >= 701 && space <= 720) ? s->parked[space - 701] : NULL;
    }
    pagent_t *ag = pbx_agent_find(s, orig->callee);
    if (!c || !c->a || c->retrieving) {
        orig_fail(s, orig, OUT_UNALLOC);
        return;
    }
    c->retrieving = orig;
    if (!agent_request(s, c, ag, NULL, orig)) {
        c->retrieving = NULL;
        orig_fail(s, orig, OUT_UNALLOC);
    }
}


/* ---------------- attended transfer (Atxfer, features.conf atxfer => *2) ---------------- */

static void dtmf(pbx_t *s, pchan_t *ch, const char *event, char digit, const char *dir)
{
    if (!ch)
        return;
    pbx_ev_begin(s, event, "dtmf,all");
    pbx_ev_chan(s, "", ch);
    pbx_ev_kv(s, "Digit", "%c", digit);
    if (strcmp(event, "DTMFEnd") == 0)
        pbx_ev_kv(s, "DurationMs", "0");
    pbx_ev_kv(s, "Direction", "%s", dir);
    pbx_ev_end(s);
}

static void atx_dial(pbx_t *s, pcall_t *c, uint64_t arg);

/* One digit of "*2<exten>" reaches the member leg. */
static void atx_digit(pbx_t *s, pcall_t *c, uint64_t i)
{
    if (!c->connected || !c->m1 || i >= strlen(c->atx_digits))
        return;
    char d = c->atx_digits[i];
    dtmf(s, c->m1, "DTMFEnd", d, "Received");
    if (!c->xfer_ok) {
        /* no transfer feature on this leg: the tones just pass to the customer */
        dtmf(s, c->a, "DTMFBegin", d, "Sent");
        dtmf(s, c->b, "DTMFBegin", d, "Received");
        dtmf(s, c->a, "DTMFEnd", d, "Sent");
        dtmf(s, c->b, "DTMFEnd", d, "Received");
        return;
    }
    if (i == 1) { /* "*2" matched: the customer is put on hold */
        pbx_e_chan(s, "Hold", "call,all", c->m1);
        pbx_e_moh(s, c->a, true);
    }
    if (i + 1 == strlen(c->atx_digits))
        pbx_timer_add(s, 3000, atx_dial, c, 0); /* transferdigittimeout */
}

static void atx_dial(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)arg;
    if (!c->connected || !c->m1)
        return;
    pchan_t *x1, *x2, *p1, *p2;
    if (pbx_local_pair(s, c->atx_exten, "transfer-target", "", "", c->m1->linkedid, c, &x1, &x2) != 0)
        return;
    c->t1 = x1;
    c->t2 = x2;
    pbx_e_newchannel(s, x1);
    pbx_e_newchannel(s, x2);
    c->br_x = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    set_cid_pair(x1, x2, c->cid_num, c->cid_name, true);
    pbx_e_localbridge(s, x1, x2);
    if (pbx_local_pair(s, c->atx_exten, "phones", "", "", x1->linkedid, c, &p1, &p2) != 0)
        return;
    c->t3 = p1;
    c->t4 = p2;
    pbx_e_newchannel(s, p1);
    pbx_e_newchannel(s, p2);
    set_cid_pair(p1, p2, c->cid_num, c->cid_name, true);
    pbx_e_localbridge(s, p1, p2);
    char ds[64];
    snprintf(ds, sizeof ds, "%.40s@phones", c->atx_exten);
    pbx_e_dial(s, "DialBegin", x2, p1, "DialString", ds);
    pbx_bridge_put(s, c->br_x, x1);
    pbx_e_newstate(s, p2, 6);
    pbx_e_newstate(s, p1, 6);
    pbx_e_dial(s, "DialEnd", x2, p1, "DialStatus", "ANSWER");
    pbx_e_newstate(s, x2, 6);
    c->br_t = pbx_bridge_new(s, "basic", "simple_bridge", "<unknown>");
    pbx_e_newstate(s, x1, 6);
    pbx_e_dial(s, "DialEnd", NULL, x1, "DialStatus", "ANSWER");
    pbx_bridge_put(s, c->br_t, p1);
    pbx_bridge_put(s, c->br_t, x2);
    pbx_bridge_put(s, c->br_x, c->m1); /* the transferer talks to the target */
    c->atx_ready = true;
}

int pbx_atxfer(pbx_t *s, pchan_t *ch, const char *exten)
{
    pcall_t *c = ch->call;
    if (!c || !c->connected || ch != c->m1)
        return -1;
    snprintf(c->atx_digits, sizeof c->atx_digits, "*2%.40s", exten);
    snprintf(c->atx_exten, sizeof c->atx_exten, "%s", exten);
    for (size_t i = 0; i < strlen(c->atx_digits); i++)
        pbx_timer_add(s, 100 * (int64_t)(i + 1), atx_digit, c, i);
    return 0;
}

/* The transferer (member ;1) hangs up once the target answered: the transfer completes. */
static void atx_complete(pbx_t *s, pcall_t *c)
{
    pbx_bridge_take(s, c->m1);
    pbx_e_moh(s, c->a, false);
    pbx_ev_begin(s, "BridgeMerge", "call,all");
    pbx_ev_bridge(s, "To", c->br_call);
    pbx_ev_bridge(s, "From", c->br_x);
    pbx_ev_end(s);
    pbx_bridge_put(s, c->br_call, c->t1); /* leaves br_x, joins the customer */
    pbx_ev_begin(s, "AttendedTransfer", "call,all");
    pbx_ev_kv(s, "Result", "Success");
    pbx_ev_chan(s, "OrigTransferer", c->m1);
    pbx_ev_bridge(s, "Orig", c->br_call);
    pbx_ev_chan(s, "SecondTransferer", c->m1);
    pbx_ev_bridge(s, "Second", c->br_x);
    pbx_ev_chan(s, "Transferee", c->a);
    pbx_ev_chan(s, "TransferTarget", c->t1);
    pbx_ev_kv(s, "IsExternal", "No");
    pbx_ev_kv(s, "DestType", "Bridge");
    pbx_ev_kv(s, "DestBridgeUniqueid", "%s", c->br_call->id);
    pbx_ev_end(s);
    agent_event(s, "AgentComplete", c, true, true);
    pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
    pbx_ev_kv(s, "TalkTime", "%lld", (long long)((pbx_vnow(s) - c->connect_vms) / 1000));
    pbx_ev_kv(s, "Reason", "transfer");
    pbx_ev_end(s);
    c->complete_sent = true;
    if (c->member) {
        c->member->calls_taken++;
        c->member->last_call = wall_s(s);
    }
    pbridge_t *bx = c->br_x;
    c->br_x = NULL;
    pbx_bridge_unref(s, bx);
    /* the member side goes; the customer stays bridged with the target */
    pbridge_t *keep = c->br_call;
    c->br_call = NULL;
    drop_member_side(s, c);
    c->br_call = keep;
    c->detached = true;
    c->atx_ready = false;
    kick_all(s);
}

/* ---------------- restart ---------------- */

void pbx_restart_teardown(pbx_t *s)
{
    for (pchan_t *ch = s->chans; ch; ch = ch->next)
        pbx_e_hangup_req(s, "SoftHangupRequest", ch, 4);
    for (pcall_t *c = s->calls; c; c = c->next)
        if (!c->dead && c->connected) {
            c->connected = false;
            agent_event(s, "AgentComplete", c, true, true);
            pbx_ev_kv(s, "HoldTime", "%lld", (long long)((c->connect_vms - c->join_vms) / 1000));
            pbx_ev_kv(s, "TalkTime", "%lld", (long long)((pbx_vnow(s) - c->connect_vms) / 1000));
            pbx_ev_kv(s, "Reason", "agent");
            pbx_ev_end(s);
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
        member_status_all(s, ag, NULL);
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

/* ---------------- flood ---------------- */

/*
 * Flood: a repeating queue-call pattern with fresh names and uniqueids each
 * cycle.  Each of the pattern's events is formatted once into a template with
 * fixed-width placeholders; emitting one is a copy plus a few digit patches,
 * so the simulator is not the bottleneck of an ingest benchmark.
 */
#define FLOOD_PAT 12
#define FLOOD_MARKS 16

typedef struct flood_tpl {
    char *text;
    size_t len;
    size_t ts_off;                 /* "Timestamp: " value, 17 chars */
    char priv[24];                 /* its Privilege, for EventMask */
    size_t num_off[FLOOD_MARKS];   /* "XXX" (3 digits) */
    size_t hex_off[FLOOD_MARKS];   /* "YYYYYYYY" (8 hex) */
    size_t uid_off[FLOOD_MARKS];   /* "ZZZZZZZZZZZZ" (12 digits) */
    int nnum, nhex, nuid;
} flood_tpl_t;

static void flood_render(pbx_t *s, int k, buf_t *out)
{
    static const char *const pattern[FLOOD_PAT] = {"Newchannel", "VarSet", "Newstate", "DialBegin", "VarSet",
                                                   "QueueCallerJoin", "AgentCalled", "VarSet", "AgentConnect",
                                                   "Newexten", "AgentComplete", "Hangup"};
    pchan_t fake;
    memset(&fake, 0, sizeof fake);
    const char *ev = pattern[k];
    strcpy(fake.name, "Local/5XXX@customers-YYYYYYYY;1");
    strcpy(fake.uniqueid, "flood-ZZZZZZZZZZZZ");
    strcpy(fake.linkedid, "flood-ZZZZZZZZZZZZ");
    strcpy(fake.cid_num, "0215550100");
    strcpy(fake.cid_name, "Dialer");
    strcpy(fake.con_num, "0215550100");
    strcpy(fake.con_name, "Dialer");
    strcpy(fake.context, "dialer-queue");
    strcpy(fake.exten, "8000");
    fake.prio = 3;
    fake.state = 6;
    const char *priv = strncmp(ev, "Agent", 5) == 0 || strncmp(ev, "Queue", 5) == 0 ? "agent,all"
                       : strcmp(ev, "VarSet") == 0 || strcmp(ev, "Newexten") == 0 ? "dialplan,all"
                                                                                  : "call,all";
    pbx_ev_begin(s, ev, priv);
    pbx_ev_chan(s, "", &fake);
    if (strcmp(ev, "VarSet") == 0) {
        pbx_ev_kv(s, "Variable", "QUEUEPOSITION");
        pbx_ev_kv(s, "Value", "1");
    } else if (strcmp(ev, "Hangup") == 0) {
        pbx_ev_kv(s, "Cause", "16");
        pbx_ev_kv(s, "Cause-txt", "Normal Clearing");
    } else if (strncmp(ev, "Agent", 5) == 0) {
        pbx_ev_chan(s, "Dest", &fake);
        pbx_ev_kv(s, "Queue", "8000");
        pbx_ev_kv(s, "Interface", "Local/9000@agents");
        pbx_ev_kv(s, "MemberName", "Agent 9000");
        if (strcmp(ev, "AgentComplete") == 0) {
            pbx_ev_kv(s, "HoldTime", "1");
            pbx_ev_kv(s, "TalkTime", "30");
            pbx_ev_kv(s, "Reason", "caller");
        }
    } else if (strcmp(ev, "QueueCallerJoin") == 0) {
        pbx_ev_kv(s, "Queue", "8000");
        pbx_ev_kv(s, "Position", "1");
        pbx_ev_kv(s, "Count", "1");
    } else if (strcmp(ev, "Newexten") == 0) {
        pbx_ev_kv(s, "Extension", "8000");
        pbx_ev_kv(s, "Application", "Queue");
        pbx_ev_kv(s, "AppData", "8000,,,,300");
    } else if (strcmp(ev, "DialBegin") == 0) {
        pbx_ev_chan(s, "Dest", &fake);
        pbx_ev_kv(s, "DialString", "Local/9000@agents");
    }
    buf_append(&s->ev, "\r\n", 2);
    buf_reset(out);
    buf_append(out, buf_data(&s->ev), s->ev.len);
}

static void mark_all(const char *t, size_t len, const char *mark, size_t *offs, int *n)
{
    size_t ml = strlen(mark);
    *n = 0;
    for (const char *p = t; *n < FLOOD_MARKS && (p = memmem(p, len - (size_t)(p - t), mark, ml)); p += ml)
        offs[(*n)++] = (size_t)(p - t);
}

void pbx_flood_step(pbx_t *s, int budget)
{
    flood_tpl_t *tpl = s->flood_tpl;
    if (!tpl) {
        tpl = s->flood_tpl = calloc(FLOOD_PAT, sizeof *tpl);
        if (!tpl)
            return;
        buf_t b;
        buf_init(&b, 1 << 16);
        for (int k = 0; k < FLOOD_PAT; k++) {
            flood_render(s, k, &b);
            tpl[k].text = malloc(b.len + 1);
            if (!tpl[k].text)
                continue;
            memcpy(tpl[k].text, buf_data(&b), b.len);
            tpl[k].text[b.len] = '\0';
            tpl[k].len = b.len;
            const char *pv = strstr(tpl[k].text, "Privilege: ");
            if (pv)
                snprintf(tpl[k].priv, sizeof tpl[k].priv, "%.*s", (int)strcspn(pv + 11, "\r"), pv + 11);
            const char *ts = strstr(tpl[k].text, "Timestamp: ");
            tpl[k].ts_off = ts ? (size_t)(ts - tpl[k].text) + 11 : 0;
            mark_all(tpl[k].text, b.len, "XXX", tpl[k].num_off, &tpl[k].nnum);
            mark_all(tpl[k].text, b.len, "YYYYYYYY", tpl[k].hex_off, &tpl[k].nhex);
            mark_all(tpl[k].text, b.len, "ZZZZZZZZZZZZ", tpl[k].uid_off, &tpl[k].nuid);
        }
        buf_free(&b);
    }
    /* one timestamp per batch: events of a burst share their second anyway */
    pbx_ev_begin(s, "x", "call,all");
    const char *tsl = strstr(buf_data(&s->ev), "Timestamp: ");
    char ts[24] = "";
    if (tsl)
        snprintf(ts, sizeof ts, "%.17s", tsl + 11);
    for (int i = 0; i < budget && s->flood_left > 0; i++, s->flood_left--) {
        uint64_t k = s->flood_seq++;
        flood_tpl_t *t = &tpl[k % FLOOD_PAT];
        if (!t->text)
            continue;
        uint64_t cyc = k / FLOOD_PAT;
        char num[8], hex[12], uid[16];
        snprintf(num, sizeof num, "%03u", (unsigned)(cyc % 1000));
        snprintf(hex, sizeof hex, "%08x", (unsigned)cyc);
        snprintf(uid, sizeof uid, "%012llu", (unsigned long long)(cyc % 1000000000000ull));
        buf_reset(&s->ev);
        if (buf_append(&s->ev, t->text, t->len) != 0)
            return;
        char *d = buf_data(&s->ev);
        if (t->ts_off && strlen(ts) == 17)
            memcpy(d + t->ts_off, ts, 17);
        for (int j = 0; j < t->nnum; j++)
            memcpy(d + t->num_off[j], num, 3);
        for (int j = 0; j < t->nhex; j++)
            memcpy(d + t->hex_off[j], hex, 8);
        for (int j = 0; j < t->nuid; j++)
            memcpy(d + t->uid_off[j], uid, 12);
        buf_append(&s->ev, "", 1); /* NUL for filters, not sent */
        s->ev.len--;
        d = buf_data(&s->ev);
        for (int c = 0; c < s->nconns; c++) {
            pconn_t *cn = s->conns[c];
            if (pbx_conn_wants(s, cn, t->priv)) {
                pbx_conn_write(s, cn, d, s->ev.len);
                s->events_sent++;
            }
        }
    }
}

void pbx_flood_free(pbx_t *s)
{
    flood_tpl_t *tpl = s->flood_tpl;
    if (!tpl)
        return;
    for (int k = 0; k < FLOOD_PAT; k++)
        free(tpl[k].text);
    free(tpl);
    s->flood_tpl = NULL;
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
    a->prio = 5;
    if (c->b && next && strcmp(next, "queue") == 0) {
        pqueue_t *q = pbx_queue_find(s, "8000");
        snprintf(a->context, sizeof a->context, "dialer-queue");
        snprintf(a->exten, sizeof a->exten, "8000");
        if (q) {
            queue_join(s, c, q);
            return;
        }
    }
    if (!c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", a, 16);
        pbx_e_hangup(s, a, 16);
        drop_chan(s, c, &c->a);
        pbx_call_finish(s, c);
        return;
    }
    end_plain(s, c, false, true);
}
