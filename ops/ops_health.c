/*
 * Readiness and liveness, shared by /readyz, /healthz, /metrics' ccdialer_ready and
 * the systemd watchdog, and the one list of the threads that matter
 * (ops__visit_heartbeats), which /metrics reports too.  Only getters are read:
 * atomics, no locks, no I/O.
 */
#include "ops/ops.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/clock.h"
#include "ops/ops_int.h"

static void line(buf_t *b, const char *what, bool up, const char *detail)
{
    if (b)
        buf_printf(b, "%s: %s%s%s%s\n", what, up ? "up" : "down", detail[0] ? " (" : "", detail,
                   detail[0] ? ")" : "");
}

bool ops_ready(const ops_sources_t *src, buf_t *b)
{
    bool ready = true;
    bool db_up = false;
    char detail[128] = "";
    if (src->db) {
        db_stats_t st;
        db_get_stats(src->db, &st);
        db_up = st.writer_connected;
        snprintf(detail, sizeof(detail), "write queue %zu", st.write_queue_depth);
    } else {
        snprintf(detail, sizeof(detail), "not started");
    }
    line(b, "database", db_up, detail);
    ready = ready && db_up;
    int n = src->ami ? ami_nservers(src->ami) : 0;
    if (!src->ami) {
        line(b, "ami", false, "not started");
        ready = false;
    }
    for (int i = 0; i < n; i++) {
        ami_state_e s = ami_server_state(src->ami, i);
        char what[96];
        snprintf(what, sizeof(what), "ami %s", ops__ami_name(src, i));
        snprintf(detail, sizeof(detail), "%s", s == AMI_STATE_UP ? "" : ami_state_name(s));
        line(b, what, s == AMI_STATE_UP, detail);
        ready = ready && s == AMI_STATE_UP;
    }
    if (src->eccp) {
        eccp_stats_t st;
        eccp_server_stats(src->eccp, &st);
        snprintf(detail, sizeof(detail), "port %u, %d session%s",
                 (unsigned)eccp_server_port(src->eccp), st.sessions, st.sessions == 1 ? "" : "s");
        line(b, "eccp", true, detail);
    }
    return ready;
}

const char *ops__ami_name(const ops_sources_t *src, int i)
{
    return i < src->cf->nami ? src->cf->ami[i].name : "?";
}

void ops__visit_heartbeats(const ops_sources_t *src, ops__beat_fn fn, void *ctx)
{
    if (src->reg && !fn("reg", reg_heartbeat_ms(src->reg), ctx))
        return;
    for (int i = 0; src->ami && i < ami_nservers(src->ami); i++) {
        ami_stats_t st;
        ami_get_stats(src->ami, i, &st);
        char who[CONF_STR_LEN + 8];
        snprintf(who, sizeof(who), "ami-%s", ops__ami_name(src, i));
        if (!fn(who, st.heartbeat_ms, ctx))
            return;
    }
    if (src->db) {
        db_stats_t st;
        db_get_stats(src->db, &st);
        if (!fn("db-writer", st.heartbeat_ms, ctx))
            return;
    }
    if (src->eccp) {
        eccp_stats_t st;
        eccp_server_stats(src->eccp, &st);
        if (!fn("eccp-worker", st.heartbeat_ms, ctx))
            return;
    }
    if (src->jnl) {
        jnl_stats_t st;
        jnl_get_stats(src->jnl, &st);
        if (!fn("journal", st.heartbeat_ms, ctx))
            return;
    }
    if (src->dl) {
        dl_stats_t st;
        dl_get_stats(src->dl, &st);
        if (!fn("dialer", st.heartbeat_ms, ctx))
            return;
    }
    if (src->agi) {
        agi_stats_t st;
        agi_get_stats(src->agi, &st);
        fn("agi-worker", st.heartbeat_ms, ctx);
    }
}

typedef struct alive {
    int64_t now, max_age_ms;
    char *why;
    size_t whylen;
    bool stuck;
} alive_t;

static bool check_beat(const char *who, int64_t beat_ms, void *ctx)
{
    alive_t *a = ctx;
    if (beat_ms == 0 || a->now - beat_ms <= a->max_age_ms)
        return true;
    snprintf(a->why, a->whylen, "thread %s has not gone round its loop for %" PRId64 " ms", who,
             a->now - beat_ms);
    a->stuck = true;
    return false;
}

bool ops_threads_alive(const ops_sources_t *src, int64_t max_age_ms, char *why, size_t whylen)
{
    alive_t a = {.now = clk_mono_ms(), .max_age_ms = max_age_ms, .why = why, .whylen = whylen};
    if (whylen)
        why[0] = '\0';
    ops__visit_heartbeats(src, check_beat, &a);
    return !a.stuck;
}
