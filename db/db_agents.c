/*
 * Agents, breaks and console clients: the reads ECCP requests make about
 * them (the agent check, the client login, pauses, activity summaries).
 */
#include "db/db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int db_agent_auth_get(db_conn_t *c, const char *type, const char *number, db_agent_auth_t *out)
{
    memset(out, 0, sizeof(*out));
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT id, eccp_password FROM agent WHERE estatus = 'A' AND type = ");
    db__q_str(&q, type);
    db__q_raw(&q, " AND number = ");
    db__q_str(&q, number);
    db__q_limit(&q, 1, 0);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows) {
        out->found = true;
        out->id = db__ll(db_cell(&r, 0, 0), 0);
        out->has_password = db_cell(&r, 0, 1) != NULL;
        snprintf(out->password, sizeof(out->password), "%s",
                 out->has_password ? db_cell(&r, 0, 1) : "");
    }
    db_rows_free(&r);
    return 0;
}

int db_agent_get(db_conn_t *c, const char *type, const char *number, db_agent_t *out,
                 bool *found)
{
    memset(out, 0, sizeof(*out));
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT id, type, number, name, estatus FROM agent WHERE type = ");
    db__q_str(&q, type);
    db__q_raw(&q, " AND number = ");
    db__q_str(&q, number);
    db__q_raw(&q, " ORDER BY estatus = 'A' DESC, id");
    db__q_limit(&q, 1, 0);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    *found = r.nrows > 0;
    if (r.nrows) {
        char *const *row = db_row(&r, 0);
        out->id = (uint32_t)db__ll(row[0], 0);
        snprintf(out->type, sizeof(out->type), "%s", row[1] ? row[1] : "");
        snprintf(out->number, sizeof(out->number), "%s", row[2] ? row[2] : "");
        snprintf(out->name, sizeof(out->name), "%s", row[3] ? row[3] : "");
        out->estatus = row[4] && row[4][0] ? row[4][0] : 'A';
    }
    db_rows_free(&r);
    return 0;
}

int db_eccp_client_check(db_conn_t *c, const char *user, const char *pass, bool *ok)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT COUNT(*) FROM eccp_authorized_clients WHERE username = ");
    db__q_str(&q, user);
    db__q_raw(&q, " AND (md5_password = ");
    db__q_str(&q, pass);
    db__q_raw(&q, " OR md5_password = md5(");
    db__q_str(&q, pass);
    db__q_raw(&q, "))");
    int rc;
    *ok = db__q_count(&q, &rc) > 0;
    return rc;
}

int db_call_agent(db_conn_t *c, bool incoming, long long call_id, char *out, size_t outsz,
                  bool *found)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, incoming ? "SELECT CONCAT(agent.type,'/',agent.number) FROM call_entry, agent WHERE "
                             "call_entry.id_agent = agent.id AND call_entry.id = "
                           : "SELECT CONCAT(agent.type,'/',agent.number) FROM calls, agent WHERE "
                             "calls.id_agent = agent.id AND calls.id = ");
    db__q_int(&q, call_id);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    *found = r.nrows && db_cell(&r, 0, 0);
    snprintf(out, outsz, "%s", *found ? db_cell(&r, 0, 0) : "");
    db_rows_free(&r);
    return 0;
}

int db_pauses_list(db_conn_t *c, db_rows_t *out)
{
    return db__rows(c->my,
                    "SELECT id, name, status, tipo, description FROM break WHERE tipo = 'B' ORDER BY id",
                    out);
}

int db_break_active(db_conn_t *c, long long id, bool *found, char *name, size_t namesz)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT id, name FROM break WHERE tipo = 'B' AND status = 'A' AND id = ");
    db__q_int(&q, id);
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    *found = r.nrows > 0;
    snprintf(name, namesz, "%s", r.nrows && db_cell(&r, 0, 1) ? db_cell(&r, 0, 1) : "");
    db_rows_free(&r);
    return 0;
}

void db_activity_free(db_activity_t *a)
{
    db_rows_free(&a->agents);
    db_rows_free(&a->calls);
    db_rows_free(&a->sessions);
    db_rows_free(&a->pauses);
}

int db_agent_activity(db_conn_t *c, const char *from, const char *to, db_activity_t *out)
{
    memset(out, 0, sizeof(*out));
    db_q_t q;
    int rc;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT agent.id, agent.type, agent.number, agent.name, SUM(TIME_TO_SEC(duration)) "
                  "FROM agent LEFT JOIN audit ON agent.id = audit.id_agent AND audit.id_break IS NULL "
                  "AND audit.datetime_init BETWEEN ");
    db__q_between(&q, from, to);
    db__q_raw(&q, " WHERE estatus = 'A' GROUP BY agent.id ORDER BY agent.id");
    if ((rc = db__q_rows(&q, &out->agents)))
        goto fail;
    db__q_init(&q, c->my);
    db__q_raw(&q, "(SELECT call_entry.id_agent, 'incoming', queue_call_entry.queue, "
                  "SUM(call_entry.duration), COUNT(*) FROM call_entry, queue_call_entry WHERE "
                  "call_entry.id_queue_call_entry = queue_call_entry.id AND call_entry.datetime_init "
                  "BETWEEN ");
    db__q_between(&q, from, to);
    db__q_raw(&q, " GROUP BY call_entry.id_agent, queue_call_entry.queue) UNION (SELECT calls.id_agent, "
                  "'outgoing', campaign.queue, SUM(calls.duration), COUNT(*) FROM calls LEFT JOIN "
                  "campaign_lists ON calls.id_list = campaign_lists.id INNER JOIN campaign ON campaign.id "
                  "= campaign_lists.id_campaign WHERE calls.start_time BETWEEN ");
    db__q_between(&q, from, to);
    db__q_raw(&q, " GROUP BY calls.id_agent, campaign.queue)");
    if ((rc = db__q_rows(&q, &out->calls)))
        goto fail;
    /* The last session (id_break NULL) and the last pause of each agent in the range. */
    db_rows_t *last[2] = {&out->sessions, &out->pauses};
    for (int k = 0; k < 2; k++) {
        const char *cond = k == 0 ? "IS NULL" : "IS NOT NULL";
        db__q_init(&q, c->my);
        db__q_raw(&q, "SELECT a.id_agent, a.datetime_init, a.datetime_end FROM audit a LEFT OUTER JOIN "
                      "audit b ON b.id_break ");
        db__q_raw(&q, cond);
        db__q_raw(&q, " AND a.id_agent = b.id_agent AND ((a.datetime_init < b.datetime_init) OR "
                      "(a.datetime_init = b.datetime_init AND a.id < b.id)) AND b.datetime_init BETWEEN ");
        db__q_between(&q, from, to);
        db__q_raw(&q, " WHERE a.id_break ");
        db__q_raw(&q, cond);
        db__q_raw(&q, " AND a.datetime_init BETWEEN ");
        db__q_between(&q, from, to);
        db__q_raw(&q, " AND b.id_agent IS NULL");
        if ((rc = db__q_rows(&q, last[k])))
            goto fail;
    }
    return 0;
fail:
    db_activity_free(out);
    return rc;
}
