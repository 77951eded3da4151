/*
 * Fuzz target for the FastAGI parser.
 *
 * Each input is parsed (1) whole and (2) in chunk sizes drawn from a PRNG seeded by the
 * input, from a fresh heap copy of the unconsumed bytes on every call; the two item streams
 * (count, every field, final outcome, bytes consumed) must be identical, and every slice must
 * lie inside the line it came from.  Default and tiny bounds both run, so the line and
 * environment limits are reached often.  Any difference abort()s.
 *
 * Built with clang and -DCCD_FUZZ=ON it is a libFuzzer target; otherwise main() replays a
 * corpus directory and fixed-seed mutations of it, as a ctest.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/agi.h"
#include "core/err.h"

typedef struct outcome {
    size_t nitems, consumed;
    uint64_t digest;
    int rc;
} outcome_t;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (h ^ n) * 1099511628211ull;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void inside(ccd_str_t s, const char *lo, size_t len)
{
    if (s.len && (s.p < lo || s.p + s.len > lo + len))
        abort();
}

static outcome_t run(const uint8_t *data, size_t size, uint64_t seed, int bounds)
{
    agi_parser_t p;
    agi_parser_init(&p, bounds ? 24 : 0, bounds ? 3 : 0);
    outcome_t o = {0, 0, 14695981039346656037ull, CCD_EAGAIN};
    size_t given = 0, start = 0;
    char *win = NULL;
    for (;;) {
        size_t have = given - start;
        if (o.rc != CCD_OK) {
            if (given == size)
                break;
            size_t n = seed ? 1 + rng_next(&seed) % 61 : size - given;
            if (n > size - given)
                n = size - given;
            given += n;
            have = given - start;
        }
        free(win);
        win = malloc(have ? have : 1);
        if (!win)
            abort();
        memcpy(win, data + start, have);
        agi_item_t it;
        o.rc = agi_parse(&p, win, have, &it);
        if (o.rc == CCD_EPROTO)
            break;
        if (o.rc != CCD_OK)
            continue;
        if (it.len == 0 || it.len > have)
            abort();
        inside(it.key, win, it.len);
        inside(it.val, win, it.len);
        inside(it.data, win, it.len);
        inside(it.text, win, it.len);
        inside(it.result_text, win, it.len);
        uint64_t f[6] = {(uint64_t)it.type, (uint64_t)it.code, (uint64_t)it.result,
                         (uint64_t)it.endpos,
                         (uint64_t)(it.has_result | it.has_data << 1 | it.has_endpos << 2), it.len};
        o.digest = mix(o.digest, f, sizeof(f));
        o.digest = mix(o.digest, it.key.p, it.key.len);
        o.digest = mix(o.digest, it.val.p, it.val.len);
        o.digest = mix(o.digest, it.data.p, it.data.len);
        o.digest = mix(o.digest, it.result_text.p, it.result_text.len);
        o.nitems++;
        o.consumed += it.len;
        start += it.len;
    }
    free(win);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed = mix(14695981039346656037ull, data, size) | 1;
    for (int bounds = 0; bounds < 2; bounds++) {
        outcome_t whole = run(data, size, 0, bounds);
        outcome_t chunked = run(data, size, seed, bounds);
        if (whole.nitems != chunked.nitems || whole.digest != chunked.digest ||
            whole.rc != chunked.rc || whole.consumed != chunked.consumed) {
            fprintf(stderr, "fuzz_agi_parse: whole/chunked differ (bounds=%d): %zu/%zu items, rc %d/%d\n",
                    bounds, whole.nitems, chunked.nitems, whole.rc, chunked.rc);
            abort();
        }
    }
    return 0;
}

#ifndef CCD_LIBFUZZER
static int replay_file(const char *path, uint64_t *rng, size_t *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *d = malloc(1 << 20);
    size_t n = fread(d, 1, 1 << 20, f);
    fclose(f);
    LLVMFuzzerTestOneInput(d, n);
    (*runs)++;
    /* fixed-seed mutations: truncations, byte flips, line ends, parentheses, digits */
    uint8_t *m = malloc(n + 64);
    for (int i = 0; i < 300 && n; i++) {
        size_t mn = n;
        memcpy(m, d, n);
        int k = 1 + (int)(rng_next(rng) % 4);
        for (int j = 0; j < k; j++) {
            size_t at = rng_next(rng) % mn;
            static const uint8_t pick[] = {'\r', '\n', ':', ' ', 0, '(', ')', '-', '5', '='};
            switch (rng_next(rng) % 3) {
            case 0: mn = at + 1; break;
            case 1: m[at] = (uint8_t)rng_next(rng); break;
            default: m[at] = pick[rng_next(rng) % sizeof(pick)]; break;
            }
        }
        LLVMFuzzerTestOneInput(m, mn);
        (*runs)++;
    }
    free(m);
    free(d);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t rng = 42;
    size_t files = 0, runs = 0;
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            if (replay_file(argv[a], &rng, &runs) != 0) {
                fprintf(stderr, "cannot read %s\n", argv[a]);
                return 1;
            }
            files++;
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[a], de->d_name);
            if (replay_file(path, &rng, &runs) == 0)
                files++;
        }
        closedir(dir);
    }
    printf("fuzz_agi_parse: %zu files, %zu runs, no difference\n", files, runs);
    return files ? 0 : 1;
}
#endif
