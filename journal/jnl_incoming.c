/*
 * Incoming calls: registry changes of REG_CALL_INCOMING calls -> call_entry,
 * current_call_entry and call_progress_log, as Issabel's dialer writes them for a
 * caller of a watched queue (docs/journal.md, "Incoming calls").
 *
 * Every write is keyed by the call's uniqueid (db resolves the call_entry row in SQL,
 * docs/db.md), so none waits for the row's id; all of one call's writes share one
 * shard (the registry id), so they reach the database in the order written here.  The
 * call_entry id comes back in the insert's reply and is handed to the registry call
 * (db_call_id) for the consoles.  As for outgoing calls, each change is compared with
 * what was already written (jentry_t), so a change that skips steps still writes every
 * step once, in order, and a late link of a call written as abandoned is written up.
 * Journal thread only.
 */
#include "journal/jnl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

typedef enum { JE_NONE = 0, JE_ABANDONED, JE_ENDED } jend_e;

/* An incoming call: what has been written for it so far. */
typedef struct jentry {
    uint32_t shard;      /* the registry id, cut: every write of the call goes to one writer */
    char uniqueid[33];
    uint32_t id_agent;
    bool linked;         /* activa written (and its progress row) */
    bool current;        /* current_call_entry row added and not deleted */
    jend_e end;          /* the final update written */
    uint32_t nrec;       /* the call's recordings (reg_call_t.nrecordings) written */
} jentry_t;

static uint32_t u32_of(int64_t v)
{
    return v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

static void progress(jnl_t *j, jentry_t *je, const char *name, int64_t when_ms, int64_t duration)
{
    db_write_t *w = jnl__write_new(j, DB_W_PROGRESS_LOG_ENTRY, je->shard);
    if (!w)
        return;
    db_w_progress_t *p = &w->u.progress;
    p->datetime_entry = jnl__to_time(when_ms);
    jnl__cpy(p->uniqueid, sizeof(p->uniqueid), je->uniqueid);
    jnl__cpy(p->new_status, sizeof(p->new_status), name);
    p->id_agent = je->id_agent;
    p->duration = duration;
    jnl__submit(j, w);
}

static db_write_t *update(jnl_t *j, jentry_t *je, const char *status, uint32_t set)
{
    db_write_t *w = jnl__write_new(j, DB_W_CALL_ENTRY_UPDATE, je->shard);
    if (!w)
        return NULL;
    jnl__cpy(w->u.entry.uniqueid, sizeof(w->u.entry.uniqueid), je->uniqueid);
    w->u.entry.set = DB_CALL_F_STATUS | set;
    jnl__cpy(w->u.entry.status, sizeof(w->u.entry.status), status);
    return w;
}

/* The caller joined: the call_entry row (en-cola) and its OnQueue progress row. */
static void add(jnl_t *j, jentry_t *je, const reg_call_t *c)
{
    db_write_t *w = jnl__write_new(j, DB_W_CALL_ENTRY_ADD, je->shard);
    if (!w)
        return;
    db_w_call_entry_t *e = &w->u.entry;
    jnl__cpy(e->uniqueid, sizeof(e->uniqueid), je->uniqueid);
    e->id_queue_call_entry = u32_of(c->queue_id);
    e->id_campaign = u32_of(c->campaign_id);
    e->match_contact = true;
    jnl__cpy(e->callerid, sizeof(e->callerid), c->phone);
    jnl__cpy(e->status, sizeof(e->status), "en-cola");
    jnl__cpy(e->trunk, sizeof(e->trunk), c->trunk);
    e->datetime_entry_queue = jnl__to_time(c->t_queue_ms);
    w->reply = j->q; /* the new id, for the registry call (jnl__incoming_added) */
    /* only an accepted insert comes back (a refused one is freed and counted) */
    if (jnl__submit(j, w) == 0)
        j->entry_replies++;
    progress(j, je, "OnQueue", c->t_queue_ms, -1);
}

/* Linked to an agent: activa, the agent's current_call_entry row (while the call is up),
 * the Success progress row. */
static void link(jnl_t *j, jentry_t *je, const reg_call_t *c)
{
    je->linked = true;
    if (c->agent[0])
        je->id_agent = jnl__agent_db_id(j, c->agent);
    db_write_t *w = update(j, je, "activa",
                           DB_CALL_F_ID_AGENT | DB_CALL_F_START_TIME | DB_CALL_F_DURATION_WAIT);
    if (w) {
        w->u.entry.id_agent = je->id_agent;
        w->u.entry.datetime_init = jnl__to_time(c->t_link_ms);
        w->u.entry.duration_wait = jnl__secs(c->t_queue_ms, c->t_link_ms);
        jnl__submit(j, w);
    }
    if (!jnl__is_final(c->status)) {
        if (!je->id_agent) {
            /* current_call_entry.id_agent is NOT NULL: no row for an agent not in the table */
            LOG_WARN_RL("journal", "incoming call linked to an agent without a row: no "
                                   "current_call_entry agent=%s uniqueid=%s",
                        c->agent, je->uniqueid);
        } else if ((w = jnl__write_new(j, DB_W_CURRENT_CALL_ENTRY_ADD, je->shard)) != NULL) {
            je->current = true;
            db_w_current_entry_t *ce = &w->u.current_entry;
            jnl__cpy(ce->uniqueid, sizeof(ce->uniqueid), je->uniqueid);
            ce->id_agent = je->id_agent;
            ce->datetime_init = jnl__to_time(c->t_link_ms);
            jnl__cpy(ce->channel_client, sizeof(ce->channel_client), c->channel);
            jnl__submit(j, w);
        }
    }
    progress(j, je, "Success", c->t_link_ms, -1);
}

/* The end: terminada after a link (talk time), abandonada otherwise (time waited). */
static void finish(jnl_t *j, jentry_t *je, const reg_call_t *c)
{
    bool talked = je->linked;
    jend_e want = talked ? JE_ENDED : JE_ABANDONED;
    if (je->end == want)
        return;
    je->end = want;
    if (je->current) {
        je->current = false;
        db_write_t *d = jnl__write_new(j, DB_W_CURRENT_CALL_ENTRY_DEL, je->shard);
        if (d) {
            jnl__cpy(d->u.current_entry.uniqueid, sizeof(d->u.current_entry.uniqueid), je->uniqueid);
            jnl__submit(j, d);
        }
    }
    int64_t end_ms = c->t_end_ms ? c->t_end_ms : clk_wall_ms();
    db_write_t *w;
    if (talked) {
        int64_t talk = jnl__secs(c->t_link_ms, end_ms);
        w = update(j, je, "terminada", DB_CALL_F_END_TIME | DB_CALL_F_DURATION);
        if (w) {
            w->u.entry.datetime_end = jnl__to_time(end_ms);
            w->u.entry.duration = talk;
            jnl__submit(j, w);
        }
        progress(j, je, "Hangup", end_ms, talk);
    } else {
        w = update(j, je, "abandonada", DB_CALL_F_END_TIME | DB_CALL_F_DURATION_WAIT);
        if (w) {
            w->u.entry.datetime_end = jnl__to_time(end_ms);
            w->u.entry.duration_wait = jnl__secs(c->t_queue_ms, end_ms);
            jnl__submit(j, w);
        }
        progress(j, je, "Abandoned", end_ms, -1);
    }
}

void jnl__incoming(jnl_t *j, const reg_change_t *ch)
{
    const reg_call_t *c = &ch->u.call;
    atomic_fetch_add_explicit(&j->st_incoming, 1, memory_order_relaxed);
    if (!j->incoming && !(j->incoming = hmap_new(256))) {
        LOG_ERR_RL("journal", "out of memory: incoming calls are not journaled");
        return;
    }
    char key[32];
    jnl__call_key(c->id, key, sizeof(key));
    jentry_t *je = hmap_get(j->incoming, key);
    if (!je) {
        /* A call the registry made from a watched queue's join; nothing else is ours. */
        if (ch->removed || !c->queue_id || !c->uniqueid[0])
            return;
        je = calloc(1, sizeof(*je));
        if (!je || hmap_put(j->incoming, key, je, NULL) != 0) {
            free(je);
            LOG_ERR_RL("journal", "out of memory: incoming call %s is not journaled",
                       c->uniqueid);
            return;
        }
        je->shard = (uint32_t)c->id;
        jnl__cpy(je->uniqueid, sizeof(je->uniqueid), c->uniqueid);
        add(j, je, c);
    }
    if (jnl__was_linked(c) && !je->linked) {
        if (je->end == JE_ABANDONED)
            je->end = JE_NONE; /* a late link: written up to terminada below */
        link(j, je, c);
    }
    /* A recording row names its call_entry by id, which comes back from the insert to the
     * registry call (jnl__incoming_added); a file seen before that waits for it, or is
     * written without the id (uniqueid and channel still say whose) when the call goes
     * first. */
    if (c->nrecordings != je->nrec && c->recording[0] && (c->db_call_id || ch->removed)) {
        jnl__recording(j, c, je->shard, 0, u32_of(c->db_call_id));
        je->nrec = c->nrecordings;
    }
    /* A call dropped unfinished is ended as it stands (the registry keeps none). */
    if (jnl__is_final(c->status) || ch->removed)
        finish(j, je, c);
    if (ch->removed) {
        hmap_del(j->incoming, key);
        free(je);
    }
}

/* The apply function that gives the registry call its call_entry id. */
typedef struct set_id {
    uint64_t reg_id;
    char uniqueid[33];
    int64_t db_id;
} set_id_t;

static void apply_set_id(reg_txn_t *tx, void *arg)
{
    const set_id_t *s = arg;
    reg_call_t *c = reg_txn_call(tx, s->reg_id);
    /* the shard is the registry id cut to 32 bits: the uniqueid confirms it */
    if (!c || c->type != REG_CALL_INCOMING || c->db_call_id || strcmp(c->uniqueid, s->uniqueid))
        return;
    c->db_call_id = s->db_id;
    reg_txn_call_touch(tx, c);
}

void jnl__incoming_added(jnl_t *j, db_write_t *w)
{
    j->entry_replies--;
    if (w->status == 0 && w->u.entry.new_id) {
        set_id_t *s = malloc(sizeof(*s));
        if (s) {
            s->reg_id = w->shard;
            jnl__cpy(s->uniqueid, sizeof(s->uniqueid), w->u.entry.uniqueid);
            s->db_id = (int64_t)w->u.entry.new_id;
        }
        if (!s || reg_post(j->reg, apply_set_id, s, free) != 0) {
            free(s);
            LOG_WARN_RL("journal", "the registry did not take call_entry id %" PRIu64
                                   " of uniqueid=%s (consoles see callid 0)",
                        w->u.entry.new_id, w->u.entry.uniqueid);
        }
    }
    w->msg.free(&w->msg);
}

void jnl__incoming_free(jnl_t *j)
{
    if (!j->incoming)
        return;
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(j->incoming, &it, &k, &v))
        free(v);
    hmap_free(j->incoming);
    j->incoming = NULL;
}
