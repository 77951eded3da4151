/*
 * Writer threads: bounded queue in, batched transactions out.
 *
 * DESIGN
 * - One writer = one thread, one mq (bounded by write_queue_max), one MYSQL
 *   connection and its prepared statements.  A write goes to writer
 *   shard % nwriters, so writes about one call or agent keep their order.
 * - The thread takes up to write_batch_max messages, plans them
 *   (db__batch_plan: grouped by table family, submission order kept inside a
 *   family) and applies them in ONE transaction: first the idempotency marker
 *   INSERT INTO ccd_write_batch (writer_id, seq), then one bulk execution
 *   (STMT_ATTR_ARRAY_SIZE, row-wise binding) per run of same-kind rows, then
 *   COMMIT.
 * - Failure handling, per transaction:
 *     deadlock 1213 / lock wait 1205  -> rollback, short pause, same batch again;
 *     lost connection 2002/2006/2013  -> drop the connection, reconnect with
 *                                        back-off, same batch (same seq) again;
 *     duplicate marker (1062)         -> the earlier attempt did commit: done;
 *     anything else (data the server  -> the batch is retried one write per
 *       refuses, e.g. a foreign key)     transaction; a write refused alone is
 *                                        logged with its content and counted
 *                                        (rows_rejected), never silently lost.
 *   The batch stays in the thread's hands until one of those ends it, so an
 *   accepted write is lost only if db_stop's drain time runs out while the
 *   database is unreachable (logged with the count).
 * - Writer 0 also refreshes this instance's ccd_engine heartbeat and runs
 *   the stale-claim recovery periodically, between batches.
 *
 * Ownership: everything in db_writer_t except the atomics, the flush
 * counters (flush_lock) and the queue belongs to the writer thread.
 */
#include "db/db_int.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define W_MAXP 34  /* most parameters of one statement (call update) */
#define W_MAXS 6   /* string slots per row */
#define W_MAXT 4   /* datetime slots per row */
#define W_SLEN 256 /* longest string column written (+1) */

#define HEARTBEAT_MS 10000
#define RECOVER_MS 60000
#define RECOVER_LEASE_S 180
#define MARKER_GC_BATCHES 512

typedef struct wrow {
    char ind[W_MAXP];
    unsigned long len[W_MAXP];
    long long iv[W_MAXP];
    MYSQL_TIME tv[W_MAXT];
    char sv[W_MAXS][W_SLEN];
} wrow_t;

typedef enum { PT_INT, PT_STR, PT_TIME } ptype_e;
typedef struct pdesc {
    ptype_e t;
    int slot; /* string/time slot; ints use the parameter index */
} pdesc_t;

typedef enum { TX_OK, TX_DEDUP, TX_RETRY, TX_REJECT } tx_e;

static tx_e exec_form_value(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out);
static tx_e exec_schedule(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out);
static tx_e exec_entry_add(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out);
static tx_e exec_progress_entry(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out);
static tx_e exec_current_entry_add(db_writer_t *w, MYSQL *my, db_write_t *x,
                                   unsigned int *err_out);
static tx_e exec_campaign_completed_run(db_writer_t *w, MYSQL *my, db_write_t **ws,
                                        const int *idx, int count, unsigned int *err_out);
static tx_e exec_pacer_state(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out);

/*
 * Each bulk kind is ONE table of columns; its SQL text, its parameter types and its row
 * filling are all derived from that table at start-up (build_kinds), so a bind position
 * cannot drift from the text: a column's '?' and the value bound to it sit on the same line.
 * A fragment's '?' count is checked against its values when the text is built.
 */
typedef enum {
    V_NONE = 0,
    V_FLAG,      /* (set & mask) != 0, set = the uint32_t at off */
    V_BOOL,      /* the bool at off */
    V_CHAR_SET,  /* the char at off != 0 */
    V_CHAR_STR,  /* the char at off as a one-character string */
    V_STR,       /* the string at off */
    V_STR0,      /* the string at off, NULL when empty */
    V_U32,       /* the uint32_t at off */
    V_U32_0,     /* the uint32_t at off, NULL when 0 */
    V_I64_NEG,   /* the int64_t at off, NULL when < 0 */
    V_I32,       /* the int32_t at off */
    V_I32_POS,   /* the int32_t at off, negatives as 0 */
    V_TIME0,     /* the time_t at off, NULL when 0 */
    V_TIME_NOW,  /* the time_t at off, now when 0 */
} vsrc_e;

typedef struct wval {
    vsrc_e src;
    size_t off;   /* in db_write_t */
    uint32_t mask; /* V_FLAG */
} wval_t;

typedef struct wcol {
    const char *frag; /* SET: "col = IF(?, ?, col)"; INSERT: the column name */
    wval_t v[2];      /* what binds to the fragment's '?'s, in order */
} wcol_t;

typedef enum { WK_INSERT = 1, WK_UPDATE, WK_DELETE } wmode_e;

typedef struct wkind {
    wmode_e mode;
    const char *table;
    const wcol_t *cols; /* terminated by {NULL} */
    const char *where;  /* UPDATE / DELETE */
    wval_t wv[2];       /* the where clause's '?'s */
} wkind_t;

#define OFF(m) offsetof(db_write_t, u.m)
#define FLAG(setm, m) {V_FLAG, OFF(setm), (m)}
#define VAL(s, m) {(s), OFF(m), 0}
/* "col = IF(?, ?, col)": written only when the mask bit is in set. */
#define IFSET(col, setm, m, val) {col " = IF(?, ?, " col ")", {FLAG(setm, m), val}}
#define INS(col, val) {col, {val}}

static const wcol_t call_update_cols[] = {
    IFSET("status", call.set, DB_CALL_F_STATUS, VAL(V_STR0, call.status)),
    IFSET("uniqueid", call.set, DB_CALL_F_UNIQUEID, VAL(V_STR0, call.uniqueid)),
    IFSET("fecha_llamada", call.set, DB_CALL_F_FECHA_LLAMADA, VAL(V_TIME0, call.fecha_llamada)),
    IFSET("start_time", call.set, DB_CALL_F_START_TIME, VAL(V_TIME0, call.start_time)),
    IFSET("end_time", call.set, DB_CALL_F_END_TIME, VAL(V_TIME0, call.end_time)),
    IFSET("duration", call.set, DB_CALL_F_DURATION, VAL(V_I64_NEG, call.duration)),
    IFSET("id_agent", call.set, DB_CALL_F_ID_AGENT, VAL(V_U32_0, call.id_agent)),
    IFSET("transfer", call.set, DB_CALL_F_TRANSFER, VAL(V_STR0, call.transfer)),
    IFSET("datetime_entry_queue", call.set, DB_CALL_F_ENTRY_QUEUE,
          VAL(V_TIME0, call.datetime_entry_queue)),
    IFSET("duration_wait", call.set, DB_CALL_F_DURATION_WAIT, VAL(V_I64_NEG, call.duration_wait)),
    IFSET("failure_cause", call.set, DB_CALL_F_FAILURE_CAUSE, VAL(V_I64_NEG, call.failure_cause)),
    IFSET("failure_cause_txt", call.set, DB_CALL_F_FAILURE_CAUSE,
          VAL(V_STR0, call.failure_cause_txt)),
    IFSET("trunk", call.set, DB_CALL_F_TRUNK, VAL(V_STR0, call.trunk)),
    {"ccd_next_attempt = IF(?, NOW() + INTERVAL ? SECOND, ccd_next_attempt)",
     {FLAG(call.set, DB_CALL_F_NEXT_ATTEMPT), VAL(V_I32_POS, call.next_attempt_delay_s)}},
    IFSET("dnc", call.set, DB_CALL_F_DNC, VAL(V_I32, call.dnc)),
    {"ccd_claim_owner = IF(?, NULL, ccd_claim_owner)", {FLAG(call.set, DB_CALL_F_RELEASE)}},
    {"ccd_claim_time = IF(?, NULL, ccd_claim_time)", {FLAG(call.set, DB_CALL_F_RELEASE)}},
    {NULL, {{0}}},
};

static const wcol_t progress_cols[] = {
    INS("datetime_entry", VAL(V_TIME_NOW, progress.datetime_entry)),
    INS("id_campaign_incoming", VAL(V_U32_0, progress.id_campaign_incoming)),
    INS("id_call_incoming", VAL(V_U32_0, progress.id_call_incoming)),
    INS("id_campaign_outgoing", VAL(V_U32_0, progress.id_campaign_outgoing)),
    INS("id_call_outgoing", VAL(V_U32_0, progress.id_call_outgoing)),
    INS("new_status", VAL(V_STR, progress.new_status)),
    INS("retry", VAL(V_I64_NEG, progress.retry)),
    INS("uniqueid", VAL(V_STR0, progress.uniqueid)),
    INS("trunk", VAL(V_STR0, progress.trunk)),
    INS("id_agent", VAL(V_U32_0, progress.id_agent)),
    INS("duration", VAL(V_I64_NEG, progress.duration)),
    {NULL, {{0}}},
};

static const wcol_t audit_open_cols[] = {
    INS("id_agent", VAL(V_U32, audit.id_agent)),
    INS("id_break", VAL(V_U32_0, audit.id_break)),
    INS("datetime_init", VAL(V_TIME_NOW, audit.when)),
    INS("ext_parked", VAL(V_STR0, audit.ext_parked)),
    {NULL, {{0}}},
};

static const wcol_t audit_close_cols[] = {
    {"datetime_end = ?", {VAL(V_TIME_NOW, audit.when)}},
    {"duration = TIMEDIFF(?, datetime_init)", {VAL(V_TIME_NOW, audit.when)}},
    {NULL, {{0}}},
};

static const wcol_t current_add_cols[] = {
    INS("id_call", VAL(V_U32, current.id_call)),
    INS("fecha_inicio", VAL(V_TIME_NOW, current.fecha_inicio)),
    INS("uniqueid", VAL(V_STR0, current.uniqueid)),
    INS("queue", VAL(V_STR, current.queue)),
    INS("agentnum", VAL(V_STR, current.agentnum)),
    INS("event", VAL(V_STR, current.event)),
    INS("Channel", VAL(V_STR, current.channel)),
    INS("ChannelClient", VAL(V_STR0, current.channel_client)),
    {NULL, {{0}}},
};

static const wcol_t entry_update_cols[] = {
    IFSET("status", entry.set, DB_CALL_F_STATUS, VAL(V_STR0, entry.status)),
    IFSET("id_agent", entry.set, DB_CALL_F_ID_AGENT, VAL(V_U32_0, entry.id_agent)),
    IFSET("datetime_init", entry.set, DB_CALL_F_START_TIME, VAL(V_TIME0, entry.datetime_init)),
    IFSET("datetime_end", entry.set, DB_CALL_F_END_TIME, VAL(V_TIME0, entry.datetime_end)),
    IFSET("duration", entry.set, DB_CALL_F_DURATION, VAL(V_I64_NEG, entry.duration)),
    IFSET("duration_wait", entry.set, DB_CALL_F_DURATION_WAIT, VAL(V_I64_NEG, entry.duration_wait)),
    IFSET("transfer", entry.set, DB_CALL_F_TRANSFER, VAL(V_STR0, entry.transfer)),
    {NULL, {{0}}},
};

static const wcol_t recording_cols[] = {
    INS("datetime_entry", VAL(V_TIME_NOW, recording.datetime_entry)),
    INS("id_call_incoming", VAL(V_U32_0, recording.id_call_incoming)),
    INS("id_call_outgoing", VAL(V_U32_0, recording.id_call_outgoing)),
    INS("uniqueid", VAL(V_STR, recording.uniqueid)),
    INS("channel", VAL(V_STR, recording.channel)),
    INS("recordingfile", VAL(V_STR0, recording.recordingfile)),
    {NULL, {{0}}},
};

static const wcol_t campaign_cols[] = {
    {"estatus = IF(?, ?, estatus)", {VAL(V_CHAR_SET, campaign.estatus), VAL(V_CHAR_STR, campaign.estatus)}},
    {NULL, {{0}}},
};

static const wcol_t contact_cols[] = {
    {"id_contact = ?", {VAL(V_U32_0, contact.id_contact)}},
    {NULL, {{0}}},
};

static const wcol_t no_cols[] = {{NULL, {{0}}}};

static const wkind_t wkinds[DB_W_KIND_MAX] = {
    [DB_W_CALL_UPDATE] = {WK_UPDATE, "calls", call_update_cols, "id = ?", {VAL(V_U32, call.id_call)}},
    [DB_W_PROGRESS_LOG] = {WK_INSERT, "call_progress_log", progress_cols, NULL, {{0}}},
    [DB_W_AUDIT_OPEN] = {WK_INSERT, "audit", audit_open_cols, NULL, {{0}}},
    [DB_W_AUDIT_CLOSE] = {WK_UPDATE, "audit", audit_close_cols,
                          "id_agent = ? AND id_break <=> ? AND datetime_end IS NULL",
                          {VAL(V_U32, audit.id_agent), VAL(V_U32_0, audit.id_break)}},
    [DB_W_CURRENT_CALL_ADD] = {WK_INSERT, "current_calls", current_add_cols, NULL, {{0}}},
    [DB_W_CURRENT_CALL_DEL] = {WK_DELETE, "current_calls", no_cols, "id_call = ?",
                               {VAL(V_U32, current.id_call)}},
    [DB_W_CALL_ENTRY_UPDATE] = {WK_UPDATE, "call_entry", entry_update_cols, "uniqueid = ?",
                                {VAL(V_STR, entry.uniqueid)}},
    [DB_W_RECORDING_ADD] = {WK_INSERT, "call_recording", recording_cols, NULL, {{0}}},
    [DB_W_CAMPAIGN_UPDATE] = {WK_UPDATE, "campaign", campaign_cols, "id = ?",
                              {VAL(V_U32, campaign.id_campaign)}},
    [DB_W_CALL_ENTRY_CONTACT] = {WK_UPDATE, "call_entry", contact_cols, "id = ?",
                                 {VAL(V_U32, contact.id_call_entry)}},
    [DB_W_CURRENT_CALL_ENTRY_DEL] = {WK_DELETE, "current_call_entry", no_cols, "uniqueid = ?",
                                     {VAL(V_STR, current_entry.uniqueid)}},
};

/* A kind as the writer runs it: the SQL text and, per parameter, its type, slot and value. */
typedef struct kind_def {
    char sql[1024];
    int np;
    pdesc_t p[W_MAXP];
    wval_t v[W_MAXP];
    tx_e (*exec)(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out);
    /* A compound kind whose run of writes is applied together (in place of exec). */
    tx_e (*exec_run)(db_writer_t *w, MYSQL *my, db_write_t **ws, const int *idx, int count,
                     unsigned int *err_out);
} kind_def_t;

/* Built once (kinds_once) before any writer thread starts, read-only after: no lock. */
static kind_def_t kinds[DB_W_KIND_MAX];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static int count_q(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '?';
    return n;
}

static int nvals(const wval_t *v, int max)
{
    int n = 0;
    while (n < max && v[n].src != V_NONE)
        n++;
    return n;
}

/* Appends the values of one fragment as parameters; a '?' count that does not match its
 * values is a bug in the tables above and stops the program at once. */
static void add_params(kind_def_t *k, const char *frag, const wval_t *v, int max, int *ns, int *nt)
{
    int n = nvals(v, max);
    if (count_q(frag) != n || k->np + n > W_MAXP) {
        LOG_ERR(DB_LOG, "write kind table: '%s' has %d '?' for %d value(s)", frag, count_q(frag), n);
        abort();
    }
    for (int i = 0; i < n; i++) {
        pdesc_t *p = &k->p[k->np];
        switch (v[i].src) {
        case V_STR:
        case V_STR0:
        case V_CHAR_STR:
            *p = (pdesc_t){PT_STR, (*ns)++};
            break;
        case V_TIME0:
        case V_TIME_NOW:
            *p = (pdesc_t){PT_TIME, (*nt)++};
            break;
        default:
            *p = (pdesc_t){PT_INT, 0};
            break;
        }
        if (*ns > W_MAXS || *nt > W_MAXT) {
            LOG_ERR(DB_LOG, "write kind table: too many string/time values at '%s'", frag);
            abort();
        }
        k->v[k->np++] = v[i];
    }
}

static void cat(char *dst, const char *src)
{
    size_t n = strlen(dst), m = strlen(src);
    if (n + m + 1 > sizeof(((kind_def_t *)0)->sql)) {
        LOG_ERR(DB_LOG, "write kind table: statement longer than its buffer");
        abort();
    }
    memcpy(dst + n, src, m + 1);
}

static void build_kinds(void)
{
    for (int kind = 1; kind < DB_W_KIND_MAX; kind++) {
        kind_def_t *k = &kinds[kind];
        const wkind_t *d = &wkinds[kind];
        if (!d->mode)
            continue; /* a compound kind (exec below) */
        int ns = 0, nt = 0;
        char *s = k->sql;
        s[0] = '\0';
        if (d->mode == WK_INSERT) {
            cat(s, "INSERT INTO ");
            cat(s, d->table);
            cat(s, " (");
            for (const wcol_t *c = d->cols; c->frag; c++) {
                cat(s, c == d->cols ? "" : ", ");
                cat(s, c->frag);
                add_params(k, "?", c->v, 2, &ns, &nt);
            }
            cat(s, ") VALUES (");
            for (int i = 0; i < k->np; i++)
                cat(s, i ? ", ?" : "?");
            cat(s, ")");
            continue;
        }
        cat(s, d->mode == WK_UPDATE ? "UPDATE " : "DELETE FROM ");
        cat(s, d->table);
        for (const wcol_t *c = d->cols; c->frag; c++) {
            cat(s, c == d->cols ? " SET " : ", ");
            cat(s, c->frag);
            add_params(k, c->frag, c->v, 2, &ns, &nt);
        }
        cat(s, " WHERE ");
        cat(s, d->where);
        add_params(k, d->where, d->wv, 2, &ns, &nt);
    }
    kinds[DB_W_FORM_VALUE].exec = exec_form_value;
    kinds[DB_W_CALL_SCHEDULE].exec = exec_schedule;
    kinds[DB_W_CALL_ENTRY_ADD].exec = exec_entry_add;
    kinds[DB_W_PROGRESS_LOG_ENTRY].exec = exec_progress_entry;
    kinds[DB_W_CURRENT_CALL_ENTRY_ADD].exec = exec_current_entry_add;
    kinds[DB_W_CAMPAIGN_COMPLETED].exec_run = exec_campaign_completed_run;
    kinds[DB_W_PACER_STATE].exec = exec_pacer_state;
}

const char *db__write_sql(db_write_kind_e kind, int *nparams)
{
    pthread_once(&kinds_once, build_kinds);
    if (kind <= 0 || kind >= DB_W_KIND_MAX || !kinds[kind].sql[0])
        return NULL;
    if (nparams)
        *nparams = kinds[kind].np;
    return kinds[kind].sql;
}

struct db_writer {
    db_t *db;
    int idx;
    pthread_t th;
    bool started;
    mq_t *q;
    db_conn_t conn;
    char writer_id[48];
    uint64_t seq;
    MYSQL_STMT *st[DB_W_KIND_MAX];
    MYSQL_STMT *st_marker;
    bool no_bulk;          /* server without bulk support: one execute per row */
    wrow_t *rows;          /* write_batch_max rows, reused */
    db_write_t **batch;    /* write_batch_max */
    int *order;
    db_run_t *runs;
    int64_t next_heartbeat_ms, next_recover_ms;
    uint64_t batches_since_gc;
    _Atomic int64_t drain_deadline_ms; /* INT64_MAX until db_stop sets it */
    bool ever_connected;       /* so the first connection is not counted as a reconnect */
    char last_err[256];        /* server message of the last failed statement */

    atomic_uint_fast64_t accepted;  /* writes the queue took */
    atomic_uint_fast64_t rows_ok, batches, dedup, retries, reconnects, rejected;
    atomic_uint_fast64_t stmts; /* statements sent (db_stats_t.statements) */
    atomic_uint_fast64_t lat_sum, lat_max;
    atomic_bool connected;
    /* clk_mono_ms() of the writer's last sign of life: its loop, a connection wait, a
     * retry (all come round within about a second unless a MariaDB call hangs) */
    _Atomic int64_t beat_ms;

    pthread_mutex_t flush_lock; /* guards processed; leaf lock */
    pthread_cond_t flush_cond;
    uint64_t processed;         /* writes finished (committed or rejected) */
};

/* ---------------------------- row filling ---------------------------- */

static void p_int(wrow_t *r, int p, long long v, bool null)
{
    r->iv[p] = v;
    r->ind[p] = null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
}

static void p_flag(wrow_t *r, int p, bool on)
{
    p_int(r, p, on ? 1 : 0, false);
}

static void p_str(const kind_def_t *k, wrow_t *r, int p, const char *v, bool null)
{
    int s = k->p[p].slot;
    size_t n = strnlen(v, W_SLEN - 1);
    memcpy(r->sv[s], v, n);
    r->sv[s][n] = '\0';
    r->len[p] = (unsigned long)n;
    r->ind[p] = null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
}

static void p_time(const kind_def_t *k, wrow_t *r, int p, time_t v)
{
    int s = k->p[p].slot;
    if (v == 0) {
        memset(&r->tv[s], 0, sizeof(r->tv[s]));
        r->ind[p] = STMT_INDICATOR_NULL;
        return;
    }
    db__time_to_my(v, &r->tv[s]);
    r->ind[p] = STMT_INDICATOR_NONE;
}

/* One row of binds from the kind's value table (positions follow the table, see above). */
static void fill_row(const db_write_t *w, wrow_t *r)
{
    const kind_def_t *k = &kinds[w->kind];
    memset(r->ind, 0, sizeof(r->ind));
    const char *base = (const char *)w;
    time_t now = time(NULL); /* once per row: a kind binding "now" twice gets one value */
    for (int p = 0; p < k->np; p++) {
        const wval_t *v = &k->v[p];
        const void *at = base + v->off;
        uint32_t u;
        int32_t i32;
        int64_t i64;
        time_t t;
        switch (v->src) {
        case V_FLAG:
            memcpy(&u, at, sizeof(u));
            p_flag(r, p, (u & v->mask) != 0);
            break;
        case V_BOOL:
            p_flag(r, p, *(const bool *)at);
            break;
        case V_CHAR_SET:
            p_flag(r, p, *(const char *)at != 0);
            break;
        case V_CHAR_STR: {
            char es[2] = {*(const char *)at, '\0'};
            p_str(k, r, p, es, false);
            break;
        }
        case V_STR:
        case V_STR0:
            p_str(k, r, p, at, v->src == V_STR0 && ((const char *)at)[0] == '\0');
            break;
        case V_U32:
        case V_U32_0:
            memcpy(&u, at, sizeof(u));
            p_int(r, p, u, v->src == V_U32_0 && u == 0);
            break;
        case V_I64_NEG:
            memcpy(&i64, at, sizeof(i64));
            p_int(r, p, i64, i64 < 0);
            break;
        case V_I32:
        case V_I32_POS:
            memcpy(&i32, at, sizeof(i32));
            p_int(r, p, v->src == V_I32_POS && i32 < 0 ? 0 : i32, false);
            break;
        case V_TIME0:
        case V_TIME_NOW:
            memcpy(&t, at, sizeof(t));
            p_time(k, r, p, t == 0 && v->src == V_TIME_NOW ? now : t);
            break;
        case V_NONE:
            break;
        }
    }
}

/* Points binds at row 0 of rows (bulk, row-wise) or at one row (no bulk). */
static void setup_binds(const kind_def_t *k, wrow_t *row, MYSQL_BIND *b, bool bulk)
{
    memset(b, 0, sizeof(MYSQL_BIND) * (size_t)k->np);
    for (int p = 0; p < k->np; p++) {
        switch (k->p[p].t) {
        case PT_INT:
            b[p].buffer_type = MYSQL_TYPE_LONGLONG;
            b[p].buffer = &row->iv[p];
            break;
        case PT_STR:
            b[p].buffer_type = MYSQL_TYPE_STRING;
            b[p].buffer = row->sv[k->p[p].slot];
            b[p].buffer_length = W_SLEN;
            b[p].length = &row->len[p];
            break;
        case PT_TIME:
            b[p].buffer_type = MYSQL_TYPE_DATETIME;
            b[p].buffer = &row->tv[k->p[p].slot];
            break;
        }
        if (bulk)
            b[p].u.indicator = &row->ind[p];
        else
            b[p].is_null = (my_bool *)&row->ind[p]; /* STMT_INDICATOR_NULL == 1 == true */
    }
}

/* ---------------------------- transactions ---------------------------- */

static void close_stmts(db_writer_t *w)
{
    for (int i = 0; i < DB_W_KIND_MAX; i++)
        if (w->st[i]) {
            mysql_stmt_close(w->st[i]);
            w->st[i] = NULL;
        }
    if (w->st_marker) {
        mysql_stmt_close(w->st_marker);
        w->st_marker = NULL;
    }
}

/* The kind's prepared statement; NULL with *err_out = the failure's errno (taken from the
 * statement before it is closed: the connection's own errno is 0 after a failed prepare). */
static MYSQL_STMT *stmt_for(db_writer_t *w, MYSQL *my, db_write_kind_e kind,
                            unsigned int *err_out)
{
    if (w->st[kind])
        return w->st[kind];
    MYSQL_STMT *st = mysql_stmt_init(my);
    if (!st) {
        *err_out = mysql_errno(my);
        return NULL;
    }
    if (mysql_stmt_prepare(st, kinds[kind].sql, (unsigned long)strlen(kinds[kind].sql))) {
        *err_out = mysql_stmt_errno(st);
        snprintf(w->last_err, sizeof(w->last_err), "%s", mysql_stmt_error(st));
        LOG_WARN_RL(DB_LOG, "%s: prepare failed for kind %d: %s (%u)", w->conn.who, kind,
                 w->last_err, *err_out);
        mysql_stmt_close(st);
        return NULL;
    }
    w->st[kind] = st;
    return st;
}

static tx_e classify(unsigned int e)
{
    if (e == ER_DUP_ENTRY)
        return TX_DEDUP;
    if (db_errno_retryable(e) || e == 0)
        return TX_RETRY;
    return TX_REJECT;
}

/* One text statement of a compound write; the server's error classified. */
static tx_e exec_q(db_writer_t *w, db_q_t *q, unsigned int *err_out)
{
    unsigned int e = 0;
    atomic_fetch_add(&w->stmts, 1);
    if (db__q_send(q, &e) == 0)
        return TX_OK;
    *err_out = e;
    snprintf(w->last_err, sizeof(w->last_err), "%s", mysql_error(q->my));
    return e ? classify(e) : TX_REJECT;
}

/* Text-protocol values of the compound writes: a Unix time as the server's local
 * DATETIME (0 = NULL, or now), a string or NULL when empty, a number or NULL. */
static void q_time(db_q_t *q, time_t t, bool now_if_0)
{
    if (t == 0 && now_if_0)
        t = time(NULL);
    if (t == 0)
        db__q_raw(q, "NULL");
    else
        db__q_printf(q, "FROM_UNIXTIME(%lld)", (long long)t);
}

static void q_str0(db_q_t *q, const char *s)
{
    if (s[0])
        db__q_str(q, s);
    else
        db__q_raw(q, "NULL");
}

static void q_num0(db_q_t *q, long long v, bool null)
{
    if (null)
        db__q_raw(q, "NULL");
    else
        db__q_printf(q, "%lld", v);
}

/* A campaign's completed calls within one run of a batch, summed. */
typedef struct completed_sum {
    uint32_t id_campaign;
    unsigned long long n, sum_s, sumsq_s;
} completed_sum_t;

/* The sums, created from the campaign row's figures at its first completed call, then the
 * row's figures from the sums (population deviation, as Issabel's).  The campaign row is
 * locked first: the insert would otherwise take a shared lock on it and the update an
 * exclusive one, and two engines doing both at once deadlock (measured: 45 % of batches
 * retried when two writers completed calls of one campaign in turn). */
static tx_e exec_campaign_sums(db_writer_t *w, MYSQL *my, const completed_sum_t *c,
                               unsigned int *err_out)
{
    db_q_t q;
    db__q_init(&q, my);
    db__q_printf(&q, "SELECT id FROM campaign WHERE id = %u FOR UPDATE", c->id_campaign);
    tx_e r = exec_q(w, &q, err_out);
    if (r != TX_OK)
        return r;
    db__q_init(&q, my);
    db__q_printf(&q, "INSERT INTO ccd_campaign_stats (id_campaign, n, sum_s, sumsq_s) SELECT id, "
                     "COALESCE(num_completadas, 0) + %llu, COALESCE(promedio, 0) * "
                     "COALESCE(num_completadas, 0) + %llu, ROUND((POW(COALESCE(desviacion, 0), 2) + "
                     "POW(COALESCE(promedio, 0), 2)) * COALESCE(num_completadas, 0)) + %llu FROM "
                     "campaign WHERE id = %u ON DUPLICATE KEY UPDATE n = n + %llu, sum_s = sum_s + "
                     "%llu, sumsq_s = sumsq_s + %llu",
                 c->n, c->sum_s, c->sumsq_s, c->id_campaign, c->n, c->sum_s, c->sumsq_s);
    if ((r = exec_q(w, &q, err_out)) != TX_OK)
        return r;
    db__q_init(&q, my);
    db__q_printf(&q, "UPDATE campaign c JOIN ccd_campaign_stats s ON s.id_campaign = c.id SET "
                     "c.num_completadas = LEAST(s.n, 4294967295), c.promedio = ROUND(s.sum_s / "
                     "s.n), c.desviacion = ROUND(SQRT(GREATEST(s.sumsq_s / s.n - POW(s.sum_s / "
                     "s.n, 2), 0))) WHERE c.id = %u",
                 c->id_campaign);
    return exec_q(w, &q, err_out);
}

static int by_campaign(const void *a, const void *b)
{
    uint32_t x = ((const completed_sum_t *)a)->id_campaign;
    uint32_t y = ((const completed_sum_t *)b)->id_campaign;
    return x < y ? -1 : x > y;
}

/* Sums add in any order, so a run of completed calls costs three statements per campaign
 * rather than per call: summed per campaign (SUMS_MAX campaigns at a time, on the stack),
 * then applied in the order of the campaigns' ids, which is also the order their rows are
 * locked in, so two engines' batches cannot lock two campaigns in opposite orders. */
#define SUMS_MAX 64
static tx_e exec_campaign_completed_run(db_writer_t *w, MYSQL *my, db_write_t **ws,
                                        const int *idx, int count, unsigned int *err_out)
{
    completed_sum_t sums[SUMS_MAX];
    int i = 0;
    while (i < count) {
        int n = 0;
        for (; i < count; i++) {
            const db_w_completed_t *v = &ws[idx[i]]->u.completed;
            int j = 0;
            while (j < n && sums[j].id_campaign != v->id_campaign)
                j++;
            if (j == n) {
                if (n == SUMS_MAX)
                    break; /* applied below, then the rest */
                sums[n++] = (completed_sum_t){.id_campaign = v->id_campaign};
            }
            unsigned long long d = v->duration_s;
            sums[j].n++;
            sums[j].sum_s += d;
            sums[j].sumsq_s += d * d;
        }
        qsort(sums, (size_t)n, sizeof(sums[0]), by_campaign);
        for (int j = 0; j < n; j++) {
            tx_e r = exec_campaign_sums(w, my, &sums[j], err_out);
            if (r != TX_OK)
                return r;
        }
    }
    return TX_OK;
}

/* The campaign's row, inserted or overwritten: the same row again when a batch is replayed.
 * The estimators' line is text of a few KB, past the bulk binds' string slots. */
static tx_e exec_pacer_state(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out)
{
    const db_w_pacer_t *v = &x->u.pacer;
    db_sqlclock_t k;
    db__sql_clock(&k, v->updated);
    db_q_t q;
    db__q_init(&q, my);
    db__q_printf(&q, "INSERT INTO ccd_pacer_state (id_campaign, allowance_ppm, abandon_target_ppm, "
                     "updated, estimates) VALUES (%u, %u, %u, %s, ",
                 v->id_campaign, v->allowance_ppm, v->abandon_target_ppm, k.now);
    if (v->estimates)
        db__q_str(&q, v->estimates);
    else
        db__q_raw(&q, "NULL");
    db__q_raw(&q, ") ON DUPLICATE KEY UPDATE allowance_ppm = VALUES(allowance_ppm), "
                  "abandon_target_ppm = VALUES(abandon_target_ppm), updated = VALUES(updated), "
                  "estimates = COALESCE(VALUES(estimates), estimates)");
    return exec_q(w, &q, err_out);
}

/* The call's one stored value for the field: update it, else insert it. */
static tx_e exec_form_value(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out)
{
    const db_w_form_value_t *v = &x->u.form_value;
    const char *table = v->incoming ? "form_data_recolected_entry" : "form_data_recolected";
    const char *idcol = v->incoming ? "id_call_entry" : "id_calls";
    db_q_t q;
    db__q_init(&q, my);
    db__q_printf(&q, "UPDATE %s SET value = ", table);
    db__q_str(&q, v->value);
    db__q_printf(&q, " WHERE %s = %u AND id_form_field = %u", idcol, v->id_call, v->id_field);
    tx_e r = exec_q(w, &q, err_out);
    if (r != TX_OK)
        return r;
    /* affected_rows is 0 also when the value did not change: insert only when absent. */
    db__q_init(&q, my);
    db__q_printf(&q, "INSERT INTO %s (value, %s, id_form_field) SELECT ", table, idcol);
    db__q_str(&q, v->value);
    db__q_printf(&q, ", %u, %u FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM %s WHERE %s = %u AND "
                     "id_form_field = %u)",
                 v->id_call, v->id_field, table, idcol, v->id_call, v->id_field);
    return exec_q(w, &q, err_out);
}

/* The scheduled call, its attributes and a copy of the source call's form values. */
static tx_e exec_schedule(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out)
{
    db_w_schedule_t *sc = &x->u.schedule;
    db_q_t q;
    db__q_init(&q, my);
    db__q_printf(&q, "INSERT INTO calls (scheduled, id_list, phone, date_init, date_end, time_init, "
                     "time_end, agent) VALUES (1, %u, ", sc->id_list);
    db__q_str(&q, sc->phone);
    for (int i = 0; i < 4; i++) {
        db__q_raw(&q, ", ");
        if (sc->has_window)
            db__q_str(&q, sc->window[i]);
        else
            db__q_raw(&q, "NULL");
    }
    db__q_raw(&q, ", ");
    q_str0(&q, sc->agent);
    db__q_raw(&q, ")");
    tx_e r = exec_q(w, &q, err_out);
    if (r != TX_OK)
        return r;
    sc->new_id = (uint64_t)mysql_insert_id(my);
    db__q_init(&q, my);
    db__q_raw(&q, "INSERT INTO call_attribute (data, id_call) VALUES (");
    db__q_str(&q, sc->attrs ? sc->attrs : "{}");
    db__q_printf(&q, ", %llu)", (unsigned long long)sc->new_id);
    if ((r = exec_q(w, &q, err_out)) != TX_OK)
        return r;
    db__q_init(&q, my);
    db__q_printf(&q, "INSERT INTO form_data_recolected (value, id_form_field, id_calls) SELECT value, "
                     "id_form_field, %llu FROM form_data_recolected WHERE id_calls = %u",
                 (unsigned long long)sc->new_id, sc->from_call);
    return exec_q(w, &q, err_out);
}

/* The call_entry row of a caller joining a queue; its id is kept for the reply.  The
 * contact is the only one with the caller's number (Issabel's rule: none when several). */
static tx_e exec_entry_add(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out)
{
    db_w_call_entry_t *e = &x->u.entry;
    db_q_t q;
    db__q_init(&q, my);
    db__q_raw(&q, "INSERT INTO call_entry (id_agent, id_queue_call_entry, id_contact, callerid, "
                  "datetime_init, datetime_end, duration, status, transfer, "
                  "datetime_entry_queue, duration_wait, uniqueid, id_campaign, trunk) VALUES (");
    q_num0(&q, e->id_agent, e->id_agent == 0);
    db__q_printf(&q, ", %u, ", e->id_queue_call_entry);
    if (e->id_contact) {
        db__q_printf(&q, "%u", e->id_contact);
    } else if (e->match_contact && e->callerid[0]) {
        db__q_raw(&q, "(SELECT IF(COUNT(*) = 1, MIN(id), NULL) FROM contact WHERE telefono = ");
        db__q_str(&q, e->callerid);
        db__q_raw(&q, ")");
    } else {
        db__q_raw(&q, "NULL");
    }
    db__q_raw(&q, ", ");
    db__q_str(&q, e->callerid);
    db__q_raw(&q, ", ");
    q_time(&q, e->datetime_init, false);
    db__q_raw(&q, ", ");
    q_time(&q, e->datetime_end, false);
    db__q_raw(&q, ", ");
    q_num0(&q, e->duration, e->duration < 0);
    db__q_raw(&q, ", ");
    q_str0(&q, e->status);
    db__q_raw(&q, ", ");
    q_str0(&q, e->transfer);
    db__q_raw(&q, ", ");
    q_time(&q, e->datetime_entry_queue, false);
    db__q_raw(&q, ", ");
    q_num0(&q, e->duration_wait, e->duration_wait < 0);
    db__q_raw(&q, ", ");
    q_str0(&q, e->uniqueid);
    db__q_raw(&q, ", ");
    q_num0(&q, e->id_campaign, e->id_campaign == 0);
    db__q_raw(&q, ", ");
    db__q_str(&q, e->trunk);
    db__q_raw(&q, ")");
    tx_e r = exec_q(w, &q, err_out);
    if (r == TX_OK)
        e->new_id = (uint64_t)mysql_insert_id(my);
    return r;
}

/* One call_progress_log row of an incoming call: the call and its campaign are those
 * of the newest call_entry row with the uniqueid (none: logged, nothing written). */
static tx_e exec_progress_entry(db_writer_t *w, MYSQL *my, db_write_t *x, unsigned int *err_out)
{
    const db_w_progress_t *p = &x->u.progress;
    db_q_t q;
    db__q_init(&q, my);
    db__q_raw(&q, "INSERT INTO call_progress_log (datetime_entry, id_campaign_incoming, "
                  "id_call_incoming, new_status, retry, uniqueid, trunk, id_agent, duration) "
                  "SELECT ");
    q_time(&q, p->datetime_entry, true);
    db__q_raw(&q, ", id_campaign, id, ");
    db__q_str(&q, p->new_status);
    db__q_raw(&q, ", ");
    q_num0(&q, p->retry, p->retry < 0);
    db__q_raw(&q, ", uniqueid, trunk, ");
    q_num0(&q, p->id_agent, p->id_agent == 0);
    db__q_raw(&q, ", ");
    q_num0(&q, p->duration, p->duration < 0);
    db__q_raw(&q, " FROM call_entry WHERE uniqueid = ");
    db__q_str(&q, p->uniqueid);
    db__q_raw(&q, " ORDER BY id DESC LIMIT 1");
    tx_e r = exec_q(w, &q, err_out);
    if (r == TX_OK && mysql_affected_rows(my) == 0)
        LOG_WARN_RL(DB_LOG, "%s: progress '%s' of an incoming call without a call_entry row "
                            "uniqueid=%s",
                    w->conn.who, p->new_status, p->uniqueid);
    return r;
}

/* The current_call_entry row of a linked incoming call, from its call_entry row. */
static tx_e exec_current_entry_add(db_writer_t *w, MYSQL *my, db_write_t *x,
                                   unsigned int *err_out)
{
    const db_w_current_entry_t *e = &x->u.current_entry;
    db_q_t q;
    db__q_init(&q, my);
    db__q_printf(&q, "INSERT INTO current_call_entry (id_agent, id_queue_call_entry, "
                     "id_call_entry, callerid, datetime_init, uniqueid, ChannelClient, hold) "
                     "SELECT %u, id_queue_call_entry, id, callerid, ",
                 e->id_agent);
    q_time(&q, e->datetime_init, true);
    db__q_raw(&q, ", uniqueid, ");
    q_str0(&q, e->channel_client);
    db__q_raw(&q, ", 'N' FROM call_entry WHERE uniqueid = ");
    db__q_str(&q, e->uniqueid);
    db__q_raw(&q, " ORDER BY id DESC LIMIT 1");
    tx_e r = exec_q(w, &q, err_out);
    if (r == TX_OK && mysql_affected_rows(my) == 0)
        LOG_WARN_RL(DB_LOG, "%s: current_call_entry of an incoming call without a call_entry "
                            "row uniqueid=%s",
                    w->conn.who, e->uniqueid);
    return r;
}

static tx_e run_kind(db_writer_t *w, MYSQL *my, db_write_kind_e kind, db_write_t **ws,
                     const int *idx, int count, unsigned int *err_out)
{
    if (kinds[kind].exec_run)
        return kinds[kind].exec_run(w, my, ws, idx, count, err_out);
    if (kinds[kind].exec) {
        for (int i = 0; i < count; i++) {
            tx_e r = kinds[kind].exec(w, my, ws[idx[i]], err_out);
            if (r != TX_OK)
                return r;
        }
        return TX_OK;
    }
    MYSQL_STMT *st = stmt_for(w, my, kind, err_out);
    if (!st) {
        /* No errno at all: nothing says the data is at fault, so the batch is kept. */
        tx_e r = classify(*err_out);
        return r == TX_DEDUP ? TX_REJECT : r;
    }
    const kind_def_t *k = &kinds[kind];
    MYSQL_BIND b[W_MAXP];
    for (int i = 0; i < count; i++)
        fill_row(ws[idx[i]], &w->rows[i]);
    if (!w->no_bulk && count > 1) {
        unsigned int n = (unsigned int)count;
        size_t rs = sizeof(wrow_t);
        setup_binds(k, &w->rows[0], b, true);
        if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &n) == 0 &&
            mysql_stmt_attr_set(st, STMT_ATTR_ROW_SIZE, &rs) == 0 &&
            mysql_stmt_bind_param(st, b) == 0) {
            int e = mysql_stmt_execute(st);
            atomic_fetch_add(&w->stmts, 1);
            unsigned int zero = 0;
            mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &zero);
            size_t zrs = 0;
            mysql_stmt_attr_set(st, STMT_ATTR_ROW_SIZE, &zrs);
            if (e == 0)
                return TX_OK;
            *err_out = mysql_stmt_errno(st);
            snprintf(w->last_err, sizeof(w->last_err), "%s", mysql_stmt_error(st));
            return classify(*err_out);
        }
        LOG_NOTICE(DB_LOG, "%s: bulk execution unavailable (%s); one execute per row",
                   w->conn.who, mysql_stmt_error(st));
        w->no_bulk = true;
        unsigned int zero = 0;
        mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &zero);
    }
    for (int i = 0; i < count; i++) {
        setup_binds(k, &w->rows[i], b, false);
        atomic_fetch_add(&w->stmts, 1);
        if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st)) {
            *err_out = mysql_stmt_errno(st);
            snprintf(w->last_err, sizeof(w->last_err), "%s", mysql_stmt_error(st));
            return classify(*err_out);
        }
    }
    return TX_OK;
}

static tx_e marker(db_writer_t *w, MYSQL *my, uint64_t seq, unsigned int *err_out)
{
    if (!w->st_marker) {
        static const char q[] =
            "INSERT INTO ccd_write_batch (writer_id, seq, applied) VALUES (?, ?, NOW())";
        MYSQL_STMT *st = mysql_stmt_init(my);
        if (!st || mysql_stmt_prepare(st, q, sizeof(q) - 1)) {
            *err_out = st ? mysql_stmt_errno(st) : mysql_errno(my);
            if (st)
                mysql_stmt_close(st);
            return *err_out ? classify(*err_out) : TX_RETRY;
        }
        w->st_marker = st;
    }
    MYSQL_BIND b[2];
    memset(b, 0, sizeof(b));
    unsigned long idlen = (unsigned long)strlen(w->writer_id);
    unsigned long long s = seq;
    b[0].buffer_type = MYSQL_TYPE_STRING;
    b[0].buffer = w->writer_id;
    b[0].buffer_length = idlen;
    b[0].length = &idlen;
    b[1].buffer_type = MYSQL_TYPE_LONGLONG;
    b[1].buffer = &s;
    b[1].is_unsigned = 1;
    atomic_fetch_add(&w->stmts, 1);
    if (mysql_stmt_bind_param(w->st_marker, b) || mysql_stmt_execute(w->st_marker)) {
        *err_out = mysql_stmt_errno(w->st_marker);
        return classify(*err_out);
    }
    return TX_OK;
}

/* Applies ws[0..n) in one transaction tagged seq. */
static tx_e apply(db_writer_t *w, MYSQL *my, db_write_t **ws, int n, uint64_t seq,
                  unsigned int *err_out)
{
    *err_out = 0;
    w->last_err[0] = '\0';
    if (mysql_query(my, "START TRANSACTION")) {
        *err_out = mysql_errno(my);
        return classify(*err_out);
    }
    tx_e r = marker(w, my, seq, err_out);
    if (r != TX_OK)
        goto rollback;
    int nruns = db__batch_plan(ws, n, w->order, w->runs);
    for (int i = 0; i < nruns; i++) {
        r = run_kind(w, my, w->runs[i].kind, ws, w->order + w->runs[i].first, w->runs[i].count,
                     err_out);
        if (r != TX_OK) {
            if (r == TX_DEDUP)
                r = TX_REJECT; /* a duplicate key in data, not in the marker */
            goto rollback;
        }
    }
    if (mysql_commit(my)) {
        *err_out = mysql_errno(my);
        r = classify(*err_out);
        if (r == TX_DEDUP)
            r = TX_REJECT;
        goto rollback;
    }
    return TX_OK;
rollback:
    if (!db_errno_conn_lost(*err_out))
        mysql_rollback(my);
    return r;
}

/* ------------------------------ the thread ------------------------------ */

/* A finished write goes back to its submitter when it asked for it, else it is freed. */
static void write_done(db_write_t *x, int status)
{
    if (x->reply) {
        x->status = status;
        x->msg.type = MSG_DB_WRITE_DONE;
        if (mq_push_force(x->reply, &x->msg) == 0)
            return;
        LOG_WARN(DB_LOG, "write reply queue closed; dropping the finished write (kind %d)",
                 (int)x->kind);
    }
    x->msg.free(&x->msg);
}

static void account_done(db_writer_t *w, db_write_t **ws, int n, bool committed)
{
    int64_t now = clk_mono_us();
    uint64_t sum = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        uint64_t lat = (uint64_t)(now - ws[i]->submit_us);
        sum += lat;
        if (lat > mx)
            mx = lat;
        write_done(ws[i], committed ? 0 : CCD_EIO);
        ws[i] = NULL;
    }
    if (committed) {
        atomic_fetch_add(&w->rows_ok, (uint64_t)n);
        atomic_fetch_add(&w->lat_sum, sum);
        uint64_t cur = atomic_load(&w->lat_max);
        while (mx > cur && !atomic_compare_exchange_weak(&w->lat_max, &cur, mx))
            ;
    }
    pthread_mutex_lock(&w->flush_lock);
    w->processed += (uint64_t)n;
    pthread_cond_broadcast(&w->flush_cond);
    pthread_mutex_unlock(&w->flush_lock);
}

static void beat(db_writer_t *w)
{
    atomic_store_explicit(&w->beat_ms, clk_mono_ms(), memory_order_relaxed);
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void log_rejected(const db_writer_t *w, const db_write_t *x, unsigned int e, const char *msg)
{
    /* Content, not secrets: ids and statuses only. */
    switch (x->kind) {
    case DB_W_CALL_UPDATE:
        LOG_ERR_RL(DB_LOG, "%s: write refused by the server (%u %s): call %u set=0x%x status=%s",
                w->conn.who, e, msg, x->u.call.id_call, x->u.call.set, x->u.call.status);
        break;
    case DB_W_PROGRESS_LOG:
        LOG_ERR_RL(DB_LOG, "%s: write refused (%u %s): progress call_out=%u call_in=%u status=%s",
                w->conn.who, e, msg, x->u.progress.id_call_outgoing, x->u.progress.id_call_incoming,
                x->u.progress.new_status);
        break;
    case DB_W_CALL_ENTRY_ADD:
    case DB_W_PROGRESS_LOG_ENTRY:
    case DB_W_CURRENT_CALL_ENTRY_ADD:
    case DB_W_CURRENT_CALL_ENTRY_DEL: {
        const char *uid = x->kind == DB_W_CALL_ENTRY_ADD        ? x->u.entry.uniqueid
                          : x->kind == DB_W_PROGRESS_LOG_ENTRY ? x->u.progress.uniqueid
                                                               : x->u.current_entry.uniqueid;
        LOG_ERR_RL(DB_LOG, "%s: write refused by the server (%u %s): kind %d uniqueid=%s",
                   w->conn.who, e, msg, (int)x->kind, uid);
        break;
    }
    default:
        LOG_ERR_RL(DB_LOG, "%s: write refused by the server (%u %s): kind %d", w->conn.who, e, msg,
                (int)x->kind);
        break;
    }
}

static bool past_deadline(db_writer_t *w)
{
    return clk_mono_ms() >= atomic_load(&w->drain_deadline_ms);
}

static void note_connected(db_writer_t *w)
{
    close_stmts(w);
    if (w->ever_connected)
        atomic_fetch_add(&w->reconnects, 1);
    w->ever_connected = true;
}

/* Waits for a connection; NULL once db_stop's drain time has run out. */
static MYSQL *wait_conn(db_writer_t *w)
{
    for (;;) {
        beat(w);
        bool rec = false;
        MYSQL *my = db__conn_get(&w->conn, &rec);
        if (my) {
            if (rec)
                note_connected(w);
            if (!atomic_load(&w->connected)) {
                atomic_store(&w->connected, true);
                db__update_backpressure(w->db);
            }
            return my;
        }
        if (atomic_load(&w->connected)) {
            atomic_store(&w->connected, false);
            db__update_backpressure(w->db);
        }
        if (past_deadline(w))
            return NULL;
        int64_t d = db__conn_wait_ms(&w->conn);
        sleep_ms(d > 200 ? 200 : (d < 10 ? 10 : d));
    }
}

/* Commits ws[0..n) whatever it takes; returns false only when db_stop's drain time ran out
 * before the database let it (the caller counts those writes as lost, loudly). */
static bool commit_batch(db_writer_t *w, db_write_t **ws, int n)
{
    uint64_t seq = ++w->seq;
    int attempt = 0;
    for (;;) {
        beat(w);
        MYSQL *my = wait_conn(w);
        if (!my)
            return false;
        if (attempt > 0 && past_deadline(w))
            return false;
        unsigned int e = 0;
        tx_e r = apply(w, my, ws, n, seq, &e);
        if (r == TX_OK || r == TX_DEDUP) {
            if (r == TX_DEDUP)
                atomic_fetch_add(&w->dedup, 1);
            atomic_fetch_add(&w->batches, 1);
            account_done(w, ws, n, true);
            w->batches_since_gc++;
            return true;
        }
        if (r == TX_RETRY) {
            atomic_fetch_add(&w->retries, 1);
            if (db_errno_conn_lost(e) || e == 0) {
                db__conn_drop(&w->conn);
                close_stmts(w);
            } else {
                sleep_ms(db__backoff_ms(attempt, 5, 500));
            }
            attempt++;
            continue;
        }
        /* TX_REJECT: find the write(s) the server refuses by going one per transaction. */
        if (n == 1) {
            log_rejected(w, ws[0], e, w->last_err[0] ? w->last_err : mysql_error(my));
            atomic_fetch_add(&w->rejected, 1);
            account_done(w, ws, 1, false);
            return true;
        }
        LOG_WARN_RL(DB_LOG, "%s: batch of %d refused (%u %s); retrying one write at a time",
                 w->conn.who, n, e, w->last_err[0] ? w->last_err : mysql_error(my));
        for (int i = 0; i < n; i++)
            if (!commit_batch(w, &ws[i], 1))
                return false; /* shutdown with the DB away: the caller counts what is left */
        return true;
    }
}

static void periodic(db_writer_t *w)
{
    if (w->idx != 0 && w->batches_since_gc < MARKER_GC_BATCHES)
        return;
    MYSQL *my = w->conn.my;
    if (!my)
        return;
    int64_t now = clk_mono_ms();
    if (w->batches_since_gc >= MARKER_GC_BATCHES) {
        /* Only the in-flight batch's marker is ever needed again. */
        char q[160];
        snprintf(q, sizeof(q), "DELETE FROM ccd_write_batch WHERE writer_id = '%s' AND seq < %llu",
                 w->writer_id, (unsigned long long)w->seq);
        if (mysql_query(my, q) && db_errno_conn_lost(mysql_errno(my))) {
            db__conn_drop(&w->conn);
            close_stmts(w);
            return;
        }
        w->batches_since_gc = 0;
    }
    if (w->idx != 0)
        return;
    if (now >= w->next_heartbeat_ms) {
        w->next_heartbeat_ms = now + HEARTBEAT_MS;
        if (db_engine_heartbeat(&w->conn, w->db->instance) && db_errno_conn_lost(mysql_errno(my))) {
            db__conn_drop(&w->conn);
            close_stmts(w);
            return;
        }
    }
    if (now >= w->next_recover_ms) {
        w->next_recover_ms = now + RECOVER_MS;
        if (db_claims_recover(&w->conn, RECOVER_LEASE_S, NULL) && db_errno_conn_lost(mysql_errno(my))) {
            db__conn_drop(&w->conn);
            close_stmts(w);
        }
    }
}

/* Idle-time connect so backpressure clears (and heartbeats run) without waiting for a write. */
static void try_connect(db_writer_t *w)
{
    bool rec = false;
    if (w->conn.my)
        return;
    if (db__conn_get(&w->conn, &rec)) {
        if (rec)
            note_connected(w);
        atomic_store(&w->connected, true);
    } else {
        atomic_store(&w->connected, false);
    }
    db__update_backpressure(w->db);
}

static void *writer_main(void *arg)
{
    db_writer_t *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "db-writer%d", w->idx);
    log_set_thread_name(name);
    mysql_thread_init();
    int max = w->db->cfg.write_batch_max;
    bool quitting = false;
    try_connect(w);
    uint64_t lost = 0;
    for (;;) {
        int n = 0;
        beat(w);
        mq_msg_t *m = mq_pop(w->q, quitting ? 0 : 1000);
        while (m) {
            if (m->type == MSG_QUIT) {
                quitting = true;
                m->free(m);
            } else {
                w->batch[n++] = (db_write_t *)m;
            }
            if (n >= max)
                break;
            m = mq_pop(w->q, 0);
        }
        if (n == 0) {
            if (quitting)
                break;
            try_connect(w);
            periodic(w);
            continue;
        }
        if (!commit_batch(w, w->batch, n)) {
            for (int i = 0; i < n; i++)
                if (w->batch[i]) {
                    write_done(w->batch[i], CCD_ECLOSED);
                    lost++;
                }
            /* Everything still queued is lost the same way. */
            mq_msg_t *rest = mq_pop_all(w->q);
            while (rest) {
                mq_msg_t *next = rest->next;
                if (rest->type != MSG_QUIT) {
                    lost++;
                    write_done((db_write_t *)rest, CCD_ECLOSED);
                } else {
                    rest->free(rest);
                }
                rest = next;
            }
            break;
        }
        db__update_backpressure(w->db);
        if (w->conn.my)
            periodic(w);
    }
    if (lost)
        LOG_ERR(DB_LOG, "%s: database unreachable at shutdown: %llu accepted write(s) not committed",
                w->conn.who, (unsigned long long)lost);
    close_stmts(w);
    if (w->conn.my) {
        mysql_close(w->conn.my);
        w->conn.my = NULL;
    }
    pthread_mutex_lock(&w->flush_lock);
    w->processed = UINT64_MAX; /* wake flushers for good */
    pthread_cond_broadcast(&w->flush_cond);
    pthread_mutex_unlock(&w->flush_lock);
    mysql_thread_end();
    return NULL;
}

/* ------------------------------ public ------------------------------ */

static void write_free(mq_msg_t *m)
{
    db_write_t *w = (db_write_t *)m;
    if (w->kind == DB_W_CALL_SCHEDULE)
        free(w->u.schedule.attrs);
    else if (w->kind == DB_W_PACER_STATE)
        free(w->u.pacer.estimates);
    free(w);
}

db_write_t *db_write_new(db_write_kind_e kind)
{
    if (kind <= 0 || kind >= DB_W_KIND_MAX)
        return NULL;
    db_write_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->msg.type = MSG_DB_WRITE;
    w->msg.free = write_free;
    w->kind = kind;
    switch (kind) {
    case DB_W_CALL_UPDATE:
        w->u.call.duration = w->u.call.duration_wait = w->u.call.failure_cause = -1;
        break;
    case DB_W_PROGRESS_LOG:
    case DB_W_PROGRESS_LOG_ENTRY:
        w->u.progress.retry = w->u.progress.duration = -1;
        break;
    case DB_W_CALL_ENTRY_ADD:
    case DB_W_CALL_ENTRY_UPDATE:
        w->u.entry.duration = w->u.entry.duration_wait = -1;
        break;
    default:
        break;
    }
    return w;
}

static int submit(db_t *db, db_write_t *x, bool force)
{
    if (!db || !x || x->kind <= 0 || x->kind >= DB_W_KIND_MAX)
        return CCD_EINVAL;
    if (atomic_load(&db->stopping))
        return CCD_ECLOSED;
    db_writer_t *w = db->writers[x->shard % (uint32_t)db->nwriters];
    x->msg.type = MSG_DB_WRITE;
    if (!x->msg.free)
        x->msg.free = write_free;
    x->submit_us = clk_mono_us();
    /* Counted before the push so a flush never waits for fewer writes than were accepted. */
    atomic_fetch_add(&w->accepted, 1);
    int r = force ? mq_push_force(w->q, &x->msg) : mq_push(w->q, &x->msg);
    if (r) {
        atomic_fetch_sub(&w->accepted, 1);
        if (r == CCD_EFULL) {
            atomic_fetch_add(&db->write_rejected_full, 1);
            atomic_store(&db->backpressured, true);
        }
        return r;
    }
    atomic_fetch_add(&db->writes_submitted, 1);
    db__update_backpressure(db);
    return 0;
}

int db_write_submit(db_t *db, db_write_t *w)
{
    return submit(db, w, false);
}

int db_write_submit_force(db_t *db, db_write_t *w)
{
    return submit(db, w, true);
}

void db__update_backpressure(db_t *db)
{
    size_t max = (size_t)db->cfg.write_queue_max;
    size_t hi = max * 3 / 4, lo = max / 2;
    bool any_hi = false, all_lo = true;
    for (int i = 0; i < db->nwriters; i++) {
        db_writer_t *w = db->writers[i];
        size_t d = mq_depth(w->q);
        if (d >= hi || !atomic_load(&w->connected))
            any_hi = true;
        if (d > lo || !atomic_load(&w->connected))
            all_lo = false;
    }
    bool cur = atomic_load(&db->backpressured);
    if (!cur && any_hi)
        atomic_store(&db->backpressured, true);
    else if (cur && all_lo)
        atomic_store(&db->backpressured, false);
}

bool db_writes_backpressured(db_t *db)
{
    return atomic_load(&db->backpressured);
}

int db_write_flush(db_t *db, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : clk_mono_ms() + timeout_ms;
    for (int i = 0; i < db->nwriters; i++) {
        db_writer_t *w = db->writers[i];
        uint64_t target = atomic_load(&w->accepted);
        pthread_mutex_lock(&w->flush_lock);
        while (w->processed < target) {
            int64_t left = deadline - clk_mono_ms();
            if (left <= 0) {
                pthread_mutex_unlock(&w->flush_lock);
                return CCD_ETIMEDOUT;
            }
            struct timespec ts;
            clk_deadline(&ts, left > 200 ? 200 : left);
            pthread_cond_timedwait(&w->flush_cond, &w->flush_lock, &ts);
        }
        pthread_mutex_unlock(&w->flush_lock);
    }
    return 0;
}

static void writer_free(db_writer_t *w)
{
    if (!w)
        return;
    mq_free(w->q);
    free(w->rows);
    free(w->batch);
    free(w->order);
    free(w->runs);
    pthread_mutex_destroy(&w->flush_lock);
    pthread_cond_destroy(&w->flush_cond);
    free(w);
}

int db__writers_start(db_t *db, char *err, size_t errlen)
{
    pthread_once(&kinds_once, build_kinds);
    db->writers = calloc((size_t)db->cfg.writer_threads, sizeof(*db->writers));
    if (!db->writers) {
        snprintf(err, errlen, "out of memory");
        return CCD_ENOMEM;
    }
    int max = db->cfg.write_batch_max;
    for (int i = 0; i < db->cfg.writer_threads; i++) {
        db_writer_t *w = calloc(1, sizeof(*w));
        if (!w)
            goto nomem;
        db->writers[i] = w;
        db->nwriters = i + 1;
        w->db = db;
        w->idx = i;
        pthread_mutex_init(&w->flush_lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->flush_cond, &ca);
        pthread_condattr_destroy(&ca);
        char qname[32];
        snprintf(qname, sizeof(qname), "db-write%d", i);
        w->q = mq_new(qname, (size_t)db->cfg.write_queue_max, 0);
        w->rows = calloc((size_t)max, sizeof(wrow_t));
        w->batch = calloc((size_t)max, sizeof(*w->batch));
        w->order = calloc((size_t)max, sizeof(int));
        w->runs = calloc((size_t)max, sizeof(db_run_t));
        if (!w->q || !w->rows || !w->batch || !w->order || !w->runs)
            goto nomem;
        snprintf(w->writer_id, sizeof(w->writer_id), "%s-w%d", db->instance, i);
        w->conn.cfg = &db->cfg;
        w->conn.who = "writer";
        atomic_store(&w->drain_deadline_ms, INT64_MAX);
    }
    for (int i = 0; i < db->nwriters; i++) {
        if (pthread_create(&db->writers[i]->th, NULL, writer_main, db->writers[i])) {
            snprintf(err, errlen, "cannot start writer thread");
            return CCD_ERR;
        }
        db->writers[i]->started = true;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory for writers");
    return CCD_ENOMEM;
}

void db__writers_stop(db_t *db, int drain_ms)
{
    if (!db->writers)
        return;
    for (int i = 0; i < db->nwriters; i++) {
        db_writer_t *w = db->writers[i];
        if (!w || !w->started)
            continue;
        atomic_store(&w->drain_deadline_ms, clk_mono_ms() + (drain_ms < 0 ? 0 : drain_ms));
        mq_msg_t *q = mq_msg_quit_new();
        if (q && mq_push_force(w->q, q) != 0)
            q->free(q);
        mq_close(w->q);
    }
    for (int i = 0; i < db->nwriters; i++) {
        db_writer_t *w = db->writers[i];
        if (w && w->started)
            pthread_join(w->th, NULL);
        writer_free(w);
    }
    free(db->writers);
    db->writers = NULL;
    db->nwriters = 0;
}

void db__writers_stats(db_t *db, db_stats_t *out)
{
    out->writer_connected = db->nwriters > 0;
    for (int i = 0; i < db->nwriters; i++) {
        db_writer_t *w = db->writers[i];
        mq_stats_t qs;
        mq_get_stats(w->q, &qs);
        out->write_queue_depth += qs.depth;
        if (qs.high_water > out->write_queue_high_water)
            out->write_queue_high_water = qs.high_water;
        out->rows_committed += atomic_load(&w->rows_ok);
        out->batches_committed += atomic_load(&w->batches);
        out->batches_deduplicated += atomic_load(&w->dedup);
        out->retries += atomic_load(&w->retries);
        out->reconnects += atomic_load(&w->reconnects);
        out->rows_rejected += atomic_load(&w->rejected);
        out->statements += atomic_load(&w->stmts);
        out->latency_us_sum += atomic_load(&w->lat_sum);
        uint64_t mx = atomic_load(&w->lat_max);
        if (mx > out->latency_us_max)
            out->latency_us_max = mx;
        if (!atomic_load(&w->connected))
            out->writer_connected = false;
        int64_t b = atomic_load_explicit(&w->beat_ms, memory_order_relaxed);
        if (i == 0 || b < out->heartbeat_ms)
            out->heartbeat_ms = b;
    }
}
