/*
 * Contacts (the incoming campaigns' `contact` table): lookups by phone and
 * existence.  Linking a call to a contact is a write (DB_W_CALL_ENTRY_CONTACT).
 */
#include "db/db_int.h"

#include "core/err.h"

int db_contacts_by_phone(db_conn_t *c, const char *phone, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT id, name, apellido, telefono, cedula_ruc FROM contact WHERE telefono = ");
    db__q_str(&q, phone);
    db__q_raw(&q, " ORDER BY id");
    return db__q_rows(&q, out);
}

int db_contact_exists(db_conn_t *c, long long id, bool *found)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT COUNT(*) FROM contact WHERE id = ");
    db__q_int(&q, id);
    int rc;
    *found = db__q_count(&q, &rc) > 0;
    return rc;
}
