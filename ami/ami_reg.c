/*
 * ami_reg: keeps the registry's agents and calls true to what Asterisk
 * reports.  Everything here is an apply function (reg.h): it runs on the
 * registry thread with the write lock held, so it only reads the event or
 * resync record it was given and changes records; no I/O, no posting, no
 * state of its own.
 *
 * Event order is not causal (OriginateResponse may come before or after
 * the Hangups, QueueCallerJoin, ...), so each rule below gives the same end
 * state whatever the order:
 * - A call we originated is found by its uniqueid (we send ChannelId, which
 *   becomes the ;1 leg's Uniqueid and every leg's Linkedid, even on failure),
 *   then by ActionID (OriginateResponse), then through the agent it is
 *   linked to (AgentComplete may come without the caller block).
 * - Finished statuses (FAILURE, NOANSWER, ABANDONED, SHORTCALL, HANGUP,
 *   LOST) are never left again; timestamps are set once.
 * - OriginateResponse Failure: Reason 3 -> NOANSWER, others FAILURE.  The
 *   failure cause is the Hangup cause of an unanswered leg when one is seen
 *   (either order); until then the one the Reason implies.
 * - The ;1 leg hanging up ends the call: linked -> HANGUP, queued ->
 *   ABANDONED, answered but never queued -> NOANSWER (Issabel's rules); not
 *   yet answered -> left for OriginateResponse to decide.
 * - Agents: AgentLogin/AgentLogoff for app_agent_pool agents ("Agent/N");
 *   queue membership from QueueMemberAdded/Removed/Status/Pause; dynamic
 *   agents (PJSIP/SIP/...) are logged in while they are members of a queue.
 *   A pause set outside the engine shows as break_id = -1 with the reason
 *   as break_name and its start from LastPause when a resync learns it (the
 *   engine's own breaks have positive ids and are left to the ECCP side).
 * - Whether an agent can take a call (ready_ms) follows its member's device
 *   status, not its login: app_agent_pool keeps a fresh login UNAVAILABLE
 *   for ~5 s, and a member without a channel driver is INVALID.
 * - A linked call records the leg that ends it as the agent
 *   (agent_hangup_channel: a Local member's ;2).
 * - A logged-out agent has no break and no hold left (the session's pauses
 *   end with it); the pause of an agent on hold is the engine's hold.
 * - Incoming calls: a caller the registry does not know that joins a watched
 *   queue (reg_post_inbound) becomes a REG_CALL_INCOMING call keyed by the
 *   joining channel's uniqueid, ONQUEUE, with the queue's id and its active
 *   incoming campaign; callers of other queues are ignored.  From then on the
 *   outgoing rules apply unchanged (AgentConnect links, the channel's hangup
 *   ends it HANGUP when linked and ABANDONED when not, QueueCallerAbandon
 *   abandons).  AgentConnect, AgentComplete or QueueCallerAbandon of an
 *   unknown caller on a watched queue create the call too, so a join reported
 *   late changes nothing.  Only the channel's own Hangup cannot (it names no
 *   queue): Asterisk publishes the join from the caller's channel thread before
 *   that channel can hang up, and a call missed anyway is finished by the next
 *   resync.  The dialer's own calls never become incoming: they are in the
 *   registry by their ChannelId before they can join.
 * - "Same agent" callbacks (cb_agent set by the dialer) go through the callback
 *   context's Dial, not a queue: that Dial's DialEnd ANSWER to the agent's leg links
 *   the call as AgentConnect would (on_dial_end); the end starts no wrap-up.
 * - Recordings: a VarSet of MIXMONITOR_FILENAME on any leg of a call (found by
 *   uniqueid, then Linkedid) gives the call its newest recording file (spool
 *   directory cut off) and counts it; the same name again is not a new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ami/ami.h"
#include "core/clock.h"
#include "core/hmap.h"
#include "core/log.h"

#define MOD "ami-reg"
#define AMI_RESYNC_PLACING_GRACE_MS 30000
/* Two reports of a call's end this close together are of the same end (our Hangup or
 * AgentComplete, then Asterisk's QueueMemberStatus with the new LastCall). */
#define AMI_REG_WRAP_SAME_MS 10000

static void cpy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

bool ami_reg_wants(ami_ev_type_e t)
{
    switch (t) {
    case AMI_EV_ORIGINATE_RESPONSE:
    case AMI_EV_NEWCHANNEL:
    case AMI_EV_DIAL_BEGIN:
    case AMI_EV_DIAL_END: /* a callback's Dial of its agent (on_dial_end) */
    case AMI_EV_HANGUP:
    case AMI_EV_QUEUE_CALLER_JOIN:
    case AMI_EV_QUEUE_CALLER_ABANDON:
    case AMI_EV_AGENT_CONNECT:
    case AMI_EV_AGENT_COMPLETE:
    case AMI_EV_QUEUE_MEMBER_ADDED:
    case AMI_EV_QUEUE_MEMBER_REMOVED:
    case AMI_EV_QUEUE_MEMBER_PAUSE:
    case AMI_EV_QUEUE_MEMBER_STATUS:
    case AMI_EV_AGENT_LOGIN:
    case AMI_EV_AGENT_LOGOFF:
    case AMI_EV_VARSET: /* MIXMONITOR_FILENAME only (on_varset) */
        return true;
    default:
        return false;
    }
}

void ami_reg_member_agent(const char *interface, const char *state_interface, char *out,
                          size_t outsz)
{
    if (state_interface && strncasecmp(state_interface, "Agent:", 6) == 0 && state_interface[6]) {
        snprintf(out, outsz, "Agent/%s", state_interface + 6);
        return;
    }
    cpy(out, outsz, interface);
}

static bool is_final(reg_call_status_e s)
{
    return s == REG_CS_FAILURE || s == REG_CS_NOANSWER || s == REG_CS_ABANDONED ||
           s == REG_CS_SHORTCALL || s == REG_CS_HANGUP || s == REG_CS_LOST;
}

static bool is_linked(reg_call_status_e s)
{
    return s == REG_CS_SUCCESS || s == REG_CS_ONHOLD;
}

/*
 * Finished states inferred from the ;1 hangup (answered-not-queued
 * NOANSWER, ABANDONED) may still meet evidence that arrives late, out of
 * order: a queue join, an agent connect.  They move up, never down:
 * answered NOANSWER < ABANDONED < HANGUP.
 */
static int end_rank(const reg_call_t *c)
{
    if (c->status == REG_CS_NOANSWER && c->t_answer_ms)
        return 1;
    if (c->status == REG_CS_ABANDONED)
        return 2;
    return 0;
}

/* The registry agent a queue member interface stands for.  Static
 * app_agent_pool members are "Local/N@agents" with state interface
 * "Agent:N"; events without the state interface (AgentConnect,
 * AgentComplete) are mapped by trying "Agent/N" for a Local/N@ctx member. */
static reg_agent_t *member_agent(reg_txn_t *tx, const char *iface, const char *state_iface)
{
    char num[REG_ID_LEN];
    ami_reg_member_agent(iface, state_iface, num, sizeof(num));
    reg_agent_t *a = num[0] ? reg_txn_agent(tx, num, false) : NULL;
    if (a || !iface || strncasecmp(iface, "Local/", 6) != 0)
        return a;
    const char *at = strchr(iface + 6, '@');
    size_t n = at ? (size_t)(at - iface - 6) : strlen(iface + 6);
    if (n == 0 || n >= sizeof(num) - 7)
        return NULL;
    snprintf(num, sizeof(num), "Agent/%.*s", (int)n, iface + 6);
    return reg_txn_agent(tx, num, false);
}

typedef struct find_ctx {
    const char *action_id;
    int server;
    reg_call_t *found;
} find_ctx_t;

static bool find_by_action(reg_txn_t *tx, reg_call_t *c, void *ctx)
{
    (void)tx;
    find_ctx_t *f = ctx;
    if (c->server == f->server && c->action_id[0] && strcmp(c->action_id, f->action_id) == 0) {
        f->found = c;
        return false;
    }
    return true;
}

/* Our call for an event: by the leg's uniqueid, then by linkedid (the ;2
 * leg and the queue legs carry our ;1 uniqueid as Linkedid).  *own is true
 * when the event is about the call's own ;1 leg. */
static reg_call_t *call_of(reg_txn_t *tx, const ami_event_t *ev, bool *own)
{
    reg_call_t *c = NULL;
    *own = false;
    if (ev->uniqueid[0] && (c = reg_txn_call_by_uniqueid(tx, ev->uniqueid)) &&
        c->server == ev->server) {
        *own = true;
        return c;
    }
    if (ev->linkedid[0] && (c = reg_txn_call_by_uniqueid(tx, ev->linkedid)) &&
        c->server == ev->server)
        return c;
    return NULL;
}

/* The agent's queue call ended at end_ms: its wrap-up begins (Asterisk sets the member's
 * LastCall at the same moment). */
static void agent_call_ended(reg_agent_t *a, int64_t end_ms)
{
    a->call_id = 0;
    a->wrap_start_ms = end_ms;
}

static void free_agent_of(reg_txn_t *tx, reg_call_t *c)
{
    if (!c->agent[0])
        return;
    reg_agent_t *a = reg_txn_agent(tx, c->agent, false);
    if (a && a->call_id == c->id) {
        /* A callback was no queue call: Asterisk holds its member in no wrap-up after it. */
        if (c->cb_agent[0] && !c->queue[0])
            a->call_id = 0;
        else
            agent_call_ended(a, c->t_end_ms ? c->t_end_ms : clk_wall_ms());
        reg_txn_agent_touch(tx, a);
    }
}

/* A member report's LastCall and Wrapuptime (-1: absent or refused).  LastCall is Asterisk's
 * clock, which may differ from ours (another host, pbxsim's virtual clock), so it is only
 * compared with the LastCall values before it: a newer one says a queue call ended.  Our
 * own end of the agent's linked call, when it came shortly before, is that same end;
 * otherwise (a call the registry did not follow: a queue it does not watch) the wrap-up is
 * taken to begin now, as Asterisk reports the end when it happens.  The first LastCall seen
 * only sets the baseline: it may be hours old (a resync, a static member).  A LastCall older
 * than the one kept is another queue's member (app_queue keeps one per queue) and changes
 * nothing.  True when the agent changed. */
static bool note_wrap(reg_agent_t *a, int64_t last_call_s, int wrapup_s, int64_t now)
{
    if (last_call_s >= 0 && last_call_s < a->last_call_s)
        return false;
    bool ch = false;
    if (last_call_s > a->last_call_s && a->last_call_s >= 0 && a->call_id == 0 &&
        !(a->wrap_start_ms && now - a->wrap_start_ms < AMI_REG_WRAP_SAME_MS)) {
        a->wrap_start_ms = now;
        ch = true;
    }
    if (last_call_s >= 0 && last_call_s != a->last_call_s) {
        a->last_call_s = last_call_s;
        ch = true;
    }
    if (wrapup_s >= 0 && wrapup_s * 1000 != a->wrapup_ms) {
        a->wrapup_ms = wrapup_s * 1000;
        ch = true;
    }
    return ch;
}

static void finish(reg_txn_t *tx, reg_call_t *c, reg_call_status_e st)
{
    c->status = st;
    if (!c->t_end_ms)
        c->t_end_ms = clk_wall_ms();
    free_agent_of(tx, c);
    reg_txn_call_touch(tx, c);
}

/* Asterisk hangup cause implied by an OriginateResponse Reason. */
static int reason_cause(int reason)
{
    switch (reason) {
    case 3: return 19; /* no answer */
    case 5: return 17; /* busy */
    case 8: return 34; /* congestion */
    default: return 0;
    }
}

/* Ends a call whose ;1 leg is gone, once its outcome is known. */
static void settle_ended(reg_txn_t *tx, reg_call_t *c)
{
    if (is_final(c->status) || !c->t_end_ms)
        return;
    if (is_linked(c->status) || c->t_link_ms)
        finish(tx, c, REG_CS_HANGUP);
    else if (c->status == REG_CS_ONQUEUE || c->t_queue_ms)
        finish(tx, c, REG_CS_ABANDONED);
    else if (c->t_answer_ms)
        finish(tx, c, REG_CS_NOANSWER);
    /* else: not answered yet; OriginateResponse decides */
}

static void on_originate_response(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    if (!c && ev->action_id[0]) {
        find_ctx_t f = {ev->action_id, ev->server, NULL};
        reg_txn_foreach_call(tx, find_by_action, &f);
        c = f.found;
    }
    if (!c) {
        LOG_DEBUG(MOD, "OriginateResponse matches no call action_id=%s uniqueid=%s", ev->action_id,
                  ev->uniqueid);
        return;
    }
    if (!c->uniqueid[0] && ev->uniqueid[0] && strcmp(ev->uniqueid, "<unknown>") != 0)
        reg_txn_call_set_uniqueid(tx, c, ev->uniqueid);
    if (is_final(c->status))
        return;
    if (strcasecmp(ev->response, "Success") == 0) {
        if (!c->t_answer_ms)
            c->t_answer_ms = clk_wall_ms();
        c->failure_cause = 0;
        if (c->status == REG_CS_PLACING || c->status == REG_CS_DIALING)
            c->status = REG_CS_RINGING; /* Issabel's name for "answered, on its way" */
        reg_txn_call_touch(tx, c);
        settle_ended(tx, c);
        return;
    }
    if (!c->failure_cause)
        c->failure_cause = reason_cause(ev->reason);
    finish(tx, c, ev->reason == 3 ? REG_CS_NOANSWER : REG_CS_FAILURE);
}

static void on_hangup(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    if (!c)
        return;
    /* the cause of an unanswered call is its failure cause, whichever leg
     * says it; legs that only follow the other report 0 */
    if (!c->t_answer_ms && !c->t_link_ms && !c->t_queue_ms && ev->cause > 0 &&
        c->failure_cause != ev->cause) {
        c->failure_cause = ev->cause;
        reg_txn_call_touch(tx, c);
    }
    if (!own)
        return;
    if (!c->t_end_ms) {
        c->t_end_ms = clk_wall_ms();
        reg_txn_call_touch(tx, c);
    }
    settle_ended(tx, c);
}

static void on_newchannel(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    if (c && own && !c->channel[0]) {
        cpy(c->channel, sizeof(c->channel), ev->channel);
        reg_txn_call_touch(tx, c);
    }
}

static void on_dial_begin(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    /* a real trunk (not a Local hop) is the call's way out */
    if (!c || is_final(c->status) || !ev->dest_channel[0] ||
        strncasecmp(ev->dest_channel, "Local/", 6) == 0 || c->trunk[0])
        return;
    const char *dash = strrchr(ev->dest_channel, '-');
    size_t n = dash ? (size_t)(dash - ev->dest_channel) : strlen(ev->dest_channel);
    snprintf(c->trunk, sizeof(c->trunk), "%.*s", (int)n, ev->dest_channel);
    if (c->status == REG_CS_PLACING)
        c->status = REG_CS_DIALING;
    reg_txn_call_touch(tx, c);
}

/* The trunk of a channel name: "SIP/carrier-0000002a" -> "SIP/carrier",
 * "Local/5001@customers-0000001f;2" -> "Local/5001@customers". */
static void channel_trunk(char *out, size_t outsz, const char *channel)
{
    const char *dash = strrchr(channel, '-');
    size_t n = dash && dash != channel ? (size_t)(dash - channel) : strlen(channel);
    snprintf(out, outsz, "%.*s", (int)n, channel);
}

/* A caller of a watched queue whom the registry does not know yet: a new incoming
 * call, ONQUEUE since queued_ms.  NULL when the queue is not watched (ignored, as
 * Issabel does), the event names no channel, or memory ran out. */
static reg_call_t *incoming_new(reg_txn_t *tx, int server, const char *queue,
                                const char *uniqueid, const char *channel,
                                const char *caller_num, int64_t queued_ms)
{
    if (!uniqueid[0])
        return NULL;
    const reg_inbound_queue_t *w = reg_txn_inbound(tx, queue);
    if (!w) {
        LOG_DEBUG(MOD, "caller on a queue not watched ignored queue=%s uniqueid=%s", queue,
                  uniqueid);
        return NULL;
    }
    reg_call_t *c = reg_txn_call_new(tx);
    if (!c) {
        LOG_ERR_RL(MOD, "incoming call not tracked: out of memory uniqueid=%s", uniqueid);
        return NULL;
    }
    c->type = REG_CALL_INCOMING;
    c->status = REG_CS_ONQUEUE;
    c->server = server;
    c->queue_id = w->queue_id;
    c->campaign_id = w->campaign_id;
    cpy(c->queue, sizeof(c->queue), queue);
    cpy(c->channel, sizeof(c->channel), channel);
    if (strcmp(caller_num, "<unknown>") != 0)
        cpy(c->phone, sizeof(c->phone), caller_num);
    channel_trunk(c->trunk, sizeof(c->trunk), channel);
    c->t_queue_ms = queued_ms;
    c->t_answer_ms = queued_ms; /* in the queue means answered */
    reg_txn_call_set_uniqueid(tx, c, uniqueid);
    reg_txn_call_touch(tx, c);
    LOG_DEBUG(MOD, "incoming call queue=%s uniqueid=%s callerid=%s campaign=%lld", queue,
              uniqueid, c->phone, (long long)c->campaign_id);
    return c;
}

/* The call of a queue event about the caller: a known one, or a new incoming call
 * when the caller is unknown and its queue watched (*own as call_of). */
static reg_call_t *queue_call_of(reg_txn_t *tx, const ami_event_t *ev, bool *own)
{
    reg_call_t *c = call_of(tx, ev, own);
    if (c)
        return c;
    c = incoming_new(tx, ev->server, ev->queue, ev->uniqueid, ev->channel, ev->caller_num,
                     clk_wall_ms());
    *own = c != NULL;
    return c;
}

static void on_queue_join(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = queue_call_of(tx, ev, &own);
    if (!c || !own || (is_final(c->status) && end_rank(c) != 1))
        return;
    int64_t now = clk_wall_ms();
    if (is_final(c->status)) { /* ended before we heard it joined: abandoned */
        if (!c->t_queue_ms)
            c->t_queue_ms = now;
        cpy(c->queue, sizeof(c->queue), ev->queue);
        finish(tx, c, REG_CS_ABANDONED);
        return;
    }
    if (!c->t_queue_ms)
        c->t_queue_ms = now;
    if (!c->t_answer_ms)
        c->t_answer_ms = now; /* in the queue means answered */
    cpy(c->queue, sizeof(c->queue), ev->queue);
    if (!is_linked(c->status))
        c->status = REG_CS_ONQUEUE;
    reg_txn_call_touch(tx, c);
    settle_ended(tx, c);
}

static void on_queue_abandon(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = queue_call_of(tx, ev, &own);
    if (!c || !own || is_linked(c->status) || (is_final(c->status) && end_rank(c) != 1))
        return;
    if (!c->t_queue_ms)
        c->t_queue_ms = clk_wall_ms();
    finish(tx, c, REG_CS_ABANDONED);
}

/* The leg whose hangup Asterisk reports as the agent ending the call: for a
 * Local member (Local/9000@agents-…;1 is bridged with the customer) its ;2
 * half, because app_queue takes a hangup of the ;1 for the caller's (Reason
 * caller, hangup_member_legs.txt); any other member channel is the agent's. */
static void set_agent_legs(reg_call_t *c, const char *dest)
{
    cpy(c->agent_channel, sizeof(c->agent_channel), dest);
    size_t n = strlen(dest);
    cpy(c->agent_hangup_channel, sizeof(c->agent_hangup_channel), dest);
    if (strncasecmp(dest, "Local/", 6) == 0 && n > 2 && strcmp(dest + n - 2, ";1") == 0 &&
        n < sizeof(c->agent_hangup_channel))
        c->agent_hangup_channel[n - 1] = '2';
}

static void on_agent_connect(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = queue_call_of(tx, ev, &own);
    if (!c || (is_final(c->status) && !end_rank(c)))
        return;
    reg_agent_t *a = member_agent(tx, ev->interface, ev->state_interface);
    int64_t now = clk_wall_ms();
    if (is_final(c->status)) { /* it ended first, but an agent did take it */
        if (!c->t_link_ms)
            c->t_link_ms = now;
        set_agent_legs(c, ev->dest_channel);
        if (a)
            cpy(c->agent, sizeof(c->agent), a->number);
        finish(tx, c, REG_CS_HANGUP);
        return;
    }
    if (!c->t_link_ms)
        c->t_link_ms = now;
    if (!c->t_answer_ms)
        c->t_answer_ms = now;
    c->status = REG_CS_SUCCESS;
    set_agent_legs(c, ev->dest_channel);
    if (ev->queue[0])
        cpy(c->queue, sizeof(c->queue), ev->queue);
    if (a) {
        cpy(c->agent, sizeof(c->agent), a->number);
        a->call_id = c->id;
        a->wrap_start_ms = 0; /* a new call: any wrap-up is over */
        reg_txn_agent_touch(tx, a);
    }
    reg_txn_call_touch(tx, c);
}

/* Whether a Dial's destination channel is the callback agent's: AGENTCHANNEL is
 * "Local/N@agents" for "Agent/N" (the leg is "Local/N@agents-0000002a;1") and the agent's
 * own device otherwise ("SIP/1064" -> "SIP/1064-0000002b"). */
static bool dest_is_agent(const char *dest, const char *agent)
{
    size_t n = strlen(agent);
    if (strncasecmp(agent, "Agent/", 6) == 0) {
        const char *num = agent + 6;
        size_t nn = n - 6;
        return strncasecmp(dest, "Local/", 6) == 0 && strncmp(dest + 6, num, nn) == 0 &&
               dest[6 + nn] == '@';
    }
    return strncmp(dest, agent, n) == 0 && dest[n] == '-';
}

/*
 * A "same agent" callback (cb_agent set) is not queued: its channel runs the callback
 * context's Dial(${AGENTCHANNEL}).  That Dial's DialEnd (Channel = the call's own leg, its
 * Uniqueid our ChannelId; DestChannel = the agent's leg; DialStatus ANSWER) is the moment a
 * queue call's AgentConnect stands for, so the call is linked the same way: SUCCESS, t_link,
 * the agent on this call.  app_queue reports its member's answer with the same DialEnd
 * (queue_call_to_agent.txt, just before AgentConnect), which is why only a callback's DialEnd
 * counts.  Any other DialStatus (NOANSWER, BUSY, CHANUNAVAIL, CANCEL, ...) links nothing: the
 * channel's hangup then ends the call NOANSWER (answered, never linked).
 */
static void on_dial_end(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    if (!c || !own || !c->cb_agent[0] || c->t_link_ms || !ev->dest_channel[0] ||
        strcasecmp(ev->dial_status, "ANSWER") != 0 || !dest_is_agent(ev->dest_channel, c->cb_agent))
        return;
    if (is_final(c->status) && !end_rank(c))
        return;
    reg_agent_t *a = reg_txn_agent(tx, c->cb_agent, false);
    int64_t now = clk_wall_ms();
    c->t_link_ms = now;
    if (!c->t_answer_ms)
        c->t_answer_ms = now;
    set_agent_legs(c, ev->dest_channel);
    cpy(c->agent, sizeof(c->agent), c->cb_agent);
    if (is_final(c->status)) { /* its hangup came first: it did talk */
        finish(tx, c, REG_CS_HANGUP);
        return;
    }
    c->status = REG_CS_SUCCESS;
    if (a) {
        a->call_id = c->id;
        a->wrap_start_ms = 0;
        reg_txn_agent_touch(tx, a);
    }
    reg_txn_call_touch(tx, c);
}

static void on_agent_complete(reg_txn_t *tx, const ami_event_t *ev)
{
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    reg_agent_t *a = member_agent(tx, ev->interface, ev->state_interface);
    if (!c && a && a->call_id)
        c = reg_txn_call(tx, a->call_id); /* no caller block in this one */
    if (!c) { /* a caller of a watched queue heard of first at its end (call_of found none) */
        c = incoming_new(tx, ev->server, ev->queue, ev->uniqueid, ev->channel, ev->caller_num,
                         clk_wall_ms());
        if (c)
            set_agent_legs(c, ev->dest_channel);
    }
    int64_t now = clk_wall_ms();
    bool ends = c && (!is_final(c->status) || end_rank(c));
    if (ends && !c->t_end_ms)
        c->t_end_ms = now; /* finish() keeps it: the call ends where the wrap-up begins */
    if (a && (!c || a->call_id == c->id || a->call_id == 0)) {
        /* AgentComplete is Asterisk's end of a queue call, followed or not: the wrap-up
         * begins now unless our end of the same call (its Hangup) came just before. */
        if (a->call_id != 0 || !a->wrap_start_ms ||
            now - a->wrap_start_ms >= AMI_REG_WRAP_SAME_MS) {
            agent_call_ended(a, c && c->t_end_ms ? c->t_end_ms : now);
            reg_txn_agent_touch(tx, a);
        }
    }
    if (ends) {
        if (!c->t_link_ms)
            c->t_link_ms = now;
        if (!c->agent[0] && a)
            cpy(c->agent, sizeof(c->agent), a->number);
        finish(tx, c, REG_CS_HANGUP);
    }
}

static bool has_queue(const reg_agent_t *a, const char *q)
{
    for (int i = 0; i < a->nqueues; i++)
        if (strcmp(a->queues[i], q) == 0)
            return true;
    return false;
}

static bool add_queue(reg_agent_t *a, const char *q)
{
    if (!q[0] || has_queue(a, q) || a->nqueues >= REG_MAX_QUEUES)
        return false;
    cpy(a->queues[a->nqueues++], REG_ID_LEN, q);
    return true;
}

static bool del_queue(reg_agent_t *a, const char *q)
{
    for (int i = 0; i < a->nqueues; i++) {
        if (strcmp(a->queues[i], q) == 0) {
            memmove(a->queues[i], a->queues[i + 1], (size_t)(a->nqueues - i - 1) * REG_ID_LEN);
            a->nqueues--;
            return true;
        }
    }
    return false;
}

static bool is_pool_agent(const reg_agent_t *a)
{
    return strncasecmp(a->number, "Agent/", 6) == 0;
}

/* app_queue offers calls to UNKNOWN and NOT_INUSE members and rings busy ones
 * with ringinuse; it never reaches an INVALID or UNAVAILABLE one. */
static bool member_reachable(int status)
{
    return status >= 0 && status != 4 && status != 5;
}

/* Keeps ready_ms true to login and member status; true when it changed. */
static bool update_ready(reg_agent_t *a)
{
    bool want = a->login == REG_LOGGED_IN && member_reachable(a->member_status);
    if (want == (a->ready_ms != 0))
        return false;
    a->ready_ms = want ? clk_wall_ms() : 0;
    return true;
}

static void set_login(reg_agent_t *a, reg_login_e st, const char *channel, int server)
{
    if (st == REG_LOGGED_IN && a->login != REG_LOGGED_IN)
        a->login_time_ms = clk_wall_ms();
    /* A session's break and hold end with it (pauseend before agentloggedout): an
     * agent logged off by Asterisk (restart, phone hung up) is not left paused.
     * ready_ms follows (update_ready would clear it anyway). */
    if (st == REG_LOGGED_OUT)
        reg_agent_set_logged_out(a);
    if (channel && channel[0])
        cpy(a->channel, sizeof(a->channel), channel);
    a->login = st;
    a->server = server;
}

/* External pause state (break_id -1); the engine's own breaks are not touched.
 * start_ms is when Asterisk says the pause began (0: now).  A new reason while
 * paused is a new pause: Asterisk gives it a new LastPause too
 * (queue_add_penalty_reason.txt). */
static bool apply_break_pause(reg_agent_t *a, int paused, const char *reason, int64_t start_ms)
{
    const char *name = reason[0] ? reason : "paused";
    /* The agent service pauses an agent for a hold (Reason "Hold") with on_hold already
     * set: that pause is the engine's, not one set on the phone system. */
    if (paused == 1 && a->break_id == 0 && a->on_hold)
        return false;
    if (paused == 1 && (a->break_id == 0 || (a->break_id == -1 && strcmp(a->break_name, name) != 0))) {
        a->break_id = -1;
        cpy(a->break_name, sizeof(a->break_name), name);
        a->break_start_ms = start_ms > 0 ? start_ms : clk_wall_ms();
        return true;
    }
    if (paused == 0 && a->break_id == -1) {
        a->break_id = 0;
        a->break_name[0] = 0;
        a->break_start_ms = 0;
        return true;
    }
    return false;
}

/* Where a pause state comes from: a QueueMemberPause (a new pause, or its end), another
 * member event that reports the state as it is, or a resync's QueueStatus. */
typedef enum pause_src { PAUSE_EVENT, PAUSE_REPORT, PAUSE_RESYNC } pause_src_e;

static bool apply_pause(reg_agent_t *a, int paused, const char *reason, int64_t start_ms,
                        pause_src_e src)
{
    /* A dialer's hold on the agent for a callback is not a break: kept apart, and a later
     * pause (a break, a hold) or an unpause replaces it, as it does in Asterisk.  One found
     * by a resync stays "found" through reports of it (dl_reserve.c lifts those only). */
    uint8_t cb = REG_CB_PAUSE_NONE;
    if (paused == 1 && strcmp(reason, AMI_CB_PAUSE_REASON) == 0)
        cb = src == PAUSE_RESYNC                                     ? REG_CB_PAUSE_FOUND
             : src == PAUSE_REPORT && a->cb_pause != REG_CB_PAUSE_NONE ? a->cb_pause
                                                                     : REG_CB_PAUSE_SEEN;
    bool cb_changed = cb != a->cb_pause;
    a->cb_pause = cb;
    if (cb != REG_CB_PAUSE_NONE)
        return cb_changed;
    return apply_break_pause(a, paused, reason, start_ms) || cb_changed;
}

static void on_member(reg_txn_t *tx, const ami_event_t *ev)
{
    reg_agent_t *a = member_agent(tx, ev->interface, ev->state_interface);
    if (!a)
        return;
    bool ch = false;
    switch (ev->type) {
    case AMI_EV_QUEUE_MEMBER_REMOVED:
        ch = del_queue(a, ev->queue);
        if (!is_pool_agent(a) && a->nqueues == 0 && a->login != REG_LOGGED_OUT) {
            set_login(a, REG_LOGGED_OUT, NULL, ev->server);
            ch = true;
        }
        break;
    case AMI_EV_QUEUE_MEMBER_PAUSE:
        ch = add_queue(a, ev->queue);
        ch |= apply_pause(a, ev->paused, ev->paused_reason, 0, PAUSE_EVENT);
        break;
    default: /* Added, Status */
        ch = add_queue(a, ev->queue);
        if (!is_pool_agent(a) && a->login != REG_LOGGED_IN) {
            set_login(a, REG_LOGGED_IN, NULL, ev->server);
            ch = true;
        }
        if (ev->paused >= 0)
            ch |= apply_pause(a, ev->paused, ev->paused_reason, 0, PAUSE_REPORT);
        break;
    }
    if (ev->type == AMI_EV_QUEUE_MEMBER_REMOVED && a->nqueues == 0) {
        ch |= a->member_status != -1 || a->cb_pause != REG_CB_PAUSE_NONE;
        a->member_status = -1;
        a->cb_pause = REG_CB_PAUSE_NONE; /* no member left to be paused */
    } else if (ev->type != AMI_EV_QUEUE_MEMBER_REMOVED && ev->status >= 0 &&
               ev->status != a->member_status) {
        a->member_status = ev->status;
        ch = true;
    }
    if (ev->type != AMI_EV_QUEUE_MEMBER_REMOVED)
        ch |= note_wrap(a, ev->last_call_s, ev->wrapup_s, clk_wall_ms());
    ch |= update_ready(a);
    if (ch)
        reg_txn_agent_touch(tx, a);
}

static void on_agent_login(reg_txn_t *tx, const ami_event_t *ev, bool in)
{
    char num[REG_ID_LEN];
    snprintf(num, sizeof(num), "Agent/%s", ev->agent);
    reg_agent_t *a = ev->agent[0] ? reg_txn_agent(tx, num, false) : NULL;
    if (!a) {
        LOG_DEBUG(MOD, "%s for an unknown agent ignored agent=%s", ev->name, num);
        return;
    }
    set_login(a, in ? REG_LOGGED_IN : REG_LOGGED_OUT, in ? ev->channel : NULL, ev->server);
    /* app_agent_pool keeps a fresh login UNAVAILABLE until its probation ends
     * (QueueMemberStatus 1 about 5 s later, agent_login_probation.txt) */
    if (in)
        a->member_status = 5;
    update_ready(a);
    reg_txn_agent_touch(tx, a);
}

/* MixMonitor started recording a leg of a call (the customer's or the agent's: either
 * names the call by uniqueid or Linkedid).  A file name already seen last is a repeat
 * (Asterisk sets the variable again on a restart of the same recording), not new. */
static void on_varset(reg_txn_t *tx, const ami_event_t *ev)
{
    if (strcasecmp(ev->variable, AMI_REG_RECORDING_VAR) != 0 || !ev->value[0])
        return;
    bool own;
    reg_call_t *c = call_of(tx, ev, &own);
    if (!c) {
        LOG_DEBUG(MOD, "recording of no tracked call ignored uniqueid=%s file=%s", ev->uniqueid,
                  ev->value);
        return;
    }
    const char *file = ev->value;
    size_t dl = sizeof(AMI_REG_MONITOR_DIR) - 1;
    if (strncmp(file, AMI_REG_MONITOR_DIR, dl) == 0 && file[dl])
        file += dl;
    if (c->nrecordings && strcmp(c->recording, file) == 0)
        return;
    if (strlen(file) >= sizeof(c->recording))
        LOG_WARN_RL(MOD, "recording file name cut to %zu bytes uniqueid=%s file=%s",
                    sizeof(c->recording) - 1, c->uniqueid, file);
    cpy(c->recording, sizeof(c->recording), file);
    cpy(c->recording_uniqueid, sizeof(c->recording_uniqueid), ev->uniqueid);
    cpy(c->recording_channel, sizeof(c->recording_channel), ev->channel);
    c->nrecordings++;
    reg_txn_call_touch(tx, c);
}

void ami_reg_apply_event(reg_txn_t *tx, void *arg)
{
    const ami_event_t *ev = arg;
    reg_txn_set_source_us(tx, ev->rx_us);
    switch (ev->type) {
    case AMI_EV_ORIGINATE_RESPONSE: on_originate_response(tx, ev); break;
    case AMI_EV_HANGUP: on_hangup(tx, ev); break;
    case AMI_EV_NEWCHANNEL: on_newchannel(tx, ev); break;
    case AMI_EV_DIAL_BEGIN: on_dial_begin(tx, ev); break;
    case AMI_EV_DIAL_END: on_dial_end(tx, ev); break;
    case AMI_EV_QUEUE_CALLER_JOIN: on_queue_join(tx, ev); break;
    case AMI_EV_QUEUE_CALLER_ABANDON: on_queue_abandon(tx, ev); break;
    case AMI_EV_AGENT_CONNECT: on_agent_connect(tx, ev); break;
    case AMI_EV_AGENT_COMPLETE: on_agent_complete(tx, ev); break;
    case AMI_EV_QUEUE_MEMBER_ADDED:
    case AMI_EV_QUEUE_MEMBER_REMOVED:
    case AMI_EV_QUEUE_MEMBER_PAUSE:
    case AMI_EV_QUEUE_MEMBER_STATUS: on_member(tx, ev); break;
    case AMI_EV_AGENT_LOGIN: on_agent_login(tx, ev, true); break;
    case AMI_EV_AGENT_LOGOFF: on_agent_login(tx, ev, false); break;
    case AMI_EV_VARSET: on_varset(tx, ev); break;
    default: break;
    }
}

void ami_reg_event_free(void *arg)
{
    ami_event_free(arg);
}

int ami_reg_post_event(reg_t *r, ami_event_t *ev)
{
    return reg_post(r, ami_reg_apply_event, ev, ami_reg_event_free);
}

/* ------------------------------------------------------------ resync */

void ami_resync_free(ami_resync_t *rs)
{
    if (!rs)
        return;
    free(rs->uniqueids);
    free(rs->agents);
    free(rs->members);
    free(rs->entries);
    free(rs);
}

void ami_reg_resync_free(void *arg)
{
    ami_resync_free(arg);
}

static bool is_event(const ami_rec_t *r, const char *name)
{
    return strcasecmp(ami_rec_get(r, "Event"), name) == 0;
}

ami_resync_t *ami_resync_build(int server, bool restarted, int64_t since_ms,
                               const ami_response_t *channels, const ami_response_t *agents,
                               const ami_response_t *queues)
{
    ami_resync_t *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    rs->server = server;
    rs->restarted = restarted;
    rs->since_ms = since_ms;
    if (channels && channels->status == CCD_OK && channels->ok) {
        rs->have_channels = true;
        rs->uniqueids = calloc(2 * channels->nev + 1, sizeof(*rs->uniqueids));
        if (!rs->uniqueids)
            goto fail;
        for (size_t i = 0; i < channels->nev; i++) {
            const ami_rec_t *e = channels->ev[i];
            if (!is_event(e, "CoreShowChannel"))
                continue;
            /* a call is alive while any channel is, or carries its id as Linkedid */
            const char *ids[2] = {ami_rec_get(e, "Uniqueid"), ami_rec_get(e, "Linkedid")};
            for (int k = 0; k < 2; k++)
                if (ids[k][0])
                    cpy(rs->uniqueids[rs->nuniqueids++], REG_UID_LEN, ids[k]);
        }
    }
    if (agents && agents->status == CCD_OK && agents->ok) {
        rs->have_agents = true;
        rs->agents = calloc(agents->nev + 1, sizeof(*rs->agents));
        if (!rs->agents)
            goto fail;
        for (size_t i = 0; i < agents->nev; i++) {
            const ami_rec_t *e = agents->ev[i];
            if (!is_event(e, "Agents") || !ami_rec_get(e, "Agent")[0])
                continue;
            ami_resync_agent_t *a = &rs->agents[rs->nagents++];
            snprintf(a->number, sizeof(a->number), "Agent/%s", ami_rec_get(e, "Agent"));
            cpy(a->status, sizeof(a->status), ami_rec_get(e, "Status"));
            cpy(a->channel, sizeof(a->channel), ami_rec_get(e, "Channel"));
        }
    }
    if (queues && queues->status == CCD_OK && queues->ok) {
        rs->have_members = true;
        rs->members = calloc(queues->nev + 1, sizeof(*rs->members));
        rs->entries = calloc(queues->nev + 1, sizeof(*rs->entries));
        if (!rs->members || !rs->entries)
            goto fail;
        for (size_t i = 0; i < queues->nev; i++) {
            const ami_rec_t *e = queues->ev[i];
            if (is_event(e, "QueueEntry")) {
                ami_resync_entry_t *q = &rs->entries[rs->nentries];
                cpy(q->queue, sizeof(q->queue), ami_rec_get(e, "Queue"));
                cpy(q->uniqueid, sizeof(q->uniqueid), ami_rec_get(e, "Uniqueid"));
                cpy(q->channel, sizeof(q->channel), ami_rec_get(e, "Channel"));
                cpy(q->caller_num, sizeof(q->caller_num), ami_rec_get(e, "CallerIDNum"));
                q->wait_s = strtoll(ami_rec_get(e, "Wait"), NULL, 10);
                if (q->wait_s < 0)
                    q->wait_s = 0;
                if (q->queue[0] && q->uniqueid[0])
                    rs->nentries++;
                continue;
            }
            if (!is_event(e, "QueueMember"))
                continue;
            ami_resync_member_t *m = &rs->members[rs->nmembers++];
            const char *loc = ami_rec_find(e, "Location");
            ami_reg_member_agent(loc ? loc : ami_rec_get(e, "Interface"),
                                 ami_rec_get(e, "StateInterface"), m->agent, sizeof(m->agent));
            cpy(m->queue, sizeof(m->queue), ami_rec_get(e, "Queue"));
            const char *st = ami_rec_get(e, "Status");
            m->status = st[0] ? atoi(st) : -1;
            m->paused = atoi(ami_rec_get(e, "Paused"));
            cpy(m->paused_reason, sizeof(m->paused_reason), ami_rec_get(e, "PausedReason"));
            m->last_pause_s = strtoll(ami_rec_get(e, "LastPause"), NULL, 10);
            const char *lc = ami_rec_get(e, "LastCall"), *wt = ami_rec_get(e, "Wrapuptime");
            m->last_call_s = ami_parse_lastcall(lc, strlen(lc));
            m->wrapup_s = ami_parse_wrapuptime(wt, strlen(wt));
        }
    }
    return rs;
fail:
    ami_resync_free(rs);
    return NULL;
}

typedef struct rs_ctx {
    const ami_resync_t *rs;
    hmap_t *live;
    size_t lost;
} rs_ctx_t;

static bool rs_call(reg_txn_t *tx, reg_call_t *c, void *arg)
{
    rs_ctx_t *x = arg;
    const ami_resync_t *rs = x->rs;
    if (c->server != rs->server || is_final(c->status))
        return true;
    /* a call placed (or, incoming, queued) after the lists were asked for may not be
     * in them */
    int64_t born = c->type == REG_CALL_INCOMING ? c->t_queue_ms : c->t_originate_ms;
    if (born && born >= rs->since_ms)
        return true;
    /* Asterisk may not have made the channels of a fresh Originate yet
     * (its originate threads can lag): without a restart, a PLACING call
     * is only declared lost once it is older than the grace period; the
     * dialer's own Placing timeout covers the rest */
    if (!rs->restarted && c->status == REG_CS_PLACING &&
        c->t_originate_ms > rs->since_ms - AMI_RESYNC_PLACING_GRACE_MS)
        return true;
    bool gone = rs->restarted;
    if (!gone && rs->have_channels && c->uniqueid[0])
        gone = hmap_get(x->live, c->uniqueid) == NULL;
    if (gone) {
        finish(tx, c, REG_CS_LOST);
        x->lost++;
    }
    return true;
}

static const ami_resync_agent_t *rs_agent(const ami_resync_t *rs, const char *number)
{
    for (size_t i = 0; i < rs->nagents; i++)
        if (strcasecmp(rs->agents[i].number, number) == 0)
            return &rs->agents[i];
    return NULL;
}

static bool rs_agent_fix(reg_txn_t *tx, reg_agent_t *a, void *arg)
{
    rs_ctx_t *x = arg;
    const ami_resync_t *rs = x->rs;
    if (a->server != rs->server)
        return true;
    bool ch = false;
    if (rs->restarted && a->call_id) {
        a->call_id = 0;
        ch = true;
    }
    if (rs->restarted && (a->wrap_start_ms || a->last_call_s != -1)) {
        /* a restarted Asterisk remembers no member's last call */
        a->wrap_start_ms = 0;
        a->last_call_s = -1;
        ch = true;
    }
    if (rs->have_members) {
        /* membership is exactly what QueueStatus listed */
        char old[REG_MAX_QUEUES][REG_ID_LEN];
        int nold = a->nqueues;
        memcpy(old, a->queues, sizeof(old));
        a->nqueues = 0;
        const ami_resync_member_t *pm = NULL; /* the member whose pause state counts */
        int mstatus = -1;
        for (size_t i = 0; i < rs->nmembers; i++) {
            const ami_resync_member_t *m = &rs->members[i];
            if (strcasecmp(m->agent, a->number) != 0)
                continue;
            add_queue(a, m->queue);
            if (!pm || (m->paused == 1 && (pm->paused != 1 || m->last_pause_s > pm->last_pause_s)))
                pm = m; /* paused anywhere is paused; the latest pause names it */
            if (m->status >= 0)
                mstatus = m->status; /* one device: every queue reports the same state */
            ch |= note_wrap(a, m->last_call_s, m->wrapup_s, clk_wall_ms());
        }
        if (nold != a->nqueues || memcmp(old, a->queues, sizeof(old[0]) * (size_t)nold) != 0)
            ch = true;
        if (!pm && a->cb_pause != REG_CB_PAUSE_NONE) {
            a->cb_pause = REG_CB_PAUSE_NONE; /* no member left to be paused */
            ch = true;
        }
        if (pm)
            ch |= apply_pause(a, pm->paused, pm->paused_reason,
                              pm->last_pause_s > 0 ? pm->last_pause_s * 1000 : 0, PAUSE_RESYNC);
        if (mstatus != a->member_status) {
            a->member_status = mstatus;
            ch = true;
        }
        if (!is_pool_agent(a)) {
            reg_login_e want = a->nqueues ? REG_LOGGED_IN : REG_LOGGED_OUT;
            if (a->login != want) {
                set_login(a, want, NULL, rs->server);
                ch = true;
            }
        }
    }
    if (rs->have_agents && is_pool_agent(a)) {
        const ami_resync_agent_t *ra = rs_agent(rs, a->number);
        bool in = ra && strcasecmp(ra->status, "AGENT_LOGGEDOFF") != 0;
        if (in && a->login != REG_LOGGED_IN) {
            set_login(a, REG_LOGGED_IN, ra->channel, rs->server);
            ch = true;
        } else if (!in && a->login != REG_LOGGED_OUT) {
            set_login(a, REG_LOGGED_OUT, NULL, rs->server);
            ch = true;
        } else if (in && ra->channel[0] && strcmp(a->channel, ra->channel) != 0) {
            cpy(a->channel, sizeof(a->channel), ra->channel);
            ch = true;
        }
        /* an agent who is not on a call cannot be holding one */
        if (in && a->call_id && strcasecmp(ra->status, "AGENT_IDLE") == 0) {
            reg_call_t *c = reg_txn_call(tx, a->call_id);
            if (!c || is_final(c->status)) {
                a->call_id = 0;
                ch = true;
            }
        }
    } else if (rs->restarted && is_pool_agent(a) && a->login != REG_LOGGED_OUT) {
        /* without the Agents list: a restart logged everyone off */
        set_login(a, REG_LOGGED_OUT, NULL, rs->server);
        ch = true;
    }
    ch |= update_ready(a);
    if (ch)
        reg_txn_agent_touch(tx, a);
    return true;
}

void ami_reg_apply_resync(reg_txn_t *tx, void *arg)
{
    const ami_resync_t *rs = arg;
    rs_ctx_t x = {rs, NULL, 0};
    if (rs->have_channels && !rs->restarted) {
        x.live = hmap_new(rs->nuniqueids * 2 + 16);
        if (!x.live) {
            LOG_ERR(MOD, "resync of server %d skipped: out of memory", rs->server);
            return;
        }
        for (size_t i = 0; i < rs->nuniqueids; i++)
            hmap_put(x.live, rs->uniqueids[i], (void *)1, NULL);
    }
    if (rs->restarted || rs->have_channels)
        reg_txn_foreach_call(tx, rs_call, &x);
    reg_txn_foreach_agent(tx, rs_agent_fix, &x);
    hmap_free(x.live);
    /* callers queued while we were away (or through the restart) on watched queues */
    size_t found = 0;
    for (size_t i = 0; i < rs->nentries; i++) {
        const ami_resync_entry_t *e = &rs->entries[i];
        if (reg_txn_call_by_uniqueid(tx, e->uniqueid))
            continue;
        if (incoming_new(tx, rs->server, e->queue, e->uniqueid, e->channel, e->caller_num,
                         rs->since_ms - e->wait_s * 1000))
            found++;
    }
    if (found)
        LOG_NOTICE(MOD, "resync: incoming callers found queued server=%d calls=%zu", rs->server,
                   found);
    if (x.lost)
        LOG_NOTICE(MOD, "resync: calls lost%s server=%d calls_lost=%zu",
                   rs->restarted ? " (Asterisk restarted)" : "", rs->server, x.lost);
}
