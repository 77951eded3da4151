/*
 * getextensionstatus, which asks Asterisk about a peer (Command) without a
 * call, and the record of a transfer's target in the database (the agent
 * service carries the transfers out: eccp_agent.c).
 *
 * The AMI side (building the action, reading Asterisk's CLI output) is ami/'s
 * typed operations (ami_op_*).  The action is sent with ami_send() and its
 * single ami_response_t comes back on the worker's mq (opts.user points at
 * the eccp_amiop_t below), so the worker never waits for Asterisk.  The
 * session stays allocated while an action points at it (pending count).
 *
 * Worker thread only.
 */
#include "eccp/eccp_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami/ami.h"
#include "core/err.h"
#include "core/log.h"
#include "eccp/eccp_dbreq.h"

#define MOD "eccp"

struct eccp_amiop {
    eccp_sess_t *s;
    const eccp_reqdef_t *def;
    char id[ECCP_ID_MAX];
    eccp_amiop_kind_e kind;
    char agent[REG_ID_LEN];
    char chan[REG_CHAN_LEN];
    char ext[ECCP_EXT_MAX];
    bool incoming;
    int64_t campaign_id, call_db_id;
    char uniqueid[REG_UID_LEN]; /* customer leg: the key of a call_entry update */
    ami_peer_tech_e tech;       /* getextensionstatus */
};

bool eccp__ami_available(eccp_worker_t *w)
{
    return w->srv->deps.ami != NULL;
}

/* Sends a (always consumed) for op (freed here on failure); answers 500 when it cannot. */
static void send_op(eccp_call_t *c, eccp_amiop_t *op, eccp_amiop_kind_e kind, int server,
                    ami_action_t *a)
{
    eccp_worker_t *w = c->w;
    op->s = c->s;
    op->def = c->def;
    snprintf(op->id, sizeof(op->id), "%s", c->id);
    op->kind = kind;
    ami_send_opts_t o = {.reply_mq = w->mq, .user = (uint64_t)(uintptr_t)op};
    int rc = ami_send(w->srv->deps.ami, server, a, &o, NULL);
    if (rc != 0) {
        LOG_WARN_RL(MOD, "%s for %s: AMI server %d not reachable (%s)", c->def->name,
                 op->agent[0] ? op->agent : op->ext, server, ccd_strerror(rc));
        free(op);
        eccp__failure(c, 500, "No AMI connection");
        return;
    }
    c->s->pending++;
    w->jobs_out++;
}

/* ---------------- getextensionstatus ---------------- */

static bool word_chars(const char *p)
{
    if (!*p)
        return false;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

bool eccp__ext_valid(const char *ext)
{
    ami_peer_tech_e tech;
    const char *peer;
    return strlen(ext) < ECCP_EXT_MAX && ami_peer_parse(ext, &tech, &peer) == 0 && word_chars(peer);
}

void eccp__ami_extstatus(eccp_call_t *c, const char *ext)
{
    eccp_amiop_t *op = calloc(1, sizeof(*op));
    ami_peer_tech_e tech = AMI_PEER_SIP;
    const char *peer = NULL;
    ami_action_t *a = op && ami_peer_parse(ext, &tech, &peer) == 0 ? ami_op_peer_status(tech, peer)
                                                                   : NULL;
    if (!op || !a) {
        free(op);
        ami_action_free(a);
        eccp__failure(c, 500, "Internal server error");
        return;
    }
    op->tech = tech;
    snprintf(op->ext, sizeof(op->ext), "%s", ext);
    /* Issabel has one Asterisk; with several, peers are looked up on the first. */
    send_op(c, op, ECCP_AMI_EXTSTATUS, 0, a);
}

/*
 * Recording the transfer target (calls/call_entry.transfer) of a transfer
 * Asterisk accepted.  The request id gets its one response (success) from the
 * caller right after, so this job must never answer, whatever happens to it.  It is tied to a stand-in session that
 * is closed from birth (fd -1): the worker's job completion and submit-refusal
 * paths write only to open sessions, so every outcome is silent, and the
 * stand-in is freed when the job returns like any closed session.  The outcome
 * is logged once, from the job's extra_free, which runs exactly once on every
 * path (written, SQL error, no connection, queue refused, shutdown); it must not
 * touch j->s, which may be gone by then.
 *
 * This path is used only without deps.db (tests without a database): it is
 * not durable, a database outage loses the write (logged).  With deps.db the
 * record goes through the db writer instead (record_transfer_durable below).
 */
typedef struct xfer_rec {
    long long call;
    bool incoming;
    char ext[64];
    bool ran, written;
    char why[128]; /* the server's error, copied on the DB thread */
} xfer_rec_t;

static int sql_transfer(db_conn_t *db, eccp_job_t *j)
{
    xfer_rec_t *x = j->extra;
    x->ran = true;
    if (db_call_set_transfer(db, x->incoming, x->call, x->ext) != 0) {
        snprintf(x->why, sizeof(x->why), "%s", db_conn_error(db));
        return CCD_EIO;
    }
    x->written = true;
    return 0;
}

static void xfer_rec_free(void *p)
{
    xfer_rec_t *x = p;
    if (!x->written)
        LOG_ERR_RL(MOD, "transfer not recorded in the database: %s type=%s call_id=%lld extension=%s",
                x->ran ? x->why : "database unreachable or its queue full",
                x->incoming ? "incoming" : "outgoing", x->call, x->ext);
    free(x);
}

static void record_transfer(eccp_worker_t *w, const eccp_amiop_t *op)
{
    eccp_sess_t *standin = calloc(1, sizeof(*standin));
    xfer_rec_t *x = calloc(1, sizeof(*x));
    if (!standin || !x) {
        free(standin);
        free(x);
        LOG_ERR_RL(MOD, "transfer not recorded: out of memory call_id=%lld extension=%s",
                (long long)op->call_db_id, op->ext);
        return;
    }
    standin->fd = -1;
    x->call = op->call_db_id;
    x->incoming = op->incoming;
    snprintf(x->ext, sizeof(x->ext), "%s", op->ext);
    eccp_call_t c = {.w = w, .s = standin, .def = op->def, .id = op->id, .cmd = NULL};
    eccp_job_t *j = eccp__job_new(&c, sql_transfer, NULL);
    if (!j) {
        free(standin);
        xfer_rec_free(x);
        return;
    }
    j->extra = x;
    j->extra_free = xfer_rec_free;
    eccp__job_submit(w, j); /* on refusal the job (and x) is freed, logged by x */
    if (standin->pending == 0)
        free(standin); /* refused: no job points at it */
}

/*
 * The durable record: one write for the db writer, force-submitted because the
 * call is already transferred (the writer's bound is for new calls; a write
 * about a placed call must not be refused).  The writer keeps it until it has
 * committed, through outages and reconnects.  Outgoing: calls row by id.
 * Incoming: call_entry by uniqueid (the writer's key for call_entry updates).
 * Both are sharded on the row's id, so with several writers this write keeps
 * its order with the other writes about the same call that use the same rule.
 * Column transfer is varchar(6): the target is cut to 6 characters, as
 * Issabel's non-strict server did.
 */
static void record_transfer_durable(eccp_worker_t *w, const eccp_amiop_t *op)
{
    const char *kind = op->incoming ? "incoming" : "outgoing";
    if (op->incoming ? !op->uniqueid[0] || strlen(op->uniqueid) >= sizeof(((db_w_call_entry_t *)0)->uniqueid)
                     : op->call_db_id <= 0) {
        LOG_ERR_RL(MOD, "transfer not recorded: the call has no %s type=%s call_id=%lld extension=%s",
                op->incoming ? "usable uniqueid" : "database id", kind, (long long)op->call_db_id,
                op->ext);
        return;
    }
    db_write_t *x = db_write_new(op->incoming ? DB_W_CALL_ENTRY_UPDATE : DB_W_CALL_UPDATE);
    if (!x) {
        LOG_ERR_RL(MOD, "transfer not recorded: out of memory type=%s call_id=%lld extension=%s", kind,
                (long long)op->call_db_id, op->ext);
        return;
    }
    x->shard = (uint32_t)op->call_db_id;
    if (op->incoming) {
        x->u.entry.set = DB_CALL_F_TRANSFER;
        memcpy(x->u.entry.uniqueid, op->uniqueid, strlen(op->uniqueid) + 1); /* length checked above */
        snprintf(x->u.entry.transfer, sizeof(x->u.entry.transfer), "%.6s", op->ext);
    } else {
        x->u.call.id_call = (uint32_t)op->call_db_id;
        x->u.call.set = DB_CALL_F_TRANSFER;
        snprintf(x->u.call.transfer, sizeof(x->u.call.transfer), "%.6s", op->ext);
    }
    int rc = db_write_submit_force(w->srv->deps.db, x);
    if (rc != 0) {
        LOG_ERR_RL(MOD, "transfer not recorded: db writer refused it (%s) type=%s call_id=%lld extension=%s",
                ccd_strerror(rc), kind, (long long)op->call_db_id, op->ext);
        free(x);
    }
}

void eccp__record_transfer(eccp_worker_t *w, const eccp_reqdef_t *def, const char *id,
                           const reg_call_t *call, const char *ext)
{
    eccp_amiop_t op = {.def = def, .kind = ECCP_AMI_TRANSFER_RECORD};
    snprintf(op.id, sizeof(op.id), "%s", id);
    snprintf(op.ext, sizeof(op.ext), "%s", ext);
    op.incoming = call->type == REG_CALL_INCOMING;
    op.campaign_id = call->campaign_id;
    op.call_db_id = call->db_call_id;
    snprintf(op.uniqueid, sizeof(op.uniqueid), "%s", call->uniqueid);
    if (w->srv->deps.db)
        record_transfer_durable(w, &op);
    else if (!w->srv->deps.db_submit)
        LOG_WARN_RL(MOD, "transfer not recorded: no database call_id=%lld extension=%s",
                    (long long)op.call_db_id, op.ext);
    else if (op.call_db_id)
        record_transfer(w, &op);
    else
        LOG_WARN_RL(MOD, "transfer not recorded: the call has no database id extension=%s", op.ext);
}

void eccp__ami_done(eccp_worker_t *w, ami_response_t *r)
{
    eccp_amiop_t *op = (eccp_amiop_t *)(uintptr_t)r->user;
    eccp_sess_t *s = op->s;
    if (!eccp__sess_op_back(w, s))
        goto out;
    buf_t *b = eccp__wbuf(w);
    bool reg_yes = false;
    if (ami_op_peer_registered(op->tech, r, &reg_yes) != CCD_OK) {
        eccp__count_err(w->srv, op->def);
        eccp__msg_failure(b, op->id, 500, "No AMI connection");
        eccp__send_buf(w, s, b);
    } else {
        xw_t x;
        eccp__xw_init(&x, b);
        eccp__msg_resp_begin(&x, op->id, op->def->name);
        eccp__xw_leaf(&x, "extension", op->ext);
        eccp__xw_leaf(&x, "registered", reg_yes ? "yes" : "no");
        eccp__msg_resp_end(&x, op->def->name);
        eccp__send_buf(w, s, b);
    }
    eccp__sess_resume(w, s);
out:
    free(op);
    ami_response_free(r);
}

void eccp__ami_drop(eccp_worker_t *w, ami_response_t *r)
{
    eccp_amiop_t *op = (eccp_amiop_t *)(uintptr_t)r->user;
    w->jobs_out--;
    if (--op->s->pending == 0 && op->s->fd < 0)
        eccp__sess_bury(w, op->s);
    free(op);
    ami_response_free(r);
}
