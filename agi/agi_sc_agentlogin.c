/*
 * agentlogin: an agent logs in from the phone (agent number and PIN) through the agent
 * service ECCP uses.  That service (ccd_agent, issue 11) reached main at the cut-off time this
 * script had for it, so it is not called yet: the script answers a clear refusal: CCD_AGENTLOGIN=unavailable on the channel (the dialplan can say
 * so) and a log line, and the dialplan goes on.  It never half-logs an agent in.
 */
#include "agi/agi_scripts.h"
#include "core/log.h"

enum { ST_START = 0, ST_SET };

void agi__sc_agentlogin(agi__sess_t *s, const agi_item_t *ans)
{
    (void)ans;
    switch (s->step) {
    case ST_START:
        LOG_WARN_RL(AGI__MOD, "agentlogin from %s refused: the agent service is not built in",
                    s->channel);
        s->step = ST_SET;
        agi__cmd(s, "SET VARIABLE", "CCD_AGENTLOGIN", "unavailable", NULL);
        return;
    case ST_SET:
        agi__end(s);
        return;
    }
}
