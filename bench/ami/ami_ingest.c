/*
 * ami_ingest: how fast AMI traffic gets in.
 *
 * (a) The framing parser alone over an in-memory stream of real traffic
 *     (the received side of transcripts/load_mix.txt, CRLF line ends as on
 *     the wire, repeated to --mb MB), beside a memchr('\n') scan of the same
 *     bytes in the same run (the floor any line-based parser pays), and the
 *     parser plus the typed-event conversion.
 * (b) End to end through the client's I/O thread over loopback TCP, with a
 *     consumer thread taking the typed events off a subscriber queue:
 *     - "blast": a writer thread in this program plays the Asterisk side
 *       (banner, login) and then writes the load_mix traffic as fast as
 *       the socket takes it;
 *     - "blast_reg": the same with a registry attached (its thread applies
 *       the agent/call events, as in the daemon);
 *     - "pbxsim": the simulator's flood mode (tools/pbxsim), when built.
 *     Reported: events read per second, typed events dispatched per
 *     second, CPU per event of the I/O thread and of the whole process
 *     (getrusage; the writer/simulator share the process).
 * Every figure is printed as `metric <name> <value> <unit>`.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ami/ami.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "test/tools/transcript.h"
#ifdef CCD_HAVE_PBXSIM
#include "tools/pbxsim/pbxsim.h"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double proc_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The load_mix traffic without its banner, CRLF; *nmsg = messages in it. */
static char *load_traffic(size_t *len, size_t *nmsg)
{
    size_t n;
    char *s = tr_received("load_mix.txt", true, &n);
    if (!s) {
        fprintf(stderr, "ami_ingest: cannot read load_mix.txt under %s\n", tr_dir());
        exit(1);
    }
    ccd_str_t v;
    size_t used = 0;
    if (ami_parse_banner(s, n, &v, &used) == CCD_OK) {
        memmove(s, s + used, n - used);
        n -= used;
    }
    ami_parser_t *p = malloc(sizeof(*p));
    ami_parser_init(p, 0, 0, 0);
    size_t off = 0, k = 0;
    ami_msg_t m;
    while (ami_parse(p, s + off, n - off, &m) == CCD_OK) {
        off += m.len;
        k++;
    }
    free(p);
    *len = off; /* whole messages only, so copies can be concatenated */
    *nmsg = k;
    return s;
}

/* ------------------------------------------------------ (a) the parser */

static void bench_parser(size_t mb)
{
    size_t one, per;
    char *traffic = load_traffic(&one, &per);
    size_t copies = (mb << 20) / one + 1;
    size_t len = copies * one;
    char *big = malloc(len);
    for (size_t i = 0; i < copies; i++)
        memcpy(big + i * one, traffic, one);
    free(traffic);

    double best_memchr = 1e9, best_parse = 1e9;
    size_t lines = 0, msgs = 0, events = 0;
    ami_parser_t *p = malloc(sizeof(*p));
    for (int run = 0; run < 3; run++) {
        double t0 = now_s();
        size_t nl = 0;
        for (const char *c = big, *end = big + len; (c = memchr(c, '\n', (size_t)(end - c))); c++)
            nl++;
        double t1 = now_s();
        ami_parser_init(p, 0, 0, 0);
        size_t off = 0, nm = 0, ne = 0;
        ami_msg_t m;
        while (ami_parse(p, big + off, len - off, &m) == CCD_OK) {
            off += m.len;
            nm++;
            ne += m.hdr[0].key.len == 5; /* "Event" comes first on every event */
        }
        double t2 = now_s();
        if (off != len) {
            fprintf(stderr, "ami_ingest: parser stopped at %zu of %zu\n", off, len);
            exit(1);
        }
        lines = nl;
        msgs = nm;
        events = ne;
        if (t1 - t0 < best_memchr)
            best_memchr = t1 - t0;
        if (t2 - t1 < best_parse)
            best_parse = t2 - t1;
    }
    /* parser + typed events (what the I/O thread does per event) */
    static const char *const vars[] = {"MIXMONITOR_FILENAME", NULL};
    double t0 = now_s();
    ami_parser_init(p, 0, 0, 0);
    size_t off = 0, typed = 0;
    ami_msg_t m;
    while (ami_parse(p, big + off, len - off, &m) == CCD_OK) {
        off += m.len;
        ami_event_t *ev = ami_event_from_msg(&m, 0, vars);
        if (ev) {
            typed++;
            ami_event_free(ev);
        }
    }
    double t_typed = now_s() - t0;
    free(p);
    free(big);

    double mbytes = (double)len / 1e6;
    printf("# (a) parser: %.1f MB (%zu copies of load_mix), %zu lines, %zu messages (%zu events), best of 3\n",
           mbytes, copies, lines, msgs, events);
    printf("metric ami_ingest.memchr_scan %.0f MB/s\n", mbytes / best_memchr);
    printf("metric ami_ingest.parser %.0f events/s\n", (double)events / best_parse);
    printf("metric ami_ingest.parser_msgs %.0f msgs/s\n", (double)msgs / best_parse);
    printf("metric ami_ingest.parser_bytes %.0f MB/s\n", mbytes / best_parse);
    printf("metric ami_ingest.parser_vs_memchr %.1f %%\n", 100.0 * best_memchr / best_parse);
    printf("metric ami_ingest.parser_ns_per_event %.1f ns\n", best_parse * 1e9 / (double)events);
    printf("metric ami_ingest.parser_typed %.0f events/s\n", (double)events / t_typed);
    printf("metric ami_ingest.typed_share %.1f %%\n", 100.0 * (double)typed / (double)events);
}

/* ----------------------------------------------- (b) end to end, shared */

typedef struct consumer {
    mq_t *q;
    _Atomic uint64_t got;
    _Atomic bool stop;
    pthread_t th;
} consumer_t;

static void *consume(void *arg)
{
    consumer_t *c = arg;
    log_set_thread_name("consumer");
    while (!atomic_load(&c->stop)) {
        mq_msg_t *m = mq_pop(c->q, 20);
        if (!m)
            continue;
        m->free(m);
        uint64_t n = 1;
        /* then everything queued at once: one lock round trip per batch */
        for (mq_msg_t *x = mq_pop_all(c->q); x; n++) {
            mq_msg_t *next = x->next;
            x->free(x);
            x = next;
        }
        atomic_fetch_add(&c->got, n);
    }
    return NULL;
}

static void e2e_report(const char *name, ami_t *ami, consumer_t *cons, double t0, double cpu0,
                       uint64_t cpu_io0)
{
    ami_stats_t st;
    ami_get_stats(ami, 0, &st);
    double el = now_s() - t0;
    double cpu = proc_cpu_s() - cpu0;
    double ev = (double)st.events_in;
    printf("# (b) %s: %llu events read in %.2f s, %llu typed, %llu delivered, %llu lost (full queues)\n",
           name, (unsigned long long)st.events_in, el, (unsigned long long)st.events_typed,
           (unsigned long long)atomic_load(&cons->got), (unsigned long long)st.events_lost);
    printf("metric ami_ingest.e2e_%s %.0f events/s\n", name, ev / el);
    /* dispatched: typed events handed over (subscriber pushes and registry posts) */
    printf("metric ami_ingest.e2e_%s_dispatched %.0f events/s\n", name,
           (double)st.events_delivered / el);
    printf("metric ami_ingest.e2e_%s_io_cpu_per_event %.0f ns\n", name,
           (double)(st.io_cpu_us - cpu_io0) * 1e3 / (ev > 0 ? ev : 1));
    printf("metric ami_ingest.e2e_%s_process_cpu_per_event %.0f ns\n", name,
           cpu * 1e9 / (ev > 0 ? ev : 1));
    printf("metric ami_ingest.e2e_%s_mbps %.0f MB/s\n", name, (double)st.bytes_in / 1e6 / el);
}

static ami_t *e2e_client(conf_t *conf, uint16_t port, const char *user, const char *secret,
                         consumer_t *cons, bool raw)
{
    memset(conf, 0, sizeof(*conf));
    conf->nami = 1;
    conf_ami_server_t *s = &conf->ami[0];
    snprintf(s->name, sizeof(s->name), "bench");
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    s->port = port;
    snprintf(s->username, sizeof(s->username), "%s", user);
    snprintf(s->secret, sizeof(s->secret), "%s", secret);
    s->ping_interval_s = 60;
    s->action_timeout_ms = 10000;
    s->reconnect_min_ms = 100;
    s->reconnect_max_ms = 1000;
    ami_opts_t o = {.no_filter = raw, .no_resync = raw};
    ami_t *ami = ami_new(conf, &o, NULL, 0);
    cons->q = mq_new("bench-events", 1u << 20, 0);
    ami_subscribe(ami, cons->q, AMI_EVM_ALL, 0);
    pthread_create(&cons->th, NULL, consume, cons);
    return ami;
}

static void e2e_done(ami_t *ami, consumer_t *cons)
{
    ami_free(ami);
    atomic_store(&cons->stop, true);
    pthread_join(cons->th, NULL);
    mq_free(cons->q);
}

static bool wait_up(ami_t *ami)
{
    for (int i = 0; i < 1000 && ami_server_state(ami, 0) != AMI_STATE_UP; i++)
        usleep(10000);
    return ami_server_state(ami, 0) == AMI_STATE_UP;
}

/* ---------------------------------------- (b1) blast: our own writer */

typedef struct blaster {
    int lfd;
    uint16_t port;
    const char *traffic;
    size_t len, per_copy;
    uint64_t copies;
    _Atomic uint64_t sent_events;
    _Atomic bool go;
    pthread_t th;
} blaster_t;

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *blast(void *arg)
{
    blaster_t *b = arg;
    int fd = accept(b->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    write_all(fd, "Asterisk Call Manager/11.0.0\r\n", 30);
    /* read the Login and answer it with its ActionID */
    char in[4096];
    size_t got = 0;
    while (got < sizeof(in) - 1) {
        ssize_t r = read(fd, in + got, sizeof(in) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        in[got] = 0;
        if (strstr(in, "\r\n\r\n"))
            break;
    }
    char *aid = strstr(in, "ActionID: ");
    char id[80] = "";
    if (aid)
        sscanf(aid + 10, "%79[^\r\n]", id);
    char resp[200];
    int n = snprintf(resp, sizeof(resp),
                     "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id);
    write_all(fd, resp, (size_t)n);
    while (!atomic_load(&b->go))
        usleep(1000);
    for (uint64_t i = 0; i < b->copies; i++) {
        write_all(fd, b->traffic, b->len);
        atomic_fetch_add(&b->sent_events, b->per_copy);
    }
    /* keep the socket open until the client has read everything */
    char sink[256];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
    close(fd);
    return NULL;
}

static void bench_blast(uint64_t events, bool with_reg)
{
    blaster_t b = {0};
    char *traffic = load_traffic(&b.len, &b.per_copy);
    b.traffic = traffic;
    b.copies = events / b.per_copy + 1;
    b.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    bind(b.lfd, (struct sockaddr *)&a, sizeof(a));
    listen(b.lfd, 4);
    getsockname(b.lfd, (struct sockaddr *)&a, &al);
    b.port = ntohs(a.sin_port);
    pthread_create(&b.th, NULL, blast, &b);

    conf_t conf;
    consumer_t cons = {0};
    ami_t *ami = e2e_client(&conf, b.port, "bench", "bench", &cons, true);
    reg_t *reg = NULL;
    if (with_reg) {
        /* the registry thread applies every agent/call event, as in the daemon */
        reg = reg_new(1u << 20, NULL, 0);
        ami_attach_reg(ami, reg);
        if (reg_start(reg) != 0) {
            fprintf(stderr, "ami_ingest: cannot start the registry thread\n");
            exit(1);
        }
    }
    ami_start(ami);
    if (!wait_up(ami)) {
        fprintf(stderr, "ami_ingest: blast client never logged in\n");
        exit(1);
    }
    ami_stats_t st0;
    ami_get_stats(ami, 0, &st0);
    uint64_t want = b.copies * b.per_copy; /* messages; load_mix has no responses after login */
    double t0 = now_s(), cpu0 = proc_cpu_s();
    atomic_store(&b.go, true);
    ami_stats_t st;
    for (;;) {
        ami_get_stats(ami, 0, &st);
        if (st.msgs_in - st0.msgs_in >= want || now_s() - t0 > 30)
            break;
        usleep(2000);
    }
    /* let the consumer finish what was delivered */
    for (int i = 0; i < 500 && atomic_load(&cons.got) + st.events_lost < st.events_typed; i++) {
        usleep(2000);
        ami_get_stats(ami, 0, &st);
    }
    e2e_report(with_reg ? "blast_reg" : "blast", ami, &cons, t0, cpu0, st0.io_cpu_us);
    e2e_done(ami, &cons);
    if (reg) {
        reg_stop(reg);
        reg_free(reg);
    }
    shutdown(b.lfd, SHUT_RDWR);
    close(b.lfd);
    pthread_join(b.th, NULL);
    free(traffic);
}

/* ------------------------------------------------ (b2) pbxsim flood */

#ifdef CCD_HAVE_PBXSIM
static void bench_pbxsim(uint64_t events)
{
    pbxsim_opts_t o;
    pbxsim_opts_default(&o);
    pbxsim_t *sim = pbxsim_start(&o);
    if (!sim) {
        fprintf(stderr, "ami_ingest: pbxsim did not start\n");
        return;
    }
    conf_t conf;
    consumer_t cons = {0};
    ami_t *ami = e2e_client(&conf, pbxsim_port(sim), o.username ? o.username : "admin",
                            o.secret ? o.secret : "amp111", &cons, false);
    ami_start(ami);
    if (!wait_up(ami)) {
        fprintf(stderr, "ami_ingest: pbxsim client never got up\n");
        e2e_done(ami, &cons);
        pbxsim_stop(sim);
        return;
    }
    ami_stats_t st0;
    ami_get_stats(ami, 0, &st0);
    pbxsim_state_t ps0;
    pbxsim_state(sim, &ps0);
    double t0 = now_s(), cpu0 = proc_cpu_s();
    pbxsim_flood(sim, events);
    ami_stats_t st;
    for (;;) {
        pbxsim_state_t ps;
        pbxsim_state(sim, &ps);
        ami_get_stats(ami, 0, &st);
        if ((ps.flood_pending == 0 && st.events_in - st0.events_in >= ps.events_sent - ps0.events_sent) ||
            now_s() - t0 > 30)
            break;
        usleep(2000);
    }
    for (int i = 0; i < 500 && atomic_load(&cons.got) + st.events_lost < st.events_typed; i++) {
        usleep(2000);
        ami_get_stats(ami, 0, &st);
    }
    e2e_report("pbxsim", ami, &cons, t0, cpu0, st0.io_cpu_us);
    e2e_done(ami, &cons);
    pbxsim_stop(sim);
}
#endif

static void quiet(log_level_e level, const char *module, const char *line, void *ctx)
{
    (void)module;
    (void)ctx;
    /* the blast replays responses to actions this client never sent: their
     * (rate-limited) warnings are expected, so only errors are shown */
    if (level <= LOG_LVL_ERR)
        fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
    size_t mb = 100;
    uint64_t blast_n = 3000000, flood_n = 1000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--blast") && i + 1 < argc)
            blast_n = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--flood") && i + 1 < argc)
            flood_n = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: ami_ingest [--mb MB] [--blast EVENTS] [--flood EVENTS]\n");
            return 2;
        }
    }
    log_set_sink(quiet, NULL);
    bench_parser(mb);
    if (blast_n) {
        bench_blast(blast_n, false);
        bench_blast(blast_n, true);
    }
#ifdef CCD_HAVE_PBXSIM
    if (flood_n)
        bench_pbxsim(flood_n);
#else
    (void)flood_n;
    printf("# (b) pbxsim not built (add tools to CCD_MODULES): flood run skipped\n");
#endif
    return 0;
}
