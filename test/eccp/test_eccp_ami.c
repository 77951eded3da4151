/*
 * ECCP requests that act through AMI (hangup, transfercall, atxfercall,
 * mixmonitormute/unmute, getchanvars, getextensionstatus) against a scripted fake Asterisk: the
 * actions sent (exact headers), the success and failure answers, the
 * recording events, and "No AMI connection" when the server is away.  The
 * agent check is stood in for (no database: the job is passed back as if the
 * agent and hash were valid) — the real check is covered by test_eccp_db.
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
#include "eccp/eccp.h"
#include "eccp/eccp_int.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define T_WAIT TCLI_WAIT_MS
#define DECL TCLI_DECL

/* ---- a fake Asterisk: banner, then Success (or Error) for every action ---- */

/*
 * Answers of Asterisk 22 to the getextensionstatus commands (one Output header per
 * line; "%s" is the ActionID).  NULL: not one of them.
 */
static const char *ext_answer(const char *block)
{
#define EXT_OK(body) "Response: Success\r\nActionID: %s\r\nMessage: Command output follows\r\n" body "\r\n"
    static const struct {
        const char *cmd, *answer;
    } t[] = {
        {"Command: sip show peer 101", EXT_OK("Output: \r\nOutput: \r\nOutput:   * Name       : 101\r\n"
                                                "Output:   Secret       : <Set>\r\n"
                                                "Output:   Addr->IP     : 10.0.0.5:5060\r\n"
                                                "Output:   Status       : OK (12 ms)\r\n"
                                                "Output:   Useragent    : Yealink\r\n")},
        {"Command: sip show peer 102", EXT_OK("Output:   * Name       : 102\r\n"
                                                "Output:   Status       : UNREACHABLE\r\n"
                                                "Output:   Description  : Status OK once\r\n")},
        {"Command: sip show peer 999", EXT_OK("Output: Peer 999 not found.\r\n")},
        {"Command: pjsip show endpoint 201",
         EXT_OK("Output: \r\nOutput:  Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>\r\n"
                "Output:       Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>\r\n"
                "Output: ==========================================================================================\r\n"
                "Output: \r\nOutput:  Endpoint:  201                                                  Not in use    0 of inf\r\n"
                "Output:         Aor:  201                                                1\r\n"
                "Output:       Contact:  201/sip:201@10.0.0.6:5060;ob                 0a1b2c3d4e Unavail       nan\r\n"
                "Output:       Contact:  201/sip:201@10.0.0.7:5060;ob                 9c0e1e6c3f Avail         4.210\r\n")},
        {"Command: pjsip show endpoint 202",
         EXT_OK("Output:  Endpoint:  202                                                  Unavailable   0 of inf\r\n"
                "Output:         Aor:  202                                                1\r\n"
                "Output:       Contact:  202/sip:202@10.0.0.8:5060;ob                 0a1b2c3d4e Unavail       nan\r\n"
                "Output:       Contact:  202/sip:202@10.0.0.9:5060                    1a1b2c3d4e NonQual       nan\r\n"
                "Output:   Transport:  transport-udp             udp      0      0  0.0.0.0:5060\r\n")},
        {"Command: pjsip show endpoint 999", EXT_OK("Output: Unable to find object 999.\r\n")},
        {"Command: iax2 show peer 301", EXT_OK("Output: \r\nOutput:   * Name       : 301\r\n"
                                                 "Output:   Status       : OK (1 ms)\r\n")},
        /* chan_iax2 not loaded: Asterisk answers Error with the CLI's complaint */
        {"Command: iax2 show peer 302", "Response: Error\r\nActionID: %s\r\nMessage: Command output follows\r\n"
                                          "Output: No such command 'iax2 show peer 302' (type 'core show help iax2 show' for other possible commands)\r\n\r\n"},
    };
#undef EXT_OK
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strstr(block, t[i].cmd))
            return t[i].answer;
    return NULL;
}

static void fake_answer(int fd, const char *block)
{
    char id[128] = "";
    const char *p = strstr(block, "ActionID: ");
    if (p)
        sscanf(p + 10, "%127[^\r]", id);
    char out[4096];
    const char *ext = ext_answer(block);
    if (ext) {
        snprintf(out, sizeof(out), ext, id);
    } else if (strstr(block, "Action: Command")) {
        snprintf(out, sizeof(out),
                 "Response: Success\r\nActionID: %s\r\nMessage: Command output follows\r\n"
                 "Output:  -- General --\r\nOutput:            Name: PJSIP/cust-1\r\n"
                 "Output:       Variables:\r\nOutput: DIALER_TAG=lead&42\r\nOutput: QUEUENAME=8000\r\n"
                 "Output:   CDR Variables:\r\nOutput: level 1: clid=\"x\"\r\n\r\n", id);
    } else if (strstr(block, "fail")) {
        snprintf(out, sizeof(out), "Response: Error\r\nActionID: %s\r\nMessage: No such channel\r\n\r\n", id);
    } else {
        snprintf(out, sizeof(out), "Response: Success\r\nActionID: %s\r\nMessage: ok\r\n\r\n", id);
    }
    if (write(fd, out, strlen(out)) < 0)
        return;
}

#include "test/eccp/fake_ami.h"

/* ---- the agent check stand-in ---- */

/* What happens to the job recording a transfer (the only job without an agent check):
 * 0 comes back as if written, 1 comes back failed (database away), 2 is refused. */
static atomic_int xfer_mode;

/* Transfer record jobs freed (with whatever they log on the way): once a job is freed
 * nothing more can come from it, which is how the test knows a log count is final. */
static atomic_int xfer_freed;
static void (*xfer_free_orig)(void *); /* the module's own extra_free, set before the first call */

static void xfer_free_counted(void *p)
{
    xfer_free_orig(p);
    atomic_fetch_add(&xfer_freed, 1);
}

static int pass_submit(void *ctx, db_read_job_t *job)
{
    (void)ctx;
    eccp_job_t *j = (eccp_job_t *)job;
    if (!j->agentauth) {
        if (j->extra_free && j->extra_free != xfer_free_counted) {
            xfer_free_orig = j->extra_free;
            j->extra_free = xfer_free_counted;
        }
        int mode = atomic_load(&xfer_mode);
        if (mode == 2)
            return CCD_EFULL;
        job->status = mode == 1 ? CCD_EIO : 0;
        job->msg.type = MSG_DB_READ_DONE;
        return mq_push_force(job->reply, &job->msg);
    }
    j->auth_code = 0; /* "agent exists and the hash matched" */
    job->status = 0;
    job->msg.type = MSG_DB_READ_DONE;
    return mq_push_force(job->reply, &job->msg);
}

static bool ok_login(void *ctx, const char *u, const char *p)
{
    (void)ctx;
    (void)u;
    (void)p;
    return true;
}

static conf_t cf;
static reg_t *reg;
static ami_t *ami;
static eccp_server_t *srv;

static void apply_setup(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_call_t *c = treg_agent_on_call(tx, "Agent/9000", REG_CALL_OUTGOING, 42, 5);
    snprintf(c->channel, sizeof(c->channel), "PJSIP/cust-1");
    snprintf(c->agent_channel, sizeof(c->agent_channel), "Local/9000@agents-1;1");
    /* the leg whose hangup ends the agent's part (hangup uses it, atxfer keeps agent_channel) */
    snprintf(c->agent_hangup_channel, sizeof(c->agent_hangup_channel), "PJSIP/9000-00000007");
    /* in a call whose channel "fails" */
    reg_call_t *d = treg_agent_on_call(tx, "Agent/9001", REG_CALL_INCOMING, 0, 0);
    snprintf(d->channel, sizeof(d->channel), "PJSIP/fail-2");
    snprintf(d->agent_channel, sizeof(d->agent_channel), "Local/9001@agents-fail;1");
    /* logged in, no call */
    reg_agent_t *idle = reg_txn_agent(tx, "Agent/9002", true);
    idle->login = REG_LOGGED_IN;
    reg_txn_agent_touch(tx, idle);
}

static int setup(void **state)
{
    (void)state;
    fake_start();
    conf_defaults(&cf);
    reg = reg_new(10000, NULL, 0);
    ami = fake_ami_new(&cf);
    snprintf(cf.eccp.bind, sizeof(cf.eccp.bind), "127.0.0.1");
    cf.eccp.port = 0;
    eccp_deps_t d = {.reg = reg, .ami = ami, .db_submit = pass_submit, .ags = fake_ags_new(&cf, reg, ami),
                     .login_check = ok_login};
    char err[256];
    srv = eccp_server_new(&cf.eccp, &d, err, sizeof(err));
    assert_non_null(srv);
    fake_stack_start(reg, ami, srv, apply_setup);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_stack_stop(reg, ami, srv);
    fake_stop_all();
    return 0;
}

static tcli_t *login_any(void)
{
    tcli_t *c = tcli_connect(eccp_server_port(srv));
    tcli_send(c, "<request id=\"L\"><login><username>a</username><password>b</password></login></request>");
    return c;
}

#define AG(name, agent, extra) \
    "<request id=\"" name "\"><" name "><agent_number>" agent "</agent_number><agent_hash>h" \
    "</agent_hash>" extra "</" name "></request>"

static void test_ami_actions(void **state)
{
    (void)state;
    tcli_t *c = login_any();
    char *r = tcli_next(c, false);
    assert_non_null(strstr(r, "<app_cookie>"));
    free(r);
    expect(c, AG("hangup", "Agent/9000", ""),
           DECL "<response id=\"hangup\"><hangup_response><success/></hangup_response></response>\n");
    assert_true(logged("Action: Hangup\r\n"));
    assert_true(logged("Channel: PJSIP/9000-00000007"));
    /* the only action so far went to agent_hangup_channel, not to the member leg */
    assert_false(logged("Channel: Local/9000@agents-1;1"));
    /* without agent_hangup_channel: the agent channel */
    expect(c, AG("hangup", "Agent/9001", ""),
           DECL "<response id=\"hangup\"><hangup_response><failure><code>500</code><message>Cannot "
                "hangup agent call</message></failure></hangup_response></response>\n");
    assert_true(logged("Channel: Local/9001@agents-fail;1"));
    expect(c, AG("transfercall", "Agent/9000", "<extension>4001</extension>"),
           DECL "<response id=\"transfercall\"><transfercall_response><success/>"
                "</transfercall_response></response>\n");
    assert_true(logged("Action: Redirect"));
    assert_true(logged("Channel: PJSIP/cust-1\r\nExten: 4001\r\nContext: xfer-ctx\r\nPriority: 1"));
    expect(c, AG("transfercall", "Agent/9000", "<extension>40a1</extension>"),
           DECL "<response id=\"transfercall\"><failure><code>400</code><message>Bad request"
                "</message></failure></response>\n");
    expect(c, AG("atxfercall", "Agent/9000", "<extension>4003</extension>"),
           DECL "<response id=\"atxfercall\"><atxfercall_response><success/></atxfercall_response>"
                "</response>\n");
    assert_true(logged("Action: Atxfer"));
    assert_true(logged("Channel: Local/9000@agents-1;1\r\nExten: 4003\r\nContext: xfer-ctx"));
    expect(c, AG("atxfercall", "Agent/9001", "<extension>4003</extension>"),
           DECL "<response id=\"atxfercall\"><atxfercall_response><failure><code>500</code><message>"
                "Unable to transfer call</message></failure></atxfercall_response></response>\n");
    /* mute: answer, then the recordingmute event */
    tcli_send(c, AG("mixmonitormute", "Agent/9000", ""));
    r = tcli_next(c, false);
    assert_string_equal(r, DECL "<response id=\"mixmonitormute\"><mixmonitormute_response><success/>"
                                "</mixmonitormute_response></response>\n");
    free(r);
    r = tcli_next(c, true);
    assert_string_equal(r, DECL "<event><recordingmute><agent_number>Agent/9000</agent_number>"
                                "<calltype>outgoing</calltype><campaign_id>5</campaign_id><call_id>42"
                                "</call_id></recordingmute></event>\n");
    free(r);
    assert_true(logged("Action: MixMonitorMute"));
    assert_true(logged("Channel: PJSIP/cust-1\r\nDirection: read\r\nState: 1"));
    expect(c, AG("mixmonitormute", "Agent/9000", "<timeout>0</timeout>"),
           DECL "<response id=\"mixmonitormute\"><mixmonitormute_response><failure><code>417</code>"
                "<message>Invalid timeout</message></failure></mixmonitormute_response></response>\n");
    tcli_send(c, AG("mixmonitorunmute", "Agent/9000", ""));
    r = tcli_next(c, false);
    assert_non_null(strstr(r, "<mixmonitorunmute_response><success/>"));
    free(r);
    r = tcli_next(c, true);
    assert_non_null(strstr(r, "<event><recordingunmute><agent_number>Agent/9000</agent_number>"));
    free(r);
    assert_true(logged("State: 0"));
    expect(c, AG("mixmonitorunmute", "Agent/9001", ""),
           DECL "<response id=\"mixmonitorunmute\"><mixmonitorunmute_response><failure><code>500"
                "</code><message>Cannot unmute agent call</message></failure>"
                "</mixmonitorunmute_response></response>\n");
    expect(c, AG("getchanvars", "Agent/9000", ""),
           DECL "<response id=\"getchanvars\"><getchanvars_response><clientchannel>PJSIP/cust-1"
                "</clientchannel><chanvars><chanvar><label>DIALER_TAG</label><value>lead&amp;42"
                "</value></chanvar><chanvar><label>QUEUENAME</label><value>8000</value></chanvar>"
                "</chanvars></getchanvars_response></response>\n");
    assert_true(logged("Action: Command"));
    assert_true(logged("Command: core show channel PJSIP/cust-1"));
    /* no call: validation answer, nothing sent */
    expect(c, AG("hangup", "Agent/7777", ""),
           DECL "<response id=\"hangup\"><hangup_response><failure><code>417</code><message>Agent not "
                "in call</message></failure></hangup_response></response>\n");
    /* a known agent without a call: transfercall 417, atxfercall 404 (Issabel's codes) */
    expect(c, AG("transfercall", "Agent/9002", "<extension>4001</extension>"),
           DECL "<response id=\"transfercall\"><transfercall_response><failure><code>417</code>"
                "<message>Agent not in call</message></failure></transfercall_response></response>\n");
    expect(c, AG("atxfercall", "Agent/9002", "<extension>4001</extension>"),
           DECL "<response id=\"atxfercall\"><atxfercall_response><failure><code>404</code>"
                "<message>Agent not in call</message></failure></atxfercall_response></response>\n");
    tcli_close(c);
}

/* "not recorded" log lines (the transfer record's failures are logged once each). */
static atomic_int not_recorded;
static void count_sink(log_level_e level, const char *module, const char *line, void *ctx)
{
    (void)level;
    (void)module;
    (void)ctx;
    if (strstr(line, "not recorded"))
        atomic_fetch_add(&not_recorded, 1);
}

/* A transfer whose database record fails or is refused still gets exactly one response:
 * the next message after the success is the answer to the following request. */
static void test_transfer_one_response(void **state)
{
    (void)state;
    log_set_sink(count_sink, NULL);
    tcli_t *c = login_any();
    free(tcli_next(c, false));
    for (int mode = 1; mode <= 2; mode++) {
        atomic_store(&xfer_mode, mode);
        int before = atomic_load(&not_recorded);
        int freed_before = atomic_load(&xfer_freed);
        const char *name = mode == 1 ? "transfercall" : "atxfercall";
        char req[512], want[512];
        snprintf(req, sizeof(req), "<request id=\"%s\"><%s><agent_number>Agent/9000</agent_number>"
                                   "<agent_hash>h</agent_hash><extension>4001</extension></%s>"
                                   "</request>", name, name, name);
        snprintf(want, sizeof(want), DECL "<response id=\"%s\"><%s_response><success/></%s_response>"
                                     "</response>\n", name, name, name);
        expect(c, req, want);
        expect(c, "<request id=\"after\"><getrequestlist/></request>",
               DECL "<response id=\"after\"><getrequestlist_response><requests><request>"
                    "getrequestlist</request><request>filterbyagent</request><request>login"
                    "</request><request>logout</request><request>getqueuescript</request><request>"
                    "getcampaignlist</request><request>getincomingqueuelist</request><request>"
                    "getcampaignqueuewait</request><request>getcampaigninfo</request><request>"
                    "getcallinfo</request><request>setcontact</request><request>saveformdata"
                    "</request><request>getpauses</request><request>loginagent</request><request>"
                    "logoutagent</request><request>pauseagent</request><request>pingagent</request>"
                    "<request>unpauseagent</request><request>getagentstatus</request><request>"
                    "getmultipleagentstatus</request><request>mixmonitormute</request><request>"
                    "mixmonitorunmute</request><request>hangup</request><request>getcampaignstatus"
                    "</request><request>getincomingqueuestatus</request><request>schedulecall"
                    "</request><request>transfercall</request><request>atxfercall</request><request>"
                    "hold</request><request>unhold</request><request>getagentqueues</request>"
                    "<request>getmultipleagentqueues</request><request>getagentactivitysummary"
                    "</request><request>getchanvars</request><request>callprogress</request>"
                    "<request>campaignlog</request><request>dumpstatus</request><request>"
                    "refreshagents</request><request>transfercallagent</request><request>"
                    "getextensionstatus</request></requests></getrequestlist_response></response>\n");
        /* the failed record is logged, once: counted when its job is gone, so no later
         * line can come from it */
        CCD_WAIT(atomic_load(&xfer_freed) == freed_before + 1);
        assert_int_equal(atomic_load(&not_recorded), before + 1);
    }
    atomic_store(&xfer_mode, 0);
    /* nothing else arrives for the session: the next message is the answer to the next
     * request (the jobs are gone, so a stray answer would already be ahead of it) */
    expect(c, "<request id=\"last\"><filterbyagent><agent_number>any</agent_number>"
              "</filterbyagent></request>",
           DECL "<response id=\"last\"><filterbyagent_response><success/></filterbyagent_response>"
                "</response>\n");
    tcli_close(c);
    log_set_sink(NULL, NULL);
}

#define EXT(id, ext) \
    "<request id=\"" id "\"><getextensionstatus><extension>" ext "</extension></getextensionstatus></request>"
#define EXT_ANS(id, ext, yn) \
    DECL "<response id=\"" id "\"><getextensionstatus_response><extension>" ext "</extension><registered>" \
         yn "</registered></getextensionstatus_response></response>\n"

static void test_extension_status(void **state)
{
    (void)state;
    tcli_t *c = tcli_connect(eccp_server_port(srv));
    /* eccpauth: nothing is asked before login */
    expect(c, EXT("x", "SIP/101"),
           DECL "<response id=\"x\"><failure><code>401</code><message>Unauthorized</message></failure>"
                "</response>\n");
    tcli_send(c, "<request id=\"L\"><login><username>a</username><password>b</password></login></request>");
    free(tcli_next(c, false));
    expect(c, EXT("1", "SIP/101"), EXT_ANS("1", "SIP/101", "yes"));
    assert_true(logged("Action: Command\r\n"));
    assert_true(logged("Command: sip show peer 101"));
    expect(c, EXT("2", "SIP/102"), EXT_ANS("2", "SIP/102", "no"));   /* UNREACHABLE */
    expect(c, EXT("3", "SIP/999"), EXT_ANS("3", "SIP/999", "no"));   /* unknown peer */
    expect(c, EXT("4", "PJSIP/201"), EXT_ANS("4", "PJSIP/201", "yes")); /* one Avail contact */
    assert_true(logged("Command: pjsip show endpoint 201"));
    expect(c, EXT("5", "PJSIP/202"), EXT_ANS("5", "PJSIP/202", "no")); /* Unavail, NonQual */
    expect(c, EXT("6", "PJSIP/999"), EXT_ANS("6", "PJSIP/999", "no"));
    expect(c, EXT("7", "IAX2/301"), EXT_ANS("7", "IAX2/301", "yes"));
    assert_true(logged("Command: iax2 show peer 301"));
    expect(c, EXT("8", "IAX2/302"), EXT_ANS("8", "IAX2/302", "no"));  /* Response: Error */
    /* validation: nothing is sent to Asterisk */
    expect(c, "<request id=\"9\"><getextensionstatus/></request>",
           DECL "<response id=\"9\"><failure><code>400</code><message>Bad request</message></failure>"
                "</response>\n");
    static const char *const bad[] = {"101", "SIP/", "sip/101", "DAHDI/1", "SIP/10 1", "SIP/1-2",
                                      "PJSIP/a/b", "Local/101@from-internal", "",
                                      "SIP/0123456789012345678901234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[512];
        snprintf(req, sizeof(req), EXT("b", "%s"), bad[i]);
        expect(c, req,
               DECL "<response id=\"b\"><getextensionstatus_response><failure><code>417</code><message>"
                    "Invalid extension</message></failure></getextensionstatus_response></response>\n");
    }
    assert_false(logged("show peer 10 1"));
    assert_false(logged("show peer 0123456789"));
    tcli_close(c);
}

/* The extension check (the output parser is ami/'s, tested in test_ami_ops). */
static void test_ext_parse(void **state)
{
    (void)state;
    assert_true(eccp__ext_valid("SIP/101"));
    assert_true(eccp__ext_valid("PJSIP/alice_2"));
    assert_true(eccp__ext_valid("IAX2/x"));
    assert_false(eccp__ext_valid("IAX/101"));
    assert_false(eccp__ext_valid("SIP/1.1"));
    assert_false(eccp__ext_valid("SIP/101\n"));
}

static void test_ami_down(void **state)
{
    (void)state;
    ami_stop(ami); /* the server is away now */
    tcli_t *c = login_any();
    char *r = tcli_next(c, false);
    free(r);
    expect(c, AG("hangup", "Agent/9000", ""),
           DECL "<response id=\"hangup\"><failure><code>500</code><message>No AMI connection</message>"
                "</failure></response>\n");
    expect(c, EXT("e", "SIP/101"),
           DECL "<response id=\"e\"><failure><code>500</code><message>No AMI connection</message>"
                "</failure></response>\n");
    tcli_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ami_actions),
        cmocka_unit_test(test_transfer_one_response),
        cmocka_unit_test(test_extension_status),
        cmocka_unit_test(test_ext_parse),
        cmocka_unit_test(test_ami_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
