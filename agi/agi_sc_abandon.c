/*
 * abandon: no agent took an answered call within the legal time.  Dialplan (the queue's
 * timeout branch): AGI(agi://host:4573/abandon).  The call is counted abandoned first (a
 * registry change; the call journal writes the history), then the caller hears the
 * campaign's abandon_message (ccd_campaign_agi, else [agi] abandon_message) and is hung up.
 */
#include <stdio.h>
#include <stdlib.h>

#include "agi/agi_scripts.h"

enum { ST_START = 0, ST_CAMPAIGN, ST_SETTINGS, ST_PLAYED, ST_HUNGUP };

static void play(agi__sess_t *s, const char *msg)
{
    if (s->hungup) {
        agi__end(s);
        return;
    }
    s->step = ST_PLAYED;
    agi__cmd(s, "STREAM FILE", msg[0] ? msg : agi__cfg(s)->abandon_message, "", NULL);
}

void agi__sc_abandon(agi__sess_t *s, const agi_item_t *ans)
{
    switch (s->step) {
    case ST_START:
        agi__post_fact(s, agi__apply_abandoned, NULL, 0);
        s->step = ST_CAMPAIGN;
        agi__cmd(s, "GET VARIABLE", "ID_CAMPAIGN", NULL);
        return;
    case ST_CAMPAIGN:
        s->step = ST_SETTINGS;
        if (!agi__read_campaign(s, ans))
            play(s, "");
        return;
    case ST_SETTINGS: {
        const db_agi_campaign_t *c = s->job->out;
        play(s, s->job->job.status == 0 ? c->abandon_msg : "");
        return;
    }
    case ST_PLAYED:
        s->step = ST_HUNGUP;
        agi__cmd(s, "HANGUP", NULL);
        return;
    case ST_HUNGUP:
        agi__end(s);
        return;
    }
}
