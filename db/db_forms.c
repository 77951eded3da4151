/*
 * Forms (form, form_field) and the values agents save for a call
 * (form_data_recolected / form_data_recolected_entry).
 */
#include "db/db_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

int db_form_fields(db_conn_t *c, long long id_form, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT id, etiqueta, value, tipo, orden FROM form_field WHERE id_form = ");
    db__q_int(&q, id_form);
    db__q_raw(&q, " ORDER BY orden");
    return db__q_rows(&q, out);
}

int db_form_head(db_conn_t *c, long long id_form, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT nombre, descripcion, estatus FROM form WHERE id = ");
    db__q_int(&q, id_form);
    return db__q_rows(&q, out);
}

int db_call_survey(db_conn_t *c, bool incoming, long long call_id, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, incoming ? "SELECT ff.id_form, ff.id, ff.etiqueta, d.value FROM "
                             "form_data_recolected_entry d JOIN form_field ff ON ff.id = "
                             "d.id_form_field WHERE d.id_call_entry = "
                           : "SELECT ff.id_form, ff.id, ff.etiqueta, d.value FROM form_data_recolected d "
                             "JOIN form_field ff ON ff.id = d.id_form_field WHERE d.id_calls = ");
    db__q_int(&q, call_id);
    db__q_raw(&q, " ORDER BY ff.id_form, ff.orden, ff.id");
    return db__q_rows(&q, out);
}

int db_form_field_get(db_conn_t *c, long long form, long long field, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT tipo, value FROM form_field WHERE id_form = ");
    db__q_int(&q, form);
    db__q_raw(&q, " AND id = ");
    db__q_int(&q, field);
    return db__q_rows(&q, out);
}

int db_form_field_count(db_conn_t *c, long long form, long long *nfields)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT COUNT(*) FROM form_field WHERE id_form = ");
    db__q_int(&q, form);
    int rc;
    *nfields = db__q_count(&q, &rc);
    return rc;
}
