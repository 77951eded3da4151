/*
 * ECCP requests answered from the call_center database.
 *
 * Split in two halves per request:
 * - a starter on the session worker validates what needs no database (the
 *   same checks and messages as Issabel, in the same order) and copies the
 *   arguments into an eccp_job_t;
 * - the job's run function executes on a DB reader thread with a live
 *   MYSQL*, performs the agent check when the request needs one, runs the
 *   request's SQL and writes the whole response into job->out (or a fragment
 *   the worker completes with registry data, for getcampaignstatus).
 * Nothing here touches sessions: the job carries copies only.
 *
 * SQL text is built with every string escaped by mysql_real_escape_string
 * and every number formatted from a parsed integer, so no client byte reaches
 * the server unquoted.
 */
#include "eccp/eccp_sql.h"

#include <stdarg.h>
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

/* ---------------- query building ---------------- */

typedef struct sq {
    buf_t b;
    MYSQL *my;
    int err;
} sq_t;

static void sq_init(sq_t *q, MYSQL *my)
{
    buf_init(&q->b, 0);
    q->my = my;
    q->err = 0;
}

static void sq_raw(sq_t *q, const char *s)
{
    if (!q->err && buf_append(&q->b, s, strlen(s)) != 0)
        q->err = CCD_ENOMEM;
}

static void sq_str(sq_t *q, const char *s)
{
    size_t n = strlen(s);
    char *tmp = malloc(2 * n + 3);
    if (!tmp) {
        q->err = CCD_ENOMEM;
        return;
    }
    tmp[0] = '\'';
    unsigned long k = mysql_real_escape_string(q->my, tmp + 1, s, (unsigned long)n);
    tmp[k + 1] = '\'';
    tmp[k + 2] = '\0';
    sq_raw(q, tmp);
    free(tmp);
}

static void sq_int(sq_t *q, long long v)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", v);
    sq_raw(q, t);
}

/* "<lo> AND <hi>", both quoted: the bounds of a BETWEEN. */
static void sq_between(sq_t *q, const char *lo, const char *hi)
{
    sq_str(q, lo);
    sq_raw(q, " AND ");
    sq_str(q, hi);
}

/* " LIMIT n[ OFFSET off]"; nothing when n < 0 (no limit). */
static void sq_limit(sq_t *q, long long n, long long off)
{
    if (n < 0)
        return;
    sq_raw(q, " LIMIT ");
    sq_int(q, n);
    if (off > 0) {
        sq_raw(q, " OFFSET ");
        sq_int(q, off);
    }
}

/* Runs the query; *res gets the result set (NULL for statements). 0 or CCD_EIO. */
static int sq_run(sq_t *q, MYSQL_RES **res)
{
    if (res)
        *res = NULL;
    int rc = q->err;
    if (!rc && mysql_real_query(q->my, buf_data(&q->b), q->b.len) != 0) {
        LOG_ERR(MOD, "SQL failed: %s", mysql_error(q->my));
        rc = CCD_EIO;
    }
    if (!rc && res) {
        *res = mysql_store_result(q->my);
        if (!*res && mysql_field_count(q->my) != 0) {
            LOG_ERR(MOD, "SQL result: %s", mysql_error(q->my));
            rc = CCD_EIO;
        }
    }
    buf_free(&q->b);
    return rc;
}

/* One-shot: builds from raw pieces. */
static const char *col(MYSQL_ROW row, int i)
{
    return row[i];
}

/* ---------------- response helpers (DB thread, into j->out) ---------------- */

static void resp_begin(xw_t *w, eccp_job_t *j)
{
    xw_init(w, &j->out);
    eccp_msg_resp_begin(w, j->id, j->def->name);
}

static void resp_end(xw_t *w, eccp_job_t *j)
{
    eccp_msg_resp_end(w, j->def->name);
}

static int resp_failure(eccp_job_t *j, int code, const char *msg)
{
    buf_reset(&j->out);
    return eccp_msg_req_failure(&j->out, j->id, j->def->name, NULL, code, msg);
}

static int top_failure(eccp_job_t *j, int code, const char *msg)
{
    buf_reset(&j->out);
    return eccp_msg_failure(&j->out, j->id, code, msg);
}

static void resp_success(eccp_job_t *j)
{
    xw_t w;
    resp_begin(&w, j);
    xw_open(&w, "success");
    xw_close(&w, "success");
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
static void leaves_nonnull(xw_t *w, MYSQL_ROW row, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++)
        if (row[i])
            xw_leaf(w, keys[i], row[i]);
}

/* One list column: element name, result column, and whether it is an estatus letter. */
typedef struct list_col {
    const char *name;
    int col;
    bool estatus;
} list_col_t;

/* <list><item><col..>...</item>...</list>, one item per row of res. */
static void rows_to_list(xw_t *w, MYSQL_RES *res, const char *list, const char *item,
                         const list_col_t *cols, int ncols)
{
    xw_open(w, list);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        xw_open(w, item);
        for (int i = 0; i < ncols; i++) {
            const char *v = row[cols[i].col];
            xw_leaf(w, cols[i].name, cols[i].estatus ? estatus_name(v) : v);
        }
        xw_close(w, item);
    }
    xw_close(w, list);
}

/* ---------------- the run function ---------------- */

static int agent_check(MYSQL *my, eccp_job_t *j)
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
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "SELECT id, eccp_password FROM agent WHERE estatus = 'A' AND type = ");
    sq_str(&q, type);
    sq_raw(&q, " AND number = ");
    sq_str(&q, number);
    sq_limit(&q, 1, 0);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    if (!row) {
        j->auth_code = 404;
        j->auth_msg = "Specified agent not found";
    } else {
        j->agent_db_id = row[0] ? atoll(row[0]) : 0;
        /* [quirk fixed] Issabel accepted any hash when eccp_password was NULL. */
        if (!eccp_agent_hash_ok(j->cookie, j->agent, row[1], j->hash)) {
            j->auth_code = 401;
            j->auth_msg = "Unauthorized agent";
        }
    }
    mysql_free_result(res);
    return 0;
}

int eccp__job_run(MYSQL *my, db_read_job_t *job)
{
    eccp_job_t *j = (eccp_job_t *)job;
    if (j->agentauth) {
        int rc = agent_check(my, j);
        if (rc || j->auth_code)
            return rc;
    }
    return j->sql ? j->sql(my, j) : 0;
}

/* ---------------- login ---------------- */

int eccp__sql_login(MYSQL *my, eccp_job_t *j)
{
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "SELECT COUNT(*) FROM eccp_authorized_clients WHERE username = ");
    sq_str(&q, j->a[0]);
    sq_raw(&q, " AND (md5_password = ");
    sq_str(&q, j->a[1]);
    sq_raw(&q, " OR md5_password = md5(");
    sq_str(&q, j->a[1]);
    sq_raw(&q, "))");
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    j->n[0] = row && row[0] ? atoll(row[0]) : 0;
    mysql_free_result(res);
    return 0;
}

/* ---------------- simple readers ---------------- */

static eccp_job_t *new_job(eccp_call_t *c, int (*sql)(MYSQL *, eccp_job_t *))
{
    return eccp__job_new(c, sql, NULL);
}

bool eccp__copy_args(eccp_call_t *c, eccp_job_t *j, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = eccp_arg(c->cmd, names[i], j->a[i], sizeof(j->a[i]));
        if (rc < 0) {
            eccp__failure(c, 400, "Bad request");
            eccp__job_free(j);
            return false;
        }
        j->has[i] = rc == 1;
    }
    return true;
}

static int sql_getqueuescript(MYSQL *my, eccp_job_t *j)
{
    sq_t q;
    sq_init(&q, my);
    /* Issabel casts the queue to int before comparing; so do we. ORDER BY estatus = A first. */
    sq_raw(&q, "SELECT script FROM queue_call_entry WHERE queue = ");
    sq_int(&q, j->n[0]);
    sq_raw(&q, " ORDER BY estatus");
    sq_limit(&q, 1, 0);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    if (!row) {
        resp_failure(j, 404, "Queue not found in incoming queues");
    } else {
        xw_t w;
        resp_begin(&w, j);
        xw_leaf(&w, "script", col(row, 0));
        resp_end(&w, j);
    }
    mysql_free_result(res);
    return 0;
}

void eccp__rq_getqueuescript(eccp_call_t *c)
{
    char v[256];
    if (eccp_arg(c->cmd, "queue", v, sizeof(v)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = new_job(c, sql_getqueuescript);
    if (!j)
        return;
    j->n[0] = eccp_intval(v);
    eccp__job_submit(c->w, j);
}

static int sql_getcampaignlist(MYSQL *my, eccp_job_t *j)
{
    /* a: 0 type 1 filtername 2 status(letter) 3 start 4 end; n: 0 limit(-1 none) 1 offset */
    sq_t q;
    sq_init(&q, my);
    const char *types[2] = {"incoming", "outgoing"};
    bool first = true;
    for (int t = 0; t < 2; t++) {
        if (j->has[0] && strcmp(j->a[0], types[t]) != 0)
            continue;
        sq_raw(&q, first ? "(" : " UNION (");
        first = false;
        sq_raw(&q, t == 0 ? "SELECT 'incoming' AS campaign_type, id, name, estatus AS status FROM campaign_entry"
                          : "SELECT 'outgoing' AS campaign_type, id, name, estatus AS status FROM campaign");
        const char *sep = " WHERE ";
        if (j->has[1]) {
            char like[600];
            snprintf(like, sizeof(like), "%%%s%%", j->a[1]);
            sq_raw(&q, sep);
            sq_raw(&q, "name LIKE ");
            sq_str(&q, like);
            sep = " AND ";
        }
        if (j->has[2]) {
            sq_raw(&q, sep);
            sq_raw(&q, "estatus = ");
            sq_str(&q, j->a[2]);
            sep = " AND ";
        }
        if (j->has[3]) {
            sq_raw(&q, sep);
            sq_raw(&q, "datetime_init >= ");
            sq_str(&q, j->a[3]);
            sep = " AND ";
        }
        if (j->has[4]) {
            sq_raw(&q, sep);
            sq_raw(&q, "datetime_init < ");
            sq_str(&q, j->a[4]);
        }
        sq_raw(&q, ")");
    }
    sq_raw(&q, " ORDER BY campaign_type, id");
    sq_limit(&q, j->n[0], j->n[1]);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    static const list_col_t cols[] = {
        {"id", 1, false}, {"type", 0, false}, {"name", 2, false}, {"status", 3, true}};
    xw_t w;
    resp_begin(&w, j);
    rows_to_list(&w, res, "campaigns", "campaign", cols, 4);
    resp_end(&w, j);
    mysql_free_result(res);
    return 0;
}

/* limit/offset as Issabel: offset without limit is an error; n[0] = -1 when no limit. */
static bool limit_offset(eccp_call_t *c, eccp_job_t *j, const char *lim, bool has_lim,
                         const char *off, bool has_off)
{
    j->n[0] = -1;
    j->n[1] = 0;
    if (has_lim) {
        j->n[0] = eccp_intval(lim);
        if (j->n[0] < 0)
            j->n[0] = 0;
    }
    if (has_off) {
        if (!has_lim) {
            eccp__failure(c, 400, "Bad request - offset without limit");
            eccp__job_free(j);
            return false;
        }
        j->n[1] = eccp_intval(off);
        if (j->n[1] < 0)
            j->n[1] = 0;
    }
    return true;
}

void eccp__rq_getcampaignlist(eccp_call_t *c)
{
    static const char *const k[] = {"campaign_type", "filtername", "status", "datetime_start",
                                    "datetime_end", "limit"};
    eccp_job_t *j = new_job(c, sql_getcampaignlist);
    if (!j || !eccp__copy_args(c, j, k, 6))
        return;
    char off[64];
    int ho = eccp_arg(c->cmd, "offset", off, sizeof(off)) == 1;
    if (j->has[0] && strcmp(j->a[0], "incoming") != 0 && strcmp(j->a[0], "outgoing") != 0) {
        eccp__failure(c, 400, "Bad request - invalid campaign type");
        eccp__job_free(j);
        return;
    }
    if (j->has[2]) {
        const char *m = strcmp(j->a[2], "active") == 0     ? "A"
                        : strcmp(j->a[2], "inactive") == 0 ? "I"
                        : strcmp(j->a[2], "finished") == 0 ? "T"
                                                           : NULL;
        if (!m) {
            eccp__failure(c, 400, "Bad request - invalid status");
            eccp__job_free(j);
            return;
        }
        strcpy(j->a[2], m);
    }
    if (j->has[3] && !eccp_is_date(j->a[3])) {
        eccp__failure(c, 400, "Bad request - invalid start date");
        eccp__job_free(j);
        return;
    }
    if (j->has[4] && !eccp_is_date(j->a[4])) {
        eccp__failure(c, 400, "Bad request - invalid end date");
        eccp__job_free(j);
        return;
    }
    if (j->has[3] && j->has[4] && strcmp(j->a[4], j->a[3]) < 0) {
        char t[256];
        memcpy(t, j->a[3], sizeof(t));
        memcpy(j->a[3], j->a[4], sizeof(t));
        memcpy(j->a[4], t, sizeof(t));
    }
    if (!limit_offset(c, j, j->a[5], j->has[5], off, ho))
        return;
    eccp__job_submit(c->w, j);
}

static int sql_getincomingqueuelist(MYSQL *my, eccp_job_t *j)
{
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "SELECT id, queue, estatus FROM queue_call_entry ORDER BY id");
    sq_limit(&q, j->n[0], j->n[1]);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    static const list_col_t cols[] = {{"id", 0, false}, {"queue", 1, false}, {"status", 2, true}};
    xw_t w;
    resp_begin(&w, j);
    rows_to_list(&w, res, "queues", "queue", cols, 3);
    resp_end(&w, j);
    mysql_free_result(res);
    return 0;
}

void eccp__rq_getincomingqueuelist(eccp_call_t *c)
{
    static const char *const k[] = {"limit", "offset"};
    eccp_job_t *j = new_job(c, sql_getincomingqueuelist);
    if (!j || !eccp__copy_args(c, j, k, 2))
        return;
    char lim[256], off[256];
    memcpy(lim, j->a[0], sizeof(lim));
    memcpy(off, j->a[1], sizeof(off));
    if (!limit_offset(c, j, lim, j->has[0], off, j->has[1]))
        return;
    eccp__job_submit(c->w, j);
}

static int sql_getcampaignqueuewait(MYSQL *my, eccp_job_t *j)
{
    bool incoming = j->n[1] == 1;
    sq_t q;
    sq_init(&q, my);
    if (incoming)
        sq_raw(&q, "SELECT COUNT(*), duration_wait FROM call_entry WHERE id_campaign = ");
    else
        sq_raw(&q, "SELECT COUNT(*), calls.duration_wait FROM calls LEFT JOIN campaign_lists ON "
                   "calls.id_list = campaign_lists.id WHERE campaign_lists.id_campaign = ");
    sq_int(&q, j->n[0]);
    sq_raw(&q, incoming ? " AND (status = 'activa' OR status = 'terminada') GROUP BY duration_wait"
                        : " AND calls.status = 'Success' GROUP BY calls.duration_wait");
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    long long hist[7] = {0};
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        long long n = row[0] ? atoll(row[0]) : 0;
        long long d = row[1] ? atoll(row[1]) : 0; /* PHP: NULL >= 30 false, NULL/5 = 0 */
        int pos = d >= 30 ? 6 : (int)(d / 5);
        if (pos < 0)
            pos = 0;
        hist[pos] += n;
    }
    mysql_free_result(res);
    sq_init(&q, my);
    if (incoming)
        sq_raw(&q, "SELECT COUNT(*) FROM call_entry WHERE id_campaign = ");
    else
        sq_raw(&q, "SELECT COUNT(*) FROM calls LEFT JOIN campaign_lists ON calls.id_list = "
                   "campaign_lists.id WHERE campaign_lists.id_campaign = ");
    sq_int(&q, j->n[0]);
    sq_raw(&q, incoming ? " AND status = 'abandonada'" : " AND calls.status = 'Abandoned'");
    rc = sq_run(&q, &res);
    if (rc)
        return rc;
    row = mysql_fetch_row(res);
    long long ab = row && row[0] ? atoll(row[0]) : 0;
    mysql_free_result(res);
    xw_t w;
    resp_begin(&w, j);
    xw_open(&w, "histogram");
    for (int i = 0; i < 7; i++) {
        xw_open(&w, "interval");
        xw_leaf_int(&w, "lower", i * 5);
        if (i != 6)
            xw_leaf_int(&w, "upper", i * 5 + 4);
        xw_leaf_int(&w, "count", hist[i]);
        xw_close(&w, "interval");
    }
    xw_close(&w, "histogram");
    xw_leaf_int(&w, "abandoned", ab);
    resp_end(&w, j);
    return 0;
}

void eccp__rq_getcampaignqueuewait(eccp_call_t *c)
{
    char id[256], type[256];
    if (eccp_arg(c->cmd, "campaign_id", id, sizeof(id)) != 1 ||
        eccp_arg(c->cmd, "campaign_type", type, sizeof(type)) != 1 ||
        (strcmp(type, "incoming") != 0 && strcmp(type, "outgoing") != 0)) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = new_job(c, sql_getcampaignqueuewait);
    if (!j)
        return;
    j->n[0] = eccp_intval(id);
    j->n[1] = strcmp(type, "incoming") == 0;
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

static int write_forms(MYSQL *my, xw_t *w, long long *ids, int nids)
{
    xw_open(w, "forms");
    for (int i = 0; i < nids; i++) {
        sq_t q;
        sq_init(&q, my);
        sq_raw(&q, "SELECT id, etiqueta, value, tipo, orden FROM form_field WHERE id_form = ");
        sq_int(&q, ids[i]);
        sq_raw(&q, " ORDER BY orden");
        MYSQL_RES *fres;
        int rc = sq_run(&q, &fres);
        if (rc)
            return rc;
        if (mysql_num_rows(fres) == 0) {
            mysql_free_result(fres);
            continue;
        }
        sq_init(&q, my);
        sq_raw(&q, "SELECT nombre, descripcion, estatus FROM form WHERE id = ");
        sq_int(&q, ids[i]);
        MYSQL_RES *nres;
        rc = sq_run(&q, &nres);
        if (rc) {
            mysql_free_result(fres);
            return rc;
        }
        MYSQL_ROW nr = mysql_fetch_row(nres);
        xw_open(w, "form");
        xw_attr_int(w, "id", ids[i]);
        if (nr && nr[0] && nr[0][0])
            xw_attr(w, "name", nr[0]);
        if (nr && nr[1] && nr[1][0])
            xw_attr(w, "description", nr[1]);
        xw_attr(w, "status", nr && nr[2] ? nr[2] : "");
        mysql_free_result(nres);
        MYSQL_ROW f;
        while ((f = mysql_fetch_row(fres))) {
            const char *type = f[3] ? f[3] : "";
            xw_open(w, "field");
            xw_attr(w, "order", f[4] ? f[4] : "");
            xw_attr(w, "id", f[0]);
            xw_leaf(w, "label", f[1]);
            xw_leaf(w, "type", type);
            if (strcmp(type, "LABEL") != 0 && strcmp(type, "DATE") != 0)
                xw_leaf_int(w, "maxsize", 250);
            const char *val = f[2] ? f[2] : "";
            if (strcmp(type, "LIST") == 0) {
                size_t l = strlen(val);
                if (l > 0 && val[l - 1] == ',')
                    l--; /* the web form editor leaves a trailing comma */
                xw_open(w, "options");
                size_t st = 0;
                for (size_t k = 0; k <= l; k++) {
                    if (k == l || val[k] == ',') {
                        xw_leaf_n(w, "value", val + st, k - st);
                        st = k + 1;
                    }
                }
                xw_close(w, "options");
            } else {
                const char *b = val;
                const char *e = val + strlen(val);
                while (b < e && (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'))
                    b++;
                while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                    e--;
                if (e > b)
                    xw_leaf_n(w, "default_value", b, (size_t)(e - b));
            }
            xw_close(w, "field");
        }
        xw_close(w, "form");
        mysql_free_result(fres);
    }
    xw_close(w, "forms");
    return 0;
}

static int sql_getcampaigninfo(MYSQL *my, eccp_job_t *j)
{
    bool incoming = j->n[1] == 1;
    sq_t q;
    sq_init(&q, my);
    if (!incoming)
        sq_raw(&q, "SELECT name, 'outgoing', datetime_init, datetime_end, daytime_init, daytime_end, "
                   "queue, retries, trunk, context, max_canales, estatus, script, urltemplate, "
                   "opentype FROM campaign LEFT JOIN campaign_external_url ON campaign.id_url = "
                   "campaign_external_url.id AND campaign_external_url.active = 1 WHERE campaign.id = ");
    else
        sq_raw(&q, "SELECT name, 'incoming', datetime_init, datetime_end, daytime_init, daytime_end, "
                   "queue, campaign_entry.estatus, campaign_entry.script, urltemplate, opentype, "
                   "id_form FROM (campaign_entry, queue_call_entry) LEFT JOIN campaign_external_url "
                   "ON campaign_entry.id_url = campaign_external_url.id AND "
                   "campaign_external_url.active = 1 WHERE campaign_entry.id_queue_call_entry = "
                   "queue_call_entry.id AND campaign_entry.id = ");
    sq_int(&q, j->n[0]);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    if (!row) {
        mysql_free_result(res);
        resp_failure(j, 404, "Campaign not found");
        return 0;
    }
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
            xw_leaf(&w, k, estatus_name(row[i]));
        } else if (strcmp(k, "script") == 0) {
            buf_t dec;
            buf_init(&dec, 0);
            html_decode(row[i] ? row[i] : "", &dec);
            xw_leaf_n(&w, k, buf_data(&dec), dec.len);
            buf_free(&dec);
        } else {
            xw_leaf(&w, k, row[i]);
        }
    }
    long long ids[64];
    int nids = 0;
    long long form_in = incoming && row[11] ? atoll(row[11]) : 0;
    mysql_free_result(res);
    sq_init(&q, my);
    sq_raw(&q, incoming ? "SELECT DISTINCT id_form FROM campaign_form_entry WHERE id_campaign = "
                        : "SELECT DISTINCT id_form FROM campaign_form WHERE id_campaign = ");
    sq_int(&q, j->n[0]);
    rc = sq_run(&q, &res);
    if (rc)
        return rc;
    while ((row = mysql_fetch_row(res)) && nids < 63)
        ids[nids++] = row[0] ? atoll(row[0]) : 0;
    mysql_free_result(res);
    if (form_in) {
        bool seen = false;
        for (int i = 0; i < nids; i++)
            seen |= ids[i] == form_in;
        if (!seen)
            ids[nids++] = form_in;
    }
    rc = write_forms(my, &w, ids, nids);
    if (rc)
        return rc;
    resp_end(&w, j);
    return 0;
}

static bool campaign_type_arg(eccp_call_t *c, bool *incoming)
{
    char t[64];
    int rc = eccp_arg(c->cmd, "campaign_type", t, sizeof(t));
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
    if (eccp_arg(c->cmd, "campaign_id", id, sizeof(id)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (!campaign_type_arg(c, &incoming))
        return;
    eccp_job_t *j = new_job(c, sql_getcampaigninfo);
    if (!j)
        return;
    j->n[0] = eccp_intval(id);
    j->n[1] = incoming;
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
        xw_open(w, "attribute");
        xw_leaf_n(w, "label", buf_data(&kv[0]), kv[0].len);
        xw_leaf_n(w, "value", buf_data(&kv[1]), kv[1].len);
        xw_leaf_int(w, "order", order++);
        xw_close(w, "attribute");
        buf_free(&kv[0]);
        buf_free(&kv[1]);
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (*p != ',')
            return;
    }
}

static int write_survey(MYSQL *my, xw_t *w, bool incoming, long long call_id)
{
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, incoming ? "SELECT ff.id_form, ff.id, ff.etiqueta, d.value FROM "
                          "form_data_recolected_entry d JOIN form_field ff ON ff.id = "
                          "d.id_form_field WHERE d.id_call_entry = "
                        : "SELECT ff.id_form, ff.id, ff.etiqueta, d.value FROM form_data_recolected d "
                          "JOIN form_field ff ON ff.id = d.id_form_field WHERE d.id_calls = ");
    sq_int(&q, call_id);
    sq_raw(&q, " ORDER BY ff.id_form, ff.orden, ff.id");
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    xw_open(w, "call_survey");
    MYSQL_ROW r;
    char cur[32] = "";
    bool open = false;
    while ((r = mysql_fetch_row(res))) {
        if (!open || strcmp(cur, r[0] ? r[0] : "") != 0) {
            if (open)
                xw_close(w, "form");
            snprintf(cur, sizeof(cur), "%s", r[0] ? r[0] : "");
            xw_open(w, "form");
            xw_attr(w, "id", cur);
            open = true;
        }
        xw_open(w, "field");
        xw_attr(w, "id", r[1]);
        xw_leaf(w, "label", r[2]);
        xw_leaf(w, "value", r[3]);
        xw_close(w, "field");
    }
    if (open)
        xw_close(w, "form");
    xw_close(w, "call_survey");
    mysql_free_result(res);
    return 0;
}

static void contact_attrs(xw_t *w, MYSQL_ROW r, int first, bool with_source)
{
    static const char *const labels[] = {"first_name", "last_name", "phone", "cedula_ruc",
                                         "contact_source"};
    int n = with_source ? 5 : 4;
    for (int i = 0; i < n; i++) {
        xw_open(w, "attribute");
        xw_leaf(w, "label", labels[i]);
        xw_leaf(w, "value", r[first + i]);
        xw_leaf_int(w, "order", i + 1);
        xw_close(w, "attribute");
    }
}

static int sql_getcallinfo(MYSQL *my, eccp_job_t *j)
{
    bool incoming = j->n[2] == 1;
    sq_t q;
    sq_init(&q, my);
    if (!incoming) {
        sq_raw(&q, "SELECT calls.id, campaign_lists.id_campaign, calls.phone, calls.status, "
                   "calls.uniqueid, calls.duration, calls.datetime_originate, calls.fecha_llamada, "
                   "calls.datetime_entry_queue, calls.start_time, calls.end_time, calls.retries, "
                   "calls.failure_cause, calls.failure_cause_txt, CONCAT(agent.type,'/',agent.number), "
                   "calls.trunk FROM calls LEFT JOIN campaign_lists ON calls.id_list = campaign_lists.id "
                   "LEFT JOIN agent ON agent.id = calls.id_agent WHERE calls.id = ");
        sq_int(&q, j->n[1]);
        sq_raw(&q, " AND campaign_lists.id_campaign = ");
        sq_int(&q, j->n[0]);
    } else {
        sq_raw(&q, "SELECT ce.id, ce.id_campaign, ce.callerid, ce.status, ce.uniqueid, ce.duration, "
                   "ce.datetime_entry_queue, ce.datetime_init, ce.datetime_end, ce.trunk, qce.queue, "
                   "CONCAT(agent.type,'/',agent.number), c.name, c.apellido, c.telefono, c.cedula_ruc, "
                   "c.origen, ce.id_contact FROM call_entry ce JOIN queue_call_entry qce ON qce.id = "
                   "ce.id_queue_call_entry LEFT JOIN agent ON agent.id = ce.id_agent LEFT JOIN contact c "
                   "ON c.id = ce.id_contact WHERE ce.id = ");
        sq_int(&q, j->n[1]);
        if (j->has[0]) {
            sq_raw(&q, " AND ce.id_campaign = ");
            sq_int(&q, j->n[0]);
        }
    }
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc) {
        resp_failure(j, 500, "Cannot read call info");
        return 0;
    }
    MYSQL_ROW r = mysql_fetch_row(res);
    if (!r) {
        mysql_free_result(res);
        resp_failure(j, 404, "Call not found");
        return 0;
    }
    xw_t w;
    resp_begin(&w, j);
    xw_leaf(&w, "calltype", incoming ? "incoming" : "outgoing");
    char callerid[64] = "";
    if (!incoming) {
        static const char *const k[] = {"call_id", "campaign_id", "phone", "status", "uniqueid",
                                        "duration", "datetime_originate", "datetime_originateresponse",
                                        "datetime_join", "datetime_linkstart", "datetime_linkend",
                                        "retries", "failure_cause", "failure_cause_txt", "agent_number",
                                        "trunk"};
        leaves_nonnull(&w, r, k, 16);
    } else {
        static const char *const k[] = {"call_id", "campaign_id", "phone", "status", "uniqueid",
                                        "duration", "datetime_join", "datetime_linkstart",
                                        "datetime_linkend", "trunk", "queue", "agent_number"};
        leaves_nonnull(&w, r, k, 12);
        snprintf(callerid, sizeof(callerid), "%s", r[2] ? r[2] : "");
    }
    long long call_id = j->n[1];
    if (!incoming) {
        mysql_free_result(res);
        sq_init(&q, my);
        sq_raw(&q, "SELECT data FROM call_attribute WHERE id_call = ");
        sq_int(&q, call_id);
        sq_raw(&q, " ORDER BY id");
        sq_limit(&q, 1, 0);
        rc = sq_run(&q, &res);
        if (rc) {
            resp_failure(j, 500, "Cannot read call info");
            return 0;
        }
        xw_open(&w, "call_attributes");
        MYSQL_ROW ar = mysql_fetch_row(res);
        if (ar && ar[0])
            json_attributes(&w, ar[0]);
        xw_close(&w, "call_attributes");
        mysql_free_result(res);
    } else {
        /* [quirk fixed] Issabel emitted garbage labels here; we give the contact's fields. */
        xw_open(&w, "call_attributes");
        if (r[17])
            contact_attrs(&w, r, 12, true);
        xw_close(&w, "call_attributes");
        mysql_free_result(res);
        sq_init(&q, my);
        sq_raw(&q, "SELECT id, name, apellido, telefono, cedula_ruc FROM contact WHERE telefono = ");
        sq_str(&q, callerid);
        sq_raw(&q, " ORDER BY id");
        rc = sq_run(&q, &res);
        if (rc) {
            resp_failure(j, 500, "Cannot read call info");
            return 0;
        }
        xw_open(&w, "matching_contacts");
        MYSQL_ROW cr;
        while (callerid[0] && (cr = mysql_fetch_row(res))) {
            xw_open(&w, "contact");
            xw_attr(&w, "id", cr[0]);
            contact_attrs(&w, cr, 1, false);
            xw_close(&w, "contact");
        }
        xw_close(&w, "matching_contacts");
        mysql_free_result(res);
    }
    if (write_survey(my, &w, incoming, call_id) != 0) {
        resp_failure(j, 500, "Cannot read call info");
        return 0;
    }
    resp_end(&w, j);
    return 0;
}

void eccp__rq_getcallinfo(eccp_call_t *c)
{
    bool incoming;
    if (!campaign_type_arg(c, &incoming))
        return;
    char cid[256], call[256];
    int hc = eccp_arg(c->cmd, "campaign_id", cid, sizeof(cid));
    if ((hc != 1 && !incoming) || eccp_arg(c->cmd, "call_id", call, sizeof(call)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = new_job(c, sql_getcallinfo);
    if (!j)
        return;
    j->has[0] = hc == 1;
    j->n[0] = hc == 1 ? eccp_intval(cid) : 0;
    j->n[1] = eccp_intval(call);
    j->n[2] = incoming;
    eccp__job_submit(c->w, j);
}

/* ---------------- getpauses ---------------- */

static int sql_getpauses(MYSQL *my, eccp_job_t *j)
{
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "SELECT id, name, status, tipo, description FROM break WHERE tipo = 'B' ORDER BY id");
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    xw_t w;
    resp_begin(&w, j);
    MYSQL_ROW r;
    while ((r = mysql_fetch_row(res))) {
        xw_open(&w, "pause");
        xw_attr(&w, "id", r[0]);
        xw_leaf(&w, "name", r[1]);
        xw_leaf(&w, "status", r[2]);
        xw_leaf(&w, "type", r[3]);
        xw_leaf(&w, "description", r[4]);
        xw_close(&w, "pause");
    }
    resp_end(&w, j);
    mysql_free_result(res);
    return 0;
}

void eccp__rq_getpauses(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_getpauses);
    if (j)
        eccp__job_submit(c->w, j);
}

int eccp__sql_break_check(MYSQL *my, eccp_job_t *j)
{
    if (!j->has[0])
        return 0;
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "SELECT id, name FROM break WHERE tipo = 'B' AND status = 'A' AND id = ");
    sq_int(&q, eccp_intval(j->a[0]));
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW r = mysql_fetch_row(res);
    j->n[0] = r != NULL;
    if (r)
        snprintf(j->res[0], sizeof(j->res[0]), "%s", r[1] ? r[1] : "");
    mysql_free_result(res);
    return 0;
}

/* ---------------- getcampaignstatus / getincomingqueuestatus ---------------- */

/*
 * The DB half writes <statuscount> into out and <stats> into out2 and the
 * queue into res[0]; the worker half adds <agents> and <activecalls> from the
 * registry between them.
 */
static void statuscount(xw_t *w, MYSQL_RES *res, bool incoming)
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
    MYSQL_ROW r;
    while ((r = mysql_fetch_row(res))) {
        long long n = r[0] ? atoll(r[0]) : 0;
        total += n;
        const char *st = r[1];
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
    xw_open(w, "statuscount");
    xw_leaf_int(w, "total", total);
    for (int i = 0; i < nk; i++) {
        char k[40];
        snprintf(k, sizeof(k), "%s", keys[i]);
        for (char *p = k; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        xw_leaf_int(w, k, cnt[i]);
    }
    for (int i = 0; i < nextra; i++) {
        char *k = extra_k[i];
        bool ok = true;
        for (char *p = k; *p; p++) {
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            ok &= (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        }
        if (ok && !(k[0] >= '0' && k[0] <= '9') && k[0] != '-')
            xw_leaf_int(w, k, extra_v[i]);
    }
    xw_close(w, "statuscount");
}

static int sql_campaignstatus(MYSQL *my, eccp_job_t *j)
{
    /* n[0] campaign id, n[1] 1 = incoming, n[2] 2 = queue mode; a[0] start or "", a[1] queue */
    int mode = (int)j->n[2] == 2 ? 2 : (int)j->n[1];
    const char *start = j->has[0] ? j->a[0] : NULL;
    sq_t q;
    MYSQL_RES *res;
    int rc;
    if (mode != 2) {
        sq_init(&q, my);
        sq_raw(&q, mode ? "SELECT qce.queue FROM campaign_entry ce, queue_call_entry qce WHERE "
                          "ce.id_queue_call_entry = qce.id AND ce.id = "
                        : "SELECT queue FROM campaign WHERE id = ");
        sq_int(&q, j->n[0]);
        rc = sq_run(&q, &res);
        if (rc)
            return rc;
        MYSQL_ROW r = mysql_fetch_row(res);
        if (!r) {
            mysql_free_result(res);
            resp_failure(j, 404, "Campaign not found");
            j->n[3] = 404;
            return 0;
        }
        snprintf(j->res[0], sizeof(j->res[0]), "%s", r[0] ? r[0] : "");
        mysql_free_result(res);
    } else {
        snprintf(j->res[0], sizeof(j->res[0]), "%s", j->a[1]);
    }
    sq_init(&q, my);
    if (mode == 0) {
        sq_raw(&q, "SELECT COUNT(*), calls.status FROM calls LEFT JOIN campaign_lists ON "
                   "calls.id_list = campaign_lists.id WHERE campaign_lists.id_campaign = ");
        sq_int(&q, j->n[0]);
        if (start) {
            sq_raw(&q, " AND datetime_originate >= ");
            sq_str(&q, start);
        }
        sq_raw(&q, " GROUP BY calls.status");
    } else if (mode == 1) {
        sq_raw(&q, "SELECT COUNT(*), status FROM call_entry WHERE id_campaign = ");
        sq_int(&q, j->n[0]);
        if (start) {
            sq_raw(&q, " AND datetime_entry_queue >= ");
            sq_str(&q, start);
        }
        sq_raw(&q, " GROUP BY status");
    } else {
        sq_raw(&q, "SELECT COUNT(*), status FROM call_entry, queue_call_entry WHERE "
                   "call_entry.id_campaign IS NULL AND call_entry.id_queue_call_entry = "
                   "queue_call_entry.id AND queue_call_entry.queue = ");
        sq_str(&q, j->a[1]);
        if (start) {
            sq_raw(&q, " AND call_entry.datetime_entry_queue >= ");
            sq_str(&q, start);
        }
        sq_raw(&q, " GROUP BY status");
    }
    rc = sq_run(&q, &res);
    if (rc)
        return rc;
    if (mode == 2 && mysql_num_rows(res) == 0) {
        /* Issabel answers 404 only when the summary is empty; a queue with no calls
         * still yields its zero counters there, so keep going unless the queue is unknown. */
    }
    xw_t w;
    xw_init(&w, &j->out);
    statuscount(&w, res, mode != 0);
    mysql_free_result(res);
    sq_init(&q, my);
    if (mode == 0) {
        sq_raw(&q, "SELECT SUM(duration), MAX(duration) FROM calls LEFT JOIN campaign_lists ON "
                   "calls.id_list = campaign_lists.id WHERE campaign_lists.id_campaign = ");
        sq_int(&q, j->n[0]);
        sq_raw(&q, " AND calls.status = 'Success' AND end_time IS NOT NULL");
        if (start) {
            sq_raw(&q, " AND start_time >= ");
            sq_str(&q, start);
        }
    } else if (mode == 1) {
        sq_raw(&q, "SELECT SUM(duration), MAX(duration) FROM call_entry WHERE id_campaign = ");
        sq_int(&q, j->n[0]);
        sq_raw(&q, " AND status = 'terminada' AND datetime_end IS NOT NULL");
        if (start) {
            sq_raw(&q, " AND datetime_init >= ");
            sq_str(&q, start);
        }
    } else {
        sq_raw(&q, "SELECT SUM(duration), MAX(duration) FROM call_entry, queue_call_entry WHERE "
                   "id_campaign IS NULL AND id_queue_call_entry = queue_call_entry.id AND "
                   "queue_call_entry.queue = ");
        sq_str(&q, j->a[1]);
        sq_raw(&q, " AND status = 'terminada' AND datetime_end IS NOT NULL");
        if (start) {
            sq_raw(&q, " AND datetime_init >= ");
            sq_str(&q, start);
        }
    }
    rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW r = mysql_fetch_row(res);
    xw_t w2;
    xw_init(&w2, &j->out2);
    xw_open(&w2, "stats");
    xw_leaf_int(&w2, "total_sec", r && r[0] ? atoll(r[0]) : 0);
    xw_leaf_int(&w2, "max_duration", r && r[1] ? atoll(r[1]) : 0);
    xw_close(&w2, "stats");
    mysql_free_result(res);
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
    if (j->n[3] == 404) {
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
        eccp_msg_failure(b, j->id, 500, "Internal server error");
        eccp__send_buf(wk, s, b);
        return;
    }
    bool queue_mode = j->n[2] == 2;
    reg_call_type_e type = (j->n[1] == 1 || queue_mode) ? REG_CALL_INCOMING : REG_CALL_OUTGOING;
    const char *queue = j->res[0];
    xw_t w;
    xw_init(&w, b);
    eccp_msg_resp_begin(&w, j->id, j->def->name);
    xw_fragment(&w, buf_data(&j->out), j->out.len);
    xw_open(&w, "agents");
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
                                    : call->campaign_id == j->n[0]);
            if (pass == 0 ? !ours : (ours || !agent_in_queue(a, queue)))
                continue;
            xw_open(&w, "agent");
            xw_leaf(&w, "agentchannel", a->number);
            eccp__agent_status(&w, a, call, true);
            xw_close(&w, "agent");
        }
    }
    xw_close(&w, "agents");
    xw_open(&w, "activecalls");
    for (size_t k = 0; k < nc; k++) {
        reg_call_t *c = &calls[k];
        if (c->type != type || c->agent[0])
            continue;
        if (queue_mode ? (c->campaign_id != 0 || strcmp(c->queue, queue) != 0)
                       : c->campaign_id != j->n[0])
            continue;
        if (c->status != REG_CS_PLACING && c->status != REG_CS_DIALING &&
            c->status != REG_CS_RINGING && c->status != REG_CS_ONQUEUE)
            continue;
        xw_open(&w, "activecall");
        eccp__call_info_short(&w, c);
        xw_close(&w, "activecall");
    }
    xw_close(&w, "activecalls");
    xw_fragment(&w, buf_data(&j->out2), j->out2.len);
    eccp_msg_resp_end(&w, j->def->name);
    free(agents);
    free(calls);
    eccp__send_buf(wk, s, b);
}

static bool start_date(eccp_call_t *c, eccp_job_t *j)
{
    int rc = eccp_arg(c->cmd, "datetime_start", j->a[0], sizeof(j->a[0]));
    if (rc == 1) {
        if (!eccp_is_date(j->a[0])) {
            eccp__failure(c, 400, "Bad request - invalid start date");
            eccp__job_free(j);
            return false;
        }
        strcat(j->a[0], " 00:00:00");
    }
    j->has[0] = rc == 1;
    return true;
}

void eccp__rq_getcampaignstatus(eccp_call_t *c)
{
    char id[256];
    if (eccp_arg(c->cmd, "campaign_id", id, sizeof(id)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    char t[64];
    int rt = eccp_arg(c->cmd, "campaign_type", t, sizeof(t));
    eccp_job_t *j = eccp__job_new(c, sql_campaignstatus, campaignstatus_done);
    if (!j || !start_date(c, j))
        return;
    if (rt != 0 && (rt != 1 || (strcmp(t, "incoming") != 0 && strcmp(t, "outgoing") != 0))) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return;
    }
    j->n[0] = eccp_intval(id);
    j->n[1] = rt == 1 && t[0] == 'i';
    eccp__job_submit(c->w, j);
}

void eccp__rq_getincomingqueuestatus(eccp_call_t *c)
{
    char queue[256];
    if (eccp_arg(c->cmd, "queue", queue, sizeof(queue)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_job_t *j = eccp__job_new(c, sql_campaignstatus, campaignstatus_done);
    if (!j || !start_date(c, j))
        return;
    memcpy(j->a[1], queue, sizeof(j->a[1]));
    j->n[1] = 1;
    j->n[2] = 2;
    eccp__job_submit(c->w, j);
}

/* ---------------- getagentactivitysummary ---------------- */

typedef struct agsum {
    long long id;
    char last[4][32]; /* session start/end, pause start/end */
    bool has[4];
} agsum_t;

static int sql_activity(MYSQL *my, eccp_job_t *j)
{
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s 00:00:00", j->a[0]);
    snprintf(to, sizeof(to), "%s 23:59:59", j->a[1]);
    sq_t q;
    MYSQL_RES *ag, *calls, *sess, *pau;
    int rc;
    sq_init(&q, my);
    sq_raw(&q, "SELECT agent.id, agent.type, agent.number, agent.name, SUM(TIME_TO_SEC(duration)) "
               "FROM agent LEFT JOIN audit ON agent.id = audit.id_agent AND audit.id_break IS NULL "
               "AND audit.datetime_init BETWEEN ");
    sq_between(&q, from, to);
    sq_raw(&q, " WHERE estatus = 'A' GROUP BY agent.id ORDER BY agent.id");
    if ((rc = sq_run(&q, &ag)))
        return rc;
    sq_init(&q, my);
    sq_raw(&q, "(SELECT call_entry.id_agent, 'incoming', queue_call_entry.queue, "
               "SUM(call_entry.duration), COUNT(*) FROM call_entry, queue_call_entry WHERE "
               "call_entry.id_queue_call_entry = queue_call_entry.id AND call_entry.datetime_init "
               "BETWEEN ");
    sq_between(&q, from, to);
    sq_raw(&q, " GROUP BY call_entry.id_agent, queue_call_entry.queue) UNION (SELECT calls.id_agent, "
               "'outgoing', campaign.queue, SUM(calls.duration), COUNT(*) FROM calls LEFT JOIN "
               "campaign_lists ON calls.id_list = campaign_lists.id INNER JOIN campaign ON campaign.id "
               "= campaign_lists.id_campaign WHERE calls.start_time BETWEEN ");
    sq_between(&q, from, to);
    sq_raw(&q, " GROUP BY calls.id_agent, campaign.queue)");
    if ((rc = sq_run(&q, &calls))) {
        mysql_free_result(ag);
        return rc;
    }
    MYSQL_RES **lastres[2] = {&sess, &pau};
    for (int k = 0; k < 2; k++) {
        const char *cond = k == 0 ? "IS NULL" : "IS NOT NULL";
        sq_init(&q, my);
        sq_raw(&q, "SELECT a.id_agent, a.datetime_init, a.datetime_end FROM audit a LEFT OUTER JOIN "
                   "audit b ON b.id_break ");
        sq_raw(&q, cond);
        sq_raw(&q, " AND a.id_agent = b.id_agent AND ((a.datetime_init < b.datetime_init) OR "
                   "(a.datetime_init = b.datetime_init AND a.id < b.id)) AND b.datetime_init BETWEEN ");
        sq_between(&q, from, to);
        sq_raw(&q, " WHERE a.id_break ");
        sq_raw(&q, cond);
        sq_raw(&q, " AND a.datetime_init BETWEEN ");
        sq_between(&q, from, to);
        sq_raw(&q, " AND b.id_agent IS NULL");
        if ((rc = sq_run(&q, lastres[k]))) {
            mysql_free_result(ag);
            mysql_free_result(calls);
            if (k == 1)
                mysql_free_result(sess);
            return rc;
        }
    }
    xw_t w;
    resp_begin(&w, j);
    xw_open(&w, "agents");
    MYSQL_ROW a;
    while ((a = mysql_fetch_row(ag))) {
        char ch[200];
        snprintf(ch, sizeof(ch), "%s/%s", a[1] ? a[1] : "", a[2] ? a[2] : "");
        xw_open(&w, "agent");
        xw_leaf(&w, "agentchannel", ch);
        xw_leaf(&w, "agentname", a[3]);
        xw_leaf(&w, "logintime", a[4] ? a[4] : "0");
        xw_open(&w, "callsummary");
        for (int t = 0; t < 2; t++) {
            const char *tn = t == 0 ? "incoming" : "outgoing";
            xw_open(&w, tn);
            mysql_data_seek(calls, 0);
            MYSQL_ROW cr;
            while ((cr = mysql_fetch_row(calls))) {
                if (!cr[0] || !a[0] || strcmp(cr[0], a[0]) != 0 || strcmp(cr[1], tn) != 0)
                    continue;
                xw_open(&w, "queue");
                xw_attr(&w, "id", cr[2] ? cr[2] : "");
                xw_leaf(&w, "sec_calls", cr[3]);
                xw_leaf(&w, "num_calls", cr[4]);
                xw_close(&w, "queue");
            }
            xw_close(&w, tn);
        }
        xw_close(&w, "callsummary");
        for (int k = 0; k < 2; k++) {
            MYSQL_RES *lr = *lastres[k];
            mysql_data_seek(lr, 0);
            MYSQL_ROW sr;
            while ((sr = mysql_fetch_row(lr))) {
                if (!sr[0] || !a[0] || strcmp(sr[0], a[0]) != 0)
                    continue;
                xw_leaf(&w, k == 0 ? "lastsessionstart" : "lastpausestart", sr[1]);
                if (sr[2])
                    xw_leaf(&w, k == 0 ? "lastsessionend" : "lastpauseend", sr[2]);
                break;
            }
        }
        xw_close(&w, "agent");
    }
    xw_close(&w, "agents");
    resp_end(&w, j);
    mysql_free_result(ag);
    mysql_free_result(calls);
    mysql_free_result(sess);
    mysql_free_result(pau);
    return 0;
}

/* datetime_start / datetime_end (default today, swapped when reversed) into a[0], a[1]. */
static bool date_range(eccp_call_t *c, eccp_job_t *j)
{
    char today[32];
    eccp__fmt_time(clk_wall_ms(), false, today);
    today[10] = '\0';
    static const char *const k[2] = {"datetime_start", "datetime_end"};
    static const char *const err[2] = {"Bad request - invalid start date",
                                       "Bad request - invalid end date"};
    for (int i = 0; i < 2; i++) {
        int rc = eccp_arg(c->cmd, k[i], j->a[i], sizeof(j->a[i]));
        if (rc == 0) {
            snprintf(j->a[i], sizeof(j->a[i]), "%s", today);
        } else if (rc < 0 || !eccp_is_date(j->a[i])) {
            eccp__failure(c, 400, err[i]);
            eccp__job_free(j);
            return false;
        }
    }
    if (strcmp(j->a[1], j->a[0]) < 0) {
        char t[256];
        memcpy(t, j->a[0], sizeof(t));
        memcpy(j->a[0], j->a[1], sizeof(t));
        memcpy(j->a[1], t, sizeof(t));
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

static int sql_campaignlog(MYSQL *my, eccp_job_t *j)
{
    /* a0 start a1 end a2 queue; n0 campaign id (has[3]), n1 incoming, n2 last_n (-1), n3 idbefore (-1) */
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s 00:00:00", j->a[0]);
    snprintf(to, sizeof(to), "%s 23:59:59", j->a[1]);
    sq_t q;
    sq_init(&q, my);
    if (j->n[1]) {
        sq_raw(&q, "SELECT cpl.id, cpl.datetime_entry, ce.callerid, qce.queue, 'incoming', "
                   "cpl.id_campaign_incoming, cpl.id_call_incoming, cpl.new_status, cpl.retry, "
                   "cpl.uniqueid, cpl.trunk, cpl.duration, CONCAT(agent.type, '/', agent.number) FROM "
                   "(call_progress_log cpl, call_entry ce, queue_call_entry qce) LEFT JOIN agent ON "
                   "cpl.id_agent = agent.id WHERE cpl.id_call_incoming = ce.id AND "
                   "ce.id_queue_call_entry = qce.id");
        if (j->has[3]) {
            sq_raw(&q, " AND cpl.id_campaign_incoming = ");
            sq_int(&q, j->n[0]);
        } else {
            sq_raw(&q, " AND cpl.id_campaign_incoming IS NULL AND qce.queue = ");
            sq_str(&q, j->a[2]);
        }
    } else {
        /* [quirk fixed] Issabel joined on calls.id_campaign, which no longer exists. */
        sq_raw(&q, "SELECT cpl.id, cpl.datetime_entry, calls.phone, campaign.queue, 'outgoing', "
                   "cpl.id_campaign_outgoing, cpl.id_call_outgoing, cpl.new_status, cpl.retry, "
                   "cpl.uniqueid, cpl.trunk, cpl.duration, CONCAT(agent.type, '/', agent.number) FROM "
                   "call_progress_log cpl LEFT JOIN calls ON cpl.id_call_outgoing = calls.id INNER JOIN "
                   "campaign ON cpl.id_campaign_outgoing = campaign.id LEFT JOIN agent ON cpl.id_agent "
                   "= agent.id WHERE cpl.id_campaign_outgoing = ");
        sq_int(&q, j->n[0]);
    }
    sq_raw(&q, " AND cpl.datetime_entry BETWEEN ");
    sq_between(&q, from, to);
    if (j->n[3] >= 0) {
        sq_raw(&q, " AND cpl.id < ");
        sq_int(&q, j->n[3]);
    }
    sq_raw(&q, j->n[2] >= 0 ? " ORDER BY cpl.id DESC" : " ORDER BY cpl.id");
    sq_limit(&q, j->n[2], 0);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    static const char *const k[] = {"id", "datetime_entry", "phone", "queue", "campaign_type",
                                    "campaign_id", "call_id", "new_status", "retry", "uniqueid",
                                    "trunk", "duration", "agentchannel"};
    size_t nrows = (size_t)mysql_num_rows(res);
    xw_t w;
    resp_begin(&w, j);
    xw_open(&w, "logentries");
    for (size_t i = 0; i < nrows; i++) {
        /* last_n reads newest first; the answer is oldest first. */
        mysql_data_seek(res, j->n[2] >= 0 ? nrows - 1 - i : i);
        MYSQL_ROW r = mysql_fetch_row(res);
        xw_open(&w, "logentry");
        leaves_nonnull(&w, r, k, 13);
        xw_close(&w, "logentry");
    }
    xw_close(&w, "logentries");
    resp_end(&w, j);
    mysql_free_result(res);
    return 0;
}

void eccp__rq_campaignlog(eccp_call_t *c)
{
    eccp_job_t *j = new_job(c, sql_campaignlog);
    if (!j || !date_range(c, j))
        return;
    char t[64], v[256];
    if (eccp_arg(c->cmd, "campaign_type", t, sizeof(t)) != 1 ||
        (strcmp(t, "incoming") != 0 && strcmp(t, "outgoing") != 0)) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return;
    }
    j->n[1] = t[0] == 'i';
    j->has[3] = eccp_arg(c->cmd, "campaign_id", v, sizeof(v)) == 1;
    j->n[0] = j->has[3] ? eccp_intval(v) : 0;
    int hq = eccp_arg(c->cmd, "queue", j->a[2], sizeof(j->a[2])) == 1;
    if ((!j->n[1] && !j->has[3]) || (j->n[1] && !j->has[3] && !hq)) {
        eccp__failure(c, 400, "Bad request");
        eccp__job_free(j);
        return;
    }
    j->n[2] = -1;
    j->n[3] = -1;
    if (eccp_arg(c->cmd, "last_n", v, sizeof(v)) == 1) {
        j->n[2] = eccp_intval(v);
        if (j->n[2] < 0)
            j->n[2] = 0;
        if (eccp_arg(c->cmd, "idbefore", v, sizeof(v)) == 1)
            j->n[3] = eccp_intval(v);
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
static int sql_refreshagents(MYSQL *my, eccp_job_t *j)
{
    db_agent_t *rows = NULL;
    size_t n = 0;
    int rc = db_load_agents(my, &rows, &n);
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
        LOG_WARN(MOD, "refreshagents: registry inbox full, agent list not applied");
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

/* ---------------- setcontact / saveformdata ---------------- */

/* The agent that took the call, "Type/Number", into out; false when none. */
static int call_agent(MYSQL *my, bool incoming, long long call_id, char *out, size_t outsz,
                      bool *found)
{
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, incoming ? "SELECT CONCAT(agent.type,'/',agent.number) FROM call_entry, agent WHERE "
                          "call_entry.id_agent = agent.id AND call_entry.id = "
                        : "SELECT CONCAT(agent.type,'/',agent.number) FROM calls, agent WHERE "
                          "calls.id_agent = agent.id AND calls.id = ");
    sq_int(&q, call_id);
    MYSQL_RES *res;
    int rc = sq_run(&q, &res);
    if (rc)
        return rc;
    MYSQL_ROW r = mysql_fetch_row(res);
    *found = r && r[0];
    snprintf(out, outsz, "%s", *found ? r[0] : "");
    mysql_free_result(res);
    return 0;
}

static long long count_of(MYSQL *my, const char *sql_prefix, long long id, int *rc)
{
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, sql_prefix);
    sq_int(&q, id);
    MYSQL_RES *res;
    *rc = sq_run(&q, &res);
    if (*rc)
        return 0;
    MYSQL_ROW r = mysql_fetch_row(res);
    long long n = r && r[0] ? atoll(r[0]) : 0;
    mysql_free_result(res);
    return n;
}

int eccp__sql_setcontact(MYSQL *my, eccp_job_t *j)
{
    if (!j->has[0] || !j->has[1]) {
        top_failure(j, 400, "Bad request");
        return 0;
    }
    long long call_id = eccp_intval(j->a[0]), contact = eccp_intval(j->a[1]);
    int rc;
    if (count_of(my, "SELECT COUNT(*) FROM call_entry WHERE id = ", call_id, &rc) < 1) {
        if (rc)
            return rc;
        resp_failure(j, 404, "Call ID not found");
        return 0;
    }
    char who[REG_ID_LEN];
    bool found;
    if ((rc = call_agent(my, true, call_id, who, sizeof(who), &found)))
        return rc;
    if (!found || strcmp(who, j->agent) != 0) {
        resp_failure(j, 401, "Unauthorized agent");
        return 0;
    }
    if (count_of(my, "SELECT COUNT(*) FROM contact WHERE id = ", contact, &rc) < 1) {
        if (rc)
            return rc;
        resp_failure(j, 404, "Contact ID not found");
        return 0;
    }
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "UPDATE call_entry SET id_contact = ");
    sq_int(&q, contact);
    sq_raw(&q, " WHERE id = ");
    sq_int(&q, call_id);
    if ((rc = sq_run(&q, NULL)))
        return rc;
    resp_success(j);
    return 0;
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
    int rt = eccp_arg(c->cmd, "campaign_type", t, sizeof(t));
    if (rt < 0 || (rt == 1 && strcmp(t, "incoming") != 0 && strcmp(t, "outgoing") != 0)) {
        eccp__failure(c, 400, "Bad request");
        return CCD_EINVAL;
    }
    xmlNode *forms = eccp_child(c->cmd, "forms");
    if (eccp_arg(c->cmd, "call_id", call, sizeof(call)) != 1 || !forms) {
        eccp__failure(c, 400, "Bad request");
        return CCD_EINVAL;
    }
    j->n[0] = rt == 1 && t[0] == 'i';
    j->n[1] = eccp_intval(call);
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
        long long form = fid ? eccp_intval((const char *)fid) : 0;
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
            long long field = xid ? eccp_intval((const char *)xid) : 0;
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
    return eccp_is_date(d) && eccp_is_time(t);
}

/* The one stored value of a form field for a call: " WHERE <idcol> = call AND id_form_field = field". */
static void form_row_where(sq_t *q, const char *idcol, long long call_id, long long field)
{
    sq_raw(q, " WHERE ");
    sq_raw(q, idcol);
    sq_raw(q, " = ");
    sq_int(q, call_id);
    sq_raw(q, " AND id_form_field = ");
    sq_int(q, field);
}

int eccp__sql_saveformdata(MYSQL *my, eccp_job_t *j)
{
    bool incoming = j->n[0] == 1;
    long long call_id = j->n[1];
    form_data_t *d = j->extra;
    char who[REG_ID_LEN];
    bool found;
    int rc = call_agent(my, incoming, call_id, who, sizeof(who), &found);
    if (rc)
        return rc;
    if (!found || strcmp(who, j->agent) != 0) {
        resp_failure(j, 401, "Unauthorized agent");
        return 0;
    }
    const char *table = incoming ? "form_data_recolected_entry" : "form_data_recolected";
    const char *idcol = incoming ? "id_call_entry" : "id_calls";
    /* Validate everything first, then write in one transaction. */
    char *types[FORM_VALUES_MAX] = {0};
    char msg[160];
    for (size_t i = 0; i < d->n; i++) {
        form_val_t *v = &d->v[i];
        sq_t q;
        sq_init(&q, my);
        sq_raw(&q, "SELECT tipo, value, (SELECT COUNT(*) FROM form_field WHERE id_form = ");
        sq_int(&q, v->form);
        sq_raw(&q, ") FROM form_field WHERE id_form = ");
        sq_int(&q, v->form);
        sq_raw(&q, " AND id = ");
        sq_int(&q, v->field);
        MYSQL_RES *res;
        if ((rc = sq_run(&q, &res)))
            goto out;
        MYSQL_ROW r = mysql_fetch_row(res);
        if (!r) {
            mysql_free_result(res);
            int rc2;
            long long nf = count_of(my, "SELECT COUNT(*) FROM form_field WHERE id_form = ", v->form, &rc2);
            if (rc2) {
                rc = rc2;
                goto out;
            }
            if (nf == 0)
                snprintf(msg, sizeof(msg), "Form ID not found: %lld", v->form);
            else
                snprintf(msg, sizeof(msg), "Field ID not found in form: %lld - %lld", v->form, v->field);
            resp_failure(j, 404, msg);
            goto out;
        }
        const char *type = r[0] ? r[0] : "";
        types[i] = strdup(type);
        if (strcmp(type, "LABEL") == 0) {
            mysql_free_result(res);
            continue;
        }
        if (strlen(v->value) > 250) {
            snprintf(msg, sizeof(msg), "Form value too large: %lld - %lld", v->form, v->field);
            resp_failure(j, 413, msg);
            mysql_free_result(res);
            goto out;
        }
        if (strcmp(type, "DATE") == 0 && v->value[0] && !eccp_is_date(v->value) &&
            !is_datetime(v->value)) {
            snprintf(msg, sizeof(msg),
                     "Date format not acceptable, must be yyyy-mm-dd or yyyy-mm-dd hh:mm:ss: %lld - %lld",
                     v->form, v->field);
            resp_failure(j, 406, msg);
            mysql_free_result(res);
            goto out;
        }
        if (strcmp(type, "LIST") == 0) {
            const char *opts = r[1] ? r[1] : "";
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
                resp_failure(j, 406, msg);
                mysql_free_result(res);
                goto out;
            }
        }
        mysql_free_result(res);
    }
    if (mysql_autocommit(my, 0) != 0) {
        rc = CCD_EIO;
        goto out;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (types[i] && strcmp(types[i], "LABEL") == 0)
            continue;
        form_val_t *v = &d->v[i];
        sq_t q;
        sq_init(&q, my);
        sq_raw(&q, "UPDATE ");
        sq_raw(&q, table);
        sq_raw(&q, " SET value = ");
        sq_str(&q, v->value);
        form_row_where(&q, idcol, call_id, v->field);
        if ((rc = sq_run(&q, NULL)))
            break;
        if (mysql_affected_rows(my) == 0) {
            /* affected_rows is 0 also when the value did not change: check before inserting. */
            sq_init(&q, my);
            sq_raw(&q, "INSERT INTO ");
            sq_raw(&q, table);
            sq_raw(&q, " (value, ");
            sq_raw(&q, idcol);
            sq_raw(&q, ", id_form_field) SELECT ");
            sq_str(&q, v->value);
            sq_raw(&q, ", ");
            sq_int(&q, call_id);
            sq_raw(&q, ", ");
            sq_int(&q, v->field);
            sq_raw(&q, " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM ");
            sq_raw(&q, table);
            form_row_where(&q, idcol, call_id, v->field);
            sq_raw(&q, ")");
            if ((rc = sq_run(&q, NULL)))
                break;
        }
    }
    if (rc) {
        mysql_rollback(my);
    } else if (mysql_commit(my) != 0) {
        rc = CCD_EIO;
    }
    mysql_autocommit(my, 1);
    if (!rc)
        resp_success(j);
out:
    for (size_t i = 0; i < d->n; i++)
        free(types[i]);
    return rc;
}

/* ---------------- schedulecall ---------------- */

static void json_str(buf_t *b, const char *s)
{
    buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_append(b, e, 2);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_append(b, s, 1);
        }
    }
    buf_append(b, "\"", 1);
}

/*
 * a0 agent, a1 newphone (has[2]), a2 newcontactname (has[3]); res0..3 the
 * schedule when n[0] == 1 (dates ordered); n1 call id given (has[1]), n2 the
 * agent's current outgoing call (0 = none), n3 same agent.
 */
int eccp__sql_schedulecall(MYSQL *my, eccp_job_t *j)
{
    long long call = 0;
    int rc;
    if (j->has[1]) {
        if (count_of(my, "SELECT COUNT(*) FROM calls WHERE id = ", j->n[1], &rc) > 0)
            call = j->n[1];
        else if (rc)
            return rc;
        else
            LOG_WARN(MOD, "schedulecall: call %lld not found for %s, using the current call",
                     j->n[1], j->a[0]);
    }
    if (!call)
        call = j->n[2];
    if (!call) {
        resp_failure(j, 417, "Not in outgoing call");
        return 0;
    }
    sq_t q;
    sq_init(&q, my);
    sq_raw(&q, "SELECT campaign.datetime_init, campaign.datetime_end, campaign.daytime_init, "
               "campaign.daytime_end, campaign.id, calls.phone, calls.id_list FROM calls LEFT JOIN "
               "campaign_lists ON calls.id_list = campaign_lists.id INNER JOIN campaign ON "
               "campaign.id = campaign_lists.id_campaign WHERE calls.id = ");
    sq_int(&q, call);
    MYSQL_RES *res;
    if ((rc = sq_run(&q, &res)))
        return rc;
    MYSQL_ROW r = mysql_fetch_row(res);
    if (!r) {
        mysql_free_result(res);
        resp_failure(j, 417, "Not in outgoing call");
        return 0;
    }
    char camp[5][64];
    for (int i = 0; i < 5; i++)
        snprintf(camp[i], sizeof(camp[i]), "%s", r[i] ? r[i] : "");
    char phone[256];
    snprintf(phone, sizeof(phone), "%s", j->has[2] ? j->a[1] : (r[5] ? r[5] : ""));
    long long id_list = r[6] ? atoll(r[6]) : 0;
    mysql_free_result(res);
    bool sched = j->n[0] == 1;
    if (sched) {
        if (!(strcmp(camp[0], j->res[0]) <= 0 && strcmp(j->res[1], camp[1]) <= 0)) {
            resp_failure(j, 417, "Supplied date range outside campaign range");
            return 0;
        }
        if (!(strcmp(camp[2], j->res[2]) <= 0 && strcmp(j->res[3], camp[3]) <= 0)) {
            resp_failure(j, 417, "Supplied time range outside campaign range");
            return 0;
        }
        /* Issabel compares with '=', so only scheduled windows can be duplicates. */
        sq_init(&q, my);
        sq_raw(&q, "SELECT COUNT(*) FROM calls LEFT JOIN campaign_lists ON calls.id_list = "
                   "campaign_lists.id WHERE campaign_lists.id_campaign = ");
        sq_raw(&q, camp[4][0] ? camp[4] : "0");
        sq_raw(&q, " AND phone = ");
        sq_str(&q, phone);
        static const char *const cols[4] = {"date_init", "date_end", "time_init", "time_end"};
        for (int i = 0; i < 4; i++) {
            sq_raw(&q, " AND ");
            sq_raw(&q, cols[i]);
            sq_raw(&q, " = ");
            sq_str(&q, j->res[i]);
        }
        if ((rc = sq_run(&q, &res)))
            return rc;
        r = mysql_fetch_row(res);
        long long dup = r && r[0] ? atoll(r[0]) : 0;
        mysql_free_result(res);
        if (dup > 0) {
            resp_failure(j, 417, "Found duplicate scheduled call");
            return 0;
        }
    }
    /* Attributes: the old JSON object with "Nombre agendado" first. */
    buf_t attrs;
    buf_init(&attrs, 0);
    buf_append(&attrs, "{\"Nombre agendado\":", 19);
    if (j->has[3])
        json_str(&attrs, j->a[2]);
    else
        buf_append(&attrs, "null", 4);
    sq_init(&q, my);
    sq_raw(&q, "SELECT data FROM call_attribute WHERE id_call = ");
    sq_int(&q, call);
    sq_raw(&q, " ORDER BY id");
    sq_limit(&q, 1, 0);
    if ((rc = sq_run(&q, &res))) {
        buf_free(&attrs);
        return rc;
    }
    r = mysql_fetch_row(res);
    const char *old = r && r[0] ? r[0] : "";
    while (*old == ' ' || *old == '\n' || *old == '\t' || *old == '\r')
        old++;
    if (*old == '{') {
        const char *rest = old + 1;
        while (*rest == ' ' || *rest == '\n' || *rest == '\t' || *rest == '\r')
            rest++;
        if (*rest != '}' && *rest)
            buf_append(&attrs, ",", 1);
        buf_append(&attrs, rest, strlen(rest));
    } else {
        buf_append(&attrs, "}", 1);
    }
    mysql_free_result(res);
    buf_append(&attrs, "", 0);
    char *attrs_s = ccd_str_dup((ccd_str_t){buf_data(&attrs), attrs.len});
    buf_free(&attrs);
    if (!attrs_s)
        return CCD_ENOMEM;

    rc = 0;
    if (mysql_autocommit(my, 0) != 0) {
        free(attrs_s);
        return CCD_EIO;
    }
    sq_init(&q, my);
    sq_raw(&q, "INSERT INTO calls (scheduled, id_list, phone, date_init, date_end, time_init, "
               "time_end, agent) VALUES (1, ");
    sq_int(&q, id_list);
    sq_raw(&q, ", ");
    sq_str(&q, phone);
    for (int i = 0; i < 4; i++) {
        sq_raw(&q, ", ");
        if (sched)
            sq_str(&q, j->res[i]);
        else
            sq_raw(&q, "NULL");
    }
    sq_raw(&q, ", ");
    if (j->n[3])
        sq_str(&q, j->a[0]);
    else
        sq_raw(&q, "NULL");
    sq_raw(&q, ")");
    if ((rc = sq_run(&q, NULL)))
        goto fail;
    long long newid = (long long)mysql_insert_id(my);
    sq_init(&q, my);
    sq_raw(&q, "INSERT INTO call_attribute (data, id_call) VALUES (");
    sq_str(&q, attrs_s);
    sq_raw(&q, ", ");
    sq_int(&q, newid);
    sq_raw(&q, ")");
    if ((rc = sq_run(&q, NULL)))
        goto fail;
    sq_init(&q, my);
    sq_raw(&q, "INSERT INTO form_data_recolected (value, id_form_field, id_calls) SELECT value, "
               "id_form_field, ");
    sq_int(&q, newid);
    sq_raw(&q, " FROM form_data_recolected WHERE id_calls = ");
    sq_int(&q, call);
    if ((rc = sq_run(&q, NULL)))
        goto fail;
    if (mysql_commit(my) != 0) {
        rc = CCD_EIO;
        goto fail;
    }
    mysql_autocommit(my, 1);
    free(attrs_s);
    LOG_INFO(MOD, "schedulecall: %s scheduled call %lld (from %lld)", j->a[0], newid, call);
    resp_success(j);
    return 0;
fail:
    mysql_rollback(my);
    mysql_autocommit(my, 1);
    free(attrs_s);
    LOG_ERR(MOD, "schedulecall: cannot insert the scheduled call (%s)", ccd_strerror(rc));
    resp_failure(j, 500, "Failed to insert scheduled call");
    return 0;
}
