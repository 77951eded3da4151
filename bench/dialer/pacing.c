/*
 * bench/pacing: agent occupancy and abandon rate of pacing policies, on a simulated
 * campaign in virtual time (pacing_sim.c) that drives the real pacing unit.
 *
 * Scenarios: 5, 20, 100 agents x answer rate 15, 25, 40 % x mean talk 60, 120, 300 s
 * (wrap-up 10 s).  Policies: progressive 1:1, Issabel's algorithm, the best fixed ratio
 * (calls ringing per free agent; the largest ratio whose worst 24 h abandon rate stays
 * within the cap, by bisection), ours (predictive), an agent oracle (ours told when every busy
 * agent will be ready) and a clairvoyant bound.  Every figure prints as
 *   metric pacing.<policy>.a<agents>.p<answer>.t<talk>.<figure> <value> <unit>
 * Usage: pacing [-s SEED] [-o] [-f] [-r] [-a MEAN[,SD]] [-m|-M [-w]] [-b] [AGENTS ANSWER TALK]:
 * -s another seed (0, the default, gives the published figures), -o ours alone (no
 * baselines), -f the frontier searches of ours and the agent oracle (the pacer's level that
 * is best within the cap, and the level and abandon rate at which occupancy reaches 0.87), -r
 * ours over the hour after the engine restarts halfway through (cautious, with the saved
 * allowance, with the allowance and the estimators), -a another time to answer (mean and
 * deviation in seconds, lognormal; 8,5 by default; the deviation scales with the mean when
 * left out), -m / -M the memoryless campaign bench/pacing_dp solves exactly with one / two
 * phases (-w: with this campaign's wrap-up after an exponential talk), -b unanswered calls
 * ending as answered ones do (a call's elapsed time then tells nothing of its fate), three
 * numbers one scenario
 * (default: all 27).  The older form "AGENTS ANSWER TALK predictive" is -o on one scenario.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/dialer/pacing_sim.h"

#define TARGET 0.03
#define SEARCH_STEPS 6

/* -s: another list of numbers and other agents' calls for every scenario (0 = the
 * published figures); -o: ours alone, no baselines (for tuning). */
static uint64_t seed_shift;
static bool ours_only;
/* -f: the frontier searches (frontier()) in each scenario run. */
static bool frontiers;
/* -r: the hour after a restart of the engine halfway through (restart()). */
static bool restarts;
/* -a MEAN[,SD]: another time to answer (seconds, lognormal) than bench/pacing's 8 +/- 5 s. */
static double answer_mean_s = 8, answer_sd_s = 5;
/* -m: the memoryless campaign that bench/pacing_dp solves exactly (pacing_sim.h): the
 * agents' whole cycle (talk and wrap-up) exponential of mean TALK + 10 s, every call ending
 * after an exponential time of mean -a's MEAN; its figures print as pacing.memoryless.*, its
 * occupancy is the agents' busy share, as pacing_dp's.  -M: the same with calls in two
 * phases (pacing_dp -k 2), printed as pacing.memoryless2.*. */
static int memoryless;
/* -b: the campaign with unanswered calls ending as answered ones do (pacing_sim.h "blind"),
 * printed as pacing.blind.*. */
static int blind;
/* -w: with -m / -M, the agents' talk exponential of mean TALK and a wrap-up of 9-11 s (as in
 * this campaign, foreseeable once it starts) instead of one exponential cycle; occupancy is
 * then the share of time talking again. */
static bool memoryless_wrap;

static sim_scenario_t scenario(int agents, double p, double talk)
{
    /* Fewer days for bigger teams: each simulated day already holds more calls (about
     * 650 answered calls a day per agent at 120 s talk). */
    int days = agents <= 5 ? 4 : agents <= 20 ? 2 : 1;
    return (sim_scenario_t){.agents = agents,
                            .p_answer = p,
                            .talk_mean_s = memoryless && !memoryless_wrap ? talk + 10 : talk,
                            .talk_cv = 1.0,
                            .wrap_mean_s = memoryless && !memoryless_wrap ? 0 : 10,
                            .fail_share = memoryless ? 0 : 0.10,
                            .answer_mean_s = answer_mean_s,
                            .answer_sd_s = answer_sd_s,
                            .memoryless = memoryless,
                            .blind = blind,
                            .ring_timeout_s = 25,
                            .grace_s = 2,
                            .abandon_target = TARGET,
                            .hours = 24 * days,
                            .seed = 20261205ULL + (uint64_t)agents * 7919 + (uint64_t)(p * 1000) * 31 +
                                    (uint64_t)talk + seed_shift * 1000003ULL};
}

static void print(const char *pol, const sim_scenario_t *sc, const sim_result_t *r)
{
    char k[96];
    snprintf(k, sizeof k, "pacing.%s%s.a%d.p%.2f.t%.0f",
             sc->memoryless == 2 ? "memoryless2." : sc->memoryless ? "memoryless."
                                                   : sc->blind ? "blind." : "",
             pol, sc->agents, sc->p_answer, sc->talk_mean_s);
    printf("metric %s.occupancy %.4f ratio\n", k, r->occupancy);
    printf("metric %s.first_hour_occupancy %.4f ratio\n", k, r->first_hour_occupancy);
    printf("metric %s.abandon %.4f ratio\n", k, r->abandon);
    printf("metric %s.worst24h_abandon %.4f ratio\n", k, r->worst24h);
    printf("metric %s.calls_per_agent_hour %.2f calls\n", k, r->calls_per_agent_hour);
    printf("metric %s.dials_per_agent_hour %.2f calls\n", k, r->placed_per_agent_hour);
    if (r->decisions)
        printf("metric %s.decide_ns %.0f ns\n", k, r->decide_ns / (double)r->decisions);
}

static int must(int rc)
{
    if (rc) {
        fprintf(stderr, "pacing: out of memory\n");
        exit(1);
    }
    return rc;
}

/* The largest ratio in [lo, hi] that keeps every 24 h window within the cap: bisection on
 * runs of half the length (to save time), then the full run of the ratio found, stepping
 * down while that one goes over.  lo must be safe (1 = progressive). */
static double search(const sim_scenario_t *sc, sim_policy_e pol, double lo, double hi,
                     sim_result_t *best)
{
    sim_scenario_t half = *sc;
    half.hours = sc->hours / 2;
    double safe = lo;
    for (int i = 0; i < SEARCH_STEPS; i++) {
        double mid = (lo + hi) / 2;
        sim_result_t r;
        must(sim_run(&half, pol, mid, &r));
        if (r.worst24h <= TARGET)
            lo = mid;
        else
            hi = mid;
    }
    double step = (hi - safe) / (1 << SEARCH_STEPS);
    for (;;) {
        must(sim_run(sc, pol, lo, best));
        if (best->worst24h <= TARGET || lo <= safe)
            return lo;
        lo = lo - 2 * step > safe ? lo - 2 * step : safe;
    }
}

/* The pacer told to aim at another abandon target is the same policy at another level: the
 * knob that trades abandons for occupancy.  Bisection on that target (FRONTIER_STEPS full
 * runs) for the largest whose worst 24 h stays within the cap (max_level) or the smallest
 * whose occupancy reaches GOAL_OCCUPANCY (whatever its abandons); *best is the run found. */
#define FRONTIER_STEPS 7
#define GOAL_OCCUPANCY 0.87
static double search_level(const sim_scenario_t *sc, sim_policy_e pol, bool max_level,
                           sim_result_t *best)
{
    double lo = TARGET, hi = max_level ? 5 * TARGET : 0.25;
    sim_scenario_t s = *sc;
    sim_result_t r;
    s.abandon_target = max_level ? lo : hi;
    must(sim_run(&s, pol, 0, best));
    double found = s.abandon_target;
    if (!max_level && best->occupancy < GOAL_OCCUPANCY)
        return found; /* out of reach even there */
    for (int i = 0; i < FRONTIER_STEPS; i++) {
        s.abandon_target = (lo + hi) / 2;
        must(sim_run(&s, pol, 0, &r));
        bool up = max_level ? r.worst24h <= TARGET : r.occupancy < GOAL_OCCUPANCY;
        if (up)
            lo = s.abandon_target;
        else
            hi = s.abandon_target;
        if (up == max_level) {
            *best = r;
            found = s.abandon_target;
        }
    }
    return found;
}

static void frontier(const sim_scenario_t *sc, sim_policy_e pol, const char *name)
{
    sim_result_t r;
    char k[64];
    double x = search_level(sc, pol, true, &r);
    snprintf(k, sizeof k, "%s_best_level", name);
    print(k, sc, &r);
    printf("metric pacing.%s.a%d.p%.2f.t%.0f.pacer_target %.4f ratio\n", k, sc->agents,
           sc->p_answer, sc->talk_mean_s, x);
    x = search_level(sc, pol, false, &r);
    snprintf(k, sizeof k, "%s_for_%.2f", name, GOAL_OCCUPANCY);
    print(k, sc, &r);
    printf("metric pacing.%s.a%d.p%.2f.t%.0f.pacer_target %.4f ratio\n", k, sc->agents,
           sc->p_answer, sc->talk_mean_s, x);
}

/* Ours over the hour after the engine restarts halfway through the run: not restarted (the
 * baseline), restarted cautious (as before ccd_pacer_state), with the allowance saved, with
 * the allowance and the estimators saved (as the dialer does now); and the restarted runs'
 * worst 24 h, which what is restored must keep within the cap. */
static void restart(const sim_scenario_t *sc)
{
    static const char *const name[] = {"none", "cautious", "restored", "state"};
    char k[96];
    snprintf(k, sizeof k, "pacing.restart.a%d.p%.2f.t%.0f", sc->agents, sc->p_answer,
             sc->talk_mean_s);
    for (int m = SIM_RESTART_NONE; m <= SIM_RESTART_STATE; m++) {
        sim_scenario_t s = *sc;
        s.restart_at_min = sc->hours * 60 / 2;
        s.restart = m;
        sim_result_t r;
        must(sim_run(&s, SIM_PREDICTIVE, 0, &r));
        printf("metric %s.%s.hour_after_occupancy %.4f ratio\n", k, name[m],
               r.restart_hour_occupancy);
        printf("metric %s.%s.worst24h_abandon %.4f ratio\n", k, name[m], r.worst24h);
    }
}

static void run_scenario(int agents, double p, double talk)
{
    sim_scenario_t sc = scenario(agents, p, talk);
    char k[96];
    snprintf(k, sizeof k, "pacing.a%d.p%.2f.t%.0f", agents, p, talk);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sim_result_t prog, iss, rf, ours, orac, clair;
    if (ours_only) {
        must(sim_run(&sc, SIM_PREDICTIVE, 0, &ours));
        print("predictive", &sc, &ours);
        if (frontiers) {
            must(sim_run(&sc, SIM_AGENT_ORACLE, 0, &ours));
            print("agent_oracle", &sc, &ours);
            frontier(&sc, SIM_PREDICTIVE, "predictive");
            frontier(&sc, SIM_AGENT_ORACLE, "agent_oracle");
        }
        if (restarts)
            restart(&sc);
        return;
    }
    must(sim_run(&sc, SIM_PROGRESSIVE, 0, &prog));
    must(sim_run(&sc, SIM_ISSABEL, 0, &iss));
    double xf = search(&sc, SIM_RATIO_FREE, 1.0, 2.0 / p, &rf);
    must(sim_run(&sc, SIM_PREDICTIVE, 0, &ours));
    must(sim_run(&sc, SIM_AGENT_ORACLE, 0, &orac));
    must(sim_run(&sc, SIM_CLAIRVOYANT, 0, &clair));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print("progressive", &sc, &prog);
    print("issabel", &sc, &iss);
    print("best_ratio", &sc, &rf);
    printf("metric pacing.best_ratio.a%d.p%.2f.t%.0f.ratio %.3f calls_per_free_agent\n", agents,
           p, talk, xf);
    print("predictive", &sc, &ours);
    print("agent_oracle", &sc, &orac);
    print("clairvoyant", &sc, &clair);
    printf("metric pacing.predictive.a%d.p%.2f.t%.0f.vs_clairvoyant %.4f ratio\n", agents, p,
           talk, clair.occupancy > 0 ? ours.occupancy / clair.occupancy : 0);
    printf("metric %s.days %d days\n", k, sc.hours / 24);
    printf("metric %s.wall %.2f s\n", k,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    /* Where 0.87 lies for this policy family (-f: about 30 more runs per scenario, so not
     * by default: the whole bench would pass a minute). */
    if (frontiers) {
        frontier(&sc, SIM_PREDICTIVE, "predictive");
        frontier(&sc, SIM_AGENT_ORACLE, "agent_oracle");
    }
    if (restarts)
        restart(&sc);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr, "usage: pacing [-s SEED] [-o] [-f] [-r] [-a MEAN[,SD]] [-m|-M [-w]] [-b] "
                    "[AGENTS ANSWER TALK]\n"
                    "       pacing AGENTS ANSWER TALK predictive   (the same as -o)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            seed_shift = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-o") == 0)
            ours_only = true;
        else if (strcmp(argv[i], "-f") == 0)
            frontiers = true;
        else if (strcmp(argv[i], "-r") == 0)
            restarts = true;
        else if (strcmp(argv[i], "-m") == 0)
            memoryless = 1;
        else if (strcmp(argv[i], "-M") == 0)
            memoryless = 2;
        else if (strcmp(argv[i], "-b") == 0)
            blind = 1;
        else if (strcmp(argv[i], "-w") == 0)
            memoryless_wrap = true;
        else if (strcmp(argv[i], "-a") == 0 && i + 1 < argc) {
            char *end;
            answer_mean_s = strtod(argv[++i], &end);
            if (*end == ',')
                answer_sd_s = strtod(end + 1, &end);
            else
                answer_sd_s = answer_mean_s * 5 / 8;
            if (*end || !(answer_mean_s >= 0.5 && answer_mean_s <= 20) ||
                !(answer_sd_s >= 0 && answer_sd_s <= 20))
                usage();
        } else
            usage();
    }
    /* Combinations that would silently mean something else: -w only reshapes the memoryless
     * campaigns, -b only this one, and two phases need a mean time to answer of 2 s at least
     * (each phase is left within a second with probability 2 / (mean + 0.5)). */
    if ((memoryless_wrap && !memoryless) || (blind && memoryless) ||
        (memoryless == 2 && answer_mean_s < 2))
        usage();
    int rest = argc - i;
    if (rest == 4 && strcmp(argv[i + 3], "predictive") == 0) {
        ours_only = true;
        rest = 3;
    }
    if (rest == 3) {
        run_scenario(atoi(argv[i]), atof(argv[i + 1]), atof(argv[i + 2]));
        return 0;
    }
    if (rest != 0)
        usage();
    static const int agents[] = {5, 20, 100};
    static const double answer[] = {0.15, 0.25, 0.40};
    static const double talk[] = {60, 120, 300};
    for (int a = 0; a < 3; a++)
        for (int p = 0; p < 3; p++)
            for (int t = 0; t < 3; t++)
                run_scenario(agents[a], answer[p], talk[t]);
    return 0;
}
