/*
 * The ECCP events that carry database data (integration): agentlinked with
 * call_attributes / matching_contacts / call_survey / retries / campaignlog_id,
 * agentunlinked with campaignlog_id, callprogress with retry / duration / id,
 * through real ECCP sessions against the real db module on the private MariaDB
 * with seeded calls, attributes, contacts, form values and call_progress_log rows.
 *
 * Each event is compared whole with the XML Issabel's dialer writes for the same
 * rows (element names and order from its ECCPConn::construirRespuestaCallInfo,
 * SQLWorkerProcess::_AgentLinked/_AgentUnlinked/_construirEventoProgresoLlamada
 * and ECCPProxyConn::notificarEvento_*; NULL columns left out, empty lists kept).
 * Also: a session's events stay in order while an event's read job is held back
 * (a hook in the test's db_submit); a progress-log row written late (as the call
 * journal does through the durable writer) is picked up; a row that never comes
 * and a database that is away give the event without the database part.
 * A second group runs the real call journal beside the server: the ids the events
 * carry are the rows the journal wrote for those transitions.
 * Needs CCD_TEST_DB_SOCKET, _USER, _PASSWORD; without them the test FAILS.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "conf/conf.h"
#include "core/log.h"
#include "eccp/eccp.h"
#include "eccp/eccp_int.h"
#include "journal/journal.h"
#include "test/eccp/eccp_client_util.h"

#define DECL TCLI_DECL
#define DB_PREFIX "ccdt_eccpev_"

static conf_t cf;
static reg_t *reg;
static db_t *db;
static eccp_server_t *srv;

/* ---- the test's db_submit: real reads, with a hook that holds the events' reads back ---- */

static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the three below */
static bool hold_events; /* keep the engine's own reads (the events': owner 0) */
static bool db_away;     /* answer them as the db module does without a connection */
static db_read_job_t *held[64];
static int nheld;

static int hook_submit(void *ctx, db_read_job_t *job)
{
    pthread_mutex_lock(&hook_mu);
    if (job->owner == 0 && db_away) {
        pthread_mutex_unlock(&hook_mu);
        /* what db_read_submit's reader does when it cannot get a connection */
        job->status = CCD_EIO;
        job->msg.type = MSG_DB_READ_DONE;
        return mq_push_force(job->reply, &job->msg);
    }
    if (job->owner == 0 && hold_events && nheld < 64) {
        held[nheld++] = job;
        pthread_mutex_unlock(&hook_mu);
        return 0;
    }
    pthread_mutex_unlock(&hook_mu);
    return db_read_submit((db_t *)ctx, job);
}

static int held_count(void)
{
    pthread_mutex_lock(&hook_mu);
    int n = nheld;
    pthread_mutex_unlock(&hook_mu);
    return n;
}

static void release_held(void)
{
    pthread_mutex_lock(&hook_mu);
    hold_events = false;
    for (int i = 0; i < nheld; i++)
        assert_int_equal(db_read_submit(db, held[i]), 0);
    nheld = 0;
    pthread_mutex_unlock(&hook_mu);
}

/* ---- fixture ---- */

static const char *const SEED[] = {
    "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES ('agentconsole', md5('agentconsole'))",
    "INSERT INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES "
    "(1, 'Agent', '9000', 'Ann', '1', 'A', 'secret'), (2, 'Agent', '9002', 'Dee', '1', 'A', 'pw2')",
    "INSERT INTO queue_call_entry (id, queue, estatus, script) VALUES (1, '8000', 'A', '')",
    "INSERT INTO form (id, nombre, descripcion, estatus) VALUES (1, 'Survey', 'd', 'A'), "
    "(2, 'Extra', 'd', 'A')",
    "INSERT INTO form_field (id, id_form, etiqueta, value, tipo, orden) VALUES "
    "(1, 1, 'Interested', '', 'TEXT', 2), (2, 1, 'Color', 'red,green,', 'LIST', 1), "
    "(3, 2, 'Notes', '', 'TEXTAREA', 1)",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) VALUES (1, 'Sales', '2020-01-01', "
    "'2030-12-31', '08:00:00', '20:00:00', 3, NULL, 'from-internal', '8000', 5, '', 'A')",
    "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status) VALUES "
    "(1, 1, 0, 'L1', 'l1.csv', NOW(), 1)",
    "INSERT INTO calls (id, id_list, phone, status, retries) VALUES (10, 1, '5551000', 'Success', 2), "
    "(11, 1, '5551001', 'Ringing', 1), (12, 1, '5551002', 'Success', 1), (13, 1, '5551003', NULL, 1), "
    "(14, 1, '5551004', 'Success', 1)",
    "INSERT INTO call_attribute (id_call, data) VALUES "
    "(10, '{\"Name\":\"Ann & Co\",\"City\":\"Quito <N>\",\"Debt\":1500,\"Note\":null}')",
    "INSERT INTO form_data_recolected (id_calls, id_form_field, value) VALUES (10, 1, 'yes'), "
    "(10, 2, 'green'), (10, 3, 'call back')",
    "INSERT INTO contact (id, name, apellido, telefono, cedula_ruc, origen) VALUES "
    "(7, 'Ana', 'Li', '5552000', '0901', 'crm'), (8, 'Bo', 'Ng', '5552000', '0902', 'web'), "
    "(9, 'Cy', 'Oz', '5559999', '0903', 'crm')",
    "INSERT INTO call_entry (id, id_agent, id_queue_call_entry, id_contact, callerid, status, trunk, "
    "uniqueid) VALUES (20, 2, 1, 7, '5552000', 'activa', 'SIP/in', '1700000000.20')",
    "INSERT INTO form_data_recolected_entry (id_call_entry, id_form_field, value) VALUES (20, 3, 'vip')",
    /* what the call journal (and the dialer's claim, for Placing) has written so far; an
     * older attempt's Success row of call 10 must not be taken for this attempt's */
    "INSERT INTO call_progress_log (id, datetime_entry, id_campaign_outgoing, id_call_outgoing, "
    "new_status, retry) VALUES (500, NOW(), 1, 10, 'Success', 1), (501, NOW(), 1, 10, 'Placing', 2), "
    "(502, NOW(), 1, 10, 'Success', 2), (701, NOW(), 1, 11, 'Placing', 1), "
    "(702, NOW(), 1, 11, 'Ringing', 1), (801, NOW(), 1, 12, 'Success', 1), "
    "(901, NOW(), 1, 14, 'Success', 1)",
    "INSERT INTO call_progress_log (id, datetime_entry, id_call_incoming, new_status, retry) VALUES "
    "(601, NOW(), 20, 'OnQueue', 0), (602, NOW(), 20, 'Success', 0)",
};

static int setup(void **state)
{
    (void)state;
    conf_defaults(&cf);
    tdb_conf(&cf.database, DB_PREFIX);
    db = tdb_start(&cf.database, SEED, sizeof(SEED) / sizeof(SEED[0]));
    char err[CCD_ERR_LEN];
    reg = reg_new(10000, NULL, 0);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = 1; /* one worker: its counters describe every session */
    eccp_deps_t deps = {.reg = reg, .db_submit = hook_submit, .db_ctx = db, .db = db,
                        .event_wait_ms = ccd_test_timeout_ms(3000)};
    srv = eccp_server_new(&cf.eccp, &deps, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(reg_start(reg), 0);
    assert_int_equal(eccp_server_start(srv), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    release_held();
    eccp_server_stop(srv);
    reg_stop(reg);
    eccp_server_free(srv);
    reg_free(reg);
    db_stop(db, 1000);
    db_free(db);
    tdb_drop(DB_PREFIX);
    return 0;
}

static void sql_exec(const char *query)
{
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    if (db__connect(&cf.database, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    if (mysql_query(my, query) != 0)
        fail_msg("%s: %s", query, mysql_error(my));
    mysql_close(my);
}

static eccp_stats_t stats(void)
{
    eccp_stats_t st;
    eccp_server_stats(srv, &st);
    return st;
}

/* A logged-in console (all agents), with callprogress when progress. */
static tcli_t *console(bool progress)
{
    tcli_t *c = tcli_connect(eccp_server_port(srv));
    assert_non_null(c);
    char *r = rq(c, "<request id=\"L\"><login><username>agentconsole</username><password>"
                    "agentconsole</password></login></request>");
    if (!strstr(r, "<app_cookie>"))
        fail_msg("login failed: %s", r);
    free(r);
    if (progress)
        expect_has(c, "<request id=\"p\"><callprogress><enable>1</enable></callprogress>"
                      "</request>", "<success/>");
    return c;
}

static tcli_t *console_for(const char *agent)
{
    tcli_t *c = console(false);
    char rqx[256];
    snprintf(rqx, sizeof(rqx), "<request id=\"f\"><filterbyagent><agent_number>%s</agent_number>"
                               "</filterbyagent></request>", agent);
    expect_has(c, rqx, "<success/>");
    return c;
}

/* The next event, compared whole. */
static void ev_is(tcli_t *c, const char *want)
{
    char *r = tcli_next(c, true);
    if (strcmp(r, want) != 0)
        fail_msg("event\n got  %s\n want %s", r, want);
    free(r);
}

/* Nothing has arrived on c: the caller has seen the worker count the events it sent or
 * queued for c (events_sent), so a look without waiting is the whole truth. */
static void nothing_on(tcli_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->len > 0 || poll(&p, 1, 0) > 0) {
        char *r = tcli_recv(c, TCLI_WAIT_MS);
        fail_msg("unexpected message: %s", r ? r : "(none, but the socket was readable)");
    }
}

/* Wall times of the test calls: a fixed day, formatted as the server does (local time). */
#define T0 1767261600000LL /* 2026-01-01 10:00:00 UTC */
static const char *tfmt(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
    return out;
}

/* ---- registry fixtures ---- */

typedef struct call_arg {
    const char *agent;        /* linked to this agent (NULL: not linked) */
    reg_call_type_e type;
    reg_call_status_e status;
    int64_t db_id, campaign;
    uint32_t retries;
    const char *phone, *queue, *uniqueid, *channel, *trunk;
    int64_t t_orig, t_answer, t_queue, t_link, t_end;
    uint64_t *id_out;         /* the registry id */
} call_arg_t;

static void apply_call(reg_txn_t *tx, void *arg)
{
    call_arg_t *ca = arg;
    reg_call_t *c = reg_txn_call_new(tx);
    c->type = ca->type;
    c->status = ca->status;
    c->db_call_id = ca->db_id;
    c->campaign_id = ca->campaign;
    c->retries = ca->retries;
    snprintf(c->phone, sizeof(c->phone), "%s", ca->phone ? ca->phone : "");
    snprintf(c->queue, sizeof(c->queue), "%s", ca->queue ? ca->queue : "");
    snprintf(c->channel, sizeof(c->channel), "%s", ca->channel ? ca->channel : "");
    snprintf(c->trunk, sizeof(c->trunk), "%s", ca->trunk ? ca->trunk : "");
    if (ca->uniqueid)
        reg_txn_call_set_uniqueid(tx, c, ca->uniqueid);
    c->t_originate_ms = ca->t_orig;
    c->t_answer_ms = ca->t_answer;
    c->t_queue_ms = ca->t_queue;
    c->t_link_ms = ca->t_link;
    c->t_end_ms = ca->t_end;
    reg_txn_call_touch(tx, c);
    if (ca->agent) {
        reg_agent_t *a = reg_txn_agent(tx, ca->agent, true);
        a->login = REG_LOGGED_IN;
        a->active = true;
        a->call_id = c->id;
        snprintf(c->agent, sizeof(c->agent), "%s", ca->agent);
        reg_txn_agent_touch(tx, a);
    }
    *ca->id_out = c->id;
}

static uint64_t new_call(call_arg_t *ca)
{
    uint64_t id = 0;
    ca->id_out = &id;
    treg_post_wait(reg, apply_call, ca, NULL);
    assert_true(id != 0);
    return id;
}

typedef struct status_arg {
    uint64_t id;
    reg_call_status_e status;
    int64_t t_end;
    const char *unlink_agent; /* also takes this agent off the call */
} status_arg_t;

static void apply_status(reg_txn_t *tx, void *arg)
{
    status_arg_t *sa = arg;
    reg_call_t *c = reg_txn_call(tx, sa->id);
    assert_non_null(c);
    c->status = sa->status;
    if (sa->t_end)
        c->t_end_ms = sa->t_end;
    reg_txn_call_touch(tx, c);
    if (sa->unlink_agent) {
        reg_agent_t *a = reg_txn_agent(tx, sa->unlink_agent, false);
        a->call_id = 0;
        reg_txn_agent_touch(tx, a);
    }
}

static void call_status(uint64_t id, reg_call_status_e st, int64_t t_end, const char *unlink)
{
    status_arg_t sa = {.id = id, .status = st, .t_end = t_end, .unlink_agent = unlink};
    treg_post_wait(reg, apply_status, &sa, NULL);
}

typedef struct link_arg {
    uint64_t id;
    const char *agent;
    int64_t t_link;
} link_arg_t;

static void apply_link(reg_txn_t *tx, void *arg)
{
    link_arg_t *la = arg;
    reg_call_t *c = reg_txn_call(tx, la->id);
    assert_non_null(c);
    c->status = REG_CS_SUCCESS;
    c->t_link_ms = la->t_link;
    snprintf(c->agent, sizeof(c->agent), "%s", la->agent);
    reg_txn_call_touch(tx, c);
    reg_agent_t *a = reg_txn_agent(tx, la->agent, true);
    a->call_id = c->id;
    reg_txn_agent_touch(tx, a);
}

/* The call linked to the agent (Success) in one registry change, as AgentConnect does. */
static void link_agent(uint64_t id, const char *agent, int64_t t_link)
{
    link_arg_t la = {.id = id, .agent = agent, .t_link = t_link};
    treg_post_wait(reg, apply_link, &la, NULL);
}

typedef struct pause_arg {
    const char *agent;
    int break_id;
} pause_arg_t;

static void apply_pause(reg_txn_t *tx, void *arg)
{
    pause_arg_t *pa = arg;
    reg_agent_t *a = reg_txn_agent(tx, pa->agent, true);
    a->login = REG_LOGGED_IN;
    a->break_id = pa->break_id;
    snprintf(a->break_name, sizeof(a->break_name), "Lunch");
    a->break_start_ms = T0;
    reg_txn_agent_touch(tx, a);
}

static void pause_agent(const char *agent, int break_id)
{
    pause_arg_t pa = {.agent = agent, .break_id = break_id};
    treg_post_wait(reg, apply_pause, &pa, NULL);
}

static void apply_login(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, true);
    a->login = REG_LOGGED_IN;
    a->active = true;
    reg_txn_agent_touch(tx, a);
}

/* Logs the agent in before the test's consoles connect: they get no agentloggedin. */
static void agent_in(const char *agent)
{
    treg_post_wait(reg, apply_login, (void *)agent, NULL);
}

static void publish_mute(const char *agent, int64_t call)
{
    eccp_event_t ev = {.kind = ECCP_EV_RECORDINGMUTE, .campaign_id = 1, .call_id = call};
    snprintf(ev.agent_number, sizeof(ev.agent_number), "%s", agent);
    assert_int_equal(eccp_server_publish(srv, &ev), 0);
}

/* ---- tests ---- */

/*
 * Outgoing agentlinked, element by element as Issabel writes it: the call info block of
 * getcallinfo (calltype .. trunk, with retries; NULL duration/linkend/failure cause left
 * out), call_attributes from call_attribute's JSON (order from 0, & and < escaped, a null
 * value empty), call_survey by form and field order, queue, campaignlog_id = this
 * attempt's Success row (502, not the older attempt's 500), remote_channel.
 */
static void test_linked_outgoing(void **state)
{
    (void)state;
    agent_in("Agent/9000");
    tcli_t *c = console(false);
    char t1[32], t2[32], t3[32], t4[32];
    call_arg_t ca = {.agent = "Agent/9000", .type = REG_CALL_OUTGOING, .status = REG_CS_SUCCESS,
                     .db_id = 10, .campaign = 1, .retries = 2, .phone = "5551000",
                     .queue = "8000", .uniqueid = "1700000000.10", .channel = "SIP/prov-0001",
                     .trunk = "SIP/prov", .t_orig = T0, .t_answer = T0 + 4000,
                     .t_queue = T0 + 5000, .t_link = T0 + 9000};
    new_call(&ca);
    char want[4096];
    snprintf(want, sizeof(want),
             DECL "<event><agentlinked><calltype>outgoing</calltype><call_id>10</call_id>"
                  "<campaign_id>1</campaign_id><phone>5551000</phone><status>Success</status>"
                  "<uniqueid>1700000000.10</uniqueid><datetime_originate>%s</datetime_originate>"
                  "<datetime_originateresponse>%s</datetime_originateresponse>"
                  "<datetime_join>%s</datetime_join><datetime_linkstart>%s</datetime_linkstart>"
                  "<retries>2</retries><agent_number>Agent/9000</agent_number>"
                  "<trunk>SIP/prov</trunk><call_attributes>"
                  "<attribute><label>Name</label><value>Ann &amp; Co</value><order>0</order></attribute>"
                  "<attribute><label>City</label><value>Quito &lt;N&gt;</value><order>1</order></attribute>"
                  "<attribute><label>Debt</label><value>1500</value><order>2</order></attribute>"
                  "<attribute><label>Note</label><value/><order>3</order></attribute>"
                  "</call_attributes><call_survey><form id=\"1\">"
                  "<field id=\"2\"><label>Color</label><value>green</value></field>"
                  "<field id=\"1\"><label>Interested</label><value>yes</value></field></form>"
                  "<form id=\"2\"><field id=\"3\"><label>Notes</label><value>call back</value></field>"
                  "</form></call_survey><queue>8000</queue><campaignlog_id>502</campaignlog_id>"
                  "<remote_channel>SIP/prov-0001</remote_channel></agentlinked></event>\n",
             tfmt(T0, t1), tfmt(T0 + 4000, t2), tfmt(T0 + 5000, t3), tfmt(T0 + 9000, t4));
    ev_is(c, want);
    tcli_close(c);
}

/*
 * Incoming agentlinked: calltype .. agent_number from call_entry's columns (no
 * originate times, no retries), call_attributes = the call's contact (7) with
 * contact_source (the getcallinfo quirk fix), matching_contacts = every contact with the
 * caller's number (7 and 8, order 1-4, not 9), call_survey from form_data_recolected_entry,
 * campaignlog_id = the incoming call's Success row, remote_channel.  A session filtered
 * to another agent gets nothing (its events are counted: none).
 */
static void test_linked_incoming(void **state)
{
    (void)state;
    agent_in("Agent/9002");
    tcli_t *c = console(false);
    tcli_t *other = console_for("Agent/9000");
    uint64_t sent0 = stats().events_sent;
    char t3[32], t4[32];
    call_arg_t ca = {.agent = "Agent/9002", .type = REG_CALL_INCOMING, .status = REG_CS_SUCCESS,
                     .db_id = 20, .phone = "5552000", .queue = "8000",
                     .uniqueid = "1700000000.20", .channel = "SIP/in-0002", .trunk = "SIP/in",
                     .t_queue = T0 + 1000, .t_link = T0 + 3000};
    new_call(&ca);
    char want[4096];
    snprintf(want, sizeof(want),
             DECL "<event><agentlinked><calltype>incoming</calltype><call_id>20</call_id>"
                  "<phone>5552000</phone><status>activa</status><uniqueid>1700000000.20</uniqueid>"
                  "<datetime_join>%s</datetime_join><datetime_linkstart>%s</datetime_linkstart>"
                  "<trunk>SIP/in</trunk><queue>8000</queue><agent_number>Agent/9002</agent_number>"
                  "<call_attributes>"
                  "<attribute><label>first_name</label><value>Ana</value><order>1</order></attribute>"
                  "<attribute><label>last_name</label><value>Li</value><order>2</order></attribute>"
                  "<attribute><label>phone</label><value>5552000</value><order>3</order></attribute>"
                  "<attribute><label>cedula_ruc</label><value>0901</value><order>4</order></attribute>"
                  "<attribute><label>contact_source</label><value>crm</value><order>5</order></attribute>"
                  "</call_attributes><matching_contacts><contact id=\"7\">"
                  "<attribute><label>first_name</label><value>Ana</value><order>1</order></attribute>"
                  "<attribute><label>last_name</label><value>Li</value><order>2</order></attribute>"
                  "<attribute><label>phone</label><value>5552000</value><order>3</order></attribute>"
                  "<attribute><label>cedula_ruc</label><value>0901</value><order>4</order></attribute>"
                  "</contact><contact id=\"8\">"
                  "<attribute><label>first_name</label><value>Bo</value><order>1</order></attribute>"
                  "<attribute><label>last_name</label><value>Ng</value><order>2</order></attribute>"
                  "<attribute><label>phone</label><value>5552000</value><order>3</order></attribute>"
                  "<attribute><label>cedula_ruc</label><value>0902</value><order>4</order></attribute>"
                  "</contact></matching_contacts><call_survey><form id=\"2\"><field id=\"3\">"
                  "<label>Notes</label><value>vip</value></field></form></call_survey>"
                  "<campaignlog_id>602</campaignlog_id><remote_channel>SIP/in-0002</remote_channel>"
                  "</agentlinked></event>\n",
             tfmt(T0 + 1000, t3), tfmt(T0 + 3000, t4));
    ev_is(c, want);
    assert_int_equal(stats().events_sent - sent0, 1); /* c only */
    nothing_on(other);
    tcli_close(other);
    tcli_close(c);
}

/*
 * callprogress as Issabel builds it from the inserted call_progress_log row: retry first
 * (calls.retries of this attempt), uniqueid, trunk, datetime_entry, new_status, id (the
 * row), campaign_type, campaign_id, call_id, phone, queue; no duration before a link.
 */
static void test_callprogress(void **state)
{
    (void)state;
    tcli_t *c = console(true);
    char t[32];
    call_arg_t ca = {.type = REG_CALL_OUTGOING, .status = REG_CS_PLACING, .db_id = 11,
                     .campaign = 1, .retries = 1, .phone = "5551001", .queue = "8000",
                     .trunk = "SIP/prov", .t_orig = T0};
    uint64_t id = new_call(&ca);
    char want[2048];
    snprintf(want, sizeof(want),
             DECL "<event><callprogress><retry>1</retry><trunk>SIP/prov</trunk>"
                  "<datetime_entry>%s</datetime_entry><new_status>Placing</new_status>"
                  "<id>701</id><campaign_type>outgoing</campaign_type><campaign_id>1</campaign_id>"
                  "<call_id>11</call_id><phone>5551001</phone><queue>8000</queue></callprogress>"
                  "</event>\n",
             tfmt(T0, t));
    ev_is(c, want);
    call_status(id, REG_CS_RINGING, 0, NULL);
    char *r = tcli_next(c, true);
    if (!strstr(r, "<new_status>Ringing</new_status><id>702</id><campaign_type>outgoing"))
        fail_msg("ringing: %s", r);
    free(r);
    tcli_close(c);
}

/*
 * The progress-log row of an unlink is written after the event fires (the journal's
 * writer lags): agentunlinked waits for it, and every later event of the session waits
 * behind it.  Shown by the counters (still waiting, looked up more than once, the later
 * event counted as sent) while nothing has reached the socket; then the row is written
 * and both events come, in order, the unlink carrying the row's id.  The journal wrote
 * the call as ShortCall (its [dialer] short_call rule; the registry says Hangup): the
 * event says shortcall 1, as the row does.
 */
static void test_unlinked_late_row(void **state)
{
    (void)state;
    agent_in("Agent/9010");
    tcli_t *c = console_for("Agent/9010");
    call_arg_t ca = {.agent = "Agent/9010", .type = REG_CALL_OUTGOING, .status = REG_CS_SUCCESS,
                     .db_id = 12, .campaign = 1, .retries = 1, .phone = "5551002",
                     .queue = "8000", .channel = "SIP/prov-0003", .t_link = T0};
    uint64_t id = new_call(&ca);
    char *r = tcli_next(c, true);
    if (!strstr(r, "<campaignlog_id>801</campaignlog_id>"))
        fail_msg("linked: %s", r);
    free(r);

    eccp_stats_t s0 = stats();
    call_status(id, REG_CS_HANGUP, T0 + 5000, "Agent/9010");
    CCD_WAIT(stats().events_waiting == 1 && stats().events_db_jobs >= s0.events_db_jobs + 2);
    publish_mute("Agent/9010", 12);
    CCD_WAIT(stats().events_sent >= s0.events_sent + 2);
    nothing_on(c);
    assert_int_equal(stats().events_waiting, 1);

    sql_exec("INSERT INTO call_progress_log (id, datetime_entry, id_campaign_outgoing, "
             "id_call_outgoing, new_status, retry, duration) VALUES (802, NOW(), 1, 12, 'ShortCall', 1, 5)");
    char t[32], want[1024];
    snprintf(want, sizeof(want),
             DECL "<event><agentunlinked><calltype>outgoing</calltype><campaign_id>1</campaign_id>"
                  "<call_id>12</call_id><phone>5551002</phone><datetime_linkend>%s"
                  "</datetime_linkend><duration>5</duration><shortcall>1</shortcall>"
                  "<campaignlog_id>802</campaignlog_id><queue>8000</queue><agent_number>Agent/9010"
                  "</agent_number></agentunlinked></event>\n",
             tfmt(T0 + 5000, t));
    ev_is(c, want);
    ev_is(c, DECL "<event><recordingmute><agent_number>Agent/9010</agent_number><calltype>outgoing"
                  "</calltype><campaign_id>1</campaign_id><call_id>12</call_id></recordingmute>"
                  "</event>\n");
    assert_int_equal(stats().events_waiting, 0);
    assert_int_equal(stats().events_log_missing, s0.events_log_missing);
    tcli_close(c);
}

/*
 * Order under a slow read: the agentlinked's job is held by the hook; a pausestart and a
 * recordingmute of the same agent fired after it reach nobody who waits for it (counted
 * as sent, socket empty), while a console of another agent gets its own pausestart at
 * once.  Released, the three come in the order they fired.
 */
static void test_order_slow_job(void **state)
{
    (void)state;
    agent_in("Agent/9011");
    agent_in("Agent/9012");
    tcli_t *c = console_for("Agent/9011");
    tcli_t *d = console_for("Agent/9012");
    pthread_mutex_lock(&hook_mu);
    hold_events = true;
    pthread_mutex_unlock(&hook_mu);
    eccp_stats_t s0 = stats();
    call_arg_t ca = {.agent = "Agent/9011", .type = REG_CALL_OUTGOING, .status = REG_CS_SUCCESS,
                     .db_id = 14, .campaign = 1, .retries = 1, .phone = "5551004",
                     .queue = "8000", .channel = "SIP/prov-0004", .t_link = T0};
    new_call(&ca);
    CCD_WAIT(held_count() == 1);
    pause_agent("Agent/9011", 2);
    publish_mute("Agent/9011", 14);
    pause_agent("Agent/9012", 2);
    char *p = tcli_next(d, true);
    if (!strstr(p, "<event><pausestart><pause_class>break</pause_class><pause_type>2</pause_type>"
                   "<pause_name>Lunch</pause_name><pause_start>") ||
        !strstr(p, "<agent_number>Agent/9012</agent_number>"))
        fail_msg("other agent's pause: %s", p);
    free(p);
    CCD_WAIT(stats().events_sent >= s0.events_sent + 4);
    nothing_on(c);
    assert_int_equal(held_count(), 1);
    release_held();
    char *r = tcli_next(c, true);
    if (!strstr(r, "<agentlinked><calltype>outgoing</calltype><call_id>14</call_id>") ||
        !strstr(r, "<campaignlog_id>901</campaignlog_id>"))
        fail_msg("first: %s", r);
    free(r);
    r = tcli_next(c, true);
    if (!strstr(r, "<pausestart><pause_class>break</pause_class>"))
        fail_msg("second: %s", r);
    free(r);
    r = tcli_next(c, true);
    if (!strstr(r, "<recordingmute><agent_number>Agent/9011</agent_number>"))
        fail_msg("third: %s", r);
    free(r);
    pause_agent("Agent/9011", 0);
    pause_agent("Agent/9012", 0);
    tcli_close(c);
    tcli_close(d);
}

/*
 * Database away (every event read answered as the db module answers without a
 * connection): agentlinked comes at once with what the registry knows, its database
 * elements empty and no campaignlog_id; counted in events_db_failed.
 */
static void test_db_away(void **state)
{
    (void)state;
    agent_in("Agent/9013");
    tcli_t *c = console_for("Agent/9013");
    pthread_mutex_lock(&hook_mu);
    db_away = true;
    pthread_mutex_unlock(&hook_mu);
    eccp_stats_t s0 = stats();
    char t[32];
    call_arg_t ca = {.agent = "Agent/9013", .type = REG_CALL_OUTGOING, .status = REG_CS_SUCCESS,
                     .db_id = 10, .campaign = 1, .retries = 2, .phone = "5551000",
                     .queue = "8000", .channel = "SIP/prov-0005", .t_link = T0};
    new_call(&ca);
    char want[2048];
    snprintf(want, sizeof(want),
             DECL "<event><agentlinked><calltype>outgoing</calltype><call_id>10</call_id>"
                  "<campaign_id>1</campaign_id><phone>5551000</phone><status>Success</status>"
                  "<datetime_linkstart>%s</datetime_linkstart><retries>2</retries>"
                  "<agent_number>Agent/9013</agent_number><call_attributes/><call_survey/>"
                  "<queue>8000</queue><remote_channel>SIP/prov-0005</remote_channel>"
                  "</agentlinked></event>\n",
             tfmt(T0, t));
    ev_is(c, want);
    assert_int_equal(stats().events_db_failed, s0.events_db_failed + 1);
    pthread_mutex_lock(&hook_mu);
    db_away = false;
    pthread_mutex_unlock(&hook_mu);
    tcli_close(c);
}

/* The most lookups one event can make before a deadline wait_ms after it fired: the
 * first at once, then gaps from ECCP_EVENT_LOG_RETRY_MS doubling up to
 * ECCP_EVENT_LOG_RETRY_MAX_MS (worked out here, not by the engine's function). */
static uint64_t max_lookups(int64_t wait_ms)
{
    uint64_t n = 1;
    int64_t gap = ECCP_EVENT_LOG_RETRY_MS;
    for (int64_t t = gap; t < wait_ms; t += gap) {
        n++;
        gap = gap * 2 < ECCP_EVENT_LOG_RETRY_MAX_MS ? gap * 2 : ECCP_EVENT_LOG_RETRY_MAX_MS;
    }
    return n;
}

/*
 * A row that is never written (no journal): the callprogress goes out at the event's
 * deadline without its id, counted in events_log_missing, after more than one lookup
 * but no more than the back-off allows (a fixed 20 ms poll made ~150 in the 3 s wait;
 * the back-off 13).
 */
static void test_row_never_written(void **state)
{
    (void)state;
    tcli_t *c = console(true);
    eccp_stats_t s0 = stats();
    call_arg_t ca = {.type = REG_CALL_OUTGOING, .status = REG_CS_DIALING, .db_id = 13,
                     .campaign = 1, .retries = 1, .phone = "5551003", .queue = "8000"};
    new_call(&ca);
    char *r = tcli_recv(c, ccd_test_timeout_ms(3000) + TCLI_WAIT_MS);
    assert_non_null(r);
    if (!strstr(r, "<new_status>Dialing</new_status><campaign_type>outgoing</campaign_type>") ||
        strstr(r, "<id>"))
        fail_msg("dialing: %s", r);
    free(r);
    eccp_stats_t s1 = stats();
    assert_int_equal(s1.events_log_missing, s0.events_log_missing + 1);
    assert_true(s1.events_db_jobs >= s0.events_db_jobs + 2);
    assert_int_equal(eccp__ev_retry_gap_ms(1), ECCP_EVENT_LOG_RETRY_MS);
    assert_int_equal(eccp__ev_retry_gap_ms(2), 2 * ECCP_EVENT_LOG_RETRY_MS);
    assert_int_equal(eccp__ev_retry_gap_ms(1000), ECCP_EVENT_LOG_RETRY_MAX_MS);
    uint64_t jobs = s1.events_db_jobs - s0.events_db_jobs;
    if (jobs > max_lookups(ccd_test_timeout_ms(3000)))
        fail_msg("%llu lookups for one missing row (back-off allows %llu)",
                 (unsigned long long)jobs, (unsigned long long)max_lookups(ccd_test_timeout_ms(3000)));
    tcli_close(c);
}

/* ---- with the real call journal ---- */

static jnl_t *jnl;

#define JNL_PREFIX "ccdt_eccpevj_"

static const char *const JSEED[] = {
    "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES ('agentconsole', md5('agentconsole'))",
    "INSERT INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES "
    "(1, 'Agent', '9000', 'Ann', '1', 'A', 'secret')",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) VALUES (1, 'Sales', '2020-01-01', "
    "'2030-12-31', '00:00:00', '23:59:59', 3, NULL, 'from-internal', '8000', 5, '', 'A')",
    "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status) VALUES "
    "(1, 1, 0, 'L1', 'l1.csv', NOW(), 1)",
    /* as the dialer's claim leaves a number: Placing, its retries counted, its Placing row */
    "INSERT INTO calls (id, id_list, phone, status, retries) VALUES (30, 1, '5553000', 'Placing', 1)",
    "INSERT INTO call_attribute (id_call, data) VALUES (30, '{\"Name\":\"Jo\"}')",
    "INSERT INTO call_progress_log (id, datetime_entry, id_campaign_outgoing, id_call_outgoing, "
    "new_status, retry) VALUES (3001, NOW(), 1, 30, 'Placing', 1)",
};

static int setup_jnl(void **state)
{
    (void)state;
    conf_defaults(&cf);
    tdb_conf(&cf.database, JNL_PREFIX);
    db = tdb_start(&cf.database, JSEED, sizeof(JSEED) / sizeof(JSEED[0]));
    char q[256];
    snprintf(q, sizeof(q), "UPDATE calls SET ccd_claim_owner = '%s', ccd_claim_time = NOW() "
                           "WHERE id = 30", db_instance_id(db));
    sql_exec(q);
    char err[CCD_ERR_LEN];
    reg = reg_new(10000, NULL, 0);
    jnl = jnl_new(&cf, reg, db, err, sizeof(err));
    assert_non_null(jnl);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    cf.eccp.workers = 1;
    eccp_deps_t deps = {.reg = reg, .db_submit = hook_submit, .db_ctx = db, .db = db,
                        .event_wait_ms = ccd_test_timeout_ms(10000)};
    srv = eccp_server_new(&cf.eccp, &deps, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(jnl_start(jnl), 0);
    assert_int_equal(reg_start(reg), 0);
    assert_int_equal(eccp_server_start(srv), 0);
    return 0;
}

static int teardown_jnl(void **state)
{
    (void)state;
    eccp_server_stop(srv);
    reg_stop(reg);
    jnl_stop(jnl);
    eccp_server_free(srv);
    jnl_free(jnl);
    reg_free(reg);
    db_stop(db, 1000);
    db_free(db);
    tdb_drop(JNL_PREFIX);
    return 0;
}

/* One number from the test database. */
static long long sql_num(const char *query)
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
    long long v = row && row[0] ? atoll(row[0]) : 0;
    mysql_free_result(res);
    mysql_close(my);
    return v;
}

/* The next event must carry <tag>N</tag> with N = the id of call 30's row of status. */
static void ev_row(tcli_t *c, const char *event, const char *tag, const char *status)
{
    char *r = tcli_next(c, true);
    if (!strstr(r, event))
        fail_msg("wanted %s, got %s", event, r);
    char q[256], want[64];
    snprintf(q, sizeof(q), "SELECT id FROM call_progress_log WHERE id_call_outgoing = 30 AND "
                           "new_status = '%s' ORDER BY id DESC LIMIT 1", status);
    long long id = sql_num(q);
    assert_true(id > 0);
    snprintf(want, sizeof(want), "<%s>%lld</%s>", tag, id, tag);
    if (!strstr(r, want))
        fail_msg("%s: wanted %s (the journal's %s row), got %s", event, want, status, r);
    free(r);
}

/*
 * A call through Ringing, OnQueue, the link and its end with the journal writing its rows
 * through the durable writer as it does in the daemon: every callprogress carries the id of
 * the row the journal wrote for that step (Placing: the claim's), agentlinked the Success
 * row, agentunlinked the Hangup row (30 s of talk: not short), in order.
 */
static void test_with_journal(void **state)
{
    (void)state;
    agent_in("Agent/9000");
    tcli_t *c = console(true);
    call_arg_t ca = {.type = REG_CALL_OUTGOING, .status = REG_CS_PLACING, .db_id = 30,
                     .campaign = 1, .retries = 1, .phone = "5553000", .queue = "8000",
                     .uniqueid = "1700000000.30", .channel = "SIP/prov-0030", .t_orig = T0};
    uint64_t id = new_call(&ca);
    ev_row(c, "<new_status>Placing</new_status>", "id", "Placing");
    call_status(id, REG_CS_RINGING, 0, NULL);
    ev_row(c, "<new_status>Ringing</new_status>", "id", "Ringing");
    call_status(id, REG_CS_ONQUEUE, 0, NULL);
    ev_row(c, "<new_status>OnQueue</new_status>", "id", "OnQueue");
    link_agent(id, "Agent/9000", T0 + 10000);
    ev_row(c, "<agentlinked><calltype>outgoing</calltype><call_id>30</call_id>", "campaignlog_id",
           "Success");
    call_status(id, REG_CS_HANGUP, T0 + 40000, "Agent/9000");
    ev_row(c, "<agentunlinked>", "campaignlog_id", "Hangup");
    tcli_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linked_outgoing),  cmocka_unit_test(test_linked_incoming),
        cmocka_unit_test(test_callprogress),     cmocka_unit_test(test_unlinked_late_row),
        cmocka_unit_test(test_order_slow_job),   cmocka_unit_test(test_db_away),
        cmocka_unit_test(test_row_never_written),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    const struct CMUnitTest jtests[] = {
        cmocka_unit_test(test_with_journal),
    };
    return rc + cmocka_run_group_tests(jtests, setup_jnl, teardown_jnl);
}
