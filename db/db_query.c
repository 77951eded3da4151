/*
 * The one SQL text builder and the one row-fetch helper of the module.
 *
 * Every string that reaches SQL text goes through db__q_str (escaped with
 * the connection's character set by mysql_real_escape_string) and every
 * number through db__q_int, so no caller byte reaches the server unquoted.
 * A builder that ran out of memory remembers it and its run fails with
 * CCD_ENOMEM instead of sending a cut statement.
 */
#include "db/db_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

void db__q_init(db_q_t *q, MYSQL *my)
{
    buf_init(&q->b, 0);
    q->my = my;
    q->err = 0;
}

void db__q_raw(db_q_t *q, const char *s)
{
    if (!q->err && buf_append(&q->b, s, strlen(s)) != 0)
        q->err = CCD_ENOMEM;
}

void db__q_printf(db_q_t *q, const char *fmt, ...)
{
    if (q->err)
        return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        q->err = CCD_ETOOBIG; /* only for short fixed fragments: a bug, not input */
        return;
    }
    db__q_raw(q, tmp);
}

void db__q_str(db_q_t *q, const char *s)
{
    if (q->err)
        return;
    size_t n = strlen(s);
    char *tmp = malloc(2 * n + 3);
    if (!tmp) {
        q->err = CCD_ENOMEM;
        return;
    }
    tmp[0] = '\'';
    unsigned long k = mysql_real_escape_string(q->my, tmp + 1, s, (unsigned long)n);
    tmp[k + 1] = '\'';
    tmp[k + 2] = '\0';
    db__q_raw(q, tmp);
    free(tmp);
}

void db__q_int(db_q_t *q, long long v)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", v);
    db__q_raw(q, t);
}

void db__q_between(db_q_t *q, const char *lo, const char *hi)
{
    db__q_str(q, lo);
    db__q_raw(q, " AND ");
    db__q_str(q, hi);
}

void db__q_limit(db_q_t *q, long long n, long long off)
{
    if (n < 0)
        return;
    db__q_raw(q, " LIMIT ");
    db__q_int(q, n);
    if (off > 0) {
        db__q_raw(q, " OFFSET ");
        db__q_int(q, off);
    }
}

void db__q_free(db_q_t *q)
{
    buf_free(&q->b);
}

int db__q_send(db_q_t *q, unsigned int *eno)
{
    *eno = 0;
    int rc = q->err;
    if (!rc && mysql_real_query(q->my, buf_data(&q->b), (unsigned long)q->b.len) != 0) {
        *eno = mysql_errno(q->my);
        rc = CCD_EIO;
    }
    if (!rc) {
        MYSQL_RES *res = mysql_store_result(q->my);
        if (res)
            mysql_free_result(res);
    }
    db__q_free(q);
    return rc;
}

int db__q_exec(db_q_t *q)
{
    int rc = q->err;
    if (!rc && mysql_real_query(q->my, buf_data(&q->b), (unsigned long)q->b.len) != 0) {
        LOG_WARN(DB_LOG, "SQL failed: %s (%u)", mysql_error(q->my), mysql_errno(q->my));
        rc = CCD_EIO;
    }
    if (!rc) {
        /* A statement that returned rows anyway is drained so the connection stays in sync. */
        MYSQL_RES *res = mysql_store_result(q->my);
        if (res)
            mysql_free_result(res);
    }
    db__q_free(q);
    return rc;
}

/* Copies every row of res into out (cells strdup'd, NULL kept). */
static int rows_from_res(MYSQL_RES *res, db_rows_t *out)
{
    size_t nrows = (size_t)mysql_num_rows(res);
    size_t ncols = mysql_num_fields(res);
    out->nrows = 0;
    out->ncols = ncols;
    size_t ncells = nrows * ncols;
    out->cell = calloc(ncells ? ncells : 1, sizeof(char *));
    if (!out->cell)
        return CCD_ENOMEM;
    MYSQL_ROW row;
    while (out->nrows < nrows && (row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        char **dst = out->cell + out->nrows * ncols;
        out->nrows++; /* counted first so db_rows_free frees a half-copied row */
        for (size_t i = 0; i < ncols; i++) {
            if (!row[i])
                continue;
            dst[i] = malloc(len[i] + 1);
            if (!dst[i])
                return CCD_ENOMEM;
            memcpy(dst[i], row[i], len[i]);
            dst[i][len[i]] = '\0';
        }
    }
    return 0;
}

int db__q_rows(db_q_t *q, db_rows_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = q->err;
    if (!rc && mysql_real_query(q->my, buf_data(&q->b), (unsigned long)q->b.len) != 0) {
        LOG_WARN(DB_LOG, "SQL failed: %s (%u)", mysql_error(q->my), mysql_errno(q->my));
        rc = CCD_EIO;
    }
    db__q_free(q);
    if (rc)
        return rc;
    MYSQL_RES *res = mysql_store_result(q->my);
    if (!res) {
        if (mysql_field_count(q->my) != 0) {
            LOG_WARN(DB_LOG, "SQL result: %s (%u)", mysql_error(q->my), mysql_errno(q->my));
            return CCD_EIO;
        }
        return 0; /* a statement: no rows */
    }
    rc = rows_from_res(res, out);
    mysql_free_result(res);
    if (rc)
        db_rows_free(out);
    return rc;
}

int db__rows(MYSQL *my, const char *sql, db_rows_t *out)
{
    db_q_t q;
    db__q_init(&q, my);
    db__q_raw(&q, sql);
    return db__q_rows(&q, out);
}

void db__sql_clock(db_sqlclock_t *k, time_t now)
{
    if (now <= 0) {
        snprintf(k->now, sizeof(k->now), "NOW()");
        snprintf(k->date, sizeof(k->date), "CURDATE()");
        snprintf(k->time, sizeof(k->time), "CURTIME()");
        snprintf(k->utc, sizeof(k->utc), "UTC_TIMESTAMP()");
        return;
    }
    long long t = (long long)now;
    snprintf(k->now, sizeof(k->now), "FROM_UNIXTIME(%lld)", t);
    snprintf(k->date, sizeof(k->date), "DATE(FROM_UNIXTIME(%lld))", t);
    snprintf(k->time, sizeof(k->time), "TIME(FROM_UNIXTIME(%lld))", t);
    snprintf(k->utc, sizeof(k->utc), "(UTC_TIMESTAMP() + INTERVAL (%lld - UNIX_TIMESTAMP()) SECOND)",
             t);
}

long long db__q_count(db_q_t *q, int *rc)
{
    db_rows_t r;
    *rc = db__q_rows(q, &r);
    if (*rc)
        return 0;
    long long n = r.nrows && r.ncols ? db__ll(db_cell(&r, 0, 0), 0) : 0;
    db_rows_free(&r);
    return n;
}

long long db__ll(const char *s, long long dflt)
{
    return s ? strtoll(s, NULL, 10) : dflt;
}

void db_rows_free(db_rows_t *r)
{
    if (!r || !r->cell)
        return;
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cell[i]);
    free(r->cell);
    r->cell = NULL;
    r->nrows = 0;
}
