/* Formats AMI events the way Asterisk 22 lays them out and sends them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "tools/pbxsim/pbxsim_int.h"

int64_t pbx_vnow(pbx_t *s)
{
    return (int64_t)((double)(clk_mono_ms() - s->mono0_ms) * s->scale);
}

/* Virtual wall time in microseconds: what Timestamp headers show. */
static int64_t vwall_us(pbx_t *s)
{
    double real_us = (double)(clk_mono_us() - s->mono0_ms * 1000);
    return s->wall0_ms * 1000 + (int64_t)(real_us * s->scale);
}

void pbx_ev_begin(pbx_t *s, const char *event, const char *priv)
{
    buf_reset(&s->ev);
    buf_printf(&s->ev, "Event: %s\r\n", event);
    if (priv) {
        int64_t us = vwall_us(s);
        buf_printf(&s->ev, "Privilege: %s\r\nTimestamp: %lld.%06lld\r\nSystemName: %s\r\n", priv,
                   (long long)(us / 1000000), (long long)(us % 1000000), s->sysname);
    }
}

void pbx_ev_kv(pbx_t *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    char val[512];
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    buf_printf(&s->ev, "%s: %s\r\n", key, val);
}

const char *pbx_state_desc(int state)
{
    switch (state) {
    case 0: return "Down";
    case 4: return "Ring";
    case 5: return "Ringing";
    case 6: return "Up";
    case 7: return "Busy";
    default: return "Unknown";
    }
}

const char *pbx_cause_txt(int cause)
{
    switch (cause) {
    case 0: return "Unknown";
    case 1: return "Unallocated (unassigned) number";
    case 16: return "Normal Clearing";
    case 17: return "User busy";
    case 19: return "User alerting, no answer";
    case 34: return "Circuit/channel congestion";
    default: return "Unknown";
    }
}

void pbx_ev_chan(pbx_t *s, const char *p, const pchan_t *c)
{
    buf_printf(&s->ev,
               "%sChannel: %s\r\n%sChannelState: %d\r\n%sChannelStateDesc: %s\r\n"
               "%sCallerIDNum: %s\r\n%sCallerIDName: %s\r\n"
               "%sConnectedLineNum: %s\r\n%sConnectedLineName: %s\r\n"
               "%sLanguage: en\r\n%sAccountCode: \r\n%sContext: %s\r\n%sExten: %s\r\n"
               "%sPriority: %d\r\n%sUniqueid: %s\r\n%sLinkedid: %s\r\n",
               p, c->name, p, c->state, p, pbx_state_desc(c->state), p, c->cid_num, p, c->cid_name, p,
               c->con_num, p, c->con_name, p, p, p, c->context, p, c->exten, p, c->prio, p, c->uniqueid,
               p, c->linkedid);
}

void pbx_ev_bridge(pbx_t *s, const char *p, const pbridge_t *b)
{
    buf_printf(&s->ev,
               "%sBridgeUniqueid: %s\r\n%sBridgeType: %s\r\n%sBridgeTechnology: %s\r\n"
               "%sBridgeCreator: %s\r\n%sBridgeName: %s\r\n%sBridgeNumChannels: %d\r\n"
               "%sBridgeVideoSourceMode: none\r\n",
               p, b->id, p, b->type, p, b->tech, p, b->creator, p, b->bname, p, b->nchan, p);
}

void pbx_conn_write(pbx_t *s, pconn_t *c, const char *p, size_t n)
{
    if (c->fd < 0)
        return;
    if (buf_append(&c->out, p, n) != 0) {
        /* A client that stops reading is cut off, as Asterisk's writetimeout does. */
        c->closing = true;
        buf_reset(&c->out);
        pbx_conn_close(s, c);
    }
}

static const char *const g_classes[] = {"system", "call",   "log",      "verbose", "command", "agent",
                                        "user",   "config", "dtmf",     "reporting", "cdr",   "dialplan",
                                        "originate", "agi", "security", NULL};

/* An event's Privilege ("call,all"): its own classes, "all" left out. */
static unsigned priv_bits(const char *priv)
{
    unsigned bits = 0;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", priv);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        for (int i = 0; g_classes[i]; i++)
            if (strcasecmp(t, g_classes[i]) == 0)
                bits |= 1u << i;
    return bits;
}

unsigned pbx_class_bits(const char *list)
{
    if (!list || !*list || strcasecmp(list, "on") == 0 || strcasecmp(list, "all") == 0)
        return PBX_CLS_ALL;
    if (strcasecmp(list, "off") == 0)
        return 0;
    unsigned bits = 0;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (strcasecmp(t, "all") == 0)
            return PBX_CLS_ALL;
        for (int i = 0; g_classes[i]; i++)
            if (strcasecmp(t, g_classes[i]) == 0)
                bits |= 1u << i;
    }
    return bits;
}

bool pbx_conn_wants(pbx_t *s, pconn_t *c, const char *priv)
{
    if (!c || !c->logged_in || !c->events_on || c->closing)
        return false;
    if (c->class_mask != PBX_CLS_ALL && priv && (priv_bits(priv) & c->class_mask) == 0)
        return false;
    if (c->nfilters == 0)
        return true;
    const char *text = buf_data(&s->ev); /* NUL follows: see pbx_ev_end */
    bool pass = c->npos == 0;
    for (int i = 0; i < c->nfilters; i++) {
        bool hit = regexec(&c->filters[i], text, 0, NULL, 0) == 0;
        if (c->filter_neg[i] && hit)
            return false;
        if (!c->filter_neg[i] && hit)
            pass = true;
    }
    return pass;
}

void pbx_conn_filters_free(pconn_t *c)
{
    for (int i = 0; i < c->nfilters; i++)
        regfree(&c->filters[i]);
    c->nfilters = c->npos = 0;
}

/* The Privilege value of the event in s->ev ("call,all"), into out. */
static void ev_priv(pbx_t *s, char *out, size_t n)
{
    const char *d = buf_data(&s->ev);
    const char *p = d ? strstr(d, "\r\nPrivilege: ") : NULL;
    out[0] = '\0';
    if (p) {
        p += 13;
        size_t l = strcspn(p, "\r");
        snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), p);
    }
}

void pbx_ev_end(pbx_t *s)
{
    buf_append(&s->ev, "\r\n", 2);
    buf_append(&s->ev, "", 1); /* a NUL for the filters' regexec, not sent */
    s->ev.len--;
    char priv[64];
    ev_priv(s, priv, sizeof priv);
    for (int i = 0; i < s->nconns; i++) {
        pconn_t *c = s->conns[i];
        if (pbx_conn_wants(s, c, priv[0] ? priv : NULL)) {
            pbx_conn_write(s, c, buf_data(&s->ev), s->ev.len);
            s->events_sent++;
        }
    }
}

void pbx_ev_end_to(pbx_t *s, pconn_t *c)
{
    buf_append(&s->ev, "\r\n", 2);
    if (c)
        pbx_conn_write(s, c, buf_data(&s->ev), s->ev.len);
}

void pbx_e_chan(pbx_t *s, const char *event, const char *priv, pchan_t *c)
{
    pbx_ev_begin(s, event, priv);
    pbx_ev_chan(s, "", c);
    pbx_ev_end(s);
}

void pbx_e_newchannel(pbx_t *s, pchan_t *c)
{
    pbx_e_chan(s, "Newchannel", "call,all", c);
}

void pbx_e_newstate(pbx_t *s, pchan_t *c, int state)
{
    c->state = state;
    pbx_e_chan(s, "Newstate", "call,all", c);
}

void pbx_e_localbridge(pbx_t *s, pchan_t *one, pchan_t *two)
{
    pbx_ev_begin(s, "LocalBridge", "call,all");
    pbx_ev_chan(s, "LocalOne", one);
    pbx_ev_chan(s, "LocalTwo", two);
    pbx_ev_kv(s, "Context", "%s", two->context);
    pbx_ev_kv(s, "Exten", "%s", two->exten);
    pbx_ev_kv(s, "LocalOptimization", "Yes");
    pbx_ev_end(s);
}

void pbx_e_dial(pbx_t *s, const char *event, pchan_t *caller, pchan_t *dest, const char *k, const char *v)
{
    pbx_ev_begin(s, event, "call,all");
    if (caller)
        pbx_ev_chan(s, "", caller);
    pbx_ev_chan(s, "Dest", dest);
    pbx_ev_kv(s, k, "%s", v);
    pbx_ev_end(s);
}

void pbx_e_hangup(pbx_t *s, pchan_t *c, int cause)
{
    pbx_ev_begin(s, "Hangup", "call,all");
    pbx_ev_chan(s, "", c);
    pbx_ev_kv(s, "Cause", "%d", cause);
    pbx_ev_kv(s, "Cause-txt", "%s", pbx_cause_txt(cause));
    pbx_ev_end(s);
}

void pbx_e_hangup_req(pbx_t *s, const char *event, pchan_t *c, int cause)
{
    pbx_ev_begin(s, event, "call,all");
    pbx_ev_chan(s, "", c);
    pbx_ev_kv(s, "Cause", "%d", cause);
    pbx_ev_end(s);
}

void pbx_e_moh(pbx_t *s, pchan_t *c, bool start)
{
    pbx_ev_begin(s, start ? "MusicOnHoldStart" : "MusicOnHoldStop", "call,all");
    pbx_ev_chan(s, "", c);
    if (start)
        pbx_ev_kv(s, "Class", "default");
    pbx_ev_end(s);
}

void pbx_e_bridge_enter(pbx_t *s, pbridge_t *b, pchan_t *c)
{
    pbx_ev_begin(s, "BridgeEnter", "call,all");
    pbx_ev_bridge(s, "", b);
    pbx_ev_chan(s, "", c);
    pbx_ev_end(s);
}

void pbx_e_bridge_leave(pbx_t *s, pbridge_t *b, pchan_t *c)
{
    pbx_ev_begin(s, "BridgeLeave", "call,all");
    pbx_ev_bridge(s, "", b);
    pbx_ev_chan(s, "", c);
    pbx_ev_end(s);
}

void pbx_e_bridge_simple(pbx_t *s, const char *event, pbridge_t *b)
{
    pbx_ev_begin(s, event, "call,all");
    pbx_ev_bridge(s, "", b);
    pbx_ev_end(s);
}

/* The member fields, StateInterface to PausedReason, that the QueueMember*
 * events and the QueueStatus list items share (their name fields differ). */
void pbx_ev_member_state(pbx_t *s, const pmember_t *m)
{
    pbx_ev_kv(s, "StateInterface", "%s", m->state_if);
    pbx_ev_kv(s, "Membership", "%s", m->dynamic ? "dynamic" : "static");
    pbx_ev_kv(s, "Penalty", "%d", m->penalty);
    pbx_ev_kv(s, "CallsTaken", "%d", m->calls_taken);
    pbx_ev_kv(s, "LastCall", "%lld", (long long)m->last_call);
    pbx_ev_kv(s, "LastPause", "%lld", (long long)m->last_pause);
    pbx_ev_kv(s, "LoginTime", "%lld", (long long)m->login_time);
    pbx_ev_kv(s, "InCall", "%d", m->busy && m->busy->connected ? 1 : 0);
    pbx_ev_kv(s, "Status", "%d", pbx_member_status(m));
    pbx_ev_kv(s, "Paused", "%d", m->paused ? 1 : 0);
    pbx_ev_kv(s, "PausedReason", "%s", m->reason);
}

void pbx_e_member(pbx_t *s, const char *event, pqueue_t *q, pmember_t *m)
{
    pbx_ev_begin(s, event, "agent,all");
    pbx_ev_kv(s, "Queue", "%s", q->name);
    pbx_ev_kv(s, "MemberName", "%s", m->name);
    pbx_ev_kv(s, "Interface", "%s", m->interface);
    pbx_ev_member_state(s, m);
    pbx_ev_kv(s, "Ringinuse", "0");
    pbx_ev_kv(s, "Wrapuptime", "%u", s->o.wrapup_s);
    pbx_ev_end(s);
}

void pbx_e_varset(pbx_t *s, pchan_t *c, const char *name, const char *value)
{
    /* MIXMONITOR_FILENAME names a recording: a client may keep it (the engine does), so it
     * is not noise */
    if (s->o.quiet_noise && strcmp(name, "MIXMONITOR_FILENAME") != 0)
        return;
    pbx_ev_begin(s, "VarSet", "dialplan,all");
    pbx_ev_chan(s, "", c);
    pbx_ev_kv(s, "Variable", "%s", name);
    pbx_ev_kv(s, "Value", "%s", value);
    pbx_ev_end(s);
}

void pbx_e_newexten(pbx_t *s, pchan_t *c, const char *app, const char *data)
{
    if (s->o.quiet_noise)
        return;
    pbx_ev_begin(s, "Newexten", "dialplan,all");
    pbx_ev_chan(s, "", c);
    pbx_ev_kv(s, "Extension", "%s", c->exten);
    pbx_ev_kv(s, "Application", "%s", app);
    pbx_ev_kv(s, "AppData", "%s", data);
    pbx_ev_end(s);
}

static void fmt_time(pbx_t *s, int64_t vms_at, char *out, size_t n)
{
    time_t t = (time_t)((s->wall0_ms + vms_at) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

void pbx_e_cdr(pbx_t *s, pchan_t *c, const char *disp)
{
    if (s->o.quiet_noise)
        return;
    char start[32], end[32];
    int64_t now = pbx_vnow(s);
    fmt_time(s, c->created_vms, start, sizeof start);
    fmt_time(s, now, end, sizeof end);
    pbx_ev_begin(s, "Cdr", "cdr,all");
    pbx_ev_kv(s, "AccountCode", "%s", "");
    pbx_ev_kv(s, "Source", "%s", c->cid_num);
    pbx_ev_kv(s, "Destination", "%s", c->exten);
    pbx_ev_kv(s, "DestinationContext", "%s", c->context);
    pbx_ev_kv(s, "CallerID", "\"%s\" <%s>", c->cid_name, c->cid_num);
    pbx_ev_kv(s, "Channel", "%s", c->name);
    pbx_ev_kv(s, "DestinationChannel", "%s", "");
    pbx_ev_kv(s, "LastApplication", "%s", c->app);
    pbx_ev_kv(s, "LastData", "%s", c->appdata);
    pbx_ev_kv(s, "StartTime", "%s", start);
    pbx_ev_kv(s, "AnswerTime", "%s", strcmp(disp, "ANSWERED") == 0 ? start : "");
    pbx_ev_kv(s, "EndTime", "%s", end);
    pbx_ev_kv(s, "Duration", "%lld", (long long)((now - c->created_vms) / 1000));
    pbx_ev_kv(s, "BillableSeconds", "%lld",
              strcmp(disp, "ANSWERED") == 0 ? (long long)((now - c->created_vms) / 1000) : 0LL);
    pbx_ev_kv(s, "Disposition", "%s", disp);
    pbx_ev_kv(s, "AMAFlags", "DOCUMENTATION");
    pbx_ev_kv(s, "UniqueID", "%s", c->uniqueid);
    pbx_ev_kv(s, "UserField", "%s", "");
    pbx_ev_end(s);
}
