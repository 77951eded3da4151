/*
 * Integration test for read jobs through the reader threads (db_start +
 * db_read_submit) and the blocking loaders they call: active campaigns with
 * pacing, expiry, agents of every type, dynamic-agent queues, breaks, forms
 * with ordered fields, ECCP clients.  Several jobs in flight at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <unistd.h>
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
#include "test/common/ccd_test.h"
#include "test/db/dbtest.h"

typedef struct load_job {
    db_read_job_t job;
    int expired;
    db_campaign_t *camps;
    size_t ncamps;
    db_agent_t *agents;
    size_t nagents;
    db_agent_queue_t *aq;
    size_t naq;
    db_break_t *breaks;
    size_t nbreaks;
    db_form_t *forms;
    size_t nforms;
    db_eccp_client_t *clients;
    size_t nclients;
} load_job_t;

static int load_all(db_conn_t *c, db_read_job_t *job)
{
    load_job_t *j = (load_job_t *)job;
    int r;
    if ((r = db_expire_campaigns(c, &j->expired)) ||
        (r = db_load_active_campaigns(c, &j->camps, &j->ncamps)) ||
        (r = db_load_agents(c, &j->agents, &j->nagents)) ||
        (r = db_load_agent_queues(c, &j->aq, &j->naq)) ||
        (r = db_load_breaks(c, &j->breaks, &j->nbreaks)) ||
        (r = db_load_forms(c, &j->forms, &j->nforms)) ||
        (r = db_load_eccp_clients(c, &j->clients, &j->nclients)))
        return r;
    return 0;
}

static void free_job(load_job_t *j)
{
    free(j->camps);
    free(j->agents);
    free(j->aq);
    free(j->breaks);
    db_forms_free(j->forms, j->nforms);
    free(j->clients);
    free(j);
}

static void check(load_job_t *j)
{
    assert_int_equal(j->job.status, 0);
    /* campaign 2 ended yesterday: expired, and not active */
    assert_int_equal(j->ncamps, 1);
    db_campaign_t *c = &j->camps[0];
    assert_int_equal(c->id, 1);
    assert_string_equal(c->name, "Demo outbound");
    assert_string_equal(c->trunk, "Local/$OUTNUM$@customers");
    assert_string_equal(c->queue, "8000");
    assert_string_equal(c->context, "dialer-queue");
    assert_string_equal(c->callerid, "5550100");
    assert_int_equal(c->retries, 3);
    assert_string_equal(c->daytime_init, "00:00:00");
    assert_int_equal(c->mode, DB_PACING_PREDICTIVE);
    assert_true(c->abandon_rate_max > 0.029 && c->abandon_rate_max < 0.031);
    assert_int_equal(c->max_channels, 20);
    assert_int_equal(c->retry_backoff_s, 60);
    assert_int_equal(c->retry_backoff_max_s, 3600);
    assert_int_equal(c->id_url, 1);
    /* agents: ordered by number; one of each type */
    assert_int_equal(j->nagents, 9);
    assert_string_equal(j->agents[0].number, "1001");
    assert_string_equal(j->agents[0].type, "SIP");
    assert_string_equal(j->agents[1].type, "PJSIP");
    assert_string_equal(j->agents[2].type, "IAX2");
    assert_string_equal(j->agents[3].type, "Agent");
    assert_string_equal(j->agents[3].eccp_password, "eccp9000");
    assert_true(j->agents[3].has_eccp_password);
    assert_string_equal(j->agents[8].number, "9009");
    assert_int_equal(j->agents[8].estatus, 'I');
    assert_false(j->agents[8].has_eccp_password);
    assert_int_equal(j->naq, 4);
    assert_int_equal(j->aq[0].id_agent, 6);
    assert_string_equal(j->aq[0].queue, "8000");
    assert_int_equal(j->aq[0].penalty, 5);
    assert_int_equal(j->nbreaks, 5);
    assert_int_equal(j->breaks[0].tipo, 'H');
    assert_string_equal(j->breaks[1].name, "Lunch");
    assert_int_equal(j->breaks[4].status, 'I');
    assert_int_equal(j->nforms, 2);
    assert_int_equal(j->forms[0].nfields, 4);
    assert_string_equal(j->forms[0].fields[1].etiqueta, "Satisfaction");
    assert_string_equal(j->forms[0].fields[1].value, "Very good,Good,Average,Bad,");
    assert_string_equal(j->forms[0].fields[1].tipo, "LIST");
    assert_int_equal(j->forms[1].nfields, 2);
    assert_string_equal(j->forms[1].fields[0].tipo, "LABEL");
    assert_int_equal(j->nclients, 1);
    assert_string_equal(j->clients[0].username, "agentconsole");
    assert_string_equal(j->clients[0].md5_password, "7e53aa92f7566f44f39f3f1842832581");
}

static int fail_run(db_conn_t *c, db_read_job_t *job)
{
    (void)job;
    return mysql_query(c->my, "SELECT * FROM no_such_table") ? CCD_EIO : 0;
}

static void test_read_jobs(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "read", true);
    char err[CCD_ERR_LEN];
    db_t *db = db_new(&cfg, err, sizeof(err));
    if (db && db_start(db, NULL, NULL, err, sizeof(err)) != 0) {
        db_free(db);
        db = NULL;
    }
    if (!db)
        fail_msg("db_start: %s", err);
    mq_t *reply = mq_new("reply", 100, 0);
    enum { N = 8 };
    for (int i = 0; i < N; i++) {
        load_job_t *j = calloc(1, sizeof(*j));
        assert_non_null(j);
        j->job.run = load_all;
        j->job.reply = reply;
        j->job.status = -1;
        assert_int_equal(db_read_submit(db, &j->job), 0);
    }
    /* a job whose SQL fails reports it and does not disturb the others */
    db_read_job_t *bad = calloc(1, sizeof(*bad));
    bad->run = fail_run;
    bad->reply = reply;
    assert_int_equal(db_read_submit(db, bad), 0);
    int expired_total = 0, seen_bad = 0;
    for (int i = 0; i < N + 1; i++) {
        mq_msg_t *m = mq_pop(reply, ccd_test_timeout_ms(60000));
        assert_non_null(m);
        assert_int_equal(m->type, MSG_DB_READ_DONE);
        if (m == &bad->msg) {
            assert_int_equal(bad->status, CCD_EIO);
            seen_bad = 1;
            continue;
        }
        load_job_t *j = (load_job_t *)m;
        expired_total += j->expired;
        check(j);
        free_job(j);
    }
    assert_int_equal(seen_bad, 1);
    assert_int_equal(expired_total, 1); /* campaign 2, once */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM campaign WHERE estatus = 'I'"), 1);
    db_stats_t s;
    db_get_stats(db, &s);
    assert_int_equal(s.reads_done, N);
    assert_int_equal(s.reads_failed, 1);
    assert_int_equal(db_read_submit(db, NULL), CCD_EINVAL);
    free(bad);
    db_stop(db, 1000);
    db_free(db);
    mq_free(reply);
    mysql_close(my);
    dbt_drop(&cfg);
}

static void test_start_refuses_old_schema(void **state)
{
    (void)state;
    conf_database_t cfg;
    char name[64];
    dbt_name(name, sizeof(name), "noschema");
    dbt_cfg(&cfg, name);
    MYSQL *my = dbt_connect(&cfg, false);
    char q[256];
    snprintf(q, sizeof(q), "CREATE DATABASE IF NOT EXISTS `%s`", name);
    dbt_exec(my, q);
    char err[CCD_ERR_LEN] = "";
    /* A server that answers and refuses does not heal by waiting: both fail at once. */
    db_t *db = db_new(&cfg, err, sizeof(err));
    assert_non_null(db);
    assert_int_not_equal(db_start(db, NULL, NULL, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "--init-db"));
    db_free(db);
    snprintf(cfg.password, sizeof(cfg.password), "wrong");
    db = db_new(&cfg, err, sizeof(err));
    assert_non_null(db);
    assert_int_not_equal(db_start(db, NULL, NULL, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "connect"));
    db_free(db);
    mysql_close(my);
    dbt_cfg(&cfg, name);
    dbt_drop(&cfg);
}

static int tmo(int ms)
{
    const char *m = getenv("CCD_TEST_TIMEOUT_MULTIPLIER");
    int k = m ? atoi(m) : 1;
    return ms * (k > 0 ? k : 1);
}

/* db_start on its own thread; cancel() counts its calls (each one is a moment of waiting). */
typedef struct starter {
    db_t *db;
    atomic_int polls;
    atomic_bool cancel;
    atomic_bool done;
    int rc;
    char err[CCD_ERR_LEN];
} starter_t;

static bool starter_cancel(void *ctx)
{
    starter_t *s = ctx;
    atomic_fetch_add(&s->polls, 1);
    return atomic_load(&s->cancel);
}

static void *starter_main(void *arg)
{
    starter_t *s = arg;
    s->rc = db_start(s->db, starter_cancel, s, s->err, sizeof(s->err));
    atomic_store(&s->done, true);
    return NULL;
}

/* Waits until flag is set or ms pass; the flag's value. */
static bool wait_flag(atomic_bool *flag, int ms)
{
    int64_t end = clk_mono_ms() + ms;
    while (!atomic_load(flag) && clk_mono_ms() < end)
        usleep(10000);
    return atomic_load(flag);
}

static void wait_polls(starter_t *s, int n, int ms)
{
    int64_t end = clk_mono_ms() + ms;
    while (atomic_load(&s->polls) < n && clk_mono_ms() < end)
        usleep(10000);
    assert_true(atomic_load(&s->polls) >= n);
}

/* The server is down when the engine starts: db_start waits (retrying) and succeeds once the
 * server is back, then serves reads. */
static void test_start_waits_for_database(void **state)
{
    (void)state;
    dbt_server_t srv = {0};
    dbt_server_start(&srv);
    conf_database_t cfg;
    dbt_server_cfg(&srv, &cfg, "ccdt_wait");
    mysql_close(dbt_fresh(&cfg, "wait", true));
    dbt_server_stop(&srv);
    char err[CCD_ERR_LEN];
    starter_t s = {.db = db_new(&cfg, err, sizeof(err))};
    assert_non_null(s.db);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, starter_main, &s), 0);
    /* Several back-off slices went by without the start giving up. */
    wait_polls(&s, 5, tmo(30000));
    assert_false(atomic_load(&s.done));
    dbt_server_up(&srv);
    if (!wait_flag(&s.done, tmo(60000)))
        fail_msg("db_start did not return after the database came back");
    pthread_join(th, NULL);
    if (s.rc != 0)
        fail_msg("db_start: %s", s.err);
    mq_t *reply = mq_new("reply", 10, 0);
    load_job_t *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    j->job.run = load_all;
    j->job.reply = reply;
    j->job.status = -1;
    assert_int_equal(db_read_submit(s.db, &j->job), 0);
    mq_msg_t *m = mq_pop(reply, tmo(60000));
    assert_non_null(m);
    assert_int_equal(((load_job_t *)m)->job.status, 0);
    assert_true(((load_job_t *)m)->nagents > 0);
    free_job((load_job_t *)m);
    mq_free(reply);
    db_stop(s.db, 1000);
    db_free(s.db);
    dbt_server_destroy(&srv);
}

/* A start waiting for a database that never comes ends promptly when cancelled (SIGTERM). */
static void test_start_wait_cancelled(void **state)
{
    (void)state;
    conf_database_t cfg;
    dbt_cfg(&cfg, "ccdt_nowhere");
    snprintf(cfg.socket, sizeof(cfg.socket), "/nonexistent/ccd-test/mysql.sock");
    char err[CCD_ERR_LEN];
    starter_t s = {.db = db_new(&cfg, err, sizeof(err))};
    assert_non_null(s.db);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, starter_main, &s), 0);
    wait_polls(&s, 3, tmo(30000));
    assert_false(atomic_load(&s.done));
    int64_t t0 = clk_mono_ms();
    atomic_store(&s.cancel, true);
    if (!wait_flag(&s.done, tmo(5000)))
        fail_msg("db_start did not stop after the cancel");
    pthread_join(th, NULL);
    assert_int_equal(s.rc, CCD_ECLOSED);
    /* Polled at least every 100 ms: well under a second even on a loaded machine. */
    assert_true(clk_mono_ms() - t0 < tmo(2000));
    db_free(s.db);
}

int main(void)
{
    mysql_library_init(0, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_jobs),
        cmocka_unit_test(test_start_refuses_old_schema),
        cmocka_unit_test(test_start_waits_for_database),
        cmocka_unit_test(test_start_wait_cancelled),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return r;
}
