/* Feeds a byte stream to the framer in chunks, like a session does; shared by tests and the fuzzer. */
#ifndef CCD_TEST_ECCP_FRAME_FEED_H
#define CCD_TEST_ECCP_FRAME_FEED_H

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eccp/eccp_int.h"

typedef struct feed_out {
    char *pkts;     /* packets joined with '\x1e' */
    size_t len;
    int npkts;
    int err;        /* 0 or the first error code */
} feed_out_t;

/* chunk(i) gives the size of the i-th read (>= 1). */
static inline feed_out_t feed(const char *data, size_t len, size_t (*chunk)(size_t i, void *ctx),
                              void *ctx, size_t max_bytes, int max_depth)
{
    feed_out_t o = {malloc(len * 2 + 16), 0, 0, 0};
    char *buf = malloc(len + 1);
    size_t blen = 0, pos = 0, i = 0;
    eccp_frame_t f;
    eccp__frame_init(&f, max_bytes, max_depth);
    while (pos < len && !o.err) {
        size_t n = chunk(i++, ctx);
        if (n > len - pos)
            n = len - pos;
        memcpy(buf + blen, data + pos, n);
        blen += n;
        pos += n;
        for (;;) {
            ccd_str_t p;
            size_t used = 0;
            int rc = eccp__frame_scan(&f, buf, blen, &p, &used);
            if (used > blen)
                abort(); /* invariant: never consumes more than available */
            if (rc == 1) {
                if (p.p < buf || p.p + p.len > buf + blen)
                    abort();
                memcpy(o.pkts + o.len, p.p, p.len);
                o.len += p.len;
                o.pkts[o.len++] = '\x1e';
                o.npkts++;
            } else if (rc != CCD_EAGAIN) {
                o.err = rc;
            }
            memmove(buf, buf + used, blen - used);
            blen -= used;
            if (rc != 1)
                break;
        }
    }
    free(buf);
    return o;
}

static inline size_t chunk_all(size_t i, void *ctx)
{
    (void)i;
    return *(size_t *)ctx;
}

#endif
