/*
 * Helpers shared by the db integration tests: the server the test script
 * started (CCD_TEST_DB_SOCKET/USER/PASSWORD; missing -> the test FAILS with a
 * message, it never skips), throwaway databases, a private server of our own
 * for tests that stop and restart mariadbd, and small query helpers.
 */
#ifndef CCD_TEST_DB_DBTEST_H
#define CCD_TEST_DB_DBTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db_int.h"

/* A db_conn_t view of a raw test connection, for the typed db_* calls (block lifetime). */
#define DBT_CONN(my) (&(db_conn_t){.my = (my)})

/* Fills cfg from the environment with database name dbname; fails the test if unset. */
void dbt_cfg(conf_database_t *cfg, const char *dbname);
/* A unique database name "ccdt_<tag>_<pid>". */
void dbt_name(char *out, size_t len, const char *tag);
/* Connects (no database selected) as the test user; fails the test on error. */
MYSQL *dbt_connect(const conf_database_t *cfg, bool use_db);
/* DROP + CREATE + db_migrate; returns a connection with the database selected. */
MYSQL *dbt_fresh(conf_database_t *cfg, const char *tag, bool seed);
void dbt_drop(const conf_database_t *cfg);
/* db_new + db_start on cfg (no event callback); fails the test when either fails. */
db_t *dbt_db_start(const conf_database_t *cfg);
/* Runs a statement, failing the test on error. */
void dbt_exec(MYSQL *my, const char *sql);
/* First column of the first row as an integer (-1 for NULL); fails on error. */
long long dbt_int(MYSQL *my, const char *sql);
/* Every row of a query, columns joined by '|' and rows by '\n' (malloc'd). */
char *dbt_dump(MYSQL *my, const char *sql);
/* Fails the test, naming sql and both texts, unless dbt_dump(my, sql) is want. */
void dbt_expect(MYSQL *my, const char *sql, const char *want);

/* A private mariadbd in a fresh temporary directory (scripts/mariadb-private.sh). */
typedef struct dbt_server {
    char dir[128];
    char socket[160];
} dbt_server_t;
void dbt_server_start(dbt_server_t *s);   /* initialise + start; fails the test on error */
void dbt_server_up(dbt_server_t *s);      /* start again after a stop/kill */
void dbt_server_stop(dbt_server_t *s);    /* clean shutdown */
void dbt_server_kill(dbt_server_t *s);    /* SIGKILL, like a crash */
void dbt_server_destroy(dbt_server_t *s); /* stop and remove the directory */
void dbt_server_cfg(const dbt_server_t *s, conf_database_t *cfg, const char *dbname);

#endif
