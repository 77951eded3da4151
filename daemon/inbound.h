/*
 * inbound: keeps the registry's table of watched incoming queues true to the
 * database (queue_call_entry rows with estatus 'A', and the campaign_entry
 * open on each now, by reg_inbound_choose).
 *
 * - At startup the table is read on the main thread (inbound_load_now), before
 *   the AMI client starts, so the first caller is already recognised.
 * - Then one thread ("inbound") submits a read job every interval (campaign
 *   windows open and close with the clock, rows change under the admin's
 *   hands); the job runs on a database reader and posts the new table to the
 *   registry itself.  The thread owns its reply queue and the one job in
 *   flight; a failed read keeps the previous table (logged).
 * - Lifecycle as every module: new / start / stop / free from the main thread.
 */
#ifndef CCD_DAEMON_INBOUND_H
#define CCD_DAEMON_INBOUND_H

#include <stddef.h>

#include "conf/conf.h"
#include "db/db.h"
#include "reg/reg.h"

#define INBOUND_RELOAD_MS 30000

typedef struct inbound inbound_t;

/* Reads the table on a connection of its own and posts it.  0 or a code + err. */
int inbound_load_now(const conf_database_t *cfg, reg_t *reg, char *err, size_t errlen);

/* Reads the table on c (a reader's, or the caller's) and posts it to reg: 0 or a code. */
int inbound_load(db_conn_t *c, reg_t *reg);

inbound_t *inbound_new(reg_t *reg, db_t *db, int interval_ms, char *err, size_t errlen);
int inbound_start(inbound_t *in);
/* Waits for a read job still in flight (it always comes back), then joins. */
void inbound_stop(inbound_t *in);
void inbound_free(inbound_t *in);

#endif
