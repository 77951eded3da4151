/*
 * The memoryless campaign as a Markov decision process.
 *
 *   - Time runs in steps of 1 s.  The policy decides once a step, as the dialer does, after
 *     seeing everything that happened in it.
 *   - Every ringing call ends within a step with probability 1 - e^(-1/answer_s), answered
 *     with probability p_answer: a ringing call's elapsed time tells nothing, so the number
 *     of calls ringing is the whole state of the lines.  A call placed at the end of a step
 *     may end in the next one, as one placed by the dialer may in the second after.
 *   - Every busy agent frees within a step with probability 1 - e^(-1/cycle_s): the number
 *     busy is the whole state of the team.
 *   - An answered call takes a free agent (one idle, or one who freed in the step); one left
 *     over waits up to grace more steps for an agent who frees, oldest first, and is
 *     abandoned after that.
 *
 * State: (busy, ringing, waiting since the last step, waiting since the one before); calls
 * wait only while every agent is busy, so most of the index is never visited.  Where the
 * step blurs time it favours the policy: an agent who frees and takes a call in the same
 * step is never idle, and calls and agents in one step are matched whatever their order
 * inside it.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bench/dialer/pacing_dp.h"

#define TINY 1e-12 /* transition probabilities below this are dropped (the rest rescaled) */
#define W (PDP_WAIT_MAX + 1)
#define IDX(b, r, w1, w2) ((((b) * (PDP_RING_MAX + 1) + (r)) * W + (w1)) * W + (w2))
#define NSTATES ((PDP_AGENTS_MAX + 1) * (PDP_RING_MAX + 1) * W * W)

typedef struct term {
    int a, b;
    double p;
} term_t;

struct pdp {
    pdp_model_t m;
    /* frees[B]: (k agents free in a step, probability); lines[R]: (j answered, s still
     * ringing, probability). */
    term_t *frees[PDP_AGENTS_MAX + 1];
    int nfrees[PDP_AGENTS_MAX + 1];
    term_t *lines[PDP_RING_MAX + 1];
    int nlines[PDP_RING_MAX + 1];
    double *v, *u, *scratch; /* values; values after deciding; next values / distribution */
    int *policy;             /* calls to place, by the state a step left */
};

static double binom_pmf(int n, int k, double p)
{
    if (n == 0)
        return k == 0 ? 1.0 : 0.0;
    return exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) +
               (n - k) * log1p(-p));
}

/* The dropped terms given back in proportion: a chain that leaked would never settle. */
static void normalise(term_t *row, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += row[i].p;
    for (int i = 0; i < n; i++)
        row[i].p /= sum;
}

static int tables_build(pdp_t *d)
{
    const pdp_model_t *m = &d->m;
    double f = 1 - exp(-1.0 / m->cycle_s);
    for (int b = 0; b <= m->agents; b++) {
        if (!(d->frees[b] = calloc((size_t)b + 1, sizeof(term_t))))
            return -1;
        for (int k = 0; k <= b; k++) {
            double p = binom_pmf(b, k, f);
            if (p > TINY)
                d->frees[b][d->nfrees[b]++] = (term_t){k, 0, p};
        }
        normalise(d->frees[b], d->nfrees[b]);
    }
    double end = 1 - exp(-1.0 / m->answer_s);
    double ans = end * m->p_answer, stay = 1 - end;
    for (int r = 0; r <= PDP_RING_MAX; r++) {
        if (!(d->lines[r] = calloc(((size_t)r + 1) * ((size_t)r + 1), sizeof(term_t))))
            return -1;
        for (int j = 0; j <= r; j++) {
            double pj = binom_pmf(r, j, ans);
            if (pj <= TINY)
                continue;
            /* Of the r - j not answered, each is still ringing with stay / (1 - ans). */
            for (int s = 0; s <= r - j; s++) {
                double ps = binom_pmf(r - j, s, stay / (1 - ans));
                if (pj * ps > TINY)
                    d->lines[r][d->nlines[r]++] = (term_t){j, s, pj * ps};
            }
        }
        normalise(d->lines[r], d->nlines[r]);
    }
    return 0;
}

pdp_t *pdp_new(const pdp_model_t *m)
{
    if (m->agents < 1 || m->agents > PDP_AGENTS_MAX || m->grace < 1 || m->grace > 2 ||
        !(m->p_answer > 0 && m->p_answer < 1) || !(m->cycle_s >= 1) || !(m->answer_s >= 0.5) ||
        !(m->cap > 0 && m->cap < 1))
        return NULL;
    pdp_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->m = *m;
    d->v = calloc(NSTATES, sizeof(double));
    d->u = calloc(NSTATES, sizeof(double));
    d->scratch = calloc(NSTATES, sizeof(double));
    d->policy = calloc(NSTATES, sizeof(int));
    if (!d->v || !d->u || !d->scratch || !d->policy || tables_build(d) != 0) {
        pdp_free(d);
        return NULL;
    }
    return d;
}

void pdp_free(pdp_t *d)
{
    if (!d)
        return;
    for (int b = 0; b <= PDP_AGENTS_MAX; b++)
        free(d->frees[b]);
    for (int r = 0; r <= PDP_RING_MAX; r++)
        free(d->lines[r]);
    free(d->v);
    free(d->u);
    free(d->scratch);
    free(d->policy);
    free(d);
}

static bool valid(const pdp_model_t *m, int b, int w1, int w2)
{
    if (m->grace < 2 && w2)
        return false;
    return b == m->agents || (w1 == 0 && w2 == 0);
}

/* One step's outcome: the state it leaves (before the decision) and what happened in it. */
typedef struct step {
    int b, w1, w2, s;
    double abandoned, answered, p;
} step_t;

/* Every outcome of one step from (b0, r0, w10, w20), each as the step_t o for body; the
 * caller has d's agents and grace in locals agents_ and grace_ (kept out of memory that
 * the loops store to, so the compiler need not reload them). */
#define FOR_EACH_OUTCOME(d, b0, r0, w10, w20, body)                                                \
    for (int o_fi_ = 0; o_fi_ < (d)->nfrees[b0]; o_fi_++) {                                        \
        const term_t *o_fk_ = &(d)->frees[b0][o_fi_];                                              \
        for (int o_li_ = 0; o_li_ < (d)->nlines[r0]; o_li_++) {                                    \
            const term_t *o_lj_ = &(d)->lines[r0][o_li_];                                          \
            int o_avail_ = (agents_) - (b0) + o_fk_->a, o_j_ = o_lj_->a;                       \
            int o_old_ = (grace_) >= 2 ? (w20) : (w10);                                        \
            int o_young_ = (grace_) >= 2 ? (w10) : 0;                                          \
            int o_mo_ = o_old_ < o_avail_ ? o_old_ : o_avail_;                                     \
            o_avail_ -= o_mo_;                                                                     \
            int o_my_ = o_young_ < o_avail_ ? o_young_ : o_avail_;                                 \
            o_avail_ -= o_my_;                                                                     \
            int o_mj_ = o_j_ < o_avail_ ? o_j_ : o_avail_;                                         \
            int o_ab_ = o_old_ - o_mo_, o_nw1_ = o_j_ - o_mj_;                                     \
            int o_nw2_ = (grace_) >= 2 ? o_young_ - o_my_ : 0;                                 \
            if (o_nw1_ > PDP_WAIT_MAX) {                                                           \
                o_ab_ += o_nw1_ - PDP_WAIT_MAX;                                                    \
                o_nw1_ = PDP_WAIT_MAX;                                                             \
            }                                                                                      \
            step_t o = {.b = (b0) - o_fk_->a + o_mo_ + o_my_ + o_mj_,                              \
                        .w1 = o_nw1_,                                                              \
                        .w2 = o_nw2_,                                                              \
                        .s = o_lj_->b,                                                             \
                        .abandoned = o_ab_,                                                        \
                        .answered = o_j_,                                                          \
                        .p = o_fk_->p * o_lj_->p};                                                 \
            body                                                                                   \
        }                                                                                          \
    }

#define FOR_EACH_STATE(m, b, r, w1, w2)                                                            \
    for (int b = 0; b <= (m)->agents; b++)                                                         \
        for (int r = 0; r <= PDP_RING_MAX; r++)                                                    \
            for (int w1 = 0; w1 < W; w1++)                                                         \
                for (int w2 = 0; w2 < W; w2++)                                                     \
                    if (valid(m, b, w1, w2))

int pdp_solve(pdp_t *d, double lambda)
{
    const pdp_model_t *m = &d->m;
    const int agents_ = m->agents, grace_ = m->grace;
    const double cap = m->cap;
    double *restrict v = d->v, *restrict u = d->u, *restrict next = d->scratch;
    int *restrict policy = d->policy;
    int it;
    for (it = 1; it <= 100000; it++) {
        /* u: the value once the calls are placed, at the best number (more calls ringing). */
        for (int b = 0; b <= m->agents; b++)
            for (int w1 = 0; w1 < W; w1++)
                for (int w2 = 0; w2 < W; w2++) {
                    if (!valid(m, b, w1, w2))
                        continue;
                    double best = -HUGE_VAL;
                    int arg = 0;
                    for (int s = PDP_RING_MAX; s >= 0; s--) {
                        if (v[IDX(b, s, w1, w2)] > best) {
                            best = v[IDX(b, s, w1, w2)];
                            arg = s;
                        }
                        u[IDX(b, s, w1, w2)] = best;
                        policy[IDX(b, s, w1, w2)] = arg - s;
                    }
                }
        double lo = HUGE_VAL, hi = -HUGE_VAL;
        FOR_EACH_STATE (m, b, r, w1, w2) {
            double acc = 0;
            FOR_EACH_OUTCOME(d, b, r, w1, w2, {
                double gain = o.b - lambda * (o.abandoned - cap * o.answered);
                acc += o.p * (gain + u[IDX(o.b, o.s, o.w1, o.w2)]);
            })
            int i = IDX(b, r, w1, w2);
            next[i] = acc;
            double change = acc - v[i];
            if (change < lo)
                lo = change;
            if (change > hi)
                hi = change;
        }
        /* Relative to one state, so that the values stay bounded. */
        double ref = next[IDX(0, 0, 0, 0)];
        FOR_EACH_STATE (m, b, r, w1, w2)
            v[IDX(b, r, w1, w2)] = next[IDX(b, r, w1, w2)] - ref;
        if (hi - lo < 1e-7 * (1 + fabs(hi)))
            break;
    }
    return it;
}

void pdp_evaluate(const pdp_t *d, pdp_solution_t *out)
{
    const pdp_model_t *m = &d->m;
    const int agents_ = m->agents, grace_ = m->grace;
    const int *restrict policy = d->policy;
    double *restrict pi = calloc(NSTATES, sizeof(double)), *restrict np = d->scratch;
    if (!pi) {
        memset(out, 0, sizeof *out);
        return;
    }
    pi[IDX(0, 0, 0, 0)] = 1;
    pdp_solution_t x = {0};
    for (int it = 0; it < 200000; it++) {
        memset(np, 0, NSTATES * sizeof(double));
        memset(&x, 0, sizeof x);
        FOR_EACH_STATE (m, b, r, w1, w2) {
            double pr = pi[IDX(b, r, w1, w2)];
            if (pr <= 0)
                continue;
            x.ringing += pr * r;
            FOR_EACH_OUTCOME(d, b, r, w1, w2, {
                double q = pr * o.p;
                int n = policy[IDX(o.b, o.s, o.w1, o.w2)];
                np[IDX(o.b, o.s + n, o.w1, o.w2)] += q;
                x.busy += q * o.b;
                x.abandoned += q * o.abandoned;
                x.answered += q * o.answered;
            })
        }
        double diff = 0;
        for (int i = 0; i < NSTATES; i++)
            diff += fabs(np[i] - pi[i]);
        memcpy(pi, np, NSTATES * sizeof(double));
        if (diff < 1e-10)
            break;
    }
    free(pi);
    *out = x;
}

int pdp_policy(const pdp_t *d, int busy, int ringing, int waiting1, int waiting2)
{
    if (busy < 0 || busy > d->m.agents || ringing < 0 || ringing > PDP_RING_MAX ||
        waiting1 < 0 || waiting1 >= W || waiting2 < 0 || waiting2 >= W ||
        !valid(&d->m, busy, waiting1, waiting2))
        return 0;
    return d->policy[IDX(busy, ringing, waiting1, waiting2)];
}

void pdp_set_policy(pdp_t *d, pdp_rule_fn *rule, void *arg)
{
    FOR_EACH_STATE (&d->m, b, r, w1, w2) {
        int n = rule(b, r, w1, w2, arg);
        d->policy[IDX(b, r, w1, w2)] = n < 0 ? 0 : n > PDP_RING_MAX - r ? PDP_RING_MAX - r : n;
    }
}

double pdp_abandon_rate(const pdp_solution_t *x)
{
    return x->answered > 0 ? x->abandoned / x->answered : 0;
}

double pdp_gain(const pdp_model_t *m, const pdp_solution_t *x, double lambda)
{
    return x->busy - lambda * (x->abandoned - m->cap * x->answered);
}
