/*
 * ECCP requests answered from the call_center database.
 *
 * Split in two halves per request:
 * - a starter on the session worker validates what needs no database (the
 *   same checks and messages as Issabel, in the same order) and copies the
 *   arguments into an eccp_job_t;
 * - the job's run function executes on a DB reader thread with its
 *   connection, performs the agent check when the request needs one, calls
 *   the typed db_* reads and renders the whole response into job->out (or a
 *   fragment the worker completes with registry data, for getcampaignstatus).
 * Nothing here touches sessions: the job carries copies only.  No SQL here:
 * db/ owns it (db.h, "Reads by subject for the agent consoles").
 */
#include "eccp/eccp_dbreq.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/hmap.h"
#include "eccp/eccp_auth.h"

#define MOD "eccp"

/* ---------------- response helpers (DB thread, into j->out) ---------------- */

static void resp_begin(xw_t *w, eccp_job_t *j)
{
    eccp__xw_init(w, &j->out);
    eccp__msg_resp_begin(w, j->id, j->def->name);
}

static void resp_end(xw_t *w, eccp_job_t *j)
{
    eccp__msg_resp_end(w, j->def->name);
}

static int resp_failure(eccp_job_t *j, int code, const char *msg)
{
    buf_reset(&j->out);
    j->failed = true;
    return eccp__msg_req_failure(&j->out, j->id, j->def->name, NULL, code, msg);
}

static int top_failure(eccp_job_t *j, int code, const char *msg)
{
    buf_reset(&j->out);
    j->failed = true;
    return eccp__msg_failure(&j->out, j->id, code, msg);
}

static void resp_success(eccp_job_t *j)
{
    xw_t w;
    resp_begin(&w, j);
    eccp__xw_open(&w, "success");
    eccp__xw_close(&w, "success");
    resp_end(&w, j);
}

static const char *estatus_name(const char *s)
{
    if (!s)
        return "";
    if (strcmp(s, "A") == 0)
        return "active";
    if (strcmp(s, "I") == 0)
        return "inactive";
    if (strcmp(s, "T") == 0)
        return "finished";
    return "";
}

/* <keys[i]>row[i]</keys[i]> for every column that is not NULL. */
static void leaves_nonnull(xw_t *w, char *const *row, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++)
        if (row[i])
            eccp__xw_leaf(w, keys[i], row[i]);
}

/* One list column: element name, result column, and whether it is an estatus letter. */
typedef struct list_col {
    const char *name;
    int col;
    bool estatus;
} list_col_t;

/* <list><item><col..>...</item>...</list>, one item per row. */
static void rows_to_list(xw_t *w, const db_rows_t *rows, const char *list, const char *item,
                         const list_col_t *cols, int ncols)
{
    eccp__xw_open(w, list);
    for (size_t r = 0; r < rows->nrows; r++) {
        char *const *row = db_row(rows, r);
        eccp__xw_open(w, item);
        for (int i = 0; i < ncols; i++) {
            const char *v = row[cols[i].col];
            eccp__xw_leaf(w, cols[i].name, cols[i].estatus ? estatus_name(v) : v);
        }
        eccp__xw_close(w, item);
    }
    eccp__xw_close(w, list);
}

/* ---------------- the run function ---------------- */

static int agent_check(db_conn_t *db, eccp_job_t *j)
{
    char type[REG_ID_LEN], number[REG_ID_LEN];
    const char *slash = strchr(j->agent, '/');
    if (!slash) {
        j->auth_code = 404;
        j->auth_msg = "Specified agent not found";
        return 0;
    }
    snprintf(type, sizeof(type), "%.*s", (int)(slash - j->agent), j->agent);
    snprintf(number, sizeof(number), "%s", slash + 1);
    db_agent_auth_t au;
    int rc = db_agent_auth_get(db, type, number, &au);
    if (rc)
        return rc;
    if (!au.found) {
        j->auth_code = 404;
        j->auth_msg = "Specified agent not found";
    } else {
        j->agent_db_id = au.id;
        /* [quirk fixed] Issabel accepted any hash when eccp_password was NULL. */
        if (!eccp__agent_hash_ok(j->cookie, j->agent, au.has_password ? au.password : NULL,
                                j->hash)) {
            j->auth_code = 401;
            j->auth_msg = "Unauthorized agent";
        }
    }
    return 0;
}

int eccp__job_run(db_conn_t *db, db_read_job_t *job)
{
    eccp_job_t *j = (eccp_job_t *)job;
    if (j->agentauth) {
        int rc = agent_check(db, j);
        if (rc || j->auth_code)
            return rc;
    }
    return j->sql ? j->sql(db, j) : 0;
}

/* ---------------- login ---------------- */

int eccp__sql_login(db_conn_t *db, eccp_job_t *j)
{
    bool ok = false;
    int rc = db_eccp_client_check(db, j->u.login.user, j->u.login.pass, &ok);
    j->u.login.ok = ok;
    return rc;
}

/* ---------------- simple readers ---------------- */

static eccp_job_t *new_job(eccp_call_t *c, int (*sql)(db_conn_t *, eccp_job_t *))
{
    return eccp__job_new(c, sql, NULL);
}

bool eccp__opt_arg(eccp_call_t *c, eccp_job_t *j, const char *name, char *out, size_t outsz,
                   bool *has)
{
    int rc = eccp__arg(c->cmd, name, out, outsz);
    if (rc < 0) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return false;
    }
    *has = rc == 1;
    return true;
}

static int sql_getqueuescript(db_conn_t *db, eccp_job_t *j)
{
    db_rows_t r;
    int rc = db_queue_script(db, j->u.camp.id, &r);
    if (rc)
        return rc;
    if (!r.nrows) {
        resp_failure(j, 404, "Queue not found in incoming queues");
    } else {
        xw_t w;
        resp_begin(&w, j);
        eccp__xw_leaf(&w, "script", db_cell(&r, 0, 0));
        resp_end(&w, j);
    }
    db_rows_free(&r);
    return 0;
}

void eccp__rq_getqueuescript(eccp_call_t *c)
{
    char v[256];
    if (eccp__arg(c->cmd, "queue", v, sizeof(v)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = new_job(c, sql_getqueuescript);
    if (!j)
        return;
    j->u.camp.id = eccp__intval(v);
    eccp__job_submit(c->w, j);
}

static int sql_getcampaignlist(db_conn_t *db, eccp_job_t *j)
{
    /* a: 0 type 1 filtername 2 status(letter) 3 start 4 end; n: 0 limit(-1 none) 1 offset */
    const eccp_jclist_t *a = &j->u.clist;
    db_campaign_filter_t f = {.type = a->has_type ? a->type : NULL,
                              .name_like = a->has_name ? a->name : NULL,
                              .estatus = a->has_status ? a->status : NULL,
                              .from = a->has_from ? a->from : NULL,
                              .to = a->has_to ? a->to : NULL,
                              .limit = a->lim.limit,
                              .offset = a->lim.offset};
    db_rows_t rows;
    int rc = db_campaign_list(db, &f, &rows);
    if (rc)
        return rc;
    static const list_col_t cols[] = {{"id", DB_CL_ID, false},
                                      {"type", DB_CL_TYPE, false},
                                      {"name", DB_CL_NAME, false},
                                      {"status", DB_CL_STATUS, true}};
    xw_t w;
    resp_begin(&w, j);
    rows_to_list(&w, &rows, "campaigns", "campaign", cols, 4);
    resp_end(&w, j);
    db_rows_free(&rows);
    return 0;
}

/* limit/offset as Issabel: offset without limit is an error; limit -1 when none. */
static bool limit_offset(eccp_call_t *c, eccp_job_t *j, eccp_limit_t *out, const char *lim,
                         bool has_lim, const char *off, bool has_off)
{
    out->limit = -1;
    out->offset = 0;
    if (has_lim) {
        out->limit = eccp__intval(lim);
        if (out->limit < 0)
            out->limit = 0;
    }
    if (has_off) {
        if (!has_lim) {
            eccp__failure(c, 400, "Bad request - offset without limit");
            eccp__job_free(j);
            return false;
        }
        out->offset = eccp__intval(off);
        if (out->offset < 0)
            out->offset = 0;
    }
    return true;
}

void eccp__rq_getcampaignlist(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_getcampaignlist);
    if (!j)
        return;
    eccp_jclist_t *a = &j->u.clist;
    char status[ECCP_ARG_MAX], lim[ECCP_ARG_MAX];
    bool has_lim;
    if (!eccp__opt_arg(c, j, "campaign_type", a->type, sizeof(a->type), &a->has_type) ||
        !eccp__opt_arg(c, j, "filtername", a->name, sizeof(a->name), &a->has_name) ||
        !eccp__opt_arg(c, j, "status", status, sizeof(status), &a->has_status) ||
        !eccp__opt_arg(c, j, "datetime_start", a->from, sizeof(a->from), &a->has_from) ||
        !eccp__opt_arg(c, j, "datetime_end", a->to, sizeof(a->to), &a->has_to) ||
        !eccp__opt_arg(c, j, "limit", lim, sizeof(lim), &has_lim))
        return;
    char off[64];
    int ho = eccp__arg(c->cmd, "offset", off, sizeof(off)) == 1;
    if (a->has_type && strcmp(a->type, "incoming") != 0 && strcmp(a->type, "outgoing") != 0) {
        eccp__failure(c, 400, "Bad request - invalid campaign type");
        eccp__job_free(j);
        return;
    }
    if (a->has_status) {
        const char *m = strcmp(status, "active") == 0     ? "A"
                        : strcmp(status, "inactive") == 0 ? "I"
                        : strcmp(status, "finished") == 0 ? "T"
                                                          : NULL;
        if (!m) {
            eccp__failure(c, 400, "Bad request - invalid status");
            eccp__job_free(j);
            return;
        }
        snprintf(a->status, sizeof(a->status), "%s", m);
    }
    if (a->has_from && !eccp__is_date(a->from)) {
        eccp__failure(c, 400, "Bad request - invalid start date");
        eccp__job_free(j);
        return;
    }
    if (a->has_to && !eccp__is_date(a->to)) {
        eccp__failure(c, 400, "Bad request - invalid end date");
        eccp__job_free(j);
        return;
    }
    if (a->has_from && a->has_to && strcmp(a->to, a->from) < 0) {
        char t[ECCP_ARG_MAX];
        memcpy(t, a->from, sizeof(t));
        memcpy(a->from, a->to, sizeof(t));
        memcpy(a->to, t, sizeof(t));
    }
    if (!limit_offset(c, j, &a->lim, lim, has_lim, off, ho))
        return;
    eccp__job_submit(c->w, j);
}

static int sql_getincomingqueuelist(db_conn_t *db, eccp_job_t *j)
{
    db_rows_t rows;
    int rc = db_queue_list(db, j->u.qlist.limit, j->u.qlist.offset, &rows);
    if (rc)
        return rc;
    static const list_col_t cols[] = {
        {"id", DB_QL_ID, false}, {"queue", DB_QL_QUEUE, false}, {"status", DB_QL_STATUS, true}};
    xw_t w;
    resp_begin(&w, j);
    rows_to_list(&w, &rows, "queues", "queue", cols, 3);
    resp_end(&w, j);
    db_rows_free(&rows);
    return 0;
}

void eccp__rq_getincomingqueuelist(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_getincomingqueuelist);
    if (!j)
        return;
    char lim[ECCP_ARG_MAX], off[ECCP_ARG_MAX];
    bool has_lim, has_off;
    if (!eccp__opt_arg(c, j, "limit", lim, sizeof(lim), &has_lim) ||
        !eccp__opt_arg(c, j, "offset", off, sizeof(off), &has_off))
        return;
    if (!limit_offset(c, j, &j->u.qlist, lim, has_lim, off, has_off))
        return;
    eccp__job_submit(c->w, j);
}

static int sql_getcampaignqueuewait(db_conn_t *db, eccp_job_t *j)
{
    db_rows_t waits;
    long long ab = 0;
    int rc = db_campaign_wait(db, j->u.camp.id, j->u.camp.incoming, &waits, &ab);
    if (rc)
        return rc;
    long long hist[7] = {0};
    for (size_t i = 0; i < waits.nrows; i++) {
        const char *cn = db_cell(&waits, i, DB_QW_COUNT), *dw = db_cell(&waits, i, DB_QW_WAIT);
        long long n = cn ? atoll(cn) : 0;
        long long d = dw ? atoll(dw) : 0; /* PHP: NULL >= 30 false, NULL/5 = 0 */
        int pos = d >= 30 ? 6 : (int)(d / 5);
        if (pos < 0)
            pos = 0;
        hist[pos] += n;
    }
    db_rows_free(&waits);
    xw_t w;
    resp_begin(&w, j);
    eccp__xw_open(&w, "histogram");
    for (int i = 0; i < 7; i++) {
        eccp__xw_open(&w, "interval");
        eccp__xw_leaf_int(&w, "lower", i * 5);
        if (i != 6)
            eccp__xw_leaf_int(&w, "upper", i * 5 + 4);
        eccp__xw_leaf_int(&w, "count", hist[i]);
        eccp__xw_close(&w, "interval");
    }
    eccp__xw_close(&w, "histogram");
    eccp__xw_leaf_int(&w, "abandoned", ab);
    resp_end(&w, j);
    return 0;
}

void eccp__rq_getcampaignqueuewait(eccp_call_t *c)
{
    char id[256], type[256];
    if (eccp__arg(c->cmd, "campaign_id", id, sizeof(id)) != 1 ||
        eccp__arg(c->cmd, "campaign_type", type, sizeof(type)) != 1 ||
        (strcmp(type, "incoming") != 0 && strcmp(type, "outgoing") != 0)) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = new_job(c, sql_getcampaignqueuewait);
    if (!j)
        return;
    j->u.camp.id = eccp__intval(id);
    j->u.camp.incoming = strcmp(type, "incoming") == 0;
    eccp__job_submit(c->w, j);
}

/* ---------------- forms (getcampaigninfo) ---------------- */

/* Minimal html_entity_decode(ENT_COMPAT) for scripts saved by the web editor. */
static void html_decode(const char *in, buf_t *out)
{
    static const struct {
        const char *e;
        const char *r;
    } ents[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&nbsp;", "\xc2\xa0"}};
    while (*in) {
        if (*in == '&') {
            bool done = false;
            for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
                size_t l = strlen(ents[k].e);
                if (strncmp(in, ents[k].e, l) == 0) {
                    buf_append(out, ents[k].r, strlen(ents[k].r));
                    in += l;
                    done = true;
                    break;
                }
            }
            if (!done && in[1] == '#') {
                char *end;
                long v = in[2] == 'x' || in[2] == 'X' ? strtol(in + 3, &end, 16) : strtol(in + 2, &end, 10);
                if (*end == ';' && v > 0 && v < 0x110000) {
                    char u[4];
                    int n;
                    if (v < 0x80) {
                        u[0] = (char)v;
                        n = 1;
                    } else if (v < 0x800) {
                        u[0] = (char)(0xc0 | (v >> 6));
                        u[1] = (char)(0x80 | (v & 0x3f));
                        n = 2;
                    } else if (v < 0x10000) {
                        u[0] = (char)(0xe0 | (v >> 12));
                        u[1] = (char)(0x80 | ((v >> 6) & 0x3f));
                        u[2] = (char)(0x80 | (v & 0x3f));
                        n = 3;
                    } else {
                        u[0] = (char)(0xf0 | (v >> 18));
                        u[1] = (char)(0x80 | ((v >> 12) & 0x3f));
                        u[2] = (char)(0x80 | ((v >> 6) & 0x3f));
                        u[3] = (char)(0x80 | (v & 0x3f));
                        n = 4;
                    }
                    buf_append(out, u, (size_t)n);
                    in = end + 1;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        buf_append(out, in, 1);
        in++;
    }
}

static int write_forms(db_conn_t *db, xw_t *w, const long long *ids, int nids)
{
    eccp__xw_open(w, "forms");
    for (int i = 0; i < nids; i++) {
        db_rows_t fields, head;
        int rc = db_form_fields(db, ids[i], &fields);
        if (rc)
            return rc;
        if (fields.nrows == 0) {
            db_rows_free(&fields);
            continue;
        }
        rc = db_form_head(db, ids[i], &head);
        if (rc) {
            db_rows_free(&fields);
            return rc;
        }
        char *const *nr = head.nrows ? db_row(&head, 0) : NULL;
        eccp__xw_open(w, "form");
        eccp__xw_attr_int(w, "id", ids[i]);
        if (nr && nr[0] && nr[0][0])
            eccp__xw_attr(w, "name", nr[0]);
        if (nr && nr[1] && nr[1][0])
            eccp__xw_attr(w, "description", nr[1]);
        eccp__xw_attr(w, "status", nr && nr[2] ? nr[2] : "");
        db_rows_free(&head);
        for (size_t fi = 0; fi < fields.nrows; fi++) {
            char *const *f = db_row(&fields, fi);
            const char *type = f[3] ? f[3] : "";
            eccp__xw_open(w, "field");
            eccp__xw_attr(w, "order", f[4] ? f[4] : "");
            eccp__xw_attr(w, "id", f[0]);
            eccp__xw_leaf(w, "label", f[1]);
            eccp__xw_leaf(w, "type", type);
            if (strcmp(type, "LABEL") != 0 && strcmp(type, "DATE") != 0)
                eccp__xw_leaf_int(w, "maxsize", 250);
            const char *val = f[2] ? f[2] : "";
            if (strcmp(type, "LIST") == 0) {
                size_t l = strlen(val);
                if (l > 0 && val[l - 1] == ',')
                    l--; /* the web form editor leaves a trailing comma */
                eccp__xw_open(w, "options");
                size_t st = 0;
                for (size_t k = 0; k <= l; k++) {
                    if (k == l || val[k] == ',') {
                        eccp__xw_leaf_n(w, "value", val + st, k - st);
                        st = k + 1;
                    }
                }
                eccp__xw_close(w, "options");
            } else {
                const char *b = val;
                const char *e = val + strlen(val);
                while (b < e && (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'))
                    b++;
                while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                    e--;
                if (e > b)
                    eccp__xw_leaf_n(w, "default_value", b, (size_t)(e - b));
            }
            eccp__xw_close(w, "field");
        }
        eccp__xw_close(w, "form");
        db_rows_free(&fields);
    }
    eccp__xw_close(w, "forms");
    return 0;
}

static int sql_getcampaigninfo(db_conn_t *db, eccp_job_t *j)
{
    bool incoming = j->u.camp.incoming;
    db_rows_t info;
    long long ids[DB_CAMPAIGN_FORMS_MAX];
    int nids = 0;
    int rc = db_campaign_info(db, j->u.camp.id, incoming, &info, ids, &nids);
    if (rc)
        return rc;
    if (!info.nrows) {
        db_rows_free(&info);
        resp_failure(j, 404, "Campaign not found");
        return 0;
    }
    char *const *row = db_row(&info, 0);
    static const char *const out_keys[] = {"name", "type", "startdate", "enddate",
                                           "working_time_starttime", "working_time_endtime", "queue",
                                           "retries", "trunk", "context", "maxchan", "status", "script",
                                           "urltemplate", "urlopentype"};
    static const char *const in_keys[] = {"name", "type", "startdate", "enddate",
                                          "working_time_starttime", "working_time_endtime", "queue",
                                          "status", "script", "urltemplate", "urlopentype"};
    const char *const *keys = incoming ? in_keys : out_keys;
    int nk = incoming ? 11 : 15;
    xw_t w;
    resp_begin(&w, j);
    for (int i = 0; i < nk; i++) {
        const char *k = keys[i];
        if (strcmp(k, "trunk") == 0 && !row[i])
            continue;
        if (strcmp(k, "status") == 0) {
            eccp__xw_leaf(&w, k, estatus_name(row[i]));
        } else if (strcmp(k, "script") == 0) {
            buf_t dec;
            buf_init(&dec, 0);
            html_decode(row[i] ? row[i] : "", &dec);
            eccp__xw_leaf_n(&w, k, buf_data(&dec), dec.len);
            buf_free(&dec);
        } else {
            eccp__xw_leaf(&w, k, row[i]);
        }
    }
    db_rows_free(&info);
    rc = write_forms(db, &w, ids, nids);
    if (rc)
        return rc;
    resp_end(&w, j);
    return 0;
}

static bool campaign_type_arg(eccp_call_t *c, bool *incoming)
{
    char t[64];
    int rc = eccp__arg(c->cmd, "campaign_type", t, sizeof(t));
    if (rc == 0) {
        *incoming = false;
        return true;
    }
    if (rc == 1 && (strcmp(t, "incoming") == 0 || strcmp(t, "outgoing") == 0)) {
        *incoming = t[0] == 'i';
        return true;
    }
    eccp__failure(c, 400, "Bad request");
    return false;
}

void eccp__rq_getcampaigninfo(eccp_call_t *c)
{
    char id[256];
    bool incoming;
    if (eccp__arg(c->cmd, "campaign_id", id, sizeof(id)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (!campaign_type_arg(c, &incoming))
        return;
    eccp_job_t *j = new_job(c, sql_getcampaigninfo);
    if (!j)
        return;
    j->u.camp.id = eccp__intval(id);
    j->u.camp.incoming = incoming;
    eccp__job_submit(c->w, j);
}

/* ---------------- call info (getcallinfo) ---------------- */

/* Parses a flat JSON object of string/number values, writing <attribute>s. */
static void json_attributes(xw_t *w, const char *s)
{
    int order = 0;
    const char *p = s;
    while (*p && *p != '{')
        p++;
    if (*p != '{')
        return;
    p++;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',')
            p++;
        if (*p != '"')
            return;
        buf_t kv[2];
        buf_init(&kv[0], 4096);
        buf_init(&kv[1], 65536);
        for (int part = 0; part < 2; part++) {
            if (part == 1) {
                while (*p == ' ' || *p == ':')
                    p++;
            }
            if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1]) {
                        p++;
                        char ch = *p;
                        if (ch == 'n')
                            ch = '\n';
                        else if (ch == 't')
                            ch = '\t';
                        else if (ch == 'u' && p[1] && p[2] && p[3] && p[4]) {
                            char hex[5] = {p[1], p[2], p[3], p[4], 0};
                            long v = strtol(hex, NULL, 16);
                            char u[3];
                            int n = 1;
                            if (v < 0x80) {
                                u[0] = (char)v;
                            } else if (v < 0x800) {
                                u[0] = (char)(0xc0 | (v >> 6));
                                u[1] = (char)(0x80 | (v & 0x3f));
                                n = 2;
                            } else {
                                u[0] = (char)(0xe0 | (v >> 12));
                                u[1] = (char)(0x80 | ((v >> 6) & 0x3f));
                                u[2] = (char)(0x80 | (v & 0x3f));
                                n = 3;
                            }
                            buf_append(&kv[part], u, (size_t)n);
                            p += 5;
                            continue;
                        }
                        buf_append(&kv[part], &ch, 1);
                        p++;
                        continue;
                    }
                    buf_append(&kv[part], p, 1);
                    p++;
                }
                if (*p == '"')
                    p++;
            } else {
                /* number, true, false, null */
                const char *st = p;
                while (*p && *p != ',' && *p != '}')
                    p++;
                const char *e = p;
                while (e > st && (e[-1] == ' ' || e[-1] == '\n'))
                    e--;
                if (!(e - st == 4 && strncmp(st, "null", 4) == 0))
                    buf_append(&kv[part], st, (size_t)(e - st));
            }
        }
        eccp__xw_open(w, "attribute");
        eccp__xw_leaf_n(w, "label", buf_data(&kv[0]), kv[0].len);
        eccp__xw_leaf_n(w, "value", buf_data(&kv[1]), kv[1].len);
        eccp__xw_leaf_int(w, "order", order++);
        eccp__xw_close(w, "attribute");
        buf_free(&kv[0]);
        buf_free(&kv[1]);
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (*p != ',')
            return;
    }
}

static int write_survey(db_conn_t *db, xw_t *w, bool incoming, long long call_id)
{
    db_rows_t rows;
    int rc = db_call_survey(db, incoming, call_id, &rows);
    if (rc)
        return rc;
    eccp__xw_open(w, "call_survey");
    char cur[32] = "";
    bool open = false;
    for (size_t i = 0; i < rows.nrows; i++) {
        char *const *r = db_row(&rows, i);
        if (!open || strcmp(cur, r[0] ? r[0] : "") != 0) {
            if (open)
                eccp__xw_close(w, "form");
            snprintf(cur, sizeof(cur), "%s", r[0] ? r[0] : "");
            eccp__xw_open(w, "form");
            eccp__xw_attr(w, "id", cur);
            open = true;
        }
        eccp__xw_open(w, "field");
        eccp__xw_attr(w, "id", r[1]);
        eccp__xw_leaf(w, "label", r[2]);
        eccp__xw_leaf(w, "value", r[3]);
        eccp__xw_close(w, "field");
    }
    if (open)
        eccp__xw_close(w, "form");
    eccp__xw_close(w, "call_survey");
    db_rows_free(&rows);
    return 0;
}

static void contact_attrs(xw_t *w, char *const *r, int first, bool with_source)
{
    static const char *const labels[] = {"first_name", "last_name", "phone", "cedula_ruc",
                                         "contact_source"};
    int n = with_source ? 5 : 4;
    for (int i = 0; i < n; i++) {
        eccp__xw_open(w, "attribute");
        eccp__xw_leaf(w, "label", labels[i]);
        eccp__xw_leaf(w, "value", r[first + i]);
        eccp__xw_leaf_int(w, "order", i + 1);
        eccp__xw_close(w, "attribute");
    }
}

/* An outgoing call's <call_attributes> (its call_attribute JSON): getcallinfo and
 * agentlinked. */
static int call_attributes_out(db_conn_t *db, xw_t *w, long long call_id)
{
    char *data = NULL;
    int rc = db_call_attributes(db, call_id, &data);
    if (rc)
        return rc;
    eccp__xw_open(w, "call_attributes");
    if (data)
        json_attributes(w, data);
    eccp__xw_close(w, "call_attributes");
    free(data);
    return 0;
}

/* <matching_contacts> of an incoming call's caller id (none for an empty one):
 * getcallinfo and agentlinked. */
static int matching_contacts(db_conn_t *db, xw_t *w, const char *callerid)
{
    db_rows_t ct;
    int rc = db_contacts_by_phone(db, callerid, &ct);
    if (rc)
        return rc;
    eccp__xw_open(w, "matching_contacts");
    for (size_t i = 0; callerid[0] && i < ct.nrows; i++) {
        char *const *cr = db_row(&ct, i);
        eccp__xw_open(w, "contact");
        eccp__xw_attr(w, "id", cr[DB_CT_ID]);
        contact_attrs(w, cr, DB_CT_NAME, false);
        eccp__xw_close(w, "contact");
    }
    eccp__xw_close(w, "matching_contacts");
    db_rows_free(&ct);
    return 0;
}

static int sql_getcallinfo(db_conn_t *db, eccp_job_t *j)
{
    bool incoming = j->u.callinfo.incoming;
    db_rows_t info;
    int rc = db_call_info(db, incoming, j->u.callinfo.call, j->u.callinfo.has_campaign,
                          j->u.callinfo.campaign, &info);
    if (rc) {
        resp_failure(j, 500, "Cannot read call info");
        return 0;
    }
    if (!info.nrows) {
        db_rows_free(&info);
        resp_failure(j, 404, "Call not found");
        return 0;
    }
    char *const *r = db_row(&info, 0);
    xw_t w;
    resp_begin(&w, j);
    eccp__xw_leaf(&w, "calltype", incoming ? "incoming" : "outgoing");
    char callerid[64] = "";
    if (!incoming) {
        static const char *const k[DB_CALLO_COLS] = {
            "call_id", "campaign_id", "phone", "status", "uniqueid", "duration",
            "datetime_originate", "datetime_originateresponse", "datetime_join",
            "datetime_linkstart", "datetime_linkend", "retries", "failure_cause",
            "failure_cause_txt", "agent_number", "trunk"};
        leaves_nonnull(&w, r, k, DB_CALLO_COLS);
    } else {
        static const char *const k[DB_CALLI_COLS] = {
            "call_id", "campaign_id", "phone", "status", "uniqueid", "duration", "datetime_join",
            "datetime_linkstart", "datetime_linkend", "trunk", "queue", "agent_number"};
        leaves_nonnull(&w, r, k, DB_CALLI_COLS);
        snprintf(callerid, sizeof(callerid), "%s", r[2] ? r[2] : "");
    }
    long long call_id = j->u.callinfo.call;
    if (!incoming) {
        db_rows_free(&info);
        if (call_attributes_out(db, &w, call_id) != 0) {
            resp_failure(j, 500, "Cannot read call info");
            return 0;
        }
    } else {
        /* [quirk fixed] Issabel emitted garbage labels here; we give the contact's fields. */
        eccp__xw_open(&w, "call_attributes");
        if (r[DB_CALLI_CONTACT_ID])
            contact_attrs(&w, r, DB_CALLI_CONTACT, true);
        eccp__xw_close(&w, "call_attributes");
        db_rows_free(&info);
        if (matching_contacts(db, &w, callerid) != 0) {
            resp_failure(j, 500, "Cannot read call info");
            return 0;
        }
    }
    if (write_survey(db, &w, incoming, call_id) != 0) {
        resp_failure(j, 500, "Cannot read call info");
        return 0;
    }
    resp_end(&w, j);
    return 0;
}

/*
 * An event's database part (eccp_evwait.c): for agentlinked the call's attributes,
 * matching contacts (incoming) and survey, rendered as getcallinfo renders them, into
 * j->out as one fragment; and the call_progress_log row of the transition.  A failed
 * read fails the job (the event is then sent without its database part).
 */
int eccp__sql_event(db_conn_t *db, eccp_job_t *j)
{
    bool in = j->u.ev.incoming;
    long long call = j->u.ev.call;
    int rc;
    if (j->u.ev.want_data) {
        xw_t w;
        eccp__xw_init(&w, &j->out);
        if (!in) {
            if ((rc = call_attributes_out(db, &w, call)))
                return rc;
        } else {
            db_rows_t info;
            if ((rc = db_call_info(db, true, call, false, 0, &info)))
                return rc;
            eccp__xw_open(&w, "call_attributes");
            /* [quirk fixed] as getcallinfo: the contact's fields, not Issabel's garbage */
            if (info.nrows && db_row(&info, 0)[DB_CALLI_CONTACT_ID])
                contact_attrs(&w, db_row(&info, 0), DB_CALLI_CONTACT, true);
            eccp__xw_close(&w, "call_attributes");
            db_rows_free(&info);
            if ((rc = matching_contacts(db, &w, j->u.ev.phone)))
                return rc;
        }
        if ((rc = write_survey(db, &w, in, call)))
            return rc;
        if (w.err)
            return CCD_ENOMEM;
    }
    if (!j->u.ev.want_log)
        return 0;
    /* The journal decides whether a finished call was short ([dialer] short_call), so an
     * unlink takes whichever of the two rows it wrote. */
    static const char *const ends[] = {"Hangup", "ShortCall", NULL};
    const char *one[] = {j->u.ev.status, NULL};
    return db_progress_log_find(db, in, call, j->u.ev.unlink ? ends : one, j->u.ev.retry,
                                j->u.ev.after_id, &j->u.ev.log_id, j->u.ev.found,
                                sizeof(j->u.ev.found));
}

void eccp__rq_getcallinfo(eccp_call_t *c)
{
    bool incoming;
    if (!campaign_type_arg(c, &incoming))
        return;
    char cid[256], call[256];
    int hc = eccp__arg(c->cmd, "campaign_id", cid, sizeof(cid));
    if ((hc != 1 && !incoming) || eccp__arg(c->cmd, "call_id", call, sizeof(call)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = new_job(c, sql_getcallinfo);
    if (!j)
        return;
    j->u.callinfo.has_campaign = hc == 1;
    j->u.callinfo.campaign = hc == 1 ? eccp__intval(cid) : 0;
    j->u.callinfo.call = eccp__intval(call);
    j->u.callinfo.incoming = incoming;
    eccp__job_submit(c->w, j);
}

/* ---------------- getpauses ---------------- */

static int sql_getpauses(db_conn_t *db, eccp_job_t *j)
{
    db_rows_t rows;
    int rc = db_pauses_list(db, &rows);
    if (rc)
        return rc;
    xw_t w;
    resp_begin(&w, j);
    for (size_t i = 0; i < rows.nrows; i++) {
        char *const *r = db_row(&rows, i);
        eccp__xw_open(&w, "pause");
        eccp__xw_attr(&w, "id", r[DB_PAUSE_ID]);
        eccp__xw_leaf(&w, "name", r[DB_PAUSE_NAME]);
        eccp__xw_leaf(&w, "status", r[DB_PAUSE_STATUS]);
        eccp__xw_leaf(&w, "type", r[DB_PAUSE_TIPO]);
        eccp__xw_leaf(&w, "description", r[DB_PAUSE_DESCRIPTION]);
        eccp__xw_close(&w, "pause");
    }
    resp_end(&w, j);
    db_rows_free(&rows);
    return 0;
}

void eccp__rq_getpauses(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_getpauses);
    if (j)
        eccp__job_submit(c->w, j);
}

int eccp__sql_break_check(db_conn_t *db, eccp_job_t *j)
{
    if (!j->u.agent.has)
        return 0;
    bool found = false;
    int rc = db_break_active(db, eccp__intval(j->u.agent.arg), &found, j->u.agent.break_name,
                             sizeof(j->u.agent.break_name));
    j->u.agent.break_found = found;
    return rc;
}

/* ---------------- getcampaignstatus / getincomingqueuestatus ---------------- */

/*
 * The DB half writes <statuscount> into out and <stats> into out2 and the
 * queue into res[0]; the worker half adds <agents> and <activecalls> from the
 * registry between them.
 */
static void statuscount(xw_t *w, const db_rows_t *rows, bool incoming)
{
    static const char *const out_keys[] = {"Pending", "Placing", "Ringing", "OnQueue", "Success",
                                           "OnHold", "Failure", "ShortCall", "NoAnswer", "Abandoned"};
    static const char *const in_keys[] = {"OnQueue", "Success", "OnHold", "Abandoned", "Finished",
                                          "LostTrack"};
    static const char *const in_db[] = {"en-cola", "activa", "hold", "abandonada", "terminada",
                                        "fin-monitoreo"};
    const char *const *keys = incoming ? in_keys : out_keys;
    int nk = incoming ? 6 : 10;
    long long cnt[16] = {0};
    char extra_k[16][40];
    long long extra_v[16];
    int nextra = 0;
    long long total = 0;
    for (size_t ri = 0; ri < rows->nrows; ri++) {
        char *const *r = db_row(rows, ri);
        long long n = r[DB_SC_COUNT] ? atoll(r[DB_SC_COUNT]) : 0;
        total += n;
        const char *st = r[DB_SC_STATUS];
        int idx = -1;
        if (!incoming) {
            if (!st)
                idx = 0;
            else
                for (int i = 1; i < nk; i++)
                    if (strcmp(st, keys[i]) == 0)
                        idx = i;
        } else if (st) {
            for (int i = 0; i < 6; i++)
                if (strcmp(st, in_db[i]) == 0)
                    idx = i;
        }
        if (idx >= 0) {
            cnt[idx] = n;
        } else if (nextra < 16) {
            snprintf(extra_k[nextra], sizeof(extra_k[0]), "%s", st ? st : "unknown");
            extra_v[nextra++] = n;
        }
    }
    eccp__xw_open(w, "statuscount");
    eccp__xw_leaf_int(w, "total", total);
    for (int i = 0; i < nk; i++) {
        char k[40];
        snprintf(k, sizeof(k), "%s", keys[i]);
        for (char *p = k; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        eccp__xw_leaf_int(w, k, cnt[i]);
    }
    for (int i = 0; i < nextra; i++) {
        char *k = extra_k[i];
        bool ok = true;
        for (char *p = k; *p; p++) {
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            ok &= (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        }
        if (ok && !(k[0] >= '0' && k[0] <= '9') && k[0] != '-')
            eccp__xw_leaf_int(w, k, extra_v[i]);
    }
    eccp__xw_close(w, "statuscount");
}

static int sql_campaignstatus(db_conn_t *db, eccp_job_t *j)
{
    eccp_jstatus_t *a = &j->u.status;
    db_status_mode_e mode = a->queue_mode ? DB_STATUS_QUEUE
                            : a->incoming ? DB_STATUS_INCOMING
                                          : DB_STATUS_OUTGOING;
    db_status_req_t req = {.mode = mode,
                           .id = a->id,
                           .queue = a->queue,
                           .start = a->has_start ? a->start : NULL};
    db_status_t st;
    int rc = db_campaign_status(db, &req, &st);
    if (rc)
        return rc;
    if (!st.found) {
        resp_failure(j, 404, "Campaign not found");
        a->not_found = true;
        return 0;
    }
    snprintf(a->res_queue, sizeof(a->res_queue), "%s", st.queue);
    /* Issabel answers 404 only when the summary is empty; a queue with no calls still
     * yields its zero counters there, so an unknown queue is not an error here either. */
    xw_t w;
    eccp__xw_init(&w, &j->out);
    statuscount(&w, &st.counts, mode != DB_STATUS_OUTGOING);
    db_rows_free(&st.counts);
    xw_t w2;
    eccp__xw_init(&w2, &j->out2);
    eccp__xw_open(&w2, "stats");
    eccp__xw_leaf_int(&w2, "total_sec", st.total_sec);
    eccp__xw_leaf_int(&w2, "max_duration", st.max_duration);
    eccp__xw_close(&w2, "stats");
    return w.err ? w.err : w2.err;
}

static bool agent_in_queue(const reg_agent_t *a, const char *queue)
{
    for (int i = 0; i < a->nqueues && i < REG_MAX_QUEUES; i++)
        if (strcmp(a->queues[i], queue) == 0)
            return true;
    return false;
}

static void campaignstatus_done(eccp_worker_t *wk, eccp_sess_t *s, eccp_job_t *j)
{
    if (j->u.status.not_found) {
        eccp__send_buf(wk, s, &j->out);
        return;
    }
    reg_t *reg = wk->srv->deps.reg;
    reg_agent_t *agents = NULL;
    reg_call_t *calls = NULL;
    size_t na = 0, nc = 0;
    buf_t *b = eccp__wbuf(wk);
    if (reg_agent_list(reg, &agents, &na) != 0 || reg_call_list(reg, &calls, &nc) != 0) {
        free(agents);
        eccp__count_err(wk->srv, j->def);
        eccp__msg_failure(b, j->id, 500, "Internal server error");
        eccp__send_buf(wk, s, b);
        return;
    }
    bool queue_mode = j->u.status.queue_mode;
    reg_call_type_e type =
        (j->u.status.incoming || queue_mode) ? REG_CALL_INCOMING : REG_CALL_OUTGOING;
    const char *queue = j->u.status.res_queue;
    long long campaign = j->u.status.id;
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, j->id, j->def->name);
    eccp__xw_fragment(&w, buf_data(&j->out), j->out.len);
    eccp__xw_open(&w, "agents");
    /* Agents on a call of this campaign (or queue) first, then the queue's other agents. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < na; i++) {
            reg_agent_t *a = &agents[i];
            const reg_call_t *call = NULL;
            for (size_t k = 0; a->call_id && k < nc; k++)
                if (calls[k].id == a->call_id)
                    call = &calls[k];
            bool ours = call && call->type == type &&
                        (queue_mode ? (call->campaign_id == 0 && strcmp(call->queue, queue) == 0)
                                    : call->campaign_id == campaign);
            if (pass == 0 ? !ours : (ours || !agent_in_queue(a, queue)))
                continue;
            eccp__xw_open(&w, "agent");
            eccp__xw_leaf(&w, "agentchannel", a->number);
            eccp__agent_status(&w, a, call, true);
            eccp__xw_close(&w, "agent");
        }
    }
    eccp__xw_close(&w, "agents");
    eccp__xw_open(&w, "activecalls");
    for (size_t k = 0; k < nc; k++) {
        reg_call_t *c = &calls[k];
        if (c->type != type || c->agent[0])
            continue;
        if (queue_mode ? (c->campaign_id != 0 || strcmp(c->queue, queue) != 0)
                       : c->campaign_id != campaign)
            continue;
        if (c->status != REG_CS_PLACING && c->status != REG_CS_DIALING &&
            c->status != REG_CS_RINGING && c->status != REG_CS_ONQUEUE)
            continue;
        eccp__xw_open(&w, "activecall");
        eccp__call_info_short(&w, c);
        eccp__xw_close(&w, "activecall");
    }
    eccp__xw_close(&w, "activecalls");
    eccp__xw_fragment(&w, buf_data(&j->out2), j->out2.len);
    eccp__msg_resp_end(&w, j->def->name);
    free(agents);
    free(calls);
    eccp__send_buf(wk, s, b);
}

static bool start_date(eccp_call_t *c, eccp_job_t *j)
{
    eccp_jstatus_t *a = &j->u.status;
    int rc = eccp__arg(c->cmd, "datetime_start", a->start, ECCP_ARG_MAX);
    if (rc == 1) {
        if (!eccp__is_date(a->start)) {
            eccp__failure(c, 400, "Bad request - invalid start date");
            eccp__job_free(j);
            return false;
        }
        strcat(a->start, " 00:00:00");
    }
    a->has_start = rc == 1;
    return true;
}

void eccp__rq_getcampaignstatus(eccp_call_t *c)
{
    char id[256];
    if (eccp__arg(c->cmd, "campaign_id", id, sizeof(id)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    char t[64];
    int rt = eccp__arg(c->cmd, "campaign_type", t, sizeof(t));
    eccp_job_t *j = eccp__job_new(c, sql_campaignstatus, campaignstatus_done);
    if (!j || !start_date(c, j))
        return;
    if (rt != 0 && (rt != 1 || (strcmp(t, "incoming") != 0 && strcmp(t, "outgoing") != 0))) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return;
    }
    j->u.status.id = eccp__intval(id);
    j->u.status.incoming = rt == 1 && t[0] == 'i';
    eccp__job_submit(c->w, j);
}

void eccp__rq_getincomingqueuestatus(eccp_call_t *c)
{
    char queue[256];
    if (eccp__arg(c->cmd, "queue", queue, sizeof(queue)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = eccp__job_new(c, sql_campaignstatus, campaignstatus_done);
    if (!j || !start_date(c, j))
        return;
    memcpy(j->u.status.queue, queue, sizeof(j->u.status.queue));
    j->u.status.incoming = true;
    j->u.status.queue_mode = true;
    eccp__job_submit(c->w, j);
}

/* ---------------- getagentactivitysummary ---------------- */

typedef struct agsum {
    long long id;
    char last[4][32]; /* session start/end, pause start/end */
    bool has[4];
} agsum_t;

static int sql_activity(db_conn_t *db, eccp_job_t *j)
{
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s 00:00:00", j->u.range.from);
    snprintf(to, sizeof(to), "%s 23:59:59", j->u.range.to);
    db_activity_t act;
    int rc = db_agent_activity(db, from, to, &act);
    if (rc)
        return rc;
    const db_rows_t *lastres[2] = {&act.sessions, &act.pauses};
    xw_t w;
    resp_begin(&w, j);
    eccp__xw_open(&w, "agents");
    for (size_t ai = 0; ai < act.agents.nrows; ai++) {
        char *const *a = db_row(&act.agents, ai);
        char ch[200];
        snprintf(ch, sizeof(ch), "%s/%s", a[1] ? a[1] : "", a[2] ? a[2] : "");
        eccp__xw_open(&w, "agent");
        eccp__xw_leaf(&w, "agentchannel", ch);
        eccp__xw_leaf(&w, "agentname", a[3]);
        eccp__xw_leaf(&w, "logintime", a[4] ? a[4] : "0");
        eccp__xw_open(&w, "callsummary");
        for (int t = 0; t < 2; t++) {
            const char *tn = t == 0 ? "incoming" : "outgoing";
            eccp__xw_open(&w, tn);
            for (size_t ci = 0; ci < act.calls.nrows; ci++) {
                char *const *cr = db_row(&act.calls, ci);
                if (!cr[0] || !a[0] || strcmp(cr[0], a[0]) != 0 || strcmp(cr[1], tn) != 0)
                    continue;
                eccp__xw_open(&w, "queue");
                eccp__xw_attr(&w, "id", cr[2] ? cr[2] : "");
                eccp__xw_leaf(&w, "sec_calls", cr[3]);
                eccp__xw_leaf(&w, "num_calls", cr[4]);
                eccp__xw_close(&w, "queue");
            }
            eccp__xw_close(&w, tn);
        }
        eccp__xw_close(&w, "callsummary");
        for (int k = 0; k < 2; k++) {
            const db_rows_t *lr = lastres[k];
            for (size_t li = 0; li < lr->nrows; li++) {
                char *const *sr = db_row(lr, li);
                if (!sr[0] || !a[0] || strcmp(sr[0], a[0]) != 0)
                    continue;
                eccp__xw_leaf(&w, k == 0 ? "lastsessionstart" : "lastpausestart", sr[1]);
                if (sr[2])
                    eccp__xw_leaf(&w, k == 0 ? "lastsessionend" : "lastpauseend", sr[2]);
                break;
            }
        }
        eccp__xw_close(&w, "agent");
    }
    eccp__xw_close(&w, "agents");
    resp_end(&w, j);
    db_activity_free(&act);
    return 0;
}

/* datetime_start / datetime_end (default today, swapped when reversed) into u.range. */
static bool date_range(eccp_call_t *c, eccp_job_t *j)
{
    char today[32];
    eccp__fmt_time(clk_wall_ms(), false, today);
    today[10] = '\0';
    static const char *const k[2] = {"datetime_start", "datetime_end"};
    static const char *const err[2] = {"Bad request - invalid start date",
                                       "Bad request - invalid end date"};
    char *d[2] = {j->u.range.from, j->u.range.to};
    for (int i = 0; i < 2; i++) {
        int rc = eccp__arg(c->cmd, k[i], d[i], ECCP_ARG_MAX);
        if (rc == 0) {
            snprintf(d[i], ECCP_ARG_MAX, "%s", today);
        } else if (rc < 0 || !eccp__is_date(d[i])) {
            eccp__failure(c, 400, err[i]);
            eccp__job_free(j);
            return false;
        }
    }
    if (strcmp(d[1], d[0]) < 0) {
        char t[ECCP_ARG_MAX];
        memcpy(t, d[0], sizeof(t));
        memcpy(d[0], d[1], sizeof(t));
        memcpy(d[1], t, sizeof(t));
    }
    return true;
}

void eccp__rq_getagentactivitysummary(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_activity);
    if (!j || !date_range(c, j))
        return;
    eccp__job_submit(c->w, j);
}

/* ---------------- campaignlog ---------------- */

static int sql_campaignlog(db_conn_t *db, eccp_job_t *j)
{
    const eccp_jrange_t *a = &j->u.range;
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s 00:00:00", a->from);
    snprintf(to, sizeof(to), "%s 23:59:59", a->to);
    db_log_req_t req = {.incoming = a->incoming,
                        .has_campaign = a->has_campaign,
                        .campaign_id = a->campaign,
                        .queue = a->queue,
                        .from = from,
                        .to = to,
                        .last_n = a->last_n,
                        .idbefore = a->idbefore};
    db_rows_t rows;
    int rc = db_campaign_log(db, &req, &rows);
    if (rc)
        return rc;
    static const char *const k[] = {"id", "datetime_entry", "phone", "queue", "campaign_type",
                                    "campaign_id", "call_id", "new_status", "retry", "uniqueid",
                                    "trunk", "duration", "agentchannel"};
    size_t nrows = rows.nrows;
    xw_t w;
    resp_begin(&w, j);
    eccp__xw_open(&w, "logentries");
    for (size_t i = 0; i < nrows; i++) {
        /* last_n reads newest first; the answer is oldest first. */
        char *const *r = db_row(&rows, a->last_n >= 0 ? nrows - 1 - i : i);
        eccp__xw_open(&w, "logentry");
        leaves_nonnull(&w, r, k, DB_LOG_COLS);
        eccp__xw_close(&w, "logentry");
    }
    eccp__xw_close(&w, "logentries");
    resp_end(&w, j);
    db_rows_free(&rows);
    return 0;
}

void eccp__rq_campaignlog(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_campaignlog);
    if (!j || !date_range(c, j))
        return;
    char t[64], v[256];
    if (eccp__arg(c->cmd, "campaign_type", t, sizeof(t)) != 1 ||
        (strcmp(t, "incoming") != 0 && strcmp(t, "outgoing") != 0)) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return;
    }
    eccp_jrange_t *a = &j->u.range;
    a->incoming = t[0] == 'i';
    a->has_campaign = eccp__arg(c->cmd, "campaign_id", v, sizeof(v)) == 1;
    a->campaign = a->has_campaign ? eccp__intval(v) : 0;
    int hq = eccp__arg(c->cmd, "queue", a->queue, sizeof(a->queue)) == 1;
    if ((!a->incoming && !a->has_campaign) || (a->incoming && !a->has_campaign && !hq)) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return;
    }
    a->last_n = -1;
    a->idbefore = -1;
    if (eccp__arg(c->cmd, "last_n", v, sizeof(v)) == 1) {
        a->last_n = eccp__intval(v);
        if (a->last_n < 0)
            a->last_n = 0;
        if (eccp__arg(c->cmd, "idbefore", v, sizeof(v)) == 1)
            a->idbefore = eccp__intval(v);
    }
    eccp__job_submit(c->w, j);
}

/* ---------------- refreshagents ---------------- */

/* rows -> the registry's agent list (reg's rules), or CCD_ENOMEM. */
static int agents_to_reg(const db_agent_t *rows, size_t n, reg_agent_info_t **out, size_t *nout)
{
    reg_agent_info_t *list = calloc(n ? n : 1, sizeof(*list));
    if (!list)
        return CCD_ENOMEM;
    for (size_t i = 0; i < n; i++)
        reg_agent_info_set(&list[i], rows[i].type, rows[i].number, rows[i].name, rows[i].estatus,
                           rows[i].id);
    if (reg_agent_list_merge(list, &n) != 0) {
        free(list);
        return CCD_ENOMEM;
    }
    *out = list;
    *nout = n;
    return 0;
}

typedef struct agent_sync {
    reg_agent_info_t *list;
    size_t n;
} agent_sync_t;

static void agent_sync_free(void *p)
{
    agent_sync_t *a = p;
    free(a->list);
    free(a);
}

/* The same loader and conversion as the daemon's startup load. */
static int sql_refreshagents(db_conn_t *db, eccp_job_t *j)
{
    db_agent_t *rows = NULL;
    size_t n = 0;
    int rc = db_load_agents(db, &rows, &n);
    if (rc)
        return rc;
    agent_sync_t *a = calloc(1, sizeof(*a));
    if (!a || agents_to_reg(rows, n, &a->list, &a->n) != 0) {
        free(a);
        free(rows);
        return CCD_ENOMEM;
    }
    free(rows);
    j->extra = a;
    j->extra_free = agent_sync_free;
    return 0;
}

static void refreshagents_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    eccp_call_t c;
    eccp__call_from_job(&c, w, s, j);
    agent_sync_t *a = j->extra;
    /* Agents no longer listed are marked inactive by the registry (kept while busy). */
    if (reg_post_agent_sync(w->srv->deps.reg, a->list, a->n) != 0) {
        LOG_WARN_RL(MOD, "refreshagents: registry inbox full, agent list not applied");
        eccp__failure(&c, 500, "Internal server error");
        return;
    }
    a->list = NULL; /* the registry owns it now */
    LOG_INFO(MOD, "refreshagents: %zu agent(s) reloaded from the database", a->n);
    eccp__success(&c);
}

void eccp__rq_refreshagents(eccp_call_t *c)
{
    eccp_job_t *j = eccp__job_new(c, sql_refreshagents, refreshagents_done);
    if (j)
        eccp__job_submit(c->w, j);
}

/* ---------------- writes: setcontact / saveformdata / schedulecall ---------------- */

/*
 * These requests check on the DB thread (reads), then prepare their writes into the job;
 * the worker hands them to the durable writer (eccp__writes_done) and answers success once
 * the writer accepted them, the guarantee transfers have: from then on the writes are
 * committed whatever happens to the database, or logged if it stays away past shutdown.
 */

/* Takes x into j (CCD_ENOMEM: x freed, or NULL). */
static int job_add_write(eccp_job_t *j, db_write_t *x)
{
    if (!x)
        return CCD_ENOMEM;
    db_write_t **nw = realloc(j->writes, (size_t)(j->nwrites + 1) * sizeof(*nw));
    if (!nw) {
        x->msg.free(&x->msg);
        return CCD_ENOMEM;
    }
    j->writes = nw;
    j->writes[j->nwrites++] = x;
    return 0;
}

void eccp__writes_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    if (j->nwrites == 0) {
        eccp__send_buf(w, s, &j->out); /* a check failed (or nothing to store): its answer */
        return;
    }
    eccp_call_t c;
    eccp__call_from_job(&c, w, s, j);
    db_t *db = w->srv->deps.db;
    if (!db) {
        eccp__failure(&c, 500, "Server error - database failure");
        return;
    }
    /* All or none: the first write takes the bound (a full queue refuses the request); the
     * rest of the same request follow it past the bound (at most FORM_VALUES_MAX). */
    int rc = db_write_submit(db, j->writes[0]);
    if (rc != 0) {
        LOG_WARN_RL(MOD, "%s: database write refused (%s)", j->def->name, ccd_strerror(rc));
        if (rc == CCD_EFULL)
            eccp__req_failure(&c, 503, "Database write queue full, try again");
        else
            eccp__failure(&c, 500, "Server error - database failure");
        return;
    }
    j->writes[0] = NULL;
    for (int i = 1; i < j->nwrites; i++) {
        if (db_write_submit_force(db, j->writes[i]) != 0) {
            /* Only at shutdown; what was accepted stays accepted. */
            LOG_ERR(MOD, "%s: write %d of %d refused at shutdown", j->def->name, i + 1,
                    j->nwrites);
            break;
        }
        j->writes[i] = NULL;
    }
    eccp__success(&c);
}

void eccp__write_done(eccp_worker_t *w, db_write_t *x)
{
    (void)w;
    if (x->kind == DB_W_CALL_SCHEDULE) {
        if (x->status == 0)
            LOG_INFO(MOD, "schedulecall: call scheduled call_id=%llu from_call_id=%u",
                     (unsigned long long)x->u.schedule.new_id, x->u.schedule.from_call);
        else
            LOG_ERR_RL(MOD, "schedulecall: the scheduled copy was not stored (%s) from_call_id=%u",
                       ccd_strerror(x->status), x->u.schedule.from_call);
    }
    x->msg.free(&x->msg);
}

int eccp__sql_setcontact(db_conn_t *db, eccp_job_t *j)
{
    if (!j->u.contact.has_call || !j->u.contact.has_contact) {
        top_failure(j, 400, "Bad request");
        return 0;
    }
    long long call_id = eccp__intval(j->u.contact.call), contact = eccp__intval(j->u.contact.contact);
    bool found;
    int rc;
    if ((rc = db_call_exists(db, true, call_id, &found)))
        return rc;
    if (!found) {
        resp_failure(j, 404, "Call ID not found");
        return 0;
    }
    char who[REG_ID_LEN];
    if ((rc = db_call_agent(db, true, call_id, who, sizeof(who), &found)))
        return rc;
    if (!found || strcmp(who, j->agent) != 0) {
        resp_failure(j, 401, "Unauthorized agent");
        return 0;
    }
    if ((rc = db_contact_exists(db, contact, &found)))
        return rc;
    if (!found) {
        resp_failure(j, 404, "Contact ID not found");
        return 0;
    }
    db_write_t *x = db_write_new(DB_W_CALL_ENTRY_CONTACT);
    if (x) {
        x->shard = (uint32_t)call_id;
        x->u.contact.id_call_entry = (uint32_t)call_id;
        x->u.contact.id_contact = (uint32_t)contact;
    }
    return job_add_write(j, x);
}

typedef struct form_val {
    long long form, field;
    char *value;
} form_val_t;

typedef struct form_data {
    size_t n;
    form_val_t v[];
} form_data_t;

static void form_data_free(void *p)
{
    form_data_t *d = p;
    for (size_t i = 0; d && i < d->n; i++)
        free(d->v[i].value);
    free(d);
}

#define FORM_VALUES_MAX 1024

int eccp__saveformdata_args(eccp_call_t *c, eccp_job_t *j)
{
    char t[64], call[256];
    int rt = eccp__arg(c->cmd, "campaign_type", t, sizeof(t));
    if (rt < 0 || (rt == 1 && strcmp(t, "incoming") != 0 && strcmp(t, "outgoing") != 0)) {
        eccp__failure(c, 400, "Bad request");
        return CCD_EINVAL;
    }
    xmlNode *forms = eccp__child(c->cmd, "forms");
    if (eccp__arg(c->cmd, "call_id", call, sizeof(call)) != 1 || !forms) {
        eccp__failure(c, 400, "Bad request");
        return CCD_EINVAL;
    }
    j->u.form.incoming = rt == 1 && t[0] == 'i';
    j->u.form.call = eccp__intval(call);
    form_data_t *d = calloc(1, sizeof(*d) + FORM_VALUES_MAX * sizeof(form_val_t));
    if (!d) {
        eccp__failure(c, 500, "Internal server error");
        return CCD_ENOMEM;
    }
    j->extra = d;
    j->extra_free = form_data_free;
    long long seen[256];
    int nseen = 0;
    for (xmlNode *f = forms->children; f; f = f->next) {
        if (f->type != XML_ELEMENT_NODE || strcmp((const char *)f->name, "form") != 0)
            continue;
        xmlChar *fid = xmlGetProp(f, (const xmlChar *)"id");
        long long form = fid ? eccp__intval((const char *)fid) : 0;
        xmlFree(fid);
        for (int k = 0; k < nseen; k++)
            if (seen[k] == form) {
                eccp__failure(c, 400, "Bad request"); /* duplicate form id */
                return CCD_EINVAL;
            }
        if (nseen == 256) {
            eccp__failure(c, 400, "Bad request");
            return CCD_EINVAL;
        }
        seen[nseen++] = form;
        for (xmlNode *x = f->children; x; x = x->next) {
            if (x->type != XML_ELEMENT_NODE || strcmp((const char *)x->name, "field") != 0)
                continue;
            if (d->n == FORM_VALUES_MAX) {
                eccp__failure(c, 400, "Bad request");
                return CCD_EINVAL;
            }
            xmlChar *xid = xmlGetProp(x, (const xmlChar *)"id");
            long long field = xid ? eccp__intval((const char *)xid) : 0;
            xmlFree(xid);
            /* A later value for the same field replaces the earlier one (PHP array). */
            form_val_t *v = NULL;
            for (size_t k = 0; k < d->n; k++)
                if (d->v[k].form == form && d->v[k].field == field)
                    v = &d->v[k];
            if (!v) {
                v = &d->v[d->n++];
                v->form = form;
                v->field = field;
            }
            free(v->value);
            xmlChar *txt = xmlNodeGetContent(x);
            v->value = strdup(txt ? (const char *)txt : "");
            xmlFree(txt);
            if (!v->value) {
                eccp__failure(c, 500, "Internal server error");
                return CCD_ENOMEM;
            }
        }
    }
    return 0;
}

static bool is_datetime(const char *s)
{
    if (strlen(s) != 19 || s[10] != ' ')
        return false;
    char d[11], t[9];
    memcpy(d, s, 10);
    d[10] = '\0';
    memcpy(t, s + 11, 8);
    t[8] = '\0';
    return eccp__is_date(d) && eccp__is_time(t);
}

int eccp__sql_saveformdata(db_conn_t *db, eccp_job_t *j)
{
    bool incoming = j->u.form.incoming;
    long long call_id = j->u.form.call;
    form_data_t *d = j->extra;
    char who[REG_ID_LEN];
    bool found;
    int rc = db_call_agent(db, incoming, call_id, who, sizeof(who), &found);
    if (rc)
        return rc;
    if (!found || strcmp(who, j->agent) != 0) {
        resp_failure(j, 401, "Unauthorized agent");
        return 0;
    }
    /* Validate everything first, then prepare one write per value (LABEL fields store
     * nothing); a failed check prepares none. */
    db_write_t **save = calloc(d->n ? d->n : 1, sizeof(*save));
    if (!save)
        return CCD_ENOMEM;
    size_t nsave = 0;
    char msg[160];
    for (size_t i = 0; i < d->n; i++) {
        form_val_t *v = &d->v[i];
        db_rows_t fr;
        if ((rc = db_form_field_get(db, v->form, v->field, &fr)))
            goto out;
        if (!fr.nrows) {
            db_rows_free(&fr);
            long long nf = 0;
            if ((rc = db_form_field_count(db, v->form, &nf)))
                goto out;
            if (nf == 0)
                snprintf(msg, sizeof(msg), "Form ID not found: %lld", v->form);
            else
                snprintf(msg, sizeof(msg), "Field ID not found in form: %lld - %lld", v->form, v->field);
            resp_failure(j, 404, msg);
            goto out;
        }
        const char *type = db_cell(&fr, 0, DB_FL_TYPE) ? db_cell(&fr, 0, DB_FL_TYPE) : "";
        int code = 0;
        if (strcmp(type, "LABEL") == 0) {
            db_rows_free(&fr);
            continue;
        }
        if (strlen(v->value) > 250) {
            snprintf(msg, sizeof(msg), "Form value too large: %lld - %lld", v->form, v->field);
            code = 413;
        } else if (strcmp(type, "DATE") == 0 && v->value[0] && !eccp__is_date(v->value) &&
                   !is_datetime(v->value)) {
            snprintf(msg, sizeof(msg),
                     "Date format not acceptable, must be yyyy-mm-dd or yyyy-mm-dd hh:mm:ss: %lld - %lld",
                     v->form, v->field);
            code = 406;
        } else if (strcmp(type, "LIST") == 0) {
            const char *opts = db_cell(&fr, 0, DB_FL_VALUE) ? db_cell(&fr, 0, DB_FL_VALUE) : "";
            size_t l = strlen(opts);
            if (l && opts[l - 1] == ',')
                l--;
            bool ok = false;
            size_t st = 0, vl = strlen(v->value);
            for (size_t k = 0; k <= l && !ok; k++) {
                if (k == l || opts[k] == ',') {
                    ok = k - st == vl && strncmp(opts + st, v->value, vl) == 0;
                    st = k + 1;
                }
            }
            if (!ok) {
                snprintf(msg, sizeof(msg), "Value not in list of accepted values: %lld - %lld", v->form,
                         v->field);
                code = 406;
            }
        }
        db_rows_free(&fr);
        if (code) {
            resp_failure(j, code, msg);
            goto out;
        }
        db_write_t *x = db_write_new(DB_W_FORM_VALUE);
        if (!x) {
            rc = CCD_ENOMEM;
            goto out;
        }
        x->shard = (uint32_t)call_id;
        x->u.form_value.incoming = incoming;
        x->u.form_value.id_call = (uint32_t)call_id;
        x->u.form_value.id_field = (uint32_t)v->field;
        snprintf(x->u.form_value.value, sizeof(x->u.form_value.value), "%s", v->value);
        save[nsave++] = x;
    }
    if (nsave == 0) {
        resp_success(j); /* nothing to store (only labels, or no fields) */
        goto out;
    }
    for (size_t i = 0; i < nsave && rc == 0; i++) {
        rc = job_add_write(j, save[i]);
        save[i] = NULL;
    }
out:
    for (size_t i = 0; i < nsave; i++)
        if (save[i])
            save[i]->msg.free(&save[i]->msg);
    free(save);
    return rc;
}

/* ---------------- schedulecall ---------------- */

/* The schedule checks that need the database, then the write (u.sched). */
int eccp__sql_schedulecall(db_conn_t *db, eccp_job_t *j)
{
    const eccp_jsched_t *a = &j->u.sched;
    db_schedule_req_t req = {.call_id = a->call,
                             .current_call = a->current,
                             .has_window = a->has_window,
                             .agent = a->agent,
                             .same_agent = a->same_agent,
                             .newphone = a->has_phone ? a->phone : NULL,
                             .contact_name = a->has_name ? a->name : NULL};
    for (int i = 0; i < 4 && req.has_window; i++)
        snprintf(req.window[i], sizeof(req.window[i]), "%.10s", a->window[i]);
    db_schedule_result_e res;
    db_write_t *x = NULL;
    int rc = db_call_schedule_prepare(db, &req, &res, &x);
    if (rc)
        return rc;
    switch (res) {
    case DB_SCHED_OK:
        x->reply = j->base.reply; /* the new id comes back to the worker, for the log */
        LOG_INFO(MOD, "schedulecall: copy requested agent=%s call_id=%u", a->agent,
                 x->u.schedule.from_call);
        return job_add_write(j, x);
    case DB_SCHED_NO_CALL:
        resp_failure(j, 417, "Not in outgoing call");
        break;
    case DB_SCHED_DATE_RANGE:
        resp_failure(j, 417, "Supplied date range outside campaign range");
        break;
    case DB_SCHED_TIME_RANGE:
        resp_failure(j, 417, "Supplied time range outside campaign range");
        break;
    case DB_SCHED_DUPLICATE:
        resp_failure(j, 417, "Found duplicate scheduled call");
        break;
    }
    return 0;
}
