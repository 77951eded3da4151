/*
 * Agents: registry agent changes -> audit rows (Issabel reference §3 `audit`, §5).
 *
 * One session row per login (id_break NULL), one row per break (id_break = the break
 * row, from reg_agent_t.break_id > 0; -1 is a pause made outside the engine and is
 * not audited), one row per hold (id_break = the Hold break, tipo 'H').  Rows are
 * opened at the time the registry recorded (login_time_ms, break_start_ms,
 * hold_start_ms) and closed at the time the change is handled; breaks and holds
 * are closed before their session.  jagent_t keeps which rows are open, so repeated
 * or coalesced changes write each row once.  Journal thread only.
 */
#include "journal/jnl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

static void audit(jnl_t *j, jagent_t *ja, bool open, uint32_t id_break, int64_t when_ms)
{
    if (!ja->db_id)
        return; /* counted when the session began without a row */
    db_write_t *w = jnl__write_new(j, open ? DB_W_AUDIT_OPEN : DB_W_AUDIT_CLOSE, ja->db_id);
    if (!w)
        return;
    w->u.audit.id_agent = ja->db_id;
    w->u.audit.id_break = id_break;
    w->u.audit.when = jnl__to_time(when_ms);
    jnl__submit(j, w);
}

static void skipped(jnl_t *j, const char *number, const char *what)
{
    atomic_fetch_add_explicit(&j->st_audit_skipped, 1, memory_order_relaxed);
    LOG_WARN_RL("journal", "audit row not written: %s agent=%s", what, number);
}

/* Closes every row open for the agent: hold and break first, then the session. */
static void close_all(jnl_t *j, jagent_t *ja)
{
    ja->hold_wait_ms = 0;
    if (ja->hold) {
        audit(j, ja, false, ja->hold, 0);
        ja->hold = 0;
    }
    if (ja->brk) {
        audit(j, ja, false, (uint32_t)ja->brk, 0);
        ja->brk = 0;
    }
    if (ja->session) {
        audit(j, ja, false, 0, 0);
        ja->session = false;
    }
}

void jnl__agent_change(jnl_t *j, const reg_change_t *ch)
{
    const reg_agent_t *a = &ch->u.agent;
    jagent_t *ja = hmap_get(j->agents, a->number);
    if (!ja) {
        if (ch->removed)
            return;
        ja = calloc(1, sizeof(*ja));
        if (!ja || hmap_put(j->agents, a->number, ja, NULL) != 0) {
            free(ja);
            skipped(j, a->number, "out of memory");
            return;
        }
        snprintf(ja->number, sizeof(ja->number), "%s", a->number);
    }
    bool in = a->login == REG_LOGGED_IN && !ch->removed;
    if (a->db_id > 0 && a->db_id <= UINT32_MAX && !ja->session)
        ja->db_id = (uint32_t)a->db_id; /* an agent row re-read while logged out */

    if (!in) {
        close_all(j, ja);
    } else if (!ja->db_id) {
        if (!ja->session) {
            ja->session = true; /* once per session: it stays without a row */
            skipped(j, a->number, "logged in without an agent row");
        }
    } else {
        if (!ja->session) {
            ja->session = true;
            /* The first session this engine sees for the agent: a session row a previous
             * run left open (crash, restart while logged in) ends where this one begins. */
            if (!ja->seen_session)
                audit(j, ja, false, 0, a->login_time_ms);
            ja->seen_session = true;
            audit(j, ja, true, 0, a->login_time_ms);
        }
        int brk = a->break_id > 0 ? a->break_id : 0;
        if (ja->brk && ja->brk != brk) {
            audit(j, ja, false, (uint32_t)ja->brk, 0);
            ja->brk = 0;
        }
        if (brk && ja->brk != brk) {
            ja->brk = brk;
            audit(j, ja, true, (uint32_t)brk, a->break_start_ms);
        }
        if (a->on_hold && !ja->hold && !ja->hold_wait_ms) {
            if (j->hold_break) {
                ja->hold = j->hold_break;
                audit(j, ja, true, ja->hold, a->hold_start_ms);
            } else if (j->breaks_loaded) {
                ja->hold_wait_ms = -1; /* once per hold */
                skipped(j, a->number, "hold without a Hold break (tipo 'H') in the database");
            } else {
                /* the breaks are being read: opened when they arrive */
                ja->hold_wait_ms = a->hold_start_ms ? a->hold_start_ms : clk_wall_ms();
            }
        } else if (!a->on_hold) {
            if (ja->hold)
                audit(j, ja, false, ja->hold, 0);
            ja->hold = 0;
            ja->hold_wait_ms = 0;
        }
    }
    if (ch->removed) {
        hmap_del(j->agents, a->number);
        free(ja);
    }
}

void jnl__agents_hold_break_known(jnl_t *j)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->agents, &it, &k, &v)) {
        jagent_t *ja = v;
        if (ja->hold_wait_ms <= 0 || !ja->session)
            continue;
        if (j->hold_break) {
            ja->hold = j->hold_break;
            audit(j, ja, true, ja->hold, ja->hold_wait_ms);
            ja->hold_wait_ms = 0;
        } else {
            ja->hold_wait_ms = -1;
            skipped(j, ja->number, "hold without a Hold break (tipo 'H') in the database");
        }
    }
}

void jnl__agents_free(jnl_t *j)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->agents, &it, &k, &v))
        free(v);
}
