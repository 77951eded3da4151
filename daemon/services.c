/*
 * Service start/stop order; see services.h.
 *
 * Every module has the same lifecycle: x_new (checks and allocates, with an
 * error buffer) / x_start (starts its own threads) / x_stop / x_free.
 * The database is the exception in timing only: db_start runs before the
 * agent load and waits for an absent database (a SIGTERM ends that wait).
 * Creation: registry -> database -> journal -> AMI -> agent service -> dialer ->
 * ECCP -> FastAGI, so that everything that subscribes to the registry (the
 * journal, the agent service, the dialer, the ECCP workers) exists before the
 * registry thread starts, which is reg_subscribe's rule.  Threads: journal ->
 * registry -> agent service -> AMI -> dialer -> ECCP -> FastAGI.  Stop runs the
 * other way round: the dialer first (no Originate after it), the agent service
 * (it answers what it still has with 503 while the ECCP workers waiting for it
 * still run), then AMI readers, ECCP and FastAGI sessions (the producers of work;
 * the agent service, the dialer and the ECCP workers unsubscribe from the
 * registry), then the registry drains its inbox, then the journal writes every
 * change the registry published, then the database writers drain the write
 * queue, so nothing accepted is lost on an orderly shutdown.
 */
#include "daemon/services.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "agi/agi.h"
#include "ami/ami.h"
#include "core/err.h"
#include "core/log.h"
#include "db/db.h"
#include "dialer/dialer.h"
#include "daemon/inbound.h"
#include "eccp/eccp.h"
#include "journal/journal.h"
#include "reg/reg.h"

/* How long shutdown waits for the database to take the writes still queued. */
#define SVC_DB_DRAIN_MS 15000

/* Owned by the main thread; every pointer is set once during svc_start. */
struct svc {
    const conf_t *cf;
    reg_t *reg;
    db_t *db;
    jnl_t *jnl;
    ami_t *ami;
    ags_t *ags;
    eccp_server_t *eccp;
    dl_t *dl;
    agi_t *agi; /* NULL when [agi] is disabled */
    inbound_t *inbound;
};

/*
 * Loads call_center.agent into the registry before any thread runs, so the
 * first console request already knows every agent.  Runs on the main thread
 * at startup, where waiting on SQL blocks nobody.  A failure is logged and
 * not fatal: consoles can ask again with refreshagents.
 */
static void load_agents(svc_t *s)
{
    char why[CCD_ERR_LEN];
    db_agent_t *rows = NULL;
    size_t n = 0;
    if (db_load_agents_now(s->db, &rows, &n, why, sizeof(why)) != 0) {
        LOG_WARN("main", "agent list not loaded: %s", why);
        return;
    }
    reg_agent_info_t *list = calloc(n ? n : 1, sizeof(*list));
    size_t nlist = n;
    for (size_t i = 0; list && i < n; i++)
        reg_agent_info_set(&list[i], rows[i].type, rows[i].number, rows[i].name, rows[i].estatus,
                           rows[i].id);
    free(rows);
    if (!list || reg_agent_list_merge(list, &nlist) != 0) {
        free(list);
        LOG_WARN("main", "agent list not loaded: out of memory");
        return;
    }
    if (reg_post_agent_sync(s->reg, list, nlist) != 0) {
        free(list);
        LOG_WARN("main", "agent list not loaded: registry inbox full");
        return;
    }
    LOG_INFO("main", "%zu agent(s) loaded from the database", nlist);
}

/*
 * db_start waits for an absent database; the daemon's main thread blocks every signal before
 * starting services and takes them with sigwait afterwards, so a SIGTERM/SIGINT sent during
 * that wait is pending: seeing it ends the wait (the signal stays pending, unconsumed).
 */
static bool stop_requested(void *ctx)
{
    (void)ctx;
    sigset_t pend;
    if (sigpending(&pend) != 0)
        return false;
    return sigismember(&pend, SIGTERM) == 1 || sigismember(&pend, SIGINT) == 1;
}

static int submit_read(void *ctx, db_read_job_t *job)
{
    return db_read_submit(ctx, job);
}

svc_t *svc_start(const conf_t *cf, char *err, size_t errlen)
{
    svc_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cf = cf;
    char why[CCD_ERR_LEN];
    s->reg = reg_new(100000, why, sizeof(why));
    if (!s->reg) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }

    s->db = db_new(&cf->database, why, sizeof(why));
    int dbrc = s->db ? db_start(s->db, stop_requested, NULL, why, sizeof(why)) : CCD_ENOMEM;
    if (dbrc == CCD_ECLOSED) {
        snprintf(err, errlen, "database: %s", why);
        goto fail;
    }
    if (dbrc != 0) {
        /* A database that answers but refuses us is mostly one that was never created. */
        snprintf(err, errlen, "database: %s (a new or old database is prepared by --init-db)", why);
        goto fail;
    }

    load_agents(s);
    /* Before the AMI client starts, so the first caller of a watched queue is known; a
     * failure is not fatal: the loader thread tries again every INBOUND_RELOAD_MS. */
    if (inbound_load_now(&cf->database, s->reg, why, sizeof(why)) != 0)
        LOG_WARN("main", "watched incoming queues not loaded at startup: %s", why);
    s->inbound = inbound_new(s->reg, s->db, INBOUND_RELOAD_MS, why, sizeof(why));
    if (!s->inbound) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }

    /* The journal subscribes before the registry thread starts (so it sees the agent
     * list land too) and runs before AMI, the first producer of call changes. */
    s->jnl = jnl_new(cf, s->reg, s->db, why, sizeof(why));
    if (!s->jnl) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (jnl_start(s->jnl) != 0) {
        snprintf(err, errlen, "cannot start the call journal thread");
        goto fail;
    }

    s->ami = ami_new(cf, &(ami_opts_t){0}, why, sizeof(why));
    if (!s->ami) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (ami_attach_reg(s->ami, s->reg) != 0) {
        snprintf(err, errlen, "cannot attach the AMI client to the registry");
        goto fail;
    }

    /* The agent service subscribes to the registry and to AMI events: before both start. */
    s->ags = ags_new(cf, s->reg, s->ami, s->db, why, sizeof(why));
    if (!s->ags) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }

    /* The dialer subscribes to the registry, so it exists before the registry thread runs. */
    s->dl = dl_new(cf, s->reg, s->ami, s->db, why, sizeof(why));
    if (!s->dl) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }

    if (cf->eccp.enabled) {
        eccp_deps_t deps = {.reg = s->reg,
                            .db_submit = submit_read,
                            .db_ctx = s->db,
                            .db = s->db,
                            .ami = s->ami,
                            .ags = s->ags};
        s->eccp = eccp_server_new(&cf->eccp, &deps, why, sizeof(why));
        if (!s->eccp) {
            snprintf(err, errlen, "ECCP: %s", why);
            goto fail;
        }
    }

    if (cf->agi.enabled) {
        agi_deps_t deps = {.reg = s->reg, .db = s->db, .ags = s->ags};
        s->agi = agi_new(&cf->agi, &deps, why, sizeof(why));
        if (!s->agi) {
            snprintf(err, errlen, "FastAGI: %s", why);
            goto fail;
        }
    }

    int rc = reg_start(s->reg);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the registry thread: %s", ccd_strerror(rc));
        goto fail;
    }

    rc = ags_start(s->ags);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the agent service: %s", ccd_strerror(rc));
        goto fail;
    }

    rc = inbound_start(s->inbound);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the incoming queue loader: %s", ccd_strerror(rc));
        goto fail;
    }

    rc = ami_start(s->ami);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the AMI client: %s", ccd_strerror(rc));
        goto fail;
    }
    LOG_INFO("main", "AMI: %d Asterisk server(s)", ami_nservers(s->ami));

    rc = dl_start(s->dl);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the dialer: %s", ccd_strerror(rc));
        goto fail;
    }

    if (s->eccp) {
        rc = eccp_server_start(s->eccp);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the ECCP server: %s", ccd_strerror(rc));
            goto fail;
        }
        LOG_INFO("main", "ECCP listening on %s:%u", cf->eccp.bind,
                 (unsigned)eccp_server_port(s->eccp));
    }
    if (s->agi) {
        rc = agi_start(s->agi);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the FastAGI server: %s", ccd_strerror(rc));
            goto fail;
        }
    }
    return s;
fail:
    svc_stop(s);
    return NULL;
}

void svc_stop(svc_t *s)
{
    if (!s)
        return;
    /* The dialer stops first: no Originate is sent once AMI is going.  The agent
     * service next: the requests it still has are answered (503) while the ECCP
     * workers waiting for them still run.  Then AMI: its pending actions end
     * (CCD_ECLOSED) while the ECCP workers waiting for them still exist.  Each
     * x_stop is a no-op for a module that never started. */
    dl_stop(s->dl);
    ags_stop(s->ags);
    if (s->ami)
        ami_stop(s->ami);
    eccp_server_stop(s->eccp);
    agi_stop(s->agi); /* its scripts post to the registry and read the database */
    inbound_stop(s->inbound); /* its last read job comes back before the readers stop */
    if (s->reg)
        reg_stop(s->reg); /* applies everything the producers posted */
    jnl_stop(s->jnl);     /* submits the history of every change published */
    db_stop(s->db, SVC_DB_DRAIN_MS);
    jnl_free(s->jnl);
    eccp_server_free(s->eccp);
    ags_free(s->ags);
    dl_free(s->dl); /* after ami_stop: the Originates' last answers were refused */
    agi_free(s->agi);
    inbound_free(s->inbound);
    ami_free(s->ami);
    db_free(s->db);
    reg_free(s->reg);
    free(s);
}

int svc_init_db(const conf_t *cf, char *err, size_t errlen)
{
    return db_migrate(&cf->database, err, errlen);
}

uint16_t svc_eccp_port(const svc_t *s)
{
    return s->eccp ? eccp_server_port(s->eccp) : 0;
}

struct jnl *svc_journal(const svc_t *s)
{
    return s->jnl;
}

struct dl *svc_dialer(const svc_t *s)
{
    return s->dl;
}

struct agi *svc_agi(const svc_t *s)
{
    return s->agi;
}

void svc_parts(const svc_t *s, reg_t **reg, ami_t **ami, db_t **db, eccp_server_t **eccp)
{
    *reg = s->reg;
    *ami = s->ami;
    *db = s->db;
    *eccp = s->eccp;
}

ags_t *svc_agents(const svc_t *s)
{
    return s->ags;
}
