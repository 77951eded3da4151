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

db_t *db_start(const conf_database_t *cfg, char *err, size_t errlen)
{
    if (db_global_init() != 0) {
        snprintf(err, errlen, "mysql_library_init failed");
        return NULL;
    }
    db_t *db = calloc(1, sizeof(*db));
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->cfg = *cfg;
    if (db->cfg.writer_threads < 1)
        db->cfg.writer_threads = 1;
    if (db->cfg.writer_threads > 16)
        db->cfg.writer_threads = 16;
    if (db->cfg.write_queue_max < 1)
        db->cfg.write_queue_max = 100000;
    if (db->cfg.write_batch_max < 1)
        db->cfg.write_batch_max = 500;
    if (db->cfg.write_batch_max > 10000)
        db->cfg.write_batch_max = 10000;
    /* Callers that build conf_database_t by hand (tools, tests) leave the read bounds 0. */
    if (db->cfg.read_queue_max < 1)
        db->cfg.read_queue_max = 4096;
    if (db->cfg.read_jobs_per_client < 1)
        db->cfg.read_jobs_per_client = 32;
    if (db->cfg.read_jobs_per_address < 1)
        db->cfg.read_jobs_per_address = 1024;
    if (!db->cfg.name[0])
        snprintf(db->cfg.name, sizeof(db->cfg.name), "call_center");
    make_instance_id(db->instance);
    atomic_store(&db->backpressured, true); /* until a writer has a connection */

    /* Fail fast on a wrong configuration (credentials, database name): later outages are
     * ridden out by the threads, a bad config would never heal. */
    db_conn_t *probe = NULL;
    if (db_conn_open(&db->cfg, true, &probe, err, errlen) != 0) {
        free(db);
        return NULL;
    }
    int ver = 0;
    if (db_schema_version(probe, &ver) != 0 || ver < DB_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database %s is at schema version %d, this build needs %d: run --init-db",
                 db->cfg.name, ver, DB_SCHEMA_VERSION);
        db_conn_close(probe);
        free(db);
        return NULL;
    }
    if (db_engine_heartbeat(probe, db->instance) != 0)
        LOG_WARN(DB_LOG, "could not register engine instance: %s", db_conn_error(probe));
    db_conn_close(probe);

    if (db__writers_start(db, err, errlen) != 0 || db__readers_start(db, err, errlen) != 0) {
        db_stop(db, 0);
        return NULL;
    }
    LOG_INFO(DB_LOG, "database %s: %d writer(s), %d reader(s), instance %s", db->cfg.name,
             db->nwriters, db->nreaders, db->instance);
    return db;
}

void db_stop(db_t *db, int drain_ms)
{
    if (!db)
        return;
    atomic_store(&db->stopping, true);
    db__readers_stop(db);
    db__writers_stop(db, drain_ms);
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
