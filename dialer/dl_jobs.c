/*
 * The dialer's database reads, as read jobs (their run functions run on a db reader
 * thread; the finished job comes back to the dialer's inbox), and the one write it makes
 * about a number (one it claimed and could not place).
 */
#include "dialer/dl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

typedef enum { JOB_LOAD, JOB_RECOVER, JOB_CLAIM, JOB_ORPHANS, JOB_SEED } job_kind_e;

typedef struct dl_job {
    db_read_job_t job; /* first: the reader hands back this pointer */
    job_kind_e kind;
    time_t now;        /* 0 = the server's clock */
    /* JOB_LOAD: the active campaigns and, per campaign, its agents with a callback due */
    db_campaign_t *camps;
    size_t ncamps;
    db_agent_name_t **cb;
    size_t *ncb;
    int abandoned_block_s; /* the claims' rule, so that "due" means "would be claimed" */
    int expired;
    /* JOB_RECOVER */
    int released;
    /* JOB_CLAIM */
    uint32_t id_campaign;
    db_claim_req_t req;
    char owner[33];
    char callerid[16];
    db_claim_cursor_t cursor; /* the campaign's, carried through the job and back */
    db_claimed_call_t *out;
    int n, nout;
    char cb_agents[DL_MAX_CB][33];
    int ncb_agents;
    db_claimed_call_t cb_out[DL_MAX_CB];
    bool cb_got[DL_MAX_CB];
    bool check_remaining, remaining_known;
    uint64_t remaining;
    time_t t0; /* the server's clock before the claim (0 = the claim never started) */
    /* JOB_ORPHANS: the ids placed, spared */
    uint32_t *keep;
    int nkeep;
    /* JOB_SEED: the campaign's answered and abandoned calls (id_campaign), and the state
     * its pacer had when an engine last saved it */
    int grace_s;
    db_abandon_history_t hist;
    db_pacer_state_t pstate;
} dl_job_t;

static void job_free_fields(dl_job_t *j)
{
    free(j->camps);
    if (j->cb)
        for (size_t i = 0; i < j->ncamps; i++)
            free(j->cb[i]);
    free(j->cb);
    free(j->ncb);
    free(j->out);
    free(j->keep);
    free(j->hist.b);
    free(j->pstate.estimates);
}

static void job_msg_free(mq_msg_t *m)
{
    dl_job_t *j = (dl_job_t *)m;
    job_free_fields(j);
    free(j);
}

static dl_job_t *job_new(dl_t *d, job_kind_e kind, int (*run)(db_conn_t *, db_read_job_t *))
{
    dl_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->job.msg.free = job_msg_free;
    j->job.run = run;
    j->job.reply = d->inbox;
    j->kind = kind;
    j->now = dl__db_now(d);
    return j;
}

static int submit(dl_t *d, dl_job_t *j)
{
    int rc = db_read_submit(d->db, &j->job);
    if (rc) {
        job_msg_free(&j->job.msg);
        return rc;
    }
    d->jobs_in_flight++;
    return 0;
}

/* ---- load: campaigns and due callbacks ---- */

static int run_load(db_conn_t *c, db_read_job_t *jj)
{
    dl_job_t *j = (dl_job_t *)jj;
    int rc = db_expire_campaigns(c, &j->expired);
    if (rc)
        return rc;
    if ((rc = db_load_active_campaigns_at(c, j->now, &j->camps, &j->ncamps)))
        return rc;
    if (j->ncamps == 0)
        return 0;
    j->cb = calloc(j->ncamps, sizeof(*j->cb));
    j->ncb = calloc(j->ncamps, sizeof(*j->ncb));
    if (!j->cb || !j->ncb)
        return CCD_ENOMEM;
    for (size_t i = 0; i < j->ncamps; i++)
        if ((rc = db_callbacks_due(c, &j->camps[i], j->abandoned_block_s, j->now, &j->cb[i],
                                   &j->ncb[i])))
            return rc;
    return 0;
}

/* The claims' block after an abandoned attempt, which "due" callbacks must share. */
static int abandoned_block_s(const dl_t *d)
{
    return d->cf->dialer.abandoned_redial_block_h * 3600;
}

int dl__job_load(dl_t *d)
{
    dl_job_t *j = job_new(d, JOB_LOAD, run_load);
    if (!j)
        return CCD_ENOMEM;
    j->abandoned_block_s = abandoned_block_s(d);
    int rc = submit(d, j);
    if (rc == 0)
        d->load_busy = true;
    return rc;
}

/* ---- recovery of dead engines' claims ---- */

static int run_recover(db_conn_t *c, db_read_job_t *jj)
{
    dl_job_t *j = (dl_job_t *)jj;
    int rc = db_engine_heartbeat(c, j->owner);
    if (rc)
        return rc;
    return db_claims_recover(c, DL_RECOVER_LEASE_S, &j->released);
}

int dl__job_recover(dl_t *d)
{
    dl_job_t *j = job_new(d, JOB_RECOVER, run_recover);
    if (!j)
        return CCD_ENOMEM;
    snprintf(j->owner, sizeof(j->owner), "%s", db_instance_id(d->db));
    return submit(d, j);
}

/* ---- claims ---- */

static int run_claim(db_conn_t *c, db_read_job_t *jj)
{
    dl_job_t *j = (dl_job_t *)jj;
    /* If the claim's answer is lost, the rows it may have claimed are found by this time. */
    int rc = db_server_now(c, &j->t0);
    if (rc) {
        j->t0 = 0;
        return rc;
    }
    /* Callbacks first: their agents are waiting for them. */
    for (int i = 0; i < j->ncb_agents && rc == 0; i++) {
        db_claim_req_t r = j->req;
        r.agent = j->cb_agents[i];
        r.n = 1;
        r.cursor = NULL;
        int got = 0;
        rc = db_claim_numbers(c, &r, &j->cb_out[i], 1, &got);
        j->cb_got[i] = rc == 0 && got == 1;
    }
    if (rc == 0 && j->n > 0) {
        j->req.cursor = &j->cursor;
        rc = db_claim_numbers(c, &j->req, j->out, j->n, &j->nout);
    }
    if (rc == 0 && j->check_remaining && j->nout == 0) {
        rc = db_campaign_remaining(c, j->id_campaign, j->req.max_retries, &j->remaining);
        j->remaining_known = rc == 0;
    }
    return rc;
}

int dl__job_claim(dl_t *d, dl_camp_t *k, int n, bool check_remaining)
{
    dl_job_t *j = job_new(d, JOB_CLAIM, run_claim);
    if (!j)
        return CCD_ENOMEM;
    if (n > 0 && !(j->out = calloc((size_t)n, sizeof(*j->out)))) {
        job_msg_free(&j->job.msg);
        return CCD_ENOMEM;
    }
    j->id_campaign = k->c.id;
    j->n = n;
    j->check_remaining = check_remaining;
    snprintf(j->owner, sizeof(j->owner), "%s", db_instance_id(d->db));
    snprintf(j->callerid, sizeof(j->callerid), "%s", k->c.callerid);
    j->cursor = k->cursor;
    j->req = (db_claim_req_t){
        .id_campaign = k->c.id,
        .n = n > 0 ? n : 1,
        .owner = j->owner,
        .max_retries = k->c.retries,
        .callerid = j->callerid[0] ? j->callerid : NULL,
        .mark_placing = true,
        .log_progress = true,
        .now = j->now,
        .abandoned_block_s = abandoned_block_s(d),
    };
    for (int i = 0; i < k->ncb_free && i < DL_MAX_CB; i++)
        snprintf(j->cb_agents[j->ncb_agents++], sizeof(j->cb_agents[0]), "%s", k->cb_free[i]);
    int rc = submit(d, j);
    if (rc == 0)
        k->claim_busy = true;
    return rc;
}

static int run_orphans(db_conn_t *c, db_read_job_t *jj)
{
    dl_job_t *j = (dl_job_t *)jj;
    return db_claims_release_orphans(c, j->id_campaign, j->owner, j->t0, j->keep, j->nkeep,
                                     &j->released);
}

int dl__job_orphans(dl_t *d, dl_camp_t *k)
{
    dl_job_t *j = job_new(d, JOB_ORPHANS, run_orphans);
    if (!j)
        return CCD_ENOMEM;
    j->id_campaign = k->c.id;
    j->t0 = k->orphan_since;
    snprintf(j->owner, sizeof(j->owner), "%s", db_instance_id(d->db));
    if (k->nkeep > 0) {
        if (!(j->keep = malloc((size_t)k->nkeep * sizeof(*j->keep)))) {
            job_msg_free(&j->job.msg);
            return CCD_ENOMEM;
        }
        memcpy(j->keep, k->keep, (size_t)k->nkeep * sizeof(*j->keep));
        j->nkeep = k->nkeep;
    }
    int rc = submit(d, j);
    if (rc == 0)
        k->claim_busy = true;
    return rc;
}

/* ---- seed: the abandon history a new pacer starts from ---- */

static int run_seed(db_conn_t *c, db_read_job_t *jj)
{
    dl_job_t *j = (dl_job_t *)jj;
    int rc = db_campaign_abandon_history(c, j->id_campaign, j->now, j->grace_s, &j->hist);
    return rc ? rc : db_campaign_pacer_state(c, j->id_campaign, j->now, &j->pstate);
}

int dl__job_seed(dl_t *d, dl_camp_t *k, int grace_s)
{
    dl_job_t *j = job_new(d, JOB_SEED, run_seed);
    if (!j)
        return CCD_ENOMEM;
    j->id_campaign = k->c.id;
    j->grace_s = grace_s;
    int rc = submit(d, j);
    if (rc == 0)
        k->claim_busy = true;
    return rc;
}

static void seed_done(dl_t *d, dl_job_t *j)
{
    dl_camp_t *k = dl__camp_find(d, j->id_campaign);
    if (!k)
        return;
    k->claim_busy = false;
    if (j->job.status) {
        LOG_WARN_RL(DL_LOG, "campaign %u: abandon history not read (%s): it places nothing "
                            "until it is, trying again next cycle",
                    j->id_campaign, ccd_strerror(j->job.status));
        return;
    }
    for (size_t i = 0; i < j->hist.nb; i++) {
        const db_abandon_bucket_t *b = &j->hist.b[i];
        if (b->answered > 0)
            dl_pacer_seed_window(k->pacer, b->start_s * 1000, (uint64_t)b->answered,
                                 b->abandoned > 0 ? (uint64_t)b->abandoned : 0);
    }
    if (j->hist.life_answered > 0)
        dl_pacer_seed(k->pacer, (uint64_t)j->hist.life_answered,
                      j->hist.life_abandoned > 0 ? (uint64_t)j->hist.life_abandoned : 0);
    k->seeded = true;
    if (j->hist.life_answered > 0)
        LOG_INFO(DL_LOG, "campaign %u: abandon rates seeded from %lld answered call(s), %lld "
                         "abandoned",
                 j->id_campaign, j->hist.life_answered, j->hist.life_abandoned);
    const db_pacer_state_t *ps = &j->pstate;
    if (ps->found) {
        if (dl_pacer_seed_allowance(k->pacer, ps->allowance, ps->abandon_target,
                                    ps->age_s * 1000))
            LOG_INFO(DL_LOG, "campaign %u: pacer allowance %.4f restored (saved %llds ago for "
                             "a target of %.4f; now %.4f)",
                     j->id_campaign, ps->allowance, (long long)ps->age_s, ps->abandon_target,
                     dl_pacer_allowance(k->pacer));
        else
            LOG_INFO(DL_LOG, "campaign %u: saved pacer allowance not used (%.6f for a target of "
                             "%.4f, %llds old): starting cautious",
                     j->id_campaign, ps->allowance, ps->abandon_target, (long long)ps->age_s);
    }
    if (ps->estimates) {
        if (dl_pacer_seed_estimates(k->pacer, dl__now_ms(d), ps->estimates, ps->age_s * 1000) == 0)
            LOG_INFO(DL_LOG, "campaign %u: pacer estimators restored (saved %llds ago)",
                     j->id_campaign, (long long)ps->age_s);
        else
            LOG_WARN(DL_LOG, "campaign %u: saved pacer estimators not used (%llds old, or not a "
                             "line this version writes): learning them again from its calls",
                     j->id_campaign, (long long)ps->age_s);
    }
    /* What the database holds now: saved again only once it moves. */
    k->saved_allowance = dl_pacer_allowance(k->pacer);
    k->saved_observations = dl_pacer_observations(k->pacer);
    k->saved_at_ms = clk_mono_ms();
}

void dl__not_placed(dl_t *d, const db_claimed_call_t *c, const char *why)
{
    atomic_fetch_add(&d->st_not_placed, 1);
    LOG_WARN_RL(DL_LOG, "call %u (%s) not placed: %s", c->id, c->phone, why);
    db_write_t *w = db_write_new(DB_W_CALL_UPDATE);
    if (!w) {
        LOG_ERR(DL_LOG, "call %u stays claimed (out of memory): recovery releases it", c->id);
        return;
    }
    w->shard = c->id;
    w->u.call.id_call = c->id;
    w->u.call.set = DB_CALL_F_STATUS | DB_CALL_F_FAILURE_CAUSE | DB_CALL_F_RELEASE;
    snprintf(w->u.call.status, sizeof(w->u.call.status), "Failure");
    snprintf(w->u.call.failure_cause_txt, sizeof(w->u.call.failure_cause_txt), "ccd-not-placed");
    /* The number was claimed, so it is ours to finish: the write must not be refused. */
    if (db_write_submit_force(d->db, w) != 0) {
        w->msg.free(&w->msg);
        LOG_ERR(DL_LOG, "call %u stays claimed (database writer stopped): recovery releases it",
                  c->id);
    }
}

/* ---- results (dialer thread) ---- */

static void load_done(dl_t *d, dl_job_t *j);
static void claim_done(dl_t *d, dl_job_t *j);

void dl__job_done(dl_t *d, db_read_job_t *jj)
{
    dl_job_t *j = (dl_job_t *)jj;
    d->jobs_in_flight--;
    switch (j->kind) {
    case JOB_LOAD:
        d->load_busy = false;
        if (j->job.status)
            LOG_WARN_RL(DL_LOG, "campaign list not read (%s): trying again next cycle",
                        ccd_strerror(j->job.status));
        else if (!d->quitting)
            load_done(d, j);
        break;
    case JOB_RECOVER:
        if (j->job.status)
            LOG_WARN(DL_LOG, "recovery of earlier engines' claims failed (%s); the database "
                             "writer retries it every minute",
                     ccd_strerror(j->job.status));
        else if (j->released)
            LOG_NOTICE(DL_LOG, "%d number(s) claimed by stopped engines released", j->released);
        break;
    case JOB_CLAIM:
        claim_done(d, j);
        break;
    case JOB_SEED:
        seed_done(d, j);
        break;
    case JOB_ORPHANS: {
        dl_camp_t *k = dl__camp_find(d, j->id_campaign);
        if (k)
            k->claim_busy = false;
        if (j->job.status) {
            LOG_WARN_RL(DL_LOG, "campaign %u: the numbers of a claim whose answer was lost are "
                                "not released yet (%s): trying again next cycle",
                        j->id_campaign, ccd_strerror(j->job.status));
        } else {
            if (k)
                k->orphan_check = false;
            if (j->released)
                LOG_NOTICE(DL_LOG, "campaign %u: %d number(s) of a claim whose answer was lost "
                                   "released for a later attempt",
                           j->id_campaign, j->released);
        }
        break;
    }
    }
    job_msg_free(&j->job.msg);
}

static void load_done(dl_t *d, dl_job_t *j)
{
    dl__campaigns_update(d, j->camps, j->ncamps, j->cb, j->ncb);
    /* The update took the arrays. */
    j->camps = NULL;
    j->cb = NULL;
    j->ncb = NULL;
    j->ncamps = 0;
}

static void claim_done(dl_t *d, dl_job_t *j)
{
    dl_camp_t *k = dl__camp_find(d, j->id_campaign);
    if (k) {
        k->claim_busy = false;
        k->cursor = j->cursor;
    }
    atomic_fetch_add(&d->st_claims, 1);
    if (j->job.status) {
        atomic_fetch_add(&d->st_claims_failed, 1);
        LOG_WARN_RL(DL_LOG, "claim for campaign %u failed (%s): trying again next cycle",
                    j->id_campaign, ccd_strerror(j->job.status));
    }
    /* Whatever was claimed is placed, even when a later step of the job failed: those
     * claims committed.  A campaign gone meanwhile, or a stop, gives its numbers back. */
    bool place = k && !k->gone && !d->quitting;
    for (int i = 0; i < j->ncb_agents; i++) {
        if (!j->cb_got[i])
            continue;
        if (place)
            dl__place(d, k, &j->cb_out[i], j->cb_agents[i]);
        else
            dl__not_placed(d, &j->cb_out[i], "campaign stopped or engine stopping");
    }
    for (int i = 0; i < j->nout; i++) {
        if (place)
            dl__place(d, k, &j->out[i], NULL);
        else
            dl__not_placed(d, &j->out[i], "campaign stopped or engine stopping");
    }
    if (place)
        dl__place_flush(d, k);
    if (k) {
        /* What this job handed out (placed or written not-placed): spared by a later check. */
        uint32_t ids[DL_CLAIM_MAX + DL_MAX_CB];
        int nids = 0;
        for (int i = 0; i < j->ncb_agents; i++)
            if (j->cb_got[i])
                ids[nids++] = j->cb_out[i].id;
        for (int i = 0; i < j->nout && nids < DL_CLAIM_MAX + DL_MAX_CB; i++)
            ids[nids++] = j->out[i].id;
        if (j->job.status && j->t0 > 0) {
            /* The claim may have committed without our hearing it. */
            k->orphan_check = true;
            k->orphan_since = j->t0;
            k->nkeep = 0;
            for (int i = 0; i < k->nlast; i++)
                k->keep[k->nkeep++] = k->last_ids[i];
            for (int i = 0; i < nids; i++)
                k->keep[k->nkeep++] = ids[i];
        }
        memcpy(k->last_ids, ids, (size_t)nids * sizeof(*ids));
        k->nlast = nids;
    }
    if (k && place && j->job.status == 0 && j->remaining_known && j->remaining == 0)
        dl__campaign_finish(d, k);
}
