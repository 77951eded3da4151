/*
 * Calls (outgoing `calls`, incoming `call_entry`): what the consoles read
 * about one call, and the scheduled copy of a call (schedulecall).
 */
#include "db/db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

int db_call_info(db_conn_t *c, bool incoming, long long call_id, bool has_campaign,
                 long long campaign_id, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    if (!incoming) {
        db__q_raw(&q, "SELECT calls.id, campaign_lists.id_campaign, calls.phone, calls.status, "
                      "calls.uniqueid, calls.duration, calls.datetime_originate, calls.fecha_llamada, "
                      "calls.datetime_entry_queue, calls.start_time, calls.end_time, calls.retries, "
                      "calls.failure_cause, calls.failure_cause_txt, CONCAT(agent.type,'/',agent.number), "
                      "calls.trunk FROM calls LEFT JOIN campaign_lists ON calls.id_list = campaign_lists.id "
                      "LEFT JOIN agent ON agent.id = calls.id_agent WHERE calls.id = ");
        db__q_int(&q, call_id);
        db__q_raw(&q, " AND campaign_lists.id_campaign = ");
        db__q_int(&q, campaign_id);
    } else {
        db__q_raw(&q, "SELECT ce.id, ce.id_campaign, ce.callerid, ce.status, ce.uniqueid, ce.duration, "
                      "ce.datetime_entry_queue, ce.datetime_init, ce.datetime_end, ce.trunk, qce.queue, "
                      "CONCAT(agent.type,'/',agent.number), c.name, c.apellido, c.telefono, c.cedula_ruc, "
                      "c.origen, ce.id_contact FROM call_entry ce JOIN queue_call_entry qce ON qce.id = "
                      "ce.id_queue_call_entry LEFT JOIN agent ON agent.id = ce.id_agent LEFT JOIN contact c "
                      "ON c.id = ce.id_contact WHERE ce.id = ");
        db__q_int(&q, call_id);
        if (has_campaign) {
            db__q_raw(&q, " AND ce.id_campaign = ");
            db__q_int(&q, campaign_id);
        }
    }
    return db__q_rows(&q, out);
}

/* The call's first call_attribute row's data (NULL when none) into *data (malloc'd). */
int db_call_attributes(db_conn_t *c, long long call_id, char **data)
{
    *data = NULL;
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT data FROM call_attribute WHERE id_call = ");
    db__q_int(&q, call_id);
    db__q_raw(&q, " ORDER BY id");
    db__q_limit(&q, 1, 0);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows && db_cell(&r, 0, 0)) {
        *data = r.cell[0];
        r.cell[0] = NULL; /* handed to the caller */
    }
    db_rows_free(&r);
    return 0;
}

int db_call_set_transfer(db_conn_t *c, bool incoming, long long call_id, const char *ext)
{
    char cut[7];
    snprintf(cut, sizeof(cut), "%.6s", ext);
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, incoming ? "UPDATE call_entry SET transfer = " : "UPDATE calls SET transfer = ");
    db__q_str(&q, cut);
    db__q_raw(&q, " WHERE id = ");
    db__q_int(&q, call_id);
    return db__q_exec(&q);
}

int db_call_exists(db_conn_t *c, bool incoming, long long call_id, bool *found)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, incoming ? "SELECT COUNT(*) FROM call_entry WHERE id = "
                           : "SELECT COUNT(*) FROM calls WHERE id = ");
    db__q_int(&q, call_id);
    int rc;
    *found = db__q_count(&q, &rc) > 0;
    return rc;
}

int db_progress_log_find(db_conn_t *c, bool incoming, long long call_id,
                         const char *const *statuses, long long retry, long long after_id,
                         long long *id, char *found, size_t foundsz)
{
    *id = 0;
    if (found && foundsz)
        found[0] = '\0';
    if (!statuses || !statuses[0])
        return CCD_EINVAL;
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, incoming ? "SELECT id, new_status FROM call_progress_log WHERE id_call_incoming = "
                           : "SELECT id, new_status FROM call_progress_log WHERE id_call_outgoing = ");
    db__q_int(&q, call_id);
    db__q_raw(&q, " AND new_status IN (");
    for (int i = 0; statuses[i]; i++) {
        if (i)
            db__q_raw(&q, ", ");
        db__q_str(&q, statuses[i]);
    }
    db__q_raw(&q, ")");
    if (retry >= 0) {
        db__q_raw(&q, " AND retry = ");
        db__q_int(&q, retry);
    }
    db__q_raw(&q, " AND id > ");
    db__q_int(&q, after_id);
    db__q_raw(&q, " ORDER BY id");
    db__q_limit(&q, 1, 0);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows && db_cell(&r, 0, 0)) {
        *id = db__ll(db_cell(&r, 0, 0), 0);
        if (found && foundsz)
            snprintf(found, foundsz, "%s", db_cell(&r, 0, 1) ? db_cell(&r, 0, 1) : "");
    }
    db_rows_free(&r);
    return 0;
}

static void json_str(buf_t *b, const char *s)
{
    buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            buf_append(b, e, 2);
        } else if (ch < 0x20) {
            buf_printf(b, "\\u%04x", ch);
        } else {
            buf_append(b, s, 1);
        }
    }
    buf_append(b, "\"", 1);
}

/* The new call's attributes: the old JSON object with "Nombre agendado" first. */
static char *schedule_attrs(const char *contact_name, const char *old)
{
    buf_t attrs;
    buf_init(&attrs, 0);
    buf_append(&attrs, "{\"Nombre agendado\":", 19);
    if (contact_name)
        json_str(&attrs, contact_name);
    else
        buf_append(&attrs, "null", 4);
    old = old ? old : "";
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
    char *s = ccd_str_dup((ccd_str_t){buf_data(&attrs), attrs.len});
    buf_free(&attrs);
    return s;
}

int db_call_schedule_prepare(db_conn_t *c, const db_schedule_req_t *req,
                             db_schedule_result_e *result, db_write_t **out)
{
    MYSQL *my = c->my;
    *out = NULL;
    long long call = 0;
    int rc;
    *result = DB_SCHED_NO_CALL;
    if (req->call_id) {
        bool found;
        if ((rc = db_call_exists(c, false, req->call_id, &found)))
            return rc;
        if (found)
            call = req->call_id;
        else
            LOG_WARN(DB_LOG, "schedulecall: call %lld not found for %s, using the current call",
                     req->call_id, req->agent);
    }
    if (!call)
        call = req->current_call;
    if (!call)
        return 0;
    db_q_t q;
    db__q_init(&q, my);
    db__q_raw(&q, "SELECT campaign.datetime_init, campaign.datetime_end, campaign.daytime_init, "
                  "campaign.daytime_end, campaign.id, calls.phone, calls.id_list FROM calls LEFT JOIN "
                  "campaign_lists ON calls.id_list = campaign_lists.id INNER JOIN campaign ON "
                  "campaign.id = campaign_lists.id_campaign WHERE calls.id = ");
    db__q_int(&q, call);
    db_rows_t r;
    if ((rc = db__q_rows(&q, &r)))
        return rc;
    if (!r.nrows) {
        db_rows_free(&r);
        return 0;
    }
    char camp[5][64];
    for (int i = 0; i < 5; i++)
        snprintf(camp[i], sizeof(camp[i]), "%s", db_cell(&r, 0, i) ? db_cell(&r, 0, i) : "");
    char phone[256];
    snprintf(phone, sizeof(phone), "%s",
             req->newphone ? req->newphone : (db_cell(&r, 0, 5) ? db_cell(&r, 0, 5) : ""));
    long long id_list = db__ll(db_cell(&r, 0, 6), 0);
    db_rows_free(&r);
    if (req->has_window) {
        const char (*w)[11] = req->window;
        if (!(strcmp(camp[0], w[0]) <= 0 && strcmp(w[1], camp[1]) <= 0)) {
            *result = DB_SCHED_DATE_RANGE;
            return 0;
        }
        if (!(strcmp(camp[2], w[2]) <= 0 && strcmp(w[3], camp[3]) <= 0)) {
            *result = DB_SCHED_TIME_RANGE;
            return 0;
        }
        /* Issabel compares with '=', so only scheduled windows can be duplicates. */
        db__q_init(&q, my);
        db__q_raw(&q, "SELECT COUNT(*) FROM calls LEFT JOIN campaign_lists ON calls.id_list = "
                      "campaign_lists.id WHERE campaign_lists.id_campaign = ");
        db__q_int(&q, db__ll(camp[4][0] ? camp[4] : NULL, 0));
        db__q_raw(&q, " AND phone = ");
        db__q_str(&q, phone);
        static const char *const cols[4] = {"date_init", "date_end", "time_init", "time_end"};
        for (int i = 0; i < 4; i++) {
            db__q_raw(&q, " AND ");
            db__q_raw(&q, cols[i]);
            db__q_raw(&q, " = ");
            db__q_str(&q, w[i]);
        }
        long long dup = db__q_count(&q, &rc);
        if (rc)
            return rc;
        if (dup > 0) {
            *result = DB_SCHED_DUPLICATE;
            return 0;
        }
    }
    char *old = NULL;
    if ((rc = db_call_attributes(c, call, &old)))
        return rc;
    db_write_t *x = db_write_new(DB_W_CALL_SCHEDULE);
    char *attrs = schedule_attrs(req->contact_name, old);
    free(old);
    if (!x || !attrs) {
        free(attrs);
        if (x)
            x->msg.free(&x->msg);
        return CCD_ENOMEM;
    }
    db_w_schedule_t *sc = &x->u.schedule;
    x->shard = (uint32_t)call; /* after the form values saved for the source call */
    sc->attrs = attrs;
    sc->id_list = (uint32_t)id_list;
    sc->from_call = (uint32_t)call;
    snprintf(sc->phone, sizeof(sc->phone), "%s", phone);
    sc->has_window = req->has_window;
    for (int i = 0; i < 4 && req->has_window; i++)
        snprintf(sc->window[i], sizeof(sc->window[i]), "%s", req->window[i]);
    if (req->same_agent)
        snprintf(sc->agent, sizeof(sc->agent), "%s", req->agent);
    *out = x;
    *result = DB_SCHED_OK;
    return 0;
}
