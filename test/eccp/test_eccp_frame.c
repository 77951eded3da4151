/*
 * Framing, request parsing and the writer: packets split at every byte
 * boundary, merged packets, declarations, comments/CDATA/quoted '>', limits,
 * end tags that do not match their start tag (refused at once, at every split),
 * hostile XML (DTDs, entities, billion laughs, garbage) and the output layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "test/eccp/frame_feed.h"

static const char *const PKTS[] = {
    "<?xml version=\"1.0\"?>\n<request id=\"1\"><login><username>a</username><password>b</password></login></request>",
    "<request id=\"2\"><getrequestlist/></request>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- note > --><request id='3' x=\"a>b\"><a><![CDATA[<x>]]]></a><b/></request>",
    "<request id=\"4\"/>",
    "<?xml version=\"1.0\"?><request id=\"5\"><agent_number>Agent/9000</agent_number></request>",
};
#define NPKTS (sizeof(PKTS) / sizeof(PKTS[0]))

static char *stream(size_t *len)
{
    static const char *const sep[] = {"", "\n", "  \r\n\t", "\n\n", ""};
    size_t cap = 4096;
    char *s = malloc(cap);
    size_t n = 0;
    for (size_t i = 0; i < NPKTS; i++) {
        n += (size_t)snprintf(s + n, cap - n, "%s%s", sep[i], PKTS[i]);
    }
    *len = n;
    return s;
}

static char *joined(size_t *len)
{
    char *s = malloc(4096);
    size_t n = 0;
    for (size_t i = 0; i < NPKTS; i++) {
        memcpy(s + n, PKTS[i], strlen(PKTS[i]));
        n += strlen(PKTS[i]);
        s[n++] = '\x1e';
    }
    *len = n;
    return s;
}

typedef struct two {
    size_t first, rest;
} two_t;

static size_t chunk_two(size_t i, void *ctx)
{
    two_t *t = ctx;
    return i == 0 ? t->first : t->rest;
}

static void test_split_everywhere(void **state)
{
    (void)state;
    size_t len, jl;
    char *s = stream(&len);
    char *want = joined(&jl);
    /* one read, byte by byte, every 2-way split point, every chunk size */
    for (size_t sz = 1; sz <= len; sz++) {
        feed_out_t o = feed(s, len, chunk_all, &sz, 65536, 32);
        assert_int_equal(o.err, 0);
        assert_int_equal(o.npkts, NPKTS);
        assert_memory_equal(o.pkts, want, jl);
        free(o.pkts);
    }
    for (size_t cut = 1; cut < len; cut++) {
        two_t t = {cut, len};
        feed_out_t o = feed(s, len, chunk_two, &t, 65536, 32);
        assert_int_equal(o.err, 0);
        assert_int_equal(o.npkts, NPKTS);
        assert_memory_equal(o.pkts, want, jl);
        free(o.pkts);
    }
    free(s);
    free(want);
}

static int frame_err(const char *s, size_t max_bytes, int max_depth)
{
    size_t one = 1, all = strlen(s);
    feed_out_t a = feed(s, strlen(s), chunk_all, &all, max_bytes, max_depth);
    feed_out_t b = feed(s, strlen(s), chunk_all, &one, max_bytes, max_depth);
    assert_int_equal(a.err, b.err);
    free(a.pkts);
    free(b.pkts);
    return a.err;
}

static void test_frame_errors(void **state)
{
    (void)state;
    assert_int_equal(frame_err("<!DOCTYPE request [<!ENTITY a \"b\">]><request/>", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>", 65536, 32),
                     CCD_EPROTO);
    assert_int_equal(frame_err("<request><!ENTITY x \"y\"></request>", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("garbage<request/>", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("<request/>x", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("\x01\x02\x03", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("</request>", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("<![CDATA[x]]><request/>", 65536, 32), CCD_EPROTO);
    assert_int_equal(frame_err("<request id=\"1\"><a><b><c><d>", 65536, 3), CCD_ETOOBIG);
    assert_int_equal(frame_err("<request id=\"1\"><getrequestlist/></request>", 20, 32), CCD_ETOOBIG);
    assert_int_equal(frame_err("<request id=\"1\"><getrequestlist/></request>", 43, 32), 0);
    /* whitespace only: nothing, no error */
    assert_int_equal(frame_err(" \n\r\t ", 10, 32), 0);
}

/* End tags must close the open element: refused as soon as the end tag is complete,
 * whatever the read boundaries, after the good packets before it came out. */
static void test_mismatched_end_tags(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "<request id=\"1\"><getpauses></request>", /* the session hang of issue 8 */
        "<request id=\"1\"><a><b></a></b></request>",
        "<request id=\"1\"><ab></a></request>",
        "<request id=\"1\"><a></ab></request>",
        "<request id=\"1\"><a></A></request>",
        "<request></requesT>",
        "<request><x/></request2>",
        "<request></ request>",
        "<request></>",
        "<request></request x>",
        "<request></request/>",
        "<request></1request>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (frame_err(bad[i], 65536, 32) != CCD_EPROTO)
            fail_msg("not refused: %s", bad[i]);
    }
    /* names that match, blanks before '>', names with digits, dots, dashes, colons */
    assert_int_equal(frame_err("<request id=\"1\"><a-b.c_d:e1><x/></a-b.c_d:e1 \n></request\t>",
                               65536, 32), 0);
    assert_int_equal(frame_err("<request><a x=\"</b>\"></a></request>", 65536, 32), 0);

    /* two good packets, then a bad one that never reaches its root's end, then bytes that
     * must not be looked at: at every 2-way split, exactly the two packets, then EPROTO. */
    const char *good1 = "<request id=\"1\"><getrequestlist/></request>";
    const char *good2 = "<request id=\"2\"><a><b>t</b></a></request>";
    char s[512];
    int n = snprintf(s, sizeof(s), "%s\n%s<request id=\"3\"><getpauses></request>"
                                   "<request id=\"4\"><getpauses/></request>", good1, good2);
    char want[256];
    int wl = snprintf(want, sizeof(want), "%s\x1e%s\x1e", good1, good2);
    for (size_t cut = 1; cut < (size_t)n; cut++) {
        two_t t = {cut, (size_t)n};
        feed_out_t o = feed(s, (size_t)n, chunk_two, &t, 65536, 32);
        assert_int_equal(o.err, CCD_EPROTO);
        assert_int_equal(o.npkts, 2);
        assert_int_equal(o.len, (size_t)wl);
        assert_memory_equal(o.pkts, want, (size_t)wl);
        free(o.pkts);
    }
    for (size_t sz = 1; sz <= (size_t)n; sz++) {
        feed_out_t o = feed(s, (size_t)n, chunk_all, &sz, 65536, 32);
        assert_int_equal(o.err, CCD_EPROTO);
        assert_int_equal(o.npkts, 2);
        free(o.pkts);
    }
    /* the framer tracks at most ECCP_FRAME_DEPTH_MAX levels, whatever max_depth says */
    char deep[8 * (ECCP_FRAME_DEPTH_MAX + 2) + 32];
    size_t dl = 0;
    for (int i = 0; i <= ECCP_FRAME_DEPTH_MAX; i++)
        dl += (size_t)snprintf(deep + dl, sizeof(deep) - dl, "<a%d>", i % 10);
    deep[dl] = '\0';
    assert_int_equal(frame_err(deep, 65536, 1000), CCD_ETOOBIG);
}

static int parse(const char *s, eccp_req_t *r)
{
    return eccp__req_parse(s, strlen(s), r);
}

static void test_parse(void **state)
{
    (void)state;
    eccp_req_t r;
    assert_int_equal(parse("<request id=\"7\"><getagentstatus><agent_number>Agent/9000</agent_number>"
                           "</getagentstatus></request>", &r), 0);
    assert_true(r.has_id);
    assert_string_equal(r.id, "7");
    assert_string_equal(r.name, "getagentstatus");
    char v[64];
    assert_int_equal(eccp__arg(r.cmd, "agent_number", v, sizeof(v)), 1);
    assert_string_equal(v, "Agent/9000");
    assert_int_equal(eccp__arg(r.cmd, "nothing", v, sizeof(v)), 0);
    assert_int_equal(eccp__arg(r.cmd, "agent_number", v, 5), CCD_ETOOBIG);
    eccp__req_free(&r);
    /* entity and char references are fine, CDATA too */
    assert_int_equal(parse("<request id=\"a&amp;b\"><x><y>&lt;&#65;<![CDATA[&z]]></y></x></request>", &r), 0);
    assert_string_equal(r.id, "a&b");
    assert_int_equal(eccp__arg(r.cmd, "y", v, sizeof(v)), 1);
    assert_string_equal(v, "<A&z");
    eccp__req_free(&r);
    /* shapes that keep the connection */
    assert_int_equal(parse("<request><x/></request>", &r), 0);
    assert_false(r.has_id);
    eccp__req_free(&r);
    assert_int_equal(parse("<request id=\"1\"><x/><y/></request>", &r), 0);
    assert_null(r.cmd);
    eccp__req_free(&r);
    /* fatal ones */
    assert_int_equal(parse("<response id=\"1\"><x/></response>", &r), CCD_EPROTO);
    assert_int_equal(parse("<request id=\"1\"><x>&nope;</x></request>", &r), CCD_EPROTO);
    assert_int_equal(parse("<request id=\"1\"><x></request>", &r), CCD_EPROTO);
    /* a DTD never gets through even if the framer were bypassed */
    assert_int_equal(parse("<!DOCTYPE request [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>"
                           "<request id=\"1\"><x>&b;</x></request>", &r), CCD_EPROTO);
    assert_int_equal(parse("<!DOCTYPE request SYSTEM \"http://127.0.0.1:1/x.dtd\"><request id=\"1\"><x/></request>", &r),
                     CCD_EPROTO);
    assert_int_equal(parse("\xff\xfe\x00garbage", &r), CCD_EPROTO);
}

static void test_helpers(void **state)
{
    (void)state;
    assert_true(eccp__agent_valid("Agent/9000"));
    assert_true(eccp__agent_valid("PJSIP/1064"));
    assert_false(eccp__agent_valid("Agent9000"));
    assert_false(eccp__agent_valid("Agent/90/00"));
    assert_false(eccp__agent_valid("/9000"));
    assert_false(eccp__agent_valid("Agent/"));
    assert_false(eccp__agent_valid("Age nt/9000"));
    assert_int_equal(eccp__intval(" 42abc"), 42);
    assert_int_equal(eccp__intval("-7"), -7);
    assert_int_equal(eccp__intval("abc"), 0);
    assert_true(eccp__is_date("2024-01-31"));
    assert_false(eccp__is_date("2024-1-31"));
    assert_true(eccp__is_time("23:59:00"));
    assert_false(eccp__is_digits(""));
    assert_true(eccp__is_digits("0123"));
}

static void test_writer(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    xw_t w;
    eccp__xw_init(&w, &b);
    eccp__msg_resp_begin(&w, "i\"d<", "getpauses");
    eccp__xw_open(&w, "pause");
    eccp__xw_attr(&w, "id", "1");
    eccp__xw_leaf(&w, "name", "A & B <c>");
    eccp__xw_leaf(&w, "status", "");
    eccp__xw_leaf(&w, "type", NULL);
    eccp__xw_leaf(&w, "ctl", "a\x01" "b\r");
    eccp__xw_close(&w, "pause");
    eccp__msg_resp_end(&w, "getpauses");
    assert_int_equal(w.err, 0);
    const char *want = "<?xml version=\"1.0\"?>\n<response id=\"i&quot;d&lt;\"><getpauses_response>"
                       "<pause id=\"1\"><name>A &amp; B &lt;c&gt;</name><status/><type/>"
                       "<ctl>ab&#13;</ctl></pause></getpauses_response></response>\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(buf_data(&b), want, b.len);
    buf_reset(&b);
    eccp__msg_failure(&b, NULL, 400, "Bad request");
    want = "<?xml version=\"1.0\"?>\n<response><failure><code>400</code><message>Bad request</message>"
           "</failure></response>\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(buf_data(&b), want, b.len);
    buf_reset(&b);
    eccp__msg_req_failure(&b, "9", "loginagent", "logged-out", 404, "Specified agent not found");
    want = "<?xml version=\"1.0\"?>\n<response id=\"9\"><loginagent_response><status>logged-out</status>"
           "<failure><code>404</code><message>Specified agent not found</message></failure>"
           "</loginagent_response></response>\n";
    assert_memory_equal(buf_data(&b), want, b.len);
    /* the writer's output is itself parseable by the framer as one packet */
    buf_free(&b);
}

int main(void)
{
    eccp__xml_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_everywhere), cmocka_unit_test(test_frame_errors),
        cmocka_unit_test(test_parse),            cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_writer),           cmocka_unit_test(test_mismatched_end_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
