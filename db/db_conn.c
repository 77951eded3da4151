/*
 * Connections: opening one with our session settings, reconnecting with a
 * back-off, error classification, scripts.
 *
 * A db_conn_t belongs to one thread (a reader or a writer); nothing here
 * takes a lock.  Failures are logged on the up->down transition only, so a
 * database that stays away does not flood the log.
 */
#include "db/db_int.h"

#include <errno.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* A dead server must not hang a DB thread forever inside one statement. */
#define RW_TIMEOUT_S 60

int db_global_init(void)
{
    return mysql_library_init(0, NULL, NULL) ? CCD_ERR : 0;
}

void db_global_end(void)
{
    mysql_library_end();
}

bool db_errno_conn_lost(unsigned int e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
           e == CR_CONN_HOST_ERROR || e == CR_SERVER_LOST_EXTENDED || e == CR_COMMANDS_OUT_OF_SYNC ||
           e == ER_CONNECTION_KILLED || e == ER_SERVER_SHUTDOWN || e == 1927 /* killed */;
}

bool db__errno_unreachable(unsigned int e)
{
    return e == 0 || e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR ||
           e == CR_UNKNOWN_HOST || e == ER_SERVER_SHUTDOWN || e == ER_CON_COUNT_ERROR ||
           db_errno_conn_lost(e);
}

bool db_errno_retryable(unsigned int e)
{
    return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT || db_errno_conn_lost(e);
}

int db__connect(const conf_database_t *cfg, bool use_db, MYSQL **out, char *err, size_t errlen)
{
    return db__connect_e(cfg, use_db, out, NULL, err, errlen);
}

int db__connect_e(const conf_database_t *cfg, bool use_db, MYSQL **out, unsigned int *eno,
                  char *err, size_t errlen)
{
    *out = NULL;
    if (eno)
        *eno = 0;
    MYSQL *my = mysql_init(NULL);
    if (!my) {
        snprintf(err, errlen, "mysql_init: out of memory");
        return CCD_ENOMEM;
    }
    unsigned int ct = (unsigned int)cfg->connect_timeout_s;
    unsigned int rw = RW_TIMEOUT_S;
    my_bool no = 0;
    mysql_optionsv(my, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_optionsv(my, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_optionsv(my, MYSQL_OPT_WRITE_TIMEOUT, &rw);
    mysql_optionsv(my, MYSQL_OPT_RECONNECT, &no); /* we reconnect ourselves, knowing the txn state */
    mysql_optionsv(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* Never read ~/.my.cnf or /etc/mysql: the configuration file is the only source. */
    const char *sock = cfg->socket[0] ? cfg->socket : NULL;
    const char *host = sock ? "localhost" : cfg->host;
    unsigned int port = sock ? 0 : cfg->port;
    if (!sock) {
        unsigned int proto = MYSQL_PROTOCOL_TCP;
        mysql_optionsv(my, MYSQL_OPT_PROTOCOL, &proto);
    }
    if (!mysql_real_connect(my, host, cfg->user, cfg->password, NULL, port, sock, 0)) {
        snprintf(err, errlen, "connect to %s: %s (%u)", sock ? sock : host, mysql_error(my),
                 mysql_errno(my));
        if (eno)
            *eno = mysql_errno(my);
        mysql_close(my);
        return CCD_EIO;
    }
    if (mysql_query(my, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") ||
        mysql_autocommit(my, 1)) {
        snprintf(err, errlen, "session setup: %s (%u)", mysql_error(my), mysql_errno(my));
        mysql_close(my);
        return CCD_EIO;
    }
    if (use_db && mysql_select_db(my, cfg->name)) {
        snprintf(err, errlen, "use %s: %s (%u)", cfg->name, mysql_error(my), mysql_errno(my));
        if (eno)
            *eno = mysql_errno(my);
        mysql_close(my);
        return CCD_EIO;
    }
    *out = my;
    return 0;
}

int db_conn_open(const conf_database_t *cfg, bool use_db, db_conn_t **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    db_conn_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return CCD_ENOMEM;
    }
    int rc = db__connect(cfg, use_db, &c->my, err, errlen);
    if (rc) {
        free(c);
        return rc;
    }
    c->who = "client";
    c->was_up = true;
    *out = c;
    return 0;
}

void db_conn_close(db_conn_t *c)
{
    if (!c)
        return;
    if (c->my)
        mysql_close(c->my);
    free(c);
}

const char *db_conn_error(db_conn_t *c)
{
    return c && c->my ? mysql_error(c->my) : "not connected";
}

MYSQL *db__conn_get(db_conn_t *c, bool *reconnected)
{
    if (reconnected)
        *reconnected = false;
    if (c->my)
        return c->my;
    int64_t now = clk_mono_ms();
    if (now < c->next_try_ms)
        return NULL;
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    if (db__connect(c->cfg, true, &my, err, sizeof(err)) != 0) {
        if (c->was_up || c->failures == 0)
            LOG_WARN(DB_LOG, "%s: database unreachable: %s (retrying with back-off)", c->who, err);
        c->was_up = false;
        c->next_try_ms = now + db__backoff_ms(c->failures, RECONNECT_MIN_MS, RECONNECT_MAX_MS);
        c->failures++;
        return NULL;
    }
    if (c->failures > 0)
        LOG_NOTICE(DB_LOG, "%s: database connection restored after %d attempt(s)", c->who,
                   c->failures);
    c->failures = 0;
    c->next_try_ms = 0;
    c->was_up = true;
    c->my = my;
    if (reconnected)
        *reconnected = true;
    return my;
}

void db__conn_drop(db_conn_t *c)
{
    if (c->my) {
        mysql_close(c->my);
        c->my = NULL;
        LOG_WARN(DB_LOG, "%s: database connection lost", c->who);
    }
}

int64_t db__conn_wait_ms(const db_conn_t *c)
{
    int64_t d = c->next_try_ms - clk_mono_ms();
    return d > 0 ? d : 0;
}

int db__exec(MYSQL *my, const char *sql, char *err, size_t errlen)
{
    if (mysql_query(my, sql)) {
        if (err)
            snprintf(err, errlen, "%s (%u)", mysql_error(my), mysql_errno(my));
        return CCD_EIO;
    }
    /* Drain any result so the connection stays in sync. */
    MYSQL_RES *res = mysql_store_result(my);
    if (res)
        mysql_free_result(res);
    return 0;
}

void db__time_to_my(time_t t, MYSQL_TIME *out)
{
    struct tm tm;
    memset(out, 0, sizeof(*out));
    localtime_r(&t, &tm);
    out->year = (unsigned)tm.tm_year + 1900;
    out->month = (unsigned)tm.tm_mon + 1;
    out->day = (unsigned)tm.tm_mday;
    out->hour = (unsigned)tm.tm_hour;
    out->minute = (unsigned)tm.tm_min;
    out->second = (unsigned)tm.tm_sec;
    out->time_type = MYSQL_TIMESTAMP_DATETIME;
}

typedef struct script_ctx {
    MYSQL *my;
    char *err;
    size_t errlen;
    int nstmt;
} script_ctx_t;

static int script_stmt(const char *p, size_t n, void *vctx)
{
    script_ctx_t *ctx = vctx;
    ctx->nstmt++;
    if (mysql_real_query(ctx->my, p, (unsigned long)n)) {
        int show = n > 80 ? 80 : (int)n;
        snprintf(ctx->err, ctx->errlen, "statement %d (%.*s...): %s (%u)", ctx->nstmt, show, p,
                 mysql_error(ctx->my), mysql_errno(ctx->my));
        return CCD_EIO;
    }
    MYSQL_RES *res = mysql_store_result(ctx->my);
    if (res)
        mysql_free_result(res);
    return 0;
}

int db_exec_script(db_conn_t *c, const char *sql, size_t len, char *err, size_t errlen)
{
    script_ctx_t ctx = {c->my, err, errlen, 0};
    return db__sql_split(sql, len, script_stmt, &ctx);
}

int db_exec_script_file(db_conn_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CCD_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            if (cap > ((size_t)64 << 20)) {
                snprintf(err, errlen, "%s: larger than 64 MiB", path);
                free(buf);
                fclose(f);
                return CCD_ETOOBIG;
            }
            size_t ncap = cap ? cap * 2 : 131072;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return CCD_ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    int rc = db_exec_script(c, buf ? buf : "", len, err, errlen);
    free(buf);
    return rc;
}
