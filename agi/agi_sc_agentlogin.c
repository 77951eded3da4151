/*
 * agentlogin: an agent logs in from its phone, the dialplan's way to do ECCP's loginagent.
 * Dialplan: AGI(agi://host:4573/agentlogin), then AgentLogin(${CCD_AGENT},s) when
 * CCD_AGENTLOGIN is "ok".  GET DATA reads the agent number, then the PIN; a read job checks
 * the PIN against agent.password of the active Agent/<number> row; the login itself goes
 * through the agent service with this channel (AGS_LOGIN, ags_req_t.channel: no Originate,
 * the agent's own call runs AgentLogin next), so the registry shows the agent logging in
 * and the service watches the login like ECCP's.  The outcome is CCD_AGENTLOGIN on the
 * channel: ok, badpin, unknown (no such active agent), failed (no digits, no database, the
 * service refused); nobody is logged in on anything but ok.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agi/agi_scripts.h"
#include "core/log.h"

#define DIGITS_TIMEOUT_MS "5000"
#define DIGITS_MAX "10"

enum { ST_START = 0, ST_NUMBER, ST_PIN, ST_CHECKED, ST_LOGIN, ST_AGENT, ST_RESULT };

typedef struct pin_req {
    char number[AGI__VAL_LEN];
    char pin[AGI__VAL_LEN];
} pin_req_t;

static int run_check(db_conn_t *c, db_read_job_t *job)
{
    agi__job_t *j = (agi__job_t *)job;
    const pin_req_t *r = j->in;
    return db_agi_agent_pin(c, r->number, r->pin, j->out);
}

/* The dialplan is told the outcome; the session ends after this answer. */
static void result(agi__sess_t *s, const char *what)
{
    s->step = ST_RESULT;
    agi__cmd(s, "SET VARIABLE", "CCD_AGENTLOGIN", what, NULL);
}

static void refuse(agi__sess_t *s, const char *what, const char *why)
{
    LOG_INFO_RL(AGI__MOD, "agentlogin on %s: %s (%s)", s->channel[0] ? s->channel : "?", what,
                why);
    result(s, what);
}

/* GET DATA's digits (1..outsz-1 of 0-9); false on a timeout, a hangup or anything else. */
static bool digits_of(const agi_item_t *ans, char *out, size_t outsz)
{
    if (!ans || ans->code != 200 || ans->result_text.len == 0 || ans->result_text.len >= outsz)
        return false;
    for (size_t i = 0; i < ans->result_text.len; i++)
        if (ans->result_text.p[i] < '0' || ans->result_text.p[i] > '9')
            return false;
    ccd_str_copy(out, outsz, ans->result_text);
    return true;
}

static void checked(agi__sess_t *s)
{
    const db_agi_pin_e *pin = s->job->out;
    if (s->job->job.status != 0) {
        refuse(s, "failed", "the database could not check the PIN");
        return;
    }
    if (*pin == DB_AGI_PIN_UNKNOWN) {
        refuse(s, "unknown", "no active agent with this number");
        return;
    }
    if (*pin != DB_AGI_PIN_OK) {
        refuse(s, "badpin", "wrong PIN");
        return;
    }
    ags_req_t req;
    memset(&req, 0, sizeof(req));
    req.op = AGS_LOGIN;
    snprintf(req.agent, sizeof(req.agent), "Agent/%.*s", (int)(sizeof(req.agent) - 7),
             s->v.text[0]);
    /* the extension consoles show: the phone's caller ID number, as an ECCP login names it */
    snprintf(req.arg, sizeof(req.arg), "%.*s", (int)(sizeof(req.arg) - 1), s->callerid);
    snprintf(req.channel, sizeof(req.channel), "%.*s", (int)(sizeof(req.channel) - 1),
             s->channel);
    s->step = ST_LOGIN;
    if (!agi__ags_submit(s, &req))
        refuse(s, "failed", "the agent service did not take the login");
}

static void logged(agi__sess_t *s)
{
    const ags_done_t *d = s->done;
    if (d->code != 0) {
        char why[240];
        snprintf(why, sizeof(why), "the agent service answered %d %s", d->code, d->why);
        refuse(s, "failed", why);
        return;
    }
    LOG_INFO(AGI__MOD, "agentlogin on %s: Agent/%s logging in", s->channel, s->v.text[0]);
    s->step = ST_AGENT;
    agi__cmd(s, "SET VARIABLE", "CCD_AGENT", s->v.text[0], NULL);
}

void agi__sc_agentlogin(agi__sess_t *s, const agi_item_t *ans)
{
    /* A hung-up agent is never logged in; a login already out is left to the service, which
     * ends it when AgentLogin does not follow (its login_timeout). */
    if (s->hungup && s->step != ST_RESULT) {
        agi__end(s);
        return;
    }
    switch (s->step) {
    case ST_START:
        s->step = ST_NUMBER;
        agi__cmd(s, "GET DATA", agi__cfg(s)->agentlogin_number, DIGITS_TIMEOUT_MS, DIGITS_MAX,
                 NULL);
        return;
    case ST_NUMBER:
        if (!digits_of(ans, s->v.text[0], sizeof(s->v.text[0]))) {
            refuse(s, "failed", "no agent number");
            return;
        }
        s->step = ST_PIN;
        agi__cmd(s, "GET DATA", agi__cfg(s)->agentlogin_pin, DIGITS_TIMEOUT_MS, DIGITS_MAX,
                 NULL);
        return;
    case ST_PIN: {
        pin_req_t *r = calloc(1, sizeof(*r));
        if (!r) {
            refuse(s, "failed", "out of memory");
            return;
        }
        if (!digits_of(ans, r->pin, sizeof(r->pin))) {
            free(r);
            refuse(s, "badpin", "no PIN");
            return;
        }
        snprintf(r->number, sizeof(r->number), "%s", s->v.text[0]);
        s->step = ST_CHECKED;
        if (!agi__read(s, run_check, r, sizeof(db_agi_pin_e), NULL))
            refuse(s, "failed", "the database did not take the PIN check");
        return;
    }
    case ST_CHECKED:
        checked(s);
        return;
    case ST_LOGIN:
        logged(s);
        return;
    case ST_AGENT:
        result(s, "ok");
        return;
    case ST_RESULT:
        agi__end(s);
        return;
    }
}
