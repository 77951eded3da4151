/*
 * ECCP requests: the dispatch table, the authentication decorators, and the
 * requests answered from session or registry state.
 *
 * The table order is Issabel's (getrequestlist lists names in that order),
 * plus the two Issabel 5 additions at the end.  Decorators follow Issabel:
 *   none       getrequestlist, login, logout
 *   eccpauth   the session must have logged in, else top-level 401 Unauthorized
 *   agentauth  eccpauth + agent_number (else top-level 400), its format (417),
 *              its existence (404) and agent_hash (401) inside NAME_response;
 *              existence and hash need the database and are checked on a DB
 *              thread before the request's own work (eccp_dbreq.c).
 *
 * Requests that act on an agent or its call (login, pause, hold, hangup,
 * transfers, ...) validate everything Issabel validates here and are then
 * carried out by the agent service (eccp_agent.c, agent/agent.h).
 *
 * Runs on session workers only.
 */
#include "eccp/eccp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "eccp/eccp_auth.h"
#include "eccp/eccp_dbreq.h"
#include "eccp/eccp_guard.h"

#define MOD "eccp"


/* ---------------- reply helpers ---------------- */

static size_t req_index(const eccp_reqdef_t *def)
{
    return def ? (size_t)(def - eccp__reqs) : eccp__nreqs;
}

void eccp__count_req(eccp_server_t *srv, const eccp_reqdef_t *def)
{
    atomic_fetch_add_explicit(&srv->st_req_n[req_index(def)], 1, memory_order_relaxed);
}

void eccp__count_err(eccp_server_t *srv, const eccp_reqdef_t *def)
{
    atomic_fetch_add_explicit(&srv->st_req_err[req_index(def)], 1, memory_order_relaxed);
}

void eccp__failure(eccp_call_t *c, int code, const char *msg)
{
    eccp__count_err(c->w->srv, c->def);
    buf_t *b = eccp__wbuf(c->w);
    eccp__msg_failure(b, c->id, code, msg);
    eccp__send_buf(c->w, c->s, b);
}

void eccp__req_failure(eccp_call_t *c, int code, const char *msg)
{
    eccp__count_err(c->w->srv, c->def);
    buf_t *b = eccp__wbuf(c->w);
    eccp__msg_req_failure(b, c->id, c->def->name, NULL, code, msg);
    eccp__send_buf(c->w, c->s, b);
}

static void status_failure(eccp_call_t *c, const char *status, int code, const char *msg)
{
    eccp__count_err(c->w->srv, c->def);
    buf_t *b = eccp__wbuf(c->w);
    eccp__msg_req_failure(b, c->id, c->def->name, status, code, msg);
    eccp__send_buf(c->w, c->s, b);
}

void eccp__success(eccp_call_t *c)
{
    buf_t *b = eccp__wbuf(c->w);
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, c->id, c->def->name);
    eccp__xw_open(&w, "success");
    eccp__xw_close(&w, "success");
    eccp__msg_resp_end(&w, c->def->name);
    eccp__send_buf(c->w, c->s, b);
}

/* Required text argument: 1 present, 0 absent or too long (a top-level 400 was sent). */
static int need_arg(eccp_call_t *c, const char *name, char *out, size_t outsz)
{
    int rc = eccp__arg(c->cmd, name, out, outsz);
    if (rc == 1)
        return 1;
    eccp__failure(c, 400, "Bad request");
    return 0;
}

/* ---------------- session requests ---------------- */

static void rq_getrequestlist(eccp_call_t *c)
{
    buf_t *b = eccp__wbuf(c->w);
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, c->id, c->def->name);
    eccp__xw_open(&w, "requests");
    for (size_t i = 0; i < eccp__nreqs; i++)
        eccp__xw_leaf(&w, "request", eccp__reqs[i].name);
    eccp__xw_close(&w, "requests");
    eccp__msg_resp_end(&w, c->def->name);
    eccp__send_buf(c->w, c->s, b);
}

static void login_ok(eccp_worker_t *wk, eccp_sess_t *s, const char *id, const char *name,
                     const char *user)
{
    char cookie[33];
    buf_t *b = eccp__wbuf(wk);
    if (eccp__cookie_new(cookie) != 0) {
        eccp__count_err(wk->srv, hmap_get(wk->srv->reqs, name));
        eccp__msg_failure(b, id, 500, "Internal server error");
        eccp__send_buf(wk, s, b);
        return;
    }
    s->logged_in = true;
    eccp__login_authed(wk, s);
    eccp__guard_login_ok(wk->srv->guard, user);
    memcpy(s->cookie, cookie, sizeof(cookie));
    snprintf(s->user, sizeof(s->user), "%s", user);
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, id, name);
    eccp__xw_open(&w, "success");
    eccp__xw_close(&w, "success");
    eccp__xw_leaf(&w, "app_cookie", cookie);
    eccp__msg_resp_end(&w, name);
    eccp__send_buf(wk, s, b);
    LOG_INFO_RL(MOD, "session logged in peer=%s user=%s", s->peer, user);
}

/*
 * A wrong user or password: counted by the guard per address and per name, and
 * the answer waits (parked on the worker, which keeps serving everyone else)
 * for a delay that grows with those failures.  The session's later requests
 * wait for the answer, so a client cannot pipeline guesses past the delay.
 */
static void login_failed(eccp_worker_t *w, eccp_sess_t *s, const char *id, const char *name,
                         const char *user)
{
    bool blocked_now = false;
    int64_t delay =
        eccp__guard_login_failed(w->srv->guard, s->addr, user, clk_mono_ms(), &blocked_now);
    atomic_fetch_add(&w->srv->st_login_failed, 1);
    eccp__count_err(w->srv, hmap_get(w->srv->reqs, name));
    if (delay > 0)
        atomic_fetch_add(&w->srv->st_login_delayed, 1);
    LOG_NOTICE_RL(MOD, "session %s: login refused for user %s (answer delayed %lld ms)", s->peer,
                  user, (long long)delay);
    if (blocked_now)
        LOG_WARN_RL(MOD, "session %s: too many failed logins (user %s): further logins from this "
                         "address or for this user from addresses that failed are refused for %d s",
                    s->peer, user, w->srv->cfg.login_block_time_s);
    buf_t *b = eccp__wbuf(w);
    eccp__msg_req_failure(b, id, name, NULL, 401, "Invalid username or password");
    eccp__login_answer(w, s, b, delay);
}

static void login_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    if (j->u.login.ok)
        login_ok(w, s, j->id, j->def->name, j->u.login.user);
    else
        login_failed(w, s, j->id, j->def->name, j->u.login.user);
}

/*
 * One login at a time per session: the requests after a login wait, unparsed,
 * until its answer is out (eccp__login_started), so they are answered in order
 * and an unauthenticated client cannot fill the database readers with logins.
 * A blocked address or name is refused before any database work.
 */
static void rq_login(eccp_call_t *c)
{
    char user[256], pass[256];
    if (eccp__arg(c->cmd, "username", user, sizeof(user)) != 1 ||
        eccp__arg(c->cmd, "password", pass, sizeof(pass)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    eccp_sess_t *s = c->s;
    eccp_server_t *srv = c->w->srv;
    int retry_s = 0;
    if (eccp__guard_login_blocked(srv->guard, s->addr, user, clk_mono_ms(), &retry_s)) {
        atomic_fetch_add(&srv->st_login_blocked, 1);
        LOG_NOTICE_RL(MOD, "session %s: login for user %s refused unchecked: too many failed "
                           "logins (%d s left)", s->peer, user, retry_s);
        char msg[96];
        snprintf(msg, sizeof(msg), "Too many failed logins, try again in %d s", retry_s);
        eccp__req_failure(c, 429, msg);
        return;
    }
    const eccp_deps_t *d = &srv->deps;
    if (d->login_check) {
        if (d->login_check(d->login_ctx, user, pass))
            login_ok(c->w, s, c->id, c->def->name, user);
        else
            login_failed(c->w, s, c->id, c->def->name, user);
        return;
    }
    eccp_job_t *j = eccp__job_new(c, eccp__sql_login, login_done);
    if (!j)
        return;
    memcpy(j->u.login.user, user, sizeof(j->u.login.user));
    memcpy(j->u.login.pass, pass, sizeof(j->u.login.pass));
    int before = s->pending;
    eccp__job_submit(c->w, j);
    if (s->pending > before)
        eccp__login_started(c->w, s, j);
}

static void rq_logout(eccp_call_t *c)
{
    c->s->logged_in = false;
    c->s->cookie[0] = '\0';
    c->s->closing = true;
    eccp__success(c);
}

static void rq_filterbyagent(eccp_call_t *c)
{
    char agent[REG_ID_LEN];
    if (!need_arg(c, "agent_number", agent, sizeof(agent)))
        return;
    if (strcmp(agent, "any") == 0) {
        c->s->filter[0] = '\0';
    } else if (!eccp__agent_valid(agent)) {
        eccp__req_failure(c, 417, "Invalid agent number");
        return;
    } else {
        memcpy(c->s->filter, agent, sizeof(c->s->filter));
    }
    eccp__success(c);
}

static void rq_callprogress(eccp_call_t *c)
{
    char v[64];
    /* PHP: (int)$comando->enable != 0; an absent element reads as 0. */
    c->s->progress = eccp__arg(c->cmd, "enable", v, sizeof(v)) == 1 && eccp__intval(v) != 0;
    eccp__success(c);
}

static void rq_dumpstatus(eccp_call_t *c)
{
    reg_t *r = c->w->srv->deps.reg;
    eccp_stats_t st;
    eccp_server_stats(c->w->srv, &st);
    LOG_NOTICE_RL(MOD, "dumpstatus: %zu agents, %zu calls tracked; %d ECCP sessions (%d not logged "
                       "in), %llu requests, %llu events sent; %llu failed logins, %llu blocked; "
                       "%llu connections refused before login, %llu login timeouts",
                  reg_agent_count(r), reg_call_count(r), st.sessions, st.unauth_sessions,
                  (unsigned long long)st.requests, (unsigned long long)st.events_sent,
                  (unsigned long long)st.login_failed, (unsigned long long)st.login_blocked,
                  (unsigned long long)(st.refused_unauth + st.refused_unauth_addr + st.refused_addr),
                  (unsigned long long)st.closed_login_timeout);
    eccp__success(c);
}

/* ---------------- registry-backed requests ---------------- */

static bool agent_tracked(eccp_call_t *c, const char *number, reg_agent_t *a)
{
    return reg_agent_get(c->w->srv->deps.reg, number, a) == 0;
}

/* The agent's current call (out filled) or false. */
static bool agent_call(eccp_call_t *c, const reg_agent_t *a, reg_call_t *call)
{
    return a->call_id && reg_call_get(c->w->srv->deps.reg, a->call_id, call) == 0;
}

/* ---------------- agent lookups, reloading an agent the registry does not know ---------------- */

/*
 * An agent added to the database after the registry was loaded is unknown until refreshagents.
 * A lookup that misses asks the database for the missing agents (one read job), posts the
 * ones found to the registry, and answers with them; only an agent the database does not
 * have (or has inactive) gets the 404.  Without a database the miss is answered at once.
 */
struct agent_list {
    size_t n;
    char (*numbers)[REG_ID_LEN];
    bool *missing;         /* not in the registry when the request came */
    reg_agent_t *loaded;   /* DB thread: the row of a missing agent, when found */
    bool *found;
};
typedef struct agent_list agent_list_t;

typedef void (*agents_answer_fn)(eccp_call_t *c, const struct agent_list *l);

static void agent_list_free(void *p)
{
    agent_list_t *l = p;
    if (!l)
        return;
    free(l->numbers);
    free(l->missing);
    free(l->loaded);
    free(l->found);
    free(l);
}

static agent_list_t *agent_list_new(size_t n)
{
    agent_list_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->n = n;
    l->numbers = calloc(n ? n : 1, REG_ID_LEN);
    l->missing = calloc(n ? n : 1, sizeof(bool));
    l->loaded = calloc(n ? n : 1, sizeof(reg_agent_t));
    l->found = calloc(n ? n : 1, sizeof(bool));
    if (!l->numbers || !l->missing || !l->loaded || !l->found) {
        agent_list_free(l);
        return NULL;
    }
    return l;
}

/* The registry's record, else the one just loaded for a miss. */
static bool agent_lookup(eccp_call_t *c, const agent_list_t *l, size_t i, reg_agent_t *out)
{
    if (agent_tracked(c, l->numbers[i], out))
        return true;
    if (l->found[i]) {
        *out = l->loaded[i];
        return true;
    }
    return false;
}

static int sql_agents_reload(db_conn_t *db, eccp_job_t *j)
{
    agent_list_t *l = j->extra;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->missing[i])
            continue;
        const char *slash = strchr(l->numbers[i], '/');
        if (!slash)
            continue;
        char type[REG_ID_LEN];
        snprintf(type, sizeof(type), "%.*s", (int)(slash - l->numbers[i]), l->numbers[i]);
        db_agent_t row;
        bool found = false;
        int rc = db_agent_get(db, type, slash + 1, &row, &found);
        if (rc)
            return rc;
        if (!found)
            continue;
        reg_agent_t *a = &l->loaded[i];
        memset(a, 0, sizeof(*a));
        snprintf(a->number, sizeof(a->number), "%s", l->numbers[i]);
        ccd_str_copy(a->name, sizeof(a->name), ccd_str(row.name));
        a->active = row.estatus == 'A';
        a->db_id = row.id;
        a->login = REG_LOGGED_OUT;
        l->found[i] = true;
    }
    return 0;
}

static void apply_agent_upsert(reg_txn_t *tx, void *arg)
{
    const reg_agent_t *in = arg;
    reg_agent_t *a = reg_txn_agent(tx, in->number, true);
    if (!a)
        return;
    a->active = in->active;
    a->db_id = in->db_id;
    snprintf(a->name, sizeof(a->name), "%s", in->name);
    reg_txn_agent_touch(tx, a);
}

static void agents_reload_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    eccp_call_t c;
    eccp__call_from_job(&c, w, s, j);
    agent_list_t *l = j->extra;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->found[i])
            continue;
        reg_agent_t *copy = malloc(sizeof(*copy));
        if (copy)
            *copy = l->loaded[i];
        if (!copy || reg_post(w->srv->deps.reg, apply_agent_upsert, copy, free) != 0) {
            free(copy); /* the answer below still uses the row; the next miss tries again */
            LOG_WARN(MOD, "agent %s not added to the registry (inbox full)", l->numbers[i]);
        } else {
            LOG_INFO(MOD, "agent %s loaded from the database on a lookup", l->numbers[i]);
        }
    }
    j->u.reload.answer(&c, l);
}

/* Answers now when every agent is tracked (or there is no database), else after a reload. */
static void agents_lookup(eccp_call_t *c, agent_list_t *l, agents_answer_fn answer)
{
    reg_agent_t a;
    bool any = false;
    for (size_t i = 0; i < l->n; i++) {
        l->missing[i] = !agent_tracked(c, l->numbers[i], &a);
        any |= l->missing[i];
    }
    if (!any || !c->w->srv->deps.db_submit) {
        answer(c, l);
        agent_list_free(l);
        return;
    }
    eccp_job_t *j = eccp__job_new(c, sql_agents_reload, agents_reload_done);
    if (!j) {
        agent_list_free(l);
        return;
    }
    j->extra = l;
    j->extra_free = agent_list_free;
    j->u.reload.answer = answer;
    j->auth_lane = true;
    eccp__job_submit(c->w, j);
}

static void answer_agentstatus(eccp_call_t *c, const agent_list_t *l)
{
    reg_agent_t a;
    /* Issabel tracks active agents only (agent.estatus = 'A'). */
    if (!agent_lookup(c, l, 0, &a) || !a.active) {
        status_failure(c, "offline", 404, "Invalid agent number");
        return;
    }
    reg_call_t call;
    bool has_call = agent_call(c, &a, &call);
    buf_t *b = eccp__wbuf(c->w);
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, c->id, c->def->name);
    eccp__agent_status(&w, &a, has_call ? &call : NULL, false);
    eccp__msg_resp_end(&w, c->def->name);
    eccp__send_buf(c->w, c->s, b);
}

/* One agent_number argument into a list of one; false when an answer was sent. */
static agent_list_t *one_agent(eccp_call_t *c, bool status_shape)
{
    char agent[REG_ID_LEN];
    if (!need_arg(c, "agent_number", agent, sizeof(agent)))
        return NULL;
    if (!eccp__agent_valid(agent)) {
        if (status_shape)
            status_failure(c, "offline", 404, "Invalid agent number");
        else
            eccp__req_failure(c, 404, "Specified agent not found");
        return NULL;
    }
    agent_list_t *l = agent_list_new(1);
    if (!l) {
        eccp__failure(c, 500, "Internal server error");
        return NULL;
    }
    memcpy(l->numbers[0], agent, REG_ID_LEN);
    return l;
}

static void rq_getagentstatus(eccp_call_t *c)
{
    agent_list_t *l = one_agent(c, true);
    if (l)
        agents_lookup(c, l, answer_agentstatus);
}

#define MULTI_MAX 1024

/* Collects <agents><agent_number/>...</agents>; NULL when an answer was sent. */
static agent_list_t *collect_agents(eccp_call_t *c)
{
    xmlNode *agents = eccp__child(c->cmd, "agents");
    if (!agents) {
        eccp__failure(c, 400, "Bad request");
        return NULL;
    }
    size_t cnt = 0;
    for (xmlNode *x = agents->children; x; x = x->next)
        if (x->type == XML_ELEMENT_NODE && strcmp((const char *)x->name, "agent_number") == 0)
            cnt++;
    if (cnt > MULTI_MAX) {
        eccp__failure(c, 400, "Bad request");
        return NULL;
    }
    agent_list_t *l = agent_list_new(cnt);
    if (!l) {
        eccp__failure(c, 500, "Internal server error");
        return NULL;
    }
    size_t i = 0;
    for (xmlNode *x = agents->children; x; x = x->next) {
        if (x->type != XML_ELEMENT_NODE || strcmp((const char *)x->name, "agent_number") != 0)
            continue;
        if (eccp__node_text(x, l->numbers[i], REG_ID_LEN) != 1 || !eccp__agent_valid(l->numbers[i])) {
            agent_list_free(l);
            eccp__req_failure(c, 417, "Invalid agent number");
            return NULL;
        }
        i++;
    }
    return l;
}

static void write_queues(xw_t *w, const reg_agent_t *a)
{
    eccp__xw_open(w, "queues");
    for (int q = 0; q < a->nqueues && q < REG_MAX_QUEUES; q++)
        eccp__xw_leaf(w, "queue", a->queues[q]);
    eccp__xw_close(w, "queues");
}

static void answer_agentqueues(eccp_call_t *c, const agent_list_t *l)
{
    reg_agent_t a;
    if (!agent_lookup(c, l, 0, &a) || !a.active) {
        eccp__req_failure(c, 404, "Specified agent not found");
        return;
    }
    buf_t *b = eccp__wbuf(c->w);
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, c->id, c->def->name);
    write_queues(&w, &a);
    eccp__msg_resp_end(&w, c->def->name);
    eccp__send_buf(c->w, c->s, b);
}

static void rq_getagentqueues(eccp_call_t *c)
{
    agent_list_t *l = one_agent(c, false);
    if (l)
        agents_lookup(c, l, answer_agentqueues);
}

/*
 * getmultipleagent*: every listed agent must be tracked and active, else one 404 for the
 * lot; each answers as <agent><agent_number/>...</agent> with what item writes.
 */
static void multi_agents(eccp_call_t *c, const agent_list_t *l,
                         void (*item)(eccp_call_t *c, xw_t *w, const reg_agent_t *a))
{
    size_t n = l->n;
    reg_agent_t *as = calloc(n ? n : 1, sizeof(*as));
    if (!as) {
        eccp__failure(c, 500, "Internal server error");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!agent_lookup(c, l, i, &as[i]) || !as[i].active) {
            free(as);
            eccp__req_failure(c, 404, "Specified agent not found");
            return;
        }
    }
    buf_t *b = eccp__wbuf(c->w);
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, c->id, c->def->name);
    eccp__xw_open(&w, "agents");
    for (size_t i = 0; i < n; i++) {
        eccp__xw_open(&w, "agent");
        eccp__xw_leaf(&w, "agent_number", l->numbers[i]);
        item(c, &w, &as[i]);
        eccp__xw_close(&w, "agent");
    }
    eccp__xw_close(&w, "agents");
    eccp__msg_resp_end(&w, c->def->name);
    free(as);
    eccp__send_buf(c->w, c->s, b);
}

static void status_item(eccp_call_t *c, xw_t *w, const reg_agent_t *a)
{
    reg_call_t call;
    bool has_call = agent_call(c, a, &call);
    eccp__agent_status(w, a, has_call ? &call : NULL, false);
}

static void answer_multistatus(eccp_call_t *c, const agent_list_t *l)
{
    multi_agents(c, l, status_item);
}

static void rq_getmultipleagentstatus(eccp_call_t *c)
{
    agent_list_t *l = collect_agents(c);
    if (l)
        agents_lookup(c, l, answer_multistatus);
}

static void queues_item(eccp_call_t *c, xw_t *w, const reg_agent_t *a)
{
    (void)c;
    write_queues(w, a);
}

static void answer_multiqueues(eccp_call_t *c, const agent_list_t *l)
{
    multi_agents(c, l, queues_item);
}

static void rq_getmultipleagentqueues(eccp_call_t *c)
{
    agent_list_t *l = collect_agents(c);
    if (l)
        agents_lookup(c, l, answer_multiqueues);
}

/* Issabel 5: registered yes/no of a SIP/PJSIP/IAX2 peer, asked through AMI Command. */
static void rq_getextensionstatus(eccp_call_t *c)
{
    char ext[256];
    int rc = eccp__arg(c->cmd, "extension", ext, sizeof(ext));
    if (rc == 0) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (rc < 0 || !eccp__ext_valid(ext)) {
        eccp__req_failure(c, 417, "Invalid extension");
        return;
    }
    if (!eccp__ami_available(c->w)) {
        eccp__failure(c, 500, "No AMI connection");
        return;
    }
    eccp__ami_extstatus(c, ext);
}

/* ---------------- agent requests: checks after the DB-side agent check ---------------- */

/*
 * Each *_done runs on the worker once the agent exists and its hash matched;
 * c->cmd is gone by then, so the arguments travel in the job (a[], has[]).
 */

static eccp_job_t *agent_job(eccp_call_t *c, int (*sql)(db_conn_t *, eccp_job_t *),
                             void (*done)(eccp_worker_t *, eccp_sess_t *, eccp_job_t *))
{
    eccp_job_t *j = eccp__job_new(c, sql, done);
    if (!j)
        return NULL;
    j->agentauth = true;
    eccp__arg(c->cmd, "agent_number", j->agent, sizeof(j->agent));
    if (eccp__arg(c->cmd, "agent_hash", j->hash, sizeof(j->hash)) != 1)
        j->hash[0] = '\0';
    return j;
}

/* What every agent-request finish starts from: the call stand-in, the agent as the registry
 * has it now, and its current call. */
typedef struct agent_ctx {
    eccp_call_t c;
    reg_agent_t a;
    bool tracked;
    reg_call_t call;
    bool in_call;
} agent_ctx_t;

static void agent_ctx(agent_ctx_t *x, eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    eccp__call_from_job(&x->c, w, s, j);
    x->tracked = agent_tracked(&x->c, j->agent, &x->a);
    x->in_call = x->tracked && agent_call(&x->c, &x->a, &x->call);
}

/*
 * The checks most finishes share, in Issabel's order; each returns false once it sent the
 * failure. unknown is the 404 text, which differs between requests.
 */
static bool need_logged_in(eccp_call_t *c, bool tracked, const reg_agent_t *a, const char *unknown)
{
    if (!tracked) {
        eccp__req_failure(c, 404, unknown);
        return false;
    }
    if (a->login != REG_LOGGED_IN) {
        eccp__req_failure(c, 417, "Agent currently not logged in");
        return false;
    }
    return true;
}

static bool need_call(eccp_call_t *c, bool in_call)
{
    if (!in_call)
        eccp__req_failure(c, 417, "Agent not in call");
    return in_call;
}

/* Hands the request to the agent service; its answer comes back as an ags_done_t. */
static void to_ags(eccp_call_t *c, ags_op_e op, const char *agent, const char *arg)
{
    ags_req_t r = {.op = op};
    snprintf(r.agent, sizeof(r.agent), "%s", agent);
    snprintf(r.arg, sizeof(r.arg), "%s", arg ? arg : "");
    eccp__ags_start(c, &r);
}

static void pingagent_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!ax.tracked) {
        eccp__req_failure(c, 404, "Specified agent not found");
        return;
    }
    /* The session's idle timer was reset when the request arrived; the agent's inactivity
     * timer (loginagent's timeout) is the agent service's, when there is one. */
    if (w->srv->deps.ags)
        to_ags(c, AGS_PING, j->agent, NULL);
    else
        eccp__success(c);
}

static void pauseagent_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!j->u.agent.has) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (!j->u.agent.break_found) { /* set by the DB part */
        eccp__req_failure(c, 404, "Break ID not found or not active");
        return;
    }
    if (!need_logged_in(c, ax.tracked, &ax.a, "Agent not found or not logged in through ECCP"))
        return;
    /* A pause set on the phone system (break_id -1) is not a break of ours: the requested
     * break takes its place (docs/eccp.md, "Pauses set on the phone system"). */
    if (ax.a.break_id > 0) {
        if (ax.a.break_id != (int)eccp__intval(j->u.agent.arg))
            eccp__req_failure(c, 417, "Agent already in incompatible break");
        else
            eccp__success(c);
        return;
    }
    ags_req_t r = {.op = AGS_PAUSE, .break_id = (int)eccp__intval(j->u.agent.arg)};
    snprintf(r.agent, sizeof(r.agent), "%s", j->agent);
    snprintf(r.break_name, sizeof(r.break_name), "%.127s", j->u.agent.break_name);
    eccp__ags_start(c, &r);
}

static void unpauseagent_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!need_logged_in(c, ax.tracked, &ax.a, "Agent not found or not logged in through ECCP"))
        return;
    if (!ax.a.break_id) {
        eccp__success(c);
        return;
    }
    to_ags(c, AGS_UNPAUSE, j->agent, NULL);
}

static void hangup_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!need_call(c, ax.in_call))
        return;
    to_ags(c, AGS_HANGUP, j->agent, NULL);
}

static void mixmonitormute_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (j->u.agent.has && eccp__intval(j->u.agent.arg) <= 0) {
        eccp__req_failure(c, 417, "Invalid timeout");
        return;
    }
    if (!need_call(c, ax.in_call))
        return;
    /* The agent service arms the optional timer that unmutes the recording again. */
    long long t = j->u.agent.has ? eccp__intval(j->u.agent.arg) : 0;
    ags_req_t r = {.op = AGS_MUTE, .timeout_s = t > 86400 ? 86400 : (int)t};
    snprintf(r.agent, sizeof(r.agent), "%s", j->agent);
    eccp__ags_start(c, &r);
}

static void mixmonitorunmute_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!need_call(c, ax.in_call))
        return;
    to_ags(c, AGS_UNMUTE, j->agent, NULL);
}

static void transfer_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!j->u.agent.has || !eccp__is_digits(j->u.agent.arg)) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (!ax.tracked) {
        eccp__req_failure(c, 404, "Specified agent not found");
        return;
    }
    bool atxfer = strcmp(j->def->name, "atxfercall") == 0;
    /* Issabel answers atxfercall without a call with 404 (transfercall: 417). */
    if (atxfer && !ax.in_call) {
        eccp__req_failure(c, 404, "Agent not in call");
        return;
    }
    if (!need_call(c, ax.in_call))
        return;
    to_ags(c, atxfer ? AGS_ATXFER : AGS_TRANSFER, j->agent, j->u.agent.arg);
}

static void transfercallagent_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!j->u.agent.has) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    reg_agent_t target;
    if (!eccp__agent_valid(j->u.agent.arg)) {
        eccp__req_failure(c, 417, "Invalid agent number");
        return;
    }
    if (!ax.tracked || !agent_tracked(c, j->u.agent.arg, &target)) {
        eccp__req_failure(c, 404, "Specified agent not found");
        return;
    }
    if (!need_call(c, ax.in_call))
        return;
    to_ags(c, AGS_TRANSFER_AGENT, j->agent, j->u.agent.arg);
}

static void hold_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!need_logged_in(c, ax.tracked, &ax.a, "Agent not found or not logged in through ECCP"))
        return;
    if (!need_call(c, ax.in_call))
        return;
    if (ax.a.on_hold) {
        eccp__req_failure(c, 417, "Agent already in hold");
        return;
    }
    to_ags(c, AGS_HOLD, j->agent, NULL);
}

static void unhold_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!need_logged_in(c, ax.tracked, &ax.a, "Specified agent not found"))
        return;
    if (!need_call(c, ax.in_call))
        return;
    if (!ax.a.on_hold) {
        eccp__success(c);
        return;
    }
    to_ags(c, AGS_UNHOLD, j->agent, NULL);
}

static void getchanvars_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!need_logged_in(c, ax.tracked, &ax.a, "Specified agent not found"))
        return;
    if (!need_call(c, ax.in_call && ax.call.channel[0]))
        return;
    to_ags(c, AGS_CHANVARS, j->agent, NULL);
}

static void schedulecall_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    const eccp_jsched_in_t *in = &j->u.sched_in;
    if (in->has_type && in->has_call && strcmp(in->type, "outgoing") != 0) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (!need_logged_in(c, ax.tracked, &ax.a, "Agent not found or not logged in through ECCP"))
        return;
    bool same = in->has_same && eccp__intval(in->same) != 0;
    if (in->window_state == 2) {
        eccp__req_failure(c, 400, "Bad request: incomplete schedule");
        return;
    }
    if (same && in->window_state == 0) {
        eccp__req_failure(c, 400, "Bad request: same-agent requires schedule");
        return;
    }
    if (in->has_phone && !eccp__is_digits(in->phone)) {
        eccp__req_failure(c, 400, "Bad request: invalid new phone");
        return;
    }
    if (in->window_state == 1) {
        static const char *const k[4] = {"date_init", "date_end", "time_init", "time_end"};
        for (int i = 0; i < 4; i++) {
            bool ok = i < 2 ? eccp__is_date(in->window[i]) : eccp__is_time(in->window[i]);
            if (!ok) {
                char msg[64];
                snprintf(msg, sizeof(msg), "Bad request: invalid %s", k[i]);
                eccp__req_failure(c, 400, msg);
                return;
            }
        }
        const char *lo = strcmp(in->window[0], in->window[1]) <= 0 ? in->window[0] : in->window[1];
        char today[32];
        eccp__fmt_time(clk_wall_ms(), false, today);
        today[10] = '\0';
        if (strcmp(lo, today) < 0) {
            eccp__req_failure(c, 400, "Bad request: date_init before current date");
            return;
        }
    }
    /* The DB checks and the write run as a second job (the agent check already passed). */
    eccp_job_t *k = eccp__job_new(c, eccp__sql_schedulecall, eccp__writes_done);
    if (!k)
        return;
    eccp_jsched_t *out = &k->u.sched;
    snprintf(out->agent, sizeof(out->agent), "%s", j->agent);
    out->has_window = in->window_state == 1;
    if (out->has_window) {
        bool swap = strcmp(in->window[0], in->window[1]) > 0;
        memcpy(out->window[0], in->window[swap ? 1 : 0], sizeof(out->window[0]));
        memcpy(out->window[1], in->window[swap ? 0 : 1], sizeof(out->window[1]));
        memcpy(out->window[2], in->window[2], sizeof(out->window[2]));
        memcpy(out->window[3], in->window[3], sizeof(out->window[3]));
    }
    out->call = in->has_type && in->has_call ? eccp__intval(in->call) : 0;
    out->current = ax.in_call && ax.call.type == REG_CALL_OUTGOING ? ax.call.db_call_id : 0;
    out->same_agent = same;
    out->has_phone = in->has_phone;
    memcpy(out->phone, in->phone, sizeof(out->phone));
    out->has_name = in->has_name;
    memcpy(out->name, in->name, sizeof(out->name));
    eccp__job_submit(w, k);
}

/*
 * The plain agent requests: the table row names the optional SQL, the finish and the one
 * optional argument; every answer comes from the row's done.
 */
static void rq_agent(eccp_call_t *c)
{
    eccp_job_t *j = agent_job(c, c->def->sql, c->def->done);
    if (!j)
        return;
    if (c->def->arg &&
        !eccp__opt_arg(c, j, c->def->arg, j->u.agent.arg, sizeof(j->u.agent.arg), &j->u.agent.has))
        return;
    eccp__job_submit(c->w, j);
}

static void rq_schedulecall(eccp_call_t *c)
{
    eccp_job_t *j = agent_job(c, NULL, schedulecall_done);
    if (!j)
        return;
    eccp_jsched_in_t *in = &j->u.sched_in;
    if (!eccp__opt_arg(c, j, "campaign_type", in->type, sizeof(in->type), &in->has_type) ||
        !eccp__opt_arg(c, j, "call_id", in->call, sizeof(in->call), &in->has_call) ||
        !eccp__opt_arg(c, j, "sameagent", in->same, sizeof(in->same), &in->has_same) ||
        !eccp__opt_arg(c, j, "newphone", in->phone, sizeof(in->phone), &in->has_phone) ||
        !eccp__opt_arg(c, j, "newcontactname", in->name, sizeof(in->name), &in->has_name))
        return;
    xmlNode *sch = eccp__child(c->cmd, "schedule");
    if (sch) {
        static const char *const f[4] = {"date_init", "date_end", "time_init", "time_end"};
        in->window_state = 1;
        for (int i = 0; i < 4; i++)
            if (eccp__arg(sch, f[i], in->window[i], sizeof(in->window[i])) != 1)
                in->window_state = 2;
    }
    eccp__job_submit(c->w, j);
}

/* loginagent / logoutagent: eccpauth; they check the agent themselves and carry a status. */

static void loginagent_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!ax.tracked) {
        status_failure(c, "logged-out", 404, "Specified agent not found");
        return;
    }
    if (ax.a.login != REG_LOGGED_OUT && ax.a.extension[0]) {
        if (strcmp(ax.a.extension, j->u.agent.arg) == 0) {
            buf_t *b = eccp__wbuf(w);
            xw_t x;
            eccp__xw_init(&x, b);
            eccp__msg_resp_begin(&x, j->id, j->def->name);
            eccp__xw_leaf(&x, "status", ax.a.login == REG_LOGGED_IN ? "logged-in" : "logging");
            eccp__msg_resp_end(&x, j->def->name);
            eccp__send_buf(w, s, b);
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "Specified agent already connected to extension: %s",
                     ax.a.extension);
            status_failure(c, "logged-out", 409, msg);
        }
        return;
    }
    ags_req_t r = {.op = AGS_LOGIN, .timeout_s = j->u.agent.timeout_s};
    snprintf(r.agent, sizeof(r.agent), "%s", j->agent);
    snprintf(r.arg, sizeof(r.arg), "%.79s", j->u.agent.arg);
    eccp__ags_start(c, &r);
}

static void logoutagent_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j)
{
    agent_ctx_t ax;
    agent_ctx(&ax, w, s, j);
    eccp_call_t *c = &ax.c;
    if (!ax.tracked || ax.a.login == REG_LOGGED_OUT) {
        buf_t *b = eccp__wbuf(w);
        xw_t x;
        eccp__xw_init(&x, b);
        eccp__msg_resp_begin(&x, j->id, j->def->name);
        eccp__xw_leaf(&x, "status", "logged-out");
        eccp__msg_resp_end(&x, j->def->name);
        eccp__send_buf(w, s, b);
        return;
    }
    to_ags(c, AGS_LOGOUT, j->agent, NULL);
}

static void rq_loginagent(eccp_call_t *c)
{
    char agent[REG_ID_LEN], ext[REG_ID_LEN], tmo[64];
    if (eccp__arg(c->cmd, "agent_number", agent, sizeof(agent)) != 1 ||
        eccp__arg(c->cmd, "extension", ext, sizeof(ext)) != 1) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    int rc = eccp__arg(c->cmd, "timeout", tmo, sizeof(tmo));
    if (rc < 0 || (rc == 1 && (!(tmo[0] >= '0' && tmo[0] <= '9') || eccp__intval(tmo) <= 0))) {
        eccp__failure(c, 400, "Bad request");
        return;
    }
    if (!eccp__agent_valid(agent)) {
        status_failure(c, "logged-out", 404, "Specified agent not found");
        return;
    }
    eccp_job_t *j = agent_job(c, NULL, loginagent_done);
    if (!j)
        return;
    j->auth_status = true;
    snprintf(j->u.agent.arg, sizeof(j->u.agent.arg), "%s", ext);
    j->u.agent.has = true;
    long long t = rc == 1 ? eccp__intval(tmo) : 0;
    j->u.agent.timeout_s = t > 86400 * 365 ? 86400 * 365 : (int)t; /* a year is no timeout */
    eccp__job_submit(c->w, j);
}

static void rq_logoutagent(eccp_call_t *c)
{
    char agent[REG_ID_LEN];
    if (!need_arg(c, "agent_number", agent, sizeof(agent)))
        return;
    if (!eccp__agent_valid(agent)) {
        status_failure(c, "logged-out", 404, "Specified agent not found");
        return;
    }
    eccp_job_t *j = agent_job(c, NULL, logoutagent_done);
    if (!j)
        return;
    j->auth_status = true;
    eccp__job_submit(c->w, j);
}

static void rq_setcontact(eccp_call_t *c)
{
    eccp_job_t *j = agent_job(c, eccp__sql_setcontact, eccp__writes_done);
    if (!j)
        return;
    eccp_jcontact_t *a = &j->u.contact;
    if (!eccp__opt_arg(c, j, "call_id", a->call, sizeof(a->call), &a->has_call) ||
        !eccp__opt_arg(c, j, "contact_id", a->contact, sizeof(a->contact), &a->has_contact))
        return;
    eccp__job_submit(c->w, j);
}

static void rq_saveformdata(eccp_call_t *c)
{
    eccp_job_t *j = agent_job(c, eccp__sql_saveformdata, eccp__writes_done);
    if (!j)
        return;
    if (eccp__saveformdata_args(c, j) != 0) {
        eccp__job_free(j);
        return;
    }
    eccp__job_submit(c->w, j);
}

/* ---------------- table ---------------- */

/* RQ: a request with its own handler. RQ_AGENT: a plain agent request served by rq_agent
 * (name, finish, SQL after the agent check or NULL, optional argument name or NULL). */
#define RQ(name, auth, fn) {name, auth, fn, NULL, NULL, NULL}
#define RQ_AGENT(name, done, sql, arg) {name, ECCP_AUTH_AGENT, rq_agent, sql, done, arg}

const eccp_reqdef_t eccp__reqs[] = {
    RQ("getrequestlist", ECCP_AUTH_NONE, rq_getrequestlist),
    RQ("filterbyagent", ECCP_AUTH_ECCP, rq_filterbyagent),
    RQ("login", ECCP_AUTH_NONE, rq_login),
    RQ("logout", ECCP_AUTH_NONE, rq_logout),
    RQ("getqueuescript", ECCP_AUTH_ECCP, eccp__rq_getqueuescript),
    RQ("getcampaignlist", ECCP_AUTH_ECCP, eccp__rq_getcampaignlist),
    RQ("getincomingqueuelist", ECCP_AUTH_ECCP, eccp__rq_getincomingqueuelist),
    RQ("getcampaignqueuewait", ECCP_AUTH_ECCP, eccp__rq_getcampaignqueuewait),
    RQ("getcampaigninfo", ECCP_AUTH_ECCP, eccp__rq_getcampaigninfo),
    RQ("getcallinfo", ECCP_AUTH_ECCP, eccp__rq_getcallinfo),
    RQ("setcontact", ECCP_AUTH_AGENT, rq_setcontact),
    RQ("saveformdata", ECCP_AUTH_AGENT, rq_saveformdata),
    RQ("getpauses", ECCP_AUTH_ECCP, eccp__rq_getpauses),
    RQ("loginagent", ECCP_AUTH_ECCP, rq_loginagent),
    RQ("logoutagent", ECCP_AUTH_ECCP, rq_logoutagent),
    RQ_AGENT("pauseagent", pauseagent_done, eccp__sql_break_check, "pause_type"),
    RQ_AGENT("pingagent", pingagent_done, NULL, NULL),
    RQ_AGENT("unpauseagent", unpauseagent_done, NULL, NULL),
    RQ("getagentstatus", ECCP_AUTH_ECCP, rq_getagentstatus),
    RQ("getmultipleagentstatus", ECCP_AUTH_ECCP, rq_getmultipleagentstatus),
    RQ_AGENT("mixmonitormute", mixmonitormute_done, NULL, "timeout"),
    RQ_AGENT("mixmonitorunmute", mixmonitorunmute_done, NULL, NULL),
    RQ_AGENT("hangup", hangup_done, NULL, NULL),
    RQ("getcampaignstatus", ECCP_AUTH_ECCP, eccp__rq_getcampaignstatus),
    RQ("getincomingqueuestatus", ECCP_AUTH_ECCP, eccp__rq_getincomingqueuestatus),
    RQ("schedulecall", ECCP_AUTH_AGENT, rq_schedulecall),
    RQ_AGENT("transfercall", transfer_done, NULL, "extension"),
    RQ_AGENT("atxfercall", transfer_done, NULL, "extension"),
    RQ_AGENT("hold", hold_done, NULL, NULL),
    RQ_AGENT("unhold", unhold_done, NULL, NULL),
    RQ("getagentqueues", ECCP_AUTH_ECCP, rq_getagentqueues),
    RQ("getmultipleagentqueues", ECCP_AUTH_ECCP, rq_getmultipleagentqueues),
    RQ("getagentactivitysummary", ECCP_AUTH_ECCP, eccp__rq_getagentactivitysummary),
    RQ_AGENT("getchanvars", getchanvars_done, NULL, NULL),
    RQ("callprogress", ECCP_AUTH_ECCP, rq_callprogress),
    RQ("campaignlog", ECCP_AUTH_ECCP, eccp__rq_campaignlog),
    RQ("dumpstatus", ECCP_AUTH_ECCP, rq_dumpstatus),
    RQ("refreshagents", ECCP_AUTH_ECCP, eccp__rq_refreshagents),
    RQ_AGENT("transfercallagent", transfercallagent_done, NULL, "target_agent_number"),
    RQ("getextensionstatus", ECCP_AUTH_ECCP, rq_getextensionstatus),
};
const size_t eccp__nreqs = sizeof(eccp__reqs) / sizeof(eccp__reqs[0]);

/* ---------------- dispatch ---------------- */

void eccp__dispatch(eccp_worker_t *w, eccp_sess_t *s, const char *pkt, size_t len)
{
    atomic_fetch_add(&w->srv->st_requests, 1);
    eccp_req_t r;
    if (eccp__req_parse(pkt, len, &r) != 0) {
        atomic_fetch_add(&w->srv->st_bad, 1);
        eccp__count_req(w->srv, NULL);
        eccp__count_err(w->srv, NULL);
        LOG_INFO_RL(MOD, "session %s: malformed packet or wrong root element, closing", s->peer);
        buf_t *b = eccp__wbuf(w);
        eccp__msg_failure(b, NULL, 400, "Bad request");
        s->closing = true;
        eccp__send_buf(w, s, b);
        return;
    }
    eccp_call_t c = {.w = w, .s = s, .def = NULL, .id = r.id, .cmd = r.cmd};
    c.def = r.cmd && r.has_id && r.name[0] ? hmap_get(w->srv->reqs, r.name) : NULL;
    bool refused = c.def && c.def->auth != ECCP_AUTH_NONE && !s->logged_in;
    /* A request answered 401 is no sign of life: a client that only gets refused must
     * not keep a session (and its slot) alive. */
    if (!refused)
        s->last_ms = clk_mono_ms();
    if (r.cmd && r.has_id)
        eccp__count_req(w->srv, c.def);
    if (!r.cmd || !r.has_id) {
        eccp__count_req(w->srv, NULL);
        eccp__count_err(w->srv, NULL);
        buf_t *b = eccp__wbuf(w);
        eccp__msg_failure(b, NULL, 400, "Bad request");
        eccp__send_buf(w, s, b);
    } else if (!c.def) {
        LOG_DEBUG(MOD, "session %s: unknown request '%s'", s->peer, r.name);
        eccp__failure(&c, 501, "Not Implemented");
    } else if (refused) {
        eccp__failure(&c, 401, "Unauthorized");
    } else if (c.def->auth == ECCP_AUTH_AGENT) {
        char agent[REG_ID_LEN];
        if (eccp__arg(r.cmd, "agent_number", agent, sizeof(agent)) != 1)
            eccp__failure(&c, 400, "Bad request");
        else if (!eccp__agent_valid(agent))
            eccp__req_failure(&c, 417, "Invalid agent number");
        else
            c.def->fn(&c);
    } else {
        c.def->fn(&c);
    }
    eccp__req_free(&r);
}
