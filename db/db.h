/*
 * db: the call_center MariaDB database (MariaDB Connector/C).
 *
 * DESIGN
 * - No event or session thread ever waits on SQL.  Reads are jobs run on DB
 *   reader threads; writes go through bounded queues to writer thread(s).
 *   Every DB thread owns exactly one connection and reconnects it
 *   itself, with a back-off, when the server goes away.
 * - A read job is an mq message.  db_read_submit() hands it to a reader
 *   thread, which calls job->run(mysql, job) with a live connection and then
 *   pushes the job to job->reply, so ownership goes back to the submitter
 *   together with the result the run function stored in the job's own
 *   (larger) struct.  job->status holds run's return value, or CCD_EIO when
 *   the database was unreachable.  The blocking db_load_*() and
 *   db_claim_numbers() functions below are meant to be called from run.
 * - Reads are scheduled fairly, not first come first served: a job names its
 *   owner (an ECCP session; 0 = the engine) and lane (AUTH for logins and
 *   agent checks, with a reader thread of its own; NORMAL).  Inside a lane
 *   owners take turns, one job each; bounds per lane, per owner and per
 *   client address refuse the excess at submit (CCD_EFULL), so one client
 *   can neither delay another's reads nor grow the queue without limit.
 * - A write is a db_write_t message (a kind plus that kind's fields).  The
 *   writer applies up to write_batch_max of them per transaction, with
 *   MariaDB bulk execution (one round trip per run of same-kind rows), and
 *   retries on deadlock (1213), lock-wait timeout (1205) and lost connection
 *   (2002/2006/2013).  A write accepted by db_write_submit() is never dropped:
 *   the writer keeps the batch until it has committed.  Each transaction
 *   first inserts a marker row (writer id, batch sequence) into
 *   ccd_write_batch; when a commit's outcome is unknown (connection lost) the
 *   retry hits a duplicate marker if the first attempt committed, and the
 *   batch is then not applied twice.
 * - Backpressure: db_write_submit() fails with CCD_EFULL when the writer's
 *   queue holds write_queue_max messages; db_writes_backpressured() turns
 *   true at 3/4 of that (or while a writer has no connection) and false again
 *   below 1/2.  The dialer places no new call while it is true; writes about
 *   calls already placed use db_write_submit_force(), whose overshoot is
 *   bounded by the number of calls in flight.
 * - Number selection (db_claim_numbers) is safe across cycles and engine
 *   instances sharing one database: SELECT ... FOR UPDATE SKIP LOCKED in a
 *   short READ COMMITTED transaction that stamps ccd_claim_owner/time on the
 *   rows it hands out; claims of an engine whose heartbeat stopped are
 *   released by db_claims_recover().
 *
 * Thread rules: db_t functions are safe from any thread.  A db_conn_t given
 * to a run function belongs to that reader thread for the duration of the
 * call and must not be kept.  <mysql.h> and SQL text stay inside db/: other
 * modules call the typed functions below.
 */
#ifndef CCD_DB_DB_H
#define CCD_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf/conf.h"
#include "core/mq.h"

typedef struct db db_t;
struct db_agent;
/* One MariaDB connection, owned by one thread: a reader's (given to run functions for the
 * duration of the call) or one of db_conn_open. */
typedef struct db_conn db_conn_t;

enum {
    MSG_DB_READ_DONE = MSG_DB_BASE + 0, /* a finished read job coming back to its submitter */
    MSG_DB_WRITE = MSG_DB_BASE + 1,
    MSG_DB_WRITE_DONE = MSG_DB_BASE + 2, /* a write with a reply queue, back after its commit */
};

/* ------------------------------------------------------------------ */
/* Threads and read jobs                                               */
/* ------------------------------------------------------------------ */

/*
 * Read lanes.  AUTH carries logins and agent-hash checks: a dedicated reader
 * thread serves only it, so a flood of heavy reads never delays a login.  The
 * general readers serve NORMAL first and AUTH when NORMAL is empty, so a flood
 * of agent checks cannot starve the reads either.  Inside a lane, owners are
 * served round-robin, one job per owner per turn.
 */
enum { DB_LANE_NORMAL = 0, DB_LANE_AUTH = 1, DB_LANES = 2 };
#define DB_ADDR_LEN 48 /* an IPv6 address in text with brackets, NUL included */

typedef struct db_read_job db_read_job_t;
struct db_read_job {
    mq_msg_t msg;  /* msg.type is set to MSG_DB_READ_DONE before the reply push */
    int (*run)(db_conn_t *c, db_read_job_t *job); /* on a reader thread; 0 or negative code */
    mq_t *reply;   /* where the finished job is pushed (force-pushed: never lost) */
    int status;    /* run's result, or CCD_EIO if no connection could be had */
    /* Fair scheduling (see db_read_submit).  All zero = a job of the engine itself:
     * normal lane, bounded only by the queue total. */
    uint64_t owner;          /* who the job is for (an ECCP session); 0 = the engine */
    int lane;                /* DB_LANE_* */
    char addr[DB_ADDR_LEN];  /* the client's address, "" = none (no per-address bound) */
};

/* The client library's process-wide setup, once before any thread uses the database (db_start
 * calls it too); 0 or CCD_ERR.  db_global_end at exit. */
int db_global_init(void);
void db_global_end(void);

/*
 * Lifecycle.  db_new copies cfg (conf_t's validated values, trusted as they are) and makes the
 * instance id; no I/O.  db_start waits for the database: while the server cannot be reached it
 * retries with a back-off (100 ms doubling to 5 s, logged at the first failure and about once
 * a minute after), asking cancel(ctx) at least every 100 ms (NULL = never); a cancelled wait
 * returns CCD_ECLOSED.  A database that answers but refuses us (credentials, unknown database,
 * schema below DB_SCHEMA_VERSION) fails at once: that does not heal by waiting.  Then the reader
 * and writer threads start.  0 or a code + err.  db_stop drains the write queues (waiting for
 * the database up to drain_ms) and stops the threads; db_free frees (after db_stop, or after a
 * failed or skipped db_start).
 */
db_t *db_new(const conf_database_t *cfg, char *err, size_t errlen);
int db_start(db_t *db, bool (*cancel)(void *ctx), void *ctx, char *err, size_t errlen);
void db_stop(db_t *db, int drain_ms);
void db_free(db_t *db);

/* The agent list (db_load_agents) read on the calling thread with a connection of its own:
 * for startup, before the threads that would answer a read job run.  0 or a code + err. */
int db_load_agents_now(db_t *db, struct db_agent **out, size_t *n, char *err, size_t errlen);

/*
 * 0 (the reader owns job until it pushes it to job->reply), CCD_EFULL or CCD_ECLOSED
 * (CCD_EINVAL for a job without run or with a bad lane, CCD_ENOMEM).  CCD_EFULL when
 * the job's lane holds [database] read_queue_max jobs, its owner (owner != 0)
 * read_jobs_per_client, or, NORMAL lane only, its address (addr != "")
 * read_jobs_per_address; the caller keeps the job and answers the refusal.  Queued
 * jobs are counted from submit until a reader takes them.  Nothing is logged here:
 * refusals are counted in db_stats_t.
 */
int db_read_submit(db_t *db, db_read_job_t *job);

/* This engine instance's id (32 hex chars), the owner stamped on its claims. */
const char *db_instance_id(const db_t *db);

/* ------------------------------------------------------------------ */
/* Schema                                                              */
/* ------------------------------------------------------------------ */

#define DB_SCHEMA_VERSION 7 /* 3: the dialer; 4: never used; 5: ccd_campaign_agi; 6: ccd_pacer_state, ccd_campaign_stats; 7: ccd_pacer_state.estimates */

/*
 * Creates database cfg->name if needed and brings it to DB_SCHEMA_VERSION:
 * a fresh database, one of ours at an older version, or an Issabel
 * call_center (no ccd_schema_version table) which is upgraded in place
 * without losing rows.  Idempotent; concurrent callers serialise on a named
 * lock.  Returns 0 or a negative code with a message in err.
 */
int db_migrate(const conf_database_t *cfg, char *err, size_t errlen);

/* The same on an open connection (the database need not exist yet). */
int db_migrate_conn(db_conn_t *c, const char *dbname, char *err, size_t errlen);

/* Highest applied version in *out (0 = none / no version table). */
int db_schema_version(db_conn_t *c, int *out);

/*
 * Opens one connection described by cfg (socket when set, else host:port),
 * with our session settings (utf8mb4, autocommit on, READ COMMITTED), for the
 * admin tool and startup work on the calling thread.  When use_db is false no
 * database is selected.  The caller owns *out and closes it with
 * db_conn_close().  0 or CCD_EIO + err.
 */
int db_conn_open(const conf_database_t *cfg, bool use_db, db_conn_t **out, char *err,
                 size_t errlen);
void db_conn_close(db_conn_t *c);
/* The server's message for the last failed statement on c. */
const char *db_conn_error(db_conn_t *c);

/* Runs a script of ';'-terminated statements (the seed files).  0 or CCD_EIO + err. */
int db_exec_script(db_conn_t *c, const char *sql, size_t len, char *err, size_t errlen);
int db_exec_script_file(db_conn_t *c, const char *path, char *err, size_t errlen);

/* True for the client/server errors after which the connection is unusable. */
bool db_errno_conn_lost(unsigned int my_errno);
/* True for errors where retrying the whole transaction is the fix (1213, 1205 and lost conn). */
bool db_errno_retryable(unsigned int my_errno);

/* ------------------------------------------------------------------ */
/* Reads (blocking; call them from a read job's run function)          */
/* Each fills a malloc'd array the caller frees with free() unless a    */
/* dedicated _free is given.  0, CCD_ENOMEM or CCD_EIO.                 */
/* ------------------------------------------------------------------ */

typedef enum db_pacing_mode {
    DB_PACING_PREDICTIVE = 0, /* Issabel's behaviour; the default */
    DB_PACING_PROGRESSIVE = 1,
    DB_PACING_PREVIEW = 2,     /* the engine places nothing by itself */
} db_pacing_mode_e;

typedef struct db_campaign {
    uint32_t id;
    char name[65];
    char trunk[256];    /* "" = NULL (dial through Local/..@from-internal) */
    char context[33];
    char queue[17];
    char callerid[16];
    uint32_t retries;   /* attempts allowed per number */
    uint32_t max_canales;
    char daytime_init[9];    /* HH:MM:SS */
    char daytime_end[9];
    char datetime_init[11];  /* YYYY-MM-DD */
    char datetime_end[11];
    uint32_t id_url;         /* 0 = none */
    /* ccd_campaign_pacing, or its defaults when the campaign has no row */
    db_pacing_mode_e mode;
    double abandon_rate_max;  /* < 0: use [dialer] abandon_rate_max */
    int max_channels;         /* concurrent cap, 0 = none */
    int retry_backoff_s;      /* < 0: use [dialer] retry_backoff_s */
    int retry_backoff_max_s;  /* cap of the doubling back-off, 0 = no cap */
    char ami_server[65];      /* ccd_campaign_pacing.ami_server: [ami NAME]; "" = the first */
} db_campaign_t;

/* Sets estatus='I' on campaigns (outgoing and incoming) whose end date has passed. */
int db_expire_campaigns(db_conn_t *c, int *nexpired);
/* Outgoing campaigns active now: estatus A, today within the dates, now within the daily window
 * (an overnight window wraps midnight). */
int db_load_active_campaigns(db_conn_t *c, db_campaign_t **out, size_t *n);
/* The same at the time now (Unix seconds, read as the server's local time); 0 = the server's
 * clock.  Tests move time with it (the dialer's injectable clock). */
int db_load_active_campaigns_at(db_conn_t *c, time_t now, db_campaign_t **out, size_t *n);

/* One outgoing campaign by id, whatever its status and window (*found false: no such row). */
int db_load_campaign(db_conn_t *c, uint32_t id, db_campaign_t *out, bool *found);

/* The watched incoming queues and their campaigns, with the server's clock: what the
 * engine needs to tell which campaign_entry a caller of each queue belongs to. */
typedef struct db_inbound_queue {
    uint32_t id;          /* queue_call_entry.id */
    char queue[51];
} db_inbound_queue_t;
typedef struct db_inbound_campaign {
    uint32_t id;          /* campaign_entry.id */
    uint32_t id_queue;    /* id_queue_call_entry */
    char estatus;
    char datetime_init[11], datetime_end[11]; /* YYYY-MM-DD */
    char daytime_init[9], daytime_end[9];     /* HH:MM:SS */
} db_inbound_campaign_t;
typedef struct db_inbound {
    db_inbound_queue_t *queues;       /* queue_call_entry rows with estatus 'A', by id */
    size_t nqueues;
    db_inbound_campaign_t *campaigns; /* campaign_entry rows with estatus 'A' of those queues */
    size_t ncampaigns;
    char today[11], now[9];           /* the server's CURDATE() and CURTIME() */
} db_inbound_t;
/* Fills *out (free it with db_inbound_free, also after a failure). */
int db_load_inbound(db_conn_t *c, db_inbound_t *out);
void db_inbound_free(db_inbound_t *in);

typedef struct db_agent {
    uint32_t id;
    char type[8];        /* Agent, SIP, IAX2, PJSIP */
    char number[41];
    char name[251];
    char estatus;        /* 'A' or 'I' */
    bool has_eccp_password;
    char eccp_password[129];
} db_agent_t;
/* Every agent row (active and inactive), ordered by number, type. */
int db_load_agents(db_conn_t *c, db_agent_t **out, size_t *n);

typedef struct db_agent_queue {
    uint32_t id_agent;
    char queue[51];
    int penalty;
} db_agent_queue_t;
/* Dynamic agents' queue memberships (ccd_agent_queue), ordered by agent, queue. */
int db_load_agent_queues(db_conn_t *c, db_agent_queue_t **out, size_t *n);

typedef struct db_break {
    uint32_t id;
    char name[251];
    char description[251];
    char status; /* 'A' or 'I' */
    char tipo;   /* 'B' break, 'H' hold */
} db_break_t;
int db_load_breaks(db_conn_t *c, db_break_t **out, size_t *n);

typedef struct db_form_field {
    uint32_t id;
    char *etiqueta; /* malloc'd */
    char *value;    /* malloc'd */
    char tipo[26];
    uint32_t orden;
} db_form_field_t;
typedef struct db_form {
    uint32_t id;
    char nombre[41];
    char descripcion[151];
    char estatus;
    db_form_field_t *fields; /* malloc'd, ordered by orden */
    size_t nfields;
} db_form_t;
/* Every form with its fields.  Free with db_forms_free(). */
int db_load_forms(db_conn_t *c, db_form_t **out, size_t *n);
void db_forms_free(db_form_t *forms, size_t n);

typedef struct db_eccp_client {
    char username[65];
    char md5_password[33];
} db_eccp_client_t;
int db_load_eccp_clients(db_conn_t *c, db_eccp_client_t **out, size_t *n);

/* ------------------------------------------------------------------ */
/* Reads by subject for the agent consoles (ECCP)                       */
/* Blocking; call them from a read job's run function.  They return 0,  */
/* CCD_ENOMEM or CCD_EIO; "not found" is an empty result, not an error. */
/* Row-shaped answers come as db_rows_t whose column order is given by  */
/* the DB_<WHAT>_<COLUMN> enums, so the caller renders without SQL.     */
/* ------------------------------------------------------------------ */

/* Rows as text: cell (r, c) is NULL for SQL NULL.  Owned by the caller: db_rows_free. */
typedef struct db_rows {
    size_t nrows, ncols;
    char **cell; /* nrows * ncols, row-major */
} db_rows_t;
static inline const char *db_cell(const db_rows_t *r, size_t row, size_t col)
{
    return r->cell[row * r->ncols + col];
}
/* Row i as an array of ncols cells. */
static inline char *const *db_row(const db_rows_t *r, size_t i)
{
    return r->cell + i * r->ncols;
}
void db_rows_free(db_rows_t *r);

/* -- agents, breaks, console clients (db_agents.c) -- */

typedef struct db_agent_auth {
    bool found;          /* an active agent row with this type and number */
    int64_t id;
    bool has_password;   /* eccp_password is not NULL */
    char password[129];
} db_agent_auth_t;
/* The active agent type/number and its ECCP password. */
int db_agent_auth_get(db_conn_t *c, const char *type, const char *number, db_agent_auth_t *out);
/* The agent row for type/number (the active one first, then the lowest id, as the registry
 * load picks): *found false when there is none. */
int db_agent_get(db_conn_t *c, const char *type, const char *number, db_agent_t *out,
                 bool *found);
/* Whether user/pass names an ECCP client (pass: the md5 itself or the clear text). */
int db_eccp_client_check(db_conn_t *c, const char *user, const char *pass, bool *ok);
/* "Type/Number" of the agent that took the call into out (*found false: none or no call). */
int db_call_agent(db_conn_t *c, bool incoming, long long call_id, char *out, size_t outsz,
                  bool *found);

enum { DB_PAUSE_ID, DB_PAUSE_NAME, DB_PAUSE_STATUS, DB_PAUSE_TIPO, DB_PAUSE_DESCRIPTION };
/* Breaks of tipo 'B' (not the Hold break), by id. */
int db_pauses_list(db_conn_t *c, db_rows_t *out);
/* An active break of tipo 'B' with this id: *found, and its name into name. */
int db_break_active(db_conn_t *c, long long id, bool *found, char *name, size_t namesz);

/* Agent activity between from and to ("YYYY-MM-DD HH:MM:SS" both). */
enum { DB_ACT_ID, DB_ACT_TYPE, DB_ACT_NUMBER, DB_ACT_NAME, DB_ACT_LOGIN_SEC };
enum { DB_ACTC_AGENT, DB_ACTC_TYPE, DB_ACTC_QUEUE, DB_ACTC_SEC, DB_ACTC_NUM };
enum { DB_ACTL_AGENT, DB_ACTL_START, DB_ACTL_END };
typedef struct db_activity {
    db_rows_t agents;   /* active agents with their summed session time (DB_ACT_*) */
    db_rows_t calls;    /* per agent and queue: 'incoming'/'outgoing', seconds, count (DB_ACTC_*) */
    db_rows_t sessions; /* each agent's last session in the range (DB_ACTL_*) */
    db_rows_t pauses;   /* each agent's last pause in the range (DB_ACTL_*) */
} db_activity_t;
int db_agent_activity(db_conn_t *c, const char *from, const char *to, db_activity_t *out);
void db_activity_free(db_activity_t *a);

/* -- campaigns and incoming queues (db_campaigns.c) -- */

enum { DB_CL_TYPE, DB_CL_ID, DB_CL_NAME, DB_CL_STATUS };
typedef struct db_campaign_filter {
    const char *type;      /* "incoming", "outgoing" or NULL for both */
    const char *name_like; /* substring of the name, or NULL */
    const char *estatus;   /* "A", "I", "T" or NULL */
    const char *from, *to; /* datetime_init >= from, < to ("YYYY-MM-DD"), or NULL */
    long long limit;       /* < 0: none */
    long long offset;
} db_campaign_filter_t;
/* Campaigns of both kinds ordered by type, id. */
int db_campaign_list(db_conn_t *c, const db_campaign_filter_t *f, db_rows_t *out);

enum { DB_QL_ID, DB_QL_QUEUE, DB_QL_STATUS };
/* queue_call_entry rows by id (limit < 0: none). */
int db_queue_list(db_conn_t *c, long long limit, long long offset, db_rows_t *out);
/* The script of an incoming queue (active rows first): 0 or 1 row, one column. */
int db_queue_script(db_conn_t *c, long long queue, db_rows_t *out);

enum { DB_QW_COUNT, DB_QW_WAIT };
/* Answered calls of a campaign grouped by duration_wait, and its abandoned count. */
int db_campaign_wait(db_conn_t *c, long long id, bool incoming, db_rows_t *waits,
                     long long *abandoned);

/* An outgoing campaign's answered calls and the abandoned among them (hung up before an
 * agent took them, or taken more than grace_s after the answer), by 30-minute bucket of the
 * answer (datetime_entry_queue, else fecha_llamada for an abandon) over the 30 days up to
 * now (0 = the server's clock), oldest first; and over the campaign's whole life.  The
 * dialer seeds its abandon-rate windows with them, so a restart does not forget the day.
 * Counted from `calls`, which keeps a number's last attempt only: an earlier attempt of a
 * number answered again since is not counted.  *out is malloc'd (free()), NULL when none. */
typedef struct db_abandon_bucket {
    long long start_s; /* epoch seconds, a multiple of 1800 */
    long long answered, abandoned;
} db_abandon_bucket_t;
typedef struct db_abandon_history {
    db_abandon_bucket_t *b;
    size_t nb;
    long long life_answered, life_abandoned;
} db_abandon_history_t;
int db_campaign_abandon_history(db_conn_t *c, long long id, time_t now, int grace_s,
                                db_abandon_history_t *out);

/* The campaign's predictive pacer state as the dialer last wrote it (DB_W_PACER_STATE):
 * found false when there is none.  age_s is now (0 = the server's clock) minus updated.
 * estimates: a malloc'd copy of the pacer's line as written, NULL when the row has none; the
 * caller frees it (also when the call fails).  The pacer judges the line, its length too. */
typedef struct db_pacer_state {
    bool found;
    double allowance, abandon_target;
    long long age_s;
    char *estimates;
} db_pacer_state_t;
int db_campaign_pacer_state(db_conn_t *c, long long id, time_t now, db_pacer_state_t *out);

/* getcampaigninfo columns (outgoing / incoming). */
enum { DB_CI_NAME, DB_CI_TYPE, DB_CI_DATE_INIT, DB_CI_DATE_END, DB_CI_TIME_INIT, DB_CI_TIME_END,
       DB_CI_QUEUE };
#define DB_CI_OUT_COLS 15 /* + retries trunk context max_canales estatus script urltemplate opentype */
#define DB_CI_IN_COLS 11  /* + estatus script urltemplate opentype (then id_form) */
#define DB_CI_IN_FORM 11
#define DB_CAMPAIGN_FORMS_MAX 64
/* The campaign row (0 rows: unknown) and its form ids (the incoming campaign's own form last,
 * when not listed), at most DB_CAMPAIGN_FORMS_MAX. */
int db_campaign_info(db_conn_t *c, long long id, bool incoming, db_rows_t *info,
                     long long *form_ids, int *nforms);

typedef enum { DB_STATUS_OUTGOING = 0, DB_STATUS_INCOMING = 1, DB_STATUS_QUEUE = 2 } db_status_mode_e;
typedef struct db_status_req {
    db_status_mode_e mode;
    long long id;       /* campaign (outgoing / incoming) */
    const char *queue;  /* DB_STATUS_QUEUE: calls of the queue outside any campaign */
    const char *start;  /* "YYYY-MM-DD HH:MM:SS" or NULL */
} db_status_req_t;
enum { DB_SC_COUNT, DB_SC_STATUS };
typedef struct db_status {
    bool found;          /* the campaign exists (always true in queue mode) */
    char queue[256];     /* the campaign's queue, or req->queue */
    db_rows_t counts;    /* calls per status (DB_SC_*) */
    long long total_sec, max_duration;
} db_status_t;
int db_campaign_status(db_conn_t *c, const db_status_req_t *req, db_status_t *out);

enum { DB_LOG_ID, DB_LOG_DATETIME, DB_LOG_PHONE, DB_LOG_QUEUE, DB_LOG_TYPE, DB_LOG_CAMPAIGN,
       DB_LOG_CALL, DB_LOG_NEW_STATUS, DB_LOG_RETRY, DB_LOG_UNIQUEID, DB_LOG_TRUNK,
       DB_LOG_DURATION, DB_LOG_AGENT, DB_LOG_COLS };
typedef struct db_log_req {
    bool incoming;
    bool has_campaign;
    long long campaign_id;
    const char *queue;     /* incoming without a campaign: the queue */
    const char *from, *to; /* "YYYY-MM-DD HH:MM:SS" */
    long long last_n;      /* >= 0: the newest last_n entries (newest first), else all oldest first */
    long long idbefore;    /* >= 0: entries with id < idbefore */
} db_log_req_t;
int db_campaign_log(db_conn_t *c, const db_log_req_t *req, db_rows_t *out);

/* -- calls (db_calls.c) -- */

enum { DB_CALLO_COLS = 16 }; /* id campaign phone status uniqueid duration originate
                                 originateresponse join linkstart linkend retries failure_cause
                                 failure_cause_txt agent trunk */
enum { DB_CALLI_COLS = 12,   /* id campaign callerid status uniqueid duration join linkstart
                                 linkend trunk queue agent */
       DB_CALLI_CONTACT = 12, /* then contact name apellido telefono cedula_ruc origen id_contact */
       DB_CALLI_CONTACT_ID = 17 };
/* One call (0 rows: unknown) of campaign_id; an incoming call without has_campaign: of any. */
int db_call_info(db_conn_t *c, bool incoming, long long call_id, bool has_campaign,
                 long long campaign_id, db_rows_t *out);
/* The call's first call_attribute.data (malloc'd) or NULL in *data. */
int db_call_attributes(db_conn_t *c, long long call_id, char **data);
/* calls.transfer / call_entry.transfer of one call; ext is cut at the column's 6 characters
 * (as Issabel's non-strict server did). */
int db_call_set_transfer(db_conn_t *c, bool incoming, long long call_id, const char *ext);
/* Whether a calls (outgoing) or call_entry (incoming) row with this id exists. */
int db_call_exists(db_conn_t *c, bool incoming, long long call_id, bool *found);
/*
 * The call_progress_log row recording one transition of a call, for the ECCP events that
 * carry its id (agentlinked/agentunlinked campaignlog_id, callprogress id): the first row of
 * the call (id_call_outgoing / id_call_incoming = call_id) whose new_status is one of
 * statuses (NULL-terminated), with id > after_id and, when retry >= 0, this retry.  *id = 0
 * when there is none (yet: the call journal writes these rows through the durable writer,
 * so they may lag the event); else the row's new_status is copied into found (may be NULL).
 */
int db_progress_log_find(db_conn_t *c, bool incoming, long long call_id,
                         const char *const *statuses, long long retry, long long after_id,
                         long long *id, char *found, size_t foundsz);

/* -- forms (db_forms.c) -- */

enum { DB_FF_ID, DB_FF_LABEL, DB_FF_VALUE, DB_FF_TYPE, DB_FF_ORDER };
/* A form's fields by orden. */
int db_form_fields(db_conn_t *c, long long id_form, db_rows_t *out);
enum { DB_FH_NAME, DB_FH_DESCRIPTION, DB_FH_STATUS };
/* The form row itself (0 or 1 row). */
int db_form_head(db_conn_t *c, long long id_form, db_rows_t *out);
enum { DB_SV_FORM, DB_SV_FIELD, DB_SV_LABEL, DB_SV_VALUE };
/* The form values saved for a call, by form, orden, field. */
int db_call_survey(db_conn_t *c, bool incoming, long long call_id, db_rows_t *out);
enum { DB_FL_TYPE, DB_FL_VALUE };
/* Field `field` of form `form` (0 or 1 row: tipo, value); *nfields = the form's field count. */
int db_form_field_get(db_conn_t *c, long long form, long long field, db_rows_t *out);
int db_form_field_count(db_conn_t *c, long long form, long long *nfields);

/* -- contacts (db_contacts.c) -- */

enum { DB_CT_ID, DB_CT_NAME, DB_CT_APELLIDO, DB_CT_TELEFONO, DB_CT_CEDULA };
/* Contacts with this phone number, by id. */
int db_contacts_by_phone(db_conn_t *c, const char *phone, db_rows_t *out);
int db_contact_exists(db_conn_t *c, long long id, bool *found);

/* -- the FastAGI scripts (db_agi.c) -- */

typedef struct db_agi_incoming {
    bool blocked;          /* the caller ID is on the active dont_call list */
    uint32_t campaign_id;  /* the queue's active incoming campaign now, 0 = none */
    uint32_t contact_id;   /* the lowest contact id with this phone, 0 = none */
    int ncontacts;         /* how many contacts have this phone */
} db_agi_incoming_t;
/* What the incoming script needs for a caller ID arriving at queue (either may be ""). */
int db_agi_incoming(db_conn_t *c, const char *callerid, const char *queue, db_agi_incoming_t *out);

typedef struct db_agi_campaign {
    bool found;              /* the campaign has a ccd_campaign_agi row */
    bool machine_message;    /* machine_action = 'message' */
    char machine_msg[129];   /* "" = NULL */
    char abandon_msg[129];   /* "" = NULL */
} db_agi_campaign_t;
/* The outgoing campaign's FastAGI settings (ccd_campaign_agi); found false without a row. */
int db_agi_campaign(db_conn_t *c, uint32_t id_campaign, db_agi_campaign_t *out);

typedef enum db_agi_pin {
    DB_AGI_PIN_UNKNOWN = 0, /* no active Agent/<number> row */
    DB_AGI_PIN_BAD,         /* the row's password is not the PIN (or is empty) */
    DB_AGI_PIN_OK,
} db_agi_pin_e;
/* agentlogin: checks pin against agent.password (the phone PIN of an app_agent_pool agent)
 * of the active agent row of type Agent and this number. */
int db_agi_agent_pin(db_conn_t *c, const char *number, const char *pin, db_agi_pin_e *out);

/* -- schedulecall's checks (db_calls.c); the write itself goes through the writer -- */

typedef struct db_schedule_req {
    long long call_id;      /* the call named by the console, 0 = none */
    long long current_call; /* the agent's current outgoing call, 0 = none */
    bool has_window;        /* date_init..time_end given (dates ordered) */
    char window[4][11];     /* date_init, date_end, time_init, time_end */
    const char *agent;      /* the agent scheduling it (for logs) */
    bool same_agent;        /* calls.agent = agent */
    const char *newphone;   /* NULL: the call's phone */
    const char *contact_name; /* "Nombre agendado" attribute, NULL = null */
} db_schedule_req_t;
typedef enum {
    DB_SCHED_OK = 0,
    DB_SCHED_NO_CALL,        /* neither call exists as an outgoing campaign call */
    DB_SCHED_DATE_RANGE,     /* window dates outside the campaign's */
    DB_SCHED_TIME_RANGE,     /* window times outside the campaign's */
    DB_SCHED_DUPLICATE,      /* the same number already scheduled in that window */
} db_schedule_result_e;
struct db_write;
/*
 * Reads what a scheduled copy of a call needs (the call, its campaign's window, duplicates,
 * its attributes with "Nombre agendado" first) and, on DB_SCHED_OK, fills *out with a
 * DB_W_CALL_SCHEDULE write (shard = the source call) for the caller to submit.  0 with
 * *result, or a code.
 */
int db_call_schedule_prepare(db_conn_t *c, const db_schedule_req_t *req,
                             db_schedule_result_e *result, struct db_write **out);

/* ------------------------------------------------------------------ */
/* Number selection and crash recovery                                 */
/* ------------------------------------------------------------------ */

#define DB_CLAIM_MAX 1000 /* most numbers one claim hands out */

/*
 * Where the previous claim stopped in each (list, retries) level, so the next
 * claim's index scan starts after it instead of re-walking the entries earlier
 * claims just changed (InnoDB keeps them, delete-marked, until its purge runs,
 * and back-to-back claims would otherwise slow down as they pile up).  A level
 * that runs dry resets to the start, so numbers released behind the cursor
 * are found on the next pass.  One per campaign, owned by the caller (the
 * dialer), zero-initialised; optional.
 */
#define DB_CLAIM_CURSOR_SLOTS 64
typedef struct db_claim_cursor {
    struct {
        uint32_t id_list, retries, after_id;
    } slot[DB_CLAIM_CURSOR_SLOTS];
    int n;
} db_claim_cursor_t;

typedef struct db_claim_req {
    uint32_t id_campaign;
    int n;                  /* how many numbers are wanted (1..DB_CLAIM_MAX) */
    const char *owner;      /* engine instance id (db_instance_id) */
    uint32_t max_retries;   /* campaign.retries: numbers with retries >= this are done */
    const char *callerid;   /* written to calls.callerid when mark_placing; NULL keeps it */
    bool mark_placing;      /* also write Issabel's Placing state on the claimed rows */
    bool log_progress;      /* and insert their 'Placing' call_progress_log rows in the same
                               transaction (else the dialer sends them through the writer) */
    db_claim_cursor_t *cursor; /* optional, see above */
    /* Optional (zero = off).  now: the time every window, back-off and block is checked at
     * (Unix seconds; 0 = the server's NOW()).  agent: hand out only the numbers scheduled for
     * this agent (calls.agent, "same agent" callbacks) instead of the unscheduled ones.
     * abandoned_block_s: a number whose last attempt ended Abandoned less than this ago is
     * not handed out ([dialer] abandoned_redial_block_h). */
    time_t now;
    const char *agent;
    int abandoned_block_s;
} db_claim_req_t;

typedef struct db_claimed_call {
    uint32_t id;
    uint32_t id_list;
    char phone[33];
    uint32_t retries;     /* after the increment when mark_placing */
    char agent[33];       /* calls.agent (scheduled for this agent) or "" */
    bool windowed;        /* had its own date/time window (scheduled call) */
    char tz[65];          /* ccd_tz or "" */
} db_claimed_call_t;

/*
 * Hands out up to req->n numbers of the campaign to dial now, at most one
 * per phone number, in Issabel's order (numbers with a due window first,
 * then by retries, id).  Eligible: status NULL or a finished-unsuccessful
 * one, dnc=0, agent NULL, retries < max_retries, not claimed, back-off
 * (ccd_next_attempt) passed, its own window (date/time_init..end) open when
 * it has one, and the campaign's daily window open in the number's time
 * zone (ccd_tz) when it has one.  Numbers on the active dont_call list are
 * marked dnc=1 and skipped.  Returns 0 with *nout rows in out (max entries),
 * or CCD_EIO (the transaction was rolled back; nothing was claimed).
 */
int db_claim_numbers(db_conn_t *c, const db_claim_req_t *req, db_claimed_call_t *out, int max,
                     int *nout);

/* The agents (calls.agent, "Agent/9000") having at least one number of campaign camp (its
 * id, retries and daily window, as db_load_active_campaigns_at gives them) scheduled
 * for them that db_claim_numbers would hand out for them at now (0 = the server's clock): its
 * own window open, eligible status, dnc 0, retries < max_retries, not claimed, past its
 * back-off, not within abandoned_block_s of an abandoned attempt, inside the campaign's daily
 * window in its zone.  *out is a malloc'd array of *n names (free()).  0, CCD_EINVAL
 * (abandoned_block_s < 0), CCD_ENOMEM or CCD_EIO. */
typedef struct db_agent_name {
    char name[33];
} db_agent_name_t;
int db_callbacks_due(db_conn_t *c, const db_campaign_t *camp, int abandoned_block_s, time_t now,
                     db_agent_name_t **out, size_t *n);

/* How many numbers of the campaign are not finished: dialable later (retries left, dnc 0,
 * whatever their window or back-off) or still in flight in the database (Placing, Ringing,
 * OnQueue, OnHold).  0 means the campaign has nothing left to dial.  0 or CCD_EIO. */
int db_campaign_remaining(db_conn_t *c, uint32_t id_campaign, uint32_t max_retries,
                          uint64_t *n);

/* The server's clock (Unix seconds), as NOW() sees it. */
int db_server_now(db_conn_t *c, time_t *out);

/*
 * For a claim whose outcome is unknown (its connection was lost around the COMMIT): the
 * campaign's rows claimed by owner at or after since (the server's time before that claim)
 * and still Placing, except the ids in keep (the calls the caller did place), are the lost
 * claim's: they become Failure 'ccd-not-placed' with their claim released, so they are
 * dialed again under the retry rules instead of staying claimed by a live engine.  Only
 * rows still in that state change.  *nreleased may be NULL.  0 or CCD_EIO.
 */
int db_claims_release_orphans(db_conn_t *c, uint32_t id_campaign, const char *owner, time_t since,
                              const uint32_t *keep, int nkeep, int *nreleased);

/* Retry back-off for a number that has had `retries` attempts: base_s doubled per attempt
 * after the first, capped at max_s (0 = no cap); 0 when base_s <= 0 or retries == 0. */
int64_t db_retry_delay_s(int base_s, int max_s, uint32_t retries);

/* Gives back one claimed number without dialing it (status untouched). */
int db_claim_release(db_conn_t *c, uint32_t id_call, const char *owner);

/* Registers/refreshes this engine instance's heartbeat in ccd_engine. */
int db_engine_heartbeat(db_conn_t *c, const char *owner);

/*
 * Releases claims whose owner's heartbeat is older than lease_s or whose
 * owner is not registered (a restarted engine has a new id, so its previous
 * incarnation's claims are released this way too).  Rows left in flight
 * (Placing/Ringing/OnQueue) become Failure with failure_cause_txt
 * 'ccd-recovered', so they are retried under the normal retry rules;
 * Success/OnHold rows without end_time get end_time = NOW().  Stale owners'
 * rows in ccd_engine and ccd_write_batch are deleted.  *nreleased may be NULL.
 */
int db_claims_recover(db_conn_t *c, int lease_s, int *nreleased);

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

typedef enum db_write_kind {
    DB_W_CALL_UPDATE = 1,   /* calls (outgoing) row by id: fields chosen by a mask */
    DB_W_PROGRESS_LOG,      /* call_progress_log insert */
    DB_W_AUDIT_OPEN,        /* audit insert (session when id_break = 0, else break/hold) */
    DB_W_AUDIT_CLOSE,       /* closes the open audit row(s) of (agent, break) */
    DB_W_CURRENT_CALL_ADD,  /* current_calls insert */
    DB_W_CURRENT_CALL_DEL,  /* current_calls delete by id_call */
    DB_W_CALL_ENTRY_ADD,    /* call_entry (incoming) insert */
    DB_W_CALL_ENTRY_UPDATE, /* call_entry update by uniqueid */
    DB_W_RECORDING_ADD,     /* call_recording insert */
    DB_W_CAMPAIGN_UPDATE,   /* campaign estatus and/or running stats */
    DB_W_CALL_ENTRY_CONTACT, /* call_entry.id_contact by id (setcontact) */
    DB_W_FORM_VALUE,        /* one saved form value of a call: update, else insert (saveformdata) */
    DB_W_CALL_SCHEDULE,     /* a scheduled copy of a call: calls + call_attribute + form values
                               (schedulecall); the new calls.id comes back in the reply */
    /* Incoming calls keyed by uniqueid, resolved in SQL to the newest call_entry row with
     * it, so they need not wait for the row's id (all in CALL_ENTRY_ADD's family: they
     * run after the insert they follow) */
    DB_W_PROGRESS_LOG_ENTRY,     /* call_progress_log insert of an incoming call (u.progress:
                                    id_call_incoming and id_campaign_incoming from the row) */
    DB_W_CURRENT_CALL_ENTRY_ADD, /* current_call_entry insert (u.current_entry) */
    DB_W_CURRENT_CALL_ENTRY_DEL, /* current_call_entry delete by uniqueid (u.current_entry) */
    DB_W_PACER_STATE,            /* ccd_pacer_state insert, else update (u.pacer) */
    DB_W_CAMPAIGN_COMPLETED,     /* a completed call added to ccd_campaign_stats, and campaign's
                                    num_completadas/promedio/desviacion set from the sums
                                    (u.completed) */
    DB_W_KIND_MAX
} db_write_kind_e;

/* DB_W_CALL_UPDATE field mask */
enum {
    DB_CALL_F_STATUS = 1u << 0,
    DB_CALL_F_UNIQUEID = 1u << 1,
    DB_CALL_F_FECHA_LLAMADA = 1u << 2,
    DB_CALL_F_START_TIME = 1u << 3,
    DB_CALL_F_END_TIME = 1u << 4,
    DB_CALL_F_DURATION = 1u << 5,
    DB_CALL_F_ID_AGENT = 1u << 6,
    DB_CALL_F_TRANSFER = 1u << 7,
    DB_CALL_F_ENTRY_QUEUE = 1u << 8,
    DB_CALL_F_DURATION_WAIT = 1u << 9,
    DB_CALL_F_FAILURE_CAUSE = 1u << 10, /* failure_cause and failure_cause_txt */
    DB_CALL_F_TRUNK = 1u << 11,
    DB_CALL_F_NEXT_ATTEMPT = 1u << 12, /* ccd_next_attempt = NOW() + next_attempt_delay_s */
    DB_CALL_F_RELEASE = 1u << 13,      /* clears ccd_claim_owner/time */
    DB_CALL_F_DNC = 1u << 14,
};

/*
 * A call's last write normally carries DB_CALL_F_RELEASE (the number is no longer
 * in flight) and, for an unsuccessful attempt, DB_CALL_F_NEXT_ATTEMPT with
 * next_attempt_delay_s = db_retry_delay_s(...), so the number comes back to the
 * claim queue after its back-off.
 * Times are Unix seconds written as server-local DATETIME; 0 means NULL.
 */
typedef struct db_w_call {
    uint32_t id_call;
    uint32_t set;               /* DB_CALL_F_* */
    char status[33];            /* "" writes NULL */
    char uniqueid[33];
    time_t fecha_llamada, start_time, end_time, datetime_entry_queue;
    int64_t duration, duration_wait; /* < 0 writes NULL */
    uint32_t id_agent;          /* 0 writes NULL */
    char transfer[7];
    int64_t failure_cause;      /* < 0 writes NULL */
    char failure_cause_txt[33];
    char trunk[21];
    int32_t next_attempt_delay_s;
    int32_t dnc;
} db_w_call_t;

typedef struct db_w_progress {
    time_t datetime_entry;
    uint32_t id_campaign_incoming, id_call_incoming;  /* 0 = NULL */
    uint32_t id_campaign_outgoing, id_call_outgoing;  /* 0 = NULL */
    char new_status[33];
    int64_t retry;          /* < 0 = NULL */
    char uniqueid[33];
    char trunk[21];
    uint32_t id_agent;      /* 0 = NULL */
    int64_t duration;       /* < 0 = NULL */
} db_w_progress_t;

typedef struct db_w_audit {
    uint32_t id_agent;
    uint32_t id_break;      /* 0 = NULL: the login session row */
    time_t when;            /* datetime_init (open) or datetime_end (close) */
    char ext_parked[11];    /* open only; "" = NULL */
} db_w_audit_t;

typedef struct db_w_current_call {
    uint32_t id_call;
    time_t fecha_inicio;
    char uniqueid[33];
    char queue[17];
    char agentnum[17];
    char event[33];
    char channel[33];
    char channel_client[33];
} db_w_current_call_t;

typedef struct db_w_call_entry {
    /* add: every field; update: uniqueid is the key, set chooses the rest.  Add is a
     * compound write: with match_contact and id_contact 0, id_contact is the one contact
     * whose telefono is callerid (NULL when none or several match); the new
     * call_entry.id is left in new_id (reply, if set, gets the write back). */
    char uniqueid[33];
    bool match_contact;
    uint64_t new_id;
    uint32_t set; /* update: DB_CALL_F_STATUS | ID_AGENT | START_TIME(=datetime_init) |
                     END_TIME(=datetime_end) | DURATION | DURATION_WAIT | TRANSFER */
    uint32_t id_agent;            /* 0 = NULL */
    uint32_t id_queue_call_entry;
    uint32_t id_contact;          /* 0 = NULL */
    uint32_t id_campaign;         /* 0 = NULL */
    char callerid[16];
    char status[33];
    char transfer[7];
    char trunk[21];
    time_t datetime_init, datetime_end, datetime_entry_queue;
    int64_t duration, duration_wait; /* < 0 = NULL */
} db_w_call_entry_t;

typedef struct db_w_current_entry {
    char uniqueid[33];            /* the call_entry row's (newest with it) */
    uint32_t id_agent;
    time_t datetime_init;         /* 0 = now */
    char channel_client[33];      /* the caller's channel, "" = NULL */
} db_w_current_entry_t;

typedef struct db_w_recording {
    time_t datetime_entry;
    uint32_t id_call_incoming, id_call_outgoing; /* 0 = NULL */
    char uniqueid[33];
    char channel[81];
    char recordingfile[256];
} db_w_recording_t;

typedef struct db_w_campaign {
    uint32_t id_campaign;
    char estatus;                /* 0 = unchanged */
} db_w_campaign_t;

typedef struct db_w_completed {
    uint32_t id_campaign;
    uint32_t duration_s;         /* the call's talk */
} db_w_completed_t;

/* Probabilities in parts per million (0..1000000). */
typedef struct db_w_pacer {
    uint32_t id_campaign;
    uint32_t allowance_ppm, abandon_target_ppm;
    time_t updated;              /* 0 = now */
    char *estimates;             /* malloc'd, freed with the write; NULL = the row's stays */
} db_w_pacer_t;

typedef struct db_w_contact {
    uint32_t id_call_entry;
    uint32_t id_contact;
} db_w_contact_t;

typedef struct db_w_form_value {
    bool incoming;         /* form_data_recolected_entry (call_entry) or form_data_recolected */
    uint32_t id_call;
    uint32_t id_field;
    char value[251];
} db_w_form_value_t;

typedef struct db_w_schedule {
    uint32_t id_list;
    uint32_t from_call;    /* its form values are copied to the new call */
    char phone[256];
    bool has_window;
    char window[4][11];    /* date_init, date_end, time_init, time_end */
    char agent[64];        /* calls.agent, "" = NULL */
    char *attrs;           /* call_attribute.data, malloc'd; freed with the write */
    uint64_t new_id;       /* set by the writer: the new calls.id */
} db_w_schedule_t;

typedef struct db_write {
    mq_msg_t msg;          /* type MSG_DB_WRITE; free = the write and what it owns */
    db_write_kind_e kind;
    uint32_t shard;        /* routing key with several writers: writes with equal keys keep order */
    int64_t submit_us;     /* set by db_write_submit (latency accounting) */
    /* Optional: instead of being freed, the finished write is force-pushed here with type
     * MSG_DB_WRITE_DONE and status 0 (committed), CCD_EIO (refused by the server, logged) or
     * CCD_ECLOSED (not committed: the database stayed away past db_stop's drain time).  The
     * receiver frees it (msg.free).  For writes that produce a result (DB_W_CALL_SCHEDULE). */
    mq_t *reply;
    int status;
    union {
        db_w_call_t call;
        db_w_progress_t progress;
        db_w_audit_t audit;
        db_w_current_call_t current;
        db_w_call_entry_t entry;
        db_w_current_entry_t current_entry;
        db_w_recording_t recording;
        db_w_campaign_t campaign;
        db_w_contact_t contact;
        db_w_form_value_t form_value;
        db_w_schedule_t schedule;
        db_w_pacer_t pacer;
        db_w_completed_t completed;
    } u;
} db_write_t;

/* A zeroed write of the given kind (shard 0); NULL on ENOMEM.  Numeric "NULL
 * means < 0" fields are preset to -1. */
db_write_t *db_write_new(db_write_kind_e kind);

/* 0 (the writer owns w), CCD_EFULL (queue full: caller keeps w) or CCD_ECLOSED. */
int db_write_submit(db_t *db, db_write_t *w);
/* As db_write_submit, ignoring the bound (for writes about calls already placed). */
int db_write_submit_force(db_t *db, db_write_t *w);

/* True while the dialer must place no new calls (see DESIGN). */
bool db_writes_backpressured(db_t *db);

/* Blocks until every write submitted before the call has committed, or timeout_ms
 * passes (< 0: forever).  0 or CCD_ETIMEDOUT.  For tests and orderly shutdown. */
int db_write_flush(db_t *db, int timeout_ms);

typedef struct db_stats {
    size_t write_queue_depth;       /* summed over writers */
    size_t write_queue_high_water;
    uint64_t write_rejected_full;   /* CCD_EFULL returned to producers */
    uint64_t writes_submitted;
    uint64_t rows_committed;
    uint64_t batches_committed;
    uint64_t batches_deduplicated;  /* retried batches found already committed */
    uint64_t retries;               /* transaction retries (deadlock, timeout, lost conn) */
    uint64_t reconnects;
    uint64_t rows_rejected;         /* rows the server refused permanently (logged) */
    uint64_t statements;            /* SQL statements the writers sent, the batch markers
                                     * included (a bulk execution counts one; the transaction's
                                     * START and COMMIT are not counted) */
    uint64_t latency_us_sum;        /* submit -> commit, summed over committed rows */
    uint64_t latency_us_max;
    uint64_t reads_done;
    uint64_t reads_failed;
    bool backpressured;
    bool writer_connected;
    /* The fair read queue: jobs queued now (both lanes) and the most ever, and the
     * submits refused by each bound (db_read_submit's CCD_EFULL). */
    size_t read_queue_depth;
    size_t read_queue_high_water;
    uint64_t reads_refused_total, reads_refused_client, reads_refused_address;
    int64_t heartbeat_ms;           /* oldest writer's last sign of life (clk_mono_ms); 0 = none yet */
} db_stats_t;
void db_get_stats(db_t *db, db_stats_t *out);

#endif
