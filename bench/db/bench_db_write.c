/*
 * db_write: call-status updates per second through the writer (batched, bulk
 * execution, one transaction per write_batch_max rows), against the baseline
 * of one prepared single-row UPDATE per autocommit transaction, measured in
 * the same run on the same table.  Durable settings (the server defaults,
 * innodb_flush_log_at_trx_commit=1) in both.
 *
 *   db_write [ROWS]     (default 200000 batched; the baseline runs 3 s)
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/db/benchdb.h"
#include "core/err.h"
#include "core/log.h"

#define NCALLS 100000

static double baseline(MYSQL *my, double seconds, long *rows_out)
{
    static const char q[] = "UPDATE calls SET status = ?, fecha_llamada = NOW() WHERE id = ?";
    MYSQL_STMT *st = mysql_stmt_init(my);
    if (!st || mysql_stmt_prepare(st, q, sizeof(q) - 1)) {
        fprintf(stderr, "prepare: %s\n", mysql_error(my));
        exit(1);
    }
    char status[16];
    unsigned long slen;
    long long id;
    MYSQL_BIND b[2];
    memset(b, 0, sizeof(b));
    b[0].buffer_type = MYSQL_TYPE_STRING;
    b[0].buffer = status;
    b[0].buffer_length = sizeof(status);
    b[0].length = &slen;
    b[1].buffer_type = MYSQL_TYPE_LONGLONG;
    b[1].buffer = &id;
    mysql_stmt_bind_param(st, b);
    static const char *const sts[] = {"Ringing", "OnQueue", "Success"};
    long n = 0;
    double t0 = bdb_now(), t1 = t0;
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 50; k++, n++) {
            snprintf(status, sizeof(status), "%s", sts[n % 3]);
            slen = strlen(status);
            id = 1 + n % NCALLS;
            if (mysql_stmt_execute(st)) {
                fprintf(stderr, "execute: %s\n", mysql_stmt_error(st));
                exit(1);
            }
        }
        t1 = bdb_now();
    }
    mysql_stmt_close(st);
    *rows_out = n;
    return (double)n / (t1 - t0);
}

/* db_new + db_start, or the bench ends with the reason. */
static db_t *start_db(const conf_database_t *cfg)
{
    char err[CCD_ERR_LEN];
    db_t *db = db_new(cfg, err, sizeof(err));
    if (db && db_start(db, NULL, NULL, err, sizeof(err)) != 0) {
        db_free(db);
        db = NULL;
    }
    if (!db) {
        fprintf(stderr, "db_start: %s\n", err);
        exit(1);
    }
    return db;
}

static double batched(const conf_database_t *base, int writers, long rows, db_stats_t *st_out)
{
    conf_database_t cfg = *base;
    cfg.writer_threads = writers;
    db_t *db = start_db(&cfg);
    static const char *const sts[] = {"Ringing", "OnQueue", "Success"};
    double t0 = bdb_now();
    for (long i = 0; i < rows; i++) {
        db_write_t *w = db_write_new(DB_W_CALL_UPDATE);
        uint32_t id = (uint32_t)(1 + i % NCALLS);
        w->shard = id;
        w->u.call.id_call = id;
        w->u.call.set = DB_CALL_F_STATUS | DB_CALL_F_FECHA_LLAMADA;
        snprintf(w->u.call.status, sizeof(w->u.call.status), "%s", sts[i % 3]);
        w->u.call.fecha_llamada = time(NULL);
        while (db_write_submit(db, w) == CCD_EFULL)
            sched_yield();
    }
    if (db_write_flush(db, 120000)) {
        fprintf(stderr, "flush timed out\n");
        exit(1);
    }
    double dt = bdb_now() - t0;
    db_get_stats(db, st_out);
    db_stop(db, 5000);
    db_free(db);
    return (double)rows / dt;
}

/* Completed calls (the campaign statistics) as fast as they are taken, four campaigns in turn:
 * a backlog like the one a database outage leaves.  The writer applies a batch's calls as sums
 * per campaign, so its statements grow with the batches, not with the calls. */
static double completed(const conf_database_t *base, long rows, db_stats_t *st_out)
{
    db_t *db = start_db(base);
    double t0 = bdb_now();
    for (long i = 0; i < rows; i++) {
        db_write_t *w = db_write_new(DB_W_CAMPAIGN_COMPLETED);
        w->shard = 1;
        w->u.completed.id_campaign = (uint32_t)(1 + i % 4);
        w->u.completed.duration_s = (uint32_t)(30 + i % 300);
        while (db_write_submit(db, w) == CCD_EFULL)
            sched_yield();
    }
    if (db_write_flush(db, 120000)) {
        fprintf(stderr, "flush timed out\n");
        exit(1);
    }
    double dt = bdb_now() - t0;
    db_get_stats(db, st_out);
    db_stop(db, 5000);
    db_free(db);
    return (double)rows / dt;
}

/* Latency at a steady offered load well below capacity (what the dialer produces), rather
 * than the flood above, where rows wait behind a full queue by construction. */
static void paced(const conf_database_t *base, int rate, double seconds)
{
    db_t *db = start_db(base);
    long total = (long)(rate * seconds), sent = 0;
    double t0 = bdb_now();
    while (sent < total) {
        double due = (bdb_now() - t0) * rate;
        while (sent < total && sent < (long)due) {
            db_write_t *w = db_write_new(DB_W_CALL_UPDATE);
            uint32_t id = (uint32_t)(1 + sent % NCALLS);
            w->shard = id;
            w->u.call.id_call = id;
            w->u.call.set = DB_CALL_F_STATUS;
            snprintf(w->u.call.status, sizeof(w->u.call.status), "NoAnswer");
            while (db_write_submit(db, w) == CCD_EFULL)
                sched_yield();
            sent++;
        }
        usleep(1000);
    }
    db_write_flush(db, 60000);
    db_stats_t s;
    db_get_stats(db, &s);
    printf("metric db_write.paced_%d_latency_avg %.2f ms\n", rate,
           s.rows_committed ? (double)s.latency_us_sum / (double)s.rows_committed / 1000.0 : 0.0);
    printf("metric db_write.paced_%d_latency_max %.2f ms\n", rate, (double)s.latency_us_max / 1000.0);
    printf("metric db_write.paced_%d_rows_per_batch %.1f rows\n", rate,
           s.batches_committed ? (double)s.rows_committed / (double)s.batches_committed : 0.0);
    db_stop(db, 5000);
    db_free(db);
}

int main(int argc, char **argv)
{
    long rows = argc > 1 ? atol(argv[1]) : 200000;
    if (rows < 1000)
        rows = 1000;
    log_set_level(LOG_LVL_ERR); /* the full queue is the point here, not news */
    mysql_library_init(0, NULL, NULL);
    conf_database_t cfg;
    bdb_begin(&cfg, "ccdb_wbench");
    MYSQL *my = bdb_fresh(&cfg);
    bdb_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, context, queue, script) VALUES (1, 'b', CURDATE(), CURDATE(), "
                 "'00:00:00', '23:59:59', 'c', '8000', '')");
    bdb_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, context, queue, script) SELECT seq, 'b', CURDATE(), CURDATE(), "
                 "'00:00:00', '23:59:59', 'c', '8000', '' FROM seq_2_to_4");
    bdb_exec(my, "INSERT INTO campaign_lists (id, id_campaign, name, upload, date_entered) VALUES "
                 "(1, 1, 'l', '', NOW())");
    bdb_exec(my, "INSERT INTO calls (id, id_list, phone) SELECT seq, 1, CONCAT('5', seq) FROM "
                 "seq_1_to_100000");

    long nbase = 0;
    double base = baseline(my, 3.0, &nbase);
    printf("metric db_write.single_autocommit %.0f rows/s\n", base);

    db_stats_t s;
    double b1 = batched(&cfg, 1, rows, &s);
    printf("metric db_write.batched %.0f rows/s\n", b1);
    printf("metric db_write.batched_speedup %.1f x\n", b1 / base);
    printf("metric db_write.batches %llu count\n", (unsigned long long)s.batches_committed);
    printf("metric db_write.rows_per_batch %.1f rows\n",
           s.batches_committed ? (double)s.rows_committed / (double)s.batches_committed : 0.0);
    printf("metric db_write.latency_avg %.1f ms\n",
           s.rows_committed ? (double)s.latency_us_sum / (double)s.rows_committed / 1000.0 : 0.0);
    printf("metric db_write.latency_max %.1f ms\n", (double)s.latency_us_max / 1000.0);
    printf("metric db_write.queue_high_water %zu writes\n", s.write_queue_high_water);
    printf("metric db_write.retries %llu count\n", (unsigned long long)s.retries);
    double b2 = batched(&cfg, 2, rows, &s);
    printf("metric db_write.batched_2writers %.0f rows/s\n", b2);
    paced(&cfg, 10000, 3.0);
    long ncompleted = rows / 10;
    double c1 = completed(&cfg, ncompleted, &s);
    printf("metric db_write.completed_calls %.0f rows/s\n", c1);
    printf("metric db_write.completed_calls_rows_per_batch %.1f rows\n",
           s.batches_committed ? (double)s.rows_committed / (double)s.batches_committed : 0.0);
    printf("metric db_write.completed_calls_statements_per_row %.3f statements\n",
           s.rows_committed ? (double)s.statements / (double)s.rows_committed : 0.0);
    long long nsum = 0;
    if (mysql_query(my, "SELECT SUM(n) FROM ccd_campaign_stats") == 0) {
        MYSQL_RES *r = mysql_store_result(my);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        nsum = row && row[0] ? atoll(row[0]) : 0;
        if (r)
            mysql_free_result(r);
    }
    if (nsum != ncompleted) {
        fprintf(stderr, "completed calls counted %lld, want %ld\n", nsum, ncompleted);
        return 1;
    }

    long verify = 0;
    if (mysql_query(my, "SELECT COUNT(*) FROM calls WHERE fecha_llamada IS NOT NULL") == 0) {
        MYSQL_RES *r = mysql_store_result(my);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        verify = row && row[0] ? atol(row[0]) : 0;
        if (r)
            mysql_free_result(r);
    }
    printf("metric db_write.rows_touched %ld rows\n", verify);
    mysql_close(my);
    bdb_end(&cfg);
    mysql_library_end();
    return 0; /* figures are reported, not asserted */
}
