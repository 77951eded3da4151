/*
 * dl_pacing's private pieces, shared between its files only: the bounded estimators the
 * pacer keeps (recent call outcomes, recent agent cycles, rolling abandon counts).
 * Every structure here has a fixed size, so a pacer never allocates after dl_pacer_new.
 * Owned, like the pacer, by the one thread that calls it.
 */
#ifndef CCD_DIALER_DL_PACING_INT_H
#define CCD_DIALER_DL_PACING_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "dialer/dl_pacing.h"

/* ---- recent call outcomes: answer probability and the time to each outcome ---- */

/* Outcomes are weighted by age, halving about every 14 min (a mean life of 20 min): recent
 * enough to follow a list whose answer rate changes over the day, long enough that a burst
 * of calls placed together (whose failures, answers and ring-outs come back seconds apart)
 * does not swing the estimate.  A window of the last N outcomes did exactly that. */
#define DL__OUT_LIFE_MS (20 * 60 * 1000)
/* Outcome times are kept in 1 s steps up to this (a call that rings longer counts here). */
#define DL__RING_STEPS 128

typedef struct dl__outcomes {
    /* Weight of the outcomes that took [s-1 s, s s), index s >= 1 (all, and answered). */
    double ended_at[DL__RING_STEPS + 1], answered_at[DL__RING_STEPS + 1];
    /* Instead of decaying every weight as time passes, a new outcome weighs more: unit is its
     * weight at unit_at (rescaled before it grows too large). */
    double unit;
    int64_t unit_at;
    uint64_t n; /* outcomes ever added */
    bool dirty;
    /* Rebuilt when dirty: the shares of the weight ended (any outcome) / answered before
     * s seconds, the share answered, and the longest time to answer still weighing. */
    float ended_by[DL__RING_STEPS + 1], answered_by[DL__RING_STEPS + 1];
    double p_answer;
    int64_t max_answer_ms;
} dl__outcomes_t;

void dl__outcomes_add(dl__outcomes_t *o, int64_t now_ms, dl_outcome_e kind, int64_t ring_ms);
void dl__outcomes_refresh(dl__outcomes_t *o);
/* Share of the samples answered (0 when none).  Needs dl__outcomes_refresh first, as do
 * the two functions below. */
double dl__outcomes_p_answer(const dl__outcomes_t *o);
/* A call ringing for elapsed_ms: the probability that it is answered within the next
 * within_ms. */
double dl__outcomes_p_answer_within(const dl__outcomes_t *o, int64_t elapsed_ms,
                                    int64_t within_ms);
/* The longest time to answer seen, in ms (0 when nothing was answered). */
int64_t dl__outcomes_max_answer_ms(const dl__outcomes_t *o);

/* ---- durations: agent cycles (talk + wrap-up), talk, wrap-up ---- */

#define DL__DUR_N 128     /* samples kept */
#define DL__DUR_STEPS 128 /* points of the survival table */
#define DL__DUR_QUANTILES 2

typedef struct dl__dist {
    int32_t sample_ms[DL__DUR_N];
    int n, next;
    bool dirty;
    /* Rebuilt when dirty: longer_than[i] = how many samples are longer than i * step_ms. */
    int32_t step_ms;
    uint16_t longer_than[DL__DUR_STEPS + 1];
    double mean_ms;
    /* The 1/4 and 3/4 quantiles: the distribution as two equally likely values. */
    int32_t quantile_ms[DL__DUR_QUANTILES];
} dl__dist_t;

void dl__dist_add(dl__dist_t *d, int64_t ms);
void dl__dist_refresh(dl__dist_t *d);
/* Something that has lasted elapsed_ms: the probability that it ends within the next
 * within_ms.  Needs dl__dist_refresh first. */
double dl__dist_p_end_within(const dl__dist_t *d, int64_t elapsed_ms, int64_t within_ms);
/* The same for many values of within_ms at once (p[i] for within_ms[i]): the conditioning
 * on elapsed_ms is worked out once. */
void dl__dist_p_end_within_n(const dl__dist_t *d, int64_t elapsed_ms, const int64_t *within_ms,
                             int count, double *p);

/* ---- rolling abandon counts ---- */

typedef struct dl__bucket {
    int64_t index; /* now_ms / width of the period this bucket counts; -1 = empty */
    uint32_t answered, abandoned;
} dl__bucket_t;

/* A window of nb buckets of width_ms each: the last nb periods, the current one included
 * (so a 24 h window of 48 half hours covers between 23.5 h and 24 h). */
#define DL__DAY_BUCKETS 48
#define DL__MONTH_BUCKETS 30
typedef struct dl__window {
    int64_t width_ms;
    int nb;
    dl__bucket_t *b; /* points into the pacer's own arrays */
} dl__window_t;

void dl__window_init(dl__window_t *w, dl__bucket_t *b, int nb, int64_t width_ms);
void dl__window_add(dl__window_t *w, int64_t now_ms, uint32_t answered, uint32_t abandoned);
void dl__window_sum(const dl__window_t *w, int64_t now_ms, uint64_t *answered,
                    uint64_t *abandoned);

/* ---- the estimators as one line of text (dl_pacing_save.c) ---- */

/* Writes the line (format in dl_pacing_save.c) and its NUL into out: its length, or -1 when
 * len is too small. */
int dl__estimates_format(const dl__outcomes_t *o, const dl__dist_t *talk, const dl__dist_t *wrap,
                         const dl__dist_t *cycle, int64_t now_ms, char *out, size_t len);
/* Fills the (overwritten) estimators from a line, its weights as of now_ms: 0, or -1 when the
 * line is malformed (then their content is undefined: parse into scratch copies). */
int dl__estimates_parse(const char *text, int64_t now_ms, dl__outcomes_t *o, dl__dist_t *talk,
                        dl__dist_t *wrap, dl__dist_t *cycle);

/* ---- the predictive model (dl_pacing_predict.c) ---- */

/* The number of new calls (0 .. n_max) such that placing one more would give that call a
 * chance above risk of being answered with no agent free within grace_ms.  Uses the
 * estimators as they are (refresh them first); 0 when they know nothing yet. */
typedef struct dl__model {
    const dl__outcomes_t *out;
    const dl__dist_t *cycle; /* connected to ready again: used when wrap-up is not reported */
    const dl__dist_t *talk, *wrap;
} dl__model_t;

int dl__predict(const dl__model_t *m, const dl_pace_input_t *in, double risk, int64_t grace_ms,
                int n_max);

#endif
