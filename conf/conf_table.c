/*
 * The directive table: every key ccdialer.conf accepts, with its type,
 * default, bounds and meaning, plus the setters that turn text into fields.
 *
 * Defaults are written as text and go through the same setter as file
 * values, so a default can never be something the file could not say, and
 * the table is the single place to read what a key means (docs/conf.md and
 * the sample conf/ccdialer.conf follow it; a test checks the sample against it).
 */
#include "conf/conf_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD(type, f) offsetof(type, f), sizeof(((type *)0)->f)

#define D_STR(sc, st, n, f, d, h) {sc, #n, CONF_T_STRING, d, FIELD(st, f), 0, 0, 0, 0, 0, h}
#define D_T(sc, st, t, n, f, d, h) {sc, #n, t, d, FIELD(st, f), 0, 0, 0, 0, 0, h}
#define D_INT(sc, st, n, f, d, lo, hi, h) {sc, #n, CONF_T_INT, d, FIELD(st, f), lo, hi, 0, 0, 0, h}
#define D_DBL(sc, st, n, f, d, lo, hi, h) {sc, #n, CONF_T_DOUBLE, d, FIELD(st, f), 0, 0, lo, hi, 0, h}

#define GEN CONF_SC_GENERAL, conf_t
#define AMI CONF_SC_AMI, conf_ami_server_t
#define DB CONF_SC_DATABASE, conf_database_t
#define ECCP CONF_SC_ECCP, conf_eccp_t
#define AGI CONF_SC_AGI, conf_agi_t
#define DL CONF_SC_DIALER, conf_dialer_t
#define LOGS CONF_SC_LOG, conf_log_t
#define MET CONF_SC_METRICS, conf_metrics_t
#define AGS CONF_SC_AGENTS, conf_agents_t

/* Indirection so the scope/struct pair macros expand into two arguments. */
#define ROW(m, ...) m(__VA_ARGS__)

const char *const conf__scope_names[CONF_SC_COUNT] = {
    [CONF_SC_GENERAL] = "general", [CONF_SC_AMI] = "ami",       [CONF_SC_DATABASE] = "database",
    [CONF_SC_ECCP] = "eccp",       [CONF_SC_AGI] = "agi",       [CONF_SC_DIALER] = "dialer",
    [CONF_SC_LOG] = "log",         [CONF_SC_METRICS] = "metrics",
    [CONF_SC_AGENTS] = "agents",
};

const conf_directive_t conf__directives[] = {
    /* [general] */
    ROW(D_T, GEN, CONF_T_PATH, pid_file, pid_file, "",
        "file the daemon writes its pid to; empty = none"),

    /* [ami] and [ami NAME] */
    ROW(D_T, AMI, CONF_T_HOST, host, host, "127.0.0.1", "Asterisk Manager Interface host"),
    ROW(D_T, AMI, CONF_T_PORT, port, port, "5038", "AMI TCP port"),
    ROW(D_STR, AMI, username, username, "admin", "AMI user (manager.conf section)"),
    ROW(D_T, AMI, CONF_T_SECRET, secret, secret, "", "AMI password"),
    ROW(D_T, AMI, CONF_T_BOOL, md5_login, md5_login, "no",
        "log in with MD5 challenge/response instead of sending the secret"),
    ROW(D_INT, AMI, ping_interval, ping_interval_s, "20", 0, 3600,
        "seconds between keepalive Pings; 0 = never"),
    ROW(D_INT, AMI, action_timeout_ms, action_timeout_ms, "10000", 100, 600000,
        "milliseconds to wait for an action's response"),
    ROW(D_INT, AMI, reconnect_min_ms, reconnect_min_ms, "500", 10, 600000,
        "first reconnect delay in milliseconds (doubles on each failure)"),
    ROW(D_INT, AMI, reconnect_max_ms, reconnect_max_ms, "30000", 10, 3600000,
        "longest reconnect delay in milliseconds"),

    /* [database] */
    ROW(D_T, DB, CONF_T_HOST, host, host, "localhost", "MariaDB host (ignored when socket is set)"),
    ROW(D_T, DB, CONF_T_PORT, port, port, "3306", "MariaDB TCP port"),
    ROW(D_T, DB, CONF_T_PATH, socket, socket, "", "MariaDB unix socket path; empty = use host/port"),
    ROW(D_STR, DB, user, user, "asterisk", "MariaDB user"),
    ROW(D_T, DB, CONF_T_SECRET, password, password, "", "MariaDB password"),
    ROW(D_T, DB, CONF_T_IDENT, name, name, "call_center", "database (schema) name"),
    ROW(D_INT, DB, writer_threads, writer_threads, "1", 1, 16, "database writer threads"),
    ROW(D_INT, DB, write_queue_max, write_queue_max, "100000", 100, 10000000,
        "most queued writes before producers are refused"),
    /* The writer keeps one bind row (~2 KiB) per batch slot: 10,000 is ~20 MiB per writer. */
    ROW(D_INT, DB, write_batch_max, write_batch_max, "500", 1, 10000,
        "most rows written per transaction"),
    ROW(D_INT, DB, connect_timeout, connect_timeout_s, "5", 1, 300,
        "seconds to wait for a database connection"),
    ROW(D_INT, DB, read_queue_max, read_queue_max, "4096", 16, 1000000,
        "most queued database reads per lane before requests are refused"),
    ROW(D_INT, DB, read_jobs_per_client, read_jobs_per_client, "32", 1, 100000,
        "most queued database reads of one ECCP session"),
    ROW(D_INT, DB, read_jobs_per_address, read_jobs_per_address, "1024", 1, 1000000,
        "most queued database reads (logins and agent checks aside) from one client address"),

    /* [eccp] */
    ROW(D_T, ECCP, CONF_T_BOOL, enabled, enabled, "yes", "serve the ECCP protocol"),
    ROW(D_T, ECCP, CONF_T_ADDR, bind, bind, "0.0.0.0", "address the ECCP server listens on"),
    ROW(D_T, ECCP, CONF_T_PORT, port, port, "20005", "ECCP TCP port"),
    {CONF_SC_ECCP, "allowed_networks", CONF_T_NETS, "", offsetof(conf_eccp_t, allowed),
     sizeof(((conf_eccp_t *)0)->allowed), 0, 0, 0, 0, (int)offsetof(conf_eccp_t, nallowed),
     "clients allowed to connect; empty = everyone"},
    ROW(D_INT, ECCP, max_sessions, max_sessions, "10000", 1, 1000000,
        "most concurrent ECCP sessions"),
    ROW(D_INT, ECCP, idle_timeout, idle_timeout_s, "300", 1, 86400,
        "seconds of silence before a session is closed"),
    ROW(D_INT, ECCP, workers, workers, "2", 1, 64, "ECCP session worker threads"),
    ROW(D_INT, ECCP, max_request_bytes, max_request_bytes, "65536", 1024, 16777216,
        "largest ECCP request accepted"),
    ROW(D_INT, ECCP, max_output_bytes, max_output_bytes, "4194304", 4096, 1073741824,
        "most unsent output per session before it is dropped"),
    ROW(D_INT, ECCP, login_timeout, login_timeout_s, "10", 1, 3600,
        "seconds a new session has to log in before it is closed"),
    ROW(D_INT, ECCP, max_unauth_sessions, max_unauth_sessions, "128", 1, 1000000,
        "most sessions not logged in yet, over all addresses"),
    ROW(D_INT, ECCP, max_unauth_per_address, max_unauth_per_address, "16", 1, 1000000,
        "most sessions not logged in yet from one client address"),
    ROW(D_INT, ECCP, max_sessions_per_address, max_sessions_per_address, "0", 0, 1000000,
        "most sessions from one client address; 0 = no cap"),
    ROW(D_INT, ECCP, login_fail_delay_ms, login_fail_delay_ms, "250", 0, 60000,
        "delay of the answer to a failed login, doubling with each failure; 0 = none"),
    ROW(D_INT, ECCP, login_fail_delay_max_ms, login_fail_delay_max_ms, "4000", 0, 600000,
        "longest delay of a failed login's answer"),
    ROW(D_INT, ECCP, login_fail_block_after, login_fail_block_after, "10", 1, 1000000,
        "failed logins from one address (or for one name) before a temporary block"),
    ROW(D_INT, ECCP, login_block_time, login_block_time_s, "300", 1, 86400,
        "seconds a block lasts, and how long failed logins are remembered"),

    /* [agi] */
    ROW(D_T, AGI, CONF_T_BOOL, enabled, enabled, "yes", "serve FastAGI"),
    ROW(D_T, AGI, CONF_T_ADDR, bind, bind, "127.0.0.1", "address the FastAGI server listens on"),
    ROW(D_T, AGI, CONF_T_PORT, port, port, "4573", "FastAGI TCP port"),
    ROW(D_INT, AGI, max_sessions, max_sessions, "1000", 1, 100000, "most concurrent AGI sessions"),
    ROW(D_INT, AGI, workers, workers, "2", 1, 64, "FastAGI session worker threads"),
    ROW(D_INT, AGI, command_timeout, command_timeout_s, "120", 1, 86400,
        "seconds Asterisk may take to send its environment or answer one command"),
    ROW(D_INT, AGI, max_line_bytes, max_line_bytes, "4096", 256, 65536,
        "longest line accepted from Asterisk"),
    ROW(D_INT, AGI, max_args, max_args, "16", 0, 64, "most AGI() arguments (agi_arg_N) a session may carry"),
    ROW(D_STR, AGI, blocked_message, blocked_message, "ccdialer/blocked",
        "sound file played to a caller on the block list"),
    ROW(D_STR, AGI, abandon_message, abandon_message, "ccdialer/abandoned",
        "sound file played to an abandoned caller when the campaign names none"),
    ROW(D_STR, AGI, callback_prompt, callback_prompt, "ccdialer/press-1-callback",
        "sound file asking the caller to press 1 to be called back"),
    ROW(D_STR, AGI, callback_done, callback_done, "ccdialer/callback-scheduled",
        "sound file confirming a scheduled call back"),
    ROW(D_STR, AGI, callback_failed, callback_failed, "ccdialer/callback-failed",
        "sound file saying the call back could not be scheduled"),
    ROW(D_STR, AGI, agentlogin_number, agentlogin_number, "agent-user",
        "sound file asking an agent for its number (agentlogin)"),
    ROW(D_STR, AGI, agentlogin_pin, agentlogin_pin, "agent-pass",
        "sound file asking an agent for its PIN (agentlogin)"),

    /* [dialer] */
    ROW(D_INT, DL, cycle_ms, cycle_ms, "1000", 100, 1000, "milliseconds between pacing cycles"),
    ROW(D_DBL, DL, abandon_rate_max, abandon_rate_max, "0.03", 0.0, 1.0,
        "highest abandoned-call rate the predictive pacer aims for"),
    ROW(D_INT, DL, max_channels, max_channels, "0", 0, 100000,
        "most concurrent originates over all campaigns; 0 = no cap"),
    ROW(D_INT, DL, originate_timeout, originate_timeout_s, "30", 1, 600,
        "seconds a call may ring before it counts as unanswered"),
    ROW(D_T, DL, CONF_T_IDENT, default_context, default_context, "from-internal",
        "dialplan context used when a campaign names none"),
    ROW(D_INT, DL, retry_backoff, retry_backoff_s, "300", 0, 604800,
        "seconds before a failed number is tried again"),
    ROW(D_INT, DL, short_call, short_call_s, "10", 0, 3600,
        "a call linked to an agent for fewer seconds than this is a ShortCall; 0 = none"),
    ROW(D_INT, DL, abandoned_redial_block_h, abandoned_redial_block_h, "72", 0, 8760,
        "hours an abandoned number is not dialed again; 0 = no block"),
    ROW(D_T, DL, CONF_T_IDENT, callback_context, callback_context, "llamada_agendada",
        "dialplan context of scheduled calls for one agent"),
    ROW(D_T, DL, CONF_T_BOOL, callback_hold, callback_hold, "yes",
        "pause an agent in every queue while a scheduled call for it is due or ringing"),

    /* [agents] */
    ROW(D_T, AGS, CONF_T_IDENT, phone_context, phone_context, "from-internal",
        "context a console's extension is dialed in to reach the agent's phone (Local/EXT@context)"),
    ROW(D_T, AGS, CONF_T_IDENT, login_context, login_context, "agent-login",
        "context whose extension N runs AgentLogin(N) (extensions_ccdialer.conf)"),
    ROW(D_T, AGS, CONF_T_IDENT, agents_context, agents_context, "agents",
        "context whose extension N runs AgentRequest(N): reaches a logged-in Agent/N"),
    ROW(D_T, AGS, CONF_T_IDENT, parking_context, parking_context, "parkedcalls",
        "context of the parking lot's spaces (unhold dials the space there)"),
    ROW(D_INT, AGS, login_ring_timeout, login_ring_timeout_s, "30", 5, 600,
        "seconds the agent's phone rings for a login before it counts as not answered"),
    ROW(D_INT, AGS, login_timeout, login_timeout_s, "120", 10, 3600,
        "seconds a login may stay unfinished (logging) before it fails"),

    /* [log] */
    ROW(D_T, LOGS, CONF_T_LOGLEVEL, level, level, "info", "lowest level written"),
    ROW(D_T, LOGS, CONF_T_LOGTARGET, target, target, "stderr", "stderr, syslog or a file path"),
    ROW(D_T, LOGS, CONF_T_BOOL, syslog, syslog_copy, "no",
        "also send every line to syslog (journald) besides the target"),

    /* [metrics] */
    ROW(D_T, MET, CONF_T_BOOL, enabled, enabled, "no",
        "serve /metrics, /healthz and /readyz over HTTP"),
    ROW(D_T, MET, CONF_T_ADDR, bind, bind, "127.0.0.1", "address the metrics endpoint listens on"),
    ROW(D_T, MET, CONF_T_PORT, port, port, "9465", "metrics endpoint TCP port"),
};

const size_t conf__ndirectives = sizeof(conf__directives) / sizeof(conf__directives[0]);

/* ---- setters ---- */

/* Copies the value into a NUL-terminated scratch buffer for the libc parsers. */
static int to_cstr(ccd_str_t v, char *dst, size_t dstsz)
{
    if (v.len >= dstsz)
        return CCD_ETOOBIG;
    memcpy(dst, v.p, v.len);
    dst[v.len] = '\0';
    return 0;
}

static int parse_ll(ccd_str_t v, long long *out)
{
    char tmp[32];
    if (v.len == 0 || to_cstr(v, tmp, sizeof(tmp)) != 0)
        return CCD_EINVAL;
    const char *s = tmp;
    if (*s == '+' || *s == '-')
        s++;
    if (*s < '0' || *s > '9') /* strtoll would skip spaces and accept "0x" */
        return CCD_EINVAL;
    for (const char *q = s; *q; q++) {
        if (*q < '0' || *q > '9')
            return CCD_EINVAL;
    }
    errno = 0;
    long long x = strtoll(tmp, NULL, 10);
    if (errno == ERANGE)
        return CCD_EINVAL;
    *out = x;
    return 0;
}

static int set_string(const conf_directive_t *d, char *field, ccd_str_t v, char *why, size_t whylen)
{
    if (v.len >= d->size) {
        snprintf(why, whylen, "expected at most %zu bytes, got %zu", d->size - 1, v.len);
        return CCD_EINVAL;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(why, whylen, "expected printable text, got a control character");
            return CCD_EINVAL;
        }
    }
    /* Clear the whole field so equal values give equal bytes (tests memcmp). */
    memset(field, 0, d->size);
    memcpy(field, v.p, v.len);
    return 0;
}

static bool valid_host(ccd_str_t v)
{
    if (v.len == 0 || v.len > 253)
        return false;
    unsigned char tmp[16];
    char s[256];
    memcpy(s, v.p, v.len);
    s[v.len] = '\0';
    if (inet_pton(AF_INET6, s, tmp) == 1 || inet_pton(AF_INET, s, tmp) == 1)
        return true;
    /* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
    size_t label = 0;
    for (size_t i = 0; i <= v.len; i++) {
        char c = i < v.len ? v.p[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || v.p[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static int set_nets(const conf_directive_t *d, void *base, ccd_str_t v, char *why, size_t whylen)
{
    conf_net_t *nets = (conf_net_t *)((char *)base + d->offset);
    int *count = (int *)((char *)base + d->nets_count_offset);
    int max = (int)(d->size / sizeof(conf_net_t));
    int n = 0;
    memset(nets, 0, d->size);
    *count = 0;
    if (v.len == 0)
        return 0;
    size_t i = 0;
    while (i <= v.len) {
        size_t j = i;
        while (j < v.len && v.p[j] != ',')
            j++;
        ccd_str_t item = {v.p + i, j - i};
        while (item.len && (item.p[0] == ' ' || item.p[0] == '\t')) {
            item.p++;
            item.len--;
        }
        while (item.len && (item.p[item.len - 1] == ' ' || item.p[item.len - 1] == '\t'))
            item.len--;
        if (item.len == 0) {
            snprintf(why, whylen, "expected a comma-separated list of addresses or CIDRs, got an empty item");
            return CCD_EINVAL;
        }
        if (n == max) {
            snprintf(why, whylen, "expected at most %d networks", max);
            return CCD_EINVAL;
        }
        char tmp[128];
        if (to_cstr(item, tmp, sizeof(tmp)) != 0 || conf_net_parse(tmp, &nets[n]) != 0) {
            snprintf(why, whylen,
                     "expected an IPv4/IPv6 address or CIDR (prefix 0-32 for IPv4, 0-128 for IPv6), got '%.*s'",
                     (int)(item.len > 64 ? 64 : item.len), item.p);
            memset(nets, 0, d->size);
            return CCD_EINVAL;
        }
        n++;
        i = j + 1;
    }
    *count = n;
    return 0;
}

int conf__set(const conf_directive_t *d, void *base, ccd_str_t v, char *why, size_t whylen)
{
    char *field = (char *)base + d->offset;
    /* Echo at most 64 bytes of a bad value: enough to spot a typo, not a paste. */
    int vl = (int)(v.len > 64 ? 64 : v.len);
    switch (d->type) {
    case CONF_T_STRING:
        return set_string(d, field, v, why, whylen);
    case CONF_T_PATH:
        if (v.len && v.p[0] != '/') {
            snprintf(why, whylen, "expected an absolute path (starting with '/') or nothing, got '%.*s'",
                     vl, v.p);
            return CCD_EINVAL;
        }
        return set_string(d, field, v, why, whylen);
    case CONF_T_IDENT:
        for (size_t i = 0; i < v.len; i++) {
            char c = v.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.')) {
                snprintf(why, whylen, "expected letters, digits, '_', '-' or '.', got '%.*s'", vl, v.p);
                return CCD_EINVAL;
            }
        }
        if (v.len == 0) {
            snprintf(why, whylen, "expected a name, got nothing");
            return CCD_EINVAL;
        }
        return set_string(d, field, v, why, whylen);
    case CONF_T_HOST:
        if (!valid_host(v)) {
            snprintf(why, whylen, "expected a host name or IP address, got '%.*s'", vl, v.p);
            return CCD_EINVAL;
        }
        return set_string(d, field, v, why, whylen);
    case CONF_T_ADDR: {
        char tmp[64];
        unsigned char bin[16];
        if (to_cstr(v, tmp, sizeof(tmp)) != 0 ||
            (inet_pton(AF_INET, tmp, bin) != 1 && inet_pton(AF_INET6, tmp, bin) != 1)) {
            snprintf(why, whylen, "expected a numeric IPv4 or IPv6 address, got '%.*s'", vl, v.p);
            return CCD_EINVAL;
        }
        return set_string(d, field, v, why, whylen);
    }
    case CONF_T_LOGTARGET:
        if (!(v.len && v.p[0] == '/') && !ccd_str_eq(v, CCD_STR_LIT("stderr")) &&
            !ccd_str_eq(v, CCD_STR_LIT("syslog"))) {
            snprintf(why, whylen, "expected stderr, syslog or an absolute file path, got '%.*s'", vl, v.p);
            return CCD_EINVAL;
        }
        return set_string(d, field, v, why, whylen);
    case CONF_T_SECRET: {
        int rc = conf__secret_resolve(v, field, d->size, why, whylen);
        return rc;
    }
    case CONF_T_INT: {
        long long x;
        if (parse_ll(v, &x) != 0) {
            snprintf(why, whylen, "expected an integer from %lld to %lld, got '%.*s'", d->min, d->max,
                     vl, v.p);
            return CCD_EINVAL;
        }
        if (x < d->min || x > d->max) {
            snprintf(why, whylen, "value %lld out of range: expected %lld to %lld", x, d->min, d->max);
            return CCD_EINVAL;
        }
        *(int *)field = (int)x;
        return 0;
    }
    case CONF_T_PORT: {
        long long x;
        if (parse_ll(v, &x) != 0) {
            snprintf(why, whylen, "expected a port number from 1 to 65535, got '%.*s'", vl, v.p);
            return CCD_EINVAL;
        }
        if (x < 1 || x > 65535) {
            snprintf(why, whylen, "port %lld out of range: expected 1 to 65535", x);
            return CCD_EINVAL;
        }
        *(uint16_t *)field = (uint16_t)x;
        return 0;
    }
    case CONF_T_BOOL: {
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (ccd_str_ieq(v, ccd_str(yes[i]))) {
                *(bool *)field = true;
                return 0;
            }
            if (ccd_str_ieq(v, ccd_str(no[i]))) {
                *(bool *)field = false;
                return 0;
            }
        }
        snprintf(why, whylen, "expected yes/no, true/false, on/off or 1/0, got '%.*s'", vl, v.p);
        return CCD_EINVAL;
    }
    case CONF_T_DOUBLE: {
        char tmp[64];
        char *end = NULL;
        double x = 0;
        bool ok = v.len > 0 && to_cstr(v, tmp, sizeof(tmp)) == 0;
        /* Plain decimal only: strtod would also take hex, "inf", "nan" and leading spaces. */
        for (size_t i = 0; ok && i < v.len; i++) {
            char c = tmp[i];
            ok = (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E';
        }
        if (ok) {
            errno = 0;
            x = strtod(tmp, &end);
            ok = end && *end == '\0' && end != tmp && errno != ERANGE && isfinite(x);
        }
        if (!ok) {
            snprintf(why, whylen, "expected a number from %g to %g, got '%.*s'", d->dmin, d->dmax, vl, v.p);
            return CCD_EINVAL;
        }
        if (x < d->dmin || x > d->dmax) {
            snprintf(why, whylen, "value %g out of range: expected %g to %g", x, d->dmin, d->dmax);
            return CCD_EINVAL;
        }
        *(double *)field = x;
        return 0;
    }
    case CONF_T_LOGLEVEL: {
        char tmp[16];
        log_level_e lvl;
        if (to_cstr(v, tmp, sizeof(tmp)) != 0 || log_level_parse(tmp, &lvl) != 0) {
            snprintf(why, whylen, "expected error, warning, notice, info or debug, got '%.*s'", vl, v.p);
            return CCD_EINVAL;
        }
        *(log_level_e *)field = lvl;
        return 0;
    }
    case CONF_T_NETS:
        return set_nets(d, base, v, why, whylen);
    }
    snprintf(why, whylen, "internal error: unknown directive type %d", (int)d->type);
    return CCD_EINVAL;
}

void conf__apply_defaults(conf_scope_e scope, void *base)
{
    char why[CCD_ERR_LEN];
    for (size_t i = 0; i < conf__ndirectives; i++) {
        const conf_directive_t *d = &conf__directives[i];
        if (d->scope != scope)
            continue;
        /* Defaults are constants checked by the tests; a failure is a bug in this table. */
        if (conf__set(d, base, ccd_str(d->def), why, sizeof(why)) != 0) {
            LOG_ERR("conf", "bad built-in default for %s: %s", d->name, why);
            abort();
        }
    }
}
