/* Unit tests: the simulator's action parser and the fidelity comparator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "test/tools/transcript.h"
#include "tools/pbxsim/pbxsim_int.h"

static void test_parse_crlf_and_lf(void **state)
{
    (void)state;
    const char *in = "Action: Ping\r\nActionID:  p1 \r\n\r\nAction: Logoff\n\n";
    pbx_msg_t m;
    size_t used = 0;
    assert_int_equal(pbx_wire_parse(in, strlen(in), &m, &used), 1);
    assert_int_equal(m.n, 2);
    assert_true(ccd_str_eq(pbx_msg_get(&m, "actionid"), CCD_STR_LIT("p1")));
    size_t used2 = 0;
    assert_int_equal(pbx_wire_parse(in + used, strlen(in) - used, &m, &used2), 1);
    assert_true(ccd_str_eq(pbx_msg_get(&m, "Action"), CCD_STR_LIT("Logoff")));
    assert_int_equal(used + used2, strlen(in));
}

static void test_parse_needs_more_in_every_prefix(void **state)
{
    (void)state;
    const char *in = "Action: Originate\r\nChannel: Local/5001@customers\r\nVariable: TALK=3\r\n\r\n";
    size_t len = strlen(in);
    pbx_msg_t m;
    for (size_t cut = 0; cut < len; cut++) {
        size_t used = 0;
        assert_int_equal(pbx_wire_parse(in, cut, &m, &used), 0);
    }
    size_t used = 0;
    assert_int_equal(pbx_wire_parse(in, len, &m, &used), 1);
    assert_int_equal(m.n, 3);
    char v[64];
    pbx_msg_copy(&m, "Variable", v, sizeof v);
    assert_string_equal(v, "TALK=3");
    pbx_msg_copy(&m, "Missing", v, sizeof v);
    assert_string_equal(v, "");
}

static void test_parse_bounds(void **state)
{
    (void)state;
    static char big[PBX_LINE_MAX + 64];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pbx_msg_t m;
    size_t used = 0;
    /* an endless line is refused before its newline arrives */
    assert_int_equal(pbx_wire_parse(big, strlen(big), &m, &used), CCD_ETOOBIG);
    static char many[PBX_HDR_MAX * 8 + 64];
    size_t o = 0;
    for (int i = 0; i <= PBX_HDR_MAX; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "K%d: v\n", i);
    snprintf(many + o, sizeof many - o, "\n");
    assert_int_equal(pbx_wire_parse(many, strlen(many), &m, &used), CCD_ETOOBIG);
}

static void test_parse_ignores_junk_lines(void **state)
{
    (void)state;
    const char *in = "\r\n\r\nno colon here\r\nAction: Ping\r\n\r\n";
    pbx_msg_t m;
    size_t used = 0;
    assert_int_equal(pbx_wire_parse(in, strlen(in), &m, &used), 1);
    assert_int_equal(m.n, 1);
}

static void key(tkeys_t *ks, const char *stream, const char *sig, bool list)
{
    tkey_t k;
    memset(&k, 0, sizeof k);
    snprintf(k.stream, sizeof k.stream, "%s", stream);
    snprintf(k.sig, sizeof k.sig, "%s", sig);
    k.list = list;
    tk_push(ks, &k);
}

static void test_compare_rules(void **state)
{
    (void)state;
    tkeys_t rec = {0}, sim = {0};
    key(&rec, "chan A", "Newchannel", false);
    key(&rec, "chan B", "Newchannel", false);
    key(&rec, "chan A", "Hangup 16", false);
    key(&rec, "list x", "QueueMember 2", true);
    key(&rec, "list x", "QueueMember 1", true);
    /* other interleaving across streams, other order inside a list: equal */
    key(&sim, "chan B", "Newchannel", false);
    key(&sim, "chan A", "Newchannel", false);
    key(&sim, "list x", "QueueMember 1", true);
    key(&sim, "chan A", "Hangup 16", false);
    key(&sim, "list x", "QueueMember 2", true);
    assert_int_equal(tk_compare("unit", &rec, &sim), 0);
    /* order inside one channel's stream matters */
    tkeys_t bad = {0};
    key(&bad, "chan A", "Hangup 16", false);
    key(&bad, "chan A", "Newchannel", false);
    key(&bad, "chan B", "Newchannel", false);
    key(&bad, "list x", "QueueMember 1", true);
    key(&bad, "list x", "QueueMember 2", true);
    assert_int_equal(tk_compare("unit-expected-diff", &rec, &bad), 1);
    /* a stream only the simulator has is a difference too */
    key(&sim, "chan C", "Newchannel", false);
    assert_int_equal(tk_compare("unit-expected-diff", &rec, &sim), 1);
    tk_free(&rec);
    tk_free(&sim);
    tk_free(&bad);
}

static void test_norm_chan(void **state)
{
    (void)state;
    char out[96];
    ts_norm_chan("Local/5001@customers-00000016;1", out, sizeof out);
    assert_string_equal(out, "Local/5001@customers;1");
    ts_norm_chan("SIP/100-0000", out, sizeof out);
    assert_string_equal(out, "SIP/100-0000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_crlf_and_lf),   cmocka_unit_test(test_parse_needs_more_in_every_prefix),
        cmocka_unit_test(test_parse_bounds),        cmocka_unit_test(test_parse_ignores_junk_lines),
        cmocka_unit_test(test_compare_rules),       cmocka_unit_test(test_norm_chan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
