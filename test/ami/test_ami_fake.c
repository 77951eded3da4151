/*
 * Integration tests against a small scripted AMI server in this file, for
 * what the simulator does not do on purpose: MD5 challenge login, a legacy
 * `Response: Follows` reply, responses for unknown ActionIDs and late
 * responses (after the timeout), list items interleaved with other events,
 * and garbage on the wire (disconnect, reconnect).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "ami/ami.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "reg/reg.h"
#include "test/common/ccd_test.h"

#define tmo ccd_test_timeout_ms

typedef struct fake {
    int lfd;
    uint16_t port;
    pthread_t th;
    _Atomic bool stop;
    _Atomic int conns;        /* connections accepted */
    _Atomic int md5_ok;       /* logins with the right MD5 key */
    _Atomic bool release_delayed; /* "Delayed" actions are answered once this is set */
    _Atomic bool stalled;     /* stopped reading after a "Stall" action */
    _Atomic int corestatus;   /* CoreStatus actions received (one per resync) */
    _Atomic int shutting;     /* this many more connections land in a shutdown window */
    const char *secret;
} fake_t;

static void put(int fd, const char *fmt, ...)
{
    char b[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof(b), fmt, ap);
    va_end(ap);
    for (int o = 0; o < n;) {
        ssize_t w = send(fd, b + o, (size_t)(n - o), MSG_NOSIGNAL);
        if (w <= 0)
            return;
        o += (int)w;
    }
}

static void md5hex(const char *in, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(in, strlen(in), md, &n, EVP_md5(), NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Answers one action the way the script says. Returns false to drop the connection. */
static bool answer(fake_t *f, int fd, const ami_msg_t *m)
{
    char act[64], id[96];
    ccd_str_t a = ami_msg_get(m, "Action"), i = ami_msg_get(m, "ActionID");
    snprintf(act, sizeof(act), "%.*s", (int)a.len, a.p);
    snprintf(id, sizeof(id), "%.*s", (int)i.len, i.p);
    if ((!strcasecmp(act, "Challenge") || !strcasecmp(act, "Login")) &&
        atomic_load(&f->shutting) > 0) {
        /* a restart's shutdown window answers every action so, whatever the
         * credentials (restart_members_and_pauses.txt) */
        atomic_fetch_sub(&f->shutting, 1);
        put(fd, "Response: Error\r\nActionID: %s\r\nMessage: Asterisk is shutting down\r\n\r\n", id);
        return true;
    }
    if (!strcasecmp(act, "Challenge")) {
        put(fd, "Response: Success\r\nActionID: %s\r\nChallenge: 840215\r\n\r\n", id);
    } else if (!strcasecmp(act, "Login")) {
        char want[40] = "", in[512];
        snprintf(in, sizeof(in), "840215%s", f->secret);
        md5hex(in, want);
        ccd_str_t key = ami_msg_get(m, "Key");
        if (ami_str_ieq(ami_msg_get(m, "AuthType"), "MD5") && key.len == 32 &&
            memcmp(key.p, want, 32) == 0) {
            atomic_fetch_add(&f->md5_ok, 1);
            put(fd, "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id);
        } else {
            put(fd, "Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n", id);
        }
    } else if (!strcasecmp(act, "CoreStatus")) {
        atomic_fetch_add(&f->corestatus, 1);
        put(fd, "Response: Success\r\nActionID: %s\r\nCoreStartupDate: 2026-11-23\r\n"
                "CoreStartupTime: 10:00:00\r\n\r\n", id);
    } else if (!strcasecmp(act, "Command")) { /* Asterisk <= 13 style */
        put(fd, "Response: Follows\r\nPrivilege: Command\r\nActionID: %s\r\n"
                "Name/username             Host\n1001/1001                 (Unspecified)\n\n"
                "1 sip peers--END COMMAND--\r\n\r\n", id);
    } else if (!strcasecmp(act, "Ping")) {
        /* a stray response first: nobody asked for it */
        put(fd, "Response: Success\r\nActionID: nobody-%s\r\nPing: Pong\r\n\r\n", id);
        put(fd, "Response: Success\r\nActionID: %s\r\nPing: Pong\r\n\r\n", id);
    } else if (!strcasecmp(act, "Delayed")) {
        /* answered only once the test has seen the client give up on it */
        int64_t end = ccd_test_deadline(60000);
        while (!atomic_load(&f->release_delayed) && !atomic_load(&f->stop) && ccd_test_now_ms() < end)
            ccd_test_sleep_ms(1);
        put(fd, "Response: Success\r\nActionID: %s\r\nMessage: late\r\n\r\n", id);
    } else if (!strcasecmp(act, "QueueStatus") || !strcasecmp(act, "Agents") ||
               !strcasecmp(act, "CoreShowChannels")) {
        put(fd, "Response: Success\r\nActionID: %s\r\nEventList: start\r\nMessage: follows\r\n\r\n", id);
        if (!strcasecmp(act, "QueueStatus")) {
            put(fd, "Event: QueueParams\r\nQueue: 8000\r\nActionID: %s\r\n\r\n", id);
            /* an unrelated event in the middle of the list */
            put(fd, "Event: Hangup\r\nChannel: Local/5001@customers-1;1\r\nUniqueid: u-1\r\n"
                    "Cause: 16\r\n\r\n");
            put(fd, "Event: QueueMember\r\nQueue: 8000\r\nLocation: Local/9000@agents\r\n"
                    "StateInterface: Agent:9000\r\nStatus: 1\r\nPaused: 0\r\nActionID: %s\r\n\r\n", id);
        }
        put(fd, "Event: %sComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: 1\r\n\r\n",
            act, id);
    } else if (!strcasecmp(act, "Stall")) {
        /* a peer that stops reading: the client's writes must not block it */
        atomic_store(&f->stalled, true);
        while (!atomic_load(&f->stop))
            ccd_test_sleep_ms(10);
        return false;
    } else if (!strcasecmp(act, "Burst")) {
        /* Count events alternating AgentLogin/AgentLogoff of agent 9000,
         * each login from a numbered channel: the last one wins only if
         * the order survives */
        ccd_str_t cs = ami_msg_get(m, "Count");
        char num[16];
        ccd_str_copy(num, sizeof(num), cs); /* slices are not NUL-terminated */
        int n = atoi(num);
        put(fd, "Response: Success\r\nActionID: %s\r\nMessage: ok\r\n\r\n", id);
        for (int k = 0; k < n; k++) {
            if (k % 2 == 0)
                put(fd, "Event: AgentLogin\r\nChannel: Local/1001@phones-%08d;1\r\nAgent: 9000\r\n\r\n", k);
            else
                put(fd, "Event: AgentLogoff\r\nAgent: 9000\r\nLogintime: 5\r\n\r\n");
        }
    } else if (!strcasecmp(act, "Garbage")) {
        put(fd, "this line is not AMI\r\n\r\n");
    } else {
        put(fd, "Response: Success\r\nActionID: %s\r\nMessage: ok\r\n\r\n", id);
    }
    return true;
}

static void *fake_run(void *arg)
{
    fake_t *f = arg;
    while (!atomic_load(&f->stop)) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            break;
        atomic_fetch_add(&f->conns, 1);
        put(fd, "Asterisk Call Manager/5.0.1\r\n");
        ami_parser_t *p = malloc(sizeof(*p));
        ami_parser_init(p, 0, 0, 0);
        buf_t in;
        buf_init(&in, 1 << 20);
        for (;;) {
            char *w = buf_reserve(&in, 4096);
            ssize_t r = w ? read(fd, w, 4096) : -1;
            if (r <= 0)
                break;
            buf_commit(&in, (size_t)r);
            ami_msg_t m;
            bool more = true;
            while (more && ami_parse(p, buf_data(&in), in.len, &m) == CCD_OK) {
                more = answer(f, fd, &m);
                buf_consume(&in, m.len);
            }
            if (!more)
                break;
        }
        buf_free(&in);
        free(p);
        close(fd);
    }
    return NULL;
}

static void fake_start(fake_t *f, const char *secret)
{
    memset(f, 0, sizeof(*f));
    f->secret = secret;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->th, NULL, fake_run, f);
}

static void fake_stop(fake_t *f)
{
    atomic_store(&f->stop, true);
    shutdown(f->lfd, SHUT_RDWR);
    close(f->lfd);
    pthread_join(f->th, NULL);
}

typedef struct cli {
    conf_t conf;
    ami_t *ami;
    mq_t *stq, *evq, *rq;
} cli_t;

static void cli_start_opts(cli_t *c, uint16_t port, const char *secret, const ami_opts_t *opts)
{
    memset(c, 0, sizeof(*c));
    c->conf.nami = 1;
    conf_ami_server_t *s = &c->conf.ami[0];
    snprintf(s->name, sizeof(s->name), "fake");
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    s->port = port;
    snprintf(s->username, sizeof(s->username), "dialer");
    snprintf(s->secret, sizeof(s->secret), "%s", secret);
    s->md5_login = true;
    s->ping_interval_s = 20;
    s->action_timeout_ms = tmo(5000);
    s->reconnect_min_ms = 50;
    s->reconnect_max_ms = 200;
    c->stq = mq_new("f-status", 100, 0);
    c->evq = mq_new("f-events", 1000, 0);
    c->rq = mq_new("f-replies", 100000, 0);
    c->ami = ami_new(&c->conf, opts, NULL, 0);
    ami_subscribe(c->ami, c->stq, 0, AMI_SUB_STATUS);
    ami_subscribe(c->ami, c->evq, AMI_EVM(AMI_EV_HANGUP), 0);
    assert_int_equal(ami_start(c->ami), 0);
}

static void cli_start(cli_t *c, uint16_t port, const char *secret)
{
    cli_start_opts(c, port, secret, NULL);
}

static void cli_stop(cli_t *c)
{
    ami_free(c->ami);
    mq_free(c->stq);
    mq_free(c->evq);
    mq_free(c->rq);
}

static ami_status_t *wait_status(cli_t *c, ami_state_e st)
{
    int64_t end = clk_mono_ms() + tmo(10000);
    while (clk_mono_ms() < end) {
        ami_status_t *m = (ami_status_t *)mq_pop(c->stq, 50);
        if (m && m->state == st)
            return m;
        free(m);
    }
    return NULL;
}

static ami_response_t *call(cli_t *c, ami_action_t *a, bool list, int timeout_ms)
{
    ami_send_opts_t o = {.reply_mq = c->rq, .list = list, .timeout_ms = timeout_ms};
    assert_int_equal(ami_send(c->ami, 0, a, &o, NULL), 0);
    ami_response_t *r = (ami_response_t *)mq_pop(c->rq, tmo(10000));
    assert_non_null(r);
    return r;
}

static void test_md5_follows_unknown_late(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, "s3cret");
    cli_t c;
    cli_start(&c, f.port, "s3cret");
    ami_status_t *st = wait_status(&c, AMI_STATE_UP);
    assert_non_null(st);
    free(st);
    assert_int_equal(atomic_load(&f.md5_ok), 1);

    /* legacy command output */
    ami_action_t *a = ami_action_new("Command");
    ami_action_add(a, "Command", "sip show peers");
    ami_response_t *r = call(&c, a, false, 0);
    assert_int_equal(r->status, CCD_OK);
    assert_true(r->ok);
    assert_string_equal(ami_rec_get(r->resp, "Privilege"), "Command");
    assert_string_equal(r->resp->output,
                        "Name/username             Host\n1001/1001                 (Unspecified)\n\n"
                        "1 sip peers");
    ami_response_free(r);

    /* a stray response before ours is counted and dropped */
    r = call(&c, ami_action_new("Ping"), false, 0);
    assert_int_equal(r->status, CCD_OK);
    assert_string_equal(ami_rec_get(r->resp, "Ping"), "Pong");
    ami_response_free(r);
    ami_stats_t s0;
    ami_get_stats(c.ami, 0, &s0);
    assert_int_equal(s0.unknown_responses, 1);

    /* a response after the timeout: the requester hears "timed out" once,
     * the late response is dropped, and the connection keeps working */
    r = call(&c, ami_action_new("Delayed"), false, 100);
    assert_int_equal(r->status, CCD_ETIMEDOUT);
    ami_response_free(r);
    atomic_store(&f.release_delayed, true); /* now the late answer comes */
    r = call(&c, ami_action_new("CoreStatus"), false, 0); /* queued behind the late one */
    assert_int_equal(r->status, CCD_OK);
    ami_response_free(r);
    ami_stats_t s1;
    ami_get_stats(c.ami, 0, &s1);
    assert_int_equal(s1.unknown_responses, 2);
    assert_true(s1.timeouts >= 1);
    assert_null(mq_pop(c.rq, 0)); /* exactly one outcome each */

    /* list items with an unrelated event in the middle (the resync's own
     * QueueStatus produced one too: forget it first) */
    mq_msg_t *m;
    while ((m = mq_pop(c.evq, 0)))
        m->free(m);
    r = call(&c, ami_action_new("QueueStatus"), true, 0);
    assert_int_equal(r->status, CCD_OK);
    assert_int_equal(r->nev, 3);
    assert_string_equal(ami_rec_get(r->ev[0], "Event"), "QueueParams");
    assert_string_equal(ami_rec_get(r->ev[1], "Event"), "QueueMember");
    assert_string_equal(ami_rec_get(r->ev[2], "Event"), "QueueStatusComplete");
    ami_response_free(r);
    bool hang = false;
    while ((m = mq_pop(c.evq, 0))) {
        ami_event_t *ev = (ami_event_t *)m;
        if (ev->type == AMI_EV_HANGUP && !strcmp(ev->uniqueid, "u-1") && ev->cause == 16)
            hang = true;
        m->free(m);
    }
    assert_true(hang);
    cli_stop(&c);
    fake_stop(&f);
}

static void test_garbage_reconnects(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, "pw");
    cli_t c;
    cli_start(&c, f.port, "pw");
    ami_status_t *st = wait_status(&c, AMI_STATE_UP);
    assert_non_null(st);
    free(st);
    ami_send_opts_t o = {.reply_mq = c.rq};
    assert_int_equal(ami_send(c.ami, 0, ami_action_new("Garbage"), &o, NULL), 0);
    ami_response_t *r = (ami_response_t *)mq_pop(c.rq, tmo(10000));
    assert_non_null(r);
    assert_int_equal(r->status, CCD_ECLOSED); /* its connection was dropped */
    ami_response_free(r);
    st = wait_status(&c, AMI_STATE_DOWN);
    assert_non_null(st);
    if (!strstr(st->detail, "protocol error"))
        fail_msg("down for another reason: %s", st->detail);
    free(st);
    st = wait_status(&c, AMI_STATE_UP);
    assert_non_null(st);
    free(st);
    assert_true(atomic_load(&f.conns) >= 2);
    r = call(&c, ami_action_new("CoreStatus"), false, 0);
    assert_int_equal(r->status, CCD_OK);
    ami_response_free(r);
    cli_stop(&c);
    fake_stop(&f);
}

static void test_md5_wrong_secret(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, "right");
    cli_t c;
    cli_start(&c, f.port, "wrong");
    ami_status_t *st = wait_status(&c, AMI_STATE_DOWN);
    assert_non_null(st);
    assert_non_null(strstr(st->detail, "Authentication failed"));
    free(st);
    assert_int_equal(atomic_load(&f.md5_ok), 0);
    cli_stop(&c);
    fake_stop(&f);
}

/* The peer stops reading: senders get CCD_EFULL at once (never block),
 * every accepted action still ends in exactly one outcome, stop works. */
static void test_stalled_peer(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, "pw");
    cli_t c;
    ami_opts_t o = {.inbox_max = 64, .outbuf_max = 64 * 1024};
    cli_start_opts(&c, f.port, "pw", &o);
    ami_status_t *st = wait_status(&c, AMI_STATE_UP);
    assert_non_null(st);
    free(st);
    ami_send_opts_t so = {.reply_mq = c.rq, .timeout_ms = 200};
    assert_int_equal(ami_send(c.ami, 0, ami_action_new("Stall"), &so, NULL), 0);
    CCD_WAIT_UNTIL(atomic_load(&f.stalled), 10000);
    char big[6000];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    int accepted = 1, full = 0;
    for (int i = 0; i < 20000 && full < 50; i++) {
        ami_action_t *a = ami_action_new("UserEvent");
        ami_action_add(a, "Data", big);
        ami_send_opts_t bo = {.reply_mq = c.rq, .timeout_ms = 200};
        int rc = ami_send(c.ami, 0, a, &bo, NULL);
        if (rc == 0)
            accepted++;
        else if (rc == CCD_EFULL)
            full++;
        else
            fail_msg("ami_send: %s", ccd_strerror(rc));
    }
    assert_true(full > 0); /* the bound was reached, and we were told at once */
    int outcomes = 0;
    mq_t *rq = c.rq;
    c.rq = NULL;
    cli_stop(&c); /* returns although the socket cannot be written */
    mq_msg_t *m;
    while ((m = mq_pop(rq, 0))) {
        ami_response_t *r = (ami_response_t *)m;
        assert_true(r->status == CCD_ETIMEDOUT || r->status == CCD_ECLOSED);
        outcomes++;
        m->free(m);
    }
    mq_free(rq);
    assert_int_equal(outcomes, accepted);
    fake_stop(&f);
}

static void apply_new_agent(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, true);
    a->server = 0;
    reg_txn_agent_touch(tx, a);
}

/* The registry inbox is tiny and nobody drains it for a while: events wait
 * in the client's overflow list in order (nothing lost, the last login
 * wins); past the overflow bound they are dropped, counted, and a resync
 * runs once the backlog clears. */
#define PHASE(x)                                                                                   \
    do {                                                                                           \
        if (getenv("CCD_TEST_VERBOSE"))                                                            \
            fprintf(stderr, "  %lld ms: %s\n", (long long)(clk_mono_ms() - t_start), x);          \
    } while (0)

static void run_burst(int n, int inbox, bool expect_lost)
{
    int64_t t_start = clk_mono_ms();
    fake_t f;
    fake_start(&f, "pw");
    reg_t *reg = reg_new((size_t)inbox, NULL, 0);
    assert_int_equal(reg_post(reg, apply_new_agent, strdup("Agent/9000"), free), 0);
    reg_drain(reg);
    cli_t c;
    memset(&c, 0, sizeof(c));
    c.conf.nami = 1;
    conf_ami_server_t *s = &c.conf.ami[0];
    snprintf(s->name, sizeof(s->name), "fake");
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    s->port = f.port;
    snprintf(s->username, sizeof(s->username), "dialer");
    snprintf(s->secret, sizeof(s->secret), "pw");
    s->md5_login = true;
    s->ping_interval_s = 60;
    s->action_timeout_ms = tmo(20000);
    s->reconnect_min_ms = 50;
    s->reconnect_max_ms = 200;
    c.stq = mq_new("b-status", 100, 0);
    c.evq = mq_new("b-events", 10, 0);
    c.rq = mq_new("b-replies", 100, 0);
    c.ami = ami_new(&c.conf, NULL, NULL, 0);
    ami_subscribe(c.ami, c.stq, 0, AMI_SUB_STATUS);
    ami_attach_reg(c.ami, reg);
    assert_int_equal(ami_start(c.ami), 0);
    /* the login resync needs the registry once; let it through */
    CCD_WAIT_UNTIL((reg_drain(reg), ami_server_state(c.ami, 0) == AMI_STATE_UP), 10000);
    PHASE("up");
    reg_drain(reg);
    int cs0 = atomic_load(&f.corestatus);
    ami_stats_t st0; /* the login resync already produced a typed event */
    ami_get_stats(c.ami, 0, &st0);
    ami_action_t *a = ami_action_new("Burst");
    ami_action_addf(a, "Count", "%d", n);
    ami_response_t *r = call(&c, a, false, 0);
    assert_int_equal(r->status, CCD_OK);
    ami_response_free(r);
    /* wait until every event has been read and either posted or dropped,
     * without draining: the overflow list takes the rest */
    ami_stats_t st;
    CCD_WAIT_UNTIL((ami_get_stats(c.ami, 0, &st), st.events_typed - st0.events_typed >= (uint64_t)n),
                   20000);
    assert_int_equal(st.events_typed - st0.events_typed, n);
    PHASE("all typed");
    /* now drain until the backlog is gone */
    CCD_WAIT_UNTIL((reg_drain(reg), ami_get_stats(c.ami, 0, &st),
                    st.events_delivered - st0.events_delivered + st.events_lost - st0.events_lost >=
                        (uint64_t)n),
                   20000);
    PHASE("drained");
    reg_drain(reg);
    if (getenv("CCD_TEST_VERBOSE"))
        fprintf(stderr, "burst %d: typed %llu delivered %llu lost %llu\n", n,
                (unsigned long long)(st.events_typed - st0.events_typed),
                (unsigned long long)(st.events_delivered - st0.events_delivered),
                (unsigned long long)(st.events_lost - st0.events_lost));
    reg_agent_t ag;
    assert_int_equal(reg_agent_get(reg, "Agent/9000", &ag), 0);
    if (!expect_lost) {
        assert_int_equal(st.events_lost - st0.events_lost, 0);
        assert_int_equal(st.events_delivered - st0.events_delivered, n);
        char want[64];
        snprintf(want, sizeof(want), "Local/1001@phones-%08d;1", n - 1);
        assert_int_equal(ag.login, REG_LOGGED_IN);
        assert_string_equal(ag.channel, want); /* order kept through the overflow */
    } else {
        assert_true(st.events_lost - st0.events_lost > 0);
        /* a resync follows once the backlog is gone */
        CCD_WAIT_UNTIL((reg_drain(reg), atomic_load(&f.corestatus) > cs0), 20000);
        PHASE("resynced");
    }
    cli_stop(&c);
    PHASE("stopped");
    reg_drain(reg);
    reg_free(reg);
    fake_stop(&f);
}

static void test_registry_backlog(void **state)
{
    (void)state;
    run_burst(2001, 8, false);
    run_burst(75001, 4096, true); /* more than the inbox + AMI_REG_OVERFLOW_MAX (65536) */
}

static void quiet(log_level_e level, const char *module, const char *line, void *ctx)
{
    (void)level;
    (void)module;
    (void)line;
    (void)ctx;
}

/* A (re)connect that lands in Asterisk's shutdown window is refused with
 * "Asterisk is shutting down": not a failed login, and retried at once. */
static void test_shutdown_window_login(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, "s3cret");
    atomic_store(&f.shutting, 3);
    cli_t c;
    cli_start(&c, f.port, "s3cret");
    int downs = 0;
    ami_status_t *up = NULL;
    int64_t end = clk_mono_ms() + tmo(10000);
    while (!up && clk_mono_ms() < end) {
        ami_status_t *m = (ami_status_t *)mq_pop(c.stq, 50);
        if (!m)
            continue;
        if (m->state == AMI_STATE_DOWN) {
            downs++;
            if (!strstr(m->detail, "shutting down") || strstr(m->detail, "login failed"))
                fail_msg("down for '%s'", m->detail);
        }
        if (m->state == AMI_STATE_UP)
            up = m;
        else
            free(m);
    }
    assert_non_null(up);
    free(up);
    assert_int_equal(downs, 3);
    assert_int_equal(atomic_load(&f.shutting), 0);
    assert_int_equal(atomic_load(&f.md5_ok), 1);
    ami_stats_t st;
    ami_get_stats(c.ami, 0, &st);
    assert_int_equal(st.shutdown_refusals, 3);
    cli_stop(&c);
    fake_stop(&f);
}

int main(void)
{
    if (!getenv("CCD_TEST_VERBOSE"))
        log_set_sink(quiet, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_follows_unknown_late),
        cmocka_unit_test(test_garbage_reconnects),
        cmocka_unit_test(test_md5_wrong_secret),
        cmocka_unit_test(test_stalled_peer),
        cmocka_unit_test(test_registry_backlog),
        cmocka_unit_test(test_shutdown_window_login),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
