/*
 * The agent status block shared by getagentstatus / getmultipleagentstatus
 * (nested form), getcampaignstatus agents and the queuemembership event
 * (flattened form), built from registry copies.  Pure: no I/O, no locks.
 */
#include "eccp/eccp_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

void eccp__fmt_time(int64_t wall_ms, bool strip_today, char out[32])
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm, now_tm;
    localtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
    if (strip_today) {
        time_t now = time(NULL);
        localtime_r(&now, &now_tm);
        if (tm.tm_year == now_tm.tm_year && tm.tm_yday == now_tm.tm_yday)
            memmove(out, out + 11, strlen(out + 11) + 1);
    }
}

static void leaf_time(xw_t *w, const char *k, int64_t ms)
{
    if (ms <= 0)
        return;
    char t[32];
    eccp__fmt_time(ms, true, t);
    eccp__xw_leaf(w, k, t);
}

void eccp__call_info_short(xw_t *w, const reg_call_t *c)
{
    eccp__xw_leaf(w, "calltype", c->type == REG_CALL_INCOMING ? "incoming" : "outgoing");
    if (c->db_call_id)
        eccp__xw_leaf_int(w, "callid", c->db_call_id);
    if (c->campaign_id)
        eccp__xw_leaf_int(w, "campaign_id", c->campaign_id);
    if (c->queue[0])
        eccp__xw_leaf(w, "queuenumber", c->queue);
    if (c->phone[0])
        eccp__xw_leaf(w, "callnumber", c->phone);
    eccp__xw_leaf(w, "callstatus", reg_call_status_name(c->status));
    if (c->trunk[0])
        eccp__xw_leaf(w, "trunk", c->trunk);
    leaf_time(w, "dialstart", c->t_originate_ms);
    leaf_time(w, "dialend", c->t_answer_ms);
    leaf_time(w, "queuestart", c->t_queue_ms);
    leaf_time(w, "linkstart", c->t_link_ms);
}

/* Issabel: |^\w+/(\d+)-?| on the login channel (or extension). */
static bool extension_of(const char *chan, char *out, size_t outsz)
{
    const char *p = chan;
    while (*p && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    if (p == chan || *p != '/')
        return false;
    p++;
    size_t n = 0;
    while (isdigit((unsigned char)p[n]))
        n++;
    if (n == 0 || n >= outsz)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

void eccp__agent_status(xw_t *w, const reg_agent_t *a, const reg_call_t *call, bool flattened)
{
    const char *chan = a->channel[0] ? a->channel : (a->extension[0] ? a->extension : NULL);
    if (a->login == REG_LOGGED_OUT)
        chan = NULL; /* a logged-out agent has no login channel in Issabel either */
    char ext[REG_ID_LEN];
    bool has_ext = chan && extension_of(chan, ext, sizeof(ext));
    /* Issabel's order.  "online" means logged in (its console state logged-in,
     * set by the AgentLogin event), also inside app_agent_pool's ~5 s login
     * probation when Asterisk does not offer the agent calls yet: ECCP clients
     * see what Issabel showed them; the dialer reads a->ready_ms instead. */
    const char *status = call                                 ? "oncall"
                         : (a->break_id || a->on_hold)        ? "paused"
                         : a->login == REG_LOGGED_IN          ? "online"
                                                              : "offline";
    eccp__xw_leaf(w, "status", status);
    if (chan)
        eccp__xw_leaf(w, "channel", chan);
    if (has_ext)
        eccp__xw_leaf(w, "extension", ext);
    if (call && call->channel[0])
        eccp__xw_leaf(w, flattened ? "callchannel" : "remote_channel", call->channel);
    if (a->login == REG_LOGGED_IN)
        eccp__xw_leaf_int(w, "onhold", a->on_hold ? 1 : 0);
    if (a->break_id) {
        if (!flattened)
            eccp__xw_open(w, "pauseinfo");
        eccp__xw_leaf_int(w, "pauseid", a->break_id);
        if (a->break_name[0])
            eccp__xw_leaf(w, "pausename", a->break_name);
        leaf_time(w, "pausestart", a->break_start_ms);
        if (!flattened)
            eccp__xw_close(w, "pauseinfo");
    }
    if (call) {
        if (!flattened)
            eccp__xw_open(w, "callinfo");
        eccp__call_info_short(w, call);
        if (!flattened)
            eccp__xw_close(w, "callinfo");
    }
}
