/*
 * incoming: before Queue() for a caller.  Dialplan: AGI(agi://host:4573/incoming,<queue>).
 * One read (block list, the queue's active incoming campaign, contacts with the caller's
 * number); a blocked caller hears [agi] blocked_message and is hung up; any other caller is
 * posted to the registry as an incoming call of that queue (and campaign) and gets the
 * channel variables the consoles and recordings use, then NEXT=queue.  With the database
 * away the caller is still queued, just without campaign or contact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/agi_scripts.h"
#include "core/log.h"

enum { ST_START = 0, ST_LOOKUP, ST_BLOCKED_PLAYED, ST_HUNGUP, ST_VARS };

typedef struct in_req {
    char callerid[AGI__VAL_LEN];
    char queue[AGI__VAL_LEN];
} in_req_t;

static int run_lookup(db_conn_t *c, db_read_job_t *job)
{
    agi__job_t *j = (agi__job_t *)job;
    const in_req_t *r = j->in;
    return db_agi_incoming(c, r->callerid, r->queue, j->out);
}

/* Asterisk says "unknown" when there is no caller ID. */
static const char *caller(const agi__sess_t *s)
{
    return strcmp(s->callerid, "unknown") == 0 ? "" : s->callerid;
}

static const char *queue_of(const agi__sess_t *s)
{
    return s->nargs >= 1 ? s->args[0] : "";
}

/* The variables, in the order they are sent; v.n[0] campaign, [1] contact, [2] contacts. */
static bool send_var(agi__sess_t *s, int i)
{
    char num[32], rec[2 * AGI__VAL_LEN + 4];
    switch (i) {
    case 0: return agi__cmd(s, "SET VARIABLE", "CCD_CALLTYPE", "incoming", NULL);
    case 1: return agi__cmd(s, "SET VARIABLE", "CCD_QUEUE", queue_of(s), NULL);
    case 2:
        snprintf(num, sizeof(num), "%lld", s->v.n[0]);
        return agi__cmd(s, "SET VARIABLE", "CCD_CAMPAIGN_ID", s->v.n[0] ? num : "", NULL);
    case 3:
        snprintf(num, sizeof(num), "%lld", s->v.n[1]);
        return agi__cmd(s, "SET VARIABLE", "CCD_CONTACT_ID", s->v.n[1] ? num : "", NULL);
    case 4:
        snprintf(num, sizeof(num), "%lld", s->v.n[2]);
        return agi__cmd(s, "SET VARIABLE", "CCD_CONTACT_COUNT", num, NULL);
    case 5:
        /* the name MixMonitor records under, so the recording can be tied to the call */
        snprintf(rec, sizeof(rec), "q%s-%s", queue_of(s), s->uniqueid);
        return agi__cmd(s, "SET VARIABLE", "CCD_RECORDING", rec, NULL);
    case 6: return agi__cmd(s, "SET VARIABLE", "NEXT", "queue", NULL);
    default: return false;
    }
}

static void start_queueing(agi__sess_t *s)
{
    agi__post_fact(s, agi__apply_incoming, queue_of(s), s->v.n[0]);
    s->step = ST_VARS;
    s->set_i = 1;
    send_var(s, 0);
}

void agi__sc_incoming(agi__sess_t *s, const agi_item_t *ans)
{
    switch (s->step) {
    case ST_START: {
        in_req_t *r = calloc(1, sizeof(*r));
        if (r) {
            snprintf(r->callerid, sizeof(r->callerid), "%s", caller(s));
            snprintf(r->queue, sizeof(r->queue), "%s", queue_of(s));
        }
        s->step = ST_LOOKUP;
        if (!r || !agi__read(s, run_lookup, r, sizeof(db_agi_incoming_t), NULL))
            start_queueing(s); /* nothing known about the caller; queued all the same */
        return;
    }
    case ST_LOOKUP: {
        const db_agi_incoming_t *res = s->job ? s->job->out : NULL;
        if (s->hungup) { /* gone before it was queued: nothing to tie or count */
            agi__end(s);
            return;
        }
        if (!res || s->job->job.status != 0) {
            LOG_WARN_RL(AGI__MOD, "incoming %s: lookup failed; queued without campaign or contact",
                        s->uniqueid);
            start_queueing(s);
            return;
        }
        if (res->blocked) {
            LOG_INFO_RL(AGI__MOD, "incoming %s: caller %s is on the block list", s->uniqueid,
                        s->callerid);
            s->step = ST_BLOCKED_PLAYED;
            agi__cmd(s, "STREAM FILE", agi__cfg(s)->blocked_message, "", NULL);
            return;
        }
        s->v.n[0] = res->campaign_id;
        s->v.n[1] = res->contact_id;
        s->v.n[2] = res->ncontacts;
        start_queueing(s);
        return;
    }
    case ST_BLOCKED_PLAYED:
        s->step = ST_HUNGUP;
        agi__cmd(s, "HANGUP", NULL);
        return;
    case ST_HUNGUP:
        agi__end(s);
        return;
    case ST_VARS:
        (void)ans;
        if (s->hungup || !send_var(s, s->set_i++))
            agi__end(s);
        return;
    }
}
