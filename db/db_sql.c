/*
 * Pure helpers: SQL text builders, script splitting, write-batch planning and
 * back-off arithmetic.  No I/O, no globals, no locks (unit-tested alone).
 */
#include "db/db_int.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

int db__sql_create_table(const db_table_t *t, char *buf, size_t len)
{
    if (!len)
        return CCD_ETOOBIG;
    ccd_sbuf_t b;
    ccd_sbuf_init(&b, buf, len);
    ccd_sbuf_printf(&b, "CREATE TABLE IF NOT EXISTS `%s` (", t->name);
    const char *sep = "\n  ";
    for (const db_col_t *c = t->cols; c->name; c++) {
        ccd_sbuf_printf(&b, "%s`%s` %s", sep, c->name, c->def);
        sep = ",\n  ";
    }
    for (const char *const *k = t->keys; k && *k; k++)
        ccd_sbuf_printf(&b, ",\n  %s", *k);
    ccd_sbuf_printf(&b, "\n) %s", t->options ? t->options : "");
    return b.overflow ? CCD_ETOOBIG : (int)b.len;
}

int db__sql_add_columns(const db_table_t *t, char *buf, size_t len)
{
    if (!len)
        return CCD_ETOOBIG;
    ccd_sbuf_t b;
    ccd_sbuf_init(&b, buf, len);
    ccd_sbuf_printf(&b, "ALTER TABLE `%s`", t->name);
    const char *sep = " ";
    int n = 0;
    for (const db_col_t *c = t->cols; c->name; c++) {
        /* A table that exists has its key column; re-adding AUTO_INCREMENT would need a key. */
        if (strstr(c->def, "AUTO_INCREMENT"))
            continue;
        ccd_sbuf_printf(&b, "%sADD COLUMN IF NOT EXISTS `%s` %s", sep, c->name, c->def);
        sep = ", ";
        n++;
    }
    if (n == 0)
        return 0; /* nothing to conform */
    return b.overflow ? CCD_ETOOBIG : (int)b.len;
}

int db__sql_split(const char *sql, size_t len, int (*fn)(const char *p, size_t n, void *ctx),
                  void *ctx)
{
    size_t start = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = sql[i];
        if (quote) {
            if (ch == '\\' && quote != '`' && i + 1 < len)
                i++;
            else if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '\'' || ch == '"' || ch == '`') {
            quote = ch;
        } else if (ch == '-' && i + 2 < len && sql[i + 1] == '-' &&
                   (sql[i + 2] == ' ' || sql[i + 2] == '\t' || sql[i + 2] == '\n')) {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (ch == '#') {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(sql[i] == '*' && sql[i + 1] == '/'))
                i++;
            i++;
        } else if (ch == ';') {
            /* Statements keep their comments; only all-blank/comment pieces are skipped. */
            size_t s = start, e = i;
            while (s < e && (sql[s] == ' ' || sql[s] == '\n' || sql[s] == '\t' || sql[s] == '\r'))
                s++;
            if (s < e) {
                int r = fn(sql + s, e - s, ctx);
                if (r)
                    return r;
            }
            start = i + 1;
        }
    }
    size_t s = start;
    while (s < len && (sql[s] == ' ' || sql[s] == '\n' || sql[s] == '\t' || sql[s] == '\r'))
        s++;
    /* A trailing statement without ';' counts unless it is only comments. */
    if (s < len && sql[s] != '-' && sql[s] != '#' && sql[s] != '/')
        return fn(sql + s, len - s, ctx);
    return 0;
}

int db__write_family(db_write_kind_e kind)
{
    switch (kind) {
    case DB_W_CALL_UPDATE:
        return 0;
    case DB_W_PROGRESS_LOG:
        return 1;
    case DB_W_AUDIT_OPEN:
    case DB_W_AUDIT_CLOSE:
        return 2;
    case DB_W_CURRENT_CALL_ADD:
    case DB_W_CURRENT_CALL_DEL:
        return 3;
    /* the incoming progress and current_call_entry rows read the call_entry row: they
     * stay behind the insert and updates submitted before them */
    case DB_W_CALL_ENTRY_ADD:
    case DB_W_CALL_ENTRY_UPDATE:
    case DB_W_CALL_ENTRY_CONTACT:
    case DB_W_PROGRESS_LOG_ENTRY:
    case DB_W_CURRENT_CALL_ENTRY_ADD:
    case DB_W_CURRENT_CALL_ENTRY_DEL:
        return 4;
    case DB_W_RECORDING_ADD:
        return 5;
    case DB_W_CAMPAIGN_UPDATE:
    case DB_W_PACER_STATE:
    case DB_W_CAMPAIGN_COMPLETED:
        return 6;
    /* A schedule copies the form values of its source call: ordered with the values saved
     * before it.  It inserts new calls rows and updates none, so it commutes with family 0. */
    case DB_W_FORM_VALUE:
    case DB_W_CALL_SCHEDULE:
        return 7;
    default:
        return 8;
    }
}

#define DB_FAMILIES 9

int db__batch_plan(db_write_t *const *ws, int n, int *order, db_run_t *runs)
{
    /* Counting sort by family: stable, so each family keeps submission order.  Writes of
     * different families touch different tables through statements that read no other
     * table, so reordering them inside one transaction cannot change the result. */
    int count[DB_FAMILIES] = {0};
    for (int i = 0; i < n; i++)
        count[db__write_family(ws[i]->kind)]++;
    int pos[DB_FAMILIES];
    int acc = 0;
    for (int f = 0; f < DB_FAMILIES; f++) {
        pos[f] = acc;
        acc += count[f];
    }
    for (int i = 0; i < n; i++)
        order[pos[db__write_family(ws[i]->kind)]++] = i;
    int nruns = 0;
    for (int i = 0; i < n; i++) {
        db_write_kind_e k = ws[order[i]]->kind;
        if (nruns > 0 && runs[nruns - 1].kind == k) {
            runs[nruns - 1].count++;
        } else {
            runs[nruns].kind = k;
            runs[nruns].first = i;
            runs[nruns].count = 1;
            nruns++;
        }
    }
    return nruns;
}

int db__backoff_ms(int attempt, int min_ms, int max_ms)
{
    if (min_ms <= 0)
        min_ms = 1;
    if (max_ms < min_ms)
        max_ms = min_ms;
    int64_t v = min_ms;
    for (int i = 0; i < attempt && v < max_ms; i++)
        v *= 2;
    return v > max_ms ? max_ms : (int)v;
}

int64_t db__retry_delay_s(int base_s, int max_s, uint32_t retries)
{
    if (base_s <= 0 || retries == 0)
        return 0;
    int64_t v = base_s;
    for (uint32_t i = 1; i < retries; i++) {
        v *= 2;
        if ((max_s > 0 && v >= max_s) || v > (int64_t)1 << 40)
            break;
    }
    if (max_s > 0 && v > max_s)
        v = max_s;
    return v;
}

int64_t db_retry_delay_s(int base_s, int max_s, uint32_t retries)
{
    return db__retry_delay_s(base_s, max_s, retries);
}
