/*
 * ops: what an admin's monitoring sees of the engine.
 *
 * An HTTP endpoint (libmicrohttpd, its own thread) serves
 *   /metrics  the Prometheus text exposition format (version 0.0.4),
 *   /healthz  200 while every thread that matters is alive, 503 otherwise,
 *   /readyz   200 when the database and every configured AMI server are up.
 * Every figure is read through the other modules' public getters (atomics and
 * copy-outs under their read locks) on the HTTP thread: a scrape never waits
 * for, and never makes wait, an engine thread beyond a registry copy-out.
 *
 * The same checks serve the daemon's systemd watchdog (ops_threads_alive) and
 * `ccdialerd --status` (ops_http_get against a running daemon).
 */
#ifndef CCD_OPS_OPS_H
#define CCD_OPS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agi/agi.h"
#include "ami/ami.h"
#include "conf/conf.h"
#include "core/buf.h"
#include "db/db.h"
#include "dialer/dialer.h"
#include "eccp/eccp.h"
#include "journal/journal.h"
#include "reg/reg.h"

/* Where the figures come from.  Any pointer may be NULL (that part is left out of
 * /metrics and counts as down for /readyz, except eccp, which is optional).  Every
 * pointer must stay valid until ops_stop() returns. */
typedef struct ops_sources {
    const conf_t *cf;       /* AMI server names; required */
    reg_t *reg;
    ami_t *ami;
    db_t *db;
    eccp_server_t *eccp;
    jnl_t *jnl;             /* the call journal; optional like eccp */
    dl_t *dl;               /* the dialer; optional */
    agi_t *agi;             /* NULL when [agi] is disabled */
    int64_t start_time_s;   /* wall clock of the start, for ccdialer_start_time_seconds */
} ops_sources_t;

typedef struct ops ops_t;

/* A stopped endpoint for mc (bind, port; port 0 = any free one).  NULL with a reason
 * in err on a bad address or ENOMEM. src is copied. */
ops_t *ops_new(const conf_metrics_t *mc, const ops_sources_t *src, char *err, size_t errlen);
/* Binds and starts the HTTP thread.  0, or a negative code with a reason logged. */
int ops_start(ops_t *o);
/* The port it listens on (useful with port 0); 0 when not started. */
uint16_t ops_port(const ops_t *o);
/* Stops the HTTP thread (requests in progress finish first).  Idempotent. */
void ops_stop(ops_t *o);
/* Stops if needed and frees.  NULL is a no-op. */
void ops_free(ops_t *o);

/* Appends the /metrics body for src to b.  0 or CCD_ENOMEM/CCD_ETOOBIG. */
int ops_render_metrics(const ops_sources_t *src, buf_t *b);

/* Readiness: appends one "name: up|down (detail)" line per dependency to b (may be NULL)
 * and returns true when the database and every AMI server are up. */
bool ops_ready(const ops_sources_t *src, buf_t *b);

/*
 * Liveness of the threads that matter (registry, each AMI I/O thread, the dialer, the database
 * writers, the ECCP workers, the journal): true when each went round its loop within max_age_ms
 * (they do at least every second or so while alive).  On false, why names the first
 * stuck one and its age.  A thread that has not run yet counts as alive.
 */
bool ops_threads_alive(const ops_sources_t *src, int64_t max_age_ms, char *why, size_t whylen);

/*
 * A one-shot HTTP/1.0 GET of path from host:port (numeric address), for
 * `ccdialerd --status`.  Fills *status with the HTTP status and body (NUL-terminated,
 * cut to bodysz - 1).  0, CCD_ETIMEDOUT, CCD_EPROTO (not HTTP) or -errno (connect).
 */
int ops_http_get(const char *host, uint16_t port, const char *path, int timeout_ms, int *status,
                 char *body, size_t bodysz);

#endif
