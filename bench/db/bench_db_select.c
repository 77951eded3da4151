/*
 * db_select: time to claim a batch of 100 numbers (db_claim_numbers with the
 * Placing write, as the dialer does) from a 1,000,000-number campaign.
 * Generates the list with INSERT ... SELECT from the seq_1_to_1000000 engine
 * and reports that time too.  Three shapes of the list:
 *   fresh   - every number pending;
 *   half    - the first 500,000 numbers finished (Success) or failed past retries;
 *   tail    - all but the last 2,000 finished: a claim must skip ~998,000 rows.
 *
 *   db_select [CLAIMS]   (default 200 claims per shape)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/db/benchdb.h"
#include "core/err.h"
#include "core/log.h"

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int g_pause_ms;
static int g_no_cursor;

static void run_shape(MYSQL *my, const char *name, int claims, bool log_progress)
{
    double *t = calloc((size_t)claims, sizeof(double));
    db_claimed_call_t out[100];
    db_claim_cursor_t cur;
    memset(&cur, 0, sizeof(cur));
    db_claim_req_t req = {.id_campaign = 1, .n = 100, .owner = "benchowner", .max_retries = 3,
                          .mark_placing = true, .log_progress = log_progress,
                          .cursor = g_no_cursor ? NULL : &cur};
    long got = 0;
    for (int i = 0; i < claims; i++) {
        int n = 0;
        double t0 = bdb_now();
        if (db_claim_numbers(DBT_CONN(my), &req, out, 100, &n)) {
            fprintf(stderr, "claim failed: %s\n", mysql_error(my));
            exit(1);
        }
        t[i] = (bdb_now() - t0) * 1000.0;
        if (g_pause_ms > 0)
            usleep((useconds_t)g_pause_ms * 1000);
        got += n;
        if (n != 100) {
            fprintf(stderr, "claim %d returned %d numbers\n", i, n);
            exit(1);
        }
    }
    qsort(t, (size_t)claims, sizeof(double), cmpd);
    double sum = 0;
    for (int i = 0; i < claims; i++)
        sum += t[i];
    printf("metric db_select.claim100_%s_median %.2f ms\n", name, t[claims / 2]);
    printf("metric db_select.claim100_%s_p95 %.2f ms\n", name, t[(claims * 95) / 100]);
    printf("metric db_select.claim100_%s_mean %.2f ms\n", name, sum / claims);
    printf("metric db_select.claim100_%s_max %.2f ms\n", name, t[claims - 1]);
    free(t);
    (void)got;
}

/* Mass UPDATEs leave a million delete-marked index entries for InnoDB's purge; the dialer
 * never makes them in one go, so wait for purge to measure the steady state. */
static void purge(MYSQL *my)
{
    double t0 = bdb_now();
    if (mysql_query(my, "SET GLOBAL innodb_max_purge_lag_wait = 0"))
        fprintf(stderr, "bench: cannot wait for purge (%s); figures include purge lag\n",
                mysql_error(my));
    printf("metric db_select.purge_wait %.2f s\n", bdb_now() - t0);
}

int main(int argc, char **argv)
{
    int claims = argc > 1 ? atoi(argv[1]) : 200;
    g_pause_ms = argc > 2 ? atoi(argv[2]) : 0;
    g_no_cursor = getenv("CCD_BENCH_NO_CURSOR") != NULL;
    if (claims < 10)
        claims = 10;
    log_set_level(LOG_LVL_WARN);
    mysql_library_init(0, NULL, NULL);
    conf_database_t cfg;
    bdb_begin(&cfg, "ccdb_sbench");
    MYSQL *my = bdb_fresh(&cfg);
    bdb_exec(my, "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
                 "daytime_end, retries, context, queue, script) VALUES (1, 'b', CURDATE(), "
                 "CURDATE(), '00:00:00', '23:59:59', 3, 'c', '8000', '')");
    bdb_exec(my, "INSERT INTO campaign_lists (id, id_campaign, name, upload, date_entered) VALUES "
                 "(1, 1, 'l', '', NOW())");
    double t0 = bdb_now();
    bdb_exec(my, "INSERT INTO calls (id, id_list, phone) SELECT seq, 1, CONCAT('5', LPAD(seq, 7, "
                 "'0')) FROM seq_1_to_1000000");
    printf("metric db_select.generate_1M %.2f s\n", bdb_now() - t0);
    bdb_exec(my, "ANALYZE TABLE calls");
    purge(my);

    run_shape(my, "fresh", claims, false);
    run_shape(my, "fresh_with_log", claims, true);

    t0 = bdb_now();
    bdb_exec(my, "UPDATE calls SET status = IF(id % 2, 'Success', 'Failure'), retries = "
                 "IF(id % 2, 1, 3), ccd_claim_owner = NULL WHERE id <= 500000");
    bdb_exec(my, "UPDATE calls SET ccd_claim_owner = NULL, status = NULL, retries = 0 WHERE "
                 "id > 500000 AND ccd_claim_owner IS NOT NULL");
    purge(my);
    run_shape(my, "half", claims, false);

    bdb_exec(my, "UPDATE calls SET status = 'Success', retries = 1, ccd_claim_owner = NULL WHERE "
                 "id <= 998000");
    bdb_exec(my, "UPDATE calls SET ccd_claim_owner = NULL, status = NULL, retries = 0 WHERE "
                 "id > 998000");
    purge(my);
    run_shape(my, "tail", claims > 19 ? 19 : claims, false); /* 2,000 numbers = 20 claims */
    printf("metric db_select.setup_updates %.2f s\n", bdb_now() - t0);

    mysql_close(my);
    bdb_end(&cfg);
    mysql_library_end();
    return 0;
}
