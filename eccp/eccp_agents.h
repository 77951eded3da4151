/*
 * The agent list as the registry wants it, from call_center.agent rows
 * (db_load_agents).  One conversion for every loader (the daemon at startup,
 * ECCP refreshagents), so both apply the same rules.
 */
#ifndef CCD_ECCP_AGENTS_H
#define CCD_ECCP_AGENTS_H

#include <stddef.h>

#include "db/db.h"
#include "reg/reg.h"

/*
 * rows[0..n) -> *out (malloc'ed, *nout entries), ready for reg_post_agent_sync():
 * number = "<type>/<number>", name cut to REG_NAME_LEN-1 bytes, active =
 * estatus 'A', db_id = id.  One entry per "<type>/<number>" whatever the
 * rows' order: when a number appears more than once, an active row wins over
 * an inactive one, and among rows of the same status the lowest id wins.
 * Entries keep the order of each number's first row.  Pure (no I/O, no locks).
 * 0, or CCD_ENOMEM (*out untouched).
 */
int eccp_agents_to_reg(const db_agent_t *rows, size_t n, reg_agent_info_t **out, size_t *nout);

#endif
