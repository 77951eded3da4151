/*
 * The predictive model.  Over the next H seconds (H = the longest time to answer seen),
 * compare at a few instants t the calls that will have been answered by t with the agents
 * that will be ready by t + grace:
 *
 *   D(t) = waiting + sum over ringing calls of P(answered by t | rang so far)
 *        + n * P(a new call is answered by t)
 *        - free - sum over busy agents of P(ready by t + grace | busy so far)
 *
 * Every term is a sum of independent yes/no events, so D(t) is taken as normal with the
 * summed means and variances, and E[max(D(t), 0)] is the expected number of answered calls
 * finding nobody.  The expected abandons of a plan of n calls is the largest of these over
 * t; the n-th call's own risk is what it adds to that, divided by its chance of being
 * answered at all.  Calls are added while that risk stays within the allowance, which the
 * pacer tunes from the abandon rate it actually measures (dl_pacing.c): the model gives the
 * shape (how many calls this state can take), the measurement corrects its level.
 */
#include <math.h>

#include "dialer/dl_pacing_int.h"

/* Instants looked at over the horizon: enough to see agents freeing through it. */
#define POINTS 12

/* E[max(X, 0)] for X normal with this mean and variance. */
static double positive_part(double mean, double var)
{
    if (var < 1e-9)
        return mean > 0 ? mean : 0.0;
    double sd = sqrt(var), z = mean / sd;
    double cdf = 0.5 * erfc(-z / sqrt(2.0));
    double pdf = exp(-0.5 * z * z) / sqrt(2.0 * 3.14159265358979323846);
    return mean * cdf + sd * pdf;
}

int dl__predict(const dl__outcomes_t *o, const dl__service_t *s, const dl_pace_input_t *in,
                double risk, int64_t grace_ms, int n_max)
{
    int64_t horizon = dl__outcomes_max_answer_ms(o);
    if (o->n == 0 || s->n == 0 || horizon <= 0 || n_max <= 0)
        return 0;
    double mean[POINTS + 1], var[POINTS + 1], a_new[POINTS + 1];
    for (int k = 0; k <= POINTS; k++) {
        int64_t t = horizon * k / POINTS;
        double m = in->calls_waiting - in->agents_free, v = 0;
        for (int i = 0; i < in->calls_ringing; i++) {
            int64_t rang = in->ringing_since_ms ? in->now_ms - in->ringing_since_ms[i] : 0;
            double a = dl__outcomes_p_answer_within(o, rang, t);
            m += a;
            v += a * (1 - a);
        }
        for (int j = 0; j < in->agents_busy; j++) {
            int64_t busy = in->busy_since_ms ? in->now_ms - in->busy_since_ms[j] : 0;
            double f = dl__service_p_free_within(s, busy, t + grace_ms);
            m -= f;
            v += f * (1 - f);
        }
        mean[k] = m;
        var[k] = v;
        /* "Answered within t + 1 ms" so that t = horizon includes the slowest answer. */
        a_new[k] = dl__outcomes_p_answer_within(o, 0, t + 1);
    }
    double answered = a_new[POINTS];
    if (answered <= 0)
        return 0;
    double before = 0;
    for (int k = 0; k <= POINTS; k++) {
        double e = positive_part(mean[k], var[k]);
        if (e > before)
            before = e;
    }
    int n = 0;
    while (n < n_max) {
        double after = 0;
        for (int k = 0; k <= POINTS; k++) {
            double a = a_new[k];
            double e = positive_part(mean[k] + (n + 1) * a, var[k] + (n + 1) * a * (1 - a));
            if (e > after)
                after = e;
        }
        if ((after - before) / answered > risk)
            break;
        before = after;
        n++;
    }
    return n;
}
