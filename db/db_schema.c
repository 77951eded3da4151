/*
 * The call_center schema as data: Issabel's 25 tables (migration 1) and the
 * tables/columns ccdialer adds beside them (migration 2).
 *
 * Why C tables rather than .sql files: the daemon binary carries exactly the
 * schema it was built for (no install path to find at run time), and the same
 * column list drives both CREATE TABLE for a fresh database and the
 * ADD COLUMN IF NOT EXISTS pass that conforms an existing Issabel database to
 * it, so the two can never disagree.  `ccdialer-db sql` prints the result.
 *
 * Issabel's names, types, defaults and keys are kept as its
 * firstboot_call_center.sql and upgrade scripts have them, minus the drift:
 * calls belong to a campaign only through id_list -> campaign_lists (its keys
 * are on id_list), PJSIP is in agent.type, calls/campaign have callerid.
 * Character set: utf8mb4 everywhere (Issabel mixed utf8 and latin1), which
 * accepts everything Issabel's utf8 screens write.
 */
#include "db/db_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define OPTS "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
#define ID_COL {"id", "int(10) unsigned NOT NULL AUTO_INCREMENT"}
#define END_COL {NULL, NULL}

/* ------------------------------ Issabel ------------------------------ */

static const db_col_t agent_cols[] = {
    ID_COL,
    {"type", "enum('Agent','SIP','IAX2','PJSIP') NOT NULL DEFAULT 'Agent'"},
    {"number", "varchar(40) NOT NULL"},
    {"name", "varchar(250) NOT NULL"},
    {"password", "varchar(250) NOT NULL"},
    {"estatus", "enum('A','I') DEFAULT 'A'"},
    {"eccp_password", "varchar(128) DEFAULT NULL"},
    END_COL};
static const char *const agent_keys[] = {"PRIMARY KEY (`id`)",
                                         "KEY `agent_type` (`estatus`,`type`,`number`)", NULL};

static const db_col_t audit_cols[] = {
    ID_COL,
    {"id_agent", "int(10) unsigned NOT NULL"},
    {"id_break", "int(10) unsigned DEFAULT NULL"},
    {"datetime_init", "datetime NOT NULL"},
    {"datetime_end", "datetime DEFAULT NULL"},
    {"duration", "time DEFAULT NULL"},
    {"ext_parked", "varchar(10) DEFAULT NULL"},
    END_COL};
static const char *const audit_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_agent` (`id_agent`)", "KEY `id_break` (`id_break`)",
    "KEY `agent_break_datetime` (`id_agent`,`id_break`,`datetime_init`)",
    "CONSTRAINT `audit_ibfk_1` FOREIGN KEY (`id_agent`) REFERENCES `agent` (`id`)",
    "CONSTRAINT `audit_ibfk_2` FOREIGN KEY (`id_break`) REFERENCES `break` (`id`)", NULL};

static const db_col_t break_cols[] = {
    ID_COL,
    {"name", "varchar(250) NOT NULL"},
    {"description", "varchar(250) DEFAULT NULL"},
    {"status", "varchar(1) NOT NULL DEFAULT 'A'"},
    {"tipo", "enum('B','H') DEFAULT 'B'"},
    END_COL};
static const char *const pk_only[] = {"PRIMARY KEY (`id`)", NULL};

static const db_col_t call_attribute_cols[] = {
    ID_COL, {"id_call", "int(10) unsigned NOT NULL"}, {"data", "text NULL"}, END_COL};
static const char *const call_attribute_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_call` (`id_call`)",
    "CONSTRAINT `call_attribute_ibfk_1` FOREIGN KEY (`id_call`) REFERENCES `calls` (`id`)", NULL};

static const db_col_t call_entry_cols[] = {
    ID_COL,
    {"id_agent", "int(10) unsigned DEFAULT NULL"},
    {"id_queue_call_entry", "int(10) unsigned NOT NULL"},
    {"id_contact", "int(10) unsigned DEFAULT NULL"},
    {"callerid", "varchar(15) NOT NULL"},
    {"datetime_init", "datetime DEFAULT NULL"},
    {"datetime_end", "datetime DEFAULT NULL"},
    {"duration", "int(10) unsigned DEFAULT NULL"},
    {"status", "varchar(32) DEFAULT NULL"},
    {"transfer", "varchar(6) DEFAULT NULL"},
    {"datetime_entry_queue", "datetime DEFAULT NULL"},
    {"duration_wait", "int(11) DEFAULT NULL"},
    {"uniqueid", "varchar(32) DEFAULT NULL"},
    {"id_campaign", "int(10) unsigned DEFAULT NULL"},
    {"trunk", "varchar(20) NOT NULL"},
    END_COL};
static const char *const call_entry_keys[] = {
    "PRIMARY KEY (`id`)",
    "KEY `id_agent` (`id_agent`)",
    "KEY `id_queue_call_entry` (`id_queue_call_entry`)",
    "KEY `id_contact` (`id_contact`)",
    "KEY `call_entry_ibfk_4` (`id_campaign`)",
    "KEY `datetime_init` (`datetime_init`)",
    "KEY `datetime_entry_queue` (`datetime_entry_queue`)",
    "CONSTRAINT `call_entry_ibfk_1` FOREIGN KEY (`id_agent`) REFERENCES `agent` (`id`)",
    "CONSTRAINT `call_entry_ibfk_2` FOREIGN KEY (`id_queue_call_entry`) REFERENCES "
    "`queue_call_entry` (`id`)",
    "CONSTRAINT `call_entry_ibfk_3` FOREIGN KEY (`id_contact`) REFERENCES `contact` (`id`)",
    "CONSTRAINT `call_entry_ibfk_4` FOREIGN KEY (`id_campaign`) REFERENCES `campaign_entry` (`id`)",
    NULL};

static const db_col_t call_progress_log_cols[] = {
    ID_COL,
    {"datetime_entry", "datetime NOT NULL"},
    {"id_campaign_incoming", "int(10) unsigned DEFAULT NULL"},
    {"id_call_incoming", "int(10) unsigned DEFAULT NULL"},
    {"id_campaign_outgoing", "int(10) unsigned DEFAULT NULL"},
    {"id_call_outgoing", "int(10) unsigned DEFAULT NULL"},
    {"new_status", "varchar(32) NOT NULL"},
    {"retry", "int(10) unsigned DEFAULT NULL"},
    {"uniqueid", "varchar(32) DEFAULT NULL"},
    {"trunk", "varchar(20) DEFAULT NULL"},
    {"id_agent", "int(10) unsigned DEFAULT NULL"},
    {"duration", "int(10) unsigned DEFAULT NULL"},
    END_COL};
static const char *const call_progress_log_keys[] = {
    "PRIMARY KEY (`id`)",
    "KEY `call_progress_log_ibfk_4` (`id_agent`)",
    "KEY `call_progress_log_ibfk_5` (`id_campaign_incoming`)",
    "KEY `call_progress_log_ibfk_6` (`id_campaign_outgoing`)",
    "KEY `incoming_datetime_entry` (`id_call_incoming`,`datetime_entry`)",
    "KEY `outgoing_datetime_entry` (`id_call_outgoing`,`datetime_entry`)",
    "CONSTRAINT `call_progress_log_ibfk_1` FOREIGN KEY (`id_call_incoming`) REFERENCES "
    "`call_entry` (`id`)",
    "CONSTRAINT `call_progress_log_ibfk_2` FOREIGN KEY (`id_call_outgoing`) REFERENCES `calls` "
    "(`id`)",
    "CONSTRAINT `call_progress_log_ibfk_4` FOREIGN KEY (`id_agent`) REFERENCES `agent` (`id`)",
    "CONSTRAINT `call_progress_log_ibfk_5` FOREIGN KEY (`id_campaign_incoming`) REFERENCES "
    "`campaign_entry` (`id`)",
    "CONSTRAINT `call_progress_log_ibfk_6` FOREIGN KEY (`id_campaign_outgoing`) REFERENCES "
    "`campaign` (`id`)",
    NULL};

static const db_col_t call_recording_cols[] = {
    ID_COL,
    {"datetime_entry", "datetime NOT NULL"},
    {"id_call_incoming", "int(10) unsigned DEFAULT NULL"},
    {"id_call_outgoing", "int(10) unsigned DEFAULT NULL"},
    {"uniqueid", "varchar(32) NOT NULL"},
    {"channel", "varchar(80) NOT NULL"},
    {"recordingfile", "varchar(255) DEFAULT NULL"},
    END_COL};
static const char *const call_recording_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `call_recording_ibfk_1` (`id_call_incoming`)",
    "KEY `call_recording_ibfk_2` (`id_call_outgoing`)",
    "CONSTRAINT `call_recording_ibfk_1` FOREIGN KEY (`id_call_incoming`) REFERENCES "
    "`call_entry` (`id`)",
    "CONSTRAINT `call_recording_ibfk_2` FOREIGN KEY (`id_call_outgoing`) REFERENCES `calls` "
    "(`id`)",
    NULL};

static const db_col_t calls_cols[] = {
    ID_COL,
    {"id_list", "int(10) unsigned NOT NULL"},
    {"phone", "varchar(32) NOT NULL"},
    {"status", "varchar(32) DEFAULT NULL"},
    {"uniqueid", "varchar(32) DEFAULT NULL"},
    {"fecha_llamada", "datetime DEFAULT NULL"},
    {"start_time", "datetime DEFAULT NULL"},
    {"end_time", "datetime DEFAULT NULL"},
    {"retries", "int(10) unsigned NOT NULL DEFAULT '0'"},
    {"duration", "int(10) unsigned DEFAULT NULL"},
    {"id_agent", "int(10) unsigned DEFAULT NULL"},
    {"transfer", "varchar(6) DEFAULT NULL"},
    {"datetime_entry_queue", "datetime DEFAULT NULL"},
    {"duration_wait", "int(11) DEFAULT NULL"},
    {"dnc", "int(1) NOT NULL DEFAULT '0'"},
    {"date_init", "date DEFAULT NULL"},
    {"date_end", "date DEFAULT NULL"},
    {"time_init", "time DEFAULT NULL"},
    {"time_end", "time DEFAULT NULL"},
    {"agent", "varchar(32) DEFAULT NULL"},
    {"failure_cause", "int(10) unsigned DEFAULT NULL"},
    {"failure_cause_txt", "varchar(32) DEFAULT NULL"},
    {"datetime_originate", "datetime DEFAULT NULL"},
    {"trunk", "varchar(20) DEFAULT NULL"},
    {"scheduled", "tinyint(1) NOT NULL DEFAULT '0'"},
    {"callerid", "varchar(15) DEFAULT NULL"},
    END_COL};
static const char *const calls_keys[] = {
    "PRIMARY KEY (`id`)",
    "KEY `id_list` (`id_list`)",
    "KEY `calls_ibfk_2` (`id_agent`)",
    "KEY `campaign_date_schedule` (`id_list`,`date_init`,`date_end`,`time_init`,`time_end`)",
    "KEY `datetime_init` (`start_time`)",
    "KEY `datetime_entry_queue` (`datetime_entry_queue`)",
    "CONSTRAINT `calls_ibfk_1` FOREIGN KEY (`id_list`) REFERENCES `campaign_lists` (`id`)",
    "CONSTRAINT `calls_ibfk_2` FOREIGN KEY (`id_agent`) REFERENCES `agent` (`id`)",
    NULL};

static const db_col_t campaign_lists_cols[] = {
    {"id", "int(11) unsigned NOT NULL AUTO_INCREMENT"},
    {"id_campaign", "int(11) unsigned NOT NULL"},
    {"type", "tinyint(1) NOT NULL DEFAULT '0' COMMENT '0 - out, 1 - in'"},
    {"name", "varchar(255) NOT NULL"},
    {"upload", "varchar(255) NOT NULL"},
    {"date_entered", "datetime NOT NULL"},
    {"status", "tinyint(1) NOT NULL DEFAULT '2' COMMENT '1 - Activa, 2 - Detenida, 3 - Terminada'"},
    {"total_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"pending_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"sent_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"answered_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"no_answer_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"failed_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"paused_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"abandoned_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"short_calls", "int(11) NOT NULL DEFAULT '0'"},
    {"is_recycled", "tinyint(1) NOT NULL DEFAULT '0' COMMENT '0 - False, 1 - True'"},
    {"id_parent_list", "int(11) unsigned DEFAULT NULL"},
    {"is_deleted", "tinyint(1) NOT NULL DEFAULT '0' COMMENT '0 - Activo, 1 - Eliminado'"},
    END_COL};
static const char *const campaign_lists_keys[] = {"PRIMARY KEY (`id`)",
                                                  "KEY `id_campaign` (`id_campaign`)", NULL};

static const db_col_t campaign_cols[] = {
    ID_COL,
    {"name", "varchar(64) NOT NULL"},
    {"datetime_init", "date NOT NULL"},
    {"datetime_end", "date NOT NULL"},
    {"daytime_init", "time NOT NULL"},
    {"daytime_end", "time NOT NULL"},
    {"retries", "int(10) unsigned NOT NULL DEFAULT '1'"},
    {"trunk", "varchar(255) DEFAULT NULL"},
    {"context", "varchar(32) NOT NULL"},
    {"queue", "varchar(16) NOT NULL"},
    {"max_canales", "int(10) unsigned NOT NULL DEFAULT '0'"},
    {"num_completadas", "int(10) unsigned DEFAULT NULL"},
    {"promedio", "int(10) unsigned DEFAULT NULL"},
    {"desviacion", "int(10) unsigned DEFAULT NULL"},
    {"script", "text NOT NULL"},
    {"estatus", "varchar(1) NOT NULL DEFAULT 'A'"},
    {"id_url", "int(10) unsigned DEFAULT NULL"},
    {"callerid", "varchar(15) DEFAULT NULL"},
    END_COL};
static const char *const campaign_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_url` (`id_url`)",
    "CONSTRAINT `campaign_ibfk_1` FOREIGN KEY (`id_url`) REFERENCES `campaign_external_url` (`id`)",
    NULL};

static const db_col_t campaign_entry_cols[] = {
    ID_COL,
    {"name", "varchar(64) NOT NULL DEFAULT ''"},
    {"id_queue_call_entry", "int(10) unsigned NOT NULL"},
    {"id_form", "int(10) unsigned DEFAULT NULL"},
    {"datetime_init", "date NOT NULL"},
    {"datetime_end", "date NOT NULL"},
    {"daytime_init", "time NOT NULL"},
    {"daytime_end", "time NOT NULL"},
    {"estatus", "varchar(1) NOT NULL DEFAULT 'A'"},
    {"script", "text NOT NULL"},
    {"id_url", "int(10) unsigned DEFAULT NULL"},
    END_COL};
static const char *const campaign_entry_keys[] = {
    "PRIMARY KEY (`id`)",
    "KEY `id_queue_call_entry` (`id_queue_call_entry`)",
    "KEY `id_form` (`id_form`)",
    "KEY `id_url` (`id_url`)",
    "CONSTRAINT `campaign_entry_ibfk_1` FOREIGN KEY (`id_queue_call_entry`) REFERENCES "
    "`queue_call_entry` (`id`)",
    "CONSTRAINT `campaign_entry_ibfk_2` FOREIGN KEY (`id_form`) REFERENCES `form` (`id`)",
    "CONSTRAINT `campaign_entry_ibfk_3` FOREIGN KEY (`id_url`) REFERENCES "
    "`campaign_external_url` (`id`)",
    NULL};

static const db_col_t campaign_external_url_cols[] = {
    ID_COL,
    {"urltemplate", "varchar(250) NOT NULL"},
    {"description", "varchar(64) NOT NULL"},
    {"active", "tinyint(1) NOT NULL DEFAULT '1'"},
    {"opentype", "varchar(16) NOT NULL DEFAULT 'window'"},
    END_COL};

static const db_col_t campaign_form_cols[] = {
    {"id_campaign", "int(10) unsigned NOT NULL"}, {"id_form", "int(10) unsigned NOT NULL"}, END_COL};
static const char *const campaign_form_keys[] = {
    "PRIMARY KEY (`id_campaign`,`id_form`)", "KEY `id_campaign` (`id_campaign`)",
    "KEY `id_form` (`id_form`)",
    "CONSTRAINT `campaign_form_ibfk_1` FOREIGN KEY (`id_campaign`) REFERENCES `campaign` (`id`)",
    "CONSTRAINT `campaign_form_ibfk_2` FOREIGN KEY (`id_form`) REFERENCES `form` (`id`)", NULL};
static const char *const campaign_form_entry_keys[] = {
    "PRIMARY KEY (`id_campaign`,`id_form`)", "KEY `id_campaign` (`id_campaign`)",
    "KEY `id_form` (`id_form`)",
    "CONSTRAINT `campaign_form_entry_ibfk_1` FOREIGN KEY (`id_campaign`) REFERENCES "
    "`campaign_entry` (`id`)",
    "CONSTRAINT `campaign_form_entry_ibfk_2` FOREIGN KEY (`id_form`) REFERENCES `form` (`id`)",
    NULL};

static const db_col_t contact_cols[] = {
    ID_COL,
    {"cedula_ruc", "varchar(15) NOT NULL"},
    {"name", "varchar(50) NOT NULL"},
    {"telefono", "varchar(15) NOT NULL"},
    {"apellido", "varchar(50) NOT NULL"},
    {"origen", "varchar(4) DEFAULT 'crm'"},
    END_COL};

static const db_col_t current_call_entry_cols[] = {
    ID_COL,
    {"id_agent", "int(10) unsigned NOT NULL"},
    {"id_queue_call_entry", "int(10) unsigned NOT NULL"},
    {"id_call_entry", "int(10) unsigned NOT NULL"},
    {"callerid", "varchar(15) NOT NULL"},
    {"datetime_init", "datetime NOT NULL"},
    {"uniqueid", "varchar(32) DEFAULT NULL"},
    {"ChannelClient", "varchar(32) DEFAULT NULL"},
    {"hold", "enum('N','S') DEFAULT 'N'"},
    END_COL};
static const char *const current_call_entry_keys[] = {
    "PRIMARY KEY (`id`)",
    "KEY `id_agent` (`id_agent`)",
    "KEY `id_queue_call_entry` (`id_queue_call_entry`)",
    "KEY `id_call_entry` (`id_call_entry`)",
    "CONSTRAINT `current_call_entry_ibfk_1` FOREIGN KEY (`id_agent`) REFERENCES `agent` (`id`)",
    "CONSTRAINT `current_call_entry_ibfk_2` FOREIGN KEY (`id_queue_call_entry`) REFERENCES "
    "`queue_call_entry` (`id`)",
    "CONSTRAINT `current_call_entry_ibfk_3` FOREIGN KEY (`id_call_entry`) REFERENCES "
    "`call_entry` (`id`)",
    NULL};

static const db_col_t current_calls_cols[] = {
    ID_COL,
    {"id_call", "int(10) unsigned NOT NULL"},
    {"fecha_inicio", "datetime NOT NULL"},
    {"uniqueid", "varchar(32) DEFAULT NULL"},
    {"queue", "varchar(16) NOT NULL"},
    {"agentnum", "varchar(16) NOT NULL"},
    {"event", "varchar(32) NOT NULL"},
    {"Channel", "varchar(32) NOT NULL DEFAULT ''"},
    {"ChannelClient", "varchar(32) DEFAULT NULL"},
    {"hold", "enum('N','S') DEFAULT 'N'"},
    END_COL};
static const char *const current_calls_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_call` (`id_call`)",
    "CONSTRAINT `current_calls_ibfk_1` FOREIGN KEY (`id_call`) REFERENCES `calls` (`id`)", NULL};

static const db_col_t dont_call_cols[] = {
    {"id", "int(11) NOT NULL AUTO_INCREMENT"},
    {"caller_id", "varchar(15) NOT NULL"},
    {"date_income", "datetime DEFAULT NULL"},
    {"status", "varchar(1) DEFAULT NULL"},
    END_COL};
static const char *const dont_call_keys[] = {"PRIMARY KEY (`id`)", "KEY `callerid` (`caller_id`)",
                                             NULL};

static const db_col_t eccp_clients_cols[] = {
    ID_COL, {"username", "varchar(64) NOT NULL"}, {"md5_password", "varchar(32) NOT NULL"}, END_COL};

static const db_col_t form_cols[] = {
    ID_COL,
    {"nombre", "varchar(40) NOT NULL"},
    {"descripcion", "varchar(150) NOT NULL"},
    {"estatus", "varchar(1) NOT NULL DEFAULT 'A'"},
    END_COL};

static const db_col_t form_data_cols[] = {
    ID_COL,
    {"id_calls", "int(10) unsigned NOT NULL"},
    {"id_form_field", "int(10) unsigned NOT NULL"},
    {"value", "varchar(250) NOT NULL"},
    END_COL};
static const char *const form_data_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_form_field` (`id_form_field`)", "KEY `id_calls` (`id_calls`)",
    "CONSTRAINT `form_data_recolected_ibfk_1` FOREIGN KEY (`id_form_field`) REFERENCES "
    "`form_field` (`id`)",
    "CONSTRAINT `form_data_recolected_ibfk_2` FOREIGN KEY (`id_calls`) REFERENCES `calls` (`id`)",
    NULL};

static const db_col_t form_data_entry_cols[] = {
    ID_COL,
    {"id_call_entry", "int(10) unsigned NOT NULL"},
    {"id_form_field", "int(10) unsigned NOT NULL"},
    {"value", "varchar(250) NOT NULL"},
    END_COL};
static const char *const form_data_entry_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_call_entry` (`id_call_entry`)",
    "KEY `id_form_field` (`id_form_field`)",
    "CONSTRAINT `form_data_recolected_entry_ibfk_1` FOREIGN KEY (`id_call_entry`) REFERENCES "
    "`call_entry` (`id`)",
    "CONSTRAINT `form_data_recolected_entry_ibfk_2` FOREIGN KEY (`id_form_field`) REFERENCES "
    "`form_field` (`id`)",
    NULL};

static const db_col_t form_field_cols[] = {
    ID_COL,
    {"id_form", "int(10) unsigned NOT NULL"},
    {"etiqueta", "text NOT NULL"},
    {"value", "text NOT NULL"},
    {"tipo", "varchar(25) NOT NULL"},
    {"orden", "int(10) unsigned NOT NULL"},
    END_COL};
static const char *const form_field_keys[] = {
    "PRIMARY KEY (`id`)", "KEY `id_form` (`id_form`)",
    "CONSTRAINT `form_field_ibfk_1` FOREIGN KEY (`id_form`) REFERENCES `form` (`id`)", NULL};

static const db_col_t queue_call_entry_cols[] = {
    ID_COL,
    {"queue", "varchar(50) DEFAULT NULL"},
    {"date_init", "date DEFAULT NULL"},
    {"time_init", "time DEFAULT NULL"},
    {"date_end", "date DEFAULT NULL"},
    {"time_end", "time DEFAULT NULL"},
    {"estatus", "varchar(1) NOT NULL DEFAULT 'A'"},
    {"script", "text"},
    END_COL};

static const db_col_t valor_config_cols[] = {
    {"config_key", "varchar(32) NOT NULL"},
    {"config_value", "varchar(128) NOT NULL"},
    {"config_blob", "blob"},
    END_COL};
static const char *const valor_config_keys[] = {"PRIMARY KEY (`config_key`)", NULL};

#define T(n, c, k) static const db_table_t t_##n = {#n, c, k, OPTS}
T(agent, agent_cols, agent_keys);
T(audit, audit_cols, audit_keys);
T(break, break_cols, pk_only);
T(call_attribute, call_attribute_cols, call_attribute_keys);
T(call_entry, call_entry_cols, call_entry_keys);
T(call_progress_log, call_progress_log_cols, call_progress_log_keys);
T(call_recording, call_recording_cols, call_recording_keys);
T(calls, calls_cols, calls_keys);
T(campaign_lists, campaign_lists_cols, campaign_lists_keys);
T(campaign, campaign_cols, campaign_keys);
T(campaign_entry, campaign_entry_cols, campaign_entry_keys);
T(campaign_external_url, campaign_external_url_cols, pk_only);
T(campaign_form, campaign_form_cols, campaign_form_keys);
T(campaign_form_entry, campaign_form_cols, campaign_form_entry_keys);
T(contact, contact_cols, pk_only);
T(current_call_entry, current_call_entry_cols, current_call_entry_keys);
T(current_calls, current_calls_cols, current_calls_keys);
T(dont_call, dont_call_cols, dont_call_keys);
T(eccp_authorized_clients, eccp_clients_cols, pk_only);
T(form, form_cols, pk_only);
T(form_data_recolected, form_data_cols, form_data_keys);
T(form_data_recolected_entry, form_data_entry_cols, form_data_entry_keys);
T(form_field, form_field_cols, form_field_keys);
T(queue_call_entry, queue_call_entry_cols, pk_only);
T(valor_config, valor_config_cols, valor_config_keys);

static const db_table_t *const issabel_tables[] = {
    &t_agent,
    &t_audit,
    &t_break,
    &t_call_attribute,
    &t_call_entry,
    &t_call_progress_log,
    &t_call_recording,
    &t_calls,
    &t_campaign_lists,
    &t_campaign,
    &t_campaign_entry,
    &t_campaign_external_url,
    &t_campaign_form,
    &t_campaign_form_entry,
    &t_contact,
    &t_current_call_entry,
    &t_current_calls,
    &t_dont_call,
    &t_eccp_authorized_clients,
    &t_form,
    &t_form_data_recolected,
    &t_form_data_recolected_entry,
    &t_form_field,
    &t_queue_call_entry,
    &t_valor_config,
    NULL,
};

const db_table_t *const *db__issabel_tables(void)
{
    return issabel_tables;
}

/* ------------------- migration 1: conditional steps ------------------- */

/* 1 if table.column exists, 0 if not, <0 on error. */
static int column_exists(MYSQL *my, const char *table, const char *column, char *type,
                         size_t typelen)
{
    char q[512];
    snprintf(q, sizeof(q),
             "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
             "AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'",
             table, column);
    if (mysql_query(my, q))
        return CCD_EIO;
    MYSQL_RES *res = mysql_store_result(my);
    if (!res)
        return CCD_EIO;
    MYSQL_ROW row = mysql_fetch_row(res);
    int found = row != NULL;
    if (row && type && typelen)
        snprintf(type, typelen, "%s", row[0] ? row[0] : "");
    mysql_free_result(res);
    return found;
}

static int fail_sql(MYSQL *my, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s (%u)", what, mysql_error(my), mysql_errno(my));
    return CCD_EIO;
}

/* Issabel's firstboot schema lacks PJSIP in agent.type; widen the enum, keeping every value. */
static int step_agent_pjsip(MYSQL *my, char *err, size_t errlen)
{
    char type[256];
    int r = column_exists(my, "agent", "type", type, sizeof(type));
    if (r < 0)
        return fail_sql(my, "agent.type lookup", err, errlen);
    if (r == 0 || strstr(type, "'PJSIP'"))
        return 0;
    if (mysql_query(my, "ALTER TABLE `agent` MODIFY COLUMN `type` "
                        "enum('Agent','SIP','IAX2','PJSIP') NOT NULL DEFAULT 'Agent'"))
        return fail_sql(my, "agent.type PJSIP", err, errlen);
    return 0;
}

/*
 * Very old Issabel databases tie calls to a campaign directly (calls.id_campaign).
 * Give every such campaign one list holding its calls, as Issabel's own upgrade
 * did, so calls belong to a campaign only through id_list.  The old column is
 * kept (nullable) so nothing is lost.
 */
static int step_calls_id_list(MYSQL *my, char *err, size_t errlen)
{
    int r = column_exists(my, "calls", "id_campaign", NULL, 0);
    if (r < 0)
        return fail_sql(my, "calls.id_campaign lookup", err, errlen);
    if (r == 0)
        return 0;
    static const char *const sql[] = {
        "ALTER TABLE `calls` MODIFY COLUMN `id_campaign` int(10) unsigned DEFAULT NULL",
        "INSERT INTO campaign_lists (id_campaign, type, name, upload, date_entered, status, "
        "total_calls) SELECT c.id_campaign, 0, CONCAT('ccd-migrated-', c.id_campaign), '', NOW(), 1, "
        "COUNT(*) FROM calls c WHERE c.id_campaign IS NOT NULL AND (c.id_list IS NULL OR c.id_list = 0) "
        "AND NOT EXISTS (SELECT 1 FROM campaign_lists l WHERE l.id_campaign = c.id_campaign AND "
        "l.name = CONCAT('ccd-migrated-', c.id_campaign)) GROUP BY c.id_campaign",
        "UPDATE calls c JOIN campaign_lists l ON l.id_campaign = c.id_campaign AND l.name = "
        "CONCAT('ccd-migrated-', c.id_campaign) SET c.id_list = l.id WHERE c.id_list IS NULL OR "
        "c.id_list = 0",
        NULL};
    for (int i = 0; sql[i]; i++)
        if (mysql_query(my, sql[i]))
            return fail_sql(my, "calls.id_list migration", err, errlen);
    return 0;
}

/* Issabel's firstboot keys point at calls.id_campaign; ours are on id_list. */
static const char m1_calls_keys[] =
    "ALTER TABLE `calls` ADD KEY IF NOT EXISTS `campaign_date_schedule` "
    "(`id_list`,`date_init`,`date_end`,`time_init`,`time_end`)";

static const db_step_t m1_steps[] = {
    {NULL, &t_agent, NULL},
    {NULL, &t_audit, NULL},
    {NULL, &t_break, NULL},
    {NULL, &t_call_attribute, NULL},
    {NULL, &t_call_entry, NULL},
    {NULL, &t_call_progress_log, NULL},
    {NULL, &t_call_recording, NULL},
    {NULL, &t_calls, NULL},
    {NULL, &t_campaign_lists, NULL},
    {NULL, &t_campaign, NULL},
    {NULL, &t_campaign_entry, NULL},
    {NULL, &t_campaign_external_url, NULL},
    {NULL, &t_campaign_form, NULL},
    {NULL, &t_campaign_form_entry, NULL},
    {NULL, &t_contact, NULL},
    {NULL, &t_current_call_entry, NULL},
    {NULL, &t_current_calls, NULL},
    {NULL, &t_dont_call, NULL},
    {NULL, &t_eccp_authorized_clients, NULL},
    {NULL, &t_form, NULL},
    {NULL, &t_form_data_recolected, NULL},
    {NULL, &t_form_data_recolected_entry, NULL},
    {NULL, &t_form_field, NULL},
    {NULL, &t_queue_call_entry, NULL},
    {NULL, &t_valor_config, NULL},
    {NULL, NULL, step_agent_pjsip},
    {NULL, NULL, step_calls_id_list},
    {m1_calls_keys, NULL, NULL},
    /* Issabel's seed: the hold break every install has. */
    {"INSERT INTO `break` (id, name, description, status, tipo) SELECT 1, 'Hold', 'Hold', 'A', 'H' "
     "FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `break` WHERE tipo = 'H')",
     NULL, NULL},
    {NULL, NULL, NULL},
};

/* --------------------- migration 2: ccdialer additions --------------------- */

/* Which queues a dynamic (SIP/IAX2/PJSIP) agent joins on login, with its penalty:
 * replaces Issabel's astdb QPENALTY keys so no FreePBX database is needed. */
static const db_col_t ccd_agent_queue_cols[] = {
    {"id_agent", "int(10) unsigned NOT NULL"},
    {"queue", "varchar(50) NOT NULL"},
    {"penalty", "int(11) NOT NULL DEFAULT '0'"},
    END_COL};
static const char *const ccd_agent_queue_keys[] = {
    "PRIMARY KEY (`id_agent`,`queue`)", "KEY `queue` (`queue`)",
    "CONSTRAINT `ccd_agent_queue_ibfk_1` FOREIGN KEY (`id_agent`) REFERENCES `agent` (`id`) "
    "ON DELETE CASCADE",
    NULL};
static const db_table_t t_ccd_agent_queue = {"ccd_agent_queue", ccd_agent_queue_cols,
                                             ccd_agent_queue_keys, OPTS};

/* Per-campaign pacing; a campaign without a row uses the defaults (and [dialer] settings). */
static const db_col_t ccd_pacing_cols[] = {
    {"id_campaign", "int(10) unsigned NOT NULL"},
    {"mode", "enum('predictive','progressive') NOT NULL DEFAULT 'predictive'"},
    {"abandon_rate_max", "decimal(5,4) DEFAULT NULL COMMENT 'NULL = [dialer] abandon_rate_max'"},
    {"max_channels", "int(10) unsigned NOT NULL DEFAULT '0' COMMENT 'concurrent cap, 0 = none'"},
    {"retry_backoff_s", "int(10) unsigned DEFAULT NULL COMMENT 'NULL = [dialer] retry_backoff_s'"},
    {"retry_backoff_max_s", "int(10) unsigned NOT NULL DEFAULT '86400'"},
    END_COL};
static const char *const ccd_pacing_keys[] = {
    "PRIMARY KEY (`id_campaign`)",
    "CONSTRAINT `ccd_campaign_pacing_ibfk_1` FOREIGN KEY (`id_campaign`) REFERENCES `campaign` "
    "(`id`) ON DELETE CASCADE",
    NULL};
static const db_table_t t_ccd_pacing = {"ccd_campaign_pacing", ccd_pacing_cols, ccd_pacing_keys,
                                        OPTS};

/* Engine instances sharing the database; a claim whose owner stopped heartbeating is released. */
static const db_col_t ccd_engine_cols[] = {
    {"instance_id", "char(32) NOT NULL"},
    {"hostname", "varchar(255) NOT NULL DEFAULT ''"},
    {"pid", "int(10) unsigned NOT NULL DEFAULT '0'"},
    {"started", "datetime NOT NULL"},
    {"heartbeat", "datetime NOT NULL"},
    END_COL};
static const char *const ccd_engine_keys[] = {"PRIMARY KEY (`instance_id`)",
                                              "KEY `heartbeat` (`heartbeat`)", NULL};
static const db_table_t t_ccd_engine = {"ccd_engine", ccd_engine_cols, ccd_engine_keys, OPTS};

/* Idempotency markers: one row per committed write batch (see db_write.c). */
static const db_col_t ccd_write_batch_cols[] = {
    {"writer_id", "char(40) NOT NULL"},
    {"seq", "bigint(20) unsigned NOT NULL"},
    {"applied", "datetime NOT NULL"},
    END_COL};
static const char *const ccd_write_batch_keys[] = {"PRIMARY KEY (`writer_id`,`seq`)", NULL};
static const db_table_t t_ccd_write_batch = {"ccd_write_batch", ccd_write_batch_cols,
                                             ccd_write_batch_keys, OPTS};

static const db_step_t m2_steps[] = {
    {NULL, &t_ccd_agent_queue, NULL},
    {NULL, &t_ccd_pacing, NULL},
    {NULL, &t_ccd_engine, NULL},
    {NULL, &t_ccd_write_batch, NULL},
    /* Per-number state Issabel's screens ignore: retry back-off, the called party's time zone
     * and the claim that hands a number to exactly one engine cycle. */
    {"ALTER TABLE `calls` "
     "ADD COLUMN IF NOT EXISTS `ccd_next_attempt` datetime DEFAULT NULL, "
     "ADD COLUMN IF NOT EXISTS `ccd_tz` varchar(64) DEFAULT NULL, "
     "ADD COLUMN IF NOT EXISTS `ccd_claim_owner` char(32) DEFAULT NULL, "
     "ADD COLUMN IF NOT EXISTS `ccd_claim_time` datetime DEFAULT NULL, "
     /* Derived from status by the server, so it is right whoever writes status (Issabel's
      * screens included): keeps finished and in-flight rows out of the claim index range. */
     "ADD COLUMN IF NOT EXISTS `ccd_dialable` tinyint(1) AS (`status` IS NULL OR `status` NOT IN "
     "('Success','Placing','Ringing','OnQueue','OnHold')) PERSISTENT, "
     "ADD KEY IF NOT EXISTS `ccd_claim` "
     "(`id_list`,`ccd_dialable`,`ccd_claim_owner`,`dnc`,`retries`,`id`), "
     "ADD KEY IF NOT EXISTS `ccd_claim_owner` (`ccd_claim_owner`)",
     NULL, NULL},
    /* Incoming call updates are keyed by Asterisk's uniqueid; Issabel has no index for it. */
    {"ALTER TABLE `call_entry` ADD KEY IF NOT EXISTS `ccd_uniqueid` (`uniqueid`)", NULL, NULL},
    {NULL, NULL, NULL},
};

/* --------------------- migration 3: the dialer --------------------- */

static const db_step_t m3_steps[] = {
    /* Which Asterisk server ([ami NAME]) dials the campaign (NULL = the first one), and the
     * preview mode (the engine places nothing by itself). */
    {"ALTER TABLE `ccd_campaign_pacing` "
     "ADD COLUMN IF NOT EXISTS `ami_server` varchar(64) DEFAULT NULL "
     "COMMENT '[ami NAME] of the campaign; NULL = the first server', "
     "MODIFY `mode` enum('predictive','progressive','preview') NOT NULL DEFAULT 'predictive'",
     NULL, NULL},
    {NULL, NULL, NULL},
};

/* ------------------- migration 5: the FastAGI scripts' settings ------------------- */

/* What the FastAGI scripts do per outgoing campaign (agi/): with an answering machine
 * (AMD said MACHINE), hang up or play machine_message first; and which message an abandoned
 * caller hears.  A campaign without a row hangs up on machines and plays [agi]
 * abandon_message.  (Version 4 is reserved for other work landing beside this one.) */
static const db_col_t ccd_campaign_agi_cols[] = {
    {"id_campaign", "int(10) unsigned NOT NULL"},
    {"machine_action", "enum('hangup','message') NOT NULL DEFAULT 'hangup'"},
    {"machine_message", "varchar(128) DEFAULT NULL COMMENT 'sound file, no extension'"},
    {"abandon_message", "varchar(128) DEFAULT NULL COMMENT 'NULL = [agi] abandon_message'"},
    END_COL};
static const char *const ccd_campaign_agi_keys[] = {
    "PRIMARY KEY (`id_campaign`)",
    "CONSTRAINT `ccd_campaign_agi_ibfk_1` FOREIGN KEY (`id_campaign`) REFERENCES `campaign` "
    "(`id`) ON DELETE CASCADE",
    NULL};
static const db_table_t t_ccd_campaign_agi = {"ccd_campaign_agi", ccd_campaign_agi_cols,
                                              ccd_campaign_agi_keys, OPTS};

static const db_step_t m5_steps[] = {
    {NULL, &t_ccd_campaign_agi, NULL},
    {NULL, NULL, NULL},
};

/* ---------- migration 6: campaign state shared by restarts and by engines ---------- */

/* What a predictive pacer has learned that its campaign's calls do not tell again at once:
 * the allowance (the risk one more call may take), tuned from thousands of answered calls.
 * Written by the dialer through the durable writer, read when the campaign becomes active,
 * so a restart does not send the campaign back to a cautious start for hours. */
static const db_col_t ccd_pacer_state_cols[] = {
    {"id_campaign", "int(10) unsigned NOT NULL"},
    {"allowance_ppm", "int(10) unsigned NOT NULL COMMENT 'risk one more call may take, per million'"},
    {"abandon_target_ppm", "int(10) unsigned NOT NULL COMMENT 'the target it was tuned for'"},
    {"updated", "datetime NOT NULL"},
    /* migration 7 */
    {"estimates", "text DEFAULT NULL COMMENT 'the pacer''s estimators as a line of text "
                  "(dl_pacer_export_estimates)'"},
    END_COL};
static const char *const ccd_pacer_state_keys[] = {
    "PRIMARY KEY (`id_campaign`)",
    "CONSTRAINT `ccd_pacer_state_ibfk_1` FOREIGN KEY (`id_campaign`) REFERENCES `campaign` "
    "(`id`) ON DELETE CASCADE",
    NULL};
static const db_table_t t_ccd_pacer_state = {"ccd_pacer_state", ccd_pacer_state_cols,
                                             ccd_pacer_state_keys, OPTS};

/* Each outgoing campaign's completed calls as sums (count, seconds, squared seconds) from which
 * campaign.num_completadas / promedio / desviacion are set after each completed call.  Sums
 * add in any order, so engines sharing a campaign each add their calls and none overwrites
 * another's (a running mean kept in one engine's memory would).  Seeded from the campaign
 * row's own figures at the campaign's first completed call (Issabel's, when it ran before). */
static const db_col_t ccd_campaign_stats_cols[] = {
    {"id_campaign", "int(10) unsigned NOT NULL"},
    {"n", "bigint(20) unsigned NOT NULL"},
    {"sum_s", "bigint(20) unsigned NOT NULL"},
    {"sumsq_s", "bigint(20) unsigned NOT NULL"},
    END_COL};
static const char *const ccd_campaign_stats_keys[] = {
    "PRIMARY KEY (`id_campaign`)",
    "CONSTRAINT `ccd_campaign_stats_ibfk_1` FOREIGN KEY (`id_campaign`) REFERENCES `campaign` "
    "(`id`) ON DELETE CASCADE",
    NULL};
static const db_table_t t_ccd_campaign_stats = {"ccd_campaign_stats", ccd_campaign_stats_cols,
                                                ccd_campaign_stats_keys, OPTS};

static const db_step_t m6_steps[] = {
    {NULL, &t_ccd_pacer_state, NULL},
    {NULL, &t_ccd_campaign_stats, NULL},
    {NULL, NULL, NULL},
};

/* ---------- migration 7: the pacer's estimators beside its allowance ---------- */

/* What the pacer knows of its campaign's calls and agents, so that a restart, or the campaign's
 * return to the active list the next morning, does not send it back to learning them (progressive
 * until 50 outcomes and a cycle per agent, then a model built on a few dozen calls).  The table
 * step adds the column to a database migration 6 created. */
static const db_step_t m7_steps[] = {
    {NULL, &t_ccd_pacer_state, NULL},
    {NULL, NULL, NULL},
};

static const db_migration_t migrations[] = {
    {1, "issabel_call_center", m1_steps},
    {2, "ccdialer_core", m2_steps},
    {3, "ccdialer_dialer", m3_steps},
    {5, "ccdialer_agi", m5_steps},
    {6, "ccdialer_campaign_state", m6_steps},
    {7, "ccdialer_pacer_estimates", m7_steps},
};

const db_migration_t *db__migrations(size_t *n)
{
    *n = sizeof(migrations) / sizeof(migrations[0]);
    return migrations;
}
