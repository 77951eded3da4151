/* pbxsim: the simulator as a standalone AMI server for demos and load runs. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "tools/pbxsim/pbxsim.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* "N" or "MIN-MAX" in milliseconds. */
static int parse_dist(const char *s, pbxsim_dist_t *d)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10), b = a;
    if (end == s)
        return -1;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtoul(p, &end, 10);
        if (end == p)
            return -1;
    }
    if (*end || b < a)
        return -1;
    d->min_ms = (uint32_t)a;
    d->max_ms = (uint32_t)b;
    return 0;
}

static void usage(const char *me)
{
    fprintf(stderr,
            "usage: %s [--port N] [--seed N] [--answer-rate P] [--busy-rate P]\n"
            "          [--ring-ms N|MIN-MAX] [--talk-ms N|MIN-MAX] [--time-scale X]\n"
            "          [--flood N] [--username U] [--secret S] [--fastagi HOST:PORT]\n"
            "          [--auth-delay-ms N] [--login-wait-ms N] [--shutdown-ms N] [--quiet-noise]\n"
            "          [--wrapup S] [--queue-wrapup S] [--agents N] [--agent-base N]\n",
            me);
}

int main(int argc, char **argv)
{
    pbxsim_opts_t o;
    pbxsim_opts_default(&o);
    uint64_t flood = 0;
    char agi_host[64] = "";
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},        {"seed", required_argument, 0, 's'},
        {"answer-rate", required_argument, 0, 'a'}, {"busy-rate", required_argument, 0, 'b'},
        {"ring-ms", required_argument, 0, 'r'},     {"talk-ms", required_argument, 0, 't'},
        {"time-scale", required_argument, 0, 'x'},  {"flood", required_argument, 0, 'f'},
        {"username", required_argument, 0, 'u'},    {"secret", required_argument, 0, 'k'},
        {"fastagi", required_argument, 0, 'g'},     {"auth-delay-ms", required_argument, 0, 'd'},
        {"login-wait-ms", required_argument, 0, 'w'}, {"quiet-noise", no_argument, 0, 'q'},
        {"shutdown-ms", required_argument, 0, 'S'},
        {"wrapup", required_argument, 0, 'W'},      {"queue-wrapup", required_argument, 0, 'Q'},
        {"agents", required_argument, 0, 'A'},      {"agent-base", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p': o.port = (uint16_t)atoi(optarg); break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'a': o.answer_rate = atof(optarg); break;
        case 'b': o.busy_rate = atof(optarg); break;
        case 'r':
            if (parse_dist(optarg, &o.ring) != 0) {
                usage(argv[0]);
                return 2;
            }
            break;
        case 't':
            if (parse_dist(optarg, &o.talk) != 0) {
                usage(argv[0]);
                return 2;
            }
            break;
        case 'x': o.time_scale = atof(optarg); break;
        case 'f': flood = strtoull(optarg, NULL, 10); break;
        case 'u': o.username = optarg; break;
        case 'k': o.secret = optarg; break;
        case 'g': {
            const char *colon = strrchr(optarg, ':');
            if (!colon) {
                usage(argv[0]);
                return 2;
            }
            snprintf(agi_host, sizeof agi_host, "%.*s", (int)(colon - optarg), optarg);
            o.fastagi_host = agi_host;
            o.fastagi_port = (uint16_t)atoi(colon + 1);
            break;
        }
        case 'd': o.auth_fail_delay_ms = (uint32_t)atoi(optarg); break;
        case 'w': o.agent_login_wait_ms = (uint32_t)atoi(optarg); break;
        case 'S': o.shutdown_ms = (uint32_t)atoi(optarg); break;
        case 'W': o.wrapup_s = (uint32_t)atoi(optarg); break;
        case 'Q': o.queue_wrapup_s = (uint32_t)atoi(optarg); break;
        case 'q': o.quiet_noise = true; break;
        case 'A': o.agents = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'B': o.agent_base = (uint32_t)strtoul(optarg, NULL, 10); break;
        default:
            usage(argv[0]);
            return ch == 'h' ? 0 : 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    pbxsim_t *sim = pbxsim_start(&o);
    if (!sim)
        return 1;
    printf("pbxsim listening on 127.0.0.1:%u\n", (unsigned)pbxsim_port(sim));
    fflush(stdout);
    if (flood)
        pbxsim_flood(sim, flood);
    while (!g_stop)
        pause();
    pbxsim_stop(sim);
    return 0;
}
