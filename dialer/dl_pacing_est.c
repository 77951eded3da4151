/*
 * The pacer's estimators: fixed-size sample rings turned into small lookup tables, and
 * bucketed rolling counts.  Samples are kept (rather than running means) because the
 * predictive decision needs conditional probabilities ("this call has rung 9 s: how likely
 * is it answered in the next 10 s?"), which only the shape of a distribution gives.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dialer/dl_pacing_int.h"

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- outcomes ---- */

void dl__outcomes_add(dl__outcomes_t *o, int64_t now_ms, dl_outcome_e kind, int64_t ring_ms)
{
    if (o->unit <= 0) {
        o->unit = 1.0;
        o->unit_at = now_ms;
    }
    if (now_ms > o->unit_at) {
        o->unit *= exp((double)(now_ms - o->unit_at) / DL__OUT_LIFE_MS);
        o->unit_at = now_ms;
    }
    if (o->unit > 1e100) {
        for (int s = 0; s <= DL__RING_STEPS; s++) {
            o->ended_at[s] /= o->unit;
            o->answered_at[s] /= o->unit;
        }
        o->unit = 1.0;
    }
    /* Index s holds outcomes in [s-1 s, s s): "ended before s seconds" sums 1..s. */
    int s = (int)clamp64(ring_ms / 1000 + 1, 1, DL__RING_STEPS);
    o->ended_at[s] += o->unit;
    if (kind == DL_OUT_ANSWERED)
        o->answered_at[s] += o->unit;
    o->n++;
    o->dirty = true;
}

void dl__outcomes_refresh(dl__outcomes_t *o)
{
    if (!o->dirty)
        return;
    double total = 0, answered = 0;
    for (int s = 0; s <= DL__RING_STEPS; s++) {
        total += o->ended_at[s];
        answered += o->answered_at[s];
    }
    double e = 0, a = 0;
    o->max_answer_ms = 0;
    for (int s = 0; s <= DL__RING_STEPS; s++) {
        e += o->ended_at[s];
        a += o->answered_at[s];
        o->ended_by[s] = total > 0 ? (float)(e / total) : 0.0f;
        o->answered_by[s] = total > 0 ? (float)(a / total) : 0.0f;
        /* Answers this slow still count while one of them weighs a hundredth of a new one
         * (about 90 min for a single answer). */
        if (o->answered_at[s] >= 0.01 * o->unit)
            o->max_answer_ms = (int64_t)s * 1000;
    }
    o->p_answer = total > 0 ? answered / total : 0.0;
    o->dirty = false;
}

double dl__outcomes_p_answer(const dl__outcomes_t *o)
{
    return o->p_answer;
}

double dl__outcomes_p_answer_within(const dl__outcomes_t *o, int64_t elapsed_ms, int64_t within_ms)
{
    if (o->n == 0 || within_ms <= 0)
        return 0.0;
    int i0 = (int)clamp64(elapsed_ms / 1000, 0, DL__RING_STEPS);
    int i1 = (int)clamp64((elapsed_ms + within_ms) / 1000, 0, DL__RING_STEPS);
    double alive = 1.0 - o->ended_by[i0];
    if (alive <= 1e-6)
        return 0.0; /* rang longer than any call seen: it is not going to be answered */
    double p = (double)(o->answered_by[i1] - o->answered_by[i0]) / alive;
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}

int64_t dl__outcomes_max_answer_ms(const dl__outcomes_t *o)
{
    return o->max_answer_ms;
}

/* ---- durations ---- */

void dl__dist_add(dl__dist_t *d, int64_t ms)
{
    d->sample_ms[d->next] = (int32_t)clamp64(ms, 0, INT32_MAX);
    d->next = (d->next + 1) % DL__DUR_N;
    if (d->n < DL__DUR_N)
        d->n++;
    d->dirty = true;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void dl__dist_refresh(dl__dist_t *d)
{
    if (!d->dirty)
        return;
    d->dirty = false;
    memset(d->longer_than, 0, sizeof d->longer_than);
    if (d->n == 0)
        return;
    int32_t sorted[DL__DUR_N];
    memcpy(sorted, d->sample_ms, (size_t)d->n * sizeof sorted[0]);
    qsort(sorted, (size_t)d->n, sizeof sorted[0], cmp_i32);
    double sum = 0;
    for (int i = 0; i < d->n; i++)
        sum += sorted[i];
    d->mean_ms = sum / d->n;
    for (int q = 0; q < DL__DUR_QUANTILES; q++)
        d->quantile_ms[q] = sorted[(2 * q + 1) * d->n / (2 * DL__DUR_QUANTILES)];
    /* The table spans the longest sample, in steps of at least a second. */
    int32_t max = sorted[d->n - 1];
    int32_t step = (max + DL__DUR_STEPS - 1) / DL__DUR_STEPS;
    d->step_ms = step < 1000 ? 1000 : step;
    /* longer_than[i] = samples > i * step: walk the sorted samples once. */
    int j = 0;
    for (int i = 0; i <= DL__DUR_STEPS; i++) {
        int64_t x = (int64_t)i * d->step_ms;
        while (j < d->n && sorted[j] <= x)
            j++;
        d->longer_than[i] = (uint16_t)(d->n - j);
    }
}

/* Share of samples longer than x ms, linear between the table's points. */
static double survival(const dl__dist_t *d, int64_t x)
{
    if (x <= 0)
        return (double)d->longer_than[0] / d->n;
    int64_t i = x / d->step_ms;
    if (i >= DL__DUR_STEPS)
        return 0.0;
    double f = (double)(x - i * d->step_ms) / d->step_ms;
    double a = d->longer_than[i], b = d->longer_than[i + 1];
    return (a + (b - a) * f) / d->n;
}

double dl__dist_p_end_within(const dl__dist_t *d, int64_t elapsed_ms, int64_t within_ms)
{
    if (d->n == 0 || within_ms <= 0)
        return 0.0;
    double alive = survival(d, elapsed_ms);
    /* Longer than every sample seen: no shape to go by, so assume a memoryless end. */
    if (alive * d->n < 0.5)
        return d->mean_ms > 0 ? 1.0 - exp(-(double)within_ms / d->mean_ms) : 1.0;
    double p = 1.0 - survival(d, elapsed_ms + within_ms) / alive;
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}

void dl__dist_p_end_within_n(const dl__dist_t *d, int64_t elapsed_ms, const int64_t *within_ms,
                             int count, double *p)
{
    double alive = d->n ? survival(d, elapsed_ms) : 0.0;
    bool memoryless = alive * d->n < 0.5;
    for (int i = 0; i < count; i++) {
        if (d->n == 0 || within_ms[i] <= 0)
            p[i] = 0.0;
        else if (memoryless)
            p[i] = d->mean_ms > 0 ? 1.0 - exp(-(double)within_ms[i] / d->mean_ms) : 1.0;
        else {
            double v = 1.0 - survival(d, elapsed_ms + within_ms[i]) / alive;
            p[i] = v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
        }
    }
}

/* ---- rolling counts ---- */

void dl__window_init(dl__window_t *w, dl__bucket_t *b, int nb, int64_t width_ms)
{
    w->b = b;
    w->nb = nb;
    w->width_ms = width_ms;
    for (int i = 0; i < nb; i++)
        b[i] = (dl__bucket_t){.index = -1};
}

void dl__window_add(dl__window_t *w, int64_t now_ms, uint32_t answered, uint32_t abandoned)
{
    int64_t idx = now_ms < 0 ? 0 : now_ms / w->width_ms;
    dl__bucket_t *b = &w->b[idx % w->nb];
    if (b->index != idx) {
        if (b->index > idx)
            return; /* older than the window already kept: too late to count here */
        *b = (dl__bucket_t){.index = idx};
    }
    b->answered += answered;
    b->abandoned += abandoned;
}

void dl__window_sum(const dl__window_t *w, int64_t now_ms, uint64_t *answered, uint64_t *abandoned)
{
    int64_t idx = now_ms < 0 ? 0 : now_ms / w->width_ms;
    uint64_t a = 0, x = 0;
    for (int i = 0; i < w->nb; i++) {
        const dl__bucket_t *b = &w->b[i];
        if (b->index >= 0 && b->index <= idx && b->index > idx - w->nb) {
            a += b->answered;
            x += b->abandoned;
        }
    }
    *answered = a;
    *abandoned = x;
}
