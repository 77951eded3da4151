/* ami_int.h: what the files of the ami module share; not for other modules. */
#ifndef CCD_AMI_AMI_INT_H
#define CCD_AMI_AMI_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "ami/ami.h"
#include "core/hmap.h"

#define AMI_ACTION_MAX (64 * 1024) /* longest action text */
#define AMI_MAX_SUBS 16
#define AMI_REG_OVERFLOW_MAX 65536 /* events held back while the registry inbox is full */
#define AMI_READ_CHUNK 65536

struct ami_action {
    buf_t text; /* "Action: X\r\n" + headers, no ActionID, no final empty line */
    char name[64];
};

typedef struct ami_srv ami_srv_t;
typedef struct ami_pending ami_pending_t;

/* How the I/O thread handles the outcome of its own actions (login, ping, resync). */
typedef void (*ami_internal_fn)(ami_srv_t *s, ami_response_t *r);

/*
 * One action.  Made by ami_send() on the caller's thread and pushed to the
 * server's inbox; from the pop on, owned by the I/O thread (held list,
 * in-flight table) until its outcome is delivered and it is freed.
 */
struct ami_pending {
    mq_msg_t msg;                 /* MSG_AMI_SEND */
    ami_pending_t *prev, *next;   /* in-flight or held list */
    char action_id[AMI_ACTIONID_LEN];
    char name[64];
    char *text;                   /* complete wire text; freed once in the output buffer */
    size_t len;
    mq_t *reply_mq;
    ami_reply_fn cb;
    void *cb_ctx;
    uint64_t user;
    int64_t deadline_us, sent_us;
    bool list;
    bool in_table;
    ami_internal_fn internal;
    ami_response_t *resp;         /* built as the response (and list events) arrive */
    size_t cap_ev;
};

typedef struct ami_plist {
    ami_pending_t *head, *tail;
    size_t n;
} ami_plist_t;

struct ami_srv {
    ami_t *c;
    int idx;
    const conf_ami_server_t *cf;
    pthread_t th;
    bool started;       /* main thread only */
    /* timing from conf, normalised once in ami_new (immutable after) */
    int64_t ping_us;
    int tmo_ms, rmin_ms, rmax_ms;
    mq_t *inbox;        /* any thread pushes; the I/O thread pops */
    _Atomic int state;  /* ami_state_e; written by the I/O thread, read by anyone */

    /* counters: written by the I/O thread, read by anyone */
    _Atomic uint64_t st_bytes_in, st_msgs_in, st_events_in, st_events_typed, st_events_delivered,
        st_events_lost, st_responses, st_unknown, st_timeouts, st_connects, st_disconnects,
        st_restarts, st_cpu_us, st_shutdown_refusals;
    /* actions sent and unanswered plus those held for the login, and clk_mono_ms() of the
     * I/O thread's last loop (it wakes at least every TIMEOUT_SCAN_US): for monitoring */
    _Atomic uint64_t st_pending;
    _Atomic int64_t st_beat_ms;

    /* ---- everything below: the I/O thread only ---- */
    int fd;
    bool connecting, got_banner, logged_in;
    int64_t connect_deadline_us;
    buf_t in, out;
    ami_parser_t *parser;
    hmap_t *inflight;      /* ActionID -> ami_pending_t */
    ami_plist_t flying;    /* the same, in send order, for timeouts */
    ami_plist_t held;      /* user actions waiting for the login */
    int64_t next_ping_us, last_rx_us, reconnect_at_us, next_timeout_scan_us;
    int backoff_ms;
    char startup[64];      /* CoreStartupDate + CoreStartupTime last seen */
    bool have_startup;
    char down_reason[128];
    uint64_t unknown_logged, refused_logged;
    /* resync in progress */
    int rs_waiting;
    bool rs_restarted;
    int64_t rs_since_ms;
    ami_response_t *rs_channels, *rs_agents, *rs_queues;
    /* events the full registry inbox refused, oldest first */
    ami_event_t *ovf_head, *ovf_tail;
    size_t novf;
    bool reg_lost;         /* some were dropped: resync once the backlog clears */
};

typedef struct ami_sub {
    mq_t *q;
    uint64_t mask;
    int flags;
    bool full_logged; /* I/O threads only, racy by design: a log hint */
} ami_sub_t;

struct ami {
    const conf_t *conf;
    ami_opts_t opts;          /* immutable after ami_new */
    char **vars;              /* copied varset_names, NULL-terminated */
    ami_srv_t srv[CONF_MAX_AMI_SERVERS];
    int n;
    ami_sub_t sub[AMI_MAX_SUBS]; /* fixed before ami_start, read-only after */
    int nsub;
    reg_t *reg;               /* fixed before ami_start */
    _Atomic bool started, stopping;
    _Atomic uint64_t seq;     /* ActionID counter */
};

ami_response_t *ami__response_new(int server, const char *action_id, uint64_t user);

#endif
