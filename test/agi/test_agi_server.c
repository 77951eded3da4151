/*
 * The server against a raw client that plays Asterisk by hand, for what pbxsim does not do
 * on its own: a client that goes silent (the per-command deadline), a hangup in the middle
 * of a command, broken peers, the session bound, and a stop with sessions open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agi/agi.h"
#include "conf/conf.h"
#include "core/log.h"
#include "test/agi/agi_test_util.h"
#include "test/common/ccd_test.h"

typedef struct fx {
    reg_t *reg;
    agi_t *agi;
} fx_t;

static fx_t start(int timeout_s, int max_sessions)
{
    fx_t f;
    char err[256];
    f.reg = reg_new(10000, err, sizeof(err));
    assert_non_null(f.reg);
    assert_int_equal(reg_start(f.reg), 0);
    conf_t cf;
    conf_defaults(&cf);
    cf.agi.command_timeout_s = timeout_s;
    cf.agi.max_sessions = max_sessions;
    cf.agi.max_args = 4;
    f.agi = tagi_start(&cf.agi, &(agi_deps_t){.reg = f.reg});
    return f;
}

static void stop(fx_t *f)
{
    agi_free(f->agi);
    reg_free(f->reg);
}

/* Asterisk stops answering after the environment (a command out) and before its end. */
static void test_silent_client(void **state)
{
    (void)state;
    fx_t f = start(1, 100);
    int fd = agic_connect(agi_port(f.agi));
    agic_env(fd, "abandon", "silent-1", NULL);
    char line[512];
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "GET VARIABLE ID_CAMPAIGN");
    /* no answer: the session is closed by its deadline, with nothing more sent */
    agic_wait_closed(fd);
    close(fd);
    CCD_WAIT(tagi_stats(f.agi).timeouts == 1);
    /* half an environment, then silence */
    fd = agic_connect(agi_port(f.agi));
    agic_send(fd, "agi_network: yes\nagi_network_script: abandon\n");
    agic_wait_closed(fd);
    close(fd);
    CCD_WAIT(tagi_stats(f.agi).timeouts == 2);
    CCD_WAIT(tagi_stats(f.agi).sessions == 0);
    stop(&f);
}

/* The caller hangs up while the message plays: Asterisk answers the command with -1 and
 * says HANGUP (the recorded order); the call was counted abandoned before, and the session
 * ends after the HANGUP command's answer. */
static void test_hangup_mid_command(void **state)
{
    (void)state;
    fx_t f = start(30, 100);
    treg_call(f.reg, "hang-1", REG_CALL_OUTGOING, REG_CS_ONQUEUE);
    int fd = agic_connect(agi_port(f.agi));
    agic_env(fd, "abandon", "hang-1", NULL);
    char line[512];
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "GET VARIABLE ID_CAMPAIGN");
    agic_send(fd, "200 result=0\n");
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "STREAM FILE ccdialer/abandoned \"\"");
    agic_send(fd, "200 result=-1 endpos=1200\nHANGUP\n");
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "HANGUP");
    agic_send(fd, "511 Command Not Permitted on a dead channel or intercept routine\n");
    agic_wait_closed(fd);
    close(fd);
    CCD_WAIT(tagi_stats(f.agi).hangups == 1);
    reg_call_t c;
    CCD_WAIT(treg_find(f.reg, "hang-1", &c) && c.status == REG_CS_ABANDONED);
    /* HANGUP first, then the answer: the same end */
    fd = agic_connect(agi_port(f.agi));
    agic_env(fd, "outgoing", "hang-2", NULL);
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "GET VARIABLE AMDSTATUS");
    agic_send(fd, "HANGUP\n200 result=0\n");
    agic_wait_closed(fd);
    close(fd);
    CCD_WAIT(tagi_stats(f.agi).hangups == 2);
    assert_int_equal(tagi_stats(f.agi).protocol_errors, 0);
    stop(&f);
}

/* Broken peers are closed, counted, and the server keeps serving. */
static void test_broken_peers(void **state)
{
    (void)state;
    fx_t f = start(30, 100);
    static const char nul[] = "agi_network: yes\nagi_network_script: abandon\nagi_x: \x01\0y\n\n";
    static const struct {
        const char *p;
        size_t n;
    } bad[] = {
        {"agi_network yes\n\n", 0},                                 /* no colon */
        {"agi_network: yes\n\nhello\n", 0},                         /* an answer that is none */
        {"agi_a: 1\nagi_arg_1: a\nagi_arg_2: b\nagi_arg_3: c\nagi_arg_4: d\nagi_arg_5: e\n", 0},
        {nul, sizeof(nul) - 1},                                      /* a NUL byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = agic_connect(agi_port(f.agi));
        size_t n = bad[i].n ? bad[i].n : strlen(bad[i].p);
        assert_int_equal(send(fd, bad[i].p, n, MSG_NOSIGNAL), (ssize_t)n);
        if (i == 1) {
            /* the empty environment selects no script: VERBOSE, then the stray line */
            char line[256];
            agic_line(fd, line, sizeof(line));
        }
        agic_wait_closed(fd);
        close(fd);
    }
    CCD_WAIT(tagi_stats(f.agi).protocol_errors >= 3);
    /* a line longer than max_line_bytes (4096) */
    int fd = agic_connect(agi_port(f.agi));
    char big[5000];
    memset(big, 'a', sizeof(big));
    assert_int_equal(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
    agic_wait_closed(fd);
    close(fd);
    CCD_WAIT(tagi_stats(f.agi).protocol_errors >= 4);
    /* and a good session still works */
    fd = agic_connect(agi_port(f.agi));
    agic_env(fd, "agentlogin", "ok-1", NULL);
    char line[256];
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "GET DATA agent-user 5000 10");
    agic_send(fd, "200 result= (timeout)\n");
    agic_line(fd, line, sizeof(line));
    assert_string_equal(line, "SET VARIABLE CCD_AGENTLOGIN failed");
    agic_send(fd, "200 result=1\n");
    agic_wait_closed(fd);
    close(fd);
    stop(&f);
}

/* max_sessions: the next connection is closed at once, and a slot frees when one ends. */
static void test_max_sessions(void **state)
{
    (void)state;
    fx_t f = start(30, 2);
    int a = agic_connect(agi_port(f.agi));
    int b = agic_connect(agi_port(f.agi));
    CCD_WAIT(tagi_stats(f.agi).sessions == 2);
    int c = agic_connect(agi_port(f.agi));
    agic_wait_closed(c);
    close(c);
    CCD_WAIT(tagi_stats(f.agi).refused_full == 1);
    close(a);
    CCD_WAIT(tagi_stats(f.agi).sessions == 1);
    c = agic_connect(agi_port(f.agi));
    CCD_WAIT(tagi_stats(f.agi).sessions == 2);
    assert_int_equal(tagi_stats(f.agi).refused_full, 1);
    close(b);
    close(c);
    CCD_WAIT(tagi_stats(f.agi).sessions == 0);
    stop(&f);
}

/* Stopping with sessions mid-script closes them; nothing leaks (ASan) or hangs. */
static void test_stop_with_sessions(void **state)
{
    (void)state;
    fx_t f = start(30, 100);
    int fds[5];
    char line[256];
    for (int i = 0; i < 5; i++) {
        fds[i] = agic_connect(agi_port(f.agi));
        agic_env(fds[i], "outgoing", "stop-x", NULL);
        agic_line(fds[i], line, sizeof(line));
    }
    CCD_WAIT(tagi_stats(f.agi).sessions == 5);
    agi_stop(f.agi);
    for (int i = 0; i < 5; i++) {
        agic_wait_closed(fds[i]);
        close(fds[i]);
    }
    assert_int_equal(tagi_stats(f.agi).sessions, 0);
    stop(&f);
}

int main(void)
{
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silent_client), cmocka_unit_test(test_hangup_mid_command),
        cmocka_unit_test(test_broken_peers),  cmocka_unit_test(test_max_sessions),
        cmocka_unit_test(test_stop_with_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
