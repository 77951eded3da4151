/*
 * ECCP requests that act on a call through AMI: hangup, transfercall,
 * atxfercall, mixmonitormute/unmute and getchanvars; and getextensionstatus,
 * which asks Asterisk about a peer (Command) without a call.
 *
 * The AMI side (building each action, reading its answer and Asterisk's CLI
 * output) is ami/'s typed operations (ami_op_*); this file validates, picks
 * the call and the channel, and renders the ECCP answer.
 *
 * They change nothing in the registry themselves: the AMI events that follow
 * (Hangup, BridgeLeave, ...) reach the registry through the ami module and
 * become ECCP events from there.  The action is sent with ami_send() and its
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

static void send_op(eccp_call_t *c, eccp_amiop_t *op, eccp_amiop_kind_e kind, int server,
                    ami_action_t *a);

void eccp__ami_start(eccp_call_t *c, eccp_amiop_kind_e kind, const char *agent,
                     const reg_call_t *call, const char *ext)
{
    eccp_worker_t *w = c->w;
    const char *xctx = w->srv->deps.transfer_context;
    eccp_amiop_t *op = calloc(1, sizeof(*op));
    ami_action_t *a = NULL;
    /* Hangup ends the agent's own leg: the channel Asterisk reported hanging up on the agent's
     * side when the registry knows it, else the agent channel.  Atxfer acts on the member's
     * (;1) leg, agent_channel. */
    const char *chan = call->channel;
    if (kind == ECCP_AMI_HANGUP && call->agent_hangup_channel[0])
        chan = call->agent_hangup_channel;
    else if ((kind == ECCP_AMI_HANGUP || kind == ECCP_AMI_ATXFER) && call->agent_channel[0])
        chan = call->agent_channel;
    switch (kind) {
    case ECCP_AMI_HANGUP:
        a = ami_op_hangup(chan);
        break;
    case ECCP_AMI_REDIRECT:
        a = ami_op_redirect(chan, xctx, ext, 1);
        break;
    case ECCP_AMI_ATXFER:
        a = ami_op_atxfer(chan, xctx, ext);
        break;
    case ECCP_AMI_MUTE:
    case ECCP_AMI_UNMUTE:
        a = ami_op_mixmonitor_mute(chan, kind == ECCP_AMI_MUTE);
        break;
    case ECCP_AMI_CHANVARS:
        a = ami_op_core_show_channel(chan);
        break;
    case ECCP_AMI_EXTSTATUS: /* eccp__ami_extstatus */
        break;
    }
    if (!op || !a) {
        free(op);
        ami_action_free(a);
        eccp__failure(c, 500, "Internal server error");
        return;
    }
    snprintf(op->agent, sizeof(op->agent), "%s", agent);
    snprintf(op->chan, sizeof(op->chan), "%s", chan);
    snprintf(op->ext, sizeof(op->ext), "%s", ext ? ext : "");
    op->incoming = call->type == REG_CALL_INCOMING;
    op->campaign_id = call->campaign_id;
    op->call_db_id = call->db_call_id;
    snprintf(op->uniqueid, sizeof(op->uniqueid), "%s", call->uniqueid);
    send_op(c, op, kind, call->server, a);
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

static void success(eccp_worker_t *w, eccp_sess_t *s, const eccp_amiop_t *op)
{
    buf_t *b = eccp__wbuf(w);
    xw_t x;
    eccp__xw_init(&x, b);
    eccp__msg_resp_begin(&x, op->id, op->def->name);
    eccp__xw_open(&x, "success");
    eccp__xw_close(&x, "success");
    eccp__msg_resp_end(&x, op->def->name);
    eccp__send_buf(w, s, b);
}

static void req_failure(eccp_worker_t *w, eccp_sess_t *s, const eccp_amiop_t *op, int code,
                        const char *msg)
{
    eccp__count_err(w->srv, op->def);
    buf_t *b = eccp__wbuf(w);
    eccp__msg_req_failure(b, op->id, op->def->name, NULL, code, msg);
    eccp__send_buf(w, s, b);
}

void eccp__ami_done(eccp_worker_t *w, ami_response_t *r)
{
    eccp_amiop_t *op = (eccp_amiop_t *)(uintptr_t)r->user;
    eccp_sess_t *s = op->s;
    s->pending--;
    w->jobs_out--;
    if (s->fd < 0) {
        if (s->pending == 0)
            eccp__sess_bury(w, s);
        goto out;
    }
    const char *why;
    bool ok = ami_op_ok(r, &why);
    if (!ok && op->kind != ECCP_AMI_CHANVARS && op->kind != ECCP_AMI_EXTSTATUS)
        LOG_ERR_RL(MOD, "%s failed: %s agent=%s channel=%s", op->def->name, why, op->agent, op->chan);
    switch (op->kind) {
    case ECCP_AMI_HANGUP:
        if (ok)
            success(w, s, op);
        else
            req_failure(w, s, op, 500, "Cannot hangup agent call");
        break;
    case ECCP_AMI_REDIRECT:
    case ECCP_AMI_ATXFER:
        if (!ok) {
            req_failure(w, s, op, 500, "Unable to transfer call");
            break;
        }
        /* The record first, so that a client holding the answer knows the write is already
         * with the db writer (a db_write_flush from then on covers it); it never answers. */
        if (w->srv->deps.db)
            record_transfer_durable(w, op);
        else if (!w->srv->deps.db_submit)
            LOG_WARN_RL(MOD, "transfer not recorded: no database call_id=%lld extension=%s",
                     (long long)op->call_db_id, op->ext);
        else if (op->call_db_id)
            record_transfer(w, op);
        else
            LOG_WARN_RL(MOD, "transfer not recorded: the call has no database id extension=%s",
                     op->ext);
        success(w, s, op); /* the one response */
        break;
    case ECCP_AMI_MUTE:
    case ECCP_AMI_UNMUTE:
        if (!ok) {
            req_failure(w, s, op, 500,
                        op->kind == ECCP_AMI_MUTE ? "Cannot mute agent call" : "Cannot unmute agent call");
            break;
        }
        success(w, s, op);
        {
            eccp_event_t ev = {.kind = op->kind == ECCP_AMI_MUTE ? ECCP_EV_RECORDINGMUTE
                                                                 : ECCP_EV_RECORDINGUNMUTE,
                               .incoming = op->incoming,
                               .campaign_id = op->campaign_id,
                               .call_id = op->call_db_id};
            snprintf(ev.agent_number, sizeof(ev.agent_number), "%s", op->agent);
            if (eccp_server_publish(w->srv, &ev) != 0)
                LOG_WARN_RL(MOD, "recording %smute event for %s not delivered to every worker",
                         op->kind == ECCP_AMI_MUTE ? "" : "un", op->agent);
        }
        break;
    case ECCP_AMI_CHANVARS: {
        buf_t *b = eccp__wbuf(w);
        ami_chanvars_t *cv = NULL;
        int rc = ami_op_chanvars(r, &cv);
        if (rc != CCD_OK)
            eccp__count_err(w->srv, op->def);
        if (rc == CCD_ENOMEM) {
            eccp__msg_failure(b, op->id, 500, "Internal server error");
            eccp__send_buf(w, s, b);
            break;
        }
        if (rc != CCD_OK) {
            eccp__msg_failure(b, op->id, 500, "No AMI connection");
            eccp__send_buf(w, s, b);
            break;
        }
        xw_t x;
        eccp__xw_init(&x, b);
        eccp__msg_resp_begin(&x, op->id, op->def->name);
        eccp__xw_leaf(&x, "clientchannel", op->chan);
        eccp__xw_open(&x, "chanvars");
        for (size_t i = 0; i < cv->n; i++) {
            eccp__xw_open(&x, "chanvar");
            eccp__xw_leaf(&x, "label", cv->v[i].name);
            eccp__xw_leaf(&x, "value", cv->v[i].value);
            eccp__xw_close(&x, "chanvar");
        }
        eccp__xw_close(&x, "chanvars");
        eccp__msg_resp_end(&x, op->def->name);
        eccp__send_buf(w, s, b);
        free(cv);
        break;
    }
    case ECCP_AMI_EXTSTATUS: {
        buf_t *b = eccp__wbuf(w);
        bool reg_yes = false;
        if (ami_op_peer_registered(op->tech, r, &reg_yes) != CCD_OK) {
            eccp__count_err(w->srv, op->def);
            eccp__msg_failure(b, op->id, 500, "No AMI connection");
            eccp__send_buf(w, s, b);
            break;
        }
        xw_t x;
        eccp__xw_init(&x, b);
        eccp__msg_resp_begin(&x, op->id, op->def->name);
        eccp__xw_leaf(&x, "extension", op->ext);
        eccp__xw_leaf(&x, "registered", reg_yes ? "yes" : "no");
        eccp__msg_resp_end(&x, op->def->name);
        eccp__send_buf(w, s, b);
        break;
    }
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
