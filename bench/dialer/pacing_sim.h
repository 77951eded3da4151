/*
 * bench/pacing's discrete-event simulation of one outgoing campaign in virtual time: a
 * list of numbers whose fates are fixed by the seed (so every policy meets the same
 * customers), agents who talk and wrap up, the 2 s abandon rule, and a policy deciding
 * each cycle how many calls to place.
 */
#ifndef CCD_BENCH_DIALER_PACING_SIM_H
#define CCD_BENCH_DIALER_PACING_SIM_H

#include <stdint.h>

typedef enum sim_policy {
    SIM_PROGRESSIVE,  /* the real pacer, progressive mode */
    SIM_ISSABEL,      /* Issabel dialerd's prediction (reference §4), with its defaults */
    SIM_RATIO_FREE,   /* ratio calls ringing per free agent */
    SIM_PREDICTIVE,   /* the real pacer, predictive mode */
    SIM_CLAIRVOYANT,  /* knows every call's outcome, answer delay, talk and wrap-up */
    SIM_AGENT_ORACLE, /* the real pacer, predictive, told when every busy agent will be ready
                       * (talk and wrap-up known); calls' outcomes unknown as for ours */
} sim_policy_e;

typedef struct sim_scenario {
    int agents;
    double p_answer;      /* share of placed calls answered */
    double talk_mean_s;   /* lognormal, coefficient of variation talk_cv */
    double talk_cv;
    double wrap_mean_s;   /* uniform over mean +/- 5 s */
    double fail_share;    /* busy / congestion / unallocated, after 1-6 s */
    double answer_mean_s; /* lognormal time to answer of answered calls, within the timeout */
    double answer_sd_s;
    double ring_timeout_s; /* unanswered calls ring this long (>= the 15 s minimum) */
    double grace_s;        /* the abandon rule */
    double abandon_target;
    int hours; /* simulated time */
    uint64_t seed;
    /* restart_hour_occupancy is measured over the hour from this minute (0 = not at all),
     * where, with restart set, the engine restarts: the pacer is replaced by a new one seeded
     * as the dialer seeds it, with the abandon history and (SIM_RESTART_KEEP) the allowance
     * the old one had tuned, which ccd_pacer_state carries across a real restart, or
     * (SIM_RESTART_CAUTIOUS) without it, as before that state was saved, or
     * (SIM_RESTART_STATE) the allowance and the estimators, through the line the dialer
     * saves (dl_pacer_export_estimates).  Calls in flight carry on. */
    int restart_at_min;
    enum { SIM_RESTART_NONE, SIM_RESTART_CAUTIOUS, SIM_RESTART_KEEP, SIM_RESTART_STATE } restart;
    /* The campaign bench/pacing_dp solves exactly (memoryless 1 or 2, its phases; 0: not):
     * every call, answered or not, ends after an exponential time of mean answer_mean_s, or
     * with 2, after two phases of whole seconds, each left within a second with probability
     * 2 / (answer_mean_s + 0.5), less a fraction of the last second (no fast failures, no
     * ring-out); talk is exponential of mean talk_mean_s, with no wrap-up (wrap_mean_s 0: then
     * nothing about a call or an agent tells how soon it ends) or one as in this campaign. */
    int memoryless;
    /* Unanswered calls end as answered ones do (after the same lognormal time to answer),
     * and none fails fast: how long a call has rung then tells nothing of its fate, as in
     * the memoryless campaigns, with everything else as in this one. */
    int blind;
} sim_scenario_t;

typedef struct sim_result {
    double occupancy;            /* talk time / logged-in agent time */
    double first_hour_occupancy; /* the same over the first hour: a new pacer's warm-up */
    double restart_hour_occupancy; /* the same over the hour from restart_at_min (or from that
                                    * minute of a run without a restart, to compare) */
    double abandon;              /* abandoned / answered, whole run */
    double worst24h;             /* the same over the worst 24 h window (1 min steps; the
                                  * whole run when shorter) */
    double calls_per_agent_hour; /* calls connected to an agent */
    double placed_per_agent_hour;
    uint64_t placed, answered, connected, abandoned;
    /* The pacer's own cost (progressive and predictive only): decisions asked for and the
     * wall time spent inside dl_pacer_decide (monotonic clock around each call). */
    uint64_t decisions;
    double decide_ns;
} sim_result_t;

/* 0, or -1 when memory runs out. */
int sim_run(const sim_scenario_t *sc, sim_policy_e pol, double ratio, sim_result_t *out);

#endif
