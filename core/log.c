/*
 * Logging; see log.h.
 *
 * The target (fd or syslog) and the level are read by every thread and changed
 * only by the main thread (startup, SIGHUP).  They are atomics so that a line
 * racing a reopen uses either the old or the new fd; the old fd is closed
 * only after the new one is installed, and a write to a just-closed fd fails
 * harmlessly (EBADF) rather than corrupting anything.  The sink is for tests
 * and is installed before threads start.
 */
#include "core/log.h"
#include "core/log_int.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_LVL_INFO;
static atomic_int log_fd = STDERR_FILENO;
static atomic_int log_target = LOG_TARGET_STDERR;
static char log_path[4096]; /* owned by the main thread */
static _Atomic(log_sink_fn) log_sink;
static void *_Atomic log_sink_ctx;

static _Thread_local char thread_name[16] = "-";

static const char *const level_names[] = {"ERROR", "WARN", "NOTICE", "INFO", "DEBUG"};

static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return fd < 0 ? -errno : fd;
}

/*
 * Makes the log fd refer to the file open on fd (then closes fd).  dup3 swaps
 * the open file behind the number other threads already hold in one step: a
 * concurrent write() goes to the old or the new file, never to a closed or
 * recycled descriptor.
 */
static int swap_fd(int fd)
{
    int cur = atomic_load(&log_fd);
    if (cur == STDERR_FILENO) {
        atomic_store(&log_fd, fd);
        return 0;
    }
    int rc = dup3(fd, cur, O_CLOEXEC) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int log_open(log_target_e target, const char *path, log_level_e level)
{
    atomic_store(&log_level, (int)level);
    if (target == LOG_TARGET_SYSLOG) {
        openlog("ccdialerd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        atomic_store(&log_target, LOG_TARGET_SYSLOG);
        return 0;
    }
    if (target == LOG_TARGET_FILE) {
        int fd = open_file(path);
        if (fd < 0)
            return fd;
        snprintf(log_path, sizeof(log_path), "%s", path);
        int rc = swap_fd(fd);
        if (rc == 0)
            atomic_store(&log_target, LOG_TARGET_FILE);
        return rc;
    }
    atomic_store(&log_target, LOG_TARGET_STDERR);
    int old = atomic_exchange(&log_fd, STDERR_FILENO);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

int log_reopen(void)
{
    if (atomic_load(&log_target) != LOG_TARGET_FILE)
        return 0;
    int fd = open_file(log_path);
    if (fd < 0)
        return fd;
    return swap_fd(fd);
}

void log_close(void)
{
    int target = atomic_exchange(&log_target, LOG_TARGET_STDERR);
    if (target == LOG_TARGET_SYSLOG)
        closelog();
    int old = atomic_exchange(&log_fd, STDERR_FILENO);
    if (old != STDERR_FILENO)
        close(old);
}

void log_set_level(log_level_e level)
{
    atomic_store(&log_level, (int)level);
}

log_level_e log_get_level(void)
{
    return (log_level_e)atomic_load(&log_level);
}

int log_level_parse(const char *name, log_level_e *out)
{
    static const struct {
        const char *name;
        log_level_e level;
    } names[] = {
        {"error", LOG_LVL_ERR}, {"err", LOG_LVL_ERR},       {"warning", LOG_LVL_WARN},
        {"warn", LOG_LVL_WARN}, {"notice", LOG_LVL_NOTICE}, {"info", LOG_LVL_INFO},
        {"debug", LOG_LVL_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return CCD_EINVAL;
}

void log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name);
}

void log_set_sink(log_sink_fn sink, void *ctx)
{
    atomic_store(&log_sink_ctx, ctx);
    atomic_store(&log_sink, sink);
}

/* Formats and writes one line; suffix (may be "") goes after the message and survives
 * truncation, so a cut line still says how many lines it stands for. */
static void emit(log_level_e level, const char *module, const char *suffix, const char *fmt,
                 va_list ap)
{
    int saved_errno = errno;
    char line[LOG_LINE_MAX + 1];
    size_t n = 0;

    int target = atomic_load(&log_target);
    log_sink_fn sink = atomic_load(&log_sink);
    if (target != LOG_TARGET_SYSLOG || sink) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld ", ts.tv_nsec / 1000000);
    }
    size_t stamp_len = n; /* the syslog copy goes without it */
    int w = snprintf(line + n, sizeof(line) - n, "%s [%s] %s: ", level_names[level], thread_name,
                     module);
    if (w > 0)
        n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
    size_t sl = strlen(suffix);
    size_t room = LOG_LINE_MAX - sl; /* the message ends by here; the suffix follows */
    w = n < room ? vsnprintf(line + n, room + 1 - n, fmt, ap) : 0;
    if (w < 0)
        w = 0;
    if (n >= room || (size_t)w > room - n) {
        n = room;
        memcpy(line + room - 3, "...", 3);
    } else {
        n += (size_t)w;
    }
    memcpy(line + n, suffix, sl);
    n += sl;
    /* Control characters from peer data must not forge extra log lines. */
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[n] = '\0';

    if (sink) {
        sink(level, module, line, atomic_load(&log_sink_ctx));
    } else if (target == LOG_TARGET_SYSLOG) {
        syslog(log__syslog_prio(level), "%s", line);
    } else {
        log__syslog_copy(level, line + stamp_len);
        line[n] = '\n';
        ssize_t r = write(atomic_load(&log_fd), line, n + 1);
        (void)r; /* nowhere left to report a failed log write */
    }
    errno = saved_errno;
}

void log_vmsg(log_level_e level, const char *module, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&log_level))
        return;
    emit(level, module, "", fmt, ap);
}

void log_msg(log_level_e level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, module, fmt, ap);
    va_end(ap);
}

/* ---- rate-limited lines ---- */

static _Atomic(int64_t (*)(void)) rl_clock;

void log_set_rl_clock(int64_t (*now_ms)(void))
{
    atomic_store(&rl_clock, now_ms);
}

static int64_t rl_now(void)
{
    int64_t (*fn)(void) = atomic_load(&rl_clock);
    if (fn)
        return fn();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int log_rl_admit(log_rl_t *rl, int64_t now_ms, uint64_t *dropped, int64_t *since_ms)
{
    /* One CAS on (window, count) decides, so concurrent callers of a site never let
     * more than the burst through in a window. */
    uint_fast64_t win = ((uint_fast64_t)(now_ms / LOG_RL_INTERVAL_MS)) & 0xffffffffu;
    uint_fast64_t cur = atomic_load(&rl->state), next;
    do {
        if ((cur >> 32) != win)
            next = win << 32 | 1;
        else if ((cur & 0xffffffffu) == 0xffffffffu)
            next = cur; /* saturated: stays dropped until the window ends */
        else
            next = cur + 1;
    } while (!atomic_compare_exchange_weak(&rl->state, &cur, next));
    if ((next & 0xffffffffu) > LOG_RL_BURST) {
        atomic_fetch_add(&rl->suppressed, 1);
        return 0;
    }
    *dropped = atomic_exchange(&rl->suppressed, 0);
    *since_ms = now_ms - atomic_exchange(&rl->last_ms, now_ms);
    return 1;
}

void log_rl_msg(log_rl_t *rl, log_level_e level, const char *module, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    uint64_t dropped = 0;
    int64_t since = 0;
    if (!log_rl_admit(rl, rl_now(), &dropped, &since))
        return;
    char suffix[96] = "";
    if (dropped > 0)
        snprintf(suffix, sizeof(suffix), " (... and %llu more in the last %lld s)",
                 (unsigned long long)dropped, (long long)((since + 999) / 1000));
    va_list ap;
    va_start(ap, fmt);
    emit(level, module, suffix, fmt, ap);
    va_end(ap);
}
