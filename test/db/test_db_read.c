/*
 * Integration test for read jobs through the reader threads (db_start +
 * db_read_submit) and the blocking loaders they call: active campaigns with
 * pacing, expiry, agents of every type, dynamic-agent queues, breaks, forms
 * with ordered fields, ECCP clients.  Several jobs in flight at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int load_all(MYSQL *my, db_read_job_t *job)
{
    load_job_t *j = (load_job_t *)job;
    int r;
    if ((r = db_expire_campaigns(my, &j->expired)) ||
        (r = db_load_active_campaigns(my, &j->camps, &j->ncamps)) ||
        (r = db_load_agents(my, &j->agents, &j->nagents)) ||
        (r = db_load_agent_queues(my, &j->aq, &j->naq)) ||
        (r = db_load_breaks(my, &j->breaks, &j->nbreaks)) ||
        (r = db_load_forms(my, &j->forms, &j->nforms)) ||
        (r = db_load_eccp_clients(my, &j->clients, &j->nclients)))
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
    assert_int_equal(c->num_completadas, -1);
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

static int fail_run(MYSQL *my, db_read_job_t *job)
{
    (void)job;
    return mysql_query(my, "SELECT * FROM no_such_table") ? CCD_EIO : 0;
}

static void test_read_jobs(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "read", true);
    char err[CCD_ERR_LEN];
    db_t *db = db_start(&cfg, err, sizeof(err));
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
    assert_null(db_start(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "--init-db"));
    snprintf(cfg.password, sizeof(cfg.password), "wrong");
    assert_null(db_start(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "connect"));
    mysql_close(my);
    dbt_cfg(&cfg, name);
    dbt_drop(&cfg);
}

int main(void)
{
    mysql_library_init(0, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_jobs),
        cmocka_unit_test(test_start_refuses_old_schema),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return r;
}
