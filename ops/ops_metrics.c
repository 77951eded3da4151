/*
 * The /metrics body: the Prometheus text exposition format (0.0.4).
 *
 * Every family is written as one block (# HELP, # TYPE, then its samples), the
 * way the format requires, with names under the ccdialer_ prefix; docs/ops.md
 * lists them all.  Counters come straight from the modules' monotonic counters
 * (they start at 0 with the process, which Prometheus' rate() expects).  Label
 * values that come from configuration are escaped; numeric ones cannot need it.
 */
#include "ops/ops.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccd_version.h"
#include "core/clock.h"
#include "core/err.h"
#include "ops/ops_int.h"

/* A rendering pass: the first failed append sticks, later ones are skipped. */
typedef struct out {
    buf_t *b;
    int rc;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    if (o->rc != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    o->rc = buf_vprintf(o->b, fmt, ap);
    va_end(ap);
}

static void family(out_t *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped as the format says. */
static void esc(const char *in, char *out, size_t outsz)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 2 < outsz; i++) {
        char c = in[i];
        if (c == '\\' || c == '"' || c == '\n') {
            out[j++] = '\\';
            out[j++] = c == '\n' ? 'n' : c;
        } else {
            out[j++] = c;
        }
    }
    out[j] = '\0';
}

static void one(out_t *o, const char *name, const char *type, const char *help, uint64_t v)
{
    family(o, name, type, help);
    put(o, "%s %" PRIu64 "\n", name, v);
}

static void render_process(out_t *o, const ops_sources_t *src)
{
    family(o, "ccdialer_build_info", "gauge", "Always 1; the version is in the label.");
    put(o, "ccdialer_build_info{version=\"%s\"} 1\n", CCD_VERSION);
    one(o, "ccdialer_start_time_seconds", "gauge", "When the engine started (Unix time).",
        (uint64_t)src->start_time_s);
}

/* ---- AMI: one series per configured server ---- */

typedef struct ami_fam {
    const char *name, *type, *help;
    uint64_t (*get)(const ami_stats_t *st, ami_state_e state);
} ami_fam_t;

static uint64_t ami_up(const ami_stats_t *st, ami_state_e s) { (void)st; return s == AMI_STATE_UP; }
static uint64_t ami_events(const ami_stats_t *st, ami_state_e s) { (void)s; return st->events_in; }
static uint64_t ami_lost(const ami_stats_t *st, ami_state_e s) { (void)s; return st->events_lost; }
static uint64_t ami_conn(const ami_stats_t *st, ami_state_e s) { (void)s; return st->connects; }
static uint64_t ami_reconn(const ami_stats_t *st, ami_state_e s)
{
    (void)s;
    return st->connects > 0 ? st->connects - 1 : 0;
}
static uint64_t ami_disc(const ami_stats_t *st, ami_state_e s) { (void)s; return st->disconnects; }
static uint64_t ami_restart(const ami_stats_t *st, ami_state_e s) { (void)s; return st->restarts; }
static uint64_t ami_tmo(const ami_stats_t *st, ami_state_e s) { (void)s; return st->timeouts; }
static uint64_t ami_pend(const ami_stats_t *st, ami_state_e s) { (void)s; return st->pending; }
static uint64_t ami_bytes(const ami_stats_t *st, ami_state_e s) { (void)s; return st->bytes_in; }
static uint64_t ami_resp(const ami_stats_t *st, ami_state_e s) { (void)s; return st->responses; }

static const ami_fam_t ami_fams[] = {
    {"ccdialer_ami_up", "gauge", "1 when logged in to the Asterisk server and resynced.", ami_up},
    {"ccdialer_ami_events_total", "counter", "AMI events received.", ami_events},
    {"ccdialer_ami_events_lost_total", "counter",
     "AMI events a full subscriber queue refused.", ami_lost},
    {"ccdialer_ami_connects_total", "counter", "Successful AMI connections.", ami_conn},
    {"ccdialer_ami_reconnects_total", "counter", "AMI connections after the first.", ami_reconn},
    {"ccdialer_ami_disconnects_total", "counter", "AMI connections lost or closed.", ami_disc},
    {"ccdialer_ami_asterisk_restarts_total", "counter",
     "Asterisk restarts seen (new startup time on reconnect).", ami_restart},
    {"ccdialer_ami_action_timeouts_total", "counter", "AMI actions that got no response in time.",
     ami_tmo},
    {"ccdialer_ami_responses_total", "counter", "AMI action responses received.", ami_resp},
    {"ccdialer_ami_pending_actions", "gauge",
     "AMI actions sent and unanswered, or waiting for the login.", ami_pend},
    {"ccdialer_ami_received_bytes_total", "counter", "Bytes read from the AMI socket.", ami_bytes},
};

static void render_ami(out_t *o, const ops_sources_t *src)
{
    int n = ami_nservers(src->ami);
    ami_stats_t *st = calloc((size_t)(n > 0 ? n : 1), sizeof(*st));
    ami_state_e *state = calloc((size_t)(n > 0 ? n : 1), sizeof(*state));
    if (!st || !state) {
        free(st);
        free(state);
        o->rc = CCD_ENOMEM;
        return;
    }
    for (int i = 0; i < n; i++) {
        ami_get_stats(src->ami, i, &st[i]);
        state[i] = ami_server_state(src->ami, i);
    }
    for (size_t f = 0; f < sizeof(ami_fams) / sizeof(ami_fams[0]); f++) {
        family(o, ami_fams[f].name, ami_fams[f].type, ami_fams[f].help);
        for (int i = 0; i < n; i++) {
            char name[160];
            esc(ops__ami_name(src, i), name, sizeof(name));
            put(o, "%s{server=\"%s\"} %" PRIu64 "\n", ami_fams[f].name, name,
                ami_fams[f].get(&st[i], state[i]));
        }
    }
    free(st);
    free(state);
}

/* ---- ECCP ---- */

static void render_eccp(out_t *o, const ops_sources_t *src)
{
    eccp_stats_t st;
    eccp_server_stats(src->eccp, &st);
    one(o, "ccdialer_eccp_sessions", "gauge", "ECCP sessions open now.",
        (uint64_t)(st.sessions > 0 ? st.sessions : 0));
    one(o, "ccdialer_eccp_connections_accepted_total", "counter", "ECCP connections accepted.",
        st.accepted);
    family(o, "ccdialer_eccp_connections_refused_total", "counter",
           "ECCP connections refused: by allowed_networks (acl) or the session cap (full).");
    put(o, "ccdialer_eccp_connections_refused_total{reason=\"acl\"} %" PRIu64 "\n", st.refused_acl);
    put(o, "ccdialer_eccp_connections_refused_total{reason=\"full\"} %" PRIu64 "\n", st.refused_full);
    family(o, "ccdialer_eccp_sessions_closed_total", "counter",
           "ECCP sessions the server closed: idle timeout, output dropped for a client too slow "
           "to read it (slow), malformed input (bad).");
    put(o, "ccdialer_eccp_sessions_closed_total{reason=\"idle\"} %" PRIu64 "\n", st.closed_idle);
    put(o, "ccdialer_eccp_sessions_closed_total{reason=\"slow\"} %" PRIu64 "\n", st.closed_slow);
    put(o, "ccdialer_eccp_sessions_closed_total{reason=\"bad\"} %" PRIu64 "\n", st.closed_bad);
    one(o, "ccdialer_eccp_events_sent_total", "counter",
        "ECCP events written to sessions (registry changes fanned out).", st.events_sent);
    one(o, "ccdialer_eccp_input_paused_total", "counter",
        "Times a session stopped being read because its unsent output was too large.",
        st.in_paused_out);
    one(o, "ccdialer_eccp_db_busy_total", "counter",
        "ECCP requests answered 503 because the database read queue refused their job.",
        st.db_busy);
    one(o, "ccdialer_eccp_output_queued_max_bytes", "gauge",
        "Largest output queue any ECCP session has had.", st.out_queued_max);

    size_t n = eccp_server_req_stats(src->eccp, NULL, 0);
    eccp_req_stat_t *rs = calloc(n, sizeof(*rs));
    if (!rs) {
        o->rc = CCD_ENOMEM;
        return;
    }
    eccp_server_req_stats(src->eccp, rs, n);
    family(o, "ccdialer_eccp_requests_total", "counter",
           "ECCP requests by name (unknown: names the server does not know, malformed packets).");
    for (size_t i = 0; i < n; i++)
        put(o, "ccdialer_eccp_requests_total{request=\"%s\"} %" PRIu64 "\n", rs[i].name,
            rs[i].requests);
    family(o, "ccdialer_eccp_request_errors_total", "counter",
           "ECCP requests answered with a <failure>, by name.");
    for (size_t i = 0; i < n; i++)
        put(o, "ccdialer_eccp_request_errors_total{request=\"%s\"} %" PRIu64 "\n", rs[i].name,
            rs[i].errors);
    free(rs);
}

/* ---- FastAGI ---- */

static void render_agi(out_t *o, const ops_sources_t *src)
{
    agi_stats_t st;
    agi_get_stats(src->agi, &st);
    one(o, "ccdialer_agi_sessions", "gauge", "FastAGI sessions open now.",
        (uint64_t)(st.sessions > 0 ? st.sessions : 0));
    one(o, "ccdialer_agi_sessions_accepted_total", "counter", "FastAGI sessions accepted.",
        st.accepted);
    one(o, "ccdialer_agi_commands_total", "counter", "AGI commands sent to Asterisk.", st.commands);
    family(o, "ccdialer_agi_sessions_ended_total", "counter",
           "FastAGI sessions by how they ended: the script finished, the channel hung up, no "
           "answer within command_timeout (timeout), the peer broke the protocol (protocol), "
           "a script name not in the table (unknown_script), max_sessions reached (full).");
    put(o, "ccdialer_agi_sessions_ended_total{reason=\"finished\"} %" PRIu64 "\n", st.finished);
    put(o, "ccdialer_agi_sessions_ended_total{reason=\"hangup\"} %" PRIu64 "\n", st.hangups);
    put(o, "ccdialer_agi_sessions_ended_total{reason=\"timeout\"} %" PRIu64 "\n", st.timeouts);
    put(o, "ccdialer_agi_sessions_ended_total{reason=\"protocol\"} %" PRIu64 "\n",
        st.protocol_errors);
    put(o, "ccdialer_agi_sessions_ended_total{reason=\"unknown_script\"} %" PRIu64 "\n",
        st.unknown_script);
    put(o, "ccdialer_agi_sessions_ended_total{reason=\"full\"} %" PRIu64 "\n", st.refused_full);
    one(o, "ccdialer_agi_db_refused_total", "counter",
        "FastAGI read jobs or writes the database refused (its queue was full or it is absent).",
        st.db_refused);
}

/* ---- database ---- */

static void render_db(out_t *o, const ops_sources_t *src)
{
    db_stats_t st;
    db_get_stats(src->db, &st);
    one(o, "ccdialer_db_up", "gauge", "1 when every database writer is connected.",
        st.writer_connected);
    one(o, "ccdialer_db_write_queue_depth", "gauge", "Writes queued for the database now.",
        st.write_queue_depth);
    one(o, "ccdialer_db_write_queue_high_water", "gauge", "Most writes ever queued at once.",
        st.write_queue_high_water);
    one(o, "ccdialer_db_backpressured", "gauge",
        "1 while the write queue is too full for the dialer to place new calls.", st.backpressured);
    one(o, "ccdialer_db_writes_submitted_total", "counter", "Writes handed to the write queue.",
        st.writes_submitted);
    one(o, "ccdialer_db_writes_rejected_full_total", "counter",
        "Writes refused because the queue was full (the producer kept them).",
        st.write_rejected_full);
    one(o, "ccdialer_db_rows_committed_total", "counter", "Rows committed by the writers.",
        st.rows_committed);
    one(o, "ccdialer_db_statements_total", "counter",
        "SQL statements the writers sent (a bulk execution counts one; batch markers included).",
        st.statements);
    one(o, "ccdialer_db_rows_refused_total", "counter",
        "Rows the database refused permanently (each is logged).", st.rows_rejected);
    one(o, "ccdialer_db_batches_committed_total", "counter", "Write transactions committed.",
        st.batches_committed);
    one(o, "ccdialer_db_write_retries_total", "counter",
        "Write transactions retried (deadlock, timeout, lost connection).", st.retries);
    one(o, "ccdialer_db_reconnects_total", "counter", "Database reconnections.", st.reconnects);
    family(o, "ccdialer_db_write_latency_seconds", "summary",
           "Time from submitting a write to its commit, over committed rows.");
    put(o, "ccdialer_db_write_latency_seconds_sum %.6f\n", (double)st.latency_us_sum / 1e6);
    put(o, "ccdialer_db_write_latency_seconds_count %" PRIu64 "\n", st.rows_committed);
    family(o, "ccdialer_db_write_latency_max_seconds", "gauge",
           "Longest submit-to-commit time of any row so far.");
    put(o, "ccdialer_db_write_latency_max_seconds %.6f\n", (double)st.latency_us_max / 1e6);
    family(o, "ccdialer_db_reads_total", "counter", "Database read jobs (ECCP requests, loaders).");
    put(o, "ccdialer_db_reads_total{result=\"ok\"} %" PRIu64 "\n", st.reads_done);
    put(o, "ccdialer_db_reads_total{result=\"failed\"} %" PRIu64 "\n", st.reads_failed);
    one(o, "ccdialer_db_read_queue_depth", "gauge", "Read jobs queued now (both lanes).",
        st.read_queue_depth);
    one(o, "ccdialer_db_read_queue_high_water", "gauge", "Most read jobs ever queued at once.",
        st.read_queue_high_water);
    family(o, "ccdialer_db_reads_refused_total", "counter",
           "Read jobs the fair read queue refused, by the bound that refused them.");
    put(o, "ccdialer_db_reads_refused_total{bound=\"queue\"} %" PRIu64 "\n", st.reads_refused_total);
    put(o, "ccdialer_db_reads_refused_total{bound=\"client\"} %" PRIu64 "\n", st.reads_refused_client);
    put(o, "ccdialer_db_reads_refused_total{bound=\"address\"} %" PRIu64 "\n",
        st.reads_refused_address);
}

/* ---- registry: sizes, calls by status per campaign, agents by state ---- */

enum { AG_OUT, AG_LOGGING, AG_READY, AG_BREAK, AG_CALL, AG_HOLD, AG_NSTATES };
static const char *const agent_state_names[AG_NSTATES] = {
    "logged_out", "logging_in", "ready", "on_break", "on_call", "on_hold"};

static int agent_state(const reg_agent_t *a)
{
    if (a->login == REG_LOGGED_OUT)
        return AG_OUT;
    if (a->login == REG_LOGGING)
        return AG_LOGGING;
    if (a->on_hold)
        return AG_HOLD;
    if (a->call_id)
        return AG_CALL;
    if (a->break_id != 0)
        return AG_BREAK;
    return AG_READY;
}

/* A call's group in the ccdialer_calls family. */
typedef struct call_key {
    int64_t campaign;
    int type, status;
} call_key_t;

typedef struct call_keys {
    call_key_t *v;
    size_t n, cap;
    bool oom;
} call_keys_t;

/* Under the registry's read lock: only copies the 16-byte key (the array is sized from
 * reg_call_count beforehand, so it rarely grows here). */
static void collect_call(const reg_call_t *c, void *ctx)
{
    call_keys_t *k = ctx;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        call_key_t *nv = realloc(k->v, cap * sizeof(*nv));
        if (!nv) {
            k->oom = true;
            return;
        }
        k->v = nv;
        k->cap = cap;
    }
    k->v[k->n++] = (call_key_t){.campaign = c->campaign_id, .type = (int)c->type, .status = (int)c->status};
}

static void count_agent(const reg_agent_t *a, void *ctx)
{
    ((uint64_t *)ctx)[agent_state(a)]++;
}

static int key_cmp(const void *pa, const void *pb)
{
    const call_key_t *a = pa, *b = pb;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    if (a->campaign != b->campaign)
        return a->campaign < b->campaign ? -1 : 1;
    if (a->status != b->status)
        return a->status < b->status ? -1 : 1;
    return 0;
}

static void render_reg(out_t *o, const ops_sources_t *src)
{
    one(o, "ccdialer_registry_inbox_depth", "gauge", "Work waiting for the registry thread.",
        reg_inbox_depth(src->reg));
    one(o, "ccdialer_registry_notifications_dropped_total", "counter",
        "Registry change notifications a full subscriber queue (ECCP worker) refused.",
        reg_notifications_dropped(src->reg));
    uint64_t nlag;
    uint64_t p50 = reg_lag_quantile_us(src->reg, 0.5, &nlag);
    family(o, "ccdialer_registry_lag_seconds", "summary",
           "AMI event read -> its change applied in the registry and published.");
    put(o, "ccdialer_registry_lag_seconds{quantile=\"0.5\"} %.6f\n", (double)p50 / 1e6);
    put(o, "ccdialer_registry_lag_seconds{quantile=\"0.99\"} %.6f\n",
        (double)reg_lag_quantile_us(src->reg, 0.99, NULL) / 1e6);
    put(o, "ccdialer_registry_lag_seconds_count %" PRIu64 "\n", nlag);

    uint64_t by_state[AG_NSTATES] = {0};
    reg_visit_agents(src->reg, count_agent, by_state);
    uint64_t na = 0;
    for (int s = 0; s < AG_NSTATES; s++)
        na += by_state[s];

    call_keys_t k = {0};
    k.cap = reg_call_count(src->reg) + 64;
    k.v = malloc(k.cap * sizeof(*k.v));
    if (!k.v) {
        o->rc = CCD_ENOMEM;
        return;
    }
    reg_visit_calls(src->reg, collect_call, &k);
    if (k.oom) {
        free(k.v);
        o->rc = CCD_ENOMEM;
        return;
    }

    one(o, "ccdialer_registry_agents", "gauge", "Agents in the registry.", na);
    one(o, "ccdialer_registry_calls", "gauge",
        "Calls in the registry (live, and finished ones for their last minute).", k.n);
    family(o, "ccdialer_agents", "gauge", "Agents by state.");
    for (int s = 0; s < AG_NSTATES; s++)
        put(o, "ccdialer_agents{state=\"%s\"} %" PRIu64 "\n", agent_state_names[s], by_state[s]);

    qsort(k.v, k.n, sizeof(*k.v), key_cmp);
    family(o, "ccdialer_calls", "gauge",
           "Calls in the registry by direction, campaign (0 = none) and status.");
    for (size_t i = 0; i < k.n;) {
        size_t j = i + 1;
        while (j < k.n && key_cmp(&k.v[i], &k.v[j]) == 0)
            j++;
        put(o, "ccdialer_calls{type=\"%s\",campaign=\"%" PRId64 "\",status=\"%s\"} %zu\n",
            k.v[i].type == REG_CALL_INCOMING ? "incoming" : "outgoing", k.v[i].campaign,
            reg_call_status_name((reg_call_status_e)k.v[i].status), j - i);
        i = j;
    }
    free(k.v);
}

static void render_journal(out_t *o, const ops_sources_t *src)
{
    jnl_stats_t st;
    jnl_get_stats(src->jnl, &st);
    one(o, "ccdialer_journal_changes_total", "counter",
        "Registry changes the call journal turned into history writes.", st.changes);
    one(o, "ccdialer_journal_writes_total", "counter",
        "History writes the call journal handed to the database writer.", st.writes);
    one(o, "ccdialer_journal_writes_failed_total", "counter",
        "History writes the database writer refused (closed).", st.writes_failed);
    one(o, "ccdialer_journal_backlog", "gauge",
        "Registry changes queued for the call journal, not handled yet.", (uint64_t)st.backlog);
    one(o, "ccdialer_journal_backlog_high_water", "gauge",
        "Most registry changes ever queued for the call journal.", (uint64_t)st.backlog_high_water);
    one(o, "ccdialer_journal_audit_skipped_total", "counter",
        "Agent audit rows that could not be written (no agent row, no Hold break).",
        st.audit_skipped);
    family(o, "ccdialer_journal_lag_seconds", "summary",
           "Registry change applied -> its history writes submitted.");
    put(o, "ccdialer_journal_lag_seconds{quantile=\"0.5\"} %.6f\n",
        (double)jnl_lag_quantile_us(src->jnl, 0.5) / 1e6);
    put(o, "ccdialer_journal_lag_seconds{quantile=\"0.99\"} %.6f\n",
        (double)jnl_lag_quantile_us(src->jnl, 0.99) / 1e6);
    put(o, "ccdialer_journal_lag_seconds_sum %.6f\n", (double)st.lag_us_sum / 1e6);
    put(o, "ccdialer_journal_lag_seconds_count %" PRIu64 "\n", st.changes);
}

/* How long ago each thread group last beat, so a monitor can alert before the watchdog. */
typedef struct beat_out {
    out_t *o;
    int64_t now;
} beat_out_t;

static bool put_beat(const char *who, int64_t beat_ms, void *ctx)
{
    beat_out_t *bo = ctx;
    if (beat_ms == 0)
        return true; /* not run yet: no age to give */
    char label[2 * CONF_STR_LEN + 16];
    esc(who, label, sizeof(label));
    put(bo->o, "ccdialer_thread_heartbeat_age_seconds{thread=\"%s\"} %.3f\n", label,
        (double)(bo->now - beat_ms) / 1e3);
    return true;
}

static void render_heartbeats(out_t *o, const ops_sources_t *src)
{
    family(o, "ccdialer_thread_heartbeat_age_seconds", "gauge",
           "Seconds since the least recent thread of each group went round its loop.");
    beat_out_t bo = {.o = o, .now = clk_mono_ms()};
    ops__visit_heartbeats(src, put_beat, &bo);
}

/* The rate each campaign's pacer holds itself to (the legal cap is on these windows). */
static void render_abandon_rates(out_t *o, const ops_sources_t *src)
{
    dl_campaign_rates_t *r;
    size_t n;
    if (dl_campaign_rates(src->dl, &r, &n) != 0) {
        o->rc = CCD_ENOMEM;
        return;
    }
    family(o, "ccdialer_dialer_abandon_ratio", "gauge",
           "Abandoned / answered calls of an active campaign over 24 h, 30 days and its life "
           "(answered calls not taken by an agent within 2 s count as abandoned).");
    static const char *const win[] = {"24h", "30d", "life"};
    for (size_t i = 0; i < n; i++) {
        double v[3] = {r[i].day, r[i].month, r[i].lifetime};
        for (int w = 0; w < 3; w++)
            put(o, "ccdialer_dialer_abandon_ratio{campaign=\"%u\",window=\"%s\"} %.6f\n", r[i].id,
                win[w], v[w]);
    }
    family(o, "ccdialer_dialer_answered_24h", "gauge",
           "Answered calls of an active campaign over the last 24 h.");
    for (size_t i = 0; i < n; i++)
        put(o, "ccdialer_dialer_answered_24h{campaign=\"%u\"} %" PRIu64 "\n", r[i].id,
            r[i].answered_day);
    family(o, "ccdialer_dialer_fallback_progressive", "gauge",
           "1 while a predictive campaign places as progressive because a rate neared its cap.");
    for (size_t i = 0; i < n; i++)
        put(o, "ccdialer_dialer_fallback_progressive{campaign=\"%u\"} %d\n", r[i].id,
            r[i].fallback_progressive ? 1 : 0);
    family(o, "ccdialer_dialer_pacer_allowance", "gauge",
           "The risk one more predictive call of the campaign may take, tuned from the measured "
           "abandon rate (saved across restarts in ccd_pacer_state).");
    for (size_t i = 0; i < n; i++)
        put(o, "ccdialer_dialer_pacer_allowance{campaign=\"%u\"} %.6f\n", r[i].id,
            r[i].allowance);
    free(r);
}

static void render_dialer(out_t *o, const ops_sources_t *src)
{
    dl_stats_t st;
    dl_get_stats(src->dl, &st);
    one(o, "ccdialer_dialer_calls_placed_total", "counter", "Originates the dialer sent.",
        st.calls_placed);
    one(o, "ccdialer_dialer_calls_in_flight", "gauge",
        "Outgoing calls not finished (placing to connected), counted from the registry.",
        (uint64_t)(st.calls_in_flight > 0 ? st.calls_in_flight : 0));
    one(o, "ccdialer_dialer_originates_refused_total", "counter",
        "Originates refused at once (Error answer, server away): the call ended Failure.",
        st.originate_refused);
    one(o, "ccdialer_dialer_not_placed_total", "counter",
        "Claimed numbers not dialed (not a dialable number, registry full, stopping).",
        st.not_placed);
    one(o, "ccdialer_dialer_claims_failed_total", "counter",
        "Number claims that failed (database away); retried next cycle.", st.claims_failed);
    one(o, "ccdialer_dialer_campaigns_active", "gauge", "Outgoing campaigns active now.",
        (uint64_t)(st.campaigns_active > 0 ? st.campaigns_active : 0));
    family(o, "ccdialer_dialer_cycle_seconds", "gauge",
           "The dialer cycle's duration: the last one, the longest, the median and the 99th "
           "percentile.");
    put(o, "ccdialer_dialer_cycle_seconds{which=\"last\"} %.6f\n", (double)st.cycle_us_last / 1e6);
    put(o, "ccdialer_dialer_cycle_seconds{which=\"max\"} %.6f\n", (double)st.cycle_us_max / 1e6);
    put(o, "ccdialer_dialer_cycle_seconds{which=\"p50\"} %.6f\n", (double)st.cycle_us_p50 / 1e6);
    put(o, "ccdialer_dialer_cycle_seconds{which=\"p99\"} %.6f\n", (double)st.cycle_us_p99 / 1e6);
    one(o, "ccdialer_dialer_agents_wrapping", "gauge",
        "Agents inside their wrap-up at the last cycle, all campaigns.",
        (uint64_t)(st.agents_wrapping > 0 ? st.agents_wrapping : 0));
    one(o, "ccdialer_dialer_callback_agents_held", "gauge",
        "Agents paused in Asterisk for a \"same agent\" callback of theirs due or live, at the "
        "last cycle.",
        (uint64_t)(st.agents_held > 0 ? st.agents_held : 0));
    one(o, "ccdialer_dialer_callback_holds_total", "counter",
        "QueuePause actions sent to hold an agent for its callback.", st.holds_sent);
    one(o, "ccdialer_dialer_callback_lifts_total", "counter",
        "QueuePause actions sent to lift such a hold (callback over, or left by an engine "
        "that stopped).",
        st.lifts_sent);
    render_abandon_rates(o, src);
}

int ops_render_metrics(const ops_sources_t *src, buf_t *b)
{
    out_t o = {.b = b, .rc = 0};
    render_process(&o, src);
    bool ready = ops_ready(src, NULL);
    one(&o, "ccdialer_ready", "gauge", "1 when /readyz would answer 200.", ready);
    if (src->ami)
        render_ami(&o, src);
    if (src->eccp)
        render_eccp(&o, src);
    if (src->agi)
        render_agi(&o, src);
    if (src->db)
        render_db(&o, src);
    if (src->reg)
        render_reg(&o, src);
    if (src->jnl)
        render_journal(&o, src);
    if (src->dl)
        render_dialer(&o, src);
    render_heartbeats(&o, src);
    return o.rc;
}
