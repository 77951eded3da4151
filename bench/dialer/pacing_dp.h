/*
 * pacing_dp's solver: the memoryless campaign as a Markov decision process (the model is
 * described in pacing_dp_model.c), the optimal policy for a Lagrange multiplier, and the
 * long-run figures of a policy.  Apart from the program (pacing_dp.c) so that
 * test/dialer/test_pacing_dp.c can check it against a simulation of its own.
 */
#ifndef CCD_BENCH_DIALER_PACING_DP_H
#define CCD_BENCH_DIALER_PACING_DP_H

#include <stdbool.h>

#define PDP_AGENTS_MAX 40
#define PDP_RING_MAX 48  /* calls ringing at most (one phase): a policy may not place beyond */
#define PDP_RING2_MAX 32 /* calls in each phase at most (two phases) */
#define PDP_WAIT_MAX 4  /* answered calls waiting, per age, at most: more are abandoned */

typedef struct pdp_model {
    int agents;      /* 1 .. PDP_AGENTS_MAX */
    int grace;       /* steps an answered call may wait for an agent to free: 1 or 2 */
    int phases;      /* a call's time to its end: 1 exponential phase or 2 (pacing_dp_model.c) */
    double p_answer; /* share of calls answered, in (0, 1) */
    double cycle_s;  /* mean time an agent stays busy with a call (talk and wrap-up), >= 1 */
    double answer_s; /* mean time from placing a call to its end, answered or not, >= 0.5
                      * (>= 2 with two phases) */
    double cap;      /* on the abandon rate (abandoned / answered), in (0, 1) */
    int ring_max;    /* calls in a phase at most, up to the limit above; 0: that limit */
} pdp_model_t;

/* A policy's figures per step of 1 s, in the long run. */
typedef struct pdp_solution {
    double busy;      /* agents busy at the end of a step */
    double answered;  /* calls answered in a step */
    double abandoned; /* calls abandoned in a step */
    double ringing;   /* calls ringing at the start of a step */
} pdp_solution_t;

typedef struct pdp pdp_t;

/* Whether m is within the ranges above. */
bool pdp_model_valid(const pdp_model_t *m);
/* NULL when the model is not valid or memory runs out.  The policy starts as "place
 * nothing". */
pdp_t *pdp_new(const pdp_model_t *m);
void pdp_free(pdp_t *d);

/* Relative value iteration for busy agents - lambda x (abandoned - cap x answered); leaves
 * the optimal policy in d (and its values, from which the next call starts).  The number of
 * iterations it took. */
int pdp_solve(pdp_t *d, double lambda);

/* The current policy's figures, from its stationary distribution (starting from no agent
 * busy and nothing ringing).  Uses d's scratch space. */
void pdp_evaluate(pdp_t *d, pdp_solution_t *out);

/* The calls the current policy places after a step that left busy agents busy, first calls
 * in the first phase (0 with one phase), last in the last (or only) one, waiting1 answered
 * calls waiting since that step and waiting2 since the step before (both 0 unless every
 * agent is busy).  0 for a state out of range. */
int pdp_policy(const pdp_t *d, int busy, int first, int last, int waiting1, int waiting2);

/* Replaces the policy with rule's answers (given all calls ringing, both phases together;
 * clamped to the phase's room). */
typedef int pdp_rule_fn(int busy, int ringing, int waiting1, int waiting2, void *arg);
void pdp_set_policy(pdp_t *d, pdp_rule_fn *rule, void *arg);

double pdp_abandon_rate(const pdp_solution_t *x);
/* The Lagrangian per step that pdp_solve maximises, for a solution. */
double pdp_gain(const pdp_model_t *m, const pdp_solution_t *x, double lambda);

#endif
