/*
 * agentlogin through the agent service: pbxsim plays Asterisk (the agent's call runs the
 * script; GET DATA answers come from AGIDIGITS, "number|PIN"), the test MariaDB holds the
 * agents, and the real agent service and AMI client (attached to the registry) run in the
 * process.  Fixture: Agent/9000 PIN 1234 and Agent/9001 PIN 4321 active, Agent/9002 PIN 5555
 * inactive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agi/agi.h"
#include "ami/ami.h"
#include "conf/conf.h"
#include "core/log.h"
#include "db/db.h"
#include "test/agi/agi_test_util.h"
#include "test/common/ccd_test.h"
#include "test/db/dbtest.h"
#include "tools/pbxsim/pbxsim.h"

static const char *const FIXTURE[] = {
    "INSERT INTO agent (id, type, number, name, password, estatus) VALUES "
    "(1, 'Agent', '9000', 'Ana', '1234', 'A'), (2, 'Agent', '9001', 'Bo', '4321', 'A'), "
    "(3, 'Agent', '9002', 'Cy', '5555', 'I')",
};

static const char CONF_TEXT[] = "[ami]\nhost = 127.0.0.1\nport = 5038\nusername = dialer\n"
                                "secret = dialer\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n"
                                "[log]\nlevel = warning\n";

typedef struct fx {
    conf_t cf;
    MYSQL *my;
    db_t *db;
    reg_t *reg;
    ami_t *ami;
    ags_t *ags;
    agi_t *agi;
    pbxsim_t *sim;
    amicli_t cli;
} fx_t;

/* The registry's agents, as the daemon loads them from the agent table. */
static void load_agents(reg_t *reg)
{
    reg_agent_info_t *l = calloc(3, sizeof(*l));
    assert_non_null(l);
    reg_agent_info_set(&l[0], "Agent", "9000", "Ana", 'A', 1);
    reg_agent_info_set(&l[1], "Agent", "9001", "Bo", 'A', 2);
    reg_agent_info_set(&l[2], "Agent", "9002", "Cy", 'I', 3);
    assert_int_equal(reg_post_agent_sync(reg, l, 3), 0);
    CCD_WAIT(reg_agent_count(reg) == 3);
}

static int setup(void **state)
{
    static fx_t f;
    memset(&f, 0, sizeof(f));
    char err[256];
    if (conf_load_string("agi_login.conf", CONF_TEXT, strlen(CONF_TEXT), &f.cf, err,
                         sizeof(err)) != 0)
        fail_msg("config: %s", err);
    dbt_cfg(&f.cf.database, "ccdt_agilogin");
    f.my = dbt_fresh(&f.cf.database, "agilogin", false);
    for (size_t i = 0; i < sizeof(FIXTURE) / sizeof(FIXTURE[0]); i++)
        dbt_exec(f.my, FIXTURE[i]);
    f.db = dbt_db_start(&f.cf.database);
    f.reg = reg_new(10000, err, sizeof(err));
    assert_non_null(f.reg);
    /* AMI and the agent service subscribe before the registry and AMI start */
    f.ami = ami_new(&f.cf, &(ami_opts_t){0}, err, sizeof(err));
    if (!f.ami)
        fail_msg("ami_new: %s", err);
    assert_int_equal(ami_attach_reg(f.ami, f.reg), 0);
    f.ags = ags_new(&f.cf, f.reg, f.ami, f.db, err, sizeof(err));
    if (!f.ags)
        fail_msg("ags_new: %s", err);
    assert_int_equal(reg_start(f.reg), 0);
    load_agents(f.reg);
    f.agi = tagi_start(&f.cf.agi, &(agi_deps_t){.reg = f.reg, .db = f.db, .ags = f.ags});
    pbxsim_opts_t o;
    tagi_sim_opts(&o, f.agi);
    o.agent_login_wait_ms = 200;
    f.sim = pbxsim_start(&o);
    assert_non_null(f.sim);
    /* ami reads its conf when it connects (ami_start); pbxsim's port is known only now */
    f.cf.ami[0].port = pbxsim_port(f.sim);
    assert_int_equal(ami_start(f.ami), 0);
    assert_int_equal(ags_start(f.ags), 0);
    CCD_WAIT(ami_server_state(f.ami, 0) == AMI_STATE_UP);
    amic_open(&f.cli, pbxsim_port(f.sim));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    amic_close(&f->cli);
    ags_stop(f->ags);
    ami_stop(f->ami);
    agi_stop(f->agi);
    reg_stop(f->reg);
    pbxsim_stop(f->sim);
    agi_free(f->agi);
    ags_free(f->ags);
    ami_free(f->ami);
    reg_free(f->reg);
    db_stop(f->db, 5000);
    db_free(f->db);
    mysql_close(f->my);
    dbt_drop(&f->cf.database);
    return 0;
}

static reg_login_e login_of(reg_t *reg, const char *agent)
{
    reg_agent_t a;
    assert_int_equal(reg_agent_get(reg, agent, &a), 0);
    return a.login;
}

static uint64_t ags_requests(ags_t *ags)
{
    ags_stats_t st;
    ags_get_stats(ags, &st);
    return st.requests;
}

/* A refused login: the script tells the dialplan why, ends, and never asked the service. */
static void refused(fx_t *f, const char *chan_id, const char *digits, const char *agent,
                    const char *want)
{
    uint64_t req0 = ags_requests(f->ags), fin0 = tagi_stats(f->agi).finished;
    char var[64], val[96];
    snprintf(var, sizeof(var), "AGIDIGITS=%s", digits);
    const char *vars[] = {var, NULL};
    size_t at = f->cli.len;
    amic_originate(&f->cli, "5501", chan_id, "5501", "agentlogin", vars);
    at = amic_wait(&f->cli, at, "Command: GET DATA agent-user 5000 10");
    at = amic_wait(&f->cli, at, "Command: GET DATA agent-pass 5000 10");
    snprintf(val, sizeof(val), "Variable: CCD_AGENTLOGIN\r\nValue: %s\r\n", want);
    amic_wait(&f->cli, at, val);
    CCD_WAIT(tagi_stats(f->agi).finished > fin0);
    assert_int_equal(ags_requests(f->ags), req0);
    assert_int_equal(login_of(f->reg, agent), REG_LOGGED_OUT);
}

/* The right PIN: the service logs the agent in with this channel (no Originate), the
 * dialplan runs AgentLogin, and the registry shows the agent logged in. */
static void test_good_pin(void **state)
{
    fx_t *f = *state;
    assert_int_equal(login_of(f->reg, "Agent/9000"), REG_LOGGED_OUT);
    uint64_t req0 = ags_requests(f->ags);
    const char *vars[] = {"AGIDIGITS=9000|1234", NULL};
    size_t at = f->cli.len;
    amic_originate(&f->cli, "5500", "agi-al-ok", "5500", "agentlogin", vars);
    at = amic_wait(&f->cli, at, "Command: GET DATA agent-user 5000 10");
    at = amic_wait(&f->cli, at, "Command: GET DATA agent-pass 5000 10");
    at = amic_wait(&f->cli, at, "Variable: CCD_AGENT\r\nValue: 9000\r\n");
    amic_wait(&f->cli, at, "Variable: CCD_AGENTLOGIN\r\nValue: ok\r\n");
    assert_int_equal(ags_requests(f->ags), req0 + 1);
    CCD_WAIT(login_of(f->reg, "Agent/9000") == REG_LOGGED_IN);
    /* the service concluded its login from the registry (LOGGING -> LOGGED_IN) */
    ags_stats_t st;
    CCD_WAIT((ags_get_stats(f->ags, &st), st.logins_ok == 1));
    reg_agent_t a;
    assert_int_equal(reg_agent_get(f->reg, "Agent/9000", &a), 0);
    assert_string_equal(a.extension, "5500");
    /* nobody else was logged in */
    assert_int_equal(login_of(f->reg, "Agent/9001"), REG_LOGGED_OUT);
}

static void test_bad_pin(void **state)
{
    refused(*state, "agi-al-bad", "9001|1234", "Agent/9001", "badpin");
}

/* An unknown number, and an inactive agent with its right PIN. */
static void test_unknown_agent(void **state)
{
    refused(*state, "agi-al-unk", "7777|1234", "Agent/9001", "unknown");
    refused(*state, "agi-al-ina", "9002|5555", "Agent/9002", "unknown");
}

int main(void)
{
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_pin),
        cmocka_unit_test(test_unknown_agent),
        cmocka_unit_test(test_good_pin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
