/*
 * A database stand-in for the journal's tests and benchmark: writes are kept (or only
 * counted) and rendered as text lines; reads are answered at once from memory on the
 * journal's own thread (the same message path as a reader's answer).
 */
#ifndef CCD_TEST_JOURNAL_JNL_FAKE_H
#define CCD_TEST_JOURNAL_JNL_FAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "reg/reg.h"

#define FAKE_MAX_CAMPAIGNS 8

typedef struct fake_db {
    pthread_mutex_t mu;      /* guards lines, nlines (written by the journal thread) */
    char **lines;            /* every write rendered, in submission order */
    size_t nlines, cap;
    bool count_only;         /* flood: count, do not keep */
    _Atomic uint64_t nwrites;
    _Atomic uint64_t nprogress, nreleases, ncurrent_add, ncurrent_del;
    _Atomic int gate;        /* while 1, the first write waits (a stalled writer) */
    _Atomic uint64_t *progress_per_call; /* flood: progress rows per calls.id (if set) */
    size_t ncalls;
    db_campaign_t camps[FAKE_MAX_CAMPAIGNS];
    int ncamps;
    _Atomic bool reads_fail; /* every read answers CCD_EIO */
    _Atomic uint64_t nreads;
    _Atomic uint64_t nentries; /* call_entry inserts answered (ids 800, 801, ...) */
} fake_db_t;

void fake_init(fake_db_t *f);
void fake_free(fake_db_t *f);
jnl_db_ops_t fake_ops(fake_db_t *f);
/* The lines from index from on, joined with '\n' (malloc'd); *next gets the count. */
char *fake_lines(fake_db_t *f, size_t from, size_t *next);
/* One write as a line (the same text fake_ops keeps). */
void fake_render(const db_write_t *w, char *out, size_t len);

/* ---- posting calls and agents to a registry (tests and the benchmark) ---- */

#define JT_T 1700000000000LL /* the fixed wall time (ms) the unit tests' times are built on */

/* An outgoing campaign call in Placing (uniqueid "ccd-<db_id>", originated at JT_T). */
reg_call_t jt_call(int64_t db_id, int64_t campaign, uint32_t retries);
/* Linked to Agent/9000 through queue 8000 at t_link. */
void jt_link(reg_call_t *c, int64_t t_link);
/* Agent/9000 (agent row 7 unless changed), logged out. */
reg_agent_t jt_agent(int64_t db_id);
/* Posts the call's new state (found by uniqueid, created when absent; removed after when
 * remove).  The registry copies c.  0 or reg_post's code. */
int jt_post_call(reg_t *r, const reg_call_t *c, bool remove);
/* Posts an agent's new state (created when absent).  0 or reg_post's code. */
int jt_post_agent(reg_t *r, const reg_agent_t *a);

#endif
