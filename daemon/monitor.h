/*
 * monitor: the daemon's side of running under a service manager and being watched.
 *
 * - systemd (libsystemd's sd_notify): READY=1 once the services are up (the
 *   database reached, ECCP listening), WATCHDOG=1 from the main thread only
 *   while every thread that matters keeps going round its loop, STOPPING=1 at
 *   shutdown, STATUS= lines for `systemctl status`.  Without systemd
 *   (NOTIFY_SOCKET unset) every call is a no-op.
 * - the [metrics] HTTP endpoint (ops/), started after the services.
 * - `ccdialerd --status`: asks a running daemon's /readyz and prints it.
 * Everything here runs on the main thread.
 */
#ifndef CCD_DAEMON_MONITOR_H
#define CCD_DAEMON_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "daemon/services.h"

typedef struct monitor monitor_t;

/* Starts the metrics endpoint when [metrics] enabled = yes.  NULL with err on failure. */
monitor_t *monitor_start(const conf_t *cf, svc_t *svc, int64_t start_time_s, char *err,
                         size_t errlen);
/* Tells the service manager the engine is ready. */
void monitor_ready(monitor_t *m);
/* How long the main thread may wait for a signal before monitor_tick is due, in ms;
 * -1 = no watchdog, wait as long as it likes. */
int monitor_tick_ms(const monitor_t *m);
/* Pings the watchdog if every thread is alive; otherwise logs (once per episode) and
 * withholds the ping, so systemd restarts a stuck engine. */
void monitor_tick(monitor_t *m);
/* Tells the service manager the engine is stopping; stops the endpoint.  Frees m. */
void monitor_stop(monitor_t *m);

/* ccdialerd --status: prints the running daemon's readiness; returns the exit status
 * (0 ready, 1 running but not ready, 3 not reachable / [metrics] disabled). */
int monitor_status(const conf_t *cf);

#endif
