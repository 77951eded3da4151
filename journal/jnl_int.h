/*
 * Internals shared by the journal's files.  Everything here is owned by the
 * journal thread (jnl_run) unless its comment says otherwise.
 */
#ifndef CCD_JOURNAL_JNL_INT_H
#define CCD_JOURNAL_JNL_INT_H

#include "journal/journal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "core/clock.h"
#include "core/hmap.h"
#include "core/lhist.h"
#include "core/mq.h"

enum {
    /* internal message types of the journal's queue */
    MSG_JNL_SYNC = MSG_JNL_BASE + 0,
    MSG_JNL_RELOAD_BREAKS = MSG_JNL_BASE + 1,
};

/* A campaign as the journal needs it: its retry back-off. */
typedef enum { JC_UNKNOWN = 0, JC_LOADING, JC_LOADED, JC_MISSING } jcamp_state_e;
typedef struct jcamp {
    uint32_t id;
    jcamp_state_e state;
    int64_t retry_at_ms;     /* a failed read is asked again from then (mono ms) */
    int backoff_s, backoff_max_s; /* -1: [dialer] retry_backoff_s */
} jcamp_t;

/* An outgoing call: what has been written for it so far. */
typedef struct jcall {
    uint64_t reg_id;
    uint32_t db_id;
    uint32_t campaign;
    char status[16];     /* calls.status as last written ("" = not yet) */
    char prog[16];       /* last call_progress_log new_status written */
    char final_prog[16]; /* the final progress name written, "" = not final yet */
    char uniqueid[33];
    char trunk[21];
    uint32_t id_agent;
    uint32_t retries;    /* calls.retries of this attempt (back-off at stop) */
    int failure_cause;
    bool dialing, ringing, queued, linked, on_hold; /* progress rows written */
    bool w_answer, w_queue, w_link, w_end, w_agent;  /* calls columns written */
    bool current;        /* current_calls row added and not deleted */
    bool counted;        /* in the campaign's statistics */
    bool released;       /* the claim is released */
    bool release_wait;   /* finished; the release waits for the campaign's back-off */
    bool gone;           /* the registry removed it; kept only for that release */
    bool lost_txt;       /* failure_cause_txt 'ccd-lost' written */
    uint32_t nrec;       /* the call's recordings (reg_call_t.nrecordings) written */
} jcall_t;

/* An agent: the audit rows open now. */
typedef struct jagent {
    char number[REG_ID_LEN];
    uint32_t db_id;
    bool session;        /* session row open */
    bool seen_session;   /* a session was opened by this journal (leftovers closed) */
    int brk;             /* break row open (break id), 0 = none */
    uint32_t hold;       /* hold row open (the Hold break id), 0 = none */
    int64_t hold_wait_ms; /* on hold before the Hold break was known: its start (wall ms);
                             -1 = not audited (no Hold break); 0 = none */
} jagent_t;

struct jnl {
    const conf_t *cf;            /* immutable */
    reg_t *reg;
    jnl_db_ops_t ops;            /* set before start */
    mq_t *q;                     /* thread-safe by itself: changes, read replies, control */
    bool subscribed;             /* controlling thread */
    pthread_t th;                /* controlling thread: */
    bool started, running;
    bool keep_q;                 /* a read reply may still come: the queue is never freed */

    /* journal thread only */
    hmap_t *calls;               /* decimal reg id -> jcall_t* */
    hmap_t *agents;              /* number -> jagent_t* */
    hmap_t *camps;               /* decimal campaign id -> jcamp_t* */
    uint32_t hold_break;         /* the Hold break's id (tipo 'H'), 0 = not known */
    bool breaks_loaded;          /* the breaks were read at least once */
    bool breaks_loading;
    int64_t breaks_retry_at_ms;
    int reads_inflight;
    hmap_t *incoming;            /* decimal reg id -> jentry_t* (jnl_incoming.c), NULL until one */
    int entry_replies;           /* call_entry inserts whose reply (the new id) is still out */
    int64_t tick_next_ms;        /* next look at reads to retry (mono ms) */
    bool stopping;

    /* written by the journal thread, read by anyone */
    _Atomic uint64_t st_changes, st_writes, st_writes_failed, st_calls, st_incoming,
        st_audit_skipped, st_reads_failed, st_lag_max, st_lag_sum;
    _Atomic uint64_t st_reads_out; /* mirror of reads_inflight for readers */
    _Atomic int64_t beat_ms;
    ccd_lhist_t lag_hist; /* change -> writes submitted, µs */
};

/* ---- small helpers of the call files (jnl_call.c, jnl_incoming.c, jnl_agent.c) ---- */

/* A state the call ends in (a late event may still move some of them up). */
static inline bool jnl__is_final(reg_call_status_e s)
{
    return s == REG_CS_FAILURE || s == REG_CS_NOANSWER || s == REG_CS_ABANDONED ||
           s == REG_CS_SHORTCALL || s == REG_CS_HANGUP || s == REG_CS_LOST;
}

/* The call reached an agent, whatever its status says now. */
static inline bool jnl__was_linked(const reg_call_t *c)
{
    return c->t_link_ms || c->status == REG_CS_SUCCESS || c->status == REG_CS_ONHOLD ||
           c->status == REG_CS_HANGUP || c->status == REG_CS_SHORTCALL;
}

/* Whole seconds from one registry time to a later one; 0 when either is unknown. */
static inline int64_t jnl__secs(int64_t from_ms, int64_t to_ms)
{
    return from_ms && to_ms > from_ms ? (to_ms - from_ms) / 1000 : 0;
}

/* A registry wall time (ms) as a row's time; 0 (not recorded) = now. */
static inline time_t jnl__to_time(int64_t ms)
{
    return (time_t)((ms ? ms : clk_wall_ms()) / 1000);
}

/* src into dst, cut to fit (the rows' columns are shorter than the registry's strings). */
static inline void jnl__cpy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%.*s", (int)size - 1, src);
}

/* The key of a registry call in the journal's tables: its id in decimal. */
static inline void jnl__call_key(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64, id);
}

/* Hands w to the writer (consumes it); counted, a refusal logged.  0 when the writer took
 * it, else the refusal's code (w is freed then). */
int jnl__submit(jnl_t *j, db_write_t *w);
/* A new write of kind with its shard, or NULL (logged) on ENOMEM. */
db_write_t *jnl__write_new(jnl_t *j, db_write_kind_e kind, uint32_t shard);

/* jnl_call.c */
void jnl__call_change(jnl_t *j, const reg_change_t *ch);
/* At stop: releases the claims of finished calls still kept for late events. */
void jnl__calls_settle_all(jnl_t *j);
void jnl__calls_free(jnl_t *j);
/* The campaign's row arrived (or is known missing): releases the calls waiting for it. */
void jnl__calls_campaign_ready(jnl_t *j, uint32_t campaign);
/* The agent row id of an agent number (0 = unknown). */
uint32_t jnl__agent_db_id(jnl_t *j, const char *number);

/* jnl_incoming.c: incoming calls (call_entry, current_call_entry, their progress rows) */
void jnl__incoming(jnl_t *j, const reg_change_t *ch);
/* A call_entry insert came back (MSG_DB_WRITE_DONE) with its id; consumes it. */
void jnl__incoming_added(jnl_t *j, db_write_t *w);
void jnl__incoming_free(jnl_t *j);

/* jnl_recording.c: one call_recording row for the call's newest recording (c->recording),
 * on writer shard; ids 0 = NULL. */
void jnl__recording(jnl_t *j, const reg_call_t *c, uint32_t shard, uint32_t id_call_outgoing,
                    uint32_t id_call_incoming);

/* jnl_agent.c */
void jnl__agent_change(jnl_t *j, const reg_change_t *ch);
void jnl__agents_free(jnl_t *j);
/* The breaks were read: opens the holds that waited for the Hold break's id. */
void jnl__agents_hold_break_known(jnl_t *j);

/* jnl_read.c: campaigns and breaks through read jobs */
/* The campaign of a call is needed: starts its read once. */
void jnl__campaign_want(jnl_t *j, uint32_t id);
/* Whether the campaign's row was read (or is known not to exist); true for id 0. */
bool jnl__campaign_ready(jnl_t *j, uint32_t id);
/* The retry back-off for a number after `retries` attempts. */
int32_t jnl__campaign_backoff_s(jnl_t *j, uint32_t id, uint32_t retries);
/* A completed non-short call of duration_s: statistics updated and written (or kept until
 * the campaign's row arrives). */
void jnl__campaign_completed(jnl_t *j, uint32_t id, int64_t duration_s);
void jnl__breaks_want(jnl_t *j);
/* A read job came back (MSG_DB_READ_DONE); consumes it. */
void jnl__read_done(jnl_t *j, db_read_job_t *job);
/* Retries due reads (called every turn of the loop). */
void jnl__reads_tick(jnl_t *j);
void jnl__campaigns_free(jnl_t *j);

#endif
