/*
 * outgoing: an answered campaign call before it is queued.  Dialplan, after AMD() when the
 * campaign uses it: AGI(agi://host:4573/outgoing).  The dialer's Originate sets
 * ID_CAMPAIGN on the channel.  Records the answer time (registry), reads AMDSTATUS: a
 * MACHINE is hung up, or first hears the campaign's machine_message when ccd_campaign_agi
 * says 'message'; anyone else (HUMAN, NOTSURE, no AMD) goes on to the queue (NEXT=queue).
 */
#include <stdio.h>
#include <stdlib.h>

#include "agi/agi_scripts.h"
#include "core/log.h"

enum { ST_START = 0, ST_AMD, ST_CAMPAIGN, ST_SETTINGS, ST_PLAYED, ST_HUNGUP, ST_QUEUED };

static void hang_up(agi__sess_t *s)
{
    s->step = ST_HUNGUP;
    agi__cmd(s, "HANGUP", NULL);
}

void agi__sc_outgoing(agi__sess_t *s, const agi_item_t *ans)
{
    switch (s->step) {
    case ST_START:
        agi__post_fact(s, agi__apply_answered, NULL, 0);
        s->step = ST_AMD;
        agi__cmd(s, "GET VARIABLE", "AMDSTATUS", NULL);
        return;
    case ST_AMD:
        if (s->hungup) {
            agi__end(s);
            return;
        }
        if (!agi__data_is(ans, "MACHINE")) {
            s->step = ST_QUEUED;
            agi__cmd(s, "SET VARIABLE", "NEXT", "queue", NULL);
            return;
        }
        s->step = ST_CAMPAIGN;
        agi__cmd(s, "GET VARIABLE", "ID_CAMPAIGN", NULL);
        return;
    case ST_CAMPAIGN:
        s->step = ST_SETTINGS;
        if (!agi__read_campaign(s, ans))
            hang_up(s); /* no campaign known: the default for machines */
        return;
    case ST_SETTINGS: {
        const db_agi_campaign_t *c = s->job->out;
        if (s->job->job.status == 0 && c->machine_message && c->machine_msg[0] && !s->hungup) {
            s->step = ST_PLAYED;
            agi__cmd(s, "STREAM FILE", c->machine_msg, "", NULL);
            return;
        }
        hang_up(s);
        return;
    }
    case ST_PLAYED:
        hang_up(s);
        return;
    case ST_HUNGUP:
    case ST_QUEUED:
        agi__end(s);
        return;
    }
}
