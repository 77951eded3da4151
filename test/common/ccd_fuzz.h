/*
 * Shared pieces of the parser fuzz targets (test/<module>/fuzz_*.c).
 *
 * A target compares a whole parse with a chunked one; both need the same
 * digest and the same reproducible PRNG, so they live here.  Without libFuzzer
 * the target becomes a ctest through ccd_fuzz_replay_main(): every corpus file,
 * then fixed-seed mutations of it, so a ctest run is reproducible.
 */
#ifndef CCD_TEST_COMMON_CCD_FUZZ_H
#define CCD_TEST_COMMON_CCD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over n bytes, folding the length in so that empty fields still count. */
static inline uint64_t ccd_fuzz_mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (h ^ n) * 1099511628211ull;
}

/* splitmix64: the chunk sizes and mutations must repeat from a seed. */
static inline uint64_t ccd_fuzz_rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* One parser call of a feed: parse the have bytes at win; on CCD_OK set *used to the bytes the
 * item took. Returns the parser's code. */
typedef int (*ccd_fuzz_step_fn)(void *ctx, const char *win, size_t have, size_t *used);

/* Feeds data to step the way a socket would: all at once (seed 0) or in chunks of 1..max_chunk
 * bytes drawn from seed.  Every call gets a fresh heap copy of the unconsumed bytes, so a
 * pointer the parser kept across calls is caught by ASan.  Stops at CCD_EPROTO, or when every
 * byte was given and the parser wants more; abort()s on a used of 0 or beyond have.  Returns
 * the last code. */
int ccd_fuzz_feed(const uint8_t *data, size_t size, uint64_t seed, size_t max_chunk,
                  ccd_fuzz_step_fn step, void *ctx);

/* What one fuzz target's replay ctest needs. */
typedef struct ccd_fuzz_replay {
    const char *name;                              /* printed in the summary line */
    int (*target)(const uint8_t *data, size_t size); /* abort()s on a finding */
    int mutations;                                 /* mutated runs per corpus file */
    const uint8_t *pick;                           /* bytes the parser treats specially */
    size_t npick;
} ccd_fuzz_replay_t;

/* Replays every file named in argv (a directory: each of its files not starting
 * with '.'), each followed by r->mutations truncations, random bytes and picks.
 * Returns the process exit code: 0 when at least one file was replayed, 1 when
 * none was or a named file cannot be read. */
int ccd_fuzz_replay_main(int argc, char **argv, const ccd_fuzz_replay_t *r);

#endif
