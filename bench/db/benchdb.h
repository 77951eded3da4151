/* Shared setup for the db benchmarks: a server (the test one, or a private one). */
#ifndef CCD_BENCH_DB_BENCHDB_H
#define CCD_BENCH_DB_BENCHDB_H

#include "db/db_int.h"

/* A db_conn_t view of a raw connection, for the typed db_* calls (block lifetime). */
#define DBT_CONN(my) (&(db_conn_t){.my = (my)})

/* Fills cfg for database dbname on CCD_TEST_DB_SOCKET (with _USER/_PASSWORD), or, when that
 * is unset, on a private server started now in a temporary directory (stopped by bdb_end). */
void bdb_begin(conf_database_t *cfg, const char *dbname);
void bdb_end(const conf_database_t *cfg);
/* Connection with the database freshly created at the current schema. Exits on error. */
MYSQL *bdb_fresh(const conf_database_t *cfg);
void bdb_exec(MYSQL *my, const char *sql);
double bdb_now(void); /* monotonic seconds */

#endif
