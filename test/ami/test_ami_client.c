/*
 * Integration tests: the AMI client against the Asterisk simulator
 * (tools/pbxsim) over loopback.  Login failure, every originate outcome
 * (through the registry and the event subscribers), list actions, many
 * actions in flight, an action whose response never comes, a dropped
 * connection with resync, and an Asterisk restart with resync.
 *
 * No timing assertions: every wait has a generous deadline (scaled by
 * CCD_TEST_TIMEOUT_MULTIPLIER, test/common/ccd_test.h) and only outcomes are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ami/ami.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "reg/reg.h"
#include "test/common/ccd_test.h"
#include "tools/pbxsim/pbxsim.h"

#define tmo ccd_test_timeout_ms

typedef struct fx {
    pbxsim_t *sim;
    conf_t conf;
    ami_t *ami;
    reg_t *reg;
    mq_t *stq, *evq, *rq;
} fx_t;

static int fx_ping_s = 20; /* keepalive interval for the next fx_start */

static void fx_start(fx_t *f, const char *secret, bool with_reg)
{
    memset(f, 0, sizeof(*f));
    pbxsim_opts_t o;
    pbxsim_opts_default(&o);
    o.time_scale = 20;
    o.auth_fail_delay_ms = 0;
    o.seed = 7;
    f->sim = pbxsim_start(&o);
    assert_non_null(f->sim);
    f->conf.nami = 1;
    conf_ami_server_t *s = &f->conf.ami[0];
    snprintf(s->name, sizeof(s->name), "sim");
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    s->port = pbxsim_port(f->sim);
    snprintf(s->username, sizeof(s->username), "admin");
    snprintf(s->secret, sizeof(s->secret), "%s", secret);
    s->ping_interval_s = fx_ping_s;
    s->action_timeout_ms = fx_ping_s < 20 ? 500 : tmo(5000);
    s->reconnect_min_ms = 50;
    s->reconnect_max_ms = 400;
    f->stq = mq_new("t-status", 1000, 0);
    f->evq = mq_new("t-events", 100000, 0);
    f->rq = mq_new("t-replies", 10000, 0);
    if (with_reg)
        f->reg = reg_new(100000, NULL, 0);
    f->ami = ami_new(&f->conf, NULL, NULL, 0);
    assert_non_null(f->ami);
    assert_int_equal(ami_subscribe(f->ami, f->stq, 0, AMI_SUB_STATUS), 0);
    assert_int_equal(ami_subscribe(f->ami, f->evq,
                                   AMI_EVM(AMI_EV_ORIGINATE_RESPONSE) | AMI_EVM(AMI_EV_HANGUP), 0),
                     0);
    if (f->reg)
        assert_int_equal(ami_attach_reg(f->ami, f->reg), 0);
    assert_int_equal(ami_start(f->ami), 0);
}

static void fx_stop(fx_t *f)
{
    ami_free(f->ami);
    pbxsim_stop(f->sim);
    if (f->reg) {
        reg_drain(f->reg);
        reg_free(f->reg);
    }
    mq_free(f->stq);
    mq_free(f->evq);
    mq_free(f->rq);
}

/* Waits for a status message with state st; returns it (caller frees) or NULL. */
static ami_status_t *wait_status(fx_t *f, ami_state_e st, int ms)
{
    int64_t end = clk_mono_ms() + tmo(ms);
    while (clk_mono_ms() < end) {
        ami_status_t *m = (ami_status_t *)mq_pop(f->stq, 50);
        if (f->reg)
            reg_drain(f->reg);
        if (!m)
            continue;
        if (m->state == st)
            return m;
        free(m);
    }
    return NULL;
}

static void wait_up(fx_t *f)
{
    ami_status_t *m = wait_status(f, AMI_STATE_UP, 10000);
    assert_non_null(m);
    free(m);
}

/* Sends and waits for the one outcome. */
static ami_response_t *call(fx_t *f, ami_action_t *a, bool list, int timeout_ms)
{
    ami_send_opts_t o = {.reply_mq = f->rq, .list = list, .timeout_ms = timeout_ms};
    char id[AMI_ACTIONID_LEN];
    int rc = ami_send(f->ami, 0, a, &o, id);
    if (rc != 0)
        fail_msg("ami_send: %s", ccd_strerror(rc));
    ami_response_t *r = (ami_response_t *)mq_pop(f->rq, tmo(15000));
    assert_non_null(r);
    assert_string_equal(r->action_id, id);
    return r;
}

/* ---- registry helpers ---- */

typedef struct new_call {
    char uniqueid[REG_UID_LEN];
    char action_id[REG_UID_LEN];
    uint64_t id;
} new_call_t;

static void apply_new_call(reg_txn_t *tx, void *arg)
{
    new_call_t *n = arg;
    reg_call_t *c = reg_txn_call_new(tx);
    c->status = REG_CS_PLACING;
    c->server = 0;
    c->t_originate_ms = clk_wall_ms() - 60000;
    snprintf(c->action_id, sizeof(c->action_id), "%s", n->action_id);
    reg_txn_call_set_uniqueid(tx, c, n->uniqueid);
    reg_txn_call_touch(tx, c);
    n->id = c->id;
}

static uint64_t new_call(fx_t *f, const char *uid, const char *aid)
{
    new_call_t n = {0};
    snprintf(n.uniqueid, sizeof(n.uniqueid), "%s", uid);
    snprintf(n.action_id, sizeof(n.action_id), "%s", aid);
    assert_int_equal(reg_post(f->reg, apply_new_call, &n, NULL), 0);
    reg_drain(f->reg);
    assert_true(n.id != 0);
    return n.id;
}

static void apply_new_agent(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, true);
    a->server = 0;
    reg_txn_agent_touch(tx, a);
}

static bool final_status(reg_call_status_e s)
{
    return s == REG_CS_FAILURE || s == REG_CS_NOANSWER || s == REG_CS_ABANDONED ||
           s == REG_CS_SHORTCALL || s == REG_CS_HANGUP || s == REG_CS_LOST;
}

static reg_call_t wait_call(fx_t *f, uint64_t id, bool (*pred)(const reg_call_t *), int ms)
{
    reg_call_t c;
    int64_t end = clk_mono_ms() + tmo(ms);
    for (;;) {
        reg_drain(f->reg);
        assert_int_equal(reg_call_get(f->reg, id, &c), 0);
        if (pred(&c) || clk_mono_ms() > end)
            return c; /* the caller asserts the state it needed */
        ccd_test_sleep_ms(5);
    }
}

static bool is_final_call(const reg_call_t *c)
{
    return final_status(c->status);
}

static bool is_answered(const reg_call_t *c)
{
    return c->t_answer_ms != 0;
}

static reg_agent_t wait_agent(fx_t *f, const char *num, reg_login_e want, int ms)
{
    reg_agent_t a;
    int64_t end = clk_mono_ms() + tmo(ms);
    for (;;) {
        reg_drain(f->reg);
        assert_int_equal(reg_agent_get(f->reg, num, &a), 0);
        if (a.login == want || clk_mono_ms() > end)
            return a; /* the caller asserts the state it needed */
        ccd_test_sleep_ms(5);
    }
}

static ami_action_t *originate(const char *num, const char *ctx, const char *exten,
                               const char *chan_id, const char *other_id)
{
    ami_action_t *a = ami_action_new("Originate");
    ami_action_addf(a, "Channel", "Local/%s@%s", num, strcmp(ctx, "agent-login") == 0 ? "phones" : "customers");
    ami_action_add(a, "Context", ctx);
    ami_action_add(a, "Exten", exten);
    ami_action_add(a, "Priority", "1");
    ami_action_add(a, "Timeout", "8000");
    ami_action_add(a, "CallerID", "\"Dialer\" <0215550100>");
    ami_action_add(a, "Async", "true");
    ami_action_add(a, "Variable", "TALK=1");
    if (chan_id) {
        ami_action_add(a, "ChannelId", chan_id);
        ami_action_add(a, "OtherChannelId", other_id);
    }
    return a;
}

/* ---------------------------------------------------------------- tests */

static void test_login_failure(void **state)
{
    (void)state;
    fx_t f;
    fx_start(&f, "wrong-secret", false);
    ami_status_t *m = wait_status(&f, AMI_STATE_DOWN, 10000);
    assert_non_null(m);
    if (!strstr(m->detail, "Authentication failed"))
        fail_msg("down for another reason: %s", m->detail);
    free(m);
    assert_true(ami_server_state(f.ami, 0) != AMI_STATE_UP);
    /* an action now either fails at once or ends as closed: never hangs */
    ami_send_opts_t o = {.reply_mq = f.rq};
    int rc = ami_send(f.ami, 0, ami_action_new("Ping"), &o, NULL);
    if (rc == 0) {
        ami_response_t *r = (ami_response_t *)mq_pop(f.rq, tmo(10000));
        assert_non_null(r);
        assert_int_equal(r->status, CCD_ECLOSED);
        ami_response_free(r);
    } else {
        assert_int_equal(rc, CCD_ECLOSED);
    }
    /* it keeps trying with back-off */
    m = wait_status(&f, AMI_STATE_DOWN, 10000);
    assert_non_null(m);
    free(m);
    ami_stats_t st;
    ami_get_stats(f.ami, 0, &st);
    assert_true(st.connects >= 2);
    fx_stop(&f);
}

typedef struct outcome {
    const char *num;
    reg_call_status_e status;
    int cause;
    bool answered;
    int reason;
} outcome_t;

static void test_originate_outcomes(void **state)
{
    (void)state;
    static const outcome_t cases[] = {
        {"5001", REG_CS_NOANSWER, 0, true, 4}, /* answered, never queued (Issabel's rule) */
        {"6001", REG_CS_NOANSWER, 19, false, 3},
        {"7001", REG_CS_FAILURE, 17, false, 5},
        {"3001", REG_CS_FAILURE, 34, false, 8},
        {"2001", REG_CS_FAILURE, 1, false, 0},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    fx_t f;
    fx_start(&f, "amp111", true);
    wait_up(&f);
    uint64_t ids[N];
    char aids[N][AMI_ACTIONID_LEN];
    /* all five in flight at once */
    for (int i = 0; i < N; i++) {
        char uid[32], oid[32];
        snprintf(uid, sizeof(uid), "it-%s-a", cases[i].num);
        snprintf(oid, sizeof(oid), "it-%s-b", cases[i].num);
        snprintf(aids[i], sizeof(aids[i]), "orig-%s", cases[i].num);
        ids[i] = new_call(&f, uid, aids[i]);
        ami_send_opts_t o = {.reply_mq = f.rq, .action_id = aids[i], .user = (uint64_t)i};
        assert_int_equal(ami_send(f.ami, 0, originate(cases[i].num, "dialer-answered", "s", uid, oid), &o, NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        ami_response_t *r = (ami_response_t *)mq_pop(f.rq, tmo(10000));
        assert_non_null(r);
        assert_int_equal(r->status, CCD_OK);
        assert_true(r->ok);
        assert_string_equal(r->action_id, aids[r->user]);
        assert_string_equal(ami_rec_get(r->resp, "Message"), "Originate successfully queued");
        ami_response_free(r);
    }
    for (int i = 0; i < N; i++) {
        reg_call_t c = wait_call(&f, ids[i], is_final_call, 20000);
        if (c.status != cases[i].status || c.failure_cause != cases[i].cause)
            fail_msg("%s: %s cause %d, want %s cause %d", cases[i].num,
                     reg_call_status_name(c.status), c.failure_cause,
                     reg_call_status_name(cases[i].status), cases[i].cause);
        assert_int_equal(c.t_answer_ms != 0, cases[i].answered);
    }
    /* the event subscriber saw each OriginateResponse with its reason */
    int seen[N] = {0};
    mq_msg_t *m;
    while ((m = mq_pop(f.evq, 0))) {
        ami_event_t *ev = (ami_event_t *)m;
        if (ev->type == AMI_EV_ORIGINATE_RESPONSE)
            for (int i = 0; i < N; i++)
                if (strcmp(ev->action_id, aids[i]) == 0) {
                    assert_int_equal(ev->reason, cases[i].reason);
                    seen[i]++;
                }
        m->free(m);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    ami_stats_t st;
    ami_get_stats(f.ami, 0, &st);
    assert_true(st.events_typed > 0 && st.events_in >= st.events_typed);
    assert_int_equal(st.unknown_responses, 0);
    fx_stop(&f);
}

static void test_list_actions(void **state)
{
    (void)state;
    fx_t f;
    fx_start(&f, "amp111", false);
    wait_up(&f);
    static const char *const lists[][2] = {{"QueueStatus", "QueueStatusComplete"},
                                           {"Agents", "AgentsComplete"},
                                           {"CoreShowChannels", "CoreShowChannelsComplete"},
                                           {"QueueSummary", "QueueSummaryComplete"}};
    for (size_t i = 0; i < 4; i++) {
        ami_response_t *r = call(&f, ami_action_new(lists[i][0]), true, 0);
        assert_int_equal(r->status, CCD_OK);
        assert_true(r->ok);
        assert_true(r->nev >= 1);
        assert_string_equal(ami_rec_get(r->ev[r->nev - 1], "Event"), lists[i][1]);
        for (size_t k = 0; k < r->nev; k++)
            assert_string_equal(ami_rec_get(r->ev[k], "ActionID"), r->action_id);
        if (i == 0) /* queue 8000 with its five static members */
            assert_true(r->nev >= 7);
        if (i == 1)
            assert_int_equal(r->nev, 6);
        ami_response_free(r);
    }
    /* an action Asterisk refuses still ends in one outcome */
    ami_action_t *a = ami_action_new("QueueRemove");
    ami_action_add(a, "Queue", "8000");
    ami_action_add(a, "Interface", "Local/9000@agents");
    ami_response_t *r = call(&f, a, false, 0);
    assert_int_equal(r->status, CCD_OK);
    assert_false(r->ok);
    ami_response_free(r);
    fx_stop(&f);
}

static void test_swallowed_and_many(void **state)
{
    (void)state;
    fx_t f;
    fx_start(&f, "amp111", false);
    wait_up(&f);
    assert_int_equal(pbxsim_set_swallow_next(f.sim, "Ping"), 0);
    char lost_id[AMI_ACTIONID_LEN];
    ami_send_opts_t o = {.reply_mq = f.rq, .timeout_ms = 300, .user = 1000000};
    assert_int_equal(ami_send(f.ami, 0, ami_action_new("Ping"), &o, lost_id), 0);
    /* while that one waits, others go and come back */
    enum { MANY = 300 };
    for (int i = 0; i < MANY; i++) {
        ami_send_opts_t oi = {.reply_mq = f.rq, .user = (uint64_t)i};
        assert_int_equal(ami_send(f.ami, 0, ami_action_new(i % 2 ? "Ping" : "CoreStatus"), &oi, NULL), 0);
    }
    int ok = 0, timed_out = 0;
    bool got[MANY] = {0};
    for (int i = 0; i < MANY + 1; i++) {
        ami_response_t *r = (ami_response_t *)mq_pop(f.rq, tmo(15000));
        assert_non_null(r);
        if (r->user == 1000000) {
            assert_string_equal(r->action_id, lost_id);
            assert_int_equal(r->status, CCD_ETIMEDOUT);
            assert_null(r->resp);
            timed_out++;
        } else {
            assert_int_equal(r->status, CCD_OK);
            assert_true(r->ok);
            assert_false(got[r->user]);
            got[r->user] = true;
            /* the response matches its action, not the one before it */
            if (r->user % 2)
                assert_string_equal(ami_rec_get(r->resp, "Ping"), "Pong");
            else
                assert_true(ami_rec_get(r->resp, "CoreStartupTime")[0] != 0);
            ok++;
        }
        ami_response_free(r);
    }
    assert_int_equal(ok, MANY);
    assert_int_equal(timed_out, 1);
    ami_stats_t st;
    ami_get_stats(f.ami, 0, &st);
    assert_true(st.timeouts >= 1);
    assert_int_equal(ami_server_state(f.ami, 0), AMI_STATE_UP);
    /* bad arguments */
    ami_send_opts_t none = {0};
    assert_int_equal(ami_send(f.ami, 0, ami_action_new("Ping"), &none, NULL), CCD_EINVAL);
    assert_int_equal(ami_send(f.ami, 5, ami_action_new("Ping"), &o, NULL), CCD_EINVAL);
    fx_stop(&f);
}

static bool is_ringing(const reg_call_t *c)
{
    return c->status == REG_CS_RINGING || final_status(c->status);
}

static bool actions_past(const pbxsim_state_t *st, void *ctx)
{
    return st->actions > *(const uint64_t *)ctx;
}

static void test_drop_and_resync(void **state)
{
    (void)state;
    fx_t f;
    fx_start(&f, "amp111", true);
    wait_up(&f);
    /* a call Asterisk never had, and a real one that stays up (4XXX) */
    uint64_t ghost = new_call(&f, "ghost-1", "orig-ghost");
    uint64_t live = new_call(&f, "it-4001-a", "orig-4001");
    ami_send_opts_t o = {.reply_mq = f.rq, .action_id = "orig-4001"};
    assert_int_equal(ami_send(f.ami, 0, originate("4001", "dialer-answered", "s", "it-4001-a", "it-4001-b"), &o, NULL), 0);
    ami_response_t *r = (ami_response_t *)mq_pop(f.rq, tmo(10000));
    assert_non_null(r);
    assert_true(r->ok);
    ami_response_free(r);
    reg_call_t c = wait_call(&f, live, is_ringing, 10000);
    assert_int_equal(c.status, REG_CS_RINGING);

    /* a Ping caught in flight by the cut ends as closed */
    assert_int_equal(pbxsim_set_swallow_next(f.sim, "Ping"), 0);
    pbxsim_state_t ps;
    pbxsim_state(f.sim, &ps);
    uint64_t actions_before = ps.actions;
    ami_send_opts_t po = {.reply_mq = f.rq, .timeout_ms = tmo(30000)};
    assert_int_equal(ami_send(f.ami, 0, ami_action_new("Ping"), &po, NULL), 0);
    /* the simulator has taken (and swallowed) it: the cut finds it in flight */
    assert_int_equal(pbxsim_wait(f.sim, actions_past, &actions_before, tmo(15000)), 0);
    assert_int_equal(pbxsim_drop_connections(f.sim), 0);
    r = (ami_response_t *)mq_pop(f.rq, tmo(10000));
    assert_non_null(r);
    assert_int_equal(r->status, CCD_ECLOSED);
    ami_response_free(r);
    ami_status_t *m = wait_status(&f, AMI_STATE_DOWN, 10000);
    assert_non_null(m);
    free(m);
    m = wait_status(&f, AMI_STATE_UP, 10000);
    assert_non_null(m);
    assert_false(m->restarted);
    free(m);
    reg_drain(f.reg);
    c = wait_call(&f, ghost, is_final_call, 5000);
    assert_int_equal(c.status, REG_CS_LOST);
    assert_int_equal(reg_call_get(f.reg, live, &c), 0);
    assert_int_equal(c.status, REG_CS_RINGING); /* still up in Asterisk */
    ami_stats_t st;
    ami_get_stats(f.ami, 0, &st);
    assert_true(st.disconnects >= 1 && st.connects >= 2);
    assert_int_equal(st.restarts, 0);
    fx_stop(&f);
}

static void test_restart_resync(void **state)
{
    (void)state;
    fx_t f;
    fx_start(&f, "amp111", true);
    assert_int_equal(reg_post(f.reg, apply_new_agent, strdup("Agent/9000"), free), 0);
    reg_drain(f.reg);
    wait_up(&f);
    /* agent 9000 logs in from phone 1001 */
    ami_response_t *r = call(&f, originate("1001", "agent-login", "9000", NULL, NULL), false, 0);
    assert_true(r->ok);
    ami_response_free(r);
    reg_agent_t a = wait_agent(&f, "Agent/9000", REG_LOGGED_IN, 10000);
    assert_int_equal(a.login, REG_LOGGED_IN);
    uint64_t live = new_call(&f, "it-4002-a", "orig-4002");
    ami_send_opts_t o = {.reply_mq = f.rq, .action_id = "orig-4002"};
    assert_int_equal(ami_send(f.ami, 0, originate("4002", "dialer-answered", "s", "it-4002-a", "it-4002-b"), &o, NULL), 0);
    r = (ami_response_t *)mq_pop(f.rq, tmo(10000));
    assert_non_null(r);
    ami_response_free(r);
    reg_call_t c = wait_call(&f, live, is_answered, 10000);
    assert_true(c.t_answer_ms != 0);

    assert_int_equal(pbxsim_restart(f.sim), 0);
    ami_status_t *m = wait_status(&f, AMI_STATE_DOWN, 10000);
    assert_non_null(m);
    free(m);
    m = wait_status(&f, AMI_STATE_UP, 10000);
    assert_non_null(m);
    assert_true(m->restarted);
    free(m);
    reg_drain(f.reg);
    a = wait_agent(&f, "Agent/9000", REG_LOGGED_OUT, 5000);
    assert_int_equal(a.login, REG_LOGGED_OUT);
    c = wait_call(&f, live, is_final_call, 5000);
    assert_true(final_status(c.status));
    ami_stats_t st;
    ami_get_stats(f.ami, 0, &st);
    assert_int_equal(st.restarts, 1);
    fx_stop(&f);
}

/* Two servers, the second one away (nothing listens): the first works as
 * usual, sends to the second fail at once, and stopping is not held up. */
static void test_other_server_away(void **state)
{
    (void)state;
    fx_t f;
    fx_start(&f, "amp111", false);
    wait_up(&f);
    /* a second client over two servers: the simulator and a dead port */
    conf_t conf = f.conf;
    conf.nami = 2;
    conf.ami[1] = conf.ami[0];
    snprintf(conf.ami[1].name, sizeof(conf.ami[1].name), "away");
    conf.ami[1].port = 1; /* connection refused */
    mq_t *stq = mq_new("t2-status", 1000, 0), *rq = mq_new("t2-replies", 100, 0);
    ami_t *two = ami_new(&conf, NULL, NULL, 0);
    assert_int_equal(ami_nservers(two), 2);
    ami_subscribe(two, stq, 0, AMI_SUB_STATUS);
    assert_int_equal(ami_start(two), 0);
    CCD_WAIT_UNTIL(ami_server_state(two, 0) == AMI_STATE_UP, 10000);
    for (int i = 0; i < 20; i++) {
        ami_send_opts_t o = {.reply_mq = rq};
        assert_int_equal(ami_send(two, 0, ami_action_new("Ping"), &o, NULL), 0);
        ami_response_t *r = (ami_response_t *)mq_pop(rq, tmo(10000));
        assert_non_null(r);
        assert_int_equal(r->status, CCD_OK);
        ami_response_free(r);
        /* the away server answers at once, one way or the other */
        int rc = ami_send(two, 1, ami_action_new("Ping"), &o, NULL);
        if (rc == 0) {
            r = (ami_response_t *)mq_pop(rq, tmo(10000));
            assert_non_null(r);
            assert_int_equal(r->status, CCD_ECLOSED);
            ami_response_free(r);
        } else {
            assert_int_equal(rc, CCD_ECLOSED);
        }
    }
    assert_true(ami_server_state(two, 1) != AMI_STATE_UP);
    /* The away server's failed connect is reported on the status queue; on a loaded
     * machine the report may come after the pings above, so wait for it. */
    bool saw_down = false;
    int64_t end = ccd_test_deadline(10000);
    while (!saw_down && ccd_test_now_ms() < end) {
        mq_msg_t *m = mq_pop(stq, 100);
        if (!m)
            continue;
        ami_status_t *st = (ami_status_t *)m;
        if (st->server == 1 && st->state == AMI_STATE_DOWN && strstr(st->detail, "connect"))
            saw_down = true;
        m->free(m);
    }
    assert_true(saw_down);
    ami_free(two);
    mq_free(stq);
    mq_free(rq);
    fx_stop(&f);
}

/* A keepalive Ping that gets no answer closes the connection, which is
 * then reopened; meanwhile nothing else waits. */
static void test_keepalive(void **state)
{
    (void)state;
    fx_t f;
    fx_ping_s = 1;
    fx_start(&f, "amp111", false);
    fx_ping_s = 20;
    wait_up(&f);
    assert_int_equal(pbxsim_set_swallow_next(f.sim, "Ping"), 0);
    ami_status_t *m = wait_status(&f, AMI_STATE_DOWN, 10000);
    assert_non_null(m);
    if (!strstr(m->detail, "keepalive"))
        fail_msg("down for another reason: %s", m->detail);
    free(m);
    wait_up(&f);
    ami_stats_t st;
    ami_get_stats(f.ami, 0, &st);
    assert_true(st.timeouts >= 1 && st.connects >= 2);
    fx_stop(&f);
}

static void quiet(log_level_e level, const char *module, const char *line, void *ctx)
{
    (void)module;
    (void)ctx;
    if (level <= LOG_LVL_ERR)
        fprintf(stderr, "%s\n", line);
}

int main(void)
{
    if (!getenv("CCD_TEST_VERBOSE"))
        log_set_sink(quiet, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_failure),    cmocka_unit_test(test_originate_outcomes),
        cmocka_unit_test(test_list_actions),     cmocka_unit_test(test_swallowed_and_many),
        cmocka_unit_test(test_drop_and_resync),  cmocka_unit_test(test_restart_resync),
        cmocka_unit_test(test_other_server_away), cmocka_unit_test(test_keepalive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
