/*
 * Leveled logging, safe from any thread.
 *
 * Each line is formatted into one buffer and handed to the kernel in a single
 * write(2) (or one syslog() call), so lines from concurrent threads never
 * interleave.  A line carries a timestamp, the calling thread's name and the
 * module.  Callers must never pass secrets (passwords, AMI secrets, cookies).
 */
#ifndef CCD_CORE_LOG_H
#define CCD_CORE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum log_level {
    LOG_LVL_ERR = 0,
    LOG_LVL_WARN = 1,
    LOG_LVL_NOTICE = 2,
    LOG_LVL_INFO = 3,
    LOG_LVL_DEBUG = 4,
} log_level_e;

typedef enum log_target {
    LOG_TARGET_STDERR = 0,
    LOG_TARGET_FILE = 1,
    LOG_TARGET_SYSLOG = 2,
} log_target_e;

/* A line-capturing hook for tests: gets the fully formatted line (no newline). */
typedef void (*log_sink_fn)(log_level_e level, const char *module, const char *line, void *ctx);

/* Longest line written; longer messages are cut and end with "...". */
#define LOG_LINE_MAX 2048

/*
 * Sets where lines go.  For LOG_TARGET_FILE, path is opened for append; the
 * file is reopened by log_reopen() (SIGHUP, for logrotate).  Returns 0 or a
 * negative -errno when the file cannot be opened (logging then stays on stderr).
 */
int log_open(log_target_e target, const char *path, log_level_e level);

/* Reopens the log file (no-op for stderr/syslog).  Returns 0 or -errno. */
int log_reopen(void);

/* Closes the file or syslog; later lines go to stderr. */
void log_close(void);

void log_set_level(log_level_e level);
log_level_e log_get_level(void);

/* Parses "error|warning|notice|info|debug"; returns 0 or CCD_EINVAL. */
int log_level_parse(const char *name, log_level_e *out);

/* Names the calling thread in its log lines (copied, at most 15 chars). */
void log_set_thread_name(const char *name);

/*
 * Also sends every line (without its timestamp) to syslog, besides the target
 * ([log] syslog = yes; under systemd that is the journal).  No-op for the syslog
 * target itself.  Call before other threads log.
 */
void log_syslog_copy(bool on);
/* Replaces syslog(3) for the copy (tests); NULL restores it.  prio is LOG_ERR.. LOG_DEBUG. */
typedef void (*log_syslog_writer_fn)(int prio, const char *line);
void log_syslog_set_writer(log_syslog_writer_fn fn);

/* Installs a sink that receives every line instead of the target (tests). */
void log_set_sink(log_sink_fn sink, void *ctx);

void log_msg(log_level_e level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(log_level_e level, const char *module, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * Rate-limited lines, for every warning a peer or a flood can repeat (refused
 * jobs, bad requests, failed logins, per-connection errors).  Each call site
 * has its own limiter: in each window of LOG_RL_INTERVAL_MS (windows aligned
 * on the monotonic clock) its first LOG_RL_BURST lines are written and the
 * rest only counted; the first line written after that carries
 * "(... and N more in the last S s)", N being every line of the site dropped
 * since its previous written line.  Lock-free (atomics only), usable from any
 * thread.  Lines dropped at the end of a flood are reported with the site's
 * next line, whenever that comes.
 */
#define LOG_RL_BURST 5
#define LOG_RL_INTERVAL_MS 10000

typedef struct log_rl {
    atomic_uint_fast64_t state;      /* window number << 32 | lines seen in that window */
    atomic_uint_fast64_t suppressed; /* lines dropped since the site's last written line */
    atomic_int_fast64_t last_ms;     /* when the site last wrote a line (for "in the last S s") */
} log_rl_t;

/*
 * Decides for one line of the site rl at time now_ms: 1 = write it (then
 * *dropped is the count to report, usually 0), 0 = dropped (counted).  Exposed
 * for tests; callers use the LOG_*_RL macros.
 */
int log_rl_admit(log_rl_t *rl, int64_t now_ms, uint64_t *dropped, int64_t *since_ms);

/* The clock of the limiters (monotonic ms); NULL restores the real one.  Tests. */
void log_set_rl_clock(int64_t (*now_ms)(void));

void log_rl_msg(log_rl_t *rl, log_level_e level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_RL_(lvl, mod, ...)                                                                      \
    do {                                                                                            \
        static log_rl_t ccd_log_rl_;                                                                \
        log_rl_msg(&ccd_log_rl_, (lvl), (mod), __VA_ARGS__);                                        \
    } while (0)
#define LOG_ERR_RL(mod, ...) LOG_RL_(LOG_LVL_ERR, (mod), __VA_ARGS__)
#define LOG_WARN_RL(mod, ...) LOG_RL_(LOG_LVL_WARN, (mod), __VA_ARGS__)
#define LOG_NOTICE_RL(mod, ...) LOG_RL_(LOG_LVL_NOTICE, (mod), __VA_ARGS__)
#define LOG_INFO_RL(mod, ...) LOG_RL_(LOG_LVL_INFO, (mod), __VA_ARGS__)

#define LOG_ERR(mod, ...) log_msg(LOG_LVL_ERR, (mod), __VA_ARGS__)
#define LOG_WARN(mod, ...) log_msg(LOG_LVL_WARN, (mod), __VA_ARGS__)
#define LOG_NOTICE(mod, ...) log_msg(LOG_LVL_NOTICE, (mod), __VA_ARGS__)
#define LOG_INFO(mod, ...) log_msg(LOG_LVL_INFO, (mod), __VA_ARGS__)
#define LOG_DEBUG(mod, ...)                                                                         \
    do {                                                                                            \
        if (log_get_level() >= LOG_LVL_DEBUG)                                                       \
            log_msg(LOG_LVL_DEBUG, (mod), __VA_ARGS__);                                             \
    } while (0)

#endif
