/*
 * The agent service's private declarations (the agent/ sources).  Everything here is
 * owned by the service thread unless a comment says otherwise.
 */
#ifndef CCD_AGENT_AGS_INT_H
#define CCD_AGENT_AGS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "agent/agent.h"
#include "core/hmap.h"

#define AGS_MOD "agent"
#define AGS_INBOX_MAX 65536
#define AGS_SCAN_MS 200 /* how often the timers (login, inactivity, unmute) are looked at */

typedef struct ags_run ags_op_t;
/* What to do with one AMI answer to an action an operation sent (r is freed by the caller). */
typedef void (*ags_answer_fn)(ags_t *s, ags_op_t *op, ami_response_t *r);

/* A request in flight.  Listed in s->ops (so a stop can answer and free every one) and
 * pointed at by the AMI actions it has out (ami_send_opts_t.user). */
struct ags_run {
    ags_req_t req;
    ags_op_t *prev, *next;  /* s->ops */
    ags_op_t *wnext;        /* an agent's login waiters (wait_login) */
    reg_agent_t a;          /* the agent as the registry had it when the request was taken */
    reg_call_t call;        /* its call then (has_call) */
    bool has_call;
    int server;
    int outstanding;        /* AMI answers still to come */
    int oks;                /* actions Asterisk accepted (multi-action operations) */
    ags_answer_fn on_answer;
    bool answered;          /* the ags_done_t was sent; freed when nothing is outstanding */
    bool unsent;            /* an action could not be sent (Asterisk not connected) */
    char why[160];          /* Asterisk's message of the last refusal */
    char uid[REG_UID_LEN];  /* a ChannelId this operation gave an Originate */
};

/* What the service keeps per agent besides the registry's record (service thread). */
typedef struct ags_agent {
    char number[REG_ID_LEN]; /* the key */
    /* a login in progress */
    bool logging;
    bool seen_logging;             /* the registry has published our "logging" */
    int64_t login_deadline_ms;     /* clk_mono_ms */
    char login_uid[REG_UID_LEN];   /* ChannelId of the login Originate ("" = none) */
    ags_op_t *waiters;             /* wait_login requests */
    /* inactivity: loginagent's timeout, reset by pingagent and any request */
    int idle_s;
    int64_t last_activity_ms;
    /* recording mute with its timer */
    char mute_chan[REG_CHAN_LEN];
    int mute_server;
    int64_t unmute_at_ms;          /* 0 = no timer */
    mq_t *mute_mq;                 /* where the mute came from: told about the timer's unmute */
    reg_call_t mute_call;
    /* a hold: the parked customer leg */
    uint64_t hold_call;            /* registry call id, 0 = none */
    char park_uid[REG_UID_LEN];
    int park_space;                /* -1 until ParkedCall says */
    int hold_server;
    /* the service paused the agent's member in Asterisk (break or hold) and has not
     * unpaused it: an Agent/N member outlives its session, so a logout unpauses it */
    bool engine_paused;
    /* a blind transfer done: the agent is free once its leg of that call hangs up (Asterisk
     * sends no AgentComplete until the transferred call ends) */
    uint64_t xfer_call;
    char xfer_chan[REG_CHAN_LEN];
} ags_agent_t;

struct ags {
    const conf_t *cf;
    reg_t *reg;
    ami_t *ami;
    db_t *db;
    mq_t *inbox;
    bool subscribed;
    pthread_t th;
    bool started, running;   /* controlling thread */
    /* service thread: */
    hmap_t *agents;          /* number -> ags_agent_t */
    hmap_t *login_uids;      /* login ChannelId -> ags_agent_t */
    ags_op_t *ops;
    uint64_t seq;            /* ChannelIds */
    int64_t next_scan_ms;
    /* counters, written by the service thread, read by anyone */
    _Atomic uint64_t st_requests, st_failed, st_actions, st_logins_ok, st_logins_failed,
        st_idle_logouts, st_auto_unmutes, st_breaks_restored;
    _Atomic int64_t st_beat_ms;
};

/* agent.c */
ags_agent_t *ags__agent(ags_t *s, const char *number); /* created on first use; NULL on ENOMEM */
/* Answers op (once): code 0 or a failure with its text; login is the state to report. */
void ags__answer(ags_t *s, ags_op_t *op, int code, const char *why);
void ags__answer_login(ags_t *s, ags_op_t *op, reg_login_e login);
void ags__answer_vars(ags_t *s, ags_op_t *op, ami_chanvars_t *vars, const char *channel);
/* A notice (user 0) to q: the service unmuted agent's recording of call by itself. */
void ags__notice_unmute(ags_t *s, mq_t *q, const char *agent, const reg_call_t *call);
/* A new operation on s->ops (req copied; NULL = none), or NULL on ENOMEM. */
ags_op_t *ags__op_new(ags_t *s, const ags_req_t *req);
/* Frees op when it was answered and has nothing out. */
void ags__op_settle(ags_t *s, ags_op_t *op);
/* Sends a (always consumed) on server; the answer goes to op->on_answer (op may be NULL:
 * the answer is only logged when it is a refusal).  0 or the ami_send code. */
int ags__send(ags_t *s, int server, ami_action_t *a, ags_op_t *op, const char *what);
/* An action nobody waits for: its refusal is logged with agent and what. */
int ags__send_bg(ags_t *s, int server, ami_action_t *a, const char *agent, const char *what);
/* The same with our own ActionID (unique: a ChannelId from ags__uid). */
int ags__send_id(ags_t *s, int server, ami_action_t *a, ags_op_t *op, const char *what,
                 const char *action_id);
/* Runs a request of the service's own (no requester: the answer is dropped). */
void ags__internal(ags_t *s, const ags_req_t *req);
/* Posts fn(arg) to the registry (arg malloc'ed, freed with free); logs a refusal. */
int ags__post(ags_t *s, reg_apply_fn fn, void *arg, const char *what);
/* The queue-member interface of an agent: Local/N@<agents_context> for Agent/N, the
 * number itself for a dynamic agent. */
void ags__member_iface(const ags_t *s, const char *number, char *out, size_t outsz);
bool ags__is_pool(const char *number);
/* The channel that reaches the agent's phone: Local/N@<agents_context> or the number. */
void ags__reach_chan(const ags_t *s, const char *number, char *out, size_t outsz);
/* A fresh ChannelId for an Originate ("ccd-<kind>-<seq>-<mono ms>"). */
void ags__uid(ags_t *s, const char *kind, char *out, size_t outsz);

/* ags_reg.c: what the service changes in the registry (apply functions) */
typedef struct ags_regset {
    char number[REG_ID_LEN];
    int kind;                 /* AGS_RS_* */
    char extension[REG_ID_LEN];
    char channel[REG_CHAN_LEN];
    int server;
    int break_id;
    char break_name[REG_NAME_LEN];
    uint64_t call_id;
} ags_regset_t;
enum {
    AGS_RS_LOGGING = 1,   /* logged out -> logging, with the extension */
    AGS_RS_LOGIN_FAILED,  /* logging -> logged out */
    AGS_RS_LOGGED_IN,     /* logging -> logged in (a dynamic member Asterisk already had) */
    AGS_RS_BREAK,         /* break_id/name from now on */
    AGS_RS_BREAK_END,     /* break_id (or -1) ends */
    AGS_RS_HOLD,          /* on hold, its call ONHOLD */
    AGS_RS_HOLD_END,      /* off hold, its call linked again (channel: the agent's new leg) */
    AGS_RS_UNLINK,        /* the agent left call_id (transferred away) */
};
void ags__reg_apply(reg_txn_t *tx, void *arg);
int ags__reg_set(ags_t *s, const ags_regset_t *rs);

/* ags_login.c */
void ags__login(ags_t *s, ags_op_t *op);
void ags__logout(ags_t *s, ags_op_t *op);
void ags__login_event(ags_t *s, const ami_event_t *ev);      /* OriginateResponse, Hangup */
void ags__login_change(ags_t *s, const reg_agent_t *a);      /* registry agent change */
void ags__login_db_done(ags_t *s, db_read_job_t *job);
void ags__login_scan(ags_t *s, ags_agent_t *ag, int64_t now);
void ags__login_stop(ags_t *s, ags_agent_t *ag);

/* ags_pause.c */
void ags__pause(ags_t *s, ags_op_t *op);
void ags__unpause(ags_t *s, ags_op_t *op);
void ags__hold(ags_t *s, ags_op_t *op);
void ags__unhold(ags_t *s, ags_op_t *op);
void ags__park_event(ags_t *s, const ami_event_t *ev);
void ags__hold_change(ags_t *s, const reg_agent_t *a);
void ags__restore_pauses(ags_t *s, int server);

/* ags_call.c */
void ags__hangup(ags_t *s, ags_op_t *op);
void ags__transfer(ags_t *s, ags_op_t *op);
void ags__mute(ags_t *s, ags_op_t *op);
void ags__chanvars(ags_t *s, ags_op_t *op);
void ags__call_hangup_event(ags_t *s, const ami_event_t *ev);
void ags__mute_scan(ags_t *s, ags_agent_t *ag, int64_t now);

#endif
