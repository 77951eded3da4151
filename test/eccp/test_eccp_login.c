/*
 * At most one login in flight per session: the database stand-in holds login
 * jobs until the test releases them, so a second login on the same session
 * meets a pending one (immediate top-level 503, no job), while another
 * session's login is not affected.  Covers the unauthenticated case, a
 * re-login of a logged-in session, a refused password and a database failure.
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
#define BUSY(id) \
    DECL "<response id=\"" id "\"><failure><code>503</code><message>Login already in progress" \
         "</message></failure></response>\n"

/* Answers the oldest held login: status, and whether the user was accepted. */
static void release(int status, bool accepted)
{
    db_read_job_t *job = tdb_take_oldest();
    ((eccp_job_t *)job)->n[0] = accepted ? 1 : 0; /* eccp__sql_login's result */
    tdb_finish(job, status);
}

static reg_t *reg;
static pthread_t reg_th;
static eccp_server_t *srv;

static int setup(void **state)
{
    (void)state;
    conf_t cf;
    conf_defaults(&cf);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = 1;
    reg = reg_new(10000);
    eccp_deps_t d = {.reg = reg, .db_submit = tdb_hold_submit};
    char err[256];
    srv = eccp_server_new(&cf.eccp, &d, err, sizeof(err));
    assert_non_null(srv);
    pthread_create(&reg_th, NULL, reg_run, reg);
    assert_int_equal(eccp_server_start(srv), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    while (tdb_held_count() > 0)
        release(0, false); /* the server waits for its jobs */
    reg_stop(reg);
    pthread_join(reg_th, NULL);
    eccp_server_free(srv);
    reg_free(reg);
    return 0;
}

#define LOGIN(id) \
    "<request id=\"" id "\"><login><username>u</username><password>p</password></login></request>"

static void test_one_login_in_flight(void **state)
{
    (void)state;
    tcli_t *c = tcli_connect(eccp_server_port(srv));
    tcli_t *other = tcli_connect(eccp_server_port(srv));
    assert_non_null(c);
    assert_non_null(other);
    /* not logged in: the first login waits on the database, the next ones are refused */
    tcli_send(c, LOGIN("a"));
    tdb_wait_held(1);
    expect(c, LOGIN("b"), BUSY("b"));
    expect(c, LOGIN("b2"), BUSY("b2"));
    assert_int_equal(atomic_load(&tdb_submitted), 1);
    /* another session is not affected */
    tcli_send(other, LOGIN("o"));
    tdb_wait_held(2);
    release(0, true);
    char *r = tcli_next(c, false);
    assert_non_null(strstr(r, "<response id=\"a\"><login_response><success/><app_cookie>"));
    free(r);
    release(0, false);
    r = tcli_next(other, false);
    assert_string_equal(r, DECL "<response id=\"o\"><login_response><failure><code>401</code>"
                                "<message>Invalid username or password</message></failure>"
                                "</login_response></response>\n");
    free(r);
    /* logged in: a re-login is limited the same way; a refused one keeps the session in */
    tcli_send(c, LOGIN("c"));
    tdb_wait_held(1);
    expect(c, LOGIN("d"), BUSY("d"));
    release(0, false);
    r = tcli_next(c, false);
    assert_non_null(strstr(r, "<response id=\"c\"><login_response><failure><code>401</code>"));
    free(r);
    expect(c, "<request id=\"f\"><filterbyagent><agent_number>any</agent_number></filterbyagent>"
              "</request>",
           DECL "<response id=\"f\"><filterbyagent_response><success/></filterbyagent_response>"
                "</response>\n");
    /* once answered, the next login goes to the database again */
    tcli_send(c, LOGIN("e"));
    tdb_wait_held(1);
    release(CCD_EIO, false); /* the database was away */
    r = tcli_next(c, false);
    assert_string_equal(r, DECL "<response id=\"e\"><failure><code>500</code><message>Server error - "
                                "database failure</message></failure></response>\n");
    free(r);
    tcli_send(c, LOGIN("g"));
    tdb_wait_held(1);
    release(0, true);
    r = tcli_next(c, false);
    assert_non_null(strstr(r, "<response id=\"g\"><login_response><success/>"));
    free(r);
    /* a session closed with its login pending: the answer is dropped, nothing leaks */
    tcli_t *gone = tcli_connect(eccp_server_port(srv));
    tcli_send(gone, LOGIN("z"));
    tdb_wait_held(1);
    tcli_close(gone);
    usleep(50000);
    release(0, true);
    tcli_close(other);
    tcli_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_login_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
