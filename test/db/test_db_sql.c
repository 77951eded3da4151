/*
 * Unit tests (no server) for db's pure parts: CREATE TABLE / ADD COLUMN
 * builders over the schema tables, script splitting, write-batch planning
 * (family grouping keeps submission order, runs of one kind) and back-offs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "db/db_int.h"

static const db_table_t *find_table(const char *name)
{
    for (const db_table_t *const *t = db__issabel_tables(); *t; t++)
        if (strcmp((*t)->name, name) == 0)
            return *t;
    return NULL;
}

static void test_issabel_tables_complete(void **state)
{
    (void)state;
    static const char *const want[] = {
        "agent", "audit", "break", "call_attribute", "call_entry", "call_progress_log",
        "call_recording", "calls", "campaign_lists", "campaign", "campaign_entry",
        "campaign_external_url", "campaign_form", "campaign_form_entry", "contact",
        "current_call_entry", "current_calls", "dont_call", "eccp_authorized_clients", "form",
        "form_data_recolected", "form_data_recolected_entry", "form_field", "queue_call_entry",
        "valor_config", NULL};
    int n = 0;
    for (const db_table_t *const *t = db__issabel_tables(); *t; t++)
        n++;
    assert_int_equal(n, 25);
    for (int i = 0; want[i]; i++)
        assert_non_null(find_table(want[i]));
}

static void test_create_table(void **state)
{
    (void)state;
    char buf[8192];
    const db_table_t *agent = find_table("agent");
    int n = db__sql_create_table(agent, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
    assert_non_null(strstr(buf, "CREATE TABLE IF NOT EXISTS `agent` ("));
    assert_non_null(strstr(buf, "`type` enum('Agent','SIP','IAX2','PJSIP') NOT NULL DEFAULT 'Agent'"));
    assert_non_null(strstr(buf, "KEY `agent_type` (`estatus`,`type`,`number`)"));
    assert_non_null(strstr(buf, ") ENGINE=InnoDB"));
    /* calls belong to a campaign through id_list only */
    const db_table_t *calls = find_table("calls");
    assert_true(db__sql_create_table(calls, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "`id_list` int(10) unsigned NOT NULL"));
    assert_null(strstr(buf, "id_campaign"));
    assert_non_null(strstr(buf, "FOREIGN KEY (`id_list`) REFERENCES `campaign_lists`"));
    /* too small a buffer is an error, not a truncated statement */
    assert_int_equal(db__sql_create_table(calls, buf, 64), CCD_ETOOBIG);
}

static void test_add_columns(void **state)
{
    (void)state;
    char buf[8192];
    const db_table_t *calls = find_table("calls");
    int n = db__sql_add_columns(calls, buf, sizeof(buf));
    assert_true(n > 0);
    assert_non_null(strstr(buf, "ALTER TABLE `calls` ADD COLUMN IF NOT EXISTS `id_list`"));
    assert_non_null(strstr(buf, "ADD COLUMN IF NOT EXISTS `callerid` varchar(15) DEFAULT NULL"));
    /* the AUTO_INCREMENT key column is never re-added */
    assert_null(strstr(buf, "AUTO_INCREMENT"));
    /* a table whose only column is AUTO_INCREMENT has nothing to conform */
    static const db_col_t cols[] = {{"id", "int NOT NULL AUTO_INCREMENT"}, {NULL, NULL}};
    static const char *const keys[] = {"PRIMARY KEY (`id`)", NULL};
    db_table_t t = {"x", cols, keys, "ENGINE=InnoDB"};
    assert_int_equal(db__sql_add_columns(&t, buf, sizeof(buf)), 0);
}

typedef struct split_acc {
    int n;
    char stmts[16][256];
} split_acc_t;

static int split_cb(const char *p, size_t n, void *ctx)
{
    split_acc_t *a = ctx;
    assert_true(a->n < 16);
    assert_true(n < 256);
    memcpy(a->stmts[a->n], p, n);
    a->stmts[a->n][n] = '\0';
    a->n++;
    return 0;
}

static void test_split(void **state)
{
    (void)state;
    static const char sql[] = "-- a comment; with a semicolon\n"
                              "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`);\n"
                              "/* block; comment */ SELECT 1;\n"
                              "# hash comment;\n"
                              "SELECT 'it''s; fine', 'back\\'slash;';\n"
                              "   ;\n"
                              "SELECT 3";
    split_acc_t a = {0};
    assert_int_equal(db__sql_split(sql, strlen(sql), split_cb, &a), 0);
    assert_int_equal(a.n, 4);
    assert_non_null(strstr(a.stmts[0], "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`)"));
    assert_non_null(strstr(a.stmts[1], "SELECT 1"));
    assert_non_null(strstr(a.stmts[2], "SELECT 'it''s; fine', 'back\\'slash;'"));
    assert_string_equal(a.stmts[3], "SELECT 3");
    /* only comments: nothing */
    split_acc_t b = {0};
    static const char only[] = "-- nothing here\n/* nor here */\n";
    assert_int_equal(db__sql_split(only, strlen(only), split_cb, &b), 0);
    assert_int_equal(b.n, 0);
}

static db_write_t *mk(db_write_kind_e k, uint32_t tag)
{
    db_write_t *w = db_write_new(k);
    assert_non_null(w);
    w->shard = tag; /* the test's own marker of submission order */
    return w;
}

static void test_batch_plan(void **state)
{
    (void)state;
    /* submission order: call(0) progress(1) audit_open(2) call(3) audit_close(4) progress(5)
     *                   audit_open(6) call(7) */
    db_write_kind_e ks[] = {DB_W_CALL_UPDATE, DB_W_PROGRESS_LOG, DB_W_AUDIT_OPEN,
                            DB_W_CALL_UPDATE, DB_W_AUDIT_CLOSE,  DB_W_PROGRESS_LOG,
                            DB_W_AUDIT_OPEN,  DB_W_CALL_UPDATE};
    enum { N = 8 };
    db_write_t *ws[N];
    for (int i = 0; i < N; i++)
        ws[i] = mk(ks[i], (uint32_t)i);
    int order[N];
    db_run_t runs[N];
    int nr = db__batch_plan(ws, N, order, runs);
    /* calls: one run of 3 in order; progress: one run of 2; audit: open, close, open */
    assert_int_equal(nr, 5);
    assert_int_equal(runs[0].kind, DB_W_CALL_UPDATE);
    assert_int_equal(runs[0].count, 3);
    assert_int_equal(order[runs[0].first + 0], 0);
    assert_int_equal(order[runs[0].first + 1], 3);
    assert_int_equal(order[runs[0].first + 2], 7);
    assert_int_equal(runs[1].kind, DB_W_PROGRESS_LOG);
    assert_int_equal(runs[1].count, 2);
    assert_int_equal(order[runs[1].first], 1);
    assert_int_equal(order[runs[1].first + 1], 5);
    assert_int_equal(runs[2].kind, DB_W_AUDIT_OPEN);
    assert_int_equal(order[runs[2].first], 2);
    assert_int_equal(runs[3].kind, DB_W_AUDIT_CLOSE);
    assert_int_equal(order[runs[3].first], 4);
    assert_int_equal(runs[4].kind, DB_W_AUDIT_OPEN);
    assert_int_equal(order[runs[4].first], 6);
    /* every write planned exactly once */
    int seen[N] = {0};
    int total = 0;
    for (int r = 0; r < nr; r++)
        for (int i = 0; i < runs[r].count; i++) {
            seen[order[runs[r].first + i]]++;
            total++;
        }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    for (int i = 0; i < N; i++)
        ws[i]->msg.free(&ws[i]->msg);
}

static void test_batch_plan_one_kind(void **state)
{
    (void)state;
    enum { N = 500 };
    db_write_t **ws = calloc(N, sizeof(*ws));
    int *order = calloc(N, sizeof(int));
    db_run_t *runs = calloc(N, sizeof(db_run_t));
    assert_non_null(ws);
    for (int i = 0; i < N; i++)
        ws[i] = mk(DB_W_CALL_UPDATE, (uint32_t)i);
    assert_int_equal(db__batch_plan(ws, N, order, runs), 1);
    assert_int_equal(runs[0].count, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(order[i], i);
    for (int i = 0; i < N; i++)
        ws[i]->msg.free(&ws[i]->msg);
    free(ws);
    free(order);
    free(runs);
}

static void test_write_new(void **state)
{
    (void)state;
    assert_null(db_write_new((db_write_kind_e)0));
    assert_null(db_write_new(DB_W_KIND_MAX));
    db_write_t *w = db_write_new(DB_W_CALL_UPDATE);
    assert_non_null(w);
    assert_int_equal(w->msg.type, MSG_DB_WRITE);
    assert_true(w->u.call.duration < 0 && w->u.call.duration_wait < 0 &&
                w->u.call.failure_cause < 0);
    w->msg.free(&w->msg);
    w = db_write_new(DB_W_PROGRESS_LOG);
    assert_true(w->u.progress.retry < 0 && w->u.progress.duration < 0);
    w->msg.free(&w->msg);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(db__backoff_ms(0, 100, 5000), 100);
    assert_int_equal(db__backoff_ms(1, 100, 5000), 200);
    assert_int_equal(db__backoff_ms(5, 100, 5000), 3200);
    assert_int_equal(db__backoff_ms(6, 100, 5000), 5000);
    assert_int_equal(db__backoff_ms(1000, 100, 5000), 5000);
    assert_int_equal(db__backoff_ms(3, 0, 0), 1);
    assert_int_equal(db__retry_delay_s(60, 3600, 0), 0);
    assert_int_equal(db__retry_delay_s(60, 3600, 1), 60);
    assert_int_equal(db__retry_delay_s(60, 3600, 2), 120);
    assert_int_equal(db__retry_delay_s(60, 3600, 4), 480);
    assert_int_equal(db__retry_delay_s(60, 3600, 10), 3600);
    assert_int_equal(db__retry_delay_s(60, 0, 3), 240);
    assert_true(db__retry_delay_s(60, 0, 4000000000u) > 0);
    assert_int_equal(db__retry_delay_s(0, 3600, 3), 0);
    assert_int_equal(db_retry_delay_s(300, 86400, 3), 1200);
}

static void test_errno_classes(void **state)
{
    (void)state;
    assert_true(db_errno_retryable(1213));
    assert_true(db_errno_retryable(1205));
    assert_true(db_errno_retryable(2006));
    assert_true(db_errno_retryable(2013));
    assert_true(db_errno_retryable(2002));
    assert_true(db_errno_conn_lost(2013));
    assert_false(db_errno_conn_lost(1213));
    assert_false(db_errno_retryable(1062));
    assert_false(db_errno_retryable(1452)); /* foreign key: the data is wrong, retrying won't help */
}

/* The bulk kinds' statements, generated from their column tables, are the ones the writer
 * ran before the tables existed, byte for byte, with one parameter per '?'. */
static void test_write_kind_sql(void **state)
{
    (void)state;
    static const struct {
        db_write_kind_e kind;
        int np;
        const char *sql;
    } want[] = {
        {DB_W_CALL_UPDATE, 33,
         "UPDATE calls SET status = IF(?, ?, status), uniqueid = IF(?, ?, uniqueid), "
         "fecha_llamada = IF(?, ?, fecha_llamada), start_time = IF(?, ?, start_time), "
         "end_time = IF(?, ?, end_time), duration = IF(?, ?, duration), "
         "id_agent = IF(?, ?, id_agent), transfer = IF(?, ?, transfer), "
         "datetime_entry_queue = IF(?, ?, datetime_entry_queue), "
         "duration_wait = IF(?, ?, duration_wait), "
         "failure_cause = IF(?, ?, failure_cause), "
         "failure_cause_txt = IF(?, ?, failure_cause_txt), trunk = IF(?, ?, trunk), "
         "ccd_next_attempt = IF(?, NOW() + INTERVAL ? SECOND, ccd_next_attempt), "
         "dnc = IF(?, ?, dnc), "
         "ccd_claim_owner = IF(?, NULL, ccd_claim_owner), "
         "ccd_claim_time = IF(?, NULL, ccd_claim_time) WHERE id = ?"},
        {DB_W_PROGRESS_LOG, 11,
         "INSERT INTO call_progress_log (datetime_entry, id_campaign_incoming, "
         "id_call_incoming, id_campaign_outgoing, id_call_outgoing, new_status, "
         "retry, uniqueid, trunk, id_agent, duration) VALUES "
         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
        {DB_W_AUDIT_OPEN, 4,
         "INSERT INTO audit (id_agent, id_break, datetime_init, ext_parked) "
         "VALUES (?, ?, ?, ?)"},
        {DB_W_AUDIT_CLOSE, 4,
         "UPDATE audit SET datetime_end = ?, duration = TIMEDIFF(?, datetime_init) "
         "WHERE id_agent = ? AND id_break <=> ? AND datetime_end IS NULL"},
        {DB_W_CURRENT_CALL_ADD, 8,
         "INSERT INTO current_calls (id_call, fecha_inicio, uniqueid, queue, "
         "agentnum, event, Channel, ChannelClient) VALUES "
         "(?, ?, ?, ?, ?, ?, ?, ?)"},
        {DB_W_CURRENT_CALL_DEL, 1,
         "DELETE FROM current_calls WHERE id_call = ?"},
        {DB_W_CALL_ENTRY_UPDATE, 15,
         "UPDATE call_entry SET status = IF(?, ?, status), "
         "id_agent = IF(?, ?, id_agent), "
         "datetime_init = IF(?, ?, datetime_init), "
         "datetime_end = IF(?, ?, datetime_end), "
         "duration = IF(?, ?, duration), "
         "duration_wait = IF(?, ?, duration_wait), "
         "transfer = IF(?, ?, transfer) WHERE uniqueid = ?"},
        {DB_W_RECORDING_ADD, 6,
         "INSERT INTO call_recording (datetime_entry, id_call_incoming, "
         "id_call_outgoing, uniqueid, channel, recordingfile) VALUES "
         "(?, ?, ?, ?, ?, ?)"},
        {DB_W_CAMPAIGN_UPDATE, 3, "UPDATE campaign SET estatus = IF(?, ?, estatus) WHERE id = ?"},
        {DB_W_CALL_ENTRY_CONTACT, 2,
         "UPDATE call_entry SET id_contact = ? WHERE id = ?"},
        {DB_W_CALL_ENTRY_CONTACT, 2, "UPDATE call_entry SET id_contact = ? WHERE id = ?"},
        {DB_W_CURRENT_CALL_ENTRY_DEL, 1, "DELETE FROM current_call_entry WHERE uniqueid = ?"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int np = -1;
        const char *sql = db__write_sql(want[i].kind, &np);
        assert_non_null(sql);
        assert_string_equal(sql, want[i].sql);
        assert_int_equal(np, want[i].np);
        int q = 0;
        for (const char *p = sql; *p; p++)
            q += *p == '?';
        assert_int_equal(q, np);
    }
    /* compound kinds run an exec function, not one statement */
    assert_null(db__write_sql(DB_W_FORM_VALUE, NULL));
    assert_null(db__write_sql(DB_W_CALL_SCHEDULE, NULL));
    assert_null(db__write_sql(DB_W_CALL_ENTRY_ADD, NULL));
    assert_null(db__write_sql(DB_W_PROGRESS_LOG_ENTRY, NULL));
    assert_null(db__write_sql(DB_W_CURRENT_CALL_ENTRY_ADD, NULL));
    assert_null(db__write_sql(DB_W_CAMPAIGN_COMPLETED, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_kind_sql),
        cmocka_unit_test(test_issabel_tables_complete),
        cmocka_unit_test(test_create_table),
        cmocka_unit_test(test_add_columns),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_batch_plan),
        cmocka_unit_test(test_batch_plan_one_kind),
        cmocka_unit_test(test_write_new),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_errno_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
