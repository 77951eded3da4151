/*
 * The FastAGI scripts' reads (agi/ runs them as read jobs): what an incoming caller gets
 * (block list, the queue's campaign, matching contacts) and an outgoing campaign's settings
 * for machines and abandoned callers.
 */
#include <stdio.h>
#include <string.h>

#include "db/db_int.h"

#include "core/err.h"

int db_agi_incoming(db_conn_t *c, const char *callerid, const char *queue, db_agi_incoming_t *out)
{
    memset(out, 0, sizeof(*out));
    db_q_t q;
    int rc = 0;
    if (callerid[0]) {
        /* The block list is the one the dialer checks before dialing: active dont_call rows. */
        db__q_init(&q, c->my);
        db__q_raw(&q, "SELECT COUNT(*) FROM dont_call WHERE status = 'A' AND caller_id = ");
        db__q_str(&q, callerid);
        out->blocked = db__q_count(&q, &rc) > 0;
        if (rc)
            return rc;
        if (out->blocked)
            return 0;
        db__q_init(&q, c->my);
        db__q_raw(&q, "SELECT COUNT(*), COALESCE(MIN(id), 0) FROM contact WHERE telefono = ");
        db__q_str(&q, callerid);
        db_rows_t r;
        if ((rc = db__q_rows(&q, &r)))
            return rc;
        if (r.nrows) {
            out->ncontacts = (int)db__ll(db_cell(&r, 0, 0), 0);
            out->contact_id = (uint32_t)db__ll(db_cell(&r, 0, 1), 0);
        }
        db_rows_free(&r);
    }
    if (queue[0]) {
        /* As the Issabel dialer ties a Join to a campaign: the monitored queue's active campaign
         * whose dates and daily window hold now; the newest when several do. */
        db__q_init(&q, c->my);
        db__q_raw(&q, "SELECT ce.id FROM campaign_entry ce JOIN queue_call_entry qce ON "
                      "qce.id = ce.id_queue_call_entry WHERE qce.estatus = 'A' AND "
                      "ce.estatus = 'A' AND CURDATE() BETWEEN ce.datetime_init AND "
                      "ce.datetime_end AND CURTIME() BETWEEN ce.daytime_init AND ce.daytime_end "
                      "AND qce.queue = ");
        db__q_str(&q, queue);
        db__q_raw(&q, " ORDER BY ce.id DESC LIMIT 1");
        out->campaign_id = (uint32_t)db__q_count(&q, &rc);
    }
    return rc;
}

int db_agi_campaign(db_conn_t *c, uint32_t id_campaign, db_agi_campaign_t *out)
{
    memset(out, 0, sizeof(*out));
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT machine_action, machine_message, abandon_message FROM ccd_campaign_agi "
                  "WHERE id_campaign = ");
    db__q_int(&q, id_campaign);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows) {
        const char *act = db_cell(&r, 0, 0);
        out->found = true;
        out->machine_message = act && strcmp(act, "message") == 0;
        snprintf(out->machine_msg, sizeof(out->machine_msg), "%s",
                 db_cell(&r, 0, 1) ? db_cell(&r, 0, 1) : "");
        snprintf(out->abandon_msg, sizeof(out->abandon_msg), "%s",
                 db_cell(&r, 0, 2) ? db_cell(&r, 0, 2) : "");
    }
    db_rows_free(&r);
    return 0;
}

int db_agi_agent_pin(db_conn_t *c, const char *number, const char *pin, db_agi_pin_e *out)
{
    *out = DB_AGI_PIN_UNKNOWN;
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT password FROM agent WHERE type = 'Agent' AND estatus = 'A' AND number = ");
    db__q_str(&q, number);
    db__q_raw(&q, " ORDER BY id LIMIT 1");
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows) {
        const char *pw = db_cell(&r, 0, 0);
        *out = DB_AGI_PIN_BAD;
        if (pw && pw[0] && pin[0]) {
            /* every byte of the PIN is compared whatever differs first: the answer's time
             * says nothing about how much of a guess was right */
            size_t a = strlen(pw), b = strlen(pin);
            unsigned diff = (unsigned)(a != b);
            for (size_t i = 0; i < b; i++)
                diff |= (unsigned)((unsigned char)pin[i] ^ (unsigned char)(i < a ? pw[i] : 0));
            if (diff == 0)
                *out = DB_AGI_PIN_OK;
        }
    }
    db_rows_free(&r);
    return 0;
}
