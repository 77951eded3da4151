/*
 * transfercall / atxfercall record their target through the db module's
 * durable writer (integration): real db module on the private MariaDB (agent
 * check on a reader thread, the record through db_write_submit_force), a
 * scripted fake Asterisk for the Redirect/Atxfer.  Checks the calls and
 * call_entry rows get the transfer value, that the records went through the
 * writer (its counters), and that each request id gets exactly one response.
 * Needs CCD_TEST_DB_SOCKET, _USER, _PASSWORD (scripts/mariadb-private.sh);
 * without them the test FAILS.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "ami/ami.h"
#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define T_WAIT TCLI_WAIT_MS
#define DECL TCLI_DECL

/* Success for every action, Error for the channels named "fail". */
static void fake_answer(int fd, const char *block)
{
    char id[128] = "";
    const char *p = strstr(block, "ActionID: ");
    if (p)
        sscanf(p + 10, "%127[^\r]", id);
    char out[512];
    snprintf(out, sizeof(out), "Response: %s\r\nActionID: %s\r\nMessage: %s\r\n\r\n",
             strstr(block, "fail") ? "Error" : "Success", id,
             strstr(block, "fail") ? "No such channel" : "ok");
    if (write(fd, out, strlen(out)) < 0)
        return;
}

#include "test/eccp/fake_ami.h"

static conf_t cf;
static reg_t *reg;
static db_t *db;
static ami_t *ami;
static eccp_server_t *srv;

#define DB_PREFIX "ccdt_eccpx_"

static const char *const SEED[] = {
    "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES ('agentconsole', md5('agentconsole'))",
    "INSERT INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES "
    "(1, 'Agent', '9000', 'Ann', '1', 'A', 'secret'), (2, 'Agent', '9002', 'Dee', '1', 'A', 'pw2'), "
    "(3, 'Agent', '9003', 'Eve', '1', 'A', 'pw3')",
    "INSERT INTO queue_call_entry (id, queue, estatus, script) VALUES (1, '8000', 'A', '')",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) VALUES (1, 'Sales', '2020-01-01', "
    "'2030-12-31', '08:00:00', '20:00:00', 3, NULL, 'from-internal', '8000', 5, '', 'A')",
    "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status) VALUES "
    "(1, 1, 0, 'L1', 'l1.csv', NOW(), 1)",
    "INSERT INTO calls (id, id_list, phone, status, retries) VALUES (10, 1, '5551000', 'Success', 1), "
    "(11, 1, '5551001', 'Success', 1)",
    "INSERT INTO call_entry (id, id_agent, id_queue_call_entry, callerid, status, trunk, uniqueid) VALUES "
    "(20, 2, 1, '5552000', 'activa', 'SIP/t', '1700000000.20'), "
    "(21, 2, 1, '5552001', 'activa', 'SIP/t', '1700000000.21')",
};

static void apply_calls(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_call_t *c = treg_agent_on_call(tx, "Agent/9000", REG_CALL_OUTGOING, 10, 1);
    snprintf(c->channel, sizeof(c->channel), "PJSIP/cust-10");
    snprintf(c->agent_channel, sizeof(c->agent_channel), "Local/9000@agents;1");
    snprintf(c->uniqueid, sizeof(c->uniqueid), "1700000000.10");
    c = treg_agent_on_call(tx, "Agent/9002", REG_CALL_INCOMING, 20, 0);
    snprintf(c->channel, sizeof(c->channel), "SIP/t-20");
    snprintf(c->agent_channel, sizeof(c->agent_channel), "Local/9002@agents;1");
    snprintf(c->uniqueid, sizeof(c->uniqueid), "1700000000.20");
    /* a call whose Redirect Asterisk refuses: nothing may be recorded */
    c = treg_agent_on_call(tx, "Agent/9003", REG_CALL_OUTGOING, 11, 1);
    snprintf(c->channel, sizeof(c->channel), "PJSIP/fail-11");
    snprintf(c->agent_channel, sizeof(c->agent_channel), "Local/9003@fail;1");
}

static int setup(void **state)
{
    (void)state;
    conf_defaults(&cf);
    tdb_conf(&cf.database, DB_PREFIX);
    db = tdb_start(&cf.database, SEED, sizeof(SEED) / sizeof(SEED[0]));

    fake_start();
    ami = fake_ami_new(&cf);

    char err[CCD_ERR_LEN];
    reg = reg_new(10000, NULL, 0);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    eccp_deps_t deps = {.reg = reg, .db_submit = tdb_submit, .db_ctx = db, .db = db, .ami = ami,
                        .ags = fake_ags_new(&cf, reg, ami)};
    srv = eccp_server_new(&cf.eccp, &deps, err, sizeof(err));
    assert_non_null(srv);
    fake_stack_start(reg, ami, srv, apply_calls);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_stack_stop(reg, ami, srv);
    db_stop(db, 1000);
    db_free(db);
    fake_stop_all();
    tdb_drop(DB_PREFIX);
    return 0;
}

/* One value from the test database ("NULL" for SQL NULL). */
static void sql_value(const char *query, char *out, size_t outsz)
{
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    if (db__connect(&cf.database, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    if (mysql_query(my, query) != 0)
        fail_msg("%s: %s", query, mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my);
    assert_non_null(res);
    MYSQL_ROW row = mysql_fetch_row(res);
    assert_non_null(row);
    snprintf(out, outsz, "%s", row[0] ? row[0] : "NULL");
    mysql_free_result(res);
    mysql_close(my);
}

static void xfer_req(char *out, size_t outsz, const char *name, const char *id, const char *agent,
                     const char *pw, const char *cookie, const char *ext)
{
    char hash[33];
    eccp_agent_hash(cookie, agent, pw, hash);
    snprintf(out, outsz, "<request id=\"%s\"><%s><agent_number>%s</agent_number><agent_hash>%s"
                         "</agent_hash><extension>%s</extension></%s></request>",
             id, name, agent, hash, ext, name);
}

static void test_transfer_recorded(void **state)
{
    (void)state;
    db_stats_t st0, st1;
    db_get_stats(db, &st0);
    tcli_t *c = tcli_connect(eccp_server_port(srv));
    char *r;
    r = rq(c, "<request id=\"L\"><login><username>agentconsole</username><password>agentconsole"
              "</password></login></request>");
    const char *k = strstr(r, "<app_cookie>");
    if (!k)
        fail_msg("login failed: %s", r);
    char cookie[33];
    snprintf(cookie, sizeof(cookie), "%.32s", k + 12);
    free(r);

    /* Pipelined: three transfers and a marker request; exactly four answers follow, one per id. */
    char a[1024], b[1024], f[1024], all[4096];
    xfer_req(a, sizeof(a), "transfercall", "out", "Agent/9000", "secret", cookie, "4001");
    xfer_req(b, sizeof(b), "atxfercall", "in", "Agent/9002", "pw2", cookie, "4567890");
    xfer_req(f, sizeof(f), "transfercall", "bad", "Agent/9003", "pw3", cookie, "4002");
    snprintf(all, sizeof(all), "%s%s%s", a, b, f);
    tcli_send(c, all);
    bool seen_out = false, seen_in = false, seen_bad = false;
    for (int i = 0; i < 3; i++) {
        r = tcli_next(c, false);
        assert_non_null(r);
        if (strstr(r, "id=\"out\"")) {
            assert_false(seen_out);
            seen_out = true;
            assert_string_equal(r, DECL "<response id=\"out\"><transfercall_response><success/>"
                                        "</transfercall_response></response>\n");
        } else if (strstr(r, "id=\"in\"")) {
            assert_false(seen_in);
            seen_in = true;
            assert_string_equal(r, DECL "<response id=\"in\"><atxfercall_response><success/>"
                                        "</atxfercall_response></response>\n");
        } else {
            assert_non_null(strstr(r, "id=\"bad\""));
            assert_false(seen_bad);
            seen_bad = true;
            assert_string_equal(r, DECL "<response id=\"bad\"><transfercall_response><failure><code>"
                                        "500</code><message>Unable to transfer call</message></failure>"
                                        "</transfercall_response></response>\n");
        }
        free(r);
    }
    assert_true(logged("Action: Redirect"));
    assert_true(logged("Channel: PJSIP/cust-10\r\nExten: 4001\r\nContext: xfer-ctx"));
    assert_true(logged("Action: Atxfer"));
    assert_true(logged("Channel: Local/9002@agents;1\r\nExten: 4567890"));

    /* the records are in the writer now: flush, then read the rows */
    assert_int_equal(db_write_flush(db, T_WAIT), 0);
    char v[64];
    sql_value("SELECT transfer FROM calls WHERE id = 10", v, sizeof(v));
    assert_string_equal(v, "4001");
    sql_value("SELECT transfer FROM call_entry WHERE id = 20", v, sizeof(v));
    assert_string_equal(v, "456789"); /* varchar(6), cut like Issabel's non-strict server */
    /* only the keyed rows changed, and nothing for the refused Redirect */
    sql_value("SELECT transfer FROM calls WHERE id = 11", v, sizeof(v));
    assert_string_equal(v, "NULL");
    sql_value("SELECT transfer FROM call_entry WHERE id = 21", v, sizeof(v));
    assert_string_equal(v, "NULL");
    db_get_stats(db, &st1);
    assert_int_equal(st1.writes_submitted - st0.writes_submitted, 2);
    assert_true(st1.rows_committed - st0.rows_committed >= 2);

    /* nothing else for these ids: the next answers are the markers' (a stray answer
     * would be ahead of them, since every job and write above has finished) */
    expect(c, "<request id=\"z\"><filterbyagent><agent_number>any</agent_number></filterbyagent>"
              "</request>",
           DECL "<response id=\"z\"><filterbyagent_response><success/></filterbyagent_response>"
                "</response>\n");
    expect(c, "<request id=\"z2\"><filterbyagent><agent_number>any</agent_number></filterbyagent>"
              "</request>",
           DECL "<response id=\"z2\"><filterbyagent_response><success/></filterbyagent_response>"
                "</response>\n");
    tcli_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_recorded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
