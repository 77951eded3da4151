/*
 * What the agent service changes in the registry.  Each change is an apply
 * function run on the registry thread (reg_post), so it is applied in order
 * with the AMI events: the service posts a state before it sends the action
 * whose events would otherwise be read differently (a break is set before
 * its QueuePause goes out, so the QueueMemberPause that follows is seen as
 * the engine's pause and not one set on the phone system).
 */
#include "agent/ags_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"

/* The customer came back from the parking space through a new leg of the agent's
 * (retriever): hangup and Atxfer act on it from now on; a Local retriever's ;2 is the
 * leg whose hangup Asterisk reports as the agent's (as ami_reg.c does for members). */
static void set_agent_legs(reg_call_t *c, const char *leg)
{
    snprintf(c->agent_channel, sizeof(c->agent_channel), "%s", leg);
    snprintf(c->agent_hangup_channel, sizeof(c->agent_hangup_channel), "%s", leg);
    size_t n = strlen(c->agent_hangup_channel);
    if (strncasecmp(leg, "Local/", 6) == 0 && n > 2 &&
        strcmp(c->agent_hangup_channel + n - 2, ";1") == 0)
        c->agent_hangup_channel[n - 1] = '2';
}

void ags__reg_apply(reg_txn_t *tx, void *arg)
{
    const ags_regset_t *rs = arg;
    reg_agent_t *a = reg_txn_agent(tx, rs->number, false);
    if (!a)
        return;
    reg_call_t *c = rs->call_id ? reg_txn_call(tx, rs->call_id) : NULL;
    switch (rs->kind) {
    case AGS_RS_LOGGING:
        if (a->login != REG_LOGGED_OUT)
            return;
        a->login = REG_LOGGING;
        a->server = rs->server;
        snprintf(a->extension, sizeof(a->extension), "%s", rs->extension);
        if (rs->channel[0])
            snprintf(a->channel, sizeof(a->channel), "%s", rs->channel);
        break;
    case AGS_RS_LOGIN_FAILED:
        if (a->login != REG_LOGGING)
            return;
        reg_agent_set_logged_out(a);
        break;
    case AGS_RS_LOGGED_IN:
        if (a->login != REG_LOGGING)
            return;
        a->login = REG_LOGGED_IN;
        a->login_time_ms = clk_wall_ms();
        break;
    case AGS_RS_BREAK:
        if (a->login != REG_LOGGED_IN)
            return;
        a->break_id = rs->break_id;
        snprintf(a->break_name, sizeof(a->break_name), "%s", rs->break_name);
        a->break_start_ms = clk_wall_ms();
        break;
    case AGS_RS_BREAK_END:
        if (a->break_id == 0 || (rs->break_id && a->break_id != rs->break_id))
            return;
        a->break_id = 0;
        a->break_name[0] = 0;
        a->break_start_ms = 0;
        break;
    case AGS_RS_HOLD:
        if (a->login != REG_LOGGED_IN || a->on_hold)
            return;
        a->on_hold = true;
        a->hold_start_ms = clk_wall_ms();
        if (c && c->status == REG_CS_SUCCESS) {
            c->status = REG_CS_ONHOLD;
            reg_txn_call_touch(tx, c);
        }
        break;
    case AGS_RS_HOLD_END:
        if (!a->on_hold)
            return;
        a->on_hold = false;
        a->hold_start_ms = 0;
        if (c && c->status == REG_CS_ONHOLD) {
            c->status = REG_CS_SUCCESS;
            if (rs->channel[0])
                set_agent_legs(c, rs->channel);
            reg_txn_call_touch(tx, c);
        }
        break;
    case AGS_RS_UNLINK:
        if (a->call_id != rs->call_id)
            return;
        a->call_id = 0;
        break;
    default:
        return;
    }
    reg_txn_agent_touch(tx, a);
}

int ags__reg_set(ags_t *s, const ags_regset_t *rs)
{
    ags_regset_t *copy = malloc(sizeof(*copy));
    if (!copy) {
        LOG_ERR(AGS_MOD, "registry change for %s lost: out of memory", rs->number);
        return -1;
    }
    *copy = *rs;
    return ags__post(s, ags__reg_apply, copy, "an agent change");
}
