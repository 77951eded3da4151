/*
 * ECCP limits before login and failed-login throttling; see eccp_guard.h.
 *
 * Two dimensions of failed logins are tracked, because an attacker can vary
 * either: per client address (one address guessing many names) and per client
 * name (many addresses guessing one name).  Both grow the delay of the
 * failure answer (the worker parks the answer, never the thread).  A block
 * refuses logins without checking them:
 * - an address blocked after login_fail_block_after failures refuses only
 *   that address;
 * - a name blocked after as many failures refuses that name only to addresses
 *   that have failures of their own, so no address can lock a client out of
 *   its account from elsewhere: a clean address still logs in at once.
 * A correct password is never delayed; only failure answers wait.
 */
#include "eccp/eccp_guard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"

typedef struct conn_ent {
    int total, unauth;
} conn_ent_t;

typedef struct fail_ent {
    int fails;
    int64_t last_ms;       /* last failure */
    int64_t blocked_until; /* 0 = not blocked */
} fail_ent_t;

struct eccp_guard {
    /* Limits (copied at creation, never written again). */
    int max_unauth, max_unauth_addr, max_addr;
    int64_t delay_ms, delay_max_ms, block_ms;
    int block_after;
    pthread_mutex_t mu; /* guards everything below; a leaf lock, never held across I/O */
    int unauth;         /* unauthenticated sessions, all addresses */
    hmap_t *conns;      /* address hex -> conn_ent_t */
    hmap_t *fail_addr;  /* address hex -> fail_ent_t */
    hmap_t *fail_name;  /* client name -> fail_ent_t */
};

static void addr_key(const uint8_t addr[16], char out[33])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[addr[i] >> 4];
        out[2 * i + 1] = hx[addr[i] & 15];
    }
    out[32] = '\0';
}

static void free_values(hmap_t *m)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(m, &it, &k, &v))
        free(v);
    hmap_free(m);
}

eccp_guard_t *eccp__guard_new(const conf_eccp_t *cfg)
{
    eccp_guard_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->max_unauth = cfg->max_unauth_sessions;
    g->max_unauth_addr = cfg->max_unauth_per_address;
    g->max_addr = cfg->max_sessions_per_address;
    g->delay_ms = cfg->login_fail_delay_ms;
    g->delay_max_ms = cfg->login_fail_delay_max_ms;
    g->block_after = cfg->login_fail_block_after;
    g->block_ms = (int64_t)cfg->login_block_time_s * 1000;
    pthread_mutex_init(&g->mu, NULL);
    g->conns = hmap_new(256);
    g->fail_addr = hmap_new(256);
    g->fail_name = hmap_new(256);
    if (!g->conns || !g->fail_addr || !g->fail_name) {
        eccp__guard_free(g);
        return NULL;
    }
    return g;
}

void eccp__guard_free(eccp_guard_t *g)
{
    if (!g)
        return;
    if (g->conns)
        free_values(g->conns);
    if (g->fail_addr)
        free_values(g->fail_addr);
    if (g->fail_name)
        free_values(g->fail_name);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* ---------------- connections ---------------- */

eccp_guard_refusal_e eccp__guard_admit(eccp_guard_t *g, const uint8_t addr[16])
{
    char key[33];
    addr_key(addr, key);
    eccp_guard_refusal_e rc = ECCP_GUARD_OK;
    pthread_mutex_lock(&g->mu);
    conn_ent_t *e = hmap_get(g->conns, key);
    if (g->unauth >= g->max_unauth) {
        rc = ECCP_GUARD_UNAUTH;
    } else if (e && e->unauth >= g->max_unauth_addr) {
        rc = ECCP_GUARD_UNAUTH_ADDR;
    } else if (e && g->max_addr > 0 && e->total >= g->max_addr) {
        rc = ECCP_GUARD_ADDR;
    } else {
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e || hmap_put(g->conns, key, e, NULL) != 0) {
                /* no memory to count it: refusing is the bounded choice */
                free(e);
                pthread_mutex_unlock(&g->mu);
                return ECCP_GUARD_UNAUTH;
            }
        }
        e->total++;
        e->unauth++;
        g->unauth++;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void eccp__guard_authed(eccp_guard_t *g, const uint8_t addr[16])
{
    char key[33];
    addr_key(addr, key);
    pthread_mutex_lock(&g->mu);
    conn_ent_t *e = hmap_get(g->conns, key);
    if (e && e->unauth > 0) {
        e->unauth--;
        g->unauth--;
    }
    pthread_mutex_unlock(&g->mu);
}

void eccp__guard_release(eccp_guard_t *g, const uint8_t addr[16], bool unauth)
{
    char key[33];
    addr_key(addr, key);
    pthread_mutex_lock(&g->mu);
    conn_ent_t *e = hmap_get(g->conns, key);
    if (e) {
        if (unauth && e->unauth > 0) {
            e->unauth--;
            g->unauth--;
        }
        if (--e->total <= 0)
            free(hmap_del(g->conns, key));
    }
    pthread_mutex_unlock(&g->mu);
}

int eccp__guard_unauth(eccp_guard_t *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->unauth;
    pthread_mutex_unlock(&g->mu);
    return n;
}

int eccp__guard_addrs(eccp_guard_t *g)
{
    pthread_mutex_lock(&g->mu);
    int n = (int)hmap_count(g->conns);
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ---------------- failed logins ---------------- */

/* Failures older than the block time are forgotten (and an ended block with them). */
static bool fail_expired(const eccp_guard_t *g, const fail_ent_t *e, int64_t now)
{
    return now >= e->blocked_until && now - e->last_ms >= g->block_ms;
}

static bool fail_blocked(const fail_ent_t *e, int64_t now)
{
    return e && now < e->blocked_until;
}

/* The live entry for key, or NULL (an expired one is dropped). */
static fail_ent_t *fail_get(eccp_guard_t *g, hmap_t *m, const char *key, int64_t now)
{
    fail_ent_t *e = hmap_get(m, key);
    if (e && fail_expired(g, e, now)) {
        free(hmap_del(m, key));
        e = NULL;
    }
    return e;
}

/* Makes room for one entry in a full table: an expired entry goes, else the one
 * not blocked whose last failure is oldest, else the block that ends first. */
static void fail_evict(eccp_guard_t *g, hmap_t *m, int64_t now)
{
    size_t it = 0;
    const char *k, *victim = NULL;
    void *v;
    const fail_ent_t *best = NULL;
    while (hmap_next(m, &it, &k, &v)) {
        const fail_ent_t *e = v;
        if (fail_expired(g, e, now)) {
            victim = k;
            break;
        }
        bool eb = fail_blocked(e, now), bb = best && fail_blocked(best, now);
        if (!best || (bb && !eb) ||
            (bb == eb && (eb ? e->blocked_until < best->blocked_until : e->last_ms < best->last_ms))) {
            best = e;
            victim = k;
        }
    }
    if (victim) {
        char key[300];
        snprintf(key, sizeof(key), "%s", victim); /* hmap_del frees its own copy of the key */
        free(hmap_del(m, key));
    }
}

/* Records one failure under key; returns the entry's failure count (0 on ENOMEM). */
static int fail_add(eccp_guard_t *g, hmap_t *m, const char *key, int64_t now, bool *blocked_now)
{
    fail_ent_t *e = fail_get(g, m, key, now);
    if (!e) {
        if (hmap_count(m) >= ECCP_GUARD_FAIL_MAX)
            fail_evict(g, m, now);
        e = calloc(1, sizeof(*e));
        if (!e || hmap_put(m, key, e, NULL) != 0) {
            free(e);
            return 0;
        }
    }
    e->fails++;
    e->last_ms = now;
    if (e->fails >= g->block_after && !fail_blocked(e, now)) {
        e->blocked_until = now + g->block_ms;
        *blocked_now = true;
    }
    return e->fails;
}

bool eccp__guard_login_blocked(eccp_guard_t *g, const uint8_t addr[16], const char *name,
                               int64_t now_ms, int *retry_s)
{
    char key[33];
    addr_key(addr, key);
    pthread_mutex_lock(&g->mu);
    fail_ent_t *a = fail_get(g, g->fail_addr, key, now_ms);
    fail_ent_t *n = fail_get(g, g->fail_name, name, now_ms);
    int64_t until = 0;
    if (fail_blocked(a, now_ms))
        until = a->blocked_until;
    if (fail_blocked(n, now_ms) && a && a->fails > 0 && n->blocked_until > until)
        until = n->blocked_until;
    pthread_mutex_unlock(&g->mu);
    if (until == 0)
        return false;
    *retry_s = (int)((until - now_ms + 999) / 1000);
    return true;
}

int64_t eccp__guard_login_failed(eccp_guard_t *g, const uint8_t addr[16], const char *name,
                                 int64_t now_ms, bool *blocked_now)
{
    char key[33];
    addr_key(addr, key);
    *blocked_now = false;
    pthread_mutex_lock(&g->mu);
    int fa = fail_add(g, g->fail_addr, key, now_ms, blocked_now);
    int fn = fail_add(g, g->fail_name, name, now_ms, blocked_now);
    pthread_mutex_unlock(&g->mu);
    int f = fa > fn ? fa : fn;
    if (f <= 0 || g->delay_ms <= 0)
        return 0;
    int64_t d = g->delay_ms;
    for (int i = 1; i < f && d < g->delay_max_ms; i++)
        d *= 2;
    return d < g->delay_max_ms ? d : g->delay_max_ms;
}

void eccp__guard_login_ok(eccp_guard_t *g, const char *name)
{
    pthread_mutex_lock(&g->mu);
    free(hmap_del(g->fail_name, name));
    pthread_mutex_unlock(&g->mu);
}

int eccp__guard_fail_entries(eccp_guard_t *g)
{
    pthread_mutex_lock(&g->mu);
    int n = (int)(hmap_count(g->fail_addr) + hmap_count(g->fail_name));
    pthread_mutex_unlock(&g->mu);
    return n;
}
