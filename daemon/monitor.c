/*
 * monitor; see monitor.h.
 *
 * The watchdog is driven by the threads' heartbeats, not by the main thread
 * being able to run: a main thread that wakes up fine while the registry
 * thread is stuck in a loop must not keep the service alive.  The bound for a
 * heartbeat is generous (MONITOR_STUCK_MS): a database writer may legitimately
 * wait on MariaDB's lock wait timeout (50 s by default) before it comes round.
 */
#include "daemon/monitor.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "ami/ami.h"
#include "ccd_version.h"
#include "core/err.h"
#include "core/log.h"
#include "db/db.h"
#include "eccp/eccp.h"
#include "ops/ops.h"
#include "reg/reg.h"

#define MOD "main"
#define MONITOR_STUCK_MS 60000

/* Owned by the main thread. */
struct monitor {
    ops_sources_t src;
    ops_t *ops;
    uint64_t watchdog_us; /* 0 = systemd asked for no watchdog */
    bool stuck_logged;
};

monitor_t *monitor_start(const conf_t *cf, svc_t *svc, int64_t start_time_s, char *err,
                         size_t errlen)
{
    monitor_t *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->src.cf = cf;
    m->src.start_time_s = start_time_s;
    svc_parts(svc, &m->src.reg, &m->src.ami, &m->src.db, &m->src.eccp);
    m->src.jnl = svc_journal(svc);
    m->src.dl = svc_dialer(svc);
    m->src.agi = svc_agi(svc);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        m->watchdog_us = usec;
    if (cf->metrics.enabled) {
        m->ops = ops_new(&cf->metrics, &m->src, err, errlen);
        if (!m->ops || ops_start(m->ops) != 0) {
            if (m->ops)
                snprintf(err, errlen, "cannot listen on %s:%u for [metrics]", cf->metrics.bind,
                         (unsigned)cf->metrics.port);
            ops_free(m->ops);
            free(m);
            return NULL;
        }
        LOG_INFO(MOD, "metrics endpoint on http://%s:%u/metrics", cf->metrics.bind,
                 (unsigned)ops_port(m->ops));
    }
    return m;
}

void monitor_ready(monitor_t *m)
{
    (void)m;
    sd_notifyf(0, "READY=1\nSTATUS=ccdialerd %s serving", CCD_VERSION);
}

int monitor_tick_ms(const monitor_t *m)
{
    if (!m->watchdog_us)
        return -1;
    /* systemd's advice: ping at half the interval or more often. */
    uint64_t ms = m->watchdog_us / 1000 / 3;
    return ms < 100 ? 100 : (int)(ms > 60000 ? 60000 : ms);
}

void monitor_tick(monitor_t *m)
{
    if (!m->watchdog_us)
        return;
    char why[256];
    if (ops_threads_alive(&m->src, MONITOR_STUCK_MS, why, sizeof(why))) {
        if (m->stuck_logged)
            LOG_NOTICE(MOD, "every thread is going round again; watchdog pings resumed");
        m->stuck_logged = false;
        sd_notify(0, "WATCHDOG=1");
        return;
    }
    if (!m->stuck_logged) {
        LOG_ERR(MOD, "watchdog ping withheld: %s", why);
        sd_notifyf(0, "STATUS=stuck: %s", why);
        m->stuck_logged = true;
    }
}

void monitor_stop(monitor_t *m)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    if (!m)
        return;
    ops_free(m->ops);
    free(m);
}

int monitor_status(const conf_t *cf)
{
    if (!cf->metrics.enabled) {
        fprintf(stderr, "ccdialerd --status asks the [metrics] endpoint, which is disabled in "
                        "the configuration (enabled = no)\n");
        return 3;
    }
    /* A daemon listening on every address is asked on loopback. */
    const char *host = cf->metrics.bind;
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    int code = 0;
    char body[8192];
    int rc = ops_http_get(host, cf->metrics.port, "/readyz", 5000, &code, body, sizeof(body));
    if (rc != 0) {
        printf("ccdialerd is not running or not reachable at %s:%u (%s)\n", host,
               (unsigned)cf->metrics.port, ccd_strerror(rc));
        return 3;
    }
    fputs(body, stdout);
    char alive[512];
    int hcode = 0;
    if (ops_http_get(host, cf->metrics.port, "/healthz", 5000, &hcode, alive, sizeof(alive)) == 0)
        printf("threads: %s", alive);
    return code == 200 ? 0 : 1;
}
