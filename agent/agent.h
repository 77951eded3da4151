/*
 * agent: the agent service.  Every agent and call-control operation (login,
 * logout, pause, unpause, hold, unhold, hangup, transfers, recording mute,
 * channel variables) lives here; ECCP requests and the FastAGI scripts call
 * it, so those stay protocol facades.
 *
 * DESIGN (docs/agent.md has the long form)
 * - One thread ("agent") owns the service's state: the operations in flight,
 *   each agent's login attempt (deadline, the Originate's ActionID), its
 *   inactivity timer, its recording mute timer, its hold (parking space).
 *   Nothing else touches that state, so it has no lock.  Its inbox (a bounded
 *   mq) receives requests (ags_submit), AMI answers and registry changes.
 * - It acts on Asterisk with typed AMI operations (ami_op_*) sent through
 *   ami_send with the answer coming back to its inbox, so it never waits for
 *   Asterisk, and on the registry through reg_post (the registry thread is
 *   the only writer).  It keeps reg_agent_t true for what it starts: login
 *   (LOGGING with the extension, LOGGED_OUT on a failed login), the break
 *   (break_id = the break row id, break_name, break_start_ms), the hold
 *   (on_hold, hold_start_ms).  What Asterisk reports (AgentLogin, queue
 *   membership, calls) is kept by ami/ami_reg.c; ECCP events and the call
 *   journal follow from the registry's changes.
 * - Asynchronous: ags_submit queues a request and returns; exactly one
 *   ags_done_t comes back on the request's reply_mq (a session worker's or
 *   a FastAGI thread's mq) once the operation has an outcome.
 * - Lifecycle: ags_new (subscribes to the registry: call it before
 *   reg_start) / ags_start / ags_stop / ags_free, from one controlling
 *   thread.  Stop it before the AMI client and the registry.
 */
#ifndef CCD_AGENT_AGENT_H
#define CCD_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ami/ami.h"
#include "conf/conf.h"
#include "core/mq.h"
#include "db/db.h"
#include "reg/reg.h"

typedef struct ags ags_t;

typedef enum ags_op {
    AGS_LOGIN = 1,      /* agent, arg = extension (or channel), timeout_s = inactivity (0 none) */
    AGS_LOGOUT,         /* agent */
    AGS_PING,           /* agent: resets the inactivity timer */
    AGS_PAUSE,          /* agent, break_id + break_name (an active break row, checked by the caller) */
    AGS_UNPAUSE,        /* agent: ends the engine's break, or a pause set on the phone system */
    AGS_HOLD,           /* agent: parks the customer, pauses the agent */
    AGS_UNHOLD,         /* agent: brings the parked customer back to the agent */
    AGS_HANGUP,         /* agent: hangs up the agent's side of its call */
    AGS_TRANSFER,       /* agent, arg = extension: blind transfer of the customer (Redirect) */
    AGS_ATXFER,         /* agent, arg = extension: attended transfer on the agent's leg (Atxfer) */
    AGS_TRANSFER_AGENT, /* agent, arg = target agent number: the customer to another agent */
    AGS_MUTE,           /* agent, timeout_s = unmute after (0 = stays muted) */
    AGS_UNMUTE,         /* agent */
    AGS_CHANVARS,       /* agent: the customer channel's variables */
} ags_op_e;

typedef struct ags_req {
    ags_op_e op;
    char agent[REG_ID_LEN]; /* "Agent/9000", "SIP/1064", ... */
    /* LOGIN: the phone extension ("1064"; a string with '/' is used as the channel to
     * originate as it is); TRANSFER/ATXFER: the target extension; TRANSFER_AGENT: the
     * target agent number. */
    char arg[REG_ID_LEN];
    /* LOGIN from the dialplan (FastAGI): the agent's channel, already in a call; no
     * Originate is made (an Agent/N agent is logged in when its dialplan runs
     * AgentLogin, a dynamic agent by QueueAdd as usual).  "" = ECCP's login. */
    char channel[REG_CHAN_LEN];
    int timeout_s;
    int break_id;                 /* PAUSE */
    char break_name[REG_NAME_LEN];
    /* LOGIN: complete only when the login has ended (logged in, or failed) instead of
     * when it has started (Issabel's loginagent answers "logging" at that point). */
    bool wait_login;
    mq_t *reply_mq; /* required: where the ags_done_t goes */
    uint64_t user;  /* copied into the ags_done_t; never 0 (0 marks a notice, see ags_done_t) */
} ags_req_t;

enum {
    MSG_AGS_REQ = MSG_AGS_BASE + 0,  /* internal: a request for the service thread */
    MSG_AGS_DONE = MSG_AGS_BASE + 1, /* ags_done_t to the requester */
};

/*
 * The one outcome of a request; the receiver frees it with msg.free.
 * With user == 0 it answers no request: it is a notice that the service unmuted a
 * recording by itself (op AGS_UNMUTE, the mixmonitormute timer), sent to the
 * reply_mq of the AGS_MUTE that armed the timer, so its owner can report it.
 * code 0 = done; otherwise Issabel's code and text for the failure:
 *   404 agent (or target) unknown, 409 agent logged in on another extension,
 *   417 not logged in / not in a call / already in another break / already on hold /
 *       nothing to unhold, 500 Asterisk refused or could not be reached,
 *   503 the service is stopping.
 */
typedef struct ags_done {
    mq_msg_t msg;
    ags_op_e op;
    uint64_t user;
    int code;
    char why[192];
    /* With code 500: the action could not even be sent (Asterisk not connected). */
    bool unreachable;
    char agent[REG_ID_LEN];
    /* LOGIN/LOGOUT: the agent's state to report (REG_LOGGING, REG_LOGGED_IN, REG_LOGGED_OUT) */
    reg_login_e login;
    /* The call acted on, when there was one (transfers record their target with it;
     * mute events name it). */
    bool has_call;
    reg_call_t call;
    /* CHANVARS: the channel asked about and its variables (NULL on failure; freed
     * with the message). */
    char channel[REG_CHAN_LEN];
    ami_chanvars_t *vars;
} ags_done_t;

/*
 * Creates the service (no thread yet) and subscribes its inbox to the registry's
 * agent and call changes, so call it before reg_start.  ami is required; db may be
 * NULL (dynamic agents then have no queues to join: their login fails with 500).
 * cf is kept (immutable).  NULL with the reason in err on failure.
 */
ags_t *ags_new(const conf_t *cf, reg_t *reg, ami_t *ami, db_t *db, char *err, size_t errlen);
/* Starts the service thread.  0, CCD_EBUSY (already started) or CCD_ERR. */
int ags_start(ags_t *s);
/* Answers every request still in flight with 503, stops and joins the thread, and
 * unsubscribes from the registry (reg_unsubscribe's rule applies: call it from the
 * thread that controls the registry).  Call before ami_stop.  A no-op when not running. */
void ags_stop(ags_t *s);
/* Stops if needed and frees everything.  NULL is a no-op. */
void ags_free(ags_t *s);

/*
 * Queues a request (req is copied).  0: exactly one ags_done_t will be pushed to
 * req->reply_mq (force-pushed: it is never lost).  CCD_EINVAL (no reply_mq, user 0,
 * bad op, empty agent), CCD_EFULL (inbox full: the caller answers busy), CCD_ECLOSED (not
 * running).  Any thread.
 */
int ags_submit(ags_t *s, const ags_req_t *req);

/* Names for logs ("login", "pause", ...). */
const char *ags_op_name(ags_op_e op);

typedef struct ags_stats {
    uint64_t requests, failed;        /* requests taken, of which answered with a failure */
    uint64_t actions_sent;            /* AMI actions sent */
    uint64_t logins_ok, logins_failed; /* logins that ended logged in / failed */
    uint64_t inactivity_logouts;      /* logouts by the loginagent timeout */
    uint64_t auto_unmutes;            /* recording unmutes by the mixmonitormute timer */
    uint64_t breaks_restored;         /* engine breaks paused again after Asterisk lost them */
    int64_t heartbeat_ms;             /* clk_mono_ms() of the thread's last loop; 0 = not started */
} ags_stats_t;
/* Counters (atomics written by the service thread); any thread. */
void ags_get_stats(ags_t *s, ags_stats_t *out);

#endif
