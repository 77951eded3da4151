/*
 * lhist: a log-scale histogram of microsecond durations, for latency quantiles in
 * monitoring (dialer cycle time, registry lag).  8 buckets per power of two, so a
 * quantile is within 1/8 of the true value; 4 KB, no allocation.  Any thread may add
 * and read at once (relaxed atomics: a reader may see an add half-counted, which a
 * quantile over thousands of samples does not notice).
 */
#ifndef CCD_CORE_LHIST_H
#define CCD_CORE_LHIST_H

#include <stdatomic.h>
#include <stdint.h>

#define CCD_LHIST_BUCKETS 496 /* covers up to 2^63 µs */

typedef struct ccd_lhist {
    _Atomic uint64_t b[CCD_LHIST_BUCKETS];
} ccd_lhist_t;

/* Zero-initialised (static or calloc'ed) storage is an empty histogram. */
void ccd_lhist_add(ccd_lhist_t *h, int64_t us); /* negative counts as 0 */
/* The value under which a fraction q (0..1) of the samples fell (the bucket's upper
 * bound); 0 when there are none. */
uint64_t ccd_lhist_quantile(const ccd_lhist_t *h, double q);
uint64_t ccd_lhist_count(const ccd_lhist_t *h);

#endif
