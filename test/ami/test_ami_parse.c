/*
 * Unit tests of the AMI framing parser: every recorded transcript (whole,
 * byte by byte, split at every boundary of small files, LF and CRLF),
 * compared with a naive reference splitter written independently here; and
 * the edge cases: bounds, legacy Follows output, banner, garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "ami/ami.h"
#include "core/err.h"
#include "test/tools/transcript.h"

/* ---- a naive reference splitter: lines, then groups ended by an empty line ---- */

typedef struct ref_hdr {
    char *k, *v;
} ref_hdr_t;

typedef struct ref_msg {
    ref_hdr_t *h;
    int n;
} ref_msg_t;

/* strndup() reads its source up to the NUL under ASan's strict_string_checks,
 * which makes splitting a 2.6 MB stream quadratic: copy by length instead. */
static char *dupn(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static ref_msg_t *ref_split(const char *s, size_t len, size_t *nmsg)
{
    size_t cap = 256, nm = 0;
    ref_msg_t *v = calloc(cap, sizeof(*v));
    ref_msg_t cur = {0};
    int hcap = 0;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        if (!nl)
            break; /* an unterminated last line never completes a message */
        size_t e = (size_t)(nl - s), ll = e - i;
        if (ll && s[e - 1] == '\r')
            ll--;
        if (ll == 0) {
            if (cur.n) {
                if (nm == cap)
                    v = realloc(v, (cap *= 2) * sizeof(*v));
                v[nm++] = cur;
                memset(&cur, 0, sizeof(cur));
                hcap = 0;
            }
        } else {
            const char *line = s + i;
            size_t c = 0;
            while (c < ll && line[c] != ':')
                c++;
            assert_true(c < ll); /* every transcript line is Key: Value */
            size_t vo = c + 1;
            while (vo < ll && line[vo] == ' ')
                vo++;
            if (cur.n == hcap)
                cur.h = realloc(cur.h, (size_t)(hcap = hcap ? hcap * 2 : 16) * sizeof(ref_hdr_t));
            cur.h[cur.n].k = dupn(line, c);
            cur.h[cur.n].v = dupn(line + vo, ll - vo);
            cur.n++;
        }
        i = e + 1;
    }
    for (int j = 0; j < cur.n; j++) {
        free(cur.h[j].k);
        free(cur.h[j].v);
    }
    free(cur.h);
    *nmsg = nm;
    return v;
}

static void ref_free(ref_msg_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < v[i].n; j++) {
            free(v[i].h[j].k);
            free(v[i].h[j].v);
        }
        free(v[i].h);
    }
    free(v);
}

static bool slice_is(ccd_str_t s, const char *z)
{
    return s.len == strlen(z) && memcmp(s.p, z, s.len) == 0;
}

/* ---- feeding the parser in chunks, the way a connection does ---- */

typedef struct feed_result {
    size_t nmsg;
    uint64_t digest; /* over every key and value, in order */
    size_t consumed;
    int last_rc;
} feed_result_t;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (h ^ n) * 1099511628211ull;
}

/* Feeds s in chunks of `chunk` bytes (0 = all at once), with a moving
 * buffer so stale slices would show; checks each message against ref when given. */
static feed_result_t feed(const char *s, size_t len, size_t chunk, const ref_msg_t *ref,
                          size_t nref)
{
    static ami_parser_t p;
    ami_parser_init(&p, 0, 0, 0);
    feed_result_t r = {0, 14695981039346656037ull, 0, CCD_EAGAIN};
    buf_t b;
    buf_init(&b, 0);
    size_t given = 0;
    while (given < len || r.last_rc == CCD_OK) {
        if (r.last_rc != CCD_OK) {
            size_t n = chunk ? (len - given < chunk ? len - given : chunk) : len - given;
            assert_int_equal(buf_append(&b, s + given, n), 0);
            given += n;
        }
        ami_msg_t m;
        r.last_rc = ami_parse(&p, buf_data(&b), b.len, &m);
        if (r.last_rc == CCD_EPROTO)
            break;
        if (r.last_rc != CCD_OK)
            continue;
        assert_true(m.len <= b.len);
        for (int i = 0; i < m.nhdr; i++) {
            /* slices lie inside the message */
            assert_true(m.hdr[i].key.p >= buf_data(&b));
            assert_true(m.hdr[i].val.p + m.hdr[i].val.len <= buf_data(&b) + m.len);
            r.digest = mix(r.digest, m.hdr[i].key.p, m.hdr[i].key.len);
            r.digest = mix(r.digest, m.hdr[i].val.p, m.hdr[i].val.len);
        }
        if (ref) {
            assert_true(r.nmsg < nref);
            const ref_msg_t *rm = &ref[r.nmsg];
            assert_int_equal(m.nhdr, rm->n);
            for (int i = 0; i < m.nhdr; i++) {
                if (!slice_is(m.hdr[i].key, rm->h[i].k) || !slice_is(m.hdr[i].val, rm->h[i].v))
                    fail_msg("msg %zu hdr %d: '%.*s: %.*s' vs '%s: %s'", r.nmsg, i,
                             (int)m.hdr[i].key.len, m.hdr[i].key.p, (int)m.hdr[i].val.len,
                             m.hdr[i].val.p, rm->h[i].k, rm->h[i].v);
            }
        }
        r.nmsg++;
        r.consumed += m.len;
        buf_consume(&b, m.len);
    }
    buf_free(&b);
    return r;
}

/* The nine files where the probe's first sent action is mixed line by line
 * with the received SuccessfulAuth (README "Probe note"). */
static bool probe_mixed(const char *name)
{
    static const char *const mixed[] = {
        "agent_logout.txt",         "ami_misc_actions.txt",   "fastagi_hangup_during_agi.txt",
        "originate_answered_application.txt", "originate_busy.txt", "originate_noanswer.txt",
        "originate_unallocated.txt", "queue_add_remove.txt", "queue_call_to_agent.txt",
    };
    for (size_t i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++)
        if (strcmp(name, mixed[i]) == 0)
            return true;
    return false;
}

static void strip_banner(char **s, size_t *len)
{
    ccd_str_t ver;
    size_t used = 0;
    int rc = ami_parse_banner(*s, *len, &ver, &used);
    if (rc == CCD_OK) {
        assert_true(slice_is(ver, "11.0.0"));
        *s += used;
        *len -= used;
    }
}

static size_t check_segment(const char *file, char *s, size_t len)
{
    strip_banner(&s, &len);
    size_t nref;
    ref_msg_t *ref = ref_split(s, len, &nref);
    feed_result_t a = feed(s, len, 0, ref, nref);
    if (a.last_rc == CCD_EPROTO)
        fail_msg("%s: EPROTO", file);
    assert_int_equal(a.nmsg, nref);
    /* every message must carry one Event or else one Response, except where
     * the probe mixed its first action into the received stream */
    size_t odd = 0;
    for (size_t i = 0; i < nref; i++) {
        int ev = 0, resp = 0;
        for (int j = 0; j < ref[i].n; j++) {
            ev += strcasecmp(ref[i].h[j].k, "Event") == 0;
            resp += strcasecmp(ref[i].h[j].k, "Response") == 0;
        }
        /* OriginateResponse carries both Event and Response */
        odd += !(ev == 1 || (ev == 0 && resp == 1));
    }
    if (probe_mixed(file))
        assert_true(odd <= 2);
    else if (odd)
        fail_msg("%s: %zu messages without exactly one Event/Response", file, odd);
    /* byte-by-byte and odd chunk sizes give the same stream */
    feed_result_t b1 = feed(s, len, 1, NULL, 0);
    feed_result_t b7 = feed(s, len, 7, NULL, 0);
    feed_result_t b4k = feed(s, len, 4093, NULL, 0);
    assert_int_equal(b1.nmsg, a.nmsg);
    assert_true(b1.digest == a.digest && b7.digest == a.digest && b4k.digest == a.digest);
    ref_free(ref, nref);
    return a.nmsg;
}

static void test_all_transcripts(void **state)
{
    (void)state;
    size_t nfiles;
    char **files = tr_list(&nfiles);
    assert_non_null(files);
    assert_true(nfiles >= 30); /* the directory has 32 scenario files */
    size_t total_msgs = 0;
    for (size_t f = 0; f < nfiles; f++) {
        for (int crlf = 0; crlf < 2; crlf++) {
            size_t len;
            char *whole = tr_received(files[f], crlf, &len);
            assert_non_null(whole);
            /* A reconnect (restart.txt) starts a new connection with a new
             * banner: each connection's stream is parsed on its own. */
            size_t seg_start = 0;
            while (seg_start < len) {
                const char *nb = strstr(whole + seg_start + 1, "\nAsterisk Call Manager/");
                size_t seg_end = nb ? (size_t)(nb - whole) + 1 : len;
                size_t nm = check_segment(files[f], whole + seg_start, seg_end - seg_start);
                if (nm == 0)
                    fail_msg("%s: no AMI messages", files[f]);
                total_msgs += nm;
                seg_start = seg_end;
            }
            free(whole);
        }
    }
    assert_true(total_msgs > 20000);
    tr_list_free(files, nfiles);
}

/* Split at every byte boundary: the first part, then the rest. */
static void test_split_every_boundary(void **state)
{
    (void)state;
    const char *names[] = {"originate_busy_with_channelid.txt", "ami_login_failure.txt",
                           "queue_status.txt"};
    for (size_t f = 0; f < 3; f++) {
        size_t len;
        char *s = tr_received(names[f], true, &len);
        assert_non_null(s);
        size_t used;
        ccd_str_t ver;
        assert_int_equal(ami_parse_banner(s, len, &ver, &used), CCD_OK);
        const char *body = s + used;
        size_t blen = len - used;
        feed_result_t whole = feed(body, blen, 0, NULL, 0);
        assert_true(whole.nmsg >= 1);
        for (size_t k = 1; k < blen; k++) {
            ami_parser_t p;
            ami_parser_init(&p, 0, 0, 0);
            buf_t b;
            buf_init(&b, 0);
            buf_append(&b, body, k);
            size_t nmsg = 0, given = k;
            uint64_t dg = 14695981039346656037ull;
            for (;;) {
                ami_msg_t m;
                int rc = ami_parse(&p, buf_data(&b), b.len, &m);
                if (rc == CCD_OK) {
                    for (int i = 0; i < m.nhdr; i++) {
                        dg = mix(dg, m.hdr[i].key.p, m.hdr[i].key.len);
                        dg = mix(dg, m.hdr[i].val.p, m.hdr[i].val.len);
                    }
                    nmsg++;
                    buf_consume(&b, m.len);
                    continue;
                }
                assert_int_equal(rc, CCD_EAGAIN);
                if (given == blen)
                    break;
                buf_append(&b, body + given, blen - given);
                given = blen;
            }
            assert_int_equal(nmsg, whole.nmsg);
            assert_true(dg == whole.digest);
            buf_free(&b);
        }
        free(s);
    }
}

/* Independent figures from the README: load_mix has 41 OriginateResponse
 * Reason 4, 14 Reason 3, 10 Reason 5, about 6000 messages, ~2700 VarSet. */
static void test_load_mix_counts(void **state)
{
    (void)state;
    size_t len;
    char *whole = tr_received("load_mix.txt", true, &len);
    assert_non_null(whole);
    char *s = whole;
    strip_banner(&s, &len);
    ami_parser_t *p = malloc(sizeof(*p));
    ami_parser_init(p, 0, 0, 0);
    size_t off = 0, nmsg = 0, varset = 0, r[10] = {0};
    ami_msg_t m;
    while (ami_parse(p, s + off, len - off, &m) == CCD_OK) {
        nmsg++;
        ccd_str_t ev = ami_msg_get(&m, "event");
        if (ami_str_ieq(ev, "VarSet"))
            varset++;
        if (ami_str_ieq(ev, "OriginateResponse")) {
            ccd_str_t reason = ami_msg_get(&m, "REASON");
            assert_int_equal(reason.len, 1);
            r[reason.p[0] - '0']++;
        }
        off += m.len;
    }
    assert_int_equal(off, len); /* the file ends at a message boundary */
    assert_int_equal(r[4], 41);
    assert_int_equal(r[3], 14);
    assert_int_equal(r[5], 10);
    assert_true(nmsg > 5500 && nmsg < 6500);
    assert_true(varset > 2500 && varset < 2900);
    free(p);
    free(whole);
}

/* ---- edge cases ---- */

static int parse1(ami_parser_t *p, const char *s, ami_msg_t *m)
{
    return ami_parse(p, s, strlen(s), m);
}

static void test_basic_and_lookup(void **state)
{
    (void)state;
    ami_parser_t p;
    ami_parser_init(&p, 0, 0, 0);
    ami_msg_t m;
    const char *s = "\r\n\nEvent: Hangup\nChannel:Local/1@x;1\r\nAccountCode: \r\n"
                    "Cause:   16\nVariable: A=1\nVariable: B=2\n\r\nEvent: Next\n";
    assert_int_equal(parse1(&p, s, &m), CCD_OK);
    assert_int_equal(m.nhdr, 6);
    assert_true(slice_is(ami_msg_get(&m, "EVENT"), "Hangup"));
    assert_true(slice_is(ami_msg_get(&m, "channel"), "Local/1@x;1"));
    assert_true(slice_is(ami_msg_get(&m, "accountcode"), ""));
    assert_non_null(ami_msg_find(&m, "AccountCode", 11, NULL));
    assert_true(slice_is(ami_msg_get(&m, "Cause"), "16"));
    assert_true(slice_is(ami_msg_get(&m, "Missing"), ""));
    assert_null(ami_msg_find(&m, "Missing", 7, NULL));
    const ami_hdr_t *h = ami_msg_find(&m, "variable", 8, NULL);
    assert_true(slice_is(h->val, "A=1"));
    h = ami_msg_find(&m, "variable", 8, h);
    assert_true(slice_is(h->val, "B=2"));
    assert_null(ami_msg_find(&m, "variable", 8, h));
    assert_int_equal(m.len, strlen(s) - strlen("Event: Next\n"));
    /* the next message is incomplete */
    assert_int_equal(parse1(&p, s + m.len, &m), CCD_EAGAIN);
    /* Value with a colon inside is kept whole */
    ami_parser_reset(&p);
    assert_int_equal(parse1(&p, "Key: a: b:c\n\n", &m), CCD_OK);
    assert_true(slice_is(ami_msg_get(&m, "key"), "a: b:c"));
}

static char *repeat_line(const char *key, size_t vlen)
{
    char *s = malloc(strlen(key) + vlen + 16);
    size_t o = (size_t)sprintf(s, "%s: ", key);
    memset(s + o, 'x', vlen);
    o += vlen;
    strcpy(s + o, "\r\n\r\n");
    return s;
}

static void test_line_bound(void **state)
{
    (void)state;
    ami_parser_t p;
    ami_msg_t m;
    /* "Key: " + v = exactly 8192 bytes: accepted */
    char *ok = repeat_line("Key", AMI_LINE_MAX - 5);
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(parse1(&p, ok, &m), CCD_OK);
    assert_int_equal(ami_msg_get(&m, "Key").len, AMI_LINE_MAX - 5);
    char *bad = repeat_line("Key", AMI_LINE_MAX - 4);
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(parse1(&p, bad, &m), CCD_EPROTO);
    assert_non_null(p.err);
    /* sticky until reset */
    assert_int_equal(parse1(&p, "A: b\n\n", &m), CCD_EPROTO);
    ami_parser_reset(&p);
    assert_int_equal(parse1(&p, "A: b\n\n", &m), CCD_OK);
    /* an endless line is refused before its end arrives */
    ami_parser_init(&p, 100, 0, 0);
    char big[300];
    memset(big, 'y', sizeof(big));
    assert_int_equal(ami_parse(&p, big, 101, &m), CCD_EAGAIN);
    assert_int_equal(ami_parse(&p, big, sizeof(big), &m), CCD_EPROTO);
    free(ok);
    free(bad);
}

static void test_header_bound(void **state)
{
    (void)state;
    ami_parser_t p;
    ami_msg_t m;
    buf_t b;
    buf_init(&b, 0);
    for (int i = 0; i < AMI_HDR_MAX; i++)
        buf_printf(&b, "H%d: %d\r\n", i, i);
    buf_printf(&b, "\r\n");
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(ami_parse(&p, buf_data(&b), b.len, &m), CCD_OK);
    assert_int_equal(m.nhdr, AMI_HDR_MAX);
    assert_true(slice_is(ami_msg_get(&m, "h127"), "127"));
    buf_reset(&b);
    for (int i = 0; i <= AMI_HDR_MAX; i++)
        buf_printf(&b, "H%d: %d\r\n", i, i);
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(ami_parse(&p, buf_data(&b), b.len, &m), CCD_EPROTO);
    /* a smaller configured bound */
    ami_parser_init(&p, 0, 3, 0);
    assert_int_equal(parse1(&p, "a: 1\nb: 2\nc: 3\n\n", &m), CCD_OK);
    ami_parser_reset(&p);
    assert_int_equal(parse1(&p, "a: 1\nb: 2\nc: 3\nd: 4\n", &m), CCD_EPROTO);
    /* message bound catches endless runs of blank lines too */
    ami_parser_init(&p, 0, 0, 64);
    char blanks[100];
    memset(blanks, '\n', sizeof(blanks));
    assert_int_equal(ami_parse(&p, blanks, sizeof(blanks), &m), CCD_EPROTO);
    buf_free(&b);
}

static void test_garbage(void **state)
{
    (void)state;
    ami_parser_t p;
    ami_msg_t m;
    const char *bad[] = {"no colon here\n\n", ": empty key\n\n", "Event: X\nbroken\n\n",
                         "\x01\x02\x03\n\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ami_parser_init(&p, 0, 0, 0);
        assert_int_equal(parse1(&p, bad[i], &m), CCD_EPROTO);
    }
    /* NUL bytes inside a value are data, not terminators */
    ami_parser_init(&p, 0, 0, 0);
    const char nul[] = "K: a\0b\n\n";
    assert_int_equal(ami_parse(&p, nul, sizeof(nul) - 1, &m), CCD_OK);
    assert_int_equal(ami_msg_get(&m, "K").len, 3);
    /* empty input */
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(ami_parse(&p, "", 0, &m), CCD_EAGAIN);
}

static void test_follows(void **state)
{
    (void)state;
    ami_parser_t p;
    ami_msg_t m;
    ami_parser_init(&p, 0, 0, 0);
    const char *s = "Response: Follows\r\nPrivilege: Command\r\nActionID: cmd-1\r\n"
                    "Name: value looking line\n\nsecond block\n--END COMMAND--\r\n\r\n"
                    "Response: Success\r\nActionID: p\r\n\r\n";
    assert_int_equal(parse1(&p, s, &m), CCD_OK);
    assert_int_equal(m.nhdr, 3);
    assert_true(slice_is(ami_msg_get(&m, "actionid"), "cmd-1"));
    assert_true(slice_is(m.output, "Name: value looking line\n\nsecond block\n"));
    size_t first = m.len;
    assert_int_equal(parse1(&p, s + first, &m), CCD_OK);
    assert_true(slice_is(ami_msg_get(&m, "ActionID"), "p"));
    assert_int_equal(m.output.len, 0);
    /* glued terminator and empty output */
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(parse1(&p, "Response: Follows\nPrivilege: Command\nno newline--END COMMAND--\n\n", &m),
                     CCD_OK);
    assert_true(slice_is(m.output, "no newline"));
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(parse1(&p, "Response: Follows\n--END COMMAND--\n\n", &m), CCD_OK);
    assert_int_equal(m.output.len, 0);
    /* text after the terminator instead of the empty line */
    ami_parser_init(&p, 0, 0, 0);
    assert_int_equal(parse1(&p, "Response: Follows\nx\n--END COMMAND--\nEvent: Y\n\n", &m),
                     CCD_EPROTO);
    /* output with no terminator is bounded by max_msg */
    ami_parser_init(&p, 0, 0, 200);
    buf_t b;
    buf_init(&b, 0);
    buf_printf(&b, "Response: Follows\n");
    for (int i = 0; i < 50; i++)
        buf_printf(&b, "line %d\n", i);
    assert_int_equal(ami_parse(&p, buf_data(&b), b.len, &m), CCD_EPROTO);
    buf_free(&b);
    /* split at every byte of a Follows message */
    size_t n = strlen(s);
    for (size_t k = 0; k <= n; k++) {
        ami_parser_init(&p, 0, 0, 0);
        int rc = ami_parse(&p, s, k, &m);
        assert_int_equal(rc, k < first ? CCD_EAGAIN : CCD_OK);
        if (rc == CCD_EAGAIN)
            assert_int_equal(ami_parse(&p, s, n, &m), CCD_OK);
        assert_int_equal(m.len, first);
        assert_true(slice_is(m.output, "Name: value looking line\n\nsecond block\n"));
    }
}

static void test_banner(void **state)
{
    (void)state;
    ccd_str_t v;
    size_t used;
    const char *b = "Asterisk Call Manager/11.0.0\r\nResponse: x\r\n";
    assert_int_equal(ami_parse_banner(b, strlen(b), &v, &used), CCD_OK);
    assert_true(slice_is(v, "11.0.0"));
    assert_int_equal(used, strlen("Asterisk Call Manager/11.0.0\r\n"));
    assert_int_equal(ami_parse_banner(b, 10, &v, &used), CCD_EAGAIN);
    assert_int_equal(ami_parse_banner("Asterisk Call Manager/5.0.1\n", 28, &v, &used), CCD_OK);
    assert_true(slice_is(v, "5.0.1"));
    assert_int_equal(ami_parse_banner("SSH-2.0-OpenSSH\r\n", 17, &v, &used), CCD_EPROTO);
    char longb[AMI_BANNER_MAX + 10];
    memset(longb, 'A', sizeof(longb));
    assert_int_equal(ami_parse_banner(longb, sizeof(longb), &v, &used), CCD_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_lookup), cmocka_unit_test(test_line_bound),
        cmocka_unit_test(test_header_bound),     cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_follows),          cmocka_unit_test(test_banner),
        cmocka_unit_test(test_load_mix_counts),  cmocka_unit_test(test_split_every_boundary),
        cmocka_unit_test(test_all_transcripts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
