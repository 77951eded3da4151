/*
 * One login at a time per session, and answers in order: the database stand-in
 * holds login jobs until the test releases them, and the requests written
 * after a login wait, unparsed (the request counter proves it), until the
 * login's answer is out; then they are answered in order (a pipelined request
 * after a successful login is served as logged in, not 401).  Covers the
 * unauthenticated case, a second login behind a pending one, a re-login of a
 * logged-in session, a refused password and a database failure, and a session
 * closed with its login pending.
 */
#include <pthread.h>
#include <signal.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "eccp/eccp.h"
#include "eccp/eccp_int.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define DECL TCLI_DECL
/* Answers the oldest held login: status, and whether the user was accepted. */
static void release(int status, bool accepted)
{
    db_read_job_t *job = tdb_take_oldest();
    ((eccp_job_t *)job)->u.login.ok = accepted; /* eccp__sql_login's result */
    tdb_finish(job, status);
}

static reg_t *reg;
static eccp_server_t *srv;

static int setup(void **state)
{
    (void)state;
    conf_t cf;
    conf_defaults(&cf);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = 1;
    cf.eccp.login_fail_delay_ms = 0; /* throttling has its own test (test_eccp_abuse) */
    reg = reg_new(10000, NULL, 0);
    eccp_deps_t d = {.reg = reg, .db_submit = tdb_hold_submit};
    char err[256];
    srv = eccp_server_new(&cf.eccp, &d, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(reg_start(reg), 0);
    assert_int_equal(eccp_server_start(srv), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    while (tdb_held_count() > 0)
        release(0, false); /* the server waits for its jobs */
    reg_stop(reg);
    eccp_server_free(srv);
    reg_free(reg);
    return 0;
}

static int sessions_open(void)
{
    eccp_stats_t st;
    eccp_server_stats(srv, &st);
    return st.sessions;
}

#define LOGIN(id) \
    "<request id=\"" id "\"><login><username>u</username><password>p</password></login></request>"


static uint64_t requests(void)
{
    eccp_stats_t st;
    eccp_server_stats(srv, &st);
    return st.requests;
}

/* Waits until the server has parsed n requests in all. */
static void wait_requests(uint64_t n)
{
    int64_t end = clk_mono_ms() + TCLI_WAIT_MS;
    while (requests() < n && clk_mono_ms() < end)
        usleep(1000);
    assert_int_equal(requests(), n);
}

static void test_login_then_requests_in_order(void **state)
{
    (void)state;
    tcli_t *c = tcli_connect(eccp_server_port(srv));
    tcli_t *other = tcli_connect(eccp_server_port(srv));
    assert_non_null(c);
    assert_non_null(other);
    uint64_t base = requests();
    /* login, an eccpauth request and a second login in one write */
    tcli_send(c, LOGIN("a") TCLI_FILTER("f1") LOGIN("b") TCLI_FILTER("f2"));
    tdb_wait_held(1);
    /* another session is served meanwhile, and its request is counted: c's three waiting
     * requests are not (they stay unparsed until the login is answered) */
    tcli_send(other, LOGIN("o"));
    tdb_wait_held(2);
    assert_int_equal(requests(), base + 2);
    assert_int_equal(atomic_load(&tdb_submitted), 2);
    /* the first login fails: its answer, then f1 as not logged in, then login b's job */
    release(0, false);
    char *r = tcli_next(c, false);
    assert_string_equal(r, TCLI_FAIL401("a"));
    free(r);
    r = tcli_next(c, false);
    assert_string_equal(r, DECL "<response id=\"f1\"><failure><code>401</code><message>"
                                "Unauthorized</message></failure></response>\n");
    free(r);
    tdb_wait_held(2); /* other's login and c's second one */
    assert_int_equal(requests(), base + 4); /* f2 still waits */
    /* other's login first (oldest), then b succeeds and f2 is served logged in */
    release(0, false);
    r = tcli_next(other, false);
    assert_string_equal(r, TCLI_FAIL401("o"));
    free(r);
    release(0, true);
    r = tcli_next(c, false);
    assert_non_null(strstr(r, "<response id=\"b\"><login_response><success/><app_cookie>"));
    free(r);
    r = tcli_next(c, false);
    assert_string_equal(r, TCLI_FILTER_OK("f2"));
    free(r);
    wait_requests(base + 5);
    assert_int_equal(atomic_load(&tdb_submitted), 3);

    /* logged in: a refused re-login keeps the session in; requests behind it wait */
    tcli_send(c, LOGIN("c") TCLI_FILTER("f3"));
    tdb_wait_held(1);
    assert_int_equal(requests(), base + 6);
    release(0, false);
    r = tcli_next(c, false);
    assert_string_equal(r, TCLI_FAIL401("c"));
    free(r);
    r = tcli_next(c, false);
    assert_string_equal(r, TCLI_FILTER_OK("f3"));
    free(r);

    /* a login whose database job fails answers 500 and lets the next requests go */
    tcli_send(c, LOGIN("e") TCLI_FILTER("f4"));
    tdb_wait_held(1);
    release(CCD_EIO, false);
    r = tcli_next(c, false);
    assert_string_equal(r, DECL "<response id=\"e\"><failure><code>500</code><message>Server error - "
                                "database failure</message></failure></response>\n");
    free(r);
    r = tcli_next(c, false);
    assert_string_equal(r, TCLI_FILTER_OK("f4"));
    free(r);

    /* a session closed with its login pending: nothing is read from it while the login
     * is out; its answer then finds the peer gone and the session is closed and freed
     * (the sanitizer builds check the memory) */
    int open_before = sessions_open();
    tcli_t *gone = tcli_connect(eccp_server_port(srv));
    tcli_send(gone, LOGIN("z"));
    tdb_wait_held(1);
    tcli_close(gone);
    release(0, true);
    CCD_WAIT(sessions_open() == open_before); /* closed and freed once its answer found no peer */
    tcli_close(other);
    tcli_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_then_requests_in_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
