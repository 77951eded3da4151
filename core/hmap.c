/*
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), load factor at most 1/2: lookups stay short even after
 * millions of insert/delete cycles, which is the life of a call map.
 */
#include "core/hmap.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key; /* NULL = empty */
    size_t klen;
    uint64_t hash;
    void *value;
} slot_t;

struct hmap {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t count;
};

uint64_t hmap_hash(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

hmap_t *hmap_new(size_t initial_capacity)
{
    hmap_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    size_t cap = 16;
    while (cap < initial_capacity * 2)
        cap *= 2;
    m->slots = calloc(cap, sizeof(slot_t));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->cap = cap;
    return m;
}

void hmap_free(hmap_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static size_t find(const hmap_t *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const slot_t *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->klen == len && memcmp(s->key, key, len) == 0))
            return i;
    }
}

static int grow(hmap_t *m)
{
    size_t ncap = m->cap * 2;
    slot_t *ns = calloc(ncap, sizeof(slot_t));
    if (!ns)
        return CCD_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        slot_t *s = &m->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int hmap_put(hmap_t *m, const char *key, void *value, void **old)
{
    size_t len = strlen(key);
    uint64_t h = hmap_hash(key, len);
    size_t i = find(m, key, len, h);
    if (m->slots[i].key) {
        if (old)
            *old = m->slots[i].value;
        m->slots[i].value = value;
        return 0;
    }
    if (old)
        *old = NULL;
    if ((m->count + 1) * 2 > m->cap) {
        if (grow(m) != 0)
            return CCD_ENOMEM;
        i = find(m, key, len, h);
    }
    char *k = malloc(len + 1);
    if (!k)
        return CCD_ENOMEM;
    memcpy(k, key, len + 1);
    m->slots[i] = (slot_t){k, len, h, value};
    m->count++;
    return 0;
}

void *hmap_getn(const hmap_t *m, const char *key, size_t len)
{
    size_t i = find(m, key, len, hmap_hash(key, len));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

void *hmap_get(const hmap_t *m, const char *key)
{
    return hmap_getn(m, key, strlen(key));
}

void *hmap_del(hmap_t *m, const char *key)
{
    size_t len = strlen(key);
    size_t mask = m->cap - 1;
    size_t i = find(m, key, len, hmap_hash(key, len));
    if (!m->slots[i].key)
        return NULL;
    void *v = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        /* Move j into i when i lies cyclically within [home, j). */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return v;
}

size_t hmap_count(const hmap_t *m)
{
    return m->count;
}

int hmap_next(const hmap_t *m, size_t *iter, const char **key, void **value)
{
    for (size_t i = *iter; i < m->cap; i++) {
        if (m->slots[i].key) {
            *key = m->slots[i].key;
            *value = m->slots[i].value;
            *iter = i + 1;
            return 1;
        }
    }
    *iter = m->cap;
    return 0;
}
