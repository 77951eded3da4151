/*
 * ami_event: framed messages -> typed events (ami_event_t).
 *
 * The I/O thread calls ami_event_from_msg() for every event.  The name is
 * looked at first and events we do not use are dropped before anything is
 * copied (VarSet also by variable name).  For the rest, the headers whose
 * names we know are copied into one allocation: the struct followed by the
 * values, NUL-terminated.  Header names are matched by length first, then
 * case-insensitively, so most headers cost one switch and no compare.
 * Pure functions; no state.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ami/ami.h"
#include "core/clock.h"
#include "core/log.h"

static const char *const ev_names[AMI_EV_COUNT] = {
    [AMI_EV_NONE] = "",
    [AMI_EV_ORIGINATE_RESPONSE] = "OriginateResponse",
    [AMI_EV_NEWCHANNEL] = "Newchannel",
    [AMI_EV_NEWSTATE] = "Newstate",
    [AMI_EV_DIAL_BEGIN] = "DialBegin",
    [AMI_EV_DIAL_END] = "DialEnd",
    [AMI_EV_HANGUP] = "Hangup",
    [AMI_EV_QUEUE_CALLER_JOIN] = "QueueCallerJoin",
    [AMI_EV_QUEUE_CALLER_LEAVE] = "QueueCallerLeave",
    [AMI_EV_QUEUE_CALLER_ABANDON] = "QueueCallerAbandon",
    [AMI_EV_AGENT_CALLED] = "AgentCalled",
    [AMI_EV_AGENT_CONNECT] = "AgentConnect",
    [AMI_EV_AGENT_COMPLETE] = "AgentComplete",
    [AMI_EV_AGENT_RINGNOANSWER] = "AgentRingNoAnswer",
    [AMI_EV_BRIDGE_ENTER] = "BridgeEnter",
    [AMI_EV_BRIDGE_LEAVE] = "BridgeLeave",
    [AMI_EV_QUEUE_MEMBER_ADDED] = "QueueMemberAdded",
    [AMI_EV_QUEUE_MEMBER_REMOVED] = "QueueMemberRemoved",
    [AMI_EV_QUEUE_MEMBER_PAUSE] = "QueueMemberPause",
    [AMI_EV_QUEUE_MEMBER_STATUS] = "QueueMemberStatus",
    [AMI_EV_AGENT_LOGIN] = "AgentLogin",
    [AMI_EV_AGENT_LOGOFF] = "AgentLogoff",
    [AMI_EV_MOH_START] = "MusicOnHoldStart",
    [AMI_EV_MOH_STOP] = "MusicOnHoldStop",
    [AMI_EV_VARSET] = "VarSet",
    [AMI_EV_PARKED_CALL] = "ParkedCall",
    [AMI_EV_UNPARKED_CALL] = "UnParkedCall",
    [AMI_EV_PARKED_CALL_GIVEUP] = "ParkedCallGiveUp",
    [AMI_EV_PARKED_CALL_TIMEOUT] = "ParkedCallTimeOut",
};

const char *ami_ev_name(ami_ev_type_e t)
{
    return (t > AMI_EV_NONE && t < AMI_EV_COUNT) ? ev_names[t] : "?";
}

static inline char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* a (length n) equals the lowercase literal z, ignoring a's case */
static inline bool is(const char *a, const char *z, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != z[i])
            return false;
    return true;
}

#define IS(lit) is(p, lit, sizeof(lit) - 1)

ami_ev_type_e ami_ev_type_of(ccd_str_t name)
{
    const char *p = name.p;
    switch (name.len) {
    case 6:
        if (IS("hangup")) return AMI_EV_HANGUP;
        if (IS("varset")) return AMI_EV_VARSET;
        break;
    case 7:
        if (IS("dialend")) return AMI_EV_DIAL_END;
        break;
    case 8:
        if (IS("newstate")) return AMI_EV_NEWSTATE;
        break;
    case 9:
        if (IS("dialbegin")) return AMI_EV_DIAL_BEGIN;
        break;
    case 10:
        if (IS("newchannel")) return AMI_EV_NEWCHANNEL;
        if (IS("agentlogin")) return AMI_EV_AGENT_LOGIN;
        if (IS("parkedcall")) return AMI_EV_PARKED_CALL;
        break;
    case 11:
        if (IS("agentcalled")) return AMI_EV_AGENT_CALLED;
        if (IS("bridgeenter")) return AMI_EV_BRIDGE_ENTER;
        if (IS("bridgeleave")) return AMI_EV_BRIDGE_LEAVE;
        if (IS("agentlogoff")) return AMI_EV_AGENT_LOGOFF;
        break;
    case 12:
        if (IS("agentconnect")) return AMI_EV_AGENT_CONNECT;
        if (IS("unparkedcall")) return AMI_EV_UNPARKED_CALL;
        break;
    case 13:
        if (IS("agentcomplete")) return AMI_EV_AGENT_COMPLETE;
        break;
    case 15:
        if (IS("queuecallerjoin")) return AMI_EV_QUEUE_CALLER_JOIN;
        if (IS("musiconholdstop")) return AMI_EV_MOH_STOP;
        break;
    case 16:
        if (IS("queuecallerleave")) return AMI_EV_QUEUE_CALLER_LEAVE;
        if (IS("queuememberadded")) return AMI_EV_QUEUE_MEMBER_ADDED;
        if (IS("queuememberpause")) return AMI_EV_QUEUE_MEMBER_PAUSE;
        if (IS("musiconholdstart")) return AMI_EV_MOH_START;
        if (IS("parkedcallgiveup")) return AMI_EV_PARKED_CALL_GIVEUP;
        break;
    case 17:
        if (IS("originateresponse")) return AMI_EV_ORIGINATE_RESPONSE;
        if (IS("agentringnoanswer")) return AMI_EV_AGENT_RINGNOANSWER;
        if (IS("queuememberstatus")) return AMI_EV_QUEUE_MEMBER_STATUS;
        if (IS("parkedcalltimeout")) return AMI_EV_PARKED_CALL_TIMEOUT;
        break;
    case 18:
        if (IS("queuecallerabandon")) return AMI_EV_QUEUE_CALLER_ABANDON;
        if (IS("queuememberremoved")) return AMI_EV_QUEUE_MEMBER_REMOVED;
        break;
    }
    return AMI_EV_NONE;
}

/* Field slots: strings are offsets of `const char *` members, ints of `int`. */
#define S(m) ((int)offsetof(ami_event_t, m))
#define I(m) (-(int)offsetof(ami_event_t, m))
#define NO_FIELD 0 /* offset 0 is the mq header, never a field */

static int field_of(ccd_str_t key)
{
    const char *p = key.p;
    switch (key.len) {
    case 5:
        if (IS("event")) return S(name);
        if (IS("exten")) return S(exten);
        if (IS("queue")) return S(queue);
        if (IS("agent")) return S(agent);
        if (IS("class")) return S(moh_class);
        if (IS("cause")) return I(cause);
        if (IS("count")) return I(count);
        if (IS("value")) return S(value);
        break;
    case 6:
        if (IS("reason")) return S(reason_txt);
        if (IS("status")) return I(status);
        if (IS("paused")) return I(paused);
        if (IS("incall")) return I(in_call);
        break;
    case 7:
        if (IS("channel")) return S(channel);
        if (IS("context")) return S(context);
        break;
    case 8:
        if (IS("uniqueid")) return S(uniqueid);
        if (IS("linkedid")) return S(linkedid);
        if (IS("actionid")) return S(action_id);
        if (IS("response")) return S(response);
        if (IS("position")) return I(position);
        if (IS("holdtime")) return I(hold_time);
        if (IS("talktime")) return I(talk_time);
        if (IS("ringtime")) return I(ring_time);
        if (IS("variable")) return S(variable);
        break;
    case 9:
        if (IS("timestamp")) return S(timestamp);
        if (IS("interface")) return S(interface);
        if (IS("cause-txt")) return S(cause_txt);
        break;
    case 10:
        if (IS("dialstatus")) return S(dial_status);
        if (IS("membername")) return S(member_name);
        if (IS("bridgetype")) return S(bridge_type);
        break;
    case 11:
        if (IS("calleridnum")) return S(caller_num);
        if (IS("destchannel")) return S(dest_channel);
        if (IS("application")) return S(application);
        break;
    case 12:
        if (IS("calleridname")) return S(caller_name);
        if (IS("channelstate")) return I(channel_state);
        if (IS("destuniqueid")) return S(dest_uniqueid);
        if (IS("destlinkedid")) return S(dest_linkedid);
        if (IS("pausedreason")) return S(paused_reason);
        if (IS("parkingspace")) return I(parking_space);
        break;
    case 13:
        if (IS("parkeechannel")) return S(parkee_channel);
        break;
    case 14:
        if (IS("stateinterface")) return S(state_interface);
        if (IS("bridgeuniqueid")) return S(bridge_uniqueid);
        if (IS("parkeeuniqueid")) return S(parkee_uniqueid);
        break;
    case 16:
        if (IS("connectedlinenum")) return S(connected_num);
        if (IS("retrieverchannel")) return S(retriever_channel);
        break;
    case 17:
        if (IS("connectedlinename")) return S(connected_name);
        break;
    }
    return NO_FIELD;
}

/* Decimal integer, or -1 when the value is not one (absent, "<unknown>"). */
static int to_int(ccd_str_t v)
{
    size_t i = 0;
    bool neg = false;
    if (v.len && (v.p[0] == '-' || v.p[0] == '+')) {
        neg = v.p[0] == '-';
        i = 1;
    }
    if (i == v.len)
        return -1;
    long n = 0;
    for (; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        if (n < 1000000000L)
            n = n * 10 + (v.p[i] - '0');
    }
    return (int)(neg ? -n : n);
}

static bool var_wanted(const ami_msg_t *m, const char *const *vars)
{
    if (!vars)
        return false;
    const ami_hdr_t *h = ami_msg_find(m, "Variable", 8, NULL);
    if (!h)
        return false;
    for (; *vars; vars++)
        if (ami_str_ieq(h->val, *vars))
            return true;
    return false;
}

/* Every string member, for initialising and for rebasing copies. */
#define STR_FIELDS(e)                                                                              \
    {                                                                                              \
        &(e)->name, &(e)->timestamp, &(e)->channel, &(e)->uniqueid, &(e)->linkedid,                \
            &(e)->context, &(e)->exten, &(e)->caller_num, &(e)->caller_name, &(e)->connected_num,  \
            &(e)->connected_name, &(e)->dest_channel, &(e)->dest_uniqueid, &(e)->dest_linkedid,    \
            &(e)->dial_status, &(e)->action_id, &(e)->response, &(e)->reason_txt,                  \
            &(e)->application, &(e)->cause_txt, &(e)->queue, &(e)->interface,                      \
            &(e)->state_interface, &(e)->member_name, &(e)->agent, &(e)->paused_reason,            \
            &(e)->bridge_uniqueid, &(e)->bridge_type, &(e)->moh_class, &(e)->variable, &(e)->value, \
            &(e)->parkee_channel, &(e)->parkee_uniqueid, &(e)->retriever_channel                   \
    }

/* Digits only, at most max_digits of them (so no overflow), value <= max; else -1. */
static int64_t parse_bounded(const char *v, size_t len, size_t max_digits, int64_t max)
{
    if (!v || len == 0 || len > max_digits)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n <= max ? n : -1;
}

int64_t ami_parse_lastcall(const char *v, size_t len)
{
    return parse_bounded(v, len, 12, AMI_LASTCALL_MAX_S);
}

int ami_parse_wrapuptime(const char *v, size_t len)
{
    return (int)parse_bounded(v, len, 6, AMI_WRAPUP_MAX_S);
}

/* The wrap-up fields of the QueueMember* events: bounded parsers of their own, a value
 * refused is logged here, where it is dropped. */
static void wrap_fields(ami_event_t *ev, const ami_msg_t *m)
{
    ev->last_call_s = -1;
    ev->wrapup_s = -1;
    if (ev->type != AMI_EV_QUEUE_MEMBER_STATUS && ev->type != AMI_EV_QUEUE_MEMBER_ADDED &&
        ev->type != AMI_EV_QUEUE_MEMBER_PAUSE)
        return;
    const ami_hdr_t *h = ami_msg_find(m, "LastCall", 8, NULL);
    if (h) {
        ev->last_call_s = ami_parse_lastcall(h->val.p, h->val.len);
        if (ev->last_call_s < 0)
            LOG_WARN_RL("ami", "server %d: %s LastCall '%.*s' refused", ev->server, ev->name,
                        (int)(h->val.len > 32 ? 32 : h->val.len), h->val.p);
    }
    h = ami_msg_find(m, "Wrapuptime", 10, NULL);
    if (h) {
        ev->wrapup_s = ami_parse_wrapuptime(h->val.p, h->val.len);
        if (ev->wrapup_s < 0)
            LOG_WARN_RL("ami", "server %d: %s Wrapuptime '%.*s' refused", ev->server, ev->name,
                        (int)(h->val.len > 32 ? 32 : h->val.len), h->val.p);
    }
}

ami_event_t *ami_event_from_msg(const ami_msg_t *m, int server, const char *const *vars)
{
    /* Asterisk puts Event first; look there before searching. */
    const ami_hdr_t *eh = (m->nhdr > 0 && m->hdr[0].key.len == 5 && ami_str_ieq(m->hdr[0].key, "event"))
                              ? &m->hdr[0]
                              : ami_msg_find(m, "Event", 5, NULL);
    if (!eh)
        return NULL;
    ami_ev_type_e t = ami_ev_type_of(eh->val);
    if (t == AMI_EV_NONE || (t == AMI_EV_VARSET && !var_wanted(m, vars)))
        return NULL;

    int slot[AMI_HDR_MAX];
    size_t extra = 0;
    for (int i = 0; i < m->nhdr; i++) {
        slot[i] = field_of(m->hdr[i].key);
        if (slot[i] > 0)
            extra += m->hdr[i].val.len + 1;
    }
    ami_event_t *ev = malloc(sizeof(*ev) + extra);
    if (!ev)
        return NULL;
    static const char empty[] = "";
    const char **strs[] = STR_FIELDS(ev);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        *strs[i] = empty;
    int *ints[] = {&ev->channel_state, &ev->reason, &ev->cause, &ev->position, &ev->count,
                   &ev->status, &ev->paused, &ev->in_call, &ev->hold_time, &ev->talk_time,
                   &ev->ring_time, &ev->parking_space};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        *ints[i] = -1;
    ev->msg.next = NULL;
    ev->msg.type = MSG_AMI_EVENT;
    ev->msg.free = (void (*)(mq_msg_t *))ami_event_free;
    ev->size = sizeof(*ev) + extra;
    ev->type = t;
    ev->server = server;
    ev->rx_us = clk_mono_us();

    char *w = (char *)(ev + 1);
    for (int i = 0; i < m->nhdr; i++) {
        int s = slot[i];
        if (s == NO_FIELD)
            continue;
        ccd_str_t v = m->hdr[i].val;
        if (s < 0) {
            int *ip = (int *)((char *)ev - s);
            if (*ip == -1)
                *ip = to_int(v);
            continue;
        }
        const char **sp = (const char **)((char *)ev + s);
        if (*sp != empty)
            continue; /* first occurrence wins */
        memcpy(w, v.p, v.len);
        w[v.len] = 0;
        *sp = w;
        w += v.len + 1;
    }
    if (t == AMI_EV_ORIGINATE_RESPONSE) {
        ccd_str_t r = {ev->reason_txt, strlen(ev->reason_txt)};
        ev->reason = to_int(r);
    }
    wrap_fields(ev, m);
    return ev;
}

ami_event_t *ami_event_dup(const ami_event_t *ev)
{
    ami_event_t *d = malloc(ev->size);
    if (!d)
        return NULL;
    memcpy(d, ev, ev->size);
    d->msg.next = NULL;
    /* string fields point into the blob after the struct (or at a static ""):
     * move the ones inside the blob to the copy's blob */
    const char *lo = (const char *)ev, *hi = lo + ev->size;
    const char **strs[] = STR_FIELDS(d);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (*strs[i] >= lo && *strs[i] < hi)
            *strs[i] = (const char *)d + (*strs[i] - lo);
    return d;
}

void ami_event_free(ami_event_t *ev)
{
    free(ev);
}
