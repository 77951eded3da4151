/*
 * Readiness and liveness, shared by /readyz, /healthz, /metrics' ccdialer_ready and
 * the systemd watchdog.  Only getters are read: atomics, no locks, no I/O.
 */
#include "ops/ops.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/clock.h"

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
        snprintf(what, sizeof(what), "ami %s", i < src->cf->nami ? src->cf->ami[i].name : "?");
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

static bool stale(int64_t beat_ms, int64_t now, int64_t max_age_ms, const char *who, char *why,
                  size_t whylen)
{
    if (beat_ms == 0 || now - beat_ms <= max_age_ms)
        return false;
    snprintf(why, whylen, "thread %s has not gone round its loop for %" PRId64 " ms", who,
             now - beat_ms);
    return true;
}

bool ops_threads_alive(const ops_sources_t *src, int64_t max_age_ms, char *why, size_t whylen)
{
    int64_t now = clk_mono_ms();
    if (src->reg && stale(reg_heartbeat_ms(src->reg), now, max_age_ms, "reg", why, whylen))
        return false;
    for (int i = 0; src->ami && i < ami_nservers(src->ami); i++) {
        ami_stats_t st;
        ami_get_stats(src->ami, i, &st);
        char who[96];
        snprintf(who, sizeof(who), "ami-%s", i < src->cf->nami ? src->cf->ami[i].name : "?");
        if (stale(st.heartbeat_ms, now, max_age_ms, who, why, whylen))
            return false;
    }
    if (src->db) {
        db_stats_t st;
        db_get_stats(src->db, &st);
        if (stale(st.heartbeat_ms, now, max_age_ms, "db-writer", why, whylen))
            return false;
    }
    if (src->eccp) {
        eccp_stats_t st;
        eccp_server_stats(src->eccp, &st);
        if (stale(st.heartbeat_ms, now, max_age_ms, "eccp-worker", why, whylen))
            return false;
    }
    if (src->jnl) {
        jnl_stats_t st;
        jnl_get_stats(src->jnl, &st);
        if (stale(st.heartbeat_ms, now, max_age_ms, "journal", why, whylen))
            return false;
    }
    if (src->dl) {
        dl_stats_t st;
        dl_get_stats(src->dl, &st);
        if (stale(st.heartbeat_ms, now, max_age_ms, "dialer", why, whylen))
            return false;
    }
    if (src->agi) {
        agi_stats_t st;
        agi_get_stats(src->agi, &st);
        if (stale(st.heartbeat_ms, now, max_age_ms, "agi-worker", why, whylen))
            return false;
    }
    if (whylen)
        why[0] = '\0';
    return true;
}
