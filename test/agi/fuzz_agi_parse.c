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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/agi.h"
#include "core/err.h"
#include "test/common/ccd_fuzz.h"

typedef struct outcome {
    size_t nitems, consumed;
    uint64_t digest;
    int rc;
} outcome_t;

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
            size_t n = seed ? 1 + ccd_fuzz_rng_next(&seed) % 61 : size - given;
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
        o.digest = ccd_fuzz_mix(o.digest, f, sizeof(f));
        o.digest = ccd_fuzz_mix(o.digest, it.key.p, it.key.len);
        o.digest = ccd_fuzz_mix(o.digest, it.val.p, it.val.len);
        o.digest = ccd_fuzz_mix(o.digest, it.data.p, it.data.len);
        o.digest = ccd_fuzz_mix(o.digest, it.result_text.p, it.result_text.len);
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
    uint64_t seed = ccd_fuzz_mix(14695981039346656037ull, data, size) | 1;
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
int main(int argc, char **argv)
{
    /* the bytes this parser gives a meaning to, so mutations reach its branches */
    static const uint8_t pick[] = {'\r', '\n', ':', ' ', 0, '(', ')', '-', '5', '='};
    static const ccd_fuzz_replay_t replay = {"fuzz_agi_parse", LLVMFuzzerTestOneInput, 300, pick,
                                             sizeof(pick)};
    return ccd_fuzz_replay_main(argc, argv, &replay);
}
#endif
