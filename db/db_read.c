/*
 * Reader threads: run read jobs (db_read_job_t) on their own connection.
 *
 * Jobs wait in one fair queue (db_fairq.c: lanes, owners served round-robin,
 * bounds per lane/owner/address) guarded by read_lock.  DB_READERS general
 * threads take the NORMAL lane first and the AUTH lane when it is empty;
 * DB_AUTH_READERS threads take only the AUTH lane, so a login or an agent
 * check never waits behind a long read.  Each thread owns one
 * connection (db_conn_t, handed to run functions) and reconnects it with a back-off.  A job whose
 * thread has no connection (database away) is answered at once with status
 * CCD_EIO rather than held: reads are retried by their submitters (the
 * dialer's next cycle), unlike writes.  Ownership of a job returns to the
 * submitter through a force-push to job->reply, so it is never lost; if that
 * queue is closed the job is freed here.  On stop, readers finish the job they
 * run and jobs still queued come back with CCD_ECLOSED.
 */
#include "db/db_int.h"

#include <stdio.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"


static void finish(db_read_job_t *job, int status)
{
    job->status = status;
    job->msg.type = MSG_DB_READ_DONE;
    if (!job->reply || mq_push_force(job->reply, &job->msg) != 0) {
        LOG_WARN_RL(DB_LOG, "read job reply queue closed; dropping the finished job");
        if (job->msg.free)
            job->msg.free(&job->msg);
    }
}

/* Blocks until a job for this reader is queued (NULL: stopping). */
static db_read_job_t *next_job(db_t *db, bool auth_only)
{
    pthread_mutex_lock(&db->read_lock);
    db_read_job_t *job = NULL;
    while (!db->read_quit) {
        job = auth_only ? NULL : db__fairq_pop(db->readq, DB_LANE_NORMAL);
        if (!job)
            job = db__fairq_pop(db->readq, DB_LANE_AUTH);
        if (job)
            break;
        pthread_cond_wait(auth_only ? &db->read_auth_cv : &db->read_cv, &db->read_lock);
    }
    pthread_mutex_unlock(&db->read_lock);
    return job;
}

static void *reader_run(db_t *db, bool auth_only)
{
    log_set_thread_name(auth_only ? "db-reader-auth" : "db-reader");
    mysql_thread_init();
    db_conn_t conn = {.cfg = &db->cfg, .who = "reader"};
    for (;;) {
        db_read_job_t *job = next_job(db, auth_only);
        if (!job)
            break; /* stopping */
        bool rec = false;
        MYSQL *my = db__conn_get(&conn, &rec);
        if (!my && db__conn_wait_ms(&conn) <= 250) {
            /* A short back-off is worth waiting out rather than failing the job. */
            int64_t d = db__conn_wait_ms(&conn);
            struct timespec ts = {0, (long)d * 1000000L};
            nanosleep(&ts, NULL);
            my = db__conn_get(&conn, &rec);
        }
        if (rec)
            atomic_fetch_add(&db->reader_reconnects, 1);
        if (!my) {
            atomic_fetch_add(&db->reads_failed, 1);
            finish(job, CCD_EIO);
            continue;
        }
        int rc = job->run ? job->run(&conn, job) : CCD_EINVAL;
        unsigned int e = mysql_errno(my);
        if (rc != 0 && db_errno_conn_lost(e)) {
            db__conn_drop(&conn);
        } else {
            /* A run function must not leave a transaction open on a shared connection. */
            unsigned int status = 0;
            if (mariadb_get_infov(my, MARIADB_CONNECTION_SERVER_STATUS, &status) == 0 &&
                (status & SERVER_STATUS_IN_TRANS)) {
                LOG_WARN_RL(DB_LOG, "read job left a transaction open; rolling it back");
                mysql_rollback(my);
            }
        }
        atomic_fetch_add(rc ? &db->reads_failed : &db->reads_done, 1);
        finish(job, rc);
    }
    if (conn.my)
        mysql_close(conn.my);
    mysql_thread_end();
    return NULL;
}

static void *reader_main(void *arg)
{
    return reader_run(arg, false);
}

static void *auth_reader_main(void *arg)
{
    return reader_run(arg, true);
}

int db__readers_start(db_t *db, char *err, size_t errlen)
{
    const conf_database_t *c = &db->cfg;
    db->readq = db__fairq_new(c->read_queue_max, c->read_jobs_per_client, c->read_jobs_per_address);
    if (!db->readq) {
        snprintf(err, errlen, "out of memory for the read queue");
        return CCD_ENOMEM;
    }
    pthread_mutex_init(&db->read_lock, NULL);
    pthread_cond_init(&db->read_cv, NULL);
    pthread_cond_init(&db->read_auth_cv, NULL);
    for (int i = 0; i < DB_READERS + DB_AUTH_READERS; i++) {
        void *(*fn)(void *) = i < DB_READERS ? reader_main : auth_reader_main;
        if (pthread_create(&db->readers[i], NULL, fn, db)) {
            snprintf(err, errlen, "cannot start reader thread");
            return CCD_ERR;
        }
        db->nreaders = i + 1;
    }
    return 0;
}

void db__readers_stop(db_t *db)
{
    if (!db->readq)
        return;
    pthread_mutex_lock(&db->read_lock);
    db->read_quit = true;
    pthread_cond_broadcast(&db->read_cv);
    pthread_cond_broadcast(&db->read_auth_cv);
    pthread_mutex_unlock(&db->read_lock);
    for (int i = 0; i < db->nreaders; i++)
        pthread_join(db->readers[i], NULL);
    db->nreaders = 0;
    /* Jobs still queued get their answer (closed) so their submitters can free them.
     * Every reader has exited and submits are refused (stopping), so no lock is needed. */
    for (int lane = 0; lane < DB_LANES; lane++) {
        db_read_job_t *job;
        while ((job = db__fairq_pop(db->readq, lane)) != NULL)
            finish(job, CCD_ECLOSED);
    }
    db__fairq_free(db->readq);
    db->readq = NULL;
    pthread_cond_destroy(&db->read_cv);
    pthread_cond_destroy(&db->read_auth_cv);
    pthread_mutex_destroy(&db->read_lock);
}

int db_read_submit(db_t *db, db_read_job_t *job)
{
    if (!db || !job || !job->run)
        return CCD_EINVAL;
    if (atomic_load(&db->stopping))
        return CCD_ECLOSED;
    pthread_mutex_lock(&db->read_lock);
    int rc = db->read_quit ? CCD_ECLOSED : db__fairq_push(db->readq, job, NULL);
    if (rc == 0) {
        /* An AUTH job may be taken by either kind of reader: wake one of each. */
        pthread_cond_signal(&db->read_cv);
        if (job->lane == DB_LANE_AUTH)
            pthread_cond_signal(&db->read_auth_cv);
    }
    pthread_mutex_unlock(&db->read_lock);
    return rc;
}

void db__readers_stats(db_t *db, db_stats_t *out)
{
    if (!db->readq)
        return;
    db_fairq_stats_t st;
    pthread_mutex_lock(&db->read_lock);
    db__fairq_stats(db->readq, &st);
    pthread_mutex_unlock(&db->read_lock);
    out->read_queue_depth = st.depth[DB_LANE_NORMAL] + st.depth[DB_LANE_AUTH];
    out->read_queue_high_water = st.high_water;
    out->reads_refused_total = st.refused_total;
    out->reads_refused_client = st.refused_client;
    out->reads_refused_address = st.refused_address;
}
