/* The journal's database stand-in; see jnl_fake.h. */
#include "jnl_fake.h"

#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void fake_init(fake_db_t *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
}

void fake_free(fake_db_t *f)
{
    for (size_t i = 0; i < f->nlines; i++)
        free(f->lines[i]);
    free(f->lines);
    pthread_mutex_destroy(&f->mu);
}

#define ADD(...) (n += (size_t)snprintf(out + n, n < len ? len - n : 0, __VA_ARGS__))

void fake_render(const db_write_t *w, char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    switch (w->kind) {
    case DB_W_CALL_UPDATE: {
        const db_w_call_t *c = &w->u.call;
        ADD("calls %" PRIu32, c->id_call);
        if (c->set & DB_CALL_F_STATUS) ADD(" status=%s", c->status);
        if (c->set & DB_CALL_F_UNIQUEID) ADD(" uniqueid=%s", c->uniqueid);
        if (c->set & DB_CALL_F_FECHA_LLAMADA) ADD(" fecha=%lld", (long long)c->fecha_llamada);
        if (c->set & DB_CALL_F_ENTRY_QUEUE) ADD(" queue=%lld", (long long)c->datetime_entry_queue);
        if (c->set & DB_CALL_F_START_TIME) ADD(" start=%lld", (long long)c->start_time);
        if (c->set & DB_CALL_F_END_TIME) ADD(" end=%lld", (long long)c->end_time);
        if (c->set & DB_CALL_F_DURATION) ADD(" duration=%" PRId64, c->duration);
        if (c->set & DB_CALL_F_DURATION_WAIT) ADD(" wait=%" PRId64, c->duration_wait);
        if (c->set & DB_CALL_F_ID_AGENT) ADD(" agent=%" PRIu32, c->id_agent);
        if (c->set & DB_CALL_F_FAILURE_CAUSE)
            ADD(" cause=%" PRId64 "/%s", c->failure_cause, c->failure_cause_txt);
        if (c->set & DB_CALL_F_TRUNK) ADD(" trunk=%s", c->trunk);
        if (c->set & DB_CALL_F_NEXT_ATTEMPT) ADD(" next=%" PRId32, c->next_attempt_delay_s);
        if (c->set & DB_CALL_F_RELEASE) ADD(" release");
        break;
    }
    case DB_W_PROGRESS_LOG: {
        const db_w_progress_t *p = &w->u.progress;
        ADD("progress %s call=%" PRIu32 " camp=%" PRIu32 " retry=%" PRId64 " uid=%s trunk=%s "
            "agent=%" PRIu32 " dur=%" PRId64 " at=%lld",
            p->new_status, p->id_call_outgoing, p->id_campaign_outgoing, p->retry, p->uniqueid,
            p->trunk, p->id_agent, p->duration, (long long)p->datetime_entry);
        break;
    }
    case DB_W_CURRENT_CALL_ADD: {
        const db_w_current_call_t *c = &w->u.current;
        ADD("current+ %" PRIu32 " uid=%s queue=%s agent=%s event=%s chan=%s client=%s at=%lld",
            c->id_call, c->uniqueid, c->queue, c->agentnum, c->event, c->channel,
            c->channel_client, (long long)c->fecha_inicio);
        break;
    }
    case DB_W_CURRENT_CALL_DEL:
        ADD("current- %" PRIu32, w->u.current.id_call);
        break;
    case DB_W_CAMPAIGN_UPDATE:
        ADD("campaign %" PRIu32 " estatus=%c", w->u.campaign.id_campaign,
            w->u.campaign.estatus ? w->u.campaign.estatus : '-');
        break;
    case DB_W_CAMPAIGN_COMPLETED:
        ADD("completed %" PRIu32 " dur=%" PRIu32, w->u.completed.id_campaign,
            w->u.completed.duration_s);
        break;
    case DB_W_AUDIT_OPEN:
        ADD("audit+ agent=%" PRIu32 " break=%" PRIu32 " at=%lld", w->u.audit.id_agent,
            w->u.audit.id_break, (long long)w->u.audit.when);
        break;
    case DB_W_AUDIT_CLOSE:
        ADD("audit- agent=%" PRIu32 " break=%" PRIu32, w->u.audit.id_agent, w->u.audit.id_break);
        break;
    case DB_W_RECORDING_ADD: {
        const db_w_recording_t *r = &w->u.recording;
        ADD("recording out=%" PRIu32 " in=%" PRIu32 " uid=%s chan=%s file=%s at=%lld",
            r->id_call_outgoing, r->id_call_incoming, r->uniqueid, r->channel, r->recordingfile,
            (long long)r->datetime_entry);
        break;
    }
    case DB_W_CALL_ENTRY_ADD:
        ADD("entry+ uid=%s", w->u.entry.uniqueid);
        break;
    default:
        ADD("kind %d", (int)w->kind);
        break;
    }
}

static int fake_write(void *ctx, db_write_t *w)
{
    fake_db_t *f = ctx;
    while (atomic_load(&f->gate))
        sched_yield();
    atomic_fetch_add(&f->nwrites, 1);
    if (w->kind == DB_W_PROGRESS_LOG) {
        atomic_fetch_add(&f->nprogress, 1);
        uint32_t id = w->u.progress.id_call_outgoing;
        if (f->progress_per_call && id < f->ncalls)
            atomic_fetch_add(&f->progress_per_call[id], 1);
    }
    if (w->kind == DB_W_CALL_UPDATE && (w->u.call.set & DB_CALL_F_RELEASE))
        atomic_fetch_add(&f->nreleases, 1);
    if (w->kind == DB_W_CURRENT_CALL_ADD)
        atomic_fetch_add(&f->ncurrent_add, 1);
    if (w->kind == DB_W_CURRENT_CALL_DEL)
        atomic_fetch_add(&f->ncurrent_del, 1);
    if (!f->count_only) {
        char line[512];
        fake_render(w, line, sizeof(line));
        pthread_mutex_lock(&f->mu);
        if (f->nlines == f->cap) {
            size_t ncap = f->cap ? f->cap * 2 : 64;
            f->lines = realloc(f->lines, ncap * sizeof(*f->lines));
            f->cap = ncap;
        }
        f->lines[f->nlines++] = strdup(line);
        pthread_mutex_unlock(&f->mu);
    }
    if (w->reply) {
        /* as the writer does: the insert comes back with its new id */
        w->status = 0;
        if (w->kind == DB_W_CALL_ENTRY_ADD)
            w->u.entry.new_id = 800 + atomic_fetch_add(&f->nentries, 1);
        w->msg.type = MSG_DB_WRITE_DONE;
        return mq_push_force(w->reply, &w->msg) == 0 ? 0 : CCD_ECLOSED;
    }
    w->msg.free(&w->msg);
    return 0;
}

/* Answered on the submitting (journal) thread, through the journal's queue like a
 * reader's answer. */
static int fake_read(void *ctx, db_read_job_t *job)
{
    fake_db_t *f = ctx;
    atomic_fetch_add(&f->nreads, 1);
    job->status = f->reads_fail ? CCD_EIO : job->run(NULL, job);
    job->msg.type = MSG_DB_READ_DONE;
    return mq_push_force(job->reply, &job->msg);
}

static int fake_load_campaign(void *ctx, db_conn_t *c, uint32_t id, db_campaign_t *out,
                              bool *found)
{
    (void)c;
    fake_db_t *f = ctx;
    *found = false;
    for (int i = 0; i < f->ncamps; i++) {
        if (f->camps[i].id == id) {
            *out = f->camps[i];
            *found = true;
        }
    }
    return 0;
}

static int fake_load_breaks(void *ctx, db_conn_t *c, db_break_t **out, size_t *n)
{
    (void)ctx;
    (void)c;
    db_break_t *b = calloc(2, sizeof(*b));
    if (!b)
        return CCD_ENOMEM;
    b[0] = (db_break_t){.id = 3, .name = "Bathroom", .status = 'A', .tipo = 'B'};
    b[1] = (db_break_t){.id = 1, .name = "Hold", .status = 'A', .tipo = 'H'};
    *out = b;
    *n = 2;
    return 0;
}

jnl_db_ops_t fake_ops(fake_db_t *f)
{
    return (jnl_db_ops_t){.ctx = f,
                          .write = fake_write,
                          .read = fake_read,
                          .load_campaign = fake_load_campaign,
                          .load_breaks = fake_load_breaks};
}

char *fake_lines(fake_db_t *f, size_t from, size_t *next)
{
    pthread_mutex_lock(&f->mu);
    size_t total = 1;
    for (size_t i = from; i < f->nlines; i++)
        total += strlen(f->lines[i]) + 1;
    char *s = malloc(total);
    size_t at = 0;
    for (size_t i = from; i < f->nlines; i++)
        at += (size_t)sprintf(s + at, "%s\n", f->lines[i]);
    s[at] = 0;
    if (next)
        *next = f->nlines;
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* ---- posting ---- */

typedef struct jt_step {
    reg_call_t c;
    bool remove;
} jt_step_t;

static void apply_step(reg_txn_t *tx, void *arg)
{
    jt_step_t *s = arg;
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, s->c.uniqueid);
    if (!c) {
        if (!(c = reg_txn_call_new(tx)))
            return;
        reg_txn_call_set_uniqueid(tx, c, s->c.uniqueid);
    }
    uint64_t id = c->id, ver = c->version;
    *c = s->c;
    c->id = id;
    c->version = ver;
    reg_txn_call_touch(tx, c);
    if (s->remove)
        reg_txn_call_remove(tx, id);
}

int jt_post_call(reg_t *r, const reg_call_t *c, bool remove)
{
    jt_step_t *s = malloc(sizeof(*s));
    if (!s)
        return CCD_ENOMEM;
    s->c = *c;
    s->remove = remove;
    int rc = reg_post(r, apply_step, s, free);
    if (rc != 0)
        free(s);
    return rc;
}

static void apply_agent(reg_txn_t *tx, void *arg)
{
    const reg_agent_t *in = arg;
    reg_agent_t *a = reg_txn_agent(tx, in->number, true);
    if (!a)
        return;
    uint64_t ver = a->version;
    *a = *in;
    a->version = ver;
    reg_txn_agent_touch(tx, a);
}

int jt_post_agent(reg_t *r, const reg_agent_t *a)
{
    reg_agent_t *copy = malloc(sizeof(*copy));
    if (!copy)
        return CCD_ENOMEM;
    *copy = *a;
    int rc = reg_post(r, apply_agent, copy, free);
    if (rc != 0)
        free(copy);
    return rc;
}

reg_agent_t jt_agent(int64_t db_id)
{
    reg_agent_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.number, sizeof(a.number), "Agent/9000");
    a.db_id = db_id;
    a.active = true;
    a.member_status = -1;
    return a;
}

reg_call_t jt_call(int64_t db_id, int64_t campaign, uint32_t retries)
{
    reg_call_t c;
    memset(&c, 0, sizeof(c));
    c.type = REG_CALL_OUTGOING;
    c.db_call_id = db_id;
    c.campaign_id = campaign;
    c.retries = retries;
    snprintf(c.uniqueid, sizeof(c.uniqueid), "ccd-%lld", (long long)db_id);
    snprintf(c.phone, sizeof(c.phone), "5001");
    c.t_originate_ms = JT_T;
    c.status = REG_CS_PLACING;
    return c;
}

void jt_link(reg_call_t *c, int64_t t_link)
{
    c->t_link_ms = t_link;
    snprintf(c->agent, sizeof(c->agent), "Agent/9000");
    snprintf(c->queue, sizeof(c->queue), "8000");
    snprintf(c->channel, sizeof(c->channel), "SIP/prov-out-0001");
    snprintf(c->agent_channel, sizeof(c->agent_channel), "Local/9000@agents-0001;1");
}
