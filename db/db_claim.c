/*
 * Number selection (claims), engine heartbeat and crash recovery.
 *
 * CLAIM ALGORITHM (one short READ COMMITTED transaction)
 * 1. Non-locking reads: the campaign's daily window and its outgoing lists.
 * 2. Per list, SELECT ... FOR UPDATE SKIP LOCKED the eligible rows in
 *    Issabel's order: first rows whose own date/time window is open now,
 *    then rows without a window by (retries, id).  The unwindowed query
 *    walks index ccd_claim (id_list, ccd_dialable, ccd_claim_owner, dnc,
 *    retries, id) in order, so LIMIT stops it after about n rows however
 *    long the list is and however many of its rows are finished or in flight.
 *    Rows another transaction holds are skipped, not waited for; rows a
 *    committed claim took have ccd_claim_owner set and no longer match.
 * 3. Merge the lists' candidates, drop repeated phone numbers, look the
 *    phones up in dont_call (non-locking) and mark hits dnc=1.
 * 4. UPDATE the chosen rows: ccd_claim_owner/time (+ Issabel's Placing state
 *    when asked, and their call_progress_log rows if log_progress); COMMIT.
 * Two selectors (cycles, threads or engines) therefore never return the same
 * row: each row is locked by at most one of them until its commit, and after
 * that commit it is claimed.
 *
 * Only integers we produced, the campaign's own TIME values (validated as
 * HH:MM:SS), the owner id (validated [A-Za-z0-9_-], at most 32) and escaped
 * strings (phones, caller id) are formatted into the SQL text.  Claims use the
 * text protocol because every claim has a different IN list: preparing it
 * would add two round trips to the claim's critical path.
 */
#include "db/db_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define MAX_LISTS 64
/* Issabel's eligible statuses (NULL or not in Success/Placing/Ringing/OnQueue/OnHold), as the
 * persistent column ccd_dialable so the index range holds only dialable rows. */
#define ELIGIBLE_STATUS "c.ccd_dialable = 1"

typedef struct cand {
    db_claimed_call_t c;
    bool drop;
    bool dnc; /* on the dont_call list: marked dnc=1, not handed out */
} cand_t;

typedef struct sqlbuf {
    char *p;
    size_t len, cap;
} sqlbuf_t;

static int sb_grow(sqlbuf_t *b, size_t need)
{
    if (b->len + need + 1 <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + need + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np)
        return CCD_ENOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}

static int sb_printf(sqlbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_printf(sqlbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_grow(b, (size_t)n))
        return CCD_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static bool valid_time(const char *s)
{
    /* MariaDB TIME text: [-]H+:MM:SS; campaign windows are within a day. */
    size_t n = strlen(s);
    if (n < 7 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isdigit((unsigned char)s[i]) || s[i] == ':'))
            return false;
    return true;
}

static bool valid_owner(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

static int query_rows(MYSQL *my, const char *q, size_t len, MYSQL_RES **res)
{
    if (mysql_real_query(my, q, (unsigned long)len))
        return CCD_EIO;
    *res = mysql_store_result(my);
    return *res ? 0 : CCD_EIO;
}

static int cand_cmp(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->c.windowed != y->c.windowed)
        return x->c.windowed ? -1 : 1;
    if (x->c.retries != y->c.retries)
        return x->c.retries < y->c.retries ? -1 : 1;
    return x->c.id < y->c.id ? -1 : x->c.id > y->c.id;
}

/* Appends the candidates one SELECT returns. */
static int collect(MYSQL *my, sqlbuf_t *q, cand_t *cands, int *ncand, int cap, bool windowed)
{
    MYSQL_RES *res;
    if (query_rows(my, q->p, q->len, &res))
        return CCD_EIO;
    MYSQL_ROW r;
    while ((r = mysql_fetch_row(res)) && *ncand < cap) {
        cand_t *c = &cands[(*ncand)++];
        memset(c, 0, sizeof(*c));
        c->c.id = (uint32_t)strtoul(r[0], NULL, 10);
        c->c.id_list = (uint32_t)strtoul(r[1], NULL, 10);
        snprintf(c->c.phone, sizeof(c->c.phone), "%s", r[2] ? r[2] : "");
        c->c.retries = (uint32_t)strtoul(r[3] ? r[3] : "0", NULL, 10);
        snprintf(c->c.agent, sizeof(c->c.agent), "%s", r[4] ? r[4] : "");
        snprintf(c->c.tz, sizeof(c->c.tz), "%s", r[5] ? r[5] : "");
        c->c.windowed = windowed;
    }
    mysql_free_result(res);
    return 0;
}

static int id_list_sql(sqlbuf_t *b, const cand_t *cands, int n)
{
    const char *sep = "";
    for (int i = 0; i < n; i++) {
        if (cands[i].drop)
            continue;
        if (sb_printf(b, "%s%u", sep, cands[i].c.id))
            return CCD_ENOMEM;
        sep = ",";
    }
    return 0;
}

/* One UPDATE for every claimed row.  Text protocol on purpose: a prepared statement would cost
 * two more round trips per claim for an IN list that changes every time; the owner is
 * validated ([A-Za-z0-9_-]) and the caller id escaped. */
static int stamp_claims(MYSQL *my, const db_claim_req_t *req, const char *ids)
{
    sqlbuf_t q = {0};
    int rc = CCD_ENOMEM;
    char cid[2 * 16 + 1] = "";
    if (req->callerid) {
        size_t n = strnlen(req->callerid, 15);
        mysql_real_escape_string(my, cid, req->callerid, (unsigned long)n);
    }
    if (req->mark_placing) {
        /* Issabel's step 10 "Placing" write, done in the claim transaction so a number is
         * never seen claimed-but-pending by Issabel's screens. */
        if (sb_printf(&q,
                      "UPDATE calls SET ccd_claim_owner = '%s', ccd_claim_time = NOW(), "
                      "status = 'Placing', callerid = %s%s%s, "
                      "datetime_originate = NOW(), retries = retries + 1, fecha_llamada = NULL, "
                      "datetime_entry_queue = NULL, start_time = NULL, end_time = NULL, "
                      "duration_wait = NULL, duration = NULL, failure_cause = NULL, "
                      "failure_cause_txt = NULL, uniqueid = NULL, id_agent = NULL "
                      "WHERE id IN (%s)",
                      req->owner, req->callerid ? "'" : "", req->callerid ? cid : "callerid",
                      req->callerid ? "'" : "", ids))
            goto out;
    } else if (sb_printf(&q,
                         "UPDATE calls SET ccd_claim_owner = '%s', ccd_claim_time = NOW() "
                         "WHERE id IN (%s)",
                         req->owner, ids)) {
        goto out;
    }
    rc = mysql_real_query(my, q.p, (unsigned long)q.len) ? CCD_EIO : 0;
out:
    free(q.p);
    return rc;
}

/* The statistics change a lot as a list is dialed (half of it finished, say), and the
 * optimizer then prefers index id_list (already in id order) and walks every finished row;
 * the unwindowed scans therefore name their index. */
static int base_select(sqlbuf_t *q, const db_claim_req_t *req, uint32_t id_list,
                       const char *tzpred, bool windowed)
{
    return sb_printf(q,
                     "SELECT c.id, c.id_list, c.phone, c.retries, c.agent, c.ccd_tz "
                     "FROM calls c%s WHERE c.id_list = %u AND c.ccd_claim_owner IS NULL AND "
                     "c.dnc = 0 AND c.retries < %u AND c.agent IS NULL AND " ELIGIBLE_STATUS
                     " AND (c.ccd_next_attempt IS NULL OR c.ccd_next_attempt <= NOW())%s",
                     windowed ? "" : " FORCE INDEX (ccd_claim)", id_list, req->max_retries,
                     tzpred);
}

/* One cursor-driven scan of a (list, retries) level in this claim. */
typedef struct scan_rec {
    int slot;        /* index in the cursor, -1 when the cursor is full */
    uint32_t id_list, retries;
    uint32_t old_after; /* the cursor this claim started from */
    bool wrapped;       /* ran out after the cursor and continued from the start */
    bool dry;           /* the whole level gave fewer rows than asked */
} scan_rec_t;

#define MAX_LEVELS 32

static int cursor_slot(db_claim_cursor_t *c, uint32_t id_list, uint32_t retries)
{
    for (int i = 0; i < c->n; i++)
        if (c->slot[i].id_list == id_list && c->slot[i].retries == retries)
            return i;
    if (c->n >= DB_CLAIM_CURSOR_SLOTS)
        return -1;
    c->slot[c->n].id_list = id_list;
    c->slot[c->n].retries = retries;
    c->slot[c->n].after_id = 0;
    return c->n++;
}

/* The unwindowed rows of one list, level by level (retries 0, 1, ...), each from its cursor:
 * the same order as ORDER BY retries, id, but every scan starts where the last one ended. */
static int scan_levels(MYSQL *my, const db_claim_req_t *req, uint32_t id_list, const char *tzpred,
                       int want, cand_t *cands, int *ncand, int cap, scan_rec_t *scans,
                       int *nscans)
{
    sqlbuf_t q = {0};
    int got = 0, rc = 0;
    uint32_t levels = req->max_retries < MAX_LEVELS ? req->max_retries : MAX_LEVELS;
    for (uint32_t r = 0; r < levels && got < want; r++) {
        int slot = cursor_slot(req->cursor, id_list, r);
        uint32_t after = slot >= 0 ? req->cursor->slot[slot].after_id : 0;
        q.len = 0;
        if (base_select(&q, req, id_list, tzpred, false) ||
            sb_printf(&q,
                      " AND c.date_init IS NULL AND c.retries = %u AND c.id > %u ORDER BY c.id "
                      "LIMIT %d FOR UPDATE SKIP LOCKED",
                      r, after, want - got)) {
            rc = CCD_ENOMEM;
            break;
        }
        int before = *ncand;
        if (collect(my, &q, cands, ncand, cap, false)) {
            rc = CCD_EIO;
            break;
        }
        int need = want - got;
        int n = *ncand - before;
        bool wrapped = false;
        if (n < need && after > 0) {
            /* Dry after the cursor: numbers released behind it are next, in this same claim
             * (an empty answer would tell the dialer the campaign is done). */
            q.len = 0;
            if (base_select(&q, req, id_list, tzpred, false) ||
                sb_printf(&q,
                          " AND c.date_init IS NULL AND c.retries = %u AND c.id <= %u ORDER BY "
                          "c.id LIMIT %d FOR UPDATE SKIP LOCKED",
                          r, after, need - n)) {
                rc = CCD_ENOMEM;
                break;
            }
            if (collect(my, &q, cands, ncand, cap, false)) {
                rc = CCD_EIO;
                break;
            }
            n = *ncand - before;
            wrapped = true;
        }
        scan_rec_t *s = &scans[(*nscans)++];
        s->slot = slot;
        s->id_list = id_list;
        s->retries = r;
        s->old_after = after;
        s->wrapped = wrapped;
        s->dry = n < need;
        got += n;
    }
    if (rc == 0 && got < want && req->max_retries > MAX_LEVELS) {
        /* Campaigns allowing more than MAX_LEVELS attempts: the rest without a cursor. */
        q.len = 0;
        if (base_select(&q, req, id_list, tzpred, false) ||
            sb_printf(&q,
                      " AND c.date_init IS NULL AND c.retries >= %u ORDER BY c.retries, c.id "
                      "LIMIT %d FOR UPDATE SKIP LOCKED",
                      MAX_LEVELS, want - got))
            rc = CCD_ENOMEM;
        else if (collect(my, &q, cands, ncand, cap, false))
            rc = CCD_EIO;
    }
    free(q.p);
    return rc;
}

/* After the claim committed: move each scanned level's cursor past what it handed out (or
 * dnc-marked), or back to the start when the level ran dry. */
static void cursor_update(db_claim_cursor_t *c, const scan_rec_t *scans, int nscans,
                          const cand_t *cands, int ncand)
{
    for (int i = 0; i < nscans; i++) {
        const scan_rec_t *s = &scans[i];
        if (s->slot < 0)
            continue;
        if (s->dry) {
            c->slot[s->slot].after_id = 0;
            continue;
        }
        /* Wrapped: the cursor continues in the part scanned from the start. */
        uint32_t mx = s->wrapped ? 0 : s->old_after;
        for (int j = 0; j < ncand; j++) {
            const cand_t *x = &cands[j];
            bool used = !x->drop || x->dnc; /* claimed or dnc-marked */
            if (!used || x->c.windowed || x->c.id_list != s->id_list || x->c.retries != s->retries)
                continue;
            if (s->wrapped && x->c.id > s->old_after)
                continue;
            if (x->c.id > mx)
                mx = x->c.id;
        }
        c->slot[s->slot].after_id = mx;
    }
}

int db_claim_numbers(db_conn_t *conn, const db_claim_req_t *req, db_claimed_call_t *out, int max,
                     int *nout)
{
    MYSQL *my = conn->my;
    *nout = 0;
    if (!req || !valid_owner(req->owner) || req->n <= 0 || max <= 0)
        return CCD_EINVAL;
    int want = req->n < max ? req->n : max;
    if (want > DB_CLAIM_MAX)
        want = DB_CLAIM_MAX;
    if (req->max_retries == 0)
        return 0;

    sqlbuf_t q = {0};
    cand_t *cands = NULL;
    scan_rec_t *scans = NULL;
    int nscans = 0;
    uint32_t lists[MAX_LISTS];
    int nlists = 0;
    int rc = CCD_EIO;
    bool in_txn = false;
    char tinit[16] = "", tend[16] = "";
    MYSQL_RES *res = NULL;
    MYSQL_ROW r;

    /* 1. the campaign's daily window (for numbers with their own time zone) and its lists */
    if (sb_printf(&q, "SELECT daytime_init, daytime_end FROM campaign WHERE id = %u",
                  req->id_campaign))
        goto nomem;
    if (query_rows(my, q.p, q.len, &res))
        goto fail;
    if ((r = mysql_fetch_row(res)) && r[0] && r[1]) {
        snprintf(tinit, sizeof(tinit), "%s", r[0]);
        snprintf(tend, sizeof(tend), "%s", r[1]);
    }
    mysql_free_result(res);
    res = NULL;
    q.len = 0;
    if (sb_printf(&q,
                  "SELECT id FROM campaign_lists WHERE id_campaign = %u AND type = 0 AND "
                  "is_deleted = 0 ORDER BY id",
                  req->id_campaign))
        goto nomem;
    if (query_rows(my, q.p, q.len, &res))
        goto fail;
    while ((r = mysql_fetch_row(res)) && nlists < MAX_LISTS)
        lists[nlists++] = (uint32_t)strtoul(r[0], NULL, 10);
    mysql_free_result(res);
    res = NULL;
    if (nlists == 0) {
        free(q.p);
        return 0;
    }

    int cap = want * 2 * nlists;
    cands = calloc((size_t)cap, sizeof(*cands));
    scans = calloc((size_t)nlists * (MAX_LEVELS + 1), sizeof(*scans));
    if (!cands || !scans)
        goto nomem;
    int ncand = 0;

    /* Time-zone predicate: the campaign's daily window read in the number's zone.  An unknown
     * zone name (CONVERT_TZ gives NULL) counts as the server's zone. */
    char tzpred[512] = "";
    if (valid_time(tinit) && valid_time(tend)) {
#define LOCALT "TIME(CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', c.ccd_tz))"
        if (strcmp(tinit, tend) <= 0)
            snprintf(tzpred, sizeof(tzpred),
                     " AND (c.ccd_tz IS NULL OR COALESCE(" LOCALT " BETWEEN '%s' AND '%s', 1))",
                     tinit, tend);
        else /* overnight window */
            snprintf(tzpred, sizeof(tzpred),
                     " AND (c.ccd_tz IS NULL OR COALESCE(" LOCALT " >= '%s' OR " LOCALT
                     " <= '%s', 1))",
                     tinit, tend);
#undef LOCALT
    }

    if (mysql_query(my, "START TRANSACTION"))
        goto fail;
    in_txn = true;

    /* 2. candidates, per list, locked with SKIP LOCKED */
    for (int li = 0; li < nlists; li++) {
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && req->cursor) {
                int rr = scan_levels(my, req, lists[li], tzpred, want, cands, &ncand, cap, scans,
                                     &nscans);
                if (rr == CCD_ENOMEM)
                    goto nomem;
                if (rr)
                    goto fail;
                continue;
            }
            q.len = 0;
            if (base_select(&q, req, lists[li], tzpred, pass == 0))
                goto nomem;
            if (pass == 0) {
                if (sb_printf(&q, " AND c.date_init IS NOT NULL AND c.date_init <= CURDATE() AND "
                                  "c.date_end >= CURDATE() AND c.time_init <= CURTIME() AND "
                                  "c.time_end >= CURTIME() ORDER BY c.retries, c.date_end, "
                                  "c.time_end, c.date_init, c.time_init, c.id"))
                    goto nomem;
            } else if (sb_printf(&q, " AND c.date_init IS NULL ORDER BY c.retries, c.id")) {
                goto nomem;
            }
            if (sb_printf(&q, " LIMIT %d FOR UPDATE SKIP LOCKED", want))
                goto nomem;
            if (collect(my, &q, cands, &ncand, cap, pass == 0))
                goto fail;
        }
    }
    if (ncand == 0)
        goto commit;

    /* 3. order, one per phone, dont_call */
    qsort(cands, (size_t)ncand, sizeof(*cands), cand_cmp);
    int kept = 0;
    for (int i = 0; i < ncand; i++) {
        if (kept >= want) {
            cands[i].drop = true; /* locked until commit, then free for the next claim */
            continue;
        }
        for (int j = 0; j < i; j++)
            if (!cands[j].drop && strcmp(cands[j].c.phone, cands[i].c.phone) == 0) {
                cands[i].drop = true;
                break;
            }
        if (!cands[i].drop)
            kept++;
    }
    q.len = 0;
    if (sb_printf(&q, "SELECT DISTINCT caller_id FROM dont_call WHERE status = 'A' AND "
                      "caller_id IN ("))
        goto nomem;
    const char *sep = "";
    for (int i = 0; i < ncand; i++) {
        if (cands[i].drop)
            continue;
        char esc[2 * sizeof(cands[i].c.phone) + 1];
        mysql_real_escape_string(my, esc, cands[i].c.phone, (unsigned long)strlen(cands[i].c.phone));
        if (sb_printf(&q, "%s'%s'", sep, esc))
            goto nomem;
        sep = ",";
    }
    if (sb_printf(&q, ")"))
        goto nomem;
    if (query_rows(my, q.p, q.len, &res))
        goto fail;
    bool any_dnc = false;
    while ((r = mysql_fetch_row(res))) {
        for (int i = 0; i < ncand; i++)
            if (!cands[i].drop && r[0] && strcmp(cands[i].c.phone, r[0]) == 0) {
                cands[i].drop = true;
                cands[i].dnc = true;
                any_dnc = true;
            }
    }
    mysql_free_result(res);
    res = NULL;
    if (any_dnc) {
        q.len = 0;
        if (sb_printf(&q, "UPDATE calls SET dnc = 1 WHERE id IN ("))
            goto nomem;
        sep = "";
        for (int i = 0; i < ncand; i++)
            if (cands[i].dnc) {
                if (sb_printf(&q, "%s%u", sep, cands[i].c.id))
                    goto nomem;
                sep = ",";
            }
        if (sb_printf(&q, ")"))
            goto nomem;
        if (mysql_real_query(my, q.p, (unsigned long)q.len))
            goto fail;
    }

    /* 4. stamp the claims */
    q.len = 0;
    if (id_list_sql(&q, cands, ncand))
        goto nomem;
    if (q.len == 0)
        goto commit;
    if (stamp_claims(my, req, q.p))
        goto fail;
    if (req->mark_placing && req->log_progress) {
        sqlbuf_t p = {0};
        if (sb_printf(&p,
                      "INSERT INTO call_progress_log (datetime_entry, id_campaign_outgoing, "
                      "id_call_outgoing, new_status, retry) SELECT NOW(), %u, id, 'Placing', "
                      "retries FROM calls WHERE id IN (%s)",
                      req->id_campaign, q.p)) {
            free(p.p);
            goto nomem;
        }
        int e = mysql_real_query(my, p.p, (unsigned long)p.len);
        free(p.p);
        if (e)
            goto fail;
    }
    int k = 0;
    for (int i = 0; i < ncand && k < want; i++) {
        if (cands[i].drop)
            continue;
        out[k] = cands[i].c;
        if (req->mark_placing)
            out[k].retries++;
        k++;
    }
    *nout = k;

commit:
    if (mysql_commit(my)) {
        *nout = 0;
        goto fail;
    }
    if (req->cursor)
        cursor_update(req->cursor, scans, nscans, cands, ncand);
    free(q.p);
    free(cands);
    free(scans);
    return 0;
nomem:
    rc = CCD_ENOMEM;
fail:
    if (rc == CCD_EIO)
        LOG_WARN_RL(DB_LOG, "claim for campaign %u failed: %s (%u)", req->id_campaign, mysql_error(my),
                 mysql_errno(my));
    if (res)
        mysql_free_result(res);
    if (in_txn)
        mysql_rollback(my);
    *nout = 0;
    free(q.p);
    free(cands);
    free(scans);
    return rc;
}

int db_claim_release(db_conn_t *c, uint32_t id_call, const char *owner)
{
    MYSQL *my = c->my;
    if (!valid_owner(owner))
        return CCD_EINVAL;
    char q[256];
    snprintf(q, sizeof(q),
             "UPDATE calls SET ccd_claim_owner = NULL, ccd_claim_time = NULL WHERE id = %u AND "
             "ccd_claim_owner = '%s'",
             id_call, owner);
    return mysql_query(my, q) ? CCD_EIO : 0;
}

int db_engine_heartbeat(db_conn_t *c, const char *owner)
{
    MYSQL *my = c->my;
    if (!valid_owner(owner))
        return CCD_EINVAL;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char esc[2 * sizeof(host) + 1];
    mysql_real_escape_string(my, esc, host, (unsigned long)strlen(host));
    char q[1024];
    snprintf(q, sizeof(q),
             "INSERT INTO ccd_engine (instance_id, hostname, pid, started, heartbeat) VALUES "
             "('%s', '%s', %d, NOW(), NOW()) ON DUPLICATE KEY UPDATE heartbeat = NOW()",
             owner, esc, (int)getpid());
    return mysql_query(my, q) ? CCD_EIO : 0;
}

int db_claims_recover(db_conn_t *c, int lease_s, int *nreleased)
{
    MYSQL *my = c->my;
    if (nreleased)
        *nreleased = 0;
    if (lease_s < 1)
        lease_s = 1;
    char q[1024];
    if (mysql_query(my, "START TRANSACTION"))
        return CCD_EIO;
    /* Assignments run left to right on the old status, so status is changed last. */
    snprintf(q, sizeof(q),
             "UPDATE calls SET "
             "failure_cause_txt = IF(status IN ('Placing','Ringing','OnQueue'), 'ccd-recovered', "
             "failure_cause_txt), "
             "end_time = IF(status IN ('Success','OnHold') AND end_time IS NULL, NOW(), end_time), "
             "status = IF(status IN ('Placing','Ringing','OnQueue'), 'Failure', status), "
             "ccd_claim_owner = NULL, ccd_claim_time = NULL "
             "WHERE ccd_claim_owner IS NOT NULL AND ccd_claim_owner NOT IN (SELECT instance_id "
             "FROM ccd_engine WHERE heartbeat >= NOW() - INTERVAL %d SECOND)",
             lease_s);
    if (mysql_query(my, q))
        goto fail;
    int n = (int)mysql_affected_rows(my);
    snprintf(q, sizeof(q),
             "DELETE FROM ccd_write_batch WHERE LEFT(writer_id, 32) NOT IN (SELECT instance_id "
             "FROM ccd_engine WHERE heartbeat >= NOW() - INTERVAL %d SECOND)",
             lease_s);
    if (mysql_query(my, q))
        goto fail;
    snprintf(q, sizeof(q), "DELETE FROM ccd_engine WHERE heartbeat < NOW() - INTERVAL %d SECOND",
             lease_s);
    if (mysql_query(my, q))
        goto fail;
    if (mysql_commit(my))
        goto fail;
    if (n > 0)
        LOG_NOTICE(DB_LOG, "released %d claim(s) of engines silent for more than %d s", n, lease_s);
    if (nreleased)
        *nreleased = n;
    return 0;
fail:
    LOG_WARN_RL(DB_LOG, "claim recovery failed: %s (%u)", mysql_error(my), mysql_errno(my));
    mysql_rollback(my);
    return CCD_EIO;
}
