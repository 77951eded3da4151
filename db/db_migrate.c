/*
 * Migrations: bring a database to DB_SCHEMA_VERSION.
 *
 * DDL commits implicitly in MariaDB, so a migration cannot be one
 * transaction.  Instead every step is idempotent (CREATE TABLE IF NOT
 * EXISTS, ADD COLUMN/KEY IF NOT EXISTS, data steps guarded by NOT EXISTS),
 * and the version row is written after the last step: a migration cut short
 * by a crash is simply run again.  Concurrent migrators (two engines started
 * at once) serialise on GET_LOCK('ccd_migrate').
 *
 * An Issabel database is recognised by having a `calls` table and no
 * ccd_schema_version table.  Migration 1 then creates whatever Issabel tables
 * are missing and adds missing columns to the existing ones (ADD COLUMN IF NOT
 * EXISTS from the same column list), fixes the drift (PJSIP enum, id_list),
 * and never drops or rewrites a row.
 */
#include "db/db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

#define SQL_BUF 16384

int db_schema_version(db_conn_t *c, int *out)
{
    MYSQL *my = c->my;
    *out = 0;
    if (mysql_query(my, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                        "DATABASE() AND TABLE_NAME = 'ccd_schema_version'"))
        return CCD_EIO;
    MYSQL_RES *res = mysql_store_result(my);
    if (!res)
        return CCD_EIO;
    MYSQL_ROW row = mysql_fetch_row(res);
    bool have = row && row[0] && atoi(row[0]) > 0;
    mysql_free_result(res);
    if (!have)
        return 0;
    if (mysql_query(my, "SELECT COALESCE(MAX(version), 0) FROM ccd_schema_version"))
        return CCD_EIO;
    res = mysql_store_result(my);
    if (!res)
        return CCD_EIO;
    row = mysql_fetch_row(res);
    *out = row && row[0] ? atoi(row[0]) : 0;
    mysql_free_result(res);
    return 0;
}

static int table_exists(MYSQL *my, const char *name, bool *out)
{
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
             "TABLE_NAME = '%s'",
             name);
    if (mysql_query(my, q))
        return CCD_EIO;
    MYSQL_RES *res = mysql_store_result(my);
    if (!res)
        return CCD_EIO;
    MYSQL_ROW row = mysql_fetch_row(res);
    *out = row && row[0] && atoi(row[0]) > 0;
    mysql_free_result(res);
    return 0;
}

static int run_table_step(MYSQL *my, const db_table_t *t, char *sql, char *err, size_t errlen)
{
    bool exists = false;
    if (table_exists(my, t->name, &exists))
        goto fail;
    if (!exists) {
        if (db__sql_create_table(t, sql, SQL_BUF) < 0) {
            snprintf(err, errlen, "table %s: SQL too long", t->name);
            return CCD_ETOOBIG;
        }
    } else {
        /* Conform an existing (Issabel) table: add only what is missing. */
        int n = db__sql_add_columns(t, sql, SQL_BUF);
        if (n < 0) {
            snprintf(err, errlen, "table %s: SQL too long", t->name);
            return CCD_ETOOBIG;
        }
        if (n == 0)
            return 0;
    }
    if (mysql_query(my, sql))
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "table %s: %s (%u)", t->name, mysql_error(my), mysql_errno(my));
    return CCD_EIO;
}

static int run_migration(MYSQL *my, const db_migration_t *m, char *err, size_t errlen)
{
    char *sql = malloc(SQL_BUF);
    if (!sql) {
        snprintf(err, errlen, "out of memory");
        return CCD_ENOMEM;
    }
    int rc = 0;
    for (const db_step_t *s = m->steps; s->sql || s->table || s->fn; s++) {
        if (s->table) {
            rc = run_table_step(my, s->table, sql, err, errlen);
        } else if (s->fn) {
            rc = s->fn(my, err, errlen);
        } else if (mysql_query(my, s->sql)) {
            snprintf(err, errlen, "migration %d step: %s (%u)", m->version, mysql_error(my),
                     mysql_errno(my));
            rc = CCD_EIO;
        }
        if (rc)
            break;
    }
    free(sql);
    if (rc)
        return rc;
    char q[256];
    snprintf(q, sizeof(q),
             "INSERT IGNORE INTO ccd_schema_version (version, name, applied) VALUES (%d, '%s', NOW())",
             m->version, m->name);
    if (mysql_query(my, q)) {
        snprintf(err, errlen, "recording version %d: %s", m->version, mysql_error(my));
        return CCD_EIO;
    }
    return 0;
}

static bool valid_dbname(const char *name)
{
    if (!name[0] || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '$'))
            return false;
    return true;
}

int db_migrate_conn(db_conn_t *c, const char *dbname, char *err, size_t errlen)
{
    MYSQL *my = c->my;
    if (!valid_dbname(dbname)) {
        snprintf(err, errlen, "database name '%s' must be [A-Za-z0-9_$], at most 64 chars", dbname);
        return CCD_EINVAL;
    }
    char q[512];
    snprintf(q, sizeof(q), "CREATE DATABASE IF NOT EXISTS `%s` DEFAULT CHARACTER SET utf8mb4",
             dbname);
    if (mysql_query(my, q) || mysql_select_db(my, dbname)) {
        snprintf(err, errlen, "database %s: %s (%u)", dbname, mysql_error(my), mysql_errno(my));
        return CCD_EIO;
    }
    if (mysql_query(my, "SELECT GET_LOCK('ccd_migrate', 60)")) {
        snprintf(err, errlen, "migration lock: %s", mysql_error(my));
        return CCD_EIO;
    }
    MYSQL_RES *res = mysql_store_result(my);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    bool locked = row && row[0] && atoi(row[0]) == 1;
    if (res)
        mysql_free_result(res);
    if (!locked) {
        snprintf(err, errlen, "another migration holds the ccd_migrate lock");
        return CCD_EBUSY;
    }
    int rc = 0;
    int cur = 0;
    bool issabel = false;
    /* Tables are created in name order, not dependency order: FK checks wait until the end. */
    if (mysql_query(my, "SET SESSION foreign_key_checks = 0")) {
        snprintf(err, errlen, "foreign_key_checks: %s", mysql_error(my));
        rc = CCD_EIO;
        goto out;
    }
    if (db_schema_version(c, &cur)) {
        snprintf(err, errlen, "reading schema version: %s", mysql_error(my));
        rc = CCD_EIO;
        goto out;
    }
    if (cur == 0 && table_exists(my, "calls", &issabel) == 0 && issabel)
        LOG_NOTICE(DB_LOG, "%s: Issabel call_center without version table: upgrading in place",
                   dbname);
    if (mysql_query(my, "CREATE TABLE IF NOT EXISTS ccd_schema_version ("
                        "version int(10) unsigned NOT NULL, name varchar(64) NOT NULL, "
                        "applied datetime NOT NULL, PRIMARY KEY (version)"
                        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")) {
        snprintf(err, errlen, "ccd_schema_version: %s", mysql_error(my));
        rc = CCD_EIO;
        goto out;
    }
    if (cur > DB_SCHEMA_VERSION) {
        snprintf(err, errlen, "database is at schema version %d, newer than this build (%d)", cur,
                 DB_SCHEMA_VERSION);
        rc = CCD_EINVAL;
        goto out;
    }
    size_t nm;
    const db_migration_t *ms = db__migrations(&nm);
    for (size_t i = 0; i < nm; i++) {
        if (ms[i].version <= cur)
            continue;
        rc = run_migration(my, &ms[i], err, errlen);
        if (rc)
            goto out;
        LOG_INFO(DB_LOG, "%s: applied schema migration %d (%s)", dbname, ms[i].version,
                 ms[i].name);
    }
out:
    mysql_query(my, "SET SESSION foreign_key_checks = 1");
    if (mysql_query(my, "SELECT RELEASE_LOCK('ccd_migrate')") == 0) {
        res = mysql_store_result(my);
        if (res)
            mysql_free_result(res);
    }
    return rc;
}

int db_migrate(const conf_database_t *cfg, char *err, size_t errlen)
{
    db_conn_t *c = NULL;
    int rc = db_conn_open(cfg, false, &c, err, errlen);
    if (rc)
        return rc;
    rc = db_migrate_conn(c, cfg->name, err, errlen);
    db_conn_close(c);
    return rc;
}
