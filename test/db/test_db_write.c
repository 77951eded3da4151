/*
 * Integration tests for the writer: every write kind lands as Issabel's
 * screens expect; a write the server refuses is isolated (the rest of its
 * batch commits); writes continue across a server crash (SIGKILL) and a clean
 * restart with every row present exactly once; a full queue answers
 * CCD_EFULL, raises backpressure, and nothing accepted is lost.  The restart
 * and backpressure tests run their own private mariadbd so the shared test
 * server is never stopped under other tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "db/db.h"
#include "test/common/ccd_test.h"
#include "test/db/dbtest.h"

static void submit_ok(db_t *db, db_write_t *w)
{
    assert_non_null(w);
    assert_int_equal(db_write_submit(db, w), 0);
}

static void test_write_kinds(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "write_kinds", true);
    db_t *db = dbt_db_start(&cfg);
    time_t t0 = time(NULL) - 100;

    /* claim call 1 as this engine, then walk it through a call */
    db_claimed_call_t cl[1];
    int n = 0;
    db_claim_req_t req = {.id_campaign = 1, .n = 1, .owner = db_instance_id(db), .max_retries = 3,
                          .mark_placing = true, .log_progress = true};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, cl, 1, &n), 0);
    assert_int_equal(n, 1);
    uint32_t id = cl[0].id; /* 44, the windowed one */

    db_write_t *w = db_write_new(DB_W_CALL_UPDATE);
    w->shard = id;
    w->u.call.id_call = id;
    w->u.call.set = DB_CALL_F_STATUS | DB_CALL_F_UNIQUEID | DB_CALL_F_FECHA_LLAMADA;
    snprintf(w->u.call.status, sizeof(w->u.call.status), "Ringing");
    snprintf(w->u.call.uniqueid, sizeof(w->u.call.uniqueid), "1700000000.42");
    w->u.call.fecha_llamada = t0;
    submit_ok(db, w);
    w = db_write_new(DB_W_CALL_UPDATE);
    w->shard = id;
    w->u.call.id_call = id;
    w->u.call.set = DB_CALL_F_STATUS | DB_CALL_F_START_TIME | DB_CALL_F_ID_AGENT |
                    DB_CALL_F_DURATION_WAIT | DB_CALL_F_ENTRY_QUEUE | DB_CALL_F_TRUNK;
    snprintf(w->u.call.status, sizeof(w->u.call.status), "Success");
    w->u.call.start_time = t0 + 10;
    w->u.call.datetime_entry_queue = t0 + 5;
    w->u.call.id_agent = 1;
    w->u.call.duration_wait = 5;
    snprintf(w->u.call.trunk, sizeof(w->u.call.trunk), "PJSIP/trunk1");
    submit_ok(db, w);
    w = db_write_new(DB_W_CALL_UPDATE);
    w->shard = id;
    w->u.call.id_call = id;
    w->u.call.set = DB_CALL_F_END_TIME | DB_CALL_F_DURATION | DB_CALL_F_RELEASE |
                    DB_CALL_F_NEXT_ATTEMPT;
    w->u.call.end_time = t0 + 52;
    w->u.call.duration = 42;
    w->u.call.next_attempt_delay_s = 3600;
    submit_ok(db, w);
    /* a failed call elsewhere: cause + text, status, release */
    w = db_write_new(DB_W_CALL_UPDATE);
    w->u.call.id_call = 36;
    w->u.call.set = DB_CALL_F_STATUS | DB_CALL_F_FAILURE_CAUSE;
    snprintf(w->u.call.status, sizeof(w->u.call.status), "Failure");
    w->u.call.failure_cause = 17;
    snprintf(w->u.call.failure_cause_txt, sizeof(w->u.call.failure_cause_txt), "User busy");
    submit_ok(db, w);

    const char *st[] = {"Dialing", "Ringing", "OnQueue", "Success", "Hangup"};
    for (int i = 0; i < 5; i++) {
        w = db_write_new(DB_W_PROGRESS_LOG);
        w->u.progress.datetime_entry = t0 + i;
        w->u.progress.id_campaign_outgoing = 1;
        w->u.progress.id_call_outgoing = id;
        snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "%s", st[i]);
        w->u.progress.retry = 1;
        if (i >= 3)
            w->u.progress.id_agent = 1;
        submit_ok(db, w);
    }
    /* agent 2: session, a break opened and closed, another break opened */
    w = db_write_new(DB_W_AUDIT_OPEN);
    w->u.audit.id_agent = 2;
    w->u.audit.when = t0;
    submit_ok(db, w);
    w = db_write_new(DB_W_AUDIT_OPEN);
    w->u.audit.id_agent = 2;
    w->u.audit.id_break = 2;
    w->u.audit.when = t0 + 10;
    submit_ok(db, w);
    w = db_write_new(DB_W_AUDIT_CLOSE);
    w->u.audit.id_agent = 2;
    w->u.audit.id_break = 2;
    w->u.audit.when = t0 + 70;
    submit_ok(db, w);
    w = db_write_new(DB_W_AUDIT_OPEN);
    w->u.audit.id_agent = 2;
    w->u.audit.id_break = 3;
    w->u.audit.when = t0 + 80;
    submit_ok(db, w);
    /* current_calls: add + delete for call id, add for call 2 */
    w = db_write_new(DB_W_CURRENT_CALL_ADD);
    w->u.current.id_call = id;
    snprintf(w->u.current.queue, sizeof(w->u.current.queue), "8000");
    snprintf(w->u.current.agentnum, sizeof(w->u.current.agentnum), "9000");
    snprintf(w->u.current.event, sizeof(w->u.current.event), "Link");
    snprintf(w->u.current.channel, sizeof(w->u.current.channel), "Agent/9000");
    submit_ok(db, w);
    w = db_write_new(DB_W_CURRENT_CALL_DEL);
    w->u.current.id_call = id;
    submit_ok(db, w);
    w = db_write_new(DB_W_CURRENT_CALL_ADD);
    w->u.current.id_call = 2;
    snprintf(w->u.current.queue, sizeof(w->u.current.queue), "8000");
    snprintf(w->u.current.agentnum, sizeof(w->u.current.agentnum), "9001");
    snprintf(w->u.current.event, sizeof(w->u.current.event), "Link");
    snprintf(w->u.current.channel_client, sizeof(w->u.current.channel_client), "Local/5002@x");
    submit_ok(db, w);
    /* incoming: insert then update by uniqueid */
    w = db_write_new(DB_W_CALL_ENTRY_ADD);
    snprintf(w->u.entry.uniqueid, sizeof(w->u.entry.uniqueid), "in.1");
    w->u.entry.id_queue_call_entry = 1;
    w->u.entry.id_campaign = 1;
    snprintf(w->u.entry.callerid, sizeof(w->u.entry.callerid), "5300");
    snprintf(w->u.entry.status, sizeof(w->u.entry.status), "en-cola");
    snprintf(w->u.entry.trunk, sizeof(w->u.entry.trunk), "PJSIP/in");
    w->u.entry.datetime_entry_queue = t0;
    submit_ok(db, w);
    w = db_write_new(DB_W_CALL_ENTRY_UPDATE);
    snprintf(w->u.entry.uniqueid, sizeof(w->u.entry.uniqueid), "in.1");
    w->u.entry.set = DB_CALL_F_STATUS | DB_CALL_F_ID_AGENT | DB_CALL_F_START_TIME |
                     DB_CALL_F_DURATION_WAIT;
    snprintf(w->u.entry.status, sizeof(w->u.entry.status), "activa");
    w->u.entry.id_agent = 3;
    w->u.entry.datetime_init = t0 + 7;
    w->u.entry.duration_wait = 7;
    submit_ok(db, w);
    w = db_write_new(DB_W_RECORDING_ADD);
    w->u.recording.id_call_outgoing = id;
    snprintf(w->u.recording.uniqueid, sizeof(w->u.recording.uniqueid), "1700000000.42");
    snprintf(w->u.recording.channel, sizeof(w->u.recording.channel), "Local/5100@customers-1;1");
    snprintf(w->u.recording.recordingfile, sizeof(w->u.recording.recordingfile), "2026/out.wav");
    submit_ok(db, w);
    /* completed calls: campaign 1 from nothing, 50 + 60 + 70 s; campaign 2 from the figures
     * its row already has (4 calls of 30 s, as Issabel left them), one of 80 s */
    dbt_exec(my, "UPDATE campaign SET num_completadas = 4, promedio = 30, desviacion = 0 WHERE id = 2");
    const uint32_t done[][2] = {{1, 50}, {2, 80}, {1, 60}, {1, 70}};
    for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++) {
        w = db_write_new(DB_W_CAMPAIGN_COMPLETED);
        w->shard = done[i][0];
        w->u.completed.id_campaign = done[i][0];
        w->u.completed.duration_s = done[i][1];
        submit_ok(db, w);
    }
    w = db_write_new(DB_W_CAMPAIGN_UPDATE);
    w->u.campaign.id_campaign = 2;
    w->u.campaign.estatus = 'T';
    submit_ok(db, w);
    /* the pacer's state: inserted, then replaced by the later writes of the same campaign; the
     * estimators' line stays when a write brings none */
    for (int i = 0; i < 3; i++) {
        w = db_write_new(DB_W_PACER_STATE);
        w->shard = 1;
        w->u.pacer.id_campaign = 1;
        w->u.pacer.allowance_ppm = i ? 84250 : 10000;
        w->u.pacer.abandon_target_ppm = i ? 30000 : 50000;
        w->u.pacer.updated = t0 - (i == 2 ? 600 : 7200);
        if (i == 0)
            w->u.pacer.estimates = strdup("an old line");
        if (i == 1)
            w->u.pacer.estimates = strdup("e1 60 o 1 6:1:1 t 1 60000 w 1 10000 c 1 70000 '\\");
        submit_ok(db, w);
    }

    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);
    db_stats_t s;
    db_get_stats(db, &s);
    assert_int_equal(s.rows_committed, 27);
    assert_int_equal(s.rows_rejected, 0);
    assert_true(s.batches_committed >= 1);
    assert_int_equal(s.write_queue_depth, 0);

    char q[512];
    snprintf(q, sizeof(q),
             "SELECT status, uniqueid, fecha_llamada IS NOT NULL, start_time IS NOT NULL, "
             "TIMESTAMPDIFF(SECOND, start_time, end_time), duration, id_agent, duration_wait, trunk, "
             "ccd_claim_owner IS NULL, ccd_next_attempt > NOW() + INTERVAL 3000 SECOND, retries "
             "FROM calls WHERE id = %u",
             id);
    dbt_expect(my, q,
               "Success|1700000000.42|1|1|42|42|1|5|PJSIP/trunk1|1|1|1\n");
    dbt_expect(my, "SELECT status, failure_cause, failure_cause_txt FROM calls WHERE id = 36",
               "Failure|17|User busy\n");
    snprintf(q, sizeof(q),
             "SELECT new_status, retry, COALESCE(id_agent, 0) FROM call_progress_log WHERE "
             "id_call_outgoing = %u AND new_status <> 'Placing' ORDER BY id",
             id);
    dbt_expect(my, q,
               "Dialing|1|0\nRinging|1|0\nOnQueue|1|0\nSuccess|1|1\nHangup|1|1\n");
    dbt_expect(my, "SELECT COALESCE(id_break, 0), datetime_end IS NULL, duration FROM audit "
               "WHERE id_agent = 2 ORDER BY id",
               "0|1|NULL\n2|0|00:01:00\n3|1|NULL\n");
    dbt_expect(my, "SELECT id_call, agentnum, Channel, ChannelClient FROM current_calls",
               "2|9001||Local/5002@x\n");
    dbt_expect(my, "SELECT status, id_agent, duration_wait, datetime_init IS NOT NULL, "
               "callerid, trunk FROM call_entry WHERE uniqueid = 'in.1'",
               "activa|3|7|1|5300|PJSIP/in\n");
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_recording WHERE recordingfile = "
                                 "'2026/out.wav'"),
                     1);
    dbt_expect(my, "SELECT id, estatus, num_completadas, promedio, desviacion FROM campaign ORDER BY id",
               "1|A|3|60|8\n2|T|5|40|20\n");
    dbt_expect(my, "SELECT id_campaign, n, sum_s, sumsq_s FROM ccd_campaign_stats ORDER BY 1",
               "1|3|180|11000\n2|5|200|10000\n");
    dbt_expect(my, "SELECT id_campaign, allowance_ppm, abandon_target_ppm FROM ccd_pacer_state",
               "1|84250|30000\n");
    db_pacer_state_t ps;
    assert_int_equal(db_campaign_pacer_state(DBT_CONN(my), 1, t0 - 540, &ps), 0);
    assert_true(ps.found);
    assert_float_equal(ps.allowance, 0.08425, 1e-12);
    assert_float_equal(ps.abandon_target, 0.03, 1e-12);
    assert_int_equal(ps.age_s, 60);
    assert_string_equal(ps.estimates, "e1 60 o 1 6:1:1 t 1 60000 w 1 10000 c 1 70000 '\\");
    free(ps.estimates);
    assert_int_equal(db_campaign_pacer_state(DBT_CONN(my), 1, 0, &ps), 0);
    assert_true(ps.age_s >= 690 && ps.age_s < 690 + ccd_test_timeout_ms(30000) / 1000);
    free(ps.estimates);
    assert_int_equal(db_campaign_pacer_state(DBT_CONN(my), 2, 0, &ps), 0);
    assert_false(ps.found);
    assert_null(ps.estimates);
    /* a row without a line reads as none; a long one whole (the pacer judges it, not this) */
    dbt_exec(my, "UPDATE ccd_pacer_state SET estimates = NULL");
    assert_int_equal(db_campaign_pacer_state(DBT_CONN(my), 1, 0, &ps), 0);
    assert_true(ps.found);
    assert_null(ps.estimates);
    dbt_exec(my, "UPDATE ccd_pacer_state SET estimates = REPEAT('1', 20000)");
    assert_int_equal(db_campaign_pacer_state(DBT_CONN(my), 1, 0, &ps), 0);
    assert_non_null(ps.estimates);
    assert_int_equal(strlen(ps.estimates), 20000);
    free(ps.estimates);
    /* the engine registered itself */
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM ccd_engine WHERE instance_id = '%s'",
             db_instance_id(db));
    assert_int_equal(dbt_int(my, q), 1);
    db_stop(db, 5000);
    db_free(db);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* Two engines completing calls of one campaign at the same time: every call counts once in
 * the figures (each engine adds to the sums; neither writes figures of its own over the other's).
 * In turns (each round's two writes committed together) the two writers' transactions meet on
 * the campaign's rows every time, and none deadlocks: no batch is retried. */
static void test_campaign_stats_two_engines(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "write_stats2", true);
    db_t *a = dbt_db_start(&cfg), *b = dbt_db_start(&cfg);
    enum { PER = 300, INTERLEAVED = 100 };
    unsigned long long sum = 0, sumsq = 0;
    for (int i = 0; i < PER; i++) {
        for (int e = 0; e < 2; e++) {
            uint32_t d = (uint32_t)(30 + (i * 7 + e * 13) % 120);
            db_write_t *w = db_write_new(DB_W_CAMPAIGN_COMPLETED);
            w->shard = 1;
            w->u.completed.id_campaign = 1;
            w->u.completed.duration_s = d;
            submit_ok(e ? b : a, w);
            sum += d;
            sumsq += (unsigned long long)d * d;
        }
        if (i < INTERLEAVED) {
            assert_int_equal(db_write_flush(a, ccd_test_timeout_ms(30000)), 0);
            assert_int_equal(db_write_flush(b, ccd_test_timeout_ms(30000)), 0);
        }
    }
    assert_int_equal(db_write_flush(a, ccd_test_timeout_ms(30000)), 0);
    assert_int_equal(db_write_flush(b, ccd_test_timeout_ms(30000)), 0);
    db_stats_t sa, sb;
    db_get_stats(a, &sa);
    db_get_stats(b, &sb);
    assert_true(sa.batches_committed >= INTERLEAVED && sb.batches_committed >= INTERLEAVED);
    assert_int_equal(sa.retries + sb.retries, 0);
    double n = 2 * PER, mean = (double)sum / n, sd = sqrt((double)sumsq / n - mean * mean);
    char want[128];
    snprintf(want, sizeof(want), "1|%d|%llu|%llu\n", 2 * PER, sum, sumsq);
    dbt_expect(my, "SELECT id_campaign, n, sum_s, sumsq_s FROM ccd_campaign_stats", want);
    snprintf(want, sizeof(want), "%d|%ld|%ld\n", 2 * PER, lround(mean), lround(sd));
    dbt_expect(my, "SELECT num_completadas, promedio, desviacion FROM campaign WHERE id = 1", want);
    db_stop(a, 5000);
    db_stop(b, 5000);
    db_free(a);
    db_free(b);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* Completed calls queued behind each other are applied per campaign, not per call: with the
 * writer held back (the batch marker's table locked) 300 calls of two campaigns gather in its
 * queue and go in one batch for three statements per campaign (row lock, sums, figures) and
 * the marker, where one set per call would be 900; the figures are exact either way. */
static void test_campaign_stats_per_batch(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "write_stats_batch", true);
    db_t *db = dbt_db_start(&cfg);
    MYSQL *locker = dbt_connect(&cfg, true);
    dbt_exec(locker, "LOCK TABLES ccd_write_batch WRITE");
    enum { N = 300 };
    unsigned long long sum[3] = {0}, sumsq[3] = {0};
    for (int i = 0; i < N; i++) {
        uint32_t camp = 1 + (uint32_t)(i % 2), d = (uint32_t)(20 + (i * 11) % 200);
        db_write_t *w = db_write_new(DB_W_CAMPAIGN_COMPLETED);
        w->shard = 1;
        w->u.completed.id_campaign = camp;
        w->u.completed.duration_s = d;
        submit_ok(db, w);
        sum[camp] += d;
        sumsq[camp] += (unsigned long long)d * d;
    }
    /* The writer took its first batch (whatever was queued when it woke) and waits on the
     * lock; everything after is queued behind it and goes in the next batch. */
    db_stats_t st;
    CCD_WAIT((db_get_stats(db, &st), st.write_queue_depth < N));
    dbt_exec(locker, "UNLOCK TABLES");
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);
    db_get_stats(db, &st);
    assert_int_equal(st.rows_committed, N);
    assert_int_equal(st.rows_rejected, 0);
    assert_true(st.batches_committed <= 2);
    /* marker + 3 per campaign, per batch */
    assert_true(st.statements <= st.batches_committed * (1 + 3 * 2));
    for (uint32_t c = 1; c <= 2; c++) {
        char q[160], want[128];
        snprintf(q, sizeof(q), "SELECT n, sum_s, sumsq_s FROM ccd_campaign_stats WHERE "
                               "id_campaign = %u", c);
        snprintf(want, sizeof(want), "%d|%llu|%llu\n", N / 2, sum[c], sumsq[c]);
        dbt_expect(my, q, want);
        double n = N / 2, mean = (double)sum[c] / n, sd = sqrt((double)sumsq[c] / n - mean * mean);
        snprintf(q, sizeof(q), "SELECT num_completadas, promedio, desviacion FROM campaign WHERE "
                               "id = %u", c);
        snprintf(want, sizeof(want), "%d|%ld|%ld\n", N / 2, lround(mean), lround(sd));
        dbt_expect(my, q, want);
    }
    mysql_close(locker);
    db_stop(db, 5000);
    db_free(db);
    mysql_close(my);
    dbt_drop(&cfg);
}

static db_write_t *entry_add(const char *uid, const char *callerid, mq_t *reply)
{
    db_write_t *w = db_write_new(DB_W_CALL_ENTRY_ADD);
    assert_non_null(w);
    snprintf(w->u.entry.uniqueid, sizeof(w->u.entry.uniqueid), "%s", uid);
    w->u.entry.id_queue_call_entry = 1;
    w->u.entry.id_campaign = 1;
    w->u.entry.match_contact = true;
    snprintf(w->u.entry.callerid, sizeof(w->u.entry.callerid), "%s", callerid);
    snprintf(w->u.entry.status, sizeof(w->u.entry.status), "en-cola");
    snprintf(w->u.entry.trunk, sizeof(w->u.entry.trunk), "SIP/carrier");
    w->u.entry.datetime_entry_queue = time(NULL) - 60;
    w->reply = reply;
    return w;
}

static db_write_t *entry_progress(const char *uid, const char *status, uint32_t agent,
                                  int64_t duration)
{
    db_write_t *w = db_write_new(DB_W_PROGRESS_LOG_ENTRY);
    assert_non_null(w);
    snprintf(w->u.progress.uniqueid, sizeof(w->u.progress.uniqueid), "%s", uid);
    snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "%s", status);
    w->u.progress.id_agent = agent;
    w->u.progress.duration = duration;
    return w;
}

/* The incoming kinds: call_entry with the one matching contact (none when two or none
 * match) and its id in the reply; progress and current_call_entry rows resolved by
 * uniqueid in the same batch as the insert; a progress row of an unknown uniqueid
 * writes nothing and refuses nothing.  And the loader of watched queues. */
static void test_write_incoming(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "write_incoming", true);
    dbt_exec(my, "INSERT INTO contact (id, cedula_ruc, name, telefono, apellido) VALUES "
                 "(20, '1', 'A', '5400', 'A'), (21, '2', 'B', '5400', 'B')");
    db_t *db = dbt_db_start(&cfg);
    mq_t *reply = mq_new("reply", 10, 0);
    submit_ok(db, entry_add("in.a", "5300", reply));
    submit_ok(db, entry_add("in.b", "5400", NULL));
    submit_ok(db, entry_add("in.c", "5500", NULL));
    submit_ok(db, entry_progress("in.a", "OnQueue", 0, -1));
    db_write_t *w = db_write_new(DB_W_CALL_ENTRY_UPDATE);
    snprintf(w->u.entry.uniqueid, sizeof(w->u.entry.uniqueid), "in.a");
    w->u.entry.set = DB_CALL_F_STATUS | DB_CALL_F_ID_AGENT | DB_CALL_F_START_TIME |
                     DB_CALL_F_DURATION_WAIT;
    snprintf(w->u.entry.status, sizeof(w->u.entry.status), "activa");
    w->u.entry.id_agent = 1;
    w->u.entry.datetime_init = time(NULL) - 50;
    w->u.entry.duration_wait = 10;
    submit_ok(db, w);
    w = db_write_new(DB_W_CURRENT_CALL_ENTRY_ADD);
    snprintf(w->u.current_entry.uniqueid, sizeof(w->u.current_entry.uniqueid), "in.a");
    w->u.current_entry.id_agent = 1;
    snprintf(w->u.current_entry.channel_client, sizeof(w->u.current_entry.channel_client),
             "SIP/carrier-00000001");
    submit_ok(db, w);
    submit_ok(db, entry_progress("in.a", "Success", 1, -1));
    submit_ok(db, entry_progress("nobody", "OnQueue", 0, -1));
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);

    mq_msg_t *m = mq_pop(reply, ccd_test_timeout_ms(30000));
    assert_non_null(m);
    assert_int_equal(m->type, MSG_DB_WRITE_DONE);
    db_write_t *done = (db_write_t *)m;
    assert_int_equal(done->status, 0);
    uint64_t id_a = done->u.entry.new_id;
    assert_true(id_a > 0);
    m->free(m);
    char q[512];
    snprintf(q, sizeof(q), "SELECT id FROM call_entry WHERE uniqueid = 'in.a'");
    assert_int_equal(dbt_int(my, q), (long long)id_a);
    dbt_expect(my, "SELECT uniqueid, COALESCE(id_contact, 0), status, id_campaign, "
               "id_queue_call_entry, trunk FROM call_entry ORDER BY id",
               "in.a|1|activa|1|1|SIP/carrier\n"
               "in.b|0|en-cola|1|1|SIP/carrier\n"
               "in.c|0|en-cola|1|1|SIP/carrier\n");
    snprintf(q, sizeof(q),
             "SELECT id_agent, id_queue_call_entry, id_call_entry = %llu, callerid, uniqueid, "
             "ChannelClient, hold FROM current_call_entry",
             (unsigned long long)id_a);
    dbt_expect(my, q,
               "1|1|1|5300|in.a|SIP/carrier-00000001|N\n");
    snprintf(q, sizeof(q),
             "SELECT new_status, id_campaign_incoming, id_call_incoming = %llu, "
             "COALESCE(id_agent, 0), uniqueid, trunk, id_call_outgoing IS NULL "
             "FROM call_progress_log WHERE id_call_incoming IS NOT NULL ORDER BY id",
             (unsigned long long)id_a);
    dbt_expect(my, q,
               "OnQueue|1|1|0|in.a|SIP/carrier|1\nSuccess|1|1|1|in.a|SIP/carrier|1\n");
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE uniqueid = 'nobody'"),
                     0);
    /* the end: terminada, current row gone */
    w = db_write_new(DB_W_CALL_ENTRY_UPDATE);
    snprintf(w->u.entry.uniqueid, sizeof(w->u.entry.uniqueid), "in.a");
    w->u.entry.set = DB_CALL_F_STATUS | DB_CALL_F_END_TIME | DB_CALL_F_DURATION;
    snprintf(w->u.entry.status, sizeof(w->u.entry.status), "terminada");
    w->u.entry.datetime_end = time(NULL);
    w->u.entry.duration = 50;
    submit_ok(db, w);
    w = db_write_new(DB_W_CURRENT_CALL_ENTRY_DEL);
    snprintf(w->u.current_entry.uniqueid, sizeof(w->u.current_entry.uniqueid), "in.a");
    submit_ok(db, w);
    submit_ok(db, entry_progress("in.a", "Hangup", 1, 50));
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM current_call_entry"), 0);
    dbt_expect(my, "SELECT status, duration, datetime_end IS NOT NULL FROM call_entry "
               "WHERE uniqueid = 'in.a'",
               "terminada|50|1\n");
    assert_int_equal(dbt_int(my, "SELECT duration FROM call_progress_log WHERE new_status = "
                                 "'Hangup' AND uniqueid = 'in.a'"),
                     50);
    db_stats_t st;
    db_get_stats(db, &st);
    assert_int_equal(st.rows_rejected, 0);

    /* the loader: active queues, their active campaigns, the server's clock */
    dbt_exec(my, "INSERT INTO queue_call_entry (id, queue, estatus) VALUES (2, '8001', 'I'), "
                 "(3, '8002', 'A')");
    dbt_exec(my, "INSERT INTO campaign_entry (id, name, id_queue_call_entry, datetime_init, "
                 "datetime_end, daytime_init, daytime_end, estatus, script) VALUES "
                 "(2, 'off queue', 2, '2026-01-01', '2099-01-01', '08:00:00', '17:00:00', 'A', ''),"
                 "(3, 'inactive', 3, '2026-01-01', '2099-01-01', '08:00:00', '17:00:00', 'I', ''),"
                 "(4, 'night', 3, '2026-01-01', '2099-01-01', '22:00:00', '06:00:00', 'A', '')");
    db_inbound_t in;
    assert_int_equal(db_load_inbound(DBT_CONN(my), &in), 0);
    assert_int_equal(in.nqueues, 2);
    assert_string_equal(in.queues[0].queue, "8000");
    assert_int_equal(in.queues[0].id, 1);
    assert_string_equal(in.queues[1].queue, "8002");
    assert_int_equal(in.ncampaigns, 2);
    assert_int_equal(in.campaigns[0].id, 1);
    assert_int_equal(in.campaigns[1].id, 4);
    assert_int_equal(in.campaigns[1].id_queue, 3);
    assert_string_equal(in.campaigns[1].daytime_init, "22:00:00");
    assert_string_equal(in.campaigns[1].datetime_end, "2099-01-01");
    assert_int_equal(strlen(in.today), 10);
    assert_int_equal(strlen(in.now), 8);
    db_inbound_free(&in);

    mq_free(reply);
    db_stop(db, 5000);
    db_free(db);
    mysql_close(my);
    dbt_drop(&cfg);
}

static void test_write_rejected_isolated(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "write_reject", true);
    db_t *db = dbt_db_start(&cfg);
    for (uint32_t i = 1; i <= 30; i++) {
        db_write_t *w = db_write_new(DB_W_CALL_UPDATE);
        w->u.call.id_call = i;
        w->u.call.set = DB_CALL_F_STATUS;
        snprintf(w->u.call.status, sizeof(w->u.call.status), "NoAnswer");
        submit_ok(db, w);
        if (i == 15) {
            /* refers to a call that does not exist: the foreign key refuses it */
            w = db_write_new(DB_W_PROGRESS_LOG);
            w->u.progress.id_call_outgoing = 999999;
            snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "Bogus");
            submit_ok(db, w);
        }
    }
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);
    db_stats_t s;
    db_get_stats(db, &s);
    assert_int_equal(s.rows_rejected, 1);
    assert_int_equal(s.rows_committed, 30);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE status = 'NoAnswer'"), 30);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = 'Bogus'"), 0);
    /* bad arguments */
    assert_int_equal(db_write_submit(db, NULL), CCD_EINVAL);
    db_stop(db, 5000);
    db_free(db);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* The idempotency marker: a batch whose marker row already exists (what a retry finds when
 * the first attempt committed but its answer was lost) is counted done, not applied again. */
static void test_write_marker_dedup(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "write_dedup", true);
    db_t *db = dbt_db_start(&cfg);
    db_write_t *w = db_write_new(DB_W_PROGRESS_LOG);
    w->u.progress.id_call_outgoing = 1;
    snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "First");
    submit_ok(db, w);
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0); /* batch seq 1 */
    char q[256];
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM ccd_write_batch WHERE writer_id = '%s-w0' AND seq = 1",
             db_instance_id(db));
    assert_int_equal(dbt_int(my, q), 1);
    /* pretend batch 2 already committed */
    snprintf(q, sizeof(q), "INSERT INTO ccd_write_batch VALUES ('%s-w0', 2, NOW())", db_instance_id(db));
    dbt_exec(my, q);
    w = db_write_new(DB_W_PROGRESS_LOG);
    w->u.progress.id_call_outgoing = 1;
    snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "Second");
    submit_ok(db, w);
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);
    w = db_write_new(DB_W_PROGRESS_LOG);
    w->u.progress.id_call_outgoing = 1;
    snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "Third");
    submit_ok(db, w);
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(30000)), 0);
    db_stats_t s;
    db_get_stats(db, &s);
    assert_int_equal(s.batches_deduplicated, 1);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = 'First'"), 1);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = 'Second'"), 0);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = 'Third'"), 1);
    db_stop(db, 5000);
    db_free(db);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* ------------------------------------------------ private server tests */

typedef struct producer {
    db_t *db;
    int total;
    atomic_int submitted;
    atomic_int efull;
} producer_t;

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < p->total; i++) {
        db_write_t *w = db_write_new(DB_W_PROGRESS_LOG);
        if (!w)
            break;
        w->u.progress.id_campaign_outgoing = 1;
        w->u.progress.id_call_outgoing = (uint32_t)(1 + i % 44);
        snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "Test");
        snprintf(w->u.progress.uniqueid, sizeof(w->u.progress.uniqueid), "r-%d", i);
        w->u.progress.retry = i;
        /* a producer that keeps ownership on EFULL and tries again later, as the registry does */
        while (db_write_submit(p->db, w) == CCD_EFULL) {
            atomic_fetch_add(&p->efull, 1);
            ccd_test_sleep_ms(2);
        }
        atomic_fetch_add(&p->submitted, 1);
        if (i % 100 == 99)
            ccd_test_sleep_ms(1); /* spread the load so the restarts land mid-stream */
    }
    return NULL;
}

static uint64_t rows_committed(db_t *db)
{
    db_stats_t s;
    db_get_stats(db, &s);
    return s.rows_committed;
}

static bool writer_connected(db_t *db)
{
    db_stats_t s;
    db_get_stats(db, &s);
    return s.writer_connected;
}

static void wait_committed(db_t *db, uint64_t n)
{
    CCD_WAIT_UNTIL(rows_committed(db) >= n, 60000);
}

static void test_write_across_restarts(void **state)
{
    (void)state;
    dbt_server_t srv = {0};
    dbt_server_start(&srv);
    conf_database_t cfg;
    dbt_server_cfg(&srv, &cfg, "ccdt_restart");
    cfg.write_batch_max = 200;
    mysql_close(dbt_fresh(&cfg, "restart", true)); /* migrated and seeded on this server */
    db_t *db = dbt_db_start(&cfg);
    producer_t p = {.db = db, .total = 30000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer_main, &p), 0);
    wait_committed(db, 3000);
    dbt_server_kill(&srv); /* a crash: commits in flight may or may not have made it */
    /* the server comes back only after the writer has met the outage */
    CCD_WAIT_UNTIL(!writer_connected(db), 60000);
    dbt_server_up(&srv);
    wait_committed(db, 12000);
    dbt_server_stop(&srv); /* a clean shutdown this time */
    CCD_WAIT_UNTIL(!writer_connected(db), 60000);
    dbt_server_up(&srv);
    pthread_join(th, NULL);
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(120000)), 0);
    db_stats_t s;
    db_get_stats(db, &s);
    print_message("rows %llu batches %llu retries %llu reconnects %llu dedup %llu max latency %llu us\n",
                  (unsigned long long)s.rows_committed, (unsigned long long)s.batches_committed,
                  (unsigned long long)s.retries, (unsigned long long)s.reconnects,
                  (unsigned long long)s.batches_deduplicated,
                  (unsigned long long)s.latency_us_max);
    assert_int_equal(s.rows_committed, 30000);
    assert_int_equal(s.rows_rejected, 0);
    assert_true(s.retries >= 1);
    assert_true(s.reconnects >= 2);
    db_stop(db, 5000);
    db_free(db);
    MYSQL *my = dbt_connect(&cfg, true);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = 'Test'"),
                     30000);
    assert_int_equal(dbt_int(my, "SELECT COUNT(DISTINCT uniqueid) FROM call_progress_log WHERE "
                                 "new_status = 'Test'"),
                     30000);
    assert_int_equal(dbt_int(my, "SELECT MIN(retry) + MAX(retry) FROM call_progress_log WHERE "
                                 "new_status = 'Test'"),
                     29999);
    mysql_close(my);
    dbt_server_destroy(&srv);
}

typedef struct read_job {
    db_read_job_t job;
    int ran;
} read_job_t;

static int read_run(db_conn_t *my, db_read_job_t *job)
{
    (void)my;
    ((read_job_t *)job)->ran = 1;
    return 0;
}

static void test_backpressure(void **state)
{
    (void)state;
    dbt_server_t srv = {0};
    dbt_server_start(&srv);
    conf_database_t cfg;
    dbt_server_cfg(&srv, &cfg, "ccdt_bp");
    cfg.write_queue_max = 100;
    cfg.write_batch_max = 10;
    mysql_close(dbt_fresh(&cfg, "bp", true)); /* migrated and seeded on this server */
    db_t *db = dbt_db_start(&cfg);
    /* connected and idle: no backpressure */
    CCD_WAIT(!db_writes_backpressured(db));

    dbt_server_stop(&srv);
    int accepted = 0, full = 0;
    for (int i = 0; i < 1000; i++) {
        db_write_t *w = db_write_new(DB_W_PROGRESS_LOG);
        w->u.progress.id_call_outgoing = 1;
        snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "BP");
        snprintf(w->u.progress.uniqueid, sizeof(w->u.progress.uniqueid), "bp-%d", i);
        int r = db_write_submit(db, w);
        if (r == 0) {
            accepted++;
        } else {
            assert_int_equal(r, CCD_EFULL);
            full++;
            w->msg.free(&w->msg); /* still ours: this producer gives up on it */
        }
        if (i == 0) /* the writer has taken this one and found the server gone */
            CCD_WAIT(!writer_connected(db));
    }
    assert_true(full > 0);
    assert_true(accepted >= 100 && accepted <= 100 + 10 + 1);
    /* a write about a call already placed still gets in, past the bound */
    db_write_t *fw = db_write_new(DB_W_PROGRESS_LOG);
    fw->u.progress.id_call_outgoing = 1;
    snprintf(fw->u.progress.new_status, sizeof(fw->u.progress.new_status), "BP");
    snprintf(fw->u.progress.uniqueid, sizeof(fw->u.progress.uniqueid), "bp-forced");
    assert_int_equal(db_write_submit_force(db, fw), 0);
    accepted++;
    assert_true(db_writes_backpressured(db));
    db_stats_t s;
    db_get_stats(db, &s);
    assert_int_equal(s.write_rejected_full, (uint64_t)full);
    assert_int_equal(s.write_queue_depth, 101);
    /* a read while the server is away is answered (CCD_EIO), not held */
    mq_t *reply = mq_new("reply", 10, 0);
    read_job_t *rj = calloc(1, sizeof(*rj));
    rj->job.run = read_run;
    rj->job.reply = reply;
    assert_int_equal(db_read_submit(db, &rj->job), 0);
    mq_msg_t *back = mq_pop(reply, ccd_test_timeout_ms(60000));
    assert_ptr_equal(back, &rj->job.msg);
    assert_int_equal(back->type, MSG_DB_READ_DONE);
    assert_int_equal(rj->job.status, CCD_EIO);
    assert_int_equal(rj->ran, 0);

    dbt_server_up(&srv);
    assert_int_equal(db_write_flush(db, ccd_test_timeout_ms(120000)), 0);
    CCD_WAIT(!db_writes_backpressured(db));
    /* the same read now runs */
    rj->job.status = -1;
    assert_int_equal(db_read_submit(db, &rj->job), 0);
    back = mq_pop(reply, ccd_test_timeout_ms(60000));
    assert_ptr_equal(back, &rj->job.msg);
    assert_int_equal(rj->job.status, 0);
    assert_int_equal(rj->ran, 1);
    free(rj);
    mq_free(reply);
    MYSQL *my = dbt_connect(&cfg, true);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM call_progress_log WHERE new_status = 'BP'"),
                     accepted);
    assert_int_equal(dbt_int(my, "SELECT COUNT(DISTINCT uniqueid) FROM call_progress_log WHERE "
                                 "new_status = 'BP'"),
                     accepted);
    mysql_close(my);
    /* Stopping while the database is away returns after the drain time (the writes still
     * queued are reported lost in the log) instead of hanging. */
    dbt_server_stop(&srv);
    for (int i = 0; i < 5; i++) {
        db_write_t *w = db_write_new(DB_W_PROGRESS_LOG);
        w->u.progress.id_call_outgoing = 1;
        snprintf(w->u.progress.new_status, sizeof(w->u.progress.new_status), "Late");
        submit_ok(db, w);
    }
    db_stop(db, 300);
    db_free(db);
    dbt_server_destroy(&srv);
}

int main(void)
{
    mysql_library_init(0, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_kinds),
        cmocka_unit_test(test_campaign_stats_two_engines),
        cmocka_unit_test(test_campaign_stats_per_batch),
        cmocka_unit_test(test_write_incoming),
        cmocka_unit_test(test_write_rejected_isolated),
        cmocka_unit_test(test_write_marker_dedup),
        cmocka_unit_test(test_write_across_restarts),
        cmocka_unit_test(test_backpressure),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return r;
}
