/*
 * agi/ internals shared by the server (agi_server.c) and the scripts (agi_sc_*.c).
 * Everything here runs on one worker thread: a session and its script state belong to the
 * worker that accepted it.
 */
#ifndef CCD_AGI_AGI_INT_H
#define CCD_AGI_AGI_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agi/agi.h"
#include "core/buf.h"
#include "core/mq.h"
#include "db/db.h"
#include "reg/reg.h"

#define AGI__MOD "agi"
#define AGI__VAL_LEN 128   /* environment values we keep (channel names, uniqueids, ...) */
#define AGI__MAX_ARGS 64   /* [agi] max_args' ceiling */

typedef struct agi__sess agi__sess_t;
typedef struct agi__worker agi__worker_t;

/* A script: step() is called with the answer to the command it sent last (ans != NULL), or
 * with ans == NULL at the start and when its read job came back (s->job).  It sends the next
 * command (agi__cmd), starts a read job (agi__read), or ends (agi__end). */
typedef struct agi__script {
    const char *name;
    void (*step)(agi__sess_t *s, const agi_item_t *ans);
} agi__script_t;

extern const agi__script_t agi__scripts[];
extern const size_t agi__nscripts;

/* A read job of a script: the db job first, then what the script's run function fills. */
typedef struct agi__job {
    db_read_job_t job;
    agi__sess_t *s;
    void *in;       /* the script's request (owned by the job, freed with it) */
    void *out;      /* the script's result (owned by the job, freed with it) */
    void (*out_free)(void *out); /* frees out and what it owns; NULL = free() */
} agi__job_t;

typedef enum agi__state {
    AGI__ENV = 0,  /* reading the environment */
    AGI__RUN,      /* the script runs: a command or a read job is out */
    AGI__DONE,     /* the script ended: flushing, then the socket closes */
} agi__state_e;

struct agi__sess {
    agi__sess_t *next, *prev; /* the worker's session list */
    agi__worker_t *w;
    int fd;                   /* -1 once closed (the struct may wait for a read job) */
    agi__state_e state;
    agi_parser_t parser;
    buf_t in, out;
    int64_t deadline_ms;      /* the environment's or the current command's (0 = none) */
    bool awaiting;            /* a command is out and not answered yet */
    bool hungup;              /* Asterisk said HANGUP */
    bool want_out;            /* EPOLLOUT armed */
    int jobs_out;             /* read jobs not back yet (the struct lives until 0) */
    agi__job_t *job;          /* the read job that just came back, during step() */
    const struct ags_done *done; /* the agent service's answer just back, during step() */
    /* the environment we use */
    char script_name[64];
    char uniqueid[AGI__VAL_LEN];
    char channel[AGI__VAL_LEN];
    char callerid[AGI__VAL_LEN];
    char extension[AGI__VAL_LEN];
    char args[AGI__MAX_ARGS][AGI__VAL_LEN]; /* agi_arg_1.. */
    int nargs;
    int arg_lines;            /* agi_arg_N lines seen (bounded by [agi] max_args) */
    /* the script */
    const agi__script_t *script;
    int step;                 /* the script's own position */
    char cmd[256];            /* the command out (logs) */
    union {
        long long n[8];
        char text[4][AGI__VAL_LEN];
    } v;                      /* the script's scratch values */
    int set_i;                /* scripts sending a list of SET VARIABLE: the next one */
};

typedef struct agi__stats {
    atomic_ullong accepted, refused_full, finished, hangups, timeouts, protocol_errors,
        unknown_script, commands, db_refused;
} agi__stats_t;

struct agi {
    conf_agi_t cfg;
    agi_deps_t deps;
    int lfd;
    uint16_t port;
    int nworkers;
    agi__worker_t *w;
    int nstarted;
    bool stopped;
    atomic_int nsess;
    agi__stats_t st;
};

struct agi__worker {
    agi_t *a;
    int idx;
    pthread_t th;
    int ep;
    mq_t *mq;                 /* finished read jobs come back here */
    agi__sess_t *sessions;    /* open sessions (closed ones waiting for a job are off it) */
    agi__sess_t *dead;        /* closed this round, freed at its end */
    int jobs_out;
    _Atomic int64_t beat_ms;
};

/* ---- for the scripts (agi_server.c) ---- */

/* Sends "verb arg1 arg2 ..." (args quoted as agi_arg_append does; NULL ends the list) and
 * waits for its answer with the command deadline.  false when it could not be queued (the
 * session is then ended). */
bool agi__cmd(agi__sess_t *s, const char *verb, ...);
/* Starts a read job: run fills job->out (out_size zeroed bytes) on a reader thread; the step
 * is called again with ans == NULL and s->job set when it is back (job.status = run's
 * result).  in is owned by the job from the call on (also on failure); out is freed with
 * out_free (NULL = free()) when the job is.  false when the database refused it or is
 * absent (counted, logged). */
bool agi__read(agi__sess_t *s, int (*run)(db_conn_t *c, db_read_job_t *job), void *in,
               size_t out_size, void (*out_free)(void *out));
/* Ends the script: what is queued is sent, then the socket is closed, and the dialplan goes
 * on after AGI() (AGISTATUS=SUCCESS). */
void agi__end(agi__sess_t *s);
struct ags_req;
/* Submits an agent service request for the session (reply_mq and user are set here); its
 * ags_done_t comes back like a read job: the step is called with ans == NULL and s->done
 * set.  false when there is no service or it refused (logged). */
bool agi__ags_submit(agi__sess_t *s, struct ags_req *req);
/* Posts fn(arg) to the registry (arg freed with free()); false when it was refused. */
bool agi__post(agi__sess_t *s, reg_apply_fn fn, void *arg);
/* The configuration, the database (may be NULL). */
const conf_agi_t *agi__cfg(const agi__sess_t *s);
db_t *agi__db(const agi__sess_t *s);
void agi__count_db_refused(agi__sess_t *s);

/* An answer is "200 result=..." with data equal to text. */
bool agi__data_is(const agi_item_t *ans, const char *text);
/* Copies an answer's data into out (cut), "" when there is none. */
void agi__data_copy(const agi_item_t *ans, char *out, size_t outsz);

#endif
