/*
 * Outgoing calls: registry call changes -> calls, call_progress_log, current_calls and
 * the campaign's statistics, as Issabel's dialer writes them (docs/journal.md).
 *
 * Each change is compared with what was already written for the call (jcall_t), not
 * with the previous change: the registry may apply several steps in one transaction
 * (one change), and late Asterisk events move a finished call up (NoAnswer ->
 * Abandoned -> Hangup).  So every step's row is written once, in the call's order,
 * whatever the changes looked like.  Journal thread only.
 */
#include "journal/jnl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

/* failure_cause_txt of a call that vanished (Asterisk restart, lost connection, a call
 * the registry dropped unfinished): next to db_claims_recover's 'ccd-recovered'. */
#define JNL_LOST_TXT "ccd-lost"

/* A finished state the registry may still move up when late events arrive
 * (ami_reg.c: answered NoAnswer < Abandoned < Hangup). */
static bool may_move_up(const reg_call_t *c)
{
    return (c->status == REG_CS_NOANSWER && c->t_answer_ms) || c->status == REG_CS_ABANDONED;
}

static int64_t talk_s(const reg_call_t *c)
{
    return jnl__secs(c->t_link_ms, c->t_end_ms);
}

static bool is_short(const jnl_t *j, const reg_call_t *c)
{
    if (c->status == REG_CS_SHORTCALL)
        return true;
    return c->status == REG_CS_HANGUP && j->cf->dialer.short_call_s > 0 &&
           talk_s(c) < j->cf->dialer.short_call_s;
}

/* calls.status, Issabel's strings (Dialing and Lost are not among them). */
static const char *calls_status(const jnl_t *j, const reg_call_t *c)
{
    switch (c->status) {
    case REG_CS_PLACING:
    case REG_CS_DIALING: return "Placing";
    case REG_CS_RINGING: return "Ringing";
    case REG_CS_ONQUEUE: return "OnQueue";
    case REG_CS_SUCCESS: return "Success";
    case REG_CS_ONHOLD: return "OnHold";
    case REG_CS_FAILURE: return "Failure";
    case REG_CS_NOANSWER: return "NoAnswer";
    case REG_CS_ABANDONED: return "Abandoned";
    case REG_CS_SHORTCALL: return "ShortCall";
    case REG_CS_HANGUP: return is_short(j, c) ? "ShortCall" : "Success";
    case REG_CS_LOST: return c->t_link_ms ? "Success" : "Failure";
    }
    return "Failure";
}

/* The call_progress_log new_status of a finished call. */
static const char *final_progress(const jnl_t *j, const reg_call_t *c)
{
    switch (c->status) {
    case REG_CS_NOANSWER: return "NoAnswer";
    case REG_CS_ABANDONED: return "Abandoned";
    case REG_CS_SHORTCALL: return "ShortCall";
    case REG_CS_HANGUP: return is_short(j, c) ? "ShortCall" : "Hangup";
    case REG_CS_LOST: return c->t_link_ms ? "Hangup" : "Failure";
    default: return "Failure";
    }
}

/* Asterisk's text for the hangup causes a dialer meets (what Issabel stored from the
 * Hangup event's Cause-txt); "" = NULL for the others. */
static const char *cause_text(int cause)
{
    switch (cause) {
    case 1: return "Unallocated (unassigned) number";
    case 3: return "No route to destination";
    case 16: return "Normal Clearing";
    case 17: return "User busy";
    case 18: return "No user responding";
    case 19: return "User alerting, no answer";
    case 21: return "Call Rejected";
    case 27: return "Destination out of order";
    case 28: return "Invalid number format";
    case 31: return "Normal, unspecified";
    case 34: return "Circuit/channel congestion";
    case 38: return "Network out of order";
    case 41: return "Temporary failure";
    case 42: return "Switching equipment congestion";
    default: return "";
    }
}

/* The agent row id of an agent number: the journal's own agent table, else the
 * registry's copy (a link is published before the agent's change at times). */
uint32_t jnl__agent_db_id(jnl_t *j, const char *number)
{
    const jagent_t *a = hmap_get(j->agents, number);
    if (a && a->db_id)
        return a->db_id;
    reg_agent_t ra;
    if (reg_agent_get(j->reg, number, &ra) == 0 && ra.db_id > 0 && ra.db_id <= UINT32_MAX)
        return (uint32_t)ra.db_id;
    return 0;
}

static void progress(jnl_t *j, jcall_t *jc, const reg_call_t *c, const char *name,
                     int64_t when_ms, int64_t duration)
{
    jnl__cpy(jc->prog, sizeof(jc->prog), name);
    db_write_t *w = jnl__write_new(j, DB_W_PROGRESS_LOG, jc->db_id);
    if (!w)
        return;
    db_w_progress_t *p = &w->u.progress;
    p->datetime_entry = jnl__to_time(when_ms);
    p->id_campaign_outgoing = jc->campaign;
    p->id_call_outgoing = jc->db_id;
    jnl__cpy(p->new_status, sizeof(p->new_status), name);
    p->retry = c->retries;
    jnl__cpy(p->uniqueid, sizeof(p->uniqueid), c->uniqueid);
    jnl__cpy(p->trunk, sizeof(p->trunk), c->trunk);
    p->id_agent = jc->id_agent;
    p->duration = duration;
    jnl__submit(j, w);
}

static void current_add(jnl_t *j, jcall_t *jc, const reg_call_t *c)
{
    jc->current = true;
    db_write_t *w = jnl__write_new(j, DB_W_CURRENT_CALL_ADD, jc->db_id);
    if (!w)
        return;
    db_w_current_call_t *cc = &w->u.current;
    cc->id_call = jc->db_id;
    cc->fecha_inicio = jnl__to_time(c->t_link_ms);
    jnl__cpy(cc->uniqueid, sizeof(cc->uniqueid), c->uniqueid);
    jnl__cpy(cc->queue, sizeof(cc->queue), c->queue);
    jnl__cpy(cc->agentnum, sizeof(cc->agentnum), c->agent);
    jnl__cpy(cc->event, sizeof(cc->event), "Link");
    jnl__cpy(cc->channel, sizeof(cc->channel), c->agent_channel);
    jnl__cpy(cc->channel_client, sizeof(cc->channel_client), c->channel);
    jnl__submit(j, w);
}

static void current_del(jnl_t *j, jcall_t *jc)
{
    jc->current = false;
    db_write_t *w = jnl__write_new(j, DB_W_CURRENT_CALL_DEL, jc->db_id);
    if (!w)
        return;
    w->u.current.id_call = jc->db_id;
    jnl__submit(j, w);
}

/* The progress rows of the steps the call has taken and the journal has not written,
 * in the call's order.  Once a final row is written, steps learnt later (a late queue
 * join) show only in the calls row and the next final row. */
static void progress_steps(jnl_t *j, jcall_t *jc, const reg_call_t *c, bool linked)
{
    if (jc->final_prog[0])
        return;
    if (c->status == REG_CS_DIALING && !jc->dialing) {
        jc->dialing = true;
        progress(j, jc, c, "Dialing", 0, -1);
    }
    if ((c->t_answer_ms || c->status == REG_CS_RINGING) && !jc->ringing) {
        jc->ringing = true;
        progress(j, jc, c, "Ringing", c->t_answer_ms, -1);
    }
    if ((c->t_queue_ms || c->status == REG_CS_ONQUEUE) && !jc->queued) {
        jc->queued = true;
        progress(j, jc, c, "OnQueue", c->t_queue_ms, -1);
    }
    if (linked && !jc->linked) {
        jc->linked = true;
        progress(j, jc, c, "Success", c->t_link_ms, -1);
    }
    if (c->status == REG_CS_ONHOLD && !jc->on_hold) {
        jc->on_hold = true;
        progress(j, jc, c, "OnHold", 0, -1);
    } else if (c->status == REG_CS_SUCCESS && jc->on_hold) {
        jc->on_hold = false;
        progress(j, jc, c, "OffHold", 0, -1);
    }
}

/* The calls columns that differ from what was written; fills w, returns its mask. */
static uint32_t call_columns(jnl_t *j, jcall_t *jc, const reg_call_t *c, bool linked,
                             db_w_call_t *w)
{
    uint32_t set = 0;
    if (c->uniqueid[0] && strncmp(jc->uniqueid, c->uniqueid, sizeof(jc->uniqueid) - 1) != 0) {
        jnl__cpy(jc->uniqueid, sizeof(jc->uniqueid), c->uniqueid);
        jnl__cpy(w->uniqueid, sizeof(w->uniqueid), c->uniqueid);
        set |= DB_CALL_F_UNIQUEID;
    }
    if (c->trunk[0] && strncmp(jc->trunk, c->trunk, sizeof(jc->trunk) - 1) != 0) {
        jnl__cpy(jc->trunk, sizeof(jc->trunk), c->trunk);
        jnl__cpy(w->trunk, sizeof(w->trunk), c->trunk);
        set |= DB_CALL_F_TRUNK;
    }
    if (jc->id_agent && linked && !jc->w_agent) {
        jc->w_agent = true;
        w->id_agent = jc->id_agent;
        set |= DB_CALL_F_ID_AGENT;
    }
    /* fecha_llamada is the OriginateResponse: success (answered) or failure */
    if (!jc->w_answer && (c->t_answer_ms || c->status == REG_CS_FAILURE)) {
        jc->w_answer = true;
        w->fecha_llamada = jnl__to_time(c->t_answer_ms ? c->t_answer_ms : c->t_end_ms);
        set |= DB_CALL_F_FECHA_LLAMADA;
    }
    if (!jc->w_queue && c->t_queue_ms) {
        jc->w_queue = true;
        w->datetime_entry_queue = jnl__to_time(c->t_queue_ms);
        set |= DB_CALL_F_ENTRY_QUEUE;
    }
    if (!jc->w_link && linked && c->t_link_ms) {
        jc->w_link = true;
        w->start_time = jnl__to_time(c->t_link_ms);
        set |= DB_CALL_F_START_TIME;
        if (c->t_queue_ms) {
            w->duration_wait = jnl__secs(c->t_queue_ms, c->t_link_ms);
            set |= DB_CALL_F_DURATION_WAIT;
        }
    }
    const char *st = calls_status(j, c);
    bool moved = strcmp(st, jc->status) != 0;
    if (moved) {
        jnl__cpy(jc->status, sizeof(jc->status), st);
        jnl__cpy(w->status, sizeof(w->status), st);
        set |= DB_CALL_F_STATUS;
    }
    if (c->status == REG_CS_LOST && !jc->lost_txt) {
        jc->lost_txt = true;
        jc->failure_cause = c->failure_cause;
        w->failure_cause = c->failure_cause ? c->failure_cause : -1;
        jnl__cpy(w->failure_cause_txt, sizeof(w->failure_cause_txt), JNL_LOST_TXT);
        set |= DB_CALL_F_FAILURE_CAUSE;
    } else if (!jc->lost_txt && c->failure_cause && c->failure_cause != jc->failure_cause) {
        jc->failure_cause = c->failure_cause;
        w->failure_cause = c->failure_cause;
        jnl__cpy(w->failure_cause_txt, sizeof(w->failure_cause_txt), cause_text(c->failure_cause));
        set |= DB_CALL_F_FAILURE_CAUSE;
    }
    /* The end: its time once, its durations again when a late event changed the outcome. */
    if (jnl__is_final(c->status) && (!jc->w_end || moved)) {
        if (!jc->w_end) {
            jc->w_end = true;
            w->end_time = jnl__to_time(c->t_end_ms);
            set |= DB_CALL_F_END_TIME;
        }
        if (c->t_link_ms) {
            w->duration = talk_s(c);
            set |= DB_CALL_F_DURATION;
        } else if (c->t_queue_ms) {
            w->duration_wait = jnl__secs(c->t_queue_ms, c->t_end_ms ? c->t_end_ms : clk_wall_ms());
            set |= DB_CALL_F_DURATION_WAIT;
        }
    }
    return set;
}

/* Marks the claim released; the mask bits (and the back-off into cw) of its write. */
static uint32_t release_bits(jnl_t *j, jcall_t *jc, db_w_call_t *cw)
{
    jc->released = true;
    jc->release_wait = false;
    if (strcmp(jc->status, "Success") == 0)
        return DB_CALL_F_RELEASE;
    cw->next_attempt_delay_s = jnl__campaign_backoff_s(j, jc->campaign, jc->retries);
    return DB_CALL_F_RELEASE | DB_CALL_F_NEXT_ATTEMPT;
}

/* A write releasing the claim alone. */
static void release_alone(jnl_t *j, jcall_t *jc)
{
    db_write_t *w = jnl__write_new(j, DB_W_CALL_UPDATE, jc->db_id);
    if (!w) {
        jc->released = true;
        return;
    }
    w->u.call.id_call = jc->db_id;
    w->u.call.set = release_bits(j, jc, &w->u.call);
    jnl__submit(j, w);
}

/* Writes what changed for one call.  settle: the outcome will not change any more. */
static void call_apply(jnl_t *j, jcall_t *jc, const reg_call_t *c, bool settle)
{
    bool final = jnl__is_final(c->status);
    bool linked = jnl__was_linked(c);
    jc->retries = c->retries;
    if (c->agent[0] && !jc->id_agent)
        jc->id_agent = jnl__agent_db_id(j, c->agent);

    /* Worked out on the stack: a change that moves no column allocates no write.  Only
     * the columns in set are written (db.h), so the others may stay zero. */
    db_w_call_t cw = {.id_call = jc->db_id};
    uint32_t set = call_columns(j, jc, c, linked, &cw);
    if (final && (settle || !may_move_up(c)) && !jc->released) {
        /* A retry's back-off is the campaign's: wait for its row (even past the call's
         * removal), unless the journal is stopping. */
        if (j->stopping || strcmp(jc->status, "Success") == 0 ||
            jnl__campaign_ready(j, jc->campaign))
            set |= release_bits(j, jc, &cw);
        else
            jc->release_wait = true;
    }
    if (set) {
        db_write_t *w = jnl__write_new(j, DB_W_CALL_UPDATE, jc->db_id);
        if (w) {
            cw.set = set;
            w->u.call = cw;
            jnl__submit(j, w);
        }
    }

    progress_steps(j, jc, c, linked);
    if (linked && !final && !jc->current && !jc->w_end)
        current_add(j, jc, c);
    if (!final)
        return;
    const char *fp = final_progress(j, c);
    if (strcmp(fp, jc->final_prog) != 0) {
        jnl__cpy(jc->final_prog, sizeof(jc->final_prog), fp);
        progress(j, jc, c, fp, c->t_end_ms, c->t_link_ms ? talk_s(c) : -1);
    }
    if (jc->current)
        current_del(j, jc);
    if (c->status == REG_CS_HANGUP && !is_short(j, c) && !jc->counted) {
        jc->counted = true;
        jnl__campaign_completed(j, jc->campaign, talk_s(c));
    }
}

void jnl__call_change(jnl_t *j, const reg_change_t *ch)
{
    const reg_call_t *c = &ch->u.call;
    if (c->type != REG_CALL_OUTGOING) {
        jnl__incoming(j, ch);
        return;
    }
    char key[32];
    jnl__call_key(c->id, key, sizeof(key));
    jcall_t *jc = hmap_get(j->calls, key);
    if (!jc) {
        /* Only calls of a campaign row are journaled; the dialer sets db_call_id when it
         * creates the call, so a call without one is not a campaign call. */
        if (c->db_call_id <= 0 || c->db_call_id > UINT32_MAX)
            return;
        jc = calloc(1, sizeof(*jc));
        if (!jc || hmap_put(j->calls, key, jc, NULL) != 0) {
            free(jc);
            LOG_ERR_RL("journal", "out of memory: call %" PRId64 " is not journaled", c->db_call_id);
            return;
        }
        jc->reg_id = c->id;
        jc->db_id = (uint32_t)c->db_call_id;
        jc->campaign = c->campaign_id > 0 && c->campaign_id <= UINT32_MAX ? (uint32_t)c->campaign_id : 0;
        /* The dialer's claim wrote Placing (status and progress row): see docs/journal.md. */
        jnl__cpy(jc->status, sizeof(jc->status), "Placing");
        jnl__cpy(jc->prog, sizeof(jc->prog), "Placing");
        atomic_fetch_add_explicit(&j->st_calls, 1, memory_order_relaxed);
        if (jc->campaign)
            jnl__campaign_want(j, jc->campaign);
    }
    if (ch->removed && !jnl__is_final(c->status)) {
        /* Dropped unfinished: written as vanished and released for retry. */
        reg_call_t lost = *c;
        lost.status = REG_CS_LOST;
        if (!lost.t_end_ms)
            lost.t_end_ms = clk_wall_ms();
        LOG_INFO("journal", "call %" PRIu32 " left the registry unfinished (%s): written as lost",
                 jc->db_id, reg_call_status_name(c->status));
        call_apply(j, jc, &lost, true);
    } else {
        call_apply(j, jc, c, ch->removed || j->stopping);
    }
    /* each change carries one new file at most (the registry publishes every VarSet) */
    if (c->nrecordings != jc->nrec && c->recording[0]) {
        jnl__recording(j, c, jc->db_id, jc->db_id, 0);
        jc->nrec = c->nrecordings;
    }
    if (ch->removed) {
        if (jc->release_wait) {
            jc->gone = true; /* kept until its campaign's row comes */
            return;
        }
        hmap_del(j->calls, key);
        free(jc);
        atomic_fetch_sub_explicit(&j->st_calls, 1, memory_order_relaxed);
    }
}

void jnl__calls_settle_all(jnl_t *j)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->calls, &it, &k, &v)) {
        jcall_t *jc = v;
        /* a finished call still kept for late events: its outcome is the one written */
        if (jc->final_prog[0] && !jc->released)
            release_alone(j, jc);
    }
}

void jnl__calls_campaign_ready(jnl_t *j, uint32_t campaign)
{
    size_t it = 0, ngone = 0;
    const char *k;
    void *v;
    while (hmap_next(j->calls, &it, &k, &v)) {
        jcall_t *jc = v;
        if (jc->release_wait && jc->campaign == campaign) {
            release_alone(j, jc);
            ngone += jc->gone;
        }
    }
    if (!ngone)
        return;
    /* the calls the registry has let go: forgotten now (not while walking the map) */
    uint64_t *ids = malloc(ngone * sizeof(*ids));
    size_t n = 0;
    it = 0;
    while (ids && hmap_next(j->calls, &it, &k, &v)) {
        jcall_t *jc = v;
        if (jc->gone && jc->campaign == campaign && n < ngone)
            ids[n++] = jc->reg_id;
    }
    for (size_t i = 0; i < n; i++) {
        char key[32];
        jnl__call_key(ids[i], key, sizeof(key));
        free(hmap_del(j->calls, key));
        atomic_fetch_sub_explicit(&j->st_calls, 1, memory_order_relaxed);
    }
    free(ids);
}

void jnl__calls_free(jnl_t *j)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->calls, &it, &k, &v))
        free(v);
}
