/*
 * eccp: the ECCP server (TCP 20005), wire-compatible with Issabel's dialerd.
 *
 * DESIGN
 * - One acceptor thread accepts, applies the IP allow-list and the session
 *   cap, and hands each socket to the least loaded of N session workers (the
 *   one with the fewest open sessions) through the worker's mq (whose
 *   eventfd wakes the worker's epoll).
 * - A session worker owns its sessions outright (sockets, buffers, login
 *   state): nothing else ever touches them, so sessions need no lock.  It
 *   multiplexes thousands of them with one epoll set.
 * - Requests that need only session or registry state are answered on the
 *   worker (registry reads are copies taken under the registry's read lock).
 *   Requests that need the database become read jobs submitted through
 *   deps.db_submit; the finished job comes back on the worker's mq and the
 *   response is written then, so responses may be out of order (matched by
 *   id, as with Issabel).  A worker never blocks on SQL or Asterisk.
 * - Each worker subscribes its mq to registry changes and turns them into
 *   ECCP events for its own logged-in sessions (agent filter, callprogress
 *   flag).  Events the registry cannot express (recording mute, scheduled
 *   call start/failure) are published with eccp_server_publish().
 *   agentlinked/agentunlinked/callprogress carry database data (customer data,
 *   the call_progress_log row id): a read job each, the event sent when it
 *   comes back (or without that data at deps.event_wait_ms, or at once when the
 *   database is away); a session's later events wait behind it, so every
 *   session receives its events in order.
 * - Slow readers: each session's output is bounded (conf max_output_bytes);
 *   a session over the bound is logged and disconnected, so no client can make
 *   the engine or other clients wait.  An event several lagging sessions must
 *   queue is kept once per worker and shared by reference.  A session whose
 *   queued output is above a low mark (min(64 KiB, max_output_bytes/4)) is not
 *   read and its buffered requests are not dispatched until it drains, so
 *   cheap requests with big answers cannot grow its queue past the mark plus
 *   one answer.
 */
#ifndef CCD_ECCP_ECCP_H
#define CCD_ECCP_ECCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/mq.h"
#include "db/db.h"
#include "reg/reg.h"

enum {
    MSG_ECCP_CONN = MSG_ECCP_BASE + 0,  /* internal: accepted socket for a worker */
    MSG_ECCP_JOB = MSG_ECCP_BASE + 1,   /* internal: unused (jobs return as MSG_DB_READ_DONE) */
    MSG_ECCP_EVENT = MSG_ECCP_BASE + 2, /* internal: a published event for a worker */
};

typedef struct eccp_server eccp_server_t;

typedef struct eccp_deps {
    reg_t *reg; /* required: agent/call state and change notifications */
    /*
     * Runs a read job on a database thread (production: a one-line wrapper
     * calling db_read_submit((db_t *)ctx, job)).  NULL = no database: requests that need it answer
     * 500 "Server error - database failure".  Same ownership rules as
     * db_read_submit: 0 means the job will come back on job->reply.
     */
    int (*db_submit)(void *ctx, db_read_job_t *job);
    void *db_ctx;
    /*
     * The database's durable writer: transfer records (db_write_submit_force)
     * and the console writes (setcontact, saveformdata, schedulecall: answered
     * success once db_write_submit accepted them, 503 when its queue is full).
     * NULL = transfer records go through db_submit as a best-effort read job
     * (lost, and logged, when the database is away) and the console writes
     * answer 500: tests without a database.
     */
    db_t *db;
    /*
     * Optional login check used instead of eccp_authorized_clients (benchmarks
     * and tests without a database).  Runs on a session worker: must not block.
     * Returns true when the user/password pair is accepted.
     */
    bool (*login_check)(void *ctx, const char *user, const char *password);
    void *login_ctx;
    /* The AMI client for getextensionstatus.  NULL = it answers 500 "No AMI connection". */
    struct ami *ami;
    /*
     * The agent service (agent/agent.h) that carries out loginagent, logoutagent,
     * pauseagent, unpauseagent, hold, unhold, hangup, the transfers, recording mute
     * and getchanvars.  NULL = those answer 500 "Agent service not available" after
     * validation (tests of other requests).
     */
    struct ags *ags;
    /* Idle timeout in ms overriding conf idle_timeout_s when > 0 (tests). */
    int idle_timeout_ms;
    /* Largest element depth accepted in a request (default 32). */
    int max_depth;
    /* SO_SNDBUF for session sockets when > 0 (tests: makes the kernel's share of a slow
     * client's backlog small; 0 = the kernel's own tuning, the production setting). */
    int sndbuf;
    /* How long an event that needs database data (agentlinked's customer data, the
     * call_progress_log row id of agentlinked/agentunlinked/callprogress) waits for it
     * before it is sent without it, in ms; 0 = ECCP_EVENT_WAIT_MS (2 s).  Tests shorten it. */
    int event_wait_ms;
} eccp_deps_t;

/*
 * Binds cfg->bind:cfg->port (port 0 = ephemeral, see eccp_server_port), creates
 * the workers and subscribes them to registry changes: call it before the
 * registry thread starts (reg_subscribe's rule).  cfg is trusted as conf/
 * validated it (tests fill it from conf_defaults).  NULL + err on failure.
 */
eccp_server_t *eccp_server_new(const conf_eccp_t *cfg, const eccp_deps_t *deps, char *err,
                               size_t errlen);
/* Starts the acceptor and worker threads. 0 or negative code. */
int eccp_server_start(eccp_server_t *s);
/*
 * Stops the threads, closes every session, waits (up to 30 s) for the database
 * and AMI answers still out, and unsubscribes the workers from the registry
 * (reg_unsubscribe's rule: the thread that controls the registry's lifecycle).
 * A no-op the second time.
 */
void eccp_server_stop(eccp_server_t *s);
/* Stops if needed and frees everything. NULL is a no-op. */
void eccp_server_free(eccp_server_t *s);
uint16_t eccp_server_port(const eccp_server_t *s);

typedef struct eccp_stats {
    uint64_t accepted, refused_acl, refused_full;
    uint64_t requests, responses, events_sent;
    uint64_t closed_idle, closed_slow, closed_bad;
    /* Events some sessions could not take at once are queued as one shared copy per
     * worker: copies made, and session references taken on them. */
    uint64_t out_chunks, out_chunk_refs;
    /* Input back-pressure: times a session stopped reading and dispatching because its
     * queued output was above the low mark (min(64 KiB, max_output_bytes/4)), and the
     * largest output queue any session has had (bytes, the kernel's share not counted). */
    uint64_t in_paused_out, out_queued_max;
    /* Requests answered 503 "Server busy" because the database's fair read queue refused
     * their job (the session's, its address's or the lane's bound). */
    uint64_t db_busy;
    /* Before login: connections refused (each told why: 503) by max_unauth_sessions,
     * max_unauth_per_address and max_sessions_per_address, and sessions closed because
     * they had not logged in within login_timeout. */
    uint64_t refused_unauth, refused_unauth_addr, refused_addr, closed_login_timeout;
    /* Failed logins (wrong name or password), those whose answer was delayed by the
     * throttle, and logins refused unchecked because the address or name was blocked. */
    uint64_t login_failed, login_delayed, login_blocked;
    int unauth_sessions; /* open now and not logged in yet */
    int sessions; /* open now */
    int worker_sessions_min, worker_sessions_max; /* the least and most loaded workers */
    /* Events that waited for database data (docs/eccp.md, Events): created, read jobs
     * submitted for them (a lookup repeated while the progress-log row is not written yet
     * counts again), those sent without their database part because the database was
     * away or refused the job, and those sent without the log row id because it was not
     * there by the deadline.  events_waiting: waiting now (all workers). */
    uint64_t events_deferred, events_db_jobs, events_db_failed, events_log_missing;
    int64_t events_waiting;
    /* For the latest registry change: microseconds from its commit to the last event
     * written to a session socket (max over workers). */
    int64_t fanout_last_us;
    /* ... from its commit until the slowest worker started on it (wake-up latency). */
    int64_t fanout_start_us;
    /* ... the longest time a worker spent on it (diff, build, every send). */
    int64_t fanout_busy_us;
    /* Sessions the latest change was written to (sum over workers), and how many of
     * them had part of it left queued (the kernel did not take it all at once). */
    int64_t fanout_sessions, fanout_queued;
    /* Registry changes every worker has finished (min over workers): a change is
     * fully written when this moves past the count seen before posting it. */
    uint64_t fanout_rounds;
    /* clk_mono_ms() of the least recent worker loop (workers wake at least every second
     * while alive); 0 before they run.  For the watchdog. */
    int64_t heartbeat_ms;
} eccp_stats_t;
void eccp_server_stats(eccp_server_t *s, eccp_stats_t *out);

/* Requests and <failure> answers per request name, for monitoring. */
typedef struct eccp_req_stat {
    const char *name; /* static; "unknown" for unknown names and malformed packets */
    uint64_t requests, errors;
} eccp_req_stat_t;
/* Fills out[0..max) and returns how many names there are (call with max 0 to size out). */
size_t eccp_server_req_stats(eccp_server_t *s, eccp_req_stat_t *out, size_t max);

/* ---- events the registry cannot express ---- */

typedef enum eccp_event_kind {
    ECCP_EV_RECORDINGMUTE = 0,
    ECCP_EV_RECORDINGUNMUTE,
    ECCP_EV_SCHEDULECALLSTART,
    ECCP_EV_SCHEDULECALLFAILED,
} eccp_event_kind_e;

typedef struct eccp_event {
    eccp_event_kind_e kind;
    char agent_number[REG_ID_LEN];
    bool incoming;        /* calltype */
    int64_t campaign_id;  /* 0 = omitted */
    int64_t call_id;
} eccp_event_t;

/* Sends ev to every worker (copied). 0, CCD_EFULL (some worker's inbox full) or CCD_ENOMEM. */
int eccp_server_publish(eccp_server_t *s, const eccp_event_t *ev);

/* Computes the agent_hash a client sends: lower-case hex MD5 of
 * cookie + agent_number + password into out[33].  Used by the CLI. */
void eccp_agent_hash(const char *cookie, const char *agent_number, const char *password,
                     char out[33]);

#endif
