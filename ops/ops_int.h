/*
 * ops' private cross-file helpers (ops_health.c defines them).
 */
#ifndef CCD_OPS_OPS_INT_H
#define CCD_OPS_OPS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/ops.h"

/* AMI server i's name from the configuration ("?" past its end), for labels and messages. */
const char *ops__ami_name(const ops_sources_t *src, int i);

/* One thread group's last heartbeat (clk_mono_ms; 0 = it has not run yet).  Returns
 * false to stop the visit. */
typedef bool (*ops__beat_fn)(const char *who, int64_t beat_ms, void *ctx);

/* The one list of the threads that matter (the groups src has), for /healthz, the
 * watchdog and /metrics alike: calls fn for each, in a fixed order, until it returns
 * false. */
void ops__visit_heartbeats(const ops_sources_t *src, ops__beat_fn fn, void *ctx);

#endif
