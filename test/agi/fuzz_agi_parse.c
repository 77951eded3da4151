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

typedef struct feed {
    agi_parser_t p;
    outcome_t o;
} feed_t;

static int step(void *ctx, const char *win, size_t have, size_t *used)
{
    feed_t *f = ctx;
    agi_item_t it;
    int rc = agi_parse(&f->p, win, have, &it);
    if (rc != CCD_OK)
        return rc;
    if (it.len == 0 || it.len > have)
        abort();
    inside(it.key, win, it.len);
    inside(it.val, win, it.len);
    inside(it.data, win, it.len);
    inside(it.text, win, it.len);
    inside(it.result_text, win, it.len);
    uint64_t fl[6] = {(uint64_t)it.type, (uint64_t)it.code, (uint64_t)it.result,
                      (uint64_t)it.endpos,
                      (uint64_t)(it.has_result | it.has_data << 1 | it.has_endpos << 2), it.len};
    outcome_t *o = &f->o;
    o->digest = ccd_fuzz_mix(o->digest, fl, sizeof(fl));
    o->digest = ccd_fuzz_mix(o->digest, it.key.p, it.key.len);
    o->digest = ccd_fuzz_mix(o->digest, it.val.p, it.val.len);
    o->digest = ccd_fuzz_mix(o->digest, it.data.p, it.data.len);
    o->digest = ccd_fuzz_mix(o->digest, it.result_text.p, it.result_text.len);
    o->nitems++;
    o->consumed += it.len;
    *used = it.len;
    return CCD_OK;
}

static outcome_t run(const uint8_t *data, size_t size, uint64_t seed, int bounds)
{
    feed_t f = {.o = {0, 0, 14695981039346656037ull, CCD_EAGAIN}};
    agi_parser_init(&f.p, bounds ? 24 : 0, bounds ? 3 : 0);
    f.o.rc = ccd_fuzz_feed(data, size, seed, 61, step, &f);
    return f.o;
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
