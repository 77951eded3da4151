/*
 * The watched-queue loader; see inbound.h.  Ownership: everything in
 * inbound_t below the thread fields belongs to the inbound thread; the
 * controlling (main) thread only creates, starts, stops and frees it.
 */
#include "daemon/inbound.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mq.h"

#define MOD "inbound"

struct inbound {
    reg_t *reg;
    db_t *db;
    int interval_ms;
    mq_t *q; /* finished read jobs and the quit message */
    pthread_t th;
    bool started; /* main thread */
};

typedef struct load_job {
    db_read_job_t job;
    reg_t *reg;
} load_job_t;

int inbound_load(db_conn_t *c, reg_t *reg)
{
    db_inbound_t in;
    int rc = db_load_inbound(c, &in);
    if (rc) {
        db_inbound_free(&in);
        return rc;
    }
    reg_inbound_queue_t *q = calloc(in.nqueues ? in.nqueues : 1, sizeof(*q));
    reg_inbound_campaign_t *camp = calloc(in.ncampaigns ? in.ncampaigns : 1, sizeof(*camp));
    if (!q || !camp) {
        free(q);
        free(camp);
        db_inbound_free(&in);
        return CCD_ENOMEM;
    }
    for (size_t i = 0; i < in.nqueues; i++) {
        snprintf(q[i].queue, sizeof(q[i].queue), "%s", in.queues[i].queue);
        q[i].queue_id = in.queues[i].id;
    }
    for (size_t i = 0; i < in.ncampaigns; i++) {
        const db_inbound_campaign_t *d = &in.campaigns[i];
        camp[i].id = d->id;
        camp[i].queue_id = d->id_queue;
        camp[i].active = d->estatus == 'A';
        snprintf(camp[i].date_init, sizeof(camp[i].date_init), "%s", d->datetime_init);
        snprintf(camp[i].date_end, sizeof(camp[i].date_end), "%s", d->datetime_end);
        snprintf(camp[i].time_init, sizeof(camp[i].time_init), "%s", d->daytime_init);
        snprintf(camp[i].time_end, sizeof(camp[i].time_end), "%s", d->daytime_end);
    }
    reg_inbound_choose(q, in.nqueues, camp, in.ncampaigns, in.today, in.now);
    size_t n = in.nqueues;
    free(camp);
    db_inbound_free(&in);
    rc = reg_post_inbound(reg, q, n);
    if (rc)
        free(q);
    return rc;
}

int inbound_load_now(const conf_database_t *cfg, reg_t *reg, char *err, size_t errlen)
{
    db_conn_t *c = NULL;
    int rc = db_conn_open(cfg, true, &c, err, errlen);
    if (rc)
        return rc;
    rc = inbound_load(c, reg);
    if (rc)
        snprintf(err, errlen, "%s", rc == CCD_EIO ? db_conn_error(c) : ccd_strerror(rc));
    db_conn_close(c);
    return rc;
}

static int run_load(db_conn_t *c, db_read_job_t *job)
{
    return inbound_load(c, ((load_job_t *)job)->reg);
}

static void job_free(mq_msg_t *m)
{
    free(m);
}

/* Submits a load; true when one is in flight now. */
static bool submit(inbound_t *in)
{
    load_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return false;
    j->job.msg.free = job_free;
    j->job.run = run_load;
    j->job.reply = in->q;
    j->reg = in->reg;
    int rc = db_read_submit(in->db, &j->job);
    if (rc) {
        LOG_WARN_RL(MOD, "watched queues not reloaded: read refused (%s)", ccd_strerror(rc));
        free(j);
        return false;
    }
    return true;
}

static void *run(void *arg)
{
    inbound_t *in = arg;
    log_set_thread_name("inbound");
    bool in_flight = false, quit = false;
    int64_t next = clk_mono_ms() + in->interval_ms;
    for (;;) {
        int64_t now = clk_mono_ms();
        if (!quit && !in_flight && now >= next) {
            in_flight = submit(in);
            next = now + in->interval_ms;
        }
        int64_t wait = in_flight || quit ? 1000 : next - now;
        mq_msg_t *m = mq_pop(in->q, (int)(wait > 0 ? wait : 0));
        if (!m) {
            if (mq_closed(in->q) && !in_flight)
                break; /* stopped without a quit message (out of memory) */
            continue;
        }
        if (m->type == MSG_QUIT) {
            quit = true;
        } else if (m->type == MSG_DB_READ_DONE) {
            in_flight = false;
            int st = ((db_read_job_t *)m)->status;
            if (st)
                LOG_WARN_RL(MOD, "watched queues not reloaded (%s); the previous table stays",
                            ccd_strerror(st));
        }
        m->free(m);
        if (quit && !in_flight)
            break;
    }
    return NULL;
}

inbound_t *inbound_new(reg_t *reg, db_t *db, int interval_ms, char *err, size_t errlen)
{
    if (!reg || !db || interval_ms <= 0) {
        snprintf(err, errlen, "inbound: bad arguments");
        return NULL;
    }
    inbound_t *in = calloc(1, sizeof(*in));
    if (in)
        in->q = mq_new("inbound", 16, 0);
    if (!in || !in->q) {
        snprintf(err, errlen, "inbound: out of memory");
        inbound_free(in);
        return NULL;
    }
    in->reg = reg;
    in->db = db;
    in->interval_ms = interval_ms;
    return in;
}

int inbound_start(inbound_t *in)
{
    if (in->started)
        return CCD_EBUSY;
    if (pthread_create(&in->th, NULL, run, in) != 0)
        return CCD_ERR;
    in->started = true;
    return 0;
}

void inbound_stop(inbound_t *in)
{
    if (!in || !in->started)
        return;
    mq_msg_t *quit = mq_msg_quit_new();
    if (!quit || mq_push_force(in->q, quit) != 0) {
        if (quit)
            quit->free(quit);
        mq_close(in->q); /* the thread also ends on a closed, empty queue */
    }
    pthread_join(in->th, NULL);
    in->started = false;
}

void inbound_free(inbound_t *in)
{
    if (!in)
        return;
    inbound_stop(in);
    mq_free(in->q);
    free(in);
}
