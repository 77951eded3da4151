/*
 * dl_pacing: the pacer's state, its observations and the per-cycle decision.
 * Preview and progressive are exact rules; predictive's model is in dl_pacing_predict.c,
 * its safety (the allowance tuned from the measured rate, the fallback) is here.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dialer/dl_pacing_int.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

/* Predictive needs this much history before it overdials (until then: progressive). */
#define MIN_OUTCOMES 50
#define MIN_CYCLES 20
/* The measured rate the allowance steers to, and where the fallback starts and ends, as
 * shares of the target.  Aiming below the cap leaves room for a bad hour inside a 24 h
 * window (at 5 agents, where a day holds fewest calls, the worst 24 h of bench/pacing comes
 * within 0.1 point of the cap at these; with the fallback at 0.95 / 0.9 it came within 0.02);
 * the gap between the last two keeps the fallback from flapping. */
#define GOAL_SHARE 0.85
#define FALLBACK_ON_SHARE 0.93
#define FALLBACK_OFF_SHARE 0.88
#define FALLBACK_MIN_ANSWERED 300
/* How far one answered call moves the allowance (in log): an abandon lowers it by this,
 * about 1/goal calls without one raise it by as much. */
#define STEP 0.03
/* The tables behind the estimators are rebuilt at most this often: one more sample in a
 * hundred does not move them, and the rebuild (a sort) would cost more than the decision. */
#define REFRESH_MS 30000

struct dl_pacer {
    dl_pacing_params_t prm;
    dl__outcomes_t out;
    dl__dist_t cycle, talk, wrap; /* agents: connected to ready, talk, wrap-up */
    dl__bucket_t day_b[DL__DAY_BUCKETS], month_b[DL__MONTH_BUCKETS];
    dl__window_t day, month;
    uint64_t life_answered, life_abandoned;
    uint64_t observations; /* outcomes and agent cycles fed (dl_pacer_observations) */
    bool fallback; /* predictive holds back to progressive (see update_fallback) */
    double log_risk; /* log of the risk one more call may take (dl__predict's allowance) */
    bool refreshed;  /* the estimators' tables were built once, at refreshed_at */
    int64_t refreshed_at;
};

static double risk_min(const dl_pacer_t *p)
{
    return p->prm.abandon_target / 20;
}

static double risk_max(void)
{
    return 0.5;
}

dl_pacer_t *dl_pacer_new(const dl_pacing_params_t *params)
{
    dl_pacer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    dl_pacer_set_params(p, params);
    /* Start cautious: the allowance rises to its level as answered calls come in. */
    p->log_risk = p->prm.abandon_target > 0 ? log(p->prm.abandon_target / 3) : 0;
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
    dl__outcomes_add(&p->out, now_ms, out, ring_ms);
    p->observations++;
    if (out == DL_OUT_ANSWERED) {
        dl__window_add(&p->day, now_ms, 1, 0);
        dl__window_add(&p->month, now_ms, 1, 0);
        p->life_answered++;
    }
}

/* The allowance follows the measured outcome of each answered call while predictive is
 * actually overdialing (not in the other modes, nor while falling back, where abandons are
 * rare for reasons of their own and would wind it up). */
static void steer(dl_pacer_t *p, bool abandoned)
{
    if (p->prm.mode != DL_MODE_PREDICTIVE || p->fallback || p->prm.abandon_target <= 0)
        return;
    double goal = GOAL_SHARE * p->prm.abandon_target;
    /* Balanced exactly when the share of abandons is the goal. */
    p->log_risk += abandoned ? -STEP : STEP * goal / (1.0 - goal);
    double lo = log(risk_min(p)), hi = log(risk_max());
    p->log_risk = p->log_risk < lo ? lo : p->log_risk > hi ? hi : p->log_risk;
}

static void count_abandon(dl_pacer_t *p, int64_t now_ms)
{
    dl__window_add(&p->day, now_ms, 0, 1);
    dl__window_add(&p->month, now_ms, 0, 1);
    p->life_abandoned++;
}

void dl_pacer_call_connected(dl_pacer_t *p, int64_t now_ms, int64_t wait_ms)
{
    bool late = wait_ms > p->prm.abandon_grace_ms;
    if (late)
        count_abandon(p, now_ms);
    steer(p, late);
}

void dl_pacer_call_abandoned(dl_pacer_t *p, int64_t now_ms)
{
    count_abandon(p, now_ms);
    steer(p, true);
}

void dl_pacer_agent_done(dl_pacer_t *p, int64_t now_ms, int64_t talk_ms, int64_t wrap_ms)
{
    (void)now_ms;
    if (talk_ms < 0 || wrap_ms < 0)
        return;
    dl__dist_add(&p->cycle, talk_ms + wrap_ms);
    dl__dist_add(&p->talk, talk_ms);
    dl__dist_add(&p->wrap, wrap_ms);
    p->observations++;
}

void dl_pacer_seed(dl_pacer_t *p, uint64_t answered, uint64_t abandoned)
{
    p->life_answered += answered;
    p->life_abandoned += abandoned > answered ? answered : abandoned;
}

void dl_pacer_seed_window(dl_pacer_t *p, int64_t at_ms, uint64_t answered, uint64_t abandoned)
{
    if (abandoned > answered)
        abandoned = answered;
    /* A bucket holds 32-bit counts: a seed beyond that is cut, not wrapped. */
    uint32_t a = answered > UINT32_MAX ? UINT32_MAX : (uint32_t)answered;
    uint32_t x = abandoned > a ? a : (uint32_t)abandoned;
    dl__window_add(&p->day, at_ms, a, x);
    dl__window_add(&p->month, at_ms, a, x);
}

double dl_pacer_allowance(const dl_pacer_t *p)
{
    return exp(p->log_risk);
}

bool dl_pacer_seed_allowance(dl_pacer_t *p, double allowance, double tuned_target, int64_t age_ms)
{
    if (!(allowance > 0) || !(tuned_target > 0) || p->prm.abandon_target <= 0 ||
        age_ms > DL_PACER_STATE_MAX_AGE_MS)
        return false;
    double lr = log(allowance * p->prm.abandon_target / tuned_target);
    double lo = log(risk_min(p)), hi = log(risk_max());
    p->log_risk = lr < lo ? lo : lr > hi ? hi : lr;
    return true;
}

int dl_pacer_export_estimates(const dl_pacer_t *p, int64_t now_ms, char *out, size_t len)
{
    return dl__estimates_format(&p->out, &p->talk, &p->wrap, &p->cycle, now_ms, out, len);
}

int dl_pacer_seed_estimates(dl_pacer_t *p, int64_t now_ms, const char *text, int64_t age_ms)
{
    if (age_ms > DL_PACER_STATE_MAX_AGE_MS)
        return -1;
    /* Parsed aside (about 6 KB of stack): a line refused halfway leaves the pacer as it was. */
    dl__outcomes_t out;
    dl__dist_t talk, wrap, cycle;
    if (dl__estimates_parse(text, now_ms, &out, &talk, &wrap, &cycle) != 0)
        return -1;
    p->out = out;
    p->talk = talk;
    p->wrap = wrap;
    p->cycle = cycle;
    p->refreshed = false;
    return 0;
}

uint64_t dl_pacer_observations(const dl_pacer_t *p)
{
    return p->observations;
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
    out->allowance = exp(p->log_risk);
}

/* One call per free agent, less the calls already on their way to one. */
static int progressive(const dl_pace_input_t *in)
{
    int n = in->agents_free - in->calls_ringing - in->calls_waiting;
    return n > 0 ? n : 0;
}

/* A window's rate as the fallback reads it: a window with few answered calls counts as if
 * it had FALLBACK_MIN_ANSWERED, so that the first abandon of the day among twenty answered
 * calls does not stop predictive, while a run of abandons still does.  (The 24 h figure a
 * regulator reads is over a day's calls, far more than this.) */
static double guarded_rate(uint64_t answered, uint64_t abandoned)
{
    return (double)abandoned /
           (double)(answered > FALLBACK_MIN_ANSWERED ? answered : FALLBACK_MIN_ANSWERED);
}

/* Falls back when any measured rate nears the cap; resumes once all are clearly below. */
static void update_fallback(dl_pacer_t *p, int64_t now_ms)
{
    uint64_t a, x;
    dl__window_sum(&p->day, now_ms, &a, &x);
    double worst = guarded_rate(a, x);
    dl__window_sum(&p->month, now_ms, &a, &x);
    double r = guarded_rate(a, x);
    worst = r > worst ? r : worst;
    r = guarded_rate(p->life_answered, p->life_abandoned);
    worst = r > worst ? r : worst;
    double target = p->prm.abandon_target;
    if (worst >= FALLBACK_ON_SHARE * target)
        p->fallback = true;
    else if (worst < FALLBACK_OFF_SHARE * target)
        p->fallback = false;
}

static int predictive(dl_pacer_t *p, const dl_pace_input_t *in, int room)
{
    int floor = progressive(in);
    update_fallback(p, in->now_ms);
    /* The first cycles to end are the short ones: wait until about every agent has ended
     * one before trusting their shape. */
    int agents = in->agents_free + in->agents_busy;
    int min_cycles = agents > MIN_CYCLES ? agents : MIN_CYCLES;
    if (min_cycles > DL__DUR_N)
        min_cycles = DL__DUR_N;
    if (p->fallback || p->prm.abandon_target <= 0 || p->out.n < MIN_OUTCOMES ||
        p->cycle.n < min_cycles)
        return floor;
    if (!p->refreshed || in->now_ms - p->refreshed_at >= REFRESH_MS || in->now_ms < p->refreshed_at) {
        dl__outcomes_refresh(&p->out);
        dl__dist_refresh(&p->cycle);
        dl__dist_refresh(&p->talk);
        dl__dist_refresh(&p->wrap);
        p->refreshed = true;
        p->refreshed_at = in->now_ms;
    }
    /* Never more than a few times the agents over the answer rate: a bound on the work,
     * far above what the model asks for. */
    double pa = dl__outcomes_p_answer(&p->out);
    long cap = (long)((in->agents_free + in->agents_busy + 1) * 4 / (pa > 0.02 ? pa : 0.02));
    if (cap > room)
        cap = room;
    if (cap > 100000)
        cap = 100000;
    dl__model_t m = {.out = &p->out, .cycle = &p->cycle, .talk = &p->talk, .wrap = &p->wrap};
    int n = dl__predict(&m, in, exp(p->log_risk), p->prm.abandon_grace_ms, (int)cap);
    return n > floor ? n : floor;
}

/* Counts below zero mean a caller's bookkeeping slipped; read them as none rather than let
 * a negative count of ringing calls make room for more. */
static int nonneg(int v)
{
    return v > 0 ? v : 0;
}

int dl_pacer_decide(dl_pacer_t *p, const dl_pace_input_t *given)
{
    dl_pace_input_t clean = *given;
    const dl_pace_input_t *in = &clean;
    clean.agents_free = nonneg(given->agents_free);
    clean.agents_busy = nonneg(given->agents_busy);
    clean.calls_ringing = nonneg(given->calls_ringing);
    clean.calls_waiting = nonneg(given->calls_waiting);
    clean.calls_reserved = nonneg(given->calls_reserved);
    int room = INT_MAX;
    if (p->prm.max_channels > 0) {
        room = p->prm.max_channels - in->calls_ringing - in->calls_waiting;
        if (room < 0)
            room = 0;
    }
    int n;
    switch (p->prm.mode) {
    case DL_MODE_PROGRESSIVE:
        n = progressive(in);
        break;
    case DL_MODE_PREDICTIVE:
        n = predictive(p, in, room);
        break;
    case DL_MODE_PREVIEW:
    default:
        n = 0;
        break;
    }
    /* Reserved calls (callbacks) are part of the count, never on top of it. */
    if (n < in->calls_reserved)
        n = in->calls_reserved;
    if (n > room)
        n = room;
    return n > 0 ? n : 0;
}
