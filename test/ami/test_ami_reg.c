/*
 * Unit tests of the registry apply functions (ami_reg.c): event sequences
 * from the recorded transcripts are turned into typed events, posted to a
 * registry and applied with reg_drain(); the tests assert the registry
 * state.  Order independence is checked by replaying the events of each
 * originate outcome in every order (and random orders for queue calls).
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
#include "core/clock.h"
#include "core/err.h"
#include "reg/reg.h"
#include "test/ami/ami_text_event.h"
#include "test/tools/transcript.h"

/* ---- registry set-up through apply functions, as the engine does ---- */

typedef struct new_call {
    char uniqueid[REG_UID_LEN];
    char action_id[REG_UID_LEN];
    char phone[REG_PHONE_LEN];
    char cb_agent[REG_ID_LEN]; /* a "same agent" callback's agent, as the dialer sets it */
    uint64_t id; /* out */
} new_call_t;

static void apply_new_call(reg_txn_t *tx, void *arg)
{
    new_call_t *n = arg;
    reg_call_t *c = reg_txn_call_new(tx);
    assert_non_null(c);
    c->type = REG_CALL_OUTGOING;
    c->status = REG_CS_PLACING;
    c->server = 0;
    snprintf(c->action_id, sizeof(c->action_id), "%s", n->action_id);
    snprintf(c->phone, sizeof(c->phone), "%s", n->phone);
    snprintf(c->cb_agent, sizeof(c->cb_agent), "%s", n->cb_agent);
    c->t_originate_ms = clk_wall_ms() - 60000;
    if (n->uniqueid[0])
        reg_txn_call_set_uniqueid(tx, c, n->uniqueid);
    reg_txn_call_touch(tx, c);
    n->id = c->id;
}

static void apply_new_agent(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, true);
    assert_non_null(a);
    a->server = 0;
    reg_txn_agent_touch(tx, a);
}

static void apply_agent_in(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, false);
    assert_non_null(a);
    a->login = REG_LOGGED_IN;
    snprintf(a->channel, sizeof(a->channel), "Local/1001@phones-00000001;1");
    reg_txn_agent_touch(tx, a);
}

/* Marks a known agent logged in (apply_agent_in) and waits until the registry applied it. */
static void log_agent_in(reg_t *r, const char *agent)
{
    assert_int_equal(reg_post(r, apply_agent_in, strdup(agent), free), 0);
    reg_drain(r);
}

static void add_agents(reg_t *r, int first, int n)
{
    for (int i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", first + i);
        assert_int_equal(reg_post(r, apply_new_agent, strdup(num), free), 0);
    }
    reg_drain(r);
}

/* Creates a call for every Originate we sent to Local/<n>@customers in the
 * transcript (ChannelId becomes the uniqueid when it was sent). */
static size_t add_sent_calls(reg_t *r, const char *file, new_call_t *out, size_t max)
{
    size_t len, n = 0;
    char *s = tr_stream(file, false, false, &len);
    assert_non_null(s);
    ami_parser_t *p = malloc(sizeof(*p));
    ami_parser_init(p, 0, 0, 0);
    size_t off = 0;
    ami_msg_t m;
    for (;;) {
        int rc = ami_parse(p, s + off, len - off, &m);
        if (rc == CCD_EPROTO) { /* the probe-mixed spot: skip a line */
            const char *nl = memchr(s + off, '\n', len - off);
            if (!nl)
                break;
            off = (size_t)(nl - s) + 1;
            ami_parser_reset(p);
            continue;
        }
        if (rc != CCD_OK)
            break;
        /* An Originate is a sent message whose Channel is exactly
         * Local/<n>@customers (Hangup and friends name "...@customers-xxxx;1").
         * Where the probe mixed its first action with SuccessfulAuth, the
         * Action line may be cut off from the rest, so it is not required. */
        ccd_str_t ch = ami_msg_get(&m, "Channel");
        ccd_str_t act = ami_msg_get(&m, "Action");
        if ((act.len == 0 || ami_str_ieq(act, "Originate")) && ch.len > 16 &&
            memcmp(ch.p + ch.len - 10, "@customers", 10) == 0 &&
            ami_msg_get(&m, "ActionID").len && n < max) {
            new_call_t *nc = &out[n];
            memset(nc, 0, sizeof(*nc));
            ccd_str_t id = ami_msg_get(&m, "ChannelId");
            ccd_str_t aid = ami_msg_get(&m, "ActionID");
            snprintf(nc->uniqueid, sizeof(nc->uniqueid), "%.*s", (int)id.len, id.p);
            snprintf(nc->action_id, sizeof(nc->action_id), "%.*s", (int)aid.len, aid.p);
            snprintf(nc->phone, sizeof(nc->phone), "%.*s", (int)(ch.len - 6), ch.p + 6);
            *strchr(nc->phone, '@') = 0;
            new_call_t *copy = malloc(sizeof(*copy));
            *copy = *nc;
            assert_int_equal(reg_post(r, apply_new_call, copy, NULL), 0);
            reg_drain(r);
            nc->id = copy->id;
            free(copy);
            n++;
        }
        off += m.len;
    }
    free(p);
    free(s);
    return n;
}

/* The typed events of a transcript that the registry wants, in wire order.
 * stop_at: a '#' note text after which nothing is taken (NULL = all). */
typedef struct evlist {
    ami_event_t **v;
    size_t n, cap;
} evlist_t;

static void evlist_free(evlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        ami_event_free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static evlist_t reg_events_vars(const char *file, const char *stop_at, const char *const *vars)
{
    evlist_t l = {0};
    size_t len;
    char *s = tr_received(file, false, &len);
    assert_non_null(s);
    if (stop_at) {
        /* cut the received stream where the raw file has the note */
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", tr_dir(), file);
        size_t rlen;
        char *raw = tr_read_file(path, &rlen);
        char *note = strstr(raw, stop_at);
        assert_non_null(note);
        *note = 0;
        /* received bytes before the note = received stream of the prefix */
        size_t keep = 0;
        int recv = 0;
        for (char *line = raw; *line;) {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : strlen(line);
            if (line[0] == '#') {
                if (!strncmp(line, "# <<<", 5))
                    recv = 1;
                else if (!strncmp(line, "# >>>", 5))
                    recv = 0;
            } else if (recv) {
                keep += ll + 1;
            }
            line = nl ? nl + 1 : line + ll;
        }
        free(raw);
        len = keep < len ? keep : len;
    }
    ami_parser_t *p = malloc(sizeof(*p));
    ami_parser_init(p, 0, 0, 0);
    size_t off = 0;
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
        ami_event_t *ev = ami_event_from_msg(&m, 0, vars);
        if (ev && ami_reg_wants(ev->type)) {
            if (l.n == l.cap)
                l.v = realloc(l.v, (l.cap = l.cap ? l.cap * 2 : 64) * sizeof(*l.v));
            l.v[l.n++] = ev;
        } else {
            ami_event_free(ev);
        }
        off += m.len;
    }
    free(p);
    free(s);
    return l;
}

static evlist_t reg_events(const char *file, const char *stop_at)
{
    return reg_events_vars(file, stop_at, NULL);
}

/* Posts copies of the events in the given order and applies them. */
static void apply_events(reg_t *r, const evlist_t *l, const size_t *order)
{
    for (size_t i = 0; i < l->n; i++) {
        ami_event_t *ev = ami_event_dup(l->v[order ? order[i] : i]);
        assert_int_equal(ami_reg_post_event(r, ev), 0);
        if (i % 256 == 255)
            reg_drain(r);
    }
    reg_drain(r);
}

static reg_call_t get_call(reg_t *r, uint64_t id)
{
    reg_call_t c;
    assert_int_equal(reg_call_get(r, id, &c), 0);
    return c;
}

static reg_agent_t get_agent(reg_t *r, const char *num)
{
    reg_agent_t a;
    assert_int_equal(reg_agent_get(r, num, &a), 0);
    return a;
}

/* ---- originate outcomes, in every order ---- */

typedef struct outcome_case {
    const char *file;
    reg_call_status_e status;
    int cause;
    bool answered;
} outcome_case_t;

static bool next_perm(size_t *a, size_t n)
{
    if (n < 2)
        return false;
    size_t i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0)
        return false;
    size_t j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    size_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    for (size_t k = i, e = n - 1; k < e; k++, e--) {
        t = a[k];
        a[k] = a[e];
        a[e] = t;
    }
    return true;
}

static void check_outcome(const outcome_case_t *oc)
{
    evlist_t l = reg_events(oc->file, NULL);
    assert_true(l.n >= 3 && l.n <= 8);
    size_t order[8];
    for (size_t i = 0; i < l.n; i++)
        order[i] = i;
    size_t perms = 0;
    do {
        reg_t *r = reg_new(1000, NULL, 0);
        new_call_t calls[4];
        assert_int_equal(add_sent_calls(r, oc->file, calls, 4), 1);
        apply_events(r, &l, order);
        reg_call_t c = get_call(r, calls[0].id);
        if (c.status != oc->status || c.failure_cause != oc->cause)
            fail_msg("%s perm %zu: status %s cause %d, want %s %d", oc->file, perms,
                     reg_call_status_name(c.status), c.failure_cause,
                     reg_call_status_name(oc->status), oc->cause);
        assert_true(c.t_end_ms > 0);
        assert_int_equal(c.t_answer_ms > 0, oc->answered);
        reg_free(r);
        perms++;
    } while (next_perm(order, l.n));
    evlist_free(&l);
}

static void test_originate_outcomes(void **state)
{
    (void)state;
    static const outcome_case_t cases[] = {
        {"originate_busy_with_channelid.txt", REG_CS_FAILURE, 17, false},
        {"originate_busy.txt", REG_CS_FAILURE, 17, false},
        {"originate_congestion.txt", REG_CS_FAILURE, 34, false},
        {"originate_noanswer.txt", REG_CS_NOANSWER, 19, false},
        /* sent without ChannelId: the legs' Hangup causes cannot be tied to
         * the call, so the cause is what Reason 0 implies (none) */
        {"originate_unallocated.txt", REG_CS_FAILURE, 0, false},
        /* answered into a plain context, never queued: Issabel's NoAnswer */
        {"originate_answered_context.txt", REG_CS_NOANSWER, 0, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_outcome(&cases[i]);
}

/* ---- queue call to an agent ---- */

static void test_queue_call_to_agent(void **state)
{
    (void)state;
    const char *f = "queue_call_to_agent.txt";
    evlist_t l = reg_events(f, NULL);
    uint64_t rng = 7;
    for (int round = 0; round < 300; round++) {
        reg_t *r = reg_new(1000, NULL, 0);
        add_agents(r, 9000, 5);
        log_agent_in(r, "Agent/9000");
        new_call_t calls[4];
        assert_int_equal(add_sent_calls(r, f, calls, 4), 1);
        size_t order[512];
        assert_true(l.n < 512);
        for (size_t i = 0; i < l.n; i++)
            order[i] = i;
        if (round == 0) {
            /* wire order, step by step: linked after AgentConnect */
            for (size_t i = 0; i < l.n; i++) {
                ami_event_t *ev = ami_event_dup(l.v[i]);
                ami_ev_type_e t = ev->type;
                assert_int_equal(ami_reg_post_event(r, ev), 0);
                reg_drain(r);
                if (t == AMI_EV_QUEUE_CALLER_JOIN) {
                    reg_call_t c = get_call(r, calls[0].id);
                    assert_int_equal(c.status, REG_CS_ONQUEUE);
                    assert_string_equal(c.queue, "8000");
                }
                if (t == AMI_EV_AGENT_CONNECT) {
                    reg_call_t c = get_call(r, calls[0].id);
                    assert_int_equal(c.status, REG_CS_SUCCESS);
                    assert_string_equal(c.agent, "Agent/9000");
                    assert_true(c.t_link_ms > 0);
                    reg_agent_t a = get_agent(r, "Agent/9000");
                    assert_true(a.call_id == calls[0].id);
                }
            }
        } else {
            /* the call's events in a random order; agent events keep theirs */
            size_t idx[512], k = 0;
            for (size_t i = 0; i < l.n; i++)
                if (l.v[i]->type != AMI_EV_QUEUE_MEMBER_STATUS &&
                    l.v[i]->type != AMI_EV_AGENT_LOGIN && l.v[i]->type != AMI_EV_AGENT_LOGOFF)
                    idx[k++] = i;
            for (size_t i = k; i > 1; i--) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t j = (size_t)(rng >> 33) % i;
                size_t t = idx[i - 1];
                idx[i - 1] = idx[j];
                idx[j] = t;
            }
            for (size_t i = 0, q = 0; i < l.n; i++)
                if (l.v[i]->type != AMI_EV_QUEUE_MEMBER_STATUS &&
                    l.v[i]->type != AMI_EV_AGENT_LOGIN && l.v[i]->type != AMI_EV_AGENT_LOGOFF)
                    order[i] = idx[q++];
            apply_events(r, &l, order);
        }
        reg_call_t c = get_call(r, calls[0].id);
        if (c.status != REG_CS_HANGUP)
            fail_msg("round %d: status %s", round, reg_call_status_name(c.status));
        assert_true(c.t_link_ms > 0 && c.t_end_ms > 0);
        reg_agent_t a = get_agent(r, "Agent/9000");
        assert_true(a.call_id == 0);
        assert_int_equal(a.login, REG_LOGGED_IN);
        reg_free(r);
    }
    evlist_free(&l);
}


static ami_response_t *fake_list(const char *const *lines);

/* ---- incoming calls (callers of watched queues that we did not originate) ---- */

static void watch(reg_t *r, const char *queue, int64_t queue_id, int64_t campaign_id)
{
    reg_inbound_queue_t *l = calloc(1, sizeof(*l));
    snprintf(l->queue, sizeof(l->queue), "%s", queue);
    l->queue_id = queue_id;
    l->campaign_id = campaign_id;
    assert_int_equal(reg_post_inbound(r, l, 1), 0);
    reg_drain(r);
}

/* The calls with this uniqueid: how many, and the last one in *out. */
static size_t calls_with_uid(reg_t *r, const char *uid, reg_call_t *out)
{
    reg_call_t *all;
    size_t n, k = 0;
    assert_int_equal(reg_call_list(r, &all, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].uniqueid, uid) == 0) {
            k++;
            if (out)
                *out = all[i];
        }
    free(all);
    return k;
}

static void shuffle(size_t *idx, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)(*rng >> 33) % i;
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* The recorded queue call, but not originated by us: with queue 8000 watched it is an
 * incoming call that goes ONQUEUE -> SUCCESS (Agent/9000) -> HANGUP, in the wire order
 * and in random orders of the call's events, always exactly one call. */
static void test_incoming_linked(void **state)
{
    (void)state;
    const char *f = "queue_call_to_agent.txt";
    const char *uid = "dlr-5101-a";
    evlist_t l = reg_events(f, NULL);
    uint64_t rng = 11;
    for (int round = 0; round < 300; round++) {
        reg_t *r = reg_new(1000, NULL, 0);
        add_agents(r, 9000, 5);
        log_agent_in(r, "Agent/9000");
        watch(r, "8000", 3, 5);
        reg_call_t c;
        if (round == 0) {
            for (size_t i = 0; i < l.n; i++) {
                ami_event_t *ev = ami_event_dup(l.v[i]);
                ami_ev_type_e t = ev->type;
                assert_int_equal(ami_reg_post_event(r, ev), 0);
                reg_drain(r);
                if (t == AMI_EV_QUEUE_CALLER_JOIN) {
                    assert_int_equal(calls_with_uid(r, uid, &c), 1);
                    assert_int_equal(c.type, REG_CALL_INCOMING);
                    assert_int_equal(c.status, REG_CS_ONQUEUE);
                    assert_string_equal(c.queue, "8000");
                    assert_int_equal(c.queue_id, 3);
                    assert_int_equal(c.campaign_id, 5);
                    assert_string_equal(c.phone, "0215550100");
                    assert_string_equal(c.channel, "Local/5101@customers-0000001f;1");
                    assert_string_equal(c.trunk, "Local/5101@customers");
                    assert_true(c.t_queue_ms > 0);
                    assert_true(c.t_originate_ms == 0);
                }
                if (t == AMI_EV_AGENT_CONNECT) {
                    assert_int_equal(calls_with_uid(r, uid, &c), 1);
                    assert_int_equal(c.status, REG_CS_SUCCESS);
                    assert_string_equal(c.agent, "Agent/9000");
                    assert_true(c.agent_channel[0] && c.agent_hangup_channel[0]);
                    assert_true(get_agent(r, "Agent/9000").call_id == c.id);
                }
            }
        } else {
            size_t idx[512], order[512], k = 0;
            assert_true(l.n < 512);
            for (size_t i = 0; i < l.n; i++) {
                order[i] = i;
                if (l.v[i]->type != AMI_EV_QUEUE_MEMBER_STATUS &&
                    l.v[i]->type != AMI_EV_AGENT_LOGIN && l.v[i]->type != AMI_EV_AGENT_LOGOFF)
                    idx[k++] = i;
            }
            shuffle(idx, k, &rng);
            for (size_t i = 0, q = 0; i < l.n; i++)
                if (l.v[i]->type != AMI_EV_QUEUE_MEMBER_STATUS &&
                    l.v[i]->type != AMI_EV_AGENT_LOGIN && l.v[i]->type != AMI_EV_AGENT_LOGOFF)
                    order[i] = idx[q++];
            apply_events(r, &l, order);
        }
        if (calls_with_uid(r, uid, &c) != 1)
            fail_msg("round %d: %zu calls", round, calls_with_uid(r, uid, NULL));
        assert_int_equal(reg_call_count(r), 1);
        if (c.status != REG_CS_HANGUP)
            fail_msg("round %d: status %s", round, reg_call_status_name(c.status));
        assert_int_equal(c.type, REG_CALL_INCOMING);
        assert_string_equal(c.agent, "Agent/9000");
        assert_true(c.t_queue_ms > 0 && c.t_link_ms > 0 && c.t_end_ms > 0);
        assert_true(get_agent(r, "Agent/9000").call_id == 0);
        reg_free(r);
    }
    evlist_free(&l);
}

/* Not watched: the same events make no call at all. */
static void test_incoming_unwatched_ignored(void **state)
{
    (void)state;
    evlist_t l = reg_events("queue_call_to_agent.txt", NULL);
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    watch(r, "8001", 3, 0); /* another queue */
    apply_events(r, &l, NULL);
    assert_int_equal(reg_call_count(r), 0);
    assert_true(get_agent(r, "Agent/9000").call_id == 0);
    reg_free(r);
    evlist_free(&l);
}

/* The recorded caller who gave up waiting (queue_pause.txt: every member paused):
 * ONQUEUE -> ABANDONED, in the wire order and in random orders. */
static void test_incoming_abandoned(void **state)
{
    (void)state;
    const char *uid = "testpbx-1795438092.66";
    evlist_t l = reg_events("queue_pause.txt", NULL);
    uint64_t rng = 5;
    for (int round = 0; round < 200; round++) {
        reg_t *r = reg_new(4096, NULL, 0);
        add_agents(r, 9000, 5);
        watch(r, "8000", 3, 0);
        size_t order[4096];
        assert_true(l.n < 4096);
        for (size_t i = 0; i < l.n; i++)
            order[i] = i;
        if (round > 0)
            shuffle(order, l.n, &rng);
        apply_events(r, &l, order);
        reg_call_t c;
        assert_int_equal(calls_with_uid(r, uid, &c), 1);
        if (c.status != REG_CS_ABANDONED)
            fail_msg("round %d: status %s", round, reg_call_status_name(c.status));
        assert_int_equal(c.campaign_id, 0);
        assert_true(c.t_queue_ms > 0 && c.t_end_ms > 0 && c.t_link_ms == 0);
        assert_true(c.agent[0] == 0);
        reg_free(r);
    }
    evlist_free(&l);
}

/* Reconnect and restart: incoming calls that vanished are LOST; callers queued on
 * watched queues (QueueStatus's QueueEntry) are found, once, and others ignored. */
static void test_incoming_resync(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 2);
    watch(r, "8000", 3, 5);
    static const char *const queues[] = {
        "Event: QueueParams\nQueue: 8000\n\n",
        "Event: QueueEntry\nQueue: 8000\nPosition: 1\nChannel: SIP/carrier-0000000a\n"
        "Uniqueid: in-1\nCallerIDNum: 5551000\nWait: 30\n\n",
        "Event: QueueEntry\nQueue: 8001\nPosition: 1\nChannel: SIP/carrier-0000000b\n"
        "Uniqueid: in-2\nCallerIDNum: 5551001\nWait: 3\n\n",
        "Event: QueueStatusComplete\n\n", NULL};
    static const char *const chans[] = {
        "Event: CoreShowChannel\nChannel: SIP/carrier-0000000a\nUniqueid: in-1\nLinkedid: in-1\n\n",
        "Event: CoreShowChannelsComplete\nEventList: Complete\n\n", NULL};
    ami_response_t *rq = fake_list(queues), *rc = fake_list(chans);
    int64_t since = clk_wall_ms();
    ami_resync_t *rs = ami_resync_build(0, false, since, rc, NULL, rq);
    assert_non_null(rs);
    assert_int_equal(rs->nentries, 2);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    reg_call_t c;
    assert_int_equal(calls_with_uid(r, "in-1", &c), 1);
    assert_int_equal(c.type, REG_CALL_INCOMING);
    assert_int_equal(c.status, REG_CS_ONQUEUE);
    assert_int_equal(c.campaign_id, 5);
    assert_string_equal(c.phone, "5551000");
    assert_string_equal(c.trunk, "SIP/carrier");
    assert_true(c.t_queue_ms == since - 30000); /* it has waited 30 s */
    assert_int_equal(calls_with_uid(r, "in-2", NULL), 0); /* queue 8001 is not watched */
    uint64_t id1 = c.id;
    /* the same lists again: nothing doubled, nothing lost */
    rs = ami_resync_build(0, false, clk_wall_ms(), rc, NULL, rq);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(calls_with_uid(r, "in-1", &c), 1);
    assert_int_equal(c.status, REG_CS_ONQUEUE);
    /* it is linked, then its channel is gone at the next reconnect: LOST, agent freed */
    static const char *const connect_ev =
        "Event: AgentConnect\nChannel: SIP/carrier-0000000a\nUniqueid: in-1\nLinkedid: in-1\n"
        "Queue: 8000\nInterface: Local/9000@agents\nDestChannel: Local/9000@agents-00000001;1\n\n";
    assert_int_equal(ami_reg_post_event(r, ami_test_event(connect_ev)), 0);
    reg_drain(r);
    assert_int_equal(get_call(r, id1).status, REG_CS_SUCCESS);
    assert_true(get_agent(r, "Agent/9000").call_id == id1);
    static const char *const none[] = {"Event: CoreShowChannelsComplete\nEventList: Complete\n\n",
                                       NULL};
    static const char *const empty_q[] = {"Event: QueueStatusComplete\n\n", NULL};
    ami_response_t *rn = fake_list(none), *re = fake_list(empty_q);
    rs = ami_resync_build(0, false, clk_wall_ms(), rn, NULL, re);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(get_call(r, id1).status, REG_CS_LOST);
    assert_true(get_call(r, id1).t_end_ms > 0);
    assert_true(get_agent(r, "Agent/9000").call_id == 0);
    /* after a restart: the old queued caller is LOST, a new one queued since is found */
    static const char *const q2[] = {
        "Event: QueueEntry\nQueue: 8000\nPosition: 1\nChannel: SIP/carrier-00000001\n"
        "Uniqueid: in-3\nCallerIDNum: 5551002\nWait: 1\n\n",
        "Event: QueueStatusComplete\n\n", NULL};
    ami_response_t *rq2 = fake_list(q2);
    watch(r, "8000", 3, 6);
    rs = ami_resync_build(0, true, clk_wall_ms(), NULL, NULL, rq2);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(calls_with_uid(r, "in-3", &c), 1);
    assert_int_equal(c.status, REG_CS_ONQUEUE);
    assert_int_equal(c.campaign_id, 6); /* the table as it is now */
    ami_response_free(rq);
    ami_response_free(rc);
    ami_response_free(rn);
    ami_response_free(re);
    ami_response_free(rq2);
    reg_free(r);
}

/* ---- agents ---- */

static void test_agent_login_logout(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    evlist_t l = reg_events("agent_login.txt", NULL);
    apply_events(r, &l, NULL);
    evlist_free(&l);
    reg_agent_t a = get_agent(r, "Agent/9000");
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_true(strncmp(a.channel, "Local/1001@phones-", 18) == 0);
    assert_true(a.login_time_ms > 0);
    assert_int_equal(a.nqueues, 1); /* QueueMemberStatus Agent:9000 in 8000 */
    assert_string_equal(a.queues[0], "8000");
    a = get_agent(r, "Agent/9001"); /* the file logs in 9001 from phone 1002 too */
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_true(strncmp(a.channel, "Local/1002@phones-", 18) == 0);
    assert_int_equal(get_agent(r, "Agent/9002").login, REG_LOGGED_OUT);

    l = reg_events("agent_logout.txt", NULL);
    apply_events(r, &l, NULL);
    evlist_free(&l);
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.login, REG_LOGGED_OUT);
    assert_string_equal(a.channel, "");
    assert_true(a.login_time_ms == 0);
    /* events for agents the registry does not know create nothing */
    assert_int_equal(reg_agent_get(r, "Agent/1234", &a), CCD_ENOTFOUND);
    reg_free(r);
}

static void test_pause_and_dynamic_member(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 1);
    assert_int_equal(reg_post(r, apply_new_agent, strdup("Local/1105@phones"), free), 0);
    reg_drain(r);
    evlist_t l = reg_events("queue_pause.txt", NULL);
    /* pause then unpause: apply up to the first QueueMemberPause only */
    size_t first = l.n;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i]->type == AMI_EV_QUEUE_MEMBER_PAUSE) {
            first = i;
            break;
        }
    assert_true(first < l.n);
    evlist_t head = {l.v, first + 1, 0};
    apply_events(r, &head, NULL);
    reg_agent_t a = get_agent(r, "Agent/9000");
    assert_int_equal(a.break_id, -1);
    assert_string_equal(a.break_name, "lunch");
    apply_events(r, &l, NULL); /* the whole file ends unpaused */
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.break_id, 0);
    evlist_free(&l);

    /* dynamic member: logged in while a member, out once removed */
    l = reg_events("dynamic_member_call.txt", NULL);
    apply_events(r, &l, NULL);
    evlist_free(&l);
    a = get_agent(r, "Local/1105@phones");
    assert_int_equal(a.login, REG_LOGGED_OUT);
    assert_int_equal(a.nqueues, 0);
    l = reg_events("dynamic_member_call.txt", "Removed interface");
    reg_t *r2 = reg_new(1000, NULL, 0);
    assert_int_equal(reg_post(r2, apply_new_agent, strdup("Local/1105@phones"), free), 0);
    reg_drain(r2);
    apply_events(r2, &l, NULL);
    a = get_agent(r2, "Local/1105@phones");
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_int_equal(a.nqueues, 1);
    assert_string_equal(a.queues[0], "8001");
    evlist_free(&l);
    reg_free(r2);
    reg_free(r);
}

/* ---- load mix: 60 calls ---- */

typedef struct tally {
    size_t st[REG_CS_LOST + 1];
} tally_t;

static void test_load_mix(void **state)
{
    (void)state;
    reg_t *r = reg_new(4096, NULL, 0);
    add_agents(r, 9000, 5);
    static new_call_t calls[128];
    size_t n = add_sent_calls(r, "load_mix.txt", calls, 128);
    assert_int_equal(n, 60);
    evlist_t l = reg_events("load_mix.txt", NULL);
    apply_events(r, &l, NULL);
    evlist_free(&l);
    tally_t t = {0};
    for (size_t i = 0; i < n; i++) {
        reg_call_t c = get_call(r, calls[i].id);
        t.st[c.status]++;
        assert_true(c.t_end_ms > 0);
        if (c.status == REG_CS_HANGUP)
            assert_true(strncmp(c.agent, "Agent/900", 9) == 0);
    }
    /* README: 21 AgentConnect/AgentComplete, 15 QueueCallerAbandon,
     * 14 Reason 3 (6XXX), 10 Reason 5 (7XXX) */
    assert_int_equal(t.st[REG_CS_HANGUP], 21);
    assert_int_equal(t.st[REG_CS_ABANDONED], 15);
    assert_int_equal(t.st[REG_CS_NOANSWER], 14);
    assert_int_equal(t.st[REG_CS_FAILURE], 10);
    for (int i = 0; i < 5; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", 9000 + i);
        reg_agent_t a = get_agent(r, num);
        assert_int_equal(a.login, REG_LOGGED_IN);
        assert_true(a.call_id == 0);
    }
    reg_free(r);
}

/* ---- resync ---- */

/* A list response made from the transcript's events with that ActionID. */
static ami_response_t *list_from(const char *file, const char *action_id, int segment)
{
    size_t len;
    char *s = tr_received(file, false, &len);
    ami_parser_t *p = malloc(sizeof(*p));
    ami_parser_init(p, 0, 0, 0);
    ami_response_t *r = calloc(1, sizeof(*r));
    r->status = CCD_OK;
    r->ok = true;
    r->ev = calloc(4096, sizeof(*r->ev));
    size_t off = 0;
    int seg = -1;
    for (;;) {
        ccd_str_t v;
        size_t used;
        if (ami_parse_banner(s + off, len - off, &v, &used) == CCD_OK) {
            off += used;
            seg++;
            ami_parser_reset(p);
        }
        ami_msg_t m;
        if (ami_parse(p, s + off, len - off, &m) != CCD_OK)
            break;
        if (seg == segment && ami_str_ieq(ami_msg_get(&m, "ActionID"), action_id) &&
            ami_msg_find(&m, "Event", 5, NULL) && r->nev < 4096)
            r->ev[r->nev++] = ami_rec_from_msg(&m);
        off += m.len;
    }
    free(p);
    free(s);
    return r;
}

static void test_resync_restart(void **state)
{
    (void)state;
    const char *f = "restart.txt";
    reg_t *r = reg_new(4096, NULL, 0);
    add_agents(r, 9000, 5);
    /* agent 9000 was logged in before the file started (README) */
    log_agent_in(r, "Agent/9000");
    new_call_t calls[8];
    size_t n = add_sent_calls(r, f, calls, 8);
    assert_true(n >= 1);
    /* everything up to the restart, as if the connection died right then */
    evlist_t l = reg_events(f, "(probe) CLI: core restart now");
    apply_events(r, &l, NULL);
    evlist_free(&l);
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        reg_call_t c = get_call(r, calls[i].id);
        live += c.status == REG_CS_SUCCESS;
    }
    assert_int_equal(live, 1); /* "with one queue call up" */
    size_t in = 0;
    for (int i = 0; i < 5; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", 9000 + i);
        in += get_agent(r, num).login == REG_LOGGED_IN;
    }
    assert_true(in >= 1);

    /* after the reconnect: new startup time, the Agents list of the new process */
    ami_response_t *agents = list_from(f, "agents-6", 1);
    assert_int_equal(agents->nev, 6); /* 5 agents + AgentsComplete */
    ami_resync_t *rs = ami_resync_build(0, true, clk_wall_ms(), NULL, agents, NULL);
    assert_non_null(rs);
    assert_int_equal(rs->nagents, 5);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    ami_response_free(agents);
    for (size_t i = 0; i < n; i++) {
        reg_call_t c = get_call(r, calls[i].id);
        assert_true(c.status != REG_CS_SUCCESS);
        if (c.status == REG_CS_LOST)
            assert_true(c.t_end_ms > 0);
    }
    for (int i = 0; i < 5; i++) {
        char num[32];
        snprintf(num, sizeof(num), "Agent/%d", 9000 + i);
        reg_agent_t a = get_agent(r, num);
        assert_int_equal(a.login, REG_LOGGED_OUT);
        assert_true(a.call_id == 0);
    }
    reg_free(r);
}

static ami_response_t *fake_list(const char *const *lines)
{
    ami_response_t *r = calloc(1, sizeof(*r));
    r->status = CCD_OK;
    r->ok = true;
    r->ev = calloc(16, sizeof(*r->ev));
    for (; *lines; lines++) {
        ami_parser_t p;
        ami_parser_init(&p, 0, 0, 0);
        ami_msg_t m;
        assert_int_equal(ami_parse(&p, *lines, strlen(*lines), &m), CCD_OK);
        r->ev[r->nev++] = ami_rec_from_msg(&m);
    }
    return r;
}

static void test_resync_reconnect(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 2);
    assert_int_equal(reg_post(r, apply_agent_in, strdup("Agent/9000"), free), 0);
    assert_int_equal(reg_post(r, apply_new_agent, strdup("PJSIP/1064"), free), 0);
    reg_drain(r);
    new_call_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    snprintf(a->uniqueid, sizeof(a->uniqueid), "alive-1");
    snprintf(b->uniqueid, sizeof(b->uniqueid), "gone-1");
    reg_post(r, apply_new_call, a, NULL);
    reg_post(r, apply_new_call, b, NULL);
    reg_drain(r);
    static const char *const chans[] = {
        "Event: CoreShowChannel\nChannel: Local/5@customers-1;2\nUniqueid: alive-2\nLinkedid: alive-1\n\n",
        "Event: CoreShowChannelsComplete\nEventList: Complete\n\n", NULL};
    static const char *const agents[] = {
        "Event: Agents\nAgent: 9000\nStatus: AGENT_LOGGEDOFF\n\n",
        "Event: Agents\nAgent: 9001\nStatus: AGENT_IDLE\nChannel: Local/1002@phones-9;1\n\n",
        "Event: AgentsComplete\n\n", NULL};
    static const char *const queues[] = {
        "Event: QueueParams\nQueue: 8000\n\n",
        "Event: QueueMember\nQueue: 8000\nLocation: Local/9001@agents\nStateInterface: Agent:9001\nStatus: 1\nPaused: 0\n\n",
        "Event: QueueMember\nQueue: 8001\nLocation: PJSIP/1064\nStateInterface: PJSIP/1064\nStatus: 1\nPaused: 1\n\n",
        "Event: QueueStatusComplete\n\n", NULL};
    ami_response_t *rc = fake_list(chans), *ra = fake_list(agents), *rq = fake_list(queues);
    ami_resync_t *rs = ami_resync_build(0, false, clk_wall_ms(), rc, ra, rq);
    assert_non_null(rs);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(get_call(r, a->id).status, REG_CS_PLACING); /* its ;2 leg is alive */
    assert_int_equal(get_call(r, b->id).status, REG_CS_LOST);
    reg_agent_t ag = get_agent(r, "Agent/9000");
    assert_int_equal(ag.login, REG_LOGGED_OUT);
    assert_int_equal(ag.nqueues, 0);
    ag = get_agent(r, "Agent/9001");
    assert_int_equal(ag.login, REG_LOGGED_IN);
    assert_string_equal(ag.channel, "Local/1002@phones-9;1");
    assert_int_equal(ag.nqueues, 1);
    ag = get_agent(r, "PJSIP/1064");
    assert_int_equal(ag.login, REG_LOGGED_IN);
    assert_int_equal(ag.break_id, -1); /* paused in Asterisk */
    assert_string_equal(ag.queues[0], "8001");

    /* a call placed after the lists were asked for is left alone */
    new_call_t *late = calloc(1, sizeof(*late));
    snprintf(late->uniqueid, sizeof(late->uniqueid), "late-1");
    reg_post(r, apply_new_call, late, NULL);
    reg_drain(r);
    /* (the test's calls are stamped a minute old: "since" is two minutes ago) */
    rs = ami_resync_build(0, false, clk_wall_ms() - 120000, rc, NULL, NULL);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(get_call(r, late->id).status, REG_CS_PLACING);
    /* a PLACING call within the grace period is spared even if older than since */
    rs = ami_resync_build(0, false, clk_wall_ms() - 50000, rc, NULL, NULL);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(get_call(r, late->id).status, REG_CS_PLACING);
    /* ... but not after a restart */
    rs = ami_resync_build(0, true, clk_wall_ms() - 50000, rc, NULL, NULL);
    reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free);
    reg_drain(r);
    assert_int_equal(get_call(r, late->id).status, REG_CS_LOST);
    assert_int_equal(get_call(r, a->id).status, REG_CS_LOST);
    ami_response_free(rc);
    ami_response_free(ra);
    ami_response_free(rq);
    free(a);
    free(b);
    free(late);
    reg_free(r);
}

/* ---- what the engine got wrong against the real Asterisk (issue 9) ---- */

/* app_agent_pool's probation: logged in at AgentLogin, but Asterisk offers no
 * call until the member's QueueMemberStatus leaves 5, about 5 s later. */
static void test_login_probation_ready(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    evlist_t l = reg_events("agent_login_probation.txt", NULL);
    bool seen_login = false, seen_probation = false, seen_ready = false;
    for (size_t i = 0; i < l.n; i++) {
        ami_event_t *ev = ami_event_dup(l.v[i]);
        ami_ev_type_e t = ev->type;
        int st = ev->status;
        assert_int_equal(ami_reg_post_event(r, ev), 0);
        reg_drain(r);
        reg_agent_t a = get_agent(r, "Agent/9002");
        if (t == AMI_EV_AGENT_LOGIN) {
            seen_login = true;
            assert_int_equal(a.login, REG_LOGGED_IN);
            assert_true(a.ready_ms == 0); /* the probation starts */
            assert_int_equal(a.member_status, 5);
        }
        if (seen_login && !seen_ready && a.login == REG_LOGGED_IN && a.ready_ms == 0)
            seen_probation = true;
        if (t == AMI_EV_QUEUE_MEMBER_STATUS && seen_login && !seen_ready && st == 1) {
            assert_true(a.ready_ms > 0);
            seen_ready = true;
        }
        if (t == AMI_EV_AGENT_LOGOFF) {
            assert_int_equal(a.login, REG_LOGGED_OUT);
            assert_true(a.ready_ms == 0);
        }
    }
    assert_true(seen_login && seen_probation && seen_ready);
    evlist_free(&l);
    /* never logged in: never ready */
    assert_true(get_agent(r, "Agent/9003").ready_ms == 0);
    reg_free(r);
}

/* QueueAdd with Paused/Reason, a second reason while paused, and a member
 * whose interface has no channel driver (Status 4): logged in, never ready. */
static void test_pause_reason_change_and_invalid_member(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    assert_int_equal(reg_post(r, apply_new_agent, strdup("SIP/1001"), free), 0);
    reg_drain(r);
    evlist_t l = reg_events("queue_add_penalty_reason.txt", NULL);
    bool added = false, other = false;
    for (size_t i = 0; i < l.n; i++) {
        ami_event_t *ev = ami_event_dup(l.v[i]);
        bool sip = strcmp(ev->interface, "SIP/1001") == 0;
        ami_ev_type_e t = ev->type;
        int paused = ev->paused;
        char why[64];
        snprintf(why, sizeof(why), "%s", ev->paused_reason);
        assert_int_equal(ami_reg_post_event(r, ev), 0);
        reg_drain(r);
        if (!sip)
            continue;
        reg_agent_t a = get_agent(r, "SIP/1001");
        if (t == AMI_EV_QUEUE_MEMBER_ADDED) {
            added = true;
            assert_int_equal(a.login, REG_LOGGED_IN);
            assert_int_equal(a.break_id, -1);
            assert_string_equal(a.break_name, "acw");
            assert_int_equal(a.member_status, 4);
            assert_true(a.ready_ms == 0); /* INVALID: Asterisk cannot ring it */
        }
        if (t == AMI_EV_QUEUE_MEMBER_PAUSE && paused == 1) {
            assert_string_equal(why, "other");
            assert_string_equal(a.break_name, "other"); /* was kept as acw */
            other = true;
        }
        if (t == AMI_EV_QUEUE_MEMBER_PAUSE && paused == 0)
            assert_int_equal(a.break_id, 0);
    }
    assert_true(added && other);
    evlist_free(&l);
    reg_t *r2 = reg_new(1000, NULL, 0);
    assert_int_equal(reg_post(r2, apply_new_agent, strdup("SIP/1001"), free), 0);
    reg_drain(r2);
    /* the engine reconnects while SIP/1001 is paused "other" */
    ami_response_t *rq = list_from("queue_add_penalty_reason.txt", "queuestatus-7", 0);
    assert_true(rq->nev >= 3);
    ami_resync_t *rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, rq);
    assert_non_null(rs);
    assert_int_equal(reg_post(r2, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r2);
    reg_agent_t a = get_agent(r2, "SIP/1001");
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_int_equal(a.break_id, -1);
    assert_string_equal(a.break_name, "other");
    assert_true(a.ready_ms == 0);
    ami_response_free(rq);
    reg_free(r2);
    reg_free(r);
}

/* An agent already paused when the engine (re)connects keeps its reason and
 * the time Asterisk says the pause began (LastPause), not the resync time. */
static void test_resync_keeps_pause_reason_and_start(void **state)
{
    (void)state;
    const char *f = "restart_members_and_pauses.txt";
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    log_agent_in(r, "Agent/9000");
    log_agent_in(r, "Agent/9001");
    ami_response_t *rq = list_from(f, "queuestatus-6", 0);
    int64_t last_pause_s = 0;
    for (size_t i = 0; i < rq->nev; i++)
        if (!strcmp(ami_rec_get(rq->ev[i], "StateInterface"), "Agent:9001"))
            last_pause_s = strtoll(ami_rec_get(rq->ev[i], "LastPause"), NULL, 10);
    assert_true(last_pause_s > 1700000000); /* the recording has it */
    ami_resync_t *rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, rq);
    assert_non_null(rs);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    reg_agent_t a = get_agent(r, "Agent/9001");
    assert_int_equal(a.break_id, -1);
    assert_string_equal(a.break_name, "lunch");
    assert_true(a.break_start_ms == last_pause_s * 1000);
    assert_true(a.ready_ms > 0); /* Status 1: paused, but reachable */
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.break_id, 0);
    assert_true(a.ready_ms > 0);
    /* the same resync again changes nothing (the start is not moved) */
    rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, rq);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    reg_agent_t b = get_agent(r, "Agent/9001");
    assert_true(b.version == a.version);
    assert_true(b.break_start_ms == last_pause_s * 1000);
    ami_response_free(rq);
    reg_free(r);
}

/* Hanging up the member's ;1 is recorded as the caller hanging up; its ;2
 * as the agent (hangup_member_legs.txt): the call says which leg to use. */
static void test_agent_hangup_leg(void **state)
{
    (void)state;
    const char *f = "queue_call_to_agent.txt";
    evlist_t l = reg_events(f, NULL);
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    log_agent_in(r, "Agent/9000");
    new_call_t calls[4];
    assert_int_equal(add_sent_calls(r, f, calls, 4), 1);
    bool linked = false;
    for (size_t i = 0; i < l.n && !linked; i++) {
        ami_event_t *ev = ami_event_dup(l.v[i]);
        linked = ev->type == AMI_EV_AGENT_CONNECT;
        assert_int_equal(ami_reg_post_event(r, ev), 0);
        reg_drain(r);
    }
    assert_true(linked);
    reg_call_t c = get_call(r, calls[0].id);
    size_t n = strlen(c.agent_channel);
    assert_true(n > 2 && !strncmp(c.agent_channel, "Local/9000@agents-", 18));
    assert_string_equal(c.agent_channel + n - 2, ";1"); /* bridged with the customer */
    assert_int_equal(strlen(c.agent_hangup_channel), n);
    assert_memory_equal(c.agent_hangup_channel, c.agent_channel, n - 1);
    assert_string_equal(c.agent_hangup_channel + n - 2, ";2");
    evlist_free(&l);
    reg_free(r);
}

/* After `core restart now` with an agent on a call the AgentComplete Reason is
 * agent in some real runs and caller in others (hash order of the channel
 * names): the registry must end the same way with either. */
static void test_restart_either_reason(void **state)
{
    (void)state;
    const char *files[] = {"restart_agent_on_call_run1.txt", "restart_agent_on_call_run2.txt"};
    const char *want_reason[] = {"agent", "caller"};
    for (int f = 0; f < 2; f++) {
        reg_t *r = reg_new(4096, NULL, 0);
        add_agents(r, 9000, 5);
        new_call_t calls[8];
        size_t n = add_sent_calls(r, files[f], calls, 8);
        assert_int_equal(n, 1);
        const char *note = "(probe) CLI: core restart now";
        evlist_t head = reg_events(files[f], note), all = reg_events(files[f], NULL);
        apply_events(r, &head, NULL);
        reg_call_t c = get_call(r, calls[0].id);
        assert_int_equal(c.status, REG_CS_SUCCESS);
        assert_true(get_agent(r, "Agent/9000").call_id == calls[0].id);
        /* the rest of the file: the restart's events, then the new process */
        evlist_t tail = {all.v + head.n, all.n - head.n, 0};
        bool seen = false;
        for (size_t i = 0; i < tail.n; i++)
            if (tail.v[i]->type == AMI_EV_AGENT_COMPLETE && !seen) {
                assert_string_equal(tail.v[i]->reason_txt, want_reason[f]); /* the recordings differ */
                seen = true;
            }
        assert_true(seen);
        apply_events(r, &tail, NULL);
        c = get_call(r, calls[0].id);
        assert_int_equal(c.status, REG_CS_HANGUP);
        assert_true(c.t_end_ms > 0 && c.t_link_ms > 0);
        reg_agent_t a = get_agent(r, "Agent/9000");
        assert_true(a.call_id == 0);
        assert_int_equal(a.login, REG_LOGGED_OUT);
        assert_true(a.ready_ms == 0);
        ami_response_t *agents = list_from(files[f], "agents-6", 1);
        ami_resync_t *rs = ami_resync_build(0, true, clk_wall_ms(), NULL, agents, NULL);
        assert_non_null(rs);
        assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
        reg_drain(r);
        assert_int_equal(get_call(r, calls[0].id).status, REG_CS_HANGUP); /* not LOST: it ended first */
        assert_int_equal(get_agent(r, "Agent/9000").login, REG_LOGGED_OUT);
        ami_response_free(agents);
        evlist_free(&head);
        evlist_free(&all);
        reg_free(r);
    }
}

/* mixmonitor.txt: two MixMonitor actions on the customer leg of a queue call; each sets
 * MIXMONITOR_FILENAME by VarSet.  The call gets each file and counts it; VarSets of other
 * variables of the same legs (TALK, BRIDGEPEER, ...) leave the call as it was (its version
 * does not move); the same file again is not a new one; the spool directory is cut off. */
static void test_recording_from_mixmonitor(void **state)
{
    (void)state;
    const char *f = "mixmonitor.txt";
    static const char *const vars[] = {AMI_REG_RECORDING_VAR, "TALK", "BRIDGEPEER",
                                       "DIALER_CAMPAIGN", "AGENT_STATUS", NULL};
    evlist_t l = reg_events_vars(f, NULL, vars);
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 1);
    log_agent_in(r, "Agent/9000");
    new_call_t calls[2];
    assert_int_equal(add_sent_calls(r, f, calls, 2), 1);
    const char *want[] = {"/tmp/dialer-rec/5801-a.wav", "/tmp/dialer-rec/5801-b.wav"};
    unsigned nrec = 0, nother = 0;
    const ami_event_t *last_rec = NULL;
    for (size_t i = 0; i < l.n; i++) {
        const ami_event_t *src = l.v[i];
        reg_call_t before = get_call(r, calls[0].id);
        assert_int_equal(ami_reg_post_event(r, ami_event_dup(src)), 0);
        reg_drain(r);
        reg_call_t c = get_call(r, calls[0].id);
        if (src->type != AMI_EV_VARSET)
            continue;
        if (strcasecmp(src->variable, AMI_REG_RECORDING_VAR) != 0) {
            nother++;
            assert_true(c.version == before.version);
            assert_int_equal(c.nrecordings, nrec);
            continue;
        }
        assert_true(nrec < 2);
        nrec++;
        last_rec = src;
        assert_true(c.version > before.version);
        assert_int_equal(c.nrecordings, nrec);
        assert_string_equal(c.recording, want[nrec - 1]);
        assert_string_equal(c.recording_uniqueid, "dlr-5801-a");
        assert_string_equal(c.recording_channel, "Local/5801@customers-00000027;1");
    }
    assert_int_equal(nrec, 2);
    assert_true(nother > 4);
    reg_call_t c = get_call(r, calls[0].id);
    assert_int_equal(c.status, REG_CS_HANGUP);

    /* the second file again: a repeat, nothing changes */
    assert_int_equal(ami_reg_post_event(r, ami_event_dup(last_rec)), 0);
    reg_drain(r);
    reg_call_t rep = get_call(r, calls[0].id);
    assert_true(rep.version == c.version);
    assert_int_equal(rep.nrecordings, 2);

    /* a file in Asterisk's spool directory is stored without it; found through the agent
     * leg, whose Linkedid is the call's uniqueid */
    ami_event_t *sp = ami_event_dup(last_rec);
    sp->value = "/var/spool/asterisk/monitor/q8000-dlr-5801-a.wav";
    sp->uniqueid = "testpbx-1795441257.83";
    sp->channel = "Local/9000@agents-00000028;1";
    assert_int_equal(ami_reg_post_event(r, sp), 0);
    reg_drain(r);
    c = get_call(r, calls[0].id);
    assert_int_equal(c.nrecordings, 3);
    assert_string_equal(c.recording, "q8000-dlr-5801-a.wav");
    assert_string_equal(c.recording_uniqueid, "testpbx-1795441257.83");
    assert_string_equal(c.recording_channel, "Local/9000@agents-00000028;1");

    /* an empty value and a VarSet of no tracked call change nothing */
    ami_event_t *e = ami_event_dup(last_rec);
    e->value = "";
    assert_int_equal(ami_reg_post_event(r, e), 0);
    e = ami_event_dup(last_rec);
    e->uniqueid = "someone-else";
    e->linkedid = "someone-else";
    assert_int_equal(ami_reg_post_event(r, e), 0);
    reg_drain(r);
    reg_call_t after = get_call(r, calls[0].id);
    assert_true(after.version == c.version);
    assert_int_equal(reg_call_count(r), 1);
    reg_free(r);
    evlist_free(&l);
}

/* ---- wrap-up (LastCall, Wrapuptime) ---- */

static void post_text(reg_t *r, const char *text)
{
    assert_int_equal(ami_reg_post_event(r, ami_test_event(text)), 0);
    reg_drain(r);
}

static void post_member(reg_t *r, int agent, long long last_call, int wrapup)
{
    char s[512];
    snprintf(s, sizeof(s),
             "Event: QueueMemberStatus\r\nQueue: 8000\r\nMemberName: Agent %d\r\n"
             "Interface: Local/%d@agents\r\nStateInterface: Agent:%d\r\nLastCall: %lld\r\n"
             "InCall: 0\r\nStatus: 1\r\nPaused: 0\r\nWrapuptime: %d\r\n\r\n",
             agent, agent, agent, last_call, wrapup);
    post_text(r, s);
}

/* The recorded queue call, its member a wrap-up of 30 s (the recording's queues.conf has
 * none, so its QueueMemberStatus events are given Wrapuptime 30): after the call the agent
 * is in wrap-up from the call's end for 30 s; a second report of the same end changes
 * nothing; the next call linked to it ends the wrap-up. */
static void test_wrapup_from_recorded_call(void **state)
{
    (void)state;
    const char *f = "queue_call_to_agent.txt";
    evlist_t l = reg_events(f, NULL);
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    log_agent_in(r, "Agent/9000");
    new_call_t calls[4];
    assert_int_equal(add_sent_calls(r, f, calls, 4), 1);
    int64_t before = clk_wall_ms();
    for (size_t i = 0; i < l.n; i++) {
        ami_event_t *ev = ami_event_dup(l.v[i]);
        if (ev->type == AMI_EV_QUEUE_MEMBER_STATUS) {
            assert_int_equal(ev->wrapup_s, 0); /* as recorded */
            ev->wrapup_s = 30;
        }
        assert_int_equal(ami_reg_post_event(r, ev), 0);
        reg_drain(r);
        reg_agent_t a = get_agent(r, "Agent/9000");
        if (a.call_id) /* talking: no wrap-up */
            assert_false(reg_agent_in_wrapup(&a, clk_wall_ms()));
    }
    int64_t after = clk_wall_ms();
    reg_call_t c = get_call(r, calls[0].id);
    assert_int_equal(c.status, REG_CS_HANGUP);
    reg_agent_t a = get_agent(r, "Agent/9000");
    assert_true(a.call_id == 0);
    assert_true(a.last_call_s == 1795438087LL);
    assert_int_equal(a.wrapup_ms, 30000);
    assert_true(a.wrap_start_ms == c.t_end_ms); /* the registry's own end of the call */
    assert_true(a.wrap_start_ms >= before && a.wrap_start_ms <= after);
    assert_true(reg_agent_wrap_end_ms(&a) == a.wrap_start_ms + 30000);
    assert_true(reg_agent_in_wrapup(&a, after));
    assert_true(reg_agent_in_wrapup(&a, a.wrap_start_ms + 29999));
    assert_false(reg_agent_in_wrapup(&a, a.wrap_start_ms + 30000));

    /* the end reported again (a repeated QueueMemberStatus) moves nothing */
    post_member(r, 9000, 1795438087LL, 30);
    reg_agent_t b = get_agent(r, "Agent/9000");
    assert_true(b.version == a.version && b.wrap_start_ms == a.wrap_start_ms);

    /* the next call linked to the agent ends the wrap-up */
    new_call_t *nc = calloc(1, sizeof(*nc));
    snprintf(nc->uniqueid, sizeof(nc->uniqueid), "wrap-next-1");
    snprintf(nc->action_id, sizeof(nc->action_id), "dl-wrap-next-1");
    assert_int_equal(reg_post(r, apply_new_call, nc, NULL), 0);
    reg_drain(r);
    post_text(r, "Event: AgentConnect\r\nChannel: Local/5001@customers-00000099;1\r\n"
                 "Uniqueid: wrap-next-1\r\nLinkedid: wrap-next-1\r\nQueue: 8000\r\n"
                 "Interface: Local/9000@agents\r\nMemberName: Agent 9000\r\n"
                 "DestChannel: Local/9000@agents-0000009a;1\r\nHoldTime: 1\r\nRingTime: 1\r\n\r\n");
    a = get_agent(r, "Agent/9000");
    assert_true(a.call_id == nc->id);
    assert_true(a.wrap_start_ms == 0);
    assert_true(reg_agent_wrap_end_ms(&a) == 0);
    assert_false(reg_agent_in_wrapup(&a, clk_wall_ms()));
    assert_int_equal(a.wrapup_ms, 30000); /* the member's setting stays known */
    /* a newer LastCall reported while it talks (events are not causal) starts nothing */
    post_member(r, 9000, 1795438300LL, 30);
    a = get_agent(r, "Agent/9000");
    assert_true(a.last_call_s == 1795438300LL && a.wrap_start_ms == 0);
    free(nc);
    evlist_free(&l);
    reg_free(r);
}

/* Calls the registry does not follow (a queue it does not watch): the first LastCall is a
 * baseline only, a newer one starts the wrap-up when it arrives, an older one (another
 * queue's member) changes nothing, AgentComplete alone starts it too; a restart forgets it;
 * a resync reads the recorded QueueMember fields. */
static void test_wrapup_untracked_and_resync(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 5);
    log_agent_in(r, "Agent/9001");
    reg_agent_t a = get_agent(r, "Agent/9001");
    assert_true(a.last_call_s == -1 && a.wrap_start_ms == 0 && a.wrapup_ms == 0);

    post_member(r, 9001, 1795430000LL, 20);
    a = get_agent(r, "Agent/9001");
    assert_true(a.last_call_s == 1795430000LL && a.wrapup_ms == 20000);
    assert_true(a.wrap_start_ms == 0); /* the baseline: that call may be hours old */

    int64_t t0 = clk_wall_ms();
    post_member(r, 9001, 1795430100LL, 20);
    int64_t t1 = clk_wall_ms();
    a = get_agent(r, "Agent/9001");
    assert_true(a.wrap_start_ms >= t0 && a.wrap_start_ms <= t1);
    assert_true(reg_agent_in_wrapup(&a, t1));
    uint64_t v = a.version;
    post_member(r, 9001, 1795430050LL, 0); /* older: another queue's member */
    a = get_agent(r, "Agent/9001");
    assert_true(a.version == v && a.wrapup_ms == 20000 && a.last_call_s == 1795430100LL);

    /* refused values change nothing */
    post_text(r, "Event: QueueMemberStatus\r\nQueue: 8000\r\nInterface: Local/9001@agents\r\n"
                 "StateInterface: Agent:9001\r\nLastCall: 99999999999999\r\nStatus: 1\r\n"
                 "Paused: 0\r\nWrapuptime: -4\r\n\r\n");
    a = get_agent(r, "Agent/9001");
    assert_true(a.version == v && a.wrapup_ms == 20000 && a.last_call_s == 1795430100LL);

    /* AgentComplete of a call the registry never linked: the wrap-up starts at it */
    reg_agent_t ag = get_agent(r, "Agent/9000");
    assert_true(ag.wrap_start_ms == 0);
    t0 = clk_wall_ms();
    post_text(r, "Event: AgentComplete\r\nQueue: 9999\r\nUniqueid: other-1\r\n"
                 "Interface: Local/9000@agents\r\nMemberName: Agent 9000\r\n"
                 "StateInterface: Agent:9000\r\nReason: caller\r\nTalkTime: 10\r\n\r\n");
    ag = get_agent(r, "Agent/9000");
    assert_true(ag.wrap_start_ms >= t0);
    assert_false(reg_agent_in_wrapup(&ag, clk_wall_ms())); /* no wrap-up length known */

    /* a restart: no member remembers its last call */
    ami_resync_t *rs = ami_resync_build(0, true, clk_wall_ms(), NULL, NULL, NULL);
    assert_non_null(rs);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    a = get_agent(r, "Agent/9001");
    assert_true(a.wrap_start_ms == 0 && a.last_call_s == -1);
    assert_false(reg_agent_in_wrapup(&a, clk_wall_ms()));

    /* the recorded QueueStatus: LastCall and Wrapuptime of each member, as a baseline */
    ami_response_t *rq = list_from("queue_status.txt", "queuestatus-2", 0);
    rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, rq);
    assert_non_null(rs);
    bool seen = false;
    for (size_t i = 0; i < rs->nmembers; i++) {
        assert_true(rs->members[i].last_call_s >= 0);
        assert_int_equal(rs->members[i].wrapup_s, 0);
        if (!strcmp(rs->members[i].agent, "Agent/9001")) {
            assert_true(rs->members[i].last_call_s == 1795437960LL);
            seen = true;
        }
    }
    assert_true(seen);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    a = get_agent(r, "Agent/9001");
    assert_true(a.last_call_s == 1795437960LL && a.wrapup_ms == 0 && a.wrap_start_ms == 0);
    ami_response_free(rq);
    reg_free(r);
}

/* ---- "same agent" callbacks (the callback context's Dial, not a queue) ---- */

static uint64_t cb_call(reg_t *r, const char *uid, const char *agent)
{
    new_call_t nc = {0};
    snprintf(nc.uniqueid, sizeof(nc.uniqueid), "%s", uid);
    snprintf(nc.action_id, sizeof(nc.action_id), "dl-%s", uid);
    snprintf(nc.cb_agent, sizeof(nc.cb_agent), "%s", agent);
    assert_int_equal(reg_post(r, apply_new_call, &nc, NULL), 0);
    reg_drain(r);
    return nc.id;
}

/* The customer leg's events as the callback context makes them: the answered Originate,
 * then app_dial's DialBegin / DialEnd from the customer's ;1 (Channel/Uniqueid) to the
 * agent's Local ;1 (Dest*), with the field layout of the recorded DialEnd
 * (queue_call_to_agent.txt), and the ;1's Hangup. */
static void cb_event(reg_t *r, int step, const char *uid, const char *dest, const char *status)
{
    char s[768];
    switch (step) {
    case 0:
        snprintf(s, sizeof(s),
                 "Event: OriginateResponse\r\nActionID: dl-%s\r\nResponse: Success\r\n"
                 "Channel: Local/5101@customers-0000001f;1\r\nContext: llamada_agendada\r\n"
                 "Exten: 9000\r\nReason: 4\r\nUniqueid: %s\r\n\r\n", uid, uid);
        break;
    case 1:
        snprintf(s, sizeof(s),
                 "Event: DialBegin\r\nChannel: Local/5101@customers-0000001f;1\r\n"
                 "Context: llamada_agendada\r\nExten: 9000\r\nUniqueid: %s\r\nLinkedid: %s\r\n"
                 "DestChannel: %s\r\nDestContext: agents\r\nDestExten: 9000\r\n"
                 "DestUniqueid: testpbx-1.64\r\nDestLinkedid: %s\r\nDialString: 9000@agents\r\n\r\n",
                 uid, uid, dest, uid);
        break;
    case 2:
        snprintf(s, sizeof(s),
                 "Event: DialEnd\r\nChannel: Local/5101@customers-0000001f;1\r\n"
                 "Context: llamada_agendada\r\nExten: 9000\r\nUniqueid: %s\r\nLinkedid: %s\r\n"
                 "DestChannel: %s\r\nDestContext: agents\r\nDestExten: 9000\r\n"
                 "DestUniqueid: testpbx-1.64\r\nDestLinkedid: %s\r\nDialStatus: %s\r\n\r\n",
                 uid, uid, dest, uid, status);
        break;
    default:
        snprintf(s, sizeof(s),
                 "Event: Hangup\r\nChannel: Local/5101@customers-0000001f;1\r\nUniqueid: %s\r\n"
                 "Linkedid: %s\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n", uid, uid);
        break;
    }
    post_text(r, s);
}

/* The callback's Dial answered by its agent links it as AgentConnect links a queue call
 * (SUCCESS, t_link, the agent on this call); its end is HANGUP with the agent and frees
 * the agent with no wrap-up (no queue call ended).  Unanswered Dials (NOANSWER,
 * CHANUNAVAIL, BUSY) link nothing and end NOANSWER; an answered Dial to another channel
 * links nothing; the same DialEnd on a call that is no callback (a queue call's member
 * answer) links nothing either; a Hangup seen before the answer still ends HANGUP. */
static void test_callback_linked_by_dial(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 3);
    log_agent_in(r, "Agent/9000");
    const char *dest = "Local/9000@agents-00000020;1";

    uint64_t id = cb_call(r, "cb-1", "Agent/9000");
    for (int step = 0; step < 2; step++)
        cb_event(r, step, "cb-1", dest, NULL);
    reg_call_t c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_RINGING); /* the customer answered; no agent yet */
    assert_true(get_agent(r, "Agent/9000").call_id == 0);
    cb_event(r, 2, "cb-1", dest, "ANSWER");
    c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_SUCCESS);
    assert_string_equal(c.agent, "Agent/9000");
    assert_string_equal(c.agent_channel, dest);
    assert_true(c.t_link_ms > 0 && c.t_end_ms == 0);
    reg_agent_t a = get_agent(r, "Agent/9000");
    assert_true(a.call_id == id);
    cb_event(r, 3, "cb-1", dest, NULL);
    c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_HANGUP);
    assert_string_equal(c.agent, "Agent/9000");
    assert_true(c.t_end_ms >= c.t_link_ms);
    a = get_agent(r, "Agent/9000");
    assert_true(a.call_id == 0 && a.wrap_start_ms == 0);

    /* Dials that were not answered */
    const char *fails[] = {"NOANSWER", "CHANUNAVAIL", "BUSY"};
    for (int i = 0; i < 3; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "cb-f%d", i);
        id = cb_call(r, uid, "Agent/9000");
        for (int step = 0; step < 4; step++)
            cb_event(r, step, uid, dest, fails[i]);
        c = get_call(r, id);
        assert_int_equal(c.status, REG_CS_NOANSWER);
        assert_true(c.agent[0] == '\0' && c.t_link_ms == 0);
        assert_true(get_agent(r, "Agent/9000").call_id == 0);
    }

    /* answered, but by another agent's channel: not this callback's agent */
    id = cb_call(r, "cb-other", "Agent/9000");
    for (int step = 0; step < 4; step++)
        cb_event(r, step, "cb-other", "Local/9001@agents-00000021;1", "ANSWER");
    c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_NOANSWER);
    assert_true(get_agent(r, "Agent/9001").call_id == 0);

    /* not a callback: a queue call's DialEnd ANSWER is left to AgentConnect */
    id = cb_call(r, "q-1", "");
    for (int step = 0; step < 3; step++)
        cb_event(r, step, "q-1", dest, "ANSWER");
    c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_RINGING);
    assert_true(get_agent(r, "Agent/9000").call_id == 0);

    /* the Hangup before the answer (events are not causal): the agent did take it */
    id = cb_call(r, "cb-late", "Agent/9000");
    cb_event(r, 0, "cb-late", dest, NULL);
    cb_event(r, 3, "cb-late", dest, NULL);
    assert_int_equal(get_call(r, id).status, REG_CS_NOANSWER);
    cb_event(r, 2, "cb-late", dest, "ANSWER");
    c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_HANGUP);
    assert_string_equal(c.agent, "Agent/9000");
    assert_true(get_agent(r, "Agent/9000").call_id == 0);

    /* a dynamic agent's callback: AGENTCHANNEL is its own device */
    id = cb_call(r, "cb-sip", "SIP/1064");
    cb_event(r, 0, "cb-sip", "SIP/1064-0000002b", NULL);
    cb_event(r, 2, "cb-sip", "SIP/10645-0000002b", "ANSWER"); /* another device */
    assert_int_equal(get_call(r, id).status, REG_CS_RINGING);
    cb_event(r, 2, "cb-sip", "SIP/1064-0000002b", "ANSWER");
    c = get_call(r, id);
    assert_int_equal(c.status, REG_CS_SUCCESS);
    assert_string_equal(c.agent, "SIP/1064");
    reg_free(r);
}

/* ---- a dialer's hold on an agent for a callback ---- */

static void post_pause(reg_t *r, const char *event, int paused, const char *reason)
{
    char s[512];
    snprintf(s, sizeof(s),
             "Event: %s\r\nQueue: 8000\r\nMemberName: Agent 9000\r\n"
             "Interface: Local/9000@agents\r\nStateInterface: Agent:9000\r\nStatus: 1\r\n"
             "Paused: %d\r\nPausedReason: %s\r\n\r\n",
             event, paused, reason);
    post_text(r, s);
}

/* A pause with AMI_CB_PAUSE_REASON is the dialer's, not a break: it shows as cb_pause
 * (SEEN from events, FOUND from a resync, which a status report does not turn into SEEN)
 * and never as break_id; a break's pause or an unpause replaces it, as in Asterisk; a
 * resync without it clears it. */
static void test_callback_pause_not_a_break(void **state)
{
    (void)state;
    reg_t *r = reg_new(1000, NULL, 0);
    add_agents(r, 9000, 1);
    log_agent_in(r, "Agent/9000");
    post_pause(r, "QueueMemberPause", 1, AMI_CB_PAUSE_REASON);
    reg_agent_t a = get_agent(r, "Agent/9000");
    assert_int_equal(a.cb_pause, REG_CB_PAUSE_SEEN);
    assert_int_equal(a.break_id, 0);
    /* a break set on the phone replaces it */
    post_pause(r, "QueueMemberPause", 1, "lunch");
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.cb_pause, REG_CB_PAUSE_NONE);
    assert_int_equal(a.break_id, -1);
    assert_string_equal(a.break_name, "lunch");
    /* and the dialer's pause replaces that one (Asterisk keeps one reason per member) */
    post_pause(r, "QueueMemberPause", 1, AMI_CB_PAUSE_REASON);
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.cb_pause, REG_CB_PAUSE_SEEN);
    post_pause(r, "QueueMemberPause", 0, "");
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.cb_pause, REG_CB_PAUSE_NONE);
    assert_int_equal(a.break_id, 0);

    /* found by a resync: FOUND, and a status report of it keeps FOUND */
    static const char *const held[] = {
        "Event: QueueMember\nQueue: 8000\nLocation: Local/9000@agents\nStateInterface: "
        "Agent:9000\nStatus: 1\nPaused: 1\nPausedReason: " AMI_CB_PAUSE_REASON "\n\n",
        "Event: QueueStatusComplete\n\n", NULL};
    ami_response_t *lists[3] = {fake_list(held), NULL, NULL};
    ami_resync_t *rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, lists[0]);
    assert_non_null(rs);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.cb_pause, REG_CB_PAUSE_FOUND);
    assert_int_equal(a.break_id, 0);
    post_pause(r, "QueueMemberStatus", 1, AMI_CB_PAUSE_REASON);
    assert_int_equal(get_agent(r, "Agent/9000").cb_pause, REG_CB_PAUSE_FOUND);
    /* a new pause of it, seen while connected, is SEEN */
    post_pause(r, "QueueMemberPause", 1, AMI_CB_PAUSE_REASON);
    assert_int_equal(get_agent(r, "Agent/9000").cb_pause, REG_CB_PAUSE_SEEN);
    /* a resync that lists the member unpaused clears it */
    static const char *const free_m[] = {
        "Event: QueueMember\nQueue: 8000\nLocation: Local/9000@agents\nStateInterface: "
        "Agent:9000\nStatus: 1\nPaused: 0\n\n",
        "Event: QueueStatusComplete\n\n", NULL};
    lists[1] = fake_list(free_m);
    rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, lists[1]);
    assert_non_null(rs);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    a = get_agent(r, "Agent/9000");
    assert_int_equal(a.cb_pause, REG_CB_PAUSE_NONE);
    assert_int_equal(a.break_id, 0);
    /* held again, then the member leaves every queue: nothing is left to be paused */
    post_pause(r, "QueueMemberPause", 1, AMI_CB_PAUSE_REASON);
    static const char *const gone[] = {"Event: QueueStatusComplete\n\n", NULL};
    lists[2] = fake_list(gone);
    rs = ami_resync_build(0, false, clk_wall_ms(), NULL, NULL, lists[2]);
    assert_non_null(rs);
    assert_int_equal(reg_post(r, ami_reg_apply_resync, rs, ami_reg_resync_free), 0);
    reg_drain(r);
    assert_int_equal(get_agent(r, "Agent/9000").cb_pause, REG_CB_PAUSE_NONE);
    for (int i = 0; i < 3; i++)
        ami_response_free(lists[i]);
    reg_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_originate_outcomes),  cmocka_unit_test(test_queue_call_to_agent),
        cmocka_unit_test(test_agent_login_logout),  cmocka_unit_test(test_pause_and_dynamic_member),
        cmocka_unit_test(test_load_mix),            cmocka_unit_test(test_resync_restart),
        cmocka_unit_test(test_resync_reconnect),
        cmocka_unit_test(test_login_probation_ready),
        cmocka_unit_test(test_pause_reason_change_and_invalid_member),
        cmocka_unit_test(test_resync_keeps_pause_reason_and_start),
        cmocka_unit_test(test_callback_pause_not_a_break),
        cmocka_unit_test(test_agent_hangup_leg),
        cmocka_unit_test(test_restart_either_reason),
        cmocka_unit_test(test_incoming_linked),
        cmocka_unit_test(test_incoming_unwatched_ignored),
        cmocka_unit_test(test_incoming_abandoned),
        cmocka_unit_test(test_incoming_resync),
        cmocka_unit_test(test_recording_from_mixmonitor),
        cmocka_unit_test(test_wrapup_from_recorded_call),
        cmocka_unit_test(test_wrapup_untracked_and_resync),
        cmocka_unit_test(test_callback_linked_by_dial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
