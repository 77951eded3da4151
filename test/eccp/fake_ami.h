/*
 * A scripted fake Asterisk for the eccp tests: accepts AMI connections on an
 * ephemeral loopback port, sends the banner, logs every action block it reads
 * (logged() checks for a part of one) and answers each with fake_answer(fd,
 * block), which the including test defines before including this header.
 * One connection at a time, on one thread; fake_stop_all() ends it.
 */
#ifndef CCD_TEST_ECCP_FAKE_AMI_H
#define CCD_TEST_ECCP_FAKE_AMI_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "ami/ami.h"
#include "conf/conf.h"
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

static void fake_answer(int fd, const char *block);

static int fake_lfd = -1;
static uint16_t fake_port;
static pthread_t fake_th;
static atomic_int fake_stop;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char action_log[65536];

static void log_action(const char *a, size_t n)
{
    pthread_mutex_lock(&log_mu);
    size_t l = strlen(action_log);
    if (l + n + 2 < sizeof(action_log)) {
        memcpy(action_log + l, a, n);
        action_log[l + n] = '\0';
        strcat(action_log, "|");
    }
    pthread_mutex_unlock(&log_mu);
}

static bool logged(const char *part)
{
    pthread_mutex_lock(&log_mu);
    bool r = strstr(action_log, part) != NULL;
    pthread_mutex_unlock(&log_mu);
    return r;
}

static void *fake_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&fake_stop)) {
        struct pollfd p = {.fd = fake_lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(fake_lfd, NULL, NULL);
        if (fd < 0)
            continue;
        const char *banner = "Asterisk Call Manager/9.0.0\r\n";
        if (write(fd, banner, strlen(banner)) < 0) {
            close(fd);
            continue;
        }
        char buf[65536];
        size_t len = 0;
        while (!atomic_load(&fake_stop)) {
            struct pollfd q = {.fd = fd, .events = POLLIN};
            if (poll(&q, 1, 100) <= 0)
                continue;
            ssize_t k = read(fd, buf + len, sizeof(buf) - 1 - len);
            if (k <= 0)
                break;
            len += (size_t)k;
            buf[len] = '\0';
            char *end;
            while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
                *end = '\0';
                log_action(buf, strlen(buf));
                fake_answer(fd, buf);
                size_t used = (size_t)(end + 4 - buf);
                memmove(buf, buf + used, len - used + 1);
                len -= used;
            }
        }
        close(fd);
    }
    return NULL;
}

static void fake_start(void)
{
    fake_lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fake_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fake_lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    listen(fake_lfd, 4);
    socklen_t sl = sizeof(a);
    getsockname(fake_lfd, (struct sockaddr *)&a, &sl);
    fake_port = ntohs(a.sin_port);
    pthread_create(&fake_th, NULL, fake_main, NULL);
}

static void fake_stop_all(void)
{
    atomic_store(&fake_stop, 1);
    pthread_join(fake_th, NULL);
    close(fake_lfd);
}

/* The AMI client of cf, its first server being the fake (started already). */
static inline ami_t *fake_ami_new(conf_t *cf)
{
    snprintf(cf->ami[0].host, sizeof(cf->ami[0].host), "127.0.0.1");
    cf->ami[0].port = fake_port;
    snprintf(cf->ami[0].username, sizeof(cf->ami[0].username), "u");
    snprintf(cf->ami[0].secret, sizeof(cf->ami[0].secret), "s");
    cf->ami[0].md5_login = false;
    ami_opts_t ao = {.no_filter = true, .no_resync = true};
    ami_t *a = ami_new(cf, &ao, NULL, 0);
    assert_non_null(a);
    return a;
}

/* The agent service the ECCP server hands agent and call requests to (deps.ags): made
 * before the stack starts (it subscribes to the registry and the AMI client); transfers go
 * to cf's [dialer] default_context, which this sets to "xfer-ctx". */
static ags_t *fake_ags;

static inline ags_t *fake_ags_new(conf_t *cf, reg_t *r, ami_t *a)
{
    snprintf(cf->dialer.default_context, sizeof(cf->dialer.default_context), "xfer-ctx");
    char err[256];
    fake_ags = ags_new(cf, r, a, NULL, err, sizeof(err));
    assert_non_null(fake_ags);
    return fake_ags;
}

/* Starts the registry thread, the agent service, the AMI client and the server, applies
 * setup to the registry and waits until the AMI link to the fake is up. */
static inline void fake_stack_start(reg_t *r, ami_t *a, eccp_server_t *srv, reg_apply_fn setup)
{
    assert_int_equal(reg_start(r), 0);
    if (fake_ags)
        assert_int_equal(ags_start(fake_ags), 0);
    assert_int_equal(ami_start(a), 0);
    assert_int_equal(eccp_server_start(srv), 0);
    treg_post_wait(r, setup, NULL, NULL);
    CCD_WAIT(ami_server_state(a, 0) == AMI_STATE_UP);
}

/* The reverse, registry first; the fake itself stays up (fake_stop_all). */
static inline void fake_stack_stop(reg_t *r, ami_t *a, eccp_server_t *srv)
{
    ags_stop(fake_ags);
    reg_stop(r);
    ami_stop(a);
    eccp_server_free(srv);
    ags_free(fake_ags);
    fake_ags = NULL;
    ami_free(a);
    reg_free(r);
}

#endif
