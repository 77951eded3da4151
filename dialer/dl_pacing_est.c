/*
 * The pacer's estimators: fixed-size sample rings turned into small lookup tables, and
 * bucketed rolling counts.  Samples are kept (rather than running means) because the
 * predictive decision needs conditional probabilities ("this call has rung 9 s: how likely
 * is it answered in the next 10 s?"), which only the shape of a distribution gives.
 */
#include <math.h>
#include <string.h>

#include "dialer/dl_pacing_int.h"

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- outcomes ---- */

void dl__outcomes_add(dl__outcomes_t *o, dl_outcome_e kind, int64_t ring_ms)
{
    o->ring_ms[o->next] = (int32_t)clamp64(ring_ms, 0, INT32_MAX);
    o->kind[o->next] = (uint8_t)kind;
    o->next = (o->next + 1) % DL__OUT_N;
    if (o->n < DL__OUT_N)
        o->n++;
    o->dirty = true;
}

void dl__outcomes_refresh(dl__outcomes_t *o)
{
    if (!o->dirty)
        return;
    uint16_t ended_at[DL__RING_STEPS + 1], answered_at[DL__RING_STEPS + 1];
    memset(ended_at, 0, sizeof ended_at);
    memset(answered_at, 0, sizeof answered_at);
    for (int i = 0; i < o->n; i++) {
        /* Index s holds outcomes in [s-1 s, s s): "ended before s seconds" sums 0..s. */
        int s = (int)clamp64(o->ring_ms[i] / 1000 + 1, 1, DL__RING_STEPS);
        ended_at[s]++;
        if (o->kind[i] == DL_OUT_ANSWERED)
            answered_at[s]++;
    }
    uint16_t e = 0, a = 0;
    for (int s = 0; s <= DL__RING_STEPS; s++) {
        e = (uint16_t)(e + ended_at[s]);
        a = (uint16_t)(a + answered_at[s]);
        o->ended_by[s] = e;
        o->answered_by[s] = a;
    }
    o->dirty = false;
}

double dl__outcomes_p_answer(const dl__outcomes_t *o)
{
    if (o->n == 0)
        return 0.0;
    int a = 0;
    for (int i = 0; i < o->n; i++)
        a += o->kind[i] == DL_OUT_ANSWERED;
    return (double)a / o->n;
}

double dl__outcomes_p_answer_within(const dl__outcomes_t *o, int64_t elapsed_ms, int64_t within_ms)
{
    if (o->n == 0 || within_ms <= 0)
        return 0.0;
    int i0 = (int)clamp64(elapsed_ms / 1000, 0, DL__RING_STEPS);
    int i1 = (int)clamp64((elapsed_ms + within_ms) / 1000, 0, DL__RING_STEPS);
    int alive = o->n - o->ended_by[i0];
    if (alive <= 0)
        return 0.0; /* rang longer than any call seen: it is not going to be answered */
    double p = (double)(o->answered_by[i1] - o->answered_by[i0]) / alive;
    return p > 1.0 ? 1.0 : p;
}

int64_t dl__outcomes_max_answer_ms(const dl__outcomes_t *o)
{
    int64_t m = 0;
    for (int i = 0; i < o->n; i++)
        if (o->kind[i] == DL_OUT_ANSWERED && o->ring_ms[i] > m)
            m = o->ring_ms[i];
    return m;
}

/* ---- agent cycles ---- */

void dl__service_add(dl__service_t *s, int64_t cycle_ms)
{
    s->cycle_ms[s->next] = (int32_t)clamp64(cycle_ms, 0, INT32_MAX);
    s->next = (s->next + 1) % DL__SVC_N;
    if (s->n < DL__SVC_N)
        s->n++;
    s->dirty = true;
}

void dl__service_refresh(dl__service_t *s)
{
    if (!s->dirty)
        return;
    int32_t max = 0;
    double sum = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->cycle_ms[i] > max)
            max = s->cycle_ms[i];
        sum += s->cycle_ms[i];
    }
    s->mean_ms = s->n ? sum / s->n : 0.0;
    /* The table spans the longest cycle seen, in steps of at least a second. */
    int32_t step = (max + DL__SVC_STEPS - 1) / DL__SVC_STEPS;
    s->step_ms = step < 1000 ? 1000 : step;
    uint16_t at[DL__SVC_STEPS + 2];
    memset(at, 0, sizeof at);
    for (int i = 0; i < s->n; i++) {
        /* A cycle of c ms is longer than the points 0 .. ceil(c / step) - 1. */
        int k = (int)clamp64(((int64_t)s->cycle_ms[i] + s->step_ms - 1) / s->step_ms, 0,
                             DL__SVC_STEPS + 1);
        at[k]++;
    }
    /* longer_than[i] = number of cycles with k > i. */
    uint16_t acc = 0;
    for (int i = DL__SVC_STEPS + 1; i >= 1; i--) {
        acc = (uint16_t)(acc + at[i]);
        s->longer_than[i - 1] = acc;
    }
    s->dirty = false;
}

/* Share of cycles longer than x ms, linear between the table's points. */
static double survival(const dl__service_t *s, int64_t x)
{
    if (x <= 0)
        return (double)s->longer_than[0] / s->n;
    int64_t i = x / s->step_ms;
    if (i >= DL__SVC_STEPS)
        return 0.0;
    double f = (double)(x - i * s->step_ms) / s->step_ms;
    double a = s->longer_than[i], b = s->longer_than[i + 1];
    return (a + (b - a) * f) / s->n;
}

double dl__service_p_free_within(const dl__service_t *s, int64_t elapsed_ms, int64_t within_ms)
{
    if (s->n == 0 || within_ms <= 0)
        return 0.0;
    double alive = survival(s, elapsed_ms);
    /* Busier than every cycle seen: no shape to go by, so assume a memoryless end. */
    if (alive * s->n < 0.5)
        return s->mean_ms > 0 ? 1.0 - exp(-(double)within_ms / s->mean_ms) : 1.0;
    double p = 1.0 - survival(s, elapsed_ms + within_ms) / alive;
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
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
