/*
 * ECCP requests against a real MariaDB (integration): the server uses the db
 * module's reader threads (db_start / db_read_submit) on a private database
 * created with db_migrate() and seeded here.  Needs CCD_TEST_DB_SOCKET, _USER,
 * _PASSWORD (scripts/mariadb-private.sh); without them the test FAILS.
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
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define T_WAIT TCLI_WAIT_MS

/* Deadlines scaled for sanitizer builds (CCD_TEST_TIMEOUT_MULTIPLIER). */
static int tmo(int ms)
{
    const char *m = getenv("CCD_TEST_TIMEOUT_MULTIPLIER");
    int k = m ? atoi(m) : 1;
    return ms * (k > 0 ? k : 1);
}

static long long sql_count(const char *q);
static db_t *db;

/* The answer came once the writer accepted the write; its commit follows. */
static void writes_committed(void)
{
    assert_int_equal(db_write_flush(db, tmo(30000)), 0);
}
#define DECL TCLI_DECL

static reg_t *reg;
static eccp_server_t *srv;
static uint16_t port;

#define DB_PREFIX "ccdt_eccp_"

static const char *const SEED[] = {
    "DELETE FROM eccp_authorized_clients",
    "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES ('agentconsole', md5('agentconsole'))",
    "INSERT INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES "
    "(1, 'Agent', '9000', 'Ann', '1', 'A', 'secret'), (2, 'Agent', '9001', 'Bob', '1', 'A', NULL), "
    "(3, 'SIP', '1064', 'Cid', '1', 'I', 'x')",
    "INSERT INTO break (id, name, description, status, tipo) VALUES (2, 'Lunch', 'Eat & rest', 'A', 'B'), "
    "(3, 'Old', 'gone', 'I', 'B')",
    "INSERT INTO queue_call_entry (id, queue, estatus, script) VALUES (1, '8000', 'A', 'Hello <b>'), "
    "(2, '8001', 'I', 'x')",
    "INSERT INTO form (id, nombre, descripcion, estatus) VALUES (1, 'Survey', 'desc', 'A')",
    "INSERT INTO form_field (id, id_form, etiqueta, value, tipo, orden) VALUES "
    "(1, 1, 'Name', '', 'TEXT', 1), (2, 1, 'Color', 'red,green,', 'LIST', 2), (3, 1, 'When', '', 'DATE', 3)",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) VALUES (1, 'Sales', '2020-01-01', "
    "'2030-12-31', '08:00:00', '20:00:00', 3, NULL, 'from-internal', '8000', 5, 'Hi &amp; welcome', 'A')",
    "INSERT INTO campaign_form (id_campaign, id_form) VALUES (1, 1)",
    "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status) VALUES "
    "(1, 1, 0, 'L1', 'l1.csv', NOW(), 1)",
    "INSERT INTO calls (id, id_list, phone, status, duration_wait, id_agent, retries) VALUES "
    "(10, 1, '5551000', 'Success', 3, 1, 1), (11, 1, '5551001', 'Abandoned', 40, NULL, 1), "
    "(12, 1, '5551002', NULL, NULL, NULL, 0)",
    "INSERT INTO call_attribute (id_call, data) VALUES (10, '{\"Name\":\"Zed\",\"Debt\":12}')",
    "INSERT INTO contact (id, name, apellido, telefono, cedula_ruc, origen) VALUES (5, 'Ana', 'Li', '5552000', '1', 'crm')",
    "INSERT INTO call_entry (id, id_agent, id_queue_call_entry, callerid, status, trunk, uniqueid) VALUES "
    "(20, 1, 1, '5552000', 'terminada', 'SIP/t', '1.1')",
    "INSERT INTO call_progress_log (id, datetime_entry, id_campaign_outgoing, id_call_outgoing, new_status, "
    "retry, id_agent) VALUES (1, NOW(), 1, 10, 'Placing', 1, NULL), (2, NOW(), 1, 10, 'Success', 1, 1)",
};

static int setup(void **state)
{
    (void)state;
    conf_t c;
    conf_defaults(&c);
    tdb_conf(&c.database, DB_PREFIX);
    db = tdb_start(&c.database, SEED, sizeof(SEED) / sizeof(SEED[0]));
    char err[CCD_ERR_LEN];
    reg = reg_new(10000, NULL, 0);
    snprintf(c.eccp.bind, sizeof(c.eccp.bind), "127.0.0.1");
    c.eccp.port = 0;
    eccp_deps_t deps = {.reg = reg, .db_submit = tdb_submit, .db_ctx = db, .db = db};
    srv = eccp_server_new(&c.eccp, &deps, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(reg_start(reg), 0);
    assert_int_equal(eccp_server_start(srv), 0);
    port = eccp_server_port(srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (reg) {
        reg_stop(reg);
    }
    if (srv)
        eccp_server_free(srv); /* waits for jobs still on DB threads */
    if (reg)
        reg_free(reg);
    if (db) {
        db_stop(db, 1000);
        db_free(db);
    }
    tdb_drop(DB_PREFIX);
    return 0;
}

static tcli_t *login(const char *pw, char cookie[33])
{
    tcli_t *c = tcli_connect(port);
    char req[512];
    snprintf(req, sizeof(req), "<request id=\"L\"><login><username>agentconsole</username>"
                               "<password>%s</password></login></request>", pw);
    char *r = rq(c, req);
    const char *k = strstr(r, "<app_cookie>");
    if (!k)
        fail_msg("login failed: %s", r);
    snprintf(cookie, 33, "%.32s", k + 12);
    free(r);
    return c;
}

static void test_login(void **state)
{
    (void)state;
    char ck[33];
    tcli_close(login("agentconsole", ck));
    char md5[33];
    eccp_agent_hash("agentconsole", "", "", md5); /* the password may also be sent as md5 hex */
    tcli_close(login(md5, ck));
}

static void test_login_bad(void **state)
{
    (void)state;
    tcli_t *c = tcli_connect(port);
    expect(c, "<request id=\"L\"><login><username>agentconsole</username><password>nope</password>"
              "</login></request>",
           DECL "<response id=\"L\"><login_response><failure><code>401</code><message>Invalid "
                "username or password</message></failure></login_response></response>\n");
    tcli_close(c);
}

static void test_reads(void **state)
{
    (void)state;
    char ck[33];
    tcli_t *c = login("agentconsole", ck);
    expect(c, "<request id=\"1\"><getpauses/></request>",
           DECL "<response id=\"1\"><getpauses_response><pause id=\"2\"><name>Lunch</name><status>A"
                "</status><type>B</type><description>Eat &amp; rest</description></pause><pause "
                "id=\"3\"><name>Old</name><status>I</status><type>B</type><description>gone"
                "</description></pause></getpauses_response></response>\n");
    expect(c, "<request id=\"2\"><getqueuescript><queue>8000</queue></getqueuescript></request>",
           DECL "<response id=\"2\"><getqueuescript_response><script>Hello &lt;b&gt;</script>"
                "</getqueuescript_response></response>\n");
    expect(c, "<request id=\"2\"><getqueuescript><queue>9999</queue></getqueuescript></request>",
           DECL "<response id=\"2\"><getqueuescript_response><failure><code>404</code><message>"
                "Queue not found in incoming queues</message></failure></getqueuescript_response>"
                "</response>\n");
    expect(c, "<request id=\"3\"><getcampaignlist><campaign_type>outgoing</campaign_type>"
              "</getcampaignlist></request>",
           DECL "<response id=\"3\"><getcampaignlist_response><campaigns><campaign><id>1</id><type>"
                "outgoing</type><name>Sales</name><status>active</status></campaign></campaigns>"
                "</getcampaignlist_response></response>\n");
    expect(c, "<request id=\"3\"><getcampaignlist><offset>1</offset></getcampaignlist></request>",
           DECL "<response id=\"3\"><failure><code>400</code><message>Bad request - offset without "
                "limit</message></failure></response>\n");
    expect(c, "<request id=\"3\"><getcampaignlist><status>x</status></getcampaignlist></request>",
           DECL "<response id=\"3\"><failure><code>400</code><message>Bad request - invalid status"
                "</message></failure></response>\n");
    expect(c, "<request id=\"4\"><getincomingqueuelist><limit>1</limit><offset>1</offset>"
              "</getincomingqueuelist></request>",
           DECL "<response id=\"4\"><getincomingqueuelist_response><queues><queue><id>2</id><queue>"
                "8001</queue><status>inactive</status></queue></queues>"
                "</getincomingqueuelist_response></response>\n");
    expect(c, "<request id=\"5\"><getcampaignqueuewait><campaign_id>1</campaign_id><campaign_type>"
              "outgoing</campaign_type></getcampaignqueuewait></request>",
           DECL "<response id=\"5\"><getcampaignqueuewait_response><histogram><interval><lower>0"
                "</lower><upper>4</upper><count>1</count></interval><interval><lower>5</lower><upper>"
                "9</upper><count>0</count></interval><interval><lower>10</lower><upper>14</upper>"
                "<count>0</count></interval><interval><lower>15</lower><upper>19</upper><count>0"
                "</count></interval><interval><lower>20</lower><upper>24</upper><count>0</count>"
                "</interval><interval><lower>25</lower><upper>29</upper><count>0</count></interval>"
                "<interval><lower>30</lower><count>0</count></interval></histogram><abandoned>1"
                "</abandoned></getcampaignqueuewait_response></response>\n");
    expect(c, "<request id=\"6\"><getcampaigninfo><campaign_id>1</campaign_id></getcampaigninfo>"
              "</request>",
           DECL "<response id=\"6\"><getcampaigninfo_response><name>Sales</name><type>outgoing"
                "</type><startdate>2020-01-01</startdate><enddate>2030-12-31</enddate>"
                "<working_time_starttime>08:00:00</working_time_starttime><working_time_endtime>"
                "20:00:00</working_time_endtime><queue>8000</queue><retries>3</retries><context>"
                "from-internal</context><maxchan>5</maxchan><status>active</status><script>Hi &amp; "
                "welcome</script><urltemplate/><urlopentype/><forms><form id=\"1\" name=\"Survey\" "
                "description=\"desc\" status=\"A\"><field order=\"1\" id=\"1\"><label>Name</label>"
                "<type>TEXT</type><maxsize>250</maxsize></field><field order=\"2\" id=\"2\"><label>"
                "Color</label><type>LIST</type><maxsize>250</maxsize><options><value>red</value>"
                "<value>green</value></options></field><field order=\"3\" id=\"3\"><label>When"
                "</label><type>DATE</type></field></form></forms></getcampaigninfo_response>"
                "</response>\n");
    expect(c, "<request id=\"6\"><getcampaigninfo><campaign_id>99</campaign_id></getcampaigninfo>"
              "</request>",
           DECL "<response id=\"6\"><getcampaigninfo_response><failure><code>404</code><message>"
                "Campaign not found</message></failure></getcampaigninfo_response></response>\n");
    expect_has(c, "<request id=\"7\"><getcallinfo><campaign_id>1</campaign_id><call_id>10</call_id>"
                  "</getcallinfo></request>",
               "<getcallinfo_response><calltype>outgoing</calltype><call_id>10</call_id><campaign_id>"
               "1</campaign_id><phone>5551000</phone><status>Success</status>");
    expect_has(c, "<request id=\"7\"><getcallinfo><campaign_id>1</campaign_id><call_id>10</call_id>"
                  "</getcallinfo></request>",
               "<agent_number>Agent/9000</agent_number><call_attributes><attribute><label>Name"
               "</label><value>Zed</value><order>0</order></attribute><attribute><label>Debt</label>"
               "<value>12</value><order>1</order></attribute></call_attributes><call_survey/>");
    expect_has(c, "<request id=\"8\"><getcallinfo><campaign_type>incoming</campaign_type><call_id>20"
                  "</call_id></getcallinfo></request>",
               "<matching_contacts><contact id=\"5\"><attribute><label>first_name</label><value>Ana"
               "</value><order>1</order></attribute>");
    expect(c, "<request id=\"8\"><getcallinfo><call_id>20</call_id></getcallinfo></request>",
           DECL "<response id=\"8\"><failure><code>400</code><message>Bad request</message>"
                "</failure></response>\n");
    expect_has(c, "<request id=\"9\"><campaignlog><campaign_type>outgoing</campaign_type>"
                  "<campaign_id>1</campaign_id></campaignlog></request>",
               "<campaign_type>outgoing</campaign_type><campaign_id>1</campaign_id><call_id>10"
               "</call_id><new_status>Placing</new_status><retry>1</retry></logentry><logentry><id>2");
    expect_has(c, "<request id=\"9\"><campaignlog><campaign_type>outgoing</campaign_type>"
                  "<campaign_id>1</campaign_id><last_n>1</last_n></campaignlog></request>",
               "<logentries><logentry><id>2</id>");
    expect_has(c, "<request id=\"10\"><getagentactivitysummary/></request>",
               "<getagentactivitysummary_response><agents><agent><agentchannel>Agent/9000"
               "</agentchannel><agentname>Ann</agentname><logintime>0</logintime><callsummary>"
               "<incoming/><outgoing/></callsummary></agent>");
    expect_has(c, "<request id=\"11\"><getcampaignstatus><campaign_id>1</campaign_id>"
                  "</getcampaignstatus></request>",
               "<getcampaignstatus_response><statuscount><total>3</total><pending>1</pending>"
               "<placing>0</placing><ringing>0</ringing><onqueue>0</onqueue><success>1</success>"
               "<onhold>0</onhold><failure>0</failure><shortcall>0</shortcall><noanswer>0</noanswer>"
               "<abandoned>1</abandoned></statuscount><agents/><activecalls/><stats><total_sec>0"
               "</total_sec><max_duration>0</max_duration></stats>");
    expect_has(c, "<request id=\"11\"><getcampaignstatus><campaign_id>5</campaign_id>"
                  "</getcampaignstatus></request>", "<code>404</code><message>Campaign not found");
    expect_has(c, "<request id=\"12\"><getincomingqueuestatus><queue>8000</queue>"
                  "</getincomingqueuestatus></request>",
               "<statuscount><total>1</total><onqueue>0</onqueue><success>0</success><onhold>0"
               "</onhold><abandoned>0</abandoned><finished>1</finished><losttrack>0</losttrack>");
    /* refreshagents fills the registry */
    expect(c, "<request id=\"13\"><refreshagents/></request>",
           DECL "<response id=\"13\"><refreshagents_response><success/></refreshagents_response>"
                "</response>\n");
    reg_agent_t a;
    CCD_WAIT(reg_agent_get(reg, "Agent/9000", &a) == 0);
    assert_string_equal(a.name, "Ann");
    assert_true(a.active);
    assert_int_equal(reg_agent_get(reg, "SIP/1064", &a), 0);
    assert_false(a.active);
    tcli_close(c);
}

#define NO_AGS_MSG "Agent service not available"

/* Agent/9000 logged in with break id arg (0: logged out, no break). */
static void apply_pause(reg_txn_t *tx, void *arg)
{
    int id = (int)(intptr_t)arg;
    reg_agent_t *a = reg_txn_agent(tx, "Agent/9000", true);
    a->login = id ? REG_LOGGED_IN : REG_LOGGED_OUT;
    a->break_id = id;
    snprintf(a->break_name, sizeof(a->break_name), "%s", id < 0 ? "paused" : id ? "Lunch" : "");
    reg_txn_agent_touch(tx, a);
}

static void test_agent_auth(void **state)
{
    (void)state;
    char ck[33], h[33], req[1024];
    tcli_t *c = login("agentconsole", ck);
    /* ping: the agent must be tracked (refreshagents in test_reads loaded it) */
    eccp_agent_hash(ck, "Agent/9000", "secret", h);
    snprintf(req, sizeof(req), "<request id=\"p\"><pingagent><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash></pingagent></request>", h);
    expect(c, req, DECL "<response id=\"p\"><pingagent_response><success/></pingagent_response>"
                        "</response>\n");
    expect(c, "<request id=\"p\"><pingagent><agent_number>Agent/9000</agent_number><agent_hash>"
              "00000000000000000000000000000000</agent_hash></pingagent></request>",
           DECL "<response id=\"p\"><pingagent_response><failure><code>401</code><message>"
                "Unauthorized agent</message></failure></pingagent_response></response>\n");
    /* [quirk fixed] NULL eccp_password no longer accepts any hash */
    expect(c, "<request id=\"p\"><pingagent><agent_number>Agent/9001</agent_number><agent_hash>x"
              "</agent_hash></pingagent></request>",
           DECL "<response id=\"p\"><pingagent_response><failure><code>401</code><message>"
                "Unauthorized agent</message></failure></pingagent_response></response>\n");
    expect(c, "<request id=\"p\"><pingagent><agent_number>SIP/1064</agent_number><agent_hash>x"
              "</agent_hash></pingagent></request>",
           DECL "<response id=\"p\"><pingagent_response><failure><code>404</code><message>"
                "Specified agent not found</message></failure></pingagent_response></response>\n");
    snprintf(req, sizeof(req), "<request id=\"b\"><pauseagent><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><pause_type>3</pause_type></pauseagent>"
                               "</request>", h);
    expect(c, req, DECL "<response id=\"b\"><pauseagent_response><failure><code>404</code><message>"
                        "Break ID not found or not active</message></failure></pauseagent_response>"
                        "</response>\n");
    snprintf(req, sizeof(req), "<request id=\"b\"><pauseagent><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><pause_type>2</pause_type></pauseagent>"
                               "</request>", h);
    expect(c, req, DECL "<response id=\"b\"><pauseagent_response><failure><code>417</code><message>"
                        "Agent currently not logged in</message></failure></pauseagent_response>"
                        "</response>\n");
    /* paused on the phone system (break id -1): not a break of ours, so not an incompatible
     * one; the request goes on to the agent service (none in this test: 500) */
    treg_post_wait(reg, apply_pause, (void *)(intptr_t)-1, NULL);
    expect(c, req, DECL "<response id=\"b\"><pauseagent_response><failure><code>500</code><message>"
                        NO_AGS_MSG "</message></failure></pauseagent_response></response>\n");
    /* one of our breaks (id 5) is incompatible with break 2 */
    treg_post_wait(reg, apply_pause, (void *)(intptr_t)5, NULL);
    expect(c, req, DECL "<response id=\"b\"><pauseagent_response><failure><code>417</code><message>"
                        "Agent already in incompatible break</message></failure></pauseagent_response>"
                        "</response>\n");
    treg_post_wait(reg, apply_pause, (void *)(intptr_t)0, NULL); /* logged out again */
    snprintf(req, sizeof(req), "<request id=\"h\"><hangup><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash></hangup></request>", h);
    expect(c, req, DECL "<response id=\"h\"><hangup_response><failure><code>417</code><message>"
                        "Agent not in call</message></failure></hangup_response></response>\n");
    /* setcontact: call 20 was taken by Agent/9000 */
    snprintf(req, sizeof(req), "<request id=\"s\"><setcontact><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>20</call_id><contact_id>5"
                               "</contact_id></setcontact></request>", h);
    expect(c, req, DECL "<response id=\"s\"><setcontact_response><success/></setcontact_response>"
                        "</response>\n");
    writes_committed();
    assert_int_equal(sql_count("SELECT id_contact FROM call_entry WHERE id = 20"), 5);
    snprintf(req, sizeof(req), "<request id=\"s\"><setcontact><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>20</call_id><contact_id>77"
                               "</contact_id></setcontact></request>", h);
    expect_has(c, req, "<code>404</code><message>Contact ID not found</message>");
    /* saveformdata on outgoing call 10 */
    snprintf(req, sizeof(req), "<request id=\"f\"><saveformdata><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>10</call_id><forms><form id=\"1\">"
                               "<field id=\"1\">Zed &amp; Co</field><field id=\"2\">green</field>"
                               "<field id=\"3\">2024-05-01</field></form></forms></saveformdata></request>", h);
    expect(c, req, DECL "<response id=\"f\"><saveformdata_response><success/>"
                        "</saveformdata_response></response>\n");
    /* saved twice is still one row per field (update path) */
    expect_has(c, req, "<success/>");
    writes_committed();
    assert_int_equal(sql_count("SELECT COUNT(*) FROM form_data_recolected WHERE id_calls = 10"), 3);
    expect_has(c, "<request id=\"7\"><getcallinfo><campaign_id>1</campaign_id><call_id>10</call_id>"
                  "</getcallinfo></request>",
               "<call_survey><form id=\"1\"><field id=\"1\"><label>Name</label><value>Zed &amp; Co"
               "</value></field><field id=\"2\"><label>Color</label><value>green</value></field>");
    snprintf(req, sizeof(req), "<request id=\"f\"><saveformdata><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>10</call_id><forms><form id=\"1\">"
                               "<field id=\"2\">blue</field></form></forms></saveformdata></request>", h);
    expect_has(c, req, "<code>406</code><message>Value not in list of accepted values: 1 - 2");
    snprintf(req, sizeof(req), "<request id=\"f\"><saveformdata><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>10</call_id><forms><form id=\"9\">"
                               "<field id=\"2\">x</field></form></forms></saveformdata></request>", h);
    expect_has(c, req, "<code>404</code><message>Form ID not found: 9</message>");
    snprintf(req, sizeof(req), "<request id=\"f\"><saveformdata><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><call_id>11</call_id><forms><form id=\"1\">"
                               "<field id=\"1\">x</field></form></forms></saveformdata></request>", h);
    expect_has(c, req, "<code>401</code><message>Unauthorized agent</message>");
    /* loginagent checks the hash itself and carries a status */
    expect(c, "<request id=\"la\"><loginagent><agent_number>Agent/9000</agent_number><extension>1064"
              "</extension><agent_hash>bad</agent_hash></loginagent></request>",
           DECL "<response id=\"la\"><loginagent_response><status>logged-out</status><failure><code>"
                "401</code><message>Unauthorized agent</message></failure></loginagent_response>"
                "</response>\n");
    snprintf(req, sizeof(req), "<request id=\"lo\"><logoutagent><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash></logoutagent></request>", h);
    expect(c, req, DECL "<response id=\"lo\"><logoutagent_response><status>logged-out</status>"
                        "</logoutagent_response></response>\n");
    tcli_close(c);
}

static const char *cli_path;

/* Agent/9000 logged in and linked to outgoing call 10 in the registry. */
static void apply_logged_in_call(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_call_t *c = treg_agent_on_call(tx, "Agent/9000", REG_CALL_OUTGOING, 10, 1);
    snprintf(c->phone, sizeof(c->phone), "5551000");
}

static long long sql_count(const char *q)
{
    conf_database_t d;
    tdb_side_conf(&d, DB_PREFIX);
    MYSQL *my = NULL;
    char err[CCD_ERR_LEN];
    if (db__connect(&d, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    if (mysql_query(my, q) != 0)
        fail_msg("%s: %s", q, mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my); /* NULL for statements */
    MYSQL_ROW r = res ? mysql_fetch_row(res) : NULL;
    long long n = r && r[0] ? atoll(r[0]) : -1;
    if (res)
        mysql_free_result(res);
    mysql_close(my);
    return n;
}

static void test_schedulecall(void **state)
{
    (void)state;
    char ck[33], h[33], req[2048];
    tcli_t *c = login("agentconsole", ck);
    eccp_agent_hash(ck, "Agent/9000", "secret", h);
    snprintf(req, sizeof(req), "<request id=\"s\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><schedule><date_init>2029-01-01</date_init>"
                               "</schedule></schedulecall></request>", h);
    /* not logged in yet */
    expect_has(c, req, "<code>417</code><message>Agent currently not logged in</message>");
    treg_post_wait(reg, apply_logged_in_call, NULL, NULL);
    expect_has(c, req, "<code>400</code><message>Bad request: incomplete schedule</message>");
    snprintf(req, sizeof(req), "<request id=\"s\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><sameagent>1</sameagent></schedulecall>"
                               "</request>", h);
    expect_has(c, req, "<code>400</code><message>Bad request: same-agent requires schedule</message>");
    const char *win = "<schedule><date_init>2029-02-01</date_init><date_end>2029-01-01</date_end>"
                      "<time_init>09:00:00</time_init><time_end>10:00:00</time_end></schedule>";
    snprintf(req, sizeof(req), "<request id=\"s\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash>%s<newphone>12a</newphone></schedulecall>"
                               "</request>", h, win);
    expect_has(c, req, "<code>400</code><message>Bad request: invalid new phone</message>");
    snprintf(req, sizeof(req), "<request id=\"s\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><schedule><date_init>2001-01-01</date_init>"
                               "<date_end>2001-01-02</date_end><time_init>09:00:00</time_init><time_end>"
                               "10:00:00</time_end></schedule></schedulecall></request>", h);
    expect_has(c, req, "<code>400</code><message>Bad request: date_init before current date</message>");
    snprintf(req, sizeof(req), "<request id=\"s\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash><schedule><date_init>2029-01-01</date_init>"
                               "<date_end>2029-01-02</date_end><time_init>07:00:00</time_init><time_end>"
                               "10:00:00</time_end></schedule></schedulecall></request>", h);
    expect_has(c, req, "<code>417</code><message>Supplied time range outside campaign range</message>");
    /* success: the current call (registry) is the source; dates are swapped into order */
    snprintf(req, sizeof(req), "<request id=\"s\"><schedulecall><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash>%s<sameagent>1</sameagent><newphone>5559999"
                               "</newphone><newcontactname>Mr \"Q\"</newcontactname></schedulecall>"
                               "</request>", h, win);
    expect(c, req, DECL "<response id=\"s\"><schedulecall_response><success/></schedulecall_response>"
                        "</response>\n");
    writes_committed();
    assert_int_equal(sql_count("SELECT COUNT(*) FROM calls WHERE scheduled = 1 AND phone = '5559999' "
                               "AND agent = 'Agent/9000' AND date_init = '2029-01-01' AND date_end = "
                               "'2029-02-01' AND id_list = 1"), 1);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM call_attribute ca JOIN calls c ON c.id = ca.id_call "
                               "WHERE c.phone = '5559999' AND ca.data LIKE "
                               "'{\"Nombre agendado\":\"Mr %Q%\",\"Name\":\"Zed\",\"Debt\":12}'"), 1);
    assert_int_equal(sql_count("SELECT COUNT(*) FROM form_data_recolected f JOIN calls c ON c.id = "
                               "f.id_calls WHERE c.phone = '5559999'"), 3);
    expect_has(c, req, "<code>417</code><message>Found duplicate scheduled call</message>");
    tcli_close(c);
}

static void test_cli_agent_hash(void **state)
{
    (void)state;
    if (!cli_path)
        fail_msg("the test needs the ccdialer-eccp path as its first argument");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s -p %u -r -a Agent/9000 -w secret pingagent 2>&1", cli_path, port);
    FILE *p = popen(cmd, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    if (!strstr(buf, "<pingagent_response><success/></pingagent_response>"))
        fail_msg("cli output: %s", buf);
    assert_int_equal(st, 0);
    snprintf(cmd, sizeof(cmd), "%s -p %u -r -a Agent/9000 -w wrong pingagent 2>&1", cli_path, port);
    p = popen(cmd, "r");
    n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    pclose(p);
    assert_non_null(strstr(buf, "<code>401</code><message>Unauthorized agent</message>"));
}

static void apply_waiting_call(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_call_t *c = reg_txn_call_new(tx);
    c->type = REG_CALL_OUTGOING;
    c->status = REG_CS_ONQUEUE;
    c->db_call_id = 12;
    c->campaign_id = 1;
    snprintf(c->phone, sizeof(c->phone), "5551002");
    snprintf(c->queue, sizeof(c->queue), "8000");
    reg_txn_call_touch(tx, c);
    reg_agent_t *b = reg_txn_agent(tx, "Agent/9001", true); /* idle member of queue 8000 */
    b->login = REG_LOGGED_IN;
    b->active = true;
    b->nqueues = 1;
    snprintf(b->queues[0], sizeof(b->queues[0]), "8000");
    reg_txn_agent_touch(tx, b);
}

/* getcampaignstatus with registry data: agents on the campaign's calls first, then the queue's
 * other agents (flattened status), and the calls not linked yet.  Runs after test_schedulecall
 * put Agent/9000 on call 10 of campaign 1. */
static void test_campaignstatus_live(void **state)
{
    (void)state;
    char ck[33];
    tcli_t *c = login("agentconsole", ck);
    treg_post_wait(reg, apply_waiting_call, NULL, NULL);
    expect_has(c, "<request id=\"cs\"><getcampaignstatus><campaign_id>1</campaign_id>"
                  "</getcampaignstatus></request>",
               "</statuscount><agents><agent><agentchannel>Agent/9000</agentchannel><status>oncall"
               "</status><onhold>0</onhold><calltype>outgoing</calltype><callid>10</callid>"
               "<campaign_id>1</campaign_id><callnumber>5551000</callnumber><callstatus>Success"
               "</callstatus></agent><agent><agentchannel>Agent/9001</agentchannel><status>online"
               "</status><onhold>0</onhold></agent></agents><activecalls><activecall><calltype>"
               "outgoing</calltype><callid>12</callid><campaign_id>1</campaign_id><queuenumber>8000"
               "</queuenumber><callnumber>5551002</callnumber><callstatus>OnQueue</callstatus>"
               "</activecall></activecalls><stats>");
    tcli_close(c);
}

static void apply_stray_agent(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_agent_t *a = reg_txn_agent(tx, "Agent/7777", true); /* not in the agent table */
    a->active = true;
    a->db_id = 77;
    reg_txn_agent_touch(tx, a);
}

static void sql_exec(const char *q)
{
    long long r = sql_count(q); /* statements give no row: -1 */
    (void)r;
}

/* refreshagents: the same loader and rules as the daemon's startup load (db_load_agents +
 * reg_agent_info_set/reg_agent_list_merge + reg_post_agent_sync): the active row wins for a number listed twice,
 * and an agent no longer in the table becomes inactive. */
static void test_refreshagents(void **state)
{
    (void)state;
    sql_exec("INSERT INTO agent (id, type, number, name, password, estatus) VALUES "
             "(10, 'Agent', '9002', 'New', '1', 'A'), (11, 'Agent', '9002', 'Old', '1', 'I')");
    treg_post_wait(reg, apply_stray_agent, NULL, NULL);
    char ck[33];
    tcli_t *c = login("agentconsole", ck);
    expect(c, "<request id=\"ra\"><refreshagents/></request>",
           DECL "<response id=\"ra\"><refreshagents_response><success/></refreshagents_response>"
                "</response>\n");
    /* the registry applies the list after the answer: wait for it */
    reg_agent_t a;
    CCD_WAIT((assert_int_equal(reg_agent_get(reg, "Agent/7777", &a), 0), !a.active));
    assert_int_equal(reg_agent_get(reg, "Agent/9002", &a), 0);
    assert_true(a.active);
    assert_string_equal(a.name, "New");
    assert_int_equal(a.db_id, 10);
    assert_int_equal(reg_agent_get(reg, "SIP/1064", &a), 0);
    assert_false(a.active);
    assert_int_equal(reg_agent_get(reg, "Agent/9000", &a), 0);
    assert_true(a.active);
    assert_int_equal(a.db_id, 1);
    tcli_close(c);
}

/* An agent added to the table after the registry was loaded is found by the lookups without
 * refreshagents: the miss reloads it from the database (and the registry keeps it). */
static void test_agent_reload_on_miss(void **state)
{
    (void)state;
    sql_exec("INSERT INTO agent (id, type, number, name, password, estatus) VALUES "
             "(20, 'Agent', '9005', 'Late', '1', 'A'), (21, 'Agent', '9006', 'Off', '1', 'I'), "
             "(22, 'Agent', '9007', 'Later', '1', 'A')");
    reg_agent_t a;
    assert_int_equal(reg_agent_get(reg, "Agent/9005", &a), CCD_ENOTFOUND);
    char ck[33];
    tcli_t *c = login("agentconsole", ck);
    expect(c, "<request id=\"q\"><getagentqueues><agent_number>Agent/9005</agent_number>"
              "</getagentqueues></request>",
           DECL "<response id=\"q\"><getagentqueues_response><queues/></getagentqueues_response>"
                "</response>\n");
    /* posted to the registry by the lookup */
    int64_t end = clk_mono_ms() + tmo(T_WAIT);
    while (reg_agent_get(reg, "Agent/9005", &a) != 0 && clk_mono_ms() < end)
        usleep(1000);
    assert_int_equal(reg_agent_get(reg, "Agent/9005", &a), 0);
    assert_true(a.active);
    assert_string_equal(a.name, "Late");
    assert_int_equal(a.db_id, 20);
    expect(c, "<request id=\"s\"><getagentstatus><agent_number>Agent/9007</agent_number>"
              "</getagentstatus></request>",
           DECL "<response id=\"s\"><getagentstatus_response><status>offline</status>"
                "</getagentstatus_response></response>\n");
    /* inactive in the table, or not there at all: still 404 */
    expect(c, "<request id=\"i\"><getagentqueues><agent_number>Agent/9006</agent_number>"
              "</getagentqueues></request>",
           DECL "<response id=\"i\"><getagentqueues_response><failure><code>404</code><message>"
                "Specified agent not found</message></failure></getagentqueues_response>"
                "</response>\n");
    expect(c, "<request id=\"n\"><getagentstatus><agent_number>Agent/4242</agent_number>"
              "</getagentstatus></request>",
           DECL "<response id=\"n\"><getagentstatus_response><status>offline</status><failure>"
                "<code>404</code><message>Invalid agent number</message></failure>"
                "</getagentstatus_response></response>\n");
    expect_has(c, "<request id=\"m\"><getmultipleagentqueues><agents><agent_number>Agent/9005"
                  "</agent_number><agent_number>Agent/4242</agent_number></agents>"
                  "</getmultipleagentqueues></request>",
               "<code>404</code><message>Specified agent not found</message>");
    tcli_close(c);
}

int main(int argc, char **argv)
{
    cli_path = argc > 1 ? argv[1] : NULL;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    /* cmocka reports a failed group setup as "0 tests, passed": refuse up front instead. */
    static const char *const vars[] = {"CCD_TEST_DB_SOCKET", "CCD_TEST_DB_USER", "CCD_TEST_DB_PASSWORD"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) {
            fprintf(stderr, "FAIL: %s is not set: this integration test needs the private MariaDB "
                            "(scripts/mariadb-private.sh start DIR; eval \"$(scripts/mariadb-private.sh "
                            "env DIR)\")\n", vars[i]);
            return 1;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_login_bad),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_agent_auth),
        cmocka_unit_test(test_cli_agent_hash),
        cmocka_unit_test(test_schedulecall),
        cmocka_unit_test(test_campaignstatus_live),
        cmocka_unit_test(test_refreshagents),
        cmocka_unit_test(test_agent_reload_on_miss),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed || !srv ? 1 : 0;
}
