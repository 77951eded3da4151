/*
 * The dialer against pbxsim and MariaDB: a campaign of 300 numbers with known outcomes
 * (pbxsim's ranges: 5XXX answer, 6XXX no answer, 7XXX busy, 3XXX congestion, 2XXX
 * unallocated) is dialed through agents logged in on the PBX; the concurrent cap holds; the
 * calling rules (own windows, back-off, the abandoned block, do-not-call) follow the
 * injected clock; a PBX restart and a database outage mid-campaign leave nothing stuck and
 * dial no number twice beyond its retries.
 *
 * Every wait is "until the condition holds", bounded so a broken build fails.  Absences
 * are proven with counters: the dialer's claims (each one a look at the database that found
 * nothing for the number) and its cycles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "test/common/ccd_test.h"
#include "test/dialer/dl_fixture.h"

#define LONG_WAIT_MS 120000

static fx_t F;

static reg_call_status_e final_of(int id)
{
    return (reg_call_status_e)(F.final[id] - 1);
}

/* Waits until every number of [first, first+count) has an end; on a timeout the test fails
 * naming the numbers without one and what the database says about them. */
static void wait_all_finished(int first, int count)
{
    int64_t end = ccd_test_deadline(LONG_WAIT_MS);
    while ((fx_pump(&F), fx_finished(&F, first, count)) < count) {
        if (ccd_test_now_ms() >= end) {
            char q[256], msg[2048] = "";
            for (int i = first; i < first + count && strlen(msg) < 1500; i++) {
                if (F.final[i])
                    continue;
                snprintf(q, sizeof(q), "SELECT id, status, retries, ccd_claim_owner FROM calls "
                                       "WHERE id = %d", i);
                char *row = dbt_dump(F.my, q);
                snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " [%s dials=%d]", row,
                         F.dials[i]);
                free(row);
            }
            fail_msg("numbers without an end after %d ms:%s", LONG_WAIT_MS, msg);
        }
        ccd_test_sleep_ms(10);
    }
}

static dl_stats_t stats(void)
{
    dl_stats_t s;
    dl_get_stats(F.dl, &s);
    return s;
}

/* 300 numbers (7005 is on the seed's do-not-call list), 5 agents, a cap of 4 calls. */
static void test_campaign_outcomes(void **state)
{
    (void)state;
    fx_setup(&F, "dl_out", false, false);
    /* One attempt per number: every row ends in its final status (no retry pending). */
    fx_campaign(&F, 1, "progressive", 4);
    fx_numbers(&F, 5001, 150);
    fx_numbers(&F, 6001, 40);
    fx_numbers(&F, 7001, 40);
    fx_numbers(&F, 3001, 40);
    fx_numbers(&F, 2001, 30);
    fx_start(&F);
    fx_login_agents(&F, 5);
    int total = 150 + 40 + 39 + 40 + 30;
    CCD_WAIT_UNTIL((fx_pump(&F), fx_finished(&F, 5001, 150) + fx_finished(&F, 6001, 40) +
                                     fx_finished(&F, 7001, 40) + fx_finished(&F, 3001, 40) +
                                     fx_finished(&F, 2001, 30) ==
                                 total),
                   LONG_WAIT_MS);
    for (int i = 5001; i <= 5150; i++) {
        assert_int_equal(F.dials[i], 1);
        assert_int_equal(final_of(i), REG_CS_HANGUP); /* answered, queued, talked to an agent */
    }
    for (int i = 6001; i <= 6040; i++)
        assert_int_equal(final_of(i), REG_CS_NOANSWER);
    for (int i = 7001; i <= 7040; i++) {
        if (i == 7005) {
            assert_int_equal(F.dials[i], 0); /* do not call */
            continue;
        }
        assert_int_equal(final_of(i), REG_CS_FAILURE);
        assert_int_equal(F.cause[i], 17); /* busy */
    }
    for (int i = 3001; i <= 3040; i++) {
        assert_int_equal(final_of(i), REG_CS_FAILURE);
        assert_int_equal(F.cause[i], 34); /* congestion */
    }
    for (int i = 2001; i <= 2030; i++) {
        assert_int_equal(final_of(i), REG_CS_FAILURE);
        assert_int_equal(F.cause[i], 1); /* unallocated */
    }
    /* Never more than the campaign's cap of live calls, though 5 agents were free. */
    if (F.peak_live > 4)
        fail_msg("peak of live calls %d over the cap 4", F.peak_live);
    assert_true(F.peak_live >= 2);
    /* The database: each number claimed and marked Placing once per attempt, with its
     * progress row; no number beyond its 2 attempts; 7005 marked dnc and never claimed. */
    int dials = 0;
    for (int i = 0; i < FX_MAX_CALLS; i++) {
        assert_true(F.dials[i] <= 1);
        dials += F.dials[i];
    }
    /* The journal wrote every row's final status, and released every claim. */
    CCD_WAIT(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND ccd_claim_owner IS "
                           "NULL AND status IN ('Success', 'NoAnswer', 'Failure')") == total);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id BETWEEN 5001 AND 5150 AND "
                                   "status = 'Success' AND id_agent IS NOT NULL"),
                     150);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id BETWEEN 6001 AND 6040 AND "
                                   "status = 'NoAnswer'"),
                     40);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id BETWEEN 7001 AND 7040 AND "
                                   "status = 'Failure' AND failure_cause = 17"),
                     39);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id BETWEEN 3001 AND 3040 AND "
                                   "status = 'Failure' AND failure_cause = 34"),
                     40);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id BETWEEN 2001 AND 2030 AND "
                                   "status = 'Failure' AND failure_cause = 1"),
                     30);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM current_calls"), 0);
    assert_int_equal(dbt_int(F.my, "SELECT dnc FROM calls WHERE id = 7005"), 1);
    assert_int_equal(dbt_int(F.my, "SELECT retries FROM calls WHERE id = 7005"), 0);
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND retries > 1"), 0);
    char q[256];
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM call_progress_log WHERE id_campaign_outgoing = 3 "
                           "AND new_status = 'Placing'");
    assert_int_equal(dbt_int(F.my, q), dials);
    dl_stats_t s = stats();
    assert_int_equal((long long)s.calls_placed, dials);
    assert_int_equal((long long)s.originate_refused, 0);
    assert_int_equal((long long)s.not_placed, 0);
    /* Every call the dialer started reached its end: none left in flight. */
    CCD_WAIT(stats().calls_in_flight == 0);
    /* The pacer heard every outcome: one per call, a connect and an end per answered one. */
    CCD_WAIT((fx_pump(&F), stats().pacer_outcomes == (uint64_t)dials));
    CCD_WAIT(stats().pacer_connects == 150 && stats().pacer_ends == 150);
    assert_int_equal((long long)stats().pacer_abandons, 0);
    fx_teardown(&F);
}

/* Windows, back-off, the abandoned block and do-not-call, by moving the dialer's clock. */
static void test_calling_rules_clock(void **state)
{
    (void)state;
    fx_setup(&F, "dl_rules", false, true);
    fx_campaign(&F, 3, "progressive", 0);
    fx_numbers(&F, 5201, 5);
    /* 5201: its own window, tomorrow all day. */
    dbt_exec(F.my, "UPDATE calls SET date_init = CURDATE() + INTERVAL 1 DAY, date_end = CURDATE() "
                   "+ INTERVAL 1 DAY, time_init = '00:00:00', time_end = '23:59:59' WHERE id = 5201");
    /* 5202: its last attempt got no answer; back-off until two hours from now. */
    dbt_exec(F.my, "UPDATE calls SET status = 'NoAnswer', retries = 1, ccd_next_attempt = NOW() + "
                   "INTERVAL 2 HOUR WHERE id = 5202");
    /* 5203: abandoned an hour ago: not again for 72 h. */
    dbt_exec(F.my, "UPDATE calls SET status = 'Abandoned', retries = 1, end_time = NOW() - "
                   "INTERVAL 1 HOUR WHERE id = 5203");
    /* 5204: asked not to be called. */
    dbt_exec(F.my, "INSERT INTO dont_call (caller_id, date_income, status) VALUES ('5204', NOW(), "
                   "'A')");
    fx_start(&F);
    fx_login_agents(&F, 2);
    CCD_WAIT_UNTIL((fx_pump(&F), F.final[5205] != 0), LONG_WAIT_MS);
    /* With agents free, the dialer keeps asking the database; 20 more claims that found
     * nothing prove the other four were not dialable now. */
    uint64_t c0 = stats().claims;
    CCD_WAIT(stats().claims >= c0 + 20);
    fx_pump(&F);
    for (int i = 5201; i <= 5204; i++)
        assert_int_equal(F.dials[i], 0);
    assert_int_equal(dbt_int(F.my, "SELECT dnc FROM calls WHERE id = 5204"), 1);
    /* Tomorrow: 5201's window is open and 5202's back-off has passed. */
    int64_t day = 86400000;
    atomic_store(&F.clock_ms, clk_wall_ms() + day);
    CCD_WAIT_UNTIL((fx_pump(&F), F.final[5201] != 0 && F.final[5202] != 0), LONG_WAIT_MS);
    c0 = stats().claims;
    CCD_WAIT(stats().claims >= c0 + 20);
    fx_pump(&F);
    assert_int_equal(F.dials[5203], 0);
    assert_int_equal(F.dials[5204], 0);
    /* Four days on, the 72 h block is over. */
    atomic_store(&F.clock_ms, clk_wall_ms() + 4 * day);
    CCD_WAIT_UNTIL((fx_pump(&F), F.final[5203] != 0), LONG_WAIT_MS);
    /* Then only the do-not-call number is left, and it is not dialable: the campaign ends
     * (the journal wrote the others' Success), without dialing it. */
    CCD_WAIT(dbt_int(F.my, "SELECT COUNT(*) FROM campaign WHERE id = 3 AND estatus = 'T'") == 1);
    fx_pump(&F);
    assert_int_equal(F.dials[5204], 0);
    for (int i = 5201; i <= 5205; i++)
        assert_true(F.dials[i] <= 1);
    fx_teardown(&F);
}

static bool restarts_one(const pbxsim_state_t *st, void *ctx)
{
    (void)ctx;
    return st->restarts >= 1 && !st->shutting_down;
}

/* The PBX restarts mid-campaign with calls in flight: they all end (by the hangups the PBX
 * sends as it goes down, or as LOST at the resync when those events never arrived: which one
 * depends on timing), the dialer goes on once it is back, no call is left in flight and no
 * number is dialed beyond its retries. */
static void test_pbx_restart(void **state)
{
    (void)state;
    fx_setup(&F, "dl_restart", false, false);
    fx_campaign(&F, 2, "progressive", 0);
    fx_numbers(&F, 5001, 120);
    fx_numbers(&F, 6001, 20);
    fx_start(&F);
    fx_login_agents(&F, 5);
    CCD_WAIT_UNTIL((fx_pump(&F), fx_dialed(&F, 5001, 120) >= 30 && F.live >= 1), LONG_WAIT_MS);
    assert_int_equal(pbxsim_restart(F.sim), 0);
    assert_int_equal(pbxsim_wait(F.sim, restarts_one, NULL, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    /* Everything the old PBX had is gone: the registry finishes it (resync), the dialer
     * counts it no more. */
    CCD_WAIT_UNTIL((fx_pump(&F), stats().calls_in_flight == 0 && F.live == 0), LONG_WAIT_MS);
    uint64_t placed = stats().calls_placed;
    /* The agents were logged off by the restart; they log in again and dialing resumes. */
    fx_login_agents(&F, 5);
    CCD_WAIT_UNTIL(stats().calls_placed > placed, LONG_WAIT_MS);
    /* A LOST call's row is finished by the journal and comes back after its back-off: every
     * number reaches an end (or waits for its retry), none beyond its retries. */
    CCD_WAIT_UNTIL((fx_pump(&F),
                    fx_finished(&F, 5001, 120) + fx_finished(&F, 6001, 20) == 140 ||
                        (stats().calls_in_flight == 0 &&
                         dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND "
                                       "ccd_claim_owner IS NULL AND ccd_dialable = 1 AND "
                                       "retries < 2") == 0)),
                   LONG_WAIT_MS);
    CCD_WAIT_UNTIL((fx_pump(&F), stats().calls_in_flight == 0 && F.live == 0), LONG_WAIT_MS);
    int lost = 0;
    for (int i = 0; i < FX_MAX_CALLS; i++) {
        assert_true(F.dials[i] <= 2);
        lost += F.final[i] == REG_CS_LOST + 1;
    }
    print_message("calls that ended LOST at the resync: %d\n", lost);
    fx_teardown(&F);
}

/* MariaDB stops for 30 s mid-campaign: calls in flight go on, nothing new is placed while
 * the writes cannot be committed, dialing resumes when it is back, nothing is lost. */
static void test_db_outage(void **state)
{
    (void)state;
    fx_setup(&F, "dl_outage", true, false);
    fx_campaign(&F, 2, "progressive", 0);
    fx_numbers(&F, 5001, 100);
    fx_start(&F);
    fx_login_agents(&F, 5);
    CCD_WAIT_UNTIL((fx_pump(&F), fx_dialed(&F, 5001, 100) >= 20), LONG_WAIT_MS);
    dbt_server_stop(&F.srv);
    int64_t down_at = clk_mono_ms();
    uint64_t failed0 = stats().claims_failed;
    /* While it is away the dialer's claims fail (counted) and it places nothing new. */
    CCD_WAIT_UNTIL(stats().claims_failed >= failed0 + 5 || db_writes_backpressured(F.db),
                   LONG_WAIT_MS);
    uint64_t placed_down = stats().calls_placed;
    while (clk_mono_ms() - down_at < 30000) {
        fx_pump(&F);
        /* at most one claim was in flight when the server went: its calls may still start */
        assert_true(stats().calls_placed <= placed_down + 5);
        ccd_test_sleep_ms(100);
    }
    fx_pump(&F);
    dbt_server_up(&F.srv);
    mysql_close(F.my);
    F.my = dbt_connect(&F.cf.database, true);
    wait_all_finished(5001, 100);
    for (int i = 5001; i <= 5100; i++) {
        assert_int_equal(F.dials[i], 1);
        assert_int_equal(final_of(i), REG_CS_HANGUP);
    }
    /* Every attempt's Placing row is there, once (an attempt is counted at Placing: a claim
     * whose answer the outage lost counts one, and its numbers were released and dialed). */
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM call_progress_log WHERE "
                                   "id_campaign_outgoing = 3 AND new_status = 'Placing'"),
                     dbt_int(F.my, "SELECT SUM(retries) FROM calls WHERE id_list = 3"));
    assert_int_equal(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND retries = 0"),
                     0);
    fx_teardown(&F);
}

/* Reads OriginateResponse events until the one with this ActionID; 1 = it went to
 * context/exten, 0 = not yet. */
static int originate_went(const char *action_id, const char *context, const char *exten)
{
    mq_msg_t *m;
    static char got[64][200];
    static int ngot;
    while ((m = mq_pop(F.orig, 0))) {
        const ami_event_t *ev = (const ami_event_t *)m;
        if (ev->action_id && ngot < 64)
            snprintf(got[ngot++], sizeof(got[0]), "%s,%s,%s", ev->action_id,
                     ev->context ? ev->context : "", ev->exten ? ev->exten : "");
        m->free(m);
    }
    char want[200];
    snprintf(want, sizeof(want), "%s,%s,%s", action_id, context, exten);
    for (int i = 0; i < ngot; i++)
        if (strcmp(got[i], want) == 0)
            return 1;
    return 0;
}

static uint8_t cb_pause_of(const char *agent)
{
    reg_agent_t *a = malloc(sizeof(*a));
    uint8_t v = reg_agent_get(F.reg, agent, a) == 0 ? a->cb_pause : 0xff;
    bool brk = v != 0xff && a->break_id != 0;
    free(a);
    return brk ? 0xfe : v; /* a break never comes with the dialer's hold */
}

/* Makes the numbers in the SQL list ids "same agent" callbacks for Agent/9001, due now. */
static void callbacks_for_9001(const char *ids)
{
    char q[512];
    snprintf(q, sizeof(q),
             "UPDATE calls SET agent = 'Agent/9001', date_init = CURDATE() - INTERVAL 1 DAY, "
             "date_end = CURDATE() + INTERVAL 1 DAY, time_init = '00:00:00', time_end = "
             "'23:59:59' WHERE id IN (%s)",
             ids);
    dbt_exec(F.my, q);
}

/* Polled while the campaign runs: whether Agent/9001 was seen held for its callback. */
static bool held_9001;

static bool note_hold_9001(void)
{
    if (cb_pause_of("Agent/9001") == REG_CB_PAUSE_SEEN)
        held_9001 = true;
    return true;
}

/* A "same agent" callback goes to its agent (callback context, the agent's number), not to
 * the queue, and is followed there: linked to its agent in the registry and written Success
 * with it, never redialed; two callbacks for one agent never at once; a campaign with nothing
 * left ends ('T'), this one too once its callbacks are done. */
static void test_callback_and_finish(void **state)
{
    (void)state;
    fx_setup(&F, "dl_cb", false, false);
    fx_campaign(&F, 2, "progressive", 0);
    fx_numbers(&F, 5301, 5);
    callbacks_for_9001("5304, 5305");
    fx_start(&F);
    fx_login_agents(&F, 2);
    held_9001 = false;
    CCD_WAIT_UNTIL((fx_pump(&F), note_hold_9001(), fx_finished(&F, 5301, 5) == 5), LONG_WAIT_MS);
    /* While its callbacks were due and live, Agent/9001 was paused in Asterisk for them (so no
     * queue call could take it meanwhile), and that was not shown as a break. */
    assert_true(held_9001);
    assert_true(stats().holds_sent >= 1);
    /* Two callbacks for one agent: the second only after the first ended. */
    assert_true(F.final_seq[5304] < F.first_seq[5305] || F.final_seq[5305] < F.first_seq[5304]);
    char aid[64];
    snprintf(aid, sizeof(aid), "dl-ccd%.8s-5304-1", db_instance_id(F.db));
    CCD_WAIT(originate_went(aid, "llamada_agendada", "9001"));
    snprintf(aid, sizeof(aid), "dl-ccd%.8s-5301-1", db_instance_id(F.db));
    CCD_WAIT(originate_went(aid, "dialer-queue", "8000"));
    for (int i = 5301; i <= 5305; i++)
        assert_int_equal(F.dials[i], 1);
    /* Campaign 4 on the same queue, every number of it done: it is finished. */
    dbt_exec(F.my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                   "daytime_end, retries, trunk, context, queue, max_canales, script, estatus) "
                   "VALUES (4, 'Done', CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 9 DAY, "
                   "'00:00:00', '23:59:59', 2, NULL, 'dialer-queue', '8000', 0, '', 'A')");
    dbt_exec(F.my, "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, "
                   "status, total_calls, pending_calls) VALUES (4, 4, 0, 'Done', 'd.csv', NOW(), 1, "
                   "2, 0)");
    dbt_exec(F.my, "INSERT INTO calls (id, id_list, phone, status, retries) VALUES "
                   "(5401, 4, '5401', 'Success', 1), (5402, 4, '5402', 'Failure', 2)");
    CCD_WAIT(dbt_int(F.my, "SELECT COUNT(*) FROM campaign WHERE id = 4 AND estatus = 'T'") == 1);
    CCD_WAIT(stats().campaigns_finished >= 1);
    /* The callbacks reached their agent: linked in the registry (ended HANGUP with it, as a
     * queue call that talked), written Success with the agent in `calls`, dialed once. */
    for (int i = 5304; i <= 5305; i++) {
        assert_int_equal(final_of(i), REG_CS_HANGUP);
        assert_string_equal(F.agent[i], "Agent/9001");
    }
    CCD_WAIT(dbt_int(F.my, "SELECT COUNT(*) FROM calls WHERE id IN (5304, 5305) AND status = "
                           "'Success' AND start_time IS NOT NULL AND ccd_claim_owner IS NULL AND "
                           "id_agent = (SELECT id FROM agent WHERE type = 'Agent' AND number = "
                           "'9001')") == 2);
    /* So campaign 3 has nothing left either: it is finished, and nothing was dialed again. */
    CCD_WAIT(dbt_int(F.my, "SELECT COUNT(*) FROM campaign WHERE id = 3 AND estatus = 'T'") == 1);
    CCD_WAIT(stats().campaigns_finished == 2);
    fx_pump(&F);
    for (int i = 5301; i <= 5305; i++)
        assert_int_equal(F.dials[i], 1);
    /* With no callback left, the hold is lifted. */
    CCD_WAIT(cb_pause_of("Agent/9001") == REG_CB_PAUSE_NONE);
    CCD_WAIT(stats().agents_held == 0);
    assert_true(stats().lifts_sent >= 1);
    fx_teardown(&F);
}

/* With [dialer] callback_hold = no, the callback still reaches its agent, and nothing is
 * paused. */
static void test_callback_hold_off(void **state)
{
    (void)state;
    fx_setup(&F, "dl_cboff", false, false);
    F.cf.dialer.callback_hold = false;
    fx_campaign(&F, 2, "progressive", 0);
    fx_numbers(&F, 5304, 1);
    callbacks_for_9001("5304");
    fx_start(&F);
    fx_login_agents(&F, 2);
    wait_all_finished(5304, 1);
    assert_int_equal(final_of(5304), REG_CS_HANGUP);
    assert_string_equal(F.agent[5304], "Agent/9001");
    assert_int_equal(stats().holds_sent, 0);
    assert_int_equal(cb_pause_of("Agent/9001"), REG_CB_PAUSE_NONE);
    fx_teardown(&F);
}

static void free_answer(ami_response_t *r, void *ctx)
{
    (void)ctx;
    ami_response_free(r);
}

static uint32_t queue_callers(void)
{
    pbxsim_state_t st;
    pbxsim_state(F.sim, &st);
    return st.queue_callers;
}

/* What the hold is for: while a callback's customer rings, a queue call does not take its
 * agent.  Agent/9001 is the only agent Asterisk could offer a queue call (9000 is paused for
 * lunch); its callback (6301, which rings until its Timeout: 600 s of the PBX's clock, 12 s
 * here) is placed and the agent held; a caller then joins queue 8000.  It waits, and gets
 * 9001 only after the callback ended and the hold was lifted.  Without the hold it would be
 * connected at once, while the callback's customer still rang. */
static void test_hold_keeps_queue_calls_away(void **state)
{
    (void)state;
    fx_setup(&F, "dl_holdq", false, false);
    F.cf.dialer.originate_timeout_s = 600;
    fx_campaign(&F, 2, "progressive", 0);
    fx_numbers(&F, 6301, 1);
    callbacks_for_9001("6301");
    fx_start(&F);
    fx_login_agents(&F, 2);
    ami_send_opts_t so = {.cb = free_answer};
    assert_int_equal(ami_send(F.ami, 0,
                              ami_op_queue_pause("Local/9000@agents", NULL, true, "lunch"), &so,
                              NULL),
                     0);
    CCD_WAIT((fx_pump(&F), F.dials[6301] == 1 && cb_pause_of("Agent/9001") == REG_CB_PAUSE_SEEN));
    assert_int_equal(F.final[6301], 0); /* its customer rings */
    assert_int_equal(ami_send(F.ami, 0,
                              ami_op_originate_exten("Local/4301@customers", "dialer-queue", "8000",
                                                     0, NULL, NULL),
                              &so, NULL),
                     0);
    CCD_WAIT(queue_callers() == 1);
    /* Connected (no caller left waiting) only once the callback is over. */
    CCD_WAIT_UNTIL((fx_pump(&F), queue_callers() == 0), LONG_WAIT_MS);
    fx_pump(&F);
    assert_int_equal(final_of(6301), REG_CS_NOANSWER);
    CCD_WAIT(cb_pause_of("Agent/9001") == REG_CB_PAUSE_NONE);
    fx_teardown(&F);
}

/* A hold the dialer did not set: one that appears while connected is another engine's and
 * stays (the agent counts free for none of this engine's calls meanwhile); one a resync
 * finds is lifted, as an engine that stopped before lifting its holds would have left it. */
static void test_hold_left_behind(void **state)
{
    (void)state;
    fx_setup(&F, "dl_hold", false, false);
    fx_campaign(&F, 1, "progressive", 0);
    fx_start(&F);
    fx_login_agents(&F, 1);
    ami_send_opts_t so = {.cb = free_answer};
    assert_int_equal(ami_send(F.ami, 0,
                              ami_op_queue_pause("Local/9000@agents", NULL, true,
                                                 AMI_CB_PAUSE_REASON),
                              &so, NULL),
                     0);
    CCD_WAIT(cb_pause_of("Agent/9000") == REG_CB_PAUSE_SEEN);
    /* Numbers to dial, and the only agent held: nothing is placed for it. */
    fx_numbers(&F, 5301, 3);
    uint64_t c0 = stats().cycles, claims0 = stats().claims;
    CCD_WAIT(stats().cycles >= c0 + 5);
    assert_int_equal(cb_pause_of("Agent/9000"), REG_CB_PAUSE_SEEN);
    assert_int_equal(stats().lifts_sent, 0);
    assert_int_equal(stats().claims, claims0);
    assert_int_equal(fx_dialed(&F, 5301, 3), 0);
    /* The engine reconnects: the resync finds the hold with no callback behind it, and the
     * dialer lifts it; then the agent takes the numbers. */
    assert_int_equal(pbxsim_drop_connections(F.sim), 0);
    CCD_WAIT(stats().lifts_sent >= 1);
    CCD_WAIT(cb_pause_of("Agent/9000") == REG_CB_PAUSE_NONE);
    wait_all_finished(5301, 3);
    assert_int_equal(stats().holds_sent, 0);
    fx_teardown(&F);
}

/* An agent with a wrap-up: its queue member has a 3 s wrap-up (pbxsim reports Wrapuptime 3;
 * the registry takes it in real seconds, while pbxsim's clock runs 50 times faster, so the
 * dialer's wait is the longer one).  Progressive, one agent, three answered numbers: after
 * each call the agent is in wrap-up and the dialer places nothing for it until the wrap-up
 * is over, so each call is placed no earlier than the previous one's end + 3 s on the
 * registry's clock (its count reads the same clock); meanwhile the pacer is handed the agent
 * as wrapping (with when it began); each end is told with its 3 s wrap-up. */
#define WRAP_S 3

static bool agent_wrapup_known(void)
{
    reg_agent_t *a = malloc(sizeof(*a));
    bool ok = reg_agent_get(F.reg, "Agent/9000", a) == 0 && a->wrapup_ms == WRAP_S * 1000;
    free(a);
    return ok;
}

static void test_wrapup(void **state)
{
    (void)state;
    fx_setup_wrapup(&F, "dl_wrap", WRAP_S);
    fx_campaign(&F, 1, "progressive", 0);
    fx_numbers(&F, 5001, 3);
    fx_start(&F);
    fx_login_agents(&F, 1);
    CCD_WAIT((fx_pump(&F), agent_wrapup_known()));
    wait_all_finished(5001, 3);
    for (int i = 5001; i <= 5003; i++) {
        assert_int_equal(F.dials[i], 1);
        assert_int_equal(final_of(i), REG_CS_HANGUP);
        assert_true(F.t_orig[i] > 0 && F.t_end[i] > F.t_orig[i]);
    }
    for (int i = 5002; i <= 5003; i++)
        if (F.t_orig[i] < F.t_end[i - 1] + WRAP_S * 1000)
            fail_msg("call %d placed %lld ms after the end of call %d: inside its agent's %d s "
                     "wrap-up",
                     i, (long long)(F.t_orig[i] - F.t_end[i - 1]), i - 1, WRAP_S);
    CCD_WAIT(stats().pacer_ends == 3);
    dl_stats_t s = stats();
    assert_int_equal((long long)s.pacer_wrap_ms, 3LL * WRAP_S * 1000);
    assert_true(s.pacer_wrap_inputs > 0);
    assert_int_equal((long long)s.pacer_abandons, 0);
    /* the last wrap-up ends too: the agent is counted free again */
    CCD_WAIT(stats().agents_wrapping == 0);
    fx_teardown(&F);
}

static bool rates_of(uint32_t id, dl_campaign_rates_t *out)
{
    dl_campaign_rates_t *r;
    size_t n;
    assert_int_equal(dl_campaign_rates(F.dl, &r, &n), 0);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        if (r[i].id == id) {
            *out = r[i];
            found = true;
        }
    free(r);
    return found;
}

/* An engine that starts on a campaign with abandons earlier in the day knows them: its pacer
 * is seeded from the database before the campaign places anything, and holds back. */
static void test_seeded_rates(void **state)
{
    (void)state;
    fx_setup(&F, "dl_seed", false, false);
    fx_campaign(&F, 1, "predictive", 0);
    /* 300 answered two hours ago, 30 of them abandoned; 10 answered ten days ago. */
    dbt_exec(F.my, "INSERT INTO calls (id, id_list, phone, status, retries, datetime_entry_queue, "
                   "start_time, duration_wait) SELECT 99 + seq, 3, 99 + seq, IF(seq <= 30, "
                   "'Abandoned', 'Success'), 1, NOW() - INTERVAL 2 HOUR, IF(seq <= 30, NULL, NOW() "
                   "- INTERVAL 2 HOUR), 1 FROM seq_1_to_300");
    dbt_exec(F.my, "INSERT INTO calls (id, id_list, phone, status, retries, datetime_entry_queue, "
                   "start_time, duration_wait) SELECT 399 + seq, 3, 399 + seq, 'Success', 1, NOW() "
                   "- INTERVAL 10 DAY, NOW() - INTERVAL 10 DAY, 0 FROM seq_1_to_10");
    fx_start(&F);
    dl_campaign_rates_t r = {0};
    CCD_WAIT(rates_of(3, &r) && r.seeded);
    assert_int_equal((long long)r.answered_day, 300);
    assert_int_equal((long long)r.abandoned_day, 30);
    assert_float_equal(r.month, 30.0 / 310.0, 1e-9);
    assert_float_equal(r.lifetime, 30.0 / 310.0, 1e-9);
    /* 10 % over the day: predictive places as progressive from its first decision. */
    CCD_WAIT(rates_of(3, &r) && r.fallback_progressive);
    fx_teardown(&F);
}

/* The pacer's allowance and estimators outlive the engine: a new engine's pacer starts from
 * the ones saved (the allowance scaled from the 6 % target it was tuned for to this campaign's
 * 3 %); the engine saves them when the campaign leaves the active list, reads them again when
 * the campaign comes back (refusing a malformed line), and saves them when it stops. */
static void test_pacer_state(void **state)
{
    (void)state;
    fx_setup(&F, "dl_pstate", false, false);
    fx_campaign(&F, 1, "predictive", 0);
    dbt_exec(F.my, "INSERT INTO ccd_pacer_state (id_campaign, allowance_ppm, abandon_target_ppm, "
                   "updated, estimates) VALUES (3, 123456, 60000, NOW() - INTERVAL 1 HOUR, "
                   "'e1 60 o 2 6:0.5:0.5 26:2:0 t 2 60000 90000 w 2 10000 12000 c 2 70000 102000')");
    fx_start(&F);
    dl_campaign_rates_t r = {0};
    CCD_WAIT(rates_of(3, &r) && r.seeded);
    assert_float_equal(r.allowance, 0.061728, 1e-9);
    /* Paused: it leaves the active list and its allowance and estimators are written over the
     * row: the estimators it was seeded with (the outcome weights have aged by the seconds
     * since, the agents' samples are as they were). */
    dbt_exec(F.my, "UPDATE ccd_pacer_state SET allowance_ppm = 1, estimates = NULL WHERE "
                   "id_campaign = 3");
    dbt_exec(F.my, "UPDATE campaign SET estatus = 'I' WHERE id = 3");
    CCD_WAIT(!rates_of(3, &r));
    assert_int_equal(db_write_flush(F.db, ccd_test_timeout_ms(30000)), 0);
    dbt_expect(F.my, "SELECT allowance_ppm, LEFT(estimates, 10), SUBSTRING_INDEX(estimates, ' t ', "
                     "-1) FROM ccd_pacer_state",
               "61728|e1 60 o 2 |2 60000 90000 w 2 10000 12000 c 2 70000 102000\n");
    /* Active again: a new pacer, from the row as it is now (1 ppm: the floor, target / 20), its
     * estimators refused (more answered than ended: not a line the dialer writes), so it
     * learns them again and writes what it learnt (nothing, with no agent logged in). */
    dbt_exec(F.my, "UPDATE ccd_pacer_state SET allowance_ppm = 1, estimates = 'e1 60 o 2 "
                   "6:0.5:0.7 26:2:0 t 0 w 0 c 0' WHERE id_campaign = 3");
    dbt_exec(F.my, "UPDATE campaign SET estatus = 'A' WHERE id = 3");
    CCD_WAIT(rates_of(3, &r) && r.seeded);
    assert_float_equal(r.allowance, 0.0015, 1e-9);
    dl_stop(F.dl);
    assert_int_equal(db_write_flush(F.db, ccd_test_timeout_ms(30000)), 0);
    dbt_expect(F.my, "SELECT id_campaign, allowance_ppm, abandon_target_ppm, updated > NOW() - "
                     "INTERVAL 10 MINUTE, estimates FROM ccd_pacer_state",
               "3|1500|30000|1|e1 0 o 0 t 0 w 0 c 0\n");
    fx_teardown(&F);
}

int main(void)
{
    const char *only = getenv("CCD_TEST_FILTER"); /* run one test while debugging */
    if (only && *only)
        cmocka_set_test_filter(only);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_outcomes),
        cmocka_unit_test(test_calling_rules_clock),
        cmocka_unit_test(test_callback_and_finish),
        cmocka_unit_test(test_hold_left_behind),
        cmocka_unit_test(test_hold_keeps_queue_calls_away),
        cmocka_unit_test(test_callback_hold_off),
        cmocka_unit_test(test_pbx_restart),
        cmocka_unit_test(test_db_outage),
        cmocka_unit_test(test_wrapup),
        cmocka_unit_test(test_seeded_rates),
        cmocka_unit_test(test_pacer_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
