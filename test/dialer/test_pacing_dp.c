/*
 * bench/pacing_dp's solver, on which the pacing note rests: the figures it computes
 * for a policy are those a simulation of the same campaign (written here from the model's
 * description, not from its code) measures, the policy it calls optimal does at least as
 * well as simple rules, a larger penalty on abandons never buys more of them, and it refuses
 * models out of range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bench/dialer/pacing_dp.h"

static pdp_model_t small(int grace)
{
    return (pdp_model_t){.agents = 4,
                         .grace = grace,
                         .phases = 1,
                         .p_answer = 0.3,
                         .cycle_s = 40,
                         .answer_s = 4,
                         .cap = 0.03};
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* The campaign step by step: agents free, calls move on or end (some answered), answered
 * calls meet free agents oldest first, a call that has waited its grace is abandoned, then
 * the policy places calls (into the first phase, with two). */
static void simulate(const pdp_t *d, const pdp_model_t *m, long steps, pdp_solution_t *out)
{
    double f = 1 - exp(-1.0 / m->cycle_s);
    double end = m->phases == 2 ? 2 / (m->answer_s + 0.5) : 1 - exp(-1.0 / m->answer_s);
    int busy = 0, first = 0, ringing = 0, wait[3] = {0, 0, 0}; /* wait[a]: a + 1 steps ago */
    pdp_solution_t sum = {0};
    long counted = 0;
    for (long st = 0; st < steps; st++) {
        int freed = 0, answered = 0, still = 0, moved = 0;
        for (int i = 0; i < busy; i++)
            freed += uniform() < f;
        for (int i = 0; i < ringing; i++) {
            if (uniform() < end)
                answered += uniform() < m->p_answer;
            else
                still++;
        }
        for (int i = 0; i < first; i++)
            moved += uniform() < end;
        int avail = m->agents - busy + freed, matched = 0;
        /* Oldest first: wait[grace - 1] has used its grace and is abandoned if unmatched. */
        int queue[3] = {wait[1], wait[0], answered};
        if (m->grace == 1) {
            queue[0] = 0;
            queue[1] = wait[0];
        }
        for (int q = 0; q < 3; q++) {
            int take = queue[q] < avail ? queue[q] : avail;
            queue[q] -= take;
            avail -= take;
            matched += take;
        }
        int abandoned = queue[m->grace == 1 ? 1 : 0];
        wait[1] = m->grace == 1 ? 0 : queue[1];
        wait[0] = queue[2];
        if (wait[0] > PDP_WAIT_MAX) {
            abandoned += wait[0] - PDP_WAIT_MAX;
            wait[0] = PDP_WAIT_MAX;
        }
        busy = busy - freed + matched;
        if (st >= steps / 20) { /* past the start */
            sum.ringing += first + ringing;
            sum.busy += busy;
            sum.answered += answered;
            sum.abandoned += abandoned;
            counted++;
        }
        int n = pdp_policy(d, busy, first - moved, still + moved, wait[0], wait[1]);
        if (m->phases == 2) {
            first = first - moved + n;
            ringing = still + moved;
        } else {
            ringing = still + n;
        }
    }
    out->busy = sum.busy / (double)counted;
    out->answered = sum.answered / (double)counted;
    out->abandoned = sum.abandoned / (double)counted;
    out->ringing = sum.ringing / (double)counted;
}

static void check_against_simulation(int grace, int phases, double lambda)
{
    pdp_model_t m = small(grace);
    m.phases = phases;
    m.ring_max = phases == 2 ? 12 : 0; /* a small team rings a few calls: a small state */
    pdp_t *d = pdp_new(&m);
    assert_non_null(d);
    pdp_solve(d, lambda);
    pdp_solution_t exact, sim;
    pdp_evaluate(d, &exact);
    simulate(d, &m, 3000000, &sim);
    /* Not a degenerate policy: it dials, connects and abandons. */
    assert_true(exact.busy / m.agents > 0.5);
    assert_true(exact.abandoned > 0);
    /* Three million steps: the sampling error is far below these. */
    assert_true(fabs(exact.busy - sim.busy) / m.agents < 0.005);
    assert_true(fabs(exact.answered - sim.answered) < 0.002);
    assert_true(fabs(pdp_abandon_rate(&exact) - pdp_abandon_rate(&sim)) < 0.004);
    assert_true(fabs(exact.ringing - sim.ringing) < 0.05);
    pdp_free(d);
}

static void test_matches_simulation(void **state)
{
    (void)state;
    check_against_simulation(2, 1, 5);
    check_against_simulation(1, 1, 5);
    check_against_simulation(2, 1, 40);
    check_against_simulation(2, 2, 5);
}

/* Calls ringing per idle agent: ratio / p of them in flight, whatever the waiting calls. */
typedef struct ratio_arg {
    const pdp_model_t *m;
    double ratio;
} ratio_arg_t;

static int ratio_rule(int busy, int ringing, int waiting1, int waiting2, void *arg)
{
    (void)waiting1;
    (void)waiting2;
    const ratio_arg_t *r = arg;
    int idle = r->m->agents - busy;
    return (int)ceil(r->ratio * idle / r->m->p_answer) - ringing;
}

static void test_optimum_beats_rules(void **state)
{
    (void)state;
    pdp_model_t m = small(2);
    pdp_t *d = pdp_new(&m);
    assert_non_null(d);
    static const double lambdas[] = {2, 20};
    static const double ratios[] = {0, 0.5, 1, 1.5, 2, 3};
    for (size_t l = 0; l < sizeof lambdas / sizeof *lambdas; l++) {
        pdp_solution_t best, x;
        pdp_solve(d, lambdas[l]);
        pdp_evaluate(d, &best);
        double g = pdp_gain(&m, &best, lambdas[l]);
        for (size_t r = 0; r < sizeof ratios / sizeof *ratios; r++) {
            ratio_arg_t arg = {.m = &m, .ratio = ratios[r]};
            pdp_set_policy(d, ratio_rule, &arg);
            pdp_evaluate(d, &x);
            assert_true(pdp_gain(&m, &x, lambdas[l]) <= g + 1e-6);
        }
    }
    pdp_free(d);
}

static void test_penalty_orders_abandons(void **state)
{
    (void)state;
    pdp_model_t m = small(2);
    pdp_t *d = pdp_new(&m);
    assert_non_null(d);
    double last_rate = 1, last_busy = m.agents;
    for (double lambda = 0.5; lambda <= 200; lambda *= 4) {
        pdp_solution_t x;
        pdp_solve(d, lambda);
        pdp_evaluate(d, &x);
        assert_true(pdp_abandon_rate(&x) <= last_rate + 1e-9);
        assert_true(x.busy <= last_busy + 1e-9);
        last_rate = pdp_abandon_rate(&x);
        last_busy = x.busy;
    }
    /* The penalty is on abandons beyond the cap's share of the answered calls: a large one
     * keeps the rate within the cap (not at 0: within it, abandons cost nothing). */
    assert_true(last_rate <= m.cap);
    pdp_free(d);
}

static void test_rejects_bad_models(void **state)
{
    (void)state;
    pdp_model_t ok = small(2), m;
    assert_true(pdp_model_valid(&ok));
    m = ok, m.agents = 0;
    assert_false(pdp_model_valid(&m));
    assert_null(pdp_new(&m));
    m = ok, m.agents = PDP_AGENTS_MAX + 1;
    assert_null(pdp_new(&m));
    m = ok, m.grace = 3;
    assert_null(pdp_new(&m));
    m = ok, m.phases = 0;
    assert_null(pdp_new(&m));
    m = ok, m.phases = 2, m.answer_s = 1.5;
    assert_null(pdp_new(&m));
    m = ok, m.ring_max = PDP_RING_MAX + 1;
    assert_null(pdp_new(&m));
    m = ok, m.phases = 2, m.ring_max = PDP_RING2_MAX + 1;
    assert_null(pdp_new(&m));
    m = ok, m.p_answer = 1;
    assert_null(pdp_new(&m));
    m = ok, m.p_answer = NAN;
    assert_null(pdp_new(&m));
    m = ok, m.cycle_s = 0.5;
    assert_null(pdp_new(&m));
    m = ok, m.answer_s = 0;
    assert_null(pdp_new(&m));
    m = ok, m.cap = 0;
    assert_null(pdp_new(&m));
    pdp_t *d = pdp_new(&ok);
    assert_non_null(d);
    /* Out of the state space: nothing placed, nothing read out of bounds. */
    assert_int_equal(pdp_policy(d, -1, 0, 0, 0, 0), 0);
    assert_int_equal(pdp_policy(d, 0, 0, PDP_RING_MAX + 1, 0, 0), 0);
    assert_int_equal(pdp_policy(d, 0, 1, 0, 0, 0), 0); /* a first phase, with one phase */
    assert_int_equal(pdp_policy(d, 2, 0, 0, 1, 0), 0); /* waiting while agents are idle */
    pdp_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_simulation),
        cmocka_unit_test(test_optimum_beats_rules),
        cmocka_unit_test(test_penalty_orders_abandons),
        cmocka_unit_test(test_rejects_bad_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
