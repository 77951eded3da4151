/*
 * reg: the central call/agent registry.
 *
 * DESIGN
 * - One registry holds every agent and every call the engine tracks, across
 *   all Asterisk servers (each record says which server it lives on).
 * - Ownership: the registry thread (started by reg_start) is the only writer.  Other
 *   threads change it by posting work to its inbox with reg_post(): a
 *   function that runs on the registry thread with write access (reg_txn_t).
 *   AMI events, dialer decisions and ECCP requests all arrive this way, so
 *   changes are applied one at a time in arrival order.
 * - Readers on any thread take a copy under the read lock (reg_agent_get,
 *   reg_call_get, the *_list functions).  They never get pointers into the
 *   registry and never hold the lock across I/O.
 * - Subscribers (ECCP workers, the dialer) register an mq; after each applied
 *   change the registry thread pushes a reg_change_t per changed record
 *   (a full copy) to every subscriber, after dropping the lock.  An agent
 *   change also carries copies of the calls its events need (the agent's
 *   call now, and the call it was linked to when last published), so a
 *   subscriber never reads back into the registry to handle a change.
 * - Lifecycle: reg_new / reg_start (starts the registry thread) / reg_stop
 *   (drains the inbox, joins) / reg_free, all from one controlling thread.
 * - Lock: reg->lock is a rwlock and a leaf lock; nothing else is locked while
 *   it is held (apply functions must not post to queues or do I/O: they mark
 *   records changed and the registry thread publishes afterwards).
 */
#ifndef CCD_REG_REG_H
#define CCD_REG_REG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mq.h"

#define REG_ID_LEN 80    /* agent numbers "Agent/9000", "PJSIP/1064", queue names */
#define REG_CHAN_LEN 128 /* Asterisk channel names */
#define REG_UID_LEN 64   /* Asterisk uniqueids / our ChannelIds */
#define REG_NAME_LEN 128
#define REG_PHONE_LEN 64
#define REG_MAX_QUEUES 32
#define REG_REC_LEN 256  /* a recording's file name: call_recording.recordingfile is varchar(255) */

typedef enum reg_login {
    REG_LOGGED_OUT = 0,
    REG_LOGGING = 1, /* login requested, waiting for Asterisk to confirm */
    REG_LOGGED_IN = 2,
} reg_login_e;

enum { REG_CB_PAUSE_NONE = 0, REG_CB_PAUSE_SEEN = 1, REG_CB_PAUSE_FOUND = 2 };

typedef struct reg_agent {
    char number[REG_ID_LEN]; /* key: "Agent/9000", "SIP/1064", "PJSIP/1064" */
    char name[REG_NAME_LEN];
    int server;              /* index into conf_t.ami */
    bool active;             /* agent.estatus = 'A' */
    int64_t db_id;           /* agent.id */
    reg_login_e login;
    char channel[REG_CHAN_LEN];  /* login channel (the agent's phone leg) */
    char extension[REG_ID_LEN];  /* the phone extension used to log in */
    int64_t login_time_ms;       /* wall clock; 0 when logged out */
    int64_t audit_id;            /* audit row of the current session, 0 if none */
    int break_id;                /* 0 = not on break; -1 = paused in Asterisk, not by the engine (ami_reg.c) */
    char break_name[REG_NAME_LEN];
    int64_t break_start_ms;
    int64_t break_audit_id;
    bool on_hold;
    int64_t hold_start_ms;
    /* Paused in Asterisk by a dialer holding the agent for a "same agent" callback
     * (AMI_CB_PAUSE_REASON): not a break, so break_id and ECCP do not show it, but Asterisk
     * offers the member no queue call.  REG_CB_PAUSE_SEEN: set while connected (its
     * QueueMemberPause came); REG_CB_PAUSE_FOUND: found by a resync, so possibly left by
     * an engine that stopped before lifting it (dialer/dl_reserve.c lifts those). */
    uint8_t cb_pause;
    uint64_t call_id;            /* registry id of the current call, 0 = none */
    /* Asterisk's device status of the agent's queue member (0 UNKNOWN, 1 NOT_INUSE,
     * 2 INUSE, ... 4 INVALID, 5 UNAVAILABLE, ... 8 ONHOLD); -1 = not reported yet */
    int member_status;
    /* Wall time since when Asterisk offers this agent calls: logged in and its member
     * is neither UNAVAILABLE nor INVALID.  0 = it cannot take a call now: logged out,
     * or inside app_agent_pool's ~5 s login probation (AgentLogin came, the member is
     * still Status 5), or its phone has no channel driver.  The dialer paces on this,
     * not on login (ami_reg.c keeps it). */
    int64_t ready_ms;
    char queues[REG_MAX_QUEUES][REG_ID_LEN]; /* queues the agent is a member of now */
    int nqueues;
    /* Wrap-up (ami_reg.c keeps it, docs/ami.md "Wrap-up"): after a queue call ends, Asterisk
     * offers the member no queue call for its wrapuptime.  last_call_s is the newest LastCall
     * its members reported (epoch s on Asterisk's clock, compared only with Asterisk's own
     * values; -1 = none reported yet, 0 = never called).  wrapup_ms is the Wrapuptime of the
     * member that reported it (0 = none of its own, or unknown: a queue's wrapuptime is not
     * on AMI).  wrap_start_ms is when its last queue call ended on our wall clock (the
     * registry's end of its linked call, or when a newer LastCall arrived); 0 once a new call
     * is linked. */
    int64_t last_call_s;
    int32_t wrapup_ms;
    int64_t wrap_start_ms;
    uint64_t version;            /* bumped on every change */
} reg_agent_t;

/* When the agent's wrap-up ends (wall ms), or 0 when it has none now: no wrap-up length
 * known, no call ended since its last one began, or it is on a call.  Pure. */
int64_t reg_agent_wrap_end_ms(const reg_agent_t *a);
/* Whether the agent is inside its wrap-up at now_ms (wall): Asterisk offers it no queue
 * call until reg_agent_wrap_end_ms.  Pure. */
bool reg_agent_in_wrapup(const reg_agent_t *a, int64_t now_ms);

typedef enum reg_call_type {
    REG_CALL_OUTGOING = 0,
    REG_CALL_INCOMING = 1,
} reg_call_type_e;

/* Outgoing statuses follow calls.status in call_center; incoming ones map to
 * call_entry.status (en-cola, activa, hold, abandonada, terminada, fin-monitoreo). */
typedef enum reg_call_status {
    REG_CS_PLACING = 0,
    REG_CS_DIALING,
    REG_CS_RINGING,
    REG_CS_ONQUEUE,
    REG_CS_SUCCESS, /* linked to an agent */
    REG_CS_ONHOLD,
    REG_CS_FAILURE,
    REG_CS_NOANSWER,
    REG_CS_ABANDONED,
    REG_CS_SHORTCALL,
    REG_CS_HANGUP,  /* finished after being linked */
    REG_CS_LOST,    /* vanished (Asterisk restart, lost connection) */
} reg_call_status_e;

typedef struct reg_call {
    uint64_t id; /* key: registry id, never reused within a process */
    reg_call_type_e type;
    reg_call_status_e status;
    int server;
    int64_t campaign_id;          /* 0 = none */
    int64_t db_call_id;           /* calls.id / call_entry.id, 0 until known */
    int64_t queue_id;             /* incoming: queue_call_entry.id of the watched queue */
    char phone[REG_PHONE_LEN];
    char queue[REG_ID_LEN];
    char action_id[REG_UID_LEN];  /* ActionID of the Originate */
    char uniqueid[REG_UID_LEN];   /* customer leg uniqueid (our ChannelId when we originate) */
    char channel[REG_CHAN_LEN];   /* customer leg channel */
    char agent_channel[REG_CHAN_LEN]; /* the member leg bridged with the customer (AgentConnect
                                       * DestChannel; a Local member's ;1): Atxfer, transfers */
    /* The leg to hang up to end the call from the agent's side: a Local member's ;2 half
     * (Asterisk reports AgentComplete Reason "agent"; hanging up its ;1 is reported as the
     * caller hanging up, transcripts hangup_member_legs/hangup_action), otherwise the
     * member channel itself.  "" until linked. */
    char agent_hangup_channel[REG_CHAN_LEN];
    char agent[REG_ID_LEN];       /* agent number once linked */
    /* A "same agent" callback's reserved agent ("Agent/9000"), set at creation by the dialer
     * and never changed: the call goes to the callback context, which Dials that agent, not
     * the queue; ami_reg.c links the call to it when that Dial is answered.  "" otherwise. */
    char cb_agent[REG_ID_LEN];
    char trunk[REG_ID_LEN];
    int failure_cause;
    uint32_t retries;             /* outgoing: calls.retries counting this attempt (callprogress retry) */
    int64_t t_originate_ms, t_answer_ms, t_queue_ms, t_link_ms, t_end_ms;
    /* The newest recording of the call (MixMonitor's MIXMONITOR_FILENAME, the spool
     * directory cut off) and the leg that records it; only the last one is kept, to keep
     * the copy every change makes small.  nrecordings counts the distinct file names seen,
     * so a subscriber knows a second recording from a repeat of the first. */
    char recording[REG_REC_LEN];
    char recording_uniqueid[33];  /* call_recording.uniqueid is varchar(32) */
    char recording_channel[81];   /* call_recording.channel is varchar(80) */
    uint32_t nrecordings;
    uint64_t version;
} reg_call_t;

typedef struct reg reg_t;
typedef struct reg_txn reg_txn_t;

/* Creates an empty registry with its inbox (bounded at inbox_max).  NULL with the
 * reason in err (may be NULL when errlen is 0) on failure. */
reg_t *reg_new(size_t inbox_max, char *err, size_t errlen);
/* Starts the registry thread, which applies posted work and sweeps finished
 * calls.  0, CCD_EBUSY (already started) or CCD_ERR (no thread). */
int reg_start(reg_t *r);
/* Applies everything posted so far, then stops and joins the registry thread;
 * later posts fail with CCD_ECLOSED.  A no-op when it is not running. */
void reg_stop(reg_t *r);
/* Stops if needed and frees everything. NULL is a no-op. */
void reg_free(reg_t *r);

/* Applies everything queued now, on the calling thread (tests, single-threaded tools;
 * never while the registry thread runs).  Returns the number of items applied. */
size_t reg_drain(reg_t *r);

/*
 * Work posted to the registry thread.  fn runs there with write access and
 * the lock held; it must not block.  arg is owned by the registry from a
 * successful post on and released with arg_free (may be NULL) after fn.
 * Returns 0, CCD_EFULL (inbox full; the caller still owns arg) or CCD_ECLOSED.
 */
typedef void (*reg_apply_fn)(reg_txn_t *tx, void *arg);
int reg_post(reg_t *r, reg_apply_fn fn, void *arg, void (*arg_free)(void *));

/* ---- inside an apply function (registry thread, lock held) ---- */

/* The agent, or NULL.  With create, a logged-out agent is made when absent. */
reg_agent_t *reg_txn_agent(reg_txn_t *tx, const char *number, bool create);
/* Ends the agent's session in its record: logged out, with no channel, extension, break,
 * hold or readiness left (whoever learns of the logout: AMI events, the agent service).
 * The caller touches the agent. */
void reg_agent_set_logged_out(reg_agent_t *a);
/* Removes an agent (a change is published with removed=true). */
void reg_txn_agent_remove(reg_txn_t *tx, const char *number);
/* Marks an agent changed: it is published after the apply function returns. */
void reg_txn_agent_touch(reg_txn_t *tx, reg_agent_t *a);

/* A new call with a fresh id, or NULL on ENOMEM. */
reg_call_t *reg_txn_call_new(reg_txn_t *tx);
reg_call_t *reg_txn_call(reg_txn_t *tx, uint64_t id);
reg_call_t *reg_txn_call_by_uniqueid(reg_txn_t *tx, const char *uniqueid);
/* Re-indexes a call after its uniqueid field was changed. */
void reg_txn_call_set_uniqueid(reg_txn_t *tx, reg_call_t *c, const char *uniqueid);
void reg_txn_call_touch(reg_txn_t *tx, reg_call_t *c);
/* Removes a finished call (published with removed=true). */
void reg_txn_call_remove(reg_txn_t *tx, uint64_t id);
/* Walks every call / agent; stop early by returning false. */
void reg_txn_foreach_call(reg_txn_t *tx, bool (*fn)(reg_txn_t *tx, reg_call_t *c, void *ctx),
                          void *ctx);
void reg_txn_foreach_agent(reg_txn_t *tx, bool (*fn)(reg_txn_t *tx, reg_agent_t *a, void *ctx),
                           void *ctx);
/* The work being applied stands for something read at this monotonic time (clk_mono_us;
 * an AMI event's rx_us): once its changes are published, the time since then goes into
 * the registry lag histogram (reg_lag_quantile_us).  Work that never calls it is not
 * counted. */
void reg_txn_set_source_us(reg_txn_t *tx, int64_t us);

/* ---- the configured agent list (call_center.agent) ---- */

typedef struct reg_agent_info {
    char number[REG_ID_LEN]; /* "Agent/9000", "PJSIP/1064" */
    char name[REG_NAME_LEN];
    bool active;
    int64_t db_id;
} reg_agent_info_t;

/*
 * One entry of the list from a call_center.agent row: number "<type>/<number>"
 * (cut to REG_ID_LEN-1 bytes), name cut to REG_NAME_LEN-1 bytes, active when
 * estatus is 'A', db_id = the row's id.  Pure.
 */
void reg_agent_info_set(reg_agent_info_t *e, const char *type, const char *number,
                        const char *name, char estatus, int64_t db_id);
/*
 * Makes list[0..*n) (entries from reg_agent_info_set, in row order) one entry
 * per number, in place: when a number appears more than once, an active entry
 * wins over an inactive one, and among entries of the same status the lowest
 * db_id wins.  Entries keep the order of each number's first row; *n gets the
 * new count.  The rule every loader applies (the daemon at startup, ECCP
 * refreshagents).  Pure.  0 or CCD_ENOMEM (list and *n untouched).
 */
int reg_agent_list_merge(reg_agent_info_t *list, size_t *n);

/*
 * Posts the agent list read from the database: agents are created when
 * missing and get their name, active flag and id; an agent that is no longer
 * listed is marked inactive (kept while it is logged in or on a call, so no
 * live state is lost).  list is a malloc'ed array the registry owns from a
 * successful post (0); on failure the caller keeps it.
 */
int reg_post_agent_sync(reg_t *r, reg_agent_info_t *list, size_t n);

/* ---- watched incoming queues (queue_call_entry, campaign_entry) ---- */

/* One watched queue: a queue_call_entry row with estatus 'A', and the incoming campaign
 * active on it when the table was made. */
typedef struct reg_inbound_queue {
    char queue[REG_ID_LEN];  /* the Asterisk queue name */
    int64_t queue_id;        /* queue_call_entry.id */
    int64_t campaign_id;     /* campaign_entry.id active now, 0 = none */
} reg_inbound_queue_t;

/* A campaign_entry row as the choice below reads it.  Dates "YYYY-MM-DD", times
 * "HH:MM:SS" (server-local, as Issabel stores them); "" = not set (open). */
typedef struct reg_inbound_campaign {
    int64_t id;
    int64_t queue_id;        /* campaign_entry.id_queue_call_entry */
    bool active;             /* estatus 'A' */
    char date_init[11], date_end[11];
    char time_init[9], time_end[9];
} reg_inbound_campaign_t;

/*
 * Whether campaign c is open at local date today and time now ("YYYY-MM-DD",
 * "HH:MM:SS"): active, date_init <= today <= date_end, and time_init <= now <=
 * time_end, or, for an overnight window (time_init > time_end), now >= time_init
 * or now <= time_end.  Pure.
 */
bool reg_inbound_campaign_open(const reg_inbound_campaign_t *c, const char *today,
                               const char *now);
/*
 * Sets campaign_id of every queue in q[0..nq) to the open campaign of that queue
 * among c[0..nc) (the lowest id when several are open, so the choice does not
 * depend on row order), 0 when none is.  Pure.
 */
void reg_inbound_choose(reg_inbound_queue_t *q, size_t nq, const reg_inbound_campaign_t *c,
                        size_t nc, const char *today, const char *now);
/*
 * Posts the table of watched queues; it replaces the previous one as a whole (the
 * registry thread owns it; calls already tracked keep their queue and campaign).  list is
 * a malloc'ed array the registry owns from a successful post (0); on failure the caller
 * keeps it.  Names longer than REG_ID_LEN-1 cannot match a queue and are dropped.
 */
int reg_post_inbound(reg_t *r, reg_inbound_queue_t *list, size_t n);
/* Inside an apply function: the watched queue of that name, or NULL. */
const reg_inbound_queue_t *reg_txn_inbound(reg_txn_t *tx, const char *queue);
/* How many queues are watched now (read lock; monitoring and tests). */
size_t reg_inbound_count(reg_t *r);

/* ---- readers, any thread: copies taken under the read lock ---- */

int reg_agent_get(reg_t *r, const char *number, reg_agent_t *out); /* 0 or CCD_ENOTFOUND */
int reg_call_get(reg_t *r, uint64_t id, reg_call_t *out);           /* 0 or CCD_ENOTFOUND */
/* malloc'ed arrays the caller frees; *n gets the count. 0 or CCD_ENOMEM. */
int reg_agent_list(reg_t *r, reg_agent_t **out, size_t *n);
int reg_call_list(reg_t *r, reg_call_t **out, size_t *n);
size_t reg_agent_count(reg_t *r);
size_t reg_call_count(reg_t *r);
/* Calls fn on every agent under the read lock, without copying them (monitoring
 * summaries, the dialer's pacing snapshot).  fn must be quick, must not call into the
 * registry and must take no lock (r->lock is a leaf). */
void reg_visit_agents(reg_t *r, void (*fn)(const reg_agent_t *a, void *ctx), void *ctx);
void reg_visit_calls(reg_t *r, void (*fn)(const reg_call_t *c, void *ctx), void *ctx);
/* Change notifications dropped because a subscriber's queue was full, all subscribers
 * (monitoring; call after the subscribers are set up). */
uint64_t reg_notifications_dropped(reg_t *r);
/* Registry lag (µs): of the work that named its source time (reg_txn_set_source_us: AMI
 * events), the time under which a fraction q (0..1) had its changes applied and published,
 * from a log-scale histogram (within 1/8 of the value); 0 when none.  *count (may be NULL)
 * gets how many were measured.  Any thread. */
uint64_t reg_lag_quantile_us(reg_t *r, double q, uint64_t *count);
/* Work waiting in the registry thread's inbox (monitoring). */
size_t reg_inbox_depth(reg_t *r);
/* clk_mono_ms() when the registry thread last went round its loop (it does at least
 * every REG_SWEEP_INTERVAL_MS while alive); 0 before it started.  For the watchdog. */
int64_t reg_heartbeat_ms(reg_t *r);

/* ---- change notifications ---- */

enum {
    MSG_REG_APPLY = MSG_REG_BASE + 0, /* internal: work for the registry thread */
    MSG_REG_AGENT_CHANGED = MSG_REG_BASE + 1,
    MSG_REG_CALL_CHANGED = MSG_REG_BASE + 2,
};

#define REG_SUB_AGENTS 0x1
#define REG_SUB_CALLS 0x2
/*
 * Lossless: changes are force-pushed to this subscriber's queue, past its bound, and
 * never dropped for a full queue (only an allocation failure can lose one; it is
 * counted in reg_notifications_dropped and logged).  For the one subscriber that
 * writes history (journal/).  Why the memory stays bounded: such a subscriber must
 * never wait on anything but its queue (no SQL, no lock held across I/O), so it
 * drains at memcpy speed; the registry thread producing the changes is itself fed
 * through its bounded inbox, so the queue can only grow while the subscriber is
 * starved of CPU, by at most the changes the registry applied meanwhile.  The
 * subscriber watches its depth (a metric) instead of the registry refusing it.
 */
#define REG_SUB_LOSSLESS 0x4

/*
 * Pushed to subscribers; the receiver frees it with msg.free.  Allocated only
 * as far as it carries (a call change up to the end of u.call, an agent change
 * up to its calls): never copy one by value, use the accessors below.
 *
 * An agent change carries, as they were at the same commit:
 * - call: the agent's current call (u.agent.call_id), when it has one;
 * - prev_call: the call it was linked to in its previous published state, when
 *   that is another call (an unlink, or a link to a new call) and the registry
 *   still had it (finished calls stay REG_FINISHED_KEEP_MS).
 */
typedef struct reg_change {
    mq_msg_t msg;
    bool removed;
    int64_t at_us; /* monotonic time of the change, for fan-out latency figures */
    bool has_call, has_prev_call; /* agent changes: which of calls[] are present */
    union {
        reg_agent_t agent;
        reg_call_t call;
    } u;
    reg_call_t calls[]; /* agent changes: call (if has_call), then prev_call */
} reg_change_t;

/* The calls an agent change carries, or NULL (always NULL for call changes). */
const reg_call_t *reg_change_call(const reg_change_t *ch);
const reg_call_t *reg_change_prev_call(const reg_change_t *ch);

/*
 * Registers q to receive changes (mask of REG_SUB_*).  Call before reg_start
 * or from the registry thread.  A full subscriber queue loses the
 * notification (counted and logged once per episode): subscribers that must
 * not miss a change re-read the record with reg_*_get, or subscribe with
 * REG_SUB_LOSSLESS (above) when they must see every change in order.
 */
int reg_subscribe(reg_t *r, mq_t *q, int mask);
/*
 * Stops pushing to q; when it returns, the registry will never touch q again
 * (changes already pushed stay in q for its owner to free).  Call from the
 * thread that runs reg_start/reg_stop (the registry thread, when running,
 * removes it between two changes and this waits for that), or from any
 * thread while the registry thread is not running and nothing drains.
 * 0 or CCD_ENOTFOUND.
 */
int reg_unsubscribe(reg_t *r, mq_t *q);

/*
 * Finished calls (Failure, NoAnswer, Abandoned, ShortCall, Hangup, Lost) stay
 * for REG_FINISHED_KEEP_MS after their end, so late events (Asterisk does
 * not order them causally) still find them; then the registry thread removes
 * them, publishing the removal with their final state.  reg_sweep() does one
 * such pass now (registry thread, or a test while the thread is not running)
 * and returns how many calls it removed.
 */
#define REG_FINISHED_KEEP_MS 60000
#define REG_SWEEP_INTERVAL_MS 1000
size_t reg_sweep(reg_t *r, int64_t keep_ms);

/* Names for logs and the ECCP wire ("Placing", "OnQueue", ...). */
const char *reg_call_status_name(reg_call_status_e s);

#endif
