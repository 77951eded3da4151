/*
 * The pacing unit: exact rules (preview, progressive, max_channels), the estimators the
 * predictive mode builds on, the measured abandon rates and the fallback to progressive
 * (where it starts and ends), agents whose ready time is known, and the exact sum the
 * model uses when a campaign is small.
 * Everything runs in virtual time: the pacer reads no clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dialer/dl_pacing.h"
#include "dialer/dl_pacing_int.h"

#define S 1000LL
#define HOUR (3600 * S)
#define DAY (24 * HOUR)

static dl_pacing_params_t params(dl_mode_e mode, int max_channels)
{
    return (dl_pacing_params_t){.mode = mode,
                                .abandon_target = 0.03,
                                .abandon_grace_ms = 2000,
                                .min_ring_ms = 15000,
                                .max_channels = max_channels};
}

static dl_pace_input_t input(int free, int ringing, int waiting, int reserved)
{
    return (dl_pace_input_t){.now_ms = 1000,
                             .agents_free = free,
                             .calls_ringing = ringing,
                             .calls_waiting = waiting,
                             .calls_reserved = reserved};
}

static void test_preview_places_only_reserved(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREVIEW, 0);
    dl_pacer_t *p = dl_pacer_new(&prm);
    assert_non_null(p);
    dl_pace_input_t in = input(10, 0, 0, 0);
    assert_int_equal(dl_pacer_decide(p, &in), 0);
    in.calls_reserved = 3;
    assert_int_equal(dl_pacer_decide(p, &in), 3);
    prm.max_channels = 4;
    dl_pacer_set_params(p, &prm);
    in.calls_ringing = 2;
    assert_int_equal(dl_pacer_decide(p, &in), 2);
    dl_pacer_free(p);
}

static void test_progressive_is_one_per_free_agent(void **state)
{
    (void)state;
    static const struct {
        int free, ringing, waiting, reserved, want;
    } cases[] = {
        {0, 0, 0, 0, 0}, {1, 0, 0, 0, 1}, {5, 0, 0, 0, 5}, {5, 2, 0, 0, 3},
        {5, 2, 1, 0, 2}, {5, 6, 0, 0, 0}, {2, 0, 3, 0, 0}, {5, 4, 0, 3, 3},
        {5, 0, 0, 2, 5}, {0, 0, 0, 2, 2},
        /* Negative counts (a caller's slip) read as none: never room for more calls. */
        {3, -4, 0, 0, 3}, {-2, 0, 0, 0, 0}, {3, 0, -1, -5, 3},
    };
    dl_pacing_params_t prm = params(DL_MODE_PROGRESSIVE, 0);
    dl_pacer_t *p = dl_pacer_new(&prm);
    assert_non_null(p);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dl_pace_input_t in = input(cases[i].free, cases[i].ringing, cases[i].waiting,
                                   cases[i].reserved);
        int got = dl_pacer_decide(p, &in);
        if (got != cases[i].want)
            fail_msg("case %zu: free %d ringing %d waiting %d reserved %d: got %d, want %d", i,
                     cases[i].free, cases[i].ringing, cases[i].waiting, cases[i].reserved, got,
                     cases[i].want);
    }
    dl_pacer_free(p);
}

/* max_channels bounds the calls in flight (ringing + waiting + new), not the calls per
 * cycle, in every mode. */
static void test_max_channels_counts_calls_in_flight(void **state)
{
    (void)state;
    const dl_mode_e modes[] = {DL_MODE_PREVIEW, DL_MODE_PROGRESSIVE, DL_MODE_PREDICTIVE};
    for (size_t m = 0; m < 3; m++) {
        dl_pacing_params_t prm = params(modes[m], 10);
        dl_pacer_t *p = dl_pacer_new(&prm);
        assert_non_null(p);
        dl_pace_input_t in = input(30, 0, 0, 20);
        assert_int_equal(dl_pacer_decide(p, &in), 10);
        in = input(30, 7, 2, 20);
        assert_int_equal(dl_pacer_decide(p, &in), 1);
        in = input(30, 9, 3, 20);
        assert_int_equal(dl_pacer_decide(p, &in), 0);
        dl_pacer_free(p);
    }
}

static void test_outcome_estimator(void **state)
{
    (void)state;
    static dl__outcomes_t o;
    /* 100 calls: 25 answered after 10 s, 15 failed after 2 s, 60 unanswered at 30 s. */
    for (int i = 0; i < 100; i++) {
        if (i % 4 == 0)
            dl__outcomes_add(&o, HOUR, DL_OUT_ANSWERED, 10 * S);
        else if (i % 4 == 1 && i < 60)
            dl__outcomes_add(&o, HOUR, DL_OUT_FAILED, 2 * S);
        else
            dl__outcomes_add(&o, HOUR, DL_OUT_NOANSWER, 30 * S);
    }
    dl__outcomes_refresh(&o);
    assert_float_equal(dl__outcomes_p_answer(&o), 0.25, 1e-9);
    /* A new call: answered within 5 s never, within 15 s with p. */
    assert_float_equal(dl__outcomes_p_answer_within(&o, 0, 5 * S), 0.0, 1e-9);
    assert_float_equal(dl__outcomes_p_answer_within(&o, 0, 15 * S), 0.25, 1e-9);
    /* Ringing for 5 s: the 15 fast failures are gone, so the odds are 25 / 85. */
    assert_float_equal(dl__outcomes_p_answer_within(&o, 5 * S, 10 * S), 25.0 / 85.0, 1e-9);
    /* Ringing for 12 s: past every answer seen, it will not be answered. */
    assert_float_equal(dl__outcomes_p_answer_within(&o, 12 * S, 30 * S), 0.0, 1e-9);
    assert_int_equal(dl__outcomes_max_answer_ms(&o), 11 * S);
    /* An hour later, 300 calls ring out: the old outcomes weigh e^-3 as much, so the
     * answer rate follows the new ones (25 x 0.05 / (100 x 0.05 + 300) = 0.4 %). */
    for (int i = 0; i < 300; i++)
        dl__outcomes_add(&o, 2 * HOUR, DL_OUT_NOANSWER, 30 * S);
    dl__outcomes_refresh(&o);
    assert_true(dl__outcomes_p_answer(&o) > 0.002 && dl__outcomes_p_answer(&o) < 0.006);
    /* The old answers still weigh enough to keep the horizon. */
    assert_int_equal(dl__outcomes_max_answer_ms(&o), 11 * S);
}

static void test_duration_estimator(void **state)
{
    (void)state;
    static dl__dist_t s;
    /* Half the cycles last 60 s, half 180 s. */
    for (int i = 0; i < 100; i++)
        dl__dist_add(&s, (i % 2 ? 60 : 180) * S);
    dl__dist_refresh(&s);
    assert_float_equal(s.mean_ms, 120.0 * S, 1e-6);
    /* Busy 10 s: within 20 s nobody frees; within 60 s half do. */
    assert_float_equal(dl__dist_p_end_within(&s, 10 * S, 20 * S), 0.0, 1e-9);
    assert_float_equal(dl__dist_p_end_within(&s, 10 * S, 60 * S), 0.5, 1e-9);
    /* Busy 100 s: only long cycles are left, ending at 180 s. */
    assert_float_equal(dl__dist_p_end_within(&s, 100 * S, 60 * S), 0.0, 1e-9);
    assert_float_equal(dl__dist_p_end_within(&s, 100 * S, 85 * S), 1.0, 1e-9);
    /* Past every cycle seen: memoryless with the mean, neither 0 nor 1. */
    double q = dl__dist_p_end_within(&s, 400 * S, 10 * S);
    assert_true(q > 0.05 && q < 0.1);
}

/* Rates: abandoned / answered over 24 h, 30 days, lifetime; a connection after the grace
 * time is an abandon, one within it is not. */
static void test_rates_windows(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *p = dl_pacer_new(&prm);
    assert_non_null(p);
    int64_t t = 10 * DAY;
    for (int i = 0; i < 100; i++) {
        dl_pacer_call_outcome(p, t, DL_OUT_ANSWERED, 8 * S);
        if (i < 4)
            dl_pacer_call_abandoned(p, t + S);
        else if (i < 6)
            dl_pacer_call_connected(p, t + 3 * S, 2500);
        else
            dl_pacer_call_connected(p, t + S, 2000);
    }
    dl_pace_rates_t r;
    dl_pacer_rates(p, t + 2 * S, &r);
    assert_int_equal(r.answered_day, 100);
    assert_int_equal(r.abandoned_day, 6);
    assert_float_equal(r.day, 0.06, 1e-9);
    assert_float_equal(r.month, 0.06, 1e-9);
    assert_float_equal(r.lifetime, 0.06, 1e-9);
    /* A day later the 24 h window is empty, the 30 days still hold them. */
    dl_pacer_rates(p, t + DAY + HOUR, &r);
    assert_int_equal(r.answered_day, 0);
    assert_float_equal(r.day, 0.0, 1e-9);
    assert_float_equal(r.month, 0.06, 1e-9);
    /* 31 days later only the lifetime remembers. */
    dl_pacer_rates(p, t + 31 * DAY, &r);
    assert_float_equal(r.month, 0.0, 1e-9);
    assert_float_equal(r.lifetime, 0.06, 1e-9);
    /* Seeding adds the campaign's history to the lifetime only. */
    dl_pacer_seed(p, 900, 0);
    dl_pacer_rates(p, t + 31 * DAY, &r);
    assert_float_equal(r.lifetime, 0.006, 1e-9);
    dl_pacer_free(p);
}


/* A campaign's recent past: 15 % answered after 5-9 s, 10 % failing after 2 s, the rest
 * ringing out at 25 s; agents talking 60-180 s then wrapping up 10 s.  Answered calls are
 * connected in time unless abandoned_per_mille of them are abandoned. */
static int64_t feed_history(dl_pacer_t *p, int64_t t, int answered_calls, int abandoned_per_mille)
{
    int answered = 0, abandoned = 0;
    for (int i = 0; answered < answered_calls; i++) {
        t += 1000;
        if (i % 20 < 3) {
            dl_pacer_call_outcome(p, t, DL_OUT_ANSWERED, (5 + i % 5) * S);
            answered++;
            if (abandoned * 1000 < answered * abandoned_per_mille) {
                dl_pacer_call_abandoned(p, t + S);
                abandoned++;
            } else {
                dl_pacer_call_connected(p, t, 500);
            }
        } else if (i % 20 < 5) {
            dl_pacer_call_outcome(p, t, DL_OUT_FAILED, 2 * S);
        } else {
            dl_pacer_call_outcome(p, t, DL_OUT_NOANSWER, 25 * S);
        }
        if (i % 10 == 0)
            dl_pacer_agent_done(p, t, (60 + (i / 10) % 7 * 20) * S, 10 * S);
    }
    return t;
}

/* Ten agents: 2 free, 4 wrapping up for 8 s (so free within about 2 s), 4 talking for
 * 100 s; nothing ringing.  Without wrap-up reports, the pacer sees 8 agents busy since
 * 128 s and 100 s. */
static int64_t busy_since[8], wrap_since[8];

static dl_pace_input_t ten_agents(int64_t now, bool wrap_known)
{
    for (int j = 0; j < 8; j++) {
        busy_since[j] = now - (j < 4 ? 128 : 100) * S;
        wrap_since[j] = j < 4 ? now - 8 * S : -1;
    }
    return (dl_pace_input_t){.now_ms = now,
                             .agents_free = 2,
                             .agents_busy = 8,
                             .busy_since_ms = busy_since,
                             .wrap_since_ms = wrap_known ? wrap_since : NULL};
}

/* The direction of the whole thing: with a low answer rate and no abandons, predictive
 * places more than one call per free agent (with or without wrap-up reports); it places
 * what progressive does before it has history, and once the measured rate nears the cap. */
static void test_predictive_overdials_only_when_safe(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *p = dl_pacer_new(&prm);
    assert_non_null(p);
    int64_t t = DAY;
    dl_pace_input_t in = ten_agents(t, true);
    assert_int_equal(dl_pacer_decide(p, &in), 2); /* no history yet: progressive */

    t = feed_history(p, t, 150, 0);
    in = ten_agents(t, true);
    int with_wrap = dl_pacer_decide(p, &in);
    /* About 6 agents will be free within the answer time: at 15 % answered that takes
     * well over 2 calls. */
    if (with_wrap <= 2 * 2)
        fail_msg("predictive placed %d calls for about 6 agents at 15 %% answered", with_wrap);
    /* Without wrap-up reports: the 4 agents busy for 185 s of cycles lasting at most 190 s
     * will be free within 5 s. */
    in = ten_agents(t, false);
    for (int j = 0; j < 4; j++)
        busy_since[j] = t - 185 * S;
    int without_wrap = dl_pacer_decide(p, &in);
    if (without_wrap <= 2)
        fail_msg("predictive placed %d calls for about 6 agents without wrap-up reports",
                 without_wrap);
    dl_pace_rates_t r;
    dl_pacer_rates(p, t, &r);
    assert_false(r.fallback_progressive);

    /* 20 abandons in the next 150 answered: 20 / 300 = 6.7 % today, over the cap. */
    for (int i = 0; i < 150; i++) {
        t += 1000;
        dl_pacer_call_outcome(p, t, DL_OUT_ANSWERED, 6 * S);
        if (i < 20)
            dl_pacer_call_abandoned(p, t);
        else
            dl_pacer_call_connected(p, t, 100);
    }
    in = ten_agents(t, true);
    assert_int_equal(dl_pacer_decide(p, &in), 2);
    dl_pacer_rates(p, t, &r);
    assert_true(r.fallback_progressive);
    dl_pacer_free(p);
}

/* The fallback follows every window: it holds while the 30 days remember the bad day, even
 * once the day and the lifetime are clean, and lets go when they no longer do. */
static void test_fallback_follows_every_window(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *p = dl_pacer_new(&prm);
    assert_non_null(p);
    int64_t t = feed_history(p, DAY, 400, 50); /* 5 % abandoned */
    dl_pace_input_t in = ten_agents(t, true);
    assert_int_equal(dl_pacer_decide(p, &in), 2);
    dl_pace_rates_t r;
    dl_pacer_rates(p, t, &r);
    assert_true(r.fallback_progressive);
    assert_true(r.day > 0.045 && r.day < 0.055);

    /* Two days on, with the campaign's long clean history: day and lifetime are fine, the
     * 30 days are not. */
    t += 2 * DAY;
    dl_pacer_seed(p, 100000, 0);
    in = ten_agents(t, true);
    assert_int_equal(dl_pacer_decide(p, &in), 2);
    dl_pacer_rates(p, t, &r);
    assert_true(r.fallback_progressive);
    assert_float_equal(r.day, 0.0, 1e-9);
    assert_true(r.lifetime < 0.001);
    assert_true(r.month > 0.045);

    /* 31 days on: every window is clean, predictive overdials again. */
    t += 31 * DAY;
    in = ten_agents(t, true);
    assert_true(dl_pacer_decide(p, &in) > 2);
    dl_pacer_rates(p, t, &r);
    assert_false(r.fallback_progressive);
    dl_pacer_free(p);
}

/* A restarted engine's pacer seeded with the day's history holds back as the one that lived
 * through the day would: the seeded abandons count in the 24 h and 30-day windows at their
 * own times and leave them when those times pass. */
static void test_seeded_windows(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *fresh = dl_pacer_new(&prm), *p = dl_pacer_new(&prm);
    assert_non_null(fresh);
    assert_non_null(p);
    int64_t t = 40 * DAY;
    /* Both have enough outcomes and agent cycles to overdial, with a clean record. */
    feed_history(fresh, t - 5 * DAY, 200, 0);
    feed_history(p, t - 5 * DAY, 200, 0);
    /* p's campaign had 20 days ago 500 answered / 50 abandoned, 3 h ago 300 / 30. */
    dl_pacer_seed_window(p, t - 20 * DAY, 500, 50);
    dl_pacer_seed_window(p, t - 3 * HOUR, 300, 30);
    dl_pacer_seed_window(p, t - HOUR, 10, 99); /* more abandoned than answered: cut */
    dl_pace_rates_t r;
    dl_pacer_rates(p, t, &r);
    assert_int_equal(r.answered_day, 310);
    assert_int_equal(r.abandoned_day, 40);
    dl_pace_input_t in = ten_agents(t, true);
    assert_int_equal(dl_pacer_decide(p, &in), 2); /* progressive: two free agents */
    dl_pacer_rates(p, t, &r);
    assert_true(r.fallback_progressive);
    in = ten_agents(t, true);
    assert_true(dl_pacer_decide(fresh, &in) > 2);
    /* 25 h later the day is clean, but the 30 days still hold 90 abandons among 1,010
     * answered (the seeds and the 200 fed five days before t). */
    dl_pacer_rates(p, t + DAY + HOUR, &r);
    assert_int_equal(r.answered_day, 0);
    assert_float_equal(r.month, 90.0 / 1010.0, 1e-9);
    in = ten_agents(t + DAY + HOUR, true);
    assert_int_equal(dl_pacer_decide(p, &in), 2);
    /* 11 days on, the seed of 20 days before t has left the 30 days: 40 among 510. */
    dl_pacer_rates(p, t + 11 * DAY, &r);
    assert_float_equal(r.month, 40.0 / 510.0, 1e-9);
    dl_pacer_free(fresh);
    dl_pacer_free(p);
}

/* The allowance follows the measured rate: the same state gets fewer calls from a pacer
 * whose calls were abandoned somewhat above its goal (but below the fallback) than from
 * one whose calls never were. */
static void test_allowance_follows_measured_rate(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *clean = dl_pacer_new(&prm), *rough = dl_pacer_new(&prm);
    assert_non_null(clean);
    assert_non_null(rough);
    int64_t t = feed_history(clean, DAY, 1500, 0);
    assert_int_equal(feed_history(rough, DAY, 1500, 26), t); /* 2.6 %: under 0.93 x 3 % */
    dl_pace_input_t in = ten_agents(t, true);
    int n_clean = dl_pacer_decide(clean, &in);
    int n_rough = dl_pacer_decide(rough, &in);
    dl_pace_rates_t r;
    dl_pacer_rates(rough, t, &r);
    assert_false(r.fallback_progressive);
    if (!(n_clean > n_rough && n_rough >= 2))
        fail_msg("clean history placed %d, rough history %d", n_clean, n_rough);
    dl_pacer_free(clean);
    dl_pacer_free(rough);
}

/* A restarted engine hands its new pacer the allowance the old one had tuned: it places
 * what the tuned pacer placed, not the cautious start's count.  An allowance saved under
 * another target is scaled to this one and kept within the pacer's bounds; a stale or
 * senseless one is refused and the cautious start stays. */
static void test_allowance_restored(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *tuned = dl_pacer_new(&prm), *fresh = dl_pacer_new(&prm);
    assert_non_null(tuned);
    assert_non_null(fresh);
    double start = dl_pacer_allowance(fresh);
    assert_float_equal(start, 0.01, 1e-12);
    int64_t t = feed_history(tuned, DAY, 1500, 0);
    /* The restarted engine's pacer: the same estimators' history, a short life of its own. */
    feed_history(fresh, DAY, 1500, 0);
    dl_pacer_seed_allowance(fresh, start, 0.03, 0); /* back to the cautious start */
    double a = dl_pacer_allowance(tuned);
    if (!(a > 2 * start))
        fail_msg("1500 clean answered calls left the allowance at %.4f", a);
    dl_pace_input_t in = ten_agents(t, true);
    int n_tuned = dl_pacer_decide(tuned, &in);
    int n_cautious = dl_pacer_decide(fresh, &in);
    if (!(n_tuned > n_cautious))
        fail_msg("tuned pacer placed %d, cautious %d: the test shows nothing", n_tuned, n_cautious);

    assert_true(dl_pacer_seed_allowance(fresh, a, 0.03, HOUR));
    assert_float_equal(dl_pacer_allowance(fresh), a, 1e-12);
    dl_pace_rates_t r;
    dl_pacer_rates(fresh, t, &r);
    assert_float_equal(r.allowance, a, 1e-12);
    assert_int_equal(dl_pacer_decide(fresh, &in), n_tuned);

    /* Saved under a 6 % target: half of it for this campaign's 3 %. */
    assert_true(dl_pacer_seed_allowance(fresh, 0.1, 0.06, 0));
    assert_float_equal(dl_pacer_allowance(fresh), 0.05, 1e-12);
    /* Within the pacer's bounds: target / 20 .. 0.5. */
    assert_true(dl_pacer_seed_allowance(fresh, 7.0, 0.03, 0));
    assert_float_equal(dl_pacer_allowance(fresh), 0.5, 1e-12);
    assert_true(dl_pacer_seed_allowance(fresh, 1e-9, 0.03, 0));
    assert_float_equal(dl_pacer_allowance(fresh), 0.0015, 1e-12);
    /* Refused, the allowance unchanged: too old, not positive, no target, not a number. */
    assert_true(dl_pacer_seed_allowance(fresh, 0.02, 0.03, DL_PACER_STATE_MAX_AGE_MS));
    assert_false(dl_pacer_seed_allowance(fresh, 0.04, 0.03, DL_PACER_STATE_MAX_AGE_MS + 1));
    assert_false(dl_pacer_seed_allowance(fresh, 0.0, 0.03, 0));
    assert_false(dl_pacer_seed_allowance(fresh, 0.04, 0.0, 0));
    assert_false(dl_pacer_seed_allowance(fresh, NAN, 0.03, 0));
    assert_float_equal(dl_pacer_allowance(fresh), 0.02, 1e-12);
    dl_pacer_free(tuned);
    dl_pacer_free(fresh);
}

/* The estimators go through one line of text and come back the same: a pacer seeded from a
 * tuned one's line the next morning decides as the tuned one did, and writes the same line.
 * Lines this version did not write, or too old, are refused and leave the pacer as it was. */
static void test_estimates_restored(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *tuned = dl_pacer_new(&prm), *fresh = dl_pacer_new(&prm);
    assert_non_null(tuned);
    assert_non_null(fresh);
    assert_int_equal(dl_pacer_observations(tuned), 0);
    /* 300 answered calls: 1,983 outcomes (the 300th answered is the 1,983rd) and 199 agent
     * cycles, more than the 128 kept, so the rings have wrapped and their order matters. */
    int64_t t = feed_history(tuned, DAY, 300, 0);
    assert_int_equal(dl_pacer_observations(tuned), 1983 + 199);
    static char line[DL_PACER_ESTIMATES_MAX], again[DL_PACER_ESTIMATES_MAX];
    int n = dl_pacer_export_estimates(tuned, t, line, sizeof line);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(line));
    assert_memory_equal(line, "e1 1983 o ", 10);
    char small[64];
    assert_int_equal(dl_pacer_export_estimates(tuned, t, small, sizeof small), -1);

    dl_pace_input_t in = ten_agents(t, true);
    int n_tuned = dl_pacer_decide(tuned, &in);
    int64_t morning = t + 14 * HOUR;
    in = ten_agents(morning, true);
    assert_int_equal(dl_pacer_decide(fresh, &in), 2); /* nothing learnt: progressive */
    assert_int_equal(dl_pacer_seed_estimates(fresh, morning, line, 14 * HOUR), 0);
    assert_true(dl_pacer_seed_allowance(fresh, dl_pacer_allowance(tuned), 0.03, 14 * HOUR));
    int n_seeded = dl_pacer_decide(fresh, &in);
    if (n_tuned <= 2)
        fail_msg("the tuned pacer placed %d for 2 free agents: the test shows nothing", n_tuned);
    assert_int_equal(n_seeded, n_tuned);
    dl_pacer_export_estimates(fresh, morning, again, sizeof again);
    assert_string_equal(again, line);
    assert_int_equal(dl_pacer_export_estimates(fresh, morning, again, sizeof again), n);

    /* Long after its last outcome a pacer has no outcome worth writing: the line carries
     * none (a count without weights would pass the warm-up with nothing to model). */
    assert_true(dl_pacer_export_estimates(tuned, t + 20 * DAY, again, sizeof again) > 0);
    assert_memory_equal(again, "e1 0 o 0 t ", 11);
    dl_pacer_t *empty = dl_pacer_new(&prm);
    assert_non_null(empty);
    assert_int_equal(dl_pacer_seed_estimates(empty, morning, again, 0), 0);
    assert_int_equal(dl_pacer_decide(empty, &in), 2);

    /* Refused, the pacer unchanged (it still decides as the seeded one). */
    const char *good = "e1 60 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000";
    assert_int_equal(dl_pacer_seed_estimates(empty, morning, good, 0), 0);
    assert_int_equal(dl_pacer_seed_estimates(empty, morning, good, DL_PACER_STATE_MAX_AGE_MS), 0);
    const char *bad[] = {
        "",
        "e2 60 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",   /* another version */
        "e1 60 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000",              /* cut short */
        "e1 60 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000 ",  /* trailing space */
        "e1 60 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000 9", /* trailing token */
        "e1 60 o 2 6:0.5:0.5  26:2:0 t 1 60000 w 1 10000 c 1 70000",  /* two spaces */
        "e1 60 o 3 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",   /* fewer steps than said */
        "e1 60 o 2 6:nan:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",   /* not a number */
        "e1 60 o 2 6:inf:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",
        "e1 60 o 2 6:0x1p3:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000", /* hexadecimal */
        "e1 60 o 2 6:-0.5:0 26:2:0 t 1 60000 w 1 10000 c 1 70000",    /* negative */
        "e1 60 o 2 6:0.5:0.7 26:2:0 t 1 60000 w 1 10000 c 1 70000",   /* more answered than all */
        "e1 60 o 2 26:2:0 6:0.5:0.5 t 1 60000 w 1 10000 c 1 70000",   /* steps not rising */
        "e1 60 o 2 0:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",   /* step 0 */
        "e1 60 o 2 6:0.5:0.5 129:2:0 t 1 60000 w 1 10000 c 1 70000",  /* past the last step */
        "e1 0 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",    /* weights, no count */
        "e1 60 o 0 t 1 60000 w 1 10000 c 1 70000",                    /* a count, no weights */
        "e1 60 o 2 6:0:0 26:0:0 t 1 60000 w 1 10000 c 1 70000",       /* weights all zero */
        "e1 60 o 2 6:0.5:0.5 26:2:0 t 1 2147483648 w 1 10000 c 1 70000", /* past a sample */
        "e1 60 o 2 6:0.5:0.5 26:2:0 t 129 60000 w 1 10000 c 1 70000", /* more than kept */
        "e1 60 o 2 6:0.5:0.5 26:2:0 t 1 -60000 w 1 10000 c 1 70000",  /* negative time */
        "e1 60 o 2 6:0.5:0.5 26:2:0 w 1 10000 t 1 60000 c 1 70000",   /* out of order */
        "e1 99999999999999999999 o 2 6:0.5:0.5 26:2:0 t 1 60000 w 1 10000 c 1 70000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dl_pacer_seed_estimates(fresh, morning, bad[i], 0) != -1)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(dl_pacer_seed_estimates(fresh, morning, NULL, 0), -1);
    assert_int_equal(dl_pacer_seed_estimates(fresh, morning, line, DL_PACER_STATE_MAX_AGE_MS + 1), -1);
    /* A line of DL_PACER_ESTIMATES_MAX bytes or more is not one this version wrote (the
     * database hands back whatever the row holds). */
    static char longline[DL_PACER_ESTIMATES_MAX + 1];
    memset(longline, '1', DL_PACER_ESTIMATES_MAX);
    assert_int_equal(dl_pacer_seed_estimates(fresh, morning, longline, 0), -1);
    assert_int_equal(dl_pacer_decide(fresh, &in), n_seeded);
    assert_int_equal(dl_pacer_export_estimates(fresh, morning, again, sizeof again), n);
    assert_string_equal(again, line);

    /* Damaged lines (a byte changed, the line cut) are read safely (the sanitizer builds
     * check the reading); whatever is accepted still decides within the agents' reach. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 3000; i++) {
        memcpy(again, line, (size_t)n + 1);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t at = (size_t)(x % (uint64_t)n);
        if (i % 3 == 0)
            again[at] = '\0';
        else
            again[at] = "0123456789 :.e-+xn"[(x >> 20) % 18];
        if (dl_pacer_seed_estimates(empty, morning, again, 0) == 0) {
            int k = dl_pacer_decide(empty, &in);
            assert_true(k >= 0 && k <= 100000);
        }
    }
    dl_pacer_free(tuned);
    dl_pacer_free(fresh);
    dl_pacer_free(empty);
}

/* Where the fallback starts and ends: at 0.93 x target (2.79 % of 3 %) measured, back
 * below 0.88 x target (2.64 %), holding in between. */
static void test_fallback_thresholds(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *under = dl_pacer_new(&prm), *over = dl_pacer_new(&prm);
    assert_non_null(under);
    assert_non_null(over);
    /* 41 abandons in 1500 answered (2.73 %) and 42 (2.8 %). */
    int64_t t = feed_history(under, DAY, 1500, 27);
    assert_int_equal(feed_history(over, DAY, 1500, 28), t);
    dl_pace_input_t in = ten_agents(t, true);
    dl_pace_rates_t r;
    assert_true(dl_pacer_decide(under, &in) > 2);
    dl_pacer_rates(under, t, &r);
    assert_int_equal(r.abandoned_day, 41);
    assert_false(r.fallback_progressive);
    assert_int_equal(dl_pacer_decide(over, &in), 2);
    dl_pacer_rates(over, t, &r);
    assert_int_equal(r.abandoned_day, 42);
    assert_true(r.fallback_progressive);

    /* 42 in 1580: 2.66 %, under 2.79 % but not under 2.64 %: still held. */
    t = feed_history(over, t, 80, 0);
    in = ten_agents(t, true);
    assert_int_equal(dl_pacer_decide(over, &in), 2);
    dl_pacer_rates(over, t, &r);
    assert_int_equal(r.answered_day, 1580);
    assert_true(r.fallback_progressive);
    /* In 1680: 2.5 %, predictive again. */
    t = feed_history(over, t, 100, 0);
    in = ten_agents(t, true);
    assert_true(dl_pacer_decide(over, &in) > 2);
    dl_pacer_rates(over, t, &r);
    assert_false(r.fallback_progressive);
    dl_pacer_free(under);
    dl_pacer_free(over);
}

/* With few calls and agents the model sums its yes/no events exactly.  Here every answer
 * comes at 5 s, 30 % of calls answer, 2 agents are free and nothing else is going on: the
 * call after n others is abandoned when at least 2 of those n answer, P(Bin(n, 0.3) >= 2),
 * and calls are added while that stays within the allowance.  At an allowance of 0.35 that
 * is 5 calls (P = 0.348 after 4, 0.472 after 5), where a normal approximation stops at 4. */
static int binomial_stop(double a, int need, double risk)
{
    for (int n = 0;; n++) {
        double below = 0, pj = 1;
        for (int c = 0; c < n; c++)
            pj *= 1 - a;
        for (int j = 0; j < need && j <= n; j++) {
            below += pj;
            pj = pj * (n - j) / (j + 1) * a / (1 - a);
        }
        if (1 - below > risk)
            return n;
    }
}

static void test_exact_sum_with_few_terms(void **state)
{
    (void)state;
    static dl__outcomes_t o;
    static dl__dist_t cycle, talk, wrap;
    for (int i = 0; i < 100; i++)
        dl__outcomes_add(&o, 0, i < 30 ? DL_OUT_ANSWERED : DL_OUT_NOANSWER, i < 30 ? 5 * S : 25 * S);
    for (int i = 0; i < 20; i++)
        dl__dist_add(&cycle, 130 * S);
    dl__outcomes_refresh(&o);
    dl__dist_refresh(&cycle);
    dl__model_t m = {.out = &o, .cycle = &cycle, .talk = &talk, .wrap = &wrap};
    dl_pace_input_t in = {.now_ms = 1000, .agents_free = 2};
    assert_int_equal(binomial_stop(0.3, 2, 0.35), 5);
    assert_int_equal(dl__predict(&m, &in, 0.35, 2000, 1000), 5);
    for (int i = 1; i <= 9; i++) {
        double risk = i / 10.0;
        assert_int_equal(dl__predict(&m, &in, risk, 2000, 1000), binomial_stop(0.3, 2, risk));
    }
    /* One call already waiting for those 2 agents: one answer of n is enough. */
    in.calls_waiting = 1;
    assert_int_equal(dl__predict(&m, &in, 0.35, 2000, 1000), binomial_stop(0.3, 1, 0.35));
}

/* Agents whose ready time the caller knows count as ready at exactly that time: unknown
 * entries (-1) change nothing; agents known to be ready only long after the horizon weigh
 * like no agents at all; agents known to be ready now weigh like free ones. */
static void test_known_ready_times(void **state)
{
    (void)state;
    dl_pacing_params_t prm = params(DL_MODE_PREDICTIVE, 0);
    dl_pacer_t *p = dl_pacer_new(&prm);
    assert_non_null(p);
    int64_t t = feed_history(p, DAY, 150, 0);
    int64_t ready_at[8];

    dl_pace_input_t in = ten_agents(t, true);
    int estimated = dl_pacer_decide(p, &in);
    for (int j = 0; j < 8; j++)
        ready_at[j] = -1;
    in.ready_at_ms = ready_at;
    assert_int_equal(dl_pacer_decide(p, &in), estimated);

    for (int j = 0; j < 8; j++)
        ready_at[j] = t + 600 * S;
    int later = dl_pacer_decide(p, &in);
    dl_pace_input_t none = ten_agents(t, true);
    none.agents_busy = 0;
    assert_int_equal(later, dl_pacer_decide(p, &none));
    /* The 4 agents in wrap-up were about to free: knowing they are not costs calls. */
    if (later >= estimated)
        fail_msg("known late agents: %d calls, estimated: %d", later, estimated);

    for (int j = 0; j < 8; j++)
        ready_at[j] = t;
    int now = dl_pacer_decide(p, &in);
    dl_pace_input_t all_free = ten_agents(t, true);
    all_free.agents_free = 10;
    all_free.agents_busy = 0;
    assert_int_equal(now, dl_pacer_decide(p, &all_free));
    if (now <= estimated)
        fail_msg("known ready agents: %d calls, estimated: %d", now, estimated);
    dl_pacer_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_places_only_reserved),
        cmocka_unit_test(test_progressive_is_one_per_free_agent),
        cmocka_unit_test(test_max_channels_counts_calls_in_flight),
        cmocka_unit_test(test_outcome_estimator),
        cmocka_unit_test(test_duration_estimator),
        cmocka_unit_test(test_rates_windows),
        cmocka_unit_test(test_predictive_overdials_only_when_safe),
        cmocka_unit_test(test_fallback_follows_every_window),
        cmocka_unit_test(test_seeded_windows),
        cmocka_unit_test(test_allowance_follows_measured_rate),
        cmocka_unit_test(test_allowance_restored),
        cmocka_unit_test(test_estimates_restored),
        cmocka_unit_test(test_known_ready_times),
        cmocka_unit_test(test_fallback_thresholds),
        cmocka_unit_test(test_exact_sum_with_few_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
