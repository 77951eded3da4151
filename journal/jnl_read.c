/*
 * What the journal reads: each call's campaign (statistics seed, retry back-off) and
 * the Hold break's id.  Both through db read jobs whose answers come back to the
 * journal's queue, so the journal thread never waits on SQL; a failed read is asked
 * again after JNL_READ_RETRY_MS.  Campaign statistics (num_completadas, promedio,
 * desviacion) are not kept here: each completed call is one DB_W_CAMPAIGN_COMPLETED write,
 * which adds it to sums in the database, so engines sharing a campaign do not overwrite each
 * other's figures.
 * Journal thread only, except the run functions (on a reader thread, reading only
 * their own job and the immutable ops).
 */
#include "journal/jnl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define JNL_READ_RETRY_MS 5000
#define JNL_TICK_EVERY_MS 250

enum { JR_CAMPAIGN = 1, JR_BREAKS = 2 };

typedef struct jread {
    db_read_job_t job;
    jnl_t *j;
    int what;
    uint32_t id;
    bool found;
    db_campaign_t camp;   /* JR_CAMPAIGN */
    uint32_t hold_break;  /* JR_BREAKS: the Hold break, 0 = none */
} jread_t;

static void jread_free(mq_msg_t *m)
{
    free(m);
}

static int run_campaign(db_conn_t *c, db_read_job_t *job)
{
    jread_t *r = (jread_t *)job;
    return r->j->ops.load_campaign(r->j->ops.ctx, c, r->id, &r->camp, &r->found);
}

static int run_breaks(db_conn_t *c, db_read_job_t *job)
{
    jread_t *r = (jread_t *)job;
    db_break_t *rows = NULL;
    size_t n = 0;
    int rc = r->j->ops.load_breaks(r->j->ops.ctx, c, &rows, &n);
    if (rc)
        return rc;
    /* the active Hold break first, an inactive one rather than none */
    for (size_t i = 0; i < n; i++) {
        if (rows[i].tipo != 'H')
            continue;
        if (!r->hold_break || rows[i].status == 'A')
            r->hold_break = rows[i].id;
        if (rows[i].status == 'A')
            break;
    }
    free(rows);
    return 0;
}

/* 0 when the job is out (its answer will come back), else a code (job freed). */
static int submit(jnl_t *j, int what, uint32_t id)
{
    jread_t *r = calloc(1, sizeof(*r));
    if (!r)
        return CCD_ENOMEM;
    r->job.msg.free = jread_free;
    r->job.run = what == JR_CAMPAIGN ? run_campaign : run_breaks;
    r->job.reply = j->q;
    r->job.lane = DB_LANE_NORMAL;
    r->j = j;
    r->what = what;
    r->id = id;
    int rc = j->ops.read(j->ops.ctx, &r->job);
    if (rc != 0) {
        free(r);
        return rc;
    }
    j->reads_inflight++;
    atomic_store_explicit(&j->st_reads_out, (uint64_t)j->reads_inflight, memory_order_relaxed);
    return 0;
}

static jcamp_t *camp_get(jnl_t *j, uint32_t id)
{
    char key[16];
    snprintf(key, sizeof(key), "%" PRIu32, id);
    jcamp_t *c = hmap_get(j->camps, key);
    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c || hmap_put(j->camps, key, c, NULL) != 0) {
        free(c);
        LOG_ERR_RL("journal", "out of memory: campaign %" PRIu32 " not followed", id);
        return NULL;
    }
    c->id = id;
    c->backoff_s = -1;
    return c;
}

static void camp_read(jnl_t *j, jcamp_t *c)
{
    int rc = submit(j, JR_CAMPAIGN, c->id);
    if (rc == 0) {
        c->state = JC_LOADING;
        return;
    }
    c->state = JC_UNKNOWN;
    c->retry_at_ms = clk_mono_ms() + JNL_READ_RETRY_MS;
    LOG_WARN_RL("journal", "campaign %" PRIu32 " not read yet (%s); asked again later", c->id,
                ccd_strerror(rc));
}

void jnl__campaign_want(jnl_t *j, uint32_t id)
{
    jcamp_t *c = camp_get(j, id);
    if (c && c->state == JC_UNKNOWN && !c->retry_at_ms)
        camp_read(j, c);
}

bool jnl__campaign_ready(jnl_t *j, uint32_t id)
{
    char key[16];
    snprintf(key, sizeof(key), "%" PRIu32, id);
    const jcamp_t *c = id ? hmap_get(j->camps, key) : NULL;
    return !id || (c && (c->state == JC_LOADED || c->state == JC_MISSING));
}

int32_t jnl__campaign_backoff_s(jnl_t *j, uint32_t id, uint32_t retries)
{
    char key[16];
    snprintf(key, sizeof(key), "%" PRIu32, id);
    const jcamp_t *c = id ? hmap_get(j->camps, key) : NULL;
    int base = j->cf->dialer.retry_backoff_s, max = 0;
    if (c && c->state == JC_LOADED) {
        if (c->backoff_s >= 0)
            base = c->backoff_s;
        max = c->backoff_max_s;
    }
    int64_t d = db_retry_delay_s(base, max, retries);
    return d > INT32_MAX ? INT32_MAX : (int32_t)d;
}

/* Talks longer than a day are counted as a day: the sums stay far from their bounds. */
#define JNL_STATS_MAX_S 86400

void jnl__campaign_completed(jnl_t *j, uint32_t id, int64_t duration_s)
{
    if (!id)
        return;
    db_write_t *w = jnl__write_new(j, DB_W_CAMPAIGN_COMPLETED, id);
    if (!w)
        return;
    w->u.completed.id_campaign = id;
    w->u.completed.duration_s = (uint32_t)(duration_s < 0                 ? 0
                                           : duration_s > JNL_STATS_MAX_S ? JNL_STATS_MAX_S
                                                                          : duration_s);
    jnl__submit(j, w);
}

static void campaign_done(jnl_t *j, jread_t *r)
{
    jcamp_t *c = camp_get(j, r->id);
    if (!c)
        return;
    if (r->job.status != 0) {
        atomic_fetch_add_explicit(&j->st_reads_failed, 1, memory_order_relaxed);
        c->state = JC_UNKNOWN;
        c->retry_at_ms = clk_mono_ms() + JNL_READ_RETRY_MS;
        return;
    }
    if (!r->found) {
        c->state = JC_MISSING;
        LOG_WARN("journal", "campaign %" PRIu32 " has no row: [dialer] retry back-off for its "
                            "calls", c->id);
        jnl__calls_campaign_ready(j, c->id);
        return;
    }
    c->state = JC_LOADED;
    c->backoff_s = r->camp.retry_backoff_s;
    c->backoff_max_s = r->camp.retry_backoff_max_s;
    jnl__calls_campaign_ready(j, c->id);
}

void jnl__breaks_want(jnl_t *j)
{
    if (j->breaks_loading)
        return;
    int rc = submit(j, JR_BREAKS, 0);
    if (rc == 0) {
        j->breaks_loading = true;
        j->breaks_retry_at_ms = 0;
        return;
    }
    j->breaks_retry_at_ms = clk_mono_ms() + JNL_READ_RETRY_MS;
    LOG_WARN_RL("journal", "breaks not read yet (%s); asked again later", ccd_strerror(rc));
}

static void breaks_done(jnl_t *j, jread_t *r)
{
    j->breaks_loading = false;
    if (r->job.status != 0) {
        atomic_fetch_add_explicit(&j->st_reads_failed, 1, memory_order_relaxed);
        j->breaks_retry_at_ms = clk_mono_ms() + JNL_READ_RETRY_MS;
        return;
    }
    if (!r->hold_break)
        LOG_WARN("journal", "no Hold break (tipo 'H') in the database: holds are not audited");
    j->hold_break = r->hold_break;
    j->breaks_loaded = true;
    jnl__agents_hold_break_known(j);
}

void jnl__read_done(jnl_t *j, db_read_job_t *job)
{
    jread_t *r = (jread_t *)job;
    if (r->what == JR_CAMPAIGN)
        campaign_done(j, r);
    else
        breaks_done(j, r);
    job->msg.free(&job->msg);
}

void jnl__reads_tick(jnl_t *j)
{
    int64_t now = clk_mono_ms();
    if (j->stopping || now < j->tick_next_ms)
        return;
    j->tick_next_ms = now + JNL_TICK_EVERY_MS;
    if (j->breaks_retry_at_ms && now >= j->breaks_retry_at_ms)
        jnl__breaks_want(j);
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->camps, &it, &k, &v)) {
        jcamp_t *c = v;
        if (c->state == JC_UNKNOWN && c->retry_at_ms && now >= c->retry_at_ms) {
            c->retry_at_ms = 0;
            camp_read(j, c);
        }
    }
}

void jnl__campaigns_free(jnl_t *j)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->camps, &it, &k, &v)) {
        free(v);
    }
}
