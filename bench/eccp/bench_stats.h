/*
 * Client and measuring helpers shared by the ECCP benchmarks (eccp_load, eccp_fair).
 */
#ifndef CCD_BENCH_ECCP_BENCH_STATS_H
#define CCD_BENCH_ECCP_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* This process's resident set in kB (VmRSS), 0 when it cannot be read. */
long bench_rss_kb(void);

/* The p-quantile (0..1, nearest rank below) of v[0..n); sorts v in place; 0 when n is 0. */
int64_t bench_pct(int64_t *v, size_t n, double p);

/* A TCP connection to 127.0.0.1:port with Nagle off (every request goes out at once);
 * -1 on failure. */
int bench_connect(uint16_t port);

#endif
