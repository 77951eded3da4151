/*
 * Typed AMI operations: the actions the engine sends about a call or a peer,
 * and the readers of their answers (including the Asterisk CLI output that
 * Command returns).  Everything here is pure: builders make an ami_action_t,
 * readers look at an ami_response_t; sending is the caller's (ami_send).
 *
 * Command output arrives in two shapes: one "Output:" header per line
 * (Asterisk 14 and later; the header value has its leading blanks removed by
 * the parser) or the legacy "Response: Follows" body (lines kept as sent).
 * out_lines walks both the same way.
 */
#include "ami/ami.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* ---------------- builders ---------------- */

/* a with every header added, or NULL (a freed) when one was refused (CR/LF) or memory ran out. */
static ami_action_t *finish(ami_action_t *a, int rc)
{
    if (rc != 0) {
        ami_action_free(a);
        return NULL;
    }
    return a;
}

/* One header of a builder's action; a NULL key leaves it out (see opt). */
typedef struct hdr {
    const char *key, *val;
} hdr_t;

/* A header sent only when it has a value (v neither NULL nor ""). */
static hdr_t opt(const char *key, const char *v)
{
    return (hdr_t){v && v[0] ? key : NULL, v};
}

/* Action name with the headers h[0..n) in order; NULL when one was refused (a required
 * value NULL or holding CR/LF) or memory ran out. */
static ami_action_t *build(const char *name, const hdr_t *h, size_t n)
{
    ami_action_t *a = ami_action_new(name);
    if (!a)
        return NULL;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (h[i].key)
            rc = ami_action_add(a, h[i].key, h[i].val);
    return finish(a, rc);
}

#define BUILD(name, ...)                                                                          \
    build(name, (const hdr_t[]){__VA_ARGS__},                                                      \
          sizeof((const hdr_t[]){__VA_ARGS__}) / sizeof(hdr_t))

/* An int header value ("%d" always fits). */
typedef struct num {
    char s[16];
} num_t;

static num_t num(int v)
{
    num_t n;
    snprintf(n.s, sizeof(n.s), "%d", v);
    return n;
}

ami_action_t *ami_op_hangup(const char *channel)
{
    return BUILD("Hangup", {"Channel", channel});
}

ami_action_t *ami_op_redirect(const char *channel, const char *context, const char *exten,
                              int priority)
{
    num_t pri = num(priority);
    return BUILD("Redirect", {"Channel", channel}, {"Exten", exten}, {"Context", context},
                 {"Priority", pri.s});
}

ami_action_t *ami_op_atxfer(const char *channel, const char *context, const char *exten)
{
    return BUILD("Atxfer", {"Channel", channel}, {"Exten", exten}, {"Context", context});
}

ami_action_t *ami_op_mixmonitor_mute(const char *channel, bool mute)
{
    return BUILD("MixMonitorMute", {"Channel", channel}, {"Direction", "read"},
                 {"State", mute ? "1" : "0"});
}

ami_action_t *ami_op_originate_exten(const char *channel, const char *context, const char *exten,
                                     int timeout_ms, const char *callerid, const char *channel_id)
{
    num_t tmo = num(timeout_ms);
    return BUILD("Originate", {"Channel", channel}, opt("Timeout", timeout_ms > 0 ? tmo.s : NULL),
                 opt("CallerID", callerid), {"Async", "true"}, {"Context", context},
                 {"Exten", exten}, {"Priority", "1"}, opt("ChannelId", channel_id));
}

ami_action_t *ami_op_queue_add(const char *queue, const char *interface, int penalty,
                               const char *member_name)
{
    num_t pen = num(penalty);
    return BUILD("QueueAdd", {"Queue", queue}, {"Interface", interface}, {"Penalty", pen.s},
                 {"Paused", "false"}, opt("MemberName", member_name));
}

ami_action_t *ami_op_queue_remove(const char *queue, const char *interface)
{
    return BUILD("QueueRemove", {"Queue", queue}, {"Interface", interface});
}

ami_action_t *ami_op_queue_pause(const char *interface, const char *queue, bool paused,
                                 const char *reason)
{
    return BUILD("QueuePause", {"Interface", interface}, {"Paused", paused ? "true" : "false"},
                 opt("Queue", queue), opt("Reason", reason));
}

ami_action_t *ami_op_park(const char *channel, const char *timeout_channel)
{
    return BUILD("Park", {"Channel", channel}, opt("TimeoutChannel", timeout_channel));
}

ami_action_t *ami_op_agent_logoff(const char *agent)
{
    return BUILD("AgentLogoff", {"Agent", agent}, {"Soft", "false"});
}

ami_action_t *ami_op_core_show_channel(const char *channel)
{
    ami_action_t *a = ami_action_new("Command");
    if (!a)
        return NULL;
    return finish(a, ami_action_addf(a, "Command", "core show channel %s", channel));
}

static const char *const peer_prefix[] = {[AMI_PEER_SIP] = "SIP/", [AMI_PEER_PJSIP] = "PJSIP/",
                                          [AMI_PEER_IAX2] = "IAX2/"};

int ami_peer_parse(const char *ext, ami_peer_tech_e *tech, const char **peer)
{
    for (int t = 0; t < (int)(sizeof(peer_prefix) / sizeof(peer_prefix[0])); t++) {
        size_t l = strlen(peer_prefix[t]);
        if (strncmp(ext, peer_prefix[t], l) == 0) {
            *tech = (ami_peer_tech_e)t;
            *peer = ext + l;
            return 0;
        }
    }
    return CCD_EINVAL;
}

ami_action_t *ami_op_peer_status(ami_peer_tech_e tech, const char *peer)
{
    static const char *const cmd[] = {[AMI_PEER_SIP] = "sip show peer",
                                      [AMI_PEER_PJSIP] = "pjsip show endpoint",
                                      [AMI_PEER_IAX2] = "iax2 show peer"};
    if ((unsigned)tech > AMI_PEER_IAX2)
        return NULL;
    ami_action_t *a = ami_action_new("Command");
    if (!a)
        return NULL;
    return finish(a, ami_action_addf(a, "Command", "%s %s", cmd[tech], peer));
}

/* ---------------- answers ---------------- */

/* Whether an answer arrived at all; the code saying why not otherwise. */
static int answered(const ami_response_t *r)
{
    if (r->status != CCD_OK)
        return r->status;
    return r->resp ? CCD_OK : CCD_ECLOSED;
}

bool ami_op_ok(const ami_response_t *r, const char **why)
{
    int rc = answered(r);
    if (why)
        *why = rc != CCD_OK ? ccd_strerror(rc) : r->ok ? "" : ami_rec_get(r->resp, "Message");
    return rc == CCD_OK && r->ok;
}

/* The lines of a Command answer, in order, without their line ends. */
typedef struct out_lines {
    const ami_rec_t *rec;
    int i;
    const char *lp; /* the legacy body, after the lines already given */
} out_lines_t;

static void out_lines_init(out_lines_t *it, const ami_rec_t *rec)
{
    it->rec = rec;
    it->i = 0;
    it->lp = rec->output;
}

/* The next line as a slice (not NUL-terminated); false at the end. */
static bool out_lines_next(out_lines_t *it, ccd_str_t *line)
{
    const ami_rec_t *rec = it->rec;
    while (it->i < rec->n) {
        int i = it->i++;
        if (strcasecmp(rec->kv[i].key, "Output") != 0)
            continue;
        *line = ccd_str(rec->kv[i].val);
        return true;
    }
    const char *lp = it->lp;
    if (!lp || !*lp)
        return false;
    const char *nl = strchr(lp, '\n');
    size_t l = nl ? (size_t)(nl - lp) : strlen(lp);
    it->lp = nl ? nl + 1 : lp + l;
    if (l && lp[l - 1] == '\r')
        l--;
    *line = (ccd_str_t){lp, l};
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- core show channel: the Variables: section ---- */

/* The variable on line, when it is NAME=value with NAME of word characters. */
static bool var_line(ccd_str_t line, size_t *name_len)
{
    size_t k = 0;
    while (k < line.len && (isalnum((unsigned char)line.p[k]) || line.p[k] == '_'))
        k++;
    *name_len = k;
    return k > 0 && k < line.len && line.p[k] == '=';
}

/* Whether line is the section header: blanks, "Variables:", blanks (what Issabel matched). */
static bool vars_header(ccd_str_t line)
{
    size_t b = 0, e = line.len;
    while (b < e && is_blank(line.p[b]))
        b++;
    while (e > b && is_blank(line.p[e - 1]))
        e--;
    return e - b == 10 && memcmp(line.p + b, "Variables:", 10) == 0;
}

static bool blank_line(ccd_str_t line)
{
    for (size_t k = 0; k < line.len; k++)
        if (!is_blank(line.p[k]))
            return false;
    return true;
}

/* Walks the section's variables: counts them and their bytes, or (out set) copies them. */
static void walk_vars(const ami_rec_t *rec, size_t *n, size_t *bytes, ami_chanvars_t *out,
                      char *store)
{
    out_lines_t it;
    out_lines_init(&it, rec);
    ccd_str_t line;
    bool in_vars = false;
    *n = *bytes = 0;
    while (out_lines_next(&it, &line)) {
        if (vars_header(line)) {
            in_vars = true;
            continue;
        }
        if (blank_line(line)) {
            in_vars = false; /* the section ends at the first empty line */
            continue;
        }
        size_t nl;
        if (!in_vars || !var_line(line, &nl))
            continue; /* "CDR Variables:" and "level 1: x=y" lines are not channel variables */
        if (out) {
            ami_chanvar_t *v = &out->v[*n];
            memcpy(store, line.p, nl);
            store[nl] = '\0';
            v->name = store;
            store += nl + 1;
            size_t vl = line.len - nl - 1;
            memcpy(store, line.p + nl + 1, vl);
            store[vl] = '\0';
            v->value = store;
            store += vl + 1;
        }
        (*n)++;
        *bytes += line.len + 1; /* name + NUL + value + NUL: the '=' becomes a NUL */
    }
}

int ami_op_chanvars(const ami_response_t *r, ami_chanvars_t **out)
{
    int rc = answered(r);
    if (rc != CCD_OK)
        return rc;
    size_t n = 0, bytes = 0;
    if (r->ok)
        walk_vars(r->resp, &n, &bytes, NULL, NULL);
    size_t head = sizeof(ami_chanvars_t) + n * sizeof(ami_chanvar_t);
    ami_chanvars_t *cv = malloc(head + bytes + 1);
    if (!cv)
        return CCD_ENOMEM;
    cv->n = n;
    if (n) {
        size_t n2, b2;
        walk_vars(r->resp, &n2, &b2, cv, (char *)cv + head);
    }
    *out = cv;
    return CCD_OK;
}

/* ---- peer status ---- */

/* Next blank-separated token of *p (slice); false at the end. */
static bool next_token(ccd_str_t *rest, ccd_str_t *tok)
{
    size_t k = 0;
    while (k < rest->len && is_blank(rest->p[k]))
        k++;
    if (k == rest->len)
        return false;
    size_t s = k;
    while (k < rest->len && !is_blank(rest->p[k]))
        k++;
    *tok = (ccd_str_t){rest->p + s, k - s};
    *rest = (ccd_str_t){rest->p + k, rest->len - k};
    return true;
}

static bool tok_is(ccd_str_t t, const char *lit)
{
    size_t l = strlen(lit);
    return t.len == l && memcmp(t.p, lit, l) == 0;
}

bool ami_peer_line_registered(ami_peer_tech_e tech, const char *line, size_t len)
{
    ccd_str_t rest = {line, len}, tok;
    if (tech == AMI_PEER_PJSIP) {
        /* "Contact:  <aor>/<uri> <hash> <status> <rtt>": the listing's header line has
         * "<Status>", an unreachable contact "Unavail"; only the exact token counts. */
        if (!next_token(&rest, &tok) || !tok_is(tok, "Contact:"))
            return false;
        while (next_token(&rest, &tok))
            if (tok_is(tok, "Avail"))
                return true;
        return false;
    }
    /* "Status       : OK (12 ms)" (sip show peer, iax2 show peer) */
    size_t k = 0;
    while (k < len && is_blank(line[k]))
        k++;
    if (len - k < 6 || memcmp(line + k, "Status", 6) != 0)
        return false;
    k += 6;
    while (k < len && is_blank(line[k]))
        k++;
    if (k == len || line[k++] != ':')
        return false;
    while (k < len && is_blank(line[k]))
        k++;
    if (len - k < 2 || memcmp(line + k, "OK", 2) != 0)
        return false;
    k += 2;
    return k == len || is_blank(line[k]) || line[k] == '(';
}

int ami_op_peer_registered(ami_peer_tech_e tech, const ami_response_t *r, bool *registered)
{
    int rc = answered(r);
    if (rc != CCD_OK)
        return rc;
    /* Response: Error (the channel driver is not loaded) and an unknown peer's error
     * line both mean "not registered". */
    *registered = false;
    if (!r->ok)
        return CCD_OK;
    out_lines_t it;
    out_lines_init(&it, r->resp);
    ccd_str_t line;
    while (!*registered && out_lines_next(&it, &line))
        *registered = ami_peer_line_registered(tech, line.p, line.len);
    return CCD_OK;
}
