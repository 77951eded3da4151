/*
 * dialer: the outgoing campaign engine.
 *
 * DESIGN (docs/dialer.md has the long form)
 * - One thread (dl_start) owns every campaign's state: the campaign list, each
 *   campaign's pacer (dl_pacing.h) and claim cursor, the jobs it has in flight.
 *   Its inbox receives finished database read jobs, AMI responses to its
 *   Originates and the registry's call changes; nothing else touches that state.
 * - Every [dialer] cycle_ms it decides, per active outgoing campaign, how many
 *   calls to start: free agents of the campaign's queue and calls in flight are
 *   counted from the registry each cycle (never from counters of its own, so calls
 *   a resync finished as LOST stop counting at once), the pacer decides, and the
 *   campaign's and the global channel caps bound the result.  Numbers are claimed
 *   in a read job (db_claim_numbers, Placing written in the claim), each call is
 *   posted to the registry (status Placing, uniqueid = our ChannelId) and only then
 *   originated on the campaign's Asterisk server.  No SQL and no blocking call on
 *   the dialer thread.  Nothing is placed while db_writes_backpressured().
 * - Call history (calls, call_progress_log, current_calls) is the journal's: the
 *   dialer writes only what the registry never sees (a number it could not place)
 *   and the campaign's end (estatus 'T').
 * - Lifecycle dl_new / dl_start / dl_stop / dl_free from one controlling thread.
 *   dl_new subscribes to the registry, so it must run before reg_start.  dl_stop
 *   before ami_stop: no Originate is sent after it returns.
 */
#ifndef CCD_DIALER_DIALER_H
#define CCD_DIALER_DIALER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

struct reg;
struct ami;
struct db;

typedef struct dl dl_t;

typedef struct dl_opts {
    /* Wall-clock milliseconds since the epoch; NULL = the real clock.  With a clock of its
     * own the dialer also hands its time to the database (campaign windows, number windows,
     * back-off and the abandoned-redial block are checked at it), so tests can move time. */
    int64_t (*now_ms)(void *ctx);
    void *now_ctx;
} dl_opts_t;

/* Checks its arguments and subscribes to the registry (call before reg_start).  cf, reg,
 * ami and db must outlive the dialer.  NULL with the reason in err. */
dl_t *dl_new(const conf_t *cf, struct reg *reg, struct ami *ami, struct db *db, char *err,
             size_t errlen);
dl_t *dl_new_opts(const conf_t *cf, struct reg *reg, struct ami *ami, struct db *db,
                  const dl_opts_t *opts, char *err, size_t errlen);
/* Starts the dialer thread.  0, CCD_EBUSY or CCD_ERR. */
int dl_start(dl_t *d);
/* Stops and joins the thread (a no-op when not running) and leaves the registry's
 * subscriber list.  Read jobs still in flight are waited for. */
void dl_stop(dl_t *d);
void dl_free(dl_t *d);

typedef struct dl_stats {
    uint64_t cycles;
    uint64_t calls_placed;      /* Originates sent */
    uint64_t originate_refused; /* refused at once (Error answer, server away): Failure */
    uint64_t not_placed;        /* claimed numbers that could not be placed (bad number, trunk) */
    uint64_t claims, claims_failed;
    uint64_t campaigns_finished; /* set to estatus 'T' */
    uint64_t stuck_failed;       /* calls left Placing past the originate timeout: Failure */
    /* What the pacers were told from the registry: first outcomes, agent connects,
     * abandons, ends of connected calls. */
    uint64_t pacer_outcomes, pacer_connects, pacer_abandons, pacer_ends;
    /* Wrap-ups: the sum of the wrap-up lengths told with the ends (ms), and, over every
     * decision, the agents handed to a pacer as in wrap-up (with when it began). */
    uint64_t pacer_wrap_ms, pacer_wrap_inputs;
    int64_t agents_wrapping;     /* last cycle: agents inside their wrap-up, all campaigns */
    /* "Same agent" callbacks' agents held in Asterisk (paused in every queue while a callback
     * of theirs is due or live): pauses and lifts sent, and the agents held at the last cycle. */
    uint64_t holds_sent, lifts_sent;
    int64_t agents_held;
    int64_t calls_in_flight;     /* last cycle: this engine's live outgoing calls */
    int64_t campaigns_active;
    int64_t cycle_us_last, cycle_us_max;
    int64_t cycle_us_p50, cycle_us_p99; /* over every cycle since the start (within 1/8) */
    int64_t heartbeat_ms;        /* clk_mono_ms of the thread's last loop; 0 = not started */
} dl_stats_t;
/* Any thread (atomics). */
void dl_get_stats(dl_t *d, dl_stats_t *out);

/* A campaign's measured abandon rates (abandoned / answered) as its pacer had them at the end
 * of the last cycle: over 24 h, 30 days and its life (with the history read from the database
 * when the campaign became active), and whether predictive is holding back to progressive. */
typedef struct dl_campaign_rates {
    uint32_t id;
    bool seeded; /* the history is in (before: the campaign places nothing) */
    bool fallback_progressive;
    double day, month, lifetime;
    uint64_t answered_day, abandoned_day;
    double allowance; /* the risk one more predictive call may take (dl_pacing.h) */
} dl_campaign_rates_t;
/* Any thread: a malloc'd copy of the active campaigns' rates, by id (*out NULL when none;
 * the caller frees it).  0 or CCD_ENOMEM. */
int dl_campaign_rates(dl_t *d, dl_campaign_rates_t **out, size_t *n);

#endif
