#include "core/lhist.h"

static int bucket(uint64_t us)
{
    if (us < 8)
        return (int)us;
    int e = 63 - __builtin_clzll(us); /* >= 3 */
    int b = 8 + (e - 3) * 8 + (int)((us >> (e - 3)) & 7);
    return b < CCD_LHIST_BUCKETS ? b : CCD_LHIST_BUCKETS - 1;
}

static uint64_t bucket_high(int b)
{
    if (b < 8)
        return (uint64_t)b;
    int e = (b - 8) / 8 + 3, sub = (b - 8) % 8;
    return ((uint64_t)(9 + sub) << (e - 3)) - 1;
}

void ccd_lhist_add(ccd_lhist_t *h, int64_t us)
{
    atomic_fetch_add_explicit(&h->b[bucket(us > 0 ? (uint64_t)us : 0)], 1, memory_order_relaxed);
}

uint64_t ccd_lhist_count(const ccd_lhist_t *h)
{
    uint64_t n = 0;
    for (int i = 0; i < CCD_LHIST_BUCKETS; i++)
        n += atomic_load_explicit(&h->b[i], memory_order_relaxed);
    return n;
}

uint64_t ccd_lhist_quantile(const ccd_lhist_t *h, double q)
{
    uint64_t total = ccd_lhist_count(h);
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t seen = 0;
    for (int i = 0; i < CCD_LHIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
        if (seen > want)
            return bucket_high(i);
    }
    return bucket_high(CCD_LHIST_BUCKETS - 1);
}
