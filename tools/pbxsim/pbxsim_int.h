/*
 * pbxsim internals shared by its .c files.  Everything here belongs to the
 * server thread unless a comment says otherwise.
 */
#ifndef CCD_TOOLS_PBXSIM_INT_H
#define CCD_TOOLS_PBXSIM_INT_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hmap.h"
#include "tools/pbxsim/pbxsim.h"

/* ---------- wire parser (wire.c, no I/O) ---------- */

#define PBX_LINE_MAX 1024   /* longest accepted action line, as Asterisk */
#define PBX_HDR_MAX 64      /* headers per action */
#define PBX_IN_MAX 65536    /* bytes buffered from one client */
#define PBX_OUT_MAX (8u << 20) /* pending output before a client is dropped */

typedef struct pbx_hdr {
    ccd_str_t key;
    ccd_str_t val;
} pbx_hdr_t;

typedef struct pbx_msg {
    pbx_hdr_t h[PBX_HDR_MAX];
    int n;
} pbx_msg_t;

/*
 * Parses one action from data[0..len).  Returns 1 and sets *used when a full
 * message (ended by an empty line) is in msg (slices into data), 0 when more
 * bytes are needed, CCD_ETOOBIG for an over-long line or too many headers.
 * Lines end with CRLF or bare LF; lines without ':' are ignored.
 */
int pbx_wire_parse(const char *data, size_t len, pbx_msg_t *msg, size_t *used);

/* Value of header key (case-insensitive) or an empty slice with p == NULL. */
ccd_str_t pbx_msg_get(const pbx_msg_t *m, const char *key);

/* Copies the value of key into dst (NUL-terminated, cut to fit); "" if absent. */
void pbx_msg_copy(const pbx_msg_t *m, const char *key, char *dst, size_t dstsz);

/* ---------- simulated objects ---------- */

typedef struct pbxsim pbx_t;
typedef struct pcall pcall_t;

typedef struct pvar {
    char name[32];
    char value[96];
} pvar_t;

#define PCHAN_VARS 12

typedef struct pbridge {
    struct pbridge *next, *prev; /* sim->bridges */
    char id[40];
    const char *type;    /* basic, agent_hold, parking */
    const char *tech;    /* simple_bridge, holding_bridge */
    const char *creator; /* <unknown>, AgentPool, ... */
    const char *bname;
    int nchan;
    int refs; /* channels in it + 1 while its owner keeps it */
} pbridge_t;

typedef struct pchan {
    struct pchan *next, *prev; /* list of live channels (sim->chans) */
    char name[96];
    char base[64]; /* "Local/5001@customers" */
    char uniqueid[64];
    char linkedid[64];
    int state; /* 0 Down, 4 Ring, 5 Ringing, 6 Up, 7 Busy */
    char cid_num[40], cid_name[40], con_num[40], con_name[40];
    char context[40], exten[40];
    int prio;
    char app[32], appdata[96];
    int64_t created_vms;
    struct pchan *peer; /* other half of the Local pair */
    pcall_t *call;      /* flow that owns the channel */
    pbridge_t *bridge;
    int leg; /* 1 or 2 */
    pvar_t vars[PCHAN_VARS];
    int nvars;
    /* a MixMonitor audiohook is attached: MixMonitorMute works.  Stop does not
     * clear it: the hook leaves with the next audio frame, and Local channels
     * carry none (mixmonitor_mute_errors.txt) */
    bool mixmon;
} pchan_t;

typedef struct pagent {
    char id[16];    /* "9000" */
    char name[40];  /* "Agent 9000" */
    bool logged_in;
    bool ready;     /* past the login probation */
    pchan_t *p1;    /* Local/10XX@phones;1 running AgentLogin */
    pchan_t *p2;
    pcall_t *login_call;
    pcall_t *busy_call; /* queue call it is on, or NULL */
    int64_t login_wall; /* epoch seconds */
    uint64_t login_gen; /* bumps at every login, for the probation timer */
} pagent_t;

typedef struct pmember {
    char interface[64];
    char name[64];
    char state_if[64];
    bool dynamic;
    bool paused;
    char reason[64];
    int penalty;
    int calls_taken;
    int64_t last_call, last_pause, login_time;
    pagent_t *agent; /* state from an app_agent_pool agent, or NULL */
    pcall_t *busy;   /* call ringing or talking to it */
    int64_t next_try_vms; /* after a ring-no-answer: retry time */
    int64_t wrap_kick_vms; /* when a queue kick for the end of its wrap-up is due; 0 = none */
} pmember_t;

#define PQ_CALLERS 512

typedef struct pqueue {
    char name[16];
    pmember_t **members; /* malloc'ed, capmembers slots: a queue holds every agent */
    int nmembers, capmembers;
    pcall_t *callers[PQ_CALLERS];
    int ncallers;
    int completed, abandoned;
    int64_t talk_total, hold_total;
    unsigned rr; /* rrmemory position */
} pqueue_t;

/* What happens to the called side of an Originate. */
enum pout {
    OUT_ANSWER,    /* rings ring_ms, answers, talks talk_ms (0 = forever) */
    OUT_NOANSWER,  /* rings until Timeout */
    OUT_BUSY,
    OUT_CONGESTION,
    OUT_UNALLOC,
    OUT_PHONE_NEVER, /* 19XX */
};

/* Where the originated ;1 leg goes once answered. */
enum pdest {
    DEST_WAIT,       /* context without special meaning or an Application */
    DEST_QUEUE,      /* dialer-queue,8XXX */
    DEST_AGENTLOGIN, /* agent-login,<agent> */
    DEST_AGI,        /* dialer-agi */
    DEST_ASYNCAGI,   /* dialer-asyncagi: AGI(agi:async) driven by the AGI action */
    DEST_CALLBACK,   /* llamada_agendada,<agent>: Dial(${AGENTCHANNEL}) (callback.c) */
};

/* A flow: one Originate (and whatever its ;1 leg does next). */
struct pcall {
    pcall_t *next, *prev; /* sim->calls */
    uint64_t id;
    int refs;  /* pending timers + 1 while live */
    bool dead;
    char action_id[80];
    char dialstr[96]; /* Local/5001@customers */
    char callee[32];  /* 5001 */
    char callee_ctx[32];
    char dest_ctx[40], dest_exten[40], dest_app[32], dest_data[96];
    bool use_app;
    char cid_num[40], cid_name[40];
    char chan_id[64], other_id[64];
    pvar_t vars[PCHAN_VARS]; /* Originate Variable: headers */
    int nvars;
    int outcome, dest;
    uint32_t ring_ms, talk_ms, timeout_ms;
    pchan_t *a, *b; /* ;1 and ;2 of the originated Local channel */
    bool answered, orig_sent, talking_over;
    /* queue part */
    pqueue_t *queue;
    int64_t join_vms, connect_vms, ring_vms;
    int orig_pos;
    pmember_t *member;
    pchan_t *m1, *m2; /* member Local pair */
    pbridge_t *br_agent; /* AgentRequest's basic bridge (m2 + agent phone) */
    pbridge_t *br_call;  /* customer + member */
    bool ringing, connected;
    uint64_t ring_gen;
    /* parking: the member is free while the customer waits; AgentComplete comes at the end */
    bool parked, was_parked;
    int park_space;
    int64_t park_vms;
    uint32_t park_timeout_ms;
    uint64_t park_gen;
    char parker[64];
    pcall_t *retrieving; /* the Originate whose ;1 runs ParkedCall() / Bridge() for this call */
    /* after Redirect / BlindTransfer: the member side is gone, the customer goes on */
    bool detached, held, held_moh, masq, complete_sent;
    pchan_t *t1, *t2; /* transfer target Local pair (Local/<n>@phones, or @transfer-target for Atxfer) */
    pchan_t *t3, *t4; /* Atxfer: the phone the transfer-target pair dials */
    pbridge_t *br_x, *br_t; /* Atxfer: transferer + target bridge, target pair + phone bridge */
    bool xfer_ok;     /* Queue option t (dialer-queue-xfer) */
    bool atx_ready;   /* Atxfer target answered, waiting for the transferer to hang up */
    char atx_digits[48];
    char atx_exten[40];
    /* agent login flow */
    pagent_t *agent;
    /* callback context (callback.c): the agent its Dial reached (rings or talks, its
     * busy_call is this call), and whether that Dial is still ringing (m1/m2 up) */
    pagent_t *cb_agent;
    bool cb_ringing;
    /* FastAGI */
    int agi_fd;
    buf_t agi_in, agi_out;
    bool agi_env_sent, agi_hangup_sent, agi_waiting;
    int agi_cmd_seq;
    int agi_getdata_n; /* GET DATA answered so far (AGIDIGITS: one answer per '|') */
    uint64_t agi_wait_gen;
    char agi_cmd[256];
    /* Async AGI: commands queued by Action: AGI */
    bool agi_async;
    char agi_cmdid[64];
    char aq_cmd[8][256], aq_id[8][64];
    int aq_head, aq_len;
};

/* ---------- timers (timer.c) ---------- */

typedef void (*ptimer_fn)(pbx_t *sim, pcall_t *call, uint64_t arg);

typedef struct ptimer {
    int64_t at_vms;
    uint64_t seq;
    ptimer_fn fn;
    pcall_t *call; /* holds a reference */
    uint64_t arg;
} ptimer_t;

/* ---------- connections ---------- */

typedef struct pconn {
    int fd;
    buf_t in, out;
    bool logged_in;
    bool events_on;
    unsigned class_mask;   /* Events: EventMask classes (PBX_CLS_*); all by default */
    regex_t filters[16];   /* Action: Filter, as Asterisk: [!]regex over the event text */
    bool filter_neg[16];
    int nfilters, npos;    /* npos: filters without '!' (a whitelist when > 0) */
    bool closing;          /* close once out is flushed */
    int64_t auth_fail_at;  /* real ms; 0 = none pending */
    char pending_id[80];   /* ActionID of the pending failed login */
    char challenge[16];
    char peer[64];
} pconn_t;

#define PBX_MAX_CONNS 1024

typedef enum pctl {
    CTL_NONE = 0,
    CTL_DROP,
    CTL_RESTART,
    CTL_SWALLOW,
    CTL_FLOOD,
    CTL_STOP,
} pctl_e;

struct pbxsim {
    pbxsim_opts_t o;
    char username[64], secret[64], sysname[64], agi_host[64];
    pthread_t thread;
    int lfd;
    int wake_fd; /* eventfd */
    uint16_t port;

    /* Control inbox: guarded by ctl_mu; the caller waits on ctl_cv for ctl_done. */
    pthread_mutex_t ctl_mu;
    pthread_cond_t ctl_cv;
    pctl_e ctl;
    char ctl_name[64];
    uint64_t ctl_n;
    uint64_t ctl_req, ctl_done;

    /* State snapshot: guarded by st_mu, signalled on st_cv. */
    pthread_mutex_t st_mu;
    pthread_cond_t st_cv;
    pbxsim_state_t st;

    /* Everything below: server thread only. */
    pconn_t *conns[PBX_MAX_CONNS];
    int nconns;
    char swallow[64];
    uint64_t flood_left;
    uint64_t flood_seq;
    struct flood_tpl *flood_tpl; /* pre-formatted flood events (flow.c) */

    int64_t mono0_ms;  /* real monotonic ms at start */
    int64_t wall0_ms;  /* wall ms at start (for Timestamp) */
    double scale;
    int64_t startup_wall; /* CoreStartupTime (s) */
    int64_t reload_wall;
    uint64_t processed_calls;

    uint64_t rng;
    uint64_t vary_rng;  /* a second stream for what a real Asterisk varies from run to run
                           (AgentComplete blocks, the restart's Reason), so the call outcomes
                           drawn from rng stay the same for a seed */
    /* restart in progress: the shutdown window (virtual ms; 0 = none) */
    int64_t shut_event_vms, shut_close_vms;
    bool shut_event_sent;
    bool shut_ctl;      /* a pbxsim_restart caller waits for the close */
    uint64_t uid_seq;   /* uniqueid counter (.N) */
    uint32_t local_seq; /* Local channel -0000001f counter */
    uint64_t call_seq, timer_seq;

    ptimer_t *timers;
    size_t ntimers, captimers;

    pchan_t *chans; /* list head */
    uint32_t nchans;
    hmap_t *by_name, *by_uid;
    pcall_t *calls;
    uint32_t nagi; /* calls with an open FastAGI socket: the loop walks the calls for
                      their sockets only when there are some (at 1,000 live calls the two
                      walks per loop turn were 30 % of the simulator's CPU) */

    pagent_t *agents; /* opts.agents, numbered from agent_base (pbx_agent_find indexes by number);
                         allocated once, so members keep pointers into it */
    int nagents;
    pqueue_t queues[2];
    int nqueues;
    pbridge_t *hold_bridge; /* agent_hold, created at first login */
    pbridge_t *park_bridge; /* parking lot "default", created at first park */
    pbridge_t *bridges;     /* every live bridge, for BridgeList */
    pcall_t *parked[20];    /* spaces 701..720 */

    hmap_t *globals; /* Setvar without Channel: name -> malloc'ed value */

    buf_t ev; /* scratch for one event */
    pconn_t *cur; /* connection whose action is being handled */
    uint64_t events_sent, actions, originates, restarts;
};

/* ---------- emit.c ---------- */

/* Event classes (the Privilege header), for Events: EventMask. */
#define PBX_CLS_ALL 0xffffu
unsigned pbx_class_bits(const char *list); /* "call,agent" -> bits; "on" -> all; "off" -> 0 */
/* Whether the event now in s->ev goes to c (logged in, mask, filters). */
bool pbx_conn_wants(pbx_t *s, pconn_t *c, const char *priv);
void pbx_conn_filters_free(pconn_t *c);

int64_t pbx_vnow(pbx_t *s);                      /* virtual ms */
void pbx_ev_begin(pbx_t *s, const char *event, const char *priv);
void pbx_ev_chan(pbx_t *s, const char *prefix, const pchan_t *c);
void pbx_ev_bridge(pbx_t *s, const char *prefix, const pbridge_t *b);
void pbx_ev_kv(pbx_t *s, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pbx_ev_end(pbx_t *s);                      /* broadcast to logged-in conns */
void pbx_conn_write(pbx_t *s, pconn_t *c, const char *p, size_t n);
void pbx_ev_end_to(pbx_t *s, pconn_t *c);       /* finish and send to one conn only */

/* Event helpers used by the flows. */
void pbx_e_chan(pbx_t *s, const char *event, const char *priv, pchan_t *c);
void pbx_e_newchannel(pbx_t *s, pchan_t *c);
void pbx_e_newstate(pbx_t *s, pchan_t *c, int state);
void pbx_e_localbridge(pbx_t *s, pchan_t *one, pchan_t *two);
void pbx_e_dial(pbx_t *s, const char *event, pchan_t *caller, pchan_t *dest, const char *k, const char *v);
void pbx_e_hangup(pbx_t *s, pchan_t *c, int cause);
void pbx_e_hangup_req(pbx_t *s, const char *event, pchan_t *c, int cause);
void pbx_e_moh(pbx_t *s, pchan_t *c, bool start);
void pbx_e_bridge_enter(pbx_t *s, pbridge_t *b, pchan_t *c);
void pbx_e_bridge_leave(pbx_t *s, pbridge_t *b, pchan_t *c);
void pbx_e_bridge_simple(pbx_t *s, const char *event, pbridge_t *b);
void pbx_ev_member_state(pbx_t *s, const pmember_t *m);
void pbx_e_member(pbx_t *s, const char *event, pqueue_t *q, pmember_t *m);
void pbx_e_varset(pbx_t *s, pchan_t *c, const char *name, const char *value);
void pbx_e_newexten(pbx_t *s, pchan_t *c, const char *app, const char *data);
void pbx_e_cdr(pbx_t *s, pchan_t *c, const char *disp);
const char *pbx_state_desc(int state);
const char *pbx_cause_txt(int cause);

/* ---------- chan.c ---------- */

/* Creates the two halves of Local/<exten>@<ctx>; ids may be "" (generated). */
int pbx_local_pair(pbx_t *s, const char *exten, const char *ctx, const char *id1, const char *id2,
                   const char *linkedid, pcall_t *call, pchan_t **one, pchan_t **two);
void pbx_chan_free(pbx_t *s, pchan_t *c); /* unlinks from maps, list, bridge, peer */
pchan_t *pbx_chan_find(pbx_t *s, const char *name_or_uid);
void pbx_chan_setvar(pchan_t *c, const char *name, const char *value);
const char *pbx_chan_getvar(const pchan_t *c, const char *name);
pbridge_t *pbx_bridge_new(pbx_t *s, const char *type, const char *tech, const char *creator);
void pbx_bridge_put(pbx_t *s, pbridge_t *b, pchan_t *c);  /* BridgeEnter */
void pbx_bridge_take(pbx_t *s, pchan_t *c);               /* BridgeLeave if in one */
void pbx_bridge_unref(pbx_t *s, pbridge_t *b);            /* BridgeDestroy at 0 */
void pbx_uuid(pbx_t *s, char *out, size_t n);
uint64_t pbx_rand(pbx_t *s);
/* true with probability num/den, from the variation stream */
bool pbx_vary(pbx_t *s, unsigned num, unsigned den);

/* ---------- timer.c ---------- */

int pbx_timer_add(pbx_t *s, int64_t delay_vms, ptimer_fn fn, pcall_t *call, uint64_t arg);
int64_t pbx_timer_next(pbx_t *s); /* virtual ms of earliest, or -1 */
void pbx_timer_run(pbx_t *s);      /* runs every due timer */
void pbx_timer_clear(pbx_t *s);    /* drops all timers (restart, stop) */

/* ---------- flow.c ---------- */

pcall_t *pbx_call_new(pbx_t *s);
void pbx_call_ref(pcall_t *c);
void pbx_call_unref(pbx_t *s, pcall_t *c);
void pbx_call_finish(pbx_t *s, pcall_t *c); /* drop the live reference */
void pbx_originate_start(pbx_t *s, pcall_t *c);
void pbx_queue_kick(pbx_t *s, pqueue_t *q);
void pbx_agent_logoff(pbx_t *s, pagent_t *a, bool by_action);
int pbx_hangup_channel(pbx_t *s, pchan_t *c, int cause);
int pbx_redirect(pbx_t *s, pchan_t *c, const char *ctx, const char *exten, pchan_t *extra, const char *xctx,
                 const char *xexten);
int pbx_bridge_action(pbx_t *s, pchan_t *one, pchan_t *two);
int pbx_blind_transfer(pbx_t *s, pchan_t *ch, const char *ctx, const char *exten);
int pbx_atxfer(pbx_t *s, pchan_t *ch, const char *exten);
int pbx_park(pbx_t *s, pchan_t *c, pchan_t *timeout_chan, uint32_t timeout_ms, int *space);
void pbx_e_park(pbx_t *s, const char *event, pcall_t *c, pchan_t *retriever, bool list);
void pbx_restart_teardown(pbx_t *s);
void pbx_restart_reset(pbx_t *s); /* the new process: persistentmembers = no */
int pbx_member_status(const pmember_t *m);
pqueue_t *pbx_queue_find(pbx_t *s, const char *name);
pagent_t *pbx_agent_find(pbx_t *s, const char *id);
int pbx_queue_add_member(pqueue_t *q, pmember_t *m); /* 0, or -1 out of memory */
void pbx_flood_step(pbx_t *s, int budget);
void pbx_flood_free(pbx_t *s);

/* ---------- agi.c ---------- */

void pbx_agi_start(pbx_t *s, pcall_t *c);
void pbx_agi_io(pbx_t *s, pcall_t *c, short revents);
void pbx_agi_hangup(pbx_t *s, pcall_t *c);
void pbx_agi_close(pbx_t *s, pcall_t *c);
void pbx_agi_finished(pbx_t *s, pcall_t *c); /* flow.c: dialplan after AGI() */
void pbx_asyncagi_start(pbx_t *s, pcall_t *c);
/* Queues a command from Action: AGI; 0, or -1 when the channel is not in AGI(agi:async) or the queue is full. */
int pbx_asyncagi_queue(pbx_t *s, pchan_t *ch, const char *cmd, const char *id);
void pbx_asyncagi_kick(pbx_t *s, pchan_t *ch); /* runs what is queued */

/* ---------- actions.c ---------- */

void pbx_action(pbx_t *s, pconn_t *conn, const pbx_msg_t *m);

/* ---------- server.c ---------- */

void pbx_conn_close(pbx_t *s, pconn_t *c);
bool pbx_shutting_down(pbx_t *s); /* inside a restart's shutdown window */
void pbx_drop_all(pbx_t *s);

#endif
