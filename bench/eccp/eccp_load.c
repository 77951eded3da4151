/*
 * eccp_load: ECCP server load benchmark (in-process, loopback TCP).
 *
 * The server runs with its real session workers and a real registry; logins
 * use the in-process login_check hook instead of the database (no MariaDB
 * needed), and one agent (Agent/9000, logged in, with two queues) is in the
 * registry.  One client thread drives every connection with epoll.
 *
 * For N = 100, 1000, 5000 logged-in sessions:
 *   - getagentstatus requests/s and p50/p99 latency, 4 requests in flight per
 *     session for a fixed time;
 *   - memory per idle session: RSS after the N sessions logged in minus RSS
 *     before they connected (client buffers are allocated beforehand, kernel
 *     socket memory is not in RSS), divided by N;
 *   - event fan-out (N = 1000 unless -a), two methods (see fanout_quiet and
 *     fanout_concurrent): the server's time from the registry commit to the
 *     last session's send() with the client quiet during the round, then the
 *     same with the client reading concurrently, plus that end to end.
 *
 * Usage: eccp_load [-d seconds per run (default 3)] [-a fan-out at every N]
 *                  [-f fan-out only, N = 1000] [-r fan-out rounds (200)] [-w workers (2)]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/eccp/bench_stats.h"
#include "conf/conf.h"
#include "core/clock.h"
#include "core/log.h"
#include "eccp/eccp.h"
#include "reg/reg.h"

#define DEPTH 4

typedef struct conn {
    int fd;
    int nl;             /* newlines seen in the current message */
    int inflight;
    int64_t sent_us[DEPTH]; /* ring of send times */
    int head, tail;
    bool got_event;
} conn_t;

static const char REQ[] = "<request id=\"1\"><getagentstatus><agent_number>Agent/9000</agent_number>"
                          "</getagentstatus></request>";

static void apply_agent(reg_txn_t *tx, void *arg)
{
    int *nq = arg;
    reg_agent_t *a = reg_txn_agent(tx, "Agent/9000", true);
    a->active = true;
    a->login = REG_LOGGED_IN;
    snprintf(a->channel, sizeof(a->channel), "SIP/1064-00000001");
    snprintf(a->extension, sizeof(a->extension), "1064");
    a->nqueues = *nq;
    snprintf(a->queues[0], sizeof(a->queues[0]), "8000");
    snprintf(a->queues[1], sizeof(a->queues[1]), "8001");
    reg_txn_agent_touch(tx, a);
}

static int post_agent(reg_t *r, int nq)
{
    int *arg = malloc(sizeof(int));
    *arg = nq;
    return reg_post(r, apply_agent, arg, free);
}

/* Reads what is available on c; returns the number of complete messages. */
static int drain(conn_t *c, char *buf, size_t bufsz)
{
    int msgs = 0;
    for (;;) {
        ssize_t k = recv(c->fd, buf, bufsz, MSG_DONTWAIT);
        if (k <= 0)
            return k == 0 ? -1 : msgs;
        for (ssize_t i = 0; i < k; i++)
            if (buf[i] == '\n' && ++c->nl == 2) {
                c->nl = 0;
                msgs++;
            }
        if ((size_t)k < bufsz)
            return msgs;
    }
}

/* ---- baseline: a trivial responder on the same loopback, same client ----
 * Two threads (like the two session workers) that answer every REQ-sized chunk
 * with a fixed getagentstatus-sized response without parsing anything: what
 * the machine and the kernel allow right now, for comparison. */

typedef struct echo {
    int lfd;
    uint16_t port;
    atomic_int stop;
    pthread_t th[2];
    int ep[2];
} echo_t;

static const char RESP[] = "<?xml version=\"1.0\"?>\n<response id=\"1\"><getagentstatus_response>"
                           "<status>online</status><channel>SIP/1064-00000001</channel><extension>1064"
                           "</extension><onhold>0</onhold></getagentstatus_response></response>\n";

typedef struct echo_conn {
    int fd;
    size_t have;
} echo_conn_t;

static void *echo_main(void *arg)
{
    echo_t *e = ((void **)arg)[0];
    int ep = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    struct epoll_event evs[256];
    char buf[65536];
    while (!atomic_load(&e->stop)) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            echo_conn_t *c = evs[i].data.ptr;
            ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n <= 0) {
                if (n == 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    free(c);
                }
                continue;
            }
            c->have += (size_t)n;
            while (c->have >= sizeof(REQ) - 1) {
                c->have -= sizeof(REQ) - 1;
                send(c->fd, RESP, sizeof(RESP) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
        }
    }
    return NULL;
}

static void echo_accept(echo_t *e, int n, int idx)
{
    for (int i = idx; i < idx + n; i++) {
        int fd = accept(e->lfd, NULL, NULL);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        echo_conn_t *c = calloc(1, sizeof(*c));
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(e->ep[i % 2], EPOLL_CTL_ADD, fd, &ev);
    }
}

static echo_t *echo_start(void)
{
    echo_t *e = calloc(1, sizeof(*e));
    e->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(e->lfd, (struct sockaddr *)&a, sizeof(a));
    listen(e->lfd, 8192);
    socklen_t sl = sizeof(a);
    getsockname(e->lfd, (struct sockaddr *)&a, &sl);
    e->port = ntohs(a.sin_port);
    for (int i = 0; i < 2; i++) {
        e->ep[i] = epoll_create1(0);
        void **arg = malloc(2 * sizeof(void *));
        arg[0] = e;
        arg[1] = (void *)(intptr_t)e->ep[i];
        pthread_create(&e->th[i], NULL, echo_main, arg);
    }
    return e;
}

static void echo_stop(echo_t *e)
{
    atomic_store(&e->stop, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(e->th[i], NULL);
        close(e->ep[i]);
    }
    close(e->lfd);
    free(e);
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            return;
        }
        s += k;
        n -= (size_t)k;
    }
}

/* ---- fan-out floor: what the kernel allows for the same writes right now ----
 * k sender threads (as many as the server has workers), each owning every k-th
 * socket of n loopback pairs and sleeping in epoll_wait on its own eventfd.  A
 * round: take a timestamp, write each eventfd (as the registry pushes one
 * message into each worker's queue), each thread send()s the same ready-made
 * bytes to its sockets; the figure is timestamp -> the last send() returned.
 * No XML, no diff, no session list: the server's fan-out minus the server. */

#include <sys/eventfd.h>

typedef struct floor_fan {
    int n, k;
    int *srv_fd, *cli_fd;
    int cli_ep;
    int efd[8], ep[8];
    pthread_t th[8];
    const char *msg;
    size_t len;
    atomic_llong t0;
    atomic_llong done_us[8];
    atomic_int rounds[8];
    atomic_int stop;
} floor_fan_t;

typedef struct floor_arg {
    floor_fan_t *f;
    int idx;
} floor_arg_t;

static void *floor_main(void *arg)
{
    floor_arg_t *a = arg;
    floor_fan_t *f = a->f;
    int idx = a->idx;
    free(a);
    struct epoll_event ev;
    while (!atomic_load(&f->stop)) {
        if (epoll_wait(f->ep[idx], &ev, 1, 100) <= 0)
            continue;
        uint64_t v;
        if (read(f->efd[idx], &v, sizeof(v)) != sizeof(v))
            continue;
        for (int i = idx; i < f->n; i += f->k)
            send(f->srv_fd[i], f->msg, f->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        atomic_store(&f->done_us[idx], clk_mono_us());
        atomic_fetch_add(&f->rounds[idx], 1);
    }
    return NULL;
}

static floor_fan_t *floor_start(int n, int k, const char *msg, size_t len)
{
    floor_fan_t *f = calloc(1, sizeof(*f));
    f->n = n;
    f->k = k > 8 ? 8 : k;
    f->msg = msg;
    f->len = len;
    f->srv_fd = calloc((size_t)n, sizeof(int));
    f->cli_fd = calloc((size_t)n, sizeof(int));
    f->cli_ep = epoll_create1(0);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(lfd, (struct sockaddr *)&a, sizeof(a));
    listen(lfd, 8192);
    socklen_t sl = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &sl);
    for (int i = 0; i < n; i++) {
        f->cli_fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        connect(f->cli_fd[i], (struct sockaddr *)&a, sizeof(a));
        f->srv_fd[i] = accept(lfd, NULL, NULL);
        int one = 1;
        setsockopt(f->srv_fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(f->cli_fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* like the benchmark's client: every receiving socket in one epoll set
         * (each delivery then also marks it ready there) */
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(f->cli_ep, EPOLL_CTL_ADD, f->cli_fd[i], &ev);
    }
    close(lfd);
    for (int t = 0; t < f->k; t++) {
        f->efd[t] = eventfd(0, EFD_NONBLOCK);
        f->ep[t] = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(f->ep[t], EPOLL_CTL_ADD, f->efd[t], &ev);
        floor_arg_t *arg = malloc(sizeof(*arg));
        arg->f = f;
        arg->idx = t;
        pthread_create(&f->th[t], NULL, floor_main, arg);
    }
    return f;
}

/* One round; returns timestamp -> last send in us, or -1.  The client sockets are
 * drained afterwards, like the quiet server rounds. */
static int64_t floor_round(floor_fan_t *f, char *rbuf)
{
    int r0[8];
    for (int t = 0; t < f->k; t++)
        r0[t] = atomic_load(&f->rounds[t]);
    int64_t t0 = clk_mono_us();
    for (int t = 0; t < f->k; t++) {
        uint64_t one = 1;
        if (write(f->efd[t], &one, sizeof(one)) != sizeof(one))
            return -1;
    }
    usleep(15000);
    int64_t end = clk_mono_ms() + 10000, last = 0;
    for (int t = 0; t < f->k; t++) {
        while (atomic_load(&f->rounds[t]) == r0[t] && clk_mono_ms() < end)
            usleep(2000);
        int64_t d = atomic_load(&f->done_us[t]);
        if (d > last)
            last = d;
    }
    for (int i = 0; i < f->n; i++)
        while (recv(f->cli_fd[i], rbuf, 1 << 16, MSG_DONTWAIT) > 0)
            ;
    return last - t0;
}

static void floor_stop(floor_fan_t *f)
{
    atomic_store(&f->stop, 1);
    for (int t = 0; t < f->k; t++) {
        pthread_join(f->th[t], NULL);
        close(f->efd[t]);
        close(f->ep[t]);
    }
    for (int i = 0; i < f->n; i++) {
        close(f->srv_fd[i]);
        close(f->cli_fd[i]);
    }
    close(f->cli_ep);
    free(f->srv_fd);
    free(f->cli_fd);
    free(f);
}

static void stats_now(eccp_server_t *srv, eccp_stats_t *st)
{
    eccp_server_stats(srv, st);
}

static void print_ms(int n, const char *name, int64_t *v, int nv, double p)
{
    printf("metric eccp_load.n%d.%s %.3f ms\n", n, name, (double)bench_pct(v, (size_t)nv, p) / 1000.0);
}

/*
 * Fan-out with the client quiet during the round (as in production, where the
 * consoles are other machines): post one change, sleep until every worker says
 * it has finished that change, take the server's figure, and only then read
 * the N sockets, checking that each holds exactly the one whole event.  The
 * figure is registry commit -> the last of the N sessions' send() returned
 * with the event wholly in the kernel (rounds with any copy left queued in the
 * server are counted apart, not in the percentiles).
 */
static void fanout_quiet(eccp_server_t *srv, reg_t *reg, conn_t *conns, int n, int ep, char *rbuf,
                         int iters, int nworkers)
{
    floor_fan_t *fl = NULL;
    int64_t *ff = malloc(sizeof(int64_t) * (size_t)iters);
    int nff = 0;
    char *evcopy = NULL;
    int64_t *fs = malloc(sizeof(int64_t) * (size_t)iters);
    int64_t *fw = malloc(sizeof(int64_t) * (size_t)iters);
    int64_t *fb = malloc(sizeof(int64_t) * (size_t)iters);
    int nfs = 0, partial = 0, missing = 0;
    struct epoll_event evs[512];
    for (int it = 0; it < iters; it++) {
        eccp_stats_t st;
        stats_now(srv, &st);
        uint64_t r0 = st.fanout_rounds;
        while (post_agent(reg, it % 2 ? 2 : 1) != 0)
            usleep(100);
        /* Sleep, do not spin: the client must not take CPU from the workers. */
        usleep(15000);
        int64_t end = clk_mono_ms() + 10000;
        for (;;) {
            stats_now(srv, &st);
            if (st.fanout_rounds > r0 || clk_mono_ms() > end)
                break;
            usleep(2000);
        }
        bool ok = st.fanout_rounds == r0 + 1 && st.fanout_sessions == n;
        if (ok && st.fanout_queued == 0) {
            fs[nfs] = st.fanout_last_us;
            fw[nfs] = st.fanout_start_us;
            fb[nfs++] = st.fanout_busy_us;
        } else if (ok) {
            partial++;
        }
        /* Drain: every session must hold exactly one whole event. */
        int got = 0;
        for (int i = 0; i < n; i++) {
            conns[i].got_event = false;
            if (!fl && i == 0) {
                /* The floor writes the very bytes of the server's event. */
                ssize_t k = recv(conns[0].fd, rbuf, 1 << 16, MSG_PEEK | MSG_DONTWAIT);
                if (k > 0) {
                    evcopy = malloc((size_t)k);
                    memcpy(evcopy, rbuf, (size_t)k);
                    fl = floor_start(n, nworkers, evcopy, (size_t)k);
                    printf("metric eccp_load.n%d.fanout_event_bytes %zd bytes\n", n, k);
                }
            }
            if (drain(&conns[i], rbuf, 1 << 16) == 1) {
                conns[i].got_event = true;
                got++;
            }
        }
        int64_t dl = clk_mono_ms() + 10000;
        while (got < n && clk_mono_ms() < dl) {
            int k = epoll_wait(ep, evs, 512, 100);
            for (int e = 0; e < k; e++) {
                conn_t *c = &conns[evs[e].data.u32];
                if (drain(c, rbuf, 1 << 16) > 0 && !c->got_event) {
                    c->got_event = true;
                    got++;
                }
            }
        }
        missing += n - got;
        if (fl) {
            int64_t d = floor_round(fl, rbuf);
            if (d >= 0)
                ff[nff++] = d;
        }
    }
    if (fl)
        floor_stop(fl);
    free(evcopy);
    /* same rounds, same moment, nothing but the sends: the machine's floor */
    print_ms(n, "fanout_floor_p50", ff, nff, 0.5);
    print_ms(n, "fanout_floor_p99", ff, nff, 0.99);
    free(ff);
    print_ms(n, "fanout_quiet_p50", fs, nfs, 0.5);
    print_ms(n, "fanout_quiet_p99", fs, nfs, 0.99);
    print_ms(n, "fanout_quiet_max", fs, nfs, 1.0);
    print_ms(n, "fanout_quiet_wake_p50", fw, nfs, 0.5);
    print_ms(n, "fanout_quiet_wake_p99", fw, nfs, 0.99);
    /* busy: the slowest worker's own time on the change (its share of the sends) */
    print_ms(n, "fanout_quiet_busy_p50", fb, nfs, 0.5);
    print_ms(n, "fanout_quiet_busy_p99", fb, nfs, 0.99);
    printf("metric eccp_load.n%d.fanout_quiet_complete %d of %d rounds\n", n, nfs, iters);
    printf("metric eccp_load.n%d.fanout_quiet_partial %d rounds\n", n, partial);
    printf("metric eccp_load.n%d.fanout_quiet_missing %d events\n", n, missing);
    free(fs);
    free(fw);
    free(fb);
}

/*
 * Fan-out with the client thread reading every socket while the workers write
 * (its reads compete with them for the 2 cores; loopback also makes the
 * senders run the receivers' TCP input).  Server side figure and end to end:
 * reg_post -> the client has read the event on the last session.
 */
static void fanout_concurrent(eccp_server_t *srv, reg_t *reg, conn_t *conns, int n, int ep,
                              char *rbuf, int iters)
{
    int64_t *fl = malloc(sizeof(int64_t) * (size_t)iters);
    int64_t *fs = malloc(sizeof(int64_t) * (size_t)iters);
    int nfl = 0, nfs = 0;
    struct epoll_event evs[512];
    for (int it = 0; it < iters; it++) {
        for (int i = 0; i < n; i++)
            conns[i].got_event = false;
        int got = 0;
        eccp_stats_t st;
        stats_now(srv, &st);
        uint64_t r0 = st.fanout_rounds;
        int64_t start = clk_mono_us();
        while (post_agent(reg, it % 2 ? 2 : 1) != 0)
            usleep(100);
        int64_t last = start;
        int64_t end = clk_mono_ms() + 10000;
        while (got < n && clk_mono_ms() < end) {
            int k = epoll_wait(ep, evs, 512, 100);
            int64_t now = clk_mono_us();
            for (int e = 0; e < k; e++) {
                conn_t *c = &conns[evs[e].data.u32];
                if (drain(c, rbuf, 1 << 16) > 0 && !c->got_event) {
                    c->got_event = true;
                    got++;
                    last = now;
                }
            }
        }
        if (got == n)
            fl[nfl++] = last - start;
        /* The last reads may beat the worker's bookkeeping by a hair: wait for the round. */
        int64_t dl = clk_mono_ms() + 1000;
        do
            stats_now(srv, &st);
        while (st.fanout_rounds <= r0 && clk_mono_ms() < dl && usleep(100) == 0);
        if (st.fanout_rounds == r0 + 1 && st.fanout_sessions == n)
            fs[nfs++] = st.fanout_last_us;
    }
    /* server side: registry commit -> last session socket written */
    print_ms(n, "fanout_p50", fs, nfs, 0.5);
    print_ms(n, "fanout_p99", fs, nfs, 0.99);
    /* end to end: reg_post -> the client thread has read it on the last session */
    print_ms(n, "fanout_e2e_p50", fl, nfl, 0.5);
    print_ms(n, "fanout_e2e_p99", fl, nfl, 0.99);
    printf("metric eccp_load.n%d.fanout_complete %d of %d rounds\n", n, nfl, iters);
    free(fl);
    free(fs);
}

int main(int argc, char **argv)
{
    int secs = 3;
    bool fan_all = false, fan_only = false;
    int nworkers = 2;
    int rounds = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            secs = atoi(argv[++i]);
        else if (strcmp(argv[i], "-a") == 0)
            fan_all = true;
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            nworkers = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "-f") == 0)
            fan_only = true; /* only the fan-out run at N = 1000 (profiling) */
    }
    log_set_level(LOG_LVL_ERR);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    static const int Ns[] = {100, 1000, 5000};
    const int maxn = 5000;
    conn_t *conns = calloc(maxn, sizeof(*conns));
    int64_t *lat = malloc(sizeof(int64_t) * 4000000);
    char *rbuf = malloc(1 << 16);
    printf("eccp_load: in-process server (%d workers, registry, login_check hook instead of the "
           "database), one epoll client thread, loopback TCP, %d s per run\n", nworkers, secs);

    for (size_t ni = 0; ni < sizeof(Ns) / sizeof(Ns[0]); ni++) {
        int n = Ns[ni];
        if (fan_only && n != 1000)
            continue;
        if ((rlim_t)(2 * n + 64) > rl.rlim_cur) {
            printf("skip n=%d: RLIMIT_NOFILE %llu too low\n", n, (unsigned long long)rl.rlim_cur);
            continue;
        }
        reg_t *reg = reg_new(100000, NULL, 0);
        conf_t cf;
        conf_defaults(&cf);
        snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
        cf.eccp.port = 0;
        cf.eccp.workers = nworkers;
        cf.eccp.max_sessions = maxn + 100;
        /* every session connects from 127.0.0.1 and logs in at once, thousands together */
        cf.eccp.max_unauth_sessions = maxn + 100;
        cf.eccp.max_unauth_per_address = maxn + 100;
        eccp_deps_t d = {.reg = reg, .login_check = bench_ok_login};
        char err[256];
        eccp_server_t *srv = eccp_server_new(&cf.eccp, &d, err, sizeof(err));
        if (!srv) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (reg_start(reg) != 0) {
            fprintf(stderr, "cannot start the registry thread\n");
            return 1;
        }
        eccp_server_start(srv);
        uint16_t port = eccp_server_port(srv);
        post_agent(reg, 2);
        /* Warm-up: the first sessions pay one-time costs (thread arenas, libxml2 and
         * libcrypto state, scratch buffers); keep them out of the per-session figure. */
        for (int i = 0; i < 32; i++) {
            int wfd = bench_connect(port);
            static const char wl[] = "<request id=\"l\"><login><username>u</username><password>p"
                                     "</password></login></request>";
            send_all(wfd, wl, sizeof(wl) - 1);
            send_all(wfd, REQ, sizeof(REQ) - 1);
            char tmp[4096];
            int nl = 0;
            while (nl < 4) {
                ssize_t k = recv(wfd, tmp, sizeof(tmp), 0);
                if (k <= 0)
                    break;
                for (ssize_t b = 0; b < k; b++)
                    nl += tmp[b] == '\n';
            }
            close(wfd);
        }
        usleep(200000);
        long rss0 = bench_rss_kb();

        int ep = epoll_create1(0);
        memset(conns, 0, sizeof(*conns) * (size_t)n);
        for (int i = 0; i < n; i++) {
            conns[i].fd = bench_connect(port);
            if (conns[i].fd < 0) {
                fprintf(stderr, "connect %d failed: %s\n", i, strerror(errno));
                return 1;
            }
            static const char login[] = "<request id=\"l\"><login><username>u</username><password>p"
                                        "</password></login></request>";
            send_all(conns[i].fd, login, sizeof(login) - 1);
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
        }
        int logged = 0;
        struct epoll_event evs[512];
        int64_t deadline = clk_mono_ms() + 30000;
        while (logged < n && clk_mono_ms() < deadline) {
            int k = epoll_wait(ep, evs, 512, 100);
            for (int e = 0; e < k; e++) {
                int m = drain(&conns[evs[e].data.u32], rbuf, 1 << 16);
                if (m > 0)
                    logged += m;
            }
        }
        if (logged < n) {
            fprintf(stderr, "only %d of %d sessions logged in\n", logged, n);
            return 1;
        }
        usleep(200000);
        long rss1 = bench_rss_kb();
        printf("metric eccp_load.n%d.idle_session_bytes %ld bytes\n", n, (rss1 - rss0) * 1024 / n);

        /* baseline first, on its own connections */
        if (!fan_only) {
            echo_t *e = echo_start();
            conn_t *bc = calloc((size_t)n, sizeof(*bc));
            int bep = epoll_create1(0);
            for (int i = 0; i < n; i++) {
                bc[i].fd = bench_connect(e->port);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                epoll_ctl(bep, EPOLL_CTL_ADD, bc[i].fd, &ev);
                echo_accept(e, 1, i); /* accept as we go: the backlog is smaller than n */
            }
            int64_t b0 = clk_mono_us(), bend = b0 + (int64_t)secs * 1000000;
            for (int i = 0; i < n; i++)
                for (int q = 0; q < DEPTH; q++)
                    send_all(bc[i].fd, REQ, sizeof(REQ) - 1);
            uint64_t bdone = 0;
            int64_t bout = (int64_t)n * DEPTH;
            bool bstop = false;
            while (bout > 0 && clk_mono_us() < bend + 5000000) {
                int k = epoll_wait(bep, evs, 512, 100);
                if (clk_mono_us() >= bend)
                    bstop = true;
                for (int ev = 0; ev < k; ev++) {
                    conn_t *c = &bc[evs[ev].data.u32];
                    int m = drain(c, rbuf, 1 << 16);
                    for (int r = 0; r < m; r++) {
                        bdone++;
                        bout--;
                        if (!bstop) {
                            send_all(c->fd, REQ, sizeof(REQ) - 1);
                            bout++;
                        }
                    }
                }
            }
            double bel = (double)(clk_mono_us() - b0) / 1e6;
            printf("metric eccp_load.n%d.baseline_echo %.0f requests/s\n", n, (double)bdone / bel);
            for (int i = 0; i < n; i++)
                close(bc[i].fd);
            close(bep);
            free(bc);
            echo_stop(e);
        }

        /* getagentstatus load */
        if (fan_only)
            goto fanout;
        size_t nlat = 0;
        int64_t t0 = clk_mono_us();
        for (int i = 0; i < n; i++) {
            conn_t *c = &conns[i];
            for (int q = 0; q < DEPTH; q++) {
                c->sent_us[c->head] = clk_mono_us();
                c->head = (c->head + 1) % DEPTH;
                c->inflight++;
                send_all(c->fd, REQ, sizeof(REQ) - 1);
            }
        }
        uint64_t done = 0;
        int64_t stop_us = t0 + (int64_t)secs * 1000000;
        bool stopping = false;
        int64_t outstanding = (int64_t)n * DEPTH;
        while (outstanding > 0) {
            int k = epoll_wait(ep, evs, 512, 100);
            int64_t now = clk_mono_us();
            if (now >= stop_us)
                stopping = true;
            for (int e = 0; e < k; e++) {
                conn_t *c = &conns[evs[e].data.u32];
                int m = drain(c, rbuf, 1 << 16);
                for (int r = 0; r < m; r++) {
                    if (nlat < 4000000)
                        lat[nlat++] = now - c->sent_us[c->tail];
                    c->tail = (c->tail + 1) % DEPTH;
                    done++;
                    outstanding--;
                    if (!stopping) {
                        c->sent_us[c->head] = clk_mono_us();
                        c->head = (c->head + 1) % DEPTH;
                        send_all(c->fd, REQ, sizeof(REQ) - 1);
                        outstanding++;
                    }
                }
            }
            if (clk_mono_us() - stop_us > 10000000)
                break;
        }
        double el = (double)(clk_mono_us() - t0) / 1e6;
        printf("metric eccp_load.n%d.getagentstatus %.0f requests/s\n", n, (double)done / el);
        printf("metric eccp_load.n%d.getagentstatus_p50 %lld us\n", n,
               (long long)bench_pct(lat, nlat, 0.50));
        printf("metric eccp_load.n%d.getagentstatus_p99 %lld us\n", n,
               (long long)bench_pct(lat, nlat, 0.99));

    fanout:
        if (n == 1000 || fan_all) {
            fanout_quiet(srv, reg, conns, n, ep, rbuf, rounds, nworkers);
            fanout_concurrent(srv, reg, conns, n, ep, rbuf, rounds);
        }
        for (int i = 0; i < n; i++)
            close(conns[i].fd);
        close(ep);
        reg_stop(reg);
        eccp_server_free(srv);
        reg_free(reg);
    }
    free(conns);
    free(lat);
    free(rbuf);
    return 0;
}
