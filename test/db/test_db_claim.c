/*
 * Integration tests for number selection: Issabel's order and eligibility
 * rules plus ours (back-off, time zone window, dont_call marking, Placing
 * state), two concurrent selectors on separate connections never receiving
 * the same number, and crash recovery of a dead engine's claims.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "db/db.h"
#include "test/db/dbtest.h"

static void test_claim_rules(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_rules", true);
    db_claimed_call_t out[100];
    int n = -1;
    db_claim_req_t req = {.id_campaign = 1, .n = 100, .owner = "ownerA", .max_retries = 3,
                          .callerid = "5550100", .mark_placing = true, .log_progress = true};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    /* 44 numbers, 7005 (id 40) is on dont_call */
    assert_int_equal(n, 43);
    assert_int_equal(out[0].id, 44); /* its own window is open: first */
    assert_true(out[0].windowed);
    assert_int_equal(out[1].id, 1);
    assert_string_equal(out[1].phone, "5001");
    assert_int_equal(out[1].retries, 1);
    for (int i = 2; i < n; i++)
        assert_true(out[i].id > out[i - 1].id);
    for (int i = 0; i < n; i++)
        assert_int_not_equal(out[i].id, 40);
    assert_int_equal(dbt_int(my, "SELECT dnc FROM calls WHERE id = 40"), 1);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = 'ownerA' AND "
                                 "status = 'Placing' AND retries = 1 AND callerid = '5550100' AND "
                                 "datetime_originate IS NOT NULL"),
                     43);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = "
                                 "'Placing' AND id_campaign_outgoing = 1 AND retry = 1"),
                     43);
    /* nothing left */
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);

    /* a finished attempt released with a back-off in the future is not eligible yet */
    dbt_exec(my, "UPDATE calls SET status = 'NoAnswer', ccd_claim_owner = NULL, "
                 "ccd_next_attempt = NOW() + INTERVAL 1 HOUR WHERE id = 31");
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    dbt_exec(my, "UPDATE calls SET ccd_next_attempt = NOW() - INTERVAL 1 SECOND WHERE id = 31");
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 31);
    assert_int_equal(out[0].retries, 2);
    /* attempts exhausted: not eligible */
    dbt_exec(my, "UPDATE calls SET status = 'Failure', ccd_claim_owner = NULL, retries = 3 WHERE id = 31");
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    /* Success is never redialed; a scheduled-for-agent call is not a campaign number */
    dbt_exec(my, "UPDATE calls SET status = 'Success', ccd_claim_owner = NULL, retries = 1 WHERE id = 2");
    dbt_exec(my, "UPDATE calls SET status = NULL, ccd_claim_owner = NULL, retries = 0, "
                 "agent = 'Agent/9000' WHERE id = 3");
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    /* released without dialing (status untouched): eligible again only if its status is */
    dbt_exec(my, "UPDATE calls SET status = NULL WHERE id = 4");
    assert_int_equal(db_claim_release(DBT_CONN(my), 4, "ownerA"), 0);
    assert_int_equal(db_claim_release(DBT_CONN(my), 5, "someoneElse"), 0); /* not ours: no effect */
    req.mark_placing = false;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 4);
    assert_int_equal(dbt_int(my, "SELECT retries FROM calls WHERE id = 4"), 1); /* untouched */
    /* bad input is refused, not executed */
    req.owner = "x'; DROP TABLE calls; --";
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), CCD_EINVAL);
    req.owner = "ownerA";
    req.n = 0;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), CCD_EINVAL);
    /* a campaign without lists */
    req.n = 10;
    req.id_campaign = 999;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* "+HH:MM" offset such that local time there is utc + delta seconds, within +-12h. */
static void offset_for(int delta_s, char *out, size_t len)
{
    delta_s %= 86400;
    if (delta_s >= 43200)
        delta_s -= 86400;
    if (delta_s < -43200)
        delta_s += 86400;
    int a = delta_s < 0 ? -delta_s : delta_s;
    snprintf(out, len, "%c%02d:%02d", delta_s < 0 ? '-' : '+', a / 3600, (a % 3600) / 60);
}

static void test_claim_time_zone(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_tz", false);
    /* Campaign window 10:00-12:00.  Number A lives where it is 11:00 now, B where it is 23:00,
     * C has no zone (server time: campaign-level window applies, checked by the dialer). */
    time_t now = time(NULL);
    struct tm g;
    gmtime_r(&now, &g);
    int utc_s = g.tm_hour * 3600 + g.tm_min * 60;
    char tza[16], tzb[16], q[1024];
    offset_for(11 * 3600 - utc_s, tza, sizeof(tza));
    offset_for(23 * 3600 - utc_s, tzb, sizeof(tzb));
    dbt_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, context, queue, script) VALUES (1, 'tz', CURDATE(), "
                 "CURDATE(), '10:00:00', '12:00:00', 1, 'c', '8000', '')");
    dbt_exec(my, "INSERT INTO campaign_lists (id, id_campaign, name, upload, date_entered, status) "
                 "VALUES (1, 1, 'l', '', NOW(), 1)");
    snprintf(q, sizeof(q),
             "INSERT INTO calls (id, id_list, phone, ccd_tz) VALUES (1, 1, '5001', '%s'), "
             "(2, 1, '5002', '%s'), (3, 1, '5003', NULL), (4, 1, '5004', 'No/Such_Zone')",
             tza, tzb);
    dbt_exec(my, q);
    db_claimed_call_t out[10];
    int n = -1;
    db_claim_req_t req = {.id_campaign = 1, .n = 10, .owner = "tz", .max_retries = 1};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 10, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, 1);
    assert_string_equal(out[0].tz, tza);
    assert_int_equal(out[1].id, 3);
    assert_int_equal(out[2].id, 4); /* unknown zone: treated as the server's */
    /* A callback is due by the same window: B's (23:00 where it lives) is not, A's is. */
    snprintf(q, sizeof(q),
             "INSERT INTO calls (id, id_list, phone, ccd_tz, agent, date_init, date_end, "
             "time_init, time_end) VALUES (5, 1, '5005', '%s', 'Agent/9005', CURDATE() - INTERVAL "
             "1 DAY, CURDATE() + INTERVAL 1 DAY, '00:00:00', '23:59:59'), (6, 1, '5006', '%s', "
             "'Agent/9006', CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 1 DAY, '00:00:00', "
             "'23:59:59')",
             tzb, tza);
    dbt_exec(my, q);
    const db_campaign_t camp = {.id = 1, .retries = 1, .daytime_init = "10:00:00",
                                .daytime_end = "12:00:00"};
    db_agent_name_t *due = NULL;
    size_t ndue = 0;
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp, 0, 0, &due, &ndue), 0);
    assert_int_equal(ndue, 1);
    assert_string_equal(due[0].name, "Agent/9006");
    free(due);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* The cursor: back-to-back claims continue where the last stopped, and a number released
 * behind the cursor is still handed out in the next claim. */
static void test_claim_cursor(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_cursor", false);
    dbt_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, context, queue, script) VALUES (1, 'c', CURDATE(), "
                 "CURDATE(), '00:00:00', '23:59:59', 2, 'c', '8000', '')");
    dbt_exec(my, "INSERT INTO campaign_lists (id, id_campaign, name, upload, date_entered, status) "
                 "VALUES (1, 1, 'a', '', NOW(), 1)");
    dbt_exec(my, "INSERT INTO calls (id, id_list, phone) SELECT seq, 1, CONCAT('5', seq) FROM "
                 "seq_1_to_300");
    dbt_exec(my, "UPDATE calls SET retries = 1, status = 'NoAnswer' WHERE id > 290"); /* level 1 */
    db_claim_cursor_t cur;
    memset(&cur, 0, sizeof(cur));
    db_claimed_call_t out[100];
    int n = 0;
    db_claim_req_t req = {.id_campaign = 1, .n = 100, .owner = "cur", .max_retries = 2,
                          .mark_placing = true, .cursor = &cur};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 100);
    assert_int_equal(out[0].id, 1);
    assert_int_equal(out[99].id, 100);
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 100);
    assert_int_equal(out[0].id, 101);
    /* 50 comes back (released, pending again) behind the cursor */
    dbt_exec(my, "UPDATE calls SET ccd_claim_owner = NULL, status = NULL, retries = 0 WHERE id = 50");
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 100);
    /* level 0 after the cursor, then (wrapping) the released one, then level 1; handed out
     * in Issabel's order (retries, id) */
    assert_int_equal(out[0].id, 50);
    assert_int_equal(out[1].id, 201);
    assert_int_equal(out[90].id, 290);
    assert_int_equal(out[91].id, 291);
    assert_int_equal(out[99].id, 299);
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 300);
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    /* everything handed out exactly once */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = 'cur'"), 300);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* ------------------------------------------------ concurrency */

enum { CONC_NUMBERS = 3000, CONC_BATCH = 25 };

typedef struct selector {
    conf_database_t cfg;
    const char *owner;
    bool use_cursor;
    uint32_t *ids;
    int n;
    int err;
} selector_t;

static void *selector_main(void *arg)
{
    selector_t *s = arg;
    mysql_thread_init();
    MYSQL *my = NULL;
    char err[CCD_ERR_LEN];
    if (db__connect(&s->cfg, true, &my, err, sizeof(err)) != 0) {
        s->err = 1;
        mysql_thread_end();
        return NULL;
    }
    db_claimed_call_t out[CONC_BATCH];
    db_claim_cursor_t cur;
    memset(&cur, 0, sizeof(cur));
    db_claim_req_t req = {.id_campaign = 1, .n = CONC_BATCH, .owner = s->owner, .max_retries = 1,
                          .mark_placing = true, .log_progress = true,
                          .cursor = s->use_cursor ? &cur : NULL};
    int empty = 0;
    while (empty < 3) {
        int n = 0;
        if (db_claim_numbers(DBT_CONN(my), &req, out, CONC_BATCH, &n) != 0) {
            s->err++;
            if (s->err > 100)
                break;
            continue;
        }
        if (n == 0) {
            empty++;
            continue;
        }
        empty = 0;
        for (int i = 0; i < n && s->n < CONC_NUMBERS; i++)
            s->ids[s->n++] = out[i].id;
    }
    mysql_close(my);
    mysql_thread_end();
    return NULL;
}

static void test_claim_concurrent(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_conc", false);
    dbt_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, context, queue, script) VALUES (1, 'c', CURDATE(), "
                 "CURDATE(), '00:00:00', '23:59:59', 1, 'c', '8000', '')");
    dbt_exec(my, "INSERT INTO campaign_lists (id, id_campaign, name, upload, date_entered, status) "
                 "VALUES (1, 1, 'a', '', NOW(), 1), (2, 1, 'b', '', NOW(), 1)");
    /* two lists, unique phones */
    dbt_exec(my, "INSERT INTO calls (id, id_list, phone) SELECT seq, 1 + (seq % 2), "
                 "CONCAT('5', seq) FROM seq_1_to_3000");
    selector_t s[2];
    const char *owners[2] = {"engineOne", "engineTwo"};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&s[i], 0, sizeof(s[i]));
        s[i].cfg = cfg;
        s[i].owner = owners[i];
        s[i].use_cursor = i == 0; /* one with a cursor, one without */
        s[i].ids = calloc(CONC_NUMBERS, sizeof(uint32_t));
        assert_non_null(s[i].ids);
        assert_int_equal(pthread_create(&th[i], NULL, selector_main, &s[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        if (s[i].err)
            fail_msg("selector %d had %d failed claims", i, s[i].err);
    uint8_t *seen = calloc(CONC_NUMBERS + 1, 1);
    assert_non_null(seen);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < s[i].n; j++) {
            uint32_t id = s[i].ids[j];
            assert_true(id >= 1 && id <= CONC_NUMBERS);
            if (seen[id])
                fail_msg("number %u handed out twice", id);
            seen[id] = 1;
        }
    assert_int_equal(s[0].n + s[1].n, CONC_NUMBERS);
    /* both took part (not a property of correctness, but shows real concurrency) */
    print_message("selector one: %d numbers, selector two: %d numbers\n", s[0].n, s[1].n);
    /* the database agrees: each row claimed once, by the selector that got it */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE retries = 1 AND status = 'Placing'"),
                     CONC_NUMBERS);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log"), CONC_NUMBERS);
    char q[256];
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = '%s'", owners[0]);
    assert_int_equal(dbt_int(my, q), s[0].n);
    free(seen);
    free(s[0].ids);
    free(s[1].ids);
    mysql_close(my);
    dbt_drop(&cfg);
}

static void test_claim_recover(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_recover", true);
    db_claimed_call_t out[100];
    int n = 0;
    db_claim_req_t req = {.id_campaign = 1, .n = 10, .owner = "deadengine", .max_retries = 3,
                          .mark_placing = true};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 10);
    /* a live engine (fresh heartbeat) with its own claims */
    assert_int_equal(db_engine_heartbeat(DBT_CONN(my), "liveengine"), 0);
    req.owner = "liveengine";
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 10);
    /* the dead one had got as far as a talking call and a ringing one */
    dbt_exec(my, "UPDATE calls SET status = 'Success', start_time = NOW() WHERE ccd_claim_owner = "
                 "'deadengine' ORDER BY id LIMIT 1");
    dbt_exec(my, "UPDATE calls SET status = 'Ringing' WHERE ccd_claim_owner = 'deadengine' AND "
                 "status = 'Placing' ORDER BY id LIMIT 1");
    int released = -1;
    assert_int_equal(db_claims_recover(DBT_CONN(my), 60, &released), 0);
    assert_int_equal(released, 10);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = 'deadengine'"), 0);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = 'liveengine'"), 10);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE status = 'Failure' AND "
                                 "failure_cause_txt = 'ccd-recovered'"),
                     9);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE status = 'Success' AND "
                                 "end_time IS NOT NULL"),
                     1);
    /* recovered numbers are dialable again (retries 1 < 3) */
    req.owner = "newengine";
    req.n = 100;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 43 - 20 + 9);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* The dialer's options: the claim's own clock (windows and back-off at a given time), the
 * abandoned-redial block, "same agent" callbacks, what is left of a campaign, and the
 * campaign's Asterisk server (migration 3). */
static void test_claim_dialer_options(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_dl", true);
    db_claimed_call_t out[100];
    int n = -1;
    /* Only two numbers: 5001 (id 1) and the windowed one (id 44); the rest are done. */
    dbt_exec(my, "UPDATE calls SET status = 'Success', retries = 1 WHERE id NOT IN (1, 44)");
    dbt_exec(my, "UPDATE calls SET date_init = CURDATE() + INTERVAL 1 DAY, date_end = CURDATE() "
                 "+ INTERVAL 1 DAY, time_init = '10:00:00', time_end = '11:00:00' WHERE id = 44");
    long long tomorrow_1030 = dbt_int(my, "SELECT UNIX_TIMESTAMP(CONCAT(CURDATE() + INTERVAL 1 DAY, "
                                          "' 10:30:00'))");
    db_claim_req_t req = {.id_campaign = 1, .n = 100, .owner = "ownerD", .max_retries = 3,
                          .mark_placing = true};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1); /* the windowed one is for tomorrow */
    assert_int_equal(out[0].id, 1);
    uint64_t left = 0;
    assert_int_equal(db_campaign_remaining(DBT_CONN(my), 1, 3, &left), 0);
    assert_int_equal(left, 2); /* 1 in flight (claimed), 44 later */
    /* At the claim's own time (tomorrow 10:30) its window is open. */
    req.now = (time_t)tomorrow_1030;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 44);
    /* Abandoned an hour ago with a back-off passed: blocked for 72 h, not for 30 min. */
    dbt_exec(my, "UPDATE calls SET status = 'Abandoned', ccd_claim_owner = NULL, end_time = NOW() - "
                 "INTERVAL 1 HOUR, ccd_next_attempt = NULL WHERE id = 1");
    req.now = 0;
    req.abandoned_block_s = 72 * 3600;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    req.now = time(NULL) + 72 * 3600; /* three days later */
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 1);
    req.abandoned_block_s = -1;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), CCD_EINVAL);
    req.abandoned_block_s = 0;
    req.now = 0;
    /* A callback for Agent/9001 due now: listed as due, and only claimed for that agent. */
    dbt_exec(my, "UPDATE calls SET status = NULL, retries = 0, ccd_claim_owner = NULL, agent = "
                 "'Agent/9001', date_init = CURDATE() - INTERVAL 1 DAY, date_end = CURDATE() + "
                 "INTERVAL 1 DAY, time_init = '00:00:00', time_end = '23:59:59' WHERE id = 2");
    db_agent_name_t *due = NULL;
    size_t ndue = 0;
    const db_campaign_t camp1 = {.id = 1, .retries = 3, .daytime_init = "00:00:00",
                                 .daytime_end = "23:59:59"};
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, 0, 0, &due, &ndue), 0);
    assert_int_equal(ndue, 1);
    assert_string_equal(due[0].name, "Agent/9001");
    free(due);
    /* Not due while the claim would not hand it out: in its back-off, or within the block
     * after an abandoned attempt (then due again once that is over). */
    dbt_exec(my, "UPDATE calls SET ccd_next_attempt = NOW() + INTERVAL 1 HOUR WHERE id = 2");
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, 0, 0, &due, &ndue), 0);
    assert_int_equal(ndue, 0);
    free(due);
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, 0, time(NULL) + 7200, &due, &ndue), 0);
    assert_int_equal(ndue, 1);
    free(due);
    dbt_exec(my, "UPDATE calls SET ccd_next_attempt = NULL, status = 'Abandoned', end_time = "
                 "NOW() - INTERVAL 1 HOUR WHERE id = 2");
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, 72 * 3600, 0, &due, &ndue), 0);
    assert_int_equal(ndue, 0);
    free(due);
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, 0, 0, &due, &ndue), 0);
    assert_int_equal(ndue, 1);
    free(due);
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, -1, 0, &due, &ndue), CCD_EINVAL);
    dbt_exec(my, "UPDATE calls SET status = NULL, end_time = NULL WHERE id = 2");
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0); /* not a campaign number */
    req.agent = "Agent/9000";
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 0);
    req.agent = "Agent/9001";
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 2);
    assert_string_equal(out[0].agent, "Agent/9001");
    assert_int_equal(db_callbacks_due(DBT_CONN(my), &camp1, 0, 0, &due, &ndue), 0);
    assert_int_equal(ndue, 0); /* claimed now */
    free(due);
    /* A claim whose answer was lost: its rows (claimed since the server's time before it, still
     * Placing) are released, except the ones the dialer placed; other owners' rows and rows
     * claimed before are untouched. */
    dbt_exec(my, "UPDATE calls SET status = 'Success', ccd_claim_owner = NULL WHERE id IN (1, 2, 44)");
    dbt_exec(my, "UPDATE calls SET status = NULL, retries = 0, ccd_claim_owner = NULL, agent = NULL, "
                 "date_init = NULL, date_end = NULL, time_init = NULL, time_end = NULL "
                 "WHERE id BETWEEN 3 AND 8");
    dbt_exec(my, "UPDATE calls SET status = 'Placing', ccd_claim_owner = 'ownerD', ccd_claim_time = "
                 "NOW() - INTERVAL 1 HOUR WHERE id = 9"); /* an older claim of ours */
    time_t t0 = 0;
    assert_int_equal(db_server_now(DBT_CONN(my), &t0), 0);
    assert_true(t0 > 0);
    req.agent = NULL;
    req.n = 4;
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 4); /* 3..6 */
    db_claim_req_t other = req;
    other.owner = "ownerE";
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &other, out, 100, &n), 0);
    assert_int_equal(n, 2); /* 7, 8: another engine's */
    uint32_t keep[] = {3, 4};
    int rel = -1;
    assert_int_equal(db_claims_release_orphans(DBT_CONN(my), 1, "ownerD", t0, keep, 2, &rel), 0);
    assert_int_equal(rel, 2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE id IN (5, 6) AND status = "
                                 "'Failure' AND failure_cause_txt = 'ccd-not-placed' AND "
                                 "ccd_claim_owner IS NULL"),
                     2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE id IN (3, 4) AND status = "
                                 "'Placing' AND ccd_claim_owner = 'ownerD'"),
                     2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE id IN (7, 8) AND "
                                 "ccd_claim_owner = 'ownerE'"),
                     2);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE id = 9 AND status = 'Placing'"),
                     1);
    /* Released rows are dialable again (retries left). */
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 100, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(db_claims_release_orphans(DBT_CONN(my), 1, "bad owner", t0, NULL, 0, &rel),
                     CCD_EINVAL);
    /* Everything finished: nothing left. */
    dbt_exec(my, "UPDATE calls SET status = 'Success', ccd_claim_owner = NULL");
    assert_int_equal(db_campaign_remaining(DBT_CONN(my), 1, 3, &left), 0);
    assert_int_equal(left, 0);
    /* Migration 3: the campaign's server and the preview mode. */
    dbt_exec(my, "UPDATE ccd_campaign_pacing SET ami_server = 'pbx2', mode = 'preview' WHERE "
                 "id_campaign = 1");
    db_campaign_t *camps = NULL;
    size_t nc = 0;
    assert_int_equal(db_load_active_campaigns(DBT_CONN(my), &camps, &nc), 0);
    assert_true(nc >= 1);
    assert_int_equal(camps[0].id, 1);
    assert_string_equal(camps[0].ami_server, "pbx2");
    assert_int_equal(camps[0].mode, DB_PACING_PREVIEW);
    free(camps);
    /* At a time outside the campaign's dates nothing is active. */
    assert_int_equal(db_load_active_campaigns_at(DBT_CONN(my), 86400, &camps, &nc), 0);
    assert_int_equal(nc, 0);
    free(camps);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* The abandon history a restarted dialer seeds its pacer with: what counts as answered and
 * as abandoned, the 30-minute buckets of the answer time over 30 days, the lifetime. */
static void test_abandon_history(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "claim_hist", false);
    dbt_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, context, queue, script) VALUES (1, 'c', CURDATE(), "
                 "CURDATE(), '00:00:00', '23:59:59', 1, 'c', '8000', ''), (2, 'd', CURDATE(), "
                 "CURDATE(), '00:00:00', '23:59:59', 1, 'c', '8000', '')");
    dbt_exec(my, "INSERT INTO campaign_lists (id, id_campaign, name, upload, date_entered, status) "
                 "VALUES (1, 1, 'a', '', NOW(), 1), (2, 1, 'b', '', NOW(), 1), "
                 "(3, 2, 'x', '', NOW(), 1)");
    const long long now = 1790001100; /* no row on a bucket's edge */
    char q[1024];
    snprintf(q, sizeof(q),
             "INSERT INTO calls (id, id_list, phone, status, datetime_entry_queue, fecha_llamada, "
             "start_time, duration_wait) VALUES "
             /* taken within the grace: answered */
             "(1, 1, '1', 'Success', FROM_UNIXTIME(%lld), NULL, FROM_UNIXTIME(%lld), 1), "
             /* taken 5 s after the answer: abandoned */
             "(2, 2, '2', 'Success', FROM_UNIXTIME(%lld), NULL, FROM_UNIXTIME(%lld), 5), "
             /* hung up in the queue */
             "(3, 1, '3', 'Abandoned', FROM_UNIXTIME(%lld), NULL, NULL, 9), "
             /* hung up before the queue: counted at the answer */
             "(4, 1, '4', 'Abandoned', NULL, FROM_UNIXTIME(%lld), NULL, NULL), "
             "(5, 1, '5', 'ShortCall', FROM_UNIXTIME(%lld), NULL, FROM_UNIXTIME(%lld), 0), "
             /* older than 30 days: lifetime only */
             "(6, 1, '6', 'Abandoned', FROM_UNIXTIME(%lld), NULL, NULL, 4), "
             /* never answered, and another campaign's: not counted */
             "(7, 1, '7', 'NoAnswer', NULL, FROM_UNIXTIME(%lld), NULL, NULL), "
             "(8, 3, '8', 'Abandoned', FROM_UNIXTIME(%lld), NULL, NULL, 9)",
             now - 3600, now - 3599, now - 3500, now - 3495, now - 3000, now - 7200,
             now - 10 * 86400, now - 10 * 86400 + 1, now - 40 * 86400, now - 600, now - 600);
    dbt_exec(my, q);
    db_abandon_history_t h;
    assert_int_equal(db_campaign_abandon_history(DBT_CONN(my), 1, (time_t)now, 2, &h), 0);
    assert_int_equal(h.life_answered, 6);
    assert_int_equal(h.life_abandoned, 4);
    assert_int_equal(h.nb, 3);
    assert_int_equal(h.b[0].start_s, (now - 10 * 86400) / 1800 * 1800);
    assert_int_equal(h.b[0].answered, 1);
    assert_int_equal(h.b[0].abandoned, 0);
    assert_int_equal(h.b[1].start_s, (now - 7200) / 1800 * 1800);
    assert_int_equal(h.b[1].answered, 1);
    assert_int_equal(h.b[1].abandoned, 1);
    assert_int_equal(h.b[2].start_s, (now - 3600) / 1800 * 1800);
    assert_int_equal(h.b[2].answered, 3);
    assert_int_equal(h.b[2].abandoned, 2);
    free(h.b);
    /* A campaign without calls: nothing, and nothing allocated. */
    assert_int_equal(db_campaign_abandon_history(DBT_CONN(my), 9, (time_t)now, 2, &h), 0);
    assert_int_equal(h.life_answered, 0);
    assert_int_equal(h.nb, 0);
    assert_null(h.b);
    mysql_close(my);
    dbt_drop(&cfg);
}

int main(void)
{
    mysql_library_init(0, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_rules),
        cmocka_unit_test(test_claim_time_zone),
        cmocka_unit_test(test_claim_cursor),
        cmocka_unit_test(test_claim_concurrent),
        cmocka_unit_test(test_claim_recover),
        cmocka_unit_test(test_claim_dialer_options),
        cmocka_unit_test(test_abandon_history),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return r;
}
