/*
 * The fair read queue (see db_int.h): per lane, a ring of owners served one
 * job per owner per turn, with bounds per lane, per owner and per address.
 *
 * Why round-robin by owner rather than one FIFO: with a FIFO, a session that
 * keeps many heavy reads queued puts every other session's request behind all
 * of them; here another owner's job waits for at most one job of each owner
 * ahead of it in the ring, however many each has queued.
 */
#include "db/db_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hmap.h"

typedef struct fq_owner fq_owner_t;
struct fq_owner {
    char key[17];                     /* hex owner id: the owners map's key */
    int n;                            /* queued jobs, both lanes */
    mq_msg_t *head[DB_LANES], *tail[DB_LANES];
    fq_owner_t *next[DB_LANES], *prev[DB_LANES]; /* the lane's ring while head[lane] != NULL */
};

typedef struct fq_addr {
    int n; /* queued NORMAL jobs from this address */
} fq_addr_t;

struct db_fairq {
    int max_lane, max_owner, max_addr;
    size_t n[DB_LANES];
    fq_owner_t *cur[DB_LANES]; /* the owner served next in the lane; NULL = lane empty */
    hmap_t *owners;            /* key -> fq_owner_t (only owners with queued jobs) */
    hmap_t *addrs;             /* address -> fq_addr_t (only addresses with queued jobs) */
    size_t high_water;
    uint64_t refused_total, refused_client, refused_address;
};

db_fairq_t *db__fairq_new(int max_lane, int max_owner, int max_addr)
{
    db_fairq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->max_lane = max_lane;
    q->max_owner = max_owner;
    q->max_addr = max_addr;
    q->owners = hmap_new(64);
    q->addrs = hmap_new(64);
    if (!q->owners || !q->addrs) {
        db__fairq_free(q);
        return NULL;
    }
    return q;
}

void db__fairq_free(db_fairq_t *q)
{
    if (!q)
        return;
    /* Only records of owners/addresses with jobs exist, and the queue is empty by contract;
     * free whatever a broken caller left so nothing leaks. */
    size_t it = 0;
    const char *k;
    void *v;
    while (q->owners && hmap_next(q->owners, &it, &k, &v))
        free(v);
    it = 0;
    while (q->addrs && hmap_next(q->addrs, &it, &k, &v))
        free(v);
    hmap_free(q->owners);
    hmap_free(q->addrs);
    free(q);
}

static void owner_key(uint64_t owner, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, owner);
}

/* Links o into the lane's ring just before the owner served next: last of this turn. */
static void ring_join(db_fairq_t *q, fq_owner_t *o, int lane)
{
    fq_owner_t *c = q->cur[lane];
    if (!c) {
        o->next[lane] = o->prev[lane] = o;
        q->cur[lane] = o;
        return;
    }
    o->next[lane] = c;
    o->prev[lane] = c->prev[lane];
    c->prev[lane]->next[lane] = o;
    c->prev[lane] = o;
}

static void ring_leave(db_fairq_t *q, fq_owner_t *o, int lane)
{
    if (o->next[lane] == o) {
        q->cur[lane] = NULL;
    } else {
        o->prev[lane]->next[lane] = o->next[lane];
        o->next[lane]->prev[lane] = o->prev[lane];
        if (q->cur[lane] == o)
            q->cur[lane] = o->next[lane];
    }
    o->next[lane] = o->prev[lane] = NULL;
}

int db__fairq_push(db_fairq_t *q, db_read_job_t *job, char *why)
{
    if (job->lane < 0 || job->lane >= DB_LANES)
        return CCD_EINVAL;
    int lane = job->lane;
    char k[17];
    owner_key(job->owner, k);
    fq_owner_t *o = hmap_get(q->owners, k);
    bool by_addr = lane == DB_LANE_NORMAL && job->addr[0];
    size_t alen = by_addr ? strnlen(job->addr, DB_ADDR_LEN - 1) : 0;
    fq_addr_t *a = by_addr ? hmap_getn(q->addrs, job->addr, alen) : NULL;
    char w = 0;
    if (q->n[lane] >= (size_t)q->max_lane)
        w = 'T';
    else if (job->owner != 0 && o && o->n >= q->max_owner)
        w = 'C';
    else if (a && a->n >= q->max_addr)
        w = 'A';
    if (w) {
        if (why)
            *why = w;
        if (w == 'T')
            q->refused_total++;
        else if (w == 'C')
            q->refused_client++;
        else
            q->refused_address++;
        return CCD_EFULL;
    }
    bool new_o = false;
    if (!o) {
        o = calloc(1, sizeof(*o));
        if (!o)
            return CCD_ENOMEM;
        memcpy(o->key, k, sizeof(o->key));
        if (hmap_put(q->owners, o->key, o, NULL) != 0) {
            free(o);
            return CCD_ENOMEM;
        }
        new_o = true;
    }
    if (by_addr && !a) {
        char ak[DB_ADDR_LEN];
        snprintf(ak, sizeof(ak), "%.*s", (int)alen, job->addr);
        a = calloc(1, sizeof(*a));
        if (!a || hmap_put(q->addrs, ak, a, NULL) != 0) {
            free(a);
            if (new_o) {
                hmap_del(q->owners, o->key);
                free(o);
            }
            return CCD_ENOMEM;
        }
    }
    job->msg.next = NULL;
    if (o->tail[lane]) {
        o->tail[lane]->next = &job->msg;
    } else {
        o->head[lane] = &job->msg;
        ring_join(q, o, lane);
    }
    o->tail[lane] = &job->msg;
    o->n++;
    if (a)
        a->n++;
    q->n[lane]++;
    size_t all = q->n[DB_LANE_NORMAL] + q->n[DB_LANE_AUTH];
    if (all > q->high_water)
        q->high_water = all;
    return 0;
}

db_read_job_t *db__fairq_pop(db_fairq_t *q, int lane)
{
    if (lane < 0 || lane >= DB_LANES || !q->cur[lane])
        return NULL;
    fq_owner_t *o = q->cur[lane];
    mq_msg_t *m = o->head[lane];
    o->head[lane] = m->next;
    m->next = NULL;
    if (!o->head[lane]) {
        o->tail[lane] = NULL;
        ring_leave(q, o, lane); /* moves cur on */
    } else {
        q->cur[lane] = o->next[lane];
    }
    q->n[lane]--;
    db_read_job_t *job = (db_read_job_t *)m;
    if (lane == DB_LANE_NORMAL && job->addr[0]) {
        size_t alen = strnlen(job->addr, DB_ADDR_LEN - 1);
        fq_addr_t *a = hmap_getn(q->addrs, job->addr, alen);
        if (a && --a->n == 0) {
            char ak[DB_ADDR_LEN];
            snprintf(ak, sizeof(ak), "%.*s", (int)alen, job->addr);
            free(hmap_del(q->addrs, ak));
        }
    }
    if (--o->n == 0) {
        hmap_del(q->owners, o->key);
        free(o);
    }
    return job;
}

size_t db__fairq_depth(const db_fairq_t *q, int lane)
{
    return lane >= 0 && lane < DB_LANES ? q->n[lane] : 0;
}

void db__fairq_stats(const db_fairq_t *q, db_fairq_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (int l = 0; l < DB_LANES; l++)
        out->depth[l] = q->n[l];
    out->high_water = q->high_water;
    out->refused_total = q->refused_total;
    out->refused_client = q->refused_client;
    out->refused_address = q->refused_address;
}
