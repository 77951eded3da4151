/*
 * eccp_fair: can one set of ECCP clients delay another's database work?
 *
 * In-process: the real db module (readers, the fair read queue) on a private
 * MariaDB (bench/db/benchdb.c: CCD_TEST_DB_SOCKET or a server started here),
 * the registry and the ECCP server with its workers, every bound at its
 * conf default.  Logins go through the database (eccp_authorized_clients).
 *
 * - Flood: N sessions (default 100), logged in, each keeping F requests in
 *   flight (default 128) of getcampaignlist over 500 campaigns (a sort per
 *   read), closed loop: each answer, list or refusal, is followed by a new
 *   request.  One epoll thread drives them all.
 * - Witness: a fresh connection that logs in and asks getagentstatus (the
 *   agent is in the registry), then closes; again and again.  Its latency
 *   (connect -> login answer -> status answer) is measured without the flood
 *   (unloaded) and during it (loaded), in the same run.  Any answer that is
 *   not a success counts as a witness error.
 * - Memory: RSS before the flood (client buffers allocated and touched first)
 *   and the highest RSS seen during it.
 *
 * Output: `metric eccp_fair.<name> <value> <unit>` lines.
 * Usage: eccp_fair [-n sessions (100)] [-f in flight per session (128)]
 *                  [-w witness rounds per phase (300)] [-d max seconds per phase (15)]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/db/benchdb.h"
#include "bench/eccp/bench_stats.h"
#include "conf/conf.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/db.h"
#include "eccp/eccp.h"
#include "reg/reg.h"

#define CBUF 65536

static const char LOGIN[] = "<request id=\"L\"><login><username>agentconsole</username><password>"
                            "agentconsole</password></login></request>";
static const char STATUS[] = "<request id=\"S\"><getagentstatus><agent_number>Agent/9000"
                             "</agent_number></getagentstatus></request>";
static const char FLOODREQ[] = "<request id=\"f\"><getcampaignlist><limit>20</limit>"
                               "</getcampaignlist></request>";

typedef struct fconn {
    int fd;
    size_t have;
    char *buf; /* CBUF bytes, preallocated */
} fconn_t;

typedef struct flood {
    fconn_t *c;
    int n, depth;
    int ep;
    atomic_bool stop;
    atomic_ullong lists, busy, other;
    pthread_t th;
} flood_t;

static double pct_ms(int64_t *v, size_t n, double p)
{
    return (double)bench_pct(v, n, p) / 1000.0;
}

/* Blocking: one whole message (two '\n') into buf within timeout_ms; its length or -1. */
static int recv_msg(int fd, char *buf, size_t bufsz, int timeout_ms)
{
    size_t have = 0;
    int nl = 0;
    int64_t end = clk_mono_ms() + timeout_ms;
    while (clk_mono_ms() < end) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        /* one request at a time on this connection: what arrives belongs to one answer */
        ssize_t k = recv(fd, buf + have, bufsz - 1 - have, 0);
        if (k <= 0)
            return -1;
        for (ssize_t i = 0; i < k; i++)
            if (buf[have + (size_t)i] == '\n')
                nl++;
        have += (size_t)k;
        if (nl >= 2) {
            buf[have] = '\0';
            return (int)have;
        }
        if (have >= bufsz - 1)
            return -1;
    }
    return -1;
}

/* ---- the flood ---- */

static void flood_send(fconn_t *c, int n)
{
    static char many[sizeof(FLOODREQ) * 256];
    static size_t one = sizeof(FLOODREQ) - 1;
    if (!many[0])
        for (int i = 0; i < 256; i++)
            memcpy(many + (size_t)i * one, FLOODREQ, one);
    while (n > 0) {
        int k = n > 256 ? 256 : n;
        if (bench_send_all(c->fd, many, (size_t)k * one) != 0)
            return;
        n -= k;
    }
}

static void *flood_main(void *arg)
{
    flood_t *f = arg;
    struct epoll_event evs[128];
    while (!atomic_load(&f->stop)) {
        int k = epoll_wait(f->ep, evs, 128, 50);
        for (int i = 0; i < k; i++) {
            fconn_t *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->buf + c->have, CBUF - c->have, MSG_DONTWAIT);
            if (r <= 0)
                continue;
            c->have += (size_t)r;
            /* whole messages: "<?xml ...?>\n<response ...>\n" */
            size_t off = 0;
            int answers = 0;
            for (;;) {
                char *nl1 = memchr(c->buf + off, '\n', c->have - off);
                if (!nl1)
                    break;
                char *nl2 = memchr(nl1 + 1, '\n', c->have - (size_t)(nl1 + 1 - c->buf));
                if (!nl2)
                    break;
                size_t len = (size_t)(nl2 + 1 - (c->buf + off));
                if (memmem(c->buf + off, len, "<getcampaignlist_response><campaigns>", 37))
                    atomic_fetch_add(&f->lists, 1);
                else if (memmem(c->buf + off, len, "<code>503</code>", 16))
                    atomic_fetch_add(&f->busy, 1);
                else
                    atomic_fetch_add(&f->other, 1);
                answers++;
                off += len;
            }
            memmove(c->buf, c->buf + off, c->have - off);
            c->have -= off;
            if (answers)
                flood_send(c, answers); /* closed loop: keep depth in flight */
        }
    }
    return NULL;
}

/* ---- the witness ---- */

typedef struct wstats {
    int64_t *lat_us, *login_us;
    size_t n;
    int errors;
} wstats_t;

/* One round: connect, login (database, AUTH lane), getagentstatus (registry). */
static int witness_round(uint16_t port, int64_t *total_us, int64_t *login_us)
{
    char buf[8192] = "";
    int64_t t0 = clk_mono_us();
    int fd = bench_connect(port);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (bench_send_all(fd, LOGIN, sizeof(LOGIN) - 1) == 0 && recv_msg(fd, buf, sizeof(buf), 10000) > 0 &&
        strstr(buf, "<login_response><success/>")) {
        *login_us = clk_mono_us() - t0;
        if (bench_send_all(fd, STATUS, sizeof(STATUS) - 1) == 0 &&
            recv_msg(fd, buf, sizeof(buf), 10000) > 0 && strstr(buf, "<getagentstatus_response>") &&
            !strstr(buf, "<failure>"))
            rc = 0;
    }
    if (rc)
        fprintf(stderr, "eccp_fair: witness error: %.300s\n", buf);
    *total_us = clk_mono_us() - t0;
    close(fd);
    return rc;
}

static void witness_phase(uint16_t port, int rounds, int max_s, wstats_t *w, long *rss_peak)
{
    w->n = 0;
    w->errors = 0;
    int64_t end = clk_mono_ms() + (int64_t)max_s * 1000;
    for (int i = 0; i < rounds && clk_mono_ms() < end; i++) {
        int64_t t = 0, l = 0;
        if (witness_round(port, &t, &l) != 0) {
            w->errors++;
            continue;
        }
        w->lat_us[w->n] = t;
        w->login_us[w->n] = l;
        w->n++;
        if (rss_peak) {
            long r = bench_rss_kb();
            if (r > *rss_peak)
                *rss_peak = r;
        }
        usleep(2000); /* a console, not a second flood */
    }
}

static void print_witness(const char *phase, wstats_t *w)
{
    printf("metric eccp_fair.witness.%s.rounds %zu count\n", phase, w->n);
    printf("metric eccp_fair.witness.%s.p50 %.3f ms\n", phase, pct_ms(w->lat_us, w->n, 0.50));
    printf("metric eccp_fair.witness.%s.p99 %.3f ms\n", phase, pct_ms(w->lat_us, w->n, 0.99));
    printf("metric eccp_fair.witness.%s.max %.3f ms\n", phase, pct_ms(w->lat_us, w->n, 1.0));
    printf("metric eccp_fair.witness.%s.login_p99 %.3f ms\n", phase,
           pct_ms(w->login_us, w->n, 0.99));
    printf("metric eccp_fair.witness.%s.errors %d count\n", phase, w->errors);
}

/* ---- setup ---- */

static void apply_agent(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_agent_t *a = reg_txn_agent(tx, "Agent/9000", true);
    a->active = true;
    a->login = REG_LOGGED_IN;
    snprintf(a->extension, sizeof(a->extension), "1064");
    reg_txn_agent_touch(tx, a);
}

int main(int argc, char **argv)
{
    int nsess = 100, depth = 128, rounds = 300, max_s = 15;
    int opt;
    while ((opt = getopt(argc, argv, "n:f:w:d:")) != -1) {
        switch (opt) {
        case 'n': nsess = atoi(optarg); break;
        case 'f': depth = atoi(optarg); break;
        case 'w': rounds = atoi(optarg); break;
        case 'd': max_s = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: eccp_fair [-n sessions] [-f in flight] [-w rounds] [-d s]\n");
            return 2;
        }
    }
    if (nsess < 1 || depth < 1 || rounds < 1 || max_s < 1)
        return 2;
    log_set_level(LOG_LVL_ERR);

    conf_t cf;
    conf_defaults(&cf);
    conf_database_t dbc;
    bdb_begin(&dbc, "ccdb_fair");
    dbc.read_queue_max = cf.database.read_queue_max;
    dbc.read_jobs_per_client = cf.database.read_jobs_per_client;
    dbc.read_jobs_per_address = cf.database.read_jobs_per_address;
    MYSQL *my = bdb_fresh(&dbc);
    char q[CONF_STR_LEN + 16];
    snprintf(q, sizeof(q), "USE `%s`", dbc.name);
    bdb_exec(my, q);
    bdb_exec(my, "DELETE FROM eccp_authorized_clients");
    bdb_exec(my, "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES "
                 "('agentconsole', md5('agentconsole'))");
    bdb_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, trunk, context, queue, max_canales, script, estatus) SELECT "
                 "seq, CONCAT('Campaign ', seq), '2020-01-01', '2030-12-31', '08:00:00', '20:00:00', "
                 "3, NULL, 'from-internal', '8000', 5, REPEAT('s', 200), IF(seq % 3, 'A', 'I') "
                 "FROM seq_1_to_500");
    mysql_close(my);

    db_t *db = bench_db_start(&dbc, "eccp_fair");
    if (!db) {
        bdb_end(&dbc);
        return 1;
    }
    reg_t *reg = reg_new(10000, NULL, 0);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.max_sessions = nsess + 64;
    eccp_deps_t deps = {.reg = reg, .db_submit = bench_db_submit, .db_ctx = db};
    char err[CCD_ERR_LEN];
    eccp_server_t *srv = eccp_server_new(&cf.eccp, &deps, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "eccp_fair: server: %s\n", err);
        return 1;
    }
    if (reg_start(reg) != 0) {
        fprintf(stderr, "eccp_fair: cannot start the registry thread\n");
        return 1;
    }
    eccp_server_start(srv);
    reg_post(reg, apply_agent, NULL, NULL);
    uint16_t port = eccp_server_port(srv);

    printf("eccp_fair: %d flooding sessions x %d getcampaignlist in flight, witness login + "
           "getagentstatus; read bounds: %d per lane, %d per client, %d per address\n",
           nsess, depth, dbc.read_queue_max, dbc.read_jobs_per_client, dbc.read_jobs_per_address);

    /* client memory first, so the RSS delta is the server's */
    flood_t fl = {.n = nsess, .depth = depth};
    fl.c = calloc((size_t)nsess, sizeof(fconn_t));
    for (int i = 0; i < nsess; i++) {
        fl.c[i].buf = malloc(CBUF);
        memset(fl.c[i].buf, 0, CBUF);
    }
    wstats_t w = {.lat_us = calloc((size_t)rounds, sizeof(int64_t)),
                  .login_us = calloc((size_t)rounds, sizeof(int64_t))};

    /* unloaded: warm up, then measure */
    witness_phase(port, 20, max_s, &w, NULL);
    witness_phase(port, rounds, max_s, &w, NULL);
    print_witness("unloaded", &w);
    int unloaded_errors = w.errors;

    /* the flood's sessions log in (through the database) */
    fl.ep = epoll_create1(0);
    char buf[8192];
    for (int i = 0; i < nsess; i++) {
        fl.c[i].fd = bench_connect(port);
        if (fl.c[i].fd < 0 || bench_send_all(fl.c[i].fd, LOGIN, sizeof(LOGIN) - 1) != 0 ||
            recv_msg(fl.c[i].fd, buf, sizeof(buf), 10000) <= 0 || !strstr(buf, "<success/>")) {
            fprintf(stderr, "eccp_fair: flood session %d could not log in\n", i);
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &fl.c[i]};
        epoll_ctl(fl.ep, EPOLL_CTL_ADD, fl.c[i].fd, &ev);
    }
    long rss0 = bench_rss_kb();
    db_stats_t d0, d1;
    db_get_stats(db, &d0);
    /* the thread starts after these sends: a socket is written by one thread at a time */
    for (int i = 0; i < nsess; i++)
        flood_send(&fl.c[i], depth);
    pthread_create(&fl.th, NULL, flood_main, &fl);
    usleep(1000 * 1000); /* the flood reaches its steady state */
    unsigned long long l0 = atomic_load(&fl.lists), b0 = atomic_load(&fl.busy);
    int64_t t0 = clk_mono_us();
    long rss_peak = bench_rss_kb();
    witness_phase(port, rounds, max_s, &w, &rss_peak);
    double secs = (double)(clk_mono_us() - t0) / 1e6;
    unsigned long long l1 = atomic_load(&fl.lists), b1 = atomic_load(&fl.busy);
    db_get_stats(db, &d1);
    print_witness("loaded", &w);
    atomic_store(&fl.stop, true);
    pthread_join(fl.th, NULL);

    printf("metric eccp_fair.flood.lists_per_s %.0f req/s\n", (double)(l1 - l0) / secs);
    printf("metric eccp_fair.flood.refused_per_s %.0f req/s\n", (double)(b1 - b0) / secs);
    printf("metric eccp_fair.flood.other_answers %llu count\n",
           (unsigned long long)atomic_load(&fl.other));
    printf("metric eccp_fair.db.read_queue_high_water %zu jobs\n", d1.read_queue_high_water);
    printf("metric eccp_fair.db.refused_client %llu count\n",
           (unsigned long long)(d1.reads_refused_client - d0.reads_refused_client));
    printf("metric eccp_fair.db.refused_address %llu count\n",
           (unsigned long long)(d1.reads_refused_address - d0.reads_refused_address));
    printf("metric eccp_fair.db.refused_total %llu count\n",
           (unsigned long long)(d1.reads_refused_total - d0.reads_refused_total));
    printf("metric eccp_fair.rss.before_flood %.1f MB\n", (double)rss0 / 1024.0);
    printf("metric eccp_fair.rss.peak_during_flood %.1f MB\n", (double)rss_peak / 1024.0);
    printf("metric eccp_fair.rss.growth %.1f MB\n", (double)(rss_peak - rss0) / 1024.0);

    for (int i = 0; i < nsess; i++) {
        close(fl.c[i].fd);
        free(fl.c[i].buf);
    }
    free(fl.c);
    close(fl.ep);
    reg_stop(reg);
    eccp_server_free(srv);
    reg_free(reg);
    db_stop(db, 1000);
    db_free(db);
    bdb_end(&dbc);
    free(w.lat_us);
    free(w.login_us);
    int errors = unloaded_errors + w.errors;
    return errors ? 1 : 0;
}
