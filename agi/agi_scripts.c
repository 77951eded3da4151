/*
 * The script table: agi_network_script selects one by name.  Adding a script is one row
 * here and one step function in its own file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/agi_scripts.h"
#include "core/clock.h"

const agi__script_t agi__scripts[] = {
    {"incoming", agi__sc_incoming},
    {"outgoing", agi__sc_outgoing},
    {"abandon", agi__sc_abandon},
    {"callback", agi__sc_callback},
    {"agentlogin", agi__sc_agentlogin},
};
const size_t agi__nscripts = sizeof(agi__scripts) / sizeof(agi__scripts[0]);

bool agi__post_fact(agi__sess_t *s, reg_apply_fn apply, const char *queue, int64_t campaign_id)
{
    agi__reg_fact_t *f = calloc(1, sizeof(*f));
    if (!f)
        return false;
    /* cut to the registry's field sizes */
    snprintf(f->uniqueid, sizeof(f->uniqueid), "%.*s", REG_UID_LEN - 1, s->uniqueid);
    snprintf(f->channel, sizeof(f->channel), "%.*s", REG_CHAN_LEN - 1, s->channel);
    snprintf(f->phone, sizeof(f->phone), "%.*s", REG_PHONE_LEN - 1, s->callerid);
    snprintf(f->queue, sizeof(f->queue), "%.*s", REG_ID_LEN - 1, queue ? queue : "");
    f->campaign_id = campaign_id;
    f->at_ms = clk_wall_ms();
    return agi__post(s, apply, f);
}

long long agi__id_of(const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    return (end != text && *end == '\0' && v > 0) ? v : 0;
}

typedef struct camp_req {
    uint32_t id;
} camp_req_t;

static int run_campaign(db_conn_t *c, db_read_job_t *job)
{
    agi__job_t *j = (agi__job_t *)job;
    return db_agi_campaign(c, ((camp_req_t *)j->in)->id, j->out);
}

bool agi__read_campaign(agi__sess_t *s, const agi_item_t *ans)
{
    char val[AGI__VAL_LEN];
    agi__data_copy(ans, val, sizeof(val));
    long long id = agi__id_of(val);
    camp_req_t *r = id ? calloc(1, sizeof(*r)) : NULL;
    if (!r)
        return false;
    r->id = (uint32_t)id;
    return agi__read(s, run_campaign, r, sizeof(db_agi_campaign_t), NULL);
}
