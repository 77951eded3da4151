/*
 * The predictive model.  Over the next H ms (H = the longest time to answer seen), look at
 * a few instants t and compare the calls answered by t with the agents ready by t + grace:
 *
 *   D(t) = waiting + sum over ringing calls of P(answered by t | rang so far)
 *        + (calls placed now) * P(a new call is answered by t)
 *        - free - sum over busy agents of P(ready by t + grace | busy so far)
 *
 * Every term is a sum of independent yes/no events, so D(t) is taken as normal with the
 * summed means and variances, or, with few of them (EXACT_MAX ringing calls and busy agents
 * at most, a small team), summed exactly.  A new call answered at t finds nobody when D(t) >= 0
 * (counting the calls before it); its risk is that probability averaged over when it may
 * be answered.  Calls are added one by one while the next one's risk stays within the
 * allowance, which the pacer tunes from the abandon rate it measures (dl_pacing.c): the
 * model gives the shape (how many calls this state takes), the measurement its level.
 *
 * A busy agent whose ready time the caller knows (ready_at_ms) adds a sure term instead.
 *
 * Answers counted in D(t) include calls that will themselves be abandoned and so take no
 * agent; ignoring that errs on the safe side and matters little at a few percent.
 *
 * Cost: calls and agents are first counted into bins of equal elapsed time (1 s for
 * ringing calls, a table step for agents), so the work grows with the number of distinct
 * bins, not with the size of the campaign.  The bins live on the stack: no allocation.  The
 * exact sum costs up to EXACT_MAX^2 steps per instant, only where the campaign is that small.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "dialer/dl_pacing_int.h"

/* Instants looked at over the horizon: about every 4 s for the usual 20-25 s (more bought
 * nothing measurable in bench/pacing and cost time in every cycle). */
#define POINTS 6

static double normal_cdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

/* Up to this many uncertain terms (ringing calls and busy agents), D(t) is summed exactly
 * rather than taken as normal: with a handful of agents and calls its few yes/no events are
 * far from a bell curve. */
#define EXACT_MAX 48

typedef struct term {
    int cnt, sign;            /* cnt events of probability p[k] each, adding sign to D */
    double p[POINTS + 1];
} term_t;

typedef struct sums {
    double mean[POINTS + 1], var[POINTS + 1];
    int64_t t[POINTS + 1];
    /* The exact path: the sure part of D(t) and the uncertain terms. */
    bool exact;
    int base[POINTS + 1];
    int nterms;
    term_t term[EXACT_MAX];
} sums_t;

static void add_term(sums_t *s, int cnt, int sign, int k, double p)
{
    s->mean[k] += sign * cnt * p;
    s->var[k] += cnt * p * (1 - p);
    if (!s->exact)
        return;
    if (k == 0) {
        s->term[s->nterms].cnt = cnt;
        s->term[s->nterms].sign = sign;
        s->nterms++;
    }
    s->term[s->nterms - 1].p[k] = p;
}

/* The exact path's table: tail[v] = P(X >= v - EXACT_MAX), X the uncertain part of D(t_k)
 * (between -EXACT_MAX and EXACT_MAX), built one yes/no event at a time. */
#define TAIL_N (2 * EXACT_MAX + 2)
static_assert(EXACT_MAX <= 64, "the tables live on the stack");

static void exact_tail(const sums_t *s, int k, double *tail)
{
    double pmf[2 * EXACT_MAX + 1];
    memset(pmf, 0, sizeof pmf);
    pmf[EXACT_MAX] = 1.0;
    int lo = EXACT_MAX, hi = EXACT_MAX; /* the support so far */
    for (int i = 0; i < s->nterms; i++) {
        const term_t *tm = &s->term[i];
        double p = tm->p[k];
        if (p <= 0)
            continue;
        for (int c = 0; c < tm->cnt; c++) {
            if (tm->sign > 0) {
                for (int v = hi + 1; v > lo; v--)
                    pmf[v] = pmf[v] * (1 - p) + pmf[v - 1] * p;
                pmf[lo] *= 1 - p;
                hi++;
            } else {
                for (int v = lo - 1; v < hi; v++)
                    pmf[v] = pmf[v] * (1 - p) + pmf[v + 1] * p;
                pmf[hi] *= 1 - p;
                lo--;
            }
        }
    }
    double acc = 0;
    tail[TAIL_N - 1] = 0;
    for (int v = TAIL_N - 2; v >= 0; v--) {
        acc += pmf[v];
        tail[v] = acc > 1.0 ? 1.0 : acc;
    }
}

/* P(base + X + Bin(n, a) >= 0): the binomial's terms by recurrence. */
static double exact_risk(const double *tail, int base, int n, double a)
{
    double q = 1 - a, pj = 1, sum = 0;
    for (int c = 0; c < n; c++)
        pj *= q;
    for (int j = 0; j <= n; j++) {
        int64_t v = -(int64_t)base - j + EXACT_MAX; /* X >= -base - j */
        sum += pj * (v <= 0 ? 1.0 : v >= TAIL_N ? 0.0 : tail[v]);
        if (j < n)
            pj = q > 0 ? pj * (double)(n - j) / (double)(j + 1) * a / q : (j + 1 == n ? 1 : 0);
    }
    return sum > 1 ? 1 : sum;
}

/* Bin index of an elapsed time in a table of steps of step_ms; the last bin takes the rest. */
static int bin_of(int64_t elapsed, int64_t step, int nbins)
{
    if (elapsed <= 0)
        return 0;
    int64_t b = elapsed / step;
    return b >= nbins ? nbins - 1 : (int)b;
}

/* Agents: count bins of one distribution, then add their expected frees to the sums.
 * offset_ms[q] (nq of them) are equally likely extra durations still to come after this
 * one ends (the wrap-up after a talk), none for the others. */
static void add_agents(sums_t *s, const dl__dist_t *d, const int *cnt, int nbins,
                       const int32_t *offset_ms, int nq, int64_t grace_ms)
{
    int64_t within[(POINTS + 1) * DL__DUR_QUANTILES];
    double p[(POINTS + 1) * DL__DUR_QUANTILES];
    int nw = nq ? nq : 1;
    for (int k = 0; k <= POINTS; k++)
        for (int q = 0; q < nw; q++)
            within[k * nw + q] = s->t[k] + grace_ms - (nq ? offset_ms[q] : 0);
    for (int b = 0; b < nbins; b++) {
        if (!cnt[b])
            continue;
        int64_t elapsed = (int64_t)b * d->step_ms + d->step_ms / 2;
        dl__dist_p_end_within_n(d, elapsed, within, (POINTS + 1) * nw, p);
        for (int k = 0; k <= POINTS; k++) {
            double f = 0;
            for (int q = 0; q < nw; q++)
                f += p[k * nw + q];
            f /= nw;
            add_term(s, cnt[b], -1, k, f);
        }
    }
}

int dl__predict(const dl__model_t *m, const dl_pace_input_t *in, double risk, int64_t grace_ms,
                int n_max)
{
    const dl__outcomes_t *o = m->out;
    int64_t horizon = dl__outcomes_max_answer_ms(o);
    if (o->n == 0 || m->cycle->n == 0 || horizon <= 0 || n_max <= 0)
        return 0;
    bool wrap_known = in->wrap_since_ms && m->talk->n > 0 && m->wrap->n > 0;

    sums_t s;
    s.exact = in->calls_ringing + in->agents_busy <= EXACT_MAX;
    s.nterms = 0;
    double a_new[POINTS + 1];
    for (int k = 0; k <= POINTS; k++) {
        s.t[k] = horizon * k / POINTS;
        s.mean[k] = in->calls_waiting - in->agents_free;
        s.base[k] = in->calls_waiting - in->agents_free;
        s.var[k] = 0;
        /* "Within t + 1 ms" so that t = horizon includes the slowest answer. */
        a_new[k] = dl__outcomes_p_answer_within(o, 0, s.t[k] + 1);
    }

    int ring[DL__RING_STEPS + 1];
    memset(ring, 0, sizeof ring);
    for (int i = 0; i < in->calls_ringing; i++) {
        int64_t rang = in->ringing_since_ms ? in->now_ms - in->ringing_since_ms[i] : 0;
        ring[bin_of(rang, 1000, DL__RING_STEPS + 1)]++;
    }
    for (int b = 0; b <= DL__RING_STEPS; b++) {
        if (!ring[b])
            continue;
        for (int k = 0; k <= POINTS; k++) {
            double a = dl__outcomes_p_answer_within(o, (int64_t)b * 1000 + 500, s.t[k] + 1);
            add_term(&s, ring[b], 1, k, a);
        }
    }

    /* One bin past the table for agents busier than every sample seen. */
    enum { NB = DL__DUR_STEPS + 1 };
    int talk[NB], wrap[NB], cycle[NB];
    memset(talk, 0, sizeof talk);
    memset(wrap, 0, sizeof wrap);
    memset(cycle, 0, sizeof cycle);
    for (int j = 0; j < in->agents_busy; j++) {
        if (in->ready_at_ms && in->ready_at_ms[j] >= 0) {
            /* Known: ready by t + grace or not, with no variance. */
            for (int k = 0; k <= POINTS; k++)
                if (in->ready_at_ms[j] <= in->now_ms + s.t[k] + grace_ms) {
                    s.mean[k] -= 1;
                    s.base[k] -= 1;
                }
            continue;
        }
        int64_t since = in->busy_since_ms ? in->busy_since_ms[j] : in->now_ms;
        int64_t w = wrap_known ? in->wrap_since_ms[j] : -1;
        if (!wrap_known)
            cycle[bin_of(in->now_ms - since, m->cycle->step_ms, NB)]++;
        else if (w >= 0)
            wrap[bin_of(in->now_ms - w, m->wrap->step_ms, NB)]++;
        else
            talk[bin_of(in->now_ms - since, m->talk->step_ms, NB)]++;
    }
    if (wrap_known) {
        add_agents(&s, m->wrap, wrap, NB, NULL, 0, grace_ms);
        /* Still talking: the talk ends, then a whole wrap-up passes; the wrap-up is taken
         * as its quartiles, equally likely. */
        add_agents(&s, m->talk, talk, NB, m->wrap->quantile_ms, DL__DUR_QUANTILES, grace_ms);
    } else {
        add_agents(&s, m->cycle, cycle, NB, NULL, 0, grace_ms);
    }

    double answered = a_new[POINTS];
    if (answered <= 0)
        return 0;
    double tail[POINTS + 1][TAIL_N];
    if (s.exact)
        for (int k = 0; k <= POINTS; k++)
            exact_tail(&s, k, tail[k]);
    int n = 0;
    while (n < n_max) {
        /* The risk of call n + 1, with n already placed. */
        double r = 0;
        for (int k = 0; k <= POINTS; k++) {
            double w = a_new[k] - (k ? a_new[k - 1] : 0);
            if (w <= 0)
                continue;
            /* Past EXACT_MAX new calls (many free agents) the normal serves again. */
            if (s.exact && n <= EXACT_MAX) {
                r += w * exact_risk(tail[k], s.base[k], n, a_new[k]);
                continue;
            }
            double mu = s.mean[k] + n * a_new[k];
            double sd = sqrt(s.var[k] + n * a_new[k] * (1 - a_new[k]) + 0.25);
            r += w * normal_cdf((mu + 0.5) / sd);
        }
        if (r / answered > risk)
            break;
        n++;
    }
    return n;
}
