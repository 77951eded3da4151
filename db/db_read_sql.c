/*
 * Blocking reads on a reader's connection (run from read jobs): campaigns, agents,
 * queues, breaks, forms, ECCP clients.  Number claims live in db_claim.c.
 *
 * These run a handful of times per cycle or on reload, never per call, so
 * they use the text protocol without parameters; nothing from outside is
 * interpolated into them.
 */
#include "db/db_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

static void cp(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static uint32_t u32(const char *s)
{
    return s ? (uint32_t)strtoul(s, NULL, 10) : 0;
}

static int64_t i64_or(const char *s, int64_t dflt)
{
    return s ? strtoll(s, NULL, 10) : dflt;
}

/* Runs q and hands every row to fill(row, dst) into a malloc'd array of elem-size items. */
static int load_rows(db_conn_t *c, const char *q, size_t elem, void **out, size_t *n,
                     void (*fill)(char *const *row, void *dst))
{
    *out = NULL;
    *n = 0;
    db_rows_t rows;
    int rc = db__rows(c->my, q, &rows);
    if (rc)
        return rc;
    char *arr = calloc(rows.nrows ? rows.nrows : 1, elem);
    if (!arr) {
        db_rows_free(&rows);
        return CCD_ENOMEM;
    }
    for (size_t i = 0; i < rows.nrows; i++)
        fill(db_row(&rows, i), arr + i * elem);
    *out = arr;
    *n = rows.nrows;
    db_rows_free(&rows);
    return 0;
}

int db_expire_campaigns(db_conn_t *c, int *nexpired)
{
    int total = 0;
    static const char *const q[] = {
        "UPDATE campaign SET estatus = 'I' WHERE datetime_end < CURDATE() AND estatus = 'A'",
        "UPDATE campaign_entry SET estatus = 'I' WHERE datetime_end < CURDATE() AND estatus = 'A'",
        NULL};
    for (int i = 0; q[i]; i++) {
        if (mysql_query(c->my, q[i]))
            return CCD_EIO;
        total += (int)mysql_affected_rows(c->my);
    }
    if (nexpired)
        *nexpired = total;
    return 0;
}

/* The columns fill_campaign reads, in its order: every campaign query selects exactly these. */
#define CAMPAIGN_COLS                                                                              \
    "c.id, c.name, c.trunk, c.context, c.queue, c.callerid, c.retries, c.max_canales, "           \
    "c.daytime_init, c.daytime_end, c.datetime_init, c.datetime_end, c.id_url, p.mode, "         \
    "p.abandon_rate_max, p.max_channels, p.retry_backoff_s, p.retry_backoff_max_s, p.ami_server"

static void fill_campaign(char *const *r, void *dst)
{
    db_campaign_t *c = dst;
    c->id = u32(r[0]);
    cp(c->name, sizeof(c->name), r[1]);
    cp(c->trunk, sizeof(c->trunk), r[2]);
    cp(c->context, sizeof(c->context), r[3]);
    cp(c->queue, sizeof(c->queue), r[4]);
    cp(c->callerid, sizeof(c->callerid), r[5]);
    c->retries = u32(r[6]);
    c->max_canales = u32(r[7]);
    cp(c->daytime_init, sizeof(c->daytime_init), r[8]);
    cp(c->daytime_end, sizeof(c->daytime_end), r[9]);
    cp(c->datetime_init, sizeof(c->datetime_init), r[10]);
    cp(c->datetime_end, sizeof(c->datetime_end), r[11]);
    c->id_url = u32(r[12]);
    c->mode = !r[13]                              ? DB_PACING_PREDICTIVE
              : strcmp(r[13], "progressive") == 0 ? DB_PACING_PROGRESSIVE
              : strcmp(r[13], "preview") == 0     ? DB_PACING_PREVIEW
                                                  : DB_PACING_PREDICTIVE;
    c->abandon_rate_max = r[14] ? strtod(r[14], NULL) : -1.0;
    c->max_channels = (int)i64_or(r[15], 0);
    c->retry_backoff_s = (int)i64_or(r[16], -1);
    c->retry_backoff_max_s = (int)i64_or(r[17], 0);
    cp(c->ami_server, sizeof(c->ami_server), r[18]);
}

int db_load_active_campaigns(db_conn_t *c, db_campaign_t **out, size_t *n)
{
    return db_load_active_campaigns_at(c, 0, out, n);
}

int db_load_active_campaigns_at(db_conn_t *c, time_t now, db_campaign_t **out, size_t *n)
{
    db_sqlclock_t k;
    db__sql_clock(&k, now);
    char q[2048];
    snprintf(q, sizeof(q),
             "SELECT " CAMPAIGN_COLS " FROM campaign c LEFT JOIN ccd_campaign_pacing p ON p.id_campaign = c.id "
             "WHERE c.estatus = 'A' AND c.datetime_init <= %s AND c.datetime_end >= %s "
             "AND ((c.daytime_init <= c.daytime_end AND %s BETWEEN c.daytime_init AND "
             "c.daytime_end) OR (c.daytime_init > c.daytime_end AND (%s >= c.daytime_init OR "
             "%s <= c.daytime_end))) ORDER BY c.id",
             k.date, k.date, k.time, k.time, k.time);
    return load_rows(c, q, sizeof(db_campaign_t), (void **)out, n, fill_campaign);
}

int db_load_campaign(db_conn_t *c, uint32_t id, db_campaign_t *out, bool *found)
{
    /* Whatever its status or window: the journal needs the row of a call's campaign even
     * after the campaign went inactive while the call was still up. */
    char q[768];
    snprintf(q, sizeof(q),
             "SELECT " CAMPAIGN_COLS " FROM campaign c LEFT JOIN ccd_campaign_pacing p ON "
             "p.id_campaign = c.id WHERE c.id = %" PRIu32,
             id);
    db_campaign_t *rows = NULL;
    size_t n = 0;
    int rc = load_rows(c, q, sizeof(db_campaign_t), (void **)&rows, &n, fill_campaign);
    if (rc)
        return rc;
    *found = n > 0;
    if (n)
        *out = rows[0];
    free(rows);
    return 0;
}

static void fill_agent(char *const *r, void *dst)
{
    db_agent_t *a = dst;
    a->id = u32(r[0]);
    cp(a->type, sizeof(a->type), r[1]);
    cp(a->number, sizeof(a->number), r[2]);
    cp(a->name, sizeof(a->name), r[3]);
    a->estatus = r[4] && r[4][0] ? r[4][0] : 'A';
    a->has_eccp_password = r[5] != NULL;
    cp(a->eccp_password, sizeof(a->eccp_password), r[5]);
}

int db_load_agents(db_conn_t *c, db_agent_t **out, size_t *n)
{
    static const char q[] = "SELECT id, type, number, name, estatus, eccp_password FROM agent "
                            "ORDER BY number, type, id";
    return load_rows(c, q, sizeof(db_agent_t), (void **)out, n, fill_agent);
}

static void fill_agent_queue(char *const *r, void *dst)
{
    db_agent_queue_t *a = dst;
    a->id_agent = u32(r[0]);
    cp(a->queue, sizeof(a->queue), r[1]);
    a->penalty = (int)i64_or(r[2], 0);
}

int db_load_agent_queues(db_conn_t *c, db_agent_queue_t **out, size_t *n)
{
    static const char q[] =
        "SELECT id_agent, queue, penalty FROM ccd_agent_queue ORDER BY id_agent, queue";
    return load_rows(c, q, sizeof(db_agent_queue_t), (void **)out, n, fill_agent_queue);
}

static void fill_break(char *const *r, void *dst)
{
    db_break_t *b = dst;
    b->id = u32(r[0]);
    cp(b->name, sizeof(b->name), r[1]);
    cp(b->description, sizeof(b->description), r[2]);
    b->status = r[3] && r[3][0] ? r[3][0] : 'A';
    b->tipo = r[4] && r[4][0] ? r[4][0] : 'B';
}

int db_load_breaks(db_conn_t *c, db_break_t **out, size_t *n)
{
    static const char q[] = "SELECT id, name, description, status, tipo FROM `break` ORDER BY id";
    return load_rows(c, q, sizeof(db_break_t), (void **)out, n, fill_break);
}

static void fill_eccp(char *const *r, void *dst)
{
    db_eccp_client_t *e = dst;
    cp(e->username, sizeof(e->username), r[0]);
    cp(e->md5_password, sizeof(e->md5_password), r[1]);
}

int db_load_eccp_clients(db_conn_t *c, db_eccp_client_t **out, size_t *n)
{
    static const char q[] =
        "SELECT username, md5_password FROM eccp_authorized_clients ORDER BY id";
    return load_rows(c, q, sizeof(db_eccp_client_t), (void **)out, n, fill_eccp);
}

static void fill_form(char *const *r, void *dst)
{
    db_form_t *f = dst;
    f->id = u32(r[0]);
    cp(f->nombre, sizeof(f->nombre), r[1]);
    cp(f->descripcion, sizeof(f->descripcion), r[2]);
    f->estatus = r[3] && r[3][0] ? r[3][0] : 'A';
}

void db_forms_free(db_form_t *forms, size_t n)
{
    if (!forms)
        return;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < forms[i].nfields; j++) {
            free(forms[i].fields[j].etiqueta);
            free(forms[i].fields[j].value);
        }
        free(forms[i].fields);
    }
    free(forms);
}

int db_load_forms(db_conn_t *c, db_form_t **out, size_t *n)
{
    db_form_t *forms = NULL;
    size_t nf = 0;
    int rc = load_rows(c, "SELECT id, nombre, descripcion, estatus FROM form ORDER BY id",
                       sizeof(db_form_t), (void **)&forms, &nf, fill_form);
    if (rc)
        return rc;
    db_rows_t fr;
    rc = db__rows(c->my, "SELECT id_form, id, etiqueta, value, tipo, orden FROM form_field "
                         "ORDER BY id_form, orden, id", &fr);
    if (rc) {
        db_forms_free(forms, nf);
        return rc;
    }
    /* Two passes: count fields per form, then fill; forms are sorted by id. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < fr.nrows; k++) {
            char *const *r = db_row(&fr, k);
            uint32_t idf = u32(r[0]);
            for (size_t i = 0; i < nf; i++) {
                if (forms[i].id != idf)
                    continue;
                if (pass == 0) {
                    forms[i].nfields++;
                    break;
                }
                db_form_field_t *fl = &forms[i].fields[forms[i].nfields++];
                fl->id = u32(r[1]);
                fl->etiqueta = strdup(r[2] ? r[2] : "");
                fl->value = strdup(r[3] ? r[3] : "");
                cp(fl->tipo, sizeof(fl->tipo), r[4]);
                fl->orden = u32(r[5]);
                if (!fl->etiqueta || !fl->value) {
                    db_rows_free(&fr);
                    db_forms_free(forms, nf);
                    return CCD_ENOMEM;
                }
                break;
            }
        }
        for (size_t i = 0; pass == 0 && i < nf; i++) {
            if (!forms[i].nfields)
                continue;
            forms[i].fields = calloc(forms[i].nfields, sizeof(db_form_field_t));
            if (!forms[i].fields) {
                db_rows_free(&fr);
                db_forms_free(forms, nf);
                return CCD_ENOMEM;
            }
            forms[i].nfields = 0;
        }
    }
    db_rows_free(&fr);
    *out = forms;
    *n = nf;
    return 0;
}

static void fill_inbound_queue(char *const *r, void *dst)
{
    db_inbound_queue_t *q = dst;
    q->id = u32(r[0]);
    cp(q->queue, sizeof(q->queue), r[1]);
}

static void fill_inbound_campaign(char *const *r, void *dst)
{
    db_inbound_campaign_t *c = dst;
    c->id = u32(r[0]);
    c->id_queue = u32(r[1]);
    c->estatus = r[2] && r[2][0] ? r[2][0] : 'I';
    cp(c->datetime_init, sizeof(c->datetime_init), r[3]);
    cp(c->datetime_end, sizeof(c->datetime_end), r[4]);
    cp(c->daytime_init, sizeof(c->daytime_init), r[5]);
    cp(c->daytime_end, sizeof(c->daytime_end), r[6]);
}

int db_load_inbound(db_conn_t *c, db_inbound_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = load_rows(c,
                       "SELECT id, queue FROM queue_call_entry "
                       "WHERE estatus = 'A' AND queue IS NOT NULL AND queue <> '' ORDER BY id",
                       sizeof(db_inbound_queue_t), (void **)&out->queues, &out->nqueues,
                       fill_inbound_queue);
    if (rc)
        return rc;
    rc = load_rows(c,
                   "SELECT c.id, c.id_queue_call_entry, c.estatus, c.datetime_init, "
                   "c.datetime_end, c.daytime_init, c.daytime_end FROM campaign_entry c "
                   "JOIN queue_call_entry q ON q.id = c.id_queue_call_entry "
                   "WHERE c.estatus = 'A' AND q.estatus = 'A' ORDER BY c.id",
                   sizeof(db_inbound_campaign_t), (void **)&out->campaigns, &out->ncampaigns,
                   fill_inbound_campaign);
    if (rc)
        return rc;
    /* The windows are compared with the database's clock, as the outgoing ones are. */
    db_rows_t now;
    if ((rc = db__rows(c->my, "SELECT CURDATE(), CURTIME()", &now)) != 0)
        return rc;
    if (now.nrows == 1 && now.ncols == 2) {
        cp(out->today, sizeof(out->today), db_cell(&now, 0, 0));
        cp(out->now, sizeof(out->now), db_cell(&now, 0, 1));
    } else {
        rc = CCD_EIO;
    }
    db_rows_free(&now);
    return rc;
}

void db_inbound_free(db_inbound_t *in)
{
    if (!in)
        return;
    free(in->queues);
    free(in->campaigns);
    memset(in, 0, sizeof(*in));
}
