/*
 * Hold and transfer flows of a queue call, as recorded: Park (and retrieval,
 * give-up, timeout), Redirect (hold, transfer-target), the Bridge action,
 * BlindTransfer and the attended transfer (Atxfer).  Server thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/pbxsim/flow_int.h"

/* ---------------- Redirect / Park (simplified) ---------------- */


/* An 18XX transfer target is busy: Dial returns BUSY and the dialplan hangs the customer
 * up (the transfer context's next step), which ends the call. */
static void xfer_busy(pbx_t *s, pcall_t *c, uint64_t arg)
{
    (void)arg;
    if (!c->a || !c->t1 || !c->detached)
        return;
    pbx_e_dial(s, "DialEnd", c->a, c->t1, "DialStatus", "BUSY");
    pbx_detached_end(s, c, false);
}

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
    pbx_set_cid_pair(t1, t2, c->cid_num, c->cid_name, true);
    pbx_e_localbridge(s, t1, t2);
    char ds[64];
    snprintf(ds, sizeof ds, "Local/%.40s@phones", exten);
    pbx_e_dial(s, "DialBegin", c->a, t1, "DialString", ds);
    if (strncmp(exten, "19", 2) == 0) {
        pbx_e_newstate(s, t1, 5); /* rings; the customer stays until it hangs up */
        return;
    }
    if (strncmp(exten, "18", 2) == 0) {
        pbx_timer_add(s, 200, xfer_busy, c, 0);
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
void pbx_detached_end(pbx_t *s, pcall_t *c, bool far_end)
{
    if (far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    if (!c->masq && !c->complete_sent && c->member && c->queue) {
        pbx_agent_complete(s, c, true, false, "caller");
        c->member->calls_taken++;
        c->member->last_call = pbx_wall_s(s);
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
    pbx_unref_call_bridges(s, c);
    pbx_drop_chan(s, c, &c->t1);
    pbx_drop_chan(s, c, &c->t2);
    pbx_drop_chan(s, c, &c->t3);
    pbx_drop_chan(s, c, &c->t4);
    pbx_drop_chan(s, c, &c->a);
    pbx_drop_chan(s, c, &c->b);
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
        pbx_drop_member_side(s, c);
        c->detached = true;
        pbx_kick_all(s);
    } else if (c && c->queue && !c->detached && !c->parked && ch == c->a) {
        pbx_e_moh(s, c->a, false);
        if (c->ringing && c->m1) {
            pbx_drop_member_legs(s, c, true);
            c->ringing = false;
            pbx_release_member(s, c, true);
        }
        pbx_caller_leave_event(s, c, "QueueCallerLeave");
        pbx_queue_remove_caller(c->queue, c);
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
            pbx_queue_join(s, c, q);
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
    pbx_agent_complete(s, c, true, true, "transfer");
    c->complete_sent = true;
    if (c->member) {
        c->member->calls_taken++;
        c->member->last_call = pbx_wall_s(s);
    }
    pbx_bridge_take(s, c->a);
    pbx_drop_member_side(s, c);
    c->detached = true;
    snprintf(c->a->context, sizeof c->a->context, "%s", ctx);
    snprintf(c->a->exten, sizeof c->a->exten, "%s", exten);
    c->a->prio = 1;
    if (strcmp(ctx, "transfer-target") == 0)
        xfer_dial(s, c, exten);
    pbx_kick_all(s);
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
void pbx_drop_member_side(pbx_t *s, pcall_t *c)
{
    pbx_bridge_take(s, c->m1);
    pbx_e_hangup_req(s, "HangupRequest", c->m2, 16);
    pbx_e_hangup(s, c->m1, 16);
    pbx_bridge_take(s, c->m2);
    pbx_e_hangup_req(s, "SoftHangupRequest", c->m2, 16);
    pbx_e_hangup(s, c->m2, 16);
    pbx_agent_back_to_hold(s, c, true);
    pbx_drop_chan(s, c, &c->m1);
    pbx_drop_chan(s, c, &c->m2);
    pbx_unref_call_bridges(s, c);
    c->connected = false;
    pmember_t *m = c->member;
    if (m) {
        if (m->agent && m->agent->busy_call == c)
            m->agent->busy_call = NULL;
        if (m->busy == c)
            m->busy = NULL;
        if (m->agent)
            pbx_member_status_all(s, m->agent, NULL);
        else
            pbx_member_status_all(s, NULL, m);
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
        pbx_drop_member_side(s, c);
    c->park_gen++;
    pbx_timer_add(s, c->park_timeout_ms, park_timeout, c, c->park_gen);
    pbx_kick_all(s);
    *space = c->park_space;
    return 0;
}

/* The customer hangs up while parked. */
void pbx_park_giveup(pbx_t *s, pcall_t *c, bool far_end)
{
    if (far_end && c->b) {
        pbx_e_hangup_req(s, "SoftHangupRequest", c->b, 16);
        pbx_e_hangup_req(s, "HangupRequest", c->a, 16);
        pbx_e_hangup(s, c->b, 16);
    }
    if (c->member && c->queue) {
        pbx_agent_complete(s, c, true, false, "caller");
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
        c->member->last_call = pbx_wall_s(s);
    }
    c->member = NULL;
    pbx_drop_chan(s, c, &c->a);
    pbx_drop_chan(s, c, &c->b);
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
        pbx_set_cid_pair(r1, r2, c->cid_num, c->cid_name, true);
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
    pbx_member_status_all(s, ag, NULL);
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
        pbx_orig_response(s, orig, true, 4);
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
        pbx_park_giveup(s, c, false);
}

/* Originate Local/<agent>@agents into parkedcalls,<space>: the Issabel way to take a call back. */
void pbx_park_retrieve(pbx_t *s, pcall_t *orig)
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
        pbx_orig_fail(s, orig, OUT_UNALLOC);
        return;
    }
    c->retrieving = orig;
    if (!agent_request(s, c, ag, NULL, orig)) {
        c->retrieving = NULL;
        pbx_orig_fail(s, orig, OUT_UNALLOC);
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
    pbx_set_cid_pair(x1, x2, c->cid_num, c->cid_name, true);
    pbx_e_localbridge(s, x1, x2);
    if (pbx_local_pair(s, c->atx_exten, "phones", "", "", x1->linkedid, c, &p1, &p2) != 0)
        return;
    c->t3 = p1;
    c->t4 = p2;
    pbx_e_newchannel(s, p1);
    pbx_e_newchannel(s, p2);
    pbx_set_cid_pair(p1, p2, c->cid_num, c->cid_name, true);
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
void pbx_atx_complete(pbx_t *s, pcall_t *c)
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
    pbx_agent_complete(s, c, true, true, "transfer");
    c->complete_sent = true;
    if (c->member) {
        c->member->calls_taken++;
        c->member->last_call = pbx_wall_s(s);
    }
    pbridge_t *bx = c->br_x;
    c->br_x = NULL;
    pbx_bridge_unref(s, bx);
    /* the member side goes; the customer stays bridged with the target */
    pbridge_t *keep = c->br_call;
    c->br_call = NULL;
    pbx_drop_member_side(s, c);
    c->br_call = keep;
    c->detached = true;
    c->atx_ready = false;
    pbx_kick_all(s);
}
