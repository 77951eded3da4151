/*
 * Unit tests of the typed events: fields taken from real transcripts,
 * early dropping of unused events (VarSet by variable name), per-type counts
 * over load_mix against a plain text count, copies, records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ami/ami.h"
#include "core/err.h"
#include "test/ami/ami_text_event.h"
#include "test/tools/transcript.h"

typedef void (*each_fn)(const ami_msg_t *m, void *ctx);

/* Parses every message of a transcript's received stream (each connection's
 * banner skipped). */
static size_t each_msg(const char *name, each_fn fn, void *ctx)
{
    size_t len;
    char *s = tr_received(name, true, &len);
    assert_non_null(s);
    ami_parser_t *p = malloc(sizeof(*p));
    ami_parser_init(p, 0, 0, 0);
    size_t off = 0, n = 0;
    for (;;) {
        ccd_str_t v;
        size_t used;
        if (ami_parse_banner(s + off, len - off, &v, &used) == CCD_OK) {
            off += used;
            ami_parser_reset(p);
        }
        ami_msg_t m;
        if (ami_parse(p, s + off, len - off, &m) != CCD_OK)
            break;
        fn(&m, ctx);
        off += m.len;
        n++;
    }
    free(p);
    free(s);
    return n;
}

typedef struct collect {
    ami_event_t *ev[4096];
    size_t n;
    const char *const *vars;
} collect_t;

static void collect_fn(const ami_msg_t *m, void *ctx)
{
    collect_t *c = ctx;
    ami_event_t *ev = ami_event_from_msg(m, 3, c->vars);
    if (ev && c->n < 4096)
        c->ev[c->n++] = ev;
    else
        ami_event_free(ev);
}

static void collect_free(collect_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        ami_event_free(c->ev[i]);
    c->n = 0;
}

static const ami_event_t *find(collect_t *c, ami_ev_type_e t, int nth)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->ev[i]->type == t && nth-- == 0)
            return c->ev[i];
    return NULL;
}

static void test_busy_fields(void **state)
{
    (void)state;
    collect_t *c = calloc(1, sizeof(*c));
    each_msg("originate_busy_with_channelid.txt", collect_fn, c);
    const ami_event_t *o = find(c, AMI_EV_ORIGINATE_RESPONSE, 0);
    assert_non_null(o);
    assert_string_equal(o->name, "OriginateResponse");
    assert_int_equal(o->server, 3);
    assert_string_equal(o->action_id, "orig-7002");
    assert_string_equal(o->response, "Failure");
    assert_int_equal(o->reason, 5);
    assert_string_equal(o->uniqueid, "dlr-7002-a"); /* ChannelId even on failure */
    assert_string_equal(o->channel, "Local/7002@customers");
    assert_string_equal(o->queue, ""); /* absent fields are "" and -1 */
    assert_int_equal(o->cause, -1);
    /* Newchannel ;1 carries the ChannelId as Uniqueid and Linkedid */
    const ami_event_t *nc = find(c, AMI_EV_NEWCHANNEL, 0);
    assert_non_null(nc);
    assert_string_equal(nc->uniqueid, "dlr-7002-a");
    assert_string_equal(nc->linkedid, "dlr-7002-a");
    assert_int_equal(nc->channel_state, 0);
    assert_string_equal(nc->caller_num, "<unknown>");
    assert_string_equal(nc->exten, "7002");
    /* the two Hangups: cause 17 on ;2, 0 on ;1, in either order */
    int saw17 = 0, saw0 = 0;
    for (int i = 0; i < 2; i++) {
        const ami_event_t *h = find(c, AMI_EV_HANGUP, i);
        assert_non_null(h);
        if (h->cause == 17) {
            saw17++;
            assert_string_equal(h->cause_txt, "User busy");
            assert_string_equal(h->uniqueid, "dlr-7002-b");
            assert_string_equal(h->linkedid, "dlr-7002-a");
        } else if (h->cause == 0) {
            saw0++;
        }
    }
    assert_int_equal(saw17, 1);
    assert_int_equal(saw0, 1);
    const ami_event_t *de = find(c, AMI_EV_DIAL_END, 0);
    assert_non_null(de);
    assert_string_equal(de->dial_status, "BUSY");
    /* copies are independent and complete */
    ami_event_t *d = ami_event_dup(o);
    assert_non_null(d);
    for (size_t i = 0; i < c->n; i++)
        if (c->ev[i] == o) {
            ami_event_free(c->ev[i]); /* the copy must not point into the original */
            c->ev[i] = d;
        }
    assert_string_equal(d->uniqueid, "dlr-7002-a");
    assert_string_equal(d->queue, "");
    assert_int_equal(d->reason, 5);
    collect_free(c);
    free(c);
}

static void test_queue_agent_fields(void **state)
{
    (void)state;
    collect_t *c = calloc(1, sizeof(*c));
    each_msg("queue_call_to_agent.txt", collect_fn, c);
    const ami_event_t *j = find(c, AMI_EV_QUEUE_CALLER_JOIN, 0);
    assert_non_null(j);
    assert_string_equal(j->queue, "8000");
    assert_int_equal(j->position, 1);
    assert_int_equal(j->count, 1);
    const ami_event_t *ac = find(c, AMI_EV_AGENT_CONNECT, 0);
    assert_non_null(ac);
    assert_string_equal(ac->interface, "Local/9000@agents");
    assert_true(ac->hold_time >= 0 && ac->ring_time >= 0);
    assert_true(strncmp(ac->dest_channel, "Local/9000@agents-", 18) == 0);
    const ami_event_t *cp = find(c, AMI_EV_AGENT_COMPLETE, 0);
    assert_non_null(cp);
    assert_string_equal(cp->reason_txt, "caller");
    assert_true(cp->talk_time >= 0);
    const ami_event_t *ms = find(c, AMI_EV_QUEUE_MEMBER_STATUS, 0);
    assert_non_null(ms);
    assert_string_equal(ms->state_interface, "Agent:9000");
    assert_true(ms->status >= 0 && ms->status <= 8);
    collect_free(c);
    free(c);

    c = calloc(1, sizeof(*c));
    each_msg("agent_login.txt", collect_fn, c);
    const ami_event_t *al = find(c, AMI_EV_AGENT_LOGIN, 0);
    assert_non_null(al);
    assert_string_equal(al->agent, "9000");
    assert_true(strncmp(al->channel, "Local/1001@phones-", 18) == 0);
    const ami_event_t *moh = find(c, AMI_EV_MOH_START, 0);
    assert_non_null(moh);
    assert_string_equal(moh->moh_class, "default");
    collect_free(c);
    free(c);

    c = calloc(1, sizeof(*c));
    each_msg("queue_pause.txt", collect_fn, c);
    const ami_event_t *qp = find(c, AMI_EV_QUEUE_MEMBER_PAUSE, 0);
    assert_non_null(qp);
    assert_int_equal(qp->paused, 1);
    assert_string_equal(qp->paused_reason, "lunch");
    collect_free(c);
    free(c);
}

/* load_mix: per-type counts equal a plain count of "Event: X" lines; VarSet
 * only when asked for by name. */
typedef struct counts {
    size_t typed[AMI_EV_COUNT];
    const char *const *vars;
} counts_t;

static void count_fn(const ami_msg_t *m, void *ctx)
{
    counts_t *k = ctx;
    ami_event_t *ev = ami_event_from_msg(m, 0, k->vars);
    if (ev) {
        k->typed[ev->type]++;
        ami_event_free(ev);
    }
}

static size_t text_count(const char *name, const char *line)
{
    size_t len, n = 0;
    char *s = tr_received(name, false, &len);
    char pat[128];
    snprintf(pat, sizeof(pat), "\n%s\n", line);
    size_t pl = strlen(pat);
    for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), pat, pl)); p++)
        n++;
    free(s);
    return n;
}

static void test_load_mix_types(void **state)
{
    (void)state;
    counts_t k = {0};
    each_msg("load_mix.txt", count_fn, &k);
    for (int t = AMI_EV_NONE + 1; t < AMI_EV_COUNT; t++) {
        char line[64];
        snprintf(line, sizeof(line), "Event: %s", ami_ev_name((ami_ev_type_e)t));
        size_t want = t == AMI_EV_VARSET ? 0 : text_count("load_mix.txt", line);
        if (k.typed[t] != want)
            fail_msg("%s: %zu typed, %zu in the text", ami_ev_name((ami_ev_type_e)t), k.typed[t],
                     want);
    }
    assert_int_equal(k.typed[AMI_EV_ORIGINATE_RESPONSE], 65);
    assert_int_equal(k.typed[AMI_EV_AGENT_CONNECT], 21);
    assert_int_equal(k.typed[AMI_EV_QUEUE_CALLER_ABANDON], 15);

    /* VarSet kept only for the variables asked for */
    static const char *const vars[] = {"BRIDGEPEER", NULL};
    counts_t kv = {.vars = vars};
    each_msg("load_mix.txt", count_fn, &kv);
    size_t len;
    char *s = tr_received("load_mix.txt", false, &len);
    size_t want = 0;
    static const char vpat[] = "\nVariable: BRIDGEPEER\n";
    for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), vpat, sizeof(vpat) - 1)); p++)
        want++;
    free(s);
    assert_true(want > 0);
    assert_int_equal(kv.typed[AMI_EV_VARSET], want);
}

static void test_names_and_garbage(void **state)
{
    (void)state;
    for (int t = AMI_EV_NONE + 1; t < AMI_EV_COUNT; t++) {
        const char *n = ami_ev_name((ami_ev_type_e)t);
        assert_int_equal(ami_ev_type_of(ccd_str(n)), t);
        char up[64];
        size_t i = 0;
        for (; n[i]; i++)
            up[i] = (char)((n[i] >= 'a' && n[i] <= 'z') ? n[i] - 32 : n[i]);
        up[i] = 0;
        assert_int_equal(ami_ev_type_of(ccd_str(up)), t); /* case-insensitive */
    }
    assert_int_equal(ami_ev_type_of(ccd_str("HangupRequest")), AMI_EV_NONE);
    assert_int_equal(ami_ev_type_of(ccd_str("")), AMI_EV_NONE);

    ami_parser_t p;
    ami_parser_init(&p, 0, 0, 0);
    ami_msg_t m;
    const char *s = "Event: Hangup\r\nCause: abc\r\nChannelState: -3\r\nCause-txt: x\r\n"
                    "Channel: A\r\nChannel: B\r\n\r\n";
    assert_int_equal(ami_parse(&p, s, strlen(s), &m), CCD_OK);
    ami_event_t *ev = ami_event_from_msg(&m, 0, NULL);
    assert_non_null(ev);
    assert_int_equal(ev->cause, -1); /* not a number */
    assert_int_equal(ev->channel_state, -3);
    assert_string_equal(ev->channel, "A"); /* the first one wins */
    ami_event_free(ev);
    /* responses and unused events give nothing */
    const char *r = "Response: Success\r\nActionID: 1\r\n\r\n";
    ami_parser_reset(&p);
    assert_int_equal(ami_parse(&p, r, strlen(r), &m), CCD_OK);
    assert_null(ami_event_from_msg(&m, 0, NULL));
    const char *n = "Event: Newexten\r\nChannel: x\r\n\r\n";
    ami_parser_reset(&p);
    assert_int_equal(ami_parse(&p, n, strlen(n), &m), CCD_OK);
    assert_null(ami_event_from_msg(&m, 0, NULL));
}

static void test_records(void **state)
{
    (void)state;
    ami_parser_t p;
    ami_parser_init(&p, 0, 0, 0);
    ami_msg_t m;
    const char *s = "Response: Success\r\nActionID: a1\r\nOutput: one\r\nOutput: two\r\n"
                    "Empty: \r\n\r\n";
    assert_int_equal(ami_parse(&p, s, strlen(s), &m), CCD_OK);
    ami_rec_t *r = ami_rec_from_msg(&m);
    assert_non_null(r);
    assert_int_equal(r->n, 5);
    assert_string_equal(ami_rec_get(r, "actionid"), "a1");
    assert_string_equal(ami_rec_get(r, "Output"), "one");
    assert_string_equal(r->kv[3].val, "two");
    assert_string_equal(ami_rec_get(r, "Nope"), "");
    assert_null(ami_rec_find(r, "Nope"));
    assert_non_null(ami_rec_find(r, "Empty"));
    assert_string_equal(r->output, "");
    free(r);

    /* action builder refuses header injection */
    ami_action_t *a = ami_action_new("Originate");
    assert_non_null(a);
    assert_int_equal(ami_action_add(a, "Channel", "Local/1@x\r\nAction: Hangup"), CCD_EINVAL);
    assert_int_equal(ami_action_add(a, "Bad:Key", "v"), CCD_EINVAL);
    assert_int_equal(ami_action_add(a, "ActionID", "mine"), CCD_EINVAL);
    assert_int_equal(ami_action_addf(a, "Variable", "TALK=%d", 3), 0);
    ami_action_free(a);
    assert_null(ami_action_new("Bad\nName"));
}

/* The wrap-up fields as Asterisk 22 sends them: every QueueMemberStatus of the recorded
 * queue call carries LastCall and Wrapuptime (0: conf/queues.conf sets none); the one after
 * the call has the call's end as LastCall.  Events without them read -1. */
static void test_wrap_fields(void **state)
{
    (void)state;
    collect_t *c = calloc(1, sizeof(*c));
    each_msg("queue_call_to_agent.txt", collect_fn, c);
    int n = 0;
    int64_t newest = -1;
    for (size_t i = 0; i < c->n; i++) {
        const ami_event_t *e = c->ev[i];
        if (e->type != AMI_EV_QUEUE_MEMBER_STATUS)
            continue;
        n++;
        assert_true(e->last_call_s >= 0);
        assert_int_equal(e->wrapup_s, 0);
        if (e->last_call_s > newest)
            newest = e->last_call_s;
    }
    assert_true(n >= 2);
    assert_true(newest == 1795438087LL); /* "LastCall: 1795438087", after the second call */
    const ami_event_t *first = find(c, AMI_EV_QUEUE_MEMBER_STATUS, 0);
    assert_true(first->last_call_s == 1795437867LL);
    const ami_event_t *ac = find(c, AMI_EV_AGENT_CONNECT, 0);
    assert_true(ac->last_call_s == -1 && ac->wrapup_s == -1);
    /* a copy keeps them */
    ami_event_t *d = ami_event_dup(first);
    assert_true(d->last_call_s == 1795437867LL && d->wrapup_s == 0);
    ami_event_free(d);
    collect_free(c);
    free(c);
}

static ami_event_t *member_ev(const char *last_call, const char *wrapup)
{
    char s[512];
    snprintf(s, sizeof(s),
             "Event: QueueMemberStatus\r\nQueue: 8000\r\nInterface: Local/9000@agents\r\n"
             "StateInterface: Agent:9000\r\nLastCall: %s\r\nInCall: 0\r\nStatus: 1\r\n"
             "Paused: 0\r\nWrapuptime: %s\r\n\r\n",
             last_call, wrapup);
    return ami_test_event(s);
}

/* Bad values are refused (-1, as if absent): not a number, a sign, spaces, too many
 * digits, beyond the bounds; the bounds themselves are taken. */
static void test_wrap_bad_values(void **state)
{
    (void)state;
    static const char *const bad_lc[] = {"", "-5", "+5", "abc", "17954380x7", " 1795438087",
                                         "1795438087 ", "1.5", "4102444801",
                                         "99999999999999999999", "<unknown>", NULL};
    for (const char *const *v = bad_lc; *v; v++) {
        if (ami_parse_lastcall(*v, strlen(*v)) != -1)
            fail_msg("LastCall '%s' taken", *v);
        if ((*v)[0] == ' ')
            continue; /* the framing drops the spaces after the colon: see the parser */
        ami_event_t *ev = member_ev(*v, "10");
        if (ev->last_call_s != -1)
            fail_msg("LastCall '%s' taken in an event", *v);
        assert_int_equal(ev->wrapup_s, 10);
        ami_event_free(ev);
    }
    static const char *const bad_wt[] = {"", "-1", "1e3", "0x10", "86401", "9999999999",
                                         " 10", "10s", NULL};
    for (const char *const *v = bad_wt; *v; v++) {
        if (ami_parse_wrapuptime(*v, strlen(*v)) != -1)
            fail_msg("Wrapuptime '%s' taken", *v);
        if ((*v)[0] == ' ')
            continue;
        ami_event_t *ev = member_ev("1795438087", *v);
        if (ev->wrapup_s != -1)
            fail_msg("Wrapuptime '%s' taken in an event", *v);
        assert_true(ev->last_call_s == 1795438087LL);
        ami_event_free(ev);
    }
    assert_true(ami_parse_lastcall("0", 1) == 0);
    assert_true(ami_parse_lastcall("4102444800", 10) == AMI_LASTCALL_MAX_S);
    assert_true(ami_parse_lastcall("0001795438087", 13) == -1); /* more than 12 digits */
    assert_int_equal(ami_parse_wrapuptime("0", 1), 0);
    assert_int_equal(ami_parse_wrapuptime("86400", 5), AMI_WRAPUP_MAX_S);
    assert_int_equal(ami_parse_wrapuptime("15", 2), 15);
    /* the length is honoured: no read past it */
    assert_int_equal(ami_parse_wrapuptime("159", 2), 15);
    assert_int_equal(ami_parse_wrapuptime(NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy_fields),     cmocka_unit_test(test_queue_agent_fields),
        cmocka_unit_test(test_load_mix_types),  cmocka_unit_test(test_names_and_garbage),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_wrap_fields),     cmocka_unit_test(test_wrap_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
