/*
 * The memoryless campaign as a Markov decision process.
 *
 *   - Time runs in steps of 1 s.  The policy decides once a step, as the dialer does, after
 *     seeing everything that happened in it.
 *   - Calls.  With one phase, every ringing call ends within a step with probability
 *     1 - e^(-1/answer_s), answered with probability p_answer, and a call placed at the end
 *     of a step may end in the next one.  With two phases, a call passes through two, each
 *     left within a step with probability h = 2 / (answer_s + 0.5) and at most one left per
 *     step, and ends (answered with p_answer) as it leaves the second: it ends 1 s after it
 *     was placed at the soonest, answer_s on average, with a deviation near 5 s at 8 s (the
 *     spread and floor of bench/pacing's campaign, where one phase gives a deviation of 8 s
 *     and no floor).  Either way, how long a call has rung in its phase tells nothing, so the
 *     count of calls in each phase is the whole state of the lines.
 *   - Every busy agent frees within a step with probability 1 - e^(-1/cycle_s): the number
 *     busy is the whole state of the team.
 *   - An answered call takes a free agent (one idle, or one who freed in the step); one left
 *     over waits up to grace more steps for an agent who frees, oldest first, and is
 *     abandoned after that.
 *
 * State: (busy, calls in the first phase, calls in the last phase, waiting since the last
 * step, waiting since the one before); calls wait only while every agent is busy, so much of
 * the index is never visited.  With one phase the first-phase count is always 0.  Where the
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

typedef struct term {
    int a, b;
    double p;
} term_t;

struct pdp {
    pdp_model_t m;
    int n1, n2;     /* sizes of the first- and last-phase dimensions (n1 = 1: one phase) */
    size_t nstates; /* of the index, visited or not */
    /* frees[B]: (k agents free in a step, probability); ends[R]: (j answered, s still in
     * the last phase, probability); moves[R]: (a leaving the first phase, -, probability). */
    term_t *frees[PDP_AGENTS_MAX + 1];
    int nfrees[PDP_AGENTS_MAX + 1];
    term_t *ends[PDP_RING_MAX + 1];
    int nends[PDP_RING_MAX + 1];
    term_t *moves[PDP_RING_MAX + 1];
    int nmoves[PDP_RING_MAX + 1];
    double *v, *u, *scratch; /* values; values after deciding; next values / distribution */
    int *policy;             /* calls to place, by the state a step left */
};

static inline size_t idx(const pdp_t *d, int b, int r1, int r2, int w1, int w2)
{
    return ((((size_t)b * (size_t)d->n1 + (size_t)r1) * (size_t)d->n2 + (size_t)r2) * W +
            (size_t)w1) * W + (size_t)w2;
}

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

/* rows[n] for n = 0 .. count - 1: Bin(n, p) as (k, 0, probability). */
static int binomial_rows(term_t **rows, int *len, int count, double p)
{
    for (int n = 0; n < count; n++) {
        if (!(rows[n] = calloc((size_t)n + 1, sizeof(term_t))))
            return -1;
        for (int k = 0; k <= n; k++) {
            double q = binom_pmf(n, k, p);
            if (q > TINY)
                rows[n][len[n]++] = (term_t){k, 0, q};
        }
        normalise(rows[n], len[n]);
    }
    return 0;
}

static int tables_build(pdp_t *d)
{
    const pdp_model_t *m = &d->m;
    if (binomial_rows(d->frees, d->nfrees, m->agents + 1, 1 - exp(-1.0 / m->cycle_s)) != 0)
        return -1;
    double end = m->phases == 2 ? 2.0 / (m->answer_s + 0.5) : 1 - exp(-1.0 / m->answer_s);
    if (m->phases == 2 && binomial_rows(d->moves, d->nmoves, d->n1, end) != 0)
        return -1;
    double ans = end * m->p_answer, stay = 1 - end;
    for (int r = 0; r < d->n2; r++) {
        if (!(d->ends[r] = calloc(((size_t)r + 1) * ((size_t)r + 1), sizeof(term_t))))
            return -1;
        for (int j = 0; j <= r; j++) {
            double pj = binom_pmf(r, j, ans);
            if (pj <= TINY)
                continue;
            /* Of the r - j not answered, each is still ringing with stay / (1 - ans). */
            for (int s = 0; s <= r - j; s++) {
                double ps = binom_pmf(r - j, s, stay / (1 - ans));
                if (pj * ps > TINY)
                    d->ends[r][d->nends[r]++] = (term_t){j, s, pj * ps};
            }
        }
        normalise(d->ends[r], d->nends[r]);
    }
    return 0;
}

bool pdp_model_valid(const pdp_model_t *m)
{
    return m->agents >= 1 && m->agents <= PDP_AGENTS_MAX && m->grace >= 1 && m->grace <= 2 &&
           m->phases >= 1 && m->phases <= 2 && m->p_answer > 0 && m->p_answer < 1 &&
           m->cycle_s >= 1 && m->answer_s >= (m->phases == 2 ? 2 : 0.5) && m->cap > 0 &&
           m->cap < 1 && m->ring_max >= 0 &&
           m->ring_max <= (m->phases == 2 ? PDP_RING2_MAX : PDP_RING_MAX);
}

pdp_t *pdp_new(const pdp_model_t *m)
{
    if (!pdp_model_valid(m))
        return NULL;
    pdp_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->m = *m;
    int most = m->ring_max ? m->ring_max : m->phases == 2 ? PDP_RING2_MAX : PDP_RING_MAX;
    d->n1 = m->phases == 2 ? most + 1 : 1;
    d->n2 = most + 1;
    d->nstates = (size_t)(m->agents + 1) * (size_t)d->n1 * (size_t)d->n2 * W * W;
    d->v = calloc(d->nstates, sizeof(double));
    d->u = calloc(d->nstates, sizeof(double));
    d->scratch = calloc(d->nstates, sizeof(double));
    d->policy = calloc(d->nstates, sizeof(int));
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
    for (int r = 0; r <= PDP_RING_MAX; r++) {
        free(d->ends[r]);
        free(d->moves[r]);
    }
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

/* One step's outcome: the state it leaves before the decision (r1: calls still in the first
 * phase, to which the decision adds; r2: in the last phase) and what happened in it. */
typedef struct step {
    int b, r1, r2, w1, w2;
    double abandoned, answered, p;
} step_t;

static const term_t no_move = {0, 0, 1.0};

/* Every outcome of one step from (b0, r10, r20, w10, w20), each as the step_t o for body;
 * the caller has d's agents, grace and phases in locals agents_, grace_ and phases_ (kept
 * out of memory that the loops store to, so the compiler need not reload them). */
#define FOR_EACH_OUTCOME(d, b0, r10, r20, w10, w20, body)                                         \
    for (int o_mi_ = 0; o_mi_ < (phases_ == 2 ? (d)->nmoves[r10] : 1); o_mi_++) {                 \
        const term_t *o_mv_ = phases_ == 2 ? &(d)->moves[r10][o_mi_] : &no_move;                  \
        for (int o_fi_ = 0; o_fi_ < (d)->nfrees[b0]; o_fi_++) {                                    \
            const term_t *o_fk_ = &(d)->frees[b0][o_fi_];                                          \
            for (int o_li_ = 0; o_li_ < (d)->nends[r20]; o_li_++) {                                \
                const term_t *o_lj_ = &(d)->ends[r20][o_li_];                                      \
                int o_avail_ = (agents_) - (b0) + o_fk_->a, o_j_ = o_lj_->a;                       \
                int o_old_ = (grace_) >= 2 ? (w20) : (w10);                                        \
                int o_young_ = (grace_) >= 2 ? (w10) : 0;                                          \
                int o_mo_ = o_old_ < o_avail_ ? o_old_ : o_avail_;                                 \
                o_avail_ -= o_mo_;                                                                 \
                int o_my_ = o_young_ < o_avail_ ? o_young_ : o_avail_;                             \
                o_avail_ -= o_my_;                                                                 \
                int o_mj_ = o_j_ < o_avail_ ? o_j_ : o_avail_;                                     \
                int o_ab_ = o_old_ - o_mo_, o_nw1_ = o_j_ - o_mj_;                                 \
                int o_nw2_ = (grace_) >= 2 ? o_young_ - o_my_ : 0;                                 \
                if (o_nw1_ > PDP_WAIT_MAX) {                                                       \
                    o_ab_ += o_nw1_ - PDP_WAIT_MAX;                                                \
                    o_nw1_ = PDP_WAIT_MAX;                                                         \
                }                                                                                  \
                int o_r2_ = o_lj_->b + o_mv_->a;                                                   \
                if (o_r2_ > (d)->n2 - 1)                                                           \
                    o_r2_ = (d)->n2 - 1;                                                           \
                step_t o = {.b = (b0) - o_fk_->a + o_mo_ + o_my_ + o_mj_,                          \
                            .r1 = (r10) - o_mv_->a,                                                \
                            .r2 = o_r2_,                                                           \
                            .w1 = o_nw1_,                                                          \
                            .w2 = o_nw2_,                                                          \
                            .abandoned = o_ab_,                                                    \
                            .answered = o_j_,                                                      \
                            .p = o_mv_->p * o_fk_->p * o_lj_->p};                                  \
                body                                                                               \
            }                                                                                      \
        }                                                                                          \
    }

#define FOR_EACH_STATE(d, b, r1, r2, w1, w2)                                                       \
    for (int b = 0; b <= (d)->m.agents; b++)                                                       \
        for (int r1 = 0; r1 < (d)->n1; r1++)                                                       \
            for (int r2 = 0; r2 < (d)->n2; r2++)                                                   \
                for (int w1 = 0; w1 < W; w1++)                                                     \
                    for (int w2 = 0; w2 < W; w2++)                                                 \
                        if (valid(&(d)->m, b, w1, w2))

/* Where a decision puts the calls it places: the first phase, or the only one. */
static inline size_t placed(const pdp_t *d, const step_t *o, int n)
{
    return d->n1 > 1 ? idx(d, o->b, o->r1 + n, o->r2, o->w1, o->w2)
                     : idx(d, o->b, 0, o->r2 + n, o->w1, o->w2);
}

int pdp_solve(pdp_t *d, double lambda)
{
    const pdp_model_t *m = &d->m;
    const int agents_ = m->agents, grace_ = m->grace, phases_ = m->phases;
    const double cap = m->cap;
    double *restrict v = d->v, *restrict u = d->u, *restrict next = d->scratch;
    int *restrict policy = d->policy;
    /* The dimension the decision adds to, and its size. */
    const bool first = d->n1 > 1;
    const int nr = first ? d->n1 : d->n2;
    int it;
    for (it = 1; it <= 100000; it++) {
        /* u: the value once the calls are placed, at the best number (more calls ringing);
         * indexed by the state before placing. */
        for (int b = 0; b <= agents_; b++)
            for (int other = 0; other < (first ? d->n2 : 1); other++)
                for (int w1 = 0; w1 < W; w1++)
                    for (int w2 = 0; w2 < W; w2++) {
                        if (!valid(m, b, w1, w2))
                            continue;
                        double best = -HUGE_VAL;
                        int arg = 0;
                        for (int r = nr - 1; r >= 0; r--) {
                            size_t i = first ? idx(d, b, r, other, w1, w2)
                                             : idx(d, b, 0, r, w1, w2);
                            if (v[i] > best) {
                                best = v[i];
                                arg = r;
                            }
                            u[i] = best;
                            policy[i] = arg - r;
                        }
                    }
        double lo = HUGE_VAL, hi = -HUGE_VAL;
        FOR_EACH_STATE (d, b, r1, r2, w1, w2) {
            double acc = 0;
            FOR_EACH_OUTCOME(d, b, r1, r2, w1, w2, {
                double gain = o.b - lambda * (o.abandoned - cap * o.answered);
                acc += o.p * (gain + u[idx(d, o.b, o.r1, o.r2, o.w1, o.w2)]);
            })
            size_t i = idx(d, b, r1, r2, w1, w2);
            next[i] = acc;
            double change = acc - v[i];
            if (change < lo)
                lo = change;
            if (change > hi)
                hi = change;
        }
        /* Relative to one state, so that the values stay bounded. */
        double ref = next[idx(d, 0, 0, 0, 0, 0)];
        FOR_EACH_STATE (d, b, r1, r2, w1, w2)
            v[idx(d, b, r1, r2, w1, w2)] = next[idx(d, b, r1, r2, w1, w2)] - ref;
        if (hi - lo < 1e-7 * (1 + fabs(hi)))
            break;
    }
    return it;
}

void pdp_evaluate(pdp_t *d, pdp_solution_t *out)
{
    const int agents_ = d->m.agents, grace_ = d->m.grace, phases_ = d->m.phases;
    const int *restrict policy = d->policy;
    double *restrict pi = calloc(d->nstates, sizeof(double)), *restrict np = d->scratch;
    if (!pi) {
        memset(out, 0, sizeof *out);
        return;
    }
    pi[idx(d, 0, 0, 0, 0, 0)] = 1;
    pdp_solution_t x = {0};
    for (int it = 0; it < 200000; it++) {
        memset(np, 0, d->nstates * sizeof(double));
        memset(&x, 0, sizeof x);
        FOR_EACH_STATE (d, b, r1, r2, w1, w2) {
            double pr = pi[idx(d, b, r1, r2, w1, w2)];
            if (pr <= 0)
                continue;
            x.ringing += pr * (r1 + r2);
            FOR_EACH_OUTCOME(d, b, r1, r2, w1, w2, {
                double q = pr * o.p;
                int n = policy[idx(d, o.b, o.r1, o.r2, o.w1, o.w2)];
                np[placed(d, &o, n)] += q;
                x.busy += q * o.b;
                x.abandoned += q * o.abandoned;
                x.answered += q * o.answered;
            })
        }
        double diff = 0;
        for (size_t i = 0; i < d->nstates; i++)
            diff += fabs(np[i] - pi[i]);
        memcpy(pi, np, d->nstates * sizeof(double));
        if (diff < 1e-10)
            break;
    }
    free(pi);
    *out = x;
}

int pdp_policy(const pdp_t *d, int busy, int first, int last, int waiting1, int waiting2)
{
    if (busy < 0 || busy > d->m.agents || first < 0 || first >= d->n1 || last < 0 ||
        last >= d->n2 || waiting1 < 0 || waiting1 >= W || waiting2 < 0 || waiting2 >= W ||
        !valid(&d->m, busy, waiting1, waiting2))
        return 0;
    return d->policy[idx(d, busy, first, last, waiting1, waiting2)];
}

void pdp_set_policy(pdp_t *d, pdp_rule_fn *rule, void *arg)
{
    FOR_EACH_STATE (d, b, r1, r2, w1, w2) {
        int n = rule(b, r1 + r2, w1, w2, arg);
        int room = d->n1 > 1 ? d->n1 - 1 - r1 : d->n2 - 1 - r2;
        d->policy[idx(d, b, r1, r2, w1, w2)] = n < 0 ? 0 : n > room ? room : n;
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
