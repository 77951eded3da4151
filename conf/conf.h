/*
 * conf: ccdialer.conf, parsed once at startup into an immutable conf_t.
 *
 * The file is INI: [section] headers, "key = value" lines, '#' or ';'
 * comments.  Every directive comes from one table (name, type, default,
 * validator) in conf_table.c; unknown sections or keys and bad values are
 * errors reported as "file:line: message".  After conf_load() returns, the
 * conf_t is never written again, so any thread may read it without a lock.
 *
 * Secrets (AMI secret, database password) may be given as
 *   secret = plain-text
 *   secret = env:VARNAME      (read from the environment at load time)
 *   secret = file:/path       (first line of the file, for systemd credentials)
 */
#ifndef CCD_CONF_CONF_H
#define CCD_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"

#define CONF_MAX_AMI_SERVERS 16
#define CONF_MAX_NETS 64
#define CONF_STR_LEN 256

typedef struct conf_ami_server {
    char name[64]; /* from [ami] (name "default") or [ami NAME] sections */
    char host[CONF_STR_LEN];
    uint16_t port;          /* default 5038 */
    char username[CONF_STR_LEN];
    char secret[CONF_STR_LEN]; /* never logged */
    bool md5_login;            /* challenge/response login instead of plain secret */
    int ping_interval_s;       /* keepalive Ping; default 20 */
    int action_timeout_ms;     /* default 10000 */
    int reconnect_min_ms;      /* back-off start, default 500 */
    int reconnect_max_ms;      /* back-off cap, default 30000 */
} conf_ami_server_t;

typedef struct conf_net {
    uint8_t addr[16]; /* IPv4 stored as v4-mapped IPv6 */
    int prefix;       /* in IPv6 bits (v4 /24 is stored as /120) */
} conf_net_t;

typedef struct conf_database {
    char host[CONF_STR_LEN]; /* ignored when socket is set */
    uint16_t port;           /* default 3306 */
    char socket[CONF_STR_LEN];
    char user[CONF_STR_LEN];
    char password[CONF_STR_LEN]; /* never logged */
    char name[CONF_STR_LEN];     /* default call_center */
    int writer_threads;          /* default 1 */
    int write_queue_max;         /* bounded write queue, default 100000 */
    int write_batch_max;         /* rows per transaction, default 500 */
    int connect_timeout_s;       /* default 5 */
    /* The fair read queue (db_read_submit): jobs queued per lane, per client (an ECCP
     * session, both lanes) and per client address (normal lane). */
    int read_queue_max;          /* default 4096 */
    int read_jobs_per_client;    /* default 32 */
    int read_jobs_per_address;   /* default 1024 */
} conf_database_t;

typedef struct conf_eccp {
    bool enabled;
    char bind[CONF_STR_LEN]; /* default 0.0.0.0 */
    uint16_t port;           /* default 20005 */
    conf_net_t allowed[CONF_MAX_NETS];
    int nallowed;            /* 0 = allow everyone (a warning is logged) */
    int max_sessions;        /* default 10000 */
    int idle_timeout_s;      /* default 300 */
    int workers;             /* session worker threads, default 2 */
    int max_request_bytes;   /* default 65536 */
    int max_output_bytes;    /* per-session output bound, default 4 MiB */
    /* Before login (a session counts as unauthenticated until its login succeeds). */
    int login_timeout_s;         /* time to log in, default 10 */
    int max_unauth_sessions;     /* default 128 */
    int max_unauth_per_address;  /* default 16 */
    int max_sessions_per_address; /* every session of one address; default 0 = no cap */
    /* Failed-login throttling (per client address and per client name). */
    int login_fail_delay_ms;     /* first failure's answer delay, doubling; default 250 */
    int login_fail_delay_max_ms; /* default 4000 */
    int login_fail_block_after;  /* failures before a temporary block, default 10 */
    int login_block_time_s;      /* block length and how long failures are remembered, default 300 */
} conf_eccp_t;

typedef struct conf_agi {
    bool enabled;
    char bind[CONF_STR_LEN]; /* default 127.0.0.1 */
    uint16_t port;           /* default 4573 */
    int max_sessions;        /* default 1000 */
    int workers;             /* session worker threads, default 2 */
    int command_timeout_s;   /* most seconds Asterisk may take to answer one command, default 120 */
    int max_line_bytes;      /* longest line accepted from Asterisk, default 4096 */
    int max_args;            /* most agi_arg_N a session may carry, default 16 */
    char blocked_message[CONF_STR_LEN];  /* sound file the block list plays */
    char abandon_message[CONF_STR_LEN];  /* abandon's message when the campaign names none */
    char callback_prompt[CONF_STR_LEN];  /* callback: "press 1 to be called back" */
    char callback_done[CONF_STR_LEN];    /* callback: "we will call you back" */
    char callback_failed[CONF_STR_LEN];  /* callback: the call back could not be scheduled */
    char agentlogin_number[CONF_STR_LEN]; /* agentlogin: asks for the agent number */
    char agentlogin_pin[CONF_STR_LEN];    /* agentlogin: asks for the PIN */
} conf_agi_t;

typedef struct conf_dialer {
    int cycle_ms;              /* pacing cycle, default 1000 (at most 1000) */
    double abandon_rate_max;   /* predictive cap, default 0.03 */
    int max_channels;          /* global cap on concurrent originates, default 0 = none */
    int originate_timeout_s;   /* ring time before giving up, default 30 */
    char default_context[CONF_STR_LEN]; /* default from-internal */
    int retry_backoff_s;       /* default 300 */
    int short_call_s;          /* linked for fewer seconds = ShortCall, default 10, 0 = never */
    int abandoned_redial_block_h; /* no redial of an abandoned number for this long, default 72 */
    char callback_context[CONF_STR_LEN]; /* "same agent" callbacks, default llamada_agendada */
    bool callback_hold;        /* pause a callback's agent in Asterisk meanwhile, default yes */
} conf_dialer_t;

/* The agent service (docs/agent.md): the dialplan contexts it originates into. */
typedef struct conf_agents {
    char phone_context[CONF_STR_LEN];   /* default from-internal */
    char login_context[CONF_STR_LEN];   /* default agent-login */
    char agents_context[CONF_STR_LEN];  /* default agents */
    char parking_context[CONF_STR_LEN]; /* default parkedcalls */
    int login_ring_timeout_s;           /* default 30 */
    int login_timeout_s;                /* default 120 */
} conf_agents_t;

typedef struct conf_log {
    log_level_e level;         /* default info */
    char target[CONF_STR_LEN]; /* "stderr" (default), "syslog" or a file path */
    bool syslog_copy;          /* also send every line to syslog/journald, default no */
} conf_log_t;

/* The HTTP endpoint for monitoring (/metrics, /healthz, /readyz). */
typedef struct conf_metrics {
    bool enabled;            /* default no */
    char bind[CONF_STR_LEN]; /* default 127.0.0.1 */
    uint16_t port;           /* default 9465 */
} conf_metrics_t;

typedef struct conf {
    conf_ami_server_t ami[CONF_MAX_AMI_SERVERS];
    int nami;
    conf_database_t database;
    conf_eccp_t eccp;
    conf_agi_t agi;
    conf_dialer_t dialer;
    conf_agents_t agents;
    conf_log_t log;
    conf_metrics_t metrics;
    char pid_file[CONF_STR_LEN]; /* [general] pid_file, default empty = none */
} conf_t;

/* Fills c with every default (one AMI server at 127.0.0.1:5038). */
void conf_defaults(conf_t *c);

/*
 * Parses path into *out (defaults first, then the file).  Returns 0, or a
 * negative code with "file:line: message" in err (size CCD_ERR_LEN); on
 * error *out is unspecified.
 */
int conf_load(const char *path, conf_t *out, char *err, size_t errlen);

/* Same as conf_load for text already in memory; name is used in messages. */
int conf_load_string(const char *name, const char *text, size_t len, conf_t *out, char *err,
                     size_t errlen);

/* True when addr (16 bytes, v4-mapped for IPv4) is inside one of the allowed
 * nets, or when the list is empty. */
bool conf_net_allows(const conf_net_t *nets, int nnets, const uint8_t addr[16]);

/* Parses a numeric IPv4 or IPv6 address into 16 bytes (IPv4 as v4-mapped
 * ::ffff:a.b.c.d).  Returns 0 or CCD_EINVAL. */
int conf_addr_parse(const char *s, uint8_t out[16]);

/* Parses "addr" or "addr/prefix" (IPv4 prefix 0-32, IPv6 0-128) into *out,
 * host bits cleared.  Returns 0 or CCD_EINVAL.  Note that 0.0.0.0/0 covers
 * every IPv4 client but no IPv6 one; ::/0 covers both. */
int conf_net_parse(const char *s, conf_net_t *out);

/* Fills out from an AF_INET or AF_INET6 socket address (what accept() gives),
 * so conf_net_allows() can check it.  Returns 0 or CCD_EINVAL for other families. */
struct sockaddr;
int conf_addr_from_sockaddr(const struct sockaddr *sa, uint8_t out[16]);

#endif
