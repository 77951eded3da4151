/*
 * The dialer's integration fixture: pbxsim, a MariaDB (the test script's or a private one),
 * the registry, the database module, the AMI client and the dialer in-process, plus a
 * registry subscriber that records what happened to every number (dial attempts, final
 * status, the peak of live calls).
 */
#ifndef CCD_TEST_DIALER_DL_FIXTURE_H
#define CCD_TEST_DIALER_DL_FIXTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ami/ami.h"
#include "conf/conf.h"
#include "core/hmap.h"
#include "db/db.h"
#include "dialer/dialer.h"
#include "journal/journal.h"
#include "reg/reg.h"
#include "test/db/dbtest.h"
#include "tools/pbxsim/pbxsim.h"

#define FX_MAX_CALLS 8192

typedef struct fx {
    conf_t cf;
    MYSQL *my;              /* the test's own connection (fixtures, checks) */
    bool private_srv;
    dbt_server_t srv;
    pbxsim_t *sim;
    reg_t *reg;
    db_t *db;
    ami_t *ami;
    dl_t *dl;
    jnl_t *jnl;             /* the call journal: writes every call's history */
    mq_t *watch;
    mq_t *orig;             /* OriginateResponse events from the PBX */
    _Atomic int64_t clock_ms; /* the dialer's injected clock; 0 = real time */
    /* what the registry showed, per calls.id */
    int dials[FX_MAX_CALLS];
    int final[FX_MAX_CALLS];  /* reg_call_status_e + 1; 0 = none yet */
    int cause[FX_MAX_CALLS];
    int64_t seq;              /* changes read so far; the order of the two below */
    int64_t first_seq[FX_MAX_CALLS], final_seq[FX_MAX_CALLS];
    int64_t t_orig[FX_MAX_CALLS], t_end[FX_MAX_CALLS]; /* the registry's times, last attempt */
    char agent[FX_MAX_CALLS][16]; /* the agent of its end, "" when none (last attempt) */
    hmap_t *seen;             /* uniqueids seen (value: 1 = live, 2 = finished) */
    int live, peak_live;
} fx_t;

/* Fresh database (seeded, campaign 1 off), pbxsim; private: a mariadbd of our own. */
void fx_setup(fx_t *f, const char *tag, bool private_srv, bool injected_clock);
/* The same (shared server, real clock) with a member wrap-up on the PBX (pbxsim's
 * wrapup_s, virtual seconds, reported as the members' Wrapuptime). */
void fx_setup_wrapup(fx_t *f, const char *tag, uint32_t wrapup_s);
/* Starts the engine's threads (registry, AMI, dialer). */
void fx_start(fx_t *f);
void fx_stop(fx_t *f);
void fx_teardown(fx_t *f);
/* Campaign 3 (queue 8000, context dialer-queue, trunk Local/$OUTNUM$@customers) with the
 * given retries, mode, and channel cap (0 = none). */
void fx_campaign(fx_t *f, int retries, const char *mode, int max_channels);
/* Adds numbers first..first+count-1 (phone = the number) to campaign 3's list, ids = phone. */
void fx_numbers(fx_t *f, int first, int count);
/* Logs agents 9000..9000+n-1 in on the PBX and waits until the registry has them ready. */
void fx_login_agents(fx_t *f, int n);
/* Reads what the registry published so far. */
void fx_pump(fx_t *f);
/* Calls with a final status among ids [first, first+count). */
int fx_finished(fx_t *f, int first, int count);
int fx_dialed(fx_t *f, int first, int count);

#endif
