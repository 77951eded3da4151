/* The dialer's integration fixture (dl_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "test/common/ccd_test.h"
#include "test/dialer/dl_fixture.h"

static int64_t fx_now(void *ctx)
{
    fx_t *f = ctx;
    int64_t t = atomic_load(&f->clock_ms);
    return t ? t : clk_wall_ms();
}

static void setup(fx_t *f, const char *tag, bool private_srv, bool injected_clock,
                  uint32_t wrapup_s)
{
    memset(f, 0, sizeof(*f));
    conf_defaults(&f->cf);
    log_set_level(LOG_LVL_WARN);
    f->private_srv = private_srv;
    if (private_srv) {
        dbt_server_start(&f->srv);
        char name[64];
        dbt_name(name, sizeof(name), tag);
        dbt_server_cfg(&f->srv, &f->cf.database, name);
        char err[CCD_ERR_LEN];
        if (db_migrate(&f->cf.database, err, sizeof(err)) != 0)
            fail_msg("migrate: %s", err);
        f->my = dbt_connect(&f->cf.database, true);
        FILE *sf = fopen(CCD_SOURCE_DIR "/db/seed/demo.sql", "r");
        assert_non_null(sf);
        fclose(sf);
        MYSQL *my = f->my;
        if (db_exec_script_file(DBT_CONN(my), CCD_SOURCE_DIR "/db/seed/demo.sql", err,
                                sizeof(err)) != 0)
            fail_msg("seed: %s", err);
    } else {
        f->my = dbt_fresh(&f->cf.database, tag, true);
    }
    dbt_exec(f->my, "UPDATE campaign SET estatus = 'I' WHERE id = 1");
    if (injected_clock)
        atomic_store(&f->clock_ms, clk_wall_ms());

    pbxsim_opts_t so;
    pbxsim_opts_default(&so);
    so.username = "dl";
    so.secret = "dl-secret";
    so.time_scale = 50;
    so.agent_login_wait_ms = 200;
    so.quiet_noise = true;
    so.shutdown_ms = 1200;
    so.wrapup_s = wrapup_s;
    f->sim = pbxsim_start(&so);
    assert_non_null(f->sim);

    f->cf.nami = 1;
    conf_ami_server_t *a = &f->cf.ami[0];
    snprintf(a->host, sizeof(a->host), "127.0.0.1");
    a->port = pbxsim_port(f->sim);
    snprintf(a->username, sizeof(a->username), "dl");
    snprintf(a->secret, sizeof(a->secret), "dl-secret");
    a->reconnect_min_ms = 50;
    a->reconnect_max_ms = 500;
    f->cf.dialer.cycle_ms = 100;
    f->cf.dialer.originate_timeout_s = 15;
    /* The simulator runs 50 times faster: its 10 s talks last 0.2 s of the registry's time. */
    f->cf.dialer.short_call_s = 0;

    char err[CCD_ERR_LEN];
    f->reg = reg_new(100000, err, sizeof(err));
    assert_non_null(f->reg);
    f->db = db_new(&f->cf.database, err, sizeof(err));
    assert_non_null(f->db);
    if (db_start(f->db, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("db_start: %s", err);
    db_agent_t *rows = NULL;
    size_t n = 0;
    if (db_load_agents_now(f->db, &rows, &n, err, sizeof(err)) != 0)
        fail_msg("agents: %s", err);
    reg_agent_info_t *list = calloc(n, sizeof(*list));
    for (size_t i = 0; i < n; i++)
        reg_agent_info_set(&list[i], rows[i].type, rows[i].number, rows[i].name, rows[i].estatus,
                           rows[i].id);
    free(rows);
    assert_int_equal(reg_agent_list_merge(list, &n), 0);
    assert_int_equal(reg_post_agent_sync(f->reg, list, n), 0);
    f->ami = ami_new(&f->cf, &(ami_opts_t){0}, err, sizeof(err));
    assert_non_null(f->ami);
    assert_int_equal(ami_attach_reg(f->ami, f->reg), 0);
    f->orig = mq_new("orig", 1u << 20, 0);
    assert_int_equal(ami_subscribe(f->ami, f->orig, AMI_EVM(AMI_EV_ORIGINATE_RESPONSE), 0), 0);
    f->jnl = jnl_new(&f->cf, f->reg, f->db, err, sizeof(err));
    if (!f->jnl)
        fail_msg("jnl_new: %s", err);
    assert_int_equal(jnl_start(f->jnl), 0);
    f->watch = mq_new("watch", 1u << 22, 0);
    assert_int_equal(reg_subscribe(f->reg, f->watch, REG_SUB_CALLS), 0);
    dl_opts_t o = {.now_ms = injected_clock ? fx_now : NULL, .now_ctx = f};
    f->dl = dl_new_opts(&f->cf, f->reg, f->ami, f->db, &o, err, sizeof(err));
    if (!f->dl)
        fail_msg("dl_new: %s", err);
    f->seen = hmap_new(1024);
}

void fx_setup(fx_t *f, const char *tag, bool private_srv, bool injected_clock)
{
    setup(f, tag, private_srv, injected_clock, 0);
}

void fx_setup_wrapup(fx_t *f, const char *tag, uint32_t wrapup_s)
{
    setup(f, tag, false, false, wrapup_s);
}

void fx_start(fx_t *f)
{
    assert_int_equal(reg_start(f->reg), 0);
    assert_int_equal(ami_start(f->ami), 0);
    assert_int_equal(dl_start(f->dl), 0);
}

void fx_stop(fx_t *f)
{
    dl_stop(f->dl);
    ami_stop(f->ami);
    reg_stop(f->reg);
    jnl_stop(f->jnl);
}

void fx_teardown(fx_t *f)
{
    fx_stop(f);
    dl_free(f->dl);
    ami_free(f->ami);
    db_stop(f->db, 15000);
    jnl_free(f->jnl);
    db_free(f->db);
    reg_free(f->reg);
    mq_free(f->watch);
    mq_free(f->orig);
    pbxsim_stop(f->sim);
    hmap_free(f->seen);
    mysql_close(f->my);
    if (f->private_srv) {
        dbt_server_destroy(&f->srv);
    } else {
        dbt_drop(&f->cf.database);
    }
}

void fx_campaign(fx_t *f, int retries, const char *mode, int max_channels)
{
    char q[1024];
    snprintf(q, sizeof(q),
             "INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, "
             "daytime_end, retries, trunk, context, queue, max_canales, script, estatus, callerid) "
             "VALUES (3, 'Dialer test', CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 365 DAY, "
             "'00:00:00', '23:59:59', %d, 'Local/$OUTNUM$@customers', 'dialer-queue', '8000', 0, "
             "'', 'A', '5550100')",
             retries);
    dbt_exec(f->my, q);
    snprintf(q, sizeof(q),
             "INSERT INTO ccd_campaign_pacing (id_campaign, mode, max_channels, retry_backoff_s, "
             "retry_backoff_max_s) VALUES (3, '%s', %d, 60, 3600)",
             mode, max_channels);
    dbt_exec(f->my, q);
    dbt_exec(f->my, "INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, "
                    "status, total_calls, pending_calls) VALUES (3, 3, 0, 'Test', 't.csv', NOW(), "
                    "1, 0, 0)");
}

void fx_numbers(fx_t *f, int first, int count)
{
    char q[512];
    snprintf(q, sizeof(q),
             "INSERT INTO calls (id, id_list, phone) SELECT %d + seq - 1, 3, %d + seq - 1 FROM "
             "seq_1_to_%d",
             first, first, count);
    dbt_exec(f->my, q);
}

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect to pbxsim failed");
    return fd;
}

/* The agent logs in from its phone (agent-login context), as a supervisor's script would. */
static void agent_login(uint16_t port, int agent)
{
    int fd = tcp_connect(port);
    char req[512];
    snprintf(req, sizeof(req),
             "Action: Login\r\nUsername: dl\r\nSecret: dl-secret\r\n\r\n"
             "Action: Originate\r\nActionID: login-%d\r\nChannel: Local/%d@phones\r\n"
             "Context: agent-login\r\nExten: %d\r\nPriority: 1\r\nAsync: true\r\n\r\n",
             agent, 1000 + agent % 100, agent);
    size_t len = strlen(req);
    assert_true(send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len);
    char buf[4096];
    size_t got = 0;
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    for (;;) {
        CCD_CHECK_DEADLINE(end, "the PBX to accept the agent's login originate");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            fail_msg("pbxsim closed the login connection");
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "Originate successfully queued"))
            break;
        if (got > sizeof(buf) / 2) {
            memmove(buf, buf + got - 64, 64);
            got = 64;
        }
    }
    close(fd);
}

static bool agents_ready(fx_t *f, int n)
{
    for (int i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", 9000 + i);
        reg_agent_t a;
        if (reg_agent_get(f->reg, num, &a) != 0 || a.login != REG_LOGGED_IN || a.ready_ms == 0)
            return false;
    }
    return true;
}

void fx_login_agents(fx_t *f, int n)
{
    CCD_WAIT(ami_server_state(f->ami, 0) == AMI_STATE_UP);
    for (int i = 0; i < n; i++)
        agent_login(pbxsim_port(f->sim), 9000 + i);
    CCD_WAIT((fx_pump(f), agents_ready(f, n)));
}

static bool finished_status(reg_call_status_e s)
{
    return s == REG_CS_FAILURE || s == REG_CS_NOANSWER || s == REG_CS_ABANDONED ||
           s == REG_CS_SHORTCALL || s == REG_CS_HANGUP || s == REG_CS_LOST;
}

void fx_pump(fx_t *f)
{
    mq_msg_t *m;
    while ((m = mq_pop(f->watch, 0))) {
        if (m->type == MSG_REG_CALL_CHANGED) {
            const reg_change_t *ch = (const reg_change_t *)m;
            const reg_call_t *c = &ch->u.call;
            if (c->type == REG_CALL_OUTGOING && c->db_call_id > 0 &&
                c->db_call_id < FX_MAX_CALLS && c->uniqueid[0]) {
                int64_t id = c->db_call_id;
                uintptr_t st = (uintptr_t)hmap_get(f->seen, c->uniqueid);
                f->seq++;
                f->t_orig[id] = c->t_originate_ms;
                f->t_end[id] = c->t_end_ms;
                if (!st) {
                    if (!f->dials[id])
                        f->first_seq[id] = f->seq;
                    f->dials[id]++;
                    st = 1;
                    f->live++;
                    if (f->live > f->peak_live)
                        f->peak_live = f->live;
                }
                if (st == 1 && finished_status(c->status)) {
                    st = 2;
                    f->live--;
                    f->final_seq[id] = f->seq;
                    f->final[id] = (int)c->status + 1;
                    f->cause[id] = c->failure_cause;
                    snprintf(f->agent[id], sizeof(f->agent[id]), "%.15s", c->agent);
                } else if (st == 2 && finished_status(c->status)) {
                    f->final[id] = (int)c->status + 1; /* an inferred end moved up */
                    f->cause[id] = c->failure_cause;
                    snprintf(f->agent[id], sizeof(f->agent[id]), "%.15s", c->agent);
                }
                hmap_put(f->seen, c->uniqueid, (void *)st, NULL);
            }
        }
        m->free(m);
    }
}

int fx_finished(fx_t *f, int first, int count)
{
    int n = 0;
    for (int i = first; i < first + count; i++)
        n += f->final[i] != 0;
    return n;
}

int fx_dialed(fx_t *f, int first, int count)
{
    int n = 0;
    for (int i = first; i < first + count; i++)
        n += f->dials[i] != 0;
    return n;
}
