/*
 * ami_ops: the typed operations' action text, and their answer readers
 * against recorded Asterisk answers (test/data/asterisk/transcripts):
 * core show channel (a Variables: section, then an unknown channel),
 * MixMonitorMute errors, Redirect errors, and peer status output lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ami/ami.h"
#include "ami/ami_int.h" /* the action's text, to compare with the recordings */
#include "core/err.h"
#include "test/tools/transcript.h"

/* The action's wire text without the ActionID. */
static void assert_action(ami_action_t *a, const char *want)
{
    assert_non_null(a);
    char got[512];
    snprintf(got, sizeof(got), "%.*s", (int)a->text.len, buf_data(&a->text));
    assert_string_equal(got, want);
    ami_action_free(a);
}

static void test_builders(void **state)
{
    (void)state;
    assert_action(ami_op_hangup("PJSIP/1001-00000002"),
                  "Action: Hangup\r\nChannel: PJSIP/1001-00000002\r\n");
    assert_action(ami_op_redirect("Local/5941@customers-00000004;1", "from-internal", "4003", 1),
                  "Action: Redirect\r\nChannel: Local/5941@customers-00000004;1\r\nExten: 4003\r\n"
                  "Context: from-internal\r\nPriority: 1\r\n");
    assert_action(ami_op_atxfer("Local/9000@agents-00000005;1", "xfer", "4003"),
                  "Action: Atxfer\r\nChannel: Local/9000@agents-00000005;1\r\nExten: 4003\r\n"
                  "Context: xfer\r\n");
    assert_action(ami_op_mixmonitor_mute("SIP/a-1", true),
                  "Action: MixMonitorMute\r\nChannel: SIP/a-1\r\nDirection: read\r\nState: 1\r\n");
    assert_action(ami_op_mixmonitor_mute("SIP/a-1", false),
                  "Action: MixMonitorMute\r\nChannel: SIP/a-1\r\nDirection: read\r\nState: 0\r\n");
    assert_action(ami_op_core_show_channel("Local/5941@customers-00000004;1"),
                  "Action: Command\r\nCommand: core show channel Local/5941@customers-00000004;1\r\n");
    assert_action(ami_op_peer_status(AMI_PEER_SIP, "101"),
                  "Action: Command\r\nCommand: sip show peer 101\r\n");
    assert_action(ami_op_peer_status(AMI_PEER_PJSIP, "alice"),
                  "Action: Command\r\nCommand: pjsip show endpoint alice\r\n");
    assert_action(ami_op_peer_status(AMI_PEER_IAX2, "x"),
                  "Action: Command\r\nCommand: iax2 show peer x\r\n");
    /* a value that would inject a header is refused: no action at all */
    assert_null(ami_op_hangup("SIP/a\r\nAction: Originate"));
    assert_null(ami_op_redirect("SIP/a", "ctx\n", "1", 1));
    assert_null(ami_op_peer_status((ami_peer_tech_e)7, "x"));

    ami_peer_tech_e t;
    const char *peer;
    assert_int_equal(ami_peer_parse("PJSIP/alice_2", &t, &peer), 0);
    assert_int_equal(t, AMI_PEER_PJSIP);
    assert_string_equal(peer, "alice_2");
    assert_int_equal(ami_peer_parse("IAX2/7", &t, &peer), 0);
    assert_int_equal(t, AMI_PEER_IAX2);
    assert_int_equal(ami_peer_parse("SIP/101", &t, &peer), 0);
    assert_int_equal(t, AMI_PEER_SIP);
    assert_int_equal(ami_peer_parse("IAX/101", &t, &peer), CCD_EINVAL);
    assert_int_equal(ami_peer_parse("sip/101", &t, &peer), CCD_EINVAL);
}

/* The agent service's actions (agent/): login and unhold Originates, dynamic members, pauses,
 * Park, AgentLogoff, with their optional headers left out when not given. */
static void test_agent_builders(void **state)
{
    (void)state;
    assert_action(ami_op_originate_exten("Local/1001@phones", "agent-login", "9000", 30000,
                                         "\"Agent/9000 Login\" <9000>", "ccd-login-1"),
                  "Action: Originate\r\nChannel: Local/1001@phones\r\nTimeout: 30000\r\n"
                  "CallerID: \"Agent/9000 Login\" <9000>\r\nAsync: true\r\nContext: agent-login\r\n"
                  "Exten: 9000\r\nPriority: 1\r\nChannelId: ccd-login-1\r\n");
    assert_action(ami_op_originate_exten("Local/9000@agents", "parkedcalls", "701", 0, NULL, ""),
                  "Action: Originate\r\nChannel: Local/9000@agents\r\nAsync: true\r\n"
                  "Context: parkedcalls\r\nExten: 701\r\nPriority: 1\r\n");
    assert_action(ami_op_queue_add("8001", "SIP/1001", 2, "SIP agent 1001"),
                  "Action: QueueAdd\r\nQueue: 8001\r\nInterface: SIP/1001\r\nPenalty: 2\r\n"
                  "Paused: false\r\nMemberName: SIP agent 1001\r\n");
    assert_action(ami_op_queue_remove("8001", "SIP/1001"),
                  "Action: QueueRemove\r\nQueue: 8001\r\nInterface: SIP/1001\r\n");
    assert_action(ami_op_queue_pause("Local/9000@agents", NULL, true, "Lunch"),
                  "Action: QueuePause\r\nInterface: Local/9000@agents\r\nPaused: true\r\n"
                  "Reason: Lunch\r\n");
    assert_action(ami_op_queue_pause("SIP/1001", "8000", false, ""),
                  "Action: QueuePause\r\nInterface: SIP/1001\r\nPaused: false\r\nQueue: 8000\r\n");
    assert_action(ami_op_park("Local/5401@customers-00000001;1", "Local/9000@agents-00000002;1"),
                  "Action: Park\r\nChannel: Local/5401@customers-00000001;1\r\n"
                  "TimeoutChannel: Local/9000@agents-00000002;1\r\n");
    assert_action(ami_op_agent_logoff("9000"), "Action: AgentLogoff\r\nAgent: 9000\r\nSoft: false\r\n");
    assert_null(ami_op_queue_pause("SIP/1001", NULL, true, "x\r\nAction: Hangup"));
    assert_null(ami_op_park("SIP/a-1", "SIP/b-2\r\nAction: Hangup"));
    /* a required value missing is refused too; only optional ones may be left out */
    assert_null(ami_op_hangup(NULL));
    assert_null(ami_op_queue_add("8001", NULL, 0, NULL));
    assert_null(ami_op_originate_exten("Local/9000@agents", NULL, "701", 0, NULL, NULL));
}

/* The parking events of a recorded hold (hold_park.txt) as typed events: who was parked, where,
 * and the leg that took the call back. */
static void test_parking_events(void **state)
{
    (void)state;
    size_t len;
    char *in = tr_received("hold_park.txt", true, &len);
    assert_non_null(in);
    ccd_str_t ver;
    size_t off = 0;
    assert_int_equal(ami_parse_banner(in, len, &ver, &off), CCD_OK);
    ami_parser_t *p = malloc(sizeof(*p));
    assert_non_null(p);
    ami_parser_init(p, 0, 0, 0);
    ami_msg_t m;
    int parked = 0, unparked = 0;
    while (off < len && ami_parse(p, in + off, len - off, &m) == CCD_OK) {
        ami_event_t *ev = ami_event_from_msg(&m, 0, NULL);
        if (ev && ev->type == AMI_EV_PARKED_CALL && !ami_msg_get(&m, "ActionID").len) {
            parked++;
            assert_string_equal(ev->parkee_uniqueid, "dlr-5401-a");
            assert_string_equal(ev->parkee_channel, "Local/5401@customers-00000001;1");
            assert_int_equal(ev->parking_space, 701);
        } else if (ev && ev->type == AMI_EV_UNPARKED_CALL) {
            unparked++;
            assert_string_equal(ev->parkee_uniqueid, "dlr-5401-a");
            assert_string_equal(ev->retriever_channel, "Local/9000@agents-00000003;1");
            ami_event_t *d = ami_event_dup(ev); /* the copy's strings are its own */
            assert_non_null(d);
            ami_event_free(ev);
            ev = d;
            assert_string_equal(ev->retriever_channel, "Local/9000@agents-00000003;1");
        }
        if (ev)
            ami_event_free(ev);
        off += m.len;
    }
    assert_int_equal(parked, 1);
    assert_int_equal(unparked, 1);
    free(p);
    free(in);
}

/* The recorded answer to action_id in a transcript, as the client delivers it. */
static ami_response_t *recorded(const char *file, const char *action_id)
{
    size_t len;
    char *in = tr_received(file, true, &len);
    assert_non_null(in);
    ccd_str_t ver;
    size_t off = 0;
    assert_int_equal(ami_parse_banner(in, len, &ver, &off), CCD_OK);
    ami_parser_t *p = malloc(sizeof(*p));
    assert_non_null(p);
    ami_parser_init(p, 0, 0, 0);
    ami_response_t *r = NULL;
    ami_msg_t m;
    while (!r && off < len && ami_parse(p, in + off, len - off, &m) == CCD_OK) {
        if (ami_msg_get(&m, "Response").len && ami_str_ieq(ami_msg_get(&m, "ActionID"), action_id)) {
            r = calloc(1, sizeof(*r));
            assert_non_null(r);
            r->status = CCD_OK;
            r->resp = ami_rec_from_msg(&m);
            assert_non_null(r->resp);
            const char *rv = ami_rec_get(r->resp, "Response");
            r->ok = strcmp(rv, "Success") == 0 || strcmp(rv, "Follows") == 0;
        }
        off += m.len;
    }
    free(p);
    free(in);
    if (!r)
        fail_msg("no answer to %s in %s", action_id, file);
    return r;
}

static void response_free(ami_response_t *r)
{
    free(r->resp);
    free(r);
}

static void test_chanvars_recorded(void **state)
{
    (void)state;
    ami_response_t *r = recorded("core_show_channel.txt", "command-4");
    ami_chanvars_t *cv = NULL;
    assert_int_equal(ami_op_chanvars(r, &cv), CCD_OK);
    /* the 29 NAME=value lines of the Variables: section, in order; not the 18
     * "level 1: x=y" CDR lines, not "Name: audio-0" and friends after it */
    assert_int_equal(cv->n, 29);
    assert_string_equal(cv->v[0].name, "BRIDGEPEER");
    assert_string_equal(cv->v[0].value, "Local/9000@agents-00000005;1");
    assert_string_equal(cv->v[4].name, "QUEUESRVLEVELPERF");
    assert_string_equal(cv->v[4].value, "0.0");
    bool talk = false, camp = false, dialed = false;
    for (size_t i = 0; i < cv->n; i++) {
        assert_null(strchr(cv->v[i].name, ' '));
        assert_null(strchr(cv->v[i].value, '\r'));
        talk |= strcmp(cv->v[i].name, "TALK") == 0 && strcmp(cv->v[i].value, "10") == 0;
        camp |= strcmp(cv->v[i].name, "DIALER_CAMPAIGN") == 0 && strcmp(cv->v[i].value, "c1") == 0;
        dialed |= strcmp(cv->v[i].name, "DIALEDTIME") == 0 && cv->v[i].value[0] == '\0';
    }
    assert_true(talk);
    assert_true(camp);
    assert_true(dialed); /* an empty value is kept */
    assert_string_equal(cv->v[cv->n - 1].name, "DIALER_CAMPAIGN");
    free(cv);
    response_free(r);

    /* after the hangup: "... is not a known channel" (Success with one Output line) */
    r = recorded("core_show_channel.txt", "command-5");
    assert_int_equal(ami_op_chanvars(r, &cv), CCD_OK);
    assert_int_equal(cv->n, 0);
    free(cv);
    response_free(r);
}

static void test_chanvars_shapes(void **state)
{
    (void)state;
    /* the legacy Follows body, CRLF or LF, same rules */
    ami_rec_t *rec = calloc(1, sizeof(ami_rec_t) + 2 * sizeof(ami_kv_t));
    assert_non_null(rec);
    rec->n = 1;
    rec->kv[0] = (ami_kv_t){"Response", "Follows"};
    rec->output = "  -- General --\r\n       Variables:  \r\nA_1=x=y\r\nbad line=1\r\n=v\r\nB=\n"
                  "   \r\nC=after the blank\r\n      Variables:\r\nD=2";
    ami_response_t r = {.status = CCD_OK, .ok = true, .resp = rec};
    ami_chanvars_t *cv = NULL;
    assert_int_equal(ami_op_chanvars(&r, &cv), CCD_OK);
    assert_int_equal(cv->n, 3);
    assert_string_equal(cv->v[0].name, "A_1");
    assert_string_equal(cv->v[0].value, "x=y");
    assert_string_equal(cv->v[1].name, "B");
    assert_string_equal(cv->v[1].value, "");
    assert_string_equal(cv->v[2].name, "D");
    assert_string_equal(cv->v[2].value, "2");
    free(cv);
    /* an Error answer: an empty list; no answer at all: the reason */
    r.ok = false;
    assert_int_equal(ami_op_chanvars(&r, &cv), CCD_OK);
    assert_int_equal(cv->n, 0);
    free(cv);
    ami_response_t none = {.status = CCD_ETIMEDOUT};
    assert_int_equal(ami_op_chanvars(&none, &cv), CCD_ETIMEDOUT);
    none.status = CCD_OK; /* status OK but no response record */
    assert_int_equal(ami_op_chanvars(&none, &cv), CCD_ECLOSED);
    free(rec);
}

static void test_ok_recorded(void **state)
{
    (void)state;
    const char *why = NULL;
    ami_response_t *r = recorded("mixmonitor_mute_errors.txt", "mixmonitormute-4");
    assert_false(ami_op_ok(r, &why));
    assert_string_equal(why, "Cannot set mute flag"); /* no MixMonitor running */
    response_free(r);
    r = recorded("mixmonitor_mute_errors.txt", "mixmonitormute-6");
    assert_true(ami_op_ok(r, &why));
    assert_string_equal(why, "");
    response_free(r);
    r = recorded("mixmonitor_mute_errors.txt", "mixmonitormute-10");
    assert_false(ami_op_ok(r, &why));
    assert_string_equal(why, "No such channel");
    response_free(r);
    r = recorded("redirect_invalid_context.txt", "redirect-6");
    assert_false(ami_op_ok(r, NULL));
    response_free(r);
    ami_response_t gone = {.status = CCD_ECLOSED};
    assert_false(ami_op_ok(&gone, &why));
    assert_string_equal(why, ccd_strerror(CCD_ECLOSED));
}

static bool line_reg(ami_peer_tech_e t, const char *line)
{
    return ami_peer_line_registered(t, line, strlen(line));
}

/* Token by token, so "Unavail" is never "Avail" and "OKAY" is not "OK". */
static void test_peer_lines(void **state)
{
    (void)state;
    assert_true(line_reg(AMI_PEER_SIP, "Status       : OK (12 ms)"));
    assert_true(line_reg(AMI_PEER_SIP, "Status:OK"));
    assert_true(line_reg(AMI_PEER_IAX2, "  Status       : OK (3 ms)"));
    assert_false(line_reg(AMI_PEER_SIP, "  * Name       : 101"));
    assert_false(line_reg(AMI_PEER_SIP, "Status       : UNREACHABLE"));
    assert_false(line_reg(AMI_PEER_SIP, "Description  : Status : OK"));
    assert_false(line_reg(AMI_PEER_SIP, "OK"));
    assert_false(line_reg(AMI_PEER_SIP, "Status       : OKAY"));
    assert_false(line_reg(AMI_PEER_SIP, "Status       : Unmonitored"));
    assert_false(line_reg(AMI_PEER_SIP, "Status: LAGGED (2001 ms)"));
    assert_true(line_reg(AMI_PEER_PJSIP, "Contact:  201/sip:201@h:5060 9c0e1e6c3f Avail 4.210"));
    assert_false(line_reg(AMI_PEER_PJSIP, "Contact:  201/sip:201@h:5060 9c0e1e6c3f Unavail nan"));
    assert_false(line_reg(AMI_PEER_PJSIP, "Contact:  201/sip:201@h:5060 9c0e1e6c3f NonQual nan"));
    assert_false(line_reg(AMI_PEER_PJSIP, "Contact:  <Aor/ContactUri...> <Hash....> <Status> <RTT(ms)..>"));
    assert_false(line_reg(AMI_PEER_PJSIP, "Endpoint:  201 Avail"));
    assert_false(line_reg(AMI_PEER_PJSIP, "Aor: 201 Avail-ish"));
    assert_false(line_reg(AMI_PEER_PJSIP, "Contact: Availx"));
    /* a SIP-style status line does not count for PJSIP, nor a Contact line for SIP */
    assert_false(line_reg(AMI_PEER_PJSIP, "Status       : OK (12 ms)"));
    assert_false(line_reg(AMI_PEER_SIP, "Contact:  201/sip:201@h:5060 9c0e1e6c3f Avail 4.210"));
    /* the line is a slice: what follows len is not read */
    assert_false(ami_peer_line_registered(AMI_PEER_SIP, "Status: OKAY", 11));
    assert_true(ami_peer_line_registered(AMI_PEER_SIP, "Status: OK!", 10));
}

static void test_peer_answers(void **state)
{
    (void)state;
    ami_rec_t *rec = calloc(1, sizeof(ami_rec_t) + 4 * sizeof(ami_kv_t));
    assert_non_null(rec);
    rec->n = 4;
    rec->kv[0] = (ami_kv_t){"Response", "Success"};
    rec->kv[1] = (ami_kv_t){"Output", ""};
    rec->kv[2] = (ami_kv_t){"Output", "* Name       : 101"};
    rec->kv[3] = (ami_kv_t){"Output", "Status       : OK (5 ms)"};
    rec->output = "";
    ami_response_t r = {.status = CCD_OK, .ok = true, .resp = rec};
    bool yes = false;
    assert_int_equal(ami_op_peer_registered(AMI_PEER_SIP, &r, &yes), CCD_OK);
    assert_true(yes);
    assert_int_equal(ami_op_peer_registered(AMI_PEER_PJSIP, &r, &yes), CCD_OK);
    assert_false(yes);
    /* Response: Error ("No such command": the driver is not loaded) means no */
    r.ok = false;
    assert_int_equal(ami_op_peer_registered(AMI_PEER_SIP, &r, &yes), CCD_OK);
    assert_false(yes);
    /* the legacy body */
    rec->n = 1;
    rec->output = " Endpoint:  201  Not in use\r\n Contact:  201/sip:201@h:5060 9c0e1e6c3f Avail 4.2\r\n";
    r.ok = true;
    assert_int_equal(ami_op_peer_registered(AMI_PEER_PJSIP, &r, &yes), CCD_OK);
    assert_true(yes);
    ami_response_t none = {.status = CCD_ETIMEDOUT};
    assert_int_equal(ami_op_peer_registered(AMI_PEER_SIP, &none, &yes), CCD_ETIMEDOUT);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builders),        cmocka_unit_test(test_chanvars_recorded),
        cmocka_unit_test(test_chanvars_shapes), cmocka_unit_test(test_ok_recorded),
        cmocka_unit_test(test_peer_lines),      cmocka_unit_test(test_peer_answers),
        cmocka_unit_test(test_agent_builders),  cmocka_unit_test(test_parking_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
