/*
 * pbxsim: an AMI server that behaves like the Asterisk 22 recorded in
 * test/data/asterisk/transcripts, for tests, the demo and benchmarks.
 *
 * DESIGN
 * - One server thread owns every piece of simulated state (channels, queues,
 *   agents, connections, the virtual clock and its timers).  It runs a poll
 *   loop over the listening socket, the AMI connections, FastAGI sockets and
 *   a wake eventfd.
 * - Control functions below may be called from any thread: they post a
 *   command to the server thread (mutex-protected inbox + eventfd) and wait
 *   until it has been carried out, so when they return the effect is done.
 * - Inspection: the server thread publishes a pbxsim_state_t snapshot under
 *   a mutex after every loop turn; pbxsim_state() copies it and
 *   pbxsim_wait() blocks on a condition variable until a predicate holds.
 * - Time: simulated durations (ring, talk, agent probation, originate
 *   timeouts, queue member ring timeout) run on a virtual clock that advances
 *   time_scale times faster than the monotonic clock, so tests with
 *   time_scale = 20 see a 5 s agent probation after 250 ms.
 * - Deterministic for a given seed: one PRNG, used only by the server thread,
 *   in the order actions arrive.
 */
#ifndef CCD_TOOLS_PBXSIM_H
#define CCD_TOOLS_PBXSIM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct pbxsim pbxsim_t;

/* A duration distribution in virtual milliseconds: uniform in [min_ms, max_ms]
 * (min_ms == max_ms gives a fixed value). */
typedef struct pbxsim_dist {
    uint32_t min_ms;
    uint32_t max_ms;
} pbxsim_dist_t;

typedef struct pbxsim_opts {
    uint16_t port;            /* 0 = ephemeral (default) */
    uint64_t seed;            /* PRNG seed (0 is a valid seed) */
    const char *username;     /* NULL = "admin" */
    const char *secret;       /* NULL = "amp111" */
    const char *systemname;   /* NULL = "testpbx" */
    double time_scale;        /* virtual ms per real ms; <= 0 means 1.0 */
    uint32_t auth_fail_delay_ms; /* real ms before "Authentication failed"; 0 = immediate.
                                    Use PBXSIM_AUTH_DELAY_DEFAULT for Asterisk's ~1 s. */
    /* Numbers outside the dialplan's fixed ranges (5XXX, 6XXX, ...). */
    double answer_rate;       /* probability of answer in [0,1]; < 0 means 0.7 */
    double busy_rate;         /* of the unanswered: probability of busy vs no answer; < 0 means 0.3 */
    pbxsim_dist_t ring;       /* time before answer; all zero = 1000..5000 */
    pbxsim_dist_t talk;       /* time talking before the callee hangs up; all zero = 5000..60000 */
    uint32_t agent_login_wait_ms; /* virtual ms of app_agent_pool probation; 0 = 5000 */
    const char *fastagi_host; /* FastAGI server for context dialer-agi; NULL = "127.0.0.1" */
    uint16_t fastagi_port;    /* 0 = 4573 */
    uint32_t max_connections; /* AMI connections accepted at once; 0 = 256 */
    bool quiet_noise;         /* true: omit VarSet/Newexten/NewCallerid/... noise events */
    uint32_t shutdown_ms;     /* virtual ms from a restart to the close of every connection; Shutdown
                                 comes 100 ms before.  Meanwhile every action is answered "Asterisk is
                                 shutting down" (Asterisk: ~1200).  0 = 1200 */
    /* Wrap-up after a queue call, virtual seconds (0 = none, as conf/queues.conf): no queue
     * call is offered to the member until LastCall + wrap-up.  wrapup_s is every member's own
     * (queues.conf `member => ...,wrapuptime`, Asterisk 16+), reported as its Wrapuptime;
     * queue_wrapup_s is the queues' `wrapuptime`, which applies where the member's is 0 and,
     * as in Asterisk, is not reported (Wrapuptime stays 0). */
    uint32_t wrapup_s;
    uint32_t queue_wrapup_s;
    uint32_t agents;          /* app_agent_pool agents (agents.conf), all static members of queue
                                 8000; 0 = 5, at most PBXSIM_AGENTS_MAX */
    uint32_t agent_base;      /* number of the first agent (the others follow); 0 = 9000 */
} pbxsim_opts_t;

#define PBXSIM_AGENTS_MAX 10000u

#define PBXSIM_AUTH_DELAY_DEFAULT 1000u

/* Fills opts with the defaults described above (ephemeral port, seed 1, ...). */
void pbxsim_opts_default(pbxsim_opts_t *opts);

/*
 * Starts a simulator listening on 127.0.0.1 (opts may be NULL for defaults).
 * The strings in opts are copied.  Returns NULL (and logs why) when the
 * socket cannot be bound or a thread cannot be started.
 */
pbxsim_t *pbxsim_start(const pbxsim_opts_t *opts);

/* The TCP port it listens on (useful with port 0). */
uint16_t pbxsim_port(pbxsim_t *sim);

/* Stops the thread, closes every socket, frees everything.  NULL is a no-op. */
void pbxsim_stop(pbxsim_t *sim);

/* Closes every AMI connection at once (no Shutdown event), as a network cut. */
int pbxsim_drop_connections(pbxsim_t *sim);

/*
 * Simulates `core restart now`: SoftHangupRequest on every channel,
 * AgentComplete/AgentLogoff/QueueMemberStatus 5, Hangups, then the Shutdown
 * event, then every socket closes.  Afterwards: a new CoreStartupTime, no
 * channels, every agent logged off, dynamic members kept as configured.
 */
int pbxsim_restart(pbxsim_t *sim);

/* The next action named action_name (case-insensitive) gets no response at all
 * (its side effects still happen).  NULL clears it. */
int pbxsim_set_swallow_next(pbxsim_t *sim, const char *action_name);

/* Emits nevents realistic events (a queue-call mix, VarSet noise included) as
 * fast as the sockets take them, to every logged-in connection.  Returns at
 * once; pbxsim_state().flood_pending counts what is left. */
int pbxsim_flood(pbxsim_t *sim, uint64_t nevents);

/* Snapshot of the simulated PBX, published by the server thread. */
typedef struct pbxsim_state {
    uint32_t channels;          /* live channels (each Local leg counts) */
    uint32_t agents_logged_in;  /* app_agent_pool agents logged in */
    uint32_t agents_available;  /* logged in, past probation, not on a call */
    uint32_t queue_callers;     /* callers waiting in any queue */
    uint32_t connections;       /* AMI connections open */
    uint32_t logged_in_conns;   /* of which authenticated */
    uint64_t actions;           /* actions received since start */
    uint64_t events_sent;       /* event messages written (all connections summed) */
    uint64_t originates;        /* Originate actions accepted */
    uint64_t flood_pending;     /* flood events not yet emitted */
    uint64_t restarts;
    int64_t startup_time;       /* CoreStartupTime, epoch seconds */
    int64_t virtual_ms;         /* virtual clock */
    bool shutting_down;         /* inside a restart's shutdown window */
} pbxsim_state_t;

void pbxsim_state(pbxsim_t *sim, pbxsim_state_t *out);

/* Waits until pred(state, ctx) returns true or timeout_ms (real) passes.
 * Returns 0 or CCD_ETIMEDOUT. */
int pbxsim_wait(pbxsim_t *sim, bool (*pred)(const pbxsim_state_t *st, void *ctx), void *ctx,
                int timeout_ms);

/*
 * The same controls over the wire (after login), so the binary can be driven:
 *   Action: PbxsimRestart
 *   Action: PbxsimDrop                   (closes every connection, this one too)
 *   Action: PbxsimSwallow / Name: <action>
 *   Action: PbxsimFlood / Count: <n>
 *   Action: PbxsimState                  (response carries the state fields)
 */

#endif
