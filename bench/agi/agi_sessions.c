/*
 * agi_sessions: short FastAGI sessions per second over loopback, and their latency.
 *
 * The server runs in-process as in the daemon ([agi] defaults: 2 workers), with a registry
 * and no database.  One client thread plays Asterisk for `inflight` sessions at a time on
 * non-blocking sockets: connect, send the recorded environment (24 lines) for the
 * `outgoing` script, answer its two commands as Asterisk does for a human (GET VARIABLE
 * AMDSTATUS -> "200 result=1 (HUMAN)", SET VARIABLE NEXT queue -> "200 result=1"), and wait
 * for the server to close.  A session's latency runs from connect() to that close.
 * Prints `metric agi_sessions.rate <n> sessions/s`, `metric agi_sessions.p99 <ms> ms` and
 * `metric agi_sessions.cpu_per_session <us> us` (process CPU, server and client together).
 * Usage: agi_sessions [seconds=5] [inflight=64]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agi/agi.h"
#include "conf/conf.h"
#include "core/clock.h"
#include "core/log.h"
#include "reg/reg.h"

typedef struct cli {
    int fd;
    int64_t t0_us;
    int answered; /* commands answered so far */
    char in[512];
    size_t inlen;
} cli_t;

static char env_text[2048];
static size_t env_len;

static void make_env(void)
{
    env_len = (size_t)snprintf(
        env_text, sizeof(env_text),
        "agi_network: yes\nagi_network_script: outgoing\n"
        "agi_request: agi://127.0.0.1:4573/outgoing\n"
        "agi_channel: Local/5201@customers-00000022;1\nagi_language: en\nagi_type: Local\n"
        "agi_uniqueid: testpbx-1795438108.68\nagi_version: 22.10.1\n"
        "agi_callerid: 0215550100\nagi_calleridname: Dialer\nagi_callingpres: 0\n"
        "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\n"
        "agi_rdnis: unknown\nagi_context: dialer-agi\nagi_extension: 5201\nagi_priority: 4\n"
        "agi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 139901207094976\n"
        "agi_arg_1: 5201\nagi_arg_2: campaign1\n\n");
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static bool open_one(int ep, cli_t *c, const struct sockaddr_in *sa)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    c->t0_us = clk_mono_us();
    c->answered = 0;
    c->inlen = 0;
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        return false;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == 0;
}

int main(int argc, char **argv)
{
    int secs = argc > 1 ? atoi(argv[1]) : 5;
    int inflight = argc > 2 ? atoi(argv[2]) : 64;
    if (secs <= 0 || inflight <= 0)
        return 2;
    log_set_level(LOG_LVL_ERR);
    make_env();
    char err[256];
    reg_t *reg = reg_new(100000, err, sizeof(err));
    conf_t cf;
    conf_defaults(&cf);
    cf.agi.port = 0;
    cf.agi.max_sessions = 100000;
    agi_deps_t deps = {.reg = reg, .db = NULL};
    agi_t *agi = reg ? agi_new(&cf.agi, &deps, err, sizeof(err)) : NULL;
    if (!agi || reg_start(reg) != 0 || agi_start(agi) != 0) {
        fprintf(stderr, "agi_sessions: %s\n", err);
        return 1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(agi_port(agi))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    cli_t *cl = calloc((size_t)inflight, sizeof(*cl));
    size_t lat_cap = 1 << 20, nlat = 0;
    long long *lat = malloc(lat_cap * sizeof(*lat));
    if (ep < 0 || !cl || !lat)
        return 1;
    uint64_t failed = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t start = clk_mono_us(), stop_at = start + (int64_t)secs * 1000000;
    int open_now = 0;
    for (int i = 0; i < inflight; i++)
        open_now += open_one(ep, &cl[i], &sa) ? 1 : (int)(failed++, 0);
    struct epoll_event evs[256];
    while (open_now > 0) {
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < n; i++) {
            cli_t *c = evs[i].data.ptr;
            bool done = false, bad = false;
            if (evs[i].events & EPOLLOUT) {
                /* connected: the environment fits the socket buffer in one send */
                if (send(c->fd, env_text, env_len, MSG_NOSIGNAL) != (ssize_t)env_len)
                    bad = true;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (!bad && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
                if (r == 0)
                    done = true;
                else if (r < 0)
                    bad = errno != EAGAIN;
                else
                    c->inlen += (size_t)r;
                char *nl;
                while (!done && !bad && (nl = memchr(c->in, '\n', c->inlen))) {
                    size_t l = (size_t)(nl - c->in) + 1;
                    const char *ans = c->answered == 0 ? "200 result=1 (HUMAN)\n" : "200 result=1\n";
                    c->answered++;
                    if (send(c->fd, ans, strlen(ans), MSG_NOSIGNAL) < 0)
                        bad = true;
                    memmove(c->in, c->in + l, c->inlen - l);
                    c->inlen -= l;
                }
            }
            if (!done && !bad)
                continue;
            close(c->fd);
            open_now--;
            if (done && c->answered == 2) {
                if (nlat == lat_cap) {
                    lat_cap *= 2;
                    lat = realloc(lat, lat_cap * sizeof(*lat));
                    if (!lat)
                        return 1;
                }
                lat[nlat++] = clk_mono_us() - c->t0_us;
            } else {
                failed++;
            }
            if (clk_mono_us() < stop_at)
                open_now += open_one(ep, c, &sa) ? 1 : (int)(failed++, 0);
        }
    }
    double elapsed = (double)(clk_mono_us() - start) / 1e6;
    getrusage(RUSAGE_SELF, &ru1);
    /* CPU of the whole process (server workers, registry thread and the client) per session:
     * the figure that does not move with the machine's load */
    double cpu_us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                             ru0.ru_stime.tv_sec) * 1e6 +
                    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                             ru0.ru_stime.tv_usec);
    qsort(lat, nlat, sizeof(*lat), cmp_ll);
    double p50 = nlat ? (double)lat[nlat / 2] / 1e3 : 0;
    double p99 = nlat ? (double)lat[(nlat * 99) / 100] / 1e3 : 0;
    agi_stats_t st;
    agi_get_stats(agi, &st);
    printf("agi_sessions: %zu sessions in %.2f s, %d in flight, %llu failed; server: %llu finished, "
           "%llu commands, p50 %.3f ms\n",
           nlat, elapsed, inflight, (unsigned long long)failed, (unsigned long long)st.finished,
           (unsigned long long)st.commands, p50);
    printf("metric agi_sessions.rate %.0f sessions/s\n", (double)nlat / elapsed);
    printf("metric agi_sessions.p99 %.3f ms\n", p99);
    printf("metric agi_sessions.cpu_per_session %.1f us\n", nlat ? cpu_us / (double)nlat : 0.0);
    agi_free(agi);
    reg_free(reg);
    free(lat);
    free(cl);
    close(ep);
    return failed ? 1 : 0;
}
