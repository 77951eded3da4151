/*
 * The journal's lifecycle, its thread and its figures; see journal.h.
 *
 * The thread pops its one queue: registry changes (force-pushed by the registry
 * thread, never dropped), finished read jobs, sync markers and control messages.
 * Handling a change submits its writes and records the lag since the registry
 * applied it.  State per call/agent/campaign lives in the other files and is
 * touched by this thread only.
 */
#include "journal/jnl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

/* How long jnl_stop waits for read jobs still out (a reader answers at once when the
 * database is away, so only a reader stuck in a query holds this up). */
#define JNL_STOP_READS_MS 10000
#define JNL_TICK_MS 500

/* A sync marker shared by the waiter and the journal thread; the last of the two to let go
 * frees it (refs).  mu guards done only (a leaf). */
typedef struct sync_msg {
    mq_msg_t msg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    _Atomic int refs;
} sync_msg_t;

static int op_write(void *ctx, db_write_t *w)
{
    return db_write_submit_force(ctx, w);
}

static int op_read(void *ctx, db_read_job_t *job)
{
    return db_read_submit(ctx, job);
}

static int op_load_campaign(void *ctx, db_conn_t *c, uint32_t id, db_campaign_t *out, bool *found)
{
    (void)ctx;
    return db_load_campaign(c, id, out, found);
}

static int op_load_breaks(void *ctx, db_conn_t *c, db_break_t **out, size_t *n)
{
    (void)ctx;
    return db_load_breaks(c, out, n);
}

jnl_t *jnl_new(const conf_t *cf, reg_t *reg, db_t *db, char *err, size_t errlen)
{
    if (!cf || !reg) {
        snprintf(err, errlen, "journal: no configuration or registry");
        return NULL;
    }
    jnl_t *j = calloc(1, sizeof(*j));
    if (!j) {
        snprintf(err, errlen, "journal: out of memory");
        return NULL;
    }
    j->cf = cf;
    j->reg = reg;
    j->ops = (jnl_db_ops_t){.ctx = db,
                            .write = op_write,
                            .read = op_read,
                            .load_campaign = op_load_campaign,
                            .load_breaks = op_load_breaks};
    /* The bound only matters to pushes that respect it (none: the registry and the
     * readers force-push); it is the depth from which the backlog is worth a warning. */
    j->q = mq_new("journal", 100000, 0);
    j->calls = hmap_new(1024);
    j->agents = hmap_new(256);
    j->camps = hmap_new(16);
    if (!j->q || !j->calls || !j->agents || !j->camps) {
        snprintf(err, errlen, "journal: out of memory");
        jnl_free(j);
        return NULL;
    }
    int rc = reg_subscribe(reg, j->q, REG_SUB_AGENTS | REG_SUB_CALLS | REG_SUB_LOSSLESS);
    if (rc != 0) {
        snprintf(err, errlen, "journal: cannot subscribe to the registry (%s)", ccd_strerror(rc));
        jnl_free(j);
        return NULL;
    }
    j->subscribed = true;
    return j;
}

void jnl_set_db_ops(jnl_t *j, const jnl_db_ops_t *ops)
{
    j->ops = *ops;
}

db_write_t *jnl__write_new(jnl_t *j, db_write_kind_e kind, uint32_t shard)
{
    (void)j;
    db_write_t *w = db_write_new(kind);
    if (!w) {
        LOG_ERR_RL("journal", "out of memory: a history row is not written (kind %d)", (int)kind);
        return NULL;
    }
    w->shard = shard;
    return w;
}

int jnl__submit(jnl_t *j, db_write_t *w)
{
    int rc = j->ops.write(j->ops.ctx, w);
    if (rc == 0) {
        atomic_fetch_add_explicit(&j->st_writes, 1, memory_order_relaxed);
        return 0;
    }
    /* Only a closed writer refuses a forced write: the database was stopped first. */
    atomic_fetch_add_explicit(&j->st_writes_failed, 1, memory_order_relaxed);
    LOG_ERR_RL("journal", "history write refused (%s): kind %d shard %" PRIu32, ccd_strerror(rc),
               (int)w->kind, w->shard);
    w->msg.free(&w->msg);
    return rc;
}

static void record_lag(jnl_t *j, int64_t at_us)
{
    int64_t d = clk_mono_us() - at_us;
    uint64_t us = d > 0 ? (uint64_t)d : 0;
    ccd_lhist_add(&j->lag_hist, (int64_t)us);
    atomic_fetch_add_explicit(&j->st_lag_sum, us, memory_order_relaxed);
    if (us > atomic_load_explicit(&j->st_lag_max, memory_order_relaxed))
        atomic_store_explicit(&j->st_lag_max, us, memory_order_relaxed);
}

uint64_t jnl_lag_quantile_us(jnl_t *j, double q)
{
    return ccd_lhist_quantile(&j->lag_hist, q);
}

/* ---- the thread ---- */

static void sync_unref(sync_msg_t *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The marker's free function: it is reached (handled, or freed with the queue). */
static void sync_reached(mq_msg_t *m)
{
    sync_msg_t *s = (sync_msg_t *)m;
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    sync_unref(s);
}

static void ctl_free(mq_msg_t *m)
{
    free(m);
}

/* One message; frees it (a sync marker is the waiter's and is only signalled). */
static void handle(jnl_t *j, mq_msg_t *m)
{
    switch (m->type) {
    case MSG_REG_CALL_CHANGED:
    case MSG_REG_AGENT_CHANGED: {
        const reg_change_t *ch = (const reg_change_t *)m;
        if (m->type == MSG_REG_CALL_CHANGED)
            jnl__call_change(j, ch);
        else
            jnl__agent_change(j, ch);
        record_lag(j, ch->at_us);
        atomic_fetch_add_explicit(&j->st_changes, 1, memory_order_relaxed);
        m->free(m);
        return;
    }
    case MSG_DB_WRITE_DONE:
        jnl__incoming_added(j, (db_write_t *)m);
        return;
    case MSG_DB_READ_DONE:
        j->reads_inflight--;
        atomic_store_explicit(&j->st_reads_out, (uint64_t)j->reads_inflight, memory_order_relaxed);
        jnl__read_done(j, (db_read_job_t *)m);
        return;
    case MSG_JNL_RELOAD_BREAKS:
        jnl__breaks_want(j);
        m->free(m);
        return;
    case MSG_JNL_SYNC:
        m->free(m);
        return;
    default:
        LOG_WARN("journal", "unexpected message type %d", m->type);
        m->free(m);
        return;
    }
}

static void *jnl_run(void *arg)
{
    jnl_t *j = arg;
    log_set_thread_name("journal");
    jnl__breaks_want(j);
    for (;;) {
        atomic_store_explicit(&j->beat_ms, clk_mono_ms(), memory_order_relaxed);
        mq_msg_t *m = mq_pop(j->q, JNL_TICK_MS);
        jnl__reads_tick(j);
        if (!m)
            continue;
        if (m->type == MSG_QUIT) {
            m->free(m);
            break;
        }
        handle(j, m);
    }
    /* Everything the registry published is queued before the quit (jnl_stop left the
     * registry first); what follows can only be read replies and sync markers. */
    j->stopping = true;
    jnl__calls_settle_all(j);
    int64_t end = clk_mono_ms() + JNL_STOP_READS_MS;
    mq_msg_t *m;
    while ((j->reads_inflight > 0 || j->entry_replies > 0) && clk_mono_ms() < end) {
        if ((m = mq_pop(j->q, 100)) != NULL)
            handle(j, m);
    }
    if (j->entry_replies > 0) {
        LOG_WARN("journal", "%d call_entry insert(s) not committed at stop; their queue is kept",
                 j->entry_replies);
        j->keep_q = true;
    }
    if (j->reads_inflight > 0) {
        LOG_WARN("journal", "%d database read(s) still out at stop; their queue is kept",
                 j->reads_inflight);
        j->keep_q = true;
    }
    while ((m = mq_pop(j->q, 0)) != NULL)
        handle(j, m);
    return NULL;
}

int jnl_start(jnl_t *j)
{
    if (j->started)
        return CCD_EBUSY;
    int rc = pthread_create(&j->th, NULL, jnl_run, j);
    if (rc != 0) {
        LOG_ERR("journal", "cannot start the journal thread: %s", strerror(rc));
        return CCD_ERR;
    }
    j->started = j->running = true;
    return 0;
}

static void leave_registry(jnl_t *j)
{
    if (j->subscribed && reg_unsubscribe(j->reg, j->q) == 0)
        j->subscribed = false;
}

void jnl_stop(jnl_t *j)
{
    if (!j || !j->running)
        return;
    leave_registry(j);
    mq_msg_t *q = mq_msg_quit_new();
    if (q && mq_push_force(j->q, q) == 0) {
        pthread_join(j->th, NULL);
    } else {
        if (q)
            q->free(q);
        /* Without memory for the quit, a closed queue ends the thread the same way. */
        mq_close(j->q);
        pthread_join(j->th, NULL);
    }
    j->running = false;
}

void jnl_free(jnl_t *j)
{
    if (!j)
        return;
    jnl_stop(j);
    leave_registry(j);
    jnl__calls_free(j);
    jnl__agents_free(j);
    jnl__campaigns_free(j);
    jnl__incoming_free(j);
    hmap_free(j->calls);
    hmap_free(j->agents);
    hmap_free(j->camps);
    /* A reader (or a registry that would not let go) may still push to q: then it stays. */
    if (!j->keep_q && !j->subscribed)
        mq_free(j->q);
    free(j);
}

int jnl_reload_breaks(jnl_t *j)
{
    mq_msg_t *m = calloc(1, sizeof(*m));
    if (!m)
        return CCD_ENOMEM;
    m->type = MSG_JNL_RELOAD_BREAKS;
    m->free = ctl_free;
    int rc = mq_push_force(j->q, m);
    if (rc != 0)
        free(m);
    return rc;
}

int jnl_sync(jnl_t *j, int timeout_ms)
{
    if (!j->running)
        return CCD_ECLOSED;
    sync_msg_t *s = calloc(1, sizeof(*s));
    if (!s)
        return CCD_ENOMEM;
    s->msg.type = MSG_JNL_SYNC;
    s->msg.free = sync_reached;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca; /* clk_deadline is on CLOCK_MONOTONIC */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->refs, 2);
    if (mq_push_force(j->q, &s->msg) != 0) {
        atomic_store(&s->refs, 1);
        sync_unref(s);
        return CCD_ECLOSED;
    }
    struct timespec ts;
    clk_deadline(&ts, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (!s->done) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cv, &s->mu);
        else if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            break;
    }
    bool done = s->done;
    pthread_mutex_unlock(&s->mu);
    sync_unref(s);
    return done ? 0 : CCD_ETIMEDOUT;
}

void jnl_get_stats(jnl_t *j, jnl_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->changes = atomic_load_explicit(&j->st_changes, memory_order_relaxed);
    out->writes = atomic_load_explicit(&j->st_writes, memory_order_relaxed);
    out->writes_failed = atomic_load_explicit(&j->st_writes_failed, memory_order_relaxed);
    out->calls_tracked = atomic_load_explicit(&j->st_calls, memory_order_relaxed);
    out->incoming_ignored = atomic_load_explicit(&j->st_incoming, memory_order_relaxed);
    out->audit_skipped = atomic_load_explicit(&j->st_audit_skipped, memory_order_relaxed);
    out->reads_failed = atomic_load_explicit(&j->st_reads_failed, memory_order_relaxed);
    out->reads_out = atomic_load_explicit(&j->st_reads_out, memory_order_relaxed);
    /* the queue keeps both under its lock, the high water at every push */
    mq_stats_t qs;
    mq_get_stats(j->q, &qs);
    out->backlog = qs.depth;
    out->backlog_high_water = qs.high_water;
    out->lag_us_max = atomic_load_explicit(&j->st_lag_max, memory_order_relaxed);
    out->lag_us_sum = atomic_load_explicit(&j->st_lag_sum, memory_order_relaxed);
    out->heartbeat_ms = atomic_load_explicit(&j->beat_ms, memory_order_relaxed);
}
