/*
 * The FastAGI parser against what Asterisk 22 really sent (fastagi_sessions.txt, read from
 * test/data/asterisk), the seed's environment, and hand-made lines for every answer form and
 * every bound.  Each recorded stream is parsed whole and one byte at a time: same items.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agi/agi.h"
#include "core/err.h"
#include "test/tools/transcript.h"

/* The item kinds and key facts of a stream, one line of text each, for comparisons. */
typedef struct run {
    char out[64][200];
    int n;
    int rc; /* the last parse result */
} run_t;

static void describe(const agi_item_t *it, char *o, size_t n)
{
    switch (it->type) {
    case AGI_IT_ENV:
        snprintf(o, n, "env %.*s=%.*s", (int)it->key.len, it->key.p, (int)it->val.len, it->val.p);
        break;
    case AGI_IT_ENV_END: snprintf(o, n, "env-end"); break;
    case AGI_IT_HANGUP: snprintf(o, n, "hangup"); break;
    case AGI_IT_USAGE: snprintf(o, n, "usage"); break;
    case AGI_IT_RESPONSE:
        snprintf(o, n, "%d r=%s%lld t=%.*s d=%s%.*s e=%s%lld", it->code, it->has_result ? "" : "!",
                 it->result, (int)it->result_text.len, it->result_text.p, it->has_data ? "" : "!",
                 (int)it->data.len, it->data.p, it->has_endpos ? "" : "!", it->endpos);
        break;
    }
}

/* Parses text fed chunk bytes at a time (0 = all at once). */
static run_t parse_all(const char *text, size_t len, size_t chunk, size_t max_line, int max_env)
{
    run_t r;
    memset(&r, 0, sizeof(r));
    agi_parser_t p;
    agi_parser_init(&p, max_line, max_env);
    size_t given = chunk ? 0 : len, start = 0;
    for (;;) {
        agi_item_t it;
        int rc = agi_parse(&p, text + start, given - start, &it);
        r.rc = rc;
        if (rc == CCD_OK) {
            assert_true(it.len > 0 && it.len <= given - start);
            if (r.n < 64)
                describe(&it, r.out[r.n++], sizeof(r.out[0]));
            start += it.len;
            continue;
        }
        if (rc != CCD_EAGAIN || given == len)
            break;
        given += chunk;
        if (given > len)
            given = len;
    }
    return r;
}

static void assert_same(const run_t *a, const run_t *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->rc, b->rc);
    for (int i = 0; i < a->n; i++)
        assert_string_equal(a->out[i], b->out[i]);
}

/* Collects what Asterisk sent ("<<" lines) in session sid of the recording. */
static char *session_stream(const char *sid, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/fastagi_sessions.txt", tr_dir());
    size_t flen;
    char *f = tr_read_file(path, &flen);
    assert_non_null(f);
    char *out = calloc(1, flen + 1);
    size_t o = 0;
    size_t sl = strlen(sid);
    for (char *line = strtok(f, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, sid, sl) != 0 || line[sl] != ' ')
            continue;
        char *q = strstr(line, " << '");
        if (!q)
            continue;
        q += 5;
        char *e = strrchr(q, '\'');
        assert_non_null(e);
        memcpy(out + o, q, (size_t)(e - q));
        o += (size_t)(e - q);
        out[o++] = '\n';
    }
    free(f);
    *len = o;
    return out;
}

static void test_recorded_session(void **st)
{
    (void)st;
    size_t len;
    char *s = session_stream("S7", &len);
    run_t whole = parse_all(s, len, 0, 0, 0);
    run_t bytes = parse_all(s, len, 1, 0, 0);
    assert_same(&whole, &bytes);
    assert_int_equal(whole.rc, CCD_EAGAIN);
    assert_string_equal(whole.out[0], "env agi_network=yes");
    assert_string_equal(whole.out[1], "env agi_network_script=test");
    assert_string_equal(whole.out[20], "env agi_accountcode=");
    assert_string_equal(whole.out[23], "env agi_arg_2=campaign1");
    assert_string_equal(whole.out[24], "env-end");
    static const char *const answers[] = {
        "200 r=1 t=1 d=! e=!0",
        "200 r=1 t=1 d=testpbx-1795438108.68 e=!0",
        "200 r=1 t=1 d=c1 e=!0",
        "200 r=1 t=1 d=0215550100-Local/5201@customers-00000022;1 e=!0",
        "200 r=6 t=6 d=! e=!0",
        "200 r=1 t=1 d=! e=!0",
        "200 r=0 t=0 d=! e=2400",
        "200 r=0 t=0 d=! e=!0",
        "200 r=1 t=1 d=! e=!0",
        "200 r=1 t=1 d=ok e=!0",
        "200 r=0 t=0 d=! e=!0",
        "510 r=!0 t= d=! e=!0",
    };
    assert_int_equal(whole.n, 25 + 12);
    for (int i = 0; i < 12; i++)
        assert_string_equal(whole.out[25 + i], answers[i]);
    free(s);
}

static void test_recorded_hangup(void **st)
{
    (void)st;
    size_t len;
    char *s = session_stream("S8", &len);
    run_t whole = parse_all(s, len, 0, 0, 0);
    run_t bytes = parse_all(s, len, 1, 0, 0);
    assert_same(&whole, &bytes);
    assert_int_equal(whole.n, 25 + 3);
    assert_string_equal(whole.out[25], "200 r=-1 t=-1 d=! e=!0");
    assert_string_equal(whole.out[26], "hangup");
    assert_string_equal(whole.out[27], "200 r=0 t=0 d=! e=!0");
    free(s);
}

/* The seed's environment: no space after "agi_accountcode:", three arguments. */
static void test_seed_env(void **st)
{
    (void)st;
    const char *s = "agi_request: /tmp/agi.sh\nagi_channel: SIP/marcelog-e00d2760\n"
                    "agi_accountcode:\nagi_arg_1: arg1\nagi_arg_2: arg2\nagi_arg_3: arg3\n\n"
                    "200 result=0\n200 result=1\n200 result=-1 endpos=3840\n";
    run_t r = parse_all(s, strlen(s), 0, 0, 0);
    run_t b = parse_all(s, strlen(s), 3, 0, 0);
    assert_same(&r, &b);
    assert_int_equal(r.n, 10);
    assert_string_equal(r.out[2], "env agi_accountcode=");
    assert_string_equal(r.out[5], "env agi_arg_3=arg3");
    assert_string_equal(r.out[6], "env-end");
    assert_string_equal(r.out[9], "200 r=-1 t=-1 d=! e=3840");
}

static void test_answer_forms(void **st)
{
    (void)st;
    const char *s = "\r\n"                                   /* empty environment, CRLF */
                    "200 result= (timeout)\r\n"              /* GET DATA, no digits */
                    "200 result=123\n"                       /* GET DATA digits */
                    "200 result=*1\n"                        /* not one number */
                    "200 result=1 (a (b) c)\n"               /* data with parentheses */
                    "200 result=1 (x endpos=5) endpos=7\n"   /* endpos inside the data */
                    "511 Command Not Permitted on a dead channel or intercept routine\n"
                    "520-Invalid command syntax.  Proper usage follows:\n"
                    " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
                    "520-still usage\n"
                    "520 End of proper usage.\n"
                    "HANGUP\n"
                    "200 result=0\n";
    run_t r = parse_all(s, strlen(s), 0, 0, 0);
    run_t b = parse_all(s, strlen(s), 1, 0, 0);
    assert_same(&r, &b);
    assert_int_equal(r.rc, CCD_EAGAIN);
    const char *want[] = {
        "env-end",
        "200 r=!0 t= d=timeout e=!0",
        "200 r=123 t=123 d=! e=!0",
        "200 r=!0 t=*1 d=! e=!0",
        "200 r=1 t=1 d=a (b) c e=!0",
        "200 r=1 t=1 d=x endpos=5 e=7",
        "511 r=!0 t= d=! e=!0",
        "usage", "usage", "usage",
        "520 r=!0 t= d=! e=!0",
        "hangup",
        "200 r=0 t=0 d=! e=!0",
    };
    assert_int_equal(r.n, (int)(sizeof(want) / sizeof(want[0])));
    for (int i = 0; i < r.n; i++)
        assert_string_equal(r.out[i], want[i]);
}

static int first_error(const char *s, size_t len, size_t max_line, int max_env, const char **why)
{
    agi_parser_t p;
    agi_parser_init(&p, max_line, max_env);
    size_t at = 0;
    for (;;) {
        agi_item_t it;
        int rc = agi_parse(&p, s + at, len - at, &it);
        if (rc != CCD_OK) {
            *why = p.err;
            return rc;
        }
        at += it.len;
    }
}

static void test_bounds_and_garbage(void **st)
{
    (void)st;
    const char *why = NULL;
    char big[400];
    memset(big, 'a', sizeof(big));
    memcpy(big, "agi_x: ", 7);
    big[399] = '\n';
    /* a line over max_line, with or without its end seen yet */
    assert_int_equal(first_error(big, sizeof(big), 256, 0, &why), CCD_EPROTO);
    assert_string_equal(why, "line too long");
    assert_int_equal(first_error(big, 300, 256, 0, &why), CCD_EPROTO);
    /* exactly max_line is fine */
    char edge[257];
    memcpy(edge, big, 256);
    edge[256] = '\n';
    assert_int_equal(first_error(edge, sizeof(edge), 256, 0, &why), CCD_EAGAIN);
    const char *env3 = "a: 1\nb: 2\nc: 3\n";
    assert_int_equal(first_error(env3, strlen(env3), 0, 2, &why), CCD_EPROTO);
    assert_string_equal(why, "too many environment lines");
    const char *nocolon = "agi_channel Local/1\n";
    assert_int_equal(first_error(nocolon, strlen(nocolon), 0, 0, &why), CCD_EPROTO);
    const char *badkey = "agi chan: x\n";
    assert_int_equal(first_error(badkey, strlen(badkey), 0, 0, &why), CCD_EPROTO);
    const char nul[] = "a: b\0c\n";
    assert_int_equal(first_error(nul, sizeof(nul) - 1, 0, 0, &why), CCD_EPROTO);
    assert_string_equal(why, "NUL byte in a line");
    static const char *const bad_answers[] = {
        "\nhello\n", "\n20 result=1\n", "\n200 resul=1\n", "\n200 result=1 junk\n",
        "\n200result=1\n", "\n510-multi\n", "\n200 result=1 (open\n",
    };
    for (size_t i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++)
        assert_int_equal(first_error(bad_answers[i], strlen(bad_answers[i]), 0, 0, &why),
                         CCD_EPROTO);
    /* a usage text that never ends is cut off */
    size_t ulen = 0;
    char *usage = malloc(16 + (AGI_USAGE_LINES_MAX + 2) * 4);
    usage[ulen++] = '\n';
    memcpy(usage + ulen, "520-x\n", 6);
    ulen += 6;
    for (int i = 0; i < AGI_USAGE_LINES_MAX + 1; i++) {
        memcpy(usage + ulen, "ab\n", 3);
        ulen += 3;
    }
    assert_int_equal(first_error(usage, ulen, 0, 0, &why), CCD_EPROTO);
    assert_string_equal(why, "520 usage text too long");
    free(usage);
}

static void test_arg_quoting(void **st)
{
    (void)st;
    char b[64];
    size_t u = 0;
    b[0] = '\0';
    assert_int_equal(agi_arg_append(b, sizeof(b), &u, "beep"), 0);
    assert_string_equal(b, "beep");
    assert_int_equal(agi_arg_append(b, sizeof(b), &u, ""), 0);
    assert_string_equal(b, "beep\"\"");
    u = 0;
    assert_int_equal(agi_arg_append(b, sizeof(b), &u, "a \"b\"\\\n"), 0);
    assert_string_equal(b, "\"a \\\"b\\\"\\\\\"");
    char small[6];
    u = 0;
    assert_int_equal(agi_arg_append(small, sizeof(small), &u, "abcdefgh"), CCD_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_session), cmocka_unit_test(test_recorded_hangup),
        cmocka_unit_test(test_seed_env),         cmocka_unit_test(test_answer_forms),
        cmocka_unit_test(test_bounds_and_garbage), cmocka_unit_test(test_arg_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
