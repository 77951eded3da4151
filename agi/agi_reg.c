/*
 * What the scripts tell the registry.  These run on the registry thread (reg_post); the
 * call journal turns the changes into history, so no script writes a call row itself.
 */
#include <stdio.h>
#include <string.h>

#include "agi/agi_scripts.h"
#include "core/clock.h"

static bool is_final(reg_call_status_e st)
{
    return st == REG_CS_FAILURE || st == REG_CS_NOANSWER || st == REG_CS_ABANDONED ||
           st == REG_CS_SHORTCALL || st == REG_CS_HANGUP || st == REG_CS_LOST;
}

void agi__apply_answered(reg_txn_t *tx, void *arg)
{
    agi__reg_fact_t *f = arg;
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, f->uniqueid);
    if (!c || is_final(c->status) || c->t_answer_ms)
        return;
    c->t_answer_ms = f->at_ms;
    reg_txn_call_touch(tx, c);
}

void agi__apply_abandoned(reg_txn_t *tx, void *arg)
{
    agi__reg_fact_t *f = arg;
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, f->uniqueid);
    /* a call that reached an agent meanwhile was not abandoned, whatever the dialplan ran */
    if (!c || is_final(c->status) || c->status == REG_CS_SUCCESS || c->status == REG_CS_ONHOLD)
        return;
    c->status = REG_CS_ABANDONED;
    if (!c->t_end_ms)
        c->t_end_ms = f->at_ms;
    reg_txn_call_touch(tx, c);
}

void agi__apply_incoming(reg_txn_t *tx, void *arg)
{
    agi__reg_fact_t *f = arg;
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, f->uniqueid);
    if (!c) {
        c = reg_txn_call_new(tx);
        if (!c)
            return;
        c->type = REG_CALL_INCOMING;
        c->status = REG_CS_ONQUEUE;
        c->t_queue_ms = f->at_ms;
        reg_txn_call_set_uniqueid(tx, c, f->uniqueid);
    }
    if (c->type != REG_CALL_INCOMING)
        return;
    snprintf(c->channel, sizeof(c->channel), "%s", f->channel);
    snprintf(c->phone, sizeof(c->phone), "%s", f->phone);
    snprintf(c->queue, sizeof(c->queue), "%s", f->queue);
    if (f->campaign_id)
        c->campaign_id = f->campaign_id;
    reg_txn_call_touch(tx, c);
}
