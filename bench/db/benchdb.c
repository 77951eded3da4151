/* See benchdb.h. */
#include "bench/db/benchdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

static char g_dir[128];

double bdb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bdb_begin(conf_database_t *cfg, const char *dbname)
{
    memset(cfg, 0, sizeof(*cfg));
    const char *sock = getenv("CCD_TEST_DB_SOCKET");
    if (sock && *sock) {
        snprintf(cfg->socket, sizeof(cfg->socket), "%s", sock);
        snprintf(cfg->user, sizeof(cfg->user), "%s",
                 getenv("CCD_TEST_DB_USER") ? getenv("CCD_TEST_DB_USER") : "ccdtest");
        snprintf(cfg->password, sizeof(cfg->password), "%s",
                 getenv("CCD_TEST_DB_PASSWORD") ? getenv("CCD_TEST_DB_PASSWORD") : "");
    } else {
        snprintf(g_dir, sizeof(g_dir), "/tmp/ccdbb.XXXXXX");
        if (!mkdtemp(g_dir)) {
            perror("mkdtemp");
            exit(1);
        }
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "bash %s/scripts/mariadb-private.sh start %s >&2",
                 CCD_SOURCE_DIR, g_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench: could not start a private MariaDB\n");
            exit(1);
        }
        snprintf(cfg->socket, sizeof(cfg->socket), "%s/mysql.sock", g_dir);
        snprintf(cfg->user, sizeof(cfg->user), "ccdtest");
        snprintf(cfg->password, sizeof(cfg->password), "ccdtest-pw");
    }
    snprintf(cfg->name, sizeof(cfg->name), "%s_%d", dbname, (int)getpid());
    cfg->writer_threads = 1;
    cfg->write_queue_max = 100000;
    cfg->write_batch_max = 500;
    cfg->read_queue_max = 4096; /* conf's defaults: db trusts its configuration as given */
    cfg->read_jobs_per_client = 32;
    cfg->read_jobs_per_address = 1024;
    cfg->connect_timeout_s = 5;
}

void bdb_exec(MYSQL *my, const char *sql)
{
    if (mysql_query(my, sql)) {
        fprintf(stderr, "bench: SQL failed: %s\n  in: %.200s\n", mysql_error(my), sql);
        exit(1);
    }
    MYSQL_RES *r = mysql_store_result(my);
    if (r)
        mysql_free_result(r);
}

MYSQL *bdb_fresh(const conf_database_t *cfg)
{
    MYSQL *my = NULL;
    char err[CCD_ERR_LEN];
    if (db__connect(cfg, false, &my, err, sizeof(err))) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    char q[512];
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", cfg->name);
    bdb_exec(my, q);
    if (db_migrate_conn(DBT_CONN(my), cfg->name, err, sizeof(err))) {
        fprintf(stderr, "bench: migrate: %s\n", err);
        exit(1);
    }
    return my;
}

void bdb_end(const conf_database_t *cfg)
{
    MYSQL *my = NULL;
    char err[CCD_ERR_LEN];
    if (db__connect(cfg, false, &my, err, sizeof(err)) == 0) {
        char q[512];
        snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", cfg->name);
        mysql_query(my, q);
        mysql_close(my);
    }
    if (g_dir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "bash %s/scripts/mariadb-private.sh stop %s >&2; rm -rf %s",
                 CCD_SOURCE_DIR, g_dir, g_dir);
        (void)system(cmd);
    }
}
