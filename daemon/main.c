/*
 * ccdialerd: startup, signals and the order in which threads start and stop.
 *
 * DESIGN
 * - main() parses options and the configuration, initialises libraries that
 *   must be initialised once before any thread exists, then blocks every
 *   asynchronous signal and starts the module threads (they inherit the
 *   mask, so only the main thread ever sees a signal).
 * - The main thread then waits in sigwait(): SIGHUP reopens the log file,
 *   SIGTERM/SIGINT begin shutdown.
 * - Shutdown runs in the reverse order of dependencies: first the inputs that
 *   create work (ECCP sessions, AMI readers), then the registry (which drains
 *   its inbox), then the database writers (which drain the write queue so no
 *   accepted write is lost).  Each thread stops on a quit message, never by
 *   pthread_cancel.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccd_version.h"
#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/monitor.h"
#include "daemon/services.h"

#define DEFAULT_CONF "/etc/ccdialer/ccdialer.conf"

typedef struct options {
    const char *conf_path;
    bool foreground;
    bool check_only;
    bool init_db;
    bool status;
    const char *pid_file; /* overrides [general] pid_file */
} options_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ccdialerd [-f] [-c FILE] [-p PIDFILE] [--check-config] [--init-db] [--status]\n"
            "                 [--version]\n"
            "  -f, --foreground   stay in the foreground and log to stderr unless [log] says otherwise\n"
            "  -c, --config FILE  configuration file (default " DEFAULT_CONF ")\n"
            "  -p, --pid-file F   write the daemon's pid to F\n"
            "      --check-config parse the configuration, report errors, exit\n"
            "      --init-db      create or upgrade the call_center database, then exit\n"
            "      --status       ask the running daemon (its [metrics] endpoint) whether it is\n"
            "                     ready; exit 0 ready, 1 not ready, 3 not running\n"
            "      --version      print the version and exit\n");
}

static int parse_options(int argc, char **argv, options_t *o)
{
    enum { OPT_CHECK = 1000, OPT_VERSION, OPT_INITDB, OPT_STATUS };
    static const struct option longopts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"pid-file", required_argument, NULL, 'p'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"init-db", no_argument, NULL, OPT_INITDB},
        {"status", no_argument, NULL, OPT_STATUS},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->conf_path = DEFAULT_CONF;
    int c;
    while ((c = getopt_long(argc, argv, "fc:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': o->foreground = true; break;
        case 'c': o->conf_path = optarg; break;
        case 'p': o->pid_file = optarg; break;
        case OPT_CHECK: o->check_only = true; break;
        case OPT_INITDB: o->init_db = true; break;
        case OPT_STATUS: o->status = true; break;
        case OPT_VERSION: printf("ccdialerd %s\n", CCD_VERSION); exit(0);
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ccdialerd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Writes the pid file exclusively so two daemons never share one. */
static int write_pid_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        int e = errno;
        close(fd);
        return e == EAGAIN || e == EACCES ? CCD_EBUSY : -e;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* The fd stays open (and locked) for the life of the process. */
    return 0;
}

/*
 * Detaches from the terminal.  The original process waits until the daemon
 * says whether it started (a byte on a pipe), so init scripts and admins get
 * a failing exit status for a failed start, not a silent 0.  Returns, in the
 * daemon, the pipe's write end for daemon_ready(), or a negative -errno.
 */
static int daemonize(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(p[1]);
        char status = 1;
        ssize_t r;
        do {
            r = read(p[0], &status, 1);
        } while (r < 0 && errno == EINTR);
        /* EOF without a byte: the daemon died before it could tell. */
        _exit(r == 1 && status == 0 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    umask(027);
    if (chdir("/") < 0)
        return -errno;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        /* stderr stays until the log target is set, then goes too */
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return p[1];
}

/* Tells the waiting parent of daemonize() how the start went (no-op in the foreground). */
static void daemon_ready(int *fd, bool ok)
{
    if (*fd < 0)
        return;
    char status = ok ? 0 : 1;
    ssize_t w = write(*fd, &status, 1);
    (void)w; /* the parent is gone: nobody to tell */
    close(*fd);
    *fd = -1;
    if (ok) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
}

/* Waits for one of sigs, ticking the watchdog while none comes.  Returns the signal. */
static int wait_signal(const sigset_t *sigs, monitor_t *mon)
{
    for (;;) {
        int ms = monitor_tick_ms(mon);
        if (ms < 0) {
            int sig = 0;
            if (sigwait(sigs, &sig) == 0)
                return sig;
            continue;
        }
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig > 0)
            return sig;
        monitor_tick(mon);
    }
}

static int setup_log(const conf_t *cf, bool foreground)
{
    log_target_e target = LOG_TARGET_STDERR;
    const char *t = cf->log.target;
    if (strcmp(t, "syslog") == 0)
        target = LOG_TARGET_SYSLOG;
    else if (strcmp(t, "stderr") != 0 && t[0] != '\0')
        target = LOG_TARGET_FILE;
    else if (!foreground)
        target = LOG_TARGET_SYSLOG; /* a daemon without a terminal needs somewhere to log */
    int rc = log_open(target, t, cf->log.level);
    if (rc < 0)
        fprintf(stderr, "ccdialerd: cannot open log %s: %s\n", t, ccd_strerror(rc));
    log_syslog_copy(cf->log.syslog_copy && target != LOG_TARGET_SYSLOG);
    return rc;
}

int main(int argc, char **argv)
{
    options_t opt = {0};
    if (parse_options(argc, argv, &opt) != 0)
        return 2;

    static conf_t cf; /* immutable once loaded; large, so not on the stack */
    char err[CCD_ERR_LEN];
    if (conf_load(opt.conf_path, &cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "ccdialerd: %s\n", err);
        return 1;
    }
    if (opt.status)
        return monitor_status(&cf);
    if (opt.check_only) {
        printf("%s: configuration OK (%d AMI server%s)\n", opt.conf_path, cf.nami,
               cf.nami == 1 ? "" : "s");
        return 0;
    }
    log_set_thread_name("main");
    if (opt.init_db) {
        log_open(LOG_TARGET_STDERR, NULL, cf.log.level);
        int rc = svc_init_db(&cf, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "ccdialerd: --init-db failed: %s\n", err);
            return 1;
        }
        printf("ccdialerd: database %s is at the current schema version\n", cf.database.name);
        return 0;
    }

    int ready_fd = -1;
    if (!opt.foreground) {
        ready_fd = daemonize();
        if (ready_fd < 0) {
            fprintf(stderr, "ccdialerd: cannot daemonize: %s\n", strerror(-ready_fd));
            return 1;
        }
    }
    if (setup_log(&cf, opt.foreground) != 0) {
        daemon_ready(&ready_fd, false);
        return 1;
    }
    const char *pid_file = opt.pid_file ? opt.pid_file : cf.pid_file;
    if (pid_file[0]) {
        int rc = write_pid_file(pid_file);
        if (rc != 0) {
            LOG_ERR("main", "pid file %s: %s%s", pid_file, ccd_strerror(rc),
                    rc == CCD_EBUSY ? " (another ccdialerd is running)" : "");
            daemon_ready(&ready_fd, false);
            return 1;
        }
    }

    /* Every thread started from here on inherits this mask: signals are ours alone. */
    sigset_t sigs;
    sigfillset(&sigs);
    sigdelset(&sigs, SIGSEGV);
    sigdelset(&sigs, SIGBUS);
    sigdelset(&sigs, SIGILL);
    sigdelset(&sigs, SIGFPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    LOG_NOTICE("main", "ccdialerd %s starting (config %s)", CCD_VERSION, opt.conf_path);
    svc_t *svc = svc_start(&cf, err, sizeof(err));
    if (!svc) {
        LOG_ERR("main", "startup failed: %s", err);
        if (!opt.foreground)
            fprintf(stderr, "ccdialerd: startup failed: %s\n", err);
        daemon_ready(&ready_fd, false);
        if (pid_file[0])
            unlink(pid_file);
        return 1;
    }
    monitor_t *mon = monitor_start(&cf, svc, (int64_t)time(NULL), err, sizeof(err));
    if (!mon) {
        LOG_ERR("main", "startup failed: %s", err);
        if (!opt.foreground)
            fprintf(stderr, "ccdialerd: startup failed: %s\n", err);
        svc_stop(svc);
        daemon_ready(&ready_fd, false);
        if (pid_file[0])
            unlink(pid_file);
        return 1;
    }
    LOG_NOTICE("main", "ready");
    daemon_ready(&ready_fd, true);
    monitor_ready(mon);

    for (;;) {
        int sig = wait_signal(&sigs, mon);
        if (sig == SIGHUP) {
            int rc = log_reopen();
            if (rc != 0)
                LOG_ERR("main", "log reopen failed: %s", ccd_strerror(rc));
            else
                LOG_NOTICE("main", "log reopened");
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            LOG_NOTICE("main", "signal %d: shutting down", sig);
            break;
        }
    }
    monitor_stop(mon);
    svc_stop(svc);
    LOG_NOTICE("main", "stopped");
    if (pid_file[0])
        unlink(pid_file);
    log_close();
    return 0;
}
