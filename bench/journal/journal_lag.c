/*
 * journal_lag: how long a registry change waits before the call journal has submitted
 * its history writes, and how many changes per second the journal turns into writes.
 *
 * The real registry (its own thread) and the real journal (its own thread); the
 * database writer is the tests' stand-in (test/journal/jnl_fake.c, counting only), so
 * the figures are the journal's own cost, not MariaDB's (bench/db covers the writer).
 * Calls go Dialing -> Ringing -> OnQueue -> Success -> Hangup (5 changes, 12 writes).
 *
 *   metric journal_lag.p50 / .p99 / .max   ms, at a paced 5,000 changes/s for 4 s
 *   metric journal.changes_per_s            changes/s, 200,000 changes posted at once
 *   metric journal.writes_per_s             writes submitted/s in the same flood
 *   metric journal.flood_lag_p99            ms, in the flood (queueing included)
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "jnl_fake.h"
#include "journal/journal.h"

#define PACED_RATE 5000   /* changes per second */
#define PACED_SECONDS 4
#define FLOOD_CHANGES 200000

typedef struct rig {
    conf_t cf;
    reg_t *reg;
    jnl_t *j;
    fake_db_t f;
} rig_t;

static void rig_start(rig_t *g)
{
    conf_defaults(&g->cf);
    g->reg = reg_new(1000000, NULL, 0);
    fake_init(&g->f);
    g->f.count_only = true;
    char err[256];
    g->j = jnl_new(&g->cf, g->reg, NULL, err, sizeof(err));
    if (!g->reg || !g->j) {
        fprintf(stderr, "journal_lag: %s\n", err);
        exit(1);
    }
    jnl_db_ops_t ops = fake_ops(&g->f);
    jnl_set_db_ops(g->j, &ops);
    if (jnl_start(g->j) != 0 || reg_start(g->reg) != 0) {
        fprintf(stderr, "journal_lag: cannot start\n");
        exit(1);
    }
}

static void rig_stop(rig_t *g)
{
    reg_stop(g->reg);
    jnl_stop(g->j);
    jnl_free(g->j);
    reg_free(g->reg);
    fake_free(&g->f);
}

/* Change k (0-based) of the run: call k / 5, step k % 5. */
static void post_change(rig_t *g, uint64_t k)
{
    static const reg_call_status_e steps[5] = {REG_CS_DIALING, REG_CS_RINGING, REG_CS_ONQUEUE,
                                               REG_CS_SUCCESS, REG_CS_HANGUP};
    int s = (int)(k % 5);
    int64_t now = clk_wall_ms();
    reg_call_t c = jt_call((int64_t)(k / 5) + 1, 0, 1);
    c.status = steps[s];
    snprintf(c.trunk, sizeof(c.trunk), "SIP/prov");
    if (s >= 1)
        c.t_answer_ms = now;
    if (s >= 2)
        c.t_queue_ms = now;
    if (s >= 3)
        jt_link(&c, now);
    if (s >= 4)
        c.t_end_ms = now + 600000; /* not swept during the run */
    while (jt_post_call(g->reg, &c, false) == CCD_EFULL)
        sched_yield();
}

static void sleep_until_us(int64_t t_us)
{
    int64_t d = t_us - clk_mono_us();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = d / 1000000, .tv_nsec = (d % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void paced(void)
{
    rig_t g;
    rig_start(&g);
    uint64_t total = (uint64_t)PACED_RATE * PACED_SECONDS;
    int64_t t0 = clk_mono_us();
    /* one change every 1e6 / rate µs, posted in 1 ms slices */
    for (uint64_t k = 0; k < total;) {
        int64_t due = t0 + (int64_t)(k * 1000000 / PACED_RATE);
        sleep_until_us(due);
        uint64_t upto = (uint64_t)((clk_mono_us() - t0) * PACED_RATE / 1000000) + 1;
        for (; k < total && k < upto; k++)
            post_change(&g, k);
    }
    jnl_sync(g.j, -1);
    jnl_stats_t st;
    jnl_get_stats(g.j, &st);
    printf("metric journal_lag.p50 %.3f ms\n", (double)jnl_lag_quantile_us(g.j, 0.5) / 1e3);
    printf("metric journal_lag.p99 %.3f ms\n", (double)jnl_lag_quantile_us(g.j, 0.99) / 1e3);
    printf("metric journal_lag.max %.3f ms\n", (double)st.lag_us_max / 1e3);
    printf("# paced: %" PRIu64 " changes at %d/s, %" PRIu64 " writes, backlog high water %zu\n",
           st.changes, PACED_RATE, st.writes, st.backlog_high_water);
    rig_stop(&g);
}

static void flood(void)
{
    rig_t g;
    rig_start(&g);
    int64_t t0 = clk_mono_us();
    for (uint64_t k = 0; k < FLOOD_CHANGES; k++)
        post_change(&g, k);
    jnl_sync(g.j, -1);
    /* the registry applied everything posted before the marker was handled? wait for the
     * count, then sync once more */
    jnl_stats_t st;
    do {
        jnl_get_stats(g.j, &st);
        if (st.changes < FLOOD_CHANGES)
            sched_yield();
    } while (st.changes < FLOOD_CHANGES);
    jnl_sync(g.j, -1);
    double secs = (double)(clk_mono_us() - t0) / 1e6;
    jnl_get_stats(g.j, &st);
    printf("metric journal.changes_per_s %.0f changes/s\n", (double)st.changes / secs);
    printf("metric journal.writes_per_s %.0f writes/s\n", (double)st.writes / secs);
    printf("metric journal.flood_lag_p99 %.3f ms\n", (double)jnl_lag_quantile_us(g.j, 0.99) / 1e3);
    printf("# flood: %" PRIu64 " changes, %" PRIu64 " writes in %.2f s, backlog high water %zu, "
           "registry notifications dropped %" PRIu64 "\n",
           st.changes, st.writes, secs, st.backlog_high_water, reg_notifications_dropped(g.reg));
    rig_stop(&g);
}

int main(void)
{
    log_set_level(LOG_LVL_WARN);
    paced();
    flood();
    return 0;
}
