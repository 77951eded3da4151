/*
 * bench/pacing_dp: the best any pacing policy can do in a memoryless relative of
 * bench/pacing's campaign, computed exactly by dynamic programming, next to what our pacer
 * reaches in the same campaign (pacing_sim's memoryless variant).
 *
 * Why: bench/pacing's clairvoyant bound knows every call's fate, so it says nothing about
 * how far a real policy, which does not, could go.  An exact optimum over all policies is
 * out of reach in that simulation (every ringing call's and busy agent's elapsed time would
 * be state), but in a campaign where nothing has an age it is a small Markov decision
 * process:
 *
 *   - time runs in steps of 1 s; the policy decides once a step, as the dialer does, after
 *     seeing everything that happened in it;
 *   - every ringing call ends within a step with probability 1 - e^(-1/R) (R the mean time
 *     to answer, 8 s as in bench/pacing), answered with the campaign's probability, so a
 *     ringing call's elapsed time tells nothing and the number of calls ringing is the
 *     whole state of the lines;
 *   - every busy agent frees within a step with probability 1 - e^(-1/C), C the mean of a
 *     whole cycle (talk and wrap-up together), so the number busy is the whole state of the
 *     team; occupancy here is the busy share of the agents' time;
 *   - an answered call takes a free agent at once; one left over waits G steps (G = 1 or 2,
 *     around bench/pacing's 2 s) for an agent who frees, and is abandoned after that.
 *
 * Where the step blurs time it gives the policy the benefit: an agent who frees and takes a
 * call in the same step counts as never idle, and calls matched in one step are matched
 * whatever their order inside it.  The optimum under a cap on the long-run abandon rate (not
 * every 24 h, which is stricter) comes from the Lagrangian: maximise busy agents minus
 * lambda x (abandoned - cap x answered) by relative value iteration, the policy's exact
 * figures from its stationary distribution, and lambda by bisection.  A deterministic
 * policy's abandon rate moves in steps, so the line printed is the best one within the cap,
 * and the one just past it beside it.
 *
 * Usage: pacing_dp [-g G] [-c CAP] [AGENTS ANSWER CYCLE_S [MEAN_ANSWER_S]] (G 2 and CAP
 * 0.03 by default); default scenarios: 5 and 20 agents,
 * answer 0.15 / 0.25 / 0.40, cycle 130 s (120 s talk + 10 s wrap-up), 8 s to answer.
 * Prints metric pacing_dp.a<agents>.p<answer>.c<cycle>.g<G>.<figure> <value> <unit>.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AGENTS_MAX 40
#define RING_MAX 48 /* calls ringing at most (the policy may not place beyond) */
#define WAIT_MAX 4  /* answered calls waiting per age at most; more are abandoned */
#define TINY 1e-12  /* transition probabilities below this are dropped */
/* The issue's 0.87 of the agents' time talking, as a busy share of the 130 s cycle (120 s
 * talk + 10 s wrap-up) in the memoryless campaign, where talk and wrap-up are one. */
#define ISSUE_GOAL_BUSY (0.87 * 130.0 / 120.0)
#define WRAP_S 10.0

typedef struct model {
    int agents, grace;
    double p_answer, cycle_s, answer_s, cap;
} model_t;

typedef struct term {
    int a, b;
    double p;
} term_t;

/* Transition tables: frees[B] = (k frees, prob); lines[R] = (j answered, s still ringing). */
typedef struct tables {
    term_t *frees[AGENTS_MAX + 1];
    int nfrees[AGENTS_MAX + 1];
    term_t *lines[RING_MAX + 1];
    int nlines[RING_MAX + 1];
} tables_t;

static double binom_pmf(int n, int k, double p)
{
    if (k < 0 || k > n)
        return 0;
    return exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) +
               (n - k) * log1p(-p));
}

/* The terms dropped as too small are given back in proportion, so that every row sums to 1:
 * a leaking chain would never settle in evaluate(). */
static void normalise(term_t *row, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += row[i].p;
    for (int i = 0; i < n; i++)
        row[i].p /= sum;
}

static void tables_build(const model_t *m, tables_t *t)
{
    double f = 1 - exp(-1.0 / m->cycle_s);
    for (int b = 0; b <= m->agents; b++) {
        t->frees[b] = calloc((size_t)b + 1, sizeof(term_t));
        t->nfrees[b] = 0;
        for (int k = 0; k <= b; k++) {
            double p = b == 0 ? 1.0 : binom_pmf(b, k, f);
            if (p > TINY)
                t->frees[b][t->nfrees[b]++] = (term_t){k, 0, p};
        }
        normalise(t->frees[b], t->nfrees[b]);
    }
    double end = 1 - exp(-1.0 / m->answer_s);
    double ans = end * m->p_answer, stay = 1 - end;
    for (int r = 0; r <= RING_MAX; r++) {
        t->lines[r] = calloc(((size_t)r + 1) * ((size_t)r + 1), sizeof(term_t));
        t->nlines[r] = 0;
        for (int j = 0; j <= r; j++) {
            double pj = r == 0 ? 1.0 : binom_pmf(r, j, ans);
            if (pj <= TINY)
                continue;
            for (int s = 0; s <= r - j; s++) {
                /* Of the r - j not answered, each is still ringing with stay / (1 - ans). */
                double ps = r - j == 0 ? 1.0 : binom_pmf(r - j, s, stay / (1 - ans));
                if (pj * ps > TINY)
                    t->lines[r][t->nlines[r]++] = (term_t){j, s, pj * ps};
            }
        }
        normalise(t->lines[r], t->nlines[r]);
    }
}

static void tables_free(const model_t *m, tables_t *t)
{
    for (int b = 0; b <= m->agents; b++)
        free(t->frees[b]);
    for (int r = 0; r <= RING_MAX; r++)
        free(t->lines[r]);
}

/* State (B busy, R ringing, W1, W2 waiting one and two steps); waiting calls exist only
 * when every agent is busy, so most of the index is never visited. */
#define W (WAIT_MAX + 1)
#define IDX(b, r, w1, w2) ((((b) * (RING_MAX + 1) + (r)) * W + (w1)) * W + (w2))
#define NSTATES ((AGENTS_MAX + 1) * (RING_MAX + 1) * W * W)

static int valid(const model_t *m, int b, int w1, int w2)
{
    if (m->grace < 2 && w2)
        return 0;
    return b == m->agents || (w1 == 0 && w2 == 0);
}

typedef struct step {
    int b, w1, w2, s; /* after the step, before the decision */
    double busy, abandoned, answered, p;
} step_t;

/* Every outcome of one step from state (b, r, w1, w2): fn(outcome) for each. */
#define FOR_EACH_OUTCOME(m, t, b0, r0, w10, w20, body)                                             \
    for (int o_fi_ = 0; o_fi_ < (t)->nfrees[b0]; o_fi_++) {                                        \
        const term_t *o_fk_ = &(t)->frees[b0][o_fi_];                                              \
        for (int o_li_ = 0; o_li_ < (t)->nlines[r0]; o_li_++) {                                    \
            const term_t *o_lj_ = &(t)->lines[r0][o_li_];                                          \
            int o_avail_ = (m)->agents - (b0) + o_fk_->a, o_j_ = o_lj_->a;                         \
            int o_old_ = (m)->grace >= 2 ? (w20) : (w10);                                          \
            int o_young_ = (m)->grace >= 2 ? (w10) : 0;                                            \
            int o_mo_ = o_old_ < o_avail_ ? o_old_ : o_avail_;                                     \
            o_avail_ -= o_mo_;                                                                     \
            int o_my_ = o_young_ < o_avail_ ? o_young_ : o_avail_;                                 \
            o_avail_ -= o_my_;                                                                     \
            int o_mj_ = o_j_ < o_avail_ ? o_j_ : o_avail_;                                         \
            int o_ab_ = o_old_ - o_mo_, o_nw1_ = o_j_ - o_mj_;                                     \
            int o_nw2_ = (m)->grace >= 2 ? o_young_ - o_my_ : 0;                                   \
            if (o_nw1_ > WAIT_MAX) {                                                               \
                o_ab_ += o_nw1_ - WAIT_MAX;                                                        \
                o_nw1_ = WAIT_MAX;                                                                 \
            }                                                                                      \
            step_t o = {.b = (b0) - o_fk_->a + o_mo_ + o_my_ + o_mj_,                              \
                        .w1 = o_nw1_,                                                              \
                        .w2 = o_nw2_,                                                              \
                        .s = o_lj_->b,                                                             \
                        .busy = (b0) - o_fk_->a + o_mo_ + o_my_ + o_mj_,                           \
                        .abandoned = o_ab_,                                                        \
                        .answered = o_j_,                                                          \
                        .p = o_fk_->p * o_lj_->p};                                                 \
            body                                                                                   \
        }                                                                                          \
    }

typedef struct solution {
    /* Per step, in the long run: agents busy, calls answered, abandoned, ringing. */
    double busy, answered, abandoned, ringing;
} solution_t;

static double abandon_rate(const solution_t *x)
{
    return x->answered > 0 ? x->abandoned / x->answered : 0;
}

/* Relative value iteration for lambda; policy[IDX(b, s, w1, w2)] = calls to place after a
 * step that left (b busy, s ringing, w1, w2 waiting). */
static int solve(const model_t *m, const tables_t *t, double lambda, double *v, double *u,
                 int *policy)
{
    double *nv = malloc(NSTATES * sizeof(double));
    int it;
    for (it = 1; it <= 200000; it++) {
        /* u = the value after deciding: the best number to place, given what is ringing. */
        for (int b = 0; b <= m->agents; b++)
            for (int w1 = 0; w1 < W; w1++)
                for (int w2 = 0; w2 < W; w2++) {
                    if (!valid(m, b, w1, w2))
                        continue;
                    double best = -1e300;
                    int arg = 0;
                    for (int s = RING_MAX; s >= 0; s--) {
                        double here = v[IDX(b, s, w1, w2)];
                        if (here > best) {
                            best = here;
                            arg = s;
                        }
                        u[IDX(b, s, w1, w2)] = best;
                        policy[IDX(b, s, w1, w2)] = arg - s;
                    }
                }
        double lo = 1e300, hi = -1e300, ref = 0;
        for (int b = 0; b <= m->agents; b++)
            for (int r = 0; r <= RING_MAX; r++)
                for (int w1 = 0; w1 < W; w1++)
                    for (int w2 = 0; w2 < W; w2++) {
                        if (!valid(m, b, w1, w2))
                            continue;
                        double acc = 0;
                        FOR_EACH_OUTCOME(m, t, b, r, w1, w2, {
                            double rew = o.busy - lambda * (o.abandoned - m->cap * o.answered);
                            acc += o.p * (rew + u[IDX(o.b, o.s, o.w1, o.w2)]);
                        })
                        int i = IDX(b, r, w1, w2);
                        nv[i] = acc;
                        double d = acc - v[i];
                        if (d < lo)
                            lo = d;
                        if (d > hi)
                            hi = d;
                    }
        ref = nv[IDX(0, 0, 0, 0)];
        for (int b = 0; b <= m->agents; b++)
            for (int r = 0; r <= RING_MAX; r++)
                for (int w1 = 0; w1 < W; w1++)
                    for (int w2 = 0; w2 < W; w2++)
                        if (valid(m, b, w1, w2))
                            v[IDX(b, r, w1, w2)] = nv[IDX(b, r, w1, w2)] - ref;
        if (hi - lo < 1e-7 * (1 + fabs(hi)))
            break;
    }
    free(nv);
    return it;
}

/* The policy's long-run figures, from its stationary distribution. */
static void evaluate(const model_t *m, const tables_t *t, const int *policy, solution_t *out)
{
    double *pi = calloc(NSTATES, sizeof(double)), *np = malloc(NSTATES * sizeof(double));
    pi[IDX(0, 0, 0, 0)] = 1;
    double busy = 0, ab = 0, ans = 0, ring = 0;
    for (int it = 0; it < 200000; it++) {
        memset(np, 0, NSTATES * sizeof(double));
        busy = ab = ans = ring = 0;
        for (int b = 0; b <= m->agents; b++)
            for (int r = 0; r <= RING_MAX; r++)
                for (int w1 = 0; w1 < W; w1++)
                    for (int w2 = 0; w2 < W; w2++) {
                        double pr = pi[IDX(b, r, w1, w2)];
                        if (pr <= 0)
                            continue;
                        ring += pr * r;
                        FOR_EACH_OUTCOME(m, t, b, r, w1, w2, {
                            double q = pr * o.p;
                            int n = policy[IDX(o.b, o.s, o.w1, o.w2)];
                            np[IDX(o.b, o.s + n, o.w1, o.w2)] += q;
                            busy += q * o.busy;
                            ab += q * o.abandoned;
                            ans += q * o.answered;
                        })
                    }
        double diff = 0;
        for (int i = 0; i < NSTATES; i++)
            diff += fabs(np[i] - pi[i]);
        double *tmp = pi;
        pi = np;
        np = tmp;
        if (diff < 1e-10)
            break;
    }
    out->busy = busy;
    out->answered = ans;
    out->abandoned = ab;
    out->ringing = ring;
    free(pi);
    free(np);
}

static void print_solution(const model_t *m, const char *name, const char *which,
                           const solution_t *x)
{
    printf("metric %s.%soccupancy %.4f ratio\n", name, which, x->busy / m->agents);
    /* As bench/pacing counts occupancy (talk alone), were WRAP_S of each cycle wrap-up. */
    printf("metric %s.%stalk_occupancy %.4f ratio\n", name, which,
           x->busy / m->agents * (m->cycle_s - WRAP_S) / m->cycle_s);
    printf("metric %s.%sabandon %.4f ratio\n", name, which, abandon_rate(x));
    printf("metric %s.%sconnected_per_agent_hour %.2f calls\n", name, which,
           (x->answered - x->abandoned) * 3600 / m->agents);
    printf("metric %s.%smean_ringing %.2f calls\n", name, which, x->ringing);
}

typedef struct work {
    const model_t *m;
    tables_t t;
    double *v, *u;
    int *policy;
    int iterations;
} work_t;

/* The optimal policies for lambdas either side of a line, by bisection on lambda (in log):
 * with goal_busy 0, the best within the abandon cap (*yes) and the least over it (*no);
 * otherwise the least abandoning that keeps goal_busy agents busy (*yes) and the most busy
 * that does not (*no).  Abandons and busy agents both fall as lambda grows.  false when
 * every lambda tried fell on one side.  The search runs between lambda_lo and *lambda_hi and
 * leaves in *lambda_hi the lambda of *yes (the policies found are optimal for lambdas 3 %
 * apart at most, which the mix in run() bridges). */
static bool bracket(work_t *w, double goal_busy, double lambda_lo, double *lambda_hi,
                    solution_t *yes, solution_t *no)
{
    double lo = lambda_lo, hi = *lambda_hi, yes_at = 0;
    bool have_yes = false, have_no = false;
    for (int step = 0; step < 30 && hi / lo > 1.03; step++) {
        double lambda = sqrt(lo * hi);
        solution_t x;
        w->iterations += solve(w->m, &w->t, lambda, w->v, w->u, w->policy);
        evaluate(w->m, &w->t, w->policy, &x);
        bool ok = goal_busy > 0 ? x.busy >= goal_busy : abandon_rate(&x) <= w->m->cap;
        /* Within the cap: try a smaller lambda; reaching the goal: try a larger one. */
        if (ok == (goal_busy > 0))
            lo = lambda;
        else
            hi = lambda;
        if (ok && (!have_yes || (goal_busy > 0 ? x.abandoned / x.answered < abandon_rate(yes)
                                               : x.busy > yes->busy))) {
            *yes = x;
            yes_at = lambda;
            have_yes = true;
        } else if (!ok && (!have_no || (goal_busy > 0 ? x.busy > no->busy
                                                      : abandon_rate(&x) < abandon_rate(no)))) {
            *no = x;
            have_no = true;
        }
    }
    *lambda_hi = yes_at;
    return have_yes && have_no;
}

/* A policy that follows a for a share s of the time and b for the rest. */
static solution_t mix(const solution_t *a, const solution_t *b, double share)
{
    return (solution_t){.busy = share * a->busy + (1 - share) * b->busy,
                        .answered = share * a->answered + (1 - share) * b->answered,
                        .abandoned = share * a->abandoned + (1 - share) * b->abandoned,
                        .ringing = share * a->ringing + (1 - share) * b->ringing};
}

static void run(const model_t *m, double goal_occupancy)
{
    work_t w = {.m = m};
    tables_build(m, &w.t);
    w.v = calloc(NSTATES, sizeof(double));
    w.u = calloc(NSTATES, sizeof(double));
    w.policy = calloc(NSTATES, sizeof(int));
    char name[96];
    snprintf(name, sizeof name, "pacing_dp.a%d.p%.2f.c%.0f.r%.0f.g%d%s", m->agents,
             m->p_answer, m->cycle_s, m->answer_s, m->grace, m->cap == 0.03 ? "" : ".other_cap");
    /* The optimum under the cap mixes two policies (the constrained problem's optimum is a
     * mix of two policies optimal for one lambda; here they are optimal for two lambdas 1 %
     * apart): the share that puts the abandon rate on the cap. */
    solution_t in = {0}, over = {0};
    double lambda = 1000;
    if (bracket(&w, 0, 0.01, &lambda, &in, &over)) {
        double ein = in.abandoned - m->cap * in.answered;
        double eover = over.abandoned - m->cap * over.answered;
        solution_t best = mix(&in, &over, eover / (eover - ein));
        print_solution(m, name, "", &best);
        print_solution(m, name, "pure_within_cap.", &in);
        print_solution(m, name, "pure_over_cap.", &over);
    } else {
        fprintf(stderr, "pacing_dp: %s: the cap was not bracketed\n", name);
    }
    /* The least abandon rate at which goal_occupancy is reached, mixed likewise; a goal
     * above the optimum under the cap needs a smaller lambda than the cap's. */
    if (goal_occupancy > 0) {
        double goal = goal_occupancy * m->agents;
        solution_t reach, shy;
        double top = goal > in.busy && lambda > 0 ? lambda : 1000;
        if (bracket(&w, goal, 0.01, &top, &reach, &shy)) {
            solution_t at = mix(&reach, &shy, (goal - shy.busy) / (reach.busy - shy.busy));
            printf("metric %s.for_%.4f.abandon %.4f ratio\n", name, goal_occupancy,
                   abandon_rate(&at));
        } else {
            fprintf(stderr, "pacing_dp: %s: occupancy %.4f was not bracketed\n", name,
                    goal_occupancy);
        }
    }
    printf("metric %s.value_iterations %d count\n", name, w.iterations);
    fflush(stdout);
    free(w.v);
    free(w.u);
    free(w.policy);
    tables_free(m, &w.t);
}

int main(int argc, char **argv)
{
    int grace = 2, ai = 1;
    double cap = 0.03, goal = 0;
    for (; ai + 1 < argc && argv[ai][0] == '-'; ai += 2) {
        if (strcmp(argv[ai], "-g") == 0)
            grace = atoi(argv[ai + 1]);
        else if (strcmp(argv[ai], "-c") == 0)
            cap = atof(argv[ai + 1]);
        else if (strcmp(argv[ai], "-o") == 0)
            goal = atof(argv[ai + 1]);
        else
            break;
    }
    if (grace < 1 || grace > 2 || !(cap > 0 && cap < 1) || !(goal >= 0 && goal < 1)) {
        fprintf(stderr, "usage: pacing_dp [-g 1|2] [-c CAP] [-o OCCUPANCY] [AGENTS ANSWER CYCLE_S "
                        "[MEAN_ANSWER_S]]\n");
        return 2;
    }
    model_t m = {.grace = grace, .cap = cap, .cycle_s = 130, .answer_s = 8};
    if (argc - ai >= 3) {
        m.agents = atoi(argv[ai]);
        m.p_answer = atof(argv[ai + 1]);
        m.cycle_s = atof(argv[ai + 2]);
        if (argc - ai >= 4)
            m.answer_s = atof(argv[ai + 3]);
        if (m.agents < 1 || m.agents > AGENTS_MAX || !(m.p_answer > 0 && m.p_answer < 1) ||
            !(m.cycle_s >= 1) || !(m.answer_s >= 0.5)) {
            fprintf(stderr, "pacing_dp: AGENTS 1-%d, ANSWER in (0, 1), CYCLE_S >= 1, "
                            "MEAN_ANSWER_S >= 0.5\n", AGENTS_MAX);
            return 2;
        }
        run(&m, goal);
        return 0;
    }
    /* The issue's scenario (20 agents, 25 %), a small team, and the same team with answers
     * coming sooner (under a minute in all). */
    static const struct {
        int agents;
        double p, answer_s;
    } def[] = {{20, 0.25, 8}, {5, 0.25, 8}, {20, 0.25, 3}};
    for (size_t i = 0; i < sizeof def / sizeof *def; i++) {
        m.agents = def[i].agents;
        m.p_answer = def[i].p;
        m.answer_s = def[i].answer_s;
        run(&m, def[i].agents == 20 && def[i].answer_s == 8 ? ISSUE_GOAL_BUSY : 0);
    }
    return 0;
}
