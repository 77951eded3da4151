/*
 * The registry; see reg.h for the design.
 *
 * State: agents (by number) and calls (by id, and by uniqueid when known)
 * live in hmaps guarded by r->lock.  Only the registry thread writes them,
 * always with the write lock held; readers copy under the read lock.  The
 * per-transaction "touched" lists, the subscriber table (once the thread
 * runs) and each agent's pub_call_id are owned by the registry thread alone.
 * th/started/running belong to the controlling thread (reg_start/reg_stop).
 */
#include "reg/reg.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hmap.h"
#include "core/lhist.h"
#include "core/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_MAX_SUBSCRIBERS 64

enum { MSG_REG_UNSUB = MSG_REG_BASE + 3 }; /* internal: remove a subscriber, then signal */

typedef struct reg_work {
    mq_msg_t msg;
    reg_apply_fn fn;
    void *arg;
    void (*arg_free)(void *);
} reg_work_t;

/*
 * An unsubscribe handed to the running registry thread.  Lives on the caller's
 * stack; the caller waits on cv until done.  mu guards done only (a leaf: the
 * registry thread takes it with nothing else held).
 */
typedef struct unsub_msg {
    mq_msg_t msg;
    mq_t *q;
    int rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} unsub_msg_t;

typedef struct reg_sub {
    mq_t *q;
    int mask;
    _Atomic uint64_t lost; /* notifications dropped because q was full (reg thread writes, anyone reads) */
    bool lost_warned;  /* logged for the current full episode */
} reg_sub_t;

/* What the agents map holds: the public record first, so a pointer to either is the
 * same and copy-out readers copy sizeof(reg_agent_t) bytes of it. */
typedef struct agent_rec {
    reg_agent_t a;
    uint64_t pub_call_id; /* call_id as of the last published change (registry thread) */
} agent_rec_t;

/* A record changed in the current transaction, to publish after unlock. */
typedef struct touched {
    bool is_call;
    bool removed;
    void *gone;           /* a removed record, kept so subscribers see its last state */
    char key[REG_ID_LEN]; /* agent number, or the call id in decimal */
} touched_t;

struct reg_txn {
    reg_t *r;
    touched_t *items; /* owned by the registry thread */
    size_t n, cap;
    int64_t source_us; /* reg_txn_set_source_us of the work being applied; 0 = none */
};

struct reg {
    pthread_rwlock_t lock; /* guards agents, calls, by_uid, next_call_id */
    hmap_t *agents;        /* number -> agent_rec_t* */
    hmap_t *calls;         /* decimal id -> reg_call_t* */
    hmap_t *by_uid;        /* uniqueid -> reg_call_t* (calls whose uniqueid is set) */
    uint64_t next_call_id;
    /* Watched incoming queues (reg_post_inbound): replaced whole by the registry thread
     * under the write lock, read by apply functions and, under the read lock, by
     * reg_inbound_count.  A handful of rows: looked up linearly. */
    reg_inbound_queue_t *inbound;
    size_t ninbound;

    mq_t *inbox;                          /* thread-safe by itself */
    reg_sub_t subs[REG_MAX_SUBSCRIBERS];  /* set up before reg_start or on the registry thread */
    int nsubs;
    reg_txn_t tx;                         /* registry thread only */
    _Atomic int64_t beat_ms;              /* written by the registry thread, read by anyone */
    ccd_lhist_t lag;                      /* added to by the registry thread, read by anyone */
    pthread_t th;                         /* controlling thread: */
    bool started, running;
};

static void txn_reset(reg_txn_t *tx);

static void work_free(mq_msg_t *m)
{
    reg_work_t *w = (reg_work_t *)m;
    if (w->arg_free)
        w->arg_free(w->arg);
    free(w);
}

reg_t *reg_new(size_t inbox_max, char *err, size_t errlen)
{
    reg_t *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "registry: out of memory");
        return NULL;
    }
    pthread_rwlock_init(&r->lock, NULL);
    r->agents = hmap_new(256);
    r->calls = hmap_new(1024);
    r->by_uid = hmap_new(1024);
    r->inbox = mq_new("reg", inbox_max, 0);
    if (!r->agents || !r->calls || !r->by_uid || !r->inbox) {
        snprintf(err, errlen, "registry: out of memory");
        reg_free(r);
        return NULL;
    }
    r->next_call_id = 1;
    r->tx.r = r;
    return r;
}

static void free_values(hmap_t *m)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(m, &it, &k, &v))
        free(v);
}

void reg_free(reg_t *r)
{
    if (!r)
        return;
    reg_stop(r);
    if (r->agents) {
        free_values(r->agents);
        hmap_free(r->agents);
    }
    if (r->calls) {
        free_values(r->calls);
        hmap_free(r->calls);
    }
    hmap_free(r->by_uid); /* values belong to calls */
    free(r->inbound);
    mq_free(r->inbox);
    txn_reset(&r->tx);
    free(r->tx.items);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

int reg_post(reg_t *r, reg_apply_fn fn, void *arg, void (*arg_free)(void *))
{
    reg_work_t *w = malloc(sizeof(*w));
    if (!w)
        return CCD_ENOMEM;
    w->msg.type = MSG_REG_APPLY;
    w->msg.free = work_free;
    w->fn = fn;
    w->arg = arg;
    w->arg_free = arg_free;
    int rc = mq_push(r->inbox, &w->msg);
    if (rc != 0)
        free(w); /* the caller keeps arg */
    return rc;
}

int reg_subscribe(reg_t *r, mq_t *q, int mask)
{
    if (r->nsubs >= REG_MAX_SUBSCRIBERS)
        return CCD_EFULL;
    r->subs[r->nsubs++] = (reg_sub_t){.q = q, .mask = mask};
    return 0;
}

/* Registry thread, or nobody publishing. */
static int remove_sub(reg_t *r, mq_t *q)
{
    for (int i = 0; i < r->nsubs; i++) {
        if (r->subs[i].q != q)
            continue;
        if (r->subs[i].lost)
            LOG_INFO("reg", "subscriber %d leaves having lost %" PRIu64 " change notification(s)",
                     i, r->subs[i].lost);
        memmove(&r->subs[i], &r->subs[i + 1], (size_t)(r->nsubs - i - 1) * sizeof(r->subs[0]));
        r->nsubs--;
        return 0;
    }
    return CCD_ENOTFOUND;
}

static void unsub_free(mq_msg_t *m)
{
    (void)m; /* on the caller's stack; never called once the registry thread has it */
}

static void unsub_handle(reg_t *r, unsub_msg_t *u)
{
    int rc = remove_sub(r, u->q);
    pthread_mutex_lock(&u->mu);
    u->rc = rc;
    u->done = true;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

int reg_unsubscribe(reg_t *r, mq_t *q)
{
    if (!r->running || pthread_equal(pthread_self(), r->th))
        return remove_sub(r, q);
    unsub_msg_t u = {.msg = {.type = MSG_REG_UNSUB, .free = unsub_free}, .q = q};
    pthread_mutex_init(&u.mu, NULL);
    pthread_cond_init(&u.cv, NULL);
    /* The inbox is open while running (only reg_stop, on this same thread, closes it). */
    int rc = mq_push_force(r->inbox, &u.msg);
    if (rc == 0) {
        pthread_mutex_lock(&u.mu);
        while (!u.done)
            pthread_cond_wait(&u.cv, &u.mu);
        pthread_mutex_unlock(&u.mu);
        rc = u.rc;
    } else {
        LOG_ERR("reg", "unsubscribe could not reach the registry thread (%s)", ccd_strerror(rc));
    }
    pthread_cond_destroy(&u.cv);
    pthread_mutex_destroy(&u.mu);
    return rc;
}

/* ---- transactions ---- */

/* Records that key changed; gone (a removed record, or NULL) is then owned by tx. */
static void touch(reg_txn_t *tx, bool is_call, const char *key, void *gone)
{
    for (size_t i = 0; i < tx->n; i++) {
        touched_t *t = &tx->items[i];
        if (t->is_call == is_call && strcmp(t->key, key) == 0) {
            free(t->gone); /* removed then re-created within one transaction */
            t->removed = gone != NULL;
            t->gone = gone;
            return;
        }
    }
    if (tx->n == tx->cap) {
        size_t ncap = tx->cap ? tx->cap * 2 : 16;
        touched_t *n = realloc(tx->items, ncap * sizeof(*n));
        if (!n) {
            LOG_ERR_RL("reg", "out of memory recording a change; subscribers miss it");
            free(gone);
            return;
        }
        tx->items = n;
        tx->cap = ncap;
    }
    touched_t *t = &tx->items[tx->n++];
    t->is_call = is_call;
    t->removed = gone != NULL;
    t->gone = gone;
    snprintf(t->key, sizeof(t->key), "%s", key);
}

reg_agent_t *reg_txn_agent(reg_txn_t *tx, const char *number, bool create)
{
    reg_agent_t *a = hmap_get(tx->r->agents, number);
    if (a || !create)
        return a;
    if (strlen(number) >= REG_ID_LEN)
        return NULL;
    agent_rec_t *rec = calloc(1, sizeof(*rec));
    if (!rec)
        return NULL;
    a = &rec->a;
    snprintf(a->number, sizeof(a->number), "%s", number);
    a->member_status = -1; /* 0 is Asterisk's UNKNOWN */
    a->last_call_s = -1;   /* 0 is Asterisk's "never" */
    if (hmap_put(tx->r->agents, a->number, a, NULL) != 0) {
        free(a);
        return NULL;
    }
    touch(tx, false, a->number, NULL);
    return a;
}

void reg_txn_agent_touch(reg_txn_t *tx, reg_agent_t *a)
{
    a->version++;
    touch(tx, false, a->number, NULL);
}

void reg_txn_agent_remove(reg_txn_t *tx, const char *number)
{
    reg_agent_t *a = hmap_del(tx->r->agents, number);
    if (a)
        touch(tx, false, a->number, a);
}

static void call_key(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64, id);
}

reg_call_t *reg_txn_call_new(reg_txn_t *tx)
{
    reg_call_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->id = tx->r->next_call_id++;
    char key[32];
    call_key(c->id, key, sizeof(key));
    if (hmap_put(tx->r->calls, key, c, NULL) != 0) {
        free(c);
        return NULL;
    }
    touch(tx, true, key, NULL);
    return c;
}

reg_call_t *reg_txn_call(reg_txn_t *tx, uint64_t id)
{
    char key[32];
    call_key(id, key, sizeof(key));
    return hmap_get(tx->r->calls, key);
}

reg_call_t *reg_txn_call_by_uniqueid(reg_txn_t *tx, const char *uniqueid)
{
    return hmap_get(tx->r->by_uid, uniqueid);
}

void reg_txn_call_set_uniqueid(reg_txn_t *tx, reg_call_t *c, const char *uniqueid)
{
    if (c->uniqueid[0] && hmap_get(tx->r->by_uid, c->uniqueid) == c)
        hmap_del(tx->r->by_uid, c->uniqueid);
    snprintf(c->uniqueid, sizeof(c->uniqueid), "%s", uniqueid);
    if (c->uniqueid[0] && hmap_put(tx->r->by_uid, c->uniqueid, c, NULL) != 0)
        LOG_ERR_RL("reg", "out of memory indexing a call by uniqueid call_id=%" PRIu64, c->id);
    reg_txn_call_touch(tx, c);
}

void reg_txn_call_touch(reg_txn_t *tx, reg_call_t *c)
{
    char key[32];
    c->version++;
    call_key(c->id, key, sizeof(key));
    touch(tx, true, key, NULL);
}

void reg_txn_call_remove(reg_txn_t *tx, uint64_t id)
{
    char key[32];
    call_key(id, key, sizeof(key));
    reg_call_t *c = hmap_del(tx->r->calls, key);
    if (!c)
        return;
    if (c->uniqueid[0] && hmap_get(tx->r->by_uid, c->uniqueid) == c)
        hmap_del(tx->r->by_uid, c->uniqueid);
    touch(tx, true, key, c);
}

void reg_txn_foreach_call(reg_txn_t *tx, bool (*fn)(reg_txn_t *, reg_call_t *, void *), void *ctx)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(tx->r->calls, &it, &k, &v)) {
        if (!fn(tx, v, ctx))
            break;
    }
}

void reg_txn_foreach_agent(reg_txn_t *tx, bool (*fn)(reg_txn_t *, reg_agent_t *, void *),
                           void *ctx)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(tx->r->agents, &it, &k, &v)) {
        if (!fn(tx, v, ctx))
            break;
    }
}

/* ---- tables posted whole (the agent list, the watched queues) ---- */

/* A malloc'ed array handed to an apply function, which may keep it (setting list NULL). */
typedef struct posted_list {
    void *list;
    size_t n;
} posted_list_t;

static void posted_list_free(void *arg)
{
    posted_list_t *s = arg;
    free(s->list);
    free(s);
}

/* Posts fn with list; the registry owns list from a successful post (0), otherwise the
 * caller keeps it. */
static int post_list(reg_t *r, reg_apply_fn fn, void *list, size_t n)
{
    posted_list_t *s = malloc(sizeof(*s));
    if (!s)
        return CCD_ENOMEM;
    s->list = list;
    s->n = n;
    int rc = reg_post(r, fn, s, posted_list_free);
    if (rc != 0)
        free(s);
    return rc;
}

/* ---- the configured agent list ---- */

static bool mark_unlisted(reg_txn_t *tx, reg_agent_t *a, void *ctx)
{
    const posted_list_t *s = ctx;
    const reg_agent_info_t *list = s->list;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(list[i].number, a->number) == 0)
            return true;
    }
    if (a->active) {
        a->active = false;
        reg_txn_agent_touch(tx, a);
    }
    return true;
}

static void apply_agent_sync(reg_txn_t *tx, void *arg)
{
    posted_list_t *s = arg;
    const reg_agent_info_t *list = s->list;
    for (size_t i = 0; i < s->n; i++) {
        const reg_agent_info_t *in = &list[i];
        reg_agent_t *a = reg_txn_agent(tx, in->number, true);
        if (!a) {
            LOG_ERR_RL("reg", "cannot track agent (bad number or out of memory) agent=%s", in->number);
            continue;
        }
        if (a->active != in->active || a->db_id != in->db_id || strcmp(a->name, in->name) != 0) {
            a->active = in->active;
            a->db_id = in->db_id;
            snprintf(a->name, sizeof(a->name), "%s", in->name);
            reg_txn_agent_touch(tx, a);
        }
    }
    reg_txn_foreach_agent(tx, mark_unlisted, s);
}

int64_t reg_agent_wrap_end_ms(const reg_agent_t *a)
{
    if (a->call_id != 0 || a->wrap_start_ms <= 0 || a->wrapup_ms <= 0)
        return 0;
    return a->wrap_start_ms + a->wrapup_ms;
}

bool reg_agent_in_wrapup(const reg_agent_t *a, int64_t now_ms)
{
    int64_t end = reg_agent_wrap_end_ms(a);
    return end != 0 && now_ms < end;
}

void reg_agent_set_logged_out(reg_agent_t *a)
{
    a->login = REG_LOGGED_OUT;
    a->login_time_ms = 0;
    a->channel[0] = 0;
    a->extension[0] = 0;
    a->break_id = 0;
    a->break_name[0] = 0;
    a->break_start_ms = 0;
    a->on_hold = false;
    a->hold_start_ms = 0;
    a->ready_ms = 0;
}

void reg_agent_info_set(reg_agent_info_t *e, const char *type, const char *number,
                        const char *name, char estatus, int64_t db_id)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->number, sizeof(e->number), "%s/%s", type, number);
    /* Names longer than the registry keeps are cut (display only). */
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->active = estatus == 'A';
    e->db_id = db_id;
}

/* Does b replace a as its number's entry? (active first, then lowest id) */
static bool info_wins(const reg_agent_info_t *b, const reg_agent_info_t *a)
{
    if (b->active != a->active)
        return b->active;
    return b->db_id < a->db_id;
}

int reg_agent_list_merge(reg_agent_info_t *list, size_t *n)
{
    hmap_t *seen = hmap_new(*n ? *n : 1); /* number -> kept index + 1 */
    if (!seen)
        return CCD_ENOMEM;
    /* A first pass finds the winners without writing, so ENOMEM leaves list untouched. */
    size_t *win = calloc(*n ? *n : 1, sizeof(*win)); /* kept index -> winning row */
    size_t k = 0;
    if (!win)
        goto nomem;
    for (size_t i = 0; i < *n; i++) {
        size_t at = (size_t)(uintptr_t)hmap_get(seen, list[i].number);
        if (!at) {
            if (hmap_put(seen, list[i].number, (void *)(uintptr_t)(k + 1), NULL) != 0)
                goto nomem;
            win[k++] = i;
        } else if (info_wins(&list[i], &list[win[at - 1]])) {
            win[at - 1] = i;
        }
    }
    hmap_free(seen);
    /* win[j] >= j: moving entries down in order never overwrites one still needed. */
    for (size_t j = 0; j < k; j++)
        if (win[j] != j)
            list[j] = list[win[j]];
    free(win);
    *n = k;
    return 0;
nomem:
    free(win);
    hmap_free(seen);
    return CCD_ENOMEM;
}

int reg_post_agent_sync(reg_t *r, reg_agent_info_t *list, size_t n)
{
    return post_list(r, apply_agent_sync, list, n);
}

/* ---- watched incoming queues ---- */

static void apply_inbound_sync(reg_txn_t *tx, void *arg)
{
    posted_list_t *s = arg;
    reg_inbound_queue_t *list = s->list;
    reg_t *r = tx->r;
    /* Cut names would match the wrong queue: such rows are left out. */
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!memchr(list[i].queue, '\0', sizeof(list[i].queue)) || !list[i].queue[0])
            continue;
        list[k++] = list[i];
    }
    if (k != r->ninbound || (k && memcmp(r->inbound, list, k * sizeof(*list)) != 0))
        LOG_INFO("reg", "watched incoming queues: %zu", k);
    free(r->inbound);
    r->inbound = list;
    r->ninbound = k;
    s->list = NULL; /* the registry keeps it */
}

int reg_post_inbound(reg_t *r, reg_inbound_queue_t *list, size_t n)
{
    return post_list(r, apply_inbound_sync, list, n);
}

const reg_inbound_queue_t *reg_txn_inbound(reg_txn_t *tx, const char *queue)
{
    reg_t *r = tx->r;
    if (!queue || !queue[0])
        return NULL;
    for (size_t i = 0; i < r->ninbound; i++)
        if (strcmp(r->inbound[i].queue, queue) == 0)
            return &r->inbound[i];
    return NULL;
}

size_t reg_inbound_count(reg_t *r)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t n = r->ninbound;
    pthread_rwlock_unlock(&r->lock);
    return n;
}

/* ---- publishing ---- */

static void change_free(mq_msg_t *m)
{
    free(m);
}

const reg_call_t *reg_change_call(const reg_change_t *ch)
{
    return ch->msg.type == MSG_REG_AGENT_CHANGED && ch->has_call ? &ch->calls[0] : NULL;
}

const reg_call_t *reg_change_prev_call(const reg_change_t *ch)
{
    if (ch->msg.type != MSG_REG_AGENT_CHANGED || !ch->has_prev_call)
        return NULL;
    return &ch->calls[ch->has_call ? 1 : 0];
}

/* One change ready to publish: its bytes, as many as it carries. */
typedef struct proto {
    reg_change_t *c;
    size_t size;
} proto_t;

static void lost_one(reg_sub_t *s, int i)
{
    atomic_fetch_add_explicit(&s->lost, 1, memory_order_relaxed);
    if (!s->lost_warned) {
        s->lost_warned = true;
        LOG_WARN_RL("reg", "subscriber %d is not keeping up; change notifications dropped", i);
    }
}

/* Hands one copy of p to every subscriber that wants its kind (the last one gets p
 * itself, so a change with one subscriber costs no copy).  Runs without the
 * registry lock (mq locks are leaves, but the rule is simpler: never two locks at
 * once).  Consumes p. */
static void publish_one(reg_t *r, proto_t *p)
{
    int need = p->c->msg.type == MSG_REG_AGENT_CHANGED ? REG_SUB_AGENTS : REG_SUB_CALLS;
    int last = -1;
    for (int i = 0; i < r->nsubs; i++)
        if (r->subs[i].mask & need)
            last = i;
    for (int i = 0; i <= last; i++) {
        reg_sub_t *s = &r->subs[i];
        if (!(s->mask & need))
            continue;
        reg_change_t *c = i == last ? p->c : malloc(p->size);
        if (c) {
            if (c != p->c)
                memcpy(c, p->c, p->size);
            if (i == last)
                p->c = NULL;
            /* A lossless subscriber's queue is only ever closed after reg_stop/unsubscribe,
             * so the forced push does not fail while it is registered. */
            int rc = s->mask & REG_SUB_LOSSLESS ? mq_push_force(s->q, &c->msg)
                                                : mq_push(s->q, &c->msg);
            if (rc == 0) {
                s->lost_warned = false;
                continue;
            }
            free(c);
        }
        lost_one(s, i);
    }
    free(p->c); /* nobody wanted it */
    p->c = NULL;
}

/* Forgets the touched list and frees the records removed in the transaction. */
static void txn_reset(reg_txn_t *tx)
{
    for (size_t i = 0; i < tx->n; i++)
        free(tx->items[i].gone);
    tx->n = 0;
}

/* The call with this id as of now: live, or removed in this transaction. */
static const reg_call_t *call_now(reg_t *r, uint64_t id)
{
    char key[32];
    snprintf(key, sizeof(key), "%" PRIu64, id);
    const reg_call_t *c = hmap_get(r->calls, key);
    if (c)
        return c;
    for (size_t i = 0; i < r->tx.n; i++) {
        const touched_t *t = &r->tx.items[i];
        if (t->is_call && t->gone && ((const reg_call_t *)t->gone)->id == id)
            return t->gone;
    }
    return NULL;
}

/* The published form of one touched record; NULL on ENOMEM.  Built through memcpy:
 * the allocation is shorter than reg_change_t, so it is never written as one. */
static reg_change_t *make_change(reg_t *r, touched_t *t, int64_t now, size_t *size)
{
    static const size_t hdr = offsetof(reg_change_t, u);
    reg_change_t h;
    memset(&h, 0, hdr);
    h.msg.free = change_free;
    h.removed = t->removed;
    h.at_us = now;
    char *c;
    if (t->is_call) {
        const reg_call_t *call = t->gone ? t->gone : hmap_get(r->calls, t->key);
        /* A call change is a quarter of an agent change: allocate what it carries. */
        h.msg.type = MSG_REG_CALL_CHANGED;
        *size = hdr + sizeof(reg_call_t);
        if (!(c = malloc(*size)))
            return NULL;
        memcpy(c, &h, hdr);
        memcpy(c + hdr, call, sizeof(*call));
        return (reg_change_t *)c;
    }
    agent_rec_t *rec = t->gone ? t->gone : hmap_get(r->agents, t->key);
    const reg_call_t *cur = rec->a.call_id ? call_now(r, rec->a.call_id) : NULL;
    const reg_call_t *prev =
        rec->pub_call_id && rec->pub_call_id != rec->a.call_id ? call_now(r, rec->pub_call_id) : NULL;
    rec->pub_call_id = rec->a.call_id;
    h.msg.type = MSG_REG_AGENT_CHANGED;
    h.has_call = cur != NULL;
    h.has_prev_call = prev != NULL;
    size_t calls = offsetof(reg_change_t, calls);
    *size = calls + (size_t)(h.has_call + h.has_prev_call) * sizeof(reg_call_t);
    if (!(c = malloc(*size)))
        return NULL;
    memcpy(c, &h, hdr);
    memcpy(c + hdr, &rec->a, sizeof(rec->a));
    if (calls > hdr + sizeof(rec->a))
        memset(c + hdr + sizeof(rec->a), 0, calls - hdr - sizeof(rec->a)); /* padding */
    if (cur)
        memcpy(c + calls, cur, sizeof(*cur));
    if (prev)
        memcpy(c + calls + (cur ? sizeof(*cur) : 0), prev, sizeof(*prev));
    return (reg_change_t *)c;
}

/*
 * The touched records in their published form, taken under the write lock right
 * after the apply function, so subscribers see the state as of that change.
 */
static proto_t *snapshot_touched(reg_t *r, size_t *n)
{
    reg_txn_t *tx = &r->tx;
    *n = 0;
    proto_t *out = tx->n && r->nsubs ? malloc(tx->n * sizeof(*out)) : NULL;
    if (tx->n && r->nsubs && !out)
        LOG_ERR_RL("reg", "out of memory publishing %zu changes", tx->n);
    int64_t now = clk_mono_us();
    for (size_t i = 0; i < tx->n; i++) {
        touched_t *t = &tx->items[i];
        if (!out) {
            /* Nobody to tell, but pub_call_id must still follow the agent. */
            if (!t->is_call) {
                agent_rec_t *rec = t->gone ? t->gone : hmap_get(r->agents, t->key);
                rec->pub_call_id = rec->a.call_id;
            }
            continue;
        }
        proto_t *p = &out[*n];
        p->c = make_change(r, t, now, &p->size);
        if (p->c)
            (*n)++;
        else
            LOG_ERR_RL("reg", "out of memory publishing a change; subscribers miss it");
    }
    txn_reset(tx);
    return out;
}

void reg_txn_set_source_us(reg_txn_t *tx, int64_t us)
{
    tx->source_us = us;
}

uint64_t reg_lag_quantile_us(reg_t *r, double q, uint64_t *count)
{
    if (count)
        *count = ccd_lhist_count(&r->lag);
    return ccd_lhist_quantile(&r->lag, q);
}

static void apply(reg_t *r, reg_work_t *w)
{
    pthread_rwlock_wrlock(&r->lock);
    r->tx.source_us = 0;
    w->fn(&r->tx, w->arg);
    size_t n;
    proto_t *changes = snapshot_touched(r, &n);
    pthread_rwlock_unlock(&r->lock);
    for (size_t i = 0; i < n; i++)
        publish_one(r, &changes[i]);
    free(changes);
    /* Measured once published: readers and subscribers see the change from here on. */
    if (r->tx.source_us)
        ccd_lhist_add(&r->lag, clk_mono_us() - r->tx.source_us);
}

/* One inbox message other than MSG_QUIT (registry thread or reg_drain); frees it. */
static void handle(reg_t *r, mq_msg_t *m)
{
    if (m->type == MSG_REG_UNSUB) {
        /* Lives on the waiting caller's stack: the signal is the last touch (the caller
         * may return at once), so it is not freed here. */
        unsub_handle(r, (unsub_msg_t *)m);
        return;
    }
    if (m->type == MSG_REG_APPLY)
        apply(r, (reg_work_t *)m);
    else if (m->type != MSG_QUIT)
        LOG_WARN("reg", "unexpected message type %d in the registry inbox", m->type);
    m->free(m);
}

size_t reg_drain(reg_t *r)
{
    size_t done = 0;
    mq_msg_t *m;
    while ((m = mq_pop(r->inbox, 0)) != NULL) {
        done += m->type == MSG_REG_APPLY;
        handle(r, m);
    }
    return done;
}

/* ---- housekeeping ---- */

static bool is_finished(reg_call_status_e s)
{
    switch (s) {
    case REG_CS_FAILURE:
    case REG_CS_NOANSWER:
    case REG_CS_ABANDONED:
    case REG_CS_SHORTCALL:
    case REG_CS_HANGUP:
    case REG_CS_LOST:
        return true;
    default:
        return false;
    }
}

typedef struct sweep_ctx {
    int64_t cutoff_ms;
    uint64_t *ids;
    size_t n, cap;
} sweep_ctx_t;

static bool collect_finished(reg_txn_t *tx, reg_call_t *c, void *arg)
{
    (void)tx;
    sweep_ctx_t *sc = arg;
    if (!is_finished(c->status) || c->t_end_ms > sc->cutoff_ms)
        return true;
    if (sc->n == sc->cap) {
        size_t ncap = sc->cap ? sc->cap * 2 : 64;
        uint64_t *n = realloc(sc->ids, ncap * sizeof(*n));
        if (!n)
            return false; /* the rest goes next time */
        sc->ids = n;
        sc->cap = ncap;
    }
    sc->ids[sc->n++] = c->id;
    return true;
}

static void apply_sweep(reg_txn_t *tx, void *arg)
{
    sweep_ctx_t *sc = arg;
    reg_txn_foreach_call(tx, collect_finished, sc);
    for (size_t i = 0; i < sc->n; i++)
        reg_txn_call_remove(tx, sc->ids[i]);
}

size_t reg_sweep(reg_t *r, int64_t keep_ms)
{
    sweep_ctx_t sc = {.cutoff_ms = clk_wall_ms() - keep_ms};
    reg_work_t w = {.fn = apply_sweep, .arg = &sc};
    apply(r, &w);
    free(sc.ids);
    return sc.n;
}

static void *reg_run(void *arg)
{
    reg_t *r = arg;
    log_set_thread_name("reg");
    int64_t next_sweep = clk_mono_ms() + REG_SWEEP_INTERVAL_MS;
    for (;;) {
        atomic_store_explicit(&r->beat_ms, clk_mono_ms(), memory_order_relaxed);
        mq_msg_t *m = mq_pop(r->inbox, REG_SWEEP_INTERVAL_MS);
        if (clk_mono_ms() >= next_sweep) {
            reg_sweep(r, REG_FINISHED_KEEP_MS);
            next_sweep = clk_mono_ms() + REG_SWEEP_INTERVAL_MS;
        }
        if (!m) {
            if (mq_closed(r->inbox))
                break; /* closed and empty */
            continue;
        }
        if (m->type == MSG_QUIT) {
            m->free(m);
            /* Drain what arrived before the quit so no posted change is lost. */
            mq_close(r->inbox);
            reg_drain(r);
            break;
        }
        handle(r, m);
    }
    return NULL;
}

int reg_start(reg_t *r)
{
    if (r->started)
        return CCD_EBUSY;
    int rc = pthread_create(&r->th, NULL, reg_run, r);
    if (rc != 0) {
        LOG_ERR("reg", "cannot start the registry thread: %s", strerror(rc));
        return CCD_ERR;
    }
    r->started = r->running = true;
    return 0;
}

void reg_stop(reg_t *r)
{
    if (!r || !r->running)
        return;
    mq_msg_t *q = mq_msg_quit_new();
    /* Without memory for the quit message, closing the inbox ends the loop once
     * it is empty, with the same no-loss drain. */
    if (!q || mq_push_force(r->inbox, q) != 0) {
        if (q)
            q->free(q);
        mq_close(r->inbox);
    }
    pthread_join(r->th, NULL);
    r->running = false;
}

/* ---- readers ---- */

int reg_agent_get(reg_t *r, const char *number, reg_agent_t *out)
{
    pthread_rwlock_rdlock(&r->lock);
    reg_agent_t *a = hmap_get(r->agents, number);
    if (a)
        *out = *a;
    pthread_rwlock_unlock(&r->lock);
    return a ? 0 : CCD_ENOTFOUND;
}

int reg_call_get(reg_t *r, uint64_t id, reg_call_t *out)
{
    char key[32];
    call_key(id, key, sizeof(key));
    pthread_rwlock_rdlock(&r->lock);
    reg_call_t *c = hmap_get(r->calls, key);
    if (c)
        *out = *c;
    pthread_rwlock_unlock(&r->lock);
    return c ? 0 : CCD_ENOTFOUND;
}

static int copy_all(reg_t *r, hmap_t *m, size_t elem, void **out, size_t *n)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t count = hmap_count(m);
    char *arr = malloc(count ? count * elem : 1);
    if (!arr) {
        pthread_rwlock_unlock(&r->lock);
        return CCD_ENOMEM;
    }
    size_t it = 0, i = 0;
    const char *k;
    void *v;
    while (hmap_next(m, &it, &k, &v))
        memcpy(arr + elem * i++, v, elem);
    pthread_rwlock_unlock(&r->lock);
    *out = arr;
    *n = i;
    return 0;
}

void reg_visit_agents(reg_t *r, void (*fn)(const reg_agent_t *a, void *ctx), void *ctx)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(r->agents, &it, &k, &v))
        fn(v, ctx);
    pthread_rwlock_unlock(&r->lock);
}

void reg_visit_calls(reg_t *r, void (*fn)(const reg_call_t *c, void *ctx), void *ctx)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(r->calls, &it, &k, &v))
        fn(v, ctx);
    pthread_rwlock_unlock(&r->lock);
}

int reg_agent_list(reg_t *r, reg_agent_t **out, size_t *n)
{
    return copy_all(r, r->agents, sizeof(reg_agent_t), (void **)out, n);
}

int reg_call_list(reg_t *r, reg_call_t **out, size_t *n)
{
    return copy_all(r, r->calls, sizeof(reg_call_t), (void **)out, n);
}

size_t reg_agent_count(reg_t *r)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t n = hmap_count(r->agents);
    pthread_rwlock_unlock(&r->lock);
    return n;
}

size_t reg_call_count(reg_t *r)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t n = hmap_count(r->calls);
    pthread_rwlock_unlock(&r->lock);
    return n;
}

size_t reg_inbox_depth(reg_t *r)
{
    return mq_depth(r->inbox);
}

uint64_t reg_notifications_dropped(reg_t *r)
{
    uint64_t n = 0;
    for (int i = 0; i < r->nsubs; i++)
        n += atomic_load_explicit(&r->subs[i].lost, memory_order_relaxed);
    return n;
}

int64_t reg_heartbeat_ms(reg_t *r)
{
    return atomic_load_explicit(&r->beat_ms, memory_order_relaxed);
}

const char *reg_call_status_name(reg_call_status_e s)
{
    static const char *const names[] = {
        [REG_CS_PLACING] = "Placing",   [REG_CS_DIALING] = "Dialing",
        [REG_CS_RINGING] = "Ringing",   [REG_CS_ONQUEUE] = "OnQueue",
        [REG_CS_SUCCESS] = "Success",   [REG_CS_ONHOLD] = "OnHold",
        [REG_CS_FAILURE] = "Failure",   [REG_CS_NOANSWER] = "NoAnswer",
        [REG_CS_ABANDONED] = "Abandoned", [REG_CS_SHORTCALL] = "ShortCall",
        [REG_CS_HANGUP] = "Hangup",     [REG_CS_LOST] = "Lost",
    };
    if ((unsigned)s < sizeof(names) / sizeof(names[0]) && names[s])
        return names[s];
    return "Unknown";
}
