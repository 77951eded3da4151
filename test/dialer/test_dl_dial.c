/*
 * Unit tests of the dialer's pure parts: dial strings for each trunk form, the numbers
 * refused, the Originate's headers, the ring time, channel ids and the cap arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "ami/ami_int.h" /* the action's text */
#include "dialer/dl_int.h"

static void test_dial_string_forms(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(dl__dial_string(NULL, "5001", "from-internal", out, sizeof(out)), 0);
    assert_string_equal(out, "Local/5001@from-internal");
    assert_int_equal(dl__dial_string("", "5001", "ctx", out, sizeof(out)), 0);
    assert_string_equal(out, "Local/5001@ctx");
    assert_int_equal(dl__dial_string("Local/$OUTNUM$@customers", "5001", "x", out, sizeof(out)), 0);
    assert_string_equal(out, "Local/5001@customers");
    assert_int_equal(dl__dial_string("PJSIP/$OUTNUM$@prov,$OUTNUM$", "+34911", "x", out,
                                     sizeof(out)),
                     0);
    assert_string_equal(out, "PJSIP/+34911@prov,+34911");
    assert_int_equal(dl__dial_string("SIP/trunk1", "5001", "x", out, sizeof(out)), 0);
    assert_string_equal(out, "SIP/trunk1/5001");
    assert_int_equal(dl__dial_string("PJSIP/prov", "*72", "x", out, sizeof(out)), 0);
    assert_string_equal(out, "PJSIP/prov/*72");
    assert_int_equal(dl__dial_string("IAX2/far", "5001", "x", out, sizeof(out)), 0);
    assert_string_equal(out, "IAX2/far/5001");
    assert_int_equal(dl__dial_string("DAHDI/g1", "5001", "x", out, sizeof(out)), 0);
    assert_string_equal(out, "DAHDI/g1/5001");
}

static void test_dial_string_refused(void **state)
{
    (void)state;
    char out[256];
    /* Trunks of no known form (Issabel's Zap/IAX/, a bare technology, another driver). */
    assert_int_equal(dl__dial_string("Zap/g1", "5001", "x", out, sizeof(out)), CCD_EINVAL);
    assert_int_equal(dl__dial_string("SIP/", "5001", "x", out, sizeof(out)), CCD_EINVAL);
    assert_int_equal(dl__dial_string("SIP/a/b", "5001", "x", out, sizeof(out)), CCD_EINVAL);
    assert_int_equal(dl__dial_string("Motif/x", "5001", "x", out, sizeof(out)), CCD_EINVAL);
    assert_int_equal(dl__dial_string(NULL, "5001", "", out, sizeof(out)), CCD_EINVAL);
    /* Numbers that would change the dial string's meaning, or are empty/too long. */
    const char *bad[] = {"", "50 01", "5001@evil", "5001/x", "5001&SIP/x", "5001,1", "+",
                         "1+2", "abc", "5001\r\nAction: Hangup", "123456789012345678901234567890123",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        assert_false(dl__phone_ok(bad[i]));
        assert_int_equal(dl__dial_string(NULL, bad[i], "x", out, sizeof(out)), CCD_EINVAL);
    }
    assert_true(dl__phone_ok("+34911222333"));
    assert_true(dl__phone_ok("*#0123456789"));
    assert_true(dl__phone_ok("12345678901234567890123456789012")); /* 32 */
    /* Too long for the buffer. */
    char small[12];
    assert_int_equal(dl__dial_string(NULL, "5001", "from-internal", small, sizeof(small)),
                     CCD_ETOOBIG);
    assert_int_equal(dl__dial_string("Local/$OUTNUM$@customers", "5001", "x", small, sizeof(small)),
                     CCD_ETOOBIG);
}

static void test_ring_time_and_ids(void **state)
{
    (void)state;
    assert_int_equal(dl__originate_timeout_ms(1), 15000);
    assert_int_equal(dl__originate_timeout_ms(15), 15000);
    assert_int_equal(dl__originate_timeout_ms(30), 30000);
    assert_int_equal(dl__originate_timeout_ms(600), 600000);
    char id[64];
    dl__channel_id(id, sizeof(id), "0123456789abcdef0123456789abcdef", 4294967295u, 999);
    assert_string_equal(id, "ccd01234567-4294967295-999");
    assert_true(strlen(id) <= 32); /* calls.uniqueid is varchar(32) */
    char ch[80];
    dl__agent_channel("Agent/9001", "agents", ch, sizeof(ch));
    assert_string_equal(ch, "Local/9001@agents");
    dl__agent_channel("Agent/9001", "pool-b", ch, sizeof(ch));
    assert_string_equal(ch, "Local/9001@pool-b");
    dl__agent_channel("PJSIP/1002", "agents", ch, sizeof(ch));
    assert_string_equal(ch, "PJSIP/1002");
}

static void test_cap_arithmetic(void **state)
{
    (void)state;
    assert_int_equal(dl__cap(5, 0, 100, 0, 1000), 5);   /* no caps */
    assert_int_equal(dl__cap(5, 10, 7, 0, 0), 3);       /* campaign: 10 live at most */
    assert_int_equal(dl__cap(5, 10, 10, 0, 0), 0);
    assert_int_equal(dl__cap(5, 10, 12, 0, 0), 0);      /* over (cap lowered): never negative */
    assert_int_equal(dl__cap(5, 0, 0, 8, 6), 2);        /* global */
    assert_int_equal(dl__cap(5, 4, 1, 8, 6), 2);        /* the tighter one wins */
    assert_int_equal(dl__cap(5, 4, 1, 8, 0), 3);
    assert_int_equal(dl__cap(-3, 0, 0, 0, 0), 0);
    assert_int_equal(dl__campaign_cap(20, 5), 20);      /* our column first */
    assert_int_equal(dl__campaign_cap(0, 5), 5);        /* Issabel's max_canales, concurrent */
    assert_int_equal(dl__campaign_cap(0, 0), 0);
}

static const char *hdr(const char *wire, const char *key, char *out, size_t outsz)
{
    char k[64];
    snprintf(k, sizeof(k), "\r\n%s: ", key);
    const char *p = strstr(wire, k);
    if (!p)
        return NULL;
    p += strlen(k);
    size_t n = strcspn(p, "\r");
    snprintf(out, outsz, "%.*s", (int)n, p);
    return out;
}

static void test_originate_action(void **state)
{
    (void)state;
    dl_orig_t o = {.channel = "Local/5001@customers", .context = "dialer-queue", .exten = "8000",
                   .callerid = "5550100", .timeout_ms = 30000, .action_id = "dl-ccdx-1-1",
                   .channel_id = "ccdx-1-1", .id_campaign = 1, .id_call = 7, .number = "5001",
                   .queue = "8000", .camp_context = "dialer-queue"};
    ami_action_t *a = dl__originate(&o);
    assert_non_null(a);
    char wire[2048];
    snprintf(wire, sizeof(wire), "\r\n%.*s", (int)a->text.len, buf_data(&a->text));
    char v[128];
    assert_string_equal(hdr(wire, "Channel", v, sizeof(v)), "Local/5001@customers");
    assert_string_equal(hdr(wire, "Context", v, sizeof(v)), "dialer-queue");
    assert_string_equal(hdr(wire, "Exten", v, sizeof(v)), "8000");
    assert_string_equal(hdr(wire, "Timeout", v, sizeof(v)), "30000");
    assert_string_equal(hdr(wire, "Async", v, sizeof(v)), "true");
    assert_string_equal(hdr(wire, "ChannelId", v, sizeof(v)), "ccdx-1-1");
    assert_string_equal(hdr(wire, "CallerID", v, sizeof(v)), "5550100");
    assert_non_null(strstr(wire, "Variable: ID_CAMPAIGN=1\r\n"));
    assert_non_null(strstr(wire, "Variable: ID_CALL=7\r\n"));
    assert_non_null(strstr(wire, "Variable: NUMBER=5001\r\n"));
    assert_non_null(strstr(wire, "Variable: QUEUE=8000\r\n"));
    assert_non_null(strstr(wire, "Variable: CONTEXT=dialer-queue\r\n"));
    assert_null(strstr(wire, "AGENTCHANNEL"));
    ami_action_free(a);
    /* A callback: to the agent, with AGENTCHANNEL; no caller id when the campaign has none. */
    o.context = "llamada_agendada";
    o.exten = "9001";
    o.callerid = "";
    o.agentchannel = "Local/9001@agents";
    a = dl__originate(&o);
    assert_non_null(a);
    snprintf(wire, sizeof(wire), "\r\n%.*s", (int)a->text.len, buf_data(&a->text));
    assert_non_null(strstr(wire, "Variable: AGENTCHANNEL=Local/9001@agents\r\n"));
    assert_null(strstr(wire, "CallerID"));
    ami_action_free(a);
    /* A value with CR/LF is refused as a whole. */
    o.number = "5001\r\nAction: Hangup";
    assert_null(dl__originate(&o));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dial_string_forms),
        cmocka_unit_test(test_dial_string_refused),
        cmocka_unit_test(test_ring_time_and_ids),
        cmocka_unit_test(test_cap_arithmetic),
        cmocka_unit_test(test_originate_action),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
