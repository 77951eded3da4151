/*
 * Integration tests (real MariaDB) for the schema: a fresh database gets every
 * Issabel table and column plus ours; running the migrations again changes
 * nothing (information_schema dumps compared); the seed loads twice; an
 * Issabel-shaped database (two generations: firstboot-era with id_list, and an
 * older one with calls.id_campaign) is upgraded in place with its rows intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "db/db_int.h"
#include "test/db/dbtest.h"

static const char schema_dump_q[] =
    "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
    "COALESCE(COLUMN_DEFAULT, 'NULL'), EXTRA FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION";
static const char index_dump_q[] =
    "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM "
    "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";
static const char fk_dump_q[] =
    "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME FROM "
    "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
    "ORDER BY CONSTRAINT_NAME";

static void assert_has_every_issabel_column(MYSQL *my)
{
    for (const db_table_t *const *t = db__issabel_tables(); *t; t++) {
        for (const db_col_t *c = (*t)->cols; c->name; c++) {
            char q[512];
            snprintf(q, sizeof(q),
                     "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                     "DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'",
                     (*t)->name, c->name);
            if (dbt_int(my, q) != 1)
                fail_msg("missing column %s.%s", (*t)->name, c->name);
        }
    }
}

static void test_fresh_schema(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "fresh", false);
    int v = -1;
    assert_int_equal(db_schema_version(DBT_CONN(my), &v), 0);
    assert_int_equal(v, DB_SCHEMA_VERSION);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'ccd\\_%'"),
                     25);
    assert_has_every_issabel_column(my);
    /* our additions */
    static const char *const ours[] = {"ccd_schema_version", "ccd_agent_queue",
                                       "ccd_campaign_pacing", "ccd_engine", "ccd_write_batch",
                                       "ccd_campaign_agi", "ccd_pacer_state",
                                       NULL};
    for (int i = 0; ours[i]; i++) {
        char q[256];
        snprintf(q, sizeof(q),
                 "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                 "AND TABLE_NAME = '%s'",
                 ours[i]);
        assert_int_equal(dbt_int(my, q), 1);
    }
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'calls' AND "
                                 "COLUMN_NAME IN ('ccd_next_attempt','ccd_tz','ccd_claim_owner',"
                                 "'ccd_claim_time') AND IS_NULLABLE = 'YES'"),
                     4);
    /* PJSIP agents exist; the Hold break is there */
    dbt_exec(my, "INSERT INTO agent (type, number, name, password) VALUES ('PJSIP', '2000', 'p', 'x')");
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM `break` WHERE tipo = 'H'"), 1);
    /* no Issabel drift: calls has no id_campaign */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'calls' AND "
                                 "COLUMN_NAME = 'id_campaign'"),
                     0);
    /* foreign keys are real */
    assert_true(dbt_int(my, "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                            "WHERE CONSTRAINT_SCHEMA = DATABASE()") >= 30);
    mysql_close(my);
    dbt_drop(&cfg);
}

static void test_migrate_twice_changes_nothing(void **state)
{
    (void)state;
    conf_database_t cfg = {0};
    MYSQL *my = dbt_fresh(&cfg, "twice", true);
    char *c1 = dbt_dump(my, schema_dump_q);
    char *i1 = dbt_dump(my, index_dump_q);
    char *f1 = dbt_dump(my, fk_dump_q);
    char *v1 = dbt_dump(my, "SELECT version, name, applied FROM ccd_schema_version ORDER BY version");
    char *d1 = dbt_dump(my, "SELECT * FROM calls ORDER BY id");
    char err[CCD_ERR_LEN];
    /* through the public entry point (new connection), twice */
    assert_int_equal(db_migrate(&cfg, err, sizeof(err)), 0);
    assert_int_equal(db_migrate(&cfg, err, sizeof(err)), 0);
    /* and the seed again: INSERT IGNORE with fixed ids */
    assert_int_equal(db_exec_script_file(DBT_CONN(my), CCD_SOURCE_DIR "/db/seed/demo.sql", err, sizeof(err)), 0);
    char *c2 = dbt_dump(my, schema_dump_q);
    char *i2 = dbt_dump(my, index_dump_q);
    char *f2 = dbt_dump(my, fk_dump_q);
    char *v2 = dbt_dump(my, "SELECT version, name, applied FROM ccd_schema_version ORDER BY version");
    char *d2 = dbt_dump(my, "SELECT * FROM calls ORDER BY id");
    assert_string_equal(c1, c2);
    assert_string_equal(i1, i2);
    assert_string_equal(f1, f2);
    assert_string_equal(v1, v2);
    assert_string_equal(d1, d2);
    assert_true(strlen(c1) > 1000);
    free(c1), free(c2), free(i1), free(i2), free(f1), free(f2), free(v1), free(v2), free(d1), free(d2);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* An Issabel database as firstboot_call_center.sql + data would leave it: no PJSIP,
 * no callerid columns, utf8/latin1 tables, no version table.  A subset of tables: the
 * migration must create the rest. */
static const char issabel_ddl[] =
    "CREATE TABLE agent (id int(10) unsigned NOT NULL AUTO_INCREMENT, "
    "type enum('Agent','SIP','IAX2') NOT NULL DEFAULT 'Agent', number varchar(40) NOT NULL, "
    "name varchar(250) NOT NULL, password varchar(250) NOT NULL, estatus enum('A','I') DEFAULT 'A', "
    "eccp_password varchar(128) DEFAULT NULL, PRIMARY KEY (id), KEY agent_type (estatus,type,number)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8;\n"
    "CREATE TABLE `break` (id int(10) unsigned NOT NULL AUTO_INCREMENT, name varchar(250) NOT NULL, "
    "description varchar(250) DEFAULT NULL, status varchar(1) NOT NULL DEFAULT 'A', "
    "tipo enum('B','H') DEFAULT 'B', PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8;\n"
    "CREATE TABLE campaign (id int(10) unsigned NOT NULL AUTO_INCREMENT, name varchar(64) NOT NULL, "
    "datetime_init date NOT NULL, datetime_end date NOT NULL, daytime_init time NOT NULL, "
    "daytime_end time NOT NULL, retries int(10) unsigned NOT NULL DEFAULT '1', trunk varchar(255) "
    "DEFAULT NULL, context varchar(32) NOT NULL, queue varchar(16) NOT NULL, max_canales int(10) "
    "unsigned NOT NULL DEFAULT '0', num_completadas int(10) unsigned DEFAULT NULL, promedio int(10) "
    "unsigned DEFAULT NULL, desviacion int(10) unsigned DEFAULT NULL, script text NOT NULL, "
    "estatus varchar(1) NOT NULL DEFAULT 'A', id_url int(10) unsigned DEFAULT NULL, PRIMARY KEY (id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8;\n"
    "CREATE TABLE campaign_lists (id int(11) unsigned NOT NULL auto_increment, id_campaign int(11) "
    "unsigned NOT NULL, type tinyint(1) NOT NULL default '0', name varchar(255) NOT NULL, upload "
    "varchar(255) NOT NULL, date_entered datetime NOT NULL, status tinyint(1) NOT NULL default '2', "
    "total_calls int(11) NOT NULL default '0', PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8;\n"
    "CREATE TABLE calls (id int(10) unsigned NOT NULL AUTO_INCREMENT, id_list int(10) unsigned NOT "
    "NULL, phone varchar(32) NOT NULL, status varchar(32) DEFAULT NULL, uniqueid varchar(32) DEFAULT "
    "NULL, fecha_llamada datetime DEFAULT NULL, start_time datetime DEFAULT NULL, end_time datetime "
    "DEFAULT NULL, retries int(10) unsigned NOT NULL DEFAULT '0', duration int(10) unsigned DEFAULT "
    "NULL, id_agent int(10) unsigned DEFAULT NULL, dnc int(1) NOT NULL DEFAULT '0', agent varchar(32) "
    "DEFAULT NULL, PRIMARY KEY (id), KEY id_list (id_list)) ENGINE=InnoDB DEFAULT CHARSET=utf8;\n"
    "CREATE TABLE call_progress_log (id int(10) unsigned NOT NULL AUTO_INCREMENT, datetime_entry "
    "datetime NOT NULL, id_campaign_outgoing int(10) unsigned DEFAULT NULL, id_call_outgoing int(10) "
    "unsigned DEFAULT NULL, new_status varchar(32) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB "
    "DEFAULT CHARSET=utf8;\n"
    "CREATE TABLE dont_call (id int(11) NOT NULL AUTO_INCREMENT, caller_id varchar(15) NOT NULL, "
    "date_income datetime DEFAULT NULL, status varchar(1) DEFAULT NULL, PRIMARY KEY (id), KEY "
    "callerid (caller_id)) ENGINE=InnoDB DEFAULT CHARSET=latin1;\n"
    "CREATE TABLE valor_config (config_key varchar(32) NOT NULL, config_value varchar(128) NOT NULL, "
    "config_blob blob, PRIMARY KEY (config_key)) ENGINE=InnoDB DEFAULT CHARSET=latin1;\n"
    "INSERT INTO agent VALUES (1,'Agent','9000','Ana','p1','A','e1'),(2,'SIP','1064','Ben','p2','A',NULL),"
    "(3,'IAX2','1065','Cy','p3','I','e3');\n"
    "INSERT INTO `break` VALUES (1,'Hold','Hold','A','H'),(2,'Almuerzo','Comida','A','B');\n"
    "INSERT INTO campaign VALUES (7,'Ventas',CURDATE()-INTERVAL 1 DAY,CURDATE()+INTERVAL 9 DAY,"
    "'00:00:00','23:59:59',2,NULL,'from-internal','8000',0,12,95,40,'Hola ñandú','A',NULL);\n"
    "INSERT INTO campaign_lists VALUES (3,7,0,'Lista','lista.csv','2020-01-02 03:04:05',1,3);\n"
    "INSERT INTO calls (id,id_list,phone,status,retries,dnc) VALUES (10,3,'5001',NULL,0,0),"
    "(11,3,'5002','Success',1,0),(12,3,'6001','NoAnswer',1,0);\n"
    "INSERT INTO call_progress_log VALUES (1,'2020-01-02 03:04:05',7,11,'Success');\n"
    "INSERT INTO dont_call VALUES (1,'5999','2020-01-01 00:00:00','A');\n"
    "INSERT INTO valor_config VALUES ('dialer.llamada_corta','10',NULL);\n";

static const char *const intact_q[] = {
    "SELECT id, type, number, name, password, estatus, eccp_password FROM agent ORDER BY id",
    "SELECT id, name, description, status, tipo FROM `break` ORDER BY id",
    "SELECT id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, trunk, "
    "context, queue, max_canales, num_completadas, promedio, desviacion, script, estatus, id_url "
    "FROM campaign ORDER BY id",
    "SELECT id, id_campaign, type, name, upload, date_entered, status, total_calls FROM "
    "campaign_lists ORDER BY id",
    "SELECT id, id_list, phone, status, uniqueid, fecha_llamada, start_time, end_time, retries, "
    "duration, id_agent, dnc, agent FROM calls ORDER BY id",
    "SELECT id, datetime_entry, id_campaign_outgoing, id_call_outgoing, new_status FROM "
    "call_progress_log ORDER BY id",
    "SELECT * FROM dont_call ORDER BY id",
    "SELECT * FROM valor_config ORDER BY config_key",
    NULL};

static MYSQL *make_issabel(conf_database_t *cfg, const char *tag, const char *extra)
{
    char name[64];
    dbt_name(name, sizeof(name), tag);
    dbt_cfg(cfg, name);
    MYSQL *my = dbt_connect(cfg, false);
    char q[256];
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", name);
    dbt_exec(my, q);
    snprintf(q, sizeof(q), "CREATE DATABASE `%s` DEFAULT CHARACTER SET utf8", name);
    dbt_exec(my, q);
    assert_int_equal(mysql_select_db(my, name), 0);
    char err[CCD_ERR_LEN];
    if (db_exec_script(DBT_CONN(my), issabel_ddl, strlen(issabel_ddl), err, sizeof(err)) != 0)
        fail_msg("Issabel fixture: %s", err);
    if (extra && db_exec_script(DBT_CONN(my), extra, strlen(extra), err, sizeof(err)) != 0)
        fail_msg("Issabel fixture extra: %s", err);
    return my;
}

static void test_issabel_upgrade(void **state)
{
    (void)state;
    conf_database_t cfg;
    MYSQL *my = make_issabel(&cfg, "issabel", NULL);
    int v = -1;
    assert_int_equal(db_schema_version(DBT_CONN(my), &v), 0);
    assert_int_equal(v, 0);
    char *before[16];
    for (int i = 0; intact_q[i]; i++)
        before[i] = dbt_dump(my, intact_q[i]);
    char err[CCD_ERR_LEN];
    assert_int_equal(db_migrate(&cfg, err, sizeof(err)), 0);
    assert_int_equal(db_schema_version(DBT_CONN(my), &v), 0);
    assert_int_equal(v, DB_SCHEMA_VERSION);
    for (int i = 0; intact_q[i]; i++) {
        char *after = dbt_dump(my, intact_q[i]);
        assert_string_equal(before[i], after);
        free(after);
        free(before[i]);
    }
    assert_has_every_issabel_column(my);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'ccd\\_%'"),
                     25);
    /* drift fixed: PJSIP accepted, existing enum values kept */
    dbt_exec(my, "INSERT INTO agent (type, number, name, password) VALUES ('PJSIP','1066','D','p')");
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM agent WHERE type IN ('Agent','SIP','IAX2')"), 3);
    /* new columns are NULL/default on old rows */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner IS NULL AND "
                                 "ccd_next_attempt IS NULL AND callerid IS NULL AND scheduled = 0"),
                     3);
    /* the upgraded database is usable: claims work on it */
    db_claimed_call_t out[8];
    int n = -1;
    db_claim_req_t req = {.id_campaign = 7, .n = 8, .owner = "upgradetest", .max_retries = 2};
    assert_int_equal(db_claim_numbers(DBT_CONN(my), &req, out, 8, &n), 0);
    assert_int_equal(n, 2); /* 5001 (fresh) and 6001 (NoAnswer, 1 < 2 retries) */
    assert_int_equal(out[0].id, 10);
    assert_int_equal(out[1].id, 12);
    /* and migrating again is a no-op */
    char *s1 = dbt_dump(my, schema_dump_q);
    assert_int_equal(db_migrate(&cfg, err, sizeof(err)), 0);
    char *s2 = dbt_dump(my, schema_dump_q);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    mysql_close(my);
    dbt_drop(&cfg);
}

/* Older Issabel: calls tied to the campaign directly (calls.id_campaign, no id_list). */
static const char old_calls_fix[] =
    "ALTER TABLE calls DROP KEY id_list, DROP COLUMN id_list, "
    "ADD COLUMN id_campaign int(10) unsigned NOT NULL AFTER id;\n"
    "UPDATE calls SET id_campaign = 7;\n"
    "DELETE FROM campaign_lists;\n";

static void test_issabel_old_id_campaign(void **state)
{
    (void)state;
    conf_database_t cfg;
    MYSQL *my = make_issabel(&cfg, "issabel_old", old_calls_fix);
    char *before = dbt_dump(my, "SELECT id, id_campaign, phone, status, retries FROM calls ORDER BY id");
    char err[CCD_ERR_LEN];
    if (db_migrate(&cfg, err, sizeof(err)) != 0)
        fail_msg("migrate: %s", err);
    char *after = dbt_dump(my, "SELECT id, id_campaign, phone, status, retries FROM calls ORDER BY id");
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* every call now belongs to campaign 7 through a list */
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM calls c JOIN campaign_lists l ON "
                                 "l.id = c.id_list WHERE l.id_campaign = 7"),
                     3);
    assert_int_equal(dbt_int(my, "SELECT COUNT(*) FROM campaign_lists WHERE id_campaign = 7"), 1);
    mysql_close(my);
    dbt_drop(&cfg);
}

static void test_bad_db_name(void **state)
{
    (void)state;
    conf_database_t cfg;
    dbt_cfg(&cfg, "bad`name");
    char err[CCD_ERR_LEN] = "";
    assert_int_equal(db_migrate(&cfg, err, sizeof(err)), CCD_EINVAL);
    assert_non_null(strstr(err, "must be"));
}

int main(void)
{
    mysql_library_init(0, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_schema),
        cmocka_unit_test(test_migrate_twice_changes_nothing),
        cmocka_unit_test(test_issabel_upgrade),
        cmocka_unit_test(test_issabel_old_id_campaign),
        cmocka_unit_test(test_bad_db_name),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return r;
}
