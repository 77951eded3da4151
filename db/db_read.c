/*
 * Reader threads: run read jobs (db_read_job_t) on their own connection.
 *
 * DB_READERS threads share one bounded job queue; each owns one MYSQL
 * connection (db_conn_t) and reconnects it with a back-off.  A job whose
 * thread has no connection (database away) is answered at once with
 * status CCD_EIO rather than held: reads are retried by their submitters
 * (the dialer's next cycle), unlike writes.  Ownership of a job returns to
 * the submitter through a force-push to job->reply, so it is never lost;
 * if that queue is closed the job is freed here.
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
        LOG_WARN(DB_LOG, "read job reply queue closed; dropping the finished job");
        if (job->msg.free)
            job->msg.free(&job->msg);
    }
}

static void *reader_main(void *arg)
{
    db_t *db = arg;
    log_set_thread_name("db-reader");
    mysql_thread_init();
    db_conn_t conn = {.cfg = &db->cfg, .who = "reader"};
    for (;;) {
        mq_msg_t *m = mq_pop(db->readq, -1);
        if (!m)
            break; /* closed and empty */
        if (m->type == MSG_QUIT) {
            m->free(m);
            break;
        }
        db_read_job_t *job = (db_read_job_t *)m;
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
        int rc = job->run ? job->run(my, job) : CCD_EINVAL;
        unsigned int e = mysql_errno(my);
        if (rc != 0 && db_errno_conn_lost(e)) {
            db__conn_drop(&conn);
        } else {
            /* A run function must not leave a transaction open on a shared connection. */
            unsigned int status = 0;
            if (mariadb_get_infov(my, MARIADB_CONNECTION_SERVER_STATUS, &status) == 0 &&
                (status & SERVER_STATUS_IN_TRANS)) {
                LOG_WARN(DB_LOG, "read job left a transaction open; rolling it back");
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

int db__readers_start(db_t *db, char *err, size_t errlen)
{
    db->readq = mq_new("db-read", 10000, 0);
    if (!db->readq) {
        snprintf(err, errlen, "out of memory for the read queue");
        return CCD_ENOMEM;
    }
    for (int i = 0; i < DB_READERS; i++) {
        if (pthread_create(&db->readers[i], NULL, reader_main, db)) {
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
    for (int i = 0; i < db->nreaders; i++) {
        mq_msg_t *q = mq_msg_quit_new();
        if (q && mq_push_force(db->readq, q) != 0)
            q->free(q);
    }
    mq_close(db->readq);
    for (int i = 0; i < db->nreaders; i++)
        pthread_join(db->readers[i], NULL);
    db->nreaders = 0;
    /* Jobs still queued get their answer (closed) so their submitters can free them. */
    mq_msg_t *rest = mq_pop_all(db->readq);
    while (rest) {
        mq_msg_t *next = rest->next;
        if (rest->type == MSG_QUIT)
            rest->free(rest);
        else
            finish((db_read_job_t *)rest, CCD_ECLOSED);
        rest = next;
    }
    mq_free(db->readq);
    db->readq = NULL;
}

int db_read_submit(db_t *db, db_read_job_t *job)
{
    if (!db || !job || !job->run)
        return CCD_EINVAL;
    if (atomic_load(&db->stopping))
        return CCD_ECLOSED;
    return mq_push(db->readq, &job->msg);
}
