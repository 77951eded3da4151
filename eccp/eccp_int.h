/*
 * eccp internals shared by the files of the module (not for other modules).
 *
 * eccp_frame.c  stream -> packets (pure)
 * eccp_xml.c    packet -> request (libxml2, hardened) and the output writer (pure)
 * eccp_auth.c   cookies, agent hashes (libcrypto)
 * eccp_server.c acceptor + session workers (epoll), session I/O, limits
 * eccp_req.c    the request table, validation and registry-backed answers
 * eccp_dbreq.c  the requests answered from call_center: jobs run on DB reader threads,
 *               calling db/'s typed reads and rendering their results (no SQL)
 * eccp_ami.c    the requests that act through AMI (with ami/'s typed operations)
 * eccp_status.c the agent status block (nested and flattened)
 * eccp_guard.c  pre-login limits and login throttling
 * eccp_event.c  events from registry changes
 * ccdialer_eccp.c  the command-line client (its own program)
 */
#ifndef CCD_ECCP_INT_H
#define CCD_ECCP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "core/buf.h"
#include "eccp/eccp.h"

/* ---------------- framing (eccp_frame.c) ---------------- */

/* Deepest nesting the framer can track (a larger max_depth is cut to it). */
#define ECCP_FRAME_DEPTH_MAX 64

typedef struct eccp_frame {
    size_t max_bytes;
    int max_depth;
    int state;
    size_t pos;   /* bytes of the current data already scanned */
    size_t start; /* where the current packet began in data */
    int depth;
    int match;    /* progress through a multi-byte delimiter */
    unsigned char quote, prev;
    bool root_seen;
    /* End tags must match their start tags.  Each open element is remembered by a
     * 32-bit hash of its name (FNV-1a): fixed memory per session whatever the names,
     * and a mismatch is found at the end tag.  A crafted collision only gets the
     * packet to libxml2, which checks the names themselves and refuses it (400). */
    bool in_name;  /* reading the name of a start or end tag */
    uint32_t name; /* hash of the name read so far */
    uint32_t open[ECCP_FRAME_DEPTH_MAX];
} eccp_frame_t;

void eccp__frame_init(eccp_frame_t *f, size_t max_bytes, int max_depth);
void eccp__frame_reset(eccp_frame_t *f);

/*
 * Scans data[0..len): every byte not yet consumed, the same prefix as on the
 * previous call plus what arrived since (the caller drops *consumed bytes
 * after each call).  Returns 1 with *pkt = one whole document (pointing into
 * data), CCD_EAGAIN when more bytes are needed, CCD_EPROTO for bytes that
 * cannot be XML (an end tag that does not close the open element included) or
 * a DTD construct, CCD_ETOOBIG past max_bytes / max_depth.
 */
int eccp__frame_scan(eccp_frame_t *f, const char *data, size_t len, ccd_str_t *pkt,
                    size_t *consumed);

/* ---------------- requests (eccp_xml.c) ---------------- */

#define ECCP_NAME_MAX 64
#define ECCP_ID_MAX 256

typedef struct eccp_req {
    xmlDoc *doc;
    xmlNode *cmd;            /* the single child of <request>, NULL if not exactly one */
    bool has_id;
    char id[ECCP_ID_MAX];    /* id attribute (cut at ECCP_ID_MAX-1 bytes) */
    char name[ECCP_NAME_MAX];
    int nchildren;           /* element children of <request> */
} eccp_req_t;

void eccp__xml_init(void);

/*
 * Parses one packet.  0: a <request> (check has_id / cmd for the 400 that keeps
 * the connection); CCD_EPROTO: malformed, DTD, or another root (400 and close).
 * On 0 the caller frees with eccp__req_free().
 */
int eccp__req_parse(const char *p, size_t len, eccp_req_t *out);
void eccp__req_free(eccp_req_t *r);

/* First element child of parent called name, or NULL. */
xmlNode *eccp__child(xmlNode *parent, const char *name);
/*
 * Text of the first child element `name` of parent copied into out.  Returns
 * 1 when present, 0 when absent, CCD_ETOOBIG when longer than outsz-1.
 */
int eccp__arg(xmlNode *parent, const char *name, char *out, size_t outsz);
/* Text content of node itself (same returns, 1 = ok). */
int eccp__node_text(xmlNode *n, char *out, size_t outsz);
/* PHP (int) cast semantics: leading blanks, sign, digits; anything else stops; junk = 0. */
long long eccp__intval(const char *s);
/* "Agent/9000": ^(\w+)/(\w+)$ */
bool eccp__agent_valid(const char *s);
bool eccp__is_date(const char *s);   /* ^\d{4}-\d{2}-\d{2}$ */
bool eccp__is_time(const char *s);   /* ^\d{2}:\d{2}:\d{2}$ */
bool eccp__is_digits(const char *s); /* ^\d+$ */

/* ---------------- output writer (eccp_xml.c) ---------------- */

/* Writes into a buf_t; the first failed append sets err and later calls do nothing. */
typedef struct xw {
    buf_t *b;
    bool open_tag; /* "<name" written, '>' not yet */
    int err;
} xw_t;

void eccp__xw_init(xw_t *w, buf_t *b);
void eccp__xw_decl(xw_t *w);                         /* <?xml version="1.0"?>\n */
void eccp__xw_open(xw_t *w, const char *name);       /* <name  */
void eccp__xw_attr(xw_t *w, const char *k, const char *v);
void eccp__xw_attr_int(xw_t *w, const char *k, long long v);
void eccp__xw_close(xw_t *w, const char *name);      /* /> or </name> */
void eccp__xw_text(xw_t *w, const char *s, size_t n);
void eccp__xw_leaf(xw_t *w, const char *name, const char *text); /* NULL or "" -> <name/> */
void eccp__xw_leaf_int(xw_t *w, const char *name, long long v);
void eccp__xw_leaf_n(xw_t *w, const char *name, const char *text, size_t n);
void eccp__xw_raw(xw_t *w, const char *s, size_t n);      /* bytes as they are (tag internals) */
void eccp__xw_fragment(xw_t *w, const char *s, size_t n); /* a ready-made element as a child */
void eccp__xw_end_msg(xw_t *w);                      /* the trailing \n */
/* <failure><code>N</code><message>M</message></failure> */
void eccp__xw_failure(xw_t *w, int code, const char *msg);

/* Whole messages. id may be NULL (no id attribute). */
int eccp__msg_failure(buf_t *b, const char *id, int code, const char *msg);
/* <response id><NAME_response><failure/></NAME_response></response>, with an optional
 * leading <status>status</status> (loginagent/logoutagent/getagentstatus shapes). */
int eccp__msg_req_failure(buf_t *b, const char *id, const char *name, const char *status,
                         int code, const char *msg);
/* Opens <?xml?>\n<response id="..."><NAME_response  (caller writes children, then
 * eccp__msg_resp_end). */
void eccp__msg_resp_begin(xw_t *w, const char *id, const char *name);
void eccp__msg_resp_end(xw_t *w, const char *name);

/* ---------------- sessions and workers (eccp_server.c) ---------------- */

#include <pthread.h>
#include <stdatomic.h>

#include "core/hmap.h"

typedef struct eccp_worker eccp_worker_t;

/* After the database's read queue refused one of its jobs (a bound of the fair queue), a
 * session is not read for this long: the client gets one 503 per back-off, not one per
 * pipelined request, so a flooding client cannot turn refusals into a CPU flood. */
#define ECCP_DB_BUSY_RETRY_MS 50

/*
 * Output written once for several sessions of one worker: an event whose bytes
 * some sessions could not hand to the kernel at once.  Each such session queues
 * a reference instead of a copy.  Worker-owned (only its sessions point at it),
 * so the count needs no atomics; freed when the last session has sent or dropped it.
 */
typedef struct eccp_chunk {
    int refs;
    size_t len;
    char data[];
} eccp_chunk_t;

/* A piece of a session's pending output, in order: bytes of a shared chunk from
 * off, or (c == NULL) the next len bytes of the session's private out buffer. */
typedef struct eccp_oseg {
    eccp_chunk_t *c;
    size_t off, len;
} eccp_oseg_t;

/* One client connection.  Owned by exactly one worker thread; never locked. */
typedef struct eccp_sess {
    struct eccp_sess *prev, *next; /* the worker's session list */
    int fd;                        /* -1 once closed */
    eccp_frame_t fr;
    buf_t in;                      /* unconsumed input (empty most of the time, memory freed) */
    /* Output the kernel did not take yet, in order: segs[seg_head .. seg_head+nseg).
     * queued = its bytes (private + shared), bounded by max_output_bytes: past the bound
     * the session is disconnected.  Private bytes (answers) live in out.  All of it is
     * freed when the queue empties, so an idle session holds none. */
    buf_t out;
    eccp_oseg_t *segs;
    int seg_head, nseg, seg_cap;
    size_t queued;
    int64_t last_ms;               /* last request (idle timeout) */
    int pending;                   /* DB jobs in flight that point at this session */
    bool closing;                  /* close once out drains (logout, fatal 400) */
    bool want_out;                 /* EPOLLOUT wanted (output queued) */
    bool paused_in;                /* EPOLLIN off: too many DB jobs in flight */
    bool paused_out;               /* EPOLLIN off and buffered requests left undispatched:
                                      queued is above the server's out_low mark */
    bool batching;                 /* answers of the current read are queued, sent together */
    uint32_t evmask;               /* events registered with epoll now */
    bool logged_in;
    bool progress;                 /* callprogress events wanted */
    bool db_refused;               /* the last job submit was refused (CCD_EFULL): log once */
    /* EPOLLIN off and buffered requests left undispatched after a refused job, until
     * db_retry_ms: one 503 per back-off instead of one per pipelined request.  While
     * set, the session is on its worker's db-wait list (dbw_prev/dbw_next). */
    bool paused_db;
    int64_t db_retry_ms;
    struct eccp_sess *dbw_prev, *dbw_next;
    char cookie[33];
    char user[64];
    char filter[REG_ID_LEN];       /* filterbyagent, "" = none */
    char peer[80];
    uint8_t addr[16];              /* client address (v4-mapped): per-address limits, throttling */
    int64_t created_ms;            /* accepted at (login timeout) */
    bool unauth;                   /* counted as not logged in yet by the guard (until a login) */
    /* A login in flight, from the login request until its answer is out (its database job,
     * then maybe the delayed answer of a failure).  The requests after it wait unparsed in
     * `in` with EPOLLIN off (one read at most) and are dispatched in order after the answer. */
    bool login_hold;
    struct eccp_job *login_job;    /* the login's database job while it is out */
    /* Events behind one still waiting for its database data (eccp_evwait.c): references,
     * oldest first, evq[evq_head .. evq_head+evq_n) modulo evq_cap.  Empty (and freed)
     * whenever nothing of this session waits, which is the usual case. */
    struct eccp_pev **evq;
    int evq_head, evq_n, evq_cap;
    char *park;                    /* a failed login's answer waiting for park_due (throttling) */
    size_t park_len;
    int64_t park_due;
    struct eccp_sess *park_next;   /* the worker's list of sessions with a parked answer */
} eccp_sess_t;

typedef enum { ECCP_AUTH_NONE = 0, ECCP_AUTH_ECCP, ECCP_AUTH_AGENT } eccp_auth_e;

typedef struct eccp_call eccp_call_t;
typedef struct eccp_job eccp_job_t;
typedef struct eccp_reqdef {
    const char *name;
    eccp_auth_e auth;
    void (*fn)(eccp_call_t *c);
    /* Plain agent requests (fn = the generic agent handler): the DB part run after the agent
     * check (NULL = none), the finish on the worker, and the one optional argument copied
     * into u.agent (NULL = none). Unused by every other request. */
    int (*sql)(db_conn_t *db, eccp_job_t *j);
    void (*done)(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j);
    const char *arg;
} eccp_reqdef_t;

struct eccp_call {
    eccp_worker_t *w;
    eccp_sess_t *s;
    const eccp_reqdef_t *def;
    const char *id;
    xmlNode *cmd;
};

/*
 * A job's arguments and results, one member per request (kind), filled by the request's
 * starter on the worker and read/written by its DB-thread part and its finish.
 */
#define ECCP_ARG_MAX 256 /* one text argument, NUL included (longer ones answer 400) */
typedef struct eccp_limit {
    long long limit; /* < 0: none */
    long long offset;
} eccp_limit_t;

typedef struct eccp_jclist { /* getcampaignlist */
    bool has_type, has_name, has_status, has_from, has_to;
    char type[ECCP_ARG_MAX], name[ECCP_ARG_MAX], from[ECCP_ARG_MAX], to[ECCP_ARG_MAX];
    char status[2]; /* the estatus letter */
    eccp_limit_t lim;
} eccp_jclist_t;

typedef struct eccp_jstatus { /* getcampaignstatus, getincomingqueuestatus */
    bool incoming, queue_mode;
    long long id;
    char queue[ECCP_ARG_MAX];     /* queue mode: the queue asked for */
    bool has_start;
    char start[ECCP_ARG_MAX + 9]; /* "YYYY-MM-DD 00:00:00" */
    bool not_found;               /* result: 404 already in out */
    char res_queue[ECCP_ARG_MAX]; /* result: the campaign's queue */
} eccp_jstatus_t;

typedef struct eccp_jrange { /* getagentactivitysummary, campaignlog: dates, ordered */
    char from[ECCP_ARG_MAX], to[ECCP_ARG_MAX];
    /* campaignlog only */
    bool incoming, has_campaign;
    long long campaign, last_n, idbefore; /* last_n, idbefore < 0: none */
    char queue[ECCP_ARG_MAX];
} eccp_jrange_t;

typedef struct eccp_jsched { /* schedulecall, the DB part */
    char agent[REG_ID_LEN];
    bool has_window; /* dates ordered */
    char window[4][ECCP_ARG_MAX];
    long long call;    /* named by the console, 0 = none */
    long long current; /* the agent's current outgoing call, 0 = none */
    bool same_agent, has_phone, has_name;
    char phone[ECCP_ARG_MAX], name[ECCP_ARG_MAX];
} eccp_jsched_t;

typedef struct eccp_jcontact { /* setcontact */
    bool has_call, has_contact;
    char call[ECCP_ARG_MAX], contact[ECCP_ARG_MAX];
} eccp_jcontact_t;

typedef struct eccp_jsched_in { /* schedulecall, the checks on the worker */
    bool has_type, has_call, has_same, has_phone, has_name;
    char type[ECCP_ARG_MAX], call[ECCP_ARG_MAX], same[ECCP_ARG_MAX], phone[ECCP_ARG_MAX],
        name[ECCP_ARG_MAX];
    int window_state; /* 0 no <schedule>, 1 complete, 2 incomplete */
    char window[4][ECCP_ARG_MAX]; /* date_init, date_end, time_init, time_end */
} eccp_jsched_in_t;

struct agent_list;
typedef union eccp_job_args {
    struct { /* login */
        char user[ECCP_ARG_MAX], pass[ECCP_ARG_MAX];
        bool ok;            /* result */
    } login;
    eccp_jclist_t clist; /* getcampaignlist */
    eccp_limit_t qlist; /* getincomingqueuelist */
    struct { /* getqueuescript (id = the queue), getcampaignqueuewait, getcampaigninfo */
        long long id;
        bool incoming;
    } camp;
    struct { /* getcallinfo */
        bool incoming, has_campaign;
        long long campaign, call;
    } callinfo;
    eccp_jstatus_t status; /* getcampaignstatus, getincomingqueuestatus */
    eccp_jrange_t range; /* getagentactivitysummary, campaignlog: dates, ordered */
    struct { /* the plain agent requests and loginagent: their one optional argument */
        bool has;
        char arg[ECCP_ARG_MAX];
        bool break_found;              /* pauseagent, result: an active break */
        char break_name[ECCP_ARG_MAX]; /* its name */
        int timeout_s;                 /* loginagent: the inactivity timeout, 0 = none */
    } agent;
    eccp_jcontact_t contact; /* setcontact */
    struct { /* saveformdata (the values travel in extra) */
        bool incoming;
        long long call;
    } form;
    eccp_jsched_in_t sched_in; /* schedulecall, the checks on the worker */
    eccp_jsched_t sched; /* schedulecall, the DB part */
    struct { /* an event's database part (eccp_evwait.c, eccp__sql_event) */
        struct eccp_pev *pev;     /* worker-owned; the job holds a reference */
        bool incoming, want_data, want_log;
        long long call, retry, after_id; /* retry < 0: any */
        char status[16];          /* the progress row looked for ("" with unlink) */
        bool unlink;              /* the row that ends a linked call: Hangup or ShortCall */
        char phone[REG_PHONE_LEN]; /* incoming: contacts with this number */
        long long log_id;         /* result: 0 = no such row (yet) */
        char found[16];           /* result: that row's new_status */
    } ev;
    struct { /* agent lookups that reload a missing agent */
        void (*answer)(eccp_call_t *c, const struct agent_list *l);
    } reload;
} eccp_job_args_t;

struct eccp_job {
    db_read_job_t base;             /* first: the job is an mq message */
    eccp_sess_t *s;                 /* touched on the worker only */
    const eccp_reqdef_t *def;
    char id[ECCP_ID_MAX];
    /* DB thread: the request's own reads; runs after the agent check passed. */
    int (*sql)(db_conn_t *db, eccp_job_t *j);
    /* Worker: finishes the answer; NULL = send j->out as it is. */
    void (*done)(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j);
    /* Agent check (agentauth, loginagent, logoutagent) done on the DB thread. */
    bool agentauth;
    bool auth_status;               /* failures carry <status>logged-out</status> */
    bool auth_lane;                 /* an agent lookup (reload on a miss): the AUTH lane, so a
                                       flood of reads cannot hold up a registry-style answer */
    char agent[REG_ID_LEN];
    char hash[80];
    char cookie[33];
    int auth_code;                  /* 0 = passed */
    const char *auth_msg;
    int64_t agent_db_id;
    eccp_job_args_t u;              /* the request's arguments and small results */
    void *extra;                    /* larger owned data (form values, agent lists) */
    void (*extra_free)(void *);
    /* Writes prepared on the DB thread once the request's checks passed; the worker submits
     * them all (or none) to the durable writer and answers success once it accepted them. */
    db_write_t **writes;
    int nwrites;
    buf_t out;                      /* the response or a fragment of it */
    buf_t out2;
    bool failed;                    /* out is a <failure> answer (request error counters) */
};

struct eccp_worker {
    eccp_server_t *srv;
    int idx;
    pthread_t th;
    _Atomic int64_t beat_ms; /* clk_mono_ms() of the worker's last loop (watchdog), any reader */
    mq_t *mq;          /* inbox: sockets, finished jobs, registry changes, events */
    int ep;            /* epoll set: the mq wake fd + every session */
    eccp_sess_t *head; /* sessions of this worker */
    eccp_sess_t *dead; /* closed sessions freed at the end of the loop round */
    int nsess;
    /* Sessions handed to this worker and not closed yet: raised by the acceptor when it
     * hands one over, lowered by the worker when one closes.  The acceptor gives each new
     * socket to the least loaded worker, so a fan-out is split evenly even after churn. */
    atomic_int load;
    char *rbuf;        /* read scratch */
    buf_t wbuf;        /* response scratch */
    bool subscribed;   /* mq is a registry subscriber (set in new, cleared in stop) */
    hmap_t *agents;    /* agent number -> reg_agent_t copy: last state seen (events) */
    hmap_t *calls;     /* call id (decimal) -> reg_call_t copy */
    eccp_sess_t *parked; /* sessions whose failed-login answer waits (park_due) */
    int64_t next_sweep_ms;
    int jobs_out;      /* DB jobs submitted and not back yet (worker thread, then the freer) */
    /* Sessions paused after a refused DB job, in pause order (= retry order: one fixed
     * back-off), so only the head's time matters. */
    eccp_sess_t *dbw_head, *dbw_tail;
    /* The last registry change (benchmarks): commit -> last event write, commit -> start of
     * its processing, start -> end of its processing, sessions written.  Stored before fan_rounds is incremented (release),
     * so a reader that saw fan_rounds move reads this change's figures. */
    atomic_llong fan_last_us, fan_start_us, fan_busy_us, fan_sessions, fan_queued;
    atomic_ullong fan_rounds;
    /* For the change being processed (worker only): sessions written, and among them those
     * whose copy did not all fit in the kernel (the rest waits for EPOLLOUT). */
    int64_t fan_cur_sent, fan_cur_queued;
    /* Events waiting for database data (eccp_evwait.c), oldest first, and their count;
     * the next time a lookup or a deadline is due. */
    struct eccp_pev *pev_head, *pev_tail;
    int npev;
    int64_t pev_due_ms;
};

struct eccp_server {
    conf_eccp_t cfg;
    eccp_deps_t deps;
    int lfd;
    int stopfd;
    uint16_t port;
    int idle_ms;
    pthread_t acc;
    bool acc_started;
    bool stopped;      /* eccp_server_stop ran (the controlling thread only) */
    int nworkers;
    int nstarted;
    eccp_worker_t *w;
    hmap_t *reqs;      /* name -> eccp_reqdef_t (read-only after new) */
    atomic_int nsess;
    atomic_uint_fast64_t st_accepted, st_refused_acl, st_refused_full, st_requests, st_responses,
        st_events, st_idle, st_slow, st_bad;
    /* Shared output chunks created for fan-out remainders, and session references
     * taken on them (refs > chunks: some chunk was shared instead of copied). */
    atomic_uint_fast64_t st_chunks, st_chunk_refs;
    /* Input back-pressure: a session whose queued output is above out_low reads and
     * dispatches nothing until it drains to out_low (min(64 KiB, max_output_bytes/4)).
     * Times a session paused, and the largest queue any session has had. */
    size_t out_low;
    atomic_uint_fast64_t st_paused_out, st_queued_max;
    /* Requests answered 503 because the fair read queue refused their job (a bound). */
    atomic_uint_fast64_t st_db_busy;
    /* Events that waited for database data (eccp_stats_t.events_*). */
    atomic_uint_fast64_t st_ev_deferred, st_ev_jobs, st_ev_failed, st_ev_log_missing;
    atomic_int_fast64_t st_ev_waiting;
    int ev_wait_ms;    /* eccp_deps_t.event_wait_ms or ECCP_EVENT_WAIT_MS */
    /* Limits before login and failed-login throttling (eccp_guard.c, its own leaf lock). */
    struct eccp_guard *guard;
    int login_ms;      /* login_timeout in ms */
    atomic_uint_fast64_t st_refused_unauth, st_refused_unauth_addr, st_refused_addr,
        st_login_timeout, st_login_failed, st_login_delayed, st_login_blocked;
    /* Per request name (index in eccp__reqs; eccp__nreqs = unknown names and malformed
     * packets): requests dispatched and <failure> answers.  Arrays of eccp__nreqs + 1,
     * bumped by workers (and nobody else), read by eccp_server_req_stats. */
    atomic_uint_fast64_t *st_req_n, *st_req_err;
};

/* Worker-side helpers (worker thread only). */
buf_t *eccp__wbuf(eccp_worker_t *w);
void eccp__send(eccp_worker_t *w, eccp_sess_t *s, const char *p, size_t n);
void eccp__send_buf(eccp_worker_t *w, eccp_sess_t *s, buf_t *b);
/*
 * The same bytes p[0..n) for many sessions (an event): like eccp__send, but a
 * session that cannot take them all at once queues a reference to one chunk
 * shared by every such session of this fan-out (*chunk: NULL before the loop,
 * created by the first session that needs it).  Only sessions hold references;
 * after the loop the caller calls eccp__shared_done(*chunk), which frees a chunk
 * no session ended up referencing.
 */
void eccp__send_shared(eccp_worker_t *w, eccp_sess_t *s, const char *p, size_t n,
                       eccp_chunk_t **chunk);
void eccp__shared_done(eccp_chunk_t *chunk);
void eccp__failure(eccp_call_t *c, int code, const char *msg);          /* top level */
void eccp__req_failure(eccp_call_t *c, int code, const char *msg);      /* in NAME_response */
void eccp__success(eccp_call_t *c);                                     /* <success/> */
/* New job for c (copies id, session); NULL on ENOMEM (a 500 was sent). */
eccp_job_t *eccp__job_new(eccp_call_t *c, int (*sql)(db_conn_t *, eccp_job_t *),
                          void (*done)(eccp_worker_t *, eccp_sess_t *, eccp_job_t *));
/* Submits; on failure answers 500 and frees the job. */
void eccp__job_submit(eccp_worker_t *w, eccp_job_t *j);
void eccp__job_free(eccp_job_t *j);
/* Stand-in for eccp_call_t when a job finishes. */
void eccp__call_from_job(eccp_call_t *c, eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j);

/* eccp_ami.c: getextensionstatus through AMI, and transfer records. */
typedef enum {
    ECCP_AMI_EXTSTATUS = 0,
    ECCP_AMI_TRANSFER_RECORD, /* not an action: the record of a transfer's target */
} eccp_amiop_kind_e;
typedef struct eccp_amiop eccp_amiop_t;
#define ECCP_EXT_MAX 64 /* getextensionstatus extension, with its tech prefix, NUL included */
struct ami_response;
bool eccp__ami_available(eccp_worker_t *w);
/* getextensionstatus: ext is "TECH/peer" already validated (eccp__ext_valid); asks the
 * first AMI server with Command (sip/pjsip/iax2 show ...); top-level 500 "No AMI
 * connection" when it cannot be sent. */
void eccp__ami_extstatus(eccp_call_t *c, const char *ext);
/* ^(SIP|PJSIP|IAX2)/\w+$ and short enough for a Command line. */
bool eccp__ext_valid(const char *ext);
void eccp__ami_done(eccp_worker_t *w, struct ami_response *r); /* the answer came back */
/* Records ext as the transfer target of call (calls.transfer / call_entry.transfer): through
 * the db writer (deps.db), else as a best-effort read job (deps.db_submit); never answers. */
void eccp__record_transfer(eccp_worker_t *w, const eccp_reqdef_t *def, const char *id,
                           const reg_call_t *call, const char *ext);

/* eccp_agent.c: requests carried out by the agent service (agent/agent.h). */
struct ags_req;
struct ags_done;
/* Submits req (reply_mq and user are filled in here) for c; a refusal is answered here. */
void eccp__ags_start(eccp_call_t *c, const struct ags_req *req);
void eccp__ags_done(eccp_worker_t *w, struct ags_done *d); /* the answer came back */
void eccp__ags_drop(eccp_worker_t *w, struct ags_done *d); /* at shutdown */
void eccp__ami_drop(eccp_worker_t *w, struct ami_response *r); /* at shutdown */
void eccp__sess_bury(eccp_worker_t *w, eccp_sess_t *s);
/* A job, AMI action or agent-service request of s came back (its pending count and the
 * worker's jobs_out drop): true when s is still open and gets the answer; false when
 * it closed meanwhile (buried once nothing else of it is out). */
bool eccp__sess_op_back(eccp_worker_t *w, eccp_sess_t *s);
/* Closes s now (logged at debug with why); its memory goes when no job points at it. */
void eccp__sess_close(eccp_worker_t *w, eccp_sess_t *s, const char *why);
/* Login flow (eccp_server.c).  login_started: j (the login's database job) is out, the
 * session's later requests wait for its answer.  login_answer: sends the answer in b now,
 * or parks a copy for delay_ms (a failed login, throttled) during which the later requests
 * still wait.  login_authed: the session logged in (no longer counted as unauthenticated). */
void eccp__login_started(eccp_worker_t *w, eccp_sess_t *s, struct eccp_job *j);
void eccp__login_answer(eccp_worker_t *w, eccp_sess_t *s, buf_t *b, int64_t delay_ms);
void eccp__login_authed(eccp_worker_t *w, eccp_sess_t *s);
/* After one of s's jobs or AMI actions came back: reads and dispatches again when the
 * in-flight bound had paused it. */
void eccp__sess_resume(eccp_worker_t *w, eccp_sess_t *s);

/* eccp_req.c */
extern const eccp_reqdef_t eccp__reqs[];
extern const size_t eccp__nreqs;

/* Request counters by name (def NULL: unknown name or malformed packet); worker thread. */
void eccp__count_req(eccp_server_t *srv, const eccp_reqdef_t *def);
void eccp__count_err(eccp_server_t *srv, const eccp_reqdef_t *def);
void eccp__dispatch(eccp_worker_t *w, eccp_sess_t *s, const char *pkt, size_t len);

/* eccp_dbreq.c: a write with a reply came back from the db writer (schedulecall). */
void eccp__write_done(eccp_worker_t *w, db_write_t *x);
/* eccp_dbreq.c: DB-thread run function shared by every job. */
int eccp__job_run(db_conn_t *db, db_read_job_t *job);
int eccp__sql_login(db_conn_t *db, eccp_job_t *j);

/* eccp_status.c: the agent status block (nested for getagentstatus, flattened otherwise). */
void eccp__agent_status(xw_t *w, const reg_agent_t *a, const reg_call_t *call, bool flattened);
void eccp__call_info_short(xw_t *w, const reg_call_t *c); /* callinfo keys */
/* "Y-m-d H:i:s" of a wall-clock ms time; strip_today drops today's date like Issabel. */
void eccp__fmt_time(int64_t wall_ms, bool strip_today, char out[32]);

/* ---------------- events that wait for database data (eccp_evwait.c) ---------------- */

/* Default eccp_deps_t.event_wait_ms; a missing progress-log row is looked for again until
 * then, ECCP_EVENT_LOG_RETRY_MS after the first lookup, each gap twice the one before up to
 * ECCP_EVENT_LOG_RETRY_MAX_MS (a row the journal writes late costs a few lookups, not one
 * every 20 ms: 10 in 2 s instead of 100; eccp__ev_retry_gap_ms).  At most ECCP_PEV_MAX
 * events wait per worker (more are sent at once without their database part) and
 * ECCP_EVQ_MAX events queue behind them per session (past that the session is closed:
 * memory stays bounded). */
#define ECCP_EVENT_WAIT_MS 2000
#define ECCP_EVENT_LOG_RETRY_MS 20
#define ECCP_EVENT_LOG_RETRY_MAX_MS 320
#define ECCP_PEV_MAX 4096
#define ECCP_EVQ_MAX 65536
/* The most bytes of customer data (attributes, contacts, survey) one agentlinked carries;
 * a call with more is reported without it (logged), as when the database is away. */
#define ECCP_EVENT_DATA_MAX (1024 * 1024)

typedef enum {
    ECCP_PEV_READY = 0, /* a finished message queued behind a waiting one */
    ECCP_PEV_LINKED,
    ECCP_PEV_UNLINKED,
    ECCP_PEV_PROGRESS,
} eccp_pev_kind_e;

/*
 * An event of one worker that waits for its database part, or (kind READY) one queued
 * behind such an event.  Worker-owned, never locked.  refs: the sessions whose evq holds
 * it, + 1 while it is on the worker's waiting list, + 1 while a read job for it is out.
 */
typedef struct eccp_pev {
    int refs;
    eccp_pev_kind_e kind;
    bool ready;                 /* data/len hold the whole message */
    char *data;
    size_t len;
    /* What to build (unresolved only). */
    reg_call_t call;
    char agent[REG_ID_LEN];
    const char *status;         /* callprogress new_status; the progress row looked for */
    int64_t at_ms;              /* wall time: linkend (unlinked), entry (callprogress) */
    bool want_data, want_log;   /* agentlinked's customer data; the progress-log row id */
    bool data_done;             /* frag holds the customer data elements */
    bool in_flight;             /* a job is out */
    int lookups;                /* jobs submitted so far (sets the next retry's gap) */
    buf_t frag;
    long long log_id;           /* 0 = unknown */
    char log_status[16];        /* the new_status of that row (ShortCall or Hangup for an unlink) */
    int64_t deadline_ms, retry_ms; /* monotonic; retry_ms 0 = not scheduled */
    struct eccp_pev *next;      /* the worker's waiting list, oldest first */
} eccp_pev_t;

/* Writes the finished event in w->wbuf to the sessions that want it (agent events: the
 * filter; progress: callprogress enabled), behind any event they still wait for. */
void eccp__ev_fan_out(eccp_worker_t *w, const char *agent, bool progress);
/* An event of kind LINKED/UNLINKED/PROGRESS for call c: sent at once when it needs no
 * database part (no database, no call id), else waits for it (see eccp_evwait.c). */
void eccp__ev_fire(eccp_worker_t *w, eccp_pev_kind_e kind, const char *agent,
                   const reg_call_t *c, const char *status, int64_t at_ms);
/* A read job of an event came back (MSG_DB_READ_DONE with j->s == NULL). */
void eccp__ev_job_done(eccp_worker_t *w, eccp_job_t *j);
/* The wait before the next lookup of a missing row after `lookups` lookups (>= 1). */
int64_t eccp__ev_retry_gap_ms(int lookups);
/* Timers: lookups to repeat and deadlines due; returns the next due time (INT64_MAX). */
int64_t eccp__ev_timers(eccp_worker_t *w, int64_t now);
/* A closing session drops its queued events. */
void eccp__ev_sess_drop(eccp_sess_t *s);
/* An event's job that came back after its worker stopped: dropped with its reference. */
void eccp__ev_job_drop(eccp_job_t *j);
/* Worker shutdown: every waiting event is dropped (jobs still out keep theirs alive). */
void eccp__ev_worker_free(eccp_worker_t *w);
/* DB thread: the event's database part (eccp_dbreq.c). */
int eccp__sql_event(db_conn_t *db, eccp_job_t *j);

/* eccp_event.c: the message of p into w->wbuf (its database part when p has it, else the
 * empty elements Issabel's shape keeps); 0 or CCD_ENOMEM. */
int eccp__ev_render(eccp_worker_t *w, const eccp_pev_t *p);
/* The last progress-log row id this worker found for a call (per-call lookups go after
 * it), or NULL when the worker has no record of the call. */
long long *eccp__ev_call_log_id(eccp_worker_t *w, uint64_t call_id);

/* eccp_event.c */
void eccp__event_reg_change(eccp_worker_t *w, reg_change_t *ch);
void eccp__event_published(eccp_worker_t *w, const eccp_event_t *ev);
void eccp__event_worker_free(eccp_worker_t *w);

#endif
