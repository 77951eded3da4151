/*
 * The scripts that read or write the database, against pbxsim and the test MariaDB
 * (CCD_TEST_DB_*): the block list and the queue's campaign and contacts (incoming), the
 * campaign's machine and abandon messages (outgoing, abandon), and a call back scheduled
 * through the writer (callback).  Fixture: campaign 1 (list 1, call 10), incoming campaign
 * 1 on queue 8000, contacts with 5552000, 5553000 on the active dont_call list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agi/agi.h"
#include "conf/conf.h"
#include "core/log.h"
#include "db/db.h"
#include "test/agi/agi_test_util.h"
#include "test/common/ccd_test.h"
#include "test/db/dbtest.h"
#include "tools/pbxsim/pbxsim.h"

static const char *const FIXTURE[] = {
    "INSERT INTO queue_call_entry (id, queue, estatus, script) VALUES (1, '8000', 'A', 'x')",
    "INSERT INTO campaign_entry (id, name, id_queue_call_entry, datetime_init, datetime_end, "
    "daytime_init, daytime_end, estatus, script) VALUES (1, 'Inbound', 1, '2020-01-01', "
    "'2099-12-31', '00:00:00', '23:59:59', 'A', 's')",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) VALUES (1, 'Sales', '2020-01-01', "
    "'2099-12-31', '00:00:00', '23:59:59', 3, NULL, 'from-internal', '8000', 5, 's', 'A')",
    "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status) VALUES "
    "(1, 1, 0, 'L1', 'l1.csv', NOW(), 1)",
    "INSERT INTO calls (id, id_list, phone, status, retries) VALUES (10, 1, '5551000', 'Success', 1)",
    "INSERT INTO contact (id, name, apellido, telefono, cedula_ruc, origen) VALUES "
    "(5, 'Ana', 'Li', '5552000', '1', 'crm'), (6, 'Bo', 'Ma', '5552000', '2', 'crm')",
    "INSERT INTO dont_call (caller_id, date_income, status) VALUES ('5553000', NOW(), 'A'), "
    "('5554000', NOW(), 'I')",
    "INSERT INTO ccd_campaign_agi (id_campaign, machine_action, machine_message, abandon_message) "
    "VALUES (1, 'message', 'ccdialer/machine-msg', 'ccdialer/sorry')",
};

typedef struct fx {
    conf_t cf;
    MYSQL *my;
    db_t *db;
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
    conf_defaults(&f.cf);
    dbt_cfg(&f.cf.database, "ccdt_agi");
    f.my = dbt_fresh(&f.cf.database, "agi", false);
    for (size_t i = 0; i < sizeof(FIXTURE) / sizeof(FIXTURE[0]); i++)
        dbt_exec(f.my, FIXTURE[i]);
    f.db = dbt_db_start(&f.cf.database);
    f.reg = reg_new(10000, err, sizeof(err));
    assert_non_null(f.reg);
    assert_int_equal(reg_start(f.reg), 0);
    f.agi = tagi_start(&f.cf.agi, &(agi_deps_t){.reg = f.reg, .db = f.db});
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
    db_stop(f->db, 5000);
    db_free(f->db);
    mysql_close(f->my);
    dbt_drop(&f->cf.database);
    return 0;
}

/* A known caller is tied to the queue's campaign and its contact, then queued. */
static void test_incoming_known_caller(void **state)
{
    fx_t *f = *state;
    size_t at = f->ami.len;
    const char *vars[] = {"AGIARGS=8000", NULL};
    amic_originate(&f->ami, "5401", "agi-in-1", "5552000", "incoming", vars);
    at = amic_wait(&f->ami, at, "Variable: CCD_CAMPAIGN_ID\r\nValue: 1\r\n");
    at = amic_wait(&f->ami, at, "Variable: CCD_CONTACT_ID\r\nValue: 5\r\n");
    at = amic_wait(&f->ami, at, "Variable: CCD_CONTACT_COUNT\r\nValue: 2\r\n");
    at = amic_wait(&f->ami, at, "Event: QueueCallerJoin");
    reg_call_t c;
    CCD_WAIT(treg_find(f->reg, "agi-in-1", &c));
    assert_int_equal(c.campaign_id, 1);
    assert_int_equal(c.type, REG_CALL_INCOMING);
    assert_int_equal(c.status, REG_CS_ONQUEUE);
}

/* A caller on the active block list hears the message and is hung up, never queued; an
 * inactive dont_call row blocks nobody. */
static void test_incoming_blocked(void **state)
{
    fx_t *f = *state;
    size_t at = f->ami.len;
    const char *vars[] = {"AGIARGS=8000", NULL};
    amic_originate(&f->ami, "5402", "agi-in-2", "5553000", "incoming", vars);
    at = amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/blocked \"\"");
    size_t hang = amic_wait(&f->ami, at, "Command: HANGUP");
    amic_wait(&f->ami, hang, "Event: Hangup");
    reg_call_t c;
    assert_false(treg_find(f->reg, "agi-in-2", &c));
    at = f->ami.len;
    amic_originate(&f->ami, "5403", "agi-in-3", "5554000", "incoming", vars);
    at = amic_wait(&f->ami, at, "Variable: CCD_CONTACT_COUNT\r\nValue: 0\r\n");
    amic_wait(&f->ami, at, "Event: QueueCallerJoin");
    /* agi-in-2's session ended before agi-in-3's started: still not queued */
    assert_false(treg_find(f->reg, "agi-in-2", &c));
}

/* A machine on a campaign whose setting is 'message' hears the campaign's message first. */
static void test_outgoing_machine_message(void **state)
{
    fx_t *f = *state;
    size_t at = f->ami.len;
    const char *vars[] = {"AMDSTATUS=MACHINE", "ID_CAMPAIGN=1", NULL};
    amic_originate(&f->ami, "5404", "agi-out-1", "5551000", "outgoing", vars);
    at = amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/machine-msg \"\"");
    amic_wait(&f->ami, at, "Command: HANGUP");
}

/* abandon plays the campaign's own message. */
static void test_abandon_campaign_message(void **state)
{
    fx_t *f = *state;
    treg_call(f->reg, "agi-ab-2", REG_CALL_OUTGOING, REG_CS_ONQUEUE);
    size_t at = f->ami.len;
    const char *vars[] = {"ID_CAMPAIGN=1", NULL};
    amic_originate(&f->ami, "5405", "agi-ab-2", "5551000", "abandon", vars);
    at = amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/sorry \"\"");
    amic_wait(&f->ami, at, "Command: HANGUP");
    reg_call_t c;
    CCD_WAIT(treg_find(f->reg, "agi-ab-2", &c) && c.status == REG_CS_ABANDONED);
}

/* "1" on a campaign call schedules a new attempt of its number through the writer. */
static void test_callback_scheduled(void **state)
{
    fx_t *f = *state;
    assert_int_equal(dbt_int(f->my, "SELECT COUNT(*) FROM calls WHERE phone = '5551000'"), 1);
    size_t at = f->ami.len;
    const char *vars[] = {"AGIDIGITS=1", "ID_CALL=10", NULL};
    amic_originate(&f->ami, "5406", "agi-cb-2", "5551000", "callback", vars);
    at = amic_wait(&f->ami, at, "Command: GET DATA ccdialer/press-1-callback 5000 1");
    at = amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/callback-scheduled \"\"");
    assert_int_equal(db_write_flush(f->db, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    assert_int_equal(dbt_int(f->my, "SELECT COUNT(*) FROM calls WHERE phone = '5551000' AND "
                                    "id_list = 1 AND id <> 10"),
                     1);
    /* a call id that is no call: nothing scheduled, the caller is told */
    at = f->ami.len;
    const char *bad[] = {"AGIDIGITS=1", "ID_CALL=999", NULL};
    amic_originate(&f->ami, "5407", "agi-cb-3", "5551000", "callback", bad);
    amic_wait(&f->ami, at, "Command: STREAM FILE ccdialer/callback-failed \"\"");
    assert_int_equal(dbt_int(f->my, "SELECT COUNT(*) FROM calls WHERE phone = '5551000'"), 2);
}

int main(void)
{
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incoming_known_caller), cmocka_unit_test(test_incoming_blocked),
        cmocka_unit_test(test_outgoing_machine_message),
        cmocka_unit_test(test_abandon_campaign_message), cmocka_unit_test(test_callback_scheduled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
