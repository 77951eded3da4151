/*
 * Fair database access per ECCP session (integration: real db module, private
 * MariaDB).  A side connection holds `campaign` write-locked, so every
 * getcampaignlist read blocks in the reader that took it and the rest of a
 * flood stays queued: what is queued, refused and answered is then exact,
 * not a matter of timing.
 *
 * - test_login_beside_flood: flooding sessions fill the queue (the per-client
 *   and per-address bounds refuse the excess with 503 "Server busy", counted
 *   alike by eccp and db, one refusal per back-off per session); both general
 *   readers are stuck; a witness on the
 *   same address still logs in, gets its agent check (401 for a wrong hash)
 *   and getagentstatus answered while the queue still holds exactly the
 *   flood.  With one shared FIFO and no AUTH reader (before) the login waits
 *   for the lock and the test fails at its deadline.  After the unlock every
 *   accepted flood request is answered, once, with its campaign list.
 * - test_round_robin_between_sessions: one session queues PER_CLIENT reads, another
 *   one; after the unlock the second one's answer comes while most of the
 *   first session's reads are still queued (a FIFO would run them all first).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "eccp/eccp.h"
#include "eccp/eccp_int.h"
#include "reg/reg.h"
#include "test/eccp/eccp_client_util.h"

#define DECL TCLI_DECL
#define DB_PREFIX "ccdt_fair_"
#define PER_CLIENT 120
#define PER_ADDR 330
#define FLOODERS 3
#define FLOOD 128 /* = the eccp in-flight bound per session: the whole flood is dispatched */

static reg_t *reg;
static db_t *db;
static eccp_server_t *srv;
static uint16_t port;
static MYSQL *side;  /* holds the table lock */
static MYSQL *probe; /* watches the readers wait for it */
static char dbname[CONF_STR_LEN];

static const char *const SEED[] = {
    "DELETE FROM eccp_authorized_clients",
    "INSERT INTO eccp_authorized_clients (username, md5_password) VALUES ('agentconsole', "
    "md5('agentconsole'))",
    "INSERT INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES "
    "(1, 'Agent', '9000', 'Ann', '1', 'A', 'secret')",
    "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end, retries, "
    "trunk, context, queue, max_canales, script, estatus) SELECT seq, CONCAT('C', seq), '2020-01-01', "
    "'2030-12-31', '08:00:00', '20:00:00', 3, NULL, 'from-internal', '8000', 5, '', 'A' "
    "FROM seq_1_to_500",
};

static void track_agent(reg_txn_t *tx, void *arg)
{
    (void)arg;
    reg_agent_t *a = reg_txn_agent(tx, "Agent/9000", true);
    a->active = true;
    a->db_id = 1;
    reg_txn_agent_touch(tx, a);
}

static int setup(void **state)
{
    (void)state;
    conf_t c;
    conf_defaults(&c);
    tdb_conf(&c.database, DB_PREFIX);
    c.database.read_jobs_per_client = PER_CLIENT;
    c.database.read_jobs_per_address = PER_ADDR;
    db = tdb_start(&c.database, SEED, sizeof(SEED) / sizeof(SEED[0]));
    char err[CCD_ERR_LEN];
    reg = reg_new(10000, NULL, 0);
    snprintf(c.eccp.bind, sizeof(c.eccp.bind), "127.0.0.1");
    c.eccp.port = 0;
    eccp_deps_t deps = {.reg = reg, .db_submit = tdb_submit, .db_ctx = db};
    srv = eccp_server_new(&c.eccp, &deps, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(reg_start(reg), 0);
    assert_int_equal(eccp_server_start(srv), 0);
    port = eccp_server_port(srv);
    /* Agent/9000 tracked, as the daemon's startup load would: the witness's getagentstatus is
     * answered from the registry (a miss would ask the database to reload the agent). */
    treg_post_wait(reg, track_agent, NULL, NULL);
    conf_database_t sc;
    tdb_side_conf(&sc, DB_PREFIX);
    if (db__connect(&sc, true, &side, err, sizeof(err)) != 0 ||
        db__connect(&sc, true, &probe, err, sizeof(err)) != 0)
        fail_msg("side connection: %s", err);
    snprintf(dbname, sizeof(dbname), "%s", sc.name);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (side) {
        mysql_query(side, "UNLOCK TABLES");
        mysql_close(side);
    }
    if (probe)
        mysql_close(probe);
    reg_stop(reg);
    eccp_server_free(srv);
    reg_free(reg);
    db_stop(db, 1000);
    db_free(db);
    tdb_drop(DB_PREFIX);
    return 0;
}

static tcli_t *login(char cookie[33])
{
    tcli_t *c = tcli_connect(port);
    assert_non_null(c);
    tcli_send(c, "<request id=\"L\"><login><username>agentconsole</username><password>agentconsole"
                 "</password></login></request>");
    char *r = tcli_recv(c, TCLI_WAIT_MS);
    if (!r)
        fail_msg("no login answer within the deadline");
    const char *k = strstr(r, "<app_cookie>");
    if (!k)
        fail_msg("login failed: %s", r);
    if (cookie)
        snprintf(cookie, 33, "%.32s", k + 12);
    free(r);
    return c;
}

static void lock_campaigns(void)
{
    if (mysql_query(side, "LOCK TABLES campaign WRITE") != 0)
        fail_msg("LOCK TABLES: %s", mysql_error(side));
}

static void unlock_campaigns(void)
{
    if (mysql_query(side, "UNLOCK TABLES") != 0)
        fail_msg("UNLOCK TABLES: %s", mysql_error(side));
}

/* Waits until n connections of the test database wait for the table lock (the general
 * readers that took a getcampaignlist); fails at the deadline. */
static void wait_blocked(int n)
{
    char q[512];
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '%s' "
                           "AND STATE LIKE 'Waiting for table%%'", dbname);
    int64_t end = clk_mono_ms() + TCLI_WAIT_MS;
    int got = -1;
    while (clk_mono_ms() <= end) {
        if (mysql_query(probe, q) != 0)
            fail_msg("processlist: %s", mysql_error(probe));
        MYSQL_RES *res = mysql_store_result(probe);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        got = row && row[0] ? atoi(row[0]) : -1;
        mysql_free_result(res);
        if (got == n)
            return;
        ccd_test_sleep_ms(2);
    }
    fail_msg("%d readers wait for the table lock (want %d)", got, n);
}

static void stats(db_stats_t *d, eccp_stats_t *e)
{
    db_get_stats(db, d);
    if (e)
        eccp_server_stats(srv, e);
}

/* Waits until the read queue holds at least n jobs and the server has answered `answered`
 * requests (refusals are answered at once); fails at the deadline. */
static void wait_queue(size_t n, uint64_t answered)
{
    int64_t end = clk_mono_ms() + TCLI_WAIT_MS;
    db_stats_t d;
    eccp_stats_t e;
    for (;;) {
        stats(&d, &e);
        if (d.read_queue_depth >= n && e.responses >= answered)
            return;
        if (clk_mono_ms() > end)
            fail_msg("read queue %zu (want >= %zu), responses %llu (want >= %llu)",
                     d.read_queue_depth, n, (unsigned long long)e.responses,
                     (unsigned long long)answered);
        ccd_test_sleep_ms(2);
    }
}

/* Requests tag<from> .. tag<from+n-1>. */
static void send_flood(tcli_t *c, const char *tag, int from, int n)
{
    char req[256];
    for (int i = from; i < from + n; i++) {
        snprintf(req, sizeof(req), "<request id=\"%s%d\"><getcampaignlist><limit>3</limit>"
                                   "</getcampaignlist></request>", tag, i);
        tcli_send(c, req);
    }
}

#define BUSY_TXT "<failure><code>503</code><message>Server busy - too many database requests queued"
#define LIST_TXT "<getcampaignlist_response><campaigns><campaign><id>1</id>"

/* Reads n answers of c's flood: each id once, each a campaign list or a 503 refusal.
 * Returns the number of refusals. */
static int read_flood(tcli_t *c, const char *tag, int n)
{
    bool seen[FLOOD] = {false};
    int busy = 0;
    for (int k = 0; k < n; k++) {
        char *r = tcli_recv(c, TCLI_WAIT_MS);
        if (!r || !*r)
            fail_msg("flood %s: answer %d of %d missing", tag, k, n);
        const char *p = strstr(r, "<response id=\"");
        assert_non_null(p);
        p += 14;
        assert_int_equal(strncmp(p, tag, strlen(tag)), 0);
        int i = atoi(p + strlen(tag));
        assert_true(i >= 0 && i < n);
        assert_false(seen[i]);
        seen[i] = true;
        if (strstr(r, BUSY_TXT))
            busy++;
        else if (!strstr(r, LIST_TXT))
            fail_msg("flood %s: unexpected answer %s", tag, r);
        free(r);
    }
    return busy;
}

static void test_login_beside_flood(void **state)
{
    (void)state;
    tcli_t *fl[FLOODERS];
    for (int i = 0; i < FLOODERS; i++)
        fl[i] = login(NULL);
    db_stats_t d0, d1, d2;
    eccp_stats_t e0, e1, e2;
    lock_campaigns();
    /* Flooder 0 first, alone: 2 of its reads block in the general readers, PER_CLIENT wait,
     * the rest is refused.  The client bound counts queued jobs only. */
    send_flood(fl[0], "a", 0, 2);
    wait_blocked(2);
    stats(&d0, &e0);
    int64_t t0 = clk_mono_ms();
    send_flood(fl[0], "a", 2, FLOOD - 2);
    wait_queue(PER_CLIENT, e0.responses + FLOOD - PER_CLIENT - 2);
    /* After a refusal the session is not read for a back-off: k refusals take at least
     * (k - 1) back-offs, where without it they would all come in one read. */
    int64_t took_refusals = clk_mono_ms() - t0;
    assert_true(took_refusals >= (int64_t)(FLOOD - PER_CLIENT - 2 - 1) * ECCP_DB_BUSY_RETRY_MS);
    stats(&d1, &e1);
    assert_int_equal(d1.read_queue_depth, PER_CLIENT);
    assert_int_equal(d1.reads_refused_client - d0.reads_refused_client, FLOOD - PER_CLIENT - 2);
    /* Flooders 1 and 2: the address (all on 127.0.0.1) fills at PER_ADDR queued reads. */
    send_flood(fl[1], "b", 0, FLOOD);
    send_flood(fl[2], "c", 0, FLOOD);
    wait_queue(PER_ADDR, e1.responses + 2 * FLOOD - (PER_ADDR - PER_CLIENT));
    stats(&d1, &e1);
    assert_int_equal(d1.read_queue_depth, PER_ADDR);
    uint64_t refused = (d1.reads_refused_client - d0.reads_refused_client) +
                       (d1.reads_refused_address - d0.reads_refused_address) +
                       (d1.reads_refused_total - d0.reads_refused_total);
    assert_int_equal(refused, (uint64_t)FLOODERS * FLOOD - PER_ADDR - 2);
    assert_true(d1.reads_refused_address > d0.reads_refused_address);
    assert_int_equal(e1.db_busy - e0.db_busy, refused); /* each refusal answered 503 */

    /* The witness, same address, while both general readers are stuck and the address full. */
    char ck[33], h[33], req[512];
    t0 = clk_mono_ms();
    tcli_t *w = login(ck);
    eccp_agent_hash(ck, "Agent/9000", "wrong", h);
    snprintf(req, sizeof(req), "<request id=\"p\"><pingagent><agent_number>Agent/9000</agent_number>"
                               "<agent_hash>%s</agent_hash></pingagent></request>", h);
    tcli_send(w, req);
    char *r = tcli_recv(w, TCLI_WAIT_MS);
    assert_non_null(r);
    assert_string_equal(r, DECL "<response id=\"p\"><pingagent_response><failure><code>401</code>"
                                "<message>Unauthorized agent</message></failure></pingagent_response>"
                                "</response>\n");
    free(r);
    tcli_send(w, "<request id=\"s\"><getagentstatus><agent_number>Agent/9000</agent_number>"
                 "</getagentstatus></request>");
    r = tcli_recv(w, TCLI_WAIT_MS);
    assert_non_null(r);
    assert_non_null(strstr(r, "<response id=\"s\"><getagentstatus_response>"));
    free(r);
    int64_t took = clk_mono_ms() - t0;
    /* ... and the flood is still exactly where it was: nothing ran, nothing was dropped. */
    stats(&d2, &e2);
    assert_int_equal(d2.read_queue_depth, PER_ADDR);
    assert_int_equal(d2.reads_done + d2.reads_failed, d1.reads_done + d1.reads_failed + 2);
    print_message("witness login + agent check + status: %lld ms with %zu reads queued\n",
                  (long long)took, d2.read_queue_depth);

    unlock_campaigns();
    int busy = read_flood(fl[0], "a", FLOOD) + read_flood(fl[1], "b", FLOOD) +
               read_flood(fl[2], "c", FLOOD);
    assert_int_equal(busy, (int)refused);
    stats(&d2, &e2);
    assert_int_equal(d2.read_queue_depth, 0);
    assert_int_equal(e2.db_busy - e0.db_busy, refused);
    /* the flooders are served again once their reads fit */
    expect_has(fl[0], "<request id=\"again\"><getcampaignlist><limit>3</limit></getcampaignlist>"
                      "</request>", LIST_TXT);
    for (int i = 0; i < FLOODERS; i++)
        tcli_close(fl[i]);
    tcli_close(w);
}

static void test_round_robin_between_sessions(void **state)
{
    (void)state;
    tcli_t *f = login(NULL);
    tcli_t *w = login(NULL);
    db_stats_t d0, d1;
    eccp_stats_t e0;
    stats(&d0, &e0);
    lock_campaigns();
    send_flood(f, "f", 0, 2);
    wait_blocked(2);
    send_flood(f, "f", 2, PER_CLIENT - 2); /* queued, within the client bound: no refusal */
    wait_queue(PER_CLIENT - 2, e0.responses);
    tcli_send(w, "<request id=\"w\"><getcampaignlist><limit>3</limit></getcampaignlist></request>");
    wait_queue(PER_CLIENT - 1, e0.responses);
    unlock_campaigns();
    char *r = tcli_recv(w, TCLI_WAIT_MS);
    assert_non_null(r);
    assert_non_null(strstr(r, "<response id=\"w\">" LIST_TXT));
    free(r);
    /* Round-robin: after the 2 blocked reads, the readers take one of f's, then w's.  A
     * FIFO would have run all 98 of f's queued reads before w's. */
    stats(&d1, NULL);
    print_message("witness answered with %zu of the flood's reads still queued\n",
                  d1.read_queue_depth);
    assert_true(d1.read_queue_depth > 0);
    assert_int_equal(d1.reads_refused_client, d0.reads_refused_client);
    assert_int_equal(read_flood(f, "f", PER_CLIENT), 0);
    tcli_close(f);
    tcli_close(w);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_beside_flood),
        cmocka_unit_test(test_round_robin_between_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
