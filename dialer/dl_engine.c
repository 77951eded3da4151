/*
 * The dialer thread: its loop, the cycle (what to place per campaign), the campaign list,
 * and placing calls (registry first, then the Originate).
 *
 * Ownership: everything in dl_t not marked otherwise belongs to this thread; other threads
 * reach it only through the inbox (read jobs back, AMI responses, registry changes).
 */
#include "dialer/dl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami/ami.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

/* One call being placed (between dl__place and dl__place_flush); its registry record is
 * d->pend_nc at the same index, so the batch is posted from there without a copy. */
typedef struct dl_pending {
    db_claimed_call_t claimed;
    char channel[256];
    char context[CONF_STR_LEN];
    char exten[REG_ID_LEN];
    char agentchan[REG_ID_LEN];
    bool callback;
} dl_pending_t;

int64_t dl__now_ms(const dl_t *d)
{
    return d->opts.now_ms ? d->opts.now_ms(d->opts.now_ctx) : clk_wall_ms();
}

time_t dl__db_now(const dl_t *d)
{
    return d->opts.now_ms ? (time_t)(d->opts.now_ms(d->opts.now_ctx) / 1000) : 0;
}

dl_camp_t *dl__camp_find(dl_t *d, uint32_t id)
{
    /* Sorted by id (the load's ORDER BY; new ones are inserted in place). */
    size_t lo = 0, hi = d->ncamps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t x = d->camps[mid]->c.id;
        if (x == id)
            return d->camps[mid];
        if (x < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- the campaign list ---- */

static dl_pacing_params_t pacing_params(const dl_t *d, const db_campaign_t *c)
{
    dl_pacing_params_t p = {
        .mode = c->mode == DB_PACING_PREVIEW       ? DL_MODE_PREVIEW
                : c->mode == DB_PACING_PROGRESSIVE ? DL_MODE_PROGRESSIVE
                                                   : DL_MODE_PREDICTIVE,
        .abandon_target = c->abandon_rate_max >= 0 ? c->abandon_rate_max
                                                   : d->cf->dialer.abandon_rate_max,
        .abandon_grace_ms = 2000,
        .min_ring_ms = DL_MIN_RING_MS,
        /* The channel caps are applied by the dialer on every live call (dl__cap), not
         * only on the unanswered ones the pacer sees. */
        .max_channels = 0,
    };
    return p;
}

/* Why a campaign cannot be dialed (NULL = it can), and its server. */
static const char *campaign_check(const dl_t *d, const db_campaign_t *c, int *server)
{
    *server = -1;
    if (!c->ami_server[0]) {
        *server = 0;
    } else {
        for (int i = 0; i < d->cf->nami; i++)
            if (strcmp(d->cf->ami[i].name, c->ami_server) == 0)
                *server = i;
        if (*server < 0)
            return "its ami_server names no [ami] section";
    }
    if (!c->queue[0])
        return "it has no queue";
    char probe[256];
    if (dl__dial_string(c->trunk, "0", d->cf->dialer.default_context, probe, sizeof(probe)))
        return "its trunk is neither empty, a $OUTNUM$ template nor SIP/, PJSIP/, IAX2/, DAHDI/<name>";
    return NULL;
}

static void camp_free(dl_camp_t *k)
{
    if (!k)
        return;
    dl_pacer_free(k->pacer);
    free(k->cb);
    free(k->ringing_since);
    free(k->busy_since);
    free(k->wrap_since);
    free(k->pace_busy);
    free(k->pace_wrap);
    free(k);
}

static void camp_set(dl_t *d, dl_camp_t *k, const db_campaign_t *c)
{
    k->c = *c;
    const char *why = campaign_check(d, c, &k->server);
    k->usable = why == NULL;
    if (why && !k->warned)
        LOG_WARN(DL_LOG, "campaign %u (%s) is not dialed: %s", c->id, c->name, why);
    k->warned = why != NULL;
    dl_pacing_params_t p = pacing_params(d, c);
    if (k->pacer)
        dl_pacer_set_params(k->pacer, &p);
    else if (!(k->pacer = dl_pacer_new(&p)))
        k->usable = false;
}

void dl__campaigns_update(dl_t *d, db_campaign_t *camps, size_t n, db_agent_name_t **cb,
                          size_t *ncb)
{
    for (size_t i = 0; i < d->ncamps; i++)
        d->camps[i]->gone = true;
    for (size_t i = 0; i < n; i++) {
        dl_camp_t *k = dl__camp_find(d, camps[i].id);
        if (!k) {
            if (d->ncamps == d->capcamps) {
                size_t nc = d->capcamps ? d->capcamps * 2 : 16;
                dl_camp_t **p = realloc(d->camps, nc * sizeof(*p));
                if (!p)
                    break;
                d->camps = p;
                d->capcamps = nc;
            }
            if (!(k = calloc(1, sizeof(*k))))
                break;
            size_t at = 0;
            while (at < d->ncamps && d->camps[at]->c.id < camps[i].id)
                at++;
            memmove(d->camps + at + 1, d->camps + at, (d->ncamps - at) * sizeof(*d->camps));
            d->camps[at] = k;
            d->ncamps++;
            LOG_INFO(DL_LOG, "campaign %u (%s) active", camps[i].id, camps[i].name);
        }
        camp_set(d, k, &camps[i]);
        k->gone = false;
        free(k->cb);
        k->cb = cb ? cb[i] : NULL;
        k->ncb = ncb ? ncb[i] : 0;
        if (cb)
            cb[i] = NULL;
    }
    /* Campaigns no longer active (ended, paused, outside their window) leave, unless a claim
     * of theirs is still in flight: they leave when it returns. */
    size_t o = 0;
    for (size_t i = 0; i < d->ncamps; i++) {
        dl_camp_t *k = d->camps[i];
        if (k->gone && !k->claim_busy) {
            LOG_INFO(DL_LOG, "campaign %u (%s) no longer active", k->c.id, k->c.name);
            /* It comes back with a new pacer (a paused campaign, tomorrow's window). */
            dl__pacer_save(d, k, true);
            camp_free(k);
            continue;
        }
        d->camps[o++] = k;
    }
    d->ncamps = o;
    free(camps);
    if (cb)
        for (size_t i = 0; i < n; i++)
            free(cb[i]);
    free(cb);
    free(ncb);
    atomic_store(&d->st_campaigns, (int64_t)d->ncamps);
}

/* A campaign's write, submitted; false (and w freed) when it could not be queued: the
 * caller asks again at a later cycle. */
static bool camp_write_submit(dl_t *d, const dl_camp_t *k, db_write_t *w)
{
    w->shard = k->c.id;
    if (db_write_submit(d->db, w) == 0)
        return true;
    w->msg.free(&w->msg);
    return false;
}

void dl__campaign_finish(dl_t *d, dl_camp_t *k)
{
    if (k->finished)
        return;
    db_write_t *w = db_write_new(DB_W_CAMPAIGN_UPDATE);
    if (!w)
        return; /* asked again at a later cycle */
    w->u.campaign.id_campaign = k->c.id;
    w->u.campaign.estatus = 'T';
    if (!camp_write_submit(d, k, w))
        return;
    k->finished = true;
    atomic_fetch_add(&d->st_finished, 1);
    LOG_NOTICE(DL_LOG, "campaign %u (%s) has nothing left to dial: finished", k->c.id, k->c.name);
}

void dl__pacer_save(dl_t *d, dl_camp_t *k, bool force)
{
    if (!k->seeded || !k->pacer)
        return;
    double a = dl_pacer_allowance(k->pacer);
    uint64_t seen = dl_pacer_observations(k->pacer);
    int64_t now = clk_mono_ms();
    /* An allowance within 1 % is the same to the pacer; a pacer that saw nothing new has the
     * estimators it had: no row rewritten every minute for nothing. */
    if (!force && (now - k->saved_at_ms < DL_PACER_SAVE_MS ||
                   (fabs(a / k->saved_allowance - 1) < 0.01 && seen == k->saved_observations)))
        return;
    double target = pacing_params(d, &k->c).abandon_target;
    if (!(target > 0))
        return;
    db_write_t *w = db_write_new(DB_W_PACER_STATE);
    if (!w)
        return; /* tried again at a later cycle */
    w->u.pacer.id_campaign = k->c.id;
    w->u.pacer.allowance_ppm = (uint32_t)lround(a * 1e6);
    w->u.pacer.abandon_target_ppm = (uint32_t)lround(target * 1e6);
    w->u.pacer.updated = (time_t)(dl__now_ms(d) / 1000);
    /* Copied at its length: writes wait in the writer's queue through a database outage.
     * Without memory for the copy the allowance is still saved; the row keeps its last line. */
    char line[DL_PACER_ESTIMATES_MAX];
    if (dl_pacer_export_estimates(k->pacer, dl__now_ms(d), line, sizeof line) >= 0)
        w->u.pacer.estimates = strdup(line);
    bool with_line = w->u.pacer.estimates != NULL; /* w is the writer's once submitted */
    if (!camp_write_submit(d, k, w))
        return;
    k->saved_allowance = a;
    if (with_line)
        k->saved_observations = seen;
    k->saved_at_ms = now;
}

/* ---- placing ---- */

void dl__place(dl_t *d, dl_camp_t *k, const db_claimed_call_t *c, const char *agent)
{
    dl_pending_t *p = &d->pend[d->npend];
    dl_newcall_t *nc = &d->pend_nc[d->npend];
    memset(p, 0, sizeof(*p));
    memset(nc, 0, sizeof(*nc));
    p->claimed = *c;
    int rc = dl__dial_string(k->c.trunk, c->phone, d->cf->dialer.default_context, p->channel,
                             sizeof(p->channel));
    if (rc) {
        dl__not_placed(d, c, rc == CCD_EINVAL ? "the number is not dialable (digits, *, #, "
                                                "a leading +)"
                                              : "the dial string is too long");
        return;
    }
    nc->server = k->server;
    nc->id_campaign = k->c.id;
    nc->id_call = c->id;
    nc->retries = c->retries;
    snprintf(nc->phone, sizeof(nc->phone), "%s", c->phone);
    snprintf(nc->trunk, sizeof(nc->trunk), "%.*s", (int)sizeof(nc->trunk) - 1, k->c.trunk);
    dl__channel_id(nc->uniqueid, sizeof(nc->uniqueid), db_instance_id(d->db), c->id, c->retries);
    snprintf(nc->action_id, sizeof(nc->action_id), "dl-%.*s", (int)sizeof(nc->action_id) - 4,
             nc->uniqueid);
    if (agent) {
        /* A callback goes straight to its agent, not through the queue. */
        p->callback = true;
        snprintf(p->context, sizeof(p->context), "%s", d->cf->dialer.callback_context);
        snprintf(p->exten, sizeof(p->exten), "%s", strchr(agent, '/') ? strchr(agent, '/') + 1
                                                                        : agent);
        dl__agent_channel(agent, d->cf->agents.agents_context, p->agentchan, sizeof(p->agentchan));
        snprintf(nc->cb_agent, sizeof(nc->cb_agent), "%.*s", (int)sizeof(nc->cb_agent) - 1,
                 agent);
        dl__cb_busy_add(k, agent, nc->uniqueid);
    } else {
        snprintf(nc->queue, sizeof(nc->queue), "%s", k->c.queue);
        snprintf(p->context, sizeof(p->context), "%s", k->c.context);
        snprintf(p->exten, sizeof(p->exten), "%s", k->c.queue);
    }
    d->npend++;
}

void dl__place_flush(dl_t *d, dl_camp_t *k)
{
    if (d->npend == 0)
        return;
    uint64_t seq = ++d->post_seq;
    int rc = dl__reg_post_calls(d, seq, d->pend_nc, d->npend);
    if (rc) {
        /* No registry record, so nobody would follow these calls: they are not dialed. */
        for (int i = 0; i < d->npend; i++)
            dl__not_placed(d, &d->pend[i].claimed, "the registry is full");
        d->npend = 0;
        return;
    }
    k->posted_seq = seq;
    int timeout_ms = dl__originate_timeout_ms(d->cf->dialer.originate_timeout_s);
    for (int i = 0; i < d->npend; i++) {
        const dl_pending_t *p = &d->pend[i];
        const dl_newcall_t *nc = &d->pend_nc[i];
        dl_orig_t o = {
            .channel = p->channel,
            .context = p->context,
            .exten = p->exten,
            .callerid = k->c.callerid,
            .timeout_ms = timeout_ms,
            .action_id = nc->action_id,
            .channel_id = nc->uniqueid,
            .id_campaign = k->c.id,
            .id_call = nc->id_call,
            .number = nc->phone,
            .queue = k->c.queue,
            .camp_context = k->c.context,
            .agentchannel = p->callback ? p->agentchan : NULL,
        };
        ami_action_t *a = dl__originate(&o);
        ami_send_opts_t so = {.reply_mq = d->inbox, .action_id = nc->action_id};
        int src = a ? ami_send(d->ami, k->server, a, &so, NULL) : CCD_ENOMEM;
        if (src) {
            atomic_fetch_add(&d->st_refused, 1);
            LOG_WARN_RL(DL_LOG, "call %u (%s) not originated (%s): Failure", nc->id_call,
                        nc->phone, ccd_strerror(src));
            dl__reg_post_fail(d, nc->uniqueid, 0, false);
            continue;
        }
        atomic_fetch_add(&d->st_placed, 1);
    }
    d->npend = 0;
}

static void originate_answered(dl_t *d, ami_response_t *r)
{
    /* Success means "queued": the call's fate comes with its events.  An Error is a refusal
     * at once; a closed connection means it was never sent.  A timeout leaves the outcome
     * open: the events or the stuck-call rule decide. */
    if (strncmp(r->action_id, "dl-", 3) != 0 || r->status == CCD_ETIMEDOUT ||
        (r->status == CCD_OK && r->ok))
        return;
    atomic_fetch_add(&d->st_refused, 1);
    LOG_WARN_RL(DL_LOG, "Originate %s refused (%s): Failure", r->action_id,
                r->status == CCD_OK ? ami_rec_get(r->resp, "Message") : ccd_strerror(r->status));
    dl__reg_post_fail(d, r->action_id + 3, 0, false);
}

/* ---- the cycle ---- */

static void decide(dl_t *d, dl_camp_t *k, bool pressured, int64_t now)
{
    if (k->gone || !k->usable || k->finished || k->claim_busy)
        return;
    /* The calls of its last claim must be in the count (not just in the registry by now). */
    if (d->snap_seq < k->posted_seq)
        return;
    if (pressured)
        return;
    if (k->orphan_check) {
        /* Before anything new: the numbers of a claim whose answer was lost. */
        if (dl__job_orphans(d, k) != 0)
            LOG_WARN_RL(DL_LOG, "campaign %u: release of a lost claim not submitted", k->c.id);
        return;
    }
    if (!k->seeded) {
        /* A pacer that forgot the day's abandons could pass the cap within the day. */
        if (dl__job_seed(d, k, (int)(pacing_params(d, &k->c).abandon_grace_ms / 1000)) != 0)
            LOG_WARN_RL(DL_LOG, "campaign %u: abandon history read not submitted", k->c.id);
        return;
    }
    if (ami_server_state(d->ami, k->server) != AMI_STATE_UP)
        return;
    int64_t off = now - clk_wall_ms(); /* registry times are real wall time */
    for (int i = 0; i < k->nringing; i++)
        k->ringing_since[i] += off;
    /* Busy agents: the talking ones with their calls' connect times (now when the call is
     * not known), then those in wrap-up with when it began, which is also all the pacer
     * reads of them (their last connect time is not kept: the wrap-up's start stands in). */
    k->npace_busy = k->npace_wrap = 0;
    for (int i = 0; i < k->busy_agents; i++) {
        dl__push_time(&k->pace_busy, &k->npace_busy, &k->cap_pace_busy,
                      i < k->nbusy_since ? k->busy_since[i] + off : now);
        dl__push_time(&k->pace_wrap, &k->npace_wrap, &k->cap_pace_wrap, -1);
    }
    for (int i = 0; i < k->wrap_agents && i < k->nwrap; i++) {
        dl__push_time(&k->pace_busy, &k->npace_busy, &k->cap_pace_busy, k->wrap_since[i] + off);
        dl__push_time(&k->pace_wrap, &k->npace_wrap, &k->cap_pace_wrap, k->wrap_since[i] + off);
    }
    /* An allocation failure drops entries: tell the pacer only what both arrays hold. */
    int nbusy = k->npace_busy < k->npace_wrap ? k->npace_busy : k->npace_wrap;
    if (nbusy > k->busy_agents)
        atomic_fetch_add(&d->st_p_wrap_in, (uint64_t)(nbusy - k->busy_agents));
    dl_pace_input_t in = {
        .now_ms = now,
        .agents_free = k->free_agents,
        .agents_busy = nbusy,
        .busy_since_ms = k->pace_busy,
        .wrap_since_ms = k->pace_wrap,
        .calls_ringing = k->nringing,
        .ringing_since_ms = k->ringing_since,
        .calls_waiting = k->waiting,
        /* Due callbacks whose agent is free: placed in every mode, preview included (an
         * agent scheduled them).  The pacer counts them in its answer. */
        .calls_reserved = k->ncb_free,
    };
    int want = dl_pacer_decide(k->pacer, &in);
    int cb = k->ncb_free;
    int cap = dl__campaign_cap(k->c.max_channels, k->c.max_canales);
    int total = dl__cap(want > cb ? want : cb, cap, k->live, d->cf->dialer.max_channels,
                        d->global_live);
    if (cb > total)
        cb = total;
    k->ncb_free = cb;
    int n = total - cb;
    if (n > DL_CLAIM_MAX)
        n = DL_CLAIM_MAX;
    /* A campaign is finished only when a claim finds nothing, nothing is in flight and no
     * callback is pending; the claim then also counts what is left. */
    bool check = n > 0 && k->live == 0 && k->ncb == 0;
    if (n <= 0 && cb <= 0)
        return;
    int rc = dl__job_claim(d, k, n, check);
    if (rc) {
        LOG_WARN_RL(DL_LOG, "claim for campaign %u not submitted (%s)", k->c.id, ccd_strerror(rc));
        return;
    }
    d->global_live += n + cb; /* the next campaigns' global cap counts them */
}

/* Computed under the lock: a few dozen additions per campaign, no I/O. */
static void publish_rates(dl_t *d, int64_t now)
{
    pthread_mutex_lock(&d->rates_mu);
    if (d->caprates < d->ncamps) {
        dl_campaign_rates_t *p = realloc(d->rates, d->ncamps * sizeof(*p));
        if (p) {
            d->rates = p;
            d->caprates = d->ncamps;
        }
    }
    d->nrates = 0;
    for (size_t i = 0; i < d->ncamps && d->nrates < d->caprates; i++) {
        const dl_camp_t *k = d->camps[i];
        dl_pace_rates_t pr = {0};
        if (k->pacer)
            dl_pacer_rates(k->pacer, now, &pr);
        d->rates[d->nrates++] = (dl_campaign_rates_t){
            .id = k->c.id,
            .seeded = k->seeded,
            .fallback_progressive = pr.fallback_progressive,
            .day = pr.day,
            .month = pr.month,
            .lifetime = pr.lifetime,
            .answered_day = pr.answered_day,
            .abandoned_day = pr.abandoned_day,
            .allowance = pr.allowance,
        };
    }
    pthread_mutex_unlock(&d->rates_mu);
}

int dl_campaign_rates(dl_t *d, dl_campaign_rates_t **out, size_t *n)
{
    *out = NULL;
    pthread_mutex_lock(&d->rates_mu);
    *n = d->nrates;
    if (*n && (*out = malloc(*n * sizeof(**out))))
        memcpy(*out, d->rates, *n * sizeof(**out));
    pthread_mutex_unlock(&d->rates_mu);
    if (*n && !*out) {
        *n = 0;
        return CCD_ENOMEM;
    }
    return 0;
}

static void cycle(dl_t *d)
{
    int64_t t0 = clk_mono_us();
    if (!d->load_busy && dl__job_load(d) != 0)
        LOG_WARN_RL(DL_LOG, "campaign list read not submitted: database readers busy");
    dl__reg_snapshot(d);
    bool pressured = db_writes_backpressured(d->db);
    int64_t now = dl__now_ms(d);
    atomic_store(&d->st_in_flight, (int64_t)d->global_live);
    /* Before the callbacks are placed: their agents' pauses go out ahead of the Originates. */
    dl__holds_sync(d);
    for (size_t i = 0; i < d->ncamps; i++) {
        decide(d, d->camps[i], pressured, now);
        dl__pacer_save(d, d->camps[i], false);
    }
    publish_rates(d, now);
    int64_t us = clk_mono_us() - t0;
    atomic_store(&d->st_cycle_us, us);
    ccd_lhist_add(&d->cycle_hist, us);
    if (us > atomic_load(&d->st_cycle_us_max))
        atomic_store(&d->st_cycle_us_max, us);
    atomic_fetch_add(&d->st_cycles, 1);
}

static void handle(dl_t *d, mq_msg_t *m)
{
    switch (m->type) {
    case MSG_DB_READ_DONE:
        dl__job_done(d, (db_read_job_t *)m); /* frees it */
        return;
    case MSG_AMI_RESPONSE: {
        ami_response_t *r = (ami_response_t *)m;
        if (strncmp(r->action_id, DL_HOLD_ID_PREFIX, strlen(DL_HOLD_ID_PREFIX)) == 0)
            dl__hold_answered(d, r);
        else
            originate_answered(d, r);
        break;
    }
    case MSG_REG_CALL_CHANGED:
        dl__reg_observe(d, (reg_change_t *)m);
        break;
    default:
        break;
    }
    m->free(m);
}

static void *dl_main(void *arg)
{
    dl_t *d = arg;
    log_set_thread_name("dialer");
    if (dl__job_recover(d) != 0)
        LOG_WARN(DL_LOG, "recovery of earlier engines' claims not submitted; the database "
                         "writer runs it within a minute");
    int64_t next = clk_mono_ms();
    for (;;) {
        int64_t now = clk_mono_ms();
        atomic_store(&d->st_heartbeat_ms, now);
        if (!d->quitting && now >= next) {
            cycle(d);
            next += d->cf->dialer.cycle_ms;
            if (next <= now)
                next = now + d->cf->dialer.cycle_ms;
            continue;
        }
        if (d->quitting && d->jobs_in_flight == 0)
            break;
        int wait = d->quitting ? 1000 : (int)(next - now);
        mq_msg_t *m = mq_pop(d->inbox, wait);
        if (!m)
            continue;
        if (m->type == MSG_QUIT) {
            d->quitting = true;
            for (size_t i = 0; i < d->ncamps; i++)
                dl__pacer_save(d, d->camps[i], true);
            dl__holds_release(d);
            m->free(m);
            continue;
        }
        handle(d, m);
    }
    return NULL;
}

/* ---- lifecycle ---- */

dl_t *dl_new(const conf_t *cf, reg_t *reg, ami_t *ami, db_t *db, char *err, size_t errlen)
{
    return dl_new_opts(cf, reg, ami, db, NULL, err, errlen);
}

dl_t *dl_new_opts(const conf_t *cf, reg_t *reg, ami_t *ami, db_t *db, const dl_opts_t *opts,
                  char *err, size_t errlen)
{
    if (!cf || !reg || !ami || !db) {
        snprintf(err, errlen, "dialer: configuration, registry, AMI client and database needed");
        return NULL;
    }
    dl_t *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "dialer: out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->rates_mu, NULL);
    d->cf = cf;
    d->reg = reg;
    d->ami = ami;
    d->db = db;
    if (opts)
        d->opts = *opts;
    d->inbox = mq_new("dialer", DL_INBOX_MAX, 0);
    d->obs = hmap_new(1024);
    d->pend = calloc(DL_CLAIM_MAX + DL_MAX_CB, sizeof(*d->pend));
    d->pend_nc = calloc(DL_CLAIM_MAX + DL_MAX_CB, sizeof(*d->pend_nc));
    if (!d->inbox || !d->obs || !d->pend || !d->pend_nc) {
        snprintf(err, errlen, "dialer: out of memory");
        dl_free(d);
        return NULL;
    }
    if (reg_subscribe(reg, d->inbox, REG_SUB_CALLS) != 0) {
        snprintf(err, errlen, "dialer: cannot subscribe to the registry");
        dl_free(d);
        return NULL;
    }
    d->subscribed = true;
    return d;
}

int dl_start(dl_t *d)
{
    if (d->running)
        return CCD_EBUSY;
    if (pthread_create(&d->thread, NULL, dl_main, d) != 0)
        return CCD_ERR;
    d->running = true;
    return 0;
}

void dl_stop(dl_t *d)
{
    if (!d)
        return;
    if (d->running) {
        mq_msg_t *q = mq_msg_quit_new();
        /* A quit that cannot be queued would leave the thread running: force it. */
        if (!q || mq_push_force(d->inbox, q) != 0) {
            if (q)
                q->free(q);
            LOG_ERR(DL_LOG, "cannot stop the dialer thread");
            return;
        }
        pthread_join(d->thread, NULL);
        d->running = false;
    }
    if (d->subscribed) {
        reg_unsubscribe(d->reg, d->inbox);
        d->subscribed = false;
    }
    /* AMI answers still to come (ami_stop) are refused and freed by their sender. */
    mq_close(d->inbox);
}

void dl_free(dl_t *d)
{
    if (!d)
        return;
    dl_stop(d);
    for (size_t i = 0; i < d->ncamps; i++)
        camp_free(d->camps[i]);
    free(d->camps);
    mq_free(d->inbox);
    hmap_free(d->obs);
    free(d->pend);
    free(d->pend_nc);
    free(d->rates);
    dl__holds_free(d);
    pthread_mutex_destroy(&d->rates_mu);
    free(d);
}

void dl_get_stats(dl_t *d, dl_stats_t *o)
{
    memset(o, 0, sizeof(*o));
    o->cycles = atomic_load(&d->st_cycles);
    o->calls_placed = atomic_load(&d->st_placed);
    o->originate_refused = atomic_load(&d->st_refused);
    o->not_placed = atomic_load(&d->st_not_placed);
    o->claims = atomic_load(&d->st_claims);
    o->claims_failed = atomic_load(&d->st_claims_failed);
    o->campaigns_finished = atomic_load(&d->st_finished);
    o->stuck_failed = atomic_load(&d->st_stuck);
    o->pacer_outcomes = atomic_load(&d->st_p_out);
    o->pacer_connects = atomic_load(&d->st_p_conn);
    o->pacer_abandons = atomic_load(&d->st_p_aban);
    o->pacer_ends = atomic_load(&d->st_p_end);
    o->pacer_wrap_ms = atomic_load(&d->st_p_wrap_ms);
    o->pacer_wrap_inputs = atomic_load(&d->st_p_wrap_in);
    o->holds_sent = atomic_load(&d->st_holds);
    o->lifts_sent = atomic_load(&d->st_lifts);
    o->agents_held = atomic_load(&d->st_held);
    o->agents_wrapping = atomic_load(&d->st_wrapping);
    o->calls_in_flight = atomic_load(&d->st_in_flight);
    o->campaigns_active = atomic_load(&d->st_campaigns);
    o->cycle_us_last = atomic_load(&d->st_cycle_us);
    o->cycle_us_max = atomic_load(&d->st_cycle_us_max);
    o->cycle_us_p50 = (int64_t)ccd_lhist_quantile(&d->cycle_hist, 0.5);
    o->cycle_us_p99 = (int64_t)ccd_lhist_quantile(&d->cycle_hist, 0.99);
    o->heartbeat_ms = atomic_load(&d->st_heartbeat_ms);
}
