/*
 * ECCP server over real TCP sockets, without a database: sessions, the
 * authentication decorators, every registry-backed request's shape, error
 * paths, events from registry changes (each of the 13 kinds), allow-list,
 * idle timeout and slow readers.  The registry runs on its own thread.
 */
#include <pthread.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "eccp/eccp.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define T_WAIT TCLI_WAIT_MS
#define DECL TCLI_DECL

typedef struct fx {
    reg_t *reg;
    eccp_server_t *srv;
    uint16_t port;
} fx_t;

static bool check_login(void *ctx, const char *u, const char *p)
{
    (void)ctx;
    return strcmp(u, "agentconsole") == 0 && strcmp(p, "agentconsole") == 0;
}

static fx_t *fx_start(void (*tweak)(conf_eccp_t *, eccp_deps_t *))
{
    fx_t *f = calloc(1, sizeof(*f));
    f->reg = reg_new(100000, NULL, 0);
    conf_t c;
    conf_defaults(&c);
    snprintf(c.eccp.bind, sizeof(c.eccp.bind), "127.0.0.1");
    c.eccp.port = 0;
    c.eccp.workers = 2;
    eccp_deps_t d = {.reg = f->reg, .login_check = check_login};
    if (tweak)
        tweak(&c.eccp, &d);
    char err[256];
    f->srv = eccp_server_new(&c.eccp, &d, err, sizeof(err));
    assert_non_null(f->srv);
    assert_int_equal(reg_start(f->reg), 0);
    assert_int_equal(eccp_server_start(f->srv), 0);
    f->port = eccp_server_port(f->srv);
    return f;
}

static void fx_stop(fx_t *f)
{
    /* The registry keeps pushing to the workers' queues until it stops (no unsubscribe). */
    reg_stop(f->reg);
    eccp_server_free(f->srv);
    reg_free(f->reg);
    free(f);
}

/* ---- registry helpers ---- */

/* Replaces an agent's state (call_id is kept when keep_call). */
static void apply_agent(reg_txn_t *tx, void *arg)
{
    reg_agent_t *src = arg;
    reg_agent_t *a = reg_txn_agent(tx, src->number, true);
    uint64_t v = a->version;
    *a = *src;
    a->version = v;
    reg_txn_agent_touch(tx, a);
}

static void set_agent(fx_t *f, const reg_agent_t *a)
{
    reg_agent_t *copy = malloc(sizeof(*copy));
    *copy = *a;
    assert_int_equal(reg_post(f->reg, apply_agent, copy, free), 0);
    treg_post_wait(f->reg, treg_apply_sync, NULL, NULL);
}

typedef struct link_arg {
    reg_call_t call;
    char agent[REG_ID_LEN];
    uint64_t *id_out;
} link_arg_t;

static void apply_call_new(reg_txn_t *tx, void *arg)
{
    link_arg_t *l = arg;
    reg_call_t *c = reg_txn_call_new(tx);
    uint64_t id = c->id;
    *c = l->call;
    c->id = id;
    reg_txn_call_touch(tx, c);
    *l->id_out = id;
    if (l->agent[0]) {
        reg_agent_t *a = reg_txn_agent(tx, l->agent, false);
        if (a) {
            a->call_id = id;
            reg_txn_agent_touch(tx, a);
        }
    }
}

static uint64_t new_call(fx_t *f, const reg_call_t *c, const char *agent)
{
    static uint64_t id;
    link_arg_t *l = calloc(1, sizeof(*l));
    l->call = *c;
    l->id_out = &id;
    if (agent)
        snprintf(l->agent, sizeof(l->agent), "%s", agent);
    assert_int_equal(reg_post(f->reg, apply_call_new, l, free), 0);
    treg_post_wait(f->reg, treg_apply_sync, NULL, NULL);
    return id;
}

typedef struct status_arg {
    uint64_t id;
    reg_call_status_e st;
} status_arg_t;

static void apply_call_status(reg_txn_t *tx, void *arg)
{
    status_arg_t *s = arg;
    reg_call_t *c = reg_txn_call(tx, s->id);
    if (c) {
        c->status = s->st;
        reg_txn_call_touch(tx, c);
    }
}

static void call_status(fx_t *f, uint64_t id, reg_call_status_e st)
{
    status_arg_t *s = malloc(sizeof(*s));
    s->id = id;
    s->st = st;
    assert_int_equal(reg_post(f->reg, apply_call_status, s, free), 0);
    treg_post_wait(f->reg, treg_apply_sync, NULL, NULL);
}

static reg_agent_t agent_base(const char *number)
{
    reg_agent_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.number, sizeof(a.number), "%s", number);
    snprintf(a.name, sizeof(a.name), "Agent %s", number);
    a.active = true;
    return a;
}

/* ---- client helpers ---- */

/* Sends xml and returns the next response (events arriving meanwhile are skipped). */
/* Logs in on c (NULL: a new connection). */
static tcli_t *login_on(fx_t *f, tcli_t *c)
{
    if (!c)
        c = tcli_connect(f->port);
    assert_non_null(c);
    char *r = rq(c, "<request id=\"1\"><login><username>agentconsole</username>"
                    "<password>agentconsole</password></login></request>");
    assert_non_null(strstr(r, "<login_response><success/><app_cookie>"));
    free(r);
    return c;
}

static tcli_t *login(fx_t *f)
{
    return login_on(f, NULL);
}

/* A client whose receive buffer is set before connecting (small window from the start). */
static tcli_t *login_small_rcvbuf(fx_t *f, int bytes)
{
    tcli_t *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return login_on(f, c);
}

/* ---- tests ---- */

static void test_requestlist_login(void **state)
{
    (void)state;
    fx_t *f = fx_start(NULL);
    tcli_t *c = tcli_connect(f->port);
    char *r = rq(c, "<request id=\"a1\"><getrequestlist/></request>");
    const char *head = DECL "<response id=\"a1\"><getrequestlist_response><requests>"
                            "<request>getrequestlist</request><request>filterbyagent</request>"
                            "<request>login</request>";
    assert_true(strncmp(r, head, strlen(head)) == 0);
    int n = 0;
    for (const char *p = r; (p = strstr(p, "<request>")); p++)
        n++;
    assert_int_equal(n, 40);
    assert_non_null(strstr(r, "<request>refreshagents</request><request>transfercallagent</request>"
                              "<request>getextensionstatus</request></requests>"
                              "</getrequestlist_response></response>\n"));
    free(r);
    expect(c, "<request id=\"2\"><getagentstatus><agent_number>Agent/9000</agent_number>"
              "</getagentstatus></request>",
           DECL "<response id=\"2\"><failure><code>401</code><message>Unauthorized</message>"
                "</failure></response>\n");
    expect(c, "<request id=\"3\"><login><username>agentconsole</username><password>x</password>"
              "</login></request>",
           DECL "<response id=\"3\"><login_response><failure><code>401</code><message>Invalid "
                "username or password</message></failure></login_response></response>\n");
    expect(c, "<request id=\"4\"><login><username>agentconsole</username></login></request>",
           DECL "<response id=\"4\"><failure><code>400</code><message>Bad request</message>"
                "</failure></response>\n");
    r = rq(c, "<request id=\"5\"><login><username>agentconsole</username><password>agentconsole"
              "</password></login></request>");
    const char *k = strstr(r, "<app_cookie>");
    assert_non_null(k);
    k += strlen("<app_cookie>");
    for (int i = 0; i < 32; i++)
        assert_true((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f'));
    assert_true(strncmp(k + 32, "</app_cookie></login_response></response>\n", 42) == 0);
    free(r);
    /* now authorized */
    expect_has(c, "<request id=\"6\"><getagentstatus><agent_number>Agent/9000</agent_number>"
                  "</getagentstatus></request>",
               "<status>offline</status><failure><code>404</code>");
    /* logout answers then closes */
    expect(c, "<request id=\"7\"><logout/></request>",
           DECL "<response id=\"7\"><logout_response><success/></logout_response></response>\n");
    assert_true(tcli_closed(c, T_WAIT));
    tcli_close(c);
    fx_stop(f);
}

static void test_bad_packets(void **state)
{
    (void)state;
    fx_t *f = fx_start(NULL);
    const char *bad400 = DECL "<response><failure><code>400</code><message>Bad request</message>"
                              "</failure></response>\n";
    tcli_t *c = tcli_connect(f->port);
    /* no id, two children, no child: 400 without id, connection stays */
    expect(c, "<request><getrequestlist/></request>", bad400);
    expect(c, "<request id=\"1\"><getrequestlist/><getpauses/></request>", bad400);
    expect(c, "<request id=\"1\"/>", bad400);
    expect(c, "<request id=\"x&amp;y\"><nosuchthing/></request>",
           DECL "<response id=\"x&amp;y\"><failure><code>501</code><message>Not Implemented"
                "</message></failure></response>\n");
    tcli_close(c);

    static const char *const fatal[] = {
        "<response id=\"1\"><x/></response>",                          /* wrong root */
        "<request id=\"1\"><a></b></request>",                         /* malformed */
        "<request id=\"1\"><a>&undefined;</a></request>",              /* unknown entity */
        "<?xml version=\"1.0\"?><!DOCTYPE request SYSTEM \"http://x/y.dtd\"><request/>",
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>"
        "<request id=\"1\"><a>&lol2;</a></request>",
        "\x01\x02garbage",
        "<request id=\"1\"><a>\x01</a></request>",
    };
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        c = tcli_connect(f->port);
        char *r = rq(c, fatal[i]);
        if (strcmp(r, bad400) != 0)
            fail_msg("case %zu: got '%s'", i, r);
        free(r);
        assert_true(tcli_closed(c, T_WAIT));
        tcli_close(c);
    }
    /* too deep */
    c = tcli_connect(f->port);
    char deep[4096] = "<request id=\"1\">";
    for (int i = 0; i < 100; i++)
        strcat(deep, "<a>");
    char *r = rq(c, deep);
    assert_string_equal(r, bad400);
    free(r);
    assert_true(tcli_closed(c, T_WAIT));
    tcli_close(c);
    /* too large: more than max_request_bytes without an end */
    c = tcli_connect(f->port);
    tcli_send(c, "<request id=\"1\"><getpauses>");
    char *big = malloc(200000);
    memset(big, 'x', 199999);
    big[199999] = '\0';
    tcli_send(c, big);
    free(big);
    r = tcli_recv(c, T_WAIT);
    assert_non_null(r);
    assert_string_equal(r, bad400);
    free(r);
    tcli_close(c);
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    assert_true(st.closed_bad >= 8);
    fx_stop(f);
}

static void test_pipelined_and_split(void **state)
{
    (void)state;
    fx_t *f = fx_start(NULL);
    tcli_t *c = login(f);
    /* three packets in one write, each with its own declaration, whitespace between */
    tcli_send(c, "<?xml version=\"1.0\"?>\n<request id=\"p1\"><callprogress><enable>1</enable>"
                 "</callprogress></request>\n  \r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                 "<request id=\"p2\"><filterbyagent><agent_number>any</agent_number></filterbyagent>"
                 "</request><request id=\"p3\"><!-- c > --><filterbyagent><agent_number><![CDATA["
                 "bad agent>]]></agent_number></filterbyagent></request>");
    char *r1 = tcli_recv(c, T_WAIT), *r2 = tcli_recv(c, T_WAIT), *r3 = tcli_recv(c, T_WAIT);
    assert_string_equal(r1, DECL "<response id=\"p1\"><callprogress_response><success/>"
                                 "</callprogress_response></response>\n");
    assert_string_equal(r2, DECL "<response id=\"p2\"><filterbyagent_response><success/>"
                                 "</filterbyagent_response></response>\n");
    assert_string_equal(r3, DECL "<response id=\"p3\"><filterbyagent_response><failure><code>417"
                                 "</code><message>Invalid agent number</message></failure>"
                                 "</filterbyagent_response></response>\n");
    free(r1);
    free(r2);
    free(r3);
    /* one packet, byte by byte */
    const char *req = "<request id=\"s\"><filterbyagent><agent_number>Agent/9000</agent_number>"
                      "</filterbyagent></request>";
    for (const char *p = req; *p; p++) {
        char one[2] = {*p, 0};
        tcli_send(c, one);
        ccd_test_sleep_ms(1); /* pacing, so the bytes tend to arrive in separate reads (not a wait) */
    }
    char *r = tcli_recv(c, T_WAIT);
    assert_string_equal(r, DECL "<response id=\"s\"><filterbyagent_response><success/>"
                                "</filterbyagent_response></response>\n");
    free(r);
    tcli_close(c);
    fx_stop(f);
}

static void test_agent_requests(void **state)
{
    (void)state;
    fx_t *f = fx_start(NULL);
    tcli_t *c = login(f);
    const char *gs = "<request id=\"g\"><getagentstatus><agent_number>Agent/9000</agent_number>"
                     "</getagentstatus></request>";
    expect(c, gs, DECL "<response id=\"g\"><getagentstatus_response><status>offline</status>"
                       "<failure><code>404</code><message>Invalid agent number</message></failure>"
                       "</getagentstatus_response></response>\n");
    expect(c, "<request id=\"g\"><getagentstatus/></request>",
           DECL "<response id=\"g\"><failure><code>400</code><message>Bad request</message>"
                "</failure></response>\n");
    reg_agent_t a = agent_base("Agent/9000");
    a.active = false; /* agent.estatus = 'I': not tracked */
    set_agent(f, &a);
    expect_has(c, gs, "<status>offline</status><failure><code>404</code>");
    a.active = true;
    set_agent(f, &a);
    expect(c, gs, DECL "<response id=\"g\"><getagentstatus_response><status>offline</status>"
                       "</getagentstatus_response></response>\n");
    a.login = REG_LOGGED_IN;
    snprintf(a.channel, sizeof(a.channel), "SIP/1064-0000002a");
    snprintf(a.extension, sizeof(a.extension), "1064");
    a.nqueues = 2;
    snprintf(a.queues[0], sizeof(a.queues[0]), "8000");
    snprintf(a.queues[1], sizeof(a.queues[1]), "8001");
    /* inside app_agent_pool's login probation (not ready yet) Issabel already says online */
    a.member_status = 5;
    a.ready_ms = 0;
    set_agent(f, &a);
    expect(c, gs, DECL "<response id=\"g\"><getagentstatus_response><status>online</status>"
                       "<channel>SIP/1064-0000002a</channel><extension>1064</extension>"
                       "<onhold>0</onhold></getagentstatus_response></response>\n");
    a.break_id = 2;
    snprintf(a.break_name, sizeof(a.break_name), "Lunch & more");
    a.break_start_ms = clk_wall_ms();
    set_agent(f, &a);
    expect_has(c, gs, "<status>paused</status><channel>SIP/1064-0000002a</channel><extension>1064"
                      "</extension><onhold>0</onhold><pauseinfo><pauseid>2</pauseid><pausename>"
                      "Lunch &amp; more</pausename><pausestart>");
    a.break_id = 0;
    set_agent(f, &a);
    reg_call_t call;
    memset(&call, 0, sizeof(call));
    call.type = REG_CALL_OUTGOING;
    call.status = REG_CS_SUCCESS;
    call.campaign_id = 3;
    call.db_call_id = 77;
    snprintf(call.phone, sizeof(call.phone), "5551234");
    snprintf(call.queue, sizeof(call.queue), "8000");
    snprintf(call.channel, sizeof(call.channel), "SIP/trunk-00000001");
    snprintf(call.trunk, sizeof(call.trunk), "SIP/trunk");
    new_call(f, &call, "Agent/9000");
    expect(c, gs, DECL "<response id=\"g\"><getagentstatus_response><status>oncall</status>"
                       "<channel>SIP/1064-0000002a</channel><extension>1064</extension>"
                       "<remote_channel>SIP/trunk-00000001</remote_channel><onhold>0</onhold>"
                       "<callinfo><calltype>outgoing</calltype><callid>77</callid><campaign_id>3"
                       "</campaign_id><queuenumber>8000</queuenumber><callnumber>5551234"
                       "</callnumber><callstatus>Success</callstatus><trunk>SIP/trunk</trunk>"
                       "</callinfo></getagentstatus_response></response>\n");
    /* multiple */
    expect_has(c, "<request id=\"m\"><getmultipleagentstatus><agents><agent_number>Agent/9000"
                  "</agent_number></agents></getmultipleagentstatus></request>",
               "<getmultipleagentstatus_response><agents><agent><agent_number>Agent/9000"
               "</agent_number><status>oncall</status>");
    expect(c, "<request id=\"m\"><getmultipleagentstatus><agents><agent_number>Agent9000"
              "</agent_number></agents></getmultipleagentstatus></request>",
           DECL "<response id=\"m\"><getmultipleagentstatus_response><failure><code>417</code>"
                "<message>Invalid agent number</message></failure>"
                "</getmultipleagentstatus_response></response>\n");
    expect(c, "<request id=\"m\"><getmultipleagentstatus><agents><agent_number>Agent/1"
              "</agent_number></agents></getmultipleagentstatus></request>",
           DECL "<response id=\"m\"><getmultipleagentstatus_response><failure><code>404</code>"
                "<message>Specified agent not found</message></failure>"
                "</getmultipleagentstatus_response></response>\n");
    expect(c, "<request id=\"q\"><getagentqueues><agent_number>Agent/9000</agent_number>"
              "</getagentqueues></request>",
           DECL "<response id=\"q\"><getagentqueues_response><queues><queue>8000</queue><queue>"
                "8001</queue></queues></getagentqueues_response></response>\n");
    expect(c, "<request id=\"q\"><getagentqueues><agent_number>Agent/1</agent_number>"
              "</getagentqueues></request>",
           DECL "<response id=\"q\"><getagentqueues_response><failure><code>404</code><message>"
                "Specified agent not found</message></failure></getagentqueues_response>"
                "</response>\n");
    expect(c, "<request id=\"q\"><getmultipleagentqueues><agents><agent_number>Agent/9000"
              "</agent_number></agents></getmultipleagentqueues></request>",
           DECL "<response id=\"q\"><getmultipleagentqueues_response><agents><agent>"
                "<agent_number>Agent/9000</agent_number><queues><queue>8000</queue><queue>8001"
                "</queue></queues></agent></agents></getmultipleagentqueues_response></response>\n");
    expect(c, "<request id=\"d\"><dumpstatus/></request>",
           DECL "<response id=\"d\"><dumpstatus_response><success/></dumpstatus_response>"
                "</response>\n");
    /* no database configured */
    expect(c, "<request id=\"p\"><getpauses/></request>",
           DECL "<response id=\"p\"><failure><code>500</code><message>Server error - database "
                "failure</message></failure></response>\n");
    /* agentauth decorator before the database */
    expect(c, "<request id=\"h\"><hangup/></request>",
           DECL "<response id=\"h\"><failure><code>400</code><message>Bad request</message>"
                "</failure></response>\n");
    expect(c, "<request id=\"h\"><hangup><agent_number>9000</agent_number></hangup></request>",
           DECL "<response id=\"h\"><hangup_response><failure><code>417</code><message>Invalid "
                "agent number</message></failure></hangup_response></response>\n");
    expect(c, "<request id=\"h\"><hangup><agent_number>Agent/9000</agent_number><agent_hash>x"
              "</agent_hash></hangup></request>",
           DECL "<response id=\"h\"><failure><code>500</code><message>Server error - database "
                "failure</message></failure></response>\n");
    expect(c, "<request id=\"e\"><getextensionstatus><extension>1064</extension>"
              "</getextensionstatus></request>",
           DECL "<response id=\"e\"><getextensionstatus_response><failure><code>417</code>"
                "<message>Invalid extension</message>"
                "</failure></getextensionstatus_response></response>\n");
    /* no AMI client configured */
    expect(c, "<request id=\"e\"><getextensionstatus><extension>SIP/1064</extension>"
              "</getextensionstatus></request>",
           DECL "<response id=\"e\"><failure><code>500</code><message>No AMI connection</message>"
                "</failure></response>\n");
    expect(c, "<request id=\"l\"><loginagent><agent_number>Agent/9000</agent_number></loginagent>"
              "</request>",
           DECL "<response id=\"l\"><failure><code>400</code><message>Bad request</message>"
                "</failure></response>\n");
    expect(c, "<request id=\"l\"><loginagent><agent_number>9000</agent_number><extension>1064"
              "</extension></loginagent></request>",
           DECL "<response id=\"l\"><loginagent_response><status>logged-out</status><failure>"
                "<code>404</code><message>Specified agent not found</message></failure>"
                "</loginagent_response></response>\n");
    tcli_close(c);
    fx_stop(f);
}

/* Waits for one event on c and checks it is exactly want (date-free) or contains want. */
static void ev_expect(tcli_t *c, const char *want, bool exact)
{
    char *r = tcli_recv(c, T_WAIT);
    if (!r)
        fail_msg("no event, wanted %s", want);
    if (exact ? strcmp(r, want) != 0 : !strstr(r, want))
        fail_msg("event\n got  %s\n want %s", r, want);
    free(r);
}

/*
 * Nothing has come for c: checked right after ev_barrier, when every worker has
 * written whatever the earlier registry changes produced (a loopback write is in
 * the peer's buffer when it returns), so a look without waiting is the whole truth.
 */
static void ev_none(tcli_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->len > 0 || poll(&p, 1, 0) > 0) {
        char *r = tcli_recv(c, T_WAIT);
        fail_msg("unexpected message: %s", r ? r : "(none, but the socket was readable)");
    }
}

/*
 * A barrier behind every registry change posted so far: a published event goes
 * through each worker's inbox after the changes already there, and the two
 * sessions (both see Agent/9000's events) sit on different workers, since a new
 * session goes to the least loaded one.  Once both have it, both workers are done
 * with the earlier changes.
 */
static void ev_barrier(fx_t *f, tcli_t *one, tcli_t *other)
{
    eccp_event_t ev = {.kind = ECCP_EV_RECORDINGMUTE, .campaign_id = 5, .call_id = 77};
    snprintf(ev.agent_number, sizeof(ev.agent_number), "Agent/9000");
    assert_int_equal(eccp_server_publish(f->srv, &ev), 0);
    ev_expect(one, "<recordingmute><agent_number>Agent/9000</agent_number><calltype>outgoing"
                   "</calltype><campaign_id>5</campaign_id><call_id>77</call_id>", false);
    ev_expect(other, "<recordingmute><agent_number>Agent/9000</agent_number><calltype>outgoing"
                     "</calltype><campaign_id>5</campaign_id><call_id>77</call_id>", false);
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.worker_sessions_min, st.worker_sessions_max - 1); /* 1 and 2: spread */
}

static void test_events(void **state)
{
    (void)state;
    fx_t *f = fx_start(NULL);
    tcli_t *fa = login(f); /* filtered to Agent/9000 */
    tcli_t *all = login(f); /* everything + callprogress */
    tcli_t *anon = tcli_connect(f->port);
    expect(fa, "<request id=\"f\"><filterbyagent><agent_number>Agent/9000</agent_number>"
               "</filterbyagent></request>",
           DECL "<response id=\"f\"><filterbyagent_response><success/></filterbyagent_response>"
                "</response>\n");
    expect_has(all, "<request id=\"c\"><callprogress><enable>1</enable></callprogress></request>",
               "<success/>");

    reg_agent_t a = agent_base("Agent/9000");
    a.login = REG_LOGGING;
    set_agent(f, &a);
    a.login = REG_LOGGED_IN;
    snprintf(a.channel, sizeof(a.channel), "SIP/1064-1");
    set_agent(f, &a);
    const char *li = DECL "<event><agentloggedin><agent>Agent/9000</agent></agentloggedin></event>\n";
    ev_expect(fa, li, true);
    ev_expect(all, li, true);

    reg_agent_t b = agent_base("SIP/1065");
    b.login = REG_LOGGING;
    set_agent(f, &b);
    b.login = REG_LOGGED_OUT;
    set_agent(f, &b);
    ev_expect(all, DECL "<event><agentfailedlogin><agent>SIP/1065</agent></agentfailedlogin>"
                        "</event>\n", true);

    a.break_id = 3;
    snprintf(a.break_name, sizeof(a.break_name), "Lunch");
    a.break_start_ms = clk_wall_ms();
    set_agent(f, &a);
    const char *ps = "<event><pausestart><pause_class>break</pause_class><pause_type>3</pause_type>"
                     "<pause_name>Lunch</pause_name><pause_start>";
    ev_expect(fa, ps, false);
    ev_expect(all, ps, false);
    a.break_id = 0;
    set_agent(f, &a);
    const char *pe = "<event><pauseend><pause_class>break</pause_class><pause_start>";
    ev_expect(fa, pe, false);
    ev_expect(all, "<pause_duration>0</pause_duration><pause_type>3</pause_type><pause_name>Lunch"
                   "</pause_name><agent_number>Agent/9000</agent_number></pauseend></event>\n",
              false);

    /* an outgoing call: progress goes to `all` only; linking gives agentlinked */
    reg_call_t call;
    memset(&call, 0, sizeof(call));
    call.type = REG_CALL_OUTGOING;
    call.status = REG_CS_PLACING;
    call.campaign_id = 5;
    call.db_call_id = 42;
    snprintf(call.phone, sizeof(call.phone), "5550001");
    snprintf(call.queue, sizeof(call.queue), "8000");
    snprintf(call.channel, sizeof(call.channel), "PJSIP/trunk-00000007");
    uint64_t id = new_call(f, &call, NULL);
    ev_expect(all, "<new_status>Placing</new_status><campaign_type>outgoing</campaign_type>"
                   "<campaign_id>5</campaign_id><call_id>42</call_id><phone>5550001</phone>"
                   "<queue>8000</queue></callprogress></event>\n", false);
    call_status(f, id, REG_CS_RINGING);
    ev_expect(all, "<new_status>Ringing</new_status>", false);
    call_status(f, id, REG_CS_SUCCESS); /* no callprogress for Success */
    a.call_id = id;
    set_agent(f, &a);
    const char *ln = "<event><agentlinked><calltype>outgoing</calltype><call_id>42</call_id>"
                     "<campaign_id>5</campaign_id><phone>5550001</phone><status>Success</status>";
    ev_expect(fa, ln, false);
    ev_expect(all, "<remote_channel>PJSIP/trunk-00000007</remote_channel></agentlinked></event>\n",
              false);
    a.on_hold = true;
    a.hold_start_ms = clk_wall_ms();
    set_agent(f, &a);
    ev_expect(fa, "<event><pausestart><pause_class>hold</pause_class><pause_start>", false);
    ev_expect(all, "<pause_class>hold</pause_class>", false);
    call_status(f, id, REG_CS_ONHOLD);
    ev_expect(all, "<new_status>OnHold</new_status>", false);
    call_status(f, id, REG_CS_SUCCESS);
    ev_expect(all, "<new_status>OffHold</new_status>", false);
    a.on_hold = false;
    set_agent(f, &a);
    ev_expect(fa, "<event><pauseend><pause_class>hold</pause_class>", false);
    ev_expect(all, "<pauseend><pause_class>hold</pause_class>", false);
    a.call_id = 0;
    set_agent(f, &a);
    const char *ul = "<event><agentunlinked><calltype>outgoing</calltype><campaign_id>5</campaign_id>"
                     "<call_id>42</call_id><phone>5550001</phone><datetime_linkend>";
    ev_expect(fa, ul, false);
    ev_expect(all, "<shortcall>0</shortcall><queue>8000</queue><agent_number>Agent/9000"
                   "</agent_number></agentunlinked></event>\n", false);

    a.nqueues = 1;
    snprintf(a.queues[0], sizeof(a.queues[0]), "8000");
    set_agent(f, &a);
    const char *qm = DECL "<event><queuemembership><agent_number>Agent/9000</agent_number><status>"
                          "online</status><channel>SIP/1064-1</channel><extension>1064</extension>"
                          "<onhold>0</onhold><queues><queue>8000</queue></queues></queuemembership>"
                          "</event>\n";
    ev_expect(fa, qm, true);
    ev_expect(all, qm, true);

    eccp_event_t ev = {.kind = ECCP_EV_RECORDINGMUTE, .campaign_id = 5, .call_id = 42};
    snprintf(ev.agent_number, sizeof(ev.agent_number), "Agent/9000");
    static const char *const names[] = {"recordingmute", "recordingunmute", "schedulecallstart",
                                        "schedulecallfailed"};
    for (int k = 0; k < 4; k++) {
        ev.kind = (eccp_event_kind_e)k;
        assert_int_equal(eccp_server_publish(f->srv, &ev), 0);
        char want[512];
        snprintf(want, sizeof(want),
                 DECL "<event><%s><agent_number>Agent/9000</agent_number><calltype>outgoing"
                      "</calltype><campaign_id>5</campaign_id><call_id>42</call_id></%s></event>\n",
                 names[k], names[k]);
        ev_expect(fa, want, true);
        ev_expect(all, want, true);
    }

    a.login = REG_LOGGED_OUT;
    set_agent(f, &a);
    const char *lo = DECL "<event><agentloggedout><agent>Agent/9000</agent></agentloggedout></event>\n";
    ev_expect(all, lo, true);
    ev_expect(fa, lo, true);

    /* the filtered session saw nothing about SIP/1065, the anonymous one nothing at all */
    ev_barrier(f, fa, all);
    ev_none(fa);
    ev_none(anon);
    /* "any" clears the filter */
    expect_has(fa, "<request id=\"f2\"><filterbyagent><agent_number>any</agent_number>"
                   "</filterbyagent></request>", "<success/>");
    b.login = REG_LOGGED_IN;
    set_agent(f, &b);
    ev_expect(fa, "<agentloggedin><agent>SIP/1065</agent>", false);
    tcli_close(fa);
    tcli_close(all);
    tcli_close(anon);
    fx_stop(f);
}

static void acl_tweak(conf_eccp_t *e, eccp_deps_t *d)
{
    (void)d;
    /* 10.0.0.0/8 only: 127.0.0.1 is refused */
    memset(&e->allowed[0], 0, sizeof(e->allowed[0]));
    e->allowed[0].addr[10] = e->allowed[0].addr[11] = 0xff;
    e->allowed[0].addr[12] = 10;
    e->allowed[0].prefix = 96 + 8;
    e->nallowed = 1;
}

static void test_allow_list(void **state)
{
    (void)state;
    fx_t *f = fx_start(acl_tweak);
    tcli_t *c = tcli_connect(f->port);
    assert_non_null(c);
    tcli_send(c, "<request id=\"1\"><getrequestlist/></request>");
    assert_true(tcli_closed(c, T_WAIT));
    tcli_close(c);
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.refused_acl, 1);
    assert_int_equal(st.accepted, 0);
    fx_stop(f);
}

static void idle_tweak(conf_eccp_t *e, eccp_deps_t *d)
{
    (void)e;
    d->idle_timeout_ms = 200;
}

static void test_idle_timeout(void **state)
{
    (void)state;
    fx_t *f = fx_start(idle_tweak);
    tcli_t *c = tcli_connect(f->port);
    expect_has(c, "<request id=\"1\"><getrequestlist/></request>", "<requests>");
    assert_true(tcli_closed(c, T_WAIT));
    tcli_close(c);
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.closed_idle, 1);
    fx_stop(f);
}

static void slow_tweak(conf_eccp_t *e, eccp_deps_t *d)
{
    (void)d;
    e->max_output_bytes = 32768;
}

static void test_slow_reader(void **state)
{
    (void)state;
    fx_t *f = fx_start(slow_tweak);
    tcli_t *slow = login(f);
    tcli_t *fast = login(f);
    int small = 4096;
    setsockopt(slow->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    reg_agent_t a = agent_base("Agent/9000");
    a.login = REG_LOGGED_IN;
    eccp_stats_t st;
    int64_t end = ccd_test_deadline(60000);
    int i = 0;
    snprintf(a.queues[0], sizeof(a.queues[0]), "8000");
    do {
        /* each toggle of queue membership is one queuemembership event (~300 bytes) */
        for (int k = 0; k < 200; k++) {
            a.nqueues = (i++ % 2) ? 1 : 0;
            reg_agent_t *copy = malloc(sizeof(*copy));
            *copy = a;
            while (reg_post(f->reg, apply_agent, copy, free) != 0)
                ccd_test_sleep_ms(1); /* the registry inbox is full: let it drain */
        }
        treg_post_wait(f->reg, treg_apply_sync, NULL, NULL);
        char *r;
        while ((r = tcli_recv(fast, 20)) != NULL) { /* the fast reader keeps up */
            assert_true(r[0] != '\0');
            free(r);
        }
        eccp_server_stats(f->srv, &st);
        CCD_CHECK_DEADLINE(end, "the slow reader to be closed");
    } while (st.closed_slow == 0);
    assert_int_equal(st.closed_slow, 1);
    /* the fast client is still served */
    expect_has(fast, "<request id=\"z\"><getrequestlist/></request>", "<requests>");
    tcli_close(slow);
    tcli_close(fast);
    fx_stop(f);
}

static int sessions_open(fx_t *f)
{
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    return st.sessions;
}

static void wait_sessions(fx_t *f, int n)
{
    CCD_WAIT(sessions_open(f) == n);
}

/* New sockets go to the least loaded worker, so after sessions close the
 * workers' shares of a fan-out are even again (round-robin would not). */
static void test_balance_after_churn(void **state)
{
    (void)state;
    fx_t *f = fx_start(NULL); /* 2 workers */
    tcli_t *c[6];
    for (int i = 0; i < 4; i++)
        c[i] = login(f); /* 0, 2 on one worker; 1, 3 on the other */
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.worker_sessions_min, 2);
    assert_int_equal(st.worker_sessions_max, 2);
    tcli_close(c[0]);
    tcli_close(c[2]);
    wait_sessions(f, 2);
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.worker_sessions_min, 0);
    assert_int_equal(st.worker_sessions_max, 2);
    c[4] = login(f);
    c[5] = login(f);
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.worker_sessions_min, 2);
    assert_int_equal(st.worker_sessions_max, 2);
    /* every session on both workers gets one event */
    reg_agent_t a = agent_base("Agent/9100");
    a.login = REG_LOGGED_IN;
    set_agent(f, &a);
    int idx[] = {1, 3, 4, 5};
    for (int k = 0; k < 4; k++) {
        char *r = tcli_recv(c[idx[k]], T_WAIT);
        assert_non_null(r);
        assert_non_null(strstr(r, "<agentloggedin><agent>Agent/9100</agent></agentloggedin>"));
        free(r);
        tcli_close(c[idx[k]]);
    }
    fx_stop(f);
}

static void shared_tweak(conf_eccp_t *e, eccp_deps_t *d)
{
    e->workers = 1; /* shared copies are per worker: keep every session on one */
    e->max_output_bytes = 32768;
    d->sndbuf = 4096; /* the kernel holds little: backlogs queue in the server soon */
}

/* Reads from c until it has seen want queuemembership events in total (*seen so
 * far), checking that they alternate (event k carries queue 8000 iff k is even)
 * and counting the other answers (getrequestlist responses) in *answers. */
static void read_toggles(tcli_t *c, int want, int *seen, int *answers)
{
    int64_t end = ccd_test_deadline(30000);
    while (*seen < want) {
        CCD_CHECK_DEADLINE(end, "every queuemembership event");
        char *r = tcli_recv(c, 1000);
        if (!r)
            continue;
        assert_true(r[0] != '\0'); /* not closed */
        if (strstr(r, "<queuemembership>")) {
            bool has = strstr(r, "<queues><queue>8000</queue></queues>") != NULL;
            bool none = strstr(r, "<queues/>") != NULL;
            if (has == none || has != (*seen % 2 == 0))
                fail_msg("event %d out of order or damaged: %s", *seen, r);
            assert_non_null(strstr(r, "</queuemembership></event>\n"));
            (*seen)++;
        } else {
            assert_non_null(strstr(r, "<response id=\"m\"><getrequestlist_response>"));
            assert_non_null(strstr(r, "</getrequestlist_response></response>\n"));
            (*answers)++;
        }
        free(r);
    }
    assert_int_equal(*seen, want);
}

/*
 * Events that several sessions cannot take at once are queued as one shared copy:
 * a slow session that never reads and a lagging one (small socket buffer, reads
 * after every burst, sends a request mid-burst so an answer sits between shared
 * pieces) reference the same chunks.  The slow one goes over max_output_bytes and
 * is disconnected alone; the lagging and a fast session get every event, whole and
 * in order, and the answers; the chunks outlive the disconnected session's
 * references (ASan checks the frees).
 */
static void test_shared_event_output(void **state)
{
    (void)state;
    fx_t *f = fx_start(shared_tweak);
    tcli_t *slow = login_small_rcvbuf(f, 4096), *lag = login_small_rcvbuf(f, 4096);
    tcli_t *fast = login(f);
    reg_agent_t a = agent_base("Agent/9000");
    a.login = REG_LOGGED_IN;
    snprintf(a.queues[0], sizeof(a.queues[0]), "8000");
    set_agent(f, &a); /* agentloggedin, read below */
    for (tcli_t *c = lag; c; c = c == lag ? fast : NULL) {
        char *r = tcli_recv(c, T_WAIT);
        assert_non_null(strstr(r, "<agentloggedin>"));
        free(r);
    }
    int posted = 0, lag_seen = 0, fast_seen = 0, lag_answers = 0, fast_answers = 0, bursts = 0;
    eccp_stats_t st;
    int64_t until = ccd_test_deadline(60000);
    do {
        /* a burst of ~60 events of ~300 bytes: more than the lagging reader's socket holds */
        for (int k = 0; k < 60; k++) {
            a.nqueues = posted++ % 2 ? 0 : 1;
            reg_agent_t *copy = malloc(sizeof(*copy));
            *copy = a;
            while (reg_post(f->reg, apply_agent, copy, free) != 0)
                ccd_test_sleep_ms(1); /* the registry inbox is full: let it drain */
            if (k == 30)
                tcli_send(lag, "<request id=\"m\"><getrequestlist/></request>");
        }
        treg_post_wait(f->reg, treg_apply_sync, NULL, NULL);
        bursts++;
        read_toggles(lag, posted, &lag_seen, &lag_answers);
        read_toggles(fast, posted, &fast_seen, &fast_answers);
        eccp_server_stats(f->srv, &st);
        CCD_CHECK_DEADLINE(until, "the slow session to be closed");
    } while (st.closed_slow == 0);
    assert_int_equal(st.closed_slow, 1);
    assert_true(tcli_closed(slow, T_WAIT));
    /* the same chunks were referenced by more than one session */
    assert_true(st.out_chunks > 0);
    assert_true(st.out_chunk_refs > st.out_chunks);
    /* one more burst after the disconnect: still whole and in order */
    for (int k = 0; k < 60; k++) {
        a.nqueues = posted++ % 2 ? 0 : 1;
        reg_agent_t *copy = malloc(sizeof(*copy));
        *copy = a;
        while (reg_post(f->reg, apply_agent, copy, free) != 0)
            ccd_test_sleep_ms(1); /* the registry inbox is full: let it drain */
    }
    treg_post_wait(f->reg, treg_apply_sync, NULL, NULL);
    read_toggles(lag, posted, &lag_seen, &lag_answers);
    read_toggles(fast, posted, &fast_seen, &fast_answers);
    char *r;
    while (lag_answers < bursts && (r = tcli_recv(lag, T_WAIT)) != NULL) {
        assert_non_null(strstr(r, "<response id=\"m\"><getrequestlist_response>"));
        lag_answers++;
        free(r);
    }
    assert_int_equal(lag_answers, bursts);
    assert_int_equal(fast_answers, 0);
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.closed_slow, 1);
    wait_sessions(f, 2); /* closed_slow is counted just before the session count drops */
    tcli_close(slow);
    tcli_close(lag);
    tcli_close(fast);
    fx_stop(f);
}

static void cap_tweak(conf_eccp_t *e, eccp_deps_t *d)
{
    (void)d;
    e->max_sessions = 2;
}

static void test_max_sessions(void **state)
{
    (void)state;
    fx_t *f = fx_start(cap_tweak);
    tcli_t *a = login(f), *b = login(f);
    tcli_t *c = tcli_connect(f->port);
    assert_non_null(c);
    assert_true(tcli_closed(c, T_WAIT));
    tcli_close(c);
    eccp_stats_t st;
    eccp_server_stats(f->srv, &st);
    assert_int_equal(st.refused_full, 1);
    /* a freed slot can be used again */
    tcli_close(b);
    wait_sessions(f, 1);
    tcli_t *d = login(f);
    tcli_close(d);
    tcli_close(a);
    fx_stop(f);
}

static void hold_tweak(conf_eccp_t *e, eccp_deps_t *d)
{
    (void)e;
    d->db_submit = tdb_hold_submit;
}

static void test_async_backpressure(void **state)
{
    (void)state;
    fx_t *f = fx_start(hold_tweak);
    tcli_t *c = login(f);
    /* three DB requests, answered in reverse order, matched by id */
    tcli_send(c, "<request id=\"a\"><getpauses/></request><request id=\"b\"><getpauses/></request>"
                 "<request id=\"c\"><getpauses/></request>");
    tdb_wait_held(3);
    /* a registry request is answered meanwhile: the worker is not blocked (the agent is
     * tracked: a miss would ask the database to reload it) */
    reg_agent_t a1 = agent_base("Agent/1");
    set_agent(f, &a1);
    expect_has(c, "<request id=\"r\"><getagentstatus><agent_number>Agent/1</agent_number>"
                  "</getagentstatus></request>", "<response id=\"r\">");
    tdb_release_all(CCD_EIO);
    const char *order[] = {"c", "b", "a"};
    for (int i = 0; i < 3; i++) {
        char *r = tcli_recv(c, T_WAIT);
        char want[256];
        snprintf(want, sizeof(want), DECL "<response id=\"%s\"><failure><code>500</code><message>"
                                          "Server error - database failure</message></failure>"
                                          "</response>\n", order[i]);
        assert_string_equal(r, want);
        free(r);
    }
    /* 300 pipelined DB requests: at most 128 in flight, the rest waits unread */
    char *many = malloc(300 * 48);
    many[0] = '\0';
    for (int i = 0; i < 300; i++)
        strcat(many, "<request id=\"m\"><getpauses/></request>");
    tdb_peak_reset();
    tcli_send(c, many);
    free(many);
    tdb_wait_held(128);
    int got = 0;
    int64_t end = ccd_test_deadline(3 * CCD_TEST_WAIT_MS);
    while (got < 300) {
        CCD_CHECK_DEADLINE(end, "the answers to 300 pipelined requests");
        tdb_release_all(CCD_EIO);
        char *r;
        while ((r = tcli_recv(c, 50)) != NULL) {
            assert_non_null(strstr(r, "<response id=\"m\"><failure><code>500</code>"));
            free(r);
            got++;
        }
    }
    assert_int_equal(got, 300);
    /* the stand-in saw every submission: never more than 128 held at once */
    assert_int_equal(tdb_peak_get(), 128);
    tcli_close(c);
    fx_stop(f);
}

/* ---- hostile bytes over the wire: every fuzz corpus input, in odd chunks ---- */

static const char *corpus_dir;

static void test_corpus_over_tcp(void **state)
{
    (void)state;
    if (!corpus_dir)
        fail_msg("the test needs the fuzz corpus directory as its second argument");
    fx_t *f = fx_start(NULL);
    DIR *d = opendir(corpus_dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    unsigned seed = 1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", corpus_dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        static char data[1 << 16];
        size_t n = fread(data, 1, sizeof(data), fp);
        fclose(fp);
        tcli_t *c = login(f);
        for (size_t off = 0; off < n;) {
            size_t k = 1 + rand_r(&seed) % 97;
            if (k > n - off)
                k = n - off;
            if (send(c->fd, data + off, k, MSG_NOSIGNAL) <= 0)
                break;
            off += k;
        }
        tcli_close(c);
        files++;
    }
    closedir(d);
    assert_true(files > 10);
    /* the server is still serving */
    tcli_t *c = tcli_connect(f->port);
    expect_has(c, "<request id=\"ok\"><getrequestlist/></request>", "<requests>");
    tcli_close(c);
    fx_stop(f);
}

/* ---- the command-line client ---- */

static const char *cli_path;

/* Runs the CLI with args; returns its exit status and its stdout in out (malloc'ed). */
static int run_cli(const char *args, char **out)
{
    char cmd[2048];
    /* -t: how long the client waits for an answer, stretched like every test deadline */
    snprintf(cmd, sizeof(cmd), "%s -t %d %s 2>&1", cli_path, ccd_test_timeout_ms(10000) / 1000, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    size_t k;
    while ((k = fread(b + len, 1, cap - len - 1, p)) > 0)
        len += k;
    b[len] = '\0';
    int st = pclose(p);
    *out = b;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A client run whose output the test reads as it comes (a pipe, with deadlines). */
typedef struct cli_proc {
    pid_t pid;
    int fd;           /* read end of the child's stdout + stderr */
    char out[65536];  /* everything read so far, NUL-terminated */
    size_t len;
} cli_proc_t;

static void cli_spawn(cli_proc_t *cp, const char *const *argv)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    memset(cp, 0, sizeof(*cp));
    cp->pid = fork();
    assert_true(cp->pid >= 0);
    if (cp->pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    cp->fd = p[0];
}

/* Waits for the child to end (killing it first when kill_now, or when it outlives
 * the deadline) and returns its exit status (-1: it did not exit by itself). */
static int cli_reap(cli_proc_t *cp, bool kill_now)
{
    int st = 0;
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    pid_t r = 0;
    while (!kill_now && (r = waitpid(cp->pid, &st, WNOHANG)) == 0 && ccd_test_now_ms() < end)
        ccd_test_sleep_ms(5);
    if (r == 0) {
        kill(cp->pid, SIGKILL);
        waitpid(cp->pid, &st, 0);
    }
    close(cp->fd);
    return r > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads the client's output until it holds want; fails the test (after killing the
 * client) when the deadline passes or the client ends first. */
static void cli_wait_line(cli_proc_t *cp, const char *want)
{
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    while (!strstr(cp->out, want)) {
        int left = (int)(end - ccd_test_now_ms());
        if (left <= 0) {
            cli_reap(cp, true);
            fail_msg("timed out waiting for '%s' from the client; its output: %s", want, cp->out);
        }
        struct pollfd pf = {.fd = cp->fd, .events = POLLIN};
        if (poll(&pf, 1, left) <= 0)
            continue; /* the deadline (or a signal): looked at above */
        ssize_t k = read(cp->fd, cp->out + cp->len, sizeof(cp->out) - 1 - cp->len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            cli_reap(cp, true);
            fail_msg("the client ended before printing '%s'; its output: %s", want, cp->out);
        }
        cp->len += (size_t)k;
        cp->out[cp->len] = '\0';
    }
}

static void test_cli(void **state)
{
    (void)state;
    if (!cli_path)
        fail_msg("the test needs the ccdialer-eccp path as its first argument");
    fx_t *f = fx_start(NULL);
    char args[1024], *out;
    snprintf(args, sizeof(args), "-p %u getrequestlist", f->port);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "<getrequestlist_response>\n"));
    assert_non_null(strstr(out, "      <request>login</request>\n"));
    free(out);
    snprintf(args, sizeof(args), "-p %u -r getagentstatus agent_number=Agent/9000", f->port);
    assert_int_equal(run_cli(args, &out), 3); /* the answer holds a failure */
    assert_non_null(strstr(out, "<getagentstatus_response><status>offline</status><failure><code>404"));
    free(out);
    snprintf(args, sizeof(args),
             "-p %u -r -x '<request id=\"q7\"><filterbyagent><agent_number>any</agent_number>"
             "</filterbyagent></request>'", f->port);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "<response id=\"q7\"><filterbyagent_response><success/>"));
    free(out);
    snprintf(args, sizeof(args), "-p %u -P wrong getpauses", f->port);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "login failed"));
    free(out);
    snprintf(args, sizeof(args), "-p 1 getpauses");
    assert_int_equal(run_cli(args, &out), 1);
    free(out);
    /* events: the client keeps printing them until the server closes the session (-t only
     * bounds its life should the test fail); the agent changes only once the client has
     * printed its own answer, so the event goes to a session that is logged in and listening */
    cli_proc_t cp;
    char secs[16];
    snprintf(args, sizeof(args), "%u", f->port);
    snprintf(secs, sizeof(secs), "%d", ccd_test_timeout_ms(60000) / 1000);
    const char *argv[] = {cli_path, "-p", args, "-r", "-e", "-t", secs, "callprogress", "enable=1", NULL};
    cli_spawn(&cp, argv);
    cli_wait_line(&cp, "<response id=\"1\"><callprogress_response><success/>");
    reg_agent_t a = agent_base("Agent/9000");
    a.login = REG_LOGGED_IN;
    set_agent(f, &a);
    cli_wait_line(&cp, "<event><agentloggedin><agent>Agent/9000</agent></agentloggedin></event>");
    fx_stop(f); /* closes the session: the client ends on its own */
    assert_int_equal(cli_reap(&cp, false), 0);
}

int main(int argc, char **argv)
{
    cli_path = argc > 1 ? argv[1] : NULL;
    corpus_dir = argc > 2 ? argv[2] : NULL;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requestlist_login),  cmocka_unit_test(test_bad_packets),
        cmocka_unit_test(test_pipelined_and_split), cmocka_unit_test(test_agent_requests),
        cmocka_unit_test(test_events),             cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_idle_timeout),       cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_max_sessions),       cmocka_unit_test(test_balance_after_churn),
        cmocka_unit_test(test_shared_event_output),
              cmocka_unit_test(test_async_backpressure),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_corpus_over_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
