/*
 * Client, server-side and measuring helpers shared by the ECCP benchmarks (eccp_load,
 * eccp_fair, eccp_events).
 */
#ifndef CCD_BENCH_ECCP_BENCH_STATS_H
#define CCD_BENCH_ECCP_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* This process's resident set in kB (VmRSS), 0 when it cannot be read. */
long bench_rss_kb(void);

/* The p-quantile (0..1, nearest rank below) of v[0..n); sorts v in place; 0 when n is 0. */
int64_t bench_pct(int64_t *v, size_t n, double p);

/* A TCP connection to 127.0.0.1:port with Nagle off (every request goes out at once);
 * -1 on failure. */
int bench_connect(uint16_t port);

/* Sends all n bytes (waiting out EINTR and a full socket buffer); -1 when the peer is gone. */
int bench_send_all(int fd, const char *p, size_t n);

/* eccp_deps_t.login_check that lets every console in: the benchmark measures the
 * server, not the database's login. */
bool bench_ok_login(void *ctx, const char *user, const char *password);

/* eccp_deps_t.db_submit onto the db_t in ctx. */
int bench_db_submit(void *ctx, db_read_job_t *job);

/* db_new + db_start on cfg; NULL, after saying why on stderr as "<who>: db_start: ...". */
db_t *bench_db_start(const conf_database_t *cfg, const char *who);

#endif
