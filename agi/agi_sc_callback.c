/*
 * callback: the caller presses 1 to be called back.  Dialplan: AGI(agi://host:4573/callback)
 * on a campaign call (the dialer's Originate sets ID_CALL, the calls.id).  GET DATA plays
 * [agi] callback_prompt and takes one digit; on "1" the call is scheduled again (the checks
 * schedulecall makes, as a read job, then a DB_W_CALL_SCHEDULE write through the writer) and
 * the caller hears callback_done, or callback_failed when it could not be.  Any other key or
 * none: nothing is scheduled and the dialplan goes on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/agi_scripts.h"
#include "core/err.h"
#include "core/log.h"

#define DIGIT_TIMEOUT_MS "5000"

enum { ST_START = 0, ST_DIGIT, ST_CALLID, ST_PREPARED, ST_PLAYED };

typedef struct sched_req {
    long long call_id;
} sched_req_t;

typedef struct sched_out {
    db_schedule_result_e result;
    db_write_t *w;
} sched_out_t;

static void sched_out_free(void *p)
{
    sched_out_t *o = p;
    if (o->w)
        o->w->msg.free(&o->w->msg);
    free(o);
}

static int run_prepare(db_conn_t *c, db_read_job_t *job)
{
    agi__job_t *j = (agi__job_t *)job;
    sched_out_t *o = j->out;
    db_schedule_req_t req;
    memset(&req, 0, sizeof(req));
    req.call_id = ((sched_req_t *)j->in)->call_id;
    req.agent = "callback";
    return db_call_schedule_prepare(c, &req, &o->result, &o->w);
}

static void say(agi__sess_t *s, bool ok)
{
    s->step = ST_PLAYED;
    agi__cmd(s, "STREAM FILE", ok ? agi__cfg(s)->callback_done : agi__cfg(s)->callback_failed, "",
             NULL);
}

void agi__sc_callback(agi__sess_t *s, const agi_item_t *ans)
{
    char val[AGI__VAL_LEN];
    switch (s->step) {
    case ST_START:
        s->step = ST_DIGIT;
        agi__cmd(s, "GET DATA", agi__cfg(s)->callback_prompt, DIGIT_TIMEOUT_MS, "1", NULL);
        return;
    case ST_DIGIT:
        if (s->hungup || ans->code != 200 || !ccd_str_eq(ans->result_text, ccd_str("1"))) {
            agi__end(s);
            return;
        }
        s->step = ST_CALLID;
        agi__cmd(s, "GET VARIABLE", "ID_CALL", NULL);
        return;
    case ST_CALLID: {
        agi__data_copy(ans, val, sizeof(val));
        long long id = agi__id_of(val);
        sched_req_t *r = id ? calloc(1, sizeof(*r)) : NULL;
        if (!r) {
            LOG_WARN_RL(AGI__MOD, "callback %s: no ID_CALL on the channel", s->uniqueid);
            say(s, false);
            return;
        }
        r->call_id = id;
        s->v.n[0] = id;
        s->step = ST_PREPARED;
        if (!agi__read(s, run_prepare, r, sizeof(sched_out_t), sched_out_free))
            say(s, false);
        return;
    }
    case ST_PREPARED: {
        sched_out_t *o = s->job->out;
        bool ok = false;
        if (s->job->job.status == 0 && o->result == DB_SCHED_OK && o->w) {
            int rc = db_write_submit(agi__db(s), o->w);
            if (rc == 0) {
                o->w = NULL; /* the writer owns it */
                ok = true;
                LOG_INFO_RL(AGI__MOD, "callback %s: call %lld scheduled again", s->uniqueid,
                            s->v.n[0]);
            } else {
                agi__count_db_refused(s);
                LOG_WARN_RL(AGI__MOD, "callback %s: write refused (%d)", s->uniqueid, rc);
            }
        } else {
            LOG_WARN_RL(AGI__MOD, "callback %s: not scheduled (status %d, result %d)", s->uniqueid,
                        s->job->job.status, (int)o->result);
        }
        if (s->hungup) {
            agi__end(s);
            return;
        }
        say(s, ok);
        return;
    }
    case ST_PLAYED:
        agi__end(s);
        return;
    }
}
