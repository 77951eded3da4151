/*
 * dl_pacing: the pacer's state, its observations and the per-cycle decision.
 * Preview and progressive are exact rules; predictive is in dl_pacing_predict.c.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dialer/dl_pacing_int.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

struct dl_pacer {
    dl_pacing_params_t prm;
    dl__outcomes_t out;
    dl__service_t svc;
    dl__bucket_t day_b[DL__DAY_BUCKETS], month_b[DL__MONTH_BUCKETS];
    dl__window_t day, month;
    uint64_t life_answered, life_abandoned;
    bool fallback; /* predictive holds back to progressive (see update_fallback) */
};

dl_pacer_t *dl_pacer_new(const dl_pacing_params_t *params)
{
    dl_pacer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    dl_pacer_set_params(p, params);
    dl__window_init(&p->day, p->day_b, DL__DAY_BUCKETS, DAY_MS / DL__DAY_BUCKETS);
    dl__window_init(&p->month, p->month_b, DL__MONTH_BUCKETS, DAY_MS);
    return p;
}

void dl_pacer_free(dl_pacer_t *p)
{
    free(p);
}

void dl_pacer_set_params(dl_pacer_t *p, const dl_pacing_params_t *params)
{
    p->prm = *params;
}

void dl_pacer_call_outcome(dl_pacer_t *p, int64_t now_ms, dl_outcome_e out, int64_t ring_ms)
{
    if (out != DL_OUT_FAILED && out != DL_OUT_NOANSWER && out != DL_OUT_ANSWERED)
        return;
    dl__outcomes_add(&p->out, out, ring_ms);
    if (out == DL_OUT_ANSWERED) {
        dl__window_add(&p->day, now_ms, 1, 0);
        dl__window_add(&p->month, now_ms, 1, 0);
        p->life_answered++;
    }
}

static void count_abandon(dl_pacer_t *p, int64_t now_ms)
{
    dl__window_add(&p->day, now_ms, 0, 1);
    dl__window_add(&p->month, now_ms, 0, 1);
    p->life_abandoned++;
}

void dl_pacer_call_connected(dl_pacer_t *p, int64_t now_ms, int64_t wait_ms)
{
    if (wait_ms > p->prm.abandon_grace_ms)
        count_abandon(p, now_ms);
}

void dl_pacer_call_abandoned(dl_pacer_t *p, int64_t now_ms)
{
    count_abandon(p, now_ms);
}

void dl_pacer_agent_done(dl_pacer_t *p, int64_t now_ms, int64_t talk_ms, int64_t wrap_ms)
{
    (void)now_ms;
    if (talk_ms < 0 || wrap_ms < 0)
        return;
    dl__service_add(&p->svc, talk_ms + wrap_ms);
}

void dl_pacer_seed(dl_pacer_t *p, uint64_t answered, uint64_t abandoned)
{
    p->life_answered += answered;
    p->life_abandoned += abandoned > answered ? answered : abandoned;
}

static double rate(uint64_t answered, uint64_t abandoned)
{
    return answered ? (double)abandoned / (double)answered : 0.0;
}

void dl_pacer_rates(const dl_pacer_t *p, int64_t now_ms, dl_pace_rates_t *out)
{
    uint64_t ma, mx;
    memset(out, 0, sizeof *out);
    dl__window_sum(&p->day, now_ms, &out->answered_day, &out->abandoned_day);
    dl__window_sum(&p->month, now_ms, &ma, &mx);
    out->day = rate(out->answered_day, out->abandoned_day);
    out->month = rate(ma, mx);
    out->lifetime = rate(p->life_answered, p->life_abandoned);
    out->fallback_progressive = p->fallback;
}

/* One call per free agent, less the calls already on their way to one. */
static int progressive(const dl_pace_input_t *in)
{
    int n = in->agents_free - in->calls_ringing - in->calls_waiting;
    return n > 0 ? n : 0;
}

int dl_pacer_decide(dl_pacer_t *p, const dl_pace_input_t *in)
{
    int n;
    switch (p->prm.mode) {
    case DL_MODE_PROGRESSIVE:
        n = progressive(in);
        break;
    case DL_MODE_PREDICTIVE:
        n = progressive(in); /* until the predictive model lands: never overdials */
        break;
    case DL_MODE_PREVIEW:
    default:
        n = 0;
        break;
    }
    /* Reserved calls (callbacks) are part of the count, never on top of it. */
    if (n < in->calls_reserved)
        n = in->calls_reserved;
    if (p->prm.max_channels > 0) {
        int room = p->prm.max_channels - in->calls_ringing - in->calls_waiting;
        if (n > room)
            n = room;
    }
    return n > 0 ? n : 0;
}
