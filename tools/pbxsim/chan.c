/* Channels, Local pairs, bridges and the PRNG of the simulator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tools/pbxsim/pbxsim_int.h"

uint64_t pbx_rand(pbx_t *s)
{
    /* splitmix64: tiny, seedable, good enough for call mixes */
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

bool pbx_vary(pbx_t *s, unsigned num, unsigned den)
{
    uint64_t z = (s->vary_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return den && z % den < num;
}

void pbx_uuid(pbx_t *s, char *out, size_t n)
{
    uint64_t a = pbx_rand(s), b = pbx_rand(s);
    snprintf(out, n, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xfff, (unsigned)((b >> 48) & 0x3fff) | 0x8000,
             (unsigned long long)(b & 0xffffffffffffull));
}

static void gen_uid(pbx_t *s, char *out, size_t n)
{
    char sys[24];
    snprintf(sys, sizeof sys, "%.23s", s->sysname);
    if (snprintf(out, n, "%s-%lld.%llu", sys, (long long)s->startup_wall + pbx_vnow(s) / 1000,
                 (unsigned long long)s->uid_seq++) >= (int)n)
        out[n - 1] = '\0';
}

static pchan_t *chan_new(pbx_t *s, const char *base, uint32_t seq, int leg, const char *ctx,
                         const char *exten, const char *uid, pcall_t *call)
{
    pchan_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->base, sizeof c->base, "%s", base);
    snprintf(c->name, sizeof c->name, "%s-%08x;%d", base, seq, leg);
    if (uid && uid[0])
        snprintf(c->uniqueid, sizeof c->uniqueid, "%s", uid);
    else
        gen_uid(s, c->uniqueid, sizeof c->uniqueid);
    c->leg = leg;
    c->state = leg == 1 ? 0 : 4;
    strcpy(c->cid_num, "<unknown>");
    strcpy(c->cid_name, "<unknown>");
    strcpy(c->con_num, "<unknown>");
    strcpy(c->con_name, "<unknown>");
    snprintf(c->context, sizeof c->context, "%s", ctx);
    snprintf(c->exten, sizeof c->exten, "%s", exten);
    c->prio = 1;
    c->created_vms = pbx_vnow(s);
    c->call = call;
    if (hmap_put(s->by_name, c->name, c, NULL) != 0 || hmap_put(s->by_uid, c->uniqueid, c, NULL) != 0) {
        hmap_del(s->by_name, c->name);
        free(c);
        return NULL;
    }
    c->next = s->chans;
    if (s->chans)
        s->chans->prev = c;
    s->chans = c;
    s->nchans++;
    return c;
}

int pbx_local_pair(pbx_t *s, const char *exten, const char *ctx, const char *id1, const char *id2,
                   const char *linkedid, pcall_t *call, pchan_t **one, pchan_t **two)
{
    char base[64];
    snprintf(base, sizeof base, "Local/%s@%s", exten, ctx);
    uint32_t seq = s->local_seq++;
    pchan_t *a = chan_new(s, base, seq, 1, ctx, exten, id1, call);
    if (!a)
        return -1;
    pchan_t *b = chan_new(s, base, seq, 2, ctx, exten, id2, call);
    if (!b) {
        pbx_chan_free(s, a);
        return -1;
    }
    snprintf(a->linkedid, sizeof a->linkedid, "%s", linkedid && linkedid[0] ? linkedid : a->uniqueid);
    snprintf(b->linkedid, sizeof b->linkedid, "%s", a->linkedid);
    a->peer = b;
    b->peer = a;
    *one = a;
    *two = b;
    return 0;
}

void pbx_chan_free(pbx_t *s, pchan_t *c)
{
    if (!c)
        return;
    if (c->bridge) {
        pbridge_t *b = c->bridge;
        c->bridge = NULL;
        b->nchan--;
        pbx_bridge_unref(s, b);
    }
    if (c->peer)
        c->peer->peer = NULL;
    if (hmap_get(s->by_name, c->name) == c)
        hmap_del(s->by_name, c->name);
    if (hmap_get(s->by_uid, c->uniqueid) == c)
        hmap_del(s->by_uid, c->uniqueid);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->chans = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nchans--;
    free(c);
}

pchan_t *pbx_chan_find(pbx_t *s, const char *key)
{
    pchan_t *c = hmap_get(s->by_name, key);
    return c ? c : hmap_get(s->by_uid, key);
}

void pbx_chan_setvar(pchan_t *c, const char *name, const char *value)
{
    for (int i = 0; i < c->nvars; i++)
        if (strcmp(c->vars[i].name, name) == 0) {
            snprintf(c->vars[i].value, sizeof c->vars[i].value, "%s", value);
            return;
        }
    if (c->nvars < PCHAN_VARS) {
        snprintf(c->vars[c->nvars].name, sizeof c->vars[0].name, "%s", name);
        snprintf(c->vars[c->nvars].value, sizeof c->vars[0].value, "%s", value);
        c->nvars++;
    }
}

const char *pbx_chan_getvar(const pchan_t *c, const char *name)
{
    for (int i = 0; i < c->nvars; i++)
        if (strcmp(c->vars[i].name, name) == 0)
            return c->vars[i].value;
    return NULL;
}

pbridge_t *pbx_bridge_new(pbx_t *s, const char *type, const char *tech, const char *creator)
{
    pbridge_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pbx_uuid(s, b->id, sizeof b->id);
    b->type = type;
    b->tech = tech;
    b->creator = creator;
    b->bname = strcmp(type, "parking") == 0 ? "default" : "<unknown>";
    b->refs = 1;
    b->next = s->bridges;
    if (s->bridges)
        s->bridges->prev = b;
    s->bridges = b;
    pbx_e_bridge_simple(s, "BridgeCreate", b);
    return b;
}

void pbx_bridge_put(pbx_t *s, pbridge_t *b, pchan_t *c)
{
    if (!b || !c)
        return;
    if (c->bridge)
        pbx_bridge_take(s, c);
    c->bridge = b;
    b->nchan++;
    b->refs++;
    pbx_e_bridge_enter(s, b, c);
}

void pbx_bridge_take(pbx_t *s, pchan_t *c)
{
    pbridge_t *b = c ? c->bridge : NULL;
    if (!b)
        return;
    b->nchan--;
    c->bridge = NULL;
    pbx_e_bridge_leave(s, b, c);
    pbx_bridge_unref(s, b);
}

void pbx_bridge_unref(pbx_t *s, pbridge_t *b)
{
    if (!b)
        return;
    if (--b->refs > 0)
        return;
    pbx_e_bridge_simple(s, "BridgeDestroy", b);
    if (b->prev)
        b->prev->next = b->next;
    else
        s->bridges = b->next;
    if (b->next)
        b->next->prev = b->prev;
    free(b);
}
