/*
 * End to end: the whole engine in-process (services.c) against pbxsim and
 * the private MariaDB that scripts/test.sh starts.  An ECCP console logs in
 * over TCP, sees an agent log in on the PBX (event + status), and sees the
 * agent logged off again when the PBX restarts (resync).  Incoming callers,
 * made by the test itself on the PBX (not by the engine), are followed on the
 * watched queue 8000 (seeded in queue_call_entry with campaign_entry 1) and
 * ignored on 8001: linked, abandoned, and through a PBX restart.
 *
 * No timing assertions: every wait is "until the condition holds", bounded
 * only so that a broken build fails instead of hanging.
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

#include "conf/conf.h"
#include "core/clock.h"
#include "core/log.h"
#include "daemon/services.h"
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "test/common/ccd_test.h"
#include "test/daemon/e2e_engine.h"
#include "tools/pbxsim/pbxsim.h"

/* One wait's bound, scaled by CCD_TEST_TIMEOUT_MULTIPLIER. */
#define WAIT_MAX_MS ccd_test_timeout_ms(60000)

typedef struct fixture {
    e2e_engine_t e;
    int eccp; /* console socket */
    char inbuf[1 << 20];
    size_t inlen;
    int next_id;
} fixture_t;

/* Reads until needle appears in the console's input; returns a pointer to it. */
static const char *eccp_wait_for(fixture_t *f, const char *needle)
{
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        f->inbuf[f->inlen] = '\0';
        const char *hit = strstr(f->inbuf, needle);
        if (hit)
            return hit;
        int left = (int)(deadline - clk_mono_ms());
        if (left <= 0)
            fail_msg("no '%s' from the ECCP server; got: %.2000s", needle, f->inbuf);
        struct pollfd p = {.fd = f->eccp, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        assert_true(f->inlen < sizeof(f->inbuf) - 1);
        ssize_t r = read(f->eccp, f->inbuf + f->inlen, sizeof(f->inbuf) - 1 - f->inlen);
        if (r <= 0)
            fail_msg("ECCP connection closed; got: %.2000s", f->inbuf);
        f->inlen += (size_t)r;
    }
}

/* Sends a request and returns a malloc'ed copy of its whole response document. */
static char *eccp_request(fixture_t *f, const char *body)
{
    char req[2048], open_tag[64];
    int id = ++f->next_id;
    snprintf(req, sizeof(req), "<request id=\"%d\">%s</request>\n", id, body);
    snprintf(open_tag, sizeof(open_tag), "<response id=\"%d\">", id);
    e2e_send_all(f->eccp, req);
    const char *start = eccp_wait_for(f, open_tag);
    size_t off = (size_t)(start - f->inbuf);
    const char *end;
    while (!(end = strstr(f->inbuf + off, "</response>")))
        eccp_wait_for(f, "</response>"), start = f->inbuf + off;
    end += strlen("</response>");
    char *doc = strndup(start, (size_t)(end - start));
    /* Drop this response from the buffer; keep events that arrived around it. */
    memmove(f->inbuf + off, end, f->inlen - (size_t)(end - f->inbuf));
    f->inlen -= (size_t)(end - start);
    return doc;
}

/* Sends one Originate (its headers, without the final empty line) on a connection of its
 * own, as another AMI client of the PBX would, and returns once the PBX accepted it. */
static void ami_originate(uint16_t port, const char *headers)
{
    int fd = e2e_tcp_connect(port);
    e2e_send_all(fd, "Action: Login\r\nUsername: e2e\r\nSecret: e2e-secret\r\n\r\n"
                 "Action: Originate\r\n");
    e2e_send_all(fd, headers);
    e2e_send_all(fd, "Async: true\r\n\r\n");
    /* Keep the connection until the originate is accepted, then let it go. */
    char buf[4096];
    size_t len = 0;
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        CCD_CHECK_DEADLINE(deadline, "the PBX to accept the login originate");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            fail_msg("the PBX closed the AMI connection before accepting the originate");
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "Originate successfully queued"))
            break;
        if (len > sizeof(buf) / 2) { /* events: keep only the tail */
            memmove(buf, buf + len - 64, 64);
            len = 64;
        }
    }
    close(fd);
}

static void ami_originate_login(uint16_t port)
{
    ami_originate(port, "ActionID: e2e-login\r\nChannel: Local/1001@phones\r\n"
                        "Context: agent-login\r\nExten: 9000\r\nPriority: 1\r\n");
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    const e2e_engine_opts_t o = {.db_prefix = "ccd_e2e", .conf_name = "e2e.conf"};
    e2e_engine_start(&f->e, &o);
    f->eccp = e2e_tcp_connect(svc_eccp_port(f->e.svc));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close(f->eccp);
    e2e_engine_stop(&f->e, true);
    free(f);
    return 0;
}

static void test_console_follows_agent_through_pbx_restart(void **state)
{
    fixture_t *f = *state;

    /* Before login: 401 at the top level. */
    char *r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(r, "<code>401</code>"));
    free(r);

    r = eccp_request(f, "<login><username>agentconsole</username><password>agentconsole</password></login>");
    assert_non_null(strstr(r, "<success/>"));
    assert_non_null(strstr(r, "<app_cookie>"));
    free(r);

    /* The agent list was loaded from the database at startup: known, offline. */
    r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(r, "<status>offline</status>"));
    assert_null(strstr(r, "<failure>"));
    free(r);

    /* The agent logs in on the PBX: the console gets the event, and the status follows. */
    ami_originate_login(pbxsim_port(f->e.sim));
    eccp_wait_for(f, "<agentloggedin><agent>Agent/9000</agent></agentloggedin>");
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
        bool online = strstr(r, "<status>online</status>") != NULL;
        if (online) {
            assert_non_null(strstr(r, "<extension>1001</extension>"));
            free(r);
            break;
        }
        free(r);
        CCD_CHECK_DEADLINE(deadline, "the agent status to follow");
        ccd_test_sleep_ms(50);
    }

    /* The PBX restarts: every agent is logged off there, and the engine's resync follows. */
    assert_int_equal(pbxsim_restart(f->e.sim), 0);
    eccp_wait_for(f, "<agentloggedout><agent>Agent/9000</agent></agentloggedout>");
    deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        r = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
        bool offline = strstr(r, "<status>offline</status>") != NULL;
        free(r);
        if (offline)
            break;
        CCD_CHECK_DEADLINE(deadline, "the agent status to follow");
        ccd_test_sleep_ms(50);
    }

    /* Bad input on one session does not disturb the engine: a malformed packet gets 400 and
     * that session is closed, a new console still works. */
    e2e_send_all(f->eccp, "<request id=\"x\"><getpauses></getpause></request>\n");
    eccp_wait_for(f, "<code>400</code>");
    close(f->eccp);
    f->eccp = e2e_tcp_connect(svc_eccp_port(f->e.svc));
    f->inlen = 0;
    r = eccp_request(f, "<login><username>agentconsole</username><password>agentconsole</password></login>");
    assert_non_null(strstr(r, "<success/>"));
    free(r);
    r = eccp_request(f, "<getpauses/>");
    assert_non_null(strstr(r, "<name>Lunch</name>"));
    free(r);
}

/* ---- incoming calls ---- */

/* A caller of queue `queue` (made by the test, not the engine): Local/<n>@customers answers
 * after ring_s, joins the queue, hangs up talk_s after answering. */
static void incoming_call(fixture_t *f, unsigned n, const char *queue, const char *callerid,
                          int ring_s, int talk_s)
{
    char h[512];
    snprintf(h, sizeof(h),
             "Channel: Local/%u@customers\r\nContext: dialer-queue\r\nExten: %s\r\n"
             "Priority: 1\r\nCallerID: <%s>\r\nVariable: RING=%d\r\nVariable: TALK=%d\r\n",
             n, queue, callerid, ring_s, talk_s);
    ami_originate(pbxsim_port(f->e.sim), h);
}

static reg_t *engine_reg(fixture_t *f)
{
    reg_t *r = NULL;
    struct ami *ami;
    struct db *db;
    struct eccp_server *eccp;
    svc_parts(f->e.svc, &r, &ami, &db, &eccp);
    assert_non_null(r);
    return r;
}

/* The calls with this phone number: how many, the last one in *out. */
static size_t calls_of_phone(reg_t *r, const char *phone, reg_call_t *out)
{
    reg_call_t *all;
    size_t n, k = 0;
    assert_int_equal(reg_call_list(r, &all, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].phone, phone) == 0) {
            k++;
            if (out)
                *out = all[i];
        }
    free(all);
    return k;
}

static bool ended(reg_call_status_e s)
{
    return s == REG_CS_HANGUP || s == REG_CS_ABANDONED || s == REG_CS_LOST;
}

/* Waits until the incoming call of this phone is in status st (any final one when
 * st is REG_CS_LOST and any_end); returns it. */
static reg_call_t wait_call(reg_t *r, const char *phone, reg_call_status_e st, bool any_end)
{
    reg_call_t c;
    memset(&c, 0, sizeof(c));
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        if (calls_of_phone(r, phone, &c) == 1 &&
            (any_end ? ended(c.status) : c.status == st))
            return c;
        if (clk_mono_ms() > deadline)
            fail_msg("call of %s: %zu calls, status %s, want %s", phone,
                     calls_of_phone(r, phone, NULL), reg_call_status_name(c.status),
                     any_end ? "an end" : reg_call_status_name(st));
        ccd_test_sleep_ms(20);
    }
}

/* The database as the journal left it: a query's rows, columns joined by '|', rows by '\n'. */
static char *db_dump(fixture_t *f, const char *sql)
{
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    if (db__connect(&f->e.cf.database, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    if (mysql_query(my, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my);
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    MYSQL_ROW row;
    unsigned nf = res ? mysql_num_fields(res) : 0;
    while (res && (row = mysql_fetch_row(res))) {
        for (unsigned i = 0; i < nf; i++) {
            const char *v = row[i] ? row[i] : "NULL";
            if (len + strlen(v) + 2 >= cap)
                out = realloc(out, cap *= 2);
            len += (size_t)sprintf(out + len, "%s%s", i ? "|" : "", v);
        }
        out[len++] = '\n';
        out[len] = '\0';
    }
    mysql_free_result(res);
    mysql_close(my);
    return out;
}

/* Waits until the query's rows are exactly want (the journal writes asynchronously). */
static void db_wait_rows(fixture_t *f, const char *sql, const char *want)
{
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        char *got = db_dump(f, sql);
        bool ok = strcmp(got, want) == 0;
        if (ok) {
            free(got);
            return;
        }
        if (clk_mono_ms() > deadline)
            fail_msg("%s\ngot:\n%swant:\n%s", sql, got, want);
        free(got);
        ccd_test_sleep_ms(50);
    }
}

static bool pbx_idle(const pbxsim_state_t *st, void *ctx)
{
    (void)ctx;
    return st->channels <= 2 && st->queue_callers == 0; /* the agent's phone legs stay */
}

static void test_incoming_calls(void **state)
{
    fixture_t *f = *state;
    reg_t *r = engine_reg(f);
    /* queue 8000, posted at startup before the AMI client starts (so applied before any
     * event); the registry thread applies it on its own time */
    int64_t deadline = clk_mono_ms() + WAIT_MAX_MS;
    while (reg_inbound_count(r) != 1) {
        CCD_CHECK_DEADLINE(deadline, "the watched queues to reach the registry");
        ccd_test_sleep_ms(10);
    }

    char *x = eccp_request(f, "<login><username>agentconsole</username><password>agentconsole"
                              "</password></login>");
    assert_non_null(strstr(x, "<success/>"));
    const char *ck = strstr(x, "<app_cookie>");
    assert_non_null(ck);
    char cookie[33], hash[33];
    snprintf(cookie, sizeof(cookie), "%.32s", ck + strlen("<app_cookie>"));
    free(x);
    eccp_agent_hash(cookie, "Agent/9000", "eccp9000", hash); /* the seed's ECCP password */
    ami_originate_login(pbxsim_port(f->e.sim));
    deadline = clk_mono_ms() + WAIT_MAX_MS;
    reg_agent_t a;
    while (reg_agent_get(r, "Agent/9000", &a) != 0 || !a.ready_ms) {
        CCD_CHECK_DEADLINE(deadline, "Agent/9000 to be ready on the PBX");
        ccd_test_sleep_ms(20);
    }

    /* A: linked to the agent, then the caller hangs up: ONQUEUE -> SUCCESS -> HANGUP */
    incoming_call(f, 5101, "8000", "5300", 0, 6);
    reg_call_t c = wait_call(r, "5300", REG_CS_SUCCESS, false);
    assert_int_equal(c.type, REG_CALL_INCOMING);
    assert_string_equal(c.agent, "Agent/9000");
    assert_string_equal(c.queue, "8000");
    assert_int_equal(c.queue_id, 1);
    assert_int_equal(c.campaign_id, 1);
    assert_true(c.t_queue_ms > 0 && c.t_link_ms >= c.t_queue_ms);
    /* a console sees the agent on that incoming call */
    x = eccp_request(f, "<getagentstatus><agent_number>Agent/9000</agent_number></getagentstatus>");
    assert_non_null(strstr(x, "<calltype>incoming</calltype>"));
    assert_non_null(strstr(x, "<callnumber>5300</callnumber>"));
    assert_non_null(strstr(x, "<campaign_id>1</campaign_id>"));
    free(x);
    /* the journal: call_entry activa with the contact that has the caller's number, the
     * agent's current_call_entry row, and the registry call gets the row's id */
    db_wait_rows(f, "SELECT e.status, e.id_agent, e.id_campaign, e.id_queue_call_entry, "
                    "e.id_contact, e.callerid, e.datetime_init IS NOT NULL, "
                    "c.id_call_entry = e.id, c.id_agent, c.ChannelClient LIKE 'Local/5101@%' "
                    "FROM call_entry e JOIN current_call_entry c ON c.uniqueid = e.uniqueid "
                    "WHERE e.callerid = '5300'",
                 "activa|1|1|1|1|5300|1|1|1|1\n");
    char *id_a = db_dump(f, "SELECT id FROM call_entry WHERE callerid = '5300'");
    deadline = clk_mono_ms() + WAIT_MAX_MS;
    for (;;) {
        c = wait_call(r, "5300", REG_CS_SUCCESS, false);
        if (c.db_call_id == atoll(id_a))
            break;
        CCD_CHECK_DEADLINE(deadline, "the registry call to get its call_entry id");
        ccd_test_sleep_ms(20);
    }
    /* the agent's console writes for this incoming call: its contact and a form */
    char req[1024];
    snprintf(req, sizeof(req),
             "<setcontact><agent_number>Agent/9000</agent_number><agent_hash>%s</agent_hash>"
             "<call_id>%s</call_id><contact_id>1</contact_id></setcontact>",
             hash, id_a);
    x = eccp_request(f, req);
    assert_non_null(strstr(x, "<success/>"));
    free(x);
    snprintf(req, sizeof(req),
             "<saveformdata><agent_number>Agent/9000</agent_number><agent_hash>%s</agent_hash>"
             "<campaign_type>incoming</campaign_type><call_id>%s</call_id><forms>"
             "<form id=\"1\"><field id=\"1\">Grace</field><field id=\"2\">Good</field></form>"
             "</forms></saveformdata>",
             hash, id_a);
    x = eccp_request(f, req);
    assert_non_null(strstr(x, "<success/>"));
    free(x);
    snprintf(req, sizeof(req),
             "SELECT id_form_field, value FROM form_data_recolected_entry WHERE id_call_entry = %s "
             "ORDER BY id_form_field", id_a);
    db_wait_rows(f, req, "1|Grace\n2|Good\n");
    free(id_a);
    x = eccp_request(f, "<getcampaignstatus><campaign_id>1</campaign_id>"
                        "<campaign_type>incoming</campaign_type></getcampaignstatus>");
    assert_null(strstr(x, "<failure>"));
    assert_non_null(strstr(x, "<callnumber>5300</callnumber>"));
    free(x);
    x = eccp_request(f, "<getincomingqueuestatus><queue>8000</queue></getincomingqueuestatus>");
    assert_null(strstr(x, "<failure>"));
    assert_non_null(strstr(x, "<agentchannel>Agent/9000</agentchannel>"));
    free(x);

    /* B on the queue nobody watches; C waits on 8000 while the agent talks, then gives up */
    incoming_call(f, 5102, "8001", "5301", 0, 1);
    incoming_call(f, 5103, "8000", "5302", 0, 1);
    c = wait_call(r, "5302", REG_CS_ABANDONED, false);
    assert_int_equal(c.type, REG_CALL_INCOMING);
    assert_true(c.agent[0] == 0 && c.t_link_ms == 0 && c.t_end_ms > 0);
    c = wait_call(r, "5300", REG_CS_HANGUP, false);
    assert_true(c.t_end_ms > 0);
    assert_true(reg_agent_get(r, "Agent/9000", &a) == 0 && a.call_id == 0);

    /* terminada with talk time, abandonada with wait time and no contact, nothing current,
     * and each one's progress rows; none for the caller of 8001 */
    db_wait_rows(f, "SELECT callerid, status, COALESCE(id_agent, 0), COALESCE(id_contact, 0), "
                    "COALESCE(duration > 0, -1), duration_wait IS NOT NULL, datetime_end IS NOT NULL "
                    "FROM call_entry ORDER BY id",
                 "5300|terminada|1|1|1|1|1\n5302|abandonada|0|0|-1|1|1\n");
    db_wait_rows(f, "SELECT e.callerid, p.new_status, p.id_campaign_incoming, "
                    "COALESCE(p.id_agent, 0) FROM call_progress_log p JOIN call_entry e "
                    "ON e.id = p.id_call_incoming ORDER BY p.id",
                 "5300|OnQueue|1|0\n5300|Success|1|1\n5302|OnQueue|1|0\n"
                 "5302|Abandoned|1|0\n5300|Hangup|1|1\n");
    db_wait_rows(f, "SELECT COUNT(*) FROM current_call_entry", "0\n");
    /* the day's activity counts the agent's incoming call on its queue */
    x = eccp_request(f, "<getagentactivitysummary/>");
    const char *in = strstr(x, "<agentchannel>Agent/9000</agentchannel>");
    assert_non_null(in);
    in = strstr(in, "<incoming>");
    assert_non_null(in);
    assert_true(strncmp(in, "<incoming><queue id=\"8000\"><sec_calls>", 38) == 0);
    assert_non_null(strstr(in, "<num_calls>1</num_calls></queue></incoming>"));
    free(x);

    /* D after B ended on the PBX: the registry applies one server's events in order, so
     * once D is known, B's join was applied too, and made no call */
    assert_int_equal(pbxsim_wait(f->e.sim, pbx_idle, NULL, WAIT_MAX_MS), 0);
    incoming_call(f, 5104, "8000", "5303", 0, 600);
    wait_call(r, "5303", REG_CS_SUCCESS, false);
    assert_int_equal(calls_of_phone(r, "5301", NULL), 0);

    /* E queued behind D, then the PBX restarts: neither stays queued or linked */
    incoming_call(f, 5105, "8000", "5304", 0, 600);
    wait_call(r, "5304", REG_CS_ONQUEUE, false);
    assert_int_equal(pbxsim_restart(f->e.sim), 0);
    c = wait_call(r, "5303", REG_CS_LOST, true);
    assert_true(c.t_end_ms > 0);
    c = wait_call(r, "5304", REG_CS_LOST, true);
    assert_true(c.t_end_ms > 0);
    deadline = clk_mono_ms() + WAIT_MAX_MS;
    while (reg_agent_get(r, "Agent/9000", &a) != 0 || a.call_id != 0 ||
           a.login != REG_LOGGED_OUT) {
        CCD_CHECK_DEADLINE(deadline, "Agent/9000 free and logged out after the restart");
        ccd_test_sleep_ms(20);
    }
    /* and in the database: both finished, no current_call_entry row left */
    db_wait_rows(f, "SELECT callerid, status, datetime_end IS NOT NULL FROM call_entry "
                    "WHERE callerid IN ('5303', '5304') ORDER BY id",
                 "5303|terminada|1\n5304|abandonada|1\n");
    db_wait_rows(f, "SELECT COUNT(*) FROM current_call_entry", "0\n");
    db_wait_rows(f, "SELECT COUNT(*) FROM call_entry WHERE callerid = '5301'", "0\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_console_follows_agent_through_pbx_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incoming_calls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
