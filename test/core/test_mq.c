/*
 * Tests for core/mq: order, bounds and ownership on failure, forced pushes,
 * close semantics, timeouts, pop_all, the wake fd invariant (readable iff
 * non-empty), statistics, and a many-producer/many-consumer stress run that
 * the TSan build checks for races.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mq.h"
#include "test/common/ccd_test.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct test_msg {
    mq_msg_t hdr; /* must be first */
    int producer;
    int seq;
} test_msg_t;

/* Counts frees through msg->free, so tests see who freed what. */
static atomic_int freed;

static void test_msg_free(mq_msg_t *m)
{
    atomic_fetch_add(&freed, 1);
    free(m);
}

static test_msg_t *msg_new(int producer, int seq)
{
    test_msg_t *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->hdr.type = MSG_TEST_BASE;
    m->hdr.free = test_msg_free;
    m->producer = producer;
    m->seq = seq;
    return m;
}

static int seq_of(mq_msg_t *m)
{
    return ((test_msg_t *)m)->seq;
}

/* The mq logs a warning when it first refuses a push; keep test output quiet. */
static void quiet_sink(log_level_e level, const char *module, const char *line, void *ctx)
{
    (void)level;
    (void)module;
    (void)line;
    (void)ctx;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 0);
    assert_true(r >= 0);
    return r == 1 && (p.revents & POLLIN);
}

static void test_order(void **state)
{
    (void)state;
    mq_t *q = mq_new("order", 100, 0);
    assert_non_null(q);
    for (int i = 0; i < 50; i++)
        assert_int_equal(mq_push(q, &msg_new(0, i)->hdr), 0);
    assert_int_equal(mq_depth(q), 50);
    for (int i = 0; i < 50; i++) {
        mq_msg_t *m = mq_pop(q, 0);
        assert_non_null(m);
        assert_int_equal(seq_of(m), i);
        assert_null(m->next);
        m->free(m);
    }
    assert_null(mq_pop(q, 0));
    assert_int_equal(mq_depth(q), 0);
    mq_free(q);
}

static void test_full_keeps_ownership(void **state)
{
    (void)state;
    atomic_store(&freed, 0);
    mq_t *q = mq_new("full", 3, 0);
    assert_non_null(q);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mq_push(q, &msg_new(0, i)->hdr), 0);
    test_msg_t *extra = msg_new(0, 99);
    assert_int_equal(mq_push(q, &extra->hdr), CCD_EFULL);
    assert_int_equal(mq_push(q, &extra->hdr), CCD_EFULL);
    /* Refused: the queue did not take it, did not free it, did not link it. */
    assert_int_equal(atomic_load(&freed), 0);
    assert_int_equal(extra->seq, 99);
    assert_int_equal(mq_depth(q), 3);
    for (int i = 0; i < 3; i++) {
        mq_msg_t *m = mq_pop(q, 0);
        assert_int_equal(seq_of(m), i);
        m->free(m);
    }
    assert_null(mq_pop(q, 0));
    /* Room again: the same message can now be pushed. */
    assert_int_equal(mq_push(q, &extra->hdr), 0);
    mq_stats_t st;
    mq_get_stats(q, &st);
    assert_int_equal(st.rejected_full, 2);
    assert_int_equal(st.pushed, 4);
    assert_int_equal(st.popped, 3);
    mq_free(q); /* frees extra through its free function */
    assert_int_equal(atomic_load(&freed), 4);
}

static void test_push_force(void **state)
{
    (void)state;
    mq_t *q = mq_new("force", 2, 0);
    assert_non_null(q);
    assert_int_equal(mq_push(q, &msg_new(0, 0)->hdr), 0);
    assert_int_equal(mq_push(q, &msg_new(0, 1)->hdr), 0);
    test_msg_t *m = msg_new(0, 2);
    assert_int_equal(mq_push(q, &m->hdr), CCD_EFULL);
    assert_int_equal(mq_push_force(q, &m->hdr), 0);
    mq_msg_t *quit = mq_msg_quit_new();
    assert_non_null(quit);
    assert_int_equal(quit->type, MSG_QUIT);
    assert_int_equal(mq_push_force(q, quit), 0);
    assert_int_equal(mq_depth(q), 4);
    mq_stats_t st;
    mq_get_stats(q, &st);
    assert_int_equal(st.high_water, 4);
    for (int i = 0; i < 3; i++) {
        mq_msg_t *x = mq_pop(q, 0);
        assert_int_equal(seq_of(x), i);
        x->free(x);
    }
    mq_msg_t *x = mq_pop(q, 0);
    assert_int_equal(x->type, MSG_QUIT);
    x->free(x);
    mq_free(q);
}

static void test_close(void **state)
{
    (void)state;
    atomic_store(&freed, 0);
    mq_t *q = mq_new("close", 10, MQ_WAKEFD);
    assert_non_null(q);
    assert_int_equal(mq_push(q, &msg_new(0, 0)->hdr), 0);
    assert_int_equal(mq_push(q, &msg_new(0, 1)->hdr), 0);
    mq_close(q);
    test_msg_t *late = msg_new(0, 2);
    assert_int_equal(mq_push(q, &late->hdr), CCD_ECLOSED);
    assert_int_equal(mq_push_force(q, &late->hdr), CCD_ECLOSED);
    assert_int_equal(atomic_load(&freed), 0); /* the sender still owns late */
    late->hdr.free(&late->hdr);
    /* What was queued before close is still delivered, in order. */
    assert_true(readable(mq_wake_fd(q)));
    mq_msg_t *m = mq_pop(q, -1);
    assert_int_equal(seq_of(m), 0);
    m->free(m);
    m = mq_pop(q, 1000);
    assert_int_equal(seq_of(m), 1);
    m->free(m);
    assert_false(readable(mq_wake_fd(q)));
    /* Closed and empty: pop returns at once, even when asked to wait forever. */
    assert_null(mq_pop(q, -1));
    assert_null(mq_pop(q, 100000));
    mq_close(q); /* idempotent */
    mq_free(q);
}

typedef struct waiter {
    mq_t *q;
    int timeout_ms;
    mq_msg_t *got;
    atomic_int started;
    atomic_int tid;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    atomic_store(&w->tid, (int)gettid());
    atomic_store(&w->started, 1);
    w->got = mq_pop(w->q, w->timeout_ms);
    return NULL;
}

/* Whether thread tid of this process is asleep (state S in /proc: blocked in a wait). */
static bool thread_sleeping(int tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces; the state follows it */
    return p && p[1] == ' ' && p[2] == 'S';
}

/* Waits until the waiter has started and sleeps: it can only be asleep in mq_pop's
 * wait (nothing else in it blocks), so the push or close below meets a blocked pop. */
static void wait_started(waiter_t *w)
{
    CCD_WAIT(atomic_load(&w->started) && thread_sleeping(atomic_load(&w->tid)));
}

/* A consumer blocked forever in pop is released by close. */
static void test_close_wakes_blocked_pop(void **state)
{
    (void)state;
    mq_t *q = mq_new("closewake", 10, 0);
    assert_non_null(q);
    waiter_t w = {.q = q, .timeout_ms = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
    wait_started(&w);
    mq_close(q);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_null(w.got);
    mq_free(q);
}

/* A consumer blocked in pop (with or without a timeout) gets a message pushed later. */
static void test_blocked_pop_receives(void **state)
{
    (void)state;
    int timeouts[] = {-1, 600000};
    for (size_t i = 0; i < 2; i++) {
        mq_t *q = mq_new("recv", 10, 0);
        assert_non_null(q);
        waiter_t w = {.q = q, .timeout_ms = timeouts[i]};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
        wait_started(&w);
        assert_int_equal(mq_push(q, &msg_new(0, 7)->hdr), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_non_null(w.got);
        assert_int_equal(seq_of(w.got), 7);
        w.got->free(w.got);
        mq_free(q);
    }
}

static void test_pop_timeout(void **state)
{
    (void)state;
    mq_t *q = mq_new("timeout", 10, 0);
    assert_non_null(q);
    assert_null(mq_pop(q, 0));
    int64_t t0 = clk_mono_ms();
    assert_null(mq_pop(q, 50));
    /* A lower bound only: a slow machine may wait longer, never shorter. */
    assert_true(clk_mono_ms() - t0 >= 49);
    assert_int_equal(mq_push(q, &msg_new(0, 1)->hdr), 0);
    mq_msg_t *m = mq_pop(q, 50);
    assert_non_null(m);
    m->free(m);
    mq_free(q);
}

static void test_pop_all(void **state)
{
    (void)state;
    atomic_store(&freed, 0);
    mq_t *q = mq_new("all", 5, MQ_WAKEFD);
    assert_non_null(q);
    assert_null(mq_pop_all(q));
    for (int i = 0; i < 5; i++)
        assert_int_equal(mq_push(q, &msg_new(0, i)->hdr), 0);
    assert_true(readable(mq_wake_fd(q)));
    mq_msg_t *h = mq_pop_all(q);
    assert_non_null(h);
    assert_int_equal(mq_depth(q), 0);
    assert_false(readable(mq_wake_fd(q)));
    int n = 0;
    for (mq_msg_t *m = h; m; m = m->next)
        assert_int_equal(seq_of(m), n++);
    assert_int_equal(n, 5);
    /* The queue has room for a full batch again while the chain is held. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(mq_push(q, &msg_new(1, i)->hdr), 0);
    mq_stats_t st;
    mq_get_stats(q, &st);
    assert_int_equal(st.popped, 5);
    assert_int_equal(st.pushed, 10);
    assert_int_equal(st.depth, 5);
    mq_msg_free_chain(h);
    assert_int_equal(atomic_load(&freed), 5);
    mq_msg_free_chain(NULL);
    mq_free(q);
    assert_int_equal(atomic_load(&freed), 10);
}

static void test_wake_fd(void **state)
{
    (void)state;
    mq_t *plain = mq_new("nofd", 5, 0);
    assert_non_null(plain);
    assert_int_equal(mq_wake_fd(plain), -1);
    mq_free(plain);

    mq_t *q = mq_new("fd", 5, MQ_WAKEFD);
    assert_non_null(q);
    int fd = mq_wake_fd(q);
    assert_true(fd >= 0);
    assert_false(readable(fd));
    for (int round = 0; round < 3; round++) {
        assert_int_equal(mq_push(q, &msg_new(0, 0)->hdr), 0);
        assert_true(readable(fd));
        assert_int_equal(mq_push(q, &msg_new(0, 1)->hdr), 0);
        assert_true(readable(fd));
        mq_msg_t *m = mq_pop(q, 0);
        m->free(m);
        assert_true(readable(fd)); /* one left */
        m = mq_pop(q, 0);
        m->free(m);
        assert_false(readable(fd));
        /* A failed push leaves the fd as it was. */
        mq_msg_t *quit = mq_msg_quit_new();
        assert_int_equal(mq_push_force(q, quit), 0);
        assert_true(readable(fd));
        m = mq_pop(q, 0);
        assert_int_equal(m->type, MSG_QUIT);
        m->free(m);
        assert_false(readable(fd));
    }
    /* Full queue: refused push does not disturb the invariant. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(mq_push(q, &msg_new(0, i)->hdr), 0);
    test_msg_t *x = msg_new(0, 5);
    assert_int_equal(mq_push(q, &x->hdr), CCD_EFULL);
    assert_true(readable(fd));
    x->hdr.free(&x->hdr);
    mq_msg_free_chain(mq_pop_all(q));
    assert_false(readable(fd));
    mq_free(q);
}

static void test_stats(void **state)
{
    (void)state;
    mq_t *q = mq_new("stats", 4, 0);
    assert_non_null(q);
    mq_stats_t st;
    mq_get_stats(q, &st);
    assert_int_equal(st.pushed, 0);
    assert_int_equal(st.popped, 0);
    assert_int_equal(st.rejected_full, 0);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.high_water, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mq_push(q, &msg_new(0, i)->hdr), 0);
    mq_msg_t *m = mq_pop(q, 0);
    m->free(m);
    for (int i = 0; i < 2; i++)
        assert_int_equal(mq_push(q, &msg_new(0, i)->hdr), 0);
    test_msg_t *x = msg_new(0, 9);
    assert_int_equal(mq_push(q, &x->hdr), CCD_EFULL);
    x->hdr.free(&x->hdr);
    mq_get_stats(q, &st);
    assert_int_equal(st.pushed, 5);
    assert_int_equal(st.popped, 1);
    assert_int_equal(st.rejected_full, 1);
    assert_int_equal(st.depth, 4);
    assert_int_equal(st.high_water, 4);
    mq_msg_free_chain(mq_pop_all(q));
    mq_get_stats(q, &st);
    assert_int_equal(st.popped, 5);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.high_water, 4);
    mq_free(q);
    mq_free(NULL);
}

/* ---------------- stress: 8 producers x 20000 messages, 2 consumers ---------------- */

#define NPROD 8
#define NPER 20000
#define NCONS 2

typedef struct stress {
    mq_t *q;
    atomic_ullong full_retries; /* EFULL seen by producers */
} stress_t;

typedef struct prod_arg {
    stress_t *s;
    int id;
} prod_arg_t;

/* Each consumer records what it got in its own arrays: no sharing to race on. */
typedef struct cons_arg {
    stress_t *s;
    int id;
    unsigned char *seen; /* [NPROD * NPER] receive counts */
    int last[NPROD];     /* last seq per producer: must increase (FIFO) */
    long received;
    long quits_requeued;
    bool order_ok;
} cons_arg_t;

static void *producer_main(void *arg)
{
    prod_arg_t *p = arg;
    char name[16];
    snprintf(name, sizeof(name), "prod-%d", p->id);
    log_set_thread_name(name);
    for (int i = 0; i < NPER; i++) {
        test_msg_t *m = calloc(1, sizeof(*m));
        if (!m)
            abort();
        m->hdr.type = MSG_TEST_BASE;
        m->hdr.free = test_msg_free;
        m->producer = p->id;
        m->seq = i;
        int rc;
        /* A full queue is back-pressure: keep the message and try again. */
        while ((rc = mq_push(p->s->q, &m->hdr)) == CCD_EFULL) {
            atomic_fetch_add(&p->s->full_retries, 1);
            sched_yield();
        }
        if (rc != 0)
            abort();
    }
    return NULL;
}

/* Returns true when it was a quit. */
static bool consume_one(cons_arg_t *c, mq_msg_t *m)
{
    if (m->type == MSG_QUIT)
        return true;
    test_msg_t *t = (test_msg_t *)m;
    if (t->producer < 0 || t->producer >= NPROD || t->seq < 0 || t->seq >= NPER)
        abort();
    if (t->seq <= c->last[t->producer])
        c->order_ok = false;
    c->last[t->producer] = t->seq;
    c->seen[t->producer * NPER + t->seq]++;
    c->received++;
    m->free(m);
    return false;
}

/* Consumer 0 blocks in mq_pop. */
static void *consumer_pop_main(void *arg)
{
    cons_arg_t *c = arg;
    log_set_thread_name("cons-pop");
    for (;;) {
        mq_msg_t *m = mq_pop(c->s->q, -1);
        if (!m)
            abort(); /* the queue is never closed in this test */
        if (consume_one(c, m)) {
            m->free(m);
            return NULL;
        }
    }
}

/* Consumer 1 polls the wake fd and takes batches with mq_pop_all, as a socket
 * thread would: it only ever sleeps in poll(), so a wake fd that failed to
 * signal a non-empty queue would hang it (and the test would time out). */
static void *consumer_poll_main(void *arg)
{
    cons_arg_t *c = arg;
    log_set_thread_name("cons-poll");
    struct pollfd p = {.fd = mq_wake_fd(c->s->q), .events = POLLIN};
    bool quit = false;
    while (!quit) {
        if (poll(&p, 1, -1) < 0)
            abort();
        mq_msg_t *m = mq_pop_all(c->s->q);
        while (m) {
            mq_msg_t *next = m->next;
            m->next = NULL;
            if (consume_one(c, m)) {
                if (quit) {
                    /* The other consumer's quit came in our batch: hand it back. */
                    if (mq_push_force(c->s->q, m) != 0)
                        abort();
                    c->quits_requeued++;
                } else {
                    quit = true;
                    m->free(m);
                }
            }
            m = next;
        }
    }
    return NULL;
}

static void test_stress_many_producers(void **state)
{
    (void)state;
    log_set_sink(quiet_sink, NULL);
    atomic_store(&freed, 0);
    stress_t s = {.q = mq_new("stress", 1024, MQ_WAKEFD)};
    assert_non_null(s.q);
    atomic_store(&s.full_retries, 0);

    cons_arg_t cons[NCONS];
    pthread_t ct[NCONS], pt[NPROD];
    for (int i = 0; i < NCONS; i++) {
        memset(&cons[i], 0, sizeof(cons[i]));
        cons[i].s = &s;
        cons[i].id = i;
        cons[i].order_ok = true;
        cons[i].seen = calloc(NPROD * NPER, 1);
        assert_non_null(cons[i].seen);
        for (int p = 0; p < NPROD; p++)
            cons[i].last[p] = -1;
    }
    assert_int_equal(pthread_create(&ct[0], NULL, consumer_pop_main, &cons[0]), 0);
    assert_int_equal(pthread_create(&ct[1], NULL, consumer_poll_main, &cons[1]), 0);
    prod_arg_t pa[NPROD];
    for (int i = 0; i < NPROD; i++) {
        pa[i] = (prod_arg_t){&s, i};
        assert_int_equal(pthread_create(&pt[i], NULL, producer_main, &pa[i]), 0);
    }
    for (int i = 0; i < NPROD; i++)
        assert_int_equal(pthread_join(pt[i], NULL), 0);
    /* All data is queued before the quits, so FIFO order delivers it first. */
    for (int i = 0; i < NCONS; i++)
        assert_int_equal(mq_push_force(s.q, mq_msg_quit_new()), 0);
    for (int i = 0; i < NCONS; i++)
        assert_int_equal(pthread_join(ct[i], NULL), 0);

    long total = 0;
    for (int i = 0; i < NCONS; i++) {
        total += cons[i].received;
        assert_true(cons[i].order_ok);
    }
    assert_int_equal(total, (long)NPROD * NPER);
    for (size_t k = 0; k < (size_t)NPROD * NPER; k++) {
        int got = cons[0].seen[k] + cons[1].seen[k];
        if (got != 1)
            fail_msg("message producer %zu seq %zu received %d times", k / NPER, k % NPER, got);
    }
    mq_stats_t st;
    mq_get_stats(s.q, &st);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.pushed, (uint64_t)NPROD * NPER + NCONS + (uint64_t)cons[1].quits_requeued);
    assert_int_equal(st.popped, st.pushed);
    assert_int_equal(st.rejected_full, atomic_load(&s.full_retries));
    assert_true(st.high_water <= 1024 + NCONS);
    assert_int_equal(atomic_load(&freed), NPROD * NPER); /* quits free themselves */
    assert_null(mq_pop(s.q, 0));
    for (int i = 0; i < NCONS; i++)
        free(cons[i].seen);
    mq_free(s.q);
    log_set_sink(NULL, NULL);
}

int main(void)
{
    log_set_sink(quiet_sink, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_full_keeps_ownership),
        cmocka_unit_test(test_push_force),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_close_wakes_blocked_pop),
        cmocka_unit_test(test_blocked_pop_receives),
        cmocka_unit_test(test_pop_timeout),
        cmocka_unit_test(test_pop_all),
        cmocka_unit_test(test_wake_fd),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stress_many_producers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
