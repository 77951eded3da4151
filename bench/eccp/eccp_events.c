/*
 * eccp_events: what the database part of agentlinked costs.
 *
 * In-process: registry, ECCP server (its workers, default 2) and N logged-in
 * consoles (login_check hook: no database login) read by one epoll thread.  A
 * burst of M links (agent i linked to call i, each its own registry change) is
 * posted as fast as the registry takes it; every console receives M agentlinked.
 *
 * - enriched: the real db module on a private MariaDB (bench/db/benchdb.c)
 *   seeded with the M calls, their call_attribute JSON (6 attributes), 3 saved
 *   form values each and their Success call_progress_log rows (as the call
 *   journal would have written them): each agentlinked waits for its read job
 *   (attributes, survey, row id) on every worker that has a console for it.
 * - plain: the same server without a database (events built from the registry
 *   alone, the behaviour before): the same run's baseline.
 *
 * Figures per mode: links/s (M / time from the first post to the last console
 * having the last event), deliveries/s (M x N / that time), and per link the
 * latency from its post to the last console receiving it (p50, p99: in a burst
 * that is mostly the queue in front of it).  Then both modes again with one
 * link every 20 ms (100 links, `_paced`): the latency of a single event.  Also
 * the enriched runs' read jobs per link (one per worker with a console for it).
 *
 * Output: `metric eccp_events.<mode>.<name> <value> <unit>` lines.
 * Usage: eccp_events [-n consoles (20)] [-m links (500)] [-w workers (2)]
 */
#include <errno.h>
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

#define CBUF (1 << 18)

typedef struct conn {
    int fd;
    char buf[CBUF];
    size_t len;
    int got; /* agentlinked received */
} conn_t;

typedef struct run {
    int n, m;
    conn_t *c;
    int64_t *post_us;  /* per link: when it was posted */
    int64_t *last_us;  /* per link: when the last console got it */
    _Atomic int *seen; /* per link: consoles that got it */
    atomic_int done;   /* consoles that got all m */
    atomic_bool stop;
} run_t;

/* One event or answer out of c's buffer (ends with "</event>\n" or "</response>\n"). */
static void consume(run_t *r, conn_t *c, int64_t now)
{
    for (;;) {
        char *e = memmem(c->buf, c->len, "</event>\n", 9);
        char *a = memmem(c->buf, c->len, "</response>\n", 12);
        char *end = e && (!a || e < a) ? e + 9 : a ? a + 12 : NULL;
        if (!end)
            return;
        if (e && end == e + 9 && memmem(c->buf, (size_t)(e - c->buf), "<agentlinked>", 13)) {
            char *k = memmem(c->buf, (size_t)(e - c->buf), "<call_id>", 9);
            int id = k ? atoi(k + 9) : 0;
            if (id >= 1 && id <= r->m) {
                if (atomic_fetch_add(&r->seen[id - 1], 1) + 1 == r->n)
                    r->last_us[id - 1] = now;
                if (++c->got == r->m)
                    atomic_fetch_add(&r->done, 1);
            }
        }
        size_t used = (size_t)(end - c->buf);
        memmove(c->buf, end, c->len - used);
        c->len -= used;
    }
}

static void *reader_main(void *arg)
{
    run_t *r = arg;
    int ep = epoll_create1(0);
    for (int i = 0; i < r->n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->c[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, r->c[i].fd, &ev);
    }
    struct epoll_event evs[256];
    while (!atomic_load(&r->stop)) {
        int k = epoll_wait(ep, evs, 256, 50);
        int64_t now = clk_mono_us();
        for (int i = 0; i < k; i++) {
            conn_t *c = evs[i].data.ptr;
            ssize_t got = recv(c->fd, c->buf + c->len, CBUF - c->len, MSG_DONTWAIT);
            if (got > 0) {
                c->len += (size_t)got;
                consume(r, c, now);
            }
        }
    }
    close(ep);
    return NULL;
}

typedef struct link_arg {
    int i;
} link_arg_t;

static void apply_agents(reg_txn_t *tx, void *arg)
{
    int m = *(int *)arg;
    for (int i = 0; i < m; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", 10000 + i);
        reg_agent_t *a = reg_txn_agent(tx, num, true);
        a->active = true;
        a->login = REG_LOGGED_IN;
        reg_txn_agent_touch(tx, a);
    }
}

static void apply_link(reg_txn_t *tx, void *arg)
{
    int i = ((link_arg_t *)arg)->i;
    char num[32];
    snprintf(num, sizeof(num), "Agent/%d", 10000 + i);
    reg_call_t *c = reg_txn_call_new(tx);
    if (!c)
        return;
    c->type = REG_CALL_OUTGOING;
    c->status = REG_CS_SUCCESS;
    c->db_call_id = i + 1;
    c->campaign_id = 1;
    c->retries = 1;
    snprintf(c->phone, sizeof(c->phone), "555%06d", i + 1);
    snprintf(c->queue, sizeof(c->queue), "8000");
    snprintf(c->channel, sizeof(c->channel), "SIP/prov-%08x", i + 1);
    snprintf(c->agent, sizeof(c->agent), "%s", num);
    c->t_link_ms = clk_wall_ms();
    reg_txn_call_touch(tx, c);
    reg_agent_t *a = reg_txn_agent(tx, num, true);
    a->call_id = c->id;
    reg_txn_agent_touch(tx, a);
}

/* One mode: fresh registry and server, n consoles, a burst of m links.  0 or -1. */
static int run_mode(const char *mode, db_t *db, int n, int m, int workers, int pace_us)
{
    conf_t cf;
    conf_defaults(&cf);
    char err[CCD_ERR_LEN];
    reg_t *reg = reg_new(100000, NULL, 0);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = workers;
    cf.eccp.max_sessions = n + 16;
    cf.eccp.max_unauth_sessions = n + 16;
    cf.eccp.max_unauth_per_address = n + 16;
    eccp_deps_t deps = {.reg = reg, .login_check = bench_ok_login};
    if (db) {
        deps.db_submit = bench_db_submit;
        deps.db_ctx = db;
        deps.db = db;
    }
    eccp_server_t *srv = eccp_server_new(&cf.eccp, &deps, err, sizeof(err));
    if (!srv || reg_start(reg) != 0 || eccp_server_start(srv) != 0) {
        fprintf(stderr, "eccp_events: server: %s\n", err);
        return -1;
    }
    int m_arg = m;
    reg_post(reg, apply_agents, &m_arg, NULL);

    run_t r = {.n = n, .m = m};
    r.c = calloc((size_t)n, sizeof(conn_t));
    r.post_us = calloc((size_t)m, sizeof(int64_t));
    r.last_us = calloc((size_t)m, sizeof(int64_t));
    r.seen = calloc((size_t)m, sizeof(*r.seen));
    if (!r.c || !r.post_us || !r.last_us || !r.seen)
        return -1;
    static const char LOGIN[] = "<request id=\"L\"><login><username>a</username><password>b"
                                "</password></login></request>";
    for (int i = 0; i < n; i++) {
        r.c[i].fd = bench_connect(eccp_server_port(srv));
        if (r.c[i].fd < 0 || bench_send_all(r.c[i].fd, LOGIN, sizeof(LOGIN) - 1) != 0) {
            fprintf(stderr, "eccp_events: cannot connect console %d\n", i);
            return -1;
        }
        /* the login answer, read whole before the burst */
        int64_t end = clk_mono_ms() + 10000;
        while (!memmem(r.c[i].buf, r.c[i].len, "</response>\n", 12) && clk_mono_ms() < end) {
            ssize_t k = recv(r.c[i].fd, r.c[i].buf + r.c[i].len, CBUF - r.c[i].len, 0);
            if (k <= 0)
                break;
            r.c[i].len += (size_t)k;
        }
        if (!memmem(r.c[i].buf, r.c[i].len, "<app_cookie>", 12)) {
            fprintf(stderr, "eccp_events: console %d not logged in\n", i);
            return -1;
        }
        r.c[i].len = 0;
    }
    eccp_stats_t s0;
    eccp_server_stats(srv, &s0);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, &r);
    link_arg_t *args = calloc((size_t)m, sizeof(*args));
    int64_t t0 = clk_mono_us();
    for (int i = 0; i < m; i++) {
        args[i].i = i;
        r.post_us[i] = clk_mono_us();
        while (reg_post(reg, apply_link, &args[i], NULL) == CCD_EFULL)
            usleep(100);
        if (pace_us > 0)
            usleep((useconds_t)pace_us);
    }
    int64_t deadline = clk_mono_ms() + 50000;
    while (atomic_load(&r.done) < n && clk_mono_ms() < deadline)
        usleep(1000);
    int64_t t1 = clk_mono_us();
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    eccp_stats_t s1;
    eccp_server_stats(srv, &s1);

    int complete = atomic_load(&r.done);
    int64_t last = t0;
    int64_t *lat = calloc((size_t)m, sizeof(int64_t));
    size_t nl = 0;
    for (int i = 0; i < m; i++) {
        if (atomic_load(&r.seen[i]) == n) {
            lat[nl++] = r.last_us[i] - r.post_us[i];
            if (r.last_us[i] > last)
                last = r.last_us[i];
        }
    }
    double secs = (double)((complete == n ? last : t1) - t0) / 1e6;
    printf("eccp_events: %s: %d consoles x %d links, %d consoles got all (%.3f s)\n", mode, n, m,
           complete, secs);
    printf("metric eccp_events.%s.links_per_s %.0f links/s\n", mode, secs > 0 ? m / secs : 0);
    printf("metric eccp_events.%s.deliveries_per_s %.0f events/s\n", mode,
           secs > 0 ? (double)m * n / secs : 0);
    printf("metric eccp_events.%s.latency_p50 %.3f ms\n", mode, bench_pct(lat, nl, 0.50) / 1e3);
    printf("metric eccp_events.%s.latency_p99 %.3f ms\n", mode, bench_pct(lat, nl, 0.99) / 1e3);
    if (db)
        printf("metric eccp_events.%s.read_jobs_per_link %.2f jobs\n", mode,
               (double)(s1.events_db_jobs - s0.events_db_jobs) / m);
    printf("metric eccp_events.%s.incomplete_consoles %d consoles\n", mode, n - complete);

    for (int i = 0; i < n; i++)
        close(r.c[i].fd);
    eccp_server_stop(srv);
    reg_stop(reg);
    eccp_server_free(srv);
    reg_free(reg);
    free(args);
    free(lat);
    free(r.c);
    free(r.post_us);
    free(r.last_us);
    free(r.seen);
    return complete == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    int n = 20, m = 500, workers = 2, opt;
    while ((opt = getopt(argc, argv, "n:m:w:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'm': m = atoi(optarg); break;
        case 'w': workers = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: eccp_events [-n consoles] [-m links] [-w workers]\n");
            return 2;
        }
    }
    if (n < 1 || m < 1 || workers < 1)
        return 2;
    log_set_level(LOG_LVL_ERR);

    conf_database_t dbc;
    conf_t cf;
    conf_defaults(&cf);
    bdb_begin(&dbc, "ccdb_events");
    dbc.read_queue_max = cf.database.read_queue_max;
    dbc.read_jobs_per_client = cf.database.read_jobs_per_client;
    dbc.read_jobs_per_address = cf.database.read_jobs_per_address;
    MYSQL *my = bdb_fresh(&dbc);
    char q[1024];
    snprintf(q, sizeof(q), "USE `%s`", dbc.name);
    bdb_exec(my, q);
    bdb_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, trunk, context, queue, max_canales, script, estatus) VALUES "
                 "(1, 'Bench', '2020-01-01', '2030-12-31', '08:00:00', '20:00:00', 3, NULL, "
                 "'from-internal', '8000', 5, '', 'A')");
    bdb_exec(my, "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, "
                 "status) VALUES (1, 1, 0, 'L', 'l.csv', NOW(), 1)");
    bdb_exec(my, "INSERT INTO form (id, nombre, descripcion, estatus) VALUES (1, 'Survey', 'd', 'A')");
    bdb_exec(my, "INSERT INTO form_field (id, id_form, etiqueta, value, tipo, orden) VALUES "
                 "(1, 1, 'Interested', '', 'TEXT', 1), (2, 1, 'Color', 'red,green,', 'LIST', 2), "
                 "(3, 1, 'Notes', '', 'TEXTAREA', 3)");
    snprintf(q, sizeof(q), "INSERT INTO calls (id, id_list, phone, status, retries) SELECT seq, 1, "
                           "CONCAT('555', LPAD(seq, 6, '0')), 'Success', 1 FROM seq_1_to_%d", m);
    bdb_exec(my, q);
    snprintf(q, sizeof(q), "INSERT INTO call_attribute (id_call, data) SELECT seq, CONCAT("
                           "'{\"Name\":\"Customer ', seq, '\",\"City\":\"Quito\",\"Plan\":\"Gold\","
                           "\"Debt\":', seq * 7, ',\"Since\":\"2019-04-01\",\"Agent note\":\"call "
                           "after 5pm\"}') FROM seq_1_to_%d", m);
    bdb_exec(my, q);
    snprintf(q, sizeof(q), "INSERT INTO form_data_recolected (id_calls, id_form_field, value) SELECT "
                           "s.seq, f.id, CONCAT('value ', f.id) FROM seq_1_to_%d s JOIN form_field f",
             m);
    bdb_exec(my, q);
    snprintf(q, sizeof(q), "INSERT INTO call_progress_log (datetime_entry, id_campaign_outgoing, "
                           "id_call_outgoing, new_status, retry) SELECT NOW(), 1, seq, 'Success', 1 "
                           "FROM seq_1_to_%d", m);
    bdb_exec(my, q);
    mysql_close(my);

    db_t *db = bench_db_start(&dbc, "eccp_events");
    if (!db) {
        bdb_end(&dbc);
        return 1;
    }
    printf("eccp_events: %d consoles, a burst of %d agentlinked, %d workers, 2+1 db readers\n", n,
           m, workers);
    int rc = run_mode("plain", NULL, n, m, workers, 0);
    if (rc == 0)
        rc = run_mode("enriched", db, n, m, workers, 0);
    /* One link every 20 ms: the latency of one event without a queue in front of it. */
    int paced = m < 100 ? m : 100;
    if (rc == 0)
        rc = run_mode("plain_paced", NULL, n, paced, workers, 20000);
    if (rc == 0)
        rc = run_mode("enriched_paced", db, n, paced, workers, 20000);
    db_stop(db, 5000);
    db_free(db);
    bdb_end(&dbc);
    return rc == 0 ? 0 : 1;
}
