/*
 * dialer_scale: the whole engine at call-center scale.  ccdialerd (a child process, as
 * deployed) against S simulated Asterisk servers (pbxsim, in this process) with A agents
 * in all and N numbers in MariaDB, one predictive campaign per server.  The agents log in
 * from their phones through each PBX (agent-login), the daemon learns it from AMI, and
 * the dialer keeps them busy.  After a warm-up, over a measured window: originates per
 * second, the daemon's CPU per call placed, and from its /metrics the dialer cycle time,
 * the registry and journal lags (p50/p99), occupancy; the daemon's RSS (peak and at the
 * end) and the load average.
 *
 * Usage: dialer_scale [--agents 1000] [--servers 4] [--numbers 1000000] [--warmup 10]
 *                     [--seconds 15] [--time-scale 10] [--answer-rate 0.5] [--cycle-ms 500]
 *                     [--mode predictive|progressive] [--db-writers 1]
 * Uses the MariaDB of CCD_TEST_DB_SOCKET, or starts a private one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/db/benchdb.h"
#include "tools/pbxsim/pbxsim.h"

#define MAX_SERVERS 16
#define AMI_USER "scale"
#define AMI_SECRET "scale-secret"

typedef struct opts {
    int agents, servers;
    long numbers;
    int warmup_s, seconds;
    double time_scale, answer_rate;
    int cycle_ms, db_writers;
    const char *mode;
} opts_t;

static pid_t g_daemon = -1;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "dialer_scale: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    if (g_daemon > 0)
        kill(g_daemon, SIGKILL);
    exit(1);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        die("no free port: %s", strerror(errno));
    int port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* GET path from the metrics endpoint into out (NUL-terminated); the HTTP status or -1. */
static int http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == cap - 1)
            break;
    }
    close(fd);
    out[got] = '\0';
    int status = -1;
    if (sscanf(out, "HTTP/%*s %d", &status) != 1)
        return -1;
    return status;
}

/* The value of the sample whose line starts with name (labels included), or -1. */
static double metric(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, len) == 0 && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    }
    return -1;
}

static double now_s(void)
{
    return bdb_now();
}

/* utime + stime of a process, seconds. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "VmHWM:" / "VmRSS:" line of /proc/pid/status, MB. */
static double proc_mem_mb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double mb = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0) {
            mb = strtod(line + strlen(key), NULL) / 1024.0;
            break;
        }
    fclose(f);
    return mb;
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static int agent_base(int server)
{
    return 10000 + 1000 * server;
}

/* ---------------- the database ---------------- */

static void load_db(MYSQL *my, const opts_t *o)
{
    char q[2048];
    int per = o->agents / o->servers;
    for (int s = 0; s < o->servers; s++) {
        snprintf(q, sizeof(q),
                 "INSERT INTO agent (type, number, name, password, estatus, eccp_password) "
                 "SELECT 'Agent', %d + seq, CONCAT('Agent ', %d + seq), '1234', 'A', 'pw' "
                 "FROM seq_0_to_%d",
                 agent_base(s), agent_base(s), per - 1);
        bdb_exec(my, q);
        int c = s + 1;
        snprintf(
            q, sizeof(q),
            "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
            "daytime_end, retries, trunk, context, queue, max_canales, script, estatus, callerid) "
            "VALUES (%d, 'Scale %d', CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 30 DAY, "
            "'00:00:00', '23:59:59', 1, 'Local/$OUTNUM$@customers', 'dialer-queue', '8000', 0, "
            "'', 'A', '5550100')",
            c, c);
        bdb_exec(my, q);
        snprintf(
            q, sizeof(q),
            "INSERT INTO ccd_campaign_pacing (id_campaign, mode, abandon_rate_max, max_channels, "
            "ami_server) VALUES (%d, '%s', 0.03, 0, 'pbx%d')",
            c, o->mode, c);
        bdb_exec(my, q);
        snprintf(
            q, sizeof(q),
            "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, "
            "status, total_calls, pending_calls) VALUES (%d, %d, 0, 'Scale', 's.csv', NOW(), 1, "
            "%ld, %ld)",
            c, c, o->numbers / o->servers, o->numbers / o->servers);
        bdb_exec(my, q);
    }
    /* One statement from MariaDB's sequence engine: numbers 8xxxxxxx, which pbxsim answers
     * with the configured mix, spread over the lists in turn. */
    double t0 = now_s();
    /* the ids it refers to were just inserted: no foreign key lookup per row */
    bdb_exec(my, "SET SESSION foreign_key_checks = 0, unique_checks = 0");
    snprintf(
        q, sizeof(q),
        "INSERT INTO calls (id_list, phone) SELECT 1 + seq %% %d, CONCAT('8', LPAD(seq, 7, '0')) "
        "FROM seq_1_to_%ld",
        o->servers, o->numbers);
    bdb_exec(my, q);
    bdb_exec(my, "SET SESSION foreign_key_checks = 1, unique_checks = 1");
    printf("metric dialer_scale.numbers_load %.1f s\n", now_s() - t0);
    fflush(stdout);
}

static long long sql_count(MYSQL *my, const char *q)
{
    if (mysql_query(my, q))
        return -1;
    MYSQL_RES *r = mysql_store_result(my);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    long long v = row && row[0] ? atoll(row[0]) : -1;
    if (r)
        mysql_free_result(r);
    return v;
}

/* ---------------- the agents ---------------- */

/* Each agent logs in from its phone through its PBX, as a supervisor's script would. */
static void login_agents(pbxsim_t *sim, int server, int n)
{
    int fd = tcp_connect(pbxsim_port(sim));
    if (fd < 0)
        die("cannot reach pbxsim %s", "for the agents' logins");
    size_t cap = (size_t)n * 200 + 256, len = 0;
    char *req = malloc(cap);
    if (!req)
        die("%s", "out of memory");
    len += (size_t)snprintf(req + len, cap - len,
                            "Action: Login\r\nUsername: " AMI_USER "\r\nSecret: " AMI_SECRET
                            "\r\nEvents: off\r\n\r\n");
    for (int i = 0; i < n; i++) {
        int a = agent_base(server) + i;
        len += (size_t)snprintf(
            req + len, cap - len,
            "Action: Originate\r\nChannel: Local/%d@phones\r\nContext: agent-login\r\n"
            "Exten: %d\r\nPriority: 1\r\nAsync: true\r\n\r\n",
            a + 50000, a);
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, req + off, len - off);
        if (w <= 0)
            die("login write: %s", strerror(errno));
        off += (size_t)w;
    }
    free(req);
    /* pbxsim answers each Originate; read them so it never waits on a full socket.  The
     * tail of each read is kept, so an answer split between two reads is still counted. */
    static const char ok[] = "successfully queued";
    enum { KEEP = sizeof(ok) - 2 };
    char buf[65536];
    size_t have = 0;
    int queued = 0;
    double end = now_s() + 30;
    while (queued < n && now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        for (const char *s = buf; (s = strstr(s, ok)); s += sizeof(ok) - 1)
            queued++;
        /* keep fewer bytes than a whole answer: nothing is counted twice */
        size_t keep = have < KEEP ? have : KEEP;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
    close(fd);
    if (queued < n)
        die("%s", "pbxsim did not queue every agent login");
}

typedef struct pred_ctx {
    uint32_t n;
} pred_ctx_t;

static bool all_logged(const pbxsim_state_t *st, void *ctx)
{
    return st->agents_logged_in >= ((pred_ctx_t *)ctx)->n;
}

/* ---------------- main ---------------- */

static void usage(void)
{
    fprintf(stderr, "usage: dialer_scale [--agents N] [--servers S] [--numbers N] [--warmup S] "
                    "[--seconds S] [--time-scale X] [--answer-rate P] [--cycle-ms MS] "
                    "[--mode predictive|progressive] [--db-writers N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts_t o = {.agents = 1000,
                .servers = 4,
                .numbers = 1000000,
                .warmup_s = 10,
                .seconds = 15,
                .time_scale = 10,
                .answer_rate = 0.5,
                .cycle_ms = 500,
                .db_writers = 1,
                .mode = "predictive"};
    static const struct option lo[] = {
        {"agents", 1, 0, 'a'},      {"servers", 1, 0, 's'},  {"numbers", 1, 0, 'n'},
        {"warmup", 1, 0, 'w'},      {"seconds", 1, 0, 't'},  {"time-scale", 1, 0, 'x'},
        {"answer-rate", 1, 0, 'r'}, {"cycle-ms", 1, 0, 'c'}, {"mode", 1, 0, 'm'},
        {"db-writers", 1, 0, 'd'},  {"help", 0, 0, 'h'},     {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'a':
            o.agents = atoi(optarg);
            break;
        case 's':
            o.servers = atoi(optarg);
            break;
        case 'n':
            o.numbers = atol(optarg);
            break;
        case 'w':
            o.warmup_s = atoi(optarg);
            break;
        case 't':
            o.seconds = atoi(optarg);
            break;
        case 'x':
            o.time_scale = atof(optarg);
            break;
        case 'r':
            o.answer_rate = atof(optarg);
            break;
        case 'c':
            o.cycle_ms = atoi(optarg);
            break;
        case 'm':
            o.mode = optarg;
            break;
        case 'd':
            o.db_writers = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (o.servers < 1 || o.servers > MAX_SERVERS || o.agents < o.servers ||
        o.agents / o.servers > 1000 || o.numbers < o.servers || o.db_writers < 1 ||
        o.db_writers > 16 || o.seconds < 1 || o.warmup_s < 0 || o.time_scale <= 0 ||
        (strcmp(o.mode, "predictive") != 0 && strcmp(o.mode, "progressive") != 0))
        usage();
    int per = o.agents / o.servers;
    o.agents = per * o.servers;
    signal(SIGPIPE, SIG_IGN);
    double t_begin = now_s();

    conf_database_t db;
    bdb_begin(&db, "ccd_dscale");
    MYSQL *my = bdb_fresh(&db);
    load_db(my, &o);

    pbxsim_t *sims[MAX_SERVERS];
    for (int s = 0; s < o.servers; s++) {
        pbxsim_opts_t so;
        pbxsim_opts_default(&so);
        so.seed = 100 + (uint64_t)s;
        so.username = AMI_USER;
        so.secret = AMI_SECRET;
        so.time_scale = o.time_scale;
        so.quiet_noise = true;
        so.agents = (uint32_t)per;
        so.agent_base = (uint32_t)agent_base(s);
        so.agent_login_wait_ms = 2000;
        so.answer_rate = o.answer_rate;
        so.busy_rate = 0.3;
        so.ring = (pbxsim_dist_t){2000, 12000};
        so.talk = (pbxsim_dist_t){60000, 180000}; /* 120 s on average */
        so.max_connections = 64;
        if (!(sims[s] = pbxsim_start(&so)))
            die("%s", "pbxsim did not start");
    }

    char dir[] = "/tmp/ccdscale.XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char conf_path[128], log_path[128];
    snprintf(conf_path, sizeof(conf_path), "%s/ccdialer.conf", dir);
    snprintf(log_path, sizeof(log_path), "%s/ccdialerd.log", dir);
    int mport = free_port();
    FILE *f = fopen(conf_path, "w");
    if (!f)
        die("cannot write %s", conf_path);
    for (int s = 0; s < o.servers; s++)
        fprintf(f,
                "[ami pbx%d]\nhost = 127.0.0.1\nport = %u\nusername = " AMI_USER
                "\nsecret = " AMI_SECRET "\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n\n",
                s + 1, (unsigned)pbxsim_port(sims[s]));
    fprintf(f,
            "[database]\nsocket = %s\nuser = %s\npassword = env:CCD_SCALE_DB_PASSWORD\nname = %s\n"
            "writer_threads = %d\n\n"
            "[eccp]\nenabled = no\n\n[agi]\nenabled = no\n\n"
            "[dialer]\ncycle_ms = %d\noriginate_timeout = 30\nshort_call = 0\n\n"
            "[metrics]\nenabled = yes\nbind = 127.0.0.1\nport = %d\n\n"
            "[log]\nlevel = notice\ntarget = %s\n",
            db.socket, db.user, db.name, o.db_writers, o.cycle_ms, mport, log_path);
    fclose(f);
    setenv("CCD_SCALE_DB_PASSWORD", db.password, 1);

    g_daemon = fork();
    if (g_daemon < 0)
        die("fork: %s", strerror(errno));
    if (g_daemon == 0) {
        execl(CCD_CCDIALERD, CCD_CCDIALERD, "-f", "-c", conf_path, (char *)NULL);
        _exit(127);
    }
    static char page[1 << 20];
    double end = now_s() + 60;
    while (http_get(mport, "/readyz", page, sizeof(page)) != 200) {
        if (now_s() > end || waitpid(g_daemon, NULL, WNOHANG) == g_daemon)
            die("the daemon did not get ready (log: %s)", log_path);
        usleep(100 * 1000);
    }

    /* The agents log in; the daemon sees them through AMI (AgentLogin, QueueMemberStatus). */
    double t_login = now_s();
    for (int s = 0; s < o.servers; s++)
        login_agents(sims[s], s, per);
    for (int s = 0; s < o.servers; s++) {
        pred_ctx_t pc = {(uint32_t)per};
        if (pbxsim_wait(sims[s], all_logged, &pc, 60000) != 0)
            die("%s", "the agents did not log in on pbxsim");
    }
    end = now_s() + 60;
    for (;;) {
        if (http_get(mport, "/metrics", page, sizeof(page)) == 200 &&
            metric(page, "ccdialer_agents{state=\"logged_out\"}") >= 0 &&
            metric(page, "ccdialer_agents{state=\"ready\"}") +
                    metric(page, "ccdialer_agents{state=\"on_call\"}") >=
                o.agents)
            break;
        if (now_s() > end)
            die("the daemon did not see every agent ready (log: %s)", log_path);
        usleep(200 * 1000);
    }
    printf("metric dialer_scale.agents_ready %.1f s\n", now_s() - t_login);
    fflush(stdout);

    /* Warm-up (the pacers learn, the agents fill), then the measured window sampled each second. */
    double t0 = now_s() + o.warmup_s;
    while (now_s() < t0)
        usleep(100 * 1000);
    if (http_get(mport, "/metrics", page, sizeof(page)) != 200)
        die("%s", "no metrics");
    double placed0 = metric(page, "ccdialer_dialer_calls_placed_total");
    double rows0 = metric(page, "ccdialer_db_rows_committed_total");
    double stmts0 = metric(page, "ccdialer_db_statements_total");
    long long questions0 = sql_count(my, "SELECT VARIABLE_VALUE FROM information_schema."
                                         "GLOBAL_STATUS WHERE VARIABLE_NAME = 'QUESTIONS'");
    double wsum0 = metric(page, "ccdialer_db_write_latency_seconds_sum");
    double wcnt0 = metric(page, "ccdialer_db_write_latency_seconds_count");
    double cmax0 = metric(page, "ccdialer_dialer_cycle_seconds{which=\"max\"}");
    int pressured = 0;
    double cpu0 = proc_cpu_s(g_daemon), self0 = proc_cpu_s(getpid());
    double mt0 = now_s();
    double occ_sum = 0, rss_max = 0;
    int samples = 0;
    uint64_t orig0 = 0;
    for (int s = 0; s < o.servers; s++) {
        pbxsim_state_t st;
        pbxsim_state(sims[s], &st);
        orig0 += st.originates;
    }
    while (now_s() < mt0 + o.seconds) {
        usleep(1000 * 1000);
        if (http_get(mport, "/metrics", page, sizeof(page)) != 200)
            continue;
        double on_call = metric(page, "ccdialer_agents{state=\"on_call\"}");
        double ready = metric(page, "ccdialer_agents{state=\"ready\"}");
        if (getenv("CCD_SCALE_SERIES")) { /* one line a second on stderr, to see a trend */
            double placed = metric(page, "ccdialer_dialer_calls_placed_total");
            fprintf(stderr,
                    "series t=%.0f placed=%.0f on_call=%.0f ready=%.0f in_flight=%.0f "
                    "cycle_last_ms=%.2f\n",
                    now_s() - mt0, placed, on_call, ready,
                    metric(page, "ccdialer_dialer_calls_in_flight"),
                    1000 * metric(page, "ccdialer_dialer_cycle_seconds{which=\"last\"}"));
        }
        if (on_call >= 0 && ready >= 0 && on_call + ready > 0) {
            occ_sum += on_call / (on_call + ready);
            samples++;
        }
        pressured += metric(page, "ccdialer_db_backpressured") > 0;
        double rss = proc_mem_mb(g_daemon, "VmRSS:");
        if (rss > rss_max)
            rss_max = rss;
    }
    double mt1 = now_s();
    if (http_get(mport, "/metrics", page, sizeof(page)) != 200)
        die("%s", "no metrics");
    double cpu1 = proc_cpu_s(g_daemon), self1 = proc_cpu_s(getpid());
    double placed1 = metric(page, "ccdialer_dialer_calls_placed_total");
    double rows1 = metric(page, "ccdialer_db_rows_committed_total");
    double stmts1 = metric(page, "ccdialer_db_statements_total");
    long long questions1 = sql_count(my, "SELECT VARIABLE_VALUE FROM information_schema."
                                         "GLOBAL_STATUS WHERE VARIABLE_NAME = 'QUESTIONS'");
    double wsum1 = metric(page, "ccdialer_db_write_latency_seconds_sum");
    double wcnt1 = metric(page, "ccdialer_db_write_latency_seconds_count");
    uint64_t orig1 = 0;
    for (int s = 0; s < o.servers; s++) {
        pbxsim_state_t st;
        pbxsim_state(sims[s], &st);
        orig1 += st.originates;
    }
    double calls = placed1 - placed0, span = mt1 - mt0;
    printf("metric dialer_scale.originates_per_s %.1f /s\n", calls / span);
    printf("metric dialer_scale.pbx_originates_per_s %.1f /s\n", (double)(orig1 - orig0) / span);
    printf("metric dialer_scale.cpu_per_call %.3f ms\n",
           calls > 0 ? 1000.0 * (cpu1 - cpu0) / calls : -1);
    printf("metric dialer_scale.daemon_cpu %.2f cores\n", (cpu1 - cpu0) / span);
    /* This process: the simulated PBXs, and the bench's own scrapes (one a second). */
    printf("metric dialer_scale.pbxsim_cpu_per_call %.3f ms\n",
           calls > 0 ? 1000.0 * (self1 - self0) / calls : -1);
    printf("metric dialer_scale.cycle_p50 %.3f ms\n",
           1000 * metric(page, "ccdialer_dialer_cycle_seconds{which=\"p50\"}"));
    printf("metric dialer_scale.cycle_p99 %.3f ms\n",
           1000 * metric(page, "ccdialer_dialer_cycle_seconds{which=\"p99\"}"));
    printf("metric dialer_scale.cycle_max %.3f ms\n",
           1000 * metric(page, "ccdialer_dialer_cycle_seconds{which=\"max\"}"));
    /* The cycle quantiles cover the whole run (a few hundred cycles): the largest cycle may
     * be a warm-up one, which this tells. */
    printf("metric dialer_scale.cycle_max_before_window %.3f ms\n", 1000 * cmax0);
    printf("metric dialer_scale.registry_lag_p50 %.3f ms\n",
           1000 * metric(page, "ccdialer_registry_lag_seconds{quantile=\"0.5\"}"));
    printf("metric dialer_scale.registry_lag_p99 %.3f ms\n",
           1000 * metric(page, "ccdialer_registry_lag_seconds{quantile=\"0.99\"}"));
    printf("metric dialer_scale.journal_lag_p50 %.3f ms\n",
           1000 * metric(page, "ccdialer_journal_lag_seconds{quantile=\"0.5\"}"));
    printf("metric dialer_scale.journal_lag_p99 %.3f ms\n",
           1000 * metric(page, "ccdialer_journal_lag_seconds{quantile=\"0.99\"}"));
    printf("metric dialer_scale.journal_backlog_high_water %.0f changes\n",
           metric(page, "ccdialer_journal_backlog_high_water"));
    printf("metric dialer_scale.db_write_queue_high_water %.0f writes\n",
           metric(page, "ccdialer_db_write_queue_high_water"));
    printf("metric dialer_scale.db_write_latency_mean %.3f s\n",
           wcnt1 > wcnt0 ? (wsum1 - wsum0) / (wcnt1 - wcnt0) : -1);
    printf("metric dialer_scale.db_write_latency_max %.3f s\n",
           metric(page, "ccdialer_db_write_latency_max_seconds"));
    printf("metric dialer_scale.db_rows_per_s %.0f /s\n", (rows1 - rows0) / span);
    printf("metric dialer_scale.db_rows_per_call %.1f rows\n",
           calls > 0 ? (rows1 - rows0) / calls : -1);
    /* The writers' own count (a bulk execution is one), and everything the server ran for
     * every client (readers' claims and this program's few queries included). */
    printf("metric dialer_scale.db_write_statements_per_call %.2f statements\n",
           calls > 0 && stmts0 >= 0 && stmts1 >= 0 ? (stmts1 - stmts0) / calls : -1);
    printf("metric dialer_scale.db_server_statements_per_call %.2f statements\n",
           calls > 0 && questions0 >= 0 && questions1 >= 0 ? (double)(questions1 - questions0) / calls
                                                         : -1);
    printf("metric dialer_scale.db_backpressured %.2f of_samples\n",
           samples ? (double)pressured / samples : 0);
    printf("metric dialer_scale.occupancy %.3f on_call/logged_in\n",
           samples ? occ_sum / samples : -1);
    printf("metric dialer_scale.rss_peak %.1f MB\n", proc_mem_mb(g_daemon, "VmHWM:"));
    printf("metric dialer_scale.rss_end %.1f MB\n", proc_mem_mb(g_daemon, "VmRSS:"));
    (void)rss_max;
    printf("metric dialer_scale.loadavg %.2f 1min\n", loadavg1());
    fflush(stdout);

    kill(g_daemon, SIGTERM);
    int wst = 0;
    waitpid(g_daemon, &wst, 0);
    g_daemon = -1;
    /* What the journal wrote for the whole run (the daemon flushed it at its stop). */
    long long linked = sql_count(my, "SELECT COUNT(*) FROM calls WHERE id_agent IS NOT NULL");
    long long aband = sql_count(my, "SELECT COUNT(*) FROM calls WHERE status = 'Abandoned'");
    long long tried = sql_count(my, "SELECT COUNT(*) FROM calls WHERE status IS NOT NULL");
    /* Connected after more than the pacer's 2 s grace: what it counts as abandoned (the law's
     * way), and steers its allowance by. */
    long long late = sql_count(my, "SELECT COUNT(*) FROM calls WHERE id_agent IS NOT NULL "
                                   "AND duration_wait > 2");
    printf("metric dialer_scale.calls_tried %lld calls\n", tried);
    printf("metric dialer_scale.calls_connected %lld calls\n", linked);
    printf("metric dialer_scale.abandon_rate %.4f abandoned/(connected+abandoned)\n",
           linked + aband > 0 ? (double)aband / (double)(linked + aband) : 0.0);
    printf("metric dialer_scale.late_connect_rate %.4f connected_after_2s/connected\n",
           linked > 0 ? (double)late / (double)linked : 0.0);
    printf("metric dialer_scale.daemon_exit %d status\n", WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    /* A run the daemon logged warnings or errors in is not a clean figure: say so. */
    int warnings = 0;
    FILE *lf = fopen(log_path, "r");
    if (lf) {
        char line[1024];
        while (fgets(line, sizeof(line), lf))
            warnings += strstr(line, " WARN ") || strstr(line, " ERROR ");
        fclose(lf);
    }
    printf("metric dialer_scale.daemon_log_warnings %d lines\n", warnings);
    for (int s = 0; s < o.servers; s++)
        pbxsim_stop(sims[s]);
    mysql_close(my);
    bdb_end(&db);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (getenv("CCD_SCALE_KEEP"))
        fprintf(stderr, "dialer_scale: kept %s\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "dialer_scale: could not remove %s\n", dir);
    printf("metric dialer_scale.wall %.1f s\n", now_s() - t_begin);
    return 0;
}
