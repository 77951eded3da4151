/* Test helpers; see dbtest.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/common/ccd_test.h"
#include "test/db/dbtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/err.h"

#ifndef CCD_SOURCE_DIR
#error "CCD_SOURCE_DIR must be defined by the build"
#endif

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: DB tests need a MariaDB server. Run scripts/test.sh, or "
                 "scripts/mariadb-private.sh start DIR && eval \"$(scripts/mariadb-private.sh env DIR)\"",
                 name);
    return v;
}

void dbt_cfg(conf_database_t *cfg, const char *dbname)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->socket, sizeof(cfg->socket), "%s", need_env("CCD_TEST_DB_SOCKET"));
    snprintf(cfg->user, sizeof(cfg->user), "%s", need_env("CCD_TEST_DB_USER"));
    snprintf(cfg->password, sizeof(cfg->password), "%s", need_env("CCD_TEST_DB_PASSWORD"));
    snprintf(cfg->name, sizeof(cfg->name), "%s", dbname);
    cfg->port = 3306;
    cfg->writer_threads = 1;
    cfg->write_queue_max = 100000;
    cfg->write_batch_max = 500;
    cfg->read_queue_max = 4096; /* conf's defaults: db trusts its configuration as given */
    cfg->read_jobs_per_client = 32;
    cfg->read_jobs_per_address = 1024;
    cfg->connect_timeout_s = 5;
}

void dbt_name(char *out, size_t len, const char *tag)
{
    snprintf(out, len, "ccdt_%s_%d", tag, (int)getpid());
}

MYSQL *dbt_connect(const conf_database_t *cfg, bool use_db)
{
    MYSQL *my = NULL;
    char err[CCD_ERR_LEN];
    if (db__connect(cfg, use_db, &my, err, sizeof(err)) != 0)
        fail_msg("cannot connect to the test database server: %s", err);
    return my;
}

void dbt_exec(MYSQL *my, const char *sql)
{
    if (mysql_query(my, sql))
        fail_msg("SQL failed: %s\n  in: %.300s", mysql_error(my), sql);
    MYSQL_RES *r = mysql_store_result(my);
    if (r)
        mysql_free_result(r);
}

long long dbt_int(MYSQL *my, const char *sql)
{
    if (mysql_query(my, sql))
        fail_msg("SQL failed: %s\n  in: %.300s", mysql_error(my), sql);
    MYSQL_RES *r = mysql_store_result(my);
    if (!r)
        fail_msg("no result for: %.300s", sql);
    MYSQL_ROW row = mysql_fetch_row(r);
    long long v = row && row[0] ? strtoll(row[0], NULL, 10) : -1;
    mysql_free_result(r);
    return v;
}

char *dbt_dump(MYSQL *my, const char *sql)
{
    if (mysql_query(my, sql))
        fail_msg("SQL failed: %s\n  in: %.300s", mysql_error(my), sql);
    MYSQL_RES *r = mysql_store_result(my);
    if (!r)
        fail_msg("no result for: %.300s", sql);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    unsigned int nf = mysql_num_fields(r);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        for (unsigned int i = 0; i < nf; i++) {
            const char *v = row[i] ? row[i] : "NULL";
            size_t need = strlen(v) + 3;
            while (len + need >= cap) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            len += (size_t)sprintf(out + len, "%s%s", v, i + 1 < nf ? "|" : "\n");
        }
    }
    mysql_free_result(r);
    return out;
}

MYSQL *dbt_fresh(conf_database_t *cfg, const char *tag, bool seed)
{
    char name[64];
    dbt_name(name, sizeof(name), tag);
    if (!cfg->socket[0])
        dbt_cfg(cfg, name);
    else
        snprintf(cfg->name, sizeof(cfg->name), "%s", name);
    MYSQL *my = dbt_connect(cfg, false);
    char q[256];
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", name);
    dbt_exec(my, q);
    char err[CCD_ERR_LEN];
    if (db_migrate_conn(DBT_CONN(my), name, err, sizeof(err)) != 0)
        fail_msg("migration failed: %s", err);
    if (seed && db_exec_script_file(DBT_CONN(my), CCD_SOURCE_DIR "/db/seed/demo.sql", err, sizeof(err)) != 0)
        fail_msg("seed failed: %s", err);
    return my;
}

void dbt_drop(const conf_database_t *cfg)
{
    MYSQL *my = dbt_connect(cfg, false);
    char q[512];
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", cfg->name);
    dbt_exec(my, q);
    mysql_close(my);
}

static void script(dbt_server_t *s, const char *cmd)
{
    char line[1024];
    snprintf(line, sizeof(line), "bash %s/scripts/mariadb-private.sh %s %s >%s/script.log 2>&1",
             CCD_SOURCE_DIR, cmd, s->dir, s->dir);
    int rc = system(line);
    if (rc != 0) {
        char log[512];
        /* the script's whole output (an install failure's cause is at its start), then
         * the end of the server's log */
        snprintf(log, sizeof(log), "cat %s/script.log >&2; tail -20 %s/mariadbd.log >&2 2>/dev/null",
                 s->dir, s->dir);
        (void)system(log);
        fail_msg("mariadb-private.sh %s %s failed (%d)", cmd, s->dir, rc);
    }
}

void dbt_server_start(dbt_server_t *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/ccdbt.XXXXXX");
    if (!mkdtemp(s->dir))
        fail_msg("mkdtemp failed");
    snprintf(s->socket, sizeof(s->socket), "%s/mysql.sock", s->dir);
    script(s, "start");
}

void dbt_server_up(dbt_server_t *s)
{
    script(s, "start");
}

void dbt_server_stop(dbt_server_t *s)
{
    script(s, "stop");
}

void dbt_server_kill(dbt_server_t *s)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/mariadbd.pid", s->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("no pid file %s", path);
    int pid = 0;
    if (fscanf(f, "%d", &pid) != 1 || pid <= 1) {
        fclose(f);
        fail_msg("bad pid file %s", path);
    }
    fclose(f);
    kill((pid_t)pid, SIGKILL);
    /* Wait for it to be gone so the restart does not race the dying process. */
    CCD_WAIT(kill((pid_t)pid, 0) != 0);
}

void dbt_server_destroy(dbt_server_t *s)
{
    if (!s->dir[0])
        return;
    char line[1024];
    snprintf(line, sizeof(line), "bash %s/scripts/mariadb-private.sh stop %s >/dev/null 2>&1; rm -rf %s",
             CCD_SOURCE_DIR, s->dir, s->dir);
    (void)system(line);
    s->dir[0] = '\0';
}

void dbt_server_cfg(const dbt_server_t *s, conf_database_t *cfg, const char *dbname)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->socket, sizeof(cfg->socket), "%s", s->socket);
    snprintf(cfg->user, sizeof(cfg->user), "ccdtest");
    snprintf(cfg->password, sizeof(cfg->password), "ccdtest-pw");
    snprintf(cfg->name, sizeof(cfg->name), "%s", dbname);
    cfg->writer_threads = 1;
    cfg->write_queue_max = 100000;
    cfg->write_batch_max = 500;
    cfg->read_queue_max = 4096; /* conf's defaults: db trusts its configuration as given */
    cfg->read_jobs_per_client = 32;
    cfg->read_jobs_per_address = 1024;
    cfg->connect_timeout_s = 2;
}

db_t *dbt_db_start(const conf_database_t *cfg)
{
    char err[CCD_ERR_LEN];
    db_t *db = db_new(cfg, err, sizeof(err));
    if (db && db_start(db, NULL, NULL, err, sizeof(err)) != 0) {
        db_free(db);
        db = NULL;
    }
    if (!db)
        fail_msg("db_start: %s", err);
    return db;
}

void dbt_expect(MYSQL *my, const char *sql, const char *want)
{
    char *got = dbt_dump(my, sql);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n--- want\n%s--- got\n%s", sql, want, got);
    free(got);
}
