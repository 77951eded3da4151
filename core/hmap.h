/*
 * hmap: an open-addressing hash map from NUL-terminated string keys to
 * pointers, for lookups by uniqueid, ActionID, agent number and the like.
 *
 * Not thread-safe: a map belongs to one thread or is guarded by its owner's
 * lock.  The map copies keys (it owns the copies) but never owns values.
 */
#ifndef CCD_CORE_HMAP_H
#define CCD_CORE_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmap hmap_t;

hmap_t *hmap_new(size_t initial_capacity);
void hmap_free(hmap_t *m); /* NULL is a no-op; values are not touched */

/* Inserts or replaces. Returns 0 or CCD_ENOMEM. *old (if not NULL) gets the replaced value or NULL. */
int hmap_put(hmap_t *m, const char *key, void *value, void **old);

/* The value for key, or NULL. */
void *hmap_get(const hmap_t *m, const char *key);

/* Same, for a key given as bytes + length (no NUL needed). */
void *hmap_getn(const hmap_t *m, const char *key, size_t len);

/* Removes key; returns its value or NULL when absent. */
void *hmap_del(hmap_t *m, const char *key);

size_t hmap_count(const hmap_t *m);

/*
 * Iteration: start with *iter = 0; each call returns 1 and fills key/value,
 * or 0 at the end.  The map must not change during the walk.
 */
int hmap_next(const hmap_t *m, size_t *iter, const char **key, void **value);

/* FNV-1a, exposed for callers that shard by key. */
uint64_t hmap_hash(const char *key, size_t len);

#endif
