/*
 * Event delivery, and the events that wait for database data.
 *
 * agentlinked carries the call's attributes, survey and matching contacts;
 * agentlinked and agentunlinked carry campaignlog_id and callprogress carries
 * id, the call_progress_log row of the transition.  A worker never waits on
 * SQL: such an event becomes a waiting event (eccp_pev_t) whose database part
 * is a read job; it is built and sent when the job comes back.
 *
 * Order: every session receives its events in the order its worker produced
 * them.  A session with an event still waiting queues every later event behind
 * it (s->evq, references to one copy per worker), whether the later one needs
 * data or not; a session with nothing waiting is written at once, as before.
 * Sessions that did not get the waiting event are not held up by it.
 *
 * The progress rows are written by the call journal through the durable
 * writer, so the row may not be there yet when the event fires.  The job looks
 * it up; while it is missing the worker looks again, backing off (20, 40, 80,
 * 160 ms, then every 320 ms: eccp__ev_retry_gap_ms) until the event's deadline
 * (event_wait_ms), then sends the event without it.  A fixed 20 ms poll cost a
 * read on the AUTH lane every 20 ms per waiting event and worker, so a journal
 * lagging behind a burst turned into a flood on the lane that logins use; the
 * back-off keeps a row written within ~20 ms as quick and bounds a late one's
 * extra delay by its own lateness (and by 320 ms).  The waiting events of one call look their rows up one
 * after another, each for the first matching row after the one found before
 * (eccp__ev_call_log_id), so two holds of one call get their own rows.
 *
 * Database away (the job fails), the job refused (the read queue is full) or
 * too many events waiting: the event is sent at once with what the registry
 * knows, its database elements empty and without the row id.  Issabel instead
 * held every event in its SQL worker until the database came back; a console
 * that is not told its agent is talking to someone is worse off than one that
 * has to ask getcallinfo for the customer data.
 *
 * Everything here runs on the worker thread that owns the sessions and events.
 */
#include "eccp/eccp_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define MOD "eccp"

static void pev_unref(eccp_worker_t *w, eccp_pev_t *p)
{
    (void)w;
    if (--p->refs > 0)
        return;
    free(p->data);
    buf_free(&p->frag);
    free(p);
}

/* ---------------- per-session queues ---------------- */

static bool evq_push(eccp_sess_t *s, eccp_pev_t *p)
{
    if (s->evq_n == s->evq_cap) {
        int cap = s->evq_cap ? s->evq_cap * 2 : 8;
        eccp_pev_t **q = malloc((size_t)cap * sizeof(*q));
        if (!q)
            return false;
        for (int i = 0; i < s->evq_n; i++)
            q[i] = s->evq[(s->evq_head + i) % s->evq_cap];
        free(s->evq);
        s->evq = q;
        s->evq_head = 0;
        s->evq_cap = cap;
    }
    s->evq[(s->evq_head + s->evq_n) % s->evq_cap] = p;
    s->evq_n++;
    p->refs++;
    return true;
}

static void evq_release(eccp_sess_t *s)
{
    free(s->evq);
    s->evq = NULL;
    s->evq_head = s->evq_n = s->evq_cap = 0;
}

void eccp__ev_sess_drop(eccp_sess_t *s)
{
    for (int i = 0; i < s->evq_n; i++)
        pev_unref(NULL, s->evq[(s->evq_head + i) % s->evq_cap]);
    evq_release(s);
}

/* Queues p behind what s waits for; a session past ECCP_EVQ_MAX is closed (the bound that
 * keeps a worker's memory finite while the database is slow). */
static void evq_add(eccp_worker_t *w, eccp_sess_t *s, eccp_pev_t *p)
{
    if (s->evq_n >= ECCP_EVQ_MAX || !evq_push(s, p)) {
        LOG_WARN_RL(MOD, "session %s: %d events waiting for database data, disconnected",
                    s->peer, s->evq_n);
        eccp__sess_close(w, s, "events waiting for database data over the bound");
    }
}

/* Sends the ready events at the head of s's queue, stopping at the first still waiting. */
static void evq_drain(eccp_worker_t *w, eccp_sess_t *s)
{
    while (s->evq_n > 0 && s->fd >= 0) {
        eccp_pev_t *p = s->evq[s->evq_head];
        if (!p->ready)
            return;
        s->evq_head = (s->evq_head + 1) % s->evq_cap;
        s->evq_n--;
        if (p->len) {
            eccp_chunk_t *chunk = NULL;
            eccp__send_shared(w, s, p->data, p->len, &chunk);
            eccp__shared_done(chunk);
        }
        pev_unref(w, p);
    }
    if (s->evq_n == 0)
        evq_release(s);
}

static bool wants(const eccp_sess_t *s, const char *agent, bool progress)
{
    if (!s->logged_in || s->closing || s->fd < 0)
        return false;
    if (progress)
        return s->progress;
    return !s->filter[0] || (agent && strcmp(s->filter, agent) == 0);
}

void eccp__ev_fan_out(eccp_worker_t *w, const char *agent, bool progress)
{
    buf_t *b = &w->wbuf;
    if (b->len == 0)
        return;
    uint64_t sent = 0;
    /* Built once per worker; sessions that cannot take it at once share one copy. */
    eccp_chunk_t *chunk = NULL;
    eccp_pev_t *behind = NULL; /* the copy queued by sessions that wait for an earlier event */
    eccp_sess_t *next;
    for (eccp_sess_t *s = w->head; s; s = next) {
        next = s->next; /* eccp__send may close s */
        if (!wants(s, agent, progress))
            continue;
        sent++;
        if (s->evq_n > 0) {
            if (!behind) {
                behind = calloc(1, sizeof(*behind));
                char *d = behind ? malloc(b->len) : NULL;
                if (!d) {
                    free(behind);
                    behind = NULL;
                    LOG_ERR_RL(MOD, "no memory to queue an event behind a waiting one");
                    continue;
                }
                memcpy(d, buf_data(b), b->len);
                behind->kind = ECCP_PEV_READY;
                behind->ready = true;
                behind->data = d;
                behind->len = b->len;
                behind->refs = 1; /* this loop's, dropped below */
            }
            evq_add(w, s, behind);
            continue;
        }
        eccp__send_shared(w, s, buf_data(b), b->len, &chunk);
        if (s->fd >= 0 && s->queued > 0)
            w->fan_cur_queued++; /* not all in the kernel yet: EPOLLOUT finishes it */
    }
    eccp__shared_done(chunk);
    if (behind)
        pev_unref(w, behind);
    atomic_fetch_add(&w->srv->st_events, sent);
    w->fan_cur_sent += (int64_t)sent;
}

/* ---------------- waiting events ---------------- */

static void waiting_unlink(eccp_worker_t *w, eccp_pev_t *p)
{
    eccp_pev_t *prev = NULL;
    for (eccp_pev_t *q = w->pev_head; q; prev = q, q = q->next) {
        if (q != p)
            continue;
        if (prev)
            prev->next = p->next;
        else
            w->pev_head = p->next;
        if (w->pev_tail == p)
            w->pev_tail = prev;
        p->next = NULL;
        w->npev--;
        atomic_fetch_sub(&w->srv->st_ev_waiting, 1);
        return;
    }
}

/* The event is complete (with or without its database part): built, and every session
 * whose queue now starts with ready events is written. */
static void resolve(eccp_worker_t *w, eccp_pev_t *p)
{
    if (p->want_log && !p->log_id)
        atomic_fetch_add(&w->srv->st_ev_log_missing, 1);
    if (p->log_id) {
        long long *last = eccp__ev_call_log_id(w, p->call.id);
        if (last && *last < p->log_id)
            *last = p->log_id;
    }
    if (eccp__ev_render(w, p) == 0 && w->wbuf.len) {
        p->data = malloc(w->wbuf.len);
        if (p->data) {
            memcpy(p->data, buf_data(&w->wbuf), w->wbuf.len);
            p->len = w->wbuf.len;
        } else {
            LOG_ERR_RL(MOD, "no memory for an event: dropped");
        }
    }
    p->ready = true;
    buf_free(&p->frag);
    waiting_unlink(w, p);
    eccp_sess_t *next;
    for (eccp_sess_t *s = w->head; s; s = next) {
        next = s->next;
        if (s->evq_n > 0 && s->evq[s->evq_head]->ready)
            evq_drain(w, s);
    }
    pev_unref(w, p); /* the waiting list's reference */
}

int64_t eccp__ev_retry_gap_ms(int lookups)
{
    int64_t gap = ECCP_EVENT_LOG_RETRY_MS;
    for (int i = 1; i < lookups && gap < ECCP_EVENT_LOG_RETRY_MAX_MS; i++)
        gap *= 2;
    return gap < ECCP_EVENT_LOG_RETRY_MAX_MS ? gap : ECCP_EVENT_LOG_RETRY_MAX_MS;
}

static void job_msg_free(mq_msg_t *m)
{
    eccp__job_free((eccp_job_t *)m);
}

/* Whether an earlier waiting event of the same call still looks for its row: this one
 * looks after it (its row comes after that one's). */
static bool call_busy(eccp_worker_t *w, const eccp_pev_t *p)
{
    for (eccp_pev_t *q = w->pev_head; q && q != p; q = q->next)
        if (q->want_log && !q->ready && q->call.id == p->call.id)
            return true;
    return false;
}

/* Submits p's read job; false when the database refused it (the caller resolves p). */
static bool submit(eccp_worker_t *w, eccp_pev_t *p)
{
    eccp_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return false;
    j->base.msg.free = job_msg_free;
    j->base.run = eccp__job_run;
    j->base.reply = w->mq;
    /* The engine's own read (owner 0: no per-client bound) on the lane a flood of console
     * reads cannot hold up, like the agent reloads. */
    j->base.owner = 0;
    j->base.lane = DB_LANE_AUTH;
    j->sql = eccp__sql_event;
    buf_init(&j->out, ECCP_EVENT_DATA_MAX);
    buf_init(&j->out2, 0);
    j->u.ev.pev = p;
    j->u.ev.incoming = p->call.type == REG_CALL_INCOMING;
    j->u.ev.want_data = p->want_data && !p->data_done;
    j->u.ev.want_log = p->want_log;
    j->u.ev.call = p->call.db_call_id;
    j->u.ev.retry = !j->u.ev.incoming && p->call.retries > 0 ? (long long)p->call.retries : -1;
    long long *last = eccp__ev_call_log_id(w, p->call.id);
    j->u.ev.after_id = last ? *last : 0;
    j->u.ev.unlink = p->kind == ECCP_PEV_UNLINKED;
    snprintf(j->u.ev.status, sizeof(j->u.ev.status), "%s", p->status ? p->status : "");
    snprintf(j->u.ev.phone, sizeof(j->u.ev.phone), "%s", p->call.phone);
    int rc = w->srv->deps.db_submit(w->srv->deps.db_ctx, &j->base);
    if (rc != 0) {
        LOG_WARN_RL(MOD, "event %s for call %lld sent without its database part: read queue "
                         "refused the job (%s)",
                    p->kind == ECCP_PEV_PROGRESS ? "callprogress"
                    : p->kind == ECCP_PEV_LINKED ? "agentlinked"
                                                 : "agentunlinked",
                    (long long)p->call.db_call_id, ccd_strerror(rc));
        eccp__job_free(j);
        return false;
    }
    atomic_fetch_add(&w->srv->st_ev_jobs, 1);
    p->refs++;
    p->in_flight = true;
    p->lookups++;
    p->retry_ms = 0;
    w->jobs_out++;
    return true;
}

/* Starts what can start and resolves what is due; keeps w->pev_due_ms. */
static void pump(eccp_worker_t *w, int64_t now)
{
    int64_t due = INT64_MAX;
    eccp_pev_t *next;
    for (eccp_pev_t *p = w->pev_head; p; p = next) {
        next = p->next;
        if (now >= p->deadline_ms) {
            /* A job still out keeps p alive and is ignored when it comes back. */
            resolve(w, p);
            continue;
        }
        if (!p->in_flight && (!p->lookups || (p->retry_ms && now >= p->retry_ms)) &&
            !call_busy(w, p)) {
            if (!submit(w, p)) {
                atomic_fetch_add(&w->srv->st_ev_failed, 1);
                resolve(w, p);
                continue;
            }
        }
        if (p->deadline_ms < due)
            due = p->deadline_ms;
        if (!p->in_flight && p->retry_ms && p->retry_ms < due)
            due = p->retry_ms;
    }
    w->pev_due_ms = due;
}

void eccp__ev_fire(eccp_worker_t *w, eccp_pev_kind_e kind, const char *agent,
                   const reg_call_t *c, const char *status, int64_t at_ms)
{
    eccp_pev_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.kind = kind;
    snprintf(tmp.agent, sizeof(tmp.agent), "%s", agent ? agent : "");
    if (c)
        tmp.call = *c;
    tmp.status = status;
    tmp.at_ms = at_ms;
    bool has_call = c && c->db_call_id > 0;
    tmp.want_data = kind == ECCP_PEV_LINKED && has_call;
    /* The row of an unlink exists only when the call ended after its link (Hangup or
     * ShortCall; a lost linked call is finished as Hangup): an agent taken off a call
     * that goes on has none to wait for. */
    tmp.want_log = has_call && (kind != ECCP_PEV_UNLINKED || c->status == REG_CS_HANGUP ||
                                c->status == REG_CS_SHORTCALL ||
                                (c->status == REG_CS_LOST && c->t_link_ms > 0));
    bool progress = kind == ECCP_PEV_PROGRESS;
    const char *filter_agent = progress ? NULL : tmp.agent;
    bool wait = (tmp.want_data || tmp.want_log) && w->srv->deps.db_submit &&
                w->npev < ECCP_PEV_MAX;
    if (!wait) {
        if ((tmp.want_data || tmp.want_log) && w->srv->deps.db_submit)
            atomic_fetch_add(&w->srv->st_ev_failed, 1); /* too many waiting */
        tmp.want_data = tmp.want_log = false;
        if (eccp__ev_render(w, &tmp) == 0)
            eccp__ev_fan_out(w, filter_agent, progress);
        return;
    }
    /* Only sessions that want it make it wait (and read the database). */
    eccp_pev_t *p = NULL;
    uint64_t targets = 0;
    eccp_sess_t *next;
    for (eccp_sess_t *s = w->head; s; s = next) {
        next = s->next;
        if (!wants(s, filter_agent, progress))
            continue;
        if (!p) {
            p = malloc(sizeof(*p));
            if (!p) {
                LOG_ERR_RL(MOD, "no memory for a waiting event: sent without its database part");
                tmp.want_data = tmp.want_log = false;
                if (eccp__ev_render(w, &tmp) == 0)
                    eccp__ev_fan_out(w, filter_agent, progress);
                return;
            }
            *p = tmp;
            buf_init(&p->frag, 0);
            p->refs = 1; /* the waiting list's */
        }
        evq_add(w, s, p);
        targets++;
    }
    if (!p)
        return;
    atomic_fetch_add(&w->srv->st_events, targets);
    w->fan_cur_sent += (int64_t)targets;
    atomic_fetch_add(&w->srv->st_ev_deferred, 1);
    atomic_fetch_add(&w->srv->st_ev_waiting, 1);
    int64_t now = clk_mono_ms();
    p->deadline_ms = now + w->srv->ev_wait_ms;
    if (w->pev_tail)
        w->pev_tail->next = p;
    else
        w->pev_head = p;
    w->pev_tail = p;
    w->npev++;
    pump(w, now);
}

void eccp__ev_job_done(eccp_worker_t *w, eccp_job_t *j)
{
    w->jobs_out--;
    eccp_pev_t *p = j->u.ev.pev;
    p->in_flight = false;
    if (p->ready) { /* resolved at its deadline meanwhile */
        pev_unref(w, p);
        eccp__job_free(j);
        return;
    }
    int64_t now = clk_mono_ms();
    if (j->base.status != 0) {
        LOG_WARN_RL(MOD, "event for call %lld sent without its database part: %s",
                    (long long)p->call.db_call_id,
                    j->base.status == CCD_EIO      ? "no database connection"
                    : j->base.status == CCD_ENOMEM ? "its data is over the size bound"
                                                   : "database error");
        atomic_fetch_add(&w->srv->st_ev_failed, 1);
        p->retry_ms = 0;
        resolve(w, p);
    } else {
        if (j->u.ev.want_data) {
            buf_reset(&p->frag);
            if (j->out.len && buf_append(&p->frag, buf_data(&j->out), j->out.len) == 0)
                p->data_done = true;
        }
        if (j->u.ev.log_id > 0) {
            p->log_id = j->u.ev.log_id;
            snprintf(p->log_status, sizeof(p->log_status), "%s", j->u.ev.found);
        }
        if (p->want_log && !p->log_id)
            p->retry_ms = now + eccp__ev_retry_gap_ms(p->lookups); /* not written yet */
        else
            resolve(w, p);
    }
    pev_unref(w, p); /* the job's reference */
    eccp__job_free(j);
    pump(w, now);
}

int64_t eccp__ev_timers(eccp_worker_t *w, int64_t now)
{
    if (w->pev_head && now >= w->pev_due_ms)
        pump(w, now);
    return w->pev_head ? w->pev_due_ms : INT64_MAX;
}

void eccp__ev_job_drop(eccp_job_t *j)
{
    pev_unref(NULL, j->u.ev.pev);
    eccp__job_free(j);
}

void eccp__ev_worker_free(eccp_worker_t *w)
{
    while (w->pev_head) {
        eccp_pev_t *p = w->pev_head;
        w->pev_head = p->next;
        p->next = NULL;
        pev_unref(w, p);
    }
    w->pev_tail = NULL;
    w->npev = 0;
}
