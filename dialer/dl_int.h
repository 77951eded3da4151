/*
 * What the dialer's files share: the pure helpers (dial strings, the Originate,
 * cap arithmetic; no I/O, no locks, unit-tested by test/dialer/test_dl_dial.c).
 */
#ifndef CCD_DIALER_DL_INT_H
#define CCD_DIALER_DL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ami/ami.h"

#define DL_LOG "dialer"
/* Calls ring at least this long before Asterisk gives up on them (the pacing's min ring). */
#define DL_MIN_RING_MS 15000

/* A number we put into a dial string: digits, '*', '#', and a leading '+'; 1..32 bytes.
 * Anything else could change what the dial string means (a '/', '&', '@', ','). */
bool dl__phone_ok(const char *phone);

/*
 * The Originate Channel for a campaign's trunk (Issabel's three forms):
 * NULL/"" -> Local/<phone>@<default_context>; a template containing $OUTNUM$ -> the template
 * with every $OUTNUM$ replaced; a technology prefix SIP/, PJSIP/, IAX2/, DAHDI/ followed by a
 * name -> <trunk>/<phone>.  0, CCD_EINVAL (a bad phone, or a trunk of none of these forms)
 * or CCD_ETOOBIG.
 */
int dl__dial_string(const char *trunk, const char *phone, const char *default_context, char *out,
                    size_t outsz);

/* Originate Timeout: max(DL_MIN_RING_MS, [dialer] originate_timeout). */
int dl__originate_timeout_ms(int originate_timeout_s);

/*
 * How many calls may start now: want bounded by the campaign's cap (camp_cap > 0: at most
 * camp_cap live calls of the campaign, camp_live of them already) and the global one
 * (global_cap > 0, global_live).  Never negative.
 */
int dl__cap(int want, int camp_cap, int camp_live, int global_cap, int global_live);

/* The campaign's concurrent cap: ccd_campaign_pacing.max_channels when set, else Issabel's
 * max_canales (read as concurrent, not per cycle), 0 = none. */
int dl__campaign_cap(int max_channels, uint32_t max_canales);

/* Our ChannelId (fits calls.uniqueid, 32): "ccd" + 8 chars of the instance + call id + attempt. */
void dl__channel_id(char *out, size_t outsz, const char *instance, uint32_t id_call,
                    uint32_t retries);

/* What an agent's phone is reached by for a "same agent" callback, which is also its queue
 * member's interface: app_agent_pool agents "Agent/9000" -> "Local/9000@<agents_context>"
 * ([agents] agents_context, as the agent service logs them in), any other agent (SIP/1001)
 * itself. */
void dl__agent_channel(const char *agent, const char *agents_context, char *out, size_t outsz);

typedef struct dl_orig {
    const char *channel;     /* dial string */
    const char *context, *exten;
    const char *callerid;    /* "" = none */
    int timeout_ms;
    const char *action_id, *channel_id;
    uint32_t id_campaign, id_call;
    const char *number, *queue, *camp_context;
    const char *agentchannel; /* callbacks: the agent's channel; NULL otherwise */
} dl_orig_t;

/* The Originate action (Async, ActionID, ChannelId, Issabel's variables).  NULL on ENOMEM
 * or a value with CR/LF. */
ami_action_t *dl__originate(const dl_orig_t *o);

/* ---- the engine's state (dl_engine.c, dl_jobs.c, dl_reg.c); owned by the dialer thread
 * unless a field says otherwise ---- */

#include <pthread.h>
#include <stdatomic.h>

#include "conf/conf.h"
#include "core/hmap.h"
#include "core/lhist.h"
#include "core/mq.h"
#include "db/db.h"
#include "dialer/dialer.h"
#include "dialer/dl_pacing.h"
#include "reg/reg.h"

#define DL_MAX_CB 16           /* "same agent" callbacks placed per campaign and cycle */
#define DL_CLAIM_MAX 200       /* numbers claimed per campaign and cycle */
#define DL_INBOX_MAX 65536
/* A call left Placing/Dialing this long past its ring time never got an answer from
 * Asterisk (the Originate's outcome was lost): it ends Failure, as Issabel's 5-min rule. */
#define DL_STUCK_GRACE_MS 60000
#define DL_RECOVER_LEASE_S 180
/* A pacer's allowance is saved at most this often, and when the dialer stops: a restart loses
 * at most this much of its tuning, for one row written a minute per campaign. */
#define DL_PACER_SAVE_MS 60000

typedef struct dl_camp {
    db_campaign_t c;
    int server;                /* index into conf_t.ami, -1 = unknown name */
    bool usable;               /* server known, trunk usable, queue set */
    bool warned;               /* the reason it is not usable was logged */
    bool gone;                 /* no longer in the active list: freed when no job refers to it */
    bool finished;             /* estatus 'T' written */
    bool claim_busy;           /* a claim (or its seed) job is in flight */
    bool seeded;               /* its pacer has the campaign's abandon history: it may place */
    /* The pacer's allowance and count of observations as last written to ccd_pacer_state (or
     * read from it), and when (clk_mono_ms): saved again, with the estimators, when either
     * has moved, at most every DL_PACER_SAVE_MS. */
    double saved_allowance;
    uint64_t saved_observations;
    int64_t saved_at_ms;
    uint64_t posted_seq;       /* the registry batch of its last placed calls */
    dl_pacer_t *pacer;
    db_claim_cursor_t cursor;
    db_agent_name_t *cb;       /* agents with a callback due (last load), malloc'd */
    size_t ncb;
    /* Counted from the registry each cycle. */
    int live, placing, waiting, busy_calls, free_agents, busy_agents, share_k, share_i;
    int64_t *ringing_since, *busy_since;
    int nringing, cap_ringing, nbusy_since, cap_busy;
    /* Agents of its queue inside their wrap-up (ready once it ends): when each began. */
    int64_t *wrap_since;
    int nwrap, cap_wrap, wrap_agents;
    /* The pacer's busy agents (talking, then wrapping) and their wrap-up starts (-1 talking),
     * rebuilt at each decision. */
    int64_t *pace_busy, *pace_wrap;
    int npace_busy, cap_pace_busy, npace_wrap, cap_pace_wrap;
    char cb_free[DL_MAX_CB][33]; /* reserved agents free now */
    int ncb_free;
    /* Callbacks placed and not finished: the registry links a callback's agent only once
     * the agent answered its Dial (ami_reg.c), so while the customer and then the agent
     * ring the agent still looks free; this keeps it from getting a second one meanwhile.
     * (reg_call_t.cb_agent could give the same from the registry; test_dialer does not
     * catch the list's absence, so it stays until a test proves the replacement.) */
    struct {
        char agent[33];
        char uniqueid[REG_UID_LEN];
        int64_t placed_ms; /* clk_mono_ms */
        bool live;         /* seen live in this cycle's count */
    } cb_busy[DL_MAX_CB];
    int ncb_busy;
    /* A claim whose outcome is unknown (the database went away around its COMMIT): before
     * the next claim, rows it may have claimed are released (db_claims_release_orphans),
     * sparing the ids the dialer placed (this claim's and the one before: its calls may share
     * the server's second). */
    uint32_t last_ids[DL_CLAIM_MAX + DL_MAX_CB];
    int nlast;
    bool orphan_check;
    time_t orphan_since;
    uint32_t keep[2 * (DL_CLAIM_MAX + DL_MAX_CB)];
    int nkeep;
} dl_camp_t;

/* An agent held (paused in Asterisk) for its "same agent" callback, or about to be or to be
 * released (dl_hold.c).  Dialer thread. */
typedef struct dl_hold dl_hold_t;
/* ActionID prefix of the holds' QueuePause actions (their answers come to the inbox). */
#define DL_HOLD_ID_PREFIX "dlh-"

struct dl {
    const conf_t *cf;
    reg_t *reg;
    ami_t *ami;
    db_t *db;
    dl_opts_t opts;
    mq_t *inbox;               /* read jobs back, AMI responses, registry call changes */
    pthread_t thread;
    bool running;              /* controlling thread only */
    bool subscribed;
    /* dialer thread only */
    dl_camp_t **camps;
    size_t ncamps, capcamps;
    bool load_busy;
    int jobs_in_flight;
    int64_t next_load_ms;
    uint64_t post_seq;
    hmap_t *obs;               /* registry call uniqueid -> what the pacer was told (flags) */
    bool quitting;
    int global_live;
    uint64_t snap_seq;         /* applied_seq read before the count: batches it includes */
    struct dl_pending *pend;   /* calls being placed by dl__place / dl__place_flush */
    struct dl_newcall *pend_nc; /* their registry records (same index), posted as one batch */
    int npend;
    dl_hold_t *holds;          /* agents held for their callbacks (dl_hold.c) */
    size_t nholds, capholds;
    uint64_t hold_seq;         /* numbers the holds' ActionIDs */
    /* written by the registry thread (apply functions), read by the dialer thread */
    _Atomic uint64_t applied_seq;
    /* statistics: written by the dialer thread, read by anyone */
    _Atomic uint64_t st_cycles, st_placed, st_refused, st_not_placed, st_claims, st_claims_failed,
        st_finished, st_stuck, st_p_out, st_p_conn, st_p_aban, st_p_end, st_p_wrap_ms,
        st_p_wrap_in, st_holds, st_lifts;
    _Atomic int64_t st_in_flight, st_campaigns, st_cycle_us, st_cycle_us_max, st_heartbeat_ms,
        st_wrapping, st_held;
    /* Each active campaign's abandon rates at the end of the last cycle: written by the
     * dialer thread, read by anyone (dl_campaign_rates), all under rates_mu (a leaf). */
    pthread_mutex_t rates_mu;
    struct dl_campaign_rates *rates;
    size_t nrates, caprates;
    /* every cycle's duration (µs): added by the dialer thread, read by anyone */
    ccd_lhist_t cycle_hist;
};

/* The dialer's clock: wall ms (injected in tests). */
int64_t dl__now_ms(const dl_t *d);
/* The time handed to the database: 0 (its own clock) unless the clock is injected. */
time_t dl__db_now(const dl_t *d);
dl_camp_t *dl__camp_find(dl_t *d, uint32_t id);

/* dl_hold.c */
/* Inside the registry count: agent a, and whether a callback of its is due or live (false
 * for an agent not logged in).  Notes only (no I/O). */
void dl__hold_note(dl_t *d, const reg_agent_t *a, bool want);
/* After the count: the pauses and lifts that bring Asterisk to what the dialer wants. */
void dl__holds_sync(dl_t *d);
/* The answer to one of their actions (the inbox's; the caller frees it). */
void dl__hold_answered(dl_t *d, ami_response_t *r);
/* At stop: lifts the holds this engine set (an engine that is gone holds nobody). */
void dl__holds_release(dl_t *d);
void dl__holds_free(dl_t *d);

/* dl_reg.c */
/* Remembers a callback placed for agent (its call's uniqueid). */
void dl__cb_busy_add(dl_camp_t *k, const char *agent, const char *uniqueid);
/* Appends v to a growable array (an allocation failure drops v). */
void dl__push_time(int64_t **arr, int *n, int *cap, int64_t v);
typedef struct dl_newcall {
    int server;
    uint32_t id_campaign, id_call, retries;
    char phone[33];
    char queue[REG_ID_LEN];
    char trunk[REG_ID_LEN];
    char uniqueid[REG_UID_LEN];
    char action_id[REG_UID_LEN];
    char cb_agent[REG_ID_LEN]; /* a callback's agent (reg_call_t.cb_agent), "" otherwise */
} dl_newcall_t;
/* Posts the calls as one registry change (status Placing); when it is applied,
 * d->applied_seq becomes seq.  0 or reg_post's code (the caller keeps calls). */
int dl__reg_post_calls(dl_t *d, uint64_t seq, const dl_newcall_t *calls, int n);
/* Ends a call Failure if it is still Placing (or, stuck, Dialing). */
int dl__reg_post_fail(dl_t *d, const char *uniqueid, int cause, bool stuck);
/* The per-cycle count of every campaign's calls and agents, and the stuck calls. */
void dl__reg_snapshot(dl_t *d);
/* A registry call change: what the campaign's pacer learns from it. */
void dl__reg_observe(dl_t *d, const reg_change_t *ch);

/* dl_engine.c: what a finished job hands back.  campaigns_update takes the arrays. */
void dl__campaigns_update(dl_t *d, db_campaign_t *camps, size_t n, db_agent_name_t **cb,
                          size_t *ncb);
/* Queues a claimed number for placing (agent: a "same agent" callback); flush posts the
 * queued calls to the registry as one change and then sends their Originates. */
void dl__place(dl_t *d, dl_camp_t *k, const db_claimed_call_t *c, const char *agent);
void dl__place_flush(dl_t *d, dl_camp_t *k);
/* Nothing left to dial and nothing in flight: estatus 'T'. */
void dl__campaign_finish(dl_t *d, dl_camp_t *k);
/* Writes the campaign's pacer allowance and estimators (ccd_pacer_state) if either has moved
 * since last saved and DL_PACER_SAVE_MS has passed, or, with force, whenever it is seeded. */
void dl__pacer_save(dl_t *d, dl_camp_t *k, bool force);

/* dl_jobs.c */
int dl__job_load(dl_t *d);
int dl__job_recover(dl_t *d);
int dl__job_claim(dl_t *d, dl_camp_t *k, int n, bool check_remaining);
int dl__job_orphans(dl_t *d, dl_camp_t *k);
/* Reads the campaign's abandon history into its new pacer (grace_s: a later connect is an
 * abandon); until then the campaign places nothing. */
int dl__job_seed(dl_t *d, dl_camp_t *k, int grace_s);
void dl__job_done(dl_t *d, db_read_job_t *j);
/* A claimed number that will not be dialed: Failure 'ccd-not-placed', claim released. */
void dl__not_placed(dl_t *d, const db_claimed_call_t *c, const char *why);

#endif
