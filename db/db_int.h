/*
 * db internals shared by the db/ sources files (not part of the module API).
 *
 * The pure parts (schema tables, SQL builders, batch planning, back-off)
 * have no I/O and no globals so unit tests link them without a server.
 */
#ifndef CCD_DB_DB_INT_H
#define CCD_DB_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mysql.h>

#include "core/buf.h"
#include "db/db.h"

/* ---- schema description (db_schema.c) ---- */

typedef struct db_col {
    const char *name;
    const char *def; /* type, nullability, default, as in CREATE TABLE */
} db_col_t;

typedef struct db_table {
    const char *name;
    const db_col_t *cols;       /* terminated by {NULL, NULL} */
    const char *const *keys;    /* PRIMARY KEY / KEY / CONSTRAINT clauses, NULL-terminated */
    const char *options;        /* ENGINE=... */
} db_table_t;

/* One migration step: SQL to run, or a C function for what SQL alone cannot decide. */
typedef struct db_step {
    const char *sql;                                     /* NULL when fn is set */
    const db_table_t *table;                             /* create + conform this table */
    int (*fn)(MYSQL *my, char *err, size_t errlen);      /* conditional/data steps */
} db_step_t;

typedef struct db_migration {
    int version;
    const char *name;
    const db_step_t *steps; /* terminated by an all-NULL step */
} db_migration_t;

/* Every migration in version order; *n gets the count. */
const db_migration_t *db__migrations(size_t *n);
/* Issabel's tables as migration 1 creates them (NULL-terminated array). */
const db_table_t *const *db__issabel_tables(void);

/* ---- SQL builders (db_sql.c, pure) ---- */

/* "CREATE TABLE IF NOT EXISTS `t` (...) options".  Returns length, or CCD_ETOOBIG. */
int db__sql_create_table(const db_table_t *t, char *buf, size_t len);
/* "ALTER TABLE `t` ADD COLUMN IF NOT EXISTS `c` def, ..." for every column.  Length or CCD_ETOOBIG. */
int db__sql_add_columns(const db_table_t *t, char *buf, size_t len);
/* Splits a script into statements at ';' outside quotes and comments.  Calls fn for each
 * non-empty statement (not NUL-terminated: p,len).  Returns 0 or fn's first non-zero result. */
int db__sql_split(const char *sql, size_t len, int (*fn)(const char *p, size_t n, void *ctx),
                  void *ctx);

/* ---- batching (db_sql.c, pure) ---- */

/* Tables a kind writes; kinds of different families commute inside a transaction. */
int db__write_family(db_write_kind_e kind);

typedef struct db_run {
    db_write_kind_e kind;
    int first; /* index into the order[] array */
    int count;
} db_run_t;

/*
 * Plans a batch: order[] gets the indexes of ws[] grouped by family with each
 * family's writes in submission order, and runs[] the maximal stretches of one
 * kind in that order (each becomes one bulk execution).  Returns the number
 * of runs (<= n).
 */
int db__batch_plan(db_write_t *const *ws, int n, int *order, db_run_t *runs);

/* The SQL text a bulk write kind runs, generated from its column table (db_write.c), and its
 * parameter count; NULL for compound kinds. */
const char *db__write_sql(db_write_kind_e kind, int *nparams);

/* Reconnect back-off: min_ms doubled per failed attempt (attempt 0 = min_ms), capped at max_ms. */
int db__backoff_ms(int attempt, int min_ms, int max_ms);

/* Retry back-off for a number: base_s * 2^(retries-1), capped by max_s (0 = no cap). */
int64_t db__retry_delay_s(int base_s, int max_s, uint32_t retries);

/* ---- the SQL text builder and row fetch (db_query.c): the only ones in the module ---- */

typedef struct db_q {
    buf_t b;
    MYSQL *my;
    int err; /* first failure while building; the run returns it */
} db_q_t;

/* A clock as SQL text: the server's own (NOW() and friends), or a caller's Unix time
 * formatted as a number (tests and the dialer pin the time a query sees).  Nothing in it
 * comes from outside. */
typedef struct db_sqlclock {
    char now[48], date[64], time[64], utc[96];
} db_sqlclock_t;
void db__sql_clock(db_sqlclock_t *k, time_t now); /* now <= 0: the server's clock */

void db__q_init(db_q_t *q, MYSQL *my);
void db__q_raw(db_q_t *q, const char *s);                 /* SQL text as it is (ours only) */
void db__q_printf(db_q_t *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void db__q_str(db_q_t *q, const char *s);                 /* a quoted, escaped string */
void db__q_int(db_q_t *q, long long v);
void db__q_between(db_q_t *q, const char *lo, const char *hi); /* 'lo' AND 'hi' */
void db__q_limit(db_q_t *q, long long n, long long off);  /* nothing when n < 0 */
void db__q_free(db_q_t *q);
/* Run and free the builder: a statement (0 or CCD_EIO, logged) / every row into out. */
int db__q_exec(db_q_t *q);
/* A statement whose failure the caller classifies (the writer): not logged, *eno = errno. */
int db__q_send(db_q_t *q, unsigned int *eno);
int db__q_rows(db_q_t *q, db_rows_t *out);
/* The first column of the first row as an integer (0 when none); *rc as db__q_rows. */
long long db__q_count(db_q_t *q, int *rc);
/* A fixed query's rows. */
int db__rows(MYSQL *my, const char *sql, db_rows_t *out);
/* strtoll of a cell, dflt for NULL. */
long long db__ll(const char *s, long long dflt);

/* ---- connections (db_conn.c) ---- */

/* A DB thread's connection with reconnect back-off.  Owned by one thread. */
struct db_conn {
    const conf_database_t *cfg; /* NULL for a connection of db_conn_open (no reconnect) */
    MYSQL *my;            /* NULL while disconnected */
    int failures;         /* consecutive failed connects (back-off exponent) */
    int64_t next_try_ms;  /* monotonic: no connect attempt before this */
    bool was_up;          /* log transitions only */
    const char *who;      /* thread role, for logs */
};

/* Opens a raw connection (db_conn_open wraps it).  0 or CCD_EIO + err; _e also gives the
 * client/server error number (0 when none). */
int db__connect(const conf_database_t *cfg, bool use_db, MYSQL **out, char *err, size_t errlen);
int db__connect_e(const conf_database_t *cfg, bool use_db, MYSQL **out, unsigned int *eno,
                  char *err, size_t errlen);
/* True for connect errors that mean "the server is not there (yet)", worth waiting out. */
bool db__errno_unreachable(unsigned int e);

/* Returns a live connection or NULL when the server is unreachable (back-off respected:
 * returns NULL at once while the back-off runs).  *reconnected is set when a new one was made. */
MYSQL *db__conn_get(db_conn_t *c, bool *reconnected);
/* Closes after an error that made the connection unusable. */
void db__conn_drop(db_conn_t *c);
/* Milliseconds until the next connect attempt is allowed (0 = now). */
int64_t db__conn_wait_ms(const db_conn_t *c);

/* Runs one statement; on error logs nothing and fills err.  0 or CCD_EIO. */
int db__exec(MYSQL *my, const char *sql, char *err, size_t errlen);

/* Unix seconds -> MYSQL_TIME (server-local, like Issabel's PHP date()). */
void db__time_to_my(time_t t, MYSQL_TIME *out);

/* ---- the fair read queue (db_fairq.c, pure: no locks, no I/O) ---- */

/*
 * Read jobs by lane and owner.  Inside a lane, owners with queued jobs form a
 * ring served one job per owner per turn (an owner that gets its first job
 * joins at the end of the current turn); each owner's jobs keep their order.
 * Jobs are linked through job->msg.next, so queuing allocates only one small
 * record per owner (and per address) with jobs queued, freed when it has none.
 * Not thread-safe: db_read.c guards it with its lock.
 */
typedef struct db_fairq db_fairq_t;

typedef struct db_fairq_stats {
    size_t depth[DB_LANES];
    size_t high_water; /* the most jobs ever queued (both lanes) */
    uint64_t refused_total, refused_client, refused_address;
} db_fairq_stats_t;

/* Bounds: jobs per lane, per owner (owner != 0, both lanes), per address (addr != "",
 * NORMAL lane only).  NULL on ENOMEM. */
db_fairq_t *db__fairq_new(int max_lane, int max_owner, int max_addr);
/* Frees the queue; it must be empty (db__fairq_pop until NULL first). */
void db__fairq_free(db_fairq_t *q);
/* 0 (queued), CCD_EFULL (a bound: *why = 'T'otal, 'C'lient or 'A'ddress; why may be NULL),
 * CCD_EINVAL (bad lane) or CCD_ENOMEM.  On failure the caller keeps the job. */
int db__fairq_push(db_fairq_t *q, db_read_job_t *job, char *why);
/* The next job of lane (the round-robin turn moves on), or NULL when the lane is empty. */
db_read_job_t *db__fairq_pop(db_fairq_t *q, int lane);
size_t db__fairq_depth(const db_fairq_t *q, int lane);
void db__fairq_stats(const db_fairq_t *q, db_fairq_stats_t *out);

/* ---- the running module (db.c, db_write.c, db_read.c) ---- */

#define DB_READERS 2      /* general readers: NORMAL lane first, then AUTH */
#define DB_AUTH_READERS 1 /* readers of the AUTH lane only */

typedef struct db_writer db_writer_t;

struct db {
    conf_database_t cfg;        /* copy; immutable after db_start */
    char instance[33];          /* immutable after db_start */
    /* The read queue: readq, read_quit and the queue's counters are guarded by read_lock
     * (a leaf lock, never held across SQL or a reply push).  General readers wait on
     * read_cv, the auth reader on read_auth_cv. */
    pthread_mutex_t read_lock;
    pthread_cond_t read_cv, read_auth_cv;
    db_fairq_t *readq;
    bool read_quit;
    pthread_t readers[DB_READERS + DB_AUTH_READERS];
    int nreaders;
    db_writer_t **writers;
    int nwriters;
    atomic_bool backpressured;  /* see db.h */
    atomic_uint_fast64_t writes_submitted;
    atomic_uint_fast64_t write_rejected_full;
    atomic_uint_fast64_t reads_done;
    atomic_uint_fast64_t reads_failed;
    atomic_uint_fast64_t reader_reconnects;
    atomic_bool stopping;
    bool started;               /* db_start got to the threads (main thread only) */
};

int db__writers_start(db_t *db, char *err, size_t errlen);
void db__writers_stop(db_t *db, int drain_ms);
void db__writers_stats(db_t *db, db_stats_t *out);
void db__update_backpressure(db_t *db);

int db__readers_start(db_t *db, char *err, size_t errlen);
void db__readers_stop(db_t *db);
void db__readers_stats(db_t *db, db_stats_t *out);

/* Logging module name. */
#define DB_LOG "db"

#endif
