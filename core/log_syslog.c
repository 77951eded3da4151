/*
 * The optional copy of every log line to syslog ([log] syslog = yes), besides the
 * file or stderr target: under systemd, syslog(3) reaches the journal, so an admin
 * gets `journalctl -u ccdialerd` and the file at once.  The line goes without its
 * timestamp (syslog stamps it) and with the level as the syslog priority.
 *
 * copy_on and the writer are set by the main thread before the other threads start
 * (and by tests); atomics so that a late change is still seen whole.
 */
#include "core/log.h"
#include "core/log_int.h"

#include <stdatomic.h>
#include <syslog.h>

static void real_syslog(int prio, const char *line)
{
    syslog(prio, "%s", line);
}

static atomic_bool copy_on;
static _Atomic(log_syslog_writer_fn) writer = real_syslog;

void log_syslog_copy(bool on)
{
    if (on && atomic_load(&writer) == real_syslog)
        openlog("ccdialerd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    atomic_store(&copy_on, on);
}

void log_syslog_set_writer(log_syslog_writer_fn fn)
{
    atomic_store(&writer, fn ? fn : real_syslog);
}

int log__syslog_prio(log_level_e level)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};
    return prio[level];
}

void log__syslog_copy(log_level_e level, const char *line)
{
    if (atomic_load_explicit(&copy_on, memory_order_relaxed))
        atomic_load(&writer)(log__syslog_prio(level), line);
}
