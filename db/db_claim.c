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

static int cand_cmp(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->c.windowed != y->c.windowed)
        return x->c.windowed ? -1 : 1;
    if (x->c.retries != y->c.retries)
        return x->c.retries < y->c.retries ? -1 : 1;
    return x->c.id < y->c.id ? -1 : x->c.id > y->c.id;
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

/* One claim in progress: what its phases share. */
typedef struct claim {
    MYSQL *my;
    const db_claim_req_t *req;
    int want;
    uint32_t lists[MAX_LISTS];
    int nlists;
    char tzpred[768]; /* the campaign's daily window in the number's zone, or "" */
    db_sqlclock_t clk; /* the claim's clock: the server's, or req->now */
    cand_t *cands;
    int ncand, cap;
    scan_rec_t *scans;
    int nscans;
} claim_t;

/* ---- phase 1: the campaign (non-locking reads) ---- */

/* The time-zone predicate of the campaign's daily window tinit..tend ("" when either is not
 * a valid time).  An unknown zone name (CONVERT_TZ gives NULL) counts as the server's zone.
 * The times are the campaign's own TIME values, validated before they go into the text. */
static void tz_window(claim_t *cl, const char *tinit, const char *tend)
{
    cl->tzpred[0] = 0;
    if (!valid_time(tinit) || !valid_time(tend))
        return;
    char lt[160];
    snprintf(lt, sizeof(lt), "TIME(CONVERT_TZ(%s, '+00:00', c.ccd_tz))", cl->clk.utc);
    if (strcmp(tinit, tend) <= 0)
        snprintf(cl->tzpred, sizeof(cl->tzpred),
                 " AND (c.ccd_tz IS NULL OR COALESCE(%s BETWEEN '%s' AND '%s', 1))", lt, tinit,
                 tend);
    else /* overnight window */
        snprintf(cl->tzpred, sizeof(cl->tzpred),
                 " AND (c.ccd_tz IS NULL OR COALESCE(%s >= '%s' OR %s <= '%s', 1))", lt, tinit,
                 lt, tend);
}

/* The campaign's outgoing lists and the time-zone predicate of its daily window. */
static int claim_campaign(claim_t *cl)
{
    db_q_t q;
    db_rows_t r;
    db__q_init(&q, cl->my);
    db__q_printf(&q, "SELECT daytime_init, daytime_end FROM campaign WHERE id = %u",
                 cl->req->id_campaign);
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    char tinit[16] = "", tend[16] = "";
    if (r.nrows && db_cell(&r, 0, 0) && db_cell(&r, 0, 1)) {
        snprintf(tinit, sizeof(tinit), "%s", db_cell(&r, 0, 0));
        snprintf(tend, sizeof(tend), "%s", db_cell(&r, 0, 1));
    }
    db_rows_free(&r);
    db__q_init(&q, cl->my);
    db__q_printf(&q, "SELECT id FROM campaign_lists WHERE id_campaign = %u AND type = 0 AND "
                     "is_deleted = 0 ORDER BY id",
                 cl->req->id_campaign);
    if ((rc = db__q_rows(&q, &r)))
        return rc;
    for (size_t i = 0; i < r.nrows && cl->nlists < MAX_LISTS; i++)
        cl->lists[cl->nlists++] = (uint32_t)db__ll(db_cell(&r, i, 0), 0);
    db_rows_free(&r);
    tz_window(cl, tinit, tend);
    return 0;
}

/* ---- phase 2: candidates, locked with SKIP LOCKED ---- */

/* What keeps an otherwise eligible number from being dialed now: its back-off, the block
 * after an abandoned attempt, and the campaign's daily window in the number's zone. */
static void add_blocks(db_q_t *q, const claim_t *cl)
{
    db__q_printf(q, " AND (c.ccd_next_attempt IS NULL OR c.ccd_next_attempt <= %s)", cl->clk.now);
    if (cl->req->abandoned_block_s > 0)
        /* The last attempt's end (or start, when no end was written) is what the block counts
         * from: Ofcom's rule is about the call that was abandoned. */
        db__q_printf(q, " AND NOT (c.status <=> 'Abandoned' AND COALESCE(c.end_time, "
                        "c.datetime_originate, c.fecha_llamada) > %s - INTERVAL %d SECOND)",
                     cl->clk.now, cl->req->abandoned_block_s);
    db__q_raw(q, cl->tzpred);
}

/* The statistics change a lot as a list is dialed (half of it finished, say), and the
 * optimizer then prefers index id_list (already in id order) and walks every finished row;
 * the unwindowed scans therefore name their index. */
static void base_select(db_q_t *q, const claim_t *cl, uint32_t id_list, bool windowed)
{
    db__q_raw(q, "SELECT c.id, c.id_list, c.phone, c.retries, c.agent, c.ccd_tz FROM calls c");
    db__q_raw(q, windowed ? "" : " FORCE INDEX (ccd_claim)");
    db__q_printf(q, " WHERE c.id_list = %u AND c.ccd_claim_owner IS NULL AND c.dnc = 0 AND "
                    "c.retries < %u AND " ELIGIBLE_STATUS,
                 id_list, cl->req->max_retries);
    if (cl->req->agent) {
        db__q_raw(q, " AND c.agent = ");
        db__q_str(q, cl->req->agent);
    } else {
        db__q_raw(q, " AND c.agent IS NULL");
    }
    add_blocks(q, cl);
}

/* Runs q and appends the candidates it returns. */
static int collect(claim_t *cl, db_q_t *q, bool windowed)
{
    db_rows_t r;
    int rc = db__q_rows(q, &r);
    if (rc)
        return rc;
    for (size_t i = 0; i < r.nrows && cl->ncand < cl->cap; i++) {
        char *const *row = db_row(&r, i);
        cand_t *c = &cl->cands[cl->ncand++];
        memset(c, 0, sizeof(*c));
        c->c.id = (uint32_t)db__ll(row[0], 0);
        c->c.id_list = (uint32_t)db__ll(row[1], 0);
        snprintf(c->c.phone, sizeof(c->c.phone), "%s", row[2] ? row[2] : "");
        c->c.retries = (uint32_t)db__ll(row[3], 0);
        snprintf(c->c.agent, sizeof(c->c.agent), "%s", row[4] ? row[4] : "");
        snprintf(c->c.tz, sizeof(c->c.tz), "%s", row[5] ? row[5] : "");
        c->c.windowed = windowed;
    }
    db_rows_free(&r);
    return 0;
}

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

/* Unwindowed rows of one retries level with id after (or, !after_it, up to) `after`. */
static int scan_level(claim_t *cl, uint32_t id_list, uint32_t r, uint32_t after, bool after_it,
                      int limit)
{
    db_q_t q;
    db__q_init(&q, cl->my);
    base_select(&q, cl, id_list, false);
    db__q_printf(&q, " AND c.date_init IS NULL AND c.retries = %u AND c.id %s %u ORDER BY c.id "
                     "LIMIT %d FOR UPDATE SKIP LOCKED",
                 r, after_it ? ">" : "<=", after, limit);
    return collect(cl, &q, false);
}

/* The unwindowed rows of one list, level by level (retries 0, 1, ...), each from its cursor:
 * the same order as ORDER BY retries, id, but every scan starts where the last one ended. */
static int scan_levels(claim_t *cl, uint32_t id_list)
{
    const db_claim_req_t *req = cl->req;
    int want = cl->want, got = 0, rc = 0;
    uint32_t levels = req->max_retries < MAX_LEVELS ? req->max_retries : MAX_LEVELS;
    for (uint32_t r = 0; r < levels && got < want; r++) {
        int slot = cursor_slot(req->cursor, id_list, r);
        uint32_t after = slot >= 0 ? req->cursor->slot[slot].after_id : 0;
        int before = cl->ncand, need = want - got;
        if ((rc = scan_level(cl, id_list, r, after, true, need)))
            return rc;
        int n = cl->ncand - before;
        bool wrapped = false;
        if (n < need && after > 0) {
            /* Dry after the cursor: numbers released behind it are next, in this same claim
             * (an empty answer would tell the dialer the campaign is done). */
            if ((rc = scan_level(cl, id_list, r, after, false, need - n)))
                return rc;
            n = cl->ncand - before;
            wrapped = true;
        }
        scan_rec_t *s = &cl->scans[cl->nscans++];
        s->slot = slot;
        s->id_list = id_list;
        s->retries = r;
        s->old_after = after;
        s->wrapped = wrapped;
        s->dry = n < need;
        got += n;
    }
    if (got < want && req->max_retries > MAX_LEVELS) {
        /* Campaigns allowing more than MAX_LEVELS attempts: the rest without a cursor. */
        db_q_t q;
        db__q_init(&q, cl->my);
        base_select(&q, cl, id_list, false);
        db__q_printf(&q, " AND c.date_init IS NULL AND c.retries >= %u ORDER BY c.retries, c.id "
                         "LIMIT %d FOR UPDATE SKIP LOCKED",
                     MAX_LEVELS, want - got);
        rc = collect(cl, &q, false);
    }
    return rc;
}

/* Per list: the numbers whose own window is open now, then the others in Issabel's order. */
static int claim_candidates(claim_t *cl)
{
    for (int li = 0; li < cl->nlists; li++) {
        db_q_t q;
        db__q_init(&q, cl->my);
        base_select(&q, cl, cl->lists[li], true);
        db__q_printf(&q, " AND c.date_init IS NOT NULL AND c.date_init <= %s AND "
                         "c.date_end >= %s AND c.time_init <= %s AND "
                         "c.time_end >= %s ORDER BY c.retries, c.date_end, "
                         "c.time_end, c.date_init, c.time_init, c.id LIMIT %d FOR UPDATE SKIP LOCKED",
                     cl->clk.date, cl->clk.date, cl->clk.time, cl->clk.time, cl->want);
        int rc = collect(cl, &q, true);
        if (rc)
            return rc;
        if (cl->req->agent)
            continue; /* an agent's callbacks always have their own window */
        if (cl->req->cursor) {
            rc = scan_levels(cl, cl->lists[li]);
        } else {
            db__q_init(&q, cl->my);
            base_select(&q, cl, cl->lists[li], false);
            db__q_printf(&q, " AND c.date_init IS NULL ORDER BY c.retries, c.id LIMIT %d FOR UPDATE "
                             "SKIP LOCKED",
                         cl->want);
            rc = collect(cl, &q, false);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- phase 3: order, one per phone number (pure) ---- */

static void claim_pick(claim_t *cl)
{
    cand_t *cands = cl->cands;
    qsort(cands, (size_t)cl->ncand, sizeof(*cands), cand_cmp);
    int kept = 0;
    for (int i = 0; i < cl->ncand; i++) {
        if (kept >= cl->want) {
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
}

/* " IN (id,...)" of the candidates chosen (dnc false) or dnc-marked (dnc true); false if none. */
static bool ids_in(db_q_t *q, const claim_t *cl, bool dnc)
{
    const char *sep = " IN (";
    for (int i = 0; i < cl->ncand; i++) {
        if (dnc ? !cl->cands[i].dnc : cl->cands[i].drop)
            continue;
        db__q_raw(q, sep);
        db__q_int(q, cl->cands[i].c.id);
        sep = ",";
    }
    db__q_raw(q, ")");
    return sep[0] == ',';
}

/* ---- phase 4: the active dont_call list ---- */

/* Chosen numbers on the list are dropped and marked dnc=1 (Issabel updated the wrong row). */
static int claim_dont_call(claim_t *cl)
{
    db_q_t q;
    db__q_init(&q, cl->my);
    db__q_raw(&q, "SELECT DISTINCT caller_id FROM dont_call WHERE status = 'A' AND caller_id IN (");
    const char *sep = "";
    for (int i = 0; i < cl->ncand; i++) {
        if (cl->cands[i].drop)
            continue;
        db__q_raw(&q, sep);
        db__q_str(&q, cl->cands[i].c.phone);
        sep = ",";
    }
    db__q_raw(&q, ")");
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    bool any = false;
    for (size_t k = 0; k < r.nrows; k++) {
        const char *phone = db_cell(&r, k, 0);
        for (int i = 0; phone && i < cl->ncand; i++)
            if (!cl->cands[i].drop && strcmp(cl->cands[i].c.phone, phone) == 0) {
                cl->cands[i].drop = true;
                cl->cands[i].dnc = true;
                any = true;
            }
    }
    db_rows_free(&r);
    if (!any)
        return 0;
    db__q_init(&q, cl->my);
    db__q_raw(&q, "UPDATE calls SET dnc = 1 WHERE id");
    ids_in(&q, cl, true);
    return db__q_exec(&q);
}

/* ---- phase 5: stamp the claims ---- */

/* One UPDATE for every claimed row (+ their Placing progress rows).  Text protocol on purpose:
 * a prepared statement would cost two more round trips per claim for an IN list that changes
 * every time; the owner is validated ([A-Za-z0-9_-]) and the caller id escaped. */
static int claim_stamp(claim_t *cl)
{
    const db_claim_req_t *req = cl->req;
    db_q_t q;
    db__q_init(&q, cl->my);
    db__q_raw(&q, "UPDATE calls SET ccd_claim_owner = ");
    db__q_str(&q, req->owner);
    db__q_raw(&q, ", ccd_claim_time = NOW()");
    if (req->mark_placing) {
        /* Issabel's step 10 "Placing" write, done in the claim transaction so a number is
         * never seen claimed-but-pending by Issabel's screens. */
        char cid[16];
        snprintf(cid, sizeof(cid), "%s", req->callerid ? req->callerid : "");
        db__q_raw(&q, ", status = 'Placing', callerid = ");
        if (req->callerid)
            db__q_str(&q, cid);
        else
            db__q_raw(&q, "callerid");
        db__q_raw(&q, ", datetime_originate = NOW(), retries = retries + 1, fecha_llamada = NULL, "
                      "datetime_entry_queue = NULL, start_time = NULL, end_time = NULL, "
                      "duration_wait = NULL, duration = NULL, failure_cause = NULL, "
                      "failure_cause_txt = NULL, uniqueid = NULL, id_agent = NULL");
    }
    db__q_raw(&q, " WHERE id");
    ids_in(&q, cl, false);
    int rc = db__q_exec(&q);
    if (rc || !(req->mark_placing && req->log_progress))
        return rc;
    db__q_init(&q, cl->my);
    db__q_printf(&q, "INSERT INTO call_progress_log (datetime_entry, id_campaign_outgoing, "
                     "id_call_outgoing, new_status, retry) SELECT NOW(), %u, id, 'Placing', "
                     "retries FROM calls WHERE id",
                 req->id_campaign);
    ids_in(&q, cl, false);
    return db__q_exec(&q);
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

/* Phases 2 to 5 inside the transaction; *nout = numbers handed out. */
static int claim_locked(claim_t *cl, db_claimed_call_t *out, int *nout)
{
    int rc = claim_candidates(cl);
    if (rc || cl->ncand == 0)
        return rc;
    claim_pick(cl);
    if ((rc = claim_dont_call(cl)))
        return rc;
    int k = 0;
    for (int i = 0; i < cl->ncand && k < cl->want; i++) {
        if (cl->cands[i].drop)
            continue;
        out[k] = cl->cands[i].c;
        if (cl->req->mark_placing)
            out[k].retries++;
        k++;
    }
    if (k > 0 && (rc = claim_stamp(cl)))
        return rc;
    *nout = k;
    return 0;
}

int db_claim_numbers(db_conn_t *conn, const db_claim_req_t *req, db_claimed_call_t *out, int max,
                     int *nout)
{
    *nout = 0;
    if (!req || !valid_owner(req->owner) || req->n <= 0 || max <= 0 || req->abandoned_block_s < 0)
        return CCD_EINVAL;
    claim_t cl = {.my = conn->my, .req = req};
    db__sql_clock(&cl.clk, req->now);
    cl.want = req->n < max ? req->n : max;
    if (cl.want > DB_CLAIM_MAX)
        cl.want = DB_CLAIM_MAX;
    if (req->max_retries == 0)
        return 0;
    int rc = claim_campaign(&cl);
    if (rc || cl.nlists == 0)
        goto done;
    cl.cap = cl.want * 2 * cl.nlists;
    cl.cands = calloc((size_t)cl.cap, sizeof(*cl.cands));
    cl.scans = calloc((size_t)cl.nlists * (MAX_LEVELS + 1), sizeof(*cl.scans));
    if (!cl.cands || !cl.scans) {
        rc = CCD_ENOMEM;
        goto done;
    }
    if (mysql_query(cl.my, "START TRANSACTION")) {
        rc = CCD_EIO;
        goto done;
    }
    rc = claim_locked(&cl, out, nout);
    if (rc == 0 && mysql_commit(cl.my))
        rc = CCD_EIO;
    if (rc) {
        *nout = 0;
        mysql_rollback(cl.my);
    } else if (req->cursor) {
        cursor_update(req->cursor, cl.scans, cl.nscans, cl.cands, cl.ncand);
    }
done:
    if (rc == CCD_EIO)
        LOG_WARN_RL(DB_LOG, "claim for campaign %u failed: %s (%u)", req->id_campaign,
                 mysql_error(cl.my), mysql_errno(cl.my));
    free(cl.cands);
    free(cl.scans);
    return rc;
}

int db_callbacks_due(db_conn_t *c, const db_campaign_t *camp, int abandoned_block_s, time_t now,
                     db_agent_name_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (abandoned_block_s < 0)
        return CCD_EINVAL;
    /* Due means the claim would hand it out now: the same rules, so an agent is never held
     * for a callback that cannot be placed (in its back-off, say, for up to hours). */
    db_claim_req_t req = {.id_campaign = camp->id,
                          .max_retries = camp->retries,
                          .now = now,
                          .abandoned_block_s = abandoned_block_s};
    claim_t cl = {.my = c->my, .req = &req};
    db__sql_clock(&cl.clk, now);
    tz_window(&cl, camp->daytime_init, camp->daytime_end);
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_printf(&q, "SELECT DISTINCT c.agent FROM calls c JOIN campaign_lists l ON l.id = c.id_list "
                     "WHERE l.id_campaign = %u AND l.type = 0 AND l.is_deleted = 0 AND "
                     "c.agent IS NOT NULL AND c.ccd_claim_owner IS NULL AND c.dnc = 0 AND "
                     "c.retries < %u AND " ELIGIBLE_STATUS " AND c.date_init <= %s AND "
                     "c.date_end >= %s AND c.time_init <= %s AND c.time_end >= %s",
                 camp->id, camp->retries, cl.clk.date, cl.clk.date, cl.clk.time, cl.clk.time);
    add_blocks(&q, &cl);
    db__q_raw(&q, " ORDER BY c.agent LIMIT 1000");
    db_rows_t r;
    int rc = db__q_rows(&q, &r);
    if (rc)
        return rc;
    if (r.nrows) {
        *out = calloc(r.nrows, sizeof(**out));
        if (!*out) {
            db_rows_free(&r);
            return CCD_ENOMEM;
        }
        for (size_t i = 0; i < r.nrows; i++)
            snprintf((*out)[i].name, sizeof((*out)[i].name), "%s",
                     db_cell(&r, i, 0) ? db_cell(&r, i, 0) : "");
        *n = r.nrows;
    }
    db_rows_free(&r);
    return 0;
}

int db_campaign_remaining(db_conn_t *c, uint32_t id_campaign, uint32_t max_retries, uint64_t *n)
{
    *n = 0;
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_printf(&q, "SELECT COUNT(*) FROM calls c JOIN campaign_lists l ON l.id = c.id_list "
                     "WHERE l.id_campaign = %u AND l.type = 0 AND l.is_deleted = 0 AND "
                     "((c.dnc = 0 AND c.retries < %u AND " ELIGIBLE_STATUS ") OR c.status IN "
                     "('Placing','Ringing','OnQueue','OnHold') OR c.ccd_claim_owner IS NOT NULL)",
                 id_campaign, max_retries);
    int rc;
    *n = (uint64_t)db__q_count(&q, &rc);
    return rc;
}

int db_server_now(db_conn_t *c, time_t *out)
{
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "SELECT UNIX_TIMESTAMP()");
    int rc;
    *out = (time_t)db__q_count(&q, &rc);
    if (rc)
        return rc;
    return *out > 0 ? 0 : CCD_EIO;
}

int db_claims_release_orphans(db_conn_t *c, uint32_t id_campaign, const char *owner, time_t since,
                              const uint32_t *keep, int nkeep, int *nreleased)
{
    if (nreleased)
        *nreleased = 0;
    if (!valid_owner(owner) || since <= 0 || nkeep < 0)
        return CCD_EINVAL;
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "UPDATE calls c JOIN campaign_lists l ON l.id = c.id_list SET "
                  "c.failure_cause_txt = 'ccd-not-placed', c.status = 'Failure', "
                  "c.ccd_claim_owner = NULL, c.ccd_claim_time = NULL WHERE ");
    db__q_printf(&q, "l.id_campaign = %u AND c.status = 'Placing' AND c.ccd_claim_time >= "
                     "FROM_UNIXTIME(%lld) AND c.ccd_claim_owner = ",
                 id_campaign, (long long)since);
    db__q_str(&q, owner);
    if (nkeep > 0) {
        db__q_raw(&q, " AND c.id NOT IN (");
        for (int i = 0; i < nkeep; i++) {
            if (i)
                db__q_raw(&q, ",");
            db__q_int(&q, keep[i]);
        }
        db__q_raw(&q, ")");
    }
    int rc = db__q_exec(&q);
    if (rc == 0 && nreleased)
        *nreleased = (int)mysql_affected_rows(c->my);
    return rc;
}

int db_claim_release(db_conn_t *c, uint32_t id_call, const char *owner)
{
    if (!valid_owner(owner))
        return CCD_EINVAL;
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_printf(&q, "UPDATE calls SET ccd_claim_owner = NULL, ccd_claim_time = NULL WHERE id = %u "
                     "AND ccd_claim_owner = ",
                 id_call);
    db__q_str(&q, owner);
    return db__q_exec(&q);
}

int db_engine_heartbeat(db_conn_t *c, const char *owner)
{
    if (!valid_owner(owner))
        return CCD_EINVAL;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    db_q_t q;
    db__q_init(&q, c->my);
    db__q_raw(&q, "INSERT INTO ccd_engine (instance_id, hostname, pid, started, heartbeat) VALUES (");
    db__q_str(&q, owner);
    db__q_raw(&q, ", ");
    db__q_str(&q, host);
    db__q_printf(&q, ", %d, NOW(), NOW()) ON DUPLICATE KEY UPDATE heartbeat = NOW()", (int)getpid());
    return db__q_exec(&q);
}

int db_claims_recover(db_conn_t *c, int lease_s, int *nreleased)
{
    MYSQL *my = c->my;
    if (nreleased)
        *nreleased = 0;
    if (lease_s < 1)
        lease_s = 1;
    if (mysql_query(my, "START TRANSACTION"))
        return CCD_EIO;
    db_q_t q;
    db__q_init(&q, my);
    /* Assignments run left to right on the old status, so status is changed last. */
    db__q_raw(&q, "UPDATE calls SET "
                  "failure_cause_txt = IF(status IN ('Placing','Ringing','OnQueue'), 'ccd-recovered', "
                  "failure_cause_txt), "
                  "end_time = IF(status IN ('Success','OnHold') AND end_time IS NULL, NOW(), end_time), "
                  "status = IF(status IN ('Placing','Ringing','OnQueue'), 'Failure', status), "
                  "ccd_claim_owner = NULL, ccd_claim_time = NULL "
                  "WHERE ccd_claim_owner IS NOT NULL AND ccd_claim_owner NOT IN (SELECT instance_id "
                  "FROM ccd_engine WHERE heartbeat >= NOW() - INTERVAL ");
    db__q_int(&q, lease_s);
    db__q_raw(&q, " SECOND)");
    if (db__q_exec(&q))
        goto fail;
    int n = (int)mysql_affected_rows(my);
    db__q_init(&q, my);
    db__q_printf(&q, "DELETE FROM ccd_write_batch WHERE LEFT(writer_id, 32) NOT IN (SELECT "
                     "instance_id FROM ccd_engine WHERE heartbeat >= NOW() - INTERVAL %d SECOND)",
                 lease_s);
    if (db__q_exec(&q))
        goto fail;
    db__q_init(&q, my);
    db__q_printf(&q, "DELETE FROM ccd_engine WHERE heartbeat < NOW() - INTERVAL %d SECOND", lease_s);
    if (db__q_exec(&q))
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
