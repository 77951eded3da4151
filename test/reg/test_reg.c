/* Registry: apply/publish semantics, readers, and a threaded stress for TSan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "reg/reg.h"
#include "test/common/ccd_test.h"

static void login_agent(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, true);
    a->login = REG_LOGGED_IN;
    snprintf(a->channel, sizeof(a->channel), "Local/1001@phones-00000001;1");
    reg_txn_agent_touch(tx, a);
}

static void remove_agent(reg_txn_t *tx, void *arg)
{
    reg_txn_agent_remove(tx, arg);
}

static void test_post_and_read(void **state)
{
    (void)state;
    reg_t *r = reg_new(16, NULL, 0);
    assert_non_null(r);
    reg_agent_t a;
    assert_int_equal(reg_agent_get(r, "Agent/9000", &a), CCD_ENOTFOUND);
    assert_int_equal(reg_post(r, login_agent, "Agent/9000", NULL), 0);
    /* Nothing is applied until the registry thread (here: drain) runs it. */
    assert_int_equal(reg_agent_get(r, "Agent/9000", &a), CCD_ENOTFOUND);
    assert_int_equal(reg_drain(r), 1);
    assert_int_equal(reg_agent_get(r, "Agent/9000", &a), 0);
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_string_equal(a.channel, "Local/1001@phones-00000001;1");
    assert_int_equal(reg_agent_count(r), 1);
    reg_free(r);
}

static void test_inbox_bound(void **state)
{
    (void)state;
    reg_t *r = reg_new(2, NULL, 0);
    assert_int_equal(reg_post(r, login_agent, "Agent/1", NULL), 0);
    assert_int_equal(reg_post(r, login_agent, "Agent/2", NULL), 0);
    char *owned = strdup("Agent/3");
    /* Full: the caller keeps its argument, so arg_free must not have run. */
    assert_int_equal(reg_post(r, login_agent, owned, free), CCD_EFULL);
    assert_string_equal(owned, "Agent/3");
    free(owned);
    assert_int_equal(reg_drain(r), 2);
    reg_free(r);
}

static void make_call(reg_txn_t *tx, void *arg)
{
    reg_call_t *c = reg_txn_call_new(tx);
    c->status = REG_CS_PLACING;
    snprintf(c->phone, sizeof(c->phone), "5001");
    reg_txn_call_set_uniqueid(tx, c, arg);
}

static void end_call(reg_txn_t *tx, void *arg)
{
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, arg);
    assert_non_null(c);
    c->status = REG_CS_HANGUP;
    reg_txn_call_remove(tx, c->id);
}

static void test_subscribers_see_changes_and_removals(void **state)
{
    (void)state;
    reg_t *r = reg_new(16, NULL, 0);
    mq_t *calls_q = mq_new("calls", 16, 0);
    mq_t *agents_q = mq_new("agents", 16, 0);
    assert_int_equal(reg_subscribe(r, calls_q, REG_SUB_CALLS), 0);
    assert_int_equal(reg_subscribe(r, agents_q, REG_SUB_AGENTS), 0);

    reg_post(r, make_call, "dlr-5001-a", NULL);
    reg_post(r, login_agent, "Agent/9000", NULL);
    reg_drain(r);

    reg_change_t *c = (reg_change_t *)mq_pop(calls_q, 0);
    assert_non_null(c);
    assert_int_equal(c->msg.type, MSG_REG_CALL_CHANGED);
    assert_false(c->removed);
    assert_string_equal(c->u.call.uniqueid, "dlr-5001-a");
    uint64_t id = c->u.call.id;
    c->msg.free(&c->msg);
    assert_null(mq_pop(calls_q, 0)); /* one change per touched record per transaction */

    reg_change_t *a = (reg_change_t *)mq_pop(agents_q, 0);
    assert_non_null(a);
    assert_string_equal(a->u.agent.number, "Agent/9000");
    a->msg.free(&a->msg);

    reg_call_t copy;
    assert_int_equal(reg_call_get(r, id, &copy), 0);
    assert_string_equal(copy.phone, "5001");

    reg_post(r, end_call, "dlr-5001-a", NULL);
    reg_post(r, remove_agent, "Agent/9000", NULL);
    reg_drain(r);
    c = (reg_change_t *)mq_pop(calls_q, 0);
    assert_non_null(c);
    assert_true(c->removed);
    /* The last state travels with the removal. */
    assert_int_equal(c->u.call.status, REG_CS_HANGUP);
    assert_string_equal(c->u.call.phone, "5001");
    c->msg.free(&c->msg);
    a = (reg_change_t *)mq_pop(agents_q, 0);
    assert_non_null(a);
    assert_true(a->removed);
    assert_int_equal(a->u.agent.login, REG_LOGGED_IN);
    a->msg.free(&a->msg);
    assert_int_equal(reg_call_get(r, id, &copy), CCD_ENOTFOUND);
    assert_int_equal(reg_call_count(r), 0);

    reg_free(r);
    mq_free(calls_q);
    mq_free(agents_q);
}

static void test_full_subscriber_loses_notifications_not_state(void **state)
{
    (void)state;
    reg_t *r = reg_new(64, NULL, 0);
    mq_t *q = mq_new("slow", 1, 0);
    reg_subscribe(r, q, REG_SUB_AGENTS);
    reg_post(r, login_agent, "Agent/1", NULL);
    reg_post(r, login_agent, "Agent/2", NULL);
    reg_drain(r);
    assert_int_equal(mq_depth(q), 1);
    reg_agent_t a;
    assert_int_equal(reg_agent_get(r, "Agent/2", &a), 0);
    reg_free(r);
    mq_free(q);
}

/* A lossless subscriber gets every change even past its queue's bound, in order. */
static void test_lossless_subscriber_gets_every_change(void **state)
{
    (void)state;
    reg_t *r = reg_new(4096, NULL, 0);
    mq_t *q = mq_new("journal", 1, 0);
    mq_t *lossy = mq_new("lossy", 1, 0);
    assert_int_equal(reg_subscribe(r, q, REG_SUB_AGENTS | REG_SUB_LOSSLESS), 0);
    assert_int_equal(reg_subscribe(r, lossy, REG_SUB_AGENTS), 0);
    char names[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof(names[i]), "Agent/%d", i);
        assert_int_equal(reg_post(r, login_agent, names[i], NULL), 0);
    }
    assert_int_equal(reg_drain(r), 1000);
    assert_int_equal(mq_depth(q), 1000);
    assert_int_equal(mq_depth(lossy), 1);
    /* only the lossy subscriber's losses are counted */
    assert_int_equal(reg_notifications_dropped(r), 999);
    for (int i = 0; i < 1000; i++) {
        reg_change_t *ch = (reg_change_t *)mq_pop(q, 0);
        assert_non_null(ch);
        assert_string_equal(ch->u.agent.number, names[i]);
        ch->msg.free(&ch->msg);
    }
    reg_free(r);
    mq_free(q);
    mq_free(lossy);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(reg_call_status_name(REG_CS_ONQUEUE), "OnQueue");
    assert_string_equal(reg_call_status_name(REG_CS_NOANSWER), "NoAnswer");
    assert_string_equal(reg_call_status_name((reg_call_status_e)99), "Unknown");
}

static reg_agent_info_t *info_list(size_t n, const char *const *numbers)
{
    reg_agent_info_t *l = calloc(n, sizeof(*l));
    for (size_t i = 0; i < n; i++) {
        snprintf(l[i].number, sizeof(l[i].number), "%s", numbers[i]);
        snprintf(l[i].name, sizeof(l[i].name), "Name of %s", numbers[i]);
        l[i].active = true;
        l[i].db_id = (int64_t)i + 1;
    }
    return l;
}

static void test_agent_sync(void **state)
{
    (void)state;
    reg_t *r = reg_new(16, NULL, 0);
    const char *first[] = {"Agent/9000", "PJSIP/1064"};
    assert_int_equal(reg_post_agent_sync(r, info_list(2, first), 2), 0);
    reg_post(r, login_agent, "Agent/9000", NULL);
    reg_drain(r);
    reg_agent_t a;
    assert_int_equal(reg_agent_get(r, "PJSIP/1064", &a), 0);
    assert_true(a.active);
    assert_string_equal(a.name, "Name of PJSIP/1064");
    assert_int_equal(a.db_id, 2);

    /* Agent/9000 disappears from the list while logged in: kept, marked inactive. */
    const char *second[] = {"PJSIP/1064"};
    assert_int_equal(reg_post_agent_sync(r, info_list(1, second), 1), 0);
    reg_drain(r);
    assert_int_equal(reg_agent_get(r, "Agent/9000", &a), 0);
    assert_false(a.active);
    assert_int_equal(a.login, REG_LOGGED_IN);
    assert_int_equal(reg_agent_count(r), 2);
    reg_free(r);
}

static void finish_call(reg_txn_t *tx, void *arg)
{
    reg_call_t *c = reg_txn_call_by_uniqueid(tx, arg);
    c->status = REG_CS_NOANSWER;
    c->t_end_ms = 1; /* long ago */
    reg_txn_call_touch(tx, c);
}

static void test_sweep_removes_only_old_finished_calls(void **state)
{
    (void)state;
    reg_t *r = reg_new(16, NULL, 0);
    mq_t *q = mq_new("calls", 16, 0);
    reg_subscribe(r, q, REG_SUB_CALLS);
    reg_post(r, make_call, "live-1", NULL);
    reg_post(r, make_call, "done-1", NULL);
    reg_post(r, finish_call, "done-1", NULL);
    reg_drain(r);
    mq_msg_free_chain(mq_pop_all(q));
    /* A long keep time spares even the old one; a short one takes only it. */
    assert_int_equal(reg_sweep(r, INT64_MAX / 2), 0);
    assert_int_equal(reg_sweep(r, 1000), 1);
    assert_int_equal(reg_call_count(r), 1);
    reg_change_t *c = (reg_change_t *)mq_pop(q, 0);
    assert_non_null(c);
    assert_true(c->removed);
    assert_int_equal(c->u.call.status, REG_CS_NOANSWER);
    assert_string_equal(c->u.call.uniqueid, "done-1");
    c->msg.free(&c->msg);
    assert_null(mq_pop(q, 0));
    reg_free(r);
    mq_free(q);
}

/* ---- agent changes carry the calls their events need ---- */

typedef struct link_arg {
    const char *agent, *uid; /* uid NULL = unlink */
} link_arg_t;

/* Links agent to the call with uid (or unlinks it), in one transaction. */
static void link_agent(reg_txn_t *tx, void *arg)
{
    const link_arg_t *l = arg;
    reg_agent_t *a = reg_txn_agent(tx, l->agent, true);
    reg_call_t *c = l->uid ? reg_txn_call_by_uniqueid(tx, l->uid) : NULL;
    a->call_id = c ? c->id : 0;
    if (c) {
        c->status = REG_CS_SUCCESS;
        snprintf(c->agent, sizeof(c->agent), "%s", l->agent);
        reg_txn_call_touch(tx, c);
    }
    reg_txn_agent_touch(tx, a);
}

/* Ends the agent's call and removes it in the same transaction as the unlink. */
static void hangup_and_remove(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, false);
    reg_call_t *c = reg_txn_call(tx, a->call_id);
    c->status = REG_CS_HANGUP;
    c->t_end_ms = 77;
    reg_txn_call_remove(tx, c->id);
    a->call_id = 0;
    reg_txn_agent_touch(tx, a);
}

static reg_change_t *next_agent_change(mq_t *q)
{
    reg_change_t *ch = (reg_change_t *)mq_pop(q, 0);
    assert_non_null(ch);
    assert_int_equal(ch->msg.type, MSG_REG_AGENT_CHANGED);
    return ch;
}

static void test_agent_change_carries_calls(void **state)
{
    (void)state;
    reg_t *r = reg_new(64, NULL, 0);
    mq_t *q = mq_new("agents", 64, 0);
    mq_t *cq = mq_new("calls", 64, 0);
    reg_subscribe(r, q, REG_SUB_AGENTS);
    reg_subscribe(r, cq, REG_SUB_CALLS);
    reg_post(r, make_call, "c-1", NULL);
    reg_post(r, make_call, "c-2", NULL);
    reg_post(r, login_agent, "Agent/9000", NULL);
    reg_drain(r);
    reg_change_t *ch = next_agent_change(q);
    assert_null(reg_change_call(ch)); /* no call yet */
    assert_null(reg_change_prev_call(ch));
    ch->msg.free(&ch->msg);
    /* a call change carries none */
    ch = (reg_change_t *)mq_pop(cq, 0);
    assert_non_null(ch);
    assert_null(reg_change_call(ch));
    assert_null(reg_change_prev_call(ch));
    ch->msg.free(&ch->msg);
    mq_msg_free_chain(mq_pop_all(cq));

    /* link: the call as of the same commit (status set in the same transaction) */
    link_arg_t l1 = {"Agent/9000", "c-1"};
    reg_post(r, link_agent, &l1, NULL);
    reg_drain(r);
    ch = next_agent_change(q);
    const reg_call_t *c = reg_change_call(ch);
    assert_non_null(c);
    assert_int_equal(c->id, ch->u.agent.call_id);
    assert_string_equal(c->uniqueid, "c-1");
    assert_int_equal(c->status, REG_CS_SUCCESS);
    assert_null(reg_change_prev_call(ch));
    uint64_t id1 = c->id;
    ch->msg.free(&ch->msg);

    /* another change while on the same call: the call again, no previous call */
    reg_post(r, login_agent, "Agent/9000", NULL);
    reg_drain(r);
    ch = next_agent_change(q);
    assert_non_null(reg_change_call(ch));
    assert_null(reg_change_prev_call(ch));
    ch->msg.free(&ch->msg);

    /* straight to another call: both */
    link_arg_t l2 = {"Agent/9000", "c-2"};
    reg_post(r, link_agent, &l2, NULL);
    reg_drain(r);
    ch = next_agent_change(q);
    assert_string_equal(reg_change_call(ch)->uniqueid, "c-2");
    assert_non_null(reg_change_prev_call(ch));
    assert_int_equal(reg_change_prev_call(ch)->id, id1);
    uint64_t id2 = reg_change_call(ch)->id;
    ch->msg.free(&ch->msg);

    /* unlink with the call removed in the same transaction: the removed call's last state */
    reg_post(r, hangup_and_remove, "Agent/9000", NULL);
    reg_drain(r);
    ch = next_agent_change(q);
    assert_int_equal(ch->u.agent.call_id, 0);
    assert_null(reg_change_call(ch));
    c = reg_change_prev_call(ch);
    assert_non_null(c);
    assert_int_equal(c->id, id2);
    assert_int_equal(c->status, REG_CS_HANGUP);
    assert_int_equal(c->t_end_ms, 77);
    ch->msg.free(&ch->msg);

    /* the next change no longer carries it */
    reg_post(r, login_agent, "Agent/9000", NULL);
    reg_drain(r);
    ch = next_agent_change(q);
    assert_null(reg_change_prev_call(ch));
    ch->msg.free(&ch->msg);
    assert_null(mq_pop(q, 0));
    reg_free(r);
    mq_free(q);
    mq_free(cq);
}

/* ---- lifecycle and unsubscribe ---- */

static void mark_applied(reg_txn_t *tx, void *arg)
{
    (void)tx;
    atomic_store((atomic_int *)arg, 1);
}

/* Posts a marker and waits until the registry thread has applied it (and so everything
 * posted before it, inbox order). */
static void wait_applied(reg_t *r)
{
    atomic_int done = 0;
    assert_int_equal(reg_post(r, mark_applied, &done, NULL), 0);
    CCD_WAIT_UNTIL(atomic_load(&done), 5000);
}

static void test_lifecycle_and_unsubscribe(void **state)
{
    (void)state;
    char err[128] = "";
    reg_t *r = reg_new(64, err, sizeof(err));
    assert_non_null(r);
    mq_t *a = mq_new("a", 64, 0), *b = mq_new("b", 64, 0);
    assert_int_equal(reg_subscribe(r, a, REG_SUB_AGENTS), 0);
    assert_int_equal(reg_subscribe(r, b, REG_SUB_AGENTS), 0);
    /* not running: removed at once */
    assert_int_equal(reg_unsubscribe(r, b), 0);
    assert_int_equal(reg_unsubscribe(r, b), CCD_ENOTFOUND);
    assert_int_equal(reg_subscribe(r, b, REG_SUB_AGENTS), 0);

    assert_int_equal(reg_start(r), 0);
    assert_int_equal(reg_start(r), CCD_EBUSY);
    reg_post(r, login_agent, "Agent/1", NULL);
    wait_applied(r);
    assert_int_equal(mq_depth(a), 1);
    assert_int_equal(mq_depth(b), 1);
    /* running: the registry thread removes it; from the return on, b gets nothing */
    assert_int_equal(reg_unsubscribe(r, b), 0);
    assert_int_equal(reg_unsubscribe(r, b), CCD_ENOTFOUND);
    reg_post(r, login_agent, "Agent/2", NULL);
    wait_applied(r);
    assert_int_equal(mq_depth(a), 2);
    assert_int_equal(mq_depth(b), 1); /* what it had before it left stays for its owner */
    mq_free(b);                       /* and the queue may go at once */
    reg_post(r, login_agent, "Agent/3", NULL);
    reg_stop(r); /* applies what was posted before the stop */
    assert_int_equal(mq_depth(a), 3);
    reg_stop(r); /* a no-op the second time */
    assert_int_equal(reg_post(r, login_agent, "Agent/4", NULL), CCD_ECLOSED);
    /* stopped: removal is direct again */
    assert_int_equal(reg_unsubscribe(r, a), 0);
    reg_free(r);
    mq_free(a);
    reg_free(NULL);
}

/* ---- threaded: one registry thread, posters and readers racing ---- */

#define POSTERS 4
#define POSTS 2000

static void bump(reg_txn_t *tx, void *arg)
{
    reg_agent_t *a = reg_txn_agent(tx, arg, true);
    a->nqueues = (a->nqueues + 1) % REG_MAX_QUEUES;
    reg_txn_agent_touch(tx, a);
}

typedef struct {
    reg_t *r;
    int idx;
} poster_arg_t;

static void *poster(void *p)
{
    poster_arg_t *pa = p;
    char *name = malloc(32);
    snprintf(name, 32, "Agent/%d", pa->idx);
    for (int i = 0; i < POSTS; i++) {
        while (reg_post(pa->r, bump, name, NULL) == CCD_EFULL)
            sched_yield();
    }
    return name; /* freed by the test after the registry has applied everything */
}

static void *reader(void *p)
{
    reg_t *r = p;
    for (int i = 0; i < 2000; i++) {
        reg_agent_t *list;
        size_t n;
        assert_int_equal(reg_agent_list(r, &list, &n), 0);
        assert_true(n <= POSTERS);
        free(list);
    }
    return NULL;
}

static void test_threaded(void **state)
{
    (void)state;
    reg_t *r = reg_new(256, NULL, 0);
    mq_t *sub = mq_new("sub", POSTERS * POSTS + 16, 0);
    reg_subscribe(r, sub, REG_SUB_AGENTS);
    pthread_t pt[POSTERS], rd;
    assert_int_equal(reg_start(r), 0);
    pthread_create(&rd, NULL, reader, r);
    poster_arg_t pa[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        pa[i] = (poster_arg_t){r, i};
        pthread_create(&pt[i], NULL, poster, &pa[i]);
    }
    void *names[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        pthread_join(pt[i], &names[i]);
    pthread_join(rd, NULL);
    reg_stop(r);
    for (int i = 0; i < POSTERS; i++) {
        reg_agent_t a;
        char name[32];
        snprintf(name, sizeof(name), "Agent/%d", i);
        assert_int_equal(reg_agent_get(r, name, &a), 0);
        assert_int_equal(a.version, POSTS); /* every post applied exactly once */
        free(names[i]);
    }
    assert_int_equal(mq_depth(sub), POSTERS * POSTS);
    reg_free(r);
    mq_free(sub);
}

/* Work that names its source time: the registry lag counts from it to the publish. */
static void login_agent_5ms_ago(reg_txn_t *tx, void *arg)
{
    reg_txn_set_source_us(tx, clk_mono_us() - 5000);
    login_agent(tx, arg);
}

static void test_lag_from_source_time(void **state)
{
    (void)state;
    reg_t *r = reg_new(16, NULL, 0);
    assert_non_null(r);
    uint64_t n = 99;
    assert_int_equal(reg_lag_quantile_us(r, 0.5, &n), 0);
    assert_int_equal(n, 0);
    /* work without a source time is not measured */
    assert_int_equal(reg_post(r, login_agent, "Agent/9000", NULL), 0);
    assert_int_equal(reg_drain(r), 1);
    reg_lag_quantile_us(r, 0.5, &n);
    assert_int_equal(n, 0);
    assert_int_equal(reg_post(r, login_agent_5ms_ago, "Agent/9001", NULL), 0);
    assert_int_equal(reg_drain(r), 1);
    uint64_t p50 = reg_lag_quantile_us(r, 0.5, &n);
    assert_int_equal(n, 1);
    assert_true(p50 >= 5000);
    /* the source time does not stick to the next work */
    assert_int_equal(reg_post(r, login_agent, "Agent/9002", NULL), 0);
    assert_int_equal(reg_drain(r), 1);
    reg_lag_quantile_us(r, 0.5, &n);
    assert_int_equal(n, 1);
    reg_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_read),
        cmocka_unit_test(test_inbox_bound),
        cmocka_unit_test(test_subscribers_see_changes_and_removals),
        cmocka_unit_test(test_full_subscriber_loses_notifications_not_state),
        cmocka_unit_test(test_lossless_subscriber_gets_every_change),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_agent_sync),
        cmocka_unit_test(test_sweep_removes_only_old_finished_calls),
        cmocka_unit_test(test_agent_change_carries_calls),
        cmocka_unit_test(test_lifecycle_and_unsubscribe),
        cmocka_unit_test(test_threaded),
        cmocka_unit_test(test_lag_from_source_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
