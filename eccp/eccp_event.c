/*
 * ECCP events from registry change notifications.
 *
 * Each worker receives every agent/call change (a full copy) and keeps the
 * last copy it saw per record (its shadows, owned by the worker thread).
 * Comparing the new copy with the shadow gives the transitions Issabel
 * reports: login, failed login, logout, break and hold start/end, link and
 * unlink, queue membership and call progress.  Each event is formatted once
 * and written to every logged-in session of this worker that wants it:
 * agent events honour filterbyagent, callprogress needs callprogress enabled
 * and ignores the agent filter (Issabel's rules).
 *
 * An agent change carries the calls its events need (the agent's call, and
 * the call it was linked to before), copied at the same commit, so handling a
 * change never reads back into the registry.  The worker's call shadows are
 * the fallback when a change does not carry the call (the registry no longer
 * had it); removed calls stay there for CALL_GRACE_MS for that reason.
 *
 * agentlinked, agentunlinked and callprogress carry database data (customer data,
 * the call_progress_log row id): they are handed to eccp_evwait.c, which reads it
 * through a job and keeps each session's events in order; this file only decides
 * which events a change makes and how each one is written.
 */
#include "eccp/eccp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define MOD "eccp"
#define CALL_GRACE_MS 10000

typedef struct shadow_call {
    reg_call_t c;
    int64_t removed_ms; /* 0 = live */
    reg_call_status_e prev_status;
    long long log_id;   /* the last call_progress_log row an event of this call found */
} shadow_call_t;

static void call_key(uint64_t id, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)id);
}

static void ev_begin(xw_t *x, eccp_worker_t *w, const char *name)
{
    buf_reset(&w->wbuf);
    eccp__xw_init(x, &w->wbuf);
    eccp__xw_decl(x);
    eccp__xw_open(x, "event");
    eccp__xw_open(x, name);
}

static void ev_end(xw_t *x, eccp_worker_t *w, const char *name, const char *agent, bool progress)
{
    eccp__xw_close(x, name);
    eccp__xw_close(x, "event");
    eccp__xw_end_msg(x);
    if (x->err) {
        LOG_ERR_RL(MOD, "event %s could not be built", name);
        return;
    }
    eccp__ev_fan_out(w, agent, progress);
}

static void leaf_time(xw_t *x, const char *k, int64_t ms)
{
    if (ms <= 0)
        return;
    char t[32];
    eccp__fmt_time(ms, false, t);
    eccp__xw_leaf(x, k, t);
}

static void ev_agent_simple(eccp_worker_t *w, const char *name, const char *agent)
{
    xw_t x;
    ev_begin(&x, w, name);
    eccp__xw_leaf(&x, "agent", agent);
    ev_end(&x, w, name, agent, false);
}

static void ev_pausestart(eccp_worker_t *w, const reg_agent_t *a, bool hold)
{
    xw_t x;
    ev_begin(&x, w, "pausestart");
    eccp__xw_leaf(&x, "pause_class", hold ? "hold" : "break");
    if (!hold) {
        eccp__xw_leaf_int(&x, "pause_type", a->break_id);
        eccp__xw_leaf(&x, "pause_name", a->break_name);
    }
    leaf_time(&x, "pause_start", hold ? a->hold_start_ms : a->break_start_ms);
    eccp__xw_leaf(&x, "agent_number", a->number);
    ev_end(&x, w, "pausestart", a->number, false);
}

/* old holds the pause being ended. */
static void ev_pauseend(eccp_worker_t *w, const reg_agent_t *old, bool hold)
{
    int64_t start = hold ? old->hold_start_ms : old->break_start_ms;
    int64_t end = clk_wall_ms();
    xw_t x;
    ev_begin(&x, w, "pauseend");
    eccp__xw_leaf(&x, "pause_class", hold ? "hold" : "break");
    leaf_time(&x, "pause_start", start);
    leaf_time(&x, "pause_end", end);
    eccp__xw_leaf_int(&x, "pause_duration", start > 0 && end > start ? (end - start) / 1000 : 0);
    if (!hold) {
        eccp__xw_leaf_int(&x, "pause_type", old->break_id);
        eccp__xw_leaf(&x, "pause_name", old->break_name);
    }
    eccp__xw_leaf(&x, "agent_number", old->number);
    ev_end(&x, w, "pauseend", old->number, false);
}

/* Call id: the copy the change carries when it is that call, else this worker's shadow. */
static const reg_call_t *find_call(eccp_worker_t *w, uint64_t id, const reg_call_t *carried)
{
    if (!id)
        return NULL;
    if (carried && carried->id == id)
        return carried;
    char k[24];
    call_key(id, k);
    shadow_call_t *sc = hmap_get(w->calls, k);
    return sc ? &sc->c : NULL;
}

/* The database elements of agentlinked: what the read job rendered, else empty ones. */
static void linked_db_part(xw_t *x, const eccp_pev_t *p, bool in)
{
    if (p->data_done) {
        eccp__xw_fragment(x, buf_data(&p->frag), p->frag.len);
        return;
    }
    eccp__xw_leaf(x, "call_attributes", NULL);
    if (in)
        eccp__xw_leaf(x, "matching_contacts", NULL);
    eccp__xw_leaf(x, "call_survey", NULL);
}

/*
 * Issabel's agentlinked is its call info block (getcallinfo's, from the database) with
 * status forced, the link time, queue and trunk filled in, then campaignlog_id and
 * remote_channel.  The call fields come from the registry here (fresher than the rows the
 * journal writes behind it); NULL columns are left out as Issabel does: at link time a
 * call has no duration, linkend or failure cause.  Outgoing calls always carry retries
 * (calls.retries is NOT NULL).
 */
static void render_linked(xw_t *x, const eccp_pev_t *p)
{
    const reg_call_t *c = p->call.id ? &p->call : NULL;
    bool in = c && c->type == REG_CALL_INCOMING;
    eccp__xw_leaf(x, "calltype", in ? "incoming" : "outgoing");
    if (!c) {
        eccp__xw_leaf(x, "agent_number", p->agent);
        return;
    }
    if (c->db_call_id)
        eccp__xw_leaf_int(x, "call_id", c->db_call_id);
    if (c->campaign_id)
        eccp__xw_leaf_int(x, "campaign_id", c->campaign_id);
    eccp__xw_leaf(x, "phone", c->phone);
    eccp__xw_leaf(x, "status", in ? "activa" : "Success");
    if (c->uniqueid[0])
        eccp__xw_leaf(x, "uniqueid", c->uniqueid);
    if (!in) {
        leaf_time(x, "datetime_originate", c->t_originate_ms);
        leaf_time(x, "datetime_originateresponse", c->t_answer_ms);
    }
    leaf_time(x, "datetime_join", c->t_queue_ms);
    leaf_time(x, "datetime_linkstart", p->at_ms);
    if (in) {
        if (c->trunk[0])
            eccp__xw_leaf(x, "trunk", c->trunk);
        if (c->queue[0])
            eccp__xw_leaf(x, "queue", c->queue);
        eccp__xw_leaf(x, "agent_number", p->agent);
        linked_db_part(x, p, true);
    } else {
        eccp__xw_leaf_int(x, "retries", c->retries);
        eccp__xw_leaf(x, "agent_number", p->agent);
        if (c->trunk[0])
            eccp__xw_leaf(x, "trunk", c->trunk);
        linked_db_part(x, p, false);
        if (c->queue[0])
            eccp__xw_leaf(x, "queue", c->queue);
    }
    if (p->log_id)
        eccp__xw_leaf_int(x, "campaignlog_id", p->log_id);
    if (c->channel[0])
        eccp__xw_leaf(x, "remote_channel", c->channel);
}

/* Issabel's order: calltype, campaign_id, call_id, phone, datetime_linkend, duration,
 * shortcall, campaignlog_id, queue, agent_number (NULLs left out). */
static void render_unlinked(xw_t *x, const eccp_pev_t *p)
{
    const reg_call_t *c = p->call.id ? &p->call : NULL;
    int64_t end = p->at_ms;
    eccp__xw_leaf(x, "calltype", c && c->type == REG_CALL_INCOMING ? "incoming" : "outgoing");
    if (c && c->campaign_id)
        eccp__xw_leaf_int(x, "campaign_id", c->campaign_id);
    if (c && c->db_call_id)
        eccp__xw_leaf_int(x, "call_id", c->db_call_id);
    if (c)
        eccp__xw_leaf(x, "phone", c->phone);
    leaf_time(x, "datetime_linkend", end);
    if (c && c->t_link_ms > 0)
        eccp__xw_leaf_int(x, "duration", end > c->t_link_ms ? (end - c->t_link_ms) / 1000 : 0);
    /* Short or not is the journal's decision ([dialer] short_call), read from the row it
     * wrote; without the row, the registry's status. */
    bool shortcall = p->log_id ? strcmp(p->log_status, "ShortCall") == 0
                               : c && c->status == REG_CS_SHORTCALL;
    eccp__xw_leaf_int(x, "shortcall", shortcall ? 1 : 0);
    if (p->log_id)
        eccp__xw_leaf_int(x, "campaignlog_id", p->log_id);
    if (c && c->queue[0])
        eccp__xw_leaf(x, "queue", c->queue);
    eccp__xw_leaf(x, "agent_number", p->agent);
}

/*
 * Issabel builds callprogress from the call_progress_log row it has just inserted:
 * retry, uniqueid, trunk, duration (the columns carried from the call's previous row),
 * datetime_entry, new_status, id, then campaign_type, campaign_id, call_id, phone, queue;
 * NULLs left out.  retry is calls.retries for outgoing calls and 0 for incoming ones (their
 * rows never set it); duration exists once the call was linked and ended.
 */
static void render_progress(xw_t *x, const eccp_pev_t *p)
{
    const reg_call_t *c = &p->call;
    bool in = c->type == REG_CALL_INCOMING;
    eccp__xw_leaf_int(x, "retry", in ? 0 : c->retries);
    if (c->uniqueid[0])
        eccp__xw_leaf(x, "uniqueid", c->uniqueid);
    if (c->trunk[0])
        eccp__xw_leaf(x, "trunk", c->trunk);
    if (c->t_link_ms > 0 && c->t_end_ms >= c->t_link_ms)
        eccp__xw_leaf_int(x, "duration", (c->t_end_ms - c->t_link_ms) / 1000);
    leaf_time(x, "datetime_entry", p->at_ms);
    eccp__xw_leaf(x, "new_status", p->status);
    if (p->log_id)
        eccp__xw_leaf_int(x, "id", p->log_id);
    eccp__xw_leaf(x, "campaign_type", in ? "incoming" : "outgoing");
    if (c->campaign_id)
        eccp__xw_leaf_int(x, "campaign_id", c->campaign_id);
    if (c->db_call_id)
        eccp__xw_leaf_int(x, "call_id", c->db_call_id);
    eccp__xw_leaf(x, "phone", c->phone);
    if (c->queue[0])
        eccp__xw_leaf(x, "queue", c->queue);
}

int eccp__ev_render(eccp_worker_t *w, const eccp_pev_t *p)
{
    static const char *const names[] = {[ECCP_PEV_LINKED] = "agentlinked",
                                        [ECCP_PEV_UNLINKED] = "agentunlinked",
                                        [ECCP_PEV_PROGRESS] = "callprogress"};
    if (p->kind < ECCP_PEV_LINKED || p->kind > ECCP_PEV_PROGRESS)
        return CCD_EINVAL;
    const char *name = names[p->kind];
    xw_t x;
    ev_begin(&x, w, name);
    if (p->kind == ECCP_PEV_LINKED)
        render_linked(&x, p);
    else if (p->kind == ECCP_PEV_UNLINKED)
        render_unlinked(&x, p);
    else
        render_progress(&x, p);
    eccp__xw_close(&x, name);
    eccp__xw_close(&x, "event");
    eccp__xw_end_msg(&x);
    if (x.err) {
        LOG_ERR_RL(MOD, "event %s could not be built", name);
        buf_reset(&w->wbuf);
        return CCD_ENOMEM;
    }
    return 0;
}

long long *eccp__ev_call_log_id(eccp_worker_t *w, uint64_t call_id)
{
    char k[24];
    call_key(call_id, k);
    shadow_call_t *sc = hmap_get(w->calls, k);
    return sc ? &sc->log_id : NULL;
}

static void ev_agentlinked(eccp_worker_t *w, const reg_agent_t *a, const reg_call_t *c)
{
    int64_t link = c && c->t_link_ms > 0 ? c->t_link_ms : clk_wall_ms();
    eccp__ev_fire(w, ECCP_PEV_LINKED, a->number, c, "Success", link);
}

static void ev_agentunlinked(eccp_worker_t *w, const reg_agent_t *old, const reg_call_t *c)
{
    int64_t end = c && c->t_end_ms > 0 ? c->t_end_ms : clk_wall_ms();
    eccp__ev_fire(w, ECCP_PEV_UNLINKED, old->number, c, NULL, end);
}

static void ev_queuemembership(eccp_worker_t *w, const reg_agent_t *a, const reg_call_t *c)
{
    xw_t x;
    ev_begin(&x, w, "queuemembership");
    eccp__xw_leaf(&x, "agent_number", a->number);
    eccp__agent_status(&x, a, c, true);
    eccp__xw_open(&x, "queues");
    for (int i = 0; i < a->nqueues && i < REG_MAX_QUEUES; i++)
        eccp__xw_leaf(&x, "queue", a->queues[i]);
    eccp__xw_close(&x, "queues");
    ev_end(&x, w, "queuemembership", a->number, false);
}

static bool queues_differ(const reg_agent_t *a, const reg_agent_t *b)
{
    if (a->nqueues != b->nqueues)
        return true;
    for (int i = 0; i < a->nqueues && i < REG_MAX_QUEUES; i++) {
        bool found = false;
        for (int k = 0; k < b->nqueues && k < REG_MAX_QUEUES && !found; k++)
            found = strcmp(a->queues[i], b->queues[k]) == 0;
        if (!found)
            return true;
    }
    return false;
}

static void agent_change(eccp_worker_t *w, const reg_change_t *ch)
{
    const reg_agent_t *nw = &ch->u.agent;
    reg_agent_t *old = hmap_get(w->agents, nw->number);
    reg_agent_t gone;
    const reg_agent_t *cur = nw;
    if (ch->removed) {
        /* A removed agent is reported as logged out of everything. */
        memset(&gone, 0, sizeof(gone));
        memcpy(gone.number, nw->number, sizeof(gone.number));
        cur = &gone;
    }
    reg_agent_t zero;
    if (!old) {
        memset(&zero, 0, sizeof(zero));
        memcpy(zero.number, nw->number, sizeof(zero.number));
    }
    const reg_agent_t *prev = old ? old : &zero;
    const reg_call_t *call = ch->removed ? NULL : find_call(w, cur->call_id, reg_change_call(ch));

    if (prev->login != REG_LOGGED_IN && cur->login == REG_LOGGED_IN)
        ev_agent_simple(w, "agentloggedin", cur->number);
    if (prev->call_id && prev->call_id != cur->call_id)
        ev_agentunlinked(w, prev, find_call(w, prev->call_id, reg_change_prev_call(ch)));
    if (prev->break_id && prev->break_id != cur->break_id)
        ev_pauseend(w, prev, false);
    if (prev->on_hold && !cur->on_hold)
        ev_pauseend(w, prev, true);
    if (cur->break_id && prev->break_id != cur->break_id)
        ev_pausestart(w, cur, false);
    if (cur->on_hold && !prev->on_hold)
        ev_pausestart(w, cur, true);
    if (cur->call_id && prev->call_id != cur->call_id)
        ev_agentlinked(w, cur, call);
    if (queues_differ(prev, cur))
        ev_queuemembership(w, cur, call);
    if (prev->login == REG_LOGGING && cur->login == REG_LOGGED_OUT)
        ev_agent_simple(w, "agentfailedlogin", cur->number);
    if (prev->login == REG_LOGGED_IN && cur->login == REG_LOGGED_OUT)
        ev_agent_simple(w, "agentloggedout", cur->number);

    if (ch->removed) {
        free(hmap_del(w->agents, nw->number));
    } else if (old) {
        *old = *nw;
    } else {
        reg_agent_t *copy = malloc(sizeof(*copy));
        if (copy) {
            *copy = *nw;
            if (hmap_put(w->agents, copy->number, copy, NULL) != 0)
                free(copy);
        }
    }
}

static bool progress_status(reg_call_status_e st, reg_call_status_e prev, bool had_prev,
                            const char **name)
{
    switch (st) {
    case REG_CS_SUCCESS:
        if (had_prev && prev == REG_CS_ONHOLD) {
            *name = "OffHold";
            return true;
        }
        return false;
    case REG_CS_HANGUP:
    case REG_CS_SHORTCALL:
    case REG_CS_LOST:
        return false;
    case REG_CS_ONHOLD:
        *name = "OnHold";
        return true;
    default:
        *name = reg_call_status_name(st);
        return true;
    }
}

/* The transition's time when the registry keeps one for it, else now. */
static int64_t progress_time(const reg_call_t *c)
{
    int64_t t = 0;
    switch (c->status) {
    case REG_CS_PLACING:
        t = c->t_originate_ms;
        break;
    case REG_CS_RINGING:
        t = c->t_answer_ms;
        break;
    case REG_CS_ONQUEUE:
        t = c->t_queue_ms;
        break;
    case REG_CS_FAILURE:
    case REG_CS_NOANSWER:
    case REG_CS_ABANDONED:
        t = c->t_end_ms;
        break;
    default:
        break;
    }
    return t > 0 ? t : clk_wall_ms();
}

static void ev_callprogress(eccp_worker_t *w, const reg_call_t *c, const char *status)
{
    eccp__ev_fire(w, ECCP_PEV_PROGRESS, NULL, c, status, progress_time(c));
}

static void sweep_calls(eccp_worker_t *w, int64_t now)
{
    size_t it = 0;
    const char *k;
    void *v;
    char dead[64][24];
    int nd = 0;
    while (nd < 64 && hmap_next(w->calls, &it, &k, &v)) {
        shadow_call_t *sc = v;
        if (sc->removed_ms && now - sc->removed_ms > CALL_GRACE_MS)
            snprintf(dead[nd++], 24, "%s", k);
    }
    for (int i = 0; i < nd; i++)
        free(hmap_del(w->calls, dead[i]));
}

static void call_change(eccp_worker_t *w, const reg_change_t *ch)
{
    const reg_call_t *c = &ch->u.call;
    char k[24];
    call_key(c->id, k);
    shadow_call_t *sc = hmap_get(w->calls, k);
    bool had = sc && !sc->removed_ms;
    reg_call_status_e prev = sc ? sc->c.status : REG_CS_PLACING;
    if (!ch->removed && (!had || prev != c->status)) {
        const char *name;
        if (progress_status(c->status, prev, had, &name))
            ev_callprogress(w, c, name);
    }
    if (!sc) {
        sc = calloc(1, sizeof(*sc));
        if (!sc || hmap_put(w->calls, k, sc, NULL) != 0) {
            free(sc);
            return;
        }
    }
    sc->c = *c;
    if (ch->removed) {
        int64_t now = clk_mono_ms();
        sc->removed_ms = now;
        sweep_calls(w, now);
    }
}

void eccp__event_reg_change(eccp_worker_t *w, reg_change_t *ch)
{
    int64_t start = clk_mono_us();
    w->fan_cur_sent = w->fan_cur_queued = 0;
    if (ch->msg.type == MSG_REG_AGENT_CHANGED)
        agent_change(w, ch);
    else
        call_change(w, ch);
    int64_t end = clk_mono_us();
    if (ch->at_us > 0) {
        atomic_store(&w->fan_last_us, (long long)(end - ch->at_us));
        atomic_store(&w->fan_start_us, (long long)(start - ch->at_us));
    }
    atomic_store(&w->fan_busy_us, (long long)(end - start));
    atomic_store(&w->fan_sessions, (long long)w->fan_cur_sent);
    atomic_store(&w->fan_queued, (long long)w->fan_cur_queued);
    atomic_fetch_add(&w->fan_rounds, 1);
}

void eccp__event_published(eccp_worker_t *w, const eccp_event_t *ev)
{
    static const char *const names[] = {"recordingmute", "recordingunmute", "schedulecallstart",
                                        "schedulecallfailed"};
    if ((unsigned)ev->kind >= sizeof(names) / sizeof(names[0]))
        return;
    const char *name = names[ev->kind];
    xw_t x;
    ev_begin(&x, w, name);
    eccp__xw_leaf(&x, "agent_number", ev->agent_number);
    eccp__xw_leaf(&x, "calltype", ev->incoming ? "incoming" : "outgoing");
    if (ev->campaign_id)
        eccp__xw_leaf_int(&x, "campaign_id", ev->campaign_id);
    eccp__xw_leaf_int(&x, "call_id", ev->call_id);
    ev_end(&x, w, name, ev->agent_number, false);
}

void eccp__event_worker_free(eccp_worker_t *w)
{
    size_t it = 0;
    const char *k;
    void *v;
    if (w->agents) {
        while (hmap_next(w->agents, &it, &k, &v))
            free(v);
        hmap_free(w->agents);
    }
    it = 0;
    if (w->calls) {
        while (hmap_next(w->calls, &it, &k, &v))
            free(v);
        hmap_free(w->calls);
    }
    w->agents = w->calls = NULL;
}
