/*
 * The console writes (setcontact, saveformdata, schedulecall) go through the
 * durable db writer: the answer is success once the writer accepted the
 * write, the rows appear once the database lets them, even across a crash of
 * the server, and a full write queue answers 503.
 *
 * A private mariadbd (scripts/mariadb-private.sh).  The checks of each request
 * are reads and need the server; to have it go away between the checks and
 * the commit, a side transaction holds the row lock of call_entry 20, so the
 * writer's first batch (setcontact on that row) waits inside its transaction;
 * the other requests queue behind it.  Their answers arrive meanwhile (the ack
 * does not wait for a commit), the server is then SIGKILLed (the held batch and
 * the side transaction die with it) and started again.
 */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/db/dbtest.h"
#include "test/eccp/eccp_client_util.h"

#define DECL "<?xml version=\"1.0\"?>\n"

static int tmo(int ms)
{
    const char *m = getenv("CCD_TEST_TIMEOUT_MULTIPLIER");
    int k = m ? atoi(m) : 1;
    return ms * (k > 0 ? k : 1);
}

static const char *const FIXTURE[] = {
    "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES ('agentconsole', md5('agentconsole'))",
    "INSERT INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES "
    "(1, 'Agent', '9000', 'Ann', '1', 'A', 'secret')",
    "INSERT INTO queue_call_entry (id, queue, estatus, script) VALUES (1, '8000', 'A', 'x')",
    "INSERT INTO form (id, nombre, descripcion, estatus) VALUES (1, 'Survey', 'desc', 'A')",
    "INSERT INTO form_field (id, id_form, etiqueta, value, tipo, orden) VALUES "
    "(1, 1, 'Name', '', 'TEXT', 1), (2, 1, 'Color', 'red,green,', 'LIST', 2)",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) VALUES (1, 'Sales', '2020-01-01', "
    "'2030-12-31', '08:00:00', '20:00:00', 3, NULL, 'from-internal', '8000', 5, 's', 'A')",
    "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status) VALUES "
    "(1, 1, 0, 'L1', 'l1.csv', NOW(), 1)",
    "INSERT INTO calls (id, id_list, phone, status, id_agent, retries) VALUES "
    "(10, 1, '5551000', 'Success', 1, 1)",
    "INSERT INTO contact (id, name, apellido, telefono, cedula_ruc, origen) VALUES "
    "(5, 'Ana', 'Li', '5552000', '1', 'crm'), (6, 'Bo', 'Ma', '5552001', '2', 'crm')",
    "INSERT INTO call_entry (id, id_agent, id_queue_call_entry, callerid, status, trunk, uniqueid) VALUES "
    "(20, 1, 1, '5552000', 'terminada', 'SIP/t', '1.1')",
};

static void apply_on_call(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_call_t *c = treg_agent_on_call(tx, "Agent/9000", REG_CALL_OUTGOING, 10, 1);
    snprintf(c->phone, sizeof(c->phone), "5551000");
}

static void wait_queue_empty(db_t *db, uint64_t submitted)
{
    int64_t end = clk_mono_ms() + tmo(15000);
    db_stats_t st;
    do {
        db_get_stats(db, &st);
        if (st.writes_submitted == submitted && st.write_queue_depth == 0)
            return;
        usleep(10000);
    } while (clk_mono_ms() < end);
    fail_msg("writer did not take the write: submitted %llu depth %zu",
             (unsigned long long)st.writes_submitted, st.write_queue_depth);
}

static void test_writes_survive_outage(void **state)
{
    (void)state;
    dbt_server_t srv = {0};
    dbt_server_start(&srv);
    conf_t cf;
    conf_defaults(&cf);
    dbt_server_cfg(&srv, &cf.database, "ccdt_ewr");
    MYSQL *my = dbt_fresh(&cf.database, "ewr", false);
    for (size_t i = 0; i < sizeof(FIXTURE) / sizeof(FIXTURE[0]); i++)
        dbt_exec(my, FIXTURE[i]);
    /* Small enough to fill with a few requests while the writer is held. */
    cf.database.write_queue_max = 3;
    char err[CCD_ERR_LEN];
    db_t *db = db_new(&cf.database, err, sizeof(err));
    assert_non_null(db);
    if (db_start(db, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("db_start: %s", err);
    reg_t *reg = reg_new(1000, err, sizeof(err));
    assert_non_null(reg);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    eccp_deps_t deps = {.reg = reg, .db_submit = tdb_submit, .db_ctx = db, .db = db};
    eccp_server_t *srv_e = eccp_server_new(&cf.eccp, &deps, err, sizeof(err));
    assert_non_null(srv_e);
    assert_int_equal(reg_start(reg), 0);
    assert_int_equal(eccp_server_start(srv_e), 0);
    treg_post_wait(reg, apply_on_call, NULL, NULL);

    tcli_t *c = tcli_connect(eccp_server_port(srv_e));
    char *r = rq(c, "<request id=\"L\"><login><username>agentconsole</username>"
                    "<password>agentconsole</password></login></request>");
    const char *k = strstr(r, "<app_cookie>");
    if (!k)
        fail_msg("login failed: %s", r);
    char ck[33], h[33], req[2048];
    snprintf(ck, sizeof(ck), "%.32s", k + 12);
    free(r);
    eccp_agent_hash(ck, "Agent/9000", "secret", h);

    /* The writer's first batch will wait on this row lock. */
    MYSQL *side = dbt_connect(&cf.database, true);
    dbt_exec(side, "START TRANSACTION");
    dbt_exec(side, "SELECT id FROM call_entry WHERE id = 20 FOR UPDATE");

    snprintf(req, sizeof(req), "<request id=\"s\"><setcontact><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>20</call_id><contact_id>5"
                               "</contact_id></setcontact></request>", h);
    expect(c, req, DECL "<response id=\"s\"><setcontact_response><success/></setcontact_response>"
                        "</response>\n");
    wait_queue_empty(db, 1); /* in the writer's hands, waiting for the lock */
    snprintf(req, sizeof(req), "<request id=\"f\"><saveformdata><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>10</call_id><forms><form id=\"1\">"
                               "<field id=\"1\">Zed</field><field id=\"2\">green</field></form></forms>"
                               "</saveformdata></request>", h);
    expect(c, req, DECL "<response id=\"f\"><saveformdata_response><success/>"
                        "</saveformdata_response></response>\n");
    snprintf(req, sizeof(req), "<request id=\"c\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><newphone>5559999</newphone>"
                               "</schedulecall></request>", h);
    expect(c, req, DECL "<response id=\"c\"><schedulecall_response><success/>"
                        "</schedulecall_response></response>\n");
    /* Answered while nothing is committed: the row lock still holds the first batch. */
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.rows_committed, 0);
    assert_int_equal(st.write_queue_depth, 3); /* two form values + the schedule: the bound */
    /* The queue is full now: the next write is refused with a clear error, nothing queued. */
    snprintf(req, sizeof(req), "<request id=\"x\"><setcontact><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>20</call_id><contact_id>6"
                               "</contact_id></setcontact></request>", h);
    expect_has(c, req, "<setcontact_response><failure><code>503</code><message>Database write "
                       "queue full, try again</message></failure></setcontact_response>");
    db_get_stats(db, &st);
    assert_int_equal(st.writes_submitted, 4);

    /* The database goes away with the batch uncommitted, and comes back. */
    dbt_server_kill(&srv);
    mysql_close(side);
    mysql_close(my);
    dbt_server_up(&srv);
    assert_int_equal(db_write_flush(db, tmo(60000)), 0);
    db_get_stats(db, &st);
    assert_int_equal(st.rows_committed, 4);
    assert_int_equal(st.rows_rejected, 0);

    my = dbt_connect(&cf.database, true);
    assert_int_equal(dbt_int(my, "SELECT id_contact FROM call_entry WHERE id = 20"), 5);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM form_data_recolected WHERE id_calls = 10"), 2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM form_data_recolected WHERE id_calls = 10 AND "
                                 "((id_form_field = 1 AND value = 'Zed') OR (id_form_field = 2 AND "
                                 "value = 'green'))"), 2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE scheduled = 1 AND phone = '5559999' "
                                 "AND id_list = 1 AND agent IS NULL"), 1);
    /* The copy carries the source call's form values, saved before it in the same queue. */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM form_data_recolected f JOIN calls c ON c.id = "
                                 "f.id_calls WHERE c.phone = '5559999'"), 2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_attribute a JOIN calls c ON c.id = "
                                 "a.id_call WHERE c.phone = '5559999' AND a.data = "
                                 "'{\"Nombre agendado\":null}'"), 1);
    mysql_close(my);

    tcli_close(c);
    eccp_server_stop(srv_e);
    reg_stop(reg);
    eccp_server_free(srv_e);
    reg_free(reg);
    db_stop(db, 1000);
    db_free(db);
    dbt_server_destroy(&srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_survive_outage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
