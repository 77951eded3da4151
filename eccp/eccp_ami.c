/*
 * ECCP requests that act on a call through AMI: hangup, transfercall,
 * atxfercall, mixmonitormute/unmute and getchanvars.
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
#include "eccp/eccp_sql.h"

#define MOD "eccp"

struct eccp_amiop {
    eccp_sess_t *s;
    const eccp_reqdef_t *def;
    char id[ECCP_ID_MAX];
    eccp_amiop_kind_e kind;
    char agent[REG_ID_LEN];
    char chan[REG_CHAN_LEN];
    char ext[64];
    bool incoming;
    int64_t campaign_id, call_db_id;
};

bool eccp__ami_available(eccp_worker_t *w)
{
    return w->srv->deps.ami != NULL;
}

static const char *ctx_of(eccp_worker_t *w)
{
    const char *c = w->srv->deps.transfer_context;
    return c && c[0] ? c : "from-internal";
}

void eccp__ami_start(eccp_call_t *c, eccp_amiop_kind_e kind, const char *agent,
                     const reg_call_t *call, const char *ext)
{
    eccp_worker_t *w = c->w;
    eccp_amiop_t *op = calloc(1, sizeof(*op));
    ami_action_t *a = NULL;
    const char *chan = (kind == ECCP_AMI_HANGUP || kind == ECCP_AMI_ATXFER) && call->agent_channel[0]
                           ? call->agent_channel
                           : call->channel;
    switch (kind) {
    case ECCP_AMI_HANGUP:
        a = ami_action_new("Hangup");
        if (a)
            ami_action_add(a, "Channel", chan);
        break;
    case ECCP_AMI_REDIRECT:
        a = ami_action_new("Redirect");
        if (a) {
            ami_action_add(a, "Channel", chan);
            ami_action_add(a, "Exten", ext);
            ami_action_add(a, "Context", ctx_of(w));
            ami_action_add(a, "Priority", "1");
        }
        break;
    case ECCP_AMI_ATXFER:
        a = ami_action_new("Atxfer");
        if (a) {
            ami_action_add(a, "Channel", chan);
            ami_action_add(a, "Exten", ext);
            ami_action_add(a, "Context", ctx_of(w));
        }
        break;
    case ECCP_AMI_MUTE:
    case ECCP_AMI_UNMUTE:
        a = ami_action_new("MixMonitorMute");
        if (a) {
            ami_action_add(a, "Channel", chan);
            ami_action_add(a, "Direction", "read");
            ami_action_add(a, "State", kind == ECCP_AMI_MUTE ? "1" : "0");
        }
        break;
    case ECCP_AMI_CHANVARS:
        a = ami_action_new("Command");
        if (a)
            ami_action_addf(a, "Command", "core show channel %s", chan);
        break;
    }
    if (!op || !a) {
        free(op);
        ami_action_free(a);
        eccp__failure(c, 500, "Internal server error");
        return;
    }
    op->s = c->s;
    op->def = c->def;
    snprintf(op->id, sizeof(op->id), "%s", c->id);
    op->kind = kind;
    snprintf(op->agent, sizeof(op->agent), "%s", agent);
    snprintf(op->chan, sizeof(op->chan), "%s", chan);
    snprintf(op->ext, sizeof(op->ext), "%s", ext ? ext : "");
    op->incoming = call->type == REG_CALL_INCOMING;
    op->campaign_id = call->campaign_id;
    op->call_db_id = call->db_call_id;
    ami_send_opts_t o = {.reply_mq = w->mq, .user = (uint64_t)(uintptr_t)op};
    int rc = ami_send(w->srv->deps.ami, call->server, a, &o, NULL);
    if (rc != 0) {
        LOG_WARN(MOD, "%s for %s: AMI server %d not reachable (%s)", c->def->name, agent,
                 call->server, ccd_strerror(rc));
        free(op);
        eccp__failure(c, 500, "No AMI connection");
        return;
    }
    c->s->pending++;
    w->jobs_out++;
}

/*
 * Recording the transfer target (calls/call_entry.transfer) after the answer
 * was sent.  The request id already has its one response, so this job must
 * never answer, whatever happens to it.  It is tied to a stand-in session that
 * is closed from birth (fd -1): the worker's job completion and submit-refusal
 * paths write only to open sessions, so every outcome is silent, and the
 * stand-in is freed when the job returns like any closed session.  The outcome
 * is logged once, from the job's extra_free, which runs exactly once on every
 * path (written, SQL error, no connection, queue refused, shutdown); it must not
 * touch j->s, which may be gone by then.
 *
 * Not durable: a database outage loses the write (logged).  A durable record
 * needs the db writer (DB_W_CALL_UPDATE with DB_CALL_F_TRANSFER), which the
 * eccp deps do not reach yet (docs/eccp.md, known limits).
 */
typedef struct xfer_rec {
    long long call;
    bool incoming;
    char ext[64];
    bool ran, written;
    char why[128]; /* the server's error, copied on the DB thread */
} xfer_rec_t;

static int sql_transfer(MYSQL *my, eccp_job_t *j)
{
    xfer_rec_t *x = j->extra;
    char q[400];
    /* ext holds digits only (validated by the starter); the column is varchar(6), and
     * Issabel's non-strict server cut longer targets the same way. */
    snprintf(q, sizeof(q), "UPDATE %s SET transfer = '%.6s' WHERE id = %lld",
             x->incoming ? "call_entry" : "calls", x->ext, x->call);
    x->ran = true;
    if (mysql_query(my, q) != 0) {
        snprintf(x->why, sizeof(x->why), "%s", mysql_error(my));
        return CCD_EIO;
    }
    x->written = true;
    return 0;
}

static void xfer_rec_free(void *p)
{
    xfer_rec_t *x = p;
    if (!x->written)
        LOG_ERR(MOD, "transfer of %s call %lld to %s not recorded in the database: %s",
                x->incoming ? "incoming" : "outgoing", x->call, x->ext,
                x->ran ? x->why : "database unreachable or its queue full");
    free(x);
}

static void record_transfer(eccp_worker_t *w, const eccp_amiop_t *op)
{
    eccp_sess_t *standin = calloc(1, sizeof(*standin));
    xfer_rec_t *x = calloc(1, sizeof(*x));
    if (!standin || !x) {
        free(standin);
        free(x);
        LOG_ERR(MOD, "transfer of call %lld to %s not recorded: out of memory",
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

static void success(eccp_worker_t *w, eccp_sess_t *s, const eccp_amiop_t *op)
{
    buf_t *b = eccp__wbuf(w);
    xw_t x;
    xw_init(&x, b);
    eccp_msg_resp_begin(&x, op->id, op->def->name);
    xw_open(&x, "success");
    xw_close(&x, "success");
    eccp_msg_resp_end(&x, op->def->name);
    eccp__send_buf(w, s, b);
}

static void req_failure(eccp_worker_t *w, eccp_sess_t *s, const eccp_amiop_t *op, int code,
                        const char *msg)
{
    buf_t *b = eccp__wbuf(w);
    eccp_msg_req_failure(b, op->id, op->def->name, NULL, code, msg);
    eccp__send_buf(w, s, b);
}

/* Lines of a Command answer: one Output header per line (Asterisk 14+) or the legacy body. */
static void chanvars(xw_t *x, const ami_response_t *r)
{
    bool in_vars = false;
    const ami_rec_t *rec = r->resp;
    size_t nlegacy = rec->output ? strlen(rec->output) : 0;
    const char *lp = rec->output;
    for (int i = 0;; i++) {
        char line[2048];
        if (i < rec->n) {
            if (strcasecmp(rec->kv[i].key, "Output") != 0)
                continue;
            snprintf(line, sizeof(line), "%s", rec->kv[i].val);
        } else if (lp && nlegacy && *lp) {
            const char *nl = strchr(lp, '\n');
            size_t l = nl ? (size_t)(nl - lp) : strlen(lp);
            snprintf(line, sizeof(line), "%.*s", (int)(l < sizeof(line) ? l : sizeof(line) - 1), lp);
            size_t ll = strlen(line);
            if (ll && line[ll - 1] == '\r')
                line[ll - 1] = '\0';
            lp = nl ? nl + 1 : lp + l;
        } else {
            break;
        }
        const char *t = line;
        while (*t == ' ' || *t == '\t')
            t++;
        /* Issabel: ^\s+Variables:\s*$ (AMI header values arrive with the indent removed) */
        size_t tl = strlen(t);
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
            tl--;
        if (tl == 10 && strncmp(t, "Variables:", 10) == 0) {
            in_vars = true;
            continue;
        }
        if (!*t) {
            in_vars = false;
            continue;
        }
        if (!in_vars)
            continue;
        const char *eq = line;
        while (isalnum((unsigned char)*eq) || *eq == '_')
            eq++;
        if (eq == line || *eq != '=')
            continue;
        xw_open(x, "chanvar");
        xw_leaf_n(x, "label", line, (size_t)(eq - line));
        xw_leaf(x, "value", eq + 1);
        xw_close(x, "chanvar");
    }
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
    bool ok = r->status == CCD_OK && r->ok;
    const char *why = r->resp ? ami_rec_get(r->resp, "Message") : ccd_strerror(r->status);
    if (!ok && !(op->kind == ECCP_AMI_CHANVARS))
        LOG_ERR(MOD, "%s for %s on %s failed: %s", op->def->name, op->agent, op->chan, why);
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
        success(w, s, op); /* the one response; the record below never answers */
        if (op->call_db_id && w->srv->deps.db_submit)
            record_transfer(w, op);
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
                LOG_WARN(MOD, "recording %smute event for %s not delivered to every worker",
                         op->kind == ECCP_AMI_MUTE ? "" : "un", op->agent);
        }
        break;
    case ECCP_AMI_CHANVARS: {
        if (r->status != CCD_OK || !r->resp) {
            buf_t *b = eccp__wbuf(w);
            eccp_msg_failure(b, op->id, 500, "No AMI connection");
            eccp__send_buf(w, s, b);
            break;
        }
        buf_t *b = eccp__wbuf(w);
        xw_t x;
        xw_init(&x, b);
        eccp_msg_resp_begin(&x, op->id, op->def->name);
        xw_leaf(&x, "clientchannel", op->chan);
        xw_open(&x, "chanvars");
        if (r->ok)
            chanvars(&x, r);
        xw_close(&x, "chanvars");
        eccp_msg_resp_end(&x, op->def->name);
        eccp__send_buf(w, s, b);
        break;
    }
    }
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
