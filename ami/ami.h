/*
 * ami: the Asterisk Manager Interface client.
 *
 * DESIGN (docs/ami.md has the long form)
 * - Parser (ami_parse.c): pure, incremental framing of the byte stream into
 *   messages whose headers are slices into the caller's buffer.
 * - Client (ami_conn.c, ami_action.c, ami_event.c): one connection and one
 *   I/O thread per configured server.  That thread alone owns the socket,
 *   the input/output buffers, the parser and the table of actions in flight.
 *   Other threads reach it only through its inbox (a bounded mq with a wake
 *   fd): ami_send() formats the action in the caller's thread and pushes it.
 * - Replies go back the way the requester asked: a message on its own mq
 *   or a callback run on the I/O thread.  Every action ends in exactly one
 *   ami_response_t: the response (plus the events of a list action up to its
 *   *Complete event), a timeout, or "connection closed".  A response for an
 *   unknown or expired ActionID is logged and dropped.
 * - Events we use become ami_event_t (one struct type, values copied out of
 *   the input buffer) pushed to subscribers' mqs and posted to the registry
 *   (ami_reg.c).  Other events are dropped by name before anything is copied.
 *   Event order is not causal; nothing here depends on it.
 * - Nothing blocks: sockets are non-blocking, sends to a server that is away
 *   fail at once (CCD_ECLOSED), a full mq loses the message (counted), the
 *   output buffer is bounded.
 */
#ifndef CCD_AMI_AMI_H
#define CCD_AMI_AMI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/mq.h"
#include "reg/reg.h"

/* ====================================================================== */
/* Framing parser (ami_parse.c): no I/O, no globals, no locks.            */
/* ====================================================================== */

#define AMI_LINE_MAX 8192           /* default longest line, line end excluded */
#define AMI_HDR_MAX 128             /* most headers per message (Asterisk's own cap) */
#define AMI_MSG_MAX (1024 * 1024)   /* default longest message (legacy command output) */
#define AMI_BANNER_MAX 256          /* longest banner line */

typedef struct ami_hdr {
    ccd_str_t key;
    ccd_str_t val; /* leading spaces and the line end removed */
} ami_hdr_t;

/* A complete message.  Slices point into the buffer given to ami_parse()
 * and stay valid until the caller changes that buffer. */
typedef struct ami_msg {
    const ami_hdr_t *hdr; /* in wire order; owned by the parser */
    int nhdr;
    ccd_str_t output;     /* Response: Follows output (raw, line ends kept), else empty */
    size_t len;           /* bytes of the stream this message used: consume them */
} ami_msg_t;

typedef struct ami_hoff {
    uint32_t ko, kl, vo, vl; /* offsets from the message start */
} ami_hoff_t;

/* Parser state: owned by one thread (the connection's), never shared. */
typedef struct ami_parser {
    size_t max_line, max_msg;
    int max_hdr;
    size_t scan; /* bytes of the current message already split into lines */
    int nhdr;
    int state;
    size_t out_off, out_len;
    const char *err; /* static text saying why EPROTO was returned */
    size_t err_off;  /* where, from the message start */
    ami_hoff_t off[AMI_HDR_MAX];
    ami_hdr_t hdr[AMI_HDR_MAX];
} ami_parser_t;

/* Sets bounds (0 = the defaults above; max_hdr is capped at AMI_HDR_MAX). */
void ami_parser_init(ami_parser_t *p, size_t max_line, int max_hdr, size_t max_msg);
/* Forgets any partial message (after EPROTO, or on a new connection). */
void ami_parser_reset(ami_parser_t *p);

/*
 * Frames the next message.  buf/len are the unconsumed bytes, starting at
 * the current message; between calls the caller may append bytes and move
 * the buffer, but the bytes already given must stay the same.
 * Returns CCD_OK with *m filled (consume m->len bytes before the next
 * call), CCD_EAGAIN (need more bytes; nothing to consume) or CCD_EPROTO
 * (p->err says why; the stream cannot be trusted any more).
 */
int ami_parse(ami_parser_t *p, const char *buf, size_t len, ami_msg_t *m);

/* The one-line banner "Asterisk Call Manager/x.y.z" that precedes framing.
 * CCD_OK (version slice and the bytes to consume), CCD_EAGAIN or CCD_EPROTO. */
int ami_parse_banner(const char *buf, size_t len, ccd_str_t *version, size_t *consumed);

/* Case-insensitive lookup.  ami_msg_get returns an empty slice when absent;
 * ami_msg_find returns the first match after `after` (NULL = from the start). */
ccd_str_t ami_msg_get(const ami_msg_t *m, const char *key);
const ami_hdr_t *ami_msg_find(const ami_msg_t *m, const char *key, size_t klen,
                              const ami_hdr_t *after);
bool ami_str_ieq(ccd_str_t a, const char *lit);

/* ====================================================================== */
/* Typed events                                                           */
/* ====================================================================== */

typedef enum ami_ev_type {
    AMI_EV_NONE = 0,
    AMI_EV_ORIGINATE_RESPONSE,
    AMI_EV_NEWCHANNEL,
    AMI_EV_NEWSTATE,
    AMI_EV_DIAL_BEGIN,
    AMI_EV_DIAL_END,
    AMI_EV_HANGUP,
    AMI_EV_QUEUE_CALLER_JOIN,
    AMI_EV_QUEUE_CALLER_LEAVE,
    AMI_EV_QUEUE_CALLER_ABANDON,
    AMI_EV_AGENT_CALLED,
    AMI_EV_AGENT_CONNECT,
    AMI_EV_AGENT_COMPLETE,
    AMI_EV_AGENT_RINGNOANSWER,
    AMI_EV_BRIDGE_ENTER,
    AMI_EV_BRIDGE_LEAVE,
    AMI_EV_QUEUE_MEMBER_ADDED,
    AMI_EV_QUEUE_MEMBER_REMOVED,
    AMI_EV_QUEUE_MEMBER_PAUSE,
    AMI_EV_QUEUE_MEMBER_STATUS,
    AMI_EV_AGENT_LOGIN,
    AMI_EV_AGENT_LOGOFF,
    AMI_EV_MOH_START,
    AMI_EV_MOH_STOP,
    AMI_EV_VARSET,
    AMI_EV_PARKED_CALL,         /* ParkedCall: parkee_uniqueid, parking_space */
    AMI_EV_UNPARKED_CALL,       /* UnParkedCall */
    AMI_EV_PARKED_CALL_GIVEUP,  /* ParkedCallGiveUp: the parked caller hung up */
    AMI_EV_PARKED_CALL_TIMEOUT, /* ParkedCallTimeOut: the space's timeout sent it back */
    AMI_EV_COUNT
} ami_ev_type_e;

#define AMI_EVM(t) (1ull << (t))
#define AMI_EVM_ALL ((1ull << AMI_EV_COUNT) - 2)

enum {
    MSG_AMI_EVENT = MSG_AMI_BASE + 0,    /* ami_event_t */
    MSG_AMI_RESPONSE = MSG_AMI_BASE + 1, /* ami_response_t */
    MSG_AMI_STATUS = MSG_AMI_BASE + 2,   /* ami_status_t */
    MSG_AMI_SEND = MSG_AMI_BASE + 3,     /* internal: an action for the I/O thread */
};

/*
 * One event we use, with the fields those events carry.  String fields are
 * never NULL ("" when the event lacks them) and point into the same
 * allocation; integer fields are -1 when absent.  Receivers free it with
 * msg.free.
 */
typedef struct ami_event {
    mq_msg_t msg;
    size_t size;        /* bytes of this allocation (for ami_event_dup) */
    ami_ev_type_e type;
    int server;         /* index into conf_t.ami */
    int64_t rx_us;      /* monotonic time the event was read */
    const char *name;   /* the Event header as sent */
    const char *timestamp;
    /* channel block */
    const char *channel, *uniqueid, *linkedid, *context, *exten;
    const char *caller_num, *caller_name, *connected_num, *connected_name;
    int channel_state;
    /* Dest* block (DialBegin/End, AgentCalled/Connect/Complete...) */
    const char *dest_channel, *dest_uniqueid, *dest_linkedid;
    const char *dial_status;
    /* OriginateResponse */
    const char *action_id, *response; /* response: "Success" / "Failure" */
    int reason;                       /* OriginateResponse Reason (0,1,3,4,5,8) */
    const char *reason_txt;           /* Reason as text (AgentComplete: caller/agent/transfer) */
    const char *application;
    /* Hangup */
    int cause;
    const char *cause_txt;
    /* queues and agents */
    const char *queue, *interface, *state_interface, *member_name, *agent, *paused_reason;
    int position, count, status, paused, in_call, hold_time, talk_time, ring_time;
    /* QueueMember* wrap-up fields (ami_parse_lastcall / ami_parse_wrapuptime; -1 absent or
     * refused): LastCall, when the member's last queue call ended (epoch seconds on
     * Asterisk's clock, 0 = never), and Wrapuptime, the member's own wrap-up in seconds
     * (Asterisk 16+; 0 = none of its own: the queue's wrapuptime then applies, which AMI
     * does not report) */
    int64_t last_call_s;
    int wrapup_s;
    /* bridges, music on hold, variables */
    const char *bridge_uniqueid, *bridge_type, *moh_class, *variable, *value;
    /* parking (ParkedCall, UnParkedCall, ParkedCallGiveUp, ParkedCallTimeOut) */
    const char *parkee_channel, *parkee_uniqueid, *retriever_channel;
    int parking_space;
} ami_event_t;

const char *ami_ev_name(ami_ev_type_e t);

/* Largest values taken for the wrap-up fields; beyond them a value is refused as absurd
 * (a LastCall after 2100-01-01 or a wrap-up over a day is a corrupt or misread value). */
#define AMI_LASTCALL_MAX_S 4102444800LL
#define AMI_WRAPUP_MAX_S 86400
/* LastCall of a queue member (v[0..len)): decimal digits only, at most 12 of them, and at
 * most AMI_LASTCALL_MAX_S; -1 (refused) for anything else: empty, a sign, spaces,
 * "<unknown>", too large.  Pure. */
int64_t ami_parse_lastcall(const char *v, size_t len);
/* Wrapuptime of a queue member in seconds: decimal digits only, at most AMI_WRAPUP_MAX_S;
 * -1 (refused) otherwise.  Pure. */
int ami_parse_wrapuptime(const char *v, size_t len);

/*
 * Builds a typed event from a framed message (for the I/O thread, tests and
 * tools).  Returns NULL when the message is not an event we use (decided by
 * its name before copying anything), when VarSet names a variable not in
 * vars (a NULL-terminated list; NULL = none), or on ENOMEM.
 */
ami_event_t *ami_event_from_msg(const ami_msg_t *m, int server, const char *const *vars);
/* Event type for an Event header value, AMI_EV_NONE when not used. */
ami_ev_type_e ami_ev_type_of(ccd_str_t name);
/* A copy for another receiver (one allocation). NULL on ENOMEM. */
ami_event_t *ami_event_dup(const ami_event_t *ev);
void ami_event_free(ami_event_t *ev);

/* ====================================================================== */
/* Actions and responses                                                  */
/* ====================================================================== */

#define AMI_ACTIONID_LEN 64

/* A copied message: headers as NUL-terminated strings in one allocation. */
typedef struct ami_kv {
    const char *key, *val;
} ami_kv_t;

typedef struct ami_rec {
    int n;
    const char *output; /* legacy Follows output, "" when none */
    ami_kv_t kv[];
} ami_rec_t;

/* Copies a framed message (one allocation; free()). NULL on ENOMEM. */
ami_rec_t *ami_rec_from_msg(const ami_msg_t *m);
/* First value for key (case-insensitive), or "" when absent. */
const char *ami_rec_get(const ami_rec_t *r, const char *key);
/* Like ami_rec_get but NULL when absent. */
const char *ami_rec_find(const ami_rec_t *r, const char *key);

/*
 * The single outcome of an action.  status: CCD_OK (a response arrived;
 * ok says Success/Follows vs Error), CCD_ETIMEDOUT, CCD_ECLOSED (the
 * connection went away, or never was), CCD_EFULL (a list overflowed its
 * bound; what arrived is kept).  Receivers free it with msg.free.
 */
typedef struct ami_response {
    mq_msg_t msg;
    int server;
    int status;
    bool ok;
    uint64_t user; /* the caller's cookie from ami_send_opts_t */
    char action_id[AMI_ACTIONID_LEN];
    ami_rec_t *resp;  /* the response; NULL when none arrived */
    ami_rec_t **ev;   /* list actions: the events up to and including *Complete
                       * (what arrived so far when the list timed out or was cut) */
    size_t nev;
    int64_t rtt_us;   /* send to response */
} ami_response_t;

void ami_response_free(ami_response_t *r);

/* An action under construction: "Action: NAME" then headers. Not thread-safe. */
typedef struct ami_action ami_action_t;

ami_action_t *ami_action_new(const char *name);
/* Adds one header; values with CR or LF are refused (CCD_EINVAL) so a
 * caller's data can never inject headers.  Repeated keys are allowed. */
int ami_action_add(ami_action_t *a, const char *key, const char *value);
int ami_action_addf(ami_action_t *a, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ami_action_free(ami_action_t *a);

typedef void (*ami_reply_fn)(ami_response_t *r, void *ctx);

typedef struct ami_send_opts {
    mq_t *reply_mq;       /* the response goes here, or */
    ami_reply_fn cb;      /* to this, run on the I/O thread (must not block; owns r) */
    void *cb_ctx;
    uint64_t user;        /* copied into the response */
    int timeout_ms;       /* 0 = the server's action_timeout_ms */
    bool list;            /* a list action: collect events up to *Complete */
    const char *action_id; /* NULL = generated; otherwise must be unique */
} ami_send_opts_t;

/* ====================================================================== */
/* Typed operations (ami_ops.c): the actions the engine sends about a     */
/* call or a peer, and readers of their answers (Command output parsed    */
/* here, so callers never spell AMI headers or read Asterisk's CLI text). */
/* Pure: no I/O, no locks.  Builders return NULL on ENOMEM, when a value  */
/* holds CR/LF (ami_action_add refuses it) or a required one is NULL.     */
/* ====================================================================== */

ami_action_t *ami_op_hangup(const char *channel);
ami_action_t *ami_op_redirect(const char *channel, const char *context, const char *exten,
                              int priority);
/* Asterisk 12+ form: Exten without the trailing '#' Issabel sent to chan_agent. */
ami_action_t *ami_op_atxfer(const char *channel, const char *context, const char *exten);
/* MixMonitorMute of the read direction (what the agent hears is kept), State 1/0. */
ami_action_t *ami_op_mixmonitor_mute(const char *channel, bool mute);
/* Originate (Async) of channel into context,exten,1; timeout_ms > 0 bounds the ringing;
 * callerid and channel_id (becomes the ;1 leg's Uniqueid) may be NULL or "". */
ami_action_t *ami_op_originate_exten(const char *channel, const char *context, const char *exten,
                                     int timeout_ms, const char *callerid, const char *channel_id);
/* QueueAdd of a dynamic member (MemberName may be NULL or ""; Paused false). */
ami_action_t *ami_op_queue_add(const char *queue, const char *interface, int penalty,
                               const char *member_name);
ami_action_t *ami_op_queue_remove(const char *queue, const char *interface);
/* QueuePause of interface in every queue (queue NULL or "") or one; reason NULL or "" = none. */
/* The reason a dialer pauses a member with while it holds the agent for a "same agent"
 * callback (dialer/dl_reserve.c): ami_reg.c keeps such a pause apart from breaks. */
#define AMI_CB_PAUSE_REASON "ccd-callback"
ami_action_t *ami_op_queue_pause(const char *interface, const char *queue, bool paused,
                                 const char *reason);
/* Park (Asterisk 12+) of channel; timeout_channel gets the call back when the space times
 * out ("" = the lot's default). */
ami_action_t *ami_op_park(const char *channel, const char *timeout_channel);
/* AgentLogoff of app_agent_pool agent N ("9000"), hanging its channel up at once. */
ami_action_t *ami_op_agent_logoff(const char *agent);
/* Command "core show channel CHANNEL": read its answer with ami_op_chanvars. */
ami_action_t *ami_op_core_show_channel(const char *channel);

typedef enum ami_peer_tech {
    AMI_PEER_SIP = 0,
    AMI_PEER_PJSIP,
    AMI_PEER_IAX2,
} ami_peer_tech_e;
/* "SIP/101", "PJSIP/alice", "IAX2/x" -> tech and *peer (pointing into ext after the
 * slash); CCD_EINVAL for any other prefix.  The peer name is not checked. */
int ami_peer_parse(const char *ext, ami_peer_tech_e *tech, const char **peer);
/* Command "sip show peer P" / "pjsip show endpoint P" / "iax2 show peer P". */
ami_action_t *ami_op_peer_status(ami_peer_tech_e tech, const char *peer);

/* Answers.  A response that never arrived (timeout, connection gone) is reported
 * with its code; an Error answer is an answer. */

/* Whether a plain action (hangup, redirect, atxfer, mute) succeeded; *why (may be
 * NULL) gets Asterisk's Message, or the reason nothing arrived ("" on success). */
bool ami_op_ok(const ami_response_t *r, const char **why);

typedef struct ami_chanvar {
    const char *name, *value;
} ami_chanvar_t;
typedef struct ami_chanvars {
    size_t n;
    ami_chanvar_t v[]; /* strings in the same allocation */
} ami_chanvars_t;
/*
 * The channel variables of a "core show channel" answer: the NAME=value lines
 * (NAME of word characters) of its "Variables:" section, up to the first empty
 * line, in order ("CDR Variables:" lines are not included).  An Error answer
 * (no such channel) gives an empty list.  CCD_OK with *out (one allocation:
 * free()), the code of an answer that never arrived, or CCD_ENOMEM.
 */
int ami_op_chanvars(const ami_response_t *r, ami_chanvars_t **out);

/*
 * Whether a peer status answer says the peer is registered: SIP/IAX2 a
 * "Status : OK..." line; PJSIP a "Contact:" line whose status token is exactly
 * "Avail".  An Error answer (driver not loaded) or an unknown peer gives false.
 * CCD_OK with *registered, or the code of an answer that never arrived.
 */
int ami_op_peer_registered(ami_peer_tech_e tech, const ami_response_t *r, bool *registered);
/* The rule above for one output line (line[0..len)), for tests and tools. */
bool ami_peer_line_registered(ami_peer_tech_e tech, const char *line, size_t len);

/* ====================================================================== */
/* Client                                                                  */
/* ====================================================================== */

typedef struct ami ami_t;

typedef enum ami_state {
    AMI_STATE_DOWN = 0,   /* not connected (waiting to reconnect) */
    AMI_STATE_CONNECTING, /* TCP, banner, login */
    AMI_STATE_SYNCING,    /* logged in; resync actions running */
    AMI_STATE_UP,         /* logged in and resynced */
} ami_state_e;

const char *ami_state_name(ami_state_e s);

/* Connection news for subscribers of AMI_SUB_STATUS.  Pushed like events
 * (a full queue loses it); ami_server_state() always has the current state. */
typedef struct ami_status {
    mq_msg_t msg;
    int server;
    ami_state_e state;
    bool restarted;     /* with AMI_STATE_UP: the startup time changed */
    char detail[160];   /* why it went down, banner version, ... */
} ami_status_t;

#define AMI_SUB_STATUS 0x1

typedef struct ami_opts {
    /* Variables whose VarSet events are kept (NULL-terminated, copied); NULL = none. */
    const char *const *varset_names;
    size_t inbox_max;      /* actions waiting for the I/O thread; 0 = 10000 */
    size_t outbuf_max;     /* bytes waiting for the socket; 0 = 4 MiB */
    size_t list_max;       /* events kept per list action; 0 = 200000 */
    size_t line_max;       /* 0 = AMI_LINE_MAX */
    bool no_filter;        /* do not ask Asterisk to filter events */
    bool no_resync;        /* skip the resync actions (tests of the raw protocol) */
} ami_opts_t;

/* Creates a client for every server in conf->ami (conf must outlive it; its values
 * are trusted as conf/ validated them).  Nothing connects before ami_start().
 * NULL with the reason in err (may be NULL when errlen is 0) on failure. */
ami_t *ami_new(const conf_t *conf, const ami_opts_t *opts, char *err, size_t errlen);

/* Before ami_start: events of the types in ev_mask (AMI_EVM bits) and, with
 * AMI_SUB_STATUS in flags, connection news are pushed to q.  Returns 0,
 * CCD_EFULL (too many subscribers) or CCD_EBUSY (already started). */
int ami_subscribe(ami_t *c, mq_t *q, uint64_t ev_mask, int flags);

/* Before ami_start: feed the registry (ami_reg.c apply functions). */
int ami_attach_reg(ami_t *c, reg_t *r);

/* Starts one I/O thread per server.  0 or a negative code. */
int ami_start(ami_t *c);

/* Stops and joins every thread; pending actions end with CCD_ECLOSED.  A no-op
 * when not running. */
void ami_stop(ami_t *c);
/* Stops if needed and frees everything. NULL is a no-op. */
void ami_free(ami_t *c);

int ami_nservers(const ami_t *c);
ami_state_e ami_server_state(ami_t *c, int server);

/*
 * Sends an action to a server, from any thread.  Always takes ownership of
 * a.  The ActionID (generated unless opts->action_id) is written to
 * id_out (may be NULL, size AMI_ACTIONID_LEN).  Returns 0 (exactly one
 * ami_response_t will follow), CCD_ECLOSED (server away or client
 * stopped), CCD_EFULL (inbox full), CCD_EINVAL (no reply path, bad server).
 * On a negative return no response follows.
 */
int ami_send(ami_t *c, int server, ami_action_t *a, const ami_send_opts_t *opts, char *id_out);

typedef struct ami_stats {
    uint64_t bytes_in, msgs_in, events_in;
    uint64_t events_typed;       /* events turned into ami_event_t */
    uint64_t events_delivered;   /* pushes that succeeded (subscribers + registry) */
    uint64_t events_lost;        /* pushes refused by a full queue */
    uint64_t responses, unknown_responses, timeouts;
    uint64_t connects, disconnects, restarts;
    uint64_t shutdown_refusals;  /* logins refused with "Asterisk is shutting down" (retried soon) */
    uint64_t io_cpu_us;          /* CPU time used by the server's I/O thread */
    uint64_t pending;            /* actions awaiting a response or the login */
    int64_t heartbeat_ms;        /* clk_mono_ms() of the I/O thread's last loop; 0 = not started */
} ami_stats_t;

void ami_get_stats(ami_t *c, int server, ami_stats_t *out);

/* ====================================================================== */
/* Registry feeding (ami_reg.c): apply functions run on the registry      */
/* thread through reg_post().                                             */
/* ====================================================================== */

/* The registry agent number for a queue member: StateInterface "Agent:9000"
 * -> "Agent/9000", otherwise the interface itself ("PJSIP/1064"). */
void ami_reg_member_agent(const char *interface, const char *state_interface, char *out,
                          size_t outsz);

/* Whether the registry uses events of this type (others are not posted). */
bool ami_reg_wants(ami_ev_type_e t);
/* The one variable whose VarSet the registry uses: MixMonitor sets it to the file it
 * records to.  ami_attach_reg adds it to the kept VarSet names. */
#define AMI_REG_RECORDING_VAR "MIXMONITOR_FILENAME"
/* The spool directory cut off a recording's file name (as Issabel stores it). */
#define AMI_REG_MONITOR_DIR "/var/spool/asterisk/monitor/"

/* Apply function: arg is an ami_event_t (freed by ami_reg_event_free). */
void ami_reg_apply_event(reg_txn_t *tx, void *arg);
void ami_reg_event_free(void *arg);
/* Posts ev to r (ownership passes on 0; on CCD_EFULL/CCD_ECLOSED the caller keeps it). */
int ami_reg_post_event(reg_t *r, ami_event_t *ev);

/* What a server reported after (re)connecting, for reconciliation. */
typedef struct ami_resync_agent {
    char number[REG_ID_LEN];  /* "Agent/9000" */
    char status[32];          /* AGENT_LOGGEDOFF | AGENT_IDLE | AGENT_ONCALL */
    char channel[REG_CHAN_LEN];
} ami_resync_agent_t;

typedef struct ami_resync_member {
    char agent[REG_ID_LEN];   /* from ami_reg_member_agent() */
    char queue[REG_ID_LEN];
    int status;               /* device status 0..8 */
    int paused;
    char paused_reason[REG_NAME_LEN]; /* PausedReason ("" when none given) */
    int64_t last_pause_s;     /* LastPause, epoch seconds: when the pause began; 0 = never */
    int64_t last_call_s;      /* LastCall (ami_parse_lastcall; -1 absent or refused) */
    int wrapup_s;             /* Wrapuptime (ami_parse_wrapuptime; -1 absent or refused) */
} ami_resync_member_t;

/* A caller waiting in a queue (QueueStatus's QueueEntry). */
typedef struct ami_resync_entry {
    char queue[REG_ID_LEN];
    char uniqueid[REG_UID_LEN];
    char channel[REG_CHAN_LEN];
    char caller_num[REG_PHONE_LEN];
    int64_t wait_s;           /* seconds it has waited so far */
} ami_resync_entry_t;

typedef struct ami_resync {
    int server;
    bool restarted;           /* new CoreStartupDate/Time: every old call is gone */
    int64_t since_ms;         /* wall time the lists were asked for: newer calls are left alone */
    bool have_channels, have_agents, have_members; /* which lists arrived */
    char (*uniqueids)[REG_UID_LEN]; /* live channels' uniqueids */
    size_t nuniqueids;
    ami_resync_agent_t *agents;
    size_t nagents;
    ami_resync_member_t *members;
    size_t nmembers;
    ami_resync_entry_t *entries; /* callers waiting in queues (with have_members) */
    size_t nentries;
} ami_resync_t;

void ami_resync_free(ami_resync_t *rs);
/* Builds a resync record from the list responses (any may be NULL). NULL on ENOMEM. */
ami_resync_t *ami_resync_build(int server, bool restarted, int64_t since_ms,
                               const ami_response_t *channels,
                               const ami_response_t *agents, const ami_response_t *queues);
/* Apply function: arg is an ami_resync_t (freed by ami_reg_resync_free). */
void ami_reg_apply_resync(reg_txn_t *tx, void *arg);
void ami_reg_resync_free(void *arg);

#endif
