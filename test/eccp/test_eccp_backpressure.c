/*
 * Input back-pressure: a client that pipelines many cheap requests with big
 * answers (getrequestlist) and does not read must not make the server queue
 * more than the low mark plus one answer for it.  The server stops reading
 * and dispatching that session while its output is above the mark, keeps
 * serving other sessions of the same worker, and resumes when the client
 * reads: every answer then arrives, in order.  A client that never reads is
 * idle-timed-out.  One worker and a pinned send buffer, so the kernel's share
 * of the backlog is bounded.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define T_WAIT TCLI_WAIT_MS
#define DECL TCLI_DECL
#define NREQ 10000
#define LOW_MARK (64 * 1024) /* the default max_output_bytes (4 MiB) / 4 is larger */

static bool ok_login(void *ctx, const char *u, const char *p)
{
    (void)ctx;
    (void)u;
    (void)p;
    return true;
}

static reg_t *reg;

static eccp_server_t *server(int idle_ms)
{
    conf_t cf;
    conf_defaults(&cf);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = 1; /* the flooding client and the other one share the worker */
    cf.eccp.login_timeout_s = 3600; /* the clients never log in (getrequestlist needs none) */
    /* A pinned send buffer: the kernel's share of the backlog stays well under the ~14 MB of
     * answers; not tiny, since a tiny one stalls loopback TCP on delayed ACKs. */
    eccp_deps_t d = {.reg = reg, .login_check = ok_login, .sndbuf = 256 * 1024, .idle_timeout_ms = idle_ms};
    char err[256];
    eccp_server_t *s = eccp_server_new(&cf.eccp, &d, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(eccp_server_start(s), 0);
    return s;
}

static int setup(void **state)
{
    (void)state;
    reg = reg_new(10000, NULL, 0);
    assert_int_equal(reg_start(reg), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reg_stop(reg);
    reg_free(reg);
    return 0;
}

/* Writes the whole flood with blocking writes (the server stops reading halfway). */
typedef struct flood {
    int fd;
    char *data;
    size_t len;
} flood_t;

static void *flood_main(void *arg)
{
    flood_t *f = arg;
    size_t off = 0;
    while (off < f->len) {
        ssize_t k = write(f->fd, f->data + off, f->len - off);
        if (k <= 0)
            break; /* closed by the server (idle test) */
        off += (size_t)k;
    }
    return NULL;
}

static void flood_start(flood_t *f, pthread_t *th, tcli_t *c)
{
    f->fd = c->fd;
    f->data = malloc((size_t)NREQ * 64);
    assert_non_null(f->data);
    f->len = 0;
    for (int i = 0; i < NREQ; i++)
        f->len += (size_t)sprintf(f->data + f->len, "<request id=\"%d\"><getrequestlist/></request>", i);
    assert_int_equal(pthread_create(th, NULL, flood_main, f), 0);
}

/* The client's receive buffer keeps the kernel's default: a tiny one makes loopback TCP
 * crawl on delayed-ack timers once it reads, and the answers (~14 MB) exceed it anyway. */
static tcli_t *small_client(eccp_server_t *s)
{
    tcli_t *c = tcli_connect(eccp_server_port(s));
    assert_non_null(c);
    return c;
}

static void wait_paused(eccp_server_t *s)
{
    eccp_stats_t st;
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    do {
        eccp_server_stats(s, &st);
        if (st.in_paused_out > 0)
            return;
        ccd_test_sleep_ms(2);
    } while (ccd_test_now_ms() < end);
    fail_msg("the flooding session never paused (responses %llu, queued max %llu)",
             (unsigned long long)st.responses, (unsigned long long)st.out_queued_max);
}

static void test_flood_bounded_then_in_order(void **state)
{
    (void)state;
    eccp_server_t *s = server(0);
    tcli_t *c1 = small_client(s);
    flood_t f;
    pthread_t th;
    flood_start(&f, &th, c1);
    wait_paused(s);

    /* another session on the same worker is served meanwhile */
    tcli_t *c2 = tcli_connect(eccp_server_port(s));
    char *r = rq(c2, "<request id=\"x\"><getrequestlist/></request>");
    assert_non_null(strstr(r, "<getrequestlist_response><requests><request>getrequestlist</request>"));
    size_t answer = strlen(r) - 1 + 4; /* the flood's ids have up to 4 digits, "x" has 1 */
    free(r);
    expect(c2, "<request id=\"y\"><getagentstatus><agent_number>Agent/1</agent_number>"
               "</getagentstatus></request>",
           DECL "<response id=\"y\"><failure><code>401</code><message>Unauthorized</message>"
                "</failure></response>\n");
    tcli_close(c2);

    eccp_stats_t st;
    eccp_server_stats(s, &st);
    assert_true(st.out_queued_max <= LOW_MARK + answer);
    assert_int_equal(st.closed_slow, 0);

    /* the client reads now: all NREQ answers, whole and in order */
    for (int i = 0; i < NREQ; i++) {
        r = tcli_recv(c1, T_WAIT);
        if (!r || !*r)
            fail_msg("answer %d missing (%s)", i, r ? "closed" : "timeout");
        char want[128];
        snprintf(want, sizeof(want), DECL "<response id=\"%d\"><getrequestlist_response>", i);
        if (strncmp(r, want, strlen(want)) != 0)
            fail_msg("answer %d: got %.80s", i, r);
        assert_true(strlen(r) <= answer);
        assert_non_null(strstr(r, "</requests></getrequestlist_response></response>\n"));
        free(r);
    }
    pthread_join(th, NULL);
    assert_null(tcli_recv(c1, 200)); /* nothing more */
    eccp_server_stats(s, &st);
    assert_true(st.out_queued_max <= LOW_MARK + answer);
    assert_int_equal(st.closed_slow, 0);
    assert_true(st.in_paused_out >= 1);
    assert_int_equal(st.sessions, 1);
    tcli_close(c1);
    free(f.data);
    eccp_server_free(s);
}

/* A client that never reads holds at most the mark plus one answer, then times out idle. */
static void test_flood_never_read_idles_out(void **state)
{
    (void)state;
    eccp_server_t *s = server(500);
    tcli_t *c1 = small_client(s);
    flood_t f;
    pthread_t th;
    flood_start(&f, &th, c1);
    wait_paused(s);
    eccp_stats_t st;
    /* The idle count goes up before the session is freed: wait for both, since the
     * stats are separate counters, not one snapshot. */
    CCD_WAIT((eccp_server_stats(s, &st), st.closed_idle > 0 && st.sessions == 0));
    assert_int_equal(st.closed_idle, 1);
    assert_int_equal(st.closed_slow, 0);
    assert_true(st.out_queued_max <= LOW_MARK + 2048);
    assert_int_equal(st.sessions, 0);
    pthread_join(th, NULL); /* its writes fail once the server closed the socket */
    tcli_close(c1);
    free(f.data);
    eccp_server_free(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_bounded_then_in_order),
        cmocka_unit_test(test_flood_never_read_idles_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
