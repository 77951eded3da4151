/*
 * The dialer and the registry: new calls and failures as apply functions (registry thread,
 * lock held, no I/O), the per-cycle count of calls and agents (read lock, copy-free
 * visits), and what the pacer learns from call changes (dialer thread).
 */
#include "dialer/dl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

typedef struct batch {
    dl_t *d;
    uint64_t seq;
    int n;
    dl_newcall_t calls[];
} batch_t;

static void apply_new_calls(reg_txn_t *tx, void *arg)
{
    batch_t *b = arg;
    int64_t now = clk_wall_ms();
    for (int i = 0; i < b->n; i++) {
        const dl_newcall_t *nc = &b->calls[i];
        reg_call_t *c = reg_txn_call_new(tx);
        if (!c)
            continue; /* the Originate's events will find no call; its row is recovered */
        c->type = REG_CALL_OUTGOING;
        c->status = REG_CS_PLACING;
        c->server = nc->server;
        c->campaign_id = nc->id_campaign;
        c->db_call_id = nc->id_call;
        c->retries = nc->retries;
        snprintf(c->phone, sizeof(c->phone), "%s", nc->phone);
        snprintf(c->queue, sizeof(c->queue), "%s", nc->queue);
        snprintf(c->trunk, sizeof(c->trunk), "%s", nc->trunk);
        snprintf(c->action_id, sizeof(c->action_id), "%s", nc->action_id);
        snprintf(c->cb_agent, sizeof(c->cb_agent), "%s", nc->cb_agent);
        c->t_originate_ms = now;
        reg_txn_call_set_uniqueid(tx, c, nc->uniqueid);
        reg_txn_call_touch(tx, c);
    }
    atomic_store(&b->d->applied_seq, b->seq);
}

int dl__reg_post_calls(dl_t *d, uint64_t seq, const dl_newcall_t *calls, int n)
{
    batch_t *b = malloc(sizeof(*b) + (size_t)n * sizeof(*calls));
    if (!b)
        return CCD_ENOMEM;
    b->d = d;
    b->seq = seq;
    b->n = n;
    memcpy(b->calls, calls, (size_t)n * sizeof(*calls));
    int rc = reg_post(d->reg, apply_new_calls, b, free);
    if (rc)
        free(b);
    return rc;
}

typedef struct fail {
    char uniqueid[REG_UID_LEN];
    int cause;
    bool stuck;
} fail_t;

static void apply_fail(reg_txn_t *tx, void *arg)
{
    fail_t *f = arg;
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, f->uniqueid);
    if (!c || c->type != REG_CALL_OUTGOING)
        return;
    /* Any event of the call since the decision wins: only a call nothing happened to ends. */
    if (!(c->status == REG_CS_PLACING || (f->stuck && c->status == REG_CS_DIALING)))
        return;
    c->status = REG_CS_FAILURE;
    c->failure_cause = f->cause;
    if (!c->t_end_ms)
        c->t_end_ms = clk_wall_ms();
    reg_txn_call_touch(tx, c);
}

int dl__reg_post_fail(dl_t *d, const char *uniqueid, int cause, bool stuck)
{
    fail_t *f = calloc(1, sizeof(*f));
    if (!f)
        return CCD_ENOMEM;
    snprintf(f->uniqueid, sizeof(f->uniqueid), "%s", uniqueid);
    f->cause = cause;
    f->stuck = stuck;
    int rc = reg_post(d->reg, apply_fail, f, free);
    if (rc)
        free(f);
    return rc;
}

/* ---- the per-cycle count ---- */

static bool live_status(reg_call_status_e s)
{
    return s == REG_CS_PLACING || s == REG_CS_DIALING || s == REG_CS_RINGING ||
           s == REG_CS_ONQUEUE || s == REG_CS_SUCCESS || s == REG_CS_ONHOLD;
}

void dl__push_time(int64_t **arr, int *n, int *cap, int64_t v)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 32;
        int64_t *p = realloc(*arr, (size_t)nc * sizeof(*p));
        if (!p)
            return; /* the pacer sees one call fewer; the counts stay right */
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
}

#define STUCK_MAX 64
typedef struct snap {
    dl_t *d;
    int64_t wall_now, stuck_ms;
    int nstuck, nwrapping;
    char stuck[STUCK_MAX][REG_UID_LEN];
} snap_t;

static void visit_call(const reg_call_t *c, void *ctx)
{
    snap_t *s = ctx;
    if (c->type != REG_CALL_OUTGOING || !live_status(c->status))
        return;
    s->d->global_live++;
    dl_camp_t *k = dl__camp_find(s->d, (uint32_t)c->campaign_id);
    if (!k)
        return;
    k->live++;
    for (int i = 0; i < k->ncb_busy; i++)
        if (strcmp(k->cb_busy[i].uniqueid, c->uniqueid) == 0)
            k->cb_busy[i].live = true;
    switch (c->status) {
    case REG_CS_PLACING:
    case REG_CS_DIALING:
        /* Placed, not answered yet (RINGING is Issabel's name for answered). */
        k->placing++;
        dl__push_time(&k->ringing_since, &k->nringing, &k->cap_ringing, c->t_originate_ms);
        if (c->t_originate_ms && s->wall_now - c->t_originate_ms > s->stuck_ms &&
            s->nstuck < STUCK_MAX)
            snprintf(s->stuck[s->nstuck++], REG_UID_LEN, "%s", c->uniqueid);
        break;
    case REG_CS_RINGING:
    case REG_CS_ONQUEUE:
        k->waiting++;
        break;
    default: /* with an agent */
        k->busy_calls++;
        dl__push_time(&k->busy_since, &k->nbusy_since, &k->cap_busy,
                  c->t_link_ms ? c->t_link_ms : c->t_answer_ms);
        break;
    }
}

static bool in_queue(const reg_agent_t *a, const char *queue)
{
    for (int i = 0; i < a->nqueues; i++)
        if (strcmp(a->queues[i], queue) == 0)
            return true;
    return false;
}

static bool is_reserved(const dl_camp_t *k, const char *agent)
{
    for (size_t i = 0; i < k->ncb; i++)
        if (strcmp(k->cb[i].name, agent) == 0)
            return true;
    return false;
}

static bool cb_busy(const dl_camp_t *k, const char *agent)
{
    for (int i = 0; i < k->ncb_busy; i++)
        if (strcmp(k->cb_busy[i].agent, agent) == 0)
            return true;
    return false;
}

void dl__cb_busy_add(dl_camp_t *k, const char *agent, const char *uniqueid)
{
    if (k->ncb_busy >= DL_MAX_CB)
        return; /* at most DL_MAX_CB callbacks are placed per cycle, and they end */
    snprintf(k->cb_busy[k->ncb_busy].agent, sizeof(k->cb_busy[0].agent), "%.*s",
             (int)sizeof(k->cb_busy[0].agent) - 1, agent);
    snprintf(k->cb_busy[k->ncb_busy].uniqueid, sizeof(k->cb_busy[0].uniqueid), "%s", uniqueid);
    k->cb_busy[k->ncb_busy].placed_ms = clk_mono_ms();
    k->cb_busy[k->ncb_busy].live = true;
    k->ncb_busy++;
}

/* Callbacks no longer live leave the list (a new one is kept until the registry has had
 * time to show it). */
static void cb_busy_sweep(dl_camp_t *k)
{
    int64_t now = clk_mono_ms();
    int o = 0;
    for (int i = 0; i < k->ncb_busy; i++) {
        if (!k->cb_busy[i].live && now - k->cb_busy[i].placed_ms > 5000)
            continue;
        k->cb_busy[o] = k->cb_busy[i];
        k->cb_busy[o++].live = false;
    }
    k->ncb_busy = o;
}

static void visit_agent(const reg_agent_t *a, void *ctx)
{
    snap_t *s = ctx;
    if (a->login != REG_LOGGED_IN) {
        if (a->cb_pause != REG_CB_PAUSE_NONE)
            dl__hold_note(s->d, a, false); /* a hold left on an agent who logged out */
        return;
    }
    /* Asterisk offers a member in wrap-up no queue call: it is not free, but it will be at
     * a time the pacer can foresee, unless a break or a hold keeps it. */
    bool can_take = a->ready_ms != 0 && a->break_id == 0 && !a->on_hold && a->call_id == 0;
    bool wrapping = can_take && reg_agent_in_wrapup(a, s->wall_now);
    bool free_now = can_take && !wrapping;
    if (wrapping)
        s->nwrapping++;
    bool held_for_callback = false;
    for (size_t i = 0; i < s->d->ncamps; i++) {
        dl_camp_t *k = s->d->camps[i];
        if (k->gone || !k->usable || k->server != a->server)
            continue;
        bool reserved = is_reserved(k, a->number);
        if (reserved || cb_busy(k, a->number))
            held_for_callback = true;
        if (reserved) {
            /* Due callbacks hold their agent: not free for the campaign's other calls.  Its
             * hold in Asterisk (dl_hold.c) does not stop the callback, which dials the agent
             * itself, not the queue. */
            if (free_now && k->ncb_free < DL_MAX_CB && !cb_busy(k, a->number))
                snprintf(k->cb_free[k->ncb_free++], sizeof(k->cb_free[0]), "%.*s",
                         (int)sizeof(k->cb_free[0]) - 1, a->number);
            continue;
        }
        if (!in_queue(a, k->c.queue))
            continue;
        /* Held for a callback (of another campaign, or another engine's): Asterisk offers
         * it no queue call, like an agent on a break. */
        if (a->cb_pause != REG_CB_PAUSE_NONE && a->call_id == 0)
            continue;
        if (free_now) {
            k->free_agents++;
        } else if (a->call_id != 0) {
            k->busy_agents++;
        } else if (wrapping) {
            k->wrap_agents++;
            dl__push_time(&k->wrap_since, &k->nwrap, &k->cap_wrap, a->wrap_start_ms);
        }
    }
    dl__hold_note(s->d, a, held_for_callback);
}

void dl__reg_snapshot(dl_t *d)
{
    /* Read before the count: every batch up to it is in the registry when the count looks. */
    d->snap_seq = atomic_load(&d->applied_seq);
    d->global_live = 0;
    for (size_t i = 0; i < d->ncamps; i++) {
        dl_camp_t *k = d->camps[i];
        k->live = k->placing = k->waiting = k->busy_calls = 0;
        k->free_agents = k->busy_agents = k->ncb_free = 0;
        k->nringing = k->nbusy_since = 0;
        k->wrap_agents = k->nwrap = 0;
    }
    /* On the stack (4 KB): the count never fails for want of memory. */
    snap_t snap = {
        .d = d,
        .wall_now = clk_wall_ms(),
        .stuck_ms = (int64_t)dl__originate_timeout_ms(d->cf->dialer.originate_timeout_s) +
                    DL_STUCK_GRACE_MS,
    };
    snap_t *s = &snap;
    for (size_t i = 0; i < d->ncamps; i++)
        for (int j = 0; j < d->camps[i]->ncb_busy; j++)
            d->camps[i]->cb_busy[j].live = false;
    reg_visit_calls(d->reg, visit_call, s);
    reg_visit_agents(d->reg, visit_agent, s);
    atomic_store(&d->st_wrapping, s->nwrapping);
    for (size_t i = 0; i < d->ncamps; i++)
        cb_busy_sweep(d->camps[i]);
    for (int i = 0; i < s->nstuck; i++) {
        if (dl__reg_post_fail(d, s->stuck[i], 0, true) == 0) {
            atomic_fetch_add(&d->st_stuck, 1);
            LOG_WARN_RL(DL_LOG, "call %s had no answer from Asterisk %lld s after it was placed: "
                                "Failure",
                        s->stuck[i], (long long)(s->stuck_ms / 1000));
        }
    }
    /* Campaigns on one queue share its free agents (in turns), so two campaigns never both
     * count the same agent. */
    for (size_t i = 0; i < d->ncamps; i++) {
        dl_camp_t *k = d->camps[i];
        if (k->gone || !k->usable)
            continue;
        int total = 0, me = 0;
        for (size_t j = 0; j < d->ncamps; j++) {
            dl_camp_t *o = d->camps[j];
            if (o->gone || !o->usable || o->server != k->server ||
                strcmp(o->c.queue, k->c.queue) != 0)
                continue;
            if (j < i)
                me++;
            total++;
        }
        if (total > 1) {
            int f = k->free_agents;
            k->free_agents = f / total + (me < f % total ? 1 : 0);
            int b = k->busy_agents;
            k->busy_agents = b / total + (me < b % total ? 1 : 0);
            /* the wrapping agents in the same turns (their starts are in visit order, so
             * each campaign takes every total-th one) */
            int w = 0;
            for (int j = me; j < k->nwrap; j += total)
                k->wrap_since[w++] = k->wrap_since[j];
            k->nwrap = k->wrap_agents = w;
        }
    }
}

/* ---- what the pacer learns ---- */

/* The wrap-up that follows the end of call c: the wrap-up length Asterisk reported for its
 * agent's member, which it enforces from the call's end (the same apply that ended the call
 * started the agent's wrap-up, so the copy read now has it).  0 when none is known. */
static int64_t agent_wrap_ms(dl_t *d, const reg_call_t *c)
{
    if (!c->agent[0] || c->cb_agent[0])
        return 0; /* a callback was no queue call: Asterisk holds its agent in no wrap-up */
    reg_agent_t *a = malloc(sizeof(*a)); /* 3 KB: not on the dialer thread's stack */
    if (!a)
        return 0;
    int64_t w = reg_agent_get(d->reg, c->agent, a) == 0 && a->wrapup_ms > 0 ? a->wrapup_ms : 0;
    free(a);
    return w;
}

enum { OBS_SEEN = 0x80, OBS_OUT = 0x1, OBS_ANS = 0x2, OBS_CONN = 0x4, OBS_ABAN = 0x8,
       OBS_DONE = 0x10 };

void dl__reg_observe(dl_t *d, const reg_change_t *ch)
{
    const reg_call_t *c = &ch->u.call;
    if (c->type != REG_CALL_OUTGOING || !c->uniqueid[0])
        return;
    if (ch->removed) {
        hmap_del(d->obs, c->uniqueid);
        return;
    }
    dl_camp_t *k = dl__camp_find(d, (uint32_t)c->campaign_id);
    if (!k || !k->pacer)
        return;
    uintptr_t f = (uintptr_t)hmap_get(d->obs, c->uniqueid);
    uintptr_t old = f;
    /* Registry times are the real wall clock; the pacer runs on the dialer's. */
    int64_t now = dl__now_ms(d);
    if (!(f & OBS_OUT)) {
        if (c->t_answer_ms) {
            dl_pacer_call_outcome(k->pacer, now, DL_OUT_ANSWERED, c->t_answer_ms - c->t_originate_ms);
            atomic_fetch_add(&d->st_p_out, 1);
            f |= OBS_OUT | OBS_ANS;
        } else if (c->status == REG_CS_FAILURE || c->status == REG_CS_NOANSWER) {
            int64_t ring = c->t_end_ms ? c->t_end_ms - c->t_originate_ms : 0;
            dl_pacer_call_outcome(k->pacer, now,
                                  c->status == REG_CS_NOANSWER ? DL_OUT_NOANSWER : DL_OUT_FAILED,
                                  ring < 0 ? 0 : ring);
            atomic_fetch_add(&d->st_p_out, 1);
            f |= OBS_OUT;
        } else if (c->status == REG_CS_LOST) {
            f |= OBS_OUT; /* nothing to learn from a call Asterisk lost */
        }
    }
    if ((f & OBS_ANS) && !(f & (OBS_CONN | OBS_ABAN)) && c->t_link_ms) {
        int64_t from = c->t_queue_ms ? c->t_queue_ms : c->t_answer_ms;
        dl_pacer_call_connected(k->pacer, now, c->t_link_ms - from);
        atomic_fetch_add(&d->st_p_conn, 1);
        f |= OBS_CONN;
    }
    if ((f & OBS_ANS) && !(f & (OBS_CONN | OBS_ABAN)) && c->status == REG_CS_ABANDONED) {
        dl_pacer_call_abandoned(k->pacer, now);
        atomic_fetch_add(&d->st_p_aban, 1);
        f |= OBS_ABAN;
    }
    if ((f & OBS_CONN) && !(f & OBS_DONE) && c->t_end_ms &&
        (c->status == REG_CS_HANGUP || c->status == REG_CS_SHORTCALL)) {
        int64_t wrap = agent_wrap_ms(d, c);
        dl_pacer_agent_done(k->pacer, now, c->t_end_ms - c->t_link_ms, wrap);
        atomic_fetch_add(&d->st_p_end, 1);
        atomic_fetch_add(&d->st_p_wrap_ms, (uint64_t)wrap);
        f |= OBS_DONE;
    }
    if (f != old || !(f & OBS_SEEN))
        hmap_put(d->obs, c->uniqueid, (void *)(f | OBS_SEEN), NULL);
}
