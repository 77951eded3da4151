/*
 * The scripts against pbxsim playing Asterisk's side (context dialer-agi connects to our
 * server with the recorded environment and answers each command), without a database:
 * what each script makes the channel do is read from the AMI events pbxsim emits
 * (AGIExecStart "Command: ...", VarSet, QueueCallerJoin, Hangup), and what it tells the
 * registry from the registry itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/agi.h"
#include "conf/conf.h"
#include "core/log.h"
#include "test/agi/agi_test_util.h"
#include "test/common/ccd_test.h"
#include "tools/pbxsim/pbxsim.h"

typedef struct fx {
    reg_t *reg;
    agi_t *agi;
    pbxsim_t *sim;
    amicli_t ami;
} fx_t;

static int setup(void **state)
{
    static fx_t f;
    memset(&f, 0, sizeof(f));
    char err[256];
    f.reg = reg_new(10000, err, sizeof(err));
    assert_non_null(f.reg);
    assert_int_equal(reg_start(f.reg), 0);
    conf_t cf;
    conf_defaults(&cf);
    f.agi = tagi_start(&cf.agi, &(agi_deps_t){.reg = f.reg});
    pbxsim_opts_t o;
    tagi_sim_opts(&o, f.agi);
    f.sim = pbxsim_start(&o);
    assert_non_null(f.sim);
    amic_open(&f.ami, pbxsim_port(f.sim));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    amic_close(&f->ami);
    pbxsim_stop(f->sim);
    agi_free(f->agi);
    reg_free(f->reg);
    return 0;
}

/* The sessions of earlier tests are over, so counters taken now move only for this one. */
static agi_stats_t quiet_stats(fx_t *f)
{
    CCD_WAIT(tagi_stats(f->agi).sessions == 0);
    return tagi_stats(f->agi);
}

/* A human (AMDSTATUS=HUMAN) is sent to the queue; the answer time reaches the registry. */
static void test_outgoing_human(void **state)
{
    fx_t *f = *state;
    treg_call(f->reg, "agi-out-h", REG_CALL_OUTGOING, REG_CS_RINGING);
    size_t at = f->ami.len;
    const char *vars[] = {"AMDSTATUS=HUMAN", NULL};
    amic_originate(&f->ami, "5301", "agi-out-h", "5551000", "outgoing", vars);
    at = amic_wait(&f->ami, at, "Command: GET VARIABLE AMDSTATUS");
    at = amic_wait(&f->ami, at, "Command: SET VARIABLE NEXT queue");
    at = amic_wait(&f->ami, at, "Event: QueueCallerJoin");
    reg_call_t c;
    CCD_WAIT(treg_find(f->reg, "agi-out-h", &c) && c.t_answer_ms > 0);
}

/* A machine with no campaign settings is hung up, nothing else is played. */
static void test_outgoing_machine_hangup(void **state)
{
    fx_t *f = *state;
    treg_call(f->reg, "agi-out-m", REG_CALL_OUTGOING, REG_CS_RINGING);
    agi_stats_t before = quiet_stats(f);
    size_t at = f->ami.len;
    const char *vars[] = {"AMDSTATUS=MACHINE", NULL};
    amic_originate(&f->ami, "5302", "agi-out-m", "5551001", "outgoing", vars);
    at = amic_wait(&f->ami, at, "Command: GET VARIABLE AMDSTATUS");
    at = amic_wait(&f->ami, at, "Command: GET VARIABLE ID_CAMPAIGN");
    size_t hang = amic_wait(&f->ami, at, "Command: HANGUP");
    amic_wait(&f->ami, hang, "Event: Hangup");
    CCD_WAIT(tagi_stats(f->agi).finished == before.finished + 1);
    /* three commands, none of them a STREAM FILE */
    assert_int_equal(tagi_stats(f->agi).commands, before.commands + 3);
    f->ami.buf[f->ami.len] = '\0';
    assert_null(strstr(f->ami.buf + at, "Command: STREAM FILE"));
    reg_call_t c;
    CCD_WAIT(treg_find(f->reg, "agi-out-m", &c) && c.t_answer_ms > 0);
}

/* abandon: counted abandoned in the registry, the default message, then hung up. */
static void test_abandon(void **state)
{
    fx_t *f = *state;
    treg_call(f->reg, "agi-ab-1", REG_CALL_OUTGOING, REG_CS_ONQUEUE);
    size_t at = f->ami.len;
    amic_originate(&f->ami, "5303", "agi-ab-1", "5551002", "abandon", NULL);
    at = amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/abandoned \"\"");
    at = amic_wait(&f->ami, at, "Command: HANGUP");
    reg_call_t c;
    CCD_WAIT(treg_find(f->reg, "agi-ab-1", &c) && c.status == REG_CS_ABANDONED);
    assert_true(c.t_end_ms > 0);
}

/* callback without a key press schedules nothing: one command, then the dialplan goes on. */
static void test_callback_no_key(void **state)
{
    fx_t *f = *state;
    agi_stats_t before = quiet_stats(f);
    size_t at = f->ami.len;
    amic_originate(&f->ami, "5304", "agi-cb-0", "5551003", "callback", NULL);
    at = amic_wait(&f->ami, at, "Command: GET DATA ccdialer/press-1-callback 5000 1");
    CCD_WAIT(tagi_stats(f->agi).finished == before.finished + 1);
    assert_int_equal(tagi_stats(f->agi).commands, before.commands + 1);
}

/* callback with "1" but no ID_CALL: the caller hears it failed (nothing to schedule). */
static void test_callback_without_call(void **state)
{
    fx_t *f = *state;
    size_t at = f->ami.len;
    const char *vars[] = {"AGIDIGITS=1", NULL};
    amic_originate(&f->ami, "5305", "agi-cb-1", "5551004", "callback", vars);
    at = amic_wait(&f->ami, at, "Command: GET DATA");
    at = amic_wait(&f->ami, at, "Command: GET VARIABLE ID_CALL");
    amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/callback-failed");
}

/* incoming without a database: still queued, tied to no campaign and no contact. */
static void test_incoming_no_db(void **state)
{
    fx_t *f = *state;
    agi_stats_t before = quiet_stats(f);
    size_t at = f->ami.len;
    const char *vars[] = {"AGIARGS=8000", NULL};
    amic_originate(&f->ami, "5306", "agi-in-0", "5552999", "incoming", vars);
    at = amic_wait(&f->ami, at, "Variable: CCD_QUEUE\r\nValue: 8000");
    at = amic_wait(&f->ami, at, "Variable: CCD_RECORDING\r\nValue: q8000-agi-in-0");
    at = amic_wait(&f->ami, at, "Event: QueueCallerJoin");
    reg_call_t c;
    CCD_WAIT(treg_find(f->reg, "agi-in-0", &c));
    assert_int_equal(c.type, REG_CALL_INCOMING);
    assert_string_equal(c.queue, "8000");
    assert_string_equal(c.phone, "5552999");
    assert_int_equal(c.campaign_id, 0);
    assert_true(tagi_stats(f->agi).db_refused > before.db_refused);
}

/* agentlogin without a key pressed for the agent number: failed, and no PIN is asked. */
static void test_agentlogin_no_number(void **state)
{
    fx_t *f = *state;
    size_t at = f->ami.len;
    amic_originate(&f->ami, "5307", "agi-al-0", "5551005", "agentlogin", NULL);
    at = amic_wait(&f->ami, at, "Command: GET DATA agent-user 5000 10");
    size_t end = amic_wait(&f->ami, at, "Variable: CCD_AGENTLOGIN\r\nValue: failed");
    char *seen = strndup(f->ami.buf + at, end - at);
    assert_non_null(seen);
    assert_null(strstr(seen, "agent-pass"));
    free(seen);
}

/* A script name not in the table: counted, and the dialplan goes on. */
static void test_unknown_script(void **state)
{
    fx_t *f = *state;
    agi_stats_t before = quiet_stats(f);
    size_t at = f->ami.len;
    amic_originate(&f->ami, "5308", "agi-unk", "5551006", "nosuchscript", NULL);
    amic_wait(&f->ami, at, "Command: VERBOSE");
    CCD_WAIT(tagi_stats(f->agi).unknown_script == before.unknown_script + 1);
}

/* The table has the five scripts the dialplan file calls. */
static void test_script_table(void **state)
{
    (void)state;
    static const char *const want[] = {"incoming", "outgoing", "abandon", "callback", "agentlogin"};
    size_t n = 0;
    while (agi_script_name(n))
        n++;
    assert_int_equal(n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(agi_script_name(i), want[i]);
}

int main(void)
{
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outgoing_human),   cmocka_unit_test(test_outgoing_machine_hangup),
        cmocka_unit_test(test_abandon),          cmocka_unit_test(test_callback_no_key),
        cmocka_unit_test(test_callback_without_call), cmocka_unit_test(test_incoming_no_db),
        cmocka_unit_test(test_agentlogin_no_number), cmocka_unit_test(test_unknown_script),
        cmocka_unit_test(test_script_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
