/*
 * Tests for conf/: the INI tokenizer, every directive type in its valid
 * forms, every error kind (exact "file:line: " prefix and the key named),
 * secrets from env: and file:, CIDR matching, defaults, and the shipped
 * sample file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "conf/conf_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static conf_t *C; /* big (about 20 KiB): on the heap, one per test */
static char err[CCD_ERR_LEN];

static int setup(void **state)
{
    (void)state;
    C = malloc(sizeof(*C));
    err[0] = '\0';
    return C ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(C);
    C = NULL;
    return 0;
}

static int load(const char *text)
{
    err[0] = '\0';
    return conf_load_string("t.conf", text, strlen(text), C, err, sizeof(err));
}

static void assert_ok(const char *text)
{
    int rc = load(text);
    if (rc != 0)
        fail_msg("unexpected error %d: %s\n--- text ---\n%s", rc, err, text);
}

/* The load fails, err starts with "t.conf:LINE: " and mentions every needle. */
static void assert_err(const char *text, int line, const char *needle1, const char *needle2)
{
    int rc = load(text);
    if (rc == 0)
        fail_msg("expected an error at line %d for:\n%s", line, text);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "t.conf:%d: ", line);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, prefix);
    if (needle1 && !strstr(err, needle1))
        fail_msg("error '%s' does not mention '%s'", err, needle1);
    if (needle2 && !strstr(err, needle2))
        fail_msg("error '%s' does not mention '%s'", err, needle2);
}

/* ---------------- defaults ---------------- */

static void test_defaults(void **state)
{
    (void)state;
    conf_defaults(C);
    assert_int_equal(C->nami, 1);
    assert_string_equal(C->ami[0].name, "default");
    assert_string_equal(C->ami[0].host, "127.0.0.1");
    assert_int_equal(C->ami[0].port, 5038);
    assert_string_equal(C->ami[0].username, "admin");
    assert_string_equal(C->ami[0].secret, "");
    assert_false(C->ami[0].md5_login);
    assert_int_equal(C->ami[0].ping_interval_s, 20);
    assert_int_equal(C->ami[0].action_timeout_ms, 10000);
    assert_int_equal(C->ami[0].reconnect_min_ms, 500);
    assert_int_equal(C->ami[0].reconnect_max_ms, 30000);

    assert_string_equal(C->database.host, "localhost");
    assert_int_equal(C->database.port, 3306);
    assert_string_equal(C->database.socket, "");
    assert_string_equal(C->database.user, "asterisk");
    assert_string_equal(C->database.password, "");
    assert_string_equal(C->database.name, "call_center");
    assert_int_equal(C->database.writer_threads, 1);
    assert_int_equal(C->database.write_queue_max, 100000);
    assert_int_equal(C->database.write_batch_max, 500);
    assert_int_equal(C->database.connect_timeout_s, 5);

    assert_true(C->eccp.enabled);
    assert_string_equal(C->eccp.bind, "0.0.0.0");
    assert_int_equal(C->eccp.port, 20005);
    assert_int_equal(C->eccp.nallowed, 0);
    assert_int_equal(C->eccp.max_sessions, 10000);
    assert_int_equal(C->eccp.idle_timeout_s, 300);
    assert_int_equal(C->eccp.workers, 2);
    assert_int_equal(C->eccp.max_request_bytes, 65536);
    assert_int_equal(C->eccp.max_output_bytes, 4 * 1024 * 1024);
    assert_int_equal(C->eccp.login_timeout_s, 10);
    assert_int_equal(C->eccp.max_unauth_sessions, 128);
    assert_int_equal(C->eccp.max_unauth_per_address, 16);
    assert_int_equal(C->eccp.max_sessions_per_address, 0);
    assert_int_equal(C->eccp.login_fail_delay_ms, 250);
    assert_int_equal(C->eccp.login_fail_delay_max_ms, 4000);
    assert_int_equal(C->eccp.login_fail_block_after, 10);
    assert_int_equal(C->eccp.login_block_time_s, 300);

    assert_true(C->agi.enabled);
    assert_string_equal(C->agi.bind, "127.0.0.1");
    assert_int_equal(C->agi.port, 4573);
    assert_int_equal(C->agi.max_sessions, 1000);

    assert_int_equal(C->dialer.cycle_ms, 1000);
    assert_int_equal(C->dialer.abandoned_redial_block_h, 72);
    assert_string_equal(C->dialer.callback_context, "llamada_agendada");
    assert_true(C->dialer.abandon_rate_max > 0.0299 && C->dialer.abandon_rate_max < 0.0301);
    assert_int_equal(C->dialer.max_channels, 0);
    assert_int_equal(C->dialer.originate_timeout_s, 30);
    assert_string_equal(C->dialer.default_context, "from-internal");
    assert_int_equal(C->dialer.retry_backoff_s, 300);

    assert_int_equal(C->log.level, LOG_LVL_INFO);
    assert_string_equal(C->log.target, "stderr");
    assert_string_equal(C->pid_file, "");
}

static void test_empty_text_gives_defaults(void **state)
{
    (void)state;
    conf_t *d = malloc(sizeof(*d));
    assert_non_null(d);
    conf_defaults(d);
    assert_ok("");
    assert_memory_equal(C, d, sizeof(*d));
    assert_ok("\n\n# only comments\n; here too\n   \t\n");
    assert_memory_equal(C, d, sizeof(*d));
    free(d);
}

/* Every directive in the table has a default its own setter accepts, and
 * each directive name is unique inside its section. */
static void test_table_sane(void **state)
{
    (void)state;
    for (size_t i = 0; i < conf__ndirectives; i++) {
        const conf_directive_t *d = &conf__directives[i];
        assert_non_null(d->name);
        assert_non_null(d->help);
        for (size_t j = i + 1; j < conf__ndirectives; j++) {
            if (conf__directives[j].scope == d->scope)
                assert_string_not_equal(d->name, conf__directives[j].name);
        }
        if (d->type == CONF_T_INT)
            assert_true(d->min <= d->max);
    }
}

/* ---------------- the sample file ---------------- */

static void test_sample_loads_and_equals_defaults(void **state)
{
    (void)state;
    int rc = conf_load(CCD_SAMPLE_CONF, C, err, sizeof(err));
    if (rc != 0)
        fail_msg("sample failed to load: %s", err);
    conf_t *d = malloc(sizeof(*d));
    assert_non_null(d);
    conf_defaults(d);
    /* The sample documents the defaults: loading it must change nothing. */
    assert_memory_equal(C, d, sizeof(*d));
    free(d);
}

static void test_sample_lists_every_directive(void **state)
{
    (void)state;
    FILE *f = fopen(CCD_SAMPLE_CONF, "rb");
    assert_non_null(f);
    static char text[CONF_FILE_MAX];
    size_t n = fread(text, 1, sizeof(text), f);
    fclose(f);

    bool seen[256] = {false};
    assert_true(conf__ndirectives < 256);
    conf_parser_t ps;
    conf_item_t it;
    conf__parser_init(&ps, "sample", text, n);
    int scope = -1, rc;
    while ((rc = conf__parser_next(&ps, &it, err, sizeof(err))) == 1) {
        if (it.kind == CONF_ITEM_SECTION) {
            scope = -1;
            for (int sc = 0; sc < CONF_SC_COUNT; sc++) {
                if (ccd_str_eq(it.name, ccd_str(conf__scope_names[sc])))
                    scope = sc;
            }
            assert_true(scope >= 0);
            continue;
        }
        for (size_t i = 0; i < conf__ndirectives; i++) {
            if ((int)conf__directives[i].scope == scope &&
                ccd_str_eq(it.name, ccd_str(conf__directives[i].name))) {
                seen[i] = true;
                /* The sample shows the default literally. */
                if (!ccd_str_eq(it.value, ccd_str(conf__directives[i].def)))
                    fail_msg("sample sets %s = '%.*s', table default is '%s'",
                             conf__directives[i].name, (int)it.value.len, it.value.p,
                             conf__directives[i].def);
            }
        }
    }
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < conf__ndirectives; i++) {
        if (!seen[i])
            fail_msg("directive [%s] %s missing from the sample",
                     conf__scope_names[conf__directives[i].scope], conf__directives[i].name);
    }
}

/* ---------------- parser forms ---------------- */

static void test_parser_items(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF# c\r\n[ami  pbx-1 ]  # trailing\r\n"
                       "  key_1 =  some value # not a comment \t\r\n"
                       "q = \"  spaced  \"\n"
                       "e =\n"
                       "last=x";
    conf_parser_t ps;
    conf_item_t it;
    conf__parser_init(&ps, "p", text, strlen(text));
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 1);
    assert_int_equal(it.kind, CONF_ITEM_SECTION);
    assert_int_equal(it.line, 2);
    assert_true(ccd_str_eq(it.name, CCD_STR_LIT("ami")));
    assert_true(ccd_str_eq(it.arg, CCD_STR_LIT("pbx-1")));

    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 1);
    assert_int_equal(it.kind, CONF_ITEM_KEY);
    assert_int_equal(it.line, 3);
    assert_true(ccd_str_eq(it.name, CCD_STR_LIT("key_1")));
    assert_true(ccd_str_eq(it.value, CCD_STR_LIT("some value # not a comment")));

    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 1);
    assert_true(ccd_str_eq(it.value, CCD_STR_LIT("  spaced  ")));
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 1);
    assert_int_equal(it.value.len, 0);
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 1);
    assert_int_equal(it.line, 6);
    assert_true(ccd_str_eq(it.value, CCD_STR_LIT("x")));
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 0);
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 0);
}

/* A line of exactly CONF_LINE_MAX bytes is accepted, one more is not. */
static void test_parser_line_bound(void **state)
{
    (void)state;
    size_t n = CONF_LINE_MAX + 2;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, 'a', n);
    text[0] = 'k';
    text[1] = '=';
    conf_parser_t ps;
    conf_item_t it;
    conf__parser_init(&ps, "p", text, CONF_LINE_MAX);
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), 1);
    assert_int_equal(it.value.len, CONF_LINE_MAX - 2);
    conf__parser_init(&ps, "p", text, CONF_LINE_MAX + 1);
    assert_int_equal(conf__parser_next(&ps, &it, err, sizeof(err)), CCD_EPROTO);
    assert_non_null(strstr(err, "p:1: line too long"));
    free(text);
}

/* ---------------- valid forms of every type ---------------- */

static void test_valid_strings_paths_idents(void **state)
{
    (void)state;
    assert_ok("[general]\npid_file = /run/ccdialer/ccdialerd.pid\n");
    assert_string_equal(C->pid_file, "/run/ccdialer/ccdialerd.pid");
    assert_ok("[general]\npid_file =\n");
    assert_string_equal(C->pid_file, "");
    assert_ok("[ami]\nusername = dialer user#1;x\n");
    assert_string_equal(C->ami[0].username, "dialer user#1;x");
    assert_ok("[ami]\nusername = \"  padded \"\n");
    assert_string_equal(C->ami[0].username, "  padded ");
    assert_ok("[database]\nsocket = /run/mysqld/mysqld.sock\nname = cc-test_2.x\n");
    assert_string_equal(C->database.socket, "/run/mysqld/mysqld.sock");
    assert_string_equal(C->database.name, "cc-test_2.x");
    assert_ok("[dialer]\ndefault_context = ccdialer-out\n");
    assert_string_equal(C->dialer.default_context, "ccdialer-out");
    /* Longest string that fits: CONF_STR_LEN - 1 bytes. */
    char text[CONF_STR_LEN + 64];
    char longv[CONF_STR_LEN];
    memset(longv, 'u', CONF_STR_LEN - 1);
    longv[CONF_STR_LEN - 1] = '\0';
    snprintf(text, sizeof(text), "[ami]\nusername = %s\n", longv);
    assert_ok(text);
    assert_string_equal(C->ami[0].username, longv);
}

static void test_valid_ints_and_ports(void **state)
{
    (void)state;
    assert_ok("[ami]\nport = 1\nping_interval = 0\naction_timeout_ms = 100\n");
    assert_int_equal(C->ami[0].port, 1);
    assert_int_equal(C->ami[0].ping_interval_s, 0);
    assert_int_equal(C->ami[0].action_timeout_ms, 100);
    assert_ok("[ami]\nport = 65535\nping_interval = 3600\naction_timeout_ms = +600000\n");
    assert_int_equal(C->ami[0].port, 65535);
    assert_int_equal(C->ami[0].ping_interval_s, 3600);
    assert_int_equal(C->ami[0].action_timeout_ms, 600000);
    assert_ok("[eccp]\nport = 020005\nidle_timeout = 1\nmax_output_bytes = 1073741824\n");
    assert_int_equal(C->eccp.port, 20005);
    assert_int_equal(C->eccp.idle_timeout_s, 1);
    assert_int_equal(C->eccp.max_output_bytes, 1073741824);
    assert_ok("[dialer]\nmax_channels = -0\nretry_backoff = 604800\n");
    assert_int_equal(C->dialer.max_channels, 0);
    assert_int_equal(C->dialer.retry_backoff_s, 604800);
}

static void test_valid_bools(void **state)
{
    (void)state;
    static const char *yes[] = {"yes", "YES", "true", "True", "on", "1"};
    static const char *no[] = {"no", "No", "false", "FALSE", "off", "0"};
    char text[128];
    for (size_t i = 0; i < 6; i++) {
        snprintf(text, sizeof(text), "[ami]\nmd5_login = %s\n[eccp]\nenabled = %s\n", yes[i], no[i]);
        assert_ok(text);
        assert_true(C->ami[0].md5_login);
        assert_false(C->eccp.enabled);
        snprintf(text, sizeof(text), "[ami]\nmd5_login = %s\n[agi]\nenabled = %s\n", no[i], yes[i]);
        assert_ok(text);
        assert_false(C->ami[0].md5_login);
        assert_true(C->agi.enabled);
    }
}

static void test_valid_doubles(void **state)
{
    (void)state;
    assert_ok("[dialer]\nabandon_rate_max = 0\n");
    assert_true(C->dialer.abandon_rate_max == 0.0);
    assert_ok("[dialer]\nabandon_rate_max = 1\n");
    assert_true(C->dialer.abandon_rate_max == 1.0);
    assert_ok("[dialer]\nabandon_rate_max = 0.5\n");
    assert_true(C->dialer.abandon_rate_max == 0.5);
    assert_ok("[dialer]\nabandon_rate_max = .25\n");
    assert_true(C->dialer.abandon_rate_max == 0.25);
    assert_ok("[dialer]\nabandon_rate_max = 5e-2\n");
    assert_true(C->dialer.abandon_rate_max > 0.0499 && C->dialer.abandon_rate_max < 0.0501);
}

static void test_valid_log(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        log_level_e lvl;
    } lv[] = {{"error", LOG_LVL_ERR},   {"err", LOG_LVL_ERR},       {"warning", LOG_LVL_WARN},
              {"warn", LOG_LVL_WARN},   {"notice", LOG_LVL_NOTICE}, {"INFO", LOG_LVL_INFO},
              {"debug", LOG_LVL_DEBUG}};
    char text[128];
    for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
        snprintf(text, sizeof(text), "[log]\nlevel = %s\n", lv[i].name);
        assert_ok(text);
        assert_int_equal(C->log.level, lv[i].lvl);
    }
    assert_ok("[log]\ntarget = syslog\n");
    assert_string_equal(C->log.target, "syslog");
    assert_ok("[log]\ntarget = /var/log/ccdialer/ccdialerd.log\n");
    assert_string_equal(C->log.target, "/var/log/ccdialer/ccdialerd.log");
    assert_ok("[log]\ntarget = stderr\n");
    assert_string_equal(C->log.target, "stderr");
}

static void test_valid_hosts_and_addrs(void **state)
{
    (void)state;
    static const char *hosts[] = {"pbx", "pbx-1.example.com", "10.1.2.3", "::1", "fe80::1",
                                  "a.b.c.d.e", "localhost", "x_y.lan"};
    char text[128];
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(text, sizeof(text), "[ami]\nhost = %s\n[database]\nhost = %s\n", hosts[i], hosts[i]);
        assert_ok(text);
        assert_string_equal(C->ami[0].host, hosts[i]);
        assert_string_equal(C->database.host, hosts[i]);
    }
    assert_ok("[eccp]\nbind = ::\n[agi]\nbind = 192.168.1.5\n");
    assert_string_equal(C->eccp.bind, "::");
    assert_string_equal(C->agi.bind, "192.168.1.5");
    assert_ok("[eccp]\nbind = 2001:db8::7\n");
    assert_string_equal(C->eccp.bind, "2001:db8::7");
}

static void test_valid_nets(void **state)
{
    (void)state;
    assert_ok("[eccp]\nallowed_networks = 127.0.0.1, 10.0.0.0/8 ,2001:db8::/32,::1,0.0.0.0/0\n");
    assert_int_equal(C->eccp.nallowed, 5);
    assert_int_equal(C->eccp.allowed[0].prefix, 128);
    assert_int_equal(C->eccp.allowed[1].prefix, 96 + 8);
    assert_int_equal(C->eccp.allowed[2].prefix, 32);
    assert_int_equal(C->eccp.allowed[3].prefix, 128);
    assert_int_equal(C->eccp.allowed[4].prefix, 96);
    assert_ok("[eccp]\nallowed_networks =\n");
    assert_int_equal(C->eccp.nallowed, 0);

    /* Exactly CONF_MAX_NETS entries fit. */
    char text[CONF_MAX_NETS * 20 + 64];
    size_t n = (size_t)snprintf(text, sizeof(text), "[eccp]\nallowed_networks = ");
    for (int i = 0; i < CONF_MAX_NETS; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s10.0.%d.0/24", i ? "," : "", i);
    snprintf(text + n, sizeof(text) - n, "\n");
    assert_ok(text);
    assert_int_equal(C->eccp.nallowed, CONF_MAX_NETS);
}

static void test_case_insensitive_names(void **state)
{
    (void)state;
    assert_ok("[ECCP]\nPort = 1234\n[Log]\nLEVEL = debug\n");
    assert_int_equal(C->eccp.port, 1234);
    assert_int_equal(C->log.level, LOG_LVL_DEBUG);
}

/* ---------------- AMI servers ---------------- */

static void test_ami_servers(void **state)
{
    (void)state;
    assert_ok("[ami]\nhost = pbx0\n[ami pbx1]\nhost = pbx1\nport = 5039\n[ami pbx2]\n");
    assert_int_equal(C->nami, 3);
    assert_string_equal(C->ami[0].name, "default");
    assert_string_equal(C->ami[0].host, "pbx0");
    assert_string_equal(C->ami[1].name, "pbx1");
    assert_string_equal(C->ami[1].host, "pbx1");
    assert_int_equal(C->ami[1].port, 5039);
    /* A server section without keys gets every default. */
    assert_string_equal(C->ami[2].name, "pbx2");
    assert_string_equal(C->ami[2].host, "127.0.0.1");
    assert_int_equal(C->ami[2].port, 5038);
    assert_int_equal(C->ami[2].reconnect_max_ms, 30000);

    /* Named servers only: the built-in "default" is replaced. */
    assert_ok("[ami east]\nhost = e\n[ami west]\nhost = w\n");
    assert_int_equal(C->nami, 2);
    assert_string_equal(C->ami[0].name, "east");
    assert_string_equal(C->ami[1].name, "west");

    /* The most servers allowed. */
    char text[CONF_MAX_AMI_SERVERS * 32];
    size_t n = 0;
    for (int i = 0; i < CONF_MAX_AMI_SERVERS; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "[ami s%d]\nport = %d\n", i, 6000 + i);
    assert_ok(text);
    assert_int_equal(C->nami, CONF_MAX_AMI_SERVERS);
    assert_int_equal(C->ami[CONF_MAX_AMI_SERVERS - 1].port, 6000 + CONF_MAX_AMI_SERVERS - 1);

    /* The same key in two different servers is not a duplicate. */
    assert_ok("[ami a]\nport = 1\n[ami b]\nport = 2\n");
    assert_int_equal(C->ami[1].port, 2);
}

/* ---------------- errors ---------------- */

static void test_error_unknown_section(void **state)
{
    (void)state;
    assert_err("[general]\n\n[foo]\n", 3, "unknown section [foo]", NULL);
    assert_err("[eccp x]\n", 1, "[eccp]", "takes no name");
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    assert_err("[eccp]\nport = 1\nprot = 2\n", 3, "unknown key 'prot'", "[eccp]");
    /* A key valid elsewhere is unknown in the wrong section. */
    assert_err("[agi]\nidle_timeout = 2\n", 2, "unknown key 'idle_timeout'", "[agi]");
    assert_err("port = 1\n", 1, "'port'", "outside any section");
}

static void test_error_duplicates(void **state)
{
    (void)state;
    assert_err("[eccp]\nport = 1\n# x\nport = 2\n", 4, "duplicate key 'port'", "first at line 2");
    assert_err("[eccp]\nPORT = 1\nport = 2\n", 3, "duplicate key 'port'", NULL);
    assert_err("[eccp]\n[agi]\n[eccp]\n", 3, "duplicate section [eccp]", "first at line 1");
    assert_err("[ami a]\n[ami b]\n[ami a]\n", 3, "duplicate section [ami a]", "first at line 1");
    assert_err("[ami]\n[ami default]\n", 2, "duplicate section [ami default]", NULL);
    assert_err("[ami x]\n[ami X]\n", 2, "duplicate section", NULL);
}

static void test_error_too_many_servers(void **state)
{
    (void)state;
    char text[(CONF_MAX_AMI_SERVERS + 1) * 32];
    size_t n = 0;
    for (int i = 0; i <= CONF_MAX_AMI_SERVERS; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "[ami s%d]\n", i);
    assert_err(text, CONF_MAX_AMI_SERVERS + 1, "too many AMI servers", "16");
}

static void test_error_syntax(void **state)
{
    (void)state;
    assert_err("[eccp]\nport 20005\n", 2, "missing '='", "'port'");
    assert_err("[eccp]\nport: 20005\n", 2, "missing '='", NULL);
    assert_err("[eccp]\n = 5\n", 2, "missing key", NULL);
    assert_err("[eccp]\nmy key = 5\n", 2, "invalid key 'my key'", NULL);
    assert_err("[general]\n[eccp\nport = 1\n", 2, "unterminated section header", NULL);
    assert_err("[]\n", 1, "empty section name", NULL);
    assert_err("[ami a b]\n", 1, "invalid section argument", NULL);
    assert_err("[ami] x\n", 1, "unexpected text after section header", NULL);
    assert_err("[e$ccp]\n", 1, "invalid character in section name", NULL);
    assert_err("[$]\n", 1, "invalid section name", NULL);

    char nul[] = "[eccp]\nport = 1\0\n";
    int rc = conf_load_string("t.conf", nul, sizeof(nul) - 1, C, err, sizeof(err));
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "t.conf:2: NUL byte"));

    size_t n = CONF_LINE_MAX + 100;
    char *text = malloc(n + 32);
    assert_non_null(text);
    int off = snprintf(text, n + 32, "[ami]\n\nusername = ");
    memset(text + off, 'x', n);
    text[off + n] = '\0';
    assert_err(text, 3, "line too long", NULL);
    free(text);
}

static void test_error_bad_values(void **state)
{
    (void)state;
    /* Each: section, key, bad value, and a word the message must contain. */
    static const struct {
        const char *section, *key, *value, *expect;
    } cases[] = {
        {"ami", "port", "abc", "expected a port number"},
        {"ami", "port", "", "expected a port number"},
        {"ami", "port", "50 38", "expected a port number"},
        {"ami", "port", "0x10", "expected a port number"},
        {"ami", "port", "0", "out of range"},
        {"ami", "port", "65536", "out of range"},
        {"ami", "port", "-1", "out of range"},
        {"ami", "port", "99999999999999999999999", "expected a port number"},
        {"ami", "ping_interval", "3601", "out of range"},
        {"ami", "ping_interval", "-1", "out of range"},
        {"ami", "ping_interval", "1.5", "expected an integer from 0 to 3600"},
        {"ami", "action_timeout_ms", "10s", "expected an integer"},
        {"ami", "md5_login", "maybe", "expected yes/no"},
        {"ami", "md5_login", "", "expected yes/no"},
        {"ami", "host", "", "expected a host name or IP address"},
        {"ami", "host", "bad host", "expected a host name or IP address"},
        {"ami", "host", "-pbx", "expected a host name or IP address"},
        {"ami", "host", "pbx..lan", "expected a host name or IP address"},
        {"ami", "host", "pbx-.lan", "expected a host name or IP address"},
        {"ami", "username", "a\tb", "control character"},
        {"database", "name", "call center", "expected letters, digits"},
        {"database", "name", "", "expected a name"},
        {"database", "socket", "relative/path.sock", "expected an absolute path"},
        {"database", "writer_threads", "0", "out of range"},
        {"database", "writer_threads", "17", "out of range"},
        {"eccp", "bind", "localhost", "expected a numeric IPv4 or IPv6 address"},
        {"eccp", "bind", "10.0.0.256", "expected a numeric IPv4 or IPv6 address"},
        {"eccp", "idle_timeout", "0", "out of range"},
        {"eccp", "max_request_bytes", "1023", "out of range"},
        {"eccp", "allowed_networks", "10.0.0.0/33", "10.0.0.0/33"},
        {"eccp", "allowed_networks", "::/129", "prefix 0-32 for IPv4, 0-128 for IPv6"},
        {"eccp", "allowed_networks", "10.0.0.0/", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "10.0.0.0/-1", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "10.0.0.0/8x", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "10.0.0.0/0008", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "10.0.0/8", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "pbx.lan", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "/8", "expected an IPv4/IPv6 address or CIDR"},
        {"eccp", "allowed_networks", "10.0.0.1,,10.0.0.2", "empty item"},
        {"eccp", "allowed_networks", "10.0.0.1,", "empty item"},
        {"agi", "enabled", "enable", "expected yes/no"},
        {"agi", "max_sessions", "100001", "out of range"},
        {"dialer", "abandon_rate_max", "1.5", "out of range"},
        {"dialer", "abandon_rate_max", "-0.1", "out of range"},
        {"dialer", "abandon_rate_max", "nan", "expected a number from 0 to 1"},
        {"dialer", "abandon_rate_max", "inf", "expected a number"},
        {"dialer", "abandon_rate_max", "0x0.1p1", "expected a number"},
        {"dialer", "abandon_rate_max", "3%", "expected a number"},
        {"dialer", "abandon_rate_max", "", "expected a number"},
        {"dialer", "abandon_rate_max", "1e999", "expected a number"},
        {"dialer", "default_context", "from internal", "expected letters, digits"},
        {"log", "level", "verbose", "expected error, warning, notice, info or debug"},
        {"log", "target", "file.log", "expected stderr, syslog or an absolute file path"},
        {"log", "target", "", "expected stderr, syslog"},
        {"general", "pid_file", "run/x.pid", "expected an absolute path"},
    };
    char text[512], key[80];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "# line 1\n[%s]\n%s = %s\n", cases[i].section, cases[i].key,
                 cases[i].value);
        snprintf(key, sizeof(key), "[%s] %s:", cases[i].section, cases[i].key);
        assert_err(text, 3, key, cases[i].expect);
    }

    /* A string longer than its field is refused, not cut. */
    char longv[CONF_STR_LEN + 1];
    memset(longv, 'u', CONF_STR_LEN);
    longv[CONF_STR_LEN] = '\0';
    snprintf(text, sizeof(text), "[ami]\nusername = %s\n", longv);
    assert_err(text, 2, "[ami] username:", "at most 255 bytes");

    /* One network too many. */
    char nets[CONF_MAX_NETS * 20 + 64];
    size_t n = (size_t)snprintf(nets, sizeof(nets), "[eccp]\nallowed_networks = ");
    for (int j = 0; j <= CONF_MAX_NETS; j++)
        n += (size_t)snprintf(nets + n, sizeof(nets) - n, "%s10.0.%d.1", j ? "," : "", j);
    assert_err(nets, 2, "[eccp] allowed_networks:", "at most 64 networks");
}

static void test_error_cross_key(void **state)
{
    (void)state;
    assert_err("[ami pbx]\nreconnect_min_ms = 5000\nreconnect_max_ms = 1000\n[eccp]\n", 1,
               "reconnect_min_ms", "reconnect_max_ms");
    /* Also caught when the section is the last one in the file. */
    assert_err("[eccp]\n[ami]\nreconnect_max_ms = 100\n", 2, "[ami default]", "reconnect_min_ms");
    assert_ok("[ami]\nreconnect_min_ms = 1000\nreconnect_max_ms = 1000\n");
    assert_err("[general]\n[eccp]\nlogin_fail_delay_ms = 5000\n", 2, "login_fail_delay_ms (5000)",
               "login_fail_delay_max_ms (4000)");
    assert_ok("[eccp]\nlogin_fail_delay_ms = 100\nlogin_fail_delay_max_ms = 100\n");
}

/* Error values are echoed cut to 64 bytes: enough to spot a typo. */
static void test_error_echo_is_bounded(void **state)
{
    (void)state;
    char text[512];
    char v[201];
    memset(v, '9', 200);
    v[200] = '\0';
    v[0] = 'x';
    snprintf(text, sizeof(text), "[eccp]\nport = %s\n", v);
    assert_err(text, 2, "[eccp] port:", "expected a port number");
    assert_null(strstr(err, v));
    assert_true(strlen(err) < sizeof(err) - 1);
}

/* ---------------- secrets ---------------- */

static char tmpdir[64];

static void write_file(const char *path, const char *content, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
}

static void test_secret_plain_and_env(void **state)
{
    (void)state;
    assert_ok("[ami]\nsecret = s3cr#t;x\n");
    assert_string_equal(C->ami[0].secret, "s3cr#t;x");

    setenv("CCD_TEST_AMI_SECRET", "from-env", 1);
    assert_ok("[ami]\nsecret = env:CCD_TEST_AMI_SECRET\n[database]\npassword = env:CCD_TEST_AMI_SECRET\n");
    assert_string_equal(C->ami[0].secret, "from-env");
    assert_string_equal(C->database.password, "from-env");

    unsetenv("CCD_TEST_UNSET_VAR");
    assert_err("[ami]\nsecret = env:CCD_TEST_UNSET_VAR\n", 2, "[ami] secret:", "CCD_TEST_UNSET_VAR is not set");
    setenv("CCD_TEST_EMPTY_VAR", "", 1);
    assert_err("[ami]\nsecret = env:CCD_TEST_EMPTY_VAR\n", 2, "[ami] secret:", "is empty");
    assert_err("[ami]\nsecret = env:\n", 2, "[ami] secret:", "env:VARNAME");
    assert_err("[ami]\nsecret = env:BAD-NAME\n", 2, "[ami] secret:", "env:VARNAME");
    assert_err("[ami]\nsecret = env:9X\n", 2, "[ami] secret:", "env:VARNAME");

    /* A value with a control character is refused and never echoed. */
    setenv("CCD_TEST_CTRL_VAR", "ab\x01topsecret", 1);
    assert_err("[database]\npassword = env:CCD_TEST_CTRL_VAR\n", 2, "[database] password:",
               "control character");
    assert_null(strstr(err, "topsecret"));

    char big[CONF_STR_LEN + 1];
    memset(big, 's', CONF_STR_LEN);
    big[CONF_STR_LEN] = '\0';
    setenv("CCD_TEST_BIG_VAR", big, 1);
    assert_err("[ami]\nsecret = env:CCD_TEST_BIG_VAR\n", 2, "[ami] secret:", "too long");
    big[CONF_STR_LEN - 1] = '\0';
    setenv("CCD_TEST_BIG_VAR", big, 1);
    assert_ok("[ami]\nsecret = env:CCD_TEST_BIG_VAR\n");
    assert_int_equal(strlen(C->ami[0].secret), CONF_STR_LEN - 1);

    /* A plain secret that is too long is refused without echoing it. */
    char text[CONF_STR_LEN + 64];
    big[CONF_STR_LEN - 1] = 's';
    snprintf(text, sizeof(text), "[ami]\nsecret = %s\n", big);
    assert_err(text, 2, "[ami] secret:", "at most 255 bytes");
    assert_null(strstr(err, "sssssssss"));
}

static void test_secret_file(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ccd_conf_test.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128], text[256];

    snprintf(path, sizeof(path), "%s/a", tmpdir);
    write_file(path, "file-secret\r\nsecond line ignored\n", 34);
    snprintf(text, sizeof(text), "[ami pbx]\nsecret = file:%s\n", path);
    assert_ok(text);
    assert_string_equal(C->ami[0].secret, "file-secret");

    /* No trailing newline. */
    write_file(path, "pw", 2);
    snprintf(text, sizeof(text), "[database]\npassword = file:%s\n", path);
    assert_ok(text);
    assert_string_equal(C->database.password, "pw");

    /* Empty file or empty first line. */
    write_file(path, "\nlater\n", 7);
    assert_err(text, 2, "[database] password:", "is empty");
    write_file(path, "", 0);
    assert_err(text, 2, "[database] password:", "is empty");

    /* First line longer than the field; a longest-fitting one passes. */
    char big[CONF_STR_LEN + 8];
    memset(big, 'k', sizeof(big));
    write_file(path, big, CONF_STR_LEN);
    assert_err(text, 2, "[database] password:", "too long");
    big[CONF_STR_LEN - 1] = '\n';
    write_file(path, big, CONF_STR_LEN + 8);
    assert_ok(text);
    assert_int_equal(strlen(C->database.password), CONF_STR_LEN - 1);

    /* Missing file, relative path. */
    snprintf(text, sizeof(text), "[database]\npassword = file:%s/missing\n", tmpdir);
    assert_err(text, 2, "[database] password:", "cannot open secret file");
    assert_err("[database]\npassword = file:relative\n", 2, "[database] password:", "file:/absolute/path");

    unlink(path);
    rmdir(tmpdir);
}

/* ---------------- conf_load (files) ---------------- */

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ccd_conf_load.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/c.conf", dir);
    const char *t = "[eccp]\nport = 30000\n\n[log]\nlevel = bogus\n";
    write_file(path, t, strlen(t));
    assert_int_not_equal(conf_load(path, C, err, sizeof(err)), 0);
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "%s:5: [log] level:", path);
    assert_memory_equal(err, prefix, strlen(prefix));

    t = "[eccp]\nport = 30000\n";
    write_file(path, t, strlen(t));
    assert_int_equal(conf_load(path, C, err, sizeof(err)), 0);
    assert_int_equal(C->eccp.port, 30000);

    /* A missing file and a directory are reported with the path. */
    snprintf(path, sizeof(path), "%s/none.conf", dir);
    assert_int_not_equal(conf_load(path, C, err, sizeof(err)), 0);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "cannot open"));
    assert_int_not_equal(conf_load(dir, C, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "not a regular file"));

    snprintf(path, sizeof(path), "%s/c.conf", dir);
    unlink(path);
    rmdir(dir);
}

/* ---------------- networks ---------------- */

static void addr(const char *s, uint8_t out[16])
{
    assert_int_equal(conf_addr_parse(s, out), 0);
}

static bool allows(const char *list, const char *who)
{
    char text[512];
    snprintf(text, sizeof(text), "[eccp]\nallowed_networks = %s\n", list);
    assert_ok(text);
    uint8_t a[16];
    addr(who, a);
    return conf_net_allows(C->eccp.allowed, C->eccp.nallowed, a);
}

static void test_cidr_match(void **state)
{
    (void)state;
    /* IPv4 */
    assert_true(allows("10.0.0.0/8", "10.255.1.2"));
    assert_false(allows("10.0.0.0/8", "11.0.0.1"));
    assert_true(allows("192.168.1.0/24", "192.168.1.255"));
    assert_false(allows("192.168.1.0/24", "192.168.2.1"));
    assert_true(allows("192.168.1.7/32", "192.168.1.7"));
    assert_false(allows("192.168.1.7/32", "192.168.1.8"));
    assert_true(allows("192.168.1.7", "192.168.1.7"));
    assert_false(allows("192.168.1.7", "192.168.1.6"));
    assert_true(allows("172.16.0.0/12", "172.31.255.255"));
    assert_false(allows("172.16.0.0/12", "172.32.0.0"));
    assert_true(allows("10.1.2.3/8", "10.9.9.9")); /* host bits are cleared */
    assert_true(allows("0.0.0.0/0", "203.0.113.9"));
    assert_false(allows("0.0.0.0/0", "2001:db8::1")); /* IPv4 /0 is every IPv4, not IPv6 */
    /* IPv4 given in v4-mapped form matches IPv4 rules. */
    assert_true(allows("10.0.0.0/8", "::ffff:10.1.1.1"));
    /* IPv6 */
    assert_true(allows("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(allows("2001:db8::/32", "2001:db9::1"));
    assert_true(allows("::1", "::1"));
    assert_false(allows("::1/128", "::2"));
    assert_true(allows("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(allows("2001:db8::/33", "2001:db8:8000::1"));
    assert_true(allows("::/0", "2001:db8::1"));
    assert_true(allows("::/0", "127.0.0.1"));
    assert_false(allows("fe80::/10", "fec0::1"));
    assert_true(allows("fe80::/10", "febf::1"));
    /* Lists: any entry matches. */
    assert_true(allows("127.0.0.1, 10.0.0.0/8, ::1", "10.3.3.3"));
    assert_true(allows("127.0.0.1, 10.0.0.0/8, ::1", "::1"));
    assert_false(allows("127.0.0.1, 10.0.0.0/8, ::1", "192.0.2.1"));
    /* Empty list: everyone. */
    assert_true(allows("", "192.0.2.1"));
    assert_true(allows("", "2001:db8::1"));
}

static void test_net_parse_api(void **state)
{
    (void)state;
    conf_net_t n;
    assert_int_equal(conf_net_parse("10.0.0.0/8", &n), 0);
    assert_int_equal(n.prefix, 104);
    assert_int_equal(conf_net_parse("10.0.0.0/0", &n), 0);
    assert_int_equal(n.prefix, 96);
    assert_int_equal(conf_net_parse("::/0", &n), 0);
    assert_int_equal(n.prefix, 0);
    assert_int_equal(conf_net_parse("::/128", &n), 0);
    assert_int_equal(conf_net_parse("1.2.3.4/32", &n), 0);
    assert_int_equal(n.prefix, 128);
    static const char *bad[] = {"", "/", "1.2.3.4/33", "::/129", "1.2.3.4/", "1.2.3.4/a",
                                "1.2.3.4/+8", "1.2.3.4/ 8", "1.2.3.4/8/8", "1.2.3", "x::y/8",
                                "1.2.3.4 /8", "::1/1000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (conf_net_parse(bad[i], &n) == 0)
            fail_msg("'%s' parsed as a network", bad[i]);
    }

    /* From socket addresses, as accept() gives them. */
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.1.2.3", &s4.sin_addr);
    uint8_t a[16], b[16];
    assert_int_equal(conf_addr_from_sockaddr((struct sockaddr *)&s4, a), 0);
    addr("10.1.2.3", b);
    assert_memory_equal(a, b, 16);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8::5", &s6.sin6_addr);
    assert_int_equal(conf_addr_from_sockaddr((struct sockaddr *)&s6, a), 0);
    addr("2001:db8::5", b);
    assert_memory_equal(a, b, 16);
    struct sockaddr su = {.sa_family = AF_UNIX};
    assert_int_equal(conf_addr_from_sockaddr(&su, a), CCD_EINVAL);
    assert_int_equal(conf_addr_parse("nope", a), CCD_EINVAL);
}

/* Random text built from config-ish fragments: every outcome is either a clean
 * load or an error with the "t.conf:" prefix, never a crash (ASan checks the
 * memory side). */
static void test_random_text(void **state)
{
    (void)state;
    static const char *frag[] = {"[", "]", "ami", "eccp", "log", " ", "\t", "=", "port", "host",
                                 "secret", "env:", "file:", "\n", "\r\n", "#", ";", "\"", "10.0.0.0/8",
                                 ",", "::", "/", "999999999999", "-", "yes", "level", "x", "\0", "\xff"};
    size_t nf = sizeof(frag) / sizeof(frag[0]);
    unsigned seed = 7;
    char text[512];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int parts = (int)((seed >> 8) % 40);
        for (int p = 0; p < parts; p++) {
            seed = seed * 1103515245u + 12345u;
            const char *f = frag[(seed >> 8) % nf];
            size_t fl = f[0] == '\0' ? 1 : strlen(f);
            if (n + fl >= sizeof(text))
                break;
            memcpy(text + n, f, fl);
            n += fl;
        }
        err[0] = '\0';
        int rc = conf_load_string("t.conf", text, n, C, err, sizeof(err));
        if (rc != 0 && strncmp(err, "t.conf:", 7) != 0)
            fail_msg("error without location: '%s'", err);
        if (rc == 0)
            assert_true(C->nami >= 1 && C->nami <= CONF_MAX_AMI_SERVERS);
    }
    /* A NULL error buffer is allowed. */
    assert_int_not_equal(conf_load_string("t.conf", "[x]\n", 4, C, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_defaults),
        T(test_empty_text_gives_defaults),
        T(test_table_sane),
        T(test_sample_loads_and_equals_defaults),
        T(test_sample_lists_every_directive),
        T(test_parser_items),
        T(test_parser_line_bound),
        T(test_valid_strings_paths_idents),
        T(test_valid_ints_and_ports),
        T(test_valid_bools),
        T(test_valid_doubles),
        T(test_valid_log),
        T(test_valid_hosts_and_addrs),
        T(test_valid_nets),
        T(test_case_insensitive_names),
        T(test_ami_servers),
        T(test_error_unknown_section),
        T(test_error_unknown_key),
        T(test_error_duplicates),
        T(test_error_too_many_servers),
        T(test_error_syntax),
        T(test_error_bad_values),
        T(test_error_cross_key),
        T(test_error_echo_is_bounded),
        T(test_secret_plain_and_env),
        T(test_secret_file),
        T(test_load_file),
        T(test_cidr_match),
        T(test_net_parse_api),
        T(test_random_text),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
