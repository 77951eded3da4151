/*
 * Campaigns (outgoing `campaign`, incoming `campaign_entry`) and incoming
 * queues: the lists, details, counters and logs the consoles ask for.
 */
#include "db/db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int db_campaign_list(db_conn_t *c, const db_campaign_filter_t *f, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    static const char *const types[2] = {"incoming", "outgoing"};
    bool first = true;
    for (int t = 0; t < 2; t++) {
        if (f->type && strcmp(f->type, types[t]) != 0)
            continue;
        db__q_raw(&q, first ? "(" : " UNION (");
        first = false;
        db__q_raw(&q, t == 0 ? "SELECT 'incoming' AS campaign_type, id, name, estatus AS status FROM campaign_entry"
                             : "SELECT 'outgoing' AS campaign_type, id, name, estatus AS status FROM campaign");
        const char *sep = " WHERE ";
        if (f->name_like) {
            size_t n = strlen(f->name_like) + 3;
            char *like = malloc(n);
            if (!like) {
                db__q_free(&q);
                return CCD_ENOMEM;
            }
            snprintf(like, n, "%%%s%%", f->name_like);
            db__q_raw(&q, sep);
            db__q_raw(&q, "name LIKE ");
            db__q_str(&q, like);
            free(like);
            sep = " AND ";
        }
        if (f->estatus) {
            db__q_raw(&q, sep);
            db__q_raw(&q, "estatus = ");
            db__q_str(&q, f->estatus);
            sep = " AND ";
        }
        if (f->from) {
            db__q_raw(&q, sep);
            db__q_raw(&q, "datetime_init >= ");
            db__q_str(&q, f->from);
            sep = " AND ";
        }
        if (f->to) {
            db__q_raw(&q, sep);
            db__q_raw(&q, "datetime_init < ");
            db__q_str(&q, f->to);
        }
        db__q_raw(&q, ")");
    }
    db__q_raw(&q, " ORDER BY campaign_type, id");
    db__q_limit(&q, f->limit, f->offset);
    return db__q_rows(&q, out);
}

int db_queue_list(db_conn_t *c, long long limit, long long offset, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT id, queue, estatus FROM queue_call_entry ORDER BY id");
    db__q_limit(&q, limit, offset);
    return db__q_rows(&q, out);
}

int db_queue_script(db_conn_t *c, long long queue, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    /* Issabel casts the queue to int before comparing; so do we. ORDER BY estatus = A first. */
    db__q_raw(&q, "SELECT script FROM queue_call_entry WHERE queue = ");
    db__q_int(&q, queue);
    db__q_raw(&q, " ORDER BY estatus");
    db__q_limit(&q, 1, 0);
    return db__q_rows(&q, out);
}

int db_campaign_wait(db_conn_t *c, long long id, bool incoming, db_rows_t *waits,
                     long long *abandoned)
{
    db_q_t q;
    db__q_init(&q, c->my);
    if (incoming)
        db__q_raw(&q, "SELECT COUNT(*), duration_wait FROM call_entry WHERE id_campaign = ");
    else
        db__q_raw(&q, "SELECT COUNT(*), calls.duration_wait FROM calls LEFT JOIN campaign_lists ON "
                      "calls.id_list = campaign_lists.id WHERE campaign_lists.id_campaign = ");
    db__q_int(&q, id);
    db__q_raw(&q, incoming ? " AND (status = 'activa' OR status = 'terminada') GROUP BY duration_wait"
                           : " AND calls.status = 'Success' GROUP BY calls.duration_wait");
    int rc = db__q_rows(&q, waits);
    if (rc)
        return rc;
    db__q_init(&q, c->my);
    if (incoming)
        db__q_raw(&q, "SELECT COUNT(*) FROM call_entry WHERE id_campaign = ");
    else
        db__q_raw(&q, "SELECT COUNT(*) FROM calls LEFT JOIN campaign_lists ON calls.id_list = "
                      "campaign_lists.id WHERE campaign_lists.id_campaign = ");
    db__q_int(&q, id);
    db__q_raw(&q, incoming ? " AND status = 'abandonada'" : " AND calls.status = 'Abandoned'");
    *abandoned = db__q_count(&q, &rc);
    if (rc)
        db_rows_free(waits);
    return rc;
}

/* Answered: queued after the answer, or abandoned (which a machine hung up by the dialplan
 * before the queue is not).  The join and filter every query of the history shares. */
static void abandon_from(db_q_t *q, long long id)
{
    db__q_raw(q, " FROM calls JOIN campaign_lists ON calls.id_list = campaign_lists.id WHERE "
                 "campaign_lists.id_campaign = ");
    db__q_int(q, id);
    db__q_raw(q, " AND (calls.datetime_entry_queue IS NOT NULL OR calls.status = 'Abandoned')");
}

static void abandon_cols(db_q_t *q, int grace_s)
{
    db__q_printf(q, "COUNT(*), COALESCE(SUM(calls.status = 'Abandoned' OR (calls.start_time IS "
                    "NOT NULL AND calls.duration_wait > %d)), 0)", grace_s);
}

int db_campaign_abandon_history(db_conn_t *c, long long id, time_t now, int grace_s,
                                db_abandon_history_t *out)
{
    memset(out, 0, sizeof(*out));
    db_sqlclock_t k;
    db__sql_clock(&k, now);
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT ");
    abandon_cols(&q, grace_s);
    abandon_from(&q, id);
    db_rows_t life = {0};
    int rc = db__q_rows(&q, &life);
    if (rc)
        return rc;
    if (life.nrows == 1 && life.ncols == 2) {
        out->life_answered = atoll(db_cell(&life, 0, 0) ? db_cell(&life, 0, 0) : "0");
        out->life_abandoned = atoll(db_cell(&life, 0, 1) ? db_cell(&life, 0, 1) : "0");
    }
    db_rows_free(&life);

    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT FLOOR(UNIX_TIMESTAMP(COALESCE(calls.datetime_entry_queue, "
                  "calls.fecha_llamada)) / 1800) * 1800 AS b, ");
    abandon_cols(&q, grace_s);
    abandon_from(&q, id);
    db__q_printf(&q, " AND COALESCE(calls.datetime_entry_queue, calls.fecha_llamada) > %s - "
                     "INTERVAL 30 DAY GROUP BY b ORDER BY b", k.now);
    db_rows_t r = {0};
    if ((rc = db__q_rows(&q, &r)))
        return rc;
    if (r.nrows > 0 && r.ncols == 3) {
        if (!(out->b = calloc(r.nrows, sizeof(*out->b)))) {
            db_rows_free(&r);
            return CCD_ENOMEM;
        }
        for (size_t i = 0; i < r.nrows; i++) {
            const char *const *row = (const char *const *)db_row(&r, i);
            if (!row[0])
                continue; /* a NULL time: not countable in a window */
            db_abandon_bucket_t *b = &out->b[out->nb++];
            b->start_s = atoll(row[0]);
            b->answered = row[1] ? atoll(row[1]) : 0;
            b->abandoned = row[2] ? atoll(row[2]) : 0;
        }
    }
    db_rows_free(&r);
    return 0;
}

int db_campaign_pacer_state(db_conn_t *c, long long id, time_t now, db_pacer_state_t *out)
{
    memset(out, 0, sizeof(*out));
    db_sqlclock_t k;
    db__sql_clock(&k, now);
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_printf(&q, "SELECT allowance_ppm, abandon_target_ppm, TIMESTAMPDIFF(SECOND, updated, %s), "
                     "estimates FROM ccd_pacer_state WHERE id_campaign = ", k.now);
    db__q_int(&q, id);
    db_rows_t r = {0};
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows == 1 && r.ncols == 4 && db_cell(&r, 0, 0) && db_cell(&r, 0, 1) &&
        db_cell(&r, 0, 2)) {
        out->found = true;
        out->allowance = atoll(db_cell(&r, 0, 0)) / 1e6;
        out->abandon_target = atoll(db_cell(&r, 0, 1)) / 1e6;
        out->age_s = atoll(db_cell(&r, 0, 2));
        const char *e = db_cell(&r, 0, 3);
        if (e && !(out->estimates = strdup(e)))
            rc = CCD_ENOMEM;
    }
    db_rows_free(&r);
    return rc;
}

int db_campaign_info(db_conn_t *c, long long id, bool incoming, db_rows_t *info,
                     long long *form_ids, int *nforms)
{
    *nforms = 0;
    db_q_t q;
    db__q_init(&q, c->my);
    if (!incoming)
        db__q_raw(&q, "SELECT name, 'outgoing', datetime_init, datetime_end, daytime_init, daytime_end, "
                      "queue, retries, trunk, context, max_canales, estatus, script, urltemplate, "
                      "opentype FROM campaign LEFT JOIN campaign_external_url ON campaign.id_url = "
                      "campaign_external_url.id AND campaign_external_url.active = 1 WHERE campaign.id = ");
    else
        db__q_raw(&q, "SELECT name, 'incoming', datetime_init, datetime_end, daytime_init, daytime_end, "
                      "queue, campaign_entry.estatus, campaign_entry.script, urltemplate, opentype, "
                      "id_form FROM (campaign_entry, queue_call_entry) LEFT JOIN campaign_external_url "
                      "ON campaign_entry.id_url = campaign_external_url.id AND "
                      "campaign_external_url.active = 1 WHERE campaign_entry.id_queue_call_entry = "
                      "queue_call_entry.id AND campaign_entry.id = ");
    db__q_int(&q, id);
    int rc = db__q_rows(&q, info);
    if (rc || info->nrows == 0)
        return rc;
    long long form_in = incoming && db_cell(info, 0, DB_CI_IN_FORM)
                            ? db__ll(db_cell(info, 0, DB_CI_IN_FORM), 0)
                            : 0;
    db__q_init(&q, c->my);
    db__q_raw(&q, incoming ? "SELECT DISTINCT id_form FROM campaign_form_entry WHERE id_campaign = "
                           : "SELECT DISTINCT id_form FROM campaign_form WHERE id_campaign = ");
    db__q_int(&q, id);
    db_rows_t f;
    if ((rc = db__q_rows(&q, &f))) {
        db_rows_free(info);
        return rc;
    }
    int n = 0;
    for (size_t i = 0; i < f.nrows && n < DB_CAMPAIGN_FORMS_MAX - 1; i++)
        form_ids[n++] = db__ll(db_cell(&f, i, 0), 0);
    db_rows_free(&f);
    if (form_in) {
        bool seen = false;
        for (int i = 0; i < n; i++)
            seen |= form_ids[i] == form_in;
        if (!seen)
            form_ids[n++] = form_in;
    }
    *nforms = n;
    return 0;
}

int db_campaign_status(db_conn_t *c, const db_status_req_t *req, db_status_t *out)
{
    memset(out, 0, sizeof(*out));
    db_status_mode_e mode = req->mode;
    const char *start = req->start;
    db_q_t q;
    int rc;
    if (mode != DB_STATUS_QUEUE) {
        db__q_init(&q, c->my);
        db__q_raw(&q, mode == DB_STATUS_INCOMING
                          ? "SELECT qce.queue FROM campaign_entry ce, queue_call_entry qce WHERE "
                            "ce.id_queue_call_entry = qce.id AND ce.id = "
                          : "SELECT queue FROM campaign WHERE id = ");
        db__q_int(&q, req->id);
        db_rows_t r;
        if ((rc = db__q_rows(&q, &r)))
            return rc;
        out->found = r.nrows > 0;
        if (r.nrows)
            snprintf(out->queue, sizeof(out->queue), "%s", db_cell(&r, 0, 0) ? db_cell(&r, 0, 0) : "");
        db_rows_free(&r);
        if (!out->found)
            return 0;
    } else {
        out->found = true;
        snprintf(out->queue, sizeof(out->queue), "%s", req->queue);
    }
    db__q_init(&q, c->my);
    if (mode == DB_STATUS_OUTGOING) {
        db__q_raw(&q, "SELECT COUNT(*), calls.status FROM calls LEFT JOIN campaign_lists ON "
                      "calls.id_list = campaign_lists.id WHERE campaign_lists.id_campaign = ");
        db__q_int(&q, req->id);
        if (start) {
            db__q_raw(&q, " AND datetime_originate >= ");
            db__q_str(&q, start);
        }
        db__q_raw(&q, " GROUP BY calls.status");
    } else if (mode == DB_STATUS_INCOMING) {
        db__q_raw(&q, "SELECT COUNT(*), status FROM call_entry WHERE id_campaign = ");
        db__q_int(&q, req->id);
        if (start) {
            db__q_raw(&q, " AND datetime_entry_queue >= ");
            db__q_str(&q, start);
        }
        db__q_raw(&q, " GROUP BY status");
    } else {
        db__q_raw(&q, "SELECT COUNT(*), status FROM call_entry, queue_call_entry WHERE "
                      "call_entry.id_campaign IS NULL AND call_entry.id_queue_call_entry = "
                      "queue_call_entry.id AND queue_call_entry.queue = ");
        db__q_str(&q, req->queue);
        if (start) {
            db__q_raw(&q, " AND call_entry.datetime_entry_queue >= ");
            db__q_str(&q, start);
        }
        db__q_raw(&q, " GROUP BY status");
    }
    if ((rc = db__q_rows(&q, &out->counts)))
        return rc;
    db__q_init(&q, c->my);
    if (mode == DB_STATUS_OUTGOING) {
        db__q_raw(&q, "SELECT SUM(duration), MAX(duration) FROM calls LEFT JOIN campaign_lists ON "
                      "calls.id_list = campaign_lists.id WHERE campaign_lists.id_campaign = ");
        db__q_int(&q, req->id);
        db__q_raw(&q, " AND calls.status = 'Success' AND end_time IS NOT NULL");
        if (start) {
            db__q_raw(&q, " AND start_time >= ");
            db__q_str(&q, start);
        }
    } else if (mode == DB_STATUS_INCOMING) {
        db__q_raw(&q, "SELECT SUM(duration), MAX(duration) FROM call_entry WHERE id_campaign = ");
        db__q_int(&q, req->id);
        db__q_raw(&q, " AND status = 'terminada' AND datetime_end IS NOT NULL");
        if (start) {
            db__q_raw(&q, " AND datetime_init >= ");
            db__q_str(&q, start);
        }
    } else {
        db__q_raw(&q, "SELECT SUM(duration), MAX(duration) FROM call_entry, queue_call_entry WHERE "
                      "id_campaign IS NULL AND id_queue_call_entry = queue_call_entry.id AND "
                      "queue_call_entry.queue = ");
        db__q_str(&q, req->queue);
        db__q_raw(&q, " AND status = 'terminada' AND datetime_end IS NOT NULL");
        if (start) {
            db__q_raw(&q, " AND datetime_init >= ");
            db__q_str(&q, start);
        }
    }
    db_rows_t s;
    if ((rc = db__q_rows(&q, &s))) {
        db_rows_free(&out->counts);
        return rc;
    }
    if (s.nrows) {
        out->total_sec = db__ll(db_cell(&s, 0, 0), 0);
        out->max_duration = db__ll(db_cell(&s, 0, 1), 0);
    }
    db_rows_free(&s);
    return 0;
}

int db_campaign_log(db_conn_t *c, const db_log_req_t *req, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    if (req->incoming) {
        db__q_raw(&q, "SELECT cpl.id, cpl.datetime_entry, ce.callerid, qce.queue, 'incoming', "
                      "cpl.id_campaign_incoming, cpl.id_call_incoming, cpl.new_status, cpl.retry, "
                      "cpl.uniqueid, cpl.trunk, cpl.duration, CONCAT(agent.type, '/', agent.number) FROM "
                      "(call_progress_log cpl, call_entry ce, queue_call_entry qce) LEFT JOIN agent ON "
                      "cpl.id_agent = agent.id WHERE cpl.id_call_incoming = ce.id AND "
                      "ce.id_queue_call_entry = qce.id");
        if (req->has_campaign) {
            db__q_raw(&q, " AND cpl.id_campaign_incoming = ");
            db__q_int(&q, req->campaign_id);
        } else {
            db__q_raw(&q, " AND cpl.id_campaign_incoming IS NULL AND qce.queue = ");
            db__q_str(&q, req->queue ? req->queue : "");
        }
    } else {
        /* [quirk fixed] Issabel joined on calls.id_campaign, which no longer exists. */
        db__q_raw(&q, "SELECT cpl.id, cpl.datetime_entry, calls.phone, campaign.queue, 'outgoing', "
                      "cpl.id_campaign_outgoing, cpl.id_call_outgoing, cpl.new_status, cpl.retry, "
                      "cpl.uniqueid, cpl.trunk, cpl.duration, CONCAT(agent.type, '/', agent.number) FROM "
                      "call_progress_log cpl LEFT JOIN calls ON cpl.id_call_outgoing = calls.id INNER JOIN "
                      "campaign ON cpl.id_campaign_outgoing = campaign.id LEFT JOIN agent ON cpl.id_agent "
                      "= agent.id WHERE cpl.id_campaign_outgoing = ");
        db__q_int(&q, req->campaign_id);
    }
    db__q_raw(&q, " AND cpl.datetime_entry BETWEEN ");
    db__q_between(&q, req->from, req->to);
    if (req->idbefore >= 0) {
        db__q_raw(&q, " AND cpl.id < ");
        db__q_int(&q, req->idbefore);
    }
    db__q_raw(&q, req->last_n >= 0 ? " ORDER BY cpl.id DESC" : " ORDER BY cpl.id");
    db__q_limit(&q, req->last_n, 0);
    return db__q_rows(&q, out);
}
