/*
 * Fuzz target for the AMI framing parser.
 *
 * Each input is parsed (1) whole and (2) in chunk sizes drawn from a PRNG
 * seeded by the input, with the buffer moved between calls; the two
 * message streams (count, every key and value, final outcome, bytes
 * consumed) must be identical, and every slice must lie inside the bytes
 * given.  Any difference abort()s.  Both default and tiny bounds are used so
 * the line/header/message limits are reached often.
 *
 * Built with clang and -DCCD_FUZZ=ON it is a libFuzzer target; otherwise
 * main() below replays a corpus directory and a fixed-seed set of mutations
 * of it, as a ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami/ami.h"
#include "core/err.h"
#include "test/common/ccd_fuzz.h"

typedef struct outcome {
    size_t nmsg, consumed;
    uint64_t digest;
    int rc;
} outcome_t;

static ami_parser_t parser; /* big; one per process is enough */

static int step(void *ctx, const char *win, size_t have, size_t *used)
{
    outcome_t *o = ctx;
    ami_msg_t m;
    int rc = ami_parse(&parser, win, have, &m);
    if (rc != CCD_OK)
        return rc;
    if (m.len == 0 || m.len > have || m.nhdr <= 0 || m.nhdr > AMI_HDR_MAX)
        abort();
    for (int i = 0; i < m.nhdr; i++) {
        const ami_hdr_t *h = &m.hdr[i];
        if (h->key.p < win || h->key.p + h->key.len > win + m.len || h->val.p < win ||
            h->val.p + h->val.len > win + m.len || h->key.len == 0)
            abort();
        o->digest = ccd_fuzz_mix(o->digest, h->key.p, h->key.len);
        o->digest = ccd_fuzz_mix(o->digest, h->val.p, h->val.len);
    }
    if (m.output.len && (m.output.p < win || m.output.p + m.output.len > win + m.len))
        abort();
    o->digest = ccd_fuzz_mix(o->digest, m.output.p, m.output.len);
    o->nmsg++;
    o->consumed += m.len;
    *used = m.len;
    return CCD_OK;
}

static outcome_t run(const uint8_t *data, size_t size, uint64_t seed, int bounds)
{
    size_t max_line = bounds ? 40 : 0, max_msg = bounds ? 600 : 0;
    int max_hdr = bounds ? 5 : 0;
    ami_parser_init(&parser, max_line, max_hdr, max_msg);
    outcome_t o = {0, 0, 14695981039346656037ull, CCD_EAGAIN};
    o.rc = ccd_fuzz_feed(data, size, seed, 97, step, &o);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The banner comes first on a connection; framing starts after it. */
    ccd_str_t v;
    size_t used = 0;
    int rc = ami_parse_banner((const char *)data, size, &v, &used);
    if (rc == CCD_OK) {
        if (used > size || v.p < (const char *)data || v.p + v.len > (const char *)data + size)
            abort();
        data += used;
        size -= used;
    }
    uint64_t seed = ccd_fuzz_mix(14695981039346656037ull, data, size) | 1;
    for (int bounds = 0; bounds < 2; bounds++) {
        outcome_t whole = run(data, size, 0, bounds);
        outcome_t chunked = run(data, size, seed, bounds);
        if (whole.nmsg != chunked.nmsg || whole.digest != chunked.digest ||
            whole.rc != chunked.rc || whole.consumed != chunked.consumed) {
            fprintf(stderr, "fuzz_ami_parse: whole/chunked differ (bounds=%d): %zu/%zu msgs, rc %d/%d\n",
                    bounds, whole.nmsg, chunked.nmsg, whole.rc, chunked.rc);
            abort();
        }
    }
    return 0;
}

#ifndef CCD_LIBFUZZER
int main(int argc, char **argv)
{
    /* the bytes this parser gives a meaning to, so mutations reach its branches */
    static const uint8_t pick[] = {'\r', '\n', ':', ' ', 0, 'x', '-'};
    static const ccd_fuzz_replay_t replay = {"fuzz_ami_parse", LLVMFuzzerTestOneInput, 200, pick,
                                             sizeof(pick)};
    return ccd_fuzz_replay_main(argc, argv, &replay);
}
#endif
