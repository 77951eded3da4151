/*
 * db module lifetime: start/stop of the reader and writer threads, the
 * instance id, stats.  See db.h for the design.
 */
#include "db/db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static void make_instance_id(char out[33])
{
    uint8_t r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* No entropy source: pid and clocks still differ between two running engines. */
        uint64_t a = (uint64_t)getpid() ^ ((uint64_t)clk_wall_ms() << 16);
        uint64_t b = (uint64_t)clk_mono_us();
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

db_t *db_new(const conf_database_t *cfg, char *err, size_t errlen)
{
    db_t *db = calloc(1, sizeof(*db));
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->cfg = *cfg;
    make_instance_id(db->instance);
    atomic_store(&db->backpressured, true); /* until a writer has a connection */
    return db;
}

#define START_TRY_MIN_MS 100
#define START_TRY_MAX_MS 5000
#define START_POLL_MS 100
#define START_LOG_EVERY_MS 60000

/* Sleeps ms in slices, asking cancel between them; true when cancelled. */
static bool wait_cancellable(int64_t ms, bool (*cancel)(void *), void *ctx)
{
    int64_t end = clk_mono_ms() + ms;
    for (;;) {
        if (cancel && cancel(ctx))
            return true;
        int64_t left = end - clk_mono_ms();
        if (left <= 0)
            return false;
        int64_t d = left < START_POLL_MS ? left : START_POLL_MS;
        struct timespec ts = {d / 1000, (long)(d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The first connection, waited for while the server is unreachable. */
static int first_connection(db_t *db, bool (*cancel)(void *), void *ctx, db_conn_t **out,
                            char *err, size_t errlen)
{
    int64_t first_ms = clk_mono_ms(), next_log_ms = 0;
    for (int attempt = 0;; attempt++) {
        if (cancel && cancel(ctx)) {
            snprintf(err, errlen, "stopped while waiting for the database");
            return CCD_ECLOSED;
        }
        MYSQL *my = NULL;
        unsigned int eno = 0;
        if (db__connect_e(&db->cfg, true, &my, &eno, err, errlen) == 0) {
            db_conn_t *c = calloc(1, sizeof(*c));
            if (!c) {
                mysql_close(my);
                snprintf(err, errlen, "out of memory");
                return CCD_ENOMEM;
            }
            c->my = my;
            c->who = "start";
            if (attempt > 0)
                LOG_NOTICE(DB_LOG, "database %s reachable after %d attempt(s), %lld ms",
                           db->cfg.name, attempt + 1, (long long)(clk_mono_ms() - first_ms));
            *out = c;
            return 0;
        }
        if (!db__errno_unreachable(eno))
            return CCD_EIO; /* it answered and refused us: waiting will not help */
        int delay = db__backoff_ms(attempt, START_TRY_MIN_MS, START_TRY_MAX_MS);
        int64_t now = clk_mono_ms();
        if (now >= next_log_ms) {
            LOG_WARN(DB_LOG, "database not reachable (%s); waiting for it (attempt %d, next in %d ms)",
                     err, attempt + 1, delay);
            next_log_ms = now + START_LOG_EVERY_MS;
        }
        if (wait_cancellable(delay, cancel, ctx)) {
            snprintf(err, errlen, "stopped while waiting for the database");
            return CCD_ECLOSED;
        }
    }
}

int db_start(db_t *db, bool (*cancel)(void *ctx), void *ctx, char *err, size_t errlen)
{
    if (db_global_init() != 0) {
        snprintf(err, errlen, "the MariaDB client library did not initialise");
        return CCD_ERR;
    }
    db_conn_t *probe = NULL;
    int rc = first_connection(db, cancel, ctx, &probe, err, errlen);
    if (rc)
        return rc;
    int ver = 0;
    if (db_schema_version(probe, &ver) != 0 || ver < DB_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database %s is at schema version %d, this build needs %d: run --init-db",
                 db->cfg.name, ver, DB_SCHEMA_VERSION);
        db_conn_close(probe);
        return CCD_EINVAL;
    }
    if (db_engine_heartbeat(probe, db->instance) != 0)
        LOG_WARN(DB_LOG, "could not register engine instance: %s", db_conn_error(probe));
    db_conn_close(probe);

    db->started = true;
    if (db__writers_start(db, err, errlen) != 0 || db__readers_start(db, err, errlen) != 0) {
        db_stop(db, 0);
        return CCD_ERR;
    }
    LOG_INFO(DB_LOG, "database %s: %d writer(s), %d reader(s), instance %s", db->cfg.name,
             db->nwriters, db->nreaders, db->instance);
    return 0;
}

void db_stop(db_t *db, int drain_ms)
{
    if (!db || !db->started)
        return;
    atomic_store(&db->stopping, true);
    db__readers_stop(db);
    db__writers_stop(db, drain_ms);
    db->started = false;
}

void db_free(db_t *db)
{
    if (!db)
        return;
    db_stop(db, 0);
    free(db);
}

int db_load_agents_now(db_t *db, db_agent_t **out, size_t *n, char *err, size_t errlen)
{
    db_conn_t *c = NULL;
    int rc = db_conn_open(&db->cfg, true, &c, err, errlen);
    if (rc)
        return rc;
    rc = db_load_agents(c, out, n);
    if (rc)
        snprintf(err, errlen, "%s", db_conn_error(c));
    db_conn_close(c);
    return rc;
}

const char *db_instance_id(const db_t *db)
{
    return db->instance;
}

void db_get_stats(db_t *db, db_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    db__writers_stats(db, out);
    out->write_rejected_full = atomic_load(&db->write_rejected_full);
    out->writes_submitted = atomic_load(&db->writes_submitted);
    out->reads_done = atomic_load(&db->reads_done);
    out->reads_failed = atomic_load(&db->reads_failed);
    out->reconnects += atomic_load(&db->reader_reconnects);
    out->backpressured = atomic_load(&db->backpressured);
    db__readers_stats(db, out);
}
