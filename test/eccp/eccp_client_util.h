/*
 * Small blocking ECCP client for the eccp tests (one header, static functions),
 * plus the request/answer assertions and registry fixtures the tests share.
 * Include after nothing in particular: it pulls in cmocka itself.
 */
#ifndef CCD_TEST_ECCP_CLIENT_UTIL_H
#define CCD_TEST_ECCP_CLIENT_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>

#include "core/clock.h"
#include "core/err.h"
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "reg/reg.h"
#include "test/common/ccd_test.h"

#define TCLI_DECL "<?xml version=\"1.0\"?>\n"
/* A filterbyagent request (for any agent) and its success answer; the answer to a
 * refused login. */
#define TCLI_FILTER(id)                                                                       \
    "<request id=\"" id "\"><filterbyagent><agent_number>any</agent_number></filterbyagent>"  \
    "</request>"
#define TCLI_FILTER_OK(id)                                                                    \
    TCLI_DECL "<response id=\"" id "\"><filterbyagent_response><success/>"                   \
              "</filterbyagent_response></response>\n"
#define TCLI_FAIL401(id)                                                                      \
    TCLI_DECL "<response id=\"" id "\"><login_response><failure><code>401</code>"            \
              "<message>Invalid username or password</message></failure></login_response>" \
              "</response>\n"
/* How long a test waits for an answer or a registry change (slow, noisy machines),
 * scaled by CCD_TEST_TIMEOUT_MULTIPLIER. */
#define TCLI_WAIT_MS ccd_test_timeout_ms(CCD_TEST_WAIT_MS)

typedef struct tcli {
    int fd;
    char buf[1 << 20];
    size_t len;
} tcli_t;

static inline tcli_t *tcli_connect(uint16_t port)
{
    tcli_t *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    return c;
}

static inline void tcli_close(tcli_t *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

static inline void tcli_send(tcli_t *c, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t k = write(c->fd, s + off, n - off);
        if (k <= 0)
            return;
        off += (size_t)k;
    }
}

/* Reads one whole server message ("<?xml...?>\n<doc/>\n") into out (malloc'ed) within
 * timeout_ms; returns NULL on timeout, and "" (malloc'ed) when the server closed. */
static inline char *tcli_recv(tcli_t *c, int timeout_ms)
{
    int64_t end = clk_mono_ms() + timeout_ms;
    for (;;) {
        /* a message ends at the second '\n' */
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            char *nl2 = memchr(nl + 1, '\n', c->len - (size_t)(nl + 1 - c->buf));
            if (nl2) {
                size_t n = (size_t)(nl2 + 1 - c->buf);
                char *out = malloc(n + 1);
                memcpy(out, c->buf, n);
                out[n] = '\0';
                memmove(c->buf, c->buf + n, c->len - n);
                c->len -= n;
                return out;
            }
        }
        int64_t left = end - clk_mono_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t k = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (k <= 0) {
            return strdup("");
        }
        c->len += (size_t)k;
    }
}

/* True when the server closed the connection within timeout_ms (pending data is discarded). */
static inline bool tcli_closed(tcli_t *c, int timeout_ms)
{
    int64_t end = clk_mono_ms() + timeout_ms;
    char tmp[65536];
    while (clk_mono_ms() < end) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t k = read(c->fd, tmp, sizeof(tmp));
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

/* ---- assertions (cmocka) ---- */

/* The next message: the next event when want_event, else the next non-event. */
static inline char *tcli_next(tcli_t *c, bool want_event)
{
    for (;;) {
        char *r = tcli_recv(c, TCLI_WAIT_MS);
        assert_non_null(r);
        bool ev = strncmp(r, TCLI_DECL "<event>", strlen(TCLI_DECL) + 7) == 0;
        if (ev == want_event)
            return r;
        free(r);
    }
}

/* Sends xml and returns the next answer (events skipped); malloc'ed. */
static inline char *rq(tcli_t *c, const char *xml)
{
    tcli_send(c, xml);
    return tcli_next(c, false);
}

static inline void expect(tcli_t *c, const char *xml, const char *want)
{
    char *r = rq(c, xml);
    if (strcmp(r, want) != 0)
        fail_msg("request %s\n got  %s\n want %s", xml, r, want);
    free(r);
}

static inline void expect_has(tcli_t *c, const char *xml, const char *part)
{
    char *r = rq(c, xml);
    if (!strstr(r, part))
        fail_msg("request %s\n got %s\n missing %s", xml, r, part);
    free(r);
}

/* ---- registry fixtures ---- */

static atomic_int treg_synced;
static inline void treg_apply_sync(reg_txn_t *tx, void *arg)
{
    (void)tx;
    (void)arg;
    atomic_store(&treg_synced, 1);
}

/* Posts fn(arg) (arg freed with arg_free) and waits until the registry thread applied it. */
static inline void treg_post_wait(reg_t *r, reg_apply_fn fn, void *arg, void (*arg_free)(void *))
{
    atomic_store(&treg_synced, 0);
    assert_int_equal(reg_post(r, fn, arg, arg_free), 0);
    assert_int_equal(reg_post(r, treg_apply_sync, NULL, NULL), 0);
    CCD_WAIT(atomic_load(&treg_synced));
}

/* Inside an apply function: agent (created if needed) logged in, active, and linked to a new
 * call of the given type, database id and campaign; returns the call for more fields. */
static inline reg_call_t *treg_agent_on_call(reg_txn_t *tx, const char *agent, reg_call_type_e type,
                                             int64_t db_call_id, int64_t campaign_id)
{
    reg_agent_t *a = reg_txn_agent(tx, agent, true);
    a->login = REG_LOGGED_IN;
    a->active = true;
    reg_call_t *c = reg_txn_call_new(tx);
    c->type = type;
    c->status = REG_CS_SUCCESS;
    c->db_call_id = db_call_id;
    c->campaign_id = campaign_id;
    a->call_id = c->id;
    reg_txn_call_touch(tx, c);
    reg_txn_agent_touch(tx, a);
    return c;
}

/* ---- a database stand-in that holds read jobs until the test finishes them ---- */

#define TDB_HELD_MAX 1024
static pthread_mutex_t tdb_mu = PTHREAD_MUTEX_INITIALIZER; /* guards tdb_held, tdb_nheld */
static db_read_job_t *tdb_held[TDB_HELD_MAX];
static int tdb_nheld;
static int tdb_peak; /* the most held at once since tdb_peak_reset (guarded by tdb_mu) */
static atomic_int tdb_submitted; /* jobs offered, held or not */

/* eccp_deps_t.db_submit: keeps the job (CCD_EFULL past TDB_HELD_MAX). */
static inline int tdb_hold_submit(void *ctx, db_read_job_t *job)
{
    (void)ctx;
    atomic_fetch_add(&tdb_submitted, 1);
    pthread_mutex_lock(&tdb_mu);
    int rc = tdb_nheld < TDB_HELD_MAX ? 0 : CCD_EFULL;
    if (!rc)
        tdb_held[tdb_nheld++] = job;
    if (tdb_nheld > tdb_peak)
        tdb_peak = tdb_nheld;
    pthread_mutex_unlock(&tdb_mu);
    return rc;
}

/* The most jobs held at the same time since the last reset: proves a bound on the
 * jobs in flight at every moment, not only when the test happened to look. */
static inline int tdb_peak_get(void)
{
    pthread_mutex_lock(&tdb_mu);
    int n = tdb_peak;
    pthread_mutex_unlock(&tdb_mu);
    return n;
}

static inline void tdb_peak_reset(void)
{
    pthread_mutex_lock(&tdb_mu);
    tdb_peak = tdb_nheld;
    pthread_mutex_unlock(&tdb_mu);
}

static inline int tdb_held_count(void)
{
    pthread_mutex_lock(&tdb_mu);
    int n = tdb_nheld;
    pthread_mutex_unlock(&tdb_mu);
    return n;
}

/* Waits until n jobs are held (fails the test if they do not come). */
static inline void tdb_wait_held(int n)
{
    CCD_WAIT(tdb_held_count() >= n);
    assert_int_equal(tdb_held_count(), n);
}

/* Sends a held job back to the server with the given status. */
static inline void tdb_finish(db_read_job_t *job, int status)
{
    job->status = status;
    job->msg.type = MSG_DB_READ_DONE;
    assert_int_equal(mq_push_force(job->reply, &job->msg), 0);
}

/* The oldest held job, no longer held (the caller finishes it). */
static inline db_read_job_t *tdb_take_oldest(void)
{
    pthread_mutex_lock(&tdb_mu);
    assert_true(tdb_nheld > 0);
    db_read_job_t *job = tdb_held[0];
    memmove(tdb_held, tdb_held + 1, (size_t)(tdb_nheld - 1) * sizeof(tdb_held[0]));
    tdb_nheld--;
    pthread_mutex_unlock(&tdb_mu);
    return job;
}

/* Finishes every held job, newest first, with status. */
static inline void tdb_release_all(int status)
{
    pthread_mutex_lock(&tdb_mu);
    for (int i = tdb_nheld - 1; i >= 0; i--)
        tdb_finish(tdb_held[i], status);
    tdb_nheld = 0;
    pthread_mutex_unlock(&tdb_mu);
}

/* ---- the private MariaDB of the integration tests (scripts/mariadb-private.sh) ---- */

static inline const char *tdb_need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: this test needs the private MariaDB (scripts/mariadb-private.sh "
                 "start DIR; eval \"$(scripts/mariadb-private.sh env DIR)\")", name);
    return v;
}

/* Socket and account from the environment; the per-run database is <prefix><pid>. */
static inline void tdb_conf(conf_database_t *d, const char *prefix)
{
    snprintf(d->socket, sizeof(d->socket), "%s", tdb_need_env("CCD_TEST_DB_SOCKET"));
    snprintf(d->user, sizeof(d->user), "%s", tdb_need_env("CCD_TEST_DB_USER"));
    snprintf(d->password, sizeof(d->password), "%s", tdb_need_env("CCD_TEST_DB_PASSWORD"));
    snprintf(d->name, sizeof(d->name), "%s%d", prefix, (int)getpid());
}

/* A fresh per-run database (a leftover one dropped), migrated and seeded, and the DB
 * module's readers started on it; any failure fails the test. */
static inline db_t *tdb_start(const conf_database_t *d, const char *const *seed, size_t nseed)
{
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    if (db__connect(d, false, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    char q[400];
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", d->name);
    mysql_query(my, q);
    mysql_close(my);
    if (db_migrate(d, err, sizeof(err)) != 0)
        fail_msg("db_migrate: %s", err);
    if (db__connect(d, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    for (size_t i = 0; i < nseed; i++)
        if (mysql_query(my, seed[i]) != 0)
            fail_msg("seed %zu: %s", i, mysql_error(my));
    mysql_close(my);
    db_t *db = db_new(d, err, sizeof(err));
    if (db && db_start(db, NULL, NULL, err, sizeof(err)) != 0) {
        db_free(db);
        db = NULL;
    }
    if (!db)
        fail_msg("db_start: %s", err);
    return db;
}

/* eccp_deps_t.db_submit straight onto the DB module (ctx = the db_t). */
static inline int tdb_submit(void *ctx, db_read_job_t *job)
{
    return db_read_submit((db_t *)ctx, job);
}

/* A side connection's settings for <prefix><pid> (checks and teardown). */
static inline void tdb_side_conf(conf_database_t *d, const char *prefix)
{
    memset(d, 0, sizeof(*d));
    tdb_conf(d, prefix);
    d->port = 3306;
    d->connect_timeout_s = 5;
}

/* Teardown: drops the per-run database, best effort. */
static inline void tdb_drop(const char *prefix)
{
    conf_database_t d;
    tdb_side_conf(&d, prefix);
    MYSQL *my = NULL;
    char err[CCD_ERR_LEN], q[400];
    if (db__connect(&d, false, &my, err, sizeof(err)) == 0) {
        snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS `%s`", d.name);
        mysql_query(my, q);
        mysql_close(my);
    }
}

#endif
