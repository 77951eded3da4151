/*
 * ops_scrape: what one /metrics scrape costs on a large center, and how long it
 * holds the registry's read lock (the only way a scrape can touch an engine
 * thread).  A registry with 5,000 agents and 50,000 calls over 20 campaigns and
 * every status; 20 scrapes through the real HTTP endpoint.
 *   metric ops_scrape_ms_p50 / _max       whole scrape, client side
 *   metric ops_scrape_bytes               body size
 *   metric ops_reg_lock_ms_max            the two read-locked registry walks a scrape makes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "ops/ops.h"

#define AGENTS 5000
#define CALLS 50000
#define ROUNDS 20

static void fill(reg_txn_t *tx, void *arg)
{
    (void)arg;
    for (int i = 0; i < AGENTS; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", 10000 + i);
        reg_agent_t *a = reg_txn_agent(tx, num, true);
        if (a) {
            a->login = (reg_login_e)(i % 3);
            a->break_id = i % 7 == 0;
        }
    }
    for (int i = 0; i < CALLS; i++) {
        reg_call_t *c = reg_txn_call_new(tx);
        if (!c)
            return;
        c->campaign_id = i % 20;
        c->status = (reg_call_status_e)(i % (REG_CS_LOST + 1));
        c->type = i % 2 ? REG_CALL_INCOMING : REG_CALL_OUTGOING;
    }
}

static void count_agent(const reg_agent_t *a, void *ctx)
{
    (void)a;
    (*(size_t *)ctx)++;
}

static void count_call(const reg_call_t *c, void *ctx)
{
    (void)c;
    (*(size_t *)ctx)++;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    log_set_level(LOG_LVL_ERR);
    static conf_t cf;
    conf_defaults(&cf);
    reg_t *reg = reg_new(10, NULL, 0);
    ami_t *ami = ami_new(&cf, &(ami_opts_t){0}, NULL, 0);
    if (!reg || !ami || reg_post(reg, fill, NULL, NULL) != 0)
        return 1;
    reg_drain(reg);
    ops_sources_t src = {.cf = &cf, .reg = reg, .ami = ami};
    conf_metrics_t mc = {.enabled = true, .port = 0};
    snprintf(mc.bind, sizeof(mc.bind), "127.0.0.1");
    char err[256];
    ops_t *o = ops_new(&mc, &src, err, sizeof(err));
    if (!o || ops_start(o) != 0)
        return 1;
    static char body[16 << 20];
    int64_t t[ROUNDS];
    size_t bytes = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int code = 0;
        int64_t t0 = clk_mono_us();
        if (ops_http_get("127.0.0.1", ops_port(o), "/metrics", 30000, &code, body, sizeof(body)) != 0 ||
            code != 200)
            return 1;
        t[i] = clk_mono_us() - t0;
        bytes = strlen(body);
    }
    int64_t lock_max = 0;
    for (int i = 0; i < ROUNDS; i++) {
        size_t na = 0, nc = 0;
        int64_t t0 = clk_mono_us();
        reg_visit_agents(reg, count_agent, &na);
        reg_visit_calls(reg, count_call, &nc);
        int64_t d = clk_mono_us() - t0;
        lock_max = d > lock_max ? d : lock_max;
        if (na != AGENTS || nc != CALLS)
            return 1;
    }
    qsort(t, ROUNDS, sizeof(t[0]), cmp64);
    printf("metric ops_scrape_ms_p50 %.2f ms\n", (double)t[ROUNDS / 2] / 1e3);
    printf("metric ops_scrape_ms_max %.2f ms\n", (double)t[ROUNDS - 1] / 1e3);
    printf("metric ops_scrape_bytes %zu bytes\n", bytes);
    printf("metric ops_reg_lock_ms_max %.2f ms\n", (double)lock_max / 1e3);
    ops_free(o);
    ami_free(ami);
    reg_free(reg);
    return 0;
}
