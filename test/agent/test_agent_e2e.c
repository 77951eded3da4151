/*
 * The agent service end to end: the whole engine in-process (services.c)
 * against pbxsim and the private MariaDB that scripts/test.sh starts.  A
 * console logs in over ECCP and drives agents through loginagent,
 * pauseagent, unpauseagent, hold, unhold, transfercall, mixmonitormute,
 * hangup and logoutagent, with the failure paths (the agent's phone does
 * not answer, the agent hangs up in a call, Asterisk restarts with agents
 * logged in and on calls).  Each flow checks the ECCP answers and events,
 * the registry's agent, and what Asterisk did (a second AMI connection asks
 * pbxsim: QueueStatus, ParkedCalls, Agents) or the agent service's counters
 * of the actions it sent.
 *
 * Every wait is "until the condition holds", bounded so that a broken build
 * fails instead of hanging; deadlines scale with CCD_TEST_TIMEOUT_MULTIPLIER.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "conf/conf.h"
#include "core/clock.h"
#include "core/log.h"
#include "daemon/services.h"
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/common/ccd_test.h"
#include "test/daemon/e2e_engine.h"
#include "test/db/dbtest.h"
#include "tools/pbxsim/pbxsim.h"

#define WAIT_MAX_MS ccd_test_timeout_ms(30000)

typedef struct fixture {
    e2e_engine_t e;
    reg_t *reg;
    ami_t *ami;
    int eccp;
    char cookie[64];
    dbt_server_t own_db; /* a mariadbd of this test's own (dir "" = the shared one) */
    char inbuf[1 << 20];
    size_t inlen;
    int next_id;
} fixture_t;

/* Reads more of the console's input (waits up to left ms); false when nothing came. */
static bool eccp_read(fixture_t *f, int left)
{
    struct pollfd p = {.fd = f->eccp, .events = POLLIN};
    if (poll(&p, 1, left) <= 0)
        return false;
    assert_true(f->inlen < sizeof(f->inbuf) - 1);
    ssize_t r = read(f->eccp, f->inbuf + f->inlen, sizeof(f->inbuf) - 1 - f->inlen);
    if (r <= 0)
        fail_msg("ECCP connection closed; got: %.2000s", f->inbuf);
    f->inlen += (size_t)r;
    f->inbuf[f->inlen] = '\0';
    return true;
}

/* Cuts [start, end) out of the input buffer. */
static void eccp_cut(fixture_t *f, const char *start, const char *end)
{
    size_t off = (size_t)(start - f->inbuf), n = (size_t)(end - start);
    memmove(f->inbuf + off, end, f->inlen - off - n);
    f->inlen -= n;
    f->inbuf[f->inlen] = '\0';
}

/* Waits for an event containing needle and removes it from the input. */
static void wait_event(fixture_t *f, const char *needle)
{
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        f->inbuf[f->inlen] = '\0';
        const char *hit = strstr(f->inbuf, needle);
        const char *end = hit ? strstr(hit, "</event>") : NULL;
        if (end) {
            const char *start = hit;
            while (start > f->inbuf && strncmp(start, "<event>", 7) != 0)
                start--;
            eccp_cut(f, start, end + strlen("</event>"));
            return;
        }
        int left = (int)(deadline - clk_mono_ms());
        if (left <= 0)
            fail_msg("no event with '%s' from the ECCP server; got: %.3000s", needle, f->inbuf);
        eccp_read(f, left);
    }
}

/* Sends a request (after decl, the text before <request>) and returns a malloc'ed copy of its
 * whole response document. */
static char *eccp_request_as(fixture_t *f, const char *decl, const char *body)
{
    char req[4096], open_tag[64];
    int id = ++f->next_id;
    snprintf(req, sizeof(req), "%s<request id=\"%d\">%s</request>\n", decl, id, body);
    snprintf(open_tag, sizeof(open_tag), "<response id=\"%d\">", id);
    e2e_send_all(f->eccp, req);
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        const char *start = strstr(f->inbuf, open_tag);
        const char *end = start ? strstr(start, "</response>") : NULL;
        if (end) {
            end += strlen("</response>");
            char *doc = strndup(start, (size_t)(end - start));
            eccp_cut(f, start, end);
            return doc;
        }
        int left = (int)(deadline - clk_mono_ms());
        if (left <= 0)
            fail_msg("no answer to '%s'; got: %.3000s", body, f->inbuf);
        eccp_read(f, left);
    }
}

static char *eccp_request(fixture_t *f, const char *body)
{
    return eccp_request_as(f, "", body);
}

/* An agent request (agent_number + agent_hash + extra) whose answer must contain want. */
static void agent_req(fixture_t *f, const char *name, const char *agent, const char *pass,
                      const char *extra, const char *want)
{
    char h[64], body[2048];
    eccp_agent_hash(f->cookie, agent, pass, h);
    snprintf(body, sizeof(body), "<%s><agent_number>%s</agent_number><agent_hash>%s</agent_hash>%s</%s>",
             name, agent, h, extra ? extra : "", name);
    char *r = eccp_request(f, body);
    if (!strstr(r, want))
        fail_msg("%s for %s: wanted '%s' in %s", name, agent, want, r);
    free(r);
}

/* ---- a second AMI connection to ask pbxsim what it did ---- */

/* Sends one action (text without ActionID) and returns what came back up to and including
 * a line containing until (malloc'ed). */
static char *ami_ask(fixture_t *f, const char *action, const char *until)
{
    int fd = e2e_tcp_connect(pbxsim_port(f->e.sim));
    char req[2048];
    snprintf(req, sizeof(req),
             "Action: Login\r\nUsername: e2e\r\nSecret: e2e-secret\r\nEvents: off\r\n\r\n"
             "%sActionID: ask-1\r\n\r\n", action);
    e2e_send_all(fd, req);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        buf[len] = '\0';
        const char *hit = strstr(buf, until);
        if (hit && strstr(hit, "\r\n\r\n"))
            break;
        int left = (int)(deadline - clk_mono_ms());
        if (left <= 0)
            fail_msg("pbxsim gave no '%s' to %s; got: %.2000s", until, action, buf);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        if (len + 4096 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            fail_msg("pbxsim closed the AMI connection; got: %.2000s", buf);
        len += (size_t)r;
    }
    close(fd);
    return buf;
}

/* The QueueMember block of interface in queue (malloc'ed), or NULL when it is not a member. */
static char *queue_member(fixture_t *f, const char *queue, const char *iface)
{
    char act[256];
    snprintf(act, sizeof(act), "Action: QueueStatus\r\nQueue: %s\r\n", queue);
    char *all = ami_ask(f, act, "QueueStatusComplete");
    char needle[160];
    snprintf(needle, sizeof(needle), "Location: %s\r\n", iface);
    char *hit = strstr(all, needle);
    char *out = NULL;
    if (!hit) {
        snprintf(needle, sizeof(needle), "Interface: %s\r\n", iface);
        hit = strstr(all, needle);
    }
    if (hit) {
        char *start = hit;
        while (start > all && strncmp(start, "Event: QueueMember", 18) != 0)
            start--;
        char *end = strstr(hit, "\r\n\r\n");
        out = strndup(start, (size_t)((end ? end : hit + strlen(hit)) - start));
    }
    free(all);
    return out;
}

/* Waits until the member's block contains want (or, want NULL, until it is not a member). */
static void wait_member(fixture_t *f, const char *queue, const char *iface, const char *want)
{
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        char *m = queue_member(f, queue, iface);
        bool ok = want ? m && strstr(m, want) : m == NULL;
        if (ok) {
            free(m);
            return;
        }
        if (clk_mono_ms() > deadline)
            fail_msg("queue %s member %s: wanted %s; have %s", queue, iface, want ? want : "absent",
                     m ? m : "(not a member)");
        free(m);
        ccd_test_sleep_ms(50);
    }
}

/* The first column of the first row of a query on the engine's database, as an integer
 * (-1 when there is no row or it is NULL). */
static long long sql_int(fixture_t *f, const char *query)
{
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    if (db__connect(&f->e.cf.database, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    if (mysql_query(my, query) != 0)
        fail_msg("%s: %s", query, mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    long long v = row && row[0] ? atoll(row[0]) : -1;
    if (res)
        mysql_free_result(res);
    mysql_close(my);
    return v;
}

/* Waits until query gives want (the call journal writes audit rows from the agent changes). */
static void wait_sql(fixture_t *f, const char *query, long long want)
{
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    long long v;
    while ((v = sql_int(f, query)) != want) {
        if (clk_mono_ms() > deadline)
            fail_msg("%s gave %lld, wanted %lld", query, v, want);
        ccd_test_sleep_ms(50);
    }
}

static reg_agent_t agent_now(fixture_t *f, const char *number)
{
    reg_agent_t a;
    assert_int_equal(reg_agent_get(f->reg, number, &a), 0);
    return a;
}

/* ---- a customer in queue 8000, as the dialer places one ---- */

typedef struct call_arg {
    char uid[REG_UID_LEN];
    uint64_t id;
} call_arg_t;

static void apply_call_new(reg_txn_t *tx, void *arg)
{
    call_arg_t *ca = arg;
    reg_call_t *c = reg_txn_call_new(tx);
    c->type = REG_CALL_OUTGOING;
    c->status = REG_CS_PLACING;
    c->server = 0;
    c->t_originate_ms = clk_wall_ms();
    snprintf(c->phone, sizeof(c->phone), "4001");
    snprintf(c->action_id, sizeof(c->action_id), "%s", ca->uid);
    reg_txn_call_set_uniqueid(tx, c, ca->uid);
    reg_txn_call_touch(tx, c);
    ca->id = c->id;
}

/* Places a call the registry tracks (ChannelId = its uniqueid) into queue 8000; returns its
 * registry id once an agent took it. */
static uint64_t queue_call(fixture_t *f, const char *agent, const char *uid)
{
    call_arg_t *ca = calloc(1, sizeof(*ca));
    snprintf(ca->uid, sizeof(ca->uid), "%s", uid);
    assert_int_equal(reg_post(f->reg, apply_call_new, ca, NULL), 0);
    char act[512];
    snprintf(act, sizeof(act),
             "Action: Originate\r\nChannel: Local/4001@customers\r\nContext: dialer-queue\r\n"
             "Exten: 8000\r\nPriority: 1\r\nAsync: true\r\nChannelId: %s\r\n", uid);
    free(ami_ask(f, act, "Originate successfully queued"));
    char want[128];
    snprintf(want, sizeof(want), "<agent_number>%s</agent_number>", agent);
    wait_event(f, "<agentlinked>");
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        reg_agent_t a = agent_now(f, agent);
        if (a.call_id) {
            reg_call_t c;
            assert_int_equal(reg_call_get(f->reg, a.call_id, &c), 0);
            assert_string_equal(c.uniqueid, uid);
            free(ca);
            return a.call_id;
        }
        CCD_CHECK_DEADLINE(deadline, "the agent to be linked to the call");
        ccd_test_sleep_ms(20);
    }
}

/* ---- fixture ---- */

static int setup_on(void **state, fixture_t *f, const char *sock, const char *user,
                    const char *pw)
{
    const e2e_engine_opts_t o = {
        .db_prefix = "ccd_ags",
        .conf_name = "agents.conf",
        .conf_extra = "[dialer]\ndefault_context = transfer-target\n"
                      "[agents]\nphone_context = phones\nlogin_ring_timeout = 5\n",
        .time_scale = 5, /* a 5 s login ring is 1 s; a 45 s parking space 9 s */
        .socket = sock,
        .user = user,
        .password = pw,
    };
    e2e_engine_start(&f->e, &o);
    db_t *db;
    eccp_server_t *eccp;
    svc_parts(f->e.svc, &f->reg, &f->ami, &db, &eccp);
    CCD_WAIT_UNTIL(ami_server_state(f->ami, 0) == AMI_STATE_UP, 30000);
    f->eccp = e2e_tcp_connect(svc_eccp_port(f->e.svc));
    char *r = eccp_request(f, "<login><username>agentconsole</username><password>agentconsole</password></login>");
    const char *ck = strstr(r, "<app_cookie>");
    assert_non_null(ck);
    snprintf(f->cookie, sizeof(f->cookie), "%.32s", ck + strlen("<app_cookie>"));
    free(r);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    return setup_on(state, f, e2e_env_or_fail("CCD_TEST_DB_SOCKET"), e2e_env_or_fail("CCD_TEST_DB_USER"),
                    e2e_env_or_fail("CCD_TEST_DB_PASSWORD"));
}

/* The engine on a mariadbd of the test's own, which the test stops and starts. */
static int setup_own_db(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dbt_server_start(&f->own_db);
    conf_database_t c;
    dbt_server_cfg(&f->own_db, &c, "x");
    return setup_on(state, f, c.socket, c.user, c.password);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close(f->eccp);
    /* a mariadbd of the test's own goes whole; the shared one loses this test's database */
    bool own = f->own_db.dir[0] != '\0';
    e2e_engine_stop(&f->e, !own);
    if (own)
        dbt_server_destroy(&f->own_db);
    free(f);
    return 0;
}

static bool sim_agents_in(const pbxsim_state_t *st, void *ctx)
{
    return st->agents_logged_in == *(uint32_t *)ctx;
}

static void login_9000(fixture_t *f)
{
    agent_req(f, "loginagent", "Agent/9000", "eccp9000", "<extension>1001</extension>",
              "<status>logging</status>");
    wait_event(f, "<agentloggedin><agent>Agent/9000</agent></agentloggedin>");
    assert_int_equal(agent_now(f, "Agent/9000").login, REG_LOGGED_IN);
    uint32_t one = 1;
    assert_int_equal(pbxsim_wait(f->e.sim, sim_agents_in, &one, WAIT_MAX_MS), 0);
    /* available only when Asterisk says so: after app_agent_pool's probation */
    CCD_WAIT_UNTIL(agent_now(f, "Agent/9000").ready_ms != 0, 30000);
}

/* ---- the flows ---- */

/* loginagent of Agent/N: Originate into the login context, AgentLogin, agentloggedin; the same
 * extension again answers the state; another extension 409; logoutagent: AgentLogoff. */
static void test_login_logout_pool_agent(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    reg_agent_t a = agent_now(f, "Agent/9000");
    assert_string_equal(a.extension, "1001");
    agent_req(f, "loginagent", "Agent/9000", "eccp9000", "<extension>1001</extension>",
              "<status>logged-in</status>");
    agent_req(f, "loginagent", "Agent/9000", "eccp9000", "<extension>1002</extension>",
              "<code>409</code>");
    char *r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(r, "<status>online</status>"));
    free(r);

    agent_req(f, "logoutagent", "Agent/9000", "eccp9000", NULL, "<status>logged-out</status>");
    wait_event(f, "<agentloggedout><agent>Agent/9000</agent></agentloggedout>");
    uint32_t zero = 0;
    assert_int_equal(pbxsim_wait(f->e.sim, sim_agents_in, &zero, WAIT_MAX_MS), 0);
    assert_int_equal(agent_now(f, "Agent/9000").login, REG_LOGGED_OUT);
    /* the answer to a logged-out agent is its state */
    agent_req(f, "logoutagent", "Agent/9000", "eccp9000", NULL, "<status>logged-out</status>");
}

/* The agent's phone does not answer (pbxsim's 19XX): the Originate fails and the console
 * gets agentfailedlogin; the agent is logged out and can try again. */
static void test_login_phone_not_answered(void **state)
{
    fixture_t *f = *state;
    agent_req(f, "loginagent", "Agent/9001", "eccp9001", "<extension>1901</extension>",
              "<status>logging</status>");
    wait_event(f, "<agentfailedlogin><agent>Agent/9001</agent></agentfailedlogin>");
    reg_agent_t a = agent_now(f, "Agent/9001");
    assert_int_equal(a.login, REG_LOGGED_OUT);
    assert_string_equal(a.extension, "");
    /* the service counts it when it reads the same registry change (its own thread) */
    ags_stats_t st;
    CCD_WAIT((ags_get_stats(svc_agents(f->e.svc), &st), st.logins_failed == 1));
    assert_int_equal(st.logins_ok, 0);
    /* and a second attempt on a phone that answers works */
    agent_req(f, "loginagent", "Agent/9001", "eccp9001", "<extension>1003</extension>",
              "<status>logging</status>");
    wait_event(f, "<agentloggedin><agent>Agent/9001</agent></agentloggedin>");
}

/* A dynamic agent: QueueAdd to the queues ccd_agent_queue lists, with their penalties;
 * logout removes it from all of them. */
static void test_dynamic_agent(void **state)
{
    fixture_t *f = *state;
    agent_req(f, "loginagent", "SIP/1001", "eccp1001", "<extension>1001</extension>",
              "<status>logging</status>");
    wait_event(f, "<agentloggedin><agent>SIP/1001</agent></agentloggedin>");
    wait_member(f, "8001", "SIP/1001", "Penalty: 0");
    wait_member(f, "8000", "SIP/1001", "Penalty: 5");
    CCD_WAIT(agent_now(f, "SIP/1001").nqueues == 2);
    agent_req(f, "logoutagent", "SIP/1001", "eccp1001", NULL, "<status>logged-out</status>");
    wait_event(f, "<agentloggedout><agent>SIP/1001</agent></agentloggedout>");
    wait_member(f, "8001", "SIP/1001", NULL);
    wait_member(f, "8000", "SIP/1001", NULL);
}

/* Breaks: QueuePause with the break's name across the agent's queues, pausestart/pauseend;
 * a second break is incompatible; unpause also ends a pause set on the phone system. */
static void test_pause_unpause(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>2</pause_type>", "<success/>");
    wait_event(f, "<pause_name>Lunch</pause_name>");
    reg_agent_t a = agent_now(f, "Agent/9000");
    assert_int_equal(a.break_id, 2);
    assert_string_equal(a.break_name, "Lunch");
    assert_true(a.break_start_ms > 0);
    wait_member(f, "8000", "Local/9000@agents", "PausedReason: Lunch");
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>3</pause_type>",
              "<code>417</code>");
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>2</pause_type>", "<success/>");
    char *r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(r, "<status>paused</status>"));
    free(r);

    agent_req(f, "unpauseagent", "Agent/9000", "eccp9000", NULL, "<success/>");
    wait_event(f, "<pauseend>");
    assert_int_equal(agent_now(f, "Agent/9000").break_id, 0);
    wait_member(f, "8000", "Local/9000@agents", "Paused: 0");
    /* the call journal wrote the session and the break from the registry's changes */
    wait_sql(f, "SELECT COUNT(*) FROM audit WHERE id_agent = 1 AND id_break = 2 AND "
                "datetime_end IS NOT NULL", 1);
    wait_sql(f, "SELECT COUNT(*) FROM audit WHERE id_agent = 1 AND id_break IS NULL AND "
                "datetime_end IS NULL", 1);

    /* paused on the phone system: the registry shows break -1; unpauseagent ends it */
    free(ami_ask(f, "Action: QueuePause\r\nInterface: Local/9000@agents\r\nPaused: true\r\n"
                    "Reason: phone\r\n", "Response:"));
    CCD_WAIT(agent_now(f, "Agent/9000").break_id == -1);
    agent_req(f, "unpauseagent", "Agent/9000", "eccp9000", NULL, "<success/>");
    CCD_WAIT(agent_now(f, "Agent/9000").break_id == 0);
    wait_member(f, "8000", "Local/9000@agents", "Paused: 0");
}

/* Hold parks the customer and pauses the agent; unhold brings the customer back to the
 * agent through the parking space; then the agent hangs up through ECCP. */
static void test_hold_unhold_hangup(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    agent_req(f, "hold", "Agent/9000", "eccp9000", NULL, "<code>417</code>"); /* not in call */
    uint64_t call = queue_call(f, "Agent/9000", "ags-hold-1");

    agent_req(f, "hold", "Agent/9000", "eccp9000", NULL, "<success/>");
    wait_event(f, "<pause_class>hold</pause_class>");
    reg_agent_t a = agent_now(f, "Agent/9000");
    assert_true(a.on_hold);
    assert_int_equal(a.call_id, call);
    reg_call_t c;
    assert_int_equal(reg_call_get(f->reg, call, &c), 0);
    assert_int_equal(c.status, REG_CS_ONHOLD);
    wait_member(f, "8000", "Local/9000@agents", "PausedReason: Hold");
    char *parked = ami_ask(f, "Action: ParkedCalls\r\n", "ParkedCallsComplete");
    assert_non_null(strstr(parked, "ParkeeUniqueid: ags-hold-1"));
    free(parked);
    agent_req(f, "hold", "Agent/9000", "eccp9000", NULL, "<code>417</code>"); /* already */

    /* unhold: until ParkedCall has told the space it may be refused; retry until it is not */
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        char h[64], body[512];
        eccp_agent_hash(f->cookie, "Agent/9000", "eccp9000", h);
        snprintf(body, sizeof(body), "<unhold><agent_number>Agent/9000</agent_number><agent_hash>%s"
                                     "</agent_hash></unhold>", h);
        char *r = eccp_request(f, body);
        bool ok = strstr(r, "<success/>") != NULL;
        if (!ok && !strstr(r, "parking space unknown"))
            fail_msg("unhold: %s", r);
        free(r);
        if (ok)
            break;
        CCD_CHECK_DEADLINE(deadline, "the parking space to be known");
        ccd_test_sleep_ms(50);
    }
    wait_event(f, "<pauseend>");
    CCD_WAIT(!agent_now(f, "Agent/9000").on_hold);
    assert_int_equal(reg_call_get(f->reg, call, &c), 0);
    assert_int_equal(c.status, REG_CS_SUCCESS);
    wait_member(f, "8000", "Local/9000@agents", "Paused: 0");
    /* the hold's audit row (break 1, tipo H in the schema), closed */
    wait_sql(f, "SELECT COUNT(*) FROM audit a JOIN break b ON b.id = a.id_break WHERE "
                "a.id_agent = 1 AND b.tipo = 'H' AND a.datetime_end IS NOT NULL", 1);

    agent_req(f, "hangup", "Agent/9000", "eccp9000", NULL, "<success/>");
    wait_event(f, "<agentunlinked>");
    CCD_WAIT(agent_now(f, "Agent/9000").call_id == 0);
}

/* Recording mute with a timeout: the agent service unmutes by itself (its counter moves);
 * transfercall redirects the customer to the transfer context. */
static void test_mute_timer_and_transfer(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    uint64_t call = queue_call(f, "Agent/9000", "ags-mute-1");
    reg_call_t c;
    assert_int_equal(reg_call_get(f->reg, call, &c), 0);
    char act[512];
    snprintf(act, sizeof(act), "Action: MixMonitor\r\nChannel: %s\r\nFile: ags-mute-1.wav\r\n",
             c.channel);
    free(ami_ask(f, act, "Response:"));
    /* the VarSet of MIXMONITOR_FILENAME passed the engine's AMI filter and gave the call its
     * file (docs/ami.md, "Recordings") */
    CCD_WAIT(reg_call_get(f->reg, call, &c) == 0 && c.nrecordings == 1 &&
             strcmp(c.recording, "ags-mute-1.wav") == 0);
    agent_req(f, "mixmonitormute", "Agent/9000", "eccp9000", "<timeout>1</timeout>", "<success/>");
    wait_event(f, "<recordingmute>");
    /* the service unmutes by itself after 1 s, and the console hears of it */
    wait_event(f, "<recordingunmute>");
    ags_stats_t st;
    ags_get_stats(svc_agents(f->e.svc), &st);
    assert_int_equal(st.auto_unmutes, 1);

    agent_req(f, "transfercall", "Agent/9000", "eccp9000", "<extension>1005</extension>",
              "<success/>");
    /* the customer left the agent (Redirect): the agent is free again */
    wait_event(f, "<agentunlinked>");
    CCD_WAIT(agent_now(f, "Agent/9000").call_id == 0);
    agent_req(f, "transfercall", "Agent/9000", "eccp9000", "<extension>1005</extension>",
              "<code>417</code>");
}

/* What Issabel's ECCP client class (modules/agent_console/libs/ECCP.class.php) sends, byte for
 * byte: SimpleXMLElement::asXML() of <request id="N"><NAME>...</NAME></request> (an XML
 * declaration, a newline, the element, a newline), the password md5'ed, children in the class's
 * order; the class throws on a top-level <failure> and reads NAME_response. */
static void issabel(fixture_t *f, const char *name, const char *children, const char *want)
{
    char body[2048], tag[96];
    snprintf(body, sizeof(body), "<%s>%s</%s>", name, children, name);
    char *r = eccp_request_as(f, "<?xml version=\"1.0\"?>\n", body);
    snprintf(tag, sizeof(tag), "<%s_response>", name);
    if (strstr(r, "<response") != r || strstr(r, "\"><failure>") || !strstr(r, tag) ||
        !strstr(r, want))
        fail_msg("the Issabel client would not take the answer to %s (wanted %s): %s", name, want, r);
    free(r);
}

static void issabel_agent(fixture_t *f, const char *name, const char *more, const char *want)
{
    char h[64], children[1024];
    eccp_agent_hash(f->cookie, "Agent/9000", "eccp9000", h);
    snprintf(children, sizeof(children), "<agent_number>Agent/9000</agent_number><agent_hash>%s"
                                          "</agent_hash>%s", h, more ? more : "");
    issabel(f, name, children, want);
}

/* The console sequence of Issabel's class works unchanged: login (md5 password), loginagent
 * with a timeout, pauseagent, unpauseagent, hold, unhold, transfercall, logoutagent, with the
 * events the class reads. */
static void test_issabel_client_requests(void **state)
{
    fixture_t *f = *state;
    close(f->eccp);
    f->eccp = e2e_tcp_connect(svc_eccp_port(f->e.svc));
    f->inlen = 0;
    /* md5("agentconsole"): the class sends the digest, never the password */
    char *r = eccp_request_as(f, "<?xml version=\"1.0\"?>\n",
                              "<login><username>agentconsole</username><password>"
                              "7e53aa92f7566f44f39f3f1842832581</password></login>");
    const char *ck = strstr(r, "<app_cookie>");
    assert_non_null(ck);
    snprintf(f->cookie, sizeof(f->cookie), "%.32s", ck + strlen("<app_cookie>"));
    free(r);
    issabel(f, "filterbyagent", "<agent_number>Agent/9000</agent_number>", "<success/>");
    issabel_agent(f, "loginagent", "<extension>1001</extension><timeout>900</timeout>",
                  "<status>logging</status>");
    wait_event(f, "<agentloggedin><agent>Agent/9000</agent></agentloggedin>");
    issabel_agent(f, "pauseagent", "<pause_type>2</pause_type>", "<success/>");
    wait_event(f, "<pausestart>");
    issabel_agent(f, "unpauseagent", NULL, "<success/>");
    wait_event(f, "<pauseend>");
    CCD_WAIT_UNTIL(agent_now(f, "Agent/9000").ready_ms != 0, 30000);
    queue_call(f, "Agent/9000", "ags-php-1");
    issabel_agent(f, "hold", NULL, "<success/>");
    wait_event(f, "<pause_class>hold</pause_class>");
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) { /* the class would show the 500 and the agent click again */
        char h[64], body[512];
        eccp_agent_hash(f->cookie, "Agent/9000", "eccp9000", h);
        snprintf(body, sizeof(body), "<unhold><agent_number>Agent/9000</agent_number><agent_hash>%s"
                                     "</agent_hash></unhold>", h);
        r = eccp_request_as(f, "<?xml version=\"1.0\"?>\n", body);
        bool ok = strstr(r, "<success/>") != NULL;
        free(r);
        if (ok)
            break;
        CCD_CHECK_DEADLINE(deadline, "the parking space to be known");
        ccd_test_sleep_ms(50);
    }
    wait_event(f, "<pauseend>");
    issabel_agent(f, "transfercall", "<extension>1005</extension>", "<success/>");
    wait_event(f, "<agentunlinked>");
    issabel_agent(f, "logoutagent", NULL, "<status>logged-out</status>");
    wait_event(f, "<agentloggedout><agent>Agent/9000</agent></agentloggedout>");
    issabel(f, "logout", "", "<success/>");
}

/* MariaDB goes away while an agent is on a break: the engine keeps the agent paused (registry
 * and Asterisk), keeps answering what needs no database, refuses what does with the database
 * error, and once the server is back the same console ends the break. */
static void test_database_away_during_break(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>2</pause_type>", "<success/>");
    wait_event(f, "<pausestart>");
    dbt_server_stop(&f->own_db);

    char *r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(r, "<status>paused</status>"));
    free(r);
    assert_int_equal(agent_now(f, "Agent/9000").break_id, 2);
    wait_member(f, "8000", "Local/9000@agents", "PausedReason: Lunch");
    /* the agent check needs the database: refused with its error, nothing changes */
    agent_req(f, "unpauseagent", "Agent/9000", "eccp9000", NULL, "<code>500</code>");
    assert_int_equal(agent_now(f, "Agent/9000").break_id, 2);

    dbt_server_up(&f->own_db);
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) { /* until the readers have their connections again */
        char h[64], body[512];
        eccp_agent_hash(f->cookie, "Agent/9000", "eccp9000", h);
        snprintf(body, sizeof(body), "<unpauseagent><agent_number>Agent/9000</agent_number>"
                                     "<agent_hash>%s</agent_hash></unpauseagent>", h);
        r = eccp_request(f, body);
        bool ok = strstr(r, "<success/>") != NULL;
        free(r);
        if (ok)
            break;
        CCD_CHECK_DEADLINE(deadline, "unpauseagent to work again after the database came back");
        ccd_test_sleep_ms(100);
    }
    wait_event(f, "<pauseend>");
    assert_int_equal(agent_now(f, "Agent/9000").break_id, 0);
    wait_member(f, "8000", "Local/9000@agents", "Paused: 0");
}

/* The transfer target is busy (pbxsim's 18XX): Asterisk accepted the Redirect, so the
 * console gets success (as from Issabel); the agent is free at once and the customer's call
 * ends when the busy Dial returns. */
static void test_transfer_target_busy(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    uint64_t call = queue_call(f, "Agent/9000", "ags-busy-1");
    agent_req(f, "transfercall", "Agent/9000", "eccp9000", "<extension>1801</extension>",
              "<success/>");
    wait_event(f, "<agentunlinked>");
    CCD_WAIT(agent_now(f, "Agent/9000").call_id == 0);
    reg_call_t c;
    CCD_WAIT(reg_call_get(f->reg, call, &c) == 0 && c.status == REG_CS_HANGUP);
    /* the agent takes the next call */
    queue_call(f, "Agent/9000", "ags-busy-2");
}

/* The agent hangs up its phone while on a call: Asterisk logs it off; the call ends and the
 * console sees the agent unlinked and logged out, not left on a call or paused. */
static void test_agent_hangs_up_mid_call(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>2</pause_type>", "<success/>");
    agent_req(f, "unpauseagent", "Agent/9000", "eccp9000", NULL, "<success/>");
    queue_call(f, "Agent/9000", "ags-hup-1");
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>3</pause_type>", "<success/>");
    reg_agent_t a = agent_now(f, "Agent/9000");
    assert_true(a.channel[0]);
    char act[512];
    snprintf(act, sizeof(act), "Action: Hangup\r\nChannel: %s\r\n", a.channel);
    free(ami_ask(f, act, "Response:"));
    wait_event(f, "<agentloggedout><agent>Agent/9000</agent></agentloggedout>");
    wait_event(f, "<pauseend>"); /* the break ended with the session */
    CCD_WAIT(agent_now(f, "Agent/9000").login == REG_LOGGED_OUT);
    /* its member stays in queue 8000 (app_agent_pool); the service unpaused it there */
    wait_member(f, "8000", "Local/9000@agents", "Paused: 0");
    CCD_WAIT(agent_now(f, "Agent/9000").break_id == 0);
    assert_false(agent_now(f, "Agent/9000").on_hold);
}

/* Asterisk restarts with one agent on a call on hold and another on a break: after the
 * resync nobody is left logged in, on a call or paused; the consoles got the events. */
static void test_asterisk_restart(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    agent_req(f, "loginagent", "Agent/9001", "eccp9001", "<extension>1002</extension>",
              "<status>logging</status>");
    wait_event(f, "<agentloggedin><agent>Agent/9001</agent></agentloggedin>");
    agent_req(f, "pauseagent", "Agent/9001", "eccp9001", "<pause_type>2</pause_type>", "<success/>");
    uint64_t call = queue_call(f, "Agent/9000", "ags-rst-1");
    agent_req(f, "hold", "Agent/9000", "eccp9000", NULL, "<success/>");
    assert_int_equal(pbxsim_restart(f->e.sim), 0);
    wait_event(f, "<agentloggedout><agent>Agent/9000</agent></agentloggedout>");
    wait_event(f, "<agentloggedout><agent>Agent/9001</agent></agentloggedout>");
    const char *who[] = {"Agent/9000", "Agent/9001"};
    for (int i = 0; i < 2; i++) {
        /* the new Asterisk's queues (resync) have nobody paused */
        CCD_WAIT(agent_now(f, who[i]).break_id == 0);
        reg_agent_t a = agent_now(f, who[i]);
        assert_int_equal(a.login, REG_LOGGED_OUT);
        assert_false(a.on_hold);
    }
    CCD_WAIT(agent_now(f, "Agent/9000").call_id == 0);
    reg_call_t c;
    if (reg_call_get(f->reg, call, &c) == 0)
        assert_true(c.status == REG_CS_LOST || c.status == REG_CS_HANGUP);
    /* and the agents can log in again on the new Asterisk */
    CCD_WAIT_UNTIL(ami_server_state(f->ami, 0) == AMI_STATE_UP, 30000);
    login_9000(f);
}

/* The AMI connection drops (Asterisk keeps running): after the reconnect and resync the agent
 * is still logged in and on its break, the service paused its member again (its counter), and
 * refreshagents keeps the logged-in agent. */
static void test_ami_reconnect_keeps_break(void **state)
{
    fixture_t *f = *state;
    login_9000(f);
    agent_req(f, "pauseagent", "Agent/9000", "eccp9000", "<pause_type>2</pause_type>", "<success/>");
    wait_event(f, "<pausestart>");
    ami_stats_t as;
    ami_get_stats(f->ami, 0, &as);
    uint64_t connects = as.connects;
    assert_int_equal(pbxsim_drop_connections(f->e.sim), 0);
    CCD_WAIT((ami_get_stats(f->ami, 0, &as), as.connects > connects));
    CCD_WAIT(ami_server_state(f->ami, 0) == AMI_STATE_UP);
    ags_stats_t st;
    CCD_WAIT((ags_get_stats(svc_agents(f->e.svc), &st), st.breaks_restored == 1));
    reg_agent_t a = agent_now(f, "Agent/9000");
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_int_equal(a.break_id, 2);
    wait_member(f, "8000", "Local/9000@agents", "PausedReason: Lunch");
    char *r = eccp_request(f, "<refreshagents/>");
    assert_non_null(strstr(r, "<success/>"));
    free(r);
    r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(r, "<status>paused</status>"));
    free(r);
    agent_req(f, "unpauseagent", "Agent/9000", "eccp9000", NULL, "<success/>");
    wait_event(f, "<pauseend>");
}

/* Inactivity: loginagent's timeout logs an idle agent out; pingagent keeps it. */
static void test_inactivity_timeout(void **state)
{
    fixture_t *f = *state;
    agent_req(f, "loginagent", "Agent/9002", "eccp9002",
              "<extension>1004</extension><timeout>1</timeout>", "<status>logging</status>");
    wait_event(f, "<agentloggedin><agent>Agent/9002</agent></agentloggedin>");
    wait_event(f, "<agentloggedout><agent>Agent/9002</agent></agentloggedout>");
    ags_stats_t st;
    ags_get_stats(svc_agents(f->e.svc), &st);
    assert_int_equal(st.inactivity_logouts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_logout_pool_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_phone_not_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dynamic_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_unpause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_unhold_hangup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mute_timer_and_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transfer_target_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_hangs_up_mid_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asterisk_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inactivity_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ami_reconnect_keeps_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issabel_client_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_away_during_break, setup_own_db, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
