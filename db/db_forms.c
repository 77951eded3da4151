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

/* The one stored value of a form field for a call: " WHERE <idcol> = call AND id_form_field = field". */
static void form_row_where(db_q_t *q, const char *idcol, long long call_id, long long field)
{
    db__q_raw(q, " WHERE ");
    db__q_raw(q, idcol);
    db__q_raw(q, " = ");
    db__q_int(q, call_id);
    db__q_raw(q, " AND id_form_field = ");
    db__q_int(q, field);
}

int db_form_values_save(db_conn_t *c, bool incoming, long long call_id, const db_form_value_t *v,
                        size_t n)
{
    MYSQL *my = c->my;
    const char *table = incoming ? "form_data_recolected_entry" : "form_data_recolected";
    const char *idcol = incoming ? "id_call_entry" : "id_calls";
    if (mysql_autocommit(my, 0) != 0)
        return CCD_EIO;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        db_q_t q;
        db__q_init(&q, my);
        db__q_raw(&q, "UPDATE ");
        db__q_raw(&q, table);
        db__q_raw(&q, " SET value = ");
        db__q_str(&q, v[i].value);
        form_row_where(&q, idcol, call_id, v[i].field);
        if ((rc = db__q_exec(&q)))
            break;
        if (mysql_affected_rows(my) != 0)
            continue;
        /* affected_rows is 0 also when the value did not change: check before inserting. */
        db__q_init(&q, my);
        db__q_raw(&q, "INSERT INTO ");
        db__q_raw(&q, table);
        db__q_raw(&q, " (value, ");
        db__q_raw(&q, idcol);
        db__q_raw(&q, ", id_form_field) SELECT ");
        db__q_str(&q, v[i].value);
        db__q_raw(&q, ", ");
        db__q_int(&q, call_id);
        db__q_raw(&q, ", ");
        db__q_int(&q, v[i].field);
        db__q_raw(&q, " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM ");
        db__q_raw(&q, table);
        form_row_where(&q, idcol, call_id, v[i].field);
        db__q_raw(&q, ")");
        rc = db__q_exec(&q);
    }
    if (rc)
        mysql_rollback(my);
    else if (mysql_commit(my) != 0)
        rc = CCD_EIO;
    mysql_autocommit(my, 1);
    return rc;
}
