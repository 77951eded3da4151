/*
 * ECCP connection limits per address and failed-login throttling; internal to
 * the eccp module (eccp_guard.c).
 *
 * Shared by the acceptor (admits connections) and every session worker
 * (logins, closes), so its tables are guarded by one mutex of its own: a leaf
 * lock, held only to look up or update a few counters, never across I/O or a
 * log line.  Times are monotonic milliseconds passed in by the caller, so the
 * unit test drives the clock.
 *
 * Memory is bounded whatever clients do: the connection table has an entry
 * per address with an open session (at most max_sessions); each failure table
 * holds at most ECCP_GUARD_FAIL_MAX entries, forgotten login_block_time after
 * their last failure, and when one is full a new entry takes the place of an
 * expired one, else of the one whose last failure is oldest.
 */
#ifndef CCD_ECCP_GUARD_H
#define CCD_ECCP_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

#define ECCP_GUARD_FAIL_MAX 4096

typedef struct eccp_guard eccp_guard_t;

/* Why a connection was refused (0 = admitted). */
typedef enum {
    ECCP_GUARD_OK = 0,
    ECCP_GUARD_UNAUTH,      /* max_unauth_sessions */
    ECCP_GUARD_UNAUTH_ADDR, /* max_unauth_per_address */
    ECCP_GUARD_ADDR,        /* max_sessions_per_address */
} eccp_guard_refusal_e;

/* Reads the limits from cfg (copied).  NULL on ENOMEM. */
eccp_guard_t *eccp__guard_new(const conf_eccp_t *cfg);
void eccp__guard_free(eccp_guard_t *g);

/* A new connection from addr (16 bytes, v4-mapped for IPv4): counted as an
 * unauthenticated session of addr when admitted (ECCP_GUARD_OK). */
eccp_guard_refusal_e eccp__guard_admit(eccp_guard_t *g, const uint8_t addr[16]);
/* The session of addr logged in: no longer unauthenticated. */
void eccp__guard_authed(eccp_guard_t *g, const uint8_t addr[16]);
/* The session of addr closed (unauth: it had not logged in). */
void eccp__guard_release(eccp_guard_t *g, const uint8_t addr[16], bool unauth);
/* Unauthenticated sessions now (all addresses), and addresses with a session. */
int eccp__guard_unauth(eccp_guard_t *g);
int eccp__guard_addrs(eccp_guard_t *g);

/* Whether a login for name from addr is refused without checking it: the
 * address is blocked, or the name is blocked and addr has failures of its own.
 * When blocked, *retry_s is how long the block still lasts (rounded up). */
bool eccp__guard_login_blocked(eccp_guard_t *g, const uint8_t addr[16], const char *name,
                               int64_t now_ms, int *retry_s);
/* Records a failed login; returns how long its answer waits (ms, 0 = none).
 * *blocked_now: this failure started a block of the address or the name. */
int64_t eccp__guard_login_failed(eccp_guard_t *g, const uint8_t addr[16], const char *name,
                                 int64_t now_ms, bool *blocked_now);
/* A login for name succeeded: the name's failures are forgotten (the address's
 * are not: one good account must not reset the guessing of others). */
void eccp__guard_login_ok(eccp_guard_t *g, const char *name);
/* Entries in the failure tables (tests: the bound). */
int eccp__guard_fail_entries(eccp_guard_t *g);

#endif
