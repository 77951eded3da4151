/*
 * The call journal against MariaDB: registry changes in, the rows of calls,
 * call_progress_log, current_calls, campaign and audit out, as read back from the
 * database; and the same with the database stopped while the changes happen (the rows
 * arrive once it is back).
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
#include "core/err.h"
#include "db/db.h"
#include "jnl_fake.h"
#include "journal/journal.h"
#include "test/common/ccd_test.h"
#include "test/db/dbtest.h"

/* The steps' times: two minutes ago, whole seconds (audit durations are TIMEDIFFs with
 * the closing time, which is the clock's, and a TIME holds at most 838 hours). */
static int64_t T;
static long long S; /* T in seconds */

static void set_times(void)
{
    S = (long long)(clk_wall_ms() / 1000 - 120);
    T = S * 1000;
}

/* want with every "@N" (N may be negative) replaced by S + N. */
static char *at(const char *want)
{
    size_t cap = strlen(want) * 2 + 64;
    char *out = malloc(cap);
    size_t n = 0;
    for (const char *p = want; *p;) {
        if (*p == '@' && ((p[1] >= '0' && p[1] <= '9') || (p[1] == '-' && p[2] >= '0' && p[2] <= '9'))) {
            char *end;
            long v = strtol(p + 1, &end, 10);
            n += (size_t)snprintf(out + n, cap - n, "%lld", S + v);
            p = end;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

/* Calls 1..3 of the seed's campaign 1 as the dialer's claim leaves them (claimed by this
 * engine: another owner's claims would be recovered); the campaign's statistics seeded
 * (4 calls, mean 30 s, deviation 0); its back-off is 60 s (seed). */
static void claim_rows(MYSQL *my, db_t *db)
{
    char q[256];
    snprintf(q, sizeof(q),
             "UPDATE calls SET status = 'Placing', retries = 1, ccd_claim_owner = '%s', "
             "ccd_claim_time = NOW() WHERE id IN (1, 2, 3)",
             db_instance_id(db));
    dbt_exec(my, q);
    dbt_exec(my, "UPDATE campaign SET num_completadas = 4, promedio = 30, desviacion = 0 "
                 "WHERE id = 1");
}

typedef struct eng {
    conf_t cf;
    reg_t *reg;
    db_t *db;
    jnl_t *j;
} eng_t;

static void eng_start(eng_t *e, const conf_database_t *cfg)
{
    conf_defaults(&e->cf);
    e->cf.database = *cfg;
    e->reg = reg_new(4096, NULL, 0);
    e->db = dbt_db_start(cfg);
    char err[256];
    e->j = jnl_new(&e->cf, e->reg, e->db, err, sizeof(err));
    if (!e->j)
        fail_msg("jnl_new: %s", err);
    assert_int_equal(jnl_start(e->j), 0);
}

static void eng_stop(eng_t *e)
{
    reg_stop(e->reg);
    jnl_stop(e->j);
    db_stop(e->db, 5000);
    jnl_free(e->j);
    db_free(e->db);
    reg_free(e->reg);
}

/* Posts and applies (the registry is drained on this thread). */
static void post(eng_t *e, const reg_call_t *c, bool remove)
{
    assert_int_equal(jt_post_call(e->reg, c, remove), 0);
    assert_int_equal(reg_drain(e->reg), 1);
}

static void post_agent(eng_t *e, const reg_agent_t *a)
{
    assert_int_equal(jt_post_agent(e->reg, a), 0);
    assert_int_equal(reg_drain(e->reg), 1);
}

static uint64_t reads_out(eng_t *e)
{
    jnl_stats_t st;
    jnl_get_stats(e->j, &st);
    return st.reads_out;
}

/* Every change handed to the journal is written and committed (with the database up:
 * the journal's reads, a campaign's row, come back; what waited for them is submitted
 * before the second marker). */
static void settle(eng_t *e)
{
    assert_int_equal(jnl_sync(e->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    CCD_WAIT(reads_out(e) == 0);
    assert_int_equal(jnl_sync(e->j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    assert_int_equal(db_write_flush(e->db, ccd_test_timeout_ms(30000)), 0);
}

/* want may name times as @N (S + N). */
static void expect_dump(MYSQL *my, const char *sql, const char *want)
{
    char *w = at(want);
    dbt_expect(my, sql, w);
    free(w);
}

#define CALLS_Q                                                                                    \
    "SELECT id, status, uniqueid, UNIX_TIMESTAMP(fecha_llamada), "                                 \
    "UNIX_TIMESTAMP(datetime_entry_queue), UNIX_TIMESTAMP(start_time), UNIX_TIMESTAMP(end_time), " \
    "duration, duration_wait, id_agent, failure_cause, failure_cause_txt, trunk, "                 \
    "ccd_claim_owner IS NULL, IFNULL(TIMESTAMPDIFF(SECOND, NOW(), ccd_next_attempt) BETWEEN 1 AND 60, 0) "    \
    "FROM calls WHERE id IN (1, 2, 3) ORDER BY id"
#define PROGRESS_Q                                                                                 \
    "SELECT id_call_outgoing, id_campaign_outgoing, new_status, retry, uniqueid, trunk, "          \
    "id_agent, duration FROM call_progress_log WHERE id_call_outgoing IN (1, 2, 3) ORDER BY id"
#define AUDIT_Q                                                                                    \
    "SELECT id_agent, id_break, UNIX_TIMESTAMP(datetime_init), datetime_end IS NOT NULL, "         \
    "duration IS NOT NULL FROM audit ORDER BY id"

static void run_calls(eng_t *e)
{
    reg_agent_t a = jt_agent(1); /* the seed's Agent/9000 */
    post_agent(e, &a);
    reg_call_t c = jt_call(1, 1, 1);
    snprintf(c.trunk, sizeof(c.trunk), "SIP/prov-out");
    c.status = REG_CS_DIALING;
    post(e, &c, false);
    c.status = REG_CS_RINGING;
    c.t_answer_ms = T + 5000;
    post(e, &c, false);
    c.status = REG_CS_ONQUEUE;
    c.t_queue_ms = T + 6000;
    post(e, &c, false);
    c.status = REG_CS_SUCCESS;
    jt_link(&c, T + 10000);
    post(e, &c, false);

    reg_call_t f = jt_call(2, 1, 1);
    f.status = REG_CS_FAILURE;
    f.failure_cause = 17;
    f.t_end_ms = T + 2000;
    post(e, &f, false);

    reg_call_t l = jt_call(3, 1, 1);
    l.status = REG_CS_RINGING;
    l.t_answer_ms = T + 1000;
    post(e, &l, false);
}

static void finish_calls(eng_t *e)
{
    reg_call_t c = jt_call(1, 1, 1);
    snprintf(c.trunk, sizeof(c.trunk), "SIP/prov-out");
    c.t_answer_ms = T + 5000;
    c.t_queue_ms = T + 6000;
    jt_link(&c, T + 10000);
    c.status = REG_CS_HANGUP;
    c.t_end_ms = T + 52000;
    post(e, &c, false);
    reg_call_t l = jt_call(3, 1, 1);
    l.status = REG_CS_RINGING;
    l.t_answer_ms = T + 1000;
    post(e, &l, true); /* dropped unfinished */
}

static const char final_calls[] =
    "1|Success|ccd-1|@5|@6|@10|@52|42|4|1|NULL|NULL|SIP/prov-out|1|0\n"
    "2|Failure|ccd-2|@2|NULL|NULL|@2|NULL|NULL|NULL|17|User busy|NULL|1|1\n"
    "3|Failure|ccd-3|@1|NULL|NULL|NOW|NULL|NULL|NULL|NULL|ccd-lost|NULL|1|1\n";

static const char final_progress[] =
    "1|1|Dialing|1|ccd-1|SIP/prov-out|NULL|NULL\n"
    "1|1|Ringing|1|ccd-1|SIP/prov-out|NULL|NULL\n"
    "1|1|OnQueue|1|ccd-1|SIP/prov-out|NULL|NULL\n"
    "1|1|Success|1|ccd-1|SIP/prov-out|1|NULL\n"
    "2|1|Failure|1|ccd-2|NULL|NULL|NULL\n"
    "3|1|Ringing|1|ccd-3|NULL|NULL|NULL\n"
    "1|1|Hangup|1|ccd-1|SIP/prov-out|1|42\n"
    "3|1|Failure|1|ccd-3|NULL|NULL|NULL\n";

/* The end time of the dropped call is the clock's: replaced by NOW when recent. */
static void expect_calls(MYSQL *my, const char *want)
{
    char *got = dbt_dump(my, CALLS_Q);
    char *p = strstr(got, "|ccd-3|");
    if (p) {
        /* ccd-3|fecha|queue|start|end: the fifth field after the uniqueid */
        char *f = p + 7;
        for (int i = 0; i < 3 && f; i++)
            f = strchr(f, '|') ? strchr(f, '|') + 1 : NULL;
        if (f && strncmp(f, "NULL", 4) != 0) {
            long long v = strtoll(f, NULL, 10);
            char *end = strchr(f, '|');
            if (v > S + 60 && end) {
                memmove(f + 3, end, strlen(end) + 1);
                memcpy(f, "NOW", 3);
            }
        }
    }
    char *w = at(want);
    if (strcmp(got, w) != 0)
        fail_msg("calls\n--- want\n%s--- got\n%s", w, got);
    free(got);
    free(w);
}

static void test_rows_in_mariadb(void **state)
{
    (void)state;
    set_times();
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "jnl_rows", true);
    /* a session an earlier run left open (a crash while the agent was logged in) */
    char q[160];
    snprintf(q, sizeof(q), "INSERT INTO audit (id_agent, datetime_init) VALUES (1, FROM_UNIXTIME(%lld))",
             S - 3600);
    dbt_exec(my, q);
    eng_t e;
    eng_start(&e, &cfg);
    claim_rows(my, e.db);

    run_calls(&e);
    /* agent: login, a break, a hold */
    reg_agent_t a = jt_agent(1);
    a.login = REG_LOGGED_IN;
    a.login_time_ms = T;
    post_agent(&e, &a);
    a.break_id = 2;
    a.break_start_ms = T + 1000;
    post_agent(&e, &a);
    a.break_id = 0;
    post_agent(&e, &a);
    a.on_hold = true;
    a.hold_start_ms = T + 2000;
    post_agent(&e, &a);
    settle(&e);

    /* mid-call: current_calls has the linked call; the open rows are open */
    expect_dump(my, "SELECT id_call, uniqueid, queue, agentnum, event, Channel, ChannelClient, "
                    "UNIX_TIMESTAMP(fecha_inicio) FROM current_calls",
                "1|ccd-1|8000|Agent/9000|Link|Local/9000@agents-0001;1|SIP/prov-out-0001|@10\n");
    expect_dump(my, AUDIT_Q,
                "1|NULL|@-3600|1|1\n"
                "1|NULL|@0|0|0\n"
                "1|2|@1|1|1\n"
                "1|1|@2|0|0\n");
    expect_dump(my, "SELECT status, start_time IS NOT NULL, id_agent, ccd_claim_owner IS NULL FROM calls "
                    "WHERE id = 1",
                "Success|1|1|0\n");

    finish_calls(&e);
    a.on_hold = false;
    post_agent(&e, &a);
    a.login = REG_LOGGED_OUT;
    post_agent(&e, &a);
    settle(&e);

    expect_calls(my, final_calls);
    expect_dump(my, PROGRESS_Q, final_progress);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM current_calls"), 0);
    expect_dump(my, "SELECT num_completadas, promedio, desviacion FROM campaign WHERE id = 1",
                "5|32|5\n");
    expect_dump(my, AUDIT_Q,
                "1|NULL|@-3600|1|1\n"
                "1|NULL|@0|1|1\n"
                "1|2|@1|1|1\n"
                "1|1|@2|1|1\n");
    jnl_stats_t st;
    jnl_get_stats(e.j, &st);
    assert_int_equal(st.writes_failed, 0);
    assert_int_equal(st.audit_skipped, 0);
    eng_stop(&e);
    mysql_close(my);
    dbt_drop(&cfg);
}

static bool writer_connected(db_t *db)
{
    db_stats_t s;
    db_get_stats(db, &s);
    return s.writer_connected;
}

/* The database goes away while calls run: the journal goes on (it never waits on SQL),
 * and every row is there once the database is back. */
static void test_database_away(void **state)
{
    (void)state;
    set_times();
    dbt_server_t srv = {0};
    dbt_server_start(&srv);
    conf_database_t cfg;
    dbt_server_cfg(&srv, &cfg, "ccdt_jnl_away");
    MYSQL *my = dbt_fresh(&cfg, "jnl_away", true);
    eng_t e;
    eng_start(&e, &cfg);
    claim_rows(my, e.db);
    mysql_close(my);
    /* the Hold break is known before the outage */
    settle(&e);

    dbt_server_stop(&srv);
    CCD_WAIT_UNTIL(!writer_connected(e.db), 60000);
    run_calls(&e);
    reg_agent_t a = jt_agent(1);
    a.login = REG_LOGGED_IN;
    a.login_time_ms = T;
    post_agent(&e, &a);
    finish_calls(&e);
    assert_int_equal(jnl_sync(e.j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    jnl_stats_t st;
    jnl_get_stats(e.j, &st);
    assert_true(st.writes >= 15); /* handed over while the database is away */
    assert_int_equal(st.writes_failed, 0);
    assert_false(writer_connected(e.db));

    dbt_server_up(&srv);
    assert_int_equal(db_write_flush(e.db, ccd_test_timeout_ms(120000)), 0);
    my = dbt_connect(&cfg, true);
    /* The statistics went to the durable writer with the other writes; the failed call's
     * release (its back-off is the campaign's) waited for the campaign's row, which could
     * not be read while the database was away, and comes after the journal's next try. */
    int64_t end = ccd_test_deadline(30000);
    while (dbt_int(my, "SELECT COUNT(*) FROM calls WHERE id IN (2, 3) AND ccd_claim_owner IS "
                       "NULL") != 2) {
        CCD_CHECK_DEADLINE(end, "the failed calls' release after the outage");
        ccd_test_sleep_ms(100);
    }
    assert_int_equal(jnl_sync(e.j, ccd_test_timeout_ms(CCD_TEST_WAIT_MS)), 0);
    assert_int_equal(db_write_flush(e.db, ccd_test_timeout_ms(30000)), 0);
    expect_dump(my, "SELECT num_completadas, promedio, desviacion FROM campaign WHERE id = 1",
                "5|32|5\n");
    expect_calls(my, final_calls);
    expect_dump(my, PROGRESS_Q, final_progress);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM current_calls"), 0);
    expect_dump(my, "SELECT id_agent, id_break, UNIX_TIMESTAMP(datetime_init), "
                    "datetime_end IS NULL FROM audit",
                "1|NULL|@0|1\n");
    mysql_close(my);
    eng_stop(&e);
    dbt_server_destroy(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_in_mariadb),
        cmocka_unit_test(test_database_away),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
