/*
 * Hostile clients over real sockets (issue 14 parts 2-4, issue 8 framing):
 * - the unauthenticated-slot attack, scaled down: one address opening many
 *   silent connections gets its per-address share (the rest are told 503 why
 *   and closed), another address still logs in, the global cap on sessions
 *   not logged in refuses (503) without touching logged-in ones, and every
 *   silent one is told 408 and closed at login_timeout; the repeated refusals
 *   write a bounded number of log lines;
 * - the per-address cap on all sessions;
 * - requests answered 401 do not keep a session alive (idle timeout);
 * - failed logins: growing delays (lower bounds), answers in order even when
 *   pipelined, then a block (429) that ends after login_block_time, while a
 *   clean address logs in with the same name at once;
 * - a login and a request written together are answered in order;
 * - a mismatched end tag is answered 400 at once and the connection closed.
 * Clients choose their source address in 127.0.0.0/8 to stand for different
 * hosts.  Deadlines scale with CCD_TEST_TIMEOUT_MULTIPLIER.
 */
#include <arpa/inet.h>
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

#define DECL TCLI_DECL

/* Deadlines: base ms times CCD_TEST_TIMEOUT_MULTIPLIER (sanitizer builds set it). */
static double mult(void)
{
    const char *m = getenv("CCD_TEST_TIMEOUT_MULTIPLIER");
    double v = m ? atof(m) : 1.0;
    return v >= 1.0 ? v : 1.0;
}

static int tmo(int base_ms)
{
    return (int)(base_ms * mult());
}

static bool good_login(void *ctx, const char *u, const char *p)
{
    (void)ctx;
    return strcmp(u, "good") == 0 && strcmp(p, "pw") == 0;
}

static reg_t *reg;
static eccp_server_t *srv;

/* Log lines about refused connections (the sink runs on the acceptor). */
static atomic_int refused_lines;
static void sink(log_level_e level, const char *module, const char *line, void *ctx)
{
    (void)level;
    (void)module;
    (void)ctx;
    if (strstr(line, "refused: "))
        atomic_fetch_add(&refused_lines, 1);
}

static conf_eccp_t base_conf(void)
{
    conf_t cf;
    conf_defaults(&cf);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = 2;
    return cf.eccp;
}

static void start(const conf_eccp_t *cfg, int idle_ms)
{
    eccp_deps_t d = {.reg = reg, .login_check = good_login, .idle_timeout_ms = idle_ms};
    char err[256];
    srv = eccp_server_new(cfg, &d, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(eccp_server_start(srv), 0);
}

static int setup(void **state)
{
    (void)state;
    reg = reg_new(10000, NULL, 0);
    assert_int_equal(reg_start(reg), 0);
    srv = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    eccp_server_free(srv);
    srv = NULL;
    reg_stop(reg);
    reg_free(reg);
    log_set_sink(NULL, NULL);
    return 0;
}

static eccp_stats_t stats(void)
{
    eccp_stats_t st;
    eccp_server_stats(srv, &st);
    return st;
}

/* Waits until expr (over a fresh `st`) holds, else fails with what it saw. */
#define WAIT_STATS(expr, base_ms)                                                                   \
    do {                                                                                            \
        int64_t end_ = clk_mono_ms() + tmo(base_ms);                                                \
        eccp_stats_t st = stats();                                                                  \
        while (!(expr) && clk_mono_ms() < end_) {                                                   \
            usleep(2000);                                                                           \
            st = stats();                                                                           \
        }                                                                                           \
        if (!(expr))                                                                                \
            fail_msg("timed out waiting for %s", #expr);                                            \
    } while (0)

/* A raw connection from src (127.x.y.z) to the server. */
static int connect_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(eccp_server_port(srv))};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&d, sizeof(d)), 0);
    return fd;
}

static tcli_t *tcli_from(const char *src)
{
    tcli_t *c = calloc(1, sizeof(*c));
    c->fd = connect_from(src);
    return c;
}

/*
 * Reads what the server sent on fd until it closes, within ms; returns it (malloc'ed)
 * or NULL when the connection was still open at the deadline.
 */
static char *read_to_close(int fd, int ms)
{
    char *out = calloc(1, 65536);
    size_t n = 0;
    int64_t end = clk_mono_ms() + ms;
    for (;;) {
        int64_t left = end - clk_mono_ms();
        if (left <= 0) {
            free(out);
            return NULL;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t k = read(fd, out + n, 65535 - n);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return out;
        if (k > 0)
            n += (size_t)k;
    }
}

static const char *failure(int code, const char *msg)
{
    static char b[512];
    snprintf(b, sizeof(b), DECL "<response><failure><code>%d</code><message>%s</message></failure>"
                               "</response>\n", code, msg);
    return b;
}

#define LOGIN(id, u, p)                                                                             \
    "<request id=\"" id "\"><login><username>" u "</username><password>" p "</password></login>"    \
    "</request>"

static char *next(tcli_t *c)
{
    char *r = tcli_recv(c, tmo(10000));
    assert_non_null(r);
    return r;
}

static void expect_next(tcli_t *c, const char *want)
{
    char *r = next(c);
    if (strcmp(r, want) != 0)
        fail_msg("got  %s\nwant %s", r, want);
    free(r);
}

static void login_good(tcli_t *c, const char *id)
{
    char req[256], want[128];
    snprintf(req, sizeof(req), "<request id=\"%s\"><login><username>good</username><password>pw"
                               "</password></login></request>", id);
    snprintf(want, sizeof(want), "<response id=\"%s\"><login_response><success/><app_cookie>", id);
    tcli_send(c, req);
    char *r = next(c);
    if (!strstr(r, want))
        fail_msg("login %s: %s", id, r);
    free(r);
}

/* ---------------- the unauthenticated-slot attack ---------------- */

#define ATTACK 50

static void test_unauth_slot_attack(void **state)
{
    (void)state;
    conf_eccp_t cf = base_conf();
    cf.max_unauth_sessions = 8;
    cf.max_unauth_per_address = 4;
    /* long enough that the steps before the timeouts fit in it on a loaded machine */
    cf.login_timeout_s = (int)(4 * mult() + 0.999);
    start(&cf, 0);
    log_set_sink(sink, NULL);
    atomic_store(&refused_lines, 0);

    /* a console already logged in */
    tcli_t *l1 = tcli_from("127.0.0.2");
    login_good(l1, "l1");

    /* one address opens ATTACK connections and never speaks */
    int fds[ATTACK];
    for (int i = 0; i < ATTACK; i++)
        fds[i] = connect_from("127.0.0.1");
    WAIT_STATS(st.refused_unauth_addr == ATTACK - 4 && st.unauth_sessions == 4, 10000);
    /* the refused ones were told why, then closed; the 4 admitted ones are open */
    bool told[ATTACK] = {false};
    int ntold = 0;
    int64_t end = clk_mono_ms() + tmo(10000);
    while (ntold < ATTACK - 4 && clk_mono_ms() < end) {
        for (int i = 0; i < ATTACK; i++) {
            if (told[i])
                continue;
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            if (poll(&p, 1, 0) != 1)
                continue;
            char *r = read_to_close(fds[i], tmo(10000));
            assert_non_null(r);
            assert_string_equal(r, failure(503, "Too many unauthenticated sessions from this "
                                                "address"));
            free(r);
            told[i] = true;
            ntold++;
        }
        usleep(1000);
    }
    assert_int_equal(ntold, ATTACK - 4);

    /* another address still connects and logs in; the logged-in console is served */
    tcli_t *l2 = tcli_from("127.0.0.2");
    login_good(l2, "l2");
    tcli_send(l1, TCLI_FILTER("f1"));
    expect_next(l1, TCLI_FILTER_OK("f1"));

    /* the global cap on sessions not logged in: 4 more from a third address fill it, the
     * next one is refused whatever its address; logged-in sessions do not count */
    int more[4];
    for (int i = 0; i < 4; i++)
        more[i] = connect_from("127.0.0.3");
    WAIT_STATS(st.unauth_sessions == 8, 10000);
    int over = connect_from("127.0.0.4");
    char *r = read_to_close(over, tmo(10000));
    assert_non_null(r);
    assert_string_equal(r, failure(503, "Too many unauthenticated sessions"));
    free(r);
    close(over);
    assert_int_equal(stats().refused_unauth, 1);

    /* at login_timeout every silent connection is told 408 and closed */
    for (int i = 0; i < ATTACK + 4; i++) {
        int fd = i < ATTACK ? fds[i] : more[i - ATTACK];
        if (i < ATTACK && told[i])
            continue;
        r = read_to_close(fd, tmo(10000) + cf.login_timeout_s * 1000);
        assert_non_null(r);
        assert_string_equal(r, failure(408, "Login timeout"));
        free(r);
    }
    WAIT_STATS(st.closed_login_timeout == 8 && st.unauth_sessions == 0, 10000);
    /* the consoles that logged in are still served, and the address may connect again */
    tcli_send(l1, TCLI_FILTER("f2"));
    expect_next(l1, TCLI_FILTER_OK("f2"));
    tcli_send(l2, TCLI_FILTER("f3"));
    expect_next(l2, TCLI_FILTER_OK("f3"));
    int again = connect_from("127.0.0.1");
    WAIT_STATS(st.unauth_sessions == 1, 10000);
    close(again);
    for (int i = 0; i < ATTACK; i++)
        close(fds[i]);
    for (int i = 0; i < 4; i++)
        close(more[i]);
    /* 47 refusals at two call sites, a handful of log lines: at most the burst of each
     * 10 s window the 46 span (two at most), and one for the other site */
    int lines = atomic_load(&refused_lines);
    assert_true(lines >= 2);
    assert_true(lines <= 2 * LOG_RL_BURST + 1);
    log_set_sink(NULL, NULL);
    tcli_close(l1);
    tcli_close(l2);
}

/* Every session of an address, logged in or not. */
static void test_address_cap(void **state)
{
    (void)state;
    conf_eccp_t cf = base_conf();
    cf.max_sessions_per_address = 2;
    cf.max_sessions = 3;
    start(&cf, 0);
    tcli_t *a = tcli_from("127.0.0.5");
    login_good(a, "a");
    tcli_t *b = tcli_from("127.0.0.5");
    login_good(b, "b");
    int fd = connect_from("127.0.0.5");
    char *r = read_to_close(fd, tmo(10000));
    assert_non_null(r);
    assert_string_equal(r, failure(503, "Too many sessions from this address"));
    free(r);
    close(fd);
    assert_int_equal(stats().refused_addr, 1);
    /* the whole server's cap says so too */
    tcli_t *c = tcli_from("127.0.0.6");
    login_good(c, "c");
    fd = connect_from("127.0.0.7");
    r = read_to_close(fd, tmo(10000));
    assert_non_null(r);
    assert_string_equal(r, failure(503, "Too many sessions"));
    free(r);
    close(fd);
    assert_int_equal(stats().refused_full, 1);
    tcli_close(a);
    tcli_close(b);
    tcli_close(c);
}

/* ---------------- 401 does not keep a session alive ---------------- */

static void test_401_no_keepalive(void **state)
{
    (void)state;
    conf_eccp_t cf = base_conf();
    cf.login_timeout_s = 3600; /* only the idle timeout can close the sessions here */
    int idle = tmo(1000);
    start(&cf, idle);
    tcli_t *refused = tcli_from("127.0.0.8");
    tcli_t *in = tcli_from("127.0.0.9");
    login_good(in, "i");
    /* both send a request every idle/8: one answered 401, one served */
    int64_t end = clk_mono_ms() + 20 * idle;
    int n = 0;
    bool closed = false;
    while (!closed && clk_mono_ms() < end) {
        char req[200], want[200];
        snprintf(req, sizeof(req), "<request id=\"r%d\"><getpauses/></request>", n);
        tcli_send(refused, req);
        char *r = tcli_recv(refused, tmo(10000));
        assert_non_null(r);
        if (r[0] == '\0') {
            closed = true; /* the server closed it */
        } else {
            snprintf(want, sizeof(want), DECL "<response id=\"r%d\"><failure><code>401</code>"
                                              "<message>Unauthorized</message></failure></response>\n", n);
            assert_string_equal(r, want);
        }
        free(r);
        snprintf(req, sizeof(req), TCLI_FILTER("k%d"), n);
        tcli_send(in, req);
        r = next(in);
        snprintf(want, sizeof(want), TCLI_FILTER_OK("k%d"), n);
        assert_string_equal(r, want);
        free(r);
        n++;
        usleep((useconds_t)idle * 1000 / 8);
    }
    assert_true(closed);
    assert_true(n >= 4); /* it was refused several times before the idle close */
    eccp_stats_t st = stats();
    assert_int_equal(st.closed_idle, 1);
    assert_int_equal(st.closed_login_timeout, 0);
    tcli_close(refused);
    tcli_close(in);
}

/* ---------------- failed-login throttling ---------------- */

static int64_t since(int64_t t0)
{
    return clk_mono_ms() - t0;
}

static void test_login_throttle(void **state)
{
    (void)state;
    conf_eccp_t cf = base_conf();
    cf.login_fail_delay_ms = 100;
    cf.login_fail_delay_max_ms = 400;
    cf.login_fail_block_after = 4;
    cf.login_block_time_s = (int)(3 * mult() + 0.999);
    cf.login_timeout_s = 3600; /* the blocked clients stay unauthenticated past the block */
    start(&cf, 0);
    tcli_t *c = tcli_from("127.0.0.10");
    /* three guesses in one write: answered in order, each after its delay (100, 200,
     * 400 ms), so pipelining does not get past the delays; a request behind them waits */
    int64_t t0 = clk_mono_ms();
    tcli_send(c, LOGIN("w1", "good", "x") LOGIN("w2", "good", "y") LOGIN("w3", "good", "z")
                     TCLI_FILTER("f"));
    expect_next(c, TCLI_FAIL401("w1"));
    assert_true(since(t0) >= 100);
    expect_next(c, TCLI_FAIL401("w2"));
    assert_true(since(t0) >= 300);
    expect_next(c, TCLI_FAIL401("w3"));
    assert_true(since(t0) >= 700);
    expect_next(c, DECL "<response id=\"f\"><failure><code>401</code><message>Unauthorized"
                        "</message></failure></response>\n");
    eccp_stats_t st = stats();
    assert_int_equal(st.login_failed, 3);
    assert_int_equal(st.login_delayed, 3);
    /* the 4th failure (delay capped at 400) starts the block */
    int64_t t4 = clk_mono_ms();
    tcli_send(c, LOGIN("w4", "good", "w"));
    expect_next(c, TCLI_FAIL401("w4"));
    assert_true(since(t4) >= 400);
    /* blocked: even the right password is refused, unchecked, with the time left */
    tcli_send(c, LOGIN("b1", "good", "pw"));
    char *r = next(c);
    if (!strstr(r, "<response id=\"b1\"><login_response><failure><code>429</code><message>Too "
                   "many failed logins, try again in "))
        fail_msg("not blocked: %s", r);
    free(r);
    assert_int_equal(stats().login_blocked, 1);
    assert_int_equal(stats().login_failed, 4);
    /* another address logs in at once with the same name (the name's block does not
     * apply to an address without failures), and a new connection from the blocked
     * address is still blocked */
    tcli_t *other = tcli_from("127.0.0.11");
    login_good(other, "o");
    tcli_t *c2 = tcli_from("127.0.0.10");
    tcli_send(c2, LOGIN("b2", "good", "pw"));
    r = next(c2);
    assert_non_null(strstr(r, "<code>429</code>"));
    free(r);
    /* the block ends login_block_time after the 4th failure: retry until then */
    int64_t end = t4 + cf.login_block_time_s * 1000 + tmo(10000);
    bool in = false;
    int tries = 0;
    while (!in && clk_mono_ms() < end) {
        char req[200];
        snprintf(req, sizeof(req), LOGIN("t%d", "good", "pw"), tries++);
        tcli_send(c2, req);
        r = next(c2);
        in = strstr(r, "<success/>") != NULL;
        if (!in && !strstr(r, "<code>429</code>"))
            fail_msg("unexpected: %s", r);
        free(r);
        if (!in)
            usleep(50000);
    }
    assert_true(in);
    assert_true(since(t4) >= cf.login_block_time_s * 1000);
    /* the other address was never held up: its session is served */
    tcli_send(other, TCLI_FILTER("g"));
    expect_next(other, TCLI_FILTER_OK("g"));
    tcli_close(c);
    tcli_close(c2);
    tcli_close(other);
}

/* ---------------- ordering and framing ---------------- */

static void test_login_and_request_in_order(void **state)
{
    (void)state;
    conf_eccp_t cf = base_conf();
    cf.login_fail_delay_ms = 50;
    start(&cf, 0);
    tcli_t *c = tcli_from("127.0.0.12");
    /* a failed login (its answer delayed) and a request in one write: 401 first, then the
     * request as not logged in; a good login and a request: success, then served */
    tcli_send(c, LOGIN("a", "good", "bad") TCLI_FILTER("f1") LOGIN("b", "good", "pw")
                     TCLI_FILTER("f2"));
    expect_next(c, TCLI_FAIL401("a"));
    expect_next(c, DECL "<response id=\"f1\"><failure><code>401</code><message>Unauthorized"
                        "</message></failure></response>\n");
    char *r = next(c);
    assert_non_null(strstr(r, "<response id=\"b\"><login_response><success/><app_cookie>"));
    free(r);
    expect_next(c, TCLI_FILTER_OK("f2"));
    tcli_close(c);
}

static void test_mismatched_tag(void **state)
{
    (void)state;
    conf_eccp_t cf = base_conf();
    start(&cf, 0);
    tcli_t *c = tcli_from("127.0.0.13");
    login_good(c, "l");
    /* a good request, then one whose end tag does not match: the first is answered, the
     * second gets 400 at once and the connection closes (no 64 KiB or idle wait) */
    tcli_send(c, TCLI_FILTER("ok") "<request id=\"1\"><getpauses></request>");
    expect_next(c, TCLI_FILTER_OK("ok"));
    expect_next(c, failure(400, "Bad request"));
    assert_true(tcli_closed(c, tmo(10000)));
    WAIT_STATS(st.closed_bad == 1, 10000);
    tcli_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_unauth_slot_attack),
        T(test_address_cap),
        T(test_401_no_keepalive),
        T(test_login_throttle),
        T(test_login_and_request_in_order),
        T(test_mismatched_tag),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
