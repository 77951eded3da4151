/*
 * journal: the call journal, the one writer of call and agent history.
 *
 * DESIGN
 * - One thread (jnl_start) subscribes to every registry change with
 *   REG_SUB_LOSSLESS and turns each into database writes: for outgoing calls
 *   (type OUTGOING with db_call_id != 0) the `calls` row, `call_progress_log`
 *   rows, `current_calls` and the campaign's statistics; for agents the
 *   `audit` rows of sessions, breaks and holds.  Nothing else in the engine
 *   writes call history.
 * - It never waits on SQL: every write goes to db's durable writer with
 *   db_write_submit_force (these are about calls already placed and agents
 *   already logged in; the dialer stops placing calls under back-pressure),
 *   and what it must read (a campaign's row, the Hold break's id) comes back
 *   from db read jobs as messages in its own queue.
 * - It must not lose a change: the registry force-pushes changes to it (never
 *   dropped), and it keeps, per call and per agent, what it has written, so a
 *   change that skips states (several registry updates in one transaction,
 *   late events that move a finished call up: NoAnswer -> Abandoned -> Hangup)
 *   still produces the rows of every step.  See docs/journal.md.
 * - Incoming calls (call_entry, current_call_entry) are not written yet: they
 *   arrive at jnl__incoming (journal/jnl_int.h), the extension point.
 * - Lifecycle, all from one controlling thread: jnl_new subscribes to the
 *   registry, so it runs before reg_start; jnl_start starts the thread;
 *   jnl_stop runs after reg_stop (so every change the registry applied is in
 *   the queue), writes everything queued, releases the claims of finished
 *   calls, then joins; the database stops after it.  jnl_free frees.
 */
#ifndef CCD_JOURNAL_JOURNAL_H
#define CCD_JOURNAL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "db/db.h"
#include "reg/reg.h"

typedef struct jnl jnl_t;

/*
 * The journal's way to the database.  The defaults (jnl_new with a db) are
 * db_write_submit_force, db_read_submit, db_load_campaign and db_load_breaks; tests
 * and benchmarks give their own (a fake writer, reads answered from memory).  write
 * owns w on 0; read owns job on 0 and later pushes it to job->reply (a read run
 * function calls load_campaign / load_breaks with the reader's connection).
 */
typedef struct jnl_db_ops {
    void *ctx;
    int (*write)(void *ctx, db_write_t *w);
    int (*read)(void *ctx, db_read_job_t *job);
    int (*load_campaign)(void *ctx, db_conn_t *c, uint32_t id, db_campaign_t *out, bool *found);
    int (*load_breaks)(void *ctx, db_conn_t *c, db_break_t **out, size_t *n);
} jnl_db_ops_t;

/*
 * Creates the journal and subscribes it to reg (before reg_start).  cf: [dialer]
 * retry_backoff_s (back-off of campaigns without their own) and short_call_s.  db may
 * be NULL when jnl_set_db_ops follows.  NULL with the reason in err on failure.
 */
jnl_t *jnl_new(const conf_t *cf, reg_t *reg, db_t *db, char *err, size_t errlen);
/* Replaces the database operations; before jnl_start. */
void jnl_set_db_ops(jnl_t *j, const jnl_db_ops_t *ops);
/* Starts the journal thread (it asks for the Hold break first).  0, CCD_EBUSY or CCD_ERR. */
int jnl_start(jnl_t *j);
/*
 * Leaves the registry, handles every change already queued, releases the claims
 * of finished calls still waiting for late events, waits (bounded) for its read
 * jobs to come back, and joins.  Call after reg_stop and before db_stop.  A no-op
 * when not running.
 */
void jnl_stop(jnl_t *j);
/* Stops if needed, unsubscribes and frees. NULL is a no-op. */
void jnl_free(jnl_t *j);

/* Reads the breaks again (after refreshagents: the Hold break may have changed). Any thread.
 * 0 or CCD_ENOMEM / CCD_ECLOSED. */
int jnl_reload_breaks(jnl_t *j);

/*
 * Blocks until everything queued to the journal before the call has been handled
 * (its writes submitted), or timeout_ms passes (< 0: forever).  0 or CCD_ETIMEDOUT
 * (CCD_ECLOSED when not running).  For tests, benchmarks and orderly shutdown.
 */
int jnl_sync(jnl_t *j, int timeout_ms);

typedef struct jnl_stats {
    uint64_t changes;          /* registry changes handled */
    uint64_t writes;           /* writes submitted */
    uint64_t writes_failed;    /* refused by the writer (closed): logged */
    uint64_t calls_tracked;    /* outgoing calls followed now */
    uint64_t incoming_ignored; /* incoming call changes handled (jnl_incoming.c) */
    uint64_t audit_skipped;    /* agent rows that could not be written (no agent id, no Hold break) */
    uint64_t reads_failed;     /* read jobs answered with an error (retried) */
    uint64_t reads_out;        /* read jobs submitted and not answered yet */
    size_t backlog;            /* changes queued, not handled yet */
    size_t backlog_high_water;
    uint64_t lag_us_max;       /* change applied in the registry -> its writes submitted */
    uint64_t lag_us_sum;
    int64_t heartbeat_ms;      /* clk_mono_ms() of the thread's last turn; 0 before start */
} jnl_stats_t;
void jnl_get_stats(jnl_t *j, jnl_stats_t *out);
/* The lag (µs) under which a fraction q (0..1) of the changes handled so far were
 * written, from a log-scale histogram (within 1/8 of the value); 0 when none. */
uint64_t jnl_lag_quantile_us(jnl_t *j, double q);

#endif
