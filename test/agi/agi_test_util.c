/* Helpers of the FastAGI integration tests (agi_test_util.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/agi/agi_test_util.h"
#include "test/common/ccd_test.h"

agi_t *tagi_start(const conf_agi_t *cfg, const agi_deps_t *deps)
{
    conf_agi_t c = *cfg;
    c.port = 0;
    char err[256];
    agi_t *agi = agi_new(&c, deps, err, sizeof(err));
    if (!agi)
        fail_msg("agi_new: %s", err);
    assert_int_equal(agi_start(agi), 0);
    return agi;
}

agi_stats_t tagi_stats(agi_t *agi)
{
    agi_stats_t s;
    agi_get_stats(agi, &s);
    return s;
}

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

void amic_open(amicli_t *c, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    c->fd = tcp_connect(port);
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    assert_non_null(c->buf);
    amic_send(c, "Action: Login\r\nActionID: l\r\nUsername: dialer\r\nSecret: dialer\r\n\r\n");
    amic_wait(c, 0, "Authentication accepted");
}

void amic_close(amicli_t *c)
{
    close(c->fd);
    free(c->buf);
}

void amic_send(amicli_t *c, const char *text)
{
    send_all(c->fd, text, strlen(text));
}

size_t amic_wait(amicli_t *c, size_t from, const char *text)
{
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    for (;;) {
        c->buf[c->len] = '\0';
        if (from <= c->len) {
            const char *at = strstr(c->buf + from, text);
            if (at)
                return (size_t)(at - c->buf);
        }
        int64_t left = end - ccd_test_now_ms();
        if (left <= 0)
            fail_msg("no '%s' from pbxsim within the deadline", text);
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left < 100 ? left : 100)) <= 0)
            continue;
        if (c->cap - c->len < 8192) {
            c->cap *= 2;
            c->buf = realloc(c->buf, c->cap);
            assert_non_null(c->buf);
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        assert_true(n > 0);
        c->len += (size_t)n;
    }
}

void amic_originate(amicli_t *c, const char *exten, const char *chan_id, const char *cid,
                    const char *script, const char *const *vars)
{
    char a[2048];
    int o = snprintf(a, sizeof(a),
                     "Action: Originate\r\nActionID: o-%s\r\nChannel: Local/%s@customers\r\n"
                     "Context: dialer-agi\r\nExten: %s\r\nPriority: 1\r\nTimeout: 30000\r\n"
                     "CallerID: \"Cust\" <%s>\r\nAsync: true\r\nChannelId: %s\r\n"
                     "Variable: AGIPATH=%s\r\nVariable: TALK=600\r\n",
                     chan_id, exten, exten, cid, chan_id, script);
    for (int i = 0; vars && vars[i]; i++)
        o += snprintf(a + o, sizeof(a) - (size_t)o, "Variable: %s\r\n", vars[i]);
    snprintf(a + o, sizeof(a) - (size_t)o, "\r\n");
    amic_send(c, a);
}

int agic_connect(uint16_t port)
{
    return tcp_connect(port);
}

void agic_send(int fd, const char *text)
{
    send_all(fd, text, strlen(text));
}

void agic_env(int fd, const char *script, const char *uniqueid, const char *const *args)
{
    char e[2048];
    int o = snprintf(e, sizeof(e),
                     "agi_network: yes\nagi_network_script: %s\n"
                     "agi_request: agi://127.0.0.1:4573/%s\n"
                     "agi_channel: Local/5201@customers-00000022;1\nagi_language: en\n"
                     "agi_type: Local\nagi_uniqueid: %s\nagi_version: 22.10.1\n"
                     "agi_callerid: 0215550100\nagi_calleridname: Dialer\nagi_callingpres: 0\n"
                     "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\n"
                     "agi_dnid: unknown\nagi_rdnis: unknown\nagi_context: dialer-agi\n"
                     "agi_extension: 5201\nagi_priority: 4\nagi_enhanced: 0.0\n"
                     "agi_accountcode: \nagi_threadid: 139901207094976\n",
                     script, script, uniqueid);
    for (int i = 0; args && args[i]; i++)
        o += snprintf(e + o, sizeof(e) - (size_t)o, "agi_arg_%d: %s\n", i + 1, args[i]);
    snprintf(e + o, sizeof(e) - (size_t)o, "\n");
    agic_send(fd, e);
}

void agic_line(int fd, char *out, size_t outsz)
{
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    size_t n = 0;
    for (;;) {
        int64_t left = end - ccd_test_now_ms();
        if (left <= 0)
            fail_msg("no line from the FastAGI server within the deadline (have '%.*s')", (int)n,
                     out);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left < 100 ? left : 100)) <= 0)
            continue;
        char ch;
        ssize_t r = recv(fd, &ch, 1, 0);
        if (r == 0)
            fail_msg("the FastAGI server closed instead of sending a line (have '%.*s')", (int)n,
                     out);
        assert_true(r == 1);
        if (ch == '\n') {
            out[n] = '\0';
            return;
        }
        if (n + 1 < outsz)
            out[n++] = ch;
    }
}

void agic_wait_closed(int fd)
{
    int64_t end = ccd_test_deadline(CCD_TEST_WAIT_MS);
    for (;;) {
        int64_t left = end - ccd_test_now_ms();
        if (left <= 0)
            fail_msg("the FastAGI server did not close the session within the deadline");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left < 100 ? left : 100)) <= 0)
            continue;
        char b[256];
        ssize_t r = recv(fd, b, sizeof(b) - 1, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return;
        assert_true(r > 0);
        b[r] = '\0';
        fail_msg("the FastAGI server sent '%s' where it should have closed", b);
    }
}

typedef struct new_call {
    char uniqueid[REG_UID_LEN];
    reg_call_type_e type;
    reg_call_status_e st;
    _Atomic uint64_t id;
} new_call_t;

static void apply_new_call(reg_txn_t *tx, void *arg)
{
    new_call_t *n = arg;
    reg_call_t *c = reg_txn_call_new(tx);
    if (!c)
        return;
    c->type = n->type;
    c->status = n->st;
    if (n->st == REG_CS_ONQUEUE)
        c->t_queue_ms = 1;
    reg_txn_call_set_uniqueid(tx, c, n->uniqueid);
    reg_txn_call_touch(tx, c);
    atomic_store(&n->id, c->id);
}

uint64_t treg_call(reg_t *r, const char *uniqueid, reg_call_type_e type, reg_call_status_e st)
{
    static new_call_t n; /* one at a time; the test waits for it below */
    memset(&n, 0, sizeof(n));
    snprintf(n.uniqueid, sizeof(n.uniqueid), "%s", uniqueid);
    n.type = type;
    n.st = st;
    assert_int_equal(reg_post(r, apply_new_call, &n, NULL), 0);
    CCD_WAIT(atomic_load(&n.id) != 0);
    return atomic_load(&n.id);
}

bool treg_find(reg_t *r, const char *uniqueid, reg_call_t *out)
{
    reg_call_t *all;
    size_t n;
    assert_int_equal(reg_call_list(r, &all, &n), 0);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        if (strcmp(all[i].uniqueid, uniqueid) == 0) {
            *out = all[i];
            found = true;
        }
    free(all);
    return found;
}
