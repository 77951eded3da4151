/*
 * pbxsim_floodcount: measures how fast a pbxsim floods one AMI client.
 * Usage: pbxsim_floodcount PORT [EVENTS] [USER] [SECRET]
 * Logs in, asks for EVENTS flood events (Action: PbxsimFlood), counts messages
 * until they all arrived and prints `metric` lines.  Gives up after 60 s.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [EVENTS] [USER] [SECRET]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    const char *user = argc > 3 ? argv[3] : "admin", *secret = argc > 4 ? argv[4] : "amp111";
    alarm(60);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        return 1;
    }
    char req[512];
    snprintf(req, sizeof req,
             "Action: Login\r\nUsername: %s\r\nSecret: %s\r\n\r\nAction: Ping\r\nActionID: sync\r\n\r\n", user,
             secret);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
        return 1;
    static char buf[1 << 20];
    long msgs = 0, bytes = 0;
    int st = 0; /* how much of "\r\n\r\n" matched, carried across reads */
    int64_t t0 = 0;
    char tail[32] = "";
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) {
            fprintf(stderr, "connection closed after %ld messages\n", msgs);
            return 1;
        }
        if (!t0) {
            /* the Ping answer marks the end of the login chatter */
            char look[sizeof buf + sizeof tail];
            size_t tl = strlen(tail);
            memcpy(look, tail, tl);
            memcpy(look + tl, buf, (size_t)r);
            if (!memmem(look, tl + (size_t)r, "ActionID: sync", 14)) {
                size_t keep = (size_t)r < sizeof tail - 1 ? (size_t)r : sizeof tail - 1;
                memcpy(tail, buf + r - (ssize_t)keep, keep);
                tail[keep] = '\0';
                continue;
            }
            snprintf(req, sizeof req, "Action: PbxsimFlood\r\nCount: %ld\r\n\r\n", n);
            t0 = clk_mono_us();
            if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
                return 1;
            msgs = -1; /* the flood action's own response */
            st = 0;
            continue;
        }
        bytes += r;
        for (ssize_t i = 0; i < r; i++) {
            static const char term[] = "\r\n\r\n";
            if (buf[i] == term[st]) {
                if (++st == 4) {
                    msgs++;
                    st = 0;
                }
            } else {
                st = buf[i] == '\r' ? 1 : 0;
            }
        }
        if (msgs >= n)
            break;
    }
    double dt = (double)(clk_mono_us() - t0) / 1e6;
    printf("metric pbxsim_flood_events %ld events\n", msgs);
    printf("metric pbxsim_flood_rate %.0f events/s\n", (double)msgs / dt);
    printf("metric pbxsim_flood_bandwidth %.1f MB/s\n", (double)bytes / dt / 1e6);
    printf("metric pbxsim_flood_time %.3f s\n", dt);
    return 0;
}
