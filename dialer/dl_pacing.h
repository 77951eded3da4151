/*
 * dl_pacing: how many new calls a campaign should place now.
 *
 * A pure unit: no I/O, no clock reads, no threads, no allocation after dl_pacer_new.
 * The caller (the dialer thread, or bench/pacing's simulation in virtual time) feeds
 * it what happened to the campaign's calls and agents, with the time, and asks for a
 * decision once per cycle.  One pacer per campaign, owned by the thread that calls it.
 *
 * The seam the dialer depends on is the set of functions declared here; the pacing
 * work may add to it (more observations, more fields at the END of the structs) but
 * keeps these meanings.
 */
#ifndef CCD_DIALER_DL_PACING_H
#define CCD_DIALER_DL_PACING_H

#include <stdbool.h>
#include <stdint.h>

typedef enum dl_mode {
    DL_MODE_PREVIEW = 0,     /* the engine places nothing; an agent asks for the next number */
    DL_MODE_PROGRESSIVE = 1, /* one call per free agent */
    DL_MODE_PREDICTIVE = 2,  /* more calls than free agents, under the abandon-rate target */
} dl_mode_e;

typedef struct dl_pacing_params {
    dl_mode_e mode;
    double abandon_target;   /* the cap on the abandon rate, e.g. 0.03 */
    int64_t abandon_grace_ms; /* an answered call not at an agent within this is abandoned (2000) */
    int64_t min_ring_ms;     /* calls ring at least this long before giving up (15000) */
    int max_channels;        /* calls in flight at most (0 = no cap) */
} dl_pacing_params_t;

/* What the campaign looks like now. */
typedef struct dl_pace_input {
    int64_t now_ms;
    int agents_free;                 /* ready for a call now (logged in, not paused, no call) */
    int agents_busy;                 /* logged in, on a call of this campaign's queue or in wrap-up */
    const int64_t *busy_since_ms;    /* agents_busy entries: when each one's call was connected */
    int calls_ringing;               /* placed and not answered yet */
    const int64_t *ringing_since_ms; /* calls_ringing entries: when each was placed */
    int calls_waiting;               /* answered, waiting in the queue for an agent */
    int calls_reserved;              /* calls the dialer must place anyway this cycle (callbacks) */
    /* Optional (NULL = not known): agents_busy entries in the order of busy_since_ms, when
     * that agent's call ended and its wrap-up began, or -1 while it is still talking.  An
     * agent in wrap-up frees at a time far easier to foresee than one still talking. */
    const int64_t *wrap_since_ms;
    /* Optional (NULL = not known): agents_busy entries in the same order, when that agent
     * will be ready again for sure, or -1 when that is not known.  A caller knows it for an
     * agent in a wrap-up of fixed length (Asterisk's queue wrapuptime: ready = wrap start +
     * wrapuptime).  Such an agent counts as ready at that instant, no estimate involved. */
    const int64_t *ready_at_ms;
} dl_pace_input_t;

typedef enum dl_outcome {
    DL_OUT_FAILED = 0,  /* busy, congestion, unallocated, channel failure: ended before answer */
    DL_OUT_NOANSWER,    /* rang out */
    DL_OUT_ANSWERED,    /* answered (the call goes on; connected/abandoned follow) */
} dl_outcome_e;

typedef struct dl_pacer dl_pacer_t;

/* NULL on ENOMEM. */
dl_pacer_t *dl_pacer_new(const dl_pacing_params_t *p);
void dl_pacer_free(dl_pacer_t *p);
void dl_pacer_set_params(dl_pacer_t *p, const dl_pacing_params_t *params);

/* A placed call's first outcome: ring_ms = from placing to answer / to the failure. */
void dl_pacer_call_outcome(dl_pacer_t *p, int64_t now_ms, dl_outcome_e out, int64_t ring_ms);
/* An answered call reached an agent after wait_ms in the queue (abandoned when that is
 * over the grace time, as the law counts it). */
void dl_pacer_call_connected(dl_pacer_t *p, int64_t now_ms, int64_t wait_ms);
/* An answered call ended without reaching an agent (hung up in the queue, or sent to the
 * abandon message). */
void dl_pacer_call_abandoned(dl_pacer_t *p, int64_t now_ms);
/* An agent finished a call: talk_ms connected, then wrap_ms until ready again (0 if unknown). */
void dl_pacer_agent_done(dl_pacer_t *p, int64_t now_ms, int64_t talk_ms, int64_t wrap_ms);

/* How many new calls to place now (>= 0), within max_channels counting calls_ringing and
 * calls_waiting as in flight.  PREVIEW: calls_reserved only. */
int dl_pacer_decide(dl_pacer_t *p, const dl_pace_input_t *in);

/* Measured abandon rates (abandoned / answered) for the monitoring and the fallback: over
 * the last 24 h, the last 30 days, and the pacer's whole life.  0 when nothing answered. */
typedef struct dl_pace_rates {
    double day, month, lifetime;
    uint64_t answered_day, abandoned_day;
    bool fallback_progressive; /* predictive is holding back because a rate neared the cap */
    double allowance;          /* the risk one more predictive call may take (see below) */
} dl_pace_rates_t;
void dl_pacer_rates(const dl_pacer_t *p, int64_t now_ms, dl_pace_rates_t *out);
/* Seeds the lifetime counts from the database on start (the campaign's history). */
void dl_pacer_seed(dl_pacer_t *p, uint64_t answered, uint64_t abandoned);
/* Seeds the 24 h and 30-day windows with calls answered at at_ms (wall ms, the clock the
 * pacer is given), so that a restart does not forget the day's abandons.  Call it before the
 * pacer is told of live calls, oldest first; counts older than a window are not kept in it. */
void dl_pacer_seed_window(dl_pacer_t *p, int64_t at_ms, uint64_t answered, uint64_t abandoned);

/*
 * The allowance: the risk one more predictive call may take, tuned from the measured outcome
 * of every answered call.  A new pacer starts cautious (a third of the target) and needs
 * thousands of answered calls to reach its level, so the dialer saves it (dl_pacer_allowance,
 * with the target it was tuned for) and hands it back to the pacer of a restarted engine.
 * Seeding takes an allowance saved under another target scaled by the ratio of the targets,
 * within the pacer's bounds, and refuses one older than DL_PACER_STATE_MAX_AGE_MS (the
 * campaign may have changed since) or not positive: false then, and the cautious start stays.
 */
#define DL_PACER_STATE_MAX_AGE_MS (30LL * 24 * 3600 * 1000)
double dl_pacer_allowance(const dl_pacer_t *p);
bool dl_pacer_seed_allowance(dl_pacer_t *p, double allowance, double tuned_target, int64_t age_ms);

/*
 * The estimators across restarts: what the pacer has learnt of its campaign's calls (the
 * share answered and how long each outcome took, the recent weighing more) and of its agents
 * (their last talk, wrap-up and whole-cycle times), as one line of text the dialer stores
 * beside the allowance.  Without it a new pacer dials progressive until it has seen 50
 * outcomes and a cycle per agent, then trusts a model built on a few dozen calls: each
 * restart, and each day a campaign comes back to the active list, costs it about a point of
 * occupancy over its first hour (docs/dialer.md).
 *
 * dl_pacer_export_estimates writes the line and its NUL into out (len bytes; a buffer of
 * DL_PACER_ESTIMATES_MAX always suffices) as of now_ms: the length, or -1 when it does not fit.
 * dl_pacer_seed_estimates replaces the pacer's estimators with the line's, as if the time
 * between export and seed (age_ms) had not passed: the campaign was not dialing then, and
 * its numbers answered no differently.  -1, and the pacer unchanged, when the line is not one
 * this version wrote (any field malformed or out of range: the row may have been edited) or
 * when it is older than DL_PACER_STATE_MAX_AGE_MS.
 */
#define DL_PACER_ESTIMATES_MAX 8192
int dl_pacer_export_estimates(const dl_pacer_t *p, int64_t now_ms, char *out, size_t len);
int dl_pacer_seed_estimates(dl_pacer_t *p, int64_t now_ms, const char *text, int64_t age_ms);
/* Observations fed so far (outcomes and agent cycles): the dialer saves the estimators when
 * this has moved since it last did. */
uint64_t dl_pacer_observations(const dl_pacer_t *p);

#endif
