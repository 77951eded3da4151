/*
 * The call journal against a database stand-in (jnl_fake.c): registry changes in, the
 * exact rows out.  Each step is posted to a registry drained on the test thread (so
 * its changes reach the journal's queue in order), then jnl_sync waits until the
 * journal handled them; the rows written since the previous step are compared as text.
 * Times in the registry are fixed (T = 1700000000 s); "NOW" stands for a time the
 * journal takes from the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/common/ccd_test.h"
#include "core/clock.h"
#include "core/err.h"
#include "jnl_fake.h"
#include "journal/journal.h"

#define T JT_T

typedef struct fx {
    conf_t cf;
    reg_t *reg;
    jnl_t *j;
    fake_db_t f;
    size_t seen; /* lines already compared */
} fx_t;

static int setup(void **state)
{
    fx_t *x = calloc(1, sizeof(*x));
    conf_defaults(&x->cf);
    x->cf.dialer.retry_backoff_s = 300;
    x->cf.dialer.short_call_s = 10;
    x->reg = reg_new(4096, NULL, 0);
    fake_init(&x->f);
    x->f.camps[0] = (db_campaign_t){.id = 5, .retry_backoff_s = -1};
    x->f.camps[1] = (db_campaign_t){.id = 6, .retry_backoff_s = 60};
    x->f.ncamps = 2;
    char err[256];
    x->j = jnl_new(&x->cf, x->reg, NULL, err, sizeof(err));
    assert_non_null(x->j);
    jnl_db_ops_t ops = fake_ops(&x->f);
    jnl_set_db_ops(x->j, &ops);
    assert_int_equal(jnl_start(x->j), 0);
    *state = x;
    return 0;
}

/* The same, with every read failing until the test lets them through. */
static int setup_reads_failing(void **state)
{
    setup(state);
    fx_t *x = *state;
    /* a journal of its own, started with reads failing */
    jnl_stop(x->j);
    jnl_free(x->j);
    atomic_store(&x->f.reads_fail, true);
    char err[256];
    x->j = jnl_new(&x->cf, x->reg, NULL, err, sizeof(err));
    assert_non_null(x->j);
    jnl_db_ops_t ops = fake_ops(&x->f);
    jnl_set_db_ops(x->j, &ops);
    assert_int_equal(jnl_start(x->j), 0);
    return 0;
}

static int teardown(void **state)
{
    fx_t *x = *state;
    jnl_stop(x->j);
    jnl_free(x->j);
    reg_free(x->reg);
    fake_free(&x->f);
    free(x);
    return 0;
}

/* Replaces clock-taken times (any "=N" with N past 2025) by NOW. */
static void normalize(char *s)
{
    char *out = s;
    for (const char *p = s; *p;) {
        if (*p == '=' && isdigit((unsigned char)p[1])) {
            char *end;
            long long v = strtoll(p + 1, &end, 10);
            if (v >= 1735689600LL && v < 4000000000LL) {
                memcpy(out, "=NOW", 4);
                out += 4;
                p = end;
                continue;
            }
        }
        *out++ = *p++;
    }
    *out = 0;
}

/* The rows written since the last look, after the journal handled everything posted. */
static void expect(fx_t *x, const char *want)
{
    /* Twice: a read answer the journal asked for while handling the changes is queued
     * behind the first marker at worst, and before the second. */
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    char *got = fake_lines(&x->f, x->seen, &x->seen);
    normalize(got);
    if (strcmp(got, want) != 0)
        fail_msg("rows differ.\n--- want\n%s--- got\n%s", want, got);
    free(got);
}

/* ---- posting to the registry drained here ---- */

static void post(fx_t *x, const reg_call_t *c, bool remove)
{
    assert_int_equal(jt_post_call(x->reg, c, remove), 0);
    /* At least ours: the journal's own posts (an incoming call's id from the insert's reply)
     * may be queued beside it and are applied in the same drain. */
    assert_true(reg_drain(x->reg) >= 1);
}

static void post_agent(fx_t *x, const reg_agent_t *a)
{
    assert_int_equal(jt_post_agent(x->reg, a), 0);
    assert_int_equal(reg_drain(x->reg), 1);
}

#define agent9000() jt_agent(7)
#define call jt_call
#define link_fields jt_link

#define PROG(st, call, camp, retry, uid, trunk, agent, dur, at)                                    \
    "progress " st " call=" call " camp=" camp " retry=" retry " uid=" uid " trunk=" trunk          \
    " agent=" agent " dur=" dur " at=" at "\n"

/* A first attempt rung 1 s after placing and ended NoAnswer 39 s later, posted; NOANSWER_ROWS
 * is what the journal writes for it (id and campaign as strings). */
static reg_call_t post_noanswer(fx_t *x, int64_t id, int64_t campaign)
{
    reg_call_t c = call(id, campaign, 1);
    c.status = REG_CS_NOANSWER;
    c.t_answer_ms = T + 1000;
    c.t_end_ms = T + 40000;
    post(x, &c, false);
    return c;
}
#define NOANSWER_ROWS(id, camp)                                                                    \
    "calls " id " status=NoAnswer uniqueid=ccd-" id " fecha=1700000001 end=1700000040\n"          \
    PROG("Ringing", id, camp, "1", "ccd-" id, "", "0", "-1", "1700000001")                         \
    PROG("NoAnswer", id, camp, "1", "ccd-" id, "", "0", "-1", "1700000040")

/* Placing -> Dialing -> Ringing -> OnQueue -> Success -> Hangup, one change each. */
static void test_successful_call(void **state)
{
    fx_t *x = *state;
    reg_agent_t a = agent9000();
    post_agent(x, &a); /* logged out: no audit row */
    reg_call_t c = call(100, 5, 1);
    post(x, &c, false);
    /* The claim wrote Placing: no Placing row, only what the journal learnt. */
    expect(x, "calls 100 uniqueid=ccd-100\n");
    c.status = REG_CS_DIALING;
    snprintf(c.trunk, sizeof(c.trunk), "SIP/prov-out");
    post(x, &c, false);
    expect(x, "calls 100 trunk=SIP/prov-out\n" PROG("Dialing", "100", "5", "1", "ccd-100",
                                                      "SIP/prov-out", "0", "-1", "NOW"));
    c.status = REG_CS_RINGING;
    c.t_answer_ms = T + 5000;
    post(x, &c, false);
    expect(x, "calls 100 status=Ringing fecha=1700000005\n" PROG("Ringing", "100", "5", "1",
              "ccd-100", "SIP/prov-out", "0", "-1", "1700000005"));
    c.status = REG_CS_ONQUEUE;
    c.t_queue_ms = T + 6000;
    post(x, &c, false);
    expect(x, "calls 100 status=OnQueue queue=1700000006\n" PROG("OnQueue", "100", "5", "1",
              "ccd-100", "SIP/prov-out", "0", "-1", "1700000006"));
    c.status = REG_CS_SUCCESS;
    link_fields(&c, T + 10000);
    post(x, &c, false);
    expect(x, "calls 100 status=Success start=1700000010 wait=4 agent=7\n"
              PROG("Success", "100", "5", "1", "ccd-100", "SIP/prov-out", "7", "-1", "1700000010")
              "current+ 100 uid=ccd-100 queue=8000 agent=Agent/9000 event=Link "
              "chan=Local/9000@agents-0001;1 client=SIP/prov-out-0001 at=1700000010\n");
    c.status = REG_CS_ONHOLD;
    post(x, &c, false);
    expect(x, "calls 100 status=OnHold\n" PROG("OnHold", "100", "5", "1", "ccd-100",
                                                 "SIP/prov-out", "7", "-1", "NOW"));
    c.status = REG_CS_SUCCESS;
    post(x, &c, false);
    expect(x, "calls 100 status=Success\n" PROG("OffHold", "100", "5", "1", "ccd-100",
                                                  "SIP/prov-out", "7", "-1", "NOW"));
    c.status = REG_CS_HANGUP;
    c.t_end_ms = T + 52000;
    post(x, &c, false);
    /* 42 s of talk: Success stays, and the call counts in the campaign's statistics (the
     * sums are the database's: test_db_write, test_jnl_db) */
    expect(x, "calls 100 end=1700000052 duration=42 release\n"
              PROG("Hangup", "100", "5", "1", "ccd-100", "SIP/prov-out", "7", "42", "1700000052")
              "current- 100\n"
              "completed 5 dur=42\n");
    /* the registry's sweep: nothing left to write */
    post(x, &c, true);
    expect(x, "");
    jnl_stats_t st;
    jnl_get_stats(x->j, &st);
    assert_int_equal(st.calls_tracked, 0);
    assert_int_equal(st.writes_failed, 0);
    assert_int_equal(reg_notifications_dropped(x->reg), 0);
}

/* Every step in one change, linked for 5 s: ShortCall, retried after the campaign's back-off. */
static void test_short_call_coalesced(void **state)
{
    fx_t *x = *state;
    reg_agent_t a = agent9000();
    post_agent(x, &a);
    reg_call_t c = call(200, 6, 2);
    snprintf(c.trunk, sizeof(c.trunk), "SIP/prov-out");
    c.t_answer_ms = T + 1000;
    c.t_queue_ms = T + 2000;
    link_fields(&c, T + 3000);
    c.t_end_ms = T + 8000;
    c.status = REG_CS_HANGUP;
    post(x, &c, false);
    expect(x, "calls 200 status=ShortCall uniqueid=ccd-200 fecha=1700000001 queue=1700000002 "
              "start=1700000003 end=1700000008 duration=5 wait=1 agent=7 trunk=SIP/prov-out\n"
              PROG("Ringing", "200", "6", "2", "ccd-200", "SIP/prov-out", "7", "-1", "1700000001")
              PROG("OnQueue", "200", "6", "2", "ccd-200", "SIP/prov-out", "7", "-1", "1700000002")
              PROG("Success", "200", "6", "2", "ccd-200", "SIP/prov-out", "7", "-1", "1700000003")
              PROG("ShortCall", "200", "6", "2", "ccd-200", "SIP/prov-out", "7", "5",
                   "1700000008")
              /* the call's first change asked for its campaign; the release waited for
               * the row (campaign 6: retry_backoff_s 60, doubled for the second attempt) */
              "calls 200 next=120 release\n");
}

/* Late events move finished calls up (NoAnswer -> Abandoned -> Hangup): each outcome is
 * written, and the claim is released only once the outcome is settled. */
static void test_out_of_order_finishes(void **state)
{
    fx_t *x = *state;
    reg_agent_t a = agent9000();
    post_agent(x, &a);
    reg_call_t c = post_noanswer(x, 300, 5);
    expect(x, NOANSWER_ROWS("300", "5"));
    c.status = REG_CS_ABANDONED;
    c.t_queue_ms = T + 2000;
    post(x, &c, false);
    expect(x, "calls 300 status=Abandoned queue=1700000002 wait=38\n"
              PROG("Abandoned", "300", "5", "1", "ccd-300", "", "0", "-1", "1700000040"));
    c.status = REG_CS_HANGUP;
    link_fields(&c, T + 3000);
    post(x, &c, false);
    /* 37 s of talk */
    expect(x, "calls 300 status=Success start=1700000003 duration=37 wait=1 agent=7 release\n"
              PROG("Hangup", "300", "5", "1", "ccd-300", "", "7", "37", "1700000040")
              "completed 5 dur=37\n");
    post(x, &c, true);
    expect(x, "");

    /* Abandoned stays open to late events until the registry lets the call go. */
    reg_call_t d = call(301, 5, 2);
    d.status = REG_CS_ABANDONED;
    d.t_answer_ms = T + 1000;
    d.t_queue_ms = T + 2000;
    d.t_end_ms = T + 9000;
    post(x, &d, false);
    expect(x, "calls 301 status=Abandoned uniqueid=ccd-301 fecha=1700000001 queue=1700000002 "
              "end=1700000009 wait=7\n"
              PROG("Ringing", "301", "5", "2", "ccd-301", "", "0", "-1", "1700000001")
              PROG("OnQueue", "301", "5", "2", "ccd-301", "", "0", "-1", "1700000002")
              PROG("Abandoned", "301", "5", "2", "ccd-301", "", "0", "-1", "1700000009"));
    post(x, &d, true);
    /* [dialer] retry_backoff 300 (campaign 5 has none), doubled for the second attempt */
    expect(x, "calls 301 next=600 release\n");

    /* Still kept for late events when the engine stops: released by jnl_stop. */
    reg_call_t e = call(302, 5, 1);
    e.status = REG_CS_ABANDONED;
    e.t_answer_ms = T + 1000;
    e.t_queue_ms = T + 2000;
    e.t_end_ms = T + 5000;
    post(x, &e, false);
    expect(x, "calls 302 status=Abandoned uniqueid=ccd-302 fecha=1700000001 queue=1700000002 "
              "end=1700000005 wait=3\n"
              PROG("Ringing", "302", "5", "1", "ccd-302", "", "0", "-1", "1700000001")
              PROG("OnQueue", "302", "5", "1", "ccd-302", "", "0", "-1", "1700000002")
              PROG("Abandoned", "302", "5", "1", "ccd-302", "", "0", "-1", "1700000005"));
    jnl_stop(x->j);
    char *got = fake_lines(&x->f, x->seen, &x->seen);
    assert_string_equal(got, "calls 302 next=300 release\n");
    free(got);
}

/* Calls that vanished: Failure 'ccd-lost' and retried, or kept Success when they had
 * been talking; a call dropped unfinished counts as lost. */
static void test_lost_calls(void **state)
{
    fx_t *x = *state;
    reg_agent_t a = agent9000();
    post_agent(x, &a);
    reg_call_t c = call(400, 5, 1);
    c.status = REG_CS_RINGING;
    c.t_answer_ms = T + 1000;
    post(x, &c, false);
    expect(x, "calls 400 status=Ringing uniqueid=ccd-400 fecha=1700000001\n"
              PROG("Ringing", "400", "5", "1", "ccd-400", "", "0", "-1", "1700000001"));
    c.status = REG_CS_LOST;
    c.t_end_ms = T + 5000;
    post(x, &c, false);
    expect(x, "calls 400 status=Failure end=1700000005 cause=-1/ccd-lost next=300 release\n"
              PROG("Failure", "400", "5", "1", "ccd-400", "", "0", "-1", "1700000005"));

    reg_call_t d = call(401, 5, 1);
    d.status = REG_CS_SUCCESS;
    d.t_answer_ms = T + 1000;
    link_fields(&d, T + 3000);
    post(x, &d, false);
    expect(x, "calls 401 status=Success uniqueid=ccd-401 fecha=1700000001 start=1700000003 "
              "agent=7\n"
              PROG("Ringing", "401", "5", "1", "ccd-401", "", "7", "-1", "1700000001")
              PROG("Success", "401", "5", "1", "ccd-401", "", "7", "-1", "1700000003")
              "current+ 401 uid=ccd-401 queue=8000 agent=Agent/9000 event=Link "
              "chan=Local/9000@agents-0001;1 client=SIP/prov-out-0001 at=1700000003\n");
    d.status = REG_CS_LOST;
    d.t_end_ms = T + 63000;
    post(x, &d, false);
    /* talked to an agent: not redialed, not in the statistics (its length is unknown) */
    expect(x, "calls 401 end=1700000063 duration=60 cause=-1/ccd-lost release\n"
              PROG("Hangup", "401", "5", "1", "ccd-401", "", "7", "60", "1700000063")
              "current- 401\n");

    reg_call_t e = call(402, 5, 1);
    e.status = REG_CS_RINGING;
    e.t_answer_ms = T + 1000;
    post(x, &e, false);
    expect(x, "calls 402 status=Ringing uniqueid=ccd-402 fecha=1700000001\n"
              PROG("Ringing", "402", "5", "1", "ccd-402", "", "0", "-1", "1700000001"));
    post(x, &e, true);
    expect(x, "calls 402 status=Failure end=NOW cause=-1/ccd-lost next=300 release\n"
              PROG("Failure", "402", "5", "1", "ccd-402", "", "0", "-1", "NOW"));
}

/* An Originate that failed: cause and Asterisk's text; a later cause overrides it. */
static void test_failure_cause(void **state)
{
    fx_t *x = *state;
    reg_call_t c = call(500, 5, 1);
    c.status = REG_CS_FAILURE;
    c.failure_cause = 17;
    c.t_end_ms = T + 2000;
    post(x, &c, false);
    expect(x, "calls 500 status=Failure uniqueid=ccd-500 fecha=1700000002 end=1700000002 "
              "cause=17/User busy\n"
              PROG("Failure", "500", "5", "1", "ccd-500", "", "0", "-1", "1700000002")
              "calls 500 next=300 release\n");
    c.failure_cause = 34; /* the trunk leg's hangup came later with the real cause */
    post(x, &c, false);
    expect(x, "calls 500 cause=34/Circuit/channel congestion\n");
    /* not a campaign call: nothing */
    reg_call_t n = call(0, 0, 0);
    snprintf(n.uniqueid, sizeof(n.uniqueid), "other");
    n.status = REG_CS_HANGUP;
    post(x, &n, false);
    reg_call_t in = call(501, 0, 0);
    in.type = REG_CALL_INCOMING;
    post(x, &in, false);
    expect(x, "");
    jnl_stats_t st;
    jnl_get_stats(x->j, &st);
    assert_int_equal(st.incoming_ignored, 1);
}

/* A call's recordings: one call_recording row per new file (the registry's nrecordings
 * moving with a file name), none for changes that carry the same file again. */
/* After the journal handled everything posted: whether the rows written since the last look
 * contain needle (a pointer for assert_(non_)null only; the rows are consumed). */
static const void *skip_rows(fx_t *x, const char *needle)
{
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    char *got = fake_lines(&x->f, x->seen, &x->seen);
    const void *hit = strstr(got, needle) ? (const void *)x : NULL;
    if (hit && !strcmp(needle, "recording"))
        print_message("rows with a recording:\n%s", got);
    free(got);
    return hit;
}

static void set_rec(reg_call_t *c, const char *file, const char *uid, const char *chan)
{
    snprintf(c->recording, sizeof(c->recording), "%s", file);
    snprintf(c->recording_uniqueid, sizeof(c->recording_uniqueid), "%s", uid);
    snprintf(c->recording_channel, sizeof(c->recording_channel), "%s", chan);
    c->nrecordings++;
}

static void test_recordings_outgoing(void **state)
{
    fx_t *x = *state;
    reg_call_t c = call(600, 0, 1);
    post(x, &c, false);
    expect(x, "calls 600 uniqueid=ccd-600\n");
    c.status = REG_CS_SUCCESS;
    c.t_answer_ms = T + 1000;
    c.t_queue_ms = T + 2000;
    link_fields(&c, T + 3000);
    post(x, &c, false);
    assert_null(skip_rows(x, "recording"));
    set_rec(&c, "/tmp/rec/600-a.wav", "ccd-600", "Local/600@customers-0001;1");
    post(x, &c, false);
    expect(x, "recording out=600 in=0 uid=ccd-600 chan=Local/600@customers-0001;1 "
              "file=/tmp/rec/600-a.wav at=NOW\n");
    /* another change of the call with the same file: no row */
    c.status = REG_CS_ONHOLD;
    post(x, &c, false);
    assert_non_null(skip_rows(x, "status=OnHold"));
    assert_null(skip_rows(x, "recording"));
    /* a second file, recorded from the agent's leg */
    set_rec(&c, "q8000-ccd-600.wav", "pbx-1.83", "Local/9000@agents-0001;1");
    post(x, &c, false);
    expect(x, "recording out=600 in=0 uid=pbx-1.83 chan=Local/9000@agents-0001;1 "
              "file=q8000-ccd-600.wav at=NOW\n");
    c.status = REG_CS_HANGUP;
    c.t_end_ms = T + 20000;
    post(x, &c, false);
    assert_non_null(skip_rows(x, "end=1700000020"));
    post(x, &c, true);
    assert_null(skip_rows(x, "recording"));
    /* a call that is not a campaign call writes nothing, recordings included */
    reg_call_t n = call(0, 0, 0);
    snprintf(n.uniqueid, sizeof(n.uniqueid), "other");
    set_rec(&n, "x.wav", "other", "SIP/x-1");
    post(x, &n, false);
    expect(x, "");
}

/* Incoming: the row names the call_entry by the id its insert returned; a file seen before
 * the id came back waits for it. */
static void test_recordings_incoming(void **state)
{
    fx_t *x = *state;
    reg_call_t c = call(0, 0, 0);
    c.type = REG_CALL_INCOMING;
    c.status = REG_CS_ONQUEUE;
    c.queue_id = 3;
    c.t_queue_ms = T;
    snprintf(c.uniqueid, sizeof(c.uniqueid), "in-1");
    snprintf(c.channel, sizeof(c.channel), "SIP/carrier-0001");
    set_rec(&c, "q8000-in-1.wav", "in-1", "SIP/carrier-0001");
    post(x, &c, false);
    /* The insert's reply gives the call its id; the recording row carries that id (it may be
     * written as soon as the reply is in, before the registry republishes the call). */
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    char *first = fake_lines(&x->f, x->seen, &x->seen);
    assert_non_null(strstr(first, "entry+ uid=in-1\n"));
    reg_call_t *all = NULL;
    size_t nall = 0;
    assert_int_equal(reg_call_list(x->reg, &all, &nall), 0);
    assert_int_equal(nall, 1);
    uint64_t rid = all[0].id;
    free(all);
    reg_call_t now = {0};
    CCD_WAIT((reg_drain(x->reg), reg_call_get(x->reg, rid, &now) == 0 && now.db_call_id == 800));
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    char *second = fake_lines(&x->f, x->seen, &x->seen);
    size_t blen = strlen(first) + strlen(second) + 1;
    char *both = malloc(blen);
    assert_non_null(both);
    snprintf(both, blen, "%s%s", first, second);
    normalize(both);
    const char *row = "recording out=0 in=800 uid=in-1 chan=SIP/carrier-0001 "
                      "file=q8000-in-1.wav at=NOW\n";
    const char *at = strstr(both, row);
    assert_non_null(at);
    assert_null(strstr(at + 1, "recording")); /* exactly one row, and none with another id */
    assert_null(strstr(both, "recording out=0 in=0"));
    free(first);
    free(second);
    free(both);
    /* the same file again: nothing */
    now.status = REG_CS_ONQUEUE;
    post(x, &now, false);
    expect(x, "");
    /* the call ends and is swept: no row again */
    now.status = REG_CS_ABANDONED;
    now.t_end_ms = T + 9000;
    post(x, &now, true);
    assert_null(skip_rows(x, "recording"));
}

/* Sessions, breaks (not the -1 phone pauses) and holds in audit. */
static void test_agent_audit(void **state)
{
    fx_t *x = *state;
    reg_agent_t a = agent9000();
    post_agent(x, &a);
    expect(x, "");
    a.login = REG_LOGGED_IN;
    a.login_time_ms = T;
    post_agent(x, &a);
    /* a session a previous run left open ends where this one begins */
    expect(x, "audit- agent=7 break=0\naudit+ agent=7 break=0 at=1700000000\n");
    a.member_status = 1; /* nothing to audit */
    post_agent(x, &a);
    expect(x, "");
    a.break_id = 3;
    a.break_start_ms = T + 1000;
    post_agent(x, &a);
    expect(x, "audit+ agent=7 break=3 at=1700000001\n");
    a.break_id = 0;
    post_agent(x, &a);
    expect(x, "audit- agent=7 break=3\n");
    a.on_hold = true;
    a.hold_start_ms = T + 2000;
    post_agent(x, &a);
    expect(x, "audit+ agent=7 break=1 at=1700000002\n");
    a.on_hold = false;
    post_agent(x, &a);
    expect(x, "audit- agent=7 break=1\n");
    a.break_id = -1; /* paused from the phone: not ours to audit */
    post_agent(x, &a);
    expect(x, "");
    a.break_id = 3;
    a.break_start_ms = T + 3000;
    post_agent(x, &a);
    expect(x, "audit+ agent=7 break=3 at=1700000003\n");
    a.on_hold = true;
    a.hold_start_ms = T + 4000;
    post_agent(x, &a);
    expect(x, "audit+ agent=7 break=1 at=1700000004\n");
    a.login = REG_LOGGED_OUT;
    a.login_time_ms = 0;
    post_agent(x, &a);
    expect(x, "audit- agent=7 break=1\naudit- agent=7 break=3\naudit- agent=7 break=0\n");
    /* a second session: no leftover to close this time */
    a.break_id = 0;
    a.on_hold = false;
    a.login = REG_LOGGED_IN;
    a.login_time_ms = T + 10000;
    post_agent(x, &a);
    expect(x, "audit+ agent=7 break=0 at=1700000010\n");
}

/* While the campaign's row cannot be read, a completed call still counts in the campaign's
 * statistics at once (they are sums in the database, not the row's figures), and a call to be
 * retried keeps its claim until the row gives its back-off, read again after the failure. */
static void test_campaign_read_retried(void **state)
{
    fx_t *x = *state;
    atomic_store(&x->f.reads_fail, true);
    reg_agent_t a = agent9000();
    post_agent(x, &a);
    reg_call_t c = call(600, 5, 1);
    c.t_answer_ms = T + 1000;
    link_fields(&c, T + 2000);
    c.t_end_ms = T + 22000;
    c.status = REG_CS_HANGUP;
    post(x, &c, false);
    expect(x, "calls 600 status=Success uniqueid=ccd-600 fecha=1700000001 start=1700000002 "
              "end=1700000022 duration=20 agent=7 release\n"
              PROG("Ringing", "600", "5", "1", "ccd-600", "", "7", "-1", "1700000001")
              PROG("Success", "600", "5", "1", "ccd-600", "", "7", "-1", "1700000002")
              PROG("Hangup", "600", "5", "1", "ccd-600", "", "7", "20", "1700000022")
              "completed 5 dur=20\n");
    reg_call_t d = post_noanswer(x, 601, 6);
    expect(x, NOANSWER_ROWS("601", "6"));
    post(x, &d, true);
    jnl_stats_t st;
    CCD_WAIT((jnl_get_stats(x->j, &st), st.reads_failed >= 2));
    /* Settled, but no release while campaign 6's back-off is unknown. */
    assert_int_equal(jnl_sync(x->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    expect(x, "");
    atomic_store(&x->f.reads_fail, false);
    /* campaign 6: retry_backoff_s 60, the first attempt */
    size_t from = x->seen;
    char *got = NULL;
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    for (;;) {
        free(got);
        got = fake_lines(&x->f, from, NULL);
        if (strcmp(got, "calls 601 next=60 release\n") == 0)
            break;
        CCD_CHECK_DEADLINE(end, "the release after the campaign's row is read again");
        ccd_test_sleep_ms(10);
    }
    free(got);
    x->seen = from + 1;
}

/* A hold that begins before the Hold break is known is audited once the breaks are read
 * (they failed at start and are asked again). */
static void test_hold_before_breaks(void **state)
{
    fx_t *x = *state;
    reg_agent_t a = agent9000();
    a.login = REG_LOGGED_IN;
    a.login_time_ms = T;
    post_agent(x, &a);
    a.on_hold = true;
    a.hold_start_ms = T + 2000;
    post_agent(x, &a);
    expect(x, "audit- agent=7 break=0\naudit+ agent=7 break=0 at=1700000000\n");
    atomic_store(&x->f.reads_fail, false);
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    char *got = NULL;
    for (;;) {
        free(got);
        got = fake_lines(&x->f, x->seen, NULL);
        if (strcmp(got, "audit+ agent=7 break=1 at=1700000002\n") == 0)
            break;
        CCD_CHECK_DEADLINE(end, "the hold row once the breaks are read");
        ccd_test_sleep_ms(10);
    }
    free(got);
    x->seen++;
    a.on_hold = false;
    post_agent(x, &a);
    expect(x, "audit- agent=7 break=1\n");
    jnl_stats_t st;
    jnl_get_stats(x->j, &st);
    assert_int_equal(st.audit_skipped, 0);
}

/* ---- 50,000 changes against a stalled writer: none lost ---- */

#define FLOOD_CALLS 10000
#define FLOOD_STEPS 5

static void test_flood_loses_nothing(void **state)
{
    (void)state;
    conf_t cf;
    conf_defaults(&cf);
    reg_t *r = reg_new(100000, NULL, 0);
    fake_db_t f;
    fake_init(&f);
    f.count_only = true;
    f.ncalls = FLOOD_CALLS + 1;
    f.progress_per_call = calloc(f.ncalls, sizeof(*f.progress_per_call));
    char err[256];
    jnl_t *j = jnl_new(&cf, r, NULL, err, sizeof(err));
    assert_non_null(j);
    jnl_db_ops_t ops = fake_ops(&f);
    jnl_set_db_ops(j, &ops);
    /* the writer stalls on the journal's first write until everything is posted */
    atomic_store(&f.gate, 1);
    assert_int_equal(jnl_start(j), 0);
    assert_int_equal(reg_start(r), 0);

    static const reg_call_status_e steps[FLOOD_STEPS] = {
        REG_CS_DIALING, REG_CS_RINGING, REG_CS_ONQUEUE, REG_CS_SUCCESS, REG_CS_HANGUP};
    int64_t end = ccd_test_deadline(60000);
    for (int s = 0; s < FLOOD_STEPS; s++) {
        for (int i = 1; i <= FLOOD_CALLS; i++) {
            reg_call_t c = call(i, 0, 1);
            c.status = steps[s];
            snprintf(c.trunk, sizeof(c.trunk), "SIP/prov");
            if (s >= 1)
                c.t_answer_ms = T + 1000;
            if (s >= 2)
                c.t_queue_ms = T + 2000;
            if (s >= 3)
                link_fields(&c, T + 3000);
            /* ended in the future: the registry's sweep (finished calls leave a minute
             * after their end) adds no removals to the 50,000 changes counted */
            if (s >= 4)
                c.t_end_ms = clk_wall_ms() + 600000;
            while (jt_post_call(r, &c, false) == CCD_EFULL) {
                CCD_CHECK_DEADLINE(end, "room in the registry inbox");
                sched_yield();
            }
        }
    }
    /* every change applied and queued to the stalled journal */
    CCD_WAIT_UNTIL(reg_inbox_depth(r) == 0, 60000);
    jnl_stats_t st;
    CCD_WAIT_UNTIL((jnl_get_stats(j, &st), st.backlog >= FLOOD_CALLS * FLOOD_STEPS - 1), 60000);
    atomic_store(&f.gate, 0);
    reg_stop(r);
    assert_int_equal(jnl_sync(j, ccd_test_timeout_ms(60000)), 0);

    jnl_get_stats(j, &st);
    assert_int_equal(reg_notifications_dropped(r), 0);
    assert_int_equal(st.changes, FLOOD_CALLS * FLOOD_STEPS);
    assert_true(st.backlog_high_water >= FLOOD_CALLS * FLOOD_STEPS - 1);
    assert_int_equal(atomic_load(&f.nprogress), FLOOD_CALLS * FLOOD_STEPS);
    for (int i = 1; i <= FLOOD_CALLS; i++)
        if (atomic_load(&f.progress_per_call[i]) != FLOOD_STEPS)
            fail_msg("call %d has %llu progress rows", i,
                     (unsigned long long)atomic_load(&f.progress_per_call[i]));
    assert_int_equal(atomic_load(&f.nreleases), FLOOD_CALLS);
    assert_int_equal(atomic_load(&f.ncurrent_add), FLOOD_CALLS);
    assert_int_equal(atomic_load(&f.ncurrent_del), FLOOD_CALLS);
    assert_int_equal(st.writes_failed, 0);
    jnl_stop(j);
    jnl_free(j);
    reg_free(r);
    free((void *)f.progress_per_call);
    fake_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_successful_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_call_coalesced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_finishes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_campaign_read_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_before_breaks, setup_reads_failing, teardown),
        cmocka_unit_test(test_flood_loses_nothing),
        cmocka_unit_test_setup_teardown(test_recordings_outgoing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recordings_incoming, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
